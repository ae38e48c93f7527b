"""Nothing lost, nothing silent: stored values and labels survive everyday mistakes, and each
mistake gets a message naming the field, the document and what to do (issue 10).

Every refusal asserts its message and that the store is exactly as it was before."""

import gc
import json
import threading

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import clustermetrics as cm
from clustermetrics import Client


def snapshot(client, dataset="shop"):
    """Everything stored about a dataset: schema, every row, and its aliases' records."""
    store = client.test_store
    if dataset not in store.list_datasets():
        return None
    rows = store.con.execute(f'SELECT * FROM datasets."{dataset}" ORDER BY _id').fetchall()
    aliases = store.con.execute(
        "SELECT vector_field, alias, method, params, changed FROM aliases WHERE dataset = ? "
        "ORDER BY vector_field, alias", [dataset]).fetchall()
    return store.schema(dataset), repr(rows), aliases  # repr: NaN equals NaN


@pytest.fixture
def shop(client):
    """Six documents with 2-d vectors, a digit and a k-means-like alias on the vectors."""
    ds = client.Dataset("shop")
    ds.insert_documents([{"_id": f"d{i}", "v_vector_": [float(i), float(i % 2)], "digit": i,
                          "title": f"t{i}"} for i in range(6)])
    client.vector_tools.cluster.set_cluster_labels("shop", "v_vector_", "km",
                                                   {f"d{i}": i % 2 for i in range(6)})
    return ds


def labels(client, alias="km", vf="v_vector_", dataset="shop"):
    col = f"_cluster_.{vf}.{alias}"
    return dict(client.test_store.con.execute(
        f'SELECT _id, "{col}" FROM datasets."{dataset}" ORDER BY _id').fetchall())


# -- 1. labels are data ------------------------------------------------------------------------

def test_reinsert_of_unchanged_documents_keeps_every_label(client, shop):
    before = labels(client)
    docs = [{"_id": f"d{i}", "v_vector_": [float(i), float(i % 2)], "digit": i,
             "title": f"new {i}"} for i in range(6)]
    out = shop.insert_documents(docs)
    assert out == {"inserted": 0, "updated": 6, "labels_dropped": {}, "widened": {}}
    assert labels(client) == before
    assert shop.get_documents(["d3"])[0]["title"] == "new 3"
    assert client.test_store.alias_info("shop", "v_vector_", "km")["changed"] == 0


def test_reinsert_from_a_parquet_file_keeps_labels(client, shop, tmp_path, monkeypatch):
    from clustermetrics import documents
    monkeypatch.setattr(documents, "PIECE_ROWS", 2)  # several pieces
    path = tmp_path / "same.parquet"
    pq.write_table(pa.table({"_id": [f"d{i}" for i in range(6)],
                             "v_vector_": [[float(i), float(i % 2)] for i in range(6)]}), path)
    before = labels(client)
    out = shop.insert_documents(str(path))
    assert (out["updated"], out["labels_dropped"]) == (6, {})
    assert labels(client) == before


def test_reinsert_with_a_changed_vector_drops_that_label_and_says_so(client, shop):
    out = shop.insert_documents([
        {"_id": "d1", "v_vector_": [9.0, 9.0], "digit": 1},  # changed
        {"_id": "d2", "v_vector_": [2.0, 0.0], "digit": 2},  # unchanged
        {"_id": "d3", "digit": 3},                           # vector gone
    ])
    assert out["labels_dropped"] == {"v_vector_": {"km": 2}}
    got = labels(client)
    assert got["d1"] is None and got["d3"] is None and got["d2"] == 0
    assert got["d0"] == 0 and got["d5"] == 1  # documents not in the batch: untouched
    info = client.test_store.alias_info("shop", "v_vector_", "km")
    assert info["changed"] == 2 and info["created_at"] is not None


