"""Arrow columns as the numpy arrays a :class:`~clustermetrics.metrics.passes.Batch` takes.

Shared by the engines that read Arrow: the store's batches and Parquet row groups.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def label_values(col: pa.Array) -> np.ndarray:
    """Labels as numpy: ints stay ints when none is missing, strings as objects (None kept)."""
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    if col.null_count == 0 and (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
        return col.to_numpy(zero_copy_only=False)
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        return col.to_numpy(zero_copy_only=False)  # object array, None for missing
    return np.array(col.to_pylist(), dtype=object)


class ArrowIds:
    """A batch's document ids, kept as their Arrow strings: the Python strings are made only
    when something asks for them (an error message naming a row, ``np.asarray``), so a pass
    that names no row makes none (a million ids cost about 0.1 s to make and as much to
    free). Indexing by position gives a string, by slice another ``ArrowIds``."""

    __slots__ = ("_array", "_values")

    def __init__(self, array: pa.Array):
        self._array = array
        self._values: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self._array)

    def values(self) -> np.ndarray:
        """The ids as a numpy array of Python strings (made once)."""
        if self._values is None:
            self._values = self._array.to_numpy(zero_copy_only=False)
        return self._values

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        values = self.values()
        return values if dtype is None else values.astype(dtype, copy=False)

    def __getitem__(self, key):
        if isinstance(key, slice):
            return ArrowIds(self._array[key])
        return self.values()[key]

    def __iter__(self):
        return iter(self.values())

    @property
    def nbytes(self) -> int:
        """Bytes held: the Arrow buffers, and the Python strings once made (64 bytes each,
        as the pass cache counts them)."""
        made = 0 if self._values is None else 64 * len(self._values)
        return self._array.nbytes + made
