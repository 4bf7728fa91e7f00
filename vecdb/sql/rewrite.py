"""Rewrite: the one tree-to-tree step between analysis and plan.

A statement is rewritten once (:func:`rewrite`: vector functions -> DuckDB builtins with
their query vectors cast to ``FLOAT[n]``, ``VECTOR(n)`` -> ``FLOAT[n]``). Everything a plan
runs is cut from that rewritten tree: the exact query, the query restricted to each search
site's candidates (:func:`restrict`), each site's probe and its pushed predicate.

>>> from vecdb.sql.parse import parse
>>> t = rewrite(parse("SELECT cosine(vec, $q) AS d FROM docs").tree, {"q": 3})
>>> sql_of(t)
'SELECT ARRAY_COSINE_DISTANCE(vec, CAST($q AS REAL[3])) AS d FROM docs'
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlglot import exp

from vecdb.sql.analyze import (
    ID_COLUMN,
    VEC_COLUMN,
    Catalog,
    SearchSite,
    _order_function,
    qualify_where,
    selects,
)
from vecdb.sql.functions import function_args, rewrite_functions, vector_function
from vecdb.sql.parse import DIALECT, Statement
from vecdb.sql.plans import SearchStep
from vecdb.sql.predicate import pushed_predicate

__all__ = ["rewrite", "restrict", "direct_projection", "sql_of", "params_in", "checked_text"]

#: up to this many candidates are bound as scalar parameters (faster in DuckDB than a list)
MAX_SLOTS = 256


def sql_of(tree: exp.Expression) -> str:
    """DuckDB text of ``tree``; comments are dropped (their text is the caller's)."""
    return tree.sql(dialect=DIALECT, comments=False)


def quote(name: str) -> str:
    """A double-quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def params_in(tree: exp.Expression) -> tuple[str, ...]:
    """Parameter names in ``tree``, in order of first appearance."""
    return tuple(dict.fromkeys(str(p.this) for p in tree.find_all(exp.Placeholder)))


def checked_text(statement: Statement) -> str:
    """The text DuckDB runs for a statement passed through as it is.

    Trusted (embedded) callers get their own text. Confined callers get text regenerated from
    the checked tree: DuckDB never sees a character of theirs that vecdb did not parse.
    """
    if not statement.confined and not statement.text_sites:
        return statement.body
    tree = statement.tree
    if isinstance(tree, exp.Show):
        return "SHOW TABLES"  # the only SHOW confinement allows (sqlglot cannot print it)
    return sql_of(tree)


def needs_rewrite(tree: exp.Expression) -> bool:
    """Whether ``tree`` has a vector function or a ``VECTOR(n)`` type to rewrite."""
    return any(
        vector_function(n) is not None
        or (isinstance(n, exp.DataType) and n.this == exp.DataType.Type.VECTOR)
        for n in tree.walk()
    )


def rewrite(tree: exp.Expression, dims: Mapping[str, int]) -> exp.Expression:
    """A rewritten copy of ``tree`` (see the module doc); ``dims`` are the vector
    parameters' lengths."""
    return vector_types(rewrite_functions(tree, dict(dims)))


def vector_types(tree: exp.Expression) -> exp.Expression:
    """``VECTOR(n)`` -> ``FLOAT[n]`` in place (DuckDB has no VECTOR type)."""

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


def restrict(
    rewritten: exp.Expression,
    sites: tuple[SearchSite, ...],
    catalog: Catalog,
    confined: bool,
) -> tuple[exp.Expression, tuple[SearchStep, ...]]:
    """A copy of the rewritten tree with each site's SELECT restricted to its candidate
    parameters (``AND <t>.id IN ($__vecdb_c0_0, ...)``), and the site's search steps: the
    pushed predicate and the probe are cut from the rewritten tree, never rewritten again."""
    out = rewritten.copy()
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
        pushed = None
        if where is not None and site.where is not None:
            tree = where.this.copy()
            names = {site.qualifier.lower(), site.collection}
            # analysis accepted this WHERE; this only unqualifies the rewritten copy
            qualify_where(tree, names, site.collection, info, set())
            pushed = pushed_predicate(tree, confined)
        if where is None:
            select.set("where", exp.Where(this=cond))
        else:
            select.set("where", exp.Where(this=exp.and_(exp.Paren(this=where.this), cond)))
        steps.append(
            SearchStep(
                collection=info.name,
                query_param=site.query_param,
                dim=info.dim,
                limit=site.limit,
                offset=site.offset,
                where=pushed,
                slots=slots,
                list_param=list_param,
                function=site.function,
                probe_sql=sql_of(probe),
            )
        )
    return out, tuple(steps)


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


def direct_projection(
    tree: exp.Expression, sites: tuple[SearchSite, ...], catalog: Catalog | None = None
) -> tuple[tuple[str, str], ...]:
    """The output columns when the engine's ids, distances and row store are the whole answer.

    That is a top-level ``SELECT id [AS a], <fn>(vec, $q) AS d, col [AS b], vec ... FROM c
    [WHERE ...] ORDER BY ... LIMIT ...`` whose functions share the ORDER BY's metric and query
    parameter, and whose plain columns are the collection's own, spelled as declared. The
    kinds are ``id``, ``distance``, ``similarity``, ``vec`` and ``column:<name>``. Anything
    else (expressions, ``*``, CTEs, set operations, joins) returns ``()`` and runs in DuckDB.

    >>> import sqlglot
    >>> from vecdb.sql.functions import FUNCTIONS
    >>> t = sqlglot.parse_one("SELECT id, cosine(vec, $q) AS d FROM c ORDER BY d LIMIT 3",
    ...                       read="duckdb")
    >>> site = SearchSite(0, "c", "c", FUNCTIONS["cosine"], "q", 3, None, None, ())
    >>> direct_projection(t, (site,))
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
