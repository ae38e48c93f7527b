"""The Dask engine: the metrics pipeline's passes mapped over Parquet row groups on a cluster.

Optional extra: ``pip install 'clustermetrics[dask]'`` (dask.distributed). Nothing here runs a
formula of its own: the tasks are :mod:`.parquet`'s folds of :mod:`~clustermetrics.metrics.passes`'
partials over one row group, and the driver only maps, tree-merges and finishes them:

1. the files' footers are read by this process, in threads, before any cluster is started or
   reached (:func:`read_plan`), and every row group's slices numbered as partitions
   (:func:`~.parquet.make_plan`);
2. pass 1 (:class:`ClusterPass`) is mapped over the row groups and tree-merged on the workers;
   the driver finishes it into a :class:`ClusterSummary` and shares it with the workers once
   (O(k d); the per-slice counts go along only where pass 2 places rows in the source);
3. a sampled pairwise metric (``sample_size``, or above ``EXACT_LIMIT`` rows unless
   ``exact``) draws the sample's ranks from the merged counts on the driver
   (:meth:`ClusterSummary.sample_plan`, the one-process rule: same seed, same rows), gathers
   those rows from the row groups that hold them (:class:`SamplePass`) and shares the
   :class:`Sample`;
4. pass 2 (:class:`ScorePass`) is mapped and tree-merged the same way; an exact pairwise
   metric maps :class:`BlockPass` instead, one task per slice, each reading every row group;
5. :func:`build_result` gives the :class:`ClusterMetrics`, as on one process.

Tasks are mapped with ``retries``; a worker that dies is replaced by the scheduler and its
tasks, and the partials it held, are computed again elsewhere. Shared values are tasks of their
own (:meth:`_Run._share`), so they too are computed again when lost. Each partial carries the
partitions it holds (:class:`Held`): a merge refuses an overlap and the root of each pass must
hold every partition once, or the run fails (:class:`PartitionAccountingError`). A data error
(an unreadable file, a wrong vector) is returned by the task as a value rather than raised, so
it is not retried, and the driver raises it as soon as it arrives.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import logging
import multiprocessing
import os
import sys
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import reduce
from typing import Any

from ..errors import ClusterMetricsError, InvalidInputError, MissingDependencyError, ServerError
from ..metrics.clusterstats import limit_kernel_threads
from ..metrics.evaluate import Progress
from ..metrics.passes import (
    BlockPass,
    ClusterPass,
    ClusterSummary,
    PassOptions,
    SamplePass,
    ScorePass,
    build_result,
)
from ..metrics.result import ClusterMetrics
from ..metrics.sampling import EXACT_LIMIT, auto_sample, auto_sample_note
from ..metrics.silhouettes import LINEAR_METRICS
from .parquet import (
    Columns,
    Plan,
    finish_result,
    fold_block,
    fold_cluster,
    fold_sample,
    fold_score,
    make_plan,
)

RETRIES = 2  # per task, for exceptions other than data errors (a worker's death is not one)
FAN_IN = 8  # partials merged per merge task
CONNECT_TIMEOUT = "30s"  # to reach a scheduler given by its address
# no dashboard; the scheduler's own small HTTP server on a free local port, not on 8787
QUIET_HTTP = {"dashboard_address": "127.0.0.1:0"}
FOOTER_THREADS = 16  # footers are read here, before any cluster: I/O, so threads
log = logging.getLogger(__name__)

__all__ = ["EXACT_LIMIT", "PartitionAccountingError", "evaluate_parquet", "require_dask"]

GUARD_HINT = ('Dask\'s worker processes import this script again (as multiprocessing does) '
              'and would run it again: put the call under \'if __name__ == "__main__":\' '
              '(see the Dask guide).')

INSTALL_HINT = ("The Dask engine needs dask.distributed: pip install 'clustermetrics[dask]' "
                "(or pip install 'dask[distributed]').")


def require_dask():
    """The ``distributed`` module, or MissingDependencyError with the install line."""
    try:
        import distributed
    except ImportError:
        raise MissingDependencyError(INSTALL_HINT) from None
    return distributed


class PartitionAccountingError(RuntimeError):
    """The merged partials do not hold every partition exactly once: the run is refused
    rather than returning a score over a partition counted twice or left out."""


@dataclass
class Failed:
    """A data error met by a task (or a merge that found a partition twice), carried as its
    result so that it is not retried."""

    error: Exception


@dataclass
class Held:
    """A partial and the partitions it holds: the plan's piece numbers (``(piece, slice)``
    for exact blocks). Merges add them up and refuse an overlap; the root must hold each
    partition of the pass exactly once (:meth:`_Run._reduce`)."""

    partial: Any
    parts: frozenset


def _guarded(fn: Callable[..., Any], part: Any, *args: Any, **kwargs: Any) -> Any:
    """A task: ``fn`` with the pairwise kernel on the worker's own threads (not every core of
    its machine, which the machine's other workers share), its result held with ``part``; a
    data error as its result."""
    try:
        with limit_kernel_threads(_worker_threads()):
            return Held(fn(*args, **kwargs), frozenset([part]))
    except ClusterMetricsError as exc:
        return Failed(exc)


def _worker_threads() -> int:
    try:
        from distributed import get_worker
        return int(get_worker().state.nthreads)
    except (ImportError, ValueError, AttributeError):  # not on a worker: the budget's
        from .. import threads
        return threads.cores()


def _merge(*parts: Any) -> Any:
    """Partials merged in order, their partitions added up; a failure (the first one) passes
    through, and a partition held by two of them is one."""
    failed = [p for p in parts if isinstance(p, Failed)]
    if failed:
        return failed[0]
    held: frozenset = frozenset()
    for p in parts:
        twice = held & p.parts
        if twice:
            return Failed(PartitionAccountingError(
                f"Partitions {sorted(twice, key=str)[:5]} (pieces of the plan) reached a merge "
                "twice: the run is refused "
                "rather than counting them twice. Run it again; if it happens again, please "
                "report it."))
        held |= p.parts
    partials = [p.partial for p in parts if p.partial is not None]
    merged = reduce(lambda a, b: a.merge(b), partials) if partials else None
    return Held(merged, held)


def evaluate_parquet(path_or_glob: str | os.PathLike | Sequence[str], vector_field: str,
                     label_field: str, ground_truth_field: str | None = None, *,
                     metric: str = "euclidean", sample_size: int | None = None,
                     exact: bool = False, random_state=None, noise_label=None,
                     noise: str | None = None, client=None, workers: int | None = None,
                     progress: Progress | None = None, working_memory: float | None = None,
                     batch_rows: int | None = None) -> ClusterMetrics:
    """Every metric of a clustering stored in Parquet files, computed on a Dask cluster.

    The same statistics and formulas as :func:`~clustermetrics.evaluate` on one machine: the
    values agree to rounding, and a sampled silhouette with the same ``random_state`` scores
    the same rows (the files read in sorted order, rows in file order, are the rows of X).

    The paths, the columns and the scheduler address are checked here, before any cluster is
    started or reached: the files' footers are read by this process. In a script, call it
    under ``if __name__ == "__main__":``: the LocalCluster's worker processes import the
    script again, and a call at its top level is refused with that advice.

    Parameters
    ----------
    path_or_glob : str, path or list of them
        A Parquet file, a folder of ``.parquet`` files, a glob (``"data/*.parquet"``,
        ``"data/**/*.parquet"``) or an fsspec URL (``"s3://bucket/prefix/*.parquet"``; this
        process and the workers need the filesystem's package, such as s3fs). Files are read
        in row groups, in slices of about 64 MiB of vectors, never whole.
    vector_field : str
        The vector column: a fixed-size list or a list of floats. Rows whose vector is null
        are skipped and counted as ``n_without_vector``.
    label_field : str
        The cluster label column (ints or strings; nulls are missing labels).
    ground_truth_field : str, optional
        A column of true classes, for the external metrics (ARI, AMI, NMI, ...).
    metric, sample_size, random_state, noise_label, noise, working_memory
        As for :func:`~clustermetrics.evaluate`. ``cosine`` and ``sqeuclidean`` are exact in
        O(n k d); ``euclidean`` with ``sample_size`` scores a stratified sample against all
        rows. ``euclidean`` (or another pairwise metric) without ``sample_size`` is exact up
        to ``EXACT_LIMIT`` (20,000) rows with a vector; above it, it is estimated from a
        stratified sample of 10,000 rows (``random_state`` 0 unless given) with its 95%
        interval, and ``silhouette_method`` says so.
    exact : bool, default False
        Score every row against every row even above ``EXACT_LIMIT``: O(n² d), in blocks of
        one slice per task, each reading every row group (2 million rows: about a day).
    client : distributed.Client or str, optional
        The cluster to use (a Client, or a scheduler address such as
        ``"tcp://10.0.0.5:8786"``), left running afterwards. Without it a ``LocalCluster`` is
        started (processes, one thread each, no dashboard, its logs quiet) and closed at the
        end.
    workers : int, optional
        Workers of that LocalCluster (default: the machine's cores).
    progress : callable, optional
        ``progress(stage, done, total)`` as work is done, as the local engine's: stages
        ``"statistics"`` and ``"silhouette"`` in rows (plus ``"files"``, in files, while the
        footers are read and ``"sample"`` when sampling).
    batch_rows : int, optional
        Rows per slice (default: 64 MiB of float32 vectors).

    Returns
    -------
    ClusterMetrics
        As :func:`~clustermetrics.evaluate`, without per-sample silhouettes (the per-cluster
        table comes from the merged summary; quartiles to 0.001). ``source`` names the files
        and columns; ``counts["n_without_vector"]`` counts rows with a null vector.

    Raises
    ------
    MissingDependencyError
        Without the ``dask`` extra, or without the package of a URL's filesystem.
    InvalidInputError
        A file that cannot be read, a missing column, a vector of the wrong length, NaN or
        infinite values (the message names the file, the row group and the rows), a malformed
        or unreachable scheduler address, a call at a script's top level, or any error
        :func:`~clustermetrics.evaluate` would raise.
    ServerError
        A task whose workers kept dying (Dask's allowed failures, 3 by default).
    PartitionAccountingError
        The merged partials do not hold every partition exactly once (never silently).

    Examples
    --------
    In a script, under the guard (Dask's worker processes import the script again):

    >>> import clustermetrics as cm
    >>> if __name__ == "__main__":  # doctest: +SKIP
    ...     result = cm.evaluate_parquet("embeddings/*.parquet", "embedding", "cluster",
    ...                                  ground_truth_field="category", metric="cosine")
    ...     print(result)
    """
    distributed = require_dask()
    options = PassOptions.make(metric=metric, noise_label=noise_label, noise=noise,
                               detail=False, working_memory=working_memory)
    if sample_size is not None and (not isinstance(sample_size, int) or sample_size < 1):
        raise InvalidInputError(f"sample_size must be a positive integer; got {sample_size}.")
    if exact and sample_size is not None:
        raise InvalidInputError("exact=True scores every row; sample_size estimates from a "
                                "sample: give one of them.")
    if workers is not None and client is not None:
        raise InvalidInputError("workers= sizes the LocalCluster started without a client; "
                                "with client= the cluster has its own workers.")
    if workers is not None and workers < 1:
        raise InvalidInputError(f"workers must be at least 1; got {workers}.")
    if isinstance(client, str):
        check_address(distributed, client)
    elif client is None:
        check_main_guard()
    columns = Columns(vector_field, label_field, ground_truth_field)
    plan = read_plan(path_or_glob, columns, batch_rows, progress)  # before any cluster
    with _connect(distributed, client, workers) as dc:
        run = _Run(dc, distributed, options, progress)
        result = run.evaluate(plan, sample_size, random_state, exact)
        run.report_deaths()
    return finish_result(result, plan)


def read_plan(path_or_glob, columns: Columns, batch_rows: int | None,
              progress: Progress | None = None) -> Plan:
    """The plan, its footers read by this process in threads (I/O-bound; a URL's round
    trips overlap), so that a wrong path or column costs no cluster."""
    notify = progress or (lambda stage, done, total: None)

    def mapper(fn, files, **kwargs):
        files = list(files)
        with ThreadPoolExecutor(min(FOOTER_THREADS, len(files) or 1)) as pool:
            infos = []
            for info in pool.map(lambda f: fn(f, **kwargs), files):
                infos.append(info)
                notify("files", 1, len(files))
            return infos
    return make_plan(path_or_glob, columns, batch_rows=batch_rows, mapper=mapper)


def check_address(distributed, address: str) -> None:
    """A scheduler address that Dask can parse (scheme, host and port), checked before any
    connection; InvalidInputError naming the address and the form to give."""
    from distributed.comm import registry
    from distributed.comm.addressing import parse_address

    def bad(why: str) -> InvalidInputError:
        return InvalidInputError(f"The Dask scheduler address {address!r} is not valid: {why}. "
                                 "Give it as tcp://HOST:PORT, e.g. tcp://10.0.0.5:8786.")
    try:
        scheme, location = parse_address(address, strict=False)
        backend = registry.get_backend(scheme)
        if scheme in ("tcp", "tls", "ws", "wss"):
            host, port = backend.get_address_host_port(f"{scheme}://{location}")
            if not host:
                raise bad("no host")
            if not 0 < int(port) < 65536:
                raise bad(f"port {port} is not between 1 and 65535")
    except ValueError as exc:
        if isinstance(exc, InvalidInputError):
            raise
        raise bad(str(exc).rstrip(".")) from None


def check_main_guard() -> None:
    """Refuse a call that a LocalCluster's worker processes would make again: the main
    script's top level, outside ``if __name__ == "__main__":``. The workers start by
    multiprocessing's spawn, which runs the script again (as ``__mp_main__``); such a call
    would start a cluster in every worker, and fail after seconds with tracebacks."""
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise InvalidInputError(f"evaluate_parquet was called while a worker process started: "
                                f"{GUARD_HINT}")
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    name = getattr(getattr(main, "__spec__", None), "name", None) or ""
    if main is None or not path or name.endswith("__main__"):
        return  # interactive, -c, a package's __main__: spawn imports nothing again
    frame: Any = sys._getframe(1)
    while frame is not None and not (frame.f_globals is vars(main)
                                     and frame.f_code.co_name == "<module>"):
        frame = frame.f_back
    if frame is None:
        return
    try:
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read())
    except (OSError, SyntaxError, ValueError):
        return
    line = frame.f_lineno
    for node in tree.body:
        end = getattr(node, "end_lineno", node.lineno)
        if node.lineno <= line <= end:
            if not _is_main_guard(node):
                raise InvalidInputError(f"{os.path.basename(path)}, line {line} calls "
                                        f"evaluate_parquet at the script's top level: "
                                        f"{GUARD_HINT}")
            return


def _is_main_guard(node: ast.stmt) -> bool:
    """``if __name__ == "__main__":`` (either side, within a larger test too)."""
    if not isinstance(node, ast.If):
        return False
    for sub in ast.walk(node.test):
        if isinstance(sub, ast.Compare):
            names = [sub.left, *sub.comparators]
            if any(isinstance(n, ast.Name) and n.id == "__name__" for n in names) and any(
                    isinstance(n, ast.Constant) and n.value == "__main__" for n in names):
                return True
    return False


@contextlib.contextmanager
def _connect(distributed, client, workers: int | None) -> Iterator[Any]:
    if client is not None and not isinstance(client, str):
        yield client  # the caller's: used and left as it was
        return
    if isinstance(client, str):
        try:
            dc = distributed.Client(client, timeout=CONNECT_TIMEOUT)
        except OSError as exc:
            raise InvalidInputError(f"Cannot reach the Dask scheduler at {client}: {exc}") \
                from None
        try:
            yield dc
        finally:
            dc.close()  # our connection only; the cluster keeps running
        return
    import dask

    n = workers or _cores()
    # our cluster's own logs stay quiet (a worker's death is a logged traceback there); a
    # death is said in one line by _Run.report_deaths
    with dask.config.set({"distributed.nanny.pre-spawn-environ": worker_environ()}):
        cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                           dashboard_address=None,
                                           silence_logs=logging.CRITICAL + 1,
                                           scheduler_kwargs=QUIET_HTTP)
    dc = distributed.Client(cluster)
    try:
        yield dc
    finally:
        dc.close()
        cluster.close()


def worker_environ() -> dict:
    """The environment our LocalCluster's workers start with: Dask's (one BLAS thread each),
    less ``MALLOC_TRIM_THRESHOLD_``. Setting it at all stops glibc from raising its mmap
    threshold, so every large array of every slice comes from fresh pages: measured here,
    6-12x the page faults and about 30% more CPU time for the same pass."""
    import dask

    env = dict(dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {})
    env.pop("MALLOC_TRIM_THRESHOLD_", None)
    return env


def _cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


class _Run:
    """One evaluation on one cluster: maps, tree-merges, checks that the root holds every
    partition once; raises the first failure."""

    def __init__(self, dc, distributed, options: PassOptions, progress: Progress | None):
        self.dc, self.distributed, self.options = dc, distributed, options
        self.notify = progress or (lambda stage, done, total: None)
        self.tag = uuid.uuid4().hex[:8]
        self.shared = 0
        self.workers = set(dc.scheduler_info().get("workers", {}))

    def report_deaths(self) -> None:
        """One line for workers that left during the run (their tasks ran again elsewhere and
        the root held every partition once, so the result is whole)."""
        gone = self.workers - set(self.dc.scheduler_info().get("workers", {}))
        if gone:
            n = len(gone)
            log.warning("%s Dask worker%s died during the run (%s); %s tasks ran again on the "
                        "other workers and the result is complete.", n, "" if n == 1 else "s",
                        ", ".join(sorted(gone)), "its" if n == 1 else "their")

    # -- plumbing -------------------------------------------------------------------------------
    def _map(self, name: str, fn, items: list, parts: list, **kwargs) -> list:
        keys = [f"clustermetrics-{name}-{i}-{self.tag}" for i in range(len(items))]
        return self.dc.map(_guarded, [fn] * len(items), parts, items, key=keys,
                           retries=RETRIES, pure=False, **kwargs)

    def _tree(self, name: str, futures: list):
        """Merge tasks over groups of ``FAN_IN`` partials, level by level, on the workers; the
        root. Only the root is kept here: the scheduler frees each partial once merged."""
        if not futures:
            return self.dc.submit(_merge, key=f"clustermetrics-{name}-none-{self.tag}")
        level = 0
        while len(futures) > 1:
            futures = [self.dc.submit(_merge, *futures[i:i + FAN_IN], retries=RETRIES,
                                      key=f"clustermetrics-{name}-merge{level}-{i}-{self.tag}")
                       for i in range(0, len(futures), FAN_IN)]
            level += 1
        return futures[0]

    def _result(self, future) -> Any:
        """A future's value; a task whose workers kept dying, or whose inputs died with the
        workers that held them, as one line."""
        from distributed.client import FutureCancelledError
        try:
            return future.result()
        except self.distributed.KilledWorker as exc:
            raise ServerError(f"Dask workers kept dying while running the same task ({exc}): "
                              "a worker may run out of memory; give workers more memory or "
                              "lower batch_rows.") from None
        except FutureCancelledError as exc:
            raise ServerError(f"A task of the run was cancelled ({exc}): its inputs were lost "
                              "with the workers that held them. Run it again.") from None

    def _wait(self, pending, stage: str, rows: dict, total: int) -> None:
        """Progress as each task ends (``rows``: by key); the first failure raised at once.
        Each future is dropped once seen, so that nothing here holds a finished partial."""
        for future in pending:
            if future.status == "error":
                self._result(future)  # raises the task's own exception, after its retries
            if future.type is Failed:
                raise future.result().error
            self.notify(stage, rows[future.key], total)

    def _reduce(self, name: str, stage: str, fn, items: list, parts: list, rows: list[int],
                total: int, describe: Callable[[Any], str], **kwargs):
        """``fn`` mapped over ``items`` (partitions ``parts``) and tree-merged on the workers;
        the merged partial, which must hold each of ``parts`` exactly once."""
        leaves = self._map(name, fn, items, parts, **kwargs)
        rows_of = {f.key: r for f, r in zip(leaves, rows, strict=True)}
        root = self._tree(name, leaves)
        pending = self.distributed.as_completed(leaves)
        del leaves  # as_completed holds each until it is seen, then nobody here does
        try:
            self._wait(pending, stage, rows_of, total)
            result = self._result(root)
        except BaseException:
            self.dc.cancel([root])  # with no one wanting them, the other tasks are dropped
            raise
        finally:
            del pending
        if isinstance(result, Failed):
            raise result.error
        held, expected = result.parts, frozenset(parts)
        if held != expected:
            missing = sorted(expected - held, key=str)
            extra = sorted(held - expected, key=str)
            raise PartitionAccountingError(
                f"The {stage} pass merged {len(held):,} partitions of {len(expected):,}"
                + (f"; missing: {', '.join(describe(p) for p in missing[:3])}" if missing
                   else "")
                + (f"; not of this pass: {extra[:3]}" if extra else "")
                + ". The run is refused rather than scored on the wrong rows; run it again, "
                "and if it happens again, please report it.")
        return result.partial

    def _share(self, value):
        """``value`` for every task that needs it, sent once: a task of its own that returns
        it. Each worker fetches it once, when a task needs it; if every worker holding it dies,
        the scheduler computes it again from the graph. (A scattered value would be lost with
        its workers, and a broadcast scatter hung for minutes when a worker died during it.)"""
        self.shared += 1
        with warnings.catch_warnings():  # the value is in the graph once, on purpose
            warnings.filterwarnings("ignore", message="Sending large graph")
            return self.dc.submit(_identity, value, pure=False, retries=RETRIES,
                                  key=f"clustermetrics-data-{self.shared}-{self.tag}")

    # -- the pipeline ---------------------------------------------------------------------------
    def evaluate(self, plan: Plan, sample_size: int | None, random_state,
                 exact: bool = False) -> ClusterMetrics:
        options, pieces = self.options, list(plan.pieces)
        rows = [p.rows for p in pieces]
        ids = list(range(len(pieces)))

        def where(i) -> str:
            if isinstance(i, tuple):
                return f"{pieces[i[0]].where}, slice {i[1]}"
            return pieces[i].where
        plan_f = self._share(plan)  # once, not in every task
        first = self._reduce("statistics", "statistics", fold_cluster, pieces, ids, rows,
                             plan.n_rows, where, plan=plan_f, options=options)
        if first is None:
            first = ClusterPass.empty(options, has_truth=plan.has_truth)
        summary = first.finish()
        pairwise = options.metric not in LINEAR_METRICS
        sample_size, random_state, auto = auto_sample(pairwise, sample_size, random_state,
                                                      exact, summary.n)
        # pass 2 of a linear metric needs no per-slice counts (they place rows in the whole
        # source: samples, blocks, per-sample detail): what is shared stays O(k d)
        shipped = summary if pairwise else dataclasses.replace(summary, partitions={})
        summary_f = self._share(shipped)

        sample = None
        if pairwise and sample_size is not None and sample_size < summary.n:
            sample_plan = summary.sample_plan(sample_size, random_state)
            holding = [i for i, p in enumerate(pieces)
                       if any(q in sample_plan.picks for q in p.partitions)]
            gathered = self._reduce("sample", "sample", fold_sample,
                                    [pieces[i] for i in holding], holding,
                                    [pieces[i].rows for i in holding],
                                    sum(pieces[i].rows for i in holding), where,
                                    plan=plan_f, summary=summary_f,
                                    sample_plan=self._share(sample_plan))
            sample = gathered.finish()
        if pairwise and sample is None:
            blocks = [(p, j) for p in pieces for j in range(p.slices)]
            block_ids = [(i, j) for i, p in enumerate(pieces) for j in range(p.slices)]
            sizes = [min(p.batch_rows, p.rows - j * p.batch_rows) for p, j in blocks]
            second = self._reduce("blocks", "silhouette", _fold_block, blocks, block_ids,
                                  sizes, plan.n_rows, where, plan=plan_f, summary=summary_f)
        else:
            sample_f = None if sample is None else self._share(sample)
            second = self._reduce("scores", "silhouette", fold_score, pieces, ids, rows,
                                  plan.n_rows, where, plan=plan_f, summary=summary_f,
                                  sample=sample_f)
        if second is None:
            raise InvalidInputError(f"The second pass over {plan.source} read no rows.")
        result = build_result(summary, second.finish(summary, sample))
        if auto and sample is not None:
            result.silhouette_method += auto_sample_note(summary.n)
        return result


def _identity(value: Any) -> Any:
    return value


def _fold_block(block: tuple, plan: Plan, summary: ClusterSummary) -> ScorePass:
    piece, index = block
    return fold_block(piece, index, plan, summary)


# the passes this engine maps, named here so that a test can check they are the metrics'
PARTIALS = (ClusterPass, SamplePass, ScorePass, BlockPass, build_result)
