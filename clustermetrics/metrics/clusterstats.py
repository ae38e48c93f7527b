"""Per-cluster moments: the mergeable statistic behind Calinski-Harabasz, Davies-Bouldin's
centroids and the linear-time cosine and squared-euclidean silhouettes.

For each cluster c it keeps the count ``n_c``, the mean vector ``mean_c``, ``m2_c`` (the sum of
squared distances of members to ``mean_c``) and, for cosine, ``unit_sum_c`` (the sum of the
members' unit vectors). Batches merge with Chan et al.'s pairwise update, which stays accurate
where ``sum ||x||^2 - n ||mean||^2`` would cancel. Memory is O(k * d), never O(n).
"""

from __future__ import annotations

import collections
import collections.abc
import contextlib
import contextvars
import functools
import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait
from contextvars import ContextVar

import numpy as np

from .. import threads
from ..errors import InvalidInputError
from ._validation import check_finite, describe_rows, nonfinite_error
from .labels import Labels, align

CHUNK_BYTES = 8 * 2**20  # float64 working copy per chunk: small enough to stay in cache
BLOCK_BYTES = 2 * 2**20  # rows of X per GEMM: read from memory once, then reused from cache
# (2 MiB measured faster than 1 and 4 for the statistics on this machine's 1 MiB L2 per core)
PART_ROWS = 4096  # rows per task, at least, when a batch is split over the cores
TIGHT = 0.05  # float32 unit-vector sums of clusters whose mean is longer than 1 - TIGHT: float64
# the check of a caller's long work (a server sets its job's: cancelled, out of time), made
# before each batch a store source yields and before each task of the blocked kernels, so
# the work stops within a block of a cancel; it raises to stop
work_check: ContextVar[collections.abc.Callable[[], None] | None] = ContextVar(
    "clustermetrics_work_check", default=None)
CANCEL = 0.05  # |x|^2 - 2 x.c + |c|^2 below this share of |x|^2 + |c|^2: redone as deviations