def test_labels_of_another_vector_field_survive_its_neighbour_changing(client, shop):
    shop.upsert_documents([{"_id": f"d{i}", "w_vector_": [1.0, float(i)]} for i in range(6)])
    client.vector_tools.cluster.set_cluster_labels("shop", "w_vector_", "wk",
                                                   {f"d{i}": i % 3 for i in range(6)})
    out = shop.upsert_documents([{"_id": "d4", "v_vector_": [7.0, 7.0]}])
    assert out["labels_dropped"] == {"v_vector_": {"km": 1}}
    assert labels(client)["d4"] is None
    assert labels(client, "wk", "w_vector_")["d4"] == 1


def test_upsert_with_the_same_vector_keeps_labels(client, shop):
    before = labels(client)
    out = shop.upsert_documents([{"_id": "d1", "v_vector_": [1.0, 1.0], "title": "x"},
                                 {"_id": "d2", "title": "y"}])
    assert out["labels_dropped"] == {} and labels(client) == before


def test_a_label_given_in_the_batch_wins(client, shop):
    out = shop.insert_documents([{"_id": "d1", "v_vector_": [5.0, 5.0],
                                  "_cluster_": {"v_vector_": {"km": 7}}}])
    assert out["labels_dropped"] == {}
    assert labels(client)["d1"] == 7


def test_deleted_documents_count_as_changed_for_their_aliases(client, shop):
    assert shop.delete_documents(["d0", "d1"]) == 2
    assert client.test_store.alias_info("shop", "v_vector_", "km")["changed"] == 2
    client.vector_tools.cluster.set_cluster_labels("shop", "v_vector_", "km",
                                                   {f"d{i}": 0 for i in range(2, 6)})
    assert client.test_store.alias_info("shop", "v_vector_", "km")["changed"] == 0  # made anew


def test_a_store_made_before_the_changed_count_opens(tmp_path):
    import duckdb
    path = str(tmp_path / "old.duckdb")
    con = duckdb.connect(path)
    con.execute("CREATE TABLE aliases (dataset VARCHAR, vector_field VARCHAR, alias VARCHAR, "
                "method VARCHAR, params VARCHAR, centroids FLOAT[][], created_at TIMESTAMP "
                "DEFAULT current_timestamp)")
    con.execute("INSERT INTO aliases (dataset, vector_field, alias, method, params) VALUES "
                "('x', 'v_vector_', 'a', 'custom', '{}')")
    con.close()
    with Client(path=path) as client:
        assert client.api.store.alias_info("x", "v_vector_", "a")["changed"] == 0


# -- 2. types never change a value ------------------------------------------------------------

def test_decimal_upserted_into_an_integer_field_widens_it(client, shop):
    out = shop.upsert_documents([{"_id": "d0", "digit": 7.5}])
    assert out["widened"] == {"digit": "BIGINT -> DOUBLE"}
    assert shop.schema["digit"] == "DOUBLE"
    assert shop.get_documents(["d0", "d3"]) == [
        {"_id": "d0", "v_vector_": [0.0, 0.0], "digit": 7.5, "title": "t0",
         "_cluster_": {"v_vector_": {"km": 0}}},
        {"_id": "d3", "v_vector_": [3.0, 1.0], "digit": 3.0, "title": "t3",
         "_cluster_": {"v_vector_": {"km": 1}}}]


def test_decimal_inserted_into_an_integer_field_widens_it(client, shop):
    out = shop.insert_documents([{"_id": "n", "digit": 2.5}])
    assert out["widened"] == {"digit": "BIGINT -> DOUBLE"}
    assert shop.get_documents(["n"])[0]["digit"] == 2.5


def test_whole_floats_into_an_integer_field_keep_it(client, shop):
    out = shop.upsert_documents(pd.DataFrame({"_id": ["d0", "d1"], "digit": [8.0, np.nan]}))
    assert out["widened"] == {} and shop.schema["digit"] == "BIGINT"
    assert [d.get("digit") for d in shop.get_documents(["d0", "d1"])] == [8, 1]


