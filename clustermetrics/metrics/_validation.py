"""Checks on the vector array shared by the internal metrics, and on options.

Where scikit-learn raises a ValueError for the same input, the message starts with
scikit-learn's own sentence (so code matching on it keeps working) and goes on with ours: which
rows, which documents, what to do.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np

from ..errors import InvalidInputError, InvalidParameterError, rows_hint


def check_vectors(X, *, name: str = "X", row_offset: int = 0, row_ids=None,
                  min_samples: int = 0, finite: bool = True) -> np.ndarray:
    """A 2-D float32/float64 array with finite values, or an error naming the bad rows.

    ``row_ids`` (document ids) or ``row_offset`` (batch start) make messages point at the
    user's own rows. ``min_samples=1`` refuses an empty array (the one-shot functions do, as
    scikit-learn; a batch of a stream may be empty). ``finite=False`` leaves the NaN/inf check to
    a pass that finds them on the way (:class:`ClusterStats` does, from its squared norms).
    """
    X = as_vectors(X, name=name)
    check_shape(X, name=name, min_samples=min_samples)
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    if finite:
        check_finite(X, name=name, row_offset=row_offset, row_ids=row_ids)
    return X


def check_finite(X: np.ndarray, rows: np.ndarray | None = None, *, name: str = "X",
                 row_offset: int = 0, row_ids=None) -> None:
    """NaN or inf in X (or in the given rows of it only) is an error naming the rows."""
    bad = nonfinite_rows(X) if rows is None else rows[nonfinite_rows(X[rows])]
    if len(bad):
        raise nonfinite_error(X[bad], bad, name=name, row_offset=row_offset, row_ids=row_ids)


def check_centred_squares(X: np.ndarray, *, name: str = "X", row_offset: int = 0,
                          row_ids=None) -> None:
    """Each row's squared distance to the mean row must fit X's precision (the euclidean
    kernel works on centred rows): else an error naming the rows whose own squares overflow
    (they move the mean far from every row), or the centred ones if none does. Chunks of
    rows, no copy of X."""
    center = X.mean(axis=0, dtype=np.float64)
    top = float(np.finfo(X.dtype).max)
    step = max(1, 2**23 // (8 * max(X.shape[1], 1)))

    def over(shift) -> np.ndarray:
        bad = [np.empty(0, np.int64)]
        with np.errstate(over="ignore", invalid="ignore"):
            for i in range(0, len(X), step):
                dev = X[i:i + step].astype(np.float64) - shift
                bad.append(i + np.flatnonzero(~(np.einsum("ij,ij->i", dev, dev) <= top)))
        return np.concatenate(bad)

    if len(over(center)):
        rows = over(0.0)
        rows = rows if len(rows) else over(center)
        raise nonfinite_error(X[rows], rows, name=name, row_offset=row_offset, row_ids=row_ids)


def nonfinite_error(values: np.ndarray, rows: np.ndarray, *, name: str = "X",
                    row_offset: int = 0, row_ids=None) -> InvalidInputError:
    """The error for ``rows`` of X (their ``values``) holding NaN or inf, or, found from
    squared norms, values whose squares overflow X's precision."""
    what = "NaN or infinite values"
    if np.isfinite(values).all():
        what = f"values whose squares overflow {values.dtype}"
    return InvalidInputError(
        f"{nonfinite_sentence(values, np.arange(len(values)), name)} {name} has {what} in "
        f"{describe_rows(rows, row_offset, row_ids)}; drop or impute those rows first."
    )


def check_shape(X, *, name: str = "X", min_samples: int = 0) -> None:
    """2-D, numeric, at least one feature (and ``min_samples`` rows): scikit-learn's sentences."""
    if X.ndim == 1 or X.ndim == 0:
        kind = "1D" if X.ndim == 1 else "scalar"
        raise InvalidInputError(
            f"Expected 2D array, got {kind} array instead: {name} has shape {X.shape}. {name} "
            "must be 2-D (n_samples, n_features); reshape your data either using "
            "array.reshape(-1, 1) if your data has a single feature or array.reshape(1, -1) if "
            "it contains a single sample."
        )
    if X.ndim > 2:
        raise InvalidInputError(
            f"Found array with dim {X.ndim}, while dim <= 2 is required. {name} must be 2-D "
            f"(n_samples, n_features); got shape {X.shape}."
        )
    if X.dtype.kind in "USV":
        raise InvalidInputError(
            "dtype='numeric' is not compatible with arrays of bytes/strings. Convert your data "
            f"to numeric values explicitly instead: {name} must be numeric; got dtype {X.dtype}."
        )
    if X.dtype.kind not in "fiub":
        raise InvalidInputError(f"{name} must be numeric; got dtype {X.dtype}.")
    if X.shape[0] < min_samples:
        raise InvalidInputError(
            f"Found array with {X.shape[0]} sample(s) (shape={X.shape}) while a minimum of "
            f"{min_samples} is required. {name} has no rows to score."
        )
    if X.shape[1] == 0:
        raise InvalidInputError(
            f"Found array with 0 feature(s) (shape={X.shape}) while a minimum of 1 is "
            f"required. {name} has 0 features; each sample needs a vector."
        )


