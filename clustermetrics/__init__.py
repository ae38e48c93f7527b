"""clustermetrics: is your clustering of vectors any good?

Exact, fast and mergeable cluster metrics with scikit-learn's names and values, an embedded
store of documents and vectors, and the one call that answers the question::

    from clustermetrics import Client
    client = Client()
    client.vector_tools.cluster.metrics(dataset_id="quickstart_clustering",
                                        vector_field="pixels_vector_", cluster_alias="kmeans_10",
                                        ground_truth_field="digit")
"""

from .errors import (
    ClusterMetricsError,
    ClusterMetricsWarning,
    InvalidInputError,
    MissingDependencyError,
    NotFoundError,
    SchemaError,
    StoreError,
    StoreLockedError,
)
from .metrics import (
    METRIC_INFO,
    ClusterMetrics,
    ClusterStats,
    ContingencyStats,
    DaviesBouldinStats,
    SilhouetteResult,
    adjusted_mutual_info_score,
    adjusted_rand_score,
    calinski_harabasz_score,
    completeness_score,
    contingency_matrix,
    davies_bouldin_score,
    evaluate,
    fowlkes_mallows_score,
    homogeneity_completeness_v_measure,
    homogeneity_score,
    mutual_info_score,
    normalized_mutual_info_score,
    pair_confusion_matrix,
    purity_score,
    rand_score,
    silhouette,
    silhouette_samples,
    silhouette_score,
    v_measure_score,
)
from .threads import claim_blas

__version__ = "0.1.0"

_LAZY = {"Client": "clustermetrics.client", "Dataset": "clustermetrics.client",
         "evaluate_parquet": "clustermetrics.engine.dask"}

claim_blas()  # OpenBLAS takes its settings from the thread that set them first: this one


def __getattr__(name: str):
    # the store (duckdb) and the Dask engine load only when asked for, so the metrics stay
    # light to import
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'clustermetrics' has no attribute {name!r}")

__all__ = [
    "METRIC_INFO",
    "Client",
    "ClusterMetrics",
    "ClusterMetricsError",
    "ClusterMetricsWarning",
    "ClusterStats",
    "ContingencyStats",
    "Dataset",
    "DaviesBouldinStats",
    "InvalidInputError",
    "MissingDependencyError",
    "NotFoundError",
    "SchemaError",
    "SilhouetteResult",
    "StoreError",
    "StoreLockedError",
    "__version__",
    "adjusted_mutual_info_score",
    "adjusted_rand_score",
    "calinski_harabasz_score",
    "completeness_score",
    "contingency_matrix",
    "davies_bouldin_score",
    "evaluate",
    "evaluate_parquet",
    "fowlkes_mallows_score",
    "homogeneity_completeness_v_measure",
    "homogeneity_score",
    "mutual_info_score",
    "normalized_mutual_info_score",
    "pair_confusion_matrix",
    "purity_score",
    "rand_score",
    "silhouette",
    "silhouette_samples",
    "silhouette_score",
    "v_measure_score",
]
