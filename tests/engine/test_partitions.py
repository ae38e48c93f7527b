"""Every partition counted exactly once, whatever a worker's death, the retries and the merges
do (issue 18, item 20).

Why none is counted twice or lost: each partition is read by exactly one leaf task (a key of its
own), each key is an input of exactly one merge task, and the tree is fixed before it runs; a
worker's death makes the scheduler compute the keys it held again, from the same inputs and
with no side effects, and a retry does the same. The engine checks it rather than trusting it:
each partial carries the partitions it holds, a merge refuses an overlap, and the root must
hold every partition of the pass, or the run fails with :class:`PartitionAccountingError`.
"""

import contextlib
import logging
import os
import random
import signal
import threading
import time

import numpy as np
import pytest

import clustermetrics as cm

from .conftest import write_files

distributed = pytest.importorskip("distributed")
from clustermetrics.engine import dask as dask_engine  # noqa: E402
from clustermetrics.engine.dask import Failed, Held, PartitionAccountingError  # noqa: E402

TOL = {"rel": 1e-12, "abs": 1e-12}


def test_a_merge_refuses_a_partition_held_twice():
    a, b = Held(None, frozenset({0, 1})), Held(None, frozenset({1, 2}))
    merged = dask_engine._merge(a, b)
    assert isinstance(merged, Failed)
    assert isinstance(merged.error, PartitionAccountingError)
    assert str(merged.error).startswith("Partitions [1] (pieces of the plan) reached a merge "
                                        "twice: the run is refused rather than counting them "
                                        "twice.")
    whole = dask_engine._merge(Held(None, frozenset({0})), Held(None, frozenset({1})))
    assert whole.parts == {0, 1}


def test_a_partition_lost_by_a_merge_fails_the_run_naming_it(parquet_dir, dask_client,
                                                             monkeypatch):
    """A merge that drops its last input (a fault put in on purpose): the root lacks those
    row groups and the run fails naming them, instead of scoring the rest."""
    real = dask_engine._merge

    def lossy(*parts):
        return real(*parts[:-1]) if len(parts) > 1 else real(*parts)
    monkeypatch.setattr(dask_engine, "_merge", lossy)
    with pytest.raises(PartitionAccountingError,
                       match=r"^The statistics pass merged \d+ partitions of \d+; missing: "
                             r".*part-\d\.parquet, row group \d+.* The run is refused rather "
                             r"than scored on the wrong rows"):
        cm.evaluate_parquet(parquet_dir, "emb", "cluster", metric="cosine", client=dask_client)


MODES = {  # name: options
    "cosine": {"metric": "cosine"},
    "sampled": {"metric": "euclidean", "sample_size": 100, "random_state": 0},
    "exact": {"metric": "euclidean"},
}


def _worker_pids(client) -> list[int]:
    """Both workers' pids once both answer: a worker killed near the end of the run before
    may still be going away, or its replacement starting (a bounded wait)."""
    deadline = time.monotonic() + 60
    while True:
        client.wait_for_workers(2, timeout=60)
        pids = sorted(client.run(os.getpid, on_error="ignore").values())
        if len(pids) == 2:
            return pids
        assert time.monotonic() < deadline, "the workers did not come back within 60 s"
        time.sleep(0.1)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # gone already: nothing to kill
        os.kill(pid, signal.SIGKILL)


def test_workers_killed_at_random_moments_give_the_exact_result_or_fail_loudly(tmp_path):
    """Real worker processes; one is killed with SIGKILL at a random moment of each run
    (reading footers, a pass, the merges, after the end), over many runs of three kinds
    (linear, sampled, exact blocks). Each run must equal the clean one or raise a clear,
    one-line error. The loop is bounded by a run count and a time budget."""
    from clustermetrics.engine.dask import QUIET_HTTP
    rng = np.random.default_rng(20)
    labels = np.repeat([0, 1, 2, 3], 150)
    X = rng.normal(size=(600, 8)) + labels[:, None] * 2.5
    folder = write_files(tmp_path / "data", X, labels, sizes=(150,) * 4, row_group=50)
    seed = 1820
    chance = random.Random(seed)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, scheduler_kwargs=QUIET_HTTP,
                                  silence_logs=logging.CRITICAL + 1) as cluster, \
            distributed.Client(cluster) as client:
        def run(mode):
            return cm.evaluate_parquet(folder, "emb", "cluster", client=client, batch_rows=25,
                                       **MODES[mode])
        clean, took = {}, {}
        run("cosine")  # the workers' first imports are not part of a run's time
        for mode in MODES:
            began = time.monotonic()
            clean[mode] = run(mode)
            took[mode] = time.monotonic() - began
            oracle = cm.evaluate(X, labels, **MODES[mode])
            assert clean[mode].scores == pytest.approx(oracle.scores, **TOL), mode
        outcomes = []
        budget = time.monotonic() + 15
        while len(outcomes) < 10 and (len(outcomes) < 5 or time.monotonic() < budget):
            mode = list(MODES)[len(outcomes) % len(MODES)]
            pids = _worker_pids(client)
            victim = chance.choice(pids)
            delay = chance.uniform(0, took[mode] * 1.2)
            killer = threading.Timer(delay, _kill, (victim,))
            began = time.monotonic()
            killer.start()
            try:
                got = run(mode)
            except (cm.ClusterMetricsError, PartitionAccountingError) as exc:
                message = str(exc)
                assert message and "\n" not in message, message  # loud and clear
                outcomes.append((mode, delay, "failed: " + message))
            else:
                assert got.scores == pytest.approx(clean[mode].scores, **TOL), (mode, delay,
                                                                                seed)
                assert got.counts == clean[mode].counts, (mode, delay, seed)
                assert got.silhouette_ci == (pytest.approx(clean[mode].silhouette_ci, **TOL)
                                             if clean[mode].silhouette_ci else None)
                outcomes.append((mode, delay, "exact" if delay < time.monotonic() - began
                                 else "exact (killed after the end)"))
            finally:
                killer.cancel()
                killer.join()
    print(*outcomes, sep="\n")  # shown with -s, or when an assertion fails
    assert len(outcomes) >= 5
    during = [o for o in outcomes if o[2] == "exact" or o[2].startswith("failed")]
    assert during, outcomes  # at least one kill landed inside a run
