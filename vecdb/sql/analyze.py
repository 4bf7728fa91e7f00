"""Analyze: which SELECTs in a statement are vector searches an index can serve.

A SELECT is a *search site* when it reads one collection (``FROM c [alias]``, no joins,
grouping, DISTINCT or window functions), orders by exactly one vector function of the
collection's ``vec`` column and a parameter, nearest first, in the collection's metric, and
has a LIMIT. Sites are found anywhere in the tree (CTEs, subqueries, set operations). Every
other vector ORDER BY gets a reason, which EXPLAIN shows.

>>> from vecdb.sql.parse import parse
>>> cat = {"docs": CollectionInfo("docs", 3, "cosine", "hnsw", ("id", "year", "vec"))}
>>> sql = "SELECT id FROM docs WHERE year > 2000 ORDER BY cosine(vec, $q) LIMIT 5"
>>> a = analyze(parse(sql), cat)
>>> [(s.collection, s.query_param, s.limit, s.where.sql("duckdb")) for s in a.sites]
[('docs', 'q', 5, 'year > 2000')]
>>> analyze(parse("SELECT id FROM docs ORDER BY l2(vec, $q) LIMIT 5"), cat).reasons
('docs: l2 ordering but the collection metric is cosine',)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlglot import exp

from vecdb.sql.functions import VectorFunction, function_args, vector_function
from vecdb.sql.parse import Statement

__all__ = [
    "CollectionInfo",
    "SearchSite",
    "Analysis",
    "analyze",
    "selects",
    "table_name",
    "qualify_where",
]

VEC_COLUMN = "vec"
ID_COLUMN = "id"


@dataclass(frozen=True)
class CollectionInfo:
    """What the planner needs to know of a collection (a snapshot; see ``fingerprint``).

    ``columns`` lists every column of its table, ``id`` and ``vec`` included.
    """

    name: str
    dim: int
    metric: str
    index: str
    columns: tuple[str, ...]
    id_type: str = "int"

    @property
    def fingerprint(self) -> tuple[object, ...]:
        return (self.name, self.dim, self.metric, self.index, self.columns, self.id_type)


Catalog = Mapping[str, CollectionInfo]


@dataclass(frozen=True)
class SearchSite:
    """One SELECT the index serves.

    Attributes:
        select_index: position of the SELECT in ``selects(tree)`` (stable across copies).
        collection: the collection name.
        qualifier: how the SELECT names the table (its alias or name), for ``id``.
        function: the vector function of the ORDER BY.
        query_param: the parameter holding the query vector.
        limit, offset: ints, or the names of the parameters holding them.
        where: the WHERE predicate over the bare table (no alias), or None.
        where_params: parameters the WHERE uses.
    """

    select_index: int
    collection: str
    qualifier: str
    function: VectorFunction
    query_param: str
    limit: int | str
    offset: int | str | None
    where: exp.Expression | None
    where_params: tuple[str, ...]


@dataclass(frozen=True)
class Analysis:
    """The statement's kind, the collections it touches and its search sites: the second
    stage of parse -> analyze -> rewrite -> plan, and what :func:`vecdb.sql.plan.plan` takes.
    """

    statement: Statement
    kind: str
    tables: tuple[str, ...]
    sites: tuple[SearchSite, ...]
    reasons: tuple[str, ...]
    vector_params: Mapping[str, int | None]


def selects(tree: exp.Expression) -> list[exp.Select]:
    """Every SELECT node, in a fixed (breadth-first) order."""
    return [n for n in tree.walk() if isinstance(n, exp.Select)]


def table_name(table: exp.Table) -> str | None:
    """The lower-case name of a plain table reference in the main schema, else None."""
    if not isinstance(table.this, exp.Identifier):
        return None
    catalog = table.args.get("catalog")
    db = table.args.get("db")
    if catalog is not None and catalog.name.lower() not in ("memory",):
        return None
    if db is not None and db.name.lower() != "main":
        return None
    return table.this.name.lower()


def _kind(tree: exp.Expression) -> str:
    if isinstance(tree, (exp.Select, exp.SetOperation, exp.Subquery)):
        return "query"
    if isinstance(tree, exp.Insert):
        return "insert"
    if isinstance(tree, exp.Update):
        return "update"
    if isinstance(tree, exp.Delete):
        return "delete"
    if isinstance(tree, exp.Create):
        return "create_" + str(tree.args.get("kind") or "").lower()
    if isinstance(tree, exp.Drop):
        return "drop_" + str(tree.args.get("kind") or "").lower()
    if isinstance(tree, exp.TruncateTable):
        return "truncate"
    if isinstance(tree, (exp.Transaction, exp.Commit, exp.Rollback)):
        return "transaction"
    return "other"


def analyze(statement: Statement, catalog: Catalog) -> Analysis:
    """Find the statement's kind, referenced tables, search sites and vector parameters."""
    tree = statement.tree
    tables = tuple(
        sorted({n for t in tree.find_all(exp.Table) if (n := table_name(t)) is not None})
    )
    sites: list[SearchSite] = []
    reasons: list[str] = []
    kind = _kind(tree)
    cte_names = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    if kind in ("query", "insert", "create_table"):
        for i, select in enumerate(selects(tree)):
            found = _site(i, select, catalog, cte_names)
            if isinstance(found, SearchSite):
                sites.append(found)
            elif found:
                reasons.append(found)
    return Analysis(
        statement, kind, tables, tuple(sites), tuple(reasons), _vector_params(tree, catalog)
    )


