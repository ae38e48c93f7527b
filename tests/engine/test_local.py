"""The local engine's source: passes kept within a shared budget, reader threads that end."""

import gc
import threading

import numpy as np
import pytest

import clustermetrics as cm
from clustermetrics.engine.local import CacheBudget, StoreSource, memory_bytes
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
    from clustermetrics.engine.local import SHARED_CACHE
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
