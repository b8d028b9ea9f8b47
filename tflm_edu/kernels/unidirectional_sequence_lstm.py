"""UNIDIRECTIONAL_SEQUENCE_LSTM: an LSTM layer run over a whole sequence in one op.

Mirrors tensorflow/lite/micro/kernels/unidirectional_sequence_lstm.cc (Init, Prepare, Eval),
lstm_eval_common.cc (CreateLstmSizeInfo, ValidateTensorSize, CreateGateParams,
CreateInterGateMulParams, CreateLstmCellStateInfo, PrepareGateParametersFloat / Integer)
and the LstmTensors checks of lstm_eval.cc; the arithmetic of a time step is in
lstm_eval.py.

The 24 inputs, in the order TensorFlow's converter writes them (lstm_shared.h):

   0 input [B, T, I] ([T, B, I] when time_major)
   1-4  input-to-{input, forget, cell, output} weights [S, I]
   5-8  recurrent-to-{input, forget, cell, output} weights [S, S]
   9-11 peephole weights          must be absent (-1)
  12-15 {input, forget, cell, output} gate biases [S]
  16-17 projection weights, bias  must be absent
  18 output_state [B, S], 19 cell_state [B, S]: variable tensors, the op's memory
  20-23 layer norm coefficients   must be absent
and one output [B, T, S] (or [T, B, S]): the hidden state after each step.

TFLM's kernel is the plain (Keras) LSTM: no CIFG, peephole, projection or layer norm - it
refuses a model with any of those tensors, and so does tflm_edu. The options' proj_clip
is therefore never used; cell_clip clips the cell state when positive; the activation
(TANH from the converter) is the cell gate's nonlinearity.

Types: all float32; or "integer LSTM" as the converter quantizes it - int8 input, output
and output_state, int8 weights (per tensor), int32 biases at input scale x weight scale,
an int16 cell_state whose scale is a power of two; or the same with int16 activations
and int64 biases. The five intermediate tensors the converter attaches to the op (each
gate's input-to-gate scale and the effective hidden scale) are not read by TFLM's kernel:
its gates use fixed Q3.12 / Q0.15 scales (see lstm_eval.py), so tflm_edu ignores them too.
TFLM does not check the bias scales either (it passes no bias to the FC scale check).

Where TFLM would misbehave rather than refuse, tflm_edu refuses: an input not 3-D or a
state not at least 2-D (their dims are read unchecked), per-channel weights (TFLM then
runs with an uninitialized multiplier), type mixes Eval would read at the wrong width,
a cell-state scale so far from 1 that the int16 tanh's shifts overflow.

Where TFLM builds differ: the gate multipliers are computed in double from the float
scales, as the tflite-micro package does (the source tree at 90b983c rounds the product of
input and weight scale to float32 first, GetQuantizedConvolutionMultipler), like
FULLY_CONNECTED. A cell-gate activation other than TANH or SIGMOID hits a
TFLITE_ASSERT_FALSE: a release build (the package) applies no activation at all, which is
what tflm_edu does.
"""
from __future__ import annotations

import numpy as np

from tflm_edu.kernels.kernel_api import Registration, ensure, ensure_quantized, unsupported_type
from tflm_edu.kernels.libm import GLIBC, libm_of
from tflm_edu.kernels.logistic import checked_log2
from tflm_edu.kernels.lstm_eval import (GATE_INPUT_SCALE_POWER, GATE_OUTPUT_SCALE_POWER,
                                        CellStateInfo, FloatMath, GateParameters,
                                        IntegerMath, LstmSizeInfo, OpDataLSTM, eval_lstm,
                                        tanh_shift)
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule
from tflm_edu.kernels.quantization_util import (calculate_activation_range_float,
                                                quantize_multiplier)
