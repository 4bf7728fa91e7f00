"""One small adapter class per system: build, prepare, search, search_batch, close.

Every adapter indexes the same base vectors with ids = row numbers and the same two integer
attributes (``sel``, ``cluster``). ``prepare(flt, knob)`` does the untimed per-setting work
(set ef/nprobe, turn a filter's mask into the library's allow-list); ``search`` is the timed
single-query call; ``search_batch`` the timed all-queries call (``None`` when unsupported).

The knob is ``ef`` for HNSW, ``nprobe`` for IVF and ``None`` for exact search.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks.data import Dataset, FilterSpec


@dataclass
class BuildParams:
    """Index parameters shared by every system so that settings match."""

    index: str = "hnsw"  # "hnsw" | "ivf" | "exact"
    m: int = 16
    ef_construction: int = 200
    ef_search: int = 64
    nlist: int = 0  # 0 -> about 4 * sqrt(n)
    nprobe: int = 8
    batch_size: int = 10_000

    def nlist_for(self, n: int) -> int:
        """The IVF list count: the explicit value, else about 4 * sqrt(n) (at most n / 39)."""
        if self.nlist:
            return self.nlist
        return max(1, min(int(4 * np.sqrt(n)), n // 39 or 1))

    def describe(self, n: int) -> dict[str, Any]:
        """Build parameters that matter for ``self.index``, for the JSON rows."""
        if self.index == "hnsw":
            return {"m": self.m, "ef_construction": self.ef_construction}
        if self.index == "ivf":
            return {"nlist": self.nlist_for(n)}
        return {}


class Adapter:
    """Base class: subclasses set ``name`` and implement the methods below."""

    name = "base"
    #: index kinds this adapter can build
    kinds: tuple[str, ...] = ("hnsw", "ivf", "exact")
    #: sweep knob is ignored (exact scans, fixed-parameter peers)
    fixed_knob = False

    def __init__(self) -> None:
        #: seconds spent inside ``search`` that must not count (e.g. recovering partial results)
        self.excluded_s = 0.0

    @staticmethod
    def available() -> str | None:
        """``None`` when usable, else the reason it is skipped."""
        return None

    def build(self, ds: Dataset, attrs: dict[str, np.ndarray], bp: BuildParams) -> None:
        """Index all base vectors (ids = row numbers) and their attributes."""
        raise NotImplementedError

    def prepare(self, flt: FilterSpec | None, knob: int | None) -> None:
        """Untimed per-setting work before a sweep point."""

    def search(self, q: np.ndarray, k: int) -> np.ndarray:
        """One query (dim,), one calling thread; returns the ids found, nearest first."""
        raise NotImplementedError

    def search_batch(self, qs: np.ndarray, k: int) -> list[np.ndarray] | None:
        """All queries in one call; ``None`` when the system has no batch call."""
        return None

    def info(self, q: np.ndarray, k: int) -> dict[str, Any]:
        """Extra per-setting facts for the JSON row (e.g. vecdb's chosen strategy)."""
        return {}

    def close(self) -> None:
        """Release the index."""


def _missing(module: str) -> str | None:
    if importlib.util.find_spec(module) is None:
        return f"{module} is not installed"
    return None


def _unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows left as they are), float32, contiguous."""
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.ascontiguousarray(x / np.where(n == 0, 1, n), dtype=np.float32)


# --------------------------------------------------------------------------- vecdb


class VecdbAdapter(Adapter):
    """vecdb embedded: in-memory database, ``upsert`` in batches, ``Collection.search``."""

    name = "vecdb"

    def __init__(self, path: str | None = None) -> None:
        super().__init__()
        self.path = path
        self.db: Any = None
        self.col: Any = None
        self.where: str | None = None
        self.kw: dict[str, Any] = {}

    @staticmethod
    def available() -> str | None:
        try:
            import vecdb

            vecdb.connect().close()
        except Exception as exc:  # the engine may not be importable yet
            return f"vecdb is not usable: {type(exc).__name__}: {exc}"
        return None

    def build(self, ds: Dataset, attrs: dict[str, np.ndarray], bp: BuildParams) -> None:
        import vecdb

        self.index = bp.index
        self.db = vecdb.connect(self.path)
        if bp.index == "hnsw":
            params: dict[str, Any] = {
                "m": bp.m,
                "ef_construction": bp.ef_construction,
                "ef_search": bp.ef_search,
            }
        elif bp.index == "ivf":
            params = {"nlist": bp.nlist_for(ds.n), "nprobe": bp.nprobe}
        else:
            params = {}
        self.col = self.db.create_collection(
            "bench",
            dim=ds.dim,
            metric=ds.metric,
            index=bp.index,
            index_params=params,
            columns={"sel": "INTEGER", "cluster": "INTEGER"},
        )
        sel, cl = attrs["sel"].tolist(), attrs["cluster"].tolist()
        for s in range(0, ds.n, bp.batch_size):
            e = min(ds.n, s + bp.batch_size)
            rows = [{"sel": sel[i], "cluster": cl[i]} for i in range(s, e)]
            self.col.upsert(ids=list(range(s, e)), vectors=ds.base[s:e], rows=rows)

    def prepare(self, flt: FilterSpec | None, knob: int | None) -> None:
        self.where = flt.where if flt is not None else None
        self.kw = {}
        if knob is not None:
            self.kw = {"ef": knob} if self.index == "hnsw" else {"nprobe": knob}

    def search(self, q: np.ndarray, k: int) -> np.ndarray:
        hits = self.col.search(q, k=k, where=self.where, **self.kw)
        return np.fromiter((h.id for h in hits), dtype=np.int64, count=len(hits))

    def search_batch(self, qs: np.ndarray, k: int) -> list[np.ndarray] | None:
        res = self.col.search(qs, k=k, where=self.where, **self.kw)
        return [np.fromiter((h.id for h in hits), dtype=np.int64, count=len(hits)) for hits in res]

    def info(self, q: np.ndarray, k: int) -> dict[str, Any]:
        """The planner's strategy for this setting, from ``Collection.explain``."""
        try:
            plan = self.col.explain(q, k=k, where=self.where, **self.kw)
        except Exception as exc:  # explain is optional for the benchmark
            return {"strategy": f"explain failed: {type(exc).__name__}"}
        return {"strategy": plan.get("strategy"), "candidates": plan.get("candidates")}

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None


