"""The pure computations of clustermetrics.explore against brute-force references."""

import re
import tracemalloc
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import cdist
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.metrics import silhouette_samples

from clustermetrics.errors import InvalidInputError, NotFoundError
from clustermetrics.explore import (
    keywords,
    merged,
    misfits,
    relabelled,
    representatives,
    split,
    truth_tables,
)
from clustermetrics.explore.misfits import lowest
from clustermetrics.metrics.evaluate import ArraySource


def _data(n=240, d=6, k=4, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    X = rng.normal(size=(n, d)) + 2.5 * labels[:, None] * rng.normal(size=(1, d))
    ids = np.array([f"d{i}" for i in range(n)], dtype=object)
    return X, labels, ids


def _brute(X, labels, metric, n):
    """Per cluster, ids sorted by distance to the centroid (all distances, sorted)."""
    out = {}
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        x = X[rows]
        if metric == "cosine":
            unit = x / np.linalg.norm(x, axis=1, keepdims=True)
            centre = unit.mean(axis=0)
        else:
            centre = x.mean(axis=0)
        d = cdist(x, centre[None], metric=metric).ravel()
        order = np.lexsort((rows, d))
        far = np.lexsort((rows, -d))
        out[c] = (rows[order[:n]], d[order[:n]], rows[far[:n]], d[far[:n]])
    return out


@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean", "cosine"])
@pytest.mark.parametrize("batch_rows", [None, 37])
def test_representatives_equal_sorting_all_distances(metric, batch_rows):
    X, labels, ids = _data()
    _, out = representatives(ArraySource(X, labels, ids=ids, batch_rows=batch_rows), n=4,
                             metric=metric)
    ref = _brute(X, labels, metric, 4)
    for which, (clusters, rank, dist, got_ids) in out.items():
        for c, (close, dclose, far, dfar) in ref.items():
            mine = clusters == c
            rows, dists = (close, dclose) if which == "closest" else (far, dfar)
            assert list(got_ids[mine]) == list(ids[rows])
            np.testing.assert_allclose(dist[mine], dists, rtol=1e-9, atol=1e-12)
            assert list(rank[mine]) == [1, 2, 3, 4]


def test_representatives_leave_noise_out_or_keep_it_as_a_cluster():
    X, labels, ids = _data()
    labels = np.where(np.arange(len(labels)) % 7 == 0, -1, labels)
    _, out = representatives(ArraySource(X, labels, ids=ids), n=2, noise_label=-1)
    assert -1 not in set(out["closest"][0].tolist())
    _, kept = representatives(ArraySource(X, labels, ids=ids), n=2, noise_label=-1,
                              noise="cluster")
    assert -1 in set(kept["closest"][0].tolist())


def test_representatives_refuse_a_metric_without_a_centroid():
    X, labels, ids = _data()
    with pytest.raises(InvalidInputError, match="metric must be one of euclidean, "
                                                "sqeuclidean, cosine; got 'manhattan'"):
        representatives(ArraySource(X, labels, ids=ids), metric="manhattan")


@pytest.mark.parametrize("n", [0, -1, 2.5, True])
def test_representatives_refuse_a_bad_n(n):
    X, labels, ids = _data()
    with pytest.raises(InvalidInputError, match="n must be a positive integer"):
        representatives(ArraySource(X, labels, ids=ids), n=n)


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "sqeuclidean"])
def test_misfits_equal_sklearn_silhouette_samples(metric):
    X, labels, ids = _data()
    _, scored, method = misfits(ArraySource(X, labels, ids=ids, batch_rows=50), metric=metric)
    assert method == "exact"
    s = silhouette_samples(X, labels, metric=metric)
    order = np.lexsort((np.arange(len(s)), s))
    assert list(scored["_id"][:10]) == list(ids[order[:10]])
    np.testing.assert_allclose(scored["silhouette"], s[scored["row"]], atol=1e-9)
    per = lowest(scored, 3, per_cluster=True)
    for c in range(4):
        rows = np.flatnonzero(labels == c)
        want = rows[np.lexsort((rows, s[rows]))[:3]]
        assert list(per[per["cluster"] == c]["_id"]) == list(ids[want])


