"""Merging the shards' answers: top-k by distance, top-k by score, and write outcomes.

Shards send arrays, never Hit objects: per query their candidates' ids and distances padded
to one ``(m, width)`` matrix each (+inf past a query's count). The router stacks the shards'
matrices side by side, picks each row's ``k`` smallest with numpy, and builds one Hit per
result, as one node does.

>>> a = (np.array([[1, 2]]), np.array([[0.1, 0.5]]), np.array([2]), None)
>>> b = (np.array([[7, 0]]), np.array([[0.3, np.inf]]), np.array([1]), None)
>>> merge_top_k([a, b], 2)
[[Hit(id=1, distance=0.1, row=None), Hit(id=7, distance=0.3, row=None)]]
>>> ids, scores, src = merge_ranked([(np.array([4, 5]), np.array([2.0, 1.0])),
...                                  (np.array([9]), np.array([3.0]))], 2)
>>> ids.tolist(), scores.tolist(), src.tolist()
([9, 4], [3.0, 2.0], [1, 0])
"""

from __future__ import annotations

from functools import partial
from itertools import repeat
from typing import Any

import numpy as np

from vecdb.errors import VecdbError
from vecdb.sharded.fanout import PartialWriteError
from vecdb.types import Hit

__all__ = ["merge_top_k", "merge_ranked", "top_positions", "settle", "combine_plans"]

#: a Hit from a tuple without NamedTuple.__new__ (the merge builds one per result)
_new_hit = partial(tuple.__new__, Hit)

Reply = tuple[np.ndarray, np.ndarray, np.ndarray, "list[list[Any]] | None"]


def top_positions(dists: np.ndarray, k: int) -> np.ndarray:
    """Per row, the positions of the ``k`` smallest values, smallest first (ties: the
    leftmost first, i.e. the lower shard).

    >>> top_positions(np.array([[3.0, 1.0, 2.0, 1.0]]), 3).tolist()
    [[1, 3, 2]]
    """
    width = dists.shape[1]
    if width <= k:
        return np.argsort(dists, axis=1, kind="stable")
    if width >= 4 * k:
        # a partial selection first: only k of each row are sorted
        part = np.sort(np.argpartition(dists, k - 1, axis=1)[:, :k], axis=1)
        sub = np.take_along_axis(dists, part, axis=1)
        return np.take_along_axis(part, np.argsort(sub, axis=1, kind="stable"), axis=1)
    return np.argsort(dists, axis=1, kind="stable")[:, :k]


def merge_top_k(replies: list[Reply], k: int) -> list[list[Hit]]:
    """Merge the shards' candidates (in shard order) into the ``k`` nearest per query."""
    if len(replies) == 1:
        ids, dists, counts = replies[0][0], replies[0][1], replies[0][2]
    else:
        ids = np.concatenate([r[0] for r in replies], axis=1)
        dists = np.concatenate([r[1] for r in replies], axis=1)
        counts = sum(r[2] for r in replies)
    counts = np.minimum(counts, k)
    order = top_positions(dists, k)
    top_ids = np.take_along_axis(ids, order, axis=1).tolist()
    top_d = np.take_along_axis(dists, order, axis=1).tolist()
    out: list[list[Hit]] = []
    if replies[0][3] is None:
        for ids_i, d_i, n in zip(top_ids, top_d, counts.tolist()):
            if n < len(ids_i):
                ids_i, d_i = ids_i[:n], d_i[:n]
            out.append(list(map(_new_hit, zip(ids_i, d_i, repeat(None)))))
        return out
    pos = order.tolist()
    for i, n in enumerate(counts.tolist()):
        flat: list[Any] = []
        for r in replies:
            rows = r[3][i]  # type: ignore[index]
            flat.extend(rows)
            flat.extend([None] * (r[1].shape[1] - len(rows)))
        out.append(
            [Hit(a, b, flat[p]) for a, b, p in zip(top_ids[i][:n], top_d[i][:n], pos[i][:n])]
        )
    return out


def merge_ranked(
    replies: list[tuple[np.ndarray, np.ndarray]], k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` best of the shards' ``(ids, scores)`` rankings, higher first (ties: lower
    shard first): ids, scores and the shard each came from."""
    ids = np.concatenate([r[0] for r in replies])
    scores = np.concatenate([r[1] for r in replies]).astype(np.float64, copy=False)
    src = np.repeat(np.arange(len(replies)), [len(r[0]) for r in replies])
    order = np.argsort(-scores, kind="stable")[:k]
    return ids[order], scores[order], src[order]


def settle(replies: dict[int, tuple[str, Any]], op: str) -> list[int]:
    """The per-shard counts of a write, or its error naming which shards applied."""
    applied = sorted(s for s, (st, _) in replies.items() if st == "ok")
    failed = sorted(s for s, (st, _) in replies.items() if st == "err")
    lost = sorted(s for s, (st, _) in replies.items() if st == "lost")
    if not failed and not lost:
        return [v for _, v in replies.values()]
    details: dict[str, Any] = {"applied_shards": applied, "failed_shards": failed + lost}
    if lost:
        details["unknown_shards"] = lost
    again = "retry it with upsert()" if op == "add" else f"retry the {op} (it is idempotent)"
    if failed:
        err = replies[failed[0]][1]
        if isinstance(err, VecdbError):
            note = f" (shards {applied} applied their part; {again})" if applied else ""
            raise type(err)(err.message + note, **{**err.details, **details}) from err
        raise err
    raise PartialWriteError(
        f"{op}: shards {lost} stopped answering before they confirmed their part; shards "
        f"{applied} applied theirs; {again}",
        **details,
    )


def combine_plans(plans: list[dict[str, Any]]) -> dict[str, Any]:
    """The first shard's plan with row counts summed over shards and ``shards``: each plan.

    >>> info = combine_plans([{"strategy": "x", "total_rows": 2}, {"total_rows": 3}])
    >>> info["strategy"], info["total_rows"], len(info["shards"])
    ('x', 5, 2)
    """
    info = dict(plans[0])
    for key in ("matching_rows", "total_rows", "estimated_rows", "documents", "candidates"):
        vals = [p.get(key) for p in plans]
        if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in vals):
            info[key] = int(sum(vals))
    info["shards"] = plans
    return info