# --------------------------------------------------------------------------- hnswlib


class HnswlibAdapter(Adapter):
    """Raw hnswlib ``Index``; filters via ``knn_query(filter=callable, num_threads=1)``."""

    name = "hnswlib"
    # BFIndex is not offered for "exact": in hnswlib 0.8 its filtered search stops early when
    # fewer than k of the first k rows pass the filter (measured recall 0.6-0.9), and it does
    # not normalise for "cosine". faiss IndexFlat and DuckDB are the exact references.
    kinds = ("hnsw",)

    def __init__(self) -> None:
        super().__init__()
        self.index: Any = None
        self.filter: Any = None
        self.n_allowed = 0

    @staticmethod
    def available() -> str | None:
        return _missing("hnswlib")

    def build(self, ds: Dataset, attrs: dict[str, np.ndarray], bp: BuildParams) -> None:
        import hnswlib

        space = {"l2": "l2", "cosine": "cosine", "ip": "ip"}[ds.metric]
        self.kind = bp.index
        self.n = ds.n
        self.index = hnswlib.Index(space=space, dim=ds.dim)
        self.index.init_index(
            max_elements=ds.n, M=bp.m, ef_construction=bp.ef_construction, random_seed=100
        )
        self.index.add_items(ds.base, np.arange(ds.n))

    def prepare(self, flt: FilterSpec | None, knob: int | None) -> None:
        self.index.set_ef(int(knob or 10))
        if flt is None:
            self.filter, self.n_allowed = None, self.n
        else:
            self.filter = flt.mask.tolist().__getitem__  # C-level bool lookup per label
            self.n_allowed = int(flt.mask.sum())

    def _query(self, qs: np.ndarray, k: int, threads: int) -> np.ndarray:
        kk = min(k, self.n_allowed)
        if kk == 0:
            return np.empty((len(qs), 0), dtype=np.int64)
        labels, _ = self.index.knn_query(qs, k=kk, num_threads=threads, filter=self.filter)
        return labels.astype(np.int64)

    def search(self, q: np.ndarray, k: int) -> np.ndarray:
        try:
            return self._query(q[None, :], k, 1)[0]
        except RuntimeError:
            # hnswlib raises when it finds fewer than k; recover the partial result untimed
            t0 = time.perf_counter()
            out = np.empty(0, dtype=np.int64)
            for kk in range(min(k, self.n_allowed) - 1, 0, -1):
                try:
                    out = self._query(q[None, :], kk, 1)[0]
                    break
                except RuntimeError:
                    continue
            self.excluded_s += time.perf_counter() - t0
            return out

    def search_batch(self, qs: np.ndarray, k: int) -> list[np.ndarray] | None:
        try:
            return list(self._query(qs, k, -1))
        except RuntimeError:
            return None  # some query found fewer than k: hnswlib cannot return the batch

    def close(self) -> None:
        self.index = None


# --------------------------------------------------------------------------- faiss


