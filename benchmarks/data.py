"""Data sets, filter attributes, exact (filtered) ground truth and tie-aware recall.

A data set folder has the ``shared/data`` layout: ``base.npy`` (n, d) float32,
``queries.npy`` (nq, d) float32, ``groundtruth.npy`` (nq, >=k) int ids into base, nearest
first, and ``meta.json`` whose ``"metric"`` names the distance (``euclidean``/``l2``,
``angular``/``cosine``, ``ip``/``dot``). A vector's id is its row number.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CACHE_DIR = Path(__file__).resolve().parent / ".cache"


def cache_dir() -> Path:
    """Where attributes and filtered ground truth are cached (``$VECDB_BENCH_CACHE`` wins)."""
    env = os.environ.get("VECDB_BENCH_CACHE")
    return Path(env) if env else CACHE_DIR


_METRIC_NAMES = {
    "euclidean": "l2",
    "l2": "l2",
    "angular": "cosine",
    "cosine": "cosine",
    "ip": "ip",
    "dot": "ip",
    "inner_product": "ip",
}


def normalize_metric(name: str) -> str:
    """Map a meta.json metric name onto vecdb's ``"l2"``, ``"cosine"`` or ``"ip"``."""
    try:
        return _METRIC_NAMES[name.lower()]
    except KeyError as exc:
        raise ValueError(f"unknown metric {name!r} in meta.json") from exc


@dataclass
class Dataset:
    """A loaded benchmark data set (vectors stay float32, ids are row numbers)."""

    name: str
    metric: str
    base: np.ndarray
    queries: np.ndarray
    groundtruth: np.ndarray
    path: Path | None = None
    _fingerprint: str | None = field(default=None, repr=False)

    @property
    def n(self) -> int:
        """Number of base vectors."""
        return int(self.base.shape[0])

    @property
    def dim(self) -> int:
        """Vector dimension."""
        return int(self.base.shape[1])

    def fingerprint(self) -> str:
        """A short hash of base, queries and metric, used as the ground-truth cache key."""
        if self._fingerprint is None:
            h = hashlib.sha1()
            h.update(self.metric.encode())
            h.update(np.ascontiguousarray(self.base).tobytes())
            h.update(np.ascontiguousarray(self.queries).tobytes())
            self._fingerprint = h.hexdigest()[:16]
        return self._fingerprint


def load_dataset(path: str | Path, max_queries: int | None = None) -> Dataset:
    """Load a folder in the shared/data layout; keep at most ``max_queries`` queries."""
    p = Path(path)
    meta = json.loads((p / "meta.json").read_text())
    base = np.ascontiguousarray(np.load(p / "base.npy"), dtype=np.float32)
    queries = np.ascontiguousarray(np.load(p / "queries.npy"), dtype=np.float32)
    gt = np.load(p / "groundtruth.npy").astype(np.int64)
    if max_queries is not None and max_queries < len(queries):
        queries, gt = queries[:max_queries], gt[:max_queries]
    return Dataset(
        name=str(meta.get("name", p.name)),
        metric=normalize_metric(str(meta["metric"])),
        base=base,
        queries=queries,
        groundtruth=gt,
        path=p,
    )


def write_dataset(
    path: str | Path,
    base: np.ndarray,
    queries: np.ndarray,
    metric: str,
    k: int = 100,
    name: str | None = None,
) -> Path:
    """Write a data set folder with exact ground truth (used by tests and the scale run)."""
    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    base = np.ascontiguousarray(base, dtype=np.float32)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    k = min(k, len(base))
    ids, dists = exact_knn(base, queries, normalize_metric(metric), k)
    np.save(p / "base.npy", base)
    np.save(p / "queries.npy", queries)
    np.save(p / "groundtruth.npy", ids.astype(np.int32))
    np.save(p / "groundtruth_distances.npy", dists.astype(np.float32))
    meta = {
        "name": name or p.name,
        "metric": metric,
        "groundtruth": "exact brute force (benchmarks.data.exact_knn)",
    }
    (p / "meta.json").write_text(json.dumps(meta, indent=2))
    return p


# --------------------------------------------------------------------------- distances


