"""What an Arrow table may hold before it reaches the store, and how an untrusted Arrow IPC
stream is read.

The store holds plain types: integers, floats, booleans, strings, dates, times and
timestamps, fixed-size lists of numbers (vectors), lists of plain values and structs of them
(nested documents), and null-typed columns (fields no document gives yet).
:func:`check_schema` refuses anything else (dictionary, union, map, binary, decimal, run-end,
view, large and extension types, ...) and bad column names (duplicates, control characters
such as NUL or a newline, empty or overlong names), naming the column, its type and what to
do. The embedded Client and the server run the same check, so both refuse the same input with
the same words.

:func:`read_stream` reads an Arrow IPC stream that came from the network: message by message,
each record batch's metadata decoded (a few fields of its flatbuffer) to know its rows and its
decompressed size *before* Arrow reads or decompresses it, under :class:`Limits` on rows and
bytes; each batch is then validated in full (``validate(full=True)``: offsets, dictionary
indices and UTF-8 checked), so no malformed buffer reaches native code that trusts it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa

from .errors import InvalidInputError, SchemaError, TooLargeError

# a fixed-size list longer than this is refused (DuckDB's ARRAY type holds at most 100,000)
MAX_LIST_SIZE = 100_000
MAX_DEPTH = 16  # nesting of lists and structs
MAX_NAME = 1024  # characters of a column name
MAX_FIELDS = 4096  # columns, nested fields included
# the arrays Arrow keeps per upload (batches x columns): each costs memory whatever its rows
MAX_ARRAYS = 1_000_000
# a schema's metadata: 4,096 fields of long names fit in a few MiB; Arrow parses it whole
MAX_SCHEMA_BYTES = 8 * 2**20


@dataclass(frozen=True)
class Limits:
    """Caps on one Arrow stream from the network: its rows (``max_rows``, also the cap on
    values a null-typed column declares, as they carry no data), and its bytes once
    decompressed (``max_bytes``). ``options`` name the server options that raise them."""

    max_rows: int
    max_bytes: int
    rows_option: str = "clustermetrics serve --max-rows"
    bytes_option: str = "clustermetrics serve --max-arrow-mb"


# -- types and names ------------------------------------------------------------------------

def _scalar(t: pa.DataType) -> bool:
    return (pa.types.is_integer(t) or pa.types.is_float32(t) or pa.types.is_float64(t)
            or pa.types.is_boolean(t) or pa.types.is_string(t) or pa.types.is_timestamp(t)
            or pa.types.is_date(t) or pa.types.is_time(t))


def _number(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_float32(t) or pa.types.is_float64(t)


_HINTS: list[tuple[str, str]] = [  # (what pa.types.is_X names, what to do)
    ("dictionary", "decode it to its values (pyarrow: column.dictionary_decode(); pandas: a "
                   "categorical column as .astype(str) or its values' type)"),
    ("large_string", "send it as string (pa.string())"),
    ("string_view", "send it as string (pa.string())"),
    ("large_list", "send it as a list (pa.list_(...))"),
    ("list_view", "send it as a list (pa.list_(...))"),
    ("large_list_view", "send it as a list (pa.list_(...))"),
    ("binary", "store text in a string field (e.g. base64), not bytes"),
    ("large_binary", "store text in a string field (e.g. base64), not bytes"),
    ("binary_view", "store text in a string field (e.g. base64), not bytes"),
    ("fixed_size_binary", "store text in a string field (e.g. base64), not bytes"),
    ("decimal", "convert it to float64, or to a string to keep every digit"),
    ("map", "store it as a nested document (a struct) or as two list fields"),
    ("union", "give the field one type"),
    ("run_end_encoded", "decode it to plain values"),
    ("duration", "store a number (e.g. seconds as float64)"),
    ("interval", "store a number (e.g. seconds as float64)"),
    ("float16", "cast it to float32"),
]


def _hint(t: pa.DataType) -> str:
    if isinstance(t, pa.BaseExtensionType):
        return "send its storage type instead"
    for name, hint in _HINTS:
        check = getattr(pa.types, f"is_{name}", None)
        if check is not None and check(t):
            return hint
    return ("use numbers, booleans, strings, dates or timestamps, lists of these, or nested "
            "documents")


def _check_type(t: pa.DataType, name: str, depth: int) -> None:
    def refuse(why: str) -> SchemaError:
        return SchemaError(f"Column {name!r} has the Arrow type {t}, which {why}. Nothing was "
                           "written.")

    if depth > MAX_DEPTH:
        raise refuse(f"nests lists and structs deeper than {MAX_DEPTH} levels; flatten it")
    if isinstance(t, pa.BaseExtensionType) or not (
            _scalar(t) or pa.types.is_null(t) or pa.types.is_list(t)
            or pa.types.is_fixed_size_list(t) or pa.types.is_struct(t)):
        raise refuse(f"the store does not hold: {_hint(t)}")
    if pa.types.is_fixed_size_list(t):
        vt = t.value_type
        if not (_number(vt) or pa.types.is_null(vt)):
            raise refuse(f"is a fixed-size list of {vt}; fixed-size lists hold numbers "
                         "(vectors): use a plain list (pa.list_(...)) for other values")
        if not 1 <= t.list_size <= MAX_LIST_SIZE:
            raise refuse(f"holds {t.list_size} values per list; vectors hold from 1 to "
                         f"{MAX_LIST_SIZE:,}")
        return
    if pa.types.is_list(t):
        _check_type(t.value_type, f"{name}[]", depth + 1)
        return
    if pa.types.is_struct(t):
        if t.num_fields == 0:
            raise refuse("is a struct without fields: leave the column out")
        _check_names([t.field(i).name for i in range(t.num_fields)], f"{name}.")
        for i in range(t.num_fields):
            child = t.field(i)
            _check_type(child.type, f"{name}.{child.name}", depth + 1)


def _check_names(names: list[str], prefix: str = "") -> None:
    seen: set[str] = set()
    for name in names:
        shown = prefix + name
        if name == "":
            raise SchemaError(f"A column {'of ' + repr(prefix[:-1]) + ' ' if prefix else ''}"
                              "has an empty name; name every column. Nothing was written.")
        bad = next((c for c in name if ord(c) < 32 or ord(c) == 127), None)
        if bad is not None:
            raise SchemaError(
                f"Column name {shown!r} holds the control character {bad!r}; names are "
                "printable text (no NUL, newline or tab): rename the column. Nothing was "
                "written.")
        if len(name) > MAX_NAME:
            raise SchemaError(f"Column name {shown[:40]!r}... is {len(name):,} characters long; "
                              f"names have at most {MAX_NAME:,}. Nothing was written.")
        if name in seen:
            raise SchemaError(f"Column name {shown!r} appears more than once; give each field "
                              "one column. Nothing was written.")
        seen.add(name)


def _count_fields(t: pa.DataType) -> int:
    """The stored columns a field becomes: a struct's fields each, anything else one."""
    if pa.types.is_struct(t):
        return sum(_count_fields(t.field(i).type) for i in range(t.num_fields))
    return 1


