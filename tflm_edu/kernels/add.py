"""ADD: output = activation(input1 + input2), with numpy-style broadcasting.

Mirrors tensorflow/lite/micro/kernels/add.cc and add_common.cc (OpDataAdd,
CalculateOpDataAdd), with the arithmetic of reference_ops::Add / BroadcastAdd4DSlow
(float32, int32) and reference_integer_ops::Add / BroadcastAdd4DSlow (int8; int16 takes
the same general-scale path, AddGeneralParamScale).

Quantized ADD cannot add the stored integers directly: the two inputs have different
scales. TFLM brings both onto a common scale first:

    1. input_val = q + input_offset                      (offset = -zero_point)
    2. shifted   = input_val * 2^left_shift              (left_shift 20 for int8, 15 for int16:
                                                          head-room so the rescaling keeps
                                                          the fractional bits)
    3. scaled    = MultiplyByQuantizedMultiplierSmallerThanOneExp(shifted, input_multiplier)
                   where input_multiplier = scale_i / (2 * max(scale1, scale2))  (<= 0.5)
    4. raw_sum   = scaled1 + scaled2
    5. output    = MultiplyByQuantizedMultiplierSmallerThanOneExp(raw_sum, output_multiplier)
                   + output_offset, clamped to the fused activation's range
                   where output_multiplier = 2 * max(scale1, scale2) / (2^left_shift * scale_out)

Broadcasting: TFLM's broadcast loop (BroadcastBinaryOpSimple) follows numpy's rules up
to rank 8 - a dimension of 1 repeats - so numpy broadcasting gives the same elements in
the same order. Prepare checks what TFLM leaves to debug asserts: the two shapes must be
broadcast-compatible and the output must have the broadcast shape. And no tensor may have
a rank above 6: Eval hands each shape over in a RuntimeShape, which holds 6 dimensions
(kMaxSmallSize) and is overrun by more - the tflite-micro package then aborts, or returns
misplaced values for rank-8 ADD, SUB and MUL (found by tests/fuzz_differential.py).

The helpers under "shared with SUB" and "shared with MUL, SUB" are used by sub.py and mul.py.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tflm_edu.errors import ModelError
from tflm_edu.kernels.fixedpoint import wrap32
from tflm_edu.kernels.quantization_util import (activation_function_with_min_max,
                                                calculate_activation_range_float,
                                                calculate_activation_range_quantized)
from tflm_edu.kernels.kernel_api import Registration, ensure, ensure_quantized, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule, inputs_then_output
from tflm_edu.kernels.quantization_util import (
    multiply_by_quantized_multiplier_smaller_than_one_exp, quantize_multiplier)
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType
from tflm_edu.schema.options import AddOptions
from tflm_edu.memory.layout import BUILTIN, KERNELS, c_struct, m

INPUT1, INPUT2, OUTPUT = 0, 1, 0
MAX_RANK = 6  # RuntimeShape::kMaxSmallSize

QUANTIZED_DTYPES = {TensorType.INT8: np.int8, TensorType.INT16: np.int16}


@dataclass
class OpDataAdd:
    requires_broadcast: bool = False
    # general quantized path (int8 and int16)
    input1_shift: int = 0
    input2_shift: int = 0
    output_activation_min: int = 0
    output_activation_max: int = 0
    input1_multiplier: int = 0
    input2_multiplier: int = 0
    output_multiplier: int = 0
    output_shift: int = 0
    left_shift: int = 0
    input1_offset: int = 0
    input2_offset: int = 0
    output_offset: int = 0
    # float32
    output_activation_min_f32: float = 0.0
    output_activation_max_f32: float = 0.0


def init(context, node):
    return OpDataAdd()


def prepare(context, node):
    data: OpDataAdd = node.user_data
    params = node.builtin_data or AddOptions()
    input1, input2, output = binary_op_tensors(context, node)
    data.requires_broadcast = tuple(input1.shape) != tuple(input2.shape)

    if output.type in QUANTIZED_DTYPES:
        prepare_quantized(data, params, input1, input2, output)
    elif output.type == TensorType.FLOAT32:
        data.output_activation_min_f32, data.output_activation_max_f32 = \
            calculate_activation_range_float(params.fused_activation_function)
    elif output.type == TensorType.INT32:
        # Only plain int32 addition: TFLM refuses quantized int32 inputs.
        ensure(input1.quantization is None and input2.quantization is None,
               "int32 ADD does not support quantized inputs")
    else:
        raise unsupported_type(node, output)


def eval(context, node):
    data: OpDataAdd = node.user_data
    input1, input2 = context.get_input(node, INPUT1), context.get_input(node, INPUT2)
    output = context.get_output(node, OUTPUT)
    if output.type == TensorType.FLOAT32:
        result = add_float(input1.data, input2.data, data.output_activation_min_f32,
                           data.output_activation_max_f32)
    elif output.type == TensorType.INT32:
        result = add_int32(input1.data, input2.data)
    else:
        result = add_quantized(input1.data, input2.data, data, QUANTIZED_DTYPES[output.type])
    output.data[...] = result.reshape(output.shape)


# ----------------------------------------------------------------------------- reference math


def add_float(x1, x2, act_min, act_max):
    """reference_ops::Add / BroadcastAdd4DSlow<float>: one float32 sum per element,
    then min(max(sum, act_min), act_max)."""
    with np.errstate(over="ignore", invalid="ignore"):  # inf and NaN are values here
        total = np.add(x1, x2, dtype=np.float32)
    return activation_function_with_min_max(total, act_min, act_max)


def add_int32(x1, x2):
    """reference_ops::Add<int32_t>: a wrapping 32-bit sum. TFLM passes the full int32
    range as the activation range, so a fused activation has no effect on int32 ADD."""
    return wrap32(x1.astype(np.int64) + x2.astype(np.int64)).astype(np.int32)


def add_quantized(x1, x2, data: OpDataAdd, dtype):
    """reference_integer_ops::AddFunc over every (broadcast) pair. Each input is rescaled
    on its own shape first - it depends on that input only - then the sums broadcast."""
    scaled1, scaled2 = rescale_inputs(x1, x2, data)
    return rescale_output(scaled1 + scaled2, data, dtype)


def count_macs(context, node):
    return context.get_output(node, OUTPUT).num_elements


def register_add():
    return Registration("ADD", prepare=prepare, eval=eval, init=init, max_version=6,
                        count_macs=count_macs)


# ----------------------------------------------------------------------------- shared with SUB


def prepare_quantized(data, params, input1, input2, output):
    """The quantized branch of CalculateOpDataAdd (and of CalculateOpDataSub): offsets,
    left shift, the three multipliers, the activation range."""
    dtype = QUANTIZED_DTYPES[output.type]
    for tensor in (input1, input2, output):
        ensure_quantized(tensor, dtype)
    data.input1_offset = -input1.zero_point
    data.input2_offset = -input2.zero_point
    data.output_offset = output.zero_point
    data.left_shift = 15 if output.type == TensorType.INT16 else 20
    # In double, as the C++: the float32 scales widen exactly.
    twice_max_input_scale = 2.0 * max(input1.scale, input2.scale)
    real_input1_multiplier = input1.scale / twice_max_input_scale
    real_input2_multiplier = input2.scale / twice_max_input_scale
    real_output_multiplier = twice_max_input_scale / ((1 << data.left_shift) * output.scale)
    data.input1_multiplier, data.input1_shift = \
        quantize_smaller_than_one(real_input1_multiplier, "input 1")
    data.input2_multiplier, data.input2_shift = \
        quantize_smaller_than_one(real_input2_multiplier, "input 2")
    data.output_multiplier, data.output_shift = \
        quantize_smaller_than_one(real_output_multiplier, "output")
    data.output_activation_min, data.output_activation_max = calculate_activation_range_quantized(
        params.fused_activation_function, output.scale, output.zero_point, dtype)


def rescale_inputs(x1, x2, data):
    """Steps 1-3: each input onto the common scale (offset, shift left by left_shift,
    rescale), each on its own shape - the result depends on that input only."""
    return (_rescale_input(x1, data.input1_offset, data.left_shift, data.input1_multiplier,
                           data.input1_shift),
            _rescale_input(x2, data.input2_offset, data.left_shift, data.input2_multiplier,
                           data.input2_shift))


def _rescale_input(x, offset, left_shift, multiplier, shift):
    input_val = x.astype(np.int64) + offset
    shifted_input_val = input_val * (1 << left_shift)  # fits int32: |input_val| <= 2^16
    return multiply_by_quantized_multiplier_smaller_than_one_exp(
        shifted_input_val, multiplier, shift)


def rescale_output(raw, data, dtype):
    """Step 5: the combined value onto the output's scale, offset, clamped."""
    raw_output = multiply_by_quantized_multiplier_smaller_than_one_exp(
        raw, data.output_multiplier, data.output_shift) + data.output_offset
    return np.clip(raw_output, data.output_activation_min,
                   data.output_activation_max).astype(dtype)


