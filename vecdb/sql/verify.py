"""DuckDB's own reading of SQL text: statement boundaries, statement kinds and its parse tree.

sqlglot and DuckDB are two parsers; where they read a text differently (DuckDB knows backtick
identifiers, nested block comments and ``$tag$`` quotes that sqlglot's tokenizer may not),
a check made on one tree says nothing about what the other runs. So every statement is read
by both: the number and kinds of statements must agree, confined SQL runs as text regenerated
from the checked sqlglot tree, and that text is read back by DuckDB (statement count, kind,
and, for queries, its parse tree against the same deny rules) before it may run.

>>> kinds("SELECT 1; DELETE FROM t")
('SELECT', 'DELETE')
>>> kinds("SELECT 1 AS `--`; SELECT 2")   # sqlglot reads one statement here, DuckDB two
('SELECT', 'SELECT')
>>> canonical_type("varchar[]"), canonical_type("DECIMAL(10,2)")
('VARCHAR[]', 'DECIMAL(10,2)')
>>> canonical_type("INTEGER, evil INTEGER")
Traceback (most recent call last):
...
vecdb.errors.InvalidArgumentError: column type 'INTEGER, evil INTEGER' is not one DuckDB type ...
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import duckdb
from sqlglot import exp

from vecdb.errors import InvalidArgumentError, SQLParseError

__all__ = [
    "kinds",
    "expected_kinds",
    "query_tree",
    "ast_nodes",
    "canonical_type",
    "READ_KINDS",
]

#: DuckDB statement kinds that only read (EXPLAIN is classified by what it explains)
READ_KINDS = frozenset({"SELECT"})

_scratch_lock = threading.Lock()
_scratch: duckdb.DuckDBPyConnection | None = None


def _con() -> duckdb.DuckDBPyConnection:
    """A private in-memory DuckDB that only parses (no external access, settings locked)."""
    global _scratch
    if _scratch is None:
        con = duckdb.connect(":memory:")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        _scratch = con
    return _scratch


@lru_cache(maxsize=2048)
def kinds(text: str) -> tuple[str, ...]:
    """DuckDB's statement kinds of ``text`` in order (``StatementType`` names).

    Cached by text: parse, plan verification and the DuckDB-tree check all ask about the
    same few texts. Raises SQLParseError with DuckDB's message when DuckDB cannot parse it.
    """
    try:
        statements = duckdb.extract_statements(text)
    except duckdb.Error as e:
        raise SQLParseError(f"SQL parse error: {_first_line(e)}", errors=[]) from None
    return tuple(s.type.name for s in statements)


def _first_line(e: BaseException) -> str:
    msg = str(e).strip()
    return msg.splitlines()[0] if msg else type(e).__name__


#: sqlglot node class -> the DuckDB statement kinds the same statement may have
_KINDS: tuple[tuple[type[exp.Expression], frozenset[str]], ...] = (
    (exp.Query, frozenset({"SELECT"})),  # SELECT, UNION/INTERSECT/EXCEPT, VALUES...
    (exp.Describe, frozenset({"SELECT"})),
    (exp.Show, frozenset({"SELECT"})),
    (exp.Insert, frozenset({"INSERT"})),
    (exp.Update, frozenset({"UPDATE"})),
    (exp.Delete, frozenset({"DELETE"})),
    (exp.Create, frozenset({"CREATE"})),
    (exp.Drop, frozenset({"DROP"})),
    (exp.TruncateTable, frozenset({"DELETE"})),
    (exp.Alter, frozenset({"ALTER"})),
    (exp.Pragma, frozenset({"PRAGMA", "SELECT"})),
    (exp.Set, frozenset({"SET", "VARIABLE_SET"})),
    (exp.Transaction, frozenset({"TRANSACTION"})),
    (exp.Commit, frozenset({"TRANSACTION"})),
    (exp.Rollback, frozenset({"TRANSACTION"})),
    (exp.Copy, frozenset({"COPY", "COPY_DATABASE"})),
    (exp.Attach, frozenset({"ATTACH"})),
    (exp.Detach, frozenset({"DETACH"})),
    (exp.Use, frozenset({"SET"})),
)
if hasattr(exp, "Summarize"):
    _KINDS += ((exp.Summarize, frozenset({"SELECT"})),)


def expected_kinds(tree: exp.Expression) -> frozenset[str] | None:
    """The DuckDB kinds a sqlglot statement tree may have; None when sqlglot cannot say."""
    for cls, names in _KINDS:
        if isinstance(tree, cls):
            return names
    return None


@lru_cache(maxsize=1024)
def _serialized(text: str) -> str:
    with _scratch_lock:
        row = _con().execute("SELECT json_serialize_sql($1)", [text]).fetchone()
    return str(row[0]) if row else "{}"


def query_tree(text: str) -> dict[str, Any] | None:
    """DuckDB's parse tree of a query (its ``json_serialize_sql``), or None for other kinds.

    >>> t = query_tree("SELECT a FROM docs")
    >>> [n["table_name"] for n in ast_nodes(t) if n.get("type") == "BASE_TABLE"]
    ['docs']
    """
    doc = json.loads(_serialized(text))
    if doc.get("error"):
        return None
    return doc


def ast_nodes(tree: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object in a DuckDB parse tree, depth first."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            yield node
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


# ---- column types ----------------------------------------------------------------------

_MAX_TYPE_LEN = 512


@lru_cache(maxsize=512)
def canonical_type(text: str) -> str:
    """``text`` as exactly one DuckDB type, spelled as DuckDB prints it.

    The type is read by DuckDB's parser as the target of one ``CAST``; anything else (a
    second column, a comment, a statement) is refused. The returned spelling is DuckDB's own
    (``typeof``), so the DDL that uses it never carries the caller's text.
    """
    bad = InvalidArgumentError(
        f"column type {text!r} is not one DuckDB type (e.g. 'VARCHAR', 'INTEGER', 'DOUBLE', "
        "'VARCHAR[]', 'TIMESTAMP', 'STRUCT(a INTEGER, b VARCHAR)')"
    )
    if not isinstance(text, str) or not text.strip() or len(text) > _MAX_TYPE_LEN:
        raise bad
    if "\x00" in text:
        raise bad
    probe = f"SELECT CAST(NULL AS {text})"
    if not _one_null_cast(probe):
        raise bad
    with _scratch_lock:
        try:
            row = _con().execute(f"SELECT typeof(CAST(NULL AS {text}))").fetchone()
        except duckdb.Error:
            raise bad from None
    canon = str(row[0]) if row else ""
    # the canonical spelling must read back as itself: a fixed point of DuckDB's printer
    if not canon or not _one_null_cast(f"SELECT CAST(NULL AS {canon})"):
        raise bad
    return canon


def _one_null_cast(query: str) -> bool:
    """True when DuckDB reads ``query`` as one SELECT of exactly ``CAST(NULL AS <type>)``."""
    try:
        if kinds(query) != ("SELECT",):
            return False
    except SQLParseError:
        return False
    doc = query_tree(query)
    if doc is None or len(doc.get("statements", ())) != 1:
        return False
    node = doc["statements"][0]["node"]
    items = node.get("select_list") or []
    if node.get("type") != "SELECT_NODE" or len(items) != 1:
        return False
    if node.get("modifiers") or (node.get("from_table") or {}).get("type") != "EMPTY":
        return False
    if any(node.get(k) for k in ("where_clause", "having", "qualify", "sample")):
        return False
    cast = items[0]
    child = cast.get("child") or {}
    return (
        cast.get("class") == "CAST"
        and not cast.get("try_cast")
        and child.get("class") == "CONSTANT"
        and (child.get("literal") or {}).get("kind") == "NULL_LITERAL"
    )
