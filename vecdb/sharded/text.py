"""Full-text and hybrid search over shards, with the same scores as one node.

BM25 depends on corpus statistics: the number of documents ``N``, their mean length and
each query token's document frequency ``df``. Each shard only knows its own, so scoring a
shard with its own statistics ("per-shard IDF", Elasticsearch's default
``query_then_fetch``) makes a shard's scores drift from one node's and from the other
shards' (a word rare on one shard and common on another scores differently), and the
merged ranking is not exactly one node's. vecdb does what Elasticsearch's
``dfs_query_then_fetch`` does, by default: a first round asks every shard for its
statistics of the query's tokens (:meth:`vecdb.Collection.text_stats`, a dictionary lookup
per token), the router adds them up (:class:`vecdb.fulltext.CorpusStats`), and a second
round has every shard score with the sums. Scores then equal one node's (to ~1e-15: a
shard may add a document's per-term parts in another order than one node, when their
indexes merged postings at other times), and the merged top ``k`` is one node's top ``k``
(ties aside: one node breaks them by insertion order, the router by shard). The first
round costs one more Ray round trip per text query (measured: 11.9 vs 7.7 ms p50 on a
loaded 2-core box, one node 0.8 ms); ``connect_sharded(..., bm25_stats="shard")`` skips it
and scores with each shard's own statistics: on npm-text-20k over 2 shards no top-10 kept
one node's scores exactly, and 94 % of the top-10 ids stayed (benchmarks/README.md).

A hybrid search runs both branches on every shard (the ``depth`` nearest vectors and the
``depth`` best BM25 scores, filtered before ranking), merges each branch over the shards
into one node's branch rankings, and fuses them on the router (RRF or weighted scores), as
one node does; then the ``include``d columns of the final ``k`` are fetched from their
shards. Query strings are embedded once, on the router.

>>> CorpusStats(3, 30, {"ray": 1}) + CorpusStats(2, 10, {"ray": 2})  # two shards' statistics
CorpusStats(documents=5, total_length=40, df={'ray': 3})
"""

from __future__ import annotations

from functools import reduce
from typing import TYPE_CHECKING, Any

import numpy as np

from vecdb._input import as_queries, check_include, check_k
from vecdb.errors import InvalidArgumentError
from vecdb.fulltext import CorpusStats
from vecdb.sharded.merge import combine_plans, merge_ranked
from vecdb.text import HYBRID_DEPTH, SCORES, check_fusion, check_mode, fuse
from vecdb.types import Hit

if TYPE_CHECKING:
    from vecdb.sharded.collection import ShardedCollection

__all__ = ["search_text", "explain_text", "global_stats", "BM25_STATS"]

#: ``"global"``: sum the shards' BM25 statistics first (exact); ``"shard"``: each its own
BM25_STATS = ("global", "shard")


def global_stats(coll: ShardedCollection, text: str) -> CorpusStats | None:
    """The whole collection's BM25 statistics for ``text`` (None with ``bm25_stats="shard"``)."""
    if coll._db.bm25_stats != "global":
        return None
    return reduce(CorpusStats.__add__, coll._fan.each("text_stats", coll.name, text))


def _keyword_text(coll: ShardedCollection, query: Any, mode: str, text: Any) -> str:
    """The keyword text of a fulltext or hybrid search (one node's checks, in its order)."""
    if mode == "vector":
        raise InvalidArgumentError(
            "text= is the keyword text of mode='hybrid' or 'fulltext'; pass mode= too"
        )
    if text is None:
        if not isinstance(query, str):
            raise InvalidArgumentError(
                f"mode={mode!r} needs keyword text: pass a string query or text='...'"
            )
        text = query
    if not isinstance(text, str):
        raise InvalidArgumentError(f"text must be a str, got {type(text).__name__}")
    if coll.spec.fulltext is None:
        raise InvalidArgumentError(
            f"collection {coll.name!r} has no full-text index; create it with "
            f"fulltext=True to use mode={mode!r} or text="
        )
    return text


