"""The shard layout and the SQL fan-out plans: pure functions, no Ray needed."""

from __future__ import annotations

import doctest
import json
from pathlib import Path

import numpy as np
import pytest

import vecdb.sharded.actor
import vecdb.sharded.collection
import vecdb.sharded.fanout
import vecdb.sharded.layout
import vecdb.sharded.merge
import vecdb.sharded.sql
import vecdb.sharded.text
import vecdb.sharded.writes
from vecdb.errors import InvalidArgumentError, UnsupportedQueryError
from vecdb.sharded.layout import LAYOUT_FILE, Layout, stable_hash
from vecdb.sharded.sql import fanout_plan
from vecdb.sql.parse import parse

MODULES = [
    vecdb.sharded.layout,
    vecdb.sharded.sql,
    vecdb.sharded.actor,
    vecdb.sharded.merge,
    vecdb.sharded.writes,
    vecdb.sharded.fanout,
    vecdb.sharded.collection,
    vecdb.sharded.text,
]


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples(module: object) -> None:
    res = doctest.testmod(module, optionflags=doctest.ELLIPSIS)  # type: ignore[arg-type]
    assert res.attempted > 0 and res.failed == 0


def test_hash_is_pinned() -> None:
    # these values are the on-disk contract: a change would send ids to the wrong shard
    assert stable_hash(np.array([0, 1, -1, 2**62]), "int").tolist() == [
        16294208416658607535,
        10451216379200822465,
        16490336266968443936,
        47939714376772075,
    ]
    assert stable_hash(np.array(["a", "é"], dtype=object), "str").tolist() == [
        3405396810240292928,
        3394012004367669963,
    ]
    assert Layout(4).shard_of_ids(np.array(["a", "b", "c"], dtype=object), "str").tolist() == [
        0,
        0,
        3,
    ]


def test_split_covers_every_id_once() -> None:
    ids = np.arange(10_000)
    parts = Layout(3).split(ids, "int")
    together = np.sort(np.concatenate(list(parts.values())))
    assert together.tolist() == list(range(10_000))
    assert min(len(p) for p in parts.values()) > 3000


def test_layout_is_persisted_and_checked(tmp_path: Path) -> None:
    root = tmp_path / "db"
    assert Layout.open(root, 2).shards == 2
    data = json.loads((root / LAYOUT_FILE).read_text())
    assert data["shards"] == 2 and data["hash_version"] == 1
    assert Layout.open(root, 2) == Layout(2)
    with pytest.raises(InvalidArgumentError, match="open it with shards=2"):
        Layout.open(root, 4)
    (root / LAYOUT_FILE).write_text(json.dumps({**data, "hash": "other"}))
    with pytest.raises(InvalidArgumentError, match="sharded with hash other"):
        Layout.open(root, 2)
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "vecdb.duckdb").write_bytes(b"")
    with pytest.raises(InvalidArgumentError, match="unsharded database"):
        Layout.open(plain, 2)
    with pytest.raises(InvalidArgumentError, match="positive integer"):
        Layout(0)


def test_fanout_plans() -> None:
    cols = {"docs"}
    p = fanout_plan(parse("SELECT id FROM docs ORDER BY year DESC, id LIMIT $n"), {"n": 4}, cols)
    assert p.kind == "rows"
    assert p.shard_sql.endswith("ORDER BY year DESC, id LIMIT 4")
    assert "ORDER BY __vecdb_o0 DESC, __vecdb_o1 LIMIT 4" in (p.merge_sql or "")
    assert fanout_plan(parse("SELECT count(*), max(y) FROM docs"), {}, cols).combine == (
        "sum",
        "max",
    )
    assert fanout_plan(parse("SELECT 1"), {}, cols).kind == "single"
    assert fanout_plan(parse("SELECT * FROM other"), {}, cols).kind == "single"
    assert fanout_plan(parse("SELECT * FROM docs"), {}, cols).merge_sql is None
    for sql in (
        "SELECT count(*) + 1 FROM docs",
        "SELECT y, count(*) FROM docs GROUP BY y",
        "INSERT INTO docs VALUES (1)",
        "SELECT id FROM docs LIMIT (SELECT 1)",
    ):
        with pytest.raises(UnsupportedQueryError, match="vector searches"):
            fanout_plan(parse(sql), {}, cols)


def test_a_sharded_directory_does_not_open_unsharded(tmp_path) -> None:  # noqa: ANN001
    import vecdb
    from vecdb.errors import InvalidArgumentError

    (tmp_path / "vecdb-shards.json").write_text('{"shards": 2}')
    with pytest.raises(InvalidArgumentError, match="shards="):
        vecdb.connect(str(tmp_path))
    assert not (tmp_path / "vecdb.duckdb").exists()
