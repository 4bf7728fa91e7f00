"""Metadata filters of LangChain and LlamaIndex, translated to parameterised ``where`` predicates.

The stores keep every document's metadata as a JSON object in the ``metadata`` column (and,
optionally, some keys also in typed columns chosen at creation). A filter becomes a vecdb
``where`` text plus named parameters: every value the caller gives travels as a bound
parameter (``$f0``, ``$f1`` ...), and so does every JSON path; the only names written into
the text are column names, quoted and checked against the collection's columns. The text
then goes through vecdb's own predicate check like any other ``where``.

Comparisons are typed, as in Python without coercion: a number matches numbers (``1 ==
1.0``), a string matches strings, a boolean matches booleans; a value of another type, or a
missing key, does not match (and ``$ne``/``$nin`` are exactly the negation of ``$eq``/``$in``).
``None`` stands for a missing key or a JSON ``null``. Order comparisons take numbers or
strings (strings compare by code point, as Python does).

>>> w = translate_dict({"year": {"$gt": 2020}, "source": "a"})
>>> w.params
{'f0': '$."year"', 'f1': 2020, 'f2': '$."source"', 'f3': 'a'}
>>> translate_dict({"year": {"$gt": 2020}}, typed={"year": "INTEGER"}).sql
'(COALESCE("year" > $f0, FALSE))'
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vecdb.errors import InvalidArgumentError

__all__ = [
    "Where",
    "FilterCompiler",
    "translate_dict",
    "translate_metadata_filters",
    "kind_of",
    "metadata_filters_sql",
]

#: the JSON column that holds each document's metadata
METADATA = "metadata"

_NUM_TYPES = "('BIGINT', 'UBIGINT', 'DOUBLE', 'HUGEINT')"
_INT_SQL = re.compile(r"^(TINYINT|SMALLINT|INTEGER|INT|BIGINT|HUGEINT|U\w*INT|INT\d|FLOAT\w*|"
                      r"DOUBLE|REAL|DECIMAL.*|NUMERIC.*)$")  # fmt: skip
_TEXT_SQL = re.compile(r"^(VARCHAR|TEXT|STRING|CHAR|BPCHAR)(\(\d+\))?$")
_BOOL_SQL = re.compile(r"^(BOOLEAN|BOOL)$")
_COMPARE = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_OPERATORS = (
    "$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$like", "$ilike", "$exists",
    "$contains", "$any", "$all", "$text_match", "$text_match_insensitive", "$is_empty",
)  # fmt: skip


@dataclass(frozen=True)
class Where:
    """A ``where`` predicate text and the parameters it binds."""

    sql: str
    params: dict[str, Any] = field(default_factory=dict)


def kind_of(value: Any) -> str:
    """The type class a filter value compares within: ``num``, ``str``, ``bool``, ``null``.

    >>> [kind_of(v) for v in (1, 2.5, "a", True, None)]
    ['num', 'num', 'str', 'bool', 'null']
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        if isinstance(value, float) and value != value:
            raise InvalidArgumentError("a filter value may not be NaN")
        return "num"
    if isinstance(value, str):
        return "str"
    raise InvalidArgumentError(
        f"a filter value must be a string, number, boolean or None, got {type(value).__name__}"
    )


def quote_identifier(name: str) -> str:
    """``name`` as a double-quoted SQL identifier.

    >>> quote_identifier('we"ird')
    '"we""ird"'
    """
    return '"' + name.replace('"', '""') + '"'


def _column_kind(sql_type: str) -> str | None:
    t = sql_type.strip().upper()
    if _BOOL_SQL.match(t):
        return "bool"
    if _TEXT_SQL.match(t):
        return "str"
    if _INT_SQL.match(t):
        return "num"
    return None