from tflm_edu.kernels.reference.types import ArithmeticParams, FullyConnectedParams
from tflm_edu.memory.layout import BUILTIN, KERNELS, TYPES, c_struct, m
from tflm_edu.schema.enums import ActivationFunctionType as Act
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType, type_name
from tflm_edu.schema.options import UnidirectionalSequenceLSTMOptions

# lstm_shared.h
INPUT = 0
INPUT_TO_INPUT, INPUT_TO_FORGET, INPUT_TO_CELL, INPUT_TO_OUTPUT = 1, 2, 3, 4
RECURRENT_TO_INPUT, RECURRENT_TO_FORGET, RECURRENT_TO_CELL, RECURRENT_TO_OUTPUT = 5, 6, 7, 8
CELL_TO_INPUT, CELL_TO_FORGET, CELL_TO_OUTPUT = 9, 10, 11               # peephole
INPUT_GATE_BIAS, FORGET_GATE_BIAS, CELL_GATE_BIAS, OUTPUT_GATE_BIAS = 12, 13, 14, 15
PROJECTION_WEIGHTS, PROJECTION_BIAS = 16, 17
OUTPUT_STATE, CELL_STATE = 18, 19
LAYER_NORM = (20, 21, 22, 23)
OUTPUT = 0
NUM_INPUTS = 24

# The inputs a TFLM LSTM must not have: the LSTM variants its kernel does not implement.
VARIANT_INPUTS = {CELL_TO_INPUT: "peephole", CELL_TO_FORGET: "peephole",
                  CELL_TO_OUTPUT: "peephole", PROJECTION_WEIGHTS: "projection",
                  PROJECTION_BIAS: "projection", **dict.fromkeys(LAYER_NORM, "layer norm")}
# gate -> (input weights, recurrent weights, bias): the tensors CalculateLstmGate reads.
GATES = {"forget": (INPUT_TO_FORGET, RECURRENT_TO_FORGET, FORGET_GATE_BIAS),
         "input": (INPUT_TO_INPUT, RECURRENT_TO_INPUT, INPUT_GATE_BIAS),
         "cell": (INPUT_TO_CELL, RECURRENT_TO_CELL, CELL_GATE_BIAS),
         "output": (INPUT_TO_OUTPUT, RECURRENT_TO_OUTPUT, OUTPUT_GATE_BIAS)}
SUPPORTED_TYPES = (TensorType.FLOAT32, TensorType.INT8, TensorType.INT16)
# activation type -> the bias type the integer kernel reads (EvalLstm's BiasType)
INTEGER_BIAS = {TensorType.INT8: TensorType.INT32, TensorType.INT16: TensorType.INT64}


def init(context, node):
    return OpDataLSTM()


# ----------------------------------------------------------------------------- prepare


def prepare(context, node):
    data: OpDataLSTM = node.user_data
    ensure(len(node.outputs) == 1, f"UNIDIRECTIONAL_SEQUENCE_LSTM has 1 output, got "
                                   f"{len(node.outputs)}")
    ensure(len(node.inputs) == NUM_INPUTS, f"UNIDIRECTIONAL_SEQUENCE_LSTM takes {NUM_INPUTS} "
                                           f"inputs, got {len(node.inputs)}")
    # TFLM's parser allocates the params with defaults when the options table is missing.
    params = node.builtin_data or UnidirectionalSequenceLSTMOptions()
    tensors = [context.get_input(node, i) for i in range(NUM_INPUTS)]
    output = context.get_output(node, OUTPUT)
    validate_tensor_status(tensors, output)
    # ConvertActivation: a value the schema does not define becomes kTfLiteActNone (so
    # no model can ask for kTfLiteActSigmoid, 6, which the other gates use).
    activation = params.fused_activation_function
    data.cell_gate_nonlinear_type = activation if activation in set(Act) else Act.NONE
    data.size_info = create_lstm_size_info(params.time_major, tensors[INPUT],
                                           tensors[OUTPUT_STATE])
    validate_tensor_size(tensors, output, data.size_info)
    check_types(node, tensors)
    cell_state = tensors[CELL_STATE]
    if cell_state.type == TensorType.FLOAT32:
        data.cell_state_info = CellStateInfo(cell_clip=float(np.float32(params.cell_clip)))
        prepare_gate_parameters_float(data)
    else:
        data.cell_state_info = create_lstm_cell_state_info(cell_state.scale, params.cell_clip,
                                                           libm_of(context).logf)
        prepare_gate_parameters_integer(tensors, data)
    # Four buffers of one [B, S] state each, in the cell state's type.
    size = data.size_info
    nbytes = size.batch_size * size.state_dimension * np.dtype(cell_state.dtype).itemsize
    data.buffer_indices = [context.request_scratch_buffer_in_arena(nbytes) for _ in range(4)]


