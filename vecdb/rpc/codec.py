"""Python values <-> ``vecdb.rpc.v1`` messages, shared by the server and the remote client.

Vectors travel as packed little-endian float32; other values as typed :class:`Value`
messages, so that an ``int`` stays an ``int``, a ``date`` a ``date`` and a numpy vector a
float32 array across the wire.

>>> import numpy as np
>>> vb = pack_vectors(np.eye(2, dtype=np.float32))
>>> vb.dim, vb.n, unpack_vectors(vb).tolist()
(2, 2, [[1.0, 0.0], [0.0, 1.0]])
>>> value_from_pb(value_to_pb({"year": 2021, "tags": ["a"]}))
{'year': 2021, 'tags': ['a']}
"""

from __future__ import annotations

import datetime as _dt
import decimal
import io
import json
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from vecdb.errors import InvalidArgumentError
from vecdb.rpc.v1 import vecdb_pb2 as pb

__all__ = [
    "pack_vectors",
    "unpack_vectors",
    "as_float32_matrix",
    "ids_to_pb",
    "ids_from_pb",
    "value_to_pb",
    "value_from_pb",
    "row_to_pb",
    "row_from_pb",
    "map_to_pb",
    "map_from_pb",
    "params_to_pb",
    "params_from_pb",
    "include_to_pb",
    "include_from_pb",
    "table_to_ipc_messages",
    "ipc_messages_to_table",
    "plan_to_json",
    "plan_from_json",
]

_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1


# --------------------------------------------------------------------------- vectors


def as_float32_matrix(vectors: Any, what: str = "vectors") -> np.ndarray:
    """``vectors`` as a C-contiguous float32 array; raises InvalidArgumentError if it is not
    numeric or is ragged.

    >>> as_float32_matrix([[1, 2]]).dtype
    dtype('float32')
    """
    try:
        with np.errstate(over="ignore"):  # out-of-range floats become inf; the engine rejects
            arr = np.asarray(vectors, dtype=np.float32)
    except (ValueError, TypeError) as e:
        raise InvalidArgumentError(f"{what} must be numeric and rectangular: {e}") from None
    return np.ascontiguousarray(arr)


def pack_vectors(arr: np.ndarray, out: pb.VectorBatch | None = None) -> pb.VectorBatch:
    """A 1-D (one vector) or 2-D float array as a packed :class:`VectorBatch`."""
    out = pb.VectorBatch() if out is None else out
    a = np.asarray(arr)
    if a.ndim == 1:
        a = a.reshape(1, -1)
    if a.ndim != 2:
        raise InvalidArgumentError(f"vectors must be 1-D or 2-D, got {a.ndim} dimensions")
    a = np.ascontiguousarray(a, dtype="<f4")
    out.dim = int(a.shape[1])
    out.n = int(a.shape[0])
    out.packed_f32 = a.tobytes()
    return out


def unpack_vectors(vb: pb.VectorBatch) -> np.ndarray:
    """A :class:`VectorBatch` as a writable float32 array of shape ``(n, dim)``."""
    dim = int(vb.dim)
    which = vb.WhichOneof("encoding")
    if which == "floats":
        flat = np.asarray(vb.floats.values, dtype=np.float32)
    elif which == "packed_f32":
        raw = vb.packed_f32
        if len(raw) % 4:
            raise InvalidArgumentError(f"packed_f32 has {len(raw)} bytes, not a multiple of 4")
        flat = np.frombuffer(raw, dtype="<f4").astype(np.float32, copy=True)
    else:
        flat = np.zeros(0, dtype=np.float32)
    n = int(vb.n) if vb.n or dim == 0 else (flat.size // dim if dim else 0)
    if n * dim != flat.size:
        raise InvalidArgumentError(
            f"vector batch holds {flat.size} floats, expected n={n} x dim={dim}"
        )
    return flat.reshape(n, dim)


# --------------------------------------------------------------------------- ids


def ids_to_pb(ids: Any, out: pb.Ids | None = None) -> pb.Ids:
    """A list/array of int or str ids as :class:`Ids`."""
    out = pb.Ids() if out is None else out
    if isinstance(ids, np.ndarray):
        if ids.dtype.kind in "iu":
            if ids.dtype.kind == "u" and ids.size and ids.max() > _I64_MAX:
                raise InvalidArgumentError(
                    f"id {int(ids.max())} is over 2**63-1; ids must fit in a signed 64-bit "
                    "integer (they are not wrapped around to negative ids)"
                )
            out.ints.values.extend(ids.astype(np.int64).tolist())
            out.ints.SetInParent()
            return out
        ids = ids.tolist()
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
        raise InvalidArgumentError(f"ids must be a list of int or str, got {type(ids).__name__}")
    ids = list(ids)
    if all(isinstance(i, str) for i in ids) and ids:
        out.strs.values.extend(ids)
        return out
    try:
        values = [_as_int_id(i) for i in ids]
    except (TypeError, ValueError, OverflowError):
        raise InvalidArgumentError("ids must be all int or all str") from None
    out.ints.SetInParent()
    out.ints.values.extend(values)
    return out


def _as_int_id(i: Any) -> int:
    if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)):
        raise TypeError(type(i).__name__)
    v = int(i)
    if not _I64_MIN <= v <= _I64_MAX:
        raise OverflowError(v)
    return v