class ClusterStats:
    """Counts, means, within-cluster squared deviations (and unit-vector sums) per cluster.

    ``moments=False`` keeps only the counts and unit-vector sums (all the cosine silhouette
    needs); such a statistic has no means to give Calinski-Harabasz or Davies-Bouldin.
    ``spread=False`` keeps the means but not the squared deviations (``m2`` is NaN): a pipeline
    that measures each member's distance to its centroid in its second pass needs no more, and
    the unit-vector sums and the means then come from one GEMM per block.
    """

    def __init__(self, *, unit_sums: bool = False, moments: bool = True, spread: bool = True):
        self.with_unit_sums = unit_sums
        self.with_moments = moments
        self.with_spread = moments and spread
        self.categories = np.empty(0, dtype=object)
        self.counts: np.ndarray = np.zeros(0, dtype=np.int64)
        self.mean: np.ndarray | None = None  # (k, d) float64; zeros without moments
        self.m2: np.ndarray = np.zeros(0)
        self.unit_sum: np.ndarray | None = None
        # the rounding unit of the precision the means were summed in (X's dtype: float32
        # data sums its deviations in float32); it bounds their rounding (see
        # centroid_distances)
        self.eps = float(np.finfo(np.float64).eps)

    @property
    def d(self) -> int | None:
        return None if self.mean is None else self.mean.shape[1]

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    @property
    def k(self) -> int:
        return int(np.count_nonzero(self.counts))

    def update(self, X: np.ndarray, labels: Labels, *, row_offset: int = 0,
               row_ids=None) -> ClusterStats:
        """Add a batch: ``X`` (n, d) checked vectors and their encoded labels."""
        merged = self.merge(self.from_batch(X, labels, unit_sums=self.with_unit_sums,
                                            moments=self.with_moments, spread=self.with_spread,
                                            row_offset=row_offset, row_ids=row_ids))
        self.__dict__.update(merged.__dict__)
        return self

    @classmethod
    def from_batch(cls, X, labels: Labels, *, unit_sums=False, moments=True, spread=True,
                   row_offset=0, row_ids=None, chunk_rows: int | None = None):
        """Statistics of one batch in one pass over X, in blocks of rows that stay in cache.

        Each block's sums are one GEMM in X's precision (float32 stays float32) against the
        block's one-hot matrix, and its unit-vector sums the same GEMM with the one-hot
        entries scaled by 1/|x|; blocks are merged in float64 (Chan et al.). No copy of X is
        made beyond one block at a time. A large batch is split into row ranges folded on all
        cores and merged: the statistic is mergeable.
        """
        if X.dtype.kind != "f":
            X = X.astype(np.float64)
        workers = kernel_threads()
        if chunk_rows is not None or workers == 1 or len(X) < 2 * PART_ROWS:
            return cls._fold(X, labels, unit_sums, moments, spread, row_offset, row_ids,
                             chunk_rows)
        bounds = np.linspace(0, len(X), 2 * workers + 1).astype(int)

        def run(task):
            i, j = task
            return cls._fold(X[i:j], Labels(labels.codes[i:j], labels.categories), unit_sums,
                             moments, spread, row_offset + i,
                             None if row_ids is None else row_ids[i:j], None)

        out = None
        try:
            for part in parallel_map(list(itertools.pairwise(bounds)), run):
                out = part if out is None else out.merge(part)
        except InvalidInputError:  # a part names its own rows: name every one instead
            check_finite(X, np.flatnonzero(labels.valid), row_offset=row_offset,
                         row_ids=row_ids)
            raise
        return out

    @classmethod
    def _fold(cls, X, labels: Labels, unit_sums, moments, spread, row_offset, row_ids,
              chunk_rows):
        step = chunk_rows or max(1, BLOCK_BYTES // (X.dtype.itemsize * max(X.shape[1], 1)))
        k = labels.k
        out = cls(unit_sums=unit_sums, moments=moments, spread=spread)
        out.categories = labels.categories
        out.eps = float(np.finfo(X.dtype).eps)
        d = X.shape[1]
        out.counts = np.zeros(k, dtype=np.int64)
        out.mean, out.m2 = np.zeros((k, d)), np.zeros(k) if out.with_spread else np.full(k, np.nan)
        if unit_sums:
            out.unit_sum = np.zeros((k, d))
        # one block-sized buffer reused by every block: fresh pages cost more than the work
        work = block_buffer(min(step, len(X)), d, X.dtype) if moments else None
        # the block GEMMs are small: threads in BLAS only wait on each other (and on a busy
        # machine much longer); large batches run row ranges on all cores instead
        with single_threaded_blas():
            for i in range(0, len(X), step):
                part = Labels(labels.codes[i:i + step], labels.categories)
                ids = None if row_ids is None else row_ids[i:i + step]
                out._add_block(X[i:i + step], part, row_offset + i, ids, work)
        return out

    def _add_block(self, X, labels: Labels, row_offset, row_ids, work=None) -> None:
        """Fold one cache-sized block of rows into this statistic, in place.

        Unit-vector sums are one GEMM in X's precision (float32 stays float32) with the one-hot
        entries scaled by 1/|x|, tight clusters redone in float64 (:meth:`_tight_unit_sums`).
        Moments are taken as deviations from a reference per cluster (its running mean, or its
        first row in this block) rounded to X's precision: deviations are small where it
        matters (data far from the origin), so their sums (a GEMM) and squares stay accurate,
        and the reference is added back in float64. Without the spread, the unit-vector sums
        and the sums of deviations are one GEMM with both one-hot matrices side by side.
        """
        k, keep = labels.k, labels.valid
        codes = labels.codes[keep]
        x = X[keep] if not keep.all() else X
        if not len(codes):
            return
        counts = np.bincount(codes, minlength=k)
        rows = np.arange(len(codes))
        first = np.zeros(k, dtype=np.int64)
        first[codes[::-1]] = rows[::-1]  # each cluster's first row in the block
        onehot = np.zeros((len(codes), k), dtype=x.dtype)
        # without the spread, unit-vector sums and means come from one GEMM on the deviations
        fused = self.with_unit_sums and self.with_moments and not self.with_spread
        if self.with_unit_sums:
            norms = np.sqrt(np.einsum("ij,ij->i", x, x).astype(np.float64))
            _check_finite(norms, x, keep, row_offset, row_ids)
            zero = norms == 0
            if zero.any():
                bad = np.flatnonzero(keep)[zero]
                raise InvalidInputError(
                    "Cosine distance is undefined for zero vectors: "
                    f"{describe_rows(bad, row_offset, row_ids)} "
                    f"{'is' if len(bad) == 1 else 'are'} all zeros. "
                    "Drop them or use metric='euclidean'."
                )
            weights = (1.0 / norms).astype(x.dtype)  # as the GEMM sees them
            if not fused:
                onehot[rows, codes] = weights
                self._add_unit_sums(x, codes, counts, (onehot.T @ x).astype(np.float64))
        if self.with_moments:
            assert self.mean is not None
            ref = np.where((self.counts > 0)[:, None], self.mean, x[first]).astype(x.dtype)
            if work is None:
                work = np.empty(x.shape, dtype=x.dtype)
            # mode="clip": the codes are valid, and "raise" takes into a buffer, then copies
            dev = np.take(ref, codes, axis=0, out=work[:len(x)], mode="clip")
            np.subtract(x, dev, out=dev)
            if fused:  # sum w (dev + ref) = sum w dev + (sum w) ref, w = 1/|x|
                both = np.zeros((len(codes), 2 * k), dtype=x.dtype)
                both[rows, codes], both[rows, k + codes] = weights, 1
                with np.errstate(invalid="ignore", over="ignore"):
                    prod = (both.T @ dev).astype(np.float64)
                weight_sum = np.bincount(codes, weights=weights.astype(np.float64), minlength=k)
                self._add_unit_sums(x, codes, counts,
                                    prod[:k] + weight_sum[:, None] * ref.astype(np.float64))
                total = prod[k:]
            else:
                onehot[rows, codes] = 1
                with np.errstate(invalid="ignore", over="ignore"):  # bad rows are named below
                    total = (onehot.T @ dev).astype(np.float64)
            if not self.with_spread and not fused:  # no norms seen: the deviations' squares
                _check_finite(np.einsum("ij,ij->i", dev, dev).astype(np.float64), x, keep,
                              row_offset, row_ids)
            with np.errstate(invalid="ignore", divide="ignore"):
                shift = np.nan_to_num(total / counts[:, None])
            m2 = np.zeros(k)
            if self.with_spread:
                sq = np.einsum("ij,ij->i", dev, dev).astype(np.float64)
                _check_finite(sq, x, keep, row_offset, row_ids)
                m2 = np.bincount(codes, weights=sq, minlength=k) - counts * np.einsum(
                    "ij,ij->i", shift, shift)
            self._merge_moments(counts, ref + shift, np.maximum(m2, 0.0))
        self.counts += counts

    def _add_unit_sums(self, x, codes, counts, unit_sum) -> None:
        if x.dtype != np.float64:
            self._tight_unit_sums(x, codes, counts, unit_sum)
        self.unit_sum += unit_sum

    @staticmethod
    def _tight_unit_sums(x, codes, counts, unit_sum) -> None:
        """Redo in float64 the unit-vector sums of the block's tight clusters, in place.

        A float32 sum of nearly parallel unit vectors carries a relative error of ~1e-7, which
        is the size of the cosine distances within a tight cluster (1e-4 and below: duplicates,
        near-duplicates, data in a narrow cone). Where a cluster's mean unit vector in this
        block is longer than ``1 - TIGHT`` its rows are summed again in float64, as deviations
        from its direction; elsewhere the float32 GEMM is exact enough.
        """
        length = np.sqrt(np.einsum("ij,ij->i", unit_sum, unit_sum))
        with np.errstate(invalid="ignore", divide="ignore"):
            tight = np.flatnonzero((counts > 0) & (length > (1 - TIGHT) * counts))
        if not len(tight):
            return
        rows = np.flatnonzero(np.isin(codes, tight))
        ref = unit_sum[tight] / length[tight, None]
        where = np.full(len(counts), -1)
        where[tight] = np.arange(len(tight))
        dev = x[rows].astype(np.float64)
        dev /= np.sqrt(np.einsum("ij,ij->i", dev, dev))[:, None]  # norms in float64 too
        dev -= ref[where[codes[rows]]]
        weights = np.zeros((len(rows), len(tight)))
        weights[np.arange(len(rows)), where[codes[rows]]] = 1
        unit_sum[tight] = counts[tight, None] * ref + weights.T @ dev

    def _merge_moments(self, nb, mb, m2b) -> None:
        """Chan et al.'s update of (counts, mean, m2) by another set on the same clusters."""
        na = self.counts.astype(np.float64)
        n = na + nb
        with np.errstate(invalid="ignore", divide="ignore"):
            wb = np.where(n > 0, nb / n, 0.0)
        delta = mb - self.mean
        self.m2 += m2b + np.einsum("ij,ij->i", delta, delta) * na * wb
        self.mean += delta * wb[:, None]

    def merge(self, other: ClusterStats) -> ClusterStats:
        """A new statistic over both inputs' samples (Chan, Golub & LeVeque 1979)."""
        if other.mean is None:
            return self._copy()
        if self.mean is None:
            return other._copy()
        if self.d != other.d:
            raise InvalidInputError(
                f"Vectors differ in dimension between batches: {self.d} != {other.d}."
            )
        cats, ia, ib = align(self.categories, other.categories)
        k, d = len(cats), self.mean.shape[1]
        out = ClusterStats(unit_sums=self.with_unit_sums, moments=self.with_moments,
                           spread=self.with_spread and other.with_spread)
        out.categories = cats
        out.eps = max(self.eps, other.eps)
        na, nb = np.zeros(k), np.zeros(k)
        ma, mb = np.zeros((k, d)), np.zeros((k, d))
        m2a, m2b = np.zeros(k), np.zeros(k)
        na[ia], ma[ia], m2a[ia] = self.counts, self.mean, self.m2
        nb[ib], mb[ib], m2b[ib] = other.counts, other.mean, other.m2
        n = na + nb
        delta = mb - ma
        with np.errstate(invalid="ignore", divide="ignore"):
            wb = np.where(n > 0, nb / n, 0.0)
        out.counts = n.astype(np.int64)
        out.mean = ma + delta * wb[:, None]
        out.m2 = m2a + m2b + np.einsum("ij,ij->i", delta, delta) * na * wb
        if self.with_unit_sums:
            out.unit_sum = np.zeros((k, d))
            out.unit_sum[ia] += self.unit_sum
            out.unit_sum[ib] += other.unit_sum
        return out

    def _copy(self) -> ClusterStats:
        out = ClusterStats(unit_sums=self.with_unit_sums, moments=self.with_moments,
                           spread=self.with_spread)
        out.__dict__.update({k: (v.copy() if isinstance(v, np.ndarray) else v)
                             for k, v in self.__dict__.items()})
        return out

    def nonempty(self) -> ClusterStats:
        """The same statistic without clusters of zero count."""
        return self.take(np.flatnonzero(self.counts > 0))

    def take(self, index: np.ndarray) -> ClusterStats:
        """The statistic of the clusters at ``index``, in that order."""
        out = self._copy()
        if self.mean is None:
            raise ValueError("A statistic of no rows has no clusters to take.")
        out.categories, out.counts, out.mean, out.m2 = (
            self.categories[index], self.counts[index], self.mean[index], self.m2[index])
        if self.unit_sum is not None:
            out.unit_sum = self.unit_sum[index]
        return out

    def global_mean(self) -> np.ndarray:
        if self.mean is None:
            raise ValueError("A statistic of no rows has no mean.")
        return (self.counts[:, None] * self.mean).sum(axis=0) / self.n

    def codes_for(self, labels: Labels) -> np.ndarray:
        """Map a batch's codes onto this statistic's cluster indices (negative codes kept)."""
        if labels.categories is self.categories or (
                len(labels.categories) == len(self.categories)
                and np.array_equal(labels.categories, self.categories)):
            return labels.codes
        cats, ia, ib = align(self.categories, labels.categories)
        if len(cats) != len(self.categories):
            raise InvalidInputError("Batch has clusters that the statistics have not seen.")
        lookup = np.empty(len(ib) + 2, dtype=np.int64)
        pos = np.empty(len(cats), dtype=np.int64)
        pos[ia] = np.arange(len(ia))
        lookup[: len(ib)] = pos[ib]
        lookup[-2:] = [-2, -1]  # NOISE, MISSING keep their meaning
        return lookup[labels.codes]


ROUNDING = 32  # rounding of a centroid distance, in units of eps * magnitude (measured <= 9)


def centroid_distances(means: np.ndarray, metric: str = "euclidean", *,
                       spread: np.ndarray | None = None,
                       eps: float = float(np.finfo(np.float64).eps)) -> np.ndarray:
    """Distances between cluster means (k x k), with rounding taken for what it is.

    A cluster is at exactly 0 from itself (cosine's ``1 - cos`` leaves ~1e-16 there). For the
    euclidean and cosine distances, two centroids closer than their rounding are taken to
    coincide (distance 0): a mean of values of size ``s`` summed in a precision with unit
    ``eps`` is off by a few ``eps * s``, so two clusters whose exact means are equal come out
    ~1e-16 apart in float64. The bound is ``ROUNDING * (eps * (s_i + s_j) + eps64 * (|c_i| +
    |c_j|))``, with ``s`` the clusters' ``spread`` (mean member-to-centroid distance, when
    known), ``eps`` that of the data's dtype (:attr:`ClusterStats.eps`) and the second term
    the float64 rounding of the distance itself; for cosine, ``ROUNDING * eps64``.

    Parameters
    ----------
    means : ndarray of shape (k, d)
        Cluster means (float64).
    metric : str, default="euclidean"
        Any ``scipy.spatial.distance.cdist`` metric.
    spread : ndarray of shape (k,), optional
        Mean distance of each cluster's members to its mean.
    eps : float, default=float64's machine epsilon
        Rounding unit of the precision the means were summed in.

    Returns
    -------
    ndarray of shape (k, k)
    """
    from scipy.spatial.distance import cdist

    means = np.asarray(means, dtype=np.float64)
    dist = cdist(means, means, metric=metric)
    np.fill_diagonal(dist, 0.0)
    eps64 = float(np.finfo(np.float64).eps)
    if metric == "euclidean":
        norms = np.linalg.norm(means, axis=1)
        tol = eps64 * (norms[:, None] + norms)
        if spread is not None:
            spread = np.asarray(spread, dtype=np.float64)
            tol = tol + eps * (spread[:, None] + spread)
        dist[dist <= ROUNDING * tol] = 0.0
    elif metric == "cosine":
        dist[np.abs(dist) <= ROUNDING * eps64] = 0.0
    return dist


_buffers = threading.local()


def block_buffer(rows: int, d: int, dtype) -> np.ndarray:
    """A (rows, d) scratch array of this thread's, kept for its next call: a stream of batches
    asks for one per batch, and fresh pages cost more than the work done in them."""
    dtype = np.dtype(dtype)
    kept = getattr(_buffers, "array", None)
    if kept is None or kept.dtype != dtype or kept.size < rows * d:
        kept = _buffers.array = np.empty(max(rows * d, 1), dtype)
    return kept[:rows * d].reshape(rows, d)


def own_centroid_sq(raw: np.ndarray, codes: np.ndarray, means: np.ndarray,
                    dots: np.ndarray, x_sq: np.ndarray, c_sq: np.ndarray) -> np.ndarray:
    """Squared euclidean distance of each row to its cluster's centroid, float64.

    ``|x|^2 - 2 x.c + |c|^2`` from products a caller made in its rows' precision beside its
    other GEMMs, in any frame (raw or centred: ``dots[i] = x_i . c_codes[i]``, ``x_sq`` the rows'
    squared norms, ``c_sq`` the centroids'). Where that difference cancels (below ``CANCEL`` of
    ``|x|^2 + |c|^2``: a row near its centroid against large magnitudes) the row is redone as a
    float64 deviation of the ``raw`` row from its float64 mean in ``means`` (never from rows
    rounded again by centring), so a row equal to its centroid is exactly 0; elsewhere float32
    rounding is a few 1e-6 of a row's distance at worst.
    """
    size = x_sq + c_sq[codes]
    d2 = size - 2.0 * dots
    redo = np.flatnonzero(d2 < CANCEL * size)
    if len(redo):
        dev = raw[redo].astype(np.float64) - means[codes[redo]]
        d2[redo] = np.einsum("ij,ij->i", dev, dev)
    return d2


def representable(v: np.ndarray, dtype) -> np.ndarray:
    """``v`` (float64) rounded to the nearest values that ``dtype`` holds exactly (where they
    are finite), as float64: a reference point that means the same in both precisions."""
    with np.errstate(over="ignore"):
        r = v.astype(dtype).astype(np.float64)
    return np.where(np.isfinite(r), r, v)


def _check_finite(squares: np.ndarray, x: np.ndarray, keep: np.ndarray, row_offset,
                  row_ids) -> None:
    """Rows whose squared norm is not finite hold NaN or inf (or values whose squares overflow
    X's precision): the same error as the vector checks, found on the way, with no pass of its
    own."""
    bad = np.flatnonzero(~np.isfinite(squares))
    if len(bad):
        raise nonfinite_error(x[bad], np.flatnonzero(keep)[bad], row_offset=row_offset,
                              row_ids=row_ids)


_THREADS: ContextVar[int | None] = ContextVar("clustermetrics_kernel_threads", default=None)


def kernel_threads() -> int:
    """Threads of the blocked kernels: the budget's cores (:func:`clustermetrics.threads.cores`),
    unless :func:`limit_kernel_threads` says."""
    return _THREADS.get() or threads.cores()


@contextlib.contextmanager
def limit_kernel_threads(n: int):
    """Run the blocked kernels on ``n`` threads inside this context (a distributed engine's
    worker that owns one core of a machine of many)."""
    token = _THREADS.set(max(1, int(n)))
    try:
        yield
    finally:
        _THREADS.reset(token)


def parallel_map(tasks, fn):
    """Run ``fn`` over tasks on all cores, BLAS single-threaded inside each: the element-wise
    work between the GEMMs then runs in parallel too. Results come in the order of the tasks,
    consumed as they come (so they do not pile up). ``tasks`` may be any iterable (a stream of
    batches): it is drawn from this thread, a task or two ahead of the threads, so only a few
    are in memory at once. Each task runs in a copy of the caller's context (a server job's
    ``work_check``, a cap on the kernel threads). The threads are kept for the next call (a
    stream of batches calls this for each); a task that calls it again runs its tasks itself.
    When a task fails or the caller stops early, the tasks not started are cancelled, the
    running ones waited for and a stream of tasks closed, so no work outlives the call."""
    workers = kernel_threads()
    check = work_check.get()
    if check is not None:
        fn = functools.partial(_checked_task, check, fn)
    pending = iter(tasks)
    try:
        ahead = list(itertools.islice(pending, 2))  # a lone task runs here, its maps on the pool
        on_kernel_thread = getattr(_kernel_thread, "busy", False)
        if workers == 1 or len(ahead) < 2 or on_kernel_thread:
            # one core: BLAS on one thread too (a kernel thread holds it already; a lone
            # task's own maps take it)
            with (single_threaded_blas() if workers == 1 and not on_kernel_thread
                  else contextlib.nullcontext()):
                yield from map(fn, itertools.chain(ahead, pending))
            return
        pending = itertools.chain(ahead, pending)
        with single_threaded_blas():
            pool = _pool(workers)
            futures: collections.deque = collections.deque()
            try:
                while True:  # the window: every thread busy, and one task waiting
                    for task in itertools.islice(pending, workers + 1 - len(futures)):
                        futures.append(pool.submit(contextvars.copy_context().run, fn, task))
                    if not futures:
                        break
                    yield futures.popleft().result()  # each result let go once handed over
            finally:
                for future in futures:
                    future.cancel()
                wait(futures)
    finally:
        close = getattr(tasks, "close", None)  # a generator of tasks: its resources go now
        if close is not None:
            close()


def _checked_task(check, fn, task):
    check()
    return fn(task)


_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()
_kernel_thread = threading.local()


def _mark_kernel_thread() -> None:
    _kernel_thread.busy = True


def _pool(workers: int) -> ThreadPoolExecutor:
    with _POOLS_LOCK:
        pool = _POOLS.get(workers)
        if pool is None:
            pool = _POOLS[workers] = ThreadPoolExecutor(
                workers, thread_name_prefix="clustermetrics-kernel",
                initializer=_mark_kernel_thread)
        return pool


def _forget_pools() -> None:
    """In a forked child: none of the parent's threads exist, and the lock may be held."""
    global _POOLS_LOCK
    _POOLS.clear()
    _POOLS_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pools)


def single_threaded_blas():
    """A context in which BLAS runs on one thread, shared with the other threads' limits
    (:func:`clustermetrics.threads.blas`)."""
    return threads.blas(1)
