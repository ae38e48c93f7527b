"""Name rules shared by every side (client, CLI, server, store): what a dataset, field or alias
may be called, which fields are vectors, where labels live, and dotted names back into nested
documents."""

from __future__ import annotations

import re
from collections.abc import Iterable

from .errors import InvalidInputError

VECTOR_SUFFIX = "_vector_"


def counted(n: int, noun: str) -> str:
    """``n`` things as a message says them: "1 document", "2,000 documents"."""
    return f"1 {noun}" if n == 1 else f"{n:,} {noun}s"

CLUSTER_PREFIX = "_cluster_."
# \Z, not $: "$" also matches before a final newline, which would let "name\n" through
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]*\Z")


def check_name(name: str, what: str = "dataset name") -> str:
    if not isinstance(name, str) or not _NAME.match(name) or len(name) > 128:
        raise InvalidInputError(
            f"Invalid {what} {name!r}: use letters, digits, '_' and '-' (at most 128)."
        )
    return name


def is_vector_name(name: str, declared: Iterable[str] = ()) -> bool:
    return name.endswith(VECTOR_SUFFIX) or name in set(declared)


def label_column(vector_field: str, alias: str) -> str:
    return f"{CLUSTER_PREFIX}{vector_field}.{alias}"


def nest(row: dict) -> dict:
    """Dotted keys back into nested dicts; nulls of absent fields dropped."""
    out: dict = {}
    for key, value in row.items():
        if value is None:
            continue
        parts = key.split(".")
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return out
