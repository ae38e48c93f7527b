"""Headline metrics kept with the alias: what the listing (and so the web dataset page) and
`compare` cost with and without them, on one embedded store.

Inserts n x d float32 vectors, stores `--aliases` k-means clusterings, then times, side by
side in one run:

1. the listing with metrics when every alias is stale (one metrics pass per alias: what the
   dataset page paid on every view before), then again with nothing changed (kept);
2. `compare` of every alias with nothing changed (kept), and with an option that is not the
   default (`metric="manhattan"`: computed, sampled beyond 20,000 documents);
3. after deleting one document: the listing again (every alias recomputed once).

    python benchmarks/bench_kept.py [--n 200000] [--d 128] [--aliases 4]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

import clustermetrics as cm


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--aliases", type=int, default=4)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=3, size=(8, args.d)).astype(np.float32)
    X = centers[rng.integers(0, 8, args.n)] + rng.standard_normal((args.n, args.d),
                                                                  dtype=np.float32)
    ids = np.array([f"doc-{i}" for i in range(args.n)], dtype=object)
    with tempfile.TemporaryDirectory() as tmp, \
            cm.Client(path=os.path.join(tmp, "s.duckdb")) as client:
        ds = client.Dataset("bench")
        ds.insert_documents(X, ids=ids, vector_field="emb_vector_")
        aliases = []
        for k in range(2, 2 + args.aliases):
            ds.kmeans("emb_vector_", k)
            aliases.append(f"kmeans_{k}")
        api = client.api
        print(f"{args.n:,} x {args.d} float32, {len(aliases)} aliases", flush=True)
        stale = timed(lambda: ds.list_aliases(metrics=True))
        n0 = api.computed
        kept = timed(lambda: ds.list_aliases(metrics=True))
        print(f"listing with metrics, all stale : {stale:8.3f} s", flush=True)
        print(f"listing with metrics, kept      : {kept:8.3f} s "
              f"(computations: {api.computed - n0}); stale / kept: {stale / kept:,.0f}x")
        n0 = api.computed
        compare_kept = timed(lambda: ds.compare("emb_vector_", aliases))
        print(f"compare, kept                   : {compare_kept:8.3f} s "
              f"(computations: {api.computed - n0})")
        compare_other = timed(lambda: ds.compare("emb_vector_", aliases, metric="manhattan"))
        print(f"compare, manhattan (computed)   : {compare_other:8.3f} s; "
              f"computed / kept: {compare_other / compare_kept:,.0f}x", flush=True)
        ds.delete_documents(["doc-0"])
        again = timed(lambda: ds.list_aliases(metrics=True))
        print(f"listing after a delete          : {again:8.3f} s (every alias once)")


if __name__ == "__main__":
    main()