def check_schema(schema: pa.Schema) -> None:
    """Refuse a schema the store cannot hold: a type that is not plain (see the module
    docstring) or a bad column name, with a :class:`~clustermetrics.errors.SchemaError` naming
    the column, its type and what to do.

    >>> check_schema(pa.schema([("_id", pa.string()), ("v_vector_", pa.list_(pa.float32(), 3))]))
    >>> check_schema(pa.schema([("price", pa.decimal128(5, 2))]))
    Traceback (most recent call last):
    ...
    clustermetrics.errors.SchemaError: Column 'price' has the Arrow type decimal128(5, 2), \
which the store does not hold: convert it to float64, or to a string to keep every digit. \
Nothing was written.
    """
    _check_names(list(schema.names))
    fields = 0
    for f in schema:
        _check_type(f.type, f.name, 1)
        fields += _count_fields(f.type)
    if fields > MAX_FIELDS:
        raise SchemaError(f"The documents have {fields:,} fields; at most {MAX_FIELDS:,} are "
                          "written at once. Nothing was written.")


# -- plain forms, on the caller's side ------------------------------------------------------

def _plain_type(t: pa.DataType) -> pa.DataType:
    """The plain type holding the same values: dictionaries decoded, large and view strings
    and lists made plain, recursively; any other type as it is (refused later if not plain)."""
    if pa.types.is_dictionary(t):
        return _plain_type(t.value_type)
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if (pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_list_view(t)
            or pa.types.is_large_list_view(t)):
        return pa.list_(_plain_type(t.value_type))
    if pa.types.is_fixed_size_list(t):
        return pa.list_(_plain_type(t.value_type), t.list_size)
    if pa.types.is_struct(t):
        return pa.struct([t.field(i).with_type(_plain_type(t.field(i).type))
                          for i in range(t.num_fields)])
    return t


