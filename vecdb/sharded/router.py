"""The router: one database API over N shard actors on Ray.

:func:`connect_sharded` (what ``vecdb.connect(path, shards=N)`` calls) starts or joins Ray,
creates one named actor per shard in namespace ``vecdb`` (each an embedded vecdb over
``path/shard-<i>``) and returns a :class:`ShardedDatabase` with the methods, results and
exceptions of :class:`vecdb.Database`.

- Writes are validated whole here, split by the stable hash of the id
  (:mod:`vecdb.sharded.layout`) and applied on every shard at once; each shard's part is atomic.
  When a part fails, the error (the class one node would raise) says in
  ``details["applied_shards"]`` / ``details["failed_shards"]`` which shards applied. ``upsert``
  and ``delete`` are idempotent, so retrying the whole call is always safe; the router itself
  retries them on a shard whose actor died, until Ray has restarted it.
- Reads fan out with the filter pushed down; each shard plans its own search (a selective
  filter stays exact on every shard) and returns ``k`` candidates with exact distances; the
  router merges the top ``k``. A batch of queries is one call per shard.

>>> import numpy as np, tempfile, vecdb                                  # doctest: +SKIP
>>> with vecdb.connect(tempfile.mkdtemp(), shards=2) as db:              # doctest: +SKIP
...     c = db.create_collection("c", dim=2, metric="l2", index="exact")
...     c.upsert(ids=[1, 2, 3], vectors=[[0, 0], [1, 0], [5, 5]])
...     [h.id for h in c.search([0.9, 0], k=2)]
3
[2, 1]
"""

from __future__ import annotations

import hashlib
import math
import os
import signal
import threading
import time
from functools import partial
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from vecdb._input import as_ids, as_matrix, normalize, rows_to_columns, table_to_parts
from vecdb.collection import Hit, Record
from vecdb.errors import (
    AlreadyExistsError,
    InternalError,
    InvalidArgumentError,
    NotFoundError,
    VecdbError,
)
from vecdb.result import Result
from vecdb.sharded.layout import Layout, shard_dir

__all__ = [
    "ShardedDatabase",
    "ShardedCollection",
    "ShardUnavailableError",
    "PartialWriteError",
    "connect_sharded",
    "NAMESPACE",
]

NAMESPACE = "vecdb"
#: a Hit from a tuple without NamedTuple.__new__ (the merge builds one per result)
_new_hit = partial(tuple.__new__, Hit)
#: how long a call waits for a dead shard actor to come back before giving up
RETRY_TIMEOUT_S = 60.0
#: object store of a local Ray started by vecdb (bytes); results are small, batches go inline
LOCAL_OBJECT_STORE = 128 * 1024**2


class ShardUnavailableError(InternalError):
    """A shard actor did not answer (dead and not restarted within the retry time)."""


class PartialWriteError(InternalError):
    """A write whose parts reached only some shards, for a reason that is not an input error
    (a shard died during a non-idempotent ``add``). ``details`` name the shards that applied,
    failed, or may have applied."""


# --------------------------------------------------------------------------- Ray plumbing

_RAY_LOCK = threading.Lock()
_RAY_USERS = 0
_RAY_STARTED_BY_US = False
_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _ray() -> Any:
    try:
        import ray
    except ImportError as e:  # pragma: no cover - depends on the install
        raise InvalidArgumentError(
            "a sharded database runs on Ray: install it with pip install 'vecdb[ray]'"
        ) from e
    return ray


