"""The data structure under :class:`~vecdb.fulltext.FullTextIndex`: slots, vocabulary,
forward and inverted postings, and their maintenance (merge, compaction, relabelling).

Every (re)inserted document gets a new *slot*; ``label -> slot`` points at the live one. A
forward index (slot -> term ids and counts) is appended to on every write; the inverted
index (term -> slots and counts) covers the slots that existed at the last merge, and newer
slots are scanned from the forward index until the next merge (when they hold more than an
eighth of all postings). Dead slots are skipped with a boolean mask and reclaimed when they
make up 30 % of all slots.

>>> p = Postings()
>>> p.append(np.array([5, 7]), [["a", "b", "a"], ["b"]])
>>> p.n_live, p.df[: len(p.vocab)].tolist(), p.label_slot[[5, 7]].tolist()
(2, [1, 2], [0, 1])
>>> p.kill(np.array([5])), p.df[: len(p.vocab)].tolist()
(1, [0, 1])
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["Postings"]

#: dead slots as a share of all slots that triggers a compaction, and its minimum
COMPACT_RATIO = 0.3
COMPACT_MIN_DEAD = 1_000
#: postings outside the inverted index (newer slots) that trigger a merge, absolute and
#: as a share of all postings
MERGE_MIN_POSTINGS = 1 << 16
MERGE_RATIO = 0.125


def _grow(arr: np.ndarray, need: int, fill: Any = 0) -> np.ndarray:
    if need <= len(arr):
        return arr
    out = np.full(max(need, 2 * len(arr), 16), fill, dtype=arr.dtype)
    out[: len(arr)] = arr
    return out


def _ranges_index(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(starts[i], ends[i])`` for all i, vectorized."""
    lens = ends - starts
    total = int(lens.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(starts - np.cumsum(lens) + lens, lens)
    return offsets + np.arange(total)


class Postings:
    """Documents as term ids and counts, keyed by integer labels (see the module docstring).

    The arrays are over-allocated: only the first ``n_slots`` entries of the slot arrays and
    the first ``nnz`` postings of the forward index are in use. Labels are checked by the
    caller (:class:`~vecdb.fulltext.FullTextIndex`); the scorer reads the arrays directly.
    """

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {}
        self.df = np.zeros(1024, dtype=np.int64)  # live documents per term id
        # slots: one per (re)inserted document
        self.n_slots = 0
        self.slot_label = np.zeros(1024, dtype=np.int64)
        self.slot_len = np.zeros(1024, dtype=np.int64)
        self.alive = np.zeros(1024, dtype=bool)
        self.label_slot = np.full(1024, -1, dtype=np.int64)
        # forward index: slot s has postings fwd_term/fwd_tf[fwd_ptr[s]:fwd_ptr[s + 1]]
        self.fwd_ptr = np.zeros(1025, dtype=np.int64)
        self.nnz = 0
        self.fwd_term = np.zeros(4096, dtype=np.int32)
        self.fwd_tf = np.zeros(4096, dtype=np.int32)
        self.n_live = 0
        self.total_len = 0
        # inverted index over slots [0, main_slots)
        self.main_slots = 0
        self.main_nnz = 0
        self.inv_ptr = np.zeros(1, dtype=np.int64)
        self.inv_slot = np.zeros(0, dtype=np.int32)
        self.inv_tf = np.zeros(0, dtype=np.int32)

    @classmethod
    def from_forward(
        cls,
        vocab: list[str],
        slot_label: np.ndarray,
        slot_len: np.ndarray,
        alive: np.ndarray,
        fwd_ptr: np.ndarray,
        fwd_term: np.ndarray,
        fwd_tf: np.ndarray,
    ) -> Postings:
        """Postings from their forward index (what a checkpoint holds), already checked for
        consistency; the derived state (frequencies, lengths, inverted index) is rebuilt."""
        p = cls()
        n_terms = len(vocab)
        p.vocab = {w: i for i, w in enumerate(vocab)}
        p.n_slots, p.nnz = len(slot_label), len(fwd_term)
        p.slot_label = slot_label.astype(np.int64)
        p.slot_len = slot_len.astype(np.int64)
        p.alive = alive.astype(bool)
        p.fwd_ptr = fwd_ptr.astype(np.int64)
        p.fwd_term = fwd_term.astype(np.int32)
        p.fwd_tf = fwd_tf.astype(np.int32)
        live = np.flatnonzero(p.alive)
        p.n_live = len(live)
        p.total_len = int(p.slot_len[live].sum())
        p.label_slot = np.full(max(int(p.slot_label.max(initial=-1)) + 1, 1024), -1, np.int64)
        p.label_slot[p.slot_label[live]] = live
        p.df = np.bincount(
            fwd_term[_ranges_index(fwd_ptr[live], fwd_ptr[live + 1])], minlength=n_terms
        ).astype(np.int64)
        p.merge()
        return p

    def kill(self, labels: np.ndarray) -> int:
        """Mark the live documents of ``labels`` dead; returns how many there were."""
        inside = labels[labels < len(self.label_slot)]
        slots = self.label_slot[inside]
        slots = np.unique(slots[slots >= 0])
        if len(slots) == 0:
            return 0
        starts, ends = self.fwd_ptr[slots], self.fwd_ptr[slots + 1]
        idx = _ranges_index(starts, ends)
        np.subtract.at(self.df, self.fwd_term[idx], 1)
        self.alive[slots] = False
        self.label_slot[self.slot_label[slots]] = -1
        self.n_live -= len(slots)
        self.total_len -= int(self.slot_len[slots].sum())
        return len(slots)

    def append(self, labels: np.ndarray, token_lists: list[list[str]]) -> None:
        """New slots for ``labels`` (which have no live document) with these tokens."""
        vocab = self.vocab
        setdefault = vocab.setdefault
        lens = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(token_lists))
        ids = np.fromiter(
            (setdefault(tok, len(vocab)) for toks in token_lists for tok in toks),
            dtype=np.int64,
            count=int(lens.sum()),
        )
        n_new = len(token_lists)
        # (document, term) pairs with their counts, ordered by document then term
        doc_of = np.repeat(np.arange(n_new, dtype=np.int64), lens)
        pair, tf = np.unique(doc_of * len(vocab) + ids, return_counts=True)
        term_arr = (pair % max(len(vocab), 1)).astype(np.int32)
        sizes = np.bincount(pair // max(len(vocab), 1), minlength=n_new)
        nnz_new = len(pair)
        s0, s1 = self.n_slots, self.n_slots + n_new
        z0, z1 = self.nnz, self.nnz + nnz_new
        self.slot_label = _grow(self.slot_label, s1)
        self.slot_len = _grow(self.slot_len, s1)
        self.alive = _grow(self.alive, s1, False)
        self.fwd_ptr = _grow(self.fwd_ptr, s1 + 1)
        self.fwd_term = _grow(self.fwd_term, z1)
        self.fwd_tf = _grow(self.fwd_tf, z1)
        self.df = _grow(self.df, len(vocab))
        self.label_slot = _grow(self.label_slot, int(labels.max()) + 1, -1)
        self.fwd_term[z0:z1] = term_arr
        self.fwd_tf[z0:z1] = tf
        self.fwd_ptr[s0 + 1 : s1 + 1] = z0 + np.cumsum(sizes)
        self.slot_label[s0:s1] = labels
        self.slot_len[s0:s1] = lens
        self.alive[s0:s1] = True
        self.label_slot[labels] = np.arange(s0, s1)
        np.add.at(self.df, term_arr, 1)
        self.n_slots, self.nnz = s1, z1
        self.n_live += n_new
        self.total_len += int(lens.sum())

    def relabel(self, old: np.ndarray) -> None:
        """``old[i]`` becomes label ``i``; labels not in ``old`` are dropped."""
        n = self.n_slots
        slot_label = self.slot_label[:n]
        new_of_old = np.full(max(int(old.max(initial=-1)) + 1, 1), -1, dtype=np.int64)
        new_of_old[old] = np.arange(len(old))
        alive = self.alive[:n]
        in_range = slot_label < len(new_of_old)
        mapped = np.full(n, -1, dtype=np.int64)
        mapped[in_range] = new_of_old[slot_label[in_range]]
        drop = alive & (mapped < 0)
        if drop.any():
            self.kill(slot_label[drop])
        alive = self.alive[:n]
        self.slot_label[:n] = np.where(alive, mapped, -1)
        self.label_slot = np.full(max(len(old), 1024), -1, dtype=np.int64)
        live_slots = np.flatnonzero(alive)
        self.label_slot[self.slot_label[live_slots]] = live_slots
        self.maintain()

    def maintain(self) -> None:
        """Compact or merge when the thresholds above are crossed."""
        dead = self.n_slots - self.n_live
        if dead >= COMPACT_MIN_DEAD and dead > COMPACT_RATIO * self.n_slots:
            self.compact()
        elif self.nnz - self.main_nnz > max(MERGE_MIN_POSTINGS, MERGE_RATIO * self.nnz):
            self.merge()

    def merge(self) -> None:
        """Rebuild the inverted index over every slot so far."""
        n, nnz = self.n_slots, self.nnz
        slot_of = np.repeat(np.arange(n, dtype=np.int32), np.diff(self.fwd_ptr[: n + 1]))
        live = self.alive[slot_of]
        term = self.fwd_term[:nnz][live]
        order = np.argsort(term, kind="stable")  # stable: slots stay ascending per term
        self.inv_slot = slot_of[live][order]
        self.inv_tf = self.fwd_tf[:nnz][live][order]
        counts = np.bincount(term, minlength=len(self.vocab))
        self.inv_ptr = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=self.inv_ptr[1:])
        self.main_slots, self.main_nnz = n, nnz

    def compact(self) -> None:
        """Drop dead slots and unused terms, then merge."""
        n = self.n_slots
        live = np.flatnonzero(self.alive[:n])
        starts, ends = self.fwd_ptr[live], self.fwd_ptr[live + 1]
        idx = _ranges_index(starts, ends)
        # renumber terms that still occur
        used = self.df[: len(self.vocab)] > 0
        new_id = np.cumsum(used) - 1
        words = list(self.vocab)
        self.vocab = {words[i]: j for j, i in enumerate(np.flatnonzero(used).tolist())}
        self.df = self.df[: len(used)][used].copy()
        self.fwd_term = new_id[self.fwd_term[idx]].astype(np.int32)
        self.fwd_tf = self.fwd_tf[idx].copy()
        self.fwd_ptr = np.zeros(len(live) + 1, dtype=np.int64)
        np.cumsum(ends - starts, out=self.fwd_ptr[1:])
        self.slot_label = self.slot_label[live].copy()
        self.slot_len = self.slot_len[live].copy()
        self.alive = np.ones(len(live), dtype=bool)
        self.label_slot[:] = -1
        self.label_slot[self.slot_label] = np.arange(len(live))
        self.n_slots, self.nnz = len(live), len(idx)
        self.merge()
