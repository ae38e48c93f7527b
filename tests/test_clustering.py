"""Any scikit-learn-style clusterer as an alias: labels, model, noise label, centroids."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator
from sklearn.cluster import (
    DBSCAN,
    HDBSCAN,
    AgglomerativeClustering,
    Birch,
    KMeans,
    MiniBatchKMeans,
    SpectralClustering,
)
from sklearn.mixture import GaussianMixture

import clustermetrics as cm
from clustermetrics.clustering import ModelSpec, fit, parse_value

VF = "v_vector_"


class Halves(BaseEstimator):
    """A third-party clusterer with fit then labels_ (no fit_predict): the sign of feature 0."""

    def __init__(self, offset=5.0):
        self.offset = offset

    def fit(self, X, y=None):
        self.labels_ = (np.asarray(X)[:, 0] > self.offset).astype(int)
        return self


def _blobs(n_per=30, n_noise=12, seed=0):
    rng = np.random.default_rng(seed)
    centers = np.array([[0, 0, 0], [10, 0, 0], [0, 10, 0]], dtype=float)
    truth = np.repeat([0, 1, 2], n_per)
    X = np.vstack([centers[truth] + rng.normal(size=(3 * n_per, 3)),
                   rng.uniform(-4, 14, size=(n_noise, 3))])
    return X, np.concatenate([truth, np.full(n_noise, 0)])


@pytest.fixture
def blobs3(client):
    """Three blobs and scattered points, stored in this order (ids p0, p1, ...)."""
    X, truth = _blobs()
    docs = [{"_id": f"p{i}", VF: X[i], "kind": f"k{truth[i]}"} for i in range(len(X))]
    client.Dataset("b").insert_documents(docs)
    return X.astype(np.float32), truth  # the store keeps vectors as float32


def _stored(client, alias, n):
    docs = client.Dataset("b").get_documents([f"p{i}" for i in range(n)])
    return np.array([d["_cluster_"][VF][alias] for d in docs])


ESTIMATORS = [
    KMeans(n_clusters=3, random_state=0, n_init="auto"),
    MiniBatchKMeans(n_clusters=3, random_state=0, n_init=3),
    HDBSCAN(min_cluster_size=8, copy=True),
    DBSCAN(eps=1.5, min_samples=5),
    AgglomerativeClustering(n_clusters=3),
    Birch(n_clusters=3),
    GaussianMixture(n_components=3, random_state=0),
    SpectralClustering(n_clusters=3, random_state=0, affinity="nearest_neighbors"),
    Halves(),
]


@pytest.mark.parametrize("model", ESTIMATORS, ids=lambda m: type(m).__name__)
def test_stored_labels_equal_the_estimators_own(client, blobs3, model):
    X, _ = blobs3
    from sklearn.base import clone
    own = clone(model)
    expected = own.fit_predict(X) if hasattr(own, "fit_predict") else own.fit(X).labels_
    info = client.vector_tools.cluster.fit("b", VF, model)
    np.testing.assert_array_equal(_stored(client, info["alias"], len(X)), expected)
    described = client.vector_tools.cluster.describe_alias("b", VF, info["alias"])
    assert described["method"] == info["method"] == ModelSpec.of(model).method
    assert described["params"]["model"] == ModelSpec.of(model).cls
    assert described["params"]["params"] == model.get_params(deep=False)
    noisy = isinstance(model, (HDBSCAN, DBSCAN))
    assert described["params"]["noise_label"] == (-1 if noisy else None)
    assert info["n_noise"] == (int(np.sum(expected == -1)) if noisy else 0)
    assert not hasattr(model, "labels_")  # a fresh copy was fitted, not the caller's object


def test_centroids_are_stored_where_the_model_has_them(client, blobs3):
    X, _ = blobs3
    tools = client.vector_tools.cluster
    tools.fit("b", VF, GaussianMixture(n_components=3, random_state=0), alias="gmm")
    tools.fit("b", VF, AgglomerativeClustering(n_clusters=3), alias="agg")
    gmm = GaussianMixture(n_components=3, random_state=0).fit(X)
    info = client.test_store.alias_info("b", VF, "gmm")
    np.testing.assert_allclose(info["centroids"], gmm.means_, rtol=1e-5, atol=1e-5)
    assert client.test_store.alias_info("b", VF, "agg")["centroids"] is None


@pytest.mark.parametrize("model, alias", [
    (HDBSCAN(min_cluster_size=15), "hdbscan_mcs15"),
    (HDBSCAN(min_cluster_size=15, min_samples=3), "hdbscan_mcs15_ms3"),
    (KMeans(n_clusters=10), "kmeans_10"),
    (MiniBatchKMeans(n_clusters=4), "minibatch_kmeans_4"),
    (DBSCAN(), "dbscan_eps0p5_ms5"),
    (AgglomerativeClustering(n_clusters=5, linkage="average"), "agglomerative_average_5"),
    (AgglomerativeClustering(n_clusters=None, distance_threshold=2.5),
     "agglomerative_ward_dt2p5"),
    (GaussianMixture(n_components=4), "gaussian_mixture_4"),
    (Birch(), "birch_3"),
    (SpectralClustering(), "spectral_8"),
    (Halves(), "halves"),
])
def test_default_alias_names_the_model_and_its_key_parameters(model, alias):
    assert ModelSpec.of(model).default_alias() == alias


def test_a_sweeps_grid_parameters_join_the_alias():
    spec = ModelSpec.of(HDBSCAN(cluster_selection_epsilon=0.25))
    assert spec.default_alias(extra=["cluster_selection_epsilon"]) == "hdbscan_mcs5_cse0p25"


def test_spec_is_the_class_path_and_params():
    spec = ModelSpec.of(HDBSCAN(min_cluster_size=15))
    assert spec.cls == "sklearn.cluster.HDBSCAN"
    assert spec.params == {**HDBSCAN(min_cluster_size=15).get_params(), "copy": True}
    assert spec.describe() == "HDBSCAN(min_cluster_size=15)"
    assert ModelSpec.of("hdbscan") == ModelSpec("sklearn.cluster.HDBSCAN", {})
    assert ModelSpec.of(HDBSCAN) == ModelSpec("sklearn.cluster.HDBSCAN", {})
    assert type(spec.build()) is HDBSCAN


@pytest.mark.filterwarnings("error::FutureWarning")
def test_a_warn_sentinel_default_is_set_to_its_future_value(client, blobs3):
    # scikit-learn 1.9's HDBSCAN(copy='warn') warns at each fit that the default becomes True
    assert HDBSCAN().get_params()["copy"] == "warn"
    spec = ModelSpec.named("hdbscan", min_cluster_size=8)
    assert spec.build().get_params()["copy"] is True
    assert spec.describe() == "HDBSCAN(min_cluster_size=8)"
    assert spec.default_alias() == "hdbscan_mcs8"
    assert ModelSpec.of(HDBSCAN()).params["copy"] is True  # never the sentinel
    assert ModelSpec.named("hdbscan", copy=False).build().get_params()["copy"] is False
    tools = client.vector_tools.cluster
    tools.fit("b", VF, HDBSCAN(min_cluster_size=8))  # no FutureWarning (an error here)
    params = tools.describe_alias("b", VF, "hdbscan_mcs8")["params"]["params"]
    assert params["copy"] is True and "warn" not in params.values()


def test_a_class_defined_in_a_function_is_rebuilt_in_this_process():
    class Local(Halves):
        pass

    assert type(ModelSpec.of(Local(offset=1.0)).build()) is Local


def test_parse_value_types():
    assert [parse_value(t) for t in ("7", "-1", "0.25", "1e-3", "True", "false", "none", "ward",
                                     "k-means++")] == [7, -1, 0.25, 0.001, True, False, None,
                                                       "ward", "k-means++"]


def test_kmeans_is_a_shortcut_over_fit(client, blobs3):
    info = client.vector_tools.cluster.kmeans("b", VF, 3)
    assert info["alias"] == "kmeans_3" and info["method"] == "kmeans" and info["k"] == 3
    assert info["model"] == "sklearn.cluster.KMeans" and sum(info["sizes"]) == 102
    assert isinstance(info["sizes"], list) and info["inertia"] > 0
    fitted = client.vector_tools.cluster.fit(
        "b", VF, KMeans(n_clusters=3, random_state=0, n_init="auto"), alias="same")
    np.testing.assert_array_equal(_stored(client, "kmeans_3", 102), _stored(client, "same", 102))
    assert fitted["inertia"] == pytest.approx(info["inertia"])


def test_fit_reports_reading_then_fitting(client, blobs3):
    calls = []
    client.vector_tools.cluster.fit("b", VF, DBSCAN(eps=1.5),
                                    progress=lambda *call: calls.append(call))
    reading = [c for c in calls if c[0] == "reading"]
    assert sum(c[1] for c in reading) == 102
    assert calls[len(reading):] == [("DBSCAN", 0, None), ("DBSCAN", 102, 102)]


# -- noise belongs to the alias ------------------------------------------------------------------

@pytest.fixture
def hdb(client, blobs3):
    X, truth = blobs3
    client.vector_tools.cluster.fit("b", VF, HDBSCAN(min_cluster_size=8, copy=True))
    labels = _stored(client, "hdbscan_mcs8", len(X))
    assert 0 < np.sum(labels == -1) < 30  # the scattered points, mostly
    return X, truth, labels


def test_noise_is_recorded_and_applied_without_noise_label(client, hdb):
    X, _, labels = hdb
    result = client.vector_tools.cluster.metrics("b", VF, "hdbscan_mcs8")
    expected = cm.evaluate(X, labels, noise_label=-1)
    assert result.counts["n_noise"] == int(np.sum(labels == -1))
    assert result.scores == pytest.approx(expected.scores, abs=1e-12)
    assert "noise" in str(result)


def test_the_noise_policy_still_applies_to_the_recorded_label(client, hdb):
    X, _, labels = hdb
    result = client.vector_tools.cluster.metrics("b", VF, "hdbscan_mcs8", noise="cluster")
    assert result.scores == pytest.approx(cm.evaluate(X, labels).scores, abs=1e-12)  # sklearn's


def test_an_explicit_noise_label_wins(client, hdb):
    X, _, labels = hdb
    result = client.vector_tools.cluster.metrics("b", VF, "hdbscan_mcs8", noise_label=0)
    assert result.scores == pytest.approx(cm.evaluate(X, labels, noise_label=0).scores,
                                          abs=1e-12)


def test_report_and_compare_apply_the_recorded_noise(client, hdb):
    X, _, labels = hdb
    tools = client.vector_tools.cluster
    rep = tools.report("b", VF, "hdbscan_mcs8", "kind")
    assert rep.metrics.counts["n_noise"] == int(np.sum(labels == -1))
    tools.kmeans("b", VF, 3)
    table = tools.compare("b", VF, ["hdbscan_mcs8", "kmeans_3"]).table
    assert table.loc["hdbscan_mcs8", "coverage"] == pytest.approx(np.mean(labels != -1))
    assert table.loc["kmeans_3", "coverage"] == 1.0
    assert table.loc["hdbscan_mcs8", "silhouette"] == pytest.approx(
        cm.evaluate(X, labels, noise_label=-1).silhouette, abs=1e-12)


def test_coverage_counts_noise_whatever_the_policy(client, hdb):
    _, _, labels = hdb
    for noise in ("cluster", "singletons"):
        table = client.vector_tools.cluster.compare("b", VF, ["hdbscan_mcs8"], noise=noise).table
        assert table.loc["hdbscan_mcs8", "coverage"] == pytest.approx(np.mean(labels != -1))


def test_own_labels_can_record_their_noise_label(client, blobs3):
    X, truth = blobs3
    labels = np.where(np.arange(len(X)) % 7 == 0, -1, truth)
    client.vector_tools.cluster.set_cluster_labels(
        "b", VF, "mine", {f"p{i}": int(v) for i, v in enumerate(labels)}, noise_label=-1)
    result = client.vector_tools.cluster.metrics("b", VF, "mine")
    assert result.counts["n_noise"] == int(np.sum(labels == -1))
    assert client.vector_tools.cluster.describe_alias("b", VF, "mine")["params"] == {
        "noise_label": -1}


# -- bad input: one line each, nothing stored ---------------------------------------------------

def test_a_parameter_out_of_range_is_refused_before_fitting(client, blobs3):
    with pytest.raises(cm.InvalidInputError, match=r"HDBSCAN: The 'min_cluster_size' parameter "
                                                   r"of HDBSCAN must be an int in the range "
                                                   r"\[2, inf\)\. Got 1 instead"):
        client.vector_tools.cluster.fit("b", VF, HDBSCAN(min_cluster_size=1))
    assert client.vector_tools.cluster.list_aliases("b") == []


def test_an_unknown_parameter_names_the_closest(client, blobs3):
    with pytest.raises(cm.InvalidInputError, match=r"HDBSCAN has no parameter 'min_cluster'\. "
                                                   r"Did you mean 'min_cluster_size'\?"):
        client.vector_tools.cluster.fit("b", VF, ModelSpec.named("hdbscan", min_cluster=5))
    assert client.vector_tools.cluster.list_aliases("b") == []


def test_a_failing_fit_names_the_model_and_stores_nothing(client, blobs3):
    with pytest.raises(cm.InvalidInputError, match=r"AgglomerativeClustering\(linkage='ward', "
                                                   r"n_clusters=2, metric='cosine'\) failed on "
                                                   r"102 vectors: cosine was provided as "
                                                   r"metric\. Ward can only work"):
        client.vector_tools.cluster.fit("b", VF, AgglomerativeClustering(metric="cosine"))
    assert client.vector_tools.cluster.list_aliases("b") == []


@pytest.mark.parametrize("k", [102, 500])
def test_a_model_with_as_many_clusters_as_documents_is_refused(client, blobs3, k):
    with pytest.raises(cm.InvalidInputError, match=rf"^n_clusters must be from 2 to 101 for the "
                                                   rf"102 documents of 'b' with 'v_vector_' \(the "
                                                   rf"metrics need fewer clusters than documents\);"
                                                   rf" got {k}\. Nothing was run\.$"):
        client.vector_tools.cluster.fit("b", VF, KMeans(n_clusters=k))
    assert client.vector_tools.cluster.list_aliases("b") == []


def test_not_a_clusterer(client, blobs3):
    with pytest.raises(cm.InvalidInputError, match=r"model must follow scikit-learn's clusterer "
                                                   r"API \(fit_predict, or fit then labels_\)"):
        client.vector_tools.cluster.fit("b", VF, [1, 2, 3])


def test_a_clusterer_without_get_params(client, blobs3):
    class Bare:
        def fit_predict(self, X):
            return np.zeros(len(X), dtype=int)

    with pytest.raises(cm.InvalidInputError, match=r"Bare has no get_params\(\), so it cannot "
                                                   r"be rebuilt: derive it from "
                                                   r"sklearn.base.BaseEstimator"):
        client.vector_tools.cluster.fit("b", VF, Bare())


def test_an_unknown_algorithm_name(client, blobs3):
    with pytest.raises(cm.InvalidInputError, match=r"Unknown algorithm 'hdbscn'\. Did you mean "
                                                   r"'hdbscan'\?"):
        client.vector_tools.cluster.fit("b", VF, "hdbscn")


def test_a_model_class_that_cannot_be_imported(client, blobs3):
    with pytest.raises(cm.MissingDependencyError, match=r"Model class 'nowhere.Clusterer' "
                                                        r"cannot be imported here"):
        client.vector_tools.cluster.fit("b", VF, ModelSpec("nowhere.Clusterer"))


def test_an_invalid_alias_is_refused_before_fitting(client, blobs3):
    with pytest.raises(cm.InvalidInputError, match=r"Invalid alias 'a b'"):
        client.vector_tools.cluster.fit("b", VF, KMeans(3), alias="a b")


def test_unknown_vector_field_before_fitting(client, blobs3):
    with pytest.raises(cm.NotFoundError, match=r"vector field 'w_vector_' not found"):
        client.vector_tools.cluster.fit("b", "w_vector_", KMeans(3))


def test_labels_of_the_wrong_length_are_refused():
    class Short(BaseEstimator):
        def fit_predict(self, X):
            return np.zeros(len(X) - 1, dtype=int)

    with pytest.raises(cm.InvalidInputError, match=r"Short returned labels of shape \(9,\) for "
                                                   r"10 vectors"):
        fit(Short(), np.zeros((10, 2)))


def test_an_api_built_for_a_server_builds_only_the_models_it_serves(tmp_path, monkeypatch):
    from clustermetrics import clustering
    from clustermetrics.api.local import LocalAPI
    X, _ = _blobs()
    with cm.Client(api=LocalAPI(str(tmp_path / "s.duckdb"),
                                models=clustering.ALGORITHMS.values())) as c:
        c.Dataset("b").insert_documents(X, ids=[str(i) for i in range(len(X))], vector_field=VF)
        assert c.vector_tools.cluster.fit("b", VF, "dbscan")["alias"] == "dbscan_eps0p5_ms5"
        imported = []
        monkeypatch.setattr(clustering.importlib, "import_module", imported.append)
        for call in (lambda m: c.vector_tools.cluster.fit("b", VF, m),
                     lambda m: c.vector_tools.cluster.stability("b", VF, m),
                     lambda m: c.vector_tools.cluster.sweep("b", VF, model=m,
                                                            param_grid={"x": [1]})):
            with pytest.raises(cm.InvalidInputError, match=r"Model class 'json.JSONDecoder' is "
                                                           r"not served here; use one of "
                                                           r"sklearn.cluster.AgglomerativeClust"):
                call(ModelSpec("json.JSONDecoder", {}))
        assert imported == []  # refused before anything was imported


def test_a_class_that_is_not_a_clusterer_is_not_built():
    with pytest.raises(cm.InvalidInputError, match=r"Popen has neither fit_predict nor fit: it "
                                                   r"is not a clusterer"):
        ModelSpec("subprocess.Popen", {"args": ["true"]}).build()


def test_a_grid_sweep_replaces_only_what_a_sweep_or_the_same_fit_made(client, blobs3):
    X, _ = blobs3
    tools = client.vector_tools.cluster
    tools.fit("b", VF, DBSCAN(eps=1.5))  # the same fit as the grid's first point: replaceable
    mine = {f"p{i}": i % 2 for i in range(len(X))}
    tools.set_cluster_labels("b", VF, "dbscan_eps3_ms5", mine)  # by hand: kept
    grid = {"eps": [1.5, 3.0]}
    with pytest.raises(cm.InvalidInputError, match=r"The sweep would replace 1 alias it did not "
                                                   r"make \(dbscan_eps3_ms5\)\. Delete or "
                                                   r"rename them, choose other values, or pass "
                                                   r"overwrite=True \(--overwrite\)"):
        tools.sweep("b", VF, model=DBSCAN(), param_grid=grid)
    assert list(_stored(client, "dbscan_eps3_ms5", len(X))) == [i % 2 for i in range(len(X))]
    sweep = tools.sweep("b", VF, model=DBSCAN(), param_grid=grid, overwrite=True)
    assert list(sweep.table.index) == ["dbscan_eps1p5_ms5", "dbscan_eps3_ms5"]
    again = tools.sweep("b", VF, model=DBSCAN(), param_grid=grid)  # its own: replaced freely
    pd.testing.assert_frame_equal(again.table, sweep.table)


# -- the precision a model is fitted in ----------------------------------------------------------

def _low_rank(seed=0, n=400, d=32, rank=4):
    """Embedding-like vectors: few directions, little noise. A Gaussian mixture's covariances
    of such data are singular in float32."""
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, rank)) @ rng.normal(size=(rank, d))
    return (Z + 1e-3 * rng.normal(size=Z.shape)).astype(np.float32)


@pytest.mark.parametrize("seed", range(10))
def test_a_gaussian_mixture_on_float32_vectors_is_fitted_in_float64(seed):
    X = _low_rank()
    with pytest.raises(ValueError, match="float64"):  # scikit-learn's own advice, in float32
        GaussianMixture(8, random_state=seed).fit_predict(X)
    result = fit(GaussianMixture(8, random_state=seed), X)
    assert result.info["precision"] == "float64" and len(set(result.labels)) >= 2


def test_other_models_keep_the_vectors_precision_unless_asked():
    X = _low_rank()
    assert fit(KMeans(3, n_init=1, random_state=0), X).info["precision"] == "float32"
    assert fit(KMeans(3, n_init=1, random_state=0), X,
                          precision="float64").info["precision"] == "float64"
    assert fit(KMeans(3, n_init=1, random_state=0),
                          X.astype(np.float64)).info["precision"] == "float64"


@pytest.mark.parametrize("precision", ["float16", "double", 64])
def test_an_unknown_precision_is_refused(precision):
    with pytest.raises(cm.InvalidInputError,
                       match=r"^precision must be one of 'auto', 'float32', 'float64' \(auto: "
                             r"float64 for BayesianGaussianMixture, GaussianMixture, else the "
                             rf"vectors' own\); got {precision!r}\.$"):
        fit(KMeans(3, n_init=1), _low_rank(), precision=precision)


def test_a_stored_fit_records_its_precision(client):
    X = _low_rank()
    client.Dataset("emb").insert_documents(X, ids=[f"e{i}" for i in range(len(X))],
                                           vector_field="v")
    tools = client.vector_tools.cluster
    for seed in (0, 1):  # stored float32 vectors: failed on some seeds before
        tools.fit("emb", "v", GaussianMixture(8, random_state=seed), alias=f"gm{seed}")
        info = tools.describe_alias("emb", "v", f"gm{seed}")
        assert info["params"]["precision"] == "float64"
    tools.kmeans("emb", "v", 3)
    assert tools.describe_alias("emb", "v", "kmeans_3")["params"]["precision"] == "float32"


# -- the precision of a fit, asked for through the Client (embedded and remote) ---------------

@pytest.mark.parametrize("precision, expected", [(None, "float32"), ("auto", "float32"),
                                                 ("float64", "float64")])
def test_a_fit_records_the_precision_asked_for(client, precision, expected):

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4)).astype(np.float32)
    client.Dataset("prec").insert_documents(X, ids=[f"p{i}" for i in range(60)],
                                            vector_field="v_vector_")
    tools = client.vector_tools.cluster
    tools.fit("prec", "v_vector_", KMeans(3, n_init=1, random_state=0), "km",
              precision=precision)
    assert tools.describe_alias("prec", "v_vector_", "km")["params"]["precision"] == expected


def test_a_gaussian_mixture_is_fitted_in_float64_by_default(client):
    from sklearn.mixture import GaussianMixture
    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, 4)).astype(np.float32)
    client.Dataset("gm").insert_documents(X, ids=[f"g{i}" for i in range(80)],
                                          vector_field="v_vector_")
    tools = client.vector_tools.cluster
    tools.fit("gm", "v_vector_", GaussianMixture(2, random_state=0), "gmm")
    assert tools.describe_alias("gm", "v_vector_", "gmm")["params"]["precision"] == "float64"


def test_an_unknown_precision_is_refused_before_any_work(client):

    client.Dataset("bad").insert_documents([{"_id": "a", "v_vector_": [1.0, 2.0]}])
    with pytest.raises(cm.InvalidInputError, match="precision must be one of 'auto', 'float32', "
                                                "'float64'"):
        client.vector_tools.cluster.fit("bad", "v_vector_", KMeans(2), "km",
                                        precision="float16")
    assert client.vector_tools.cluster.list_aliases("bad") == []
