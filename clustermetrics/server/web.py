"""Web pages from the same server, for people who would rather look than call.

Sign in with an API key (a cookie session: an HttpOnly, SameSite=Lax cookie holding a random
session token; the key itself is never stored in the browser), then: the project's datasets, a
dataset's fields and aliases with their headline metrics, an alias's HTML report and a compare
view of several aliases. A session ends at logout, after ``session_hours``, or when its key is
revoked.
"""

from __future__ import annotations

import html
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ..api import codec
from ..errors import AuthenticationError, ClusterMetricsError, NotFoundError
from .auth import Principal
from .jobs import FINISHED

COOKIE = "clustermetrics_session"
HEADLINE_SAMPLE = 2000  # the dataset page estimates the silhouette beyond this many documents

router = APIRouter(include_in_schema=False)


class Sessions:
    """Web sessions in memory: token -> (principal, expiry). A restart signs everyone out."""

    def __init__(self, hours: float = 12.0):
        self.seconds = hours * 3600
        self._sessions: dict[str, tuple[Principal, float]] = {}
        self._lock = threading.Lock()

    def create(self, who: Principal) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            now = time.time()
            self._sessions = {t: s for t, s in self._sessions.items() if s[1] > now}
            self._sessions[token] = (who, now + self.seconds)
        return token

    def get(self, token: str | None) -> Principal | None:
        with self._lock:
            found = self._sessions.get(token or "")
        if found is None or found[1] < time.time():
            return None
        return found[0]

    def drop(self, token: str | None) -> None:
        with self._lock:
            self._sessions.pop(token or "", None)


def _server(request: Request):
    return request.app.state.server


def _who(request: Request) -> Principal | None:
    server = _server(request)
    who = server.sessions.get(request.cookies.get(COOKIE))
    if who is not None and server.keys.active(who.key_id) != who.project:
        server.sessions.drop(request.cookies.get(COOKIE))
        return None
    return who


def _to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/login?" + urllib.parse.urlencode({"next": target}), 303)


