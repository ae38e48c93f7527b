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
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from ..api import codec
from ..errors import AuthenticationError, ClusterMetricsError, NotFoundError
from ..metrics.sampling import AUTO_SAMPLE_SIZE, EXACT_LIMIT
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
    if request.cookies.get(COOKIE):  # a session that ended: say so
        query["error"] = "expired"
    return RedirectResponse("/login?" + urllib.parse.urlencode(query), 303)


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:70rem;padding:0 1rem;
color:#222}
nav{display:flex;gap:1.5rem;align-items:center;border-bottom:1px solid #ddd;
padding-bottom:.5rem}
nav form{margin-left:auto} table{border-collapse:collapse;margin:1rem 0}
td,th{border-bottom:1px solid #eee;padding:.3rem .8rem;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums} .error{color:#b00020}
.muted{color:#777}"""


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


# the pages' one inline style by its hash; no script at all
PAGE_CSP = (f"default-src 'none'; style-src {_sha256(_STYLE)}; img-src 'self'; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


# plotly.js makes empty <style> elements and fills them through the CSSOM (allowed): the hash of
# the empty text lets exactly those in
_EMPTY_STYLE = _sha256("")


def report_csp(nonce: str) -> str:
    """A report's or comparison's policy: its scripts and style elements by this answer's nonce
    (plotly.js needs no eval); style attributes are allowed because plotly.js and its figures'
    containers set them (they cannot run code)."""
    return (f"default-src 'none'; script-src 'nonce-{nonce}'; "
            f"style-src-elem 'nonce-{nonce}' {_EMPTY_STYLE}; style-src-attr 'unsafe-inline'; "
            "img-src 'self' data: blob:; font-src data:; worker-src blob:; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def _page(request: Request, title: str, body: str, status: int = 200) -> HTMLResponse:
    e = html.escape
    who, bar = _who(request), ""
    if who is not None:
        bar = (f'<nav><a href="/datasets">Datasets</a> <span>project <b>{e(who.project)}</b>'
               '</span><form method="post" action="/logout">'
               f'<input type="hidden" name="csrf" value="{e(_session_csrf(request) or "")}">'
               '<button id="logout">Sign out</button></form></nav>')
    return HTMLResponse(f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{e(title)} · clustermetrics</title><style>{_STYLE}</style></head><body>{bar}
<h1>{e(title)}</h1>{body}</body></html>""", status_code=status,
                        headers={"Content-Security-Policy": PAGE_CSP})


def error_page(request: Request, exc: ClusterMetricsError) -> HTMLResponse:
    """A page's error as a page (a malformed address, say), for whoever is signed in."""
    return _error_page(request, exc)


def error_answer(request: Request, exc: ClusterMetricsError) -> HTMLResponse:
    """An error the edge answers to a browser before any page ran: a page."""
    return _error_page(request, exc)


def _error_page(request: Request, exc: ClusterMetricsError) -> HTMLResponse:
    exc = public(exc, f"{request.scope.get('method', 'GET')} {request.scope.get('path', '')}")
    return _page(request, "Not possible",
                 f'<p class="error" id="error">{html.escape(str(exc))}</p>',
                 500 if exc.http_status >= 500 else exc.http_status)


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
    return _login_page(request, next, LOGIN_ERRORS.get(error, ""))


def _login_page(request: Request, next: str, message: str, status: int = 200) -> HTMLResponse:
    e = html.escape
    token = request.cookies.get(CSRF_COOKIE) or ""
    if len(token) != 43:  # ours are 32 random bytes, base64: anything else is replaced
        token = secrets.token_urlsafe(32)
    notice = f'<p class="error" id="error">{e(message)}</p>' if message else ""
    page = _page(request, "Sign in", f"""{notice}
<form method="post" action="/login"><input type="hidden" name="next" value="{e(_safe(next))}">
<input type="hidden" name="csrf" value="{e(token)}">
<label>API key <input type="password" name="key" id="key" size="60" autocomplete="off"
autofocus></label> <button type="submit" id="signin">Sign in</button></form>
<p class="muted">A key comes from <code>clustermetrics keys create --project NAME</code>.</p>""",
                 status)
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
    rows = "".join(f'<tr><td><a href="/datasets/{_q(d)}">{e(d)}</a></td>'
                   f'<td class="num">{n:,}</td></tr>' for d, n in counts)
    body = (f'<table id="datasets"><tr><th>dataset</th><th>documents</th></tr>{rows}</table>'
            if rows else '<p id="datasets">No datasets yet.</p>')
    return _page(request, "Datasets", body)


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
    fields = "".join(
        f"<tr><td>{e(f['field'])}</td><td>{e(f['type'])}</td>"
        f'<td class="num">{f["present"]:,}</td></tr>' for f in info["fields"])
    plain = [f["field"] for f in info["fields"] if not f["vector_dim"] and f["field"] != "_id"]
    truth = ground_truth if ground_truth in plain else ""
    notice = ""
    if ground_truth and not truth:  # said, not silently dropped
        notice = (f'<p class="error" id="error">'
                  f'{e(str(NotFoundError("field", ground_truth, plain)))}</p>')
    options = "".join(f'<option value="{e(f)}"{" selected" if f == truth else ""}>{e(f)}'
                      "</option>" for f in plain)
    heads = ["silhouette", "calinski_harabasz", "davies_bouldin"]
    if truth:
        heads += ["adjusted_rand", "adjusted_mutual_info"]
    rows: list[str] = []
    by_field: dict[str, list[str]] = {}
    try:
        headlines = await _kept(request, who, api, dataset, info["aliases"], truth or None)
    except ClusterMetricsError as exc:
        return _error_page(request, exc)
    except _GoneError:
        return Response(status_code=204)
    sampled = False
    for a, kept in zip(info["aliases"], headlines, strict=True):
        by_field.setdefault(a["vector_field"], []).append(a["alias"])
        if kept is None:
            cells = (f'<td colspan="{len(heads) + 1}" class="muted">being computed: reload in '
                     "a moment</td>")
        elif "error" in kept:
            cells = f'<td colspan="{len(heads) + 1}" class="muted">{e(kept["error"])}</td>'
        else:
            ci = kept["silhouette_ci"]
            sampled = sampled or ci is not None
            cells = "".join(
                f'<td class="num">{_fmt(kept["scores"].get(h))}'
                + (f' <span class="muted">({_fmt(ci[0])}..{_fmt(ci[1])})</span>'
                   if h == "silhouette" and ci else "") + "</td>" for h in heads)
            cells += f'<td class="num">{kept["coverage"]:.0%}</td>'  # noise is no merit
        link = "?" + urllib.parse.urlencode({"vector_field": a["vector_field"],
                                             "alias": a["alias"], "ground_truth": truth})
        rows.append(f"<tr><td>{e(a['vector_field'])}</td><td>{e(a['alias'])}</td>"
                    f'<td>{e(str(a["method"]))}</td><td class="num">{a["clusters"]}</td>'
                    f'<td class="num">{a["labelled"]:,}</td>{cells}'
                    f'<td><a class="report" href="/datasets/{_q(dataset)}/report{e(link)}">'
                    "report</a></td></tr>")
    alias_table = (
        f'<table id="aliases"><tr><th>vector field</th><th>alias</th><th>method</th>'
        f'<th>clusters</th><th>labelled</th>{"".join(f"<th>{h}</th>" for h in heads)}'
        f'<th>coverage</th><th></th></tr>{"".join(rows)}</table>' if rows else
        '<p id="aliases">No aliases yet: run k-means or store your own labels.</p>')
    if sampled:
        alias_table += (
            '<p class="muted" id="sampled">A silhouette shown with an interval was estimated '
            f"from a stratified sample of {AUTO_SAMPLE_SIZE:,} documents (95% interval), as "
            "the report does beyond "
            f"{EXACT_LIMIT:,} documents; <code>metrics(..., exact=True)</code> computes the "
            "exact value.</p>")
    compare = ""
    for vf, names in by_field.items():
        if len(names) < 2:
            continue
        boxes = " ".join(f'<label><input type="checkbox" name="alias" value="{e(n)}" checked>'
                         f"{e(n)}</label>" for n in names)
        compare += (f'<form class="compare" method="get" action="/datasets/{_q(dataset)}/compare">'
                    f'<input type="hidden" name="vector_field" value="{e(vf)}">'
                    f'<input type="hidden" name="ground_truth" value="{e(truth)}">'
                    f"<b>{e(vf)}</b>: {boxes} <button>Compare</button></form>")
    body = f"""{notice}<p>{info["documents"]:,} documents.</p><h2>Fields</h2>
<table id="fields"><tr><th>field</th><th>type</th><th>present</th></tr>{fields}</table>
<h2>Aliases</h2><form method="get"><label>Ground truth <select name="ground_truth">
<option value="">none</option>{options}</select></label> <button>Show</button></form>
{alias_table}{"<h2>Compare</h2>" + compare if compare else ""}"""
    return _page(request, dataset, body)


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
                                nonce=nonce).html

        from ..report import require_plotly
        require_plotly()
        page = await _as_job(request, who, "report", {
            "dataset": dataset, "vector_field": vector_field, "alias": alias, "page": True},
            work)
    except ClusterMetricsError as exc:
        return _error_page(request, exc)
    except _GoneError:
        return Response(status_code=204)
    return _plotly_page(_with_back(page, dataset), nonce)


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
                               progress=progress).to_html(nonce=nonce)

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
    return _plotly_page(_with_back(page, dataset), nonce)


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


def _with_back(page: str, dataset: str) -> str:
    """A report or compare page (a whole document of its own) with links back to its dataset
    and to the datasets, first thing in its body."""
    e = html.escape
    nav = (f'<nav id="back" style="font-family:system-ui,sans-serif;margin:.5rem 0">'
           f'<a href="/datasets/{_q(dataset)}">&larr; {e(dataset)}</a> &middot; '
           '<a href="/datasets">Datasets</a></nav>')
    body = re.search(r"<body[^>]*>", page)
    return page if body is None else page[:body.end()] + nav + page[body.end():]


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
