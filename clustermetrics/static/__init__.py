"""The pages' one stylesheet and table script, shared by the server's pages and the report.

The server serves them under ``/static/`` (linked, cached for a year: the address carries
the file's digest, so a new version is a new address); a report or comparison written to a
file inlines the same text, so the file works offline. Nothing here imports more than the
standard library.
"""

from __future__ import annotations

import functools
import hashlib
import html
import importlib.resources

FILES = {"style.css": "text/css; charset=utf-8",
         "tables.js": "text/javascript; charset=utf-8"}


@functools.cache
def text(name: str) -> str:
    """The text of one of :data:`FILES`."""
    if name not in FILES:
        raise KeyError(name)
    return (importlib.resources.files(__name__) / name).read_text(encoding="utf-8")


@functools.cache
def digest(name: str) -> str:
    """A short digest of the file's text: its served address changes when the text does."""
    return hashlib.sha256(text(name).encode()).hexdigest()[:12]


def head(base: str | None = None) -> str:
    """The ``<head>`` tags that load the stylesheet and the table script: linked from the
    server's ``base`` (``"/static"``), or, with ``base`` None, inlined (a file of its own).
    The script is deferred (linked) or waits for the page (inlined): a table sorts once the
    page is read, and without the script it keeps the server's order."""
    if base is None:
        return f"<style>{text('style.css')}</style><script>{text('tables.js')}</script>"
    b = html.escape(base)
    return (f'<link rel="stylesheet" href="{b}/style.css?v={digest("style.css")}">'
            f'<script src="{b}/tables.js?v={digest("tables.js")}" defer></script>')
