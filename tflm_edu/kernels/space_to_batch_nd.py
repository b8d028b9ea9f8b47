"""SPACE_TO_BATCH_ND: pad an image, cut it into blocks, and move each position within a
block to a batch of its own.

Mirrors tensorflow/lite/micro/kernels/space_to_batch_nd.cc (SpaceToBatchNDInit / Prepare /
Eval) and reference_ops::SpaceToBatchND (kernels/internal/reference/space_to_batch_nd.h).

The inputs are (input, block_shape, paddings): input [batches, height, width, depth] (or
[batches, height, depth], taken as width 1), block_shape int32 [block_height, block_width]
([block_height] for 3-D), paddings int32 [[top, bottom], [left, right]] ([[top, bottom]]).
With a 2x2 block, an input [1, 4, 4, 1] becomes [4, 2, 2, 1]: output batch
(shift_h * block_width + shift_w) * batches + b holds the pixels at rows
shift_h, shift_h + 2, ... and columns shift_w, shift_w + 2, ... of the padded image b.
Here: pad, reshape to [batches, out_h, block_h, out_w, block_w, depth], move the two block
axes to the front, reshape.

The padding value: TFLM pads with memset(params.output_offset), and nothing ever sets
output_offset - SpaceToBatchNDInit allocates SpaceToBatchParams in the arena and Prepare
leaves it as the arena held it. On a zeroed arena (a static array on a board) that pads
with zero bytes - 0.0, and 0 for int8 whatever its zero point - which is what tflm_edu
does. (TFLite pads int8 with the zero point; a TFLM arena that held other data pads with
that data's bytes.)

TFLM's Prepare checks the ranks (3 or 4) and the types; its Eval trusts block_shape and
paddings. Prepare here also checks them as TFLite does - int32, one entry (row) per spatial
axis, blocks positive, paddings non-negative, the padded size a multiple of the block - and
the output has the shape they give ([batches * block_height * block_width,
padded_height / block_height, ...]); when they are not constants, Eval checks them.
"""
from __future__ import annotations

import numpy as np

from tflm_edu.kernels.kernel_api import Registration, ensure, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule
from tflm_edu.memory.layout import TYPES, c_struct, m
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType, type_name
from tflm_edu.schema.options import SpaceToBatchNDOptions

INPUT, BLOCK_SHAPE, PADDINGS, OUTPUT = 0, 1, 2, 0
SUPPORTED_TYPES = (TensorType.FLOAT32, TensorType.INT8)
MIN_DIMS, MAX_DIMS = 3, 4  # NHC or NHWC


def init(context, node):
    return None  # SpaceToBatchParams: nothing in it is ever set (see the docstring)


def prepare(context, node):
    input, output = check_block_op_io(context, node)
    block_shape = context.get_input(node, BLOCK_SHAPE)
    paddings = context.get_input(node, PADDINGS)
    if block_shape.is_constant and paddings.is_constant:
        check_output_shape(input, output, block_shape.data, paddings.data)


def check_block_op_io(context, node):
    """The Prepare of SPACE_TO_BATCH_ND and BATCH_TO_SPACE_ND: three inputs, ranks 3 or 4
    (the same for input and output), one type, and block_shape / paddings (crops) tensors
    of int32 with one entry (row of two) per spatial axis. Returns (input, output)."""
    op = node.op_name
    ensure(len(node.inputs) == 3, f"{op} takes 3 inputs, got {len(node.inputs)}")
    ensure(len(node.outputs) == 1, f"{op} has 1 output, got {len(node.outputs)}")
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    block_shape = context.get_input(node, BLOCK_SHAPE)
    paddings = context.get_input(node, PADDINGS)
    ensure(None not in (input, block_shape, paddings), f"{op} needs all three inputs")
    for name, t in (("input", input), ("output", output)):
        ensure(MIN_DIMS <= len(t.shape) <= MAX_DIMS,
               f"the {name} must be 3-D or 4-D, got shape {list(t.shape)}")
    ensure(len(input.shape) == len(output.shape),
           f"input {list(input.shape)} and output {list(output.shape)} differ in rank")
    ensure(input.type == output.type, f"the input is {type_name(input.type)} but the output "
                                      f"is {type_name(output.type)}")
    if input.type not in SUPPORTED_TYPES:
        raise unsupported_type(node, input)
    spatial = len(input.shape) - 2
    for name, t, shape in (("block_shape", block_shape, [spatial]),
                           (node_third_input_name(node), paddings, [spatial, 2])):
        ensure(t.type == TensorType.INT32, f"{name} must be int32, got {type_name(t.type)}")
        ensure(list(t.shape) == shape, f"{name} must have shape {shape} for a "
                                       f"{len(input.shape)}-D input, got {list(t.shape)}")
    return input, output


