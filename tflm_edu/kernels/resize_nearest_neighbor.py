"""RESIZE_NEAREST_NEIGHBOR: scale an image's height and width, each output pixel a copy of
the input pixel nearest to where it maps.

Mirrors tensorflow/lite/micro/kernels/resize_nearest_neighbor.cc
(ResizeNearestNeighborPrepare / Eval) and reference_ops::ResizeNearestNeighbor with
GetNearestNeighbor (kernels/internal/reference/resize_nearest_neighbor.h).

The inputs are (input [batches, height, width, depth], size): size is a constant int32
[new_height, new_width]. Output row y copies input row

    in_y = min(floor((y + offset) * scale), input_height - 1)          (or round() with
                                                                         align_corners)
    scale  = input_height / output_height, or (input_height - 1) / (output_height - 1)
             with align_corners (and an output of more than one row)
    offset = 0.5 with half_pixel_centers (then in_y is also kept >= 0), else 0

all in float32, as the C++ computes it (round() is half away from zero); columns likewise.
The values are copied bytes, so float32, int8 and int16 behave alike (TFLM copies float32
as int32); a quantized output keeps the input's values whatever its scale says.

TFLM's Prepare checks the ranks, the size tensor (1-D, int32, two entries, constant); its
Eval takes the output's height and width from `size` and writes that many pixels, so
Prepare here also checks the output is [batches, size[0], size[1], depth] of the input's
type, with a positive size.
"""
from __future__ import annotations

import numpy as np

from tflm_edu.kernels.kernel_api import Registration, ensure, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule, inputs_then_output
from tflm_edu.memory.layout import BUILTIN, c_struct, m
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType, type_name
from tflm_edu.schema.options import ResizeNearestNeighborOptions

INPUT, SIZE, OUTPUT = 0, 1, 0
SUPPORTED_TYPES = (TensorType.FLOAT32, TensorType.INT8, TensorType.INT16)


def prepare(context, node):
    check_resize_io(context, node, SUPPORTED_TYPES)


def check_resize_io(context, node, supported_types) -> tuple[int, int]:
    """The Prepare of both resize ops: two inputs, a 4-D input, a constant int32 size of
    two positive entries, and an output of the shape and type those give. Returns the
    output (height, width)."""
    op = node.op_name
    ensure(len(node.inputs) == 2, f"{op} takes 2 inputs (input, size), got {len(node.inputs)}")
    ensure(len(node.outputs) == 1, f"{op} has 1 output, got {len(node.outputs)}")
    input, size = context.get_input(node, INPUT), context.get_input(node, SIZE)
    output = context.get_output(node, OUTPUT)
    ensure(input is not None and size is not None, f"{op} needs an input and a size")
    ensure(len(input.shape) == 4, f"the input must be 4-D, got shape {list(input.shape)}")
    ensure(len(size.shape) == 1, f"size must be 1-D, got shape {list(size.shape)}")
    ensure(size.type == TensorType.INT32, f"size must be int32, got {type_name(size.type)}")
    ensure(size.shape[0] == 2, f"size must hold 2 values (height, width), got "
                               f"{size.shape[0]}")
    ensure(size.is_constant and size.data is not None,
           "Non-constant >size< tensor is not supported")
    height, width = (int(v) for v in size.data.reshape(-1))
    ensure(height > 0 and width > 0, f"size [{height}, {width}] must be positive")
    ensure(output.type == input.type, f"the input is {type_name(input.type)} but the output "
                                      f"is {type_name(output.type)}")
    if input.type not in supported_types:
        raise unsupported_type(node, input)
    expected = [input.shape[0], height, width, input.shape[3]]
    ensure(list(output.shape) == expected,
           f"output shape {list(output.shape)} should be {expected}: the input's batches "
           f"and depth, size's height and width")
    return height, width


def eval(context, node):
    params = node.builtin_data or ResizeNearestNeighborOptions()
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    _, output_height, output_width, _ = output.shape
    _, input_height, input_width, _ = input.shape
    rows = nearest_neighbors(output_height, input_height, params.align_corners,
                             params.half_pixel_centers)
    columns = nearest_neighbors(output_width, input_width, params.align_corners,
                                params.half_pixel_centers)
    output.data[...] = input.data[:, rows][:, :, columns]


# ----------------------------------------------------------------------------- reference math


def nearest_neighbors(output_size: int, input_size: int, align_corners: bool,
                      half_pixel_centers: bool) -> np.ndarray:
    """GetNearestNeighbor for every output position at once, in float32 like the C++."""
    f32 = np.float32
    if align_corners and output_size > 1:
        scale = f32(input_size - 1) / f32(output_size - 1)
    else:
        scale = f32(input_size) / f32(output_size)
    offset = f32(0.5) if half_pixel_centers else f32(0.0)
    mapped = (np.arange(output_size, dtype=np.float32) + offset) * scale  # float32
    if align_corners:
        # TfLiteRound: half away from zero; in float64, where + 0.5 is exact
        wide = mapped.astype(np.float64)
        nearest = np.sign(wide) * np.floor(np.abs(wide) + 0.5)
    else:
        nearest = np.floor(mapped)
    nearest = np.minimum(nearest.astype(np.int64), input_size - 1)
    if half_pixel_centers:
        nearest = np.maximum(nearest, 0)
    return nearest


def register_resize_nearest_neighbor():
    return Registration("RESIZE_NEAREST_NEIGHBOR", prepare=prepare, eval=eval,
                        max_version=4)


# The C structs this kernel puts in the arena, member by member as TFLM declares them
# (tflm_edu.memory.layout lays them out for each target).
c_struct("TfLiteResizeNearestNeighborParams", BUILTIN, m("align_corners", "bool"),
         m("half_pixel_centers", "bool"))

# No Init: Prepare's temporaries for the input, size and output are all it allocates.
SPEC = OpSpec(Op.RESIZE_NEAREST_NEIGHBOR, register_resize_nearest_neighbor,
              ResizeNearestNeighborOptions, SUPPORTED_TYPES,
              QuantizerRule(int8_version=2, output="same_as_input", int16_version=4),
              ArenaRecipe("TfLiteResizeNearestNeighborParams", None, inputs_then_output(2)))
