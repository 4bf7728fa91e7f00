"""``vecdb serve``: one Database, served over gRPC and REST from one process.

>>> import vecdb
>>> db = vecdb.connect("data/", confined=True)                        # doctest: +SKIP
>>> with VecdbServer(db, grpc_port=0, http_port=0) as srv:             # doctest: +SKIP
...     print(srv.grpc_address, srv.http_url)
127.0.0.1:40123 http://127.0.0.1:40125

From a shell::

    vecdb serve --data ./vecdb-data --grpc-port 50051 --http-port 8080
    vecdb serve --data ./vecdb-data --shards 4 [--ray-address auto]   # sharded on Ray
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
import threading
from typing import Any

from vecdb_server.config import ServerConfig
from vecdb_server.core import ServiceCore

log = logging.getLogger("vecdb.server")

__all__ = ["VecdbServer", "PortUnavailableError", "main", "build_parser"]


class PortUnavailableError(OSError):
    """A port ``vecdb serve`` was asked for cannot be listened on (in use, or not allowed).

    The message names the flag to change; ``vecdb serve`` prints it as one line and exits 2.
    """

    def __init__(self, what: str, host: str, port: int, flag: str, reason: str) -> None:
        super().__init__(
            f"cannot listen for {what} on {host}:{port} ({reason}); pick another port with "
            f"{flag} PORT (0 picks a free one) or stop the program that holds it"
        )
        self.flag = flag


def _check_free(what: str, host: str, port: int, flag: str) -> None:
    """Raise PortUnavailableError if ``host:port`` cannot be bound right now (as gRPC binds:
    with SO_REUSEADDR), before gRPC's own attempt logs a C-level error line."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as e:
            raise PortUnavailableError(what, host, port, flag, e.strerror or str(e)) from None


