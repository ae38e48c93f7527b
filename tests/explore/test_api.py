"""The inside calls through the Client, embedded and remote (the `client` fixture runs each
test on both): brute-force references, noise, edits and the errors."""

import re

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import cdist
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_samples

from clustermetrics.errors import InvalidInputError, NotFoundError

WORDS = ["apple", "banana", "cherry", "river", "mountain", "engine", "wheel", "piano"]
N = 180


@pytest.fixture
def data(client):
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, N)
    X = rng.normal(size=(N, 5)) + 3 * labels[:, None]
    noise = np.arange(N) % 15 == 0
    stored = np.where(noise, -1, labels)
    docs = []
    for i in range(N):
        words = rng.choice(WORDS[3 * labels[i]:3 * labels[i] + 4], 4)
        docs.append({"_id": f"d{i}", "v_vector_": X[i].tolist(), "price": float(i % 17),
                     "cat": ["red", "green", "blue"][(i + labels[i]) % 3],
                     "text": " ".join(words), "truth": f"t{(labels[i] + (i % 9 == 0)) % 3}"})
    client.Dataset("shop").insert_documents(docs)
    client.vector_tools.cluster.set_cluster_labels(
        "shop", "v_vector_", "a", {f"d{i}": int(stored[i]) for i in range(N)}, noise_label=-1)
    ids = np.array([f"d{i}" for i in range(N)], dtype=object)
    frame = pd.DataFrame(docs).assign(label=stored)
    return client.vector_tools.cluster, X, stored, ids, frame


def test_closest_and_furthest_equal_sorting_all_distances(data):
    tools, X, labels, ids, frame = data
    near = tools.closest("shop", "v_vector_", "a", n=3, fields=["cat"])
    far = tools.furthest("shop", "v_vector_", "a", n=3)
    for c in (0, 1, 2):
        rows = np.flatnonzero(labels == c)
        d = cdist(X[rows], X[rows].mean(axis=0)[None]).ravel()
        got = near.for_cluster(c)
        assert list(got["_id"]) == list(ids[rows[np.argsort(d)[:3]]])
        np.testing.assert_allclose(got["distance"], np.sort(d)[:3], rtol=1e-6)
        assert list(got["cat"]) == list(frame.set_index("_id").loc[got["_id"], "cat"])
        assert list(far.for_cluster(c)["_id"]) == list(ids[rows[np.argsort(-d)[:3]]])
    assert -1 not in set(near.table["cluster"])  # the alias's noise label, left out


def test_closest_keeps_noise_as_a_cluster_when_asked(data):
    tools = data[0]
    near = tools.closest("shop", "v_vector_", "a", n=2, noise="cluster")
    assert len(near.for_cluster(-1)) == 2


def test_misfits_equal_silhouette_samples_without_the_noise(data):
    tools, X, labels, ids, _ = data
    got = tools.misfits("shop", "v_vector_", "a", n=4, fields=["cat"])
    keep = labels != -1
    s = silhouette_samples(X[keep], labels[keep])
    order = np.argsort(s, kind="stable")[:4]
    assert list(got.tables["overall"]["_id"]) == list(ids[keep][order])
    np.testing.assert_allclose(got.tables["overall"]["silhouette"], s[order], atol=1e-6)
    assert got.info["method"] == "exact"
    assert "cat" in got.tables["overall"].columns


def test_misfits_of_one_cluster(data):
    tools, X, labels, ids, _ = data
    got = tools.misfits("shop", "v_vector_", "a", n=3, cluster=2, metric="cosine")
    assert set(got.tables["overall"]["cluster"]) == {2}
    keep = labels != -1
    s = silhouette_samples(X[keep], labels[keep], metric="cosine")
    mine = np.flatnonzero(labels[keep] == 2)
    want = mine[np.argsort(s[mine], kind="stable")[:3]]
    assert list(got.tables["overall"]["_id"]) == list(ids[keep][want])


