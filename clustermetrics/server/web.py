"""Web pages from the same server, for people who would rather look than call.

Sign in with an API key (a cookie session: an HttpOnly, SameSite=Lax cookie holding a random
session token; the key itself is never stored in the browser), then: the project's datasets, a
dataset's fields and aliases with their headline metrics, an alias's HTML report and a compare
view of several aliases. A session ends at logout, after ``session_hours``, or when its key is
revoked.

Every form that changes state (sign in, sign out) carries a CSRF token and is refused (403)
unless the token matches and the browser's ``Origin`` (or ``Referer``) is this server: the
sign-in form's token is a random cookie of its own (double submit; there is no session yet),
a signed-in page's is its session's. Pages wait for their job without holding a thread, and a
page whose browser went away cancels its job. Every page has a Content-Security-Policy: a
page's style by its hash; a report's plotly.js and figures by a nonce of that answer.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import html
import re
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from .. import static
from ..api import codec
from ..errors import AuthenticationError, ClusterMetricsError, NotFoundError
from ..metrics.result import METRIC_INFO
from ..metrics.sampling import AUTO_SAMPLE_SIZE, EXACT_LIMIT
from ..report.compare import LOW_COVERAGE  # one threshold for the page and compare
from .auth import Principal
from .edge import SESSION_COOKIE as COOKIE
from .jobs import FINISHED, public

CSRF_COOKIE = "clustermetrics_csrf"  # the sign-in form's token (no session yet)
PAGE_POLL_S = 0.1  # how often a waiting page looks at its job and at its browser
# what the sign-in page may say: chosen by a code in its address, never text from it
LOGIN_ERRORS = {
    "expired": "Your session has ended (signed out, expired, or its key was revoked): sign in "
               "again.",
    "csrf": "The sign-in form was not sent from this server's page, or it is too old: sign in "
            "again from this page.",
}
# ... and what it may tell a visitor sent there from a page (not an error)
LOGIN_NOTICES = {"needed": "Sign in to see that page: give an API key of its project."}

router = APIRouter(include_in_schema=False)


class Sessions:
    """Web sessions in memory: token -> (principal, expiry, CSRF token). A restart signs
    everyone out."""

    def __init__(self, hours: float = 12.0):
        self.seconds = hours * 3600
        self._sessions: dict[str, tuple[Principal, float, str]] = {}
        self._lock = threading.Lock()

    def create(self, who: Principal) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            now = time.time()
            self._sessions = {t: s for t, s in self._sessions.items() if s[1] > now}
            self._sessions[token] = (who, now + self.seconds, secrets.token_urlsafe(32))
        return token

    def get(self, token: str | None) -> Principal | None:
        with self._lock:
            found = self._sessions.get(token or "")
        if found is None or found[1] < time.time():
            return None
        return found[0]

    def csrf(self, token: str | None) -> str | None:
        """The CSRF token of a live session, which its pages' forms carry."""
        with self._lock:
            found = self._sessions.get(token or "")
        return found[2] if found is not None and found[1] >= time.time() else None

    def drop(self, token: str | None) -> None:
        with self._lock:
            self._sessions.pop(token or "", None)


def _server(request: Request):
    return request.app.state.server


def _who(request: Request) -> Principal | None:
    """The signed-in principal, as the edge found it (a live session of an active key)."""
    return request.scope.get("state", {}).get("session")


async def _api(request: Request, who: Principal):
    projects = _server(request).projects
    return projects.opened(who.project) or await run_in_threadpool(projects.api, who.project)


def _to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    query = {"next": target}
    # a session that ended says so; a first visit is told why it is here
    query["error"] = "expired" if request.cookies.get(COOKIE) else "needed"
    return RedirectResponse("/login?" + urllib.parse.urlencode(query), 303)


