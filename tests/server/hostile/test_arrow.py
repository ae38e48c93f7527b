"""Hostile Arrow uploads: each is refused before native code trusts it, the server lives on and
the victim's data is unchanged.

The server runs with small caps (``SERVE_OPTIONS``), so the payloads that cross them stay a few
kilobytes: a compressed stream that inflates past ``--max-arrow-mb``, columns that declare more
rows than ``--max-rows`` without carrying data.
"""

from __future__ import annotations

import base64
import decimal
import re
import struct

import numpy as np
import pyarrow as pa
import pytest

SERVE_OPTIONS = ("--max-rows", "100000", "--max-arrow-mb", "1")
ARROW = "application/vnd.apache.arrow.stream"


def _ipc(table: pa.Table, **options) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema,
                           options=pa.ipc.IpcWriteOptions(**options)) as writer:
        writer.write(table)
    return sink.getvalue().to_pybytes()


def _upload(server, body: bytes, dataset: str = "attack"):
    with server.http(server.attacker) as http:
        return http.post(f"/v1/datasets/{dataset}/documents", content=body,
                         headers={"Content-Type": ARROW})


def _refused(server, response, status: int, code: str, pattern: str, dataset: str = "attack"):
    """The status, code and message of a refusal; the server alive, nothing written, the
    victim unchanged."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert re.search(pattern, error["message"]), error["message"]
    server.assert_alive()
    with server.http(server.attacker) as http:
        assert dataset not in http.get("/v1/datasets").json()["datasets"]
    server.assert_victim_unchanged()


def _patched(body: bytes, old: bytes, new: bytes) -> bytes:
    assert body.count(old) == 1, "the bytes to patch must be found once"
    return body.replace(old, new)


# -- what leaked heap bytes or crashed the server -----------------------------------------

def test_dictionary_indices_beyond_the_dictionary_are_refused(server):
    column = pa.DictionaryArray.from_arrays(pa.array([0, 5000], pa.int32()), pa.array(["a"]),
                                            safe=False)
    r = _upload(server, _ipc(pa.table({"_id": ["a", "b"], "kind": column})))
    _refused(server, r, 422, "schema", r"Column 'kind' has the Arrow type dictionary<values="
             r"string, indices=int32.*decode it to its values")


def test_string_offsets_beyond_the_data_buffer_are_refused(server):
    good = _ipc(pa.table({"_id": ["abc", "def"]}))
    bad = _patched(good, np.array([0, 3, 6], np.int32).tobytes(),
                   np.array([0, 3, 10**6], np.int32).tobytes())
    _refused(server, _upload(server, bad), 422, "invalid_input",
             r"malformed record batch \(.*offset.*out of bounds.*\); nothing was written")


def test_a_truncated_stream_is_refused(server):
    body = _ipc(pa.table({"_id": [f"d{i}" for i in range(100)]}))
    _refused(server, _upload(server, body[: len(body) - 50]), 422, "invalid_input",
             r"not a valid Arrow IPC stream \(.*\); send the documents as an Arrow IPC stream")


def test_a_body_that_is_no_stream_is_refused(server):
    _refused(server, _upload(server, b"\xff\xff\xff\xff" + b"\x00" * 64), 422, "invalid_input",
             r"not a valid Arrow IPC stream \(it ends before its schema\)")


# -- what made gigabytes from kilobytes ----------------------------------------------------

def test_a_compressed_stream_that_inflates_past_the_cap_is_refused(server):
    zeros = pa.FixedSizeListArray.from_arrays(pa.array(np.zeros(10_000 * 64)), 64)
    body = _ipc(pa.table({"x_vector_": zeros}), compression="zstd")
    assert len(body) < 64 * 1024  # 5 MB of zeros in a few KB
    _refused(server, _upload(server, body), 413, "too_large",
             r"more than 1 MiB once decompressed, this server's limit \(clustermetrics serve "
             r"--max-arrow-mb\)")


def test_a_compressed_buffer_declaring_gigabytes_is_refused_before_it_is_inflated(server):
    body = _ipc(pa.table({"x": pa.array(np.zeros(1000))}), compression="zstd")
    declared = _patched(body, struct.pack("<q", 8000), struct.pack("<q", 6 * 2**30))
    _refused(server, _upload(server, declared), 413, "too_large",
             r"more than 1 MiB once decompressed.*--max-arrow-mb")


def test_a_compressed_stream_within_the_caps_is_read(server):
    table = pa.table({"_id": [f"z{i}" for i in range(1000)], "x": np.arange(1000.0)})
    r = _upload(server, _ipc(table, compression="lz4"), dataset="compressed")
    assert r.status_code == 200, r.text
    assert r.json()["inserted"] == 1000
    with server.http(server.attacker) as http:
        assert http.get("/v1/datasets/compressed/count").json() == {"count": 1000}
        assert http.delete("/v1/datasets/compressed").status_code == 204
    server.assert_alive()
    server.assert_victim_unchanged()


@pytest.mark.parametrize("rows", [10**7, 10**9])
def test_a_null_column_declaring_millions_of_rows_is_refused(server, rows):
    r = _upload(server, _ipc(pa.table({"nothing": pa.nulls(rows)})))
    _refused(server, r, 413, "too_large", r"more than 100,000 rows, this server's limit "
             r"\(clustermetrics serve --max-rows\): send the documents in smaller batches")


def test_a_list_of_nulls_declaring_millions_of_values_is_refused(server):
    column = pa.ListArray.from_arrays(pa.array([0, 10**7], pa.int32()), pa.nulls(10**7))
    r = _upload(server, _ipc(pa.table({"_id": ["a"], "empty": column})))
    _refused(server, r, 413, "too_large", r"null-typed columns declare more than 100,000 values"
             r".*--max-rows.*give those columns a type")


# -- types the store does not hold ---------------------------------------------------------

BAD_TYPES = {
    "map": (pa.array([[("a", 1)]], pa.map_(pa.string(), pa.int64())),
            r"map<string, int64>.*nested document \(a struct\)"),
    "union": (pa.UnionArray.from_sparse(pa.array([0], pa.int8()),
                                        [pa.array([1]), pa.array(["a"])]),
              r"sparse_union<.*give the field one type"),
    "binary": (pa.array([b"\x00\x01"]), r"binary, which .* not bytes"),
    "fixed_size_binary": (pa.array([b"ab"], pa.binary(2)), r"fixed_size_binary\[2\].*not bytes"),
    "decimal": (pa.array([decimal.Decimal("1.5")]),
                r"decimal128\(2, 1\).*convert it to float64"),
    "large_string": (pa.array(["a"], pa.large_string()),
                     r"large_string.*send it as string \(pa.string\(\)\)"),
    "string_view": (pa.array(["a"]).cast(pa.string_view()), r"string_view.*send it as string"),
    "run_end_encoded": (pa.RunEndEncodedArray.from_arrays([1], [7]),
                        r"run_end_encoded<.*decode it to plain values"),
    "duration": (pa.array([1], pa.duration("s")), r"duration\[s\].*seconds as float64"),
    "float16": (pa.array([np.float16(1.5)], pa.float16()), r"halffloat.*cast it to float32"),
    "extension": (pa.ExtensionArray.from_storage(pa.uuid(), pa.array([b"0" * 16], pa.binary(16))),
                  r"extension<arrow.uuid>.*send its storage type"),
    "struct_of_bytes": (pa.array([{"b": b"x"}], pa.struct([("b", pa.binary())])),
                        r"binary.*not bytes"),
    "empty_struct": (pa.array([{}], pa.struct([])), r"struct without fields"),
    "vector_of_strings": (pa.array([["a", "b"]], pa.list_(pa.string(), 2)),
                          r"fixed-size list of string; fixed-size lists hold numbers"),
}


@pytest.mark.parametrize("name", list(BAD_TYPES))
def test_a_type_the_store_does_not_hold_is_refused_naming_column_and_type(server, name):
    column, hint = BAD_TYPES[name]
    r = _upload(server, _ipc(pa.table({"_id": ["a"], name: column})))
    _refused(server, r, 422, "schema", rf"Column '{name}(\.b)?' has the Arrow type .*{hint}.*"
             r"Nothing was written")


# -- names ----------------------------------------------------------------------------------

@pytest.mark.parametrize("names, pattern", [
    (["_id", "x", "x"], r"Column name 'x' appears more than once; give each field one column"),
    (["_id", "a\x00b"], r"Column name 'a\\x00b' holds the control character '\\x00'"),
    (["_id", "title\n"], r"Column name 'title\\n' holds the control character '\\n'"),
    (["_id", ""], r"A column has an empty name; name every column"),
], ids=["duplicate", "nul", "trailing newline", "empty"])
def test_bad_column_names_are_refused_naming_them(server, names, pattern):
    table = pa.Table.from_arrays([pa.array(["a"])] + [pa.array([1])] * (len(names) - 1),
                                 names=names)
    _refused(server, _upload(server, _ipc(table)), 422, "schema", pattern)


def test_thousands_of_columns_are_refused(server):
    table = pa.table({f"c{i}": pa.array([1], pa.int8()) for i in range(5000)})
    _refused(server, _upload(server, _ipc(table)), 422, "schema",
             r"The documents have 5,000 fields; at most 4,096 are written at once")


def test_a_stream_without_columns_is_refused(server):
    _refused(server, _upload(server, _ipc(pa.table({}))), 422, "schema",
             r"The documents have no columns")


# -- Arrow inside JSON ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def vectors(server):
    """A dataset of the attacker's to aim jobs at."""
    from clustermetrics import Client
    X = np.random.default_rng(1).normal(size=(30, 4))
    with Client(url=server.url, api_key=server.attacker) as c:
        c.Dataset("vectors").insert_documents(X, ids=[f"p{i}" for i in range(30)],
                                               vector_field="v_vector_")
    return "vectors"


