"""pytest configuration for ``pytest benchmarks`` (``make bench``).

Benchmark suites are named ``bench_*.py`` so that ``make test`` never picks them up; this hook
makes pytest collect them when it is pointed at this folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    """Collect ``bench_*.py`` files as test modules."""
    if file_path.suffix == ".py" and file_path.name.startswith("bench_"):
        return pytest.Module.from_parent(parent, path=file_path)
    return None
