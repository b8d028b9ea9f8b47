"""Post-training quantization, following TFLite's int8 and int16x8 quantization specs.

A float model becomes one that TFLM runs with integer arithmetic only. Every real number r
is stored as an integer q with r = scale * (q - zero_point). Two modes, as TFLite has:

  mode="int8"     int8 activations, int8 weights, int32 biases (TFLite's full-integer int8).
  mode="int16x8"  int16 activations, int8 weights, int64 biases (TFLite's 16x8 mode,
                  EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8): 256 times
                  finer activation steps for the same weights, on the ops whose TFLM
                  kernels take int16 (QuantizerRule.int16_version).

- Activations (inputs, outputs of every op) get their ranges from calibration
  (tflm_edu.convert.calibration: run the float model on a representative dataset; min/max,
  moving average or percentile). int8 activations are *asymmetric*: the range widened to
  include 0 (so that 0.0 - zero padding, ReLU's floor - is exact), scale = (max - min) /
  255, zero_point = -128 - min / scale, rounded. int16 activations are *symmetric*: zero
  point 0, scale = max(|min|, |max|) / 32767, as TFLite's 16x8 spec requires.
- Weights are *symmetric* int8 (zero_point 0, values in [-127, 127]): per output channel
  for CONV_2D (axis 0) and DEPTHWISE_CONV_2D (axis 3), per tensor for FULLY_CONNECTED
  unless per_channel_fc=True.
- Biases have scale = input_scale * weight_scale (per channel) and zero point 0, so the
  kernel adds them straight to its accumulator: int32 in int8, int64 in int16x8 (the
  LSTM's too: TFLM's 16x8 LSTM reads int64 gate biases).
- Some outputs have fixed ranges: SOFTMAX and LOGISTIC (0..1) use scale 1/256, zero point
  -128 in int8; TANH (-1..1) 1/128, 0; all three 1/32768, 0 in int16. Ops that only move
  values (pooling, RESHAPE, PAD) keep their input's parameters, and CONCATENATION needs
  one scale for all its inputs and its output: TFLM's kernel copies bytes. Like TFLite's
  converter, the quantizer gives the producers of the inputs the concatenation's
  parameters (calibrated on the union of their ranges), and requantizes with a QUANTIZE
  op an input whose parameters are fixed (a TANH output).
- Ops with other layouts declare them in their QuantizerRule, as TFLite's operator_property
  does: TRANSPOSE_CONV's filter and bias are inputs 1 and 3 (its data input 2). SVDF keeps
  an int16 state (a variable tensor, symmetric, from its calibrated range) and int16 time
  weights (max|w| / 512); the LSTM's eight weights are per tensor, each gate bias at input
  scale x its input weights' scale, its cell state int16 at a power-of-two scale, its
  hidden state at the output's parameters. calibrate() does not watch variable tensors:
  quantize_model measures their range itself (calibrate_states). CUMSUM's int8 kernel
  needs an input zero point of 0 (symmetric parameters, or a QUANTIZE in front).
- Before all this the model is constant-folded (tflm_edu.convert.fold): the SHAPE ->
  STRIDED_SLICE -> PACK chains TensorFlow writes for every Reshape and Flatten become
  constant shapes.
- The model's inputs and outputs are integers (io_type "int8" / "int16", the mode's
  type) or stay float32 with a QUANTIZE op in front and a DEQUANTIZE op at the end.
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass

import numpy as np

from tflm_edu.convert.calibration import (DEFAULT_MOMENTUM, Range, calibrate,
                                          calibration_inputs, make_observer)
from tflm_edu.convert.fold import fold_constants
from tflm_edu.errors import InputError, ModelError
from tflm_edu.op_resolver import SPECS
from tflm_edu.quantization import affine_quantize, round_half_away_from_zero
from tflm_edu.schema.builder import ModelBuilder, quantization
from tflm_edu.schema.enums import ActivationFunctionType as Act
from tflm_edu.schema.enums import NUMPY_DTYPE, BuiltinOperator as Op, TensorType
from tflm_edu.schema.model import Model, SignatureDef, TensorMap, tensor_data

QMIN, QMAX = -128, 127
INT16_MAX = 32767
# Graph inputs/outputs of these types mean the model is quantized already. (Other integer
# or bool ones - ARG_MAX's int32 output, a SELECT_V2 condition - stay what they are.)
QUANTIZED_TYPES = (TensorType.INT8, TensorType.UINT8, TensorType.INT16)


def _rule(code):
    """The op's QuantizerRule (its OpSpec, beside its kernel), or None."""
    spec = SPECS.get(code)
    return spec.quantizer if spec is not None else None