def validate_tensor_status(tensors, output):
    """LstmTensors::ValidateTensorStatus: the tensors present and absent, the variable
    states, the types that must agree."""
    input, hidden, cell = tensors[INPUT], tensors[OUTPUT_STATE], tensors[CELL_STATE]
    ensure(input is not None, "the LSTM needs its input tensor")
    ensure(hidden is not None and hidden.is_variable,
           "output_state (input 18) must be a variable tensor: it carries the hidden state "
           "from one invoke to the next")
    ensure(hidden.type == input.type,
           f"output_state is {type_name(hidden.type)} but the input is "
           f"{type_name(input.type)}: the hidden state is the next step's input")
    ensure(cell is not None and cell.is_variable,
           "cell_state (input 19) must be a variable tensor")
    ensure(output.type == input.type, f"the output is {type_name(output.type)} but the input "
                                      f"is {type_name(input.type)}")
    for first, last, what in ((1, 9, "weights"), (12, 16, "bias")):
        for i in range(first, last):
            ensure(tensors[i] is not None,
                   f"input {i} ({what}) is absent: TFLM's LSTM needs all four gates (no CIFG)")
        reference = tensors[INPUT_TO_FORGET if what == "weights" else FORGET_GATE_BIAS]
        for i in range(first, last):
            ensure(tensors[i].type == reference.type,
                   f"the LSTM's {what} differ in type: input {i} is "
                   f"{type_name(tensors[i].type)}, not {type_name(reference.type)}")
    for i, variant in VARIANT_INPUTS.items():
        ensure(tensors[i] is None, f"input {i} is given: TFLM's LSTM has no {variant} "
                                   f"(that input must be -1)")


def create_lstm_size_info(time_major, input, hidden) -> LstmSizeInfo:
    """CreateLstmSizeInfo: B, T, I from the input, S from the hidden state. TFLM reads
    these dims without checking the ranks."""
    ensure(len(input.shape) == 3,
           f"the LSTM's input must be 3-D ([batch, time, input] or time major), got shape "
           f"{list(input.shape)}")
    ensure(len(hidden.shape) >= 2,
           f"output_state must be at least 2-D ([batch, state]), got {list(hidden.shape)}")
    d0, d1, input_dimension = input.shape
    return LstmSizeInfo(time_major=bool(time_major),
                        batch_size=d1 if time_major else d0,
                        time_steps=d0 if time_major else d1,
                        input_dimension=input_dimension, state_dimension=hidden.shape[1])


