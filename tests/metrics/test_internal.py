import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

import clustermetrics as cm
from clustermetrics.metrics.clusterstats import ClusterStats
from clustermetrics.metrics.internal import DaviesBouldinStats, calinski_harabasz_from_stats
from clustermetrics.metrics.labels import encode_labels
from clustermetrics.metrics.silhouettes import linear_silhouette


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 1e-5)])
def test_calinski_harabasz_and_davies_bouldin_match_sklearn(real_dataset, dtype, tol):
    _, X, y, km = real_dataset
    X = X.astype(dtype)
    for labels in (y, km):
        assert cm.calinski_harabasz_score(X, labels) == pytest.approx(
            skm.calinski_harabasz_score(X, labels), rel=tol)
        assert cm.davies_bouldin_score(X, labels) == pytest.approx(
            skm.davies_bouldin_score(X, labels), rel=tol)


def test_calinski_harabasz_is_stable_far_from_the_origin(blobs):
    X, labels = blobs
    assert cm.calinski_harabasz_score(X + 1e6, labels) == pytest.approx(
        cm.calinski_harabasz_score(X, labels), rel=1e-7)


def test_identical_points_per_cluster():
    X = np.array([[0.0, 0], [0, 0], [1, 1], [1, 1]])
    assert cm.calinski_harabasz_score(X, [0, 0, 1, 1]) == 1.0  # scikit-learn's convention
    assert cm.davies_bouldin_score(X, [0, 0, 1, 1]) == 0.0


def test_one_cluster_is_an_error():
    with pytest.raises(cm.InvalidInputError, match="Number of labels is 1"):
        cm.calinski_harabasz_score(np.eye(3), [0, 0, 0])


def test_dimension_mismatch_between_batches_is_an_error():
    a = ClusterStats.from_batch(np.ones((2, 3)), encode_labels([0, 1]))
    b = ClusterStats.from_batch(np.ones((2, 4)), encode_labels([0, 1]))
    with pytest.raises(cm.InvalidInputError, match="differ in dimension between batches: 3 != 4"):
        a.merge(b)


def _davies_bouldin_reference(X, labels):
    """Davies-Bouldin with direct norms. scikit-learn's uses the norms trick, which is off by
    ~1e-6 for a singleton far from the origin (sqrt of a rounding error instead of 0)."""
    ks = np.unique(labels)
    cent = np.array([X[labels == k].mean(axis=0) for k in ks])
    s = np.array([np.linalg.norm(X[labels == k] - cent[i], axis=1).mean()
                  for i, k in enumerate(ks)])
    dist = np.linalg.norm(cent[:, None] - cent[None], axis=2)
    np.fill_diagonal(dist, np.inf)
    return float(np.mean(np.max((s[:, None] + s[None]) / dist, axis=1)))


def test_davies_bouldin_reference_agrees_with_sklearn(blobs):
    X, labels = blobs
    assert _davies_bouldin_reference(X, labels) == pytest.approx(
        skm.davies_bouldin_score(X, labels), rel=1e-10)