def _from_table(select: exp.Select) -> exp.Expression | None:
    from_ = select.args.get("from_") or select.args.get("from")
    return from_.this if from_ is not None else None


def _order_function(
    select: exp.Select,
) -> tuple[exp.Ordered, exp.Expression, VectorFunction] | None:
    order = select.args.get("order")
    if order is None or not order.expressions:
        return None
    key = order.expressions[0]
    expr = key.this
    fn = vector_function(expr)
    if fn is None and isinstance(expr, exp.Column) and not expr.table:
        for proj in select.expressions:
            if isinstance(proj, exp.Alias) and proj.alias.lower() == expr.name.lower():
                fn = vector_function(proj.this)
                expr = proj.this
                break
    if fn is None:
        return None
    return key, expr, fn


def _int_or_param(node: exp.Expression | None) -> int | str | None:
    if node is None:
        return None
    value = node.args.get("expression") if isinstance(node, (exp.Limit, exp.Offset)) else node
    if isinstance(value, exp.Literal) and not value.is_string and value.this.isdigit():
        return int(value.this)
    if isinstance(value, exp.Placeholder):
        return str(value.this)
    raise ValueError("not an integer or a parameter")


def _site(
    i: int, select: exp.Select, catalog: Catalog, cte_names: set[str]
) -> SearchSite | str | None:
    found = _order_function(select)
    if found is None:
        return None
    key, call, fn = found
    source = _from_table(select)
    name = table_name(source) if isinstance(source, exp.Table) else None
    label = name or "query"
    if name is None or name in cte_names or name not in catalog:
        return f"{label}: vector ORDER BY over something other than one collection"
    info = catalog[name]
    if len(select.args["order"].expressions) != 1:
        return f"{name}: ORDER BY has more than the vector key"
    if bool(key.args.get("desc")) != fn.descending:
        return f"{name}: farthest-first order"
    for arg, what in (
        ("joins", "a join"),
        ("laterals", "a lateral join"),
        ("group", "GROUP BY"),
        ("having", "HAVING"),
        ("qualify", "QUALIFY"),
        ("distinct", "DISTINCT"),
        ("sample", "SAMPLE"),
    ):
        if select.args.get(arg):
            return f"{name}: {what}"
    if source.args.get("sample") or source.args.get("joins"):
        return f"{name}: SAMPLE"
    for proj in select.expressions:
        for node in _same_scope(proj):
            if isinstance(node, exp.Window):
                return f"{name}: a window function"
            if isinstance(node, exp.AggFunc):
                return f"{name}: an aggregate"
    if fn.metric != info.metric:
        short = str(call.this) if isinstance(call, exp.Anonymous) else fn.builtin
        return f"{name}: {short.lower()} ordering but the collection metric is {info.metric}"
    qualifier = source.alias_or_name
    names = {qualifier.lower(), name}
    a, b = function_args(call)
    if _is_vec_column(b, names) and isinstance(a, exp.Placeholder):
        a, b = b, a
    if not (_is_vec_column(a, names) and isinstance(b, exp.Placeholder)):
        return f"{name}: the query vector is not a parameter (or the column is not vec)"
    try:
        limit = _int_or_param(select.args.get("limit"))
        offset = _int_or_param(select.args.get("offset"))
    except ValueError:
        return f"{name}: LIMIT/OFFSET is not a number or a parameter"
    if limit is None:
        return f"{name}: no LIMIT"
    where_node = select.args.get("where")
    where = None
    params: tuple[str, ...] = ()
    if where_node is not None:
        where = where_node.this.copy()
        problem = qualify_where(where, names, name, info, cte_names)
        if problem:
            return f"{name}: {problem}"
        params = tuple(dict.fromkeys(str(p.this) for p in where.find_all(exp.Placeholder)))
    return SearchSite(i, name, qualifier, fn, str(b.this), limit, offset, where, params)


