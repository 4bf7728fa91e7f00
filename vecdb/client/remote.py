"""A remote Database over gRPC with the embedded API: same methods, results and errors.

>>> import vecdb
>>> db = vecdb.connect("grpc://127.0.0.1:50051", api_key="s3cret")    # doctest: +SKIP
>>> docs = db.get_collection("docs")                                  # doctest: +SKIP
>>> docs.search([0.1, 0.2, 0.3], k=3, where="year > 2020")            # doctest: +SKIP
[Hit(id=7, distance=0.01, row=None), ...]
"""

from __future__ import annotations

import os
import threading
from typing import Any
from urllib.parse import urlparse

from vecdb import api
from vecdb.client.base import ClientCollection, ClientDatabase
from vecdb.errors import (
    AlreadyExistsError,
    DatabaseLockedError,
    InternalError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ResourceExhaustedError,
    ServiceUnavailableError,
    UnauthenticatedError,
    VecdbError,
    error_from_code,
)
from vecdb.rpc.messages import BY_REQUEST

__all__ = ["connect_remote", "RemoteDatabase", "RemoteCollection", "ServiceUnavailableError"]

ERROR_CODE_KEY = "vecdb-error-code"


_STATUS_CLASSES: dict[str, type[VecdbError]] = {
    "INVALID_ARGUMENT": InvalidArgumentError,
    "NOT_FOUND": NotFoundError,
    "ALREADY_EXISTS": AlreadyExistsError,
    "PERMISSION_DENIED": PermissionDeniedError,
    "UNAUTHENTICATED": UnauthenticatedError,
    "FAILED_PRECONDITION": DatabaseLockedError,
    "RESOURCE_EXHAUSTED": ResourceExhaustedError,
    "UNAVAILABLE": ServiceUnavailableError,
    "DEADLINE_EXCEEDED": ServiceUnavailableError,
}


def _surrogate_error(e: UnicodeEncodeError) -> InvalidArgumentError:
    """The error the embedded engine gives for text that is not valid Unicode."""
    bad = e.object[e.start : e.end] if isinstance(e.object, str) else "?"
    return InvalidArgumentError(
        f"text has a lone surrogate {bad!r} at position {e.start}; text must be valid "
        "Unicode (decode bytes with errors='replace' or drop it)"
    )


def _raise_from_rpc(e: Any) -> None:
    """Re-raise a grpc.RpcError as the VecdbError the server meant."""
    code = None
    try:
        for key, value in e.trailing_metadata() or ():
            if key == ERROR_CODE_KEY:
                code = value if isinstance(value, str) else value.decode()
    except Exception:
        code = None
    details = e.details() if hasattr(e, "details") else str(e)
    if code:
        raise error_from_code(code, details or "") from None
    status = e.code().name if hasattr(e, "code") and e.code() is not None else "INTERNAL"
    cls = _STATUS_CLASSES.get(status, InternalError)
    raise cls(f"{status}: {details}") from None


CACert = bytes | str | os.PathLike[str]


def load_root_certificates(ca: CACert | None) -> bytes | None:
    """PEM bytes of the CA certificate(s) to trust: given as bytes, or a file path.

    >>> load_root_certificates(b"-----BEGIN CERTIFICATE-----...")[:27]
    b'-----BEGIN CERTIFICATE-----'
    """
    if ca is None:
        return None
    if isinstance(ca, (bytes, bytearray, memoryview)):
        data = bytes(ca)
    elif isinstance(ca, (str, os.PathLike)):
        try:
            with open(ca, "rb") as f:
                data = f.read()
        except OSError as e:
            raise InvalidArgumentError(
                f"cannot read root_certificates file {os.fspath(ca)!r} ({e.strerror}); pass "
                "the path of a PEM CA certificate, or its bytes"
            ) from None
    else:
        raise InvalidArgumentError(
            f"root_certificates must be PEM bytes or a file path, got {type(ca).__name__}"
        )
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise InvalidArgumentError(
            "root_certificates is not a PEM certificate (no '-----BEGIN CERTIFICATE-----'); "
            "pass the CA certificate the server's --tls-cert was signed with (for a "
            "self-signed certificate, that file itself)"
        )
    return data