class VecdbServer:
    """gRPC and REST over one Database, started in the background.

    ``grpc_port``/``http_port`` 0 pick free ports; read the chosen ones from
    :attr:`grpc_port` and :attr:`http_port` after :meth:`start`. The Database stays the
    caller's: :meth:`stop` does not close it.
    """

    def __init__(
        self,
        db: Any,
        config: ServerConfig | None = None,
        host: str = "127.0.0.1",
        grpc_port: int = 0,
        http_port: int = 0,
        tls_cert: str | None = None,
        tls_key: str | None = None,
    ) -> None:
        self.db = db
        self.config = config or ServerConfig()
        self.host = host
        self._want_grpc = grpc_port
        self._want_http = http_port
        self.tls: tuple[bytes, bytes] | None = None
        self._tls_files = (tls_cert, tls_key)
        if tls_cert or tls_key:
            if not (tls_cert and tls_key):
                raise ValueError("--tls-cert and --tls-key go together")
            with open(tls_cert, "rb") as c, open(tls_key, "rb") as k:
                self.tls = (c.read(), k.read())
        self.core = ServiceCore(db, self.config)
        self.grpc_port = 0
        self.http_port = 0
        self._grpc: Any = None
        self._uvicorn: Any = None
        self._http_thread: threading.Thread | None = None
        self._http_error: BaseException | None = None

    @property
    def grpc_address(self) -> str:
        """``host:port`` of the gRPC server."""
        return f"{self.host}:{self.grpc_port}"

    @property
    def grpc_url(self) -> str:
        """``grpc://host:port`` for :func:`vecdb.connect`."""
        return f"{'grpcs' if self.tls else 'grpc'}://{self.grpc_address}"

    @property
    def http_url(self) -> str:
        """Base URL of the REST API."""
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.http_port}"

    def banner(self) -> str:
        """The parseable line ``vecdb serve`` prints once both transports listen."""
        return (
            f"vecdb serving grpc={self.grpc_address} http={self.http_url} docs={self.http_url}/docs"
        )

    def start(self) -> VecdbServer:
        """Bind both ports and start serving; returns when both accept connections."""
        import uvicorn

        from vecdb_server.grpc_service import GrpcServer
        from vecdb_server.rest import create_app

        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted connections only
        # when the socket says TCP; without it every response waits ~40 ms on delayed ACKs.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                sock.bind((self.host, self._want_http))
            except OSError as e:
                raise PortUnavailableError(
                    "HTTP", self.host, self._want_http, "--http-port", e.strerror or str(e)
                ) from None
            sock.listen(2048)
            sock.set_inheritable(True)
            self.http_port = sock.getsockname()[1]
            _check_free("gRPC", self.host, self._want_grpc, "--grpc-port")
            try:
                self._grpc = GrpcServer(self.core, self.host, self._want_grpc, self.tls).start()
            except (OSError, RuntimeError) as e:  # grpc says RuntimeError("Failed to bind")
                raise PortUnavailableError(
                    "gRPC", self.host, self._want_grpc, "--grpc-port", str(e)
                ) from None
        except BaseException:
            sock.close()
            raise
        self.grpc_port = self._grpc.port

        cert, key = self._tls_files
        config = uvicorn.Config(
            create_app(self.core),
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=int(max(1, self.config.grace_s)),
            ssl_certfile=cert,
            ssl_keyfile=key,
        )
        self._uvicorn = uvicorn.Server(config)

        def run_http() -> None:
            try:
                asyncio.run(self._uvicorn.serve(sockets=[sock]))
            except BaseException as e:  # pragma: no cover - reported by start()
                self._http_error = e
            finally:
                sock.close()

        self._http_thread = threading.Thread(target=run_http, name="vecdb-http", daemon=True)
        self._http_thread.start()
        while not self._uvicorn.started:
            if not self._http_thread.is_alive():
                self._grpc.stop(0)
                raise RuntimeError(f"the HTTP server failed to start: {self._http_error}")
            self._http_thread.join(0.01)
        return self

    def stop(self, grace: float | None = None) -> None:
        """Stop accepting, let in-flight requests finish (up to ``grace`` s), stop threads."""
        grace = self.config.grace_s if grace is None else grace
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
        if self._grpc is not None:
            self._grpc.stop(grace)
        if self._http_thread is not None:
            self._http_thread.join(grace + 5)
        self.core.close()

    def __enter__(self) -> VecdbServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def build_parser(prog: str = "vecdb serve") -> argparse.ArgumentParser:
    """The ``vecdb serve`` command line."""
    p = argparse.ArgumentParser(prog=prog, description="Serve a vecdb database over gRPC and REST.")
    p.add_argument("--data", default="./vecdb-data", help="data directory (created if missing)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    p.add_argument("--grpc-port", type=int, default=50051, help="0 picks a free port")
    p.add_argument("--http-port", type=int, default=8080, help="0 picks a free port")
    p.add_argument("--api-key", default=os.environ.get("VECDB_API_KEY"), help="env VECDB_API_KEY")
    p.add_argument(
        "--read-only-key",
        default=os.environ.get("VECDB_READ_ONLY_KEY"),
        help="key that may only read (env VECDB_READ_ONLY_KEY)",
    )
    p.add_argument("--tls-cert", help="PEM certificate (with --tls-key) for both transports")
    p.add_argument("--tls-key", help="PEM private key")
    d = ServerConfig()
    p.add_argument("--max-message-bytes", type=int, default=d.max_message_bytes)
    p.add_argument("--max-k", type=int, default=d.max_k)
    p.add_argument("--max-batch-rows", type=int, default=d.max_batch_rows)
    p.add_argument("--request-timeout", type=float, default=d.request_timeout_s, help="seconds")
    p.add_argument("--grpc-workers", type=int, default=d.grpc_workers)
    p.add_argument("--grace", type=float, default=d.grace_s, help="shutdown grace, seconds")
    p.add_argument(
        "--metrics-open",
        action="store_true",
        help="serve /metrics without a key even when keys are set (it lists collections)",
    )
    p.add_argument("--log-level", default="INFO")
    p.add_argument(
        "--shards", type=int, default=None, help="serve DIR cut into N shards on Ray (vecdb[ray])"
    )
    p.add_argument(
        "--ray-address", default=None, help="Ray cluster for --shards ('auto', 'ray://host:10001')"
    )
    p.add_argument(
        "--memory-limit",
        default=None,
        help="cap on DuckDB's memory (buffer pool), e.g. 1GB; the index is outside it",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """Run until SIGTERM/SIGINT, then finish in-flight requests and close the database."""
    ns = build_parser().parse_args(argv)
    logging.basicConfig(level=ns.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    config = ServerConfig(
        api_key=ns.api_key or None,
        read_only_key=ns.read_only_key or None,
        max_message_bytes=ns.max_message_bytes,
        max_k=ns.max_k,
        max_batch_rows=ns.max_batch_rows,
        request_timeout_s=ns.request_timeout,
        grpc_workers=ns.grpc_workers,
        grace_s=ns.grace,
        metrics_public=ns.metrics_open,
    )
    import vecdb

    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    os.makedirs(ns.data, exist_ok=True)
    db = vecdb.connect(
        ns.data,
        confined=True,
        shards=ns.shards,
        ray_address=ns.ray_address,
        memory_limit=ns.memory_limit,
        progress="log",  # long work (rebuilds at open, bulk writes) logs lines, draws no bars
    )
    server = VecdbServer(
        db,
        config,
        host=ns.host,
        grpc_port=ns.grpc_port,
        http_port=ns.http_port,
        tls_cert=ns.tls_cert,
        tls_key=ns.tls_key,
    )
    try:
        server.start()
    except PortUnavailableError as e:
        db.close()
        server.core.close()
        print(f"vecdb serve: error: {e}", file=sys.stderr, flush=True)
        return 2
    except BaseException:
        db.close()
        raise
    print(server.banner(), flush=True)
    if config.auth_enabled:
        print("vecdb auth: API key required", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        print("vecdb stopping: finishing in-flight requests", flush=True)
        server.stop()
        db.close()
        print("vecdb stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
