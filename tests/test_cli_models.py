"""The command line for any model: cluster fit, sweep over a grid, stability."""

import json
import re

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.cluster import DBSCAN, HDBSCAN

import clustermetrics as cm
from clustermetrics.cli import main

VF = "feat_vector_"


@pytest.fixture
def run(tmp_path):
    runner = CliRunner()
    store = str(tmp_path / "cli.duckdb")

    def invoke(*args):
        return runner.invoke(main, [*args, "--path", store])

    invoke.store = store
    return invoke


@pytest.fixture
def docs(run):
    rng = np.random.default_rng(0)
    truth = np.repeat([0, 1, 2], 30)
    X = np.vstack([np.array([[0, 0], [10, 0], [0, 10]])[truth] + rng.normal(size=(90, 2)),
                   rng.uniform(-4, 14, size=(10, 2))])
    with cm.Client(path=run.store) as c:
        c.Dataset("docs").insert_documents(
            [{"_id": f"r{i}", VF: X[i], "kind": f"k{truth[i] if i < 90 else 0}"}
             for i in range(len(X))])
    return X.astype(np.float32)


def _aliases(run):
    with cm.Client(path=run.store) as c:
        return {a["alias"] for a in c.vector_tools.cluster.list_aliases("docs")}


def _describe(run, alias):
    with cm.Client(path=run.store) as c:
        return c.vector_tools.cluster.describe_alias("docs", VF, alias)


def test_cluster_fit_stores_the_estimators_labels(run, docs):
    res = run("cluster", "fit", "docs", "-f", VF, "--algorithm", "hdbscan", "--param",
              "min_cluster_size=8", "--param", "copy=true")
    assert res.exit_code == 0, res.output
    assert "Stored hdbscan_mcs8 (hdbscan): 3 clusters" in res.output
    expected = HDBSCAN(min_cluster_size=8, copy=True).fit_predict(docs)
    with cm.Client(path=run.store) as c:
        stored = c.Dataset("docs").get_documents([f"r{i}" for i in range(len(docs))])
    labels = [d["_cluster_"][VF]["hdbscan_mcs8"] for d in stored]
    np.testing.assert_array_equal(labels, expected)
    assert f"{int(np.sum(expected == -1))} noise" in res.output
    assert _describe(run, "hdbscan_mcs8")["params"]["noise_label"] == -1


def test_cluster_fit_json_and_alias(run, docs):
    res = run("cluster", "fit", "docs", "-f", VF, "--algorithm", "gaussian-mixture", "--param",
              "n_components=3", "--param", "random_state=0", "--alias", "gm", "--json")
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    assert info["alias"] == "gm" and info["method"] == "gaussian_mixture"
    assert info["model"] == "sklearn.mixture.GaussianMixture" and info["n_clusters"] == 3


def test_parameters_are_read_in_their_types(run, docs):
    res = run("cluster", "fit", "docs", "-f", VF, "--algorithm", "agglomerative",
              "--param", "n_clusters=none", "--param", "distance_threshold=25",
              "--param", "linkage=average", "--param", "compute_distances=true")
    assert res.exit_code == 0, res.output
    params = _describe(run, "agglomerative_average_dt25")["params"]["params"]
    assert params["n_clusters"] is None and params["distance_threshold"] == 25
    assert params["linkage"] == "average" and params["compute_distances"] is True


def test_noise_from_the_alias_in_metrics(run, docs):
    run("cluster", "fit", "docs", "-f", VF, "--algorithm", "dbscan", "--param", "eps=1.5")
    res = run("metrics", "docs", "-f", VF, "-a", "dbscan_eps1p5_ms5", "--json")
    assert res.exit_code == 0, res.output
    expected = cm.evaluate(docs, DBSCAN(eps=1.5).fit_predict(docs), noise_label=-1)
    data = json.loads(res.output)
    assert data["counts"]["n_noise"] == expected.counts["n_noise"] > 0
    assert data["scores"] == pytest.approx(expected.scores, abs=1e-12)


# -- each bad parameter: one line, exit 1, nothing stored --------------------------------------

