"""The same mistake gives the same error, in the same words, embedded and remote: the server
checks a request's values with the functions the embedded call uses (issue 18 item 11)."""

from __future__ import annotations

import numpy as np
import pytest

from clustermetrics import Client, errors


@pytest.fixture(scope="module")
def pair(http_server, tmp_path_factory):
    """An embedded Client and a remote one, each holding dataset 'd' with alias 'kmeans_3'."""
    X = np.random.default_rng(4).normal(size=(40, 4))
    docs = [{"_id": f"d{i}", "v_vector_": X[i], "g": i % 2} for i in range(40)]
    _, key = http_server.new_project()
    local = Client(path=str(tmp_path_factory.mktemp("same") / "store.duckdb"))
    remote = Client(url=http_server.url, api_key=key)
    for c in (local, remote):
        c.Dataset("d").insert_documents(docs)
        c.vector_tools.cluster.kmeans("d", "v_vector_", 3)
    yield local, remote
    local.close()
    remote.close()


CASES = {
    "noise drop": lambda t: t.metrics("d", "v_vector_", "kmeans_3", noise="drop"),
    "noise without label": lambda t: t.metrics("d", "v_vector_", "kmeans_3", noise="cluster"),
    "noise drop in compare": lambda t: t.compare("d", "v_vector_", ["kmeans_3"], noise="drop"),
    "sample_size 0": lambda t: t.metrics("d", "v_vector_", "kmeans_3", sample_size=0),
    "sample_size text": lambda t: t.metrics("d", "v_vector_", "kmeans_3", sample_size="10"),
    "metric unknown": lambda t: t.metrics("d", "v_vector_", "kmeans_3", metric="nope"),
    "working_memory negative": lambda t: t.metrics("d", "v_vector_", "kmeans_3",
                                                   working_memory=-1),
    "working_memory text": lambda t: t.metrics("d", "v_vector_", "kmeans_3",
                                               working_memory="x"),
    "k text": lambda t: t.kmeans("d", "v_vector_", "five"),
    "k fraction": lambda t: t.kmeans("d", "v_vector_", 2.5),
    "k bool": lambda t: t.kmeans("d", "v_vector_", True),
    "k too large": lambda t: t.kmeans("d", "v_vector_", 40),
    "ks with text": lambda t: t.sweep("d", "v_vector_", [2, "x"]),
    "seed text in kmeans": lambda t: t.kmeans("d", "v_vector_", 3, random_state="x"),
    "seed text in metrics": lambda t: t.metrics("d", "v_vector_", "kmeans_3", sample_size=10,
                                                random_state="x"),
    "seed negative in sweep": lambda t: t.sweep("d", "v_vector_", [2], random_state=-1),
    "seed huge in compare": lambda t: t.compare("d", "v_vector_", ["kmeans_3"],
                                                random_state=2**40),
    "labels mixed": lambda t: t.set_cluster_labels(
        "d", "v_vector_", "mixed", {"d0": "a", "d1": -1}, noise_label=-1),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_same_mistake_reads_the_same_embedded_and_remote(pair, case):
    local, remote = pair
    with pytest.raises(errors.ClusterMetricsError) as embedded:
        CASES[case](local.vector_tools.cluster)
    with pytest.raises(errors.ClusterMetricsError) as over_http:
        CASES[case](remote.vector_tools.cluster)
    assert type(over_http.value) is type(embedded.value)
    assert str(over_http.value) == str(embedded.value)
    assert not str(embedded.value).startswith("Malformed request")


@pytest.mark.parametrize("options, words", [
    ({"max_points": 0}, "max_points must be a positive integer; got 0."),
    ({"projection": "umap"}, "projection='umap' is not one of pca, tsne."),
    ({"random_state": "x"}, "random_state must be an integer from 0 to 4294967295, or None; "
                            "got 'x'."),
], ids=["max_points", "projection", "random_state"])
def test_report_options_read_the_same_embedded_and_remote(pair, options, words):
    for c in pair:
        with pytest.raises(errors.InvalidInputError) as caught:
            c.api.report_data("d", "v_vector_", "kmeans_3", **options)
        assert str(caught.value) == words
