"""The metrics pipeline as mergeable passes: what an engine maps over the partitions of a source.

Every pass is a *partial statistic* with three steps:

- ``from_batch(batch, ...)``: the statistic of one :class:`Batch` (one partition), computed
  without seeing any other partition;
- ``merge(other)``: a new partial over the rows of both (neither input changes). Merging
  commutes and associates up to float rounding, so partials merge in any order or tree;
- ``finish(...)``: the final statistics.

A driver (:func:`~clustermetrics.metrics.evaluate_source` for the local engine) runs them in
order:

1. :class:`ClusterPass` checks every row and gathers per-cluster counts and means (unit-vector
   sums for cosine, squared deviations for squared euclidean), the contingency table and each
   partition's cluster counts; ``finish()`` gives a :class:`ClusterSummary`.
2. Only for a sampled silhouette with a pairwise metric (euclidean, manhattan, ...):
   :meth:`ClusterSummary.sample_plan` draws the stratified sample's within-cluster ranks once
   (see :mod:`.sampling`), and :class:`SamplePass` collects those rows' vectors into a
   :class:`Sample` to broadcast to every partition.
3. :class:`ScorePass` re-encodes each batch's labels against the summary's clusters and adds
   each member's distance to its centroid (Davies-Bouldin's, and squared, Calinski-Harabasz's
   W) and the silhouettes: per row from the cluster statistics (cosine,
   squared euclidean), or the sample's distance sums to the batch's rows (:class:`SampleSums`).
   Silhouettes go into a mergeable :class:`SilhouetteSummary`, plus per-sample detail unless
   ``detail=False``. ``finish(summary, sample)`` gives the :class:`Scores`. An engine that
   holds no array of every row scores an exact pairwise metric by :class:`BlockPass`: each
   batch's rows as a block, against every batch.

:func:`build_result` turns a summary and its scores into a :class:`ClusterMetrics`.

Rows are identified by ``(partition, row)``: the batch's number in the source's order and the
row within the batch. No partial depends on how many rows came before its batch, and nothing
of size O(n) is kept beyond what the result returns (the per-sample detail, when asked for).
Every partial pickles, so a distributed engine can ship and merge them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import InvalidInputError
from ._validation import (
    as_vectors,
    check_cluster_count,
    check_finite,
    check_same_length,
    check_vectors,
)
from .clusterstats import ClusterStats
from .contingency import ContingencyStats
from .internal import DaviesBouldinStats, calinski_harabasz_from_stats
from .labels import Labels, check_noise_policy, encode_labels
from .result import ClusterMetrics
from .sampling import (
    allocate,
    canonical_order,
    draw_ranks,
    estimate_from_moments,
    locate,
    pick_rows,
)
from .silhouettes import (
    LINEAR_METRICS,
    SilhouetteResult,
    _block_size,
    _Blocks,
    _parallel,
    _Part,
    _rng,
    assemble,
    linear_silhouette,
    resolve_metric,
    silhouette_from_sums,
)

LINEAR_METHOD = "exact (cluster sums, O(n·k·d))"
BLOCKED_METHOD = "exact (blocked pairwise)"
BINS = 2000  # silhouette histogram over [-1, 1]: quantiles to 0.001


@dataclass
class Batch:
    """One partition of a source: vectors, labels, optional ground truth and document ids.

    A row is identified by ``(partition, row within the batch)``, never by how many rows came
    before the batch, so partitions can be read and scored in any order or place.

    Attributes
    ----------
    X : array-like of shape (n_rows, n_features)
        The vectors (checked by pass 1).
    labels : array-like of shape (n_rows,)
        Cluster labels; missing ones (None, NaN, "") are left out.
    truth : array-like of shape (n_rows,), optional
        Ground truth, for the external metrics.
    ids : array-like of shape (n_rows,), optional
        Document ``_id``s: they name rows in error messages and noise singletons
        (``"-1#{_id}"``). Without them rows are named by their number within the batch
        (``"-1#{partition}:{row}"`` beyond partition 0).
    partition : int, default 0
        The batch's number in the source's order (0, 1, ...; gaps allowed), the same on
        every pass.
    """

    X: Any
    labels: Any
    truth: Any = None
    ids: Any = None
    partition: int = 0


@dataclass(frozen=True)
class PassOptions:
    """What every pass needs to know: the metric, the noise policy and what to keep.

    Build it with :meth:`make`, which checks the values.

    Attributes
    ----------
    metric : str
        A metric name as :func:`~clustermetrics.metrics.silhouettes.resolve_metric` gives it.
    noise_label : object, optional
        The label meaning "no cluster" (e.g. -1).
    noise : {"exclude", "cluster", "singletons"}
        What noise samples become.
    detail : bool, default True
        Keep per-sample silhouettes (the local engine's result carries them for the report).
        Without them only the mergeable :class:`SilhouetteSummary` is kept, whose size does
        not grow with n.
    working_memory : float, optional
        MiB for blocks of pairwise distances (the sampled pairwise path).
    """

    metric: str = "euclidean"
    noise_label: Any = None
    noise: str = "exclude"
    detail: bool = True
    working_memory: float | None = None

    @classmethod
    def make(cls, *, metric: str = "euclidean", noise_label=None, noise: str | None = None,
             detail: bool = True, working_memory: float | None = None) -> PassOptions:
        """Checked options (an unknown metric or noise policy raises InvalidInputError)."""
        return cls(resolve_metric(metric), noise_label, check_noise_policy(noise, noise_label),
                   bool(detail), working_memory)


class _PartitionRows:
    """Names of a batch's rows when it has no ids and is not the first: ``"{partition}:{row}"``."""

    def __init__(self, partition: int):
        self.partition = partition

    def __getitem__(self, row: int) -> str:
        return f"{self.partition}:{row}"


def _encode(batch: Batch, options: PassOptions) -> Labels:
    names = batch.ids if batch.ids is not None or batch.partition == 0 else \
        _PartitionRows(batch.partition)
    return encode_labels(batch.labels, noise_label=options.noise_label, noise=options.noise,
                         row_names=names)


@contextmanager
def _rows_of(batch: Batch):
    """Messages about rows of a later batch without ids say which batch they count in."""
    try:
        yield
    except InvalidInputError as e:
        if batch.ids is None and batch.partition != 0:
            raise InvalidInputError(f"{e} (rows counted within partition {batch.partition})") \
                from None
        raise


T = TypeVar("T")


def _merge_optional(a: T | None, b: T | None, how: Callable[[T, T], T]) -> T | None:
    """Both absent, or both present and merged."""
    if a is None or b is None:
        if a is not b:
            raise ValueError("Cannot merge partials of different kinds (one lacks a statistic).")
        return None
    return how(a, b)


def _merge_partitions(a: dict, b: dict) -> dict:
    twice = set(a) & set(b)
    if twice:
        raise ValueError(f"Partitions {sorted(twice)[:5]} are counted twice in one merge.")
    return {**a, **b}


# -- pass 1 -------------------------------------------------------------------------------------

@dataclass
class ClusterPass:
    """Pass 1: checked rows, per-cluster moments, contingency table, per-partition counts.

    State is O(k d) moments, the contingency table and ``(rows, cluster counts)`` per
    partition, never O(n).

    Attributes
    ----------
    options : PassOptions
    stats : ClusterStats
        Counts and means; unit-vector sums for cosine; within-cluster squared deviations only
        for squared euclidean (the others take Calinski-Harabasz's W from pass 2).
    table : ContingencyStats or None
        Ground truth against clusters, when the batches have ground truth.
    n_rows, n_missing, n_noise : int
        Rows seen, rows without a cluster label, rows excluded as noise.
    partitions : dict
        ``{partition: (rows, cluster labels present, their counts)}``: what the sample rule
        needs to find the k-th member of a cluster without a running offset.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0], [1.0], [4.0], [5.0], [0.5], [4.5]])
    >>> options = PassOptions.make(metric="sqeuclidean")
    >>> a = ClusterPass.from_batch(Batch(X[:4], [0, 0, 1, 1], partition=0), options)
    >>> b = ClusterPass.from_batch(Batch(X[4:], [0, 1], partition=1), options)
    >>> summary = b.merge(a).finish()
    >>> summary.counts.tolist(), summary.stats.mean.ravel().tolist()
    ([3, 3], [0.5, 4.5])
    """

    options: PassOptions
    stats: ClusterStats
    table: ContingencyStats | None
    n_rows: int = 0
    n_missing: int = 0
    n_noise: int = 0
    partitions: dict[int, tuple[int, np.ndarray, np.ndarray]] = field(default_factory=dict)

    @classmethod
    def empty(cls, options: PassOptions, *, has_truth: bool = False) -> ClusterPass:
        """The statistic of no rows: the start of a fold.

        Parameters
        ----------
        options : PassOptions
        has_truth : bool, default False
            Whether the batches to come carry ground truth.
        """
        return cls(options, ClusterStats(unit_sums=options.metric == "cosine",
                                         spread=options.metric == "sqeuclidean"),
                   ContingencyStats() if has_truth else None)

    @classmethod
    def from_batch(cls, batch: Batch, options: PassOptions) -> ClusterPass:
        """The statistics of one batch, its rows checked.

        Parameters
        ----------
        batch : Batch
        options : PassOptions

        Returns
        -------
        ClusterPass

        Raises
        ------
        InvalidInputError
            NaN or infinite vectors, zero vectors under cosine, labels and vectors of
            different lengths: the message names the rows (or document ids).
        """
        with _rows_of(batch):
            # labelled rows are checked for NaN/inf by the statistics, from their squared
            # norms; only the rows they leave out need a pass of their own
            X = check_vectors(batch.X, row_ids=batch.ids, finite=False)
            enc = _encode(batch, options)
            check_same_length(X, len(enc.codes))
            try:
                # the spread only where the silhouette needs it (squared euclidean):
                # Calinski-Harabasz's W comes from pass 2's distances to the centroids
                stats = ClusterStats.from_batch(X, enc, unit_sums=options.metric == "cosine",
                                                spread=options.metric == "sqeuclidean",
                                                row_ids=batch.ids)
                check_finite(X, np.flatnonzero(~enc.valid), row_ids=batch.ids)
            except InvalidInputError:  # on the error path, every non-finite row is named
                check_finite(X, row_ids=batch.ids)
                raise
        table = None
        if batch.truth is not None:
            truth = encode_labels(batch.truth, name="ground truth")
            table = ContingencyStats().update_encoded(truth, enc)
        counts = enc.counts()
        present = np.flatnonzero(counts)
        return cls(options, stats, table, len(X), enc.n_missing, enc.n_noise,
                   {batch.partition: (len(X), enc.categories[present], counts[present])})

    def merge(self, other: ClusterPass) -> ClusterPass:
        """A new partial over the rows of both (each partition may be counted once)."""
        return ClusterPass(
            self.options, self.stats.merge(other.stats),
            _merge_optional(self.table, other.table, ContingencyStats.merge),
            self.n_rows + other.n_rows, self.n_missing + other.n_missing,
            self.n_noise + other.n_noise, _merge_partitions(self.partitions, other.partitions))

    def finish(self) -> ClusterSummary:
        """The summary pass 2 takes.

        Returns
        -------
        ClusterSummary

        Raises
        ------
        InvalidInputError
            No labelled sample, fewer than 2 clusters or as many clusters as samples, or (with
            ground truth) no sample with both a label and a ground truth value.
        """
        stats = self.stats
        if stats.mean is None or stats.n == 0:
            raise InvalidInputError(
                f"No samples to evaluate: {self.n_rows} rows, {self.n_missing} without a cluster "
                f"label, {self.n_noise} noise. Check the labels (or the cluster alias) given."
            )
        stats = stats.nonempty()
        stats = stats.take(canonical_order(stats.categories))
        check_cluster_count(stats.k, stats.n)
        if self.table is not None and self.table.n == 0:
            raise InvalidInputError(
                "No sample has both a cluster label and a ground truth value, so external "
                f"metrics cannot be computed ({self.table.n_missing_true} without ground truth)."
            )
        index = pd.Index(stats.categories)
        partitions = {p: (rows, index.get_indexer(pd.Index(cats)).astype(np.int64), counts)
                      for p, (rows, cats, counts) in self.partitions.items()}
        return ClusterSummary(self.options, stats, self.table, self.n_rows, self.n_missing,
                              self.n_noise, partitions)


@dataclass
class ClusterSummary:
    """Pass 1 finished: what pass 2 and the sample take as input; O(k d + partitions).

    Attributes
    ----------
    options : PassOptions
    stats : ClusterStats
        The non-empty clusters, in :func:`~clustermetrics.metrics.sampling.canonical_order`
        of their labels (whatever order the partials were merged in).
    table : ContingencyStats or None
    n_documents, n_missing, n_noise : int
        Rows seen, rows without a cluster label, rows excluded as noise.
    partitions : dict
        ``{partition: (rows, cluster indices, member counts)}``.
    """

    options: PassOptions
    stats: ClusterStats
    table: ContingencyStats | None
    n_documents: int
    n_missing: int
    n_noise: int
    partitions: dict[int, tuple[int, np.ndarray, np.ndarray]]

    @property
    def categories(self) -> np.ndarray:
        """The cluster labels; pass 2 speaks of clusters by index into these."""
        return self.stats.categories

    @property
    def counts(self) -> np.ndarray:
        """Members per cluster."""
        return self.stats.counts

    @property
    def k(self) -> int:
        """Number of clusters."""
        return self.stats.k

    @property
    def n(self) -> int:
        """Samples in a cluster (labelled, not excluded as noise)."""
        return self.stats.n

    @cached_property
    def _starts(self) -> dict[int, int]:
        parts = sorted(self.partitions)
        rows = np.array([self.partitions[p][0] for p in parts], dtype=np.int64)
        return dict(zip(parts, (np.cumsum(rows) - rows).tolist(), strict=True))

    def start(self, partition: int) -> int:
        """Row number of the partition's first row in the whole source (from pass 1's
        per-partition row counts, so it is known after pass 1 wherever a batch is read)."""
        if partition not in self._starts:
            raise InvalidInputError(
                f"Partition {partition} was not seen by the first pass: a source must give the "
                "same batches on every pass.")
        return self._starts[partition]

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()  # cached views are rebuilt where they are needed
        state.pop("_starts", None)
        state.pop("_davies_bouldin", None)
        return state

    def encode(self, batch: Batch) -> np.ndarray:
        """The batch's cluster indices into :attr:`categories` (negative: missing or noise),
        encoded as pass 1 encoded them."""
        enc = _encode(batch, self.options)
        return self.stats.codes_for(enc)

    @cached_property
    def _davies_bouldin(self) -> DaviesBouldinStats:
        return DaviesBouldinStats(self.stats)

    def davies_bouldin(self, dist_sum: np.ndarray | None = None) -> DaviesBouldinStats:
        """Davies-Bouldin's statistic for these centroids, with the given distance sums."""
        db = copy.copy(self._davies_bouldin)  # shares the centroids, not the sums
        db.dist_sum = np.zeros(self.k) if dist_sum is None else dist_sum
        db.sq_sum = np.zeros(self.k)
        return db

    def sample_plan(self, sample_size: int, random_state=None) -> SamplePlan:
        """Draw the stratified sample once, on the driver (:mod:`.sampling` gives the rule).

        Parameters
        ----------
        sample_size : int
            Points to score, at least ``MIN_PER_CLUSTER`` (or all) per cluster.
        random_state : int, numpy Generator or RandomState, optional
            The seed; the same seed gives the same rows as
            ``silhouette(X, labels, sample_size=..., random_state=...)`` on the whole array.

        Returns
        -------
        SamplePlan
        """
        if sample_size < 1:
            raise InvalidInputError(f"sample_size must be a positive integer; got {sample_size}.")
        alloc = allocate(self.counts, int(sample_size))
        clusters, ranks = draw_ranks(self.counts, alloc, self.categories, _rng(random_state))
        where = locate(clusters, ranks, {p: (c, n) for p, (_, c, n) in self.partitions.items()},
                       self.k)
        return SamplePlan(int(alloc.sum()), where)


# -- the sample (pairwise metrics with sample_size) ----------------------------------------------

@dataclass
class SamplePlan:
    """The sampled members, located in the partitions that hold them.

    Attributes
    ----------
    m : int
        Points sampled.
    picks : dict
        ``{partition: (cluster indices, ranks among that cluster's members in the
        partition)}``; partitions without a sampled member are absent. O(m).
    """

    m: int
    picks: dict[int, tuple[np.ndarray, np.ndarray]]

    def rows(self, partition: int, codes: np.ndarray) -> np.ndarray:
        """Rows of a partition (its cluster indices ``codes``) that the plan samples."""
        if partition not in self.picks:
            return np.empty(0, np.int64)
        return pick_rows(codes, *self.picks[partition])


@dataclass
class Sample:
    """The sampled rows, broadcast to every partition in pass 2; all in source order.

    Attributes
    ----------
    x : ndarray of shape (m, n_features)
        Their vectors, in the batches' precision.
    codes : ndarray of shape (m,)
        Their cluster indices.
    partitions, rows : ndarray of shape (m,)
        Where they are: ``(partition, row within the batch)``.
    index : ndarray of shape (m,)
        Their row numbers in the whole source.
    """

    x: np.ndarray
    codes: np.ndarray
    partitions: np.ndarray
    rows: np.ndarray
    index: np.ndarray


@dataclass
class SamplePass:
    """Collects the sampled rows' vectors: the pass between pass 1 and pass 2. O(m d).

    Attributes
    ----------
    parts : dict
        ``{partition: (rows, cluster indices, vectors, start row)}``.
    """

    parts: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, int]] = field(default_factory=dict)

    @classmethod
    def from_batch(cls, batch: Batch, summary: ClusterSummary, plan: SamplePlan) -> SamplePass:
        """The batch's sampled rows.

        Parameters
        ----------
        batch : Batch
        summary : ClusterSummary
            Pass 1's.
        plan : SamplePlan
            From ``summary.sample_plan(...)``.

        Returns
        -------
        SamplePass
        """
        codes = summary.encode(batch)
        rows = plan.rows(batch.partition, codes)
        x = as_vectors(batch.X)[rows]
        return cls({batch.partition: (rows, codes[rows], x, summary.start(batch.partition))})

    def merge(self, other: SamplePass) -> SamplePass:
        """A new partial holding both partials' rows."""
        return SamplePass(_merge_partitions(self.parts, other.parts))

    def finish(self) -> Sample:
        """The :class:`Sample`, in source order."""
        parts = [self.parts[p] for p in sorted(self.parts)]
        if not parts:
            raise InvalidInputError("The sample is empty: no partition was read.")
        return Sample(np.concatenate([x for _, _, x, _ in parts]),
                      np.concatenate([c for _, c, _, _ in parts]),
                      np.concatenate([np.full(len(r), p, np.int64)
                                      for p, (r, _, _, _) in sorted(self.parts.items())]),
                      np.concatenate([r for r, _, _, _ in parts]),
                      np.concatenate([r + start for r, _, _, start in parts]))