# The ops the quantizer writes: those whose OpSpec has a QuantizerRule, but QUANTIZE and
# DEQUANTIZE, which it adds itself around a model with float inputs/outputs.
SUPPORTED = {op for op, spec in SPECS.items() if spec.quantizer is not None} - \
    {Op.QUANTIZE, Op.DEQUANTIZE}
SUPPORTED_16X8 = {op for op in SUPPORTED if SPECS[op].quantizer.int16_version is not None}


# ----------------------------------------------------------------------------- the arithmetic


def asymmetric_params(lo: float, hi: float) -> tuple[float, int]:
    """(scale, zero_point) mapping [lo, hi], widened to include 0, onto [-128, 127]."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi - lo < 1e-12:
        return 1.0, 0  # a tensor that is always 0: any scale represents it exactly
    scale = float(np.float32((hi - lo) / (QMAX - QMIN)))
    zero_point = QMIN - lo / scale
    zero_point = int(np.clip(round_half_away_from_zero(zero_point), QMIN, QMAX))
    return scale, zero_point


def symmetric_int16_params(lo: float, hi: float) -> tuple[float, int]:
    """(scale, 0) mapping [-max|x|, max|x|] onto [-32767, 32767]: TFLite's int16
    activations are symmetric, so the kernels can skip every zero-point term."""
    max_abs = max(abs(float(lo)), abs(float(hi)))
    if max_abs < 1e-12:
        return 1.0, 0
    return float(np.float32(max_abs / INT16_MAX)), 0


def symmetric_int8_params(lo: float, hi: float) -> tuple[float, int]:
    """(scale, 0) mapping [-max|x|, max|x|] onto [-127, 127]: an int8 activation whose
    zero point must be 0 (QuantizerRule.zero_point_zero_input)."""
    max_abs = max(abs(float(lo)), abs(float(hi)))
    if max_abs < 1e-12:
        return 1.0, 0
    return float(np.float32(max_abs / 127.0)), 0


def power_of_two_int16_params(lo: float, hi: float) -> tuple[float, int]:
    """(2^p / 32768, 0) with 2^p the smallest power of two from 1 to 1024 that covers
    max|x| - TFLite's GetPowerOfTwoScale - for the LSTM's cell state, whose integer tanh
    takes a power-of-two scale."""
    max_abs, power = max(abs(float(lo)), abs(float(hi))), 0
    while power < 10 and 2.0 ** power < max_abs:
        power += 1
    return 2.0 ** power / 32768, 0


def symmetric_int16_constant(w: np.ndarray, steps: int) -> tuple[np.ndarray, float]:
    """(int16 values, scale) of a constant stored at scale max|w| / steps, as TFLite's
    quantizer stores a "10-bit" tensor (SVDF's weights_time: steps = 512, so that the
    products with the int16 state leave 6 bits of head-room for the sum over time)."""
    w = np.asarray(w, np.float32)
    max_abs = float(np.abs(w).max(initial=0.0))
    scale = float(np.float32(max_abs / steps)) if max_abs > 0 else 1.0
    q = round_half_away_from_zero(w.astype(np.float64) / scale)
    return np.clip(q, -INT16_MAX, INT16_MAX).astype(np.int16), scale


def symmetric_weights(w: np.ndarray, axis: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(int8 weights, scales): scale = max|w| / 127 per channel on `axis` (None: one scale)."""
    w = np.asarray(w, np.float32)
    if axis is None:
        max_abs = np.array([np.abs(w).max(initial=0.0)])
        shape = [1] * w.ndim
    else:
        other = tuple(a for a in range(w.ndim) if a != axis)
        max_abs = np.abs(w).max(axis=other, initial=0.0)
        shape = [1] * w.ndim
        shape[axis] = -1
    scales = np.where(max_abs > 0, max_abs / 127.0, 1.0).astype(np.float32)
    q = round_half_away_from_zero(w / scales.reshape(shape if axis is not None else [1] * w.ndim))
    return np.clip(q, -127, 127).astype(np.int8), scales


