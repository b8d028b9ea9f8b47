"""Post-training int8 quantization, following the TFLite int8 quantization spec.

A float model becomes one that TFLM runs with integer arithmetic only. Every real number r
is stored as an int8 q with r = scale * (q - zero_point):

- Activations (inputs, outputs of every op) are *asymmetric* int8, one scale and zero point
  per tensor. Their ranges come from calibration: run the float model on a representative
  dataset, keep each tensor's min and max (or a percentile, which ignores rare outliers),
  widen the range to include 0 (so that 0.0 - zero padding, ReLU's floor - is exact), then
  scale = (max - min) / 255 and zero_point = -128 - min / scale, rounded.
- Weights are *symmetric* int8 (zero_point 0, values in [-127, 127]): per output channel
  for CONV_2D (axis 0) and DEPTHWISE_CONV_2D (axis 3), per tensor for FULLY_CONNECTED
  unless per_channel_fc=True.
- Biases are int32 with scale = input_scale * weight_scale (per channel), so the kernel
  can add them straight to its int32 accumulator.
- Some outputs have fixed ranges: SOFTMAX and LOGISTIC (0..1) use scale 1/256, zero point
  -128; TANH (-1..1) uses 1/128, 0. Pools and RESHAPE reuse their input's parameters:
  they only move values around, so no rescaling is needed.
- The model's inputs and outputs are int8 (io_type="int8"), or stay float32 with a
  QUANTIZE op in front and a DEQUANTIZE op at the end (io_type="float32").
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from tflm_edu.errors import InputError, ModelError
from tflm_edu.interpreter import MicroInterpreter
from tflm_edu.op_resolver import SPECS, AllOpsResolver
from tflm_edu.quantization import affine_quantize, round_half_away_from_zero
from tflm_edu.schema.builder import ModelBuilder, quantization
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType
from tflm_edu.schema.model import Model, SignatureDef, TensorMap, tensor_data

QMIN, QMAX = -128, 127



def _rule(code):
    """The op's QuantizerRule (its OpSpec, beside its kernel), or None."""
    spec = SPECS.get(code)
    return spec.quantizer if spec is not None else None


# The ops the quantizer writes in int8: those whose OpSpec has a QuantizerRule, but
# QUANTIZE and DEQUANTIZE, which it adds itself around a model with float inputs/outputs.
SUPPORTED = {op for op, spec in SPECS.items() if spec.quantizer is not None} - \
    {Op.QUANTIZE, Op.DEQUANTIZE}


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


def quantize_bias(b: np.ndarray, input_scale: float, weight_scales: np.ndarray) -> tuple:
    """(int32 bias, scales) with scale = input_scale * weight_scale, zero point 0."""
    scales = (np.float32(input_scale) * np.asarray(weight_scales, np.float32)).astype(np.float32)
    q = round_half_away_from_zero(np.asarray(b, np.float64) / scales.astype(np.float64))
    info = np.iinfo(np.int32)
    return np.clip(q, info.min, info.max).astype(np.int32), scales


# ----------------------------------------------------------------------------- calibration


@dataclass
class Range:
    min: float
    max: float


def _samples(model: Model, data) -> np.ndarray:
    """Calibration data as (N, *input shape) float32, checked against the model's input."""
    graph = model.subgraphs[0]
    if len(graph.inputs) != 1:
        raise InputError(f"the model has {len(graph.inputs)} inputs; quantize_model calibrates "
                         "single-input models only")
    shape = tuple(graph.tensors[graph.inputs[0]].shape)
    x = np.asarray(data, np.float32)
    if x.shape[1:] == shape:
        return x
    if x.shape[1:] == shape[1:] and shape[:1] == (1,):
        return x[:, None]
    raise InputError(f"calibration data has shape {list(x.shape)}; the model's input is "
                     f"{list(shape)}, so give (N, {', '.join(map(str, shape[1:]))}) samples")