def ids_from_pb(ids: pb.Ids) -> list[Any]:
    """:class:`Ids` as a Python list of int or str."""
    kind = ids.WhichOneof("kind")
    if kind == "strs":
        return list(ids.strs.values)
    if kind == "ints":
        return list(ids.ints.values)
    return []


# --------------------------------------------------------------------------- values


def value_to_pb(v: Any, out: pb.Value | None = None) -> pb.Value:
    """One Python value as a typed :class:`Value` (raises InvalidArgumentError if unsupported)."""
    out = pb.Value() if out is None else out
    if v is None:
        out.null_value = True
    elif isinstance(v, (bool, np.bool_)):
        out.bool_value = bool(v)
    elif isinstance(v, (int, np.integer)):
        iv = int(v)
        if _I64_MIN <= iv <= _I64_MAX:
            out.int_value = iv
        else:
            out.big_int_value = str(iv)
    elif isinstance(v, (float, np.floating)):
        out.float_value = float(v)
    elif isinstance(v, str):
        out.string_value = v
    elif isinstance(v, (bytes, bytearray, memoryview)):
        out.bytes_value = bytes(v)
    elif isinstance(v, np.ndarray):
        if v.ndim == 1 and v.dtype.kind == "f":
            pack_vectors(v, out.vector_value)
        else:
            lst = out.list_value
            lst.SetInParent()
            for item in v:
                value_to_pb(item, lst.values.add())
    elif isinstance(v, Mapping):
        map_to_pb(v, out.map_value)
    elif isinstance(v, (list, tuple)):
        lst = out.list_value
        lst.SetInParent()
        for item in v:
            value_to_pb(item, lst.values.add())
    elif isinstance(v, _dt.datetime):
        out.timestamp_value = v.isoformat()
    elif isinstance(v, _dt.date):
        out.date_value = v.isoformat()
    elif isinstance(v, _dt.time):
        out.time_value = v.isoformat()
    elif isinstance(v, decimal.Decimal):
        out.decimal_value = str(v)
    elif isinstance(v, uuid.UUID):
        out.uuid_value = str(v)
    else:
        raise InvalidArgumentError(f"cannot send a value of type {type(v).__name__}")
    return out


def value_from_pb(v: pb.Value) -> Any:
    """A :class:`Value` back as the Python value it was made from."""
    kind = v.WhichOneof("kind")
    if kind is None or kind == "null_value":
        return None
    if kind == "vector_value":
        arr = unpack_vectors(v.vector_value)
        return arr[0] if arr.shape[0] == 1 else arr.reshape(-1)
    if kind == "list_value":
        return [value_from_pb(x) for x in v.list_value.values]
    if kind == "map_value":
        return map_from_pb(v.map_value)
    if kind == "date_value":
        return _dt.date.fromisoformat(v.date_value)
    if kind == "timestamp_value":
        return _dt.datetime.fromisoformat(v.timestamp_value)
    if kind == "time_value":
        return _dt.time.fromisoformat(v.time_value)
    if kind == "decimal_value":
        return decimal.Decimal(v.decimal_value)
    if kind == "uuid_value":
        return uuid.UUID(v.uuid_value)
    if kind == "big_int_value":
        return int(v.big_int_value)
    return getattr(v, kind)


def map_to_pb(m: Mapping[str, Any], out: pb.ValueMap | None = None) -> pb.ValueMap:
    """A dict with str keys as an ordered :class:`ValueMap`."""
    out = pb.ValueMap() if out is None else out
    out.SetInParent()
    for key, val in m.items():
        if not isinstance(key, str):
            raise InvalidArgumentError(f"keys must be str, got {type(key).__name__}")
        f = out.fields.add()
        f.name = key
        value_to_pb(val, f.value)
    return out


def map_from_pb(m: pb.ValueMap) -> dict[str, Any]:
    """A :class:`ValueMap` as a dict, in order."""
    return {f.name: value_from_pb(f.value) for f in m.fields}


def row_to_pb(row: Mapping[str, Any] | None, out: pb.Row | None = None) -> pb.Row:
    """A row dict (or None) as a :class:`Row`."""
    out = pb.Row() if out is None else out
    if row is None:
        out.is_null = True
        return out
    if not isinstance(row, Mapping):
        raise InvalidArgumentError(f"each row must be a dict, got {type(row).__name__}")
    for key, val in row.items():
        if not isinstance(key, str):
            raise InvalidArgumentError(f"column names must be str, got {type(key).__name__}")
        f = out.fields.add()
        f.name = key
        value_to_pb(val, f.value)
    return out


def row_from_pb(row: pb.Row) -> dict[str, Any] | None:
    """A :class:`Row` as a dict, or None."""
    if row.is_null:
        return None
    return {f.name: value_from_pb(f.value) for f in row.fields}


