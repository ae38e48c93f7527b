"""Small awkward inputs, every function and every average_method, with scikit-learn as the
oracle: empty input, one sample, n = 2, all singletons, one cluster, float and negative labels;
and identical vectors, whose distance is exactly 0 in every metric."""

import re

import numpy as np
import pytest
import sklearn.metrics.cluster as skc
from scipy.spatial.distance import cdist
from sklearn import metrics as skm

import clustermetrics as cm

AVERAGES = ["min", "geometric", "arithmetic", "max"]
EXTERNAL = [("adjusted_rand_score", {}), ("rand_score", {}), ("mutual_info_score", {}),
            ("homogeneity_score", {}), ("completeness_score", {}), ("v_measure_score", {}),
            ("fowlkes_mallows_score", {}), ("homogeneity_completeness_v_measure", {}),
            ("contingency_matrix", {}), ("pair_confusion_matrix", {})]
EXTERNAL += [(f, {"average_method": m}) for f in ("adjusted_mutual_info_score",
                                                  "normalized_mutual_info_score")
             for m in AVERAGES]
LABELINGS = {
    "empty": ([], []),
    "one sample": ([0], [1]),
    "n=2 same": ([0, 1], [0, 1]),
    "n=2 swapped": ([0, 1], [1, 0]),
    "n=2 one cluster": ([0, 0], [0, 1]),
    "n=2 one class": ([0, 1], [5, 5]),
    "all singletons": (list(range(6)), list(range(6))),
    "singletons vs one cluster": (list(range(6)), [0] * 6),
    "one cluster": ([0] * 5, [0] * 5),
    "perfect, 4 singletons": ([0, 1, 2, 3], [0, 1, 2, 3]),
    "float labels": ([0.5, 1.5, 0.5, 2.5], [1.0, 1.0, -2.0, -2.0]),
    "negative labels": ([-1, -1, -2, -3], [-5, -5, -5, 7]),
    "float vs int": ([0.0, 1.0, 2.0], [42, 7, 2]),
}


def _id(case):
    func, kwargs = case
    return func + "".join(f"-{v}" for v in kwargs.values())


@pytest.mark.parametrize("labeling", list(LABELINGS), ids=str)
@pytest.mark.parametrize("case", EXTERNAL, ids=_id)
@pytest.mark.filterwarnings("ignore:Clustering metrics expects discrete values")
def test_external_edge_cases_equal_sklearn(case, labeling):
    func, kwargs = case
    a, b = LABELINGS[labeling]
    try:
        expected = getattr(skc, func)(a, b, **kwargs)
    except ValueError as exc:  # then ours raises a ValueError with scikit-learn's sentence
        with pytest.raises(cm.InvalidInputError, match="^" + re.escape(str(exc))):
            getattr(cm, func)(a, b, **kwargs)
        return
    ours = getattr(cm, func)(a, b, **kwargs)
    if isinstance(expected, tuple):
        assert ours == pytest.approx(expected, abs=1e-12)
    elif isinstance(expected, np.ndarray):
        np.testing.assert_array_equal(ours, expected)
    else:
        assert type(ours) is float
        assert ours == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("method", AVERAGES)
def test_ami_of_a_perfect_match_of_two_samples_is_one(method):
    # scikit-learn's issue 30950: expected MI equals MI there, and 0/0 is not 0
    assert cm.adjusted_mutual_info_score([0, 1], [0, 1], average_method=method) == 1.0
    assert cm.adjusted_mutual_info_score([0, 1, 2, 3], [3, 2, 1, 0],
                                         average_method=method) == 1.0


@pytest.mark.parametrize("method", AVERAGES)
def test_ami_against_one_class_is_exactly_zero(method):
    for n in (10, 100, 1000):
        assert cm.adjusted_mutual_info_score(np.ones(n, int), np.arange(n),
                                             average_method=method) == 0.0


# -- internal metrics: the errors scikit-learn raises, its sentence first -------------------------

INTERNAL = ["silhouette_score", "silhouette_samples", "calinski_harabasz_score",
            "davies_bouldin_score"]
