"""Jobs: long work (fits, metrics, reports, comparisons, sweeps) runs on ``workers`` job
threads while the server answers other requests, shared fairly between projects.

- Each project has its own queue: at most ``max_queued`` jobs waiting (one more is a 429,
  :class:`~clustermetrics.errors.TooManyJobsError`) and at most ``max_running`` running. A free
  job thread takes the next job of the project whose turn it is (round robin over the projects
  with work waiting), so one project's flood delays another's job by at most one job's length.
- Each project keeps its own history: its last ``history`` finished jobs. The records (no
  results) are kept in ``DIR/jobs/PROJECT.sqlite`` (mode 0600): a job that a stop or a crash of
  the server interrupted is listed as ``interrupted`` after the restart.
- A job records its progress as the events the API's ``progress(stage, done, total)`` callback
  hears; a client reads the events it has not seen (``since``) and replays them into its own
  callback, so a remote bar moves like a local one.
- Cancelling stops a queued job before it starts. A running job stops at its next progress
  event, or, in the middle of a fit, at once: the fit runs in a worker process
  (:mod:`.workers`) that its job thread kills. A write it was making rolls back. A job whose
  key is revoked is cancelled (the key is checked when the job starts, and every
  ``KEY_CHECK_S`` while it waits or runs); a job past ``timeout_s`` fails with
  :class:`~clustermetrics.errors.LimitError`.
- A job's fit runs in a worker process on ``blas_threads`` threads (OpenMP and BLAS), so the
  fits of ``workers`` jobs at once use about ``workers x blas_threads`` cores; the work a job
  does in this process runs on the kernel threads (one per core, shared by the jobs), with
  BLAS at one thread (the server app's setting). A job also holds BLAS at ``blas_threads``
  (:func:`clustermetrics.threads.blas`, shared by the jobs' threads), which only ever lowers
  it. (A float32 GEMM sums in another order on another number of threads: results then
  differ from an embedded run's in the last bits, ~1e-9.)
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import numbers
import os
import secrets
import sqlite3
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import threads
from ..api import codec
from ..documents import give_memory_back
from ..errors import (
    CancelledError,
    ClusterMetricsError,
    LimitError,
    NotFoundError,
    TooLargeError,
    TooManyJobsError,
)
from ..metrics.clusterstats import work_check
from ..names import check_name

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


STATES = ("queued", "running", "done", "failed", "cancelled", "interrupted")
FINISHED = ("done", "failed", "cancelled", "interrupted")
KEEP = 1000  # finished jobs remembered per project (the oldest are forgotten first)
MAX_QUEUED = 100  # jobs a project may have waiting
TIMEOUT_S = 3600.0  # a job's time limit
KEY_CHECK_S = 1.0  # how often the keys of waiting and running jobs are checked

# the job the current thread runs (a worker runner watches its cancel flag and clock)
current_job: contextvars.ContextVar[Job | None] = contextvars.ContextVar(
    "clustermetrics_job", default=None)


class Job:
    def __init__(self, project: str, op: str, params: dict, key_id: str | None = None):
        self.id = secrets.token_hex(8)
        self.project, self.op, self.params, self.key_id = project, op, params, key_id
        self.status = "queued"
        self.created_at = time.time()
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.deadline: float | None = None  # started_at + the server's time limit
        self.timeout_s: float | None = None
        self.events: list[tuple[str, int, int | None]] = []
        self.result: Any = None  # encoded by the codec once done
        self.error: dict | None = None  # an encoded error once failed or cancelled
        self.warnings: list[str] = []  # ClusterMetricsWarning messages the work issued
        self.cancel_requested = False
        self.cancel_reason: str | None = None  # the CancelledError's message
        self.stopping = False  # cancelled because the server stops: ends "interrupted"
        self.worker_pid: int | None = None  # the worker process of its fit, while one runs
        self.changed = threading.Condition()
        self.version = 0  # bumped on every change: a waiting client polls it

    def progress(self, stage: str, done: int, total: int | None) -> None:
        """The API's progress callback: records the event, stops a cancelled job or one past
        its time limit."""
        with self.changed:
            self.events.append((stage, int(done), None if total is None else int(total)))
            self._touch()
        self.check()

    def check(self) -> None:
        """:class:`CancelledError` once cancelled, :class:`LimitError` once past the time
        limit; nothing otherwise."""
        if self.cancel_requested:
            raise CancelledError(self.cancel_reason or f"Job {self.id} ({self.op}) was "
                                 "cancelled.")
        if self.deadline is not None and time.time() > self.deadline:
            raise LimitError(f"Job {self.id} ({self.op}) ran past this server's limit of "
                             f"{self.timeout_s:,.0f} s per job (clustermetrics serve "
                             "--job-timeout raises it); nothing of it was written.")

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

    def record(self) -> dict:
        """What is kept on disk: the view without events and result, and the key's id."""
        with self.changed:
            return {"id": self.id, "project": self.project, "op": self.op,
                    "status": self.status, "params": self.params, "key_id": self.key_id,
                    "created_at": self.created_at, "started_at": self.started_at,
                    "finished_at": self.finished_at, "error": self.error,
                    "warnings": list(self.warnings)}

    @classmethod
    def restore(cls, data: dict) -> Job:
        """A job read back from its record; one that was queued or running when its server
        stopped is ``interrupted``."""
        job = cls(data["project"], data["op"], data.get("params") or {}, data.get("key_id"))
        job.id, job.created_at = data["id"], data["created_at"]
        job.started_at, job.finished_at = data.get("started_at"), data.get("finished_at")
        job.status, job.error = data["status"], data.get("error")
        job.warnings = list(data.get("warnings") or [])
        if job.status not in FINISHED:
            job._interrupt(job.status)
        return job

    def _interrupt(self, was: str) -> None:
        self.status, self.finished_at = "interrupted", self.finished_at or time.time()
        self.error = codec.encode_error(CancelledError(
            f"Job {self.id} ({self.op}) was interrupted: the server stopped while it was "
            f"{was}. Nothing of it was written; run it again."))


