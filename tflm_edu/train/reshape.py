"""Flatten and Reshape: tf.keras.layers.Flatten / Reshape (TFLite RESHAPE).

Both only relabel the axes of the same row-major data, so their gradient is the same
relabelling in reverse. NHWC data flattens in (h, w, c) order, as TFLite's does.
"""
from __future__ import annotations

import numpy as np

from tflm_edu.train.layer import Layer


class Reshape(Layer):
    """Reshape every sample to `target_shape` (no batch axis; one entry may be -1)."""

    def __init__(self, target_shape):
        super().__init__()
        self.target_shape = tuple(target_shape)

    def _build(self, input_shape, rng):
        size = int(np.prod(input_shape))
        known = int(np.prod([d for d in self.target_shape if d != -1]))
        shape = tuple(size // known if d == -1 else d for d in self.target_shape)
        if int(np.prod(shape)) != size or self.target_shape.count(-1) > 1:
            raise ValueError(f"cannot reshape a sample of shape {input_shape} "
                             f"to {self.target_shape}")
        return shape

    def forward(self, x, training=False):
        return x.reshape(len(x), *self.output_shape)

    def backward(self, grad):
        return grad.reshape(len(grad), *self.input_shape)

    def __repr__(self):
        return f"Reshape({self.target_shape})"


class Flatten(Reshape):
    """(H, W, C) -> (H*W*C,), the bridge from convolutions to Dense."""

    def __init__(self):
        super().__init__((-1,))

    def __repr__(self):
        return "Flatten()"
