"""Every route in process, through httpx's ASGI transport: status codes, JSON shapes, auth,
isolation between projects, and bad requests."""

import asyncio
import os
import sqlite3

import httpx
import numpy as np
import pyarrow as pa
import pytest

from clustermetrics.api import codec
from clustermetrics.server.app import ARROW, Settings, create_app

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


class Env:
    """An app on a fresh data directory, two projects with a key each."""

    def __init__(self, tmp_path, **settings):
        self.app = create_app(Settings(data_dir=str(tmp_path / "server"), **settings))
        self.state = self.app.state.server
        self.a = self.state.keys.create("alpha")
        self.b = self.state.keys.create("beta")

    def http(self, key: dict | str | None = "a") -> httpx.AsyncClient:
        if isinstance(key, str) and key in ("a", "b"):
            key = getattr(self, key)["key"]
        elif isinstance(key, dict):
            key = key["key"]
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
        return httpx.AsyncClient(transport=transport, base_url="http://test", headers=headers)


@pytest.fixture
def env(tmp_path):
    env = Env(tmp_path)
    yield env
    env.state.close()


def _docs(n=60, d=4, seed=0):
    rng = np.random.default_rng(seed)
    truth = np.arange(n) % 3
    X = (truth[:, None] * 6.0 + rng.normal(size=(n, d))).astype(np.float32)
    return pa.table({"_id": [f"p{i}" for i in range(n)],
                     "item_vector_": pa.FixedSizeListArray.from_arrays(pa.array(X.ravel()), d),
                     "category": [f"c{t}" for t in truth],
                     "title": [f"product {i}" for i in range(n)]})


async def _insert(http, table=None, dataset="shop", **params):
    return await http.post(f"/v1/datasets/{dataset}/documents",
                           content=codec.to_ipc(table if table is not None else _docs()),
                           headers={"Content-Type": ARROW}, params=params)


async def _job(http, path, body):
    started = await http.post(path, json=body)
    assert started.status_code == 202, started.text
    view = started.json()
    events = list(view["events"])
    while view["status"] not in ("done", "failed", "cancelled"):
        view = (await http.get(f"/v1/jobs/{view['id']}",
                               params={"since": view["next"], "wait": 5})).json()
        events += view["events"]
    return {**view, "events": events}


def _error(response, status, code):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    return error["message"]


# -- health and auth -----------------------------------------------------------------------

async def test_health_needs_no_key(env):
    async with env.http(None) as http:
        r = await http.get("/health")
    assert r.status_code == 200
    assert set(r.json()) == {"status", "version"} and r.json()["status"] == "ok"


async def test_no_key_is_401(env):
    async with env.http(None) as http:
        r = await http.get("/v1/datasets")
    assert "An API key is needed" in _error(r, 401, "unauthorized")
    assert r.headers["WWW-Authenticate"] == "Bearer"


async def test_wrong_key_is_401(env):
    wrong = env.a["key"][:-4] + ("AAAA" if not env.a["key"].endswith("AAAA") else "BBBB")
    async with env.http(wrong) as http:
        r = await http.get("/v1/datasets")
    assert "not valid" in _error(r, 401, "unauthorized")


async def test_malformed_key_is_401(env):
    async with env.http("not-a-key") as http:
        r = await http.get("/v1/datasets")
    assert "not valid" in _error(r, 401, "unauthorized")


async def test_unknown_key_id_is_401(env):
    key = env.a["key"]
    other = "cm_00000000_" + key.split("_", 2)[2]
    async with env.http(other) as http:
        r = await http.get("/v1/datasets")
    _error(r, 401, "unauthorized")


async def test_revoked_key_is_401(env):
    async with env.http("a") as http:
        assert (await http.get("/v1/datasets")).status_code == 200
        env.state.keys.revoke(env.a["key_id"])
        r = await http.get("/v1/datasets")
    _error(r, 401, "unauthorized")


