"""Noise labels match across types: "-1" (as a command line gives it) and -1 are one label."""

import numpy as np
import pandas as pd
import pytest

import clustermetrics as cm
from clustermetrics.metrics.labels import NOISE, encode_labels, same_label


@pytest.mark.parametrize("labels, noise_label", [
    ([0, 1, -1, 1, -1], "-1"),
    (np.array([0, 1, -1, 1, -1]), " -1"),
    (["0", "1", "-1", "1", "-1"], -1),
    (np.array(["a", "b", "-1", "b", "-1"], dtype=object), np.int64(-1)),
    ([0.0, 1.0, -1.0, 1.0, -1.0], "-1"),
])
def test_noise_label_given_as_text_or_number_matches_either(labels, noise_label):
    enc = encode_labels(labels, noise_label=noise_label)
    assert enc.n_noise == 2 and enc.k == 2
    assert (enc.codes == NOISE).tolist() == [False, False, True, False, True]


def test_evaluate_excludes_text_noise_label_from_integer_labels():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    labels = np.arange(30) % 3 - 1  # -1, 0, 1
    as_text = cm.evaluate(X, labels, noise_label="-1")
    as_int = cm.evaluate(X, labels, noise_label=-1)
    assert as_text.counts["n_noise"] == as_int.counts["n_noise"] == 10
    assert as_text.scores == as_int.scores


@pytest.mark.parametrize("value, noise, expected", [
    (-1, "-1", True), ("-1", -1, True), (-1.0, "-1", True), ("x", "x", True),
    (-1, "-1.5", False), ("-1a", -1, False), (True, 1, False), (1, True, False),
    (-1.5, "-1", False), (float("nan"), "nan", False), (None, -1, False),
])
def test_same_label(value, noise, expected):
    assert same_label(value, noise) is expected



@pytest.mark.parametrize("truth", [
    pd.array(["a", "a", "b", "b", "c", "c"], dtype="string[pyarrow]"),
    pd.array(["a", "a", "b", "b", "c", "c"], dtype="string[python]"),
    pd.array([0, 0, 1, 1, 2, 2], dtype="Int64"),
    pd.Categorical(["a", "a", "b", "b", "c", "c"]),
], ids=["arrow strings", "python strings", "nullable ints", "categorical"])
def test_pandas_arrays_as_labels(truth):
    """A DataFrame column's ``.values`` under pandas 3 is a pandas array, not numpy; a missing
    value in a nullable one is a missing label."""
    pred = pd.array([1, 1, 2, 2, 3, None], dtype="Int64")
    plain = np.asarray(truth, dtype=object)
    assert cm.adjusted_rand_score(truth, pred) == pytest.approx(
        cm.adjusted_rand_score(plain[:5], [1, 1, 2, 2, 3]), abs=1e-12)
    X = np.array([[0.0, 0], [0, 1], [5, 5], [5, 6], [9, 0], [9, 1]])
    assert cm.silhouette_score(X, truth) == pytest.approx(cm.silhouette_score(X, plain),
                                                          abs=1e-12)
