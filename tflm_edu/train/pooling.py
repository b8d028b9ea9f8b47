"""MaxPool2D, AveragePool2D and GlobalAveragePool (tf.keras.layers.MaxPool2D, AveragePooling2D,
GlobalAveragePooling2D; TFLite MAX_POOL_2D, AVERAGE_POOL_2D, MEAN).

As in Keras, strides default to the pool size. With SAME padding TensorFlow averages over the
real input values only (padding is not counted) and never picks padding as a maximum; the
layers here do the same, so the TFLite ops compute what was trained.
"""
from __future__ import annotations

import numpy as np

from tflm_edu.train import im2col as ic
from tflm_edu.train.layer import Layer


class _Pool2D(Layer):
    def __init__(self, pool_size=2, strides=None, padding="valid"):
        super().__init__()
        self.pool_size = ic.pair(pool_size)
        self.strides = ic.pair(strides) if strides is not None else self.pool_size
        self.padding = padding.lower()

    def _build(self, input_shape, rng):
        if len(input_shape) != 3:
            raise ValueError(f"{type(self).__name__} expects an (H, W, C) input, got {input_shape}")
        self.geom = ic.geometry(input_shape[:2], self.pool_size, self.strides, 1, self.padding)
        return (*self.geom.out_hw, input_shape[2])

    def _taps(self, xp):
        """The (N, OH, OW, C) slice under each window position, in row-major (i, j) order."""
        return (ic.tap(xp, self.geom, i, j) for i, j in np.ndindex(*self.pool_size))

    def __repr__(self):
        return (f"{type(self).__name__}(pool_size={self.pool_size}, strides={self.strides}, "
                f"padding={self.padding!r})")


class MaxPool2D(_Pool2D):
    def forward(self, x, training=False):
        self.xp = ic.pad(x, self.geom, value=-np.inf)   # padding never wins a max
        taps = self._taps(self.xp)
        self.y = next(taps).copy()
        for t in taps:
            np.maximum(self.y, t, out=self.y)
        return self.y

    def backward(self, grad):
        # Each window's gradient goes to the position that held its maximum; on a tie, to the
        # first such position in row-major order, as TensorFlow's MaxPoolGrad does.
        d_xp = np.zeros(self.xp.shape, grad.dtype)
        unclaimed = np.ones(self.y.shape, bool)
        for (i, j), t in zip(np.ndindex(*self.pool_size), self._taps(self.xp)):
            hit = (t == self.y) & unclaimed
            unclaimed &= ~hit
            target = ic.tap(d_xp, self.geom, i, j)         # a view into d_xp
            target += grad * hit
        return ic.unpad(d_xp, self.geom)


class AveragePool2D(_Pool2D):
    fresh_output = True

    def _build(self, input_shape, rng):
        out_shape = super()._build(input_shape, rng)
        # How many real (not padding) inputs each window covers: its divisor.
        ones = ic.pad(np.ones((1, *input_shape[:2], 1), np.float32), self.geom)
        self.count = sum(self._taps(ones))
        self.padded_shape = (*ones.shape[1:3], input_shape[2])
        return out_shape

    def forward(self, x, training=False):
        return sum(self._taps(ic.pad(x, self.geom))) / self.count

    def backward(self, grad):
        share = grad / self.count                        # every input in a window gets 1/count
        d_xp = np.zeros((len(grad), *self.padded_shape), grad.dtype)
        for target in self._taps(d_xp):
            target += share
        return ic.unpad(d_xp, self.geom)


class GlobalAveragePool(Layer):
    """The mean over height and width: (H, W, C) -> (C,)."""

    fresh_output = True

    def _build(self, input_shape, rng):
        if len(input_shape) != 3:
            raise ValueError(f"GlobalAveragePool expects an (H, W, C) input, got {input_shape}")
        return (input_shape[2],)

    def forward(self, x, training=False):
        self.hw = x.shape[1:3]
        return x.mean(axis=(1, 2))

    def backward(self, grad):
        share = grad[:, None, None, :] / (self.hw[0] * self.hw[1])
        return np.broadcast_to(share, (len(grad), *self.hw, grad.shape[-1])).copy()
