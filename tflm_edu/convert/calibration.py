"""Calibration: the range of every float activation, over a representative dataset.

Weights are constants, so their ranges are known; activations depend on the input, so the
quantizer runs the float model on representative samples and watches every activation
tensor. TFLite's converter does the same with `representative_dataset` (its calibrator
records each tensor's min and max). How the observed values become one range is a choice,
and TF / TFLite users know three by name:

  "minmax"          the smallest and largest value ever seen (TFLite's calibrator, the
                    default): every calibration value is representable, and one outlier
                    can stretch the range - and coarsen the step - for all the others.
  "moving_average"  an exponential moving average of each sample's min and max, as TF's
                    fake-quant ops keep during quantization-aware training
                    (MovingAverageQuantizer: min <- momentum * min + (1 - momentum) *
                    batch_min). Each calibration sample is one batch, as TFLite's
                    representative_dataset yields one sample per step. TF trains with
                    momentum 0.999 over thousands of steps; a calibration set has tens
                    to hundreds of samples, so the default here is 0.9 (the average
                    forgets a sample after about ten more). The first sample starts the
                    average (TF starts from [-6, 6], which only thousands of steps wash out).
  "percentile"      the p-th and (100 - p)-th percentiles of all values seen (p = 99.99
                    unless given): rare outliers are clipped, the rest get a finer step.

A model with several inputs takes one array per input (a list in input order, or a dict
keyed by input tensor name or by the input's name in the model's signature). The model is
constant-folded first (tflm_edu.convert.fold), as quantize_model does, so the ranges are
keyed by the tensor indices of the folded model - the same as the original's when there
is nothing to fold.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tflm_edu.convert.fold import fold_constants
from tflm_edu.errors import InputError
from tflm_edu.interpreter import MicroInterpreter
from tflm_edu.op_resolver import AllOpsResolver
from tflm_edu.schema.enums import TensorType
from tflm_edu.schema.model import Model

METHODS = ("minmax", "moving_average", "percentile")
DEFAULT_PERCENTILE = 99.99
DEFAULT_MOMENTUM = 0.9


@dataclass
class Range:
    min: float
    max: float


# ----------------------------------------------------------------------------- observers


class MinMax:
    """The smallest and largest value seen."""

    def __init__(self):
        self.lo, self.hi = np.inf, -np.inf

    def observe(self, values: np.ndarray) -> None:
        self.lo = min(self.lo, float(np.min(values)))
        self.hi = max(self.hi, float(np.max(values)))

    def range(self) -> Range:
        return Range(self.lo, self.hi)


class MovingAverage:
    """An exponential moving average of each batch's min and max (TF's fake-quant EMA)."""

    def __init__(self, momentum: float):
        self.momentum = momentum
        self.lo = self.hi = None

    def observe(self, values: np.ndarray) -> None:
        lo, hi = float(np.min(values)), float(np.max(values))
        if self.lo is None:                # the first batch starts the average
            self.lo, self.hi = lo, hi
            return
        self.lo = self.momentum * self.lo + (1 - self.momentum) * lo
        self.hi = self.momentum * self.hi + (1 - self.momentum) * hi

    def range(self) -> Range:
        return Range(self.lo, self.hi)


class Percentile:
    """The (100 - p)-th and p-th percentiles of every value seen (all are kept)."""

    def __init__(self, percentile: float):
        self.percentile = percentile
        self.values = []

    def observe(self, values: np.ndarray) -> None:
        self.values.append(np.array(values, np.float32).ravel())

    def range(self) -> Range:
        values = np.concatenate(self.values)
        return Range(float(np.percentile(values, 100 - self.percentile)),
                     float(np.percentile(values, self.percentile)))


def make_observer(method: str, percentile: float | None, momentum: float):
    """The observer of one tensor for a calibration `method` (checked here)."""
    if method == "minmax":
        return MinMax()
    if method == "moving_average":
        if not 0 <= momentum < 1:
            raise InputError(f"momentum must be in [0, 1), got {momentum}")
        return MovingAverage(momentum)
    if method == "percentile":
        p = DEFAULT_PERCENTILE if percentile is None else percentile
        if not 50 < p <= 100:
            raise InputError(f"percentile must be in (50, 100], got {p}")
        return Percentile(p)
    raise InputError(f"calibration method must be one of {', '.join(METHODS)}; got {method!r}")


# ----------------------------------------------------------------------------- the samples


def _fit_input(x: np.ndarray, shape: tuple, name: str) -> np.ndarray:
    """Samples (N, *shape), or (N, *shape without its batch of 1), as (N, *shape)."""
    if x.shape[1:] == shape:
        return x
    if x.shape[1:] == shape[1:] and shape[:1] == (1,):
        return x[:, None]
    raise InputError(f"calibration data has shape {list(x.shape)} for input {name!r}; the "
                     f"model's input is {list(shape)}, so give (N, "
                     f"{', '.join(map(str, shape[1:]))}) samples")


def _input_names(model: Model) -> list[list[str]]:
    """For each graph input, the names a dict of calibration data may use: the tensor's
    name and its name in the signature (TensorFlow's Keras input name)."""
    graph = model.subgraphs[0]
    names = [[graph.tensors[i].name] for i in graph.inputs]
    for signature in model.signature_defs:
        for m in signature.inputs if signature.subgraph_index == 0 else ():
            if m.tensor_index in graph.inputs:
                names[list(graph.inputs).index(m.tensor_index)].append(m.name)
    return names


def _by_name(model: Model, data) -> list:
    keys = set(data.keys())
    found = [next((n for n in names if n in keys), None) for names in _input_names(model)]
    if None in found:
        missing = [names[0] for names, key in zip(_input_names(model), found) if key is None]
        raise InputError(f"calibration data has no array for input(s) {missing}; its keys "
                         f"are {sorted(keys)}, the model's inputs "
                         f"{[names[0] for names in _input_names(model)]}")
    return [data[key] for key in found]


def _by_input(model: Model, data) -> list:
    """`data` as one array-like per graph input, in input order."""
    graph = model.subgraphs[0]
    names = [graph.tensors[i].name for i in graph.inputs]
    if hasattr(data, "keys"):                          # a dict or an .npz file
        return _by_name(model, data)
    if isinstance(data, (list, tuple)):
        if len(data) != len(names):
            raise InputError(f"the model has {len(names)} input(s) {names} but "
                             f"{len(data)} calibration arrays were given")
        return list(data)
    if len(names) != 1:
        raise InputError(f"the model has {len(names)} inputs {names}: give one calibration "
                         "array per input (a list in input order, or a dict by input name)")
    return [data]


def calibration_inputs(model: Model, data) -> list[np.ndarray]:
    """One array (N, *input shape) per graph input, in the input's type (float32 for the
    float inputs), all with the same N >= 1."""
    graph = model.subgraphs[0]
    arrays = []
    for index, x in zip(graph.inputs, _by_input(model, data)):
        t = graph.tensors[index]
        arrays.append(_fit_input(np.asarray(x, t.dtype), tuple(t.shape), t.name))
    counts = {len(x) for x in arrays}
    if len(counts) != 1:
        raise InputError(f"every input needs the same number of calibration samples; got "
                         f"{[len(x) for x in arrays]}")
    if counts == {0}:
        raise InputError("calibration needs at least one sample")
    return arrays


# ----------------------------------------------------------------------------- calibrate


def _watched(graph) -> list[int]:
    """The float activations: graph inputs and op outputs of type float32."""
    watched = list(graph.inputs) + [o for op in graph.operators for o in op.outputs]
    return [i for i in dict.fromkeys(watched) if graph.tensors[i].type == TensorType.FLOAT32]


def calibrate(model: Model, data, percentile: float | None = None, progress: bool = True,
              method: str | None = None, momentum: float = DEFAULT_MOMENTUM
              ) -> dict[int, Range]:
    """Run the (constant-folded) float model on every sample; the range of each float
    activation tensor, by tensor index. `method`: "minmax" (default), "moving_average"
    (with `momentum`) or "percentile" (at `percentile`, 99.99 unless given; giving
    `percentile` alone also picks this method)."""
    method = method or ("percentile" if percentile is not None else "minmax")
    model = fold_constants(model)
    graph = model.subgraphs[0]
    make_observer(method, percentile, momentum)           # checks the arguments up front
    inputs = calibration_inputs(model, data)
    observers = {i: make_observer(method, percentile, momentum) for i in _watched(graph)}
    interpreter = MicroInterpreter(model, AllOpsResolver(), None)
    interpreter.allocate_tensors()
    samples = range(len(inputs[0]))
    if progress:
        from tqdm.auto import tqdm
        samples = tqdm(samples, desc="calibrating", leave=False)
    for n in samples:
        _observe_sample(interpreter, graph, [x[n] for x in inputs], observers)
    return {i: observer.range() for i, observer in observers.items()}


def _observe_sample(interpreter, graph, sample: list, observers: dict) -> None:
    """One invoke, op by op: each output is read right after its op, because the arena
    reuses memory and a tensor is only valid until a later op overwrites it."""
    for k, x in enumerate(sample):
        interpreter.input(k).data[...] = x
    for index, x in zip(graph.inputs, sample):
        if index in observers:
            observers[index].observe(x)
    for event in interpreter.steps():
        for index, value in zip(event.node.outputs, event.outputs):
            if index in observers:
                observers[index].observe(value)


__all__ = ["calibrate", "calibration_inputs", "Range", "METHODS", "MinMax", "MovingAverage",
           "Percentile", "make_observer", "DEFAULT_MOMENTUM", "DEFAULT_PERCENTILE"]