# the pages load the one stylesheet and the table script from this server; nothing inline
PAGE_CSP = ("default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
STATIC = "/static"  # where server/assets.py serves clustermetrics/static's files


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


# plotly.js makes empty <style> elements and fills them through the CSSOM (allowed): the hash of
# the empty text lets exactly those in
_EMPTY_STYLE = _sha256("")


def report_csp(nonce: str) -> str:
    """A report's or comparison's policy: its scripts and style elements (the linked
    stylesheet and table script too) by this answer's nonce (plotly.js needs no eval); style
    attributes are allowed because plotly.js and its figures' containers set them (they cannot
    run code)."""
    return (f"default-src 'none'; script-src 'nonce-{nonce}'; "
            f"style-src-elem 'nonce-{nonce}' {_EMPTY_STYLE}; "
            "style-src-attr 'unsafe-inline'; img-src 'self' data: blob:; font-src data:; "
            "worker-src blob:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


Crumbs = list[tuple[str, str | None]]  # (text, address); the last is the page itself


def _bar(request: Request, section: str = "") -> str:
    """The bar on top of every page: where to go, the project signed in to, and sign out."""
    e = html.escape
    who = _who(request)

    def link(href: str, text: str, name: str) -> str:
        current = ' aria-current="page"' if name == section else ""
        return f'<a href="{href}"{current}>{text}</a>'

    items = ['<a class="brand" href="/">clustermetrics</a>']
    if who is not None:
        items += [link("/datasets", "Datasets", "datasets"), link("/jobs", "Jobs", "jobs")]
    items.append(link("/docs", "API docs", "docs"))
    if who is not None:
        items.append(f'<span class="who">project <b id="project">{e(who.project)}</b></span>'
                     '<form method="post" action="/logout">'
                     f'<input type="hidden" name="csrf" value="{e(_session_csrf(request) or "")}">'
                     '<button id="logout">Sign out</button></form>')
    else:
        items.append('<span class="who"><a href="/login">Sign in</a></span>')
    return f'<header class="bar"><nav aria-label="site">{"".join(items)}</nav></header>'


def _crumbs(crumbs: Crumbs) -> str:
    """The trail from the datasets to this page (the last crumb is the page itself)."""
    if not crumbs:
        return ""
    e = html.escape
    items = "".join(
        f'<li aria-current="page">{e(text)}</li>' if href is None
        else f'<li><a href="{e(href)}">{e(text)}</a></li>' for text, href in crumbs)
    return f'<nav class="crumbs" aria-label="breadcrumb" id="crumbs"><ol>{items}</ol></nav>'


def _page(request: Request, title: str, body: str, status: int = 200, *,
          crumbs: Crumbs | None = None, section: str = "") -> HTMLResponse:
    e = html.escape
    return HTMLResponse(f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)} · clustermetrics</title>{static.head(STATIC)}</head><body>
{_bar(request, section)}{_crumbs(crumbs or [])}<main><h1>{e(title)}</h1>{body}</main></body>
</html>""", status_code=status, headers={"Content-Security-Policy": PAGE_CSP})


NUM = ' class="num"'


def _table(tid: str, heads: list[tuple[Any, ...]], rows: list[str], caption: str = "") -> str:
    """A sortable table in a box that scrolls sideways on a narrow screen. ``heads``: each
    column's name, whether it holds numbers, and optionally a longer name (its tooltip);
    ``rows``: its ``<tr>`` elements."""
    e = html.escape
    head = "".join(f'<th scope="col"{NUM if h[1] else ""}'
                   + (f' title="{e(h[2])}"' if len(h) > 2 else "") + f">{e(h[0])}</th>"
                   for h in heads)
    cap = f"<caption>{caption}</caption>" if caption else ""
    return (f'<div class="table-wrap"><table class="sortable" id="{tid}">{cap}<thead><tr>'
            f'{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>')


def _num(value: float | int | None, shown: str | None = None, cls: str = "num") -> str:
    """A number's cell: ``shown`` (or the value) as text, the value itself to sort by."""
    if value is None:
        return f'<td class="{cls}">—</td>'
    text = shown if shown is not None else (f"{value:,}" if isinstance(value, int)
                                            else _fmt(value))
    return f'<td class="{cls}" data-sort="{value!r}">{text}</td>'


# what an error page is called, by status
TITLES = {401: "Sign in needed", 403: "Not allowed", 404: "Not found",
          405: "Not possible here", 413: "Too large", 422: "Something in the address is wrong",
          429: "Busy: try again shortly", 500: "Something went wrong"}


def wants_page(path: str, accept: str) -> bool:
    """Whether an error answers as an HTML page: outside the API (``/v1/``, ``/health``,
    ``/openapi.json``), unless the request asks for JSON and not HTML (its ``Accept``). The
    API's errors are always the codec's JSON."""
    if path == "/v1" or path.startswith("/v1/") or path in ("/health", "/openapi.json"):
        return False
    accept = accept.lower()
    return "text/html" in accept or "application/json" not in accept


def error_page(request: Request, exc: ClusterMetricsError) -> HTMLResponse:
    """A page's error as a page (a malformed address, say), for whoever is signed in."""
    return _error_page(request, exc)


def error_answer(request: Request, exc: ClusterMetricsError) -> HTMLResponse:
    """An error the edge answers to a browser before any page ran: a page."""
    return _error_page(request, exc)


def _error_page(request: Request, exc: ClusterMetricsError, message: str | None = None,
                headers: dict[str, str] | None = None) -> HTMLResponse:
    """The friendly page of an error: what happened (the error's own message, which names
    what was wrong; an incident id for a fault of the server's), and where to go next."""
    e = html.escape
    exc = public(exc, f"{request.scope.get('method', 'GET')} {request.scope.get('path', '')}")
    status = 500 if exc.http_status >= 500 else exc.http_status
    who = _who(request)
    hints = []
    if status == 404 and who is not None:
        hints.append(f"You are signed in to project <b>{e(who.project)}</b>: a dataset of "
                     "another project needs a key of that project.")
    if status == 429:
        hints.append("The project's job queue is full: wait for a job to finish (see "
                     '<a href="/jobs">Jobs</a>), then reload this page.')
    if status == 500:
        hints.append("The server's log has the details under the incident id above; "
                     "reloading may work if it was a passing fault.")
    where = ('<a href="/datasets">Back to the datasets</a>' if who is not None
             else '<a href="/login">Sign in</a>')
    body = (f'<div class="problem"><p class="error" id="error">{e(message or str(exc))}</p>'
            + "".join(f'<p class="note">{h}</p>' for h in hints)
            + f'<p>{where} · <a href="/docs">API docs</a></p>'
            f'<p class="status" id="status">HTTP {status}</p></div>')
    page = _page(request, TITLES.get(status, "Not possible"), body, status)
    page.headers.update(headers or {})
    return page


def _session_csrf(request: Request) -> str | None:
    return _server(request).sessions.csrf(request.cookies.get(COOKIE))


def _same_origin(request: Request) -> bool:
    """Whether the browser says the form came from this server: its Origin (else its Referer)
    names the host the request was sent to. A request with neither (not a browser's) passes
    here; its token is checked all the same."""
    host = request.headers.get("host", "")
    origin = request.headers.get("origin")
    if origin is not None:
        return origin != "null" and urllib.parse.urlsplit(origin).netloc == host
    referer = request.headers.get("referer")
    if referer is not None:
        return urllib.parse.urlsplit(referer).netloc == host
    return True


def _token_ok(sent: str, expected: str | None) -> bool:
    return bool(expected) and hmac.compare_digest(sent.encode(), (expected or "").encode())


@router.get("/")
async def home(request: Request) -> Response:
    return RedirectResponse("/datasets" if _who(request) else "/login", 303)


@router.get("/login")
async def login_form(request: Request, next: str = "/datasets", error: str = "") -> HTMLResponse:
    return _login_page(request, next, LOGIN_ERRORS.get(error, ""),
                       notice=LOGIN_NOTICES.get(error, ""))


def _login_page(request: Request, next: str, message: str, status: int = 200,
                notice: str = "") -> HTMLResponse:
    e = html.escape
    token = request.cookies.get(CSRF_COOKIE) or ""
    if len(token) != 43:  # ours are 32 random bytes, base64: anything else is replaced
        token = secrets.token_urlsafe(32)
    said = (f'<p class="error" id="error">{e(message)}</p>' if message else
            f'<p class="notice" id="notice">{e(notice)}</p>' if notice else "")
    page = _page(request, "Sign in", f"""{said}
<form class="inline" method="post" action="/login">
<input type="hidden" name="next" value="{e(_safe(next))}">
<input type="hidden" name="csrf" value="{e(token)}">
<label>API key <input type="password" name="key" id="key" autocomplete="off" autofocus></label>
<button type="submit" id="signin">Sign in</button></form>
<p class="muted">A key comes from <code>clustermetrics keys create --project NAME</code>; it
opens that project's datasets, aliases, reports and jobs.</p>""", status)
    page.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict", path="/login",
                    secure=request.url.scheme == "https")
    return page


