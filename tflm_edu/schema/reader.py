"""Read a .tflite FlatBuffer (schema v3) into the plain objects of tflm_edu.schema.model.

Mirrors what TFLM reaches through schema_generated.h (tflite::GetModel and the
generated accessors) together with flatbuffers::Verifier, which TFLM's tools run before
trusting a model. The Python flatbuffers runtime verifies nothing: a bad offset would
raise TypeError or struct.error, or quietly read the wrong bytes. So this reader does its
own verification while it reads:

- every offset is bounds-checked before it is followed, and every vtable is checked to
  lie inside the file with an even size of at least 4 bytes (Verifier::VerifyTableStart);
- every vector length is checked against the bytes that remain before anything is
  allocated, so a length of 0x7fffffff costs nothing;
- the total number of bytes decoded is capped at a small multiple of the file size.
  Offsets may point anywhere, so many entries can share one large sub-table (a
  "billion laughs" graph): without a cap, 20 KB of file could make gigabytes of tuples.
  (The Verifier's max_tables limit plays the same role.)

Every failure is a ModelError naming the table and field. Field numbers are the vtable
slots of schema.fbs (field i of a table is slot i).
"""
from __future__ import annotations

from pathlib import Path, PurePath

import flatbuffers
import numpy as np
from flatbuffers import number_types as N

from tflm_edu.errors import ModelError
from tflm_edu.schema import options as opts
from tflm_edu.schema.model import (Buffer, Metadata, Model, Operator, OperatorCode,
                                   QuantizationParameters, SignatureDef, SubGraph, Tensor,
                                   TensorMap)
from tflm_edu.schema.validate import validate_model

FILE_IDENTIFIER = b"TFL3"
# The scalar wire types of schema.fbs, by struct code: i = soffset/int, I = uoffset/uint,
# H = voffset, b/B = byte/ubyte, ? = bool, q/Q = long/ulong, f = float.
WIRE_TYPES = {"b": N.Int8Flags, "B": N.Uint8Flags, "?": N.BoolFlags, "H": N.Uint16Flags,
              "i": N.Int32Flags, "I": N.Uint32Flags, "q": N.Int64Flags, "Q": N.Uint64Flags,
              "f": N.Float32Flags}

# A file decodes to at most this many times its own size, plus a little. A converter's
# output decodes to less than 1x (nothing in it is shared but vtables), so only a file
# built to amplify itself reaches the cap.
DECODE_BUDGET_FACTOR = 4
DECODE_BUDGET_SLACK = 1 << 16


class _File:
    """The bytes being read and how many more bytes may be decoded from them."""

    def __init__(self, data: bytes):
        self.data = data
        self.budget = DECODE_BUDGET_FACTOR * len(data) + DECODE_BUDGET_SLACK

    def charge(self, nbytes: int, where: str, what: str) -> None:
        self.budget -= nbytes
        if self.budget < 0:
            raise ModelError(f"{where}: reading {what} decodes far more bytes than the file "
                             f"holds ({len(self.data)}): its offsets share sub-tables over and "
                             f"over, which no converter writes; the model is malformed")

    def check_range(self, pos: int, size: int, where: str, what: str) -> None:
        """Raise unless bytes [pos, pos + size) lie inside the file."""
        if pos < 0 or size < 0 or pos + size > len(self.data):
            raise ModelError(f"{where}: {what} points outside the file (bytes {pos}..{pos + size}"
                             f" of {len(self.data)}); the model is corrupt or truncated")

    def unpack(self, fmt: str, pos: int, where: str, what: str):
        """One little-endian scalar at `pos`, after checking it lies inside the file. `fmt`
        names a FlatBuffers wire type as a struct code; the flatbuffers package decodes it."""
        flags = WIRE_TYPES[fmt]
        self.check_range(pos, flags.bytewidth, where, what)
        return flatbuffers.encode.Get(flags.packer_type, self.data, pos)


