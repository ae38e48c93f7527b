"""The store end to end: insert from Parquet and from a NumPy array (each against ``np.save``
of the same bytes, timed in the same run), then the metrics call on the stored dataset against
evaluate() on the same in-memory array, in one run.

    python benchmarks/bench_store.py [--n 200000] [--d 768]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import clustermetrics as cm
from clustermetrics.documents import vectors_to_arrow
from clustermetrics.engine.local import SHARED_CACHE


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--d", type=int, default=768)
    args = ap.parse_args()
    n, d, k = args.n, args.d, 10
    rng = np.random.default_rng(0)
    labels = rng.integers(0, k, n)
    X = rng.standard_normal((n, d), dtype=np.float32) + rng.normal(size=(k, d)).astype(
        np.float32)[labels]
    truth = np.array([f"class_{v}" for v in (labels + (rng.random(n) < 0.2)) % k], dtype=object)
    ids = np.array([f"doc-{i}" for i in range(n)], dtype=object)

    with tempfile.TemporaryDirectory() as tmp:
        parquet = os.path.join(tmp, "docs.parquet")
        pq.write_table(pa.table({"_id": ids, "emb_vector_": vectors_to_arrow(X),
                                 "category": truth}), parquet)
        insert(n, d, X, ids, parquet, tmp)
        with cm.Client(path=os.path.join(tmp, "bench.duckdb")) as client:
            client.vector_tools.cluster.set_cluster_labels(
                "bench", "emb_vector_", "truth_k10", dict(zip(ids, labels, strict=True)))

            stages: dict[str, float] = {}
            last = [time.perf_counter()]

            def progress(stage, done, total):
                now = time.perf_counter()
                stages[stage] = stages.get(stage, 0.0) + now - last[0]
                last[0] = now

            t0 = time.perf_counter()
            stored = client.vector_tools.cluster.metrics(
                "bench", "emb_vector_", "truth_k10", "category", metric="cosine",
                progress=progress)
            t_stored = time.perf_counter() - t0

            t0 = time.perf_counter()
            source = client.api._source("bench", "emb_vector_", "truth_k10", "category")
            n_read = sum(len(b.X) for b in source.batches())
            t_read = time.perf_counter() - t0

    t0 = time.perf_counter()
    memory = cm.evaluate(X, labels, truth, metric="cosine")
    t_memory = time.perf_counter() - t0
    # float32 vectors: the GEMMs round by batch, so equal to float32 precision
    assert all(abs(stored.scores[m] - memory.scores[m]) <= 1e-6 * max(1, abs(memory.scores[m]))
               for m in memory.scores)
    print(f"metrics (cosine, with ground truth) on the stored dataset: {t_stored:.2f} s "
          f"(pass 1 {stages.get('statistics', 0):.2f} s, pass 2 {stages.get('silhouette', 0):.2f}"
          f" s)")
    print(f"evaluate() on the same in-memory array:                  {t_memory:.2f} s")
    print(f"ratio stored / in-memory: {t_stored / t_memory:.2f}x (target <= 1.5x)")
    print(f"reading the {n_read:,} vectors once from the store: {t_read:.2f} s "
          f"({n_read * d * 4 / t_read / 1e6:,.0f} MB/s); "
          + (f"the metrics read them once and keep the batches for the second pass "
             f"({n * d * 4 / 2**20:,.0f} MiB, within the {SHARED_CACHE.limit / 2**20:,.0f} MiB "
             "cache budget)" if n * d * 4 <= SHARED_CACHE.limit else "the metrics read them twice"))


def insert(n: int, d: int, X: np.ndarray, ids: np.ndarray, parquet: str, tmp: str) -> None:
    """Insert the Parquet file, then the array, each timed to the store file being closed
    (DuckDB's commit and checkpoint included), against ``np.save`` of the same array timed
    just before it; ``os.sync()`` between, so one write's flushing does not slow the next.
    Leaves the Parquet import in ``bench.duckdb``."""
    def np_save() -> float:
        os.sync()
        t0 = time.perf_counter()
        np.save(os.path.join(tmp, "same.npy"), X)
        took = time.perf_counter() - t0
        os.remove(os.path.join(tmp, "same.npy"))
        os.sync()
        return took

    for what, path, data, kw in [
            ("Parquet", "bench.duckdb", parquet, {}),
            ("a NumPy array", "numpy.duckdb", X, {"ids": ids, "vector_field": "emb_vector_"})]:
        t_save = np_save()
        t0 = time.perf_counter()
        with cm.Client(path=os.path.join(tmp, path)) as client:
            client.Dataset("bench").insert_documents(data, **kw)
        took = time.perf_counter() - t0
        print(f"insert from {what}: {n:,} x {d} in {took:.2f} s = {n / took:,.0f} vectors/s; "
              f"np.save of the same {X.nbytes / 1e6:,.0f} MB: {n / t_save:,.0f} vectors/s; "
              f"ratio {t_save / took:.2f} of np.save's rate (target >= 100,000 vectors/s)",
              flush=True)
    os.remove(os.path.join(tmp, "numpy.duckdb"))


if __name__ == "__main__":
    main()
