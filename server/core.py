"""The transport-independent service: auth, limits, timeouts and metrics over one Database.

Both the gRPC servicer and the REST app decode their wire format into one of the request
dataclasses of :mod:`vecdb.api` and call :meth:`ServiceCore.execute`, which checks the
request's declared limits and runs it on the database; so the two transports cannot drift
apart.

>>> import vecdb
>>> from vecdb.api import ListCollectionsRequest
>>> core = ServiceCore(vecdb.connect(confined=True), ServerConfig())
>>> core.authorize(None, write=False)
>>> core.execute(ListCollectionsRequest())
[]
>>> core.close()
"""

from __future__ import annotations

import bisect
import heapq
import hmac
import itertools
import logging
import shutil
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from vecdb.api import Request, limit_error
from vecdb.errors import (
    InternalError,
    InvalidArgumentError,
    PermissionDeniedError,
    ResourceExhaustedError,
    ServiceUnavailableError,
    UnauthenticatedError,
    VecdbError,
    from_duckdb,
)
from vecdb_server.config import ServerConfig

log = logging.getLogger("vecdb.server")

T = TypeVar("T")

__all__ = ["ServiceCore", "Metrics", "Watchdog", "sql_is_read_only", "as_vecdb_error"]


# --------------------------------------------------------------------------- errors


def as_vecdb_error(exc: BaseException) -> VecdbError:
    """Any exception from the engine as the VecdbError a client should see.

    Bad-input exceptions the engine did not wrap (ValueError, TypeError) become
    InvalidArgumentError; DuckDB errors are mapped by :func:`vecdb.errors.from_duckdb` (the
    one mapping of them); anything else InternalError.
    """
    if isinstance(exc, VecdbError):
        return exc
    if isinstance(exc, (ValueError, TypeError, OverflowError)):
        return InvalidArgumentError(str(exc))
    try:
        import duckdb

        if isinstance(exc, duckdb.Error):
            err = from_duckdb(exc)
            if isinstance(err, InternalError) and not isinstance(err, ServiceUnavailableError):
                log.exception("internal error", exc_info=exc)
            return err
    except ImportError:  # pragma: no cover
        pass
    log.exception("internal error", exc_info=exc)
    return InternalError(f"{type(exc).__name__}: {exc}")


# --------------------------------------------------------------------------- SQL kinds


def sql_is_read_only(sql: str) -> bool:
    """True when DuckDB reads ``sql`` as one query (never decided by string patterns).

    The statement is parsed as confined SQL is: DuckDB's statement kind, agreed with
    sqlglot's tree. Anything that does not parse, or that the parsers read differently, is
    not read-only. Enforced a second time when it runs (``Database.sql(read_only=True)``).

    >>> sql_is_read_only("SELECT * FROM docs -- DROP TABLE docs")
    True
    >>> sql_is_read_only("WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x")
    False
    >>> sql_is_read_only("/* /* */ SELECT 1 */ DELETE FROM docs WHERE id = 1")
    False
    >>> sql_is_read_only("explain analyze delete from docs")
    False
    """
    from vecdb.sql.parse import parse

    try:
        return parse(sql, confined=True).read_only
    except VecdbError:
        return False


