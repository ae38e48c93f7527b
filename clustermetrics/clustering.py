"""Clustering that produces aliases: any scikit-learn-style clusterer -> labels, params, noise.

A model travels as a :class:`ModelSpec`, its class path and ``get_params()``; the side that
holds the data rebuilds a fresh, unfitted estimator from it (as ``sklearn.base.clone`` does),
so the same call works embedded or through a server. :func:`fit` runs the estimator on an
array and returns its labels, the noise label it uses (``-1`` for DBSCAN, HDBSCAN and OPTICS,
or any model whose labels include ``-1``, scikit-learn's convention for noise), centroids where
the model has them, and a few figures of the run (inertia, iterations).

>>> spec = ModelSpec.named("hdbscan", min_cluster_size=15)
>>> spec.cls, spec.default_alias()
('sklearn.cluster.HDBSCAN', 'hdbscan_mcs15')
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import math
import re
import sys
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import threads
from .errors import InvalidInputError, MissingDependencyError

MINIBATCH_ABOVE = 100_000  # rows; MiniBatchKMeans beyond this keeps k-means to seconds
NOISE_LABEL = -1  # scikit-learn's label for noise (DBSCAN, HDBSCAN, OPTICS)

# the command line's names for scikit-learn's clusterers
ALGORITHMS: dict[str, str] = {
    "hdbscan": "sklearn.cluster.HDBSCAN",
    "dbscan": "sklearn.cluster.DBSCAN",
    "agglomerative": "sklearn.cluster.AgglomerativeClustering",
    "kmeans": "sklearn.cluster.KMeans",
    "minibatch-kmeans": "sklearn.cluster.MiniBatchKMeans",
    "gaussian-mixture": "sklearn.mixture.GaussianMixture",
    "birch": "sklearn.cluster.Birch",
    "spectral": "sklearn.cluster.SpectralClustering",
}

NOISE_MODELS = frozenset({"DBSCAN", "HDBSCAN", "OPTICS"})  # by class name: hdbscan's too
# models fragile in float32, fitted in float64 whatever the stored vectors' precision: a
# Gaussian mixture's covariances of low-rank data (embeddings) come out singular in float32
# (scikit-learn: "ill-defined empirical covariance ... float64"; 10 of 10 seeds on rank-4
# data in 32 dimensions, 0 of 10 in float64)
FLOAT64_MODELS = frozenset({"GaussianMixture", "BayesianGaussianMixture"})
PRECISIONS = ("auto", "float32", "float64")

_METHODS = {"KMeans": "kmeans", "MiniBatchKMeans": "minibatch_kmeans", "HDBSCAN": "hdbscan",
            "DBSCAN": "dbscan", "OPTICS": "optics", "AgglomerativeClustering": "agglomerative",
            "Birch": "birch", "GaussianMixture": "gaussian_mixture",
            "SpectralClustering": "spectral"}

# parameters that name a run in its default alias, in this order (None values are left out)
_KEY_PARAMS = {"KMeans": ["n_clusters"], "MiniBatchKMeans": ["n_clusters"],
               "BisectingKMeans": ["n_clusters"], "HDBSCAN": ["min_cluster_size", "min_samples"],
               "DBSCAN": ["eps", "min_samples"], "OPTICS": ["min_samples"],
               "AgglomerativeClustering": ["linkage", "n_clusters", "distance_threshold"],
               "Birch": ["n_clusters"], "GaussianMixture": ["n_components"],
               "BayesianGaussianMixture": ["n_components"], "SpectralClustering": ["n_clusters"],
               "MeanShift": ["bandwidth"]}
_GENERIC_KEYS = ["n_clusters", "n_components"]
_ABBREVIATIONS = {"n_clusters": "", "n_components": "", "linkage": "", "covariance_type": "",
                  "min_cluster_size": "mcs", "min_samples": "ms", "eps": "eps",
                  "distance_threshold": "dt", "threshold": "t", "bandwidth": "bw"}

# parameters whose default is a 'warn' sentinel (scikit-learn's way to announce a new default,
# with a FutureWarning at fit): the value they will take, set explicitly when the caller leaves
# them unset, so no warning is printed and the alias records a real value. From the classes'
# docstrings, e.g. HDBSCAN's "copy ... will change from False to True in version 1.10".
FUTURE_DEFAULTS: dict[tuple[str, str], Any] = {("HDBSCAN", "copy"): True}
_SENTINEL = "warn"

_LOCAL_CLASSES: dict[str, type] = {}  # classes this process made specs of, not importable by path


@dataclass
class ModelSpec:
    """A clustering model as data: the class's import path and its constructor parameters.

    ``ModelSpec.of(estimator)`` takes any object with scikit-learn's ``get_params()`` and
    ``fit_predict`` (or ``fit`` then ``labels_``); ``build()`` makes a fresh estimator. Both
    fields are plain data, so a spec travels through :mod:`clustermetrics.api.codec`.
    """

    cls: str
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # a 'warn' sentinel (as get_params() gives for an unset parameter) becomes its
        # future default: see FUTURE_DEFAULTS
        if isinstance(self.params, dict) and isinstance(self.cls, str):
            name = self.cls.rsplit(".", 1)[-1]
            self.params = {k: (FUTURE_DEFAULTS[name, k] if _is_sentinel(v)
                               and (name, k) in FUTURE_DEFAULTS else v)
                           for k, v in self.params.items()}

    @classmethod
    def of(cls, model: Any) -> ModelSpec:
        """The spec of an estimator, an estimator class, a spec, or an algorithm name."""
        if isinstance(model, ModelSpec):
            return model
        if isinstance(model, str):
            return cls.named(model)
        klass = model if isinstance(model, type) else type(model)
        if not (hasattr(klass, "fit_predict") or hasattr(klass, "fit")):
            raise InvalidInputError(
                f"model must follow scikit-learn's clusterer API (fit_predict, or fit then "
                f"labels_), e.g. sklearn.cluster.HDBSCAN(); got {_kind(model)}.")
        if isinstance(model, type):
            params: dict[str, Any] = {}
        elif callable(getattr(model, "get_params", None)):
            params = dict(model.get_params(deep=False))
        else:
            raise InvalidInputError(
                f"{klass.__name__} has no get_params(), so it cannot be rebuilt: derive it from "
                "sklearn.base.BaseEstimator (which gives get_params from __init__'s arguments).")
        return cls(_class_path(klass), params)

    @classmethod
    def named(cls, algorithm: str, **params: Any) -> ModelSpec:
        """A spec by the command line's algorithm name (see ``ALGORITHMS``)."""
        if algorithm not in ALGORITHMS:
            close = difflib.get_close_matches(algorithm, list(ALGORITHMS), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise InvalidInputError(f"Unknown algorithm {algorithm!r}.{hint} Algorithms: "
                                    f"{', '.join(ALGORITHMS)}.")
        return cls(ALGORITHMS[algorithm], dict(params))

    # -- names ------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The class name, e.g. ``HDBSCAN``."""
        return self.cls.rsplit(".", 1)[-1]

    @property
    def method(self) -> str:
        """The short name an alias records, e.g. ``hdbscan``, ``gaussian_mixture``."""
        if self.name in _METHODS:
            return _METHODS[self.name]
        snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", self.name).lower()
        return re.sub(r"_clustering$", "", snake) or "model"

    @property
    def stage(self) -> str:
        """The name of the fit in progress reports."""
        return "k-means" if self.method in ("kmeans", "minibatch_kmeans") else self.name

    def describe(self) -> str:
        """``KMeans(n_clusters=8)``, ``HDBSCAN(min_cluster_size=15)``: the key parameters
        (those of the default alias, at their default too: ``KMeans()`` says nothing of k),
        then the others that differ from the defaults."""
        defaults = _defaults(self._resolve_quietly())
        values = {**defaults, **self.params}
        keys = _KEY_PARAMS.get(self.name, [k for k in _GENERIC_KEYS if k in values])
        shown = [f"{k}={values[k]!r}" for k in keys if values.get(k) is not None]
        shown += [f"{k}={v!r}" for k, v in self.params.items()
                  if k not in keys and (k not in defaults or not _same(defaults[k], v))]
        return f"{self.name}({', '.join(shown)})"

    def default_alias(self, extra: Iterable[str] = ()) -> str:
        """The method and its key parameters, e.g. ``hdbscan_mcs15``, ``kmeans_10``,
        ``agglomerative_ward_5``; ``extra`` names more parameters to show (a sweep's grid)."""
        values = {**_defaults(self._resolve_quietly()), **self.params}
        keys = list(_KEY_PARAMS.get(self.name, [k for k in _GENERIC_KEYS if k in values]))
        keys += [k for k in extra if k not in keys]
        parts = []
        for key in keys:
            value = values.get(key)
            if key not in values or (value is None and key not in extra):
                continue
            text = _alias_value(value)
            if text is not None:
                parts.append(_abbreviation(key) + text)
        return "_".join([self.method, *parts])[:128]

    # -- building ---------------------------------------------------------------------------
    def with_params(self, **params: Any) -> ModelSpec:
        return ModelSpec(self.cls, {**self.params, **params})

    def require_allowed(self, models: Collection[str] | None) -> ModelSpec:
        """This spec, if ``models`` (class paths) allows its class; None allows any. Checked
        before anything is imported: a server builds only the models it serves."""
        if models is not None and self.cls not in models:
            raise InvalidInputError(f"Model class {self.cls!r} is not served here; use one of "
                                    f"{', '.join(sorted(models))}.")
        if models is not None:  # a server: no parameter may write files or take every core
            for name, ok in _SERVED_PARAMS.items():
                if name in self.params and not ok(self.params[name]):
                    raise InvalidInputError(
                        f"Parameter {name}={self.params[name]!r} of {self.method} is not "
                        f"served here: {_SERVED_WHY[name]}. Leave it out.")
        return self

    def resolve(self) -> type:
        """The class, imported by its path."""
        if self.cls in _LOCAL_CLASSES:
            return _LOCAL_CLASSES[self.cls]
        if not isinstance(self.cls, str) or not re.fullmatch(r"[\w.]+", self.cls or ""):
            raise InvalidInputError(f"Model class {self.cls!r} is not an import path such as "
                                    "'sklearn.cluster.HDBSCAN'.")
        parts = self.cls.split(".")
        for i in range(len(parts) - 1, 0, -1):
            try:
                obj: Any = importlib.import_module(".".join(parts[:i]))
            except ImportError:
                continue
            try:
                for attr in parts[i:]:
                    obj = getattr(obj, attr)
            except AttributeError:
                break
            if isinstance(obj, type):
                return obj
            break
        raise MissingDependencyError(
            f"Model class {self.cls!r} cannot be imported here: install the package that "
            "provides it (or check the path).")

    def build(self) -> Any:
        """A fresh estimator with these parameters, checked before any data is read: unknown
        parameters are named with the closest match, values are checked by scikit-learn's own
        parameter validation where the class has it."""
        klass = self.resolve()
        if not (hasattr(klass, "fit_predict") or hasattr(klass, "fit")):
            raise InvalidInputError(f"{self.name} has neither fit_predict nor fit: it is not a "
                                    "clusterer.")
        accepted = _init_params(klass)
        if accepted is not None:
            for key in self.params:
                if key not in accepted:
                    close = difflib.get_close_matches(key, sorted(accepted), n=1)
                    hint = f" Did you mean {close[0]!r}?" if close else ""
                    raise InvalidInputError(
                        f"{self.name} has no parameter {key!r}.{hint} Its parameters: "
                        f"{', '.join(sorted(accepted))}.")
        # sentinel defaults left unset are given their future value (see FUTURE_DEFAULTS)
        fixed = {k: v for k, v in _future_defaults(klass).items() if k not in self.params}
        try:
            estimator = klass(**fixed, **self.params)
            validate = getattr(estimator, "_validate_params", None)
            if callable(validate) and isinstance(getattr(estimator, "_parameter_constraints",
                                                         None), dict):
                validate()  # scikit-learn's own checks of types and ranges
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"{self.name}: {_first_line(exc)}") from None
        return estimator

    def _resolve_quietly(self) -> type | None:
        try:
            return self.resolve()
        except (InvalidInputError, MissingDependencyError):
            return None


