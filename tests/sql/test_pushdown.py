"""A SQL search pushes its WHERE into the collection as a checked predicate, once per plan:
the collection neither parses nor checks it again, on any call."""

from __future__ import annotations

import numpy as np
import pytest

import vecdb
from tests.sql.conftest import fill
from vecdb.errors import PermissionDeniedError
from vecdb.sql import predicate
from vecdb.sql.predicate import Predicate, compile_predicate


@pytest.mark.parametrize("confined", [False, True])
def test_the_pushed_predicate_is_not_compiled_again(confined: bool) -> None:
    with vecdb.connect(confined=confined) as db:
        c = fill(db, "c", 600, 8, "cosine")
        q = np.random.default_rng(5).normal(size=8).astype(np.float32)
        text = "SELECT id FROM c WHERE year >= $y AND price < 50 ORDER BY cosine(vec, $q) LIMIT 7"
        before = predicate._compile.cache_info()
        got = [db.sql(text, {"q": q, "y": y}).fetchall() for y in (1995, 2005, 2015)]
        after = predicate._compile.cache_info()
        assert (after.hits, after.misses) == (before.hits, before.misses)
        for y, rows in zip((1995, 2005, 2015), got):
            want = c.search(q, k=7, where="year >= $y AND price < 50", params={"y": y})
            assert [r[0] for r in rows] == [h.id for h in want]
        step = db.sql_state.cache[text].plans[()][0].searches[0]
        assert step.where == Predicate(
            "year >= $y AND price < 50", "year >= $y AND price < 50", ("y",), confined
        )


def test_a_confined_collection_takes_only_confined_predicates() -> None:
    with vecdb.connect(confined=True) as db:
        c = fill(db, "c", 50, 4, "l2")
        q = np.zeros(4, np.float32)
        trusted = compile_predicate("year > 2000", confined=False)
        with pytest.raises(PermissionDeniedError):
            c.search_candidates(q[None, :], 3, trusted)
        checked = compile_predicate("year > 2000", confined=True)
        ids = c.search_candidates(q[None, :], 3, checked)[0][0].tolist()
        assert ids == [h.id for h in c.search(q, k=3, where="year > 2000")]


def test_a_confined_plan_verifies_the_text_of_each_pushed_predicate() -> None:
    from tests.sql.conftest import CATALOG
    from vecdb.sql.parse import parse
    from vecdb.sql.plan import plan
    from vecdb.sql.plans import texts_of

    text = "SELECT id FROM docs d WHERE d.year > $y /* x */ ORDER BY cosine(d.vec, $q) LIMIT 3"
    p = plan(parse(text, confined=True), CATALOG)
    texts = texts_of(p)
    assert texts["SELECT 1 WHERE (year > $y)"] == frozenset({"SELECT"})
    assert set(texts) == {
        p.sql,
        p.exact_sql,  # type: ignore[union-attr]
        p.searches[0].probe_sql,  # type: ignore[union-attr]
        "SELECT 1 WHERE (year > $y)",
    }
