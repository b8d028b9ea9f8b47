"""What quantization did to a model: scales, per-layer error, the worst layer, accuracy.

- tensor_table(): every tensor's type, scale and zero point (the numbers to check when a
  board's output looks wrong).
- layer_sqnr(): run the float and the quantized model side by side on the same inputs, op
  by op (MicroInterpreter.steps()), dequantize each int8 or int16 activation and compare it
  with the float one. SQNR = 10 log10(signal power / error power) in dB: ~40 dB is the
  ideal for 8 bits over a well-used range, ~80 dB for 16 bits (int16x8: then the int8
  weights are what limits it). Errors accumulate, so each layer also gets its "own"
  SQNR: that of the noise it adds to what its inputs already carry.
- worst_layer() names the layer with the lowest own SQNR - the one that adds the most
  noise - and suggest_fix() says in words what TFLite offers against it: per-channel
  weights, percentile calibration, or 16-bit activations (int16x8).
- accuracy(): top-1 accuracy of either model on a labelled test set.
- quantization_report() puts them together - optionally beside a second quantized model
  (int8 beside int16x8); .text() prints it, .plot() draws the SQNRs.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tflm_edu.convert.calibration import calibration_inputs
from tflm_edu.convert.fold import fold_constants
from tflm_edu.errors import InputError
from tflm_edu.evaluate import accuracy, as_model_inputs, run_model
from tflm_edu.op_resolver import SPECS
from tflm_edu.quantization import affine_dequantize
from tflm_edu.runtime import Interpreter
from tflm_edu.schema.enums import TensorType, type_name
from tflm_edu.schema.model import tensor_data

# Thresholds of suggest_fix(): a layer's weight channels this many times apart in range
# want per-channel weights; an activation whose full range is this many times wider than
# the middle 98% of its values wants percentile calibration (for normal-like values the
# ratio is about 1.4).
CHANNEL_SPREAD = 4.0
OUTLIER_RATIO = 2.0


def _sample_inputs(sample) -> list:
    """One sample as a list of per-input arrays (a lone array: a one-input model)."""
    return list(sample) if isinstance(sample, (list, tuple)) else [sample]


def float_activations(interpreter, sample) -> dict[str, np.ndarray]:
    """Every op output of one run on `sample` (a float example, or a list of one per
    input), as float values by tensor name - dequantized for an int8 or int16 model."""
    for k, x in enumerate(_sample_inputs(sample)):
        interpreter.set_input(as_model_inputs(np.asarray(x)[None],
                                              interpreter.get_input_details(k))[0], k)
    graph, out = interpreter.model.subgraphs[0], {}
    for event in interpreter.steps():
        for i in event.node.outputs:
            tensor = interpreter.micro.tensor(i)
            q = tensor.quantization
            out[graph.tensors[i].name] = np.array(tensor.data, np.float32) if q is None \
                else affine_dequantize(tensor.data, q.scale[0], q.zero_point[0])
    return out


def tensor_table(model) -> list[dict]:
    """Per tensor: index, name, shape, type, scale(s) and zero point(s)."""
    rows = []
    for i, t in enumerate(model.subgraphs[0].tensors):
        q = t.quantization
        rows.append({"index": i, "name": t.name, "shape": tuple(t.shape),
                     "type": type_name(t.type),
                     "scale": tuple(q.scale) if q is not None else (),
                     "zero_point": tuple(q.zero_point) if q is not None else (),
                     "per_channel": bool(q is not None and q.per_channel)})
    return rows


def model_mode(model) -> str:
    """"int16x8" when a model's activations are int16, "int8" when int8, else "float"."""
    types = {t.type for t in model.subgraphs[0].tensors
             if t.quantization is not None and t.quantization.scale
             and tensor_data(model, t) is None}
    return "int16x8" if TensorType.INT16 in types else "int8" if TensorType.INT8 in types \
        else "float"


# ----------------------------------------------------------------------------- per layer


@dataclass
class LayerSQNR:
    """One op's output, float against quantized: its SQNR, the lowest SQNR of its
    activation inputs (what it was given), and what suggest_fix() reads - the spread of
    its per-tensor weights' channel ranges and its output's outlier ratio."""
    op_index: int
    op_name: str
    tensor: str
    sqnr_db: float
    input_sqnr_db: float = float("inf")
    weight_spread: float | None = None
    outlier_ratio: float = 1.0

    @property
    def own_sqnr_db(self) -> float:
        """The SQNR of the noise this op adds itself: its output's relative noise power
        minus its inputs' (inf when it adds none). Noise powers add, decibels do not; the
        layer with the lowest own SQNR is where quantization hurts most."""
        added = 10 ** (-self.sqnr_db / 10) - 10 ** (-self.input_sqnr_db / 10)
        return float("inf") if added <= 0 else float(-10 * np.log10(added))


