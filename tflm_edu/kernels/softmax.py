"""SOFTMAX: output[c] = exp(beta * (x[c] - max)) / sum over the row, along the last axis.

Mirrors tensorflow/lite/micro/kernels/softmax.cc and softmax_common.cc
(CalculateSoftmaxParams), with the arithmetic of reference_ops::Softmax: float32, int8
input to int8 or int16 output, and reference_ops::SoftmaxInt16 (int16 to int16).

The int8 kernel uses no float at all: it is gemmlowp's fixed-point exp and reciprocal
(kernels/fixedpoint.py: exp_on_negative_values, GetReciprocal), with the same wrap-around
and saturation as the C++. The int16 kernel interpolates in two 513-entry tables built at
prepare (LUTPopulate / LUTLookup in quantization_util.py).

The int8 output of a softmax always has scale 1/256 and zero point -128: the byte -128
means probability 0 and 127 means 255/256.
"""
from __future__ import annotations

import ctypes
from dataclasses import dataclass

import numpy as np

from tflm_edu.errors import ModelError
from tflm_edu.kernels.kernel_api import Registration, ensure, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule
from tflm_edu.kernels.fixedpoint import (count_leading_zeros_32, exp_on_negative_values,
                                         fixed_mul, get_reciprocal, rescale,
                                         rounding_divide_by_pot, wrap32)
from tflm_edu.kernels.libm import GLIBC, expf, libm_function, libm_of
from tflm_edu.kernels.quantization_util import (calculate_input_radius, lut_lookup_int16,
                                                lut_populate_int16,
                                                multiply_by_quantized_multiplier,
                                                multiply_by_quantized_multiplier_greater_than_one,
                                                quantize_multiplier)
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType
from tflm_edu.schema.options import SoftmaxOptions
from tflm_edu.memory.layout import BUILTIN, TYPES, c_struct, m

INPUT, OUTPUT = 0, 0

# The exp() input is Q5.26: differences down to -32 (after beta) are representable.
SCALED_DIFF_INTEGER_BITS = 5
# The sum of the exps is Q12.19: up to 4096 terms of at most 1.0.
ACCUMULATION_INTEGER_BITS = 12
# An int16 lookup table: 512 segments of 128 int16 steps, plus the end of the last one.
INT16_LUT_SIZE = 513


@dataclass
class SoftmaxParams:
    beta: float = 0.0  # float path
    input_multiplier: int = 0  # int8 path: beta * input_scale as a Q31 multiplier ...
    input_left_shift: int = 0  # ... and its left shift
    diff_min: int = 0  # int8 path: x - max below this contributes exactly nothing
    # Not in TFLM: exp(beta * input_scale * diff) in Q0.31 for each of the 256 possible
    # int8 differences diff = x - max (index -diff), 0 where diff < diff_min. The C++
    # computes it per element on every Eval; it depends only on the difference.
    exp_table: np.ndarray | None = None
    exp_lut: np.ndarray | None = None  # int16 path: exp(x) for x in [-10, 0], 513 entries
    one_over_one_plus_x_lut: np.ndarray | None = None  # int16 path: 1/(1+x), x in [0, 1]


def init(context, node):
    return SoftmaxParams()


def prepare(context, node):
    data: SoftmaxParams = node.user_data
    params = node.builtin_data or SoftmaxOptions()
    ensure(len(node.inputs) == 1 and len(node.outputs) == 1,
           f"softmax takes 1 input and 1 output, got {len(node.inputs)} and "
           f"{len(node.outputs)}")
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    ensure(len(input.shape) >= 1, "softmax needs an input of rank 1 or more")
    ensure(tuple(output.shape) == tuple(input.shape),
           f"output shape {list(output.shape)} differs from input shape {list(input.shape)}")
    if input.type == TensorType.FLOAT32:
        ensure(output.type == TensorType.FLOAT32, "float32 softmax needs a float32 output")
        data.beta = float(params.beta)
        return
    if input.type == TensorType.INT16:
        _prepare_int16(context, data, params, input, output)
        return
    if input.type != TensorType.INT8:
        raise unsupported_type(node, input)
    _prepare_int8(data, params, input, output)


