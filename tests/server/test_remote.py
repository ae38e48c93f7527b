"""The remote Client against a real server on a loopback port (the session's test server, and
once the `serve` command itself): equal results, the same exceptions, progress, jobs, keys."""

import json
import os
import subprocess
import sys
import threading
import time

import httpx
import numpy as np
import pytest
from click.testing import CliRunner

import clustermetrics as cm
from clustermetrics.api import codec
from clustermetrics.cli import main
from clustermetrics.errors import AuthenticationError, CancelledError, ServerError


@pytest.fixture
def remote(http_server):
    project, key = http_server.new_project("remote")
    with cm.Client(url=http_server.url, api_key=key) as client:
        client.key = key
        yield client
    http_server.state.projects.close(project)


@pytest.fixture
def local(tmp_path):
    with cm.Client(path=str(tmp_path / "local.duckdb")) as client:
        yield client


@pytest.fixture
def both(local, remote, digits_docs, http_server, monkeypatch):
    """The same digits documents, clustered the same way, embedded and remote: the embedded
    fits on the threads a server job's fit gets (k-means sums its clusters per OpenMP thread,
    so another thread count changes an inertia's last bits)."""
    from clustermetrics import threads
    monkeypatch.setenv(threads.ENV, str(http_server.state.jobs.blas_threads))
    _, _, docs = digits_docs
    for c in (local, remote):
        c.Dataset("digits").insert_documents(docs)
        c.vector_tools.cluster.kmeans("digits", "pixels_vector_", 10)
    return local, remote


def test_seed_call_over_http_equals_embedded(both):
    results = [c.vector_tools.cluster.metrics(dataset_id="digits",
                                              vector_field="pixels_vector_",
                                              cluster_alias="kmeans_10",
                                              ground_truth_field="digit") for c in both]
    local, remote = results
    assert type(remote) is type(local)
    assert codec.encode(remote) == codec.encode(local)  # every number, label and type
    assert remote.to_dict() == local.to_dict()
    assert str(remote) == str(local)


def test_the_other_calls_over_http_equal_embedded(both):
    local, remote = both
    tools = [c.vector_tools.cluster for c in both]
    assert remote.list_datasets() == local.list_datasets() == ["digits"]
    assert remote.Dataset("digits").describe() == local.Dataset("digits").describe()
    assert remote.Dataset("digits").get_documents(["d3", "d1"]) == \
        local.Dataset("digits").get_documents(["d3", "d1"])
    for call in (lambda t: t.list_aliases("digits"),
                 lambda t: {k: v for k, v in t.describe_alias(
                     "digits", "pixels_vector_", "kmeans_10").items() if k != "created_at"},
                 lambda t: t.distribution("digits", "pixels_vector_", "kmeans_10", "digit"),
                 lambda t: t.centroid_distances("digits", "pixels_vector_", "kmeans_10"),
                 lambda t: t.compare("digits", "pixels_vector_", ["kmeans_10"], "digit").table,
                 lambda t: t.sweep("digits", "pixels_vector_", [2, 3], "digit").table):
        there, here = (call(t) for t in reversed(tools))
        assert codec.encode(there) == codec.encode(here)


@pytest.mark.parametrize("call", [
    lambda c: c.Dataset("nope").get_documents(["a"]),
    lambda c: c.vector_tools.cluster.metrics("digits", "pixels_vector_", "kmeans_11"),
    lambda c: c.vector_tools.cluster.metrics("digits", "pixel_vector_", "kmeans_10"),
    lambda c: c.vector_tools.cluster.metrics("digits", "pixels_vector_", "kmeans_10", "digt"),
    lambda c: c.vector_tools.cluster.kmeans("digits", "digit", 3),
    lambda c: c.Dataset("a b").insert_documents([{"_id": "x"}]),
    lambda c: c.Dataset("digits").insert_documents([{"_id": "x", "pixels_vector_": [1.0]}]),
    lambda c: c.vector_tools.cluster.set_cluster_labels("digits", "pixels_vector_", "m", {}),
    lambda c: c.vector_tools.cluster.sweep("digits", "pixels_vector_", []),
    lambda c: c.vector_tools.cluster.compare("digits", "pixels_vector_", []),
    lambda c: c.vector_tools.cluster.metrics("digits", "pixels_vector_", "kmeans_10",
                                             metric="nope"),
], ids=["dataset", "alias", "vector_field", "truth", "not_vector", "name", "vector_length",
        "no_labels", "empty_sweep", "empty_compare", "metric"])
