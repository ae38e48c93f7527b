"""The server's edge: what every request meets before a route sees it.

:class:`Edge`, an ASGI middleware around the whole application, in this order:

1. **The key before the body.** A ``/v1/`` request's ``Authorization: Bearer KEY`` is checked
   on the keys' own thread (:meth:`~.auth.Keys.check_async`) before one byte of its body is
   read: no key or a wrong key answers 401 at once, with ``Connection: close`` when a body was
   announced, so the body is never read. A web page's session cookie is looked up the same way.
2. **Bodies under a limit, read as they come.** The limit depends on what the route takes: an
   Arrow upload (``POST /v1/datasets/{name}/documents``) and a labelling (``PUT
   .../labels``, one label per document) ``max_body_mb``, the sign-in form
   :data:`LOGIN_BODY` bytes, everything else (JSON, forms) ``max_json_mb``. A declared length
   over the limit answers 413 before the body is read; a streamed body is counted chunk by
   chunk and stopped where it passes the limit.
3. **Headers on every answer**: ``Content-Security-Policy`` (strict by default; pages and
   the API docs set their own), ``X-Frame-Options: DENY``, ``X-Content-Type-Options: nosniff`` and
   ``Referrer-Policy: same-origin``.
4. **Containment of the unexpected.** An exception no handler knows answers 500 with an
   incident id (:func:`.jobs.incident`), never its text, and the connection stays usable.

:class:`OffLoopJSON` is the routes' class: a JSON body is parsed on a worker thread, not on the
event loop, so a large body never stalls other requests.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect, Request

from ..api import codec
from ..errors import AuthenticationError, ClusterMetricsError, InvalidInputError, TooLargeError
from .auth import bearer
from .jobs import incident

LOGIN_BODY = 16 * 1024  # the sign-in form: a key and a few short fields
MAX_JSON_MB = 8.0
ARROW = "application/vnd.apache.arrow.stream"
SESSION_COOKIE = "clustermetrics_session"
DRAIN = 4  # a body over its limit is read up to this many times the limit, then cut off

# answers that are not pages (JSON, Arrow): nothing may load, run or frame them
STRICT_CSP = ("default-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
              "form-action 'none'")


class TooLarge(StarletteHTTPException):
    """Raised from a request's body stream when it passes its limit; the application's handler
    answers its :class:`TooLargeError` (FastAPI lets HTTP exceptions through as they are)."""

    def __init__(self, error: TooLargeError):
        super().__init__(413, str(error))
        self.error = error


def body_limit(method: str, path: str, content_type: str, settings) -> tuple[int, str]:
    """The byte limit of a request's body and what raises it (an option, or nothing)."""
    if (method == "POST" and path.startswith("/v1/datasets/") and path.endswith("/documents")
            and path.count("/") == 4 and content_type.split(";")[0].strip() == ARROW):
        return int(settings.max_body_mb * 2**20), "--max-body-mb"
    if method == "PUT" and path.startswith("/v1/datasets/") and path.endswith("/labels") \
            and path.count("/") == 4:  # one label per document: sized like an upload
        return int(settings.max_body_mb * 2**20), "--max-body-mb"
    if path == "/login":
        return LOGIN_BODY, ""
    return int(settings.max_json_mb * 2**20), "--max-json-mb"


def too_large(limit: int, option: str, what: str) -> TooLargeError:
    if not option:
        return TooLargeError(f"The {what} is over its limit of {limit:,} bytes.")
    return TooLargeError(
        f"The {what} is over this server's limit of {round(limit / 2**20, 3):,g} MiB "
        f"(clustermetrics serve {option}): "
        + ("send the documents in smaller batches." if option == "--max-body-mb" else
           "send less in one request (documents go as Arrow uploads, in batches)."))


