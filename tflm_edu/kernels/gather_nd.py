"""GATHER_ND: pick elements or slices of `params` at the N-dimensional positions that the
rows of `indices` hold.

Mirrors tensorflow/lite/micro/kernels/gather_nd.cc (GatherNdPrepare, GatherNd,
GatherNdEval). The inputs are (params, indices), params float32 or int8, indices int32.
The last axis of indices, of length nd (at most 5 and at most params' rank), holds one
position per row; the output has the shape indices.shape[:-1] + params.shape[nd:]:

    params [4, 3], indices [[2], [0]]         -> output [2, 3]: rows 2 and 0
    params [4, 3], indices [[2, 1], [0, 0]]   -> output [2]: params[2, 1], params[0, 0]

TFLM turns a position into a flat offset - sum(index[j] * (elements per step of axis j))
- and checks only that the whole slice at that offset lies inside params: one index may
be out of its own axis as long as the flat offset stays in bounds (params [3, 4] at
[0, 5] reads params[1, 1]). tflm_edu computes the same offsets. An offset outside params
is TFLM's Eval error "gather_nd index out of bounds"; here constant indices are checked
at prepare, computed ones at eval (and an offset whose int32 arithmetic would overflow
is refused too).

Prepare sets the output's type to params' and writes the computed dims over the output's
in a persistent copy (CreateWritableTensorDimsWithCopy, sized by the output's rank in the
model). tflm_edu checks the output already has that type and shape (TFLM would write past
a smaller output, or with a different element size), and refuses a params axis of size 0
among the first nd (TFLM divides by it).
"""
from __future__ import annotations

import numpy as np

from tflm_edu.kernels.kernel_api import Registration, ensure
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType, type_name
from tflm_edu.schema.options import GatherNdOptions

PARAMS, INDICES, OUTPUT = 0, 1, 0
MAX_INDICES_ND = 5
SUPPORTED_TYPES = (TensorType.FLOAT32, TensorType.INT8)
INT32_MAX = 2**31 - 1


def prepare(context, node):
    """GatherNdPrepare."""
    ensure(len(node.inputs) == 2, f"GATHER_ND takes 2 inputs (params, indices), got "
                                  f"{len(node.inputs)}")
    ensure(len(node.outputs) == 1, f"GATHER_ND has 1 output, got {len(node.outputs)}")
    params, indices = context.get_input(node, PARAMS), context.get_input(node, INDICES)
    output = context.get_output(node, OUTPUT)
    ensure(params is not None and indices is not None, "GATHER_ND needs params and indices")
    ensure(params.type in SUPPORTED_TYPES, f"Params of type '{type_name(params.type)}' are "
                                           f"not supported by gather_nd")
    ensure(indices.type == TensorType.INT32, f"Indices of type '{type_name(indices.type)}' "
                                             f"are not supported by gather_nd")
    params_rank, indices_rank = len(params.shape), len(indices.shape)
    ensure(params_rank >= 1, "Params must be at least a vector.")
    ensure(indices_rank >= 1, "Indices must be at least a vector.")
    indices_nd = indices.shape[-1]
    ensure(indices_nd <= params_rank,
           f"Index innermost dimension length ({indices_nd}) must be <= params rank "
           f"({params_rank}).")
    ensure(indices_nd <= MAX_INDICES_ND, f"Index innermost dimension length ({indices_nd}) "
                                         f"must not exceed {MAX_INDICES_ND}.")
    ensure(all(d > 0 for d in params.shape[:indices_nd]),
           f"params {list(params.shape)} has an empty axis among the {indices_nd} indexed "
           f"ones (TFLM divides by its size)")
    ensure(output.type == params.type, f"params are {type_name(params.type)} but the output "
                                       f"is {type_name(output.type)}")
    expected = list(indices.shape[:-1]) + list(params.shape[indices_nd:])
    ensure(list(output.shape) == expected,
           f"output shape {list(output.shape)} should be {expected}: indices.shape[:-1] + "
           f"params.shape[{indices_nd}:]")
    if indices.is_constant and indices.data is not None:
        flat_offsets(params.shape, indices.data)


def eval(context, node):
    """GatherNdEval -> GatherNd."""
    params, indices = context.get_input(node, PARAMS), context.get_input(node, INDICES)
    output = context.get_output(node, OUTPUT)
    output.data.reshape(-1)[...] = gather_nd(params.data, indices.data)


# ----------------------------------------------------------------------------- reference math


def flat_offsets(params_shape, indices):
    """GatherNd's from_pos of every row of indices: sum(index[j] * dims_to_count[j]), where
    dims_to_count[j] is how many elements one step along axis j skips. Refused when a slice
    would leave params (TFLM's Eval error) or the C++ int arithmetic would overflow."""
    indices_nd = indices.shape[-1]
    params_flat_size = int(np.prod(params_shape, dtype=np.int64))
    slice_size = int(np.prod(params_shape[indices_nd:], dtype=np.int64))
    dims_to_count, remain = [], params_flat_size
    for j in range(indices_nd):
        remain //= params_shape[j]
        dims_to_count.append(remain)
    n_slices = int(np.prod(indices.shape[:-1], dtype=np.int64))
    rows = indices.reshape(n_slices, indices_nd).astype(np.int64)
    terms = rows * np.array(dims_to_count, np.int64)
    partial = np.cumsum(terms, axis=1) if indices_nd else terms
    ensure(np.all(np.abs(terms) <= INT32_MAX) and np.all(np.abs(partial) <= INT32_MAX),
           "gather_nd indices overflow the int32 offset arithmetic")
    from_pos = partial[:, -1] if indices_nd else np.zeros(len(rows), np.int64)
    bad = np.flatnonzero((from_pos < 0) | (from_pos + slice_size > params_flat_size))
    ensure(bad.size == 0,
           f"gather_nd index out of bounds: indices row {bad[:1].tolist()} = "
           f"{rows[bad[:1]].tolist()} in params {list(params_shape)}")
    return from_pos, slice_size


def gather_nd(params, indices):
    """output[i, :] = params.flat[from_pos[i] : from_pos[i] + slice_size] (the memcpy of
    every slice at once)."""
    from_pos, slice_size = flat_offsets(params.shape, indices)
    flat = params.reshape(-1)
    return flat[from_pos[:, None] + np.arange(slice_size)].reshape(-1)


def register_gather_nd():
    return Registration("GATHER_ND", prepare=prepare, eval=eval, max_version=5)


def arena_prepare(k):
    """GatherNdPrepare: temporary tensors for params, indices and the output, then the
    writable copy of the output's dims (as many entries as its rank in the model)."""
    k.temp_input(PARAMS)
    k.temp_input(INDICES)
    k.temp_output(OUTPUT)
    k.persistent(4 + 4 * len(k.output(OUTPUT).shape), "writable output dims")


# int8 only (TFLM's GATHER_ND has no int16): the output keeps params' scale and zero point,
# TFLite's restrict_same_input_output_scale; version 1, as op_version.cc gives int8.
SPEC = OpSpec(Op.GATHER_ND, register_gather_nd, GatherNdOptions, SUPPORTED_TYPES,
              QuantizerRule(int8_version=1, output="same_as_input"),
              ArenaRecipe(None, None, arena_prepare))
