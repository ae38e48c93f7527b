"""silhouette with metric="precomputed": a square matrix of distances, dense, memory-mapped or
scipy.sparse; scikit-learn is the oracle for values and messages."""

import os
import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.spatial.distance import cdist
from sklearn import metrics as skm

import clustermetrics as cm

SPARSE = [sp.csr_matrix, sp.csr_array, sp.csc_matrix, sp.csc_array, sp.coo_matrix,
          sp.dok_matrix, sp.lil_matrix]


@pytest.mark.parametrize("distance", ["euclidean", "cityblock", "cosine"])
@pytest.mark.parametrize("which", ["truth", "kmeans"])
def test_dense_matches_sklearn_to_1e10(real_dataset, distance, which):
    _, X, y, km = real_dataset
    labels = y if which == "truth" else km
    D = cdist(X, X, metric=distance)
    np.fill_diagonal(D, 0)
    expected = skm.silhouette_samples(D, labels, metric="precomputed")
    np.testing.assert_allclose(cm.silhouette_samples(D, labels, metric="precomputed"),
                               expected, rtol=0, atol=1e-10)
    assert cm.silhouette_score(D, labels, metric="precomputed") == pytest.approx(
        expected.mean(), abs=1e-10)


def test_precomputed_euclidean_equals_the_vectors(blobs):
    X, labels = blobs
    D = cdist(X, X)
    np.testing.assert_allclose(cm.silhouette_samples(D, labels, metric="precomputed"),
                               cm.silhouette_samples(X, labels), rtol=0, atol=1e-12)


def test_float32_matrix_matches_sklearn(blobs):
    X, labels = blobs
    D = cdist(X, X).astype(np.float32)
    np.testing.assert_allclose(cm.silhouette_samples(D, labels, metric="precomputed"),
                               skm.silhouette_samples(D, labels, metric="precomputed"),
                               rtol=0, atol=1e-5)


def test_integer_matrix_and_lists():
    D = [[0, 1, 2], [1, 0, 1], [2, 1, 0]]
    assert cm.silhouette_score(D, [0, 0, 1], metric="precomputed") == pytest.approx(1 / 6)
    assert cm.silhouette_score(np.array(D, dtype=np.int8), [0, 0, 1],
                               metric="precomputed") == pytest.approx(1 / 6)


@pytest.mark.parametrize("container", SPARSE, ids=lambda c: c.__name__)
def test_sparse_matrix_matches_sklearn(container):
    # entries left out of a sparse matrix are distances of 0, as in scikit-learn
    rng = np.random.default_rng(1)
    D = np.round(cdist(*(rng.normal(size=(2, 40, 1)))), 1)  # many exact zeros
    D = np.abs(D - D.T) + np.abs(np.subtract.outer(np.arange(40), np.arange(40))) % 3
    np.fill_diagonal(D, 0)
    labels = rng.integers(0, 4, 40)
    expected = skm.silhouette_samples(sp.csr_matrix(D), labels, metric="precomputed")
    np.testing.assert_allclose(
        cm.silhouette_samples(container(D), labels, metric="precomputed"), expected,
        rtol=0, atol=1e-12)


def test_sparse_matrix_with_singletons_and_implicit_zeros():
    D = np.array([[0, 2, 0, 3], [2, 0, 1, 4], [0, 1, 0, 5], [3, 4, 5, 0]], dtype=float)
    labels = [0, 0, 1, 2]
    np.testing.assert_allclose(
        cm.silhouette_samples(sp.csr_matrix(D), labels, metric="precomputed"),
        skm.silhouette_samples(D, labels, metric="precomputed"), rtol=0, atol=1e-15)


def test_memory_mapped_matrix_in_many_blocks_within_the_budget(tmp_path, blobs):
    X, labels = blobs
    n = len(X)
    path = tmp_path / "distances.f32"
    D = np.memmap(path, dtype=np.float32, mode="w+", shape=(n, n))
    D[:] = cdist(X, X)
    D.flush()
    D = np.memmap(path, dtype=np.float32, mode="r", shape=(n, n))
    budget = 0.5  # MiB: blocks of a few dozen rows of the 1.4 MB matrix
    tracemalloc.start()
    try:
        values = cm.silhouette_samples(D, labels, metric="precomputed", working_memory=budget)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_allclose(values, skm.silhouette_samples(np.asarray(D), labels,
                                                              metric="precomputed"),
                               rtol=0, atol=1e-5)
    # the matrix is never read whole: what is allocated is blocks, S (n x k) and the outputs
    assert peak < budget * 2**20 + 64 * n * 8 + 2**20
    assert peak < D.nbytes