X5 = np.random.default_rng(0).normal(size=(5, 3))
BAD_X = {
    "empty": (np.empty((0, 3)), [],
              r"Found array with 0 sample(s) (shape=(0, 3)) while a minimum of 1 is required."),
    "one sample": (X5[:1], [0], "Number of labels is 1. Valid values are 2 to n_samples - 1 "
                                "(inclusive)"),
    "n=2, two clusters": (X5[:2], [0, 1], "Number of labels is 2. Valid values are 2 to "
                                          "n_samples - 1 (inclusive)"),
    "n=2, one cluster": (X5[:2], [0, 0], "Number of labels is 1. Valid values are 2 to "
                                         "n_samples - 1 (inclusive)"),
    "all singletons": (X5, [0, 1, 2, 3, 4], "Number of labels is 5. Valid values are 2 to "
                                            "n_samples - 1 (inclusive)"),
    "one cluster": (X5, [7] * 5, "Number of labels is 1. Valid values are 2 to n_samples - 1 "
                                 "(inclusive)"),
    "lengths": (X5, [0, 1, 1], "Found input variables with inconsistent numbers of samples: "
                               "[5, 3]"),
    "NaN": (np.where(np.eye(5, 3) > 0, np.nan, X5), [0, 0, 1, 1, 1], "Input X contains NaN."),
    "inf": (np.where(np.eye(5, 3) > 0, np.inf, X5), [0, 0, 1, 1, 1],
            "Input X contains infinity or a value too large for dtype('float64')."),
    "no features": (np.empty((5, 0)), [0, 0, 1, 1, 1],
                    "Found array with 0 feature(s) (shape=(5, 0)) while a minimum of 1 is "
                    "required."),
    "3-D": (np.zeros((5, 2, 2)), [0, 0, 1, 1, 1], "Found array with dim 3, while dim <= 2 is "
                                                  "required."),
    "2-D labels": (X5, [[0, 1]] * 5, "y should be a 1d array, got an array of shape (5, 2) "
                                     "instead."),
}


@pytest.mark.parametrize("case", list(BAD_X), ids=str)
@pytest.mark.parametrize("func", INTERNAL)
def test_internal_errors_carry_sklearns_sentence(func, case):
    X, labels, sentence = BAD_X[case]
    with pytest.raises(ValueError, match=re.escape(sentence)):
        getattr(skc, func)(X, labels)  # the oracle says this sentence
    with pytest.raises(cm.InvalidInputError, match="^" + re.escape(sentence)):
        getattr(cm, func)(X, labels)


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "sqeuclidean", "manhattan"])
@pytest.mark.parametrize("labels", [[0.5, 0.5, 1.5, 1.5, -2.0], [-1, -1, -3, -3, -3],
                                    ["b", "b", "a", "a", "a"]], ids=["float", "negative", "str"])
def test_internal_values_with_float_negative_and_string_labels(labels, metric):
    codes = np.unique(labels, return_inverse=True)[1]  # scikit-learn's own encoding
    np.testing.assert_allclose(cm.silhouette_samples(X5, labels, metric=metric),
                               skm.silhouette_samples(X5, codes, metric=metric),
                               rtol=0, atol=1e-10)
    assert cm.calinski_harabasz_score(X5, labels) == pytest.approx(
        skm.calinski_harabasz_score(X5, codes), rel=1e-10)
    assert cm.davies_bouldin_score(X5, labels) == pytest.approx(
        skm.davies_bouldin_score(X5, codes), rel=1e-10)


def test_three_samples_two_clusters():
    X, labels = X5[:3], [0, 1, 1]
    np.testing.assert_allclose(cm.silhouette_samples(X, labels),
                               skm.silhouette_samples(X, labels), rtol=0, atol=1e-12)
    assert cm.calinski_harabasz_score(X, labels) == pytest.approx(
        skm.calinski_harabasz_score(X, labels), rel=1e-12)
    # scikit-learn's norms trick gives the singleton a distance of ~1e-8 to its own centroid;
    # ours is exactly 0 (see the README's differences), checked against direct distances
    assert cm.davies_bouldin_score(X, labels) == pytest.approx(
        _davies_bouldin_direct(X, np.array(labels)), rel=1e-12)
    assert cm.davies_bouldin_score(X, labels) == pytest.approx(
        skm.davies_bouldin_score(X, labels), rel=1e-7)


