"""The kernel threads: kept between calls, never left working after a call returns."""

import threading
import time

import pytest

from clustermetrics.metrics.clusterstats import limit_kernel_threads, parallel_map


def test_results_come_in_the_order_of_the_tasks():
    with limit_kernel_threads(2):
        assert list(parallel_map(list(range(20)), lambda i: i * i)) == [i * i for i in range(20)]


def test_a_stream_of_tasks_is_drawn_a_few_ahead_of_its_results():
    drawn = []

    def stream():
        for i in range(100):
            drawn.append(i)
            yield i

    with limit_kernel_threads(2):
        results = parallel_map(stream(), lambda i: i * i)
        assert next(results) == 0
        assert len(drawn) <= 6  # the window (2 per thread) and the one drawn to refill it
        assert list(results) == [i * i for i in range(1, 100)]


def test_a_lone_task_runs_in_the_calling_thread_so_its_own_maps_use_the_pool():
    def task(_):
        inner = set(parallel_map(list(range(8)), lambda j: threading.current_thread().name))
        return threading.current_thread(), inner

    with limit_kernel_threads(2):
        [(thread, inner)] = list(parallel_map(iter([0]), task))
    assert thread is threading.current_thread()
    assert any(name.startswith("clustermetrics-kernel") for name in inner)


def _kernel_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("clustermetrics-kernel")}


def test_the_threads_are_kept_between_calls():
    with limit_kernel_threads(2):
        list(parallel_map(list(range(8)), lambda i: time.sleep(0.01)))
        kept = _kernel_threads()
        list(parallel_map(list(range(8)), lambda i: time.sleep(0.01)))
    assert kept and _kernel_threads() == kept


def test_a_task_that_maps_again_runs_its_tasks_itself():
    def outer(i):
        return sum(parallel_map(list(range(4)), lambda j: i + j))

    with limit_kernel_threads(2):
        assert list(parallel_map(list(range(4)), outer)) == [4 * i + 6 for i in range(4)]


def test_a_failing_task_leaves_no_task_running():
    running, finished = [0], []
    lock = threading.Lock()

    def task(i):
        with lock:
            running[0] += 1
        if i == 0:
            raise ValueError("task 0 fails")
        time.sleep(0.2)
        with lock:
            running[0] -= 1
            finished.append(i)

    with limit_kernel_threads(2), pytest.raises(ValueError, match="task 0 fails"):
        list(parallel_map(list(range(6)), task))
    assert running[0] == 1  # only the failed task never came back down
    assert len(finished) < 5  # the tasks not yet started were cancelled


def test_results_are_let_go_once_handed_over():
    """A long map keeps no result it already gave (the euclidean kernel's are (rows x k))."""
    import gc
    import weakref

    class Result:
        pass

    with limit_kernel_threads(2):
        results = parallel_map(list(range(6)), lambda i: Result())
        first = next(results)
        gone = weakref.ref(first)
        del first
        gc.collect()
        assert gone() is None
        assert len(list(results)) == 5


class StopError(Exception):
    pass


def _stopping_after(n_calls: int):
    calls = []

    def check():
        calls.append(threading.current_thread().name)
        if len(calls) > n_calls:
            raise StopError
    return check, calls


@pytest.mark.parametrize("threads", [1, 2])
def test_a_long_exact_silhouette_stops_within_a_block_of_its_check(threads):
    # a server's cancel: the kernels consult the caller's check before each block, so the
    # work stops long before its end even inside one batch
    import numpy as np

    from clustermetrics.metrics import silhouette_score
    from clustermetrics.metrics.clusterstats import work_check
    X = np.random.default_rng(0).normal(size=(12_000, 8))
    labels = np.arange(12_000) % 4

    def run(check):
        token = work_check.set(check)
        try:
            with limit_kernel_threads(threads):
                return silhouette_score(X, labels, working_memory=0.25)
        finally:
            work_check.reset(token)

    check, blocks = _stopping_after(10**9)  # a check that lets it run: the same value
    assert run(check) == pytest.approx(silhouette_score(X, labels), abs=1e-12)
    assert len(blocks) >= 10
    check, calls = _stopping_after(3)
    with pytest.raises(StopError):
        run(check)
    # past the check, a block's task fails at once: what is left of the work does not run
    assert len(calls) <= len(blocks)
    assert all(name.startswith("clustermetrics-kernel") for name in calls) == (threads > 1)


def test_a_stream_that_fails_while_the_window_fills_leaves_no_task_running():
    finished, lock = [], threading.Lock()

    def stream():
        yield 0
        yield 1
        yield 2
        raise ValueError("the source failed")

    def task(i):
        time.sleep(0.2)
        with lock:
            finished.append(i)
        return i

    with limit_kernel_threads(2), pytest.raises(ValueError, match="the source failed"):
        list(parallel_map(stream(), task))
    done_at_raise = len(finished)
    time.sleep(0.5)
    assert len(finished) == done_at_raise  # nothing finished after the call gave up


def test_a_stream_is_closed_when_a_task_fails():
    closed = []

    def stream():
        try:
            yield from range(10)
        finally:
            closed.append(True)

    def task(i):
        if i == 1:
            raise ValueError("task 1 fails")
        return i

    with limit_kernel_threads(2), pytest.raises(ValueError, match="task 1 fails") as caught:
        list(parallel_map(stream(), task))
    assert caught.value is not None and closed == [True]  # closed, the error still held


def test_the_callers_check_reaches_the_maps_inside_the_tasks():
    """A server job's cancel is seen inside a batch's own kernels, run on the pool's threads."""
    from clustermetrics.metrics.clusterstats import work_check
    seen_in: set[str] = set()

    def check():
        seen_in.add(threading.current_thread().name)

    def batch(i):
        return sum(parallel_map(list(range(4)), lambda j: i + j))

    token = work_check.set(check)
    try:
        with limit_kernel_threads(2):
            assert list(parallel_map(iter(range(4)), batch)) == [4 * i + 6 for i in range(4)]
    finally:
        work_check.reset(token)
    assert any(name.startswith("clustermetrics-kernel") for name in seen_in)


def test_a_cap_on_the_kernel_threads_reaches_the_tasks():
    from clustermetrics.metrics.clusterstats import kernel_threads
    with limit_kernel_threads(2):
        caps = list(parallel_map(iter(range(4)), lambda i: kernel_threads()))
    assert caps == [2, 2, 2, 2]
