"""The facade: Client, Dataset and ``client.vector_tools.cluster``.

The CLI, notebooks (and later the server) all go through these calls; the Client calls the store,
the engine and the metrics. Names follow the original SDK::

    client = Client()                       # the default store, or Client(path=...)
    ds = client.Dataset("products")
    ds.insert_documents(docs)
    client.vector_tools.cluster.kmeans("products", "image_vector_", k=10)   # alias kmeans_10
    client.vector_tools.cluster.metrics(dataset_id="products", vector_field="image_vector_",
                                        cluster_alias="kmeans_10", ground_truth_field="category")
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy.spatial.distance import cdist

from . import clustering
from .engine.local import StoreSource
from .errors import InvalidInputError, NotFoundError
from .metrics.clusterstats import ClusterStats
from .metrics.evaluate import Progress, evaluate_source
from .metrics.labels import encode_labels
from .metrics.result import ClusterMetrics
from .metrics.silhouettes import LINEAR_METRICS, resolve_metric
from .store.documents import CLUSTER_PREFIX
from .store.store import Store, label_column, q

PATH_ENV = "CLUSTERMETRICS_PATH"
AUTO_SAMPLE = 20_000  # reports estimate the euclidean silhouette beyond this many documents


def default_path() -> str:
    """``$CLUSTERMETRICS_PATH``, else ``$XDG_DATA_HOME/clustermetrics/store.duckdb`` (by default
    ``~/.local/share/clustermetrics/store.duckdb``)."""
    if os.environ.get(PATH_ENV):
        return os.environ[PATH_ENV]
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local",
                                                           "share")
    return os.path.join(base, "clustermetrics", "store.duckdb")


class Client:
    """Entry point: datasets in an embedded store and the tools that evaluate their clusters."""

    def __init__(self, path: str | None = None):
        self.path = path or default_path()
        self.store = Store(self.path)
        self.vector_tools = VectorTools(self)

    def Dataset(self, dataset_id: str) -> Dataset:  # noqa: N802 - the original SDK's name
        return Dataset(self, dataset_id)

    def list_datasets(self) -> list[str]:
        return self.store.list_datasets()

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client(path={self.path!r})"

    # -- lookups with messages a person can act on ------------------------------------------
    def _vector_field(self, dataset: str, field: str) -> int:
        schema = self.store.schema(dataset)
        dims = self.store.vector_fields(dataset)
        if field in dims:
            return dims[field]
        if field in schema:
            raise InvalidInputError(
                f"Field {field!r} of dataset {dataset!r} is {schema[field]}, not a vector field."
                f" Vector fields: {', '.join(dims) or 'none'}."
            )
        raise NotFoundError("vector field", field, dims, f" in dataset {dataset!r}")

    def _field(self, dataset: str, field: str) -> str:
        schema = self.store.schema(dataset)
        if field not in schema:
            plain = [f for f in schema if not f.startswith(CLUSTER_PREFIX) and f != "_id"]
            raise NotFoundError("field", field, plain, f" in dataset {dataset!r}")
        return field

    def _alias(self, dataset: str, vector_field: str, alias: str) -> str:
        known = [a for vf, a in self.store.aliases(dataset) if vf == vector_field]
        if alias not in known:
            raise NotFoundError("cluster alias", alias, known,
                                f" for {dataset!r}/{vector_field!r}")
        return label_column(vector_field, alias)


class Dataset:
    """One dataset of the store; the original SDK's ``client.Dataset(name)``."""

    def __init__(self, client: Client, dataset_id: str):
        self.client, self.dataset_id, self.store = client, dataset_id, client.store

    def __repr__(self) -> str:
        return f"Dataset({self.dataset_id!r})"

    def insert_documents(self, documents, *, ids=None, vector_field: str | None = None,
                         vector_fields=(), progress: Progress | None = None) -> dict[str, int]:
        """Insert documents (list of dicts, DataFrame, Parquet/CSV/JSONL path, Arrow table, or a
        NumPy array with ``ids`` and ``vector_field``). A document whose ``_id`` exists
        replaces it whole. All or nothing. Returns ``{"inserted": n, "updated": m}``.
        ``progress("insert", rows, total)`` is called as the rows are written."""
        return self.store.write(self.dataset_id, documents, mode="insert", ids=ids,
                                vector_field=vector_field, vector_fields=vector_fields,
                                progress=progress)

    def upsert_documents(self, documents, *, ids=None, vector_field: str | None = None,
                         vector_fields=(), progress: Progress | None = None) -> dict[str, int]:
        """Like insert, but fields of existing documents that the batch does not give (or gives
        as null) keep their stored values."""
        return self.store.write(self.dataset_id, documents, mode="upsert", ids=ids,
                                vector_field=vector_field, vector_fields=vector_fields,
                                progress=progress)

    def get_documents(self, ids, fields=None) -> list[dict]:
        return self.store.get(self.dataset_id, ids, fields)

    def delete_documents(self, ids) -> int:
        return self.store.delete_documents(self.dataset_id, ids)

    @property
    def schema(self) -> dict[str, str]:
        """Field -> type, with vector fields as ``FLOAT[d]`` (label columns left out)."""
        return {k: v for k, v in self.store.schema(self.dataset_id).items()
                if not k.startswith(CLUSTER_PREFIX)}

    def describe(self) -> dict:
        """Fields, types, vector dimensions, counts and cluster aliases."""
        schema = self.schema
        n = self.store.count(self.dataset_id)
        t = self.store.table(self.dataset_id)
        fields = []
        for name, sqltype in schema.items():
            present = self.store.scalar(f"SELECT count({q(name)}) FROM {t}")
            fields.append({"field": name, "type": sqltype, "present": present,
                           "vector_dim": self.store.vector_fields(self.dataset_id).get(name)})
        return {"dataset_id": self.dataset_id, "documents": n, "fields": fields,
                "aliases": self.client.vector_tools.cluster.list_aliases(self.dataset_id)}

    def export_parquet(self, path: str) -> str:
        return self.store.export_parquet(self.dataset_id, path)

    def delete(self) -> None:
        self.store.drop(self.dataset_id)

    def __len__(self) -> int:
        return self.store.count(self.dataset_id)

    # the cluster tools, for this dataset
    def kmeans(self, vector_field: str, k: int, alias: str | None = None, **kw) -> dict:
        return self.client.vector_tools.cluster.kmeans(self.dataset_id, vector_field, k, alias,
                                                       **kw)

    def metrics(self, vector_field: str, cluster_alias: str, ground_truth_field=None,
                **options) -> ClusterMetrics:
        return self.client.vector_tools.cluster.metrics(self.dataset_id, vector_field,
                                                        cluster_alias, ground_truth_field,
                                                        **options)

    def set_cluster_labels(self, vector_field: str, alias: str, labels_by_id) -> int:
        return self.client.vector_tools.cluster.set_cluster_labels(self.dataset_id, vector_field,
                                                                   alias, labels_by_id)

    def list_aliases(self, vector_field: str | None = None) -> list[dict]:
        return self.client.vector_tools.cluster.list_aliases(self.dataset_id, vector_field)

    def distribution(self, vector_field: str, cluster_alias: str, ground_truth_field=None):
        return self.client.vector_tools.cluster.distribution(self.dataset_id, vector_field,
                                                             cluster_alias, ground_truth_field)

    def centroid_distances(self, vector_field: str, cluster_alias: str, **kw):
        return self.client.vector_tools.cluster.centroid_distances(self.dataset_id, vector_field,
                                                                   cluster_alias, **kw)

    def report(self, vector_field: str, cluster_alias: str, ground_truth_field=None,
               path: str | None = None, **kw):
        return self.client.vector_tools.cluster.report(self.dataset_id, vector_field,
                                                       cluster_alias, ground_truth_field, path,
                                                       **kw)

    def compare(self, vector_field: str, aliases, ground_truth_field=None, **kw):
        return self.client.vector_tools.cluster.compare(self.dataset_id, vector_field, aliases,
                                                        ground_truth_field, **kw)

    def sweep(self, vector_field: str, k=range(2, 21), ground_truth_field=None, **kw):
        return self.client.vector_tools.cluster.sweep(self.dataset_id, vector_field, k,
                                                      ground_truth_field, **kw)


