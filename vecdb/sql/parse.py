"""Parse: statement text -> one sqlglot tree with normalized parameters.

Every placeholder gets a name, so that the planner can add parameters of its own:
``?`` and ``$1`` become ``$p1``, ``$p2``, ...; ``$name`` keeps its name. A statement uses
positional or named parameters, never both (DuckDB cannot mix them either).

>>> s = parse("SELECT * FROM docs WHERE year > ? AND title = ?")
>>> s.param_style, s.param_names
('positional', ('p1', 'p2'))
>>> s.tree.sql("duckdb")
'SELECT * FROM docs WHERE year > $p1 AND title = $p2'
>>> parse("EXPLAIN ANALYZE SELECT 1").explain
'analyze'
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

from vecdb.errors import (
    InvalidArgumentError,
    PermissionDeniedError,
    SQLParseError,
    UnsupportedQueryError,
    VecdbError,
)
from vecdb.sql import verify
from vecdb.sql.text import lift_text_functions

__all__ = ["Statement", "parse", "bind_params", "DIALECT"]

DIALECT = "duckdb"

ParamStyle = Literal["none", "positional", "named"]

_EXPLAIN = re.compile(r"^\s*EXPLAIN(\s+ANALYZE)?\b", re.IGNORECASE)
# Statements sqlglot cannot parse but DuckDB runs; in confined mode they are refused as such.
_DENIED_KEYWORDS = frozenset(
    {
        "EXPORT",
        "IMPORT",
        "COPY",
        "ATTACH",
        "DETACH",
        "INSTALL",
        "LOAD",
        "PRAGMA",
        "SET",
        "RESET",
        "CALL",
        "CHECKPOINT",
        "FORCE",
        "VACUUM",
        "USE",
    }
)


@dataclass(frozen=True)
class Statement:
    """One parsed statement; ``tree`` is shared and must not be mutated (copy it first).

    Attributes:
        text: the statement as given.
        tree: the sqlglot expression, placeholders renamed (see module doc).
        explain: None, ``"plan"`` for EXPLAIN, ``"analyze"`` for EXPLAIN ANALYZE.
        param_style: ``"none"``, ``"positional"`` or ``"named"``.
        param_names: normalized parameter names in order of first appearance.
        body: the text after any EXPLAIN prefix.
        kind: DuckDB's statement kind of ``body`` (``"SELECT"``, ``"INSERT"``, ...).
        confined: parsed for a confined caller: only text regenerated from ``tree`` may run.
    """

    text: str
    tree: exp.Expression
    explain: Literal["plan", "analyze"] | None
    param_style: ParamStyle
    param_names: tuple[str, ...]
    body: str
    kind: str = "SELECT"
    confined: bool = False
    #: literal vectors (``cosine(vec, [1, 0, 0])``) turned into parameters, bound per call
    literals: tuple[tuple[str, tuple[float, ...]], ...] = ()
    #: embed()/bm25()/match() calls replaced by parameters (see :mod:`vecdb.sql.text`)
    text_sites: tuple[Any, ...] = ()

    @property
    def read_only(self) -> bool:
        """True when DuckDB reads the statement as a query (EXPLAIN: what it explains)."""
        return self.kind in verify.READ_KINDS


def _parse_error(e: ParseError | TokenError, text: str) -> SQLParseError:
    """The error a caller can act on: the offending token and a caret under it.

    DuckDB's own message is used when DuckDB cannot parse the text either (it names the token
    and draws the caret); otherwise sqlglot's position, with the line and a caret.

    >>> print(_parse_error(ParseError("x"), "SELEC id FROM t"))
    SQL parse error: syntax error at or near "SELEC"
    <BLANKLINE>
    LINE 1: SELEC id FROM t
            ^^^^^
    """
    errors: list[dict[str, Any]] = []
    for err in getattr(e, "errors", None) or []:
        errors.append(
            {
                "line": err.get("line"),
                "col": err.get("col"),
                "highlight": err.get("highlight"),
                "description": err.get("description"),
            }
        )
    try:
        duckdb.extract_statements(text)
    except duckdb.Error as de:
        msg = str(de).removeprefix("Parser Error: ").strip()
        return SQLParseError(f"SQL parse error: {msg}", errors=errors)
    if errors and errors[0]["line"]:
        first = errors[0]
        line_no, col = int(first["line"]), int(first["col"] or 0)
        token = first["highlight"] or ""
        lines = text.splitlines() or [text]
        source = lines[min(line_no, len(lines)) - 1]
        start = max(0, col - len(token))
        caret = " " * start + "^" * max(1, len(token))
        msg = (
            f"{first['description']} at or near {token!r} (line {line_no}, col {col})\n"
            f"LINE {line_no}: {source}\n{' ' * (len(str(line_no)) + 7)}{caret}"
        )
    else:
        msg = str(e).splitlines()[0] if str(e) else "could not parse SQL"
    return SQLParseError(f"SQL parse error: {msg}", errors=errors)


def _first_keyword(text: str) -> str:
    m = re.match(r"\s*([A-Za-z_]+)", text)
    return m.group(1).upper() if m else ""


def parse(text: str, *, confined: bool = False) -> Statement:
    """Parse one statement (a trailing ``;`` is fine; two statements are not).

    Raises:
        SQLParseError: the text does not parse; ``errors`` holds line, col and highlight.
        UnsupportedQueryError: more than one statement, or mixed parameter styles.
        PermissionDeniedError: (confined) an unparseable statement of a refused kind.

    >>> parse("SELEC 1")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    vecdb.errors.SQLParseError: SQL parse error: ...
    """
    if not isinstance(text, str):
        raise InvalidArgumentError(f"SQL must be a string, got {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InvalidArgumentError(
            f"SQL has a lone surrogate {text[e.start]!r} at position {e.start}; "
            "text must be valid Unicode"
        ) from None
    explain: Literal["plan", "analyze"] | None = None
    body = text
    m = _EXPLAIN.match(text)
    if m:
        explain = "analyze" if m.group(1) else "plan"
        body = text[m.end() :]
    try:
        body_numbered = _number_positional(body)
        trees = [t for t in sqlglot.parse(body_numbered, read=DIALECT) if t is not None]
    except (ParseError, TokenError) as e:
        if confined and _first_keyword(body) in _DENIED_KEYWORDS:
            raise PermissionDeniedError(
                f"{_first_keyword(body)} is not allowed in confined SQL"
            ) from None
        raise _parse_error(e, body) from None
    if not trees:
        raise SQLParseError("SQL parse error: empty statement", errors=[])
    duck = verify.kinds(body)
    if len(trees) > 1 or len(duck) > 1:
        if len(trees) != len(duck):
            # the two parsers disagree on where statements end: never run such a text
            raise _disagree(confined, f"DuckDB reads {len(duck)} statements, sqlglot {len(trees)}")
        raise UnsupportedQueryError("one statement at a time, please (found several)")
    tree = trees[0]
    kind = duck[0] if duck else ""
    expected = verify.expected_kinds(tree)
    if expected is None and confined:
        raise _disagree(confined, f"a statement sqlglot reads as {type(tree).__name__}")
    if expected is not None and kind not in expected:
        raise _disagree(confined, f"DuckDB reads a {kind} statement, sqlglot a {sorted(expected)}")
    tree, style, names = _normalize_params(tree)
    text_sites = lift_text_functions(tree)  # before literals: embed() is a vector argument
    literals = _lift_literal_vectors(tree)
    return Statement(text, tree, explain, style, names, body, kind, confined, literals, text_sites)


def _number_value(node: exp.Expression) -> float | None:
    if isinstance(node, exp.Neg):
        inner = _number_value(node.this)
        return None if inner is None else -inner
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            return float(node.this)
        except ValueError:
            return None
    return None


def _lift_literal_vectors(tree: exp.Expression) -> tuple[tuple[str, tuple[float, ...]], ...]:
    """Literal number lists given to a vector function become parameters (in place).

    ``ORDER BY cosine(vec, [1, 0, 0]) LIMIT 1`` then plans exactly like ``cosine(vec, $q)``:
    the list is cast to the column's ``FLOAT[n]`` and may use the index.

    >>> s = parse("SELECT cosine(vec, [1, -2.5, 0]) FROM t")
    >>> s.tree.sql("duckdb"), s.literals
    ('SELECT COSINE(vec, $__vecdb_lit0) FROM t', (('__vecdb_lit0', (1.0, -2.5, 0.0)),))
    """
    from vecdb.sql.functions import vector_function

    found: list[tuple[str, tuple[float, ...]]] = []
    for node in list(tree.walk()):
        if vector_function(node) is None:
            continue
        for arg in list(node.args.get("expressions") or []) + [
            node.args.get(k) for k in ("this", "expression") if node.args.get(k) is not None
        ]:
            if not isinstance(arg, exp.Array) or not arg.expressions:
                continue
            values = [_number_value(v) for v in arg.expressions]
            if any(v is None for v in values):
                continue
            name = f"__vecdb_lit{len(found)}"
            found.append((name, tuple(float(v) for v in values if v is not None)))
            arg.replace(exp.Placeholder(this=name))
    return tuple(found)


def _disagree(confined: bool, detail: str) -> VecdbError:
    msg = (
        f"the statement is read differently by DuckDB and by vecdb's SQL parser ({detail}); "
        "write it without backtick identifiers, nested comments or dollar quotes"
    )
    return PermissionDeniedError(msg) if confined else UnsupportedQueryError(msg)


def _normalize_params(tree: exp.Expression) -> tuple[exp.Expression, ParamStyle, tuple[str, ...]]:
    placeholders = list(tree.find_all(exp.Placeholder))
    if not placeholders:
        return tree, "none", ()
    positional = 0
    names: list[str] = []
    kinds: set[str] = set()
    for ph in placeholders:
        name = ph.this
        if name is None or name == "":
            positional += 1
            new = f"p{positional}"
            kinds.add("?")
        elif str(name).isdigit():
            new = f"p{int(name)}"
            kinds.add("$n")
        else:
            new = str(name)
            kinds.add("$name")
        ph.set("this", new)
        if new not in names:
            names.append(new)
    if len(kinds) > 1:
        raise UnsupportedQueryError("a statement uses ?, $1 or $name parameters, not a mix of them")
    style: ParamStyle = "named" if kinds == {"$name"} else "positional"
    if style == "positional":
        names.sort(key=lambda n: int(n[1:]))
    return tree, style, tuple(names)


def _number_positional(text: str) -> str:
    """``?`` -> ``$1``, ``$2``, ... by text position (the parsed tree does not keep it)."""
    if "?" not in text:
        return text
    tokens = sqlglot.Dialect.get_or_raise(DIALECT).tokenize(text)
    spots = [t.start for t in tokens if t.token_type == TokenType.PLACEHOLDER and t.text == "?"]
    if not spots:
        return text
    if "$" in text and any(t.token_type == TokenType.PARAMETER for t in tokens):
        raise UnsupportedQueryError("a statement uses ?, $1 or $name parameters, not a mix of them")
    out, last = [], 0
    for i, pos in enumerate(spots, 1):
        out.append(text[last:pos])
        out.append(f"${i}")
        last = pos + 1
    out.append(text[last:])
    return "".join(out)


def bind_params(statement: Statement, params: Any) -> dict[str, Any]:
    """The caller's parameters as ``{normalized name: value}``.

    ``params`` is a sequence for ``?``/``$1`` and a mapping for ``$name``.

    >>> bind_params(parse("SELECT ?, ?"), [1, "a"])
    {'p1': 1, 'p2': 'a'}
    >>> bind_params(parse("SELECT $x"), {"x": 2})
    {'x': 2}
    """
    names = statement.param_names
    if statement.literals:
        bound = _bind(statement, params, names)
        bound.update((n, list(v)) for n, v in statement.literals)
        return bound
    return _bind(statement, params, names)


def _bind(statement: Statement, params: Any, names: tuple[str, ...]) -> dict[str, Any]:
    if statement.param_style == "none":
        if params:
            raise InvalidArgumentError("parameters given to a statement without placeholders")
        return {}
    if params is None:
        raise InvalidArgumentError(
            f"the statement has parameters {', '.join('$' + n for n in names)}; none given"
        )
    if statement.param_style == "positional":
        if isinstance(params, Mapping) or isinstance(params, (str, bytes)):
            raise InvalidArgumentError("the statement uses ? parameters: pass a list")
        if not isinstance(params, Sequence) and not hasattr(params, "__len__"):
            raise InvalidArgumentError("the statement uses ? parameters: pass a list")
        values = list(params)
        needed = max(int(n[1:]) for n in names)
        if len(values) != needed:
            raise InvalidArgumentError(
                f"the statement has {needed} positional parameters, {len(values)} given"
            )
        return {n: values[int(n[1:]) - 1] for n in names}
    if not isinstance(params, Mapping):
        raise InvalidArgumentError("the statement uses $name parameters: pass a dict")
    missing = [n for n in names if n not in params]
    if missing:
        raise InvalidArgumentError(f"missing parameter(s): {', '.join('$' + n for n in missing)}")
    return {n: params[n] for n in names}
