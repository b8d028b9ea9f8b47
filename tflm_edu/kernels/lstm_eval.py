"""The arithmetic of one LSTM time step, float32 or integer, as TFLM's UNIDIRECTIONAL_SEQUENCE_LSTM
runs it.

Mirrors tensorflow/lite/micro/kernels/lstm_eval.h (CalculateLstmGate, UpdateLstmCell,
UpdateLstmHidden, LstmStep, EvalLstm) and lstm_eval.cc (the lstm_internal helpers:
FullyConnected, AddElementWise, Sigmoid, Tanh, Mul, Clipping, LstmStepManager), with the
arithmetic of reference_integer_ops::FullyConnected, MulElementwise, Logistic (int16) and
Tanh (int16), and of their float twins in reference_ops.

One step, for a row x of the input and the state (h, c) of the same batch row:

  forget  f = sigmoid(FC(x, W_xf, b_f) + FC(h, W_hf))      scratch buffer 0
  input   i = sigmoid(FC(x, W_xi, b_i) + FC(h, W_hi))      scratch buffer 1
  cell    g = act(FC(x, W_xg, b_g) + FC(h, W_hg))          scratch buffer 2 (act: the
                                                           options' activation, tanh)
  c = f * c + i * g         then clipped to +-cell_clip when cell_clip > 0
  output  o = sigmoid(FC(x, W_xo, b_o) + FC(h, W_ho))      scratch buffer 1 again
  h = tanh(c) * o           tanh(c) in scratch buffer 0; h is also the step's output

(the recurrent FC of each gate lands in scratch buffer 3 before the sum).

The integer kernel (int8 activations, int8 weights, int32 biases, int16 cell state; or int16
activations with int64 biases) keeps every gate in int16 with fixed scales that need no
tensor to describe them: a gate's pre-activation is Q3.12 (scale 2^-12, so the sigmoid and
tanh see [-8, 8)), a gate's output is Q0.15 (scale 2^-15), and the cell state's scale must be
a power of two, 2^cell_state_scale_power, so that tanh(c) is a shift away from the Q3.12
input tanh expects. The nonlinearities are those of TFLM's int16 LOGISTIC and TANH
(logistic.py, tanh.py): a 256-entry sigmoid table read with linear interpolation, tanh(x)
being 2 sigmoid(2x) - 1 on the same table.

Batches: with time_major the C++ runs each time step on all batch rows at once; without it,
batch by batch (one row per step). The rows never mix, so this module always computes all
rows of a time step together - the same numbers. Only the scratch buffers end up holding
other values (all rows' gates rather than the last row's): no tensor reads them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tflm_edu.kernels.fixedpoint import wrap32
from tflm_edu.kernels.libm import GLIBC
from tflm_edu.kernels.logistic import logistic_float, logistic_int16
from tflm_edu.kernels.quantization_util import (activation_function_with_min_max,
                                                exact_int_matmul, float32_dot_in_order,
                                                multiply_by_quantized_multiplier,
                                                multiply_by_quantized_multiplier_int64)
from tflm_edu.kernels.reference.types import ArithmeticParams, FullyConnectedParams
from tflm_edu.kernels.tanh import tanh_float, tanh_int16
from tflm_edu.schema.enums import ActivationFunctionType as Act

# The gates' fixed scales in the integer kernel (PrepareGateParametersInteger).
GATE_INPUT_SCALE_POWER = -12   # the FC sums, input to sigmoid / tanh: Q3.12
GATE_OUTPUT_SCALE_POWER = -15  # sigmoid / tanh outputs: Q0.15
# TfLiteFusedActivation's kTfLiteActSigmoid: what the forget, input and output gates apply.
# No value of the schema's ActivationFunctionType converts to it, so the cell gate (which
# applies the options' activation) is tanh or nothing.
ACT_SIGMOID = 6


# ----------------------------------------------------------------------------- lstm_shared.h


@dataclass
class LstmSizeInfo:
    """What the tensors' shapes say: B, T, I (input_dimension), S (state_dimension)."""

    time_major: bool = False
    batch_size: int = 0
    time_steps: int = 0
    input_dimension: int = 0
    state_dimension: int = 0


