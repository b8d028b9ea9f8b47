"""Checks that make a parsed model safe to plan and run.

TFLM trusts its model (it is compiled into the firmware); a learner's tool cannot, and
several TFLite CVEs came from models with negative dims, out-of-range indices, a -1 where
no optional tensor is allowed, or graphs with cycles. Each check raises a ModelError that
names the subgraph, op or tensor and says what is wrong. Checks that need an op's
semantics (zero strides, an axis out of range) live in that kernel's Prepare.
"""
from __future__ import annotations

import math

import numpy as np

from tflm_edu.errors import ModelError
from tflm_edu.schema.enums import NUMPY_DTYPE, BuiltinOperator as Op, TensorType, op_name

SCHEMA_VERSION = 3
MAX_RANK = 8
MAX_TENSOR_BYTES = 2**31 - 1  # TFLM sizes tensors with 32-bit byte counts

MAX_BUILTIN_CODE = max(Op).value


def validate_model(model) -> None:
    """Raise ModelError at the first thing in `model` that is malformed."""
    if model.version != SCHEMA_VERSION:
        raise ModelError(f"model schema version is {model.version}; TFLM and tflm_edu read "
                         f"version {SCHEMA_VERSION} only")
    if not model.subgraphs:
        raise ModelError("model has no subgraphs: there is nothing to run")
    for i, code in enumerate(model.operator_codes):
        _validate_operator_code(i, code)
    for i, entry in enumerate(model.metadata):
        _check_index(entry.buffer, len(model.buffers), f"metadata {i} ({entry.name!r})", "buffer")
    for i, buffer in enumerate(model.metadata_buffer):
        _check_index(buffer, len(model.buffers), f"metadata_buffer entry {i}", "buffer")
    for i, signature in enumerate(model.signature_defs):
        _validate_signature(model, i, signature)
    for index, subgraph in enumerate(model.subgraphs):
        where = f"subgraph {index}"
        for t, tensor in enumerate(subgraph.tensors):
            _validate_tensor(model, tensor, f"{where}, tensor {t} ({tensor.name!r})")
        _validate_io(model, subgraph, where)
        for o, op in enumerate(subgraph.operators):
            _validate_operator(model, subgraph, op, f"{where}, op {o}")
        _validate_dataflow(model, subgraph, where)


def _check_index(value: int, count: int, where: str, what: str, allow_minus_one=False):
    """An index into a list of `count` items; -1 ("none") only where it is allowed."""
    if allow_minus_one and value == -1:
        return
    if not 0 <= value < count:
        raise ModelError(f"{where}: {what} index {value} is out of range (there are {count})")


def _validate_operator_code(i, code):
    """TFLM's GetRegistrationFromOpCode: a code past the schema's last op, or a CUSTOM op
    without a name, can never be resolved to a kernel."""
    where = f"operator_code {i}"
    if not 0 <= code.builtin_code <= MAX_BUILTIN_CODE:
        raise ModelError(f"{where}: builtin_code {code.builtin_code} is out of range "
                         f"(this schema knows ops 0..{MAX_BUILTIN_CODE})")
    if code.builtin_code == Op.CUSTOM and code.custom_code is None:
        raise ModelError(f"{where}: a CUSTOM op has no custom_code naming it")


def _validate_signature(model, i, signature):
    """A signature names a subgraph and tensors in it: all of them must exist."""
    where = f"signature_def {i} ({signature.signature_key!r})"
    _check_index(signature.subgraph_index, len(model.subgraphs), where, "subgraph")
    count = len(model.subgraphs[signature.subgraph_index].tensors)
    for entry in signature.inputs + signature.outputs:
        _check_index(entry.tensor_index, count, f"{where} {entry.name!r}", "tensor")


def _validate_tensor(model, tensor, where):
    """Type, rank, dims, byte size and buffer of one tensor: what sizing it relies on."""
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
    """Scales and zero points: one pair per tensor, or one per channel along an axis."""
    q = tensor.quantization
    if not q.scale:
        return
    if q.quantized_dimension < 0:
        # TFLite's ParseQuantization: quantized_dimension must be in [0, rank).
        raise ModelError(f"{where}: quantized_dimension {q.quantized_dimension} is negative")
    if q.zero_point and len(q.zero_point) != len(q.scale):
        raise ModelError(f"{where}: {len(q.scale)} quantization scales but "
                         f"{len(q.zero_point)} zero points")
    if not all(math.isfinite(s) and s >= 0 for s in q.scale):
        raise ModelError(f"{where}: quantization scales must be finite and >= 0")
    _validate_zero_points(tensor, where)
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


def _validate_zero_points(tensor, where):
    """A zero point is the quantized value that stands for real 0, so it must be a value the
    tensor can hold; kernels fill padding with it and compute offsets from it in int32."""
    dtype = NUMPY_DTYPE.get(tensor.type)
    if dtype is None or dtype.kind not in "iu":
        return
    info = np.iinfo(dtype)
    for z in tensor.quantization.zero_point:
        if not info.min <= z <= info.max:
            raise ModelError(f"{where}: zero point {z} does not fit in {dtype.name} "
                             f"({info.min}..{info.max})")


