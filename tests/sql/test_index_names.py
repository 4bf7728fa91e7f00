"""SQL index names survive a reopen: DROP INDEX finds the index by the name it was given."""

from __future__ import annotations

from pathlib import Path

import vecdb


def test_drop_index_by_name_after_reopen(tmp_path: Path) -> None:
    path = str(tmp_path / "d")
    with vecdb.connect(path) as db:
        db.sql("CREATE TABLE docs (id BIGINT PRIMARY KEY, vec FLOAT[2])")
        db.sql("CREATE TABLE other (id BIGINT PRIMARY KEY, vec FLOAT[2])")
        db.sql("CREATE INDEX my_fancy_idx ON docs USING HNSW (vec) WITH (m = 8)")
        db.sql("CREATE INDEX x ON other USING IVF (vec)")
    with vecdb.connect(path) as db:
        assert db.get_collection("docs").index_kind == "hnsw"
        db.sql("DROP INDEX My_Fancy_Idx")
        assert db.get_collection("docs").index_kind == "exact"
        assert db.get_collection("other").index_kind == "ivf"
    with vecdb.connect(path) as db:
        db.sql("DROP INDEX x")
        assert db.get_collection("other").index_kind == "exact"