def _query_vector(coll: ShardedCollection, query: Any) -> np.ndarray:
    """The hybrid query's vector as embedded, checked as one node checks it (a shard
    normalizes it once, as one node does: sending the normalized one would change the last
    bits of cosine distances)."""
    raw = coll._embedded(query)
    _, single = as_queries(raw, coll.dim, coll.metric)
    if not single:
        raise InvalidArgumentError("a hybrid search takes one query, not a matrix")
    return np.asarray(raw, dtype=np.float32)


def search_text(
    coll: ShardedCollection,
    query: Any,
    k: Any,
    where: str | None,
    params: Any,
    include: Any,
    ef: int | None,
    nprobe: int | None,
    mode: Any,
    text: Any,
    fusion: Any,
) -> list[Hit]:
    """A ``fulltext`` or ``hybrid`` search over the shards (see the module docstring)."""
    mode = check_mode(mode)
    want_scores = include is not None and not isinstance(include, str) and SCORES in include
    if want_scores:
        include = [c for c in include if c != SCORES]
    cols = check_include(include, coll.spec.columns)
    k = check_k(k)
    text = _keyword_text(coll, query, mode, text)
    fan = coll._fan
    vdist: np.ndarray | None = None
    if mode == "fulltext":
        stats = global_stats(coll, text)
        replies = fan.each("search_text", coll.name, text, k, where, params, stats)
        ids, scores, _ = merge_ranked(replies, k)
        tscore: np.ndarray | None = scores
    else:
        fz = check_fusion(fusion)
        depth = max(k, HYBRID_DEPTH)
        q = _query_vector(coll, query)
        stats = global_stats(coll, text)
        replies = fan.each("hybrid", coll.name, q, text, depth, where, params, ef, nprobe, stats)
        v_ids = np.concatenate([r[0][0] for r in replies])
        v_d = np.concatenate([r[0][1] for r in replies])
        order = np.argsort(v_d, kind="stable")[:depth]
        t_ids, t_scores, _ = merge_ranked([r[1] for r in replies], depth)
        fused = fuse((v_ids[order], v_d[order]), (t_ids, t_scores), fz, k)
        ids, scores = fused.keys, fused.scores
        vdist, tscore = fused.branch_scores[:, 0], fused.branch_scores[:, 1]
    id_list = ids.tolist()
    rows = _rows(coll, id_list, cols) if cols else {}
    out = []
    for j, (i, sc) in enumerate(zip(id_list, scores.tolist())):
        row = dict(rows.get(i) or {}) if cols else None
        if want_scores:
            v = None if vdist is None or np.isnan(vdist[j]) else float(vdist[j])
            t = None if tscore is None or np.isnan(tscore[j]) else float(tscore[j])
            row = {**(row or {}), SCORES: {"vector": v, "text": t}}
        out.append(Hit(i, float(sc), row))
    return out


def _rows(coll: ShardedCollection, ids: list[Any], cols: list[str]) -> dict[Any, Any]:
    """The ``cols`` of rows ``ids``, by id, each read from the shard that owns it."""
    if not ids:
        return {}
    id_arr = np.array(ids, dtype=np.int64 if coll.id_type == "int" else object)
    parts = coll._db.layout.split(id_arr, coll.id_type)
    args = {s: (coll.name, id_arr[pos], cols) for s, pos in parts.items()}
    out: dict[Any, Any] = {}
    for got in coll._fan.values(coll._fan.call("rows", args)).values():
        out.update(got)
    return out


def explain_text(
    coll: ShardedCollection,
    query: Any,
    kwargs: dict[str, Any],
    mode: Any,
    text: Any,
    fusion: Any,
) -> dict[str, Any]:
    """How a ``fulltext``/``hybrid`` search runs: the first shard's plan (its ``mode``,
    ``fusion``, each branch's plan), ``shards``: every shard's, and ``bm25_stats``."""
    mode = check_mode(mode)
    text = _keyword_text(coll, query, mode, text)
    if mode == "hybrid":
        query = _query_vector(coll, query)  # embedded here: a shard never embeds
    kw = {**kwargs, "mode": mode, "text": text, "fusion": fusion}
    info = combine_plans(coll._fan.each("explain", coll.name, query, kw))
    info["bm25_stats"] = coll._db.bm25_stats
    return info