def quantize_bias(b: np.ndarray, input_scale: float, weight_scales: np.ndarray,
                  dtype=np.int32) -> tuple:
    """(int32 or int64 bias, scales) with scale = input_scale * weight_scale, zero point 0."""
    scales = (np.float32(input_scale) * np.asarray(weight_scales, np.float32)).astype(np.float32)
    q = round_half_away_from_zero(np.asarray(b, np.float64) / scales.astype(np.float64))
    info = np.iinfo(dtype)
    return np.clip(q, info.min, info.max).astype(dtype), scales


@dataclass(frozen=True)
class Mode:
    """What a quantization mode stores: activation and bias types, and how an activation
    range becomes (scale, zero_point)."""
    name: str
    activations: type
    bias: type
    bias_type: int

    def params(self, lo: float, hi: float) -> tuple[float, int]:
        if self.activations is np.int16:
            return symmetric_int16_params(lo, hi)
        return asymmetric_params(lo, hi)

    @property
    def type_name(self) -> str:
        return np.dtype(self.activations).name

    def version(self, rule) -> int:
        return rule.int16_version if self.activations is np.int16 else rule.int8_version

    def fixed_output(self, rule) -> tuple:
        return rule.fixed_output_int16 if self.activations is np.int16 else rule.fixed_output

    def supported(self) -> set:
        return SUPPORTED_16X8 if self.activations is np.int16 else SUPPORTED


MODES = {"int8": Mode("int8", np.int8, np.int32, TensorType.INT32),
         "int16x8": Mode("int16x8", np.int16, np.int64, TensorType.INT64)}


def get_mode(mode) -> Mode:
    if isinstance(mode, Mode):
        return mode
    if mode not in MODES:
        raise InputError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    return MODES[mode]


# ----------------------------------------------------------------------------- checks


def _is_float(t) -> bool:
    return t.type == TensorType.FLOAT32


def _float_tensors(graph, indices) -> list[int]:
    return [i for i in indices if i >= 0 and _is_float(graph.tensors[i])]


def check_quantizable(model: Model, mode="int8") -> None:
    """Refuse, with the reason, a model the quantizer cannot write in `mode`."""
    mode = get_mode(mode)
    if len(model.subgraphs) != 1:
        raise ModelError(f"the model has {len(model.subgraphs)} subgraphs; the quantizer "
                         "handles single-subgraph models")
    graph = model.subgraphs[0]
    for i in list(graph.inputs) + list(graph.outputs):
        if graph.tensors[i].type in QUANTIZED_TYPES:
            raise ModelError(f"tensor {i} ({graph.tensors[i].name!r}) is "
                             f"{graph.tensors[i].dtype.name}: quantize_model takes a float32 "
                             "model (is it already quantized?)")
    for k, op in enumerate(graph.operators):
        code = model.operator_codes[op.opcode_index].builtin_code
        if not _float_tensors(graph, list(op.inputs) + list(op.outputs)):
            continue                      # integer-only ops pass through unchanged
        if code not in mode.supported():
            names = ", ".join(sorted(Op(c).name for c in mode.supported()))
            raise ModelError(f"op {k} is {model.op_name(op)}, which the {mode.name} quantizer "
                             f"does not handle; supported: {names}")
        rule = _rule(code)
        constants = [op.inputs[pos] for pos, _ in rule.weight_pairs + rule.int16_weights
                     if pos < len(op.inputs) and op.inputs[pos] >= 0]
        if any(tensor_data(model, graph.tensors[i]) is None for i in constants):
            raise ModelError(f"op {k} ({model.op_name(op)}) computes with weights that are "
                             "not constant; the quantizer writes int8 weights from constants")
        _check_activation(model, k, op, rule)


def _check_activation(model: Model, k: int, op, rule) -> None:
    """Refuse a fused activation the quantized op would not compute, or a runtime would
    not run (QuantizerRule.activations, with the reason in activations_why)."""
    act = getattr(op.builtin_options, "fused_activation_function", Act.NONE)
    if rule.activations is not None and act not in rule.activations:
        allowed = " or ".join(Act(a).name for a in rule.activations)
        raise ModelError(f"op {k} ({model.op_name(op)}) has the fused activation "
                         f"{Act(act).name}; the quantizer writes {model.op_name(op)} only "
                         f"with {allowed}: {rule.activations_why}")