@dataclass
class FitResult:
    """What a fit leaves: one label per row, the noise label, centroids, figures of the run."""

    labels: np.ndarray
    noise_label: int | None
    centroids: np.ndarray | None
    info: dict[str, Any]

    @property
    def n_noise(self) -> int:
        if self.noise_label is None:
            return 0
        return int(np.count_nonzero(self.labels == self.noise_label))

    @property
    def coverage(self) -> float:
        """Share of the rows in a cluster (not noise)."""
        return 1.0 - self.n_noise / len(self.labels) if len(self.labels) else 0.0

    def sizes(self) -> dict[Any, int]:
        """Rows per cluster (noise left out), by label."""
        values, counts = np.unique(self.labels, return_counts=True)
        return {_plain(v): int(n) for v, n in zip(values, counts, strict=True)
                if self.noise_label is None or v != self.noise_label}


def fit_precision(spec: ModelSpec, dtype: Any, precision: str | None = None) -> np.dtype:
    """The dtype a model is fitted in: ``precision`` ("float32" or "float64") when given,
    else ("auto") float64 for the models in ``FLOAT64_MODELS`` and the vectors' own
    precision for the others (float32 vectors stay float32: half the memory and time)."""
    if precision is None or precision == "auto":
        if spec.name in FLOAT64_MODELS:
            return np.dtype(np.float64)
        dtype = np.dtype(dtype)
        return dtype if dtype.kind == "f" else np.dtype(np.float64)
    if precision not in PRECISIONS:
        raise InvalidInputError(f"precision must be one of {', '.join(map(repr, PRECISIONS))} "
                                f"(auto: float64 for {', '.join(sorted(FLOAT64_MODELS))}, "
                                f"else the vectors' own); got {precision!r}.")
    return np.dtype(precision)


