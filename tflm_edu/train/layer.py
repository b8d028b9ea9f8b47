"""The Layer base class: what every layer of the numpy training framework promises.

A miniature of tf.keras.layers.Layer, in micrograd's spirit: a layer learns its input shape
in build() (and only then creates its weights), maps a batch forward, and maps the gradient
of the loss backward, keeping whatever forward() saw that backward() will need. Tensors are
NHWC float32, like TFLite's. A subclass writes _build(), forward(), backward() and __repr__().

Weights are plain numpy arrays stored as attributes under the names listed in `params`
(trained) and `state` (not trained but saved, such as BatchNormalization's moving averages),
so a converter can read `layer.kernel` directly. backward() leaves d loss / d weight in
`layer.grads[name]`.
"""
from __future__ import annotations

import re

import numpy as np


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

    def __init__(self):
        self.name = snake_case(type(self).__name__)   # Sequential numbers them: dense, dense_1, ...
        self.input_shape: tuple | None = None     # per sample, without the batch axis
        self.output_shape: tuple | None = None
        self.grads: dict = {}
        # The first layer of a model skips d loss / d input: nobody reads it, and for a
        # convolution it is the most expensive part of the backward pass.
        self.input_grad = True

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
