"""Hostile JSON values: NaN and infinity, nesting, NUL characters, huge integers, strings where
names or numbers are expected. Each is a 422 (or, where only the data can tell, a failed job)
naming the field, never a 500; the server lives on and the victim's data is unchanged."""

from __future__ import annotations

import json
import re
import time

import numpy as np
import pytest


@pytest.fixture(scope="module")
def data(server):
    """The attacker's dataset of 40 vectors with a k-means alias, to aim requests at."""
    from clustermetrics import Client
    X = np.random.default_rng(2).normal(size=(40, 4))
    with Client(url=server.url, api_key=server.attacker) as c:
        c.Dataset("mine").insert_documents(
            [{"_id": f"m{i}", "v_vector_": X[i], "g": i % 2} for i in range(40)])
        c.vector_tools.cluster.kmeans("mine", "v_vector_", 3)
    return "/v1/datasets/mine"


def _send(server, method: str, path: str, text: str):
    with server.http(server.attacker) as http:
        return http.request(method, path, content=text,
                            headers={"Content-Type": "application/json"})


def _refused(server, response, pattern: str, status: int = 422) -> None:
    assert response.status_code == status, response.text
    message = response.json()["error"]["message"]
    assert re.search(pattern, message), message
    server.assert_alive()
    server.assert_victim_unchanged()


def _failed_job(server, response, pattern: str) -> None:
    """A request only the data can refuse: the job fails with the embedded call's words."""
    assert response.status_code == 202, response.text
    view = response.json()
    deadline = time.monotonic() + 60  # a bound on the wait, not a timing check
    with server.http(server.attacker) as http:
        while view["status"] not in ("done", "failed", "cancelled"):
            assert time.monotonic() < deadline, view
            view = http.get(f"/v1/jobs/{view['id']}", params={"wait": 5}).json()
    assert view["status"] == "failed", view
    assert re.search(pattern, view["error"]["message"]), view["error"]["message"]
    server.assert_alive()
    server.assert_victim_unchanged()


V = '"vector_field": "v_vector_"'


@pytest.mark.parametrize("value, shown", [("NaN", "nan"), ("Infinity", "inf"),
                                          ("-Infinity", "-inf"), ("1e400", "inf")])
def test_a_non_finite_k_is_422_naming_it(server, data, value, shown):
    r = _send(server, "POST", f"{data}/kmeans", f'{{{V}, "k": {value}}}')
    _refused(server, r, rf"^Malformed request: field 'k' is {shown}, which is not a JSON "
                        r"number; send a finite number")


def test_nan_inside_model_parameters_is_422_naming_the_parameter(server, data):
    r = _send(server, "POST", f"{data}/fit",
              f'{{{V}, "model": {{"cls": "sklearn.cluster.KMeans", '
              f'"params": {{"n_clusters": NaN}}}}}}')
    _refused(server, r, r"field 'model.params.n_clusters' is nan, which is not a JSON number")


def test_nan_in_labels_and_noise_label_is_422_naming_them(server, data):
    r = _send(server, "PUT", f"{data}/labels", f'{{{V}, "alias": "x", "ids": ["m1"], '
                                               f'"labels": [1], "noise_label": NaN}}')
    _refused(server, r, r"field 'noise_label' is nan")
    r = _send(server, "PUT", f"{data}/labels",
              f'{{{V}, "alias": "x", "ids": ["m1"], "labels": [Infinity]}}')
    _refused(server, r, r"field 'labels.0' is inf")


def test_a_body_nested_beyond_what_json_reads_is_422(server, data):
    deep = "[" * 100_000 + "]" * 100_000
    r = _send(server, "POST", f"{data}/kmeans", f'{{{V}, "k": {deep}}}')
    _refused(server, r, r"^Malformed request: the body could not be read as JSON \(nested too "
                        r"deeply, or a number too long\)")


def test_a_value_nested_deeper_than_32_levels_is_422_naming_it(server, data):
    grid = "[" * 40 + "2" + "]" * 40
    r = _send(server, "POST", f"{data}/sweep-grid",
              f'{{{V}, "model": {{"cls": "sklearn.cluster.KMeans"}}, '
              f'"param_grid": {{"n_clusters": {grid}}}}}')
    _refused(server, r, r"field 'param_grid.n_clusters(\.0)+' nests lists or objects deeper "
                        r"than 32 levels")


