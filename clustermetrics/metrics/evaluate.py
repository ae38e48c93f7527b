"""evaluate(): every metric in one call, from one pipeline shared by all engines.

An engine hands :func:`evaluate_source` a *source*: an object whose ``batches()`` yields
:class:`Batch` objects (a fresh iterator on every call, one per pass) and whose ``materialize()``
returns the whole arrays. Pass 1 checks every batch and builds mergeable statistics
(per-cluster moments, contingency table), keeping only each batch's label codes; for cosine and
squared euclidean pass 2 scores every sample against the statistics and gathers
Davies-Bouldin's distances, so memory stays O(k d) plus one batch plus O(n) integers and
scores. Other metrics need pairwise distances and materialise the vectors once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from ..errors import InvalidInputError
from ._validation import as_vectors, check_cluster_count, check_same_length, check_vectors
from .clusterstats import ClusterStats
from .contingency import ContingencyStats
from .internal import DaviesBouldinStats, calinski_harabasz_from_stats
from .labels import Labels, check_noise_policy, encode_labels
from .result import ClusterMetrics
from .silhouettes import (LINEAR_METRICS, assemble, linear_silhouette, resolve_metric,
                         silhouette)

# (stage, rows done in this call, total rows; None while a stage cannot tell its length)
Progress = Callable[[str, int, int | None], None]


@dataclass
class Batch:
    X: Any
    labels: Any
    truth: Any = None
    ids: Any = None
    offset: int = 0  # row number of the batch's first row in the source


class Source(Protocol):
    n_rows: int
    has_truth: bool

    def batches(self) -> Iterator[Batch]: ...

    def materialize(self) -> Batch: ...


class ArraySource:
    """In-memory arrays as a source of one batch (no copies)."""

    def __init__(self, X, labels, truth=None, ids=None):
        self.X, self.labels, self.truth, self.ids = X, labels, truth, ids
        self.n_rows = len(X)
        self.has_truth = truth is not None

    def batches(self) -> Iterator[Batch]:
        yield self.materialize()

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
        As for :func:`silhouette`.
    noise_label, noise
        A label meaning "no cluster" (e.g. -1 from DBSCAN/HDBSCAN) and its policy: "exclude"
        (default: left out of every metric, coverage reported), "cluster" or "singletons".

    Returns
    -------
    ClusterMetrics
    """
    return evaluate_source(ArraySource(X, labels, ground_truth), metric=metric,
                           sample_size=sample_size, random_state=random_state,
                           noise_label=noise_label, noise=noise, working_memory=working_memory)


def evaluate_source(source: Source, *, metric: str = "euclidean", sample_size=None,
                    random_state=None, noise_label=None, noise=None, working_memory=None,
                    progress: Progress | None = None) -> ClusterMetrics:
    """:func:`evaluate` over any source of batches (see the module docstring)."""
    metric = resolve_metric(metric)
    noise = check_noise_policy(noise, noise_label)
    notify = progress or (lambda stage, done, total: None)
    n_total = source.n_rows

    def encoded(batch):
        X = check_vectors(batch.X, row_offset=batch.offset, row_ids=batch.ids)
        enc = encode_labels(batch.labels, noise_label=noise_label, noise=noise,
                            row_offset=batch.offset)
        check_same_length(X, len(enc.codes))
        return X, enc

    stats = ClusterStats(unit_sums=metric == "cosine")
    table = ContingencyStats() if source.has_truth else None
    n_docs = n_missing = n_noise = 0
    encodings = []  # each batch's label codes (n ints in all), for the second pass
    for batch in source.batches():
        X, enc = encoded(batch)
        encodings.append(enc)
        stats.update(X, enc, row_offset=batch.offset, row_ids=batch.ids)
        n_docs += len(X)
        n_missing += enc.n_missing
        n_noise += enc.n_noise
        if table is not None:
            table.update_encoded(encode_labels(batch.truth, name="ground truth"), enc)
        notify("statistics", len(X), n_total)
    if stats.mean is None or stats.n == 0:
        raise InvalidInputError(
            f"No samples to evaluate: {n_docs} rows, {n_missing} without a cluster label, "
            f"{n_noise} noise. Check the labels (or the cluster alias) given."
        )
    stats = stats.nonempty()
    check_cluster_count(stats.k, stats.n)

    db = DaviesBouldinStats(stats)
    if metric in LINEAR_METRICS:
        parts, rows, owns = [], [], []
        for batch, enc in zip(source.batches(), encodings, strict=True):  # checked in pass 1
            X = as_vectors(batch.X)
            codes = stats.codes_for(enc)
            keep = codes >= 0
            parts.append(linear_silhouette(X[keep] if not keep.all() else X, codes[keep],
                                           stats, metric))
            rows.append(batch.offset + np.flatnonzero(keep))
            owns.append(codes[keep])
            db.update(X, enc)
            notify("silhouette", len(X), n_total)
        sil = assemble(np.concatenate(rows), np.concatenate(owns),
                       tuple(np.concatenate(p) for p in zip(*parts)), stats.counts,
                       stats.categories, metric, "exact (cluster sums, O(n·k·d))")
    else:
        X = as_vectors(source.materialize().X)
        enc = Labels(np.concatenate([stats.codes_for(e) for e in encodings]), stats.categories)
        done = [0]

        def advance(fraction):  # the pairwise work, reported in rows like the other stages
            rows = min(n_total, round((done[0] + fraction) * n_total)) - round(done[0] * n_total)
            done[0] += fraction
            notify("silhouette", rows, n_total)

        sil = silhouette(X, enc, metric=metric, sample_size=sample_size,
                         random_state=random_state, working_memory=working_memory,
                         progress=advance)
        db.update(X, enc)

    scores = {"silhouette": sil.score, "calinski_harabasz": calinski_harabasz_from_stats(stats),
              "davies_bouldin": db.score()}
    counts = {"n_documents": n_docs, "n_used": stats.n, "n_clusters": stats.k,
              "n_missing_label": n_missing, "n_noise": n_noise, "n_scored": sil.n_scored}
    if table is not None:
        if table.n == 0:
            raise InvalidInputError(
                "No sample has both a cluster label and a ground truth value, so external "
                f"metrics cannot be computed ({table.n_missing_true} without ground truth)."
            )
        scores.update(table.scores())
        counts.update(n_external=table.n, n_classes=int(np.count_nonzero(
            np.asarray(table.table.sum(axis=1)).ravel())), n_missing_truth=table.n_missing_true)
    return ClusterMetrics(scores=scores, counts=counts, metric=metric, silhouette_ci=sil.ci,
                          silhouette_method=sil.method,
                          per_cluster=_per_cluster(sil, table),
                          silhouette_detail=sil, contingency=table,
                          centroids=pd.DataFrame(stats.mean, index=stats.categories))


def _per_cluster(sil, table: ContingencyStats | None) -> pd.DataFrame:
    df = sil.per_cluster.rename(columns={"mean": "silhouette"})
    if table is not None and table.n:
        dense = table.table.toarray()
        col = {c: i for i, c in enumerate(table.cols)}
        majority, share = [], []
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