@pytest.mark.parametrize("args, message", [
    (["--algorithm", "hdbscn"], "Unknown algorithm 'hdbscn'. Did you mean 'hdbscan'? "
                                "Algorithms: hdbscan, dbscan, agglomerative, kmeans"),
    (["--algorithm", "hdbscan", "--param", "min_cluster=5"],
     "HDBSCAN has no parameter 'min_cluster'. Did you mean 'min_cluster_size'?"),
    (["--algorithm", "hdbscan", "--param", "min_cluster_size=1"],
     "The 'min_cluster_size' parameter of HDBSCAN must be an int in the range [2, inf). Got 1 "
     "instead."),
    (["--algorithm", "hdbscan", "--param", "min_cluster_size=abc"],
     "The 'min_cluster_size' parameter of HDBSCAN must be an int in the range [2, inf). Got "
     "'abc' instead."),
    (["--algorithm", "dbscan", "--param", "eps=-1"],
     "The 'eps' parameter of DBSCAN must be a float in the range (0.0, inf). Got -1 instead."),
    (["--algorithm", "agglomerative", "--param", "linkage=wardd"],
     "The 'linkage' parameter of AgglomerativeClustering must be a str among"),
    (["--algorithm", "hdbscan", "--param", "min_cluster_size"],
     "--param 'min_cluster_size' is not KEY=VALUE; e.g. --param min_cluster_size=15."),
    (["--algorithm", "hdbscan", "--param", "=5"],
     "--param '=5' is not KEY=VALUE; e.g. --param min_cluster_size=15."),
    (["--algorithm", "hdbscan", "--param", "min_cluster_size="],
     "--param min_cluster_size= has no value; e.g. --param min_cluster_size=15."),
    (["--algorithm", "hdbscan", "--param", "min_cluster_size=5", "--param",
      "min_cluster_size=6"], "--param min_cluster_size is given twice; give each parameter "
                             "once."),
    (["--algorithm", "kmeans", "--param", "n_clusters=500"],
     "n_clusters must be from 2 to 99 for the 100 documents of 'docs' with 'feat_vector_' (the "
     "metrics need fewer clusters than documents); got 500. Nothing was run."),
    (["--algorithm", "kmeans", "--alias", "a b"], "Invalid alias 'a b'"),
], ids=["unknown algorithm", "unknown parameter", "out of range", "wrong type",
        "negative eps", "unknown choice", "no equals sign", "no key", "no value", "twice",
        "fit fails", "bad alias"])
def test_cluster_fit_bad_input(run, docs, args, message):
    res = run("cluster", "fit", "docs", "-f", VF, *args)
    assert res.exit_code == 1
    assert message in " ".join(res.output.split())
    assert "Traceback" not in res.output
    assert _aliases(run) == set()


def test_cluster_fit_unknown_vector_field(run, docs):
    res = run("cluster", "fit", "docs", "-f", "feat_vec", "--algorithm", "kmeans")
    assert res.exit_code == 1
    assert "vector field 'feat_vec' not found" in res.output
    assert _aliases(run) == set()


# -- sweep over a grid ---------------------------------------------------------------------------