def test_misfits_nearest_cluster_and_a_b():
    X, labels, ids = _data(n=60)
    _, scored, _ = misfits(ArraySource(X, labels, ids=ids))
    D = cdist(X, X)
    for _, r in scored.head(5).iterrows():
        i = int(r["row"])
        own = (labels == labels[i]) & (np.arange(len(X)) != i)
        means = {c: D[i, labels == c].mean() for c in range(4) if c != labels[i]}
        assert r["a"] == pytest.approx(D[i, own].mean())
        assert r["b"] == pytest.approx(min(means.values()))
        assert r["nearest"] == min(means, key=means.get)


def test_misfits_sampled_are_scored_against_all_the_data():
    X, labels, ids = _data(n=400)
    _, scored, method = misfits(ArraySource(X, labels, ids=ids), sample_size=100,
                                random_state=0)
    assert method == "sampled"
    assert 90 <= len(scored) <= 100  # stratified by cluster: about 100
    s = silhouette_samples(X, labels)
    np.testing.assert_allclose(scored["silhouette"], s[scored["row"]], atol=1e-9)
    assert list(scored["_id"]) == list(ids[scored["row"]])


def test_keywords_equal_a_direct_count():
    texts = ["apple banana apple", "banana cherry", "dog cat dog", "cat mouse", "apple dog",
             "cherry cherry banana"]
    clusters = np.array(["f", "f", "a", "a", "a", "f"], dtype=object)
    got = keywords(texts, clusters, n=3, stop_words=None)
    analyze = CountVectorizer().build_analyzer()
    counts = {c: Counter() for c in ("a", "f")}
    for t, c in zip(texts, clusters, strict=True):
        counts[c].update(analyze(t))
    total = Counter()
    for c in counts.values():
        total.update(c)
    average = sum(total.values()) / 2
    for c, cnt in counts.items():
        size = sum(cnt.values())
        score = {t: cnt[t] / size * np.log(1 + average / total[t]) for t in cnt}
        want = sorted(score, key=lambda t: (-score[t], t))[:3]
        rows = got[got["cluster"] == c]
        assert list(rows["term"]) == want
        assert list(rows["count"]) == [cnt[t] for t in want]
        np.testing.assert_allclose(rows["score"], [score[t] for t in want])


def test_keywords_of_many_clusters_and_terms_stay_sparse():
    # 2,000 clusters x 60,000 terms: 960 MB as a dense float64 matrix
    rng = np.random.default_rng(0)
    texts = [f"t{a} t{b}" for a, b in rng.integers(0, 60_000, (30_000, 2))]
    clusters = np.arange(30_000) % 2000
    tracemalloc.start()
    try:
        got = keywords(texts, clusters, n=2, stop_words=None)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert got["cluster"].nunique() == 2000
    assert peak < 100 * 2**20


def test_keywords_options_are_checked():
    with pytest.raises(InvalidInputError, match=re.escape("ngram_range must be two integers "
                                                          "(min, max)")):
        keywords(["a b"], np.array([0]), ngram_range=(2, 1))


def test_keywords_with_no_term_left_say_what_to_try():
    with pytest.raises(InvalidInputError, match=r"No terms to weigh.*stop_words=None"):
        keywords(["the and of", "a the"], np.array([0, 1]))


def test_truth_tables_equal_a_crosstab():
    pairs = pd.DataFrame({"cluster": [0, 0, 1, 1, 2], "value": ["x", "y", "x", "z", "y"],
                          "n": [8, 2, 5, 5, 4]})
    t = truth_tables(pairs)
    clusters = t["clusters"].set_index("cluster")
    assert clusters.loc[0, "purity"] == pytest.approx(0.8)
    assert clusters.loc[0, "top_class"] == "x"
    assert clusters.loc[1, "effective_classes"] == pytest.approx(2.0)
    classes = t["classes"].set_index("class")
    assert classes.loc["x", "main_cluster"] == 0
    assert classes.loc["x", "clusters"] == 2
    assert classes.loc["x", "split_across"] == "0 (62%), 1 (38%)"
    first = t["merge"].iloc[0]
    assert (first["cluster_a"], first["cluster_b"], first["class"]) == (0, 1, "x")
    assert list(t["split"]["cluster"]) == [1, 0]


