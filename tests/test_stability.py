"""Stability under subsampling: per-cluster Jaccard (Hennig 2007) and ARI per refit."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import HDBSCAN, KMeans

import clustermetrics as cm
from clustermetrics.metrics.labels import encode_labels
from clustermetrics.stability import Stability, jaccard_matrix, stability

VF = "v_vector_"


class SplitAtRandom(BaseEstimator, ClusterMixin):
    """k-means, then cluster ``split`` cut in two at random: a coin per row, seeded by the data
    (another subsample, other coins; the same data, the same coins)."""

    def __init__(self, n_clusters=3, split=0):
        self.n_clusters, self.split = n_clusters, split

    def fit_predict(self, X, y=None):
        labels = KMeans(self.n_clusters, n_init="auto", random_state=0).fit_predict(X)
        seed = int(abs(np.asarray(X, dtype=np.float64).sum()) * 1e6) % 2**32
        coin = np.random.default_rng(seed).random(len(X)) < 0.5
        labels[(labels == self.split) & coin] = self.n_clusters
        return labels


def _blobs(n_per=40, seed=0):
    rng = np.random.default_rng(seed)
    centers = np.array([[0, 0], [12, 0], [0, 12]], dtype=float)
    truth = np.repeat([0, 1, 2], n_per)
    return centers[truth] + rng.normal(size=(3 * n_per, 2)), truth


@pytest.fixture
def stored(client):
    X, truth = _blobs()
    client.Dataset("s").insert_documents(
        [{"_id": f"p{i}", VF: X[i], "kind": f"k{truth[i]}"} for i in range(len(X))])
    return X.astype(np.float32), truth


def test_jaccard_matrix_by_hand():
    a = encode_labels([0, 0, 0, 1, 1, -1], noise_label=-1)
    b = encode_labels(["x", "x", "y", "y", "y", "y"])
    # A0={0,1,2} A1={3,4}; Bx={0,1} By={2,3,4,5}; the noise row belongs to no cluster
    np.testing.assert_allclose(jaccard_matrix(a, b), [[2 / 3, 1 / 6], [0, 2 / 4]])


@pytest.mark.parametrize("model", [KMeans(n_clusters=3, n_init="auto", random_state=0),
                                   HDBSCAN(min_cluster_size=10, copy=True)],
                         ids=["kmeans", "hdbscan"])
def test_well_separated_blobs_are_stable(model):
    X, _ = _blobs()
    full, result = stability(model, X, n_resamples=6, fraction=0.8, random_state=0)
    assert len(result.per_cluster) == 3
    assert (result.per_cluster["jaccard"] > 0.95).all()
    assert (result.per_cluster["verdict"] == "highly stable").all()
    assert result.ari.shape == (6,) and result.ari.min() > 0.9
    assert result.jaccard.shape == (3, 6)
    assert (result.per_cluster["resamples"] == 6).all()
    assert len(full.labels) == len(X)


def test_a_cluster_split_at_random_is_clearly_less_stable():
    X, _ = _blobs()
    _, result = stability(SplitAtRandom(), X, n_resamples=6, random_state=0)
    j = result.per_cluster["jaccard"]
    halves = [c for c in j.index if result.per_cluster.loc[c, "size"] < 30]
    assert len(halves) == 2  # cluster 0 and its random other half
    assert (j[halves] < 0.6).all()
    assert (j.drop(index=halves) > 0.95).all()
    assert (result.per_cluster.loc[halves, "dissolved"] > 0.5).all()
    assert result.ari_mean < 0.95
    shown = [str(c) for c in halves]
    assert f"2 of {len(j)} clusters dissolve (mean Jaccard < 0.5): clusters " \
        f"{', '.join(sorted(shown, key=list(map(str, j.index)).index))}" in str(result)


def test_refits_draw_reproducible_subsamples():
    X, _ = _blobs()
    model = KMeans(n_clusters=4, n_init="auto", random_state=0)
    _, a = stability(model, X, n_resamples=4, random_state=7)
    _, b = stability(model, X, n_resamples=4, random_state=7)
    np.testing.assert_array_equal(a.ari, b.ari)
    pd.testing.assert_frame_equal(a.per_cluster, b.per_cluster)


def test_stored_dataset_stability_is_recorded_for_the_report(client, stored):
    tools = client.vector_tools.cluster
    calls = []
    result = tools.stability("s", VF, KMeans(n_clusters=3, n_init="auto", random_state=0),
                             n_resamples=4, progress=lambda *c: calls.append(c))
    assert result.source == {"dataset_id": "s", "vector_field": VF, "cluster_alias": "kmeans_3"}
    assert [c for c in calls if c[0] == "refits"] == [("refits", 1, 4)] * 4
    assert ("k-means", 0, None) in calls
    info = tools.describe_alias("s", VF, "kmeans_3")
    assert info["params"]["stability"]["n_resamples"] == 4
    assert sorted(info["sizes"].values()) == [40, 40, 40]
    rep = tools.report("s", VF, "kmeans_3", "kind")
    assert 'id="stability"' in rep.html and "mean Jaccard" in rep.html
    bars = rep.figures["stability"].data[0]
    np.testing.assert_allclose(bars.y, result.per_cluster["jaccard"])
    tools.kmeans("s", VF, 3)  # refitted: the stability no longer describes the alias
    assert 'id="stability"' not in tools.report("s", VF, "kmeans_3").html


def test_stability_to_dict_and_back():
    X, _ = _blobs()
    _, result = stability(HDBSCAN(min_cluster_size=10, copy=True), X, n_resamples=3)
    back = Stability.from_dict(result.to_dict())
    pd.testing.assert_frame_equal(back.per_cluster, result.per_cluster)
    np.testing.assert_array_equal(back.ari, result.ari)
    assert back.model == result.model and back.noise_label == -1
    assert back.to_dict() == result.to_dict()


def test_dataset_object_offers_stability(client, stored):
    result = client.Dataset("s").stability(VF, KMeans(n_clusters=3, n_init="auto"),
                                           n_resamples=2, alias="st")
    assert result.source["cluster_alias"] == "st" and len(result.ari) == 2


# -- bad options, one line each, nothing fitted or stored ---------------------------------------

@pytest.mark.parametrize("options, message", [
    ({"n_resamples": 0}, r"n_resamples must be an integer >= 1 \(e\.g\. 20\); got 0"),
    ({"n_resamples": 2.5}, r"n_resamples must be an integer >= 1 \(e\.g\. 20\); got 2\.5"),
    ({"fraction": 1.0}, r"fraction must be a number between 0 and 1 \(exclusive\), e\.g\. 0\.8; "
                        r"got 1\.0"),
    ({"fraction": 0}, r"fraction must be a number between 0 and 1 \(exclusive\), e\.g\. 0\.8; "
                      r"got 0"),
    ({"random_state": "seed"}, r"random_state must be an integer or None; got 'seed'"),
], ids=["no resamples", "fractional resamples", "fraction 1", "fraction 0", "seed text"])
def test_bad_options(client, stored, options, message):
    with pytest.raises(cm.InvalidInputError, match=message):
        client.vector_tools.cluster.stability("s", VF, KMeans(n_clusters=3), **options)
    assert client.vector_tools.cluster.list_aliases("s") == []


def test_a_subsample_too_small_to_refit(client, stored):
    with pytest.raises(cm.InvalidInputError, match=r"fraction=0\.01 of 120 documents leaves 1: a "
                                                   r"refit needs at least 2; raise fraction"):
        client.vector_tools.cluster.stability("s", VF, KMeans(n_clusters=3), fraction=0.01)


def test_a_failing_refit_says_which(client, stored):
    with pytest.raises(cm.InvalidInputError, match=r"Refit 1 of 3 \(on 12 of 120 documents\): "
                                                   r"KMeans\(n_clusters=100\) failed on 12 "
                                                   r"vectors"):
        client.vector_tools.cluster.stability("s", VF, KMeans(n_clusters=100), n_resamples=3,
                                              fraction=0.1)
    assert client.vector_tools.cluster.list_aliases("s") == []


def test_an_all_noise_clustering_has_no_clusters_to_assess(client, stored):
    from sklearn.cluster import DBSCAN
    with pytest.raises(cm.InvalidInputError, match=r"^DBSCAN\(eps=0\.001, min_samples=5\) puts "
                                                   r"all 120 documents in noise: no clusters to "
                                                   r"assess"):
        client.vector_tools.cluster.stability("s", VF, DBSCAN(eps=0.001), n_resamples=3)
    assert client.vector_tools.cluster.list_aliases("s") == []  # nothing stored