class FaissAdapter(Adapter):
    """Raw faiss: IndexHNSWFlat / IndexIVFFlat / IndexFlat; filters via IDSelectorBitmap.

    Cosine is served as inner product over L2-normalised vectors (queries normalised inside
    the timed call). Single queries run with ``omp_set_num_threads(1)``.
    """

    name = "faiss"

    def __init__(self) -> None:
        super().__init__()
        self.index: Any = None
        self.params: Any = None
        self._bitmap: np.ndarray | None = None

    @staticmethod
    def available() -> str | None:
        return _missing("faiss")

    def build(self, ds: Dataset, attrs: dict[str, np.ndarray], bp: BuildParams) -> None:
        import faiss

        self.faiss = faiss
        self.kind = bp.index
        self.cosine = ds.metric == "cosine"
        metric = faiss.METRIC_L2 if ds.metric == "l2" else faiss.METRIC_INNER_PRODUCT
        x = self._norm(ds.base)
        if bp.index == "hnsw":
            self.index = faiss.IndexHNSWFlat(ds.dim, bp.m, metric)
            self.index.hnsw.efConstruction = bp.ef_construction
        elif bp.index == "ivf":
            quant = (
                faiss.IndexFlatL2(ds.dim)
                if metric == faiss.METRIC_L2
                else faiss.IndexFlatIP(ds.dim)
            )
            self.index = faiss.IndexIVFFlat(quant, ds.dim, bp.nlist_for(ds.n), metric)
            self._quant = quant
            self.index.train(x)
        else:
            self.index = faiss.IndexFlat(ds.dim, metric)
        self.index.add(x)

    def _norm(self, x: np.ndarray) -> np.ndarray:
        return _unit(x) if self.cosine else np.ascontiguousarray(x, dtype=np.float32)

    def prepare(self, flt: FilterSpec | None, knob: int | None) -> None:
        faiss = self.faiss
        kw: dict[str, Any] = {}
        if flt is not None:
            self._bitmap = np.packbits(flt.mask, bitorder="little")
            kw["sel"] = faiss.IDSelectorBitmap(len(flt.mask), faiss.swig_ptr(self._bitmap))
        if self.kind == "hnsw":
            self.params = faiss.SearchParametersHNSW(efSearch=int(knob or 16), **kw)
        elif self.kind == "ivf":
            self.params = faiss.SearchParametersIVF(nprobe=int(knob or 1), **kw)
        else:
            self.params = faiss.SearchParameters(**kw) if kw else None
        self._sel = kw.get("sel")  # keep the selector alive as long as params

    def search(self, q: np.ndarray, k: int) -> np.ndarray:
        self.faiss.omp_set_num_threads(1)
        _, ids = self.index.search(self._norm(q[None, :]), k, params=self.params)
        row = ids[0]
        return row[row >= 0]

    def search_batch(self, qs: np.ndarray, k: int) -> list[np.ndarray] | None:
        self.faiss.omp_set_num_threads(os.cpu_count() or 1)
        _, ids = self.index.search(self._norm(qs), k, params=self.params)
        return [row[row >= 0] for row in ids]

    def close(self) -> None:
        self.index = None


# --------------------------------------------------------------------------- DuckDB exact


class DuckDBExactAdapter(Adapter):
    """DuckDB exact scan: ``ORDER BY array_cosine_distance(vec, $q) LIMIT k`` (no index)."""

    name = "duckdb-exact"
    fixed_knob = True

    @staticmethod
    def available() -> str | None:
        return _missing("duckdb") or _missing("pyarrow")

    def build(self, ds: Dataset, attrs: dict[str, np.ndarray], bp: BuildParams) -> None:
        import duckdb
        import pyarrow as pa

        self.con = duckdb.connect()
        vec = pa.FixedSizeListArray.from_arrays(pa.array(ds.base.ravel()), ds.dim)
        tbl = pa.table(  # noqa: F841 - read by DuckDB's replacement scan below
            {
                "id": pa.array(np.arange(ds.n, dtype=np.int64)),
                "sel": pa.array(attrs["sel"]),
                "cluster": pa.array(attrs["cluster"]),
                "vec": vec,
            }
        )
        self.con.register("src", tbl)
        self.con.execute(
            f"CREATE TABLE t AS SELECT id, sel::INTEGER AS sel, cluster::INTEGER AS cluster, "
            f"vec::FLOAT[{ds.dim}] AS vec FROM src"
        )
        self.con.unregister("src")
        fn = {
            "cosine": "array_cosine_distance",
            "l2": "array_distance",
            "ip": "array_negative_inner_product",
        }[ds.metric]
        self.dim, self.fn = ds.dim, fn

    def prepare(self, flt: FilterSpec | None, knob: int | None) -> None:
        where = f"WHERE {flt.where} " if flt is not None else ""
        self.sql = (
            f"SELECT id FROM t {where}ORDER BY {self.fn}(vec, $q::FLOAT[{self.dim}]) LIMIT $k"
        )

    def search(self, q: np.ndarray, k: int) -> np.ndarray:
        rows = self.con.execute(self.sql, {"q": q.tolist(), "k": k}).fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64)

    def close(self) -> None:
        self.con.close()


