import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import clustermetrics as cm
from clustermetrics import Client


def test_insert_and_get_nested_documents(client):
    ds = client.Dataset("shop")
    out = ds.insert_documents([
        {"_id": "a", "title": "red shoe", "image_vector_": [1, 0, 0], "price": {"eur": 10}},
        {"_id": "b", "title": "blue hat", "image_vector_": [0, 1, 0]},
    ])
    assert out == {"inserted": 2, "updated": 0, "labels_dropped": {}, "widened": {}}
    assert ds.get_documents(["b", "a"]) == [
        {"_id": "b", "title": "blue hat", "image_vector_": [0.0, 1.0, 0.0]},
        {"_id": "a", "title": "red shoe", "image_vector_": [1.0, 0.0, 0.0], "price": {"eur": 10}},
    ]
    assert ds.schema == {"_id": "VARCHAR", "title": "VARCHAR", "image_vector_": "FLOAT[3]",
                         "price.eur": "BIGINT"}
    assert client.list_datasets() == ["shop"]


def test_insert_replaces_and_upsert_merges(client):
    ds = client.Dataset("shop")
    ds.insert_documents([{"_id": "a", "title": "shoe", "stock": 3}])
    assert ds.insert_documents([{"_id": "a", "title": "boot"}])["updated"] == 1
    assert ds.get_documents(["a"]) == [{"_id": "a", "title": "boot"}]
    out = ds.upsert_documents([{"_id": "a", "stock": 5}, {"_id": "b", "title": "hat"}])
    assert (out["inserted"], out["updated"]) == (1, 1)
    assert ds.get_documents(["a", "b"]) == [{"_id": "a", "title": "boot", "stock": 5},
                                            {"_id": "b", "title": "hat"}]


def test_schema_evolves_when_new_fields_appear(client):
    ds = client.Dataset("shop")
    ds.insert_documents([{"_id": "a", "title": "shoe"}])
    ds.insert_documents([{"_id": "b", "colour": "red", "tags": {"season": "winter"}}])
    assert set(ds.schema) == {"_id", "title", "colour", "tags.season"}
    assert ds.get_documents(["a"]) == [{"_id": "a", "title": "shoe"}]


@pytest.mark.parametrize("kind", ["dataframe", "parquet", "csv", "jsonl", "numpy", "arrow"])
def test_bulk_inputs(client, tmp_path, kind):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 4)).astype(np.float32)
    ids = [f"id{i}" for i in range(50)]
    df = pd.DataFrame({"_id": ids, "emb_vector_": list(X), "group": [i % 3 for i in range(50)]})
    ds = client.Dataset("bulk")
    if kind == "dataframe":
        ds.insert_documents(df)
    elif kind == "parquet":
        pq.write_table(pa.Table.from_pandas(df), tmp_path / "d.parquet")
        ds.insert_documents(str(tmp_path / "d.parquet"))
    elif kind == "csv":
        pd.DataFrame({"_id": ids, "group": df["group"]}).to_csv(tmp_path / "d.csv", index=False)
        ds.insert_documents(str(tmp_path / "d.csv"))
        ds.upsert_documents(X, ids=ids, vector_field="emb_vector_")
    elif kind == "jsonl":
        df.assign(emb_vector_=[list(map(float, x)) for x in X]).to_json(
            tmp_path / "d.jsonl", orient="records", lines=True)
        ds.insert_documents(str(tmp_path / "d.jsonl"))
    elif kind == "numpy":
        ds.insert_documents(X, ids=ids, vector_field="emb_vector_")
    else:
        ds.insert_documents(pa.Table.from_pandas(df))
    assert len(ds) == 50
    assert ds.schema["emb_vector_"] == "FLOAT[4]"
    doc = ds.get_documents(["id7"])[0]
    np.testing.assert_allclose(doc["emb_vector_"], X[7])


def test_declared_vector_field_without_suffix(client):
    ds = client.Dataset("v")
    ds.insert_documents([{"_id": "a", "embedding": [1, 2]}], vector_fields=["embedding"])
    assert ds.schema["embedding"] == "FLOAT[2]"