def validate_tensor_size(tensors, output, size: LstmSizeInfo):
    """ValidateTensorSize: weights [S, I] and [S, S], biases [S], states of B * S values,
    the output [d0, d1, S] with the input's first two dims."""
    s, i = size.state_dimension, size.input_dimension
    for index in range(1, 9):
        expected = (s, i) if index < 5 else (s, s)
        ensure(tuple(tensors[index].shape) == expected,
               f"input {index} (weights) is {list(tensors[index].shape)}, should be "
               f"{list(expected)}")
    for index in range(12, 16):
        ensure(tuple(tensors[index].shape) == (s,),
               f"input {index} (bias) is {list(tensors[index].shape)}, should be [{s}]")
    for index, name in ((OUTPUT_STATE, "output_state"), (CELL_STATE, "cell_state")):
        count = int(np.prod(tensors[index].shape))
        ensure(count == size.batch_size * s,
               f"{name} holds {count} values, should hold batch x state = "
               f"{size.batch_size} x {s}")
    input_shape = tensors[INPUT].shape
    ensure(len(output.shape) == 3 and tuple(output.shape[:2]) == tuple(input_shape[:2])
           and output.shape[2] == s,
           f"the output is {list(output.shape)}, should be "
           f"[{input_shape[0]}, {input_shape[1]}, {s}]")


def check_types(node, tensors):
    """Not in TFLM as checks, but what its Eval assumes: one of the three type sets. Any
    other mix makes Eval read some tensor at the wrong width (or computes garbage)."""
    input, weights, bias = tensors[INPUT], tensors[INPUT_TO_FORGET], tensors[FORGET_GATE_BIAS]
    cell = tensors[CELL_STATE]
    if input.type == TensorType.FLOAT32:
        for name, t in (("weights", weights), ("biases", bias), ("cell_state", cell)):
            ensure(t.type == TensorType.FLOAT32,
                   f"a float32 LSTM needs float32 {name}, got {type_name(t.type)}")
        return
    if input.type not in INTEGER_BIAS:
        raise unsupported_type(node, input)
    ensure(weights.type == TensorType.INT8,
           f"an {type_name(input.type)} LSTM needs int8 weights, got {type_name(weights.type)}")
    ensure(bias.type == INTEGER_BIAS[input.type],
           f"an {type_name(input.type)} LSTM needs {type_name(INTEGER_BIAS[input.type])} "
           f"biases, got {type_name(bias.type)}")
    ensure(cell.type == TensorType.INT16,
           f"an {type_name(input.type)} LSTM needs an int16 cell_state, got "
           f"{type_name(cell.type)}")
    activation_dtype = np.int8 if input.type == TensorType.INT8 else np.int16
    for index in (INPUT, OUTPUT_STATE, CELL_STATE, *range(1, 9)):
        t = tensors[index]
        ensure_quantized(t, np.int16 if index == CELL_STATE else
                         np.int8 if 1 <= index <= 8 else activation_dtype)
        ensure(len(t.quantization.scale) == 1,
               f"input {index} has {len(t.quantization.scale)} scales: TFLM's LSTM takes "
               f"per-tensor quantization only (with per-channel weights it would run on an "
               f"uninitialized multiplier)")


# ----------------------------------------------------------------------------- gate parameters


def prepare_gate_parameters_float(data: OpDataLSTM):
    """PrepareGateParametersFloat: every FC and Mul clamps to the float range only."""
    low, high = calculate_activation_range_float(Act.NONE)
    for name in GATES:
        setattr(data, f"{name}_gate_parameters", GateParameters(
            FullyConnectedParams(float_activation_min=low, float_activation_max=high),
            FullyConnectedParams(float_activation_min=low, float_activation_max=high)))
    inter = data.inter_gate_parameters
    for name in ("forget_cell_mul_params", "input_mul_params", "output_mul_params"):
        setattr(inter, name, ArithmeticParams(float_activation_min=low,
                                              float_activation_max=high))


