"""DDL plans: CREATE TABLE of a collection (types and constraints kept), CREATE/DROP INDEX,
DROP TABLE; and the check of column constraints that a collection's table is created with.

>>> from vecdb.sql.parse import parse
>>> p = plan_create_table(parse(
...     "CREATE TABLE c (id BIGINT PRIMARY KEY, year INTEGER NOT NULL DEFAULT 2000 "
...     "CHECK (year > 1900), vec FLOAT[3])"), {}, ())
>>> p.kind, dict(p.columns), dict(p.constraints)
('create_collection', {'year': 'INT'}, {'year': 'NOT NULL DEFAULT 2000 CHECK (year > 1900)'})
>>> check_constraint("NOT NULL UNIQUE")
'NOT NULL UNIQUE'
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from vecdb.errors import InvalidArgumentError, UnsupportedQueryError, VecdbError
from vecdb.sql import confine, verify
from vecdb.sql.analyze import ID_COLUMN, VEC_COLUMN, Catalog, table_name
from vecdb.sql.parse import DIALECT, Statement
from vecdb.sql.plans import (
    CreateCollectionPlan,
    CreateIndexPlan,
    DropCollectionPlan,
    DropIndexPlan,
    PassthroughPlan,
)
from vecdb.sql.rewrite import checked_text, quote, sql_of, vector_types

__all__ = ["plan_create_table", "plan_create_index", "plan_drop", "check_constraint"]

_INDEXES = {"hnsw": "hnsw", "ivf": "ivf"}
#: constraints a collection's own columns may carry (the id is its primary key)
_COLUMN_CONSTRAINTS = (
    exp.NotNullColumnConstraint,
    exp.DefaultColumnConstraint,
    exp.CheckColumnConstraint,
    exp.UniqueColumnConstraint,
    exp.CollateColumnConstraint,
)
_CONSTRAINT_HINT = (
    "a collection's column takes NOT NULL, DEFAULT, CHECK, UNIQUE and COLLATE constraints"
)


def _vector_dim(kind: exp.DataType) -> int | None:
    """n for FLOAT[n] / REAL[n] / VECTOR(n), else None."""
    if kind.this == exp.DataType.Type.VECTOR and kind.expressions:
        n = kind.expressions[0]
        value = n.this if isinstance(n, exp.DataTypeParam) else n
        return int(value.this) if isinstance(value, exp.Literal) else None
    if kind.this == exp.DataType.Type.ARRAY and kind.args.get("values"):
        inner = kind.expressions[0] if kind.expressions else None
        if inner is not None and inner.this == exp.DataType.Type.FLOAT:
            value = kind.args["values"][0]
            return int(value.this) if isinstance(value, exp.Literal) else None
    return None


def _kinds(d: exp.ColumnDef) -> list[exp.Expression]:
    return [c.args.get("kind") for c in d.args.get("constraints") or []]


def plan_create_table(
    statement: Statement, catalog: Catalog, deps: tuple[str, ...]
) -> CreateCollectionPlan | None:
    """The plan of a ``CREATE TABLE`` that makes a collection (an ``id`` column and a
    ``vec FLOAT[n]`` column), or None for a plain table.

    Each column keeps its type and its constraints; the id may be the primary key (it is
    one always), and the vector may be NOT NULL (it is always). Other constraints on either,
    a primary key on another column, or a table-level constraint other than ``PRIMARY KEY
    (id)`` are refused with an UnsupportedQueryError rather than dropped.
    """
    tree = statement.tree
    schema = tree.this
    if isinstance(schema, exp.Schema) and not tree.args.get("expression"):
        table = schema.this
        name = table.name if isinstance(table, exp.Table) else ""
        defs = [e for e in schema.expressions if isinstance(e, exp.ColumnDef)]
        by_name = {d.name.lower(): d for d in defs}
        vec = by_name.get(VEC_COLUMN)
        ident = by_name.get(ID_COLUMN)
        dim = _vector_dim(vec.args["kind"]) if vec is not None and vec.args.get("kind") else None
        if dim is not None and ident is not None and table_name(table) is not None:
            assert vec is not None
            return _collection(statement, name, dim, ident, vec, defs, schema, deps)
    name = table_name(schema.this if isinstance(schema, exp.Schema) else schema)
    if name in catalog:
        raise UnsupportedQueryError(f"{name} is a collection; DROP TABLE it first")
    return None


def _collection(
    statement: Statement,
    name: str,
    dim: int,
    ident: exp.ColumnDef,
    vec: exp.ColumnDef,
    defs: list[exp.ColumnDef],
    schema: exp.Schema,
    deps: tuple[str, ...],
) -> CreateCollectionPlan:
    tree = statement.tree
    if tree.args.get("replace"):
        raise UnsupportedQueryError(
            "CREATE OR REPLACE of a collection is not supported; DROP TABLE first"
        )
    id_kind = ident.args.get("kind")
    id_type = "int"
    if id_kind is not None and id_kind.this in (
        exp.DataType.Type.TEXT,
        exp.DataType.Type.VARCHAR,
        exp.DataType.Type.CHAR,
    ):
        id_type = "str"
    elif id_kind is None or not id_kind.is_type(*exp.DataType.INTEGER_TYPES):
        raise UnsupportedQueryError("a collection's id is BIGINT or VARCHAR")
    for d, allowed in ((ident, (exp.PrimaryKeyColumnConstraint, exp.NotNullColumnConstraint)),
                       (vec, (exp.NotNullColumnConstraint,))):  # fmt: skip
        if any(not isinstance(k, allowed) for k in _kinds(d)):
            raise UnsupportedQueryError(
                f"a collection's {d.name} takes no constraints but "
                + ("PRIMARY KEY and NOT NULL (it is the key)" if d is ident else "NOT NULL")
            )
    for other in schema.expressions:
        if isinstance(other, exp.ColumnDef):
            continue
        keys = [c.name.lower() for c in other.expressions] if other.expressions else []
        if not (isinstance(other, exp.PrimaryKey) and keys == [ID_COLUMN]):
            raise UnsupportedQueryError(
                f"a collection takes no table constraint but PRIMARY KEY (id), got "
                f"{sql_of(other)}; write it on a column ({_CONSTRAINT_HINT})"
            )
    columns: dict[str, str] = {}
    constraints: dict[str, str] = {}
    for d in defs:
        if d.name.lower() in (VEC_COLUMN, ID_COLUMN):
            continue
        kind = d.args.get("kind")
        if kind is None:
            raise UnsupportedQueryError(f"column {d.name} needs a type")
        columns[d.name] = sql_of(vector_types(kind.copy()))
        kinds = _kinds(d)
        if any(isinstance(k, exp.PrimaryKeyColumnConstraint) for k in kinds):
            raise UnsupportedQueryError(
                f"a collection's primary key is its id; make {d.name} UNIQUE NOT NULL instead"
            )
        if any(not isinstance(k, _COLUMN_CONSTRAINTS) for k in kinds):
            raise UnsupportedQueryError(f"{_CONSTRAINT_HINT}; column {d.name} has another")
        if kinds:
            constraints[d.name] = " ".join(sql_of(c) for c in d.args["constraints"])
    id_sql = "BIGINT" if id_type == "int" else "VARCHAR"
    cols = "".join(
        f", {quote(c)} {t}" + (f" {constraints[c]}" if c in constraints else "")
        for c, t in columns.items()
    )
    check_sql = f"CREATE TABLE {quote(name)} (id {id_sql} PRIMARY KEY{cols}, vec FLOAT[{dim}])"
    return CreateCollectionPlan(
        name=name,
        dim=dim,
        columns=columns,
        constraints=constraints,
        id_type=id_type,
        exist_ok=bool(tree.args.get("exists")),
        check_sql=check_sql,
        deps=deps,
    )


@lru_cache(maxsize=512)
def check_constraint(text: str, column_type: str = "VARCHAR") -> str:
    """One column's constraints (``NOT NULL``, ``DEFAULT``, ``CHECK``, ``UNIQUE``,
    ``COLLATE``) as text regenerated from their checked parse tree; ``column_type`` is the
    column's (canonical) type.

    They are read by both parsers as the constraints of one column of one CREATE TABLE, and
    pass confined SQL's rules whoever calls (a DEFAULT or CHECK may not reach files, the
    network, settings or internals).

    >>> check_constraint("default 3  check (year > 1900) -- c")
    'DEFAULT 3 CHECK (year > 1900)'
    >>> check_constraint("NOT NULL, evil INTEGER")
    Traceback (most recent call last):
    ...
    vecdb.errors.InvalidArgumentError: column constraints 'NOT NULL, evil INTEGER' are not \
