"""ABS, SQRT, RSQRT, SQUARE, LOG, SIN, COS and LOGICAL_NOT: one function applied to
every element.

Mirrors tensorflow/lite/micro/kernels/elementwise.cc (OpDataAbsRsqrt, GenericPrepare,
PrepareAbsRsqrt, AbsEval, SqrtEval, RsqrtEval, SquareEval, LogEval, SinEval, CosEval,
LogicalNotEval, AbsEvalQuantized, RsqrtEvalQuantized) and
GetInvSqrtQuantizedMultiplierExp (tensorflow/lite/kernels/internal/common.h). NEG is in
neg.py, EXP in exp.py.

Float32 is all that SQRT, SQUARE, LOG, SIN and COS take; they run one C++ expression per
element:

    SQRT    std::sqrt(x)      IEEE square root, correctly rounded - numpy's is the same
    SQUARE  x * x             one float32 product
    LOG     std::log(x)       the C library's logf, not correctly rounded (see below)
    RSQRT   1.f / std::sqrt(x)  two correctly rounded float32 steps
    ABS     std::abs(x)       clears the sign bit (of NaN too)
    SIN     std::sin(x)       the C library's sinf, as for LOG
    COS     std::cos(x)       the C library's cosf

LOGICAL_NOT takes bool only and writes !x.

LOG on the host is glibc's logf (the tflite-micro package links the system's
libm.so.6, logf@GLIBC_2.27). It is not correctly rounded - up to 0.82 ulp off, so not
only next to midpoints between floats, where libm.expf's trick of asking the C library
for just a few elements suffices: here logf() asks the C library for every element.
SIN and COS do the same with glibc's sinf and cosf (which are not correctly rounded
either; without a loadable C library, float64 sin / cos rounded once stands in). On a
board target (MicroInterpreter(..., target="cortex-m4f")) LOG is newlib's logf
(libm.newlib_logf); SIN and COS stay the host's - newlib's sinf and cosf are not
reproduced (docs/runtime_differences.md).

The quantized paths (ABS: int8, int16; RSQRT: int8, int16) work on value = q - zero_point:

    ABS    |value|, moved onto the output scale by MultiplyByQuantizedMultiplier with
           input_scale / output_scale (skipped when the two scales are equal), + output zp
    RSQRT  value == 0 gives the type's maximum; otherwise 1/sqrt(value) as a fixed-point
           multiplier (GetInvSqrtQuantizedMultiplierExp, Newton-Raphson in gemmlowp
           FixedPoint<int32, 3>), applied to 1 << 20, then moved onto the output scale with
           1 / (sqrt(input_scale) * output_scale), shifted back by 20, + output zp.
           A value below 0 stops the invoke: "Rsqrt is only defined for positive values".

int16 ABS of a tensor without quantization parameters is a plain integer abs (-32768 stays
-32768, as the C++ int16 cast wraps it). int16 quantized tensors need zero points of 0.
int16 RSQRT without quantization parameters is refused: TFLM runs it through the
quantized loop with the OpData multiplier never set, i.e. with whatever bytes the
arena held (the package's answers change from run to run).

The multipliers are computed in double, as the TFLM of the tflite-micro package
(0.dev20261023) does: input_scale / output_scale for ABS, 1 / (sqrt(input_scale) *
output_scale) for RSQRT, each float32 scale widened first. TFLM's source at commit 90b983c
(the tree tflm_edu builds firmware from) still divides the two floats in float32 for ABS
(`static_cast<double>(input_scale / output_scale)`) and takes sqrtf and the product in
float32 for RSQRT; the multipliers then differ in their low bits, and for some scales a
result moves by one step (tests/test_kernel_elementwise_math.py pins such scales). The
same source accepts only float32 and int8 in RSQRT's Prepare; the package runs int16 too,
with the int16 loop that is already in its Eval.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tflm_edu.kernels.fixedpoint import (INT32_MAX, count_leading_zeros_32, fixed_mul,
                                         fixed_sub, rescale, rounding_divide_by_pot, wrap32)
from tflm_edu.kernels.kernel_api import Registration, ensure, ensure_quantized, unsupported_type
from tflm_edu.kernels.libm import libm_each, libm_of
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule, inputs_then_output
from tflm_edu.kernels.quantization_util import multiply_by_quantized_multiplier, \
    quantize_multiplier
from tflm_edu.memory.layout import KERNELS, c_struct, m
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType, type_name
from tflm_edu.schema.options import AbsOptions, CosOptions, LogicalNotOptions, SquareOptions

INPUT, OUTPUT = 0, 0   # kElementwiseInputTensor, kElementwiseOutputTensor

QUANTIZED_DTYPES = {TensorType.INT8: np.int8, TensorType.INT16: np.int16}
ABS_TYPES = (TensorType.FLOAT32, TensorType.INT8, TensorType.INT16)      # IsAbsSupportedType
RSQRT_TYPES = (TensorType.FLOAT32, TensorType.INT8, TensorType.INT16)
FLOAT_ONLY = (TensorType.FLOAT32,)                                       # IsNumericSupportedType
BOOL_ONLY = (TensorType.BOOL,)                                           # IsLogicalSupportedType
RSQRT_SHIFT = 20   # kShift in RsqrtEvalQuantized: keeps 1/sqrt(value) an integer


@dataclass
class OpDataAbsRsqrt:
    multiplier: int = 0
    shift: int = 0
    input_offset: int = 0    # the input zero point (subtracted)
    output_offset: int = 0   # the output zero point (added)
    needs_rescale: bool = False
    input_quantized: bool = False   # input_quantization_type != kTfLiteNoQuantization
    input_type: int = TensorType.FLOAT32


# ----------------------------------------------------------------------------- prepare


def _check_io(context, node, supported):
    """GenericPrepare's checks: one input, one output, of one supported type. The output
    must hold the input's elements (TFLM writes as many as the input has)."""
    ensure(len(node.inputs) == 1, f"{node.op_name} takes 1 input, got {len(node.inputs)}")
    ensure(len(node.outputs) == 1, f"{node.op_name} has 1 output, got {len(node.outputs)}")
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    ensure(input is not None, f"{node.op_name} needs an input tensor")
    ensure(input.type == output.type, f"input is {type_name(input.type)} but the output is "
                                      f"{type_name(output.type)}")
    if input.type not in supported:
        raise unsupported_type(node, input)
    ensure(input.num_elements == output.num_elements,
           f"input {list(input.shape)} and output {list(output.shape)} differ in size")
    return input, output