def node_third_input_name(node) -> str:
    return "crops" if node.op_name == "BATCH_TO_SPACE_ND" else "paddings"


def spatial_shape(shape) -> tuple:
    """ExtendShapeSpaceToBatch: [batches, height, depth] is [batches, height, 1, depth]."""
    return tuple(shape) if len(shape) == 4 else (shape[0], shape[1], 1, shape[2])


def check_output_shape(input, output, block_shape, paddings) -> None:
    """TFLite's output shape for these blocks and paddings (its ResizeOutputTensor)."""
    block = [int(b) for b in block_shape.reshape(-1)]
    pads = np.asarray(paddings, np.int64).reshape(-1, 2)
    ensure(all(b >= 1 for b in block), f"block_shape {block} must be positive")
    ensure((pads >= 0).all(), f"paddings {pads.tolist()} must not be negative")
    expected = [input.shape[0] * int(np.prod(block))]
    for axis, b in enumerate(block):
        padded = input.shape[1 + axis] + int(pads[axis].sum())
        ensure(padded % b == 0, f"the padded size {padded} of spatial axis {axis} is not a "
                                f"multiple of the block size {b}")
        expected.append(padded // b)
    expected.append(input.shape[-1])
    ensure(list(output.shape) == expected,
           f"output shape {list(output.shape)} should be {expected}")


def eval(context, node):
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    block_shape = context.get_input(node, BLOCK_SHAPE)
    paddings = context.get_input(node, PADDINGS)
    if not (block_shape.is_constant and paddings.is_constant):
        check_output_shape(input, output, block_shape.data, paddings.data)
    result = space_to_batch(input.data.reshape(spatial_shape(input.shape)),
                            block_shape.data, paddings.data, spatial_shape(output.shape))
    output.data[...] = result.reshape(output.shape)


# ----------------------------------------------------------------------------- reference math


def space_to_batch(x, block_shape, paddings, output_shape):
    """reference_ops::SpaceToBatchND on 4-D shapes: pad (with zero bytes), split each
    spatial axis into (output size, block size), move the block axes before the batch."""
    block_height = int(block_shape[0])
    block_width = int(block_shape[1]) if len(block_shape) > 1 else 1
    pads = np.asarray(paddings).reshape(-1, 2)
    top, left = int(pads[0, 0]), int(pads[1, 0]) if len(pads) > 1 else 0
    batches, height, width, depth = x.shape
    _, output_height, output_width, _ = output_shape
    padded = np.zeros((batches, output_height * block_height, output_width * block_width,
                       depth), x.dtype)
    padded[:, top:top + height, left:left + width] = x
    blocks = padded.reshape(batches, output_height, block_height, output_width, block_width,
                            depth)
    return blocks.transpose(2, 4, 0, 1, 3, 5).reshape(output_shape)


def register_space_to_batch_nd():
    return Registration("SPACE_TO_BATCH_ND", prepare=prepare, eval=eval, init=init,
                        max_version=4)


def arena_prepare(k):
    """SpaceToBatchNDPrepare: a temporary tensor for the input, then one for the output."""
    k.temp_input(INPUT)
    k.temp_output(OUTPUT)


# The C structs this kernel puts in the arena, member by member as TFLM declares them
# (tflm_edu.memory.layout lays them out for each target). ParseSpaceToBatchNd allocates no
# params; Init allocates a SpaceToBatchParams as the op's user data.
c_struct("SpaceToBatchParams", TYPES, m("output_offset", "int32"))

SPEC = OpSpec(Op.SPACE_TO_BATCH_ND, register_space_to_batch_nd, SpaceToBatchNDOptions,
              SUPPORTED_TYPES,
              QuantizerRule(int8_version=2, output="same_as_input"),
              ArenaRecipe(None, "SpaceToBatchParams", arena_prepare))
