"""Attacks on the job system, one test each: work sized beyond the limits, a fit that blows
its memory, a fit that must be stopped mid-way, a flood of jobs, a revoked key, a history
flood. Each asserts the status it got, that the server is alive and the victim unchanged."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest

from clustermetrics.api import codec

from .conftest import VICTIM_DATASET, _key

# small limits, so that every attack needs only a small payload
SERVE_OPTIONS = ["--max-queued-per-project", "3", "--job-history", "5",
                 "--job-memory-mb", "40", "--max-quadratic-rows", "3000",
                 "--max-running-per-project", "2"]  # both workers: the tests fill them
FINISHED = ("done", "failed", "cancelled", "interrupted")
# a fit that runs for minutes without a progress event (EM that never meets tol=0)
LONG = {"cls": "sklearn.mixture.GaussianMixture",
        "params": {"n_components": 20, "max_iter": 10_000, "tol": 0.0, "n_init": 100,
                   "random_state": 0}}


@pytest.fixture(scope="module")
def data(server):
    """The attacker's datasets: 200, 2,500 and 3,500 two-dimensional vectors."""
    from clustermetrics import Client
    rng = np.random.default_rng(1)
    with Client(url=server.url, api_key=server.attacker) as c:
        for name, n in (("small", 200), ("mid", 2500), ("big", 3500)):
            X = rng.normal(size=(n, 2)).astype(np.float32)
            c.Dataset(name).insert_documents(X, ids=[f"{name}{i}" for i in range(n)],
                                             vector_field="emb_vector_")
    return server


def _wait(http, job_id: str, states=FINISHED, limit_s: float = 120) -> dict:
    """The job's view once its status is one of ``states`` (a bounded wait)."""
    deadline = time.monotonic() + limit_s
    while True:
        view = http.get(f"/v1/jobs/{job_id}", params={"wait": 1}).json()
        if view["status"] in states:
            return view
        assert time.monotonic() < deadline, f"job {job_id} still {view['status']}"


def _long_job(http, dataset: str = "small") -> dict:
    r = http.post(f"/v1/datasets/{dataset}/fit", json={"vector_field": "emb_vector_",
                                                        "model": LONG, "alias": "long"})
    assert r.status_code == 202, r.text
    return r.json()


def _descendants(pid: int) -> set[int]:
    """The processes below ``pid`` (the forkserver and the fits' workers)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":  # a zombie is gone but for its exit status
                children.setdefault(int(fields[1]), []).append(int(entry))
    out, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.add(child)
            todo.append(child)
    return out


def _cancel_all(http) -> None:
    """Cancel the project's unfinished jobs and wait for them to end (a bounded wait)."""
    deadline = time.monotonic() + 60
    while pending := [j for j in http.get("/v1/jobs").json()["jobs"]
                      if j["status"] not in FINISHED]:
        assert time.monotonic() < deadline, f"jobs still unfinished: {pending}"
        for job in pending:
            http.delete(f"/v1/jobs/{job['id']}")
        time.sleep(0.1)


def _error(r, status: int, code: str) -> str:
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    return r.json()["error"]["message"]


def test_a_hundred_million_resamples_are_refused(data):
    with data.http(data.attacker) as http:
        r = http.post("/v1/datasets/small/stability", json={
            "vector_field": "emb_vector_", "model": {"cls": "sklearn.cluster.KMeans",
                                                     "params": {"n_clusters": 3}},
            "n_resamples": 10**8})
        message = _error(r, 422, "over_limit")
        assert http.get("/v1/jobs").json()["jobs"] == []  # nothing queued
    assert "n_resamples=100,000,000 is over this server's limit of 1,000" in message
    assert "clustermetrics serve --max-resamples" in message
    data.assert_alive()
    data.assert_victim_unchanged()


def test_a_grid_of_a_billion_combinations_is_refused_uncounted(data):
    grid = {"min_cluster_size": list(range(2, 1002)), "min_samples": list(range(1, 1001)),
            "cluster_selection_epsilon": [i / 1000 for i in range(1000)]}
    with data.http(data.attacker) as http:
        r = http.post("/v1/datasets/small/sweep-grid", json={
            "vector_field": "emb_vector_", "model": {"cls": "sklearn.cluster.HDBSCAN",
                                                     "params": {}},
            "param_grid": codec.encode(grid)})
        message = _error(r, 422, "over_limit")
    assert "1,000,000,000 combinations, over this server's limit of 1,000 fits" in message
    assert "--max-grid" in message
    data.assert_alive()
    data.assert_victim_unchanged()