def _is_vec_column(node: exp.Expression, names: set[str]) -> bool:
    return (
        isinstance(node, exp.Column)
        and node.name.lower() == VEC_COLUMN
        and (not node.table or node.table.lower() in names)
    )


def _same_scope(node: exp.Expression):
    """Nodes of ``node`` that are not inside a nested SELECT."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        for child in n.iter_expressions():
            if not isinstance(child, (exp.Select, exp.Subquery, exp.SetOperation)):
                stack.append(child)


def qualify_where(
    where: exp.Expression, names: set[str], table: str, info: CollectionInfo, ctes: set[str]
) -> str | None:
    """Unqualify the WHERE's own columns (and requalify nested references to the alias with
    the table name), in place; or say why it cannot be pushed into the collection's planner
    (outer references, CTEs)."""
    columns = {c.lower() for c in info.columns}
    for t in where.find_all(exp.Table):
        if t.name.lower() in ctes:
            return "WHERE reads a CTE"
    for node in _same_scope(where):
        if not isinstance(node, exp.Column) or isinstance(node.this, exp.Star):
            continue
        qual = node.table.lower() if node.table else ""
        if qual and qual not in names:
            return f"WHERE refers to {node.table}.{node.name} (outer query)"
        if node.name.lower() not in columns:
            return f"WHERE refers to {node.name}, not a column of {table}"
        for part in ("table", "db", "catalog"):
            node.set(part, None)
    # columns of our table referenced from nested subqueries by alias
    for node in where.find_all(exp.Column):
        if node.table and node.table.lower() in names:
            node.set("table", exp.to_identifier(table))
    return None


def _vector_params(tree: exp.Expression, catalog: Catalog) -> dict[str, int | None]:
    """Parameters used as a vector-function argument, with the dimension if known.

    The dimension is known when the other argument is ``vec`` of a collection the enclosing
    SELECT reads.
    """
    out: dict[str, int | None] = {}
    for node in tree.walk():
        fn = vector_function(node)
        if fn is None:
            continue
        a, b = function_args(node)
        for ph, other in ((a, b), (b, a)):
            if not isinstance(ph, exp.Placeholder):
                continue
            dim = _column_dim(other, node, catalog)
            name = str(ph.this)
            if out.get(name) is None:
                out[name] = dim
    return out


def _column_dim(col: exp.Expression, at: exp.Expression, catalog: Catalog) -> int | None:
    if not isinstance(col, exp.Column) or col.name.lower() != VEC_COLUMN:
        return None
    select = at.find_ancestor(exp.Select, exp.Update, exp.Delete)
    if select is None:
        return None
    dims: set[int] = set()
    for t in select.find_all(exp.Table):
        name = table_name(t)
        if name in catalog and (not col.table or col.table.lower() in (name, t.alias.lower())):
            dims.add(catalog[name].dim)
    return dims.pop() if len(dims) == 1 else None
