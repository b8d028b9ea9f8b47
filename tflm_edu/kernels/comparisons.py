"""EQUAL, NOT_EQUAL, GREATER, GREATER_EQUAL, LESS, LESS_EQUAL: a bool per element pair.

Mirrors tensorflow/lite/micro/kernels/comparisons.cc (OpData holding ComparisonParams,
ComparisonsPrepare, EqualEval ... LessEqualEval), with the loops of
tensorflow/lite/kernels/internal/reference/comparisons.h (ComparisonImpl,
ComparisonWithScaling, BroadcastComparison4DSlowImpl / ...WithScaling, which all walk the
pairs with BroadcastBinaryOpSimple: numpy's broadcasting, up to rank 8).

The six ops share one Prepare and differ only in the predicate and the types Eval
dispatches on (TFLM's switch statements):

    EQUAL, NOT_EQUAL               bool, float32, int32, int64, int8
    GREATER, GREATER_EQUAL,
    LESS, LESS_EQUAL               float32, int32, int64, int8

Float32, int32, int64 and bool compare the stored values as they are. int8 does not
compare the stored bytes: the two inputs may have different scales and zero points, so
each one is brought onto a common footing first (ComparisonWithScaling):

    input_val = q - zero_point                      (the offset is -zero_point)
    shifted   = input_val * 2^8                     (kLeftShift = 8: head-room for rounding)
    scaled    = MultiplyByQuantizedMultiplierSmallerThanOneExp(shifted, M(scale))

where M(scale) is the input's own scale as a Q31 multiplier and a right shift, so scaled
is about real_value * 2^8 - and then the predicate compares the two int32 `scaled`
values. Two reals closer than the rounding of that step can compare equal. The scale
must lie in (0, 1): QuantizeMultiplierSmallerThanOneExp CHECK-fails (TFLM aborts) on a
scale of 1 or more, or of 0 (an int8 tensor without quantization); Prepare here refuses
those models.

What TFLM does not check and Prepare refuses here: the two inputs having different types
(Eval reads input 2 as input 1's type), a non-bool output, shapes that do not broadcast
to the output's. And one case TFLM accepts but cannot compute: GREATER has an int16 case
that calls the scaling comparison, but Prepare computes the scaling parameters for int8
only, so int16 GREATER compares with whatever the arena held in OpData (the
tflite-micro package answers False everywhere); refused here as unsupported.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass, field

import numpy as np

from tflm_edu.kernels.add import check_broadcast_shapes
from tflm_edu.kernels.kernel_api import Registration, ensure, ensure_quantized, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec
from tflm_edu.kernels.quantization_util import (
    multiply_by_quantized_multiplier_smaller_than_one_exp, quantize_multiplier)
from tflm_edu.memory.layout import KERNELS, TYPES, c_struct, m
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType, type_name
from tflm_edu.schema.options import (EqualOptions, GreaterEqualOptions, GreaterOptions,
                                     LessEqualOptions, LessOptions, NotEqualOptions)

INPUT1, INPUT2, OUTPUT = 0, 1, 0   # kInputTensor1, kInputTensor2, kOutputTensor
LEFT_SHIFT = 8                     # kLeftShift
MAX_RANK = 8                       # BroadcastBinaryOpSimple's kMaxRank

ORDER_TYPES = (TensorType.FLOAT32, TensorType.INT32, TensorType.INT64, TensorType.INT8)
EQUALITY_TYPES = (TensorType.BOOL, *ORDER_TYPES)


@dataclass
class ComparisonParams:
    """tflite::ComparisonParams (types.h): the int8 rescaling of the two inputs."""

    left_shift: int = 0
    input1_offset: int = 0
    input1_multiplier: int = 0
    input1_shift: int = 0
    input2_offset: int = 0
    input2_multiplier: int = 0
    input2_shift: int = 0
    is_broadcast: bool = False


@dataclass
class OpData:
    params: ComparisonParams = field(default_factory=ComparisonParams)


def init(context, node):
    return OpData()


def make_prepare(types):
    def prepare(context, node):
        comparisons_prepare(context, node, types)
    return prepare


def comparisons_prepare(context, node, types):
    """ComparisonsPrepare: for int8, each input's offset and scale multiplier."""
    data: OpData = node.user_data
    ensure(len(node.inputs) == 2, f"{node.op_name} takes 2 inputs, got {len(node.inputs)}")
    ensure(len(node.outputs) == 1, f"{node.op_name} has 1 output, got {len(node.outputs)}")
    input1, input2 = context.get_input(node, INPUT1), context.get_input(node, INPUT2)
    output = context.get_output(node, OUTPUT)
    ensure(input1 is not None and input2 is not None, f"{node.op_name} needs both inputs")
    if input1.type not in types:
        raise unsupported_type(node, input1)
    ensure(input2.type == input1.type,
           f"input 1 is {type_name(input1.type)} but input 2 is {type_name(input2.type)}: "
           f"TFLM would read input 2 as {type_name(input1.type)}")
    ensure(output.type == TensorType.BOOL,
           f"the output of {node.op_name} must be bool, got {type_name(output.type)}")
    ensure(max(len(input1.shape), len(input2.shape), len(output.shape)) <= MAX_RANK,
           f"{node.op_name} broadcasts up to rank {MAX_RANK}")
    check_broadcast_shapes(input1, input2, output)
    data.params.is_broadcast = tuple(input1.shape) != tuple(input2.shape)
    if input1.type == TensorType.INT8:
        p = data.params
        p.left_shift = LEFT_SHIFT
        p.input1_offset, p.input1_multiplier, p.input1_shift = _input_scaling(input1, "input 1")
        p.input2_offset, p.input2_multiplier, p.input2_shift = _input_scaling(input2, "input 2")


