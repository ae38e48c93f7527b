import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

import clustermetrics as cm
from clustermetrics.metrics.contingency import ContingencyStats, expected_mutual_info

SCORES = ["adjusted_rand_score", "rand_score", "adjusted_mutual_info_score",
          "normalized_mutual_info_score", "mutual_info_score", "homogeneity_score",
          "completeness_score", "v_measure_score", "fowlkes_mallows_score"]


@pytest.mark.parametrize("name", SCORES)
def test_scores_match_sklearn_on_real_data(name, real_dataset):
    _, _, y, km = real_dataset
    assert getattr(cm, name)(y, km) == pytest.approx(getattr(skm, name)(y, km), abs=1e-10)


@pytest.mark.parametrize("name", SCORES)
@pytest.mark.parametrize("n,kt,kp", [(1000, 5, 7), (300, 40, 30), (60, 2, 50), (5000, 3, 3),
                                     (20, 1, 4), (20, 4, 1), (15, 1, 1)])
def test_scores_match_sklearn_on_random_labels(name, n, kt, kp):
    rng = np.random.default_rng(n + kt + kp)
    t, p = rng.integers(0, kt, n), rng.integers(0, kp, n)
    assert getattr(cm, name)(t, p) == pytest.approx(getattr(skm, name)(t, p), abs=1e-10)


@pytest.mark.parametrize("name", SCORES)
def test_string_labels_and_containers_give_the_same_values(name):
    rng = np.random.default_rng(1)
    t, p = rng.integers(0, 6, 500), rng.integers(0, 4, 500)
    expected = getattr(skm, name)(t, p)
    as_str = np.array([f"class {i}" for i in t], dtype=object)
    for labels_true, labels_pred in [(as_str, p), (as_str.astype(str), p.astype(str)),
                                     (pd.Series(as_str), pd.Series(p)), (list(as_str), list(p)),
                                     (pd.Categorical(as_str), p)]:
        assert getattr(cm, name)(labels_true, labels_pred) == pytest.approx(expected, abs=1e-10)


def test_contingency_and_pair_confusion_match_sklearn():
    rng = np.random.default_rng(2)
    t, p = rng.integers(0, 5, 400), rng.integers(0, 9, 400)
    np.testing.assert_array_equal(cm.contingency_matrix(t, p), skm.cluster.contingency_matrix(t, p))
    np.testing.assert_array_equal(cm.contingency_matrix(t, p, sparse=True).toarray(),
                                  skm.cluster.contingency_matrix(t, p, sparse=True).toarray())
    np.testing.assert_array_equal(cm.pair_confusion_matrix(t, p),
                                  skm.cluster.pair_confusion_matrix(t, p))


def test_hand_computed_pair_counts():
    # ordered pairs: same class {(0,1),(2,3)} x2 = 4, same cluster {(0,1)} x2 = 2, both = 2
    np.testing.assert_array_equal(cm.pair_confusion_matrix([0, 0, 1, 1], [0, 0, 1, 2]),
                                  [[8, 0], [2, 2]])
    # ARI = 2 (tp tn - fn fp) / ((tp + fn)(fn + tn) + (tp + fp)(fp + tn)) = 32 / 56
    assert cm.adjusted_rand_score([0, 0, 1, 1], [0, 0, 1, 2]) == pytest.approx(32 / 56, abs=1e-15)
    assert cm.rand_score([0, 0, 1, 1], [0, 0, 1, 2]) == pytest.approx(10 / 12, abs=1e-15)


