"""Contained compute: a server's model fits run in worker processes, not in the server.

A fit is native code sized by its caller (scikit-learn, OpenMP, BLAS): a crash in there, or an
allocation beyond the machine, would end the server for every project. So the server keeps the
store (it is the only process that opens its files) and hands each fit, a stability run with
its refits included, to a fresh worker process:

- workers are forked from a forkserver that has imported NumPy, SciPy and scikit-learn once
  (about 30 ms a worker on our machines, against 1.8 s for a fresh interpreter);
- the vectors travel as a ``.npy`` file under the server's data folder (mode 0600, deleted
  with the array), which the worker maps read-only: no pickled copy through a pipe;
- each worker limits its own address space (``RLIMIT_AS``) to what it had at start, plus its
  input, plus ``memory_mb``: an allocation beyond fails in the worker (a ``MemoryError``, or
  the worker dies), and OpenMP and BLAS to ``threads`` threads;
- the server's job thread watches the worker: a cancelled job, a revoked key or a job past its
  time limit kills the worker at once (SIGKILL; within ``POLL_S``), and a worker that dies
  fails its job with :class:`~clustermetrics.errors.WorkerCrashedError`, never the server.

Classes that only this process can build (defined inside a function, as tests do) are fitted
in process: a server's callers can name only importable classes.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import os
import resource
import secrets
import signal
import sys
import threading
import weakref
from multiprocessing import forkserver, popen_forkserver, reduction, spawn, util
from multiprocessing.context import ForkServerProcess, set_spawning_popen
from typing import Any

import numpy as np

from .. import clustering
from ..api.local import FitRunner
from ..clustering import FitResult, ModelSpec
from ..errors import ClusterMetricsError, LimitError, WorkerCrashedError
from .jobs import Limits, current_job, incident

POLL_S = 0.05  # how often a job thread looks at its worker, its cancel flag and its clock
PRELOAD = ["numpy", "scipy.sparse", "scipy.spatial", "sklearn.cluster", "sklearn.mixture",
           "threadpoolctl", "clustermetrics.clustering", "clustermetrics.stability",
           "clustermetrics.server.workers"]

_context_lock = threading.Lock()
_context: Any = None


def _forkserver() -> Any:
    """The multiprocessing context of the workers (a forkserver, started on first use)."""
    global _context
    with _context_lock:
        if _context is None:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(PRELOAD)
            _context = ctx
        return _context


class _Popen(popen_forkserver.Popen):
    """multiprocessing's forkserver launch, less the main module: a worker needs only its
    function, and re-running the script that started the server (one without an
    ``if __name__ == "__main__":`` guard would start another server) is no part of a fit."""

    def _launch(self, process_obj: Any) -> None:
        prep = {k: v for k, v in spawn.get_preparation_data(process_obj._name).items()
                if k not in ("init_main_from_name", "init_main_from_path")}
        buf = io.BytesIO()
        set_spawning_popen(self)
        try:
            reduction.dump(prep, buf)
            reduction.dump(process_obj, buf)
        finally:
            set_spawning_popen(None)
        self.sentinel, w = forkserver.connect_to_new_process(self._fds)  # type: ignore[attr-defined]
        parent_w = os.dup(w)  # as multiprocessing does: the child's sentinel of its parent
        self.finalizer = util.Finalize(self, util.close_fds,  # type: ignore[attr-defined]
                                       (parent_w, self.sentinel))
        with open(w, "wb", closefd=True) as f:
            f.write(buf.getbuffer())
        self.pid = forkserver.read_signed(self.sentinel)


class _Worker(ForkServerProcess):
    @staticmethod
    def _Popen(process_obj: Any) -> Any:  # noqa: N802 (multiprocessing names it so)
        return _Popen(process_obj)


class WorkerRunner(FitRunner):
    """Runs fits in supervised worker processes (see the module's docstring).

    ``spill_dir``: where inputs are written for the workers (created 0700); ``memory_mb``: what
    a fit may allocate beyond its input; ``threads``: OpenMP and BLAS threads of a worker;
    ``limits``: the server's bounds, the rows of a quadratic model checked again on the rows
    read (the dataset may have grown since the job was queued).
    """

    def __init__(self, spill_dir: str, *, memory_mb: float = 4096, threads: int | None = 1,
                 limits: Limits | None = None):
        self.spill_dir, self.memory_mb, self.threads = spill_dir, memory_mb, threads
        self.limits = limits  # rows of quadratic models, checked again on the rows read
        os.makedirs(spill_dir, mode=0o700, exist_ok=True)
        for name in os.listdir(spill_dir):  # inputs left by a server that was killed
            if name.endswith(".npy"):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(spill_dir, name))
        self._spilled: dict[int, tuple[weakref.ref, str]] = {}
        self._lock = threading.Lock()

    def fit(self, spec: ModelSpec, X: np.ndarray, precision: str | None = None) -> FitResult:
        if spec.cls in clustering._LOCAL_CLASSES:
            return super().fit(spec, X, precision)
        return self._run("fit", spec, X, {"precision": precision}, None)

    def stability(self, spec: ModelSpec, X: np.ndarray, *, n_resamples: int, fraction: float,
                  random_state: int | None, on_refit: Any = None) -> Any:
        if spec.cls in clustering._LOCAL_CLASSES:
            return super().stability(spec, X, n_resamples=n_resamples, fraction=fraction,
                                     random_state=random_state, on_refit=on_refit)
        options = {"n_resamples": n_resamples, "fraction": fraction,
                   "random_state": random_state}
        return self._run("stability", spec, X, options, on_refit)

    # -- one worker -------------------------------------------------------------------------
    def _run(self, kind: str, spec: ModelSpec, X: np.ndarray, options: dict,
             on_event: Any) -> Any:
        job = current_job.get()
        if job is not None:
            job.check()  # cancelled, revoked or out of time: no worker is started
        if self.limits is not None:
            self.limits.check_rows(spec.cls, len(X))
        path = self._spill(X)
        _forkserver()
        mine, theirs = multiprocessing.Pipe(duplex=False)
        proc = _Worker(target=_work, name=f"clustermetrics-{kind}", daemon=True,
                           args=(theirs, kind, spec.cls, spec.params, path, options,
                                 self.memory_mb, self.threads))
        proc.start()
        theirs.close()
        if job is not None:
            job.worker_pid = proc.pid
        try:
            while True:
                if mine.poll(POLL_S):
                    try:
                        tag, value = mine.recv()
                    except (EOFError, OSError):  # the worker died: its exit says how
                        proc.join(5)
                        raise self._died(proc.exitcode, spec) from None
                    if tag == "event":
                        if on_event is not None:
                            on_event(value)  # the job's progress: may raise CancelledError
                    elif tag == "done":
                        return value
                    elif tag == "error":
                        raise value
                    elif tag == "memory":
                        raise self._out_of_memory(spec)
                    else:  # a bug in the worker: logged with an incident id, as in-process
                        raise incident(RuntimeError(value), f"a worker's {kind}")
                elif not proc.is_alive() and not mine.poll(0):
                    raise self._died(proc.exitcode, spec)
                if job is not None:
                    job.check()
        finally:
            if proc.is_alive():
                proc.kill()  # cancelled, out of time, or the job thread's own error
            proc.join()
            mine.close()
            if job is not None:
                job.worker_pid = None

    def _spill(self, X: np.ndarray) -> str:
        """The file that holds ``X`` for the workers, written once per array (a sweep fits
        the same vectors many times) and deleted when the array is."""
        with self._lock:
            known = self._spilled.get(id(X))
            if known is not None and known[0]() is X:
                return known[1]
        path = os.path.join(self.spill_dir, f"{secrets.token_hex(8)}.npy")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            np.save(f, np.ascontiguousarray(X))
        with self._lock:
            self._spilled[id(X)] = (weakref.ref(X), path)
        weakref.finalize(X, self._forget, id(X), path)
        return path

    def _forget(self, key: int, path: str) -> None:
        with self._lock:
            if self._spilled.get(key, (None, None))[1] == path:
                del self._spilled[key]
        with contextlib.suppress(OSError):
            os.unlink(path)

    def _out_of_memory(self, spec: ModelSpec) -> LimitError:
        return LimitError(
            f"{spec.describe()} needed more memory than this server's limit of "
            f"{self.memory_mb:,.0f} MiB per job (clustermetrics serve --job-memory-mb raises "
            "it); fit fewer documents or choose parameters that need less.")

    def _died(self, exitcode: int | None, spec: ModelSpec) -> WorkerCrashedError:
        how = (f"signal {signal.Signals(-exitcode).name}" if exitcode is not None
               and exitcode < 0 and -exitcode in signal.valid_signals() else
               f"exit status {exitcode}")
        return WorkerCrashedError(
            f"The worker process fitting {spec.describe()} died ({how}): a crash in the "
            f"model's native code, or memory beyond this server's limit of "
            f"{self.memory_mb:,.0f} MiB per job (clustermetrics serve --job-memory-mb). The "
            "job failed; nothing was written, and the server goes on.")


def _limit_memory(memory_mb: float, input_bytes: int) -> None:
    """This process's address space: what it has now, its input and ``memory_mb`` more."""
    with open("/proc/self/statm") as f:
        now = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = now + input_bytes + int(memory_mb * 2**20)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


UNRAISABLE_SHOWN = 5  # "Exception ignored" reports of a worker that reach the server's log


def unraisable_hook(conn: Any, exit: Any = os._exit) -> Any:
    """A worker's ``sys.unraisablehook``. A MemoryError that Python could not raise (inside a
    native callback, where the fit would go on and report it again and again: a server log
    grew 2 MB/s with DBSCAN under its memory limit) ends the fit as out of memory; other
    reports reach the log, the first few only."""
    shown = 0

    def hook(unraisable: Any) -> None:
        nonlocal shown
        if isinstance(unraisable.exc_value, MemoryError):
            with contextlib.suppress(Exception):
                conn.send(("memory", None))
            exit(1)
            return
        shown += 1
        if shown <= UNRAISABLE_SHOWN:
            sys.__unraisablehook__(unraisable)

    return hook


def _work(conn: Any, kind: str, cls: str, params: dict, path: str, options: dict,
          memory_mb: float, threads: int | None) -> None:
    """A worker: map the input, fit, send the result (or the error) back, exit."""
    from threadpoolctl import threadpool_limits

    from ..stability import stability
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server's Ctrl-C is the server's
    sys.unraisablehook = unraisable_hook(conn)
    try:
        _limit_memory(memory_mb, os.path.getsize(path))
        with threadpool_limits(limits=threads):
            X = np.load(path, mmap_mode="r")
            spec = ModelSpec(cls, params)
            if kind == "fit":
                out: Any = clustering.fit(spec.build(), X, spec, **options)
            else:
                out = stability(spec, X, on_refit=lambda i: conn.send(("event", i)), **options)
        conn.send(("done", out))
    except ClusterMetricsError as exc:
        conn.send(("error", exc))
    except MemoryError:
        conn.send(("memory", None))
    except BaseException:  # a bug: its text goes to the server's log
        import traceback
        conn.send(("bug", traceback.format_exc()))
    finally:
        conn.close()
