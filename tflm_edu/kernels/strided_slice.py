"""STRIDED_SLICE: input[begin:end:stride] on every axis, as in Python, plus masks.

Mirrors tensorflow/lite/micro/kernels/strided_slice.cc and strided_slice_common.cc
(StridedSlicePrepare, CheckOutputSize, StridedSliceEval), with the index logic of
strided_slice_logic.h and the loop of reference_ops::StridedSlice.

Per axis, from the constant int32 tensors begin, end and strides (one entry per input
dimension) and the option bit masks:

    start = begin (+ size if negative), clamped to [0, size]   ([-1, size - 1] if stride < 0)
            begin_mask bit set: the first element (0, or size - 1 going backwards)
    stop  = end   (+ size if negative), clamped the same way
            end_mask bit set: past the last element (size, or -1 going backwards)
    shrink_axis_mask bit set: take the single element `start` and drop the axis

and the axis yields start, start + stride, ... while before stop.

What TFLM does not support, refused here with a message rather than silently ignored
as TFLM does: ellipsis_mask, new_axis_mask and the offset flag (TFLM overwrites the first
two with 0 and never reads the third), inputs above 4-D, non-constant begin/end/strides.
Prepare also refuses what would make TFLM write a different number of elements than
the output holds: a zero stride (the loop would never end), a shrunk axis whose index is
out of range or whose stride is not positive (TFLM writes nothing for it), and an output
shape other than the slice's.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from tflm_edu.errors import ModelError
from tflm_edu.kernels.kernel_api import Registration, ensure, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule, inputs_then_output
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType, type_name
from tflm_edu.schema.options import StridedSliceOptions
from tflm_edu.memory.layout import BUILTIN, TYPES, c_struct, m

INPUT, BEGIN, END, STRIDES, OUTPUT = 0, 1, 2, 3, 0
MAX_DIM = 4  # kMaxDim: TFLM maps 1-4-D onto its 5-D reference loop
SUPPORTED_TYPES = (TensorType.FLOAT32, TensorType.INT8, TensorType.INT16, TensorType.INT32,
                   TensorType.BOOL)


@dataclass
class StridedSliceParams:
    """tflite::StridedSliceParams, as TFLM builds it, plus the per-axis result."""

    start_indices: list = field(default_factory=list)
    stop_indices: list = field(default_factory=list)
    strides: list = field(default_factory=list)
    begin_mask: int = 0
    end_mask: int = 0
    shrink_axis_mask: int = 0
    ellipsis_mask: int = 0  # always 0: TFLM does not support it
    new_axis_mask: int = 0  # always 0: TFLM does not support it
    offset: bool = False  # always False: TFLM does not read it
    # Not in TFLM: the resolved start/stop of each axis as Python slices, computed once.
    slices: tuple = ()


def init(context, node):
    return StridedSliceParams()


def prepare(context, node):
    data: StridedSliceParams = node.user_data
    params = node.builtin_data or StridedSliceOptions()
    ensure(len(node.inputs) == 4, f"STRIDED_SLICE takes 4 inputs (input, begin, end, "
                                  f"strides), got {len(node.inputs)}")
    ensure(len(node.outputs) == 1, f"STRIDED_SLICE has 1 output, got {len(node.outputs)}")
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    ensure(input is not None, "STRIDED_SLICE needs an input tensor")
    if output.type not in SUPPORTED_TYPES:
        raise unsupported_type(node, output)
    ensure(input.type == output.type, "input and output types differ")
    dims = len(input.shape)
    ensure(dims <= MAX_DIM, f"input dim should not exceed {MAX_DIM} (input is "
                            f"{list(input.shape)})")
    _check_unsupported_options(params)
    begin, end, strides = (_read_indices(context.get_input(node, i), name, dims)
                           for i, name in ((BEGIN, "begin"), (END, "end"),
                                           (STRIDES, "strides")))
    data.start_indices, data.stop_indices, data.strides = begin, end, strides
    data.begin_mask, data.end_mask = params.begin_mask, params.end_mask
    data.shrink_axis_mask = params.shrink_axis_mask
    data.slices = _resolve_axes(data, input.shape, output.shape)


def _check_unsupported_options(params):
    for name in ("ellipsis_mask", "new_axis_mask"):
        if getattr(params, name):
            raise ModelError(f"{name} = {getattr(params, name)} is not supported: TFLM's "
                             f"STRIDED_SLICE ignores it and would slice another region")
    if params.offset:
        raise ModelError("the offset option is not supported: TFLM's STRIDED_SLICE reads "
                         "end as an absolute index")


def _read_indices(tensor, name: str, dims: int) -> list:
    ensure(tensor is not None, f"STRIDED_SLICE needs a {name} tensor")
    ensure(tensor.is_constant and tensor.data is not None,
           f"Non-constant {name} tensor is not supported")
    ensure(tensor.type == TensorType.INT32, f"{name} must be int32, got {type_name(tensor.type)}")
    ensure(tensor.num_elements == dims,
           f"{name} has {tensor.num_elements} values; the input has {dims} dimensions")
    return [int(v) for v in tensor.data.reshape(-1)]


def _resolve_axes(data: StridedSliceParams, input_shape, output_shape) -> tuple:
    """CheckOutputSize, made exact: resolve each axis, count what it yields, and compare
    with the output shape (without the shrunk axes)."""
    slices, kept = [], []
    for axis, size in enumerate(input_shape):
        stride = data.strides[axis]
        ensure(stride != 0, f"stride value has to be non-zero (axis {axis})")
        start = start_for_axis(data, size, axis)
        if data.shrink_axis_mask & (1 << axis):
            _check_shrink(data, size, axis)
            stop = start + 1
        else:
            stop = stop_for_axis(data, size, axis)
            kept.append(len(range(start, stop, stride)))
        slices.append(_as_python_slice(start, stop, stride))
    ensure(list(output_shape) == kept,
           f"output shape {list(output_shape)} does not match the slice, which has shape "
           f"{kept}")
    return tuple(slices)


def _as_python_slice(start: int, stop: int, stride: int) -> slice:
    """The C++ loop's indices as a Python slice. Python reads a negative bound as counting
    from the end, so the C++ -1 ("before element 0", going backwards) becomes None, and an
    empty axis (which may start at -1) becomes an explicit empty slice."""
    if len(range(start, stop, stride)) == 0:
        return slice(0, 0)
    return slice(start, None if stop < 0 else stop, stride)


def _check_shrink(data, size, axis):
    stride = data.strides[axis]
    ensure(stride > 0, f"axis {axis} is shrunk (shrink_axis_mask) but has stride {stride}: "
                       f"only positive strides are allowed on a shrunk axis")
    ensure(size > 0, f"axis {axis} is shrunk but has no elements")
    if not data.begin_mask & (1 << axis):
        index = data.start_indices[axis]
        ensure(-size <= index < size,
               f"axis {axis} is shrunk to index {index}, outside an axis of size {size}")


def eval(context, node):
    data: StridedSliceParams = node.user_data
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    output.data.reshape(-1)[...] = strided_slice(input.data, data.slices).reshape(-1)


# ----------------------------------------------------------------------------- reference math


def start_for_axis(params: StridedSliceParams, axis_size: int, axis: int) -> int:
    """StridedSliceStartForAxis: the first index, in [0, size] ([-1, size - 1] backwards)."""
    start, stride = params.start_indices[axis], params.strides[axis]
    if start < 0:
        start += axis_size
    start = _clamp(start, 0, axis_size) if stride > 0 else _clamp(start, -1, axis_size - 1)
    if params.begin_mask & (1 << axis):
        start = 0 if stride > 0 else axis_size - 1
    return start


def stop_for_axis(params: StridedSliceParams, axis_size: int, axis: int) -> int:
    """StridedSliceEndForAxis (for an axis that is not shrunk): one past the last index."""
    end, stride = params.stop_indices[axis], params.strides[axis]
    if end < 0:
        end += axis_size
    end = _clamp(end, 0, axis_size) if stride > 0 else _clamp(end, -1, axis_size - 1)
    if params.end_mask & (1 << axis):
        end = axis_size if stride > 0 else -1
    return end


def _clamp(v, lo, hi):
    """strided_slice::Clamp (hi wins when lo > hi, as for an empty axis going backwards)."""
    return hi if hi < v else (lo if v < lo else v)


def strided_slice(x, slices):
    """reference_ops::StridedSlice: visit start, start + stride, ... while before stop on
    every axis, outermost first - numpy basic slicing with the resolved bounds."""
    return x[slices]


def register_strided_slice():
    return Registration("STRIDED_SLICE", prepare=prepare, eval=eval, init=init,
                        max_version=8)


# The C structs this kernel puts in the arena, member by member as TFLM declares them
# (tflm_edu.memory.layout lays them out for each target).
c_struct("TfLiteStridedSliceParams", BUILTIN, m("begin_mask", "int"), m("end_mask", "int"),
         m("ellipsis_mask", "int"), m("new_axis_mask", "int"), m("shrink_axis_mask", "int"),
         m("offset", "bool"))
c_struct("StridedSliceParams", TYPES, m("start_indices_count", "int8"),
         m("start_indices", "int32", 5), m("stop_indices_count", "int8"),
         m("stop_indices", "int32", 5), m("strides_count", "int8"), m("strides", "int32", 5),
         m("begin_mask", "uint16"), m("ellipsis_mask", "uint16"), m("end_mask", "uint16"),
         m("new_axis_mask", "uint16"), m("shrink_axis_mask", "uint16"), m("offset", "bool"))

SPEC = OpSpec(Op.STRIDED_SLICE, register_strided_slice, StridedSliceOptions, SUPPORTED_TYPES,
              QuantizerRule(int8_version=2, output="same_as_input", int16_version=1),
              ArenaRecipe("TfLiteStridedSliceParams", "StridedSliceParams",
                          inputs_then_output(4)))
