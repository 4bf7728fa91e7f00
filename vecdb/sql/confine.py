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
from vecdb.sql import verify

__all__ = [
    "check",
    "check_duckdb",
    "relation_refusal",
    "DENIED_RELATIONS",
    "INTERNAL_SCHEMA",
    "TABLE_FUNCTIONS",
]

INTERNAL_SCHEMA = "_vecdb"

#: What confined SQL may not name as a relation, and the threat each row answers. A relation
#: is refused when its catalog, schema or name matches a row; tests/sql/fixtures/attacks.sql
#: has at least one case per row.
DENIED_RELATIONS: tuple[tuple[str, str, str], ...] = (
    # (part, pattern, why)
    ("schema", "_vecdb", "vecdb's own catalog and every collection's change log"),
    ("schema", "information_schema", "lists every schema, table and column, internals too"),
    ("schema", "pg_catalog", "PostgreSQL views of every table and every setting (pg_settings)"),
    ("catalog", "system", "DuckDB's system catalog (settings, functions, internals)"),
    ("catalog", "temp", "the connection's temporary catalog, shared by every caller"),
    ("name", "duckdb_*", "DuckDB's metadata views: settings, tables, secrets, paths"),
    ("name", "pg_*", "PostgreSQL compatibility views, reachable without a schema (pg_settings)"),
    ("name", "sqlite_*", "SQLite compatibility views listing every table with its DDL"),
    ("name", "pragma_*", "PRAGMA views such as pragma_database_list (file paths)"),
    ("name", "information_schema", "the information schema itself"),
    ("name", "_vecdb", "vecdb's internal schema"),
)

#: catalogs a confined statement may name: none (the default) or the database's own
_OWN_CATALOGS = frozenset({"", "main", "memory", "vecdb"})


def relation_refusal(catalog: str, schema: str, name: str) -> str | None:
    """Why a relation is refused in confined SQL, or None when it may be read.

    >>> relation_refusal("", "", "docs") is None
    True
    >>> relation_refusal("", "", "pg_settings")
    'relation pg_settings (PostgreSQL compatibility views, reachable without a schema ...'
    """
    parts = {"catalog": catalog.lower(), "schema": schema.lower(), "name": name.lower()}
    if parts["catalog"] not in _OWN_CATALOGS and parts["catalog"] not in ("system", "temp"):
        return f"catalog {catalog} (only this database's tables are visible)"
    for part, pattern, why in DENIED_RELATIONS:
        value = parts[part]
        hit = value.startswith(pattern[:-1]) if pattern.endswith("*") else value == pattern
        if hit:
            shown = ".".join(p for p in (catalog, schema, name) if p)
            return f"relation {shown} ({why})"
    return None


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
    if isinstance(tree, exp.Show):
        _check_show(tree)
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
    name = this.name
    why = relation_refusal(node.catalog, node.db, name)
    if why is not None:
        raise _deny(why)
    if not _PLAIN_NAME.match(name):
        # DuckDB turns 'file.csv' or "dir/x.parquet" into a file read (replacement scan)
        raise _deny(f"table name {name!r} (file reads)")


def _check_show(tree: exp.Show) -> None:
    what = str(tree.this or "").upper()
    if what != "TABLES" or tree.args.get("full") or tree.args.get("terse"):
        raise _deny(f"SHOW {what}".strip() + " (only SHOW TABLES and DESCRIBE <table>)")
    for arg in ("db", "scope", "scope_kind", "like", "where", "target"):
        if tree.args.get(arg):
            raise _deny("SHOW TABLES with a scope (only the database's own tables are visible)")


# ---- the second wall: DuckDB's own parse tree of the text that will run ----------------


def check_duckdb(text: str) -> None:
    """Refuse ``text`` unless DuckDB reads it as one statement that passes the same rules.

    Applied to the exact text confined SQL sends to DuckDB (regenerated from the checked
    sqlglot tree), so a difference between the two parsers cannot let anything through.

    >>> check_duckdb("SELECT id FROM docs WHERE year > 2000")
    >>> check_duckdb("SELECT * FROM pg_settings")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    vecdb.errors.PermissionDeniedError: relation pg_settings (...) is not allowed in confined SQL
    """
    found = verify.kinds(text)
    if len(found) != 1:
        raise _deny(f"a text DuckDB reads as {len(found)} statements")
    if found[0] not in verify.READ_KINDS:
        return  # writes are checked on the sqlglot tree; DuckDB serialises only queries
    doc = verify.query_tree(text)
    if doc is None:
        raise _deny("a query DuckDB cannot show its parse tree for")
    for node in verify.ast_nodes(doc):
        kind = node.get("type")
        if kind == "BASE_TABLE":
            why = relation_refusal(
                node.get("catalog_name") or "", node.get("schema_name") or "", node["table_name"]
            )
            if why is not None:
                raise _deny(why)
            if not _PLAIN_NAME.match(node["table_name"]):
                raise _deny(f"table name {node['table_name']!r} (file reads)")
        elif kind == "TABLE_FUNCTION":
            fn = (node.get("function") or {}).get("function_name", "")
            if str(fn).lower() not in TABLE_FUNCTIONS:
                raise _deny(f"function {fn}")
        elif kind == "SHOW_REF":
            show = node.get("show_type")
            if not (show == "SHOW_SPECIAL" and node.get("table_name") == '"tables"') and not (
                show in ("DESCRIBE", "SHOW") and node.get("query") is not None
            ):
                raise _deny(f"SHOW {node.get('table_name') or show}")
        if node.get("class") == "FUNCTION":
            fn = str(node.get("function_name", "")).lower()
            if node.get("catalog") or node.get("schema") not in ("", None, "main"):
                raise _deny(f"function {node.get('schema')}.{fn}")
            if fn in _DENIED_FUNCTIONS or _DENIED_PREFIXES.match(fn):
                raise _deny(f"function {fn}")


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
