"""evaluate(): every metric in one call, from the pipeline of passes every engine feeds.

An engine hands :func:`evaluate_source` a *source*: an object with ``n_rows``, ``has_truth``
and ``batches()``, which yields :class:`Batch` objects (a fresh iterator on every call, one
per pass, the same batches under the same ``partition`` numbers each time). The local
driver here folds :mod:`.passes`' partial statistics over those batches: pass 1
(:class:`~.passes.ClusterPass`) checks every batch and builds mergeable statistics; pass 2
(:class:`~.passes.ScorePass`) re-encodes each batch's labels against them and scores.
For cosine and squared euclidean memory stays O(k d) plus one batch (plus the per-sample
detail the result returns); a sampled pairwise metric also gathers the O(m d) sample first;
an exact pairwise metric (euclidean, manhattan, ...) materialises the vectors once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import reduce
from typing import Protocol

import numpy as np

from ..errors import InvalidInputError
from .clusterstats import parallel_map
from .labels import Labels
from .passes import Batch, ClusterPass, PassOptions, SamplePass, ScorePass, build_result
from .result import ClusterMetrics
from .silhouettes import LINEAR_METRICS, silhouette

# (stage, rows done in this call, total rows; None while a stage cannot tell its length)
Progress = Callable[[str, int, int | None], None]

__all__ = ["ArraySource", "Batch", "Progress", "Source", "evaluate", "evaluate_source"]


class Source(Protocol):
    """Batches of vectors, labels and ground truth, the same on every pass. A source may
    also have ``explain(exc, batch, metric)``: a complaint about one of its batches told in
    its own terms (a Parquet file's name, row group and rows)."""

    n_rows: int
    has_truth: bool

    def batches(self) -> Iterator[Batch]: ...


class ArraySource:
    """In-memory arrays as a source: one batch (no copies), or views of ``batch_rows`` rows
    numbered as partitions 0, 1, ..."""

    def __init__(self, X, labels, truth=None, ids=None, *, batch_rows: int | None = None):
        if hasattr(X, "toarray"):  # scipy.sparse: made dense once, not on every pass
            X = X.toarray()
        self.X, self.labels, self.truth, self.ids = X, labels, truth, ids
        self.n_rows = len(X)
        self.has_truth = truth is not None
        self.batch_rows = batch_rows

    def batches(self) -> Iterator[Batch]:
        if not self.batch_rows or self.batch_rows >= self.n_rows:
            yield self.materialize()
            return
        X, labels, truth, ids = (np.asarray(self.X), np.asarray(self.labels),
                                 None if self.truth is None else np.asarray(self.truth),
                                 None if self.ids is None else np.asarray(self.ids))
        for p, i in enumerate(range(0, self.n_rows, self.batch_rows)):
            rows = slice(i, i + self.batch_rows)
            yield Batch(X[rows], labels[rows], None if truth is None else truth[rows],
                        None if ids is None else ids[rows], p)

    def materialize(self) -> Batch:
        return Batch(self.X, self.labels, self.truth, self.ids, 0)


def evaluate(X, labels, ground_truth=None, *, metric: str = "euclidean",
             sample_size: int | None = None, random_state=None, noise_label=None,
             noise: str | None = None, working_memory: float | None = None) -> ClusterMetrics:
    """All metrics of a clustering in one call.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
    labels : array-like of shape (n_samples,)
        Cluster labels, ints or strings. Missing ones (None, NaN, "") are left out and counted.
    ground_truth : array-like of shape (n_samples,), optional
        Known classes. With it the external metrics (ARI, RI, AMI, NMI, homogeneity,
        completeness, V-measure, Fowlkes-Mallows, purity) are computed on the samples that have
        both a label and a ground truth.
    metric, sample_size, random_state, working_memory
        As for :func:`silhouette`. With ``metric="precomputed"`` X is the square matrix of
        distances: Calinski-Harabasz and Davies-Bouldin need feature vectors and are left out
        (NaN, and the result says so).
    noise_label, noise
        A label meaning "no cluster" (e.g. -1 from DBSCAN/HDBSCAN) and its policy: "exclude"
        (default: left out of every metric, coverage reported), "cluster" or "singletons".

    Returns
    -------
    ClusterMetrics
        ``.scores`` (name -> value), ``.counts``, ``.per_cluster``; ``print`` shows the table.

    Examples
    --------
    >>> from sklearn.cluster import KMeans
    >>> from sklearn.datasets import load_iris
    >>> X, y = load_iris(return_X_y=True)
    >>> labels = KMeans(3, n_init=1, random_state=0).fit_predict(X)
    >>> result = evaluate(X, labels, y)
    >>> round(result.scores["silhouette"], 4), round(result.scores["adjusted_rand"], 4)
    (0.5512, 0.7163)
    """
    if metric == "precomputed":  # X holds distances: silhouette and external metrics only
        from .precomputed import evaluate_precomputed
        return evaluate_precomputed(X, labels, ground_truth, sample_size=sample_size,
                                    random_state=random_state, noise_label=noise_label,
                                    noise=noise, working_memory=working_memory)
    return evaluate_source(ArraySource(X, labels, ground_truth), metric=metric,
                           sample_size=sample_size, random_state=random_state,
                           noise_label=noise_label, noise=noise, working_memory=working_memory)


def evaluate_source(source: Source, *, metric: str = "euclidean", sample_size=None,
                    random_state=None, noise_label=None, noise=None, working_memory=None,
                    progress: Progress | None = None, detail: bool = True) -> ClusterMetrics:
    """:func:`evaluate` over any source of batches (see the module docstring).

    ``detail=False`` keeps no per-sample silhouettes: the result's ``silhouette_detail`` is
    None and its per-cluster table comes from the mergeable summary (quartiles to 0.001).
    """
    options = PassOptions.make(metric=metric, noise_label=noise_label, noise=noise,
                               detail=detail, working_memory=working_memory)
    notify = progress or (lambda stage, done, total: None)
    n_total = source.n_rows

    # batches run on the kernel threads side by side (a small one runs on one), merged in
    # order: the result is the same as one at a time
    first = ClusterPass.empty(options, has_truth=source.has_truth)
    for rows, part in parallel_map(source.batches(), _told(
            source, options.metric, lambda b: (len(b.X), ClusterPass.from_batch(b, options)))):
        first = first.merge(part)
        notify("statistics", rows, n_total)
    summary = first.finish()

    sample = None
    pairwise = options.metric not in LINEAR_METRICS
    if pairwise and sample_size is not None and sample_size < summary.n:
        plan = summary.sample_plan(sample_size, random_state)
        sample = reduce(SamplePass.merge, (SamplePass.from_batch(b, summary, plan)
                                           for b in source.batches())).finish()
    exact_pairwise = pairwise and sample is None

    second: ScorePass | None = None
    vectors: dict[int, np.ndarray] = {}  # exact pairwise: each partition's, in source order
    for batch, part in parallel_map(source.batches(), _told(
            source, options.metric, lambda b: (b, ScorePass.from_batch(b, summary, sample)))):
        second = part if second is None else second.merge(part)
        if exact_pairwise:
            vectors[batch.partition] = batch.X
        else:
            notify("silhouette", len(batch.X), n_total)
    if second is None:
        raise InvalidInputError("The source gave no batches on its second pass.")
    if not exact_pairwise:
        return build_result(summary, second.finish(summary, sample))

    parts = [vectors[p] for p in sorted(vectors)]
    X = parts[0] if len(parts) == 1 else np.concatenate(parts)
    done = [0.0]

    def advance(fraction):  # the pairwise work, reported in rows like the other stages
        rows = min(n_total, round((done[0] + fraction) * n_total)) - round(done[0] * n_total)
        done[0] += fraction
        notify("silhouette", rows, n_total)

    sil = silhouette(X, Labels(second.codes(), summary.categories), metric=options.metric,
                     working_memory=working_memory, progress=advance)
    return build_result(summary, second.finish(summary, silhouette=sil))


def _told(source: Source, metric: str, fn: Callable[[Batch], object]):
    """``fn`` over a batch, a complaint about the batch told by the source where it can."""
    explain = getattr(source, "explain", None)
    if explain is None:
        return fn

    def run(batch: Batch):
        try:
            return fn(batch)
        except InvalidInputError as exc:
            raise explain(exc, batch, metric) from None
    return run
