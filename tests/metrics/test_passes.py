"""The pipeline's pieces: the sample rule, the silhouette summary, per-sample detail as an
option, rows named by (partition, row) or id, and state that does not grow with n."""

import itertools
import pickle

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import clustermetrics as cm
from clustermetrics.metrics.evaluate import ArraySource, evaluate_source
from clustermetrics.metrics.passes import (
    BINS,
    Batch,
    ClusterPass,
    PassOptions,
    ScorePass,
    SilhouetteSummary,
)
from clustermetrics.metrics.sampling import (
    MIN_PER_CLUSTER,
    allocate,
    canonical_order,
    draw_ranks,
    locate,
    pick_rows,
    stratified_rows,
)
from clustermetrics.metrics.silhouettes import stratified_estimate

# -- the sample rule ----------------------------------------------------------------------------


def _rows_by_partitions(codes, counts, categories, m, seed, cuts):
    """The rule as an engine runs it: counts per partition, ranks located, rows picked."""
    edges = [0, *cuts, len(codes)]
    parts = {p: codes[a:b] for p, (a, b) in enumerate(itertools.pairwise(edges))}
    per_partition = {}
    for p, c in parts.items():
        n = np.bincount(c[c >= 0], minlength=len(counts))
        per_partition[p] = (np.flatnonzero(n), n[n > 0])
    alloc = allocate(counts, m)
    clusters, ranks = draw_ranks(counts, alloc, categories, np.random.default_rng(seed))
    where = locate(clusters, ranks, per_partition, len(counts))
    rows = [edges[p] + pick_rows(parts[p], *where[p]) for p in sorted(where)]
    return np.concatenate(rows) if rows else np.empty(0, np.int64)


@settings(deadline=None)
@given(st.integers(20, 400), st.integers(2, 6), st.integers(1, 100), st.integers(0, 2**16),
       st.data())
def test_the_sample_is_the_same_however_the_rows_are_partitioned(n, k, m, seed, data):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, k, n)
    codes[rng.random(n) < 0.1] = -1  # missing labels are never sampled
    counts = np.bincount(codes[codes >= 0], minlength=k)
    categories = np.arange(k)
    whole, alloc = stratified_rows(codes, counts, categories, m, np.random.default_rng(seed))
    cuts = sorted(data.draw(st.sets(st.integers(1, n - 1), max_size=8)))
    np.testing.assert_array_equal(
        _rows_by_partitions(codes, counts, categories, m, seed, cuts), whole)
    assert (codes[whole] >= 0).all()
    np.testing.assert_array_equal(np.bincount(codes[whole], minlength=k), alloc)


def test_allocation_is_proportional_with_a_floor_per_cluster():
    counts = np.array([1000, 3, 200, 0, 7])
    alloc = allocate(counts, 100)
    assert alloc.tolist() == [83, 3, 17, 0, MIN_PER_CLUSTER]


def test_the_seed_fixes_the_sample_and_a_generator_draws_the_same():
    codes = np.random.default_rng(0).integers(0, 4, 1000)
    counts = np.bincount(codes)
    cats = np.arange(4)
    a, _ = stratified_rows(codes, counts, cats, 80, np.random.default_rng(5))
    b, _ = stratified_rows(codes, counts, cats, 80, np.random.default_rng(5))
    c, _ = stratified_rows(codes, counts, cats, 80, np.random.default_rng(6))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert cm.silhouette(np.random.default_rng(1).normal(size=(1000, 2)), codes,
                         sample_size=80, random_state=5).sample_index.tolist() == a.tolist()


def test_the_rule_does_not_depend_on_the_order_clusters_are_listed():
    rng = np.random.default_rng(2)
    names = np.array(["b", "a", "d", "c"], dtype=object)
    codes = rng.integers(0, 4, 600)
    counts = np.bincount(codes)
    rows, _ = stratified_rows(codes, counts, names, 60, np.random.default_rng(1))
    order = np.argsort(names)  # the same clusters, listed sorted
    recode = np.argsort(order)[codes]
    again, _ = stratified_rows(recode, counts[order], names[order], 60,
                               np.random.default_rng(1))
    np.testing.assert_array_equal(rows, again)


def test_canonical_order_sorts_mixed_label_types():
    cats = np.array(["-1#7", 2, "-1#3", 0, 1.5], dtype=object)
    assert cats[canonical_order(cats)].tolist() == [0, 1.5, 2, "-1#3", "-1#7"]