def calibrate(model: Model, data, percentile: float | None = None,
              progress: bool = True) -> dict[int, Range]:
    """Run the float model on every sample; the range of each float activation tensor."""
    x = _samples(model, data)
    if len(x) == 0:
        raise InputError("calibration needs at least one sample")
    if percentile is not None and not 50 < percentile <= 100:
        raise InputError(f"percentile must be in (50, 100], got {percentile}")
    graph = model.subgraphs[0]
    interpreter = MicroInterpreter(model, AllOpsResolver(), None)
    interpreter.allocate_tensors()
    watched = [graph.inputs[0]] + [o for op in graph.operators for o in op.outputs]
    watched = [i for i in dict.fromkeys(watched) if graph.tensors[i].type == TensorType.FLOAT32]
    lo = {i: np.inf for i in watched}
    hi = {i: -np.inf for i in watched}
    values = {i: [] for i in watched} if percentile is not None else None
    iterator = x
    if progress:
        from tqdm.auto import tqdm
        iterator = tqdm(x, desc="calibrating", leave=False)
    for sample in iterator:
        interpreter.input(0).data[...] = sample
        # read each output right after its op: the arena reuses memory, so a tensor
        # is only valid until a later op overwrites it
        for event in interpreter.steps():
            seen = [(graph.inputs[0], sample)] if event.op_index == 0 else []
            seen += list(zip(event.node.outputs, event.outputs))
            for i, v in seen:
                if i not in lo:
                    continue
                lo[i] = min(lo[i], float(np.min(v)))
                hi[i] = max(hi[i], float(np.max(v)))
                if values is not None:
                    values[i].append(np.array(v, np.float32).ravel())
    if values is not None:
        for i in watched:
            allv = np.concatenate(values[i])
            lo[i] = float(np.percentile(allv, 100 - percentile))
            hi[i] = float(np.percentile(allv, percentile))
    return {i: Range(lo[i], hi[i]) for i in watched}


# ----------------------------------------------------------------------------- the quantizer


def check_quantizable(model: Model) -> None:
    if len(model.subgraphs) != 1:
        raise ModelError(f"the model has {len(model.subgraphs)} subgraphs; the quantizer "
                         "handles single-subgraph models")
    graph = model.subgraphs[0]
    for i in list(graph.inputs) + list(graph.outputs):
        if graph.tensors[i].type != TensorType.FLOAT32:
            raise ModelError(f"tensor {i} ({graph.tensors[i].name!r}) is "
                             f"{graph.tensors[i].dtype.name}: quantize_model takes a float32 "
                             "model (is it already quantized?)")
    for k, op in enumerate(graph.operators):
        code = model.operator_codes[op.opcode_index].builtin_code
        if code not in SUPPORTED:
            names = ", ".join(sorted(Op(c).name for c in SUPPORTED))
            raise ModelError(f"op {k} is {model.op_name(op)}, which the int8 quantizer does not "
                             f"handle; supported: {names}")