def test_aggregate_equals_pandas(data):
    tools, _, _, _, frame = data
    got = tools.aggregate("shop", "v_vector_", "a", ["price", "cat"], top=2)
    kept = frame[frame["label"] != -1]
    ref = kept.groupby("label")["price"].agg(["count", "mean", "median", "min", "max"])
    numeric = got.tables["numeric"].set_index("cluster")
    for col in ("count", "mean", "median", "min", "max"):
        np.testing.assert_allclose(numeric[col].astype(float), ref[col].astype(float))
    values = got.tables["values"]
    overall = kept["cat"].value_counts(normalize=True)
    for c, group in kept.groupby("label"):
        counts = group["cat"].value_counts()
        top = sorted(counts.index, key=lambda v: (-counts[v], v))[:2]
        rows = values[values["cluster"] == c]
        assert list(rows["value"]) == top
        share = counts[top[0]] / len(group)
        assert rows["share"].iloc[0] == pytest.approx(share)
        assert rows["lift"].iloc[0] == pytest.approx(share / overall[top[0]])


def test_aggregate_with_noise_singletons_names_each_noise_document(data):
    tools = data[0]
    got = tools.aggregate("shop", "v_vector_", "a", ["price"], noise="singletons")
    names = set(got.tables["numeric"]["cluster"])
    assert "-1#d0" in names and "-1#d15" in names and 0 in names


def test_keywords_find_each_clusters_own_words(data):
    tools = data[0]
    got = tools.keywords("shop", "v_vector_", "a", "text", n=2)
    assert set(got.for_cluster(0)["term"]) <= {"apple", "banana", "cherry", "river"}
    assert set(got.for_cluster(2)["term"]) <= {"engine", "wheel", "piano"}
    assert -1 not in set(got.table["cluster"])


def test_truth_breakdown_equals_a_crosstab(data):
    tools, _, _, _, frame = data
    got = tools.truth_breakdown("shop", "v_vector_", "a", "truth")
    kept = frame[frame["label"] != -1]
    table = pd.crosstab(kept["label"], kept["truth"])
    clusters = got.tables["clusters"].set_index("cluster")
    for c in table.index:
        assert clusters.loc[c, "size"] == table.loc[c].sum()
        assert clusters.loc[c, "purity"] == pytest.approx(table.loc[c].max()
                                                          / table.loc[c].sum())
    assert set(got.tables["classes"]["class"]) == set(table.columns)


def _alias_bytes(client, name):
    from clustermetrics.names import label_column
    store = client.test_store
    with store.session():
        col = label_column("v_vector_", name)
        rows = store.con.execute(f'SELECT _id, "{col}" FROM {store.table("shop")} '
                                 "ORDER BY _id").fetchall()
        info = store.alias_info("shop", "v_vector_", name)
    return rows, {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in info.items()}


def test_edits_make_new_aliases_and_leave_the_old_one_unchanged(client, data):
    tools = data[0]
    before = _alias_bytes(client, "a")
    merged = tools.merge_clusters("shop", "v_vector_", "a", [[1, 2]], new_alias="m")
    relabelled = tools.relabel("shop", "v_vector_", "a", {0: 10}, new_alias="r")
    split = tools.subcluster("shop", "v_vector_", "a", 0, KMeans(2, n_init=2, random_state=0),
                             new_alias="s")
    assert _alias_bytes(client, "a") == before
    assert merged["sizes"][1] == sum(v for k, v in
                                     tools.describe_alias("shop", "v_vector_", "a")["sizes"]
                                     .items() if k in (1, 2))
    assert relabelled["sizes"].get(0) is None and relabelled["sizes"][10] > 0
    assert set(split["sizes"]) == {1, 2, 3, 4}
    described = tools.describe_alias("shop", "v_vector_", "s")
    assert described["params"]["parent"] == "a"
    assert described["params"]["edit"]["op"] == "subcluster"
    assert described["params"]["noise_label"] == -1
    assert tools.describe_alias("shop", "v_vector_", "m")["params"]["edit"] == {
        "op": "merge", "groups": [[1, 2]]}
    scores = client.vector_tools.cluster.compare("shop", "v_vector_", ["a", "m", "s"]).table
    assert list(scores["n_clusters"]) == [3, 2, 4]