class FilterCompiler:
    """Builds one ``where`` predicate; each value becomes a parameter ``$<prefix><n>``.

    ``typed`` maps metadata keys that also live in a typed column of the collection to that
    column's SQL type; a comparison whose value fits the column's type reads the column,
    everything else reads the JSON ``metadata`` column (which always holds every key).
    """

    def __init__(self, typed: Mapping[str, str] | None = None, prefix: str = "f") -> None:
        self.typed = {k: _column_kind(t) for k, t in (typed or {}).items()}
        self.prefix = prefix
        self.params: dict[str, Any] = {}

    # ---- parameters and references ----------------------------------------------------------
    def bind(self, value: Any) -> str:
        name = f"{self.prefix}{len(self.params)}"
        self.params[name] = value
        return "$" + name

    def _path(self, key: Any) -> str:
        if not isinstance(key, str) or not key:
            raise InvalidArgumentError(f"a metadata key must be a non-empty string, got {key!r}")
        if '"' in key or "\\" in key:
            raise InvalidArgumentError(
                f"metadata key {key!r} contains a quote or backslash, which filters cannot "
                "address; rename the key"
            )
        return self.bind('$."' + key + '"')

    def _column(self, key: str, kind: str) -> str | None:
        """The quoted typed column for ``key`` when values of ``kind`` compare in it."""
        if self.typed.get(key) == kind:
            return quote_identifier(key)
        return None

    # ---- leaves ---------------------------------------------------------------------------
    def _json_value(self, path: str, kind: str) -> tuple[str, str]:
        """(type test, value expression) of the JSON key at ``path`` for values of ``kind``."""
        ref = f"CAST({METADATA} -> {path} AS JSON)"
        if kind == "num":
            return (
                f"json_type({METADATA}, {path}) IN {_NUM_TYPES}",
                f"TRY_CAST({ref} AS DOUBLE)",
            )
        if kind == "str":
            return (
                f"json_type({METADATA}, {path}) = 'VARCHAR'",
                f"CAST(json_array({ref}) AS VARCHAR[])[1]",
            )
        return f"json_type({METADATA}, {path}) = 'BOOLEAN'", f"TRY_CAST({ref} AS BOOLEAN)"

    def compare(self, key: str, op: str, value: Any) -> str:
        """``key <op> value`` (op one of = > >= < <=), false on a type mismatch or missing key."""
        kind = kind_of(value)
        if kind == "null":
            if op != "=":
                raise InvalidArgumentError(f"None can only be compared for equality on {key!r}")
            return self.is_null(key)
        if op != "=" and kind == "bool":
            raise InvalidArgumentError(
                f"order comparisons take numbers or strings, got {value!r} for {key!r}"
            )
        col = self._column(key, kind)
        if col is not None:
            return f"COALESCE({col} {op} {self.bind(value)}, FALSE)"
        test, expr = self._json_value(self._path(key), kind)
        return f"COALESCE({test} AND {expr} {op} {self.bind(value)}, FALSE)"

    def is_null(self, key: str) -> str:
        if key in self.typed:
            return f"({quote_identifier(key)} IS NULL)"
        return f"(COALESCE(json_type({METADATA}, {self._path(key)}), 'NULL') = 'NULL')"

    def string_match(self, key: str, pattern: str, how: str) -> str:
        """``how``: ``like``/``ilike`` (SQL patterns) or ``contains``/``icontains`` (substring)."""
        if not isinstance(pattern, str):
            raise InvalidArgumentError(f"${how} on {key!r} takes a string, got {pattern!r}")
        col = self._column(key, "str")
        if col is None:
            test, col = self._json_value(self._path(key), "str")
        else:
            test = "TRUE"
        p = self.bind(pattern)
        expr = {
            "like": f"{col} LIKE {p}",
            "ilike": f"lower({col}) LIKE lower({p})",
            "contains": f"contains({col}, {p})",
            "icontains": f"contains(lower({col}), lower({p}))",
        }[how]
        return f"COALESCE({test} AND {expr}, FALSE)"

    def list_contains(self, key: str, value: Any) -> str:
        """The JSON list at ``key`` has an element equal to ``value`` (typed)."""
        kind = kind_of(value)
        path = self._path(key)
        items = f"TRY_CAST({METADATA} -> {path} AS JSON[])"
        if kind == "num":
            test = f"json_type(x) IN {_NUM_TYPES} AND TRY_CAST(x AS DOUBLE) = {self.bind(value)}"
        elif kind == "str":
            test = "json_type(x) = 'VARCHAR' AND CAST(json_array(x) AS VARCHAR[])[1] = " + (
                self.bind(value)
            )
        elif kind == "bool":
            test = f"json_type(x) = 'BOOLEAN' AND TRY_CAST(x AS BOOLEAN) = {self.bind(value)}"
        else:
            test = "json_type(x) = 'NULL'"
        return f"COALESCE(len(list_filter({items}, x -> {test})) > 0, FALSE)"

    def is_empty(self, key: str) -> str:
        """Missing, null, or an empty JSON list."""
        path = self._path(key)
        return (
            f"(COALESCE(json_type({METADATA}, {path}), 'NULL') = 'NULL' OR "
            f"COALESCE(json_type({METADATA}, {path}) = 'ARRAY' AND "
            f"json_array_length({METADATA}, {path}) = 0, FALSE))"
        )

    # ---- combinators ----------------------------------------------------------------------
    @staticmethod
    def all_of(parts: Sequence[str]) -> str:
        return "(" + " AND ".join(parts) + ")" if parts else "TRUE"

    @staticmethod
    def any_of(parts: Sequence[str]) -> str:
        return "(" + " OR ".join(parts) + ")" if parts else "FALSE"

    @staticmethod
    def negate(part: str) -> str:
        return f"(NOT {part})"

    def one_of(self, key: str, values: Any, op: str) -> str:
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
            raise InvalidArgumentError(f"{op} on {key!r} takes a list of values, got {values!r}")
        return self.any_of([self.compare(key, "=", v) for v in values])

    # ---- LangChain-style dicts ------------------------------------------------------------
    def dict_filter(self, flt: Any) -> str:
        if not isinstance(flt, Mapping):
            raise InvalidArgumentError(f"a filter must be a dict, got {type(flt).__name__}")
        parts = []
        for key, cond in flt.items():
            if key in ("$and", "$or"):
                if not isinstance(cond, Sequence) or isinstance(cond, (str, bytes)):
                    raise InvalidArgumentError(f"{key} takes a list of filters, got {cond!r}")
                subs = [self.dict_filter(c) for c in cond]
                parts.append(self.all_of(subs) if key == "$and" else self.any_of(subs))
            elif key == "$not":
                parts.append(self.negate(self.dict_filter(cond)))
            elif isinstance(key, str) and key.startswith("$"):
                raise InvalidArgumentError(
                    f"unknown filter operator {key!r} at the top level; use $and, $or, $not "
                    "or a metadata key"
                )
            elif isinstance(cond, Mapping):
                if not cond:
                    raise InvalidArgumentError(f"empty condition for {key!r}")
                parts.extend(self.field_op(key, op, v) for op, v in cond.items())
            else:
                parts.append(self.compare(key, "=", cond))
        return self.all_of(parts)

    def field_op(self, key: str, op: str, value: Any) -> str:
        if op == "$eq":
            return self.compare(key, "=", value)
        if op == "$ne":
            return self.negate(self.compare(key, "=", value))
        if op in _COMPARE:
            return self.compare(key, _COMPARE[op], value)
        if op == "$in":
            return self.one_of(key, value, op)
        if op == "$nin":
            return self.negate(self.one_of(key, value, op))
        if op in ("$like", "$ilike"):
            return self.string_match(key, value, op[1:])
        if op == "$text_match":
            return self.string_match(key, value, "contains")
        if op == "$text_match_insensitive":
            return self.string_match(key, value, "icontains")
        if op == "$exists":
            if not isinstance(value, bool):
                raise InvalidArgumentError(f"$exists on {key!r} takes true or false")
            null = self.is_null(key)
            return self.negate(null) if value else null
        if op == "$contains":
            return self.list_contains(key, value)
        if op in ("$any", "$all"):
            if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
                raise InvalidArgumentError(f"{op} on {key!r} takes a list of values")
            subs = [self.list_contains(key, v) for v in value]
            return self.any_of(subs) if op == "$any" else self.all_of(subs)
        if op == "$is_empty":
            return self.is_empty(key)
        raise InvalidArgumentError(
            f"unknown filter operator {op!r} for {key!r}; use one of {', '.join(_OPERATORS)}"
        )

    def where(self, sql: str) -> Where:
        return Where(sql, dict(self.params))


