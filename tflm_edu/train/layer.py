"""The Layer base class: what every layer of the numpy training framework promises.

A miniature of tf.keras.layers.Layer, in micrograd's spirit: a layer learns its input shape
in build() (and only then creates its weights), maps a batch forward, and maps the gradient
of the loss backward, keeping whatever forward() saw that backward() will need. Tensors are
NHWC float32, like TFLite's. A subclass writes _build(), forward(), backward() and __repr__().

Weights are plain numpy arrays stored as attributes under the names listed in `params`
(trained) and `state` (not trained but saved, such as BatchNormalization's moving averages),
so a converter can read `layer.kernel` directly. backward() leaves d loss / d weight in
`layer.grads[name]`.

Inside a training step (Sequential.train_step, the `overwriting()` context) some arrays are
read by nobody after the call they are handed to: every gradient given to backward(), and the
input of a layer whose predecessor makes a new output array and keeps no reference to it
(`fresh_output`). A layer may write its result over such an array (`scratch_input`,
`scratch_grad`): the same arithmetic, with one array fewer for the memory system to bring in
- the whole step is bound by memory traffic, not arithmetic. Outside a training step (a
learner calling forward() by hand, gradient checks) nothing is ever overwritten.
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np

_IN_TRAINING_STEP = ContextVar("tflm_edu_train_training_step", default=False)


@contextmanager
def overwriting():
    """The body is one training step's forward and backward (see the module docstring)."""
    token = _IN_TRAINING_STEP.set(True)
    try:
        yield
    finally:
        _IN_TRAINING_STEP.reset(token)


def snake_case(name: str) -> str:
    """Keras-style layer names: Conv2D -> conv2d, BatchNormalization -> batch_normalization."""
    return re.sub(r"(?<=[a-z])(?=[A-Z][a-z])", "_", name).lower()


def glorot_uniform(rng: np.random.Generator, shape: tuple, fan_in: int, fan_out: int):
    """Keras' default kernel initializer: U(-l, l) with l = sqrt(6 / (fan_in + fan_out))."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(np.float32)


class Layer:
    params: tuple = ()      # names of the trained arrays, e.g. ("kernel", "bias")
    state: tuple = ()       # names of saved, untrained arrays, e.g. ("moving_mean", "moving_var")
    # forward() returns a new array and keeps no reference to it (nor to a view of it), so
    # the next layer is its only reader.
    fresh_output: bool = False

    def __init__(self):
        self.name = snake_case(type(self).__name__)   # Sequential numbers them: dense, dense_1, ...
        self.input_shape: tuple | None = None     # per sample, without the batch axis
        self.output_shape: tuple | None = None
        self.grads: dict = {}
        # The first layer of a model skips d loss / d input: nobody reads it, and for a
        # convolution it is the most expensive part of the backward pass.
        self.input_grad = True
        # The layer before this one has fresh_output (set by Sequential; by a convolution for
        # its fused activation): in a training step, forward() may write over its input.
        self.input_private = False

    def build(self, input_shape: tuple, rng: np.random.Generator | None = None) -> tuple:
        """Create the weights for this input shape (per sample, no batch axis), drawing any
        random initial values from `rng`; returns the output shape."""
        self.input_shape = tuple(int(d) for d in input_shape)
        rng = rng if rng is not None else np.random.default_rng(0)
        self.output_shape = tuple(self._build(self.input_shape, rng))
        return self.output_shape

    def _build(self, input_shape: tuple, rng: np.random.Generator) -> tuple:
        """What build() does for this kind of layer: create weights, compute the output shape."""
        return input_shape

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad: np.ndarray) -> np.ndarray | None:
        """d loss / d input from d loss / d output; fills self.grads for the weights."""
        raise NotImplementedError

    def scratch_input(self, x: np.ndarray) -> np.ndarray | None:
        """x, if forward() may write its result over it (a training step, and the input is
        private: see the module docstring); otherwise None. Meant as an `out=` argument."""
        return x if self.input_private and _IN_TRAINING_STEP.get() else None

    @staticmethod
    def scratch_grad(grad: np.ndarray) -> np.ndarray | None:
        """grad, if backward() may write its result over it (a training step); otherwise
        None. Meant as an `out=` argument."""
        return grad if _IN_TRAINING_STEP.get() and grad.flags.writeable else None

    def work_buffer(self, key: str, shape: tuple, dtype) -> np.ndarray:
        """A zero-filled array that this layer keeps and hands out again on every call with the
        same key, shape and dtype: for work arrays inside a training step, such as a padded
        copy of the input whose border of zeros is made once and never written again. A new
        array of a few megabytes costs its page faults again on every step (and zeroing a
        border costs a strided pass), while the step itself is a few milliseconds. Whatever
        is returned to the caller must never be one of these arrays: the next call reuses it.
        The last two shapes per key are kept (a short last batch does not evict the others)."""
        buffers = self.__dict__.setdefault("_work_buffers", {})
        wanted = (tuple(shape), np.dtype(dtype))
        kept = buffers.setdefault(key, [])
        for i, (made, array) in enumerate(kept):
            if made == wanted:
                if i:                                     # most recently used first
                    kept.insert(0, kept.pop(i))
                return array
        array = np.zeros(*wanted)
        kept.insert(0, (wanted, array))
        del kept[2:]
        return array

    def weights(self) -> dict:
        """Every array worth saving, trained or not, by name."""
        return {name: getattr(self, name) for name in self.params + self.state}

    def count_params(self) -> int:
        return sum(int(w.size) for w in self.weights().values())

    def macs(self) -> int:
        """Multiply-accumulates for one sample: the cost the microcontroller will pay."""
        return 0

    def __repr__(self):
        return f"{type(self).__name__}()"
