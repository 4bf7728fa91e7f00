"""Query results: one object, every dataframe format.

A :class:`Result` wraps an Arrow table (what DuckDB hands back, and what the gRPC ``Sql`` call
streams), and converts on demand: tuples, numpy, pandas, polars, Arrow.

>>> import pyarrow as pa
>>> r = Result(pa.table({"id": [1, 2], "title": ["a", "b"]}))
>>> r.columns
['id', 'title']
>>> r.fetchall()
[(1, 'a'), (2, 'b')]
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa

__all__ = ["Result"]


class Result:
    """The rows of one statement, with a cursor for ``fetchone``.

    Each row is a tuple; a vector column comes out as a list of floats in ``fetchall`` and
    as a 2-D float32 array in ``to_numpy``.

    >>> import pyarrow as pa
    >>> r = Result(pa.table({"x": [1, 2, 3]}))
    >>> r.fetchone(), r.fetchone(), len(r)
    ((1,), (2,), 3)
    """

    __slots__ = ("_arrow", "_rows", "_pos", "plan", "_pycols")

    def __init__(self, table: pa.Table, plan: Any = None) -> None:
        self._arrow: pa.Table | None = table
        self._pycols: tuple[list[str], list[list[Any]], list[pa.DataType]] | None = None
        self._rows: list[tuple[Any, ...]] | None = None
        self._pos = 0
        #: the vector-search plan(s) used, when the statement had one (see EXPLAIN)
        self.plan = plan

    @classmethod
    def from_columns(
        cls,
        names: list[str],
        columns: list[list[Any]],
        types: list[pa.DataType],
        plan: Any = None,
    ) -> Result:
        """A result from Python column lists; the Arrow table is built only if asked for.

        >>> import pyarrow as pa
        >>> r = Result.from_columns(["id"], [[1, 2]], [pa.int64()])
        >>> r.fetchall(), r.to_arrow().num_rows
        ([(1,), (2,)], 2)
        """
        out = cls.__new__(cls)
        out._arrow = None
        out._pycols = (names, columns, types)
        out._rows = None
        out._pos = 0
        out.plan = plan
        return out

    @property
    def _table(self) -> pa.Table:
        if self._arrow is None:
            assert self._pycols is not None
            names, cols, types = self._pycols
            self._arrow = pa.table({n: pa.array(c, t) for n, c, t in zip(names, cols, types)})
        return self._arrow

    @property
    def columns(self) -> list[str]:
        """Column names, in order."""
        if self._arrow is None and self._pycols is not None:
            return list(self._pycols[0])
        return list(self._table.column_names)

    def __len__(self) -> int:
        if self._arrow is None and self._pycols is not None:
            cols = self._pycols[1]
            return len(cols[0]) if cols else 0
        return self._table.num_rows

    def _materialize(self) -> list[tuple[Any, ...]]:
        if self._rows is None:
            if self._arrow is None and self._pycols is not None:
                cols = self._pycols[1]
            else:
                cols = [c.to_pylist() for c in self._table.columns]
            self._rows = list(zip(*cols)) if cols else []
        return self._rows

    def fetchall(self) -> list[tuple[Any, ...]]:
        """All remaining rows as tuples."""
        rows = self._materialize()
        out = rows[self._pos :]
        self._pos = len(rows)
        return out

    def fetchone(self) -> tuple[Any, ...] | None:
        """The next row, or ``None`` when there are no more."""
        rows = self._materialize()
        if self._pos >= len(rows):
            return None
        row = rows[self._pos]
        self._pos += 1
        return row

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        while (row := self.fetchone()) is not None:
            yield row

    def to_arrow(self) -> pa.Table:
        """The rows as a ``pyarrow.Table`` (no copy)."""
        return self._table

    def to_pandas(self) -> Any:
        """The rows as a ``pandas.DataFrame``.

        Needs pandas: ``pip install 'vecdb[pandas]'`` (the server extra has it too); without
        it this raises ImportError saying so.
        """
        try:
            import pandas  # noqa: F401
        except ImportError as e:
            raise ImportError(
                "Result.to_pandas() needs pandas, which is not installed: "
                "pip install 'vecdb[pandas]' (or pip install pandas); "
                "to_arrow(), to_numpy() and fetchall() work without it"
            ) from e
        return self._table.to_pandas()

    def to_polars(self) -> Any:
        """The rows as a ``polars.DataFrame`` (needs polars: ``pip install 'vecdb[polars]'``).

        Raises ``ImportError`` naming the install when polars is missing."""
        try:
            pl = importlib.import_module("polars")
        except ImportError as e:
            raise ImportError(
                "Result.to_polars() needs polars; install it with "
                "pip install 'vecdb[polars]' (or pip install polars)"
            ) from e
        return pl.from_arrow(self._table)

    @classmethod
    def from_hits(
        cls,
        hits: list[Any] | list[list[Any]],
        columns: list[str],
        types: dict[str, pa.DataType],
        id_type: pa.DataType,
        dim: int,
        plan: Any = None,
    ) -> Result:
        """Search hits as one table: ``id``, ``distance``, then ``columns`` (``vec`` as a
        ``FLOAT[dim]`` column); a list of hit lists (a matrix of queries) adds a leading
        ``query`` column with each query's row number.

        >>> import pyarrow as pa
        >>> from vecdb.types import Hit
        >>> r = Result.from_hits([Hit(1, 0.5, {"t": "a"})], ["t"], {"t": pa.string()},
        ...                      pa.int64(), 2)
        >>> r.columns, r.fetchall()
        (['id', 'distance', 't'], [(1, 0.5, 'a')])
        """
        batch = bool(hits) and isinstance(hits[0], list)
        lists: list[list[Any]] = hits if batch else [hits]
        flat = [h for hl in lists for h in hl]
        names, cols, typs = ["id", "distance"], [], [id_type, pa.float64()]
        cols = [[h.id for h in flat], [h.distance for h in flat]]
        if batch:
            names.insert(0, "query")
            cols.insert(0, [q for q, hl in enumerate(lists) for _ in hl])
            typs.insert(0, pa.int64())
        for c in columns:
            names.append(c)
            if c == "vec":
                cols.append([np.asarray(h.row[c], dtype=np.float32).tolist() for h in flat])
                typs.append(pa.list_(pa.float32(), dim))
            else:
                cols.append([h.row[c] for h in flat])
                typs.append(types[c])
        return cls.from_columns(names, cols, typs, plan)

    def to_numpy(self) -> dict[str, np.ndarray]:
        """A dict of column name -> numpy array; vector columns become 2-D float32 arrays."""
        out: dict[str, np.ndarray] = {}
        for name, col in zip(self._table.column_names, self._table.columns):
            typ = col.type
            if pa.types.is_fixed_size_list(typ) and col.num_chunks > 0:
                flat = col.combine_chunks()
                out[name] = flat.values.to_numpy(zero_copy_only=False).reshape(
                    len(flat), typ.list_size
                )
            elif pa.types.is_fixed_size_list(typ):
                out[name] = np.zeros((0, typ.list_size), dtype=np.float32)
            else:
                out[name] = col.to_numpy()
        return out

    def __repr__(self) -> str:
        return f"Result(columns={self.columns}, rows={len(self)})"
