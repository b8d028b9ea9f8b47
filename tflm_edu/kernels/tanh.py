"""TANH: output = tanh(input), element by element.

Mirrors tensorflow/lite/micro/kernels/tanh.cc (OpData, CalculateArithmeticOpData), with
the arithmetic of reference_ops::Tanh (float: std::tanh) and reference_integer_ops::Tanh
(int8 and int16). int8: gemmlowp's fixed-point tanh on the input rescaled to Q4.27, then a
rounding shift to 8 bits. int16: the sigmoid table of LOGISTIC read at twice the input
(tanh(x) = 2 sigmoid(2x) - 1), by linear interpolation.

The int8 output is always read as scale 1/128, zero point 0: byte -128 means -1.0 and
127 means 127/128. TFLM checks neither, so neither does this kernel: an output with
other quantization parameters gets the same bytes, read wrongly.

The int16 kernel needs zero points of 0 and an output scale of 2^-15, as LOGISTIC's; an
input scale of 2^-12 or 2^-11 is a power-of-two case (multiplier 3 << left_shift).

An int8 input has only 256 values and an int16 one 65,536, so prepare runs the reference
function once on all of them and eval looks the results up: the same results as the C++
per-element loop.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tflm_edu.kernels.kernel_api import Registration, ensure, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule
from tflm_edu.kernels.logistic import (SIGMOID_TABLE_UINT16, prepare_fixed_point_input,
                                       prepare_int16, scale_int16_input)
from tflm_edu.kernels.fixedpoint import (exp_on_negative_values, fixed_neg,
                                         one_minus_x_over_one_plus_x_for_x_in_0_1,
                                         rounding_divide_by_pot, select)
from tflm_edu.kernels.libm import libm_of, tanhf
from tflm_edu.kernels.quantization_util import multiply_by_quantized_multiplier
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType
from tflm_edu.memory.layout import KERNELS, c_struct, m

INPUT, OUTPUT = 0, 0
ALL_INT8 = np.arange(-128, 128, dtype=np.int8)
ALL_INT16 = np.arange(-32768, 32768, dtype=np.int16)

INPUT_INTEGER_BITS = 4  # the fixed-point input is Q4.27: [-16, 16)
OUTPUT_FRACTIONAL_BITS = 7  # Q0.31 -> a right shift by 24 leaves 1/128 steps


@dataclass
class OpData:
    input_zero_point: int = 0
    input_range_radius: int = 0
    input_multiplier: int = 0
    input_left_shift: int = 0
    # Not in TFLM: the kernel's output for each of the 256 int8 inputs (index x + 128) or
    # each of the 65,536 int16 inputs (index x + 32768). The C++ evaluates the same
    # function per element on every Eval.
    output_table: np.ndarray | None = None


def init(context, node):
    return OpData()


def prepare(context, node):
    data: OpData = node.user_data
    ensure(len(node.inputs) == 1 and len(node.outputs) == 1,
           f"tanh takes 1 input and 1 output, got {len(node.inputs)} and {len(node.outputs)}")
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    ensure(input.type == output.type, "input and output types differ")
    ensure(tuple(output.shape) == tuple(input.shape),
           f"output shape {list(output.shape)} differs from input shape {list(input.shape)}")
    if input.type == TensorType.FLOAT32:
        return
    if input.type == TensorType.INT16:
        data.input_zero_point = input.zero_point
        data.input_multiplier, data.input_left_shift = prepare_int16(
            input, output, pot_left_shifts=(0, 1), logf=libm_of(context).logf)
        data.output_table = tanh_int16(ALL_INT16, data.input_multiplier, data.input_left_shift)
        return
    if input.type != TensorType.INT8:
        raise unsupported_type(node, input)
    ensure(input.quantization is not None, "int8 tanh needs a quantized input tensor")
    data.input_zero_point = input.zero_point
    (data.input_multiplier, data.input_left_shift,
     data.input_range_radius) = prepare_fixed_point_input(input.scale, INPUT_INTEGER_BITS)
    data.output_table = tanh_int8(ALL_INT8, data.input_zero_point, data.input_range_radius,
                                    data.input_multiplier, data.input_left_shift)


def eval(context, node):
    data: OpData = node.user_data
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    if input.type == TensorType.FLOAT32:
        result = tanh_float(input.data, libm_of(context).tanhf)
    elif input.type == TensorType.INT16:
        result = data.output_table[input.data.astype(np.intp) + 32768]
    else:
        result = data.output_table[input.data.astype(np.intp) + 128]
    output.data[...] = result.reshape(output.data.shape)


# ----------------------------------------------------------------------------- reference math


def tanh_float(x, tanhf=tanhf):
    """reference_ops::Tanh (float): std::tanh, i.e. the C library's tanhf, element by
    element. tanhf is not correctly rounded (glibc 2.36's is up to 2 ulps from the exact
    value), so on the host the C library itself is called for every element (libm.tanhf;
    numpy's float64 tanh rounded to float32 stands in where no C math library can be
    loaded); `tanhf` may be another C library's (libm.newlib_tanhf)."""
    return tanhf(np.asarray(x, np.float32))