def connect_remote(
    url: str,
    api_key: str | None = None,
    timeout: float | None = None,
    *,
    root_certificates: CACert | None = None,
    options: list[tuple[str, Any]] | None = None,
) -> RemoteDatabase:
    """Open a remote database at ``grpc://host:port`` (``grpcs://`` for TLS).

    ``api_key`` defaults to ``$VECDB_API_KEY``; ``timeout`` (seconds) applies to every call.
    ``root_certificates`` (``grpcs://`` only) is the CA to trust, as PEM bytes or a file path
    (a self-signed server certificate is its own CA); without it the system's CAs are used.

    >>> db = connect_remote("grpc://127.0.0.1:50051")   # doctest: +SKIP
    >>> db.list_collections()                            # doctest: +SKIP
    ['docs']
    >>> db = connect_remote("grpcs://localhost:50051", root_certificates="ca.pem")  # doctest: +SKIP
    """
    return RemoteDatabase(
        url, api_key=api_key, timeout=timeout, root_certificates=root_certificates, options=options
    )


class RemoteDatabase(ClientDatabase):
    """The remote twin of :class:`vecdb.Database` over gRPC; see :func:`connect_remote`."""

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        timeout: float | None = None,
        root_certificates: CACert | None = None,
        options: list[tuple[str, Any]] | None = None,
    ) -> None:
        import grpc

        from vecdb.rpc.v1 import vecdb_pb2_grpc

        parsed = urlparse(url)
        if parsed.scheme not in ("grpc", "grpcs") or not parsed.hostname or not parsed.port:
            raise InvalidArgumentError(
                f"expected grpc://host:port or grpcs://host:port, got {url!r}"
            )
        host = parsed.hostname
        target = f"[{host}]:{parsed.port}" if ":" in host else f"{host}:{parsed.port}"
        opts = [
            ("grpc.max_receive_message_length", -1),
            ("grpc.max_send_message_length", -1),
            *(options or []),
        ]
        if root_certificates is not None and parsed.scheme != "grpcs":
            raise InvalidArgumentError(
                "root_certificates is for TLS: connect to grpcs://host:port (the server runs "
                "with --tls-cert/--tls-key)"
            )
        if parsed.scheme == "grpcs":
            ca = load_root_certificates(root_certificates)
            creds = grpc.ssl_channel_credentials(root_certificates=ca)
            self._channel = grpc.secure_channel(target, creds, options=opts)
        else:
            self._channel = grpc.insecure_channel(target, options=opts)
        self._stub = vecdb_pb2_grpc.VecdbStub(self._channel)
        self._grpc = grpc
        key = api_key if api_key is not None else os.environ.get("VECDB_API_KEY")
        self._metadata = (("authorization", f"Bearer {key}"),) if key else ()
        self.timeout = timeout
        self.path = url
        self._closed = False
        self._lock = threading.Lock()

    # -- the transport ----------------------------------------------------------------

    def execute(self, req: api.Request) -> Any:
        """Encode ``req`` with its :data:`~vecdb.rpc.messages.BY_REQUEST` codec, call the
        method and decode the result; gRPC errors become the VecdbError the server named."""
        if self._closed:
            raise InvalidArgumentError("the database is closed; open it again with vecdb.connect")
        rpc = BY_REQUEST[type(req)]
        try:
            msg = rpc.to_pb(req)
        except UnicodeEncodeError as e:  # text protobuf cannot encode, as embedded refuses it
            raise _surrogate_error(e) from None
        try:
            call = getattr(self._stub, rpc.method)
            reply = call(
                iter(msg) if rpc.client_streaming else msg,
                timeout=self.timeout,
                metadata=self._metadata,
            )
            return rpc.result_from_pb(reply, req)
        except self._grpc.RpcError as e:
            _raise_from_rpc(e)

    def close(self) -> None:
        """Close the channel (the server's database stays open)."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._channel.close()


#: a remote collection is the shared client collection (the transport is its database's)
RemoteCollection = ClientCollection