def test_known_values_from_the_literature():
    # Hubert & Arabie (1985): ARI is 1 for identical partitions up to renaming and 0 when one
    # partition puts every sample alone while the other puts all together.
    assert cm.adjusted_rand_score([0, 0, 1, 1], [1, 1, 0, 0]) == 1.0
    assert cm.adjusted_rand_score([0, 0, 0, 0], [0, 1, 2, 3]) == 0.0
    # Worst case: discordant pairs give the lower bound -0.5
    assert cm.adjusted_rand_score([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(-0.5)
    assert cm.adjusted_mutual_info_score([0, 0, 1, 1], [1, 1, 0, 0]) == pytest.approx(1.0)
    assert cm.homogeneity_score([0, 0, 1, 1], [0, 1, 2, 3]) == pytest.approx(1.0)
    assert cm.completeness_score([0, 0, 1, 1], [0, 1, 2, 3]) < 1.0


def test_purity_hand_computed():
    # clusters: {a, a, b} -> 2, {b, b} -> 2, {c} -> 1: (2 + 2 + 1) / 6
    t = ["a", "a", "b", "b", "b", "c"]
    p = [0, 0, 0, 1, 1, 2]
    assert cm.purity_score(t, p) == pytest.approx(5 / 6)
    assert cm.purity_score(t, range(6)) == 1.0


def test_missing_labels_are_left_out():
    t = ["a", "a", None, "b", "b", np.nan, "", "b"]
    p = [0, 0, 1, 1, 1, 1, 1, None]
    kept_t, kept_p = ["a", "a", "b", "b"], [0, 0, 1, 1]
    assert cm.adjusted_rand_score(t, p) == skm.adjusted_rand_score(kept_t, kept_p)
    s = ContingencyStats().update(t, p)
    assert (s.n, s.n_missing_true, s.n_missing_pred) == (4, 3, 1)


def test_noise_excluded_from_external_metrics():
    t = [0, 0, 1, 1, 1, 2]
    p = [5, 5, 7, 7, -1, -1]
    s = ContingencyStats(noise_label=-1).update(t, p)
    assert (s.n, s.n_noise) == (4, 2)
    assert s.scores()["adjusted_rand"] == skm.adjusted_rand_score([0, 0, 1, 1], [5, 5, 7, 7])


def test_length_mismatch_is_an_error():
    with pytest.raises(cm.InvalidInputError,
                       match=r"^Found input variables with inconsistent numbers of samples: "
                             r"\[3, 2\]\. .*differ in length: 3 != 2"):
        cm.adjusted_rand_score([0, 1, 1], [0, 1])


def test_two_dimensional_labels_are_an_error():
    with pytest.raises(cm.InvalidInputError,
                       match=r"^labels_true must be 1D: shape is \(3, 2\)\. labels_true must be "
                             "one-dimensional"):
        cm.adjusted_rand_score(np.zeros((3, 2)), [0, 1, 1])


def test_two_dimensional_predicted_labels_from_lists_are_an_error():
    with pytest.raises(cm.InvalidInputError, match=r"^labels_pred must be 1D: shape is \(2, 2\)"):
        cm.adjusted_rand_score([0, 1, 0], [[1, 1], [0, 0]])


def test_tuples_are_labels_not_a_second_dimension():
    assert cm.adjusted_rand_score([(0, "a"), (0, "a"), (1, "b")], [5, 5, 7]) == 1.0


@pytest.mark.parametrize("func", ["normalized_mutual_info_score", "adjusted_mutual_info_score"])
def test_unknown_average_method_is_an_error(func):
    with pytest.raises(cm.errors.InvalidParameterError,
                       match=f"^The 'average_method' parameter of {func} must be a str among "
                             r"\{'min', 'geometric', 'arithmetic', 'max'\}\. Got 'median' "
                             "instead"):
        getattr(cm, func)([0, 1, 1, 0], [0, 1, 0, 1], average_method="median")


def test_negative_beta_is_an_error():
    with pytest.raises(cm.errors.InvalidParameterError,
                       match=r"^The 'beta' parameter of v_measure_score must be a float in the "
                             r"range \[0\.0, inf\)\. Got -1 instead"):
        cm.v_measure_score([0, 1], [0, 1], beta=-1)


def test_negative_eps_is_an_error():
    with pytest.raises(cm.errors.InvalidParameterError,
                       match=r"^The 'eps' parameter of contingency_matrix must be a float in the "
                             r"range \[0\.0, inf\) or None\. Got -1 instead"):
        cm.contingency_matrix([0, 1], [0, 1], eps=-1)


def test_eps_with_sparse_is_an_error():
    with pytest.raises(cm.InvalidInputError, match=r"^Cannot set 'eps' when sparse=True"):
        cm.contingency_matrix([0, 1], [0, 1], eps=0.5, sparse=True)


def test_expected_mutual_info_matches_sklearn_on_unbalanced_marginals():
    from sklearn.metrics.cluster._expected_mutual_info_fast import expected_mutual_information
    rng = np.random.default_rng(3)
    t = rng.choice(8, 200_000, p=[.5, .2, .1, .1, .05, .03, .01, .01])
    p = rng.choice(5, 200_000, p=[.4, .3, .2, .05, .05])
    table = cm.contingency_matrix(t, p, sparse=True)
    ours = expected_mutual_info(np.bincount(t), np.bincount(p))
    assert ours == pytest.approx(expected_mutual_information(table, 200_000), rel=1e-9)


@settings(deadline=None)
@given(data=st.data(), n=st.integers(2, 200), kt=st.integers(1, 6), kp=st.integers(1, 6),
       strings=st.booleans())
def test_merged_batches_equal_one_shot(data, n, kt, kp, strings):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    t = rng.integers(0, kt, n)
    p = rng.integers(0, kp, n).astype(object)
    if strings:
        t = np.array([f"c{v}" for v in t], dtype=object)
    cuts = sorted(data.draw(st.lists(st.integers(0, n), max_size=5)))
    parts = [ContingencyStats().update(t[a:b], p[a:b])
             for a, b in zip([0, *cuts], [*cuts, n], strict=True)]
    order = data.draw(st.permutations(range(len(parts))))
    merged = ContingencyStats()
    for i in order:
        merged = merged.merge(parts[i])
    whole = ContingencyStats().update(t, p)
    np.testing.assert_array_equal(merged.table.toarray(), whole.table.toarray())
    np.testing.assert_array_equal(merged.rows, whole.rows)
    one_shot = whole.scores()
    assert merged.scores() == pytest.approx(one_shot, abs=1e-12)
    assert one_shot["adjusted_rand"] == pytest.approx(
        skm.adjusted_rand_score(t.astype(str), p.astype(str)), abs=1e-12)


@pytest.mark.parametrize("pred", [
    np.array([-5, -1, 3, 3, -5, -1, 3, 7]),                  # negative, dense range
    np.array([10**12, 5, 10**12, 5, 7, 7, 5, 10**12]),      # sparse range: hashed
    np.array([2, 0, 2, 1, 0, 1, 2, 0], dtype=np.uint8),      # unsigned
])
def test_integer_label_encodings_agree_with_sklearn(pred):
    truth = np.array([0, 1, 1, 0, 2, 2, 1, 0])
    for name in SCORES:
        assert getattr(cm, name)(truth, pred) == pytest.approx(getattr(skm, name)(truth, pred),
                                                                abs=1e-12)
    np.testing.assert_array_equal(cm.contingency_matrix(truth, pred),
                                  skm.cluster.contingency_matrix(truth, pred))


def test_categorical_labels_reuse_their_codes():
    rng = np.random.default_rng(4)
    t = pd.Categorical(rng.choice(["b", "a", "c"], 300), categories=["c", "b", "a", "unused"])
    p = pd.Series(pd.Categorical(rng.integers(0, 4, 300)))
    expected = skm.adjusted_mutual_info_score(np.asarray(t, dtype=str), p.astype(int))
    assert cm.adjusted_mutual_info_score(t, p) == pytest.approx(expected, abs=1e-12)
    np.testing.assert_array_equal(cm.contingency_matrix(t, p),
                                  skm.cluster.contingency_matrix(np.asarray(t, dtype=str),
                                                                 p.astype(int)))


def test_nullable_integer_and_string_dtypes():
    t = pd.Series([1, 1, None, 2, 2], dtype="Int64")
    p = pd.Series(["x", "x", "y", None, "y"], dtype="string")
    s = ContingencyStats().update(t, p)
    assert (s.n, s.n_missing_true, s.n_missing_pred) == (3, 1, 1)
    assert cm.adjusted_rand_score(t, p) == skm.adjusted_rand_score([1, 1, 2], ["x", "x", "y"])


def test_merging_with_an_empty_table_gives_the_other_as_it_was():
    from clustermetrics.metrics.contingency import ContingencyStats
    counted = ContingencyStats().update(["a", "b", "b"], [0, 1, 1])
    empty = ContingencyStats()
    for merged in (counted.merge(empty), empty.merge(counted)):
        assert merged == counted and merged is not counted
        assert merged.table.toarray().tolist() == [[1, 0], [0, 2]]
    missing = ContingencyStats()
    missing.n_missing_true = 3  # nothing in the table, but counted: not empty
    assert counted.merge(missing).n_missing_true == 3
