import json
import os
import re
import shutil
import sys

import numpy as np
import pytest
from click.testing import CliRunner

import clustermetrics as cm
from clustermetrics.cli import main
from clustermetrics.report.compare import PLOTTED, Comparison
from clustermetrics.report.html import SECTIONS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def shop(client):
    """120 documents in 3 blobs with a ground truth that mostly agrees, clustered twice."""
    rng = np.random.default_rng(0)
    truth = np.repeat(["shoes", "hats", "bags"], 40)
    centers = {"shoes": [0, 0, 0, 0], "hats": [8, 0, 0, 0], "bags": [0, 8, 0, 0]}
    X = np.array([centers[t] for t in truth]) + rng.normal(size=(120, 4))
    docs = [{"_id": f"p{i}", "item_vector_": X[i], "category": str(truth[i]),
             "title": f"product {i}"} for i in range(120)]
    client.Dataset("shop").insert_documents(docs)
    client.vector_tools.cluster.kmeans("shop", "item_vector_", 3)
    client.vector_tools.cluster.kmeans("shop", "item_vector_", 5)
    return X, truth


@pytest.fixture
def report(client, shop, tmp_path):
    path = str(tmp_path / "report.html")
    rep = client.vector_tools.cluster.report("shop", "item_vector_", "kmeans_3", "category",
                                             path=path, hover_fields=["title"])
    return rep, path


def test_report_has_every_section_and_works_offline(report):
    rep, path = report
    with open(path, encoding="utf-8") as f:
        text = f.read()
    assert text == rep.html
    for sid in SECTIONS:
        assert f'id="{sid}"' in text
    assert not re.search(r"<script[^>]*\bsrc=", text)  # plotly.js is inline, nothing fetched
    assert "Adjusted Rand Index" in text and "product 7" in text  # metrics table, hover field


def test_silhouette_plot_has_one_bar_per_scored_sample(report):
    rep, _ = report
    fig = rep.figures["silhouette"]
    bars = [t for t in fig.data if t.type == "bar"]
    assert len(bars) == 3
    assert sum(len(t.x) for t in bars) == 120
    assert all(list(t.x) == sorted(t.x) for t in bars)  # sorted within each cluster


def test_heatmap_totals_equal_the_contingency_table(client, report):
    rep, _ = report
    heat = rep.figures["contingency"].data[0]
    joint = client.vector_tools.cluster.distribution("shop", "item_vector_", "kmeans_3",
                                                     "category")
    rows = [int(r) for r in heat.y]  # clusters ordered to put their matches on the diagonal
    assert sorted(rows) == [0, 1, 2]
    np.testing.assert_array_equal(np.array(heat.z), joint.loc[rows].to_numpy())
    assert np.array(heat.z).sum() == 120


def test_projection_colours_by_cluster_and_by_truth(report):
    rep, _ = report
    fig = rep.figures["projection_2d"]
    by_cluster = [t for t in fig.data if t.legendgroup == "cluster"]
    by_truth = [t for t in fig.data if t.legendgroup == "ground truth"]
    assert sum(len(t.x) for t in by_cluster) == sum(len(t.x) for t in by_truth) == 120
    assert {t.name for t in by_truth} == {"ground truth bags", "ground truth hats",
                                          "ground truth shoes"}
    assert all("_id: p" in s for t in by_cluster for s in t.text)
    assert len(rep.figures["projection_3d"].data[0].z) > 0


def test_projection_is_subsampled(client, shop):
    rep = client.vector_tools.cluster.report("shop", "item_vector_", "kmeans_3", max_points=50)
    fig = rep.figures["projection_2d"]
    assert sum(len(t.x) for t in fig.data) == 50
    assert "contingency" not in rep.figures  # no ground truth, no heatmap


def test_centroid_section(client, report):
    rep, _ = report
    dist = client.vector_tools.cluster.centroid_distances("shop", "item_vector_", "kmeans_3")
    np.testing.assert_allclose(rep.figures["centroids"].data[0].z, dist.to_numpy())
    assert "nearest cluster" in rep.html