async def _form(request: Request) -> dict[str, str]:
    """A small urlencoded form (the edge bounds its size), first value of each field."""
    form = urllib.parse.parse_qs((await request.body()).decode("utf-8", "replace"))
    return {k: v[0] for k, v in form.items()}


@router.post("/login")
async def login(request: Request) -> Response:
    form = await _form(request)
    target = _safe(form.get("next", "/datasets"))
    if not (_same_origin(request)
            and _token_ok(form.get("csrf", ""), request.cookies.get(CSRF_COOKIE))):
        return _login_page(request, target, LOGIN_ERRORS["csrf"], 403)
    server = _server(request)
    try:
        who = await server.keys.check_async(form.get("key", "").strip())
    except AuthenticationError as exc:
        return _login_page(request, target, str(exc), 401)
    response = RedirectResponse(target, 303)
    response.set_cookie(COOKIE, server.sessions.create(who), httponly=True, samesite="lax",
                        secure=request.url.scheme == "https",
                        max_age=int(server.sessions.seconds))
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    form = await _form(request)
    expected = _session_csrf(request)
    if expected is not None and not (_same_origin(request)
                                     and _token_ok(form.get("csrf", ""), expected)):
        return _page(request, "Not signed out", '<p class="error" id="error">The sign-out '
                     "form was not sent from this server's page: sign out from a page of this "
                     "server.</p>", 403)
    _server(request).sessions.drop(request.cookies.get(COOKIE))
    response = RedirectResponse("/login", 303)
    response.delete_cookie(COOKIE)
    return response


