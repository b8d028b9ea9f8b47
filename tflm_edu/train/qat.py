"""Quantization-aware training (QAT): fine-tune a model through the int8 arithmetic it will run.

Post-training quantization (tflm_edu.convert.quantize) rounds a trained model's weights and
activations to int8 and hopes the damage is small. QAT shows the rounding to training: every
forward pass computes what the int8 model will compute - "fake-quantized" values, rounded to
the int8 grid and turned back into floats - so the loss, and the weights it moves, see it.
This is what TensorFlow's tfmot.quantization.keras.quantize_model does with FakeQuant ops, here
for a tflm_edu Sequential and with the quantizer's own arithmetic:

    qat = quantize_aware(model, calibration_data=x_train[:200])    # works on a copy of model
    qat.compile(optimizer=Adam(1e-4), loss="cross_entropy")
    qat.fit(x_train, y_train, epochs=5)                            # Sequential's fit, unchanged
    int8_model = qat.int8_model()
    # = quantize_model(convert_sequential(qat.float_model), ranges=qat.ranges)

The QAT model is a Sequential of one layer per TFLite op of the converted model (QuantOp), in
the converter's order, and one for the model input (QuantizeInput). Op by op:

- Weights: batch norm is folded into the conv / dense kernel first, with the converter's
  arithmetic (kernel * gamma / sqrt(moving_var + eps), in float64, rounded once to float32),
  then fake-quantized as quantize.symmetric_weights does: scale = max|w| / 127, per output
  channel for Conv2D and DepthwiseConv2D, per tensor for Dense (per channel with
  per_channel_fc=True, as quantize_model). The int8 model holds the folded kernel's int8
  values and adds the folded bias: rounding the unfolded kernel instead gives other int8
  weights wherever one scale spans channels the fold scales differently (a Dense kernel),
  and a batch norm left in training mode would normalise with batch statistics the int8
  model never sees.
- Biases: as quantize.quantize_bias, int32 with scale = input scale x weight scale.
- Activations: the model input and each op's output - after the activation fused into it
  (TFLite fuses ReLU / ReLU6 into the conv, dense or pool before them) - become
  affine_dequantize(affine_quantize(y)) with asymmetric_params(lo, hi): the range widened to
  include 0, the zero point rounded half away from zero. Ops that only move values (pooling,
  RESHAPE, RELU6: QuantizerRule output "same_as_input") take their input's parameters, and
  SOFTMAX its fixed (1/256, -128), as the quantizer writes them.
- Ranges: each calibrated activation keeps [lo, hi], started from calibration_data (min/max,
  exactly the ranges post-training quantization would use, so before fine-tuning the QAT
  model is the PTQ model) or else from the first batch. While training, each batch's
  [min(y.min(), 0), max(y.max(), 0)] moves it by an exponential moving average, as tfmot's
  MovingAverageQuantizer does; in evaluation (fit's validation, predict) it is frozen.
  Momentum 0.99, not TF's 0.999: the average then spans the last ~100 batches, about what a
  fine-tune here runs (a few epochs of tens of batches); at 0.999 the ranges would hardly
  leave their starting point in that time.
- Gradients: the straight-through estimator of tf.quantization.fake_quant_with_min_max_vars:
  d fake_quant(y) / dy = 1 where y lies inside the representable range [scale * (-128 - zp),
  scale * (127 - zp)], 0 outside (clipped values learn nothing). Weight and bias scales are
  constants of the step (no gradient through max|w|). Through the fold the gradient reaches
  kernel, bias, gamma and beta.
- Batch norm statistics are frozen at their moving averages (tf.contrib.quantize's
  freeze_bn_delay, PyTorch's freeze_bn_stats, from the first step): then the fold that the
  forward pass quantizes is exactly the fold the converter writes. gamma and beta still train.
- Softmax while training: its output is not fake-quantized (tfmot does not quantize it
  either: the range is fixed, there is nothing to learn, and cross-entropy wants the float
  probabilities); in evaluation it is, so predict() gives what the int8 model outputs.

What the int8 model computes against this forward pass: the same int8 inputs, int8 weights
and int32 biases, so the same integer accumulators. The kernel then rescales with a Q31
multiplier and a rounding shift (MultiplyByQuantizedMultiplier: a rounding high multiply,
then a rounding right shift - two roundings), where the fake-quant rounds the float
accumulator divided by the output scale once: the two differ only for values within a small
fraction of a step of a half step, and there by one step (more often where coarse weights
make exact halves common). An average pool (AVERAGE_POOL_2D,
MEAN) rounds its integer average's halves away from zero in zero-point-shifted codes, the
fake-quant in real values: one step again, at exact halves. op_agreement() measures it op
by op (tests/test_qat.py: at most one step on every op, on under 1% of the values of the
ops with weights). One step in an early op moves later ones a little, and that compounds
with depth: on the small example models most outputs are bit-equal and the answers the
same, through MobileNet's 31 ops few outputs are bit-equal and a near-tie can flip
(benchmarks/bench_quantization.py measures both).
"""
from __future__ import annotations