def test_sweep_over_a_grid_marks_coverage(run, docs):
    res = run("sweep", "docs", "-f", VF, "--algorithm", "hdbscan", "--param",
              "min_cluster_size=5,8,80", "--param", "copy=true", "-g", "kind", "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    rows = {r["alias"]: r for r in data["rows"]}
    assert set(rows) == {"hdbscan_mcs5_copytrue", "hdbscan_mcs8_copytrue",
                         "hdbscan_mcs80_copytrue"}
    assert rows["hdbscan_mcs8_copytrue"]["min_cluster_size"] == 8
    assert 0.8 < rows["hdbscan_mcs8_copytrue"]["coverage"] < 1
    assert rows["hdbscan_mcs80_copytrue"]["coverage"] == 0
    assert rows["hdbscan_mcs80_copytrue"]["silhouette"] is None
    assert any("hdbscan_mcs80_copytrue: no scores, as it has 0 clusters" in w
               for w in data["warnings"])
    assert _aliases(run) == set(rows)


def test_sweep_table_shows_coverage(run, docs, monkeypatch):
    from clustermetrics import cli
    monkeypatch.setattr(cli.console, "width", 120)  # the alias column is never cut: give room
    res = run("sweep", "docs", "-f", VF, "--algorithm", "dbscan", "--param", "eps=0.8,2.5")
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "coverage" in text and "clustered)" in text
    assert re.search(r"Warning: [\w ,-]+: best alias dbscan_eps0p8_ms5 clusters only \d+% of "
                     r"the documents \(the rest noise or unlabelled\); dbscan_eps2p5_ms5 "
                     r"clusters \d+%", text)


@pytest.mark.parametrize("args, message", [
    (["--param", "min_cluster_size=5,10"], "--param in a sweep needs --algorithm"),
    (["--algorithm", "hdbscan"], "A sweep of hdbscan needs the grid: --param KEY=V1,V2,..."),
    (["--algorithm", "hdbscan", "--param", "min_cluster_size=5,,10"],
     "--param 'min_cluster_size=5,,10' has an empty value; separate the values by single "
     "commas, e.g. --param min_cluster_size=5,10,20."),
    (["--algorithm", "hdbscan", "--param", "min_cluster_size=5,1"],
     "The 'min_cluster_size' parameter of HDBSCAN must be an int in the range [2, inf). Got 1 "
     "instead."),
    (["--algorithm", "hdbscan", "--param", "min_size=5,10"],
     "HDBSCAN has no parameter 'min_size'."),
    (["--algorithm", "kmeans", "--k-min", "2", "--param", "n_clusters=2,3"],
     "--k-min/--k-max are for the k-means sweep; with --algorithm give the values as --param"),
    (["--algorithm", "kmeans", "--param", "n_clusters=2", "--param", "n_clusters=3"],
     "--param n_clusters is given twice; give each parameter once, with its values separated "
     "by commas."),
], ids=["grid without algorithm", "algorithm without grid", "empty value", "a bad value",
        "unknown parameter", "k range with algorithm", "twice"])
def test_sweep_bad_input(run, docs, args, message):
    res = run("sweep", "docs", "-f", VF, *args)
    assert res.exit_code == 1
    assert message in " ".join(res.output.split())
    assert _aliases(run) == set()  # every grid point is checked before the first fit


def test_a_grid_sweep_keeps_aliases_it_did_not_make_unless_overwrite(run, docs):
    with cm.Client(path=run.store) as c:
        c.vector_tools.cluster.set_cluster_labels(
            "docs", VF, "dbscan_eps2_ms5", {f"r{i}": i % 2 for i in range(len(docs))})
    args = ("sweep", "docs", "-f", VF, "--algorithm", "dbscan", "--param", "eps=1,2")
    res = run(*args)
    assert res.exit_code == 1
    assert ("The sweep would replace 1 alias it did not make (dbscan_eps2_ms5)"
            in " ".join(res.output.split()))
    assert _aliases(run) == {"dbscan_eps2_ms5"}  # nothing was run
    assert run(*args, "--overwrite").exit_code == 0
    assert _aliases(run) == {"dbscan_eps1_ms5", "dbscan_eps2_ms5"}
    assert _describe(run, "dbscan_eps2_ms5")["method"] == "dbscan"


def test_kmeans_sweep_still_runs_by_default(run, docs):
    res = run("sweep", "docs", "-f", VF, "--k-min", "2", "--k-max", "3", "--json")
    assert res.exit_code == 0, res.output
    assert [(r["k"], r["coverage"]) for r in json.loads(res.output)["rows"]] == [(2, 1.0),
                                                                                  (3, 1.0)]


# -- stability -------------------------------------------------------------------------------------

def test_stability_command(run, docs):
    res = run("stability", "docs", "-f", VF, "--algorithm", "kmeans", "--param", "n_clusters=3",
              "--param", "random_state=0", "--n-resamples", "3")
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "mean Jaccard" in text and "3 refits on random subsamples of 80%" in text
    rows = [line.split("│") for line in res.output.splitlines() if re.match(r"│ +\d+ +│", line)]
    assert len(rows) == 3
    for row in rows:  # size, mean Jaccard, recovered, dissolved: right-aligned
        for cell in row[2:6]:
            assert re.fullmatch(r" +[\d.,%]+ ", cell), row
    res = run("stability", "docs", "-f", VF, "--algorithm", "kmeans", "--param", "n_clusters=3",
              "--n-resamples", "2", "--alias", "km", "--json")
    data = json.loads(res.output)
    assert data["n_resamples"] == 2 and len(data["per_cluster"]) == 3
    assert data["source"]["cluster_alias"] == "km"


@pytest.mark.parametrize("args, message", [
    (["--n-resamples", "0"], "n_resamples must be an integer >= 1 (e.g. 20); got 0."),
    (["--fraction", "1.5"], "fraction must be a number between 0 and 1 (exclusive), e.g. 0.8; "
                            "got 1.5."),
    (["--param", "n_clusters=0"], "The 'n_clusters' parameter of KMeans must be an int in the "
                                  "range [1, inf). Got 0 instead."),
], ids=["no resamples", "fraction above 1", "bad parameter"])
def test_stability_bad_input(run, docs, args, message):
    res = run("stability", "docs", "-f", VF, "--algorithm", "kmeans", *args)
    assert res.exit_code == 1
    assert message in " ".join(res.output.split())
    assert _aliases(run) == set()


def test_hdbscan_fit_prints_no_future_warning_and_stores_real_params(run, docs):
    res = run("cluster", "fit", "docs", "-f", VF, "--algorithm", "hdbscan", "--param",
              "min_cluster_size=8")
    assert res.exit_code == 0, res.output
    assert "FutureWarning" not in res.output and "copy" not in res.output
    with cm.Client(path=run.store) as c:
        params = c.vector_tools.cluster.describe_alias("docs", VF, "hdbscan_mcs8")["params"]
    assert "warn" not in json.dumps(params)


def test_stability_of_an_all_noise_fit_is_a_one_line_error(run, docs):
    res = run("stability", "docs", "-f", VF, "--algorithm", "dbscan", "--param", "eps=0.001",
              "--n-resamples", "3")
    assert res.exit_code == 1
    assert res.output.strip() == ("Error: DBSCAN(eps=0.001, min_samples=5) puts all 100 "
                                  "documents in noise: no clusters to assess. Change its "
                                  "parameters so that it finds clusters (see 'clustermetrics "
                                  "sweep').")
    assert "ARI" not in res.output
    assert _aliases(run) == set()


def test_sweep_table_never_cuts_the_alias_column(run, docs):
    res = run("sweep", "docs", "-f", VF, "--algorithm", "dbscan", "--param", "eps=0.8,2.5",
              "--param", "min_samples=3,5", "-g", "kind")
    assert res.exit_code == 0, res.output
    rows = [line for line in res.stdout.splitlines() if line.startswith("│ dbscan")]
    names = {line.split("│")[1].strip() for line in rows}
    assert names == {"dbscan_eps0p8_ms3", "dbscan_eps0p8_ms5", "dbscan_eps2p5_ms3",
                     "dbscan_eps2p5_ms5"}, res.stdout


def test_aliases_describe_prints_the_models_parameters(run, docs):
    assert run("cluster", "fit", "docs", "-f", VF, "--algorithm", "dbscan", "--param",
               "eps=2.5", "--param", "min_samples=4").exit_code == 0
    res = run("aliases", "describe", "docs", "-f", VF, "-a", "dbscan_eps2p5_ms4")
    assert res.exit_code == 0, res.output
    assert "model: DBSCAN(eps=2.5, min_samples=4)" in res.stdout


def test_stability_names_the_model_with_its_key_parameters(run, docs):
    """``KMeans()`` said nothing of k: the key parameters are shown at their defaults too."""
    res = run("stability", "docs", "-f", VF, "--algorithm", "kmeans", "--n-resamples", "2")
    assert res.exit_code == 0, res.output
    assert "KMeans(n_clusters=8): 8 clusters" in res.output
