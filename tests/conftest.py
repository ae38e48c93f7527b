import numpy as np
import pytest
from sklearn import datasets
from sklearn.cluster import KMeans


def _load(name):
    loader = {"digits": datasets.load_digits, "iris": datasets.load_iris,
              "wine": datasets.load_wine, "breast_cancer": datasets.load_breast_cancer}[name]
    X, y = loader(return_X_y=True)
    km = KMeans(n_clusters=len(np.unique(y)) + 1, n_init=2, random_state=0).fit_predict(X)
    return X, y, km


_CACHE = {}


@pytest.fixture(params=["digits", "iris", "wine", "breast_cancer"])
def real_dataset(request):
    """(name, X, true labels, k-means labels) for each of scikit-learn's bundled datasets."""
    if request.param not in _CACHE:
        _CACHE[request.param] = _load(request.param)
    return (request.param, *_CACHE[request.param])


@pytest.fixture
def blobs():
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=6, size=(4, 8))
    labels = rng.integers(0, 4, 600)
    X = centers[labels] + rng.normal(size=(600, 8))
    return X, labels


API_IMPLEMENTATIONS = ["local", "http"]  # every Client test runs on each


@pytest.fixture(scope="session")
def http_server(tmp_path_factory):
    """A real server (uvicorn, in a thread) on a free loopback port, started once per test
    process; ``.url``, ``.state`` (the app's Server: keys, projects, jobs) and
    ``.new_project()`` -> (project, key)."""
    import socket
    import threading
    import time
    import types
    import uuid

    import uvicorn

    from clustermetrics.server.app import Settings, create_app

    data = tmp_path_factory.mktemp("server")
    # models=None: any importable model class, so that the Client tests' own estimators are
    # fitted remotely too (a server serves the known algorithms only by default: tested apart)
    app = create_app(Settings(data_dir=str(data), workers=2, max_body_mb=64, models=None))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started:  # a bounded wait, not a timing check
        if not thread.is_alive() or time.time() > deadline:
            pytest.fail("the test server did not start")
        time.sleep(0.01)
    state = app.state.server

    def new_project(prefix: str = "t") -> tuple[str, str]:
        made = state.keys.create(f"{prefix}{uuid.uuid4().hex[:12]}")
        return made["project"], made["key"]

    yield types.SimpleNamespace(url=f"http://127.0.0.1:{port}", app=app, state=state,
                                data_dir=str(data), new_project=new_project)
    server.should_exit = True
    thread.join(30)
    sock.close()


@pytest.fixture(params=API_IMPLEMENTATIONS)
def client(request, tmp_path):
    """A Client over each implementation of the API surface, on a fresh store: the embedded
    store, or a fresh project on the test server. ``client.test_store`` is the embedded store
    that holds its data (for http, the project's store inside the in-process test server), for
    tests that look at what was stored."""
    from clustermetrics import Client
    if request.param == "local":
        with Client(path=str(tmp_path / "store.duckdb")) as c:
            c.test_store = c.api.store
            yield c
    else:
        server = request.getfixturevalue("http_server")
        project, key = server.new_project()
        with Client(url=server.url, api_key=key) as c:
            c.test_store = server.state.projects.api(project).store
            yield c
        server.state.projects.close(project)


@pytest.fixture
def cli_args(client):
    """The CLI options that reach ``client``'s data: ``--path STORE`` or ``--url`` and
    ``--api-key``."""
    if hasattr(client.api, "store"):
        return ["--path", client.path]
    return ["--url", client.api.url, "--api-key", client.api.api_key]


@pytest.fixture
def store(client):
    """The embedded store that holds ``client``'s data (see ``client``)."""
    return client.test_store


@pytest.fixture
def digits_docs():
    X, y = datasets.load_digits(return_X_y=True)
    X, y = X[:400], y[:400]
    docs = [{"_id": f"d{i}", "pixels_vector_": X[i], "digit": int(y[i]),
             "meta": {"row": i, "name": f"img {i}"}} for i in range(len(X))]
    return X, y, docs


# Property tests search deterministically, so CI does not meet a new random example by chance;
# HYPOTHESIS_PROFILE=deep searches more widely when run by hand.
from hypothesis import settings  # noqa: E402

settings.register_profile("default", derandomize=True, deadline=None)
settings.register_profile("deep", max_examples=800, deadline=None)
settings.load_profile(__import__("os").environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture
def hold_lock():
    """``hold_lock(path)`` opens the store file from another process and returns its pid; the
    process is ended after the test."""
    import contextlib
    import subprocess
    import sys

    with contextlib.ExitStack() as stack:
        def hold(path: str) -> int:
            proc = subprocess.Popen(
                [sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({path!r}); "
                                       "print('ready', flush=True); time.sleep(60)"],
                stdout=subprocess.PIPE, text=True)
            stack.callback(proc.wait)
            stack.callback(proc.kill)
            assert proc.stdout.readline().strip() == "ready"
            return proc.pid

        yield hold
