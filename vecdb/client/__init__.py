"""The remote client: ``vecdb.connect("grpc://host:port")`` with the embedded API.

Needs the server extra (grpcio, protobuf): ``pip install 'vecdb[server]'``.

>>> import vecdb
>>> db = vecdb.connect("grpc://127.0.0.1:50051", api_key="s3cret")   # doctest: +SKIP
>>> db.get_collection("docs").count()                                # doctest: +SKIP
1000
"""

from __future__ import annotations

from vecdb.client.remote import (
    RemoteCollection,
    RemoteDatabase,
    ServiceUnavailableError,
    connect_remote,
)

__all__ = ["connect_remote", "RemoteDatabase", "RemoteCollection", "ServiceUnavailableError"]
