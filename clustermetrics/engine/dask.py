"""The Dask engine: the metrics pipeline's passes mapped over Parquet row groups on a cluster.

Optional extra: ``pip install 'clustermetrics[dask]'`` (dask.distributed). Nothing here runs a
formula of its own: the tasks are :mod:`.parquet`'s folds of :mod:`~clustermetrics.metrics.passes`'
partials over one row group, and the driver only maps, tree-merges and finishes them:

1. the files' footers are read by the workers (``inspect_file``) and every row group's slices
   numbered as partitions (:func:`~.parquet.make_plan`);
2. pass 1 (:class:`ClusterPass`) is mapped over the row groups and tree-merged on the workers;
   the driver finishes it into a :class:`ClusterSummary` and scatters it to every worker once
   (O(k d); the per-slice counts go along only where pass 2 places rows in the source);
3. a sampled pairwise metric draws the sample's ranks from the merged counts on the driver
   (:meth:`ClusterSummary.sample_plan`, the one-process rule: same seed, same rows), gathers
   those rows from the row groups that hold them (:class:`SamplePass`) and broadcasts the
   :class:`Sample`;
4. pass 2 (:class:`ScorePass`) is mapped and tree-merged the same way; an exact pairwise
   metric maps :class:`BlockPass` instead, one task per slice, each reading every row group;
5. :func:`build_result` gives the :class:`ClusterMetrics`, as on one process.

Tasks are mapped with ``retries``; a worker that dies is replaced by the scheduler and its
tasks, and the partials it held, are computed again elsewhere. A data error (an unreadable
file, a wrong vector) is returned by the task as a value rather than raised, so it is not
retried, and the driver raises it as soon as it arrives.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Any

from ..errors import ClusterMetricsError, InvalidInputError, MissingDependencyError
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

__all__ = ["evaluate_parquet", "require_dask"]

INSTALL_HINT = ("The Dask engine needs dask.distributed: pip install 'clustermetrics[dask]' "
                "(or pip install 'dask[distributed]').")


def require_dask():
    """The ``distributed`` module, or MissingDependencyError with the install line."""
    try:
        import distributed
    except ImportError:
        raise MissingDependencyError(INSTALL_HINT) from None
    return distributed


@dataclass
class Failed:
    """A data error met by a task, carried as its result (so it is not retried)."""

    error: ClusterMetricsError


def _guarded(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A task: ``fn`` with the pairwise kernel on the worker's own threads (not every core of
    its machine, which the machine's other workers share); a data error as its result."""
    try:
        with limit_kernel_threads(_worker_threads()):
            return fn(*args, **kwargs)
    except ClusterMetricsError as exc:
        return Failed(exc)


def _worker_threads() -> int:
    try:
        from distributed import get_worker
        return int(get_worker().state.nthreads)
    except (ImportError, ValueError, AttributeError):  # not on a worker
        return os.cpu_count() or 1


def _merge(*parts: Any) -> Any:
    """Partials merged in order; a failure (the first one) passes through."""
    failed = [p for p in parts if isinstance(p, Failed)]
    if failed:
        return failed[0]
    parts = tuple(p for p in parts if p is not None)
    if not parts:
        return None
    return reduce(lambda a, b: a.merge(b), parts)


