"""What quantization did to a model: scales, per-layer error, accuracy.

- tensor_table(): every tensor's type, scale and zero point (the numbers to check when a
  board's output looks wrong).
- layer_sqnr(): run the float and the int8 model side by side on the same inputs, op by op
  (MicroInterpreter.steps()), dequantize each int8 activation and compare it with the float
  one. SQNR = 10 log10(signal power / error power) in dB: ~40 dB is the ideal for 8 bits over
  a well-used range; a layer that drops far below its neighbours is where accuracy is lost.
- accuracy(): top-1 accuracy of either model on a labelled test set.
- quantization_report() puts them together; .text() prints it, .plot() draws the SQNRs.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tflm_edu.quantization import affine_dequantize
from tflm_edu.errors import InputError
from tflm_edu.evaluate import accuracy, as_model_inputs, run_model
from tflm_edu.runtime import Interpreter
from tflm_edu.schema.enums import type_name


def float_activations(interpreter, sample) -> dict[str, np.ndarray]:
    """Every op output of one run on `sample` (a float example), as float values by tensor
    name - dequantized for an int8 model."""
    interpreter.set_input(as_model_inputs(np.asarray(sample)[None],
                                          interpreter.get_input_details(0))[0], 0)
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


@dataclass
class LayerSQNR:
    op_index: int
    op_name: str
    tensor: str
    sqnr_db: float


def sqnr_db(signal: np.ndarray, noisy: np.ndarray) -> float:
    signal = np.asarray(signal, np.float64)
    noise = np.sum((signal - np.asarray(noisy, np.float64)) ** 2)
    power = np.sum(signal ** 2)
    if noise == 0:
        return float("inf")
    return float(10 * np.log10(max(power, 1e-30) / noise))


def layer_sqnr(float_model, int8_model, x, limit: int = 32) -> list[LayerSQNR]:
    """SQNR of every float op output against its dequantized int8 twin, over `limit` samples."""
    x = np.asarray(x, np.float32)[:limit]
    if len(x) == 0:
        raise InputError("layer_sqnr needs at least one sample")
    f_run, q_run = Interpreter(float_model), Interpreter(int8_model)
    q_names = {t.name for t in int8_model.subgraphs[0].tensors}
    graph = float_model.subgraphs[0]
    pairs = []
    for k, op in enumerate(graph.operators):
        name = graph.tensors[op.outputs[0]].name
        twin = f"{name}_int8" if f"{name}_int8" in q_names else name
        if twin in q_names:
            pairs.append((k, float_model.op_name(op), name, twin))
    signal = {p[2]: 0.0 for p in pairs}
    noise = {p[2]: 0.0 for p in pairs}
    for sample in x:
        fa, qa = float_activations(f_run, sample), float_activations(q_run, sample)
        for _, _, name, twin in pairs:
            if twin not in qa:
                continue
            f = fa[name].astype(np.float64)
            signal[name] += float(np.sum(f ** 2))
            noise[name] += float(np.sum((f - qa[twin].astype(np.float64)) ** 2))
    return [LayerSQNR(k, op, name, float("inf") if noise[name] == 0 else
                      float(10 * np.log10(max(signal[name], 1e-30) / noise[name])))
            for k, op, name, _ in pairs]


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

    def text(self) -> str:
        lines = ["per layer (float vs int8, dequantized):",
                 f"  {'#':>3} {'op':<20} {'tensor':<40} {'SQNR dB':>8}"]
        for layer in self.layers:
            lines.append(f"  {layer.op_index:>3} {layer.op_name:<20} {layer.tensor[-40:]:<40} "
                         f"{layer.sqnr_db:8.1f}")
        lines.append("tensors:")
        for row in self.tensors:
            if row["per_channel"]:
                q = f"{len(row['scale'])} scales {min(row['scale']):.3g}..{max(row['scale']):.3g}"
            elif row["scale"]:
                q = f"scale {row['scale'][0]:.6g} zero_point {row['zero_point'][0]}"
            else:
                q = "-"
            lines.append(f"  {row['index']:>3} {row['name'][-40:]:<40} {row['type']:<8} {q}")
        if self.float_accuracy is not None:
            lines.append(f"accuracy: float {100 * self.float_accuracy:.1f}%, "
                         f"int8 {100 * self.int8_accuracy:.1f}% "
                         f"({100 * (self.int8_accuracy - self.float_accuracy):+.1f} points)")
        return "\n".join(lines)

    def plot(self, ax=None):
        """Bar chart of SQNR per layer."""
        import matplotlib.pyplot as plt
        if ax is None:
            _, ax = plt.subplots(figsize=(max(4, 0.6 * len(self.layers) + 2), 3))
        values = [min(layer.sqnr_db, 80) for layer in self.layers]
        labels = [f"{layer.op_index} {layer.op_name}" for layer in self.layers]
        ax.bar(range(len(values)), values, color="tab:blue")
        ax.set_xticks(range(len(values)), labels, rotation=45, ha="right", fontsize=8)
        ax.set_ylabel("SQNR (dB)")
        ax.set_title("float vs int8, per layer (higher is better)")
        return ax


def quantization_report(float_model, int8_model, x_calib, x_test=None, y_test=None,
                        sqnr_samples: int = 32) -> QuantizationReport:
    report = QuantizationReport(tensors=tensor_table(int8_model),
                                layers=layer_sqnr(float_model, int8_model, x_calib, sqnr_samples))
    if x_test is not None and y_test is not None:
        report.float_accuracy = model_accuracy(float_model, x_test, y_test)
        report.int8_accuracy = model_accuracy(int8_model, x_test, y_test)
    return report


__all__ = ["float_activations", "tensor_table", "layer_sqnr", "sqnr_db", "model_accuracy",
           "LayerSQNR",
           "QuantizationReport", "quantization_report"]
