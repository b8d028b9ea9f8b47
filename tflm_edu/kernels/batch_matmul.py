"""BATCH_MATMUL: matrix products over broadcast batch dimensions, lhs [..., A, K] times
rhs [..., K, C] -> [..., A, C] (adj_x / adj_y: lhs given as [..., K, A], rhs as
[..., C, K]).

Mirrors tensorflow/lite/micro/kernels/batch_matmul.cc and batch_matmul_common.cc
(OpDataBatchMatmul, QuantizationOpDataBatchMatmul, BatchMatMulPrepare,
InitializeTemporaries, ReshapeOutputTensor, BatchMatMulEval, EvalInt8, EvalInt16) with
reference_ops::BatchMatMul (kernels/internal/reference/batch_matmul.h), float32, int8 and
int16; both inputs and the output share one type, ranks 2 to 5.

The batch dimensions (all but the last two, the shorter shape padded with 1s in front)
broadcast: equal, or one of them 1. TFLM's Eval transposes rhs (unless adj_y) and lhs (if
adj_x) into persistent buffers and multiplies "rhs x lhs" column-major, which is lhs x rhs
row-major - a layout trick that changes no result. What each output element is:

    float32  total = 0.0f; total += rhs[k, c] * lhs[a, k] for k in order (float32)
    int8     total = sum((rhs[k, c] - rhs_zp) * (lhs[a, k] - lhs_zp)) in int32, then
             MultiplyByQuantizedMultiplier(total, lhs_scale * rhs_scale / output_scale)
             + output_zp, clamped to int8
    int16    the same with zero points 0, the sum in int64 and the int64 overload of
             MultiplyByQuantizedMultiplier (the Q31 multiplier rounded to Q15)

Integer sums are exact here through float64 BLAS while they cannot lose a bit (int8:
K < 2^37, int16: K < 2^23; beyond, numpy's int64 matmul). An int8 sum outside int32
(possible from K > 33,000) would be undefined behaviour in C++: refused at eval. The
multiplier's scale product is taken in double, as the TFLM of the tflite-micro package
does (the source tree's GetQuantizedConvolutionMultipler multiplies the two float scales
in float first). BATCH_MATMUL has no fused activation.

Prepare rewrites the output's dims in a persistent copy (CreateWritableTensorDimsWithCopy):
the broadcast batch dims, then A and C; it needs the output's rank to be at least that
rank and the element count unchanged. Arena, in Prepare's order: temporaries for lhs, rhs
and the output; for int8 / int16 a QuantizationOpDataBatchMatmul; with adj_x a
TfLiteEvalTensor, its dims and a data buffer for the transposed lhs; without adj_y the
same for the transposed rhs; then the dims copy.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tflm_edu.kernels.kernel_api import Registration, ensure, ensure_quantized, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule
from tflm_edu.kernels.quantization_util import (check_shifts_16x8,
                                                multiply_by_quantized_multiplier,
                                                multiply_by_quantized_multiplier_int64,
                                                quantize_multiplier)
from tflm_edu.memory.layout import BUILTIN, KERNELS, c_struct, m
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType, type_name
from tflm_edu.schema.options import BatchMatMulOptions

LHS, RHS, OUTPUT = 0, 1, 0   # kBatchMatmulInputLhsTensor, ...RhsTensor, ...OutputTensor
SUPPORTED_TYPES = (TensorType.FLOAT32, TensorType.INT8, TensorType.INT16)
QUANTIZED_DTYPES = {TensorType.INT8: np.int8, TensorType.INT16: np.int16}
MIN_RANK, MAX_RANK = 2, 5
INT32_MIN, INT32_MAX = -2**31, 2**31 - 1
# Below these depths a float64 matrix product of integer values is exact: |products|
# < 2^16 (int8 with zero points) or <= 2^30 (int16), sums < 2^53.
EXACT_DEPTH = {TensorType.INT8: 1 << 37, TensorType.INT16: 1 << 23}


@dataclass
class QuantizationOpDataBatchMatmul:
    output_multiplier: int = 0
    output_shift: int = 0
    output_activation_min: int = 0
    output_activation_max: int = 0
    lhs_zero_point: int = 0
    rhs_zero_point: int = 0
    output_zero_point: int = 0


@dataclass
class OpDataBatchMatmul:
    """TFLM's OpDataBatchMatmul, without the transposed tensors (numpy transposes views)."""
    quantization: QuantizationOpDataBatchMatmul | None = None
    rhs_is_transposed: bool = False
    lhs_is_constant_tensor: bool = False
    rhs_is_constant_tensor: bool = False


def init(context, node):
    return OpDataBatchMatmul()


