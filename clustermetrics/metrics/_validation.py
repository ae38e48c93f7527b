"""Checks on the vector array shared by the internal metrics."""

from __future__ import annotations

import numpy as np

from ..errors import InvalidInputError, rows_hint


def check_vectors(X, *, name: str = "X", row_offset: int = 0, row_ids=None) -> np.ndarray:
    """A 2-D float32/float64 array with finite values, or an error naming the bad rows.

    ``row_ids`` (document ids) or ``row_offset`` (batch start) make messages point at the
    user's own rows.
    """
    X = as_vectors(X)
    if X.ndim != 2:
        raise InvalidInputError(f"{name} must be 2-D (n_samples, n_features); got shape {X.shape}.")
    if X.dtype.kind not in "fiub":
        raise InvalidInputError(f"{name} must be numeric; got dtype {X.dtype}.")
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    if X.shape[1] == 0:
        raise InvalidInputError(f"{name} has 0 features; each sample needs a vector.")
    bad = nonfinite_rows(X)
    if len(bad):
        raise InvalidInputError(
            f"{name} has NaN or infinite values in {describe_rows(bad, row_offset, row_ids)}; "
            "drop or impute those rows first."
        )
    return X


def as_vectors(X) -> np.ndarray:
    """X as a dense numpy array; integer and boolean vectors as float64, floats kept."""
    if hasattr(X, "toarray"):  # scipy.sparse: the kernels here work on dense rows
        X = X.toarray()
    X = np.asarray(X)
    if X.dtype.kind in "iub":
        X = X.astype(np.float64)
    return X


def nonfinite_rows(X: np.ndarray) -> np.ndarray:
    """Indices of rows holding NaN or inf. A row sum is non-finite for every such row (and,
    rarely, on overflow), so only the suspects get the full element-wise check."""
    suspects = np.flatnonzero(~np.isfinite(X.sum(axis=1)))
    if not len(suspects):
        return suspects
    return suspects[~np.isfinite(X[suspects]).all(axis=1)]


def describe_rows(rows: np.ndarray, row_offset: int = 0, row_ids=None) -> str:
    if row_ids is not None:
        first = ", ".join(repr(str(row_ids[r])) for r in rows[:5])
        return f"{len(rows)} documents (first _id: {first})"
    return rows_hint((rows + row_offset).tolist(), "rows")


def check_same_length(X: np.ndarray, n_labels: int, name: str = "labels") -> None:
    if len(X) != n_labels:
        raise InvalidInputError(
            f"X has {len(X)} rows but {name} has {n_labels} entries; they must match one to one."
        )


def check_cluster_count(k: int, n: int) -> None:
    """scikit-learn's rule: 2 <= k <= n - 1."""
    if not 2 <= k <= n - 1:
        raise InvalidInputError(
            f"Number of labels is {k} for {n} samples. Valid values are 2 to n_samples - 1 "
            "(inclusive): internal metrics compare clusters with each other."
        )