one column's constraints (a collection's column takes NOT NULL, DEFAULT, CHECK, UNIQUE and \
COLLATE constraints)
    """
    bad = InvalidArgumentError(
        f"column constraints {text!r} are not one column's constraints ({_CONSTRAINT_HINT})"
    )
    if not isinstance(text, str) or not text.strip() or "\x00" in text or len(text) > 4096:
        raise bad
    probe = f"CREATE TABLE t (c {verify.canonical_type(column_type)} {text}\n)"
    try:
        trees = [t for t in sqlglot.parse(probe, read=DIALECT) if t is not None]
    except (ParseError, TokenError):
        raise bad from None
    if len(trees) != 1 or not isinstance(trees[0], exp.Create):
        raise bad
    schema = trees[0].this
    if not isinstance(schema, exp.Schema) or len(schema.expressions) != 1:
        raise bad
    (col,) = schema.expressions
    if not isinstance(col, exp.ColumnDef) or not col.args.get("constraints"):
        raise bad
    if any(not isinstance(k, _COLUMN_CONSTRAINTS) for k in _kinds(col)):
        raise bad
    confine.check(trees[0])
    out = " ".join(sql_of(c) for c in col.args["constraints"])
    for sql in (probe, f"CREATE TABLE t (c {verify.canonical_type(column_type)} {out})"):
        try:
            ok = verify.kinds(sql) == ("CREATE",)
        except VecdbError:
            ok = False
        if not ok:
            raise bad
    return out


def plan_create_index(
    statement: Statement, catalog: Catalog, deps: tuple[str, ...]
) -> CreateIndexPlan | PassthroughPlan:
    """``CREATE INDEX ... USING HNSW|IVF (vec) WITH (...)`` on a collection, or DuckDB's own
    index on a plain table."""
    tree = statement.tree
    index = tree.this
    table = index.args.get("table") if isinstance(index, exp.Index) else None
    name = table_name(table) if isinstance(table, exp.Table) else None
    iparams = index.args.get("params")
    using = iparams.args.get("using") if iparams is not None else None
    kind = (using.name if using is not None else "").lower()
    if name not in catalog:
        if kind in _INDEXES:
            raise UnsupportedQueryError(
                f"USING {kind.upper()} needs a collection, and {name} is not one: a collection "
                "is a table with an id primary key and its vectors in a column named vec, "
                "e.g. CREATE TABLE t (id BIGINT PRIMARY KEY, title VARCHAR, vec FLOAT[384])"
            )
        return PassthroughPlan(sql=checked_text(statement), deps=deps)
    assert name is not None
    if kind not in _INDEXES:
        raise UnsupportedQueryError(
            f"a collection takes USING HNSW or USING IVF indexes on vec, not {kind or 'ART'}"
        )
    cols = iparams.args.get("columns") or []
    col_names = [
        c.this.name.lower() if isinstance(c, exp.Ordered) else c.name.lower() for c in cols
    ]
    if col_names != [VEC_COLUMN]:
        raise UnsupportedQueryError("a vector index is on the vec column: USING HNSW (vec)")
    metric = None
    params: dict[str, Any] = {}
    for prop in iparams.args.get("with_storage") or []:
        key = (
            prop.name.lower()
            if not isinstance(prop, exp.Property)
            else str(prop.this.name if isinstance(prop.this, exp.Expression) else prop.this).lower()
        )
        value = prop.args.get("value")
        if isinstance(value, exp.Literal):
            v: Any = value.this if value.is_string else _number(value.this)
        elif isinstance(value, exp.Boolean):
            v = value.this
        elif isinstance(value, exp.Null):
            v = None
        elif isinstance(value, (exp.Var, exp.Column, exp.Identifier)):
            v = value.name
        else:
            raise UnsupportedQueryError(f"index option {key} must be a constant")
        if key == "metric":
            metric = str(v).lower()
        else:
            params[key] = v
    return CreateIndexPlan(
        target=catalog[name].name,
        name=index.name,
        index=_INDEXES[kind],
        metric=metric,
        params=params,
        exist_ok=bool(tree.args.get("exists")),
        deps=deps,
    )


def plan_drop(
    statement: Statement, catalog: Catalog, deps: tuple[str, ...]
) -> DropIndexPlan | DropCollectionPlan | PassthroughPlan:
    """``DROP INDEX`` (maybe a collection's vector index) and ``DROP TABLE``."""
    tree = statement.tree
    targets = list(tree.args.get("tables") or ([tree.this] if tree.this else []))
    exists = bool(tree.args.get("exists"))
    if str(tree.args.get("kind") or "").lower() == "index":
        if len(targets) != 1:
            raise UnsupportedQueryError("DROP INDEX one index at a time")
        return DropIndexPlan(
            name=targets[0].name, exists=exists, sql=checked_text(statement), deps=deps
        )
    colls = [n for t in targets if (n := table_name(t)) in catalog]
    if colls:
        if len(targets) != 1:
            raise UnsupportedQueryError("DROP TABLE one collection at a time")
        return DropCollectionPlan(target=catalog[colls[0]].name, exists=exists, deps=deps)
    return PassthroughPlan(sql=checked_text(statement), deps=deps)


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)


def constraints_of(spec_constraints: Mapping[str, str] | None) -> dict[str, str]:
    """Every column's constraints checked (see :func:`check_constraint`)."""
    return {c: check_constraint(t) for c, t in (spec_constraints or {}).items()}