def plain(table: pa.Table) -> pa.Table:
    """``table`` with the types a caller's own data often has made plain (a pandas categorical
    column's dictionary decoded, pandas' and Parquet's ``large_string`` as ``string``, large
    lists as lists); used on the caller's side only, where the data is the caller's own. A
    table already plain is returned as it is."""
    fields = [f.with_type(_plain_type(f.type)) for f in table.schema]
    target = pa.schema(fields, metadata=table.schema.metadata)
    if target.equals(table.schema):
        return table
    try:
        return table.cast(target)
    except (pa.ArrowException, OverflowError) as exc:
        col = next((f.name for f, g in zip(table.schema, fields, strict=True)
                    if not f.type.equals(g.type)), "?")
        raise SchemaError(f"Column {col!r} ({table.schema.field(col).type}) could not be "
                          f"converted to {target.field(col).type}: {exc}. Nothing was "
                          "written.") from None


# -- untrusted IPC streams ------------------------------------------------------------------

class _Flat:
    """A table of a flatbuffer, read with bounds checks (the metadata Arrow verified; the
    checks keep a reading mistake here from reading outside it)."""

    def __init__(self, buf: bytes, pos: int):
        self.buf, self.pos = buf, pos
        self.vtable = pos - _unpack(buf, "<i", pos)
        self.vt_len = _unpack(buf, "<H", self.vtable)

    def _field(self, index: int) -> int | None:
        slot = 4 + 2 * index
        if slot + 2 > self.vt_len:
            return None
        off = _unpack(self.buf, "<H", self.vtable + slot)
        return self.pos + off if off else None

    def scalar(self, index: int, fmt: str, default: int = 0) -> int:
        at = self._field(index)
        return default if at is None else _unpack(self.buf, fmt, at)

    def table(self, index: int) -> _Flat | None:
        at = self._field(index)
        return None if at is None else _Flat(self.buf, at + _unpack(self.buf, "<I", at))

    def structs(self, index: int, fmt: str, most: int) -> list[tuple]:
        """A vector of structs of ``fmt`` (e.g. two int64), of at most ``most`` items (counted
        before any is read)."""
        at = self._field(index)
        if at is None:
            return []
        start = at + _unpack(self.buf, "<I", at)
        count = _unpack(self.buf, "<I", start)
        if count > most:
            raise _malformed("a record batch whose arrays do not match the schema")
        size = struct.calcsize(fmt)
        if start + 4 + count * size > len(self.buf):
            raise _malformed("a vector runs past its metadata")
        return [struct.unpack_from(fmt, self.buf, start + 4 + i * size) for i in range(count)]


def _unpack(buf: bytes, fmt: str, at: int) -> int:
    if at < 0 or at + struct.calcsize(fmt) > len(buf):
        raise _malformed("an offset points outside its metadata")
    return struct.unpack_from(fmt, buf, at)[0]


def _malformed(why: str) -> InvalidInputError:
    return InvalidInputError(f"The request body is not a valid Arrow IPC stream ({why}); send "
                             "the documents as an Arrow IPC stream (pyarrow.ipc.new_stream).")


_RECORD_BATCH, _DICTIONARY_BATCH = 3, 2


@dataclass
class _BatchInfo:
    rows: int
    nodes: list[tuple[int, int]]  # (length, null_count) per array, depth first
    buffers: list[tuple[int, int]]  # (offset, length) in the body
    compressed: bool


def _batch_info(metadata: bytes, arrays: int) -> _BatchInfo:
    """The few fields of a RecordBatch message's flatbuffer that tell its cost: rows, the
    arrays' lengths, the body's buffers and whether they are compressed. ``arrays``: the
    arrays the schema makes (each has at most 3 buffers)."""
    message = _Flat(metadata, _unpack(metadata, "<I", 0))
    if message.scalar(1, "<B") != _RECORD_BATCH:
        raise _malformed("a message that is not a record batch")
    batch = message.table(2)
    if batch is None:
        raise _malformed("a record batch without its header")
    rows = batch.scalar(0, "<q")
    nodes = batch.structs(1, "<qq", arrays)
    buffers = batch.structs(2, "<qq", 3 * arrays)
    return _BatchInfo(rows, [(n[0], n[1]) for n in nodes], [(b[0], b[1]) for b in buffers],
                      batch.table(3) is not None)


def _null_nodes(schema: pa.Schema) -> list[bool]:
    """For each array of a batch (depth first, as its field nodes come): whether it is
    null-typed (its length is declared, never paid for with data)."""
    out: list[bool] = []

    def walk(t: pa.DataType) -> None:
        out.append(pa.types.is_null(t))
        if pa.types.is_list(t) or pa.types.is_fixed_size_list(t):
            walk(t.value_type)
        elif pa.types.is_struct(t):
            for i in range(t.num_fields):
                walk(t.field(i).type)

    for f in schema:
        walk(f.type)
    return out