# -- the silhouette summary ---------------------------------------------------------------------

def _values(n=500, k=3, seed=0):
    rng = np.random.default_rng(seed)
    own = rng.integers(0, k, n)
    s = np.clip(rng.normal(0.3 + 0.2 * own, 0.25), -1, 1)
    nearest = (own + 1 + (rng.random(n) < 0.2)) % k
    return own, s, nearest


@pytest.mark.parametrize("q", [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0])
def test_summary_quantiles_are_within_one_bin(q):
    own, s, nearest = _values()
    summary = SilhouetteSummary.from_values(own, s, nearest, 3)
    for c in range(3):
        exact = np.quantile(s[own == c], q)
        assert abs(summary.quantiles(c, q)[0] - exact) <= 2.0 / BINS
    assert summary.quantiles(1, 0.0)[0] == s[own == 1].min()
    assert summary.quantiles(1, 1.0)[0] == s[own == 1].max()


def test_summary_merges_to_the_summary_of_all_values():
    own, s, nearest = _values()
    whole = SilhouetteSummary.from_values(own, s, nearest, 3)
    parts = [SilhouetteSummary.from_values(own[a:b], s[a:b], nearest[a:b], 3)
             for a, b in ((0, 7), (7, 300), (300, 500))]
    merged = parts[2].merge(parts[0]).merge(parts[1])
    np.testing.assert_array_equal(merged.count, whole.count)
    np.testing.assert_array_equal(merged.low, whole.low)
    np.testing.assert_array_equal(merged.high, whole.high)
    np.testing.assert_allclose(merged.total, whole.total, rtol=1e-13)
    np.testing.assert_allclose(merged.m2, whole.m2, rtol=1e-12)
    assert (merged.hist != whole.hist).nnz == 0
    assert (merged.nearest != whole.nearest).nnz == 0
    assert merged.mean() == pytest.approx(s.mean(), rel=1e-13)


def test_summary_estimate_is_the_stratified_estimate_of_the_values():
    own, s, nearest = _values()
    sizes = np.array([4000, 2500, 900])
    summary = SilhouetteSummary.from_values(own, s, nearest, 3)
    score, (lo, hi) = summary.estimate(sizes)
    expected, (elo, ehi) = stratified_estimate(s, own, sizes)
    assert score == pytest.approx(expected, rel=1e-12)
    assert (lo, hi) == pytest.approx((elo, ehi), rel=1e-12)


@pytest.mark.parametrize("metric,sample_size", [("cosine", None), ("euclidean", 150),
                                                ("manhattan", None)])
def test_without_detail_the_scores_are_the_same(blobs, metric, sample_size):
    X, labels = blobs
    truth = labels % 3
    kept = evaluate_source(ArraySource(X, labels, truth, batch_rows=128), metric=metric,
                           sample_size=sample_size, random_state=4)
    light = evaluate_source(ArraySource(X, labels, truth, batch_rows=128), metric=metric,
                            sample_size=sample_size, random_state=4, detail=False)
    assert light.silhouette_detail is None and kept.silhouette_detail is not None
    assert light.scores == pytest.approx(kept.scores, rel=1e-12, abs=1e-12)
    if sample_size:
        assert light.silhouette_ci == pytest.approx(kept.silhouette_ci, rel=1e-12)
    assert light.counts == kept.counts
    exact_cols = ["size", "scored", "silhouette", "min", "max", "nearest", "majority_truth",
                  "purity"]
    pd.testing.assert_frame_equal(light.per_cluster[exact_cols], kept.per_cluster[exact_cols],
                                  rtol=1e-12, atol=1e-12)
    quartiles = ["q25", "median", "q75"]
    np.testing.assert_allclose(light.per_cluster[quartiles], kept.per_cluster[quartiles],
                               atol=2.0 / BINS)


