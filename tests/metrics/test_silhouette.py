import numpy as np
import pytest
from sklearn import metrics as skm

import clustermetrics as cm
from clustermetrics.metrics.evaluate import ArraySource, evaluate_source
from clustermetrics.metrics.silhouettes import MIN_PER_CLUSTER

METRICS = ["euclidean", "cosine", "sqeuclidean", "manhattan", "chebyshev"]


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("which", ["truth", "kmeans"])
def test_float64_matches_sklearn_to_1e10(real_dataset, metric, which):
    _, X, y, km = real_dataset
    labels = y if which == "truth" else km
    ours = cm.silhouette_samples(X, labels, metric=metric)
    np.testing.assert_allclose(ours, skm.silhouette_samples(X, labels, metric=metric),
                               rtol=0, atol=1e-10)
    assert cm.silhouette_score(X, labels, metric=metric) == pytest.approx(
        skm.silhouette_score(X, labels, metric=metric), abs=1e-10)


@pytest.mark.parametrize("metric", METRICS)
def test_float32_matches_sklearn_to_1e5(real_dataset, metric):
    _, X, _y, km = real_dataset
    X32 = X.astype(np.float32)
    assert cm.silhouette_score(X32, km, metric=metric) == pytest.approx(
        skm.silhouette_score(X32, km, metric=metric), abs=1e-5)
    # per sample, against the exact value of the same float32 data
    np.testing.assert_allclose(cm.silhouette_samples(X32, km, metric=metric),
                               skm.silhouette_samples(X32.astype(np.float64), km, metric=metric),
                               rtol=0, atol=1e-5)


def test_hand_computed_values():
    # points 0, 1 | 4, 5 on a line: s(0) = 1 - 1/4.5, s(1) = 1 - 1/3.5, mirrored for 4 and 5
    X = np.array([[0.0], [1.0], [4.0], [5.0]])
    res = cm.silhouette(X, [0, 0, 1, 1])
    np.testing.assert_allclose(res.values, [1 - 1 / 4.5, 1 - 1 / 3.5, 1 - 1 / 3.5, 1 - 1 / 4.5])
    np.testing.assert_allclose(res.a, [1, 1, 1, 1])
    np.testing.assert_allclose(res.b, [4.5, 3.5, 3.5, 4.5])
    assert res.ci is None
    assert list(res.nearest) == [1, 1, 0, 0]


def test_rousseeuw_singleton_convention():
    # Rousseeuw (1987): s(i) = 0 when i is alone in its cluster
    X = np.array([[0.0], [1.0], [10.0], [20.0]])
    assert cm.silhouette_samples(X, [0, 0, 1, 2])[2:].tolist() == [0.0, 0.0]
    assert cm.silhouette_score(X, [0, 0, 1, 2]) == pytest.approx(
        skm.silhouette_score(X, [0, 0, 1, 2]))


def test_string_labels(blobs):
    X, labels = blobs
    names = np.array(["north", "south", "east", "west"], dtype=object)[labels]
    assert cm.silhouette_score(X, names) == pytest.approx(skm.silhouette_score(X, labels),
                                                          abs=1e-12)


@pytest.mark.parametrize("metric", ["euclidean", "manhattan"])
def test_tiny_working_memory_gives_the_same_value(blobs, metric):
    X, labels = blobs
    full = cm.silhouette_samples(X, labels, metric=metric)
    tiny = cm.silhouette_samples(X, labels, metric=metric, working_memory=0.05)  # many blocks
    np.testing.assert_allclose(tiny, full, rtol=0, atol=1e-12)


def test_far_from_origin_float32_stays_accurate(blobs):
    X, labels = blobs
    shifted = (X + 1e4).astype(np.float32)  # norms trick without centring would cancel badly
    assert cm.silhouette_score(shifted, labels) == pytest.approx(
        skm.silhouette_score(X, labels), abs=1e-4)