def test_left_out_labels_drop_their_rows_and_columns(blobs):
    X, labels = blobs
    D = cdist(X, X)
    with_missing = labels.astype(object)
    with_missing[[3, 10, 11]] = None
    keep = np.ones(len(X), bool)
    keep[[3, 10, 11]] = False
    s = cm.silhouette_samples(D, with_missing, metric="precomputed")
    assert np.isnan(s[~keep]).all()
    np.testing.assert_allclose(
        s[keep], skm.silhouette_samples(D[keep][:, keep], labels[keep], metric="precomputed"),
        rtol=0, atol=1e-12)


def test_noise_as_singletons_matches_sklearn(blobs):
    X, labels = blobs
    labels = labels.copy()
    labels[::9] = -1
    own = labels.copy()
    own[labels == -1] = 100 + np.arange((labels == -1).sum())
    D = cdist(X, X)
    assert cm.silhouette_score(D, labels, metric="precomputed", noise_label=-1,
                               noise="singletons", working_memory=0.05) == pytest.approx(
        skm.silhouette_score(D, own, metric="precomputed"), abs=1e-12)


def test_sampled_precomputed_equals_sampled_vectors(blobs):
    X, labels = blobs
    a = cm.silhouette(cdist(X, X), labels, metric="precomputed", sample_size=120,
                      random_state=4)
    b = cm.silhouette(X, labels, sample_size=120, random_state=4)
    np.testing.assert_array_equal(a.sample_index, b.sample_index)
    np.testing.assert_allclose(a.values, b.values, rtol=0, atol=1e-12)
    assert a.ci == pytest.approx(b.ci, abs=1e-12)


def test_result_names_the_method(blobs):
    X, labels = blobs
    res = cm.silhouette(cdist(X, X), labels, metric="precomputed")
    assert res.metric == "precomputed" and res.method == "exact (precomputed distances)"
    assert res.per_cluster["size"].tolist() == np.bincount(labels).tolist()


def test_small_diagonal_is_tolerated_as_in_sklearn():
    D = cdist(*[np.array([[0.2, 0.1, 0.12, 1.34, 1.11, 1.6]]).T] * 2)
    D[2, 2] = np.finfo(np.float64).eps * 10
    labels = [0, 0, 0, 1, 1, 1]
    np.testing.assert_allclose(cm.silhouette_samples(D, labels, metric="precomputed"),
                               skm.silhouette_samples(D, labels, metric="precomputed"),
                               rtol=0, atol=1e-15)


# -- evaluate() ---------------------------------------------------------------------------------

def test_evaluate_gives_the_silhouette_and_says_what_needs_features(blobs):
    X, labels = blobs
    truth = labels % 2
    res = cm.evaluate(cdist(X, X), labels, truth, metric="precomputed")
    assert res.silhouette == pytest.approx(skm.silhouette_score(X, labels), abs=1e-12)
    assert np.isnan(res.scores["calinski_harabasz"]) and np.isnan(res.scores["davies_bouldin"])
    assert "Calinski-Harabasz and Davies-Bouldin need feature vectors" in res.silhouette_method
    assert res.to_dict()["scores"]["davies_bouldin"] is None
    assert res.adjusted_rand == pytest.approx(skm.adjusted_rand_score(truth, labels))
    assert res.counts["n_used"] == len(X) and res.metric == "precomputed"


# -- bad input: one case each, scikit-learn's sentence first -------------------------------------

def test_non_square_matrix_is_an_error():
    D = np.zeros((5, 4))
    with pytest.raises(cm.InvalidInputError,
                       match=r"^Precomputed metric requires shape \(n_queries, n_indexed\)\. "
                             r"Got \(5, 4\) for 5 indexed\. With metric='precomputed', X is the "
                             "square matrix"):
        cm.silhouette_samples(D, [0, 0, 1, 1, 1], metric="precomputed")


def test_negative_distance_is_an_error():
    D = np.ones((4, 4)) - np.eye(4)
    D[2, 1] = -0.5
    with pytest.raises(cm.InvalidInputError,
                       match=r"^Negative values in data passed to `pairwise_distances`\. "
                             r"Precomputed distance  need to have non-negative values\. X has "
                             r"negative distances in 1 row \(2\)"):
        cm.silhouette_score(D, [0, 0, 1, 1], metric="precomputed")


