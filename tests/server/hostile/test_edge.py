"""Attacks on the server's edge: bodies before keys, body limits, a pool of threads to exhaust,
store errors that would name files, file modes, and a Client on a connection that drops.

Each test asserts the status it got, that the server is alive (``/health`` within 2 s) and,
where an attack could reach it, that the victim's project is unchanged.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import threading
import time
import urllib.parse

import httpx
import numpy as np
import pytest

from clustermetrics import Client
from clustermetrics.api.http import HTTPAPI
from clustermetrics.errors import ClusterMetricsError, ServerError

from .conftest import _key

MiB = 2**20


# -- a raw HTTP/1.1 client: send what httpx would not, read what comes back -----------------

def _connect(url: str) -> socket.socket:
    parts = urllib.parse.urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=30)


def _head(method: str, path: str, length: int | None, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """The status, headers and body of one answer (by its Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the server closed the connection without an answer: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    while len(body) < int(headers.get("content-length", 0)):
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


class SlowSender(threading.Thread):
    """Sends ``total`` bytes of body in 64 KiB pieces, a little at a time, until it has sent
    them all or the server closes the connection; ``.sent`` says how far it got."""

    def __init__(self, sock: socket.socket, total: int, pause: float = 0.002):
        super().__init__(daemon=True)
        self.sock, self.total, self.pause, self.sent = sock, total, pause, 0
        self.stopped_by: BaseException | None = None

    def run(self) -> None:
        piece = b"[" + b"1," * (32 * 1024 - 1)
        try:
            while self.sent < self.total:
                self.sock.sendall(piece)
                self.sent += len(piece)
                time.sleep(self.pause)
        except OSError as exc:  # the server closed the connection: the rest was never read
            self.stopped_by = exc


def _error(body: bytes) -> dict:
    return json.loads(body)["error"]


# -- the key before the body -----------------------------------------------------------------

def test_a_60_mib_body_without_a_key_is_401_before_it_is_read(server):
    sock = _connect(server.url)
    sock.sendall(_head("POST", "/v1/datasets/x/documents/delete", 60 * MiB,
                       {"Content-Type": "application/json"}))
    sender = SlowSender(sock, 60 * MiB)
    sender.start()
    try:
        server.assert_alive()  # while the body is still being sent
        with server.http(server.victim) as http:  # another project's work goes on
            assert http.get("/v1/datasets").json()["datasets"] == ["victim_docs"]
        status, headers, body = _read_answer(sock)
        assert status == 401
        assert "An API key is needed" in _error(body)["message"]
        assert headers["connection"] == "close"
        sender.join(60)
        assert sender.sent < 60 * MiB, "the server read the whole body of a request without a key"
    finally:
        sock.close()
    server.assert_alive()
    server.assert_victim_unchanged()


def test_a_wrong_key_is_401_before_the_body_is_read(server):
    sock = _connect(server.url)
    sock.sendall(_head("POST", "/v1/datasets/victim_docs/documents/delete", 60 * MiB,
                       {"Content-Type": "application/json",
                        "Authorization": "Bearer cm_00000000_" + "x" * 43}))
    try:
        status, headers, body = _read_answer(sock)  # not one body byte was sent
    finally:
        sock.close()
    assert status == 401 and headers["www-authenticate"] == "Bearer"
    assert "not valid" in _error(body)["message"]
    server.assert_alive()
    server.assert_victim_unchanged()


def test_a_60_mib_json_body_with_a_key_is_413_naming_the_limit_and_its_option(server):
    sock = _connect(server.url)
    sock.sendall(_head("POST", "/v1/datasets/victim_docs/documents/delete", 60 * MiB,
                       {"Content-Type": "application/json",
                        "Authorization": f"Bearer {server.attacker}"}))
    try:
        status, headers, body = _read_answer(sock)
    finally:
        sock.close()
    assert status == 413 and headers["connection"] == "close"
    error = _error(body)
    assert error["code"] == "too_large"
    assert "limit of 8 MiB (clustermetrics serve --max-json-mb)" in error["message"]
    server.assert_alive()
    server.assert_victim_unchanged()


def test_a_streamed_json_body_is_cut_off_at_the_limit(server):
    def chunks():  # no Content-Length: counted as it comes
        for _ in range(9):
            yield b" " * MiB

    with server.http(server.attacker) as http:
        r = http.post("/v1/datasets/d/documents/delete", content=chunks(),
                      headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert "--max-json-mb" in r.json()["error"]["message"]
    server.assert_alive()
    server.assert_victim_unchanged()


def test_a_big_sign_in_form_is_413(server):
    sock = _connect(server.url)
    sock.sendall(_head("POST", "/login", MiB,
                       {"Content-Type": "application/x-www-form-urlencoded"}))
    try:
        status, headers, body = _read_answer(sock)
    finally:
        sock.close()
    assert status == 413 and headers["content-type"].startswith("text/html")
    assert "The sign-in form is over its limit of 16,384 bytes" in body.decode()
    server.assert_alive()


def test_json_nested_too_deeply_is_422_not_a_crash(server):
    body = b'{"ids": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    with server.http(server.attacker) as http:
        r = http.post("/v1/datasets/d/documents/delete", content=body,
                      headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    assert "could not be read as JSON (nested too deeply" in r.json()["error"]["message"]
    server.assert_alive()


# -- threads: pages and jobs cannot starve the key check or /health -------------------------

def _csrf(page: str, action: str = "/login") -> str:
    import re
    match = re.search(f'action="{action}">.*?name="csrf" value="([^"]+)"', page, re.S)
    assert match, f"no form to {action} with a CSRF token"
    return match.group(1)


def _web_session(server, key: str) -> httpx.Client:
    web = httpx.Client(base_url=server.url, timeout=30)
    token = _csrf(web.get("/login").text)
    r = web.post("/login", data={"key": key, "csrf": token, "next": "/datasets"})
    assert r.status_code == 303
    return web


def test_many_page_views_behind_slow_jobs_leave_the_server_answering(server):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(3000, 32)).astype(np.float32)
    with Client(url=server.url, api_key=server.attacker) as c:
        c.Dataset("slow").insert_documents(X, ids=[f"s{i}" for i in range(len(X))],
                                           vector_field="v_vector_")
        c.vector_tools.cluster.kmeans("slow", "v_vector_", 3)
    with server.http(server.attacker) as http:
        slow = [http.post("/v1/datasets/slow/stability", json={
            "vector_field": "v_vector_", "alias": f"slow_{i}",
            "model": {"cls": "sklearn.cluster.KMeans",
                      "params": {"n_clusters": 8, "n_init": 8, "random_state": i}},
            "n_resamples": 300}).json()["id"] for i in range(2)]  # ~30 s each; cancelled below
    web = _web_session(server, server.attacker)
    cookie = "; ".join(f"{k}={v}" for k, v in web.cookies.items())
    views = []
    try:
        for _ in range(45):  # each waits for its report job, queued behind the slow fits
            sock = _connect(server.url)
            sock.sendall(_head("GET", "/datasets/slow/report?vector_field=v_vector_&alias="
                               "kmeans_3", None, {"Cookie": cookie}))
            views.append(sock)
        with server.http(server.attacker) as http:
            deadline = time.monotonic() + 60
            while len([j for j in http.get("/v1/jobs").json()["jobs"]
                       if j["params"].get("page")]) < 45:
                assert time.monotonic() < deadline, "the page views did not all queue a job"
                time.sleep(0.2)
        server.assert_alive()
        with server.http(server.victim) as http:  # a key check and a route's thread
            assert http.get("/v1/datasets", timeout=10).status_code == 200
        server.assert_victim_unchanged()
    finally:
        for sock in views:  # the browsers go away: their pages cancel their jobs
            sock.close()
        web.close()
    with server.http(server.attacker) as http:
        deadline = time.monotonic() + 60
        while True:
            pages = [j for j in http.get("/v1/jobs").json()["jobs"] if j["params"].get("page")]
            if all(j["status"] == "cancelled" for j in pages):
                break
            assert time.monotonic() < deadline, [j["status"] for j in pages]
            time.sleep(0.2)
        assert len(pages) == 45
        for job_id in slow:
            assert http.delete(f"/v1/jobs/{job_id}").status_code == 200
    server.assert_alive()
    server.assert_victim_unchanged()


# -- containment: errors name no path; files are the server's user's only -------------------

def test_a_store_error_answers_an_incident_id_not_a_path(server):
    key = _key(server.data, "broken")
    with open(os.path.join(server.data, "projects", "broken.duckdb"), "wb") as f:
        f.write(b"this is not a DuckDB file" * 100)
    with server.http(key) as http:
        for _ in range(2):  # and the connection stays usable after the 500
            r = http.get("/v1/datasets")
            assert r.status_code == 500
            message = r.json()["error"]["message"]
            assert "(incident " in message and "server's log" in message
            assert server.data not in message and "duckdb" not in message
            assert http.get("/health").status_code == 200
    number = message.split("(incident ")[1].split(")")[0]
    with open(os.path.join(server.data, "server.log")) as f:
        assert f"incident {number}" in f.read()  # the details stay in the log
    with Client(url=server.url, api_key=key) as c:  # the remote Client: the same error, twice
        for _ in range(2):
            with pytest.raises(ClusterMetricsError, match=r"\(incident [0-9a-f]{12}\)"):
                c.list_datasets()
    server.assert_alive()
    server.assert_victim_unchanged()


def _private(path: str, mode: int) -> None:
    got = stat.S_IMODE(os.stat(path).st_mode)
    assert got == mode, f"{path} is {oct(got)}, not {oct(mode)}"


def test_the_servers_files_are_its_users_only(server, tmp_path):
    with Client(url=server.url, api_key=server.attacker) as c:  # a store with data written
        c.Dataset("modes").insert_documents([{"_id": "a", "x": 1}])
    _private(os.path.join(server.data, "projects"), 0o700)
    _private(os.path.join(server.data, "keys.sqlite"), 0o600)
    made = []
    for root, dirs, files in os.walk(server.data):
        for name in files:
            path = os.path.join(root, name)
            if name not in ("server.log", "broken.duckdb"):  # the tests wrote these
                _private(path, 0o600)
                made.append(name)
        for name in dirs:
            _private(os.path.join(root, name), 0o700)
    assert {"keys.sqlite", "attacker.duckdb", "victim.duckdb"} <= set(made)
    from clustermetrics.server.auth import Keys
    Keys(str(tmp_path / "new" / "data")).close()  # a data folder the server makes
    _private(str(tmp_path / "new" / "data"), 0o700)
    server.assert_alive()


# -- headers ----------------------------------------------------------------------------------

def test_every_answer_has_the_security_headers(server):
    with server.http(server.attacker) as http:
        answers = {"health": http.get("/health"), "api": http.get("/v1/datasets"),
                   "no key": httpx.get(server.url + "/v1/datasets"),
                   "unknown": http.get("/v1/nope"), "login": http.get("/login"),
                   "docs": http.get("/docs"), "page": http.get("/datasets")}
    for name, r in answers.items():
        assert r.headers["x-frame-options"] == "DENY", name
        assert r.headers["x-content-type-options"] == "nosniff", name
        assert r.headers["referrer-policy"] == "same-origin", name
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"], name
    assert answers["no key"].status_code == 401 and answers["unknown"].status_code == 404
    assert answers["api"].headers["content-security-policy"].startswith("default-src 'none'")
    login = answers["login"].headers["content-security-policy"]
    # the pages' one script and stylesheet come from the server; nothing inline runs
    assert "unsafe-inline" not in login and "script-src 'self';" in login
    assert "style-src 'self';" in login
    docs = answers["docs"].headers["content-security-policy"]
    assert "https:" not in docs and "script-src 'self' 'nonce-" in docs
    server.assert_alive()


# -- the remote Client on a connection that drops --------------------------------------------

class DroppingServer(threading.Thread):
    """A tiny HTTP server that answers the first request of each connection (keeping it
    alive) and resets the connection at its second request, as a server or proxy that closed
    an idle kept-alive connection does."""

    def __init__(self, *answers: tuple[int, dict]):
        super().__init__(daemon=True)
        self.answers = [(status, json.dumps(body).encode()) for status, body in answers]
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.requests: list[tuple[int, str]] = []  # (connection number, request line)
        self.connections = 0

    def run(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn, self.connections),
                             daemon=True).start()

    def _serve(self, conn: socket.socket, number: int) -> None:
        served = 0
        data = b""
        while True:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    conn.close()
                    return
                data += chunk
            head, _, data = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            while len(data) < length:
                data += conn.recv(65536)
            data = data[length:]
            self.requests.append((number, head.split(b"\r\n")[0].decode()))
            if served == 1:  # the kept-alive connection is reset: no answer
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00"
                                b"\x00\x00\x00\x00")
                conn.close()
                return
            status, body = self.answers[min(len(self.requests), len(self.answers)) - 1]
            conn.sendall(f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                         f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            served += 1

    def stop(self) -> None:
        self.listener.close()


def test_an_idempotent_request_on_a_reset_connection_is_retried_once():
    dropping = DroppingServer((200, {"datasets": ["a"]}))
    dropping.start()
    api = HTTPAPI(dropping.url, "cm_00000000_" + "x" * 43)
    try:
        assert api.list_datasets() == ["a"]
        assert api.list_datasets() == ["a"]  # reset on connection 1, answered on connection 2
    finally:
        api.close()
        dropping.stop()
    assert dropping.requests == [(1, "GET /v1/datasets HTTP/1.1"),
                                 (1, "GET /v1/datasets HTTP/1.1"),
                                 (2, "GET /v1/datasets HTTP/1.1")]


def test_a_post_on_a_reset_connection_says_it_may_have_been_applied():
    dropping = DroppingServer((200, {"deleted": 1}))
    dropping.start()
    api = HTTPAPI(dropping.url, "cm_00000000_" + "x" * 43)
    try:
        assert api.delete_documents("d", ["a"]) == 1
        with pytest.raises(ServerError, match=r"dropped during POST /v1/datasets/d/documents/"
                                              r"delete .*: the request may or may not have "
                                              r"been applied\. Check"):
            api.delete_documents("d", ["a"])
    finally:
        api.close()
        dropping.stop()
    assert [n for n, _ in dropping.requests] == [1, 1]  # not repeated


def test_a_bug_answers_an_incident_id_and_the_connection_stays_open(tmp_path, caplog):
    """An exception no handler knows (a bug) is answered by the edge: 500 with an incident id,
    not its text; nothing is re-raised to uvicorn, which would drop the kept-alive
    connection."""
    import asyncio

    from clustermetrics.server.app import Settings, create_app

    app = create_app(Settings(data_dir=str(tmp_path / "data")))
    key = app.state.server.keys.create("p")["key"]

    @app.get("/v1/bug")
    def bug() -> None:
        raise RuntimeError(f"secret detail at {tmp_path}")

    async def call():
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            return await http.get("/v1/bug", headers={"Authorization": f"Bearer {key}"})

    try:
        r = asyncio.run(call())  # raise_app_exceptions: a re-raised error would fail here
    finally:
        app.state.server.close()
    assert r.status_code == 500
    message = r.json()["error"]["message"]
    assert "GET /v1/bug (incident " in message and "secret" not in message
    assert str(tmp_path) not in message
    assert "secret detail" in caplog.text  # in the server's log, under the incident id


def test_a_delete_retried_after_a_reset_that_finds_nothing_is_done():
    """The first try may have deleted the dataset before the connection dropped: the retry's
    404 means it is gone, as asked."""
    gone = {"error": {"code": "not_found", "message": "dataset 'd' not found."}}
    dropping = DroppingServer((204, {}), (204, {}), (404, gone))
    dropping.start()
    api = HTTPAPI(dropping.url, "cm_00000000_" + "x" * 43)
    fresh = HTTPAPI(dropping.url, "cm_00000000_" + "x" * 43)
    try:
        api.delete_dataset("d")
        api.delete_dataset("d")  # reset, then retried: 404
        with pytest.raises(ClusterMetricsError, match="dataset 'd' not found"):
            fresh.delete_dataset("d")  # a 404 without a retry is still an error
    finally:
        api.close()
        fresh.close()
        dropping.stop()
    assert [n for n, _ in dropping.requests] == [1, 1, 2, 3]
