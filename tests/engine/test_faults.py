"""Faults: bad files (each its own case, on both engines) and a worker killed mid-run."""

import os
import signal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import clustermetrics as cm
from clustermetrics.engine.parquet import evaluate_local

from .conftest import vectors, write_files

ENGINES = ["local", "dask"]


@pytest.fixture(params=ENGINES)
def run(request):
    """``run(path, vector_field, label_field, **options)`` on the local driver or on Dask."""
    if request.param == "local":
        return evaluate_local
    pytest.importorskip("distributed")
    client = request.getfixturevalue("dask_client")

    def on_dask(*args, **kwargs):
        return cm.evaluate_parquet(*args, client=client, **kwargs)
    return on_dask


@pytest.fixture
def good(tmp_path):
    rng = np.random.default_rng(5)
    labels = np.repeat([0, 1, 2], 100)
    X = rng.normal(size=(300, 4)) + labels[:, None] * 3
    return X, labels, tmp_path / "data"


def test_a_corrupt_file_is_named(run, good):
    X, labels, folder = good
    write_files(folder, X, labels, sizes=(150, 150))
    (folder / "part-1.parquet").write_bytes(b"not parquet at all" * 20)
    with pytest.raises(cm.InvalidInputError,
                       match=r"Cannot read Parquet file .*part-1\.parquet: .*magic bytes"):
        run(folder, "emb", "cluster")


def test_a_truncated_file_is_named(run, good):
    X, labels, folder = good
    write_files(folder, X, labels, sizes=(150, 150))
    data = (folder / "part-0.parquet").read_bytes()
    (folder / "part-0.parquet").write_bytes(data[:200] + data[-400:])
    with pytest.raises(cm.InvalidInputError, match=r"Cannot read .*part-0\.parquet"):
        run(folder, "emb", "cluster")


def test_a_file_whose_lists_pyarrow_cannot_read_is_named(run, tmp_path):
    """DuckDB 2.0 writes a fixed-size list column holding nulls as offsets pyarrow refuses:
    a user's file of that kind is named with what to do (it was a crash, status 2)."""
    duckdb = pytest.importorskip("duckdb")
    table = pa.table({"emb": pa.array([[1.0, 2.0], None, [3.0, 4.0], [5.0, 6.0]],
                                      pa.list_(pa.float32(), 2)), "cluster": [0, 1, 0, 1]})
    path = tmp_path / "broken.parquet"
    con = duckdb.connect()
    con.register("t", table)
    con.execute(f"COPY (SELECT * FROM t) TO '{path}' (FORMAT parquet)")
    con.close()
    try:
        pq.read_table(path)
        pytest.skip("this DuckDB writes such lists correctly")
    except pa.ArrowInvalid:
        pass
    with pytest.raises(cm.InvalidInputError, match=r"Cannot read .*broken\.parquet.*write it "
                                                   r"again"):
        run(path, "emb", "cluster")


def test_a_missing_vector_column_names_the_file_and_the_closest_match(run, good):
    X, labels, folder = good
    write_files(folder, X, labels, sizes=(300,))
    with pytest.raises(cm.NotFoundError,
                       match=r"vector column 'embs' not found in .*part-0\.parquet\. "
                             r"Did you mean 'emb'\?"):
        run(folder, "embs", "cluster")


def test_a_missing_label_column_is_named(run, good):
    X, labels, folder = good
    write_files(folder, X, labels, sizes=(300,))
    with pytest.raises(cm.NotFoundError, match=r"label column 'kmeans' not found in .*part-0"):
        run(folder, "emb", "kmeans")


def test_a_column_that_holds_no_vectors_is_named(run, good):
    X, labels, folder = good
    write_files(folder, X, labels, sizes=(300,), extra={"price": np.arange(300.0)})
    with pytest.raises(cm.InvalidInputError,
                       match=r"Column 'price' of .*part-0\.parquet holds double, not vectors"):
        run(folder, "price", "cluster")


def test_a_vector_of_the_wrong_length_names_file_row_group_and_row(run, good):
    X, labels, folder = good
    write_files(folder, X, labels, sizes=(150,), kind="list", row_group=64)
    rows = [list(x) for x in X[150:]]
    rows[64 + 7] = rows[64 + 7][:3]  # row group 1, row 7 of the second file
    pq.write_table(pa.table({"emb": pa.array(rows), "cluster": labels[150:]}),
                   folder / "part-1.parquet", row_group_size=64)
    with pytest.raises(cm.InvalidInputError,
                       match=r"part-1\.parquet, row group 1: vectors of 'emb' must have 4 "
                             r"values; 1 row \(7\) has 3"):
        run(folder, "emb", "cluster")


