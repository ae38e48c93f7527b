"""The web pages in headless Chromium on a real server, at a laptop's width (1,280 px) and a
phone's (390 px): every page fits its width (a wide table scrolls inside its box), tables sort
by a click on their header, nothing breaks the Content-Security-Policy or logs an error, and
nothing is fetched from another site (every request not to 127.0.0.1 is blocked and counted).
Screenshots go to pytest's temporary folder (their path is printed), never into the repo."""

from __future__ import annotations

import shutil
import urllib.parse

import numpy as np
import pytest

import clustermetrics as cm

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
WIDTHS = [1280, 390]

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                                                          "(make browser installs it)")]


def _shop(client) -> None:
    """Three blobs, k-means with k=3 and k=4, and 'tight': the blobs' cores with the rest
    called noise (25% coverage: the alias that must not look best without saying so)."""
    rng = np.random.default_rng(0)
    truth = np.repeat(["shoes", "hats", "bags"], 40)
    X = np.repeat(np.eye(3, 4) * 8, 40, axis=0) + rng.normal(size=(120, 4))
    client.Dataset("shop").insert_documents(
        [{"_id": f"p{i}", "item_vector_": X[i], "category": str(truth[i]),
          "title": f"product {i}"} for i in range(120)])
    tools = client.vector_tools.cluster
    tools.kmeans("shop", "item_vector_", 3)
    tools.kmeans("shop", "item_vector_", 4)
    core = np.zeros(120, dtype=bool)
    for t in ("shoes", "hats", "bags"):
        rows = np.flatnonzero(truth == t)
        dist = np.linalg.norm(X[rows] - X[rows].mean(axis=0), axis=1)
        core[rows[np.argsort(dist)[:10]]] = True
    tools.set_cluster_labels("shop", "item_vector_", "tight",
                             {f"p{i}": (str(truth[i]) if core[i] else "none")
                              for i in range(120)}, noise_label="none")


@pytest.fixture(scope="module")
def site(http_server):
    project, key = http_server.new_project("pages")
    with cm.Client(url=http_server.url, api_key=key) as client:
        _shop(client)
        for alias in ("kmeans_3", "kmeans_4", "tight"):  # kept, so the pages answer at once
            for truth in (None, "category"):
                http_server.state.projects.api(project).kept_metrics(
                    "shop", "item_vector_", alias, truth)
    yield http_server, key
    http_server.state.projects.close(project)


@pytest.fixture(scope="module")
def chromium():
    sync = pytest.importorskip("playwright.sync_api")
    with sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    folder = tmp_path_factory.mktemp("screenshots")
    print(f"\nscreenshots: {folder}")
    return folder


class Visit:
    """A browser context at one width: signs in, opens pages, and records what went wrong
    (console errors, page errors, CSP violations, requests that tried to leave 127.0.0.1)."""

    def __init__(self, browser, url: str, width: int, shots, javascript: bool = True):
        self.url, self.width, self.shots = url, width, shots
        self.problems: list[str] = []
        self.outside: list[str] = []
        self.context = browser.new_context(viewport={"width": width, "height": 900},
                                           java_script_enabled=javascript)
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: m.type == "error" and self.problems.append(
            f"console: {m.text} ({m.location.get('url')})"))
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))

    def _route(self, route) -> None:
        host = urllib.parse.urlsplit(route.request.url).hostname
        if host == "127.0.0.1" or route.request.url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            self.outside.append(route.request.url)
            route.abort()

    def sign_in(self, key: str) -> None:
        self.page.goto(f"{self.url}/login")
        self.page.fill("#key", key)
        self.page.click("#signin")
        self.page.wait_for_url(f"{self.url}/datasets")

    def open(self, path: str, name: str, ready: str = "main, body", status: int = 200) -> None:
        answer = self.page.goto(self.url + path)
        assert answer is not None and answer.status == status, (path, answer and answer.status)
        self.page.wait_for_selector(ready, state="attached")
        if status != 200:  # the browser logs the status of the page it was sent to open
            said = (f"console: Failed to load resource: the server responded with a status of "
                    f"{status} ")
            self.problems = [p for p in self.problems
                             if not (p.startswith(said) and p.endswith(f"({self.url}{path})"))]
        self.check(name)

    def check(self, name: str) -> None:
        """The page fits its width and is screenshotted."""
        self.page.wait_for_load_state("load")
        self.page.wait_for_timeout(300)  # plotly's responsive resize settles
        scroll, inner = self.page.evaluate(
            "[document.documentElement.scrollWidth, window.innerWidth]")
        assert scroll <= inner, f"{name} at {self.width} px overflows: {scroll} > {inner}"
        self.page.screenshot(path=str(self.shots / f"{name}-{self.width}.png"), full_page=True)

    def column(self, table: str, header: str) -> list[str]:
        return self.page.evaluate(
            """([table, header]) => {
                const t = document.getElementById(table);
                const heads = [...t.tHead.rows[0].cells].map(c => c.textContent.trim());
                const i = heads.indexOf(header);
                return [...t.tBodies[0].rows].map(r => r.cells[i].textContent.trim());
            }""", [table, header])

    def close(self) -> None:
        self.context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_fits_and_loads_nothing_from_elsewhere(site, chromium, shots, width):
    server, key = site
    visit = Visit(chromium, server.url, width, shots)
    visit.open("/login", "login", "#key")
    visit.sign_in(key)
    visit.check("datasets")
    visit.open("/datasets/shop?ground_truth=category", "dataset", "#aliases")
    assert visit.page.is_visible("p.low-coverage")  # the noise-heavy alias says so
    assert "tight clusters only 25%" in visit.page.inner_text("p.low-coverage")
    visit.page.click("#aliases a.report >> nth=0")
    visit.page.wait_for_selector(".main-svg", state="attached")
    visit.check("report")
    crumbs = visit.page.locator("#crumbs li").all_inner_texts()
    assert crumbs == ["Datasets", "shop", "kmeans_3 report"]
    visit.page.click("#crumbs a >> text=shop")
    visit.page.wait_for_selector("#aliases")
    visit.page.click("form.compare button")
    visit.page.wait_for_selector("#comparison .main-svg", state="attached")
    visit.check("compare")
    titles = visit.page.locator("#comparison .gtitle").all_text_contents()
    assert titles[:2] == ["Silhouette (↑)", "Calinski-Harabasz (↑)"]
    _no_overlap(visit.page, "#comparison .gtitle")
    assert visit.page.locator("#comparison-table td.low").count() == 1  # tight's coverage
    visit.open("/jobs", "jobs", "#jobs")
    visit.page.click("#jobs a >> nth=0")
    visit.page.wait_for_selector("dl.facts")
    visit.check("job")
    visit.open("/datasets/shoop", "error-404", "#error", status=404)
    assert "Did you mean 'shop'?" in visit.page.inner_text("#error")
    visit.open("/docs", "docs", ".swagger-ui .opblock")
    assert visit.page.locator(".swagger-ui .info .title").inner_text().startswith(
        "clustermetrics")
    visit.close()
    assert visit.outside == []
    assert visit.problems == []


