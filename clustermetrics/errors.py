"""The errors clustermetrics raises.

Every error a user can cause derives from :class:`ClusterMetricsError`, so one ``except`` catches
them all, and each also derives from the builtin a Python user would expect::

    ClusterMetricsError                     code             HTTP
    ├── InvalidInputError (ValueError)      invalid_input    422  arrays, labels, options
    │   ├── InvalidParameterError (TypeError) invalid_parameter 422  an option out of range
    │   ├── SchemaError                     schema           422  documents that do not fit
    │   ├── TooLargeError                   too_large        413  a request body over the limit
    │   └── LimitError                      over_limit       422  work beyond a server's limits
    ├── NotFoundError (LookupError)         not_found        404  an unknown dataset, field, alias
    ├── StoreLockedError                    store_locked     409  the file is held elsewhere
    ├── StoreError                          store_error      500  the store failed to read/write
    ├── MissingDependencyError (ImportError) missing_dependency 501  an optional extra is missing
    ├── AuthenticationError (PermissionError) unauthorized   401  no, a wrong or a revoked key
    ├── CancelledError                      cancelled        409  a job cancelled before its end
    ├── TooManyJobsError                    too_many_jobs    429  a project's job queue is full
    ├── WorkerCrashedError                  worker_crashed   500  a job's worker process died
    └── ServerError (ConnectionError)       server_error     502  a server that cannot be reached

Messages say what was wrong, where (field, document id, row) and what to do. Where a result
can still be computed but something looks wrong, a :class:`ClusterMetricsWarning` (UserWarning)
is issued instead. Every error has a
stable ``code`` (for HTTP status codes and clients in other languages), pickles, and comes back
equal from :mod:`clustermetrics.api.codec`. Where scikit-learn raises a ValueError for the same
input, the message starts with scikit-learn's sentence, so code written against it keeps matching.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

__all__ = [
    "ERRORS",
    "AuthenticationError",
    "CancelledError",
    "ClusterMetricsError",
    "ClusterMetricsWarning",
    "InvalidInputError",
    "InvalidParameterError",
    "LimitError",
    "MissingDependencyError",
    "NotFoundError",
    "SchemaError",
    "ServerError",
    "StoreError",
    "StoreLockedError",
    "TooLargeError",
    "TooManyJobsError",
    "WorkerCrashedError",
    "restore_error",
]


class ClusterMetricsError(Exception):
    """Base of every error clustermetrics raises on purpose."""

    code = "error"
    http_status = 500

    def __reduce__(self):
        # subclasses take other arguments than the message: rebuild from message and state
        return (_restore, (type(self), str(self), dict(self.__dict__)))

    def __eq__(self, other: object) -> bool:
        return (type(self) is type(other) and str(self) == str(other)
                and self.__dict__ == other.__dict__)

    def __hash__(self) -> int:
        return hash((type(self), str(self)))


class InvalidInputError(ClusterMetricsError, ValueError):
    """Input arrays, labels or options that cannot be used as given."""

    code, http_status = "invalid_input", 422


class InvalidParameterError(InvalidInputError, TypeError):
    """An option outside its allowed values; like scikit-learn's ``InvalidParameterError``,
    both a ValueError and a TypeError."""

    code = "invalid_parameter"


class SchemaError(InvalidInputError):
    """Documents that do not fit the dataset: wrong vector length, duplicate ``_id``, ..."""

    code = "schema"


class NotFoundError(ClusterMetricsError, LookupError):
    """An unknown dataset, field or alias. The message lists what exists and the closest match."""

    code, http_status = "not_found", 404

    def __init__(self, kind: str, name: str, existing: Iterable[str], where: str = ""):
        self.kind, self.name, self.existing = kind, name, sorted(existing)
        msg = f"{kind} {name!r} not found{where}."
        close = [e for e in self.existing if e.lower() == name.lower()] or \
            difflib.get_close_matches(name, self.existing, n=1)
        if close:
            msg += f" Did you mean {close[0]!r}?"
        if self.existing:
            msg += f" Existing: {_short_list(self.existing)}."
        else:
            plural = kind + ("es" if kind.endswith("s") else "s")
            msg += f" There are no {plural} yet."
        super().__init__(msg)

    def __str__(self) -> str:  # LookupError would quote the message
        return self.args[0]


class StoreLockedError(ClusterMetricsError):
    """The store file is opened read-write by another process."""

    code, http_status = "store_locked", 409


class StoreError(ClusterMetricsError):
    """The store could not be opened, read or written (a path that is a folder or not a store,
    a damaged file, a full disk, a closed client, ...)."""

    code, http_status = "store_error", 500


class MissingDependencyError(ClusterMetricsError, ImportError):
    """An optional extra is needed: the message names the ``pip install`` line."""

    code, http_status = "missing_dependency", 501

    def __str__(self) -> str:  # ImportError's str is its first argument too, kept explicit
        return self.args[0] if self.args else ""


class TooLargeError(InvalidInputError):
    """A request body beyond the server's limit: send the documents in smaller batches."""

    code, http_status = "too_large", 413