def generic_prepare(context, node):
    _check_io(context, node, FLOAT_ONLY)


def logical_prepare(context, node):
    """GenericPrepare<IsLogicalSupportedType> (LOGICAL_NOT)."""
    _check_io(context, node, BOOL_ONLY)


def abs_init(context, node):
    return OpDataAbsRsqrt()


rsqrt_init = abs_init


def abs_prepare(context, node):
    data: OpDataAbsRsqrt = node.user_data
    input, output = _prepare_abs_rsqrt(data, context, node, ABS_TYPES)
    if data.input_quantized and data.needs_rescale:
        # SetAbsOutputMultiplier, in double (see the module docstring).
        data.multiplier, data.shift = quantize_multiplier(input.scale / output.scale)


def rsqrt_prepare(context, node):
    data: OpDataAbsRsqrt = node.user_data
    input, output = _prepare_abs_rsqrt(data, context, node, RSQRT_TYPES)
    # TFLM would run an int16 input without quantization parameters through the quantized
    # loop with a multiplier it never set - whatever the arena held before.
    ensure(input.type != TensorType.INT16 or data.input_quantized,
           "int16 RSQRT needs quantization parameters (TFLM would read an uninitialized "
           "multiplier)")
    if data.input_quantized:
        # SetRsqrtOutputMultiplier, in double (see the module docstring).
        data.multiplier, data.shift = quantize_multiplier(
            1.0 / (math.sqrt(input.scale) * output.scale))


def _prepare_abs_rsqrt(data, context, node, supported):
    """PrepareAbsRsqrt's common part: offsets and needs_rescale for quantized tensors (int8
    always; int16 when the input carries quantization parameters)."""
    input, output = _check_io(context, node, supported)
    data.input_type = input.type
    data.input_quantized = input.quantization is not None
    if input.type == TensorType.INT8 or (input.type == TensorType.INT16 and
                                         data.input_quantized):
        dtype = QUANTIZED_DTYPES[input.type]
        ensure_quantized(input, dtype)
        ensure_quantized(output, dtype)
        data.input_quantized = True
        data.input_offset, data.output_offset = input.zero_point, output.zero_point
        if input.type == TensorType.INT16:
            ensure(data.input_offset == 0 and data.output_offset == 0,
                   f"int16 {node.op_name} needs zero points of 0")
        data.needs_rescale = np.float32(input.scale) != np.float32(output.scale)
    return input, output


