"""Running a plan's search steps: bind vector parameters, search each collection with its
pushed (already checked) predicate, and bind the candidates into the DuckDB query; or, for
a direct plan, build the result from the engine's answer and row store alone.

>>> import numpy as np
>>> _vector("q", [1, 2], 2)
array([1., 2.], dtype=float32)
>>> _vector("q", [1, 2], 3)
Traceback (most recent call last):
...
vecdb.errors.DimensionMismatchError: parameter $q has 2 floats; the collection's dim is 3
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa

from vecdb.errors import DimensionMismatchError, InvalidArgumentError
from vecdb.result import Result
from vecdb.sql.plans import QueryPlan, SearchPlan

__all__ = ["prepare", "run_searches", "run_direct", "resolve", "collections_of", "lookup"]


def collections_of(db: Any) -> Mapping[str, Any]:
    """name -> collection, for a Database (its own map) or any DatabaseAPI."""
    colls = getattr(db, "_collections", None)
    if colls is not None:
        return colls  # type: ignore[no-any-return]
    return {n: db.get_collection(n) for n in db.list_collections()}


def lookup(db: Any, colls: Mapping[str, Any], name: str) -> Any:
    c = colls.get(name)
    if c is None:
        c = db.get_collection(name)
    return c


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


def resolve(values: Mapping[str, Any], item: int | str | None) -> int:
    """A LIMIT/OFFSET: the int, or the checked value of the parameter it names."""
    if item is None:
        return 0
    if isinstance(item, int):
        return item
    return _count(item, values[item])


def prepare(p: QueryPlan, values: dict[str, Any]) -> dict[str, Any]:
    """Vector parameters as float32 arrays, checked against the collection's dim."""
    for name, dim in p.vector_dims.items():
        values[name] = _vector(name, values[name], dim)
    for name in p.unresolved:
        if name in values and not isinstance(values[name], np.ndarray):
            values[name] = _vector(name, values[name], None)
    return values


def _where_params(step: Any, values: Mapping[str, Any]) -> dict[str, Any] | None:
    return {n: values[n] for n in step.where_params} or None


def run_searches(db: Any, p: QueryPlan, values: dict[str, Any]) -> list[dict[str, Any]]:
    """Run the plan's index searches; bind their candidates into ``values``."""
    infos = []
    colls = collections_of(db)
    for step in p.searches:
        coll = lookup(db, colls, step.collection)
        limit = resolve(values, step.limit)
        offset = resolve(values, step.offset)
        k = limit + offset
        cands: list[Any] = []
        info: dict[str, Any] = {"strategy": "none", "candidates": 0}
        if k > 0:
            ids, _, info = coll.search_candidates(
                values[step.query_param][None, :], k, step.where, _where_params(step, values)
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


def run_direct(db: Any, p: SearchPlan, values: dict[str, Any], infos: list[Any] | None) -> Result:
    """A search whose SELECT list is ids, the ordering distance, the collection's columns and
    its vector: the engine's answer and its row store are the result (principle 4: the hot
    path does not pay a DuckDB round trip for it); rows come from the ids' own snapshot."""
    step = p.searches[0]
    coll = lookup(db, collections_of(db), step.collection)
    limit = resolve(values, step.limit)
    offset = resolve(values, step.offset)
    k = limit + offset
    ids: Any = []
    dists: Any = np.zeros(0, np.float32)
    info: dict[str, Any] = {"strategy": "none", "candidates": 0}
    wanted = [w[7:] for _, w in p.direct if w.startswith("column:")]
    want_vec = any(w == "vec" for _, w in p.direct)
    row_values: dict[str, list[Any]] = {c: [] for c in wanted}
    vecs: Any = np.zeros((0, coll.dim), np.float32)
    if k > 0 and limit > 0:
        where_params = _where_params(step, values)
        query = values[step.query_param][None, :]
        if wanted or want_vec:
            (found, dist, info), fetched = coll.search_rows(
                query, k, step.where, where_params, wanted, want_vec
            )
            got, got_vecs = fetched[0]
            row_values = {c: got[n][offset:] for n, c in enumerate(wanted)}
            if want_vec:
                vecs = got_vecs[offset:]
        else:
            found, dist, info = coll.search_candidates(query, k, step.where, where_params)
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