class Records:
    """The job records of one project: ``DIR/jobs/PROJECT.sqlite``, mode 0600."""

    def __init__(self, folder: str, project: str):
        path = os.path.join(folder, f"{check_name(project, 'project name')}.sqlite")
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))  # 0600 before SQLite opens it
        os.chmod(path, 0o600)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=30, check_same_thread=False)
        with self._lock, self._db as con:
            con.execute("PRAGMA journal_mode=WAL")  # its files take the database's mode
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute("CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, "
                        "created_at REAL NOT NULL, record TEXT NOT NULL)")

    def all(self) -> list[dict]:
        with self._lock, self._db as con:
            rows = con.execute("SELECT record FROM jobs ORDER BY created_at").fetchall()
        return [json.loads(r[0]) for r in rows]

    def put(self, job: Job) -> None:
        record = job.record()
        text = json.dumps(record, default=str)
        with self._lock, self._db as con:
            con.execute("INSERT OR REPLACE INTO jobs VALUES (?, ?, ?)",
                        [record["id"], record["created_at"], text])

    def delete(self, ids: list[str]) -> None:
        with self._lock, self._db as con:
            con.executemany("DELETE FROM jobs WHERE id = ?", [[i] for i in ids])

    def close(self) -> None:
        with self._lock:
            self._db.close()


