"""The Dask engine: the same numbers as the local engine, on 2 workers."""

import os
import sys

import numpy as np
import pyarrow as pa
import pytest

import clustermetrics as cm
from clustermetrics.engine import parquet as pq_engine
from clustermetrics.metrics import passes

from .conftest import write_files

pytest.importorskip("distributed")
from clustermetrics.engine import dask as dask_engine

TOL = {"rel": 1e-12, "abs": 1e-12}
CASES = [  # (metric, sample_size, noise)
    ("cosine", None, "exclude"),
    ("sqeuclidean", None, "cluster"),
    ("euclidean", None, "exclude"),
    ("euclidean", None, "singletons"),
    ("euclidean", 150, "exclude"),
    ("manhattan", 200, "cluster"),
]


def same_result(a: cm.ClusterMetrics, b: cm.ClusterMetrics, *, names: bool = True) -> None:
    """Equal to rounding; ``names=False`` where noise singletons are named by their place,
    which is a row number in one array and ``partition:row`` in partitioned files."""
    assert set(a.scores) == set(b.scores)
    for name in a.scores:
        assert a.scores[name] == pytest.approx(b.scores[name], **TOL), name
    for name in ("n_documents", "n_used", "n_clusters", "n_missing_label", "n_noise",
                 "n_scored", "n_external", "n_classes", "n_missing_truth"):
        assert a.counts.get(name) == b.counts.get(name), name
    assert a.silhouette_method == b.silhouette_method
    if b.silhouette_ci is None:
        assert a.silhouette_ci is None
    else:
        assert a.silhouette_ci == pytest.approx(b.silhouette_ci, **TOL)
    pa_, pb = a.per_cluster, b.per_cluster
    if not names:  # the clusters proper, not the singletons
        pa_, pb = (p[[not str(c).startswith("-1#") for c in p.index]].sort_index()
                   for p in (pa_, pb))
    assert list(pa_.index) == list(pb.index)
    assert (pa_["size"].to_numpy() == pb["size"].to_numpy()).all()
    assert pa_["silhouette"].to_numpy() == pytest.approx(pb["silhouette"].to_numpy(), **TOL)
    if names:
        np.testing.assert_allclose(a.centroids.to_numpy(), b.centroids.to_numpy(), rtol=1e-12,
                                   atol=1e-12)


@pytest.mark.parametrize(("metric", "sample_size", "noise"), CASES)
def test_every_metric_equals_the_local_engine(dask_client, parquet_dir, clustering, metric,
                                              sample_size, noise):
    X, labels, truth = clustering
    options = {"metric": metric, "sample_size": sample_size, "random_state": 7,
               "noise_label": -1, "noise": noise}
    got = cm.evaluate_parquet(parquet_dir, "emb", "cluster", "truth", client=dask_client,
                              batch_rows=64, **options)
    # the arrays on one process (per-sample detail kept there, dropped on the cluster)
    names = noise != "singletons"
    same_result(got, cm.evaluate(X, labels, truth, **options), names=names)
    # the same files through the local driver, in other slices
    local = pq_engine.evaluate_local(parquet_dir, "emb", "cluster", "truth", batch_rows=100,
                                     **options)
    same_result(got, local, names=names)
    assert got.counts["n_without_vector"] == 0
    assert got.source == {"parquet": str(parquet_dir), "vector_field": "emb",
                          "label_field": "cluster", "ground_truth_field": "truth"}
    assert got.silhouette_detail is None


def test_sampled_silhouette_scores_the_same_rows_as_one_array(dask_client, parquet_dir,
                                                              clustering):
    X, labels, _ = clustering
    got = cm.evaluate_parquet(parquet_dir, "emb", "cluster", metric="euclidean",
                              sample_size=100, random_state=3, client=dask_client, batch_rows=50)
    ref = cm.silhouette(X, labels, sample_size=100, random_state=3)
    scored = ref.per_cluster["scored"]
    assert got.counts["n_scored"] == ref.n_scored
    assert got.per_cluster["scored"].tolist() == scored.tolist()
    assert got.scores["silhouette"] == pytest.approx(ref.score, **TOL)
    assert got.silhouette_ci == pytest.approx(ref.ci, **TOL)
    assert got.per_cluster["min"].to_numpy() == pytest.approx(
        ref.per_cluster["min"].to_numpy(), **TOL)  # the same samples: the same extremes
    other = cm.evaluate_parquet(parquet_dir, "emb", "cluster", metric="euclidean",
                                sample_size=100, random_state=4, client=dask_client)
    assert other.scores["silhouette"] != got.scores["silhouette"]


def test_list_vectors_and_null_vectors(dask_client, clustering, tmp_path):
    X, labels, truth = clustering
    rows = np.arange(len(X))
    missing = rows % 97 == 5
    arr = vectors_with_nulls(X, missing)
    folder = write_files(tmp_path / "lists", X, labels, truth, kind="list",
                         vector="other", extra={"emb": arr})
    got = cm.evaluate_parquet(folder / "*.parquet", "emb", "cluster", "truth",
                              metric="cosine", client=dask_client, batch_rows=64)
    keep = ~missing
    ref = cm.evaluate(X[keep], labels[keep], truth[keep], metric="cosine")
    same_result(got, ref)
    assert got.counts["n_without_vector"] == int(missing.sum())
    assert got.counts["n_documents"] == int(keep.sum())


