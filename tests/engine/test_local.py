"""The local engine's source: passes kept within a shared budget, reader threads that end."""

import gc
import os
import threading

import numpy as np
import pytest

import clustermetrics as cm
from clustermetrics.engine.columns import ArrowIds
from clustermetrics.engine.local import (
    CACHE_CAP,
    SHARED_CACHE,
    CacheBudget,
    StoreSource,
    address_room,
    available_bytes,
    cache_limit,
    memory_bytes,
)
from clustermetrics.errors import InvalidInputError
from clustermetrics.metrics.evaluate import evaluate_source

LABELS = "_cluster_.v_vector_.mine"


@pytest.fixture
def stored(tmp_path):
    """A client whose dataset "p" holds 3,000 2-d vectors labelled in 3 clusters."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 2)) + 5.0
    ids = [f"d{i}" for i in range(len(X))]
    with cm.Client(path=str(tmp_path / "s.duckdb")) as client:
        client.Dataset("p").insert_documents(X, ids=ids, vector_field="v_vector_")
        labels = dict(zip(ids, np.arange(3000) % 3, strict=True))
        client.vector_tools.cluster.set_cluster_labels("p", "v_vector_", "mine", labels)
        with client.api.store.session():
            yield client


def _source(client, **kw) -> StoreSource:
    return StoreSource(client.api.store, "p", "v_vector_", LABELS, dim=2, batch_rows=100, **kw)


def _readers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "clustermetrics-reader"]


def test_a_pass_that_fits_is_kept_and_its_bytes_given_back_on_close(stored):
    budget = CacheBudget(2**30)
    source = _source(stored, cache_mb=None)
    source.budget = budget
    assert sum(len(b.X) for b in source.batches()) == 3000
    assert source._cache is not None and budget.used > 3000 * 2 * 8
    assert sum(len(b.X) for b in source.batches()) == 3000  # from the kept batches
    source.close()
    assert budget.used == 0 and source._cache is None


def test_sources_share_one_budget(stored):
    budget = CacheBudget(2**30)
    first, second = _source(stored), _source(stored)
    first.budget = second.budget = budget
    list(first.batches())
    budget.limit = budget.used + 1000  # room left for a few rows only
    list(second.batches())
    assert first._cache is not None
    assert second._cache is None  # read again on every pass instead
    assert sum(len(b.X) for b in second.batches()) == 3000
    first.close()
    assert budget.used == 0


def test_the_shared_budget_gives_back_when_the_source_is_collected(stored):
    before = SHARED_CACHE.used
    source = _source(stored)
    list(source.batches())
    assert SHARED_CACHE.used > before
    del source
    gc.collect()
    assert SHARED_CACHE.used == before


def test_materialize_keeps_nothing(stored):
    source = _source(stored, cache_mb=1024)
    batch = source.materialize()
    assert len(batch.X) == 3000 and source._cache is None and source._held == [0]
    assert not _readers()


def test_a_pass_left_early_ends_its_reader_thread_on_close(stored):
    source = _source(stored)
    batches = source.batches()
    next(batches)  # the reader thread is now ahead, waiting to hand over more
    assert _readers()
    source.close()
    assert not _readers()


def test_an_over_budget_source_streams_and_equals_the_kept_one(stored):
    kept = evaluate_source(_source(stored, cache_mb=64), metric="cosine")
    streamed_source = _source(stored, cache_mb=0)
    streamed = evaluate_source(streamed_source, metric="cosine")
    assert streamed_source._cache is None
    assert streamed.scores == kept.scores


def test_a_failing_metrics_call_leaves_no_reader_thread(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40_000, 2))
    X[35_000] = 0.0  # cosine is undefined there: pass 1 fails in its third batch
    ids = [f"d{i}" for i in range(len(X))]
    with cm.Client(path=str(tmp_path / "z.duckdb")) as client:
        client.Dataset("p").insert_documents(X, ids=ids, vector_field="v_vector_")
        labels = dict(zip(ids, np.arange(40_000) % 4, strict=True))
        client.vector_tools.cluster.set_cluster_labels("p", "v_vector_", "mine", labels)
        with pytest.raises(InvalidInputError, match="d35000"):
            client.vector_tools.cluster.metrics("p", "v_vector_", "mine", metric="cosine")
        assert not _readers()


def test_memory_is_read_from_the_machine():
    total = memory_bytes()
    assert total is None or total > 2**26


# -- the shared budget, sized to the machine ------------------------------------------------

GiB = 2**30


def test_the_budget_is_half_the_available_memory():
    assert cache_limit(available=20 * GiB, room=None) == 10 * GiB


def test_kept_bytes_count_as_available_again():
    # 3 GiB kept, 2 GiB still free: the cache may hold half of the 5 GiB it could have
    assert cache_limit(3 * GiB, available=2 * GiB, room=None) == 5 * GiB // 2


def test_the_budget_stops_at_its_cap():
    assert cache_limit(available=500 * GiB, room=None) == CACHE_CAP


def test_an_address_space_limit_keeps_the_budget_at_a_quarter_of_its_room():
    assert cache_limit(available=20 * GiB, room=2 * GiB) == GiB // 2
    assert cache_limit(GiB // 2, available=20 * GiB, room=GiB) == 3 * GiB // 8


def test_no_room_left_gives_no_budget():
    assert cache_limit(available=0, room=None) == 0
    assert cache_limit(available=20 * GiB, room=0) == 0


def test_unknown_memory_gives_one_gibibyte():
    assert cache_limit(available=None, room=None) == GiB


def test_the_machine_is_read():
    available = available_bytes()
    assert available is not None and 0 < available <= memory_bytes()
    assert address_room() is None or address_room() >= 0


def test_the_shared_budget_follows_the_available_memory():
    limit = SHARED_CACHE.limit
    assert 0 < limit <= min(CACHE_CAP, (available_bytes() + SHARED_CACHE.used) // 2 + 2**26)


def test_a_fixed_budget_stays_fixed():
    budget = CacheBudget(1234)
    assert budget.limit == 1234 and budget.take(1000) and not budget.take(235)
    assert budget.room() == 234


def test_a_pass_whose_vectors_exceed_the_room_is_not_kept_at_all(stored):
    budget = CacheBudget(3000 * 2 * 4 - 1)  # less than the vectors as float32
    source = _source(stored)
    source.budget = budget
    assert sum(len(b.X) for b in source.batches()) == 3000
    assert source._cache is None and budget.used == 0


def test_ids_are_kept_as_arrow_strings_until_asked(stored):
    source = _source(stored)
    batch = next(iter(source.batches()))
    source.close()
    assert isinstance(batch.ids, ArrowIds) and len(batch.ids) == 100
    assert batch.ids[3] == "d3" and list(batch.ids[1:3]) == ["d1", "d2"]
    assert np.asarray(batch.ids, dtype=object)[:2].tolist() == ["d0", "d1"]


# Under RLIMIT_AS (a server's job, ``ulimit -v``): the shared budget stays within a quarter
# of the address space left, so a dataset larger than that is read twice, with the same
# result. In a process of its own: the limit cannot be lifted once set.
LIMITED = """
import resource, sys
import numpy as np
import clustermetrics as cm
from clustermetrics.engine.local import SHARED_CACHE, StoreSource, address_room
from clustermetrics.metrics.evaluate import evaluate_source

