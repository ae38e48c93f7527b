"""Invariants every metric must keep, checked from one list (scikit-learn's test_common).

A new metric is tested by being listed here: label permutation, label type, input container,
symmetry where it holds; and the pipeline's contract: any split of the data into batches,
partials merged in any order or tree, equals the one-shot result.
"""

import itertools
import pickle

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import clustermetrics as cm
from clustermetrics.metrics import METRIC_INFO
from clustermetrics.metrics.clusterstats import ClusterStats
from clustermetrics.metrics.evaluate import evaluate_source
from clustermetrics.metrics.labels import encode_labels
from clustermetrics.metrics.passes import (
    Batch,
    ClusterPass,
    PassOptions,
    SamplePass,
    ScorePass,
    build_result,
)

# -- the metric lists ---------------------------------------------------------------------------

INTERNAL = {  # f(X, labels)
    "silhouette_score": cm.silhouette_score,
    "calinski_harabasz_score": cm.calinski_harabasz_score,
    "davies_bouldin_score": cm.davies_bouldin_score,
}
SYMMETRIC = {  # f(labels_true, labels_pred) == f(labels_pred, labels_true)
    "adjusted_rand_score": cm.adjusted_rand_score,
    "rand_score": cm.rand_score,
    "adjusted_mutual_info_score": cm.adjusted_mutual_info_score,
    "normalized_mutual_info_score": cm.normalized_mutual_info_score,
    "mutual_info_score": cm.mutual_info_score,
    "v_measure_score": cm.v_measure_score,
    "fowlkes_mallows_score": cm.fowlkes_mallows_score,
}
NOT_SYMMETRIC = {
    "homogeneity_score": cm.homogeneity_score,
    "completeness_score": cm.completeness_score,
    "purity_score": cm.purity_score,
}
EXTERNAL = {**SYMMETRIC, **NOT_SYMMETRIC}
EVALUATED = sorted(METRIC_INFO)  # the scores of evaluate()


def _internal(f):
    return lambda X, t, p: f(X, p)


def _external(f):
    return lambda X, t, p: f(t, p)


def _evaluated(name):
    return lambda X, t, p: cm.evaluate(X, p, t).scores[name]


# every metric as f(X, labels_true, labels_pred) -> float, one list for the invariance tests
ALL = {**{n: _internal(f) for n, f in INTERNAL.items()},
       **{n: _external(f) for n, f in EXTERNAL.items()},
       **{f"evaluate:{n}": _evaluated(n) for n in EVALUATED}}


def test_every_public_score_is_listed():
    public = {n for n in cm.__all__ if n.endswith("_score")}
    assert public == set(INTERNAL) | set(EXTERNAL)
    X, t, p = _data()
    assert set(EVALUATED) == set(cm.evaluate(X, p, t).scores)


def _data(n=90, k=3, seed=0):
    rng = np.random.default_rng(seed)
    pred = np.r_[np.arange(k), rng.integers(0, k, n - k)]  # every cluster present
    truth = np.where(rng.random(n) < 0.7, pred, rng.integers(0, k + 1, n))
    X = rng.normal(size=(k, 4))[pred] * 2 + rng.normal(size=(n, 4))
    return X, truth, pred


