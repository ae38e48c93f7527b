"""Names a user chooses (a dataset, a field, an alias, a ground-truth field) never meet the
names of the store's SQL: in DuckDB a table's name is also a row value and a column's name
hides a result alias, so a dataset called "d" once broke ``set_vector_field`` (a Binder
Error) and a vector field called "d" made it miscount lengths. Each store operation runs with
every role named after each name that its statements use (aliases, temporary tables,
registered views)."""

from __future__ import annotations

import numpy as np
import pytest

from clustermetrics import Client

NAMES = ["d", "n", "x", "t", "i", "h", "l0", "_x", "_v", "cluster", "truth", "_k", "_doc",
         "_new", "_ids", "_batch", "_labels", "_pos", "_id", "aliases"]
# roles that may share a name go together (a field, a vector and the truth must differ)
ROLES = [("dataset", "field", "alias"), ("vector",), ("truth",)]


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    with Client(path=str(tmp_path_factory.mktemp("shadow") / "s.duckdb")) as c:
        yield c


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("roles", ROLES, ids="+".join)
def test_store_operations_with_names_the_sql_uses(shared, roles, name):
    if name == "_id" and roles != ROLES[0]:
        pytest.skip("_id is every document's id, not a field of its own")
    names = {"dataset": f"p_{roles[0]}_{name}", "vector": "emb", "field": "other",
             "alias": "a", "truth": "cat"}
    names.update({role: name for role in roles if not (role == "field" and name == "_id")})
    vf, field, alias, gt = names["vector"], names["field"], names["alias"], names["truth"]
    X = np.random.default_rng(0).normal(size=(40, 3))
    ds = shared.Dataset(names["dataset"])
    ds.insert_documents([{"_id": str(i), vf: X[i].tolist(), field: i, gt: str(i % 2)}
                         for i in range(40)])
    assert ds.set_vector_field(vf)["to"] == "FLOAT[3]"
    assert ds.schema[vf] == "FLOAT[3]"
    ds.kmeans(vf, 3, alias=alias)
    other = alias + "2"
    assert ds.set_cluster_labels(vf, other, {str(i): i % 3 for i in range(40)}) == 40
    result = ds.metrics(vf, other, gt)
    assert result.counts["n_used"] == 40 and result.counts["n_clusters"] == 3
    dist = ds.distribution(vf, other, gt)
    assert int(np.asarray(dist.to_numpy() if hasattr(dist, "to_numpy") else dist).sum()) > 0
    assert ds.centroid_distances(vf, other).shape == (3, 3)
    # an upsert that changes a labelled vector drops its labels; a replace that keeps it, not
    ds.upsert_documents([{"_id": "1", vf: [9.0, 9.0, 9.0]}, {"_id": "100", vf: [1.0, 2.0, 3.0]}])
    ds.insert_documents([{"_id": "3", vf: X[3].tolist(), field: 3.5, gt: "1"}])  # widens
    assert ds.schema[field] == "DOUBLE"
    got = ds.get_documents(["3", "1"], fields=[field])
    assert [g["_id"] for g in got] == ["3", "1"] and got[0][field] == 3.5
    described = shared.vector_tools.cluster.describe_alias(names["dataset"], vf, other)
    assert described["changed"] == 1 and described["unlabelled"] == 2
    # text vectors, as a CSV holds them
    ds.upsert_documents([{"_id": str(i), "tv": str(X[i].tolist())} for i in range(40)])
    assert ds.set_vector_field("tv")["documents"] == 40
    assert ds.delete_documents(["5"]) == 1
    shared.vector_tools.cluster.delete_alias(names["dataset"], vf, alias)
    ds.delete()
    assert names["dataset"] not in shared.list_datasets()