def test_files_with_vectors_of_other_lengths_are_both_named(run, good):
    X, labels, folder = good
    write_files(folder, X, labels, sizes=(300,))
    pq.write_table(pa.table({"emb": vectors(X[:10, :3]), "cluster": labels[:10]}),
                   folder / "part-9.parquet")
    with pytest.raises(cm.InvalidInputError,
                       match=r"Vectors in .*part-9\.parquet have 3 values, but those in "
                             r".*part-0\.parquet have 4"):
        run(folder, "emb", "cluster")


def test_nan_names_file_row_group_and_row(run, good):
    X, labels, folder = good
    X = X.copy()
    X[150 + 64 + 9, 2] = np.nan  # second file, row group 1, row 9
    X[150 + 64 + 20, 0] = np.inf
    write_files(folder, X, labels, sizes=(150, 150), row_group=64)
    with pytest.raises(cm.InvalidInputError,
                       match=r"part-1\.parquet, row group 1: NaN or infinite values in 2 rows "
                             r"\(first: 9, 20\) of the row group"):
        run(folder, "emb", "cluster")


def test_zero_vectors_under_cosine_name_file_row_group_and_row(run, good):
    X, labels, folder = good
    X = X.copy()
    X[3] = 0
    write_files(folder, X, labels, sizes=(300,), row_group=64)
    with pytest.raises(cm.InvalidInputError,
                       match=r"part-0\.parquet, row group 0: cosine distance is undefined for "
                             r"zero vectors; 1 row \(3\)"):
        run(folder, "emb", "cluster", metric="cosine")


def test_no_matching_files_is_an_error(run, tmp_path):
    with pytest.raises(cm.InvalidInputError, match=r"No Parquet files found at .*nothing"):
        run(str(tmp_path / "nothing" / "*.parquet"), "emb", "cluster")


def test_a_worker_killed_mid_run_still_gives_the_exact_result(clustering, tmp_path):
    """Real worker processes; the test kills one with SIGKILL while the first pass runs."""
    distributed = pytest.importorskip("distributed")
    from clustermetrics.engine.dask import QUIET_HTTP
    X, labels, truth = clustering
    folder = write_files(tmp_path / "many", X, labels, truth, sizes=(300,) * 4, row_group=40)
    options = {"metric": "euclidean", "sample_size": 120, "random_state": 0,
               "noise_label": -1}
    expected = cm.evaluate(X, labels, truth, **options)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, scheduler_kwargs=QUIET_HTTP) \
            as cluster, distributed.Client(cluster) as client:
        pids = client.run(os.getpid)
        killed = []

        def progress(stage, rows, total):
            if stage == "statistics" and not killed:
                pid = pids[sorted(pids)[0]]
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

        got = cm.evaluate_parquet(folder, "emb", "cluster", "truth", client=client,
                                  progress=progress, batch_rows=16, **options)
        assert killed
        client.wait_for_workers(2, timeout=60)  # the nanny started another
        assert killed[0] not in client.run(os.getpid).values()
    for name, value in expected.scores.items():
        assert got.scores[name] == pytest.approx(value, rel=1e-12, abs=1e-12), name
    assert got.silhouette_ci == pytest.approx(expected.silhouette_ci, rel=1e-12, abs=1e-12)
    assert got.counts["n_scored"] == expected.counts["n_scored"]


def test_the_local_parquet_source_keeps_no_state_for_batches_it_let_go(good):
    """Where each batch's rows come from is kept only while the batch lives: memory stays one
    slice's, however many row groups the files have."""
    import gc

    from clustermetrics.engine.parquet import Columns, ParquetSource, make_plan
    from clustermetrics.metrics.evaluate import evaluate_source
    X, labels, folder = good
    write_files(folder, X, labels, sizes=(150, 150), row_group=16)
    source = ParquetSource(make_plan(str(folder), Columns("emb", "cluster", None),
                                     batch_rows=16))
    evaluate_source(source, metric="euclidean")
    gc.collect()
    assert source.passes == 2 and source._where == {}
