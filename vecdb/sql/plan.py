"""Plan: an analyzed statement -> the DuckDB text to run and the searches to run first.

A plan is an immutable value that the plan cache keeps per statement text; executing it
costs one ``_search_plan`` per search site and one DuckDB query. For each search site the
SELECT gets ``AND <t>.id IN ($__vecdb_c0_0, ...)`` (the candidate ids, bound per call), keeps
its ORDER BY/LIMIT/OFFSET, and DuckDB computes the exact distances on those rows only.

>>> from vecdb.sql.parse import parse
>>> from vecdb.sql.analyze import CollectionInfo
>>> cat = {"docs": CollectionInfo("docs", 3, "cosine", "hnsw", ("id", "year", "vec"))}
>>> p = plan(parse("SELECT id FROM docs WHERE year > $y ORDER BY cosine(vec, $q) LIMIT 2"), cat)
>>> p.kind
'search'
>>> print(p.sql)  # doctest: +NORMALIZE_WHITESPACE
SELECT id FROM docs WHERE (year > $y) AND docs.id IN ($__vecdb_c0_0, $__vecdb_c0_1)
ORDER BY ARRAY_COSINE_DISTANCE(vec, CAST($q AS REAL[3])) LIMIT 2
>>> p.searches[0].where_sql, p.searches[0].where_params
('year > $y', ('y',))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sqlglot import exp

from vecdb.errors import UnsupportedQueryError
from vecdb.sql.analyze import (
    ID_COLUMN,
    VEC_COLUMN,
    Analysis,
    Catalog,
    SearchSite,
    _order_function,
    analyze,
    selects,
    table_name,
)
from vecdb.sql.functions import (
    VectorFunction,
    function_args,
    rewrite_functions,
    vector_function,
)
from vecdb.sql.parse import DIALECT, Statement

__all__ = ["Plan", "SearchStep", "plan", "plan_kind", "MAX_SLOTS"]

#: up to this many candidates are bound as scalar parameters (faster in DuckDB than a list)
MAX_SLOTS = 256
_INDEXES = {"hnsw": "hnsw", "ivf": "ivf"}


@dataclass(frozen=True)
class SearchStep:
    """One index search to run before the DuckDB query.

    Attributes:
        collection: collection name.
        query_param: the parameter holding the query vector.
        dim: the collection's dimension.
        limit, offset: ints or parameter names; the search asks for ``limit + offset``.
        where_sql: the WHERE as DuckDB text over the bare table, or None.
        where_params: parameters ``where_sql`` uses.
        slots: names of the scalar candidate parameters (unused slots bind NULL), or ().
        list_param: the list parameter for candidates when ``slots`` is empty.
        function: the ordering vector function.
        probe_sql: the site run exactly by DuckDB, returning its ids (EXPLAIN ANALYZE).
    """

    collection: str
    query_param: str
    dim: int
    limit: int | str
    offset: int | str | None
    where_sql: str | None
    where_params: tuple[str, ...]
    slots: tuple[str, ...]
    list_param: str | None
    function: VectorFunction
    probe_sql: str


@dataclass(frozen=True)
class Plan:
    """How to run one statement.

    ``kind`` is one of: ``search`` (a query with index searches), ``exact`` (a query DuckDB
    runs as is), ``dml`` (INSERT/UPDATE/DELETE on a collection), ``create_collection``,
    ``create_index``, ``drop_index``, ``drop_collection``, ``passthrough`` (any other
    statement DuckDB runs as is).
    """

    kind: str
    sql: str | None
    sql_params: tuple[str, ...] = ()
    positional: bool = False
    searches: tuple[SearchStep, ...] = ()
    vector_dims: Mapping[str, int] = field(default_factory=dict)
    exact_sql: str | None = None
    reasons: tuple[str, ...] = ()
    deps: tuple[str, ...] = ()
    target: str | None = None
    ddl: Mapping[str, Any] = field(default_factory=dict)
    #: vector parameters whose dimension came from ``vector_lengths`` (or is still unknown)
    unresolved: tuple[str, ...] = ()
    #: for a top-level search whose SELECT list is only the id and the ordering distance:
    #: the output columns as ``(name, "id" | "distance" | "similarity")``; the engine's
    #: answer is then the result, with no DuckDB round trip
    direct: tuple[tuple[str, str], ...] = ()


def plan_kind(p: Plan) -> str:
    """A short label for golden files: ``search`` (``search*2`` for two sites), ``exact``, ...

    >>> plan_kind(Plan("search", "", searches=(None, None)))  # type: ignore[arg-type]
    'search*2'
    """
    if p.kind == "search" and len(p.searches) > 1:
        return f"search*{len(p.searches)}"
    return p.kind


def _sql(tree: exp.Expression) -> str:
    # comments are dropped: their text is the caller's and must never reach DuckDB
    return tree.sql(dialect=DIALECT, comments=False)


def _checked_text(statement: Statement) -> str:
    """The text DuckDB runs for a statement passed through as it is.

    Trusted (embedded) callers get their own text. Confined callers get text regenerated from
    the checked tree: DuckDB never sees a character of theirs that vecdb did not parse.
    """
    if not statement.confined and not statement.text_sites:
        return statement.body
    tree = statement.tree
    if isinstance(tree, exp.Show):
        return "SHOW TABLES"  # the only SHOW confinement allows (sqlglot cannot print it)
    return _sql(tree)


def _params_in(tree: exp.Expression) -> tuple[str, ...]:
    return tuple(dict.fromkeys(str(p.this) for p in tree.find_all(exp.Placeholder)))


def plan(
    statement: Statement,
    catalog: Catalog,
    vector_lengths: Mapping[str, int] | None = None,
) -> Plan:
    """Plan ``statement`` against ``catalog``.

    ``vector_lengths`` gives the length of vector parameters whose dimension the catalog does
    not tell (e.g. a vector function over a plain DuckDB table); they are cast to it.
    """
    analysis = analyze(statement, catalog)
    dims: dict[str, int] = {}
    expected: dict[str, int] = {}
    for name, dim in analysis.vector_params.items():
        if dim is not None:
            dims[name] = expected[name] = dim
        elif vector_lengths and name in vector_lengths:
            dims[name] = vector_lengths[name]
    deps = tuple(t for t in analysis.tables if t in catalog)
    unresolved = tuple(n for n, d in analysis.vector_params.items() if d is None)
    p = _plan(statement, analysis, catalog, dims, expected, deps)
    if unresolved:
        p = replace(p, unresolved=unresolved)
    return p


def _plan(
    statement: Statement,
    analysis: Analysis,
    catalog: Catalog,
    dims: dict[str, int],
    expected: dict[str, int],
    deps: tuple[str, ...],
) -> Plan:
    kind = analysis.kind
    tree = statement.tree
    if kind == "query":
        return _plan_query(statement, analysis, catalog, dims, expected, deps)
    if kind in ("insert", "update", "delete"):
        return _plan_dml(statement, analysis, catalog, dims, expected, deps)
    if kind == "truncate":
        targets = [table_name(t) for t in tree.find_all(exp.Table)]
        if any(t in catalog for t in targets):
            if len(targets) != 1:
                raise UnsupportedQueryError("TRUNCATE one collection at a time")
            name = targets[0]
            assert name is not None
            return Plan(
                "dml",
                f"DELETE FROM {_quote(catalog[name].name)} RETURNING id",
                target=catalog[name].name,
                deps=deps,
            )
    if kind == "create_table":
        return _plan_create_table(statement, analysis, catalog, dims, expected, deps)
    if kind == "create_index":
        return _plan_create_index(statement, catalog, deps)
    if kind in ("drop_index", "drop_table"):
        targets = list(tree.args.get("tables") or ([tree.this] if tree.this else []))
        names = [t.name for t in targets]
        exists = bool(tree.args.get("exists"))
        if kind == "drop_index":
            if len(names) != 1:
                raise UnsupportedQueryError("DROP INDEX one index at a time")
            return Plan(
                "drop_index",
                _checked_text(statement),
                ddl={"name": names[0], "exists": exists},
                deps=deps,
            )
        colls = [n for t in targets if (n := table_name(t)) in catalog]
        if colls:
            if len(targets) != 1:
                raise UnsupportedQueryError("DROP TABLE one collection at a time")
            return Plan(
                "drop_collection",
                None,
                target=catalog[colls[0]].name,
                ddl={"exists": exists},
                deps=deps,
            )
        return Plan("passthrough", _checked_text(statement), deps=deps)
    if kind == "transaction":
        raise UnsupportedQueryError(
            "transactions are not supported in vecdb SQL: every statement is atomic on its own"
        )
    if deps and not isinstance(tree, (exp.Describe, exp.Show, exp.Pragma, exp.Summarize)):
        what = type(tree).__name__.upper()
        raise UnsupportedQueryError(
            f"{what} on a collection is not supported (it would bypass its index): "
            f"{', '.join(deps)}"
        )
    return _passthrough(statement, analysis, dims, expected, deps)


def _passthrough(
    statement: Statement,
    analysis: Analysis,
    dims: dict[str, int],
    expected: dict[str, int],
    deps: tuple[str, ...],
    kind: str = "passthrough",
) -> Plan:
    tree = statement.tree
    if statement.confined and not isinstance(tree, exp.Show):
        out = _vector_types(rewrite_functions(tree, dims))
        sql = _sql(out)
        return Plan(kind, sql, _params_in(out), False, (), expected, sql, analysis.reasons, deps)
    if (
        not analysis.vector_params
        and not _has_vector_function(tree)
        and not _has_vector_type(tree)
        and not statement.text_sites  # lifted text functions: run the rewritten tree
    ):
        # nothing to rewrite: DuckDB gets the text exactly as written
        return Plan(
            kind,
            _checked_text(statement),
            sql_params=statement.param_names,
            positional=statement.param_style == "positional",
            reasons=analysis.reasons,
            deps=deps,
            vector_dims=expected,
        )
    out = _vector_types(rewrite_functions(tree, dims))
    sql = _sql(out)
    return Plan(kind, sql, _params_in(out), False, (), expected, sql, analysis.reasons, deps)


def _has_vector_function(tree: exp.Expression) -> bool:
    return any(vector_function(n) is not None for n in tree.walk())


def _has_vector_type(tree: exp.Expression) -> bool:
    return any(
        isinstance(n, exp.DataType) and n.this == exp.DataType.Type.VECTOR for n in tree.walk()
    )


def _vector_types(tree: exp.Expression) -> exp.Expression:
    """``VECTOR(n)`` -> ``FLOAT[n]`` (DuckDB has no VECTOR type)."""

    def fix(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.DataType) and node.this == exp.DataType.Type.VECTOR:
            n = node.expressions[0]
            value = n.this if isinstance(n, exp.DataTypeParam) else n
            return exp.DataType(
                this=exp.DataType.Type.ARRAY,
                expressions=[exp.DataType(this=exp.DataType.Type.FLOAT)],
                values=[value.copy()],
                nested=True,
            )
        return node

    return tree.transform(fix, copy=False)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _restrict(
    tree: exp.Expression, sites: tuple[SearchSite, ...], catalog: Catalog, dims: Mapping[str, int]
) -> tuple[exp.Expression, list[SearchStep]]:
    """A copy of ``tree`` with each site's SELECT restricted to its candidate parameters."""
    out = tree.copy()
    nodes = selects(out)
    steps: list[SearchStep] = []
    for n, site in enumerate(sites):
        select = nodes[site.select_index]
        info = catalog[site.collection]
        id_col = exp.column(ID_COLUMN, table=site.qualifier, quoted=False)
        slots: tuple[str, ...] = ()
        list_param = None
        k = _static_k(site)
        if k is not None and 0 < k <= MAX_SLOTS:
            slots = tuple(f"__vecdb_c{n}_{i}" for i in range(k))
            cond: exp.Expression = exp.In(
                this=id_col, expressions=[exp.Placeholder(this=s) for s in slots]
            )
        else:
            list_param = f"__vecdb_c{n}"
            unnest = exp.select(
                exp.Anonymous(this="unnest", expressions=[exp.Placeholder(this=list_param)])
            )
            cond = exp.In(this=id_col, query=exp.Subquery(this=unnest))
        probe = _probe(select, site)
        where = select.args.get("where")
        if where is None:
            select.set("where", exp.Where(this=cond))
        else:
            select.set("where", exp.Where(this=exp.and_(exp.Paren(this=where.this), cond)))
        where_sql = None
        if site.where is not None:
            where_sql = _sql(_vector_types(rewrite_functions(site.where, dims)))
        steps.append(
            SearchStep(
                collection=info.name,
                query_param=site.query_param,
                dim=info.dim,
                limit=site.limit,
                offset=site.offset,
                where_sql=where_sql,
                where_params=site.where_params,
                slots=slots,
                list_param=list_param,
                function=site.function,
                probe_sql=_sql(rewrite_functions(probe, dims)),
            )
        )
    return out, steps


