"""ModelBuilder: assemble a Model tensor by tensor and op by op.

Used wherever tflm_edu makes a model rather than reads one: per-op tests, the converter,
seeded random models. It keeps the conventions TensorFlow's converter follows: buffer 0
is the empty sentinel, every tensor has its own buffer, builtin_code and
deprecated_builtin_code are both set, and a "min_runtime_version" metadata entry exists.
"""
from __future__ import annotations

import numpy as np

from tflm_edu.schema import options as opts
from tflm_edu.schema.enums import BuiltinOperator, NUMPY_DTYPE, tensor_type_of
from tflm_edu.schema.model import (Buffer, Metadata, Model, Operator, OperatorCode,
                                   QuantizationParameters, SubGraph, Tensor)


def quantization(scale, zero_point=0, quantized_dimension=0) -> QuantizationParameters:
    """Per-tensor (scalars) or per-channel (sequences) affine quantization parameters."""
    scales = tuple(float(np.float32(s)) for s in np.atleast_1d(scale))
    zero_points = tuple(int(z) for z in np.broadcast_to(np.atleast_1d(zero_point), len(scales)))
    return QuantizationParameters(scale=scales, zero_point=zero_points,
                                  quantized_dimension=quantized_dimension)


class ModelBuilder:
    def __init__(self, description: str = "tflm_edu", min_runtime_version: str = "1.14.0"):
        self.tensors: list[Tensor] = []
        self.buffers: list[Buffer] = [Buffer()]
        self.operator_codes: list[OperatorCode] = []
        self.operators: list[Operator] = []
        self.inputs: list[int] = []
        self.outputs: list[int] = []
        self.description = description
        self.subgraph_name = "main"
        self.finished_subgraphs: list[SubGraph] = []
        self.metadata: list[tuple[str, bytes]] = []
        if min_runtime_version:
            self.metadata.append(("min_runtime_version",
                                  min_runtime_version.encode().ljust(16, b"\0")))

    def add_tensor(self, shape, dtype, name: str = "", data=None, quant=None,
                   is_variable: bool = False) -> int:
        """Add a tensor; with `data` it is a constant. Returns its index."""
        tensor_type = tensor_type_of(dtype)
        raw = b""
        if data is not None:
            raw = np.ascontiguousarray(np.asarray(data, dtype=NUMPY_DTYPE[tensor_type])).tobytes()
        self.buffers.append(Buffer(data=raw))
        index = len(self.tensors)
        self.tensors.append(Tensor(shape=tuple(int(d) for d in shape), type=tensor_type,
                                   buffer=len(self.buffers) - 1, name=name or f"t{index}",
                                   quantization=quant, is_variable=is_variable))
        return index

    def add_input(self, shape, dtype, name: str = "", quant=None) -> int:
        index = self.add_tensor(shape, dtype, name or f"input_{len(self.inputs)}", quant=quant)
        self.inputs.append(index)
        return index

    def mark_output(self, index: int) -> int:
        self.outputs.append(index)
        return index

    def opcode_index(self, op: int, version: int = 1, custom_code: str | None = None) -> int:
        for i, code in enumerate(self.operator_codes):
            if code.builtin_code == op and code.custom_code == custom_code:
                code.version = max(code.version, version)
                return i
        self.operator_codes.append(OperatorCode(
            builtin_code=int(op), version=version, custom_code=custom_code,
            deprecated_builtin_code=min(int(op), 127)))
        return len(self.operator_codes) - 1

    def add_operator(self, op: int, inputs, outputs, options=None, version: int = 1,
                     custom_options: bytes | None = None, custom_code: str | None = None) -> int:
        """Add an op reading `inputs` and writing `outputs` (tensor indices, -1 = absent).
        A CUSTOM op is named by `custom_code` and configured by `custom_options` (the
        flexbuffer bytes its Init parses)."""
        union_type = opts.SPEC_BY_CLASS[type(options)].union_type if options is not None else 0
        self.operators.append(Operator(
            opcode_index=self.opcode_index(op, version, custom_code), inputs=tuple(inputs),
            outputs=tuple(outputs), builtin_options=options, builtin_options_type=union_type,
            custom_options=custom_options))
        return len(self.operators) - 1

    def begin_subgraph(self, name: str = "") -> int:
        """Finish the subgraph being built and start another - the init subgraph a
        CALL_ONCE runs, say. Tensor indices start again at 0; buffers and op codes are the
        model's, shared. Returns the new subgraph's index."""
        self.finished_subgraphs.append(self._subgraph())
        self.tensors, self.operators, self.inputs, self.outputs = [], [], [], []
        self.subgraph_name = name or f"subgraph_{len(self.finished_subgraphs)}"
        return len(self.finished_subgraphs)

    def _subgraph(self) -> SubGraph:
        return SubGraph(tensors=list(self.tensors), inputs=tuple(self.inputs),
                        outputs=tuple(self.outputs), operators=list(self.operators),
                        name=self.subgraph_name)

    def build(self) -> Model:
        buffers = list(self.buffers)
        metadata = []
        for name, data in self.metadata:
            buffers.append(Buffer(data=data))
            metadata.append(Metadata(name, len(buffers) - 1))
        subgraphs = self.finished_subgraphs + [self._subgraph()]
        return Model(operator_codes=list(self.operator_codes), subgraphs=subgraphs,
                     buffers=buffers, version=3, description=self.description,
                     metadata=metadata)


__all__ = ["ModelBuilder", "quantization", "BuiltinOperator"]
