"""gRPC health that tells the truth: each ``Check`` asks :meth:`ServiceCore.health` first.

The stock :class:`grpc_health.v1.health.HealthServicer` answers whatever status was last
``set``: a server whose disk is full, or whose DuckDB was invalidated, would keep answering
``SERVING``. This one re-checks the core on every ``Check`` (and when a ``Watch`` starts),
flips the registered services to ``NOT_SERVING`` while the core is unhealthy and back to
``SERVING`` once it recovers, and sends the reason in the trailing metadata key
``vecdb-health-reason`` -- the same reason REST's ``/healthz`` gives with its 503.

>>> from types import SimpleNamespace
>>> core = SimpleNamespace(health=lambda: (False, "disk full"))
>>> h = CoreHealthServicer(core)
>>> h.set("", health_pb2.HealthCheckResponse.SERVING)
>>> h.refresh()
(False, 'disk full')
>>> h._server_status[""] == health_pb2.HealthCheckResponse.NOT_SERVING
True
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from grpc_health.v1 import health, health_pb2

__all__ = ["CoreHealthServicer", "REASON_KEY"]

#: trailing metadata key that carries why the server is not serving
REASON_KEY = "vecdb-health-reason"

log = logging.getLogger("vecdb.server")


class CoreHealthServicer(health.HealthServicer):
    """The standard health service, with each answer checked against ``core.health()``."""

    def __init__(self, core: Any) -> None:
        super().__init__()
        self._core = core
        self._refresh_lock = threading.Lock()
        self._reason = "ok"

    def refresh(self) -> tuple[bool, str]:
        """Ask the core; set every registered service to SERVING or NOT_SERVING to match."""
        try:
            ok, reason = self._core.health()
        except Exception as e:  # noqa: BLE001 - a failing health check is the answer
            ok, reason = False, f"health check failed: {type(e).__name__}: {e}"
        want = (
            health_pb2.HealthCheckResponse.SERVING
            if ok
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        with self._refresh_lock:
            if ok != (self._reason == "ok"):
                log.warning("vecdb: health is now %s", "ok" if ok else f"NOT_SERVING: {reason}")
            self._reason = "ok" if ok else reason
            with self._lock:  # the parent's lock: the registered services and their status
                changed = [s for s, st in self._server_status.items() if st != want]
            for service in changed:
                self.set(service, want)  # notifies Watch streams; ignored once shutting down
        return ok, reason

    def Check(self, request: Any, context: Any) -> Any:  # noqa: N802 - gRPC's method name
        ok, reason = self.refresh()
        if not ok:  # metadata values are printable ASCII
            text = reason.encode("ascii", "backslashreplace").decode().replace("\n", " ")
            context.set_trailing_metadata(((REASON_KEY, text[:1024]),))
        return super().Check(request, context)

    def Watch(self, request: Any, context: Any, send_response_callback: Any = None) -> Any:  # noqa: N802
        self.refresh()
        return super().Watch(request, context, send_response_callback)