class LimitError(InvalidInputError):
    """Work sized beyond a server's limits (resamples, grid size, rows of a quadratic model,
    a job's memory or time): the message names the limit and the ``clustermetrics serve``
    option that raises it."""

    code = "over_limit"


class AuthenticationError(ClusterMetricsError, PermissionError):
    """The server refused the request's API key (none, a wrong one, or a revoked one)."""

    code, http_status = "unauthorized", 401


class CancelledError(ClusterMetricsError):
    """A server job was cancelled before it finished; nothing of it was written."""

    code, http_status = "cancelled", 409


class TooManyJobsError(ClusterMetricsError):
    """A project has as many jobs queued as the server allows: wait for some to finish."""

    code, http_status = "too_many_jobs", 429


class WorkerCrashedError(ClusterMetricsError):
    """The worker process that ran a job's fit died (a native crash, or memory beyond the
    job's limit that ended it): the job failed, the server goes on."""

    code, http_status = "worker_crashed", 500


class ServerError(ClusterMetricsError, ConnectionError):
    """A server that cannot be reached, or that answered something other than this API."""

    code, http_status = "server_error", 502


class ClusterMetricsWarning(UserWarning):
    """Something looks wrong but a result was still computed (a noise label that occurs
    nowhere, ...). The command line prints it as one line starting with ``Warning:``."""


ERRORS: dict[str, type[ClusterMetricsError]] = {
    cls.code: cls for cls in (ClusterMetricsError, InvalidInputError, InvalidParameterError,
                              SchemaError, NotFoundError, StoreLockedError, StoreError,
                              MissingDependencyError, TooLargeError, LimitError,
                              AuthenticationError, CancelledError, TooManyJobsError,
                              WorkerCrashedError, ServerError)
}


def _restore(cls: type[ClusterMetricsError], message: str, state: dict) -> ClusterMetricsError:
    """An error of class ``cls`` with this message and attributes, without calling its
    ``__init__`` (whose arguments differ between classes)."""
    exc = cls.__new__(cls)
    Exception.__init__(exc, message)
    exc.__dict__.update(state)
    return exc


def restore_error(code: str, message: str, state: dict | None = None) -> ClusterMetricsError:
    """The error a ``code`` names (unknown codes give the base class), with its message."""
    return _restore(ERRORS.get(code, ClusterMetricsError), message, state or {})


def _short_list(items: Sequence[object], limit: int = 10) -> str:
    shown = ", ".join(repr(i) if isinstance(i, str) else str(i) for i in items[:limit])
    return shown + (f", ... ({len(items)} in all)" if len(items) > limit else "")


def rows_hint(rows: Sequence[int], what: str = "rows") -> str:
    """``'3 rows (first: 0, 5, 9)'``, or ``'1 row (7)'``, for a message naming offending
    rows (``what``: the plural; one of them drops its final s)."""
    rows = list(rows)
    if len(rows) == 1:
        return f"1 {what[:-1] if what.endswith('s') else what} ({rows[0]})"
    return f"{len(rows)} {what} (first: {_short_list(rows, 5)})"