def test_sweep_picks_four_for_four_blobs(client):
    rng = np.random.default_rng(3)
    centers = rng.normal(scale=20, size=(4, 6))
    labels = rng.integers(0, 4, 400)
    X = centers[labels] + rng.normal(size=(400, 6))
    client.Dataset("blobs").insert_documents(X, ids=[str(i) for i in range(400)],
                                             vector_field="v_vector_")
    steps = []
    result = client.vector_tools.cluster.sweep("blobs", "v_vector_", k=range(2, 9),
                                               on_step=lambda k, i, n: steps.append((k, i, n)))
    assert result.best["silhouette"] == 4
    assert list(result.table.index) == list(range(2, 9))
    assert steps[-1] == (8, 7, 7)
    assert {a["alias"] for a in client.vector_tools.cluster.list_aliases("blobs")} == {
        f"kmeans_{k}" for k in range(2, 9)}
    fig = result.figure()
    stars = [t for t in fig.data if t.mode == "markers"]
    assert stars[0].x == ("4",)


def test_compare_aliases(client, shop):
    comparison = client.vector_tools.cluster.compare("shop", "item_vector_",
                                                     ["kmeans_3", "kmeans_5"], "category")
    assert list(comparison.table.index) == ["kmeans_3", "kmeans_5"]
    assert comparison.best["adjusted_rand"] == "kmeans_3"
    assert comparison.table.loc["kmeans_5", "n_clusters"] == 5
    data = comparison.to_dict()
    assert data["rows"][0]["alias"] == "kmeans_3"


def test_compare_needs_aliases(client, shop):
    with pytest.raises(cm.InvalidInputError, match="at least one alias"):
        client.vector_tools.cluster.compare("shop", "item_vector_", [])


def test_notebook_display(client, shop, report):
    rep, _ = report
    assert rep._repr_html_().startswith("<iframe srcdoc=")
    comparison = client.vector_tools.cluster.compare("shop", "item_vector_", ["kmeans_3"])
    assert "<table>" in comparison._repr_html_()
    result = client.vector_tools.cluster.metrics("shop", "item_vector_", "kmeans_3")
    assert "<table>" in result._repr_html_()


def test_missing_plotly_gives_an_install_hint(client, shop, monkeypatch):
    monkeypatch.setitem(sys.modules, "plotly", None)
    with pytest.raises(cm.MissingDependencyError, match=r"pip install 'clustermetrics\[report\]'"):
        client.vector_tools.cluster.report("shop", "item_vector_", "kmeans_3")


def test_cli_report_sweep_compare(client, shop, tmp_path, cli_args):
    client.close()
    runner = CliRunner()
    out = tmp_path / "cli-report.html"
    res = runner.invoke(main, ["report", "shop", "-f", "item_vector_", "-a", "kmeans_3", "-g",
                               "category", "-o", str(out), *cli_args])
    assert res.exit_code == 0, res.output
    assert out.stat().st_size > 100_000
    res = runner.invoke(main, ["sweep", "shop", "-f", "item_vector_", "--k-min", "2",
                               "--k-max", "4", "--json", *cli_args])
    assert res.exit_code == 0, res.output
    assert [r["k"] for r in json.loads(res.stdout)["rows"]] == [2, 3, 4]
    assert "kmeans_3' of 'shop'/'item_vector_' was replaced" in res.stderr
    res = runner.invoke(main, ["compare", "shop", "-f", "item_vector_", "-a", "kmeans_3", "-a",
                               "kmeans_5", "-o", str(tmp_path / "c.html"), *cli_args])
    assert res.exit_code == 0, res.output
    assert "Best alias by metric: Silhouette" in res.output
    assert (tmp_path / "c.html").exists()


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                                             "(make browser installs it)")
def test_report_opens_in_a_real_browser(client, report, tmp_path):
    from sklearn.cluster import HDBSCAN
    playwright = pytest.importorskip("playwright.sync_api")
    _, path = report
    tools = client.vector_tools.cluster  # a second report: noise and stability
    tools.stability("shop", "item_vector_", HDBSCAN(min_cluster_size=10, copy=True),
                    alias="st", n_resamples=3)
    second = tools.report("shop", "item_vector_", "st", "category",
                          path=str(tmp_path / "second.html"), noise="cluster")
    assert 'id="stability"' in second.html and second.metrics.counts["n_clusters"] >= 3
    errors = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        fetched = []
        page.on("request", lambda r: fetched.append(r.url) if not r.url.startswith("file:")
                else None)
        page.goto("file://" + os.path.abspath(path))
        page.wait_for_function("document.querySelectorAll('.main-svg').length > 0")
        for sid in SECTIONS:
            assert page.locator(f"section#{sid}").is_visible()
        for fid in ("fig-silhouette", "fig-projection-2d", "fig-projection-3d",
                    "fig-contingency", "fig-sizes", "fig-centroids"):
            assert page.locator(f"#{fid} .main-svg").count() > 0, fid
        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=True)
        page.goto("file://" + str(tmp_path / "second.html"))
        page.wait_for_function("document.querySelectorAll('.main-svg').length > 0")
        assert page.locator("section#stability").is_visible()
        assert page.locator("#fig-stability .main-svg").count() > 0
        page.screenshot(path=str(tmp_path / "second.png"), full_page=True)
        browser.close()
    assert errors == []
    assert fetched == []  # works offline
    assert shot.stat().st_size > 50_000


