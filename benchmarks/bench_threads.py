"""The thread budget: a k-means sweep and a metrics call on a stored dataset, without the budget
(every pool at every core, as before), with it, and with one thread everywhere; on the machine as
it is ("quiet") and beside a competing process that keeps every core busy with GEMMs. Prints the
times and their ratios to the budget's, side by side.

    python benchmarks/bench_threads.py [--n 50000] [--d 128] [--k 5 10] [--repeat 2]

Each measurement runs in a fresh process with its environment:

- ``default``: ``CLUSTERMETRICS_THREADS=off`` (OpenMP, BLAS and the kernel threads at their
  defaults: every core each);
- ``budget``: the budget (``CLUSTERMETRICS_THREADS`` unset);
- ``one``: ``CLUSTERMETRICS_THREADS=1`` with ``OMP_NUM_THREADS=1`` and
  ``OPENBLAS_NUM_THREADS=1``.

The competing process is started by this script and stopped by its pid at the end. The best of
``--repeat`` runs of each is printed (the machine is shared: ratios, not absolutes).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

MODES = {
    "default": {"CLUSTERMETRICS_THREADS": "off"},
    "budget": {},
    "one": {"CLUSTERMETRICS_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"},
}
VF = "emb_vector_"
BUSY = """
import numpy as np
a = np.random.default_rng(0).standard_normal((1024, 1024))
while True:
    a @ a
"""


def child(path: str, ks: list[int]) -> None:
    """One measurement: the sweep, then the metrics call, in this process; prints JSON."""
    import sklearn.cluster  # noqa: F401 (imported before the clock starts: seconds on a busy machine)

    import clustermetrics as cm
    with cm.Client(path=path) as client:
        tools = client.vector_tools.cluster
        len(client.Dataset("bench"))  # the store opened before the clock starts
        t0 = time.perf_counter()
        tools.sweep("bench", VF, ks, overwrite=True)
        t_sweep = time.perf_counter() - t0
        t0 = time.perf_counter()
        tools.metrics("bench", VF, f"kmeans_{ks[len(ks) // 2]}", "category", metric="cosine")
        t_metrics = time.perf_counter() - t0
    print(json.dumps({"sweep": t_sweep, "metrics": t_metrics}))


def measure(path: str, ks: list[int], mode: str) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("CLUSTERMETRICS_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    env.update(MODES[mode])
    out = subprocess.run([sys.executable, __file__, "--child", path, "--k", *map(str, ks)],
                         env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--k", type=int, nargs="+", default=[5, 10])
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.k)
        return

    import pyarrow as pa

    import clustermetrics as cm
    from clustermetrics import threads
    from clustermetrics.documents import vectors_to_arrow
    n, d = args.n, args.d
    rng = np.random.default_rng(0)
    classes = rng.integers(0, 12, n)
    X = (rng.normal(scale=2, size=(12, d))[classes] + rng.standard_normal((n, d))).astype(
        np.float32)
    print(f"{n:,} x {d} float32, sweep k={args.k} + a cosine metrics call; "
          f"{threads.cores()} cores, load {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.duckdb")
        with cm.Client(path=path) as client:
            client.Dataset("bench").insert_documents(pa.table({
                "_id": [f"d{i}" for i in range(n)], VF: vectors_to_arrow(X),
                "category": [f"c{c}" for c in classes]}))
        results: dict[tuple[str, str], dict[str, float]] = {}
        for condition in ("quiet", "busy"):
            busy = None
            if condition == "busy":
                busy = subprocess.Popen([sys.executable, "-c", BUSY])
                time.sleep(1.0)  # its threads running before the first measurement
            try:
                for _ in range(args.repeat):
                    for mode in MODES:
                        t = measure(path, args.k, mode)
                        best = results.setdefault((condition, mode), t)
                        for key in t:
                            best[key] = min(best[key], t[key])
            finally:
                if busy is not None:
                    busy.terminate()  # by its pid
                    busy.wait(10)
    print(f"\n{'':8}{'':9}{'default':>10}{'budget':>10}{'one':>10}"
          f"{'default/budget':>16}{'one/budget':>12}")
    for condition in ("quiet", "busy"):
        for what in ("sweep", "metrics"):
            t = {mode: results[(condition, mode)][what] for mode in MODES}
            print(f"{condition:8}{what:9}" + "".join(f"{t[m]:>9.2f}s" for m in MODES)
                  + f"{t['default'] / t['budget']:>15.2f}x{t['one'] / t['budget']:>11.2f}x")


if __name__ == "__main__":
    main()
