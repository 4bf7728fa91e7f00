"""The in-memory mirror of a collection's metadata columns, addressed by index label.

Why a row store (issue #11): a search knows its hits by *label* (the slot the ANN index
uses). Fetching their columns from DuckDB costs a query per search (``WHERE id IN (SELECT
unnest($ids))``, ~2 ms fixed and a scan that grows with the table), while reading them here
is an array gather of ``k`` slots: its cost does not depend on the collection's size. The
store is written by :class:`vecdb.live_index.LiveIndex` under the same write lock as the
vectors, with the values DuckDB itself holds (read back with ``RETURNING`` in the write's
transaction), so the rows a reader sees always belong to the same snapshot as its ids: a
concurrent delete can not leave a hit without its row.

Each column is a numpy ``object`` array of the Python values DuckDB returns (what
``pyarrow.Array.to_pylist`` gives), so hits carry exactly what ``SELECT col`` would.
Nested values (lists, structs, maps) are copied on the way out so callers cannot change the
store. Vectors are not kept here: they live in :class:`vecdb.index.VectorStore`.

>>> import numpy as np, pyarrow as pa
>>> rs = RowStore({"tag": pa.string()})
>>> rs.put(np.array([0, 1]), pa.table({"tag": ["a", None]}))
>>> rs.take(np.array([1, 0]), ["tag"])
[[None, 'a']]
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pyarrow as pa

__all__ = ["RowStore"]


def _is_nested(typ: pa.DataType) -> bool:
    return bool(
        pa.types.is_list(typ)
        or pa.types.is_large_list(typ)
        or pa.types.is_fixed_size_list(typ)
        or pa.types.is_struct(typ)
        or pa.types.is_map(typ)
        or pa.types.is_union(typ)
    )


class RowStore:
    """Column values by label; ``types`` maps each column to its Arrow type (DuckDB's)."""

    def __init__(self, types: dict[str, pa.DataType], capacity: int = 16) -> None:
        self.types = dict(types)
        self._nested = {c for c, t in self.types.items() if _is_nested(t)}
        self.capacity = max(capacity, 16)
        self.cols: dict[str, np.ndarray] = {
            c: np.full(self.capacity, None, dtype=object) for c in self.types
        }

    def _reserve(self, top: int) -> None:
        if top < self.capacity:
            return
        cap = max(top + 1, self.capacity * 2)
        for c, old in self.cols.items():
            new = np.full(cap, None, dtype=object)
            new[: self.capacity] = old
            self.cols[c] = new
        self.capacity = cap

    def put(self, labels: np.ndarray, table: pa.Table) -> None:
        """Store the rows of ``table`` (aligned with ``labels``); missing columns are null."""
        n = len(labels)
        if n == 0 or not self.cols:
            return
        self._reserve(int(labels.max()))
        names = set(table.column_names)
        for c, arr in self.cols.items():
            if c in names:
                arr[labels] = np.fromiter(table.column(c).to_pylist(), dtype=object, count=n)
            else:
                arr[labels] = None

    def clear(self, labels: np.ndarray) -> None:
        """Forget the rows of dead labels (frees their values)."""
        if len(labels):
            for arr in self.cols.values():
                arr[labels] = None

    def take(self, labels: np.ndarray, columns: list[str]) -> list[list[Any]]:
        """The values of ``columns`` at ``labels``, one list per column."""
        out = []
        for c in columns:
            vals = self.cols[c][labels].tolist()
            if c in self._nested:
                vals = [copy.deepcopy(v) for v in vals]
            out.append(vals)
        return out

    def compacted(self, labels: np.ndarray) -> RowStore:
        """A new store holding the rows at ``labels`` as labels ``0..len(labels)-1``."""
        out = RowStore(self.types, capacity=len(labels))
        for c, arr in self.cols.items():
            out.cols[c][: len(labels)] = arr[labels]
        return out

    def nbytes(self) -> int:
        """A rough size in bytes: the slot arrays plus the Python values they hold."""
        import sys

        total = 0
        for arr in self.cols.values():
            total += arr.nbytes + sum(sys.getsizeof(v) for v in arr if v is not None)
        return total