def test_missing_ids_are_generated(client):
    ds = client.Dataset("v")
    ds.insert_documents([{"title": "a"}, {"title": "b"}])
    ids = client.api.export_documents("v").read_all().column("_id").to_pylist()
    assert len(set(ids)) == 2


def test_delete_documents_describe_export_and_delete(client, tmp_path):
    ds = client.Dataset("shop")
    ds.insert_documents([{"_id": str(i), "x_vector_": [i, 1.0], "t": "a"} for i in range(5)])
    assert ds.delete_documents(["1", "3", "nope"]) == 2
    info = ds.describe()
    assert info["documents"] == 3
    assert {f["field"]: f["vector_dim"] for f in info["fields"]}["x_vector_"] == 2
    out = ds.export_parquet(str(tmp_path / "shop.parquet"))
    assert pq.read_table(out).num_rows == 3
    ds.delete()
    assert client.list_datasets() == []


# -- bad input: a clear message, nothing written --------------------------------------------

def _unchanged(ds, before):
    assert len(ds) == before
    assert ds.get_documents(["keep"]) == [{"_id": "keep", "v_vector_": [1.0, 2.0, 3.0]}]


@pytest.fixture
def ds(client):
    ds = client.Dataset("shop")
    ds.insert_documents([{"_id": "keep", "v_vector_": [1, 2, 3]}])
    return ds


def test_wrong_vector_length_names_field_and_ids(ds):
    with pytest.raises(cm.SchemaError, match=r"'v_vector_' has 3 dimensions, but 2 documents "
                                             r".*first _id: 'b', 'c'"):
        ds.insert_documents([{"_id": "a", "v_vector_": [1, 2, 3]},
                             {"_id": "b", "v_vector_": [1, 2]}, {"_id": "c", "v_vector_": [1]}])
    _unchanged(ds, 1)


def test_non_numeric_vector_names_field(ds):
    with pytest.raises(cm.SchemaError, match=r"Vector field 'v_vector_' holds non-numeric "
                                             r"values \(string\); first _id: 'a'"):
        ds.insert_documents([{"_id": "a", "v_vector_": ["x", "y", "z"]}])
    _unchanged(ds, 1)


def test_numeric_looking_strings_are_not_a_vector(ds):
    with pytest.raises(cm.SchemaError, match=r"'v_vector_' holds non-numeric values \(string\)"):
        ds.insert_documents([{"_id": "a", "v_vector_": ["1.5", "2", "3"]}])
    _unchanged(ds, 1)


def test_boolean_vector_is_not_numeric(ds):
    with pytest.raises(cm.SchemaError, match=r"'v_vector_' holds non-numeric values \(bool\)"):
        ds.insert_documents([{"_id": "a", "v_vector_": np.array([True, False, True])}])
    _unchanged(ds, 1)


def test_duplicate_id_in_one_batch(ds):
    with pytest.raises(cm.SchemaError, match=r"Duplicate _id in one batch: 1 ids .*'dup'"):
        ds.insert_documents([{"_id": "dup", "t": 1}, {"_id": "new", "t": 2},
                             {"_id": "dup", "t": 3}])
    _unchanged(ds, 1)


def test_field_name_collision(ds):
    with pytest.raises(cm.SchemaError, match=r"'V_VECTOR_' collides with 'v_vector_'"):
        ds.insert_documents([{"_id": "a", "V_VECTOR_": [1, 2, 3]}])
    _unchanged(ds, 1)


def test_type_mismatch_with_stored_field_writes_nothing(ds):
    ds.insert_documents([{"_id": "n", "count": 1}])
    with pytest.raises(cm.SchemaError, match=r"Field 'count' of dataset 'shop' is stored as "
                                             r"BIGINT, but 1 document gives text \(first: _id "
                                             r"'x', value 'many'\)\. Nothing of this batch"):
        ds.insert_documents([{"_id": "x", "count": "many"}, {"_id": "y", "v_vector_": [0, 0, 0]}])
    _unchanged(ds, 2)


