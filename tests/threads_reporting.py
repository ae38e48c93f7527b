"""Models that report the threads their fit started on, for tests/test_threads.py: imported
by the test process, by a fresh interpreter and by a server's fit worker alike."""

import sklearn.cluster
import sklearn.mixture
from threadpoolctl import threadpool_info


def seen() -> tuple[int, int]:
    """(OpenMP, BLAS) threads this thread would run now: the most any library would use."""
    info = threadpool_info()
    omp = max((i["num_threads"] for i in info if i["user_api"] == "openmp"), default=1)
    blas = max((i["num_threads"] for i in info if i["user_api"] == "blas"), default=1)
    return omp, blas


class KMeans(sklearn.cluster.KMeans):
    """k-means that reports the threads its fit started on, as ``n_iter_ = 100 * OpenMP +
    BLAS`` (a figure the fit's info keeps, so it comes back from a server's worker too)."""

    def fit(self, X, y=None, sample_weight=None):
        omp, blas = seen()
        super().fit(X, y, sample_weight)
        self.n_iter_ = 100 * omp + blas
        return self


class GaussianMixture(sklearn.mixture.GaussianMixture):
    """A mixture (BLAS work) that reports its threads the same way."""

    def fit_predict(self, X, y=None):
        omp, blas = seen()
        labels = super().fit_predict(X, y)
        self.n_iter_ = 100 * omp + blas
        return labels


def reported(info: dict) -> tuple[int, int]:
    return divmod(int(info["n_iter"]), 100)
