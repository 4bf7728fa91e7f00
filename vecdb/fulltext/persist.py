"""The full-text checkpoint: files, format, checksums and the consistency check on load.

A checkpoint is the forward index of :class:`~vecdb.fulltext.postings.Postings` (one
``.npy`` file per array, integers narrowed to the smallest type that holds them), the
vocabulary (one term per line, in term-id order) and ``fulltext.json`` with the format
version, the :class:`~vecdb.fulltext.TextConfig`, the sizes and a SHA-256 per file. The
inverted index is not written: loading rebuilds it from the forward index (a sort; about
0.1 s per million postings), which halves the checkpoint.

>>> import tempfile
>>> p = Postings(); p.append(np.array([0, 1]), [["green", "tea"], ["tea", "pot"]])
>>> with tempfile.TemporaryDirectory() as d:
...     names = save_checkpoint(d, TextConfig(), p)
...     config, back = load_checkpoint(d, TextConfig())
>>> names == list(FILES), back.n_live, back.vocab
(True, 2, {'green': 0, 'tea': 1, 'pot': 2})
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from vecdb.errors import InternalError, InvalidArgumentError
from vecdb.fulltext.postings import Postings
from vecdb.fulltext.tokenizer import TextConfig

__all__ = ["FILES", "DamagedCheckpointError", "load_checkpoint", "save_checkpoint"]

FORMAT_VERSION = 1
#: the files :meth:`FullTextIndex.save` writes (all prefixed, so they can share a directory)
FILES = (
    "fulltext.json",
    "fulltext-vocab.txt",
    "fulltext-slot-label.npy",
    "fulltext-slot-len.npy",
    "fulltext-slot-alive.npy",
    "fulltext-fwd-ptr.npy",
    "fulltext-fwd-term.npy",
    "fulltext-fwd-tf.npy",
)


class DamagedCheckpointError(InternalError, ValueError):
    """A full-text checkpoint whose files are missing, truncated or altered.

    It is a ``ValueError`` too, so a loader that rebuilds on unreadable checkpoints (as
    ``Collection._load`` does for the vector index) rebuilds on this one as well.
    """


def save_checkpoint(directory: Path | str, config: TextConfig, p: Postings) -> list[str]:
    """Write ``p`` built under ``config`` into ``directory``; returns the file names."""
    d = Path(directory)
    n, nnz = p.n_slots, p.nnz
    arrays = {
        "fulltext-slot-label.npy": _narrow(p.slot_label[:n]),
        "fulltext-slot-len.npy": _narrow(p.slot_len[:n]),
        "fulltext-slot-alive.npy": p.alive[:n],
        "fulltext-fwd-ptr.npy": p.fwd_ptr[: n + 1],
        "fulltext-fwd-term.npy": _narrow(p.fwd_term[:nnz]),
        "fulltext-fwd-tf.npy": _narrow(p.fwd_tf[:nnz]),
    }
    for name, arr in arrays.items():
        np.save(d / name, arr, allow_pickle=False)
    (d / "fulltext-vocab.txt").write_text("\n".join(p.vocab), encoding="utf-8")
    sums = {name: _sha256(d / name) for name in FILES[1:]}
    meta = {
        "format": FORMAT_VERSION,
        "config": config.to_dict(),
        "slots": n,
        "postings": nnz,
        "terms": len(p.vocab),
        "documents": p.n_live,
        "sha256": sums,
    }
    (d / "fulltext.json").write_text(json.dumps(meta, sort_keys=True), encoding="utf-8")
    return list(FILES)


def load_checkpoint(
    directory: Path | str, config: TextConfig | None = None
) -> tuple[TextConfig, Postings]:
    """Read what :func:`save_checkpoint` wrote: the saved configuration and the postings.

    Raises :class:`DamagedCheckpointError` when a file is missing, altered or inconsistent,
    or when ``config`` is given and differs from the saved one.
    """
    d = Path(directory)
    try:
        meta = json.loads((d / "fulltext.json").read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT_VERSION:
            raise DamagedCheckpointError(
                f"full-text checkpoint in {d} has format {meta.get('format')!r}, this vecdb "
                f"reads {FORMAT_VERSION}; rebuild the index from the documents"
            )
        saved = TextConfig.from_dict(meta["config"])
        if config is not None and saved != config:
            raise DamagedCheckpointError(
                f"full-text checkpoint in {d} was built with {saved}, not {config}; "
                "rebuild the index from the documents"
            )
        for name, digest in meta["sha256"].items():
            if _sha256(d / name) != digest:
                raise DamagedCheckpointError(
                    f"full-text checkpoint file {d / name} is damaged (checksum mismatch); "
                    "rebuild the index from the documents"
                )
        arr = {name: np.load(d / name, allow_pickle=False) for name in FILES[2:]}
        words = (d / "fulltext-vocab.txt").read_text(encoding="utf-8")
    except DamagedCheckpointError:
        raise
    except (OSError, ValueError, KeyError, TypeError, InvalidArgumentError) as e:
        raise DamagedCheckpointError(
            f"full-text checkpoint in {d} is unreadable ({e}); rebuild the index from the documents"
        ) from e
    vocab = words.split("\n") if words else []
    n, nnz, n_terms = int(meta["slots"]), int(meta["postings"]), int(meta["terms"])
    ptr, term = arr["fulltext-fwd-ptr.npy"], arr["fulltext-fwd-term.npy"]
    ok = (
        len(vocab) == n_terms == len(set(vocab))
        and all(len(arr[f]) == n for f in FILES[2:5])
        and len(ptr) == n + 1
        and len(term) == len(arr["fulltext-fwd-tf.npy"]) == nnz
        and (n == 0 or (ptr[0] == 0 and ptr[-1] == nnz and (np.diff(ptr) >= 0).all()))
        and (nnz == 0 or int(term.max()) < n_terms)
        and all(arr[f].dtype.kind in "iub" for f in FILES[2:])
    )
    if not ok:
        raise DamagedCheckpointError(
            f"full-text checkpoint in {d} is inconsistent; rebuild the index from the documents"
        )
    postings = Postings.from_forward(
        vocab,
        slot_label=arr["fulltext-slot-label.npy"],
        slot_len=arr["fulltext-slot-len.npy"],
        alive=arr["fulltext-slot-alive.npy"],
        fwd_ptr=ptr,
        fwd_term=term,
        fwd_tf=arr["fulltext-fwd-tf.npy"],
    )
    return saved, postings


def _narrow(a: np.ndarray) -> np.ndarray:
    """The array in the smallest unsigned integer type that holds it (for checkpoints)."""
    if len(a) == 0 or a.min() < 0:
        return a
    return a.astype(np.min_scalar_type(int(a.max())), copy=False)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