class _Table:
    """One FlatBuffer table at `pos`, with bounds-checked field access.

    `where` names the table for error messages, e.g. "subgraph 0, tensor 3".
    """

    def __init__(self, file: _File, pos: int, where: str):
        self.file, self.pos, self.where = file, pos, where
        file.charge(4, where, "a table")
        # A table starts with a signed offset back (or forward) to its vtable: a list of
        # uint16s - the vtable's own size, the table's size, then one offset per field.
        self.vtable = pos - file.unpack("i", pos, where, "table")
        vtable_size = file.unpack("H", self.vtable, where, "vtable")
        if vtable_size < 4 or vtable_size % 2:
            raise ModelError(f"{where}: vtable size {vtable_size} is not an even number >= 4; "
                             f"the model is corrupt")
        file.check_range(self.vtable, vtable_size, where, "vtable")
        self.field_count = (vtable_size - 4) // 2

    def field(self, slot: int) -> int:
        """Absolute position of field `slot`, or 0 when the field is absent. Slots past the
        vtable's end are fields newer than the writer: absent, as flatbuffers reads them."""
        if slot >= self.field_count:
            return 0
        offset = flatbuffers.encode.Get(N.VOffsetTFlags.packer_type, self.file.data,
                                        self.vtable + 4 + 2 * slot)
        return self.pos + offset if offset else 0

    def scalar(self, slot: int, fmt: str, default, what: str):
        pos = self.field(slot)
        return default if not pos else self.file.unpack(fmt, pos, self.where, what)

    def _target(self, slot: int, what: str) -> int:
        """Follow the uoffset stored in field `slot`; 0 when absent."""
        pos = self.field(slot)
        return pos + self.file.unpack("I", pos, self.where, what) if pos else 0

    def child(self, name: str) -> str:
        """How a table inside this one is named in messages: "subgraph 0, tensor 3"."""
        return name if self.where == "model" else f"{self.where}, {name}"

    def table(self, slot: int, name: str) -> _Table | None:
        target = self._target(slot, name)
        return _Table(self.file, target, self.child(name)) if target else None

    def _vector(self, slot: int, elem_size: int, what: str):
        """(start, length) of a vector field, or None when absent. The length is checked
        against the file before anything is allocated for it."""
        target = self._target(slot, what)
        if not target:
            return None
        length = self.file.unpack("I", target, self.where, f"{what} vector length")
        self.file.check_range(target + 4, length * elem_size, self.where,
                              f"{what} ({length} elements)")
        self.file.charge(length * elem_size, self.where, what)
        return target + 4, length

    def numbers(self, slot: int, dtype: str, what: str) -> tuple:
        dtype = np.dtype(dtype)
        vec = self._vector(slot, dtype.itemsize, what)
        if vec is None:
            return ()
        start, length = vec
        return tuple(np.frombuffer(self.file.data, dtype, length, start).tolist())

    def raw_bytes(self, slot: int, what: str) -> bytes | None:
        vec = self._vector(slot, 1, what)
        return None if vec is None else self.file.data[vec[0]:vec[0] + vec[1]]

    def string(self, slot: int, what: str) -> str | None:
        # Names are for people: a byte that is not UTF-8 becomes U+FFFD rather than an error.
        data = self.raw_bytes(slot, what)
        return None if data is None else data.decode("utf-8", errors="replace")

    def tables(self, slot: int, name: str) -> list[_Table]:
        """The tables of a vector field, each named "<name> <i>" in messages."""
        vec = self._vector(slot, 4, name)
        if vec is None:
            return []
        start, length = vec
        offsets = np.frombuffer(self.file.data, "<u4", length, start).tolist()
        return [_Table(self.file, start + 4 * i + offset, self.child(f"{name} {i}"))
                for i, offset in enumerate(offsets)]


# ----------------------------------------------------------------------------- tables