def test_decimals_late_in_a_parquet_file_widen_the_field(client, shop, tmp_path, monkeypatch):
    from clustermetrics import documents
    monkeypatch.setattr(documents, "PIECE_ROWS", 2)
    path = tmp_path / "late.parquet"
    pq.write_table(pa.table({"_id": [f"p{i}" for i in range(6)],
                             "digit": [1.0, 2.0, 3.0, 4.0, 5.0, 6.5]}), path)
    out = shop.insert_documents(str(path))
    assert out["widened"] == {"digit": "BIGINT -> DOUBLE"}
    assert shop.get_documents(["p5"])[0]["digit"] == 6.5


def test_text_into_an_integer_field_is_refused(client, shop):
    before = snapshot(client)
    with pytest.raises(cm.SchemaError, match=r"Field 'digit' of dataset 'shop' is stored as "
                                             r"BIGINT, but 1 document gives text \(first: _id "
                                             r"'d2', value 'two'\)\. Nothing of this batch was "
                                             r"written: convert those values to integers"):
        shop.upsert_documents([{"_id": "d1", "title": "ok"}, {"_id": "d2", "digit": "two"}])
    assert snapshot(client) == before


def test_number_into_a_text_field_is_refused(client, shop):
    before = snapshot(client)
    with pytest.raises(cm.SchemaError, match=r"'title' of dataset 'shop' is stored as VARCHAR, "
                                             r"but 2 documents give integers \(first: _id 'a'"):
        shop.insert_documents([{"_id": "a", "title": 5}, {"_id": "b", "title": 6}])
    assert snapshot(client) == before


def test_integer_too_large_for_a_double_into_a_double_field_is_refused(client, shop):
    shop.upsert_documents([{"_id": "d0", "digit": 0.5}])
    before = snapshot(client)
    with pytest.raises(cm.SchemaError, match=r"'digit' .* stored as DOUBLE, but 1 document "
                                             r"gives integers too large to be exact doubles "
                                             r"\(first: _id 'd1', value 9007199254740993\)"):
        shop.upsert_documents([{"_id": "d1", "digit": 2**53 + 1}])
    assert snapshot(client) == before


def test_decimal_list_into_an_integer_list_widens_it(client):
    ds = client.Dataset("lists")
    ds.insert_documents([{"_id": "a", "tags": [1, 2]}])
    out = ds.insert_documents([{"_id": "b", "tags": [1.5, 2]}])
    assert out["widened"] == {"tags": "BIGINT[] -> DOUBLE[]"}
    assert ds.get_documents(["a", "b"]) == [{"_id": "a", "tags": [1.0, 2.0]},
                                            {"_id": "b", "tags": [1.5, 2.0]}]


def test_float32_field_widens_for_doubles_it_cannot_hold(client, tmp_path):
    ds = client.Dataset("f32")
    pq.write_table(pa.table({"_id": ["a"], "x": pa.array([0.5], pa.float32())}),
                   tmp_path / "a.parquet")
    ds.insert_documents(str(tmp_path / "a.parquet"))
    assert ds.schema["x"] == "FLOAT"
    assert ds.insert_documents([{"_id": "b", "x": 0.25}])["widened"] == {}
    assert ds.insert_documents([{"_id": "c", "x": 0.1}])["widened"] == {"x": "FLOAT -> DOUBLE"}
    assert ds.get_documents(["c"])[0]["x"] == 0.1


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), 1e39])
def test_vectors_with_nan_or_inf_are_refused_at_import(client, shop, bad):
    before = snapshot(client)
    docs = [{"_id": f"n{i}", "v_vector_": [1.0, 2.0]} for i in range(8)]
    for i in (2, 5, 6):
        docs[i]["v_vector_"] = [bad, 1.0]
    with pytest.raises(cm.SchemaError, match=r"Vector field 'v_vector_' has NaN or infinite "
                                             r"values .* in 3 documents \(first _id: 'n2', "
                                             r"'n5', 'n6'\)\. Nothing was written"):
        shop.insert_documents(docs)
    assert snapshot(client) == before


