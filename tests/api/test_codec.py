"""Everything that travels comes back equal: results, tables, documents and errors."""

import datetime as dt
import decimal
import json
import pickle

import numpy as np
import pandas as pd
import pytest

import clustermetrics as cm
from clustermetrics import errors
from clustermetrics.api import codec
from clustermetrics.metrics.result import ClusterMetrics


def _travel(value):
    """Through JSON text, as over HTTP."""
    return codec.decode(json.loads(json.dumps(codec.encode(value), allow_nan=False)))


def _same(a, b):
    assert codec.encode(a) == codec.encode(b)


@pytest.fixture
def stored(client, blobs):
    X, labels = blobs
    docs = [{"_id": f"p{i}", "v_vector_": X[i], "kind": ["cat", "dog", "owl"][labels[i] % 3],
             "n": int(labels[i])} for i in range(len(X))]
    client.Dataset("pets").insert_documents(docs)
    client.vector_tools.cluster.kmeans("pets", "v_vector_", 4)
    client.vector_tools.cluster.set_cluster_labels(
        "pets", "v_vector_", "named", {f"p{i}": f"c{labels[i]}" for i in range(len(X))})
    return client


@pytest.mark.parametrize("labels_of", [lambda y: y, lambda y: np.array(["x", "y", "z", "w"])[y]],
                         ids=["int labels", "str labels"])
def test_cluster_metrics_round_trip(blobs, labels_of):
    X, labels = blobs
    result = cm.evaluate(X, labels_of(labels), labels % 2, sample_size=200, random_state=0)
    back = _travel(result)
    _same(back, result)
    assert back.scores == result.scores
    assert back.silhouette_ci == result.silhouette_ci
    pd.testing.assert_frame_equal(back.per_cluster, result.per_cluster)
    np.testing.assert_array_equal(back.silhouette_detail.values, result.silhouette_detail.values)
    assert (back.contingency.table != result.contingency.table).nnz == 0


def test_cluster_metrics_from_dict_keeps_types(blobs):
    X, labels = blobs
    result = cm.evaluate(X, labels, labels % 2)
    data = json.loads(result.to_json())
    assert all(isinstance(r["size"], int) and isinstance(r["cluster"], int)
               for r in data["per_cluster"])
    back = ClusterMetrics.from_dict(data)
    assert back.to_dict() == result.to_dict()
    assert ClusterMetrics.from_json(result.to_json()).to_dict() == result.to_dict()
    assert back.per_cluster["size"].dtype == np.int64


def test_stored_metrics_round_trip(stored):
    tools = stored.vector_tools.cluster
    for alias in ("kmeans_4", "named"):
        result = tools.metrics("pets", "v_vector_", alias, "kind", metric="cosine")
        _same(_travel(result), result)


def test_comparison_and_sweep_round_trip(stored):
    tools = stored.vector_tools.cluster
    for comparison in (tools.compare("pets", "v_vector_", ["kmeans_4", "named"], "kind"),
                       tools.sweep("pets", "v_vector_", k=[2, 3], ground_truth_field="kind")):
        back = _travel(comparison)
        pd.testing.assert_frame_equal(back.table, comparison.table)
        assert back.best == comparison.best and back.title == comparison.title


def test_model_specs_travel_as_class_path_and_params():
    from sklearn.cluster import HDBSCAN
    from sklearn.mixture import GaussianMixture

    from clustermetrics.clustering import ModelSpec
    gm = GaussianMixture(3, means_init=np.zeros((3, 2)), random_state=0)
    for model in (HDBSCAN(min_cluster_size=15), gm):
        spec = ModelSpec.of(model)
        back = _travel(spec)
        _same(back, spec)
        assert type(back) is ModelSpec and back.cls == spec.cls
        assert type(back.build()) is type(model)
    np.testing.assert_array_equal(_travel(ModelSpec.of(gm)).params["means_init"], np.zeros((3, 2)))