class VectorTools:
    def __init__(self, client: Client):
        self.cluster = ClusterTools(client)


class ClusterTools:
    """``client.vector_tools.cluster``: make cluster aliases and evaluate them."""

    def __init__(self, client: Client):
        self.client, self.store = client, client.store

    # -- aliases --------------------------------------------------------------------------
    def kmeans(self, dataset_id: str, vector_field: str, k: int, alias: str | None = None, *,
               random_state: int = 0, minibatch: bool | None = None,
               progress: Progress | None = None) -> dict:
        """Run k-means on the vectors and store the labels as ``alias`` (default
        ``kmeans_{k}``) with the centroids. Returns a summary (alias, sizes, inertia).
        ``progress`` hears of stage "reading" (rows), then "k-means" (total None until the
        fit ends: scikit-learn reports no iterations)."""
        self.store.require(dataset_id)
        dim = self.client._vector_field(dataset_id, vector_field)
        alias = alias or f"kmeans_{k}"
        report = progress or (lambda stage, rows, total: None)
        source = StoreSource(self.store, dataset_id, vector_field, None, dim=dim)
        batch = source.materialize(lambda rows: report("reading", rows, source.n_rows))
        report("k-means", 0, None)
        labels, centroids, method, params = clustering.kmeans(
            batch.X, k, random_state=random_state, minibatch=minibatch)
        report("k-means", len(labels), len(labels))
        self.store.set_labels(dataset_id, vector_field, alias, batch.ids, labels,
                              method=method, params=params, centroids=centroids)
        return {"dataset_id": dataset_id, "vector_field": vector_field, "alias": alias,
                "method": method, "sizes": np.bincount(labels).tolist(), **params}

    def set_cluster_labels(self, dataset_id: str, vector_field: str, alias: str,
                           labels_by_id) -> int:
        """Store your own clustering: ``labels_by_id`` maps ``_id`` to label (dict, Series or
        DataFrame with ``_id`` and ``label``). All or nothing; returns rows labelled."""
        self.store.require(dataset_id)
        self.client._vector_field(dataset_id, vector_field)
        if isinstance(labels_by_id, pd.DataFrame):
            ids, labels = labels_by_id["_id"].to_numpy(), labels_by_id["label"].to_numpy()
        elif isinstance(labels_by_id, pd.Series):
            ids, labels = labels_by_id.index.to_numpy(), labels_by_id.to_numpy()
        elif isinstance(labels_by_id, Mapping):
            ids, labels = list(labels_by_id.keys()), list(labels_by_id.values())
        else:
            raise InvalidInputError("labels_by_id must be a dict {_id: label}, a pandas Series "
                                    "indexed by _id, or a DataFrame with _id and label columns.")
        if len(ids) == 0:
            raise InvalidInputError("labels_by_id is empty; nothing to store.")
        return self.store.set_labels(dataset_id, vector_field, alias, ids, labels)

    def list_aliases(self, dataset_id: str, vector_field: str | None = None) -> list[dict]:
        out = []
        t = self.store.table(dataset_id)
        for vf, alias in self.store.aliases(dataset_id):
            if vector_field is not None and vf != vector_field:
                continue
            col = q(label_column(vf, alias))
            labelled, k = self.store.row(f"SELECT count({col}), count(DISTINCT {col}) FROM {t}")
            info = self.store.alias_info(dataset_id, vf, alias)
            out.append({"vector_field": vf, "alias": alias, "clusters": k, "labelled": labelled,
                        "method": info["method"]})
        return out

    def describe_alias(self, dataset_id: str, vector_field: str, alias: str) -> dict:
        self.store.require(dataset_id)
        self.client._alias(dataset_id, vector_field, alias)
        info = self.store.alias_info(dataset_id, vector_field, alias)
        sizes = self.distribution(dataset_id, vector_field, alias)
        return {"vector_field": vector_field, "alias": alias, "method": info["method"],
                "params": info["params"], "sizes": sizes["size"].to_dict(),
                "unlabelled": int(self.store.count(dataset_id) - sizes["size"].sum())}

    def delete_alias(self, dataset_id: str, vector_field: str, alias: str) -> None:
        self.store.require(dataset_id)
        self.client._alias(dataset_id, vector_field, alias)
        self.store.delete_alias(dataset_id, vector_field, alias)

    # -- evaluation -------------------------------------------------------------------------
    def metrics(self, dataset_id: str, vector_field: str, cluster_alias: str,
                ground_truth_field: str | None = None, *, metric: str = "euclidean",
                sample_size: int | None = None, random_state=None, noise_label=None,
                noise: str | None = None, working_memory: float | None = None,
                progress: Progress | None = None) -> ClusterMetrics:
        """Silhouette, Calinski-Harabasz and Davies-Bouldin of a stored clustering and, with
        ``ground_truth_field``, ARI, AMI, NMI and the other external metrics: the same numbers
        as :func:`clustermetrics.evaluate` on the same arrays. Documents without a label for
        the alias (or without ground truth) are left out and counted."""
        source = self._source(dataset_id, vector_field, cluster_alias, ground_truth_field)
        names = dict(dataset_id=dataset_id, vector_field=vector_field,
                     cluster_alias=cluster_alias, ground_truth_field=ground_truth_field)
        return self._evaluate(source, names, metric=metric, sample_size=sample_size,
                              random_state=random_state, noise_label=noise_label, noise=noise,
                              working_memory=working_memory, progress=progress)

    @staticmethod
    def _evaluate(source: StoreSource, names: dict, **options) -> ClusterMetrics:
        result = evaluate_source(source, **options)
        result.counts["n_without_vector"] = source.n_without_vector
        result.source.update(names)
        return result

    def distribution(self, dataset_id: str, vector_field: str, cluster_alias: str,
                     ground_truth_field: str | None = None) -> pd.DataFrame:
        """Cluster sizes (column ``size``) or, with ground truth, the joint counts: one row per
        cluster, one column per ground-truth class."""
        self.store.require(dataset_id)
        col = self.client._alias(dataset_id, vector_field, cluster_alias)
        t = self.store.table(dataset_id)
        if ground_truth_field is None:
            df = self.store.con.sql(
                f"SELECT {q(col)} AS cluster, count(*) AS size FROM {t} "
                f"WHERE {q(col)} IS NOT NULL GROUP BY ALL ORDER BY cluster").df()
            return df.set_index("cluster")
        truth = self.client._field(dataset_id, ground_truth_field)
        df = self.store.con.sql(
            f"SELECT {q(col)} AS cluster, {q(truth)} AS truth, count(*) AS n FROM {t} "
            f"WHERE {q(col)} IS NOT NULL AND {q(truth)} IS NOT NULL GROUP BY ALL").df()
        table = df.pivot_table(index="cluster", columns="truth", values="n", fill_value=0,
                               aggfunc="sum")
        table.columns.name = ground_truth_field
        return table.astype(np.int64)

    def centroid_distances(self, dataset_id: str, vector_field: str, cluster_alias: str, *,
                           metric: str = "euclidean") -> pd.DataFrame:
        """Distances between cluster centroids (k x k). Centroids are the clusters' mean
        vectors, computed in one streaming pass."""
        names, centroids = self.centroids(dataset_id, vector_field, cluster_alias)
        metric = resolve_metric(metric)
        return pd.DataFrame(cdist(centroids, centroids, metric=metric), index=names,
                            columns=names)

    def centroids(self, dataset_id: str, vector_field: str, cluster_alias: str):
        source = self._source(dataset_id, vector_field, cluster_alias, None)
        stats = ClusterStats()
        for batch in source.batches():
            stats.update(np.asarray(batch.X), encode_labels(batch.labels))
        stats = stats.nonempty()
        if stats.mean is None or stats.k == 0:
            raise InvalidInputError(f"Alias {cluster_alias!r} labels no document with a vector.")
        return stats.categories, stats.mean

    # -- seeing and choosing ---------------------------------------------------------------
    def report(self, dataset_id: str, vector_field: str, cluster_alias: str,
               ground_truth_field: str | None = None, path: str | None = None, *,
               metric: str = "euclidean", sample_size: int | None = None,
               hover_fields=(), max_points: int = 3000, projection: str = "pca",
               random_state: int = 0, noise_label=None, noise: str | None = None,
               progress: Progress | None = None):
        """A self-contained HTML report (metrics, silhouette plot, projections coloured by
        cluster and by ground truth, contingency heatmap, sizes, centroid distances).

        Writes it to ``path`` when given; returns the :class:`~clustermetrics.report.Report`.
        Scatter plots show a random sample of ``max_points`` documents, projected by
        ``projection`` ("pca" or "tsne"). For big data the
        euclidean silhouette is estimated from a 10,000-point sample unless ``sample_size`` says
        otherwise.
        """
        from .report import Projection, build_report, require_plotly
        from .report.projection import check_method, project
        require_plotly()
        check_method(projection)
        source = self._source(dataset_id, vector_field, cluster_alias, ground_truth_field)
        metric = resolve_metric(metric)
        if sample_size is None and metric not in LINEAR_METRICS and source.n_rows > AUTO_SAMPLE:
            sample_size = AUTO_SAMPLE // 2
        names = dict(dataset_id=dataset_id, vector_field=vector_field,
                     cluster_alias=cluster_alias, ground_truth_field=ground_truth_field)
        result = self._evaluate(source, names, metric=metric, sample_size=sample_size,
                                random_state=random_state, noise_label=noise_label,
                                noise=noise, progress=progress)
        points = _sample_points(source, max_points, random_state)  # from the cached pass
        hover = self._hover(dataset_id, points, list(hover_fields), ground_truth_field)
        coords_2d, coords_3d, method = project(points.X, projection, random_state)
        shown = Projection(coords_2d, coords_3d, points.labels, points.truth, hover,
                           source.n_rows, method)
        contingency = None
        if result.contingency is not None:
            c = result.contingency
            contingency = pd.DataFrame(c.table.toarray().T, index=c.cols, columns=c.rows)
        centroids = result.centroids
        distances = pd.DataFrame(cdist(centroids, centroids, metric=metric),
                                 index=centroids.index, columns=centroids.index)
        report = build_report(result, projection=shown, contingency=contingency,
                              centroid_distances=distances)
        if path:
            report.save(path)
        return report

    def compare(self, dataset_id: str, vector_field: str, aliases, ground_truth_field=None, *,
                on_step=None, **options):
        """Metrics of several aliases in one table (``.table``) and chart (``.figure()``).
        ``on_step(alias, i, total)`` is called after each alias."""
        from .report import Comparison
        aliases = list(aliases)
        if not aliases:
            raise InvalidInputError("Give at least one alias to compare.")
        rows = {}
        for i, alias in enumerate(aliases, start=1):
            rows[alias] = self._row(self.metrics(dataset_id, vector_field, alias,
                                                 ground_truth_field, **options))
            if on_step:
                on_step(alias, i, len(aliases))
        return Comparison(_table(rows), by="alias",
                          title=f"{dataset_id} / {vector_field}: {len(aliases)} clusterings")

    def sweep(self, dataset_id: str, vector_field: str, k=range(2, 21),
              ground_truth_field: str | None = None, *, random_state: int = 0,
              on_step=None, **options):
        """Run k-means for each k (stored as ``kmeans_{k}``), evaluate each, and return a
        :class:`~clustermetrics.report.Comparison` indexed by k whose ``best`` names the best
        k for each metric. ``on_step(k, i, total)`` is called after each k."""
        from .report import Comparison
        ks = [int(v) for v in k]
        if not ks:
            raise InvalidInputError("k is empty; give the values of k to try, e.g. range(2, 21).")
        rows = {}
        for i, kk in enumerate(ks, start=1):
            self.kmeans(dataset_id, vector_field, kk, random_state=random_state)
            rows[kk] = self._row(self.metrics(dataset_id, vector_field, f"kmeans_{kk}",
                                              ground_truth_field, **options))
            if on_step:
                on_step(kk, i, len(ks))
        table = _table(rows)
        table.index.name = "k"
        return Comparison(table, by="k", title=f"{dataset_id} / {vector_field}: k-means sweep")

    @staticmethod
    def _row(result: ClusterMetrics) -> dict:
        return {**result.scores, "n_clusters": result.counts["n_clusters"],
                "n_used": result.counts["n_used"]}

    def _hover(self, dataset_id, points, fields, truth_field) -> list[str]:
        extra = {}
        if fields:
            for f in fields:
                self.client._field(dataset_id, f)
            docs = self.store.get(dataset_id, points.ids, fields)
            for f in fields:
                extra[f] = [_dig(d, f) for d in docs]
        out = []
        for i, doc_id in enumerate(points.ids):
            parts = [f"_id: {doc_id}", f"cluster: {points.labels[i]}"]
            if points.truth is not None:
                parts.append(f"{truth_field}: {points.truth[i]}")
            parts += [f"{f}: {extra[f][i]}" for f in fields]
            out.append("<br>".join(html.escape(str(p)) for p in parts))
        return out

    def _source(self, dataset_id, vector_field, cluster_alias, ground_truth_field):
        self.store.require(dataset_id)
        dim = self.client._vector_field(dataset_id, vector_field)
        col = self.client._alias(dataset_id, vector_field, cluster_alias)
        truth = self.client._field(dataset_id, ground_truth_field) if ground_truth_field else None
        return StoreSource(self.store, dataset_id, vector_field, col, truth, dim=dim)


