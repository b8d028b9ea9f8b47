"""Padding and sliding windows: one home for what convolution and pooling kernels, and the
training layers, compute the same way.

Mirrors tensorflow/lite/kernels/padding.h (ComputeOutSize, ComputePaddingWithOffset,
ComputePaddingHeightWidth): with SAME padding the output has ceil(in / stride) positions and
the total padding max((out - 1) * stride + effective_filter - in, 0) is split with the odd
element at the bottom/right. Training with exactly this rule (tflm_edu.train) is what lets a
converted .tflite compute the same numbers as the numpy model.

window_view() and tap() read a padded NHWC batch through numpy strides, without copying:
the view of every output position's receptive field (the rows of im2col), or the slice one
filter tap sees across all output positions.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from tflm_edu.schema.enums import Padding


# The most elements of a bordered input (the image plus the border its windows reach) a
# conv or pooling kernel may allocate: a hostile stride, dilation or filter size must not
# turn a tiny model into gigabytes.
MAX_BORDERED_ELEMENTS = 1 << 26
INT16_MAX = 32767


def check_int16_fields(op: str, **values) -> None:
    """TFLM copies strides, dilations and paddings into int16_t fields (ConvParams,
    PaddingValues) before it computes: a value above 32,767 is silently truncated and the
    C++ computes something else. Refuse it, naming the field."""
    from tflm_edu.errors import ModelError
    for name, value in values.items():
        if int(value) > INT16_MAX:
            raise ModelError(f"{name} {int(value):,} does not fit the int16 field TFLM's {op} "
                             f"keeps it in (at most {INT16_MAX:,}): TFLM would compute with a "
                             f"truncated value, so tflm_edu refuses the model")

def compute_out_size(padding: int, image_size: int, filter_size: int, stride: int,
                     dilation: int = 1) -> int:
    """ComputeOutSize: output length of a conv or pool along one axis."""
    effective_filter = (filter_size - 1) * dilation + 1
    if stride <= 0:
        return 0
    if padding == Padding.SAME:
        return (image_size + stride - 1) // stride
    if padding == Padding.VALID:
        return (image_size + stride - effective_filter) // stride
    return 0


def compute_padding_with_offset(stride: int, dilation: int, in_size: int, filter_size: int,
                                out_size: int) -> tuple[int, int]:
    """ComputePaddingWithOffset: (padding before, the extra one after when the total is odd).
    TensorFlow puts the odd pixel at the bottom/right."""
    effective_filter = (filter_size - 1) * dilation + 1
    total = max((out_size - 1) * stride + effective_filter - in_size, 0)
    return total // 2, total % 2


def compute_padding_height_width(stride_h, stride_w, dilation_h, dilation_w, in_h, in_w,
                                 filter_h, filter_w, padding):
    """ComputePaddingHeightWidth: (out_h, out_w, pad_top, pad_left)."""
    out_h = compute_out_size(padding, in_h, filter_h, stride_h, dilation_h)
    out_w = compute_out_size(padding, in_w, filter_w, stride_w, dilation_w)
    pad_h, _ = compute_padding_with_offset(stride_h, dilation_h, in_h, filter_h, out_h)
    pad_w, _ = compute_padding_with_offset(stride_w, dilation_w, in_w, filter_w, out_w)
    return out_h, out_w, pad_h, pad_w


def window_view(x_padded: np.ndarray, out_hw, kernel_hw, strides, dilation) -> np.ndarray:
    """A read-only (N, OH, OW, KH, KW, C) view: [n, oh, ow, i, j, c] is the value under tap
    (i, j) at output position (oh, ow) - x_padded[n, oh*sh + i*dh, ow*sw + j*dw, c]."""
    sb, sh, sw, sc = x_padded.strides
    (stride_h, stride_w), (dilation_h, dilation_w) = strides, dilation
    shape = (x_padded.shape[0], *out_hw, *kernel_hw, x_padded.shape[3])
    view_strides = (sb, sh * stride_h, sw * stride_w, sh * dilation_h, sw * dilation_w, sc)
    return as_strided(x_padded, shape, view_strides, writeable=False)


def tap(x_padded: np.ndarray, out_hw, strides, dilation, i: int, j: int) -> np.ndarray:
    """The (N, OH, OW, C) slice of x_padded that filter tap (i, j) meets at every output."""
    (out_h, out_w), (stride_h, stride_w), (dilation_h, dilation_w) = out_hw, strides, dilation
    y0, x0 = i * dilation_h, j * dilation_w
    return x_padded[:, y0:y0 + (out_h - 1) * stride_h + 1:stride_h,
                    x0:x0 + (out_w - 1) * stride_w + 1:stride_w, :]