def test_an_average_linkage_fit_beyond_the_row_limit_is_refused(data):
    with data.http(data.attacker) as http:
        r = http.post("/v1/datasets/big/fit", json={
            "vector_field": "emb_vector_", "model": {
                "cls": "sklearn.cluster.AgglomerativeClustering",
                "params": {"n_clusters": 3, "linkage": "average"}}})
        message = _error(r, 422, "over_limit")
    assert "AgglomerativeClustering holds an n x n matrix: 3,500 documents" in message
    assert "limit of 3,000" in message and "--max-quadratic-rows" in message
    data.assert_alive()
    data.assert_victim_unchanged()


@pytest.mark.parametrize(("params", "said"), [
    ({"n_clusters": 3, "n_init": 10**6}, "n_init=1,000,000 is over this server's limit of "
                                         "100 (clustermetrics serve --max-n-init"),
    ({"n_clusters": 3, "max_iter": 10**9}, "max_iter=1,000,000,000 is over this server's "
                                           "limit of 10,000 (clustermetrics serve --max-iter"),
    ({"n_clusters": 10**6}, "n_clusters=1,000,000 is over this server's limit of 10,000 "
                            "(clustermetrics serve --max-clusters"),
])
def test_model_parameters_that_size_the_work_are_bounded(data, params, said):
    with data.http(data.attacker) as http:
        r = http.post("/v1/datasets/small/fit", json={
            "vector_field": "emb_vector_",
            "model": {"cls": "sklearn.cluster.KMeans", "params": params}})
        assert said in _error(r, 422, "over_limit")
    data.assert_alive()
    data.assert_victim_unchanged()


def test_a_fit_that_blows_its_memory_fails_alone(data):
    # spectral clustering of 2,500 rows makes a 50 MB affinity matrix: over the 40 MiB a job
    # may allocate here, in its worker process
    with data.http(data.attacker) as http:
        view = http.post("/v1/datasets/mid/fit", json={
            "vector_field": "emb_vector_", "model": {
                "cls": "sklearn.cluster.SpectralClustering",
                "params": {"n_clusters": 3, "random_state": 0}}}).json()
        view = _wait(http, view["id"])
        assert view["status"] == "failed"
        assert view["error"]["code"] in ("over_limit", "worker_crashed")
        assert "limit of 40 MiB per job (clustermetrics serve --job-memory-mb" in \
            view["error"]["message"]
        assert http.get("/v1/datasets/mid/aliases").json() == []  # nothing written
    data.assert_alive()
    data.assert_victim_unchanged()


def test_cancel_stops_a_fit_in_the_middle(data):
    with data.http(data.attacker) as http:
        before = _descendants(data.proc.pid)
        view = _long_job(http)
        _wait(http, view["id"], ("running",))
        deadline = time.monotonic() + 60
        while not (workers := _descendants(data.proc.pid) - before):  # its worker started
            assert time.monotonic() < deadline, "no worker process started"
            time.sleep(0.05)
        r = http.delete(f"/v1/jobs/{view['id']}")
        assert r.status_code == 200 and r.json()["cancel_requested"] is True
        view = _wait(http, view["id"])
        assert view["status"] == "cancelled" and view["error"]["code"] == "cancelled"
        assert not any(os.path.exists(f"/proc/{pid}") and pid in _descendants(data.proc.pid)
                       for pid in workers), "the fit's worker still runs"
        assert http.get("/v1/datasets/small/aliases").json() == []
    data.assert_alive()
    data.assert_victim_unchanged()


def test_a_full_queue_answers_429(data):
    with data.http(data.attacker) as http:
        try:
            jobs = [_long_job(http) for _ in range(5)]  # 2 run, 3 wait: the queue is full
            r = http.post("/v1/datasets/small/fit", json={"vector_field": "emb_vector_",
                                                          "model": LONG})
            message = _error(r, 429, "too_many_jobs")
            assert len(jobs) == 5
        finally:
            _cancel_all(http)
    assert "Project 'attacker' has 3 jobs waiting" in message
    assert "--max-queued-per-project" in message
    data.assert_alive()
    data.assert_victim_unchanged()


