"""Every DuckDB statement about collections: the catalog, each table, its change log, its rows.

A collection ``c`` is three things in DuckDB, created and dropped in one transaction:

* ``c (id, *columns, vec FLOAT[dim])`` -- the rows, the system of record;
* ``_vecdb.log_c (seq, id)`` -- which ids each write touched, so that an index checkpoint
  can be caught up by replaying the writes newer than it;
* a row of ``_vecdb.collections`` -- the spec, and ``seq``, the number of the last write.

A write runs in :meth:`CollectionTable.transaction`, which advances ``seq`` in the same
DuckDB transaction as the rows and the log; so the log and ``seq`` can never disagree with
the rows, whatever crashes when.

>>> import duckdb, numpy as np
>>> from vecdb.types import CollectionSpec
>>> con = duckdb.connect(); create_catalog(con)
>>> spec = CollectionSpec("c", 2, "l2", "exact", {}, {"tag": "VARCHAR"}, "int")
>>> CollectionTable.create(con, spec)
>>> t = CollectionTable(lambda: con, spec, seq=0)
>>> with t.transaction("write") as (cur, seq):
...     _ = cur.execute(f"INSERT INTO c VALUES (1, 'a', [0, 1]), (2, 'b', [1, 0])")
>>> t.seq, t.count(), t.rows([2], ["tag"])
(1, 2, {2: {'tag': 'b'}})
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import duckdb
import numpy as np
import pyarrow as pa

from vecdb.errors import from_duckdb
from vecdb.progress import Progress, chunks, track
from vecdb.storage.crash import crash_point
from vecdb.storage.session import Session
from vecdb.types import CollectionSpec

__all__ = ["CollectionTable", "CatalogEntry", "create_catalog", "read_catalog", "quote"]

Cursor = duckdb.DuckDBPyConnection

#: a write of at least this many bytes of vectors asks the session to release DuckDB's
#: cache of what it wrote (see :meth:`vecdb.storage.session.Session.release_cache`)
RELEASE_AFTER_BYTES = 16 << 20

_CATALOG_DDL = """
CREATE SCHEMA IF NOT EXISTS _vecdb;
CREATE TABLE IF NOT EXISTS _vecdb.collections (
    name VARCHAR PRIMARY KEY,
    dim INTEGER NOT NULL,
    metric VARCHAR NOT NULL,
    index_kind VARCHAR NOT NULL,
    index_params VARCHAR NOT NULL,
    columns VARCHAR NOT NULL,
    id_type VARCHAR NOT NULL,
    seq BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS _vecdb.index_names (
    name VARCHAR PRIMARY KEY,
    collection VARCHAR NOT NULL
);
-- added for text (documents, embedding spec, full-text config): databases created before it
-- gain the column on open, NULL for their collections
ALTER TABLE _vecdb.collections ADD COLUMN IF NOT EXISTS text VARCHAR;
-- added for column constraints (NOT NULL, DEFAULT, CHECK, UNIQUE): NULL for none
ALTER TABLE _vecdb.collections ADD COLUMN IF NOT EXISTS constraints VARCHAR;
"""


def quote(name: str) -> str:
    """A SQL identifier, double-quoted.

    >>> quote('we"ird')
    '"we""ird"'
    """
    return '"' + name.replace('"', '""') + '"'


def create_catalog(con: Cursor) -> None:
    """Create the catalog schema and table when missing."""
    con.execute(_CATALOG_DDL)


def name_index(con: Cursor, index_name: str, collection: str | None) -> None:
    """Remember (``collection`` given) or forget the SQL name of a collection's index, so
    that ``DROP INDEX name`` works after a reopen. Names are case-insensitive."""
    if collection is None:
        con.execute("DELETE FROM _vecdb.index_names WHERE name = ?", [index_name.lower()])
    else:
        con.execute(
            "INSERT OR REPLACE INTO _vecdb.index_names VALUES (?, ?)",
            [index_name.lower(), collection],
        )


def indexed_by(con: Cursor, index_name: str) -> str | None:
    """The collection whose index has the SQL name ``index_name``, if one was recorded."""
    row = con.execute(
        "SELECT collection FROM _vecdb.index_names WHERE name = ?", [index_name.lower()]
    ).fetchone()
    return str(row[0]) if row else None


class CatalogEntry(NamedTuple):
    """One catalog row: the collection's name, its spec (None when the row cannot be read,
    with ``error`` saying why) and its write sequence."""

    name: str
    spec: CollectionSpec | None
    seq: int
    error: str | None = None


def read_catalog(con: Cursor) -> list[CatalogEntry]:
    """Every collection's catalog entry, by name; a damaged row is reported, not raised."""
    rows = con.execute(
        "SELECT name, dim, metric, index_kind, index_params, columns, id_type, seq, text, "
        "constraints FROM _vecdb.collections ORDER BY name"
    ).fetchall()
    out = []
    for r in rows:
        try:
            t = json.loads(r[8]) if r[8] else {}
            spec = CollectionSpec(
                name=r[0],
                dim=r[1],
                metric=r[2],
                index=r[3],
                index_params=json.loads(r[4]),
                columns=dict(json.loads(r[5])),
                id_type=r[6],
                embedding=t.get("embedding"),
                fulltext=t.get("fulltext"),
                constraints=dict(json.loads(r[9])) if r[9] else {},
            )
        except (ValueError, TypeError) as e:
            out.append(CatalogEntry(r[0], None, r[7], f"unreadable catalog row: {e}"))
            continue
        out.append(CatalogEntry(r[0], spec, r[7]))
    return out