def test_a_nul_in_a_json_field_name_is_422_naming_it(server, data):
    r = _send(server, "POST", f"{data}/kmeans", f'{{{V}, "k": 3, "\\u0000": 1}}')
    _refused(server, r, r"field '\\x00' \(body\): Extra inputs are not permitted")


def test_a_nul_in_a_dataset_name_is_refused(server):
    import pyarrow as pa

    from clustermetrics.api.codec import to_ipc
    with server.http(server.attacker) as http:
        r = http.get("/v1/datasets/bad%00name/count")
        _refused(server, r, r"dataset 'bad\\x00name' not found", status=404)
        r = http.post("/v1/datasets/bad%00name/documents", content=to_ipc(pa.table({"_id": ["a"]})),
                      headers={"Content-Type": "application/vnd.apache.arrow.stream"})
    _refused(server, r, r"Invalid dataset name 'bad\\x00name'")


def test_a_huge_k_is_over_the_servers_limit(server, data):
    r = _send(server, "POST", f"{data}/kmeans", f'{{{V}, "k": {10**100}}}')
    _refused(server, r, r"^k=10,000,0.* is over this server's limit of 10,000 \(clustermetrics "
                        r"serve --max-clusters raises it\)")


def test_a_k_within_the_limit_but_over_the_documents_fails_the_job_naming_the_range(server,
                                                                                    data):
    r = _send(server, "POST", f"{data}/kmeans", f'{{{V}, "k": 500}}')
    _failed_job(server, r, r"^k must be from 2 to 39 for the 40 documents")


def test_a_huge_label_is_422_naming_the_id(server, data):
    r = _send(server, "PUT", f"{data}/labels",
              f'{{{V}, "alias": "x", "ids": ["m1"], "labels": [{10**30}]}}')
    _refused(server, r, r"The label of _id 'm1' \(10{30}\) is beyond 64-bit integers")


def test_a_number_longer_than_python_reads_is_422(server, data):
    r = _send(server, "POST", f"{data}/kmeans", f'{{{V}, "k": {"9" * 5000}}}')
    _refused(server, r, r"^Malformed request: (the body could not be read as JSON|field)")


@pytest.mark.parametrize("body, pattern", [
    ('{"vector_field": ["v_vector_"], "k": 3}',
     r"field 'vector_field' \(body\): Input should be a valid string"),
    (f'{{{V}, "k": 3, "alias": 5}}', r"field 'alias' \(body\): Input should be a valid string"),
    (f'{{{V}, "k": "five"}}', r"^k must be an integer; got 'five'\.$"),
    (f'{{{V}, "k": [3]}}', r"^k must be an integer; got \[3\]\.$"),
    ('"just a string"', r"field 'body' \(body\): Input should be a valid dictionary"),
], ids=["list for a name", "number for a name", "string for k", "list for k", "not an object"])
def test_wrong_kinds_of_value_are_422_naming_the_field(server, data, body, pattern):
    _refused(server, _send(server, "POST", f"{data}/kmeans", body), pattern)


@pytest.mark.parametrize("text", ["NaN", "[" * 5000 + "]" * 5000, "[1, 2]", "{}"],
                         ids=["nan", "deep", "list", "object"])
def test_a_bad_noise_label_in_a_query_is_422(server, data, text):
    with server.http(server.attacker) as http:
        r = http.get(f"{data}/centroids", params={
            "vector_field": "v_vector_", "cluster_alias": "kmeans_3", "noise_label": text})
    _refused(server, r, r"field 'noise_label' \(query\) must be a JSON number or string")


def test_labels_mixing_numbers_and_strings_are_422_naming_the_ids(server, data):
    r = _send(server, "PUT", f"{data}/labels",
              f'{{{V}, "alias": "named", "ids": ["m1", "m2"], "labels": ["a", -1]}}')
    _refused(server, r, r"Labels mix numbers and strings \(_id 'm2': -1; _id 'm1': 'a'\); "
                        r"give every label one kind")


@pytest.mark.parametrize("alias", ["a\x00b", "ab\n", "../../x", "<script>", "ｆｕｌｌ"])
def test_a_bad_alias_for_a_fit_is_422_at_once(server, data, alias):
    body = json.dumps({"vector_field": "v_vector_", "k": 2, "alias": alias})
    r = _send(server, "POST", f"{data}/kmeans", body)
    _refused(server, r, r"^Invalid alias .*: use letters, digits, '_' and '-' \(at most 128\)\.")