def _decompressed_size(info: _BatchInfo, body: pa.Buffer) -> int:
    """The bytes the batch's buffers take once read: their lengths, or for compressed buffers
    the uncompressed length each one's first 8 bytes declare (what Arrow will allocate)."""
    if not info.compressed:
        return sum(length for _, length in info.buffers)
    view = memoryview(body)
    total = 0
    for offset, length in info.buffers:
        if length == 0:
            continue
        if offset < 0 or length < 8 or offset + length > len(view):
            raise _malformed("a compressed buffer lies outside the message body")
        declared = struct.unpack_from("<q", view, offset)[0]
        total += length - 8 if declared == -1 else declared
        if declared < -1:
            raise _malformed("a compressed buffer declares a negative length")
    return total


def read_stream(data: bytes | pa.Buffer, limits: Limits) -> pa.Table:
    """The table an untrusted Arrow IPC stream holds, read under ``limits`` and checked.

    The schema is checked first (:func:`check_schema`); then each record batch's rows,
    null-typed values and decompressed bytes are added up from its metadata and refused over
    the limits (:class:`~clustermetrics.errors.TooLargeError`, naming the server option)
    before Arrow reads the batch; each batch read is validated in full. Dictionary batches
    never come (dictionary types are refused). Malformed streams are an
    :class:`~clustermetrics.errors.InvalidInputError`."""
    buf = data if isinstance(data, pa.Buffer) else pa.py_buffer(data)
    try:
        reader = pa.ipc.MessageReader.open_stream(buf)
        first = reader.read_next_message()
    except StopIteration:
        raise _malformed("it ends before its schema") from None
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise _malformed(_text(exc)) from None
    if first.type != "schema":
        raise _malformed(f"its first message is a {first.type}, not the schema")
    if first.metadata.size > MAX_SCHEMA_BYTES:
        raise TooLargeError(f"The upload's schema takes {first.metadata.size / 2**20:,.0f} MiB; "
                            f"at most {MAX_SCHEMA_BYTES // 2**20} MiB (4,096 fields) are read.")
    try:
        schema = pa.ipc.read_schema(first)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise _malformed(_text(exc)) from None
    check_schema(schema)
    if len(schema) == 0:
        raise SchemaError("The documents have no columns; send at least an _id or a field. "
                          "Nothing was written.")
    nulls = _null_nodes(schema)
    batches = list(_batches(reader, schema, nulls, limits))
    return pa.Table.from_batches(batches, schema)


def _batches(reader, schema: pa.Schema, nulls: list[bool],
             limits: Limits) -> Iterator[pa.RecordBatch]:
    rows = null_values = size = arrays = 0
    while True:
        try:
            message = reader.read_next_message()
        except StopIteration:
            return
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise _malformed(_text(exc)) from None
        if message.type != "record batch":
            raise _malformed(f"a {message.type} message after the schema (dictionaries are "
                             "not accepted)")
        info = _batch_info(message.metadata.to_pybytes(), len(nulls))
        if info.rows < 0 or len(info.nodes) != len(nulls) or any(
                length < 0 or nc < 0 for length, nc in info.nodes):
            raise _malformed("a record batch whose arrays do not match the schema")
        rows += info.rows
        null_values += sum(length for (length, _), null in zip(info.nodes, nulls,
                                                                strict=True) if null)
        size += _decompressed_size(info, message.body)
        arrays += len(info.nodes)
        if rows > limits.max_rows:
            raise TooLargeError(
                f"The upload holds more than {limits.max_rows:,} rows, this server's limit "
                f"({limits.rows_option}): send the documents in smaller batches.")
        if null_values > limits.max_rows:
            raise TooLargeError(
                f"The upload's null-typed columns declare more than {limits.max_rows:,} "
                f"values, this server's limit ({limits.rows_option}): give those columns a "
                "type (e.g. pa.string()) or leave them out.")
        if size > limits.max_bytes:
            raise TooLargeError(
                f"The upload holds more than {limits.max_bytes / 2**20:,.0f} MiB once "
                f"decompressed, this server's limit ({limits.bytes_option}): send the "
                "documents in smaller batches.")
        if arrays > MAX_ARRAYS:
            raise TooLargeError(
                f"The upload has too many batches for its columns ({arrays:,} arrays; at most "
                f"{MAX_ARRAYS:,}): send fewer, larger record batches.")
        try:
            batch = pa.ipc.read_record_batch(message, schema)
            batch.validate(full=True)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise InvalidInputError(
                f"The upload holds a malformed record batch ({_text(exc)}); nothing was "
                "written. Write the stream with pyarrow.ipc.new_stream.") from None
        if batch.num_rows:
            yield batch


def _text(exc: BaseException) -> str:
    return " ".join(str(exc).split()).rstrip(".")