def quantize_model(model: Model, calibration_data, io_type: str = "int8",
                   per_channel_fc: bool = False, percentile: float | None = None,
                   progress: bool = True, ranges: dict | None = None) -> Model:
    """The int8 Model of a float32 Model, calibrated on `calibration_data`."""
    if io_type not in ("int8", "float32"):
        raise InputError(f"io_type must be 'int8' or 'float32', got {io_type!r}")
    check_quantizable(model)
    if ranges is None:
        ranges = calibrate(model, calibration_data, percentile, progress)
    graph = model.subgraphs[0]
    T = graph.tensors

    # 1. scale and zero point of every activation, in op order
    act: dict[int, tuple[float, int]] = {}
    for i in graph.inputs:
        act[i] = asymmetric_params(ranges[i].min, ranges[i].max)
    for op in graph.operators:
        code = model.operator_codes[op.opcode_index].builtin_code
        out, rule = op.outputs[0], _rule(code)
        if rule.output == "same_as_input":   # the kernel does not rescale: scale unchanged
            act[out] = act[op.inputs[0]]
        elif rule.output == "fixed":          # the kernel requires this scale
            act[out] = rule.fixed_output
        else:
            act[out] = asymmetric_params(ranges[out].min, ranges[out].max)

    # 2. the tensors, in the same order (indices stay valid)
    b = ModelBuilder(description=f"tflm_edu int8 quantizer ({model.description or 'float model'})")
    bias_of, weights_of = {}, {}
    versions = {}
    for op in graph.operators:
        rule = _rule(model.operator_codes[op.opcode_index].builtin_code)
        versions[id(op)] = rule.int8_version
        if rule.weights_axis is not None:     # int8 weights (input 1), int32 bias (input 2)
            axis = rule.weights_axis
            if rule.per_channel_optional:
                axis = axis if per_channel_fc else None
                if per_channel_fc:
                    versions[id(op)] = rule.per_channel_version
            weights_of[op.inputs[1]] = (axis, op.inputs[0])
            if len(op.inputs) > 2 and op.inputs[2] >= 0:
                bias_of[op.inputs[2]] = op.inputs[1]
    weight_scales = {}
    for i, t in enumerate(T):
        data = tensor_data(model, t)
        name = t.name
        if i in weights_of:
            axis, _ = weights_of[i]
            q, scales = symmetric_weights(data, axis)
            weight_scales[i] = scales
            b.add_tensor(t.shape, np.int8, name, q, quantization(
                scales if axis is not None else scales[0], 0, axis or 0))
        elif i in bias_of:
            w = bias_of[i]
            axis, source = weights_of[w]
            if w not in weight_scales:        # weights after the bias in the tensor list
                weight_scales[w] = symmetric_weights(tensor_data(model, T[w]), axis)[1]
            q, scales = quantize_bias(data, act[source][0], weight_scales[w])
            b.add_tensor(t.shape, np.int32, name, q,
                         quantization(scales if axis is not None else scales[0], 0, 0))
        elif data is not None and t.type == TensorType.FLOAT32:
            scale, zp = asymmetric_params(data.min(), data.max())   # e.g. an ADD's constant
            b.add_tensor(t.shape, np.int8, name, affine_quantize(data, scale, zp),
                         quantization(scale, zp))
        elif data is not None:
            b.add_tensor(t.shape, t.dtype, name, data, copy.deepcopy(t.quantization))
        elif i in act:
            scale, zp = act[i]
            b.add_tensor(t.shape, np.int8, name, quant=quantization(scale, zp))
        else:
            b.add_tensor(t.shape, t.dtype, name)

    # 3. float inputs/outputs: QUANTIZE in front, DEQUANTIZE at the end
    io_map = {}

    def float_twin(i, op, before: bool):
        """A float32 tensor with i's name beside int8 tensor i, converted by `op`."""
        b.tensors[i].name = f"{T[i].name}_int8"
        f = b.add_tensor(T[i].shape, np.float32, T[i].name)
        b.add_operator(op, [f] if before else [i], [i] if before else [f],
                       version=_rule(op).int8_version)
        io_map[i] = f

    if io_type == "float32":
        for i in graph.inputs:
            float_twin(i, Op.QUANTIZE, before=True)
    for op in graph.operators:
        code = model.operator_codes[op.opcode_index].builtin_code
        b.add_operator(code, op.inputs, op.outputs, copy.deepcopy(op.builtin_options),
                       version=versions[id(op)])
    if io_type == "float32":
        for i in graph.outputs:
            float_twin(i, Op.DEQUANTIZE, before=False)
    b.inputs = [io_map.get(i, i) for i in graph.inputs]
    b.outputs = [io_map.get(i, i) for i in graph.outputs]
    quantized = b.build()
    quantized.signature_defs = [
        SignatureDef(inputs=tuple(TensorMap(m.name, io_map.get(m.tensor_index, m.tensor_index))
                                  for m in s.inputs),
                     outputs=tuple(TensorMap(m.name, io_map.get(m.tensor_index, m.tensor_index))
                                   for m in s.outputs),
                     signature_key=s.signature_key, subgraph_index=s.subgraph_index)
        for s in model.signature_defs]
    return quantized


__all__ = ["quantize_model", "calibrate", "asymmetric_params", "symmetric_weights",
           "quantize_bias", "check_quantizable", "Range"]
