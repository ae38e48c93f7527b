"""The clustermetrics server (optional extra: ``pip install 'clustermetrics[server]'``).

``clustermetrics serve --data DIR`` runs :func:`create_app` on uvicorn: the API surface over HTTP
for many people and programs at once, one embedded store per project, API keys
(:mod:`.auth`), jobs for long work (:mod:`.jobs`) and web pages (:mod:`.web`); every request
meets :mod:`.edge` first (the key before the body, body limits, security headers).
"""

from __future__ import annotations

from ..errors import MissingDependencyError

INSTALL_HINT = "pip install 'clustermetrics[server]' (fastapi, uvicorn and httpx)"


def require_server() -> None:
    """MissingDependencyError with the install line when the server extra is missing."""
    missing = []
    for name in ("fastapi", "uvicorn", "httpx"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise MissingDependencyError(f"The server needs {', '.join(missing)}: {INSTALL_HINT}.")


def create_app(settings):
    """The ASGI application (see :mod:`clustermetrics.server.app`)."""
    require_server()
    from .app import create_app as make
    return make(settings)


def serve(data_dir: str, *, host: str = "127.0.0.1", port: int = 8000,
          max_body_mb: float = 1024, max_json_mb: float = 8, max_rows: int | None = None,
          max_arrow_mb: float | None = None, workers: int | None = None,
          blas_threads: int | None = None, models: list[str] | None = None,
          log_level: str = "info", **job_limits) -> None:
    """Run the server until interrupted. ``workers`` jobs run at once (default: half the
    cores, between 2 and 4), each with ``blas_threads`` BLAS threads (default: the cores
    (:func:`clustermetrics.threads.cores`) divided among the workers, at least 1) in the worker
    process of a fit; this process's BLAS runs on one thread beside its kernel threads. Remote
    callers may fit the known algorithms (``clustering.ALGORITHMS``) and the classes ``models``
    names (import paths). Bodies: Arrow uploads up to ``max_body_mb`` MiB, everything else
    (JSON, forms) up to ``max_json_mb`` MiB; an Arrow upload holds at most ``max_rows`` rows and
    ``max_arrow_mb`` MiB once decompressed (None: the defaults of
    :class:`~clustermetrics.server.app.Settings`). ``job_limits`` are
    :class:`~clustermetrics.server.app.Settings`'s job limits (``max_queued_per_project``,
    ``job_memory_mb``, ``max_resamples``, ...)."""
    require_server()
    import os

    import uvicorn

    from .. import threads
    from .app import Settings
    from .app import create_app as make
    # what the server makes (stores, their WAL, job files) is this user's only: 0600 / 0700
    os.umask(0o077)
    cores = threads.cores()
    workers = workers or min(4, max(2, cores // 2))
    blas_threads = blas_threads or max(1, cores // workers)
    settings = Settings(data_dir=data_dir, max_body_mb=max_body_mb, max_json_mb=max_json_mb,
                        workers=workers, blas_threads=blas_threads, **job_limits)
    if max_rows is not None:
        settings.max_rows = max_rows
    if max_arrow_mb is not None:
        settings.max_arrow_mb = max_arrow_mb
    if models:  # served beside the known algorithms
        settings.models = sorted({*(settings.models or ()), *models})
    app = make(settings)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)


__all__ = ["INSTALL_HINT", "create_app", "require_server", "serve"]