@router.get("/datasets")
async def datasets_page(request: Request) -> Response:
    who = _who(request)
    if who is None:
        return _to_login(request)
    api = await _api(request, who)
    e = html.escape
    counts = await run_in_threadpool(lambda: [(d, api.count(d)) for d in api.list_datasets()])
    rows = [f'<tr><td><a href="/datasets/{_q(d)}">{e(d)}</a></td>{_num(n)}</tr>'
            for d, n in counts]
    body = (_table("datasets", [("dataset", False), ("documents", True)], rows) if rows else
            '<p id="datasets">No datasets yet: insert documents with the Client or '
            "<code>clustermetrics insert</code>.</p>")
    return _page(request, "Datasets", body, crumbs=[("Datasets", None)], section="datasets")


SCORES = ["silhouette", "calinski_harabasz", "davies_bouldin"]
TRUTH_SCORES = ["adjusted_rand", "adjusted_mutual_info"]
# the score columns' headers: short, so that the table fits a laptop's width
SHORT = {"silhouette": "silhouette", "calinski_harabasz": "Calinski-H.",
         "davies_bouldin": "Davies-B.", "adjusted_rand": "ARI", "adjusted_mutual_info": "AMI"}


@router.get("/datasets/{dataset}")
async def dataset_page(request: Request, dataset: str, ground_truth: str = "") -> Response:
    who = _who(request)
    if who is None:
        return _to_login(request)
    e = html.escape
    try:
        api = await _api(request, who)
        info = await run_in_threadpool(api.describe_dataset, dataset)
    except ClusterMetricsError as exc:
        return _error_page(request, exc)
    fields = [f"<tr><td>{e(f['field'])}</td><td>{e(f['type'])}</td>{_num(f['present'])}</tr>"
              for f in info["fields"]]
    plain = [f["field"] for f in info["fields"] if not f["vector_dim"] and f["field"] != "_id"]
    truth = ground_truth if ground_truth in plain else ""
    notice = ""
    if ground_truth and not truth:  # said, not silently dropped
        notice = (f'<p class="error" id="error">'
                  f'{e(str(NotFoundError("field", ground_truth, plain)))}</p>')
    options = "".join(f'<option value="{e(f)}"{" selected" if f == truth else ""}>{e(f)}'
                      "</option>" for f in plain)
    heads = SCORES + (TRUTH_SCORES if truth else [])
    try:
        headlines = await _kept(request, who, api, dataset, info["aliases"], truth or None)
    except ClusterMetricsError as exc:
        return _error_page(request, exc)
    except _GoneError:
        return Response(status_code=204)
    alias_table, by_field = _alias_table(dataset, info["aliases"], headlines, heads, truth)
    compare = ""
    for vf, names in by_field.items():
        if len(names) < 2:
            continue
        boxes = " ".join(f'<label><input type="checkbox" name="alias" value="{e(n)}" checked>'
                         f"{e(n)}</label>" for n in names)
        compare += (f'<form class="compare inline" method="get" '
                    f'action="/datasets/{_q(dataset)}/compare"><fieldset class="compare">'
                    f"<legend>{e(vf)}</legend>"
                    f'<input type="hidden" name="vector_field" value="{e(vf)}">'
                    f'<input type="hidden" name="ground_truth" value="{e(truth)}">'
                    f"{boxes} <button>Compare</button></fieldset></form>")
    body = f"""{notice}<p>{info["documents"]:,} documents.</p><h2>Aliases</h2>
<form class="inline" method="get"><label>Ground truth <select name="ground_truth">
<option value="">none</option>{options}</select></label> <button>Show</button></form>
{alias_table}{"<h2>Compare</h2>" + compare if compare else ""}<h2>Fields</h2>
{_table("fields", [("field", False), ("type", False), ("present", True)], fields)}"""
    return _page(request, dataset, body, section="datasets",
                 crumbs=[("Datasets", "/datasets"), (dataset, None)])