# ----------------------------------------------------------------------------- activations


class Groups:
    """Tensors that must share one scale and zero point (union-find), and the fixed
    parameters a group must take, if any of its tensors is a fixed-range output."""

    def __init__(self):
        self.parent: dict[int, int] = {}
        self.fixed: dict[int, tuple] = {}

    def find(self, i: int) -> int:
        self.parent.setdefault(i, i)
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        a, b = self.find(a), self.find(b)
        if a != b:
            self.parent[b] = a
            if b in self.fixed:
                self.fixed.setdefault(a, self.fixed.pop(b))

    def fix(self, i: int, params: tuple) -> None:
        self.fixed[self.find(i)] = params

    def fixed_params(self, i: int):
        return self.fixed.get(self.find(i))

    def members(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for i in list(self.parent):
            out.setdefault(self.find(i), []).append(i)
        return out


@dataclass
class ActivationPlan:
    """The quantization parameters of every float tensor that is not a weight or a bias,
    and the op inputs to requantize: (op index, input position) -> the tensor whose
    parameters the requantized input must take, or those (scale, zero_point) themselves.
    int16_tensors: the tensors stored as int16 whatever the mode (an op's int16 state)."""
    params: dict
    requantize: dict
    int16_tensors: frozenset = frozenset()


def _join_same_scale(groups: Groups, k: int, op, inputs: list, outputs: list,
                     requantize: dict) -> None:
    """CONCATENATION and its kind: every float input joins the output's group - but one
    whose parameters are fixed already (a TANH output) cannot take the group's range, so
    it is requantized in front of the op instead, as TensorFlow's converter does."""
    for o in outputs[1:]:
        groups.union(outputs[0], o)
    for pos, i in enumerate(op.inputs):
        if i not in inputs:
            continue
        if groups.fixed_params(i) is not None:
            requantize[(k, pos)] = outputs[0]
        else:
            groups.union(outputs[0], i)


def _group_ops(model: Model, mode: Mode) -> tuple[Groups, dict, list]:
    """Walk the ops in order and join the tensors that must share parameters. Also returns
    the (op index, input position, tensor) of the data inputs whose zero point must be 0."""
    graph = model.subgraphs[0]
    groups, requantize, zero_inputs = Groups(), {}, []
    for i in _float_tensors(graph, graph.inputs):
        groups.find(i)
    for k, op in enumerate(graph.operators):
        rule = _rule(model.operator_codes[op.opcode_index].builtin_code)
        inputs, outputs = _float_tensors(graph, op.inputs), _float_tensors(graph, op.outputs)
        for o in outputs:
            groups.find(o)
        if rule is not None and rule.zero_point_zero_input and op.inputs[rule.data_input] in inputs:
            zero_inputs.append((k, rule.data_input, op.inputs[rule.data_input]))
            groups.find(op.inputs[rule.data_input])
        for pos in (rule.same_as_output_inputs if rule is not None and outputs else ()):
            if op.inputs[pos] in inputs:     # the LSTM's hidden state: the output's params
                groups.union(outputs[0], op.inputs[pos])
        if not outputs or rule.output == "calibrated":
            continue
        if rule.output == "same_as_input":         # the data input: the first float one
            for o in outputs:
                groups.union(inputs[0], o)
        elif rule.output == "same_scale":
            _join_same_scale(groups, k, op, inputs, outputs, requantize)
        elif rule.output == "fixed":
            for o in outputs:
                groups.fix(o, mode.fixed_output(rule))
    return groups, requantize, zero_inputs


def _tensor_range(model: Model, i: int, ranges: dict):
    """The calibrated range of activation i, or a constant's own range; None if neither."""
    t = model.subgraphs[0].tensors[i]
    data = tensor_data(model, t)
    if data is not None:
        return Range(float(data.min(initial=0.0)), float(data.max(initial=0.0)))
    return ranges.get(i)


def plan_activations(model: Model, ranges: dict, mode="int8") -> ActivationPlan:
    """Scale and zero point of every activation: per group of tensors that must share
    them, the fixed parameters or those of the union of the members' ranges."""
    mode = get_mode(mode)
    groups, requantize, zero_inputs = _group_ops(model, mode)
    zero_roots = {groups.find(i) for _, _, i in zero_inputs}
    params = {}
    for root, members in groups.members().items():
        fixed = groups.fixed.get(root)
        if fixed is None:
            lo, hi = _group_range(model, members, ranges)
            symmetric = root in zero_roots and mode.activations is np.int8
            fixed = symmetric_int8_params(lo, hi) if symmetric else mode.params(lo, hi)
        for i in members:
            params[i] = fixed
    for k, pos, i in zero_inputs:           # a fixed zero point other than 0: requantized
        if params[i][1] != 0:
            requantize[(k, pos)] = symmetric_int8_params(*_group_range(model, [i], ranges))
    states = _state_tensors(model)
    for i, power_of_two in states.items():  # an op's memory: symmetric int16 in every mode
        lo, hi = _group_range(model, [i], ranges)
        params[i] = power_of_two_int16_params(lo, hi) if power_of_two else \
            symmetric_int16_params(lo, hi)
    return ActivationPlan(params, requantize, frozenset(states))


def _group_range(model: Model, members: list, ranges: dict) -> tuple[float, float]:
    """The union of the ranges of a group's members (calibrated, or a constant's own)."""
    known = [r for r in (_tensor_range(model, i, ranges) for i in members) if r]
    if not known:
        graph = model.subgraphs[0]
        names = [graph.tensors[i].name for i in members]
        variable = any(graph.tensors[i].is_variable for i in members)
        raise InputError(f"no calibrated range for tensor(s) {names}" +
                         (" (a variable tensor, an op's memory: quantize_model measures it "
                          "when given calibration_data)" if variable else ""))
    return min(r.min for r in known), max(r.max for r in known)


def _state_tensors(model: Model) -> dict:
    """The float variable tensors ops keep their memory in (QuantizerRule.state_inputs),
    each -> whether its scale is a power of two."""
    graph, states = model.subgraphs[0], {}
    for op in graph.operators:
        rule = _rule(model.operator_codes[op.opcode_index].builtin_code)
        for pos in (rule.state_inputs if rule is not None else ()):
            if pos < len(op.inputs) and op.inputs[pos] >= 0 and \
                    _is_float(graph.tensors[op.inputs[pos]]):
                states[op.inputs[pos]] = rule.power_of_two_states
    return states


def calibrate_states(model: Model, calibration_data, states: list, percentile=None,
                     method: str | None = None, momentum: float = DEFAULT_MOMENTUM) -> dict:
    """The ranges of variable tensors - the memory an op keeps from one invoke to the next
    (SVDF's activation_state) - which calibrate() does not watch: their values after each
    op that reads them, over the calibration samples run in order without a reset (as a
    stream; TFLite's calibrator logs its state tensors so)."""
    from tflm_edu.interpreter import MicroInterpreter
    from tflm_edu.op_resolver import AllOpsResolver
    method = method or ("percentile" if percentile is not None else "minmax")
    model = fold_constants(model)
    inputs = calibration_inputs(model, calibration_data)
    observers = {i: make_observer(method, percentile, momentum) for i in states}
    interpreter = MicroInterpreter(model, AllOpsResolver(), None)
    interpreter.allocate_tensors()
    for n in range(len(inputs[0])):
        for k, x in enumerate(inputs):
            interpreter.input(k).data[...] = x[n]
        for event in interpreter.steps():
            for index, value in zip(event.node.inputs, event.inputs):
                if index in observers and value is not None:
                    observers[index].observe(value)
    return {i: observer.range() for i, observer in observers.items()}


# ----------------------------------------------------------------------------- the writer


class QuantizedModelWriter:
    """Writes the quantized Model of a (folded) float Model, tensor by tensor in the same
    order - so tensor indices stay valid - then the ops, with the QUANTIZE ops the plan
    and io_type ask for. build() returns the Model."""

    def __init__(self, model: Model, plan: ActivationPlan, mode: Mode, io_type: str,
                 per_channel_fc: bool):
        self.model, self.plan, self.mode = model, plan, mode
        self.io_type, self.per_channel_fc = io_type, per_channel_fc
        self.graph = model.subgraphs[0]
        self.b = ModelBuilder(description=f"tflm_edu {mode.name} quantizer "
                                          f"({model.description or 'float model'})")
        self.input_remap: dict = {}         # (op index, input position) -> new tensor
        self.weights: dict = {}             # weights tensor -> (axis, int8 data, scales)
        self.int16_constants: dict = {}     # tensor -> (int16 data, scale): int16_weights
        self.extra_biases: dict = {}        # (op index, bias input) -> (tensor, values, quant)

    # --- weights and biases

    def _weights_axis(self, rule):
        if rule.weights_per_tensor or (rule.per_channel_optional and not self.per_channel_fc):
            return None
        return rule.weights_axis

    def _weights(self, i: int, axis):
        """(axis, int8 values, scales) of weights tensor i, computed once."""
        if i not in self.weights:
            data = tensor_data(self.model, self.graph.tensors[i])
            self.weights[i] = (axis,) + symmetric_weights(data, axis)
        return self.weights[i]

    def _weighted_ops(self):
        """(op index, op, rule, weights axis) for every op with int8 weights."""
        for k, op in enumerate(self.graph.operators):
            rule = _rule(self.model.operator_codes[op.opcode_index].builtin_code)
            if rule is not None and rule.has_weights:
                yield k, op, rule, self._weights_axis(rule)

    def _scales(self, i: int) -> np.ndarray:
        """The scale(s) of op input i: int8 weights, an int16 constant or an activation."""
        if i in self.weights:
            return self.weights[i][2]
        if i in self.int16_constants:
            return np.float32([self.int16_constants[i][1]])
        return np.float32([self.plan.params[i][0]])

    def _bias(self, op, rule, axis, weights: int, bias: int):
        """(values, quantization) of op's bias (input `bias`): scale = input scale x the
        scale of its weights (input `weights`), or the product of the scales of
        rule.bias_scale_inputs."""
        first, second = rule.bias_scale_inputs or (rule.data_input, weights)
        data = tensor_data(self.model, self.graph.tensors[op.inputs[bias]])
        q, scales = quantize_bias(data, self._scales(op.inputs[first])[0],
                                  self._scales(op.inputs[second]), self.mode.bias)
        return q, quantization(scales if axis is not None else scales[0], 0, 0)

    def quantize_weights_and_biases(self) -> dict:
        """Every weights tensor, and every bias - a bias that two ops share (TensorFlow
        dedups equal constants: both convs of a residual block may read one zero bias)
        gets one tensor per input scale, as each op's bias scale depends on its input."""
        written = {}
        for k, op, rule, axis in self._weighted_ops():
            for pos, steps in rule.int16_weights:
                if op.inputs[pos] not in self.int16_constants:
                    self.int16_constants[op.inputs[pos]] = symmetric_int16_constant(
                        tensor_data(self.model, self.graph.tensors[op.inputs[pos]]), steps)
            for weights, bias in rule.weight_pairs:
                if len(op.inputs) <= weights or op.inputs[weights] < 0:
                    continue                 # an absent optional weights tensor
                self._weights(op.inputs[weights], axis)
                if bias < 0 or len(op.inputs) <= bias or op.inputs[bias] < 0:
                    continue
                q, quant = self._bias(op, rule, axis, weights, bias)
                first = written.setdefault(op.inputs[bias], (q, quant))
                if not (np.array_equal(first[0], q) and first[1] == quant):
                    self.extra_biases[(k, bias)] = (self.graph.tensors[op.inputs[bias]], q,
                                                    quant)
        return written

    # --- tensors

    def add_tensor(self, i: int, biases: dict) -> None:
        """Tensor i as the quantized model stores it: int8 weights, a bias, a float
        constant or activation in the mode's integer type, anything else unchanged."""
        t, b = self.graph.tensors[i], self.b
        data = tensor_data(self.model, t)
        act = self.mode.activations
        if i in self.weights:
            axis, q, scales = self.weights[i]
            b.add_tensor(t.shape, np.int8, t.name, q, quantization(
                scales if axis is not None else scales[0], 0, axis or 0))
        elif i in biases:
            q, quant = biases[i]
            b.add_tensor(t.shape, q.dtype, t.name, q, quant)
        elif i in self.int16_constants:
            q, scale = self.int16_constants[i]
            b.add_tensor(t.shape, np.int16, t.name, q, quantization(scale, 0))
        elif data is not None and _is_float(t):
            scale, zp = self.plan.params.get(i) or self.mode.params(data.min(), data.max())
            b.add_tensor(t.shape, act, t.name, affine_quantize(data, scale, zp, act),
                         quantization(scale, zp))
        elif data is not None:
            b.add_tensor(t.shape, t.dtype, t.name, data, copy.deepcopy(t.quantization))
        elif i in self.plan.params:
            scale, zp = self.plan.params[i]
            b.add_tensor(t.shape, np.int16 if i in self.plan.int16_tensors else act, t.name,
                         quant=quantization(scale, zp), is_variable=t.is_variable)
        else:
            b.add_tensor(t.shape, t.dtype, t.name, quant=copy.deepcopy(t.quantization),
                         is_variable=t.is_variable)

    def add_extra_inputs(self) -> None:
        """The second copies of shared biases, and the requantized op inputs."""
        for key, (t, q, quant) in self.extra_biases.items():
            self.input_remap[key] = self.b.add_tensor(t.shape, q.dtype, t.name, q, quant)
        for (k, pos), like in self.plan.requantize.items():
            i = self.graph.operators[k].inputs[pos]
            scale, zp = like if isinstance(like, tuple) else self.plan.params[like]
            self.input_remap[(k, pos)] = self.b.add_tensor(
                self.graph.tensors[i].shape, self.mode.activations,
                f"{self.graph.tensors[i].name}_requantized", quant=quantization(scale, zp))

    # --- ops

    def _options(self, code, rule, options):
        """The op's options, with what the mode changes in them (QuantizerRule)."""
        if self.mode.activations is not np.int16 or not rule.int16_options:
            return copy.deepcopy(options)
        if options is None:
            options = SPECS[code].options()
        return dataclasses.replace(options, **dict(rule.int16_options))

    def _version(self, code, rule, original: int, op) -> int:
        if rule is None:
            return original
        if rule.version_of is not None:
            return rule.version_of(op)
        if rule.per_channel_optional and self.per_channel_fc and \
                self.mode.activations is np.int8:
            return rule.per_channel_version
        return self.mode.version(rule)

    def add_op(self, k: int, op) -> None:
        opcode = self.model.operator_codes[op.opcode_index]
        code = opcode.builtin_code
        has_float = _float_tensors(self.graph, list(op.inputs) + list(op.outputs))
        rule = _rule(code) if has_float else None
        inputs = [self.input_remap.get((k, pos), i) for pos, i in enumerate(op.inputs)]
        for pos, i in enumerate(op.inputs):
            if (k, pos) in self.plan.requantize:       # QUANTIZE int -> int in front
                self.b.add_operator(Op.QUANTIZE, [i], [inputs[pos]],
                                    version=self.mode.version(_rule(Op.QUANTIZE)))
        options = self._options(code, rule, op.builtin_options) if rule else \
            copy.deepcopy(op.builtin_options)
        self.b.add_operator(code, inputs, op.outputs, options,
                            version=self._version(code, rule, opcode.version, op))
        if rule is not None and rule.intermediates:
            self.b.operators[-1] = dataclasses.replace(
                self.b.operators[-1], intermediates=self._intermediates(op, rule))

    def _intermediates(self, op, rule) -> tuple:
        """The op's intermediate tensors, as QuantizerRule.intermediates describes them."""
        out = []
        for n, what in enumerate(rule.intermediates):
            name = f"{self.graph.tensors[op.outputs[0]].name}_intermediate_{n}"
            if what is None:
                out.append(self.b.add_tensor((0,), np.float32, name))
            else:
                t = self.b.tensors[op.outputs[what]]
                out.append(self.b.add_tensor((0,), NUMPY_DTYPE[t.type], name,
                                             quant=copy.deepcopy(t.quantization)))
        return tuple(out)

    def float_twin(self, i: int, op, before: bool) -> int:
        """A float32 tensor with i's name beside integer tensor i, converted by `op`."""
        t = self.graph.tensors[i]
        self.b.tensors[i].name = f"{t.name}_{self.mode.type_name}"
        f = self.b.add_tensor(t.shape, np.float32, t.name)
        self.b.add_operator(op, [f] if before else [i], [i] if before else [f],
                            version=self.mode.version(_rule(op)))
        return f

    def build(self) -> Model:
        biases = self.quantize_weights_and_biases()
        for i in range(len(self.graph.tensors)):
            self.add_tensor(i, biases)
        self.add_extra_inputs()
        io_map = {}
        if self.io_type == "float32":
            for i in _float_tensors(self.graph, self.graph.inputs):
                io_map[i] = self.float_twin(i, Op.QUANTIZE, before=True)
        for k, op in enumerate(self.graph.operators):
            self.add_op(k, op)
        if self.io_type == "float32":
            for i in _float_tensors(self.graph, self.graph.outputs):
                io_map[i] = self.float_twin(i, Op.DEQUANTIZE, before=False)
        self.b.inputs = [io_map.get(i, i) for i in self.graph.inputs]
        self.b.outputs = [io_map.get(i, i) for i in self.graph.outputs]
        quantized = self.b.build()
        quantized.signature_defs = [_signature(s, io_map) for s in self.model.signature_defs]
        return quantized


def _signature(s: SignatureDef, io_map: dict) -> SignatureDef:
    def renumber(maps):
        return tuple(TensorMap(m.name, io_map.get(m.tensor_index, m.tensor_index))
                     for m in maps)
    return SignatureDef(inputs=renumber(s.inputs), outputs=renumber(s.outputs),
                        signature_key=s.signature_key, subgraph_index=s.subgraph_index)


# ----------------------------------------------------------------------------- the quantizer


def resolve_io_type(io_type, mode) -> str:
    """The model's input/output type: the mode's integer type (None) or "float32"."""
    mode = get_mode(mode)
    io_type = io_type or mode.type_name
    if io_type not in (mode.type_name, "float32"):
        raise InputError(f"io_type must be {mode.type_name!r} or 'float32' in {mode.name} "
                         f"mode, got {io_type!r}")
    return io_type


def quantize_model(model: Model, calibration_data=None, io_type: str | None = None,
                   per_channel_fc: bool = False, percentile: float | None = None,
                   progress: bool = True, ranges: dict | None = None, mode: str = "int8",
                   calibration_method: str | None = None,
                   momentum: float = DEFAULT_MOMENTUM) -> Model:
    """The quantized Model of a float32 Model, calibrated on `calibration_data` (an array
    for a one-input model; a list in input order, or a dict by input tensor name, for
    several). mode: "int8" or "int16x8"; io_type: the mode's integer type (default) or
    "float32"; calibration_method: "minmax" (default), "moving_average" (with `momentum`)
    or "percentile" (at `percentile`); `ranges` skips calibration (calibrate()'s result).
    calibrate() does not watch variable tensors - the memory SVDF and the LSTM keep between
    invokes: their ranges are measured here from calibration_data, and added to `ranges`
    when it is given, so that a second call with the same `ranges` needs no data."""
    mode = get_mode(mode)
    io_type = resolve_io_type(io_type, mode)
    model = fold_constants(model)
    check_quantizable(model, mode)
    if ranges is None:
        if calibration_data is None:
            raise InputError("quantize_model needs calibration_data (or ranges)")
        ranges = calibrate(model, calibration_data, percentile, progress,
                           calibration_method, momentum)
    missing = [i for i in _state_tensors(model) if i not in ranges]
    if missing and calibration_data is not None:   # an op's memory (SVDF's, the LSTM's)
        ranges.update(calibrate_states(model, calibration_data, missing, percentile,
                                       calibration_method, momentum))
    plan = plan_activations(model, ranges, mode)
    return QuantizedModelWriter(model, plan, mode, io_type, per_channel_fc).build()


__all__ = ["quantize_model", "calibrate", "asymmetric_params", "symmetric_int16_params",
           "symmetric_weights", "quantize_bias", "check_quantizable", "plan_activations",
           "symmetric_int8_params", "symmetric_int16_constant", "power_of_two_int16_params",
           "calibrate_states",
           "Range", "Mode", "MODES", "get_mode", "resolve_io_type", "SUPPORTED",
           "SUPPORTED_16X8"]
