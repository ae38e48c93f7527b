"""Report generation on a big stored dataset: time and HTML size.

    python benchmarks/bench_report.py [--n 200000] [--d 768]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

import clustermetrics as cm


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--d", type=int, default=768)
    ap.add_argument("--metric", default="cosine")
    args = ap.parse_args()
    n, d, k = args.n, args.d, 10
    rng = np.random.default_rng(0)
    labels = rng.integers(0, k, n)
    X = rng.standard_normal((n, d), dtype=np.float32) + 2 * rng.normal(size=(k, d)).astype(
        np.float32)[labels]
    ids = np.array([f"doc-{i}" for i in range(n)], dtype=object)
    truth = np.array([f"class_{v}" for v in (labels + (rng.random(n) < 0.2)) % k], dtype=object)
    with tempfile.TemporaryDirectory() as tmp, cm.Client(path=os.path.join(tmp, "r.duckdb")) as c:
        ds = c.Dataset("big")
        ds.insert_documents(X, ids=ids, vector_field="emb_vector_")
        ds.upsert_documents([{"_id": i, "category": t} for i, t in zip(ids, truth, strict=True)])
        c.vector_tools.cluster.set_cluster_labels("big", "emb_vector_", "k10",
                                                  dict(zip(ids, labels, strict=True)))
        out = os.path.join(tmp, "report.html")
        t0 = time.perf_counter()
        rep = c.vector_tools.cluster.report("big", "emb_vector_", "k10", "category", out,
                                            metric=args.metric)
        elapsed = time.perf_counter() - t0
        size = os.path.getsize(out)
    sil = rep.figures["silhouette"]
    bars = sum(len(t.x) for t in sil.data if t.type == "bar")
    points = sum(len(t.x) for t in rep.figures["projection_2d"].data) // 2
    print(f"report for {n:,} x {d} ({args.metric}): {elapsed:.1f} s, {size / 1e6:.1f} MB HTML "
          f"(plotly.js inline: ~4.8 MB); silhouette plot {bars:,} bars (quantiles of {n:,} "
          f"scored samples), projections {points:,} sampled points")


if __name__ == "__main__":
    main()
