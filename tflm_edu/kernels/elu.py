"""ELU: x for x >= 0, exp(x) - 1 below; float32, and int8 through a 256-entry table.

Mirrors tensorflow/lite/micro/kernels/elu.cc (OpData with its int8 table,
PopulateLookupTable, CalculateOpData, EluEval), with reference_ops::Elu
(kernels/internal/reference/elu.h).

The two types compute exp(x) - 1 differently, as in TFLM:

- float32: TfLiteExpm1, the C library's expm1f. glibc's expm1f is not correctly rounded
  (about 1 result in 25 differs from expm1 computed in double and rounded), and numpy's own
  float32 expm1 differs from both, so tflm_edu calls the C library's expm1f itself, through
  ctypes, for every negative element (where none can be loaded, expm1 in double rounded
  once stands).
- int8: at prepare, each of the 256 input values is dequantized in float32
  (scale * (q - zero_point)), sent through std::exp(v) - 1.0f (expf, then a float32
  subtraction) when negative, divided by the output scale as a multiplication by the
  float32 1 / scale, rounded half away from zero (TfLiteRound), offset by the output zero
  point and clamped to int8. Eval only looks the bytes up.

Prepare checks one input, one output of the same type; the table needs both int8 tensors
quantized (TFLM reads params.scale, 0 without quantization, and divides by it), and
refuses an output scale so small that a table entry leaves the int32 range (TFLM's
float-to-int32 cast is undefined there; x86 and Arm answer differently).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tflm_edu.kernels.kernel_api import Registration, ensure, ensure_quantized, unsupported_type
from tflm_edu.kernels.libm import GLIBC, libm_of
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule, inputs_then_output
from tflm_edu.memory.layout import KERNELS, c_struct, m
from tflm_edu.quantization import round_half_away_from_zero
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType, type_name

INPUT, OUTPUT = 0, 0
SUPPORTED_TYPES = (TensorType.FLOAT32, TensorType.INT8)


@dataclass
class OpData:
    table: np.ndarray = field(default_factory=lambda: np.zeros(256, np.int8))  # by uint8(q)


def init(context, node):
    return OpData()


def prepare(context, node):
    """CalculateOpData."""
    data: OpData = node.user_data
    ensure(len(node.inputs) == 1, f"ELU takes 1 input, got {len(node.inputs)}")
    ensure(len(node.outputs) == 1, f"ELU has 1 output, got {len(node.outputs)}")
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    ensure(input is not None, "ELU needs an input")
    ensure(input.type == output.type,
           f"input is {type_name(input.type)} but the output is {type_name(output.type)}")
    if input.type not in SUPPORTED_TYPES:
        raise unsupported_type(node, input)
    ensure(int(np.prod(input.shape)) == int(np.prod(output.shape)),
           f"output shape {list(output.shape)} does not hold the input's {list(input.shape)}")
    if input.type == TensorType.INT8:
        ensure_quantized(input, np.int8)
        ensure_quantized(output, np.int8)
        data.table = populate_lookup_table(input.scale, input.zero_point, output.scale,
                                           output.zero_point, libm_of(context).expf)


def eval(context, node):
    data: OpData = node.user_data
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    if input.type == TensorType.FLOAT32:
        result = elu_float(input.data, libm_of(context).expm1f)
    else:
        result = data.table[input.data.view(np.uint8)]   # EvalUsingLookupTable
    output.data[...] = result.reshape(output.shape)


# ----------------------------------------------------------------------------- reference math


def elu_float(x, expm1f=GLIBC.expm1f):
    """reference_ops::Elu: expm1f(x) where x < 0, x itself elsewhere (NaN too). `expm1f`
    is the C library's (libm.py: the host's by default)."""
    result = np.array(x, np.float32, copy=True)
    negative = x < 0
    result[negative] = expm1f(x[negative])
    return result


def populate_lookup_table(input_scale, input_zero_point, output_scale, output_zero_point,
                          expf=GLIBC.expf):
    """PopulateLookupTable<int8_t> with ELU's transform, all in float32: the table entry of
    each int8 value, indexed by the value's byte (uint8)."""
    val = np.arange(-128, 128, dtype=np.int32)
    dequantized = np.float32(input_scale) * (val - input_zero_point).astype(np.float32)
    with np.errstate(over="ignore"):
        transformed = np.where(dequantized < 0, expf(dequantized) - np.float32(1.0),
                               dequantized).astype(np.float32)
        inverse_scale = np.float32(1.0) / np.float32(output_scale)
        rescaled = round_half_away_from_zero(transformed * inverse_scale)
    quantized = (rescaled + np.float32(output_zero_point)).astype(np.float32)  # in float32
    ensure(bool(np.all(np.abs(quantized) < 2.0**31)),
           f"ELU's int8 table overflows int32 (output scale {output_scale:g} is too small "
           f"for the input's range): TFLM's float-to-int32 conversion is undefined there")
    clamped = np.clip(quantized, -128, 127).astype(np.int8)
    table = np.zeros(256, np.int8)
    table[val.astype(np.int8).view(np.uint8)] = clamped
    return table


def register_elu():
    return Registration("ELU", prepare=prepare, eval=eval, init=init)


# ParseElu allocates nothing; Init allocates the OpData (the 256-byte table); Prepare
# fetches the input and the output.
c_struct("OpDataElu", KERNELS + "elu.cc (OpData)", m("table", "int8", 256))

SPEC = OpSpec(Op.ELU, register_elu, None, SUPPORTED_TYPES,
              QuantizerRule(int8_version=1),
              ArenaRecipe(None, "OpDataElu", inputs_then_output(1)))
