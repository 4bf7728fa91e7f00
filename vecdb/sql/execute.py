"""Execute: run a plan against a Database, with the plan cache in front.

The hot path for a cached vector search is: bind parameters, one ``search_candidates`` per
search site, one DuckDB query. Parsing (~0.5 ms with sqlglot) happens once per statement text.

>>> import numpy as np, vecdb
>>> db = vecdb.connect()
>>> _ = db.sql("CREATE TABLE docs (id BIGINT PRIMARY KEY, year INTEGER, vec FLOAT[2])")
>>> _ = db.sql("INSERT INTO docs VALUES (1, 2020, [1, 0]), (2, 2021, [0, 1])")
>>> db.sql("SELECT id FROM docs ORDER BY l2(vec, ?) LIMIT 1", [np.array([0.1, 0.9])]).fetchall()
[(2,)]
"""

from __future__ import annotations

import json
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from vecdb.errors import (
    DimensionMismatchError,
    InvalidArgumentError,
    PermissionDeniedError,
    SQLParseError,
    UnsupportedQueryError,
    VecdbError,
    from_duckdb,
)
from vecdb.result import Result
from vecdb.sql import confine, verify
from vecdb.sql.analyze import CollectionInfo
from vecdb.sql.parse import Statement, bind_params, parse
from vecdb.sql.plan import Plan, plan
from vecdb.sql.text import bind_text
from vecdb.storage.table import indexed_by, name_index

__all__ = ["run_sql", "explain", "catalog_of", "PLAN_CACHE_SIZE", "map_error"]

PLAN_CACHE_SIZE = 512
_EMPTY = pa.table({})


@dataclass
class _Entry:
    statement: Statement
    plans: dict[tuple[tuple[str, int], ...], tuple[Plan, tuple[Any, ...]]] = field(
        default_factory=dict
    )


class _State:
    """Per-database SQL state: the plan cache and the names of SQL-created indexes."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.cache: OrderedDict[str, _Entry] = OrderedDict()
        self.index_names: dict[str, str] = {}

    def entry(self, text: str, confined: bool) -> _Entry:
        with self.lock:
            hit = self.cache.get(text)
            if hit is not None:
                self.cache.move_to_end(text)
                return hit
        statement = parse(text, confined=confined)
        if confined:
            confine.check(statement.tree)
        entry = _Entry(statement)
        with self.lock:
            self.cache[text] = entry
            if len(self.cache) > PLAN_CACHE_SIZE:
                self.cache.popitem(last=False)
        return entry

    def invalidate(self) -> None:
        with self.lock:
            for entry in self.cache.values():
                entry.plans.clear()


_STATES: weakref.WeakKeyDictionary[Any, _State] = weakref.WeakKeyDictionary()
_STATES_LOCK = threading.Lock()


def _state(db: Any) -> _State:
    state = _STATES.get(db)
    if state is None:
        with _STATES_LOCK:
            state = _STATES.get(db)
            if state is None:
                state = _STATES[db] = _State()
    return state


def _collections(db: Any) -> Mapping[str, Any]:
    colls = getattr(db, "_collections", None)
    if colls is not None:
        return colls
    return {n: db.get_collection(n) for n in db.list_collections()}


def catalog_of(db: Any) -> dict[str, CollectionInfo]:
    """The planner's view of the database's collections (lower-case name -> info)."""
    out = {}
    for name, c in _collections(db).items():
        cols = ("id", *c.columns, "vec")
        out[name.lower()] = CollectionInfo(c.name, c.dim, c.metric, c.index_kind, cols, c.id_type)
    return out


def _snapshot(db: Any, p: Plan) -> tuple[Any, ...]:
    colls = _collections(db)
    return (len(colls), *(getattr(colls.get(d), "spec", None) for d in p.deps))


def _lookup(db: Any, colls: Mapping[str, Any], name: str) -> Any:
    c = colls.get(name)
    if c is None:
        c = db.get_collection(name)
    return c


# ---- errors -----------------------------------------------------------------------------
def map_error(e: Exception) -> VecdbError:
    """A DuckDB exception as the vecdb error a caller can act on, keeping DuckDB's text."""
    return from_duckdb(e)