def test_tsne_projection(client, shop):
    rep = client.vector_tools.cluster.report("shop", "item_vector_", "kmeans_3", "category",
                                             projection="tsne", max_points=60)
    assert "t-SNE" in rep.html
    assert sum(len(t.x) for t in rep.figures["projection_3d"].data) == 120  # 60 per panel


def test_unknown_projection_is_an_error(client, shop):
    with pytest.raises(cm.InvalidInputError, match="projection='umap' is not one of pca, tsne"):
        client.vector_tools.cluster.report("shop", "item_vector_", "kmeans_3",
                                           projection="umap")


# -- noise in grey, clusters in the colour of their class, matches on the diagonal -------------

@pytest.fixture
def noisy_shop(client, shop):
    """The shop's blobs labelled so that cluster order and class order differ, with noise."""
    X, truth = shop
    by_class = {"shoes": 0, "hats": 2, "bags": 1}  # classes sort as bags, hats, shoes
    labels = {f"p{i}": (-1 if i % 10 == 0 else by_class[t]) for i, t in enumerate(truth)}
    client.vector_tools.cluster.set_cluster_labels("shop", "item_vector_", "hdb", labels,
                                                   noise_label=-1)
    return X, truth


def _colours(fig, group):
    return {t.name: t.marker.color for t in fig.data if t.legendgroup == group}


@pytest.mark.parametrize("noise", [None, "cluster", "singletons"])
def test_noise_is_grey_and_clusters_wear_their_class_colour(client, noisy_shop, noise):
    from clustermetrics.report.figures import NOISE_COLOR
    rep = client.vector_tools.cluster.report("shop", "item_vector_", "hdb", "category",
                                             noise=noise)
    clusters = _colours(rep.figures["projection_2d"], "cluster")
    classes = _colours(rep.figures["projection_2d"], "ground truth")
    assert clusters["cluster -1 (noise)"] == NOISE_COLOR
    assert NOISE_COLOR not in classes.values()
    for cluster, klass in ((0, "shoes"), (1, "bags"), (2, "hats")):
        assert clusters[f"cluster {cluster}"] == classes[f"ground truth {klass}"]
    sil = {t.name: t.marker.color for t in rep.figures["silhouette"].data}
    assert sil["cluster 0"] == classes["ground truth shoes"]
    assert (sil.get("noise") == NOISE_COLOR) == (noise is not None)  # scored noise only
    assert ("noise" in sil) == (noise is not None)
    sizes = rep.figures["sizes"].data[0]
    assert list(sizes.x)[-1] == "-1 (noise)" and sizes.marker.color[-1] == NOISE_COLOR
    assert list(sizes.y)[-1] == 12


def test_heatmap_puts_the_matches_on_the_diagonal(client, noisy_shop):
    rep = client.vector_tools.cluster.report("shop", "item_vector_", "hdb", "category",
                                             noise="cluster")
    heat = rep.figures["contingency"].data[0]
    assert list(heat.x) == ["bags", "hats", "shoes"]
    assert list(heat.y) == ["1", "2", "0", "-1"]  # the clusters of bags, hats, shoes; noise
    z = np.array(heat.z)
    assert (np.diag(z[:3]) == z[:3].max(axis=1)).all()


def test_colours_without_ground_truth_skip_grey(client, noisy_shop):
    from clustermetrics.report.figures import NOISE_COLOR, PALETTE
    rep = client.vector_tools.cluster.report("shop", "item_vector_", "hdb")
    clusters = _colours(rep.figures["projection_2d"], "cluster")
    assert [clusters[f"cluster {c}"] for c in range(3)] == PALETTE[:3]
    assert NOISE_COLOR not in PALETTE