# ----------------------------------------------------------------------------- eval


def abs_eval(context, node):
    data: OpDataAbsRsqrt = node.user_data
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    x = input.data.reshape(-1)
    if data.input_type == TensorType.FLOAT32:
        result = np.abs(x)
    elif data.input_quantized:
        result = abs_quantized(x, data, QUANTIZED_DTYPES[data.input_type])
    else:
        result = np.abs(x)   # AbsHelper: std::abs, wrapped back to int16
    output.data.reshape(-1)[...] = result


def sqrt_eval(context, node):
    with np.errstate(invalid="ignore"):   # sqrt of a negative number is NaN here too
        _write(context, node, np.sqrt(_float_input(context, node)))


def square_eval(context, node):
    x = _float_input(context, node)
    with np.errstate(over="ignore"):      # and overflows to inf
        _write(context, node, np.multiply(x, x, dtype=np.float32))


def log_eval(context, node):
    _write(context, node, libm_of(context).logf(_float_input(context, node)))


def sin_eval(context, node):
    _write(context, node, libm_each("sinf", np.sin, _float_input(context, node)))


def cos_eval(context, node):
    _write(context, node, libm_each("cosf", np.cos, _float_input(context, node)))


def logical_not_eval(context, node):
    _write(context, node, np.logical_not(context.get_input(node, INPUT).data.reshape(-1)))


def rsqrt_eval(context, node):
    data: OpDataAbsRsqrt = node.user_data
    x = context.get_input(node, INPUT).data.reshape(-1)
    if data.input_type == TensorType.FLOAT32:
        with np.errstate(divide="ignore", invalid="ignore"):
            result = np.float32(1.0) / np.sqrt(x)
    else:
        negative = np.flatnonzero(x < data.input_offset)
        ensure(negative.size == 0,
               f"Rsqrt is only defined for positive values: element {negative[:1]} is "
               f"{x[negative[:1]]}, below the zero point {data.input_offset}")
        result = rsqrt_quantized(x, data, QUANTIZED_DTYPES[data.input_type])
    _write(context, node, result)


def _float_input(context, node):
    return context.get_input(node, INPUT).data.reshape(-1)


def _write(context, node, result):
    context.get_output(node, OUTPUT).data.reshape(-1)[...] = result


# ----------------------------------------------------------------------------- reference math


def abs_quantized(x, data: OpDataAbsRsqrt, dtype):
    """AbsEvalQuantized: |q - input_zp|, rescaled unless the scales are equal, + output zp,
    clamped to the type."""
    value = np.abs(x.astype(np.int64) - data.input_offset)
    if data.needs_rescale:
        value = multiply_by_quantized_multiplier(value, data.multiplier, data.shift)
    info = np.iinfo(dtype)
    return np.clip(value + data.output_offset, info.min, info.max).astype(dtype)


def rsqrt_quantized(x, data: OpDataAbsRsqrt, dtype):
    """RsqrtEvalQuantized for values q >= input_zp."""
    value = x.astype(np.int64) - data.input_offset
    inv_sqrt_multiplier, inv_sqrt_shift = inv_sqrt_quantized_multiplier_exp(value)
    scaled = multiply_by_quantized_multiplier(1, inv_sqrt_multiplier,
                                              inv_sqrt_shift + RSQRT_SHIFT)
    output = multiply_by_quantized_multiplier(scaled, data.multiplier,
                                              data.shift - RSQRT_SHIFT) + data.output_offset
    info = np.iinfo(dtype)
    output = np.clip(output, info.min, info.max)
    return np.where(value == 0, info.max, output).astype(dtype)


