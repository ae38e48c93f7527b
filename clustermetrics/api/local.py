"""LocalAPI: the API surface over the embedded store and the local engine.

The only code outside ``clustermetrics/store/`` that holds a :class:`~clustermetrics.store.Store`.
One LocalAPI serves many threads: the store gives each thread its own cursor and serialises
writes, a metrics call reads both of its passes inside one snapshot, and every raw storage error
becomes one of the project's errors.
"""

from __future__ import annotations

import contextlib
import functools
import html
import math
import re
import threading
import warnings
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from .. import clustering, explore
from .. import stability as stability_
from ..clustering import FitResult, ModelSpec
from ..engine.local import StoreSource
from ..errors import ClusterMetricsError, ClusterMetricsWarning, InvalidInputError, NotFoundError
from ..metrics.clusterstats import ClusterStats, centroid_distances
from ..metrics.evaluate import Batch, evaluate_source
from ..metrics.labels import check_noise_policy, encode_labels, same_label
from ..metrics.result import ClusterMetrics
from ..metrics.sampling import auto_sample
from ..metrics.silhouettes import LINEAR_METRICS, resolve_metric
from ..names import CLUSTER_PREFIX, check_name, counted, label_column, nest
from ..store.store import Store
from .base import API, Progress, ReportData

_sinks = threading.local()


def warn(message: str, stacklevel: int = 2) -> None:
    """A :class:`ClusterMetricsWarning`, or, inside :func:`collect_warnings` on this thread,
    its message kept for whoever runs the call (a server sends it to the remote caller)."""
    sink = getattr(_sinks, "sink", None)
    if sink is not None:
        sink.append(message)
    else:
        warnings.warn(message, ClusterMetricsWarning, stacklevel=stacklevel + 1)


# a ground truth with more classes than this and than half its documents is no partition to
# compare with (ARI near 0 whatever the clustering): a price, a timestamp, an id
UNIQUE_TRUTH_CLASSES = 50


def _warn_unique_truth(truth: str | None, counts: dict) -> None:
    classes, n = counts.get("n_classes", 0), counts.get("n_external", 0)
    if truth and classes > UNIQUE_TRUTH_CLASSES and classes > n / 2:
        warn(f"Ground truth field {truth!r} has {classes:,} distinct values among {n:,} "
             "documents: it reads like an identifier or a continuous value, so the external "
             "scores (ARI, NMI, ...) compare the clusters with near-unique classes. Give a field "
             "of categories, or bin this one.", stacklevel=4)


@contextlib.contextmanager
def collect_warnings():
    """The messages of the warnings this thread's calls issue meanwhile, as a list (thread by
    thread: Python's own warning capture is process-wide)."""
    outer, _sinks.sink = getattr(_sinks, "sink", None), []
    try:
        yield _sinks.sink
    finally:
        _sinks.sink = outer


class FitRunner:
    """Where the model fits of an API run: here, in this process (the embedded Client). A
    server supplies one that runs them in supervised worker processes under memory and time
    limits (:class:`clustermetrics.server.workers.WorkerRunner`); the rest of each operation
    (reading the vectors, storing the labels) stays with the store, so both take one path."""

    def fit(self, spec: ModelSpec, X: np.ndarray, precision: str | None = None) -> FitResult:
        """A fresh estimator of ``spec`` fitted on the rows of ``X``, in ``precision``
        (:func:`clustermetrics.clustering.fit_precision`)."""
        return clustering.fit(spec.build(), X, spec, precision=precision)

    def stability(self, spec: ModelSpec, X: np.ndarray, *, n_resamples: int, fraction: float,
                  random_state: int | None, on_refit: Any = None
                  ) -> tuple[FitResult, stability_.Stability]:
        """The full fit and its refits (:func:`clustermetrics.stability.stability`)."""
        return stability_.stability(spec, X, n_resamples=n_resamples, fraction=fraction,
                                    random_state=random_state, on_refit=on_refit)




def _translated(method):
    """Run an API method as one of the store's sessions (the file is held meanwhile), with the
    store's errors translated into the project's."""
    @functools.wraps(method)
    def call(self, *args, **kwargs):
        with self.store.errors(), self.store.session():
            return method(self, *args, **kwargs)
    return call


def _held(method):
    """Run an API method made of several calls as one session of the store: another process
    cannot take the file between them."""
    @functools.wraps(method)
    def call(self, *args, **kwargs):
        with self.store.errors():
            session = self.store.session()
            session.__enter__()
        try:
            return method(self, *args, **kwargs)
        finally:
            session.__exit__(None, None, None)
    return call


