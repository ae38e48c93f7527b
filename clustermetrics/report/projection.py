"""2-D and 3-D projections of sampled vectors for the report's scatter plots."""

from __future__ import annotations

import numpy as np

from ..errors import InvalidInputError

METHODS = ("pca", "tsne")


def check_method(method: str) -> None:
    if method not in METHODS:
        raise InvalidInputError(f"projection={method!r} is not one of {', '.join(METHODS)}.")


def project(X: np.ndarray, method: str = "pca", random_state: int = 0):
    """``(coords_2d, coords_3d, description)`` of the rows of X.

    ``"pca"`` (default) is linear and fast; ``"tsne"`` (scikit-learn's Barnes-Hut t-SNE) keeps
    neighbourhoods and shows cluster structure better, at seconds per thousand points.
    """
    check_method(method)
    X = np.asarray(X, dtype=np.float64)
    if method == "pca":
        from sklearn.decomposition import PCA
        k = min(3, X.shape[0], X.shape[1])
        pca = PCA(n_components=k, random_state=random_state).fit(X)
        coords = np.zeros((len(X), 3))
        coords[:, :k] = pca.transform(X)
        share = ", ".join(f"{v:.0%}" for v in pca.explained_variance_ratio_)
        return coords[:, :2], coords, f"PCA; variance explained by the components: {share}"
    from sklearn.manifold import TSNE
    perplexity = float(min(30.0, max(2.0, (len(X) - 1) / 3)))

    def tsne(dims):
        return TSNE(n_components=dims, init="pca", perplexity=perplexity,
                    random_state=random_state).fit_transform(X)

    return tsne(2), tsne(3), f"t-SNE (perplexity {perplexity:g})"
