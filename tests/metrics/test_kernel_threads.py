"""The kernel threads: kept between calls, never left working after a call returns."""

import threading
import time

import pytest

from clustermetrics.metrics.clusterstats import limit_kernel_threads, parallel_map


def test_results_come_in_the_order_of_the_tasks():
    with limit_kernel_threads(2):
        assert list(parallel_map(list(range(20)), lambda i: i * i)) == [i * i for i in range(20)]


def test_the_threads_are_kept_between_calls():
    with limit_kernel_threads(2):
        first = set(parallel_map(list(range(8)), lambda i: threading.get_ident()))
        second = set(parallel_map(list(range(8)), lambda i: threading.get_ident()))
    assert first & second


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
