"""Test-only crash points between the durable steps of DDL and index checkpoints.

``VECDB_TEST_CRASH_AT=<step>`` makes the process kill itself with SIGKILL when it reaches
:func:`crash_point` with that step name: no ``finally`` block, no ``close()``, exactly what a
power cut or the OOM killer leaves behind. ``tests/durability/test_ddl_crash.py`` runs one
subprocess per step in :data:`STEPS` and checks that the directory always reopens with each
collection either whole or absent. Without the variable a crash point costs one dictionary
lookup, on paths that already write files or commit transactions.

>>> crash_point("create.in_txn")          # not asked for: nothing happens
>>> sorted(STEPS)[:2]
['checkpoint.dir_renamed', 'checkpoint.files_written']
"""

from __future__ import annotations

import os
import signal

__all__ = ["crash_point", "STEPS", "ENV"]

ENV = "VECDB_TEST_CRASH_AT"

#: every crash point, and where it sits
STEPS: dict[str, str] = {
    "create.begin": "create_collection: old index files removed, before the transaction",
    "create.in_txn": "create_collection: table, log and catalog row made, before COMMIT",
    "create.committed": "create_collection: committed, before the collection is handed out",
    "set_index.rebuilt": "set_index (CREATE/DROP INDEX): new index built in memory only",
    "set_index.in_txn": "set_index: catalog spec and index name updated, before COMMIT",
    "set_index.committed": "set_index: committed, before the index checkpoint",
    "checkpoint.files_written": "checkpoint: files written and fsynced in ckpt-S.tmp",
    "checkpoint.dir_renamed": "checkpoint: ckpt-S.tmp renamed to ckpt-S, old manifest still",
    "checkpoint.manifest_written": "checkpoint: manifest.json.tmp written, not yet renamed",
    "checkpoint.manifest_replaced": "checkpoint: manifest replaced, older ckpt-* still there",
    "checkpoint.old_removed": "checkpoint: older checkpoints removed, change log not trimmed",
    "checkpoint.log_trimmed": "checkpoint: change log trimmed (the checkpoint is complete)",
    "drop.in_txn": "drop_collection: table, log, catalog row dropped, before COMMIT",
    "drop.committed": "drop_collection: committed, index files still on disk",
    "drop.manifest_removed": "drop_collection: index manifest removed, its files not yet",
}


def crash_point(step: str) -> None:
    """SIGKILL this process if ``VECDB_TEST_CRASH_AT`` names ``step`` (tests only)."""
    if os.environ.get(ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)
