"""L2_POOL_2D: the root mean square of each filter window, per channel (float32 only).

Mirrors tensorflow/lite/micro/kernels/l2_pool_2d.cc (L2Prepare, L2Eval, L2EvalFloat) with
reference_ops::L2Pool (kernels/internal/reference/pooling.h).

For every output position and channel, over the taps of the window that fall inside the
image (SAME padding shrinks the border windows, as in AVERAGE_POOL_2D):

    sum_squares = 0.f;  sum_squares += val * val   (float32, taps in filter_y, filter_x order)
    output = sqrt(sum_squares / filter_count)       (float32 division, then sqrtf)

then the fused activation's clamp. TFLM has no quantized L2 pool: int8 is refused.

TFLM's kernel has no OpData: Prepare writes the padding into the options struct
(TfLitePoolParams.computed.padding) and replaces the output's dims with the computed
[batches, out_height, out_width, channels] (CreateWritableTensorDimsWithCopy, a persistent
copy of the dims array). It checks ranks and types only: here, as in pooling.py, the
strides and filter must be positive, the padding SAME or VALID, the output non-empty, and
the output must hold exactly the computed number of elements (TFLM would write past a
smaller one).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tflm_edu.kernels.depth_to_space import set_output_shape
from tflm_edu.kernels.kernel_api import Registration, ensure, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec
from tflm_edu.kernels.pooling import _taps_inside, window_taps
from tflm_edu.kernels.quantization_util import (activation_function_with_min_max,
                                                calculate_activation_range_float)
from tflm_edu.schema.enums import BuiltinOperator as Op, Padding, TensorType, type_name
from tflm_edu.schema.options import Pool2DOptions
from tflm_edu.windows import compute_padding_height_width

INPUT, OUTPUT = 0, 0
TENSOR_SHAPE_RANK = 4   # kTensorShapeRank
SUPPORTED_TYPES = (TensorType.FLOAT32,)


@dataclass
class ComputedPadding:
    """What TFLM's Prepare writes into params->computed.padding (the kernel has no OpData),
    and the number of in-image taps of every window, which the C++ counts in its loop."""
    height: int = 0
    width: int = 0
    filter_count: np.ndarray | None = None


def prepare(context, node):
    """L2Prepare."""
    params = node.builtin_data or Pool2DOptions()
    ensure(len(node.inputs) == 1, f"L2_POOL_2D takes 1 input, got {len(node.inputs)}")
    ensure(len(node.outputs) == 1, f"L2_POOL_2D has 1 output, got {len(node.outputs)}")
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    ensure(input is not None, "L2_POOL_2D needs an input")
    ensure(len(input.shape) == TENSOR_SHAPE_RANK,
           f"input must be 4-D [batches, height, width, channels], got {list(input.shape)}")
    ensure(len(output.shape) == TENSOR_SHAPE_RANK, f"output must be 4-D, got "
                                                   f"{list(output.shape)}")
    ensure(input.type == output.type,
           f"input is {type_name(input.type)} but the output is {type_name(output.type)}")
    ensure(params.stride_h > 0 and params.stride_w > 0,
           f"strides must be positive, got stride_h={params.stride_h} "
           f"stride_w={params.stride_w}")
    ensure(params.filter_height > 0 and params.filter_width > 0,
           f"filter size must be positive, got {params.filter_height}x{params.filter_width}")
    ensure(params.padding in (Padding.SAME, Padding.VALID),
           f"padding must be SAME or VALID, got {params.padding}")
    batches, height, width, channels = input.shape
    out_height, out_width, pad_height, pad_width = compute_padding_height_width(
        params.stride_h, params.stride_w, 1, 1, height, width, params.filter_height,
        params.filter_width, params.padding)
    if input.type not in SUPPORTED_TYPES:   # "no quantized implementation of L2Pool"
        raise unsupported_type(node, input)
    ensure(out_height > 0 and out_width > 0,
           f"a {params.filter_height}x{params.filter_width} filter does not fit in a "
           f"{height}x{width} input (the output would be empty)")
    set_output_shape(output, (batches, out_height, out_width, channels))
    node.user_data = ComputedPadding(pad_height, pad_width, (
        _taps_inside(out_height, params.stride_h, pad_height, params.filter_height,
                     height)[:, None] *
        _taps_inside(out_width, params.stride_w, pad_width, params.filter_width,
                     width)[None, :]))


def eval(context, node):
    """L2Eval -> L2EvalFloat."""
    params = node.builtin_data or Pool2DOptions()
    computed: ComputedPadding = node.user_data
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    window = (params.filter_height, params.filter_width, params.stride_h, params.stride_w,
              computed.height, computed.width)
    act_min, act_max = calculate_activation_range_float(params.fused_activation_function)
    output.data[...] = l2_pool(input.data, window, computed.filter_count, act_min, act_max)


# ----------------------------------------------------------------------------- reference math


def l2_pool(input, window, filter_count, act_min, act_max):
    """reference_ops::L2Pool: float32 sums of squares in loop order (taps outside the
    image add 0.0 * 0.0, which leaves a sum that started at +0.0 unchanged), divided by
    the in-image tap count in float32, square-rooted, clamped."""
    sum_squares = np.zeros((input.shape[0], *filter_count.shape, input.shape[3]), np.float32)
    with np.errstate(over="ignore", invalid="ignore"):   # inf and NaN go through
        for tap in window_taps(input, window, filter_count.shape, 0.0):
            sum_squares += tap * tap
        result = np.sqrt(sum_squares / filter_count.astype(np.float32)[None, :, :, None])
    return activation_function_with_min_max(result, act_min, act_max)


def register_l2_pool_2d():
    return Registration("L2_POOL_2D", prepare=prepare, eval=eval, max_version=1)


def arena_prepare(k):
    """The output's temporary, then the input's, then the writable copy of the output's
    dims (a TfLiteIntArray of four entries, in the tail)."""
    k.temp_output(0)
    k.temp_input(0)
    k.persistent(4 + 4 * TENSOR_SHAPE_RANK, "writable output dims")


# TfLitePoolParams is declared in pooling.py (ParsePool allocates it for every pool op).
SPEC = OpSpec(Op.L2_POOL_2D, register_l2_pool_2d, Pool2DOptions, SUPPORTED_TYPES, None,
              ArenaRecipe("TfLitePoolParams", None, arena_prepare))