def test_invalid_dataset_name(client):
    with pytest.raises(cm.InvalidInputError, match="Invalid dataset name 'a b'"):
        client.Dataset("a b").insert_documents([{"_id": "x"}])


def test_documents_must_be_dicts(client):
    with pytest.raises(cm.InvalidInputError, match="Documents must be dicts; item 1 is a str"):
        client.Dataset("x").insert_documents([{"_id": "a"}, "b"])


def test_unknown_dataset_lists_existing_and_closest(ds, client):
    with pytest.raises(cm.NotFoundError, match=r"dataset 'shoop' not found. Did you mean "
                                               r"'shop'\? Existing: 'shop'"):
        client.Dataset("shoop").get_documents(["a"])


def test_store_locked_by_another_process(tmp_path, hold_lock, monkeypatch, capsys):
    monkeypatch.setenv("CLUSTERMETRICS_LOCK_TIMEOUT", "0.3")
    path = str(tmp_path / "locked.duckdb")
    pid = hold_lock(path)
    t0 = time.monotonic()
    with pytest.raises(cm.StoreLockedError, match=rf"open in process {pid}.*Close that program"):
        Client(path=path)
    assert time.monotonic() - t0 >= 0.3  # it waited first, and said so
    assert f"busy in process {pid}; waiting up to 0.3 s" in capsys.readouterr().err


def test_a_client_holds_the_file_only_while_an_operation_runs(tmp_path):
    path = str(tmp_path / "shared.duckdb")
    with Client(path=path) as notebook:  # stays open, as in a notebook
        notebook.Dataset("d").insert_documents([{"_id": "a", "v_vector_": [1.0, 2.0]}])
        for _ in range(2):  # the other process reads and writes meanwhile
            out = subprocess.run(
                [sys.executable, "-c", "import sys; from clustermetrics import Client; "
                 f"c = Client(path={path!r}); ds = c.Dataset('d'); "
                 "ds.upsert_documents([{'_id': 'b', 'v_vector_': [3.0, 4.0]}]); "
                 "print(len(ds)); c.close()"],
                capture_output=True, text=True, timeout=120)
            assert out.returncode == 0, out.stderr
            assert out.stdout.strip() == "2"
        assert len(notebook.Dataset("d")) == 2  # and this one sees its write


def test_a_second_process_waits_for_a_busy_store(tmp_path, capsys):
    path = str(tmp_path / "busy.duckdb")
    Client(path=path).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({path!r}); "
                               "print('ready', flush=True); time.sleep(1.0); c.close()"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with Client(path=path, lock_timeout=60) as client:
            assert client.list_datasets() == []  # after the other process let go
        assert "waiting up to 60 s" in capsys.readouterr().err
    finally:
        holder.wait(60)


