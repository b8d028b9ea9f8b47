"""SVDF: a fully connected layer over time, factored into a feature filter and a time filter.

Mirrors tensorflow/lite/micro/kernels/svdf.cc (InitSvdf, EvalSvdf) and svdf_common.cc
(PrepareSvdf, EvalIntegerSvdfReference, EvalFloatSvdfReference).

The op has memory. Its input 4, activation_state [batch, num_filters * memory_size], is a
variable tensor: it lives in the arena tail, keeps its bytes from one invoke() to the next,
and starts from (and goes back to, on reset()) zero - or, for an int8 state, its zero
point, as TFLM's interpreter fills its variables. Seen as [batch, num_filters, memory_size], each filter
keeps a row of its last memory_size feature values, oldest first. One invoke:

  1. shift   every row one place to the left: the oldest value drops out
  2. feature state[b, f, -1] = input[b] . weights_feature[f]   (the newest column)
  3. time    scratch[b, f] = state[b, f] . weights_time[f]      (one dot per filter)
  4. reduce  output[b, u] = bias[u] + the sum of the `rank` filters of unit u
             (filters u * rank ... u * rank + rank - 1), then the activation

num_units = num_filters / rank. The int8 kernel (int8 input and weights_feature, int16 or
int8 weights_time and state, int32 bias) requantizes twice: after step 2 into the state's
scale (effective_scale_1 = input * weights_feature / state) and after step 4 into the
output's (effective_scale_2 = state * weights_time / output). It applies no fused
activation at all: TFLM's integer SVDF only clamps to the int8 range, whatever the
options say. Step 3 keeps its sums (int32 or float) in a scratch buffer that Prepare
requests in the arena head, and the int8 kernel keeps step 4's in a second one; this module
computes in numpy and stores those sums in the same buffers, so a wrong memory plan shows
here as it would on a device.

Where TFLM builds differ: the two effective scales are computed in double here, as the TFLM
of the tflite-micro package (0.dev20261023) does - measured on the int16 state, where the
two choices land one step apart on a few values in ten thousand. TFLM's source at commit
90b983c (the tree tflm_edu builds firmware from) multiplies and divides the float scales
in float32 and only then widens to double, so a board can differ by one state step there
(tests/test_kernel_svdf.py pins a model where that shows).

TFLM crashes on an SVDF without a bias (its Prepare and Eval use the bias unconditionally):
tflm_edu refuses such a model instead.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tflm_edu.kernels.fixedpoint import wrap32
from tflm_edu.kernels.kernel_api import Registration, ensure, ensure_quantized, unsupported_type
from tflm_edu.kernels.libm import libm_of, tanhf
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule
from tflm_edu.kernels.quantization_util import (exact_int_matmul, float32_dot_in_order,
                                                multiply_by_quantized_multiplier,
                                                quantize_multiplier)
from tflm_edu.memory.layout import BUILTIN, KERNELS, c_struct, m
from tflm_edu.schema.enums import ActivationFunctionType as Act
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType, type_name
from tflm_edu.schema.options import SVDFOptions

INPUT, WEIGHTS_FEATURE, WEIGHTS_TIME, BIAS, ACTIVATION_STATE = 0, 1, 2, 3, 4
OUTPUT = 0
SUPPORTED_TYPES = (TensorType.FLOAT32, TensorType.INT8)
# The types of weights_time (and of the state, which must match) an int8 SVDF takes.
STATE_DTYPES = {TensorType.INT16: np.int16, TensorType.INT8: np.int8}


@dataclass
class OpDataSvdf:
    """OpDataSvdf (svdf.h): the two requantization steps as (Q31 multiplier, shift) pairs,
    the handles of the two scratch buffers, and the zero points Eval needs."""

    effective_scale_1_a: int = 0
    effective_scale_2_a: int = 0
    effective_scale_1_b: int = 0
    effective_scale_2_b: int = 0
    scratch_tensor_index: int = -1         # [batch, num_filters] int32 or float
    scratch_output_tensor_index: int = -1  # [batch, num_units] int32 (int8 only)
    input_zero_point: int = 0
    output_zero_point: int = 0
    activation_state_zero_point: int = 0


@dataclass
class SvdfShape:
    """The sizes PrepareSvdf reads off the tensors."""

    rank: int
    batch_size: int
    input_size: int
    num_filters: int
    num_units: int
    memory_size: int


def init(context, node):
    return OpDataSvdf()


# ----------------------------------------------------------------------------- prepare


def prepare(context, node):
    data: OpDataSvdf = node.user_data
    params = node.builtin_data
    ensure(params is not None, "SVDF has no SVDFOptions (TFLM would read rank 0 and divide "
                               "by it)")
    ensure(len(node.inputs) == 5,
           f"SVDF takes 5 inputs (input, weights_feature, weights_time, bias, "
           f"activation_state), got {len(node.inputs)}")
    ensure(len(node.outputs) == 1, f"SVDF has 1 output, got {len(node.outputs)}")
    input, weights_feature, weights_time, bias, activation_state = (
        context.get_input(node, i) for i in range(5))
    output = context.get_output(node, OUTPUT)
    for name, t in (("input", input), ("weights_feature", weights_feature),
                    ("weights_time", weights_time), ("activation_state", activation_state)):
        ensure(t is not None, f"SVDF needs its {name} tensor")
    # TFLM's Prepare reads bias->params and its Eval reads bias->data whatever the bias is:
    # with the bias left out (-1) the real TFLM dereferences a null pointer and crashes.
    ensure(bias is not None, "SVDF without a bias tensor: TFLM's SVDF reads the bias "
                             "unconditionally (a null pointer) and crashes")
    shape = check_shapes(params, input, weights_feature, weights_time, bias,
                         activation_state, output)
    ensure(activation_state.is_variable,
           f"activation_state (tensor {activation_state.index}) must be a variable tensor: "
           f"it carries the op's memory from one invoke to the next")
    if input.type == TensorType.INT8:
        _prepare_int8(context, data, input, weights_feature, weights_time, bias,
                      activation_state, output, shape)
    elif input.type == TensorType.FLOAT32:
        for name, t in (("weights_feature", weights_feature), ("weights_time", weights_time),
                        ("activation_state", activation_state), ("bias", bias),
                        ("output", output)):
            ensure(t.type == TensorType.FLOAT32,
                   f"a float32 SVDF needs a float32 {name}, got {type_name(t.type)}")
        # The time step's float sums, one per filter.
        data.scratch_tensor_index = context.request_scratch_buffer_in_arena(
            shape.batch_size * shape.num_filters * 4)
    else:
        raise unsupported_type(node, input)


def check_shapes(params, input, weights_feature, weights_time, bias, activation_state,
                 output) -> SvdfShape:
    """The shape checks of PrepareSvdf (ranks first, where the C++ would read dims it has
    not checked yet):
      input            [batch_size, input_size]
      weights_feature  [num_filters, input_size]
      weights_time     [num_filters, memory_size]
      bias             [num_units]                 num_units = num_filters / rank
      activation_state [batch_size, memory_size * num_filters]
      output           [batch_size, num_units]"""
    for name, t in (("input", input), ("output", output), ("weights_feature", weights_feature),
                    ("weights_time", weights_time), ("activation_state", activation_state)):
        ensure(len(t.shape) == 2, f"SVDF's {name} must be 2-D, got shape {list(t.shape)}")
    ensure(params.rank > 0, f"SVDF rank must be positive, got {params.rank}")
    batch_size, input_size = input.shape
    num_filters, memory_size = weights_feature.shape[0], weights_time.shape[1]
    ensure(num_filters % params.rank == 0,
           f"weights_feature has {num_filters} filters, not a multiple of rank {params.rank}")
    num_units = num_filters // params.rank
    ensure(tuple(output.shape) == (batch_size, num_units),
           f"output {list(output.shape)} should be [{batch_size}, {num_units}] "
           f"(batch_size, num_filters / rank)")
    ensure(weights_feature.shape[1] == input_size,
           f"weights_feature {list(weights_feature.shape)} should have {input_size} columns, "
           f"the input's size")
    ensure(weights_time.shape[0] == num_filters,
           f"weights_time {list(weights_time.shape)} should have {num_filters} rows, one per "
           f"filter")
    ensure(len(bias.shape) >= 1 and bias.shape[0] == num_units,
           f"bias {list(bias.shape)} should hold {num_units} values, one per unit")
    ensure(tuple(activation_state.shape) == (batch_size, memory_size * num_filters),
           f"activation_state {list(activation_state.shape)} should be [{batch_size}, "
           f"{memory_size * num_filters}] (batch_size, memory_size * num_filters)")
    return SvdfShape(params.rank, batch_size, input_size, num_filters, num_units, memory_size)


def _prepare_int8(context, data, input, weights_feature, weights_time, bias,
                  activation_state, output, shape):
    ensure(weights_feature.type == TensorType.INT8,
           f"an int8 SVDF needs int8 weights_feature, got {type_name(weights_feature.type)}")
    ensure(weights_time.type in STATE_DTYPES,
           f"an int8 SVDF needs int16 or int8 weights_time, got {type_name(weights_time.type)}")
    ensure(activation_state.type in STATE_DTYPES,
           f"an int8 SVDF needs an int16 or int8 activation_state, got "
           f"{type_name(activation_state.type)}")
    # Not checked by TFLM, which reads the state as weights_time's type: a mismatch would
    # make it read past (or short of) the state's bytes.
    ensure(activation_state.type == weights_time.type,
           f"activation_state is {type_name(activation_state.type)} but weights_time is "
           f"{type_name(weights_time.type)}: SVDF reads both as one type")
    ensure(bias.type == TensorType.INT32,
           f"an int8 SVDF needs an int32 bias, got {type_name(bias.type)}")
    ensure(output.type == TensorType.INT8,
           f"an int8 SVDF needs an int8 output, got {type_name(output.type)}")
    for t in (input, weights_feature, weights_time, activation_state, output):
        ensure_quantized(t, t.dtype)
    # In double, as the TFLM of the tflite-micro package computes them (the module docstring
    # says where the firmware's TFLM differs).
    effective_scale_1 = input.scale * weights_feature.scale / activation_state.scale
    state_times_time = activation_state.scale * weights_time.scale
    effective_scale_2 = state_times_time / output.scale
    ensure(abs(bias.scale - state_times_time) < 1e-5,
           f"bias scale {bias.scale:g} should be activation_state scale x weights_time scale "
           f"= {state_times_time:g}")
    data.effective_scale_1_a, data.effective_scale_1_b = quantize_multiplier(effective_scale_1)
    data.effective_scale_2_a, data.effective_scale_2_b = quantize_multiplier(effective_scale_2)
    data.input_zero_point = input.zero_point
    data.output_zero_point = output.zero_point
    data.activation_state_zero_point = activation_state.zero_point
    # The time step's int32 sums (one per filter), then the output's (one per unit).
    data.scratch_tensor_index = context.request_scratch_buffer_in_arena(
        shape.batch_size * shape.num_filters * 4)
    data.scratch_output_tensor_index = context.request_scratch_buffer_in_arena(
        shape.batch_size * shape.num_units * 4)


# ----------------------------------------------------------------------------- eval


def eval(context, node):
    data: OpDataSvdf = node.user_data
    params = node.builtin_data
    input, weights_feature, weights_time, bias, activation_state = (
        context.get_input(node, i) for i in range(5))
    output = context.get_output(node, OUTPUT)
    num_filters, memory_size = weights_feature.shape[0], weights_time.shape[1]
    batch_size = input.shape[0]
    # The state as [batch, num_filters, memory_size]: a view, so the arena bytes change.
    state = activation_state.data.reshape(batch_size, num_filters, memory_size)
    scratch = context.get_scratch_buffer(data.scratch_tensor_index)
    if weights_feature.type == TensorType.FLOAT32:
        result = svdf_float(input.data, weights_feature.data, weights_time.data, bias.data,
                            state, params.rank, params.fused_activation_function,
                            scratch.view(np.float32), libm_of(context).tanhf)
    else:
        result = svdf_integer(input.data, weights_feature.data, weights_time.data, bias.data,
                              state, params.rank, data, scratch.view(np.int32),
                              context.get_scratch_buffer(data.scratch_output_tensor_index)
                              .view(np.int32))
    output.data.reshape(result.shape)[...] = result


def shift_state(state) -> None:
    """Every value one place to the left in the flat state buffer. The value that crosses
    into the end of the previous row lands in a newest column, which step 2 overwrites:
    so each row simply forgets its oldest value."""
    flat = state.reshape(-1)
    flat[:-1] = flat[1:].copy()


def svdf_integer(x, weights_feature, weights_time, bias, state, rank, data, scratch,
                 scratch_output):
    """EvalIntegerSvdfReference<T> (T = the state's type, int16 or int8), vectorized.
    x [batch, input_size] int8; state [batch, num_filters, memory_size] T, updated in place;
    scratch [batch * num_filters] and scratch_output [batch * num_units] int32 views of the
    arena's scratch buffers. Returns the int8 output [batch, num_units]."""
    state_info = np.iinfo(state.dtype)
    zero_point = data.activation_state_zero_point
    shift_state(state)
    # Feature: sum((input - input_zero_point) * weights_feature) per filter, into the state's
    # scale, clamped to its type, plus its zero point (stored as T, wrapping as a C cast).
    dot_prod = wrap32(exact_int_matmul(x.astype(np.int64) - data.input_zero_point,
                                       weights_feature.astype(np.int64).T))
    dot_prod = multiply_by_quantized_multiplier(dot_prod, data.effective_scale_1_a,
                                                data.effective_scale_1_b)
    dot_prod = np.clip(dot_prod, state_info.min, state_info.max)
    state[:, :, -1] = (dot_prod + zero_point).astype(state.dtype)
    # Time: one int32 dot product per filter, over its memory.
    time_dots = np.einsum("bfm,fm->bf", state.astype(np.int64) - zero_point,
                          weights_time.astype(np.int64))
    scratch[...] = wrap32(time_dots).reshape(-1)
    # Reduce: bias + the rank filters of each unit, then into the output's scale.
    batch_size, num_units = x.shape[0], state.shape[1] // rank
    sums = scratch.reshape(batch_size, num_units, rank).astype(np.int64).sum(axis=2)
    bias = bias.reshape(-1)[:num_units].astype(np.int64)  # the first num_units values
    scratch_output[...] = wrap32(sums + bias).reshape(-1)
    x2 = multiply_by_quantized_multiplier(scratch_output.astype(np.int64),
                                          data.effective_scale_2_a, data.effective_scale_2_b)
    result = np.clip(x2 + data.output_zero_point, -128, 127).astype(np.int8)
    return result.reshape(batch_size, num_units)


def svdf_float(x, weights_feature, weights_time, bias, state, rank, activation, scratch,
               tanhf=tanhf):
    """EvalFloatSvdfReference and ApplyTimeWeightsBiasAndActivation, vectorized over batches
    and filters but adding in the C++ order, every product and sum rounded to float32.
    `tanhf` is the C library's (libm.py: the host's by default)."""
    shift_state(state)
    state[:, :, -1] = float32_dot_in_order(x, weights_feature.T)
    batch_size, num_filters, memory_size = state.shape
    # Time: 0.0f, then += weights_time[f, j] * state[b, f, j] for j in order.
    time_dots = np.zeros((batch_size, num_filters), np.float32)
    for j in range(memory_size):
        time_dots += weights_time[:, j] * state[:, :, j]
    scratch[...] = time_dots.reshape(-1)
    # Output starts as the bias, then adds the unit's rank filters in order.
    per_unit = scratch.reshape(batch_size, -1, rank)
    output = np.broadcast_to(bias.reshape(-1)[:per_unit.shape[1]], per_unit.shape[:2]).copy()
    for j in range(rank):
        output += per_unit[:, :, j]
    return activation_val_float(activation, output, tanhf)


def activation_val_float(activation, a, tanhf=tanhf):
    """ActivationValFloat (activation_utils.h), with std::max / std::min spelled as their
    ternaries so that NaN and -0.0 come out as in C++."""
    f32 = np.float32
    if activation == Act.RELU:
        return np.where(f32(0) < a, a, f32(0))
    if activation == Act.RELU_N1_TO_1:
        return _max(f32(-1), _min(a, f32(1)))
    if activation == Act.RELU6:
        return _max(f32(0), _min(a, f32(6)))
    if activation == Act.TANH:
        return tanhf(a)
    if activation == Act.SIGN_BIT:
        return np.signbit(a).astype(np.float32)
    return a  # NONE, and any value the schema does not define (TFLM's parser reads NONE)


def _max(a, b):  # std::max(a, b): (a < b) ? b : a
    return np.where(a < b, b, a)


def _min(a, b):  # std::min(a, b): (b < a) ? b : a
    return np.where(b < a, b, a)


# ----------------------------------------------------------------------------- registration


def count_macs(context, node):
    input, weights_time = context.get_input(node, INPUT), context.get_input(node, WEIGHTS_TIME)
    num_filters, memory_size = weights_time.shape
    return input.shape[0] * num_filters * (input.shape[1] + memory_size)


def register_svdf():
    return Registration("SVDF", prepare=prepare, eval=eval, init=init, max_version=4,
                        count_macs=count_macs)


def arena_prepare(k):
    """PrepareSvdf: a temporary TfLiteTensor for each of the five inputs in order (none for
    an absent bias) and one for the output; nothing persistent. Its scratch buffers are
    requested by prepare() above, as the C++ does."""
    for i in range(5):
        k.temp_input(i)
    k.temp_output(0)


# The C structs this kernel puts in the arena, member by member as TFLM declares them
# (tflm_edu.memory.layout lays them out for each target).
c_struct("TfLiteSVDFParams", BUILTIN, m("rank", "int"), m("activation", "enum"),
         m("asymmetric_quantize_inputs", "bool"))
c_struct("OpDataSvdf", KERNELS + "svdf.h",
         m("effective_scale_1_a", "int32"), m("effective_scale_2_a", "int32"),
         m("effective_scale_1_b", "int"), m("effective_scale_2_b", "int"),
         m("scratch_tensor_index", "int"), m("scratch_output_tensor_index", "int"),
         m("input_zero_point", "int"), m("output_zero_point", "int"),
         m("activation_state_zero_point", "int"))

# Quantized as TFLite's operator_property does (int8 only: TFLM has no int16 SVDF): input
# and output int8 activations; weights_feature symmetric int8, one scale; weights_time
# symmetric int16 at max|w| / 512 ("10 bits", leaving 6 bits of head-room for the sum over
# memory_size); activation_state symmetric int16 from its calibrated range; the bias int32
# at weights_time scale x state scale. Only with a fused RELU: TFLM's integer kernel applies
# no activation, only the int8 clamp - a ReLU, as the calibrated range of a ReLU output
# starts at 0 (zero point -128) - and LiteRT's int8 SVDF refuses any activation but RELU.
SPEC = OpSpec(Op.SVDF, register_svdf, SVDFOptions, SUPPORTED_TYPES,
              QuantizerRule(int8_version=3, weights_per_tensor=True,
                            weights_input=WEIGHTS_FEATURE, bias_input=BIAS,
                            int16_weights=((WEIGHTS_TIME, 512),),
                            state_inputs=(ACTIVATION_STATE,),
                            bias_scale_inputs=(WEIGHTS_TIME, ACTIVATION_STATE),
                            activations=(Act.RELU,),
                            activations_why="TFLM's integer SVDF applies no activation, only "
                            "the int8 clamp (which a ReLU's calibrated range makes a ReLU), "
                            "and LiteRT's int8 SVDF refuses any activation but RELU"),
              ArenaRecipe("TfLiteSVDFParams", "OpDataSvdf", arena_prepare))