def _alias_table(dataset: str, aliases: list[dict], headlines: list[dict | None],
                 heads: list[str], truth: str) -> tuple[str, dict[str, list[str]]]:
    """The dataset page's table of aliases: each alias's coverage beside its scores (scores
    leave the noise out, so a clustering that calls half the data noise must say so), the
    low ones marked and named under the table; and the aliases of each vector field."""
    e = html.escape
    rows: list[str] = []
    by_field: dict[str, list[str]] = {}
    sampled, low = False, []
    for a, kept in zip(aliases, headlines, strict=True):
        by_field.setdefault(a["vector_field"], []).append(a["alias"])
        if kept is None:
            cells = (f'<td colspan="{len(heads) + 1}" class="muted">being computed: reload in '
                     "a moment</td>")
        elif "error" in kept:
            cells = f'<td colspan="{len(heads) + 1}" class="muted text">{e(kept["error"])}</td>'
        else:
            ci = kept["silhouette_ci"]
            sampled = sampled or ci is not None
            cov = kept["coverage"]
            if cov < LOW_COVERAGE:
                low.append((a["alias"], cov))
            cells = _num(cov, f"{cov:.0%}", "num low" if cov < LOW_COVERAGE else "num")
            for h in heads:
                v = kept["scores"].get(h)
                shown = _fmt(v) + (f' <span class="muted">({_fmt(ci[0])}..{_fmt(ci[1])})</span>'
                                   if h == "silhouette" and ci and v is not None else "")
                cells += _num(v, shown)
        link = "?" + urllib.parse.urlencode({"vector_field": a["vector_field"],
                                             "alias": a["alias"], "ground_truth": truth})
        # the alias first (a phone shows it beside the scores), named by a link to its report
        rows.append(f'<tr><td><a class="report" href="/datasets/{_q(dataset)}/report{e(link)}" '
                    f'title="the report of {e(a["alias"])}">{e(a["alias"])}</a></td>{cells}'
                    f'{_num(a["clusters"])}{_num(a["labelled"])}<td>{e(str(a["method"]))}</td>'
                    f"<td>{e(a['vector_field'])}</td></tr>")
    if not rows:
        return ('<p id="aliases">No aliases yet: run k-means or store your own labels.</p>',
                by_field)
    scores = [(SHORT[h], True, f"{METRIC_INFO[h].label} ({h}): {METRIC_INFO[h].better} is "
               "better") for h in heads]
    table = _table("aliases", [("alias", False, "an alias's name opens its report"),
                               ("coverage", True), *scores, ("clusters", True),
                               ("labelled", True), ("method", False), ("vector field", False)],
                   rows)
    lower = [SHORT[h] for h in heads if METRIC_INFO[h].better == "lower"]
    table += ('<p class="note">An alias opens its report. Coverage: the share of the '
              "documents in a cluster (not noise, not unlabelled); the scores are computed on "
              "those documents only. Higher scores are better"
              + (f", except {' and '.join(lower)} (lower is better)" if lower else "")
              + ".</p>")
    for alias, cov in low:
        table += (f'<p class="warning low-coverage">{e(alias)} clusters only {cov:.0%} of the '
                  "documents (the rest noise or unlabelled): its scores describe that part "
                  "alone, so compare it with the others with care.</p>")
    if sampled:
        table += (
            '<p class="note" id="sampled">A silhouette shown with an interval was estimated '
            f"from a stratified sample of {AUTO_SAMPLE_SIZE:,} documents (95% interval), as "
            "the report does beyond "
            f"{EXACT_LIMIT:,} documents; <code>metrics(..., exact=True)</code> computes the "
            "exact value.</p>")
    return table, by_field


