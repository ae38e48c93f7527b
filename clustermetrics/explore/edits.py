"""Edits of a clustering that make a new label vector (the caller stores it as a new alias,
the old one untouched): merge clusters, relabel them, split one by a subclustering."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ..errors import InvalidInputError, NotFoundError
from ..metrics.labels import same_label


def plain_label(v: Any, what: str = "a label") -> Any:
    """A label as the store keeps it: an int or a str."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, bool) or not isinstance(v, (int, str)):
        raise InvalidInputError(f"{what} must be an int or a str; got {v!r}.")
    return v


def find_cluster(value: Any, known: Iterable[Any], alias: str, noise_label: Any = None) -> Any:
    """The stored label that ``value`` names (an int matches its text either way), or a
    NotFoundError that lists the clusters; the noise label (left out of ``known``) is said to
    be noise, not a cluster."""
    known = list(known)
    for k in known:
        if same_label(k, value):
            return k
    if noise_label is not None and same_label(value, noise_label):
        raise InvalidInputError(f"{value!r} is the noise label of alias {alias!r}, which is no "
                                "cluster (noise='cluster' counts the noise as one).")
    raise NotFoundError("cluster", str(value), [str(k) for k in known], f" in alias {alias!r}")


def merged(labels: np.ndarray, groups: Iterable[Iterable[Any]], *, alias: str,
           noise_label: Any = None) -> tuple[np.ndarray, dict[Any, Any]]:
    """Labels with each group of clusters made one, named by the group's first cluster.

    Returns the new labels and ``{old: new}`` for the clusters that changed. A group of
    fewer than two clusters, a cluster in two groups, an unknown cluster or the noise label
    is refused, naming it.
    """
    known = _clusters(labels, noise_label)
    listed: list[list[Any]] = [list(g) for g in check_groups(groups)]
    mapping: dict[Any, Any] = {}
    seen: set = set()
    for g in listed:
        if len(g) < 2:
            raise InvalidInputError(f"Each group must name two clusters or more to merge; got "
                                    f"{g!r}.")
        if noise_label is not None and any(same_label(c, noise_label) for c in g):
            raise InvalidInputError(f"Group {g!r} names the noise label {noise_label!r}, which "
                                    "is no cluster; relabel it instead to make it one.")
        found = [find_cluster(c, known, alias) for c in g]
        for c in found:
            if c in seen:
                raise InvalidInputError(f"Cluster {c!r} is in two groups; each cluster may be "
                                        "merged once.")
            seen.add(c)
        for c in found[1:]:
            mapping[c] = found[0]
    return _apply(labels, mapping), mapping


def relabelled(labels: np.ndarray, mapping: Mapping[Any, Any], *,
               alias: str) -> tuple[np.ndarray, dict[Any, Any]]:
    """Labels renamed by ``{old: new}`` (two old labels given one new one are merged);
    labels not in the mapping keep theirs. The noise label may be renamed too."""
    if not isinstance(mapping, Mapping) or not mapping:
        raise InvalidInputError("mapping must be a non-empty dict {old label: new label}.")
    known = _clusters(labels, None)
    out = {}
    for old, new in mapping.items():
        out[find_cluster(plain_label(old, "an old label"), known, alias)] = \
            plain_label(new, f"the new label of {old!r}")
    return _apply(labels, out), out


def split(labels: np.ndarray, members: np.ndarray, cluster: Any, sub: np.ndarray, *,
          sub_noise: Any, noise_label: Any) -> tuple[np.ndarray, dict[Any, Any], Any]:
    """Labels with the rows ``members`` of ``cluster`` given the subclustering ``sub`` (one
    label per member, in order).

    Integer labels get new integers after the largest one; text labels become
    ``"{cluster}.{i}"``. Members the subclusterer calls noise (``sub_noise``) get the alias's
    noise label, or the subclusterer's where the alias has none. Returns the labels, ``{sub
    label: new label}`` and the noise label of the new alias.
    """
    present = [s for s in dict.fromkeys(np.asarray(sub).tolist())
               if not (sub_noise is not None and same_label(s, sub_noise))]
    ints = [v for v in labels if isinstance(v, (int, np.integer)) and not isinstance(v, bool)]
    names: dict[Any, Any]
    if ints and len(ints) == len(labels):
        start = max(int(v) for v in ints) + 1
        names = {s: start + i for i, s in enumerate(sorted(present, key=str))}
    else:
        names = {s: f"{cluster}.{i}" for i, s in enumerate(sorted(present, key=str))}
        taken = [n for n in names.values() if any(str(v) == n for v in labels)]
        if taken:
            raise InvalidInputError(
                f"Splitting cluster {cluster!r} would name a part {taken[0]!r}, a label the "
                "alias has; relabel that cluster first.")
    new_noise = noise_label
    has_noise = sub_noise is not None and any(same_label(s, sub_noise) for s in sub)
    if has_noise and new_noise is None:
        new_noise = plain_label(sub_noise, "the subclusterer's noise label")
        if any(same_label(v, new_noise) for v in labels if not same_label(v, cluster)):
            raise InvalidInputError(
                f"The subclusterer's noise label {new_noise!r} is a cluster of the alias; "
                "record a noise label for the alias first (relabel), or use a model "
                "without noise.")
    out = np.asarray(labels, dtype=object).copy()
    out[members] = [new_noise if has_noise and same_label(s, sub_noise) else names[s]
                    for s in np.asarray(sub).tolist()]
    return _typed(out), names, new_noise


def check_groups(groups) -> list:
    """``groups`` as a list of groups of clusters, or the error that shows the shape."""
    if isinstance(groups, (str, bytes)) or not isinstance(groups, Iterable):
        raise InvalidInputError(f"groups must be a list of lists of clusters, e.g. [[1, 4], "
                                f"[2, 7]]; got {groups!r}.")
    groups = list(groups)
    if not groups:
        raise InvalidInputError("groups is empty; give the clusters to merge, e.g. [[1, 4]].")
    for g in groups:
        if isinstance(g, (str, bytes)) or not isinstance(g, Iterable):
            raise InvalidInputError(f"groups must be a list of lists of clusters, e.g. "
                                    f"[[1, 4], [2, 7]]; got the group {g!r}.")
    return groups


def _clusters(labels: np.ndarray, noise_label: Any) -> list:
    values = list(dict.fromkeys(np.asarray(labels, dtype=object).tolist()))
    return [v for v in values if noise_label is None or not same_label(v, noise_label)]


def _apply(labels: np.ndarray, mapping: dict) -> np.ndarray:
    out = np.asarray(labels, dtype=object).copy()
    for old, new in mapping.items():
        out[[same_label(v, old) for v in out]] = new
    return _typed(out)


def _typed(labels: np.ndarray) -> np.ndarray:
    """Integer labels as int64 (the store keeps a BIGINT column), else text."""
    values = labels.tolist()
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=np.int64)
    return np.asarray([str(v) for v in values], dtype=object)