def _probe(select: exp.Select, site: SearchSite) -> exp.Expression:
    """The site's SELECT returning only its ids (before restriction), for recall checks."""
    probe = select.copy()
    found = _order_function(select)
    if found is not None:
        key, call, _ = found
        probe.set(
            "order",
            exp.Order(
                expressions=[
                    exp.Ordered(
                        this=call.copy(), desc=bool(key.args.get("desc")), nulls_first=False
                    )
                ]
            ),
        )
    probe.set("expressions", [exp.column(ID_COLUMN, table=site.qualifier)])
    probe.set("with_", None)
    probe.set("with", None)
    return probe


def _static_k(site: SearchSite) -> int | None:
    if isinstance(site.limit, int) and (site.offset is None or isinstance(site.offset, int)):
        return site.limit + (site.offset or 0)
    return None


def _plan_query(
    statement: Statement,
    analysis: Analysis,
    catalog: Catalog,
    dims: dict[str, int],
    expected: dict[str, int],
    deps: tuple[str, ...],
) -> Plan:
    if not analysis.sites:
        p = _passthrough(statement, analysis, dims, expected, deps, kind="exact")
        return p
    for site in analysis.sites:
        expected.setdefault(site.query_param, catalog[site.collection].dim)
        dims.setdefault(site.query_param, catalog[site.collection].dim)
    restricted, steps = _restrict(statement.tree, analysis.sites, catalog, dims)
    out = _vector_types(rewrite_functions(restricted, dims))
    exact = _vector_types(rewrite_functions(statement.tree, dims))
    direct = _direct_projection(statement.tree, analysis.sites, catalog)
    return Plan(
        "search",
        _sql(out),
        _params_in(out),
        False,
        tuple(steps),
        expected,
        _sql(exact),
        analysis.reasons,
        deps,
        direct=direct,
    )