def _validate_io(model, subgraph, where):
    """The subgraph's inputs and outputs exist, and its inputs are not constants."""
    count = len(subgraph.tensors)
    for kind in ("inputs", "outputs"):
        for t in getattr(subgraph, kind):
            _check_index(t, count, f"{where} {kind}", "tensor")
    for t in subgraph.inputs:
        # The caller writes a graph input; a constant one would be written in place in the
        # model's own (read-only, in TFLM: flash) buffer.
        tensor = subgraph.tensors[t]
        if model.buffers[tensor.buffer].data:
            raise ModelError(f"{where}: input tensor {t} ({tensor.name!r}) is a constant "
                             f"(buffer {tensor.buffer} holds data); a graph input cannot be")


def _validate_operator(model, subgraph, op, where):
    """One op: its opcode, every tensor index it names, its options."""
    _check_index(op.opcode_index, len(model.operator_codes), where, "opcode")
    code = model.operator_codes[op.opcode_index].builtin_code
    where = f"{where} ({model.operator_codes[op.opcode_index].name})"
    count = len(subgraph.tensors)
    _validate_inputs(op, code, count, where)
    for position, t in enumerate(op.outputs):
        _check_index(t, count, f"{where} output {position}", "tensor")
    for t in op.intermediates:
        _check_index(t, count, f"{where} intermediate", "tensor")
    _validate_options(op, code, where)
    both = set(op.inputs) & set(op.outputs)
    if both:
        t = both.pop()
        raise ModelError(f"{where}: tensor {t} ({subgraph.tensors[t].name!r}) is both an input "
                         f"and an output of the op")


def _validate_inputs(op, code, count, where):
    """Input indices exist; -1 ("no tensor") only at the optional inputs of ops tflm_edu
    runs. Ops it does not run may use -1 anywhere: their kernels are not here to ask."""
    # Input positions that may hold -1 ("no tensor") for the ops tflm_edu runs come from
    # their OpSpecs; every other position of those ops must name a real tensor. Ops
    # tflm_edu does not run (LSTM and friends use many optional inputs) are left alone.
    spec = _spec(code)
    optional = spec.optional_inputs if spec is not None else None
    for position, t in enumerate(op.inputs):
        may_be_absent = optional is None or position in optional
        if t == -1 and not may_be_absent:
            # A kernel would read tensor -1: the last tensor in Python, memory before the
            # tensor array in C (the class of bug behind CVE-2020-15211).
            allowed = f"only input(s) {sorted(optional)} may" if optional else "no input may"
            raise ModelError(f"{where} input {position}: -1 (no tensor) is not allowed here; "
                             f"{allowed} be absent")
        _check_index(t, count, f"{where} input {position}", "tensor", allow_minus_one=may_be_absent)


def _validate_options(op, code, where):
    """A runnable op's options are absent (defaults, as in TFLM) or of its own type."""
    # The options table the op's kernel reads (its OpSpec). TFLM's
    # builtin_options_as_XxxOptions() returns nullptr for any other union member and the op
    # then runs with default options, silently; a converter never writes a mismatch, so here
    # it is a malformed model.
    spec = _spec(code)
    expected = spec.options if spec is not None else None
    if expected is None or op.builtin_options_type == 0:
        return
    if not isinstance(op.builtin_options, expected):
        found = type(op.builtin_options).__name__ if op.builtin_options is not None \
            else "options of unknown type"
        raise ModelError(f"{where}: builtin_options are {found} (union type "
                         f"{op.builtin_options_type}); {op_name(code)} takes {expected.__name__}")


def _validate_dataflow(model, subgraph, where):
    """Every tensor an op reads must exist before it runs: written by an earlier op, a graph
    input, a constant or a variable. One pass in execution order finds cycles without
    following edges, so a malicious graph cannot make it recurse or loop."""
    tensors = subgraph.tensors
    # Zero-sized tensors hold nothing to wait for, so they count as ready - and an op may
    # "write" one even so (there is no value to overwrite).
    empty = {t for t, tensor in enumerate(tensors) if math.prod(tensor.shape) == 0}
    ready = set(subgraph.inputs) | empty
    ready.update(t for t, tensor in enumerate(tensors)
                 if tensor.is_variable or model.buffers[tensor.buffer].data)
    for o, op in enumerate(subgraph.operators):
        name = model.operator_codes[op.opcode_index].name
        for t in op.inputs:
            if t != -1 and t not in ready:
                raise ModelError(f"{where}, op {o} ({name}) reads tensor {t} "
                                 f"({tensors[t].name!r}) before any op writes it: the graph has "
                                 f"a cycle or a missing producer")
        for t in op.outputs:
            # a variable tensor is state an op may update in place (CIRCULAR_BUFFER's output)
            if t in ready and t not in empty and not tensors[t].is_variable:
                raise ModelError(f"{where}, op {o} ({name}) writes tensor {t} "
                                 f"({tensors[t].name!r}), which already has a value")
            ready.add(t)
    for t in subgraph.outputs:
        if t not in ready:
            raise ModelError(f"{where}: output tensor {t} ({tensors[t].name!r}) is never written")


def _spec(code):
    """The op's OpSpec, or None for ops tflm_edu has no kernel for (imported here: the
    registry imports the kernels, which import this package)."""
    from tflm_edu.op_resolver import SPECS
    return SPECS.get(code)