def prepare_gate_parameters_integer(tensors, data: OpDataLSTM):
    """PrepareGateParametersInteger: each gate's two FCs write int16 at scale 2^-12; the
    products f * c and i * g land in the cell state's scale, tanh(c) * o in the hidden
    state's (with its zero point)."""
    input, hidden, cell = tensors[INPUT], tensors[OUTPUT_STATE], tensors[CELL_STATE]
    gate_input_scale = 2.0 ** GATE_INPUT_SCALE_POWER
    for name, (input_weights, recurrent_weights, _) in GATES.items():
        setattr(data, f"{name}_gate_parameters", GateParameters(
            fc_params_quantized(input, tensors[input_weights], gate_input_scale),
            fc_params_quantized(hidden, tensors[recurrent_weights], gate_input_scale)))
    gate_output_scale = 2.0 ** GATE_OUTPUT_SCALE_POWER
    inter = data.inter_gate_parameters
    inter.forget_cell_mul_params = create_inter_gate_mul_params(
        gate_output_scale, cell.scale, cell.scale, TensorType.INT16)
    inter.input_mul_params = create_inter_gate_mul_params(
        gate_output_scale, gate_output_scale, cell.scale, TensorType.INT16)
    inter.output_mul_params = create_inter_gate_mul_params(
        gate_output_scale, gate_output_scale, hidden.scale, hidden.type, hidden.zero_point)


def fc_params_quantized(input, weights, output_scale) -> FullyConnectedParams:
    """CreateGateParams' CalculateOpDataFullyConnected + FullyConnectedParamsQuantized for
    an FC writing int16 at `output_scale`, zero point 0, no activation. No bias is passed,
    so no bias scale is checked. The multiplier in double (the module docstring says why)."""
    real_multiplier = float(input.scale) * float(weights.scale) / float(output_scale)
    multiplier, shift = quantize_multiplier(real_multiplier)
    return FullyConnectedParams(input_offset=-input.zero_point,
                                weights_offset=-weights.zero_point, output_offset=0,
                                output_multiplier=multiplier, output_shift=shift,
                                quantized_activation_min=-32768,
                                quantized_activation_max=32767)


def create_inter_gate_mul_params(input1_scale, input2_scale, output_scale, output_type,
                                 output_zp=0) -> ArithmeticParams:
    """CreateInterGateMulParams: symmetric inputs; the product scale over the output scale
    in double (from the float scales); the output type's full range."""
    info = np.iinfo(np.int16 if output_type == TensorType.INT16 else np.int8)
    effective_scale = (float(np.float32(input1_scale)) * float(np.float32(input2_scale))
                       / float(np.float32(output_scale)))
    multiplier, shift = quantize_multiplier(effective_scale)
    return ArithmeticParams(input1_offset=0, input2_offset=0, output_offset=output_zp,
                            output_multiplier=multiplier, output_shift=shift,
                            quantized_activation_min=int(info.min),
                            quantized_activation_max=int(info.max))


def create_lstm_cell_state_info(cell_state_scale, cell_clip, logf=GLIBC.logf) -> CellStateInfo:
    """CreateLstmCellStateInfo: the cell scale's power of two (CheckedLog2 - TFLM ignores
    whether the scale really is one and uses the rounded power), and cell_clip in cell
    steps, truncated to int16."""
    _, power = checked_log2(cell_state_scale, logf)
    multiplier, left_shift = tanh_shift(power)
    # reference_integer_ops::Tanh computes x * (3 << left_shift) in int32, or rounds with
    # 1 << (left_shift - 1): both overflow beyond these shifts.
    ensure(left_shift <= 14 if multiplier == 0 else left_shift <= 31,
           f"cell_state scale {cell_state_scale:g} (2^{power}) is out of the range TFLM's "
           f"int16 tanh can shift (2^-43 to 2^2)")
    clip = float(np.float32(cell_clip)) / float(np.float32(cell_state_scale))
    if clip != clip:   # NaN: a C++ cast of it is undefined, but a NaN clip is never applied
        clip = 0.0
    quantized_cell_clip = int(min(max(clip, -32768.0), 32767.0))   # static_cast truncates
    return CellStateInfo(cell_clip=float(np.float32(cell_clip)),
                         quantized_cell_clip=quantized_cell_clip,
                         cell_state_scale_power=power)


# ----------------------------------------------------------------------------- eval