@dataclass
class CellStateInfo:
    cell_clip: float = 0.0
    quantized_cell_clip: int = 0      # int16: cell_clip in the cell state's steps
    cell_state_scale_power: int = 0   # the cell state's scale is 2^cell_state_scale_power


@dataclass
class GateParameters:
    """The two fully connected layers of a gate: over the input, over the hidden state."""

    input_fc_params: FullyConnectedParams = field(default_factory=FullyConnectedParams)
    recurrent_fc_params: FullyConnectedParams = field(default_factory=FullyConnectedParams)


@dataclass
class InterGateParameters:
    """The three elementwise products: f * c, i * g (both into the cell state's scale) and
    tanh(c) * o (into the hidden state's)."""

    forget_cell_mul_params: ArithmeticParams = field(default_factory=ArithmeticParams)
    input_mul_params: ArithmeticParams = field(default_factory=ArithmeticParams)
    output_mul_params: ArithmeticParams = field(default_factory=ArithmeticParams)


@dataclass
class OpDataLSTM:
    """OpDataLSTM (lstm_shared.h): all Prepare computes, for Eval."""

    size_info: LstmSizeInfo = field(default_factory=LstmSizeInfo)
    cell_state_info: CellStateInfo = field(default_factory=CellStateInfo)
    cell_gate_nonlinear_type: int = Act.TANH
    forget_gate_parameters: GateParameters = field(default_factory=GateParameters)
    input_gate_parameters: GateParameters = field(default_factory=GateParameters)
    cell_gate_parameters: GateParameters = field(default_factory=GateParameters)
    output_gate_parameters: GateParameters = field(default_factory=GateParameters)
    inter_gate_parameters: InterGateParameters = field(default_factory=InterGateParameters)
    buffer_indices: list = field(default_factory=lambda: [-1, -1, -1, -1])


# ----------------------------------------------------------------------------- the int16 nonlinearities


def tanh_shift(cell_state_scale_power: int) -> tuple[int, int]:
    """lstm_internal::Tanh's arguments for reference_integer_ops::Tanh: the input's scale
    is 2^cell_state_scale_power and Tanh wants Q3.12, so shift left by (15 + power) - 3;
    a right shift goes with multiplier 3 (the 3/4 scaling), a left one folds into it.
    Returns (input_multiplier, input_left_shift)."""
    left_shift = (15 + cell_state_scale_power) - 3
    if left_shift < 0:
        return 3, -left_shift
    return 0, left_shift


# ----------------------------------------------------------------------------- the helpers, per type
# lstm_internal overloads each helper on the element types; here one class per kernel flavour.


class FloatMath:
    """The float32 overloads: reference_ops FullyConnected, Logistic, Tanh, Mul. Logistic
    and Tanh call the C library of `libm` (libm.py: the host's glibc by default)."""

    cell_dtype = np.float32

    @staticmethod
    def fully_connected(params, x, weights, bias):
        """total = 0.0f, += x[d] * w[d] in order, then + bias (0.0f without one), clamped to
        the float range of no activation (inf becomes FLT_MAX)."""
        total = float32_dot_in_order(x, weights.T)
        total = total + (bias.reshape(-1) if bias is not None else np.float32(0.0))
        return activation_function_with_min_max(total, params.float_activation_min,
                                                params.float_activation_max)

    @staticmethod
    def add_elementwise(a, b):
        return a + b

    def __init__(self, libm=GLIBC):
        self.libm = libm

    def sigmoid(self, x):
        return logistic_float(x, self.libm.expf)

    def tanh(self, cell_state_scale_power, x):
        return tanh_float(x, self.libm.tanhf)

    @staticmethod
    def mul(params, a, b, out_dtype=None):
        with np.errstate(over="ignore", invalid="ignore"):
            product = np.multiply(a, b, dtype=np.float32)
        return activation_function_with_min_max(product, params.float_activation_min,
                                                params.float_activation_max)

    @staticmethod
    def clipping(cell_state_info, c):
        """std::max(std::min(cell_clip, c), -cell_clip), spelled as the std:: ternaries."""
        clip = np.float32(cell_state_info.cell_clip)
        c = np.where(c < clip, c, clip)      # std::min(clip, c): (c < clip) ? c : clip
        return np.where(c < -clip, -clip, c)  # std::max(c, -clip): (c < -clip) ? -clip : c