# --------------------------------------------------------------------------- metrics

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """Request counts and latency histograms by transport, route and status.

    >>> m = Metrics()
    >>> m.observe("rest", "/healthz", "200", 0.0004)
    >>> 'vecdb_requests_total{transport="rest",route="/healthz",status="200"} 1' in m.render()
    True
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sums: dict[tuple[str, str, str], float] = {}
        # per key: requests per latency bucket, non-cumulative, the last one past 10 s
        self._buckets: dict[tuple[str, str, str], list[int]] = {}
        self.started = time.time()
        #: per-shard stats of a sharded database (``ShardedDatabase.shard_stats``), if any
        self.shard_stats: Callable[[], list[dict[str, Any]]] | None = None

    def observe(self, transport: str, route: str, status: str, seconds: float) -> None:
        """Count one finished request (one bucket increment; render() accumulates)."""
        key = (transport, route, status)
        i = bisect.bisect_left(_BUCKETS, seconds)
        with self._lock:
            b = self._buckets.get(key)
            if b is None:
                b = self._buckets[key] = [0] * (len(_BUCKETS) + 1)
                self._sums[key] = 0.0
            b[i] += 1
            self._sums[key] += seconds

    def render(self, collection_rows: dict[str, int] | None = None) -> str:
        """Prometheus text exposition format (0.0.4)."""
        lines = [
            "# HELP vecdb_requests_total Requests served, by transport, route and status.",
            "# TYPE vecdb_requests_total counter",
        ]
        with self._lock:
            sums = dict(self._sums)
            buckets = {k: list(itertools.accumulate(v)) for k, v in self._buckets.items()}
        counts = {k: b[-1] for k, b in buckets.items()}
        for (tr, route, status), n in sorted(counts.items()):
            lines.append(f"vecdb_requests_total{{{_labels(tr, route, status)}}} {n}")
        lines += [
            "# HELP vecdb_request_duration_seconds Request latency.",
            "# TYPE vecdb_request_duration_seconds histogram",
        ]
        for key, b in sorted(buckets.items()):
            lab = _labels(*key)
            for edge, c in zip(_BUCKETS, b[:-1], strict=True):
                lines.append(f'vecdb_request_duration_seconds_bucket{{{lab},le="{edge}"}} {c}')
            lines.append(f'vecdb_request_duration_seconds_bucket{{{lab},le="+Inf"}} {counts[key]}')
            lines.append(f"vecdb_request_duration_seconds_sum{{{lab}}} {sums[key]:.6f}")
            lines.append(f"vecdb_request_duration_seconds_count{{{lab}}} {counts[key]}")
        lines += [
            "# HELP vecdb_collection_rows Rows per collection.",
            "# TYPE vecdb_collection_rows gauge",
        ]
        for name, n in sorted((collection_rows or {}).items()):
            lines.append(f'vecdb_collection_rows{{collection="{_esc(name)}"}} {n}')
        if self.shard_stats is not None:
            lines += _shard_lines(self.shard_stats())
        lines += [
            "# HELP vecdb_uptime_seconds Seconds since the server started.",
            "# TYPE vecdb_uptime_seconds gauge",
            f"vecdb_uptime_seconds {time.time() - self.started:.3f}",
        ]
        return "\n".join(lines) + "\n"


def _shard_lines(stats: list[dict[str, Any]]) -> list[str]:
    """Rows per collection and shard, and each shard's calls and busy seconds (their ratio
    is the shard's mean latency per call)."""
    lines = [
        "# HELP vecdb_shard_rows Rows per collection and shard.",
        "# TYPE vecdb_shard_rows gauge",
    ]
    for st in stats:
        for name, n in sorted(st.get("rows", {}).items()):
            lines.append(f'vecdb_shard_rows{{shard="{st["shard"]}",collection="{_esc(name)}"}} {n}')
    lines += [
        "# HELP vecdb_shard_calls_total Calls a shard served.",
        "# TYPE vecdb_shard_calls_total counter",
    ]
    lines += [f'vecdb_shard_calls_total{{shard="{st["shard"]}"}} {st["calls"]}' for st in stats]
    lines += [
        "# HELP vecdb_shard_busy_seconds_total Seconds a shard spent serving calls.",
        "# TYPE vecdb_shard_busy_seconds_total counter",
    ]
    lines += [
        f'vecdb_shard_busy_seconds_total{{shard="{st["shard"]}"}} {st["busy_s"]:.6f}'
        for st in stats
    ]
    return lines


def _esc(s: str) -> str:
    return s.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(transport: str, route: str, status: str) -> str:
    return f'transport="{_esc(transport)}",route="{_esc(route)}",status="{_esc(status)}"'


# --------------------------------------------------------------------------- watchdog


class Watchdog:
    """One thread that fires callbacks at deadlines (cheaper than a Timer per request).

    >>> wd = Watchdog()
    >>> fired = []
    >>> tok = wd.schedule(0.01, lambda: fired.append(1))
    >>> time.sleep(0.1); fired
    [1]
    >>> wd.close()
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, list[Any]]] = []
        self._seq = itertools.count()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="vecdb-watchdog", daemon=True)
        self._thread.start()

    def schedule(self, delay: float, callback: Callable[[], None]) -> list[Any]:
        """Call ``callback`` after ``delay`` seconds unless :meth:`cancel` comes first."""
        entry: list[Any] = [callback]
        item = (time.monotonic() + delay, next(self._seq), entry)
        with self._cond:
            heapq.heappush(self._heap, item)
            if self._heap[0] is item:
                self._cond.notify()
        return entry

    @staticmethod
    def cancel(token: list[Any]) -> None:
        """Forget a scheduled callback (lazy: it is dropped when its deadline comes)."""
        token[0] = None

    def close(self) -> None:
        """Stop the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout=1)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed:
                    if not self._heap:
                        self._cond.wait()
                        continue
                    wait = self._heap[0][0] - time.monotonic()
                    if wait <= 0:
                        break
                    self._cond.wait(wait)
                if self._closed:
                    return
                _, _, entry = heapq.heappop(self._heap)
            cb = entry[0]
            if cb is not None:
                try:
                    cb()
                except Exception:  # pragma: no cover - best effort
                    log.debug("watchdog callback failed", exc_info=True)


# --------------------------------------------------------------------------- the service