def eval(context, node):
    data: OpDataLSTM = node.user_data
    tensors = [context.get_input(node, i) for i in range(NUM_INPUTS)]
    output = context.get_output(node, OUTPUT)
    input = tensors[INPUT]
    if input.type == TensorType.FLOAT32:
        lstm_math = FloatMath(libm_of(context))
    else:
        lstm_math = IntegerMath(np.int32 if input.type == TensorType.INT8 else np.int64)
    size = data.size_info
    state_shape = (size.batch_size, size.state_dimension)
    hidden = tensors[OUTPUT_STATE].data.reshape(state_shape)   # views: the arena bytes
    cell = tensors[CELL_STATE].data.reshape(state_shape)
    buffers = [context.get_scratch_buffer(i).view(lstm_math.cell_dtype).reshape(state_shape)
               for i in data.buffer_indices]
    weights = {gate: (tensors[w].data.reshape(size.state_dimension, -1),
                      tensors[r].data.reshape(size.state_dimension, -1))
               for gate, (w, r, _) in GATES.items()}
    biases = {gate: tensors[b].data for gate, (_, _, b) in GATES.items()}
    eval_lstm(lstm_math, data, input.data, output.data.reshape(output.shape), hidden, cell,
              weights, biases, buffers)


# ----------------------------------------------------------------------------- registration


def count_macs(context, node):
    data: OpDataLSTM = node.user_data
    size = data.size_info
    per_step = 4 * size.state_dimension * (size.input_dimension + size.state_dimension)
    return size.batch_size * size.time_steps * per_step


def register_unidirectional_sequence_lstm():
    # TFLM does not check the version; TFLite writes 1 (float and integer) to 4 (hybrid
    # and diagonal variants, which the type and shape checks refuse).
    return Registration("UNIDIRECTIONAL_SEQUENCE_LSTM", prepare=prepare, eval=eval,
                        init=init, max_version=5, count_macs=count_macs)


def arena_prepare(k):
    """UnidirectionalSequenceLstmPrepare: LstmTensors holds a temporary TfLiteTensor for
    each of the 24 inputs (none for an absent one) and for the output, all freed when
    Prepare returns; nothing persistent (per-channel weights, which would add some, are
    refused). The four scratch buffers are requested by prepare() above."""
    for i in range(NUM_INPUTS):
        k.temp_input(i)
    k.temp_output(0)


# The C structs this kernel puts in the arena, member by member as TFLM declares them
# (tflm_edu.memory.layout lays them out for each target).
c_struct("TfLiteUnidirectionalSequenceLSTMParams", BUILTIN, m("activation", "enum"),
         m("cell_clip", "float"), m("proj_clip", "float"), m("time_major", "bool"),
         m("asymmetric_quantize_inputs", "bool"), m("diagonal_recurrent_tensors", "bool"))
c_struct("FullyConnectedParams", TYPES,
         m("input_offset", "int32"), m("weights_offset", "int32"),
         m("output_offset", "int32"), m("output_multiplier", "int32"),
         m("output_shift", "int"), m("quantized_activation_min", "int32"),
         m("quantized_activation_max", "int32"), m("float_activation_min", "float"),
         m("float_activation_max", "float"), m("lhs_cacheable", "bool"),
         m("rhs_cacheable", "bool"),
         m("weights_format", "uint8"))  # enum class FullyConnectedWeightsFormat : uint8_t
c_struct("ArithmeticParams", TYPES,
         m("broadcast_category", "uint8"),  # enum class BroadcastableOpCategory : uint8_t
         m("input1_offset", "int32"), m("input2_offset", "int32"),
         m("output_offset", "int32"), m("output_multiplier", "int32"),
         m("output_shift", "int"), m("left_shift", "int"), m("input1_multiplier", "int32"),
         m("input1_shift", "int"), m("input2_multiplier", "int32"), m("input2_shift", "int"),
         m("quantized_activation_min", "int32"), m("quantized_activation_max", "int32"),
         m("float_activation_min", "float"), m("float_activation_max", "float"),
         m("int64_activation_min", "int64"), m("int64_activation_max", "int64"),
         m("int16_activation_min", "int16"), m("int16_activation_max", "int16"),
         m("broadcast_shape", "int", 5))