def test_per_cluster_table(blobs):
    X, labels = blobs
    res = cm.silhouette(X, labels)
    table = res.per_cluster
    assert list(table.index) == [0, 1, 2, 3]
    assert table["size"].tolist() == np.bincount(labels).tolist()
    s = cm.silhouette_samples(X, labels)
    for c in range(4):
        assert table.loc[c, "silhouette"] == pytest.approx(s[labels == c].mean())
        assert table.loc[c, "min"] == pytest.approx(s[labels == c].min())
    assert set(table["nearest"]) <= {0, 1, 2, 3}


def test_sampled_scores_against_the_full_data(blobs):
    X, labels = blobs
    res = cm.silhouette(X, labels, sample_size=100, random_state=0)
    exact = cm.silhouette_samples(X, labels)
    np.testing.assert_allclose(res.values, exact[res.sample_index], atol=1e-12)
    assert "sampled" in res.method and res.ci[0] <= res.score <= res.ci[1]


def test_sampled_interval_covers_the_exact_value_at_about_the_nominal_rate():
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 5, 3000)
    X = rng.normal(size=(5, 6))[labels] * 1.5 + rng.normal(size=(3000, 6))
    exact = cm.silhouette_score(X, labels)
    hits = sum(lo <= exact <= hi for lo, hi in (
        cm.silhouette(X, labels, sample_size=150, random_state=seed).ci for seed in range(200)))
    assert 0.88 <= hits / 200 <= 1.0


def test_tiny_cluster_among_many_is_kept_when_sampling():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 10_000)
    labels[:5] = 9
    X = rng.normal(size=(10_000, 4)) + labels[:, None]
    res = cm.silhouette(X, labels, sample_size=200, random_state=1)
    assert res.per_cluster.loc[9, "scored"] == 5
    assert res.per_cluster.loc[9, "size"] == 5
    assert (res.per_cluster["scored"] >= MIN_PER_CLUSTER).all()


def test_sample_size_is_ignored_for_linear_metrics(blobs):
    X, labels = blobs
    res = cm.silhouette(X, labels, metric="cosine", sample_size=10)
    assert res.ci is None and res.n_scored == len(X) and "exact" in res.method


def test_random_state_makes_sampling_reproducible(blobs):
    X, labels = blobs
    a = cm.silhouette_score(X, labels, sample_size=50, random_state=3)
    assert a == cm.silhouette_score(X, labels, sample_size=50, random_state=3)
    assert a == cm.silhouette_score(X, labels, sample_size=50,
                                    random_state=np.random.default_rng(3))


# -- labels: missing and noise --------------------------------------------------------------

def test_missing_labels_are_left_out(blobs):
    X, labels = blobs
    with_missing = labels.astype(object)
    with_missing[[0, 5, 9]] = None
    keep = np.ones(len(X), bool)
    keep[[0, 5, 9]] = False
    s = cm.silhouette_samples(X, with_missing)
    assert np.isnan(s[[0, 5, 9]]).all()
    np.testing.assert_allclose(s[keep], skm.silhouette_samples(X[keep], labels[keep]), atol=1e-12)


@pytest.mark.parametrize("policy", ["exclude", "cluster", "singletons"])
def test_noise_policies(blobs, policy):
    X, labels = blobs
    labels = labels.copy()
    labels[::7] = -1
    score = cm.silhouette_score(X, labels, noise_label=-1, noise=policy)
    noise = labels == -1
    if policy == "exclude":
        expected = skm.silhouette_score(X[~noise], labels[~noise])
    elif policy == "cluster":
        expected = skm.silhouette_score(X, labels)
    else:
        own = labels.copy()
        own[noise] = 100 + np.arange(noise.sum())
        expected = skm.silhouette_score(X, own)
    assert score == pytest.approx(expected, abs=1e-12)


def _brute_force(X, labels, metric):
    """s, a, b and the nearest other cluster from the full distance matrix."""
    from scipy.spatial.distance import cdist
    D, names = cdist(X, X, metric=metric), np.unique(labels)
    means = np.stack([D[:, labels == c].sum(axis=1) for c in names], axis=1)
    sizes = np.array([(labels == c).sum() for c in names])
    own = np.searchsorted(names, labels)
    rows = np.arange(len(X))
    a = np.where(sizes[own] > 1, means[rows, own] / np.maximum(sizes[own] - 1, 1), 0.0)
    other = means / sizes
    other[rows, own] = np.inf
    b, nearest = other.min(axis=1), names[other.argmin(axis=1)]
    s = np.where(sizes[own] > 1, (b - a) / np.maximum(a, b), 0.0)
    return s, a, b, nearest


