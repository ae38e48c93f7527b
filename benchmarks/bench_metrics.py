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


def gemm_rate(repeat: int = 3) -> float:
    """float32 GEMM FLOP/s (4096^3, all cores), the best of ``repeat``."""
    a = np.random.default_rng(0).standard_normal((4096, 4096), dtype=np.float32)
    t, _ = timed(lambda: a @ a, repeat=repeat)
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


def precomputed_child(n: int, folder: str) -> None:
    """Silhouette of a memory-mapped n x n float32 distance matrix: time and numpy's peak."""
    k = 10
    labels = np.random.default_rng(0).integers(0, k, n)
    D = np.memmap(os.path.join(folder, "distances.f32"), dtype=np.float32, mode="w+",
                  shape=(n, n))
    t0 = time.perf_counter()
    for i in range(0, n, 2048):  # |i - j| / n, plus 1 between clusters: a valid distance
        r = np.arange(i, min(i + 2048, n))
        D[r] = np.abs(r[:, None] - np.arange(n, dtype=np.float32)) / n + (
            labels[r, None] != labels)
    D.flush()
    t_write = time.perf_counter() - t0
    del D
    D = np.memmap(os.path.join(folder, "distances.f32"), dtype=np.float32, mode="r",
                  shape=(n, n))
    tracemalloc.start()
    t0 = time.perf_counter()
    cm.silhouette_score(D, labels, metric="precomputed")
    t = time.perf_counter() - t0
    print(t_write, t, tracemalloc.get_traced_memory()[1], D.nbytes)


def stored_benchmark(n: int, k: int = 16) -> None:
    """The metrics call on a stored dataset (cosine, no ground truth) against one X @ W pass,
    evaluate() on the array, and one read of the vectors from the store: what the call costs
    beyond the in-memory computation, in reads of the vectors."""
    import tempfile
    X, labels = blobs(n, 768, k)
    W = np.random.default_rng(1).standard_normal((768, k), dtype=np.float32)
    ids = np.array([f"d{i}" for i in range(n)], dtype=object)
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as folder, \
            cm.Client(path=os.path.join(folder, "bench.duckdb")) as client:
        client.Dataset("bench").insert_documents(X, ids=ids, vector_field="emb_vector_")
        client.vector_tools.cluster.set_cluster_labels("bench", "emb_vector_", "k16",
                                                       dict(zip(ids, labels, strict=True)))
        call = (client.vector_tools.cluster.metrics, "bench", "emb_vector_", "k16")
        t_first, stored = timed(*call, metric="cosine")
        t_stored, _ = timed(*call, metric="cosine", repeat=2)
        with client.api.store.session():  # the file held open while this read runs
            source = client.api._source("bench", "emb_vector_", "k16", None)
            t_read, _ = timed(lambda: sum(len(b.X) for b in source.batches()))
            source.close()
    t_memory, memory = timed(cm.evaluate, X, labels, metric="cosine", repeat=2)
    t_sil, _ = timed(cm.silhouette_score, X, labels, metric="cosine")
    t_gemm, _ = timed(lambda: X @ W, repeat=3)
    row(f"metrics call, stored, cosine n={n:,} k={k}", t_stored,
        note=f"first call {t_first:.2f} s; evaluate() in memory {t_memory:.2f} s (all "
             f"metrics; silhouette alone {t_sil:.2f} s = {t_sil / t_gemm:.2f}x one X @ W pass "
             f"of {t_gemm:.2f} s); one read of the vectors {t_read:.2f} s; the call beyond "
             f"evaluate(): {(t_stored - t_memory) / t_read:.2f} reads; |diff| "
             f"{abs(stored.silhouette - memory.silhouette):.1e}")


