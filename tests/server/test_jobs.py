"""The job system itself: round-robin turns, per-project history, records kept across a
restart, a client stopped with SIGTERM, and the worker runner's errors."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from clustermetrics.errors import CancelledError, LimitError, TooManyJobsError
from clustermetrics.server.jobs import FINISHED, Jobs, Limits


def _until(condition, limit_s: float = 60) -> None:
    """A bounded wait for ``condition()``, not a timing check."""
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def test_workers_take_jobs_round_robin_across_projects():
    gate = threading.Event()
    jobs = Jobs(1, history=100)
    try:
        blocker = jobs.submit("a", "block", {}, lambda progress: gate.wait(30))
        _until(lambda: blocker.status == "running")
        flood = [jobs.submit("a", "tiny", {}, lambda progress: None) for _ in range(5)]
        other = jobs.submit("b", "tiny", {}, lambda progress: None)
        gate.set()
        _until(lambda: all(j.status in FINISHED for j in [*flood, other]))
        order = sorted([*flood, other], key=lambda j: j.started_at or 0)
        assert order[0] is other  # b's turn came before a's second job
    finally:
        jobs.shutdown()


def test_a_project_over_its_queue_limit_gets_too_many_jobs():
    gate = threading.Event()
    jobs = Jobs(1, max_queued=2)
    try:
        jobs.submit("a", "block", {}, lambda progress: gate.wait(30))
        _until(lambda: not jobs._queues["a"])
        jobs.submit("a", "tiny", {}, lambda progress: None)
        jobs.submit("a", "tiny", {}, lambda progress: None)
        with pytest.raises(TooManyJobsError, match=r"Project 'a' has 2 jobs waiting.*"
                                                   r"--max-queued-per-project"):
            jobs.submit("a", "tiny", {}, lambda progress: None)
        jobs.submit("b", "tiny", {}, lambda progress: None)  # another project's own queue
    finally:
        gate.set()
        jobs.shutdown()


def test_a_projects_running_limit_leaves_workers_to_others():
    gate = threading.Event()
    jobs = Jobs(2, max_running=1)
    try:
        first = jobs.submit("a", "block", {}, lambda progress: gate.wait(30))
        second = jobs.submit("a", "block", {}, lambda progress: gate.wait(30))
        other = jobs.submit("b", "tiny", {}, lambda progress: None)
        _until(lambda: other.status == "done")
        assert first.status == "running" and second.status == "queued"
    finally:
        gate.set()
        jobs.shutdown()


def test_eleven_hundred_tiny_jobs_keep_another_projects_history(tmp_path):
    jobs = Jobs(2, max_queued=2000, history=1000, records_dir=str(tmp_path / "jobs"))
    try:
        mine = jobs.submit("b", "tiny", {}, lambda progress: 1)
        flood = [jobs.submit("a", "tiny", {}, lambda progress: 1) for _ in range(1100)]
        _until(lambda: all(j.status in FINISHED for j in [mine, *flood]))
        jobs._trim("a")
        assert [j.id for j in jobs.list_jobs("b")] == [mine.id]
        assert len(jobs.list_jobs("a")) == 1000
        assert jobs.list_jobs("a")[-1].id == flood[100].id  # the oldest were forgotten
    finally:
        jobs.shutdown()


def test_a_restart_lists_the_jobs_it_interrupted(tmp_path):
    gate = threading.Event()
    folder = str(tmp_path / "jobs")
    jobs = Jobs(1, records_dir=folder)
    done = jobs.submit("a", "tiny", {"x": 1}, lambda progress: 1)
    _until(lambda: done.status == "done")
    running = jobs.submit("a", "steps", {}, lambda progress: [
        progress("step", 1, None) or gate.wait(0.05) for _ in range(2000)])
    queued = jobs.submit("a", "tiny", {}, lambda progress: 1)
    _until(lambda: running.status == "running")
    jobs.shutdown()
    assert running.status == queued.status == "interrupted"
    mode = stat.S_IMODE(os.stat(os.path.join(folder, "a.sqlite")).st_mode)
    assert mode == 0o600 and stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    again = Jobs(1, records_dir=folder)
    try:
        listed = {j.id: j for j in again.list_jobs("a")}
        assert [listed[j.id].status for j in (done, running, queued)] == \
            ["done", "interrupted", "interrupted"]
        error = listed[running.id].view()["error"]
        assert error["code"] == "cancelled"
        assert "the server stopped while it was running" in error["message"]
        assert listed[done.id].params == {"x": 1}
    finally:
        again.shutdown()


def test_a_job_left_running_by_a_killed_server_is_interrupted(tmp_path):
    from clustermetrics.server.jobs import Job, Records
    folder = tmp_path / "jobs"
    folder.mkdir()
    records = Records(str(folder), "a")
    job = Job("a", "fit", {})
    job.status = "running"
    records.put(job)  # as a server killed mid-job left it
    records.close()
    again = Jobs(1, records_dir=str(folder))
    try:
        back = again.get("a", job.id)
        assert back.status == "interrupted"
        assert "was interrupted: the server stopped while it was running" in \
            back.view()["error"]["message"]
    finally:
        again.shutdown()


def test_a_job_past_its_time_limit_fails_at_its_next_event():
    jobs = Jobs(1, timeout_s=0.2)
    try:
        job = jobs.submit("a", "steps", {}, lambda progress: [
            progress("step", 1, None) or time.sleep(0.05) for _ in range(400)])
        _until(lambda: job.status in FINISHED)
        assert job.status == "failed" and job.error["code"] == "over_limit"
        assert "ran past this server's limit of 0 s per job (clustermetrics serve " \
               "--job-timeout raises it)" in job.error["message"]
    finally:
        jobs.shutdown()


def test_a_job_whose_key_was_revoked_while_it_waited_never_starts():
    gate = threading.Event()
    revoked: set[str] = set()
    jobs = Jobs(1, key_active=lambda key_id: key_id not in revoked)
    try:
        jobs.submit("a", "block", {}, lambda progress: gate.wait(30), key_id="k1")
        waiting = jobs.submit("a", "tiny", {}, lambda progress: 1, key_id="k2")
        revoked.add("k2")
        gate.set()
        _until(lambda: waiting.status in FINISHED)
        assert waiting.status == "cancelled"
        assert "the API key that queued it (key id k2) was revoked" in \
            waiting.error["message"]
    finally:
        jobs.shutdown()


@pytest.mark.parametrize(("check", "value", "said"), [
    ("check_resamples", 10**8, "n_resamples=100,000,000 is over this server's limit of 1,000 "
                               "(clustermetrics serve --max-resamples raises it)."),
    ("check_k", 20_000, "k=20,000 is over this server's limit of 10,000 (clustermetrics serve "
                        "--max-clusters raises it)."),
    ("check_ks", list(range(2, 2000)), "A sweep of 1,998 values of k is over this server's "
                                       "limit of 1,000 fits (clustermetrics serve --max-grid"),
    ("check_params", {"n_components": 10**5}, "n_components=100,000 is over this server's "
                                              "limit of 10,000"),
    ("check_grid", [{"a": [1] * 600}, {"b": [1] * 600}], "The parameter grid has 1,200 "
                                                         "combinations"),
    ("check_grid", {"n_init": [1, 500]}, "n_init=500 is over this server's limit of 100"),
    ("check_grid", [{"a": np.arange(1000), "b": np.arange(1000)}, "not a grid"],
     "The parameter grid has 1,000,000 combinations"),
    ("check_params", {"max_iter": np.int64(10**6)}, "max_iter=1,000,000 is over"),
])
def test_each_limit_names_itself_and_its_option(check, value, said):
    with pytest.raises(LimitError, match="^" + __import__("re").escape(said)):
        getattr(Limits(), check)(value)


def test_limits_let_ordinary_work_through():
    limits = Limits()
    limits.check_resamples(20)
    limits.check_grid({"min_cluster_size": [5, 10, 20], "min_samples": [1, 5]})
    limits.check_params({"n_clusters": 10, "n_init": "auto", "max_iter": 300})
    limits.check_rows("sklearn.cluster.AgglomerativeClustering", 10_000)
    limits.check_rows("sklearn.cluster.HDBSCAN", 10**7)
    with pytest.raises(LimitError, match="SpectralClustering holds an n x n matrix: 10,001"):
        limits.check_rows("sklearn.cluster.SpectralClustering", 10_001)


def test_the_worker_runner_fits_as_in_process_and_names_a_bad_parameter(tmp_path):
    from clustermetrics.api.local import FitRunner
    from clustermetrics.clustering import ModelSpec
    from clustermetrics.errors import InvalidInputError
    from clustermetrics.server.workers import WorkerRunner
    runner = WorkerRunner(str(tmp_path / "tmp"), memory_mb=512, threads=1)
    X = np.random.default_rng(0).normal(size=(120, 3)).astype(np.float32)
    spec = ModelSpec("sklearn.cluster.KMeans", {"n_clusters": 3, "n_init": 1,
                                                "random_state": 0})
    np.testing.assert_array_equal(runner.fit(spec, X).labels, FitRunner().fit(spec, X).labels)
    [name] = os.listdir(tmp_path / "tmp")  # X's file, while X lives
    assert stat.S_IMODE(os.stat(tmp_path / "tmp" / name).st_mode) == 0o600
    del X
    assert os.listdir(tmp_path / "tmp") == []  # deleted with the array
    bad = ModelSpec("sklearn.cluster.KMeans", {"n_clusters": 500})
    Y = np.zeros((120, 3), np.float32)
    with pytest.raises(InvalidInputError, match="n_samples=120 should be >= n_clusters=500"):
        runner.fit(bad, Y)


def test_a_client_stopped_with_sigterm_cancels_its_job(http_server):
    project, key = http_server.new_project()
    from clustermetrics import Client
    with Client(url=http_server.url, api_key=key) as c:
        X = np.random.default_rng(0).normal(size=(300, 2)).astype(np.float32)
        c.Dataset("d").insert_documents(X, ids=[f"i{i}" for i in range(300)],
                                        vector_field="emb_vector_")
    script = textwrap.dedent(f"""
        from sklearn.mixture import GaussianMixture
        from clustermetrics import Client
        with Client(url={http_server.url!r}, api_key={key!r}) as c:
            c.Dataset("d").fit("emb_vector_", GaussianMixture(
                20, max_iter=10_000, tol=0.0, n_init=100, random_state=0))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], env=dict(
        os.environ, PYTHONPATH=os.getcwd()), stderr=subprocess.PIPE)
    try:
        jobs = http_server.state.jobs
        _until(lambda: any(j.status == "running" for j in jobs.list_jobs(project)))
        time.sleep(1)  # the client has its answer and waits (not a timing check)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 128 + signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
    job = jobs.list_jobs(project)[0]
    _until(lambda: job.status in FINISHED)
    assert job.status == "cancelled"
    assert isinstance(__import__("clustermetrics.api.codec", fromlist=["codec"]).decode_error(
        job.error), CancelledError)
    assert json.dumps(job.view())  # the view stays JSON