@pytest.mark.parametrize("metric", ["euclidean", "cityblock"])
def test_many_singletons_in_many_blocks_match_brute_force(monkeypatch, metric):
    # a third of the points are noise, each its own cluster: they get no column of sums,
    # only each row's nearest singleton, carried across blocks and row chunks
    import os

    from clustermetrics.metrics import silhouettes
    monkeypatch.setattr(silhouettes, "ROW_CHUNK_BYTES", 1)  # 64-row chunks
    rng = np.random.default_rng(3)
    n, d = 300, 4
    labels = rng.integers(0, 4, n)
    X = rng.normal(size=(n, d)) + labels[:, None] * 2.0
    labels[rng.random(n) < 0.33] = -1
    own = labels.copy()
    own[labels == -1] = 100 + np.arange((labels == -1).sum())
    memory = 100 * 2 * (os.cpu_count() or 1) * d * 8 / 2**20  # blocks of about 100 rows
    res = cm.silhouette(X, labels, metric=metric, noise_label=-1, noise="singletons",
                        working_memory=memory)
    s, a, b, nearest = _brute_force(X, own, metric)
    np.testing.assert_allclose(res.values, s, atol=1e-12)
    np.testing.assert_allclose(res.a, a, atol=1e-12)
    np.testing.assert_allclose(res.b, b, atol=1e-12)
    noise_rows = np.flatnonzero(labels == -1)  # noise singletons are named "-1#{row}"
    named = [f"-1#{noise_rows[c - 100]}" if c >= 100 else c for c in nearest]
    assert res.nearest.tolist() == named
    assert res.score == pytest.approx(skm.silhouette_score(X, own, metric=metric), abs=1e-12)

    sampled = cm.silhouette(X, labels, metric=metric, noise_label=-1, noise="singletons",
                            working_memory=memory, sample_size=120, random_state=0)
    rows = sampled.sample_index
    np.testing.assert_allclose(sampled.values, s[rows], atol=1e-12)
    np.testing.assert_allclose(sampled.b, b[rows], atol=1e-12)


def test_singletons_take_no_column_of_sums():
    from clustermetrics.metrics.silhouettes import pairwise_sums
    X = np.random.default_rng(0).normal(size=(50, 3))
    codes = np.r_[np.zeros(20, int), np.ones(10, int), np.arange(2, 22)]  # 20 singletons
    sums, columns, near = pairwise_sums(X, codes, np.bincount(codes), "euclidean")
    assert sums.shape == (50, 2) and columns.tolist() == [0, 1]
    assert near[0].shape == near[1].shape == (50,)


# -- bad input, one case each -----------------------------------------------------------------

def test_one_cluster_is_an_error():
    with pytest.raises(cm.InvalidInputError,
                       match=r"^Number of labels is 1\. Valid values are 2 to n_samples - 1 "
                             r"\(inclusive\); here n_samples is 3"):
        cm.silhouette_score(np.eye(3), [0, 0, 0])


def test_as_many_clusters_as_samples_is_an_error():
    with pytest.raises(cm.InvalidInputError,
                       match=r"^Number of labels is 3\. Valid values are 2 to n_samples - 1 "
                             r"\(inclusive\); here n_samples is 3"):
        cm.silhouette_score(np.eye(3), [0, 1, 2])


def test_nan_rows_are_counted_and_named():
    X = np.ones((10, 2))
    X[[2, 7], 0] = np.nan
    X[8, 1] = np.inf
    with pytest.raises(cm.InvalidInputError,
                       match=r"^Input X contains NaN\. X has NaN or infinite values in 3 rows "
                             r"\(first: 2, 7, 8\)"):
        cm.silhouette_score(X, [0, 1] * 5)


