"""SUB: output = activation(input1 - input2), with numpy-style broadcasting.

Mirrors tensorflow/lite/micro/kernels/sub.cc and sub_common.cc (OpDataSub,
CalculateOpDataSub, SubPrepare, SubEval), with the arithmetic of reference_ops::Sub,
SubElementwise, BroadcastQuantSubSlow (int8, int16), SubWithActivation and
BroadcastSubSlow (float32, int32) in tensorflow/lite/kernels/internal/reference/sub.h.

Quantized SUB is ADD's general-scale path (see add.py's docstring) with step 4 changed:
raw_sub = scaled1 - scaled2; CalculateOpDataSub computes the offsets, the left shift and the
three multipliers as CalculateOpDataAdd does, and the code is shared. Two details:

  - int32 SUB applies the fused activation (CalculateActivationRange<int32_t>: RELU clamps
    at 0), where int32 ADD passes the whole int32 range.
  - The multipliers are computed in double here, as in the TFLM of the tflite-micro package
    (0.dev20261023, its CalculateOpDataSub divides in double). TFLM's source at commit
    90b983c (2026-08-20, the tree tflm_edu builds firmware from) still declared
    `const float twice_max_input_scale` and divided in float32: for a few scale triples the
    two round to different multipliers, and a board running that TFLM answers one step
    apart on a few of the 65,536 int8 pairs (tests/test_kernel_sub.py has such scales).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tflm_edu.kernels.add import (QUANTIZED_DTYPES, binary_op_tensors, prepare_quantized,
                                  rescale_inputs, rescale_output)
from tflm_edu.kernels.fixedpoint import wrap32
from tflm_edu.kernels.kernel_api import Registration, ensure, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule, inputs_then_output
from tflm_edu.kernels.quantization_util import (activation_function_with_min_max,
                                                calculate_activation_range_float,
                                                calculate_activation_range_int32)
from tflm_edu.memory.layout import BUILTIN, KERNELS, c_struct, m
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType
from tflm_edu.schema.options import SubOptions

INPUT1, INPUT2, OUTPUT = 0, 1, 0   # kSubInputTensor1, kSubInputTensor2, kSubOutputTensor


@dataclass
class OpDataSub:
    requires_broadcast: bool = False
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


def init(context, node):
    return OpDataSub()


def prepare(context, node):
    """SubPrepare: CalculateOpDataSub, and for int32 the check that nothing is quantized."""
    data: OpDataSub = node.user_data
    params = node.builtin_data or SubOptions()
    input1, input2, output = binary_op_tensors(context, node)
    data.requires_broadcast = tuple(input1.shape) != tuple(input2.shape)  # HaveSameShapes
    if output.type in QUANTIZED_DTYPES:
        prepare_quantized(data, params, input1, input2, output)   # as ADD's
    elif output.type == TensorType.INT32:
        ensure(all(t.quantization is None for t in (input1, input2, output)),
               "int32 SUB does not support quantized tensors")
    elif output.type != TensorType.FLOAT32:
        raise unsupported_type(node, output)


def eval(context, node):
    """SubEval: EvalSub for float32 and int32, EvalSubQuantized for int8 and int16."""
    data: OpDataSub = node.user_data
    params = node.builtin_data or SubOptions()
    input1, input2 = context.get_input(node, INPUT1), context.get_input(node, INPUT2)
    output = context.get_output(node, OUTPUT)
    if output.type == TensorType.FLOAT32:
        act_min, act_max = calculate_activation_range_float(params.fused_activation_function)
        result = sub_float(input1.data, input2.data, act_min, act_max)
    elif output.type == TensorType.INT32:
        act_min, act_max = calculate_activation_range_int32(params.fused_activation_function)
        result = sub_int32(input1.data, input2.data, act_min, act_max)
    else:
        result = sub_quantized(input1.data, input2.data, data, QUANTIZED_DTYPES[output.type])
    output.data[...] = result.reshape(output.shape)


# ----------------------------------------------------------------------------- reference math


def sub_float(x1, x2, act_min, act_max):
    """SubWithActivation / BroadcastSubSlow<float>: one float32 difference per element,
    then ActivationFunctionWithMinMax."""
    with np.errstate(over="ignore", invalid="ignore"):  # inf and NaN are values here
        difference = np.subtract(x1, x2, dtype=np.float32)
    return activation_function_with_min_max(difference, act_min, act_max)


def sub_int32(x1, x2, act_min, act_max):
    """SubWithActivation / BroadcastSubSlow<int32_t>: a 32-bit difference (wrapping, as it
    does on the targets), clamped to the fused activation's int32 range."""
    difference = wrap32(x1.astype(np.int64) - x2.astype(np.int64))
    return np.clip(difference, act_min, act_max).astype(np.int32)


def sub_quantized(x1, x2, data: OpDataSub, dtype):
    """SubElementwise / BroadcastQuantSubSlow: both inputs onto the common scale, subtract,
    onto the output's scale."""
    scaled1, scaled2 = rescale_inputs(x1, x2, data)
    return rescale_output(scaled1 - scaled2, data, dtype)


def count_macs(context, node):
    return context.get_output(node, OUTPUT).num_elements


def register_sub():
    return Registration("SUB", prepare=prepare, eval=eval, init=init, max_version=5,
                        count_macs=count_macs)


# The C structs this kernel puts in the arena, member by member as TFLM declares them
# (tflm_edu.memory.layout lays them out for each target).
c_struct("TfLiteSubParams", BUILTIN, m("activation", "enum"), m("pot_scale_int16", "bool"))
c_struct("OpDataSub", KERNELS + "sub.h", m("requires_broadcast", "bool"),
         m("input1_shift", "int"), m("input2_shift", "int"),
         m("output_activation_min", "int32"), m("output_activation_max", "int32"),
         m("input1_multiplier", "int32"), m("input2_multiplier", "int32"),
         m("output_multiplier", "int32"), m("output_shift", "int"), m("left_shift", "int"),
         m("input1_offset", "int32"), m("input2_offset", "int32"), m("output_offset", "int32"))

SPEC = OpSpec(Op.SUB, register_sub, SubOptions,
              (TensorType.FLOAT32, TensorType.INT8, TensorType.INT16, TensorType.INT32),
              QuantizerRule(int8_version=2, int16_version=5,
                            int16_options=(("pot_scale_int16", False),)),
              ArenaRecipe("TfLiteSubParams", "OpDataSub", inputs_then_output(2)))
