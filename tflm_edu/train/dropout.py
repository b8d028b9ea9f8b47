"""Dropout: tf.keras.layers.Dropout, "inverted" dropout.

While training, each value is zeroed with probability `rate` and the survivors are scaled by
1 / (1 - rate), so the expected output equals the input; at inference the layer is the
identity, which is why a converter simply drops it.
"""
from __future__ import annotations

import numpy as np

from tflm_edu.train.layer import Layer


class Dropout(Layer):
    def __init__(self, rate: float):
        super().__init__()
        if not 0 <= rate < 1:
            raise ValueError(f"Dropout rate must be in [0, 1), got {rate}")
        self.rate = rate

    def _build(self, input_shape, rng):
        self.rng = rng.spawn(1)[0]      # its own stream: the masks are seeded with the model
        return tuple(input_shape)

    def forward(self, x, training=False):
        if not training or self.rate == 0:
            self.mask = None
            return x
        # Keep a value where a uniform 32-bit random integer is at least rate * 2**32: the raw
        # bits, two draws per 64-bit output, are cheaper than random floats and as fine-grained.
        raw = self.rng.bit_generator.random_raw((x.size + 1) // 2).view(np.uint32)[:x.size]
        threshold = np.uint32(min(round(self.rate * 2.0 ** 32), 2 ** 32 - 1))
        keep = (raw >= threshold).reshape(x.shape)
        self.mask = np.multiply(keep, np.asarray(1 / (1 - self.rate), x.dtype))
        return np.multiply(x, self.mask, out=self.scratch_input(x))

    def backward(self, grad):
        if self.mask is None:
            return grad
        return np.multiply(grad, self.mask, out=self.scratch_grad(grad))

    def __repr__(self):
        return f"Dropout({self.rate})"