def test_infinite_rows_are_an_error_with_sklearns_sentence():
    X = np.ones((10, 2), dtype=np.float32)
    X[4, 1] = np.inf
    with pytest.raises(cm.InvalidInputError,
                       match=r"^Input X contains infinity or a value too large for "
                             r"dtype\('float32'\)\. X has NaN or infinite values in 1 row"):
        cm.silhouette_score(X, [0, 1] * 5)


def test_zero_vectors_under_cosine_are_named():
    X = np.ones((6, 3))
    X[[1, 4]] = 0
    with pytest.raises(cm.InvalidInputError, match=r"zero vectors: 2 rows \(first: 1, 4\)"):
        cm.silhouette_score(X, [0, 1] * 3, metric="cosine")


@pytest.mark.parametrize("func", ["silhouette_score", "silhouette_samples", "silhouette"])
def test_unknown_metric_is_an_error(func):
    with pytest.raises(cm.errors.InvalidParameterError,
                       match=f"^The 'metric' parameter of {func} must be a str among "
                             r"\{.*'precomputed'.*\}\. Got 'hamming-ish' instead"):
        getattr(cm, func)(np.eye(4), [0, 0, 1, 1], metric="hamming-ish")


def test_metric_that_is_not_a_string_is_an_error():
    with pytest.raises(TypeError, match=r"^The 'metric' parameter of silhouette_score must be"):
        cm.silhouette_score(np.eye(4), [0, 0, 1, 1], metric=len)


def test_length_mismatch_is_an_error():
    with pytest.raises(cm.InvalidInputError,
                       match=r"^Found input variables with inconsistent numbers of samples: "
                             r"\[4, 3\]\. X has 4 rows but labels has 3 entries"):
        cm.silhouette_score(np.eye(4), [0, 0, 1])


def test_one_dimensional_x_is_an_error():
    with pytest.raises(cm.InvalidInputError,
                       match=r"^Expected 2D array, got 1D array instead: X has shape \(4,\)\. "
                             r"X must be 2-D"):
        cm.silhouette_score(np.arange(4.0), [0, 0, 1, 1])


def test_three_dimensional_x_is_an_error():
    with pytest.raises(cm.InvalidInputError,
                       match=r"^Found array with dim 3, while dim <= 2 is required\. X must be "
                             r"2-D \(n_samples, n_features\); got shape \(4, 2, 2\)"):
        cm.silhouette_score(np.zeros((4, 2, 2)), [0, 0, 1, 1])


def test_two_dimensional_labels_are_an_error():
    with pytest.raises(cm.InvalidInputError,
                       match=r"^y should be a 1d array, got an array of shape \(4, 2\) instead"):
        cm.silhouette_score(np.eye(4), [[0, 1]] * 4)


def test_non_numeric_x_is_an_error():
    with pytest.raises(cm.InvalidInputError,
                       match=r"^dtype='numeric' is not compatible with arrays of bytes/strings\. "
                             ".*X must be numeric"):
        cm.silhouette_score(np.array([["a"], ["b"], ["c"], ["d"]]), [0, 0, 1, 1])


def test_object_x_of_numbers_is_converted():
    X = np.array([[0.0], [1.0], [4.0], [5.0]], dtype=object)
    assert cm.silhouette_score(X, [0, 0, 1, 1]) == pytest.approx(
        skm.silhouette_score(X.astype(float), [0, 0, 1, 1]), abs=1e-15)


def test_empty_x_is_an_error():
    with pytest.raises(cm.InvalidInputError,
                       match=r"^Found array with 0 sample\(s\) \(shape=\(0, 3\)\) while a "
                             "minimum of 1 is required"):
        cm.silhouette_score(np.empty((0, 3)), [])


def test_x_without_features_is_an_error():
    with pytest.raises(cm.InvalidInputError,
                       match=r"^Found array with 0 feature\(s\) \(shape=\(4, 0\)\) while a "
                             r"minimum of 1 is required\. X has 0 features"):
        cm.silhouette_score(np.empty((4, 0)), [0, 0, 1, 1])


@pytest.mark.parametrize("size", [0, 2.5, True])
def test_sample_size_that_is_not_a_positive_int_is_an_error(blobs, size):
    X, labels = blobs
    with pytest.raises(cm.errors.InvalidParameterError,
                       match=r"^The 'sample_size' parameter of silhouette_score must be an int "
                             rf"in the range \[1, inf\) or None\. Got {size!r} instead"):
        cm.silhouette_score(X, labels, sample_size=size)