def test_the_same_exception_with_the_same_message(both, call):
    raised = []
    for client in both:
        with pytest.raises(cm.ClusterMetricsError) as info:
            call(client)
        raised.append(info.value)
    local, remote = raised
    assert type(remote) is type(local)
    assert str(remote) == str(local)
    assert len(remote.__class__.__mro__) > 2  # a NotFoundError is still a LookupError, ...


def test_warnings_travel(both):
    import warnings
    tools = [c.vector_tools.cluster for c in both]
    for call in (lambda t: t.metrics("digits", "pixels_vector_", "kmeans_10", noise_label=-5),
                 lambda t: t.centroid_distances("digits", "pixels_vector_", "kmeans_10",
                                                noise_label="none"),
                 lambda t: t.report("digits", "pixels_vector_", "kmeans_10", noise_label=-5)):
        heard = []
        for t in tools:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                call(t)
            heard.append([(w.category, str(w.message)) for w in caught])
        assert heard[1] == heard[0]
        assert heard[0][0][0] is cm.ClusterMetricsWarning and "occurs nowhere" in heard[0][0][1]
    with warnings.catch_warnings():  # a noise label that occurs is no warning, either way
        warnings.simplefilter("error", cm.ClusterMetricsWarning)
        for t in tools:
            t.metrics("digits", "pixels_vector_", "kmeans_10", noise_label=0)


def test_progress_callbacks_hear_the_same_events(local, remote, digits_docs):
    _, _, docs = digits_docs

    def listen(client):
        events, steps = [], []
        client.Dataset("digits").insert_documents(docs, progress=lambda *e: events.append(e))
        tools = client.vector_tools.cluster
        tools.kmeans("digits", "pixels_vector_", 4, progress=lambda *e: events.append(e))
        tools.metrics("digits", "pixels_vector_", "kmeans_4", "digit",
                      progress=lambda *e: events.append(e))
        tools.compare("digits", "pixels_vector_", ["kmeans_4", "kmeans_4"],
                      on_step=lambda *e: steps.append(e))
        return events, steps

    heard = [listen(local), listen(remote)]
    assert heard[1] == heard[0]
    events, steps = heard[0]
    assert ("insert", 400, 400) in events and ("reading", 400, 400) in events
    assert steps == [("kmeans_4", 1, 2), ("kmeans_4", 2, 2)]


def test_other_requests_are_served_while_a_job_runs(remote, http_server, digits_docs):
    _, _, docs = digits_docs
    remote.Dataset("digits").insert_documents(docs)
    first = threading.Event()
    outcome = {}

    def on_step(k, i, total):
        first.set()
        time.sleep(0.3)  # the sweep goes on meanwhile on the server

    def sweep():
        try:
            remote.vector_tools.cluster.sweep("digits", "pixels_vector_", range(2, 40),
                                              on_step=on_step)
        except BaseException as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=sweep)
    worker.start()
    assert first.wait(60)
    with cm.Client(url=http_server.url, api_key=remote.key) as other:
        t0 = time.perf_counter()
        assert other.list_datasets() == ["digits"]
        answered = time.perf_counter() - t0
        (job,) = other.api.list_jobs(status="running")
        assert job["op"] == "sweep" and answered < 5
        cancelled = other.api.cancel_job(job["id"])
        assert cancelled["cancel_requested"] is True
    worker.join(60)
    assert isinstance(outcome.get("error"), CancelledError)
    assert "was cancelled" in str(outcome["error"])
    made = [a["alias"] for a in remote.vector_tools.cluster.list_aliases("digits")]
    assert 0 < len(made) < 38  # stopped part way


def test_an_interrupted_call_cancels_its_job(remote, digits_docs):
    _, _, docs = digits_docs
    remote.Dataset("digits").insert_documents(docs)

    class StopError(Exception):
        pass

    def stop(*event):
        raise StopError

    with pytest.raises(StopError):
        remote.vector_tools.cluster.sweep("digits", "pixels_vector_", range(2, 30),
                                          on_step=stop)
    deadline = time.time() + 30
    while remote.api.list_jobs(status="running") and time.time() < deadline:
        time.sleep(0.05)
    (job,) = remote.api.list_jobs()
    assert job["status"] == "cancelled"