def evaluate_parquet(path_or_glob: str | os.PathLike | Sequence[str], vector_field: str,
                     label_field: str, ground_truth_field: str | None = None, *,
                     metric: str = "euclidean", sample_size: int | None = None,
                     random_state=None, noise_label=None, noise: str | None = None,
                     client=None, workers: int | None = None,
                     progress: Progress | None = None, working_memory: float | None = None,
                     batch_rows: int | None = None) -> ClusterMetrics:
    """Every metric of a clustering stored in Parquet files, computed on a Dask cluster.

    The same statistics and formulas as :func:`~clustermetrics.evaluate` on one machine: the
    values agree to rounding, and a sampled silhouette with the same ``random_state`` scores
    the same rows (the files read in sorted order, rows in file order, are the rows of X).

    Parameters
    ----------
    path_or_glob : str, path or list of them
        A Parquet file, a folder of ``.parquet`` files, a glob (``"data/*.parquet"``,
        ``"data/**/*.parquet"``) or an fsspec URL (``"s3://bucket/prefix/*.parquet"``; the
        workers need the filesystem's package, such as s3fs). Files are read in row groups,
        in slices of about 64 MiB of vectors, never whole.
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
        rows; ``euclidean`` without it scores every row against every row (O(n² d)), in
        blocks of one slice per task.
    client : distributed.Client or str, optional
        The cluster to use (a Client, or a scheduler address such as
        ``"tcp://10.0.0.5:8786"``), left running afterwards. Without it a ``LocalCluster`` is
        started (processes, one thread each, no dashboard) and closed at the end.
    workers : int, optional
        Workers of that LocalCluster (default: the machine's cores).
    progress : callable, optional
        ``progress(stage, rows, total)`` as row groups are done, as the local engine's:
        stages ``"statistics"`` and ``"silhouette"`` (plus ``"files"`` while the footers are
        read and ``"sample"`` when sampling).
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
        Without the ``dask`` extra.
    InvalidInputError
        A file that cannot be read, a missing column, a vector of the wrong length, NaN or
        infinite values (the message names the file, the row group and the rows), or any
        error :func:`~clustermetrics.evaluate` would raise.
    """
    distributed = require_dask()
    options = PassOptions.make(metric=metric, noise_label=noise_label, noise=noise,
                               detail=False, working_memory=working_memory)
    if sample_size is not None and (not isinstance(sample_size, int) or sample_size < 1):
        raise InvalidInputError(f"sample_size must be a positive integer; got {sample_size}.")
    if workers is not None and client is not None:
        raise InvalidInputError("workers= sizes the LocalCluster started without a client; "
                                "with client= the cluster has its own workers.")
    if workers is not None and workers < 1:
        raise InvalidInputError(f"workers must be at least 1; got {workers}.")
    columns = Columns(vector_field, label_field, ground_truth_field)
    with _connect(distributed, client, workers) as dc:
        run = _Run(dc, distributed, options, progress)
        plan = run.plan(path_or_glob, columns, batch_rows)
        return finish_result(run.evaluate(plan, sample_size, random_state), plan)


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
    with dask.config.set({"distributed.nanny.pre-spawn-environ": worker_environ()}):
        cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                           dashboard_address=None, silence_logs=logging.ERROR,
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
    """One evaluation on one cluster: maps, tree-merges, gathers; raises the first failure."""

    def __init__(self, dc, distributed, options: PassOptions, progress: Progress | None):
        self.dc, self.distributed, self.options = dc, distributed, options
        self.notify = progress or (lambda stage, done, total: None)
        self.tag = uuid.uuid4().hex[:8]

    # -- plumbing -------------------------------------------------------------------------------
    def _map(self, name: str, fn, items: list, **kwargs) -> list:
        keys = [f"clustermetrics-{name}-{i}-{self.tag}" for i in range(len(items))]
        return self.dc.map(_guarded, [fn] * len(items), items, key=keys, retries=RETRIES,
                           pure=False, **kwargs)

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

    def _wait(self, pending, stage: str, rows: dict, total: int) -> None:
        """Progress as each task ends (``rows``: by key); the first failure raised at once.
        Each future is dropped once seen, so that nothing here holds a finished partial."""
        for future in pending:
            if future.status == "error":
                future.result()  # raises the task's own exception, after its retries
            if future.type is Failed:
                raise future.result().error
            self.notify(stage, rows[future.key], total)

    def _gather(self, name: str, stage: str, fn, items: list, **kwargs) -> list:
        """``fn`` mapped over ``items``; the results, in order (small ones only)."""
        leaves = self._map(name, fn, items, **kwargs)
        try:
            self._wait(self.distributed.as_completed(leaves), stage,
                       {f.key: 1 for f in leaves}, len(items))
            return self.dc.gather(leaves)
        finally:
            self.dc.cancel(leaves)

    def _reduce(self, name: str, stage: str, fn, items: list, rows: list[int], total: int,
                **kwargs):
        """``fn`` mapped over ``items`` and tree-merged on the workers; the merged partial."""
        leaves = self._map(name, fn, items, **kwargs)
        rows_of = {f.key: r for f, r in zip(leaves, rows, strict=True)}
        root = self._tree(name, leaves)
        pending = self.distributed.as_completed(leaves)
        del leaves  # as_completed holds each until it is seen, then nobody here does
        try:
            self._wait(pending, stage, rows_of, total)
            result = root.result()
        except BaseException:
            self.dc.cancel([root])  # with no one wanting them, the other tasks are dropped
            raise
        finally:
            del pending
        if isinstance(result, Failed):
            raise result.error
        return result

    def _scatter(self, value):
        return self.dc.scatter(value, broadcast=True, hash=False)

    # -- the pipeline ---------------------------------------------------------------------------
    def plan(self, path_or_glob, columns: Columns, batch_rows: int | None) -> Plan:
        """The files listed here, their footers read by the workers."""
        def mapper(fn, files, **kwargs):
            return self._gather("files", "files", fn, list(files), **kwargs)
        return make_plan(path_or_glob, columns, batch_rows=batch_rows, mapper=mapper)

    def evaluate(self, plan: Plan, sample_size: int | None, random_state) -> ClusterMetrics:
        options, pieces = self.options, list(plan.pieces)
        rows = [p.rows for p in pieces]
        plan_f = self._scatter(plan)  # once per worker, not in every task
        first = self._reduce("statistics", "statistics", fold_cluster, pieces, rows,
                             plan.n_rows, plan=plan_f, options=options)
        if first is None:
            first = ClusterPass.empty(options, has_truth=plan.has_truth)
        summary = first.finish()
        pairwise = options.metric not in LINEAR_METRICS
        # pass 2 of a linear metric needs no per-slice counts (they place rows in the whole
        # source: samples, blocks, per-sample detail): what is broadcast stays O(k d)
        shipped = summary if pairwise else dataclasses.replace(summary, partitions={})
        summary_f = self._scatter(shipped)

        sample = None
        if pairwise and sample_size is not None and sample_size < summary.n:
            sample_plan = summary.sample_plan(sample_size, random_state)
            holding = [p for p in pieces if any(q in sample_plan.picks for q in p.partitions)]
            gathered = self._reduce("sample", "sample", fold_sample, holding,
                                    [p.rows for p in holding], sum(p.rows for p in holding),
                                    plan=plan_f, summary=summary_f,
                                    sample_plan=self._scatter(sample_plan))
            sample = gathered.finish()
        if pairwise and sample is None:
            blocks = [(p, j) for p in pieces for j in range(p.slices)]
            sizes = [min(p.batch_rows, p.rows - j * p.batch_rows) for p, j in blocks]
            second = self._reduce("blocks", "silhouette", _fold_block, blocks, sizes,
                                  plan.n_rows, plan=plan_f, summary=summary_f)
        else:
            sample_f = None if sample is None else self._scatter(sample)
            second = self._reduce("scores", "silhouette", fold_score, pieces, rows,
                                  plan.n_rows, plan=plan_f, summary=summary_f, sample=sample_f)
        if second is None:
            raise InvalidInputError(f"The second pass over {plan.source} read no rows.")
        return build_result(summary, second.finish(summary, sample))


def _fold_block(block: tuple, plan: Plan, summary: ClusterSummary) -> ScorePass:
    piece, index = block
    return fold_block(piece, index, plan, summary)


# the passes this engine maps, named here so that a test can check they are the metrics'
PARTIALS = (ClusterPass, SamplePass, ScorePass, BlockPass, build_result)