c_struct("LstmSizeInfo", KERNELS + "lstm_shared.h", m("time_major", "bool"),
         m("batch_size", "int"), m("time_steps", "int"), m("input_dimension", "int"),
         m("state_dimension", "int"))
c_struct("CellStateInfo", KERNELS + "lstm_shared.h", m("cell_clip", "float"),
         m("quantized_cell_clip", "int16"), m("cell_state_scale_power", "int32"))
c_struct("GateParameters", KERNELS + "lstm_shared.h",
         m("input_fc_params", "FullyConnectedParams"),
         m("recurrent_fc_params", "FullyConnectedParams"))
c_struct("InterGateParameters", KERNELS + "lstm_shared.h",
         m("forget_cell_mul_params", "ArithmeticParams"),
         m("input_mul_params", "ArithmeticParams"), m("output_mul_params", "ArithmeticParams"))
c_struct("OpDataLSTM", KERNELS + "lstm_shared.h", m("size_info", "LstmSizeInfo"),
         m("cell_state_info", "CellStateInfo"), m("cell_gate_nonlinear_type", "enum"),
         m("forget_gate_parameters", "GateParameters"),
         m("input_gate_parameters", "GateParameters"),
         m("cell_gate_parameters", "GateParameters"),
         m("output_gate_parameters", "GateParameters"),
         m("inter_gate_parameters", "InterGateParameters"), m("buffer_indices", "int", 4))

# Quantized as TFLite's operator_property does for the plain LSTM (no peephole, projection
# or layer norm): the input and output activations; the eight weights symmetric int8, one
# scale each; each gate bias at input scale x its input weights' scale (int32 in int8,
# int64 in 16x8, as TFLM's kernel reads); the cell state symmetric int16 at the power of
# two above its calibrated range / 32768; the output state (the hidden state the kernel
# copies into the output) at the output's parameters; five intermediates, the fifth at the
# hidden state's (LiteRT's int8 kernel reads it; TFLM ignores them). Only the TANH cell
# activation: TFLM's integer kernel applies no other. Versions: 1 in int8, 5 in 16x8
# (op_version.cc).
SPEC = OpSpec(Op.UNIDIRECTIONAL_SEQUENCE_LSTM, register_unidirectional_sequence_lstm,
              UnidirectionalSequenceLSTMOptions, SUPPORTED_TYPES,
              QuantizerRule(int8_version=1, int16_version=5, weights_per_tensor=True,
                            weights_and_biases=(
                                (INPUT_TO_INPUT, INPUT_GATE_BIAS),
                                (INPUT_TO_FORGET, FORGET_GATE_BIAS),
                                (INPUT_TO_CELL, CELL_GATE_BIAS),
                                (INPUT_TO_OUTPUT, OUTPUT_GATE_BIAS),
                                (RECURRENT_TO_INPUT, -1), (RECURRENT_TO_FORGET, -1),
                                (RECURRENT_TO_CELL, -1), (RECURRENT_TO_OUTPUT, -1)),
                            state_inputs=(CELL_STATE,), power_of_two_states=True,
                            same_as_output_inputs=(OUTPUT_STATE,),
                            intermediates=(None, None, None, None, OUTPUT),
                            activations=(Act.TANH,),
                            activations_why="TFLM's integer LSTM computes its cell gate "
                            "with TANH only (a release build applies no other activation)"),
              ArenaRecipe("TfLiteUnidirectionalSequenceLSTMParams", "OpDataLSTM",
                          arena_prepare),
              optional_inputs=frozenset(VARIANT_INPUTS))
