"""A real server for the pages about the server: ``clustermetrics serve`` on a free loopback
port in its own process (the hostile tests' ``start_server``), started once per test process
when a server page first runs, and stopped by its pid at the end."""

from __future__ import annotations

import itertools

import pytest

from tests.server.hostile.conftest import _key, start_server

_projects = itertools.count()


@pytest.fixture(scope="session")
def docs_server(tmp_path_factory):
    """``.url``, ``.data`` and ``.new_key()``: a key of a project of its own, one per page."""
    data = str(tmp_path_factory.mktemp("docs-server"))
    running = start_server(data)
    running.data = data
    running.new_key = lambda: _key(data, f"docs-{next(_projects)}")
    yield running
    running.stop()
