"""ReLU, ReLU6 and Softmax, as layers (tf.keras.layers.ReLU / ReLU(max_value=6) / Softmax).

TFLite fuses ReLU and ReLU6 into the op before them (fused_activation_function), so Dense and
the convolutions also take activation="relu" | "relu6" and run one of these layers inside.
Softmax over the last axis is TFLite's SOFTMAX with beta = 1.
"""
from __future__ import annotations

import numpy as np

from tflm_edu.train.layer import Layer


def softmax(logits: np.ndarray) -> np.ndarray:
    """exp(x) / sum(exp(x)) over the last axis, shifted by the max so exp cannot overflow."""
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class ReLU(Layer):
    """max(x, 0); the gradient passes where the input was positive."""

    fresh_output = True

    def forward(self, x, training=False):
        self.mask = x > 0
        # as np.maximum(x, 0), and several times faster; over x itself in a training step
        # when nobody else reads x (Layer.scratch_input)
        return np.clip(x, 0, None, out=self.scratch_input(x))

    def backward(self, grad):
        return np.multiply(grad, self.mask, out=self.scratch_grad(grad))


class ReLU6(Layer):
    """min(max(x, 0), 6): MobileNet's activation, whose fixed range quantizes well."""

    fresh_output = True

    def forward(self, x, training=False):
        self.mask = x > 0
        self.mask &= x < 6
        return np.clip(x, 0, 6, out=self.scratch_input(x))

    def backward(self, grad):
        return np.multiply(grad, self.mask, out=self.scratch_grad(grad))


class Softmax(Layer):
    """exp(x) / sum(exp(x)) over the last axis.

    Followed by cross-entropy, Sequential skips this backward and uses the fused gradient
    (probabilities - labels) instead, which is both cheaper and better conditioned.
    """

    def forward(self, x, training=False):
        self.out = softmax(x)
        return self.out

    def backward(self, grad):
        # d softmax_i / d x_j = p_i (delta_ij - p_j), so dx = p * (grad - sum(grad * p))
        p = self.out
        return p * (grad - (grad * p).sum(axis=-1, keepdims=True))


ACTIVATIONS = {"relu": ReLU, "relu6": ReLU6}


def activation_layer(name: str | None) -> Layer | None:
    """The layer for a fused activation name, or None for a linear layer."""
    if name is None:
        return None
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)} or None, got {name!r}")
    return ACTIVATIONS[name]()