def sqnr_db(signal: np.ndarray, noisy: np.ndarray) -> float:
    signal = np.asarray(signal, np.float64)
    noise = np.sum((signal - np.asarray(noisy, np.float64)) ** 2)
    power = np.sum(signal ** 2)
    if noise == 0:
        return float("inf")
    return float(10 * np.log10(max(power, 1e-30) / noise))


def _twin_names(q_model) -> set:
    return {t.name for t in q_model.subgraphs[0].tensors}


def _twin(name: str, q_names: set) -> str | None:
    """The quantized model's tensor for float tensor `name` (io twins carry a suffix)."""
    for candidate in (f"{name}_int8", f"{name}_int16", name):
        if candidate in q_names:
            return candidate
    return None


def _compared_tensors(float_model, q_model) -> dict[str, str]:
    """Float activation name -> its quantized twin: graph inputs and op outputs."""
    graph, q_names = float_model.subgraphs[0], _twin_names(q_model)
    indices = list(graph.inputs) + [op.outputs[0] for op in graph.operators]
    pairs = {}
    for i in indices:
        t = graph.tensors[i]
        twin = _twin(t.name, q_names)
        if t.type == TensorType.FLOAT32 and twin is not None:
            pairs[t.name] = twin
    return pairs


def _collect(float_model, q_model, inputs: list, pairs: dict) -> tuple[dict, dict, dict]:
    """Signal power, error power and the float values of every compared tensor."""
    f_run, q_run = Interpreter(float_model), Interpreter(q_model)
    signal = dict.fromkeys(pairs, 0.0)
    noise = dict.fromkeys(pairs, 0.0)
    values = {name: [] for name in pairs}
    for n in range(len(inputs[0])):
        sample = [x[n] for x in inputs]
        fa, qa = float_activations(f_run, sample), float_activations(q_run, sample)
        graph = float_model.subgraphs[0]
        for i, x in zip(graph.inputs, sample):       # the inputs, as quantize_input does
            fa[graph.tensors[i].name] = np.asarray(x, np.float32)
        qa.update(_quantized_inputs(q_run, sample))
        for name, twin in pairs.items():
            if name not in fa or twin not in qa:
                continue
            f = fa[name].astype(np.float64)
            signal[name] += float(np.sum(f ** 2))
            noise[name] += float(np.sum((f - qa[twin].astype(np.float64)) ** 2))
            values[name].append(fa[name].ravel())
    return signal, noise, values


def _quantized_inputs(q_run, sample) -> dict:
    """The quantized model's graph inputs on `sample`, dequantized, by name (an integer
    input holds the sample quantized with its scale and zero point)."""
    out = {}
    graph = q_run.model.subgraphs[0]
    for k, (i, x) in enumerate(zip(graph.inputs, sample)):
        details = q_run.get_input_details(k)
        q = as_model_inputs(np.asarray(x)[None], details)[0]
        params = details["quantization_parameters"]
        out[graph.tensors[i].name] = q.astype(np.float32) if not len(params["scales"]) else \
            affine_dequantize(q, params["scales"][0], params["zero_points"][0])
    return out


def _shown(db: float, width: int = 8) -> str:
    """A dB figure for the text report: "exact" when there is no error at all."""
    return f"{'exact':>{width}}" if np.isinf(db) else f"{db:{width}.1f}"


def _db(signal: float, noise: float) -> float:
    return float("inf") if noise == 0 else float(10 * np.log10(max(signal, 1e-30) / noise))


def outlier_ratio(values: np.ndarray, percentile: float = 99.0) -> float:
    """How much wider the full range (with 0) is than the range between the (100 -
    percentile)-th and percentile-th percentiles (with 0): near 1 for well-behaved
    activations, large when rare outliers set the scale."""
    if values.size == 0:
        return 1.0
    lo, hi = min(float(values.min()), 0.0), max(float(values.max()), 0.0)
    p_lo = min(float(np.percentile(values, 100 - percentile)), 0.0)
    p_hi = max(float(np.percentile(values, percentile)), 0.0)
    return (hi - lo) / (p_hi - p_lo) if p_hi - p_lo > 0 else 1.0