def _direct_projection(
    tree: exp.Expression, sites: tuple[SearchSite, ...], catalog: Catalog | None = None
) -> tuple[tuple[str, str], ...]:
    """The output columns when the engine's ids, distances and row store are the whole answer.

    That is a top-level ``SELECT id [AS a], <fn>(vec, $q) AS d, col [AS b], vec ... FROM c
    [WHERE ...] ORDER BY ... LIMIT ...`` whose functions share the ORDER BY's metric and query
    parameter, and whose plain columns are the collection's own, spelled as declared. The
    kinds are ``id``, ``distance``, ``similarity``, ``vec`` and ``column:<name>``. Anything
    else (expressions, ``*``, CTEs, set operations, joins) returns ``()`` and runs in DuckDB.

    >>> import sqlglot
    >>> from vecdb.sql.analyze import SearchSite
    >>> from vecdb.sql.functions import FUNCTIONS
    >>> t = sqlglot.parse_one("SELECT id, cosine(vec, $q) AS d FROM c ORDER BY d LIMIT 3",
    ...                       read="duckdb")
    >>> site = SearchSite(0, "c", "c", FUNCTIONS["cosine"], "q", 3, None, None, ())
    >>> _direct_projection(t, (site,))
    (('id', 'id'), ('d', 'distance'))
    """
    if len(sites) != 1 or not isinstance(tree, exp.Select) or tree.args.get("with"):
        return ()
    site = sites[0]
    if site.select_index != 0 or not tree.expressions:
        return ()
    if tree.args.get("joins") or tree.args.get("group") or tree.args.get("distinct"):
        return ()
    names = {site.qualifier.lower(), site.collection.lower()}
    info = catalog.get(site.collection) if catalog is not None else None
    declared = set(info.columns) if info is not None else set()
    out = []
    for proj in tree.expressions:
        node, alias = (proj.this, proj.alias) if isinstance(proj, exp.Alias) else (proj, None)
        if isinstance(node, exp.Column) and node.name.lower() == ID_COLUMN:
            if node.table and node.table.lower() not in names:
                return ()
            out.append((alias or node.name, "id"))
            continue
        if isinstance(node, exp.Column) and isinstance(node.this, exp.Identifier):
            if node.name not in declared or (node.table and node.table.lower() not in names):
                return ()
            kind = "vec" if node.name == VEC_COLUMN else f"column:{node.name}"
            out.append((alias or node.name, kind))
            continue
        fn = vector_function(node)
        if fn is None or alias is None or fn.metric != site.function.metric:
            return ()
        a, b = function_args(node)
        if isinstance(a, exp.Placeholder):
            a, b = b, a
        if not (
            isinstance(a, exp.Column)
            and a.name.lower() == VEC_COLUMN
            and (not a.table or a.table.lower() in names)
            and isinstance(b, exp.Placeholder)
            and str(b.this) == site.query_param
        ):
            return ()
        out.append((alias, "similarity" if fn.descending else "distance"))
    if len({name.lower() for name, _ in out}) != len(out):
        return ()
    return tuple(out)