def test_unknown_noise_policy_is_an_error(blobs):
    X, labels = blobs
    with pytest.raises(cm.InvalidInputError, match="noise='drop' is not a noise policy"):
        cm.silhouette_score(X, labels, noise_label=-1, noise="drop")


def test_noise_policy_without_noise_label_is_an_error(blobs):
    X, labels = blobs
    with pytest.raises(cm.InvalidInputError, match="noise='singletons' needs noise_label="):
        cm.silhouette_score(X, labels, noise="singletons")


@pytest.mark.parametrize("metric", ["cosine", "sqeuclidean", "euclidean"])
def test_identical_points_score_zero(metric):
    X = np.full((6, 3), 5.0)
    labels = [0, 0, 0, 1, 1, 1]
    np.testing.assert_array_equal(cm.silhouette_samples(X, labels, metric=metric), np.zeros(6))
    assert cm.silhouette_score(X, labels, metric=metric) == skm.silhouette_score(
        X, labels, metric=metric)


@pytest.mark.parametrize("metric", ["cosine", "sqeuclidean"])
def test_duplicated_points_per_cluster_score_one(metric):
    X = np.array([[1.0, 0.0]] * 3 + [[0.0, 1.0]] * 3) * 7
    np.testing.assert_array_equal(cm.silhouette_samples(X, [0, 0, 0, 1, 1, 1], metric=metric),
                                  np.ones(6))


def test_sparse_and_list_inputs(blobs):
    import scipy.sparse as sp
    X, labels = blobs
    expected = skm.silhouette_score(X, labels)
    assert cm.silhouette_score(sp.csr_matrix(X), labels) == pytest.approx(expected, abs=1e-12)
    assert cm.silhouette_score(X.tolist(), labels.tolist()) == pytest.approx(expected, abs=1e-12)


# -- sparse X (issue 10), float32 linear passes -------------------------------------------------

@pytest.mark.parametrize("container", ["csr_matrix", "csc_array", "coo_matrix", "lil_matrix"])
@pytest.mark.parametrize("metric", ["euclidean", "cosine", "sqeuclidean", "manhattan"])
def test_silhouette_samples_of_sparse_x(blobs, container, metric):
    import scipy.sparse as sp
    X, labels = blobs
    X = np.where(np.abs(X) < 1, 0.0, X)  # some structure of zeros
    sparse = getattr(sp, container)(X)
    np.testing.assert_allclose(cm.silhouette_samples(sparse, labels, metric=metric),
                               skm.silhouette_samples(X, labels, metric=metric),
                               rtol=0, atol=1e-10)


@pytest.mark.parametrize("metric", ["cosine", "sqeuclidean"])
def test_float32_linear_silhouette_equals_the_float64_computation(metric):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 16, 40_000)
    X = (rng.normal(size=(16, 96))[labels] + 2 * rng.normal(size=(40_000, 96))).astype(
        np.float32)
    ours = cm.silhouette_samples(X, labels, metric=metric)
    exact = cm.silhouette_samples(X.astype(np.float64), labels, metric=metric)
    np.testing.assert_allclose(ours, exact, rtol=0, atol=1e-6)


@pytest.mark.parametrize("metric", ["cosine", "sqeuclidean"])
def test_float32_tight_clusters_are_rescored_in_float64(metric):
    # cosine distances of ~1e-6 within and ~1e-4 between clusters: far below float32's
    # rounding of the sums, so such rows are scored again in float64
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 3, 3000)
    X = (np.ones(8) + 1e-2 * rng.normal(size=(3, 8))[labels]
         + 1e-3 * rng.normal(size=(3000, 8))).astype(np.float32)
    x64 = X.astype(np.float64)
    np.testing.assert_allclose(cm.silhouette_samples(X, labels, metric=metric),
                               skm.silhouette_samples(x64, labels, metric=metric),
                               rtol=0, atol=1e-5)


