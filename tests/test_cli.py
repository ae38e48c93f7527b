import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import clustermetrics as cm
from clustermetrics.cli import main


@pytest.fixture(params=["local", "http"])
def run(request, tmp_path):
    """The CLI on a fresh store file, or with --url/--api-key on a fresh project of the test
    server; ``run.client()`` opens a Client on the same data."""
    runner = CliRunner()
    if request.param == "local":
        store = str(tmp_path / "cli.duckdb")
        where = ["--path", store]

        def client():
            return cm.Client(path=store)
    else:
        server = request.getfixturevalue("http_server")
        project, key = server.new_project("cli")
        store, where = None, ["--url", server.url, "--api-key", key]
        request.addfinalizer(lambda: server.state.projects.close(project))

        def client():
            return cm.Client(url=server.url, api_key=key)

    def invoke(*args, input=None):
        return runner.invoke(main, [*args, *where], input=input)

    invoke.store, invoke.client = store, client
    return invoke


@pytest.fixture
def imported(run, tmp_path):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 120)
    X = rng.normal(size=(120, 5)) + labels[:, None] * 4
    df = pd.DataFrame({"_id": [f"r{i}" for i in range(120)], "feat_vector_": list(X),
                       "kind": [f"k{v}" for v in labels]})
    path = tmp_path / "docs.parquet"
    df.to_parquet(path)
    res = run("import", "docs", str(path))
    assert res.exit_code == 0, res.output
    return X, labels