def _table(rows: dict) -> pd.DataFrame:
    table = pd.DataFrame.from_dict(rows, orient="index")
    return table.astype({"n_clusters": np.int64, "n_used": np.int64})


def _sample_points(source: StoreSource, m: int, seed: int):
    """A uniform random sample of at most ``m`` documents (with labels), streamed."""
    from .metrics.evaluate import Batch
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(source.n_rows, size=min(m, source.n_rows), replace=False))
    parts = []
    for b in source.batches():
        lo, hi = np.searchsorted(rows, [b.offset, b.offset + len(b.X)])
        take = rows[lo:hi] - b.offset
        if len(take):
            parts.append(Batch(np.asarray(b.X)[take], np.asarray(b.labels)[take],
                               None if b.truth is None else np.asarray(b.truth)[take],
                               np.asarray(b.ids)[take]))
    X = np.concatenate([p.X for p in parts])
    labels = np.concatenate([p.labels for p in parts]).astype(object)
    truth = None if parts[0].truth is None else np.concatenate([p.truth for p in parts])
    ids = np.concatenate([p.ids for p in parts])
    ok = np.array([v is not None and v == v for v in labels])  # labelled points only
    return Batch(X[ok], labels[ok], None if truth is None else truth[ok].astype(object), ids[ok])


def _dig(doc: dict, dotted: str):
    node = doc
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node