def test_linear_silhouette_never_copies_x():
    import tracemalloc
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 8, 100_000)
    X = rng.normal(size=(100_000, 64)).astype(np.float32)  # 25.6 MB
    tracemalloc.start()
    try:
        cm.silhouette_score(X, labels, metric="cosine")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # blocks, per-part sums (rows x k) and the per-sample outputs; no copy of X
    assert peak < X.nbytes * 0.75


def test_euclidean_row_chunks_and_blocks_match_sklearn_in_float32(monkeypatch, blobs):
    from clustermetrics.metrics import silhouettes
    monkeypatch.setattr(silhouettes, "ROW_CHUNK_BYTES", 1)  # 64-row chunks: the triangle
    X, labels = blobs
    X32 = X.astype(np.float32)
    np.testing.assert_allclose(cm.silhouette_samples(X32, labels, working_memory=0.05),
                               skm.silhouette_samples(X32.astype(np.float64), labels),
                               rtol=0, atol=1e-5)


@pytest.mark.parametrize("metric", ["cosine", "sqeuclidean"])
def test_nan_rows_are_found_by_the_linear_pass(metric):
    X = np.ones((10, 2)) + np.arange(10)[:, None]
    X[[2, 7], 0] = np.nan
    with pytest.raises(cm.InvalidInputError,
                       match=r"^Input X contains NaN\. X has NaN or infinite values in 2 rows "
                             r"\(first: 2, 7\)"):
        cm.silhouette_score(X, [0, 1] * 5, metric=metric)


@pytest.mark.parametrize("metric", ["cosine", "sqeuclidean"])
def test_values_whose_squares_overflow_are_named(metric):
    X = (np.ones((10, 2)) + np.arange(10)[:, None]).astype(np.float32)
    X[3, 0] = 1e30  # finite, but its square is not in float32
    with pytest.raises(cm.InvalidInputError,
                       match=r"values whose squares overflow float32 in 1 row \(3\)"):
        cm.silhouette_score(X, [0, 1] * 5, metric=metric)


@pytest.mark.parametrize("metric", ["cosine", "sqeuclidean", "euclidean", "manhattan"])
@pytest.mark.parametrize("dtype,big", [(np.float32, 1e30), (np.float64, 1e200)])
def test_evaluate_names_values_whose_squares_overflow(metric, dtype, big):
    X = (np.ones((10, 2)) + np.arange(10)[:, None]).astype(dtype)
    X[3, 0] = big
    with pytest.raises(cm.InvalidInputError,
                       match=rf"values whose squares overflow {np.dtype(dtype)} in 1 row"):
        cm.evaluate(X, [0, 1] * 5, metric=metric)


@pytest.mark.parametrize("metric", ["cosine", "sqeuclidean"])
def test_infinite_rows_are_found_by_the_linear_pass(metric):
    X = (np.ones((10, 2)) + np.arange(10)[:, None]).astype(np.float32)
    X[4, 1] = -np.inf
    with pytest.raises(cm.InvalidInputError,
                       match=r"^Input X contains infinity or a value too large for "
                             r"dtype\('float32'\)\. .* in 1 row \(4\)"):
        cm.silhouette_score(X, [0, 1] * 5, metric=metric)


