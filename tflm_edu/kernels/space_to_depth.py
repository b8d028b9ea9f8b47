"""SPACE_TO_DEPTH: move block_size x block_size spatial patches into the channels.

Mirrors tensorflow/lite/micro/kernels/space_to_depth.cc (Prepare, Eval), with
reference_ops::SpaceToDepth (kernels/internal/reference/space_to_depth.h).

An NHWC input [B, H, W, C] becomes [B, H / bs, W / bs, C * bs^2]:
output[b, h, w, (dh * bs + dw) * C + c] = input[b, h * bs + dh, w * bs + dw, c] - the
inverse of DEPTH_TO_SPACE. Bytes are moved, never changed: float32 and int8.

Prepare checks a 4-D input whose height and width the block size divides, and rewrites
the output's dims with the computed ones, as TFLM does (see depth_to_space.py, whose
checks are shared). TFLM does not check block_size > 0 (it divides by it): refused here.
"""
from __future__ import annotations

from tflm_edu.kernels.depth_to_space import (SUPPORTED_TYPES, arena_prepare, check_block_op,
                                             set_output_shape)
from tflm_edu.kernels.kernel_api import Registration, ensure
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule
from tflm_edu.memory.layout import BUILTIN, c_struct, m
from tflm_edu.schema.enums import BuiltinOperator as Op
from tflm_edu.schema.options import SpaceToDepthOptions

INPUT, OUTPUT = 0, 0


def prepare(context, node):
    input, output, block_size = check_block_op(context, node)
    batch, height, width, channels = input.shape
    ensure(height % block_size == 0 and width % block_size == 0,
           f"the input's {height}x{width} does not divide into {block_size}x{block_size} "
           f"blocks")
    set_output_shape(output, (batch, height // block_size, width // block_size,
                              channels * block_size * block_size))


def eval(context, node):
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    output.data[...] = space_to_depth(input.data, node.builtin_data.block_size)


# ----------------------------------------------------------------------------- reference math


def space_to_depth(x, block_size):
    """reference_ops::SpaceToDepth: rows split into (h, dh), columns into (w, dw), and
    (dh, dw, c) gathered into the channel axis."""
    batch, height, width, channels = x.shape
    blocks = x.reshape(batch, height // block_size, block_size, width // block_size,
                       block_size, channels)
    return blocks.transpose(0, 1, 3, 2, 4, 5).reshape(
        batch, height // block_size, width // block_size, channels * block_size * block_size)


def register_space_to_depth():
    return Registration("SPACE_TO_DEPTH", prepare=prepare, eval=eval, max_version=2)


c_struct("TfLiteSpaceToDepthParams", BUILTIN, m("block_size", "int"))

SPEC = OpSpec(Op.SPACE_TO_DEPTH, register_space_to_depth, SpaceToDepthOptions, SUPPORTED_TYPES,
              QuantizerRule(int8_version=2, output="same_as_input"),
              ArenaRecipe("TfLiteSpaceToDepthParams", None, arena_prepare))