class LocalAPI(API):
    """The operations over one embedded DuckDB store file (``":memory:"`` for none)."""

    def __init__(self, path: str, *, cache_mb: float | None = None,
                 models: Collection[str] | None = None, keep_open: bool = False,
                 lock_timeout: float | None = None, runner: FitRunner | None = None):
        # the file is held only while an operation runs, unless keep_open (a server, the only
        # process using its files); a process finding it held waits up to lock_timeout seconds
        self.store = Store(path, keep_open=keep_open, lock_timeout=lock_timeout)
        self.cache_mb = cache_mb  # None: passes kept within the process's shared budget
        # class paths that fit, stability and sweeps may build (None: any importable class, as
        # embedded; a server passes the models it serves, e.g. clustering.ALGORITHMS.values())
        self.models = None if models is None else frozenset(models)
        # metrics computations made by this object (the kept metrics avoid them: tests count)
        self.computed = 0
        self._computed_lock = threading.Lock()
        self.runner = runner or FitRunner()  # where fits run (a server: worker processes)

    @property
    def location(self) -> str:
        return self.store.path

    def close(self) -> None:
        self.store.close()

    def __repr__(self) -> str:
        return f"LocalAPI({self.store.path!r})"

    # -- datasets -------------------------------------------------------------------------
    @_translated
    def list_datasets(self) -> list[str]:
        return self.store.list_datasets()

    @_translated
    def count(self, dataset: str) -> int:
        return int(self.store.count(dataset))

    @_translated
    def schema(self, dataset: str) -> dict[str, str]:
        return {k: v for k, v in self.store.schema(dataset).items()
                if not k.startswith(CLUSTER_PREFIX)}

    @_translated
    def describe_dataset(self, dataset: str) -> dict[str, Any]:
        with self.store.snapshot():
            schema = self.schema(dataset)
            present = self.store.present_counts(dataset)
            dims = self.store.vector_fields(dataset)
            fields = [{"field": name, "type": sqltype, "present": present[name],
                       "vector_dim": dims.get(name)} for name, sqltype in schema.items()]
            return {"dataset_id": dataset, "documents": self.count(dataset), "fields": fields,
                    "aliases": self.list_aliases(dataset)}

    @_translated
    def delete_dataset(self, dataset: str) -> None:
        self.store.drop(dataset)

    # -- documents ------------------------------------------------------------------------
    @_translated
    def write_documents(self, dataset: str, pieces: Any, *, mode: str = "insert",
                        vector_fields: Sequence[str] = (),
                        progress: Progress | None = None) -> dict[str, Any]:
        return self.store.write(dataset, pieces, mode=mode, vector_fields=vector_fields,
                                progress=progress)

    @_translated
    def set_vector_field(self, dataset: str, field: str) -> dict[str, Any]:
        return self.store.set_vector_field(dataset, field)

    @_translated
    def get_documents(self, dataset: str, ids: Sequence[str],
                      fields: Sequence[str] | None = None) -> pa.Table:
        if fields is not None:
            for f in fields:
                self._field(dataset, f)
        return self.store.get_table(dataset, ids, None if fields is None else list(fields))

    @_translated
    def delete_documents(self, dataset: str, ids: Sequence[str]) -> int:
        return int(self.store.delete_documents(dataset, ids))

    def export_documents(self, dataset: str) -> pa.RecordBatchReader:
        with self.store.errors():
            session = self.store.session()
            session.__enter__()  # held until the reader is read to its end
            try:
                reader, done = self.store.export_reader(dataset)
            except BaseException:
                session.__exit__(None, None, None)
                raise

        def batches():  # the session ends when the reader is read through, or dropped
            try:
                with self.store.errors():
                    yield from reader
            finally:
                done()
                session.__exit__(None, None, None)

        return pa.RecordBatchReader.from_batches(reader.schema, batches())

    # -- aliases --------------------------------------------------------------------------
    @_translated
    def list_aliases(self, dataset: str, vector_field: str | None = None, *,
                     metrics: bool = False) -> list[dict]:
        out = self._list_aliases(dataset, vector_field)
        for row in out if metrics else ():
            row["metrics"] = self.kept_metrics(dataset, row["vector_field"], row["alias"])
        return out

    def _list_aliases(self, dataset: str, vector_field: str | None) -> list[dict]:
        out = []  # in a stable order (a refit does not move an alias): by name, kmeans_2 first
        for vf, alias in sorted(self.store.aliases(dataset), key=_by_name):
            if vector_field is not None and vf != vector_field:
                continue
            labelled, k = self.store.alias_counts(dataset, vf, alias)
            info = self.store.alias_info(dataset, vf, alias)
            noise_label = (info["params"] or {}).get("noise_label")
            n_noise = None
            if noise_label is not None:  # the recorded noise label is no cluster
                sizes = self.store.label_counts(dataset, label_column(vf, alias)).to_pylist()
                noise = [r["n"] for r in sizes if same_label(r["cluster"], noise_label)]
                k -= len(noise)
                n_noise = int(sum(noise))
            out.append({"vector_field": vf, "alias": alias, "clusters": k, "labelled": labelled,
                        "noise": n_noise, "method": info["method"]})
        return out

    @_translated
    def describe_alias(self, dataset: str, vector_field: str, alias: str) -> dict[str, Any]:
        self._alias(dataset, vector_field, alias)
        info = self.store.alias_info(dataset, vector_field, alias)
        sizes = self.distribution(dataset, vector_field, alias)["size"]
        return {"vector_field": vector_field, "alias": alias, "method": info["method"],
                "params": info["params"],
                "sizes": {_plain(c): int(n) for c, n in sizes.items()},
                "unlabelled": int(self.store.count(dataset) - sizes.sum()),
                "created_at": info["created_at"], "changed": info["changed"]}

    @_translated
    def delete_alias(self, dataset: str, vector_field: str, alias: str) -> None:
        self._alias(dataset, vector_field, alias)
        self.store.delete_alias(dataset, vector_field, alias)

    @_translated
    def set_cluster_labels(self, dataset: str, vector_field: str, alias: str,
                           ids: Sequence[Any] | np.ndarray,
                           labels: Sequence[Any] | np.ndarray, *,
                           noise_label: Any = None) -> int:
        self._vector_field(dataset, vector_field)
        if len(ids) == 0:
            raise InvalidInputError("labels_by_id is empty; nothing to store.")
        params = None if noise_label is None else {"noise_label": clustering.plain(noise_label)}
        return int(self.store.set_labels(dataset, vector_field, alias, ids, labels,
                                         params=params))

    # -- clustering -----------------------------------------------------------------------
    @_translated
    def kmeans(self, dataset: str, vector_field: str, k: int, alias: str | None = None, *,
               random_state: int = 0, minibatch: bool | None = None,
               progress: Progress | None = None) -> dict[str, Any]:
        return self._kmeans(dataset, vector_field, k, alias, random_state=random_state,
                            minibatch=minibatch, progress=progress)

    def _kmeans(self, dataset: str, vector_field: str, k: int, alias: str | None = None, *,
                random_state: int = 0, minibatch: bool | None = None,
                progress: Progress | None = None, made_by: str | None = None
                ) -> dict[str, Any]:
        check_random_state(random_state)
        source = self._vectors(dataset, vector_field)
        self._check_ks(dataset, vector_field, [k], for_metrics=False)
        spec = clustering.kmeans_spec(k, source.n_rows, random_state=random_state,
                                      minibatch=minibatch)
        alias = check_name(f"kmeans_{k}" if alias is None else alias, "alias")
        read = self._read_vectors(source, progress)
        extra: dict[str, Any] = {"k": int(k), "random_state": random_state}
        if made_by:
            extra["made_by"] = made_by
        out = self._fit_and_store(dataset, vector_field, alias, spec, read, progress,
                                  extra=extra)
        out.pop("made_by", None)
        out["sizes"] = [out["sizes"].get(c, 0) for c in range(int(k))]  # by label 0..k-1
        return out

    @_translated
    def fit(self, dataset: str, vector_field: str, model: ModelSpec, alias: str | None = None,
            *, precision: str | None = None,
            progress: Progress | None = None) -> dict[str, Any]:
        spec = ModelSpec.of(model).require_allowed(self.models)
        estimator = spec.build()  # a wrong parameter fails before the data is read
        clustering.fit_precision(spec, np.float32, precision)  # and a wrong precision
        alias = check_name(spec.default_alias() if alias is None else alias, "alias")
        source = self._vectors(dataset, vector_field)
        self._check_model_k(dataset, vector_field, estimator)
        return self._fit_and_store(dataset, vector_field, alias, spec,
                                   self._read_vectors(source, progress), progress,
                                   precision=precision)

    @_translated
    def stability(self, dataset: str, vector_field: str, model: ModelSpec,
                  alias: str | None = None, *, n_resamples: int = 20, fraction: float = 0.8,
                  random_state: int | None = 0,
                  progress: Progress | None = None) -> stability_.Stability:
        spec = ModelSpec.of(model).require_allowed(self.models)
        spec.build()
        stability_.check_options(n_resamples, fraction, random_state)
        alias = check_name(spec.default_alias() if alias is None else alias, "alias")
        read = self._read_vectors(self._vectors(dataset, vector_field), progress)
        batch = read.batch
        report = progress or _silent
        n = len(batch.X)
        report(spec.stage, 0, None)

        def on_refit(i: int) -> None:
            if i == 0:
                report(spec.stage, n, n)
            else:
                report("refits", 1, int(n_resamples))

        full, result = self.runner.stability(spec, batch.X, n_resamples=n_resamples,
                                             fraction=fraction, random_state=random_state,
                                             on_refit=on_refit)
        result.source = {"dataset_id": dataset, "vector_field": vector_field,
                         "cluster_alias": alias}
        self._store_fit(dataset, vector_field, alias, spec, full, read,
                        {"stability": result.to_dict()})
        return result

    def _vectors(self, dataset: str, vector_field: str) -> StoreSource:
        dim = self._vector_field(dataset, vector_field)
        return StoreSource(self.store, dataset, vector_field, None, dim=dim)

    def _read_vectors(self, source: StoreSource, progress: Progress | None) -> _Read:
        """A fit's input: every vector (named before any fit if not finite) and each one's
        hash, read in one snapshot."""
        with self.store.snapshot():
            batch = _read(source, progress)
            hashes = self.store.vector_hashes(source.dataset, source.vector_field)
        if len(hashes) != len(batch.X):  # both read in storage order, in one snapshot
            raise ClusterMetricsError(f"Read {len(batch.X)} vectors but {len(hashes)} hashes of "
                                      f"{source.vector_field!r}; nothing was written.")
        return _Read(batch, hashes)

    def _fit_and_store(self, dataset: str, vector_field: str, alias: str, spec: ModelSpec,
                       read: _Read, progress: Progress | None,
                       extra: dict[str, Any] | None = None,
                       precision: str | None = None) -> dict[str, Any]:
        report = progress or _silent
        n = len(read.batch.X)
        report(spec.stage, 0, None)
        fitted = self.runner.fit(spec, read.batch.X, precision)
        report(spec.stage, n, n)
        params = self._store_fit(dataset, vector_field, alias, spec, fitted, read, extra)
        sizes = fitted.sizes()
        return {"dataset_id": dataset, "vector_field": vector_field, "alias": alias,
                "method": spec.method, "n_clusters": len(sizes), "sizes": sizes,
                "noise_label": fitted.noise_label, "n_noise": fitted.n_noise,
                "coverage": fitted.coverage, **params}

    def _store_fit(self, dataset: str, vector_field: str, alias: str, spec: ModelSpec,
                   fitted: FitResult, read: _Read, extra: dict[str, Any] | None
                   ) -> dict[str, Any]:
        """Labels, model, parameters, noise label and centroids, written as one alias. The
        documents deleted or given another vector since the read keep no label (counted as
        changed since the alias was made): a label always belongs to the vector it came from."""
        params = {**(extra or {}), "model": spec.cls, "params": clustering.plain(spec.params),
                  "noise_label": fitted.noise_label, **fitted.info}
        if not fitted.sizes() and params.get("made_by") != "sweep":  # (a sweep's table says)
            warn(f"{spec.method} put every document of {dataset!r} in noise: alias {alias!r} "
                 "labels no cluster. Try other parameters (DBSCAN: a larger eps; HDBSCAN: a "
                 "smaller min_cluster_size).", stacklevel=4)
        if (vector_field, alias) in self.store.aliases(dataset):  # said, not silently
            before = self.store.alias_info(dataset, vector_field, alias)
            made = f", made {before['created_at']:%Y-%m-%d %H:%M}" if before["created_at"] \
                else ""
            rerun = params.get("made_by") == "sweep" == before["params"].get("made_by")
            if not rerun:  # (a sweep run again renews its own aliases: that is what it does)
                warn(f"Alias {alias!r} of {dataset!r}/{vector_field!r} was replaced: it held "
                     f"{before['method']} labels{made}.", stacklevel=4)
        self.store.set_labels(dataset, vector_field, alias, read.batch.ids, fitted.labels,
                              method=spec.method, params=params, centroids=fitted.centroids,
                              deleted_ok=True, vector_hashes=read.hashes)
        return {k: v for k, v in params.items() if k != "stability"}

    # -- evaluation -----------------------------------------------------------------------
    @_translated
    def metrics(self, dataset: str, vector_field: str, cluster_alias: str,
                ground_truth_field: str | None = None, *, progress: Progress | None = None,
                **options: Any) -> ClusterMetrics:
        check_option_values(options)
        return self._alias_metrics(dataset, vector_field, cluster_alias, ground_truth_field,
                                   progress=progress, **options)[0]

    def _alias_metrics(self, dataset: str, vector_field: str, alias: str,
                       ground_truth_field: str | None, *, progress: Progress | None = None,
                       **options: Any) -> tuple[ClusterMetrics, float]:
        """The metrics of an alias (its recorded noise label applied unless the call gives
        one) and its coverage: the share of documents with the vector that are in a cluster.
        Called with the default options, the result is kept with the alias
        (:meth:`kept_metrics`)."""
        _check_exact(options)
        default = _default_options(options)
        with self.store.errors(), self.store.snapshot(), \
                self._source(dataset, vector_field, alias, ground_truth_field) as source:
            # both passes see the same documents; no read outlives the call
            self._warn_unseen_noise(dataset, vector_field, alias, options.get("noise_label"))
            options = self._noise_options(dataset, vector_field, alias, options)
            if options.get("noise_label") is None:
                self._warn_unrecorded_noise(dataset, vector_field, alias)
            options = _sampling(options, source.n_rows)
            version = self.store.version(dataset)  # of the documents this snapshot sees
            made = self.store.kept(dataset, vector_field, alias)
            with self._computed_lock:
                self.computed += 1
            result = self._evaluate(source, _names(dataset, vector_field, alias,
                                                   ground_truth_field),
                                    progress=progress, **options)
            coverage = _coverage(source, result, options.get("noise_label"),
                                 options.get("noise"))
        _warn_unique_truth(ground_truth_field, result.counts)
        if default:
            self._keep(dataset, vector_field, alias, ground_truth_field, made, version,
                       _kept_entry(result, coverage, version))
        return result, coverage

    def _keep(self, dataset: str, vector_field: str, alias: str, truth: str | None,
              made: dict, version: int, entry: dict) -> None:
        """Keep one entry (per ground truth field) with the alias as ``made`` was read."""
        kept = made["kept"] if made["version"] == version else {}
        with self.store.errors():
            self.store.keep(dataset, vector_field, alias, made["created_at"], version,
                            {**kept, truth or "": entry})

    @_translated
    def kept_metrics(self, dataset: str, vector_field: str, alias: str,
                     ground_truth_field: str | None = None, *,
                     compute: bool = True) -> dict[str, Any] | None:
        """The headline metrics kept with an alias: the values the metrics call with the
        default options gives (``scores``, ``n_clusters``, ``n_used``, ``coverage``,
        ``silhouette_ci``, ``silhouette_method``) and the ``version`` of the dataset's
        documents they were computed on; or ``error``, why the alias has none. Served from
        the store while the documents are unchanged; computed (once) when they changed, or
        None for stale ones with ``compute=False``."""
        self._alias(dataset, vector_field, alias)
        if ground_truth_field is not None:
            self._field(dataset, ground_truth_field)
        with self.store.snapshot():
            made = self.store.kept(dataset, vector_field, alias)
            version = self.store.version(dataset)
        if made["version"] == version and (ground_truth_field or "") in made["kept"]:
            return made["kept"][ground_truth_field or ""]
        if not compute:
            return None
        try:
            return _kept_entry(*self._alias_metrics(dataset, vector_field, alias,
                                                    ground_truth_field), version)
        except InvalidInputError as exc:  # no scores for this alias as it is: kept too
            entry = {"error": str(exc), "version": version}
            self._keep(dataset, vector_field, alias, ground_truth_field, made, version, entry)
            return entry


    def _noise_options(self, dataset: str, vector_field: str, alias: str,
                       options: dict[str, Any]) -> dict[str, Any]:
        """The options with the alias's recorded noise label, unless they name one."""
        if options.get("noise_label") is None:
            recorded = self.store.alias_info(dataset, vector_field, alias)["params"].get(
                "noise_label")
            if recorded is not None:
                return {**options, "noise_label": recorded}
        return dict(options)

    @_translated
    def distribution(self, dataset: str, vector_field: str, cluster_alias: str,
                     ground_truth_field: str | None = None) -> pd.DataFrame:
        col = self._alias(dataset, vector_field, cluster_alias)
        if ground_truth_field is None:
            df = self.store.label_counts(dataset, col).to_pandas()
            return df.rename(columns={"n": "size"}).set_index("cluster")
        truth = self._field(dataset, ground_truth_field)
        df = self.store.label_counts(dataset, col, truth).to_pandas()
        table = df.pivot_table(index="cluster", columns="truth", values="n", fill_value=0,
                               aggfunc="sum")
        table.columns.name = ground_truth_field
        table = table.astype(np.int64)
        labelled = int(self.store.label_counts(dataset, col).to_pandas()["n"].sum())
        # labelled documents without a ground-truth value: not in the table, but counted
        table.attrs["no_ground_truth"] = labelled - int(table.to_numpy().sum())
        return table

    @_translated
    def centroids(self, dataset: str, vector_field: str, cluster_alias: str, *,
                  noise_label: Any = None) -> pd.DataFrame:
        with self.store.snapshot(), \
                self._source(dataset, vector_field, cluster_alias, None) as source:
            self._warn_unseen_noise(dataset, vector_field, cluster_alias, noise_label)
            noise_label = self._noise_options(dataset, vector_field, cluster_alias,
                                              {"noise_label": noise_label})["noise_label"]
            stats = ClusterStats()
            for batch in source.batches():
                stats.update(np.asarray(batch.X),  # a complaint names the documents
                             encode_labels(batch.labels, noise_label=noise_label),
                             row_ids=batch.ids)
        stats = stats.nonempty()
        if stats.mean is None or stats.k == 0:
            raise InvalidInputError(f"Alias {cluster_alias!r} labels no document with a vector.")
        return pd.DataFrame(stats.mean, index=pd.Index(stats.categories, name="cluster"))

    @_translated
    def report_data(self, dataset: str, vector_field: str, cluster_alias: str,
                    ground_truth_field: str | None = None, *,
                    hover_fields: Sequence[str] = (), max_points: int = 3000,
                    projection: str = "pca", random_state: int = 0,
                    text_field: str | None = None, examples: int = 3,
                    progress: Progress | None = None, **options: Any) -> ReportData:
        from ..explore.misfits import IdsSeen, scored_table
        from ..explore.representatives import check_n
        from ..report.html import Projection
        from ..report.projection import project
        check_report_options(projection, max_points, random_state)
        metric = resolve_metric(options.pop("metric", "euclidean"))
        hover_fields = list(hover_fields)
        for f in hover_fields:
            self._field(dataset, f)
        examples = check_n(examples, "examples")
        if text_field is not None:
            self._text_field(dataset, text_field)
        with self.store.snapshot(), \
                self._source(dataset, vector_field, cluster_alias, ground_truth_field) as source:
            self._warn_unseen_noise(dataset, vector_field, cluster_alias,
                                    options.get("noise_label"))
            options = self._noise_options(dataset, vector_field, cluster_alias, options)
            recorded = self.store.alias_info(dataset, vector_field, cluster_alias)["params"]
            if options.get("random_state") is None:
                options["random_state"] = random_state
            options = _sampling({**options, "metric": metric}, source.n_rows)
            options.pop("metric")
            seen = IdsSeen(source, truth=True)  # the misfits' ids, from the same passes
            result = self._evaluate(seen, _names(dataset, vector_field, cluster_alias,
                                                 ground_truth_field),
                                    metric=metric, progress=progress, **options)
            points = _sample_points(source, max_points, random_state)  # the cached pass
            hover = self._hover(dataset, points, hover_fields, ground_truth_field)
            cards = self._cards(dataset, vector_field, cluster_alias, source, result,
                                scored_table(result, seen.all_ids())[0], metric, examples,
                                text_field, options)
        coords_2d, coords_3d, method = project(points.X, projection, random_state)
        shown = Projection(coords_2d, coords_3d, points.labels, points.truth, hover,
                           source.n_rows, method)
        contingency = None
        if result.contingency is not None:
            c = result.contingency
            contingency = pd.DataFrame(c.table.toarray().T, index=c.cols, columns=c.rows)
        centroids = result.centroids
        assert centroids is not None  # every evaluation has them
        distances = pd.DataFrame(centroid_distances(centroids.to_numpy(), metric),
                                 index=centroids.index, columns=centroids.index)
        stability = (stability_.Stability.from_dict(recorded["stability"])
                     if recorded.get("stability") else None)
        if stability is not None:
            jaccard = stability.per_cluster["jaccard"]
            cards.tables["clusters"]["stability"] = [jaccard.get(c, np.nan)
                                                     for c in cards.tables["clusters"]["cluster"]]
        return ReportData(result, shown, contingency, distances,
                          noise_label=options.get("noise_label"), stability=stability,
                          cards=cards)

    def _cards(self, dataset: str, vector_field: str, alias: str, source: StoreSource,
               result: ClusterMetrics, scored: pd.DataFrame, metric: str, examples: int,
               text_field: str | None, options: dict[str, Any]) -> explore.ClusterCards:
        """A report's cluster cards: each cluster's size, silhouette, keywords and top
        classes, its documents closest to the centroid and its misfits; worst first."""
        from ..explore.misfits import lowest
        from ..explore.representatives import CENTROID_METRICS
        from ..explore.summaries import view_clusters
        noise = {"noise_label": options.get("noise_label"), "noise": options.get("noise")}
        per = result.per_cluster
        clusters = pd.DataFrame({"cluster": list(per.index), "size": per["size"].to_numpy(),
                                 "silhouette": per["silhouette"].to_numpy()})
        clusters["stability"] = np.nan
        if result.contingency is not None:
            c = result.contingency
            table = pd.DataFrame(c.table.toarray().T, index=c.cols, columns=c.rows)
            pairs = pd.DataFrame({"cluster": np.repeat(table.index.to_numpy(dtype=object),
                                                       table.shape[1]),
                                  "value": np.tile(table.columns.to_numpy(dtype=object),
                                                   table.shape[0]),
                                  "n": table.to_numpy().ravel()})
            lookup = explore.truth_tables(pairs[pairs["n"] > 0])["clusters"].set_index(
                "cluster")
            clusters["top_classes"] = [lookup["top_classes"].get(k, "") for k in
                                       clusters["cluster"]]
            clusters["purity"] = [lookup["purity"].get(k, np.nan) for k in clusters["cluster"]]
        tables = {"clusters": clusters}
        rep_metric = metric if metric in CENTROID_METRICS else "euclidean"
        _, reps = explore.representatives(source, n=examples, which=("closest",),
                                          metric=rep_metric, **noise)
        near, rank, dist, ids = reps["closest"]
        tables["closest"] = pd.DataFrame({"cluster": near, "rank": rank, "_id": ids,
                                          "distance": dist})
        tables["misfits"] = lowest(scored, examples, per_cluster=True)
        if text_field is not None:
            t = self.store.labelled(dataset, label_column(vector_field, alias), [text_field],
                                    present=[vector_field])
            ids_, labels, texts = (t.column(i).to_numpy(zero_copy_only=False)
                                   for i in range(3))
            keep, names = view_clusters(labels, ids_, noise_label=noise["noise_label"],
                                        noise=noise["noise"] or "exclude")
            try:
                words = explore.keywords(texts[keep], names, n=5)
            except InvalidInputError:  # no terms at all: the cards say nothing of words
                words = pd.DataFrame(columns=["cluster", "term"])
            tables["keywords"] = words
            joined = words.groupby("cluster", sort=False)["term"].agg(", ".join)
            clusters["keywords"] = [joined.get(k, "") for k in clusters["cluster"]]
        tables["clusters"] = clusters.sort_values("silhouette", kind="stable").reset_index(
            drop=True)
        return explore.ClusterCards(tables, {"examples": examples, "text_field": text_field,
                                             "metric": rep_metric, **noise},
                                    source=_names(dataset, vector_field, alias, None))

    def _text_field(self, dataset: str, field: str) -> str:
        self._field(dataset, field)
        sqltype = self.store.schema(dataset)[field]
        if sqltype != "VARCHAR":
            raise InvalidInputError(f"Field {field!r} of dataset {dataset!r} is {sqltype}; "
                                    "keywords need a text field (VARCHAR).")
        return field

    @_held
    def compare(self, dataset: str, vector_field: str, aliases: Iterable[str],
                ground_truth_field: str | None = None, *, progress: Progress | None = None,
                **options: Any):
        from ..report.compare import Comparison
        aliases = list(aliases)
        if not aliases:
            raise InvalidInputError("Give at least one alias to compare.")
        with self.store.errors():  # every name and option checked before any work
            self._vector_field(dataset, vector_field)
            for alias in aliases:
                self._alias(dataset, vector_field, alias)
            if ground_truth_field:
                self._field(dataset, ground_truth_field)
            recorded = [self._noise_options(dataset, vector_field, a, options)
                        .get("noise_label") for a in aliases]
            _check_options({**options, "noise_label": next(  # a recorded label will do
                (v for v in recorded if v is not None), None)})
        report = progress or _silent
        rows: dict[Any, dict[str, Any]] = {}
        notes: list[str] = []
        for alias in aliases:
            rows[alias] = self._scored_row(dataset, vector_field, alias, ground_truth_field,
                                           notes, options)
            report("compare", 1, len(aliases))
        return Comparison(_table(rows), by="alias", notes=notes,
                          title=f"{dataset} / {vector_field}: {len(aliases)} clusterings")

    @_held
    def sweep(self, dataset: str, vector_field: str, ks: Iterable[int],
              ground_truth_field: str | None = None, *, random_state: int = 0,
              overwrite: bool = False, progress: Progress | None = None, **options: Any):
        from ..report.compare import Comparison
        ks = list(ks)
        if not ks:
            raise InvalidInputError("k is empty; give the values of k to try, e.g. range(2, 21).")
        with self.store.errors():  # everything checked before the first k-means
            self._vector_field(dataset, vector_field)
            if ground_truth_field:
                self._field(dataset, ground_truth_field)
            _check_options(options)
            check_random_state(random_state)
            self._check_ks(dataset, vector_field, ks, for_metrics=True)
            if not overwrite:
                self._check_sweep_aliases(dataset, vector_field, ks, random_state)
        report = progress or _silent
        rows = {}
        for k in ks:
            with self.store.errors():
                self._kmeans(dataset, vector_field, k, random_state=random_state,
                             made_by="sweep")
            rows[k] = _row(*self._alias_metrics(dataset, vector_field, f"kmeans_{k}",
                                                ground_truth_field, **options))
            report("sweep", 1, len(ks))
        table = _table(rows)
        table.index.name = "k"
        return Comparison(table, by="k", title=f"{dataset} / {vector_field}: k-means sweep")

    @_translated
    def sweep_grid(self, dataset: str, vector_field: str, model: ModelSpec,
                   param_grid: dict[str, list] | list[dict[str, list]],
                   ground_truth_field: str | None = None, *, overwrite: bool = False,
                   progress: Progress | None = None, **options: Any):
        from ..report.compare import Comparison
        spec = ModelSpec.of(model).require_allowed(self.models)
        points = clustering.parameter_grid(param_grid)
        runs = clustering.grid_runs(spec, points)  # every point checked before any fit
        for run, _, _ in runs:
            run.require_allowed(self.models)
        self._vector_field(dataset, vector_field)
        if ground_truth_field is not None:
            self._field(dataset, ground_truth_field)
        given = options.get("noise_label")  # the fits record theirs: any label checks the policy
        _check_options({**options, "noise_label": clustering.NOISE_LABEL if given is None
                        else given})
        if not overwrite:
            self._check_grid_aliases(dataset, vector_field, runs)
        read = self._read_vectors(self._vectors(dataset, vector_field), None)
        report = progress or _silent
        rows: dict[Any, dict[str, Any]] = {}
        notes: list[str] = []
        for point, (run, _, alias) in zip(points, runs, strict=True):
            values = {k: clustering.plain(v) for k, v in point.items()}
            try:
                self._fit_and_store(dataset, vector_field, alias, run, read, None,
                                    extra={"made_by": "sweep"})
            except InvalidInputError as exc:  # this data refuses this point: noted, not fatal
                rows[alias] = {**values, "n_clusters": 0, "n_used": 0, "coverage": 0.0}
                notes.append(f"{alias}: not fitted, nothing stored: {exc}")
            else:
                rows[alias] = {**values, **self._scored_row(
                    dataset, vector_field, alias, ground_truth_field, notes, options)}
            report(alias, 1, len(points))
        table = _table(rows)
        table.index.name = "alias"
        return Comparison(table, by="alias", notes=notes,
                          title=f"{dataset} / {vector_field}: {spec.name} sweep")

    def _scored_row(self, dataset: str, vector_field: str, alias: str,
                    ground_truth_field: str | None, notes: list[str],
                    options: dict[str, Any]) -> dict[str, Any]:
        """An alias's row of a comparison. One that leaves fewer than two clusters to score
        (all noise, say) keeps its row, without scores, and gets a note."""
        noise_label = self._noise_options(dataset, vector_field, alias,
                                          options).get("noise_label")
        policy = options.get("noise") or "exclude"
        opts = dict(options)  # the recorded label is applied by _alias_metrics itself
        if noise_label is None:  # a noise policy concerns only the aliases that have noise
            opts.pop("noise", None)
        with self.store.errors():
            sizes = self.distribution(dataset, vector_field, alias)["size"]
            n_vectors = self.store.field_count(dataset, vector_field)[1]
        noise = sizes[[noise_label is not None and same_label(c, noise_label)
                       for c in sizes.index]]
        k = len(sizes) - len(noise)
        n_noise = int(noise.sum())
        scored = k + (min(n_noise, 1) if policy == "cluster" else
                      n_noise if policy == "singletons" else 0)
        if scored >= 2:
            if _default_options(opts):  # the kept metrics answer, computed if stale
                entry = self.kept_metrics(dataset, vector_field, alias, ground_truth_field)
                if "error" in entry:
                    raise InvalidInputError(entry["error"])
                row = {**{k: np.nan if v is None else v for k, v in entry["scores"].items()},
                       **{k: entry[k] for k in ("n_clusters", "n_used", "coverage")}}
                ci, method = entry["silhouette_ci"], entry["silhouette_method"]
            else:
                result, coverage = self._alias_metrics(dataset, vector_field, alias,
                                                       ground_truth_field, **opts)
                row, ci, method = _row(result, coverage), result.silhouette_ci, \
                    result.silhouette_method
            if ci is not None:  # said beside the table: an estimate, and how to get exact
                notes.append(f"{alias}: silhouette {method}, 95% interval {ci[0]:.4g} to "
                             f"{ci[1]:.4g}; exact=True computes the exact value.")
            return row
        clustered = int(sizes.sum()) - n_noise
        coverage = clustered / n_vectors if n_vectors else 0.0
        notes.append(f"{alias}: no scores, as it has {k} cluster{'' if k == 1 else 's'} "
                     f"({coverage:.0%} of the documents clustered"
                     + (", the rest noise)." if n_noise else ")."))
        return {"n_clusters": k, "n_used": clustered, "coverage": coverage}

    # -- looking inside clusters ----------------------------------------------------------
    @_translated
    def closest(self, dataset: str, vector_field: str, alias: str, *, n: int = 5,
                fields: Sequence[str] | None = None, metric: str = "euclidean",
                noise_label: Any = None, noise: str | None = None) -> explore.Representatives:
        return self._representatives("closest", dataset, vector_field, alias, n, fields,
                                     metric, noise_label, noise)

    @_translated
    def furthest(self, dataset: str, vector_field: str, alias: str, *, n: int = 5,
                 fields: Sequence[str] | None = None, metric: str = "euclidean",
                 noise_label: Any = None, noise: str | None = None) -> explore.Representatives:
        return self._representatives("furthest", dataset, vector_field, alias, n, fields,
                                     metric, noise_label, noise)

    def _representatives(self, which: str, dataset: str, vector_field: str, alias: str,
                         n: int, fields, metric: str, noise_label: Any,
                         noise: str | None) -> explore.Representatives:
        from ..explore.representatives import check_metric, check_n
        metric, n = check_metric(metric), check_n(n)
        fields = self._named_fields(dataset, fields)
        with self.store.snapshot(), self._source(dataset, vector_field, alias, None) as source:
            opts = self._view_noise(dataset, vector_field, alias, noise_label, noise)
            _, out = explore.representatives(source, n=n, which=(which,), metric=metric, **opts)
            clusters, rank, distance, ids = out[which]
            table = pd.DataFrame({"cluster": clusters, "rank": rank, "_id": ids,
                                  "distance": distance})
            table = self._with_fields(dataset, table, fields)
        return explore.Representatives({which: table}, {"metric": metric, "n": n, **opts},
                                       source=_names(dataset, vector_field, alias, None))

    @_translated
    def misfits(self, dataset: str, vector_field: str, alias: str, *, n: int = 20,
                cluster: Any = None, metric: str = "euclidean", sample_size: int | None = None,
                random_state: int | None = 0, fields: Sequence[str] | None = None,
                noise_label: Any = None, noise: str | None = None) -> explore.Misfits:
        from ..explore.misfits import EXACT_UP_TO, lowest
        from ..explore.representatives import check_n
        n = check_n(n)
        resolve_metric(metric)
        fields = self._named_fields(dataset, fields)
        _check_options({"sample_size": sample_size})
        with self.store.snapshot(), self._source(dataset, vector_field, alias, None) as source:
            opts = self._view_noise(dataset, vector_field, alias, noise_label, noise)
            if cluster is not None:  # before any pass
                cluster = self._cluster(dataset, vector_field, alias, cluster, opts)
            result, scored, method = explore.misfits(source, n=n, metric=metric,
                                                     sample_size=sample_size,
                                                     random_state=random_state, **opts)
            if cluster is not None:
                scored = scored[[same_label(c, cluster) for c in scored["cluster"]]]
            per_cluster = self._with_fields(dataset, lowest(scored, n, per_cluster=True),
                                            fields)
            overall = self._with_fields(dataset, lowest(scored, n, per_cluster=False), fields)
        clusters = result.per_cluster.reset_index()
        clusters = clusters[[c for c in ("cluster", "size", "scored", "silhouette", "nearest")
                             if c in clusters.columns]]
        notes = []
        if method == "sampled":
            notes.append(f"{result.metric} silhouettes of a stratified sample of "
                         f"{result.counts.get('n_silhouette', len(scored)):,} of the "
                         f"{result.counts['n_used']:,} documents, each scored against all "
                         f"of them: exact up to {EXACT_UP_TO:,} documents, or at any size "
                         "with metric='cosine' or 'sqeuclidean'.")
        info = {"metric": result.metric, "n": n, "method": method, "cluster": cluster,
                "silhouette": float(result.scores.get("silhouette", float("nan"))),
                "n_scored": len(scored), **opts}
        return explore.Misfits({"overall": overall, "per_cluster": per_cluster,
                                "clusters": clusters}, info, notes,
                               source=_names(dataset, vector_field, alias, None))

    @_translated
    def aggregate(self, dataset: str, vector_field: str, alias: str,
                  fields: Sequence[str] = (), *, top: int = 5, noise_label: Any = None,
                  noise: str | None = None) -> explore.FieldSummary:
        from ..explore.representatives import check_n
        from ..explore.summaries import NUMERIC_COLUMNS, VALUE_COLUMNS, grouped_names
        top = check_n(top, "top")
        col = self._alias(dataset, vector_field, alias)
        fields = self._named_fields(dataset, fields)
        if not fields:
            raise InvalidInputError("Name the fields to summarise, e.g. fields=['price', "
                                    "'category'].")
        kinds = {f: self._summary_kind(dataset, f) for f in fields}
        numeric, values = [], []
        with self.store.snapshot():
            opts = self._view_noise(dataset, vector_field, alias, noise_label, noise)
            for f, kind in kinds.items():
                t = self.store.cluster_groups(dataset, col, f, vector_field=vector_field,
                                              numeric=kind == "numeric", top=top, **opts)
                cols = [t.column(i).to_pylist() for i in range(t.num_columns)]
                names = grouped_names(cols[0], cols[1], opts["noise_label"])
                if kind == "numeric":
                    numeric.append(pd.DataFrame({"cluster": names, "field": f,
                                                 **dict(zip(NUMERIC_COLUMNS[2:], cols[2:],
                                                            strict=True))}))
                else:
                    groups = pd.DataFrame({"cluster": names, "value": cols[2], "n": cols[3],
                                           "value_total": cols[4], "cluster_total": cols[5],
                                           "total": cols[6]})
                    values.append(explore.value_table(f, groups, top))
        tables = {"numeric": (pd.concat(numeric, ignore_index=True) if numeric
                              else pd.DataFrame(columns=NUMERIC_COLUMNS)),
                  "values": (pd.concat(values, ignore_index=True) if values
                             else pd.DataFrame(columns=VALUE_COLUMNS))}
        if not numeric:
            tables = {"values": tables["values"], "numeric": tables["numeric"]}
        return explore.FieldSummary(tables, {"fields": list(fields), "top": top, **opts},
                                    source=_names(dataset, vector_field, alias, None))

    @_translated
    def keywords(self, dataset: str, vector_field: str, alias: str, text_field: str, *,
                 n: int = 10, stop_words: str | list[str] | None = "english",
                 ngram_range: tuple[int, int] = (1, 1), min_df: int | float = 1,
                 noise_label: Any = None, noise: str | None = None) -> explore.Keywords:
        from ..explore.keywords import vectorizer
        from ..explore.representatives import check_n
        from ..explore.summaries import view_clusters
        n = check_n(n)
        vectorizer(stop_words=stop_words, ngram_range=ngram_range, min_df=min_df)  # checked
        col = self._alias(dataset, vector_field, alias)
        self._text_field(dataset, text_field)
        with self.store.snapshot():
            opts = self._view_noise(dataset, vector_field, alias, noise_label, noise)
            t = self.store.labelled(dataset, col, [text_field], present=[vector_field])
        ids, labels, texts = (t.column(i).to_numpy(zero_copy_only=False) for i in range(3))
        keep, clusters = view_clusters(labels, ids, **opts)
        table = explore.keywords(texts[keep], clusters, n=n, stop_words=stop_words,
                                 ngram_range=ngram_range, min_df=min_df)
        return explore.Keywords({"keywords": table},
                                {"text_field": text_field, "n": n, "min_df": min_df,
                                 "ngram_range": list(ngram_range), **opts},
                                source=_names(dataset, vector_field, alias, None))

    @_translated
    def truth_breakdown(self, dataset: str, vector_field: str, alias: str,
                        ground_truth_field: str, *, top: int = 3, noise_label: Any = None,
                        noise: str | None = None) -> explore.TruthBreakdown:
        from ..explore.representatives import check_n
        from ..explore.summaries import grouped_names
        top = check_n(top, "top")
        col = self._alias(dataset, vector_field, alias)
        truth = self._field(dataset, ground_truth_field)
        if truth in self.store.vector_fields(dataset):
            raise InvalidInputError(f"Field {truth!r} is a vector field; the ground truth is a "
                                    "field of labels (classes), such as a category.")
        with self.store.snapshot():
            opts = self._view_noise(dataset, vector_field, alias, noise_label, noise)
            t = self.store.cluster_groups(dataset, col, truth, vector_field=vector_field,
                                          numeric=False, **opts)
        cols = [t.column(i).to_pylist() for i in range(4)]
        if not cols[0]:
            raise InvalidInputError(f"No document of alias {alias!r} has a value of "
                                    f"{truth!r}: nothing to compare with.")
        pairs = pd.DataFrame({"cluster": grouped_names(cols[0], cols[1], opts["noise_label"]),
                              "value": cols[2], "n": cols[3]})
        return explore.TruthBreakdown(explore.truth_tables(pairs, top=top),
                                      {"ground_truth_field": truth, "top": top, **opts},
                                      source=_names(dataset, vector_field, alias, truth))

    # -- edits that make new aliases ------------------------------------------------------
    @_translated
    def merge_clusters(self, dataset: str, vector_field: str, alias: str,
                       groups: Sequence[Sequence[Any]], new_alias: str | None = None
                       ) -> dict[str, Any]:
        new_alias = self._new_alias(dataset, vector_field, alias, new_alias, "merged")
        ids, labels, noise_label = self._alias_labels(dataset, vector_field, alias)
        out, mapping = explore.merged(labels, groups, alias=alias, noise_label=noise_label)
        edit = {"op": "merge", "groups": [[_plain(c) for c in g] for g in _groups_of(mapping)]}
        return self._store_edit(dataset, vector_field, alias, new_alias, ids, out, edit,
                                noise_label)

    @_translated
    def relabel(self, dataset: str, vector_field: str, alias: str, mapping: dict[Any, Any],
                new_alias: str | None = None) -> dict[str, Any]:
        new_alias = self._new_alias(dataset, vector_field, alias, new_alias, "relabelled")
        ids, labels, noise_label = self._alias_labels(dataset, vector_field, alias)
        out, used = explore.relabelled(labels, mapping, alias=alias)
        if noise_label is not None:  # a renamed noise label stays the noise label
            noise_label = next((new for old, new in used.items()
                                if same_label(old, noise_label)), noise_label)
        edit = {"op": "relabel", "mapping": [[_plain(a), _plain(b)] for a, b in used.items()]}
        return self._store_edit(dataset, vector_field, alias, new_alias, ids, out, edit,
                                noise_label)

    @_translated
    def subcluster(self, dataset: str, vector_field: str, alias: str, cluster: Any,
                   model: ModelSpec, new_alias: str | None = None, *,
                   progress: Progress | None = None) -> dict[str, Any]:
        spec = ModelSpec.of(model).require_allowed(self.models)
        estimator = spec.build()  # a wrong parameter fails before the data is read
        new_alias = self._new_alias(dataset, vector_field, alias, new_alias,
                                    f"split{cluster}")
        ids, labels, noise_label = self._alias_labels(dataset, vector_field, alias)
        cluster = explore.edits.find_cluster(
            cluster, [c for c in dict.fromkeys(labels.tolist())
                      if noise_label is None or not same_label(c, noise_label)], alias,
            noise_label)
        report = progress or _silent
        with self.store.snapshot(), self._source(dataset, vector_field, alias, None) as source:
            xs, member_ids = [], []
            for b in source.batches():
                mine = np.array([same_label(v, cluster) for v in b.labels], dtype=bool)
                xs.append(np.asarray(b.X)[mine])
                member_ids.append(np.asarray(b.ids, dtype=object)[mine])
                report("reading", len(b.X), source.n_rows)
        X = np.concatenate(xs)
        _check_k_of(estimator, len(X), f"cluster {cluster!r} with {vector_field!r}",
                       "stored")
        report(spec.stage, 0, None)
        fitted = self.runner.fit(spec, X)  # a server's runner: a supervised worker process
        report(spec.stage, len(X), len(X))
        members = pd.Index(ids).get_indexer(np.concatenate(member_ids))
        out, names, new_noise = explore.split(labels, members, cluster, fitted.labels,
                                              sub_noise=fitted.noise_label,
                                              noise_label=noise_label)
        edit = {"op": "subcluster", "cluster": _plain(cluster), "model": spec.cls,
                "params": clustering.plain(spec.params),
                "new_clusters": [[_plain(a), _plain(b)] for a, b in names.items()],
                "noise": fitted.n_noise}
        return self._store_edit(dataset, vector_field, alias, new_alias, ids, out, edit,
                                new_noise)

    def _new_alias(self, dataset: str, vector_field: str, alias: str, new_alias: str | None,
                   suffix: str) -> str:
        """The name of an edit's alias: new (an edit never replaces an alias), checked."""
        self._alias(dataset, vector_field, alias)
        new_alias = check_name(f"{alias}_{suffix}" if new_alias is None else new_alias,
                               "new_alias")
        if (vector_field, new_alias) in self.store.aliases(dataset):
            raise InvalidInputError(
                f"Alias {new_alias!r} of {dataset!r}/{vector_field!r} exists; an edit makes a "
                "new alias and never replaces one. Choose another new_alias, or delete "
                f"{new_alias!r} first.")
        return new_alias

    def _alias_labels(self, dataset: str, vector_field: str, alias: str
                      ) -> tuple[np.ndarray, np.ndarray, Any]:
        """The alias's labelled ids, their labels and its recorded noise label."""
        col = self._alias(dataset, vector_field, alias)
        t = self.store.labelled(dataset, col)
        ids = t.column(0).to_numpy(zero_copy_only=False)
        labels = np.asarray(t.column(1).to_pylist(), dtype=object)
        noise_label = self.store.alias_info(dataset, vector_field, alias)["params"].get(
            "noise_label")
        return ids, labels, noise_label

    def _store_edit(self, dataset: str, vector_field: str, parent: str, new_alias: str,
                    ids: np.ndarray, labels: np.ndarray, edit: dict[str, Any],
                    noise_label: Any) -> dict[str, Any]:
        """The edited labels stored as ``new_alias``, recording the parent and the edit."""
        params = {"parent": parent, "edit": edit, "noise_label": clustering.plain(noise_label)}
        self.store.set_labels(dataset, vector_field, new_alias, ids, labels,
                              method=edit["op"], params=params)
        values, counts = np.unique(np.asarray(labels).astype(str), return_counts=True)
        typed = dict(zip(np.asarray(labels).tolist(), np.asarray(labels).tolist(),
                         strict=True))
        by_text = {str(v): v for v in typed}
        sizes = {_plain(by_text[v]): int(c) for v, c in zip(values, counts, strict=True)
                 if noise_label is None or not same_label(by_text[v], noise_label)}
        n_noise = int(len(labels) - sum(sizes.values()))
        return {"dataset_id": dataset, "vector_field": vector_field, "alias": new_alias,
                "parent": parent, "method": edit["op"], "edit": edit,
                "n_clusters": len(sizes), "sizes": sizes, "noise_label": noise_label,
                "n_noise": n_noise, "labelled": len(labels)}

    def _view_noise(self, dataset: str, vector_field: str, alias: str, noise_label: Any,
                    noise: str | None) -> dict[str, Any]:
        """The noise label (the alias's recorded one unless given) and policy of a view,
        checked and warned about as the metrics do."""
        self._warn_unseen_noise(dataset, vector_field, alias, noise_label)
        opts = self._noise_options(dataset, vector_field, alias, {"noise_label": noise_label})
        if opts["noise_label"] is None:
            self._warn_unrecorded_noise(dataset, vector_field, alias)
        label = opts["noise_label"]
        return {"noise_label": label, "noise": check_noise_policy(noise, label)}

    def _cluster(self, dataset: str, vector_field: str, alias: str, cluster: Any,
                 opts: dict[str, Any]) -> Any:
        """The stored label that ``cluster`` names (not the noise label when excluded)."""
        known = self.store.label_counts(dataset, label_column(vector_field, alias)
                                        ).column("cluster").to_pylist()
        label = opts["noise_label"]
        if label is not None and opts["noise"] == "exclude":
            known = [k for k in known if not same_label(k, label)]
            return explore.edits.find_cluster(cluster, known, alias, label)
        return explore.edits.find_cluster(cluster, known, alias)

    def _named_fields(self, dataset: str, fields) -> list[str]:
        if fields is None:
            return []
        if isinstance(fields, str):
            fields = [fields]
        fields = list(fields)
        for f in fields:
            if not isinstance(f, str):
                raise InvalidInputError(f"fields must be names (str); got {f!r}.")
            self._field(dataset, f)
        return fields

    def _summary_kind(self, dataset: str, field: str) -> str:
        sqltype = self.store.schema(dataset)[field]
        base = sqltype.split("(")[0]
        if base in _NUMERIC_TYPES:
            return "numeric"
        if base in ("VARCHAR", "BOOLEAN", "DATE", "TIMESTAMP", "TIME"):
            return "values"
        raise InvalidInputError(f"Field {field!r} of dataset {dataset!r} is {sqltype}: a field "
                                "summary takes numbers, text, booleans and dates.")

    def _with_fields(self, dataset: str, table: pd.DataFrame, fields: list[str]
                     ) -> pd.DataFrame:
        """The table with the documents' ``fields`` as columns (by ``_id``)."""
        if not fields or table.empty:
            return table.assign(**{_column(table, f): None for f in fields})
        docs = self.store.get_table(dataset, list(dict.fromkeys(table["_id"].tolist())),
                                    fields)
        by_id = dict(zip(docs.column(0).to_pylist(), range(docs.num_rows), strict=True))
        rows = [by_id.get(i) for i in table["_id"]]
        out = table.copy()
        for j, f in enumerate(fields):
            values = docs.column(j + 1).to_pylist()
            out[_column(table, f)] = [None if r is None else values[r] for r in rows]
        return out

    @_translated
    def check(self, dataset: str, vector_field: str | None = None, aliases: Iterable[str] = (),
              fields: Iterable[str] = ()) -> int | None:
        """Raise the error an operation naming these would raise (an unknown dataset, vector
        field, alias or field), without running it: a server answers before queueing a job.
        Returns the number of documents with ``vector_field`` (None without one)."""
        self.store.require(dataset)
        for field in fields:
            self._field(dataset, field)
        if vector_field is None:
            return None
        self._vector_field(dataset, vector_field)
        for alias in aliases:
            self._alias(dataset, vector_field, alias)
        return int(self.store.field_count(dataset, vector_field)[1])

    # -- lookups with messages a person can act on ----------------------------------------
    def _vector_field(self, dataset: str, field: str) -> int:
        schema = self.store.schema(dataset)
        dims = self.store.vector_fields(dataset)
        if field in dims:
            return dims[field]
        if field in schema:
            hint = ""
            if schema[field].endswith("[]"):  # lists: maybe vectors imported unrecognised
                hint = (f" If it holds vectors, make it a vector field: clustermetrics datasets "
                        f"set-vector {dataset} {field} (or Dataset.set_vector_field({field!r})).")
            raise InvalidInputError(
                f"Field {field!r} of dataset {dataset!r} is {schema[field]}, not a vector field."
                f" Vector fields: {', '.join(dims) or 'none'}.{hint}"
            )
        raise NotFoundError("vector field", field, dims, f" in dataset {dataset!r}")

    def _field(self, dataset: str, field: str) -> str:
        schema = self.store.schema(dataset)
        if field not in schema:
            plain = [f for f in schema if not f.startswith(CLUSTER_PREFIX) and f != "_id"]
            raise NotFoundError("field", field, plain, f" in dataset {dataset!r}")
        return field

    def _alias(self, dataset: str, vector_field: str, alias: str) -> str:
        aliases = self.store.aliases(dataset)
        known = [a for vf, a in aliases if vf == vector_field]
        if alias not in known:
            if not known and vector_field not in self.store.vector_fields(dataset):
                self._vector_field(dataset, vector_field)  # the field is the mistake
            raise NotFoundError("cluster alias", alias, known,
                                f" for {dataset!r}/{vector_field!r}")
        return label_column(vector_field, alias)

    def _check_ks(self, dataset: str, vector_field: str, ks: list, *,
                  for_metrics: bool) -> None:
        """Every k an integer from 2 to the number of documents with the vector less one:
        scikit-learn's rule for the metrics (2 <= k <= n - 1), applied to every clustering so
        that no alias is made that the metrics refuse. ``for_metrics`` is kept for callers."""
        check_k_values(ks)
        _, n = self.store.field_count(dataset, vector_field)
        most = n - 1
        bad = [int(k) for k in ks if not 2 <= k <= most]
        if bad and n < 3:
            raise InvalidInputError(
                f"Clustering needs at least 3 documents with {vector_field!r} (the metrics need "
                f"2 clusters or more, and fewer clusters than documents); {dataset!r} has "
                f"{n:,}. Nothing was run.")
        if bad:
            shown = ", ".join(map(str, bad[:5])) + (", ..." if len(bad) > 5 else "")
            raise InvalidInputError(
                f"k must be from 2 to {most:,} for the {n:,} documents of {dataset!r} with "
                f"{vector_field!r} (the metrics need fewer clusters than documents); got "
                f"{shown}. Nothing was run.")

    def _check_model_k(self, dataset: str, vector_field: str, estimator: Any) -> None:
        """A model's number of clusters (``n_clusters``, ``n_components``) by the same rule
        as k-means's k: from 2 to the documents less one."""
        _, n = self.store.field_count(dataset, vector_field)
        _check_k_of(estimator, n, f"{dataset!r} with {vector_field!r}", "run")

    def _check_sweep_aliases(self, dataset: str, vector_field: str, ks: list,
                             random_state: int) -> None:
        """A sweep replaces only the ``kmeans_{k}`` aliases that a sweep made, or that k-means
        made with the same k and seed; never labels set by hand or made another way."""
        def same(k: int):
            return lambda info: (info["method"] in ("kmeans", "minibatch_kmeans")
                                 and info["params"].get("k") == k
                                 and info["params"].get("random_state") == random_state)

        self._refuse_replacing(dataset, vector_field,
                               [(f"kmeans_{k}", same(k)) for k in ks], "other k")

    def _check_grid_aliases(self, dataset: str, vector_field: str,
                            runs: list[tuple[ModelSpec, Any, str]]) -> None:
        """A grid sweep replaces only the aliases that a sweep made, or that the same model
        with the same parameters made; never labels set by hand or made another way."""
        def same(run: ModelSpec):
            return lambda info: (info["params"].get("model") == run.cls and
                                 info["params"].get("params") == clustering.plain(run.params))

        self._refuse_replacing(dataset, vector_field,
                               [(alias, same(run)) for run, _, alias in runs], "other values")

    def _refuse_replacing(self, dataset: str, vector_field: str, planned: list,
                          instead: str) -> None:
        """Refuse, before any work, to replace an alias of ``planned`` (alias, same recipe?)
        that no sweep made and that another recipe made."""
        known = {a for vf, a in self.store.aliases(dataset) if vf == vector_field}
        theirs = []
        for alias, same_recipe in planned:
            if alias not in known:
                continue
            info = self.store.alias_info(dataset, vector_field, alias)
            if info["params"].get("made_by") != "sweep" and not same_recipe(info):
                theirs.append(alias)
        if theirs:
            shown = ", ".join(theirs[:5]) + (", ..." if len(theirs) > 5 else "")
            raise InvalidInputError(
                f"The sweep would replace {len(theirs)} alias{'es' if len(theirs) > 1 else ''}"
                f" it did not make ({shown}). Delete or rename them, choose {instead}, or pass "
                "overwrite=True (--overwrite) to replace them. Nothing was run.")

    def _warn_unrecorded_noise(self, dataset: str, vector_field: str, alias: str) -> None:
        """Labels -1 with no noise label recorded (labels brought from elsewhere, or read back
        from an exported file): scored as one cluster, which is rarely what -1 meant."""
        col = label_column(vector_field, alias)
        counts = self.store.label_counts(dataset, col).to_pydict()
        n = sum(c for v, c in zip(counts["cluster"], counts["n"], strict=True)
                if same_label(v, clustering.NOISE_LABEL))
        if n:
            warn(f"Alias {alias!r} labels {counted(n, 'document')} {clustering.NOISE_LABEL} "
                 "and records "
                 "no noise label, so they are scored as one cluster. If they are noise, pass "
                 f"noise_label={clustering.NOISE_LABEL} (--noise-label {clustering.NOISE_LABEL})"
                 " or record it with set_cluster_labels(..., noise_label="
                 f"{clustering.NOISE_LABEL}).", stacklevel=5)

    def _warn_unseen_noise(self, dataset: str, vector_field: str, alias: str,
                           noise_label: Any) -> None:
        """A noise label that no document of the alias has: most likely a typo."""
        if noise_label is None:
            return
        col = label_column(vector_field, alias)
        values = self.store.label_counts(dataset, col).column("cluster").to_pylist()
        if not any(same_label(v, noise_label) for v in values):
            shown = ", ".join(repr(v) for v in values[:8]) + (", ..." if len(values) > 8 else "")
            warn(f"Noise label {noise_label!r} occurs nowhere in alias {alias!r} (its labels: "
                 f"{shown or 'none'}), so no document was left out as noise.", stacklevel=5)

    def _source(self, dataset, vector_field, cluster_alias, ground_truth_field) -> StoreSource:
        dim = self._vector_field(dataset, vector_field)
        col = self._alias(dataset, vector_field, cluster_alias)
        truth = self._field(dataset, ground_truth_field) if ground_truth_field else None
        if truth and truth in self.store.vector_fields(dataset):
            raise InvalidInputError(f"Field {truth!r} is a vector field; the ground truth is a "
                                    "field of labels (classes), such as a category.")
        return StoreSource(self.store, dataset, vector_field, col, truth, dim=dim,
                           cache_mb=self.cache_mb)

    @staticmethod
    def _evaluate(source: Any, names: dict, **options) -> ClusterMetrics:
        """The metrics of a source (a StoreSource, or one that notes its ids)."""
        result = evaluate_source(source, **options)
        result.counts["n_without_vector"] = source.n_without_vector
        result.source.update(names)
        return result

    def _hover(self, dataset, points, fields, truth_field) -> list[str]:
        extra = {}
        if fields:
            docs = [nest(r) for r in self.store.get_table(dataset, points.ids,
                                                          fields).to_pylist()]
            for f in fields:
                extra[f] = [_dig(d, f) for d in docs]
        out = []
        for i, doc_id in enumerate(points.ids):
            parts = [f"_id: {doc_id}", f"cluster: {points.labels[i]}"]
            if points.truth is not None:
                parts.append(f"{truth_field}: {points.truth[i]}")
            parts += [f"{f}: {extra[f][i]}" for f in fields]
            # no tags, no entities Plotly would not turn back (it has no &quot;)
            out.append("<br>".join(html.escape(str(p), quote=False) for p in parts))
        return out


