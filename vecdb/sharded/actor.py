"""One shard: an embedded vecdb over ``DIR/shard-<i>``, run inside a Ray actor.

:class:`Shard` is a plain class (the router wraps it with ``ray.remote``), so it can be used
and tested in-process too. Every method returns ``("ok", value)`` or ``("err", exception)``
instead of raising: the router re-raises the engine's own exception class, unwrapped, so a
sharded database raises exactly what one node raises.

Search results travel as padded arrays (ids, distances, counts) rather than Hit objects: the
router merges them with numpy, and pickling arrays is cheap.

>>> import tempfile, numpy as np
>>> s = Shard(tempfile.mkdtemp(), shard=0)
>>> s.create_collection({"name": "c", "dim": 2, "metric": "l2", "index": "exact"})[0]
'ok'
>>> import pyarrow as pa
>>> vec = pa.FixedSizeListArray.from_arrays(pa.array([1, 0, 0, 1], pa.float32()), 2)
>>> s.write("c", pa.table({"id": [1, 2], "vec": vec}), True)
('ok', 2)
>>> status, (ids, dists, counts, rows) = s.search("c", np.array([[1, 0]], "float32"), 5, None,
...                                               None, None, None, None)
>>> ids.tolist(), np.round(dists.astype(float), 3).tolist(), counts.tolist()
([[1, 2]], [[0.0, 1.414]], [2])
>>> s.close()
('ok', None)
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import numpy as np

import vecdb
from vecdb._input import MAX_K
from vecdb.embed import EmbeddingFunction
from vecdb.errors import DatabaseLockedError, InternalError, VecdbError
from vecdb.fulltext import CorpusStats, corpus_stats

__all__ = ["Shard", "Reply", "RouterEmbedding"]

F = TypeVar("F", bound=Callable[..., Any])
Reply = tuple[str, Any]

#: how long a restarted shard waits for its dead predecessor to release the directory lock
LOCK_WAIT_S = 30.0


def _reply(fn: F) -> F:
    """Return ``("ok", value)``, or ``("err", exc)`` for any exception (picklable)."""

    @wraps(fn)
    def wrapper(self: Shard, *args: Any, **kwargs: Any) -> Reply:
        t0 = time.perf_counter()
        try:
            return ("ok", fn(self, *args, **kwargs))
        except VecdbError as e:
            return ("err", e)
        except Exception as e:  # noqa: BLE001 - everything goes back to the router
            try:
                import pickle

                pickle.dumps(e)
                return ("err", e)
            except Exception:
                return ("err", InternalError(f"shard {self.shard}: {type(e).__name__}: {e}"))
        finally:
            self.busy_s += time.perf_counter() - t0
            self.calls += 1

    return wrapper  # type: ignore[return-value]


#: the schema metadata key of a shard's SQL plans
PLAN_KEY = b"vecdb.plan"


class RouterEmbedding(EmbeddingFunction):
    """What a shard's collection holds as its embedding function: the router's spec and
    dimension, and no model. The router embeds documents and text queries once and sends
    vectors, so a shard never loads a model (each would otherwise hold its own copy).

    >>> fn = RouterEmbedding({"provider": "ollama", "model": "m"}, 3)
    >>> fn.spec, fn.dim
    ({'provider': 'ollama', 'model': 'm'}, 3)
    """

    def __init__(self, spec: dict[str, Any], dim: int) -> None:
        super().__init__(dim=dim)
        self._spec = dict(spec)

    @property
    def spec(self) -> dict[str, Any]:
        return dict(self._spec)

    def _embed(self, texts: list[str]) -> Any:
        raise InternalError("a shard never embeds: the router sends vectors (a vecdb bug)")


class Shard:
    """An embedded vecdb database that answers for one shard of every collection."""

    def __init__(self, path: str, shard: int, confined: bool = False) -> None:
        self.path = path
        self.shard = shard
        self.busy_s = 0.0
        self.calls = 0
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                self.db = vecdb.Database(path, confined=confined)
                break
            except DatabaseLockedError:
                # after a crash, Ray may restart this actor before the old process is gone
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    # ---- health --------------------------------------------------------------------------
    def ping(self) -> dict[str, Any]:
        """Process id and shard number (the router's liveness probe)."""
        return {"pid": os.getpid(), "shard": self.shard}

    @_reply
    def stats(self) -> dict[str, Any]:
        """Rows per collection and time spent serving calls, for /metrics."""
        rows = {}
        for name in self.db.list_collections():
            rows[name] = self.db.get_collection(name).count()
        return {"rows": rows, "busy_s": self.busy_s, "calls": self.calls, "pid": os.getpid()}

    # ---- catalog -------------------------------------------------------------------------
    @_reply
    def create_collection(self, spec: dict[str, Any]) -> dict[str, Any]:
        return self.db.create_collection(**spec).describe()

    @_reply
    def drop_collection(self, name: str, missing_ok: bool) -> None:
        self.db.drop_collection(name, missing_ok=missing_ok)

    @_reply
    def list_collections(self) -> list[str]:
        return self.db.list_collections()

    @_reply
    def describe(self, name: str) -> dict[str, Any]:
        return self.db.get_collection(name).describe()

    @_reply
    def catalog(self) -> dict[str, dict[str, Any]]:
        """Every collection's description (the router's catalog on open)."""
        return {n: self.db.get_collection(n).describe() for n in self.db.list_collections()}

    # ---- writes --------------------------------------------------------------------------
    @_reply
    def write(self, name: str, table: Any, replace: bool) -> int:
        """``upsert`` (``replace``) or ``add`` one batch (an Arrow table with ``id`` and
        ``vec``); atomic on this shard."""
        coll = self.db.get_collection(name)
        return coll.upsert(table) if replace else coll.add(table)

    @_reply
    def existing(self, name: str, ids: np.ndarray) -> list[Any]:
        """Which of ``ids`` this shard holds (the router's check before ``add``)."""
        return [r.id for r in self.db.get_collection(name).get(ids, include=[])]

    @_reply
    def delete(self, name: str, ids: Any, where: str | None, params: Any) -> int:
        return self.db.get_collection(name).delete(ids=ids, where=where, params=params)

    @_reply
    def compact(self, name: str) -> None:
        self.db.get_collection(name).compact()

    # ---- reads ---------------------------------------------------------------------------
    @_reply
    def count(self, name: str, where: str | None, params: Any) -> int:
        return self.db.get_collection(name).count(where=where, params=params)

    @_reply
    def get(self, name: str, ids: Any, include: Any) -> list[Any]:
        return self.db.get_collection(name).get(ids, include=include)

    @_reply
    def search(
        self,
        name: str,
        queries: np.ndarray,
        k: int,
        where: str | None,
        params: Any,
        include: Any,
        ef: int | None,
        nprobe: int | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[list[Any]] | None]:
        """This shard's ``k`` nearest per query: ids and distances padded to ``(m, k)`` (with
        +inf past each query's count), the counts, and the rows when ``include`` is given."""
        coll = self.db.get_collection(name)
        single = np.ndim(queries) == 1
        if include is None and _plain_knobs(k, ef, nprobe):
            # the engine's array entry (what its SQL layer uses): no Hit objects on this side
            q = queries[None, :] if single else queries
            id_rows, d_rows, _ = coll.search_candidates(q, k, where, params, ef=ef, nprobe=nprobe)
            return _pad(id_rows, d_rows, coll.id_type) + (None,)
        res = coll.search(
            queries, k=k, where=where, params=params, include=include, ef=ef, nprobe=nprobe
        )
        if single:
            res = [res]
        id_rows = [[h[0] for h in hits] for hits in res]
        d_rows = [[h[1] for h in hits] for hits in res]
        ids, dists, counts = _pad(id_rows, d_rows, coll.id_type)
        rows = [[h[2] for h in hits] for hits in res] if include is not None else None
        return ids, dists, counts, rows

    # ---- text ----------------------------------------------------------------------------
    @_reply
    def text_stats(self, name: str, text: str) -> CorpusStats:
        """This shard's BM25 statistics for ``text`` (the router sums them: global IDF)."""
        return self.db.get_collection(name).text_stats(text)

    @_reply
    def search_text(
        self,
        name: str,
        text: str,
        k: int,
        where: str | None,
        params: Any,
        stats: CorpusStats | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """This shard's ``k`` best ids and BM25 scores for ``text`` among rows matching
        ``where``, scored with the whole collection's ``stats`` when given."""
        coll = self.db.get_collection(name)
        with corpus_stats(stats):
            hits = coll.search(text, k=k, where=where, params=params, mode="fulltext")
        return _ranking(hits, coll.id_type)

    @_reply
    def hybrid(
        self,
        name: str,
        query: np.ndarray,
        text: str,
        depth: int,
        where: str | None,
        params: Any,
        ef: int | None,
        nprobe: int | None,
        stats: CorpusStats | None,
    ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """Both branches of a hybrid search on this shard, unfused (the router fuses the
        merged rankings): the ``depth`` nearest ``(ids, distances)`` to the embedded
        ``query`` and the ``depth`` best ``(ids, bm25 scores)`` for ``text``."""
        coll = self.db.get_collection(name)
        with corpus_stats(stats):
            t_hits = coll.search(text, k=depth, where=where, params=params, mode="fulltext")
        found = coll.search_candidates(query[None, :], depth, where, params, ef, nprobe)
        vec = (found.ids[0].astype(_id_dtype(coll.id_type)), found.distances[0])
        return vec, _ranking(t_hits, coll.id_type)

    @_reply
    def rows(self, name: str, ids: np.ndarray, include: list[str]) -> dict[Any, dict[str, Any]]:
        """The ``include``d columns of the rows among ``ids`` that exist, by id."""
        return {r.id: r.row for r in self.db.get_collection(name).get(ids, include=include)}

    @_reply
    def time_search(self, name: str, queries: np.ndarray, k: int, ef: int | None) -> list[float]:
        """Seconds each single query takes inside this shard (the benchmark's per-shard
        latency: the router and Ray are not in it)."""
        coll = self.db.get_collection(name)
        clock = time.perf_counter
        out = []
        for q in queries:
            t0 = clock()
            coll.search(q, k=k, ef=ef)
            out.append(clock() - t0)
        return out

    @_reply
    def explain(self, name: str, query: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        return self.db.get_collection(name).explain(query, **kwargs)

    @_reply
    def sql(self, query: str, params: Any, stats: CorpusStats | None = None) -> Any:
        """Run one statement; the rows come back as an Arrow table. ``stats``: the whole
        collection's BM25 statistics for the statement's ``bm25``/``match`` text."""
        with corpus_stats(stats):
            res = self.db.sql(query, params)
        table = res.to_arrow()
        if res.plan:  # the vector-search plans ride in the schema metadata
            meta = dict(table.schema.metadata or {})
            meta[PLAN_KEY] = json.dumps(res.plan, default=str).encode()
            table = table.replace_schema_metadata(meta)
        return table

    # ---- lifecycle -----------------------------------------------------------------------
    @_reply
    def checkpoint(self) -> None:
        self.db.checkpoint()

    @_reply
    def close(self) -> None:
        """Checkpoint and close the embedded database (the router kills the actor next)."""
        self.db.close()


def _plain_knobs(k: Any, ef: Any, nprobe: Any) -> bool:
    """True when ``k``, ``ef`` and ``nprobe`` are values ``search()`` accepts as they are (else
    the public ``search()`` runs, to raise exactly the error one node raises)."""
    ok_k = type(k) is int and 1 <= k <= MAX_K
    return ok_k and all(v is None or (type(v) is int and v >= 1) for v in (ef, nprobe))


def _id_dtype(id_type: str) -> Any:
    return np.int64 if id_type == "int" else object


def _ranking(hits: list[Any], id_type: str) -> tuple[np.ndarray, np.ndarray]:
    """A list of hits as ``(ids, scores)`` arrays."""
    ids = np.array([h[0] for h in hits], dtype=_id_dtype(id_type))
    return ids, np.array([h[1] for h in hits], dtype=np.float64)


def _pad(id_rows: list[Any], d_rows: list[Any], id_type: str) -> tuple[Any, Any, Any]:
    """Ragged per-query ids and distances as ``(m, width)`` arrays padded with +inf.

    Distances keep their dtype (float32 from the indexes): the router's Hit gets the same
    Python float as one node's, and half the bytes cross Ray.

    >>> ids, d, n = _pad([np.array([4, 2]), np.array([7])],
    ...                  [np.array([0.5, 0.75], "float32"), np.array([0.25], "float32")], "int")
    >>> ids.tolist(), d.tolist(), d.dtype.name, n.tolist()
    ([[4, 2], [7, 0]], [[0.5, 0.75], [0.25, inf]], 'float32', [2, 1])
    """
    m = len(id_rows)
    counts = np.fromiter((len(r) for r in id_rows), dtype=np.int64, count=m)
    width = int(counts.max()) if m else 0
    id_dtype = _id_dtype(id_type)
    if m and (counts == width).all() and not isinstance(d_rows[0], list):
        return np.stack(id_rows).astype(id_dtype, copy=False), np.stack(d_rows), counts
    d_type = np.result_type(*[np.asarray(d).dtype for d in d_rows]) if m else np.float64
    if not np.issubdtype(d_type, np.floating):
        d_type = np.float64
    ids = np.zeros((m, width), dtype=id_dtype)
    dists = np.full((m, width), np.inf, dtype=d_type)
    for i, (a, d) in enumerate(zip(id_rows, d_rows)):
        n = len(a)
        if n:
            ids[i, :n] = a
            dists[i, :n] = d
    return ids, dists, counts
