"""Text functions in SQL: ``embed('<collection>', $q)``, ``bm25(document, $q)`` and
``match(document, $q)``, answered by vecdb (the embedding function and the BM25 index)
before DuckDB runs the statement.

At parse time each call is replaced in the tree by bound parameters (the caller's text is
never pasted into SQL): ``embed(...)`` by a vector parameter, so ``ORDER BY cosine(vec,
embed('docs', $q)) LIMIT 5`` plans as a vector search; ``match(document, $q)`` by ``id IN
(SELECT unnest($ids))`` with the ids whose document holds a query term; ``bm25(document,
$q)`` by ``COALESCE(MAP($ids, $scores)[id], 0.0)``. :func:`bind_text` fills those parameters
per call from the collection.

>>> from vecdb.sql.parse import parse
>>> s = parse("SELECT id, bm25(document, $q) AS s FROM docs WHERE match(document, $q)")
>>> s.tree.sql("duckdb")  # doctest: +NORMALIZE_WHITESPACE
'SELECT id, COALESCE(MAP($__vecdb_bm25k0, $__vecdb_bm25v0)[docs.id], 0.0) AS s FROM docs
WHERE docs.id IN (SELECT UNNEST($__vecdb_match1))'
>>> [(t.kind, t.collection, t.source) for t in s.text_sites]
[('bm25', 'docs', ('param', 'q')), ('match', 'docs', ('param', 'q'))]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB

from vecdb.errors import InvalidArgumentError, NotFoundError, UnsupportedQueryError

__all__ = ["TextSite", "TEXT_FUNCTIONS", "lift_text_functions", "bind_text"]

#: the function names vecdb answers itself (never sent to DuckDB)
TEXT_FUNCTIONS = frozenset({"embed", "bm25", "match"})
DIALECT = "duckdb"

# sqlglot's DuckDB parser inherits MySQL's MATCH(...) AGAINST(...) syntax, which DuckDB does
# not have; without it ``match(document, $q)`` parses as an ordinary function call
DuckDB.Parser.FUNCTION_PARSERS = {
    k: v for k, v in DuckDB.Parser.FUNCTION_PARSERS.items() if k != "MATCH"
}


@dataclass(frozen=True)
class TextSite:
    """One text function call lifted out of a statement.

    ``source`` is ``("param", name)`` or ``("literal", text)``; ``params`` the parameter
    names that replace the call (one for embed/match, keys and values for bm25)."""

    kind: str
    collection: str
    source: tuple[str, str]
    params: tuple[str, ...]


def _name(node: exp.Expression) -> str | None:
    if isinstance(node, exp.Anonymous):
        return str(node.this).lower()
    if isinstance(node, exp.Func):
        try:
            return node.sql_name().lower()
        except Exception:  # pragma: no cover - defensive
            return None
    return None


def _args(node: exp.Expression) -> list[exp.Expression]:
    if isinstance(node, exp.Anonymous):
        return list(node.expressions)
    out = [node.args[k] for k in ("this", "expression") if node.args.get(k) is not None]
    return out + list(node.args.get("expressions") or [])


def _source(arg: exp.Expression, fn: str) -> tuple[str, str]:
    if isinstance(arg, exp.Placeholder):
        return ("param", str(arg.this))
    if isinstance(arg, exp.Literal) and arg.is_string:
        return ("literal", str(arg.this))
    raise UnsupportedQueryError(
        f"{fn}()'s text must be a parameter ($q) or a string literal, got {arg.sql(DIALECT)}"
    )


def _table_of(node: exp.Expression, column: exp.Column, fn: str) -> tuple[str, str]:
    """(collection, qualifier) of the ``document`` column a bm25/match call names."""
    scope = node.find_ancestor(exp.Select, exp.Update, exp.Delete)
    tables = list(scope.find_all(exp.Table)) if scope is not None else []
    tables = [t for t in tables if t.find_ancestor(exp.Select, exp.Update, exp.Delete) is scope]
    qual = column.table
    for t in tables:
        alias = t.alias_or_name
        if not qual and len(tables) == 1 or qual and qual in (alias, t.name):
            return t.name, alias
    raise UnsupportedQueryError(
        f"{fn}(document, $q) must name the document column of the query's collection "
        "(qualify it, e.g. d.document, when several tables are joined)"
    )


def lift_text_functions(tree: exp.Expression) -> tuple[TextSite, ...]:
    """Replace every embed/bm25/match call in ``tree`` (in place) by bound parameters."""
    sites: list[TextSite] = []
    for node in list(tree.walk()):
        fn = _name(node)
        if fn not in TEXT_FUNCTIONS:
            continue
        args = _args(node)
        if len(args) != 2:
            raise UnsupportedQueryError(f"{fn}() takes two arguments")
        n = len(sites)
        if fn == "embed":
            coll = args[0]
            if not (isinstance(coll, exp.Literal) and coll.is_string):
                raise UnsupportedQueryError(
                    "embed()'s first argument is a collection name in quotes: embed('docs', $q)"
                )
            name = f"__vecdb_embed{n}"
            sites.append(TextSite("embed", str(coll.this), _source(args[1], fn), (name,)))
            node.replace(exp.Placeholder(this=name))
            continue
        col = args[0]
        if not isinstance(col, exp.Column) or col.name.lower() != "document":
            raise UnsupportedQueryError(f"{fn}()'s first argument is the document column")
        table, qual = _table_of(node, col, fn)
        id_col = exp.column("id", table=qual)
        if fn == "match":
            name = f"__vecdb_match{n}"
            sub = exp.select(exp.Anonymous(this="unnest", expressions=[exp.Placeholder(this=name)]))
            new: exp.Expression = exp.In(this=id_col, query=exp.Subquery(this=sub))
            params: tuple[str, ...] = (name,)
        else:
            keys, vals = f"__vecdb_bm25k{n}", f"__vecdb_bm25v{n}"
            mapping = exp.Anonymous(
                this="MAP", expressions=[exp.Placeholder(this=keys), exp.Placeholder(this=vals)]
            )
            new = exp.Coalesce(
                this=exp.Bracket(this=mapping, expressions=[id_col]),
                expressions=[exp.Literal.number("0.0")],
            )
            params = (keys, vals)
        sites.append(TextSite(fn, table, _source(args[1], fn), params))  # type: ignore[arg-type]
        node.replace(new)
    return tuple(sites)


def bind_text(db: Any, sites: tuple[TextSite, ...], values: dict[str, Any]) -> None:
    """Fill the parameters of lifted text functions for one call (in ``values``)."""
    for site in sites:
        kind, text = site.source
        if kind == "param":
            if text not in values:
                raise InvalidArgumentError(f"missing parameter ${text} of {site.kind}()")
            text = values[text]
        if not isinstance(text, str):
            raise InvalidArgumentError(f"{site.kind}()'s text must be a string, got {text!r}")
        colls: Mapping[str, Any] = getattr(db, "_collections", {})
        coll = colls.get(site.collection)
        if coll is None:
            raise NotFoundError(f"{site.kind}(): collection {site.collection!r} does not exist")
        if site.kind == "embed":
            values[site.params[0]] = coll.embed([text])[0]
            continue
        keywords = coll.text_index
        if keywords is None:
            raise InvalidArgumentError(
                f"{site.kind}(): collection {site.collection!r} has no full-text index; "
                "create it with fulltext=True"
            )
        ids = keywords.matches(text)
        if site.kind == "match":
            values[site.params[0]] = ids.tolist()
        else:
            scores = keywords.scores(text, ids)
            values[site.params[0]] = ids.tolist()
            values[site.params[1]] = scores.tolist()
