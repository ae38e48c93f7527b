"""Engines feed batches to the metrics' mergeable statistics.

- :mod:`.local`: a stored dataset, streamed from DuckDB in Arrow batches (imports the store);
- :mod:`.parquet`: Parquet files read in row groups, folded on one process or mapped by
- :mod:`.dask`: the same passes on a Dask cluster (``pip install clustermetrics[dask]``).

Names load lazily, so that importing one engine (a Dask worker importing :mod:`.parquet`)
does not import the others' dependencies (DuckDB, dask).
"""

from __future__ import annotations

import importlib

_LAZY = {"StoreSource": ".local", "ParquetSource": ".parquet", "evaluate_parquet": ".dask"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ParquetSource", "StoreSource", "evaluate_parquet"]
