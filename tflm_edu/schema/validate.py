"""Checks that make a parsed model safe to plan and run.

TFLM trusts its model (it is compiled into the firmware); a learner's tool cannot, and
several TFLite CVEs came from models with negative dims, out-of-range indices, a -1 where
no optional tensor is allowed, or graphs with cycles. Each check raises a ModelError that
names the subgraph, op or tensor and says what is wrong. Checks that need an op's
semantics (zero strides, an axis out of range) live in that kernel's Prepare.
"""
from __future__ import annotations

import math

from tflm_edu.errors import ModelError
from tflm_edu.schema.enums import NUMPY_DTYPE, BuiltinOperator as Op, TensorType

SCHEMA_VERSION = 3
MAX_RANK = 8
MAX_TENSOR_BYTES = 2**31 - 1  # TFLM sizes tensors with 32-bit byte counts

# Input positions that may hold -1 ("no tensor") for the builtin ops tflm_edu runs; every
# other position of those ops must name a real tensor. Ops tflm_edu does not run (LSTM and
# friends use many optional inputs) are left to their own kernels.
OPTIONAL_INPUTS = {Op.FULLY_CONNECTED: {2}, Op.CONV_2D: {2}, Op.DEPTHWISE_CONV_2D: {2},
                   Op.TRANSPOSE_CONV: {3}}
RUNNABLE_OPS = {
    Op.FULLY_CONNECTED, Op.CONV_2D, Op.DEPTHWISE_CONV_2D, Op.AVERAGE_POOL_2D, Op.MAX_POOL_2D,
    Op.SOFTMAX, Op.RESHAPE, Op.QUANTIZE, Op.DEQUANTIZE, Op.ADD, Op.MUL, Op.RELU, Op.RELU6,
    Op.LOGISTIC, Op.TANH, Op.PAD, Op.CONCATENATION, Op.MEAN, Op.SHAPE, Op.STRIDED_SLICE,
    Op.PACK,
}


def validate_model(model) -> None:
    if model.version != SCHEMA_VERSION:
        raise ModelError(f"model schema version is {model.version}; TFLM and tflm_edu read "
                         f"version {SCHEMA_VERSION} only")
    if not model.subgraphs:
        raise ModelError("model has no subgraphs: there is nothing to run")
    for i, entry in enumerate(model.metadata):
        _check_index(entry.buffer, len(model.buffers), f"metadata {i} ({entry.name!r})", "buffer")
    for i, signature in enumerate(model.signature_defs):
        _validate_signature(model, i, signature)
    for index, subgraph in enumerate(model.subgraphs):
        where = f"subgraph {index}"
        for t, tensor in enumerate(subgraph.tensors):
            _validate_tensor(model, tensor, f"{where}, tensor {t} ({tensor.name!r})")
        _validate_io(subgraph, where)
        for o, op in enumerate(subgraph.operators):
            _validate_operator(model, subgraph, op, f"{where}, op {o}")
        _validate_dataflow(model, subgraph, where)


def _check_index(value: int, count: int, where: str, what: str, allow_minus_one=False):
    if allow_minus_one and value == -1:
        return
    if not 0 <= value < count:
        raise ModelError(f"{where}: {what} index {value} is out of range (there are {count})")


def _validate_signature(model, i, signature):
    where = f"signature_def {i} ({signature.signature_key!r})"
    _check_index(signature.subgraph_index, len(model.subgraphs), where, "subgraph")
    count = len(model.subgraphs[signature.subgraph_index].tensors)
    for entry in signature.inputs + signature.outputs:
        _check_index(entry.tensor_index, count, f"{where} {entry.name!r}", "tensor")


def _validate_tensor(model, tensor, where):
    if tensor.type not in TensorType._value2member_map_:
        raise ModelError(f"{where}: unknown tensor type {tensor.type}")
    if len(tensor.shape) > MAX_RANK:
        raise ModelError(f"{where}: rank {len(tensor.shape)} is above the supported {MAX_RANK}")
    if any(d < 0 for d in tensor.shape):
        raise ModelError(f"{where}: shape {list(tensor.shape)} has a negative dimension")
    _check_index(tensor.buffer, len(model.buffers), where, "buffer")
    dtype = NUMPY_DTYPE.get(tensor.type)
    if dtype is not None:
        nbytes = math.prod(tensor.shape) * dtype.itemsize
        if nbytes > MAX_TENSOR_BYTES:
            raise ModelError(f"{where}: shape {list(tensor.shape)} needs {nbytes:,} bytes, "
                             f"more than TFLM can address ({MAX_TENSOR_BYTES:,})")
        data = model.buffers[tensor.buffer].data
        if data and len(data) != nbytes:
            raise ModelError(f"{where}: its buffer {tensor.buffer} holds {len(data)} bytes but "
                             f"shape {list(tensor.shape)} of {dtype.name} needs {nbytes}")
    if tensor.quantization is not None:
        _validate_quantization(tensor, where)