def _prep(x: np.ndarray, metric: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if metric == "cosine":
        norms = np.linalg.norm(x, axis=-1, keepdims=True)
        x = x / np.where(norms == 0, 1.0, norms)
    return x


def pair_distances(
    base: np.ndarray, queries: np.ndarray, ids: np.ndarray, metric: str
) -> np.ndarray:
    """True distances (float64) from each query to the ids in its row; ``-1`` ids give ``inf``.

    ``ids`` has shape (nq, m). l2 is the Euclidean distance (not squared), cosine is
    ``1 - cos``, ip is the negative inner product: smaller is nearer for all three.
    """
    ids = np.asarray(ids, dtype=np.int64)
    valid = (ids >= 0) & (ids < len(base))
    safe = np.where(valid, ids, 0)
    q = _prep(queries, metric)[:, None, :]
    x = _prep(base[safe.ravel()], metric).reshape(ids.shape + (base.shape[1],))
    if metric == "l2":
        d = np.sqrt(((x - q) ** 2).sum(-1))
    elif metric == "cosine":
        d = 1.0 - (x * q).sum(-1)
    else:
        d = -(x * q).sum(-1)
    return np.where(valid, d, np.inf)


def exact_knn(
    base: np.ndarray,
    queries: np.ndarray,
    metric: str,
    k: int,
    mask: np.ndarray | None = None,
    chunk: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force top-k (ids, float64 distances) over the rows allowed by ``mask``.

    Rows with fewer than k allowed base vectors are padded with id -1 and distance inf.
    Ties are broken by the smaller id (stable sort).
    """
    allowed = np.arange(len(base)) if mask is None else np.flatnonzero(mask)
    sub = _prep(base[allowed], metric)
    nq = len(queries)
    kk = min(k, len(allowed))
    out_ids = np.full((nq, k), -1, dtype=np.int64)
    out_d = np.full((nq, k), np.inf)
    if kk == 0:
        return out_ids, out_d
    sq = (sub**2).sum(1) if metric == "l2" else None
    if chunk <= 0:  # keep each (chunk x allowed) float64 block near 256 MB
        chunk = max(1, min(1024, (32 << 20) // max(1, len(allowed))))
    for s in range(0, nq, chunk):
        q = _prep(queries[s : s + chunk], metric)
        dot = q @ sub.T
        if metric == "l2":
            d = np.maximum((q**2).sum(1)[:, None] + sq[None, :] - 2 * dot, 0.0)
        elif metric == "cosine":
            d = 1.0 - dot
        else:
            d = -dot
        part = np.argpartition(d, kk - 1, axis=1)[:, :kk]
        # sort the candidates by (distance, id): nearest first, ties to the smaller id
        cand_d = np.take_along_axis(d, part, 1)
        order = np.lexsort((allowed[part], cand_d), axis=1)
        top = np.take_along_axis(part, order, 1)
        out_ids[s : s + len(q), :kk] = allowed[top]
    # recompute the chosen ids' distances with the pairwise formula (no cancellation error)
    out_d[:, :kk] = pair_distances(base, queries, out_ids[:, :kk], metric)
    return out_ids, out_d


# --------------------------------------------------------------------------- recall


def recall_at_k(
    found_ids: list[np.ndarray] | np.ndarray,
    base: np.ndarray,
    queries: np.ndarray,
    metric: str,
    kth_dist: np.ndarray,
    n_allowed: np.ndarray | int,
    k: int,
    mask: np.ndarray | None = None,
    eps: float = 1e-3,
) -> float:
    """Tie-aware recall@k, as in ann-benchmarks.

    A returned id counts as correct when it satisfies the filter (``mask``) and its true
    distance (computed here from the base vectors) is <= the k-th true distance
    (``kth_dist[i]``) + ``eps``. The denominator per query is ``min(k, n_allowed)``, so a
    filter matching fewer than k rows is not punished. ``found_ids`` is a list of per-query
    id arrays (any length; only the first k count) or a padded (nq, >=k) array with -1.
    """
    nq = len(queries)
    padded = np.full((nq, k), -1, dtype=np.int64)
    for i, ids in enumerate(found_ids):
        ids = np.asarray(ids, dtype=np.int64)[:k]
        padded[i, : len(ids)] = ids
    d = pair_distances(base, queries, padded, metric)
    ok = d <= np.asarray(kth_dist, dtype=np.float64)[:, None] + eps
    if mask is not None:
        valid = padded >= 0
        ok &= valid & np.asarray(mask)[np.where(valid, padded, 0)]
    # an id returned twice must not count twice
    for i in range(nq):
        row = padded[i]
        if len(set(row[row >= 0].tolist())) != int((row >= 0).sum()):
            seen: set[int] = set()
            for j, v in enumerate(row.tolist()):
                if v in seen:
                    ok[i, j] = False
                seen.add(v)
    denom = np.minimum(k, np.broadcast_to(np.asarray(n_allowed), (nq,))).sum()
    return float(ok.sum() / denom) if denom else 1.0


# --------------------------------------------------------------------------- filters


@dataclass
class FilterSpec:
    """One filter: a SQL predicate over a column, and the exact boolean mask it selects."""

    name: str
    column: str
    op: str  # "<" or "="
    value: int
    mask: np.ndarray

    @property
    def where(self) -> str:
        """The predicate as a DuckDB SQL expression (vecdb, DuckDB, LanceDB)."""
        return f"{self.column} {self.op} {self.value}"

    @property
    def selectivity(self) -> float:
        """Fraction of base rows that match."""
        return float(self.mask.mean())

    def chroma_where(self) -> dict:
        """The predicate as a Chroma metadata filter."""
        op = {"<": "$lt", "=": "$eq"}[self.op]
        return {self.column: {op: self.value}}


def attributes(ds: Dataset, n_clusters: int = 20, seed: int = 0) -> dict[str, np.ndarray]:
    """Synthetic integer columns for filtering, cached per data set.

    - ``sel``: a random permutation of ``0..n-1``, so ``sel < s*n`` selects exactly s*n rows.
    - ``cluster``: k-means cluster id of each vector (faiss, ``n_clusters`` clusters), a
      filter correlated with the vectors.
    """
    key = f"{ds.name}-{ds.fingerprint()}-attrs-{n_clusters}-{seed}.npz"
    cache = cache_dir() / key
    if cache.exists():
        z = np.load(cache)
        return {"sel": z["sel"], "cluster": z["cluster"]}
    rng = np.random.default_rng(seed)
    sel = rng.permutation(ds.n).astype(np.int64)
    cluster = kmeans_labels(ds.base, ds.metric, min(n_clusters, ds.n), seed)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, sel=sel, cluster=cluster)
    return {"sel": sel, "cluster": cluster}


def kmeans_labels(x: np.ndarray, metric: str, n_clusters: int, seed: int = 0) -> np.ndarray:
    """Cluster ids from k-means (faiss when available, else a few numpy Lloyd iterations)."""
    data = _prep(x, metric).astype(np.float32)
    try:
        import faiss

        km = faiss.Kmeans(data.shape[1], n_clusters, niter=20, seed=seed, verbose=False)
        km.train(data)
        _, labels = km.index.search(data, 1)
        return labels[:, 0].astype(np.int64)
    except ImportError:  # pragma: no cover - faiss is a dependency
        rng = np.random.default_rng(seed)
        cent = data[rng.choice(len(data), n_clusters, replace=False)]
        for _ in range(10):
            d = ((data[:, None, :] - cent[None]) ** 2).sum(-1)
            labels = d.argmin(1)
            for c in range(n_clusters):
                if (labels == c).any():
                    cent[c] = data[labels == c].mean(0)
        return labels.astype(np.int64)


def make_filters(
    ds: Dataset, attrs: dict[str, np.ndarray], selectivities: list[float], clustered: bool = True
) -> list[FilterSpec]:
    """Uniform filters at the given selectivities plus one clustered filter.

    The clustered filter keeps the cluster of median size, so most queries' true neighbours
    lie outside it (a correlated, hard case for post-filtering and graph traversal).
    """
    out: list[FilterSpec] = []
    for s in selectivities:
        v = max(1, int(round(s * ds.n)))
        out.append(FilterSpec(f"sel<{s:g}", "sel", "<", v, attrs["sel"] < v))
    if clustered:
        labels, counts = np.unique(attrs["cluster"], return_counts=True)
        order = np.argsort(counts, kind="stable")
        c = int(labels[order[len(order) // 2]])
        out.append(FilterSpec(f"cluster={c}", "cluster", "=", c, attrs["cluster"] == c))
    return out


@dataclass
class Truth:
    """Exact ground truth for one (data set, filter, k): ids, k-th distance, match count."""

    ids: np.ndarray
    kth_dist: np.ndarray
    n_allowed: int


def ground_truth(ds: Dataset, k: int, flt: FilterSpec | None = None) -> Truth:
    """Exact top-k ground truth, unfiltered (from groundtruth.npy) or filtered (cached numpy).

    For the unfiltered case the ids come from the data set and the k-th distance is
    recomputed with :func:`pair_distances` so both sides of the recall comparison use the
    same arithmetic.
    """
    if flt is None:
        if ds.groundtruth.shape[1] >= k:
            ids = ds.groundtruth[:, :k]
            d = pair_distances(ds.base, ds.queries, ids, ds.metric)
            return Truth(ids, d.max(1), ds.n)
        ids, d = exact_knn(ds.base, ds.queries, ds.metric, k)
        return Truth(ids, d[:, -1], ds.n)
    mh = hashlib.sha1(np.packbits(flt.mask).tobytes()).hexdigest()[:12]
    cache = cache_dir() / f"{ds.name}-{ds.fingerprint()}-gt-{k}-{len(ds.queries)}-{mh}.npz"
    n_allowed = int(flt.mask.sum())
    if cache.exists():
        z = np.load(cache)
        return Truth(z["ids"], z["kth"], n_allowed)
    ids, d = exact_knn(ds.base, ds.queries, ds.metric, k, mask=flt.mask)
    kk = min(k, n_allowed)
    kth = d[:, :kk].max(1) if kk else np.full(len(ds.queries), np.inf)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, ids=ids, kth=kth)
    return Truth(ids, kth, n_allowed)


def clustered_blobs(
    n: int,
    dim: int = 128,
    n_clusters: int = 1000,
    n_queries: int = 1000,
    spread: float = 0.35,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian-blob data: ``n_clusters`` centres ~ N(0, 1), points = centre + N(0, spread).

    Queries come from the same distribution (independent draws). Generated in chunks so
    a 1M x 128 set needs only its own 512 MB.
    """
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, dim)).astype(np.float32)
    base = np.empty((n, dim), dtype=np.float32)
    step = 100_000
    for s in range(0, n, step):
        m = min(step, n - s)
        c = rng.integers(0, n_clusters, m)
        base[s : s + m] = centres[c] + spread * rng.standard_normal((m, dim), dtype=np.float32)
    cq = rng.integers(0, n_clusters, n_queries)
    queries = centres[cq] + spread * rng.standard_normal((n_queries, dim), dtype=np.float32)
    return base, queries.astype(np.float32)
