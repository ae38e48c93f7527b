"""Field summaries and the breakdown against the ground truth, from grouped counts.

The grouping itself happens where the data lives (the store's SQL); these functions turn its
rows into the tables a person reads: shares and lift of each value, purity, the classes a
cluster mixes, the clusters a class is split across.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .misfits import _sortable

NUMERIC_COLUMNS = ["cluster", "field", "documents", "count", "mean", "median", "min", "max"]
VALUE_COLUMNS = ["cluster", "field", "rank", "value", "count", "share", "lift"]


def value_table(field: str, groups: pd.DataFrame, top: int) -> pd.DataFrame:
    """Top values per cluster with shares and lift.

    ``groups`` has columns cluster, value, n (every value's count in every cluster), or
    also value_total, cluster_total and total where only the top values came. Share is
    the value's part of the cluster's documents that have the field; lift is that share over
    the value's share among all the documents shown (clusters after the noise policy): 2.0
    means twice as common in the cluster as overall.
    """
    if groups.empty:
        return pd.DataFrame(columns=VALUE_COLUMNS)
    total: Any
    if "value_total" in groups:  # counted before the store cut each cluster's values
        total, per_value, per_cluster = (groups["total"], groups["value_total"],
                                         groups["cluster_total"])
    else:
        total = groups["n"].sum()
        per_value = groups.groupby("value", sort=False, dropna=False)["n"].transform("sum")
        per_cluster = groups.groupby("cluster", sort=False)["n"].transform("sum")
    out = groups.assign(share=groups["n"] / per_cluster,
                        lift=(groups["n"] / per_cluster) / (per_value / total))
    out = out.assign(_v=out["value"].astype(str)).sort_values(
        ["cluster", "n", "_v"], ascending=[True, False, True], kind="stable",
        key=lambda s: _sortable(s) if s.name == "cluster" else s)
    out = out.groupby("cluster", sort=False).head(top)
    out["rank"] = out.groupby("cluster", sort=False).cumcount() + 1
    out["field"] = field
    return out.rename(columns={"n": "count"})[VALUE_COLUMNS].reset_index(drop=True)


def truth_tables(pairs: pd.DataFrame, *, top: int = 3, min_share: float = 0.05
                 ) -> dict[str, pd.DataFrame]:
    """The breakdown of clusters against ground-truth classes.

    Parameters
    ----------
    pairs : DataFrame
        Columns cluster, value (the class), n.
    top : int
        Classes named per cluster.
    min_share : float
        A class counts as mixed into a cluster (or a cluster as holding a class) from this
        share on.

    Returns
    -------
    dict
        ``clusters``: cluster, size, purity (share of its top class), top_classes
        ("class (share)" text), classes (classes of at least ``min_share``), effective_classes
        (exp of the entropy). ``classes``: class, size, clusters (of at least ``min_share`` of
        the class), main_cluster, main_share, split_across ("cluster (share)" text of its ``top``
        clusters). ``merge``: pairs of clusters that share a
        class (cluster_a, cluster_b, class, shared: the smaller of the two counts, share of
        the smaller cluster), most shared first. ``split``: the clusters sorted by
        effective_classes, highest first, those with two or more classes only.
    """
    table = pairs.pivot_table(index="cluster", columns="value", values="n", aggfunc="sum",
                              fill_value=0)
    table = table.loc[sorted(table.index, key=_key)]
    counts = table.to_numpy(dtype=np.float64)
    classes = np.asarray(table.columns, dtype=object)
    sizes = counts.sum(axis=1)
    shares = counts / sizes[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.nansum(np.where(shares > 0, shares * np.log(shares), 0.0), axis=1)
    rows = []
    for i, cluster in enumerate(table.index):
        order = np.lexsort(([str(c) for c in classes], -counts[i]))
        named = [f"{classes[j]} ({shares[i, j]:.0%})" for j in order[:top] if counts[i, j] > 0]
        rows.append({"cluster": cluster, "size": int(sizes[i]),
                     "purity": float(shares[i].max()), "top_class": classes[order[0]],
                     "top_classes": ", ".join(named),
                     "classes": int((shares[i] >= min_share).sum()),
                     "effective_classes": float(np.exp(entropy[i]))})
    clusters = pd.DataFrame(rows)
    class_sizes = counts.sum(axis=0)
    by_class = counts / class_sizes[None, :]
    crow = []
    for j, cls in enumerate(classes):
        main = int(np.argmax(counts[:, j]))
        order = np.argsort(-counts[:, j], kind="stable")
        across = ", ".join(f"{table.index[i]} ({by_class[i, j]:.0%})" for i in order[:top]
                           if counts[i, j] > 0)
        crow.append({"class": cls, "size": int(class_sizes[j]),
                     "clusters": int((by_class[:, j] >= min_share).sum()),
                     "main_cluster": table.index[main], "main_share": float(by_class[main, j]),
                     "split_across": across})
    class_table = pd.DataFrame(crow)
    merge = []
    k = len(table.index)
    for a in range(k):
        for b in range(a + 1, k):
            shared = np.minimum(counts[a], counts[b])
            j = int(np.argmax(shared))
            if shared[j] <= 0:
                continue
            merge.append({"cluster_a": table.index[a], "cluster_b": table.index[b],
                          "class": classes[j], "shared": int(shared.sum()),
                          "share": float(shared.sum() / min(sizes[a], sizes[b]))})
    merge_table = pd.DataFrame(merge, columns=["cluster_a", "cluster_b", "class", "shared",
                                               "share"])
    merge_table = merge_table.sort_values(["share", "shared"], ascending=False,
                                          kind="stable").reset_index(drop=True)
    split = clusters[clusters["classes"] >= 2].sort_values(
        "effective_classes", ascending=False, kind="stable").reset_index(drop=True)
    return {"clusters": clusters, "classes": class_table, "merge": merge_table,
            "split": split[["cluster", "size", "purity", "classes", "effective_classes",
                            "top_classes"]]}


def _key(v):
    return (0, v, "") if isinstance(v, (int, np.integer)) else (1, 0, str(v))


def view_clusters(labels, ids, *, noise_label=None, noise: str = "exclude"
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(rows kept, their cluster names) under the noise policy, as the metrics name them:
    noise left out ("exclude"), one cluster ("cluster"), or each noise document a cluster of
    its own named ``"{noise_label}#{_id}"`` ("singletons")."""
    labels = np.asarray(labels, dtype=object)
    if noise_label is None:
        return np.arange(len(labels)), labels
    is_noise = np.array([str(v) == str(noise_label) for v in labels], dtype=bool)
    if noise == "exclude":
        keep = np.flatnonzero(~is_noise)
        return keep, labels[keep]
    names = labels.copy()
    if noise == "singletons":
        names[is_noise] = [f"{noise_label}#{i}" for i in np.asarray(ids, dtype=object)[is_noise]]
    return np.arange(len(labels)), names


def grouped_names(clusters, singles, noise_label) -> list:
    """Cluster names of the store's grouped rows: a singleton's is ``"{noise_label}#{_id}"``."""
    return [c if s is None else f"{noise_label}#{s}" for c, s in zip(clusters, singles,
                                                                       strict=True)]
