"""SQUARED_DIFFERENCE: output = (input1 - input2)^2, with numpy-style broadcasting.

Mirrors tensorflow/lite/micro/kernels/squared_difference.cc (OpData, PrepareQuantized,
SquaredDifferencePrepare, SquaredDifferenceEval, the SquaredDifference functions), with the
loops of reference_ops::BinaryFunction / BroadcastBinaryFunction4DSlow (float32, int32)
and reference_integer_ops::ElementWise / BroadcastBinaryFunction4DSlow (int8, int16) -
all of them numpy broadcasting (BroadcastBinaryOpSimple).

float32 and int32 compute `difference = a - b; difference * difference` in the type itself
(int32 wraps on the host). The quantized path is ADD's (add.py's docstring) with two
changes - the squared difference needs more head-room than a sum:

    1. input_val = q - zero_point, shifted left by left_shift: 7 for int8 (255^2 * 2^14
       still fits int32), 0 for int16
    2. scaled_i  = MultiplyByQuantizedMultiplierSmallerThanOneExp(shifted, input_i_multiplier)
       with input_i_multiplier = scale_i / (2 * max(scale1, scale2))
    3. raw_diff  = scaled1 - scaled2; squared = raw_diff * raw_diff
    4. output    = MultiplyByQuantizedMultiplier(squared, output_multiplier) + output zp,
       clamped to the type, with output_multiplier =
       (2 * max(scale1, scale2))^2 / (2^(2 * left_shift) * scale_out)  - it may exceed 1

The multipliers are computed in double from the float32 scales, as TFLM does. int16 needs
zero points of 0; int8 zero points must lie in the int8 range. SQUARED_DIFFERENCE has no
fused activation. Prepare here refuses, beyond TFLM's checks, an output whose type is not
the inputs' (TFLM's Eval would read the inputs as the output's type) or whose shape is not
their broadcast, and ranks above 6 (TFLM's RuntimeShape holds no more).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tflm_edu.kernels.add import QUANTIZED_DTYPES, binary_op_tensors, quantize_smaller_than_one, \
    rescale_inputs
from tflm_edu.kernels.fixedpoint import wrap32
from tflm_edu.kernels.kernel_api import Registration, ensure, ensure_quantized, unsupported_type
from tflm_edu.kernels.maximum_minimum import ensure_rank_at_most_6
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule, inputs_then_output
from tflm_edu.kernels.quantization_util import multiply_by_quantized_multiplier, \
    quantize_multiplier
from tflm_edu.kernels.reference.types import ArithmeticParams
from tflm_edu.memory.layout import KERNELS, TYPES, c_struct, m
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType
from tflm_edu.schema.options import SquaredDifferenceOptions

INPUT1, INPUT2, OUTPUT = 0, 1, 0   # kInputTensor1, kInputTensor2, kOutputTensor
SUPPORTED_TYPES = (TensorType.FLOAT32, TensorType.INT32, TensorType.INT8, TensorType.INT16)
LEFT_SHIFT = {TensorType.INT8: 7, TensorType.INT16: 0}


@dataclass
class OpData:
    """squared_difference.cc's OpData (declared for the arena as OpDataSquaredDifference)."""
    requires_broadcast: bool = False
    arithmetic_params: ArithmeticParams = field(default_factory=ArithmeticParams)


def init(context, node):
    return OpData()


def prepare(context, node):
    """SquaredDifferencePrepare."""
    data: OpData = node.user_data
    input1, input2, output = binary_op_tensors(context, node)
    if output.type not in SUPPORTED_TYPES:
        raise unsupported_type(node, output)
    ensure_rank_at_most_6(node, max(len(input1.shape), len(input2.shape), len(output.shape)))
    if output.type in QUANTIZED_DTYPES:
        dtype = QUANTIZED_DTYPES[output.type]
        for tensor in (input1, input2, output):
            ensure_quantized(tensor, dtype)
        if output.type == TensorType.INT16:
            ensure(input1.zero_point == input2.zero_point == output.zero_point == 0,
                   "int16 SQUARED_DIFFERENCE needs zero points of 0")
        prepare_quantized(data.arithmetic_params, input1, input2, output,
                          LEFT_SHIFT[output.type], dtype)
    data.requires_broadcast = tuple(input1.shape) != tuple(input2.shape)   # HaveSameShapes


