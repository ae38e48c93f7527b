"""The command line over Parquet files: ``clustermetrics metrics --parquet ...``."""

import json
import os
import sys

import numpy as np
import pytest
from click.testing import CliRunner

import clustermetrics as cm
from clustermetrics.cli import main

pytest.importorskip("distributed")


@pytest.fixture
def cli(tmp_path):
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(main, [*args, "--path", str(tmp_path / "store.duckdb")])
    return invoke


def test_metrics_of_parquet_files_on_a_scheduler(cli, dask_client, parquet_dir, clustering):
    X, labels, truth = clustering
    res = cli("metrics", "--parquet", str(parquet_dir / "*.parquet"), "-f", "emb",
              "--labels-field", "cluster", "-g", "truth", "-m", "cosine", "--noise-label", "-1",
              "--scheduler", dask_client.scheduler.address, "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    ref = cm.evaluate(X, labels, truth, metric="cosine", noise_label=-1)
    assert data["scores"] == pytest.approx(ref.scores, rel=1e-12, abs=1e-12)
    assert data["source"]["parquet"].endswith("*.parquet")
    assert dask_client.submit(len, [1]).result() == 1  # the scheduler is left running


def test_metrics_of_parquet_files_prints_the_table(cli, dask_client, parquet_dir):
    res = cli("metrics", "--parquet", str(parquet_dir), "-f", "emb", "-l", "cluster",
              "-m", "sqeuclidean", "--scheduler", dask_client.scheduler.address)
    assert res.exit_code == 0, res.output
    assert "Silhouette" in res.output and "cluster" in res.output


@pytest.mark.parametrize(("args", "message"), [
    (["--parquet", "x.parquet", "-f", "emb"], "--parquet needs --labels-field"),
    (["ds", "--parquet", "x.parquet", "-f", "emb", "-l", "c"], "give no DATASET or --alias"),
    (["--parquet", "x.parquet", "-f", "emb", "-l", "c", "--scheduler", "tcp://h:1",
      "--workers", "2"], "--scheduler and --workers exclude each other"),
    (["ds", "-f", "emb", "-a", "k", "--labels-field", "c"], "go with --parquet"),
    (["-f", "emb", "-a", "k"], "Give DATASET and --alias"),
])
def test_metrics_option_mistakes_are_usage_errors(cli, args, message):
    res = cli("metrics", *args)
    assert res.exit_code == 1  # a user's mistake, as every usage error
    assert message in res.output


def test_a_bad_file_is_one_line_naming_it(cli, dask_client, tmp_path):
    (tmp_path / "bad.parquet").write_bytes(b"junk" * 50)
    res = cli("metrics", "--parquet", str(tmp_path / "bad.parquet"), "-f", "emb", "-l", "c",
              "--scheduler", dask_client.scheduler.address)
    assert res.exit_code == 1
    assert "Error: Cannot read Parquet file" in res.output and "bad.parquet" in res.output
    assert "Traceback" not in res.output


def test_without_the_extra_the_cli_gives_the_install_hint(cli, parquet_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    res = cli("metrics", "--parquet", str(parquet_dir), "-f", "emb", "-l", "cluster")
    assert res.exit_code == 1
    assert "pip install 'clustermetrics[dask]'" in res.output


def test_datasets_export_rows_per_file(cli, tmp_path):
    rng = np.random.default_rng(0)
    docs = tmp_path / "docs.jsonl"
    docs.write_text("\n".join(json.dumps({"_id": f"r{i}", "x_vector_": rng.normal(size=3)
                                          .tolist()}) for i in range(25)))
    assert cli("import", "d", str(docs)).exit_code == 0
    res = cli("datasets", "export", "d", str(tmp_path / "out"), "--rows-per-file", "10",
              "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["documents"] == 25
    assert sorted(os.listdir(tmp_path / "out")) == [f"part-0000{i}.parquet" for i in range(3)]
