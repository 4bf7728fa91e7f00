"""Fixtures for the sharded tests: one local Ray per session, sharded databases over it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import vecdb
from tests.sharded.ray_helpers import local_ray


@pytest.fixture(scope="session")
def ray_session() -> Any:
    """The ray module, with a local Ray started once for the whole session."""
    return local_ray()


DIM = 16
N = 600
COLUMNS = {"title": "VARCHAR", "year": "INTEGER", "score": "DOUBLE"}


def dataset(seed: int = 3) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    rng = np.random.default_rng(seed)
    ids = rng.choice(10**9, size=N, replace=False).astype(np.int64)
    vecs = rng.normal(size=(N, DIM)).astype(np.float32)
    rows = [
        {"title": f"t{i % 37}", "year": 1990 + i % 35, "score": float(rng.random())}
        for i in range(N)
    ]
    return ids, vecs, rows


@pytest.fixture(scope="session")
def pair(ray_session: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    """(one node, 2 shards), each with collection ``docs`` (exact, cosine) and ``words``
    (exact, l2, string ids), holding the same rows."""
    root = tmp_path_factory.mktemp("sharded")
    one = vecdb.connect(root / "one")
    two = vecdb.connect(root / "two", shards=2)
    ids, vecs, rows = dataset()
    for db in (one, two):
        c = db.create_collection("docs", dim=DIM, metric="cosine", index="exact", columns=COLUMNS)
        assert c.upsert(ids=ids, vectors=vecs, rows=rows) == N
        w = db.create_collection("words", dim=DIM, metric="l2", index="exact", id_type="str")
        assert w.upsert(ids=[f"w{i}" for i in range(200)], vectors=vecs[:200]) == 200
    yield one, two
    one.close()
    two.close()
