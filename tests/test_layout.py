"""The layout keeps its promises: only ``api/local.py`` (and ``engine/local.py``, which folds
the store's batches) reaches into ``store/``; caller-side files and name rules live outside it."""

import ast
import pathlib

import clustermetrics

PACKAGE = pathlib.Path(clustermetrics.__file__).parent
ALLOWED = {"api/local.py", "engine/local.py"}


def _imports(path: pathlib.Path) -> set[str]:
    """Every module a file imports, relative imports resolved against its package."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = parts[:len(parts) - node.level] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.add(module)
            found |= {f"{module}.{alias.name}" for alias in node.names}
    return found


def test_only_the_local_api_and_engine_import_the_store():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("store/") or rel in ALLOWED:
            continue
        if any(m == "clustermetrics.store" or m.startswith("clustermetrics.store.")
               for m in _imports(path)):
            offenders.append(rel)
    assert offenders == []


def test_only_the_store_imports_duckdb_outside_conversions():
    users = sorted(path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("*.py")
                   if "duckdb" in _imports(path))
    assert all(u.startswith("store/") or u == "files.py" for u in users), users
