"""Read a .tflite FlatBuffer (schema v3) into the plain objects of tflm_edu.schema.model.

Mirrors what TFLM reaches through schema_generated.h (tflite::GetModel and the
generated accessors), but the Python flatbuffers runtime verifies nothing: a bad offset
would raise TypeError or struct.error, or quietly read the wrong bytes. So every offset
is bounds-checked here before it is followed, every vector length is checked against the
bytes that remain, and every failure is a ModelError naming the table and field.
Field numbers are the vtable slots of schema.fbs (field i of a table is slot i).
"""
from __future__ import annotations

import struct

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
_SCALAR = {"b": N.Int8Flags, "B": N.Uint8Flags, "?": N.BoolFlags, "h": N.Int16Flags,
           "i": N.Int32Flags, "I": N.Uint32Flags, "q": N.Int64Flags, "Q": N.Uint64Flags,
           "f": N.Float32Flags}


class _Table:
    """One FlatBuffer table at `pos`, with bounds-checked field access.

    `where` names the table for error messages, e.g. "subgraph 0, tensor 3".
    """

    def __init__(self, buf: bytes, pos: int, where: str):
        self.buf, self.where = buf, where
        _check_range(buf, pos, 4, where, "table")
        vtable = pos - struct.unpack_from("<i", buf, pos)[0]
        _check_range(buf, vtable, 4, where, "vtable")
        vtable_size = struct.unpack_from("<H", buf, vtable)[0]
        _check_range(buf, vtable, vtable_size, where, "vtable")
        self.tab = flatbuffers.table.Table(buf, pos)

    def _field(self, slot: int) -> int:
        """Absolute position of field `slot`, or 0 when the field is absent."""
        offset = self.tab.Offset(4 + 2 * slot)
        return self.tab.Pos + offset if offset else 0

    def scalar(self, slot: int, fmt: str, default):
        pos = self._field(slot)
        if not pos:
            return default
        flags = _SCALAR[fmt]
        _check_range(self.buf, pos, flags.bytewidth, self.where, f"field {slot}")
        return self.tab.Get(flags, pos)

    def _target(self, slot: int, what: str) -> int:
        """Follow the uoffset stored in field `slot`; 0 when absent."""
        pos = self._field(slot)
        if not pos:
            return 0
        _check_range(self.buf, pos, 4, self.where, what)
        return pos + struct.unpack_from("<I", self.buf, pos)[0]

    def table(self, slot: int, where: str) -> _Table | None:
        target = self._target(slot, where)
        return _Table(self.buf, target, where) if target else None

    def _vector(self, slot: int, elem_size: int, what: str):
        """(start, length) of a vector field, or None when absent."""
        target = self._target(slot, what)
        if not target:
            return None
        _check_range(self.buf, target, 4, self.where, what)
        length = struct.unpack_from("<I", self.buf, target)[0]
        _check_range(self.buf, target + 4, length * elem_size, self.where,
                     f"{what} ({length} elements)")
        return target + 4, length

    def numbers(self, slot: int, dtype: str, what: str) -> tuple:
        dtype = np.dtype(dtype)
        vec = self._vector(slot, dtype.itemsize, what)
        if vec is None:
            return ()
        start, length = vec
        return tuple(np.frombuffer(self.buf, dtype, length, start).tolist())

    def raw_bytes(self, slot: int, what: str) -> bytes | None:
        vec = self._vector(slot, 1, what)
        return None if vec is None else bytes(self.buf[vec[0]:vec[0] + vec[1]])

    def string(self, slot: int, what: str) -> str | None:
        data = self.raw_bytes(slot, what)
        return None if data is None else data.decode("utf-8", errors="replace")

    def tables(self, slot: int, where: str) -> list[_Table]:
        vec = self._vector(slot, 4, where)
        if vec is None:
            return []
        start, length = vec
        out = []
        for i in range(length):
            elem = start + 4 * i
            out.append(_Table(self.buf, elem + struct.unpack_from("<I", self.buf, elem)[0],
                              f"{where} {i}"))
        return out


def _check_range(buf: bytes, pos: int, size: int, where: str, what: str) -> None:
    if pos < 0 or size < 0 or pos + size > len(buf):
        raise ModelError(f"{where}: {what} points outside the file "
                         f"(bytes {pos}..{pos + size} of {len(buf)}); the model is corrupt or truncated")


# ----------------------------------------------------------------------------- tables


def _read_quantization(table: _Table | None) -> QuantizationParameters | None:
    if table is None:
        return None
    return QuantizationParameters(
        min=table.numbers(0, "<f4", "quantization.min"),
        max=table.numbers(1, "<f4", "quantization.max"),
        scale=table.numbers(2, "<f4", "quantization.scale"),
        zero_point=table.numbers(3, "<i8", "quantization.zero_point"),
        quantized_dimension=table.scalar(6, "i", 0),
    )


