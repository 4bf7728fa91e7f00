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

import os

from vecdb.api import CollectionAPI, DatabaseAPI
from vecdb.collection import Collection
from vecdb.database import Database
from vecdb.errors import (
    AlreadyExistsError,
    DatabaseLockedError,
    DimensionMismatchError,
    InternalError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ResourceExhaustedError,
    ServiceUnavailableError,
    SQLError,
    SQLParseError,
    UnauthenticatedError,
    UnsupportedQueryError,
    VecdbError,
)
from vecdb.progress import check_progress
from vecdb.result import Result
from vecdb.types import CollectionSpec, Hit, IdType, IndexKind, Metric, Record

__version__ = "0.1.0"

__all__ = [
    "connect",
    "DatabaseAPI",
    "CollectionAPI",
    "Database",
    "Collection",
    "Hit",
    "Record",
    "CollectionSpec",
    "Metric",
    "IndexKind",
    "IdType",
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
    "ServiceUnavailableError",
]


def connect(
    path: str | os.PathLike[str] | None = None,
    *,
    confined: bool = False,
    api_key: str | None = None,
    timeout: float | None = None,
    shards: int | None = None,
    ray_address: str | None = None,
    root_certificates: bytes | str | os.PathLike[str] | None = None,
    memory_limit: str | None = None,
    progress: bool | str | None = None,
) -> DatabaseAPI:
    """Open a database: in memory (``None`` or ``":memory:"``), a directory, or a server.

    ``"grpc://host:port"`` (``grpcs://`` for TLS) or ``"http://host:port"`` (``https://``)
    returns a remote database with the same API, over gRPC or REST (``api_key`` and
    ``timeout`` apply to it; ``root_certificates``, PEM bytes or a file path, is the CA a TLS
    server's certificate is checked against; it needs the ``vecdb[client]`` extra).
    ``confined=True`` refuses SQL that reaches files, the network, extensions or settings,
    as the server does. ``shards=N`` cuts a directory's database into N shards served by
    Ray actors (a private local Ray, or the cluster at ``ray_address``); see
    :mod:`vecdb.sharded` (extra ``vecdb[ray]``). ``memory_limit`` (e.g. ``"1GB"``) caps
    DuckDB's memory, its buffer pool; the vectors and index held in memory are outside it.
    ``progress`` says how long work (bulk writes, index builds, rebuilds at open,
    ``compact()``) shows its progress: ``None`` (auto: a tqdm bar when stderr is a terminal
    or in a notebook, unless ``VECDB_PROGRESS=0``), ``True``, ``False`` or ``"log"`` (lines
    on the ``vecdb.progress`` logger, as the server does); see :mod:`vecdb.progress`.

    >>> import vecdb
    >>> db = vecdb.connect()
    >>> db.path is None
    True
    >>> db.close()
    """
    if isinstance(path, str) and path.startswith(("http://", "https://")):
        from vecdb.client.rest import connect_rest  # needs httpx (extra vecdb[client])

        return connect_rest(
            path, api_key=api_key, timeout=timeout, root_certificates=root_certificates
        )
    if isinstance(path, str) and path.startswith(("grpc://", "grpcs://")):
        from vecdb.client import connect_remote  # gRPC is an optional extra

        return connect_remote(
            path, api_key=api_key, timeout=timeout, root_certificates=root_certificates
        )
    if shards is not None:
        if path is None or str(path) == ":memory:":
            raise InvalidArgumentError("shards= needs a directory: vecdb.connect(path, shards=N)")
        from vecdb.sharded import connect_sharded  # Ray is an optional extra

        return connect_sharded(path, shards, ray_address=ray_address, confined=confined)
    return Database(
        path, confined=confined, memory_limit=memory_limit, progress=check_progress(progress)
    )
