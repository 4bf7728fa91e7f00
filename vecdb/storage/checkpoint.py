"""Index checkpoints: a directory of files plus a manifest that names them.

Layout under ``DIR/index/<collection>/``::

    manifest.json        {"seq": S, "dir": "ckpt-S", "files": {name: sha256}, "config": {...}}
    ckpt-S/              vectors.npy ids.npy alive.npy + the backend's files

The manifest is replaced atomically (write, fsync, rename), so a reader sees the old checkpoint
or the new one, never half of one. A checkpoint whose files are missing, whose checksums do not
match, or whose config differs from the collection's is ignored, and the caller rebuilds from
DuckDB.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from vecdb.storage.crash import crash_point

__all__ = ["write_checkpoint", "read_checkpoint", "remove_checkpoints"]

MANIFEST = "manifest.json"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_checkpoint(root: Path, seq: int, config: dict[str, Any], save: Any) -> None:
    """Write a checkpoint covering writes up to ``seq``.

    ``save(directory) -> list[str]`` writes the files and names them.
    """
    root.mkdir(parents=True, exist_ok=True)
    name = f"ckpt-{seq}"
    tmp = root / f"{name}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    files = save(tmp)
    sums = {}
    for f in files:
        p = tmp / f
        with open(p, "rb+") as fh:
            os.fsync(fh.fileno())
        sums[f] = _sha256(p)
    crash_point("checkpoint.files_written")
    final = root / name
    if final.exists():
        shutil.rmtree(final)
    os.rename(tmp, final)
    crash_point("checkpoint.dir_renamed")
    manifest = {"version": 1, "seq": seq, "dir": name, "files": sums, "config": config}
    mtmp = root / (MANIFEST + ".tmp")
    with open(mtmp, "w") as fh:
        json.dump(manifest, fh)
        fh.flush()
        os.fsync(fh.fileno())
    crash_point("checkpoint.manifest_written")
    os.replace(mtmp, root / MANIFEST)
    _fsync_dir(root)
    crash_point("checkpoint.manifest_replaced")
    for old in root.iterdir():
        if old.name.startswith("ckpt-") and old.name != name:
            shutil.rmtree(old, ignore_errors=True)
    crash_point("checkpoint.old_removed")


def read_checkpoint(root: Path, config: dict[str, Any]) -> tuple[int, Path] | None:
    """``(seq, directory)`` of a valid checkpoint for ``config``, or ``None``."""
    try:
        manifest = json.loads((root / MANIFEST).read_text())
        if manifest.get("config") != config:
            return None
        directory = root / manifest["dir"]
        for f, digest in manifest["files"].items():
            if _sha256(directory / f) != digest:
                return None
        return int(manifest["seq"]), directory
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remove_checkpoints(root: Path) -> None:
    """Delete every checkpoint of a collection (on drop): the manifest first, so that a crash
    midway leaves files that no manifest vouches for, never a damaged checkpoint."""
    try:
        (root / MANIFEST).unlink()
    except FileNotFoundError:
        pass
    except OSError:
        pass  # rmtree below tries again
    else:
        _fsync_dir(root)
        crash_point("drop.manifest_removed")
    shutil.rmtree(root, ignore_errors=True)
