"""Property-based fuzzing of every JSON route of the OpenAPI schema (Schemathesis), with the
attacker's key, against the real server of the hostile tests: whatever a request holds, the
answer is never a 5xx, and the server and the victim's data stay as they were."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from clustermetrics import Client

FUZZ_DATASET = "fuzzed"


@pytest.fixture(scope="module")
def operations(server):
    X = np.random.default_rng(0).normal(size=(40, 4)).astype(np.float32)
    with Client(url=server.url, api_key=server.attacker) as c:  # something to find
        c.Dataset(FUZZ_DATASET).insert_documents(
            [{"_id": f"f{i}", "v_vector_": X[i], "g": i % 2, "t": f"word{i % 5}"}
             for i in range(40)])
        c.vector_tools.cluster.set_cluster_labels(FUZZ_DATASET, "v_vector_", "mine",
                                                  {f"f{i}": i % 3 for i in range(40)})
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    # the documents upload takes an Arrow stream, attacked in test_arrow.py; the rest is JSON
    found = [result.ok() for result in schema.get_all_operations()]
    return [op for op in found if not (op.method.upper() == "POST"
                                       and op.path.endswith("/documents"))]


def test_no_json_route_answers_a_5xx(server, operations):
    assert len(operations) > 20  # the schema was read, with its routes
    headers = {"Authorization": f"Bearer {server.attacker}"}
    failures, calls = [], []
    for op in operations:
        @given(case=op.as_strategy())
        @settings(max_examples=8, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def fuzz(case):
            response = case.call(base_url=server.url, headers=headers, timeout=30)
            calls.append(response.status_code)
            if response.status_code >= 500:
                failures.append((case.method, case.path, case.body, response.text[:300]))

        fuzz()
    assert failures == []
    assert len(calls) >= 4 * len(operations)  # each route got several generated requests
    assert any(code < 300 for code in calls)  # and some got through to real work
    server.assert_alive()


def test_after_the_fuzzing_the_server_and_the_victim_are_as_they_were(server):
    # runs after the fuzzing in this module's order; cancel what the fuzzing queued
    with httpx.Client(base_url=server.url,
                      headers={"Authorization": f"Bearer {server.attacker}"}) as http:
        for job in http.get("/v1/jobs").json().get("jobs", []):
            if job["status"] in ("queued", "running"):
                http.delete(f"/v1/jobs/{job['id']}")
    server.assert_alive()
    server.assert_victim_unchanged()
