"""One Client shared by many threads: reads, writes and metrics at once, nothing lost."""

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

import clustermetrics as cm


def _docs(prefix, n, rng):
    X = rng.normal(size=(n, 8)).astype(np.float32)
    return [{"_id": f"{prefix}-{i}", "v_vector_": X[i], "group": int(i % 3)} for i in range(n)]


def test_eight_threads_share_one_client(tmp_path):
    rng = np.random.default_rng(0)
    with cm.Client(path=str(tmp_path / "store.duckdb")) as client:
        ds = client.Dataset("shared")
        ds.insert_documents(_docs("seed", 300, rng))
        client.vector_tools.cluster.kmeans("shared", "v_vector_", 3)
        expected = client.vector_tools.cluster.metrics("shared", "v_vector_", "kmeans_3",
                                                       "group", metric="cosine").scores
        errors, written = [], []
        lock = threading.Lock()

        def work(worker: int) -> None:
            local = np.random.default_rng(worker)
            for step in range(12):
                try:
                    kind = (worker + step) % 4
                    if kind == 0:  # writes to the worker's own dataset
                        docs = _docs(f"w{worker}-{step}", 20, local)
                        client.Dataset(f"own_{worker}").insert_documents(docs)
                        with lock:
                            written.append((f"own_{worker}", len(docs)))
                    elif kind == 1:  # writes to the dataset others read and evaluate
                        docs = _docs(f"x{worker}-{step}", 5, local)
                        client.Dataset("extra").upsert_documents(docs)
                        with lock:
                            written.append(("extra", len(docs)))
                    elif kind == 2:
                        got = client.vector_tools.cluster.metrics(
                            "shared", "v_vector_", "kmeans_3", "group", metric="cosine")
                        assert got.scores == pytest.approx(expected, abs=1e-12)
                    else:
                        assert "shared" in client.list_datasets()
                        assert len(ds.get_documents(["seed-1", "seed-2"])) == 2
                        assert ds.describe()["documents"] == 300
                except Exception as exc:  # every failure is counted, none is hidden
                    with lock:
                        errors.append(repr(exc))

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(work, range(8)))

        assert errors == []
        totals: dict[str, int] = {}
        for name, n in written:
            totals[name] = totals.get(name, 0) + n
        for name, n in totals.items():
            assert len(client.Dataset(name)) == n
        assert len(ds) == 300


def test_metrics_passes_read_one_snapshot(tmp_path):
    """A write between the two passes of a metrics call changes neither pass."""
    from clustermetrics.api.local import LocalAPI

    rng = np.random.default_rng(1)
    api = LocalAPI(str(tmp_path / "store.duckdb"), cache_mb=0)  # pass 2 reads DuckDB again
    client = cm.Client(api=api)
    try:
        client.Dataset("d").insert_documents(_docs("a", 200, rng))
        client.vector_tools.cluster.kmeans("d", "v_vector_", 3)
        before = client.vector_tools.cluster.metrics("d", "v_vector_", "kmeans_3",
                                                     metric="cosine")
        writer_done = threading.Event()

        def write_between(stage, done, total):  # after pass 1, before pass 2
            if stage == "statistics" and not writer_done.is_set():
                t = threading.Thread(target=lambda: client.Dataset("d").insert_documents(
                    _docs("late", 50, np.random.default_rng(2))))
                t.start()
                t.join()
                writer_done.set()

        during = client.vector_tools.cluster.metrics("d", "v_vector_", "kmeans_3",
                                                     metric="cosine", progress=write_between)
        assert writer_done.is_set()
        assert during.scores == pytest.approx(before.scores, abs=1e-12)
        assert during.counts["n_documents"] == 200
        assert len(client.Dataset("d")) == 250
    finally:
        client.close()


def test_concurrent_deletes_of_one_dataset(tmp_path):
    """One delete wins; the others hear that the dataset is gone, not a storage error."""
    with cm.Client(path=str(tmp_path / "store.duckdb")) as client:
        client.Dataset("gone").insert_documents(_docs("g", 10, np.random.default_rng(0)))
        outcomes = []

        def delete(_):
            try:
                client.Dataset("gone").delete()
                outcomes.append("deleted")
            except cm.NotFoundError:
                outcomes.append("not found")

        with ThreadPoolExecutor(6) as pool:
            list(pool.map(delete, range(6)))
        assert sorted(outcomes) == ["deleted"] + ["not found"] * 5
        assert client.list_datasets() == []


def test_other_calls_run_while_an_export_is_read(tmp_path):
    """The export reads on a cursor of its own: the thread's other calls go on meanwhile, and
    the export sees the documents as they were when it began."""
    with cm.Client(path=str(tmp_path / "store.duckdb")) as client:
        client.Dataset("d").insert_documents(_docs("a", 40_000, np.random.default_rng(0)))
        reader = client.api.export_documents("d")
        first = reader.read_next_batch()
        assert len(client.Dataset("d")) == 40_000  # this thread's cursor is free
        client.Dataset("d").insert_documents(_docs("late", 5, np.random.default_rng(1)))
        rest = sum(b.num_rows for b in reader)
        assert first.num_rows + rest == 40_000
        assert len(client.Dataset("d")) == 40_005


def _kmeans_while(client, monkeypatch, meanwhile) -> dict:
    """k-means on dataset "d" with ``meanwhile(dataset)`` run by another thread between the
    fit and the write of its labels; returns the alias's description."""
    from clustermetrics import clustering
    real_fit = clustering.fit

    def fit_then(*args, **kwargs):
        result = real_fit(*args, **kwargs)
        t = threading.Thread(target=lambda: meanwhile(client.Dataset("d")))
        t.start()
        t.join()
        return result

    monkeypatch.setattr(clustering, "fit", fit_then)
    client.vector_tools.cluster.kmeans("d", "v_vector_", 3)
    return client.vector_tools.cluster.describe_alias("d", "v_vector_", "kmeans_3")


def test_a_document_deleted_while_a_fit_runs_does_not_lose_the_fit(tmp_path, monkeypatch):
    """A fit reads the vectors, then fits without holding the store: a deletion meanwhile is
    skipped and counted as changed since the alias was made, and the fit is kept."""
    with cm.Client(path=str(tmp_path / "store.duckdb")) as client:
        client.Dataset("d").insert_documents(_docs("a", 60, np.random.default_rng(0)))
        info = _kmeans_while(client, monkeypatch, lambda ds: ds.delete_documents(["a-0"]))
        assert sum(info["sizes"].values()) == 59 and info["changed"] == 1


def test_a_document_given_another_vector_while_a_fit_runs_keeps_no_label(tmp_path,
                                                                         monkeypatch):
    """The fit's labels are written only where the vector is still the one it read (their
    hashes were read with the vectors): a label always belongs to the vector it came from."""
    with cm.Client(path=str(tmp_path / "store.duckdb")) as client:
        client.Dataset("d").insert_documents(_docs("a", 60, np.random.default_rng(0)))
        changed = {"_id": "a-7", "v_vector_": [9.0] * 8}
        info = _kmeans_while(client, monkeypatch, lambda ds: ds.insert_documents([changed]))
        assert sum(info["sizes"].values()) == 59 and info["changed"] == 1
        table = client.api.export_documents("d").read_all().to_pandas().set_index("_id")
        assert pd.isna(table.loc["a-7", "_cluster_.v_vector_.kmeans_3"])
        assert table["_cluster_.v_vector_.kmeans_3"].notna().sum() == 59
