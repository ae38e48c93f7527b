"""scikit-learn's own tests of its cluster metrics, run against ours.

The two modules ``sklearn/metrics/cluster/tests/test_supervised.py`` and
``test_unsupervised.py`` are read from the installed scikit-learn at run time (never copied
here) and executed with every public function of ``sklearn.metrics.cluster`` that
clustermetrics also provides replaced by ours: the names the modules import, and so the
functions their parametrized tests iterate over, are ours. Helpers that are not metrics
(``pairwise_distances``, ``expected_mutual_information``, private functions) stay
scikit-learn's. Their test functions are then collected from this module like our own.

Every test must pass except the deliberate differences listed in ``DIFFERENCES`` (and in
docs/accuracy.md, "Where we differ from scikit-learn on purpose"), which are marked xfail with
the reason.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest
import sklearn.metrics.cluster as skc

import clustermetrics as cm

# the public functions swapped in: scikit-learn's name -> ours
SWAPPED = [
    "adjusted_mutual_info_score", "adjusted_rand_score", "calinski_harabasz_score",
    "completeness_score", "contingency_matrix", "davies_bouldin_score",
    "fowlkes_mallows_score", "homogeneity_completeness_v_measure", "homogeneity_score",
    "mutual_info_score", "normalized_mutual_info_score", "pair_confusion_matrix", "rand_score",
    "silhouette_samples", "silhouette_score", "v_measure_score",
]

# test (as collected here) -> why we differ on purpose; docs/accuracy.md lists the same
DIFFERENCES: dict[str, str] = {}

TEST_DIR = Path(skc.__file__).parent / "tests"


def _load(stem: str) -> types.ModuleType:
    """Execute scikit-learn's test module with our functions bound to the imported names."""
    path = TEST_DIR / f"{stem}.py"
    spec = importlib.util.spec_from_file_location(f"_sklearn_conformance_{stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    saved = {name: getattr(skc, name) for name in SWAPPED}
    try:  # `from sklearn.metrics.cluster import ...` runs while the package holds ours
        for name in SWAPPED:
            setattr(skc, name, getattr(cm, name))
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    finally:
        for name, fn in saved.items():
            setattr(skc, name, fn)
    for name in SWAPPED:
        if hasattr(module, name):
            assert getattr(module, name) is getattr(cm, name), name
    return module


def _listed(marks: list) -> list:
    """Parametrize marks with their values in a list (a generator is deprecated by pytest)."""
    out = []
    for mark in marks:
        if mark.name == "parametrize" and not isinstance(mark.args[1], (list, tuple)):
            mark = pytest.mark.parametrize(mark.args[0], list(mark.args[1]), **mark.kwargs).mark
        out.append(mark)
    return out


def _collect(stem: str) -> dict[str, object]:
    module = _load(stem)
    tests = {}
    for name, obj in vars(module).items():
        if name.startswith("test_") and callable(obj):
            if hasattr(obj, "pytestmark"):
                obj.pytestmark = _listed(obj.pytestmark)
            key = f"test_{stem.removeprefix('test_')}__{name.removeprefix('test_')}"
            reason = DIFFERENCES.get(key)
            if reason:
                obj = pytest.mark.xfail(reason=reason, strict=True)(obj)
            tests[key] = obj
    return tests


MODULES = ("test_supervised", "test_unsupervised")
_TESTS = {k: v for stem in MODULES for k, v in _collect(stem).items()}
globals().update(_TESTS)


def test_the_modules_were_found_and_swapped():
    assert len([k for k in _TESTS if k.startswith("test_supervised__")]) >= 25
    assert len([k for k in _TESTS if k.startswith("test_unsupervised__")]) >= 10
    assert set(DIFFERENCES) <= set(_TESTS)
