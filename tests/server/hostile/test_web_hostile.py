"""Attacks through a browser: forged sign-in and sign-out (CSRF), text planted in the sign-in
page's address, and labels holding HTML that Plotly would draw as a link.

Each test asserts the status it got and that the server is alive; the report's figures are
checked in headless Chromium too (``make browser`` installs it).
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from collections.abc import Iterator

import httpx
import numpy as np
import pytest

from clustermetrics import Client
from clustermetrics.server.web import COOKIE, CSRF_COOKIE, LOGIN_ERRORS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
EVIL = '<a href="https://evil.test/">click</a>'


def _csrf(page: str, action: str = "/login") -> str:
    match = re.search(f'action="{action}">.*?name="csrf" value="([^"]+)"', page, re.S)
    assert match, f"no form to {action} with a CSRF token"
    return match.group(1)


def _browser(server) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=30)


@contextlib.contextmanager
def _signed_in(server) -> Iterator[httpx.Client]:
    with _browser(server) as web:
        r = web.post("/login", data={"key": server.attacker, "next": "/datasets",
                                     "csrf": _csrf(web.get("/login").text)},
                     headers={"Origin": server.url})
        assert r.status_code == 303 and web.cookies.get(COOKIE)
        yield web


# -- CSRF ---------------------------------------------------------------------------------

def test_sign_in_without_the_forms_token_is_403(server):
    with _browser(server) as web:
        web.get("/login")  # the token's cookie is there; the form field is not
        r = web.post("/login", data={"key": server.attacker, "next": "/datasets"})
        assert r.status_code == 403 and LOGIN_ERRORS["csrf"] in r.text.replace("&#x27;", "'")
        assert COOKIE not in r.headers.get("set-cookie", "")
    server.assert_alive()


def test_sign_in_with_a_token_not_its_cookies_is_403(server):
    """A page of another site cannot read our cookie: it can only guess the token."""
    with _browser(server) as web:
        web.get("/login")
        r = web.post("/login", data={"key": server.attacker, "csrf": "A" * 43})
        assert r.status_code == 403
    with _browser(server) as web:  # no cookie at all (a first visit, forged)
        r = web.post("/login", data={"key": server.attacker, "csrf": "A" * 43})
        assert r.status_code == 403 and COOKIE not in r.headers.get("set-cookie", "")
    server.assert_alive()


@pytest.mark.parametrize("headers", [{"Origin": "https://evil.test"}, {"Origin": "null"},
                                     {"Referer": "https://evil.test/login"}])
def test_sign_in_from_another_origin_is_403(server, headers):
    with _browser(server) as web:
        token = _csrf(web.get("/login").text)
        r = web.post("/login", data={"key": server.attacker, "csrf": token}, headers=headers)
        assert r.status_code == 403 and COOKIE not in r.headers.get("set-cookie", "")
        r = web.post("/login", data={"key": server.attacker, "csrf": token},
                     headers={"Referer": server.url + "/login"})  # the same form, from here
        assert r.status_code == 303 and web.cookies.get(COOKIE)
    server.assert_alive()


def test_sign_out_needs_the_sessions_token_and_this_origin(server):
    with _signed_in(server) as web:
        r = web.post("/logout")
        assert r.status_code == 403 and "not sent from this server" in r.text
        token = _csrf(web.get("/datasets").text, "/logout")
        r = web.post("/logout", data={"csrf": token}, headers={"Origin": "https://evil.test"})
        assert r.status_code == 403
        assert web.get("/datasets").status_code == 200  # still signed in
        r = web.post("/logout", data={"csrf": token}, headers={"Origin": server.url})
        assert r.status_code == 303 and r.headers["location"] == "/login"
        assert web.get("/datasets").status_code == 303
    server.assert_alive()


def test_the_sign_in_token_is_its_own_cookie(server):
    with _browser(server) as web:
        r = web.get("/login")
        cookie = r.headers["set-cookie"]
        assert cookie.startswith(f"{CSRF_COOKIE}=") and "HttpOnly" in cookie
        assert "samesite=strict" in cookie.lower() and "path=/login" in cookie.lower()
    server.assert_alive()


# -- text in the address ------------------------------------------------------------------

def test_the_sign_in_page_says_only_its_own_messages(server):
    planted = "Your key expired. Call +1 555 0100 and read it out to renew it."
    with _browser(server) as web:
        r = web.get("/login", params={"error": planted})
        assert r.status_code == 200 and "555" not in r.text and 'id="error"' not in r.text
        r = web.get("/login", params={"error": "expired"})
        assert LOGIN_ERRORS["expired"] in r.text
    server.assert_alive()


def test_an_ended_session_is_sent_to_sign_in_with_the_expired_code(server):
    with _browser(server) as web:
        web.cookies.set(COOKIE, "x" * 43)
        r = web.get("/datasets")
        assert r.status_code == 303 and "error=expired" in r.headers["location"]
    server.assert_alive()


# -- HTML in labels -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def evil_labels(server):
    """An alias of the attacker's whose labels (and a field's values) hold a link."""
    rng = np.random.default_rng(0)
    X = np.repeat(np.eye(3, 4) * 8, 30, axis=0) + rng.normal(size=(90, 4))
    names = [EVIL, "b", "c"]
    with Client(url=server.url, api_key=server.attacker) as c:
        c.Dataset("evil").insert_documents(
            [{"_id": f"e{i}", "v_vector_": X[i], "kind": names[i % 3]} for i in range(90)])
        c.vector_tools.cluster.set_cluster_labels(
            "evil", "v_vector_", "linked", {f"e{i}": names[i // 30] for i in range(90)})
    return "/datasets/evil/report?vector_field=v_vector_&alias=linked&ground_truth=kind"


def test_a_label_holding_a_link_is_text_in_the_reports_figures(server, evil_labels):
    with _signed_in(server) as web:
        r = web.get(evil_labels)
    assert r.status_code == 200
    assert '<a href="https://evil.test/' not in r.text  # nowhere as markup, in the page
    assert '\\u003ca href=' not in r.text  # or in Plotly's data (its JSON writes < so)
    figures = [json.loads(m) for m in re.findall(r"Plotly\.newPlot\(\s*\"[^\"]+\",\s*(\[.*?\]),"
                                                 r"\s*\{", r.text, re.S)]
    texts = json.dumps(figures)
    assert "&lt;a href=\\\"https://evil.test/\\\"&gt;click&lt;/a&gt;" in texts
    server.assert_alive()


def test_report_pages_have_a_nonce_policy(server, evil_labels):
    with _signed_in(server) as web:
        r = web.get(evil_labels)
    policy = r.headers["content-security-policy"]
    nonce = re.search(r"script-src 'nonce-([^']+)'", policy).group(1)
    assert "unsafe-inline" not in policy.split("style-src-attr")[0]
    assert "unsafe-eval" not in policy
    scripts = re.findall(r"<script[^>]*>", r.text)
    assert scripts and all(f'nonce="{nonce}"' in s for s in scripts)
    server.assert_alive()


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                                             "(make browser installs it)")
def test_in_chromium_the_report_draws_under_its_policy_and_a_label_is_no_link(server,
                                                                             evil_labels):
    playwright = pytest.importorskip("playwright.sync_api")
    errors, refused = [], []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: refused.append(m.text)
                if "Content Security Policy" in m.text else None)
        page.goto(f"{server.url}/login")
        page.fill("#key", server.attacker)
        page.click("#signin")
        page.wait_for_url(f"{server.url}/datasets")
        page.goto(server.url + evil_labels)
        page.wait_for_selector(".main-svg", state="attached")  # no eval: the page's CSP refuses it
        page.wait_for_selector("g.xtick", state="attached")
        drawn = page.evaluate("Array.from(document.querySelectorAll('svg text'))"
                              ".map(t => t.textContent).join('\\n')")
        links = page.evaluate("document.querySelectorAll('svg a').length")
        page.goto(f"{server.url}/datasets/evil/compare?vector_field=v_vector_&alias=linked"
                  "&alias=linked")
        page.wait_for_selector(".main-svg", state="attached")  # no eval: the page's CSP refuses it
        browser.close()
    assert links == 0
    assert EVIL in drawn  # the label, drawn as the text it is
    assert errors == [] and refused == []
    server.assert_alive()