def tanh_int8(x, input_zero_point, input_range_radius, input_multiplier, input_left_shift):
    """reference_integer_ops::Tanh (int8)."""
    input = x.astype(np.int64) - input_zero_point
    input_in_q4 = multiply_by_quantized_multiplier(input, input_multiplier, input_left_shift)
    output_in_q0 = fixed_point_tanh(input_in_q4, INPUT_INTEGER_BITS)
    output_in_q24 = np.clip(rounding_divide_by_pot(output_in_q0, 31 - OUTPUT_FRACTIONAL_BITS),
                            -128, 127)
    output = np.where(input <= -input_range_radius, -128,
                      np.where(input >= input_range_radius, 127, output_in_q24))
    return output.astype(np.int8)


def tanh_int16(x, input_multiplier, input_left_shift):
    """reference_integer_ops::Tanh (int16): |input| (1/4096 steps of x * 3/4) picks a
    sigmoid table segment by its top bits (>> 8: twice the argument of LOGISTIC's >> 9)
    and interpolates with the low 8; 2 sigmoid - 1 then drops 8 of the extra bits with
    rounding. Beyond the table the result saturates to +-32767."""
    input_data = scale_int16_input(x, input_multiplier, input_left_shift)
    abs_input = np.abs(input_data)
    uh = np.minimum(abs_input >> 8, 254)
    ua, ub = SIGMOID_TABLE_UINT16[uh], SIGMOID_TABLE_UINT16[uh + 1]
    result = np.where(abs_input >> 8 >= 255, 0xFFFF << 8,
                      (ua << 8) + (abs_input & 0xFF) * (ub - ua))
    half = 1 << (14 + 9)
    result = np.where(input_data >= 0, result - half + (1 << 7), -result + half + (1 << 7) - 1)
    return (result >> 8).astype(np.int16)


def fixed_point_tanh(a, integer_bits: int):
    """gemmlowp::tanh: for n = -|a|, -tanh(n) = (1 - exp(2n)) / (1 + exp(2n)); the sign
    goes back on at the end and tanh(0) is exactly 0. Input Q(integer_bits), output Q0.31.
    exp(2n) reads the same raw value with one more integer bit (ExactMulByPot<1>)."""
    negative = a < 0
    n = select(negative, a, fixed_neg(a))
    t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(n, integer_bits + 1))
    return select(a == 0, 0, select(negative, fixed_neg(t), t))


def register_tanh():
    return Registration("TANH", prepare=prepare, eval=eval, init=init, max_version=3)


def arena_prepare(k):
    """TanhPrepare holds the input, then CalculateArithmeticOpData takes both."""
    k.temp_input(0)
    k.temp_input(0)
    k.temp_output(0)


# The C structs this kernel puts in the arena, member by member as TFLM declares them
# (tflm_edu.memory.layout lays them out for each target).
c_struct("OpDataTanh", KERNELS + "tanh.cc (OpData)", m("input_zero_point", "int32"),
         m("input_range_radius", "int32"), m("input_multiplier", "int32"),
         m("input_left_shift", "int"))

SPEC = OpSpec(Op.TANH, register_tanh, None,
              (TensorType.FLOAT32, TensorType.INT8, TensorType.INT16),
              QuantizerRule(int8_version=2, output="fixed", fixed_output=(1 / 128, 0),
                            int16_version=3, fixed_output_int16=(1 / 32768, 0)),
              ArenaRecipe(None, "OpDataTanh", arena_prepare))
