"""The kernel threads: kept between calls, never left working after a call returns."""

import threading
import time

import pytest

from clustermetrics.metrics.clusterstats import limit_kernel_threads, parallel_map


def test_results_come_in_the_order_of_the_tasks():
    with limit_kernel_threads(2):
        assert list(parallel_map(list(range(20)), lambda i: i * i)) == [i * i for i in range(20)]


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
