"""The plans: one small frozen dataclass per way of running a statement.

``plan()`` (in :mod:`vecdb.sql.plan`) returns one of these; the executor dispatches on the
class. A plan holds only checked, regenerated text and names of parameters: the plan cache
keeps it per statement text, and running it again costs no parsing or checking.

* :class:`SearchPlan` -- a query with index searches (:class:`SearchStep`) run first;
* :class:`ExactPlan` -- a query DuckDB runs as it is;
* :class:`DmlPlan` -- INSERT/UPDATE/DELETE on a collection, which keeps its index in step;
* :class:`PassthroughPlan` -- any other statement DuckDB runs (plain tables, DESCRIBE, ...);
* :class:`CreateCollectionPlan`, :class:`CreateIndexPlan`, :class:`DropIndexPlan`,
  :class:`DropCollectionPlan` -- DDL that the engine runs through its own methods.

>>> p = ExactPlan(sql="SELECT 1")
>>> p.kind, plan_kind(p)
('exact', 'exact')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from vecdb.sql.functions import VectorFunction
from vecdb.sql.predicate import Predicate

__all__ = [
    "Plan",
    "QueryPlan",
    "SearchStep",
    "SearchPlan",
    "ExactPlan",
    "DmlPlan",
    "PassthroughPlan",
    "CreateCollectionPlan",
    "CreateIndexPlan",
    "DropIndexPlan",
    "DropCollectionPlan",
    "plan_kind",
    "texts_of",
]


@dataclass(frozen=True)
class SearchStep:
    """One index search to run before the DuckDB query.

    Attributes:
        collection: collection name.
        query_param: the parameter holding the query vector.
        dim: the collection's dimension.
        limit, offset: ints or parameter names; the search asks for ``limit + offset``.
        where: the WHERE over the bare table as a checked :class:`Predicate` (regenerated
            text and its parameters), or None; the collection uses it as is, without parsing
            or checking it again.
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
    where: Predicate | None
    slots: tuple[str, ...]
    list_param: str | None
    function: VectorFunction
    probe_sql: str

    @property
    def where_sql(self) -> str | None:
        """The pushed predicate's text (what golden files and EXPLAIN show)."""
        return self.where.sql if self.where is not None else None

    @property
    def where_params(self) -> tuple[str, ...]:
        return self.where.params if self.where is not None else ()


@dataclass(frozen=True)
class _Query:
    """What every plan that sends a statement to DuckDB carries.

    Attributes:
        sql: the text DuckDB runs (regenerated from the checked tree when it was rewritten
            or the caller is confined).
        sql_params: the parameters ``sql`` uses, in binding order when ``positional``.
        positional: bind ``sql_params`` as a list (the caller's own ``?`` text), else by name.
        searches: index searches to run first; their candidates bind into ``sql``.
        vector_dims: vector parameters checked against a collection's dimension.
        unresolved: vector parameters whose length came from the call (or is unknown); the
            plan is cached per their lengths.
        reasons: why vector ORDER BYs were not searches (EXPLAIN shows them).
        deps: the collections the plan was made against (a change to one re-plans).
    """

    kind: ClassVar[str] = ""
    sql: str = ""
    sql_params: tuple[str, ...] = ()
    positional: bool = False
    searches: tuple[SearchStep, ...] = ()
    vector_dims: Mapping[str, int] = field(default_factory=dict)
    unresolved: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    deps: tuple[str, ...] = ()


@dataclass(frozen=True)
class SearchPlan(_Query):
    """A query with index searches.

    Attributes:
        exact_sql: the whole query run exactly by DuckDB (EXPLAIN ANALYZE compares).
        direct: for a top-level search whose SELECT list is only the id, the ordering
            distance, the collection's columns and its vector: the output columns as
            ``(name, "id" | "distance" | "similarity" | "vec" | "column:<name>")``; the
            engine's answer is then the result, with no DuckDB round trip.
    """

    kind: ClassVar[str] = "search"
    exact_sql: str = ""
    direct: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ExactPlan(_Query):
    """A query DuckDB runs as it is (no index can serve it, or it has no vector ORDER BY)."""

    kind: ClassVar[str] = "exact"


@dataclass(frozen=True)
class PassthroughPlan(_Query):
    """Any other statement DuckDB runs (on plain tables); it may hold index searches
    (``INSERT INTO plain SELECT ... ORDER BY cosine(vec, $q) LIMIT k``)."""

    kind: ClassVar[str] = "passthrough"