def _read_tensor(table: _Table) -> Tensor:
    name = table.string(3, "name") or ""
    has_signature = table._field(7)
    return Tensor(
        shape=table.numbers(0, "<i4", "shape"),
        type=table.scalar(1, "b", 0),
        buffer=table.scalar(2, "I", 0),
        name=name,
        quantization=_read_quantization(table.table(4, f"{table.where} ({name!r}) quantization")),
        is_variable=table.scalar(5, "?", False),
        shape_signature=table.numbers(7, "<i4", "shape_signature") if has_signature else None,
    )


def _read_builtin_options(table: _Table, union_type: int):
    """Options of a supported op as its dataclass; None for op types tflm_edu does not run."""
    spec = opts.SPEC_BY_UNION_TYPE.get(union_type)
    options = table.table(4, f"{table.where} builtin_options")
    if spec is None or options is None:
        return spec.cls() if spec is not None else None
    defaults, values = spec.cls(), {}
    for slot, (name, fmt) in enumerate(zip(spec.field_names, spec.formats)):
        if fmt == opts.INT_VECTOR:
            values[name] = options.numbers(slot, "<i4", name)
        else:
            values[name] = options.scalar(slot, fmt, getattr(defaults, name))
    return spec.cls(**values)


def _read_operator(table: _Table) -> Operator:
    union_type = table.scalar(3, "B", 0)
    return Operator(
        opcode_index=table.scalar(0, "I", 0),
        inputs=table.numbers(1, "<i4", "inputs"),
        outputs=table.numbers(2, "<i4", "outputs"),
        builtin_options_type=union_type,
        builtin_options=_read_builtin_options(table, union_type),
        custom_options=table.raw_bytes(5, "custom_options"),
        intermediates=table.numbers(8, "<i4", "intermediates"),
    )


def _read_subgraph(table: _Table) -> SubGraph:
    return SubGraph(
        tensors=[_read_tensor(t) for t in table.tables(0, f"{table.where}, tensor")],
        inputs=table.numbers(1, "<i4", "inputs"),
        outputs=table.numbers(2, "<i4", "outputs"),
        operators=[_read_operator(t) for t in table.tables(3, f"{table.where}, operator")],
        name=table.string(4, "name") or "",
    )


def _read_operator_code(table: _Table) -> OperatorCode:
    deprecated = table.scalar(0, "b", 0)
    return OperatorCode(
        deprecated_builtin_code=deprecated,
        custom_code=table.string(1, "custom_code"),
        version=table.scalar(2, "i", 1),
        # Files older than the int32 field carry only the int8 one; TFLM's GetBuiltinCode
        # takes the larger of the two.
        builtin_code=max(table.scalar(3, "i", 0), deprecated),
    )


def _read_buffer(table: _Table, data: bytes) -> Buffer:
    inline = table.raw_bytes(0, "data") or b""
    offset, size = table.scalar(1, "Q", 0), table.scalar(2, "Q", 0)
    if offset > 1 or size:
        # Models over 2 GB keep buffer contents after the FlatBuffer, addressed from the
        # start of the file. (offset 1 is the converter's "not yet placed" marker.)
        _check_range(data, offset, size, table.where, "external buffer (offset, size)")
        inline = bytes(data[offset:offset + size])
    return Buffer(data=inline, offset=offset, size=size)


def _read_signature(table: _Table) -> SignatureDef:
    def tensor_maps(slot, what):
        return tuple(TensorMap(t.string(0, "name") or "", t.scalar(1, "I", 0))
                     for t in table.tables(slot, f"{table.where} {what}"))
    return SignatureDef(inputs=tensor_maps(0, "input"), outputs=tensor_maps(1, "output"),
                        signature_key=table.string(2, "signature_key") or "",
                        subgraph_index=table.scalar(4, "I", 0))


# ----------------------------------------------------------------------------- entry points


def read_model(data: bytes, validate: bool = True) -> Model:
    """Parse .tflite bytes into a Model; raise ModelError if anything is malformed."""
    data = bytes(data)
    if len(data) < 8:
        raise ModelError(f"not a .tflite model: only {len(data)} bytes")
    if data[4:8] != FILE_IDENTIFIER:
        raise ModelError(f"not a .tflite model: file identifier is {data[4:8]!r}, expected "
                         f"{FILE_IDENTIFIER!r} (is this a TFLite FlatBuffer?)")
    root = _Table(data, struct.unpack_from("<I", data, 0)[0], "model")
    model = Model(
        version=root.scalar(0, "I", 0),
        operator_codes=[_read_operator_code(t) for t in root.tables(1, "operator_code")],
        subgraphs=[_read_subgraph(t) for t in root.tables(2, "subgraph")],
        description=root.string(3, "description") or "",
        buffers=[_read_buffer(t, data) for t in root.tables(4, "buffer")],
        metadata_buffer=root.numbers(5, "<i4", "metadata_buffer"),
        metadata=[Metadata(t.string(0, "name") or "", t.scalar(1, "I", 0))
                  for t in root.tables(6, "metadata")],
        signature_defs=[_read_signature(t) for t in root.tables(7, "signature_def")],
    )
    if validate:
        validate_model(model)
    return model


def load_model(path) -> Model:
    """Read and validate the .tflite file at `path`."""
    from pathlib import Path
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such model file: {path}")
    return read_model(path.read_bytes())