def _plan_dml(
    statement: Statement,
    analysis: Analysis,
    catalog: Catalog,
    dims: dict[str, int],
    expected: dict[str, int],
    deps: tuple[str, ...],
) -> Plan:
    tree = statement.tree
    target_node = tree.this
    if isinstance(target_node, exp.Schema):
        target_node = target_node.this
    target = table_name(target_node) if isinstance(target_node, exp.Table) else None
    if target not in catalog:
        if analysis.sites:
            return _search_statement(
                "passthrough", statement, analysis, catalog, dims, expected, deps
            )
        return _passthrough(statement, analysis, dims, expected, deps)
    assert target is not None
    if tree.args.get("returning"):
        raise UnsupportedQueryError(
            "RETURNING on a collection is not supported; SELECT the rows afterwards"
        )
    if isinstance(tree, exp.Update):
        for assignment in tree.expressions:
            col = assignment.this
            if isinstance(col, exp.Column) and col.name.lower() == ID_COLUMN:
                raise UnsupportedQueryError(
                    "UPDATE of a collection's id is not supported; DELETE and INSERT instead"
                )
    out = tree.copy()
    out.set("returning", exp.Returning(expressions=[exp.column(ID_COLUMN)]))
    p = _search_statement("dml", statement, analysis, catalog, dims, expected, deps, out)
    return Plan(
        "dml",
        p.sql,
        p.sql_params,
        False,
        p.searches,
        p.vector_dims,
        None,
        p.reasons,
        deps,
        catalog[target].name,
    )


