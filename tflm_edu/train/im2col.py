"""The im2col / col2im pair that convolution is built on, on the padding rule and the sliding
windows of tflm_edu/windows.py - the ones the kernels use, which is what lets a converted
.tflite compute the same numbers as the numpy model.

im2col turns a convolution into one matrix product: every output position becomes a row that
holds the KH*KW*C input values under the kernel. The rows are read through a strided *view*
(np.lib.stride_tricks.as_strided) of the padded input, so the only copy is the one BLAS needs.
col2im is the adjoint: it scatters row gradients back onto the input with one strided slice
add per kernel tap (KH*KW adds instead of one np.add.at per element).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tflm_edu.schema.enums import Padding
from tflm_edu.windows import (compute_out_size, compute_padding_with_offset, tap as tap_slice,
                              window_view)


def pair(value) -> tuple[int, int]:
    """2 -> (2, 2); (3, 1) -> (3, 1): Keras accepts either for kernel sizes, strides, dilations."""
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    height, width = value
    return int(height), int(width)


@dataclass(frozen=True)
class Padding1D:
    """Where a window of size `kernel` (dilated to `effective`) lands along one axis."""

    out: int
    before: int
    after: int


def padding_1d(size: int, kernel: int, stride: int, dilation: int, padding: str) -> Padding1D:
    """Output length and padding of one spatial axis, by TensorFlow's SAME/VALID rule."""
    effective = (kernel - 1) * dilation + 1
    if padding not in ("same", "valid"):
        raise ValueError(f"padding must be 'same' or 'valid', got {padding!r}")
    if padding == "valid" and size < effective:
        raise ValueError(f"a kernel of {effective} (dilated) does not fit an input of {size} "
                         "with padding='valid'")
    rule = Padding.SAME if padding == "same" else Padding.VALID
    out = compute_out_size(rule, size, kernel, stride, dilation)
    before, extra = compute_padding_with_offset(stride, dilation, size, kernel, out)
    return Padding1D(out, before, before + extra)     # the odd element goes after


@dataclass(frozen=True)
class Geometry:
    """Everything a sliding-window layer needs to know about its input, computed once in build()."""

    kernel: tuple[int, int]
    strides: tuple[int, int]
    dilation: tuple[int, int]
    rows: Padding1D
    cols: Padding1D

    @property
    def out_hw(self) -> tuple[int, int]:
        return self.rows.out, self.cols.out

    @property
    def pads(self) -> tuple:
        """np.pad widths for an NHWC batch."""
        return ((0, 0), (self.rows.before, self.rows.after), (self.cols.before, self.cols.after),
                (0, 0))

    @property
    def padded(self) -> bool:
        return any(self.pads[1] + self.pads[2])


def geometry(input_hw, kernel, strides, dilation, padding: str) -> Geometry:
    kernel, strides, dilation = pair(kernel), pair(strides), pair(dilation)
    rows = padding_1d(input_hw[0], kernel[0], strides[0], dilation[0], padding)
    cols = padding_1d(input_hw[1], kernel[1], strides[1], dilation[1], padding)
    return Geometry(kernel, strides, dilation, rows, cols)


def pad(x: np.ndarray, g: Geometry, value: float = 0.0) -> np.ndarray:
    """The input with its SAME padding added (x itself when there is none: no copy)."""
    return np.pad(x, g.pads, constant_values=value) if g.padded else x


def unpad(xp: np.ndarray, g: Geometry) -> np.ndarray:
    """The inverse of pad(): crop the padding off a gradient of the padded input."""
    (top, bottom), (left, right) = g.pads[1], g.pads[2]
    return xp[:, top:xp.shape[1] - bottom, left:xp.shape[2] - right, :]


def windows(xp: np.ndarray, g: Geometry) -> np.ndarray:
    """A read-only (N, OH, OW, KH, KW, C) view: [n, oh, ow, i, j, c] is the input value under
    kernel tap (i, j) at output position (oh, ow), i.e. xp[n, oh*sh + i*dh, ow*sw + j*dw, c]."""
    return window_view(xp, g.out_hw, g.kernel, g.strides, g.dilation)


def tap(xp: np.ndarray, g: Geometry, i: int, j: int) -> np.ndarray:
    """The (N, OH, OW, C) slice of xp that kernel tap (i, j) sees across all output positions."""
    return tap_slice(xp, g.out_hw, g.strides, g.dilation, i, j)


def im2col(xp: np.ndarray, g: Geometry) -> np.ndarray:
    """(N*OH*OW, KH*KW*C) rows in HWIO order, ready for `rows @ kernel.reshape(-1, out_ch)`.
    For a 1x1 kernel with stride 1 the reshape is itself a view: no copy at all."""
    view = windows(xp, g)
    n, oh, ow, kh, kw, c = view.shape
    return view.reshape(n * oh * ow, kh * kw * c)


def col2im(cols: np.ndarray, padded_shape: tuple, g: Geometry) -> np.ndarray:
    """The adjoint of im2col: sum every row's (KH, KW, C) gradient back onto the padded input."""
    n, _, _, c = padded_shape
    (oh, ow), (kh, kw) = g.out_hw, g.kernel
    cols = cols.reshape(n, oh, ow, kh, kw, c)
    if (kh, kw) == (1, 1) and g.strides == (1, 1):
        return cols.reshape(padded_shape)         # a pointwise conv: one tap covers the input
    dxp = np.zeros(padded_shape, dtype=cols.dtype)
    for i in range(kh):                           # one strided add per tap, not per element
        for j in range(kw):
            target = tap(dxp, g, i, j)            # a view into dxp
            target += cols[:, :, :, i, j, :]
    return dxp