# -- invariance -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(ALL))
def test_renaming_clusters_keeps_the_score(name):
    X, t, p = _data()
    f = ALL[name]
    expected = f(X, t, p)
    rename_p = np.array([2, 0, 1])[p]
    rename_t = np.array([3, 1, 0, 2])[t]
    assert f(X, rename_t, rename_p) == pytest.approx(expected, rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("name", sorted(ALL))
def test_reordering_samples_keeps_the_score(name):
    X, t, p = _data()
    f = ALL[name]
    order = np.random.default_rng(1).permutation(len(X))
    assert f(X[order], t[order], p[order]) == pytest.approx(f(X, t, p), rel=1e-10, abs=1e-12)


LABEL_TYPES = {
    "int": lambda v: v,
    "str": lambda v: np.array([f"c{x}" for x in v], dtype=object),
    "float": lambda v: v.astype(np.float64) + 0.5,
    "negative": lambda v: -v - 1,
    "uint8": lambda v: v.astype(np.uint8),
}


@pytest.mark.parametrize("kind", sorted(LABEL_TYPES))
@pytest.mark.parametrize("name", sorted(ALL))
def test_label_type_does_not_matter(name, kind):
    X, t, p = _data()
    f, to = ALL[name], LABEL_TYPES[kind]
    assert f(X, to(t), to(p)) == pytest.approx(f(X, t, p), rel=1e-10, abs=1e-12)


CONTAINERS = {
    "list": lambda v: list(v),
    "numpy": lambda v: np.asarray(v),
    "Series": lambda v: pd.Series(v, index=np.arange(len(v))[::-1]),  # index is not used
    "Categorical": lambda v: pd.Categorical(v),
    "tuple": lambda v: tuple(v),
}


@pytest.mark.parametrize("kind", sorted(CONTAINERS))
@pytest.mark.parametrize("name", sorted(ALL))
def test_label_container_does_not_matter(name, kind):
    X, t, p = _data()
    f, to = ALL[name], CONTAINERS[kind]
    assert f(X, to(t), to(p)) == pytest.approx(f(X, t, p), rel=1e-10, abs=1e-12)


VECTOR_CONTAINERS = {
    "list": lambda X: X.tolist(),
    "DataFrame": lambda X: pd.DataFrame(X),
    "float32": lambda X: X.astype(np.float32),
    "sparse": lambda X: sp.csr_matrix(X),
    "Fortran": lambda X: np.asfortranarray(X),
}


@pytest.mark.parametrize("kind", sorted(VECTOR_CONTAINERS))
@pytest.mark.parametrize("name", sorted(INTERNAL) + [f"evaluate:{n}" for n in
                                                     ("silhouette", "calinski_harabasz",
                                                      "davies_bouldin")])
def test_vector_container_does_not_matter(name, kind):
    X, t, p = _data()
    f = ALL[name]
    rel = 1e-5 if kind == "float32" else 1e-10
    assert f(VECTOR_CONTAINERS[kind](X), t, p) == pytest.approx(f(X, t, p), rel=rel, abs=rel)


@pytest.mark.parametrize("name", sorted(SYMMETRIC))
def test_symmetric_metrics(name):
    _, t, p = _data()
    f = SYMMETRIC[name]
    assert f(t, p) == pytest.approx(f(p, t), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("name", sorted(NOT_SYMMETRIC))
def test_not_symmetric_metrics(name):
    _, t, p = _data()
    f = NOT_SYMMETRIC[name]
    assert f(t, p) != pytest.approx(f(p, t), rel=1e-3)


def test_homogeneity_and_completeness_are_each_others_mirror():
    _, t, p = _data()
    assert cm.homogeneity_score(t, p) == pytest.approx(cm.completeness_score(p, t), rel=1e-12)


@pytest.mark.parametrize("name", sorted(set(EXTERNAL) - {"mutual_info_score"}))
def test_identical_labelings_score_one(name):
    _, _, p = _data()
    assert EXTERNAL[name](p, np.array([7, 5, 6])[p]) == pytest.approx(1.0, abs=1e-12)


# -- the pipeline: any split, any merge order --------------------------------------------------

def _merge_any(parts: list, data) -> object:
    """Merge partials pairwise in an order and tree shape drawn by hypothesis."""
    parts = list(parts)
    while len(parts) > 1:
        i = data.draw(st.integers(0, len(parts) - 1))
        j = data.draw(st.integers(0, len(parts) - 2))
        a = parts.pop(i)
        b = parts.pop(j)
        parts.append(a.merge(b) if data.draw(st.booleans()) else b.merge(a))
    return parts[0]


@st.composite
def datasets(draw, *, noise: bool = True, strings: bool = True):
    """(X, labels, truth, noise options) with missing labels, noise and several batches."""
    n = draw(st.integers(12, 80))
    k = draw(st.integers(2, 4))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    labels = np.r_[np.arange(k), rng.integers(0, k, n - k)].astype(object)
    rng.shuffle(labels)
    X = rng.normal(size=(k, 3))[labels.astype(int)] * 3 + rng.normal(size=(n, 3))
    truth = np.where(rng.random(n) < 0.6, labels, rng.integers(0, 3, n)).astype(object)
    if strings and draw(st.booleans()):
        labels = np.array([f"c{v}" for v in labels], dtype=object)
    options: dict = {}
    if noise and draw(st.booleans()):
        policy = draw(st.sampled_from(["exclude", "cluster", "singletons"]))
        labels[rng.random(n) < 0.1] = -1
        options = {"noise_label": -1, "noise": policy}
    labels[rng.random(n) < 0.05] = None
    truth[rng.random(n) < 0.05] = None
    return X, labels, truth, options


def _batches(draw_or_data, X, labels, truth=None):
    """The rows cut into batches at drawn places; ids are global row numbers."""
    n = len(X)
    cuts = sorted(draw_or_data.draw(st.sets(st.integers(1, n - 1), max_size=6)))
    edges = [0, *cuts, n]
    return [Batch(X[a:b], labels[a:b], None if truth is None else truth[a:b],
                  np.arange(a, b), p) for p, (a, b) in enumerate(itertools.pairwise(edges))]


def _usable(labels, options) -> bool:
    enc = encode_labels(labels, **options)
    k, n = int(np.count_nonzero(enc.counts())), int(enc.valid.sum())
    return 2 <= k <= n - 1


def _one_shot_stats(X, labels, options, metric):
    enc = encode_labels(labels, **options)
    return ClusterStats.from_batch(X, enc, unit_sums=metric == "cosine").nonempty()


def _cells(stats) -> dict:
    coo = stats.table.tocoo()
    return {(stats.rows[i], stats.cols[j]): int(v)
            for i, j, v in zip(coo.row, coo.col, coo.data, strict=True)}


def _same_ci(a, b) -> bool:
    """Both None (every sample scored) or equal to 1e-12."""
    return a is b is None or (a is not None and b is not None
                              and a == pytest.approx(b, rel=1e-12, abs=1e-12))


CONTRACT = settings(deadline=None)  # examples: the profile's (100; HYPOTHESIS_PROFILE=deep: 800)


@CONTRACT
@given(datasets(), st.data())
def test_first_pass_merges_to_the_one_shot_statistics(dataset, data):
    X, labels, truth, noise = dataset
    if not _usable(labels, noise):
        return
    options = PassOptions.make(metric="cosine", **noise)
    parts = [ClusterPass.from_batch(b, options) for b in _batches(data, X, labels, truth)]
    summary = _merge_any(parts, data).finish()
    one = _one_shot_stats(X, labels, noise, "cosine")
    lookup = {c: i for i, c in enumerate(one.categories)}
    order = np.array([lookup[c] for c in summary.categories])
    np.testing.assert_array_equal(summary.counts, one.counts[order])
    np.testing.assert_allclose(summary.stats.mean, one.mean[order], rtol=1e-12, atol=1e-12)
    # cosine keeps no squared deviations in pass 1: Calinski-Harabasz's W comes from pass 2
    assert not summary.stats.with_spread and np.isnan(summary.stats.m2).all()
    np.testing.assert_allclose(summary.stats.unit_sum, one.unit_sum[order], rtol=1e-12,
                               atol=1e-12)
    result = cm.evaluate(X, labels, truth, metric="cosine", **noise)
    assert summary.table is not None and result.contingency is not None
    assert _cells(summary.table) == _cells(result.contingency)
    assert summary.table.scores() == pytest.approx(result.contingency.scores(), rel=1e-12,
                                                   abs=1e-15)  # cells in another order


@CONTRACT
@given(datasets(), st.data(), st.sampled_from(["cosine", "sqeuclidean", "euclidean",
                                               "manhattan"]),
       st.booleans())
def test_any_split_and_merge_order_equals_the_one_shot_result(dataset, data, metric, detail):
    X, labels, truth, noise = dataset
    if not _usable(labels, noise):
        return
    options = PassOptions.make(metric=metric, detail=detail, **noise)
    batches = _batches(data, X, labels, truth)
    summary = _merge_any([ClusterPass.from_batch(b, options) for b in batches], data).finish()
    second = _merge_any([ScorePass.from_batch(b, summary) for b in batches], data)
    expected = cm.evaluate(X, labels, truth, metric=metric, **noise)
    if second.mode == "pairwise":  # the local engine scores the whole array in one go
        sil = cm.silhouette(X, cm.metrics.Labels(second.codes(), summary.categories),
                            metric=metric)
        scores = second.finish(summary, silhouette=sil)
    else:
        scores = second.finish(summary)
    result = build_result(summary, scores)
    assert result.scores == pytest.approx(expected.scores, rel=1e-12, abs=1e-12)
    assert result.counts == expected.counts
    if detail:
        got, want = result.silhouette_detail, expected.silhouette_detail
        np.testing.assert_array_equal(got.sample_index, want.sample_index)
        np.testing.assert_allclose(got.values, want.values, atol=1e-12)
        assert list(got.labels) == list(want.labels)
    else:
        assert result.silhouette_detail is None
    assert set(result.per_cluster.index) == set(expected.per_cluster.index)


@CONTRACT
@given(datasets(noise=False), st.data(), st.integers(0, 2**16))
def test_sampled_euclidean_over_any_split_equals_the_one_shot_estimate(dataset, data, seed):
    X, labels, _, _ = dataset
    if not _usable(labels, {}):
        return
    m = data.draw(st.integers(1, len(X)))
    one = cm.silhouette(X, labels, sample_size=m, random_state=seed)
    options = PassOptions.make(metric="euclidean")
    batches = _batches(data, X, labels)
    summary = _merge_any([ClusterPass.from_batch(b, options) for b in batches], data).finish()
    if m >= summary.n:
        return  # not sampled: the exact path
    plan = summary.sample_plan(m, seed)
    sample = _merge_any([SamplePass.from_batch(b, summary, plan) for b in batches],
                        data).finish()
    np.testing.assert_array_equal(sample.index, one.sample_index)  # one rule, one sample
    second = _merge_any([ScorePass.from_batch(b, summary, sample) for b in batches], data)
    scores = second.finish(summary, sample)
    assert scores.silhouette == pytest.approx(one.score, rel=1e-12, abs=1e-12)
    assert _same_ci(scores.ci, one.ci)
    np.testing.assert_allclose(scores.detail.values, one.values, atol=1e-12)
    np.testing.assert_allclose(scores.detail.b, one.b, atol=1e-12)
    assert list(scores.detail.nearest) == list(one.nearest)


class _ShuffledSource:
    """A source yielding its batches in a fixed but shuffled order: rows are known by
    (partition, row), so the order of arrival must not matter."""

    def __init__(self, batches, order, has_truth):
        self.parts = [batches[i] for i in order]
        self.n_rows = sum(len(b.X) for b in batches)
        self.has_truth = has_truth

    def batches(self):
        yield from self.parts


@CONTRACT
@given(datasets(), st.data(), st.sampled_from(["cosine", "euclidean", "chebyshev"]),
       st.sampled_from([None, 10]))
def test_evaluate_source_in_any_batch_order_equals_evaluate(dataset, data, metric, sample_size):
    X, labels, truth, noise = dataset
    if not _usable(labels, noise):
        return
    batches = _batches(data, X, labels, truth)
    order = data.draw(st.permutations(range(len(batches))))
    source = _ShuffledSource(batches, order, True)
    got = evaluate_source(source, metric=metric, sample_size=sample_size, random_state=3,
                          **noise)
    want = cm.evaluate(X, labels, truth, metric=metric, sample_size=sample_size,
                       random_state=3, **noise)
    assert got.scores == pytest.approx(want.scores, rel=1e-12, abs=1e-12)
    assert _same_ci(got.silhouette_ci, want.silhouette_ci)
    np.testing.assert_array_equal(got.silhouette_detail.sample_index,
                                  want.silhouette_detail.sample_index)
    pd.testing.assert_frame_equal(got.per_cluster, want.per_cluster, rtol=1e-12, atol=1e-12)


# -- partials pickle ----------------------------------------------------------------------------

def _roundtrip(obj):
    return pickle.loads(pickle.dumps(obj))


@pytest.mark.parametrize("metric,sample_size", [("cosine", None), ("sqeuclidean", None),
                                                ("euclidean", 30), ("euclidean", None)])
def test_every_partial_pickles_and_merges_to_the_same_result(metric, sample_size):
    X, t, p = _data(n=120)
    labels = p.astype(object)
    labels[::9] = -1
    options = PassOptions.make(metric=metric, noise_label=-1, noise="singletons")
    batches = [Batch(X[a:a + 40], labels[a:a + 40], t[a:a + 40], np.arange(a, a + 40), i)
               for i, a in enumerate(range(0, 120, 40))]

    def run(transfer):
        first = [transfer(ClusterPass.from_batch(b, options)) for b in batches]
        summary = transfer(first[0].merge(first[1]).merge(first[2]).finish())
        sample = None
        if sample_size:
            plan = transfer(summary.sample_plan(sample_size, 0))
            gathered = [transfer(SamplePass.from_batch(b, summary, plan)) for b in batches]
            sample = transfer(gathered[2].merge(gathered[0]).merge(gathered[1]).finish())
        second = [transfer(ScorePass.from_batch(b, summary, sample)) for b in batches]
        merged = transfer(second[1].merge(second[2]).merge(second[0]))
        if merged.mode == "pairwise":
            sil = cm.silhouette(X, cm.metrics.Labels(merged.codes(), summary.categories))
            return transfer(build_result(summary, merged.finish(summary, silhouette=sil)))
        return transfer(build_result(summary, merged.finish(summary, sample)))

    direct, shipped = run(lambda x: x), run(_roundtrip)
    assert shipped.scores == direct.scores
    assert shipped.silhouette_ci == direct.silhouette_ci
    np.testing.assert_array_equal(shipped.silhouette_detail.values,
                                  direct.silhouette_detail.values)
    pd.testing.assert_frame_equal(shipped.per_cluster, direct.per_cluster)