import copy
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from tflm_edu.convert.calibration import Range, calibrate
from tflm_edu.convert.converter import convert_sequential
from tflm_edu.convert.fold import fold_constants
from tflm_edu.convert.quantize import (QMAX, QMIN, asymmetric_params, quantize_bias,
                                       quantize_model, symmetric_weights)
from tflm_edu.errors import ModelError
from tflm_edu.op_resolver import SPECS
from tflm_edu.quantization import affine_dequantize, affine_quantize
from tflm_edu.schema.enums import BuiltinOperator as Op
from tflm_edu.train.activations import ReLU, ReLU6, Softmax
from tflm_edu.train.batchnorm import BatchNormalization
from tflm_edu.train.conv import Conv2D, DepthwiseConv2D
from tflm_edu.train.dense import Dense
from tflm_edu.train.dropout import Dropout
from tflm_edu.train.layer import Layer
from tflm_edu.train.pooling import AveragePool2D, GlobalAveragePool, MaxPool2D
from tflm_edu.train.reshape import Flatten, Reshape
from tflm_edu.train.sequential import Sequential

DEFAULT_MOMENTUM = 0.99
LINEAR = (Dense, Conv2D, DepthwiseConv2D)
# The layers whose op takes a following ReLU / ReLU6 as its fused activation (the converter's
# _FUSABLE: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, MAX_POOL_2D, AVERAGE_POOL_2D).
FUSES = LINEAR + (MaxPool2D, AveragePool2D)


# ----------------------------------------------------------------------------- the arithmetic


