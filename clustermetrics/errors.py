"""The errors clustermetrics raises.

Every error a user can cause derives from :class:`ClusterMetricsError`, so one ``except`` catches
them all, and each also derives from the builtin a Python user would expect::

    ClusterMetricsError
    ├── InvalidInputError (ValueError)      arrays, labels or options that cannot be used
    │   └── SchemaError                     documents that do not fit a dataset's schema
    ├── NotFoundError (LookupError)         an unknown dataset, field or alias
    ├── StoreLockedError                    the store file is held by another process
    └── MissingDependencyError (ImportError) an optional extra is not installed

Messages say what was wrong, where (field, document id, row) and what to do.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

__all__ = [
    "ClusterMetricsError",
    "InvalidInputError",
    "SchemaError",
    "NotFoundError",
    "StoreLockedError",
    "MissingDependencyError",
]


class ClusterMetricsError(Exception):
    """Base of every error clustermetrics raises on purpose."""


class InvalidInputError(ClusterMetricsError, ValueError):
    """Input arrays, labels or options that cannot be used as given."""


class SchemaError(InvalidInputError):
    """Documents that do not fit the dataset: wrong vector length, duplicate ``_id``, ..."""


class NotFoundError(ClusterMetricsError, LookupError):
    """An unknown dataset, field or alias. The message lists what exists and the closest match."""

    def __init__(self, kind: str, name: str, existing: Iterable[str], where: str = ""):
        self.kind, self.name, self.existing = kind, name, sorted(existing)
        msg = f"{kind} {name!r} not found{where}."
        close = difflib.get_close_matches(name, self.existing, n=1)
        if close:
            msg += f" Did you mean {close[0]!r}?"
        if self.existing:
            msg += f" Existing: {_short_list(self.existing)}."
        else:
            msg += f" There are no {kind}s yet."
        super().__init__(msg)

    def __str__(self) -> str:  # LookupError would quote the message
        return self.args[0]


class StoreLockedError(ClusterMetricsError):
    """The store file is opened read-write by another process."""


class MissingDependencyError(ClusterMetricsError, ImportError):
    """An optional extra is needed: the message names the ``pip install`` line."""


def _short_list(items: Sequence[object], limit: int = 10) -> str:
    shown = ", ".join(repr(i) if isinstance(i, str) else str(i) for i in items[:limit])
    return shown + (f", ... ({len(items)} in all)" if len(items) > limit else "")


def rows_hint(rows: Sequence[int], what: str = "rows") -> str:
    """``'3 rows (first: 0, 5, 9)'`` for a message naming offending rows."""
    rows = list(rows)
    return f"{len(rows)} {what} (first: {_short_list(rows, 5)})"
