"""The router: one database API over N shard actors on Ray.

:func:`connect_sharded` (what ``vecdb.connect(path, shards=N)`` calls) starts or joins Ray,
creates one named actor per shard in namespace ``vecdb`` (each an embedded vecdb over
``path/shard-<i>``) and returns a :class:`ShardedDatabase` with the methods, results and
exceptions of :class:`vecdb.Database`.

- Writes are validated whole on the router, split by the stable hash of the id
  (:mod:`vecdb.sharded.layout`) and applied on every shard at once; each shard's part is atomic.
  When a part fails, the error (the class one node would raise) says in
  ``details["applied_shards"]`` / ``details["failed_shards"]`` which shards applied. ``upsert``
  and ``delete`` are idempotent, so retrying the whole call is always safe; the router itself
  retries them on a shard whose actor died, until Ray has restarted it.
- Reads fan out with the filter pushed down; each shard plans its own search (a selective
  filter stays exact on every shard) and returns ``k`` candidates with exact distances; the
  router merges the top ``k``. A batch of queries is one call per shard.
- Documents are embedded on the router, once; full-text and hybrid search score with the
  whole collection's BM25 statistics (:mod:`vecdb.sharded.text`).

The parts: :mod:`~vecdb.sharded.fanout` (Ray, the actors, calls to all of them),
:mod:`~vecdb.sharded.collection` (the collection API), :mod:`~vecdb.sharded.writes`
(checking and splitting writes), :mod:`~vecdb.sharded.merge` (top-k merges),
:mod:`~vecdb.sharded.text` (full text and hybrid), :mod:`~vecdb.sharded.sql` (SQL).

>>> import numpy as np, tempfile, vecdb                                  # doctest: +SKIP
>>> with vecdb.connect(tempfile.mkdtemp(), shards=2) as db:              # doctest: +SKIP
...     c = db.create_collection("c", dim=2, metric="l2", index="exact")
...     c.upsert(ids=[1, 2, 3], vectors=[[0, 0], [1, 0], [5, 5]])
...     [h.id for h in c.search([0.9, 0], k=2)]
3
[2, 1]
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from vecdb.embed import EmbeddingFunction, resolve, stored_spec
from vecdb.errors import InvalidArgumentError, NotFoundError
from vecdb.result import Result
from vecdb.sharded.actor import RouterEmbedding
from vecdb.sharded.collection import ShardedCollection
from vecdb.sharded.fanout import (
    NAMESPACE,
    RETRY_TIMEOUT_S,
    Fanout,
    PartialWriteError,
    ShardUnavailableError,
    acquire_ray,
    release_ray,
)
from vecdb.sharded.layout import Layout
from vecdb.sharded.text import BM25_STATS

__all__ = [
    "ShardedDatabase",
    "ShardedCollection",
    "ShardUnavailableError",
    "PartialWriteError",
    "connect_sharded",
    "NAMESPACE",
]


def connect_sharded(
    path: str | os.PathLike[str],
    shards: int,
    ray_address: str | None = None,
    confined: bool = False,
    retry_timeout: float = RETRY_TIMEOUT_S,
    bm25_stats: str = "global",
) -> ShardedDatabase:
    """A sharded database over ``path`` (see :class:`ShardedDatabase`)."""
    return ShardedDatabase(
        path,
        shards,
        ray_address=ray_address,
        confined=confined,
        retry_timeout=retry_timeout,
        bm25_stats=bm25_stats,
    )


class ShardedDatabase:
    """The :class:`vecdb.Database` API over ``shards`` Ray actors; see :func:`connect_sharded`.

    ``path`` must be visible at the same place to every node that runs a shard (one machine,
    or a shared file system on a cluster). With ``ray_address=None`` a local Ray is started
    (no dashboard, quiet) unless this process already has one; it is shut down on
    :meth:`close` when this database started it. ``bm25_stats``: ``"global"`` (full-text
    scores equal one node's; one more round trip per text query) or ``"shard"`` (each shard
    scores with its own statistics); see :mod:`vecdb.sharded.text`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        shards: int,
        *,
        ray_address: str | None = None,
        confined: bool = False,
        retry_timeout: float = RETRY_TIMEOUT_S,
        bm25_stats: str = "global",
    ) -> None:
        if path is None or str(path) == ":memory:":
            raise InvalidArgumentError(
                "a sharded database needs a directory: vecdb.connect('data/', shards=N)"
            )
        if bm25_stats not in BM25_STATS:
            raise InvalidArgumentError(
                f"bm25_stats must be one of {list(BM25_STATS)}, got {bm25_stats!r}"
            )
        self._root = Path(path).absolute()
        self.path = str(self._root)
        self.confined = confined
        self.bm25_stats = bm25_stats
        self.layout = Layout.open(self._root, shards)
        self._closed = False
        self._catalog_lock = threading.RLock()
        self._collections: dict[str, ShardedCollection] = {}
        acquire_ray(ray_address, shards)
        self.fanout = Fanout(self._root, self.layout.shards, confined, retry_timeout)
        try:
            self.fanout.start()
            self._load_catalog()
        except BaseException:
            self.fanout.kill()
            release_ray()
            raise

    # ---- actors --------------------------------------------------------------------------
    @property
    def shards(self) -> int:
        """The number of shards."""
        return self.layout.shards

    def actor_name(self, shard: int) -> str:
        """The Ray name of shard ``shard``'s actor (namespace ``vecdb``)."""
        return self.fanout.actor_name(shard)

    def actor(self, shard: int) -> Any:
        """The Ray actor handle of one shard (for operations and tests)."""
        return self.fanout.actors[shard]

    def _check_open(self) -> None:
        if self._closed:
            raise InvalidArgumentError("the database is closed; open it again with vecdb.connect")

    # ---- catalog -------------------------------------------------------------------------
    def _load_catalog(self) -> None:
        """Read every shard's catalog; a collection some shards lack (a crash inside DDL)
        is created on them from the others' definition, so every shard agrees."""
        fan = self.fanout
        cats = fan.values(fan.all("catalog"))
        names = set().union(*(c.keys() for c in cats.values()))
        with self._catalog_lock:
            self._collections = {}
            for name in sorted(names):
                have = {s: c[name] for s, c in cats.items() if name in c}
                desc = next(iter(have.values()))
                missing = [s for s in range(self.shards) if s not in have]
                if missing:
                    spec = _shard_spec(desc)
                    fan.values(fan.call("create_collection", {s: (spec,) for s in missing}))
                self._collections[name] = ShardedCollection(self, desc, None)

    def create_collection(
        self,
        name: str,
        dim: int | None = None,
        metric: str = "cosine",
        index: str = "hnsw",
        index_params: dict[str, Any] | None = None,
        columns: dict[str, str] | None = None,
        id_type: str = "int",
        exist_ok: bool = False,
        embedding: Any = None,
        fulltext: Any = False,
    ) -> ShardedCollection:
        """Create a collection on every shard (see :meth:`vecdb.Database.create_collection`).

        All or nothing: when some shards refuse, the shards that created it drop it again.
        ``embedding`` lives on the router (documents and text queries are embedded here,
        once); the shards keep only its spec.
        """
        self._check_open()
        fn: EmbeddingFunction | None = None
        shard_embedding = None
        if embedding is not None:
            fn = resolve(embedding, dim=dim)
            dim = fn.dim  # given and checked, known by the provider, or a one-text probe
            shard_embedding = RouterEmbedding(stored_spec(fn), dim)
        spec = {
            "name": name,
            "dim": dim,
            "metric": metric,
            "index": index,
            "index_params": index_params,
            "columns": columns,
            "id_type": id_type,
            "exist_ok": exist_ok,
            "embedding": shard_embedding,
            "fulltext": fulltext,
        }
        fan = self.fanout
        with self._catalog_lock:
            existed = isinstance(name, str) and name in self._collections
            replies = fan.all("create_collection", spec)
            failed = [s for s, (st, _) in replies.items() if st != "ok"]
            if failed:
                created = [s for s, (st, _) in replies.items() if st == "ok"]
                if created and not existed:
                    fan.call("drop_collection", {s: (name, True) for s in created})
                raise replies[failed[0]][1]
            coll = self._collections.get(name)
            if coll is None:
                coll = self._collections[name] = ShardedCollection(self, replies[0][1], fn)
            elif fn is not None:
                coll._embedding = fn
            return coll

    def get_collection(self, name: str, embedding: Any = None) -> ShardedCollection:
        """The collection called ``name``, or :class:`NotFoundError`; ``embedding`` gives it
        its embedding function again (see :meth:`vecdb.Database.get_collection`)."""
        self._check_open()
        coll = self._collections.get(name)
        if coll is None:
            raise NotFoundError(
                f"collection {name!r} does not exist; existing: {self.list_collections()}"
            )
        if embedding is not None:
            coll.set_embedding_function(embedding)
        return coll

    def list_collections(self) -> list[str]:
        """Names of all collections, sorted."""
        self._check_open()
        return sorted(self._collections)

    def drop_collection(self, name: str, missing_ok: bool = False) -> None:
        """Drop a collection on every shard."""
        self._check_open()
        with self._catalog_lock:
            if name not in self._collections:
                if missing_ok:
                    return
                raise NotFoundError(f"collection {name!r} does not exist")
            self.fanout.each("drop_collection", name, True)
            coll = self._collections.pop(name)
            coll._dropped = True

    # ---- SQL -----------------------------------------------------------------------------
    def sql(self, query: str, params: Any = None) -> Result:
        """Run SQL over every shard; see :mod:`vecdb.sharded.sql` for what fans out."""
        self._check_open()
        from vecdb.sharded.sql import run_sharded_sql

        return run_sharded_sql(self, query, params)

    # ---- operations ----------------------------------------------------------------------
    def shard_stats(self) -> list[dict[str, Any]]:
        """Per shard: rows per collection, calls served and seconds spent serving them.

        >>> db.shard_stats()[0]["rows"]                                     # doctest: +SKIP
        {'docs': 5012}
        """
        self._check_open()
        # no retry: a scrape must not wait for a restarting shard; a missing shard is news
        replies = self.fanout.call("stats", {s: () for s in range(self.shards)}, retry=False)
        out = []
        for s in range(self.shards):
            status, value = replies[s]
            if status == "ok":
                out.append({"shard": s, **value})
        return out

    def checkpoint(self) -> None:
        """Checkpoint every shard's indexes now."""
        self._check_open()
        self.fanout.each("checkpoint")

    def close(self) -> None:
        """Close every shard (checkpointing its indexes), stop the actors, and stop Ray if
        this database started it (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            self.fanout.call("close", {s: () for s in range(self.shards)}, retry=False)
        except Exception:  # noqa: BLE001 - the shards replay their logs on the next open
            pass
        finally:
            self.fanout.kill()
            release_ray()

    def __enter__(self) -> ShardedDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"ShardedDatabase({self.path!r}, shards={self.shards}, "
            f"collections={len(self._collections)})"
        )


def _shard_spec(desc: dict[str, Any]) -> dict[str, Any]:
    """``create_collection`` arguments for a shard from another shard's ``describe()``."""
    columns = dict(desc["columns"])
    emb = desc.get("embedding")
    if emb is not None or desc.get("fulltext") is not None:
        columns.pop("document", None)  # create_collection adds it back
    return {
        "name": desc["name"],
        "dim": desc["dim"],
        "metric": desc["metric"],
        "index": desc["index"],
        "index_params": dict(desc.get("index_params") or {}),
        "columns": columns,
        "id_type": desc["id_type"],
        "exist_ok": True,
        "embedding": None if emb is None else RouterEmbedding(emb, desc["dim"]),
        "fulltext": desc.get("fulltext") or False,
    }