def fit(estimator: Any, X: np.ndarray, spec: ModelSpec | None = None, *,
        precision: str | None = None) -> FitResult:
    """Fit ``estimator`` on the rows of ``X`` and read its labels: ``fit_predict`` where the
    model has it, else ``fit`` then ``labels_`` (or ``predict``). The rows are fitted in the
    precision :func:`fit_precision` gives (``precision``: "auto", "float32" or "float64"),
    recorded as ``info["precision"]`` (stored with the alias). The fit runs on the thread
    budget's cores (:func:`clustermetrics.threads.fit_threads`)."""
    spec = spec or ModelSpec.of(estimator)
    dtype = fit_precision(spec, X.dtype, precision)
    if X.dtype != dtype:
        X = X.astype(dtype)
    n = len(X)
    if n < 2:
        raise InvalidInputError(f"{n} documents with vectors: a clustering needs at least 2.")
    with threads.fit_threads(type(estimator)):  # OpenMP and BLAS: the budget's
        try:
            if hasattr(estimator, "fit_predict"):
                labels = estimator.fit_predict(X)
            else:
                estimator.fit(X)
                labels = getattr(estimator, "labels_", None)
                if labels is None and hasattr(estimator, "predict"):
                    labels = estimator.predict(X)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(
                f"{spec.describe()} failed on {n:,} vectors: {_first_line(exc)}") from None
    if labels is None:
        raise InvalidInputError(f"{spec.name} gave no labels: after fit it has no labels_ "
                                "and no predict.")
    labels = np.asarray(labels)
    if labels.shape != (n,):
        raise InvalidInputError(f"{spec.name} returned labels of shape {labels.shape} for "
                                f"{n:,} vectors; a clusterer gives one label per row.")
    whole = labels.dtype.kind == "f" and bool(np.all(np.isfinite(labels) & (labels % 1 == 0)))
    if labels.dtype.kind in "iub" or whole:  # integral floats too: labels are ints
        labels = labels.astype(np.int64)
    integral = labels.dtype.kind == "i"
    noisy = spec.name in NOISE_MODELS or (integral and bool(np.any(labels == NOISE_LABEL)))
    noise_label = NOISE_LABEL if noisy else None
    return FitResult(labels, noise_label, _centroids(estimator, labels, X.shape[1]),
                     {**_run_info(estimator), "precision": dtype.name})


