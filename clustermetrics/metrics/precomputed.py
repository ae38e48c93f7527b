"""evaluate() for a precomputed distance matrix: the metrics that need no feature vectors.

With ``metric="precomputed"`` X is the square matrix of distances between the samples. The
silhouette needs nothing else (:func:`~.silhouettes.silhouette` reads the matrix in blocks of
rows), and the external metrics need only the labels; Calinski-Harabasz and Davies-Bouldin are
built on centroids, which distances alone do not give, so they are left out: reported as NaN
("n/a" in the table), and the result says so.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidInputError
from .contingency import ContingencyStats
from .labels import check_noise_policy, encode_labels
from .result import ClusterMetrics
from .silhouettes import PRECOMPUTED, silhouette

NEED_FEATURES = ("calinski_harabasz", "davies_bouldin")
LEFT_OUT = ("Calinski-Harabasz and Davies-Bouldin need feature vectors (centroids) and are "
            "left out")


def evaluate_precomputed(D, labels, ground_truth=None, *, sample_size: int | None = None,
                         random_state=None, noise_label=None, noise: str | None = None,
                         working_memory: float | None = None) -> ClusterMetrics:
    """:func:`~.evaluate.evaluate` of a square distance matrix ``D`` (dense, memory-mapped or
    scipy.sparse): the silhouette and, with ``ground_truth``, the external metrics;
    ``calinski_harabasz`` and ``davies_bouldin`` are NaN (see the module docstring)."""
    noise = check_noise_policy(noise, noise_label)
    enc = encode_labels(labels, noise_label=noise_label, noise=noise)
    sil = silhouette(D, enc, metric=PRECOMPUTED, sample_size=sample_size,
                     random_state=random_state, working_memory=working_memory)
    scores = {"silhouette": sil.score, **{name: float("nan") for name in NEED_FEATURES}}
    counts = {"n_documents": len(enc.codes), "n_used": sil.n_samples,
              "n_clusters": len(sil.cluster_sizes), "n_missing_label": enc.n_missing,
              "n_noise": enc.n_noise, "n_scored": sil.n_scored}
    table = None
    if ground_truth is not None:
        table = ContingencyStats().update_encoded(
            encode_labels(ground_truth, name="ground truth"), enc)
        if table.n == 0:
            raise InvalidInputError(
                "No sample has both a cluster label and a ground truth value, so external "
                f"metrics cannot be computed ({table.n_missing_true} without ground truth)."
            )
        scores.update(table.scores())
        counts.update(n_external=table.n, n_classes=int(np.count_nonzero(
            np.asarray(table.table.sum(axis=1)).ravel())), n_missing_truth=table.n_missing_true)
    return ClusterMetrics(scores=scores, counts=counts, metric=PRECOMPUTED,
                          silhouette_ci=sil.ci, silhouette_method=f"{sil.method}; {LEFT_OUT}",
                          per_cluster=sil.per_cluster,
                          silhouette_detail=sil, contingency=table)