def test_more_clusters_than_classes_take_unused_colours():
    import pandas as pd

    from clustermetrics.report.figures import PALETTE, match_colors
    table = pd.DataFrame([[9, 0], [1, 8], [5, 1]], index=[0, 1, 2], columns=["a", "b"])
    colors, class_colors = match_colors([0, 1, 2], ["a", "b"], table)
    assert class_colors == {"a": PALETTE[0], "b": PALETTE[1]}
    assert colors == {0: PALETTE[0], 1: PALETTE[1], 2: PALETTE[2]}


# -- sweeps over any model, coverage beside the scores -------------------------------------------

def test_sweep_over_a_model_grid_marks_best_and_coverage(client, noisy_shop):
    from sklearn.cluster import DBSCAN
    steps = []
    sweep = client.vector_tools.cluster.sweep(
        "shop", "item_vector_", model=DBSCAN(), param_grid={"eps": [0.5, 1.5, 3.0]},
        ground_truth_field="category", on_step=lambda *s: steps.append(s))
    assert list(sweep.table.index) == ["dbscan_eps0p5_ms5", "dbscan_eps1p5_ms5",
                                       "dbscan_eps3_ms5"]
    assert sweep.table["eps"].tolist() == [0.5, 1.5, 3.0]
    assert steps == [("dbscan_eps0p5_ms5", 1, 3), ("dbscan_eps1p5_ms5", 2, 3),
                     ("dbscan_eps3_ms5", 3, 3)]
    cov = sweep.table["coverage"]
    assert cov.is_monotonic_increasing and cov.iloc[0] < 0.5 and cov.iloc[-1] > 0.9
    labels = client.vector_tools.cluster.distribution("shop", "item_vector_",
                                                      "dbscan_eps1p5_ms5")["size"]
    assert cov.iloc[1] == pytest.approx(1 - labels.get(-1, 0) / 120)
    assert set(sweep.best) >= {"silhouette", "adjusted_rand"}
    fig = sweep.figure()
    bars = [t for t in fig.data if t.name == "coverage"]
    assert list(bars[0].y) == pytest.approx(cov.tolist())
    shown = [m for m in PLOTTED if m in sweep.best]
    for m in shown:
        row = sweep.best[m]
        flagged = cov[row] < 0.5 or cov[row] < cov.max() - 0.05
        assert any(cm.METRIC_INFO[m].label in w.split(": best alias")[0].split(", ")
                   and f": best alias {row} " in w for w in sweep.warnings) == flagged
    # one line per flagged row, none for the metrics the table does not show
    flagged_rows = {sweep.best[m] for m in shown
                    if cov[sweep.best[m]] < 0.5 or cov[sweep.best[m]] < cov.max() - 0.05}
    assert len([w for w in sweep.warnings if "clusters only" in w]) == len(flagged_rows)
    assert "coverage" in sweep._repr_html_()


def test_a_winner_that_calls_most_data_noise_does_not_win_silently(client, shop):
    X, truth = shop
    core = np.zeros(120, dtype=bool)
    for t in ("shoes", "hats", "bags"):  # each blob's 10 points nearest its centre
        rows = np.flatnonzero(truth == t)
        dist = np.linalg.norm(X[rows] - X[rows].mean(axis=0), axis=1)
        core[rows[np.argsort(dist)[:10]]] = True
    tight = {f"p{i}": (str(truth[i]) if core[i] else "none") for i in range(120)}
    tools = client.vector_tools.cluster
    tools.set_cluster_labels("shop", "item_vector_", "tight", tight, noise_label="none")
    comparison = tools.compare("shop", "item_vector_", ["kmeans_3", "tight"])
    assert comparison.table.loc["tight", "coverage"] == pytest.approx(30 / 120)
    assert any("best alias tight clusters only 25% of the documents" in w
               for w in comparison.warnings)
    assert "clusters only 25%" in comparison.to_html()
    assert comparison.to_dict()["warnings"] == comparison.warnings


