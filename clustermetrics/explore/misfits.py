"""Misfits: the documents with the lowest silhouette, with a, b and the cluster they would
fit better.

The silhouettes are the metrics' own (:func:`~clustermetrics.metrics.evaluate_source`, two
passes): for cosine and squared euclidean every document is scored exactly from the cluster
sums, at any size. Euclidean (and the other pairwise metrics) is exact up to
:data:`EXACT_UP_TO` documents; beyond it a stratified sample of :data:`SAMPLE_SIZE` documents
is scored exactly against all the data, and the result says so.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from ..metrics.evaluate import Batch, Source, evaluate_source
from ..metrics.result import ClusterMetrics
from ..metrics.silhouettes import LINEAR_METRICS, resolve_metric
from .representatives import check_n

EXACT_UP_TO = 20_000  # euclidean misfits are exact up to this many documents (O(n^2 d))
SAMPLE_SIZE = 10_000  # beyond it, this many documents are scored (stratified by cluster)


class IdsSeen:
    """A source that notes each partition's ids as its batches go by (no copy of X); its
    ground truth is passed on only with ``truth=True``."""

    def __init__(self, source: Source, *, truth: bool = False):
        self.source, self.n_rows = source, source.n_rows
        self.has_truth = truth and source.has_truth
        self.ids: dict[int, np.ndarray] = {}

    def __getattr__(self, name: str):  # the source's own attributes (n_without_vector, ...)
        return getattr(self.__dict__["source"], name)

    def batches(self) -> Iterator[Batch]:
        for b in self.source.batches():
            ids = (np.asarray(b.ids, dtype=object) if b.ids is not None
                   else np.arange(len(b.X)).astype(object))
            self.ids[b.partition] = ids
            yield Batch(b.X, b.labels, b.truth if self.has_truth else None, b.ids,
                        b.partition)

    def all_ids(self) -> np.ndarray:
        parts = [self.ids[p] for p in sorted(self.ids)]
        return np.concatenate(parts) if parts else np.empty(0, object)


def misfits(source: Source, *, n: int = 20, metric: str = "euclidean",
            sample_size: int | None = None, random_state=None, noise_label=None,
            noise: str | None = None) -> tuple[ClusterMetrics, pd.DataFrame, str]:
    """Every scored document's silhouette, a, b and nearest other cluster, lowest first.

    Parameters
    ----------
    source : Source
    n : int, default 20
        Checked here; the caller takes the first ``n`` per cluster and overall.
    metric : str, default "euclidean"
    sample_size : int, optional
        Score a stratified sample (pairwise metrics only; cosine and squared euclidean are
        always exact). Default: every document up to :data:`EXACT_UP_TO`, else
        :data:`SAMPLE_SIZE`.
    random_state, noise_label, noise
        As for :func:`clustermetrics.evaluate`.

    Returns
    -------
    (ClusterMetrics, DataFrame, str)
        The metrics (with ``per_cluster``), the scored documents (columns cluster, _id,
        silhouette, a, b, nearest, row) sorted by silhouette then row, and the method
        ("exact" or "sampled").
    """
    check_n(n)
    metric = resolve_metric(metric, func="misfits")
    if metric in LINEAR_METRICS:
        sample_size = None
    elif sample_size is None and source.n_rows > EXACT_UP_TO:
        sample_size = SAMPLE_SIZE
    seen = IdsSeen(source)
    result = evaluate_source(seen, metric=metric, sample_size=sample_size,
                             random_state=random_state, noise_label=noise_label, noise=noise,
                             detail=True)
    scored, method = scored_table(result, seen.all_ids())
    return result, scored, method


def scored_table(result: ClusterMetrics, ids: np.ndarray) -> tuple[pd.DataFrame, str]:
    """The scored documents of an evaluation (its per-sample silhouettes), lowest first,
    named by ``ids`` (every row of the source, in order), and "exact" or "sampled"."""
    detail = result.silhouette_detail
    assert detail is not None
    rows = np.asarray(detail.sample_index, dtype=np.int64)
    scored = pd.DataFrame({"cluster": detail.labels, "_id": ids[rows],
                           "silhouette": detail.values, "a": detail.a, "b": detail.b,
                           "nearest": detail.nearest, "row": rows})
    scored = scored.sort_values(["silhouette", "row"], kind="stable").reset_index(drop=True)
    return scored, "exact" if detail.ci is None else "sampled"


def lowest(scored: pd.DataFrame, n: int, *, per_cluster: bool) -> pd.DataFrame:
    """The ``n`` lowest silhouettes overall or per cluster (scored is sorted), ranked."""
    if per_cluster:
        out = scored.groupby("cluster", sort=False).head(n).copy()
        out["rank"] = out.groupby("cluster", sort=False).cumcount() + 1
        out = out.sort_values(["cluster", "rank"], kind="stable",
                              key=lambda s: s if s.name == "rank" else _sortable(s))
    else:
        out = scored.head(n).copy()
        out["rank"] = np.arange(1, len(out) + 1)
    cols = ["cluster", "rank", "_id", "silhouette", "a", "b", "nearest"]
    return out[cols].reset_index(drop=True)


def _sortable(s: pd.Series) -> pd.Series:
    """Cluster labels in a sortable form (mixed ints and strings sort as text)."""
    try:
        sorted(s.unique())
        return s
    except TypeError:
        return s.astype(str)