@dataclass
class Limits:
    """Bounds on the parameters that size a job's work, checked before anything is
    allocated or queued. Each names the ``clustermetrics serve`` option that raises it."""

    max_resamples: int = 1000
    max_grid: int = 1000
    max_n_init: int = 100
    max_iter: int = 10_000
    max_clusters: int = 10_000
    max_quadratic_rows: int = 10_000
    # a sample scored against every row, and the points a report projects (t-SNE and the
    # sampled silhouettes grow with it): work that runs in the server and cannot be contained
    max_sample: int = 20_000
    # items per cluster in a look inside (closest, misfits, keywords: n; aggregate, truth: top):
    # the answer is built and encoded in the server process
    max_items: int = 1000

    # models whose fit holds an n x n matrix (pairwise distances, affinities): measured, an
    # average-linkage fit of 10,000 rows takes 7.8 s and 962 MiB; 20,000 rows four times that
    QUADRATIC = frozenset({"AgglomerativeClustering", "SpectralClustering",
                           "AffinityPropagation"})
    # (parameter, limit attribute, option) of the parameters that size a fit
    _PARAMS = (("n_init", "max_n_init", "--max-n-init"), ("max_iter", "max_iter", "--max-iter"),
               ("n_clusters", "max_clusters", "--max-clusters"),
               ("n_components", "max_clusters", "--max-clusters"))

    def _over(self, what: str, value: Any, attr: str, option: str) -> None:
        limit = getattr(self, attr)
        if _number(value) and value > limit:
            raise LimitError(f"{what}={value:,} is over this server's limit of {limit:,} "
                             f"(clustermetrics serve {option} raises it).")

    def check_sample(self, size: Any, what: str = "sample_size") -> None:
        self._over(what, size, "max_sample", "--max-sample")

    def check_items(self, args: dict) -> None:
        """The items per cluster an inside call asks for (``n`` or ``top``)."""
        for name in ("n", "top"):
            if name in args:
                self._over(name, args[name], "max_items", "--max-items")

    def check_resamples(self, n_resamples: Any) -> None:
        self._over("n_resamples", n_resamples, "max_resamples", "--max-resamples")

    def check_k(self, k: Any) -> None:
        self._over("k", k, "max_clusters", "--max-clusters")

    def check_ks(self, ks: list) -> None:
        """A k-means sweep: as many fits as values of k, each k bounded."""
        if len(ks) > self.max_grid:
            raise LimitError(f"A sweep of {len(ks):,} values of k is over this server's limit "
                             f"of {self.max_grid:,} fits (clustermetrics serve --max-grid "
                             "raises it).")
        for k in ks:
            self.check_k(k)

    def check_params(self, params: dict) -> None:
        """A model's parameters: ``n_init``, ``max_iter`` and its number of clusters."""
        for name, attr, option in self._PARAMS:
            if name in params:
                self._over(name, params[name], attr, option)

    def check_grid(self, param_grid: Any) -> None:
        """A grid's number of combinations, counted without making them (a dict of lists, or
        a list of such), and each value of a sizing parameter. A malformed grid is left to
        :func:`clustermetrics.clustering.parameter_grid`, which names what is wrong."""
        grids = [param_grid] if isinstance(param_grid, dict) else param_grid
        if not isinstance(grids, (list, tuple)):
            return
        total = 0
        for grid in grids:
            if not isinstance(grid, dict):
                continue
            size = 1
            for name, values in grid.items():
                if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__len__"):
                    continue  # not a list of values: parameter_grid names it
                size *= len(values)
                for value in values:
                    self.check_params({name: value})
            total += size
        if total > self.max_grid:
            raise LimitError(f"The parameter grid has {total:,} combinations, over this "
                             f"server's limit of {self.max_grid:,} fits (clustermetrics serve "
                             "--max-grid raises it).")

    def check_rows(self, cls: str, n_rows: int) -> None:
        """A model that holds an n x n matrix, on more rows than the limit."""
        name = cls.rsplit(".", 1)[-1]
        if name in self.QUADRATIC and n_rows > self.max_quadratic_rows:
            raise LimitError(
                f"{name} holds an n x n matrix: {n_rows:,} documents are over this server's "
                f"limit of {self.max_quadratic_rows:,} for such models (clustermetrics serve "
                "--max-quadratic-rows raises it). Fit a sample, or use HDBSCAN, k-means or "
                "Birch.")


def _number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


