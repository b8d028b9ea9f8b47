"""RESIZE_BILINEAR: scale an image's height and width, each output pixel a blend of the
four input pixels around where it maps.

Mirrors tensorflow/lite/micro/kernels/resize_bilinear.cc (ResizeBilinearPrepare / Eval),
reference_ops::ResizeBilinear with ComputeInterpolationValues (float32) and
reference_ops::ResizeBilinearInteger with ComputeInterpolationValuesInteger (int8), in
kernels/internal/reference/resize_bilinear.h.

The inputs are (input [batches, height, width, depth], size): a constant int32
[new_height, new_width]. Output row y maps to input_y = y * scale (half_pixel_centers:
(y + 0.5) * scale - 0.5), between rows y0 = max(floor(input_y), 0) and
y1 = min(ceil(input_y), height - 1); columns likewise; the output is

    in[y0, x0] * (1 - dy) * (1 - dx) + in[y1, x0] * dy * (1 - dx)
  + in[y0, x1] * (1 - dy) * dx       + in[y1, x1] * dy * dx,      dy = input_y - y0, ...

float32 computes exactly that in float32, term by term left to right, and adds 0.0f at the
end (so -0.0 comes out +0.0). int8 uses no floating point at all: positions are in units of
1/1024 pixel - the scale is round(1024 * height / new_height), input_y = y * scale (half
pixel: + scale / 2 - 512), y0 = input_y / 1024 with C's truncating division - the four
products are summed in int64 in units of 2^-20 and divided by 2^20 rounding half away from
zero (TFLM's default build: no TFLITE_SINGLE_ROUNDING). With half_pixel_centers the first
rows map above row 0: y0 = y1 = 0 there and the weights still sum to one.

TFLM's Prepare refuses align_corners together with half_pixel_centers, and checks the
ranks and the size tensor. Prepare here also checks the size has two positive entries and
the output its shape and the input's type, as for RESIZE_NEAREST_NEIGHBOR; and, for int8,
that no y0 (x0) passes the last row (column): the rounded-up 1/1024 scale of a large
upscale (1 row to 55, 39 to 306, ...) makes TFLM read past the input there.
"""
from __future__ import annotations

import numpy as np

from tflm_edu.kernels.kernel_api import Registration, ensure
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule, inputs_then_output
from tflm_edu.kernels.resize_nearest_neighbor import INPUT, OUTPUT, check_resize_io
from tflm_edu.memory.layout import BUILTIN, c_struct, m
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType
from tflm_edu.schema.options import ResizeBilinearOptions

SUPPORTED_TYPES = (TensorType.FLOAT32, TensorType.INT8)
ONE = 1 << 10  # one pixel, in the integer algorithm's units


def prepare(context, node):
    params = node.builtin_data or ResizeBilinearOptions()
    height, width = check_resize_io(context, node, SUPPORTED_TYPES)
    ensure(not (params.half_pixel_centers and params.align_corners),
           "If half_pixel_centers is True, align_corners must be False.")
    input = context.get_input(node, INPUT)
    if input.type == TensorType.INT8:
        for axis, new_size, size in (("row", height, input.shape[1]),
                                     ("column", width, input.shape[2])):
            _, lower, _ = interpolation_values_integer(new_size, size, params)
            ensure(lower.max() <= size - 1,
                   f"resizing {size} to {new_size} with TFLM's integer scale reads {axis} "
                   f"{int(lower.max())}, past the input's last {axis} ({size - 1})")


def eval(context, node):
    params = node.builtin_data or ResizeBilinearOptions()
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    if input.type == TensorType.FLOAT32:
        output.data[...] = resize_bilinear_float(input.data, output.shape[1:3], params)
    else:
        output.data[...] = resize_bilinear_integer(input.data, output.shape[1:3], params)


# ----------------------------------------------------------------------------- reference math


def interpolation_values(output_size: int, input_size: int, params):
    """ComputeInterpolationValues for every output position: (scaled, lower, upper), the
    position in float32 and the rows (columns) on either side."""
    f32 = np.float32
    scale = f32(input_size) / f32(output_size)
    if params.align_corners and output_size > 1:
        scale = f32(input_size - 1) / f32(output_size - 1)
    value = np.arange(output_size, dtype=np.float32)
    if params.half_pixel_centers:
        scaled = (value + f32(0.5)) * scale - f32(0.5)
    else:
        scaled = value * scale
    lower = np.maximum(np.floor(scaled).astype(np.int64), 0)
    upper = np.minimum(np.ceil(scaled).astype(np.int64), input_size - 1)
    return scaled, lower, upper