def quantize_smaller_than_one(real_multiplier: float, what: str) -> tuple[int, int]:
    """QuantizeMultiplierSmallerThanOneExp, whose CHECKs abort TFLM: here a ModelError."""
    if not 0.0 < real_multiplier < 1.0:
        raise ModelError(f"the {what} rescale factor {real_multiplier:g} must lie in (0, 1): "
                         f"the output scale is too small for the input scales")
    multiplier, shift = quantize_multiplier(real_multiplier)
    if shift > 0:
        raise ModelError(f"the {what} rescale factor {real_multiplier:g} rounds up to 1")
    return multiplier, shift


# ----------------------------------------------------------------------------- shared with MUL, SUB


def binary_op_tensors(context, node):
    """Prepare's common part for an elementwise binary op: two inputs and one output, of
    one type, with shapes that broadcast to the output's. Returns (input1, input2, output)."""
    ensure(len(node.inputs) == 2, f"{node.op_name} takes 2 inputs, got {len(node.inputs)}")
    ensure(len(node.outputs) == 1, f"{node.op_name} has 1 output, got {len(node.outputs)}")
    input1, input2 = context.get_input(node, INPUT1), context.get_input(node, INPUT2)
    output = context.get_output(node, OUTPUT)
    ensure(input1 is not None and input2 is not None, f"{node.op_name} needs both inputs")
    check_same_types(node, input1, input2, output)
    rank = max(len(input1.shape), len(input2.shape), len(output.shape))
    ensure(rank <= MAX_RANK, f"{node.op_name} handles tensors up to rank {MAX_RANK} (TFLM's "
                             f"RuntimeShape holds no more); a tensor here has rank {rank}")
    check_broadcast_shapes(input1, input2, output)
    return input1, input2, output