class _GoneError(Exception):
    """The page's browser went away while its job ran (the job was cancelled)."""


async def _as_job(request: Request, who: Principal, op: str, params: dict,
                  work: Callable[[Callable], Any]) -> Any:
    """A page's computation as a job of the project: on the server's job workers with their
    limits (as the API's jobs), listed and cancellable with them. Waits for it without holding
    a thread and returns its (JSON-like) result, or raises its error; cancels it and raises
    :class:`_GoneError` if the browser goes away first."""
    jobs = _server(request).jobs
    job = jobs.submit(who.project, op, params, work, key_id=who.key_id)
    while job.status not in FINISHED:
        if await request.is_disconnected():
            jobs.cancel(who.project, job.id)
            raise _GoneError
        await asyncio.sleep(PAGE_POLL_S)
    if job.status != "done":
        raise codec.decode_error(job.error or {})
    return job.result


def _plotly_page(page: str, nonce: str) -> HTMLResponse:
    return HTMLResponse(page, headers={"Content-Security-Policy": report_csp(nonce)})


@router.get("/datasets/{dataset}/report")
async def report_page(request: Request, dataset: str, vector_field: str, alias: str,
                      ground_truth: str = "", text_field: str = "") -> Response:
    who = _who(request)
    if who is None:
        return _to_login(request)
    nonce = secrets.token_urlsafe(18)

    try:
        api = await _api(request, who)

        def work(progress) -> str:
            from ..report import alias_report
            return alias_report(api, dataset, vector_field, alias, ground_truth or None,
                                text_field=text_field or None, progress=progress,
                                nonce=nonce, assets=STATIC).html

        from ..report import require_plotly
        require_plotly()
        page = await _as_job(request, who, "report", {
            "dataset": dataset, "vector_field": vector_field, "alias": alias, "page": True},
            work)
    except ClusterMetricsError as exc:
        return _error_page(request, exc)
    except _GoneError:
        return Response(status_code=204)
    return _plotly_page(_framed(request, page, [
        ("Datasets", "/datasets"), (dataset, _dataset_link(dataset, ground_truth)),
        (f"{alias} report", None)]), nonce)


@router.get("/datasets/{dataset}/compare")
async def compare_page(request: Request, dataset: str, vector_field: str,
                       alias: Annotated[list[str], Query()], ground_truth: str = "") -> Response:
    who = _who(request)
    if who is None:
        return _to_login(request)
    nonce = secrets.token_urlsafe(18)

    try:
        api = await _api(request, who)

        def work(progress) -> str:
            return api.compare(dataset, vector_field, alias, ground_truth or None,
                               progress=progress).to_html(nonce=nonce, assets=STATIC)

        from ..report import require_plotly
        require_plotly()
        page = await _as_job(request, who, "compare", {"dataset": dataset,
                                                       "vector_field": vector_field,
                                                       "aliases": list(alias), "page": True},
                             work)
    except ClusterMetricsError as exc:
        return _error_page(request, exc)
    except _GoneError:
        return Response(status_code=204)
    return _plotly_page(_framed(request, page, [
        ("Datasets", "/datasets"), (dataset, _dataset_link(dataset, ground_truth)),
        ("compare " + ", ".join(alias), None)]), nonce)