def _davies_bouldin_direct(X, labels):
    ks = np.unique(labels)
    cent = np.array([X[labels == k].mean(axis=0) for k in ks])
    s = np.array([np.linalg.norm(X[labels == k] - cent[i], axis=1).mean()
                  for i, k in enumerate(ks)])
    dist = cdist(cent, cent)
    np.fill_diagonal(dist, np.inf)
    return float(np.mean(np.max((s[:, None] + s[None]) / dist, axis=1)))


# -- identical vectors: distance exactly 0 in every metric ----------------------------------------

DUP = np.array([[1.3, 2.7, 5.1]] * 3 + [[4.2, 0.3, 9.9]] * 3 + [[7.7, 7.1, 0.2]])
DUP_LABELS = [0, 0, 0, 1, 1, 1, 1]
METRICS = ["euclidean", "sqeuclidean", "cosine", "manhattan", "chebyshev", "correlation",
           "braycurtis", "canberra", "minkowski"]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("metric", METRICS)
def test_duplicates_as_cluster_mates_score_exactly_one(metric, dtype):
    # rows 0-2 are copies of one vector: a(i) = 0, so s(i) = 1, not 0.99999999
    s = cm.silhouette_samples(DUP.astype(dtype), DUP_LABELS, metric=metric)
    assert s[:3].tolist() == [1.0, 1.0, 1.0]


def test_sklearn_leaves_rounding_noise_where_duplicates_give_zero():
    # the reason this is one of our deliberate differences: scikit-learn's norms trick
    assert skm.silhouette_samples(DUP, DUP_LABELS)[0] < 1.0
    assert cm.silhouette_samples(DUP, DUP_LABELS)[0] == 1.0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_duplicates_far_from_the_origin_in_a_larger_set(dtype):
    rng = np.random.default_rng(5)
    base = rng.normal(size=(300, 16)) * rng.choice([0.01, 1.0], size=(300, 1)) + 1000.0
    X = np.vstack([base, base[:40], base[:40]]).astype(dtype)
    labels = np.r_[rng.integers(0, 4, 300), rng.integers(0, 4, 40), rng.integers(0, 4, 40)]
    x64 = X.astype(np.float64)
    expected = skm.silhouette_samples(cdist(x64, x64), labels, metric="precomputed")
    tol = 1e-10 if dtype == np.float64 else 1e-5
    for working_memory in (None, 0.02):  # one block, and many blocks and row chunks
        np.testing.assert_allclose(
            cm.silhouette_samples(X, labels, working_memory=working_memory), expected,
            rtol=0, atol=tol)


def test_identical_rows_in_different_clusters_are_at_distance_zero():
    X = np.array([[1.0, 2.0]] * 4 + [[1.0, 2.0], [3.0, 1.0]])
    labels = [0, 0, 0, 0, 1, 1]
    expected = skm.silhouette_samples(cdist(X, X), labels, metric="precomputed")
    np.testing.assert_allclose(cm.silhouette_samples(X, labels), expected, rtol=0, atol=1e-15)


def test_davies_bouldin_of_identical_points_and_singletons_is_exact():
    X = np.array([[0.3, 1.7]] * 3 + [[5.1, 2.2], [9.0, 9.0]])
    labels = [0, 0, 0, 1, 2]
    assert cm.davies_bouldin_score(X, labels) == _davies_bouldin_direct(X, np.array(labels))


# -- rounding of zero: coinciding centroids, AMI's 0/0, a cluster's distance to itself ---------

def _coinciding_centroids(seed):
    """Three clusters of small multiples of a step, and a fourth that mirrors the first about
    its mean: the two means are equal exactly (scikit-learn's sums cancel to 0), while a
    merged or blocked sum leaves ~1e-16."""
    rng = np.random.default_rng(seed)
    while True:
        n, d = int(rng.integers(6, 200)), int(rng.integers(1, 5))
        X = rng.integers(-3, 4, size=(n, d)) * rng.choice([1.0, 0.1, 0.3, 1e3])
        labels = rng.integers(0, 3, n)
        first = X[labels == 0]
        if len(first) < 2 or len(set(labels)) < 3:
            continue
        Y = np.vstack([X, 2 * first.mean(axis=0) - first])
        labels = np.r_[labels, np.full(len(first), 3)]
        cent = np.array([Y[labels == k].mean(axis=0) for k in range(4)])
        if np.linalg.norm(cent[0] - cent[3]) == 0.0:
            return Y, labels


