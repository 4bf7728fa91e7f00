"""Shared fixtures: databases, index kinds, data sets and hypothesis profiles.

Hypothesis profiles are chosen with ``VECDB_HYPOTHESIS_PROFILE`` (fast | normal | slow);
the default is ``normal``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import vecdb

settings.register_profile(
    "fast", max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "normal", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "slow", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("VECDB_HYPOTHESIS_PROFILE", "normal"))

#: the benchmark data sets, next to the repository (see ../shared/data/README.md)
DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def db() -> Iterator[vecdb.Database]:
    """An in-memory database."""
    d = vecdb.connect()
    yield d
    d.close()


@pytest.fixture
def tmp_db(tmp_path: Path) -> Iterator[vecdb.Database]:
    """A database in a temporary directory."""
    d = vecdb.connect(tmp_path / "db")
    yield d
    d.close()


@pytest.fixture(params=["exact", "hnsw", "ivf"])
def index_kind(request: pytest.FixtureRequest) -> str:
    return request.param


def load_dataset(name: str) -> dict[str, np.ndarray]:
    """A shared data set, or skip the test with a message saying where it should be."""
    folder = DATA_DIR / name
    if not (folder / "base.npy").exists():
        pytest.skip(f"data set {name} not found at {folder} (see ../shared/data/README.md)")
    return {
        f: np.load(folder / f"{f}.npy")
        for f in ("base", "queries", "groundtruth", "groundtruth_distances")
    }
