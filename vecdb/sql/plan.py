"""Plan: an analyzed statement -> one of the plan values of :mod:`vecdb.sql.plans`.

The SQL layer is a pipeline of values: ``parse`` (text -> :class:`Statement`), ``analyze``
(-> :class:`Analysis`: kind, tables, search sites), ``rewrite`` (once, tree -> tree), and
``plan`` (-> a frozen plan that the plan cache keeps per statement text). Executing a search
plan costs one collection search per site and one DuckDB query. For each site the SELECT
gets ``AND <t>.id IN ($__vecdb_c0_0, ...)`` (the candidate ids, bound per call), keeps its
ORDER BY/LIMIT/OFFSET, and DuckDB computes the exact distances on those rows only.

>>> from vecdb.sql.parse import parse
>>> from vecdb.sql.analyze import CollectionInfo, analyze
>>> cat = {"docs": CollectionInfo("docs", 3, "cosine", "hnsw", ("id", "year", "vec"))}
>>> a = analyze(parse("SELECT id FROM docs WHERE year > $y ORDER BY cosine(vec, $q) LIMIT 2"), cat)
>>> p = plan(a, cat)
>>> p.kind
'search'
>>> print(p.sql)  # doctest: +NORMALIZE_WHITESPACE
SELECT id FROM docs WHERE (year > $y) AND docs.id IN ($__vecdb_c0_0, $__vecdb_c0_1)
ORDER BY ARRAY_COSINE_DISTANCE(vec, CAST($q AS REAL[3])) LIMIT 2
>>> p.searches[0].where
Predicate(text='year > $y', sql='year > $y', params=('y',), confined=False)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from sqlglot import exp

from vecdb.errors import UnsupportedQueryError
from vecdb.sql.analyze import ID_COLUMN, Analysis, Catalog, analyze, table_name
from vecdb.sql.ddl import plan_create_index, plan_create_table, plan_drop
from vecdb.sql.parse import Statement
from vecdb.sql.plans import (
    DmlPlan,
    ExactPlan,
    PassthroughPlan,
    Plan,
    QueryPlan,
    SearchPlan,
    plan_kind,
)
from vecdb.sql.rewrite import (
    MAX_SLOTS,
    checked_text,
    direct_projection,
    needs_rewrite,
    params_in,
    quote,
    restrict,
    rewrite,
    sql_of,
)

__all__ = ["Plan", "plan", "plan_kind", "MAX_SLOTS"]


@dataclass(frozen=True)
class _Dims:
    """Vector parameter lengths: ``dims`` to cast to, ``expected`` to check calls against."""

    dims: dict[str, int]
    expected: dict[str, int]
    deps: tuple[str, ...]


def plan(
    analysis: Analysis | Statement,
    catalog: Catalog,
    vector_lengths: Mapping[str, int] | None = None,
) -> Plan:
    """Plan an analyzed statement against ``catalog`` (a Statement is analyzed first).

    ``vector_lengths`` gives the length of vector parameters whose dimension the catalog does
    not tell (e.g. a vector function over a plain DuckDB table); they are cast to it.
    """
    if isinstance(analysis, Statement):
        analysis = analyze(analysis, catalog)
    dims: dict[str, int] = {}
    expected: dict[str, int] = {}
    for name, dim in analysis.vector_params.items():
        if dim is not None:
            dims[name] = expected[name] = dim
        elif vector_lengths and name in vector_lengths:
            dims[name] = vector_lengths[name]
    for site in analysis.sites:
        expected.setdefault(site.query_param, catalog[site.collection].dim)
        dims.setdefault(site.query_param, catalog[site.collection].dim)
    ctx = _Dims(dims, expected, tuple(t for t in analysis.tables if t in catalog))
    p = _plan(analysis, catalog, ctx)
    unresolved = tuple(n for n, d in analysis.vector_params.items() if d is None)
    if unresolved and isinstance(p, (SearchPlan, ExactPlan, PassthroughPlan, DmlPlan)):
        p = replace(p, unresolved=unresolved)
    return p


def _plan(analysis: Analysis, catalog: Catalog, ctx: _Dims) -> Plan:
    statement = analysis.statement
    kind = analysis.kind
    tree = statement.tree
    if kind == "query":
        return _plan_query(analysis, catalog, ctx)
    if kind in ("insert", "update", "delete"):
        return _plan_dml(analysis, catalog, ctx)
    if kind == "truncate":
        targets = [table_name(t) for t in tree.find_all(exp.Table)]
        if any(t in catalog for t in targets):
            if len(targets) != 1:
                raise UnsupportedQueryError("TRUNCATE one collection at a time")
            name = targets[0]
            assert name is not None
            return DmlPlan(
                sql=f"DELETE FROM {quote(catalog[name].name)} RETURNING id",
                target=catalog[name].name,
                deps=ctx.deps,
            )
    if kind == "create_table":
        made = plan_create_table(statement, catalog, ctx.deps)
        if made is not None:
            return made
        if analysis.sites:
            return _with_searches(PassthroughPlan, tree, analysis, catalog, ctx)
        return _passthrough(analysis, ctx)
    if kind == "create_index":
        return plan_create_index(statement, catalog, ctx.deps)
    if kind in ("drop_index", "drop_table"):
        return plan_drop(statement, catalog, ctx.deps)
    if kind == "transaction":
        raise UnsupportedQueryError(
            "transactions are not supported in vecdb SQL: every statement is atomic on its own"
        )
    if ctx.deps and not isinstance(tree, (exp.Describe, exp.Show, exp.Pragma, exp.Summarize)):
        what = type(tree).__name__.upper()
        raise UnsupportedQueryError(
            f"{what} on a collection is not supported (it would bypass its index): "
            f"{', '.join(ctx.deps)}"
        )
    return _passthrough(analysis, ctx)


def _passthrough(
    analysis: Analysis, ctx: _Dims, cls: type[ExactPlan | PassthroughPlan] = PassthroughPlan
) -> ExactPlan | PassthroughPlan:
    statement = analysis.statement
    tree = statement.tree
    if statement.confined and isinstance(tree, exp.Show):
        return cls(sql=checked_text(statement), deps=ctx.deps, reasons=analysis.reasons)
    if (
        not statement.confined
        and not statement.text_sites  # lifted text functions: run the rewritten tree
        and not analysis.vector_params
        and not needs_rewrite(tree)
    ):
        # nothing to rewrite: DuckDB gets the text exactly as written
        return cls(
            sql=checked_text(statement),
            sql_params=statement.param_names,
            positional=statement.param_style == "positional",
            vector_dims=ctx.expected,
            reasons=analysis.reasons,
            deps=ctx.deps,
        )
    out = rewrite(tree, ctx.dims)
    return cls(
        sql=sql_of(out),
        sql_params=params_in(out),
        vector_dims=ctx.expected,
        reasons=analysis.reasons,
        deps=ctx.deps,
    )


def _plan_query(analysis: Analysis, catalog: Catalog, ctx: _Dims) -> SearchPlan | ExactPlan:
    if not analysis.sites:
        return _passthrough(analysis, ctx, ExactPlan)
    tree = analysis.statement.tree
    rewritten = rewrite(tree, ctx.dims)
    restricted, steps = restrict(rewritten, analysis.sites, catalog, analysis.statement.confined)
    return SearchPlan(
        sql=sql_of(restricted),
        sql_params=params_in(restricted),
        searches=steps,
        vector_dims=ctx.expected,
        reasons=analysis.reasons,
        deps=ctx.deps,
        exact_sql=sql_of(rewritten),
        direct=direct_projection(tree, analysis.sites, catalog),
    )


def _with_searches(
    cls: type[PassthroughPlan] | type[DmlPlan],
    tree: exp.Expression,
    analysis: Analysis,
    catalog: Catalog,
    ctx: _Dims,
    target: str = "",
) -> PassthroughPlan | DmlPlan:
    """A non-SELECT statement (INSERT ... SELECT, CREATE TABLE AS) with search sites inside."""
    restricted, steps = restrict(
        rewrite(tree, ctx.dims), analysis.sites, catalog, analysis.statement.confined
    )
    fields = dict(
        sql=sql_of(restricted),
        sql_params=params_in(restricted),
        searches=steps,
        vector_dims=ctx.expected,
        reasons=analysis.reasons,
        deps=ctx.deps,
    )
    if cls is DmlPlan:
        return DmlPlan(target=target, **fields)  # type: ignore[arg-type]
    return PassthroughPlan(**fields)  # type: ignore[arg-type]


def _plan_dml(analysis: Analysis, catalog: Catalog, ctx: _Dims) -> QueryPlan:
    tree = analysis.statement.tree
    target_node = tree.this
    if isinstance(target_node, exp.Schema):
        target_node = target_node.this
    target = table_name(target_node) if isinstance(target_node, exp.Table) else None
    if target not in catalog:
        if analysis.sites:
            return _with_searches(PassthroughPlan, tree, analysis, catalog, ctx)
        return _passthrough(analysis, ctx)
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
    return _with_searches(DmlPlan, out, analysis, catalog, ctx, catalog[target].name)
