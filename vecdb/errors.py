"""The vecdb error tree.

Every error a caller can see is a :class:`VecdbError`. Each class carries its wire name
(``code``), its HTTP status and its gRPC status name, and :data:`ERROR_TYPES` is built from
the classes themselves, so the server and the remote client can never disagree on a name.

>>> from vecdb.errors import DimensionMismatchError, error_from_code
>>> err = DimensionMismatchError("expected 3 floats, got 2")
>>> isinstance(err, ValueError), err.code, err.http_status
(True, 'DIMENSION_MISMATCH', 400)
>>> type(error_from_code("DIMENSION_MISMATCH", "x")).__name__
'DimensionMismatchError'
"""

from __future__ import annotations

from typing import Any

import duckdb

__all__ = [
    "VecdbError",
    "InvalidArgumentError",
    "DimensionMismatchError",
    "SQLError",
    "SQLParseError",
    "UnsupportedQueryError",
    "NotFoundError",
    "AlreadyExistsError",
    "PermissionDeniedError",
    "UnauthenticatedError",
    "DatabaseLockedError",
    "ServiceUnavailableError",
    "ResourceExhaustedError",
    "InternalError",
    "ServiceUnavailableError",
    "ERROR_TYPES",
    "error_from_code",
    "from_duckdb",
]