def _dataset_link(dataset: str, ground_truth: str) -> str:
    return f"/datasets/{_q(dataset)}" + (
        "?" + urllib.parse.urlencode({"ground_truth": ground_truth}) if ground_truth else "")


async def _kept(request: Request, who: Principal, api, dataset: str, aliases: list[dict],
                truth: str | None) -> list[dict | None]:
    """The headline metrics kept with each alias, for the dataset page. The page waits for
    one recomputation at most (the first stale alias, as a job); the other stale aliases are
    computed by a job it does not wait for, and show None meanwhile."""
    names = [(a["vector_field"], a["alias"]) for a in aliases]
    kept = await run_in_threadpool(
        lambda: [api.kept_metrics(dataset, *n, truth, compute=False) for n in names])
    stale = [i for i, k in enumerate(kept) if k is None]
    if stale:
        vf, alias = names[stale[0]]
        kept[stale[0]] = await _as_job(
            request, who, "headlines", {"dataset": dataset, "vector_field": vf,
                                        "alias": alias, "page": True},
            lambda progress: api.kept_metrics(dataset, vf, alias, truth))
    if len(stale) > 1:
        rest = [names[i] for i in stale[1:]]
        with contextlib.suppress(ClusterMetricsError):  # a full queue: computed on a later view
            _server(request).jobs.submit(
                who.project, "headlines", {"dataset": dataset, "page": True},
                lambda progress: [api.kept_metrics(dataset, *n, truth) for n in rest])
    return kept


def _framed(request: Request, page: str, crumbs: Crumbs) -> str:
    """A report or compare page (a whole document of its own) with the site's bar and the
    trail back to its dataset, first thing in its body."""
    body = re.search(r"<body[^>]*>", page)
    top = _bar(request, "datasets") + _crumbs(crumbs)
    return page if body is None else page[:body.end()] + top + page[body.end():]


JOB_STATUSES = ("queued", "running", "done", "failed", "cancelled", "interrupted")


@router.get("/jobs")
async def jobs_page(request: Request,
                    status: Literal["queued", "running", "done", "failed", "cancelled",
                                    "interrupted"] | None = None) -> Response:
    """The project's jobs, newest first (the API's and the pages' own), by status."""
    who = _who(request)
    if who is None:
        return _to_login(request)
    e = html.escape
    rows = []
    for job in _server(request).jobs.list_jobs(who.project, status):
        dataset = job.params.get("dataset")
        what = job.params.get("alias") or ", ".join(job.params.get("aliases") or [])
        took = _took(job)
        rows.append(
            f'<tr><td><a href="/jobs/{_q(job.id)}"><code>{e(job.id)}</code></a></td>'
            f"<td>{e(job.op)}{' (page)' if job.params.get('page') else ''}</td>"
            f'<td class="status-{e(job.status)}">{e(job.status)}</td>'
            f"<td>{e(str(dataset)) if dataset else '—'}</td><td>{e(str(what)) or '—'}</td>"
            f'<td data-sort="{job.created_at!r}">{_when(job.created_at)}</td>'
            + _num(took, f"{took:.1f} s" if took is not None else None) + "</tr>")
    links = " · ".join(
        (f"<b>{s or 'all'}</b>" if s == (status or "") else
         f'<a href="/jobs{"?status=" + s if s else ""}">{s or "all"}</a>')
        for s in ("", *JOB_STATUSES))
    body = (f'<p class="note">Status: {links}</p>'
            + (_table("jobs", [("job", False), ("operation", False), ("status", False),
                               ("dataset", False), ("alias", False), ("created (UTC)", False),
                               ("took", True)], rows) if rows else
               '<p id="jobs">No jobs' + (f" {e(status)}" if status else "") + " yet.</p>")
            + '<p class="note">Jobs are the project\'s long work: fits, metrics, reports and '
              "comparisons, from the API and from these pages. Finished jobs are kept "
              "until the server restarts (up to its history limit).</p>")
    return _page(request, "Jobs", body, section="jobs", crumbs=[("Jobs", None)])