async def test_basic_auth_instead_of_bearer_is_401(env):
    async with env.http(None) as http:
        r = await http.get("/v1/datasets", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    _error(r, 401, "unauthorized")


async def test_another_projects_dataset_is_404_as_a_missing_one(env):
    async with env.http("a") as a, env.http("b") as b:
        assert (await _insert(a)).status_code == 200
        theirs = await b.get("/v1/datasets/shop")
        missing = await b.get("/v1/datasets/nothing")
        assert (await b.get("/v1/datasets")).json() == {"datasets": []}
        assert (await a.get("/v1/datasets")).json() == {"datasets": ["shop"]}
    message = _error(theirs, 404, "not_found")
    assert message == "dataset 'shop' not found. There are no datasets yet."
    assert _error(missing, 404, "not_found") == message.replace("shop", "nothing")


async def test_another_projects_job_is_404(env):
    async with env.http("a") as a, env.http("b") as b:
        await _insert(a)
        view = await _job(a, "/v1/datasets/shop/kmeans", {"vector_field": "item_vector_",
                                                          "k": 3})
        assert (await a.get(f"/v1/jobs/{view['id']}")).status_code == 200
        r = await b.get(f"/v1/jobs/{view['id']}")
        assert (await b.delete(f"/v1/jobs/{view['id']}")).status_code == 404
        assert (await b.get("/v1/jobs")).json() == {"jobs": []}
    assert f"job {view['id']!r} not found" in _error(r, 404, "not_found")


async def test_another_projects_writes_do_not_reach(env):
    async with env.http("a") as a, env.http("b") as b:
        await _insert(a)
        r = await b.post("/v1/datasets/shop/documents/delete", json={"ids": ["p1"]})
        _error(r, 404, "not_found")
        assert (await b.delete("/v1/datasets/shop")).status_code == 404
        assert (await a.get("/v1/datasets/shop/count")).json() == {"count": 60}


async def test_each_project_is_its_own_store_file(env, tmp_path):
    async with env.http("a") as a, env.http("b") as b:
        await _insert(a)
        await _insert(b, _docs(10), dataset="other")
    files = sorted(p.name for p in (tmp_path / "server" / "projects").glob("*.duckdb"))
    assert files == ["alpha.duckdb", "beta.duckdb"]


def test_keys_are_random_and_stored_only_as_hashes(env, tmp_path):
    key = env.a["key"]
    secret = key.split("_", 2)[2]
    assert len(secret) >= 43  # 32 random bytes, base64url: 256 bits
    assert env.b["key"].split("_", 2)[2] != secret
    with sqlite3.connect(tmp_path / "server" / "keys.sqlite") as con:
        stored = con.execute("SELECT * FROM keys").fetchall()
    text = repr(stored)
    assert secret not in text and key not in text
    assert len(stored) == 2 and all(len(row[2]) == 64 for row in stored)  # sha256 hex
    assert [k["key_id"] for k in env.state.keys.list_keys()] == [env.a["key_id"], env.b["key_id"]]
    assert "key" not in env.state.keys.list_keys()[0]


# -- datasets and documents -----------------------------------------------------------------

async def test_documents_round_trip_as_arrow_and_json(env):
    async with env.http() as http:
        r = await _insert(http)
        assert r.status_code == 200
        assert r.json() == {"inserted": 60, "updated": 0, "labels_dropped": {}, "widened": {}}
        r = await _insert(http, _docs(2, seed=1), mode="upsert")
        assert r.json()["inserted"] == 0 and r.json()["updated"] == 2
        assert (await http.get("/v1/datasets")).json() == {"datasets": ["shop"]}
        assert (await http.get("/v1/datasets/shop/count")).json() == {"count": 60}
        schema = (await http.get("/v1/datasets/shop/schema")).json()["schema"]
        assert schema == {"_id": "VARCHAR", "item_vector_": "FLOAT[4]", "category": "VARCHAR",
                          "title": "VARCHAR"}
        info = (await http.get("/v1/datasets/shop")).json()
        assert info["documents"] == 60 and info["aliases"] == []
        r = await http.post("/v1/datasets/shop/documents/get",
                            json={"ids": ["p3", "nope", "p1"], "fields": ["title"]})
        assert r.headers["content-type"] == ARROW
        assert codec.from_ipc(r.content).to_pylist() == [
            {"_id": "p3", "title": "product 3"}, {"_id": "p1", "title": "product 1"}]
        r = await http.post("/v1/datasets/shop/documents/get", json={"ids": ["p3"]},
                            headers={"Accept": "application/json"})
        (doc,) = r.json()["documents"]
        assert doc["title"] == "product 3" and len(doc["item_vector_"]) == 4
        r = await http.get("/v1/datasets/shop/export")
        assert codec.from_ipc(r.content).num_rows == 60
        r = await http.post("/v1/datasets/shop/documents/delete", json={"ids": ["p1", "x"]})
        assert r.json() == {"deleted": 1}
        r = await http.delete("/v1/datasets/shop")
        assert r.status_code == 204
        assert (await http.get("/v1/datasets")).json() == {"datasets": []}


async def test_aliases_labels_distribution_centroids(env):
    async with env.http() as http:
        await _insert(http)
        ids = [f"p{i}" for i in range(60)]
        r = await http.put("/v1/datasets/shop/labels", json={
            "vector_field": "item_vector_", "alias": "mine", "ids": ids,
            "labels": [i % 3 for i in range(60)]})
        assert r.json() == {"labelled": 60}
        aliases = (await http.get("/v1/datasets/shop/aliases")).json()
        assert aliases == [{"vector_field": "item_vector_", "alias": "mine", "clusters": 3,
                            "labelled": 60, "noise": None, "method": "custom"}]
        q = {"vector_field": "item_vector_", "alias": "mine"}
        info = codec.decode((await http.get("/v1/datasets/shop/alias", params=q)).json())
        assert info["sizes"] == {0: 20, 1: 20, 2: 20}
        q2 = {"vector_field": "item_vector_", "cluster_alias": "mine",
              "ground_truth_field": "category"}
        table = codec.decode((await http.get("/v1/datasets/shop/distribution",
                                             params=q2)).json()["value"])
        assert table.to_numpy().sum() == 60 and table.shape == (3, 3)
        q2.pop("ground_truth_field")
        cents = codec.decode((await http.get("/v1/datasets/shop/centroids",
                                             params=q2)).json()["value"])
        assert cents.shape == (3, 4)
        assert (await http.delete("/v1/datasets/shop/alias", params=q)).status_code == 204
        assert (await http.get("/v1/datasets/shop/aliases")).json() == []


# -- jobs -----------------------------------------------------------------------------------

async def test_kmeans_metrics_compare_sweep_report_jobs(env):
    async with env.http() as http:
        await _insert(http)
        view = await _job(http, "/v1/datasets/shop/kmeans",
                          {"vector_field": "item_vector_", "k": 3})
        assert view["status"] == "done" and view["result"]["alias"] == "kmeans_3"
        assert [e[0] for e in view["events"]][:1] == ["reading"]
        view = await _job(http, "/v1/datasets/shop/metrics", {
            "vector_field": "item_vector_", "cluster_alias": "kmeans_3",
            "ground_truth_field": "category"})
        result = codec.decode(view["result"])
        assert result.adjusted_rand == 1.0 and view["op"] == "metrics"
        view = await _job(http, "/v1/datasets/shop/sweep",
                          {"vector_field": "item_vector_", "ks": [2, 3]})
        assert list(codec.decode(view["result"]).table.index) == [2, 3]
        assert view["events"] == [["sweep", 1, 2], ["sweep", 1, 2]]
        view = await _job(http, "/v1/datasets/shop/compare", {
            "vector_field": "item_vector_", "aliases": ["kmeans_2", "kmeans_3"]})
        assert list(codec.decode(view["result"]).table.index) == ["kmeans_2", "kmeans_3"]
        view = await _job(http, "/v1/datasets/shop/report", {
            "vector_field": "item_vector_", "cluster_alias": "kmeans_3",
            "hover_fields": ["title"]})
        data = codec.decode(view["result"])
        assert data.metrics.counts["n_used"] == 60 and len(data.projection.hover) == 60
        jobs = (await http.get("/v1/jobs")).json()["jobs"]
        assert [j["op"] for j in jobs] == ["report", "compare", "sweep", "metrics", "kmeans"]
        assert all("result" not in j or j["result"] is None for j in jobs)
        assert len((await http.get("/v1/jobs", params={"status": "done"})).json()["jobs"]) == 5


@pytest.mark.parametrize("params, refused", [
    ({"n_clusters": 3, "memory": "/tmp/cm-cache-from-a-caller"}, "memory='/tmp/cm-cache-from"),
    ({"n_clusters": 3, "n_jobs": -1}, "n_jobs=-1"),
])
async def test_a_server_refuses_parameters_that_write_files_or_take_every_core(env, params,
                                                                             refused, tmp_path):
    async with env.http() as http:
        await _insert(http)
        r = await http.post("/v1/datasets/shop/fit", json={
            "vector_field": "item_vector_",
            "model": {"cls": "sklearn.cluster.AgglomerativeClustering", "params": params}})
        assert f"Parameter {refused}" in _error(r, 422, "invalid_input")
        assert (await http.get("/v1/jobs")).json() == {"jobs": []}  # nothing queued
    assert not os.path.exists("/tmp/cm-cache-from-a-caller")


async def test_a_server_fits_only_the_models_it_serves(env):
    async with env.http() as http:
        await _insert(http)
        r = await http.post("/v1/datasets/shop/fit", json={
            "vector_field": "item_vector_",
            "model": {"cls": "subprocess.Popen", "params": {"args": ["true"]}}})
        assert "Model class 'subprocess.Popen' is not served here" in _error(
            r, 422, "invalid_input")
        assert (await http.get("/v1/jobs")).json() == {"jobs": []}  # nothing queued
        view = await _job(http, "/v1/datasets/shop/fit", {
            "vector_field": "item_vector_",
            "model": {"cls": "sklearn.cluster.KMeans",
                      "params": {"n_clusters": 3, "n_init": "auto", "random_state": 0}}})
        assert view["status"] == "done", view
        assert view["result"]["method"] == "kmeans"
        assert view["events"][0][0] == "reading"


async def test_a_failed_job_carries_the_error(env):
    async with env.http() as http:
        await _insert(http, _docs(2))
        await http.put("/v1/datasets/shop/labels", json={
            "vector_field": "item_vector_", "alias": "one", "ids": ["p0", "p1"],
            "labels": [0, 0]})
        view = await _job(http, "/v1/datasets/shop/metrics",
                          {"vector_field": "item_vector_", "cluster_alias": "one"})
    assert view["status"] == "failed" and view["error"]["code"] == "invalid_input"


async def test_cancel_a_job(env):
    gate = asyncio.Event()
    async with env.http() as http:
        await _insert(http)
        # hold the workers busy, so the next job stays queued until cancelled
        _ = [env.state.jobs.submit("alpha", "block", {},
                                         lambda progress: _block(gate)) for _ in range(2)]
        started = await http.post("/v1/datasets/shop/kmeans",
                                  json={"vector_field": "item_vector_", "k": 3})
        job_id = started.json()["id"]
        assert started.json()["status"] == "queued"
        r = await http.delete(f"/v1/jobs/{job_id}")
        assert r.status_code == 200 and r.json()["status"] == "cancelled"
        assert r.json()["error"]["code"] == "cancelled"
        gate.set()
        view = (await http.get(f"/v1/jobs/{job_id}", params={"wait": 1})).json()
        assert view["status"] == "cancelled"
        assert (await http.get("/v1/datasets/shop/aliases")).json() == []  # never ran


def _block(gate: asyncio.Event) -> None:
    import time
    deadline = time.time() + 10
    while not gate.is_set() and time.time() < deadline:
        time.sleep(0.01)


async def test_a_running_job_stops_at_its_next_progress_event(env):
    from clustermetrics.errors import CancelledError
    async with env.http() as http:
        job = env.state.jobs.submit("alpha", "steps", {}, _steps)
        while not job.events:
            await asyncio.sleep(0.01)
        r = await http.delete(f"/v1/jobs/{job.id}")
        assert r.json()["cancel_requested"] is True
        view = (await http.get(f"/v1/jobs/{job.id}", params={"wait": 5})).json()
        while view["status"] == "running":
            view = (await http.get(f"/v1/jobs/{job.id}", params={"wait": 5})).json()
    assert view["status"] == "cancelled"
    assert isinstance(codec.decode_error(view["error"]), CancelledError)
    assert len(view["events"]) < 100


def _steps(progress) -> None:
    import time
    for _ in range(100):
        progress("step", 1, 100)
        time.sleep(0.02)


async def test_unknown_job_is_404(env):
    async with env.http() as http:
        r = await http.get("/v1/jobs/abc")
    assert "job 'abc' not found" in _error(r, 404, "not_found")


# -- bad requests ---------------------------------------------------------------------------

async def test_malformed_body_is_422_naming_the_field(env):
    async with env.http() as http:
        await _insert(http)
        r = await http.post("/v1/datasets/shop/kmeans",
                            json={"vector_field": ["item_vector_"], "k": 3})
        assert "field 'vector_field' (body): Input should be a valid string" in _error(
            r, 422, "invalid_input")
        assert r.json()["detail"][0]["loc"] == ["body", "vector_field"]
        assert (await http.get("/health")).status_code == 200


async def test_a_value_the_operation_checks_is_refused_in_its_words(env):
    async with env.http() as http:
        await _insert(http)
        r = await http.post("/v1/datasets/shop/kmeans",
                            json={"vector_field": "item_vector_", "k": "ten"})
    assert _error(r, 422, "invalid_input") == "k must be an integer; got 'ten'."


async def test_missing_field_is_422_naming_it(env):
    async with env.http() as http:
        r = await http.post("/v1/datasets/shop/metrics", json={"vector_field": "v"})
    message = _error(r, 422, "invalid_input")
    assert "field 'cluster_alias' (body): Field required" in message


async def test_unknown_option_is_422_naming_it(env):
    async with env.http() as http:
        r = await http.post("/v1/datasets/shop/metrics", json={
            "vector_field": "v", "cluster_alias": "a", "sampel_size": 10})
    assert "field 'sampel_size' (body): Extra inputs are not permitted" in _error(
        r, 422, "invalid_input")


async def test_body_that_is_not_json_is_422(env):
    async with env.http() as http:
        r = await http.post("/v1/datasets/shop/documents/delete", content=b"{not json",
                            headers={"Content-Type": "application/json"})
    _error(r, 422, "invalid_input")


async def test_bad_query_parameter_is_422_naming_it(env):
    async with env.http() as http:
        r = await _insert(http, mode="replace")
    assert "field 'mode' (query)" in _error(r, 422, "invalid_input")


async def test_body_that_is_not_arrow_is_422_and_writes_nothing(env):
    async with env.http() as http:
        r = await http.post("/v1/datasets/shop/documents", content=b"[1, 2, 3]",
                            headers={"Content-Type": ARROW})
        assert "not a valid Arrow IPC stream" in _error(r, 422, "invalid_input")
        assert (await http.get("/v1/datasets")).json() == {"datasets": []}


async def test_bad_documents_are_422_and_write_nothing(env):
    async with env.http() as http:
        await _insert(http)
        bad = pa.table({"_id": ["new1", "new2"], "item_vector_": [[1.0, 2.0, 3.0, 4.0],
                                                                  [1.0, 2.0]]})
        r = await _insert(http, bad)
        assert "item_vector_" in _error(r, 422, "schema")
        assert (await http.get("/v1/datasets/shop/count")).json() == {"count": 60}
        r = await http.post("/v1/datasets/shop/documents/get", json={"ids": ["new1"]})
        assert codec.from_ipc(r.content).num_rows == 0


async def test_body_over_the_limit_is_413_and_the_server_goes_on(tmp_path):
    env = Env(tmp_path, max_body_mb=0.01)  # 10 KiB
    try:
        async with env.http() as http:
            r = await _insert(http, _docs(600))
            assert "over this server's limit of 0.01 MiB" in _error(r, 413, "too_large")
            assert (await http.get("/v1/datasets")).json() == {"datasets": []}
            assert (await _insert(http, _docs(5))).status_code == 200
    finally:
        env.state.close()


async def test_streamed_body_over_the_limit_is_413(tmp_path):
    env = Env(tmp_path, max_body_mb=0.01)
    blob = codec.to_ipc(_docs(600))

    async def chunks():  # no Content-Length: the limit is counted as the body streams
        for i in range(0, len(blob), 4096):
            yield blob[i:i + 4096]

    try:
        async with env.http() as http:
            r = await http.post("/v1/datasets/shop/documents", content=chunks(),
                                headers={"Content-Type": ARROW})
            _error(r, 413, "too_large")
            assert (await http.get("/v1/datasets")).json() == {"datasets": []}
    finally:
        env.state.close()


async def test_missing_dataset_field_and_alias_are_404_naming_them(env):
    async with env.http() as http:
        await _insert(http)
        body = {"vector_field": "item_vector_", "cluster_alias": "kmeans_3"}
        r = await http.post("/v1/datasets/shoop/metrics", json=body)
        assert "dataset 'shoop' not found. Did you mean 'shop'?" in _error(r, 404, "not_found")
        r = await http.post("/v1/datasets/shop/metrics", json={**body,
                                                               "vector_field": "item_vectr_"})
        assert "vector field 'item_vectr_' not found" in _error(r, 404, "not_found")
        r = await http.post("/v1/datasets/shop/metrics", json=body)
        assert "cluster alias 'kmeans_3' not found" in _error(r, 404, "not_found")
        await _job(http, "/v1/datasets/shop/kmeans", {"vector_field": "item_vector_", "k": 3})
        r = await http.post("/v1/datasets/shop/metrics", json={**body,
                                                               "ground_truth_field": "categ"})
        assert "field 'categ' not found" in _error(r, 404, "not_found")
        assert (await http.get("/v1/jobs", params={"status": "failed"})).json()["jobs"] == []


async def test_unknown_route_is_404(env):
    async with env.http() as http:
        r = await http.get("/v1/nothing/here")
    assert "No route GET /v1/nothing/here" in _error(r, 404, "not_found")


# -- the schema -----------------------------------------------------------------------------

async def test_openapi_schema_is_valid_and_complete(env):
    from fastapi.routing import APIRoute
    from openapi_spec_validator import validate

    async with env.http(None) as http:
        spec = (await http.get("/openapi.json")).json()
    validate(spec)  # a correct OpenAPI 3.1 document
    routes = [r for r in _routes(env.app.routes)
              if isinstance(r, APIRoute) and r.include_in_schema]
    documented = {(path, m.upper()) for path, ops in spec["paths"].items() for m in ops}
    served = {(r.path, m) for r in routes for m in r.methods}
    assert documented == served
    assert all(path.startswith("/v1/") for path, _ in served if path != "/health")
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if path == "/health":
                assert "security" not in op
                continue
            assert op["security"] == [{"HTTPBearer": []}], (path, method)
            for status in ("401", "422"):
                assert status in op["responses"], (path, method, status)
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    body = spec["paths"]["/v1/datasets/{dataset}/documents"]["post"]["requestBody"]
    assert ARROW in body["content"]
    job = spec["paths"]["/v1/datasets/{dataset}/metrics"]["post"]
    assert "202" in job["responses"]
    assert job["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/MetricsRequest")


def _routes(routes):
    for r in routes:
        inner = getattr(r, "original_router", None)  # a router included (FastAPI >= 0.16x)
        yield from _routes(inner.routes) if inner is not None else [r]


async def test_responses_match_their_schemas(env):
    import jsonschema

    async with env.http() as http:
        spec = (await http.get("/openapi.json")).json()
        await _insert(http)
        started = await http.post("/v1/datasets/shop/kmeans",
                                  json={"vector_field": "item_vector_", "k": 3})
        checks = [("/v1/datasets", "get", await http.get("/v1/datasets")),
                  ("/v1/datasets/{dataset}/count", "get",
                   await http.get("/v1/datasets/shop/count")),
                  ("/v1/datasets/{dataset}/schema", "get",
                   await http.get("/v1/datasets/shop/schema")),
                  ("/v1/datasets/{dataset}/kmeans", "post", started),
                  ("/v1/jobs", "get", await http.get("/v1/jobs")),
                  ("/v1/datasets/{dataset}", "get", await http.get("/v1/datasets/nope"))]
    for path, method, response in checks:
        schema = spec["paths"][path][method]["responses"][str(response.status_code)]
        schema = schema["content"]["application/json"]["schema"]
        resolver_spec = {**schema, "components": spec["components"]}
        jsonschema.validate(response.json(), resolver_spec)


def _boom(*args, **kwargs):
    raise RuntimeError("/srv/secret/path.duckdb went away")


async def test_an_unexpected_error_is_logged_and_answered_by_its_incident_id(env, monkeypatch,
                                                                            caplog):
    from clustermetrics.api.local import LocalAPI
    async with env.http() as http:
        await _insert(http)
        monkeypatch.setattr(LocalAPI, "distribution", _boom)
        r = await http.get("/v1/datasets/shop/distribution",
                           params={"vector_field": "item_vector_", "cluster_alias": "x"})
    assert r.status_code == 500
    message = r.json()["error"]["message"]
    assert "secret" not in message and "RuntimeError" not in message
    number = message.split("(incident ")[1].split(")")[0]
    logged = [rec for rec in caplog.records if rec.name == "clustermetrics.server"]
    assert len(logged) == 1 and number in logged[0].getMessage()
    assert "secret/path" in str(logged[0].exc_info[1])


async def test_a_job_failing_unexpectedly_gives_its_incident_id(env, monkeypatch, caplog):
    from clustermetrics.api.local import LocalAPI
    async with env.http() as http:
        await _insert(http)
        await http.put("/v1/datasets/shop/labels", json={
            "vector_field": "item_vector_", "alias": "one", "ids": ["p0", "p1"],
            "labels": [0, 1]})
        monkeypatch.setattr(LocalAPI, "metrics", _boom)
        view = await _job(http, "/v1/datasets/shop/metrics",
                          {"vector_field": "item_vector_", "cluster_alias": "one"})
    assert view["status"] == "failed" and "incident" in view["error"]["message"]
    assert "secret" not in view["error"]["message"]
    assert any(rec.exc_info and "secret/path" in str(rec.exc_info[1])
               for rec in caplog.records if rec.name == "clustermetrics.server")


def test_a_projects_whole_dataset_reads_at_once_are_bounded_and_others_are_not_held():
    from clustermetrics.errors import TooManyJobsError
    from clustermetrics.server.app import ReadSlots
    slots = ReadSlots(2)
    with slots.slot("a"), slots.slot("a"):
        with pytest.raises(TooManyJobsError, match=r"Project 'a' has 2 reads of a whole "
                                                   r"dataset running \(centroids, export\): "
                                                   r"wait for one to finish"), slots.slot("a"):
            pass
        with slots.slot("b"):  # another project has its own
            assert slots.running == {"a": 2, "b": 1}
    with slots.slot("a"):  # let go when each ended
        assert slots.running["a"] == 1