def test_quickstart_is_the_main_job(run):
    res = run("quickstart", "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["source"]["dataset_id"] == "quickstart_clustering"
    assert data["counts"]["n_used"] == 1797 and data["counts"]["n_clusters"] == 10
    assert 0.5 < data["scores"]["adjusted_rand"] <= 1.0
    with run.client() as c:
        again = c.vector_tools.cluster.metrics("quickstart_clustering", "pixels_vector_",
                                               "kmeans_10", "digit")
    assert again.scores == pytest.approx(data["scores"], abs=1e-12)


def test_quickstart_table(run):
    res = run("quickstart")
    assert res.exit_code == 0, res.output
    assert "Adjusted Rand Index" in res.output and "Silhouette" in res.output
    assert "cluster_alias='kmeans_10'" in res.output


def test_import_cluster_metrics_equals_evaluate(run, imported):
    X, labels = imported
    assert "Stored kmeans_3" in run("cluster", "kmeans", "docs", "-f", "feat_vector_", "-k",
                                    "3").output
    res = run("metrics", "docs", "--vector-field", "feat_vector_", "--alias", "kmeans_3",
              "--ground-truth", "kind", "--metric", "cosine", "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    with run.client() as c:
        stored = c.Dataset("docs").get_documents([f"r{i}" for i in range(120)])
    km = [d["_cluster_"]["feat_vector_"]["kmeans_3"] for d in stored]
    expected = cm.evaluate(X.astype(np.float32), km, [f"k{v}" for v in labels], metric="cosine")
    assert data["scores"] == pytest.approx(expected.scores, abs=1e-12)


def test_metrics_table_and_sampling(run, imported):
    run("cluster", "kmeans", "docs", "-f", "feat_vector_", "-k", "3")
    res = run("metrics", "docs", "-f", "feat_vector_", "-a", "kmeans_3", "--sample-size", "30",
              "--random-state", "1")
    assert res.exit_code == 0, res.output
    assert "95% CI" in res.output and "Davies-Bouldin" in res.output


def test_datasets_and_aliases_commands(run, imported, tmp_path):
    run("cluster", "kmeans", "docs", "-f", "feat_vector_", "-k", "2", "--alias", "two")
    listed = json.loads(run("datasets", "list", "--json").output)
    assert listed == [{"dataset_id": "docs", "documents": 120}]
    described = json.loads(run("datasets", "describe", "docs", "--json").output)
    assert {f["field"] for f in described["fields"]} == {"_id", "feat_vector_", "kind"}
    aliases = json.loads(run("aliases", "list", "docs", "--json").output)
    assert [a["alias"] for a in aliases] == ["two"]
    sizes = json.loads(run("aliases", "describe", "docs", "-f", "feat_vector_", "-a", "two",
                           "--json").output)
    assert sum(sizes["sizes"].values()) == 120
    dist = json.loads(run("distribution", "docs", "-f", "feat_vector_", "-a", "two", "-g",
                          "kind", "--json").output)
    assert sum(sum(row.values()) for row in dist.values()) == 120
    assert run("aliases", "delete", "docs", "-f", "feat_vector_", "-a", "two").exit_code == 0
    out = tmp_path / "out.parquet"
    assert run("datasets", "export", "docs", str(out)).exit_code == 0
    assert pd.read_parquet(out).shape[0] == 120
    assert run("datasets", "delete", "docs", input="y\n").exit_code == 0
    assert "No datasets yet" in run("datasets", "list").output


def test_changing_commands_speak_json_too(run, imported, tmp_path):
    run("cluster", "kmeans", "docs", "-f", "feat_vector_", "-k", "2", "--alias", "two")
    report = tmp_path / "r.html"
    res = run("report", "docs", "-f", "feat_vector_", "-a", "two", "-g", "kind", "-o",
              str(report), "--json")
    written = json.loads(res.stdout)
    assert written["path"] == str(report) and report.exists()
    assert written["metrics"]["counts"]["n_used"] == 120
    res = run("aliases", "delete", "docs", "-f", "feat_vector_", "-a", "two", "--json")
    assert json.loads(res.stdout) == {"deleted": "two", "dataset": "docs",
                                      "vector_field": "feat_vector_"}
    out = tmp_path / "out.parquet"
    res = run("datasets", "export", "docs", str(out), "--json")
    assert json.loads(res.stdout) == {"dataset": "docs", "path": str(out), "documents": 120}
    res = run("datasets", "delete", "docs", "--json", input="y\n")  # asked on stderr
    assert json.loads(res.stdout) == {"deleted": "docs", "documents": 120}
    assert "Delete dataset 'docs' (120 documents)?" in res.stderr


def test_compare_and_report_take_the_noise_options(run, imported, tmp_path):
    with run.client() as client:
        client.vector_tools.cluster.set_cluster_labels(
            "docs", "feat_vector_", "noisy", {f"r{i}": -1 if i % 6 == 0 else int(label)
                                              for i, label in enumerate(imported[1])})
    res = run("compare", "docs", "-f", "feat_vector_", "-a", "noisy", "--json")
    assert json.loads(res.stdout)["rows"][0]["n_clusters"] == 4  # -1 counts as a cluster
    res = run("compare", "docs", "-f", "feat_vector_", "-a", "noisy", "--noise-label", "-1",
              "--json")
    assert json.loads(res.stdout)["rows"][0]["n_clusters"] == 3
    res = run("report", "docs", "-f", "feat_vector_", "-a", "noisy", "--noise-label", "-1",
              "-o", str(tmp_path / "noisy.html"), "--json")
    assert json.loads(res.stdout)["metrics"]["counts"]["n_noise"] == 20
    res = run("metrics", "docs", "-f", "feat_vector_", "-a", "noisy")
    assert res.exit_code == 0 and "Silhouette" in res.stdout
    # not a terminal: no bars, not even an empty line; only the warning that -1 is a cluster
    assert res.stderr.startswith("Warning: Alias 'noisy' labels 20 documents -1 and records no")
    assert res.stderr.count("\n") == 1


# -- errors: one line, non-zero exit, no traceback --------------------------------------------

def _one_line_error(res, pattern):
    assert res.exit_code == 1
    assert "Traceback" not in res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert lines and lines[0].startswith("Error:")
    assert pattern in " ".join(lines)


def test_unknown_dataset_error(run, imported):
    res = run("metrics", "doc", "-f", "feat_vector_", "-a", "x")
    _one_line_error(res, "dataset 'doc' not found. Did you mean 'docs'?")


def test_unknown_alias_error(run, imported):
    res = run("metrics", "docs", "-f", "feat_vector_", "-a", "kmeans_9")
    _one_line_error(res, "cluster alias 'kmeans_9' not found")


def test_non_vector_field_error(run, imported):
    res = run("cluster", "kmeans", "docs", "-f", "kind", "-k", "2")
    _one_line_error(res, "Field 'kind' of dataset 'docs' is VARCHAR, not a vector field")


def test_bad_import_file_error(run, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"_id": "a", "v_vector_": [1, 2]}\n{"_id": "a", "v_vector_": [1, 2]}\n')
    res = run("import", "docs", str(bad))
    _one_line_error(res, "Duplicate _id in one batch")


def test_locked_store_error(run, imported, hold_lock, monkeypatch):
    if run.store is None:
        pytest.skip("a store file's lock: the server is the only process that opens its stores")
    monkeypatch.setenv("CLUSTERMETRICS_LOCK_TIMEOUT", "0.3")
    pid = hold_lock(run.store)
    res = run("datasets", "list")
    assert res.exit_code == 1 and "Traceback" not in res.output
    waiting, error = [line for line in res.output.splitlines() if line.strip()]
    assert waiting.endswith(f"is busy in process {pid}; waiting up to 0.3 s "
                            "(CLUSTERMETRICS_LOCK_TIMEOUT)...")
    assert error.startswith("Error:") and f"open in process {pid}" in error


def test_error_text_is_printed_as_is(run, imported):
    res = run("metrics", "docs", "-f", "feat_vector_", "-a", "[b]x[/b]")
    _one_line_error(res, "cluster alias '[b]x[/b]' not found")


def test_long_commands_draw_progress_bars_on_a_terminal(run, imported, monkeypatch, tmp_path):
    import io

    from rich.console import Console

    from clustermetrics import cli
    screen = io.StringIO()
    monkeypatch.setattr(cli, "err_console", Console(file=screen, force_terminal=True, width=100))
    assert run("cluster", "kmeans", "docs", "-f", "feat_vector_", "-k", "3").exit_code == 0
    more = tmp_path / "more.jsonl"
    more.write_text('{"_id": "n1", "kind": "k0"}\n{"_id": "n2", "kind": "k1"}\n')
    assert run("import", "docs", str(more)).exit_code == 0
    drawn = screen.getvalue()
    assert "reading" in drawn and "120/120 rows" in drawn and "k-means" in drawn
    assert "insert" in drawn and "2/2 rows" in drawn


def test_a_comparison_too_wide_for_the_terminal_is_shown_in_parts(monkeypatch, tmp_path):
    """At a pipe's 80 columns no score is cut ("0.…"): the columns go on in a second table."""
    from clustermetrics import cli
    rng = np.random.default_rng(0)
    X = np.repeat(np.eye(3, 4) * 8, 40, axis=0) + rng.normal(size=(120, 4))
    path = str(tmp_path / "s.duckdb")
    with cm.Client(path=path) as client:
        client.Dataset("shop").insert_documents(
            [{"_id": f"p{i}", "v_vector_": X[i], "kind": str(i // 40)} for i in range(120)])
        for k in (3, 4):
            client.vector_tools.cluster.kmeans("shop", "v_vector_", k)
    monkeypatch.setattr(cli.console, "width", 80)
    res = CliRunner().invoke(cli.main, ["compare", "shop", "-f", "v_vector_", "-a", "kmeans_3",
                                        "-a", "kmeans_4", "-g", "kind", "--path", path])
    assert res.exit_code == 0, res.output
    assert "…" not in res.stdout and "(continued)" in res.stdout
    assert all(len(line) <= 80 for line in res.stdout.splitlines() if line[:1] in "┏┃┡│└")
    for header in ("Silhouette", "ARI", "AMI", "coverage", "clusters", "used"):
        assert header in res.stdout


@pytest.mark.parametrize("args", [["datasets", "list"], ["aliases", "list", "shop"],
                                  ["metrics", "shop", "-f", "v_vector_", "-a", "k"]])
def test_a_command_that_reads_makes_no_store_at_a_mistyped_path(tmp_path, args):
    path = tmp_path / "nodir" / "stroe.duckdb"
    res = CliRunner().invoke(main, [*args, "--path", str(path)])
    assert res.exit_code == 1
    assert f"No store at '{path}': nothing to read. Check --path" in " ".join(res.output.split())
    assert not (tmp_path / "nodir").exists()  # neither the file nor its folder was made


def test_one_of_a_thing_is_said_in_the_singular(run):
    with run.client() as client:
        client.Dataset("one").insert_documents([{"_id": "a", "emb_vector_": [1.0, 2.0]}])
        with pytest.raises(cm.errors.SchemaError, match=(
                r"has NaN or infinite values \(or values too large for 32-bit floats\) in 1 "
                r"document \(first _id: 'b'\)")):
            client.Dataset("one").insert_documents([{"_id": "b",
                                                     "emb_vector_": [float("nan"), 1.0]}])
    res = run("datasets", "describe", "one")
    assert "one: 1 document\n" in res.stdout
    res = run("datasets", "delete", "one", input="y\n")
    assert "Delete dataset 'one' (1 document)?" in res.stderr
