"""Scale-out on Ray: one database cut into shards, each a Ray actor owning an embedded vecdb.

``vecdb.connect(path, shards=N, ray_address=None | "auto" | "ray://host:10001")`` returns a
:class:`ShardedDatabase` with the methods, results and exceptions of :class:`vecdb.Database`.
Install the extra first: ``pip install 'vecdb[ray]'``.

- :mod:`vecdb.sharded.layout`: the persisted layout and the stable id hash.
- :mod:`vecdb.sharded.actor`: one shard (an embedded database), run as a Ray actor.
- :mod:`vecdb.sharded.fanout`: Ray, the shard actors, and calls to all of them at once.
- :mod:`vecdb.sharded.router`: the database API (catalog, SQL, life cycle).
- :mod:`vecdb.sharded.collection`: the collection API: writes split by id, reads fanned out.
- :mod:`vecdb.sharded.writes`: a write checked whole (documents embedded on the router).
- :mod:`vecdb.sharded.merge`: merging the shards' top-k arrays and write outcomes.
- :mod:`vecdb.sharded.text`: full-text and hybrid search with global BM25 statistics.
- :mod:`vecdb.sharded.sql`: which SQL fans out (vector search, row selects, combinable
  aggregates) and how the shards' rows are merged.
"""

from __future__ import annotations

from vecdb.sharded.collection import ShardedCollection
from vecdb.sharded.fanout import NAMESPACE, PartialWriteError, ShardUnavailableError
from vecdb.sharded.layout import Layout
from vecdb.sharded.router import ShardedDatabase, connect_sharded

__all__ = [
    "connect_sharded",
    "ShardedDatabase",
    "ShardedCollection",
    "Layout",
    "PartialWriteError",
    "ShardUnavailableError",
    "NAMESPACE",
]