def _silent(stage: str, done: int, total: int | None) -> None:
    pass


_NUMERIC_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT",
                  "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL"}


def _check_k_of(estimator: Any, n: int, of: str, nothing: str) -> None:
    """A model's number of clusters (``n_clusters``, ``n_components``) by k-means's rule:
    from 2 to the documents less one (the metrics need fewer clusters than documents)."""
    for key in ("n_clusters", "n_components"):
        k = getattr(estimator, key, None)
        if isinstance(k, (int, np.integer)) and not isinstance(k, bool):
            if not 2 <= k <= n - 1:
                raise InvalidInputError(
                    f"{key} must be from 2 to {n - 1:,} for the {n:,} documents of {of} (the "
                    f"metrics need fewer clusters than documents); got {int(k)}. Nothing was "
                    f"{nothing}.")
            return


def _column(table: pd.DataFrame, field: str) -> str:
    """A document field's column in a table, renamed where the table has that name."""
    return f"{field} (field)" if field in table.columns else field


def _groups_of(mapping: dict) -> list[list]:
    """{merged: into} back to groups [into, merged...], in order."""
    groups: dict[Any, list] = {}
    for old, new in mapping.items():
        groups.setdefault(new, [new]).append(old)
    return list(groups.values())


def check_option_values(options: dict) -> None:
    """The metric options' values that can be checked without data or an alias's recorded
    noise label: an embedded call checks them first, and a server checks a request's with
    this same function, so both refuse a value in the same words."""
    resolve_metric(options.get("metric", "euclidean"))
    if options.get("noise") is not None:  # the policy's name (whether it needs a label: later)
        check_noise_policy(options["noise"], "any")
    size = options.get("sample_size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, (int, np.integer))
                             or size < 1):
        raise InvalidInputError(f"sample_size must be a positive integer; got {size!r}.")
    _check_exact(options)
    if options.get("random_state") is not None:
        check_random_state(options["random_state"])
    memory = options.get("working_memory")
    if memory is not None and (isinstance(memory, bool) or not isinstance(
            memory, (int, float, np.integer, np.floating)) or not 0 < memory < math.inf):
        raise InvalidInputError(f"working_memory must be a positive number of MiB; got "
                                f"{memory!r}.")


