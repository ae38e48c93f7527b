"""An insert larger than one batch is still one write: every piece checked, all of it stored or
none, labels kept where vectors did not change, and a reader sees the documents before or after
it, never part of it. Arrays go to DuckDB in row-group batches (``ROW_GROUP`` rows), Parquet
files in pieces of ``PIECE_ROWS``: these tests cross those boundaries."""

import threading

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import clustermetrics as cm
from clustermetrics import Client
from clustermetrics.store.store import ROW_GROUP

from . import test_safety

N = ROW_GROUP + 1_000  # two batches of an array


@pytest.fixture
def shop(client):
    """Two batches' worth of 2-d vectors, labelled by an alias."""
    ds = client.Dataset("shop")
    ds.insert_documents(_vectors(N), ids=_ids(N), vector_field="v_vector_")
    client.vector_tools.cluster.set_cluster_labels("shop", "v_vector_", "km",
                                                   dict.fromkeys(_ids(N), 1))
    return ds


def snapshot(client):
    """What is stored, read inside one session (the idle release would close the file under
    a read this long)."""
    with client.test_store.session():
        return test_safety.snapshot(client)


def labels(client):
    with client.test_store.session():
        return test_safety.labels(client)


def _ids(n: int) -> list[str]:
    return [f"d{i}" for i in range(n)]


def _vectors(n: int) -> np.ndarray:
    return np.stack([np.arange(n, dtype=np.float32), np.ones(n, np.float32)], axis=1)


def test_nan_in_the_last_batch_of_an_array_refuses_all_of_it(client, shop):
    before = snapshot(client)
    X = _vectors(N) + 0.5
    X[N - 2, 1] = np.nan
    with pytest.raises(cm.SchemaError, match=rf"Vector field 'v_vector_' has NaN or infinite "
                                             rf"values .* in 1 document \(first _id: "
                                             rf"'d{N - 2}'\)\. Nothing was written"):
        shop.insert_documents(X, ids=_ids(N), vector_field="v_vector_")
    assert snapshot(client) == before


def test_finite_vectors_whose_sum_overflows_are_stored(client):
    """The finite check sums rows first; a sum that overflows float32 is not a bad vector."""
    ds = client.Dataset("big")
    X = np.array([[3e38, 3e38], [1.0, 2.0]], np.float32)
    assert ds.insert_documents(X, ids=["a", "b"], vector_field="v_vector_")["inserted"] == 2
    stored = ds.get_documents(["a"])[0]["v_vector_"]
    assert stored == pytest.approx([3e38, 3e38], rel=1e-7)


def test_nan_in_the_last_piece_of_a_parquet_file_refuses_all_of_it(client, shop, tmp_path,
                                                                   monkeypatch):
    from clustermetrics import documents
    monkeypatch.setattr(documents, "PIECE_ROWS", 4)
    before = snapshot(client)
    vectors = [[float(i), 1.0] for i in range(40)]
    vectors[38] = [1.0, float("inf")]
    path = tmp_path / "late.parquet"
    pq.write_table(pa.table({"_id": [f"p{i}" for i in range(40)],
                             "v_vector_": pa.array(vectors, pa.list_(pa.float32(), 2))}), path)
    with pytest.raises(cm.SchemaError, match=r"Vector field 'v_vector_' has NaN or infinite "
                                             r"values .* in 1 document \(first _id: 'p38'\)"):
        shop.insert_documents(str(path))
    assert snapshot(client) == before


def test_reinsert_over_two_batches_keeps_the_labels_of_unchanged_vectors(client, shop):
    X = _vectors(N)
    changed = [3, ROW_GROUP + 7, N - 1]  # in the first batch and in the second
    X[changed, 1] = 5.0
    result = shop.insert_documents(X, ids=_ids(N), vector_field="v_vector_")
    assert result == {"inserted": 0, "updated": N, "labels_dropped": {"v_vector_": {"km": 3}},
                      "widened": {}}
    kept = labels(client)
    assert [i for i in range(N) if kept[f"d{i}"] is None] == changed
    assert sum(v == 1 for v in kept.values()) == N - 3
    assert client.test_store.alias_info("shop", "v_vector_", "km")["changed"] == 3


def test_a_reader_sees_an_insert_whole_or_not_at_all(tmp_path):
    with Client(path=str(tmp_path / "store.duckdb")) as client:
        ds = client.Dataset("shop")
        ds.insert_documents(_vectors(10), ids=[f"old{i}" for i in range(10)],
                            vector_field="v_vector_")
        store = client.api.store
        n = 2 * ROW_GROUP + 5  # three batches
        done, seen, errors = threading.Event(), set(), []

        def write() -> None:
            try:
                ds.insert_documents(_vectors(n), ids=_ids(n), vector_field="v_vector_")
            except BaseException as exc:  # the assertion below says what it was
                errors.append(exc)
            finally:
                done.set()

        with store.session():
            writer = threading.Thread(target=write)
            writer.start()
            while not done.is_set():
                seen.add(store.count("shop"))
            writer.join()
            seen.add(store.count("shop"))
        assert errors == []
        assert seen <= {10, 10 + n} and 10 + n in seen