# ---- parameters -------------------------------------------------------------------------
def _vector(name: str, value: Any, dim: int | None) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise InvalidArgumentError(f"parameter ${name} must be a vector of floats ({e})") from e
    if arr.ndim == 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 1:
        raise InvalidArgumentError(f"parameter ${name} must be a 1-D vector, got shape {arr.shape}")
    if dim is not None and arr.shape[0] != dim:
        raise DimensionMismatchError(
            f"parameter ${name} has {arr.shape[0]} floats; the collection's dim is {dim}"
        )
    if not np.isfinite(arr).all():
        raise InvalidArgumentError(f"parameter ${name} holds NaN or infinity")
    return arr


def _count(name: str, value: Any) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise InvalidArgumentError(f"parameter ${name} (LIMIT/OFFSET) must be an integer")
    if value < 0:
        raise InvalidArgumentError(f"parameter ${name} (LIMIT/OFFSET) must be >= 0")
    return int(value)


def _resolve(values: Mapping[str, Any], item: int | str | None) -> int:
    if item is None:
        return 0
    if isinstance(item, int):
        return item
    return _count(item, values[item])


# ---- the front door ---------------------------------------------------------------------
def _get_plan(db: Any, state: _State, entry: _Entry, values: dict[str, Any]) -> Plan:
    key: tuple[tuple[str, int], ...] = ()
    cached = entry.plans.get(key)
    if cached is not None and cached[0].unresolved:
        key = tuple(
            (n, int(np.shape(values[n])[-1]) if np.ndim(values[n]) else 0)
            for n in cached[0].unresolved
            if n in values
        )
        cached = entry.plans.get(key)
    if cached is not None and cached[1] == _snapshot(db, cached[0]):
        return cached[0]
    cat = catalog_of(db)
    p = plan(entry.statement, cat)
    if p.unresolved:
        key = tuple(
            (n, int(np.shape(values[n])[-1]) if np.ndim(values[n]) else 0)
            for n in p.unresolved
            if n in values
        )
        p = plan(entry.statement, cat, dict(key))
        entry.plans.setdefault((), (p, _snapshot(db, p)))
    if entry.statement.confined:
        _verify(entry.statement, p)
    if p.kind in ("search", "exact", "dml", "passthrough"):
        entry.plans[key] = (p, _snapshot(db, p))
    return p


#: DuckDB statement kinds each plan kind may send to DuckDB
_PLAN_KINDS = {
    "search": frozenset({"SELECT"}),
    "exact": frozenset({"SELECT"}),
    "dml": frozenset({"INSERT", "UPDATE", "DELETE"}),
    "drop_index": frozenset({"DROP"}),
}


def _verify(statement: Statement, p: Plan) -> None:
    """Confined SQL: every text the plan sends to DuckDB is read back by both parsers.

    DuckDB must read each as one statement of the kind the plan stands for and pass the
    confinement rules on its own parse tree; sqlglot must read it back into a tree that
    passes them too. Runs once per plan (plans are cached), not per call.
    """
    texts = dict.fromkeys([p.sql, p.exact_sql, *(s.probe_sql for s in p.searches)])
    allowed = _PLAN_KINDS.get(p.kind) or verify.expected_kinds(statement.tree) or frozenset()
    for text in texts:
        if not text:
            continue
        found = verify.kinds(text)
        if len(found) != 1 or (text == p.sql and found[0] not in allowed):
            raise PermissionDeniedError(
                f"vecdb could not verify the SQL it would run ({found}); statement refused"
            )
        confine.check_duckdb(text)
        try:
            again = parse(text, confined=True)
        except SQLParseError:
            raise PermissionDeniedError(
                "vecdb could not read back the SQL it would run; statement refused"
            ) from None
        confine.check(again.tree)


#: plan kinds a read-only caller may run
_READ_PLANS = frozenset({"search", "exact", "passthrough"})


