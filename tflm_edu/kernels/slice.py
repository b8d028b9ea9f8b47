"""SLICE: the block of `size` elements starting at `begin`, on every axis.

Mirrors tensorflow/lite/micro/kernels/slice.cc (SlicePrepare, SliceEval,
GetBeginAndSizeVectors) and reference_ops::Slice (kernels/internal/reference/slice.h).
The inputs are (input, begin, size), begin and size int32 or int64 vectors with one entry
per input axis; a size of -1 means "to the end of the axis". With an input of shape
[4, 6], begin [1, 2] and size [2, -1], the output is input[1:3, 2:6], of shape [2, 4].

TFLM pads begin and size in front to 5 axes (begin 0, size 1) and runs five nested
loops from start to stop = start + size - numpy basic slicing.

TFLM's Prepare checks everything with TFLITE_DCHECK, which release builds compile away:
the real TFLM refuses nothing and reads out of bounds for a begin or size that does not
fit the input. Prepare here checks the types, the ranks (at most 5 axes), each axis'
range and that the output tensor has the slice's shape. begin and size may be computed
at run time (TFLM reads them on every invoke): their checks then run in Eval.
"""
from __future__ import annotations

from dataclasses import dataclass

from tflm_edu.kernels.kernel_api import Registration, ensure, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule, inputs_then_output
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType, type_name
from tflm_edu.schema.options import SliceOptions

INPUT, BEGIN, SIZE, OUTPUT = 0, 1, 2, 0
MAX_DIM = 5  # kMaxDim
SUPPORTED_TYPES = (TensorType.FLOAT32, TensorType.INT32, TensorType.INT8, TensorType.INT16,
                   TensorType.BOOL)
INDEX_TYPES = (TensorType.INT32, TensorType.INT64)


@dataclass
class SliceParams:
    """tflite::SliceParams (TFLM builds it in Eval, padded to 5 axes; here it has one
    entry per input axis), plus the resolved block as Python slices. `slices` is None
    while begin and size are only known at run time."""

    begin: tuple = ()
    size: tuple = ()
    slices: tuple | None = None


def init(context, node):
    return SliceParams()


def prepare(context, node):
    params: SliceParams = node.user_data
    ensure(len(node.inputs) == 3, f"SLICE takes 3 inputs (input, begin, size), got "
                                  f"{len(node.inputs)}")
    ensure(len(node.outputs) == 1, f"SLICE has 1 output, got {len(node.outputs)}")
    input, begin, size = (context.get_input(node, i) for i in (INPUT, BEGIN, SIZE))
    output = context.get_output(node, OUTPUT)
    ensure(input is not None and begin is not None and size is not None,
           "SLICE needs an input, a begin and a size tensor")
    ensure(input.type == output.type, f"input is {type_name(input.type)} but the output "
                                      f"is {type_name(output.type)}")
    if input.type not in SUPPORTED_TYPES:
        raise unsupported_type(node, input)
    rank = len(input.shape)
    ensure(rank <= MAX_DIM, f"SLICE supports inputs of up to {MAX_DIM} dimensions; the "
                            f"input is {list(input.shape)}")
    for name, t in (("begin", begin), ("size", size)):
        ensure(t.type in INDEX_TYPES, f"{name} must be int32 or int64, got "
                                      f"{type_name(t.type)}")
        ensure(len(t.shape) == 1 and t.shape[0] == rank,
               f"{name} has shape {list(t.shape)}; it needs one entry per input axis "
               f"({rank})")
    ensure(begin.type == size.type, f"begin is {type_name(begin.type)} but size is "
                                    f"{type_name(size.type)}")
    params.slices = None
    if _is_constant(begin) and _is_constant(size):
        _resolve(params, begin.data, size.data, input.shape, output.shape)


def _is_constant(tensor) -> bool:
    return tensor.is_constant and tensor.data is not None


def _resolve(params: SliceParams, begin, size, input_shape, output_shape) -> None:
    """Each axis' [begin, begin + size) within the input (size -1: to the end), and the
    output shape they make."""
    params.begin = tuple(int(b) for b in begin.reshape(-1))
    params.size = tuple(int(s) for s in size.reshape(-1))
    slices, shape = [], []
    for axis, (b, s, dim) in enumerate(zip(params.begin, params.size, input_shape)):
        ensure(0 <= b <= dim, f"begin {b} is outside axis {axis}, of size {dim}")
        stop = dim if s == -1 else b + s
        ensure(s >= -1 and stop <= dim,
               f"size {s} from begin {b} does not fit axis {axis}, of size {dim}")
        slices.append(slice(b, stop))
        shape.append(stop - b)
    ensure(list(output_shape) == shape,
           f"output shape {list(output_shape)} does not match the slice, which has shape "
           f"{shape}")
    params.slices = tuple(slices)


def eval(context, node):
    params: SliceParams = node.user_data
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    if params.slices is None:  # begin and size computed by earlier ops: read them now
        begin, size = context.get_input(node, BEGIN), context.get_input(node, SIZE)
        _resolve(params, begin.data, size.data, input.shape, output.shape)
        slices, params.slices = params.slices, None
    else:
        slices = params.slices
    output.data[...] = slice_block(input.data, slices)


# ----------------------------------------------------------------------------- reference math


def slice_block(x, slices):
    """reference_ops::Slice: for i0 in [start0, stop0), ..., i4 in [start4, stop4), write
    input[i0, ..., i4] in order - numpy basic slicing."""
    return x[slices]


def register_slice():
    return Registration("SLICE", prepare=prepare, eval=eval, init=init, max_version=7)


# TFLM's ParseSlice allocates no params struct and SLICE has no Init; Prepare takes
# temporary tensors for the input, begin, size and the output.
SPEC = OpSpec(Op.SLICE, register_slice, SliceOptions, SUPPORTED_TYPES,
              QuantizerRule(int8_version=2, output="same_as_input", int16_version=4),
              ArenaRecipe(None, None, inputs_then_output(3)))
