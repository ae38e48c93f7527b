"""Every code block of the README and of docs/ runs as written, page by page, in order (see
tests/docs/blocks.py for the conventions); the pages about the server run against a real one."""

from __future__ import annotations

import fnmatch

import pytest

from .blocks import ROOT, pages, parse, run_page, shell_env

# pages whose blocks talk to a server: CLUSTERMETRICS_URL and _API_KEY name a real one
SERVER_PAGES = ("docs/guide/server*.md", "docs/guide/security.md")
PAGES = pages()


def _name(path) -> str:
    return path.relative_to(ROOT).as_posix()


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_page_runs_as_written(page, tmp_path, monkeypatch, request):
    name = _name(page)
    text = page.read_text(encoding="utf-8")
    if not any(b.runs for b in parse(text, name)):
        pytest.skip(f"{name} has no block that runs")
    env = {"CLUSTERMETRICS_PATH": str(tmp_path / "store.duckdb"), "COLUMNS": "100",
           "CLUSTERMETRICS_LOCK_TIMEOUT": "30"}
    if any(fnmatch.fnmatch(name, p) for p in SERVER_PAGES):
        server = request.getfixturevalue("docs_server")
        env.update(CLUSTERMETRICS_URL=server.url, CLUSTERMETRICS_API_KEY=server.new_key(),
                   CLUSTERMETRICS_DATA=server.data)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    ran = run_page(text, name, tmp_path, shell_env(tmp_path))
    assert ran > 0


def test_every_page_is_collected():
    names = {_name(p) for p in PAGES}
    assert {"README.md", "docs/index.md", "docs/tutorial.md"} <= names
    on_disk = {_name(p) for p in (ROOT / "docs").rglob("*.md")}
    assert on_disk <= names
