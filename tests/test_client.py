import warnings

import numpy as np
import pytest
from sklearn import metrics as skm

import clustermetrics as cm
from clustermetrics.engine.local import StoreSource
from clustermetrics.errors import InvalidParameterError
from clustermetrics.metrics.evaluate import evaluate_source


@pytest.fixture
def digits(client, digits_docs):
    X, y, docs = digits_docs
    client.Dataset("digits").insert_documents(docs)
    client.vector_tools.cluster.kmeans("digits", "pixels_vector_", 10)
    return X, y


def _stored_labels(client, alias="kmeans_10"):
    table = client.api.export_documents("digits").read_all()  # in stored order
    return np.array(table.column(f"_cluster_.pixels_vector_.{alias}").to_pylist(), dtype=object)


def test_insert_kmeans_metrics_equals_evaluate(client, digits):
    X, y = digits
    labels = _stored_labels(client).astype(int)
    result = client.vector_tools.cluster.metrics(
        dataset_id="digits", vector_field="pixels_vector_", cluster_alias="kmeans_10",
        ground_truth_field="digit")
    expected = cm.evaluate(X.astype(np.float32), labels, y)
    assert result.scores == pytest.approx(expected.scores, abs=1e-12)
    assert result.silhouette == pytest.approx(skm.silhouette_score(X.astype(np.float32), labels),
                                              abs=1e-5)
    assert result.source == {"dataset_id": "digits", "vector_field": "pixels_vector_",
                             "cluster_alias": "kmeans_10", "ground_truth_field": "digit"}


def test_without_ground_truth_only_internal_metrics(client, digits):
    result = client.vector_tools.cluster.metrics("digits", "pixels_vector_", "kmeans_10")
    assert set(result.scores) == {"silhouette", "calinski_harabasz", "davies_bouldin"}


@pytest.mark.parametrize("cache_mb", [0, 64])  # every pass read from DuckDB, or kept
@pytest.mark.parametrize("metric", ["cosine", "sqeuclidean", "manhattan"])
def test_streamed_in_small_batches_equals_one_shot(client, store, digits, metric, cache_mb):
    X, y = digits
    labels = _stored_labels(client).astype(int)
    source = StoreSource(store, "digits", "pixels_vector_",
                         "_cluster_.pixels_vector_.kmeans_10", "digit", dim=64, batch_rows=37,
                         cache_mb=cache_mb)
    streamed = evaluate_source(source, metric=metric)
    one_shot = cm.evaluate(X.astype(np.float32), labels, y, metric=metric)
    # float32 vectors: the linear silhouette's GEMMs run in float32, whose rounding depends on
    # how rows are grouped (README: float32 policy), so equal to float32 precision: on these
    # integer pixels each side's per-sample values are within 1.5e-6 of the float64 ones
    assert streamed.scores == pytest.approx(one_shot.scores, rel=1e-6, abs=1e-9)
    np.testing.assert_allclose(streamed.silhouette_detail.values,
                               one_shot.silhouette_detail.values, atol=3e-6)
    assert (source._cache is not None) == (cache_mb > 0)


def test_custom_labels_inside_documents(client):
    rng = np.random.default_rng(0)
    docs = [{"_id": f"p{i}", "v_vector_": rng.normal(size=3) + (i % 2) * 5, "kind": f"k{i % 2}",
             "_cluster_": {"v_vector_": {"mine": f"c{i % 2}"}}} for i in range(40)]
    client.Dataset("p").insert_documents(docs)
    aliases = client.vector_tools.cluster.list_aliases("p")
    assert aliases == [{"vector_field": "v_vector_", "alias": "mine", "clusters": 2,
                        "labelled": 40, "noise": None, "method": "custom"}]
    result = client.vector_tools.cluster.metrics("p", "v_vector_", "mine", "kind")
    assert result.adjusted_rand == 1.0


def test_set_cluster_labels_and_missing_labels_are_counted(client, digits):
    X, y = digits
    ids = [f"d{i}" for i in range(300)]  # the last 100 documents get no label
    labels = {i: int(y[n]) % 3 for n, i in enumerate(ids)}
    client.vector_tools.cluster.set_cluster_labels("digits", "pixels_vector_", "mod3", labels)
    client.Dataset("digits").upsert_documents([{"_id": "d0", "digit": None},
                                               {"_id": "d1", "meta": {"row": -1}}])
    result = client.vector_tools.cluster.metrics("digits", "pixels_vector_", "mod3", "digit")
    assert result.counts["n_missing_label"] == 100
    assert result.counts["n_used"] == 300
    assert result.counts["n_external"] == 300  # upsert with null keeps the stored digit
    expected = cm.evaluate(X[:300].astype(np.float32), y[:300] % 3, y[:300])
    assert result.scores == pytest.approx(expected.scores, abs=1e-12)


