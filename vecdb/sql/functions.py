"""Vector functions: our names, DuckDB's builtins, and which way is nearest.

vecdb's SQL adds short names (``cosine``, ``l2``, ``dot``, ...) for DuckDB's ``array_*``
distance functions. This module recognizes every spelling in a parsed sqlglot tree and
rewrites it to the DuckDB builtin, so the text DuckDB runs computes exactly what
``Collection.search`` ranks by.

>>> import sqlglot
>>> tree = sqlglot.parse_one("SELECT cosine(vec, $q) FROM docs", read="duckdb")
>>> vector_function(tree.expressions[0]).builtin
'array_cosine_distance'
>>> rewrite_functions(tree).sql("duckdb")
'SELECT ARRAY_COSINE_DISTANCE(vec, $q) FROM docs'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlglot import exp

__all__ = [
    "VectorFunction",
    "FUNCTIONS",
    "vector_function",
    "rewrite_functions",
    "vector_cast",
]

Metric = Literal["cosine", "l2", "ip"]


@dataclass(frozen=True)
class VectorFunction:
    """One vector function.

    Attributes:
        builtin: the DuckDB function that computes it.
        metric: the index metric whose order it shares.
        descending: True when larger values are nearer (similarities).

    >>> FUNCTIONS["dot"].metric, FUNCTIONS["dot"].descending
    ('ip', True)
    """

    builtin: str
    metric: Metric
    descending: bool


_L2 = VectorFunction("array_distance", "l2", False)
_COS = VectorFunction("array_cosine_distance", "cosine", False)
_NIP = VectorFunction("array_negative_inner_product", "ip", False)
_COS_SIM = VectorFunction("array_cosine_similarity", "cosine", True)
_IP = VectorFunction("array_inner_product", "ip", True)

#: lower-case name -> function; every spelling of the DESIGN table.
FUNCTIONS: dict[str, VectorFunction] = {
    "l2": _L2,
    "l2_distance": _L2,
    "array_distance": _L2,
    "cosine": _COS,
    "cosine_distance": _COS,
    "array_cosine_distance": _COS,
    "ip_distance": _NIP,
    "array_negative_inner_product": _NIP,
    "cosine_similarity": _COS_SIM,
    "array_cosine_similarity": _COS_SIM,
    "inner_product": _IP,
    "dot": _IP,
    "array_inner_product": _IP,
    "array_dot_product": _IP,
}

# sqlglot parses a few spellings into typed nodes instead of Anonymous.
_TYPED: dict[type[exp.Expression], VectorFunction] = {exp.CosineDistance: _COS}


def _args(node: exp.Expression) -> list[exp.Expression]:
    if isinstance(node, exp.Anonymous):
        return list(node.expressions)
    return [a for a in (node.this, node.args.get("expression")) if a is not None]


def vector_function(node: exp.Expression) -> VectorFunction | None:
    """The vector function ``node`` calls (with two arguments), or None.

    >>> import sqlglot
    >>> vector_function(sqlglot.parse_one("l2_distance(a, b)", read="duckdb")).builtin
    'array_distance'
    >>> vector_function(sqlglot.parse_one("abs(a)", read="duckdb")) is None
    True
    """
    if isinstance(node, exp.Anonymous):
        fn = FUNCTIONS.get(str(node.this).lower())
    else:
        fn = _TYPED.get(type(node))
    if fn is None or len(_args(node)) != 2:
        return None
    return fn


def function_args(node: exp.Expression) -> tuple[exp.Expression, exp.Expression]:
    """The two arguments of a vector function call."""
    a, b = _args(node)
    return a, b


def vector_cast(node: exp.Expression, dim: int) -> exp.Expression:
    """``node::FLOAT[dim]``: DuckDB binds a list parameter to an array function only so.

    >>> vector_cast(exp.Placeholder(this="q"), 3).sql("duckdb")
    'CAST($q AS REAL[3])'
    """
    dtype = exp.DataType(
        this=exp.DataType.Type.ARRAY,
        expressions=[exp.DataType(this=exp.DataType.Type.FLOAT)],
        values=[exp.Literal.number(dim)],
        nested=True,
    )
    cast = exp.Cast(this=node, to=dtype)
    return cast


def rewrite_functions(
    tree: exp.Expression, vector_dims: dict[str, int] | None = None
) -> exp.Expression:
    """A copy of ``tree`` with every vector function renamed to its DuckDB builtin.

    A placeholder argument named in ``vector_dims`` is cast to ``FLOAT[dim]``.

    >>> import sqlglot
    >>> t = sqlglot.parse_one("SELECT dot(vec, $q) FROM c", read="duckdb")
    >>> rewrite_functions(t, {"q": 2}).sql("duckdb")
    'SELECT ARRAY_INNER_PRODUCT(vec, CAST($q AS REAL[2])) FROM c'
    """
    dims = vector_dims or {}

    def fix(node: exp.Expression) -> exp.Expression:
        fn = vector_function(node)
        if fn is None:
            return node
        args = []
        for arg in _args(node):
            if isinstance(arg, exp.Placeholder) and str(arg.this) in dims:
                arg = vector_cast(arg.copy(), dims[str(arg.this)])
            args.append(arg)
        return exp.Anonymous(this=fn.builtin, expressions=args)

    return tree.copy().transform(fix, copy=False)
