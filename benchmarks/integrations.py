"""The LangChain store's overhead over vecdb's own API (issue #13), on npm-text-20k.

    python -m benchmarks.integrations                 # 3 add rounds, 500 queries x 3 rounds
    python -m benchmarks.integrations --rounds 5 --json out.json

* ``add``: the 20k documents (``"<name>: <summary>"``) with their shipped MiniLM vectors and
  metadata ``{"name", "downloads"}``, in one call, into an in-memory HNSW collection:
  ``VecdbVectorStore.add_documents`` (an ``Embeddings`` that returns the precomputed vectors)
  vs ``Collection.add`` of the same ids, vectors, documents and metadata JSON into the same
  kind of collection. Rounds alternate which goes first; medians are reported.
* ``search``: ``similarity_search(text, k=10)`` through LangChain (the query's precomputed
  vector, documents and metadata back as ``Document``s) vs ``collection.search(vector, k=10,
  include=["document"])`` on the same collection, paired per query with alternating order;
  medians of per-call latency. The ratio is vecdb's median / LangChain's (>= 0.8 is the aim).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

import vecdb
from vecdb.integrations.langchain import VecdbVectorStore

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "npm-text-20k"
if not DATA.exists():
    DATA = Path("/work/shared/data/npm-text-20k")


class Precomputed(Embeddings):
    """Texts -> the data set's shipped vectors, made into the lists LangChain's interface
    returns ahead of time (no model and no conversion in the timed path)."""

    def __init__(self, table: dict[str, np.ndarray]) -> None:
        self.table = {t: v.tolist() for t, v in table.items()}

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.table[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.table[text]


def load() -> tuple[np.ndarray, list[str], list[dict[str, Any]], list[str], np.ndarray]:
    vecs = np.load(DATA / "base.npy").astype(np.float32)
    t = pq.read_table(DATA / "docs.parquet")
    docs = t.column("text").to_pylist()
    metas = [
        {"name": n, "downloads": d}
        for n, d in zip(t.column("name").to_pylist(), t.column("downloads").to_pylist())
    ]
    qvecs = np.load(DATA / "queries.npy").astype(np.float32)
    queries = [f"query {i}" for i in range(len(qvecs))]
    return vecs, docs, metas, queries, qvecs


def add_langchain(emb: Embeddings, docs: list[Document], ids: list[str]) -> tuple[float, Any]:
    store = VecdbVectorStore(emb, collection="npm")
    t0 = time.perf_counter()
    store.add_documents(docs)  # new documents: the store makes uuid4 ids, as LangChain does
    return time.perf_counter() - t0, store


def add_vecdb(vecs: np.ndarray, texts: list[str], metas: list[Any], ids: list[str]) -> float:
    db = vecdb.connect()
    c = db.create_collection(
        "npm", dim=vecs.shape[1], id_type="str",
        columns={"document": "VARCHAR", "metadata": "JSON"},
    )  # fmt: skip
    t0 = time.perf_counter()
    rows = [{"document": d, "metadata": json.dumps(m)} for d, m in zip(texts, metas)]
    c.add(ids=ids, vectors=vecs, rows=rows)
    elapsed = time.perf_counter() - t0
    db.close()
    return elapsed


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--add-rounds", type=int, default=None, help="default: --rounds")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)

    vecs, texts, metas, queries, qvecs = load()
    table = dict(zip(texts, vecs))
    table.update(zip(queries, qvecs))
    emb = Precomputed(table)
    ids = [str(uuid.uuid4()) for _ in texts]
    documents = [Document(page_content=t, metadata=m) for t, m in zip(texts, metas)]

    lc_add, vdb_add = [], []
    store = None
    add_rounds = args.rounds if args.add_rounds is None else args.add_rounds
    for r in range(max(add_rounds, 1)):
        order = ("lc", "vdb") if r % 2 == 0 else ("vdb", "lc")
        if add_rounds == 0:
            order = ("lc",)
        for which in order:
            if which == "lc":
                if store is not None:
                    store.close()
                elapsed, store = add_langchain(emb, documents, ids)  # noqa: F841
                lc_add.append(elapsed)
            else:
                vdb_add.append(add_vecdb(vecs, texts, metas, ids))
    assert store is not None
    coll = store.collection
    n_q = min(args.queries, len(queries))
    lc_t: list[float] = []
    vdb_t: list[float] = []
    same = 0
    for r in range(args.rounds):
        for i in range(n_q):
            q, qv = queries[i], qvecs[i]
            order = (0, 1) if (i + r) % 2 == 0 else (1, 0)
            for which in order:
                t0 = time.perf_counter()
                if which == 0:
                    got_lc = store.similarity_search(q, k=10)
                    lc_t.append(time.perf_counter() - t0)
                else:
                    got_v = coll.search(qv, k=10, include=["document"])
                    vdb_t.append(time.perf_counter() - t0)
            same += [d.id for d in got_lc] == [h.id for h in got_v]
    out = {
        "add_docs": len(texts),
        "add_langchain_s": statistics.median(lc_add),
        "add_vecdb_s": statistics.median(vdb_add) if vdb_add else None,
        "add_ratio": statistics.median(vdb_add) / statistics.median(lc_add) if vdb_add else None,
        "search_langchain_ms": statistics.median(lc_t) * 1e3,
        "search_vecdb_ms": statistics.median(vdb_t) * 1e3,
        "search_ratio": statistics.median(vdb_t) / statistics.median(lc_t),
        "same_top10": same / (n_q * args.rounds),
        "rounds": args.rounds,
        "queries": n_q,
    }
    store.close()
    print(json.dumps(out, indent=2))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