def test_nan_vector_in_a_numpy_array_is_refused(client, shop):
    before = snapshot(client)
    X = np.ones((4, 2))
    X[3, 1] = np.nan
    with pytest.raises(cm.SchemaError, match=r"in 1 document \(first _id: 'x3'\)"):
        shop.upsert_documents(X, ids=[f"x{i}" for i in range(4)], vector_field="v_vector_")
    assert snapshot(client) == before


# -- 3. a field declared a vector after the fact ---------------------------------------------

@pytest.fixture
def unrecognised(client):
    """Embeddings imported under a name without _vector_: stored as DOUBLE[]."""
    ds = client.Dataset("emb")
    ds.insert_documents([{"_id": f"e{i}", "embedding": [float(i), 0.5, -1.0]}
                         for i in range(5)] + [{"_id": "none"}])
    assert ds.schema["embedding"] == "DOUBLE[]"
    return ds


def test_set_vector_field_converts_lists_of_one_length(client, unrecognised):
    out = client.test_store.set_vector_field("emb", "embedding")
    assert out == {"dataset": "emb", "field": "embedding", "from": "DOUBLE[]",
                   "to": "FLOAT[3]", "documents": 5}
    assert client.test_store.vector_fields("emb") == {"embedding": 3}
    assert unrecognised.get_documents(["e2", "none"]) == [
        {"_id": "e2", "embedding": [2.0, 0.5, -1.0]}, {"_id": "none"}]
    # imports now treat the field as a vector, without a flag
    unrecognised.insert_documents([{"_id": "e9", "embedding": [1, 2, 3]}])
    assert unrecognised.schema["embedding"] == "FLOAT[3]"


def test_set_vector_field_refuses_lists_of_other_lengths(client, unrecognised):
    unrecognised.insert_documents([{"_id": "short", "embedding": [1.0, 2.0]},
                                   {"_id": "long", "embedding": [1.0, 2.0, 3.0, 4.0]}])
    before = snapshot(client, "emb")
    with pytest.raises(cm.SchemaError, match=r"'embedding' cannot become a vector field: 5 "
                                             r"documents have 3 values but 2 have another "
                                             r"length \(first: 'short' \(2 values\), 'long' "
                                             r"\(4 values\)\)\. Nothing was changed"):
        client.test_store.set_vector_field("emb", "embedding")
    assert snapshot(client, "emb") == before


def test_set_vector_field_refuses_nan_and_nulls_inside(client, unrecognised):
    unrecognised.insert_documents([{"_id": "nan", "embedding": [float("nan"), 1.0, 2.0]},
                                   {"_id": "hole", "embedding": [None, 1.0, 2.0]}])
    before = snapshot(client, "emb")
    with pytest.raises(cm.SchemaError, match=r"2 documents have null, NaN or infinite values "
                                             r".*\(first _id: 'hole', 'nan'\)"):
        client.test_store.set_vector_field("emb", "embedding")
    assert snapshot(client, "emb") == before


def test_set_vector_field_refuses_a_field_that_is_not_lists_of_numbers(client, shop):
    before = snapshot(client)
    with pytest.raises(cm.InvalidInputError, match=r"^Field 'title' of dataset 'shop' is text, "
                                                   r"and not all of it is lists of numbers such "
                                                   r"as \[1\.0, 2\.0\] \(first: _id 'd0': 't0'; "
                                                   r"_id 'd1': 't1'; _id 'd2': 't2'\); only a "
                                                   r"field of lists of numbers can become"):
        client.test_store.set_vector_field("shop", "title")
    with pytest.raises(cm.InvalidInputError, match=r"^Field 'digit' of dataset 'shop' is "
                                                   r"BIGINT; only a field of lists of numbers"):
        client.test_store.set_vector_field("shop", "digit")
    with pytest.raises(cm.NotFoundError, match=r"field 'titel' not found in dataset 'shop'. "
                                               r"Did you mean 'title'\?"):
        client.test_store.set_vector_field("shop", "titel")
    assert snapshot(client) == before