@pytest.mark.parametrize("seed", range(12))
def test_davies_bouldin_with_coinciding_centroids_equals_sklearn(seed):
    # a centroid distance within rounding of 0 is 0, and a zero distance drops the pair, as
    # scikit-learn drops its exact 0 (was 6.0e15 against 5.3)
    X, labels = _coinciding_centroids(seed)
    expected = skm.davies_bouldin_score(X, labels)
    assert cm.davies_bouldin_score(X, labels) == pytest.approx(expected, rel=1e-9)
    # float32 data: its means round at float32's epsilon times the spread
    assert cm.davies_bouldin_score(X.astype(np.float32), labels) == pytest.approx(
        expected, rel=1e-5)


def test_davies_bouldin_of_the_issues_example():
    X = np.array([[0.0], [2.0], [-1.0], [3.0], [10.0], [11.0]])
    labels = [0, 0, 1, 1, 2, 2]  # clusters 0 and 1 share the mean 1.0
    expected = skm.davies_bouldin_score(X, labels)
    assert cm.davies_bouldin_score(X, labels) == pytest.approx(expected, rel=1e-12)


def test_centroids_a_rounding_apart_are_not_coinciding():
    # a real distance just above the rounding bound stays a distance
    from clustermetrics.metrics.clusterstats import ROUNDING, centroid_distances
    eps = np.finfo(np.float64).eps
    means = np.array([[1.0, 0.0], [1.0 + 1e3 * ROUNDING * eps, 0.0]])
    dist = centroid_distances(means, spread=np.array([1.0, 1.0]))
    assert dist[0, 1] > 0
    close = np.array([[1.0, 0.0], [1.0 + 4 * eps, 0.0]])
    assert centroid_distances(close, spread=np.array([1.0, 1.0]))[0, 1] == 0.0
    # float32's rounding is wider: 1e-6 of the spread is rounding there, not in float64
    apart = np.array([[0.0], [1e-6]])
    assert centroid_distances(apart, spread=np.array([1.0, 1.0]),
                              eps=float(np.finfo(np.float32).eps))[0, 1] == 0.0
    assert centroid_distances(apart, spread=np.array([1.0, 1.0]))[0, 1] == 1e-6


@pytest.mark.parametrize("method", AVERAGES)
@pytest.mark.parametrize("n,k", [(6, 3), (10, 2), (100, 7), (1000, 30)])
def test_ami_against_all_singletons_is_zero(method, n, k):
    # MI equals its expectation exactly; with "min" the denominator is 0 too: 0/0 is defined as
    # 0 (scikit-learn returns rounding noise there: -1.0, 0.4, 1.4)
    truth = np.random.default_rng(n).integers(0, k, n)
    assert cm.adjusted_mutual_info_score(truth, np.arange(n), average_method=method) == 0.0
    assert cm.adjusted_mutual_info_score(np.arange(n), truth, average_method=method) == 0.0


@pytest.mark.parametrize("method", AVERAGES)
def test_ami_of_identical_singleton_partitions_is_one(method):
    n = 50
    assert cm.adjusted_mutual_info_score(np.arange(n), np.arange(n)[::-1],
                                         average_method=method) == 1.0


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "sqeuclidean", "correlation"])
def test_a_centroid_is_at_exactly_zero_from_itself(metric):
    from clustermetrics.metrics.clusterstats import centroid_distances
    means = np.random.default_rng(3).normal(size=(6, 5)) + 3.0
    dist = centroid_distances(means, metric)
    assert np.diag(dist).tolist() == [0.0] * 6
    off = ~np.eye(6, dtype=bool)
    np.testing.assert_allclose(dist[off], cdist(means, means, metric)[off], rtol=1e-12)
