"""Many stored calls at once from one key, on the request path (``GET .../centroids`` runs in
the request's thread, not as a job): under the server's 4 GiB address space, each answer must
be a result or a refusal the caller can act on (429: the project's reads at once; 413), never
an incident; the server's threads must stay near the thread budget."""

from __future__ import annotations

import threading
import time

import httpx
import numpy as np
import pyarrow as pa
import pytest

from clustermetrics import threads

ARROW = "application/vnd.apache.arrow.stream"
N, DIM, CALLERS = 300_000, 64, 40  # 77 MB of float32: a twelfth of the 1,024 MiB upload cap
QUERY = {"vector_field": "emb_vector_", "cluster_alias": "c"}


@pytest.fixture(scope="module")
def big(server):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(N, DIM)).astype(np.float32)
    table = pa.table({"_id": pa.array([f"d{i}" for i in range(N)]),
                      "emb_vector_": pa.FixedSizeListArray.from_arrays(pa.array(X.ravel()), DIM),
                      "_cluster_.emb_vector_.c": pa.array(rng.integers(0, 50, N).astype(str))})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=50_000)
    with server.http(server.attacker) as http:
        r = http.post("/v1/datasets/big/documents", content=sink.getvalue().to_pybytes(),
                      headers={"Content-Type": ARROW}, timeout=300)
        assert r.status_code == 200, r.text
        assert http.get("/v1/datasets/big/centroids", params=QUERY).status_code == 200
    server.idle_threads = _threads(server.proc.pid)  # before any flood: the anyio threads stay
    return server


def _threads(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("Threads:"))


def _flood(server) -> tuple[list[tuple[int, str]], int, int]:
    """CALLERS centroids calls at once; (status and body of each, threads idle, most seen)."""
    idle = _threads(server.proc.pid)
    answers: list[tuple[int, str]] = []

    def call() -> None:
        with server.http(server.attacker, timeout=300) as http:
            r = http.get("/v1/datasets/big/centroids", params=QUERY)
            answers.append((r.status_code, r.text[:300]))

    callers = [threading.Thread(target=call) for _ in range(CALLERS)]
    for caller in callers:
        caller.start()
    most = idle
    while any(caller.is_alive() for caller in callers):
        most = max(most, _threads(server.proc.pid))
        time.sleep(0.02)
    for caller in callers:
        caller.join()
    return answers, idle, most


def test_many_stored_calls_at_once_are_answered_or_refused_never_an_incident(big):
    answers, _, _ = _flood(big)
    incidents = [body for status, body in answers if status >= 500 and status != 503]
    assert not incidents, f"{len(incidents)} of {CALLERS} answered an incident: {incidents[0]}"
    for status, body in answers:
        assert status in (200, 413, 429), body
        if status == 413:
            assert "ran out of memory" in body
        if status == 429:
            assert "reads of a whole dataset running (centroids, export)" in body
    assert sum(status == 200 for status, _ in answers) >= 1
    httpx.get(big.url + "/health", timeout=10)
    big.assert_alive()
    big.assert_victim_unchanged()


def test_many_stored_calls_at_once_stay_within_the_thread_budget(big):
    _, _, most = _flood(big)
    idle = big.idle_threads
    assert most - idle <= 2 * threads.cores() + 4, (
        f"{most} threads during {CALLERS} calls at once, {idle} idle, {threads.cores()} cores")
    big.assert_alive()
    big.assert_victim_unchanged()