@dataclass
class SampleSums:
    """What partitions add up for the sampled points: distance sums and nearest singletons.

    Attributes
    ----------
    sums : ndarray of shape (m, c)
        Each sampled point's summed distances to the members of every cluster of two or more
        (in order of cluster index; ``c`` such clusters).
    near : ndarray of shape (m,)
        Distance to its nearest singleton cluster (inf when none seen yet).
    near_code : ndarray of shape (m,)
        That singleton's cluster index (-1 when none).
    """

    sums: np.ndarray
    near: np.ndarray
    near_code: np.ndarray

    @classmethod
    def from_batch(cls, sample: Sample, X: np.ndarray, codes: np.ndarray, partition: int,
                   counts: np.ndarray, metric: str,
                   working_memory: float | None = None) -> SampleSums:
        """Distances from every sampled point to the batch's clustered rows.

        Blocked and run on all cores with the one-shot sampled silhouette's kernel; a sampled
        point's distance to itself is 0.

        Parameters
        ----------
        sample : Sample
        X : ndarray of shape (n_rows, n_features)
            The batch's vectors.
        codes : ndarray of shape (n_rows,)
            Their cluster indices (negative: left out).
        partition : int
            The batch's partition, to find sampled points among its rows.
        counts : ndarray of shape (k,)
            Members per cluster in the whole source.
        metric : str
        working_memory : float, optional

        Returns
        -------
        SampleSums
        """
        member = np.flatnonzero(codes >= 0)
        x = X if len(member) == len(X) else X[member]
        m = len(sample.x)
        both = np.concatenate([sample.x, x])  # one kernel over both: same centring and dtype
        both_codes = np.concatenate([sample.codes, codes[member]])
        blocks = _Blocks(both, both_codes, counts, metric)
        own = sample.partitions == partition  # sampled rows of this batch: their place in x
        place = np.full(m, -1)
        place[own] = np.searchsorted(member, sample.rows[own])
        step = _block_size(len(both), both.shape[1], np.dtype(blocks.dtype).itemsize,
                           working_memory)
        tasks = [(r0, j0) for r0 in range(0, m, step) for j0 in range(0, len(x), step)]

        def run(task):
            r0, j0 = task
            r1, j1 = min(r0 + step, m), min(j0 + step, len(x))
            inside = (place[r0:r1] >= j0) & (place[r0:r1] < j1)
            return blocks.pair(slice(r0, r1), slice(m + j0, m + j1), symmetric=False,
                               self_cols=np.where(inside, place[r0:r1] - j0, -1))[0]

        total = _Part(np.zeros((m, blocks.k)), m)
        for (r0, _), part in zip(tasks, _parallel(tasks, run), strict=True):
            total.add(slice(r0, r0 + len(part.sums)), part)
        found = total.near_row >= 0
        near_code = np.full(m, -1, dtype=np.int64)
        near_code[found] = both_codes[total.near_row[found]]
        return cls(total.sums, total.near, near_code)

    def merge(self, other: SampleSums) -> SampleSums:
        """Sums added; the nearer singleton kept (the lower cluster index on a tie)."""
        closer = (other.near < self.near) | ((other.near == self.near)
                                             & (other.near_code >= 0)
                                             & ((self.near_code < 0)
                                                | (other.near_code < self.near_code)))
        return SampleSums(self.sums + other.sums, np.where(closer, other.near, self.near),
                          np.where(closer, other.near_code, self.near_code))

    def finish(self, sample: Sample, counts: np.ndarray):
        """``(s, a, b, nearest)`` of each sampled point, against the whole source."""
        columns = np.flatnonzero(counts >= 2)
        return silhouette_from_sums(self.sums, sample.codes, counts, columns,
                                    (self.near, np.maximum(self.near_code, 0)))