def _acquire_ray(address: str | None, shards: int) -> None:
    """Join the Ray this process already has, connect to ``address``, or start a local one."""
    global _RAY_USERS, _RAY_STARTED_BY_US
    ray = _ray()
    with _RAY_LOCK:
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {
                "namespace": NAMESPACE,
                "log_to_driver": False,
                "configure_logging": True,
                "logging_level": "ERROR",
            }
            if address is None:
                # "local": a private instance, never whichever cluster this machine ran last
                kwargs.update(
                    address="local",
                    include_dashboard=False,
                    num_cpus=max(os.cpu_count() or 1, shards),
                    object_store_memory=LOCAL_OBJECT_STORE,
                )
            else:
                kwargs["address"] = address
            # ray.init installs its own SIGTERM handler (exit at once); keep the host's, so a
            # server still finishes in-flight requests and closes the shards on SIGTERM
            main = threading.current_thread() is threading.main_thread()
            saved = {sig: signal.getsignal(sig) for sig in _SIGNALS} if main else {}
            try:
                ray.init(**kwargs)
            finally:
                for sig, handler in saved.items():
                    if handler is not None:
                        signal.signal(sig, handler)
            _RAY_STARTED_BY_US = True
        _RAY_USERS += 1


def _release_ray() -> None:
    global _RAY_USERS, _RAY_STARTED_BY_US
    with _RAY_LOCK:
        _RAY_USERS -= 1
        if _RAY_USERS == 0 and _RAY_STARTED_BY_US:
            _ray().shutdown()
            _RAY_STARTED_BY_US = False


def _actor_errors() -> tuple[type[BaseException], ...]:
    ex = _ray().exceptions
    out: list[type[BaseException]] = [ex.RayActorError]
    for name in ("ActorUnavailableError", "ActorDiedError"):
        cls = getattr(ex, name, None)
        if cls is not None:
            out.append(cls)
    return tuple(out)


def connect_sharded(
    path: str | os.PathLike[str],
    shards: int,
    ray_address: str | None = None,
    confined: bool = False,
    retry_timeout: float = RETRY_TIMEOUT_S,
) -> ShardedDatabase:
    """A sharded database over ``path`` (see :class:`ShardedDatabase`)."""
    return ShardedDatabase(
        path, shards, ray_address=ray_address, confined=confined, retry_timeout=retry_timeout
    )


# --------------------------------------------------------------------------- the database


