"""What a new user of the Dask engine meets first: missing packages, malformed addresses, a
script without its ``__main__`` guard, bad paths before any cluster, the cost of an exact
silhouette, and quiet, correct messages (issue 18, items 16 to 19)."""

import io
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from click.testing import CliRunner
from rich.console import Console
from rich.progress import Progress, TextColumn

import clustermetrics as cm
from clustermetrics import cli
from clustermetrics.cli import main
from clustermetrics.metrics import sampling

from .conftest import write_files

distributed = pytest.importorskip("distributed")
from clustermetrics.engine import dask as dask_engine  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_cli(*args):
    return CliRunner().invoke(main, list(args))


def python(script: str, cwd, timeout: float = 120) -> subprocess.CompletedProcess:
    """``script`` run as a file by a fresh interpreter (as a user runs one)."""
    path = cwd / "job.py"
    path.write_text(textwrap.dedent(script))
    env = {**os.environ, "PYTHONPATH": ROOT}
    return subprocess.run([sys.executable, str(path)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


# -- 16: one line saying what to install or write ---------------------------------------------

@pytest.mark.parametrize(("url", "package"), [
    ("s3://bucket/embeddings/*.parquet", "s3fs"),
    ("gs://bucket/embeddings/part-0.parquet", "gcsfs"),
    ("https://example.com/embeddings.parquet", "aiohttp"),
])
def test_a_url_whose_filesystem_package_is_missing_names_it(url, package):
    pytest.importorskip("fsspec")
    try:
        __import__(package)
        pytest.skip(f"{package} is installed here")
    except ImportError:
        pass
    res = run_cli("metrics", "--parquet", url, "-f", "emb", "-l", "cluster")
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output and "This is a bug" not in res.output
    scheme = url.split("://")[0]
    assert res.output.startswith(f"Error: Reading {scheme}:// URLs needs {package}: pip install "
                                 f"{package} (on this machine and on the Dask workers).")
    assert len(res.output.strip().splitlines()) == 1
    with pytest.raises(cm.MissingDependencyError, match=rf"pip install {package}"):
        cm.evaluate_parquet(url, "emb", "cluster", client="tcp://127.0.0.1:9")


def test_an_unknown_url_scheme_is_a_user_error(parquet_dir):
    pytest.importorskip("fsspec")
    with pytest.raises(cm.InvalidInputError, match=r"fsspec knows no nosuch:// filesystem"):
        cm.evaluate_parquet("nosuch://x/y.parquet", "emb", "cluster",
                            client="tcp://127.0.0.1:9")


@pytest.mark.parametrize(("address", "why"), [
    ("tcp://scheduler", "missing port number in address 'scheduler'"),
    ("localhost:abc", "invalid literal for int"),
    ("foo://host:8786", "unknown address scheme 'foo'"),
    ("tcp://:8786", "no host"),
    ("tcp://host:99999", "port 99999 is not between 1 and 65535"),
])
def test_a_malformed_scheduler_address_is_one_line(parquet_dir, address, why):
    res = run_cli("metrics", "--parquet", str(parquet_dir), "-f", "emb", "-l", "cluster",
                  "--scheduler", address)
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output and "This is a bug" not in res.output
    text = " ".join(res.output.split())
    assert text.startswith(f"Error: The Dask scheduler address {address!r} is not valid: ")
    assert why in text and "Give it as tcp://HOST:PORT, e.g. tcp://10.0.0.5:8786." in text


def test_a_script_without_the_main_guard_is_told_to_write_it(parquet_dir, tmp_path):
    done = python(f"""
        import clustermetrics as cm
        result = cm.evaluate_parquet({str(parquet_dir)!r}, "emb", "cluster", workers=1)
        print(result.scores["silhouette"])
        """, tmp_path)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last == ("clustermetrics.errors.InvalidInputError: job.py, line 3 calls "
                    "evaluate_parquet at the script's top level: Dask's worker processes "
                    "import this script again (as multiprocessing does) and would run it "
                    "again: put the call under 'if __name__ == \"__main__\":' (see the Dask "
                    "guide).")
    assert "Nanny failed" not in done.stderr and "bootstrapping" not in done.stderr


def test_the_same_script_with_the_guard_runs_quietly(parquet_dir, tmp_path, clustering):
    X, labels, _ = clustering
    done = python(f"""
        import clustermetrics as cm

        def main():
            result = cm.evaluate_parquet({str(parquet_dir)!r}, "emb", "cluster", workers=1,
                                         metric="cosine")
            print(repr(result.scores["silhouette"]))

        if __name__ == "__main__":
            main()
        """, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    expected = cm.evaluate(X, labels, metric="cosine").scores["silhouette"]
    assert float(done.stdout) == pytest.approx(expected, rel=1e-12)


# -- 17: paths and columns before any cluster --------------------------------------------------

def test_a_bad_path_is_named_before_the_scheduler_is_reached(tmp_path, monkeypatch):
    monkeypatch.setattr(dask_engine, "CONNECT_TIMEOUT", "0.5s")  # if it were reached
    with pytest.raises(cm.InvalidInputError, match=r"No Parquet files found at .*nothing"):
        cm.evaluate_parquet(str(tmp_path / "nothing" / "*.parquet"), "emb", "cluster",
                            client="tcp://127.0.0.1:9")


def test_a_bad_column_is_named_before_the_scheduler_is_reached(parquet_dir, monkeypatch):
    monkeypatch.setattr(dask_engine, "CONNECT_TIMEOUT", "0.5s")
    with pytest.raises(cm.NotFoundError, match=r"label column 'kmeans' not found in "
                                               r".*part-0\.parquet"):
        cm.evaluate_parquet(parquet_dir, "emb", "kmeans", client="tcp://127.0.0.1:9")


def test_the_files_stage_counts_files(parquet_dir, dask_client):
    seen = []
    cm.evaluate_parquet(parquet_dir, "emb", "cluster", metric="cosine", client=dask_client,
                        progress=lambda stage, n, total: seen.append((stage, n, total)))
    files = [s for s in seen if s[0] == "files"]
    assert files == [("files", 1, 4)] * 4  # four files, one step each, before the passes
    assert seen.index(files[-1]) < seen.index(next(s for s in seen if s[0] == "statistics"))


# -- 18: the exact silhouette's cost -----------------------------------------------------------

@pytest.fixture
def small_limit(monkeypatch):
    """The size policy at 1,000 rows (sample 500), so that the fixture's 1,185 rows with a
    vector are above it."""
    monkeypatch.setattr(sampling, "EXACT_LIMIT", 1_000)
    monkeypatch.setattr(sampling, "AUTO_SAMPLE_SIZE", 500)


def test_above_the_limit_euclidean_is_estimated_and_says_so(parquet_dir, dask_client,
                                                            clustering, small_limit):
    X, labels, _ = clustering
    got = cm.evaluate_parquet(parquet_dir, "emb", "cluster", client=dask_client)
    expected = cm.evaluate(X, labels, sample_size=500, random_state=0)
    assert got.scores["silhouette"] == pytest.approx(expected.scores["silhouette"], rel=1e-12)
    assert got.silhouette_ci == pytest.approx(expected.silhouette_ci, rel=1e-12)
    assert got.silhouette_method == (
        f"{expected.silhouette_method}; estimated, as for every run above 1,000 rows: "
        "exact=True (--exact) scores all 1,185 rows, in O(n²·d)")


def test_exact_true_scores_every_row(parquet_dir, dask_client, clustering, small_limit):
    X, labels, _ = clustering
    got = cm.evaluate_parquet(parquet_dir, "emb", "cluster", client=dask_client, exact=True)
    expected = cm.evaluate(X, labels)
    assert got.scores["silhouette"] == pytest.approx(expected.scores["silhouette"], rel=1e-12)
    assert got.silhouette_ci is None and "exact" in got.silhouette_method


def test_below_the_limit_euclidean_stays_exact(parquet_dir, dask_client, clustering):
    X, labels, _ = clustering
    got = cm.evaluate_parquet(parquet_dir, "emb", "cluster", client=dask_client)
    assert got.silhouette_ci is None
    assert got.scores["silhouette"] == pytest.approx(cm.evaluate(X, labels).silhouette,
                                                     rel=1e-12)


def test_exact_with_a_sample_size_is_refused(parquet_dir):
    with pytest.raises(cm.InvalidInputError, match=r"exact=True scores every row; sample_size "
                                                   r"estimates from a sample: give one of them"):
        cm.evaluate_parquet(parquet_dir, "emb", "cluster", exact=True, sample_size=10)


def test_the_cli_says_the_estimate_and_how_to_get_the_exact_value(parquet_dir, dask_client,
                                                                  small_limit):
    res = run_cli("metrics", "--parquet", str(parquet_dir), "-f", "emb", "-l", "cluster",
                  "--scheduler", dask_client.scheduler.address)
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "95% CI" in text and re.search(r"silhouette sampled \(\d+ of 1185, stratified", text)
    assert "exact=True (--exact) scores all 1,185 rows" in text
    res = run_cli("metrics", "--parquet", str(parquet_dir), "-f", "emb", "-l", "cluster",
                  "--scheduler", dask_client.scheduler.address, "--exact")
    assert res.exit_code == 0, res.output
    assert "95% CI" not in res.output and "--exact" not in res.output


def test_workers_without_parquet_is_a_usage_error(tmp_path):
    res = run_cli("metrics", "ds", "-f", "emb", "-a", "k", "--workers", "2", "--path",
                  str(tmp_path / "s.duckdb"))
    assert res.exit_code == 1
    assert "--scheduler and --workers go with --parquet" in res.output


# -- 19: quiet and correct messages ------------------------------------------------------------

def test_a_killed_worker_is_one_line_not_a_traceback(tmp_path):
    rng = np.random.default_rng(3)
    labels = np.repeat([0, 1, 2], 400)
    X = rng.normal(size=(1200, 8)) + labels[:, None] * 3
    folder = write_files(tmp_path / "data", X, labels, sizes=(400, 400, 400), row_group=50)
    done = python(f"""
        import os, signal
        import distributed
        import clustermetrics as cm

        killed = []

        def progress(stage, n, total):
            if stage == "statistics" and not killed:
                client = distributed.default_client()
                pids = client.run(os.getpid)
                os.kill(pids[sorted(pids)[0]], signal.SIGKILL)
                killed.append(1)

        if __name__ == "__main__":
            result = cm.evaluate_parquet({str(folder)!r}, "emb", "cluster", workers=2,
                                         metric="cosine", batch_rows=25, progress=progress)
            print(repr(result.scores["silhouette"]))
        """, tmp_path)
    assert done.returncode == 0, done.stderr
    assert float(done.stdout) == pytest.approx(cm.evaluate(X, labels, metric="cosine")
                                               .silhouette, rel=1e-12)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("1 Dask worker died during the run (tcp://127.0.0.1:")
    assert lines[0].endswith("its tasks ran again on the other workers and the result is "
                             "complete.")


def test_ctrl_c_on_a_read_only_command_speaks_of_no_write(parquet_dir, tmp_path):
    """A scheduler that accepts the connection and never answers holds the command in its
    connect; SIGINT then is a real Ctrl-C in the middle of a read-only command."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        silent.settimeout(120)
        port = silent.getsockname()[1]
        env = {**os.environ, "PYTHONPATH": ROOT}
        proc = subprocess.Popen([sys.executable, "-m", "clustermetrics", "metrics", "--parquet",
                                 str(parquet_dir), "-f", "emb", "-l", "cluster", "--scheduler",
                                 f"tcp://127.0.0.1:{port}"], env=env, cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            conn, _ = silent.accept()  # the command is connecting: past its checks
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
            conn.close()
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 130, err
    assert err.strip() == "Error: Interrupted; this command only reads, so nothing was changed."


def test_the_progress_bar_counts_files_as_files():
    console = Console(file=io.StringIO(), width=80)
    with Progress(TextColumn("{task.fields[count]}"), console=console) as bar:
        step = cli._stages(bar)
        step("files", 1, 4)
        step("files", 1, 4)
        step("statistics", 300, 1200)
        counts = [t.fields["count"] for t in bar.tasks]
    assert counts == ["2/4 files", "300/1,200 rows"]


def test_one_bad_row_is_one_row(tmp_path):
    labels = np.repeat([0, 1], 50)
    X = np.random.default_rng(0).normal(size=(100, 3))
    X[7] = 0
    folder = write_files(tmp_path / "d", X, labels, sizes=(100,))
    from clustermetrics.engine.parquet import evaluate_local
    with pytest.raises(cm.InvalidInputError,
                       match=r"row group 0: cosine distance is undefined for zero vectors; "
                             r"1 row \(7\) of the row group is all zeros"):
        evaluate_local(folder, "emb", "cluster", metric="cosine")
