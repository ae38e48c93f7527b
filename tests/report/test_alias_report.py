"""One function builds a report from an alias (``alias_report``), and the Client, the CLI and
the web page all use it: each shows the alias's noise in grey and its stability. The web page
built its own report without them (noise drawn as an orange "cluster -1", a bar "None
(noise)", no stability section)."""

from __future__ import annotations

import json
import re

import httpx
import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.cluster import KMeans

import clustermetrics as cm
from clustermetrics.cli import main
from clustermetrics.report.figures import NOISE_COLOR
from clustermetrics.server.app import Settings, create_app

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


def _noisy_shop(client):
    rng = np.random.default_rng(0)
    X = np.repeat(np.eye(3, 4) * 8, 40, axis=0) + rng.normal(size=(120, 4))
    truth = np.repeat(["shoes", "hats", "bags"], 40)
    client.Dataset("shop").insert_documents(
        [{"_id": f"p{i}", "item_vector_": X[i], "category": str(truth[i])}
         for i in range(120)])
    tools = client.vector_tools.cluster
    tools.stability("shop", "item_vector_", KMeans(3, n_init=1, random_state=0),
                    alias="km", n_resamples=3)
    labels = {f"p{i}": (-1 if i % 10 == 0 else i // 40) for i in range(120)}
    tools.set_cluster_labels("shop", "item_vector_", "hdb", labels, noise_label=-1)


def _figures(page: str) -> str:
    """The figures' JSON inside the page (what Plotly draws)."""
    return " ".join(re.findall(r"Plotly\.newPlot\((.*?)\)\s*[;}]", page, flags=re.S)) or page


def _assert_noise_is_grey(page: str) -> None:
    assert "-1 (noise)" in page and NOISE_COLOR in page
    assert "None (noise)" not in page
    assert not re.search(r'"name":\s*"cluster -1"', page)  # noise as one more cluster


@pytest.fixture
def site(tmp_path):
    app = create_app(Settings(data_dir=str(tmp_path / "server")))
    state = app.state.server
    key = state.keys.create("alpha")
    _noisy_shop(cm.Client(api=state.projects.api("alpha")))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    site = httpx.AsyncClient(transport=transport, base_url="http://test")
    site.state, site.key = state, key
    yield site
    state.close()


async def _page(site, alias):
    from tests.server.test_web import _sign_in  # the sign-in form with its CSRF token
    await _sign_in(site)
    r = await site.get("/datasets/shop/report", params={
        "vector_field": "item_vector_", "alias": alias, "ground_truth": "category"})
    assert r.status_code == 200
    return r.text


async def test_web_page_draws_the_aliases_noise_grey(site):
    _assert_noise_is_grey(await _page(site, "hdb"))


async def test_web_page_shows_the_aliases_stability(site):
    page = await _page(site, "km")
    assert 'id="stability"' in page and "Jaccard" in page


async def test_web_page_equals_the_clients_report(site):
    page = await _page(site, "hdb")
    client = cm.Client(api=site.state.projects.api("alpha"))
    built = client.vector_tools.cluster.report("shop", "item_vector_", "hdb", "category")
    assert _figures(page) == _figures(built.html)


def test_client_and_cli_reports_show_noise_and_stability(client, tmp_path):
    _noisy_shop(client)
    tools = client.vector_tools.cluster
    _assert_noise_is_grey(tools.report("shop", "item_vector_", "hdb", "category").html)
    assert 'id="stability"' in tools.report("shop", "item_vector_", "km").html
    if not hasattr(client.api, "store"):
        return  # the CLI on a store path is the embedded case
    out = str(tmp_path / "r.html")
    result = CliRunner().invoke(main, ["report", "shop", "-f", "item_vector_", "-a", "hdb",
                                       "-g", "category", "-o", out, "--path", client.path,
                                       "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["path"] == out
    with open(out, encoding="utf-8") as f:
        _assert_noise_is_grey(f.read())