class Edge:
    """The middleware described in the module's docstring; ``server`` is the application's
    :class:`~.app.Server` (keys, sessions, settings)."""

    def __init__(self, app, server):
        self.app, self.server = app, server

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        path, method = scope["path"], scope["method"]
        length = headers.get("content-length")
        has_body = bool(headers.get("transfer-encoding")) or (length not in (None, "0"))
        started, close = False, False

        async def guarded(message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = dict(message)
                out = list(message.get("headers", []))
                names = {k.lower() for k, _ in out}
                if b"content-security-policy" not in names:  # pages set their own
                    out.append((b"content-security-policy", STRICT_CSP.encode()))
                out += [(b"x-frame-options", b"DENY"), (b"x-content-type-options", b"nosniff"),
                        (b"referrer-policy", b"same-origin")]
                if close and b"connection" not in names:
                    out.append((b"connection", b"close"))  # what was not read is never read
                message["headers"] = out
            await send(message)

        state = scope.setdefault("state", {})
        try:
            if path == "/v1" or path.startswith("/v1/"):
                try:
                    state["principal"] = await self.server.keys.check_async(
                        bearer(headers.get("authorization")))
                except AuthenticationError as exc:
                    close = has_body
                    return await _answer(exc, scope, receive, guarded)
            else:
                state["session"] = await self._session(headers)
            limit, option = body_limit(method, path, headers.get("content-type", ""),
                                       self.server.settings)
            what = "sign-in form" if path == "/login" else "request body"
            if length is not None and length.isdigit() and int(length) > limit:
                # a known sender's body is read (within bounds) so that it hears the answer
                close = int(length) > DRAIN * limit or not await _drain(receive, DRAIN * limit)
                return await _answer(too_large(limit, option, what), scope, receive, guarded)
            seen = 0

            async def limited():
                nonlocal seen, close
                message = await receive()
                if message["type"] == "http.request":
                    seen += len(message.get("body", b""))
                    if seen > limit:
                        close = not (not message.get("more_body")
                                     or await _drain(receive, DRAIN * limit - seen))
                        raise TooLarge(too_large(limit, option, what))
                return message

            await self.app(scope, limited, guarded)
        except ClientDisconnect:
            return  # the caller went away mid-body: nobody to answer
        except Exception as exc:
            if started:  # the answer is under way: only closing the connection can tell
                raise
            await _answer(incident(exc, f"{method} {path}"), scope, receive, guarded)

    async def _session(self, headers: Headers):
        """The principal of a web session cookie whose key is still active, else None."""
        from starlette.requests import cookie_parser
        token = cookie_parser(headers.get("cookie", "")).get(SESSION_COOKIE)
        if not token:
            return None
        who = self.server.sessions.get(token)
        if who is not None and await self.server.keys.active_async(who.key_id) != who.project:
            self.server.sessions.drop(token)  # its key was revoked: the session ends
            return None
        return who


async def _drain(receive, limit: int) -> bool:
    """Read and drop the rest of a body, up to ``limit`` bytes: whether it ended."""
    read = 0
    while read <= limit:
        message = await receive()
        if message["type"] != "http.request":
            return False
        read += len(message.get("body", b""))
        if not message.get("more_body"):
            return True
    return False


async def _answer(error: ClusterMetricsError, scope, receive, send) -> None:
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(error, AuthenticationError) else None
    status = 500 if error.http_status >= 500 else error.http_status
    response: Response
    from .web import error_answer, wants_page
    if wants_page(scope["path"], Headers(scope=scope).get("accept", "")):
        response = error_answer(Request(scope, receive), error)  # a person's browser: a page
    else:
        response = JSONResponse({"error": codec.encode_error(error)}, status_code=status,
                                headers=headers)
    await response(scope, receive, send)


class OffLoopJSON(APIRoute):
    """A route whose JSON body is parsed on a worker thread (FastAPI parses it on the event
    loop, where a large body would stall every other request)."""

    def get_route_handler(self):
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def parse_then_handle(request: Request):
            content_type = request.headers.get("content-type", "")
            if content_type.split(";")[0].strip().lower() == "application/json":
                body = await request.body()
                if body:
                    request._json = await run_in_threadpool(_parse_json, body)
            return await handler(request)

        return parse_then_handle


def _parse_json(body: bytes) -> Any:
    """A JSON body, or the 422 FastAPI gives for a malformed one (a body nested too deeply
    for the parser is malformed too)."""
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body", exc.pos),
                                       "msg": "JSON decode error", "input": {},
                                       "ctx": {"error": exc.msg}}]) from None
    except UnicodeDecodeError as exc:
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body",),
                                       "msg": f"JSON is not UTF-8 ({exc.reason})",
                                       "input": {}}]) from None
    except (RecursionError, ValueError):  # nested beyond the parser, or an int of 4,300+ digits
        raise InvalidInputError(
            "Malformed request: the body could not be read as JSON (nested too deeply, or a "
            "number too long); send a JSON object of the route's fields.") from None