@settings(deadline=None)
@given(data=st.data(), n=st.integers(6, 120), k=st.integers(2, 5), d=st.integers(1, 6))
def test_merged_batches_equal_one_shot(data, n, k, d):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    labels = np.r_[np.arange(k), rng.integers(0, k, n - k)]
    X = rng.normal(size=(n, d)) + labels[:, None] * 3 + 50
    cuts = sorted(data.draw(st.lists(st.integers(0, n), max_size=5)))
    bounds = list(zip([0, *cuts], [*cuts, n], strict=True))
    parts = [ClusterStats.from_batch(X[a:b], encode_labels(labels[a:b]), unit_sums=True)
             for a, b in bounds]
    merged = ClusterStats(unit_sums=True)
    for i in data.draw(st.permutations(range(len(parts)))):
        merged = merged.merge(parts[i])
    whole = ClusterStats.from_batch(X, encode_labels(labels), unit_sums=True)
    np.testing.assert_allclose(merged.mean, whole.mean, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(merged.m2, whole.m2, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(merged.unit_sum, whole.unit_sum, rtol=1e-10, atol=1e-10)
    if len(np.unique(labels)) < n:
        assert calinski_harabasz_from_stats(merged) == pytest.approx(
            skm.calinski_harabasz_score(X, labels), rel=1e-8)
        db = DaviesBouldinStats(merged)
        db_parts = [DaviesBouldinStats(merged).update(X[a:b], encode_labels(labels[a:b]))
                    for a, b in bounds]
        for p in db_parts:
            db = db.merge(p)
        assert db.score() == pytest.approx(_davies_bouldin_reference(X, labels), rel=1e-10)
        # cosine silhouette of each batch against the merged statistics
        s = np.concatenate([linear_silhouette(X[a:b], merged.codes_for(encode_labels(labels[a:b])),
                                              merged, "cosine")[0] for a, b in bounds])
        np.testing.assert_allclose(s, skm.silhouette_samples(X, labels, metric="cosine"),
                                   atol=1e-9)


def test_float32_far_from_the_origin_keeps_its_digits(blobs):
    X, labels = blobs
    far = (X + 1e4).astype(np.float32)
    exact = far.astype(np.float64)
    assert cm.calinski_harabasz_score(far, labels) == pytest.approx(
        cm.calinski_harabasz_score(exact, labels), rel=1e-5)
    assert cm.davies_bouldin_score(far, labels) == pytest.approx(
        cm.davies_bouldin_score(exact, labels), rel=1e-5)


def test_float32_statistics_match_float64_in_many_blocks(blobs):
    X, labels = blobs
    enc = encode_labels(labels)
    ours = ClusterStats.from_batch(X.astype(np.float32), enc, unit_sums=True, chunk_rows=7)
    exact = ClusterStats.from_batch(X.astype(np.float32).astype(np.float64), enc,
                                    unit_sums=True, chunk_rows=7)
    np.testing.assert_allclose(ours.mean, exact.mean, rtol=0, atol=1e-5)
    np.testing.assert_allclose(ours.m2, exact.m2, rtol=1e-5)
    np.testing.assert_allclose(ours.unit_sum, exact.unit_sum, rtol=0, atol=1e-5)


def test_tight_float32_clusters_keep_exact_unit_sums():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 3, 500)
    directions = rng.normal(size=(3, 20))
    X = (directions[labels] + 1e-4 * rng.normal(size=(500, 20))).astype(np.float32)
    enc = encode_labels(labels)
    ours = ClusterStats.from_batch(X, enc, unit_sums=True, moments=False)
    exact = ClusterStats.from_batch(X.astype(np.float64), enc, unit_sums=True, moments=False)
    np.testing.assert_allclose(ours.unit_sum, exact.unit_sum, rtol=1e-12)


def test_statistics_without_moments_refuse_calinski_harabasz():
    stats = ClusterStats.from_batch(np.eye(4), encode_labels([0, 0, 1, 1]), unit_sums=True,
                                    moments=False)
    with pytest.raises(cm.InvalidInputError, match="built without moments"):
        calinski_harabasz_from_stats(stats)
    with pytest.raises(cm.InvalidInputError, match="built without moments"):
        DaviesBouldinStats(stats)


@pytest.mark.parametrize("metric", ["cosine", "sqeuclidean"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_davies_bouldin_from_the_silhouette_gemm_equals_the_reference(blobs, metric, dtype):
    """The linear metrics' pass makes Davies-Bouldin's distances beside the silhouette's GEMM;
    the value is the direct computation's, to float32 precision on float32 data."""
    X, labels = blobs
    X = X.astype(dtype)
    tol = 1e-12 if dtype == np.float64 else 1e-6
    expected = _davies_bouldin_reference(X.astype(np.float64), labels)
    assert cm.evaluate(X, labels, metric=metric).davies_bouldin == pytest.approx(expected,
                                                                                rel=tol)
    assert cm.davies_bouldin_score(X, labels) == pytest.approx(expected, rel=tol)


@pytest.mark.parametrize("metric", ["cosine", "sqeuclidean", "euclidean"])
def test_davies_bouldin_far_from_the_origin_in_float32(blobs, metric):
    """|x|^2 - 2 x.c + |c|^2 cancels there: those rows are redone as float64 deviations."""
    X, labels = blobs
    far = (X + 1e4).astype(np.float32)
    expected = _davies_bouldin_reference(far.astype(np.float64), labels)
    assert cm.evaluate(far, labels, metric=metric).davies_bouldin == pytest.approx(expected,
                                                                                  rel=1e-6)


@pytest.mark.parametrize("metric", ["cosine", "sqeuclidean", "euclidean"])
def test_members_equal_to_their_centroid_are_at_exactly_zero(metric):
    X = np.array([[1.0, 2], [1, 2], [1, 2], [5, 1], [5, 1], [6, 3]], dtype=np.float32)
    labels = [0, 0, 0, 1, 1, 1]
    stats = ClusterStats.from_batch(X, encode_labels(labels), unit_sums=True)
    own_sq = linear_silhouette(X, np.array(labels), stats, "cosine", centroid_sq=True)[4]
    assert own_sq[:3].tolist() == [0.0, 0.0, 0.0]
    one = np.array([[1.0, 2], [1, 2], [5, 1], [5, 1]])
    assert cm.evaluate(one, [0, 0, 1, 1], metric=metric).davies_bouldin == 0.0


def test_the_statistics_name_rows_whose_squares_overflow():
    X = np.ones((6, 2), dtype=np.float32)
    X[4] = [1e30, 1.0]
    with pytest.raises(cm.InvalidInputError, match=r"^Input X contains infinity or a value "
                       r"too large for dtype\('float32'\)\. X has values whose squares "
                       r"overflow float32 in 1 row \(4\)"):
        ClusterStats.from_batch(X, encode_labels([0, 1] * 3))


@pytest.mark.parametrize("metric", ["cosine", "sqeuclidean", "euclidean"])
def test_float32_duplicates_far_from_the_origin_are_at_exactly_zero(metric):
    """Rows redone in float64 start from the raw rows, not from rows rounded by centring."""
    rng = np.random.default_rng(3)
    points = (rng.normal(size=(3, 3)) * 1e4).astype(np.float32)
    X = np.repeat(points, 5, axis=0)
    labels = np.repeat([0, 1, 2], 5)
    assert cm.davies_bouldin_score(X, labels) == 0.0
    assert cm.evaluate(X, labels, metric=metric).davies_bouldin == 0.0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("offset", [0.0, 1e4])
def test_statistics_without_spread_keep_the_same_means_and_unit_sums(blobs, dtype, offset):
    """spread=False makes unit-vector sums and means with one GEMM on the deviations."""
    X, labels = blobs
    X = (X + offset).astype(dtype)
    enc = encode_labels(labels)
    full = ClusterStats.from_batch(X, enc, unit_sums=True, chunk_rows=50)
    lean = ClusterStats.from_batch(X, enc, unit_sums=True, spread=False, chunk_rows=50)
    exact = ClusterStats.from_batch(X.astype(np.float64), enc, unit_sums=True, chunk_rows=50)
    tol = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(lean.mean, exact.mean, rtol=tol)
    np.testing.assert_allclose(lean.unit_sum, exact.unit_sum, rtol=tol, atol=tol)
    np.testing.assert_allclose(lean.mean, full.mean, rtol=tol)
    assert np.isnan(lean.m2).all() and not lean.with_spread


def test_statistics_without_spread_need_w_for_calinski_harabasz(blobs):
    X, labels = blobs
    lean = ClusterStats.from_batch(X, encode_labels(labels), spread=False)
    with pytest.raises(cm.InvalidInputError, match="without the squared deviations"):
        calinski_harabasz_from_stats(lean)


def test_statistics_without_spread_name_non_finite_rows():
    X = np.ones((6, 2))
    X[2, 1] = np.inf
    with pytest.raises(cm.InvalidInputError, match=r"infinite values in 1 row \(2\)"):
        ClusterStats.from_batch(X, encode_labels([0, 1] * 3), spread=False)


def test_statistics_without_spread_name_values_whose_squares_overflow():
    X = np.ones((6, 2))
    X[4, 0] = 1e200
    with pytest.raises(cm.InvalidInputError, match=r"squares overflow float64 in 1 row "
                       r"\(4\)"):
        ClusterStats.from_batch(X, encode_labels([0, 1] * 3), spread=False)