def translate_dict(flt: Mapping[str, Any], typed: Mapping[str, str] | None = None) -> Where:
    """A LangChain-style filter dict as a parameterised predicate.

    Keys are metadata keys (``{"source": "a"}`` means equality) or ``$and``/``$or``/``$not``;
    a key's condition may be a dict of operators: ``$eq $ne $gt $gte $lt $lte $in $nin $like
    $ilike $exists $contains`` (a list holds the value) ``$any $all $text_match
    $text_match_insensitive $is_empty``.

    >>> translate_dict({"n": {"$in": [1, 2]}}).params
    {'f0': '$."n"', 'f1': 1, 'f2': '$."n"', 'f3': 2}
    """
    c = FilterCompiler(typed)
    return c.where(c.dict_filter(flt))


#: LlamaIndex FilterOperator values -> the dict operator with the same meaning
LLAMA_OPERATORS = {
    "==": "$eq",
    "!=": "$ne",
    ">": "$gt",
    ">=": "$gte",
    "<": "$lt",
    "<=": "$lte",
    "in": "$in",
    "nin": "$nin",
    "any": "$any",
    "all": "$all",
    "contains": "$contains",
    "text_match": "$text_match",
    "text_match_insensitive": "$text_match_insensitive",
    "is_empty": "$is_empty",
}


def translate_metadata_filters(filters: Any, typed: Mapping[str, str] | None = None) -> Where:
    """LlamaIndex ``MetadataFilters`` (nested, AND/OR/NOT) as a parameterised predicate.

    Works on any object shaped like ``MetadataFilters`` (``filters`` and ``condition``)
    holding ``MetadataFilter``s (``key``, ``value``, ``operator``); LlamaIndex itself is not
    imported here.
    """
    c = FilterCompiler(typed)
    return c.where(metadata_filters_sql(c, filters))


def metadata_filters_sql(c: FilterCompiler, filters: Any) -> str:
    parts = []
    for f in filters.filters:
        if hasattr(f, "filters"):
            parts.append(metadata_filters_sql(c, f))
            continue
        op = getattr(f.operator, "value", f.operator)
        if op not in LLAMA_OPERATORS:
            raise InvalidArgumentError(f"unsupported filter operator {op!r} on {f.key!r}")
        parts.append(c.field_op(f.key, LLAMA_OPERATORS[op], f.value))
    cond = getattr(filters, "condition", None)
    cond = str(getattr(cond, "value", cond) or "and").lower()
    if cond == "or":
        return c.any_of(parts)
    if cond == "not":
        return c.negate(c.all_of(parts))
    if cond != "and":
        raise InvalidArgumentError(f"unsupported filter condition {cond!r}; use and, or, not")
    return c.all_of(parts)
