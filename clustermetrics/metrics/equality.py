"""Equality by value for the results that travel (through the codec, ``to_dict``, pickles).

Results hold floats that may be NaN, numpy arrays, DataFrames and sparse tables, for which
``==`` is elementwise or false (NaN != NaN) and the default object equality is identity. One
comparison, :func:`same_value`, defines "equal" for all of them: NaN equals NaN, arrays and
tables compare by shape, dtype kind and values, frames by columns, index and values.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp


def same_value(a: Any, b: Any) -> bool:
    """True when ``a`` and ``b`` hold the same value (NaN equal to NaN), recursively."""
    if a is b:
        return True
    if isinstance(a, (float, np.floating)) and isinstance(b, (float, np.floating)):
        return bool(a == b or (math.isnan(a) and math.isnan(b)))
    if isinstance(a, ValueEquality) or isinstance(b, ValueEquality):
        return type(a) is type(b) and same_value(a._value_state(), b._value_state())
    if isinstance(a, pd.DataFrame) or isinstance(b, pd.DataFrame):
        return (isinstance(a, pd.DataFrame) and isinstance(b, pd.DataFrame)
                and a.shape == b.shape and list(a.columns) == list(b.columns)
                and list(a.index.names) == list(b.index.names) and a.equals(b)
                and same_value(dict(a.attrs), dict(b.attrs)))
    if isinstance(a, pd.Index) or isinstance(b, pd.Index):
        return (isinstance(a, pd.Index) and isinstance(b, pd.Index) and a.name == b.name
                and a.equals(b))
    if sp.issparse(a) or sp.issparse(b):
        return (sp.issparse(a) and sp.issparse(b) and a.shape == b.shape
                and same_value(sp.coo_array(a).toarray(), sp.coo_array(b).toarray()))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)) or a.shape != b.shape:
            return False
        if a.dtype == object or b.dtype == object:
            return all(same_value(x, y) for x, y in zip(a.ravel().tolist(), b.ravel().tolist(),
                                                         strict=True))
        if a.dtype.kind in "fc" or b.dtype.kind in "fc":
            return bool(np.array_equal(a, b, equal_nan=True))
        return bool(np.array_equal(a, b))
    if isinstance(a, dict) or isinstance(b, dict):
        return (isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys()
                and all(same_value(a[k], b[k]) for k in a))
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return (type(a) is type(b) and len(a) == len(b)
                and all(same_value(x, y) for x, y in zip(a, b, strict=True)))
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        return type(a) is type(b) and all(
            same_value(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


class ValueEquality:
    """``==`` by value (:func:`same_value` over :meth:`_value_state`), for result classes.

    Results are mutable, so they are not hashable."""

    __hash__ = None  # type: ignore[assignment]

    def _value_state(self) -> dict[str, Any]:
        if dataclasses.is_dataclass(self):
            return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return dict(vars(self))

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return same_value(self, other)
