"""Pure numpy/scipy cluster metrics: no storage, no web. See ``clustermetrics`` for the API."""

from .clusterstats import ClusterStats
from .contingency import (
                          ContingencyStats,
                          adjusted_mutual_info_score,
                          adjusted_rand_score,
                          completeness_score,
                          contingency_matrix,
                          expected_mutual_info,
                          fowlkes_mallows_score,
                          homogeneity_completeness_v_measure,
                          homogeneity_score,
                          mutual_info_score,
                          normalized_mutual_info_score,
                          pair_confusion_matrix,
                          purity_score,
                          rand_score,
                          v_measure_score,
)
from .evaluate import ArraySource, Batch, evaluate, evaluate_source
from .internal import DaviesBouldinStats, calinski_harabasz_score, davies_bouldin_score
from .labels import Labels, encode_labels
from .result import METRIC_INFO, ClusterMetrics, MetricInfo
from .silhouettes import SilhouetteResult, silhouette, silhouette_samples, silhouette_score

__all__ = [
                          "METRIC_INFO",
                          "ArraySource",
                          "Batch",
                          "ClusterMetrics",
                          "ClusterStats",
                          "ContingencyStats",
                          "DaviesBouldinStats",
                          "Labels",
                          "MetricInfo",
                          "SilhouetteResult",
                          "adjusted_mutual_info_score",
                          "adjusted_rand_score",
                          "calinski_harabasz_score",
                          "completeness_score",
                          "contingency_matrix",
                          "davies_bouldin_score",
                          "encode_labels",
                          "evaluate",
                          "evaluate_source",
                          "expected_mutual_info",
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
