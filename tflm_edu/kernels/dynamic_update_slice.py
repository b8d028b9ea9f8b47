"""DYNAMIC_UPDATE_SLICE: the operand with one block overwritten by `update`, the block's
corner given at run time by a start-indices tensor.

Mirrors tensorflow/lite/micro/kernels/dynamic_update_slice.cc (Prepare, Eval, EvalImpl,
CalculateClampedStartIndices, UpdateSliceRecursive). The inputs are (operand, update,
start_indices): update has the operand's rank and no larger a size on any axis,
start_indices is a 1-D int32 or int64 tensor with one entry per axis. Then

    output = operand;  output[s0 : s0 + u0, s1 : s1 + u1, ...] = update

where each start is clamped into [0, operand_dim - update_dim] first - a start past the
end (or below 0) moves the block back inside, as XLA's DynamicUpdateSlice does. Bytes are
copied, never converted: float32, int8, int16 and int32 (quantization parameters are not
looked at). An update as large as the operand replaces it; an empty one leaves it.

TFLM's Prepare checks the counts, that operand and update share a type, the indices'
type and shape, and the ranks and sizes; the operand type is checked only at Eval and
the output not at all (it gets the operand's bytes). Here the operand type is checked at
prepare, and the output must have the operand's type and shape. Ranks above 6 are
refused (TFLM's index arrays hold 6 entries).
"""
from __future__ import annotations

import numpy as np

from tflm_edu.kernels.kernel_api import Registration, ensure, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, inputs_then_output
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType, type_name
from tflm_edu.schema.options import DynamicUpdateSliceOptions

OPERAND, UPDATE, START_INDICES, OUTPUT = 0, 1, 2, 0
SUPPORTED_TYPES = (TensorType.FLOAT32, TensorType.INT8, TensorType.INT16, TensorType.INT32)
INDEX_TYPES = (TensorType.INT32, TensorType.INT64)
MAX_DIMENSIONS = 6   # RuntimeShape::kMaxSmallSize


def prepare(context, node):
    """Prepare (and the type check of Eval)."""
    ensure(len(node.inputs) == 3, f"DYNAMIC_UPDATE_SLICE takes 3 inputs (operand, update, "
                                  f"start_indices), got {len(node.inputs)}")
    ensure(len(node.outputs) == 1, f"DYNAMIC_UPDATE_SLICE has 1 output, got "
                                   f"{len(node.outputs)}")
    operand, update = context.get_input(node, OPERAND), context.get_input(node, UPDATE)
    start_indices = context.get_input(node, START_INDICES)
    output = context.get_output(node, OUTPUT)
    ensure(operand is not None and update is not None and start_indices is not None,
           "DYNAMIC_UPDATE_SLICE needs three inputs")
    ensure(operand.type == update.type, f"operand is {type_name(operand.type)} but update is "
                                        f"{type_name(update.type)}")
    ensure(start_indices.type in INDEX_TYPES, f"start_indices must be int32 or int64, got "
                                              f"{type_name(start_indices.type)}")
    rank = len(operand.shape)
    ensure(len(start_indices.shape) == 1 and start_indices.shape[0] == rank,
           f"start_indices {list(start_indices.shape)} must be 1-D with one entry per "
           f"operand axis ({rank})")
    ensure(len(update.shape) == rank, f"update {list(update.shape)} and operand "
                                      f"{list(operand.shape)} differ in rank")
    ensure(all(u <= d for u, d in zip(update.shape, operand.shape)),
           f"update {list(update.shape)} is larger than operand {list(operand.shape)}")
    if operand.type not in SUPPORTED_TYPES:
        raise unsupported_type(node, operand)
    ensure(rank <= MAX_DIMENSIONS, f"rank {rank} is above {MAX_DIMENSIONS}")
    ensure(output.type == operand.type and tuple(output.shape) == tuple(operand.shape),
           f"the output ({type_name(output.type)} {list(output.shape)}) must be like the "
           f"operand ({type_name(operand.type)} {list(operand.shape)})")


def eval(context, node):
    operand, update = context.get_input(node, OPERAND), context.get_input(node, UPDATE)
    start_indices = context.get_input(node, START_INDICES)
    output = context.get_output(node, OUTPUT)
    output.data[...] = dynamic_update_slice(operand.data, update.data,
                                            start_indices.data.astype(np.int64))


# ----------------------------------------------------------------------------- reference math


def clamped_start_indices(start_indices, operand_shape, update_shape):
    """CalculateClampedStartIndices: min(max(0, start), operand_dim - update_dim)."""
    return [int(min(max(0, int(s)), d - u))
            for s, d, u in zip(start_indices, operand_shape, update_shape)]


def dynamic_update_slice(operand, update, start_indices):
    """EvalImpl: the operand copied, then the update block written at the clamped start
    (UpdateSliceRecursive's row-by-row memcpy, as one slice assignment)."""
    if operand.size == update.size:
        return update.reshape(operand.shape)
    output = operand.copy()
    if update.size == 0:
        return output
    starts = clamped_start_indices(start_indices, operand.shape, update.shape)
    output[tuple(slice(s, s + u) for s, u in zip(starts, update.shape))] = update
    return output


def register_dynamic_update_slice():
    return Registration("DYNAMIC_UPDATE_SLICE", prepare=prepare, eval=eval, max_version=6)


SPEC = OpSpec(Op.DYNAMIC_UPDATE_SLICE, register_dynamic_update_slice,
              DynamicUpdateSliceOptions, SUPPORTED_TYPES, None,
              ArenaRecipe(None, None, inputs_then_output(3)))
