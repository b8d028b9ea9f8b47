"""BatchNormalization: tf.keras.layers.BatchNormalization over the channel (last) axis.

Training normalises each channel with the batch's own mean and (biased) variance and
updates exponential moving averages of both; inference uses the moving averages, which
makes the layer one per-channel affine map, y = x * scale + shift. That map is what a
converter folds into the convolution before it (TFLite has no batch-norm op):
kernel' = kernel * scale (per output channel) and bias' = bias * scale + shift.
"""
from __future__ import annotations

import numpy as np

from tflm_edu.train import vector
from tflm_edu.train.layer import Layer


class BatchNormalization(Layer):
    params = ("gamma", "beta")
    state = ("moving_mean", "moving_var")
    fresh_output = True

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
        # Every (n, h, w) is one sample of each channel. The arithmetic runs on wide rows
        # (vector.py): with 8 or 16 channels, broadcasting a (C,) vector over (P, C) would
        # spend most of its time in numpy's loop overhead.
        channels, length = x.shape[-1], vector.row_length(x.shape)
        rows = x.reshape(-1, length)
        if not training:
            scale, shift = self.folded()
            y = rows * vector.tile(scale.astype(x.dtype, copy=False), length)
            y += vector.tile(shift.astype(x.dtype, copy=False), length)
            return y.reshape(x.shape)
        count = rows.size // channels
        mean = vector.channel_sums(rows, channels)
        mean /= count
        # The variance (biased, as Keras uses) in one pass, E[x^2] - mean^2, summed by einsum
        # without writing the squares out. That formula loses digits when a channel's mean is
        # large against its spread, so such a batch takes the two-pass (x - mean)^2 instead:
        # with mean^2 <= 16 var the error stays within a few 1e-4 of var in float32.
        var = vector.fold(np.einsum("pq,pq->q", rows, rows), channels) / count - mean * mean
        if np.any(mean * mean > 16 * var):
            centered = rows - vector.tile(mean, length)
            var = vector.fold(np.einsum("pq,pq->q", centered, centered), channels) / count
        self._update_moving_averages(mean, var)
        var += self.epsilon
        self.inv_std = np.reciprocal(np.sqrt(var, out=var), out=var)
        self.rows, self.mean = rows, mean               # x itself: backward centres on the fly
        scale = self.gamma * self.inv_std
        y = rows * vector.tile(scale, length)          # x * scale + (beta - mean * scale)
        y += vector.tile((self.beta - mean * scale).astype(y.dtype, copy=False), length)
        return y.reshape(x.shape)

    @property
    def x_hat(self) -> np.ndarray:
        """The normalised input of the last training forward, (x - mean) / std (not after the
        backward of a training step, which may reuse the memory of x)."""
        length = self.rows.shape[-1]
        return ((self.rows - vector.tile(self.mean, length))
                * vector.tile(self.inv_std, length)).reshape(-1, *self.input_shape)

    def _update_moving_averages(self, mean, var):
        m = self.momentum
        self.moving_mean *= m
        self.moving_mean += (1 - m) * mean
        self.moving_var *= m
        self.moving_var += (1 - m) * var

    def backward(self, grad):
        """The gradient of a training-mode forward (batch statistics depend on every input)."""
        rows, mean, channels = self.rows, self.mean, grad.shape[-1]
        length = rows.shape[-1]
        g = grad.reshape(-1, length)
        count = g.size // channels
        d_beta = vector.channel_sums(g, channels)
        # sum(grad * (x - mean)) = sum(grad * x) - mean * sum(grad)
        d_gamma = vector.fold(np.einsum("pq,pq->q", g, rows), channels) - mean * d_beta
        d_gamma *= self.inv_std
        self.grads["beta"], self.grads["gamma"] = d_beta, d_gamma
        # x_hat = (x - mean) * inv_std moves with the batch mean and variance, hence the two
        # correction terms: dx = gamma * inv_std * (grad - mean(grad) - x_hat * mean(grad * x_hat))
        #   = scale * grad - x * k - (scale * mean(grad) - mean * k),
        # with scale = gamma * inv_std and k = scale * inv_std * mean(grad * x_hat).
        scale = self.gamma * self.inv_std
        k = scale * self.inv_std * d_gamma / count
        # In a training step x is this layer's alone (Layer.scratch_input) and read no more.
        correction = np.multiply(rows, vector.tile(k, length), out=self.scratch_input(rows))
        d_x = np.multiply(g, vector.tile(scale, length), out=self.scratch_grad(g))
        d_x -= correction
        d_x -= vector.tile(scale * d_beta / count - mean * k, length)
        return d_x.reshape(grad.shape)

    def __repr__(self):
        return f"BatchNormalization(momentum={self.momentum}, epsilon={self.epsilon})"
