"""Execute: run a plan against a Database (the front door is :mod:`vecdb.sql.run`).

The stages are ``parse`` (once per text, :class:`~vecdb.sql.cache.SqlState`), ``analyze``,
``plan`` (once per text and catalog; confined plans are verified here, before they are
cached), then per call: bind parameters, one ``search_candidates`` per search site (with the
site's checked predicate), one DuckDB query.

>>> import numpy as np, vecdb
>>> db = vecdb.connect()
>>> _ = db.sql("CREATE TABLE docs (id BIGINT PRIMARY KEY, year INTEGER, vec FLOAT[2])")
>>> _ = db.sql("INSERT INTO docs VALUES (1, 2020, [1, 0]), (2, 2021, [0, 1])")
>>> db.sql("SELECT id FROM docs ORDER BY l2(vec, ?) LIMIT 1", [np.array([0.1, 0.9])]).fetchall()
[(2,)]
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from vecdb.errors import (
    PermissionDeniedError,
    SQLParseError,
    UnsupportedQueryError,
    VecdbError,
    from_duckdb,
)
from vecdb.result import Result
from vecdb.sql import confine, verify
from vecdb.sql.analyze import CollectionInfo, analyze
from vecdb.sql.cache import Entry, SqlState
from vecdb.sql.parse import Statement, parse
from vecdb.sql.plan import plan
from vecdb.sql.plans import (
    CreateCollectionPlan,
    CreateIndexPlan,
    DmlPlan,
    DropCollectionPlan,
    DropIndexPlan,
    ExactPlan,
    PassthroughPlan,
    Plan,
    QueryPlan,
    SearchPlan,
    texts_of,
)
from vecdb.sql.steps import collections_of, lookup, prepare, run_direct, run_searches

__all__ = ["execute", "get_plan", "catalog_of", "map_error", "state_of", "query", "check_read_only"]

_EMPTY = pa.table({})
_QUERY_PLANS = (SearchPlan, ExactPlan, PassthroughPlan, DmlPlan)

#: SQL state of database objects that do not carry their own ``sql_state``
_STATES: weakref.WeakKeyDictionary[Any, SqlState] = weakref.WeakKeyDictionary()
_STATES_LOCK = threading.Lock()


def state_of(db: Any) -> SqlState:
    """The database's plan cache and index names (``Database.sql_state``)."""
    state = getattr(db, "sql_state", None)
    if state is not None:
        return state  # type: ignore[no-any-return]
    with _STATES_LOCK:
        state = _STATES.get(db)
        if state is None:
            state = _STATES[db] = SqlState()
    return state


def catalog_of(db: Any) -> dict[str, CollectionInfo]:
    """The planner's view of the database's collections (lower-case name -> info)."""
    out = {}
    for name, c in collections_of(db).items():
        cols = ("id", *c.columns, "vec")
        out[name.lower()] = CollectionInfo(c.name, c.dim, c.metric, c.index_kind, cols, c.id_type)
    return out


def _snapshot(db: Any, p: Plan) -> tuple[Any, ...]:
    colls = collections_of(db)
    return (len(colls), *(getattr(colls.get(d), "spec", None) for d in p.deps))


def map_error(e: Exception) -> VecdbError:
    """A DuckDB exception as the vecdb error a caller can act on, keeping DuckDB's text."""
    return from_duckdb(e)


# ---- planning ---------------------------------------------------------------------------
def _lengths(p: Plan, values: Mapping[str, Any]) -> tuple[tuple[str, int], ...]:
    if not isinstance(p, _QUERY_PLANS):
        return ()
    return tuple(
        (n, int(np.shape(values[n])[-1]) if np.ndim(values[n]) else 0)
        for n in p.unresolved
        if n in values
    )


def get_plan(db: Any, entry: Entry, values: dict[str, Any]) -> Plan:
    """The cached plan of ``entry`` for these values, or a new one (verified when confined)."""
    key: tuple[tuple[str, int], ...] = ()
    cached = entry.plans.get(key)
    if cached is not None and isinstance(cached[0], _QUERY_PLANS) and cached[0].unresolved:
        key = _lengths(cached[0], values)
        cached = entry.plans.get(key)
    if cached is not None and cached[1] == _snapshot(db, cached[0]):
        return cached[0]
    cat = catalog_of(db)
    analysis = analyze(entry.statement, cat)
    p = plan(analysis, cat)
    key = _lengths(p, values)
    if key:
        p = plan(analysis, cat, dict(key))
        entry.plans.setdefault((), (p, _snapshot(db, p)))
    if entry.statement.confined:
        _verify(entry.statement, p)
    if isinstance(p, _QUERY_PLANS):
        entry.plans[key] = (p, _snapshot(db, p))
    return p