class IntegerMath:
    """The integer overloads (int8 or int16 activations, int16 gates and cell state).
    `accumulator` is the C++ BiasType: int32 for int8 activations, int64 for int16 ones.
    It types every FC sum, with or without a bias, and picks the
    MultiplyByQuantizedMultiplier overload (the int64 one rounds differently)."""

    cell_dtype = np.int16

    def __init__(self, accumulator=np.int32):
        self.accumulator = accumulator

    def fully_connected(self, params, x, weights, bias):
        """reference_integer_ops::FullyConnected into int16: sum (w + weights_offset) *
        (x + input_offset) + bias in the accumulator, MultiplyByQuantizedMultiplier,
        + output_offset, clamp."""
        acc = exact_int_matmul(x.astype(np.int64) + params.input_offset,
                               (weights.astype(np.int64) + params.weights_offset).T)
        if bias is not None:
            acc = acc + bias.reshape(-1).astype(np.int64)
        if self.accumulator is np.int64:
            scaled = multiply_by_quantized_multiplier_int64(acc, params.output_multiplier,
                                                            params.output_shift)
        else:
            scaled = multiply_by_quantized_multiplier(wrap32(acc), params.output_multiplier,
                                                      params.output_shift)
        scaled = scaled + params.output_offset
        return np.clip(scaled, params.quantized_activation_min,
                       params.quantized_activation_max).astype(np.int16)

    @staticmethod
    def add_elementwise(a, b):
        """AddElementWise (int16): a saturating sum."""
        return np.clip(a.astype(np.int32) + b, -32768, 32767).astype(np.int16)

    @staticmethod
    def sigmoid(x):
        return logistic_int16(x, 0, 0)

    @staticmethod
    def tanh(cell_state_scale_power, x):
        return tanh_int16(x, *tanh_shift(cell_state_scale_power))

    @staticmethod
    def mul(params, a, b, out_dtype=np.int16):
        """reference_integer_ops::MulElementwise: (a + offset1) * (b + offset2) in int32,
        MultiplyByQuantizedMultiplier, + output_offset, clamp, into int16 or int8."""
        product = ((a.astype(np.int64) + params.input1_offset)
                   * (b.astype(np.int64) + params.input2_offset))
        scaled = multiply_by_quantized_multiplier(wrap32(product), params.output_multiplier,
                                                  params.output_shift) + params.output_offset
        return np.clip(scaled, params.quantized_activation_min,
                       params.quantized_activation_max).astype(out_dtype)

    @staticmethod
    def clipping(cell_state_info, c):
        clip = cell_state_info.quantized_cell_clip
        return np.maximum(np.minimum(clip, c), -clip).astype(np.int16)


# ----------------------------------------------------------------------------- one step


@dataclass
class LstmStepState:
    """The views one step reads and writes: the input rows of this time step [n, I], the
    hidden and cell state rows [n, S] (views of the variable tensors: writing them writes
    the arena), and the four scratch buffers as [n, S] views."""

    x: np.ndarray
    hidden: np.ndarray
    cell: np.ndarray
    buffers: list