def gather_corners(x, rows, columns):
    """x[:, rows[0 or 1], columns[0 or 1], :] for the four corners."""
    (y0, y1), (x0, x1) = rows, columns
    return (x[:, y0][:, :, x0], x[:, y1][:, :, x0], x[:, y0][:, :, x1], x[:, y1][:, :, x1])


@np.errstate(over="ignore", invalid="ignore")  # inf and NaN are results here, as in C++
def resize_bilinear_float(x, output_hw, params):
    """ResizeBilinear<float>: each term (input * weight_y) * weight_x in float32, the four
    summed left to right, then + 0.0f."""
    input_y, y0, y1 = interpolation_values(output_hw[0], x.shape[1], params)
    input_x, x0, x1 = interpolation_values(output_hw[1], x.shape[2], params)
    dy = (input_y - y0.astype(np.float32)).reshape(1, -1, 1, 1)
    dx = (input_x - x0.astype(np.float32)).reshape(1, 1, -1, 1)
    one = np.float32(1)
    v00, v10, v01, v11 = gather_corners(x, (y0, y1), (x0, x1))
    total = v00 * (one - dy) * (one - dx) + v10 * dy * (one - dx)
    total = total + v01 * (one - dy) * dx
    total = total + v11 * dy * dx
    return total + np.float32(0.0)


def interpolation_values_integer(output_size: int, input_size: int, params):
    """ComputeInterpolationValuesInteger for every output position, in int64 with C's
    truncating division: (scaled, lower, upper), scaled in 1/1024 pixel."""
    if params.align_corners and output_size > 1:
        scale_10 = (ONE * (input_size - 1) + (output_size - 1) // 2) // (output_size - 1)
    else:
        scale_10 = (ONE * input_size + output_size // 2) // output_size
    value = np.arange(output_size, dtype=np.int64)
    if params.half_pixel_centers:
        scaled = value * scale_10 + scale_10 // 2 - (1 << 9)
    else:
        scaled = value * scale_10
    lower = np.maximum(truncating_divide(scaled, ONE), 0)
    upper = np.minimum(truncating_divide(scaled + ONE - 1, ONE), input_size - 1)
    return scaled, lower, upper


def truncating_divide(a, b):
    """C's integer division: the quotient rounded toward zero (numpy's // floors)."""
    quotient = np.abs(a) // abs(b)
    return np.where((a < 0) != (b < 0), -quotient, quotient)


def resize_bilinear_integer(x, output_hw, params):
    """ResizeBilinearInteger<int8_t>: weights in 1/1024 pixel, the sum in int64 units of
    2^-20, divided by 2^20 rounding half away from zero."""
    input_y, y0, y1 = interpolation_values_integer(output_hw[0], x.shape[1], params)
    input_x, x0, x1 = interpolation_values_integer(output_hw[1], x.shape[2], params)
    dy = (input_y - ONE * y0).reshape(1, -1, 1, 1)
    dx = (input_x - ONE * x0).reshape(1, 1, -1, 1)
    v00, v10, v01, v11 = (v.astype(np.int64) for v in gather_corners(x, (y0, y1), (x0, x1)))
    output_20 = (v00 * (ONE - dy) * (ONE - dx) + v10 * dy * (ONE - dx)
                 + v01 * (ONE - dy) * dx + v11 * dy * dx)
    rounding = np.where(output_20 > 0, 1 << 19, -(1 << 19))
    return truncating_divide(output_20 + rounding, 1 << 20).astype(x.dtype)


def register_resize_bilinear():
    return Registration("RESIZE_BILINEAR", prepare=prepare, eval=eval, max_version=4)


# The C structs this kernel puts in the arena, member by member as TFLM declares them
# (tflm_edu.memory.layout lays them out for each target).
c_struct("TfLiteResizeBilinearParams", BUILTIN, m("align_corners", "bool"),
         m("half_pixel_centers", "bool"))

# No Init: Prepare's temporaries for the input, size and output are all it allocates.
SPEC = OpSpec(Op.RESIZE_BILINEAR, register_resize_bilinear, ResizeBilinearOptions,
              SUPPORTED_TYPES,
              QuantizerRule(int8_version=2, output="same_as_input"),
              ArenaRecipe("TfLiteResizeBilinearParams", None, inputs_then_output(2)))
