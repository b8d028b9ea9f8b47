"""L2_NORMALIZATION: each vector along the last axis divided by its L2 norm.

Mirrors tensorflow/lite/micro/kernels/l2norm.cc (L2NormPrepare, L2NormEval; the OpData is
tflite::L2NormalizationParams of internal/types.h), with the arithmetic of
reference_ops::L2Normalization (float) and reference_integer_ops::L2Normalization (int8).

Float: per row, a float32 running sum of x * x in order, its square root (at least
1e-6), and x / norm.

int8: an exact int32 sum of (x - zero point)^2 per row, its inverse square root as a
quantized multiplier (GetInvSqrtQuantizedMultiplierExp: Newton-Raphson in fixed point,
the same helper RSQRT uses), and each (x - zero point) times it, shifted so that the
output reads at scale 1/128, zero point 0 - whatever the output tensor says (TFLM checks
neither). A row of zeros gives zeros.

TFLM takes at most 4 dimensions and no fused activation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tflm_edu.kernels.kernel_api import Registration, ensure, ensure_quantized, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule, inputs_then_output
from tflm_edu.kernels.elementwise import inv_sqrt_quantized_multiplier_exp
from tflm_edu.kernels.quantization_util import multiply_by_quantized_multiplier
from tflm_edu.schema.enums import ActivationFunctionType as Act, BuiltinOperator as Op
from tflm_edu.schema.enums import TensorType
from tflm_edu.schema.options import L2NormOptions
from tflm_edu.memory.layout import BUILTIN, TYPES, c_struct, m

INPUT, OUTPUT = 0, 0
EPSILON = np.float32(1e-6)
OUTPUT_SCALE_SHIFT = 7  # the int8 output is in 1/128 steps


@dataclass
class L2NormalizationParams:
    input_zero_point: int = 0


def init(context, node):
    return L2NormalizationParams()


def prepare(context, node):
    """L2NormPrepare."""
    data: L2NormalizationParams = node.user_data
    params = node.builtin_data or L2NormOptions()
    ensure(len(node.inputs) == 1 and len(node.outputs) == 1,
           f"l2 normalization takes 1 input and 1 output, got {len(node.inputs)} and "
           f"{len(node.outputs)}")
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    ensure(input is not None, "l2 normalization needs an input tensor")
    ensure(len(input.shape) <= 4,
           f"l2 normalization takes at most 4 dimensions, got {len(input.shape)}")
    # The kernels index the last dimension (a 0-d shape has none) and walk the input's
    # shape over the output (MatchingDim is only a DCHECK).
    ensure(len(input.shape) >= 1, "l2 normalization needs an input of at least 1 dimension")
    if output.type not in (TensorType.FLOAT32, TensorType.INT8):
        raise unsupported_type(node, output)
    ensure(input.type == output.type, "input and output types differ")
    ensure(tuple(input.shape) == tuple(output.shape),
           f"output shape {list(output.shape)} differs from input shape {list(input.shape)}")
    if output.type == TensorType.INT8:
        ensure_quantized(input, np.int8)
        data.input_zero_point = input.zero_point
    else:
        data.input_zero_point = 0
    ensure(params.fused_activation_function == Act.NONE,
           "l2 normalization takes no fused activation")


def eval(context, node):
    data: L2NormalizationParams = node.user_data
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    if input.num_elements == 0:
        return
    x = input.data.reshape(-1, input.shape[-1])
    if input.type == TensorType.FLOAT32:
        result = l2_normalization_float(x)
    else:
        result = l2_normalization_int8(x, data.input_zero_point)
    output.data.reshape(result.shape)[...] = result


# ----------------------------------------------------------------------------- reference math


def l2_normalization_float(x):
    """reference_ops::L2Normalization (float), row by row; std::max keeps a NaN norm."""
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        squared_l2_norm = np.cumsum(x * x, axis=1, dtype=np.float32)[:, -1:] + np.float32(0)
        l2_norm = np.sqrt(squared_l2_norm)
        l2_norm = np.where(l2_norm < EPSILON, EPSILON, l2_norm)
        return (x / l2_norm).astype(np.float32)


def l2_normalization_int8(x, input_zero_point):
    """reference_integer_ops::L2Normalization: the int32 sum of squares, 1/sqrt of it as
    (multiplier, shift), and each value rescaled by it with 7 more bits, clamped."""
    input = x.astype(np.int64) - input_zero_point
    acc = np.sum(input * input, axis=1, keepdims=True)
    inv_l2norm_multiplier, inv_l2norm_shift = inv_sqrt_quantized_multiplier_exp(acc)
    output_in_q24 = multiply_by_quantized_multiplier(input, inv_l2norm_multiplier,
                                                     inv_l2norm_shift + OUTPUT_SCALE_SHIFT)
    return np.clip(output_in_q24, -128, 127).astype(np.int8)


def register_l2_normalization():
    return Registration("L2_NORMALIZATION", prepare=prepare, eval=eval, init=init,
                        max_version=2)


# The C structs this kernel puts in the arena, member by member as TFLM declares them
# (tflm_edu.memory.layout lays them out for each target).
c_struct("TfLiteL2NormParams", BUILTIN, m("activation", "enum"))
c_struct("L2NormalizationParams", TYPES, m("input_zero_point", "int32"))

SPEC = OpSpec(Op.L2_NORMALIZATION, register_l2_normalization, L2NormOptions,
              (TensorType.FLOAT32, TensorType.INT8),
              QuantizerRule(int8_version=2, output="fixed", fixed_output=(1 / 128, 0)),
              ArenaRecipe("TfLiteL2NormParams", "L2NormalizationParams",
                          inputs_then_output(1)))