def vectors_with_nulls(X, missing):
    flat = pa.array(X.ravel())
    mask = pa.array(missing)
    offsets = pa.array(np.arange(0, X.size + 1, X.shape[1], dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, flat, mask=mask)


def test_progress_reports_rows_per_stage(dask_client, parquet_dir, clustering):
    seen = {}

    def progress(stage, rows, total):
        done, _ = seen.get(stage, (0, total))
        seen[stage] = (done + rows, total)

    cm.evaluate_parquet(parquet_dir, "emb", "cluster", metric="cosine", client=dask_client,
                        progress=progress)
    n = len(clustering[0])
    assert seen["statistics"] == (n, n)
    assert seen["silhouette"] == (n, n)
    assert seen["files"] == (4, 4)


def test_a_scheduler_address_is_used_and_left_running(dask_client, parquet_dir, clustering):
    X, labels, _ = clustering
    got = cm.evaluate_parquet(str(parquet_dir), "emb", "cluster", metric="sqeuclidean",
                              client=dask_client.scheduler.address)
    assert got.scores["silhouette"] == pytest.approx(
        cm.silhouette_score(X, labels, metric="sqeuclidean"), **TOL)
    assert dask_client.submit(sum, [1, 2]).result() == 3  # still up


def test_without_a_client_a_local_cluster_is_started_and_closed(parquet_dir, monkeypatch):
    import distributed
    made, made_clusters, environ = [], [], []

    class Recorded(distributed.LocalCluster):  # the asked-for kind, kept in process here
        def __init__(self, **kwargs):
            import dask
            made.append(dict(kwargs))
            environ.append(dask.config.get("distributed.nanny.pre-spawn-environ"))
            super().__init__(**{**kwargs, "processes": False})
            self.closed = False
            made_clusters.append(self)

        def close(self, *a, **k):
            self.closed = True
            return super().close(*a, **k)

    monkeypatch.setattr(distributed, "LocalCluster", Recorded)
    got = cm.evaluate_parquet(parquet_dir, "emb", "cluster", metric="cosine", workers=2)
    assert got.counts["n_clusters"] == 6  # -1 is a label like any other without noise_label
    (kwargs,) = made
    assert made_clusters[0].closed
    assert kwargs["n_workers"] == 2 and kwargs["threads_per_worker"] == 1
    assert kwargs["processes"] is True and kwargs["dashboard_address"] is None
    # workers keep Dask's one BLAS thread, not its malloc trim threshold (page faults)
    assert environ[0].get("OPENBLAS_NUM_THREADS") in (1, "1")
    assert "MALLOC_TRIM_THRESHOLD_" not in environ[0]


def test_the_engine_maps_the_metrics_own_partials():
    # one implementation of each formula: the engine holds no statistic of its own
    for cls in (passes.ClusterPass, passes.SamplePass, passes.ScorePass, passes.BlockPass):
        assert cls in dask_engine.PARTIALS
        assert getattr(dask_engine, cls.__name__) is cls
    assert dask_engine.build_result is passes.build_result
    for name in ("ClusterPass", "SamplePass", "ScorePass", "BlockPass"):
        assert getattr(pq_engine, name) is getattr(passes, name)
    assert dask_engine.fold_cluster is pq_engine.fold_cluster


def test_missing_dask_gives_an_install_hint(parquet_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(cm.MissingDependencyError,
                       match=r"pip install 'clustermetrics\[dask\]'") as info:
        cm.evaluate_parquet(parquet_dir, "emb", "cluster")
    assert info.value.code == "missing_dependency"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"metric": "nope"}, "The 'metric' parameter of silhouette must be .*Got 'nope' instead"),
    ({"noise": "drop", "noise_label": -1}, "noise"),
    ({"sample_size": 0, "metric": "euclidean"}, "sample_size must be a positive integer"),
    ({"workers": 0}, "workers must be at least 1"),
])
def test_bad_options_fail_before_any_cluster_starts(parquet_dir, kwargs, message):
    with pytest.raises(cm.InvalidInputError, match=message):
        cm.evaluate_parquet(parquet_dir, "emb", "cluster", **kwargs)


def test_workers_with_a_client_is_an_error(dask_client, parquet_dir):
    with pytest.raises(cm.InvalidInputError, match="workers= sizes the LocalCluster"):
        cm.evaluate_parquet(parquet_dir, "emb", "cluster", client=dask_client, workers=2)


def test_nothing_is_left_on_the_cluster_after_a_run(dask_client, parquet_dir):
    import time
    for metric, sample_size in (("cosine", None), ("euclidean", 100), ("euclidean", None)):
        cm.evaluate_parquet(parquet_dir, "emb", "cluster", metric=metric,
                            sample_size=sample_size, client=dask_client, batch_rows=200)
    deadline = time.monotonic() + 10
    while True:  # the scheduler forgets released tasks asynchronously
        left = dask_client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.tasks))
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert left == []  # no partial, and no broadcast summary, plan or sample


def test_a_task_runs_the_pairwise_kernel_on_its_worker_threads(dask_client):
    # a worker of one thread on a machine of many must not start a thread per core
    from clustermetrics.metrics.clusterstats import kernel_threads, limit_kernel_threads
    held = dask_client.submit(dask_engine._guarded, kernel_threads, 0, pure=False).result()
    assert held.partial == 1 and held.parts == {0}
    assert kernel_threads() == (os.cpu_count() or 1)
    with limit_kernel_threads(3):
        assert kernel_threads() == 3
    assert kernel_threads() == (os.cpu_count() or 1)


def test_an_unreachable_scheduler_is_one_clear_error(parquet_dir, monkeypatch):
    monkeypatch.setattr(dask_engine, "CONNECT_TIMEOUT", "0.5s")
    with pytest.raises(cm.InvalidInputError,
                       match=r"Cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9"):
        cm.evaluate_parquet(parquet_dir, "emb", "cluster", client="tcp://127.0.0.1:9")