def _check_read_only(statement: Statement, p: Plan) -> None:
    if not statement.read_only or p.kind not in _READ_PLANS:
        raise PermissionDeniedError(
            f"a read-only caller may run queries only, not {statement.kind} statements"
        )


def run_sql(db: Any, query: str, params: Any = None, read_only: bool = False) -> Result:
    """Run one SQL statement on ``db`` (what ``Database.sql`` calls).

    ``read_only`` (the server's read-only key): only queries, decided from DuckDB's statement
    kind, and DuckDB runs them in a read-only transaction that is always rolled back, so a
    write that got past the classification still cannot change anything.

    >>> import vecdb
    >>> vecdb.connect().sql("SELECT 40 + ? AS x", [2]).fetchall()
    [(42,)]
    """
    state = _state(db)
    entry = state.entry(query, bool(getattr(db, "confined", False)))
    statement = entry.statement
    if read_only and not statement.read_only:
        _check_read_only(statement, Plan("exact", None))
    if statement.explain is not None:
        if statement.explain == "analyze" and read_only:
            _check_read_only(statement, Plan("exact", None))
        return _explain(db, state, entry, params, statement.explain == "analyze")
    values = bind_params(statement, params)
    if statement.text_sites:
        bind_text(db, statement.text_sites, values)
    p = _get_plan(db, state, entry, values)
    if read_only:
        _check_read_only(statement, p)
    return _execute(db, state, p, values, read_only=read_only)


def explain(db: Any, query: str, params: Any = None, analyze: bool = False) -> Result:
    """``EXPLAIN [ANALYZE] query`` without writing the prefix.

    >>> import vecdb
    >>> explain(vecdb.connect(), "SELECT 1").fetchall()[0][1:3]
    ('duckdb', 'exact')
    """
    prefix = "EXPLAIN ANALYZE " if analyze else "EXPLAIN "
    return run_sql(db, prefix + query, params)


def _prepare(p: Plan, values: dict[str, Any]) -> dict[str, Any]:
    """Vector parameters as float32 arrays, checked against the collection's dim."""
    for name, dim in p.vector_dims.items():
        values[name] = _vector(name, values[name], dim)
    for name in p.unresolved:
        if name in values and not isinstance(values[name], np.ndarray):
            values[name] = _vector(name, values[name], None)
    return values


def _search(db: Any, p: Plan, values: dict[str, Any]) -> list[dict[str, Any]]:
    """Run the plan's index searches; bind their candidates into ``values``."""
    infos = []
    colls = _collections(db)
    for step in p.searches:
        coll = _lookup(db, colls, step.collection)
        limit = _resolve(values, step.limit)
        offset = _resolve(values, step.offset)
        k = limit + offset
        cands: list[Any] = []
        info: dict[str, Any] = {"strategy": "none", "candidates": 0}
        if k > 0:
            where_params = {n: values[n] for n in step.where_params} or None
            ids, _, info = coll.search_candidates(
                values[step.query_param][None, :], k, step.where_sql, where_params
            )
            cands = ids[0].tolist()
        if step.slots:
            n = len(cands)
            for i, slot in enumerate(step.slots):
                values[slot] = cands[i] if i < n else None
        else:
            assert step.list_param is not None
            values[step.list_param] = cands
        infos.append(
            {**info, "collection": step.collection, "k": limit, "offset": offset, "ids": cands}
        )
    return infos