# -- the silhouette summary --------------------------------------------------------------------

@dataclass
class SilhouetteSummary:
    """Silhouettes of the scored samples per cluster, in a form that merges.

    Silhouettes lie in [-1, 1], so a fixed-bin histogram merges exactly and gives quantiles to
    within 2/``BINS`` = 0.001; per-sample values are then optional. Size O(k BINS) at most.

    Attributes
    ----------
    count : ndarray of shape (k,)
        Samples scored per cluster (an index into the summary's clusters).
    total : ndarray of shape (k,)
        Sum of their silhouettes.
    m2 : ndarray of shape (k,)
        Sum of squared deviations from the cluster's mean silhouette, merged with Chan,
        Golub & LeVeque's update (no cancellation of a sum of squares).
    low, high : ndarray of shape (k,)
        Min and max.
    hist : scipy.sparse.csr_array of shape (k, BINS)
        Counts per histogram bin over [-1, 1].
    nearest : scipy.sparse.csr_array of shape (k, k)
        How often each cluster's samples had each other cluster as their nearest.

    Examples
    --------
    >>> import numpy as np
    >>> a = SilhouetteSummary.from_values(np.array([0, 0, 1]), np.array([0.5, 0.7, 0.2]),
    ...                                   np.array([1, 1, 0]), k=2)
    >>> b = SilhouetteSummary.from_values(np.array([1]), np.array([0.4]), np.array([0]), k=2)
    >>> merged = a.merge(b)
    >>> merged.count.tolist(), round(merged.mean(), 3)
    ([2, 2], 0.45)
    """

    count: np.ndarray
    total: np.ndarray
    m2: np.ndarray
    low: np.ndarray
    high: np.ndarray
    hist: sp.csr_array
    nearest: sp.csr_array

    @classmethod
    def from_values(cls, own: np.ndarray, s: np.ndarray, nearest: np.ndarray,
                    k: int) -> SilhouetteSummary:
        """The summary of some samples' silhouettes.

        Parameters
        ----------
        own : ndarray of int, shape (m,)
            Each sample's cluster index in ``0..k-1``.
        s : ndarray of shape (m,)
            Their silhouettes, in [-1, 1].
        nearest : ndarray of int, shape (m,)
            Each sample's nearest other cluster.
        k : int
            Number of clusters.

        Returns
        -------
        SilhouetteSummary
        """
        count = np.bincount(own, minlength=k).astype(np.int64)
        total = np.bincount(own, weights=s, minlength=k)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(count > 0, total / count, 0.0)
        m2 = np.bincount(own, weights=(s - mean[own]) ** 2, minlength=k)
        low, high = np.full(k, np.inf), np.full(k, -np.inf)
        np.minimum.at(low, own, s)
        np.maximum.at(high, own, s)
        bins = np.clip(np.floor((s + 1.0) * (BINS / 2)), 0, BINS - 1).astype(np.int64)
        ones = np.ones(len(s), dtype=np.int64)
        hist = sp.csr_array((ones, (own, bins)), shape=(k, BINS), dtype=np.int64)
        near = sp.csr_array((ones, (own, nearest)), shape=(k, k), dtype=np.int64)
        return cls(count, total, m2, low, high, hist, near)

    def merge(self, other: SilhouetteSummary) -> SilhouetteSummary:
        """A new summary over both summaries' samples."""
        na, nb = self.count, other.count
        n = na + nb
        with np.errstate(invalid="ignore", divide="ignore"):
            delta = np.where(nb > 0, other.total / nb, 0.0) - np.where(na > 0, self.total / na,
                                                                        0.0)
            cross = np.where(n > 0, delta * delta * na * nb / n, 0.0)
        return SilhouetteSummary(n, self.total + other.total, self.m2 + other.m2 + cross,
                                 np.minimum(self.low, other.low),
                                 np.maximum(self.high, other.high),
                                 self.hist + other.hist, self.nearest + other.nearest)

    @property
    def n(self) -> int:
        """Samples scored."""
        return int(self.count.sum())

    def mean(self) -> float:
        """Mean silhouette of the scored samples (the exact score when all were scored)."""
        return float(self.total.sum() / self.count.sum())

    def estimate(self, sizes: np.ndarray) -> tuple[float, tuple[float, float]]:
        """The stratified estimate of the mean silhouette over clusters of ``sizes``, with its
        95% interval (:func:`~clustermetrics.metrics.sampling.estimate_from_moments`)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = self.total / self.count
            var = self.m2 / (self.count - 1)
        return estimate_from_moments(self.count, mean, var, sizes)

    def quantiles(self, c: int | np.integer, q) -> np.ndarray:
        """Quantiles ``q`` (in [0, 1]) of cluster ``c``'s silhouettes, as numpy's default
        (linear) rule computes them from the sorted values, each value known to within its
        histogram bin (1/``BINS`` wide); the min and max are exact."""
        q = np.atleast_1d(np.asarray(q, dtype=np.float64))
        row = self.hist[[c], :].toarray().ravel()
        cum = np.cumsum(row)

        def order_statistic(j):  # the j-th smallest, spread evenly inside its bin
            b = np.minimum(np.searchsorted(cum, j, side="right"), BINS - 1)
            inside = (j - (cum[b] - row[b]) + 0.5) / np.maximum(row[b], 1)
            return np.clip(-1.0 + (b + inside) * (2.0 / BINS), self.low[c], self.high[c])

        t = q * (self.count[c] - 1)
        lo = np.floor(t)
        out = order_statistic(lo)
        frac = t - lo
        out = out + frac * (order_statistic(np.minimum(lo + 1, self.count[c] - 1)) - out)
        out[q <= 0] = self.low[c]
        out[q >= 1] = self.high[c]
        return out

    def per_cluster(self, categories: np.ndarray, sizes: np.ndarray) -> pd.DataFrame:
        """The per-cluster table of :attr:`SilhouetteResult.per_cluster` from the summary
        (quartiles to within 1/``BINS``)."""
        has = np.flatnonzero(self.count)
        qs = np.array([self.quantiles(c, [0.25, 0.5, 0.75]) for c in has]).reshape(-1, 3)
        nearest = self.nearest.tocsr()
        table = pd.DataFrame({
            "size": sizes[has].astype(np.int64), "scored": self.count[has],
            "silhouette": self.total[has] / self.count[has], "min": self.low[has],
            "q25": qs[:, 0], "median": qs[:, 1], "q75": qs[:, 2], "max": self.high[has],
            "nearest": categories[np.asarray(nearest[has].argmax(axis=1)).ravel()]},
            index=pd.Index(categories[has], name="cluster"))
        with suppress(TypeError):  # labels of mixed types keep their order
            table = table.sort_index()
        return table


# -- pass 2 -------------------------------------------------------------------------------------

@dataclass
class ScorePass:
    """Pass 2: silhouettes and the members' distances to their centroids (Davies-Bouldin, and
    squared, Calinski-Harabasz's W), against pass 1's summary.

    Attributes
    ----------
    mode : {"linear", "sampled", "pairwise", "blocked"}
        How silhouettes are made. ``"linear"`` (cosine, squared euclidean): each row scored
        from the cluster statistics. ``"sampled"`` (a pairwise metric with a :class:`Sample`):
        the batch adds its :class:`SampleSums`. ``"pairwise"`` (exact, a pairwise metric): the
        batch's cluster indices are kept for a driver that holds the whole array and runs the
        blocked kernel on it (the local engine only; O(n) integers). ``"blocked"`` (exact, a
        pairwise metric, no array in one place): made by :meth:`BlockPass.finish`, each
        block's silhouettes exact against every partition.
    dist_sum : ndarray of shape (k,)
        Davies-Bouldin: summed member-to-centroid distances per cluster.
    sq_sum : ndarray of shape (k,)
        Calinski-Harabasz's W: summed squared member-to-centroid distances per cluster.
    silhouettes : SilhouetteSummary or None
        Linear mode.
    sums : SampleSums or None
        Sampled mode.
    detail : dict
        Per partition: per-sample rows, clusters, s, a, b and nearest (linear mode with
        ``options.detail``) or cluster indices (pairwise mode).
    """

    mode: str
    dist_sum: np.ndarray
    sq_sum: np.ndarray
    silhouettes: SilhouetteSummary | None = None
    sums: SampleSums | None = None
    detail: dict[int, tuple[np.ndarray, ...]] = field(default_factory=dict)

    @classmethod
    def from_batch(cls, batch: Batch, summary: ClusterSummary,
                   sample: Sample | None = None) -> ScorePass:
        """The batch's share of pass 2.

        Parameters
        ----------
        batch : Batch
        summary : ClusterSummary
            Pass 1's; the batch's labels are encoded against its clusters.
        sample : Sample, optional
            The broadcast sample, for a sampled pairwise metric.

        Returns
        -------
        ScorePass
        """
        options = summary.options
        X = as_vectors(batch.X)  # checked in pass 1
        codes = summary.encode(batch)
        labels = Labels(codes, summary.categories)
        if options.metric in LINEAR_METRICS:  # Davies-Bouldin's distances from the same GEMM
            rows = np.flatnonzero(codes >= 0)
            x = X if len(rows) == len(X) else X[rows]
            s, a, b, nearest, own_sq = linear_silhouette(x, codes[rows], summary.stats,
                                                         options.metric, centroid_sq=True)
            db = summary.davies_bouldin().add(codes[rows], own_sq)
            out = cls("linear", db.dist_sum, db.sq_sum,
                      SilhouetteSummary.from_values(codes[rows], s, nearest, summary.k))
            if options.detail:
                start = summary.start(batch.partition)
                out.detail[batch.partition] = (rows + start, codes[rows], s, a, b, nearest)
            return out
        db = summary.davies_bouldin().update(X, labels)
        if sample is not None:
            return cls("sampled", db.dist_sum, db.sq_sum, sums=SampleSums.from_batch(
                sample, X, codes, batch.partition, summary.counts, options.metric,
                options.working_memory))
        return cls("pairwise", db.dist_sum, db.sq_sum, detail={batch.partition: (codes,)})

    def merge(self, other: ScorePass) -> ScorePass:
        """A new partial over the rows of both."""
        if self.mode != other.mode:
            raise ValueError(f"Cannot merge a {self.mode} pass with a {other.mode} one.")
        return ScorePass(
            self.mode, self.dist_sum + other.dist_sum, self.sq_sum + other.sq_sum,
            _merge_optional(self.silhouettes, other.silhouettes, SilhouetteSummary.merge),
            _merge_optional(self.sums, other.sums, SampleSums.merge),
            _merge_partitions(self.detail, other.detail))

    def codes(self) -> np.ndarray:
        """Pairwise mode: every row's cluster index, in source order."""
        return np.concatenate([self.detail[p][0] for p in sorted(self.detail)])

    def finish(self, summary: ClusterSummary, sample: Sample | None = None, *,
               silhouette: SilhouetteResult | None = None) -> Scores:
        """The scores.

        Parameters
        ----------
        summary : ClusterSummary
            Pass 1's, as given to :meth:`from_batch`.
        sample : Sample, optional
            The sample given to :meth:`from_batch` (sampled mode).
        silhouette : SilhouetteResult, optional
            Pairwise mode: the silhouette its driver computed on the whole array.

        Returns
        -------
        Scores
            The silhouette (the mean, or with a sample the stratified estimate and its
            interval), its per-cluster table and, with ``options.detail``, the per-sample
            :class:`SilhouetteResult`; Davies-Bouldin.
        """
        options, counts, cats = summary.options, summary.counts, summary.categories
        db = summary.davies_bouldin(self.dist_sum).score()
        within = float(self.sq_sum.sum())
        if self.mode == "pairwise":
            if silhouette is None:
                raise ValueError("A pairwise pass needs the silhouette of the whole array.")
            return Scores(silhouette.score, silhouette.ci, silhouette.method,
                          silhouette.n_scored, silhouette.per_cluster,
                          silhouette if options.detail else None, db, within)
        if self.mode == "sampled":
            if self.sums is None or sample is None:
                raise ValueError("A sampled pass needs the sample it was given.")
            parts = self.sums.finish(sample, counts)
            own, index = sample.codes, sample.index
            sil = SilhouetteSummary.from_values(own, parts[0], parts[3], summary.k)
            method = f"sampled ({len(own)} of {summary.n}, stratified, scored against all)"
        else:
            if self.silhouettes is None:
                raise ValueError(f"A {self.mode} pass lost its silhouette summary.")
            sil = self.silhouettes
            method = BLOCKED_METHOD if self.mode == "blocked" else LINEAR_METHOD
            if options.detail:
                kept = [self.detail[p] for p in sorted(self.detail)]
                index, own = (np.concatenate([d[i] for d in kept]) for i in (0, 1))
                parts = tuple(np.concatenate([d[i] for d in kept]) for i in range(2, 6))
        if options.detail:
            res = assemble(index, own, parts, counts, cats, options.metric, method)
            return Scores(res.score, res.ci, method, res.n_scored, res.per_cluster, res, db,
                          within)
        if sil.n < summary.n:
            score, ci = sil.estimate(counts)
        else:
            score, ci = sil.mean(), None
        return Scores(score, ci, method, sil.n, sil.per_cluster(cats, counts), None, db,
                      within)


