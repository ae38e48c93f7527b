"""clustermetrics against scikit-learn, side by side in one process on the same data.

    python benchmarks/bench_metrics.py [--quick]

Prints times and ratios; the figures in the README come from this script. Not part of the tests.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import tracemalloc

import numpy as np
from sklearn import metrics as skm

import clustermetrics as cm


def timed(fn, *args, repeat=1, **kwargs):
    best, value = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - t0)
    return best, value


def blobs(n, d, k, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    centers = rng.normal(size=(k, d)).astype(np.float32)
    X = rng.standard_normal((n, d), dtype=np.float32) * 2.0
    X += centers[labels]
    return X, labels


def gemm_rate() -> float:
    a = np.random.default_rng(0).standard_normal((4096, 4096), dtype=np.float32)
    t, _ = timed(lambda: a @ a, repeat=3)
    return 2 * 4096**3 / t


def row(name, ours, peer=None, note=""):
    ratio = f"{peer / ours:8.1f}x" if peer else " " * 9
    peer_s = f"{peer:9.2f} s" if peer else " " * 11
    print(f"{name:<46} {ours:8.2f} s {peer_s} {ratio}  {note}", flush=True)


def peak_memory_child(n: int, d: int) -> None:
    """Peak of numpy's allocations (tracemalloc sees them) during one exact silhouette."""
    X, labels = blobs(n, d, 10)
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    cm.silhouette_score(X, labels)
    peak = tracemalloc.get_traced_memory()[1]
    print(base, peak, X.nbytes)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller sizes, no 1M / 10M runs")
    ap.add_argument("--only", choices=["silhouette", "labels"], default=None,
                    help="run one family of benchmarks")
    args = ap.parse_args()
    n_small = 5_000 if args.quick else 20_000
    print(f"{'benchmark':<46} {'ours':>10} {'scikit-learn':>11} {'speed-up':>9}")

    if args.only != "labels":
        silhouette_benchmarks(args, n_small)
    if args.only != "silhouette":
        label_benchmarks(args)


def silhouette_benchmarks(args, n_small: int) -> None:
    rate = gemm_rate()
    print(f"float32 GEMM 4096x4096: {rate / 1e9:.0f} GFLOP/s", flush=True)

    X, labels = blobs(n_small, 768, 10)
    t_ours, ours = timed(cm.silhouette_score, X, labels, metric="cosine", repeat=3)
    t_peer, peer = timed(skm.silhouette_score, X, labels, metric="cosine")
    row(f"silhouette cosine n={n_small:,} d=768 k=10", t_ours, t_peer,
        f"|diff| {abs(ours - peer):.1e}")

    t_ours, ours = timed(cm.silhouette_score, X, labels)
    t_peer, peer = timed(skm.silhouette_score, X, labels)
    ideal = 2 * n_small**2 * 768 / rate
    row(f"silhouette euclidean n={n_small:,} d=768 k=10", t_ours, t_peer,
        f"|diff| {abs(ours - peer):.1e}; {t_ours / ideal:.2f}x of 2n²d/GEMM ({ideal:.2f} s)")

    t_ours, res = timed(cm.silhouette, X, labels, sample_size=2000, random_state=0)
    t_peer, peer = timed(skm.silhouette_score, X, labels, sample_size=2000, random_state=0)
    row("silhouette euclidean sampled m=2,000", t_ours, t_peer,
        f"ours {res.score:.4f} [{res.ci[0]:.4f}, {res.ci[1]:.4f}] vs exact {ours:.4f}; "
        f"sklearn's subsample {peer:.4f}")
    del X

    if not args.quick:
        X, labels = blobs(1_000_000, 768, 10)
        t_ours, _ = timed(cm.silhouette_score, X, labels, metric="cosine")
        row("silhouette cosine n=1,000,000 d=768 (exact)", t_ours, note="target < 15 s")
        del X

        n_mem = 50_000
        out = subprocess.run([sys.executable, __file__, "--peak-memory", str(n_mem)],
                             capture_output=True, text=True, check=True).stdout.split()
        base, peak, data = map(int, out)
        print(f"peak memory, euclidean n={n_mem:,} d=768: {(peak - base) / 2**20:.0f} MiB "
              f"allocated beside the data ({data / 2**20:.0f} MiB); budget: working memory "
              f"{cm.metrics.silhouettes.WORKING_MEMORY_MB} MiB + 100 MiB", flush=True)



def label_benchmarks(args) -> None:
    n_lab = 1_000_000 if args.quick else 10_000_000
    rng = np.random.default_rng(0)
    classes = np.array([f"class_{i}" for i in range(60)], dtype=object)
    truth = classes[rng.integers(0, 60, n_lab)]
    pred = rng.integers(0, 50, n_lab)
    for name in ("adjusted_rand_score", "normalized_mutual_info_score",
                 "adjusted_mutual_info_score"):
        t_ours, ours = timed(getattr(cm, name), truth, pred, repeat=2)  # best of 2 (warm)
        t_peer, peer = timed(getattr(skm, name), truth, pred)
        row(f"{name} n={n_lab:,} (60 string classes, 50)", t_ours, t_peer,
            f"|diff| {abs(ours - peer):.1e}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--peak-memory":
        peak_memory_child(int(sys.argv[2]), 768)
    else:
        os.environ.setdefault("PYTHONHASHSEED", "0")
        main()