def _input_scaling(tensor, what):
    """(offset, multiplier, shift) of one int8 input: QuantizeMultiplierSmallerThanOneExp
    of its scale, which must lie in (0, 1)."""
    ensure_quantized(tensor, np.int8)
    scale = float(tensor.scale)
    ensure(scale < 1.0, f"{what} has scale {scale:g}: TFLM's comparison turns an int8 "
                        f"scale into a multiplier below 1, and aborts on a scale of 1 or more")
    multiplier, shift = quantize_multiplier(scale)   # a float32 below 1 never rounds up to 1
    return -tensor.zero_point, multiplier, shift


def make_eval(predicate):
    def eval(context, node):
        data: OpData = node.user_data
        input1, input2 = context.get_input(node, INPUT1), context.get_input(node, INPUT2)
        output = context.get_output(node, OUTPUT)
        if input1.type == TensorType.INT8:
            result = compare_with_scaling(input1.data, input2.data, data.params, predicate)
        else:
            result = predicate(input1.data, input2.data)
        output.data[...] = np.asarray(result).reshape(output.shape)
    return eval


# ----------------------------------------------------------------------------- reference math


def compare_with_scaling(x1, x2, params: ComparisonParams, predicate):
    """ComparisonWithScaling / BroadcastComparison4DSlowWithScaling: each input moved to
    about real * 2^left_shift (on its own shape: it depends on that input only), then
    the predicate on the two int32 values, broadcasting."""
    return predicate(
        _scale(x1, params.input1_offset, params.left_shift, params.input1_multiplier,
               params.input1_shift),
        _scale(x2, params.input2_offset, params.left_shift, params.input2_multiplier,
               params.input2_shift))


def _scale(x, offset, left_shift, multiplier, shift):
    shifted = (x.astype(np.int64) + offset) * (1 << left_shift)   # |.| < 2^17: fits int32
    return multiply_by_quantized_multiplier_smaller_than_one_exp(shifted, multiplier, shift)


def _registration(name, predicate, types, max_version):
    return Registration(name, prepare=make_prepare(types), eval=make_eval(predicate),
                        init=init, max_version=max_version)


def register_equal():
    return _registration("EQUAL", operator.eq, EQUALITY_TYPES, 5)


def register_not_equal():
    return _registration("NOT_EQUAL", operator.ne, EQUALITY_TYPES, 4)


def register_greater():
    return _registration("GREATER", operator.gt, ORDER_TYPES, 2)


def register_greater_equal():
    return _registration("GREATER_EQUAL", operator.ge, ORDER_TYPES, 3)


def register_less():
    return _registration("LESS", operator.lt, ORDER_TYPES, 3)


def register_less_equal():
    return _registration("LESS_EQUAL", operator.le, ORDER_TYPES, 2)


def arena_prepare(k):
    """ComparisonsPrepare: temporaries for the two inputs; it never fetches the output."""
    k.temp_input(0)
    k.temp_input(1)


# The C structs this kernel puts in the arena, member by member as TFLM declares them
# (tflm_edu.memory.layout lays them out for each target). The Parse functions of the six
# ops allocate no params struct.
c_struct("ComparisonParams", TYPES, m("left_shift", "int"), m("input1_offset", "int32"),
         m("input1_multiplier", "int32"), m("input1_shift", "int"),
         m("input2_offset", "int32"), m("input2_multiplier", "int32"),
         m("input2_shift", "int"), m("is_broadcast", "bool"))
c_struct("OpDataComparisons", KERNELS + "comparisons.cc (OpData)",
         m("params", "ComparisonParams"))

_ARENA = ArenaRecipe(None, "OpDataComparisons", arena_prepare)

SPECS = [
    OpSpec(Op.EQUAL, register_equal, EqualOptions, EQUALITY_TYPES, None, _ARENA),
    OpSpec(Op.NOT_EQUAL, register_not_equal, NotEqualOptions, EQUALITY_TYPES, None, _ARENA),
    OpSpec(Op.GREATER, register_greater, GreaterOptions, ORDER_TYPES, None, _ARENA),
    OpSpec(Op.GREATER_EQUAL, register_greater_equal, GreaterEqualOptions, ORDER_TYPES, None,
           _ARENA),
    OpSpec(Op.LESS, register_less, LessOptions, ORDER_TYPES, None, _ARENA),
    OpSpec(Op.LESS_EQUAL, register_less_equal, LessEqualOptions, ORDER_TYPES, None, _ARENA),
]
