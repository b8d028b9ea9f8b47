"""How good is a model? Accuracy, confusion matrices, and running a .tflite over a test set.

The example notebooks ask the same questions of every model - the float one just trained, its
int8 twin, the model on the board - so the answers live here:

    from tflm_edu.evaluate import accuracy, confusion_matrix, plot_confusion_matrix, run_model
    scores = run_model(interpreter, x_test)            # every example through the interpreter
    cm = confusion_matrix(y_test, scores, n_classes=4)
    plot_confusion_matrix(cm, labels)

Predictions may be given as class indices [n] or as scores [n, classes] (argmax is taken), so
float probabilities and int8 scores go in unchanged.

fast_mode() reads TFLM_EDU_FAST=1, the switch CI sets to trim epochs and data.
"""
from __future__ import annotations

import os

import numpy as np

from tflm_edu.display import shown
from tqdm.auto import tqdm

from tflm_edu.errors import InputError
from tflm_edu.quantization import affine_dequantize, affine_quantize

FAST_ENV = "TFLM_EDU_FAST"


def fast_mode() -> bool:
    """True when the environment asks for a quick run (TFLM_EDU_FAST=1), as CI does."""
    return os.environ.get(FAST_ENV) == "1"


def class_indices(y) -> np.ndarray:
    """Labels [n] as int64, or the argmax of scores [n, classes] (float or int8)."""
    y = np.asarray(y)
    if y.ndim == 2:
        return np.argmax(y, axis=1)
    if y.ndim != 1:
        raise InputError(f"expected class indices [n] or scores [n, classes], got shape {y.shape}")
    if y.size and not np.all(np.equal(np.mod(y, 1), 0)):
        raise InputError("class indices must be whole numbers; pass scores as a 2-D array "
                         "[n, classes] to take their argmax")
    return y.astype(np.int64)


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    t, p = class_indices(y_true), class_indices(y_pred)
    if len(t) != len(p):
        raise InputError(f"{len(t)} true labels but {len(p)} predictions: pass one prediction "
                         f"per example")
    if len(t) == 0:
        raise InputError("no examples to evaluate: the test set is empty")
    return t, p


def accuracy(y_true, y_pred) -> float:
    """Fraction of examples whose predicted class is the true class."""
    t, p = _pair(y_true, y_pred)
    return float(np.mean(t == p))


def confusion_matrix(y_true, y_pred, n_classes: int) -> np.ndarray:
    """int64 [n_classes, n_classes]: row = true class, column = predicted class."""
    t, p = _pair(y_true, y_pred)
    bad = (t < 0) | (t >= n_classes) | (p < 0) | (p >= n_classes)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"example {i} has class {t[i]} -> {p[i]}, outside 0..{n_classes - 1}: "
                         f"check n_classes")
    cm = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(cm, (t, p), 1)
    return cm


def recall_per_class(cm: np.ndarray) -> np.ndarray:
    """For each true class, the fraction of its examples predicted correctly (nan if none)."""
    cm = np.asarray(cm)
    totals = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.diag(cm) / totals


def plot_confusion_matrix(cm, labels, title: str | None = None, ax=None):
    """Figure: the confusion matrix as a heat map with the counts written in each cell.

    Rows are the true classes, columns the predictions: a perfect model fills only the
    diagonal, and each off-diagonal number is a kind of mistake worth a look.
    """
    import matplotlib.pyplot as plt
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] != len(labels):
        raise InputError(f"a confusion matrix for {len(labels)} labels must be "
                         f"{len(labels)}x{len(labels)}, got shape {cm.shape}")
    if ax is None:
        size = max(3.4, 1.2 + 0.7 * len(labels))      # room for the title with 2 classes
        fig, ax = plt.subplots(figsize=(size + 1.2, size))
    else:
        fig = ax.figure
    rates = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)   # colour by row share
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for (row, col), count in np.ndenumerate(cm):
        ax.text(col, row, str(count), ha="center", va="center",
                color="white" if rates[row, col] > 0.5 else "black")
    ticks = np.arange(len(labels))
    ax.set_xticks(ticks, labels, rotation=30, ha="right")
    ax.set_yticks(ticks, labels)
    ax.set(xlabel="predicted", ylabel="true")
    total = cm.sum()
    ax.set_title(title or f"accuracy {np.trace(cm) / max(total, 1):.1%} on {total} examples")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    fig.tight_layout()
    return shown(fig)


