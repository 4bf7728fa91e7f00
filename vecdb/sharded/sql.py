"""SQL over shards: which statements fan out, and how their rows are merged.

A statement is parsed once, by the same parser one node uses (same errors), then:

- **Row selects over one collection** -- ``SELECT … FROM c [WHERE …] [ORDER BY …]
  [LIMIT n [OFFSET o]]``, vector searches (``ORDER BY cosine(vec, $q) LIMIT k``) included --
  run on every shard with ``LIMIT n + o`` and each ORDER BY key added as a hidden column, so
  each shard plans its own (filtered) vector search; the router merges the shards' rows by
  those keys and applies LIMIT/OFFSET. Every row that one node would return is among the
  shards' candidates, so the result is the same.
- **Aggregates that combine** -- ``SELECT count(*), sum(x), min(y), max(z) FROM c [WHERE …]``
  without GROUP BY -- run on every shard and are combined (counts and sums add up).
- **No table** (``SELECT 1 + 1``) runs on one shard.
- **Text functions**: ``embed('c', $q)`` is embedded once, on the router, and sent as a
  vector parameter; ``bm25(document, $q)`` and ``match(document, $q)`` go to the shards as
  written, and each shard scores ``bm25`` with the whole collection's BM25 statistics
  (summed over the shards first, as :mod:`vecdb.sharded.text` does), so scores equal one
  node's.
- Anything else (joins, subqueries, CTEs, GROUP BY, DISTINCT, window functions, ``avg``,
  writes and DDL) is refused with :class:`~vecdb.errors.UnsupportedQueryError`, which names
  what does work; use the collection API for writes.

>>> from vecdb.sql.parse import parse
>>> plan = fanout_plan(parse("SELECT id FROM docs WHERE y > 1 ORDER BY cosine(vec, $q) LIMIT 3 "
...                          "OFFSET 1"), {}, {"docs"})
>>> plan.shard_sql
'SELECT id, COSINE(vec, $q) AS __vecdb_o0 FROM docs WHERE y > 1 ORDER BY COSINE(vec, $q) LIMIT 4'
>>> plan.merge_sql
'SELECT * EXCLUDE (__vecdb_o0) FROM __vecdb_rows ORDER BY __vecdb_o0 LIMIT 3 OFFSET 1'
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

import duckdb
import pyarrow as pa
from sqlglot import exp

from vecdb.errors import InvalidArgumentError, NotFoundError, UnsupportedQueryError
from vecdb.fulltext import CorpusStats
from vecdb.result import Result
from vecdb.sql import confine
from vecdb.sql.execute import map_error
from vecdb.sql.parse import DIALECT, Statement, bind_params, parse

if TYPE_CHECKING:
    from vecdb.sharded.router import ShardedDatabase

__all__ = ["FanoutPlan", "fanout_plan", "run_sharded_sql", "WHAT_WORKS"]

WHAT_WORKS = (
    "on a sharded database SQL runs SELECTs over one collection: vector searches "
    "(SELECT … WHERE … ORDER BY cosine(vec, $q) LIMIT k), row selects with WHERE/ORDER BY/"
    "LIMIT, and count/sum/min/max without GROUP BY; write with the collection API "
    "(upsert/delete) and create collections with create_collection"
)
_HIDDEN = "__vecdb_o"
_ROWS = "__vecdb_rows"
_COMBINE: dict[type[exp.Expression], str] = {
    exp.Count: "sum",
    exp.Sum: "sum",
    exp.Min: "min",
    exp.Max: "max",
}


@dataclass(frozen=True)
class FanoutPlan:
    """How one statement runs over the shards.

    Attributes:
        kind: ``"rows"`` (merge rows), ``"aggregate"`` (combine one row per shard) or
            ``"single"`` (no table: one shard answers).
        shard_sql: the statement each shard runs (named parameters).
        merge_sql: for ``rows``, the DuckDB query over the shards' rows (table ``__vecdb_rows``)
            that orders and limits them; ``None`` when concatenating is enough.
        combine: for ``aggregate``, how each output column combines (sum/min/max).
    """

    kind: Literal["rows", "aggregate", "single"]
    shard_sql: str
    merge_sql: str | None = None
    combine: tuple[str, ...] = ()
    limit: int | None = None
    offset: int = 0


def _refuse(what: str) -> UnsupportedQueryError:
    return UnsupportedQueryError(f"{what} is not supported here: {WHAT_WORKS}")


def _count_value(node: exp.Expression | None, values: dict[str, Any], what: str) -> int | None:
    if node is None:
        return None
    value = node.args.get("expression") if isinstance(node, (exp.Limit, exp.Offset)) else node
    if isinstance(value, exp.Literal) and not value.is_string and value.this.isdigit():
        return int(value.this)
    if isinstance(value, exp.Placeholder):
        v = values.get(str(value.this))
        if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
            return v
    raise _refuse(f"{what} that is not a number or an integer parameter")


def fanout_plan(statement: Statement, values: dict[str, Any], collections: set[str]) -> FanoutPlan:
    """Decide how ``statement`` runs over the shards (raises UnsupportedQueryError)."""
    tree = statement.tree
    if not isinstance(tree, exp.Select):
        kind = type(tree).__name__.upper()
        raise _refuse(f"a {kind} statement")
    tree = tree.copy()
    if tree.args.get("with") or tree.args.get("with_"):
        raise _refuse("WITH (a common table expression)")
    for node in tree.find_all(exp.Select, exp.Subquery):
        if node is not tree:
            raise _refuse("a subquery")
    from_ = tree.args.get("from_") or tree.args.get("from")
    if from_ is None:
        return FanoutPlan("single", tree.sql(DIALECT))
    source = from_.this
    if not isinstance(source, exp.Table) or source.args.get("joins") or tree.args.get("joins"):
        raise _refuse("a join or a table function")
    if (source.name or "").lower() not in collections or source.db or source.catalog:
        return FanoutPlan("single", tree.sql(DIALECT))  # one node's error (or answer)
    for arg, what in (
        ("laterals", "a lateral join"),
        ("distinct", "DISTINCT"),
        ("having", "HAVING"),
        ("qualify", "QUALIFY"),
        ("sample", "SAMPLE"),
        ("group", "GROUP BY"),
    ):
        if tree.args.get(arg):
            raise _refuse(what)
    if any(isinstance(n, exp.Window) for n in tree.find_all(exp.Window)):
        raise _refuse("a window function")

    aggs = [n for p in tree.expressions for n in p.find_all(exp.AggFunc)]
    if aggs:
        return _aggregate_plan(tree)
    limit = _count_value(tree.args.get("limit"), values, "LIMIT")
    offset = _count_value(tree.args.get("offset"), values, "OFFSET") or 0
    order = tree.args.get("order")
    keys: list[exp.Ordered] = []
    hidden: list[str] = []
    for i, key in enumerate(order.expressions if order is not None else []):
        if isinstance(key.this, exp.Literal) and not key.this.is_string:
            keys.append(key.copy())  # ORDER BY 2: the merge orders by the same position
            continue
        name = f"{_HIDDEN}{i}"
        tree.append("expressions", exp.alias_(key.this.copy(), name))
        merged = key.copy()
        merged.set("this", exp.column(name))
        keys.append(merged)
        hidden.append(name)
    if limit is not None:
        tree.set("limit", exp.Limit(expression=exp.Literal.number(limit + offset)))
    tree.set("offset", None)
    merge = None
    if keys or limit is not None or offset:
        select = f"* EXCLUDE ({', '.join(hidden)})" if hidden else "*"
        merge = f"SELECT {select} FROM {_ROWS}"
        if keys:
            merge += " ORDER BY " + ", ".join(k.sql(DIALECT) for k in keys)
        if limit is not None:
            merge += f" LIMIT {limit}"
        if offset:
            merge += f" OFFSET {offset}"
    return FanoutPlan("rows", tree.sql(DIALECT), merge, (), limit, offset)


def _aggregate_plan(tree: exp.Select) -> FanoutPlan:
    combine = []
    for proj in tree.expressions:
        node = proj.this if isinstance(proj, exp.Alias) else proj
        how = _COMBINE.get(type(node))
        if how is None:
            raise _refuse(f"the aggregate {proj.sql(DIALECT)} (only count/sum/min/max combine)")
        if isinstance(node, exp.Count) and isinstance(node.this, exp.Distinct):
            raise _refuse("count(DISTINCT …)")
        combine.append(how)
    return FanoutPlan("aggregate", tree.sql(DIALECT), None, tuple(combine))


# --------------------------------------------------------------------------- execution

_LOCAL = threading.local()


def _merge_con() -> duckdb.DuckDBPyConnection:
    con = getattr(_LOCAL, "con", None)
    if con is None:
        con = _LOCAL.con = duckdb.connect(":memory:")
        con.execute("SET enable_external_access = false")
    return con


def run_sharded_sql(db: ShardedDatabase, query: str, params: Any = None) -> Result:
    """Run one statement over ``db``'s shards (what :meth:`ShardedDatabase.sql` calls)."""
    statement = parse(query, confined=db.confined)
    if db.confined:
        confine.check(statement.tree)
    values = bind_params(statement, params)
    stats = None
    if statement.text_sites:
        statement, stats = _text_sites(db, statement, values)
    collections = {n.lower() for n in db.list_collections()}
    plan = fanout_plan(statement, values, collections)
    args = values or None
    if statement.explain is not None:
        if plan.kind == "single":
            return _one(db, f"EXPLAIN {plan.shard_sql}", args)
        tables = _gather(db, f"EXPLAIN {plan.shard_sql}", args, stats)
        out = []
        for s, t in enumerate(tables):
            out.append(t.add_column(0, "shard", pa.array([s] * t.num_rows, pa.int32())))
        return Result(pa.concat_tables(out, promote_options="permissive"))
    if plan.kind == "single":
        return _one(db, plan.shard_sql, args)
    plans: list[Any] = []
    tables = _gather(db, plan.shard_sql, args, stats, plans)
    if plan.kind == "aggregate":
        return Result(_combine(tables, plan.combine))
    rows = pa.concat_tables(tables, promote_options="permissive")
    if plan.merge_sql is None:
        return Result(rows, plan=plans or None)
    try:
        merged = _merge_con().from_arrow(rows).query(_ROWS, plan.merge_sql).to_arrow_table()
    except duckdb.Error as e:
        raise map_error(e) from e
    return Result(merged, plan=plans or None)