def prepare(context, node):
    """BatchMatMulPrepare."""
    data: OpDataBatchMatmul = node.user_data
    params = node.builtin_data or BatchMatMulOptions()
    ensure(len(node.inputs) == 2, f"BATCH_MATMUL takes 2 inputs (lhs, rhs), got "
                                  f"{len(node.inputs)}")
    ensure(len(node.outputs) == 1, f"BATCH_MATMUL has 1 output, got {len(node.outputs)}")
    lhs, rhs = context.get_input(node, LHS), context.get_input(node, RHS)
    output = context.get_output(node, OUTPUT)
    ensure(lhs is not None and rhs is not None, "BATCH_MATMUL needs two inputs")
    for tensor in (lhs, rhs):
        if tensor.type not in SUPPORTED_TYPES:
            raise unsupported_type(node, tensor)
    ensure(lhs.type == rhs.type, f"lhs is {type_name(lhs.type)} but rhs is "
                                 f"{type_name(rhs.type)} (hybrid inputs are not supported)")
    ensure(lhs.type == output.type, f"lhs is {type_name(lhs.type)} but the output is "
                                    f"{type_name(output.type)}")
    for name, tensor in (("lhs", lhs), ("rhs", rhs)):
        ensure(MIN_RANK <= len(tensor.shape) <= MAX_RANK,
               f"{name} must have rank 2 to 5, got {list(tensor.shape)}")
    data.lhs_is_constant_tensor, data.rhs_is_constant_tensor = lhs.is_constant, rhs.is_constant
    if lhs.type in QUANTIZED_DTYPES:
        data.quantization = _prepare_quantized(lhs, rhs, output)
    shape = output_shape(lhs.shape, rhs.shape, params.adj_x, params.adj_y)
    _reshape_output_tensor(output, shape)


def _prepare_quantized(lhs, rhs, output):
    """The quantized part of BatchMatMulPrepare."""
    dtype = QUANTIZED_DTYPES[lhs.type]
    for tensor in (lhs, rhs, output):
        ensure_quantized(tensor, dtype)
    quantization = QuantizationOpDataBatchMatmul()
    # GetQuantizedConvolutionMultipler, in double (see the module docstring).
    real_multiplier = float(lhs.scale) * float(rhs.scale) / float(output.scale)
    quantization.output_multiplier, quantization.output_shift = \
        quantize_multiplier(real_multiplier)
    info = np.iinfo(dtype)
    quantization.output_activation_min, quantization.output_activation_max = info.min, info.max
    if lhs.type == TensorType.INT16:
        ensure(lhs.zero_point == 0 and rhs.zero_point == 0 and output.zero_point == 0,
               "int16 BATCH_MATMUL needs zero points of 0")
        check_shifts_16x8([quantization.output_shift])
    quantization.lhs_zero_point = lhs.zero_point
    quantization.rhs_zero_point = rhs.zero_point
    quantization.output_zero_point = output.zero_point
    return quantization


def output_shape(lhs_shape, rhs_shape, adj_x, adj_y):
    """The batch dims broadcast (checked as TFLM checks them), then lhs rows and rhs
    columns; the depths must agree."""
    output_rank = max(len(lhs_shape), len(rhs_shape))
    lhs_ext = (1,) * (output_rank - len(lhs_shape)) + tuple(lhs_shape)
    rhs_ext = (1,) * (output_rank - len(rhs_shape)) + tuple(rhs_shape)
    batch = []
    for lhs_dim, rhs_dim in zip(lhs_ext[:-2], rhs_ext[:-2]):
        ensure(lhs_dim == rhs_dim or lhs_dim == 1 or rhs_dim == 1,
               f"batch dims of lhs {list(lhs_shape)} and rhs {list(rhs_shape)} do not "
               f"broadcast")
        batch.append(rhs_dim if lhs_dim == 1 else lhs_dim)
    accum_lhs = lhs_ext[-2] if adj_x else lhs_ext[-1]
    accum_rhs = rhs_ext[-1] if adj_y else rhs_ext[-2]
    ensure(accum_lhs == accum_rhs,
           f"lhs {list(lhs_shape)} (adj_x={bool(adj_x)}) and rhs {list(rhs_shape)} "
           f"(adj_y={bool(adj_y)}) differ in depth: {accum_lhs} and {accum_rhs}")
    rows = lhs_ext[-1] if adj_x else lhs_ext[-2]
    cols = rhs_ext[-2] if adj_y else rhs_ext[-1]
    return (*batch, rows, cols)


def _reshape_output_tensor(output, shape):
    """ReshapeOutputTensor: the computed dims replace the output's (rank at most the
    output's, the same number of elements)."""
    ensure(len(shape) <= len(output.shape),
           f"the output needs rank {len(shape)}, the model gives it {list(output.shape)}")
    ensure(int(np.prod(shape)) == int(np.prod(output.shape)),
           f"output shape {list(output.shape)} does not hold the {list(shape)} the op writes")
    output.shape = tuple(int(d) for d in shape)


def eval(context, node):
    """BatchMatMulEval: the operands as [..., A, K] and [..., K, C], then the product of
    the input type."""
    data: OpDataBatchMatmul = node.user_data
    params = node.builtin_data or BatchMatMulOptions()
    lhs, rhs = context.get_input(node, LHS), context.get_input(node, RHS)
    output = context.get_output(node, OUTPUT)
    x = np.swapaxes(lhs.data, -1, -2) if params.adj_x else lhs.data
    y = np.swapaxes(rhs.data, -1, -2) if params.adj_y else rhs.data
    data.rhs_is_transposed = not params.adj_y
    if lhs.type == TensorType.FLOAT32:
        result = matmul_float(x, y)
    else:
        result = matmul_quantized(x, y, data.quantization, lhs.type)
    output.data[...] = result.reshape(output.data.shape)


