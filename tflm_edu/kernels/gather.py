"""GATHER: pick slices of the input along one axis, at the positions an index tensor holds.

Mirrors tensorflow/lite/micro/kernels/gather.cc (GatherPrepare, GatherEval, Gather).
The inputs are (input, coords), coords int32. With batch_dims 0 the output is
np.take(input, coords, axis): for an input [4, 3] and coords [2, 0, 2] along axis 0,
the output [3, 3] holds rows 2, 0 and 2. With batch_dims b > 0 the first b axes of
input and coords are batch axes that go along together: each batch picks with its own
row of coords.

Gather views the input as [batch, outer, axis_size, inner] and coords as [batch,
coord_size], and copies inner elements for each (batch, outer, coord):

    output[batch, outer, coord, :] = input[batch, outer, coords[batch, coord], :]

TFLM's Prepare checks the types (float32 or int8 input, int32 coords), the axis and
batch_dims, and computes the output shape itself - input[:axis] + coords[batch_dims:] +
input[axis + 1:] - which it writes over the output tensor's dims in a persistent copy
(CreateWritableTensorDimsWithCopy). Prepare here checks the output tensor already has
that shape. TFLM checks the coords' range only with a debug-build DCHECK (a release
build reads out of bounds); tflm_edu checks constant coords in Prepare, coords computed
at run time in Eval.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tflm_edu.kernels.kernel_api import Registration, ensure, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType, type_name
from tflm_edu.schema.options import GatherOptions
from tflm_edu.memory.layout import BUILTIN, c_struct, m

INPUT, COORDS, OUTPUT = 0, 1, 0
SUPPORTED_TYPES = (TensorType.FLOAT32, TensorType.INT8)


@dataclass
class OpDataGather:
    """Not in TFLM (its Gather recomputes these on every invoke): the axis and
    batch_dims made non-negative, and the sizes of Gather's four nested views."""

    axis: int = 0
    batch_dims: int = 0
    batch_size: int = 1
    outer_size: int = 1
    axis_size: int = 1
    inner_size: int = 1
    coord_size: int = 1


def init(context, node):
    return OpDataGather()


def prepare(context, node):
    data: OpDataGather = node.user_data
    params = node.builtin_data or GatherOptions()
    ensure(len(node.inputs) == 2, f"GATHER takes 2 inputs (input, coords), got "
                                  f"{len(node.inputs)}")
    ensure(len(node.outputs) == 1, f"GATHER has 1 output, got {len(node.outputs)}")
    input, coords = context.get_input(node, INPUT), context.get_input(node, COORDS)
    output = context.get_output(node, OUTPUT)
    ensure(input is not None and coords is not None, "GATHER needs an input and coords")
    ensure(coords.type == TensorType.INT32, f"Positions of type {type_name(coords.type)} "
                                            f"are not supported by gather (int32 only)")
    if input.type not in SUPPORTED_TYPES:
        raise unsupported_type(node, input)
    ensure(output.type == input.type, f"input is {type_name(input.type)} but the output "
                                      f"is {type_name(output.type)}")
    _resolve_axes(data, params, tuple(input.shape), tuple(coords.shape))
    expected = (list(input.shape[:data.axis]) + list(coords.shape[data.batch_dims:])
                + list(input.shape[data.axis + 1:]))
    ensure(list(output.shape) == expected,
           f"output shape {list(output.shape)} should be {expected}: input[:axis] + "
           f"coords[batch_dims:] + input[axis + 1:]")
    if coords.is_constant and coords.data is not None:
        check_coords(coords.data, data.axis_size)


def _resolve_axes(data: OpDataGather, params, input_shape, coords_shape) -> None:
    """GatherPrepare's checks of axis and batch_dims, and Gather's view sizes."""
    rank, coords_rank = len(input_shape), len(coords_shape)
    axis = params.axis + rank if params.axis < 0 else params.axis
    ensure(0 <= axis < rank, f"axis {params.axis} is out of range for a {rank}-D input "
                             f"(valid: {-rank} to {rank - 1})")
    batch_dims = params.batch_dims + coords_rank if params.batch_dims < 0 \
        else params.batch_dims
    ensure(batch_dims <= axis, f"batch_dims {params.batch_dims} must not be above the "
                               f"axis ({axis})")
    ensure(0 <= batch_dims < rank and batch_dims <= coords_rank,
           f"batch_dims {params.batch_dims} is out of range for a {rank}-D input and "
           f"{coords_rank}-D coords")
    ensure(input_shape[:batch_dims] == coords_shape[:batch_dims],
           f"the first {batch_dims} axes of the input {list(input_shape)} and of coords "
           f"{list(coords_shape)} (the batch axes) differ")
    data.axis, data.batch_dims = axis, batch_dims
    data.batch_size = int(np.prod(input_shape[:batch_dims], dtype=np.int64))
    data.outer_size = int(np.prod(input_shape[batch_dims:axis], dtype=np.int64))
    data.axis_size = input_shape[axis]
    data.inner_size = int(np.prod(input_shape[axis + 1:], dtype=np.int64))
    data.coord_size = int(np.prod(coords_shape[batch_dims:], dtype=np.int64))


def check_coords(coords, axis_size: int) -> None:
    bad = coords[(coords < 0) | (coords >= axis_size)]
    if bad.size:
        ensure(False, f"coords hold {int(bad[0])}, outside the gathered axis of size "
                      f"{axis_size} (valid: 0 to {axis_size - 1})")


def eval(context, node):
    data: OpDataGather = node.user_data
    input, coords = context.get_input(node, INPUT), context.get_input(node, COORDS)
    output = context.get_output(node, OUTPUT)
    if not coords.is_constant:  # computed by earlier ops: check them now
        check_coords(coords.data, data.axis_size)
    output.data.reshape(-1)[...] = gather(input.data, coords.data, data).reshape(-1)


# ----------------------------------------------------------------------------- reference math


def gather(x, coords, data: OpDataGather):
    """Gather: output[batch, outer, coord, :] = x[batch, outer, coords[batch, coord], :],
    for every batch, outer and coord at once (numpy advanced indexing)."""
    x = x.reshape(data.batch_size, data.outer_size, data.axis_size, data.inner_size)
    coords = coords.reshape(data.batch_size, 1, data.coord_size)
    batch = np.arange(data.batch_size).reshape(-1, 1, 1)
    outer = np.arange(data.outer_size).reshape(1, -1, 1)
    return x[batch, outer, coords]  # [batch, outer, coord, inner]


def register_gather():
    return Registration("GATHER", prepare=prepare, eval=eval, init=init, max_version=7)


def arena_prepare(k):
    """GatherPrepare: temporary tensors for the input, coords and the output, then
    CreateWritableTensorDimsWithCopy - a persistent TfLiteIntArray with as many entries
    as the output tensor's dims in the model."""
    k.temp_input(INPUT)
    k.temp_input(COORDS)
    k.temp_output(OUTPUT)
    k.persistent(4 + 4 * len(k.output(OUTPUT).shape), "writable output dims")


# The C structs this kernel puts in the arena, member by member as TFLM declares them
# (tflm_edu.memory.layout lays them out for each target).
c_struct("TfLiteGatherParams", BUILTIN, m("axis", "int"), m("batch_dims", "int"))

SPEC = OpSpec(Op.GATHER, register_gather, GatherOptions, SUPPORTED_TYPES,
              QuantizerRule(int8_version=2, output="same_as_input"),
              ArenaRecipe("TfLiteGatherParams", None, arena_prepare))
