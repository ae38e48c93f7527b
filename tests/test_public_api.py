import clustermetrics

EXPECTED = {
    "Client", "Dataset",
    "METRIC_INFO", "ClusterMetrics", "ClusterMetricsError", "ClusterMetricsWarning",
    "ClusterStats", "ContingencyStats",
    "DaviesBouldinStats", "InvalidInputError", "MissingDependencyError", "NotFoundError",
    "SchemaError", "SilhouetteResult", "StoreError", "StoreLockedError",
    "__version__",
    "adjusted_mutual_info_score", "adjusted_rand_score", "calinski_harabasz_score",
    "completeness_score", "contingency_matrix", "davies_bouldin_score", "evaluate",
    "evaluate_parquet", "fowlkes_mallows_score", "homogeneity_completeness_v_measure",
    "homogeneity_score",
    "mutual_info_score", "normalized_mutual_info_score", "pair_confusion_matrix", "purity_score",
    "rand_score", "silhouette", "silhouette_samples", "silhouette_score", "v_measure_score",
}


def test_public_names_are_pinned():
    assert set(clustermetrics.__all__) == EXPECTED


def test_every_public_name_resolves():
    for name in clustermetrics.__all__:
        assert getattr(clustermetrics, name) is not None