def _validate_quantization(tensor, where):
    q = tensor.quantization
    if not q.scale:
        return
    if q.zero_point and len(q.zero_point) != len(q.scale):
        raise ModelError(f"{where}: {len(q.scale)} quantization scales but "
                         f"{len(q.zero_point)} zero points")
    if not all(math.isfinite(s) and s >= 0 for s in q.scale):
        raise ModelError(f"{where}: quantization scales must be finite and >= 0")
    if len(q.scale) > 1:
        axis = q.quantized_dimension
        if len(tensor.shape) == 1 and axis >= 0:
            # TensorFlow's converter writes per-channel biases with the filter's axis
            # (often 3) on a 1-D tensor; TFLM reads them element by element.
            axis = 0
        if not 0 <= axis < len(tensor.shape):
            raise ModelError(f"{where}: quantized_dimension {axis} is not an "
                             f"axis of shape {list(tensor.shape)}")
        channels = tensor.shape[axis]
        if len(q.scale) != channels:
            raise ModelError(f"{where}: {len(q.scale)} per-channel scales for {channels} "
                             f"channels on axis {q.quantized_dimension}")


def _validate_io(subgraph, where):
    count = len(subgraph.tensors)
    for kind in ("inputs", "outputs"):
        for t in getattr(subgraph, kind):
            _check_index(t, count, f"{where} {kind}", "tensor")


def _validate_operator(model, subgraph, op, where):
    _check_index(op.opcode_index, len(model.operator_codes), where, "opcode")
    code = model.operator_codes[op.opcode_index].builtin_code
    where = f"{where} ({model.operator_codes[op.opcode_index].name})"
    count = len(subgraph.tensors)
    optional = OPTIONAL_INPUTS.get(code, set()) if code in RUNNABLE_OPS else None
    for position, t in enumerate(op.inputs):
        may_be_absent = optional is None or position in optional
        _check_index(t, count, f"{where} input {position}", "tensor", allow_minus_one=may_be_absent)
    for position, t in enumerate(op.outputs):
        _check_index(t, count, f"{where} output {position}", "tensor")
    for t in op.intermediates:
        _check_index(t, count, f"{where} intermediate", "tensor")
    both = set(op.inputs) & set(op.outputs)
    if both:
        t = both.pop()
        raise ModelError(f"{where}: tensor {t} ({subgraph.tensors[t].name!r}) is both an input "
                         f"and an output of the op")


def _validate_dataflow(model, subgraph, where):
    """Every tensor an op reads must exist before it runs: written by an earlier op, a graph
    input, a constant or a variable. One pass in execution order finds cycles without
    following edges, so a malicious graph cannot make it recurse or loop."""
    tensors = subgraph.tensors
    ready = set(subgraph.inputs)
    ready.update(t for t, tensor in enumerate(tensors)
                 if tensor.is_variable or model.buffers[tensor.buffer].data
                 or math.prod(tensor.shape) == 0)
    for o, op in enumerate(subgraph.operators):
        name = model.operator_codes[op.opcode_index].name
        for t in op.inputs:
            if t != -1 and t not in ready:
                raise ModelError(f"{where}, op {o} ({name}) reads tensor {t} "
                                 f"({tensors[t].name!r}) before any op writes it: the graph has "
                                 f"a cycle or a missing producer")
        for t in op.outputs:
            if t in ready:
                raise ModelError(f"{where}, op {o} ({name}) writes tensor {t} "
                                 f"({tensors[t].name!r}), which already has a value")
            ready.add(t)
    for t in subgraph.outputs:
        if t not in ready:
            raise ModelError(f"{where}: output tensor {t} ({tensors[t].name!r}) is never written")

