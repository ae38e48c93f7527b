"""The web pages: in process (httpx ASGI transport) and in headless Chromium on a real server."""

import asyncio
import contextlib
import re
import shutil
import threading
import time

import httpx
import numpy as np
import pytest

import clustermetrics as cm
from clustermetrics.server.app import Settings, create_app
from clustermetrics.server.web import COOKIE

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


def _shop(client):
    rng = np.random.default_rng(0)
    truth = np.repeat(["shoes", "hats", "bags"], 40)
    X = np.repeat(np.eye(3, 4) * 8, 40, axis=0) + rng.normal(size=(120, 4))
    client.Dataset("shop").insert_documents(
        [{"_id": f"p{i}", "item_vector_": X[i], "category": str(truth[i]),
          "title": f"product {i}"} for i in range(120)])
    client.vector_tools.cluster.kmeans("shop", "item_vector_", 3)
    client.vector_tools.cluster.kmeans("shop", "item_vector_", 4)


@pytest.fixture
def site(tmp_path):
    app = create_app(Settings(data_dir=str(tmp_path / "server")))
    state = app.state.server
    key = state.keys.create("alpha")
    _shop(cm.Client(api=state.projects.api("alpha")))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    site = httpx.AsyncClient(transport=transport, base_url="http://test")
    site.state, site.key = state, key
    yield site
    state.close()


def _token(page: str, action: str = "/login") -> str:
    """The CSRF token the page's form to ``action`` carries."""
    match = re.search(f'action="{action}">[^>]*?(?:<input[^>]*>)*?[^>]*name="csrf" '
                      'value="([^"]+)"', page)
    assert match, f"the page has no form to {action} with a CSRF token"
    return match.group(1)


async def _login(site, **form):
    """POST /login as the sign-in page's form does (its CSRF token included)."""
    token = _token((await site.get("/login")).text)
    return await site.post("/login", data={"csrf": token, **form})


async def _sign_in(site, key=None):
    r = await _login(site, key=key or site.key["key"], next="/datasets")
    assert r.status_code == 303 and r.headers["location"] == "/datasets"
    return r


async def test_pages_need_a_session(site):
    for path in ("/datasets", "/datasets/shop", "/datasets/shop/report?vector_field=v&alias=a"):
        r = await site.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=%2F")
    r = await site.get("/")
    assert r.headers["location"] == "/login"


async def test_sign_in_sets_a_session_cookie_not_the_key(site):
    r = await _sign_in(site)
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    assert site.key["key"] not in cookie
    assert (await site.get("/")).headers["location"] == "/datasets"


async def test_a_wrong_key_does_not_sign_in(site):
    r = await _login(site, key="cm_00000000_" + "x" * 43)
    assert r.status_code == 401 and "not valid" in r.text
    assert COOKIE not in r.headers.get("set-cookie", "")


async def test_sign_in_goes_back_only_to_this_site(site):
    r = await _login(site, key=site.key["key"], next="https://evil.test/")
    assert r.headers["location"] == "/datasets"
    r = await _login(site, key=site.key["key"], next="//evil.test/x")
    assert r.headers["location"] == "/datasets"


async def test_datasets_page(site):
    await _sign_in(site)
    r = await site.get("/datasets")
    assert r.status_code == 200
    assert 'href="/datasets/shop"' in r.text and "120" in r.text and "alpha" in r.text


async def test_dataset_page_shows_fields_aliases_and_headline_metrics(site):
    await _sign_in(site)
    api = site.state.projects.api("alpha")
    r = await site.get("/datasets/shop", params={"ground_truth": "category"})
    assert r.status_code == 200
    for field in ("item_vector_", "FLOAT[4]", "category", "title"):
        assert field in r.text
    assert "kmeans_3" in r.text and "kmeans_4" in r.text
    expected = api.metrics("shop", "item_vector_", "kmeans_3", "category", random_state=0)
    assert f"{expected.silhouette:.4g}" in r.text
    assert f"{expected.adjusted_rand:.4g}" in r.text and "adjusted_rand" in r.text
    assert "/datasets/shop/report?vector_field=item_vector_&amp;alias=kmeans_3" in r.text
    assert 'action="/datasets/shop/compare"' in r.text