def _prepare_int8(data, params, input, output):
    ensure(input.quantization is not None and output.quantization is not None,
           "int8 softmax needs quantized input and output tensors")
    if output.type == TensorType.INT16:
        ensure(output.zero_point == -32768,
               f"an int16 softmax output must have zero point -32768, got {output.zero_point}")
        ensure(abs(output.scale - 1.0 / 65536) <= 0.001 / 65536,
               f"an int16 softmax output must have scale 1/65536, got {output.scale}")
    else:
        ensure(output.type == TensorType.INT8, "int8 softmax needs an int8 or int16 output")
        ensure(output.zero_point == -128,
               f"an int8 softmax output must have zero point -128, got {output.zero_point}")
        ensure(np.float32(output.scale) == np.float32(1.0 / 256),
               f"an int8 softmax output must have scale 1/256, got {output.scale}")
    data.input_multiplier, data.input_left_shift = preprocess_softmax_scaling(
        float(np.float32(params.beta)), input.scale, SCALED_DIFF_INTEGER_BITS)
    data.diff_min = -calculate_input_radius(SCALED_DIFF_INTEGER_BITS, data.input_left_shift)
    data.exp_table = exp_of_differences(np.arange(0, -256, -1, dtype=np.int64),
                                        data.input_multiplier, data.input_left_shift,
                                        data.diff_min)


def _prepare_int16(context, data, params, input, output):
    ensure(output.type == TensorType.INT16, "int16 softmax needs an int16 output")
    ensure(input.quantization is not None and output.quantization is not None,
           "int16 softmax needs quantized input and output tensors")
    ensure(input.zero_point == 0 and output.zero_point == 0,
           f"int16 softmax needs zero points 0, got input {input.zero_point} and output "
           f"{output.zero_point}")
    ensure(abs(np.float32(output.scale) - np.float32(1.0 / 32768)) <= np.float32(0.001 / 32768),
           f"an int16 softmax output must have scale 1/32768, got {output.scale}")
    # exp on [-10, 0] and 1 / (1 + x) on [0, 1], both sampled over the whole int16 range.
    table_range = np.float32(65535)
    data.exp_lut = lut_populate_int16(np.float32(10.0) / table_range, 32767,
                                      np.float32(2.0) / table_range, 0, libm_of(context).expf)
    data.one_over_one_plus_x_lut = lut_populate_int16(
        np.float32(1.0) / table_range, -32768, np.float32(2.0) / table_range, 0,
        lambda value: np.float32(1.0) / (np.float32(1.0) + value))
    # Scale a difference so that [-65535, 0] covers [-10, 0].
    input_scale_beta_rescale = float(input.scale) * float(params.beta) / (10.0 / 65535.0)
    data.input_multiplier, data.input_left_shift = quantize_multiplier(input_scale_beta_rescale)


def preprocess_softmax_scaling(beta, input_scale, input_integer_bits):
    """PreprocessSoftmaxScaling: beta * input_scale as a multiplier that turns an input
    difference into Q(input_integer_bits).(31 - input_integer_bits) fixed point. Capped
    at 2^31 - 1: beyond that any non-zero difference gives exp() ~ 0 anyway."""
    real_multiplier = min(beta * input_scale * (1 << (31 - input_integer_bits)),
                          float((1 << 31) - 1))
    # QuantizeMultiplierGreaterThanOne: TFLM aborts (TFLITE_CHECK) below 1.
    ensure(real_multiplier > 1.0,
           f"beta * input scale = {beta * input_scale:g} is too small for the fixed-point "
           f"softmax (it must exceed 2^-{31 - input_integer_bits})")
    return quantize_multiplier(real_multiplier)


def eval(context, node):
    data: SoftmaxParams = node.user_data
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    if input.num_elements == 0:
        return
    x = input.data.reshape(-1, input.shape[-1])
    if input.type == TensorType.FLOAT32:
        result = softmax_float(x, data.beta, libm_of(context).expf)
    elif input.type == TensorType.INT8:
        result = softmax_quantized(x, data.exp_table, output.data.dtype)
    elif input.type == TensorType.INT16:
        result = softmax_int16(x, data.input_multiplier, data.input_left_shift, data.exp_lut,
                               data.one_over_one_plus_x_lut)
    output.data.reshape(result.shape)[...] = result


