"""Clustering that produces aliases: k-means (scikit-learn), seeded and reproducible."""

from __future__ import annotations

import numpy as np

from .errors import InvalidInputError

MINIBATCH_ABOVE = 100_000  # rows; MiniBatchKMeans beyond this keeps k-means to seconds


def kmeans(X: np.ndarray, k: int, *, random_state: int = 0, minibatch: bool | None = None):
    """Labels (int64), centroids (k, d) and a description of the run.

    Full k-means (Lloyd, k-means++ init) up to ``MINIBATCH_ABOVE`` rows, MiniBatchKMeans beyond
    (or as ``minibatch`` says).
    """
    from sklearn.cluster import KMeans, MiniBatchKMeans

    if not isinstance(k, (int, np.integer)) or k < 2:
        raise InvalidInputError(f"k must be an integer >= 2; got {k!r}.")
    if k > len(X):
        raise InvalidInputError(f"k={k} is more than the {len(X)} documents with vectors.")
    use_minibatch = len(X) > MINIBATCH_ABOVE if minibatch is None else minibatch
    if use_minibatch:
        model = MiniBatchKMeans(n_clusters=int(k), random_state=random_state, n_init=3,
                                batch_size=4096)
    else:
        model = KMeans(n_clusters=int(k), random_state=random_state, n_init="auto")
    labels = model.fit_predict(X)
    params = {"k": int(k), "random_state": random_state, "inertia": float(model.inertia_),
              "n_iter": int(model.n_iter_)}
    method = "minibatch_kmeans" if use_minibatch else "kmeans"
    return labels.astype(np.int64), model.cluster_centers_, method, params