def float64_cosine_check(X, labels, k, rows) -> np.ndarray:
    """The float64 computation of the cosine silhouette of ``rows``: float64 unit-vector sums
    over X in blocks (no float64 copy of X), then each chosen row against them."""
    sums = np.zeros((k, X.shape[1]))
    for i in range(0, len(X), 8192):
        x = X[i:i + 8192].astype(np.float64)
        x /= np.linalg.norm(x, axis=1)[:, None]
        np.add.at(sums, labels[i:i + 8192], x)
    counts = np.bincount(labels, minlength=k)
    x = X[rows].astype(np.float64)
    x /= np.linalg.norm(x, axis=1)[:, None]
    S = counts - x @ sums.T  # summed cosine distances to each cluster
    own = labels[rows]
    a = S[np.arange(len(rows)), own] / (counts[own] - 1)
    S = S / counts
    S[np.arange(len(rows)), own] = np.inf
    b = S.min(axis=1)
    return (b - a) / np.maximum(a, b)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller sizes, no 1M / 10M runs")
    ap.add_argument("--only", choices=["silhouette", "labels"], default=None,
                    help="run one family of benchmarks")
    ap.add_argument("--store", type=int, default=0, metavar="N",
                    help="also the metrics call on N x 768 vectors in a store (cosine, k=16)")
    ap.add_argument("--precomputed", type=int, default=0, metavar="N",
                    help="also score a memory-mapped N x N float32 matrix (4 N^2 bytes on disk)")
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

    t_ours, ours = timed(cm.silhouette_score, X, labels, repeat=3)
    rate = max(rate, gemm_rate())  # the rate measured around it, at its best
    t_peer, peer = timed(skm.silhouette_score, X, labels)
    limit = n_small**2 * 768 / rate
    row(f"silhouette euclidean n={n_small:,} d=768 k=10", t_ours, t_peer,
        f"|diff| {abs(ours - peer):.1e}; {t_ours / limit:.2f}x the symmetric limit "
        f"n²d/GEMM ({limit:.2f} s)")

    t_ours, res = timed(cm.silhouette, X, labels, sample_size=2000, random_state=0)
    t_peer, peer = timed(skm.silhouette_score, X, labels, sample_size=2000, random_state=0)
    row("silhouette euclidean sampled m=2,000", t_ours, t_peer,
        f"ours {res.score:.4f} [{res.ci[0]:.4f}, {res.ci[1]:.4f}] vs exact {ours:.4f}; "
        f"sklearn's subsample {peer:.4f}")
    del X

    if not args.quick:
        n, k = 1_000_000, 16
        X, labels = blobs(n, 768, k)
        W = np.random.default_rng(1).standard_normal((768, k), dtype=np.float32)
        t_gemm, _ = timed(lambda: X @ W, repeat=3)
        t_ours, res = timed(cm.silhouette, X, labels, metric="cosine", repeat=2)
        t_gemm = min(t_gemm, timed(lambda: X @ W, repeat=2)[0])
        rows = np.random.default_rng(2).choice(n, 20_000, replace=False)
        diff = np.abs(res.values[rows] - float64_cosine_check(X, labels, k, rows)).max()
        row(f"silhouette cosine n={n:,} d=768 k={k} (exact)", t_ours,
            note=f"{t_ours / t_gemm:.2f}x one X @ W pass ({t_gemm:.2f} s; target <= 2.5x); "
                 f"|diff| to float64 {diff:.1e} (20,000 rows)")
        del X, res

        n_mem = 50_000
        out = subprocess.run([sys.executable, __file__, "--peak-memory", str(n_mem)],
                             capture_output=True, text=True, check=True).stdout.split()
        base, peak, data = map(int, out)
        print(f"peak memory, euclidean n={n_mem:,} d=768: {(peak - base) / 2**20:.0f} MiB "
              f"allocated beside the data ({data / 2**20:.0f} MiB); budget: working memory "
              f"{cm.metrics.silhouettes.WORKING_MEMORY_MB} MiB + 100 MiB", flush=True)

    if args.store:
        stored_benchmark(args.store)

    if args.precomputed:
        import tempfile
        with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as folder:
            out = subprocess.run([sys.executable, __file__, "--precomputed-child",
                                  str(args.precomputed), folder],
                                 capture_output=True, text=True, check=True).stdout.split()
        t_write, t, peak, size = float(out[0]), float(out[1]), int(out[2]), int(out[3])
        row(f"silhouette precomputed memmap {args.precomputed:,}² float32", t,
            note=f"{size / 2**30:.1f} GiB on disk (written in {t_write:.0f} s); numpy's peak "
                 f"{peak / 2**20:.0f} MiB (working memory "
                 f"{cm.metrics.silhouettes.WORKING_MEMORY_MB} MiB)")


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
    elif len(sys.argv) == 4 and sys.argv[1] == "--precomputed-child":
        precomputed_child(int(sys.argv[2]), sys.argv[3])
    else:
        os.environ.setdefault("PYTHONHASHSEED", "0")
        main()
