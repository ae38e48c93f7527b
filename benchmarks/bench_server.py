"""The server on loopback: the remote insert against the embedded one, then a load test.

1. Insert n x d float32 vectors (a NumPy array with ids) into an embedded store, and the same
   through a remote Client into a `clustermetrics serve` process on 127.0.0.1 (documents travel
   as one Arrow IPC stream). Target: the remote rate at least half the embedded one.
2. `--clients` concurrent remote Clients for `--seconds`, each inserting batches of documents
   (with their own cluster labels) into its dataset and calling the metrics on it: errors (must
   be 0), documents sent vs stored (must be equal), p50/p99 latency of each call.

3. Fairness: one project keeps its queue full of ~1-second jobs while another runs the same
   1-second jobs one after another: the second project's p50/p95 latency alone and under the
   flood (round robin promises at most one job's length of waiting, so p95 <= about 2 s with
   2 workers).
4. The cost of containment: the same fit in a worker process (as the server runs it: fork
   from the forkserver, input as a memory-mapped .npy file, result through a pipe) against in
   this process, both with one BLAS/OpenMP thread, as a ratio, for a small and a larger fit.

Traffic goes only to the server this script starts on 127.0.0.1, bounded in time and count.

    python benchmarks/bench_server.py [--n 100000] [--d 768] [--clients 30] [--seconds 30]
                                      [--only insert,load,fairness,containment]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

import httpx
import numpy as np

import clustermetrics as cm

HOST = "127.0.0.1"  # the only address this benchmark talks to


def start_server(data: str, workers: int) -> tuple[subprocess.Popen, str, str]:
    key = json.loads(subprocess.check_output(
        [sys.executable, "-m", "clustermetrics.cli", "keys", "create", "--project", "bench",
         "--data", data, "--json"]))["key"]
    with socket.socket() as s:
        s.bind((HOST, 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "clustermetrics.cli", "serve", "--host", HOST,
                             "--port", str(port), "--data", data, "--workers", str(workers)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://{HOST}:{port}"
    deadline = time.time() + 60
    while True:
        try:
            if httpx.get(f"{url}/health").status_code == 200:
                return proc, url, key
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            raise SystemExit("the server did not start")
        time.sleep(0.1)


def bench_insert(n: int, d: int, tmp: str, url: str, key: str) -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d), dtype=np.float32)
    ids = np.array([f"doc-{i}" for i in range(n)], dtype=object)
    runs = {"embedded": [], "remote": []}
    for i in range(3):
        with cm.Client(path=os.path.join(tmp, f"embedded{i}.duckdb")) as client:
            t0 = time.perf_counter()
            client.Dataset("bench").insert_documents(X, ids=ids, vector_field="emb_vector_")
            runs["embedded"].append(n / (time.perf_counter() - t0))
        with cm.Client(url=url, api_key=key) as client:
            t0 = time.perf_counter()
            client.Dataset(f"insert{i}").insert_documents(X, ids=ids, vector_field="emb_vector_")
            runs["remote"].append(n / (time.perf_counter() - t0))
            client.Dataset(f"insert{i}").delete()
    emb, rem = (float(np.median(runs[k])) for k in ("embedded", "remote"))
    for name in ("embedded", "remote"):
        rates = ", ".join(f"{r:,.0f}" for r in runs[name])
        print(f"insert {n:,} x {d} float32, {name:8}: median {np.median(runs[name]):,.0f} "
              f"vectors/s ({rates})", flush=True)
    print(f"remote / embedded: {rem / emb:.2f} (target >= 0.5)", flush=True)


def load_test(url: str, key: str, clients: int, seconds: float, batch: int, d: int) -> None:
    deadline = time.time() + seconds
    lat: dict[str, list[float]] = {"insert": [], "metrics": []}
    sent = [0] * clients
    errors: list[str] = []
    lock = threading.Lock()

    def one(c: int) -> None:
        rng = np.random.default_rng(c)
        centers = rng.normal(scale=4, size=(5, d))
        with cm.Client(url=url, api_key=key) as client:
            ds, tools, i = client.Dataset(f"load{c}"), client.vector_tools.cluster, 0
            while time.time() < deadline and i < 10_000:  # bounded in time and in count
                labels = rng.integers(0, 5, batch)
                X = centers[labels] + rng.normal(size=(batch, d))
                docs = [{"_id": f"c{c}-{i}-{j}", "v_vector_": X[j],
                         "kind": f"k{labels[j]}",
                         "_cluster_": {"v_vector_": {"mine": int(labels[j])}}}
                        for j in range(batch)]
                try:
                    t0 = time.perf_counter()
                    ds.insert_documents(docs)
                    t1 = time.perf_counter()
                    sent[c] += batch
                    tools.metrics(f"load{c}", "v_vector_", "mine", "kind", metric="cosine")
                    t2 = time.perf_counter()
                    with lock:
                        lat["insert"].append(t1 - t0)
                        lat["metrics"].append(t2 - t1)
                except Exception as exc:  # counted, and the client goes on
                    with lock:
                        errors.append(f"{type(exc).__name__}: {exc}")
                i += 1

    threads = [threading.Thread(target=one, args=(c,)) for c in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    with cm.Client(url=url, api_key=key) as client:
        stored = sum(len(client.Dataset(f"load{c}")) for c in range(clients)
                     if f"load{c}" in client.list_datasets())
    print(f"load: {clients} clients for {wall:.1f} s, batches of {batch} x {d}-d", flush=True)
    print(f"  errors: {len(errors)} (must be 0){': ' + errors[0] if errors else ''}")
    print(f"  documents sent {sum(sent):,}, stored {stored:,} "
          f"({'equal' if stored == sum(sent) else 'DIFFERENT'})")
    for name, values in lat.items():
        v = np.array(values) * 1000
        print(f"  {name:8} calls {len(v):,}: p50 {np.percentile(v, 50):,.0f} ms, "
              f"p99 {np.percentile(v, 99):,.0f} ms")
    print(f"  throughput: {sum(sent) / wall:,.0f} documents/s, "
          f"{len(lat['metrics']) / wall:.1f} metrics calls/s", flush=True)


def _job_seconds(http: httpx.Client, body: dict, limit_s: float = 600) -> float:
    """Submit a stability job and wait for it: seconds from submission to its end."""
    t0 = time.perf_counter()
    view = http.post("/v1/datasets/fair/stability", json=body).json()
    deadline = time.time() + limit_s
    while view["status"] in ("queued", "running") and time.time() < deadline:
        view = http.get(f"/v1/jobs/{view['id']}", params={"wait": 5}).json()
    if view["status"] != "done":
        raise SystemExit(f"a fairness job ended {view['status']}: {view.get('error')}")
    return time.perf_counter() - t0


def fairness(url: str, key: str, flood_key: str, rounds: int = 20) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 32)).astype(np.float32)
    for k in (key, flood_key):
        with cm.Client(url=url, api_key=k) as client:
            client.Dataset("fair").insert_documents(X, ids=[f"f{i}" for i in range(len(X))],
                                                    vector_field="v_vector_")
    body = {"vector_field": "v_vector_", "n_resamples": 10, "alias": "s",
            "model": {"cls": "sklearn.cluster.KMeans", "params": {"n_clusters": 5,
                                                                  "n_init": 1}}}
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"},
                      timeout=120) as http:
        one = float(np.median([_job_seconds(http, body) for _ in range(3)]))
        body["n_resamples"] = max(1, round(10 / one))  # about one second a job
        alone = [_job_seconds(http, body) for _ in range(rounds // 2)]
        stop = threading.Event()
        flooded: list[int] = []

        def flood() -> None:  # keeps the other project's queue full
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {flood_key}"},
                              timeout=60) as f:
                while not stop.is_set():
                    r = f.post("/v1/datasets/fair/stability", json=body)
                    if r.status_code == 202:
                        flooded.append(1)
                    else:  # 429: the queue is full
                        time.sleep(0.2)

        thread = threading.Thread(target=flood)
        thread.start()
        try:
            time.sleep(2)
            under = [_job_seconds(http, body) for _ in range(rounds)]
        finally:
            stop.set()
            thread.join()
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {flood_key}"},
                      timeout=60) as f:  # the flood's leftovers are cancelled
        for job in f.get("/v1/jobs", params={"status": "queued"}).json()["jobs"]:
            f.delete(f"/v1/jobs/{job['id']}")
    a, u = np.array(alone), np.array(under)
    print(f"fairness: 1-second jobs ({body['n_resamples']} refits of KMeans on 2,000 x 32) "
          f"while another project keeps {len(flooded):,} such jobs queued", flush=True)
    print(f"  alone:        p50 {np.percentile(a, 50):.2f} s, p95 {np.percentile(a, 95):.2f} s")
    print(f"  under flood:  p50 {np.percentile(u, 50):.2f} s, p95 {np.percentile(u, 95):.2f} s"
          f" (p95 / one job alone: {np.percentile(u, 95) / np.median(a):.1f}x)", flush=True)


def containment(tmp: str) -> None:
    from threadpoolctl import threadpool_limits

    from clustermetrics.api.local import FitRunner
    from clustermetrics.clustering import ModelSpec
    from clustermetrics.server.workers import WorkerRunner
    runner = WorkerRunner(os.path.join(tmp, "spill"), threads=1)
    rng = np.random.default_rng(0)
    cases = [("KMeans k=5 on 200 x 8", rng.normal(size=(200, 8)).astype(np.float32)),
             ("KMeans k=20 on 50,000 x 64", rng.normal(size=(50_000, 64)).astype(np.float32))]
    runner.fit(ModelSpec("sklearn.cluster.KMeans", {"n_clusters": 2}), cases[0][1])  # warm
    for name, X in cases:
        k = int(name.split("k=")[1].split()[0])
        spec = ModelSpec("sklearn.cluster.KMeans", {"n_clusters": k, "n_init": 1,
                                                    "random_state": 0})
        times: dict[str, list[float]] = {"worker": [], "in-process": []}
        for _ in range(5):
            for label, r in (("worker", runner), ("in-process", FitRunner())):
                with threadpool_limits(1):
                    t0 = time.perf_counter()
                    r.fit(spec, X)
                    times[label].append(time.perf_counter() - t0)
        w, p = (float(np.median(times[k])) for k in ("worker", "in-process"))
        print(f"containment, {name}: worker {w * 1000:,.0f} ms, in-process {p * 1000:,.0f} ms, "
              f"ratio {w / p:.2f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--d", type=int, default=768)
    ap.add_argument("--clients", type=int, default=30)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--load-d", type=int, default=64)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--only", default="insert,load,fairness,containment")
    args = ap.parse_args()
    only = set(args.only.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        if "containment" in only:
            containment(tmp)
        if not only & {"insert", "load", "fairness"}:
            return
        proc, url, key = start_server(os.path.join(tmp, "server"), args.workers)
        try:
            if "insert" in only:
                bench_insert(args.n, args.d, tmp, url, key)
            if "load" in only:
                load_test(url, key, args.clients, args.seconds, args.batch, args.load_d)
            if "fairness" in only:
                flood_key = json.loads(subprocess.check_output(
                    [sys.executable, "-m", "clustermetrics.cli", "keys", "create", "--project",
                     "flood", "--data", os.path.join(tmp, "server"), "--json"]))["key"]
                fairness(url, key, flood_key)
        finally:
            proc.terminate()
            proc.wait(60)


if __name__ == "__main__":
    main()