def test_set_cluster_labels_is_all_or_nothing(client, digits):
    with pytest.raises(cm.InvalidInputError, match=r"1 labelled ids are not in dataset 'digits' "
                                                   r"\(first: 'ghost'\)"):
        client.vector_tools.cluster.set_cluster_labels(
            "digits", "pixels_vector_", "kmeans_10", {"d0": 99, "ghost": 1})
    assert 99 not in set(_stored_labels(client))


def test_noise_label_from_store(client):
    rng = np.random.default_rng(1)
    docs = [{"_id": str(i), "v_vector_": rng.normal(size=2) + (i % 3) * 4} for i in range(90)]
    client.Dataset("n").insert_documents(docs)
    labels = {str(i): (-1 if i % 10 == 0 else i % 3) for i in range(90)}
    client.vector_tools.cluster.set_cluster_labels("n", "v_vector_", "hdb", labels)
    result = client.vector_tools.cluster.metrics("n", "v_vector_", "hdb", noise_label=-1)
    assert result.counts["n_noise"] == 9 and result.counts["n_used"] == 81


def test_distribution_and_centroid_distances(client, digits):
    X, y = digits
    tools = client.vector_tools.cluster
    sizes = tools.distribution("digits", "pixels_vector_", "kmeans_10")
    labels = _stored_labels(client).astype(int)
    assert sizes["size"].tolist() == np.bincount(labels).tolist()
    joint = tools.distribution("digits", "pixels_vector_", "kmeans_10", "digit")
    np.testing.assert_array_equal(joint.to_numpy(), cm.contingency_matrix(labels, y))
    dist = tools.centroid_distances("digits", "pixels_vector_", "kmeans_10")
    means = np.array([X[labels == c].mean(axis=0) for c in range(10)])
    assert dist.shape == (10, 10)
    assert dist.loc[0, 1] == pytest.approx(np.linalg.norm(means[0] - means[1]), rel=1e-5)
    info = tools.describe_alias("digits", "pixels_vector_", "kmeans_10")
    assert info["method"] == "kmeans" and info["params"]["k"] == 10


def test_the_original_sdks_keywords_are_accepted(client, digits):
    tools = client.vector_tools.cluster
    joint = tools.distribution("digits", "pixels_vector_", "kmeans_10", "digit")
    by_class = tools.distribution("digits", "pixels_vector_", "kmeans_10", "digit",
                                  transpose=True)
    np.testing.assert_array_equal(by_class.to_numpy(), joint.to_numpy().T)
    assert list(by_class.index) == list(joint.columns)
    assert by_class.attrs == joint.attrs
    assert client.Dataset("digits").distribution("pixels_vector_", "kmeans_10", "digit",
                                                 transpose=True).equals(by_class)
    l2 = tools.centroid_distances("digits", "pixels_vector_", "kmeans_10",
                                  distance_measure_mode="l2")
    assert l2.equals(tools.centroid_distances("digits", "pixels_vector_", "kmeans_10"))
    cosine = tools.centroid_distances("digits", "pixels_vector_", "kmeans_10",
                                      distance_measure_mode="cosine")
    assert cosine.equals(tools.centroid_distances("digits", "pixels_vector_", "kmeans_10",
                                                  metric="cosine"))
    assert cosine.loc[0, 0] == pytest.approx(0, abs=1e-12) and cosine.loc[0, 1] > 0


def test_transpose_without_ground_truth_is_refused(client, digits):
    with pytest.raises(cm.InvalidInputError, match=r"transpose=True swaps clusters and "
                                                   r"ground-truth classes: give "
                                                   r"ground_truth_field too"):
        client.vector_tools.cluster.distribution("digits", "pixels_vector_", "kmeans_10",
                                                 transpose=True)


def test_an_unknown_distance_measure_mode_is_refused(client, digits):
    with pytest.raises(InvalidParameterError, match=r"distance_measure_mode='l1' is not one of "
                                                   r"'l2', 'cosine'; for other distances use "
                                                   r"metric="):
        client.vector_tools.cluster.centroid_distances("digits", "pixels_vector_", "kmeans_10",
                                                       distance_measure_mode="l1")