def _no_overlap(page, selector: str) -> None:
    boxes = [b for b in (e.bounding_box() for e in page.locator(selector).all()) if b]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            apart = (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                     or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])
            assert apart, f"titles overlap: {a} {b}"


@pytest.mark.parametrize("width", WIDTHS)
def test_a_click_on_a_header_sorts_the_table(site, chromium, shots, width):
    server, key = site
    visit = Visit(chromium, server.url, width, shots)
    visit.sign_in(key)
    visit.open("/datasets/shop?ground_truth=category", "dataset", "#aliases")
    assert visit.column("aliases", "alias") == ["kmeans_3", "kmeans_4", "tight"]
    head = visit.page.locator("#aliases th", has_text="coverage")
    head.locator("button.sort").click()
    assert head.get_attribute("aria-sort") == "ascending"
    assert visit.column("aliases", "alias")[0] == "tight"  # 25% first
    assert visit.column("aliases", "coverage") == ["25%", "100%", "100%"]
    ari = visit.page.locator("#aliases th", has_text="ARI")
    ari.locator("button.sort").click()
    ari.locator("button.sort").click()
    assert ari.get_attribute("aria-sort") == "descending"
    assert head.get_attribute("aria-sort") is None  # one column's order at a time
    values = [float(v) for v in visit.column("aliases", "ARI")]
    assert values == sorted(values, reverse=True)
    visit.check("dataset-sorted")
    visit.close()
    assert visit.problems == [] and visit.outside == []


def test_without_javascript_a_table_keeps_the_servers_order(site, chromium, shots):
    server, key = site
    visit = Visit(chromium, server.url, 1280, shots, javascript=False)
    visit.sign_in(key)
    visit.open("/datasets/shop", "dataset-nojs", "#aliases")
    cells = visit.page.locator("#aliases tbody tr td:nth-child(1)").all_inner_texts()
    assert cells == ["kmeans_3", "kmeans_4", "tight"]
    assert visit.page.locator("#aliases button.sort").count() == 0
    visit.close()
    assert visit.outside == []


def test_a_signed_out_visitor_is_sent_to_sign_in_and_back(site, chromium, shots):
    server, key = site
    visit = Visit(chromium, server.url, 390, shots)
    visit.page.goto(f"{server.url}/datasets/shop")
    assert "/login?next=%2Fdatasets%2Fshop" in visit.page.url
    assert "Sign in to see that page" in visit.page.inner_text("#notice")
    visit.check("login-needed")
    visit.page.fill("#key", key)
    visit.page.click("#signin")
    visit.page.wait_for_url(f"{server.url}/datasets/shop")
    visit.open("/logout", "error-405", "#error", status=405)
    assert "GET /logout is not possible: this address takes POST only" in visit.page.inner_text(
        "#error")
    visit.close()
    assert visit.problems == [] and visit.outside == []
