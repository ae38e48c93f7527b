"""Headline metrics kept with the alias: equal to a fresh metrics call, served without
recomputation while the documents are unchanged, recomputed once after a change; and the
reports' sampling rule for every call on a large dataset."""

import numpy as np
import pytest

from clustermetrics import Client
from clustermetrics.api.local import LocalAPI, _sampling
from clustermetrics.errors import InvalidInputError
from clustermetrics.metrics.sampling import AUTO_SAMPLE_SIZE, EXACT_LIMIT


def _docs(n: int = 300, d: int = 6, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=5, size=(3, d))
    y = rng.integers(0, 3, n)
    X = (centers[y] + rng.normal(size=(n, d))).astype(np.float32)
    return [{"_id": f"d{i}", "v_vector_": X[i], "cat": int(y[i])} for i in range(n)]


def _made(client, name: str = "ds") -> object:
    ds = client.Dataset(name)
    ds.insert_documents(_docs())
    ds.kmeans("v_vector_", 3)
    ds.kmeans("v_vector_", 4)
    return ds


def _assert_equal_to_fresh(ds, alias: str, kept: dict, truth: str | None = None) -> None:
    fresh = ds.metrics("v_vector_", alias, truth)
    assert kept["scores"] == pytest.approx(fresh.scores, rel=1e-9)
    assert kept["n_clusters"] == fresh.counts["n_clusters"]
    assert kept["n_used"] == fresh.counts["n_used"]
    assert kept["silhouette_method"] == fresh.silhouette_method


def test_kept_metrics_equal_a_fresh_metrics_call(client):
    ds = _made(client)
    rows = ds.list_aliases(metrics=True)
    assert [r["alias"] for r in rows] == ["kmeans_3", "kmeans_4"]
    for r in rows:
        _assert_equal_to_fresh(ds, r["alias"], r["metrics"])
        assert r["metrics"]["coverage"] == 1.0
        assert r["metrics"]["version"] == client.test_store.version("ds")
    assert "metrics" not in ds.list_aliases()[0]  # only when asked


def test_listing_compare_and_page_answer_from_kept_metrics(tmp_path):
    with Client(path=str(tmp_path / "s.duckdb")) as client:
        ds = _made(client)
        api = client.api
        first = ds.list_aliases(metrics=True)
        assert api.computed == 2  # one per alias, then kept
        assert ds.list_aliases(metrics=True) == first
        table = ds.compare("v_vector_", ["kmeans_3", "kmeans_4"]).table
        assert api.computed == 2  # nothing changed: nothing computed again
        assert table.loc["kmeans_4", "silhouette"] == pytest.approx(
            first[1]["metrics"]["scores"]["silhouette"], rel=1e-12)
        ds.compare("v_vector_", ["kmeans_3"], metric="cosine")  # other options: computed
        assert api.computed == 3
        assert ds.list_aliases(metrics=True) == first  # ... and the kept ones stay


@pytest.mark.parametrize("change", ["changed vector", "deleted document", "new labels",
                                    "labels inside documents"])
def test_a_change_of_the_documents_invalidates_the_kept_metrics(tmp_path, change):
    with Client(path=str(tmp_path / "s.duckdb")) as client:
        ds = _made(client)
        api = client.api
        before = {r["alias"]: r["metrics"] for r in ds.list_aliases(metrics=True)}
        computed = api.computed
        if change == "changed vector":
            ds.upsert_documents([{"_id": "d1", "v_vector_": np.full(6, 9.0, np.float32)}])
        elif change == "deleted document":
            ds.delete_documents(["d2", "d3"])
        elif change == "new labels":
            ds.set_cluster_labels("v_vector_", "kmeans_3", {f"d{i}": i % 2 for i in range(300)})
        else:
            ds.upsert_documents([{"_id": "d1", "_cluster_": {"v_vector_": {"kmeans_4": 7}}}])
        after = {r["alias"]: r["metrics"] for r in ds.list_aliases(metrics=True)}
        recomputed = 1 if change == "new labels" else 2  # new labels: that alias alone
        assert api.computed == computed + recomputed
        assert after != before
        for alias, kept in after.items():
            _assert_equal_to_fresh(ds, alias, kept)
        computed = api.computed
        ds.list_aliases(metrics=True)
        assert api.computed == computed  # recomputed once, then kept again


def test_kept_per_ground_truth_field(client):
    ds = _made(client)
    kept = client.api.kept_metrics("ds", "v_vector_", "kmeans_3", "cat") \
        if isinstance(client.api, LocalAPI) else None
    if kept is None:  # remote: compare with the ground truth answers from the kept metrics
        row = ds.compare("v_vector_", ["kmeans_3"], "cat").table.loc["kmeans_3"]
        assert row["adjusted_rand"] == pytest.approx(
            ds.metrics("v_vector_", "kmeans_3", "cat").scores["adjusted_rand"], rel=1e-9)
        return
    _assert_equal_to_fresh(ds, "kmeans_3", kept, "cat")
    assert "adjusted_rand" in kept["scores"]


def test_alias_without_scores_keeps_why(client):
    ds = client.Dataset("one")
    ds.insert_documents(_docs())
    ds.set_cluster_labels("v_vector_", "same", {f"d{i}": 0 for i in range(300)})
    kept = ds.list_aliases(metrics=True)[0]["metrics"]
    with pytest.raises(InvalidInputError) as exc:
        ds.metrics("v_vector_", "same")
    assert kept["error"] == str(exc.value)


