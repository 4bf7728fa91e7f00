"""Server settings: keys, limits and pool sizes, shared by both transports.

>>> cfg = ServerConfig(api_key="s3cret", max_k=100)
>>> cfg.auth_enabled, cfg.max_k
(True, 100)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ServerConfig:
    """What ``vecdb serve`` enforces.

    Attributes:
        api_key: full-access key; when set (or ``read_only_key`` is), every call needs a key.
        read_only_key: may search, get, count and run read-only SQL.
        max_message_bytes: largest request (gRPC message or REST body) accepted.
        max_k: largest ``k`` a search may ask for.
        max_batch_rows: most rows one upsert (or one search batch of queries) may carry.
        request_timeout_s: reads taking longer are interrupted and answered with an error.
        grpc_workers: size of the gRPC handler thread pool.
        grace_s: how long shutdown waits for in-flight requests.
        metrics_public: serve ``/metrics`` without a key even when keys are configured
            (it names collections and their row counts; off by default).
        min_free_bytes: below this much free disk under the data directory, ``/healthz``
            answers 503 (writes would fail).
    """

    api_key: str | None = None
    read_only_key: str | None = None
    max_message_bytes: int = 64 * 1024 * 1024
    max_k: int = 10_000
    max_batch_rows: int = 1_000_000
    request_timeout_s: float = 60.0
    grpc_workers: int = 32
    grace_s: float = 10.0
    metrics_public: bool = False
    min_free_bytes: int = 16 * 1024 * 1024

    @property
    def auth_enabled(self) -> bool:
        """True when any key is configured."""
        return bool(self.api_key or self.read_only_key)
