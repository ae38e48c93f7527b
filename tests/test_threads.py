"""The thread budget (clustermetrics/threads.py): its arithmetic, the limits a fit, a sweep, the
kernel threads and a server job actually run under (as threadpoolctl sees them), shared BLAS
limits across threads, and the user's own settings kept."""

import os
import pathlib
import subprocess
import sys
import threading

import numpy as np
import pytest
import sklearn.cluster
import sklearn.mixture

import clustermetrics as cm
from clustermetrics import threads
from clustermetrics.clustering import fit
from clustermetrics.metrics.clusterstats import kernel_threads, limit_kernel_threads

from .threads_reporting import GaussianMixture, KMeans, reported

VF = "v_vector_"
ROOT = pathlib.Path(__file__).resolve().parents[1]  # tests.threads_reporting imports from it


@pytest.fixture
def two_cores(monkeypatch):
    """A budget of 2 cores, whatever the machine."""
    monkeypatch.setenv(threads.ENV, "2")


def _data(n=400, d=6, k=3, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    return (rng.normal(scale=5, size=(k, d))[labels] + rng.normal(size=(n, d))), labels


# -- arithmetic -------------------------------------------------------------------------------

@pytest.mark.parametrize("affinity, quota, cores", [
    (8, None, 8), (8, 2.0, 2), (8, 1.5, 2), (8, 0.2, 1), (2, 4.0, 2), (1, None, 1)])
def test_usable_cores_are_the_affinity_capped_by_the_quota_rounded_up(affinity, quota, cores):
    assert threads.usable_cores(affinity, quota) == cores


@pytest.mark.parametrize("parts, total, each", [
    (1, 8, 8), (2, 8, 4), (3, 8, 2), (4, 2, 1), (8, 2, 1), (0, 4, 4)])
def test_each_of_parts_running_at_once_gets_its_share(parts, total, each):
    assert threads.share(parts, total=total) == each


@pytest.mark.parametrize("files, quota", [
    ({"cpu.max": "max 100000\n"}, None),
    ({"cpu.max": "150000 100000\n"}, 1.5),
    ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
    ({"cpu/cpu.cfs_quota_us": "200000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 2.0),
    ({}, None)])
def test_the_cgroup_quota_is_read_from_v2_or_v1(tmp_path, files, quota):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert threads.cpu_quota(str(tmp_path)) == quota


def test_the_cores_are_the_affinity_without_a_number_in_the_environment(monkeypatch):
    monkeypatch.delenv(threads.ENV, raising=False)
    quota = threads.cpu_quota()
    assert threads.cores() == threads.usable_cores(len(os.sched_getaffinity(0)), quota)


def test_a_number_in_the_environment_is_the_budget(monkeypatch):
    monkeypatch.setenv(threads.ENV, "3")
    assert threads.cores() == kernel_threads() == 3
    assert threads.share(2) == 1


@pytest.mark.parametrize("value", ["0", "-2", "many"])
def test_a_bad_number_in_the_environment_is_named(monkeypatch, value):
    monkeypatch.setenv(threads.ENV, value)
    with pytest.raises(cm.InvalidInputError,
                       match=rf"CLUSTERMETRICS_THREADS='{value}' in the environment: give a "
                             r"number of cores >= 1, 'auto' .* or 'off'"):
        threads.cores()


def test_a_bad_number_in_the_environment_is_not_called_a_failed_fit(monkeypatch):
    monkeypatch.setenv(threads.ENV, "0")
    X, _ = _data()
    with pytest.raises(cm.InvalidInputError, match=r"^CLUSTERMETRICS_THREADS='0' in the "):
        fit(sklearn.cluster.KMeans(3, n_init=1, random_state=0), X)


def test_a_subclass_of_k_means_fits_with_one_blas_thread():
    class Mine(sklearn.cluster.KMeans):
        pass
    assert threads.fit_split(Mine, 4) == (4, 1)


def test_off_gives_every_pool_its_default(monkeypatch):
    monkeypatch.setenv(threads.ENV, "off")
    assert not threads.enabled()
    assert threads.cores() == kernel_threads() == (os.cpu_count() or 1)
    with threads.fit_threads("KMeans") as split:
        assert split == (0, 0)  # nothing limited


def test_an_explicit_cap_on_the_kernel_threads_wins(two_cores):
    with limit_kernel_threads(3):
        assert kernel_threads() == 3
    assert kernel_threads() == 2


@pytest.mark.parametrize("model, split", [("KMeans", (4, 1)), ("MiniBatchKMeans", (4, 1)),
                                          ("GaussianMixture", (4, 4)), ("HDBSCAN", (4, 4))])
def test_k_means_fits_in_openmp_with_one_blas_thread_other_models_get_both(model, split):
    assert threads.fit_split(model, 4) == split


# -- the limits as threadpoolctl sees them ------------------------------------------------------

class FakeLibrary:
    """A BLAS library's controller as :class:`threads._SharedBlas` drives it: its setting."""

    def __init__(self, filepath: str, num_threads: int):
        self.filepath, self.num_threads, self.set_to = filepath, num_threads, []

    def set_num_threads(self, n: int) -> None:
        self.num_threads = n
        self.set_to.append(n)


@pytest.fixture
def fake_blas(monkeypatch):
    """Two libraries at 4 threads behind the shared limit (OpenBLAS itself takes limits only
    from the thread that first set them: see the next test)."""
    libs = [FakeLibrary("numpy-openblas", 4), FakeLibrary("scipy-openblas", 4)]

    class Controller:
        def select(self, user_api):
            return type("Selection", (), {"lib_controllers": libs})()

    monkeypatch.setattr(threads, "_controller", Controller)
    monkeypatch.setattr(threads, "_blas", threads._SharedBlas())
    return libs


def test_overlapping_limits_share_the_lowest_and_restore_the_first_setting(fake_blas):
    a_in, b_in, a_out, b_done = (threading.Event() for _ in range(4))
    during = []

    def a():
        with threads.blas(2):
            a_in.set()
            b_in.wait(10)
            during.append(("a", fake_blas[0].num_threads))
        a_out.set()

    def b():
        a_in.wait(10)
        with threads.blas(1):
            b_in.set()
            a_out.wait(10)
            during.append(("b", fake_blas[0].num_threads))  # a ended first: 1 still holds
        b_done.set()

    workers = [threading.Thread(target=a), threading.Thread(target=b)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(20)
    assert during == [("a", 1), ("b", 1)]
    # threadpoolctl's own contexts would leave b's "before" (2) once both ended
    assert [lib.num_threads for lib in fake_blas] == [4, 4]
    assert threads._blas.limits() == []


def test_a_library_loaded_while_a_limit_is_held_joins_it(fake_blas):
    late = FakeLibrary("late", 3)
    with threads.blas(2):
        fake_blas.append(late)
        with threads.blas(1):
            assert late.num_threads == 1
        assert late.num_threads == 2
    assert late.num_threads == 3


OWNER = """
import threading
from threadpoolctl import ThreadpoolController
import numpy, scipy.linalg
libs = ThreadpoolController().select(user_api="blas").lib_controllers

def in_thread(n):
    t = threading.Thread(target=lambda: [lib.set_num_threads(n) for lib in libs])
    t.start()
    t.join()
    return max(lib.num_threads for lib in libs)

for lib in libs:
    lib.set_num_threads(2)
print(in_thread(1), max(lib.num_threads for lib in libs))
"""


def test_openblas_takes_limits_only_from_the_thread_that_set_them_first():
    """What the server relies on (it sets BLAS to one thread in its main thread, and its job
    threads cannot raise it) and why a limit is best held by the main thread. Measured with
    the OpenBLAS builds of NumPy and SciPy's wheels (0.3.30, 0.3.31); if a build honours
    every thread, this test says so and the docs should change."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "2"}
    out = subprocess.run([sys.executable, "-c", OWNER], env=env, capture_output=True,
                         text=True, check=True, timeout=120)
    assert out.stdout.split() == ["2", "2"]  # the job thread's limit of 1 was ignored


# What a fit, a sweep and the kernel threads run under, each in a fresh interpreter with a
# budget of 2 cores and BLAS at 2 threads: OpenBLAS takes settings only from the thread that
# set them first, which in this test process may be any test's thread.
FRESH = """
import sys, tempfile, threading
import numpy as np
from threadpoolctl import threadpool_limits
import clustermetrics as cm
from clustermetrics import threads
from clustermetrics.clustering import fit
from clustermetrics.metrics.clusterstats import parallel_map
from tests.threads_reporting import GaussianMixture, KMeans, reported, seen

rng = np.random.default_rng(0)
X = rng.normal(scale=5, size=(3, 6))[rng.integers(0, 3, 400)] + rng.normal(size=(400, 6))
case = sys.argv[1]
if case == "k-means":
    print(reported(fit(KMeans(3, n_init=1, random_state=0), X).info), seen(),
          threads._blas.limits())
elif case == "mixture":
    print(reported(fit(GaussianMixture(3, random_state=0), X).info), seen())
elif case == "user":
    with threadpool_limits(limits=1):
        inside = reported(fit(GaussianMixture(3, random_state=0), X).info)
        with threads.blas(2):
            print(inside, seen()[1])
elif case == "sweep":
    with tempfile.TemporaryDirectory() as tmp, cm.Client(path=tmp + "/s.duckdb") as client:
        client.Dataset("b").insert_documents(X, vector_field="v_vector_",
                                             ids=[f"p{i}" for i in range(len(X))])
        table = client.vector_tools.cluster.sweep(
            "b", "v_vector_", model=KMeans(n_init=1, random_state=0),
            param_grid={"n_clusters": [2, 3]})
        print([reported(client.vector_tools.cluster.describe_alias("b", "v_vector_", a)
                        ["params"]) for a in table.table.index])
elif case == "kernel":
    ran, lock = [], threading.Lock()
    def task(i):
        with lock:
            ran.append((threading.current_thread().name, seen()[1]))
        return i
    assert list(parallel_map(list(range(16)), task)) == list(range(16))
    print(sorted({blas for _, blas in ran}), len({name for name, _ in ran}) <= 2, seen()[1])
"""


def test_on_one_core_the_kernels_run_blas_on_one_thread_too():
    # all inline in the calling thread, BLAS held at 1 meanwhile
    assert fresh("kernel", budget="1") == "[1] True 2"


def fresh(case: str, budget: str = "2") -> str:
    env = {**os.environ, threads.ENV: budget, "OPENBLAS_NUM_THREADS": "2",
           "OMP_NUM_THREADS": "2"}
    out = subprocess.run([sys.executable, "-c", FRESH, case], env=env, capture_output=True,
                         text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


def test_a_k_means_fit_runs_openmp_on_the_cores_and_blas_on_one_thread():
    # inside the fit: OpenMP 2, BLAS 1; after it: both back, no limit held
    assert fresh("k-means") == "(2, 1) (2, 2) []"


def test_a_k_means_fit_on_a_budget_of_one_core_runs_one_openmp_thread():
    assert fresh("k-means", budget="1") == "(1, 1) (2, 2) []"


def test_a_mixture_fit_runs_blas_on_the_cores():
    assert fresh("mixture") == "(2, 2) (2, 2)"
    assert fresh("mixture", budget="1") == "(1, 1) (2, 2)"


def test_a_users_lower_limits_are_kept():
    assert fresh("user") == "(1, 1) 1"


def test_a_sweep_fits_each_point_within_the_budget():
    assert fresh("sweep") == "[(2, 1), (2, 1)]"


def test_the_kernel_threads_run_one_blas_thread_each_and_no_more_than_the_cores():
    assert fresh("kernel") == "[1] True 2"


def test_a_remote_sweep_fits_each_point_within_the_servers_share(http_server):
    project, key = http_server.new_project()
    X, _ = _data()
    with cm.Client(url=http_server.url, api_key=key) as c:
        c.Dataset("b").insert_documents(X, vector_field=VF, ids=[f"p{i}" for i in range(len(X))])
        table = c.vector_tools.cluster.sweep("b", VF, model=KMeans(n_init=1, random_state=0),
                                             param_grid={"n_clusters": [2, 3]})
        splits = [reported(c.vector_tools.cluster.describe_alias("b", VF, alias)["params"])
                  for alias in table.table.index]
    share = http_server.state.jobs.blas_threads
    assert len(splits) == 2
    assert all(1 <= omp <= share and blas == 1 for omp, blas in splits), splits
    http_server.state.projects.close(project)


def test_a_server_gives_each_job_the_cores_divided_among_its_workers(tmp_path, two_cores):
    from clustermetrics.server.app import Settings, create_app
    for workers, given, per_job in [(3, None, 1), (1, None, 2), (2, 2, 2)]:
        app = create_app(Settings(data_dir=str(tmp_path / str(workers)), workers=workers,
                                  blas_threads=given))
        server = app.state.server
        try:
            assert server.jobs.blas_threads == per_job
            assert server.projects.runner.threads == per_job
        finally:
            server.close()


def test_a_server_job_fits_on_its_share_in_the_worker(http_server):
    """The real server's fit runs in a worker process; the threads it saw come back in the
    fit's info: OpenMP within the job's share, BLAS one thread for k-means."""
    project, key = http_server.new_project()
    X, _ = _data()
    with cm.Client(url=http_server.url, api_key=key) as c:
        c.Dataset("b").insert_documents(X, vector_field=VF,
                                        ids=[f"p{i}" for i in range(len(X))])
        info = c.vector_tools.cluster.fit("b", VF, KMeans(3, n_init=1, random_state=0))
        mixture = c.vector_tools.cluster.fit("b", VF, GaussianMixture(3, random_state=0))
    share = http_server.state.jobs.blas_threads
    omp, blas = reported(info)
    assert 1 <= omp <= share and blas == 1
    omp, blas = reported(mixture)
    assert 1 <= omp <= share and 1 <= blas <= share
    http_server.state.projects.close(project)


CLAIMED = """
import threading
import clustermetrics
from clustermetrics import threads
from threadpoolctl import threadpool_info

def blas():
    return max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")

t = threading.Thread(target=lambda: threadpool_info() and __import__("threadpoolctl")
                     .threadpool_limits(limits=1, user_api="blas"))
t.start()
t.join()
outside = blas()
with threads.blas(1):
    inside = blas()
print(outside, inside, blas())
"""


def test_importing_clustermetrics_makes_the_main_thread_the_one_blas_listens_to():
    """Another thread that limits BLAS after the import is ignored; the main thread's
    limits hold."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "2"}
    out = subprocess.run([sys.executable, "-c", CLAIMED], env=env, capture_output=True,
                         text=True, check=True, timeout=120)
    assert out.stdout.split() == ["2", "1", "2"]


SERVER = """
import tempfile
from threadpoolctl import threadpool_info
from clustermetrics.server.app import Settings, create_app
app = create_app(Settings(data_dir=tempfile.mkdtemp()))
print(max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"))
app.state.server.close()
"""


def test_a_server_app_made_in_the_main_thread_runs_blas_on_one_thread():
    """Its work runs on the kernel threads; the jobs' threads cannot raise OpenBLAS's setting."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "2"}
    out = subprocess.run([sys.executable, "-c", SERVER], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[0] == "1"