def test_import_declaring_a_stored_list_field_a_vector_says_how(client, unrecognised):
    before = snapshot(client, "emb")
    with pytest.raises(cm.SchemaError, match=r"Field 'embedding' of dataset 'emb' is stored as "
                                             r"DOUBLE\[\], not as a vector field\. Make it one "
                                             r"first \(clustermetrics datasets set-vector emb "
                                             r"embedding, or Dataset.set_vector_field"):
        unrecognised.insert_documents([{"_id": "e1", "embedding": [1, 2, 3]}],
                                      vector_fields=["embedding"])
    assert snapshot(client, "emb") == before


def test_a_declared_vector_field_no_document_has_is_a_typo(client, tmp_path):
    path = tmp_path / "emb.jsonl"
    path.write_text('{"_id": "a", "embedding": [1, 2]}\n')
    with pytest.raises(cm.NotFoundError, match=r"vector field 'embeding' not found in the "
                                               r"documents. Did you mean 'embedding'\?"):
        client.Dataset("emb").insert_documents(str(path), vector_fields=["embeding"])
    assert client.list_datasets() == []


# -- bad files and documents: one clear error, nothing written --------------------------------

def _refused(client, ds, data, error, pattern, **kw):
    before = snapshot(client, ds.dataset_id)
    datasets = client.list_datasets()
    with pytest.raises(error, match=pattern):
        ds.insert_documents(data, **kw)
    assert snapshot(client, ds.dataset_id) == before
    assert client.list_datasets() == datasets


@pytest.mark.parametrize("ext", ["jsonl", "csv", "parquet", "json"])
def test_empty_file(client, shop, tmp_path, ext):
    path = tmp_path / f"empty.{ext}"
    path.write_bytes(b"")
    _refused(client, shop, str(path), cm.InvalidInputError,
             rf"The file .*empty\.{ext} is empty: there are no documents in it\. Nothing was "
             "imported")