def test_a_model_param_that_cannot_travel_is_refused():
    from sklearn.cluster import DBSCAN

    from clustermetrics.clustering import ModelSpec
    with pytest.raises(cm.InvalidInputError, match=r"Cannot encode a builtins\.function"):
        codec.encode(ModelSpec.of(DBSCAN(metric=lambda a, b: 0.0)))


def test_stability_and_fit_results_round_trip(stored):
    from sklearn.cluster import KMeans
    tools = stored.vector_tools.cluster
    info = tools.fit("pets", "v_vector_", KMeans(n_clusters=4, n_init="auto", random_state=0))
    assert _travel(info) == info
    result = tools.stability("pets", "v_vector_", KMeans(n_clusters=4, n_init="auto"),
                             n_resamples=2)
    back = _travel(result)
    _same(back, result)
    pd.testing.assert_frame_equal(back.per_cluster, result.per_cluster)
    np.testing.assert_array_equal(back.jaccard, result.jaccard)
    data = stored.api.report_data("pets", "v_vector_", "kmeans_4", "kind", max_points=50)
    assert data.stability is not None
    _same(_travel(data), data)


def test_sweep_over_a_grid_round_trips_with_its_notes(stored):
    from sklearn.cluster import HDBSCAN
    sweep = stored.vector_tools.cluster.sweep(
        "pets", "v_vector_", model=HDBSCAN(copy=True),
        param_grid={"min_cluster_size": [5, 1000]})
    back = _travel(sweep)
    pd.testing.assert_frame_equal(back.table, sweep.table)
    assert back.notes == sweep.notes and len(back.notes) == 1
    assert back.warnings == sweep.warnings and back.best == sweep.best


@pytest.mark.parametrize("alias", ["kmeans_4", "named"])
@pytest.mark.parametrize("truth", [None, "kind", "n"])
def test_distribution_tables_keep_index_types(stored, alias, truth):
    table = stored.vector_tools.cluster.distribution("pets", "v_vector_", alias, truth)
    back = _travel(table)
    pd.testing.assert_frame_equal(back, table)
    assert [type(v) for v in back.index] == [type(v) for v in table.index]
    assert [type(v) for v in back.columns] == [type(v) for v in table.columns]


def test_centroid_tables_and_alias_descriptions_round_trip(stored):
    tools = stored.vector_tools.cluster
    for alias in ("kmeans_4", "named"):
        pd.testing.assert_frame_equal(
            _travel(tools.centroid_distances("pets", "v_vector_", alias)),
            tools.centroid_distances("pets", "v_vector_", alias))
        info = tools.describe_alias("pets", "v_vector_", alias)
        assert _travel(info) == info
        assert all(type(k) is type(next(iter(info["sizes"]))) for k in _travel(info)["sizes"])
    assert _travel(stored.Dataset("pets").describe()) == stored.Dataset("pets").describe()
    assert _travel(tools.list_aliases("pets")) == tools.list_aliases("pets")


def test_report_data_round_trip(stored):
    data = stored.api.report_data("pets", "v_vector_", "kmeans_4", "kind", max_points=50)
    back = _travel(data)
    _same(back, data)
    np.testing.assert_array_equal(back.projection.coords_2d, data.projection.coords_2d)


def test_documents_with_dates_and_times(client):
    docs = [{"_id": "a", "when": dt.datetime(2026, 11, 29, 12, 30, 5),
             "day": dt.date(2026, 1, 2), "at": dt.time(9, 30), "price": 12.5, "tags": ["x", "y"],
             "v_vector_": [1.0, 2.0]},
            {"_id": "b", "when": None, "day": dt.date(2025, 12, 31), "at": None,
             "price": 0.01, "tags": [], "v_vector_": [0.5, -1.0]}]
    client.Dataset("typed").insert_documents(docs)
    table = client.api.get_documents("typed", ["a", "b"])
    assert codec.from_ipc(codec.to_ipc(table)).equals(table)
    assert _travel(table).equals(table)
    rows = client.Dataset("typed").get_documents(["a", "b"])
    assert _travel(rows) == rows
    assert rows[0]["at"] == dt.time(9, 30) and rows[1]["day"] == dt.date(2025, 12, 31)