def _bad_offsets_blob() -> dict:
    good = _ipc(pa.table({"x": ["abc", "def"]}))
    bad = _patched(good, np.array([0, 3, 6], np.int32).tobytes(),
                   np.array([0, 3, 10**6], np.int32).tobytes())
    return {"__type__": "arrow", "ipc": base64.b64encode(bad).decode()}


def test_arrow_inside_model_parameters_is_refused(server, vectors):
    body = {"vector_field": "v_vector_",
            "model": {"cls": "sklearn.cluster.KMeans", "params": {"init": _bad_offsets_blob()}}}
    with server.http(server.attacker) as http:
        r = http.post(f"/v1/datasets/{vectors}/fit", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["message"].startswith(
        "model.params['init'] holds an encoded 'arrow'; a request's values are plain JSON")
    server.assert_alive()
    server.assert_victim_unchanged()


def test_arrow_inside_a_parameter_grid_is_refused(server, vectors):
    body = {"vector_field": "v_vector_", "model": {"cls": "sklearn.cluster.KMeans"},
            "param_grid": {"n_clusters": [2, _bad_offsets_blob()]}}
    with server.http(server.attacker) as http:
        r = http.post(f"/v1/datasets/{vectors}/sweep-grid", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["message"].startswith(
        "param_grid['n_clusters'][1] holds an encoded 'arrow'")
    server.assert_alive()
    server.assert_victim_unchanged()


@pytest.mark.parametrize("encoded, pattern", [
    ({"__type__": "DataFrame", "index": [], "columns": [], "dtypes": [], "data": []},
     r"holds an encoded 'DataFrame'"),
    ({"__type__": "ndarray", "dtype": "O", "shape": [1], "data": ""},
     r"holds a malformed 'ndarray' encoding"),
    ({"__type__": "ndarray", "dtype": "<f8", "shape": [10**6], "data": ""},
     r"holds a malformed 'ndarray' encoding"),
], ids=["dataframe", "object array", "array shorter than its shape"])
def test_other_encodings_in_model_parameters_are_refused(server, vectors, encoded, pattern):
    body = {"vector_field": "v_vector_",
            "model": {"cls": "sklearn.cluster.KMeans", "params": {"init": encoded}}}
    with server.http(server.attacker) as http:
        r = http.post(f"/v1/datasets/{vectors}/fit", json=body)
    assert r.status_code == 422, r.text
    assert re.search(r"model.params\['init'\] " + pattern, r.json()["error"]["message"])
    server.assert_alive()
    server.assert_victim_unchanged()
