"""BatchNormalization: tf.keras.layers.BatchNormalization over the channel (last) axis.

Training normalises each channel with the batch's own mean and (biased) variance and
updates exponential moving averages of both; inference uses the moving averages, which
makes the layer one per-channel affine map, y = x * scale + shift. That map is what a
converter folds into the convolution before it (TFLite has no batch-norm op):
kernel' = kernel * scale (per output channel) and bias' = bias * scale + shift.
"""
from __future__ import annotations

import numpy as np

from tflm_edu.train.layer import Layer


class BatchNormalization(Layer):
    params = ("gamma", "beta")
    state = ("moving_mean", "moving_var")

    def __init__(self, momentum: float = 0.99, epsilon: float = 1e-3):
        super().__init__()
        self.momentum, self.epsilon = momentum, epsilon

    def _build(self, input_shape, rng):
        channels = input_shape[-1]
        self.gamma = np.ones(channels, np.float32)
        self.beta = np.zeros(channels, np.float32)
        self.moving_mean = np.zeros(channels, np.float32)
        self.moving_var = np.ones(channels, np.float32)
        return tuple(input_shape)

    def folded(self) -> tuple[np.ndarray, np.ndarray]:
        """(scale, shift) with inference output = x * scale + shift, per channel."""
        scale = self.gamma / np.sqrt(self.moving_var + self.epsilon)
        return scale, self.beta - self.moving_mean * scale

    def forward(self, x, training=False):
        if not training:
            scale, shift = self.folded()
            return x * scale + shift
        # Every (n, h, w) is one sample of each channel. einsum sums down the long axis
        # several times faster than flat.sum(axis=0) does when there are few channels.
        flat = x.reshape(-1, x.shape[-1])
        mean = np.einsum("pc->c", flat) / len(flat)
        centered = flat - mean
        var = np.einsum("pc,pc->c", centered, centered) / len(flat)   # biased, as Keras uses
        self._update_moving_averages(mean, var)
        self.inv_std = 1 / np.sqrt(var + self.epsilon)
        self.x_hat = centered.reshape(x.shape)
        self.x_hat *= self.inv_std
        return self.x_hat * self.gamma + self.beta

    def _update_moving_averages(self, mean, var):
        m = self.momentum
        self.moving_mean[...] = m * self.moving_mean + (1 - m) * mean
        self.moving_var[...] = m * self.moving_var + (1 - m) * var

    def backward(self, grad):
        """The gradient of a training-mode forward (batch statistics depend on every input)."""
        g, x_hat = grad.reshape(-1, grad.shape[-1]), self.x_hat.reshape(-1, grad.shape[-1])
        n = len(g)
        self.grads["beta"] = np.einsum("pc->c", g)
        self.grads["gamma"] = np.einsum("pc,pc->c", g, x_hat)
        # x_hat moves with the batch mean and variance, hence the two correction terms:
        # dx = gamma * inv_std * (grad - mean(grad) - x_hat * mean(grad * x_hat)).
        d_x = self.x_hat * (-self.grads["gamma"] / n)
        d_x += grad
        d_x -= self.grads["beta"] / n
        d_x *= self.gamma * self.inv_std
        return d_x

    def __repr__(self):
        return f"BatchNormalization(momentum={self.momentum}, epsilon={self.epsilon})"