def test_csv_with_only_a_header_is_refused_as_an_empty_file_is(client, shop, tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("_id,digit\n")
    _refused(client, shop, str(path), cm.InvalidInputError,
             r"^The file .*header\.csv holds no documents \(no rows after its header\)\. "
             r"Nothing was imported\.$")


def test_truncated_jsonl(client, shop, tmp_path):
    path = tmp_path / "cut.jsonl"
    path.write_text('{"_id": "a", "digit": 1}\n\n{"_id": "b", "digit": 2}\n{"_id": "c", "dig')
    _refused(client, shop, str(path), cm.InvalidInputError,
             r"Line 4 of .*cut\.jsonl is not valid JSON \(.*\); the file may be truncated\. "
             r"Nothing was imported; fix or remove that line")


@pytest.mark.parametrize("cut", [0.5, 0.98])
def test_truncated_parquet(client, shop, tmp_path, cut):
    full = tmp_path / "full.parquet"
    pq.write_table(pa.table({"_id": [f"p{i}" for i in range(2000)],
                             "digit": list(range(2000))}), full)
    data = full.read_bytes()
    path = tmp_path / "cut.parquet"
    path.write_bytes(data[:int(len(data) * cut)])
    _refused(client, shop, str(path), cm.InvalidInputError,
             r"Cannot read .*cut\.parquet as Parquet \(.*\): the file may be truncated or in "
             r"another format\. Nothing was imported")


def test_csv_named_parquet(client, shop, tmp_path):
    path = tmp_path / "really.parquet"
    path.write_text("_id,digit\na,1\n")
    _refused(client, shop, str(path), cm.InvalidInputError,
             r"Cannot read .*really\.parquet as Parquet")


def test_jsonl_vector_field_list_then_string(client, shop, tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text('{"_id": "a", "v_vector_": [1, 2]}\n{"_id": "b", "v_vector_": "[1, 2]"}\n')
    _refused(client, shop, str(path), cm.SchemaError,
             r"Field 'v_vector_' is a list in line 1 \(_id 'a'\) but a string in line 2 "
             r"\(_id 'b'\) in .*mixed\.jsonl\. Nothing was imported; make the field hold one "
             r"kind of value")


def test_jsonl_line_that_is_not_a_document(client, shop, tmp_path):
    path = tmp_path / "list.jsonl"
    path.write_text('{"_id": "a"}\n[1, 2]\n')
    _refused(client, shop, str(path), cm.InvalidInputError,
             r"Line 2 of .*list\.jsonl holds a list, not a document")


def test_json_file_holding_an_array_of_documents_is_read(client, shop, tmp_path):
    path = tmp_path / "docs.json"
    path.write_text(json.dumps([{"_id": "j1", "v_vector_": [1, 2], "digit": 4},
                                {"_id": "j2", "title": "x"}]))
    assert shop.insert_documents(str(path))["inserted"] == 2
    assert shop.get_documents(["j1"]) == [{"_id": "j1", "v_vector_": [1.0, 2.0], "digit": 4}]


def test_json_array_of_other_things_is_refused(client, shop, tmp_path):
    path = tmp_path / "nums.json"
    path.write_text("[1, 2, 3]")
    _refused(client, shop, str(path), cm.InvalidInputError,
             r"nums\.json holds an array whose item 0 is a number, not a document")


def test_json_array_cut_short_is_refused(client, shop, tmp_path):
    path = tmp_path / "cut.json"
    path.write_text('[{"_id": "a"}, {"_id": "b"')
    _refused(client, shop, str(path), cm.InvalidInputError,
             r"cut\.json: it starts as a JSON array but is not valid JSON .*truncated")


def test_unknown_extension_and_folder(client, shop, tmp_path):
    path = tmp_path / "docs.xlsx"
    path.write_text("x")
    _refused(client, shop, str(path), cm.InvalidInputError, r"Unknown file type for .*docs\.xlsx")
    _refused(client, shop, str(tmp_path), cm.InvalidInputError, r"is a folder; give a Parquet")


def test_python_documents_mixing_nested_and_scalar_values(client, shop):
    _refused(client, shop, [{"_id": "a", "price": {"eur": 10}}, {"_id": "b", "price": 12}],
             cm.SchemaError,
             r"Field 'price' is an object in document 'a' but a number in document 'b'\. "
             r"Nothing was written; make the field hold one kind of value")


def test_python_documents_mixing_text_and_numbers(client, shop):
    _refused(client, shop, [{"_id": "a", "size": 42}, {"_id": "b", "size": "M"}],
             cm.SchemaError, r"Field 'size' is a number in document 'a' but a string in "
                             r"document 'b'")


def test_python_documents_deep_conflict_without_ids(client, shop):
    _refused(client, shop, [{"a": {"b": {"c": 1}}}, {"a": {"b": True}}], cm.SchemaError,
             r"Field 'a\.b' is an object in document 0 but a boolean in document 1")


def test_dataset_name_differing_only_in_case(client, shop):
    before = snapshot(client)
    with pytest.raises(cm.InvalidInputError, match=r"Dataset 'Shop' differs from the existing "
                                                   r"dataset 'shop' only in case.*Use 'shop'"):
        client.Dataset("Shop").insert_documents([{"_id": "x"}])
    with pytest.raises(cm.NotFoundError, match=r"dataset 'SHOP' not found\. Did you mean "
                                               r"'shop'\?"):
        client.Dataset("SHOP").get_documents(["d1"])
    assert snapshot(client) == before and client.list_datasets() == ["shop"]


# -- 6. reader threads and store paths -------------------------------------------------------

def _new_threads(before: set) -> list:
    """Threads started since ``before`` that are still alive (given a moment to end)."""
    for _ in range(40):
        extra = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not extra:
            return []
        threading.Event().wait(0.05)
    return extra


@pytest.mark.parametrize("where", ["first", "last"])
def test_reader_thread_ends_with_a_failed_parquet_import(client, shop, tmp_path, monkeypatch,
                                                         where):
    from clustermetrics import documents
    monkeypatch.setattr(documents, "PIECE_ROWS", 4)
    vectors = [[float(i), 1.0] for i in range(40)]
    vectors[1 if where == "first" else 38] = [1.0]
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"_id": [f"b{i}" for i in range(40)], "v_vector_": vectors}), path)
    before, threads = snapshot(client), set(threading.enumerate())
    with pytest.raises(cm.SchemaError):
        shop.insert_documents(str(path))
    gc.collect()
    assert _new_threads(threads) == []
    assert snapshot(client) == before


