"""Every check of what callers pass: names, specs, ids, vectors, tables, k and knobs.

What callers pass (numpy, lists, pandas, Arrow) becomes checked arrays here, once, before
anything is written; each failure names what to change. The engine passes checked values on.

>>> as_queries([3, 4], dim=2, metric="cosine")[0].tolist()
[[0.6000000238418579, 0.800000011920929]]
>>> check_k(0)
Traceback (most recent call last):
...
vecdb.errors.InvalidArgumentError: k must be an integer from 1 to 10000, got 0
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import numpy as np
import pyarrow as pa

from vecdb.errors import (
    DimensionMismatchError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
)
from vecdb.index import INDEX_TYPES
from vecdb.sql import Predicate, compile_predicate
from vecdb.sql.ddl import check_constraint
from vecdb.sql.verify import canonical_type
from vecdb.types import ID_TYPES, METRICS, CollectionSpec

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
MAX_K = 10_000


def check_name(kind: str, name: Any) -> str:
    """A collection or column name: an identifier of at most 63 characters."""
    if not isinstance(name, str) or not NAME_RE.match(name) or name.lower().startswith("_vecdb"):
        raise InvalidArgumentError(
            f"invalid {kind} name {name!r}: use letters, digits and underscores, starting with "
            "a letter or underscore, at most 63 characters, not starting with '_vecdb'"
        )
    return name


def check_spec(
    name: Any,
    dim: Any,
    metric: Any,
    index: Any,
    index_params: Any,
    columns: Any,
    id_type: Any,
    constraints: Any = None,
) -> CollectionSpec:
    """A collection's definition, checked whole (index parameters included).

    >>> check_spec("d", 4, "l2", "ivf", {"nlist": 8}, None, "int").index_params["nlist"]
    8
    """
    check_name("collection", name)
    if isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= 65_536:
        raise InvalidArgumentError(f"dim must be an integer from 1 to 65536, got {dim!r}")
    metric, index, params = check_index(metric, index, index_params)
    if id_type not in ID_TYPES:
        raise InvalidArgumentError(f"id_type must be 'int' or 'str', got {id_type!r}")
    cols: dict[str, str] = {}
    for cname, ctype in (columns or {}).items():
        check_name("column", cname)
        if cname.lower() in ("id", "vec"):
            raise InvalidArgumentError(
                f"column name {cname!r} is reserved for the id and the vector"
            )
        if not isinstance(ctype, str) or not ctype.strip():
            raise InvalidArgumentError(f"column {cname!r} needs a DuckDB type string")
        # exactly one type as DuckDB reads it, spelled as DuckDB prints it: the caller's
        # text never reaches the CREATE TABLE
        cols[cname] = canonical_type(ctype.strip())
    return CollectionSpec(
        name, dim, metric, index, params, cols, id_type, constraints=_constraints(constraints, cols)
    )


def _constraints(constraints: Any, cols: dict[str, str]) -> dict[str, str]:
    """Column constraints, each checked and regenerated (see ``check_constraint``)."""
    if constraints is None:
        return {}
    if not isinstance(constraints, dict):
        raise InvalidArgumentError("constraints must be a dict of column -> SQL constraints")
    out = {}
    for cname, text in constraints.items():
        if cname not in cols:
            raise InvalidArgumentError(
                f"constraints name {cname!r}, which is not one of the columns {list(cols)}"
            )
        out[cname] = check_constraint(text, cols[cname])
    return out


def check_index(metric: Any, index: Any, params: Any) -> tuple[str, str, dict[str, Any]]:
    """A metric, an index kind and its parameters (all defaults filled in)."""
    if metric not in METRICS:
        raise InvalidArgumentError(f"metric must be one of {list(METRICS)}, got {metric!r}")
    if index not in INDEX_TYPES:
        raise InvalidArgumentError(f"index must be one of {sorted(INDEX_TYPES)}, got {index!r}")
    if params is not None and not isinstance(params, dict):
        raise InvalidArgumentError("index_params must be a dict")
    return metric, index, INDEX_TYPES[index].check_params(params or {})


def check_where(where: Any, confined: bool) -> str:
    """A ``where`` predicate as DuckDB text regenerated from its checked parse tree: exactly
    one SQL expression, never pasted; under ``confined`` it may not reach files, the network,
    settings or internals (see :mod:`vecdb.sql.predicate`).

    >>> check_where("year > 2020 -- recent", confined=True)
    'year > 2020'
    >>> check_where("getenv('HOME') = 'x'", confined=True)
    Traceback (most recent call last):
    ...
    vecdb.errors.PermissionDeniedError: function getenv is not allowed in confined SQL
    """
    if isinstance(where, Predicate):  # checked already (the SQL planner pushes these)
        if confined and not where.confined:
            raise PermissionDeniedError("a predicate not checked for confined SQL; refused")
        return where.sql
    if isinstance(where, str):
        check_text(where, "where")
    return compile_predicate(where, confined=confined).sql


def check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= MAX_K:
        raise InvalidArgumentError(f"k must be an integer from 1 to {MAX_K}, got {k!r}")
    return int(k)


def check_knob(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidArgumentError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def search_knob(index_knob: str | None, ef: Any, nprobe: Any) -> int | None:
    """The per-call accuracy knob for an index whose knob is ``index_knob`` ("ef" for HNSW,
    "nprobe" for IVF); both are checked, the one the index does not use is ignored.

    >>> search_knob("ef", 32, None), search_knob("nprobe", 32, 4), search_knob(None, 5, None)
    (32, 4, None)
    """
    knobs = {"ef": check_knob("ef", ef), "nprobe": check_knob("nprobe", nprobe)}
    return knobs.get(index_knob) if index_knob else None


def check_include(include: Any, columns: dict[str, str]) -> list[str]:
    """The columns to return: ``None`` (none), ``"*"`` (all), a name, or a list of names."""
    if include is None:
        return []
    if include == "*":
        return list(columns)
    if isinstance(include, str):
        include = [include]
    try:
        include = list(include)
    except TypeError:
        raise InvalidArgumentError("include must be '*', a column name or a list of them") from None
    out = []
    for c in include:
        if not isinstance(c, str):
            raise InvalidArgumentError(
                f"include must be '*', a column name or a list of them; got {c!r} in the list"
            )
        if c not in columns:
            raise NotFoundError(
                f"unknown column {c!r} in include; the collection's columns are {list(columns)}"
            )
        out.append(c)
    return out


def as_queries(query: Any, dim: int, metric: str) -> tuple[np.ndarray, bool]:
    """Query vectors as a float32 ``(m, dim)`` matrix (unit rows under cosine), and whether
    a single 1-D query was passed."""
    if isinstance(query, np.ndarray) and query.dtype == np.float32:
        arr = query
    else:
        try:
            arr = np.asarray(query, dtype=np.float32)
        except (TypeError, ValueError) as e:
            raise InvalidArgumentError(
                f"query must be a vector of floats or a matrix of them ({e})"
            ) from e
    single = arr.ndim == 1
    q = as_matrix(arr[None, :] if single else arr, dim, "query")
    return (normalize(q, "query") if metric == "cosine" else q), single


def as_matrix(vectors: Any, dim: int, what: str = "vectors") -> np.ndarray:
    """A C-contiguous float32 ``(n, dim)`` matrix of finite values."""
    if isinstance(vectors, np.ndarray) and vectors.dtype == np.float32:
        arr = vectors
    else:
        try:
            arr = np.asarray(vectors, dtype=np.float32)
        except (TypeError, ValueError) as e:
            raise InvalidArgumentError(
                f"{what} must be numbers: a numpy array or a list of lists of floats ({e})"
            ) from e
    if arr.ndim == 1 and what == "vectors" and arr.size == 0:
        arr = arr.reshape(0, dim)
    if arr.ndim != 2:
        raise InvalidArgumentError(
            f"{what} must be 2-dimensional (n, {dim}), got shape {arr.shape}"
        )
    if arr.shape[1] != dim:
        raise DimensionMismatchError(
            f"{what} have {arr.shape[1]} dimensions but the collection has dim={dim}; "
            f"pass vectors of length {dim}"
        )
    if not np.isfinite(arr).all():
        bad = int(np.flatnonzero(~np.isfinite(arr).all(axis=1))[0])
        raise InvalidArgumentError(
            f"{what}[{bad}] contains NaN or infinity; every component must be a finite float"
        )
    return np.ascontiguousarray(arr)


def normalize(arr: np.ndarray, what: str = "vectors") -> np.ndarray:
    """Unit rows (for cosine); a zero row is an error, since its cosine is undefined."""
    norms = np.sqrt(np.einsum("ij,ij->i", arr, arr))  # no (n, dim) temporary, unlike norm()
    if (norms == 0).any():
        bad = int(np.flatnonzero(norms == 0)[0])
        raise InvalidArgumentError(
            f"{what}[{bad}] is the zero vector, which has no cosine distance; "
            "store a non-zero vector or use metric='l2'"
        )
    return arr / norms[:, None]


def as_ids(ids: Any, id_type: str) -> np.ndarray:
    """Ids as int64 (``id_type="int"``) or an object array of str; no duplicates."""
    if ids is None:
        raise InvalidArgumentError("ids are required: pass a list of ids, one per vector")
    if isinstance(ids, (str, bytes, int, np.integer)):
        raise InvalidArgumentError("ids must be a list or array of ids, not a single value")
    if isinstance(ids, pa.ChunkedArray | pa.Array):
        ids = ids.to_pylist()
    if id_type == "int":
        if isinstance(ids, np.ndarray) and ids.dtype.kind in "iu":
            if ids.dtype.kind == "u" and ids.size and ids.max() > np.iinfo(np.int64).max:
                raise InvalidArgumentError(
                    f"id {int(ids.max())} is over 2**63-1; ids must fit in a signed 64-bit "
                    "integer (they are not wrapped around to negative ids)"
                )
            arr = ids.astype(np.int64)
        else:
            items = list(ids)
            for x in items:
                if isinstance(x, bool) or not isinstance(x, (int, np.integer)):
                    raise InvalidArgumentError(
                        f"id {x!r} is not an integer; this collection has integer ids "
                        "(create it with id_type='str' for string ids)"
                    )
            try:
                arr = np.asarray(items, dtype=np.int64).reshape(-1)
            except OverflowError as e:
                raise InvalidArgumentError("ids must fit in a signed 64-bit integer") from e
    else:
        items = list(ids.tolist() if isinstance(ids, np.ndarray) else ids)
        for x in items:
            if not isinstance(x, str) or not x:
                raise InvalidArgumentError(
                    f"id {x!r} is not a non-empty string; this collection has string ids"
                )
            check_text(x, "id")
        arr = np.empty(len(items), dtype=object)
        arr[:] = items
    uniq, counts = np.unique(arr, return_counts=True)
    if len(uniq) != len(arr):
        dup = uniq[counts > 1][:5].tolist()
        raise InvalidArgumentError(
            f"duplicate ids in one batch: {dup}; each id may appear once per call"
        )
    return arr


def table_to_parts(table: Any, columns: dict[str, str]) -> tuple[Any, Any, dict[str, pa.Array]]:
    """Split a pandas/Arrow/Polars table into ids, vectors and column arrays."""
    if not isinstance(table, pa.Table):
        if hasattr(table, "to_arrow"):  # polars
            table = table.to_arrow()
        else:
            try:
                table = pa.Table.from_pandas(table, preserve_index=False)
            except Exception as e:  # pandas raises many kinds here
                raise InvalidArgumentError(
                    f"cannot read the table ({e}); pass a pandas DataFrame, a pyarrow Table "
                    "or a Polars DataFrame with 'id' and 'vec' columns"
                ) from e
    names = table.column_names
    for need in ("id", "vec"):
        if need not in names:
            raise InvalidArgumentError(
                f"the table has no '{need}' column; it needs 'id' and 'vec' columns (has {names})"
            )
    vec = table.column("vec").combine_chunks()
    if pa.types.is_fixed_size_list(vec.type) or pa.types.is_list(vec.type):
        if vec.null_count:
            raise InvalidArgumentError("the 'vec' column has nulls; every row needs a vector")
        if pa.types.is_fixed_size_list(vec.type):
            flat = vec.values.to_numpy(zero_copy_only=False)
            vectors: Any = flat.reshape(len(vec), vec.type.list_size)
        else:
            vectors = vec.to_pylist()
    else:
        vectors = vec.to_pylist()
    cols = {}
    for name in names:
        if name in ("id", "vec"):
            continue
        if name not in columns:
            raise NotFoundError(
                f"the table has a column {name!r} that the collection does not have; "
                f"its columns are {list(columns)}"
            )
        cols[name] = table.column(name).combine_chunks()
    return table.column("id"), vectors, cols


def check_text(s: str, what: str) -> str:
    """``s`` if it is valid Unicode text (encodable as UTF-8: no lone surrogate).

    >>> check_text("ok", "where")
    'ok'
    >>> check_text("\\ud800", "where")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    vecdb.errors.InvalidArgumentError: where has a lone surrogate '\\ud800' at position 0; ...
    """
    if not s.isascii():
        try:
            s.encode("utf-8")
        except UnicodeEncodeError as e:
            raise InvalidArgumentError(
                f"{what} has a lone surrogate {s[e.start]!r} at position {e.start}; text must "
                "be valid Unicode (decode bytes with errors='replace' or drop it)"
            ) from None
    return s


_INT_TYPES = {
    "TINYINT", "SMALLINT", "INTEGER", "INT", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
    "UINTEGER", "UBIGINT", "UHUGEINT", "INT1", "INT2", "INT4", "INT8", "SHORT", "LONG",
}  # fmt: skip
_FLOAT_TYPES = {"FLOAT", "DOUBLE", "REAL", "FLOAT4", "FLOAT8", "DECIMAL", "NUMERIC"}
_TEXT_TYPES = {"VARCHAR", "TEXT", "STRING", "CHAR", "BPCHAR"}
_NONE = type(None)


def _value_error(value: Any, sql_type: str, where: str) -> str | None:
    """Why ``value`` does not fit a column of ``sql_type`` (None when it fits, or when the
    type is one DuckDB checks well itself: dates, JSON, structs ...)."""
    if value is None:
        return None
    t = sql_type.strip().upper()
    if t.endswith("[]"):
        if not isinstance(value, (list, tuple, np.ndarray)):
            return f"is {type(value).__name__}, not a list"
        for item in value:
            why = _value_error(item, t[:-2], where)
            if why:
                return f"has an element that {why}"
        return None
    base = t.split("(", 1)[0].strip()
    if base in _TEXT_TYPES:
        if not isinstance(value, str):
            return f"is {type(value).__name__}, not a string"
        check_text(value, where)
    elif base in _INT_TYPES:
        integral = isinstance(value, (float, np.floating)) and float(value).is_integer()
        if isinstance(value, (bool, np.bool_)) or not (
            isinstance(value, (int, np.integer)) or integral
        ):
            return f"is {value!r}, not an integer"
    elif base in _FLOAT_TYPES:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
            return f"is {value!r}, not a number"
    elif base in ("BOOLEAN", "BOOL"):
        if not isinstance(value, (bool, np.bool_)):
            return f"is {value!r}, not true/false"
    elif isinstance(value, str):
        check_text(value, where)
    return None


def rows_to_columns(rows: Any, n: int, columns: dict[str, str]) -> dict[str, list[Any]]:
    """A list of row dicts -> column lists (missing keys are NULL).

    Each value must fit its column's type as it is: a dict is not text and 2.7 is not an
    integer (nothing is converted silently).

    >>> rows_to_columns([{"n": 2}, {}], 2, {"n": "INTEGER"})
    {'n': [2, None]}
    >>> rows_to_columns([{"n": 2.7}], 1, {"n": "INTEGER"})
    Traceback (most recent call last):
    ...
    vecdb.errors.InvalidArgumentError: rows[0]['n'] is 2.7, not an integer; column 'n' is INTEGER
    """
    if rows is None:
        return {}
    if isinstance(rows, dict):
        raise InvalidArgumentError("rows must be a list of dicts, one per vector")
    rows = list(rows)
    if len(rows) != n:
        raise InvalidArgumentError(f"got {len(rows)} rows for {n} vectors; pass one row per id")
    out: dict[str, list[Any]] = {}
    for i, row in enumerate(rows):
        if row is None:
            continue
        if not isinstance(row, dict):
            raise InvalidArgumentError(f"rows[{i}] is {type(row).__name__}, not a dict")
        for key in row:
            if key not in columns:
                raise NotFoundError(
                    f"rows[{i}] has an unknown column {key!r}; the collection's columns are "
                    f"{list(columns)}"
                )
            if key not in out:
                out[key] = [None] * n
    for i, row in enumerate(rows):
        if row:
            for key, value in row.items():
                out[key][i] = value
    for key, values in out.items():
        _check_column(key, values, columns[key])
    return out


def is_table(value: Any) -> bool:
    """Whether ``value`` is a pandas/Arrow/Polars table (rather than a list of ids)."""
    return (
        value is not None
        and not isinstance(value, (list, tuple, np.ndarray, range))
        and (hasattr(value, "columns") or hasattr(value, "column_names"))
    )


def as_batch(
    ids: Any, vectors: Any, rows: Any, spec: CollectionSpec
) -> tuple[np.ndarray, np.ndarray, pa.Table]:
    """A write checked whole: ids, the float32 matrix, and the Arrow table of the rows
    (``id``, every column, ``vec``). ``ids`` may instead be a table with id and vec columns.

    >>> spec = CollectionSpec("c", 2, "l2", "exact", {}, {"y": "INTEGER"}, "int")
    >>> ids, mat, batch = as_batch([1, 2], [[0, 1], [1, 0]], [{"y": 5}, {}], spec)
    >>> batch.column_names, batch.column("y").to_pylist()
    (['id', 'y', 'vec'], [5, None])
    """
    table_cols: dict[str, Any] = {}
    if is_table(ids):
        if vectors is not None or rows is not None:
            raise InvalidArgumentError("pass either a table or ids/vectors/rows, not both")
        ids, vectors, table_cols = table_to_parts(ids, spec.columns)
    id_arr = as_ids(ids, spec.id_type)
    if vectors is None:
        raise InvalidArgumentError("vectors are required: one vector per id")
    mat = as_matrix(vectors, spec.dim)
    if len(mat) != len(id_arr):
        raise InvalidArgumentError(
            f"got {len(id_arr)} ids but {len(mat)} vectors; pass one vector per id"
        )
    cols = table_cols or rows_to_columns(rows, len(id_arr), spec.columns)
    ids_arrow = pa.array(id_arr.tolist()) if spec.id_type == "str" else plain_arrow(id_arr)
    arrays: dict[str, Any] = {"id": ids_arrow}
    for name, ctype in spec.columns.items():
        value = cols.get(name)
        if value is None and name in spec.constraints:
            continue  # no row gives it: DuckDB fills its DEFAULT (or NULL)
        if value is None:
            arrays[name] = pa.nulls(len(id_arr))
        elif isinstance(value, pa.Array):
            arrays[name] = value
        else:
            try:
                arrays[name] = pa.array(value)
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as e:
                raise InvalidArgumentError(
                    f"column {name!r} ({ctype}) has values of mixed or unsupported types: {e}"
                ) from e
    arrays["vec"] = pa.FixedSizeListArray.from_arrays(plain_arrow(mat.reshape(-1)), spec.dim)
    return id_arr, mat, pa.table(arrays)


def plain_arrow(values: np.ndarray) -> pa.Array:
    """A 1-D numpy array of a fixed-width number type as Arrow, without a copy.

    Unlike ``pa.array``, this does not import pandas: ``pa.array`` first asks whether its
    argument is a pandas object, which imports pandas when it is installed (~45 MiB of RSS
    on a first write that needs nothing from it).

    >>> plain_arrow(np.arange(3)).to_pylist()
    [0, 1, 2]
    """
    values = np.ascontiguousarray(values)
    kind = pa.from_numpy_dtype(values.dtype)
    return pa.Array.from_buffers(kind, len(values), [None, pa.py_buffer(values)])


def _fits_plainly(values: list[Any], t: str) -> bool:
    """The fast path (C-speed set/map/join): every value is None or of the plain Python type
    for type ``t`` (upper case), text ASCII. False means "look closer", not "wrong"."""
    types = set(map(type, values))
    if t.endswith("[]"):
        if not types <= {list, _NONE}:
            return False
        lists = filter(None, values) if _NONE in types else values
        return _fits_plainly(list(itertools.chain.from_iterable(lists)), t[:-2])
    base = t.split("(", 1)[0].strip()
    if base in _TEXT_TYPES:
        if not types <= {str, _NONE}:
            return False
        return "".join(filter(None, values) if _NONE in types else values).isascii()
    if base in _INT_TYPES:
        return types <= {int, _NONE}
    if base in _FLOAT_TYPES:
        return types <= {int, float, _NONE}
    if base in ("BOOLEAN", "BOOL"):
        return types <= {bool, _NONE}
    return str not in types or "".join(v for v in values if type(v) is str).isascii()


def _check_column(name: str, values: list[Any], sql_type: str) -> None:
    """Raise InvalidArgumentError naming the first row whose value does not fit."""
    if _fits_plainly(values, sql_type.strip().upper()):
        return
    for i, value in enumerate(values):  # the slow path finds the first bad value, if any
        where = f"rows[{i}][{name!r}]"
        why = _value_error(value, sql_type, where)
        if why:
            raise InvalidArgumentError(f"{where} {why}; column {name!r} is {sql_type}")