def test_pipeline_state_does_not_grow_with_n():
    """Without detail, the merged partials of both passes weigh the same for 4,000 rows as
    for 40,000 in as many partitions: no O(n) state on the driver."""
    def weight(n):
        rng = np.random.default_rng(0)
        labels = rng.integers(0, 5, n)
        X = rng.normal(size=(5, 8))[labels] + rng.normal(size=(n, 8))
        options = PassOptions.make(metric="cosine", detail=False)
        step = n // 8
        batches = [Batch(X[i:i + step], labels[i:i + step], labels[i:i + step] % 2, None, p)
                   for p, i in enumerate(range(0, n, step))]
        first = ClusterPass.from_batch(batches[0], options)
        for b in batches[1:]:
            first = first.merge(ClusterPass.from_batch(b, options))
        summary = first.finish()
        second = ScorePass.from_batch(batches[0], summary)
        for b in batches[1:]:
            second = second.merge(ScorePass.from_batch(b, summary))
        return len(pickle.dumps(first)), len(pickle.dumps(second))

    small, large = weight(4_000), weight(40_000)
    assert large[0] < 1.2 * small[0]
    # pass 2 holds sparse histograms: at most k * BINS cells of 12 bytes, whatever n
    # (per-sample detail would take 40,000 x 6 x 8 = 1.9 MB)
    assert small[1] < large[1] < 5 * BINS * 12 + 20_000


# -- rows: (partition, row) or ids ---------------------------------------------------------------

def test_a_bad_row_in_a_later_partition_is_named_within_it():
    X = np.ones((10, 2))
    X[7, 0] = np.nan
    source = ArraySource(X, [0, 1] * 5, batch_rows=5)
    with pytest.raises(cm.InvalidInputError,
                       match=r"NaN or infinite values in 1 row \(2\).*within partition 1"):
        evaluate_source(source)


def test_a_bad_row_is_named_by_its_id():
    X = np.ones((10, 2))
    X[7, 0] = np.nan
    source = ArraySource(X, [0, 1] * 5, ids=[f"doc{i}" for i in range(10)], batch_rows=5)
    with pytest.raises(cm.InvalidInputError, match=r"1 document \(_id 'doc7'\)"):
        evaluate_source(source)


def test_noise_singletons_are_named_by_id_or_by_partition_and_row():
    X = np.random.default_rng(0).normal(size=(12, 2))
    labels = np.array([0, 1, -1, 0, 1, 0, -1, 1, 0, 1, 0, -1])
    options = PassOptions.make(noise_label=-1, noise="singletons")
    with_ids = ClusterPass.from_batch(Batch(X[6:], labels[6:], None,
                                            np.array([f"d{i}" for i in range(6, 12)]), 1),
                                      options)
    assert {"-1#d6", "-1#d11"} <= set(with_ids.stats.categories)
    later = ClusterPass.from_batch(Batch(X[6:], labels[6:], None, None, 1), options)
    assert {"-1#1:0", "-1#1:5"} <= set(later.stats.categories)
    first = ClusterPass.from_batch(Batch(X, labels), options)
    assert {"-1#2", "-1#6", "-1#11"} <= set(first.stats.categories)


def test_a_partition_counted_twice_is_an_error():
    X = np.random.default_rng(0).normal(size=(6, 2))
    options = PassOptions.make()
    part = ClusterPass.from_batch(Batch(X, [0, 1, 0, 1, 0, 1], partition=3), options)
    with pytest.raises(ValueError, match=r"Partitions \[3\] are counted twice"):
        part.merge(part)


def test_sample_size_below_one_is_an_error(blobs):
    X, labels = blobs
    with pytest.raises(cm.InvalidInputError, match="sample_size must be a positive integer"):
        cm.evaluate(X, labels, sample_size=0)


def test_the_store_numbers_its_batches_and_names_noise_by_id(client):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 60)
    labels[::10] = -1
    docs = [{"_id": f"p{i}", "v_vector_": rng.normal(size=3) + labels[i],
             "_cluster_": {"v_vector_": {"mine": int(labels[i])}}} for i in range(60)]
    client.Dataset("p").insert_documents(docs)
    from clustermetrics.engine.local import StoreSource
    source = StoreSource(client.test_store, "p", "v_vector_", "_cluster_.v_vector_.mine",
                         dim=3, batch_rows=16)
    assert [b.partition for b in source.batches()] == [0, 1, 2, 3]
    result = evaluate_source(source, noise_label=-1, noise="singletons", sample_size=30,
                             random_state=0)
    assert "-1#p0" in set(result.per_cluster.index)
    X = np.array([d["v_vector_"] for d in docs])
    ids = np.array([d["_id"] for d in docs], dtype=object)
    expected = evaluate_source(ArraySource(X.astype(np.float32), labels, ids=ids),
                               noise_label=-1, noise="singletons", sample_size=30,
                               random_state=0)
    assert result.scores == pytest.approx(expected.scores, rel=1e-6)  # float32 distances
    np.testing.assert_array_equal(result.silhouette_detail.sample_index,
                                  expected.silhouette_detail.sample_index)
