"""One codec for everything that travels: results, tables, documents and errors.

:func:`encode` turns a value into JSON-able data (dicts, lists, str, int, float, bool, None) and
:func:`decode` brings it back equal, types included: ints stay ints, labels keep their type, a
DataFrame keeps its index, columns and dtypes, a dict keeps non-string keys, dates and decimals
stay dates and decimals. Documents can also travel as Arrow IPC (:func:`to_ipc`,
:func:`from_ipc`), which keeps every Arrow type. Errors travel as their stable ``code`` and
message (:func:`encode_error`, :func:`decode_error`). The server and the remote client both use
this module, so "the same result" has one definition: equal encodings.

Only the classes registered here are rebuilt; anything else is refused, so decoding data from
the network never imports or calls arbitrary code. What a *request* carries (a model's
parameters, a parameter grid) is decoded by :func:`decode_request`, which takes plain values
only: never an Arrow table, a DataFrame or a registered class.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import decimal
import math
import uuid
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import scipy.sparse as sp

from ..errors import ClusterMetricsError, InvalidInputError, restore_error

TYPE = "__type__"


def _registry() -> dict[str, type]:
    from ..clustering import ModelSpec
    from ..explore.results import RESULT_TYPES
    from ..metrics.contingency import ContingencyStats
    from ..metrics.result import ClusterMetrics
    from ..metrics.silhouettes import SilhouetteResult
    from ..report.compare import Comparison
    from ..report.html import Projection
    from ..stability import Stability
    from .base import ReportData
    return {cls.__name__: cls for cls in (ClusterMetrics, SilhouetteResult, ContingencyStats,
                                          Comparison, Projection, ReportData, ModelSpec,
                                          Stability, *RESULT_TYPES)}


def encode(value: Any) -> Any:
    """JSON-able data that :func:`decode` turns back into ``value``."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int) and not isinstance(value, np.integer):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {TYPE: "float", "value": repr(value)}
    if isinstance(value, np.generic):
        return encode(value.item())
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value) and TYPE not in value:
            return {k: encode(v) for k, v in value.items()}
        return {TYPE: "dict", "items": [[encode(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, tuple):
        return {TYPE: "tuple", "items": [encode(v) for v in value]}
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return {TYPE: "ndarray", "dtype": "object", "shape": list(value.shape),
                    "data": [encode(v) for v in value.ravel().tolist()]}
        return {TYPE: "ndarray", "dtype": value.dtype.str, "shape": list(value.shape),
                "data": base64.b64encode(np.ascontiguousarray(value).tobytes()).decode()}
    if isinstance(value, pd.DataFrame):
        return {TYPE: "DataFrame", "index": encode(value.index),
                "columns": encode(value.columns),
                "dtypes": [str(t) for t in value.dtypes],
                "data": [encode(value.iloc[:, j].to_numpy()) for j in range(value.shape[1])],
                **({"attrs": encode(dict(value.attrs))} if value.attrs else {})}
    if isinstance(value, pd.Index):
        return {TYPE: "Index", "values": encode(list(value.to_numpy(dtype=object))),
                "name": encode(value.name), "dtype": str(value.dtype)}
    if isinstance(value, (pa.Table, pa.RecordBatch)):
        return {TYPE: "arrow", "ipc": base64.b64encode(to_ipc(value)).decode()}
    if sp.issparse(value):
        coo = sp.coo_array(value)
        return {TYPE: "sparse", "shape": list(coo.shape), "row": encode(coo.row),
                "col": encode(coo.col), "data": encode(coo.data)}
    if isinstance(value, dt.datetime):
        return {TYPE: "datetime", "value": value.isoformat()}
    if isinstance(value, dt.date):
        return {TYPE: "date", "value": value.isoformat()}
    if isinstance(value, dt.time):
        return {TYPE: "time", "value": value.isoformat()}
    if isinstance(value, dt.timedelta):
        return {TYPE: "timedelta", "value": value.total_seconds()}
    if isinstance(value, decimal.Decimal):
        return {TYPE: "decimal", "value": str(value)}
    if isinstance(value, bytes):
        return {TYPE: "bytes", "value": base64.b64encode(value).decode()}
    if isinstance(value, uuid.UUID):
        return {TYPE: "uuid", "value": str(value)}
    if isinstance(value, ClusterMetricsError):
        return encode_error(value)
    name = type(value).__name__
    if _registry().get(name) is type(value):
        state = ({f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
                 if dataclasses.is_dataclass(value) else dict(vars(value)))
        return {TYPE: name, "state": {k: encode(v) for k, v in state.items()}}
    raise InvalidInputError(f"Cannot encode a {type(value).__module__}.{name} for transport.")


def decode(data: Any) -> Any:
    """The value :func:`encode` made ``data`` from."""
    if isinstance(data, list):
        return [decode(v) for v in data]
    if not isinstance(data, dict):
        return data
    kind = data.get(TYPE)
    if kind is None:
        return {k: decode(v) for k, v in data.items()}
    if kind == "float":
        return float(data["value"])
    if kind == "dict":
        return {_hashable(decode(k)): decode(v) for k, v in data["items"]}
    if kind == "tuple":
        return tuple(decode(v) for v in data["items"])
    if kind == "ndarray":
        shape = tuple(data["shape"])
        if data["dtype"] == "object":
            out = np.empty(len(data["data"]), dtype=object)
            out[:] = [decode(v) for v in data["data"]]
            return out.reshape(shape)
        raw = base64.b64decode(data["data"])
        return np.frombuffer(raw, dtype=np.dtype(data["dtype"])).reshape(shape).copy()
    if kind == "DataFrame":
        frame = pd.DataFrame({i: decode(col) for i, col in enumerate(data["data"])},
                             index=decode(data["index"]))
        frame.columns = decode(data["columns"])
        for j, dtype in enumerate(data["dtypes"]):
            if str(frame.dtypes.iloc[j]) != dtype:
                frame.isetitem(j, frame.iloc[:, j].astype(dtype).to_numpy())
        frame.attrs.update(decode(data.get("attrs") or {}))
        return frame
    if kind == "Index":
        return pd.Index(decode(data["values"]), name=decode(data["name"]), dtype=data["dtype"])
    if kind == "arrow":
        return from_ipc(base64.b64decode(data["ipc"]))
    if kind == "sparse":
        return sp.csr_array((decode(data["data"]), (decode(data["row"]), decode(data["col"]))),
                            shape=tuple(data["shape"]))
    if kind == "datetime":
        return dt.datetime.fromisoformat(data["value"])
    if kind == "date":
        return dt.date.fromisoformat(data["value"])
    if kind == "time":
        return dt.time.fromisoformat(data["value"])
    if kind == "timedelta":
        return dt.timedelta(seconds=data["value"])
    if kind == "decimal":
        return decimal.Decimal(data["value"])
    if kind == "bytes":
        return base64.b64decode(data["value"])
    if kind == "uuid":
        return uuid.UUID(data["value"])
    if kind == "error":
        return decode_error(data)
    cls = _registry().get(kind)
    if cls is None:
        raise InvalidInputError(f"Cannot decode a {kind!r}: not a type this version knows.")
    state = {k: decode(v) for k, v in data["state"].items()}
    if dataclasses.is_dataclass(cls):
        return cls(**state)
    obj: Any = object.__new__(cls)
    obj.__dict__.update(state)
    return obj


# what a request value may hold of the codec's encodings: nothing that reaches native readers
REQUEST_KINDS = ("float", "tuple", "dict", "ndarray")
MAX_REQUEST_DEPTH = 32


def decode_request(data: Any, where: str) -> Any:
    """A value from a request (``where`` names it in messages, e.g. ``"model.params"``):
    plain JSON values, and of the codec's encodings only non-finite floats, tuples, dicts with
    non-string keys and arrays of numbers or booleans. Anything else (an Arrow table, a
    DataFrame, a sparse matrix, bytes, a registered class), a malformed encoding or nesting
    deeper than 32 levels is an :class:`~clustermetrics.errors.InvalidInputError` naming
    where it is.

    >>> decode_request({"n_clusters": 3, "init": "k-means++"}, "model.params")
    {'n_clusters': 3, 'init': 'k-means++'}
    >>> decode_request({"x": {"__type__": "arrow", "ipc": ""}}, "model.params")
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    clustermetrics.errors.InvalidInputError: model.params['x'] holds an encoded 'arrow'; ...
    """
    return _request_value(data, where, 0)


def _request_value(data: Any, where: str, depth: int) -> Any:
    if depth > MAX_REQUEST_DEPTH:
        raise InvalidInputError(f"{where} nests lists or objects deeper than "
                                f"{MAX_REQUEST_DEPTH} levels; send a flatter value.")
    if isinstance(data, list):
        return [_request_value(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(data)]
    if not isinstance(data, dict):
        return data
    kind = data.get(TYPE)
    if kind is None:
        return {k: _request_value(v, f"{where}[{k!r}]", depth + 1) for k, v in data.items()}
    if kind not in REQUEST_KINDS:
        raise InvalidInputError(
            f"{where} holds an encoded {kind!r}; a request's values are plain JSON (numbers, "
            "strings, booleans, null, lists, objects) or, as the codec writes them, non-finite "
            "floats, tuples, dicts and numeric arrays.")
    try:
        if kind == "float":
            value = float(data["value"]) if isinstance(data["value"], str) else None
            if value is None or math.isfinite(value):
                raise ValueError("not a non-finite float")
            return value
        if kind == "tuple":
            return tuple(_request_value(v, f"{where}[{i}]", depth + 1)
                         for i, v in enumerate(_list(data["items"])))
        if kind == "dict":
            out = {}
            for i, pair in enumerate(_list(data["items"])):
                key, value = _list(pair)
                key = _hashable(_request_value(key, f"{where} key {i}", depth + 1))
                out[key] = _request_value(value, f"{where}[{key!r}]", depth + 1)
            return out
        return _request_array(data)
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise InvalidInputError(f"{where} holds a malformed {kind!r} encoding; send the value "
                                "as codec.encode writes it, or as plain JSON.") from None


def _list(value: Any) -> list:
    if not isinstance(value, list):
        raise TypeError("not a list")
    return value


def _request_array(data: dict) -> np.ndarray:
    """An encoded array of numbers or booleans, its size checked against its shape."""
    dtype = np.dtype(data["dtype"]) if isinstance(data["dtype"], str) else None
    if dtype is None or dtype.kind not in "biuf":
        raise ValueError("not an array of numbers")
    shape = tuple(_list(data["shape"]))
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise ValueError("a bad shape")
    raw = base64.b64decode(data["data"], validate=True)
    if len(raw) != math.prod(shape) * dtype.itemsize:
        raise ValueError("the data does not fill the shape")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def encode_error(exc: ClusterMetricsError) -> dict:
    """An error as ``{"__type__": "error", "code", "message", "state"}``."""
    state = {k: encode(v) for k, v in vars(exc).items() if not k.startswith("__")}
    return {TYPE: "error", "code": exc.code, "message": str(exc), "state": state}


def decode_error(data: dict) -> ClusterMetricsError:
    """The error class a code names, with the same message and attributes."""
    return restore_error(data["code"], data["message"],
                         {k: decode(v) for k, v in data.get("state", {}).items()})


def to_ipc(table: pa.Table | pa.RecordBatch) -> bytes:
    """Arrow IPC stream bytes of a table (every Arrow type kept)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write(table)
    return sink.getvalue().to_pybytes()


def from_ipc(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(data).read_all()


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key
