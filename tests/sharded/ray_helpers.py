"""One local Ray per test session, started on first use (starting Ray costs seconds).

Sharded databases opened by the tests join this Ray instead of starting their own, so only
the first Ray test pays for the start; Ray's own exit hook stops it with the session.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest

_LOCK = threading.Lock()


def local_ray() -> Any:
    """The ``ray`` module with a quiet local Ray running (or skip when Ray is missing)."""
    ray = pytest.importorskip("ray", reason="install vecdb[ray] for the sharded tests")
    with _LOCK:
        if not ray.is_initialized():
            ray.init(
                address="local",
                namespace="vecdb",
                include_dashboard=False,
                log_to_driver=False,
                logging_level="ERROR",
                num_cpus=max(2, os.cpu_count() or 1),
                object_store_memory=128 * 1024**2,
            )
    return ray