def test_decimal_values_are_refused_naming_the_field(client):
    docs = [{"_id": "a", "price": decimal.Decimal("12.50")}]
    with pytest.raises(errors.SchemaError, match=r"Column 'price' has the Arrow type "
                       r"decimal128\(4, 2\), which the store does not hold: convert it to "
                       r"float64, or to a string"):
        client.Dataset("typed").insert_documents(docs)
    assert "typed" not in client.list_datasets()


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -0.0, (1, "a"), {1: "x", "1": 2},
                                   {"__type__": "sneaky"}, np.int64(3), b"\x00\x01",
                                   np.arange(6, dtype=np.float32).reshape(2, 3),
                                   np.array(["a", None, 3], dtype=object)])
def test_plain_values_round_trip(value):
    back = _travel(value)
    assert codec.encode(back) == codec.encode(value)
    assert type(back) is (type(value.item()) if isinstance(value, np.generic) else type(value))


ERROR_CASES = [
    errors.ClusterMetricsError("something"),
    errors.InvalidInputError("bad input"),
    errors.InvalidParameterError("The 'metric' parameter of silhouette_score must be ..."),
    errors.SchemaError("field 'x' of _id 'a' does not fit"),
    errors.NotFoundError("dataset", "prodcts", ["products", "other"]),
    errors.StoreLockedError("The store is open in process 1"),
    errors.StoreError("The store failed"),
    errors.MissingDependencyError("pip install plotly"),
    errors.TooLargeError("The request body is over this server's limit"),
    errors.AuthenticationError("The API key is not valid"),
    errors.CancelledError("Job 1 (metrics) was cancelled."),
    errors.ServerError("Cannot reach the clustermetrics server"),
    errors.LimitError("n_resamples=100000000 is over this server's limit of 1,000"),
    errors.TooManyJobsError("Project 'a' has 100 jobs queued"),
    errors.WorkerCrashedError("The worker process of job 1 (fit) died"),
]


@pytest.mark.parametrize("exc", ERROR_CASES, ids=lambda e: type(e).__name__)
def test_every_error_pickles_and_travels(exc):
    for back in (pickle.loads(pickle.dumps(exc)), _travel(exc)):
        assert type(back) is type(exc)
        assert str(back) == str(exc)
        assert back == exc
    assert codec.encode(exc)["code"] == exc.code


def test_every_error_class_has_its_own_code_and_status():
    classes = [type(e) for e in ERROR_CASES]
    assert set(errors.ERRORS.values()) == set(classes)
    assert len({c.code for c in classes}) == len(classes)
    assert errors.NotFoundError.http_status == 404
    assert errors.InvalidInputError.http_status == 422


def test_not_found_keeps_its_details_across_the_wire():
    exc = errors.NotFoundError("dataset", "prodcts", ["products"])
    back = _travel(exc)
    assert back.existing == ["products"] and "Did you mean 'products'?" in str(back)


def test_unknown_types_are_refused_both_ways():
    with pytest.raises(cm.InvalidInputError, match="Cannot encode"):
        codec.encode(object())
    with pytest.raises(cm.InvalidInputError, match="not a type this version knows"):
        codec.decode({"__type__": "os.system", "state": {}})


def test_a_dataframes_attrs_travel():
    df = pd.DataFrame({"a": [1, 2]})
    df.attrs["no_ground_truth"] = 3
    back = _travel(df)
    assert back.attrs == {"no_ground_truth": 3}
    assert "attrs" not in codec.encode(pd.DataFrame({"a": [1]}))  # none: nothing added