def test_an_edit_never_replaces_an_alias(data):
    with pytest.raises(InvalidInputError, match="Alias 'a' of 'shop'/'v_vector_' exists; an "
                                                "edit makes a new alias"):
        data[0].merge_clusters("shop", "v_vector_", "a", [[1, 2]], new_alias="a")


def test_an_unknown_cluster_to_merge_is_named(data):
    with pytest.raises(NotFoundError, match=re.escape("cluster '7' not found in alias 'a'. "
                                                      "Existing: '0', '1', '2'")):
        data[0].merge_clusters("shop", "v_vector_", "a", [[1, 7]], new_alias="m")


def test_an_unknown_cluster_to_split_is_named(data):
    with pytest.raises(NotFoundError, match="cluster '9' not found in alias 'a'"):
        data[0].subcluster("shop", "v_vector_", "a", 9, KMeans(2), new_alias="s")


def test_an_unknown_cluster_of_misfits_is_named(data):
    with pytest.raises(NotFoundError, match="cluster '5' not found in alias 'a'"):
        data[0].misfits("shop", "v_vector_", "a", cluster=5)


def test_an_unknown_field_is_named(data):
    with pytest.raises(NotFoundError, match=re.escape(
            "field 'prise' not found in dataset 'shop'. Did you mean 'price'")):
        data[0].aggregate("shop", "v_vector_", "a", ["prise"])


def test_an_unknown_field_of_representatives_is_named(data):
    with pytest.raises(NotFoundError, match="field 'colour' not found in dataset 'shop'"):
        data[0].closest("shop", "v_vector_", "a", fields=["colour"])


def test_an_unknown_alias_is_named(data):
    with pytest.raises(NotFoundError, match="cluster alias 'b' not found for "
                                            "'shop'/'v_vector_'"):
        data[0].furthest("shop", "v_vector_", "b")


def test_a_vector_field_is_not_summarised(data):
    with pytest.raises(InvalidInputError, match=re.escape("Field 'v_vector_' of dataset 'shop' "
                                                          "is FLOAT[5]: a field summary takes")):
        data[0].aggregate("shop", "v_vector_", "a", ["v_vector_"])


def test_no_fields_to_summarise(data):
    with pytest.raises(InvalidInputError, match="Name the fields to summarise"):
        data[0].aggregate("shop", "v_vector_", "a", [])


def test_keywords_need_a_text_field(data):
    with pytest.raises(InvalidInputError, match="Field 'price' of dataset 'shop' is DOUBLE; "
                                                "keywords need a text field"):
        data[0].keywords("shop", "v_vector_", "a", "price")


def test_representatives_refuse_manhattan(data):
    with pytest.raises(InvalidInputError, match="metric must be one of euclidean"):
        data[0].closest("shop", "v_vector_", "a", metric="manhattan")


def test_a_noise_policy_needs_a_noise_label(client, data):
    client.vector_tools.cluster.set_cluster_labels("shop", "v_vector_", "plain",
                                                   {f"d{i}": i % 3 for i in range(N)})
    with pytest.raises(InvalidInputError, match="noise='cluster' needs noise_label="):
        data[0].closest("shop", "v_vector_", "plain", noise="cluster")


def test_euclidean_misfits_beyond_the_exact_size_say_they_are_sampled(data):
    got = data[0].misfits("shop", "v_vector_", "a", sample_size=60)
    assert got.info["method"] == "sampled"
    assert "stratified sample" in got.notes[0]


def test_results_print_as_tables(data):
    text = str(data[0].closest("shop", "v_vector_", "a", n=1))
    assert text.splitlines()[0].startswith("Representatives: shop/v_vector_/a")
    assert "cluster  rank" in text and "distance" in text


