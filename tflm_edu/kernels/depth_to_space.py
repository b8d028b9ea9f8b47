"""DEPTH_TO_SPACE: move blocks of channels into block_size x block_size spatial patches.

Mirrors tensorflow/lite/micro/kernels/depth_to_space.cc (CalculateOpData,
DepthToSpaceEval), with reference_ops::DepthToSpace
(kernels/internal/reference/depth_to_space.h).

An NHWC input [B, H, W, C] becomes [B, H * bs, W * bs, C / bs^2]:
output[b, h * bs + dh, w * bs + dw, c] = input[b, h, w, (dh * bs + dw) * C / bs^2 + c] -
SPACE_TO_DEPTH run backwards. Bytes are moved, never changed: float32 and int8.

Prepare checks a 4-D input, a block size above 0 that divides the channels by bs^2, and
then, as TFLM, replaces the output's dims with the computed ones
(CreateWritableTensorDimsWithCopy: a persistent copy of the dims array). TFLM writes
four dims whatever the output's rank and sizes nothing: here the output must be 4-D and
hold exactly the computed number of elements.
"""
from __future__ import annotations

import numpy as np

from tflm_edu.kernels.kernel_api import Registration, ensure, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule
from tflm_edu.memory.layout import BUILTIN, c_struct, m
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType, type_name
from tflm_edu.schema.options import DepthToSpaceOptions

INPUT, OUTPUT = 0, 0
SUPPORTED_TYPES = (TensorType.FLOAT32, TensorType.INT8)


def check_block_op(context, node):
    """The checks DEPTH_TO_SPACE and SPACE_TO_DEPTH share: (input, output, block_size)."""
    params = node.builtin_data
    ensure(len(node.inputs) == 1, f"{node.op_name} takes 1 input, got {len(node.inputs)}")
    ensure(len(node.outputs) == 1, f"{node.op_name} has 1 output, got {len(node.outputs)}")
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    ensure(input is not None, f"{node.op_name} needs an input")
    ensure(len(input.shape) == 4, f"{node.op_name} takes a 4-D input, got {list(input.shape)}")
    if output.type not in SUPPORTED_TYPES:
        raise unsupported_type(node, output)
    ensure(input.type == output.type,
           f"input is {type_name(input.type)} but the output is {type_name(output.type)}")
    block_size = params.block_size if params is not None else 0
    ensure(block_size > 0, f"block_size must be positive, got {block_size}")
    ensure(len(output.shape) == 4, f"the output must be 4-D (TFLM writes four dims), got "
                                   f"{list(output.shape)}")
    return input, output, block_size


def set_output_shape(output, shape):
    """CreateWritableTensorDimsWithCopy and the four dims written into it."""
    ensure(int(np.prod(output.shape)) == int(np.prod(shape)),
           f"output shape {list(output.shape)} does not hold the {list(shape)} the op writes")
    output.shape = tuple(int(d) for d in shape)


def prepare(context, node):
    """CalculateOpData."""
    input, output, block_size = check_block_op(context, node)
    batch, height, width, channels = input.shape
    ensure(channels % (block_size * block_size) == 0,
           f"the input's {channels} channels do not divide into {block_size}x{block_size} "
           f"blocks")
    set_output_shape(output, (batch, height * block_size, width * block_size,
                              channels // (block_size * block_size)))


def eval(context, node):
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    output.data[...] = depth_to_space(input.data, node.builtin_data.block_size)


# ----------------------------------------------------------------------------- reference math


def depth_to_space(x, block_size):
    """reference_ops::DepthToSpace: the channel axis split into (dh, dw, c), dh moved next
    to the rows and dw next to the columns."""
    batch, height, width, channels = x.shape
    depth = channels // (block_size * block_size)
    blocks = x.reshape(batch, height, width, block_size, block_size, depth)
    return blocks.transpose(0, 1, 3, 2, 4, 5).reshape(
        batch, height * block_size, width * block_size, depth)


def register_depth_to_space():
    return Registration("DEPTH_TO_SPACE", prepare=prepare, eval=eval, max_version=2)


def arena_prepare(k):
    """Temporaries for the input and the output, then the writable copy of the output's
    dims (a TfLiteIntArray of its rank, in the tail)."""
    k.temp_input(0)
    k.temp_output(0)
    k.persistent(4 + 4 * len(k.output(0).shape), "writable output dims")


c_struct("TfLiteDepthToSpaceParams", BUILTIN, m("block_size", "int"))

SPEC = OpSpec(Op.DEPTH_TO_SPACE, register_depth_to_space, DepthToSpaceOptions, SUPPORTED_TYPES,
              QuantizerRule(int8_version=2, output="same_as_input"),
              ArenaRecipe("TfLiteDepthToSpaceParams", None, arena_prepare))