@pytest.mark.parametrize("kwargs, message", [
    ({"k": [2, 3], "model": "kmeans", "param_grid": {"n_clusters": [2]}},
     r"Give k for a k-means sweep or model= with param_grid=, not both"),
    ({"param_grid": {"eps": [1]}}, r"param_grid needs model=, e\.g\. model=HDBSCAN\(\)"),
    ({"model": "dbscan"}, r"A sweep over model= needs param_grid=, e\.g\."),
    ({"model": "dbscan", "param_grid": {"eps": 0.5}},
     r"param_grid: Parameter grid for parameter 'eps' needs to be a list or a numpy array"),
    ({"model": "dbscan", "param_grid": {"eps": []}}, r"param_grid: Parameter grid for parameter "
                                                     r"'eps' need to be a non-empty sequence"),
    ({"model": "dbscan", "param_grid": {}}, r"param_grid gives nothing to try"),
    ({"model": "dbscan", "param_grid": "eps"}, r"param_grid must be a dict of lists"),
    ({"model": "dbscan", "param_grid": {"eps": [0.5, -1]}},
     r"DBSCAN: The 'eps' parameter of DBSCAN must be a float in the range \(0\.0, inf\)"),
], ids=["k and model", "grid without model", "model without grid", "grid value not a list",
        "empty list", "empty grid", "grid not a dict", "bad value in the grid"])
def test_sweep_bad_arguments(client, shop, kwargs, message):
    before = client.vector_tools.cluster.list_aliases("shop")
    with pytest.raises(cm.InvalidInputError, match=message):
        client.vector_tools.cluster.sweep("shop", "item_vector_", **kwargs)
    assert client.vector_tools.cluster.list_aliases("shop") == before


def _tied_table():
    import pandas as pd
    table = pd.DataFrame(
        {"silhouette": [0.4, 0.5, 0.5, 0.45], "adjusted_rand": [1.0, 1.0, 1.0, 0.9],
         "rand": [1.0, 1.0, 1.0, 0.9], "homogeneity": [1.0, 1.0, 1.0, 0.9],
         "n_clusters": [5, 6, 5, 4], "n_used": [305, 500, 500, 500],
         "coverage": [0.61, 1.0, 1.0, 1.0]},
        index=pd.Index(["narrow", "wide_more", "wide_fewer", "other"], name="alias"))
    return Comparison(table, by="alias", title="ties")


def test_a_tie_on_the_score_goes_to_higher_coverage_then_fewer_clusters():
    best = _tied_table().best
    assert best["adjusted_rand"] == "wide_fewer"  # not "narrow", the first of the tie
    assert best["silhouette"] == "wide_fewer"
    assert best["homogeneity"] == "wide_fewer"


def test_coverage_warnings_one_line_per_row_for_the_shown_metrics_only():
    import pandas as pd
    table = pd.DataFrame(
        {"silhouette": [0.9, 0.2], "adjusted_rand": [1.0, 0.5], "adjusted_mutual_info":
         [0.9, 0.5], "rand": [1.0, 0.5], "homogeneity": [1.0, 0.5], "purity": [1.0, 0.5],
         "n_clusters": [5, 5], "n_used": [305, 500], "coverage": [0.61, 1.0]},
        index=pd.Index(["narrow", "wide"], name="alias"))
    warnings = Comparison(table, by="alias", title="t").warnings
    assert warnings == [
        "Silhouette, Adjusted Rand Index, Adjusted Mutual Information: best alias narrow "
        "clusters only 61% of the documents (the rest noise or unlabelled); wide clusters 100%."]


def test_a_comparisons_charts_sit_three_to_a_row_and_one_per_panel_on_its_page():
    """Six charts (five scores and the coverage) side by side squeezed their titles into each
    other: the figure puts three to a row, and the page draws one small figure per chart."""
    import pandas as pd
    table = pd.DataFrame(
        {m: [0.5, 0.6] for m in PLOTTED} | {"n_clusters": [3, 4], "n_used": [10, 10],
                                            "coverage": [1.0, 0.4]},
        index=pd.Index(["kmeans_3", "noisy"], name="alias"))
    comparison = Comparison(table, by="alias", title="shop / v: 2 clusterings")
    fig = comparison.figure()
    titles = sorted((round(a.y, 3), round(a.x, 3)) for a in fig.layout.annotations)
    assert len(titles) == 6 and len({y for y, _ in titles}) == 2  # two rows of three
    assert fig.layout.height == 120 + 320 * 2
    panels = comparison.panel_figures()
    assert [p.layout.title.text for p in panels][-1] == "Coverage (share clustered)"
    assert len(panels) == 6 and all(p.layout.height == 330 for p in panels)
    page = comparison.to_html()
    assert page.count("class='panel'") == 6 and "\"responsive\": true" in page
    # the coverage just before the scores, the low one marked
    assert "<th>alias</th><th class='num'>coverage</th><th class='num'>silhouette</th>" in page
    assert "<td class='num low' data-sort='0.4'>40.0%</td>" in page