def as_vectors(X, *, name: str = "X") -> np.ndarray:
    """X as a dense numpy array; integer and boolean vectors as float64, floats kept; objects
    converted to float64 when they are numbers."""
    if hasattr(X, "toarray"):  # scipy.sparse: the kernels here work on dense rows
        X = X.toarray()
    X = np.asarray(X)
    if X.dtype.kind in "iub":
        X = X.astype(np.float64)
    elif X.dtype.kind == "O":
        try:
            X = X.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"{exc}: {name} must be numeric; got dtype object.") from None
    return X


def nonfinite_sentence(X, bad_rows: np.ndarray, name: str = "X") -> str:
    """scikit-learn's sentence for the first kind of non-finite value it would report."""
    if np.isnan(X[bad_rows]).any():
        return f"Input {name} contains NaN."
    return f"Input {name} contains infinity or a value too large for {X.dtype!r}."


def nonfinite_rows(X: np.ndarray) -> np.ndarray:
    """Indices of rows holding NaN or inf. A row sum is non-finite for every such row (and,
    rarely, on overflow), so only the suspects get the full element-wise check."""
    with np.errstate(over="ignore", invalid="ignore"):  # such a row is only a suspect
        suspects = np.flatnonzero(~np.isfinite(X.sum(axis=1)))
    if not len(suspects):
        return suspects
    return suspects[~np.isfinite(X[suspects]).all(axis=1)]


def describe_rows(rows: np.ndarray, row_offset: int = 0, row_ids=None) -> str:
    if row_ids is not None:
        first = ", ".join(repr(str(row_ids[r])) for r in rows[:5])
        if len(rows) == 1:
            return f"1 document (_id {first})"
        return f"{len(rows)} document{'' if len(rows) == 1 else 's'} (first _id: {first})"
    return rows_hint((rows + row_offset).tolist(), "rows")


def check_same_length(X, n_labels: int, name: str = "labels") -> None:
    n = X.shape[0]  # len() is ambiguous for scipy.sparse
    if n != n_labels:
        raise InvalidInputError(
            f"Found input variables with inconsistent numbers of samples: [{n}, {n_labels}]. "
            f"X has {n} rows but {name} has {n_labels} entries; they must match one to one."
        )


def check_cluster_count(k: int, n: int) -> None:
    """scikit-learn's rule: 2 <= k <= n - 1."""
    if not 2 <= k <= n - 1:
        raise InvalidInputError(
            f"Number of labels is {k}. Valid values are 2 to n_samples - 1 (inclusive); here "
            f"n_samples is {n}: internal metrics compare clusters with each other."
        )


# -- options (scikit-learn's InvalidParameterError sentences) ------------------------------------

def param_error(param: str, func: str, allowed: str, value) -> InvalidParameterError:
    return InvalidParameterError(
        f"The {param!r} parameter of {func} must be {allowed}. Got {value!r} instead."
    )


def check_str_option(value, options, *, param: str, func: str) -> None:
    if not isinstance(value, str) or value not in options:
        among = "{" + ", ".join(repr(o) for o in options) + "}"
        raise param_error(param, func, f"a str among {among}", value)


def check_positive_int_or_none(value, *, param: str, func: str) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise param_error(param, func, "an int in the range [1, inf) or None", value)


def check_non_negative_float(value, *, param: str, func: str, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, Real) or not float(value) >= 0:
        allowed = "a float in the range [0.0, inf)" + (" or None" if allow_none else "")
        raise param_error(param, func, allowed, value)