def inv_sqrt_quantized_multiplier_exp(value):
    """GetInvSqrtQuantizedMultiplierExp(value, kReverseShift) for int64 arrays of values
    >= 0: 1/sqrt(value) as (Q31 multiplier, left shift). Values 0 and 1 give
    (INT32_MAX, 0). The value is normalized into [2^27, 2^29) by an even left shift, then
    five Newton-Raphson steps x <- 1.5 x - (value/2) x^3 run in FixedPoint<int32, 3>."""
    value = np.asarray(value, np.int64)
    small = value <= 1
    x_in = np.where(small, 2, value)
    output_shift = np.full(x_in.shape, 11, np.int64)
    while np.any(x_in >= 1 << 29):          # only for values beyond int16's range
        big = x_in >= 1 << 29
        x_in = np.where(big, x_in // 4, x_in)
        output_shift += big
    max_left_shift_bits = count_leading_zeros_32(x_in) - 1
    left_shift_bit_pairs = max_left_shift_bits // 2 - 1
    output_shift -= left_shift_bit_pairs
    x_in = x_in << (2 * left_shift_bit_pairs)
    fixedpoint_input = x_in >> 1                                   # F3
    half_input = rounding_divide_by_pot(fixedpoint_input, 1)       # SaturatingRounding...<-1>
    half_three = (1 << 28) + (1 << 27)                             # 1.5 in F3
    x = np.full(x_in.shape, 1 << 28, np.int64)                     # F3::One()
    for _ in range(5):
        x3 = rescale(fixed_mul(fixed_mul(x, x), x), 9, 3)
        x = rescale(fixed_sub(fixed_mul(half_three, x), fixed_mul(half_input, x3)), 6, 3)
    multiplier = fixed_mul(x, 1518500250)                          # * sqrt(2) / 2
    negative = output_shift < 0
    multiplier = np.where(negative, wrap32(multiplier << np.where(negative, -output_shift, 0)),
                          multiplier)
    output_shift = np.where(negative, 0, output_shift)
    return np.where(small, INT32_MAX, multiplier), np.where(small, 0, -output_shift)


# ----------------------------------------------------------------------------- registration


def register_abs():
    return Registration("ABS", prepare=abs_prepare, eval=abs_eval, init=abs_init,
                        max_version=5)


def register_sqrt():
    return Registration("SQRT", prepare=generic_prepare, eval=sqrt_eval, max_version=2)


def register_rsqrt():
    return Registration("RSQRT", prepare=rsqrt_prepare, eval=rsqrt_eval, init=rsqrt_init,
                        max_version=3)


def register_square():
    return Registration("SQUARE", prepare=generic_prepare, eval=square_eval, max_version=1)


def register_log():
    return Registration("LOG", prepare=generic_prepare, eval=log_eval, max_version=2)


def register_sin():
    return Registration("SIN", prepare=generic_prepare, eval=sin_eval, max_version=1)


def register_cos():
    return Registration("COS", prepare=generic_prepare, eval=cos_eval, max_version=1)


def register_logical_not():
    return Registration("LOGICAL_NOT", prepare=logical_prepare, eval=logical_not_eval,
                        max_version=1)


# The C struct this file puts in the arena, member by member as TFLM declares it
# (tflm_edu.memory.layout lays it out for each target).
c_struct("OpDataAbsRsqrt", KERNELS + "elementwise.cc", m("multiplier", "int32"),
         m("shift", "int"), m("input_offset", "int"), m("output_offset", "int"),
         m("needs_rescale", "bool"), m("input_quantization_type", "enum"),
         m("input_type", "enum"))

SPECS = [
    OpSpec(Op.ABS, register_abs, AbsOptions, ABS_TYPES,
           QuantizerRule(int8_version=2, int16_version=3),
           ArenaRecipe(None, "OpDataAbsRsqrt", inputs_then_output(1))),
    OpSpec(Op.SQRT, register_sqrt, None, FLOAT_ONLY, None,
           ArenaRecipe(None, None, inputs_then_output(1))),
    OpSpec(Op.RSQRT, register_rsqrt, None, RSQRT_TYPES,
           QuantizerRule(int8_version=2),
           ArenaRecipe(None, "OpDataAbsRsqrt", inputs_then_output(1))),
    OpSpec(Op.SQUARE, register_square, SquareOptions, FLOAT_ONLY, None,
           ArenaRecipe(None, None, inputs_then_output(1))),
    OpSpec(Op.LOG, register_log, None, FLOAT_ONLY, None,
           ArenaRecipe(None, None, inputs_then_output(1))),
    OpSpec(Op.SIN, register_sin, None, FLOAT_ONLY, None,
           ArenaRecipe(None, None, inputs_then_output(1))),
    OpSpec(Op.COS, register_cos, CosOptions, FLOAT_ONLY, None,
           ArenaRecipe(None, None, inputs_then_output(1))),
    OpSpec(Op.LOGICAL_NOT, register_logical_not, LogicalNotOptions, BOOL_ONLY, None,
           ArenaRecipe(None, None, inputs_then_output(1))),
]