# --------------------------------------------------------------------------- Chroma


class ChromaAdapter(Adapter):
    """Chroma (in-process ``EphemeralClient``); HNSW with the same M/ef_construction.

    Chroma fixes ``search_ef`` at collection creation, so it runs at one setting only:
    ``BuildParams.ef_search``.
    """

    name = "chromadb"
    kinds = ("hnsw",)
    fixed_knob = True

    @staticmethod
    def available() -> str | None:
        return _missing("chromadb")

    def build(self, ds: Dataset, attrs: dict[str, np.ndarray], bp: BuildParams) -> None:
        import chromadb

        self.client = chromadb.EphemeralClient()
        space = {"l2": "l2", "cosine": "cosine", "ip": "ip"}[ds.metric]
        self.col = self.client.create_collection(
            "bench",
            metadata={
                "hnsw:space": space,
                "hnsw:M": bp.m,
                "hnsw:construction_ef": bp.ef_construction,
                "hnsw:search_ef": bp.ef_search,
            },
        )
        step = min(bp.batch_size, 5000)
        sel, cl = attrs["sel"].tolist(), attrs["cluster"].tolist()
        for s in range(0, ds.n, step):
            e = min(ds.n, s + step)
            self.col.add(
                ids=[str(i) for i in range(s, e)],
                embeddings=ds.base[s:e],
                metadatas=[{"sel": sel[i], "cluster": cl[i]} for i in range(s, e)],
            )

    def prepare(self, flt: FilterSpec | None, knob: int | None) -> None:
        self.where = flt.chroma_where() if flt is not None else None

    def search(self, q: np.ndarray, k: int) -> np.ndarray:
        res = self.col.query(query_embeddings=[q], n_results=k, where=self.where)
        return np.array([int(i) for i in res["ids"][0]], dtype=np.int64)

    def search_batch(self, qs: np.ndarray, k: int) -> list[np.ndarray] | None:
        res = self.col.query(query_embeddings=list(qs), n_results=k, where=self.where)
        return [np.array([int(i) for i in ids], dtype=np.int64) for ids in res["ids"]]

    def close(self) -> None:
        self.client = None


# --------------------------------------------------------------------------- LanceDB


class LanceAdapter(Adapter):
    """LanceDB (local directory), flat scan with a pre-filter; no ANN index is built."""

    name = "lancedb"
    fixed_knob = True

    @staticmethod
    def available() -> str | None:
        return _missing("lancedb")

    def build(self, ds: Dataset, attrs: dict[str, np.ndarray], bp: BuildParams) -> None:
        import lancedb
        import pyarrow as pa

        self.tmp = tempfile.TemporaryDirectory(prefix="vecdb-bench-lance-")
        self.db = lancedb.connect(self.tmp.name)
        vec = pa.FixedSizeListArray.from_arrays(pa.array(ds.base.ravel()), ds.dim)
        tbl = pa.table(
            {
                "id": pa.array(np.arange(ds.n, dtype=np.int64)),
                "sel": pa.array(attrs["sel"].astype(np.int32)),
                "cluster": pa.array(attrs["cluster"].astype(np.int32)),
                "vector": vec,
            }
        )
        self.tbl = self.db.create_table("bench", data=tbl)
        self.metric = {"l2": "l2", "cosine": "cosine", "ip": "dot"}[ds.metric]

    def prepare(self, flt: FilterSpec | None, knob: int | None) -> None:
        self.where = flt.where if flt is not None else None

    def search(self, q: np.ndarray, k: int) -> np.ndarray:
        query = self.tbl.search(q)
        set_metric = getattr(query, "distance_type", None) or query.metric
        query = set_metric(self.metric)
        if self.where:
            query = query.where(self.where, prefilter=True)
        out = query.limit(k).select(["id"]).to_arrow()
        return np.asarray(out.column("id").to_numpy(), dtype=np.int64)

    def close(self) -> None:
        self.tmp.cleanup()


ADAPTERS: dict[str, type[Adapter]] = {
    a.name: a
    for a in (
        VecdbAdapter,
        HnswlibAdapter,
        FaissAdapter,
        DuckDBExactAdapter,
        ChromaAdapter,
        LanceAdapter,
    )
}
