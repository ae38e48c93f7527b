"""A stored call that meets a vector it cannot use must name the document (its ``_id``), not a
row counted within one of the 4,096-row batches the store is read in."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

ARROW = "application/vnd.apache.arrow.stream"


def test_a_complaint_about_a_stored_vector_names_its_document(server):
    n, dim = 20_000, 4
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, dim)).astype(np.float32)
    X[17_000, 1] = 2e38  # finite in float32, its square is not: row 616 of the fifth batch
    table = pa.table({"_id": pa.array([f"d{i}" for i in range(n)]),
                      "emb_vector_": pa.FixedSizeListArray.from_arrays(pa.array(X.ravel()), dim),
                      "_cluster_.emb_vector_.c": pa.array(rng.integers(0, 5, n).astype(str))})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    with server.http(server.attacker) as http:
        r = http.post("/v1/datasets/wide/documents", content=sink.getvalue().to_pybytes(),
                      headers={"Content-Type": ARROW})
        assert r.status_code == 200, r.text
        r = http.get("/v1/datasets/wide/centroids",
                     params={"vector_field": "emb_vector_", "cluster_alias": "c"})
        assert r.status_code == 422, r.text
        error = r.json()["error"]
        assert error["code"] == "invalid_input"
        assert "squares overflow float32 in 1 document (_id 'd17000')" in error["message"]
        assert "616" not in error["message"]
    server.assert_alive()
    server.assert_victim_unchanged()