def _search_statement(
    kind: str,
    statement: Statement,
    analysis: Analysis,
    catalog: Catalog,
    dims: dict[str, int],
    expected: dict[str, int],
    deps: tuple[str, ...],
    tree: exp.Expression | None = None,
) -> Plan:
    """A non-SELECT statement (INSERT ... SELECT, CREATE TABLE AS) with search sites inside."""
    base = tree if tree is not None else statement.tree
    for site in analysis.sites:
        expected.setdefault(site.query_param, catalog[site.collection].dim)
        dims.setdefault(site.query_param, catalog[site.collection].dim)
    restricted, steps = _restrict(base, analysis.sites, catalog, dims)
    out = _vector_types(rewrite_functions(restricted, dims))
    return Plan(
        kind,
        _sql(out),
        _params_in(out),
        False,
        tuple(steps),
        expected,
        None,
        analysis.reasons,
        deps,
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


def _plan_create_table(
    statement: Statement,
    analysis: Analysis,
    catalog: Catalog,
    dims: dict[str, int],
    expected: dict[str, int],
    deps: tuple[str, ...],
) -> Plan:
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
            columns: dict[str, str] = {}
            for d in defs:
                if d.name.lower() in (VEC_COLUMN, ID_COLUMN):
                    continue
                kind = d.args.get("kind")
                if kind is None:
                    raise UnsupportedQueryError(f"column {d.name} needs a type")
                columns[d.name] = _sql(_vector_types(kind.copy()))
            return Plan(
                "create_collection",
                None,
                target=name,
                ddl={
                    "name": name,
                    "dim": dim,
                    "columns": columns,
                    "id_type": id_type,
                    "exist_ok": bool(tree.args.get("exists")),
                },
                deps=deps,
            )
    name = table_name(schema.this if isinstance(schema, exp.Schema) else schema)
    if name in catalog:
        raise UnsupportedQueryError(f"{name} is a collection; DROP TABLE it first")
    if analysis.sites:
        return _search_statement("passthrough", statement, analysis, catalog, dims, expected, deps)
    return _passthrough(statement, analysis, dims, expected, deps)


def _plan_create_index(statement: Statement, catalog: Catalog, deps: tuple[str, ...]) -> Plan:
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
        return Plan("passthrough", _checked_text(statement), deps=deps)
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
    return Plan(
        "create_index",
        None,
        target=catalog[name].name,
        ddl={
            "name": index.name,
            "index": _INDEXES[kind],
            "metric": metric,
            "params": params,
            "exist_ok": bool(tree.args.get("exists")),
        },
        deps=deps,
    )


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)