def _read_quantization(table: _Table | None) -> QuantizationParameters | None:
    if table is None:
        return None
    return QuantizationParameters(
        min=table.numbers(0, "<f4", "min"),
        max=table.numbers(1, "<f4", "max"),
        scale=table.numbers(2, "<f4", "scale"),
        zero_point=table.numbers(3, "<i8", "zero_point"),
        quantized_dimension=table.scalar(6, "i", 0, "quantized_dimension"),
    )


def _read_tensor(table: _Table) -> Tensor:
    name = table.string(3, "name") or ""
    return Tensor(
        shape=table.numbers(0, "<i4", "shape"),
        type=table.scalar(1, "b", 0, "type"),
        buffer=table.scalar(2, "I", 0, "buffer"),
        name=name,
        quantization=_read_quantization(table.table(4, "quantization")),
        is_variable=table.scalar(5, "?", False, "is_variable"),
        shape_signature=table.numbers(7, "<i4", "shape_signature") if table.field(7) else None,
    )


def _read_builtin_options(table: _Table, union_type: int):
    """The operator's options as the dataclass of its union type (every member of the
    BuiltinOptions union is known); None for NONE, or for a tag newer than this schema.

    Every options table is read and checked, whichever op it belongs to, as
    flatbuffers::Verifier checks every union member: junk in the options of any op, even
    one tflm_edu never runs, is a ModelError naming the table and field."""
    spec = opts.SPEC_BY_UNION_TYPE.get(union_type)
    if spec is None:
        return None
    options = table.table(4, f"builtin_options ({spec.cls.__name__})")
    if options is None:
        return spec.cls()
    defaults, values = spec.cls(), {}
    for slot, name, fmt in spec.slots:  # deprecated slots are skipped, as flatc skips them
        default = getattr(defaults, name)
        if fmt in opts.VECTOR_DTYPE:
            values[name] = (options.numbers(slot, opts.VECTOR_DTYPE[fmt], name)
                            if options.field(slot) else default)
        elif fmt == opts.STRING:
            values[name] = options.string(slot, name)
        else:
            values[name] = options.scalar(slot, fmt, default, name)
    return spec.cls(**values)


def _read_operator(table: _Table) -> Operator:
    union_type = table.scalar(3, "B", 0, "builtin_options_type")
    return Operator(
        opcode_index=table.scalar(0, "I", 0, "opcode_index"),
        inputs=table.numbers(1, "<i4", "inputs"),
        outputs=table.numbers(2, "<i4", "outputs"),
        builtin_options_type=union_type,
        builtin_options=_read_builtin_options(table, union_type),
        custom_options=table.raw_bytes(5, "custom_options"),
        intermediates=table.numbers(8, "<i4", "intermediates"),
    )


def _read_subgraph(table: _Table) -> SubGraph:
    return SubGraph(
        tensors=[_read_tensor(t) for t in table.tables(0, "tensor")],
        inputs=table.numbers(1, "<i4", "inputs"),
        outputs=table.numbers(2, "<i4", "outputs"),
        operators=[_read_operator(t) for t in table.tables(3, "op")],
        name=table.string(4, "name") or "",
    )


def _read_operator_code(table: _Table) -> OperatorCode:
    deprecated = table.scalar(0, "b", 0, "deprecated_builtin_code")
    return OperatorCode(
        deprecated_builtin_code=deprecated,
        custom_code=table.string(1, "custom_code"),
        version=table.scalar(2, "i", 1, "version"),
        # Files older than the int32 field carry only the int8 one; newer files put 127
        # (PLACEHOLDER_FOR_GREATER_OP_CODES) in the int8 field for codes above 127.
        # TFLM's GetBuiltinCode takes the larger of the two, and so do we.
        builtin_code=max(table.scalar(3, "i", 0, "builtin_code"), deprecated),
    )