def test_results_travel_through_the_codec_unchanged(data):
    from clustermetrics.api import codec
    result = data[0].misfits("shop", "v_vector_", "a", n=2)
    back = codec.decode(codec.encode(result))
    assert type(back) is type(result)
    for name, table in result.tables.items():
        pd.testing.assert_frame_equal(back.tables[name], table)
    assert back.info == result.info


def test_the_server_refuses_an_argument_the_call_does_not_take(http_server):
    import httpx
    _, key = http_server.new_project()
    answer = httpx.post(f"{http_server.url}/v1/datasets/shop/inside/closest",
                        headers={"Authorization": f"Bearer {key}"},
                        json={"vector_field": "v", "alias": "a", "args": {"k": 3}})
    assert answer.status_code == 422
    assert "closest takes no argument 'k'; it takes n, fields, metric" in \
        answer.json()["error"]["message"]


def test_the_report_has_a_card_per_cluster_worst_first(data, tmp_path):
    pytest.importorskip("plotly")
    tools = data[0]
    report = tools.report("shop", "v_vector_", "a", "truth", text_field="text", examples=2)
    page = report.html
    assert 'id="clusters"' in page and '<a href="#clusters">clusters</a>' in page
    misfits = tools.misfits("shop", "v_vector_", "a", n=2)
    worst = misfits.tables["clusters"].sort_values("silhouette")["cluster"].tolist()
    positions = [page.index(f"<h3>Cluster {c}</h3>") for c in worst]
    assert positions == sorted(positions)
    first = misfits.tables["per_cluster"].iloc[0]["_id"]
    assert f"<td>{first}</td>" in page
    assert 'data-trace="cluster 0"' in page
    assert "keywords</b>: " in page and "top classes</b>: " in page


def test_a_cluster_name_is_escaped_in_the_cards(client):
    pytest.importorskip("plotly")
    rng = np.random.default_rng(0)
    docs = [{"_id": f"d{i}", "v_vector_": (rng.normal(size=3) + 4 * (i % 2)).tolist()}
            for i in range(40)]
    client.Dataset("x").insert_documents(docs)
    bad = '<script>alert("x")</script>'
    client.vector_tools.cluster.set_cluster_labels(
        "x", "v_vector_", "a", {f"d{i}": bad if i % 2 else "ok" for i in range(40)})
    page = client.vector_tools.cluster.report("x", "v_vector_", "a").html
    assert bad not in page
    assert "Cluster &lt;script&gt;" in page


def test_the_server_refuses_a_result_type_as_an_argument(http_server):
    import httpx
    _, key = http_server.new_project()
    smuggled = {"__type__": "Misfits", "state": {"tables": {}, "info": {}, "notes": [],
                                                "source": {}}}
    answer = httpx.post(f"{http_server.url}/v1/datasets/shop/inside/closest",
                        headers={"Authorization": f"Bearer {key}"},
                        json={"vector_field": "v", "alias": "a", "args": {"fields": smuggled}})
    assert answer.status_code == 422
    assert "args['fields'] holds an encoded 'Misfits'" in \
        answer.json()["error"]["message"]


def test_the_dataset_sugar_gives_the_same_results(client, data):
    tools = data[0]
    ds = client.Dataset("shop")
    pd.testing.assert_frame_equal(ds.closest("v_vector_", "a", n=2).table,
                                  tools.closest("shop", "v_vector_", "a", n=2).table)
    pd.testing.assert_frame_equal(ds.aggregate("v_vector_", "a", "price").tables["numeric"],
                                  tools.aggregate("shop", "v_vector_", "a",
                                                  ["price"]).tables["numeric"])


