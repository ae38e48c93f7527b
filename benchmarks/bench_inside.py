"""Looking inside clusters on a stored dataset, against one read of the vectors, in one run.

Times, on the same store: one plain read of every vector (the floor of any call that looks at
them), ``closest`` (the representatives: two passes and a running top-n per cluster),
``misfits`` with cosine (the metrics' two passes, every document scored exactly), and
``aggregate`` of a text field (SQL in the store, no vectors read), and prints each as a
ratio to the read. The issue asks for about two reads.

    python benchmarks/bench_inside.py [--n 1000000] [--d 768] [--k 20]

The pass cache is turned off (``cache_mb=0``), so each pass reads DuckDB again, as a dataset
larger than a quarter of the memory would.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

import clustermetrics as cm
from clustermetrics.api.local import LocalAPI
from clustermetrics.engine.local import StoreSource


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--d", type=int, default=768)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--chunk", type=int, default=100_000, help="rows inserted at a time")
    args = ap.parse_args()
    n, d, k = args.n, args.d, args.k
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(k, d)).astype(np.float32)

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.duckdb")
        t0 = time.perf_counter()
        with cm.Client(path=path) as client:
            ds = client.Dataset("bench")
            labels_by_id = {}
            for start in range(0, n, args.chunk):
                m = min(args.chunk, n - start)
                labels = rng.integers(0, k, m)
                X = rng.standard_normal((m, d), dtype=np.float32) + centres[labels]
                ids = [f"doc-{i}" for i in range(start, start + m)]
                ds.insert_documents([{"_id": i, "emb_vector_": x, "colour": f"c{v % 7}"}
                                     for i, x, v in zip(ids, X, labels, strict=True)])
                labels_by_id.update(zip(ids, labels.tolist(), strict=True))
            client.vector_tools.cluster.set_cluster_labels("bench", "emb_vector_", "k",
                                                           labels_by_id)
        print(f"stored {n:,} x {d} float32 in {time.perf_counter() - t0:.0f} s", flush=True)

        api = LocalAPI(path, cache_mb=0)
        try:
            def read() -> None:
                with api.store.session(), StoreSource(api.store, "bench", "emb_vector_", None,
                                                      dim=d, cache_mb=0) as source:
                    total = 0.0
                    for b in source.batches():
                        total += float(b.X[:, 0].sum())

            runs = {
                "one read of the vectors": read,
                "closest (n=5, euclidean)": lambda: api.closest("bench", "emb_vector_", "k",
                                                                 n=5),
                "furthest (n=5, cosine)": lambda: api.furthest("bench", "emb_vector_", "k",
                                                                n=5, metric="cosine"),
                "misfits (n=20, cosine, exact)": lambda: api.misfits(
                    "bench", "emb_vector_", "k", n=20, metric="cosine"),
                "aggregate (a text field, SQL)": lambda: api.aggregate(
                    "bench", "emb_vector_", "k", ["colour"]),
            }
            read()  # DuckDB reads a freshly opened file at about half speed: warm it once
            base = None
            for name, run in runs.items():
                t0 = time.perf_counter()
                run()
                seconds = time.perf_counter() - t0
                base = base or seconds
                print(f"{name:<34} {seconds:7.2f} s  {seconds / base:5.2f} x the read",
                      flush=True)
        finally:
            api.close()


if __name__ == "__main__":
    main()