def _page(title: str, body: str, who: Principal | None = None, status: int = 200) -> HTMLResponse:
    e = html.escape
    bar = ""
    if who is not None:
        bar = (f'<nav><a href="/datasets">Datasets</a> <span>project <b>{e(who.project)}</b>'
               '</span><form method="post" action="/logout"><button id="logout">Sign out'
               "</button></form></nav>")
    return HTMLResponse(f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{e(title)} · clustermetrics</title><style>
body{{font-family:system-ui,sans-serif;margin:2rem auto;max-width:70rem;padding:0 1rem;
color:#222}}
nav{{display:flex;gap:1.5rem;align-items:center;border-bottom:1px solid #ddd;
padding-bottom:.5rem}}
nav form{{margin-left:auto}} table{{border-collapse:collapse;margin:1rem 0}}
td,th{{border-bottom:1px solid #eee;padding:.3rem .8rem;text-align:left}}
td.num{{text-align:right;font-variant-numeric:tabular-nums}} .error{{color:#b00020}}
.muted{{color:#777}}</style></head><body>{bar}<h1>{e(title)}</h1>{body}</body></html>""",
                        status_code=status)


def error_page(request: Request, exc: ClusterMetricsError) -> HTMLResponse:
    """A page's error as a page (a malformed address, say), for whoever is signed in."""
    return _error_page(exc, _who(request))


def _error_page(exc: ClusterMetricsError, who: Principal | None) -> HTMLResponse:
    return _page("Not possible", f'<p class="error" id="error">{html.escape(str(exc))}</p>',
                 who, exc.http_status)


@router.get("/")
def home(request: Request) -> Response:
    return RedirectResponse("/datasets" if _who(request) else "/login", 303)


@router.get("/login")
def login_form(request: Request, next: str = "/datasets", error: str = "") -> HTMLResponse:
    e = html.escape
    message = f'<p class="error" id="error">{e(error)}</p>' if error else ""
    return _page("Sign in", f"""{message}
<form method="post" action="/login"><input type="hidden" name="next" value="{e(_safe(next))}">
<label>API key <input type="password" name="key" id="key" size="60" autocomplete="off"
autofocus></label> <button type="submit" id="signin">Sign in</button></form>
<p class="muted">A key comes from <code>clustermetrics keys create --project NAME</code>.</p>""")


@router.post("/login")
async def login(request: Request) -> Response:
    form = urllib.parse.parse_qs((await request.body()).decode("utf-8", "replace"))
    key = (form.get("key") or [""])[0].strip()
    target = _safe((form.get("next") or ["/datasets"])[0])
    server = _server(request)
    try:
        who = server.keys.check(key)
    except AuthenticationError as exc:
        page = login_form(request, target, str(exc))
        page.status_code = 401
        return page
    response = RedirectResponse(target, 303)
    response.set_cookie(COOKIE, server.sessions.create(who), httponly=True, samesite="lax",
                        secure=request.url.scheme == "https",
                        max_age=int(server.sessions.seconds))
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    _server(request).sessions.drop(request.cookies.get(COOKIE))
    response = RedirectResponse("/login", 303)
    response.delete_cookie(COOKIE)
    return response


@router.get("/datasets")
def datasets_page(request: Request) -> Response:
    who = _who(request)
    if who is None:
        return _to_login(request)
    api = _server(request).projects.api(who.project)
    e = html.escape
    rows = "".join(f'<tr><td><a href="/datasets/{_q(d)}">{e(d)}</a></td>'
                   f'<td class="num">{api.count(d):,}</td></tr>' for d in api.list_datasets())
    body = (f'<table id="datasets"><tr><th>dataset</th><th>documents</th></tr>{rows}</table>'
            if rows else '<p id="datasets">No datasets yet.</p>')
    return _page("Datasets", body, who)


@router.get("/datasets/{dataset}")
def dataset_page(request: Request, dataset: str, ground_truth: str = "") -> Response:
    who = _who(request)
    if who is None:
        return _to_login(request)
    api = _server(request).projects.api(who.project)
    e = html.escape
    try:
        info = api.describe_dataset(dataset)
    except ClusterMetricsError as exc:
        return _error_page(exc, who)
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

    def work(progress) -> list:  # every alias's headline scores, as one job
        return [_headline(api, dataset, a["vector_field"], a["alias"], truth,
                          info["documents"]) for a in info["aliases"]]

    try:
        headlines = _as_job(request, who, "headlines", {"dataset": dataset, "page": True},
                            work) if info["aliases"] else []
    except ClusterMetricsError as exc:
        return _error_page(exc, who)
    for a, scores in zip(info["aliases"], headlines, strict=True):
        by_field.setdefault(a["vector_field"], []).append(a["alias"])
        cells = "".join(f'<td class="num">{_fmt(scores.get(h))}</td>' if isinstance(scores, dict)
                        else "" for h in heads)
        if not isinstance(scores, dict):
            cells = f'<td colspan="{len(heads)}" class="muted">{e(scores)}</td>'
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
        f'<th></th></tr>{"".join(rows)}</table>' if rows else
        '<p id="aliases">No aliases yet: run k-means or store your own labels.</p>')
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
    return _page(dataset, body, who)


def _as_job(request: Request, who: Principal, op: str, params: dict,
            work: Callable[[Callable], Any]) -> Any:
    """A page's computation as a job of the project: on the server's job workers with their
    BLAS limits (as the API's jobs), listed and cancellable with them. Waits for it and
    returns its (JSON-like) result, or raises its error."""
    job = _server(request).jobs.submit(who.project, op, params, work)
    with job.changed:
        while job.status not in FINISHED:
            job.changed.wait()
    if job.status != "done":
        raise codec.decode_error(job.error or {})
    return job.result


@router.get("/datasets/{dataset}/report")
def report_page(request: Request, dataset: str, vector_field: str, alias: str,
                ground_truth: str = "") -> Response:
    who = _who(request)
    if who is None:
        return _to_login(request)
    api = _server(request).projects.api(who.project)

    def work(progress) -> str:
        from ..report import alias_report
        return alias_report(api, dataset, vector_field, alias, ground_truth or None,
                            progress=progress).html

    try:
        from ..report import require_plotly
        require_plotly()
        page = _as_job(request, who, "report", {"dataset": dataset, "vector_field": vector_field,
                                                "alias": alias, "page": True}, work)
    except ClusterMetricsError as exc:
        return _error_page(exc, who)
    return HTMLResponse(page)


@router.get("/datasets/{dataset}/compare")
def compare_page(request: Request, dataset: str, vector_field: str,
                 alias: Annotated[list[str], Query()], ground_truth: str = "") -> Response:
    who = _who(request)
    if who is None:
        return _to_login(request)
    api = _server(request).projects.api(who.project)

    def work(progress) -> str:
        return api.compare(dataset, vector_field, alias, ground_truth or None,
                           progress=progress).to_html()

    try:
        from ..report import require_plotly
        require_plotly()
        page = _as_job(request, who, "compare", {"dataset": dataset,
                                                 "vector_field": vector_field,
                                                 "aliases": list(alias), "page": True}, work)
    except ClusterMetricsError as exc:
        return _error_page(exc, who)
    return HTMLResponse(page)


def _headline(api, dataset: str, vector_field: str, alias: str, truth: str,
              n: int) -> dict | str:
    """The scores a dataset page shows for an alias, or why there are none."""
    try:
        result = api.metrics(dataset, vector_field, alias, truth or None,
                             sample_size=HEADLINE_SAMPLE if n > HEADLINE_SAMPLE else None,
                             random_state=0)
    except ClusterMetricsError as exc:
        return str(exc)
    return dict(result.scores)


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