def test_misfits_with_noise_as_a_cluster_equal_silhouette_samples(data):
    tools, X, labels, ids, _ = data
    got = tools.misfits("shop", "v_vector_", "a", n=5, noise="cluster")
    s = silhouette_samples(X, labels)
    order = np.argsort(s, kind="stable")[:5]
    assert list(got.tables["overall"]["_id"]) == list(ids[order])


def test_keywords_with_noise_singletons_name_each_noise_document(data):
    got = data[0].keywords("shop", "v_vector_", "a", "text", n=1, noise="singletons")
    assert "-1#d0" in set(got.table["cluster"])


def test_truth_breakdown_with_noise_as_a_cluster(data):
    got = data[0].truth_breakdown("shop", "v_vector_", "a", "truth", noise="cluster")
    assert -1 in set(got.tables["clusters"]["cluster"])


def test_a_subclustering_with_too_many_clusters_is_refused(data):
    with pytest.raises(InvalidInputError, match=r"n_clusters must be from 2 to .* documents of "
                                                r"cluster 1 with 'v_vector_'.*got 500\. "
                                                r"Nothing was stored"):
        data[0].subcluster("shop", "v_vector_", "a", 1, KMeans(500), new_alias="s")


# -- shapes a user gets wrong, tried as a new user would ---------------------------------------

def test_merge_with_a_flat_list_says_the_shape(client):
    X = np.random.default_rng(0).normal(size=(30, 3)).astype(np.float32)
    client.Dataset("flat").insert_documents(X, ids=[f"f{i}" for i in range(30)],
                                            vector_field="v_vector_")
    client.vector_tools.cluster.set_cluster_labels("flat", "v_vector_", "mine",
                                                   {f"f{i}": i % 3 for i in range(30)})
    with pytest.raises(InvalidInputError, match=r"groups must be a list of lists of clusters, "
                                                r"e\.g\. \[\[1, 4\], \[2, 7\]\]; got the group 0"):
        client.vector_tools.cluster.merge_clusters("flat", "v_vector_", "mine", [0, 1],
                                                   new_alias="merged")
    assert [a["alias"] for a in client.vector_tools.cluster.list_aliases("flat")] == ["mine"]


def test_a_sweep_of_one_integer_k_says_to_give_a_list(client):
    with pytest.raises(InvalidInputError, match=r"k of a sweep is a list of values, e\.g\. "
                                                r"range\(2, 11\); got 5"):
        client.vector_tools.cluster.sweep("any", "v_vector_", k=5)


def test_one_alias_given_as_a_string_is_compared_as_one(client):
    X = np.random.default_rng(1).normal(size=(30, 3)).astype(np.float32)
    client.Dataset("one").insert_documents(X, ids=[f"o{i}" for i in range(30)],
                                           vector_field="v_vector_")
    client.vector_tools.cluster.set_cluster_labels("one", "v_vector_", "mine",
                                                   {f"o{i}": i % 3 for i in range(30)})
    table = client.vector_tools.cluster.compare("one", "v_vector_", "mine").table
    assert list(table.index) == ["mine"]


def test_the_noise_label_named_as_a_cluster_is_said_to_be_noise(client):
    X = np.random.default_rng(2).normal(size=(30, 3)).astype(np.float32)
    client.Dataset("noisy").insert_documents(X, ids=[f"n{i}" for i in range(30)],
                                             vector_field="v_vector_")
    client.vector_tools.cluster.set_cluster_labels(
        "noisy", "v_vector_", "mine", {f"n{i}": (i % 3 if i % 5 else -1) for i in range(30)},
        noise_label=-1)
    with pytest.raises(InvalidInputError, match=r"-1 is the noise label of alias 'mine', which "
                                                r"is no cluster"):
        client.vector_tools.cluster.misfits("noisy", "v_vector_", "mine", cluster=-1)
    with pytest.raises(InvalidInputError, match=r"-1 is the noise label of alias 'mine'"):
        client.vector_tools.cluster.subcluster("noisy", "v_vector_", "mine", -1,
                                               KMeans(2, n_init=1), new_alias="split")
