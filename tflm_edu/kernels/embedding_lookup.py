"""EMBEDDING_LOOKUP: copy the rows of a table (`value`) that a list of row numbers
(`lookup`) names - or, for an int8 table and a float32 output, dequantize them.

Mirrors tensorflow/lite/micro/kernels/embedding_lookup.cc (OpData, CalculateOpData,
EmbeddingLookUpPrepare, EvalSimple, EvalHybrid, EmbeddingLookUpEval). The inputs are
(lookup, value): lookup is a 1-D int32 tensor of row numbers, value a table of rank >= 2
whose first axis is the row. The output is [len(lookup)] + value.shape[1:]:

    output[i, ...] = value[lookup[i], ...]                     float32 -> float32,
                                                               int8 -> int8 (bytes copied)
    output[i, ...] = float(value[lookup[i], ...]) * scale      int8 -> float32 (hybrid)

The int8 -> int8 copy ignores the quantization parameters (as TFLM's raw memcpy does);
the hybrid path needs the table's zero point to be 0 and multiplies in float32 by its
(first) scale. A row number outside [0, rows) is TFLM's Eval error ("EMBEDDING_LOOKUP:
index out of bounds"); constant row numbers are checked here at prepare, computed ones at
eval. A table with no rows makes TFLM's copy path return without writing the output (it
keeps whatever the arena held): refused here unless there is nothing to look up.

TFLM allocates its OpData in Prepare (not Init) and rewrites the output's first
rank(value) dims with the computed ones in a persistent copy
(CreateWritableTensorDimsWithCopy), after checking the output's rank is at least the
table's and that the new shape fits the output's bytes. Here the output must already hold
exactly the computed number of elements (its dims past the table's rank stay, as in
TFLM).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tflm_edu.kernels.kernel_api import Registration, ensure
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule
from tflm_edu.memory.layout import KERNELS, c_struct, m
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType, type_name

LOOKUP, VALUE, OUTPUT = 0, 1, 0
SUPPORTED_TYPES = (TensorType.FLOAT32, TensorType.INT8)   # of the table


@dataclass
class OpData:
    scale: float = 0.0      # the int8 table's scale (hybrid path only)
    num_columns: int = 0    # elements per row of the table


def prepare(context, node):
    """EmbeddingLookUpPrepare and CalculateOpData."""
    ensure(len(node.inputs) == 2, f"EMBEDDING_LOOKUP takes 2 inputs (lookup, value), got "
                                  f"{len(node.inputs)}")
    ensure(len(node.outputs) == 1, f"EMBEDDING_LOOKUP has 1 output, got {len(node.outputs)}")
    lookup, value = context.get_input(node, LOOKUP), context.get_input(node, VALUE)
    output = context.get_output(node, OUTPUT)
    ensure(lookup is not None and value is not None, "EMBEDDING_LOOKUP needs two inputs")
    ensure(len(lookup.shape) == 1, f"lookup must be 1-D, got {list(lookup.shape)}")
    ensure(lookup.type == TensorType.INT32, f"lookup must be int32, got "
                                            f"{type_name(lookup.type)}")
    ensure(len(value.shape) >= 2, f"value must have rank 2 or more, got {list(value.shape)}")
    ensure(value.type in SUPPORTED_TYPES, f"value must be float32 or int8, got "
                                          f"{type_name(value.type)}")
    allowed = (TensorType.FLOAT32,) if value.type == TensorType.FLOAT32 else SUPPORTED_TYPES
    ensure(output.type in allowed, f"a {type_name(value.type)} table cannot give a "
                                   f"{type_name(output.type)} output")
    ensure(len(output.shape) >= len(value.shape),
           f"output {list(output.shape)} has fewer dims than value {list(value.shape)}")
    shape = (lookup.shape[0], *value.shape[1:], *output.shape[len(value.shape):])
    ensure(int(np.prod(shape)) == int(np.prod(output.shape)),
           f"output shape {list(output.shape)} does not hold the {list(shape)} the op writes")
    output.shape = tuple(int(d) for d in shape)
    ensure(value.shape[0] > 0 or lookup.shape[0] == 0,
           "value has no rows to look up (TFLM would leave the output unwritten)")
    data = OpData()
    if value.type == TensorType.INT8 and output.type == TensorType.FLOAT32:
        ensure(value.zero_point == 0, f"an int8 table needs a zero point of 0 to be "
                                      f"dequantized, got {value.zero_point}")
        data.scale = value.scale
    data.num_columns = value.num_elements // value.shape[0] if value.shape[0] else 0
    node.user_data = data
    if lookup.is_constant and lookup.data is not None:
        check_rows(lookup.data, value.shape[0])


def check_rows(rows, num_rows):
    """EvalSimple / EvalHybrid's bounds check."""
    bad = rows[(rows < 0) | (rows >= num_rows)]
    if bad.size:
        ensure(False, f"EMBEDDING_LOOKUP: index out of bounds. Got {int(bad[0])}, and "
                      f"bounds are [0, {num_rows - 1}]")


def eval(context, node):
    """EmbeddingLookUpEval."""
    data: OpData = node.user_data
    lookup, value = context.get_input(node, LOOKUP), context.get_input(node, VALUE)
    output = context.get_output(node, OUTPUT)
    num_rows = value.shape[0]
    if lookup.shape[0] == 0:
        return
    check_rows(lookup.data, num_rows)
    rows = value.data.reshape(num_rows, -1)[lookup.data]
    if value.type == TensorType.INT8 and output.type == TensorType.FLOAT32:
        rows = dequantize(rows, data.scale)
    output.data.reshape(-1)[...] = rows.reshape(-1)


def dequantize(values, scale):
    """Dequantize (micro_utils.h) with zero point 0: (value - 0) * scale, the int8 value
    made a float and multiplied in float32."""
    return values.astype(np.float32) * np.float32(scale)


def register_embedding_lookup():
    return Registration("EMBEDDING_LOOKUP", prepare=prepare, eval=eval, max_version=5)


def arena_prepare(k):
    """Temporaries for lookup, value and the output, the writable copy of the output's dims
    (as many entries as its rank in the model), then the OpData."""
    k.temp_input(LOOKUP)
    k.temp_input(VALUE)
    k.temp_output(OUTPUT)
    k.persistent(4 + 4 * len(k.output(OUTPUT).shape), "writable output dims")
    k.persistent(lambda target: target.sizeof("OpDataEmbeddingLookup"), "OpData")


# The C struct this kernel puts in the arena, member by member as TFLM declares it
# (tflm_edu.memory.layout lays it out for each target: size_t is pointer-sized).
c_struct("OpDataEmbeddingLookup", KERNELS + "embedding_lookup.cc (OpData)",
         m("scale", "float"), m("num_columns", "ptr"))

# int8 -> int8 (TFLM has no int16 table): the rows are copied, so the output keeps the
# table's scale and zero point (the table - input 1, its first float input - and the output
# share one range). Version 1, as op_version.cc gives a per-tensor int8 table.
SPEC = OpSpec(Op.EMBEDDING_LOOKUP, register_embedding_lookup, None, SUPPORTED_TYPES,
              QuantizerRule(int8_version=1, output="same_as_input"),
              ArenaRecipe(None, None, arena_prepare))