def test_metric_and_distance_measure_mode_together_are_refused(client, digits):
    with pytest.raises(InvalidParameterError, match=r"Give metric= or distance_measure_mode= "
                                                   r"\(the original SDK's name for it\), not "
                                                   r"both"):
        client.vector_tools.cluster.centroid_distances("digits", "pixels_vector_", "kmeans_10",
                                                       metric="cosine",
                                                       distance_measure_mode="cosine")


def test_dataset_object_offers_the_same_operations(client, digits):
    ds = client.Dataset("digits")
    assert ds.metrics("pixels_vector_", "kmeans_10").scores == pytest.approx(
        client.vector_tools.cluster.metrics("digits", "pixels_vector_", "kmeans_10").scores)
    ds.kmeans("pixels_vector_", 3)
    assert [a["alias"] for a in ds.list_aliases()] == ["kmeans_3", "kmeans_10"]  # by name
    assert ds.distribution("pixels_vector_", "kmeans_3")["size"].sum() == 400
    assert ds.centroid_distances("pixels_vector_", "kmeans_3").shape == (3, 3)
    assert ds.sweep("pixels_vector_", k=[2, 3]).table.index.tolist() == [2, 3]
    assert ds.compare("pixels_vector_", ["kmeans_3", "kmeans_10"]).table.index.tolist() == [
        "kmeans_3", "kmeans_10"]
    assert "Silhouette" in ds.report("pixels_vector_", "kmeans_3", "digit").html
    client.vector_tools.cluster.delete_alias("digits", "pixels_vector_", "kmeans_3")
    assert [a["alias"] for a in ds.list_aliases()] == ["kmeans_2", "kmeans_10"]


def test_documents_without_a_vector_are_left_out_and_counted(client):
    rng = np.random.default_rng(0)
    docs = [{"_id": f"d{i}", "v_vector_": rng.normal(size=3).tolist(),
             "_cluster_": {"v_vector_": {"mine": i % 2}}} for i in range(10)]
    del docs[3]["v_vector_"]
    client.Dataset("holes").insert_documents(docs)
    result = client.vector_tools.cluster.metrics("holes", "v_vector_", "mine")
    assert result.counts["n_without_vector"] == 1 and result.counts["n_used"] == 9
    assert "left out: 1 without a vector" in str(result)


def test_kmeans_is_seeded_and_stores_its_centroids(client, digits):
    from sklearn.cluster import KMeans
    X, _ = digits
    tools = client.vector_tools.cluster
    first = _stored_labels(client).astype(int)
    tools.kmeans("digits", "pixels_vector_", 10)  # the same seed again: the same labels
    assert (_stored_labels(client).astype(int) == first).all()
    model = KMeans(n_clusters=10, random_state=0, n_init="auto").fit(X.astype(np.float32))
    assert (first == model.labels_).all()


def test_kmeans_stores_its_centroids(client, store, digits):
    from sklearn.cluster import KMeans
    X, _ = digits
    model = KMeans(n_clusters=10, random_state=0, n_init="auto").fit(X.astype(np.float32))
    stored = store.alias_info("digits", "pixels_vector_", "kmeans_10")["centroids"]
    np.testing.assert_allclose(stored, model.cluster_centers_, rtol=1e-5, atol=1e-5)


def test_kmeans_switches_to_minibatch_for_large_n(client, digits, monkeypatch):
    from clustermetrics import clustering
    monkeypatch.setattr(clustering, "MINIBATCH_ABOVE", 100)  # the digits fixture has 400 rows
    info = client.vector_tools.cluster.kmeans("digits", "pixels_vector_", 5, alias="mb")
    assert info["method"] == "minibatch_kmeans" and sum(info["sizes"]) == 400
    assert client.vector_tools.cluster.describe_alias("digits", "pixels_vector_", "mb")[
        "method"] == "minibatch_kmeans"


def test_kmeans_reports_reading_then_fitting(client, digits):
    calls = []
    client.vector_tools.cluster.kmeans("digits", "pixels_vector_", 4,
                                       progress=lambda *call: calls.append(call))
    reading = [c for c in calls if c[0] == "reading"]
    assert sum(c[1] for c in reading) == 400 and {c[2] for c in reading} == {400}
    assert calls[len(reading):] == [("k-means", 0, None), ("k-means", 400, 400)]


def test_compare_calls_on_step_after_each_alias(client, digits):
    client.vector_tools.cluster.kmeans("digits", "pixels_vector_", 3)
    steps = []
    client.vector_tools.cluster.compare("digits", "pixels_vector_", ["kmeans_3", "kmeans_10"],
                                        on_step=lambda *step: steps.append(step))
    assert steps == [("kmeans_3", 1, 2), ("kmeans_10", 2, 2)]


