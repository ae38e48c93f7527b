import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

import clustermetrics as cm
from clustermetrics.metrics import METRIC_INFO
from clustermetrics.metrics.evaluate import ArraySource, evaluate_source


def test_evaluate_equals_the_individual_functions(real_dataset):
    _, X, y, km = real_dataset
    res = cm.evaluate(X, km, y)
    assert res.silhouette == pytest.approx(skm.silhouette_score(X, km), abs=1e-10)
    assert res.calinski_harabasz == pytest.approx(skm.calinski_harabasz_score(X, km), rel=1e-10)
    assert res.davies_bouldin == pytest.approx(skm.davies_bouldin_score(X, km), rel=1e-10)
    assert res.adjusted_rand == pytest.approx(skm.adjusted_rand_score(y, km), abs=1e-12)
    assert res.adjusted_mutual_info == pytest.approx(skm.adjusted_mutual_info_score(y, km),
                                                     abs=1e-10)
    assert res["v_measure"] == pytest.approx(skm.v_measure_score(y, km), abs=1e-12)
    assert res.counts["n_used"] == len(X) and res.counts["n_external"] == len(X)


@pytest.mark.parametrize("metric", ["cosine", "sqeuclidean", "manhattan"])
def test_evaluate_other_metrics(blobs, metric):
    X, labels = blobs
    res = cm.evaluate(X, labels, metric=metric)
    assert res.silhouette == pytest.approx(skm.silhouette_score(X, labels, metric=metric),
                                           abs=1e-10)
    assert res.metric == ("cityblock" if metric == "manhattan" else metric)


def test_without_ground_truth_only_internal_metrics(blobs):
    X, labels = blobs
    res = cm.evaluate(X, labels)
    assert set(res.scores) == {"silhouette", "calinski_harabasz", "davies_bouldin"}
    assert "n_external" not in res.counts


def test_with_ground_truth_every_metric_has_a_description(blobs):
    X, labels = blobs
    res = cm.evaluate(X, labels, labels)
    assert set(res.scores) == set(METRIC_INFO)
    frame = res.to_frame()
    assert frame.loc["adjusted_rand", "value"] == 1.0
    assert frame.loc["davies_bouldin", "better"] == "lower"
    assert (frame["description"].str.len() > 10).all()


def test_missing_labels_and_truth_are_counted(blobs):
    X, labels = blobs
    pred = labels.astype(object)
    pred[:10] = None
    truth = labels.astype(object)
    truth[5:25] = ""
    res = cm.evaluate(X, pred, truth)
    assert res.counts["n_missing_label"] == 10
    assert res.counts["n_used"] == len(X) - 10
    assert res.counts["n_missing_truth"] == 20
    assert res.counts["n_external"] == len(X) - 25  # rows 0..24 lack one or the other
    assert res.adjusted_rand == 1.0


def test_noise_is_excluded_and_reported(blobs):
    X, labels = blobs
    pred = labels.copy()
    pred[::10] = -1
    res = cm.evaluate(X, pred, labels, noise_label=-1)
    assert res.counts["n_noise"] == 60 and res.counts["n_used"] == 540
    keep = pred != -1
    assert res.silhouette == pytest.approx(skm.silhouette_score(X[keep], pred[keep]), abs=1e-12)
    assert res.adjusted_rand == 1.0
    assert "60 noise" in str(res)


def test_sampled_evaluation_reports_its_interval(blobs):
    X, labels = blobs
    res = cm.evaluate(X, labels, sample_size=120, random_state=0)
    lo, hi = res.silhouette_ci
    assert lo <= res.silhouette <= hi
    assert "95% CI" in str(res)
    assert res.counts["n_scored"] < len(X)


def test_views(blobs):
    X, labels = blobs
    res = cm.evaluate(X, labels, np.array(["a", "b", "c", "d"])[labels])
    data = json.loads(res.to_json())
    assert data["scores"]["adjusted_rand"] == 1.0
    assert data["counts"]["n_clusters"] == 4
    assert len(data["per_cluster"]) == 4 and data["per_cluster"][0]["majority_truth"] == "a"
    text = str(res)
    assert "Silhouette" in text and "Adjusted Rand Index" in text and "↑" in text
    html = res._repr_html_()
    assert html.count("<tr>") == 1 + len(res.scores)
    assert isinstance(res.to_frame(), pd.DataFrame)
    assert repr(res).startswith("ClusterMetrics(silhouette=")
    assert res.per_cluster.loc[2, "purity"] == 1.0