def check_random_state(seed: Any) -> None:
    """A seed: None or an integer from 0 to 2**32 - 1 (numpy's and scikit-learn's range), or
    (embedded) a numpy random generator."""
    if isinstance(seed, (np.random.RandomState, np.random.Generator)):
        return
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                             or not 0 <= seed < 2**32):
        raise InvalidInputError(f"random_state must be an integer from 0 to 4294967295, or "
                                f"None; got {seed!r}.")


def check_k_values(ks: Iterable) -> None:
    """Every k an integer (its range needs the data: see ``LocalAPI._check_ks``)."""
    bad_type = [k for k in ks if isinstance(k, bool) or not isinstance(k, (int, np.integer))]
    if bad_type:
        raise InvalidInputError(f"k must be an integer; got {bad_type[0]!r}.")


def check_report_options(projection: Any, max_points: Any, random_state: Any = None) -> None:
    """A report's projection, number of points and seed."""
    from ..report.projection import check_method
    check_method(projection)
    check_random_state(random_state)
    if isinstance(max_points, bool) or not isinstance(max_points, (int, np.integer)) \
            or max_points < 1:
        raise InvalidInputError(f"max_points must be a positive integer; got "
                                f"{max_points!r}.")


def _check_options(options: dict) -> None:
    """The metric options that can be checked without data, before any work."""
    check_option_values(options)
    check_noise_policy(options.get("noise"), options.get("noise_label"))


