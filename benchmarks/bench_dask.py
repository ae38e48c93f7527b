"""The Dask engine against the local engine on the same Parquet files, in one run.

    python benchmarks/bench_dask.py [--rows 5000000] [--dim 128] [--files 40] [--repeat 1]
                                    [--folder /tmp/clustermetrics-bench-dask]

Writes ``--files`` Parquet files of float32 vectors (``k`` = 50 clusters, a string ground truth
of 60 classes) once under ``--folder`` (about 2.6 GB at the defaults; kept for the next run),
then measures the cosine silhouette + ARI (every metric of ``evaluate_parquet``) three ways,
each in a fresh process:

- ``local``: the local driver folding the passes over the same row groups on one process
  (``engine.parquet.evaluate_local``, no per-sample detail, like the Dask engine);
- ``dask-1`` and ``dask-2``: ``evaluate_parquet`` on a LocalCluster of 1 and 2 worker
  processes of one thread each, started as ``evaluate_parquet`` starts its own (before the
  clock starts; its start time is printed).

It prints the times, the 2-worker / 1-worker ratio (aim: at most 0.6 on 2 cores) beside a
control measured in the same round (the same ratio for plain single-threaded GEMMs, and for
sums streaming through memory, in 1 and 2 processes: how much of the second core, and of the
memory bandwidth, the machine's other load leaves), the CPU seconds used
(which that load changes less than the wall time), each process's peak resident memory
(aim: under 2 GB per worker), that the three results agree, and the sizes of what the Dask
engine broadcasts and merges, for the estimate of a larger cluster in the README. Workers
re-import this module: nothing runs at import time.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pickle
import resource
import subprocess
import sys
import time

import numpy as np

K, CLASSES = 50, 60


def generate(folder: str, rows: int, dim: int, files: int) -> None:
    """The files, written one at a time (memory: one file), unless already there."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    stamp = os.path.join(folder, "_params.json")
    params = {"rows": rows, "dim": dim, "files": files, "k": K, "classes": CLASSES}
    if os.path.exists(stamp):
        with open(stamp) as f:
            if json.load(f) == params:
                return
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=0.6, size=(K, dim)).astype(np.float32)
    names = np.array([f"class-{c:02d}" for c in range(CLASSES)], dtype=object)
    per_file = -(-rows // files)
    t0 = time.perf_counter()
    for i in range(files):
        n = min(per_file, rows - i * per_file)
        labels = rng.integers(0, K, n)
        X = rng.standard_normal((n, dim), dtype=np.float32)
        X += centers[labels]
        noisy = rng.random(n) < 0.2
        truth = np.where(noisy, rng.integers(0, CLASSES, n), labels % CLASSES)
        table = pa.table({
            "emb": pa.FixedSizeListArray.from_arrays(pa.array(X.ravel()), dim),
            "cluster": pa.array(labels),
            "truth": pa.array(names[truth], type=pa.string()),
        })
        pq.write_table(table, os.path.join(folder, f"part-{i:03d}.parquet"),
                       row_group_size=max(1, -(-n // 2)))
    with open(stamp, "w") as f:
        json.dump(params, f)
    print(f"wrote {files} files of {rows:,} x {dim} float32 in "
          f"{time.perf_counter() - t0:.1f} s", flush=True)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def cpu_seconds() -> float:
    """CPU time of this process (user + system), threads included."""
    return time.process_time()


def run_one(kind: str, folder: str) -> dict:
    """One measurement in this (fresh) process."""
    from clustermetrics.engine.parquet import evaluate_local

    args = (folder, "emb", "cluster", "truth")
    if kind == "local":
        t0, c0 = time.perf_counter(), cpu_seconds()
        res = evaluate_local(*args, metric="cosine")
        seconds, cpu = time.perf_counter() - t0, cpu_seconds() - c0
        peaks = [peak_mb()]
        start = 0.0
    else:
        import dask
        import distributed

        import clustermetrics as cm
        from clustermetrics.engine.dask import QUIET_HTTP, worker_environ
        workers = int(kind.split("-")[1])
        t0 = time.perf_counter()
        with dask.config.set({"distributed.nanny.pre-spawn-environ": worker_environ()}):
            cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1,
                                               processes=True, dashboard_address=None,
                                               scheduler_kwargs=QUIET_HTTP)
        with cluster, distributed.Client(cluster) as client:
            start = time.perf_counter() - t0
            before = client.run(cpu_seconds)
            t0, c0 = time.perf_counter(), cpu_seconds()
            res = cm.evaluate_parquet(*args, metric="cosine", client=client)
            seconds = time.perf_counter() - t0
            after = client.run(cpu_seconds)
            cpu = cpu_seconds() - c0 + sum(after[w] - before[w] for w in before if w in after)
            peaks = sorted(client.run(peak_mb).values())
    return {"kind": kind, "seconds": seconds, "cpu": cpu, "start": start, "peaks_mb": peaks,
            "driver_mb": peak_mb(), "silhouette": res.scores["silhouette"],
            "adjusted_rand": res.scores["adjusted_rand"], "scores": res.scores,
            "n": res.counts["n_documents"]}


def work_seconds(kind: str, count: int) -> float:
    """Wall time of ``count`` units of plain work in this process: single-threaded float32
    GEMMs of 2048^3 (``gemm``: the cores) or sums of a 160 MB array (``sum``: memory)."""
    rng = np.random.default_rng(0)
    if kind == "gemm":
        a = rng.random((2048, 2048), dtype=np.float32)
        step = lambda: a @ a  # noqa: E731
    else:
        x = rng.random(20_000_000)
        step = x.sum
    step()
    t0 = time.perf_counter()
    for _ in range(count):
        step()
    return time.perf_counter() - t0


def control(kind: str, count: int) -> float:
    """The 2-way split this machine allows right now: two processes doing ``count / 2`` units
    each at once, over one process doing ``count`` (0.5 when two cores, or twice the memory
    bandwidth, are free)."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}

    def start(n):
        return subprocess.Popen([sys.executable, __file__, "--run", f"{kind}:{n}"], env=env,
                                stdout=subprocess.PIPE, text=True)

    def seconds(proc):
        out, _ = proc.communicate()
        return float(out.strip().splitlines()[-1])

    one = seconds(start(count))
    pair = [start(count // 2), start(count // 2)]
    return max(seconds(p) for p in pair) / one


def sizes(folder: str) -> dict:
    """Pickled sizes of what the engine ships: one pass-1 partial, the merged summary, one
    pass-2 partial."""
    from clustermetrics.engine.parquet import Columns, fold_cluster, fold_score, make_plan
    from clustermetrics.metrics.passes import PassOptions

    plan = make_plan(folder, Columns("emb", "cluster", "truth"))
    options = PassOptions.make(metric="cosine", detail=False)
    first = fold_cluster(plan.pieces[0], plan, options)
    merged = first
    for piece in plan.pieces[1:4]:
        merged = merged.merge(fold_cluster(piece, plan, options))
    summary = merged.finish()
    score = fold_score(plan.pieces[0], plan, summary)
    shipped = dataclasses.replace(summary, partitions={})  # as the engine broadcasts it
    return {"pieces": len(plan.pieces), "rows_per_piece": plan.pieces[0].rows,
            "pass1_partial": len(pickle.dumps(first)), "summary": len(pickle.dumps(shipped)),
            "pass2_partial": len(pickle.dumps(score)), "plan": len(pickle.dumps(plan))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--files", type=int, default=40)
    ap.add_argument("--folder", default="/tmp/clustermetrics-bench-dask")
    ap.add_argument("--repeat", type=int, default=1, help="rounds of the three runs")
    ap.add_argument("--run", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.run and args.run.split(":")[0] in ("gemm", "sum"):
        kind, count = args.run.split(":")
        print(work_seconds(kind, int(count)))
        return
    if args.run:
        print(json.dumps(run_one(args.run, args.folder)))
        return

    generate(args.folder, args.rows, args.dim, args.files)
    print(f"{os.cpu_count()} cores; {args.repeat} round(s) of local, dask-1, dask-2",
          flush=True)
    runs: dict[str, list[dict]] = {"local": [], "dask-1": [], "dask-2": []}
    controls: list[float] = []
    memory: list[float] = []
    for round_ in range(args.repeat):
        load = os.getloadavg()[0]
        controls.append(control("gemm", 12))
        memory.append(control("sum", 60))
        for kind in runs:
            proc = subprocess.run([sys.executable, __file__, "--folder", args.folder, "--run",
                                   kind], capture_output=True, text=True, check=False)
            if proc.returncode:
                sys.exit(f"{kind} failed:\n{proc.stderr[-3000:]}")
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            runs[kind].append(r)
            extra = f", cluster start {r['start']:.1f} s" if r["start"] else ""
            print(f"[{round_ + 1}] {kind:>6}: {r['seconds']:6.1f} s = "
                  f"{r['n'] / r['seconds']:,.0f} rows/s ({r['cpu']:.1f} CPU-s, driver and "
                  f"workers), peak memory {', '.join(f'{m:,.0f}' for m in r['peaks_mb'])} MB "
                  f"per {'process' if kind == 'local' else 'worker'}{extra}; silhouette "
                  f"{r['silhouette']:.6f}, ARI {r['adjusted_rand']:.6f}", flush=True)
        print(f"[{round_ + 1}] load average (1 min) {load:.2f} before, "
              f"{os.getloadavg()[0]:.2f} after; 2 workers / 1 worker "
              f"{runs['dask-2'][-1]['seconds'] / runs['dask-1'][-1]['seconds']:.2f}; controls "
              f"(2 processes / 1): GEMMs {controls[-1]:.2f}, memory sums {memory[-1]:.2f}",
              flush=True)

    def median(kind, key="seconds"):
        return float(np.median([r[key] for r in runs[kind]]))

    out = {kind: rs[-1] for kind, rs in runs.items()}
    ratios = [b["seconds"] / a["seconds"] for a, b in zip(runs["dask-1"], runs["dask-2"],
                                                          strict=True)]
    print(f"median times: local {median('local'):.1f} s, dask-1 {median('dask-1'):.1f} s, "
          f"dask-2 {median('dask-2'):.1f} s; CPU-s: {median('local', 'cpu'):.1f}, "
          f"{median('dask-1', 'cpu'):.1f}, {median('dask-2', 'cpu'):.1f}")
    print(f"2 workers / 1 worker: median {np.median(ratios):.2f}, best {min(ratios):.2f} (aim "
          f"<= 0.6 on 2 cores); 1 worker / local: {median('dask-1') / median('local'):.2f}")
    print(f"controls, the best split the machine allowed (2 processes / 1; 0.5 when both "
          f"cores are free): GEMMs median {np.median(controls):.2f}, range "
          f"{min(controls):.2f}-{max(controls):.2f}; memory sums median "
          f"{np.median(memory):.2f}, range {min(memory):.2f}-{max(memory):.2f}")
    worst = max(max(r["peaks_mb"]) for k, rs in runs.items() if k != "local" for r in rs)
    print(f"peak memory per worker: {worst:,.0f} MB (aim < 2,048 MB)")
    base = out["local"]["scores"]
    for kind in ("dask-1", "dask-2"):
        diff = max(abs(r["scores"][m] - base[m]) / max(1.0, abs(base[m]))
                   for r in runs[kind] for m in base)
        print(f"{kind} vs local: largest relative difference of any metric {diff:.1e}")
    s = sizes(args.folder)
    per_row = median("dask-1") / out["dask-1"]["n"]
    cpu_row = median("dask-1", "cpu") / out["dask-1"]["n"]
    print(f"per-row cost on one worker: {per_row * 1e6:.2f} us ({cpu_row * 1e6:.2f} CPU-us); "
          f"{s['pieces']} row groups of {s['rows_per_piece']:,} rows; pickled: pass-1 partial "
          f"{s['pass1_partial']:,} B, "
          f"summary (broadcast) {s['summary']:,} B, pass-2 partial {s['pass2_partial']:,} B, "
          f"plan (broadcast) {s['plan']:,} B")


if __name__ == "__main__":
    main()