# ----------------------------------------------------------------------------- reference math


def matmul_float(x, y):
    """reference_ops::BatchMatMul (float): for every output element, total = 0.0f, then
    the products added in k order, each product and sum rounded to float32 (one k at a
    time over all elements; BLAS would sum in another order)."""
    batch = np.broadcast_shapes(x.shape[:-2], y.shape[:-2])
    total = np.zeros((*batch, x.shape[-2], y.shape[-1]), np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(x.shape[-1]):
            total += y[..., k:k + 1, :] * x[..., :, k:k + 1]
    return total


def matmul_quantized(x, y, q: QuantizationOpDataBatchMatmul, type):
    """reference_ops::BatchMatMul (quantized): exact integer sums of (rhs - rhs_zp) *
    (lhs - lhs_zp), then the requantization of the accumulator's type."""
    lhs = x.astype(np.int64) - q.lhs_zero_point
    rhs = y.astype(np.int64) - q.rhs_zero_point
    if x.shape[-1] < EXACT_DEPTH[type]:
        total = np.matmul(lhs.astype(np.float64), rhs.astype(np.float64)).astype(np.int64)
    else:
        total = np.matmul(lhs, rhs)
    if type == TensorType.INT8:
        ensure(total.size == 0 or (total.min() >= INT32_MIN and total.max() <= INT32_MAX),
               "the int32 accumulator of an int8 BATCH_MATMUL overflows")
        scaled = multiply_by_quantized_multiplier(total, q.output_multiplier, q.output_shift)
    else:
        scaled = multiply_by_quantized_multiplier_int64(total, q.output_multiplier,
                                                        q.output_shift)
    scaled = scaled + q.output_zero_point
    return np.clip(scaled, q.output_activation_min, q.output_activation_max).astype(
        QUANTIZED_DTYPES[type])


def register_batch_matmul():
    return Registration("BATCH_MATMUL", prepare=prepare, eval=eval, init=init, max_version=4)


def arena_prepare(k):
    """BatchMatMulPrepare: the PrepareOpContext's three temporaries, then
    InitializeTemporaries (the quantization struct; the transposed operands), then the
    output's writable dims."""
    k.temp_input(LHS)
    k.temp_input(RHS)
    k.temp_output(OUTPUT)
    lhs, rhs = k.input(LHS), k.input(RHS)
    params = k.op.builtin_options or BatchMatMulOptions()
    if lhs.type in QUANTIZED_DTYPES:
        k.persistent(lambda target: target.sizeof("QuantizationOpDataBatchMatmul"),
                     "QuantizationOpDataBatchMatmul")
    if params.adj_x:
        _transposed_tensor(k, lhs, "lhs")
    if not params.adj_y:
        _transposed_tensor(k, rhs, "rhs")
    k.persistent(4 + 4 * len(k.output(OUTPUT).shape), "writable output dims")


def _transposed_tensor(k, tensor, name):
    """AllocInitTransposeTensorFromTfLiteTensor: a TfLiteEvalTensor, its dims array, and
    room for the transposed data."""
    k.persistent(lambda target: target.sizeof("TfLiteEvalTensor"),
                 f"TfLiteEvalTensor for the transposed {name}")
    k.persistent(4 + 4 * len(tensor.shape), f"dims of the transposed {name}")
    nbytes = int(np.prod(tensor.shape, dtype=np.int64)) * np.dtype(tensor.dtype).itemsize
    k.persistent(nbytes, f"transposed {name} data")


# The C structs this kernel puts in the arena, member by member as TFLM declares them
# (tflm_edu.memory.layout lays them out for each target).
c_struct("TfLiteBatchMatMulParams", BUILTIN, m("adj_x", "bool"), m("adj_y", "bool"),
         m("asymmetric_quantize_inputs", "bool"))
c_struct("QuantizationOpDataBatchMatmul", KERNELS + "batch_matmul.h",
         m("output_multiplier", "int32"), m("output_shift", "int"),
         m("output_activation_min", "int32"), m("output_activation_max", "int32"),
         m("lhs_zero_point", "int32"), m("rhs_zero_point", "int32"),
         m("output_zero_point", "int32"))
c_struct("OpDataBatchMatmul", KERNELS + "batch_matmul.h", m("quantization", "ptr"),
         m("lhs_transposed_tensor", "ptr"), m("rhs_transposed_tensor", "ptr"),
         m("rhs_is_transposed", "bool"), m("lhs_is_constant_tensor", "bool"),
         m("rhs_is_constant_tensor", "bool"))

SPEC = OpSpec(Op.BATCH_MATMUL, register_batch_matmul, BatchMatMulOptions, SUPPORTED_TYPES,
              QuantizerRule(int8_version=2, int16_version=3),
              ArenaRecipe("TfLiteBatchMatMulParams", "OpDataBatchMatmul", arena_prepare))