def _check_exact(options: dict) -> None:
    """``exact`` is a bool, and asks for no sample."""
    size, exact = options.get("sample_size"), options.get("exact")
    if exact is not None and not isinstance(exact, bool):
        raise InvalidInputError(f"exact must be True or False; got {exact!r}.")
    if exact and size is not None:
        raise InvalidInputError(f"exact=True and sample_size={size!r} contradict each other: "
                                "give sample_size to estimate the silhouette, or exact=True "
                                "for its exact value.")


def _sampling(options: dict, n_rows: int) -> dict:
    """The options under the one sampling rule (:func:`~clustermetrics.metrics.sampling.
    auto_sample`: reports, pages, every call and the Dask engine): a pairwise silhouette on
    more than ``EXACT_LIMIT`` documents is estimated from a stratified sample of
    ``AUTO_SAMPLE_SIZE`` (seed 0 unless given), with its 95% interval, unless the options
    give a ``sample_size`` or ask ``exact=True``."""
    options = dict(options)
    pairwise = resolve_metric(options.get("metric", "euclidean")) not in LINEAR_METRICS
    size, seed, auto = auto_sample(pairwise, options.get("sample_size"),
                                   options.get("random_state"), bool(options.pop("exact", None)),
                                   n_rows)
    if auto:
        options["sample_size"], options["random_state"] = size, seed
    return options


