"""Ray plumbing and fan-out: start or join Ray, start the shard actors, call them all at once.

:class:`Fanout` owns the actor handles of one sharded database. :meth:`Fanout.call` sends one
method to several shards at once and waits for all of them in one ``ray.get``; a shard whose
actor died is called again until Ray has restarted it (or the retry time passes). Replies are
the actor's ``("ok", value)`` / ``("err", exception)`` pairs (:mod:`vecdb.sharded.actor`);
:meth:`Fanout.values` unwraps them and raises the first shard's error, the exception class
one node raises.

>>> Fanout.values({0: ("ok", 1), 1: ("ok", 2)})
{0: 1, 1: 2}
"""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from vecdb.errors import InternalError, InvalidArgumentError
from vecdb.sharded.layout import shard_dir

__all__ = [
    "Fanout",
    "ShardUnavailableError",
    "PartialWriteError",
    "NAMESPACE",
    "RETRY_TIMEOUT_S",
    "acquire_ray",
    "release_ray",
]

NAMESPACE = "vecdb"
#: how long a call waits for a dead shard actor to come back before giving up
RETRY_TIMEOUT_S = 60.0
#: object store of a local Ray started by vecdb (bytes); results are small, batches go inline
LOCAL_OBJECT_STORE = 128 * 1024**2
#: arguments larger than this go into Ray's object store once, not once per shard
LARGE_ARG_BYTES = 64 * 1024


class ShardUnavailableError(InternalError):
    """A shard actor did not answer (dead and not restarted within the retry time)."""


class PartialWriteError(InternalError):
    """A write whose parts reached only some shards, for a reason that is not an input error
    (a shard died during a non-idempotent ``add``). ``details`` name the shards that applied,
    failed, or may have applied."""


# --------------------------------------------------------------------------- Ray itself

_RAY_LOCK = threading.Lock()
_RAY_USERS = 0
_RAY_STARTED_BY_US = False
_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def ray_module() -> Any:
    """The ``ray`` module, or an error that names the extra to install."""
    try:
        import ray
    except ImportError as e:  # pragma: no cover - depends on the install
        raise InvalidArgumentError(
            "a sharded database runs on Ray: install it with pip install 'vecdb[ray]'"
        ) from e
    return ray


def acquire_ray(address: str | None, shards: int) -> None:
    """Join the Ray this process already has, connect to ``address``, or start a local one."""
    global _RAY_USERS, _RAY_STARTED_BY_US
    ray = ray_module()
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


def release_ray() -> None:
    """Forget one user of Ray; the last one stops the Ray this module started."""
    global _RAY_USERS, _RAY_STARTED_BY_US
    with _RAY_LOCK:
        _RAY_USERS -= 1
        if _RAY_USERS == 0 and _RAY_STARTED_BY_US:
            ray_module().shutdown()
            _RAY_STARTED_BY_US = False


def _actor_errors() -> tuple[type[BaseException], ...]:
    ex = ray_module().exceptions
    out: list[type[BaseException]] = [ex.RayActorError]
    for name in ("ActorUnavailableError", "ActorDiedError"):
        cls = getattr(ex, name, None)
        if cls is not None:
            out.append(cls)
    return tuple(out)


# --------------------------------------------------------------------------- the actors


class Fanout:
    """The shard actors of the database at ``root``, and calls to several of them at once.

    Each shard is a named actor (``vecdb-<hash of root>-shard-<i>`` in namespace ``vecdb``)
    that Ray restarts without limit; it reopens its directory on restart.
    """

    def __init__(self, root: Path, shards: int, confined: bool, retry_timeout: float) -> None:
        self.root = root
        self.shards = shards
        self.confined = confined
        self.retry_timeout = retry_timeout
        self.actors: list[Any] = []
        self._errors = _actor_errors()

    def actor_name(self, shard: int) -> str:
        """The Ray name of shard ``shard``'s actor (namespace ``vecdb``)."""
        digest = hashlib.blake2b(str(self.root).encode(), digest_size=6).hexdigest()
        return f"vecdb-{digest}-shard-{shard}"

    def start(self) -> None:
        """Create (or join) every shard's actor and wait until each has opened its directory."""
        ray = ray_module()
        from vecdb.sharded.actor import Shard

        remote = ray.remote(Shard)
        for i in range(self.shards):
            d = shard_dir(self.root, i)
            d.mkdir(parents=True, exist_ok=True)
            self.actors.append(
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
        ray.get([a.ping.remote() for a in self.actors])

    def kill(self) -> None:
        """Stop the shard actors and wait (briefly) until their names are free, so that
        opening the same directory again gets fresh actors, not dying ones."""
        ray = ray_module()
        for a in self.actors:
            try:
                ray.kill(a, no_restart=True)
            except Exception:  # noqa: BLE001 - best effort on the way out
                pass
        deadline = time.monotonic() + 10
        for i in range(len(self.actors)):
            while time.monotonic() < deadline:
                try:
                    ray.get_actor(self.actor_name(i), namespace=NAMESPACE)
                except ValueError:
                    break
                time.sleep(0.05)

    def call(
        self, method: str, args: dict[int, tuple[Any, ...]], retry: bool = True
    ) -> dict[int, tuple[str, Any]]:
        """Call ``method`` on the shards in ``args`` at once; their replies by shard.

        A shard whose actor died is called again (``retry``) until it is back or
        ``retry_timeout`` passes; without ``retry`` its reply is ``("lost", exception)``.
        """
        ray = ray_module()
        refs = {s: getattr(self.actors[s], method).remote(*a) for s, a in args.items()}
        try:
            return dict(zip(refs, ray.get(list(refs.values()))))
        except self._errors:
            pass
        out: dict[int, tuple[str, Any]] = {}
        deadline = time.monotonic() + self.retry_timeout
        for s, ref in refs.items():
            while True:
                try:
                    out[s] = ray.get(ref, timeout=max(0.1, deadline - time.monotonic()))
                    break
                except (*self._errors, ray.exceptions.GetTimeoutError) as e:
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
                    ref = getattr(self.actors[s], method).remote(*args[s])
        return out

    def all(self, method: str, *args: Any) -> dict[int, tuple[str, Any]]:
        """Call ``method`` with the same arguments on every shard; a large array (a batch of
        queries) goes into Ray's object store once, not once per shard."""
        if self.shards > 1 and any(_large(a) for a in args):
            ray = ray_module()
            args = tuple(ray.put(a) if _large(a) else a for a in args)
        return self.call(method, {s: args for s in range(self.shards)})

    @staticmethod
    def values(replies: dict[int, tuple[str, Any]]) -> dict[int, Any]:
        """The shards' values, or the first shard's error (the class one node raises)."""
        for s in sorted(replies):
            status, value = replies[s]
            if status != "ok":
                raise value
        return {s: v for s, (_, v) in replies.items()}

    def each(self, method: str, *args: Any) -> list[Any]:
        """:meth:`all`, unwrapped: every shard's value, in shard order."""
        got = self.values(self.all(method, *args))
        return [got[s] for s in range(self.shards)]


def _large(value: Any) -> bool:
    return isinstance(value, np.ndarray) and value.nbytes > LARGE_ARG_BYTES
