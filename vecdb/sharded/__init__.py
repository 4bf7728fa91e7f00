"""Scale-out on Ray: one database cut into shards, each a Ray actor owning an embedded vecdb.

``vecdb.connect(path, shards=N, ray_address=None | "auto" | "ray://host:10001")`` returns a
:class:`ShardedDatabase` with the methods, results and exceptions of :class:`vecdb.Database`.
Install the extra first: ``pip install 'vecdb[ray]'``.

- :mod:`vecdb.sharded.layout`: the persisted layout and the stable id hash.
- :mod:`vecdb.sharded.actor`: one shard (an embedded database), run as a Ray actor.
- :mod:`vecdb.sharded.router`: the database and collection API: split, fan out, merge.
- :mod:`vecdb.sharded.sql`: which SQL fans out (vector search, row selects, combinable
  aggregates) and how the shards' rows are merged.
"""

from __future__ import annotations

from vecdb.sharded.layout import Layout
from vecdb.sharded.router import (
    NAMESPACE,
    PartialWriteError,
    ShardedCollection,
    ShardedDatabase,
    ShardUnavailableError,
    connect_sharded,
)

__all__ = [
    "connect_sharded",
    "ShardedDatabase",
    "ShardedCollection",
    "Layout",
    "PartialWriteError",
    "ShardUnavailableError",
    "NAMESPACE",
]
