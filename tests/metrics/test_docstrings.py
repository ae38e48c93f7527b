"""Every public metric function has a numpydoc docstring with the sections users look for."""

import inspect
import itertools

import pytest

import clustermetrics

SECTIONS = ("Parameters", "Returns", "References", "Examples")

METRIC_FUNCTIONS = sorted(
    name for name in clustermetrics.__all__
    if name.endswith(("_score", "_samples", "_matrix"))
    or name == "homogeneity_completeness_v_measure"
)


def test_metric_functions_found():
    assert "silhouette_score" in METRIC_FUNCTIONS
    assert "contingency_matrix" in METRIC_FUNCTIONS
    assert "homogeneity_completeness_v_measure" in METRIC_FUNCTIONS


@pytest.mark.parametrize("name", METRIC_FUNCTIONS)
def test_docstring_sections(name):
    doc = inspect.getdoc(getattr(clustermetrics, name))
    assert doc, f"{name} has no docstring"
    lines = doc.splitlines()
    for section in SECTIONS:
        underline = "-" * len(section)
        found = any(line == section and nxt == underline
                    for line, nxt in itertools.pairwise(lines))
        assert found, f"{name}'s docstring has no {section!r} section"