# ----------------------------------------------------------------------------- reference math


def softmax_float(x, beta, expf=expf):
    """reference_ops::Softmax (float), row by row: max (NaN never wins: std::max keeps the
    running max), exp_c = expf((x - max) * beta) in float32, sum of exp_c in order,
    then exp_c / sum. `expf` is the C library's (libm.py: the host's by default)."""
    max_in_row = np.max(np.where(np.isnan(x), np.float32(np.finfo(np.float32).min), x),
                        axis=1, initial=np.finfo(np.float32).min, keepdims=True)
    scaled = (x - max_in_row) * np.float32(beta)
    exp_c = expf(scaled)
    # A float32 running sum from 0.0f, left to right: cumsum adds in exactly that order.
    total = np.cumsum(exp_c, axis=1, dtype=np.float32)[:, -1:]
    return exp_c / total


def exp_of_differences(input_diff, input_beta_multiplier, input_beta_left_shift, diff_min):
    """The first half of reference_ops::Softmax<int8_t, OutputT>, for differences
    input_diff = x - max_in_row (<= 0): rescale by beta * input_scale into Q5.26
    (MultiplyByQuantizedMultiplierGreaterThanOne), then exp_on_negative_values -> Q0.31.
    Differences below diff_min are skipped by the C++ (they would be ~0 anyway): 0 here,
    which the rest of the kernel turns into exactly what the C++ writes for them."""
    input_diff_rescaled = multiply_by_quantized_multiplier_greater_than_one(
        input_diff, input_beta_multiplier, input_beta_left_shift)
    exp_in_0 = exp_on_negative_values(input_diff_rescaled, SCALED_DIFF_INTEGER_BITS)
    return np.where(input_diff >= diff_min, exp_in_0, 0)


def softmax_quantized(x, exp_table, out_dtype):
    """reference_ops::Softmax<int8_t, OutputT>, vectorized over rows:
    1. exp_in_0 = exp(beta * input_scale * (x - max_in_row)) in Q0.31, from exp_table;
    2. sum_of_exps in Q12.19 (each exp_in_0 rounded to 19 fraction bits, int32 adds);
    3. its reciprocal 1 / sum = shifted_scale * 2^-num_bits_over_unit (GetReciprocal);
    4. out = RoundingDivideByPOT(shifted_scale * exp_in_0, exponent) + output min, clamped,
       where exponent turns the Q0.31 probability into 8 (or 16) bits.
    A skipped element (exp 0) gives 0 + output min: the C++ writes output min directly."""
    out_min, out_max = int(np.iinfo(out_dtype).min), int(np.iinfo(out_dtype).max)
    x = x.astype(np.int64)
    max_in_row = np.max(x, axis=1, keepdims=True, initial=-128)
    exp_in_0 = exp_table[max_in_row - x]
    exp_in_accum = rescale(exp_in_0, 0, ACCUMULATION_INTEGER_BITS)
    sum_of_exps = wrap32(np.sum(exp_in_accum, axis=1))
    shifted_scale, num_bits_over_unit = reciprocal_per_row(sum_of_exps)
    exponent = num_bits_over_unit + 31 - 8 * np.dtype(out_dtype).itemsize
    check_exponent(np.any((exponent < 0) | (exponent > 31)))
    unsat_output = rounding_divide_by_pot(fixed_mul(shifted_scale[:, None], exp_in_0),
                                          exponent[:, None])
    return np.clip(unsat_output + out_min, out_min, out_max).astype(out_dtype)


def check_exponent(out_of_range) -> None:
    """TFLITE_CHECK(0 <= exponent && exponent <= 31): TFLM aborts. For an int8 output that
    happens when the exps of a row add up to 512 or more (512 equal maxima)."""
    if out_of_range:
        raise ModelError("int8 softmax: a row's sum of exps reached 512, which TFLM's "
                         "reference kernel does not handle (it aborts on TFLITE_CHECK)")