def test_reader_thread_ends_when_the_database_write_fails(client, shop, tmp_path, monkeypatch):
    from clustermetrics import documents
    monkeypatch.setattr(documents, "PIECE_ROWS", 4)
    path = tmp_path / "many.parquet"
    pq.write_table(pa.table({"_id": [f"m{i}" for i in range(40)], "n": list(range(40))}), path)
    calls = []

    def stop(stage, rows, total):
        calls.append(rows)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the user presses Ctrl-C mid-import

    before, threads = snapshot(client), set(threading.enumerate())
    with pytest.raises(KeyboardInterrupt):
        shop.insert_documents(str(path), progress=stop)
    assert _new_threads(threads) == []
    assert snapshot(client) == before


def test_store_path_that_is_a_folder(tmp_path):
    with pytest.raises(cm.StoreError, match=r"The store path .* is a folder; give the path of "
                                            r"a file, for example .*store\.duckdb"):
        Client(path=str(tmp_path))


@pytest.mark.parametrize("content", [b"", b"hello, not a database" * 100])
def test_store_path_that_is_not_a_duckdb_file(tmp_path, content):
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    with pytest.raises(cm.StoreError, match=r"notes\.txt is not a clustermetrics store \(not a "
                                            r"DuckDB database file\)") as err:
        Client(path=str(path))
    assert not isinstance(err.value, cm.StoreLockedError)
    assert path.read_bytes() == content


def test_store_path_under_a_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(cm.StoreError, match=r"Cannot make the folder for the store"):
        Client(path=str(blocker / "store.duckdb"))


@pytest.mark.parametrize("name", ["products.csv", "products.parquet", "products.jsonl"])
@pytest.mark.parametrize("exists", [True, False], ids=["existing file", "new file"])
def test_store_path_that_names_a_data_file(tmp_path, name, exists):
    """DuckDB would open such a path as a throwaway in-memory database: writes would vanish."""
    path = tmp_path / name
    if exists:
        path.write_bytes(b"_id,title\np1,a\n")
    with pytest.raises(cm.StoreError, match=rf"{name} names a \.\w+ data file, not a store: .*"
                                            rf"clustermetrics import DATASET"):
        Client(path=str(path))
    assert (path.read_bytes() == b"_id,title\np1,a\n") if exists else not path.exists()


def test_cli_refuses_a_data_file_as_the_store(tmp_path):
    from click.testing import CliRunner

    from clustermetrics.cli import main

    docs = tmp_path / "docs.jsonl"
    docs.write_text('{"_id": "a", "v_vector_": [1.0, 2.0]}\n')
    res = CliRunner().invoke(main, ["import", "x", str(docs), "--path", str(tmp_path / "s.csv")])
    assert res.exit_code == 1
    assert "names a .csv data file, not a store" in res.output
    assert not (tmp_path / "s.csv").exists()