@dataclass(frozen=True)
class DmlPlan(_Query):
    """INSERT/UPDATE/DELETE (or TRUNCATE) on the collection ``target``; ``sql`` ends in
    ``RETURNING id`` so that the collection can apply what it touched to its index."""

    kind: ClassVar[str] = "dml"
    target: str = ""


QueryPlan = SearchPlan | ExactPlan | PassthroughPlan | DmlPlan


@dataclass(frozen=True)
class CreateCollectionPlan:
    """``CREATE TABLE`` of a table with an ``id`` key and a ``vec FLOAT[n]`` column.

    Attributes:
        columns: column -> type, as DuckDB spells it.
        constraints: column -> its constraints (``NOT NULL``, ``DEFAULT``, ``CHECK``,
            ``UNIQUE``) as text regenerated from the checked tree.
        check_sql: the table's DDL as vecdb would write it, verified for confined callers.
    """

    kind: ClassVar[str] = "create_collection"
    name: str
    dim: int
    columns: Mapping[str, str]
    constraints: Mapping[str, str]
    id_type: str
    exist_ok: bool
    check_sql: str = ""
    deps: tuple[str, ...] = ()


@dataclass(frozen=True)
class CreateIndexPlan:
    """``CREATE INDEX name ON target USING HNSW|IVF (vec) WITH (...)``."""

    kind: ClassVar[str] = "create_index"
    target: str
    name: str
    index: str
    metric: str | None
    params: Mapping[str, Any]
    exist_ok: bool
    deps: tuple[str, ...] = ()


@dataclass(frozen=True)
class DropIndexPlan:
    """``DROP INDEX name``: a collection's vector index by its SQL name, else DuckDB's
    (``sql``, the checked text)."""

    kind: ClassVar[str] = "drop_index"
    name: str
    exists: bool
    sql: str
    deps: tuple[str, ...] = ()


@dataclass(frozen=True)
class DropCollectionPlan:
    """``DROP TABLE`` of a collection."""

    kind: ClassVar[str] = "drop_collection"
    target: str
    exists: bool
    deps: tuple[str, ...] = ()


Plan = (
    SearchPlan
    | ExactPlan
    | PassthroughPlan
    | DmlPlan
    | CreateCollectionPlan
    | CreateIndexPlan
    | DropIndexPlan
    | DropCollectionPlan
)


def plan_kind(p: Plan) -> str:
    """A short label for golden files: ``search`` (``search*2`` for two sites), ``exact``, ...

    >>> plan_kind(SearchPlan(searches=(None, None)))  # type: ignore[arg-type]
    'search*2'
    """
    if isinstance(p, SearchPlan) and len(p.searches) > 1:
        return f"search*{len(p.searches)}"
    return p.kind


def texts_of(p: Plan) -> dict[str, frozenset[str] | None]:
    """Every text ``p`` may send to DuckDB, with the statement kinds DuckDB must read it as
    (None: the kind of the statement it came from). What confined plans are verified on.

    The pushed predicates are listed as ``SELECT 1 WHERE (<predicate>)``: the collection
    runs each inside ``SELECT id FROM <collection> WHERE (<predicate>)``.
    """
    select = frozenset({"SELECT"})
    out: dict[str, frozenset[str] | None] = {}
    if isinstance(p, (SearchPlan, ExactPlan)):
        out[p.sql] = select
    elif isinstance(p, DmlPlan):
        out[p.sql] = frozenset({"INSERT", "UPDATE", "DELETE"})
    elif isinstance(p, PassthroughPlan):
        out[p.sql] = None
    elif isinstance(p, DropIndexPlan):
        out[p.sql] = frozenset({"DROP"})
    elif isinstance(p, CreateCollectionPlan):
        out[p.check_sql] = frozenset({"CREATE"})
    if isinstance(p, SearchPlan):
        out.setdefault(p.exact_sql, select)
    if isinstance(p, (SearchPlan, ExactPlan, PassthroughPlan, DmlPlan)):
        for step in p.searches:
            out.setdefault(step.probe_sql, select)
            if step.where is not None:
                out.setdefault(f"SELECT 1 WHERE ({step.where.sql})", select)
    out.pop("", None)
    return out