def test_a_memory_error_python_could_not_raise_ends_the_fit_as_out_of_memory():
    """Inside native callbacks a MemoryError is only reported ("Exception ignored"), again
    and again while the fit goes on: the worker's hook ends the fit instead."""
    import types

    from clustermetrics.server.workers import unraisable_hook

    sent, exits = [], []
    conn = types.SimpleNamespace(send=sent.append)
    hook = unraisable_hook(conn, exit=exits.append)
    hook(types.SimpleNamespace(exc_value=MemoryError(), exc_type=MemoryError,
                               exc_traceback=None, err_msg=None, object=None))
    assert sent == [("memory", None)] and exits == [1]


def test_other_unraisable_reports_reach_the_log_a_few_times_only(capsys):
    import sys
    import types

    from clustermetrics.server.workers import UNRAISABLE_SHOWN, unraisable_hook

    class Broken:
        def __del__(self):
            raise ValueError("boom")

    before = sys.unraisablehook
    sys.unraisablehook = unraisable_hook(types.SimpleNamespace(send=lambda m: None),
                                         exit=lambda code: None)
    try:
        for _ in range(UNRAISABLE_SHOWN + 20):
            Broken()  # dropped at once: its __del__ raises where Python cannot
    finally:
        sys.unraisablehook = before
    assert capsys.readouterr().err.count("ValueError: boom") == UNRAISABLE_SHOWN


