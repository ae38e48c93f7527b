"""Parquet files as a source: listing, slices numbered as partitions, the local driver, and
the store's export into a folder of files."""

import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import clustermetrics as cm
from clustermetrics.engine.parquet import (
    Columns,
    ParquetSource,
    evaluate_local,
    list_files,
    make_plan,
    read_piece,
)

from .conftest import write_files

COLUMNS = Columns("emb", "cluster", "truth")


def test_a_folder_lists_its_parquet_files_sorted(tmp_path):
    for name in ("b.parquet", "a.pq", "sub/c.parquet", "_SUCCESS", ".hidden.parquet",
                 "_tmp/d.parquet", "notes.txt"):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    found = [os.path.relpath(f, tmp_path) for f in list_files(tmp_path)]
    assert found == ["a.pq", "b.parquet", os.path.join("sub", "c.parquet")]
    globbed = list_files(str(tmp_path / "**" / "*.parquet"))  # a glob takes what it matches
    assert [os.path.relpath(f, tmp_path) for f in globbed] == [
        os.path.join("_tmp", "d.parquet"), "b.parquet", os.path.join("sub", "c.parquet")]
    assert list_files([tmp_path / "b.parquet", tmp_path / "a.pq"]) == [
        str(tmp_path / "b.parquet"), str(tmp_path / "a.pq")]
    assert list_files(f"file://{tmp_path}/a.pq") == [f"{tmp_path}/a.pq"]


def test_the_same_file_twice_is_an_error(tmp_path):
    (tmp_path / "a.parquet").write_bytes(b"")
    with pytest.raises(cm.InvalidInputError, match="named twice"):
        list_files([tmp_path / "a.parquet", str(tmp_path / "a.parquet")])


def test_row_groups_are_cut_into_slices_numbered_in_source_order(parquet_dir, clustering):
    plan = make_plan(parquet_dir, COLUMNS, batch_rows=50)
    # files of 500, 0, 300, 400 rows in row groups of 128: the empty file gives no piece
    assert [p.rows for p in plan.pieces] == [128, 128, 128, 116, 128, 128, 44, 128, 128, 128,
                                             16]
    assert plan.n_rows == 1200 and plan.dim == 6
    partitions = [q for p in plan.pieces for q in p.partitions]
    assert partitions == list(range(len(partitions)))
    batches = list(ParquetSource(plan).batches())
    assert [b.partition for b in batches] == partitions
    assert max(len(b.X) for b in batches) == 50
    X = clustering[0]
    np.testing.assert_array_equal(np.concatenate([b.X for b in batches]), X)
    third = list(read_piece(plan.pieces[2], plan))
    assert [s.offset for s in third] == [0, 50, 100]