async def test_dataset_page_waits_for_one_recomputation_then_answers_from_kept(site):
    import time
    await _sign_in(site)
    api = site.state.projects.api("alpha")
    computed = api.computed
    r = await site.get("/datasets/shop")
    assert r.status_code == 200
    assert r.text.count("being computed: reload in a moment") == 1  # the second stale alias
    # the coverage beside the scores: just before the silhouette
    assert re.search(r'<th scope="col" class="num">coverage</th><th scope="col" class="num" '
                     r'title="Silhouette \(silhouette\): higher is better">silhouette</th>',
                     r.text) and ">100%</td>" in r.text
    deadline = time.monotonic() + 60  # the background job's end, not a timing check
    while api.kept_metrics("shop", "item_vector_", "kmeans_4", compute=False) is None:
        assert time.monotonic() < deadline, "the background recomputation did not end"
        time.sleep(0.05)
    assert api.computed == computed + 2
    r = await site.get("/datasets/shop")
    assert api.computed == computed + 2  # nothing changed: answered from the kept metrics
    assert "being computed" not in r.text
    for alias in ("kmeans_3", "kmeans_4"):
        kept = api.list_aliases("shop", metrics=True)[alias == "kmeans_4"]["metrics"]
        assert f"{kept['scores']['silhouette']:.4g}" in r.text
    cm.Client(api=api).Dataset("shop").delete_documents(["p0"])
    r = await site.get("/datasets/shop")
    # changed documents: the page waited for one recomputation (kmeans_3), not the other
    assert r.text.count("being computed: reload in a moment") == 1
    assert api.kept_metrics("shop", "item_vector_", "kmeans_3", compute=False) is not None


async def test_report_page_is_the_html_report(site):
    await _sign_in(site)
    r = await site.get("/datasets/shop/report", params={
        "vector_field": "item_vector_", "alias": "kmeans_3", "ground_truth": "category"})
    assert r.status_code == 200
    assert 'id="silhouette"' in r.text and "Adjusted Rand Index" in r.text


async def test_report_page_shows_a_card_per_cluster(site):
    await _sign_in(site)
    r = await site.get("/datasets/shop/report", params={
        "vector_field": "item_vector_", "alias": "kmeans_3", "ground_truth": "category",
        "text_field": "title"})
    assert r.status_code == 200
    assert 'id="clusters"' in r.text and r.text.count('<div class="card"') == 3
    assert "keywords</b>: product" in r.text and "top classes</b>: " in r.text


async def test_compare_page(site):
    await _sign_in(site)
    r = await site.get("/datasets/shop/compare", params=[
        ("vector_field", "item_vector_"), ("alias", "kmeans_3"), ("alias", "kmeans_4")])
    assert r.status_code == 200
    assert "kmeans_3" in r.text and "kmeans_4" in r.text and "Silhouette" in r.text
    crumbs = re.search(r'<nav class="crumbs".*?</nav>', r.text).group(0)
    assert ('<a href="/datasets">Datasets</a>' in crumbs and '<a href="/datasets/shop">shop</a>'
            in crumbs and '<li aria-current="page">compare kmeans_3, kmeans_4</li>' in crumbs)
    assert r.text.index('<header class="bar">') < r.text.index("<main>")  # the site's bar
    # the coverage just before the first score, in the table a reader sorts
    assert ("<th>alias</th><th class='num'>coverage</th><th class='num'>silhouette</th>"
            in r.text)


async def test_report_page_links_back_to_its_dataset(site):
    await _sign_in(site)
    r = await site.get("/datasets/shop/report", params={
        "vector_field": "item_vector_", "alias": "kmeans_3"})
    assert r.status_code == 200
    crumbs = re.search(r'<nav class="crumbs".*?</nav>', r.text).group(0)
    assert '<a href="/datasets/shop">shop</a>' in crumbs and 'href="/datasets">' in crumbs
    assert '<li aria-current="page">kmeans_3 report</li>' in crumbs
    nonce = re.search(r"'nonce-([^']+)'", r.headers["content-security-policy"]).group(1)
    # linked, not inlined, and allowed by the answer's nonce
    assert f'<link rel="stylesheet" nonce="{nonce}" href="/static/style.css?v=' in r.text
    assert f'<script nonce="{nonce}" src="/static/tables.js?v=' in r.text