def weight_spread(float_model, q_model, op) -> float | None:
    """For an op whose weights the quantized model stores per tensor (FULLY_CONNECTED
    without per_channel_fc): the largest over the smallest output channel's max|w|."""
    graph = float_model.subgraphs[0]
    rule = SPECS[float_model.operator_codes[op.opcode_index].builtin_code].quantizer
    if rule is None or rule.weights_axis is None or len(op.inputs) < 2:
        return None
    t = graph.tensors[op.inputs[1]]
    twin = next((q for q in q_model.subgraphs[0].tensors if q.name == t.name), None)
    w = tensor_data(float_model, t)
    if w is None or twin is None or twin.quantization is None or twin.quantization.per_channel:
        return None
    other = tuple(a for a in range(w.ndim) if a != rule.weights_axis)
    channel = np.abs(w).max(axis=other)
    channel = channel[channel > 0]
    return float(channel.max() / channel.min()) if channel.size else None


def layer_sqnr(float_model, q_model, x, limit: int = 32) -> list[LayerSQNR]:
    """SQNR of every float op output against its dequantized twin in the quantized model,
    over the first `limit` samples of x (an array, or one per input as calibration data).
    Op indices are those of the constant-folded float model, as the quantizer sees it (the
    original's when there is nothing to fold)."""
    float_model = fold_constants(float_model)
    inputs = [a[:limit] for a in calibration_inputs(float_model, x)]
    if len(inputs[0]) == 0:
        raise InputError("layer_sqnr needs at least one sample")
    pairs = _compared_tensors(float_model, q_model)
    signal, noise, values = _collect(float_model, q_model, inputs, pairs)
    sqnr = {name: _db(signal[name], noise[name]) for name in pairs}
    graph, layers = float_model.subgraphs[0], []
    for k, op in enumerate(graph.operators):
        name = graph.tensors[op.outputs[0]].name
        if name not in pairs:
            continue
        ins = [sqnr[graph.tensors[i].name] for i in op.inputs
               if i >= 0 and graph.tensors[i].name in sqnr]
        layers.append(LayerSQNR(k, float_model.op_name(op), name, sqnr[name],
                                min(ins, default=float("inf")),
                                weight_spread(float_model, q_model, op),
                                outlier_ratio(np.concatenate(values[name]) if values[name]
                                              else np.zeros(0))))
    return layers


# ----------------------------------------------------------------------------- the worst layer


def worst_layer(layers: list[LayerSQNR]) -> LayerSQNR | None:
    """The layer that adds the most noise itself (the lowest own SQNR; ties: the lower
    SQNR) - where to look first when accuracy drops."""
    noisy = [layer for layer in layers if not np.isinf(layer.own_sqnr_db)]
    if not noisy:
        return None
    return min(noisy, key=lambda layer: (layer.own_sqnr_db, layer.sqnr_db))


def suggest_fix(layer: LayerSQNR, mode: str = "int8") -> str:
    """What TFLite offers against this layer's error, in words, most specific first."""
    if layer.weight_spread is not None and layer.weight_spread > CHANNEL_SPREAD:
        return (f"per-channel weights (per_channel_fc=True, --per-channel-fc): its output "
                f"channels' weight ranges differ up to {layer.weight_spread:.0f}x, and one "
                f"scale per tensor leaves the small channels few levels")
    if layer.outlier_ratio > OUTLIER_RATIO:
        return (f"percentile calibration (calibration_method='percentile', "
                f"--calibration-method percentile): a few outliers stretch its range "
                f"{layer.outlier_ratio:.1f}x wider than the middle 98% of its values")
    if mode == "int8":
        return ("int16x8 for this layer (mode='int16x8', --mode int16x8; tflm_edu quantizes "
                "the whole model in one mode): its range is well used, 8 bits are just too "
                "few steps for it")
    return ("quantization-aware training: with 16-bit activations the error left is the "
            "int8 weights'")


# ----------------------------------------------------------------------------- the report


def model_accuracy(model, x, y) -> float:
    """Top-1 accuracy of a classifier model on (float examples x, integer labels y)."""
    if len(x) != len(np.asarray(y)):
        raise InputError(f"{len(x)} samples but {len(np.asarray(y))} labels")
    return accuracy(y, run_model(Interpreter(model), x, progress=False, dequantize=True))


