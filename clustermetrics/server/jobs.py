"""Jobs: long work (kmeans, metrics, report, compare, sweep) runs on a bounded pool of worker
threads while the server answers other requests.

A job records its progress as the events the API's ``progress(stage, done, total)`` callback
hears; a client reads the events it has not seen (``since``) and replays them into its own
callback, so a remote bar moves like a local one. Cancelling sets a flag that the job's next
progress event turns into :class:`~clustermetrics.errors.CancelledError`: the operation stops
there, and a write it was making rolls back. Each job runs with BLAS limited to
``blas_threads`` (threadpoolctl; None leaves BLAS as it is), so ``workers`` jobs at once use
about ``workers x blas_threads`` cores. (A float32 GEMM sums in another order on another number
of threads: results then differ from an embedded run's in the last bits, ~1e-9.)
"""

from __future__ import annotations

import itertools
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..api import codec
from ..errors import CancelledError, ClusterMetricsError, NotFoundError

log = logging.getLogger("clustermetrics.server")


def incident(exc: BaseException, where: str) -> ClusterMetricsError:
    """An unexpected error (a bug): logged here with its traceback under a new incident id.
    The caller gets the id, not the error's text, which can name the server's paths or data."""
    number = secrets.token_hex(6)
    log.error("incident %s: %s failed", number, where, exc_info=exc)
    error = ClusterMetricsError(f"The server failed on {where} (incident {number}); the "
                                "server's log has the details under that id.")
    error.incident_id = number  # type: ignore[attr-defined]
    return error


def public(exc: ClusterMetricsError, where: str) -> ClusterMetricsError:
    """The error a caller may see: a caller's mistake as it is; a failure of the server itself
    (a store error names the server's files) as an incident."""
    if exc.http_status == 500 and getattr(exc, "incident_id", None) is None:
        return incident(exc, where)
    return exc


STATES = ("queued", "running", "done", "failed", "cancelled")
FINISHED = ("done", "failed", "cancelled")
KEEP = 1000  # finished jobs remembered per server (the oldest are forgotten first)


class Job:
    def __init__(self, project: str, op: str, params: dict):
        self.id = secrets.token_hex(8)
        self.project, self.op, self.params = project, op, params
        self.status = "queued"
        self.created_at = time.time()
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.events: list[tuple[str, int, int | None]] = []
        self.result: Any = None  # encoded by the codec once done
        self.error: dict | None = None  # an encoded error once failed or cancelled
        self.warnings: list[str] = []  # ClusterMetricsWarning messages the work issued
        self.cancel_requested = False
        self.changed = threading.Condition()
        self.version = 0  # bumped on every change: a waiting client polls it

    def progress(self, stage: str, done: int, total: int | None) -> None:
        """The API's progress callback: records the event, stops a cancelled job."""
        with self.changed:
            self.events.append((stage, int(done), None if total is None else int(total)))
            self._touch()
        if self.cancel_requested:
            raise CancelledError(f"Job {self.id} ({self.op}) was cancelled.")

    def _touch(self) -> None:
        self.version += 1
        self.changed.notify_all()

    def view(self, since: int = 0) -> dict:
        """What a client sees: status, the events from ``since`` on (each as it was heard: a
        caller counting calls, as ``on_step`` does, hears every one), and the encoded result or
        error once finished."""
        with self.changed:
            events = [list(e) for e in self.events[since:]]
            out = {"id": self.id, "project": self.project, "op": self.op,
                   "status": self.status, "params": self.params,
                   "created_at": self.created_at, "started_at": self.started_at,
                   "finished_at": self.finished_at, "events": events,
                   "next": len(self.events), "cancel_requested": self.cancel_requested,
                   "warnings": list(self.warnings)}
            if self.status == "done":
                out["result"] = self.result
            if self.error is not None:
                out["error"] = self.error
            return out


class Jobs:
    """The server's jobs, on ``workers`` threads with ``blas_threads`` BLAS threads each."""

    def __init__(self, workers: int = 2, blas_threads: int | None = None):
        self.workers, self.blas_threads = max(1, workers), blas_threads
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="clustermetrics-job")
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._count = itertools.count()

    def submit(self, project: str, op: str, params: dict,
               fn: Callable[[Callable], Any]) -> Job:
        """Queue ``fn(progress)``; its return value is the job's result."""
        job = Job(project, op, params)
        with self._lock:
            self._jobs[job.id] = job
            self._forget()
        self._pool.submit(self._run, job, fn)
        return job

    def _run(self, job: Job, fn: Callable[[Callable], Any]) -> None:
        from threadpoolctl import threadpool_limits

        from ..api.local import collect_warnings
        with job.changed:
            if job.status == "cancelled":  # before it started
                return
            job.status, job.started_at = "running", time.time()
            job._touch()
        try:
            with threadpool_limits(limits=self.blas_threads, user_api="blas"), \
                    collect_warnings() as caught:  # None: BLAS as it is
                try:
                    result = codec.encode(fn(job.progress))
                finally:
                    job.warnings = list(caught)
            status, error = "done", None
        except CancelledError as exc:
            status, error, result = "cancelled", codec.encode_error(exc), None
        except ClusterMetricsError as exc:
            status, result = "failed", None
            error = codec.encode_error(public(exc, f"job {job.op}"))
        except Exception as exc:  # a bug: logged, reported by its incident id, the server goes on
            status, result = "failed", None
            error = codec.encode_error(incident(exc, f"job {job.op}"))
        with job.changed:
            job.status, job.result, job.error = status, result, error
            job.finished_at = time.time()
            job._touch()

    def get(self, project: str, job_id: str) -> Job:
        """A job of this project; another project's job is not found, as an unknown one."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.project != project:
                known = [j.id for j in self._jobs.values() if j.project == project]
                raise NotFoundError("job", job_id, known)
            return job

    def list_jobs(self, project: str, status: str | None = None) -> list[Job]:
        with self._lock:
            jobs = [j for j in self._jobs.values() if j.project == project]
        return [j for j in reversed(jobs) if status is None or j.status == status]

    def cancel(self, project: str, job_id: str) -> Job:
        job = self.get(project, job_id)
        with job.changed:
            if job.status == "queued":
                job.status, job.finished_at = "cancelled", time.time()
                job.error = codec.encode_error(
                    CancelledError(f"Job {job.id} ({job.op}) was cancelled before it started."))
            if job.status not in FINISHED:
                job.cancel_requested = True
            job._touch()
        return job

    def _forget(self) -> None:
        finished = [j for j in self._jobs.values() if j.status in FINISHED]
        for job in finished[:max(0, len(finished) - KEEP)]:
            del self._jobs[job.id]

    def shutdown(self) -> None:
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            if job.status not in FINISHED:
                self.cancel(job.project, job.id)
        self._pool.shutdown(wait=True)
