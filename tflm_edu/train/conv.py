"""Conv2D and DepthwiseConv2D, with tf.keras.layers semantics and TFLite's padding rule.

Kernels use the Keras layouts: Conv2D.kernel is (kh, kw, in_ch, out_ch) (HWIO) and
DepthwiseConv2D.kernel is (kh, kw, in_ch, depth_multiplier); output channel c * M + m of a
depthwise conv comes from input channel c, as in TFLite's DEPTHWISE_CONV_2D. A converter
reorders them into TFLite's OHWI and 1HW(C*M) layouts.

Conv2D is one im2col matrix product (BLAS sgemm). A depthwise conv has no sum over channels
for a matrix product to exploit, so it accumulates KH*KW whole-batch multiply-adds, one per
kernel tap, each vectorised over every position and channel at once.
"""
from __future__ import annotations

import numpy as np

from tflm_edu.train import im2col as ic
from tflm_edu.train.activations import activation_layer
from tflm_edu.train.layer import Layer, glorot_uniform


class _Conv(Layer):
    """What both convolutions share: geometry, optional bias, fused activation."""

    def __init__(self, kernel_size, strides, padding, dilation_rate, activation, use_bias):
        super().__init__()
        self.kernel_size, self.strides = ic.pair(kernel_size), ic.pair(strides)
        self.dilation_rate, self.padding = ic.pair(dilation_rate), padding.lower()
        self.activation, self.use_bias = activation, use_bias
        self.act = activation_layer(activation)
        self.params = ("kernel", "bias") if use_bias else ("kernel",)

    def _build_shared(self, input_shape, out_ch: int) -> tuple:
        """Window geometry and bias, built alike by both convolutions; the output shape."""
        if len(input_shape) != 3:
            raise ValueError(f"{type(self).__name__} expects an (H, W, C) input, got {input_shape}")
        self.geom = ic.geometry(input_shape[:2], self.kernel_size, self.strides,
                                self.dilation_rate, self.padding)
        if self.use_bias:
            self.bias = np.zeros(out_ch, np.float32)
        return (*self.geom.out_hw, out_ch)

    def _finish_forward(self, y):
        if self.use_bias:
            y += self.bias
        return self.act.forward(y) if self.act else y

    def _start_backward(self, grad):
        if self.act:
            grad = self.act.backward(grad)
        if self.use_bias:
            self.grads["bias"] = grad.reshape(-1, grad.shape[-1]).sum(axis=0)
        return grad

    def _config(self) -> str:
        extra = "" if self.dilation_rate == (1, 1) else f", dilation_rate={self.dilation_rate}"
        extra += "" if self.use_bias else ", use_bias=False"
        return (f"kernel_size={self.kernel_size}, strides={self.strides}, "
                f"padding={self.padding!r}{extra}, activation={self.activation!r}")


class Conv2D(_Conv):
    """out[n, oh, ow, o] = sum over (i, j, c) of window[n, oh, ow, i, j, c] * kernel[i, j, c, o]
    (window: the padded input under the kernel at output position (oh, ow))."""

    def __init__(self, filters: int, kernel_size, strides=1, padding="valid", dilation_rate=1,
                 activation=None, use_bias=True):
        super().__init__(kernel_size, strides, padding, dilation_rate, activation, use_bias)
        self.filters = filters

    def _build(self, input_shape, rng):
        out_shape = self._build_shared(input_shape, self.filters)
        (kh, kw), in_ch = self.kernel_size, input_shape[2]
        self.kernel = glorot_uniform(rng, (kh, kw, in_ch, self.filters),
                                     kh * kw * in_ch, kh * kw * self.filters)
        return out_shape

    def forward(self, x, training=False):
        xp = ic.pad(x, self.geom)
        self.padded_shape = xp.shape
        self.cols = ic.im2col(xp, self.geom)            # (N*OH*OW, KH*KW*C), kept for backward
        y = self.cols @ self.kernel.reshape(-1, self.filters)
        return self._finish_forward(y.reshape(len(x), *self.output_shape))

    def backward(self, grad):
        grad = self._start_backward(grad).reshape(-1, self.filters)
        self.grads["kernel"] = (self.cols.T @ grad).reshape(self.kernel.shape)
        if not self.input_grad:
            return None
        d_cols = grad @ self.kernel.reshape(-1, self.filters).T
        return ic.unpad(ic.col2im(d_cols, self.padded_shape, self.geom), self.geom)

    def macs(self):
        return int(np.prod(self.output_shape[:2])) * int(self.kernel.size)

    def __repr__(self):
        return f"Conv2D({self.filters}, {self._config()})"


class DepthwiseConv2D(_Conv):
    """out[n, oh, ow, c*M + m] = sum over (i, j) of window[n, oh, ow, i, j, c] * kernel[i, j, c, m]
    (M = depth_multiplier): each input channel is filtered on its own."""

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1,
                 dilation_rate=1, activation=None, use_bias=True):
        super().__init__(kernel_size, strides, padding, dilation_rate, activation, use_bias)
        self.depth_multiplier = depth_multiplier

    def _build(self, input_shape, rng):
        out_shape = self._build_shared(input_shape, input_shape[2] * self.depth_multiplier)
        (kh, kw), in_ch, m = self.kernel_size, input_shape[2], self.depth_multiplier
        self.kernel = glorot_uniform(rng, (kh, kw, in_ch, m), kh * kw * in_ch, kh * kw * m)
        return out_shape

    def _spread(self, x):
        """(..., C) -> (..., C*M): input channel c feeds output channels c*M .. c*M + M-1."""
        m = self.depth_multiplier
        return x if m == 1 else np.repeat(x, m, axis=-1)

    def _gather(self, d):
        """The adjoint of _spread: (..., C*M) -> (..., C), summing each channel's M outputs."""
        m = self.depth_multiplier
        return d if m == 1 else d.reshape(*d.shape[:-1], -1, m).sum(axis=-1)

    def forward(self, x, training=False):
        self.xp = ic.pad(x, self.geom)
        k = self.kernel.reshape(*self.kernel_size, -1)  # (KH, KW, C*M)
        y = np.zeros((len(x), *self.output_shape), np.result_type(x, k))
        for i, j in np.ndindex(*self.kernel_size):      # one multiply-add per kernel tap
            y += self._spread(ic.tap(self.xp, self.geom, i, j)) * k[i, j]
        return self._finish_forward(y)

    def backward(self, grad):
        grad = self._start_backward(grad)
        k = self.kernel.reshape(*self.kernel_size, -1)
        d_k = np.empty_like(k, dtype=np.result_type(grad, k))
        d_xp = np.zeros(self.xp.shape, d_k.dtype) if self.input_grad else None
        for i, j in np.ndindex(*self.kernel_size):
            seen = self._spread(ic.tap(self.xp, self.geom, i, j))
            d_k[i, j] = np.einsum("nhwc,nhwc->c", seen, grad)   # sum over batch and positions
            if d_xp is not None:
                target = ic.tap(d_xp, self.geom, i, j)          # a view into d_xp
                target += self._gather(grad * k[i, j])
        self.grads["kernel"] = d_k.reshape(self.kernel.shape)
        return None if d_xp is None else ic.unpad(d_xp, self.geom)

    def macs(self):
        return int(np.prod(self.output_shape[:2])) * int(self.kernel.size)

    def __repr__(self):
        return f"DepthwiseConv2D(depth_multiplier={self.depth_multiplier}, {self._config()})"
