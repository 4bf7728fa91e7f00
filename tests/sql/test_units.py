"""Pure parts of the SQL layer: parsing, parameters, function rewriting, planning."""

from __future__ import annotations

import pytest
import sqlglot

from tests.sql.conftest import CATALOG
from vecdb.errors import InvalidArgumentError, SQLParseError, UnsupportedQueryError
from vecdb.sql.functions import FUNCTIONS, rewrite_functions
from vecdb.sql.parse import bind_params, parse
from vecdb.sql.plan import plan


def test_parse_error_carries_line_and_col() -> None:
    with pytest.raises(SQLParseError) as info:
        parse("SELECT id\nFROM docs WHERE (year > ")
    err = info.value.errors[0]
    assert err["line"] == 2 and err["col"] > 0 and err["description"]


def test_one_statement_only() -> None:
    with pytest.raises(UnsupportedQueryError):
        parse("SELECT 1; SELECT 2")
    assert parse("SELECT 1;").tree.sql() == "SELECT 1"


def test_positional_params_follow_the_text() -> None:
    s = parse("SELECT ? FROM docs WHERE a = '?' AND b = ? ORDER BY cosine(vec, ?) LIMIT ?")
    assert s.param_names == ("p1", "p2", "p3", "p4")
    assert bind_params(s, [1, 2, 3, 4]) == {"p1": 1, "p2": 2, "p3": 3, "p4": 4}
    assert "'?'" in s.tree.sql("duckdb")


def test_param_styles() -> None:
    with pytest.raises(UnsupportedQueryError):
        parse("SELECT ?, $x")
    with pytest.raises(InvalidArgumentError):
        bind_params(parse("SELECT $x"), [1])
    with pytest.raises(InvalidArgumentError):
        bind_params(parse("SELECT ?, ?"), [1])
    with pytest.raises(InvalidArgumentError):
        bind_params(parse("SELECT $x"), {"y": 1})
    assert bind_params(parse("SELECT $2, $1"), ["a", "b"]) == {"p2": "b", "p1": "a"}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_spelling_rewrites_to_a_builtin(name: str) -> None:
    tree = sqlglot.parse_one(f"SELECT {name}(vec, $q) FROM docs", read="duckdb")
    out = rewrite_functions(tree, {"q": 3}).sql("duckdb")
    assert FUNCTIONS[name].builtin.upper() in out and "CAST($q AS REAL[3])" in out


def test_search_plan_binds_candidates_and_pushes_where() -> None:
    p = plan(
        parse("SELECT id FROM docs d WHERE d.year > ? ORDER BY cosine(d.vec, ?) LIMIT 3"), CATALOG
    )
    step = p.searches[0]
    assert step.where_sql == "year > $p1" and step.where_params == ("p1",)
    assert step.slots == ("__vecdb_c0_0", "__vecdb_c0_1", "__vecdb_c0_2")
    assert "d.id IN ($__vecdb_c0_0, $__vecdb_c0_1, $__vecdb_c0_2)" in p.sql
    assert p.vector_dims == {"p2": 3}


def test_exact_plan_keeps_the_text() -> None:
    text = "SELECT year, count(*) FROM docs GROUP BY ALL"
    assert plan(parse(text), CATALOG).sql == text


def test_reasons_explain_why_not_a_search() -> None:
    p = plan(parse("SELECT id FROM docs ORDER BY cosine(vec, $q) DESC LIMIT 5"), CATALOG)
    assert p.kind == "exact" and "farthest-first" in p.reasons[0]


def test_unsupported_statements_on_collections() -> None:
    for text in (
        "ALTER TABLE docs ADD COLUMN x INTEGER",
        "UPDATE docs SET id = 5",
        "DELETE FROM docs RETURNING *",
        "CREATE INDEX i ON docs (year)",
        "CREATE OR REPLACE TABLE docs (id BIGINT PRIMARY KEY, vec FLOAT[3])",
        "BEGIN",
    ):
        with pytest.raises(UnsupportedQueryError):
            plan(parse(text), CATALOG)
