"""Labels and values are text in a report's figures (Plotly reads HTML in its text), and a
server's nonce reaches every script and style of a page."""

import json
import re

import numpy as np
import pytest

from clustermetrics.report.figures import plotly_text

EVIL = '<a href="https://evil.test/">x</a> 100%{y}'


def test_plotly_text_turns_markup_and_templates_into_entities():
    assert plotly_text('<b>R&D</b> %{x}') == "&lt;b&gt;R&amp;D&lt;/b&gt; &#37;{x}"
    assert plotly_text(3) == "3"


def _strings(value, key: str = ""):
    """(key, string) of every string in a figure's JSON."""
    if isinstance(value, str):
        yield key, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, k)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v, key)


@pytest.fixture
def linked(client):
    """An alias whose labels, ground truth and a hover field hold a link."""
    rng = np.random.default_rng(0)
    X = np.repeat(np.eye(3, 4) * 8, 20, axis=0) + rng.normal(size=(60, 4))
    names = [EVIL, "b", "c"]
    client.Dataset("evil").insert_documents(
        [{"_id": f"e{i}", "v_vector_": X[i], "kind": names[i % 3], "note": EVIL}
         for i in range(60)])
    client.vector_tools.cluster.set_cluster_labels(
        "evil", "v_vector_", "linked", {f"e{i}": names[i // 20] for i in range(60)})
    return client


def test_a_label_or_value_holding_a_link_is_text_in_every_figure(linked):
    report = linked.vector_tools.cluster.report("evil", "v_vector_", "linked", "kind",
                                                hover_fields=["note"])
    assert {"silhouette", "projection_2d", "contingency", "sizes", "centroids"} <= set(
        report.figures)
    for name, fig in report.figures.items():
        texts = list(_strings(json.loads(fig.to_json())))
        assert not [t for _, t in texts if "<a " in t], name  # no tag Plotly would draw
        # a template is filled once: values put into it (text) are not read as templates
        assert not [t for k, t in texts if k == "hovertemplate" and "100%{y}" in t], name
    shown = json.dumps([t for f in report.figures.values()
                        for _, t in _strings(json.loads(f.to_json()))])
    assert "&lt;a href=\\\"https://evil.test/\\\"&gt;x&lt;/a&gt; 100&#37;{y}" in shown


def test_a_comparisons_chart_escapes_its_title():
    import pandas as pd

    from clustermetrics.report.compare import Comparison
    table = pd.DataFrame({"silhouette": [0.5, 0.6]}, index=pd.Index([2, 3], name="k"))
    fig = Comparison(table, by="k", title=EVIL).figure()
    assert fig.layout.title.text == plotly_text(EVIL)


def test_a_nonce_reaches_every_script_and_style(linked):
    from clustermetrics.report import build_report
    data = linked.api.report_data("evil", "v_vector_", "linked", "kind")
    page = build_report(data.metrics, projection=data.projection,
                        contingency=data.contingency, nonce="n0nce").html
    tags = re.findall(r"<(?:script|style)\b[^>]*>", page)
    assert len(tags) >= 3 and all('nonce="n0nce"' in t for t in tags)
    assert 'id="plotly.js-style-global" nonce="n0nce"' in page  # plotly.js fills this one
    plain = build_report(data.metrics).html  # a file for a disk: no nonce
    assert "nonce=" not in plain
    compared = linked.vector_tools.cluster.compare("evil", "v_vector_", ["linked", "linked"])
    tags = re.findall(r"<(?:script|style)\b[^>]*>", compared.to_html(nonce="n0nce"))
    assert tags and all('nonce="n0nce"' in t for t in tags)