def prepare_quantized(params: ArithmeticParams, input1, input2, output, left_shift, dtype):
    """PrepareQuantized: offsets, the left shift, the three multipliers (in double), the
    type's range as the clamp."""
    params.input1_offset = -input1.zero_point
    params.input2_offset = -input2.zero_point
    params.output_offset = output.zero_point
    params.left_shift = left_shift
    twice_max_input_scale = 2.0 * max(input1.scale, input2.scale)
    params.input1_multiplier, params.input1_shift = quantize_smaller_than_one(
        input1.scale / twice_max_input_scale, "input 1")
    params.input2_multiplier, params.input2_shift = quantize_smaller_than_one(
        input2.scale / twice_max_input_scale, "input 2")
    # (1 << 2 * left_shift) * scale is a float32 product in the C++: exact (a power of 2).
    real_output_multiplier = (twice_max_input_scale * twice_max_input_scale /
                              ((1 << 2 * left_shift) * output.scale))
    params.output_multiplier, params.output_shift = quantize_multiplier(real_output_multiplier)
    ensure(params.output_shift <= 30,
           f"the output rescale factor {real_output_multiplier:g} is too large: the output "
           f"scale {output.scale} is too small for the input scales")
    info = np.iinfo(dtype)
    params.quantized_activation_min, params.quantized_activation_max = int(info.min), \
        int(info.max)


def eval(context, node):
    """SquaredDifferenceEval: dispatch on the output's type."""
    data: OpData = node.user_data
    input1, input2 = context.get_input(node, INPUT1), context.get_input(node, INPUT2)
    output = context.get_output(node, OUTPUT)
    if output.type == TensorType.FLOAT32:
        result = squared_difference_float(input1.data, input2.data)
    elif output.type == TensorType.INT32:
        result = squared_difference_int32(input1.data, input2.data)
    else:
        result = squared_difference_quantized(input1.data, input2.data, data.arithmetic_params,
                                              QUANTIZED_DTYPES[output.type])
    output.data[...] = result.reshape(output.shape)


# ----------------------------------------------------------------------------- reference math


def squared_difference_float(x1, x2):
    """SquaredDifference<float>: the difference and its square, each a float32 operation."""
    with np.errstate(over="ignore", invalid="ignore"):   # inf and NaN are values here
        difference = np.subtract(x1, x2, dtype=np.float32)
        return np.multiply(difference, difference, dtype=np.float32)


def squared_difference_int32(x1, x2):
    """SquaredDifference<int32_t>: both steps wrap to 32 bits, as on the host."""
    difference = wrap32(x1.astype(np.int64) - x2.astype(np.int64))
    return wrap32(difference * difference).astype(np.int32)


def squared_difference_quantized(x1, x2, params: ArithmeticParams, dtype):
    """The quantized SquaredDifference: steps 1-4 of the module docstring. Each input is
    rescaled on its own shape, then the difference broadcasts."""
    scaled1, scaled2 = rescale_inputs(x1, x2, params)
    raw_diff = scaled1 - scaled2
    squared_raw_diff = wrap32(raw_diff * raw_diff)   # |raw_diff| <= 2^15: fits int32
    raw_output = multiply_by_quantized_multiplier(
        squared_raw_diff, params.output_multiplier, params.output_shift) + params.output_offset
    return np.clip(raw_output, params.quantized_activation_min,
                   params.quantized_activation_max).astype(dtype)


def register_squared_difference():
    return Registration("SQUARED_DIFFERENCE", prepare=prepare, eval=eval, init=init,
                        max_version=2)


# The C structs this kernel puts in the arena, member by member as TFLM declares them
# (tflm_edu.memory.layout lays them out for each target).
c_struct("ArithmeticParams", TYPES, m("broadcast_category", "uint8"),
         m("input1_offset", "int32"), m("input2_offset", "int32"),
         m("output_offset", "int32"), m("output_multiplier", "int32"),
         m("output_shift", "int"), m("left_shift", "int"),
         m("input1_multiplier", "int32"), m("input1_shift", "int"),
         m("input2_multiplier", "int32"), m("input2_shift", "int"),
         m("quantized_activation_min", "int32"), m("quantized_activation_max", "int32"),
         m("float_activation_min", "float"), m("float_activation_max", "float"),
         m("int64_activation_min", "int64"), m("int64_activation_max", "int64"),
         m("int16_activation_min", "int16"), m("int16_activation_max", "int16"),
         m("broadcast_shape", "int", 5))
c_struct("OpDataSquaredDifference", KERNELS + "squared_difference.cc (struct OpData)",
         m("requires_broadcast", "bool"), m("arithmetic_params", "ArithmeticParams"))

SPEC = OpSpec(Op.SQUARED_DIFFERENCE, register_squared_difference, SquaredDifferenceOptions,
              SUPPORTED_TYPES,
              QuantizerRule(int8_version=2),
              ArenaRecipe(None, "OpDataSquaredDifference", inputs_then_output(2)))
