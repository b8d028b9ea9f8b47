"""Dense: y = x @ kernel + bias, tf.keras.layers.Dense on a flat input (TFLite FULLY_CONNECTED).

The kernel is (in, out) as in Keras; TFLite stores its transpose (out, in), which the
converter writes.
"""
from __future__ import annotations

import numpy as np

from tflm_edu.train.activations import activation_layer
from tflm_edu.train.layer import Layer, glorot_uniform


class Dense(Layer):
    params = ("kernel", "bias")
    fresh_output = True

    def __init__(self, units: int, activation: str | None = None):
        super().__init__()
        self.units = units
        self.activation = activation
        self.act = activation_layer(activation)
        if self.act:
            self.act.input_private = True          # it reads only this layer's own output

    def _build(self, input_shape, rng):
        if len(input_shape) != 1:
            raise ValueError(f"Dense expects a flat input, got shape {input_shape}: put a "
                             "Flatten() before it")
        fan_in = input_shape[0]
        self.kernel = glorot_uniform(rng, (fan_in, self.units), fan_in, self.units)
        self.bias = np.zeros(self.units, np.float32)
        return (self.units,)

    def forward(self, x, training=False):
        self.x = x
        y = x @ self.kernel + self.bias
        return self.act.forward(y) if self.act else y

    def backward(self, grad):
        if self.act:
            grad = self.act.backward(grad)
        self.grads["kernel"] = self.x.T @ grad        # sum over the batch of outer products
        self.grads["bias"] = grad.sum(axis=0)
        return grad @ self.kernel.T if self.input_grad else None

    def macs(self):
        return int(self.kernel.size)

    def __repr__(self):
        return f"Dense({self.units}, activation={self.activation!r})"