# -- errors a person can act on, one case each --------------------------------------------

def test_unknown_vector_field(client, digits):
    with pytest.raises(cm.NotFoundError, match=r"vector field 'pixel_vector_' not found in "
                                               r"dataset 'digits'. Did you mean 'pixels_vector_'"):
        client.vector_tools.cluster.metrics("digits", "pixel_vector_", "kmeans_10")


def test_non_vector_field_as_vector_field(client, digits):
    with pytest.raises(cm.InvalidInputError, match=r"Field 'digit' of dataset 'digits' is BIGINT, "
                                                   r"not a vector field. Vector fields: "
                                                   "pixels_vector_"):
        client.vector_tools.cluster.metrics("digits", "digit", "kmeans_10")


def test_unknown_alias(client, digits):
    with pytest.raises(cm.NotFoundError, match=r"cluster alias 'kmeans_1' not found .* Did you "
                                               r"mean 'kmeans_10'\?"):
        client.vector_tools.cluster.metrics("digits", "pixels_vector_", "kmeans_1")


def test_unknown_ground_truth_field(client, digits):
    with pytest.raises(cm.NotFoundError, match=r"field 'digits' not found in dataset 'digits'. "
                                               r"Did you mean 'digit'\?"):
        client.vector_tools.cluster.metrics("digits", "pixels_vector_", "kmeans_10", "digits")


def test_unknown_dataset(client, digits):
    with pytest.raises(cm.NotFoundError, match=r"dataset 'digit' not found. Did you mean "
                                               r"'digits'\?"):
        client.vector_tools.cluster.metrics("digit", "pixels_vector_", "kmeans_10")


def test_kmeans_with_bad_k(client, digits):
    with pytest.raises(cm.InvalidInputError, match=r"k must be from 2 to 399 for the 400 "
                                                   r"documents of 'digits' .*; got 1\."):
        client.vector_tools.cluster.kmeans("digits", "pixels_vector_", 1)


def test_nan_in_stored_vectors_names_documents(client):
    # imports refuse NaN now; a store written before that may still hold one
    docs = [{"_id": f"x{i}", "v_vector_": [float(i), 1.0]} for i in range(10)]
    client.Dataset("nan").insert_documents(docs)
    client.test_store.con.execute("""UPDATE datasets."nan" SET v_vector_ = ['nan'::FLOAT, 1.0]
                                WHERE _id = 'x4'""")
    client.vector_tools.cluster.set_cluster_labels("nan", "v_vector_", "two",
                                                   {f"x{i}": i % 2 for i in range(10)})
    with pytest.raises(cm.InvalidInputError, match=r"NaN or infinite values in 1 document "
                                                   r"\(_id 'x4'\)"):
        client.vector_tools.cluster.metrics("nan", "v_vector_", "two")


def test_default_path_follows_the_environment(monkeypatch, tmp_path):
    from clustermetrics.client import default_path
    monkeypatch.setenv("CLUSTERMETRICS_PATH", str(tmp_path / "env.duckdb"))
    assert default_path() == str(tmp_path / "env.duckdb")
    monkeypatch.delenv("CLUSTERMETRICS_PATH")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_path() == str(tmp_path / "clustermetrics" / "store.duckdb")
    with cm.Client() as c:
        assert c.path == str(tmp_path / "clustermetrics" / "store.duckdb")


@pytest.mark.parametrize("fit", ["kmeans", "fit"])
def test_a_fit_refuses_vectors_whose_squares_overflow(client, fit):
    """Valid float32 values beyond ~1.8e19 make every squared distance infinite: refused,
    naming the document, before any alias is written."""
    docs = [{"_id": f"x{i}", "v_vector_": [float(i), 1.0]} for i in range(10)]
    docs[5]["v_vector_"] = [1e25, 1.0]
    client.Dataset("big").insert_documents(docs)
    tools = client.vector_tools.cluster
    with pytest.raises(cm.InvalidInputError, match=r"values whose squares overflow float32 in 1 "
                                                   r"document \(first _id: 'x5'\)"):
        if fit == "kmeans":
            tools.kmeans("big", "v_vector_", 2)
        else:
            from sklearn.cluster import AgglomerativeClustering
            tools.fit("big", "v_vector_", AgglomerativeClustering(n_clusters=2))
    assert client.vector_tools.cluster.list_aliases("big") == []