path, mode = sys.argv[1], sys.argv[2]
with cm.Client(path=path) as client:
    api = client.api
    with api.store.session(), api.store.snapshot():
        source = StoreSource(api.store, "p", "v_vector_", "_cluster_.v_vector_.mine",
                             dim=256)
        need = source.n_rows * 256 * 4
        if mode == "limited":
            with open("/proc/self/statm") as f:
                mapped = int(f.read().split()[0]) * 4096
            extra = 300 * 2**20  # room for the work, not for a kept pass (a quarter of it)
            resource.setrlimit(resource.RLIMIT_AS, (mapped + extra, resource.RLIM_INFINITY))
            assert SHARED_CACHE.limit <= (address_room() + SHARED_CACHE.used) // 4
            assert SHARED_CACHE.limit < need, (SHARED_CACHE.limit, need)
        result = evaluate_source(source, metric="cosine")
        print(source._cache is not None, repr(result.scores["silhouette"]),
              repr(result.scores["davies_bouldin"]))
        source.close()
"""


def test_under_an_address_space_limit_a_large_pass_is_read_twice_with_the_same_result(
        tmp_path):
    import subprocess
    import sys
    rng = np.random.default_rng(3)
    X = (rng.normal(size=(80_000, 256)) + 3).astype(np.float32)  # 82 MB
    ids = [f"d{i}" for i in range(len(X))]
    path = str(tmp_path / "big.duckdb")
    with cm.Client(path=path) as client:
        client.Dataset("p").insert_documents(X, ids=ids, vector_field="v_vector_")
        client.vector_tools.cluster.set_cluster_labels(
            "p", "v_vector_", "mine", dict(zip(ids, np.arange(len(X)) % 5, strict=True)))
    script = tmp_path / "limited.py"
    script.write_text(LIMITED)
    env = {**os.environ, "MALLOC_ARENA_MAX": "2"}  # threads reserve no 64 MiB arenas each
    out = {mode: subprocess.run([sys.executable, str(script), path, mode], capture_output=True,
                                text=True, timeout=300, env=env) for mode in ("free", "limited")}
    for mode, run in out.items():
        assert run.returncode == 0, (mode, run.stderr)
    kept_free, *scores_free = out["free"].stdout.split()
    kept_limited, *scores_limited = out["limited"].stdout.split()
    assert (kept_free, kept_limited) == ("True", "False")
    assert scores_limited == scores_free