async def test_report_and_compare_pages_link_plotly_js_instead_of_inlining_it(site):
    from clustermetrics.report.html import plotly_digest
    await _sign_in(site)
    pages = [await site.get("/datasets/shop/report", params={
                 "vector_field": "item_vector_", "alias": "kmeans_3"}),
             await site.get("/datasets/shop/compare", params=[
                 ("vector_field", "item_vector_"), ("alias", "kmeans_3"),
                 ("alias", "kmeans_4")])]
    for r in pages:
        assert r.status_code == 200, r.text[:300]
        nonce = re.search(r"'nonce-([^']+)'", r.headers["content-security-policy"]).group(1)
        assert f'<script nonce="{nonce}" src="/static/plotly.js?v={plotly_digest()}">' in r.text
        assert len(r.content) < 1_000_000  # 4.8 MB with plotly.js inlined
    r = await site.get("/static/plotly.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert len(r.content) > 3_000_000 and b"Plotly" in r.content[:100_000]


async def test_unknown_dataset_page_is_404_with_the_message(site):
    await _sign_in(site)
    r = await site.get("/datasets/shoop")
    assert r.status_code == 404
    assert "dataset &#x27;shoop&#x27; not found. Did you mean &#x27;shop&#x27;?" in r.text


async def test_another_projects_dataset_page_is_404(site):
    other = site.state.keys.create("beta")
    await _sign_in(site, other["key"])
    r = await site.get("/datasets/shop")
    assert r.status_code == 404 and "There are no datasets yet" in r.text


async def test_logout_ends_the_session(site):
    await _sign_in(site)
    token = _token((await site.get("/datasets")).text, "/logout")
    r = await site.post("/logout", data={"csrf": token})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert (await site.get("/datasets")).status_code == 303


async def test_revoking_the_key_ends_its_sessions(site):
    await _sign_in(site)
    assert (await site.get("/datasets")).status_code == 200
    site.state.keys.revoke(site.key["key_id"])
    assert (await site.get("/datasets")).status_code == 303


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                                             "(make browser installs it)")
def test_sign_in_open_a_dataset_and_a_report_in_chromium(http_server, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    project, key = http_server.new_project("web")
    with cm.Client(url=http_server.url, api_key=key) as client:
        _shop(client)
    errors = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{http_server.url}/datasets")
        assert "/login" in page.url  # not signed in yet
        page.fill("#key", "cm_00000000_" + "x" * 43)
        page.click("#signin")
        assert "not valid" in page.inner_text("#error")
        page.fill("#key", key)
        page.click("#signin")
        page.wait_for_url(f"{http_server.url}/datasets")
        page.click("text=shop")
        page.wait_for_selector("#aliases")
        assert "kmeans_3" in page.inner_text("#aliases")
        assert "category" in page.inner_text("#fields")
        page.select_option("select[name=ground_truth]", "category")
        page.click("text=Show")
        page.wait_for_selector("#aliases th:has-text('ARI')")
        page.click("#aliases a.report >> nth=0")
        page.wait_for_selector(".main-svg", state="attached")  # no eval: the page's CSP refuses it
        assert page.locator("section#silhouette").is_visible()
        page.go_back()
        page.click("form.compare button")
        page.wait_for_selector(".main-svg", state="attached")  # no eval: the page's CSP refuses it
        assert "kmeans_4" in page.content()
        page.goto(f"{http_server.url}/datasets")
        page.click("#logout")
        page.wait_for_url(f"{http_server.url}/login")
        page.goto(f"{http_server.url}/datasets")
        assert "/login" in page.url
        browser.close()
    assert errors == []
    http_server.state.projects.close(project)


@pytest.mark.parametrize("target", ["/\\evil.com", "//evil.com", "https://evil.com/",
                                    "/datasets\r\nSet-Cookie: x=1", "datasets"])
async def test_sign_in_never_redirects_off_this_server(site, target):
    r = await _login(site, key=site.key["key"], next=target)
    assert r.status_code == 303 and r.headers["location"] == "/datasets"


async def test_pages_compute_as_jobs_of_the_project(site):
    """Reports, compares and headline metrics run on the job workers (their BLAS limits),
    listed with the project's jobs."""
    await _sign_in(site)
    assert (await site.get("/datasets/shop")).status_code == 200
    r = await site.get("/datasets/shop/report",
                       params={"vector_field": "item_vector_", "alias": "kmeans_3"})
    assert r.status_code == 200
    r = await site.get("/datasets/shop/compare", params=[
        ("vector_field", "item_vector_"), ("alias", "kmeans_3"), ("alias", "kmeans_4")])
    assert r.status_code == 200
    jobs = site.state.jobs.list_jobs("alpha")
    assert [j.op for j in jobs[:3]] == ["compare", "report", "headlines"]
    assert all(j.status == "done" and j.params["page"] for j in jobs[:3])


async def test_a_page_whose_job_fails_shows_the_error(site):
    await _sign_in(site)
    r = await site.get("/datasets/shop/report",
                       params={"vector_field": "item_vector_", "alias": "nope"})
    assert r.status_code == 404 and "nope" in r.text
    assert site.state.jobs.list_jobs("alpha")[0].status == "failed"


async def test_an_unknown_ground_truth_field_is_said_on_the_page(site):
    await _sign_in(site)
    r = await site.get("/datasets/shop", params={"ground_truth": "categry"})
    assert r.status_code == 200
    assert "field &#x27;categry&#x27; not found" in r.text and "category" in r.text


async def test_a_page_address_missing_its_parameters_is_an_html_page(site):
    await _sign_in(site)
    r = await site.get("/datasets/shop/report")
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/html")
    assert "field &#x27;vector_field&#x27; (query): Field required" in r.text
    assert "Something in the address is wrong" in r.text


# -- one stylesheet, sortable tables, friendly errors, the API docs from the package ----------

async def test_every_page_links_the_one_stylesheet_and_script_cached_for_a_year(site):
    from clustermetrics import static
    await _sign_in(site)
    for path in ("/login", "/datasets", "/datasets/shop", "/jobs", "/datasets/nope"):
        r = await site.get(path)
        assert f'href="/static/style.css?v={static.digest("style.css")}"' in r.text, path
        assert f'src="/static/tables.js?v={static.digest("tables.js")}" defer' in r.text, path
        assert "<style" not in r.text and "style=" not in r.text, path  # nothing inline
        csp = r.headers["content-security-policy"]
        assert "style-src 'self';" in csp and "script-src 'self';" in csp, path
    for name, kind in (("style.css", "text/css"), ("tables.js", "text/javascript")):
        r = await site.get(f"/static/{name}")
        assert r.status_code == 200 and r.headers["content-type"].startswith(kind)
        assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert r.text == static.text(name)


@pytest.mark.parametrize("name, said", [
    ("style.css.map", "file &#x27;style.css.map&#x27; not found"),
    ("x", "file &#x27;x&#x27; not found"),
    ("../web.py", "There is no page at /web.py"),  # the client resolves the dots
    ("%2e%2e%2fauth.py", "There is no page at /static/../auth.py")])
async def test_only_the_pages_files_are_served(site, name, said):
    r = await site.get(f"/static/{name}", headers={"Accept": "text/html"})
    assert r.status_code == 404 and "Not found" in r.text and said in r.text
    assert "import" not in r.text  # no source file


async def test_a_report_file_inlines_the_same_stylesheet(site):
    from clustermetrics import static
    from clustermetrics.report import alias_report
    page = alias_report(site.state.projects.api("alpha"), "shop", "item_vector_",
                        "kmeans_3").html
    assert f"<style>{static.text('style.css')}</style>" in page
    assert f"<script>{static.text('tables.js')}</script>" in page
    assert "/static/" not in page and "<link" not in page  # works as a file on its own
    assert "class='per-cluster sortable'" in page


async def test_the_datasets_tables_sort_in_the_browser_and_read_in_the_servers_order(site):
    await _sign_in(site)
    r = await site.get("/datasets/shop")
    assert '<table class="sortable" id="aliases">' in r.text
    assert r.text.index(">kmeans_3</a>") < r.text.index(">kmeans_4</a>")  # stable order
    assert '<td class="num" data-sort="1.0">100%</td>' in r.text  # the coverage, to sort by


async def test_an_alias_that_clusters_little_says_so_beside_its_scores(site):
    api = site.state.projects.api("alpha")
    few = {f"p{i}": ("a" if i < 20 else "b" if i < 40 else "none") for i in range(120)}
    cm.Client(api=api).vector_tools.cluster.set_cluster_labels(
        "shop", "item_vector_", "few", few, noise_label="none")
    api.kept_metrics("shop", "item_vector_", "few")
    await _sign_in(site)
    r = await site.get("/datasets/shop")
    assert '<td class="num low" data-sort="0.3333333333333333">33%</td>' in r.text
    assert ("few clusters only 33% of the documents (the rest noise or unlabelled)"
            in r.text)


async def test_a_jobs_page_and_a_jobs_own_page(site):
    await _sign_in(site)
    await site.get("/datasets/shop/compare", params=[
        ("vector_field", "item_vector_"), ("alias", "kmeans_3"), ("alias", "kmeans_4")])
    job = site.state.jobs.list_jobs("alpha")[0]
    r = await site.get("/jobs")
    assert r.status_code == 200 and f'href="/jobs/{job.id}"' in r.text
    assert "compare (page)" in r.text and "kmeans_3, kmeans_4" in r.text
    r = await site.get(f"/jobs/{job.id}")
    assert r.status_code == 200 and "<dt>status</dt><dd>done</dd>" in r.text
    assert '<li><a href="/jobs">Jobs</a></li>' in r.text
    # progress by stage, as far as it went: both aliases compared
    assert ('<tr><td>compare</td><td class="num" data-sort="2">2</td>'
            '<td class="num" data-sort="2">2</td></tr>') in r.text
    r = await site.get("/jobs", params={"status": "done"})
    assert r.status_code == 200 and job.id in r.text


@contextlib.contextmanager
def _running_job(site, project="alpha"):
    """A job of ``project`` that runs until cancelled (it checks for its cancel as work does)
    or until the block ends."""
    stop = threading.Event()

    def work(progress):
        while not stop.wait(0.02):
            progress("wait", 0, None)

    job = site.state.jobs.submit(project, "wait", {}, work)
    try:
        deadline = time.monotonic() + 10
        while job.status != "running" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert job.status == "running"
        yield job
    finally:
        stop.set()


async def test_a_running_jobs_page_has_a_cancel_button_that_stops_it(site):
    await _sign_in(site)
    with _running_job(site) as job:
        page = (await site.get(f"/jobs/{job.id}")).text
        assert '<button id="cancel">Cancel this job</button>' in page
        r = await site.post(f"/jobs/{job.id}/cancel",
                            data={"csrf": _token(page, f"/jobs/{job.id}/cancel")})
        assert r.status_code == 303 and r.headers["location"] == f"/jobs/{job.id}"
        for _ in range(200):
            if job.status == "cancelled":
                break
            await asyncio.sleep(0.02)
        assert job.status == "cancelled"
        page = (await site.get(f"/jobs/{job.id}")).text
        assert "<dt>status</dt><dd>cancelled</dd>" in page and 'id="cancel"' not in page


async def test_a_cancel_without_the_pages_token_is_refused(site):
    await _sign_in(site)
    with _running_job(site) as job:
        r = await site.post(f"/jobs/{job.id}/cancel", data={"csrf": "forged"})
        assert r.status_code == 403 and "The cancel form was not sent from this server" in r.text
        assert job.status == "running"


async def test_a_cancel_from_another_site_is_refused(site):
    await _sign_in(site)
    with _running_job(site) as job:
        page = (await site.get(f"/jobs/{job.id}")).text
        r = await site.post(f"/jobs/{job.id}/cancel",
                            data={"csrf": _token(page, f"/jobs/{job.id}/cancel")},
                            headers={"Origin": "https://elsewhere.example"})
        assert r.status_code == 403 and "The cancel form was not sent from this server" in r.text
        assert job.status == "running"


async def test_another_projects_job_cannot_be_cancelled_from_a_page(site):
    other = site.state.keys.create("beta")
    with _running_job(site, "alpha") as job:
        await _sign_in(site, other["key"])
        page = (await site.get("/jobs")).text
        r = await site.post(f"/jobs/{job.id}/cancel", data={"csrf": _token(page, "/logout")})
        assert r.status_code == 404 and f"job &#x27;{job.id}&#x27; not found" in r.text
        assert job.status == "running"


async def test_a_cancel_signed_out_goes_to_sign_in(site):
    with _running_job(site) as job:
        r = await site.post(f"/jobs/{job.id}/cancel", data={"csrf": "x"})
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
        assert job.status == "running"


async def test_an_unknown_job_is_a_404_page(site):
    await _sign_in(site)
    r = await site.get("/jobs/0123456789abcdef")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "job &#x27;0123456789abcdef&#x27; not found" in r.text


async def test_a_bad_status_on_the_jobs_page_names_the_parameter(site):
    await _sign_in(site)
    r = await site.get("/jobs", params={"status": "finished"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/html")
    assert "field &#x27;status&#x27; (query): Input should be &#x27;queued&#x27;" in r.text


async def test_an_unknown_page_is_a_404_page_for_a_browser_and_json_for_a_program(site):
    r = await site.get("/nothing/here", headers={"Accept": "text/html,*/*;q=0.8"})
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "There is no page at /nothing/here" in r.text and '<a href="/login">' in r.text
    r = await site.get("/nothing/here", headers={"Accept": "application/json"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


async def test_the_api_keeps_its_json_errors_whatever_a_browser_accepts(site):
    r = await site.get("/v1/nothing", headers={"Accept": "text/html"})
    assert r.status_code in (401, 404) and r.headers["content-type"] == "application/json"
    r = await site.get("/v1/datasets", headers={"Accept": "text/html",
                                                "Authorization": f"Bearer {site.key['key']}"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    r = await site.get("/v1/nothing", headers={"Accept": "text/html",
                                               "Authorization": f"Bearer {site.key['key']}"})
    assert r.status_code == 404 and "No route GET /v1/nothing" in r.json()["error"]["message"]
    r = await site.request("PATCH", "/v1/datasets", headers={
        "Accept": "text/html", "Authorization": f"Bearer {site.key['key']}"})
    error = r.json()["error"]
    assert r.status_code == 405 and (error["code"], error["message"], error["state"]) == (
        "error", "405: Method Not Allowed", {})


async def test_a_wrong_method_on_a_page_is_a_405_page_naming_the_right_one(site):
    r = await site.get("/logout", headers={"Accept": "text/html"})
    assert r.status_code == 405 and r.headers["content-type"].startswith("text/html")
    assert "GET /logout is not possible: this address takes POST only." in r.text


async def test_a_full_job_queue_is_a_429_page(site):
    await _sign_in(site)
    site.state.jobs.max_queued = 0
    r = await site.get("/datasets/shop/report", params={"vector_field": "item_vector_",
                                                        "alias": "kmeans_3"})
    assert r.status_code == 429 and "Busy: try again shortly" in r.text
    assert "job queue is full" in r.text


async def test_a_fault_of_the_server_is_a_500_page_with_an_incident_id(site, tmp_path):
    """A project whose store file is not a database: the server's fault, not the visitor's."""
    other = site.state.keys.create("broken")
    with open(tmp_path / "server" / "projects" / "broken.duckdb", "wb") as f:
        f.write(b"this is not a DuckDB file" * 100)
    await _sign_in(site, other["key"])
    r = await site.get("/datasets")
    assert r.status_code == 500 and r.headers["content-type"].startswith("text/html")
    assert "Something went wrong" in r.text and re.search(r"incident [0-9a-f]{12}", r.text)
    assert "broken.duckdb" not in r.text and "Traceback" not in r.text


async def test_a_signed_out_visitor_is_told_why_sign_in_is_asked(site):
    r = await site.get("/datasets/shop")
    assert r.headers["location"] == "/login?next=%2Fdatasets%2Fshop&error=needed"
    r = await site.get(r.headers["location"])
    assert '<p class="notice" id="notice">Sign in to see that page' in r.text
    assert 'id="error"' not in r.text


async def test_swagger_ui_is_served_from_the_package(site):
    r = await site.get("/docs")
    assert r.status_code == 200
    assert "cdn.jsdelivr.net" not in r.text and "/static/docs/swagger-ui-bundle.js?v=" in r.text
    csp = r.headers["content-security-policy"]
    assert "jsdelivr" not in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
    assert r.text.count(f'<script nonce="{nonce}"') == 2  # the bundle and its start
    js = await site.get(re.search(r'src="(/static/docs/swagger-ui-bundle.js[^"]*)"',
                                  r.text).group(1))
    assert js.status_code == 200 and "SwaggerUIBundle" in js.text
    assert js.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert (await site.get("/openapi.json")).status_code == 200  # public, as /docs