def check_same_types(node, input1, input2, output):
    ensure(input1.type == input2.type == output.type,
           f"{node.op_name} needs inputs and output of one type; got "
           f"{TensorType(input1.type).name}, {TensorType(input2.type).name} -> "
           f"{TensorType(output.type).name}")


def check_broadcast_shapes(input1, input2, output):
    """The two input shapes must broadcast (numpy's rules: equal, or one of them 1), and
    the output must have the broadcast shape. Leading 1s do not count: TFLM extends every
    shape to the largest rank with leading 1s before comparing."""
    try:
        shape = np.broadcast_shapes(tuple(input1.shape), tuple(input2.shape))
    except ValueError:
        raise ModelError(f"input shapes {list(input1.shape)} and {list(input2.shape)} do not "
                         f"broadcast (each dimension must match or be 1)") from None
    ensure(_strip_leading_ones(shape) == _strip_leading_ones(output.shape),
           f"output shape {list(output.shape)} is not the broadcast shape {list(shape)} of "
           f"inputs {list(input1.shape)} and {list(input2.shape)}")


def _strip_leading_ones(shape) -> tuple:
    shape = tuple(int(d) for d in shape)
    while shape and shape[0] == 1:
        shape = shape[1:]
    return shape


# The C structs this kernel puts in the arena, member by member as TFLM declares them
# (tflm_edu.memory.layout lays them out for each target).
c_struct("TfLiteAddParams", BUILTIN, m("activation", "enum"), m("pot_scale_int16", "bool"))
c_struct("OpDataAdd", KERNELS + "add.h", m("requires_broadcast", "bool"),
         m("input1_shift", "int"), m("input2_shift", "int"),
         m("output_activation_min", "int32"), m("output_activation_max", "int32"),
         m("input1_multiplier", "int32"), m("input2_multiplier", "int32"),
         m("output_multiplier", "int32"), m("output_shift", "int"), m("left_shift", "int"),
         m("input1_offset", "int32"), m("input2_offset", "int32"), m("output_offset", "int32"),
         m("output_activation_min_f32", "float"), m("output_activation_max_f32", "float"))

SPEC = OpSpec(Op.ADD, register_add, AddOptions,
              (TensorType.FLOAT32, TensorType.INT8, TensorType.INT16, TensorType.INT32),
              QuantizerRule(int8_version=2, int16_version=3,
                            int16_options=(("pot_scale_int16", False),)),
              ArenaRecipe("TfLiteAddParams", "OpDataAdd", inputs_then_output(2)))