def test_slices_are_exact_whatever_sizes_the_reader_hands_out(parquet_dir):
    from clustermetrics.engine.parquet import _exact
    table = pq.read_table(next(iter(list_files(parquet_dir))))
    pieces = table.to_batches(max_chunksize=37)
    out = list(_exact(pieces, 50))
    assert [b.num_rows for b in out] == [50] * 10
    assert pa.Table.from_batches(out).equals(pa.Table.from_batches(pieces))


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_the_local_driver_equals_evaluate(parquet_dir, clustering, metric):
    X, labels, truth = clustering
    got = evaluate_local(parquet_dir, "emb", "cluster", "truth", metric=metric, noise_label=-1,
                         detail=True, batch_rows=70)
    ref = cm.evaluate(X, labels, truth, metric=metric, noise_label=-1)
    for name, value in ref.scores.items():
        assert got.scores[name] == pytest.approx(value, rel=1e-12, abs=1e-12), name
    np.testing.assert_allclose(got.silhouette_detail.values, ref.silhouette_detail.values,
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(got.silhouette_detail.sample_index,
                                  ref.silhouette_detail.sample_index)


def test_float32_and_float16_vectors_are_read(tmp_path, clustering):
    X, labels, _ = clustering
    for dtype in (np.float32, np.float16):
        folder = write_files(tmp_path / np.dtype(dtype).name, X.astype(dtype), labels)
        got = evaluate_local(folder, "emb", "cluster", metric="cosine")
        ref = cm.evaluate(X.astype(dtype).astype(np.float32), labels, metric="cosine")
        assert got.scores["silhouette"] == pytest.approx(ref.scores["silhouette"], rel=1e-6)


def test_an_fsspec_url_is_read(clustering):
    fsspec = pytest.importorskip("fsspec")
    X, labels, truth = clustering
    fs = fsspec.filesystem("memory")
    for i, rows in enumerate((slice(0, 700), slice(700, None))):
        table = pa.table({"emb": pa.FixedSizeListArray.from_arrays(pa.array(X[rows].ravel()),
                                                                   X.shape[1]),
                          "cluster": list(labels[rows]), "truth": list(truth[rows])})
        with fs.open(f"/cmtest/part-{i}.parquet", "wb") as f:
            pq.write_table(table, f, row_group_size=200)
    try:
        got = evaluate_local("memory://cmtest/*.parquet", "emb", "cluster", "truth",
                             metric="cosine")
    finally:
        fs.rm("/cmtest", recursive=True)
    ref = cm.evaluate(X, labels, truth, metric="cosine")
    assert got.scores == pytest.approx(ref.scores, rel=1e-12, abs=1e-12)
    assert got.source["parquet"] == "memory://cmtest/*.parquet"


# -- from the store to a folder of files ----------------------------------------------------------

@pytest.fixture
def stored(client, clustering):
    X, _, truth = clustering
    docs = [{"_id": f"doc-{i}", "item_vector_": X[i], "kind": truth[i]} for i in range(len(X))]
    docs += [{"_id": "no-vector", "kind": "class-1"}]
    ds = client.Dataset("items")
    ds.insert_documents(docs)
    client.vector_tools.cluster.kmeans("items", "item_vector_", 4)
    return ds


def test_export_writes_a_folder_of_files_that_evaluate_parquet_reads(stored, client, tmp_path,
                                                                     dask_client):
    folder = tmp_path / "export"
    assert stored.export_parquet(str(folder), rows_per_file=250) == str(folder)
    files = sorted(os.listdir(folder))
    assert files == [f"part-{i:05d}.parquet" for i in range(5)]  # 1,201 documents
    assert [pq.ParquetFile(folder / f).metadata.num_rows for f in files] == [250] * 4 + [201]
    label = "_cluster_.item_vector_.kmeans_4"
    assert label in pq.read_schema(folder / files[0]).names
    want = client.vector_tools.cluster.metrics("items", "item_vector_", "kmeans_4", "kind",
                                               metric="cosine")
    for got in (cm.evaluate_parquet(folder, "item_vector_", label, "kind", metric="cosine",
                                    client=dask_client),
                evaluate_local(folder, "item_vector_", label, "kind", metric="cosine")):
        # float32 vectors: the linear silhouette's GEMMs run in float32, so batches cut
        # differently (files vs the store's reads) agree to float32 precision
        assert got.scores == pytest.approx(want.scores, rel=1e-6, abs=1e-7)
        assert got.counts == want.counts  # n_without_vector included


def test_export_rows_per_file_makes_row_groups_no_larger(stored, tmp_path):
    from clustermetrics.files import write_parquet_files
    reader = stored.api.export_documents("items")
    files = write_parquet_files(reader, str(tmp_path / "small"), 500, row_group_rows=128)
    meta = pq.ParquetFile(files[0]).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [128] * 3 + [116]


@pytest.mark.parametrize(("setup", "rows", "message"), [
    ("file", 10, "it is a file"),
    ("full", 10, "the folder is not empty"),
    ("none", 0, "rows_per_file must be a positive integer"),
    ("none", 2.5, "rows_per_file must be a positive integer"),
])
def test_export_refuses_bad_targets(stored, tmp_path, setup, rows, message):
    target = tmp_path / "out"
    if setup == "file":
        target.write_text("x")
    elif setup == "full":
        target.mkdir()
        (target / "old.parquet").write_text("x")
    with pytest.raises(cm.InvalidInputError, match=message):
        stored.export_parquet(str(target), rows_per_file=rows)
    assert not list(tmp_path.glob("*.partial"))


def test_export_into_an_empty_folder(stored, tmp_path):
    (tmp_path / "out").mkdir()
    stored.export_parquet(str(tmp_path / "out"), rows_per_file=1000)
    assert sorted(os.listdir(tmp_path / "out")) == ["part-00000.parquet", "part-00001.parquet"]