def test_killed_writer_loses_no_committed_batch(tmp_path):
    path = str(tmp_path / "crash.duckdb")
    script = textwrap.dedent(f"""
        import numpy as np
        from clustermetrics import Client
        c = Client(path={path!r})
        ds = c.Dataset("crash")
        for b in range(1000):
            X = np.random.default_rng(b).normal(size=(200, 16))
            ds.insert_documents(X, ids=[f"{{b}}-{{i}}" for i in range(200)],
                                vector_field="v_vector_")
            print(b, flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    committed = -1
    deadline = time.time() + 60
    while committed < 5 and time.time() < deadline:
        committed = int(proc.stdout.readline())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with Client(path=path) as c:
        n = len(c.Dataset("crash"))
    assert n >= (committed + 1) * 200  # every batch reported committed is there
    assert n % 200 == 0  # and no batch is there in part


def test_parquet_imported_in_pieces_is_one_transaction(client, tmp_path, monkeypatch):
    from clustermetrics import documents
    monkeypatch.setattr(documents, "PIECE_ROWS", 10)
    rng = np.random.default_rng(0)
    ids = [f"p{i}" for i in range(35)]
    vectors = rng.normal(size=(35, 3)).tolist()
    vectors[31] = [1.0, 2.0]  # a bad vector in the last piece
    path = tmp_path / "pieces.parquet"
    pq.write_table(pa.table({"_id": ids, "v_vector_": vectors}), path)
    ds = client.Dataset("pieces")
    ds.insert_documents([{"_id": "keep", "v_vector_": [0, 0, 0]}])
    with pytest.raises(cm.SchemaError, match=r"first _id: 'p31'"):
        ds.insert_documents(str(path))
    assert len(ds) == 1  # the three good pieces before it were rolled back too
    vectors[31] = [1.0, 2.0, 3.0]
    pq.write_table(pa.table({"_id": ids, "v_vector_": vectors}), path)
    assert ds.insert_documents(str(path))["inserted"] == 35
    assert len(ds) == 36


def test_failed_parquet_import_restores_duckdb_threads(client, store, tmp_path):
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"_id": ["a", "b"], "v_vector_": [[1.0, 2.0], [1.0]]}), path)
    threads = store.scalar("SELECT current_setting('threads')")
    with pytest.raises(cm.SchemaError):
        client.Dataset("bad").insert_documents(str(path))
    assert store.scalar("SELECT current_setting('threads')") == threads


def test_parquet_duplicate_ids_across_pieces(client, tmp_path, monkeypatch):
    from clustermetrics import documents
    monkeypatch.setattr(documents, "PIECE_ROWS", 10)
    ids = [f"p{i}" for i in range(30)]
    ids[25] = "p3"
    path = tmp_path / "dups.parquet"
    pq.write_table(pa.table({"_id": ids, "t": list(range(30))}), path)
    with pytest.raises(cm.SchemaError, match=r"Duplicate _id in one batch: 1 ids .*'p3'"):
        client.Dataset("dups").insert_documents(str(path))
    assert client.list_datasets() == []


def test_dataframe_with_a_missing_vector(client):
    df = pd.DataFrame({"_id": ["a", "b", "c"],
                       "v_vector_": [None, np.array([1.0, 2.0]), np.array([3.0, 4.0])]})
    ds = client.Dataset("df")
    ds.insert_documents(df)
    assert ds.get_documents(["a", "c"]) == [{"_id": "a"}, {"_id": "c", "v_vector_": [3.0, 4.0]}]
    assert ds.describe()["fields"][1] == {"field": "v_vector_", "type": "FLOAT[2]", "present": 2,
                                          "vector_dim": 2}


def test_vector_checks_do_not_copy_the_vectors():
    # a copy of every vector column doubled the import time of large batches (see README)
    from clustermetrics.documents import normalize, vectors_to_arrow
    vectors = vectors_to_arrow(np.arange(12, dtype=np.float32).reshape(4, 3))
    table = pa.table({"_id": ["a", "b", "c", "d"], "v_vector_": vectors})
    checked = normalize(table, dims={}).column("v_vector_")
    assert checked.num_chunks == 1
    assert checked.chunk(0).values.buffers()[1].address == vectors.values.buffers()[1].address
    assert checked.chunk(0).values.to_numpy().tolist() == list(range(12))


@pytest.mark.parametrize("mode", ["insert", "upsert"])
def test_import_reports_every_row(client, tmp_path, monkeypatch, mode):
    from clustermetrics import documents
    monkeypatch.setattr(documents, "PIECE_ROWS", 10)
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"_id": [f"r{i}" for i in range(35)], "n": list(range(35))}), path)
    calls = []
    ds = client.Dataset("rows")
    write = ds.insert_documents if mode == "insert" else ds.upsert_documents
    write(str(path), progress=lambda *call: calls.append(call))
    assert calls == [(mode, 10, 35), (mode, 10, 35), (mode, 10, 35), (mode, 5, 35)]
    calls.clear()
    ds.insert_documents([{"_id": "x"}, {"_id": "y"}], progress=lambda *call: calls.append(call))
    assert calls == [("insert", 2, 2)]


@pytest.mark.parametrize("kind", ["dicts", "dataframe"])
def test_vectors_in_python_documents_are_stacked_exactly(client, kind):
    # arrays, lists and a missing vector in one batch: stored as given, the missing one null
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4, 3))
    values = [X[0], X[1].tolist(), None, X[3].astype(np.float32)]
    docs = [{"_id": f"d{i}", "v_vector_": v, "tags": ["a", "b"]} for i, v in enumerate(values)]
    ds = client.Dataset("stacked")
    ds.insert_documents(docs if kind == "dicts" else pd.DataFrame(docs))
    got = ds.get_documents(["d0", "d1", "d2", "d3"])
    np.testing.assert_allclose([got[i]["v_vector_"] for i in (0, 1, 3)],
                               X[[0, 1, 3]].astype(np.float32))
    assert "v_vector_" not in got[2]
    assert got[0]["tags"] == ["a", "b"]  # lists in other fields stay lists
    assert ds.schema["v_vector_"] == "FLOAT[3]" and ds.schema["tags"] == "VARCHAR[]"


@pytest.mark.parametrize("name", ["b", "l", "d", "i", "_doc", "_new", "_batch", "_ids",
                                  "_labels", "aliases", "datasets"])
def test_any_valid_dataset_name_works_everywhere(client, name):
    # names that are also aliases, registered tables or schemas inside our SQL
    ds = client.Dataset(name)
    rng = np.random.default_rng(0)
    ds.insert_documents([{"_id": f"x{i}", "v_vector_": rng.normal(size=2).tolist(), "t": i % 2}
                         for i in range(8)])
    out = ds.upsert_documents([{"_id": "x0", "t": 5}, {"_id": "new", "t": 1}])
    assert (out["inserted"], out["updated"]) == (1, 1)
    assert ds.get_documents(["x0"])[0]["t"] == 5
    client.vector_tools.cluster.set_cluster_labels(name, "v_vector_", "two",
                                                   {f"x{i}": i % 2 for i in range(8)})
    assert client.vector_tools.cluster.metrics(name, "v_vector_", "two", "t").counts[
        "n_used"] == 8
    assert ds.delete_documents(["new"]) == 1
    assert client.list_datasets() == [name]
    ds.delete()
    assert client.list_datasets() == []


@pytest.mark.parametrize("ext", ["parquet", "csv", "jsonl"])
def test_export_and_import_round_trip_documents_without_the_vector(client, tmp_path, ext):
    """A document without the vector is a null in Parquet and JSON and an empty cell in CSV,
    and each reads back as a document without the vector."""
    ds = client.Dataset("nv")
    ds.insert_documents([{"_id": "a", "x_vector_": [1.0, 2.0]}, {"_id": "b", "t": "none"},
                         {"_id": "c", "x_vector_": [3.0, 4.0]}])
    out = ds.export(str(tmp_path / f"nv.{ext}"))
    if ext == "parquet":
        table = pq.read_table(out)
        assert table.column("x_vector_").to_pylist() == [[1.0, 2.0], None, [3.0, 4.0]]
    back = client.Dataset("back")
    back.insert_documents(out)
    assert back.get_documents(["a", "b", "c"], fields=["x_vector_"]) == [
        {"_id": "a", "x_vector_": [1.0, 2.0]}, {"_id": "b"}, {"_id": "c", "x_vector_": [3.0, 4.0]}]


LIMITED = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, 4 * 2**30))
from clustermetrics.store.store import Store
store = Store(sys.argv[1])
with store.session():
    print(store.scalar("SELECT current_setting('memory_limit')"))
"""


def test_duckdb_keeps_within_half_of_an_address_space_limit(tmp_path):
    """DuckDB sizes its memory from the machine's; under RLIMIT_AS (a server's limit) it would
    meet that limit with its buffers full, and a read after a failed large write failed too."""
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", LIMITED, str(tmp_path / "s.duckdb")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "2.0 GiB"