def test_remote_listing_equals_embedded(tmp_path, http_server):
    project, key = http_server.new_project()
    with Client(path=str(tmp_path / "s.duckdb")) as local, \
            Client(url=http_server.url, api_key=key) as remote:
        rows = [_made(c).list_aliases(metrics=True) for c in (local, remote)]
    for a, b in zip(*rows, strict=True):
        assert {k: v for k, v in a.items() if k != "metrics"} == \
            {k: v for k, v in b.items() if k != "metrics"}
        assert a["metrics"]["scores"] == pytest.approx(b["metrics"]["scores"], rel=1e-6)
        assert {k: v for k, v in a["metrics"].items() if k != "scores"} == \
            {k: v for k, v in b["metrics"].items() if k != "scores"}
    http_server.state.projects.close(project)


def test_remote_listing_of_unknown_dataset_names_it(client):
    with pytest.raises(Exception, match="nope"):
        client.Dataset("nope").list_aliases(metrics=True)


# -- the reports' sampling rule, for every call ------------------------------------------

def test_sampling_rule():
    big = EXACT_LIMIT + 1
    assert _sampling({}, big) == {"sample_size": AUTO_SAMPLE_SIZE, "random_state": 0}
    assert _sampling({}, EXACT_LIMIT) == {}
    assert _sampling({"exact": True}, big) == {}
    assert _sampling({"metric": "cosine"}, big) == {"metric": "cosine"}  # linear: exact
    assert _sampling({"sample_size": 50, "random_state": 3}, big) == \
        {"sample_size": 50, "random_state": 3}


@pytest.mark.parametrize("exact, match", [
    ("yes", "exact must be True or False; got 'yes'"),
    (1, "exact must be True or False; got 1"),
])
def test_exact_must_be_a_bool(client, exact, match):
    ds = _made(client)
    with pytest.raises(InvalidInputError, match=match):
        ds.metrics("v_vector_", "kmeans_3", exact=exact)


def test_exact_with_a_sample_size_is_refused(client):
    ds = _made(client)
    with pytest.raises(InvalidInputError, match="exact=True and sample_size=10 contradict"):
        ds.metrics("v_vector_", "kmeans_3", exact=True, sample_size=10)
    with pytest.raises(InvalidInputError, match="exact=True and sample_size=10 contradict"):
        ds.compare("v_vector_", ["kmeans_3"], exact=True, sample_size=10)


def test_large_dataset_is_sampled_with_its_interval_and_a_note(tmp_path):
    rng = np.random.default_rng(1)
    n = EXACT_LIMIT + 1
    X = rng.normal(size=(n, 2)).astype(np.float32)
    with Client(path=str(tmp_path / "s.duckdb")) as client:
        ds = client.Dataset("big")
        ds.insert_documents([{"_id": f"d{i}", "v_vector_": X[i]} for i in range(n)])
        ds.set_cluster_labels("v_vector_", "half", {f"d{i}": int(X[i, 0] > 0) for i in range(n)})
        result = ds.metrics("v_vector_", "half")
        assert result.silhouette_ci is not None
        assert result.silhouette_method.startswith(f"sampled ({AUTO_SAMPLE_SIZE} of {n}")
        kept = ds.list_aliases(metrics=True)[0]["metrics"]
        assert kept["scores"]["silhouette"] == pytest.approx(result.silhouette, rel=1e-12)
        assert kept["silhouette_ci"] == pytest.approx(list(result.silhouette_ci), rel=1e-12)
        comparison = ds.compare("v_vector_", ["half"])
        assert any(note.startswith("half: silhouette sampled (") and "exact=True" in note
                   for note in comparison.notes)


def test_aliases_listed_in_a_stable_order(client):
    ds = client.Dataset("ds")
    ds.insert_documents(_docs())
    for k in (10, 2, 3):
        ds.kmeans("v_vector_", k)
    assert [r["alias"] for r in ds.list_aliases()] == ["kmeans_2", "kmeans_3", "kmeans_10"]
    ds.set_cluster_labels("v_vector_", "kmeans_2", {f"d{i}": i % 2 for i in range(300)})
    assert [r["alias"] for r in ds.list_aliases()] == ["kmeans_2", "kmeans_3", "kmeans_10"]


def test_cli_lists_the_kept_metrics(client, cli_args):
    import json

    from click.testing import CliRunner

    from clustermetrics.cli import main
    ds = _made(client)
    res = CliRunner().invoke(main, ["aliases", "list", "ds", "--metrics", "--json", *cli_args])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert [r["alias"] for r in rows] == ["kmeans_3", "kmeans_4"]
    _assert_equal_to_fresh(ds, "kmeans_4", rows[1]["metrics"])
    res = CliRunner().invoke(main, ["aliases", "list", "ds", "--metrics", *cli_args])
    assert res.exit_code == 0, res.output
    assert res.output.count("100%") == 2  # the coverage column, whatever the width


def test_cli_exact_and_sample_size_contradict(client, cli_args):
    from click.testing import CliRunner

    from clustermetrics.cli import main
    _made(client)
    res = CliRunner().invoke(main, ["metrics", "ds", "-f", "v_vector_", "-a", "kmeans_3",
                                    "--exact", "--sample-size", "10", *cli_args])
    assert res.exit_code != 0
    assert "exact=True and sample_size=10 contradict each other" in res.output