class ServiceCore:
    """Every service operation over one Database, with auth, limits and timeouts."""

    def __init__(self, db: Any, config: ServerConfig | None = None) -> None:
        self.db = db
        self.config = config or ServerConfig()
        self.metrics = Metrics()
        self.metrics.shard_stats = getattr(db, "shard_stats", None)
        self.watchdog = Watchdog()
        self._api_key = (self.config.api_key or "").encode()
        self._ro_key = (self.config.read_only_key or "").encode()

    def close(self) -> None:
        """Stop helper threads (the Database is closed by its owner)."""
        self.watchdog.close()

    # -- auth -----------------------------------------------------------------------

    def authenticate(self, token: str | None) -> bool:
        """Check the key first, before anything else: True for the full key (or no auth),
        False for the read-only key; UnauthenticatedError for anything else."""
        if not self.config.auth_enabled:
            return True
        given = (token or "").encode()
        if self._api_key and hmac.compare_digest(given, self._api_key):
            return True
        if self._ro_key and hmac.compare_digest(given, self._ro_key):
            return False
        raise UnauthenticatedError("missing or invalid API key: send 'Authorization: Bearer KEY'")

    def authorize(self, token: str | None, write: bool) -> None:
        """Raise UnauthenticatedError / PermissionDeniedError unless ``token`` may do this."""
        if not self.authenticate(token) and write:
            raise PermissionDeniedError("the read-only key may not write or change the schema")

    def authorize_sql(self, token: str | None, sql: str) -> bool:
        """Authorize a SQL statement; True when it must run read-only (the read-only key).

        The read-only key may run only statements DuckDB reads as queries.
        """
        if self.authenticate(token):
            return False
        if not sql_is_read_only(sql):
            raise PermissionDeniedError(
                "the read-only key may run queries only (SELECT, DESCRIBE, SHOW, EXPLAIN)"
            )
        return True

    # -- limits ---------------------------------------------------------------------

    def check_limits(self, req: Request) -> None:
        """Refuse ``req`` when it is over a limit its type declares (``max_k``,
        ``max_batch_rows``) with ResourceExhaustedError naming the limit."""
        cfg = self.config
        for limit, value, what in req.limits():
            allowed = getattr(cfg, limit)
            if value > allowed:
                raise limit_error(limit, value, what, allowed)

    def too_large(self, nbytes: int) -> ResourceExhaustedError:
        """The error for a request over ``max_message_bytes``."""
        return ResourceExhaustedError(
            f"request of {nbytes} bytes is over the limit "
            f"max_message_bytes={self.config.max_message_bytes}",
            limit="max_message_bytes",
        )

    def timed(self, fn: Callable[[], T], timeout: float | None = None) -> T:
        """Run a read with the request timeout: past it, interrupt this thread's DuckDB
        cursor and answer ResourceExhaustedError naming ``request_timeout_s``."""
        limit = self.config.request_timeout_s
        if timeout is not None:
            limit = min(limit, timeout)
        if not limit or limit <= 0:
            return fn()
        fired: list[bool] = []
        cursor = None
        getter = getattr(self.db, "_cursor", None)
        if getter is not None:
            try:
                cursor = getter()
            except Exception:
                cursor = None

        def on_timeout() -> None:
            fired.append(True)
            if cursor is not None:
                try:
                    cursor.interrupt()
                except Exception:
                    pass

        token = self.watchdog.schedule(limit, on_timeout)
        try:
            result = fn()
        except BaseException:
            if fired:
                raise self._timeout_error(limit) from None
            raise
        finally:
            Watchdog.cancel(token)
        if fired:
            raise self._timeout_error(limit)
        return result

    def _timeout_error(self, limit: float) -> ResourceExhaustedError:
        return ResourceExhaustedError(
            f"request ran longer than the limit request_timeout_s={limit:g}",
            limit="request_timeout_s",
        )

    # -- operations -----------------------------------------------------------------

    def execute(self, req: Request, timeout: float | None = None) -> Any:
        """Run one request (the caller has checked its key): limits first, then the
        operation, under the request deadline when its type says so.

        Both transports call only this, so a request behaves the same over gRPC and REST.
        """
        self.check_limits(req)
        if not req.deadline:
            return req.run(self.db)
        if req.waits_on_duckdb():
            return self.timed(lambda: req.run(self.db), timeout)
        limit = self.config.request_timeout_s
        if timeout is not None:
            limit = min(limit, timeout)
        t0 = time.perf_counter()
        result = req.run(self.db)
        if limit and limit > 0 and time.perf_counter() - t0 > limit:
            raise self._timeout_error(limit)
        return result

    def health(self) -> tuple[bool, str]:
        """``(healthy, reason)``: DuckDB answers, and the data directory's disk has room.

        A full disk makes every write fail (with ResourceExhaustedError, nothing written);
        health says so until space returns. A database DuckDB has invalidated answers
        nothing until it is reopened: the reason says to restart the server.
        """
        path = getattr(self.db, "path", None)
        if path:
            try:
                free = shutil.disk_usage(path).free
            except OSError as e:
                return False, f"data directory {path} is not readable: {e}"
            if free < self.config.min_free_bytes:
                return False, (
                    f"disk full: {free} bytes free under {path} (needs "
                    f"{self.config.min_free_bytes}); writes fail until space is freed"
                )
        try:
            self.db.sql("SELECT 1").fetchall()
        except Exception as e:  # noqa: BLE001 - any failure here is the answer
            return False, str(as_vecdb_error(e))
        return True, "ok"

    def collection_rows(self) -> dict[str, int]:
        """Rows per collection, for /metrics (skips collections that fail)."""
        out: dict[str, int] = {}
        for name in self.db.list_collections():
            try:
                out[name] = int(self.db.get_collection(name).count())
            except Exception:
                continue
        return out