def test_no_labelled_sample_is_an_error():
    with pytest.raises(cm.InvalidInputError, match="No samples to evaluate: 3 rows, 3 without"):
        cm.evaluate(np.eye(3), [None, None, None])


def test_no_overlap_with_ground_truth_is_an_error(blobs):
    X, labels = blobs
    with pytest.raises(cm.InvalidInputError,
                       match="No sample has both a cluster label and a ground"):
        cm.evaluate(X, labels, [None] * len(X))


def test_metrics_layer_loads_no_storage_or_web_code():
    # pandas itself may load pyarrow (its string dtype), so pyarrow is not on the list
    code = ("import sys, clustermetrics.metrics, clustermetrics; "
            "bad = [m for m in ('duckdb', 'dask', 'fastapi', 'plotly', 'click', 'rich')"
            " if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_centroids_are_the_cluster_means(blobs):
    X, labels = blobs
    res = cm.evaluate(X, labels)
    for c in range(4):
        np.testing.assert_allclose(res.centroids.loc[c], X[labels == c].mean(axis=0))


@pytest.mark.parametrize("options", [{}, {"sample_size": 100}, {"metric": "cosine"}])
def test_progress_reports_every_row_of_each_stage(blobs, options):
    X, labels = blobs
    seen = {}

    def progress(stage, done, total):
        assert total == len(X)
        seen[stage] = seen.get(stage, 0) + done

    cm.metrics.evaluate_source(cm.metrics.ArraySource(X, labels), progress=progress, **options)
    assert seen == {"statistics": len(X), "silhouette": len(X)}


def test_nan_in_a_row_without_a_label_is_still_refused(blobs):
    """The statistics check the labelled rows on the way; the others get a check of their own."""
    X, labels = blobs
    X = X.copy()
    X[5, 1] = np.nan
    labels = labels.astype(object)
    labels[5] = None
    with pytest.raises(cm.InvalidInputError, match=r"X has NaN or infinite values in 1 row "
                       r"\(5\)"):
        cm.evaluate(X, labels, metric="cosine")


def test_every_non_finite_row_is_named_labelled_or_not(blobs):
    X, labels = blobs
    X = X.copy()
    X[4, 0], X[9, 1] = np.nan, np.inf
    labels = labels.astype(object)
    labels[9] = None
    with pytest.raises(cm.InvalidInputError, match=r"^Input X contains NaN\. X has NaN or "
                       r"infinite values in 2 rows \(first: 4, 9\)"):
        cm.evaluate(X, labels, metric="cosine")


@pytest.mark.parametrize("metric", ["cosine", "sqeuclidean", "euclidean"])
def test_non_finite_rows_in_parts_run_on_several_cores_are_all_named(metric):
    X = np.random.default_rng(0).normal(size=(20_000, 4)).astype(np.float32)
    X[[100, 7000, 15000], 2] = np.nan
    labels = np.arange(20_000) % 3
    with pytest.raises(cm.InvalidInputError, match=r"in 3 rows \(first: 100, 7000, 15000\)"):
        cm.evaluate(X, labels, metric=metric)
    if metric != "euclidean":  # the exact euclidean silhouette checks every row first
        with pytest.raises(cm.InvalidInputError, match=r"in 3 rows \(first: 100, 7000, 15000\)"):
            cm.silhouette_score(X, labels, metric=metric)


@pytest.mark.parametrize("metric", ["cosine", "sqeuclidean", "euclidean", "manhattan"])
@pytest.mark.parametrize("offset", [0.0, 1e6])
def test_calinski_harabasz_from_the_second_pass_equals_sklearn(blobs, metric, offset):
    """Pass 2 sums each member's squared distance to its centroid (scikit-learn's W); pass 1
    keeps the squared deviations only for the squared euclidean silhouette."""
    X, labels = blobs
    X = X + offset
    expected = skm.calinski_harabasz_score(X - offset, labels)  # scikit-learn, near the origin
    for batch_rows in (None, 97):
        result = evaluate_source(ArraySource(X, labels, batch_rows=batch_rows), metric=metric)
        assert result.calinski_harabasz == pytest.approx(expected, rel=1e-10 if not offset
                                                         else 1e-7)