def _direct(db: Any, p: Plan, values: dict[str, Any], infos: list[Any] | None) -> Result:
    """A search whose SELECT list is ids, the ordering distance, the collection's columns and
    its vector: the engine's answer and its row store are the result (principle 4: the hot
    path does not pay a DuckDB round trip for it); rows come from the ids' own snapshot."""
    step = p.searches[0]
    coll = _lookup(db, _collections(db), step.collection)
    limit = _resolve(values, step.limit)
    offset = _resolve(values, step.offset)
    k = limit + offset
    ids: Any = []
    dists: Any = np.zeros(0, np.float32)
    info: dict[str, Any] = {"strategy": "none", "candidates": 0}
    wanted = [w[7:] for _, w in p.direct if w.startswith("column:")]
    want_vec = any(w == "vec" for _, w in p.direct)
    row_values: dict[str, list[Any]] = {c: [] for c in wanted}
    vecs: Any = np.zeros((0, coll.dim), np.float32)
    if k > 0 and limit > 0:
        where_params = {n: values[n] for n in step.where_params} or None
        query = values[step.query_param][None, :]
        if wanted or want_vec:
            (found, dist, info), fetched = coll.search_rows(
                query, k, step.where_sql, where_params, wanted, want_vec
            )
            got, got_vecs = fetched[0]
            row_values = {c: got[n][offset:] for n, c in enumerate(wanted)}
            if want_vec:
                vecs = got_vecs[offset:]
        else:
            found, dist, info = coll.search_candidates(query, k, step.where_sql, where_params)
        ids, dists = found[0][offset:], dist[0][offset:]
    id_list = ids.tolist() if len(ids) else []
    names, cols, types = [], [], []
    for name, what in p.direct:
        names.append(name)
        if what == "id":
            cols.append(id_list)
            types.append(pa.string() if coll.id_type == "str" else pa.int64())
            continue
        if what.startswith("column:"):
            cols.append(row_values[what[7:]])
            types.append(coll.column_types[what[7:]])
            continue
        if what == "vec":
            cols.append([v for v in np.asarray(vecs, dtype=np.float32).tolist()])
            types.append(pa.list_(pa.float32(), coll.dim))
            continue
        if what == "similarity":  # cosine: 1 - distance; inner product: -(negative one)
            value = 1.0 - dists if step.function.metric == "cosine" else -dists
        else:
            value = dists
        cols.append(np.asarray(value, dtype=np.float32).tolist())
        types.append(pa.float32())
    found_info = [
        {
            **info,
            "collection": step.collection,
            "k": limit,
            "offset": offset,
            "ids": id_list,
            "direct": True,
        }
    ]
    if infos is not None:
        infos.extend(found_info)
    return Result.from_columns(names, cols, types, plan=found_info)


def _args(p: Plan, values: Mapping[str, Any]) -> Any:
    if p.positional:
        return [values[n] for n in p.sql_params]
    return {n: values[n] for n in p.sql_params} or None


def _query(db: Any, sql: str, args: Any, read_only: bool = False) -> pa.Table:
    cur = db._cursor()
    if read_only:
        return _query_read_only(cur, sql, args)
    try:
        rel = cur.sql(sql, params=args)
        return rel.to_arrow_table() if rel is not None else _EMPTY
    except duckdb.Error as e:
        raise map_error(e) from e


def _query_read_only(cur: Any, sql: str, args: Any) -> pa.Table:
    """Run ``sql`` in a read-only DuckDB transaction that is always rolled back."""
    try:
        cur.execute("BEGIN TRANSACTION READ ONLY")
    except duckdb.Error as e:
        raise map_error(e) from e
    try:
        rel = cur.sql(sql, params=args)
        return rel.to_arrow_table() if rel is not None else _EMPTY
    except duckdb.TransactionException as e:
        raise PermissionDeniedError(f"a read-only caller cannot write: {e}") from e
    except duckdb.Error as e:
        raise map_error(e) from e
    finally:
        try:
            cur.execute("ROLLBACK")
        except duckdb.Error:  # pragma: no cover - the transaction is already gone
            pass


def _execute(
    db: Any,
    state: _State,
    p: Plan,
    values: dict[str, Any],
    infos: list[Any] | None = None,
    read_only: bool = False,
) -> Result:
    kind = p.kind
    if kind in ("search", "exact", "passthrough", "dml"):
        _prepare(p, values)
        if p.direct:
            return _direct(db, p, values, infos)
        found = _search(db, p, values) if p.searches else None
        if infos is not None and found:
            infos.extend(found)
        if kind == "dml":
            if read_only:  # pragma: no cover - run_sql refuses these before planning
                raise PermissionDeniedError("a read-only caller cannot write")
            assert p.target is not None and p.sql is not None
            coll = _lookup(db, _collections(db), p.target)
            try:
                ids = coll.execute_dml(p.sql, _args(p, values))
            except duckdb.Error as e:
                raise map_error(e) from e
            return Result(pa.table({"Count": pa.array([len(ids)], pa.int64())}))
        assert p.sql is not None
        table = _query(db, p.sql, _args(p, values), read_only)
        if kind == "passthrough" and not read_only:
            state.invalidate()  # DDL on plain tables may change what the plans read
        return Result(table, plan=found)
    if read_only:  # pragma: no cover - run_sql refuses these before planning
        raise PermissionDeniedError("a read-only caller cannot change the schema")
    return _execute_ddl(db, state, p)