def test_negative_distance_in_a_sparse_matrix_is_an_error():
    D = sp.csr_matrix(np.array([[0, 1, 2, 2], [1, 0, 2, -2], [2, 2, 0, 1], [2, 2, 1, 0.0]]))
    with pytest.raises(cm.InvalidInputError,
                       match=r"^Negative values in data passed to `pairwise_distances`\. .* "
                             r"negative distances in 1 row \(1\)"):
        cm.silhouette_score(D, [0, 0, 1, 1], metric="precomputed")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_non_zero_diagonal_is_an_error(dtype):
    D = (np.ones((6, 6)) - np.eye(6)).astype(dtype)
    D[2, 2] = np.finfo(dtype).eps * 1000
    with pytest.raises(cm.InvalidInputError,
                       match=r"^The precomputed distance matrix contains non-zero elements on "
                             r"the diagonal\. Use np\.fill_diagonal\(X, 0\)\. A sample's "
                             r"distance to itself is not 0 in 1 row \(2\)"):
        cm.silhouette_samples(D, [0, 0, 0, 1, 1, 1], metric="precomputed")


def test_non_zero_integer_diagonal_is_an_error():
    with pytest.raises(cm.InvalidInputError, match=r"^The precomputed distance matrix contains "
                                                   "non-zero elements on the diagonal"):
        cm.silhouette_score([[1, 1, 2], [1, 0, 1], [2, 1, 0]], [0, 0, 1], metric="precomputed")


def test_nan_distance_is_an_error():
    D = np.ones((4, 4)) - np.eye(4)
    D[3, 0] = np.nan
    with pytest.raises(cm.InvalidInputError,
                       match=r"^Input X contains NaN\. X has NaN or infinite distances in 1 "
                             r"row \(3\)"):
        cm.silhouette_score(D, [0, 0, 1, 1], metric="precomputed")


def test_infinite_distance_in_a_sparse_matrix_is_an_error():
    D = sp.csr_matrix(np.array([[0, 1, 2, np.inf], [1, 0, 2, 2], [2, 2, 0, 1], [2, 2, 1, 0]]))
    with pytest.raises(cm.InvalidInputError,
                       match=r"^Input X contains infinity or a value too large for "
                             r"dtype\('float64'\)\. X has NaN or infinite distances in 1 row "
                             r"\(0\)"):
        cm.silhouette_score(D, [0, 0, 1, 1], metric="precomputed")


def test_labels_of_another_length_are_an_error():
    with pytest.raises(cm.InvalidInputError,
                       match=r"^Found input variables with inconsistent numbers of samples: "
                             r"\[4, 3\]"):
        cm.silhouette_score(np.zeros((4, 4)), [0, 0, 1], metric="precomputed")


def test_one_cluster_is_an_error_with_a_matrix():
    with pytest.raises(cm.InvalidInputError, match=r"^Number of labels is 1\. Valid values"):
        cm.silhouette_score(np.zeros((4, 4)), [0, 0, 0, 0], metric="precomputed")


def test_one_dimensional_matrix_is_an_error():
    with pytest.raises(cm.InvalidInputError, match=r"^Expected 2D array, got 1D array instead"):
        cm.silhouette_score(np.zeros(4), [0, 0, 1, 1], metric="precomputed")


def test_empty_matrix_is_an_error():
    with pytest.raises(cm.InvalidInputError,
                       match=r"^Found array with 0 sample\(s\) \(shape=\(0, 0\)\) while a "
                             "minimum of 1 is required"):
        cm.silhouette_score(np.zeros((0, 0)), [], metric="precomputed")


@pytest.mark.skipif(os.environ.get("CLUSTERMETRICS_BIG") != "1",
                    reason="writes a 10 GB matrix; set CLUSTERMETRICS_BIG=1 to run")
def test_memory_mapped_50000_square_float32(tmp_path):  # pragma: no cover - by hand
    n, k = 50_000, 10
    rng = np.random.default_rng(0)
    labels = rng.integers(0, k, n)
    D = np.memmap(tmp_path / "d.f32", dtype=np.float32, mode="w+", shape=(n, n))
    for i in range(0, n, 2000):  # |i - j| plus a cluster offset: a valid distance
        rows = np.arange(i, min(i + 2000, n))
        D[rows] = np.abs(rows[:, None] - np.arange(n)) / n + (labels[rows, None] != labels)
    D.flush()
    tracemalloc.start()
    cm.silhouette_score(D, labels, metric="precomputed")
    assert tracemalloc.get_traced_memory()[1] < 612 * 2**20
