"""Results that travel compare equal by value: through the codec (as over HTTP), through
``to_dict``/``from_dict`` and pickles; NaN equals NaN, and a changed value is not equal."""

from __future__ import annotations

import copy
import json
import math
import pickle

import numpy as np
import pytest

import clustermetrics as cm
from clustermetrics import Client
from clustermetrics.api import codec
from clustermetrics.metrics.equality import same_value
from clustermetrics.metrics.result import ClusterMetrics


def _travel(value):
    return codec.decode(json.loads(json.dumps(codec.encode(value), allow_nan=False)))


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=5, size=(3, 4))
    labels = rng.integers(0, 3, 300)
    return centers[labels] + rng.normal(size=(300, 4)), labels


@pytest.fixture(scope="module")
def stored(data, tmp_path_factory):
    X, labels = data
    with Client(path=str(tmp_path_factory.mktemp("eq") / "s.duckdb")) as c:
        ds = c.Dataset("pets")
        ds.insert_documents([{"_id": f"p{i}", "v_vector_": X[i], "kind": f"k{labels[i] % 2}"}
                             for i in range(len(X))])
        ds.kmeans("v_vector_", 3)
        ds.set_cluster_labels("v_vector_", "named", {f"p{i}": ("noise" if i % 7 == 0 else
                                                              f"c{labels[i]}")
                                                     for i in range(len(X))},
                              noise_label="noise")
        yield c


@pytest.mark.parametrize("labels_of", [lambda y: y, lambda y: np.array(["x", "y", "z"])[y]],
                         ids=["int labels", "str labels"])
def test_cluster_metrics_travel_equal(data, labels_of):
    X, labels = data
    result = cm.evaluate(X, labels_of(labels), labels % 2, sample_size=100, random_state=0)
    assert _travel(result) == result
    assert pickle.loads(pickle.dumps(result)) == result
    assert ClusterMetrics.from_dict(result.to_dict()) == result  # was False: identity
    assert ClusterMetrics.from_json(result.to_json()) == result


def test_nan_scores_are_equal_and_a_changed_value_is_not(data):
    X, labels = data
    result = cm.evaluate(X, labels)
    result.scores["adjusted_rand"] = math.nan
    assert _travel(result) == result and ClusterMetrics.from_dict(result.to_dict()) == result
    other = copy.deepcopy(result)
    other.scores["silhouette"] += 1e-12
    assert other != result
    other = copy.deepcopy(result)
    other.per_cluster.iloc[0, 0] += 1
    assert other != result
    assert result != result.to_dict()  # another type is never equal


def test_silhouette_and_contingency_travel_equal(data):
    X, labels = data
    sil = cm.silhouette(X, labels, sample_size=100, random_state=0)
    assert _travel(sil) == sil and sil != cm.silhouette(X, labels)
    table = cm.ContingencyStats().update(labels % 2, labels)
    assert _travel(table) == table
    assert table != cm.ContingencyStats().update(labels % 3, labels)


def test_client_results_travel_equal(stored):
    tools = stored.vector_tools.cluster
    comparison = tools.compare("pets", "v_vector_", ["kmeans_3", "named"], "kind")
    assert _travel(comparison) == comparison
    other = tools.compare("pets", "v_vector_", ["kmeans_3"], "kind")
    assert comparison != other
    data = stored.api.report_data("pets", "v_vector_", "named", "kind", max_points=50)
    assert data.noise_label == "noise" and _travel(data) == data


def test_stability_travels_equal(data):
    from sklearn.cluster import KMeans

    from clustermetrics.clustering import ModelSpec
    from clustermetrics.stability import stability
    X, _ = data
    _, result = stability(ModelSpec.of(KMeans(3, n_init=1, random_state=0)), X,
                          n_resamples=3, random_state=0)
    assert _travel(result) == result
    assert pickle.loads(pickle.dumps(result)) == result


@pytest.mark.parametrize("a,b,equal", [
    (math.nan, math.nan, True), (np.float32(math.nan), math.nan, True), (0.0, -0.0, True),
    (np.array([1.0, math.nan]), np.array([1.0, math.nan]), True),
    (np.array([1, 2]), np.array([1, 2, 3]), False), ((1, 2), [1, 2], False),
    ({"a": math.nan}, {"a": math.nan}, True), ({"a": 1}, {"b": 1}, False),
    (np.array(["x", None], dtype=object), np.array(["x", None], dtype=object), True),
])
def test_same_value(a, b, equal):
    assert same_value(a, b) is equal