class ShardedDatabase:
    """The :class:`vecdb.Database` API over ``shards`` Ray actors; see :func:`connect_sharded`.

    ``path`` must be visible at the same place to every node that runs a shard (one machine,
    or a shared file system on a cluster). With ``ray_address=None`` a local Ray is started
    (no dashboard, quiet) unless this process already has one; it is shut down on
    :meth:`close` when this database started it.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        shards: int,
        *,
        ray_address: str | None = None,
        confined: bool = False,
        retry_timeout: float = RETRY_TIMEOUT_S,
    ) -> None:
        if path is None or str(path) == ":memory:":
            raise InvalidArgumentError(
                "a sharded database needs a directory: vecdb.connect('data/', shards=N)"
            )
        self._root = Path(path).absolute()
        self.path = str(self._root)
        self.confined = confined
        self.retry_timeout = retry_timeout
        self.layout = Layout.open(self._root, shards)
        self._closed = False
        self._catalog_lock = threading.RLock()
        self._collections: dict[str, ShardedCollection] = {}
        _acquire_ray(ray_address, shards)
        try:
            self._actors = self._start_actors()
            self._load_catalog()
        except BaseException:
            self._kill_actors()
            _release_ray()
            raise

    # ---- actors --------------------------------------------------------------------------
    @property
    def shards(self) -> int:
        """The number of shards."""
        return self.layout.shards

    def actor_name(self, shard: int) -> str:
        """The Ray name of shard ``shard``'s actor (namespace ``vecdb``)."""
        digest = hashlib.blake2b(self.path.encode(), digest_size=6).hexdigest()
        return f"vecdb-{digest}-shard-{shard}"

    def _start_actors(self) -> list[Any]:
        ray = _ray()
        from vecdb.sharded.actor import Shard

        remote = ray.remote(Shard)
        actors = []
        for i in range(self.shards):
            d = shard_dir(self._root, i)
            d.mkdir(parents=True, exist_ok=True)
            actors.append(
                remote.options(
                    name=self.actor_name(i),
                    namespace=NAMESPACE,
                    get_if_exists=True,
                    max_restarts=-1,
                    max_task_retries=0,
                    max_concurrency=4,
                    num_cpus=0,
                ).remote(str(d), i, self.confined)
            )
        ray.get([a.ping.remote() for a in actors])  # wait until every shard has opened
        return actors

    def actor(self, shard: int) -> Any:
        """The Ray actor handle of one shard (for operations and tests)."""
        return self._actors[shard]

    def _kill_actors(self) -> None:
        """Stop the shard actors and wait (briefly) until their names are free, so that
        opening the same directory again gets fresh actors, not dying ones."""
        ray = _ray()
        actors = getattr(self, "_actors", [])
        for a in actors:
            try:
                ray.kill(a, no_restart=True)
            except Exception:  # noqa: BLE001 - best effort on the way out
                pass
        deadline = time.monotonic() + 10
        for i in range(len(actors)):
            while time.monotonic() < deadline:
                try:
                    ray.get_actor(self.actor_name(i), namespace=NAMESPACE)
                except ValueError:
                    break
                time.sleep(0.05)

    # ---- fan-out -------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise InvalidArgumentError("the database is closed; open it again with vecdb.connect")

    def _call(
        self, method: str, args: dict[int, tuple[Any, ...]], retry: bool = True
    ) -> dict[int, tuple[str, Any]]:
        """Call ``method`` on the shards in ``args`` at once; their replies by shard.

        A shard whose actor died is called again (``retry``) until it is back or
        ``retry_timeout`` passes; without ``retry`` its reply is ``("lost", exception)``.
        """
        ray = _ray()
        refs = {s: getattr(self._actors[s], method).remote(*a) for s, a in args.items()}
        try:
            values = ray.get(list(refs.values()))
            return dict(zip(refs, values))
        except _actor_errors():
            pass
        out: dict[int, tuple[str, Any]] = {}
        deadline = time.monotonic() + self.retry_timeout
        for s, ref in refs.items():
            while True:
                try:
                    out[s] = ray.get(ref, timeout=max(0.1, deadline - time.monotonic()))
                    break
                except (*_actor_errors(), ray.exceptions.GetTimeoutError) as e:
                    if not retry:
                        out[s] = ("lost", e)
                        break
                    if time.monotonic() >= deadline:
                        raise ShardUnavailableError(
                            f"shard {s} ({self.actor_name(s)}) did not answer within "
                            f"{self.retry_timeout:g} s; check the Ray cluster (ray status)",
                            shard=s,
                        ) from e
                    time.sleep(0.05)
                    ref = getattr(self._actors[s], method).remote(*args[s])
        return out

    def _all(self, method: str, *args: Any) -> dict[int, tuple[str, Any]]:
        """Call ``method`` with the same arguments on every shard; a large array (a batch of
        queries) goes into Ray's object store once, not once per shard."""
        if self.shards > 1 and any(_large(a) for a in args):
            ray = _ray()
            args = tuple(ray.put(a) if _large(a) else a for a in args)
        return self._call(method, {s: args for s in range(self.shards)})

    @staticmethod
    def _values(replies: dict[int, tuple[str, Any]]) -> dict[int, Any]:
        """The shards' values, or the first shard's error (the class one node raises)."""
        for s in sorted(replies):
            status, value = replies[s]
            if status != "ok":
                raise value
        return {s: v for s, (_, v) in replies.items()}

    # ---- catalog -------------------------------------------------------------------------
    def _load_catalog(self) -> None:
        """Read every shard's catalog; a collection some shards lack (a crash inside DDL)
        is created on them from the others' definition, so every shard agrees."""
        cats = self._values(self._all("catalog"))
        names = set().union(*(c.keys() for c in cats.values()))
        with self._catalog_lock:
            self._collections = {}
            for name in sorted(names):
                have = {s: c[name] for s, c in cats.items() if name in c}
                desc = next(iter(have.values()))
                missing = [s for s in range(self.shards) if s not in have]
                if missing:
                    spec = _spec_of(desc)
                    self._values(self._call("create_collection", {s: (spec,) for s in missing}))
                self._collections[name] = ShardedCollection(self, desc)

    def create_collection(
        self,
        name: str,
        dim: int,
        metric: str = "cosine",
        index: str = "hnsw",
        index_params: dict[str, Any] | None = None,
        columns: dict[str, str] | None = None,
        id_type: str = "int",
        exist_ok: bool = False,
    ) -> ShardedCollection:
        """Create a collection on every shard (see :meth:`vecdb.Database.create_collection`).

        All or nothing: when some shards refuse, the shards that created it drop it again.
        """
        self._check_open()
        spec = {
            "name": name,
            "dim": dim,
            "metric": metric,
            "index": index,
            "index_params": index_params,
            "columns": columns,
            "id_type": id_type,
            "exist_ok": exist_ok,
        }
        with self._catalog_lock:
            existed = isinstance(name, str) and name in self._collections
            replies = self._all("create_collection", spec)
            failed = [s for s, (st, _) in replies.items() if st != "ok"]
            if failed:
                created = [s for s, (st, _) in replies.items() if st == "ok"]
                if created and not existed:
                    self._call("drop_collection", {s: (name, True) for s in created})
                raise replies[failed[0]][1]
            desc = replies[0][1]
            coll = self._collections.get(name)
            if coll is None:
                coll = self._collections[name] = ShardedCollection(self, desc)
            return coll

    def get_collection(self, name: str) -> ShardedCollection:
        """The collection called ``name``, or :class:`NotFoundError`."""
        self._check_open()
        coll = self._collections.get(name)
        if coll is None:
            raise NotFoundError(
                f"collection {name!r} does not exist; existing: {self.list_collections()}"
            )
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
            self._values(self._all("drop_collection", name, True))
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
        replies = self._call("stats", {s: () for s in range(self.shards)}, retry=False)
        out = []
        for s in range(self.shards):
            status, value = replies[s]
            if status == "ok":
                out.append({"shard": s, **value})
        return out

    def checkpoint(self) -> None:
        """Checkpoint every shard's indexes now."""
        self._check_open()
        self._values(self._all("checkpoint"))

    def close(self) -> None:
        """Close every shard (checkpointing its indexes), stop the actors, and stop Ray if
        this database started it (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._call("close", {s: () for s in range(self.shards)}, retry=False)
        except Exception:  # noqa: BLE001 - the shards replay their logs on the next open
            pass
        finally:
            self._kill_actors()
            _release_ray()

    def __enter__(self) -> ShardedDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"ShardedDatabase({self.path!r}, shards={self.shards}, "
            f"collections={len(self._collections)})"
        )


def _large(value: Any) -> bool:
    return isinstance(value, np.ndarray) and value.nbytes > 64 * 1024


def _spec_of(desc: dict[str, Any]) -> dict[str, Any]:
    """``create_collection`` arguments from a ``describe()`` dict."""
    params = {k: v for k, v in (desc.get("index_params") or {}).items()}
    return {
        "name": desc["name"],
        "dim": desc["dim"],
        "metric": desc["metric"],
        "index": desc["index"],
        "index_params": params,
        "columns": desc["columns"],
        "id_type": desc["id_type"],
        "exist_ok": True,
    }


# --------------------------------------------------------------------------- collections


class ShardedCollection:
    """The :class:`vecdb.Collection` API over the shards; get one from
    :meth:`ShardedDatabase.create_collection` or :meth:`ShardedDatabase.get_collection`."""

    def __init__(self, db: ShardedDatabase, desc: dict[str, Any]) -> None:
        self._db = db
        self._desc = {k: v for k, v in desc.items() if k != "count"}
        self._dropped = False

    # ---- properties ----------------------------------------------------------------------
    @property
    def name(self) -> str:
        return str(self._desc["name"])

    @property
    def dim(self) -> int:
        return int(self._desc["dim"])

    @property
    def metric(self) -> str:
        return str(self._desc["metric"])

    @property
    def index_kind(self) -> str:
        """The ANN index backend of every shard: ``"hnsw"``, ``"ivf"`` or ``"exact"``."""
        return str(self._desc["index"])

    @property
    def index_params(self) -> dict[str, Any]:
        return dict(self._desc.get("index_params") or {})

    @property
    def columns(self) -> dict[str, str]:
        return dict(self._desc["columns"])

    @property
    def id_type(self) -> str:
        return str(self._desc["id_type"])

    def describe(self) -> dict[str, Any]:
        """The collection's definition and row count (summed over shards)."""
        return {**self._desc, "count": self.count()}

    def __repr__(self) -> str:
        return (
            f"Collection({self.name!r}, dim={self.dim}, metric={self.metric!r}, "
            f"index={self.index_kind!r}, shards={self._db.shards})"
        )

    def _check_open(self) -> None:
        if self._dropped:
            raise NotFoundError(f"collection {self.name!r} was dropped")
        self._db._check_open()

    # ---- writes --------------------------------------------------------------------------
    def add(self, ids: Any = None, vectors: Any = None, rows: Any = None) -> int:
        """Insert new rows; an id that exists on any shard is an error and nothing is written."""
        return self._write(ids, vectors, rows, replace=False)

    def upsert(self, ids: Any = None, vectors: Any = None, rows: Any = None) -> int:
        """Insert or replace rows; each shard's part is atomic and a retry is idempotent."""
        return self._write(ids, vectors, rows, replace=True)

    def _batch(self, ids: Any, vectors: Any, rows: Any) -> tuple[np.ndarray, pa.Table]:
        """Validate a write as one node does, and build the Arrow batch the shards take."""
        col_types = self.columns
        table_cols: dict[str, Any] = {}
        if (
            ids is not None
            and not isinstance(ids, (list, tuple, np.ndarray, range))
            and (hasattr(ids, "columns") or hasattr(ids, "column_names"))
        ):
            if vectors is not None or rows is not None:
                raise InvalidArgumentError("pass either a table or ids/vectors/rows, not both")
            ids, vectors, table_cols = table_to_parts(ids, col_types)
        id_arr = as_ids(ids, self.id_type)
        if vectors is None:
            raise InvalidArgumentError("vectors are required: one vector per id")
        mat = as_matrix(vectors, self.dim)
        if len(mat) != len(id_arr):
            raise InvalidArgumentError(
                f"got {len(id_arr)} ids but {len(mat)} vectors; pass one vector per id"
            )
        if self.metric == "cosine":
            normalize(mat)  # a zero vector has no cosine: refuse it before any shard writes
        cols = table_cols or rows_to_columns(rows, len(id_arr), col_types)
        arrays: dict[str, Any] = {
            "id": pa.array(id_arr.tolist() if self.id_type == "str" else id_arr)
        }
        for name in col_types:
            value = cols.get(name)
            if value is None:
                continue
            if isinstance(value, pa.Array):
                arrays[name] = value
                continue
            try:
                arrays[name] = pa.array(value)
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as e:
                raise InvalidArgumentError(
                    f"column {name!r} ({col_types[name]}) has values of mixed or "
                    f"unsupported types: {e}"
                ) from e
        arrays["vec"] = pa.FixedSizeListArray.from_arrays(pa.array(mat.reshape(-1)), self.dim)
        return id_arr, pa.table(arrays)

    def _write(self, ids: Any, vectors: Any, rows: Any, *, replace: bool) -> int:
        self._check_open()
        id_arr, table = self._batch(ids, vectors, rows)
        if len(id_arr) == 0:
            return 0
        parts = self._db.layout.split(id_arr, self.id_type)
        if not replace:
            found = self._db._values(
                self._db._call(
                    "existing", {s: (self.name, id_arr[pos]) for s, pos in parts.items()}
                )
            )
            exists = [i for s in sorted(found) for i in found[s]]
            if exists:
                shown = [i for i in id_arr.tolist() if i in set(exists)][:5]
                raise AlreadyExistsError(
                    f"ids already exist: {shown}; use upsert() to replace them"
                )
        args = {s: (self.name, table.take(pa.array(pos)), replace) for s, pos in parts.items()}
        replies = self._db._call("write", args, retry=replace)
        return sum(_settle(replies, "upsert" if replace else "add"))

    def delete(self, ids: Any = None, where: str | None = None, params: Any = None) -> int:
        """Delete by id (routed) or by predicate (every shard); the rows deleted, summed."""
        self._check_open()
        if (ids is None) == (where is None):
            raise InvalidArgumentError("pass exactly one of ids= or where=")
        if ids is not None:
            id_arr = as_ids(ids, self.id_type)
            if len(id_arr) == 0:
                return 0
            parts = self._db.layout.split(id_arr, self.id_type)
            args = {s: (self.name, id_arr[pos], None, None) for s, pos in parts.items()}
        else:
            args = {s: (self.name, None, where, params) for s in range(self._db.shards)}
        return sum(_settle(self._db._call("delete", args), "delete"))

    def compact(self) -> None:
        """Compact every shard's index."""
        self._check_open()
        self._db._values(self._db._all("compact", self.name))

    # ---- reads ---------------------------------------------------------------------------
    def count(self, where: str | None = None, params: Any = None) -> int:
        """Rows on all shards (matching ``where`` when given)."""
        self._check_open()
        return sum(self._db._values(self._db._all("count", self.name, where, params)).values())

    def get(self, ids: Any, include: Any = None) -> list[Record]:
        """Rows by id, in the order asked; ids that do not exist are left out."""
        self._check_open()
        id_arr = as_ids(ids, self.id_type)
        if len(id_arr) == 0:
            # still let one shard check ``include`` as one node would
            self._db._values(self._db._call("get", {0: (self.name, id_arr, include)}))
            return []
        parts = self._db.layout.split(id_arr, self.id_type)
        args = {s: (self.name, id_arr[pos], include) for s, pos in parts.items()}
        got = self._db._values(self._db._call("get", args))
        by_id = {r.id: r for recs in got.values() for r in recs}
        return [by_id[i] for i in id_arr.tolist() if i in by_id]

    def search(
        self,
        query: Any,
        k: int = 10,
        where: str | None = None,
        params: Any = None,
        include: Any = None,
        ef: int | None = None,
        nprobe: int | None = None,
    ) -> list[Hit] | list[list[Hit]]:
        """The ``k`` nearest rows over all shards (see :meth:`vecdb.Collection.search`)."""
        self._check_open()
        try:
            arr = np.asarray(query, dtype=np.float32)
        except (TypeError, ValueError) as e:
            raise InvalidArgumentError(
                f"query must be a vector of floats or a matrix of them ({e})"
            ) from e
        single = arr.ndim == 1
        batch = arr[None, :] if single else arr
        ef = self._shard_ef(ef)
        replies = self._db._values(
            self._db._all("search", self.name, batch, k, where, params, include, ef, nprobe)
        )
        out = merge_top_k([replies[s] for s in sorted(replies)], k)
        return out[0] if single else out

    def _shard_ef(self, ef: int | None) -> int | None:
        """The search breadth each shard uses: ``ef`` when given; otherwise, for HNSW over
        N > 1 shards, ``ef_search / sqrt(N)`` (each shard's graph holds 1/N of the rows and
        needs a narrower beam for the same recall; measured within 0.01 of one node's recall,
        see README "Scale-out on Ray")."""
        shards = self._db.shards
        if ef is not None or shards == 1 or self.index_kind != "hnsw":
            return ef
        base = self.index_params.get("ef_search")
        if not isinstance(base, int):
            return None
        return max(1, math.ceil(base / math.sqrt(shards)))

    def explain(
        self,
        query: Any,
        k: int = 10,
        where: str | None = None,
        params: Any = None,
        ef: int | None = None,
        nprobe: int | None = None,
    ) -> dict[str, Any]:
        """Every shard's plan: the first shard's keys, with ``shards`` holding each plan and
        ``matching_rows``/``total_rows``/``estimated_rows`` summed."""
        self._check_open()
        ef = self._shard_ef(ef)
        kwargs = {"k": k, "where": where, "params": params, "ef": ef, "nprobe": nprobe}
        plans = self._db._values(self._db._all("explain", self.name, query, kwargs))
        ordered = [plans[s] for s in sorted(plans)]
        info = dict(ordered[0])
        for key in ("matching_rows", "total_rows", "estimated_rows"):
            vals = [p.get(key) for p in ordered]
            if all(isinstance(v, (int, np.integer)) for v in vals):
                info[key] = int(sum(vals))
        info["shards"] = ordered
        return info