def _by_name(names: tuple[str, ...]) -> list:
    """A sort key that orders the numbers inside names by value (kmeans_2 before kmeans_10)."""
    return [[(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", n)]
            for n in names]


def _default_options(options: dict) -> bool:
    """Whether the metric options are the defaults (what the kept metrics hold)."""
    given = {k: v for k, v in options.items()
             if v is not None and k not in ("working_memory", "progress")}
    return (resolve_metric(given.pop("metric", "euclidean")) == "euclidean"
            and not given.pop("exact", False) and given.pop("random_state", 0) == 0
            and not given)


def _kept_entry(result: ClusterMetrics, coverage: float, version: int) -> dict:
    """The headline metrics of a result, as plain JSON values (NaN as None)."""
    plain = result.to_dict()
    return {"scores": plain["scores"], "n_clusters": int(result.counts["n_clusters"]),
            "n_used": int(result.counts["n_used"]), "coverage": float(coverage),
            "silhouette_ci": plain["silhouette_ci"],
            "silhouette_method": result.silhouette_method, "version": int(version)}


def _check_finite(batch: Batch, vector_field: str) -> None:
    """Vectors with NaN or infinity (a store written before imports refused them), or whose
    squared norm overflows their precision (every clusterer measures squared distances),
    cannot be clustered: named, instead of scikit-learn's error or a silent nonsense fit."""
    X = np.asarray(batch.X)
    with np.errstate(over="ignore", invalid="ignore"):
        bad = ~np.isfinite(np.einsum("ij,ij->i", X, X))
    if bad.any():
        ids = ", ".join(repr(str(i)) for i in np.asarray(batch.ids)[bad][:5])
        what = ("NaN or infinite values" if not np.isfinite(X[bad]).all()
                else f"values whose squares overflow {X.dtype}")
        raise InvalidInputError(
            f"Vector field {vector_field!r} has {what} in "
            f"{counted(int(bad.sum()), 'document')} (first "
            f"_id: {ids}); fix or delete them before clustering.")


def _names(dataset, vector_field, cluster_alias, ground_truth_field) -> dict:
    return {"dataset_id": dataset, "vector_field": vector_field,
            "cluster_alias": cluster_alias, "ground_truth_field": ground_truth_field}


def _row(result: ClusterMetrics, coverage: float) -> dict:
    return {**result.scores, "n_clusters": result.counts["n_clusters"],
            "n_used": result.counts["n_used"], "coverage": coverage}


def _coverage(source: StoreSource, result: ClusterMetrics, noise_label: Any,
              noise: str | None) -> float:
    """Share of the documents with the vector that are in a cluster: neither unlabelled nor
    noise, whatever the noise policy made of the noise for the scores."""
    n = result.counts["n_documents"]
    clustered = result.counts["n_used"]
    if noise_label is not None and noise in ("cluster", "singletons"):  # noise was scored
        clustered -= sum(encode_labels(b.labels, noise_label=noise_label).n_noise
                         for b in source.batches())
    return clustered / n if n else 0.0


@dataclass
class _Read:
    """A fit's input: the vectors and each one's hash, read in one snapshot."""

    batch: Batch
    hashes: pa.Array


def _read(source: StoreSource, progress: Progress | None) -> Batch:
    """Every vector of the source, reporting "reading" as the rows arrive; vectors with NaN
    or infinity are named before any fit."""
    report = progress or _silent
    batch = source.materialize(lambda rows: report("reading", rows, source.n_rows))
    _check_finite(batch, source.vector_field)
    return batch


def _table(rows: dict) -> pd.DataFrame:
    table = pd.DataFrame.from_dict(rows, orient="index")
    counts = ["n_clusters", "n_used", "coverage"]  # last: a grid's values, scores, counts
    if set(counts) <= set(table.columns):
        table = table[[c for c in table.columns if c not in counts] + counts]
    return table.astype({"n_clusters": np.int64, "n_used": np.int64})


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v


def _sample_points(source: StoreSource, m: int, seed: int) -> Batch:
    """A uniform random sample of at most ``m`` documents (with labels), streamed."""
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(source.n_rows, size=min(m, source.n_rows), replace=False))
    parts, start = [], 0
    for b in source.batches():
        lo, hi = np.searchsorted(rows, [start, start + len(b.X)])
        take = rows[lo:hi] - start
        start += len(b.X)
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
