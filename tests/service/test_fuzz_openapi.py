"""Fuzz the REST API from its own OpenAPI document (schemathesis, in-process ASGI, bounded):
whatever the body, the answer is never a 5xx."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

import vecdb
from vecdb_server.config import ServerConfig
from vecdb_server.core import ServiceCore
from vecdb_server.rest import create_app

MAX_EXAMPLES = 25


@pytest.fixture(scope="module")
def app() -> Any:
    db = vecdb.connect(confined=True)
    c = db.create_collection("docs", dim=4, columns={"year": "INTEGER", "title": "VARCHAR"})
    rng = np.random.default_rng(0)
    c.upsert(
        ids=list(range(50)),
        vectors=rng.normal(size=(50, 4)).astype(np.float32),
        rows=[{"year": 2000 + i, "title": f"t{i}"} for i in range(50)],
    )
    core = ServiceCore(db, ServerConfig(max_k=100, max_batch_rows=1000, request_timeout_s=5))
    yield create_app(core)
    core.close()
    db.close()


def test_openapi_fuzz_no_server_errors(app: Any) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    n_ops = 0
    for result in schema.get_all_operations():
        op = result.ok()
        n_ops += 1
        strategy = op.as_strategy()

        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def run(case: Any) -> None:
            # point the path parameter at the real collection about half of the time
            if case.path_parameters and "name" in case.path_parameters:
                if len(repr(case.body)) % 2 == 0:
                    case.path_parameters["name"] = "docs"
            resp = case.call()
            if resp.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} -> {resp.status_code}: "
                    f"{resp.text[:300]} body={case.body!r}"[:600]
                )

        run()
    assert n_ops >= 12
    assert not failures, "\n".join(failures[:10])