def calculate_lstm_gate(math, gate_params, step, input_weight, input_bias, recurrent_weight,
                        gate_output, fc_output_buffer, activation):
    """CalculateLstmGate: activation(FC(x) + FC(h)), written into gate_output."""
    gate_output[...] = math.fully_connected(gate_params.input_fc_params, step.x,
                                            input_weight, input_bias)
    fc_output_buffer[...] = math.fully_connected(gate_params.recurrent_fc_params, step.hidden,
                                                 recurrent_weight, None)
    gate_output[...] = math.add_elementwise(gate_output, fc_output_buffer)
    if activation == Act.TANH:
        # Q3.12 in: "scale power" -12 leaves no shift.
        gate_output[...] = math.tanh(GATE_INPUT_SCALE_POWER, gate_output)
    elif activation == ACT_SIGMOID:
        gate_output[...] = math.sigmoid(gate_output)
    # Any other activation: TFLM's release build skips the assert and applies none.


def update_lstm_cell(math, step, forget_gate_output, input_gate_output, cell_gate_output,
                     inter_gate_params, cell_state_info, buffer):
    """UpdateLstmCell: c = f * c + i * g, then the optional clip."""
    step.cell[...] = math.mul(inter_gate_params.forget_cell_mul_params, forget_gate_output,
                              step.cell, math.cell_dtype)
    buffer[...] = math.mul(inter_gate_params.input_mul_params, input_gate_output,
                           cell_gate_output, math.cell_dtype)
    step.cell[...] = math.add_elementwise(step.cell, buffer)
    if cell_state_info.cell_clip > 0:
        step.cell[...] = math.clipping(cell_state_info, step.cell)


def update_lstm_hidden(math, step, output_gate_output, mul_params, cell_state_scale_power,
                       buffer):
    """UpdateLstmHidden: h = tanh(c) * o."""
    buffer[...] = math.tanh(cell_state_scale_power, step.cell)
    step.hidden[...] = math.mul(mul_params, buffer, output_gate_output, step.hidden.dtype)


def lstm_step(math, op_data: OpDataLSTM, weights: dict, biases: dict, step: LstmStepState):
    """LstmStep: the three gates that update the cell, then the output gate and the hidden
    state. `weights[gate]` is (input weights, recurrent weights), `biases[gate]` the bias,
    for gate in "forget", "input", "cell", "output". Buffers are reused as in the C++."""
    buffer0, buffer1, buffer2, buffer3 = step.buffers
    gate_internal_buffer = buffer3

    def gate(name, params, output, activation):
        calculate_lstm_gate(math, params, step, weights[name][0], biases[name],
                            weights[name][1], output, gate_internal_buffer, activation)

    gate("forget", op_data.forget_gate_parameters, buffer0, ACT_SIGMOID)
    gate("input", op_data.input_gate_parameters, buffer1, ACT_SIGMOID)
    gate("cell", op_data.cell_gate_parameters, buffer2, op_data.cell_gate_nonlinear_type)
    update_lstm_cell(math, step, buffer0, buffer1, buffer2, op_data.inter_gate_parameters,
                     op_data.cell_state_info, buffer1)
    gate("output", op_data.output_gate_parameters, buffer1, ACT_SIGMOID)
    update_lstm_hidden(math, step, buffer1, op_data.inter_gate_parameters.output_mul_params,
                       op_data.cell_state_info.cell_state_scale_power, buffer0)


def eval_lstm(math, op_data: OpDataLSTM, x, output, hidden, cell, weights, biases, buffers):
    """EvalLstm: every time step in order; after each, the hidden state is the output row.
    x [T, B, I] (time major) or [B, T, I]; output likewise with S; hidden and cell [B, S]
    views of the state tensors; buffers four [B, S] views of the scratch buffers."""
    size = op_data.size_info
    for t in range(size.time_steps):
        rows = x[t] if size.time_major else x[:, t]
        step = LstmStepState(rows, hidden, cell, buffers)
        lstm_step(math, op_data, weights, biases, step)
        if size.time_major:
            output[t] = hidden
        else:
            output[:, t] = hidden