def _execute_ddl(db: Any, state: _State, p: Plan) -> Result:
    ddl = p.ddl
    try:
        if p.kind == "create_collection":
            db.create_collection(
                ddl["name"],
                dim=ddl["dim"],
                index="exact",
                columns=ddl["columns"] or None,
                id_type=ddl["id_type"],
                exist_ok=ddl["exist_ok"],
            )
        elif p.kind == "create_index":
            assert p.target is not None
            coll = db.get_collection(p.target)
            local = hasattr(db, "_cursor")  # the name goes in the same catalog transaction
            if not (ddl["exist_ok"] and coll.index_kind != "exact"):
                kw = {"sql_name": (ddl["name"], True)} if local else {}
                coll.set_index(ddl["index"], metric=ddl["metric"], index_params=ddl["params"], **kw)
                if not local:
                    _name_index(db, state, ddl["name"], coll.name)
            else:
                _name_index(db, state, ddl["name"], coll.name)
        elif p.kind == "drop_index":
            target = _index_target(db, state, ddl["name"])
            if target is not None:
                if hasattr(db, "_cursor"):
                    db.get_collection(target).set_index("exact", sql_name=(ddl["name"], False))
                else:
                    db.get_collection(target).set_index("exact")
                    _name_index(db, state, ddl["name"], None)
            else:
                assert p.sql is not None
                _query(db, p.sql, None)
        elif p.kind == "drop_collection":
            assert p.target is not None
            db.drop_collection(p.target, missing_ok=ddl["exists"])
        else:  # pragma: no cover - plan() only makes the kinds above
            raise UnsupportedQueryError(f"cannot run a {p.kind} plan")
    except duckdb.Error as e:
        raise map_error(e) from e
    finally:
        state.invalidate()
    return Result(_EMPTY)


def _name_index(db: Any, state: _State, name: str, collection: str | None) -> None:
    """Record (or forget) an index's SQL name: in the catalog when ``db`` is a local
    database (so it survives a reopen), else in this process."""
    if hasattr(db, "_cursor"):
        name_index(db._cursor(), name, collection)
    elif collection is None:
        state.index_names.pop(name.lower(), None)
    else:
        state.index_names[name.lower()] = collection


def _index_target(db: Any, state: _State, name: str) -> str | None:
    """The collection whose vector index is called ``name``, if any."""
    colls = _collections(db)
    if hasattr(db, "_cursor"):
        target = indexed_by(db._cursor(), name)
    else:
        target = state.index_names.get(name.lower())
    if target in colls:
        return target
    low = name.lower()
    indexed = [c for c in colls.values() if c.index_kind != "exact"]
    exact = [c.name for c in indexed if low in (c.name.lower(), f"{c.name.lower()}_vec")]
    if len(exact) == 1:
        return exact[0]
    prefixed = [c.name for c in indexed if low.startswith(c.name.lower() + "_")]
    return prefixed[0] if len(prefixed) == 1 else None


# ---- EXPLAIN ----------------------------------------------------------------------------
_EXPLAIN_COLUMNS = (
    "step",
    "engine",
    "strategy",
    "collection",
    "estimated_rows",
    "matching_rows",
    "total_rows",
    "candidates",
    "k",
    "offset",
    "index",
    "index_params",
    "detail",
)