def test_files_are_read_and_written_on_the_callers_side(remote, tmp_path, digits_docs):
    import pandas as pd
    X, y, _ = digits_docs
    path = tmp_path / "in.parquet"
    pd.DataFrame({"_id": [f"i{i}" for i in range(len(X))], "pixels_vector_": list(X),
                  "digit": y}).to_parquet(path)
    ds = remote.Dataset("files")
    assert ds.insert_documents(str(path)) == {"inserted": 400, "updated": 0,
                                              "labels_dropped": {}, "widened": {}}
    out = tmp_path / "out.parquet"
    ds.export_parquet(str(out))
    assert len(pd.read_parquet(out)) == 400
    remote.vector_tools.cluster.kmeans("files", "pixels_vector_", 3)
    report = tmp_path / "report.html"
    remote.vector_tools.cluster.report("files", "pixels_vector_", "kmeans_3", "digit",
                                       path=str(report))
    assert report.stat().st_size > 100_000


def test_a_wrong_key_raises_authentication_error(http_server):
    with cm.Client(url=http_server.url, api_key="cm_00000000_" + "x" * 43) as client, \
            pytest.raises(AuthenticationError, match="not valid"):
        client.list_datasets()
    with cm.Client(url=http_server.url) as client, \
            pytest.raises(AuthenticationError, match="An API key is needed"):
        client.list_datasets()


def test_a_server_that_is_not_there_raises_server_error():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    with cm.Client(url=f"http://127.0.0.1:{port}", api_key="k") as client, \
            pytest.raises(ServerError, match="Cannot reach the clustermetrics server"):
        client.list_datasets()


def test_url_and_key_from_the_environment(http_server, monkeypatch):
    project, key = http_server.new_project("env")
    monkeypatch.setenv("CLUSTERMETRICS_URL", http_server.url)
    monkeypatch.setenv("CLUSTERMETRICS_API_KEY", key)
    with cm.Client() as client:
        assert client.path == http_server.url and repr(client).startswith("Client(url=")
        client.Dataset("e").insert_documents([{"_id": "a", "v_vector_": [1.0, 2.0]}])
    res = CliRunner().invoke(main, ["datasets", "list", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output) == [{"dataset_id": "e", "documents": 1}]
    http_server.state.projects.close(project)


def test_a_path_beats_a_url_from_the_environment(http_server, monkeypatch, tmp_path):
    monkeypatch.setenv("CLUSTERMETRICS_URL", http_server.url)
    path = str(tmp_path / "s.duckdb")
    with cm.Client(path=path) as client:
        assert client.path == path
    res = CliRunner().invoke(main, ["datasets", "list", "--json", "--path", path])
    assert res.exit_code == 0 and json.loads(res.output) == []
    with pytest.raises(cm.InvalidInputError, match="not both"):
        cm.Client(path=path, url=http_server.url)


def test_remote_client_without_httpx_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "httpx", None)
    with pytest.raises(cm.MissingDependencyError, match=r"pip install 'clustermetrics\[server\]'"):
        cm.Client(url="http://127.0.0.1:9", api_key="k")


def test_serve_without_the_extra_names_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "fastapi", None)
    res = CliRunner().invoke(main, ["serve", "--data", str(tmp_path)])
    assert res.exit_code == 1
    assert "pip install 'clustermetrics[server]'" in res.output


# -- keys ----------------------------------------------------------------------------------

def test_keys_create_list_revoke(http_server):
    runner = CliRunner()
    data = ["--data", http_server.data_dir]
    res = runner.invoke(main, ["keys", "create", "--project", "cli-keys", "--json", *data])
    assert res.exit_code == 0, res.output
    made = json.loads(res.output)
    assert made["project"] == "cli-keys" and made["key"].startswith(f"cm_{made['key_id']}_")
    with cm.Client(url=http_server.url, api_key=made["key"]) as client:
        assert client.list_datasets() == []  # the running server knows the key at once
        res = runner.invoke(main, ["keys", "list", "--project", "cli-keys", "--json", *data])
        (row,) = json.loads(res.output)
        assert row == {"key_id": made["key_id"], "project": "cli-keys",
                       "created_at": made["created_at"], "revoked_at": None}
        res = runner.invoke(main, ["keys", "list", "--project", "cli-keys", *data])
        assert made["key_id"] in res.output and made["key"] not in res.output
        res = runner.invoke(main, ["keys", "revoke", made["key_id"], *data])
        assert res.exit_code == 0 and "revoked" in res.output
        with pytest.raises(AuthenticationError):
            client.list_datasets()
    res = runner.invoke(main, ["keys", "revoke", "ffffffff", *data])
    assert res.exit_code == 1 and "key 'ffffffff' not found" in res.output
    res = runner.invoke(main, ["keys", "create", "--project", "a b", *data])
    assert res.exit_code == 1 and "Invalid project name 'a b'" in res.output