def test_a_flood_does_not_starve_another_project(data):
    with data.http(data.attacker) as http, data.http(data.victim) as victim:
        try:
            flood = [_long_job(http) for _ in range(4)]  # 2 run, 2 wait
            r = victim.post(f"/v1/datasets/{VICTIM_DATASET}/kmeans",
                            json={"vector_field": "emb_vector_", "k": 3, "alias": "fair"})
            assert r.status_code == 202
            for job in flood[:2]:  # free a worker: the victim's turn comes before the flood's
                http.delete(f"/v1/jobs/{job['id']}")
            mine = _wait(victim, r.json()["id"])
            assert mine["status"] == "done"
            waiting = [http.get(f"/v1/jobs/{j['id']}").json() for j in flood[2:]]
            assert all(j["started_at"] is None or j["started_at"] > mine["started_at"]
                       for j in waiting), "the flood's waiting jobs started first"
        finally:
            _cancel_all(http)
    data.assert_alive()
    data.assert_victim_unchanged()


def test_a_revoked_key_cancels_its_waiting_and_running_jobs(data):
    key = _key(data.data, "attacker")  # a second key of the attacker's project
    with data.http(key) as http, data.http(data.attacker) as other:
        running, waiting = _long_job(http), _long_job(http)
        _wait(http, running["id"], ("running",))
        subprocess.run([sys.executable, "-m", "clustermetrics", "keys", "revoke", "--data",
                        data.data, key.split("_")[1]], check=True, capture_output=True,
                       timeout=60)
        assert http.get("/v1/jobs").status_code == 401
        views = [_wait(other, j["id"], limit_s=30) for j in (running, waiting)]
    for view in views:
        assert view["status"] == "cancelled"
        assert "the API key that queued it (key id" in view["error"]["message"]
        assert "was revoked" in view["error"]["message"]
    data.assert_alive()
    data.assert_victim_unchanged()


def test_one_projects_many_jobs_keep_anothers_history(data):
    with data.http(data.attacker) as http, data.http(data.victim) as victim:
        mine = victim.post(f"/v1/datasets/{VICTIM_DATASET}/kmeans",
                           json={"vector_field": "emb_vector_", "k": 2, "alias": "kept"})
        _wait(victim, mine.json()["id"])
        for _ in range(3):  # 9 tiny jobs, over a history of 5, 3 at a time (the queue's 3)
            batch = [http.post("/v1/datasets/small/kmeans",
                               json={"vector_field": "emb_vector_", "k": 2}) for _ in range(3)]
            for r in batch:
                assert r.status_code == 202, r.text
                _wait(http, r.json()["id"])
        assert len(http.get("/v1/jobs").json()["jobs"]) == 5
        listed = [j["id"] for j in victim.get("/v1/jobs").json()["jobs"]]
    assert mine.json()["id"] in listed
    data.assert_alive()
    data.assert_victim_unchanged()


@pytest.mark.parametrize("path, body, what", [
    ("metrics", {"cluster_alias": "long", "sample_size": 10**7}, "sample_size=10,000,000"),
    ("report", {"cluster_alias": "long", "max_points": 200_000, "projection": "tsne"},
     "max_points=200,000"),
    ("inside/misfits", {"alias": "long", "args": {"sample_size": 150_000}},
     "sample_size=150,000"),
])
def test_samples_and_points_beyond_the_limit_are_refused(data, path, body, what):
    """Work that runs in the server process (sampled silhouettes, projections) is bounded
    before it is queued: it cannot be contained in a worker."""
    with data.http(data.attacker) as http:
        r = http.post(f"/v1/datasets/small/{path}", json={"vector_field": "emb_vector_", **body})
        message = _error(r, 422, "over_limit")
    assert f"{what} is over this server's limit of 20,000" in message
    assert "clustermetrics serve --max-sample" in message
    data.assert_alive()
    data.assert_victim_unchanged()