class VecdbError(Exception):
    """Base class of every vecdb error.

    Attributes:
        code: stable wire name, e.g. ``"NOT_FOUND"``; the REST body and gRPC trailers use it.
        http_status: the HTTP status REST answers with.
        grpc_status: the name of the ``grpc.StatusCode`` gRPC answers with.

    >>> try:
    ...     raise NotFoundError("collection 'docs' does not exist")
    ... except VecdbError as e:
    ...     print(e.code, e)
    NOT_FOUND collection 'docs' does not exist
    """

    code = "INTERNAL"
    http_status = 500
    grpc_status = "INTERNAL"

    def __init__(self, message: str = "", **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self.details))

    def to_dict(self) -> dict[str, Any]:
        """The JSON error body: ``{"code": ..., "message": ..., **details}``."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


def _rebuild(cls: type[VecdbError], message: str, details: dict[str, Any]) -> VecdbError:
    return cls(message, **details)


class InvalidArgumentError(VecdbError, ValueError):
    """An argument has the wrong value, type or shape (HTTP 400, INVALID_ARGUMENT)."""

    code = "INVALID_ARGUMENT"
    http_status = 400
    grpc_status = "INVALID_ARGUMENT"


class DimensionMismatchError(InvalidArgumentError):
    """A vector's length differs from the collection's ``dim``."""

    code = "DIMENSION_MISMATCH"


class ResourceExhaustedError(InvalidArgumentError):
    """A request is over a configured limit (size, k, rows); HTTP 413."""

    code = "LIMIT_EXCEEDED"
    http_status = 413


class SQLError(VecdbError):
    """A SQL statement could not be run as written (HTTP 400, INVALID_ARGUMENT)."""

    code = "SQL_ERROR"
    http_status = 400
    grpc_status = "INVALID_ARGUMENT"


class SQLParseError(SQLError):
    """SQL that does not parse. ``details["errors"]`` holds line, col and highlight."""

    code = "SQL_PARSE_ERROR"

    @property
    def errors(self) -> list[dict[str, Any]]:
        return list(self.details.get("errors", []))


class UnsupportedQueryError(SQLError):
    """SQL that parses but that vecdb cannot run (e.g. two statements at once)."""

    code = "UNSUPPORTED_QUERY"


class NotFoundError(VecdbError, KeyError):
    """A collection, column or id that does not exist (HTTP 404, NOT_FOUND)."""

    code = "NOT_FOUND"
    http_status = 404
    grpc_status = "NOT_FOUND"


class AlreadyExistsError(VecdbError):
    """A collection or id that already exists (HTTP 409, ALREADY_EXISTS)."""

    code = "ALREADY_EXISTS"
    http_status = 409
    grpc_status = "ALREADY_EXISTS"


class PermissionDeniedError(VecdbError):
    """An operation the caller may not run: confined SQL, a read-only key (HTTP 403)."""

    code = "PERMISSION_DENIED"
    http_status = 403
    grpc_status = "PERMISSION_DENIED"


class UnauthenticatedError(VecdbError):
    """A missing or wrong API key (HTTP 401, UNAUTHENTICATED)."""

    code = "UNAUTHENTICATED"
    http_status = 401
    grpc_status = "UNAUTHENTICATED"


class DatabaseLockedError(VecdbError):
    """Another process owns the data directory (HTTP 409, FAILED_PRECONDITION)."""

    code = "DATABASE_LOCKED"
    http_status = 409
    grpc_status = "FAILED_PRECONDITION"


class InternalError(VecdbError):
    """A bug or an unexpected failure below vecdb (HTTP 500, INTERNAL)."""

    code = "INTERNAL"
    http_status = 500
    grpc_status = "INTERNAL"


class ServiceUnavailableError(InternalError, ConnectionError):
    """The service, or one vecdb depends on (an embedding endpoint), cannot answer now:
    unreachable, shutting down, or past a deadline (HTTP 503, UNAVAILABLE). Retrying later
    may succeed."""

    code = "UNAVAILABLE"
    http_status = 503
    grpc_status = "UNAVAILABLE"


def from_duckdb(exc: Exception, what: str | None = None) -> VecdbError:
    """A DuckDB exception as the vecdb error a caller can act on; the one mapping of them.

    ``what`` names the caller's input that DuckDB rejected (``"where"``, ``"write"``); it
    prefixes the message, and a binder error in it (an unknown column in a predicate) is an
    :class:`InvalidArgumentError`. Without ``what`` the failing text is a SQL statement the
    caller wrote, DuckDB's message is kept as it is, and a binder error is a :class:`SQLError`.

    >>> import duckdb
    >>> con = duckdb.connect()
    >>> _ = con.execute("CREATE TABLE t (id BIGINT PRIMARY KEY, x INTEGER NOT NULL)")
    >>> def fails(sql, what=None):
    ...     try:
    ...         con.execute(sql)
    ...     except duckdb.Error as e:
    ...         return type(from_duckdb(e, what)).__name__
    >>> fails("INSERT INTO t VALUES (1, NULL)"), fails("SELECT * FROM nope")
    ('InvalidArgumentError', 'NotFoundError')
    >>> bad = "SELECT id FROM t WHERE (nope = 1)"
    >>> fails(bad), fails(bad, "where")
    ('SQLError', 'InvalidArgumentError')
    """
    text = str(exc)
    msg = text if what is None else f"{what}: {text}"
    low = text.lower()
    if isinstance(exc, duckdb.ParserException):
        return SQLParseError(msg, errors=[])
    if "cannot cast list with length" in low or (
        isinstance(exc, duckdb.BinderException) and "array_" in low and "float[" in low
    ):
        return DimensionMismatchError(msg)
    if isinstance(exc, duckdb.CatalogException):
        if "already exists" in low:
            return AlreadyExistsError(msg)
        return NotFoundError(msg)
    if isinstance(exc, duckdb.ConstraintException):
        if "duplicate key" in low:
            return AlreadyExistsError(msg)
        return InvalidArgumentError(msg)  # NOT NULL, CHECK, foreign key
    if isinstance(exc, duckdb.PermissionException):
        return PermissionDeniedError(msg)
    if isinstance(exc, duckdb.OutOfMemoryException):
        return ResourceExhaustedError(msg)
    if "no space left" in low or "disk full" in low or "not enough space" in low:
        return ResourceExhaustedError(
            f"{msg} -- the disk under the data directory is full: free space and retry; "
            "nothing of this call was written",
            limit="disk",
        )
    if "database has been invalidated" in low or isinstance(exc, duckdb.FatalException):
        return ServiceUnavailableError(
            f"{msg} -- DuckDB stopped this database after an unrecoverable error; fix the "
            "cause (e.g. free disk space) and reopen it (restart `vecdb serve`): every "
            "acknowledged write is in its WAL and is replayed on open"
        )
    if isinstance(exc, duckdb.IOException):
        return ServiceUnavailableError(f"{msg} -- an I/O error in the data directory")
    if isinstance(exc, duckdb.InternalException):
        return InternalError(msg)
    if isinstance(
        exc,
        (duckdb.ConversionException, duckdb.InvalidInputException, duckdb.TypeMismatchException),
    ):
        return InvalidArgumentError(msg)
    if isinstance(exc, duckdb.BinderException) and what is not None:
        return InvalidArgumentError(msg)
    if isinstance(exc, duckdb.Error):
        return SQLError(msg)
    return InternalError(msg)


def _all_subclasses(cls: type[VecdbError]) -> list[type[VecdbError]]:
    out = [cls]
    for sub in cls.__subclasses__():
        out.extend(_all_subclasses(sub))
    return out


#: wire code -> class, derived from the classes so that it cannot drift.
ERROR_TYPES: dict[str, type[VecdbError]] = {c.code: c for c in _all_subclasses(VecdbError)}
ERROR_TYPES["INTERNAL"] = InternalError


def error_from_code(code: str, message: str, **details: Any) -> VecdbError:
    """Rebuild the error a server sent: the class named by ``code`` (InternalError if unknown).

    >>> error_from_code("NOT_FOUND", "no such collection").__class__.__name__
    'NotFoundError'
    """
    cls = ERROR_TYPES.get(code, InternalError)
    return cls(message, **details)
