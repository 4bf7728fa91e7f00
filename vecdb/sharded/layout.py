"""The shard layout: how many shards a sharded database has, and which shard owns an id.

The layout is persisted in ``DIR/vecdb-shards.json`` the first time a sharded database is
created, and checked on every open: the owner of an id must never change while its rows live
in a shard directory, so opening with a different shard count is refused.

Ids are routed by a stable 64-bit hash (never Python's salted ``hash``): integers through the
splitmix64 finalizer, strings through BLAKE2b-64 of their UTF-8 bytes; the shard is the hash
modulo the shard count.

>>> layout = Layout(shards=4)
>>> layout.shard_of_ids(np.array([1, 2, 3, 4, 5]), "int").tolist()
[1, 2, 1, 2, 2]
>>> layout.shard_of_ids(np.array(["a", "b"], dtype=object), "str").tolist()
[0, 0]
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vecdb.errors import InvalidArgumentError

__all__ = ["Layout", "LAYOUT_FILE", "HASH_NAME", "HASH_VERSION", "stable_hash", "shard_dir"]

LAYOUT_FILE = "vecdb-shards.json"
HASH_NAME = "splitmix64-int/blake2b64-str"
HASH_VERSION = 1
FORMAT = "vecdb-shards"

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def stable_hash(ids: np.ndarray, id_type: str) -> np.ndarray:
    """A uint64 hash per id that is the same in every process, on every machine.

    >>> stable_hash(np.array([0, 1]), "int").tolist()
    [16294208416658607535, 10451216379200822465]
    """
    if id_type == "int":
        with np.errstate(over="ignore"):
            z = np.asarray(ids, dtype=np.int64).view(np.uint64) + _GOLDEN
            z = (z ^ (z >> np.uint64(30))) * _M1
            z = (z ^ (z >> np.uint64(27))) * _M2
            return z ^ (z >> np.uint64(31))
    out = np.empty(len(ids), dtype=np.uint64)
    for i, s in enumerate(ids):
        digest = hashlib.blake2b(str(s).encode("utf-8"), digest_size=8).digest()
        out[i] = int.from_bytes(digest, "little")
    return out


def shard_dir(root: str | os.PathLike[str], shard: int) -> Path:
    """The directory shard ``shard`` keeps its embedded database in: ``root/shard-<i>``."""
    return Path(root) / f"shard-{shard}"


@dataclass(frozen=True)
class Layout:
    """How a sharded database is cut: ``shards`` pieces by hash ``hash_name`` v``version``."""

    shards: int
    hash_name: str = HASH_NAME
    hash_version: int = HASH_VERSION

    def __post_init__(self) -> None:
        if isinstance(self.shards, bool) or not isinstance(self.shards, int) or self.shards < 1:
            raise InvalidArgumentError(f"shards must be a positive integer, got {self.shards!r}")

    def shard_of_ids(self, ids: np.ndarray, id_type: str) -> np.ndarray:
        """The owning shard of each id, as an int64 array."""
        if self.shards == 1:
            return np.zeros(len(ids), dtype=np.int64)
        return (stable_hash(ids, id_type) % np.uint64(self.shards)).astype(np.int64)

    def split(self, ids: np.ndarray, id_type: str) -> dict[int, np.ndarray]:
        """Positions into ``ids`` per shard (shards with nothing are left out), stable order.

        >>> Layout(2).split(np.array([10, 11, 12, 13]), "int")
        {0: array([0]), 1: array([1, 2, 3])}
        """
        owner = self.shard_of_ids(ids, id_type)
        order = np.argsort(owner, kind="stable")
        bounds = np.searchsorted(owner[order], np.arange(self.shards + 1))
        return {
            s: order[bounds[s] : bounds[s + 1]]
            for s in range(self.shards)
            if bounds[s + 1] > bounds[s]
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "shards": self.shards,
            "hash": self.hash_name,
            "hash_version": self.hash_version,
        }

    # ---- on disk -------------------------------------------------------------------------
    @classmethod
    def open(cls, root: str | os.PathLike[str], shards: int) -> Layout:
        """The layout of ``root``: created with ``shards`` shards, or checked against it.

        Raises:
            InvalidArgumentError: ``root`` was created with another shard count or hash, or
                holds an unsharded database.
        """
        want = cls(shards)
        root = Path(root)
        path = root / LAYOUT_FILE
        if path.exists():
            try:
                data = json.loads(path.read_text())
                have = cls(int(data["shards"]), str(data["hash"]), int(data["hash_version"]))
            except (OSError, ValueError, KeyError, TypeError) as e:
                raise InvalidArgumentError(
                    f"{path} is unreadable ({e}); restore it from a backup: it says how many "
                    "shards the data is cut into"
                ) from e
            if (have.hash_name, have.hash_version) != (want.hash_name, want.hash_version):
                raise InvalidArgumentError(
                    f"{root} was sharded with hash {have.hash_name} v{have.hash_version}; this "
                    f"vecdb routes with {want.hash_name} v{want.hash_version} and cannot open it"
                )
            if have.shards != want.shards:
                raise InvalidArgumentError(
                    f"{root} holds a database of {have.shards} shards; open it with "
                    f"shards={have.shards} (changing the shard count needs resharding, which "
                    "vecdb does not do yet: see 'Scale-out on Ray' in README.md)"
                )
            return have
        root.mkdir(parents=True, exist_ok=True)
        if (root / "vecdb.duckdb").exists():
            raise InvalidArgumentError(
                f"{root} holds an unsharded database; open it without shards= (or export its "
                "rows and add them to a new sharded database)"
            )
        tmp = root / (LAYOUT_FILE + ".tmp")
        tmp.write_text(json.dumps(want.to_json(), indent=2) + "\n")
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return want