# -- import messages that name the document at fault -------------------------------------------

def test_csv_vector_text_that_is_not_numbers_names_that_row_and_value(client, shop, tmp_path):
    path = tmp_path / "p.csv"
    rows = ["_id,v_vector_"] + [f'p{i},"[{i}.0, 1.0]"' for i in range(4)] + ['x1,"[1.0, abc]"']
    path.write_text("\n".join(rows) + "\n")
    before = snapshot(client)
    with pytest.raises(cm.SchemaError) as info:
        client.Dataset("shop").insert_documents(str(path))
    assert str(info.value) == (
        "Vector field 'v_vector_' must hold lists of numbers such as [1.0, 2.0]; 1 document "
        "holds other text (_id 'x1': '[1.0, abc]'). Nothing was written; fix those values, or "
        "store plain text under a name that does not end in '_vector_'.")
    assert "p0000" not in str(info.value) and "'p0'" not in str(info.value)
    assert snapshot(client) == before


def test_set_vector_field_converts_text_holding_lists_of_numbers(client, tmp_path):
    path = tmp_path / "e.csv"  # a CSV vector column not named *_vector_: stored as text
    path.write_text("_id,embedding\na,\"[1.0, 2.0]\"\nb,\"[3.0, 4.0]\"\nc,\n")
    client.Dataset("emb").insert_documents(str(path))
    assert client.test_store.schema("emb")["embedding"] == "VARCHAR"
    info = client.test_store.set_vector_field("emb", "embedding")
    assert info == {"dataset": "emb", "field": "embedding", "from": "VARCHAR",
                    "to": "FLOAT[2]", "documents": 2}
    docs = client.Dataset("emb").get_documents(["a", "b", "c"])
    assert [d.get("embedding") for d in docs] == [[1.0, 2.0], [3.0, 4.0], None]


def test_set_vector_field_refuses_text_of_another_length_or_not_numbers(client, tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("_id,embedding\na,\"[1.0, 2.0]\"\nb,\"[1.0, abc]\"\n")
    client.Dataset("emb").insert_documents(str(path))
    before = snapshot(client, "emb")
    with pytest.raises(cm.InvalidInputError, match=r"^Field 'embedding' of dataset 'emb' is "
                                                   r"text, and not all of it is lists of numbers "
                                                   r"such as \[1\.0, 2\.0\] \(first: _id 'b': "
                                                   r"'\[1\.0, abc\]'\)"):
        client.test_store.set_vector_field("emb", "embedding")
    assert snapshot(client, "emb") == before


def test_a_value_field_with_a_dotted_field_under_it_names_the_dotted_field(client, shop):
    shop.upsert_documents([{"_id": "d1", "price.eur": 3.5}])
    before = snapshot(client)
    with pytest.raises(cm.SchemaError) as info:
        shop.upsert_documents([{"_id": "d2", "price": 4.0}])
    assert str(info.value) == ("Field name collision: 'price' is a value but the field "
                               "'price.eur' is nested under it (a dot in a name nests it). "
                               "Rename one of them.")
    assert snapshot(client) == before


@pytest.mark.parametrize("column", ["_cluster_.foo", "_cluster_..mine", "_cluster_.v_vector_.a b"])
def test_label_fields_that_name_no_alias_are_refused(client, column):
    ds = client.Dataset("labelled")
    ds.insert_documents([{"_id": "a", "v_vector_": [1.0, 2.0]}])
    with pytest.raises(cm.InvalidInputError, match=r"_cluster_|alias"):
        ds.insert_documents([{"_id": "b", "v_vector_": [0.5, 1.0], column: 1}])
    assert len(ds) == 1 and client.vector_tools.cluster.list_aliases("labelled") == []
    assert column not in client.api.describe_dataset("labelled")["fields"]
