"""The inside commands and the edit commands, on the test store and the test server."""

import json

import pytest
from click.testing import CliRunner

from clustermetrics.cli import main

from .test_api import data  # noqa: F401  (the fixture)


@pytest.fixture
def cli(cli_args, data):  # noqa: F811
    def invoke(*args):
        return CliRunner().invoke(main, [*args, *cli_args])
    return invoke


TARGET = ["shop", "-f", "v_vector_", "-a", "a"]


def test_closest_prints_a_table(cli):
    res = cli("inside", "closest", *TARGET, "-n", "2", "--field", "cat")
    assert res.exit_code == 0, res.output
    assert "Representatives" in res.output and "distance" in res.output and "cat" in res.output


def test_furthest_as_json(cli):
    res = cli("inside", "furthest", *TARGET, "-n", "1", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["kind"] == "Representatives"
    assert [r["cluster"] for r in out["tables"]["furthest"]] == [0, 1, 2]


def test_misfits_of_one_cluster(cli):
    res = cli("inside", "misfits", *TARGET, "-n", "2", "-c", "1", "--json")
    assert res.exit_code == 0, res.output
    assert {r["cluster"] for r in json.loads(res.output)["tables"]["overall"]} == {1}


def test_aggregate_keywords_truth(cli):
    res = cli("inside", "aggregate", *TARGET, "--field", "price", "--field", "cat")
    assert res.exit_code == 0, res.output
    assert "lift" in res.output and "median" in res.output
    res = cli("inside", "keywords", *TARGET, "-t", "text", "-n", "2")
    assert res.exit_code == 0, res.output
    assert "term" in res.output
    res = cli("inside", "truth", *TARGET, "-g", "truth")
    assert res.exit_code == 0, res.output
    assert "purity" in res.output


def test_unknown_field_is_one_line(cli):
    res = cli("inside", "aggregate", *TARGET, "--field", "prise")
    assert res.exit_code == 1
    assert "field 'prise' not found in dataset 'shop'" in res.output


def test_merge_relabel_subcluster(cli):
    res = cli("aliases", "merge", *TARGET, "--group", "1,2", "--new-alias", "m")
    assert res.exit_code == 0, res.output
    assert "Stored m (merge of a): 2 clusters" in res.output
    res = cli("aliases", "relabel", *TARGET, "--map", "0=zero", "--new-alias", "r")
    assert res.exit_code == 0, res.output
    res = cli("aliases", "subcluster", *TARGET, "-c", "0", "--algorithm", "kmeans",
              "--param", "n_clusters=2", "--new-alias", "s", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["edit"]["cluster"] == 0
    res = cli("aliases", "describe", "shop", "-f", "v_vector_", "-a", "s")
    assert "parent='a'" in res.output


def test_relabel_refuses_a_pair_without_equals(cli):
    res = cli("aliases", "relabel", *TARGET, "--map", "0", "--new-alias", "r")
    assert res.exit_code == 1
    assert "--map takes OLD=NEW, e.g. 3=shoes; got '0'" in res.output