def test_merged_names_each_group_by_its_first_cluster():
    labels = np.array([0, 1, 2, 3, 4, -1, 1])
    out, mapping = merged(labels, [[1, 4], [2, 3]], alias="a", noise_label=-1)
    assert out.tolist() == [0, 1, 2, 2, 1, -1, 1]
    assert mapping == {4: 1, 3: 2}


def test_merged_refuses_an_unknown_cluster():
    with pytest.raises(NotFoundError, match="cluster '9' not found in alias 'a'"):
        merged(np.array([0, 1, 2]), [[1, 9]], alias="a")


def test_merged_refuses_a_cluster_twice():
    with pytest.raises(InvalidInputError, match="Cluster 1 is in two groups"):
        merged(np.array([0, 1, 2]), [[0, 1], [1, 2]], alias="a")


def test_merged_refuses_a_group_of_one():
    with pytest.raises(InvalidInputError, match="two clusters or more"):
        merged(np.array([0, 1, 2]), [[1]], alias="a")


def test_merged_refuses_the_noise_label():
    with pytest.raises(InvalidInputError, match="names the noise label -1"):
        merged(np.array([0, 1, -1]), [[1, -1]], alias="a", noise_label=-1)


def test_merged_refuses_groups_that_are_not_lists():
    with pytest.raises(InvalidInputError, match="groups must be a list of lists"):
        merged(np.array([0, 1, 2]), "12", alias="a")


def test_relabelled_renames_and_merges():
    out, used = relabelled(np.array([0, 1, 2]), {"1": 5, 2: 5}, alias="a")
    assert out.tolist() == [0, 5, 5]
    assert used == {1: 5, 2: 5}


def test_relabelled_refuses_a_label_that_is_not_int_or_str():
    with pytest.raises(InvalidInputError, match="the new label of 1 must be an int or a str"):
        relabelled(np.array([0, 1]), {1: 1.5}, alias="a")


def test_relabelled_refuses_an_empty_mapping():
    with pytest.raises(InvalidInputError, match="mapping must be a non-empty dict"):
        relabelled(np.array([0, 1]), {}, alias="a")


def test_split_gives_new_integers_and_the_noise_label():
    labels = np.array([0, 1, 1, 2, 1])
    out, names, noise = split(labels, np.array([1, 2, 4]), 1, np.array([0, 1, -1]),
                              sub_noise=-1, noise_label=None)
    assert out.tolist() == [0, 3, 4, 2, -1]
    assert names == {0: 3, 1: 4}
    assert noise == -1


def test_split_of_text_labels():
    labels = np.array(["a", "b", "b"], dtype=object)
    out, _, _ = split(labels, np.array([1, 2]), "b", np.array([0, 1]), sub_noise=None,
                      noise_label=None)
    assert out.tolist() == ["a", "b.0", "b.1"]


def test_keywords_bound_the_length_of_terms():
    with pytest.raises(InvalidInputError, match="ngram_range's max must be at most 4"):
        keywords(["a b"], np.array([0]), ngram_range=(1, 50))


def test_keywords_refuse_a_range_that_is_not_two_numbers():
    with pytest.raises(InvalidInputError, match="ngram_range must be two integers"):
        keywords(["a b"], np.array([0]), ngram_range="12")


def test_split_refuses_a_part_name_the_alias_has():
    labels = np.array(["a", "b", "b", "b.0"], dtype=object)
    with pytest.raises(InvalidInputError, match=re.escape(
            "would name a part 'b.0', a label the alias has")):
        split(labels, np.array([1, 2]), "b", np.array([0, 1]), sub_noise=None,
              noise_label=None)