def softmax_float_row(row, beta, expf_c):
    """softmax_float for one short row (Python floats holding float32 values), element by
    element as the C++ loops go, calling the C library's expf itself. Each float32
    operation is done in double and rounded to float32 once, which gives the float32
    result exactly (a double has more than twice float32's precision): ctypes rounds
    expf's argument, to_float32 the running sum, and storing the quotients into the
    float32 output rounds them. std::max keeps the running max when the value is NaN."""
    max_in_row = FLOAT32_LOWEST
    for v in row:
        if max_in_row < v:
            max_in_row = v
    if beta == 1.0:
        exps = [expf_c(v - max_in_row) for v in row]
    else:
        exps = [expf_c(to_float32(v - max_in_row) * beta) for v in row]
    total = 0.0
    for e in exps:
        total = to_float32(total + e)
    if total == 0.0:          # every exp is 0: 0.0f / 0.0f, the default NaN (Python raises)
        return [DEFAULT_NAN] * len(exps)
    return [e / total for e in exps]


def to_float32(x: float, c_float=ctypes.c_float) -> float:
    """A Python float rounded to the nearest float32 (inf past the largest)."""
    return c_float(x).value


FLOAT32_LOWEST = float(np.finfo(np.float32).min)
# What x86 computes for 0.0f / 0.0f (the "real indefinite" NaN, sign bit set).
DEFAULT_NAN = float(np.array(0xFFC00000, np.uint32).view(np.float32))


def softmax_quantized_row(row, exp_table, out_bits, out_min, out_max):
    """softmax_quantized for one short row of Python ints, element by element as the C++
    loops go (the fixed-point functions take ints too): for a handful of values this is
    several times quicker than numpy's per-call overhead. exp_table is a list here."""
    max_in_row = max(row, default=-128)
    exps = [exp_table[max_in_row - v] for v in row]
    sum_of_exps = wrap32(sum(rescale(e, 0, ACCUMULATION_INTEGER_BITS) for e in exps))
    shifted_scale, num_bits_over_unit = get_reciprocal(sum_of_exps, ACCUMULATION_INTEGER_BITS)
    exponent = num_bits_over_unit + 31 - out_bits
    check_exponent(not 0 <= exponent <= 31)
    return [min(out_max, max(out_min, rounding_divide_by_pot(fixed_mul(shifted_scale, e),
                                                             exponent) + out_min))
            for e in exps]


def reciprocal_per_row(sum_of_exps):
    """GetReciprocal of every row's sum. A softmax usually has one row (or a few): then
    plain Python integers are many times faster than numpy on arrays of length 1."""
    if len(sum_of_exps) > 16:
        return get_reciprocal(sum_of_exps, ACCUMULATION_INTEGER_BITS)
    pairs = [get_reciprocal(int(s), ACCUMULATION_INTEGER_BITS) for s in sum_of_exps]
    return (np.array([scale for scale, _ in pairs], np.int64),
            np.array([bits for _, bits in pairs], np.int64))


def softmax_int16(x, input_multiplier, input_left_shift, exp_lut, one_over_one_plus_x_lut):
    """reference_ops::SoftmaxInt16: exp and the reciprocal come from interpolated lookup
    tables. Differences are scaled so [-65535, 0] maps to [-10, 0], recentred to int16
    and looked up; the row sum is normalized to 16 significant bits and its reciprocal
    looked up in the 1/(1+x) table; output = exp * reciprocal, rounded and shifted back."""
    x = x.astype(np.int64)
    max_in_row = np.max(x, axis=1, keepdims=True, initial=-32768)
    scaled_diff = multiply_by_quantized_multiplier(x - max_in_row, input_multiplier,
                                                   input_left_shift)
    exp_results = lut_lookup_int16(np.clip(scaled_diff + 32767, -32768, 32767), exp_lut)
    sum_of_exps = wrap32(np.sum(exp_results, axis=1, keepdims=True))  # Q16.15
    headroom_plus_one = count_leading_zeros_32(sum_of_exps)
    shifted_sum = wrap32(((sum_of_exps << (headroom_plus_one - 1)) + (1 << 13)) >> 14)
    # The table holds 1 / (1 + x): look up x = sum - 1, recentred from [0, 65535].
    sym_shifted_sum = np.clip(shifted_sum - ((1 << 15) + (1 << 16)), -32768, 32767)
    reciprocal_scale = lut_lookup_int16(sym_shifted_sum, one_over_one_plus_x_lut)
    right_shift = 31 - headroom_plus_one
    result = wrap32((exp_results * reciprocal_scale + (1 << (right_shift - 1))) >> right_shift)
    return np.clip(result, 0, 32767).astype(np.int16)