def merge_top_k(
    replies: list[tuple[np.ndarray, np.ndarray, np.ndarray, list[list[Any]] | None]], k: int
) -> list[list[Hit]]:
    """Merge the shards' candidates into the ``k`` nearest per query.

    >>> a = (np.array([[1, 2]]), np.array([[0.1, 0.5]]), np.array([2]), None)
    >>> b = (np.array([[7, 0]]), np.array([[0.3, np.inf]]), np.array([1]), None)
    >>> [h.id for h in merge_top_k([a, b], 2)[0]]
    [1, 7]
    """
    ids = np.concatenate([r[0] for r in replies], axis=1)
    dists = np.concatenate([r[1] for r in replies], axis=1)
    counts = np.minimum(sum(r[2] for r in replies), k)
    with_rows = replies[0][3] is not None
    width = dists.shape[1]
    if width > k:
        order = np.argsort(dists, axis=1, kind="stable")[:, :k]
    else:
        order = np.argsort(dists, axis=1, kind="stable")
    top_ids = np.take_along_axis(ids, order, axis=1).tolist()
    top_d = np.take_along_axis(dists, order, axis=1).tolist()
    out: list[list[Hit]] = []
    if not with_rows:
        for i, n in enumerate(counts.tolist()):
            ids_i, d_i = top_ids[i], top_d[i]
            if n < len(ids_i):
                ids_i, d_i = ids_i[:n], d_i[:n]
            out.append(list(map(_new_hit, zip(ids_i, d_i, repeat(None)))))
        return out
    pos = order.tolist()
    for i, n in enumerate(counts.tolist()):
        flat: list[Any] = []
        for r in replies:
            rows = r[3][i]  # type: ignore[index]
            flat.extend(rows)
            flat.extend([None] * (r[1].shape[1] - len(rows)))
        out.append(
            [Hit(a, b, flat[p]) for a, b, p in zip(top_ids[i][:n], top_d[i][:n], pos[i][:n])]
        )
    return out


def _settle(replies: dict[int, tuple[str, Any]], op: str) -> list[int]:
    """The per-shard counts of a write, or its error naming which shards applied."""
    applied = sorted(s for s, (st, _) in replies.items() if st == "ok")
    failed = sorted(s for s, (st, _) in replies.items() if st == "err")
    lost = sorted(s for s, (st, _) in replies.items() if st == "lost")
    if not failed and not lost:
        return [v for _, v in replies.values()]
    details = {"applied_shards": applied, "failed_shards": failed + lost}
    if lost:
        details["unknown_shards"] = lost
    again = "retry it with upsert()" if op == "add" else f"retry the {op} (it is idempotent)"
    if failed:
        err = replies[failed[0]][1]
        if isinstance(err, VecdbError):
            note = f" (shards {applied} applied their part; {again})" if applied else ""
            return_err = type(err)(err.message + note, **{**err.details, **details})
            raise return_err from err
        raise err
    raise PartialWriteError(
        f"{op}: shards {lost} stopped answering before they confirmed their part; shards "
        f"{applied} applied theirs; {again}",
        **details,
    )
