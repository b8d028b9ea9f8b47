"""BATCH_TO_SPACE_ND: the inverse of SPACE_TO_BATCH_ND - interleave groups of batches back
into blocks of one image, then crop.

Mirrors tensorflow/lite/micro/kernels/batch_to_space_nd.cc (BatchToSpaceNDPrepare / Eval)
and reference_ops::BatchToSpaceND (kernels/internal/reference/batch_to_space_nd.h).

The inputs are (input, block_shape, crops): input [batches, height, width, depth] (or
[batches, height, depth], taken as width 1), block_shape int32 [block_height, block_width]
([block_height] for 3-D), crops int32 [[top, bottom], [left, right]] ([[top, bottom]]).
Input batch in_b goes to output batch in_b % output_batches, at offset
(in_b / output_batches) within each block: with a 2x2 block an input [4, 2, 2, 1] becomes
[1, 4, 4, 1]. Here: reshape to [block_h, block_w, out_batches, height, width, depth],
interleave to [out_batches, height * block_h, width * block_w, depth], crop.

TFLM's Prepare checks the ranks (3 or 4) and the types; its Eval trusts block_shape and
crops and writes only the output pixels the blocks reach - any others keep what the arena
held. Prepare here also checks them as TFLite does - int32, one entry (row) per spatial
axis, blocks positive, crops non-negative, batches a multiple of the block size - and that
the output has the shape they give, so every output pixel is written once; when they are
not constants, Eval checks them.
"""
from __future__ import annotations

import numpy as np

from tflm_edu.kernels.kernel_api import Registration, ensure
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule
from tflm_edu.kernels.space_to_batch_nd import (BLOCK_SHAPE, INPUT, OUTPUT, SUPPORTED_TYPES,
                                                check_block_op_io, spatial_shape)
from tflm_edu.schema.enums import BuiltinOperator as Op
from tflm_edu.schema.options import BatchToSpaceNDOptions

CROPS = 2


def prepare(context, node):
    input, output = check_block_op_io(context, node)
    block_shape, crops = context.get_input(node, BLOCK_SHAPE), context.get_input(node, CROPS)
    if block_shape.is_constant and crops.is_constant:
        check_output_shape(input, output, block_shape.data, crops.data)


def check_output_shape(input, output, block_shape, crops) -> None:
    """TFLite's output shape for these blocks and crops (its ResizeOutputTensor)."""
    block = [int(b) for b in block_shape.reshape(-1)]
    crops = np.asarray(crops, np.int64).reshape(-1, 2)
    ensure(all(b >= 1 for b in block), f"block_shape {block} must be positive")
    ensure((crops >= 0).all(), f"crops {crops.tolist()} must not be negative")
    block_size = int(np.prod(block))
    ensure(input.shape[0] % block_size == 0,
           f"the input's {input.shape[0]} batches are not a multiple of the block size "
           f"{block_size}")
    expected = [input.shape[0] // block_size]
    for axis, b in enumerate(block):
        cropped = input.shape[1 + axis] * b - int(crops[axis].sum())
        ensure(cropped > 0, f"crops {crops[axis].tolist()} remove all of spatial axis "
                            f"{axis} ({input.shape[1 + axis] * b} after the blocks)")
        expected.append(cropped)
    expected.append(input.shape[-1])
    ensure(list(output.shape) == expected,
           f"output shape {list(output.shape)} should be {expected}")


def eval(context, node):
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    block_shape, crops = context.get_input(node, BLOCK_SHAPE), context.get_input(node, CROPS)
    if not (block_shape.is_constant and crops.is_constant):
        check_output_shape(input, output, block_shape.data, crops.data)
    result = batch_to_space(input.data.reshape(spatial_shape(input.shape)), block_shape.data,
                            crops.data, spatial_shape(output.shape))
    output.data[...] = result.reshape(output.shape)


# ----------------------------------------------------------------------------- reference math


def batch_to_space(x, block_shape, crops, output_shape):
    """reference_ops::BatchToSpaceND on 4-D shapes: batches grouped by their offset in the
    block, interleaved into rows and columns, then cropped at the top and left."""
    block_height = int(block_shape[0])
    block_width = int(block_shape[1]) if len(block_shape) > 1 else 1
    crops = np.asarray(crops).reshape(-1, 2)
    top, left = int(crops[0, 0]), int(crops[1, 0]) if len(crops) > 1 else 0
    batches, height, width, depth = x.shape
    output_batches, output_height, output_width, _ = output_shape
    blocks = x.reshape(block_height, block_width, output_batches, height, width, depth)
    image = blocks.transpose(2, 3, 0, 4, 1, 5).reshape(
        output_batches, height * block_height, width * block_width, depth)
    return image[:, top:top + output_height, left:left + output_width]


def register_batch_to_space_nd():
    return Registration("BATCH_TO_SPACE_ND", prepare=prepare, eval=eval, max_version=4)


def arena_prepare(k):
    """BatchToSpaceNDPrepare: a temporary tensor for the input, then one for the output."""
    k.temp_input(INPUT)
    k.temp_output(OUTPUT)


# ParseBatchToSpaceNd allocates no params struct and the op has no Init.
SPEC = OpSpec(Op.BATCH_TO_SPACE_ND, register_batch_to_space_nd, BatchToSpaceNDOptions,
              SUPPORTED_TYPES,
              QuantizerRule(int8_version=2, output="same_as_input"),
              ArenaRecipe(None, None, arena_prepare))