# --------------------------------------------------------------------------- params, include


def params_to_pb(params: Any, out: pb.Params | None = None) -> pb.Params | None:
    """SQL parameters (dict for ``$name``, list for ``?``) as :class:`Params`; None -> None."""
    if params is None:
        return None
    out = pb.Params() if out is None else out
    if isinstance(params, Mapping):
        map_to_pb(params, out.named)
    elif isinstance(params, (list, tuple)):
        out.positional.SetInParent()
        for p in params:
            value_to_pb(p, out.positional.values.add())
    else:
        raise InvalidArgumentError(f"params must be a dict or a list, got {type(params).__name__}")
    return out


def params_from_pb(p: pb.Params) -> dict[str, Any] | list[Any] | None:
    """:class:`Params` back as a dict, a list or None."""
    kind = p.WhichOneof("kind")
    if kind == "named":
        return map_from_pb(p.named)
    if kind == "positional":
        return [value_from_pb(v) for v in p.positional.values]
    return None


def include_to_pb(include: Any, out: pb.Include) -> None:
    """Fill ``out`` from an ``include`` argument (``"*"`` or a list of column names)."""
    if include == "*":
        out.all = True
    elif isinstance(include, str):
        out.columns.append(include)
    else:
        try:
            cols = list(include)
        except TypeError:
            raise InvalidArgumentError("include must be '*' or a list of column names") from None
        if not all(isinstance(c, str) for c in cols):
            raise InvalidArgumentError("include must be '*' or a list of column names")
        out.SetInParent()
        out.columns.extend(cols)


def include_from_pb(msg: Any) -> Any:
    """The ``include`` argument of a request that has an ``include`` field (None if unset)."""
    if not msg.HasField("include"):
        return None
    inc = msg.include
    if inc.all:
        return "*"
    return list(inc.columns)


# --------------------------------------------------------------------------- arrow


def table_to_ipc_messages(table: Any, target_bytes: int = 1 << 20) -> Iterator[bytes]:
    """Split an Arrow table into self-contained IPC streams of about ``target_bytes`` each.

    Always yields at least one stream (the schema), even for an empty table.
    """
    import pyarrow as pa

    n = table.num_rows
    per_row = max(1, table.nbytes // n) if n else 1
    chunk = max(1, target_bytes // per_row)
    batches = table.to_batches(max_chunksize=chunk) if n else []
    if not batches:
        batches = [None]
    for batch in batches:
        sink = io.BytesIO()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            if batch is not None:
                writer.write_batch(batch)
        yield sink.getvalue()


def ipc_messages_to_table(messages: Sequence[bytes]) -> Any:
    """Concatenate IPC streams made by :func:`table_to_ipc_messages` into one table."""
    import pyarrow as pa

    tables = [pa.ipc.open_stream(pa.py_buffer(m)).read_all() for m in messages if m]
    if not tables:
        return pa.table({})
    if len(tables) == 1:
        return tables[0]
    return pa.concat_tables(tables)


def plan_to_json(plan: Any) -> str:
    """A Result's plan as JSON text ('' when there is none)."""
    if plan is None:
        return ""
    return json.dumps(plan, default=_json_default)


def plan_from_json(text: str) -> Any:
    """The plan back from :func:`plan_to_json`."""
    return json.loads(text) if text else None


def _json_default(o: Any) -> Any:
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, (set, frozenset)):
        return sorted(o, key=repr)
    return str(o)


# ---- text (#12) -------------------------------------------------------------------------------


def documents_to_pb(documents: Any, out: Any) -> None:
    """``documents`` (a list of str or None) into an UpsertRequest's documents fields."""
    if documents is None:
        return
    docs = list(documents)
    out.documents.extend("" if d is None else d for d in docs)
    if any(d is None for d in docs):
        out.document_null.extend(d is None for d in docs)


def documents_from_pb(req: Any) -> list[Any] | None:
    """An UpsertRequest's documents as a list of str or None (None when it has none)."""
    if not req.documents:
        return None
    docs: list[Any] = list(req.documents)
    if req.document_null:
        docs = [None if null else d for d, null in zip(docs, req.document_null)]
    return docs


def json_or_none(value: Any) -> str:
    """An option (fusion, spec dict) as JSON for a string field; None -> ""."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value)


def fusion_from_pb(text: str) -> Any:
    """A fusion field back: "" -> None, JSON object -> dict, else the method name."""
    if not text:
        return None
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except ValueError as e:
            raise InvalidArgumentError(f"fusion is not valid JSON: {e}") from None
    return text


def fulltext_from_pb(text: str) -> Any:
    """A create request's fulltext field: "" -> False, "true" -> True, JSON -> options."""
    if not text or text.strip().lower() == "false":
        return False
    if text.strip().lower() == "true":
        return True
    try:
        return json.loads(text)
    except ValueError as e:
        raise InvalidArgumentError(f"fulltext is not 'true' or a JSON object: {e}") from None
