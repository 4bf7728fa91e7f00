"""Confinement: an allow-list over the parsed tree for SQL from untrusted callers.

Confined SQL (the server's default) may read and write tables, and nothing else: no files,
network, extensions, settings or internal schema. This is the first wall; DuckDB's own
``enable_external_access = false`` and ``lock_configuration = true`` are the second.

>>> import sqlglot
>>> check(sqlglot.parse_one("SELECT * FROM docs WHERE year > 2000", read="duckdb"))
>>> check(sqlglot.parse_one("SELECT * FROM read_csv('/etc/passwd')", read="duckdb"))
Traceback (most recent call last):
...
vecdb.errors.PermissionDeniedError: READCSV is not allowed in confined SQL
"""

from __future__ import annotations

import re

from sqlglot import exp

from vecdb.errors import PermissionDeniedError

__all__ = ["check", "INTERNAL_SCHEMA", "TABLE_FUNCTIONS"]

INTERNAL_SCHEMA = "_vecdb"

#: statement kinds a confined caller may run
_STATEMENTS: tuple[type[exp.Expression], ...] = (
    exp.Select,
    exp.SetOperation,  # UNION / INTERSECT / EXCEPT
    exp.Subquery,
    exp.Insert,
    exp.Update,
    exp.Delete,
    exp.Create,
    exp.Drop,
    exp.Describe,
    exp.Show,
)
_CREATE_KINDS = frozenset({"TABLE", "INDEX"})
_DROP_KINDS = frozenset({"TABLE", "INDEX"})

#: table functions that only compute (everything else, e.g. read_csv or query, is refused)
TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest", "generate_subscripts"})

#: scalar functions that reach outside the database or run SQL text of their own
_DENIED_FUNCTIONS = frozenset(
    {
        "getenv",
        "query",
        "query_table",
        "json_execute_serialized_sql",
        "current_setting",
        "load_extension",
        "install_extension",
    }
)
_DENIED_PREFIXES = re.compile(
    r"^(read_|parquet_|iceberg_|delta_|sniff_|glob|http|s3|gcs|azure|duckdb_|pragma_|"
    r"sqlite_|postgres_|mysql_|enable_|disable_|checkpoint|force_|write_|copy_|export_|"
    r"import_|lance_)"
)
_PLAIN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Node classes sqlglot gives to file-reading table functions.
_FILE_NODES: tuple[type[exp.Expression], ...] = tuple(
    getattr(exp, name)
    for name in (
        "ReadCSV",
        "ReadParquet",
        "ReadJSON",
        "Copy",
        "Attach",
        "Detach",
        "Install",
        "Pragma",
        "Set",
        "Command",
        "Use",
        "Transaction",
        "Commit",
        "Rollback",
        "LoadData",
        "Export",
    )
    if hasattr(exp, name)
)


def _deny(what: str) -> PermissionDeniedError:
    return PermissionDeniedError(f"{what} is not allowed in confined SQL")


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.this).lower()
    return node.sql_name().lower()


def _is_table_source(node: exp.Expression) -> bool:
    """True when a function call is used as a table (FROM f(...), JOIN f(...))."""
    parent = node.parent
    return isinstance(parent, (exp.Table, exp.From, exp.Join, exp.Lateral))


def check(tree: exp.Expression) -> None:
    """Raise PermissionDeniedError unless ``tree`` is allowed in confined SQL.

    >>> import sqlglot
    >>> check(sqlglot.parse_one("COPY docs TO 'x.csv'", read="duckdb"))
    Traceback (most recent call last):
    ...
    vecdb.errors.PermissionDeniedError: COPY is not allowed in confined SQL
    """
    if not isinstance(tree, _STATEMENTS):
        raise _deny(_statement_name(tree))
    if isinstance(tree, exp.Create):
        kind = str(tree.args.get("kind") or "").upper()
        if kind not in _CREATE_KINDS:
            raise _deny(f"CREATE {kind}".strip())
    if isinstance(tree, exp.Drop):
        kind = str(tree.args.get("kind") or "").upper()
        if kind not in _DROP_KINDS:
            raise _deny(f"DROP {kind}".strip())
    if isinstance(tree, exp.Describe) and tree.args.get("kind"):
        # DESCRIBE/SUMMARIZE variants other than plain DESCRIBE are refused
        raise _deny(f"DESCRIBE {tree.args['kind']}")
    for node in tree.walk():
        if isinstance(node, _FILE_NODES):
            raise _deny(_statement_name(node))
        if isinstance(node, exp.Table):
            _check_table(node)
        elif isinstance(node, exp.Func):
            name = _function_name(node)
            if _is_table_source(node) and name not in TABLE_FUNCTIONS:
                raise _deny(f"function {name}")
            if name in _DENIED_FUNCTIONS or _DENIED_PREFIXES.match(name):
                raise _deny(f"function {name}")
        elif isinstance(node, (exp.Column, exp.Dot)):
            parts = [p.name.lower() for p in node.parts] if isinstance(node, exp.Column) else []
            if INTERNAL_SCHEMA in parts:
                raise _deny(f"schema {INTERNAL_SCHEMA}")


def _check_table(node: exp.Table) -> None:
    this = node.this
    if isinstance(this, exp.Func) or not isinstance(this, exp.Identifier):
        # table function: checked when the walk reaches the function node itself
        if isinstance(this, exp.Literal):
            raise _deny("reading a file by name")
        return
    for part in (node.args.get("catalog"), node.args.get("db")):
        if isinstance(part, exp.Identifier) and part.name.lower() == INTERNAL_SCHEMA:
            raise _deny(f"schema {INTERNAL_SCHEMA}")
    catalog = node.args.get("catalog")
    if isinstance(catalog, exp.Identifier) and catalog.name.lower() not in ("memory", ""):
        # only the current database: an attached or system catalog is refused
        if catalog.name.lower() not in ("main",):
            raise _deny(f"catalog {catalog.name}")
    name = this.name
    if not _PLAIN_NAME.match(name):
        # DuckDB turns 'file.csv' or "dir/x.parquet" into a file read (replacement scan)
        raise _deny(f"table name {name!r} (file reads)")
    if name.lower() == INTERNAL_SCHEMA:
        raise _deny(f"schema {INTERNAL_SCHEMA}")


def _statement_name(node: exp.Expression) -> str:
    if isinstance(node, exp.Command):
        return str(node.this).upper()
    names = {
        "Copy": "COPY",
        "Attach": "ATTACH",
        "Detach": "DETACH",
        "Install": "INSTALL",
        "Pragma": "PRAGMA",
        "Set": "SET",
        "Use": "USE",
        "Transaction": "BEGIN",
        "Commit": "COMMIT",
        "Rollback": "ROLLBACK",
        "Summarize": "SUMMARIZE",
        "TruncateTable": "TRUNCATE",
        "Alter": "ALTER",
        "Export": "EXPORT",
    }
    return names.get(type(node).__name__, type(node).__name__.upper())