def fake_quant(y: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """y on the int8 grid of (scale, zero_point), as floats: the QUANTIZE kernel's arithmetic
    (affine_quantize: round half away from zero, clamp to [-128, 127]), then DEQUANTIZE's."""
    return affine_dequantize(affine_quantize(y, scale, zero_point), scale, zero_point)


def representable(scale: float, zero_point: int) -> tuple[float, float]:
    """The real values of int8 -128 and 127: inside them the straight-through gradient is 1."""
    return scale * (QMIN - zero_point), scale * (QMAX - zero_point)


def straight_through(y: np.ndarray, params: tuple) -> tuple[np.ndarray, np.ndarray]:
    """(fake_quant(y), where its gradient passes): tf.quantization.fake_quant_with_min_max_vars'
    straight-through estimator, 1 inside the representable range and 0 outside."""
    lo, hi = representable(*params)
    return fake_quant(y, *params), (y >= lo) & (y <= hi)


def fake_quant_weights(w: np.ndarray, axis: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(w on its int8 grid, scales): symmetric_weights' int8 values times their scales."""
    q, scales = symmetric_weights(w, axis)
    shape = [1] * w.ndim
    if axis is not None:
        shape[axis] = -1
    return (q * scales.astype(np.float64).reshape(shape)).astype(w.dtype), scales


def fake_quant_bias(b: np.ndarray, input_scale: float, weight_scales: np.ndarray) -> np.ndarray:
    """b on the int32 grid of scale input_scale * weight_scale (quantize_bias), as floats."""
    q, scales = quantize_bias(b, input_scale, weight_scales)
    return (q * scales.astype(np.float64)).astype(b.dtype)


class MovingRange:
    """The range [lo, hi] of one activation: an exponential moving average of each training
    batch's range widened to include 0 (tfmot's MovingAverageQuantizer, zero_debias off).
    `values` is a (2,) array the owning layer saves as state; nan until first set."""

    def __init__(self, momentum: float):
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.momentum = momentum
        self.values = np.full(2, np.nan)

    def set(self, lo: float, hi: float) -> None:
        self.values[:] = min(float(lo), 0.0), max(float(hi), 0.0)

    def update(self, y: np.ndarray) -> None:
        batch = np.array([min(float(y.min()), 0.0), max(float(y.max()), 0.0)])
        if np.isnan(self.values[0]):
            self.values[:] = batch                   # the first batch starts the average
        else:
            self.values += (1 - self.momentum) * (batch - self.values)

    def params(self, name: str) -> tuple[float, int]:
        if np.isnan(self.values[0]):
            raise ModelError(f"{name}: no activation range yet - give quantize_aware "
                             "calibration_data, or train a step first")
        return asymmetric_params(*self.values)

    def __repr__(self):
        lo, hi = self.values
        return f"MovingRange([{lo:.4g}, {hi:.4g}], momentum={self.momentum})"


@contextmanager
def _swapped(layer: Layer, **attributes):
    """Run the body with some of layer's attributes replaced (restored after, even on error):
    the float layer's own forward and backward then compute with the fake-quantized weights."""
    missing = object()
    saved = {name: layer.__dict__.get(name, missing) for name in attributes}
    layer.__dict__.update(attributes)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is missing:
                del layer.__dict__[name]
            else:
                layer.__dict__[name] = value


# ----------------------------------------------------------------------------- the layers


class QuantizeInput(Layer):
    """The model input, fake-quantized with its own moving range (the int8 model's input)."""

    state = ("input_range",)

    def __init__(self, momentum: float = DEFAULT_MOMENTUM):
        super().__init__()
        self.range = MovingRange(momentum)
        self.input_range = self.range.values
        self.tensor = None             # the input's tensor index in the converted model

    def output_params(self) -> tuple[float, int]:
        return self.range.params(self.name)

    def forward(self, x, training=False):
        if training:
            self.range.update(x)
        y, self.inside = straight_through(x, self.output_params())
        return y

    def backward(self, grad):
        return grad * self.inside if self.input_grad else None

    def count_params(self):
        return 0

    def __repr__(self):
        return f"QuantizeInput({self.range})"


class QuantOp(Layer):
    """One op of the converted model - a few layers of the float model, `layers` - computed as
    the int8 model computes it: its fake-quantized (folded) weights and bias, its layers in
    order, then its output fake-quantized with the parameters the quantizer will give it.

    layers[0] makes the op (a conv, a dense, a pool, ...); a BatchNormalization after it is
    folded in; the rest (its fused activation, dropouts the converter skips) run after it.
    `source` is the layer whose output is this op's input (QuantizeInput or a QuantOp): its
    parameters set the bias scale, and an op that only moves values reuses them. The float
    layers' arrays are the op's weights, under their own names (kernel, bias, gamma, beta), so
    the optimizer trains the float model in place."""

    def __init__(self, code: int, layers: list, source, momentum: float = DEFAULT_MOMENTUM,
                 per_channel_fc: bool = False):
        super().__init__()
        self.code, self.rule = Op(code), SPECS[code].quantizer
        self.main = layers[0]
        self.bn = next((x for x in layers if isinstance(x, BatchNormalization)), None)
        self.after = [x for x in layers[1:] if x is not self.bn]
        self.linear = self.main if isinstance(self.main, LINEAR) else None
        if self.linear is not None and self.linear.act is not None:
            self.after.insert(0, self.linear.act)     # run by the op, after the bias
        self.source, self.per_channel_fc = source, per_channel_fc
        self.range = MovingRange(momentum) if self.rule.output == "calibrated" else None
        self.tensor = None             # the output's tensor index in the converted model
        self._owners = {}              # weight name -> the float layer holding the array
        for layer in (self.linear, self.bn):
            for name in (layer.params + layer.state) if layer is not None else ():
                self._owners[name] = layer
        self.params = tuple(n for n in self._owners if n not in ("moving_mean", "moving_var"))
        self.state = tuple(n for n in self._owners if n not in self.params) + \
            (("output_range",) if self.range is not None else ())

    def __getattr__(self, name):
        """The float layers' arrays (kernel, gamma, ...) and the range, by name."""
        owners = self.__dict__.get("_owners", {})
        if name in owners:
            return getattr(owners[name], name)
        if name == "output_range" and self.__dict__.get("range") is not None:
            return self.range.values
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def _build(self, input_shape, rng):
        return self.main.output_shape          # built already; the layers after keep shapes

    # ---- parameters

    def input_params(self) -> tuple[float, int]:
        return self.source.output_params()

    def output_params(self) -> tuple[float, int]:
        if self.rule.output == "fixed":
            return self.rule.fixed_output
        if self.rule.output == "same_as_input":
            return self.input_params()
        return self.range.params(self.name)

    # ---- weights: fold, then fake-quantize

    def _channels(self) -> tuple:
        """The shape that broadcasts a per-output-channel vector over the Keras kernel:
        the last axis, or the last two (C, M) of a depthwise kernel."""
        kernel = self.linear.kernel
        if isinstance(self.linear, DepthwiseConv2D):
            return kernel.shape[-2:]
        return kernel.shape[-1:]

    def folded(self) -> tuple[np.ndarray, np.ndarray]:
        """(kernel, bias) as the converter writes them: batch norm folded in
        (kernel * scale, bias * scale + shift in float64, rounded once to the kernel's type)."""
        kernel = self.linear.kernel
        bias = self.linear.bias if "bias" in self.linear.params else \
            np.zeros(int(np.prod(self._channels())), kernel.dtype)
        if self.bn is None:
            return kernel, bias
        scale, shift = (np.asarray(a, np.float64) for a in self.bn.folded())
        return ((kernel * scale.reshape(self._channels())).astype(kernel.dtype),
                (bias * scale + shift).astype(bias.dtype))

    def quantized_weights(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(kernel, bias, weight scales) on the int8 / int32 grids of the int8 model. Per
        output channel: a Conv2D kernel's last axis, a depthwise kernel's last two (C, M)
        flattened as TFLite's C*M channels; a Dense kernel per tensor unless per_channel_fc."""
        kernel, bias = self.folded()
        if isinstance(self.linear, DepthwiseConv2D):
            flat, axis = kernel.reshape(*kernel.shape[:2], -1), 2
        elif isinstance(self.linear, Conv2D):
            flat, axis = kernel, 3
        else:
            flat, axis = kernel, 1 if self.per_channel_fc else None
        flat_q, scales = fake_quant_weights(flat, axis)
        bias_q = fake_quant_bias(bias, self.input_params()[0], scales)
        return flat_q.reshape(kernel.shape), bias_q, scales

    # ---- forward and backward

    def forward(self, x, training=False):
        if self.linear is not None:
            kernel, bias, _ = self.quantized_weights()
            self._quantized = dict(kernel=kernel, bias=bias, use_bias=True, act=None)
            with _swapped(self.linear, **self._quantized):
                y = self.linear.forward(x, training)
        else:
            y = self.main.forward(x, training)
        for layer in self.after:
            y = layer.forward(y, training)
        return self._quantize_output(y, training)

    def _quantize_output(self, y, training):
        if training and self.range is not None:
            self.range.update(y)
        if training and isinstance(self.main, Softmax):
            self.inside = None                # float probabilities for the loss (see above)
            return y
        y, self.inside = straight_through(y, self.output_params())
        return y

    def backward(self, grad):
        if self.inside is not None:
            grad = grad * self.inside           # straight through, inside the range only
        for layer in reversed(self.after):
            grad = layer.backward(grad)
        if self.linear is None:
            return self.main.backward(grad)
        with _swapped(self.linear, **self._quantized):
            d_x = self.linear.backward(grad)
        self.grads = self._unfold(self.linear.grads["kernel"], self.linear.grads["bias"])
        return d_x

    def _unfold(self, d_kernel, d_bias) -> dict:
        """d loss / d (kernel, bias, gamma, beta) from d loss / d (folded kernel, bias): the
        fake-quant passes them straight through, then the fold's chain rule. With
        s = gamma / sqrt(var + eps): kernel_f = kernel * s, bias_f = (bias - mean) * s + beta."""
        grads = {}
        if self.bn is None:
            grads["kernel"], grads["bias"] = d_kernel, d_bias
            return grads
        scale = self.bn.folded()[0]
        grads["kernel"] = d_kernel * scale.reshape(self._channels())
        bias = self.linear.bias if "bias" in self.linear.params else 0.0
        if "bias" in self.linear.params:
            grads["bias"] = d_bias * scale
        d_scale = (d_kernel * self.linear.kernel).reshape(-1, d_bias.size).sum(axis=0) + \
            d_bias * (bias - self.bn.moving_mean)
        grads["gamma"] = d_scale / np.sqrt(self.bn.moving_var + self.bn.epsilon)
        grads["beta"] = d_bias
        return grads

    # ---- description

    def layers(self) -> list:
        return [self.main] + ([self.bn] if self.bn is not None else []) + self.after

    def count_params(self):
        return sum(int(getattr(self, n).size) for n in self._owners)

    def macs(self):
        return self.main.macs()

    def __repr__(self):
        inner = ", ".join(repr(layer) for layer in self.layers())
        return f"QuantOp({self.code.name}: {inner}; output {self.rule.output})"


class QuantSoftmax(QuantOp, Softmax):
    """The SOFTMAX op. A Softmax too, so that compile() fuses it with cross-entropy (the
    loss's gradient p - y is then d loss / d logits, and this layer's backward is skipped)."""


# ----------------------------------------------------------------------------- the model


def op_code(layer: Layer) -> int:
    """The TFLite op the converter writes for a layer that starts an op."""
    if isinstance(layer, Dense):
        return Op.FULLY_CONNECTED
    if isinstance(layer, DepthwiseConv2D) or (isinstance(layer, Conv2D)
                                              and layer.input_shape[-1] == 1):
        return Op.DEPTHWISE_CONV_2D         # a conv over one channel is written depthwise
    codes = {Conv2D: Op.CONV_2D, MaxPool2D: Op.MAX_POOL_2D, AveragePool2D: Op.AVERAGE_POOL_2D,
             GlobalAveragePool: Op.MEAN, Reshape: Op.RESHAPE, ReLU: Op.RELU, ReLU6: Op.RELU6,
             Softmax: Op.SOFTMAX}
    for kind, code in codes.items():
        if type(layer) is kind or (kind is Reshape and isinstance(layer, Reshape)):
            return code
    raise ModelError(f"{layer.name}: quantization-aware training does not know "
                     f"{type(layer).__name__} layers")


def group_layers(layers: list) -> list:
    """The float layers as the converter turns them into ops: each item is a list (one op:
    the layer that makes it, then those it absorbs - a folded BatchNormalization, a fused
    ReLU / ReLU6 and the Dropouts before it) or a lone layer that writes no op (a Dropout, a
    Flatten right before a Dense)."""
    items, last = [], None             # last: the latest op's list
    for i, layer in enumerate(layers):
        nxt = layers[i + 1] if i + 1 < len(layers) else None
        if isinstance(layer, Dropout) or (isinstance(layer, Flatten) and isinstance(nxt, Dense)):
            items.append(layer)
        elif isinstance(layer, BatchNormalization):
            _check_foldable(layer, last, items)
            last.append(layer)
        elif isinstance(layer, (ReLU, ReLU6)) and _fusable(last):
            while items[-1] is not last:       # the dropouts in between move into the op
                last.insert(1, items.pop())
            last.append(layer)
        else:
            last = [layer]
            items.append(last)
    return items


def _activation(op: list):
    return next((x for x in op if isinstance(x, (ReLU, ReLU6))),
                getattr(op[0], "act", None))


def _fusable(op) -> bool:
    return op is not None and isinstance(op[0], FUSES) and _activation(op) is None


def _check_foldable(bn, op, items) -> None:
    if op is None or not isinstance(op[0], LINEAR) or _activation(op) is not None \
            or any(isinstance(x, BatchNormalization) for x in op) or items[-1] is not op:
        raise ModelError(f"{bn.name}: quantization-aware training folds BatchNormalization "
                         "into the Conv2D, DepthwiseConv2D or Dense right before it (no "
                         "activation or Dropout in between), as the converter does")


class QATModel(Sequential):
    """A Sequential that trains a float model through the int8 arithmetic (see the module
    docstring): QuantizeInput, then one QuantOp per op of the converted model, with the
    layers that write no op (Dropout, a Flatten before a Dense) in between. It trains
    `float_model`'s arrays in place; compile, fit, evaluate and predict are Sequential's."""

    def __init__(self, float_model: Sequential, momentum: float = DEFAULT_MOMENTUM,
                 per_channel_fc: bool = False):
        self.float_model, self.per_channel_fc = float_model, per_channel_fc
        names = [layer.name for layer in float_model.layers]
        layers = [QuantizeInput(momentum)]
        source = layers[0]
        for item in group_layers(float_model.layers):
            if isinstance(item, Layer):
                layers.append(item)
                continue
            kind = QuantSoftmax if isinstance(item[0], Softmax) else QuantOp
            source = kind(op_code(item[0]), item, source, momentum, per_channel_fc)
            layers.append(source)
        super().__init__(layers, float_model.input_shape)
        for layer, name in zip(float_model.layers, names):   # _build renamed the shared ones
            layer.name = name
        layers[0].name = "quantize_input"
        for op in self.ops():
            op.name = op.main.name        # as the converter names the op's output tensor
        self._match_converter()

    def ops(self) -> list[QuantOp]:
        return [layer for layer in self.layers if isinstance(layer, QuantOp)]

    def converted(self):
        """The float .tflite Model of float_model (constant-folded, as the quantizer sees it)."""
        return fold_constants(convert_sequential(self.float_model))

    def _match_converter(self) -> None:
        """Check op for op that the converter writes these ops, and note each quantized
        tensor's index in its model (the keys of `ranges`)."""
        model = self.converted()
        graph = model.subgraphs[0]
        written = [model.operator_codes[op.opcode_index].builtin_code for op in graph.operators]
        mine = [op.code for op in self.ops()]
        if written != mine:
            raise ModelError("quantization-aware training grouped the layers into ops "
                             f"{[Op(c).name for c in mine]} but the converter writes "
                             f"{[Op(c).name for c in written]}")
        self.layers[0].tensor = graph.inputs[0]
        for op, tflite_op in zip(self.ops(), graph.operators):
            op.tensor = tflite_op.outputs[0]

    def _ranges_by_tensor(self) -> dict:
        """tensor index -> MovingRange, for every activation with its own range."""
        owners = [self.layers[0]] + [op for op in self.ops() if op.range is not None]
        return {layer.tensor: layer.range for layer in owners}

    def calibrate(self, data) -> None:
        """Start every range from calibrate()'s min/max over `data` on the converted model:
        the ranges post-training quantization would use."""
        found = calibrate(self.converted(), data, progress=False)
        for index, moving in self._ranges_by_tensor().items():
            moving.set(found[index].min, found[index].max)

    @property
    def ranges(self) -> dict[int, Range]:
        """The activation ranges, by tensor index of convert_sequential(float_model): what
        quantize_model(..., ranges=) takes in place of calibration."""
        return {index: Range(float(m.values[0]), float(m.values[1]))
                for index, m in self._ranges_by_tensor().items()}

    def int8_model(self, io_type: str | None = None):
        """The int8 Model: quantize_model(convert_sequential(float_model), ranges=ranges)."""
        return quantize_model(self.converted(), ranges=self.ranges, io_type=io_type,
                              per_channel_fc=self.per_channel_fc, progress=False)

    def __repr__(self):
        return "QAT" + super().__repr__()


def quantize_aware(model: Sequential, calibration_data=None, momentum: float = DEFAULT_MOMENTUM,
                   per_channel_fc: bool = False) -> QATModel:
    """The QATModel of a copy of `model` (which stays as it is: the float and PTQ baseline).
    calibration_data starts the activation ranges where post-training quantization puts
    them; without it the first training batch does. per_channel_fc: per-channel Dense
    weights, as quantize_model(per_channel_fc=True)."""
    qat = QATModel(copy.deepcopy(model), momentum, per_channel_fc)
    if calibration_data is not None:
        qat.calibrate(calibration_data)
    return qat


# ----------------------------------------------------------------------------- checks and demos


@dataclass
class OpAgreement:
    """One op of the int8 model against its QuantOp, both given the int8 model's own input to
    the op: the largest difference of their outputs in output steps, and the share of output
    values that differ at all."""
    op: str
    max_steps: int
    differing: float

    def __repr__(self):
        return (f"OpAgreement({self.op}: max {self.max_steps} step(s), "
                f"{100 * self.differing:.3f}% of values differ)")


def _segments(qat: QATModel) -> list[list[Layer]]:
    """Per op of the int8 model: the QAT layers that compute it (the lone layers before its
    QuantOp - a Flatten, a Dropout - then the QuantOp)."""
    segments, current = [], []
    for layer in qat.layers[1:]:
        current.append(layer)
        if isinstance(layer, QuantOp):
            segments.append(current)
            current = []
    return segments


def op_agreement(qat: QATModel, int8_model, x) -> list[OpAgreement]:
    """Run int8_model (qat.int8_model(), int8 inputs and outputs) on each example of x op by
    op, and give each op's int8 input, dequantized, to the op's QAT layers: where the
    fake-quant forward pass and the integer kernel differ, and by how much (at most one
    step: the kernel's requantization rounds a half differently now and then)."""
    from tflm_edu.evaluate import as_model_inputs
    from tflm_edu.runtime import Interpreter
    interpreter, graph = Interpreter(int8_model), int8_model.subgraphs[0]
    segments = _segments(qat)
    if len(segments) != len(graph.operators):
        raise ModelError(f"the int8 model has {len(graph.operators)} ops, the QAT model "
                         f"{len(segments)}: give qat.int8_model() (int8 inputs and outputs)")
    worst, differing, count = [0] * len(segments), [0] * len(segments), [0] * len(segments)
    details = interpreter.get_input_details(0)
    for example in np.asarray(x, np.float32):
        interpreter.set_input(as_model_inputs(example[None], details)[0], 0)
        for k, event in enumerate(interpreter.steps()):
            q_in = graph.tensors[event.node.inputs[0]].quantization
            y = affine_dequantize(event.inputs[0], q_in.scale[0], q_in.zero_point[0])
            y = y.reshape(1, *segments[k][0].input_shape)
            for layer in segments[k]:
                y = layer.forward(y, training=False)
            q_out = graph.tensors[event.node.outputs[0]].quantization
            int8_out = affine_dequantize(event.outputs[0], q_out.scale[0], q_out.zero_point[0])
            steps = np.rint(np.abs(int8_out.reshape(-1) - y.reshape(-1)) / q_out.scale[0])
            worst[k] = max(worst[k], int(steps.max()))
            differing[k] += int(np.count_nonzero(steps))
            count[k] += steps.size
    return [OpAgreement(segment[-1].name, w, d / max(n, 1))
            for segment, w, d, n in zip(segments, worst, differing, count)]


# Layers a positive scale passes through unchanged, channel by channel (ReLU is positively
# homogeneous: relu(f x) = f relu(x) for f > 0; ReLU6 is not).
_COMMUTES = (ReLU, MaxPool2D, AveragePool2D, GlobalAveragePool, Dropout, Flatten)


def outlier_channel(model: Sequential, layer: int, channel: int, factor: float = 64.0):
    """Give one activation channel a range `factor` times wider without changing what the
    float model computes (the reverse of cross-layer equalization, Nagel et al. 2019): output
    channel `channel` of model.layers[layer] (a Conv2D or Dense with a ReLU, or none) is
    multiplied by factor, and the next Conv2D / Dense's weights that read it are divided by
    it. A power of two keeps the float outputs bit for bit. Post-training quantization then
    spends the tensor's one int8 scale on the outlier and leaves the other channels a few
    steps, and the next layer's per-tensor weights on that channel round to almost nothing;
    QAT can train around both. Changes model in place and returns it."""
    source = model.layers[layer]
    if not isinstance(source, (Conv2D, Dense)) or source.activation not in (None, "relu"):
        raise ValueError(f"{source.name}: outlier_channel needs a Conv2D or Dense with a ReLU "
                         "(or no) activation")
    following = model.layers[layer + 1:]
    reader = next((i for i, x in enumerate(following) if not isinstance(x, _COMMUTES)), None)
    if reader is None or not isinstance(following[reader], (Conv2D, Dense)) or \
            isinstance(following[reader], DepthwiseConv2D):
        raise ValueError(f"{source.name}: the layers after it must pass a positive scale "
                         "through (ReLU, pooling, Dropout, Flatten) to a Conv2D or Dense")
    target = following[reader]
    source.kernel[..., channel] *= factor
    if "bias" in source.params:
        source.bias[channel] *= factor
    if isinstance(target, Conv2D):
        target.kernel[:, :, channel, :] /= factor
    else:       # a Dense reads channel c of a flattened (..., C) input at rows c, c + C, ...
        target.kernel[channel::source.output_shape[-1], :] /= factor
    return model


__all__ = ["quantize_aware", "QATModel", "QuantOp", "QuantSoftmax", "QuantizeInput",
           "MovingRange", "fake_quant", "straight_through", "fake_quant_weights",
           "fake_quant_bias", "representable", "group_layers", "op_code", "op_agreement",
           "OpAgreement", "outlier_channel", "DEFAULT_MOMENTUM"]