def _read_buffer(table: _Table) -> Buffer:
    offset, size = table.scalar(1, "Q", 0, "offset"), table.scalar(2, "Q", 0, "size")
    if offset <= 1:
        # offset 1 is the converter's "not yet placed" marker; 0 means "inline".
        return Buffer(data=table.raw_bytes(0, "data") or b"", offset=offset, size=size)
    # Models over 2 GB keep buffer contents after the FlatBuffer, addressed from the start
    # of the file (tflite::IsValidBufferOffset: offset > 1), and then the offset wins.
    file = table.file
    file.check_range(offset, size, table.where, f"external buffer (offset {offset}, size {size})")
    file.charge(size, table.where, "external buffer")
    return Buffer(data=file.data[offset:offset + size], offset=offset, size=size)


def _read_signature(table: _Table) -> SignatureDef:
    def tensor_maps(slot, what):
        return tuple(TensorMap(t.string(0, "name") or "", t.scalar(1, "I", 0, "tensor_index"))
                     for t in table.tables(slot, what))
    return SignatureDef(inputs=tensor_maps(0, "input"), outputs=tensor_maps(1, "output"),
                        signature_key=table.string(2, "signature_key") or "",
                        subgraph_index=table.scalar(4, "I", 0, "subgraph_index"))


# ----------------------------------------------------------------------------- entry points


def read_model(data: bytes, validate: bool = True) -> Model:
    """Parse .tflite bytes into a Model; raise ModelError if anything is malformed."""
    if isinstance(data, (str, PurePath)):
        raise TypeError("read_model() takes the bytes of a .tflite file; "
                        "use load_model(path) to read a file by name")
    file = _File(bytes(memoryview(data)))  # memoryview: bytes(10**12) would allocate
    _check_header(file.data)
    root = _Table(file, file.unpack("I", 0, "model", "root offset"), "model")
    model = Model(
        version=root.scalar(0, "I", 0, "version"),
        operator_codes=[_read_operator_code(t) for t in root.tables(1, "operator_code")],
        subgraphs=[_read_subgraph(t) for t in root.tables(2, "subgraph")],
        description=root.string(3, "description") or "",
        buffers=[_read_buffer(t) for t in root.tables(4, "buffer")],
        metadata_buffer=root.numbers(5, "<i4", "metadata_buffer"),
        metadata=[Metadata(t.string(0, "name") or "", t.scalar(1, "I", 0, "buffer"))
                  for t in root.tables(6, "metadata")],
        signature_defs=[_read_signature(t) for t in root.tables(7, "signature_def")],
    )
    if validate:
        validate_model(model)
    return model


def _check_header(data: bytes) -> None:
    """A FlatBuffer starts with the root table's offset, then the 4-byte file identifier."""
    if len(data) < 8:
        raise ModelError(f"not a .tflite model: only {len(data)} bytes")
    if data[4:8] != FILE_IDENTIFIER:
        raise ModelError(f"not a .tflite model: file identifier is {data[4:8]!r}, expected "
                         f"{FILE_IDENTIFIER!r} (is this a TFLite FlatBuffer?)")


def load_model(path) -> Model:
    """Read and validate the .tflite file at `path`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such model file: {path}")
    return read_model(path.read_bytes())


def as_bytes(model) -> bytes:
    """The .tflite bytes of `model`: bytes as they are, a Model written out, or a file read.
    A missing file, a folder or a device is a FileNotFoundError that says so."""
    from tflm_edu.schema.writer import write_model
    if isinstance(model, (bytes, bytearray, memoryview)):
        return bytes(model)
    if isinstance(model, Model):
        return write_model(model)
    path = Path(model)
    if not path.is_file():
        what = "a folder" if path.is_dir() else "not a regular file" if path.exists() else \
            "no such file"
        raise FileNotFoundError(f"model file {path}: {what}; pass a .tflite file")
    return path.read_bytes()


def as_model(model) -> Model:
    """`model` as a parsed, validated Model: a Model as it is, bytes read, or a file loaded."""
    if isinstance(model, Model):
        return model
    return read_model(as_bytes(model))


def as_model_and_bytes(model) -> tuple[Model, bytes]:
    """Both: the parsed Model and its .tflite bytes (read once from a file)."""
    if isinstance(model, Model):
        return model, as_bytes(model)
    data = as_bytes(model)
    return read_model(data), data
