"""Fixtures for the SQL layer tests: a fixed planner catalog and small real collections."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

import vecdb
from vecdb.sql.analyze import CollectionInfo

#: the catalog golden plan files are written against
CATALOG = {
    "docs": CollectionInfo(
        "docs", 3, "cosine", "hnsw", ("id", "year", "title", "tags", "price", "vec")
    ),
    "img": CollectionInfo("img", 2, "l2", "ivf", ("id", "label", "vec")),
    "flat": CollectionInfo("flat", 3, "ip", "exact", ("id", "n", "vec")),
}

WORDS = ["db", "ml", "ai", "web", "ops"]


def fill(
    db: vecdb.Database, name: str, n: int, dim: int, metric: str, seed: int = 0, index: str = "hnsw"
) -> vecdb.Collection:
    """A collection with int/float/text/list columns and random vectors."""
    rng = np.random.default_rng(seed)
    coll = db.create_collection(
        name,
        dim=dim,
        metric=metric,
        index=index,
        index_params={"m": 16, "ef_construction": 200, "ef_search": 128}
        if index == "hnsw"
        else None,
        columns={"year": "INTEGER", "price": "DOUBLE", "title": "VARCHAR", "tags": "VARCHAR[]"},
    )
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    rows = [
        {
            "year": int(rng.integers(1990, 2025)),
            "price": float(np.round(rng.uniform(0, 100), 2)),
            "title": f"{WORDS[i % 5]}-{i}",
            "tags": [WORDS[j] for j in rng.choice(5, size=int(rng.integers(0, 3)), replace=False)],
        }
        for i in range(n)
    ]
    coll.add(ids=list(range(n)), vectors=vectors, rows=rows)
    return coll


@pytest.fixture(scope="module")
def search_db() -> Iterator[vecdb.Database]:
    """Three 1500-row hnsw collections, one per metric."""
    db = vecdb.connect()
    fill(db, "cos", 1500, 16, "cosine", seed=1)
    fill(db, "euc", 1500, 16, "l2", seed=2)
    fill(db, "dotp", 1500, 16, "ip", seed=3)
    yield db
    db.close()
