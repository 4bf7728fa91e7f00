"""vecdb: vectors and their structured metadata in one database.

>>> import numpy as np, vecdb
>>> db = vecdb.connect()                      # in-memory; vecdb.connect("data/") persists
>>> docs = db.create_collection("docs", dim=3, metric="cosine", columns={"year": "INTEGER"})
>>> docs.upsert(ids=[1, 2], vectors=np.eye(3, dtype="float32")[:2],
...             rows=[{"year": 2021}, {"year": 2019}])
2
>>> [h.id for h in docs.search([1, 0.1, 0], k=1, where="year > 2020")]
[1]
>>> db.close()
"""

from __future__ import annotations

from vecdb.collection import Collection, Hit, Record
from vecdb.database import Database, connect
from vecdb.errors import (
    AlreadyExistsError,
    DatabaseLockedError,
    DimensionMismatchError,
    InternalError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ResourceExhaustedError,
    SQLError,
    SQLParseError,
    UnauthenticatedError,
    UnsupportedQueryError,
    VecdbError,
)
from vecdb.result import Result

__version__ = "0.1.0"

__all__ = [
    "connect",
    "Database",
    "Collection",
    "Hit",
    "Record",
    "Result",
    "VecdbError",
    "InvalidArgumentError",
    "DimensionMismatchError",
    "ResourceExhaustedError",
    "SQLError",
    "SQLParseError",
    "UnsupportedQueryError",
    "NotFoundError",
    "AlreadyExistsError",
    "PermissionDeniedError",
    "UnauthenticatedError",
    "DatabaseLockedError",
    "InternalError",
]