@pytest.mark.parametrize("workers, running", [(1, 1), (2, 1), (4, 3)])
def test_by_default_one_worker_stays_free_for_the_other_projects(workers, running):
    jobs = Jobs(workers)
    try:
        assert jobs.max_running == running
    finally:
        jobs.shutdown()


def test_a_cancelled_job_that_reads_the_store_stops_at_its_next_batch(tmp_path):
    """Work without progress events of its own (the inside calls) stops within a batch of
    its cancel: the job's check is made before each batch read from the store."""
    from clustermetrics import Client

    X = np.random.default_rng(0).normal(size=(3000, 4)).astype(np.float32)
    with Client(path=str(tmp_path / "s.duckdb")) as client:
        client.Dataset("d").insert_documents(X, ids=[f"d{i}" for i in range(len(X))],
                                             vector_field="v_vector_")
        client.vector_tools.cluster.set_cluster_labels(
            "d", "v_vector_", "a", {f"d{i}": i % 3 for i in range(len(X))})
        started, go = threading.Event(), threading.Event()

        def work(progress):
            started.set()
            go.wait(30)  # cancelled while here: the read below must not finish
            return client.vector_tools.cluster.closest("d", "v_vector_", "a", n=2)

        jobs = Jobs(1)
        try:
            job = jobs.submit("p", "closest", {}, work)
            assert started.wait(30)
            jobs.cancel("p", job.id)
            go.set()
            _until(lambda: job.status in FINISHED)
            assert job.status == "cancelled"
        finally:
            jobs.shutdown()


def test_a_job_out_of_memory_fails_with_what_to_do_not_an_incident():
    def work(progress):
        raise MemoryError
    jobs = Jobs(1)
    try:
        job = jobs.submit("a", "report", {}, work)
        _until(lambda: job.status in FINISHED)
        assert job.status == "failed"
        assert job.error["code"] == "too_large"
        assert job.error["message"].startswith("The report job ran out of memory (this "
                                               "server's memory limit). Ask for less at once")
        assert "incident" not in job.error["message"]
    finally:
        jobs.shutdown()
