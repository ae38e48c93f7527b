"""Hostile calls on the inside routes: another project's data, smuggled types, work that
would blow up, a model class the server does not serve."""

import numpy as np
import pytest

from clustermetrics import Client
from clustermetrics.errors import InvalidInputError, NotFoundError

from .conftest import VICTIM_DATASET


@pytest.fixture(scope="module")
def mine(server):
    rng = np.random.default_rng(0)
    with Client(url=server.url, api_key=server.attacker) as c:
        c.Dataset("mine").insert_documents(
            [{"_id": f"m{i}", "emb_vector_": rng.normal(size=4) + 4 * (i % 2),
              "text": "alpha beta gamma delta"} for i in range(40)])
        c.vector_tools.cluster.set_cluster_labels("mine", "emb_vector_", "a",
                                                  {f"m{i}": i % 2 for i in range(40)})
    return server


def test_another_projects_dataset_is_not_found(server):
    with Client(url=server.url, api_key=server.attacker) as c, \
            pytest.raises(NotFoundError, match=f"dataset '{VICTIM_DATASET}' not found"):
        c.vector_tools.cluster.closest(VICTIM_DATASET, "emb_vector_", "a")
    server.assert_alive()
    server.assert_victim_unchanged()


def test_an_edit_of_another_projects_alias_is_not_found(server):
    with server.http(server.attacker) as http:
        r = http.post(f"/v1/datasets/{VICTIM_DATASET}/inside/merge",
                      json={"vector_field": "emb_vector_", "alias": "a",
                            "args": {"groups": [[0, 1]], "new_alias": "x"}})
    assert r.status_code == 404
    assert f"dataset '{VICTIM_DATASET}' not found" in r.json()["error"]["message"]
    server.assert_alive()
    server.assert_victim_unchanged()


def test_long_terms_are_refused_before_any_vocabulary_is_built(mine):
    with Client(url=mine.url, api_key=mine.attacker) as c, \
            pytest.raises(InvalidInputError, match="ngram_range's max must be at most 4"):
        c.vector_tools.cluster.keywords("mine", "emb_vector_", "a", "text",
                                        ngram_range=(1, 10_000))
    mine.assert_alive()
    mine.assert_victim_unchanged()


def test_a_smuggled_result_type_is_refused(mine):
    with mine.http(mine.attacker) as http:
        r = http.post("/v1/datasets/mine/inside/relabel", json={
            "vector_field": "emb_vector_", "alias": "a",
            "args": {"mapping": {"__type__": "Keywords", "state": {"tables": {}}}}})
    assert r.status_code == 422
    assert "args['mapping'] holds an encoded 'Keywords'" in r.json()["error"]["message"]
    mine.assert_alive()
    mine.assert_victim_unchanged()


def test_a_model_class_the_server_does_not_serve_is_refused(mine):
    with mine.http(mine.attacker) as http:
        r = http.post("/v1/datasets/mine/inside/subcluster", json={
            "vector_field": "emb_vector_", "alias": "a", "args": {"cluster": 0},
            "model": {"cls": "os.system", "params": {}}})
    assert r.status_code in (403, 422)
    assert "os.system" in r.json()["error"]["message"]
    mine.assert_alive()
    mine.assert_victim_unchanged()


def test_an_argument_the_call_does_not_take_is_refused(mine):
    with mine.http(mine.attacker) as http:
        r = http.post("/v1/datasets/mine/inside/misfits", json={
            "vector_field": "emb_vector_", "alias": "a", "args": {"progress": "x"}})
    assert r.status_code == 422
    assert "misfits takes no argument 'progress'" in r.json()["error"]["message"]
    mine.assert_alive()
    mine.assert_victim_unchanged()


def test_arrow_with_offsets_beyond_its_data_inside_args_is_refused(mine):
    """An Arrow blob in an object array in the args: the codec would have read it unchecked
    (a segfault that took the server down for every project)."""
    import base64
    import io

    import pyarrow as pa
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, pa.schema([("s", pa.string())])) as writer:
        writer.write_table(pa.table({"s": ["x", "yy", "zzz"]}))
    offsets = np.array([0, 1, 3, 6], dtype=np.int32).tobytes()
    bad = sink.getvalue().replace(offsets, np.array([0, 1, 3, 60_000_000],
                                                    dtype=np.int32).tobytes())
    arg = {"__type__": "ndarray", "dtype": "object", "shape": [1],
           "data": [{"__type__": "arrow", "ipc": base64.b64encode(bad).decode()}]}
    with mine.http(mine.attacker) as http:
        r = http.post("/v1/datasets/anything/inside/closest",
                      json={"vector_field": "v", "alias": "a", "args": {"fields": arg}})
    assert r.status_code == 422
    assert "args['fields'] holds a malformed 'ndarray' encoding" in r.json()["error"]["message"]
    mine.assert_alive()
    mine.assert_victim_unchanged()


@pytest.mark.parametrize(("op", "args"), [
    ("closest", {"n": 10**12}), ("furthest", {"n": 10**12}), ("misfits", {"n": 10**12}),
    ("keywords", {"text_field": "text", "n": 10**12}), ("aggregate", {"top": 10**12}),
    ("truth", {"ground_truth_field": "text", "top": 10**12})])
def test_an_answer_sized_past_the_limit_is_refused(mine, op, args):
    with mine.http(mine.attacker) as http:
        r = http.post(f"/v1/datasets/mine/inside/{op}", json={
            "vector_field": "emb_vector_", "alias": "a", "args": args})
    assert r.status_code == 422
    name = "n" if "n" in args else "top"
    assert (f"{name}=1,000,000,000,000 is over this server's limit of 1,000 "
            "(clustermetrics serve --max-items raises it)") in r.json()["error"]["message"]
    mine.assert_alive()
    mine.assert_victim_unchanged()