@pytest.mark.parametrize("scale", [1e4, 1e8, 1e9, 1e15])
def test_squared_euclidean_with_one_far_outlier_equals_sklearn(scale):
    """One far row moves the data's centre far from every other row; rows whose a and b are
    small against the formula's magnitudes are redone from their own deviations."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 8)) + np.repeat(np.arange(4), 50)[:, None] * 5
    labels = np.repeat(np.arange(4), 50)
    X[5] *= scale
    np.testing.assert_allclose(cm.silhouette_samples(X, labels, metric="sqeuclidean"),
                               skm.silhouette_samples(X, labels, metric="sqeuclidean"),
                               rtol=1e-10, atol=1e-10)
    streamed = evaluate_source(ArraySource(X, labels, batch_rows=37), metric="sqeuclidean")
    assert streamed.silhouette == pytest.approx(
        skm.silhouette_score(X, labels, metric="sqeuclidean"), rel=1e-10)


@pytest.mark.parametrize("dtype,big", [(np.float32, 1e25), (np.float64, 1e200)])
@pytest.mark.parametrize("sample_size", [None, 8])
def test_euclidean_names_values_whose_squares_overflow(dtype, big, sample_size):
    """The kernel works on centred squared norms; a value whose square overflows would make
    every distance infinite (scikit-learn then returns 0.0): refused, naming the row."""
    X = np.random.default_rng(0).normal(size=(10, 4)).astype(dtype)
    X[3, 1] = big
    with pytest.raises(cm.InvalidInputError, match=rf"values whose squares overflow "
                       rf"{np.dtype(dtype)} in 1 row \(3\)"):
        cm.silhouette_score(X, [0] * 5 + [1] * 5, sample_size=sample_size, random_state=0)


# -- scikit-learn's extra keywords: n_jobs, and the distance function's own ----------------------

KWDS_CASES = [
    {"metric": "minkowski", "p": 3},
    {"metric": "minkowski", "p": 1.5, "n_jobs": -1},
    {"n_jobs": 2},
    {"n_jobs": 1, "metric": "cosine"},
    {"metric": "minkowski", "p": 2, "w": np.arange(1.0, 6.0)},
]


@pytest.mark.parametrize("kwds", KWDS_CASES, ids=lambda k: ",".join(map(str, k)))
def test_extra_keywords_reach_the_distance_as_in_sklearn(kwds):
    # they raised "TypeError: _silhouette() got an unexpected keyword argument"
    rng = np.random.default_rng(0)
    X, labels = rng.normal(size=(200, 5)), rng.integers(0, 4, 200)
    assert cm.silhouette_score(X, labels, **kwds) == pytest.approx(
        skm.silhouette_score(X, labels, **kwds), abs=1e-12)
    np.testing.assert_allclose(cm.silhouette_samples(X, labels, **kwds),
                               skm.silhouette_samples(X, labels, **kwds), rtol=0, atol=1e-12)


def test_extra_keywords_with_a_sample_are_scored_against_all():
    rng = np.random.default_rng(1)
    X, labels = rng.normal(size=(300, 4)), rng.integers(0, 3, 300)
    full = skm.silhouette_score(X, labels, metric="minkowski", p=3)
    res = cm.silhouette(X, labels, metric="minkowski", p=3, sample_size=150, random_state=0)
    assert res.ci is not None and res.ci[0] <= full <= res.ci[1]


@pytest.mark.parametrize("kwds,message", [
    ({"metric": "minkowski", "q": 3}, "the 'minkowski' distance takes no keyword q"),
    ({"metric": "euclidean", "p": 3}, "the 'euclidean' distance takes no keyword p"),
    ({"metric": "minkowski", "w": [1.0, 2.0]},
     r"the 'minkowski' distance refused w=\[1.0, 2.0\]: Weights must have same size"),
    ({"n_jobs": 0}, r"n_jobs must be a nonzero integer or None \(-1: every core\); got 0"),
    ({"n_jobs": "2"}, "n_jobs must be a nonzero integer or None .*; got '2'"),
])
def test_wrong_extra_keywords_are_named(kwds, message):
    rng = np.random.default_rng(0)
    X, labels = rng.normal(size=(20, 5)), rng.integers(0, 2, 20)
    with pytest.raises(cm.InvalidInputError, match="^silhouette_score: " + message):
        cm.silhouette_score(X, labels, **kwds)


def test_per_cluster_tables_share_their_column_names(blobs):
    # silhouette() called the column "mean", evaluate() "silhouette": one name everywhere
    X, labels = blobs
    silhouette_columns = list(cm.silhouette(X, labels).per_cluster.columns)
    assert silhouette_columns == ["size", "scored", "silhouette", "min", "q25", "median", "q75",
                                  "max", "nearest"]
    for kwargs in ({}, {"sample_size": 100, "random_state": 0}):
        table = cm.evaluate(X, labels, **kwargs).per_cluster
        assert list(table.columns[:len(silhouette_columns)]) == silhouette_columns
    D = np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1))
    table = cm.evaluate(D, labels, metric="precomputed").per_cluster
    assert list(table.columns[:len(silhouette_columns)]) == silhouette_columns
