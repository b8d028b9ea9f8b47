"""The parsed model: plain Python objects named after the tables of schema.fbs.

This is the one model representation that flows through tflm_edu: the reader makes it
from .tflite bytes, the interpreter runs it, the quantizer builds it and the writer turns
it back into bytes. Sequences are tuples so that two models compare equal field by field
(read(write(model)) == model).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tflm_edu.schema.enums import NUMPY_DTYPE, op_name, type_name


@dataclass
class QuantizationParameters:
    """Affine quantization: real = scale * (q - zero_point), per tensor or per channel."""

    scale: tuple = ()
    zero_point: tuple = ()
    quantized_dimension: int = 0
    min: tuple = ()
    max: tuple = ()

    @property
    def per_channel(self) -> bool:
        return len(self.scale) > 1

    def __repr__(self):
        if not self.scale:
            return "QuantizationParameters(none)"
        if self.per_channel:
            return (f"QuantizationParameters({len(self.scale)} channels on axis "
                    f"{self.quantized_dimension}, scale {min(self.scale):.3g}..{max(self.scale):.3g})")
        zero_point = self.zero_point[0] if self.zero_point else "none"
        return f"QuantizationParameters(scale={self.scale[0]:.6g}, zero_point={zero_point})"


class Sized:
    """num_elements and nbytes, from a `shape` and a `dtype` (a model's tensors, the
    interpreter's)."""

    @property
    def num_elements(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.num_elements * self.dtype.itemsize


@dataclass
class Tensor(Sized):
    shape: tuple
    type: int
    buffer: int = 0
    name: str = ""
    quantization: QuantizationParameters | None = None
    is_variable: bool = False
    shape_signature: tuple | None = None

    @property
    def dtype(self) -> np.dtype:
        return NUMPY_DTYPE[self.type]

    def __repr__(self):
        shape = "x".join(map(str, self.shape)) or "scalar"
        return f"Tensor({self.name!r}, {shape} {type_name(self.type)}, buffer {self.buffer})"


@dataclass
class Buffer:
    """Raw bytes of a constant tensor. Large models store them after the FlatBuffer
    (offset, size into the file); the reader resolves either form into `data`."""

    data: bytes = b""
    offset: int = 0
    size: int = 0

    def __repr__(self):
        return f"Buffer({len(self.data)} bytes)"


@dataclass
class OperatorCode:
    builtin_code: int
    version: int = 1
    custom_code: str | None = None
    deprecated_builtin_code: int = 0

    @property
    def name(self) -> str:
        return self.custom_code if self.custom_code is not None and self.builtin_code == 32 \
            else op_name(self.builtin_code)


@dataclass
class Operator:
    opcode_index: int
    inputs: tuple
    outputs: tuple
    builtin_options: object = None
    builtin_options_type: int = 0
    custom_options: bytes | None = None
    intermediates: tuple = ()


@dataclass
class SubGraph:
    tensors: list
    inputs: tuple
    outputs: tuple
    operators: list
    name: str = ""


@dataclass
class Metadata:
    name: str
    buffer: int


@dataclass
class TensorMap:
    name: str
    tensor_index: int


@dataclass
class SignatureDef:
    inputs: tuple
    outputs: tuple
    signature_key: str = ""
    subgraph_index: int = 0


@dataclass
class Model:
    operator_codes: list
    subgraphs: list
    buffers: list
    version: int = 3
    description: str = ""
    metadata: list = field(default_factory=list)
    signature_defs: list = field(default_factory=list)
    metadata_buffer: tuple = ()

    def metadata_bytes(self, name: str) -> bytes | None:
        """The contents of the metadata entry `name` (e.g. 'OfflineMemoryAllocation')."""
        for entry in self.metadata:
            if entry.name == name:
                return self.buffers[entry.buffer].data
        return None

    def op_name(self, op: Operator) -> str:
        return self.operator_codes[op.opcode_index].name

    def __repr__(self):
        ops = sum(len(sg.operators) for sg in self.subgraphs)
        return (f"Model(v{self.version}, {len(self.subgraphs)} subgraph(s), {ops} ops, "
                f"{len(self.buffers)} buffers, metadata {[m.name for m in self.metadata]})")


def tensor_data(model: Model, tensor: Tensor) -> np.ndarray | None:
    """The constant value of `tensor` as a read-only numpy array, or None if it has none."""
    data = model.buffers[tensor.buffer].data if tensor.buffer < len(model.buffers) else b""
    if not data:
        return None
    array = np.frombuffer(data, dtype=tensor.dtype)
    return array.reshape(tensor.shape)