def _verify(statement: Statement, p: Plan) -> None:
    """Confined SQL: every text the plan sends to DuckDB is read back by both parsers.

    DuckDB must read each as one statement of the kind the plan stands for and pass the
    confinement rules on its own parse tree; sqlglot must read it back into a tree that
    passes them too. The texts include each pushed predicate (as ``SELECT 1 WHERE (...)``),
    which the collection then runs without checking it again. Runs once per plan (plans are
    cached), not per call.
    """
    for text, allowed in texts_of(p).items():
        if allowed is None:
            allowed = verify.expected_kinds(statement.tree) or frozenset()
        found = verify.kinds(text)
        if len(found) != 1 or found[0] not in allowed:
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


def check_read_only(statement: Statement, p: Plan | None) -> None:
    """A read-only caller runs queries only (search, exact, passthrough of a query)."""
    if not statement.read_only or (
        p is not None and not isinstance(p, (SearchPlan, ExactPlan, PassthroughPlan))
    ):
        raise PermissionDeniedError(
            f"a read-only caller may run queries only, not {statement.kind} statements"
        )


def _args(p: QueryPlan, values: Mapping[str, Any]) -> Any:
    if p.positional:
        return [values[n] for n in p.sql_params]
    return {n: values[n] for n in p.sql_params} or None


def query(db: Any, sql: str, args: Any, read_only: bool = False) -> pa.Table:
    """Run checked ``sql`` on the calling thread's cursor; the result as Arrow."""
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


def execute(
    db: Any,
    p: Plan,
    values: dict[str, Any],
    infos: list[Any] | None = None,
    read_only: bool = False,
) -> Result:
    """Run plan ``p`` with bound ``values``; ``infos`` collects the searches' plan info."""
    if not isinstance(p, _QUERY_PLANS):
        if read_only:  # pragma: no cover - run_sql refuses these before planning
            raise PermissionDeniedError("a read-only caller cannot change the schema")
        return _execute_ddl(db, p)
    prepare(p, values)
    if isinstance(p, SearchPlan) and p.direct:
        return run_direct(db, p, values, infos)
    found = run_searches(db, p, values) if p.searches else None
    if infos is not None and found:
        infos.extend(found)
    if isinstance(p, DmlPlan):
        if read_only:  # pragma: no cover - run_sql refuses these before planning
            raise PermissionDeniedError("a read-only caller cannot write")
        coll = lookup(db, collections_of(db), p.target)
        try:
            ids = coll.execute_dml(p.sql, _args(p, values))
        except duckdb.Error as e:
            raise map_error(e) from e
        return Result(pa.table({"Count": pa.array([len(ids)], pa.int64())}))
    table = query(db, p.sql, _args(p, values), read_only)
    if isinstance(p, PassthroughPlan) and not read_only:
        state_of(db).invalidate()  # DDL on plain tables may change what the plans read
    return Result(table, plan=found)


def _execute_ddl(
    db: Any, p: CreateCollectionPlan | CreateIndexPlan | DropIndexPlan | DropCollectionPlan
) -> Result:
    state = state_of(db)
    try:
        if isinstance(p, CreateCollectionPlan):
            db.create_collection(
                p.name,
                dim=p.dim,
                index="exact",
                columns=dict(p.columns) or None,
                id_type=p.id_type,
                exist_ok=p.exist_ok,
                constraints=dict(p.constraints) or None,
            )
        elif isinstance(p, CreateIndexPlan):
            coll = db.get_collection(p.target)
            local = hasattr(db, "_cursor")  # the name goes in the same catalog transaction
            if not (p.exist_ok and coll.index_kind != "exact"):
                kw = {"sql_name": (p.name, True)} if local else {}
                coll.set_index(p.index, metric=p.metric, index_params=dict(p.params), **kw)
                if not local:
                    state.name_index(p.name, coll.name)
            else:
                state.name_index(p.name, coll.name)
        elif isinstance(p, DropIndexPlan):
            target = state.index_target(p.name, collections_of(db))
            if target is not None:
                if hasattr(db, "_cursor"):
                    db.get_collection(target).set_index("exact", sql_name=(p.name, False))
                else:
                    db.get_collection(target).set_index("exact")
                    state.name_index(p.name, None)
            else:
                query(db, p.sql, None)
        elif isinstance(p, DropCollectionPlan):
            db.drop_collection(p.target, missing_ok=p.exists)
        else:  # pragma: no cover - plan() only makes the kinds above
            raise UnsupportedQueryError(f"cannot run a {p.kind} plan")
    except duckdb.Error as e:
        raise map_error(e) from e
    finally:
        state.invalidate()
    return Result(_EMPTY)