def test_keys_create_prints_the_key_once(tmp_path):
    res = CliRunner().invoke(main, ["keys", "create", "--project", "p", "--data",
                                    str(tmp_path)])
    assert res.exit_code == 0
    key = res.output.strip().splitlines()[-1]
    assert key.startswith("cm_") and "shown only now" in res.output


def test_a_project_differing_only_in_case_is_refused(tmp_path):
    """Each project is a file projects/NAME.duckdb: on a case-insensitive disk two names that
    differ in case would share it."""
    def create(project):
        return CliRunner().invoke(main, ["keys", "create", "--project", project, "--data",
                                         str(tmp_path)])

    assert create("Acme").exit_code == 0
    res = create("acme")
    assert res.exit_code == 1
    assert "Project 'acme' differs from the existing project 'Acme' only in case" in res.output
    assert create("Acme").exit_code == 0


def test_serve_command_serves(tmp_path):
    import socket
    data = str(tmp_path / "served")
    key = json.loads(CliRunner().invoke(
        main, ["keys", "create", "--project", "p", "--data", data, "--json"]).output)["key"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "clustermetrics.cli", "serve", "--port",
                             str(port), "--data", data, "--workers", "1"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 60
        while True:
            try:
                if httpx.get(f"{url}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.time() > deadline:  # a bounded wait
                pytest.fail(f"the server did not answer: {proc.stdout.read()}")
            time.sleep(0.1)
        with cm.Client(url=url, api_key=key) as client:
            client.Dataset("d").insert_documents(
                [{"_id": f"x{i}", "v_vector_": np.array([i % 2 + i / 100, 0.0, 1.0])}
                 for i in range(20)])
            client.vector_tools.cluster.kmeans("d", "v_vector_", 2)
            result = client.vector_tools.cluster.metrics("d", "v_vector_", "kmeans_2")
        assert result.counts["n_used"] == 20
        assert os.path.exists(os.path.join(data, "projects", "p.duckdb"))
    finally:
        proc.terminate()
        proc.wait(30)


def test_a_labelling_larger_than_the_json_limit_is_stored(tmp_path):
    """Labels are one per document: their body is limited like an upload (--max-body-mb), not
    like the small JSON bodies (--max-json-mb)."""
    import socket
    import threading
    import time

    import uvicorn

    from clustermetrics import Client
    from clustermetrics.server.app import Settings, create_app

    app = create_app(Settings(data_dir=str(tmp_path / "srv"), max_json_mb=0.05,
                              max_body_mb=64))
    key = app.state.server.keys.create("labels")["key"]
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:  # a bounded wait, not a timing check
        time.sleep(0.01)
    try:
        n = 20_000  # about 250 KB of JSON: over 0.05 MiB
        X = np.random.default_rng(0).normal(size=(n, 2)).astype(np.float32)
        with Client(url=f"http://127.0.0.1:{sock.getsockname()[1]}", api_key=key) as c:
            c.Dataset("big").insert_documents(X, ids=[f"d{i}" for i in range(n)],
                                              vector_field="v_vector_")
            stored = c.vector_tools.cluster.set_cluster_labels(
                "big", "v_vector_", "mine", {f"d{i}": i % 3 for i in range(n)})
            assert stored == n
            sizes = c.vector_tools.cluster.describe_alias("big", "v_vector_", "mine")["sizes"]
            assert sum(sizes.values()) == n and len(sizes) == 3
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
        app.state.server.close()


def test_a_url_with_a_wrong_prefix_is_a_json_404_naming_the_route(http_server):
    """Outside /v1/ a browser gets pages; the client asks for JSON and gets the codec's error."""
    _, key = http_server.new_project("prefix")
    with cm.Client(url=http_server.url + "/api", api_key=key) as client, \
            pytest.raises(cm.NotFoundError, match="No route GET /api/v1/datasets"):
        client.list_datasets()
