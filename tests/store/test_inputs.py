"""What documents may hold, embedded and remote alike: the same type and name checks refuse the
same input with the same words (``client`` runs each test on both), before anything is
written; what a caller's own data often holds (categoricals, pandas' large strings) is made
plain on the caller's side and stored."""

from __future__ import annotations

import datetime as dt
import decimal
import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from clustermetrics import errors
from clustermetrics.arrowcheck import check_schema
from clustermetrics.documents import label_array, new_ids

BAD = {
    "map": (pa.array([[("a", 1)]], pa.map_(pa.string(), pa.int64())),
            r"map<string, int64>, which the store does not hold: store it as a nested document"),
    "union": (pa.UnionArray.from_sparse(pa.array([0], pa.int8()),
                                        [pa.array([1]), pa.array(["a"])]),
              r"sparse_union<.*give the field one type"),
    "blob": (pa.array([b"\x00\x01"]), r"binary, which the store does not hold: store text"),
    "price": (pa.array([decimal.Decimal("1.50")]),
              r"decimal128\(3, 2\), which the store does not hold: convert it to float64"),
    "wait": (pa.array([dt.timedelta(seconds=3)]), r"duration\[us\].*seconds as float64"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_a_type_the_store_does_not_hold_is_refused_before_anything_is_written(client, name):
    column, pattern = BAD[name]
    table = pa.table({"_id": ["a"], name: column})
    with pytest.raises(errors.SchemaError, match=rf"^Column '{name}' has the Arrow type "
                                                  rf"{pattern}.*Nothing was written\.$"):
        client.Dataset("typed").insert_documents(table)
    assert "typed" not in client.list_datasets()


def test_decimals_in_python_documents_are_refused_naming_the_field(client):
    with pytest.raises(errors.SchemaError, match=r"^Column 'price' has the Arrow type "
                                                  r"decimal128\(3, 2\)"):
        client.Dataset("shop").insert_documents([{"_id": "a", "price": decimal.Decimal("9.99")}])


def test_a_duplicate_column_name_is_refused_not_a_key_error(client):
    table = pa.Table.from_arrays([pa.array(["a"]), pa.array([1]), pa.array([2])],
                                 names=["_id", "x", "x"])
    with pytest.raises(errors.SchemaError, match=r"^Column name 'x' appears more than once; "
                                                  r"give each field one column"):
        client.Dataset("dup").insert_documents(table)


def test_a_duplicate_column_of_a_dataframe_is_refused(client):
    frame = pd.DataFrame([["a", 1, 2]], columns=["_id", "x", "x"])
    with pytest.raises(errors.SchemaError, match=r"^Column name 'x' appears more than once in "
                                                  r"the DataFrame"):
        client.Dataset("dup").insert_documents(frame)


def test_a_dotted_column_beside_the_same_nested_field_is_refused(client):
    table = pa.table({"_id": ["a"], "a.b": [1], "a": pa.array([{"b": 2}])})
    with pytest.raises(errors.SchemaError, match=r"^Field 'a.b' is given twice"):
        client.Dataset("dup").insert_documents(table)


@pytest.mark.parametrize("name, shown", [("t\x00", r"'t\\x00'"), ("title\n", r"'title\\n'"),
                                         ("a\tb", r"'a\\tb'")],
                         ids=["nul", "trailing newline", "tab"])
def test_a_control_character_in_a_field_name_is_refused(client, name, shown):
    with pytest.raises(errors.SchemaError, match=rf"^Column name {shown} holds the control "
                                                  r"character"):
        client.Dataset("names").insert_documents([{"_id": "a", name: 1}])


def test_a_nested_field_name_is_checked_too(client):
    with pytest.raises(errors.SchemaError, match=r"^Column name 'meta.x\\x00' holds the "
                                                  r"control character"):
        client.Dataset("names").insert_documents([{"_id": "a", "meta": {"x\x00": 1}}])


def test_categoricals_and_large_strings_are_stored_as_plain_values(client):
    frame = pd.DataFrame({"_id": ["a", "b", "c"],
                          "kind": pd.Categorical(["cat", "dog", "cat"]),
                          "size": pd.Categorical([1, 2, 1]),
                          "title": pd.array(["x", "y", None], dtype="string[pyarrow]")})
    assert pa.Table.from_pandas(frame).schema.field("kind").type.id == pa.dictionary(
        pa.int8(), pa.string()).id  # what pandas hands Arrow
    client.Dataset("plain").insert_documents(frame)
    assert client.Dataset("plain").schema == {"_id": "VARCHAR", "kind": "VARCHAR",
                                              "size": "BIGINT", "title": "VARCHAR"}
    assert client.Dataset("plain").get_documents(["b", "c"]) == [
        {"_id": "b", "kind": "dog", "size": 2, "title": "y"}, {"_id": "c", "kind": "cat",
                                                               "size": 1}]


def test_large_lists_in_an_arrow_table_are_stored_as_lists(client):
    table = pa.table({"_id": ["a"], "tags": pa.array([["x", "y"]],
                                                     pa.large_list(pa.large_string()))})
    client.Dataset("lists").insert_documents(table)
    assert client.Dataset("lists").get_documents(["a"]) == [{"_id": "a", "tags": ["x", "y"]}]


def test_documents_without_ids_get_uuid4_hex_ids():
    ids = new_ids(1000).to_pylist()
    assert len(set(ids)) == 1000
    import uuid
    assert all(uuid.UUID(i).version == 4 and uuid.UUID(i).hex == i for i in ids[:50])


def test_the_type_check_names_a_deeply_nested_column():
    t: pa.DataType = pa.int64()
    for _ in range(20):
        t = pa.list_(t)
    with pytest.raises(errors.SchemaError, match=r"^Column 'deep(\[\])+' has the Arrow type "
                                                  r".*nests lists and structs deeper than 16"):
        check_schema(pa.schema([("deep", t)]))


def test_a_vector_longer_than_duckdb_holds_is_refused():
    with pytest.raises(errors.SchemaError, match=r"holds 200000 values per list; vectors hold "
                                                  r"from 1 to 100,000"):
        check_schema(pa.schema([("v_vector_", pa.list_(pa.float32(), 200_000))]))


# -- labels (issue 18 item 12) --------------------------------------------------------------

@pytest.fixture
def vectors(client):
    X = np.random.default_rng(3).normal(size=(6, 3))
    client.Dataset("v").insert_documents(X, ids=[f"d{i}" for i in range(6)],
                                         vector_field="emb")
    return client.vector_tools.cluster


def test_labels_mixing_strings_and_integers_name_the_ids_and_what_to_do(vectors):
    labels = {"d0": "a", "d1": "b", "d2": -1, "d3": "a", "d4": "b", "d5": -1}
    with pytest.raises(errors.InvalidInputError, match=(
            r"^Labels mix numbers and strings \(_id 'd2': -1; _id 'd0': 'a'\); give every "
            r"label one kind: strings throughout \(noise as '-1' or 'noise', with "
            r"noise_label='-1' or 'noise'\), or integers throughout\. No labels were "
            r"written\.$")):
        vectors.set_cluster_labels("v", "emb", "named", labels, noise_label=-1)
    assert vectors.list_aliases("v") == []


def test_string_labels_with_a_string_noise_label_are_stored(vectors):
    labels = {"d0": "a", "d1": "b", "d2": "-1", "d3": "a", "d4": "b", "d5": "-1"}
    vectors.set_cluster_labels("v", "emb", "named", labels, noise_label="-1")
    assert vectors.describe_alias("v", "emb", "named")["sizes"] == {"-1": 2, "a": 2, "b": 2}


@pytest.mark.parametrize("labels", [[None, None], [float("nan"), None]], ids=["none", "nan"])
def test_labels_that_leave_every_document_unlabelled_make_no_alias(vectors, labels):
    vectors.set_cluster_labels("v", "emb", "kept", {"d0": 1, "d1": 2})
    with pytest.raises(errors.InvalidInputError, match=(
            r"^Every one of the 2 labels is None or NaN: an alias needs at least one document "
            r"in a cluster \(None leaves a document unlabelled\)\. No labels were written\.$")):
        vectors.set_cluster_labels("v", "emb", "kept", dict(zip(["d0", "d1"], labels, strict=True)))
    assert vectors.describe_alias("v", "emb", "kept")["sizes"] == {1: 1, 2: 1}


def test_one_label_that_is_none_is_said_in_the_singular():
    with pytest.raises(errors.InvalidInputError, match=r"^The only label is None or NaN: "):
        label_array([None], ["x"])


@pytest.mark.parametrize("bad, pattern", [
    (float("inf"), r"^The label of _id 'x' is inf; labels are integers or strings"),
    (10**30, r"^The label of _id 'x' \(10{30}\) is beyond 64-bit integers"),
    (1e300, r"^Some labels are whole numbers beyond 64-bit integers"),
], ids=["inf", "huge int", "huge float"])
def test_labels_that_are_no_label_are_refused(bad, pattern):
    with pytest.raises(errors.InvalidInputError, match=pattern):
        label_array([bad], ["x"])


def test_whole_float_labels_are_integers_and_nan_is_unlabelled():
    assert label_array([1.0, float("nan"), 3.0], "abc").to_pylist() == [1, None, 3]
    assert label_array(np.array([0.5, 2.0]), "ab").to_pylist() == ["0.5", "2"]


# -- an empty vector field round-trips (issue 18 item 13) -----------------------------------

@pytest.mark.parametrize("ext", ["parquet", "csv", "jsonl"])
def test_a_dataset_whose_vector_field_is_empty_exports_and_imports_back(client, tmp_path, ext):
    ds = client.Dataset("src")
    ds.insert_documents([{"_id": "1", "x": 1, "v_vector_": [1.0, 2.0]},
                         {"_id": "2", "x": 2, "v_vector_": None}])
    ds.delete_documents(["1"])  # the vector field stays, held by no document
    path = os.path.join(tmp_path, f"out.{ext}")
    ds.export(path)
    back = client.Dataset("back")
    assert back.insert_documents(path)["inserted"] == 1
    assert back.get_documents(["2"]) == [{"_id": "2", "x": 2}]
    # Parquet keeps the dimension; CSV and JSON lines cannot tell it
    assert back.schema["v_vector_"] == ("FLOAT[2]" if ext == "parquet" else "FLOAT[]")
