"""The command line against a server, and its keys: what a CLI user is told (issue 18, 14)."""

import json
import sys

import pytest
from click.testing import CliRunner

from clustermetrics.cli import main

pytest.importorskip("fastapi")


@pytest.fixture
def runner(monkeypatch):
    for name in ("CLUSTERMETRICS_URL", "CLUSTERMETRICS_API_KEY", "CLUSTERMETRICS_PATH"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def test_a_missing_key_names_the_option_the_variable_and_the_client(runner, http_server):
    res = runner.invoke(main, ["datasets", "list", "--url", http_server.url])
    assert res.exit_code == 1
    text = " ".join(res.output.split())
    assert "--api-key KEY" in text and "CLUSTERMETRICS_API_KEY" in text
    assert "Client(url=..., api_key=KEY)" in text
    assert "Authorization: Bearer" not in text


def test_a_missing_key_in_python_names_api_key_too(http_server):
    import clustermetrics as cm
    from clustermetrics.errors import AuthenticationError
    with cm.Client(url=http_server.url) as client, \
            pytest.raises(AuthenticationError,
                          match=r"An API key is needed for the server at http://127\.0\.0\.1:\d+:"
                                r" give --api-key KEY or set CLUSTERMETRICS_API_KEY \(in Python:"
                                r" Client\(url=\.\.\., api_key=KEY\)\)"):
        client.list_datasets()


def test_a_wrong_key_is_still_the_server_s_message(runner, http_server):
    res = runner.invoke(main, ["datasets", "list", "--url", http_server.url, "--api-key",
                               "cm_00000000_" + "x" * 43])
    assert res.exit_code == 1
    assert "The API key is not valid" in res.output


def test_api_key_without_url_is_refused(runner, tmp_path):
    res = runner.invoke(main, ["datasets", "list", "--api-key", "cm_x"],
                        env={"CLUSTERMETRICS_PATH": str(tmp_path / "s.duckdb")})
    assert res.exit_code == 1
    assert "--api-key goes with a server: give --url URL (or set CLUSTERMETRICS_URL)" \
        in " ".join(res.output.split())
    assert not (tmp_path / "s.duckdb").exists()  # the local store was not used


def test_api_key_with_path_is_refused(runner, tmp_path):
    res = runner.invoke(main, ["datasets", "list", "--api-key", "cm_x", "--path",
                               str(tmp_path / "s.duckdb")])
    assert res.exit_code == 1
    assert "--path names a store file, which needs no key" in " ".join(res.output.split())


def test_a_key_in_the_environment_without_a_url_is_left_alone(runner, tmp_path):
    """Only a key typed on the command line is a mistake: an exported variable serves the
    commands that do go to a server."""
    from clustermetrics import Client
    with Client(path=str(tmp_path / "s.duckdb")) as client:
        assert client.list_datasets() == []  # the store file, made
    res = runner.invoke(main, ["datasets", "list", "--path", str(tmp_path / "s.duckdb")],
                        env={"CLUSTERMETRICS_API_KEY": "cm_x"})
    assert res.exit_code == 0, res.output
    assert "No datasets yet" in res.output


def test_quickstart_against_a_server_prints_commands_that_reach_it(runner, http_server):
    project, key = http_server.new_project("qs")
    try:
        res = runner.invoke(main, ["quickstart", "--url", http_server.url, "--api-key", key])
        assert res.exit_code == 0, res.output
        text = " ".join(res.output.split())
        assert (f"clustermetrics report quickstart_clustering -f pixels_vector_ -a kmeans_10 "
                f"-g digit --url {http_server.url} --api-key KEY") in text
        assert f"Client(url='{http_server.url}', api_key=KEY)" in text
        assert "CLUSTERMETRICS_API_KEY" in text
        assert key not in res.output  # never the key itself
        # with the key from the environment, the follow-up needs only the URL
        res = runner.invoke(main, ["quickstart", "--url", http_server.url],
                            env={"CLUSTERMETRICS_API_KEY": key})
        assert res.exit_code == 0, res.output
        text = " ".join(res.output.split())
        assert f"-g digit --url {http_server.url}" in text and "--api-key" not in text
        assert key not in res.output
    finally:
        http_server.state.projects.close(project)


def test_quickstart_on_a_store_names_no_server(runner, tmp_path):
    res = runner.invoke(main, ["quickstart", "--path", str(tmp_path / "s.duckdb")])
    assert res.exit_code == 0, res.output
    assert "-g digit\n" in res.output and "--url" not in res.output


def test_serve_without_the_extra_says_so_before_serving(runner, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    res = runner.invoke(main, ["serve", "--data", str(tmp_path / "srv")])
    assert res.exit_code == 1
    assert "The server needs uvicorn: pip install 'clustermetrics[server]'" in res.output
    assert "Serving" not in res.output


def test_revoking_a_revoked_key_says_so(runner, tmp_path):
    data = str(tmp_path / "srv")
    made = json.loads(runner.invoke(main, ["keys", "create", "--project", "p", "--data", data,
                                           "--json"]).output)
    first = runner.invoke(main, ["keys", "revoke", made["key_id"], "--data", data])
    assert first.exit_code == 0, first.output
    assert f"Key {made['key_id']} of project p revoked." in first.output
    again = runner.invoke(main, ["keys", "revoke", made["key_id"], "--data", data])
    assert again.exit_code == 0  # revoking is idempotent: the key is revoked, as asked
    assert (f"Key {made['key_id']} of project p was already revoked on "
            in " ".join(again.output.split()))
    assert "nothing changed" in again.output
    data_json = json.loads(runner.invoke(main, ["keys", "revoke", made["key_id"], "--data",
                                                data, "--json"]).output)
    assert data_json["already_revoked"] is True