@router.get("/jobs/{job_id}")
async def job_page(request: Request, job_id: str) -> Response:
    """One job: what it was asked, its progress and its outcome."""
    who = _who(request)
    if who is None:
        return _to_login(request)
    e = html.escape
    try:
        job = _server(request).jobs.get(who.project, job_id)
    except ClusterMetricsError as exc:
        return _error_page(request, exc)
    view = job.view()
    params = [f"<tr><td>{e(str(k))}</td><td class=\"text\"><code>{e(_short(v))}</code></td></tr>"
              for k, v in view["params"].items()]
    took = _took(job)
    facts = [("status", view["status"]), ("operation", view["op"]),
             ("created (UTC)", _when(view["created_at"])),
             ("started (UTC)", _when(view["started_at"])),
             ("finished (UTC)", _when(view["finished_at"])),
             ("took", f"{took:.1f} s" if took is not None else "—")]
    body = ('<dl class="facts">' + "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in facts)
            + "</dl>")
    if view["status"] in ("queued", "running"):
        body += (f'<form class="cancel" method="post" action="/jobs/{_q(job.id)}/cancel">'
                 f'<input type="hidden" name="csrf" value="{e(_session_csrf(request) or "")}">'
                 '<button id="cancel">Cancel this job</button></form>')
    if view.get("error"):
        body += f'<p class="error" id="error">{e(str(view["error"].get("message", "")))}</p>'
    for w in view.get("warnings", []):
        body += f'<p class="warning">{e(w)}</p>'
    body += "<h2>Asked</h2>" + _table("params", [("parameter", False), ("value", False)],
                                        params)
    stages: dict[str, list] = {}  # each stage: done so far (events count increments), of
    for stage, done, total in view["events"]:
        seen = stages.setdefault(str(stage), [0, None])
        seen[0] += done
        seen[1] = total if total is not None else seen[1]
    if stages:
        body += "<h2>Progress</h2>" + _table(
            "events", [("stage", False), ("done", True), ("of", True)],
            [f"<tr><td>{e(stage)}</td>{_num(done)}{_num(total)}</tr>"
             for stage, (done, total) in stages.items()])
    return _page(request, f"Job {job.id}", body, section="jobs",
                 crumbs=[("Jobs", "/jobs"), (job.id, None)])


@router.post("/jobs/{job_id}/cancel")
async def cancel_job(request: Request, job_id: str) -> Response:
    """The job page's cancel button: the job stops (as the API's DELETE), then its page."""
    who = _who(request)
    if who is None:
        return _to_login(request)
    form = await _form(request)
    if not (_same_origin(request) and _token_ok(form.get("csrf", ""), _session_csrf(request))):
        return _page(request, "Not cancelled", '<p class="error" id="error">The cancel form '
                     "was not sent from this server's page: cancel the job from its page on "
                     "this server.</p>", 403)
    try:
        _server(request).jobs.cancel(who.project, job_id)
    except ClusterMetricsError as exc:
        return _error_page(request, exc)
    return RedirectResponse(f"/jobs/{_q(job_id)}", 303)


def _took(job) -> float | None:
    if job.started_at is None:
        return None
    return (job.finished_at or time.time()) - job.started_at


def _when(t: float | None) -> str:
    return "—" if t is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))


def _short(value: Any, limit: int = 300) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + " …"


def _fmt(v) -> str:
    return "—" if v is None else f"{v:.4g}"


def _q(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def _safe(target: str) -> str:
    """A redirect target on this server only (no scheme, no host)."""
    parts = urllib.parse.urlsplit(target)
    if (parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//")
            or "\\" in target or any(ord(c) < 32 or ord(c) == 127 for c in target)):
        return "/datasets"  # browsers read a backslash as a slash: /\evil.com is //evil.com
    return target