@dataclass
class BlockPass:
    """Pass 2 for an exact pairwise metric when no one place holds every row: one block.

    The block is one batch's clustered rows. :meth:`start` makes them a :class:`Sample` of
    their own; :meth:`add` adds one batch's :class:`SampleSums` (every batch of the source
    once, the block's own included); :meth:`finish` turns the sums into the block's exact
    silhouettes, a :class:`ScorePass` in ``"blocked"`` mode that merges with the other
    blocks'. Memory: the block, its ``(rows, k)`` sums and one batch at a time. Every pair of
    rows is computed twice (once from each side), where the one-array kernel computes it once.

    Attributes
    ----------
    block : Sample
        The block's clustered rows.
    partition : int
        The block's batch.
    dist_sum, sq_sum : ndarray of shape (k,)
        Davies-Bouldin's distances of the block's rows, and their squares.
    sums : SampleSums or None
        Distance sums added so far.
    seen : frozenset
        Partitions added so far.
    """

    block: Sample
    partition: int
    dist_sum: np.ndarray
    sq_sum: np.ndarray
    sums: SampleSums | None = None
    seen: frozenset[int] = frozenset()

    @classmethod
    def start(cls, batch: Batch, summary: ClusterSummary) -> BlockPass:
        """The block of ``batch``'s rows, with nothing added yet."""
        X = as_vectors(batch.X)  # checked in pass 1
        codes = summary.encode(batch)
        rows = np.flatnonzero(codes >= 0)
        db = summary.davies_bouldin().update(X, Labels(codes, summary.categories))
        block = Sample(X[rows], codes[rows], np.full(len(rows), batch.partition, np.int64), rows,
                       rows + summary.start(batch.partition))
        return cls(block, batch.partition, db.dist_sum, db.sq_sum)

    def add(self, batch: Batch, summary: ClusterSummary) -> BlockPass:
        """A new partial with the distances from the block's rows to ``batch``'s added."""
        if batch.partition in self.seen:
            raise ValueError(f"Partition {batch.partition} was added to the block twice.")
        options = summary.options
        sums = self.sums
        if len(self.block.x):
            part = SampleSums.from_batch(self.block, as_vectors(batch.X), summary.encode(batch),
                                         batch.partition, summary.counts, options.metric,
                                         options.working_memory)
            sums = part if sums is None else sums.merge(part)
        return BlockPass(self.block, self.partition, self.dist_sum, self.sq_sum, sums,
                         self.seen | {batch.partition})

    def finish(self, summary: ClusterSummary) -> ScorePass:
        """The block's share of pass 2, once every partition of pass 1 was added."""
        missing = set(summary.partitions) - self.seen
        if missing:
            raise ValueError(f"Partitions {sorted(missing)[:5]} were not added to the block.")
        block, k = self.block, summary.k
        if self.sums is None:  # no clustered row in this block
            empty = np.empty(0)
            parts: tuple = (empty, empty, empty, np.empty(0, np.int64))
        else:
            parts = self.sums.finish(block, summary.counts)
        out = ScorePass("blocked", self.dist_sum, self.sq_sum,
                        SilhouetteSummary.from_values(block.codes, parts[0], parts[3], k))
        if summary.options.detail:
            out.detail[self.partition] = (block.index, block.codes, *parts)
        return out


