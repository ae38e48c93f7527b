"""The store end to end: insert from Parquet and from a NumPy array (each against ``np.save``
of the same bytes, timed in the same run), then the metrics call on the stored dataset against
evaluate() on the same in-memory array, in one run.

    python benchmarks/bench_store.py [--n 200000] [--d 768] [--big 1000000] [--skip-insert]
                                     [--keep DIR]

The stored call's part (:func:`stored_call`) prints, side by side: the call / ``evaluate()``
on the same arrays at ``--n`` (cosine, and euclidean with the sample the call draws), the
call at ``--big`` (cosine) / one read of what it reads, each on a store opened afresh and on
one held open, and each step's time (read, pass 1, pass 2, a Davies-Bouldin sweep), in wall
and CPU seconds (the CPU seconds say more on a busy machine). ``--keep DIR`` keeps the stores
it builds there for the next run; ``--big 0`` skips the large run.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import clustermetrics as cm
from clustermetrics.documents import vectors_to_arrow
from clustermetrics.engine.local import CACHE_CAP, SHARED_CACHE


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--d", type=int, default=768)
    stored_call_options(ap)
    args = ap.parse_args()
    if args.skip_insert:
        stored_call(args)
        return
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
    stored_call(args)


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



# -- the stored call: its ratios and its steps ----------------------------------------------

K = 10
CHUNK = 100_000  # rows generated and inserted at a time: the 1M store never lives in memory


def stored_call_options(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--big", type=int, default=1_000_000,
                    help="rows of the large cosine run against one read (0: none)")
    ap.add_argument("--skip-insert", action="store_true",
                    help="only the stored call's part (no Parquet or NumPy insert timings)")
    ap.add_argument("--metric", action="append", choices=["cosine", "euclidean"],
                    help="the metrics to run at --n (default: both; may repeat)")
    ap.add_argument("--keep", metavar="DIR",
                    help="keep the stores built for the stored call in DIR and reuse them")


def _chunk(i: int, rows: int, d: int):
    """Rows ``i * CHUNK ...`` of the synthetic dataset: the same on every run."""
    rng = np.random.default_rng([7, i])
    centers = np.random.default_rng(7).normal(size=(K, d)).astype(np.float32)
    labels = rng.integers(0, K, rows)
    X = rng.standard_normal((rows, d), dtype=np.float32) + centers[labels]
    truth = np.array([f"class_{v}" for v in (labels + (rng.random(rows) < 0.2)) % K],
                     dtype=object)
    ids = np.array([f"doc-{i * CHUNK + j}" for j in range(rows)], dtype=object)
    return X, labels, truth, ids


def _parts(n: int, d: int):
    for i, start in enumerate(range(0, n, CHUNK)):
        yield _chunk(i, min(CHUNK, n - start), d)


def _store(folder: str, n: int, d: int) -> str:
    """A store of ``n`` documents (vector, ground truth "category", alias "truth_k10"), built
    in pieces of ``CHUNK`` rows unless ``folder`` has it from an earlier run."""
    path = os.path.join(folder, f"stored_{n}x{d}.duckdb")
    if os.path.exists(path):
        return path
    t0 = time.perf_counter()
    with cm.Client(path=path + ".part") as client:
        ds = client.Dataset("bench")
        labels_by_id: dict[str, int] = {}
        for X, labels, truth, ids in _parts(n, d):
            ds.insert_documents(pa.table({"_id": ids, "emb_vector_": vectors_to_arrow(X),
                                          "category": truth}))
            labels_by_id.update(zip(ids, labels.tolist(), strict=True))
        ds.set_cluster_labels("emb_vector_", "truth_k10", labels_by_id)
    os.replace(path + ".part", path)
    print(f"(built the {n:,} x {d} store in {time.perf_counter() - t0:.0f} s)", flush=True)
    return path


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class _Clock:
    """Wall and CPU seconds of a block, and of each progress stage inside it."""

    def __init__(self):
        self.stages: dict[str, list[float]] = {}
        self.wall = self.cpu = 0.0

    def __enter__(self):
        self._t, self._c = time.perf_counter(), _cpu()
        self._last = (self._t, self._c)
        return self

    def progress(self, stage, done, total):
        now = (time.perf_counter(), _cpu())
        spent = self.stages.setdefault(stage, [0.0, 0.0])
        spent[0] += now[0] - self._last[0]
        spent[1] += now[1] - self._last[1]
        self._last = now

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self._t, _cpu() - self._c

    kept: bool | None = None  # a call's: whether its first pass fit the pass cache

    def __str__(self):
        read = {None: "", True: ", read once", False: ", read again (over the cache budget)"}
        return f"{self.wall:6.2f} s ({self.cpu:5.2f} CPU-s{read[self.kept]})"

    def stage(self, name: str) -> str:
        wall, cpu = self.stages.get(name, (0.0, 0.0))
        return f"{wall:.2f} s ({cpu:.2f} CPU-s)"


def _call(client, metric: str) -> tuple[_Clock, cm.ClusterMetrics]:
    budget = SHARED_CACHE.limit  # what the pass may keep: below the pass, it is read again
    with _Clock() as clock:
        result = client.vector_tools.cluster.metrics(
            "bench", "emb_vector_", "truth_k10", "category", metric=metric,
            progress=clock.progress)
    need = result.counts["n_documents"] * client.api.store.vector_fields("bench")[
        "emb_vector_"] * 4
    clock.kept = need <= budget
    return clock, result


def _read(client) -> _Clock:
    """One read of what the call reads (vectors, labels, ground truth, ids), nothing kept."""
    api = client.api
    with api.store.session(), api.store.snapshot(), _Clock() as clock:
        source = api._source("bench", "emb_vector_", "truth_k10", "category")
        rows = 0
        for batch in source._read(keep=False):
            rows += len(batch.X)
    assert rows == source.n_rows
    return clock


def _afresh_and_open(path: str, metric: str):
    """The call on a store opened afresh (the usual case: the file is let go between
    calls), then a read and the call on the store held open (DuckDB has its blocks)."""
    time.sleep(0.6)  # past the store's linger: the next call opens the file again
    with cm.Client(path=path) as client:
        afresh, result = _call(client, metric)
    with cm.Client(path=path) as client, client.api.store.session():
        read = _read(client)
        held, _ = _call(client, metric)
    return afresh, held, read, result


def _db_sweep(X, labels, metric: str) -> _Clock:
    """What a Davies-Bouldin pass of its own costs (euclidean's pass 2 makes it beside the
    sample's distances; cosine's comes from the silhouette's GEMM, with no sweep)."""
    from clustermetrics.metrics.labels import Labels
    from clustermetrics.metrics.passes import Batch, ClusterPass, PassOptions

    summary = ClusterPass.from_batch(Batch(X, labels), PassOptions.make(metric=metric)).finish()
    codes = summary.encode(Batch(X, labels))
    with _Clock() as clock:
        summary.davies_bouldin().update(X, Labels(codes, summary.categories))
    return clock


def stored_call(args) -> None:
    """The stored call against evaluate() at ``--n`` and against one read at ``--big``."""
    n, d = args.n, args.d
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or tmp
        os.makedirs(folder, exist_ok=True)
        path = _store(folder, n, d)
        parts = list(_parts(n, d))
        X = np.concatenate([p[0] for p in parts])
        labels = np.concatenate([p[1] for p in parts])
        truth = np.concatenate([p[2] for p in parts])
        del parts
        print(f"\nthe stored call at {n:,} x {d} (k={K}, with ground truth) against evaluate() "
              "on the same arrays; target <= 1.3x")
        for metric in args.metric or ("cosine", "euclidean"):
            afresh, held, read, stored = _afresh_and_open(path, metric)
            options = {} if metric == "cosine" else {
                "sample_size": stored.counts["n_scored"], "random_state": 0}  # the call's
            with _Clock() as memory:
                result = cm.evaluate(X, labels, truth, metric=metric, **options)
            assert all(abs(stored.scores[m] - result.scores[m])
                       <= 1e-6 * max(1, abs(result.scores[m])) for m in result.scores), metric
            db = _db_sweep(X, labels, metric)
            print(f"  {metric:9}  evaluate() {memory}\n"
                  f"             stored, afresh {afresh}  {afresh.wall / memory.wall:.2f}x "
                  f"({afresh.cpu / memory.cpu:.2f}x in CPU-s)\n"
                  f"             stored, open   {held}  {held.wall / memory.wall:.2f}x "
                  f"({held.cpu / memory.cpu:.2f}x in CPU-s)\n"
                  f"             steps (open): read {read}; pass 1 "
                  f"{held.stage('statistics')}; pass 2 {held.stage('silhouette')}"
                  + ("" if metric == "cosine" else " (with the sample's pass)")
                  + f"; a Davies-Bouldin sweep {db}"
                  + (" (folded into pass 2's GEMM)" if metric == "cosine" else
                     " (pass 2 makes it beside the sample's distances)"), flush=True)
        del X, labels, truth
        if args.big:
            big = _store(folder, args.big, d)
            afresh, held, read, _ = _afresh_and_open(big, "cosine")
            time.sleep(0.6)
            with cm.Client(path=big) as client:
                read_afresh = _read(client)
            print(f"\nthe stored call at {args.big:,} x {d}, cosine, against one read of what "
                  "it reads (vectors, labels, ground truth, ids); target <= 1.5x\n"
                  f"  afresh: call {afresh}, read {read_afresh}: "
                  f"{afresh.wall / read_afresh.wall:.2f}x ({afresh.cpu / read_afresh.cpu:.2f}x "
                  "in CPU-s)\n"
                  f"  open:   call {held}, read {read}: {held.wall / read.wall:.2f}x "
                  f"({held.cpu / read.cpu:.2f}x in CPU-s)\n"
                  f"  steps (open): pass 1 with its read {held.stage('statistics')}; pass 2 "
                  f"from the kept batches {held.stage('silhouette')}", flush=True)
        print(f"\npass cache budget now: {SHARED_CACHE.limit / 2**30:.1f} GiB (half of the "
              "memory available, a quarter of any RLIMIT_AS room, at most "
              f"{CACHE_CAP / 2**30:.0f} GiB)")



if __name__ == "__main__":
    main()