def _one(db: ShardedDatabase, sql: str, args: Any) -> Result:
    replies = db.fanout.values(db.fanout.call("sql", {0: (sql, args)}))
    return Result(replies[0])


def _gather(
    db: ShardedDatabase,
    sql: str,
    args: Any,
    stats: CorpusStats | None = None,
    plans: list[Any] | None = None,
) -> list[pa.Table]:
    """Every shard's rows; their vector-search plans (tagged with the shard) go to
    ``plans``."""
    import json

    from vecdb.sharded.actor import PLAN_KEY

    out = []
    for shard, table in enumerate(db.fanout.each("sql", sql, args, stats)):
        meta = dict(table.schema.metadata or {})
        raw = meta.pop(PLAN_KEY, None)
        if raw is not None:
            if plans is not None:
                plans.extend({**p, "shard": shard} for p in json.loads(raw))
            table = table.replace_schema_metadata(meta or None)
        out.append(table)
    return out


def _text_sites(
    db: ShardedDatabase, statement: Statement, values: dict[str, Any]
) -> tuple[Statement, CorpusStats | None]:
    """The statement with ``bm25``/``match`` calls put back for the shards (the parser
    lifted them into parameters one node binds), ``embed`` calls bound here (``values``),
    and the global BM25 statistics of the ``bm25`` texts (None when there are none)."""
    from vecdb.sharded.text import global_stats

    tree = statement.tree.copy()
    holders = {str(p.this): p for p in tree.find_all(exp.Placeholder)}
    bm25_texts: dict[str, list[str]] = {}
    for site in statement.text_sites:
        kind, text = site.source
        source: exp.Expression = exp.Placeholder(this=text)
        if kind == "param":
            if text not in values:
                raise InvalidArgumentError(f"missing parameter ${text} of {site.kind}()")
            text = values[text]
        else:
            source = exp.Literal.string(text)
        if not isinstance(text, str):
            raise InvalidArgumentError(f"{site.kind}()'s text must be a string, got {text!r}")
        if site.collection not in db.list_collections():
            raise NotFoundError(f"{site.kind}(): collection {site.collection!r} does not exist")
        coll = db.get_collection(site.collection)
        if site.kind == "embed":
            values[site.params[0]] = coll._embed([text])[0]
            continue
        lifted = holders[site.params[0]]
        # match: id IN (SELECT unnest($ids)); bm25: COALESCE(MAP($ids, $scores)[id], 0.0)
        node = lifted.find_ancestor(exp.In if site.kind == "match" else exp.Coalesce)
        id_col = node.this if site.kind == "match" else node.this.expressions[0]
        doc = exp.column("document", table=id_col.table or None)
        node.replace(exp.Anonymous(this=site.kind, expressions=[doc, source]))
        if site.kind == "bm25":
            bm25_texts.setdefault(site.collection, []).append(text)
    if len(bm25_texts) > 1:
        raise _refuse("bm25() over several collections")
    stats = None
    for name, texts in bm25_texts.items():
        stats = global_stats(db.get_collection(name), " ".join(texts))
    return dataclasses.replace(statement, tree=tree, text_sites=()), stats


def _combine(tables: list[pa.Table], combine: tuple[str, ...]) -> pa.Table:
    """One row from the shards' one-row aggregates (all shards agree on LIMIT/OFFSET)."""
    first = tables[0]
    if any(t.num_rows == 0 for t in tables):
        return first.slice(0, 0)
    arrays = []
    for j, how in enumerate(combine):
        vals = [t.column(j)[0].as_py() for t in tables]
        present = [v for v in vals if v is not None]
        if not present:
            value = None
        elif how == "sum":
            value = sum(present, Decimal(0) if isinstance(present[0], Decimal) else 0)
        elif how == "min":
            value = min(present)
        else:
            value = max(present)
        arrays.append(pa.array([value], type=first.schema.field(j).type))
    return pa.Table.from_arrays(arrays, schema=first.schema)