def bind(context, node):
    """The invoke plan's Eval (Registration.bind) for a short softmax (a classifier's last
    op: a few scores): softmax_float_row on float32 scalars, softmax_quantized_row on
    Python ints for int8. Others run eval - and so does a float softmax on a board target,
    as softmax_float_row calls the host's expf."""
    data: SoftmaxParams = node.user_data
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    if not 0 < input.num_elements <= FEW_ELEMENTS:
        return None
    x = input.data.reshape(-1, input.shape[-1])
    out = output.data.reshape(x.shape)
    if input.type == TensorType.FLOAT32 and libm_of(context) is GLIBC \
            and libm_function("expf") is not None:
        beta, expf_c = float(np.float32(data.beta)), libm_function("expf")

        if x.shape[0] == 1:          # one row: a classifier's scores
            row, out_row = x[0], out[0]

            def run_float():
                out_row[...] = softmax_float_row(row.tolist(), beta, expf_c)
            return run_float

        def run_float():
            out[...] = [softmax_float_row(row, beta, expf_c) for row in x.tolist()]
        return run_float
    if input.type != TensorType.INT8:
        return None
    table = data.exp_table.tolist()
    info = np.iinfo(out.dtype)
    out_bits, out_min, out_max = 8 * out.dtype.itemsize, int(info.min), int(info.max)

    def run():
        out[...] = [softmax_quantized_row(row, table, out_bits, out_min, out_max)
                    for row in x.tolist()]
    return run


# Up to this many elements the Python-int softmax beats numpy.
FEW_ELEMENTS = 32


def register_softmax():
    return Registration("SOFTMAX", prepare=prepare, eval=eval, init=init, max_version=3,
                        bind=bind)


def arena_prepare(k):
    """SoftmaxPrepare + CalculateSoftmaxParams: two int16 lookup tables for int16 input."""
    k.temp_input(0)
    k.temp_output(0)
    if k.input(0).type == TensorType.INT16:
        lut_bytes = 2 * INT16_LUT_SIZE     # sizeof(int16_t) * LUTSize<int16_t>()
        k.persistent(lut_bytes, "int16 exp lookup table")
        k.persistent(lut_bytes, "int16 1/(1+x) lookup table")


# The C structs this kernel puts in the arena, member by member as TFLM declares them
# (tflm_edu.memory.layout lays them out for each target).
c_struct("TfLiteSoftmaxParams", BUILTIN, m("beta", "float"))
c_struct("SoftmaxParams", TYPES, m("beta", "double"), m("input_multiplier", "int32"),
         m("input_left_shift", "int32"), m("reverse_scaling_divisor", "int32"),
         m("reverse_scaling_right_shift", "int32"), m("diff_min", "int"),
         m("zero_point", "int32"), m("scale", "float"), m("table", "ptr"), m("exp_lut", "ptr"),
         m("one_over_one_plus_x_lut", "ptr"), m("uint8_table1", "ptr"),
         m("uint8_table2", "ptr"))

SPEC = OpSpec(Op.SOFTMAX, register_softmax, SoftmaxOptions,
              (TensorType.FLOAT32, TensorType.INT8, TensorType.INT16),
              QuantizerRule(int8_version=2, output="fixed", fixed_output=(1 / 256, -128),
                            int16_version=3, fixed_output_int16=(1 / 32768, 0)),
              ArenaRecipe("TfLiteSoftmaxParams", "SoftmaxParams", arena_prepare))
