"""vecdb benchmarks: recall/QPS sweeps against the raw libraries and peers.

Entry points:

- ``python -m benchmarks.ann --data DIR`` -- recall/QPS/latency/build/RSS sweep, unfiltered and
  filtered, for vecdb, raw hnswlib, raw faiss and optional peers.
- ``python -m benchmarks.scale --sizes 100000,300000`` -- build time, QPS at recall >= 0.95 and
  bytes per vector on clustered synthetic data.
- ``make bench`` -- the pytest-benchmark suites in ``benchmarks/bench_*.py``.
"""

from __future__ import annotations