def kmeans_spec(k: Any, n_rows: int, *, random_state: int | None = 0,
                minibatch: bool | None = None) -> ModelSpec:
    """k-means as the ``kmeans`` shortcut runs it: full k-means (Lloyd, k-means++ init) up to
    ``MINIBATCH_ABOVE`` rows, MiniBatchKMeans beyond (or as ``minibatch`` says); seeded."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
        raise InvalidInputError(f"k must be an integer >= 2; got {k!r}.")
    if k > n_rows - 1:  # scikit-learn's rule for the metrics: 2 <= k <= n - 1
        raise InvalidInputError(f"k={k} must be less than the {n_rows} documents with vectors "
                                "(the metrics need fewer clusters than documents).")
    use_minibatch = n_rows > MINIBATCH_ABOVE if minibatch is None else minibatch
    if use_minibatch:
        return ModelSpec("sklearn.cluster.MiniBatchKMeans",
                         {"n_clusters": int(k), "random_state": random_state, "n_init": 3,
                          "batch_size": 4096})
    return ModelSpec("sklearn.cluster.KMeans",
                     {"n_clusters": int(k), "random_state": random_state, "n_init": "auto"})


def parameter_grid(param_grid: Any) -> list[dict[str, Any]]:
    """The combinations of a grid, as scikit-learn's ``ParameterGrid`` makes them (a dict of
    lists, or a list of such dicts).

    >>> parameter_grid({"min_cluster_size": [5, 10], "min_samples": [3]})
    [{'min_cluster_size': 5, 'min_samples': 3}, {'min_cluster_size': 10, 'min_samples': 3}]
    """
    from sklearn.model_selection import ParameterGrid

    if not isinstance(param_grid, (dict, list, tuple)):
        raise InvalidInputError("param_grid must be a dict of lists, e.g. "
                                f"{{'min_cluster_size': [5, 10, 20]}}; got {_kind(param_grid)}.")
    try:
        points = list(ParameterGrid(param_grid))
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"param_grid: {_first_line(exc)}") from None
    if not points or points == [{}]:
        raise InvalidInputError("param_grid gives nothing to try: give each parameter a "
                                "non-empty list, e.g. {'min_cluster_size': [5, 10, 20]}.")
    return points


# parameters a server refuses: a cache folder on the server's disk (AgglomerativeClustering's
# memory), or more threads than the server's job limits give a fit
_SERVED_PARAMS = {"memory": lambda v: v is None, "n_jobs": lambda v: v in (None, 1)}
_SERVED_WHY = {"memory": "it would write a cache on the server's disk",
               "n_jobs": "the server sets how many cores a job uses"}


def grid_runs(spec: ModelSpec, points: list[dict[str, Any]]) -> list[tuple[ModelSpec, Any, str]]:
    """(spec, fresh estimator, alias) for each combination, all checked before any is fitted.
    Aliases show the model's key parameters and every parameter of the grid."""
    keys = sorted({k for p in points for k in p})
    runs: list[tuple[ModelSpec, Any, str]] = []
    seen: dict[str, dict[str, Any]] = {}
    for point in points:
        run = spec.with_params(**point)
        estimator = run.build()
        alias = run.default_alias(extra=keys)
        if alias in seen:
            raise InvalidInputError(f"Grid points {seen[alias]} and {point} would share the "
                                    f"alias {alias!r}; make their values differ more.")
        seen[alias] = point
        runs.append((run, estimator, alias))
    return runs