@dataclass
class Scores:
    """Pass 2 finished.

    Attributes
    ----------
    silhouette : float
        Mean silhouette, or its stratified estimate when sampled.
    ci : tuple of float or None
        95% interval when sampled.
    method : str
        How the silhouette was computed.
    n_scored : int
        Samples scored.
    per_cluster : DataFrame
        Size, scored, mean, min, quartiles, max and nearest cluster per cluster.
    detail : SilhouetteResult or None
        Per-sample values (None without ``detail``).
    davies_bouldin : float
    within : float
        Calinski-Harabasz's W: the summed squared distances of members to their centroids.
    """

    silhouette: float
    ci: tuple[float, float] | None
    method: str
    n_scored: int
    per_cluster: pd.DataFrame
    detail: SilhouetteResult | None
    davies_bouldin: float
    within: float


# -- the result ---------------------------------------------------------------------------------

def build_result(summary: ClusterSummary, scores: Scores) -> ClusterMetrics:
    """The result of a finished pipeline.

    Parameters
    ----------
    summary : ClusterSummary
        Pass 1's.
    scores : Scores
        Pass 2's.

    Returns
    -------
    ClusterMetrics
        Silhouette, Calinski-Harabasz, Davies-Bouldin and, with ground truth, the external
        metrics; counts, per-cluster table, contingency and centroids.
    """
    stats, table = summary.stats, summary.table
    values = {"silhouette": scores.silhouette,
              "calinski_harabasz": calinski_harabasz_from_stats(stats, scores.within),
              "davies_bouldin": scores.davies_bouldin}
    counts = {"n_documents": summary.n_documents, "n_used": stats.n, "n_clusters": stats.k,
              "n_missing_label": summary.n_missing, "n_noise": summary.n_noise,
              "n_scored": scores.n_scored}
    if table is not None:
        values.update(table.scores())
        counts.update(n_external=table.n, n_classes=int(np.count_nonzero(
            np.asarray(table.table.sum(axis=1)).ravel())), n_missing_truth=table.n_missing_true)
    return ClusterMetrics(scores=values, counts=counts, metric=summary.options.metric,
                          silhouette_ci=scores.ci, silhouette_method=scores.method,
                          per_cluster=_per_cluster(scores.per_cluster, table),
                          silhouette_detail=scores.detail, contingency=table,
                          centroids=pd.DataFrame(stats.mean, index=stats.categories))


def _per_cluster(table_in: pd.DataFrame, table: ContingencyStats | None) -> pd.DataFrame:
    df = table_in.copy()
    if table is not None and table.n:
        dense = table.table.toarray()
        col = {c: i for i, c in enumerate(table.cols)}
        majority: list[Any] = []
        share: list[float] = []
        for c in df.index:
            j = col.get(c)
            if j is None or dense[:, j].sum() == 0:
                majority.append(None)
                share.append(np.nan)
            else:
                majority.append(table.rows[int(np.argmax(dense[:, j]))])
                share.append(dense[:, j].max() / dense[:, j].sum())
        df["majority_truth"] = majority
        df["purity"] = share
    return df
