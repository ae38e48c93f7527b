"""Label encoding: values -> integer codes by hashing, with missing labels and noise policies.

Codes are ``0..k-1`` for clusters (categories sorted when the values are sortable, as
scikit-learn's ``np.unique`` orders them), ``MISSING`` for None / NaN / empty string and ``NOISE``
for the noise label under ``noise="exclude"``. Encoding hashes (``pandas.factorize``) instead of
sorting all n values; only the k distinct values are sorted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import InvalidInputError

MISSING = -1
NOISE = -2
NOISE_POLICIES = ("exclude", "cluster", "singletons")


@dataclass(frozen=True, eq=False)
class Labels:
    """Encoded labels: ``codes`` (int64, one per sample) and ``categories`` (one per code)."""

    codes: np.ndarray
    categories: np.ndarray

    @property
    def k(self) -> int:
        return len(self.categories)

    @property
    def valid(self) -> np.ndarray:
        return self.codes >= 0

    @property
    def n_missing(self) -> int:
        return int(np.count_nonzero(self.codes == MISSING))

    @property
    def n_noise(self) -> int:
        return int(np.count_nonzero(self.codes == NOISE))

    def counts(self) -> np.ndarray:
        return np.bincount(self.codes[self.valid], minlength=self.k)


def as_label_array(values, name: str = "labels") -> np.ndarray:
    """A 1-D numpy array from a list, array, pandas Series / Index / array or Arrow array."""
    if isinstance(values, pd.api.extensions.ExtensionArray):  # e.g. a column's .values
        values = pd.Series(values, copy=False)
    if isinstance(values, (pd.Series, pd.Index)):
        arr = np.asarray(values.to_numpy())
    elif hasattr(values, "to_numpy") and not isinstance(values, np.ndarray):  # pyarrow
        arr = np.asarray(values.to_numpy(zero_copy_only=False))
    elif isinstance(values, (list, tuple)):
        arr = _from_sequence(values)
    else:
        arr = np.asarray(values)
    if arr.ndim != 1:
        raise InvalidInputError(_not_1d(name, arr.shape))
    return arr


def _not_1d(name: str, shape) -> str:
    """scikit-learn's sentence (check_clusterings for the external metrics, check_X_y's ``y``
    for the internal ones), then ours."""
    ours = f"{name} must be one-dimensional (one label per sample); got shape {shape}."
    if name in ("labels_true", "labels_pred"):
        return f"{name} must be 1D: shape is {shape!r}. {ours}"
    if name == "labels":
        return f"y should be a 1d array, got an array of shape {shape} instead. {ours}"
    return ours


def _from_sequence(values) -> np.ndarray:
    arr = np.asarray(values, dtype=object) if any(v is None for v in values) else np.asarray(values)
    if arr.ndim != 1 and all(isinstance(v, tuple) for v in values):
        out = np.empty(len(values), dtype=object)  # tuples as labels: one object per sample
        out[:] = list(values)
        return out
    return arr


def encode_labels(values, *, noise_label=None, noise: str | None = None,
                  name: str = "labels", row_offset: int = 0, row_names=None) -> Labels:
    """Encode labels; ``noise_label`` values follow ``noise`` (default ``"exclude"``). The noise
    label matches by value, and an integer matches its text either way (``"-1"`` and ``-1``).

    - ``"exclude"``: noise samples get code ``NOISE`` and are left out of every metric.
    - ``"cluster"``: the noise label is one cluster like any other (scikit-learn's behaviour).
    - ``"singletons"``: each noise sample is a cluster of its own, named ``"{noise_label}#{row}"``
      (``row_offset`` makes the row numbers global when a batch is part of a larger dataset;
      ``row_names``, one per row, names them instead, such as document ids).
    """
    noise = check_noise_policy(noise, noise_label)
    categorical = _as_categorical(values)
    arr = None if categorical is not None else as_label_array(values, name)
    if categorical is not None:  # already encoded: reuse pandas' codes, no hashing
        codes = categorical.codes.astype(np.int64)
        uniques = np.asarray(categorical.categories, dtype=object)
    elif arr is None:  # pragma: no cover - arr is only None beside a categorical
        raise AssertionError(name)
    elif arr.dtype.kind in "iu" and len(arr) and _dense_range(arr):
        codes, uniques = _factorize_dense(arr)
    elif arr.dtype.kind in "iub":
        codes, uniques = pd.factorize(arr, sort=False)
    elif arr.dtype.kind in "fc":
        codes, uniques = pd.factorize(arr, sort=False, use_na_sentinel=True)
    elif arr.dtype.kind in "OUSTV" or isinstance(arr.dtype, pd.api.extensions.ExtensionDtype):
        codes, uniques = pd.factorize(arr.astype(object, copy=False), use_na_sentinel=True)
    else:
        raise InvalidInputError(f"{name} have unsupported dtype {arr.dtype}; use ints or strings.")
    codes = codes.astype(np.int64, copy=False)
    uniques = np.asarray(uniques, dtype=object if uniques.dtype.kind in "OUST" else uniques.dtype)

    drop = [i for i, u in enumerate(uniques) if isinstance(u, str) and u == ""]
    noise_code = None
    if noise_label is not None:
        hits = [i for i, u in enumerate(uniques) if same_label(u, noise_label)]
        if hits and noise != "cluster":
            noise_code = hits[0]
            drop.append(noise_code)
    codes, uniques = _drop_and_sort(codes, uniques, drop, noise_code)
    if noise == "singletons":
        rows = np.flatnonzero(codes == NOISE)
        codes = codes.copy()  # may be the caller's own integer array
        codes[rows] = len(uniques) + np.arange(len(rows))
        names = np.array([f"{noise_label}#{r + row_offset}" for r in rows] if row_names is None
                         else [f"{noise_label}#{row_names[r]}" for r in rows], dtype=object)
        uniques = np.concatenate([uniques.astype(object), names])
    return Labels(codes, uniques)


def _as_categorical(values) -> pd.Categorical | None:
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
        values = values.array
    if isinstance(values, pd.Categorical):
        return values.remove_unused_categories()
    return None


def _dense_range(arr: np.ndarray) -> bool:
    span = int(arr.max()) - int(arr.min())
    return span < max(1 << 20, 2 * len(arr))


def _factorize_dense(arr: np.ndarray):
    """Integer labels over a small range: codes by offset and bincount, uniques come sorted
    (no hashing and no sorting of n values)."""
    lo = int(arr.min())
    shifted = arr.astype(np.int64, copy=False) if lo == 0 else arr.astype(np.int64) - lo
    present = np.bincount(shifted) > 0
    uniques = np.flatnonzero(present) + lo
    if present.all():  # labels 0..k-1 (plus offset): the shifted values are the codes
        return shifted, uniques
    return (np.cumsum(present) - 1)[shifted], uniques


def check_noise_policy(noise: str | None, noise_label) -> str:
    if noise is None:
        return "exclude"
    if noise not in NOISE_POLICIES:
        raise InvalidInputError(
            f"noise={noise!r} is not a noise policy; use one of {', '.join(NOISE_POLICIES)}."
        )
    if noise != "exclude" and noise_label is None:
        raise InvalidInputError(f"noise={noise!r} needs noise_label= (for example -1).")
    return noise


def same_label(value, noise_label) -> bool:
    """Whether ``value`` is the noise label: equal, or the same integer once as a number and
    once as text, so ``"-1"`` (as a command line gives it) matches integer labels -1 and ``-1``
    matches string labels ``"-1"``. Booleans are never noise."""
    if isinstance(value, (bool, np.bool_)) or isinstance(noise_label, (bool, np.bool_)):
        return False
    try:
        if bool(value == noise_label):
            return True
    except (TypeError, ValueError):
        pass
    as_int = _integer_text(value)
    return as_int is not None and as_int == _integer_text(noise_label)


def _integer_text(v) -> str | None:
    """'-1' for -1, -1.0 or ' -1 '; None for anything that is not an integer."""
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)) and np.isfinite(v) and float(v).is_integer():
        return str(int(v))
    if isinstance(v, str):
        try:
            return str(int(v.strip()))
        except ValueError:
            return None
    return None


def _drop_and_sort(codes: np.ndarray, uniques: np.ndarray, drop: list[int], noise_code):
    """Drop the ``drop`` categories (empty string -> MISSING, noise -> NOISE) and sort the rest."""
    keep = np.setdiff1d(np.arange(len(uniques)), drop)
    kept = uniques[keep]
    try:
        order = np.argsort(kept, kind="stable")
    except TypeError:  # mixed types: keep order of appearance
        order = np.arange(len(kept))
    remap = np.full(len(uniques) + 1, MISSING, dtype=np.int64)  # last slot: code -1 stays -1
    remap[keep[order]] = np.arange(len(kept))
    if noise_code is not None:
        remap[noise_code] = NOISE
    if len(drop) or not np.array_equal(order, np.arange(len(kept))):
        codes = remap[codes]
    return codes, kept[order]


def align(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Union of two category arrays, and where each of ``a`` and ``b`` sits in it.

    The statistics key their tables on label values (not codes) so that batches encoded
    separately can be merged.
    """
    if len(a) == len(b) and (a.dtype == b.dtype) and np.array_equal(a, b):
        idx = np.arange(len(a))
        return a, idx, idx
    both = np.concatenate([a.astype(object), b.astype(object)]) if a.dtype != b.dtype else \
        np.concatenate([a, b])
    codes, uniques = pd.factorize(both)
    uniques = np.asarray(uniques, dtype=both.dtype)
    try:
        order = np.argsort(uniques, kind="stable")
    except TypeError:
        order = np.arange(len(uniques))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    codes = rank[codes]
    return uniques[order], codes[: len(a)], codes[len(a):]
