"""EXPLAIN [ANALYZE]: the plan of a statement as rows (strategy, estimates, index parameters);
with ANALYZE, run it, time it against DuckDB's exact run, and measure each search's recall.

>>> import vecdb
>>> vecdb.connect().sql("EXPLAIN SELECT 1").fetchall()[0][:3]
(0, 'duckdb', 'exact')
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pyarrow as pa

from vecdb.errors import InvalidArgumentError, UnsupportedQueryError
from vecdb.result import Result
from vecdb.sql.cache import Entry
from vecdb.sql.execute import execute, get_plan, query
from vecdb.sql.parse import bind_params
from vecdb.sql.plans import DmlPlan, ExactPlan, PassthroughPlan, SearchPlan
from vecdb.sql.steps import collections_of, lookup, prepare, resolve
from vecdb.sql.text import bind_text

__all__ = ["run_explain", "EXPLAIN_COLUMNS"]

EXPLAIN_COLUMNS = (
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
_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def _names(sql: str) -> list[str]:
    """Parameter names in generated DuckDB text (``$name``)."""
    return list(dict.fromkeys(_PARAM.findall(sql)))


def _bound(sql: str, values: dict[str, Any]) -> dict[str, Any] | None:
    return {n: values[n] for n in _names(sql)} or None


def run_explain(db: Any, entry: Entry, params: Any, analyze: bool) -> Result:
    """The EXPLAIN rows of ``entry``'s statement (see the module doc)."""
    statement = entry.statement
    if params is None and statement.param_names:
        raise InvalidArgumentError(
            "EXPLAIN runs the planner's estimates: pass the statement's parameters too"
        )
    values = bind_params(statement, params)
    if statement.text_sites:
        bind_text(db, statement.text_sites, values)
    p = get_plan(db, entry, values)
    if not isinstance(p, SearchPlan):
        if analyze and not isinstance(p, ExactPlan):
            raise UnsupportedQueryError("EXPLAIN ANALYZE runs queries only, not DDL or DML")
        row: dict[str, Any] = dict.fromkeys(EXPLAIN_COLUMNS)
        sql = p.sql if isinstance(p, (ExactPlan, PassthroughPlan, DmlPlan)) else None
        row.update(
            step=0,
            engine="duckdb",
            strategy=p.kind,
            collection=getattr(p, "target", None),
            detail="; ".join(getattr(p, "reasons", ())) or sql,
        )
        if analyze:
            t0 = time.perf_counter()
            execute(db, p, dict(values))
            row.update(time_ms=(time.perf_counter() - t0) * 1000, exact_time_ms=None, recall=1.0)
        return Result(pa.Table.from_pylist([row]), plan=None)
    return _explain_search(db, p, values, analyze)


def _explain_search(db: Any, p: SearchPlan, values: dict[str, Any], analyze: bool) -> Result:
    colls = collections_of(db)
    infos: list[dict[str, Any]] = []
    elapsed = exact_elapsed = 0.0
    if analyze:
        t0 = time.perf_counter()
        execute(db, p, dict(values), infos)
        elapsed = (time.perf_counter() - t0) * 1000
        prepared = prepare(p, dict(values))
        t0 = time.perf_counter()
        query(db, p.exact_sql, _bound(p.exact_sql, prepared))
        exact_elapsed = (time.perf_counter() - t0) * 1000
    else:
        prepared = prepare(p, dict(values))
        for step in p.searches:
            coll = lookup(db, colls, step.collection)
            limit = resolve(prepared, step.limit)
            offset = resolve(prepared, step.offset)
            info = coll.explain(
                prepared[step.query_param],
                k=max(1, limit + offset),
                where=step.where,
                params={n: prepared[n] for n in step.where_params} or None,
            )
            infos.append({**info, "k": limit, "offset": offset, "ids": None})
    rows: list[dict[str, Any]] = []
    for i, (step, info) in enumerate(zip(p.searches, infos, strict=True)):
        coll = lookup(db, colls, step.collection)
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
                query(db, step.probe_sql, _bound(step.probe_sql, prepared)).column(0).to_pylist()
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