@pytest.mark.parametrize("call", [
    lambda t: t.metrics("digits", "pixels_vector_", 3),
    lambda t: t.metrics("digits", None, "kmeans_10"),
    lambda t: t.kmeans("digits", None, 2),
    lambda t: t.describe_alias(5, "pixels_vector_", "kmeans_10"),
], ids=["alias-int", "field-none", "kmeans-field-none", "dataset-int"])
def test_a_name_of_the_wrong_type_is_told_as_such(client, digits, call):
    with pytest.raises(cm.InvalidInputError,
                       match=r"(cluster_alias|vector_field|dataset).*(must be a name|string)"):
        call(client.vector_tools.cluster)


def test_a_fit_replacing_an_alias_says_so(client, digits):
    """Stored labels are replaced only when asked, and then the call says what it changed."""
    tools = client.vector_tools.cluster
    with pytest.warns(cm.ClusterMetricsWarning, match=r"Alias 'kmeans_10' of "
                      r"'digits'/'pixels_vector_' was replaced: it held kmeans labels, made "):
        tools.kmeans("digits", "pixels_vector_", 10, random_state=7)
    with warnings.catch_warnings():
        warnings.simplefilter("error", cm.ClusterMetricsWarning)
        tools.kmeans("digits", "pixels_vector_", 4)  # a new alias: nothing to say
        tools.sweep("digits", "pixels_vector_", [2, 3])
        tools.sweep("digits", "pixels_vector_", [2, 3])  # a sweep renewing its own aliases


def test_a_fit_that_finds_only_noise_says_so(client, digits):
    from sklearn.cluster import DBSCAN
    with pytest.warns(cm.ClusterMetricsWarning, match=r"put every document of 'digits' in "
                      r"noise: alias 'dbscan_eps0p01_ms5' labels no cluster"):
        out = client.vector_tools.cluster.fit("digits", "pixels_vector_", DBSCAN(eps=0.01))
    assert out["n_clusters"] == 0 and out["coverage"] == 0.0


def test_an_unknown_vector_field_is_named_before_the_alias(client, digits):
    with pytest.raises(cm.NotFoundError, match=r"^vector field 'pixels_vectr_' not found in "
                                               r"dataset 'digits'\. Did you mean 'pixels_vector_'"):
        client.vector_tools.cluster.delete_alias("digits", "pixels_vectr_", "kmeans_10")


def test_an_empty_alias_is_refused(client, digits):
    with pytest.raises(cm.InvalidInputError, match=r"Invalid alias ''"):
        client.vector_tools.cluster.kmeans("digits", "pixels_vector_", 3, alias="")


def test_too_few_documents_to_cluster_is_said_plainly(client):
    client.Dataset("two").insert_documents([{"_id": "a", "v_vector_": [1.0, 2.0]},
                                            {"_id": "b", "v_vector_": [2.0, 1.0]}])
    with pytest.raises(cm.InvalidInputError, match=r"needs at least 3 documents with "
                                                   r"'v_vector_'.*'two' has 2"):
        client.vector_tools.cluster.kmeans("two", "v_vector_", 5)


def test_cosine_centroid_distances_are_zero_on_the_diagonal(client, digits):
    # 1 - cos left 1.1e-16 there: a cluster is at 0 from itself, in the table and the report
    tools = client.vector_tools.cluster
    dist = tools.centroid_distances("digits", "pixels_vector_", "kmeans_10", metric="cosine")
    assert np.diag(dist.to_numpy()).tolist() == [0.0] * 10
    shown = client.api.report_data("digits", "pixels_vector_", "kmeans_10", metric="cosine",
                                   max_points=50).centroid_distances
    assert np.diag(shown.to_numpy()).tolist() == [0.0] * 10


def test_a_ground_truth_of_near_unique_values_is_warned_about(client):
    rng = np.random.default_rng(2)
    docs = [{"_id": str(i), "v_vector_": rng.normal(size=2) + (i % 3) * 4,
             "price": float(rng.uniform(1, 100)), "kind": f"k{i % 3}"} for i in range(120)]
    client.Dataset("p").insert_documents(docs)
    client.vector_tools.cluster.set_cluster_labels("p", "v_vector_", "a",
                                                   {str(i): i % 3 for i in range(120)})
    with pytest.warns(cm.ClusterMetricsWarning, match=(
            r"Ground truth field 'price' has 120 distinct values among 120 documents: it reads "
            r"like an identifier or a continuous value.*Give a field of categories, or bin "
            r"this one\.")):
        client.vector_tools.cluster.metrics("p", "v_vector_", "a", "price")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # categories: no warning
        result = client.vector_tools.cluster.metrics("p", "v_vector_", "a", "kind")
    assert result.scores["adjusted_rand"] == pytest.approx(1.0)
