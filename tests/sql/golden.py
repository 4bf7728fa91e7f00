"""The one loader for golden SQL files: a case is a line ``statement; expected``.

Blank lines and lines starting with ``--`` are skipped; the expected value follows the last
``;`` of the line.
"""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"


def load(name: str) -> list[tuple[str, str]]:
    """``[(statement, expected), ...]`` from ``fixtures/<name>``."""
    cases = []
    for n, line in enumerate((FIXTURES / name).read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("--"):
            continue
        statement, sep, expected = line.rpartition(";")
        if not sep:
            raise ValueError(f"{name}:{n}: expected 'statement; expected'")
        cases.append((statement.strip(), expected.strip()))
    return cases