def scale_zero_point(details: dict) -> tuple[float, int]:
    """(scale, zero point) of a per-tensor quantized tensor's details; (0.0, 0) if none."""
    params = details.get("quantization_parameters") or {}
    scales, zero_points = params.get("scales", []), params.get("zero_points", [])
    if len(scales) == 0:
        return 0.0, 0
    return float(scales[0]), int(zero_points[0]) if len(zero_points) else 0


def quantize_input(x, details: dict) -> np.ndarray:
    """Float values -> the input tensor's integer type: clamp(round(x / scale) + zero_point)."""
    dtype = np.dtype(details["dtype"])
    x = np.asarray(x)
    if not np.issubdtype(dtype, np.integer) or x.dtype == dtype:
        return x.astype(dtype)
    info = np.iinfo(dtype)
    if np.issubdtype(x.dtype, np.integer):      # already integers: they must fit unchanged
        if x.size and (x.min() < info.min or x.max() > info.max):
            raise InputError(f"integer inputs from {x.min()} to {x.max()} do not fit the model's "
                             f"{dtype} input: convert them first (for uint8 pixels, "
                             f"tflm_edu.datasets.to_int8)")
        return x.astype(dtype)
    scale, zero_point = scale_zero_point(details)
    if not scale:
        raise InputError(f"the model input is {dtype} but has no quantization scale, so float "
                         f"values cannot be converted: pass {dtype} values")
    return affine_quantize(x, scale, zero_point, dtype)


def dequantize_output(y, details: dict) -> np.ndarray:
    """An integer output tensor -> float32 with its scale and zero point (floats pass)."""
    y = np.asarray(y)
    scale, zero_point = scale_zero_point(details)
    if not np.issubdtype(y.dtype, np.integer) or not scale:
        return y.astype(np.float32)
    return affine_dequantize(y, scale, zero_point)


def as_model_inputs(x, details: dict) -> np.ndarray:
    """Examples x [n, ...] -> [n, *input shape] in the input's dtype, ready for set_input.

    Float examples for an integer input are quantized with its scale and zero point."""
    shape = tuple(int(s) for s in details["shape"])
    x = np.asarray(x)
    if x.ndim == 0 or x[0].size != int(np.prod(shape)):
        size = x[0].size if x.ndim else 1
        raise InputError(f"each example has {size} values but the model input "
                         f"{list(shape)} takes {int(np.prod(shape))}")
    return quantize_input(x, details).reshape((len(x),) + shape)


def run_model(interpreter, x, progress: bool = True, dequantize: bool = False,
              batch: bool = True) -> np.ndarray:
    """Run every example of x through an interpreter; outputs stacked [n, ...].

    Works with tflm_edu.Interpreter and the real tflite_micro runtime alike. Float inputs
    for an int8 model are quantized with the input tensor's scale and zero point (the same
    arithmetic a firmware does); dequantize=True turns the int8 outputs back to floats.

    On a tflm_edu interpreter the examples go through the kernels many at a time
    (tflm_edu.batch.BatchRunner: byte-identical to one invoke each, many times faster);
    batch=False, or a model that cannot be batched, runs one invoke per example.
    """
    inputs = as_model_inputs(x, interpreter.get_input_details(0))
    out_details = interpreter.get_output_details(0)
    runner = _batch_runner(interpreter) if batch else None
    if runner is not None:
        with tqdm(total=len(inputs), disable=not progress, unit="example",
                  leave=False) as bar:
            outputs = runner.run([inputs], progress=bar.update)[0].reshape(len(inputs), -1)
        return dequantize_output(outputs, out_details) if dequantize else outputs
    outputs = []
    for example in tqdm(inputs, disable=not progress, unit="example", leave=False):
        interpreter.set_input(example, 0)
        interpreter.invoke()
        out = np.array(interpreter.get_output(0)).reshape(-1)
        outputs.append(dequantize_output(out, out_details) if dequantize else out)
    return np.stack(outputs)


def _batch_runner(interpreter):
    """The BatchRunner of a tflm_edu Interpreter (made once, kept on it), or None for
    other interpreters, several inputs, or a model the runner cannot batch."""
    micro = getattr(interpreter, "micro", None)
    if micro is None or micro.inputs_size != 1:
        return None
    runner = getattr(interpreter, "_batch_runner", None)
    if runner is None:
        from tflm_edu.batch import BatchRunner
        runner = BatchRunner(micro.model, op_resolver=micro.op_resolver)
        interpreter._batch_runner = runner
    return runner if runner.batched else None
