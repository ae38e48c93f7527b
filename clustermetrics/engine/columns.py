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
