"""Tensors as pictures: an int8 tensor as a heatmap of the real values it stands for, its
histogram against the quantization grid, and per-channel weight scales.

real_value = scale * (int8_value - zero_point), per channel along quantized_dimension.
Large tensors are cut to MAX_HEATMAP_ELEMENTS so a picture never stalls a notebook.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from tflm_edu.schema.enums import type_name

MAX_HEATMAP_ELEMENTS = 64 * 64
HISTOGRAM_SAMPLE = 100_000


def dequantize(tensor) -> np.ndarray:
    """The real values of a (possibly per-channel) quantized tensor; float tensors as is."""
    data = np.asarray(tensor.data)
    q = tensor.quantization
    if q is None or not np.issubdtype(data.dtype, np.integer) or len(q.scale) == 0:
        return data.astype(np.float64) if np.issubdtype(data.dtype, np.integer) else data
    shape = [1] * data.ndim
    if len(q.scale) > 1:
        shape[_channel_axis(data.shape, q)] = len(q.scale)
    scale = np.asarray(q.scale, np.float64).reshape(shape)
    zero_point = np.asarray(q.zero_point, np.int64).reshape(shape)
    return scale * (data.astype(np.int64) - zero_point)


def _channel_axis(shape, q) -> int:
    """quantized_dimension, or - when a converter left a stale one (person_detect's
    biases say 3 on 1-D tensors) - the axis whose length is the number of scales."""
    if q.quantized_dimension < len(shape) and shape[q.quantized_dimension] == len(q.scale):
        return q.quantized_dimension
    matches = [axis for axis, n in enumerate(shape) if n == len(q.scale)]
    if not matches:
        raise ValueError(f"{len(q.scale)} scales fit no axis of shape {list(shape)}")
    return matches[-1]


def as_image(values: np.ndarray, channel: int = 0) -> tuple[np.ndarray, str]:
    """A 2-D slice to show: [height, width] of `channel` for NHWC, rows x columns for 2-D."""
    v = np.asarray(values)
    if v.ndim == 4:
        image, what = v[0, :, :, min(channel, v.shape[3] - 1)], f"batch 0, channel {channel}"
    elif v.ndim == 3:
        image, what = v[:, :, min(channel, v.shape[2] - 1)], f"channel {channel}"
    elif v.ndim == 2:
        image, what = v, "rows x columns"
    else:
        image, what = v.reshape(1, -1), "as one row"
    side = int(np.sqrt(MAX_HEATMAP_ELEMENTS))
    if image.shape[0] * image.shape[1] > MAX_HEATMAP_ELEMENTS:
        image, what = image[:side, :side * max(1, MAX_HEATMAP_ELEMENTS // side // side)], \
            what + f" (first {side} rows/cols)"
    return image, what


def draw_tensor(ax, tensor, channel: int = 0, title: str = ""):
    image, what = as_image(dequantize(tensor), channel)
    shown = ax.imshow(image, cmap="viridis", aspect="auto", interpolation="nearest")
    ax.set_title(title or f"{tensor.name or tensor.index} {list(tensor.shape)} "
                          f"{type_name(tensor.type).lower()}\n{what}", fontsize=8)
    return shown


def plot_tensor(tensor, channel: int = 0, figsize=(5, 4)):
    """Heatmap of a tensor's real (dequantized) values; the colour bar is in real units."""
    fig, ax = plt.subplots(figsize=figsize)
    shown = draw_tensor(ax, tensor, channel)
    label = "real value" if tensor.quantization is not None else "value"
    fig.colorbar(shown, ax=ax, label=label)
    fig.tight_layout()
    return fig


def plot_tensor_histogram(tensor, figsize=(7, 3.5)):
    """Histogram of the stored integers, one bin per grid step, with the zero point and
    the grid's ends marked: how much of the int8 range the tensor really uses."""
    data = np.asarray(tensor.data).ravel()[:HISTOGRAM_SAMPLE]
    fig, ax = plt.subplots(figsize=figsize)
    if np.issubdtype(data.dtype, np.integer):
        info = np.iinfo(data.dtype)
        if info.bits <= 8:  # one bin per grid step
            low, high = int(info.min), int(info.max)
            bins = np.arange(low, high + 2) - 0.5
        else:  # int16 / int32 (biases): too many steps for a bin each
            low, high = int(data.min(initial=0)), int(data.max(initial=0))
            bins = 64
        ax.hist(data, bins=bins, color="#4c72b0")
        ax.axvline(tensor.zero_point, color="#c44e52", label=f"zero point {tensor.zero_point}")
        for edge in (low, high):
            ax.axvline(edge, color="#8c8c8c", linestyle=":")
        ax.set_xlabel(f"stored value (grid step = scale {tensor.scale:.3g} in real units)")
        ax.legend(fontsize=8, loc="upper right")
    else:
        ax.hist(data, bins=64, color="#4c72b0")
        ax.set_xlabel("value")
    ax.set_ylabel("count")
    ax.set_title(f"{tensor.name or tensor.index}: {data.size:,} values", fontsize=9)
    fig.tight_layout()
    return fig


def plot_channel_scales(tensor, figsize=(7, 3)):
    """Per-channel scales of a weight tensor (one bar per output channel)."""
    fig, ax = plt.subplots(figsize=figsize)
    q = tensor.quantization
    scales = np.asarray(q.scale if q is not None else [], np.float64)
    ax.bar(range(len(scales)), scales, color="#55a868")
    ax.set_xlabel(f"channel (dimension {q.quantized_dimension if q is not None else '-'})")
    ax.set_ylabel("scale")
    kind = "per-channel" if len(scales) > 1 else "per-tensor" if len(scales) else "no"
    ax.set_title(f"{tensor.name or tensor.index}: {kind} quantization", fontsize=9)
    fig.tight_layout()
    return fig
