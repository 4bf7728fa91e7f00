"""Fixtures for the sharded tests: one local Ray per session, sharded databases over it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.sharded.ray_helpers import local_ray


@pytest.fixture(scope="session")
def ray_session() -> Any:
    """The ray module, with a local Ray started once for the whole session."""
    return local_ray()