def _lenient_params(statement: Statement, params: Any, p: Plan | None) -> dict[str, Any]:
    """Bound parameters; for a plain EXPLAIN a missing query vector gets a stand-in."""
    if params is None and statement.param_names:
        raise InvalidArgumentError(
            "EXPLAIN runs the planner's estimates: pass the statement's parameters too"
        )
    return bind_params(statement, params)


def _explain(db: Any, state: _State, entry: _Entry, params: Any, analyze: bool) -> Result:
    statement = entry.statement
    values = _lenient_params(statement, params, None)
    p = _get_plan(db, state, entry, values)
    rows: list[dict[str, Any]] = []
    colls = _collections(db)
    if p.kind != "search":
        if analyze and p.kind not in ("exact",):
            raise UnsupportedQueryError("EXPLAIN ANALYZE runs queries only, not DDL or DML")
        row = dict.fromkeys(_EXPLAIN_COLUMNS)
        row.update(
            step=0,
            engine="duckdb",
            strategy="exact" if p.kind == "exact" else p.kind,
            collection=p.target,
            detail="; ".join(p.reasons) or p.sql,
        )
        if analyze:
            t0 = time.perf_counter()
            _execute(db, state, p, dict(values))
            row.update(time_ms=(time.perf_counter() - t0) * 1000, exact_time_ms=None, recall=1.0)
        rows.append(row)
        return Result(pa.Table.from_pylist(rows), plan=None)
    infos: list[dict[str, Any]] = []
    if analyze:
        t0 = time.perf_counter()
        _execute(db, state, p, dict(values), infos)
        elapsed = (time.perf_counter() - t0) * 1000
        prepared = _prepare(p, dict(values))
        t0 = time.perf_counter()
        _query(db, p.exact_sql or "", {n: prepared[n] for n in _names(p.exact_sql)} or None)
        exact_elapsed = (time.perf_counter() - t0) * 1000
    else:
        prepared = _prepare(p, dict(values))
        for step in p.searches:
            coll = _lookup(db, colls, step.collection)
            limit = _resolve(prepared, step.limit)
            offset = _resolve(prepared, step.offset)
            where_params = {n: prepared[n] for n in step.where_params} or None
            info = coll.explain(
                prepared[step.query_param],
                k=max(1, limit + offset),
                where=step.where_sql,
                params=where_params,
            )
            infos.append({**info, "k": limit, "offset": offset, "ids": None})
    for i, (step, info) in enumerate(zip(p.searches, infos, strict=True)):
        coll = _lookup(db, colls, step.collection)
        row = {
            "step": i,
            "engine": "vecdb",
            "strategy": info.get("strategy"),
            "collection": step.collection,
            "estimated_rows": info.get("estimated_rows"),
            "matching_rows": info.get("matching_rows"),
            "total_rows": info.get("total_rows"),
            "candidates": info.get("candidates"),
            "k": info.get("k"),
            "offset": info.get("offset"),
            "index": coll.index_kind,
            "index_params": json.dumps(
                info.get("index_params") or coll.index_params, default=str, sort_keys=True
            ),
            "detail": f"ORDER BY {step.function.builtin} ({coll.metric})"
            + (f" WHERE {step.where_sql}" if step.where_sql else ""),
        }
        if analyze:
            exact_ids = (
                _query(db, step.probe_sql, {n: prepared[n] for n in _names(step.probe_sql)} or None)
                .column(0)
                .to_pylist()
            )
            got = info["ids"][info["offset"] :][: info["k"]]
            recall = len(set(got) & set(exact_ids)) / len(exact_ids) if exact_ids else 1.0
            row.update(time_ms=elapsed, exact_time_ms=exact_elapsed, recall=recall)
        rows.append(row)
    if p.reasons:
        extra = dict.fromkeys(rows[0])
        extra.update(step=len(rows), engine="duckdb", strategy="exact", detail="; ".join(p.reasons))
        rows.append(extra)
    return Result(pa.Table.from_pylist(rows), plan=infos)


def _names(sql: str | None) -> list[str]:
    """Parameter names in generated DuckDB text (``$name``)."""
    import re

    return list(dict.fromkeys(re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", sql or "")))