class CollectionTable:
    """One collection's table, change log and catalog row; all its SQL lives here.

    ``cursor`` returns the calling thread's DuckDB connection. Methods that read take no lock;
    the caller serializes writes (see :class:`vecdb.collection.Collection`).
    """

    def __init__(self, cursor: Callable[[], Cursor], spec: CollectionSpec, seq: int) -> None:
        self._cursor = cursor
        self.spec = spec
        self.seq = seq
        self.sql_name = quote(spec.name)
        self._log = f"_vecdb.{quote('log_' + spec.name)}"
        #: the SELECT list of a row without its vector: id and every column
        self._row_select = ", ".join(["id", *(quote(c) for c in spec.columns)])

    # ---- DDL -------------------------------------------------------------------------------
    @staticmethod
    def create(cur: Cursor, spec: CollectionSpec) -> None:
        """Create the table, the log and the catalog row (inside the caller's transaction)."""
        id_sql = "BIGINT" if spec.id_type == "int" else "VARCHAR"
        rules = spec.constraints  # checked text (vecdb.sql.ddl.check_constraint)
        col_sql = "".join(
            f", {quote(c)} {t}" + (f" {rules[c]}" if c in rules else "")
            for c, t in spec.columns.items()
        )
        cur.execute(
            f"CREATE TABLE {quote(spec.name)} (id {id_sql} PRIMARY KEY{col_sql}, "
            f"vec FLOAT[{spec.dim}] NOT NULL)"
        )
        cur.execute(f"CREATE TABLE _vecdb.{quote('log_' + spec.name)} (seq BIGINT, id {id_sql})")
        cur.execute(
            "INSERT INTO _vecdb.collections (name, dim, metric, index_kind, index_params, "
            "columns, id_type, seq, text, constraints) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
            [
                spec.name,
                spec.dim,
                spec.metric,
                spec.index,
                json.dumps(spec.index_params),
                json.dumps(list(spec.columns.items())),
                spec.id_type,
                json.dumps({"embedding": spec.embedding, "fulltext": spec.fulltext})
                if spec.has_text
                else None,
                json.dumps(spec.constraints) if spec.constraints else None,
            ],
        )

    @staticmethod
    def drop_storage(cur: Cursor, name: str) -> None:
        """Drop the table, the log and the catalog row (inside the caller's transaction)."""
        cur.execute(f"DROP TABLE IF EXISTS {quote(name)}")
        cur.execute(f"DROP TABLE IF EXISTS _vecdb.{quote('log_' + name)}")
        cur.execute("DELETE FROM _vecdb.collections WHERE name = ?", [name])
        # the SQL names of its index go too: DROP INDEX must not reach a later namesake
        cur.execute("DELETE FROM _vecdb.index_names WHERE collection = ?", [name])

    def drop(self) -> None:
        """Drop the table, the log and the catalog row in one transaction."""
        cur = self._cursor()
        cur.execute("BEGIN TRANSACTION")
        try:
            self.drop_storage(cur, self.spec.name)
            crash_point("drop.in_txn")
            cur.execute("COMMIT")
        except duckdb.Error as e:
            cur.execute("ROLLBACK")
            raise from_duckdb(e, f"drop_collection {self.spec.name!r}") from e
        crash_point("drop.committed")

    def save_index_spec(
        self, spec: CollectionSpec, sql_name: tuple[str, bool] | None = None
    ) -> None:
        """Record a new metric/index/parameters in the catalog; with ``sql_name=(name,
        keep)``, also record (``keep``) or forget the index's SQL name, in the same
        transaction: after a crash the catalog has both changes or neither."""
        cur = self._cursor()
        cur.execute("BEGIN TRANSACTION")
        try:
            cur.execute(
                "UPDATE _vecdb.collections SET metric = ?, index_kind = ?, index_params = ? "
                "WHERE name = ?",
                [spec.metric, spec.index, json.dumps(spec.index_params), spec.name],
            )
            if sql_name is not None:
                name_index(cur, sql_name[0], spec.name if sql_name[1] else None)
            crash_point("set_index.in_txn")
            cur.execute("COMMIT")
        except BaseException as e:
            try:
                cur.execute("ROLLBACK")
            except duckdb.Error:
                pass  # a failed COMMIT has already ended the transaction
            if isinstance(e, duckdb.Error):
                raise from_duckdb(e, f"set_index {spec.name!r}") from e
            raise
        self.spec = spec

    # ---- writes ----------------------------------------------------------------------------
    @contextmanager
    def transaction(self, what: str | None) -> Iterator[tuple[Cursor, int]]:
        """A DuckDB transaction that also advances the write sequence; yields (cursor, seq).

        A DuckDB error is raised as :func:`~vecdb.errors.from_duckdb` maps it for ``what``."""
        cur = self._cursor()
        seq = self.seq + 1
        cur.execute("BEGIN TRANSACTION")
        try:
            yield cur, seq
            cur.execute(
                "UPDATE _vecdb.collections SET seq = ? WHERE name = ?", [seq, self.spec.name]
            )
            cur.execute("COMMIT")
        except BaseException as e:
            try:
                cur.execute("ROLLBACK")
            except duckdb.Error:
                pass  # a failed COMMIT (e.g. a full disk) has already ended the transaction
            if isinstance(e, duckdb.Error):
                raise from_duckdb(e, what) from e
            raise
        self.seq = seq

    def write(self, batch: pa.Table, *, replace: bool, progress: Progress = False) -> pa.Table:
        """Insert (or replace) a batch of rows and log their ids, atomically.

        Returns the written rows' ``id`` and columns as DuckDB stored them (after its casts),
        in no particular order: what the row store mirrors. A large batch reporting
        ``progress`` is inserted in chunks, still in one transaction."""
        names = ", ".join(quote(c) for c in batch.column_names)
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        conflict = ""
        if replace and self.spec.constraints:
            # a UNIQUE column is a second key, which INSERT OR REPLACE refuses; replace on
            # the id, every column from the proposed row (EXCLUDED holds DEFAULTs too)
            verb = "INSERT"
            cols = [*self.spec.columns, "vec"]
            sets = ", ".join(f"{quote(c)} = EXCLUDED.{quote(c)}" for c in cols)
            conflict = f" ON CONFLICT (id) DO UPDATE SET {sets}"
        cur = self._cursor()
        out = []
        with track(progress, f"{self.spec.name}: writing", batch.num_rows) as task:
            parts = chunks(batch.num_rows, task)
            views = [f"__vecdb_in{i}" for i in range(len(parts))]
            # registered before the transaction and dropped after it: never inside a
            # transaction that a failed INSERT has aborted (that would replace its error)
            for view, part in zip(views, parts):
                cur.register(view, batch.slice(part.start, part.stop - part.start))
            try:
                with self.transaction("write") as (cur, seq):
                    for view, part in zip(views, parts):
                        out.append(
                            cur.sql(
                                f"{verb} INTO {self.sql_name} ({names}) SELECT {names} "
                                f"FROM {view}{conflict} RETURNING {self._row_select}"
                            ).to_arrow_table()
                        )
                        cur.execute(f"INSERT INTO {self._log} SELECT {seq}, id FROM {view}")
                        task.update(part.stop - part.start)
            finally:
                for view in views:
                    cur.unregister(view)
        if batch.num_rows * self.spec.dim * 4 >= RELEASE_AFTER_BYTES:
            self._release_cache()
        return out[0] if len(out) == 1 else pa.concat_tables(out)

    def execute_dml(
        self,
        sql: str,
        params: Any,
        prepare: Callable[[np.ndarray], np.ndarray],
        what: str | None = None,
    ) -> tuple[list[Any], tuple[np.ndarray, np.ndarray, np.ndarray, pa.Table] | None]:
        """Run an INSERT/UPDATE/DELETE ending in ``RETURNING id`` and log what it touched.

        Returns the touched ids and what DuckDB now holds for them (see :meth:`current`),
        with the vectors passed through ``prepare``, which checks them before the commit
        (raising rolls the statement back); ``None`` when nothing was touched. ``what`` names
        the caller's input in the statement, if any (see :func:`~vecdb.errors.from_duckdb`).
        """
        current = None
        with self.transaction(what) as (cur, seq):
            touched = [t[0] for t in cur.execute(sql, params).fetchall()]
            if touched:
                ids = np.asarray(touched, dtype=object if self.spec.id_type == "str" else np.int64)
                found, vectors, gone, rows = self.current(ids, cur)
                current = (found, prepare(vectors), gone, rows)
                cur.execute(f"INSERT INTO {self._log} SELECT {seq}, unnest($ids)", {"ids": touched})
        return touched, current

    def delete_sql(self, where: str) -> str:
        """The DELETE of the rows matching a checked predicate, for :meth:`execute_dml`."""
        return f"DELETE FROM {self.sql_name} WHERE ({where}) RETURNING id"

    def trim_log(self, seq: int) -> None:
        """Forget log entries a checkpoint at ``seq`` covers."""
        sql = f"DELETE FROM {self._log} WHERE seq <= ?"
        session = self._session()
        if session is None:
            self._cursor().execute(sql, [seq])
            return
        # the delete commits, which may run DuckDB's own checkpoint: after a bulk write that
        # reads the new blocks back, up to the cap (+230 MB RSS after 100k x 384 rows at
        # 256 MB); under the lowered cap it streams them instead
        try:
            with session.lowered_cap():
                self._cursor().execute(sql, [seq])
        except duckdb.OutOfMemoryException:
            self._cursor().execute(sql, [seq])  # too tight for this table: the usual cap

    def _session(self) -> Session | None:
        session = getattr(self._cursor, "__self__", None)  # the cursor is Session.cursor
        return session if isinstance(session, Session) else None

    def _release_cache(self) -> None:
        session = self._session()
        if session is not None:
            session.release_cache()

    # ---- reads -----------------------------------------------------------------------------
    def current(
        self, ids: np.ndarray, cur: Cursor | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, pa.Table]:
        """What DuckDB holds for ``ids``: present ids, their raw vectors, the ids gone, and
        the present rows (id, columns and vec as Arrow, aligned with the present ids)."""
        tbl = self._arrow(
            f"SELECT {self._row_select}, vec FROM {self.sql_name} "
            "WHERE id IN (SELECT unnest($ids))",
            {"ids": ids.tolist()},
            cur,
        )
        found, vectors = self.split_vectors(tbl)
        present = set(found.tolist())
        gone = np.asarray([i for i in ids.tolist() if i not in present], dtype=ids.dtype)
        return found, vectors, gone, tbl

    def changed_since(self, seq: int) -> np.ndarray:
        """Ids written after write number ``seq`` (from the change log)."""
        res = self._cursor().execute(f"SELECT DISTINCT id FROM {self._log} WHERE seq > ?", [seq])
        return np.asarray(res.fetchnumpy()["id"])

    def count(self, where: str | None = None, params: Any = None) -> int:
        """Rows in the table, or rows matching a checked predicate."""
        sql = f"SELECT count(*) FROM {self.sql_name}"
        if where is not None:
            sql += f" WHERE ({where})"
        try:
            return int(self._cursor().execute(sql, params).fetchall()[0][0])
        except duckdb.Error as e:
            raise from_duckdb(e, "where") from e

    def ids_where(self, where: str, params: Any) -> np.ndarray:
        """Ids of the rows matching a checked predicate."""
        try:
            res = self._cursor().execute(f"SELECT id FROM {self.sql_name} WHERE ({where})", params)
            return np.asarray(res.fetchnumpy()["id"])
        except duckdb.Error as e:
            raise from_duckdb(e, "where") from e

    def rows(self, ids: list[Any], columns: list[str]) -> dict[Any, dict[str, Any]]:
        """``id -> {column: value}`` for the ids that exist, in one batched fetch."""
        if not ids:
            return {}
        select = ", ".join(["id", *(quote(c) for c in columns)])
        tbl = self._arrow(
            f"SELECT {select} FROM {self.sql_name} WHERE id IN (SELECT unnest($ids))", {"ids": ids}
        )
        got = tbl.column("id").to_pylist()
        data = [tbl.column(c).to_pylist() for c in columns]
        return {i: {c: data[n][j] for n, c in enumerate(columns)} for j, i in enumerate(got)}

    def records(
        self, ids: list[Any], columns: list[str]
    ) -> dict[Any, tuple[np.ndarray, dict[str, Any]]]:
        """``id -> (vector, {column: value})`` for the ids that exist."""
        select = ", ".join(["id", "vec", *(quote(c) for c in columns)])
        tbl = self._arrow(
            f"SELECT {select} FROM {self.sql_name} WHERE id IN (SELECT unnest($ids))", {"ids": ids}
        )
        got, vectors = self.split_vectors(tbl)
        data = [tbl.column(c).to_pylist() for c in columns]
        return {
            i: (vectors[j], {c: data[n][j] for n, c in enumerate(columns)})
            for j, i in enumerate(got.tolist())
        }

    def scan(
        self, batch_rows: int = 100_000, vectors: bool = True
    ) -> Iterator[tuple[np.ndarray, np.ndarray | None, pa.Table]]:
        """Every row in batches: ids, raw vectors (``None`` without ``vectors``) and the
        batch itself (id, columns[, vec]) -- for rebuilding the index and the row store."""
        select = self._row_select + (", vec" if vectors else "")
        reader = (
            self._cursor().sql(f"SELECT {select} FROM {self.sql_name}").to_arrow_reader(batch_rows)
        )
        for batch in reader:
            tbl = pa.Table.from_batches([batch])
            if vectors:
                ids, vecs = self.split_vectors(tbl)
                yield ids, vecs, tbl
            else:
                ids = tbl.column("id").to_numpy(zero_copy_only=False)
                yield (ids.astype(object) if self.spec.id_type == "str" else ids), None, tbl

    def column_types(self) -> dict[str, pa.DataType]:
        """Each column's Arrow type as DuckDB returns it (what the row store records)."""
        if not self.spec.columns:
            return {}
        schema = self._arrow(f"SELECT {self._row_select} FROM {self.sql_name} LIMIT 0").schema
        return {c: schema.field(c).type for c in self.spec.columns}

    def vectors(self, ids: list[Any]) -> dict[Any, np.ndarray]:
        """``id -> raw vector`` for the ids that exist (one point query)."""
        if not ids:
            return {}
        tbl = self._arrow(
            f"SELECT id, vec FROM {self.sql_name} WHERE id IN (SELECT unnest($ids))", {"ids": ids}
        )
        got, vecs = self.split_vectors(tbl)
        return dict(zip(got.tolist(), vecs))

    def documents(self, ids: list[Any]) -> dict[Any, str | None]:
        """``id -> document`` for the ids that exist (collections with text only)."""
        if not ids:
            return {}
        tbl = self._arrow(
            f"SELECT id, document FROM {self.sql_name} WHERE id IN (SELECT unnest($ids))",
            {"ids": ids},
        )
        return dict(zip(tbl.column("id").to_pylist(), tbl.column("document").to_pylist()))

    def scan_documents(self, batch_rows: int = 50_000) -> Iterator[tuple[list[Any], list[Any]]]:
        """Every row's id and document, in batches (for rebuilding a full-text index)."""
        reader = (
            self._cursor()
            .sql(f"SELECT id, document FROM {self.sql_name}")
            .to_arrow_reader(batch_rows)
        )
        for batch in reader:
            yield batch.column(0).to_pylist(), batch.column(1).to_pylist()

    def split_vectors(self, tbl: pa.Table) -> tuple[np.ndarray, np.ndarray]:
        """The ``id`` and ``vec`` columns of an Arrow table as numpy (ids, float32 matrix)."""
        ids = tbl.column("id").to_numpy(zero_copy_only=False)
        if self.spec.id_type == "str":
            ids = ids.astype(object)
        vec = tbl.column("vec").combine_chunks()
        if len(vec) == 0:
            return ids, np.zeros((0, self.spec.dim), dtype=np.float32)
        flat = vec.values.to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
        return ids, flat.reshape(len(vec), self.spec.dim)

    def _arrow(self, sql: str, params: Any = None, cur: Cursor | None = None) -> pa.Table:
        """Run a query and take its rows as Arrow (no extra copy, unlike execute().to_arrow)."""
        return (cur or self._cursor()).sql(sql, params=params).to_arrow_table()
