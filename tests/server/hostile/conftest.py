"""A real server for the hostile tests: ``clustermetrics serve`` in its own process under a
memory limit, on a free loopback port, with two projects: the attacker's key and a victim
project holding a dataset that no attack may change or slow.

Every hostile test asserts the status it got, then ``server.assert_alive()`` (``/health``
answers within 2 s) and ``server.assert_victim_unchanged()``. The server process is started
per module and stopped (by its own pid) when the module ends.
"""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import time
import types

import httpx
import numpy as np
import pytest

MEMORY_LIMIT = 4 * 2**30  # the server's address space: an allocation beyond it fails in there
VICTIM_DATASET = "victim_docs"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _limit_memory() -> None:  # runs in the child before exec
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _key(data: str, project: str) -> str:
    out = subprocess.run([sys.executable, "-m", "clustermetrics", "keys", "create", "--data",
                          data, "--project", project, "--json"], capture_output=True, text=True,
                         check=True, timeout=60)
    import json
    return json.loads(out.stdout)["key"]


def start_server(data: str, *extra: str) -> types.SimpleNamespace:
    """Start ``clustermetrics serve`` on ``data`` with ``extra`` options; returns its url,
    process and log file."""
    port = _free_port()
    log = open(os.path.join(data, "server.log"), "ab")  # noqa: SIM115 (closed in stop())
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "clustermetrics", "serve", "--data", data, "--port", str(port),
         "--workers", "2", "--blas-threads", "1", *extra],
        stdout=log, stderr=subprocess.STDOUT, env=env, preexec_fn=_limit_memory)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:  # a bounded wait for the port, not a timing check
        if proc.poll() is not None:
            log.close()
            with open(os.path.join(data, "server.log")) as f:
                pytest.fail(f"the server exited with {proc.returncode}: {f.read()[-2000:]}")
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.time() > deadline:
            proc.kill()
            pytest.fail("the server did not start within 60 s")
        time.sleep(0.1)

    def stop() -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        log.close()

    return types.SimpleNamespace(url=url, proc=proc, stop=stop, port=port)


@pytest.fixture(scope="module")
def server(request, tmp_path_factory):
    """The server under attack: ``.url``, ``.attacker`` (a key of project ``attacker``),
    ``.victim`` (a key of project ``victim``), ``.http(key)`` (an httpx.Client with that key),
    ``.assert_alive()``, ``.assert_victim_unchanged()``, ``.data`` (its folder), ``.proc``.
    A test module's ``SERVE_OPTIONS`` (a list) are passed to ``clustermetrics serve``."""
    data = str(tmp_path_factory.mktemp("hostile"))
    attacker, victim = _key(data, "attacker"), _key(data, "victim")
    running = start_server(data, *getattr(request.module, "SERVE_OPTIONS", ()))

    from clustermetrics import Client
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 8)).astype(np.float32)
    with Client(url=running.url, api_key=victim) as c:
        c.Dataset(VICTIM_DATASET).insert_documents(
            X, ids=[f"v{i}" for i in range(len(X))], vector_field="emb_vector_")
        before = c.Dataset(VICTIM_DATASET).get_documents([f"v{i}" for i in range(len(X))])

    def http(key: str | None = None, **kw) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=running.url, headers=headers, timeout=kw.pop("timeout", 30),
                            **kw)

    def assert_alive() -> None:
        assert running.proc.poll() is None, "the server process died"
        started = time.monotonic()
        r = httpx.get(running.url + "/health", timeout=2)
        assert r.status_code == 200
        assert time.monotonic() - started < 2, "/health took over 2 s"

    def assert_victim_unchanged() -> None:
        with Client(url=running.url, api_key=victim) as c:
            after = c.Dataset(VICTIM_DATASET).get_documents([f"v{i}" for i in range(len(X))])
        assert len(after) == len(before)
        for a, b in zip(after, before, strict=True):
            assert a["_id"] == b["_id"]
            np.testing.assert_array_equal(a["emb_vector_"], b["emb_vector_"])

    yield types.SimpleNamespace(url=running.url, proc=running.proc, data=data,
                                attacker=attacker, victim=victim, http=http,
                                assert_alive=assert_alive,
                                assert_victim_unchanged=assert_victim_unchanged)
    running.stop()
