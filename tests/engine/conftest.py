"""Parquet files of a known clustering, and an in-process Dask cluster of 2 workers."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

N, D = 1_200, 6
FILES = (500, 0, 300, 400)  # rows per file; an empty file among them


def vectors(X: np.ndarray, kind: str = "fixed") -> pa.Array:
    flat = pa.array(X.ravel())
    if kind == "fixed":
        return pa.FixedSizeListArray.from_arrays(flat, X.shape[1])
    offsets = pa.array(np.arange(0, X.size + 1, X.shape[1], dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, flat)


def write_files(folder, X, labels, truth=None, *, sizes=FILES, kind="fixed", row_group=128,
                vector="emb", label="cluster", extra=None):
    """Rows of X in files ``part-0.parquet``, ... of ``sizes`` rows, row groups of
    ``row_group`` rows. Returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    start = 0
    for i, size in enumerate(sizes):
        rows = slice(start, start + size)
        cols = {vector: vectors(X[rows], kind), label: pa.array(list(labels[rows]))}
        if truth is not None:
            cols["truth"] = pa.array(list(truth[rows]))
        for name, values in (extra or {}).items():
            cols[name] = values[rows]
        pq.write_table(pa.table(cols), folder / f"part-{i}.parquet", row_group_size=row_group)
        start += size
    return folder


@pytest.fixture(scope="session")
def clustering():
    """X (float64, clusters apart), labels with noise (-1) and missing ones, string truth."""
    rng = np.random.default_rng(12)
    centers = rng.normal(scale=4, size=(5, D))
    own = rng.integers(0, 5, N)
    X = centers[own] + rng.normal(size=(N, D))
    labels = np.array(own, dtype=object)
    labels[rng.choice(N, 40, replace=False)] = -1
    labels[rng.choice(N, 15, replace=False)] = None
    truth = np.array([f"class-{(c + (rng.random() < 0.2)) % 4}" for c in own], dtype=object)
    truth[rng.choice(N, 10, replace=False)] = None
    return X, labels, truth


@pytest.fixture(scope="session")
def parquet_dir(clustering, tmp_path_factory):
    X, labels, truth = clustering
    return write_files(tmp_path_factory.mktemp("parquet") / "data", X, labels, truth)


@pytest.fixture(scope="session")
def dask_client():
    """Two workers of one thread each, in this process (the fast kind, for most tests)."""
    distributed = pytest.importorskip("distributed")
    from clustermetrics.engine.dask import QUIET_HTTP
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None, scheduler_kwargs=QUIET_HTTP) \
            as cluster, \
            distributed.Client(cluster) as client:
        yield client