@dataclass
class QuantizationReport:
    tensors: list
    layers: list
    float_accuracy: float | None = None
    int8_accuracy: float | None = None
    notes: list = field(default_factory=list)
    mode: str = "int8"
    compare_mode: str | None = None          # the second quantized model's mode, if any
    compare_layers: list = field(default_factory=list)

    @property
    def worst(self) -> LayerSQNR | None:
        return worst_layer(self.layers)

    def _layer_lines(self) -> list[str]:
        other = {layer.tensor: layer for layer in self.compare_layers}
        extra = f" {self.compare_mode:>9}" if self.compare_mode else ""
        lines = [f"per layer (float vs {self.mode}, dequantized):",
                 f"  {'#':>3} {'op':<20} {'tensor':<40} {'SQNR dB':>8} {'own dB':>8}{extra}"]
        for layer in self.layers:
            row = (f"  {layer.op_index:>3} {layer.op_name:<20} {layer.tensor[-40:]:<40} "
                   f"{_shown(layer.sqnr_db)} {_shown(layer.own_sqnr_db)}")
            if self.compare_mode:
                twin = other.get(layer.tensor)
                row += f" {_shown(twin.sqnr_db, 9) if twin else '-':>9}"
            lines.append(row)
        return lines

    def _worst_lines(self) -> list[str]:
        worst = self.worst
        if worst is None:
            return []
        return [f"worst layer: #{worst.op_index} {worst.op_name} ({worst.tensor}): the noise "
                f"it adds is {worst.own_sqnr_db:.1f} dB below its signal (SQNR "
                f"{worst.input_sqnr_db:.1f} dB in, {worst.sqnr_db:.1f} dB out)",
                f"  suggestion: {suggest_fix(worst, self.mode)}"]

    def _tensor_lines(self) -> list[str]:
        lines = ["tensors:"]
        for row in self.tensors:
            if row["per_channel"]:
                q = f"{len(row['scale'])} scales {min(row['scale']):.3g}..{max(row['scale']):.3g}"
            elif row["scale"]:
                q = f"scale {row['scale'][0]:.6g} zero_point {row['zero_point'][0]}"
            else:
                q = "-"
            lines.append(f"  {row['index']:>3} {row['name'][-40:]:<40} {row['type']:<8} {q}")
        return lines

    def text(self) -> str:
        lines = self._layer_lines() + self._worst_lines() + self._tensor_lines()
        if self.float_accuracy is not None:
            lines.append(f"accuracy: float {100 * self.float_accuracy:.1f}%, "
                         f"{self.mode} {100 * self.int8_accuracy:.1f}% "
                         f"({100 * (self.int8_accuracy - self.float_accuracy):+.1f} points)")
        return "\n".join(lines + list(self.notes))

    def plot(self, ax=None):
        """Bar chart of SQNR per layer (beside the compared model's, if any)."""
        import matplotlib.pyplot as plt
        if ax is None:
            _, ax = plt.subplots(figsize=(max(4, 0.6 * len(self.layers) + 2), 3))
        positions = np.arange(len(self.layers))
        width = 0.4 if self.compare_mode else 0.8
        ax.bar(positions, [min(layer.sqnr_db, 100) for layer in self.layers], width,
               color="tab:blue", label=self.mode)
        if self.compare_mode:
            other = {layer.tensor: layer.sqnr_db for layer in self.compare_layers}
            ax.bar(positions + width, [min(other.get(layer.tensor, 0.0), 100)
                                       for layer in self.layers], width,
                   color="tab:orange", label=self.compare_mode)
            ax.legend(fontsize=8)
        labels = [f"{layer.op_index} {layer.op_name}" for layer in self.layers]
        ax.set_xticks(positions + (width / 2 if self.compare_mode else 0), labels,
                      rotation=45, ha="right", fontsize=8)
        ax.set_ylabel("SQNR (dB)")
        ax.set_title("float vs quantized, per layer (higher is better)")
        return ax


def quantization_report(float_model, int8_model, x_calib, x_test=None, y_test=None,
                        sqnr_samples: int = 32, compare_with=None) -> QuantizationReport:
    """The report of a quantized model (int8 or int16x8 - its name is historical) against
    its float model on x_calib; with compare_with (the same float model quantized in the
    other mode), both models' per-layer SQNR side by side."""
    report = QuantizationReport(tensors=tensor_table(int8_model),
                                layers=layer_sqnr(float_model, int8_model, x_calib,
                                                  sqnr_samples),
                                mode=model_mode(int8_model))
    if compare_with is not None:
        report.compare_mode = model_mode(compare_with)
        report.compare_layers = layer_sqnr(float_model, compare_with, x_calib, sqnr_samples)
    if x_test is not None and y_test is not None:
        report.float_accuracy = model_accuracy(float_model, x_test, y_test)
        report.int8_accuracy = model_accuracy(int8_model, x_test, y_test)
    return report


__all__ = ["float_activations", "tensor_table", "layer_sqnr", "sqnr_db", "model_accuracy",
           "LayerSQNR", "worst_layer", "suggest_fix", "outlier_ratio", "weight_spread",
           "model_mode", "QuantizationReport", "quantization_report"]