def plain(value: Any) -> Any:
    """A JSON-able copy of parameter values (arrays as lists, other objects as their repr),
    for the alias's record."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, np.generic):
        return plain(value.item())
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return repr(value)


def parse_value(text: str) -> Any:
    """A command-line parameter value in its type: int, float, bool, None, else the string.

    >>> [parse_value(t) for t in ("15", "0.5", "1e-3", "true", "None", "ward")]
    [15, 0.5, 0.001, True, None, 'ward']
    """
    low = text.strip().lower()
    if low in ("none", "null"):
        return None
    if low in ("true", "false"):
        return low == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


# -- helpers -----------------------------------------------------------------------------------

def _class_path(klass: type) -> str:
    """The shortest public import path of a class: ``sklearn.cluster.HDBSCAN`` rather than
    ``sklearn.cluster._hdbscan.hdbscan.HDBSCAN``."""
    module, qual = klass.__module__, klass.__qualname__
    if "<locals>" in qual:  # defined inside a function: only this process can rebuild it
        path = f"{module}.{qual.replace('<locals>.', '')}"
        _LOCAL_CLASSES[path] = klass
        return path
    parts = module.split(".")
    for i in range(1, len(parts)):
        prefix = ".".join(parts[:i])
        mod = sys.modules.get(prefix)
        if mod is not None and "." not in qual and getattr(mod, qual, None) is klass:
            return f"{prefix}.{qual}"
    return f"{module}.{qual}"


def _init_params(klass: type) -> set[str] | None:
    """Names the constructor accepts (None when it takes ``**kwargs``)."""
    try:
        sig = inspect.signature(klass)
    except (TypeError, ValueError):
        return None
    names = set()
    for p in sig.parameters.values():
        if p.kind == p.VAR_KEYWORD:
            return None
        if p.kind != p.VAR_POSITIONAL:
            names.add(p.name)
    return names


def _defaults(klass: type | None) -> dict[str, Any]:
    if klass is None:
        return {}
    try:
        sig = inspect.signature(klass)
    except (TypeError, ValueError):
        return {}
    return {p.name: p.default for p in sig.parameters.values()
            if p.default is not inspect.Parameter.empty} | _future_defaults(klass)


def _future_defaults(klass: type) -> dict[str, Any]:
    """The parameters of ``klass`` whose default is still the 'warn' sentinel, with the value
    they will take (FUTURE_DEFAULTS); none once the library has made the change."""
    try:
        sig = inspect.signature(klass)
    except (TypeError, ValueError):
        return {}
    return {p.name: FUTURE_DEFAULTS[klass.__name__, p.name] for p in sig.parameters.values()
            if _is_sentinel(p.default) and (klass.__name__, p.name) in FUTURE_DEFAULTS}


def _is_sentinel(value: Any) -> bool:
    return isinstance(value, str) and value == _SENTINEL


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b) and type(a) is type(b)
    except (TypeError, ValueError):
        return False


def _abbreviation(key: str) -> str:
    if key in _ABBREVIATIONS:
        return _ABBREVIATIONS[key]
    words = [w for w in key.split("_") if w]
    return "".join(w[0] for w in words) if len(words) > 1 else key


def _alias_value(value: Any) -> str | None:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):g}".replace(".", "p").replace("-", "m").replace("+", "")
    if isinstance(value, str):
        return re.sub(r"[^A-Za-z0-9_-]+", "-", value) or None
    return None


def _centroids(estimator: Any, labels: np.ndarray, dim: int) -> np.ndarray | None:
    """The model's cluster centres, when they line up with its labels 0..k-1."""
    if labels.dtype.kind != "i":
        return None
    for attr in ("cluster_centers_", "centroids_", "means_"):
        centres = getattr(estimator, attr, None)
        if centres is None:
            continue
        centres = np.asarray(centres)
        kept = labels[labels >= 0]
        if centres.ndim == 2 and centres.shape[1] == dim and (
                not len(kept) or kept.max() < len(centres)):
            return centres
    return None


def _run_info(estimator: Any) -> dict[str, Any]:
    out = {}
    for attr in ("inertia_", "n_iter_", "converged_", "lower_bound_"):
        value = getattr(estimator, attr, None)
        if isinstance(value, (bool, int, float, np.generic)):
            out[attr.rstrip("_")] = plain(value)
    return out


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _kind(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"[:80]