class Jobs:
    """The server's jobs, on ``workers`` threads with ``blas_threads`` BLAS threads each,
    shared between projects (see the module's docstring). ``records_dir`` keeps each
    project's job records (None: none kept); ``key_active(key_id)`` says whether a key still
    holds (None: keys are not checked)."""

    def __init__(self, workers: int = 2, blas_threads: int | None = None, *,
                 max_running: int | None = None, max_queued: int = MAX_QUEUED,
                 history: int = KEEP, timeout_s: float | None = TIMEOUT_S,
                 records_dir: str | None = None,
                 key_active: Callable[[str], bool] | None = None):
        self.workers, self.blas_threads = max(1, workers), blas_threads
        # by default one worker stays free for the other projects (a project's long jobs
        # cannot hold them all), unless there is only one
        self.max_running = max(1, min(max_running or self.workers - 1, self.workers))
        self.max_queued, self.history, self.timeout_s = max_queued, max(1, history), timeout_s
        self.key_active = key_active
        self._jobs: dict[str, Job] = {}
        self._projects: dict[str, OrderedDict[str, Job]] = {}  # each project's, oldest first
        self._queues: dict[str, deque[tuple[Job, Callable]]] = {}
        self._running: Counter[str] = Counter()
        self._turns: list[str] = []  # projects, the one served longest ago first
        self._cv = threading.Condition()
        self._closed = False
        self._stop = threading.Event()  # set when the server stops
        self._records_dir = records_dir
        self._records: dict[str, Records] = {}
        self._records_closed = False
        if records_dir is not None:
            self._load(records_dir)
        self._threads = [threading.Thread(target=self._loop, name=f"clustermetrics-job-{i}",
                                          daemon=True) for i in range(self.workers)]
        if key_active is not None:
            self._threads.append(threading.Thread(target=self._watch_keys, daemon=True,
                                                  name="clustermetrics-job-keys"))
        for thread in self._threads:
            thread.start()

    # -- queueing --------------------------------------------------------------------------
    def submit(self, project: str, op: str, params: dict, fn: Callable[[Callable], Any],
               key_id: str | None = None) -> Job:
        """Queue ``fn(progress)`` in ``project``'s queue; its return value is the job's
        result. :class:`TooManyJobsError` when the project has ``max_queued`` jobs waiting."""
        job = Job(project, op, params, key_id)
        with self._cv:
            if self._closed:
                raise CancelledError("The server is stopping; no job is started.")
            queue = self._queues.setdefault(project, deque())
            if len(queue) >= self.max_queued:
                raise TooManyJobsError(
                    f"Project {project!r} has {len(queue):,} jobs waiting, this server's limit "
                    f"(clustermetrics serve --max-queued-per-project): wait for some to finish "
                    "or cancel some (DELETE /v1/jobs/ID), then send this one again.")
            self._jobs[job.id] = job
            self._projects.setdefault(project, OrderedDict())[job.id] = job
            queue.append((job, fn))
            if project not in self._turns:  # a newcomer was served longest ago
                self._turns.insert(0, project)
            self._cv.notify()
        self._save(job)
        return job

    def _pick(self) -> tuple[Job, Callable] | None:
        """The next job of the first project in turn with a job waiting and a running slot;
        that project's turn goes to the back."""
        for project in self._turns:
            queue = self._queues.get(project)
            if queue and self._running[project] < self.max_running:
                self._turns.remove(project)
                self._turns.append(project)
                return queue.popleft()
        return None

    def _loop(self) -> None:
        while True:
            with self._cv:
                picked = self._pick()
                while picked is None:
                    if self._closed:
                        return
                    self._cv.wait()
                    picked = self._pick()
                job, fn = picked
                self._running[job.project] += 1
                with job.changed:
                    job.status, job.started_at = "running", time.time()
                    if self.timeout_s is not None:
                        job.timeout_s, job.deadline = self.timeout_s, job.started_at + \
                            self.timeout_s
                    job._touch()
            try:
                self._save(job)
                self._run(job, fn)
            finally:
                with self._cv:
                    self._running[job.project] -= 1
                    self._cv.notify_all()
                self._save(job)
                self._trim(job.project)

    def _run(self, job: Job, fn: Callable[[Callable], Any]) -> None:
        from ..api.local import collect_warnings
        token = current_job.set(job)
        checked = work_check.set(job.check)  # reading and kernels stop at its cancel
        try:
            if job.key_id is not None and self.key_active is not None \
                    and not self.key_active(job.key_id):
                self._revoked(job)  # revoked while it waited
            job.check()
            with (contextlib.nullcontext() if self.blas_threads is None  # BLAS as it is
                  else threads.blas(self.blas_threads)), collect_warnings() as caught:
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
        except MemoryError:  # the server's memory limit: the caller can ask for less
            status, result = "failed", None
            error = codec.encode_error(TooLargeError(
                f"The {job.op} job ran out of memory (this server's memory limit). Ask for "
                "less at once (a smaller sample_size or max_points, fewer aliases or "
                "documents), or try again when fewer jobs run."))
        except Exception as exc:  # a bug: logged, reported by its incident id, the server goes on
            status, result = "failed", None
            error = codec.encode_error(incident(exc, f"job {job.op}"))
        finally:
            work_check.reset(checked)
            current_job.reset(token)
        if error is not None and error.get("code") == "too_large":
            give_memory_back()  # the work's data is let go by now: the next job finds it
        with job.changed:
            if status == "cancelled" and job.stopping:
                job._interrupt("running")
            else:
                job.status, job.result, job.error = status, result, error
            job.finished_at = time.time()
            job._touch()

    # -- looking up and cancelling ---------------------------------------------------------
    def get(self, project: str, job_id: str) -> Job:
        """A job of this project; another project's job is not found, as an unknown one."""
        with self._cv:
            job = self._jobs.get(job_id)
            if job is None or job.project != project:
                known = list(self._projects.get(project, {}))
                raise NotFoundError("job", job_id, known)
            return job

    def list_jobs(self, project: str, status: str | None = None) -> list[Job]:
        """The project's jobs, newest first."""
        with self._cv:
            jobs = list(self._projects.get(project, {}).values())
        return [j for j in reversed(jobs) if status is None or j.status == status]

    def cancel(self, project: str, job_id: str, reason: str | None = None) -> Job:
        """Cancel a job: a queued one never starts, a running one stops (see the module)."""
        job = self.get(project, job_id)
        self._cancel(job, reason)
        return job

    def _cancel(self, job: Job, reason: str | None = None) -> None:
        with self._cv, job.changed:
            if job.status == "queued":
                queue = self._queues.get(job.project, deque())
                for entry in list(queue):
                    if entry[0] is job:
                        queue.remove(entry)
                job.status, job.finished_at = "cancelled", time.time()
                job.error = codec.encode_error(CancelledError(
                    reason or f"Job {job.id} ({job.op}) was cancelled before it started."))
            if job.status not in FINISHED:
                job.cancel_requested = True
                job.cancel_reason = reason or job.cancel_reason
            job._touch()
        if job.status in FINISHED:
            self._save(job)

    def _revoked(self, job: Job) -> None:
        self._cancel(job, f"Job {job.id} ({job.op}) was cancelled: the API key that queued it "
                          f"(key id {job.key_id}) was revoked.")

    def _watch_keys(self) -> None:
        """Cancel the waiting and running jobs of keys revoked since they were queued (a key
        is revoked by another process, ``clustermetrics keys revoke``, in keys.sqlite)."""
        assert self.key_active is not None
        while not self._stop.wait(KEY_CHECK_S):
            with self._cv:
                pending = [j for j in self._jobs.values()
                           if j.status not in FINISHED and j.key_id is not None]
            for key_id in {j.key_id for j in pending}:
                try:
                    revoked = not self.key_active(key_id)  # type: ignore[arg-type]
                except Exception as exc:  # the keys' file unreadable: said, tried again
                    incident(exc, "checking the keys of jobs")
                    continue
                if revoked:
                    for job in pending:
                        if job.key_id == key_id and job.status not in FINISHED:
                            self._revoked(job)

    # -- history and records ---------------------------------------------------------------
    def _trim(self, project: str) -> None:
        """Forget the project's oldest finished jobs beyond ``history`` (others' stay)."""
        with self._cv:
            jobs = self._projects.get(project, OrderedDict())
            finished = [j.id for j in jobs.values() if j.status in FINISHED]
            gone = finished[:max(0, len(finished) - self.history)]
            for job_id in gone:
                del jobs[job_id]
                del self._jobs[job_id]
        if gone and self._records_dir is not None and not self._records_closed:
            with contextlib.suppress(Exception):
                self._project_records(project).delete(gone)

    def _project_records(self, project: str) -> Records:
        assert self._records_dir is not None
        with self._cv:
            records = self._records.get(project)
            if records is None:
                records = self._records[project] = Records(self._records_dir, project)
            return records

    def _save(self, job: Job) -> None:
        if self._records_dir is None or self._records_closed:
            return
        try:
            self._project_records(job.project).put(job)
        except Exception as exc:  # a record is not worth a job: logged, the job goes on
            incident(exc, f"saving the record of job {job.id}")

    def _load(self, folder: str) -> None:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        os.chmod(folder, 0o700)
        for name in sorted(os.listdir(folder)):
            if not name.endswith(".sqlite"):
                continue
            project = name[:-len(".sqlite")]
            try:
                records = self._project_records(project)
                jobs = [Job.restore(r) for r in records.all()]
            except Exception as exc:  # a damaged file costs its history, not the server
                incident(exc, f"reading the job records of {project!r}")
                continue
            mine = self._projects.setdefault(project, OrderedDict())
            for job in jobs:
                mine[job.id] = job
                self._jobs[job.id] = job
                records.put(job)  # interrupted ones are saved so
            self._trim(project)

    def shutdown(self, wait_s: float = 10.0) -> None:
        """Stop: waiting jobs and running ones end ``interrupted`` (a running fit's worker is
        killed); waits up to ``wait_s`` for the job threads."""
        with self._cv:
            self._closed = True
            pending = [j for j in self._jobs.values() if j.status not in FINISHED]
            for job in pending:
                with job.changed:
                    if job.status == "queued":
                        job._interrupt("queued")
                    else:
                        job.stopping = job.cancel_requested = True
                    job._touch()
            self._queues.clear()
            self._stop.set()
            self._cv.notify_all()
        for job in pending:
            self._save(job)
        deadline = time.time() + wait_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.time()))
        with self._cv:
            records, self._records = list(self._records.values()), {}
            self._records_closed = True
        for r in records:
            r.close()
