"""Tensors as pictures: a vector as bars with its values written beside them, anything
else as a heatmap of the real values it stands for (tensor_view picks by shape), its
histogram against the quantization grid, and per-channel weight scales.

real_value = scale * (int8_value - zero_point), per channel along quantized_dimension.
Large tensors are cut to MAX_HEATMAP_ELEMENTS so a picture never stalls a notebook.
"""
from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np

from tflm_edu.schema.enums import type_name
from tflm_edu.viz.common import FONT, SMALL_FONT, integer_ticks, text_size

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


AXIS_NAMES = {4: ("batch", "height", "width", "channel"), 2: ("row", "column")}
BAR_VALUES_MAX = 16     # a vector this long or shorter gets every value written beside it


def tensor_view(shape) -> str:
    """How a tensor is best seen: 'bars' when at most one axis is longer than 1 ([n],
    [1, n], [1, 1, 1, n]: a vector), 'heatmap' for a matrix, an image or a feature map."""
    return "bars" if sum(1 for n in shape if n > 1) <= 1 else "heatmap"


def axis_names(shape) -> list[str]:
    return list(AXIS_NAMES.get(len(shape), [f"axis {k}" for k in range(len(shape))]))


def heatmap_index(shape, channel: int = 0) -> tuple[tuple, str, str, str]:
    """The index of the 2-D slice a heatmap shows, what it is, and its row and column
    axes' names: height x width of one channel for NHWC, rows x columns for a matrix;
    axes of length 1 (the batch) are skipped."""
    names = axis_names(shape)
    kept = [k for k, n in enumerate(shape) if n > 1]
    index, what = [0] * len(shape), []
    if len(kept) > 2:                    # the last axis longer than 1 is the channel
        picked = kept[-1]
        index[picked] = min(channel, shape[picked] - 1)
        what.append(f"{names[picked]} {index[picked]} of {shape[picked]}")
        rows, columns = kept[-3], kept[-2]
        what += [f"{names[k]} 0" for k in kept[:-3]]
    else:
        rows, columns = kept
    index[rows] = index[columns] = slice(None)
    return tuple(index), ", ".join(what), names[rows], names[columns]


def as_image(values: np.ndarray, channel: int = 0) -> tuple[np.ndarray, str]:
    """The 2-D slice a heatmap shows (heatmap_index), cut to MAX_HEATMAP_ELEMENTS."""
    v = np.asarray(values)
    if tensor_view(v.shape) == "bars":
        return v.reshape(1, -1), "as one row"
    index, what, rows, columns = heatmap_index(v.shape, channel)
    image = v[index]
    side = int(np.sqrt(MAX_HEATMAP_ELEMENTS))
    if image.size > MAX_HEATMAP_ELEMENTS:
        image = image[:side, :side]
        what = ", ".join(filter(None, [what, f"cut to the first {side} x {side}"]))
    return image, what


def short_tensor_name(name: str, width: int = 34) -> str:
    """A tensor name that fits a pane's title: its last parts, wrapped."""
    parts = (name or "").split("/")
    text = "/".join(parts[-2:])
    return "\n".join(textwrap.wrap(text, width, break_on_hyphens=False)) or text


def _value_text(q, real, quantized: bool) -> str:
    """'-57 (0.223)': the stored integer and the real value it stands for."""
    if quantized:
        return f"{int(q)} ({real:.3g})"
    return f"{real:.3g}" if isinstance(real, (float, np.floating)) else f"{real}"


def draw_tensor(ax, tensor, channel: int = 0, title: str = ""):
    """Draw `tensor` on `ax` as tensor_view() says: a vector as bars with every value
    written beside its bar, anything else as a heatmap of real values (its cell values are
    written by write_cell_values once the layout is known). Returns the heatmap's image,
    for a colour bar, or None for bars."""
    name = f"{short_tensor_name(tensor.name) or tensor.index}"
    header = title or name
    kind = f"{list(tensor.shape)} {type_name(tensor.type).lower()}"
    if tensor_view(tensor.shape) == "bars":
        _draw_bars(ax, tensor)
        ax.set_title(f"{header}\n{kind}", fontsize=FONT)
        return None
    image, what = as_image(dequantize(tensor), channel)
    stored, _ = as_image(np.asarray(tensor.data), channel)
    _, _, rows, columns = heatmap_index(tuple(tensor.shape), channel)
    shown = ax.imshow(image, cmap="viridis", aspect="auto", interpolation="nearest")
    shown.tflm_values = (stored, image, _is_quantized(tensor))
    ax.set_title(f"{header}\n{kind}" + (f"\n{what}" if what else ""), fontsize=FONT)
    ax.set_ylabel(rows, fontsize=FONT)
    ax.set_xlabel(columns, fontsize=FONT)
    ax.tick_params(labelsize=SMALL_FONT)
    integer_ticks(ax.xaxis)
    integer_ticks(ax.yaxis)
    return shown


def _is_quantized(tensor) -> bool:
    q = tensor.quantization
    return q is not None and len(q.scale) > 0 and np.issubdtype(np.asarray(tensor.data).dtype,
                                                                 np.integer)


def _draw_bars(ax, tensor) -> None:
    """Horizontal bars of the real values, element 0 on top; up to BAR_VALUES_MAX of them
    carry their values ('-57 (0.223)') in a column on the right; longer vectors are drawn
    as upright bars without values."""
    real = np.asarray(dequantize(tensor), np.float64).ravel()
    stored = np.asarray(tensor.data).ravel()
    quantized = _is_quantized(tensor)
    label = "real value" if quantized else "value"
    element = "element"
    if real.size > BAR_VALUES_MAX:
        ax.bar(np.arange(real.size), real, width=1.0, color="#4c72b0")
        ax.set_xlabel(f"{element} ({real.size} values: too many to write)", fontsize=FONT)
        ax.set_ylabel(label, fontsize=FONT)
        integer_ticks(ax.xaxis)
        ax.tick_params(labelsize=SMALL_FONT)
        return
    rows = np.arange(real.size)
    ax.barh(rows, real, color=np.where(real < 0, "#c44e52", "#4c72b0"), height=0.7)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_ylim(real.size - 0.5, -0.5)
    ax.set_yticks(rows, labels=[f"[{k}]" for k in rows], fontsize=SMALL_FONT)
    ax.set_ylabel(element, fontsize=FONT)
    ax.set_xlabel(label, fontsize=FONT)
    ax.tick_params(axis="x", labelsize=SMALL_FONT)
    values = ax.twinx()
    values.set_ylim(ax.get_ylim())
    values.set_yticks(rows, labels=[_value_text(q, r, quantized) for q, r in zip(stored, real)],
                      fontsize=SMALL_FONT)
    values.tick_params(length=0)
    values.tflm_value_axis = True


def write_cell_values(fig) -> None:
    """Write each heatmap cell's value ('-57' over '(0.223)', or the integer alone) where
    it fits in the cell at SMALL_FONT. Call after the layout is done."""
    to_points = 72 / fig.dpi
    for ax in fig.axes:
        for image in ax.images:
            if not hasattr(image, "tflm_values"):
                continue
            stored, real, quantized = image.tflm_values
            bbox = ax.get_window_extent()
            cell_w = bbox.width * to_points / stored.shape[1]
            cell_h = bbox.height * to_points / stored.shape[0]
            low, high = image.get_clim()
            for form in (("{q}\n({r:.2g})", "{q}") if quantized else ("{r:.2g}",)):
                texts = [[form.format(q=int(q) if quantized else q, r=r) for q, r in zip(qs, rs)]
                         for qs, rs in zip(stored, real)]
                if all(_fits(t, cell_w, cell_h) for row in texts for t in row):
                    for (y, x), t in np.ndenumerate(np.array(texts, dtype=object)):
                        dark = (real[y, x] - low) < 0.6 * (high - low)
                        ax.text(x, y, t, ha="center", va="center", fontsize=SMALL_FONT,
                                color="white" if dark else "black", in_layout=False)
                    break


def _fits(text, width, height) -> bool:
    w, h = text_size(text, SMALL_FONT)
    return w + 2 <= width and h + 1 <= height


def plot_tensor(tensor, channel: int = 0, figsize=None):
    """A tensor as tensor_view() says: a vector as bars with its values written beside
    them, anything else as a heatmap of its real (dequantized) values - one channel of a
    feature map - with a colour bar in real units and, where they fit, the cells' values."""
    bars = tensor_view(tensor.shape) == "bars"
    n = int(np.prod(tensor.shape)) if bars else 0
    default = (6, max(2.6, 0.28 * n + 1.4)) if bars and n <= BAR_VALUES_MAX else (6, 4.2)
    fig, ax = plt.subplots(figsize=figsize or default, layout="constrained")
    shown = draw_tensor(ax, tensor, channel)
    if shown is not None:
        colorbar = fig.colorbar(shown, ax=ax)
        colorbar.set_label("real value" if _is_quantized(tensor) else "value", fontsize=FONT)
        colorbar.ax.tick_params(labelsize=SMALL_FONT)
    fig.draw_without_rendering()
    write_cell_values(fig)
    return fig


def plot_tensor_histogram(tensor, figsize=(7, 3.5)):
    """Histogram of the stored integers, one bin per grid step, with the zero point and
    the grid's ends marked: how much of the int8 range the tensor really uses."""
    data = np.asarray(tensor.data).ravel()[:HISTOGRAM_SAMPLE]
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
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
        ax.set_xlabel(f"stored value (grid step = scale {tensor.scale:.3g} in real units)",
                      fontsize=FONT)
        ax.legend(fontsize=SMALL_FONT, loc="upper right")
    else:
        ax.hist(data, bins=64, color="#4c72b0")
        ax.set_xlabel("value", fontsize=FONT)
    ax.set_ylabel("count", fontsize=FONT)
    ax.tick_params(labelsize=SMALL_FONT)
    integer_ticks(ax.yaxis)
    ax.set_title(f"{short_tensor_name(tensor.name, 60) or tensor.index}: {data.size:,} values",
                 fontsize=FONT)
    return fig


def plot_channel_scales(tensor, figsize=(7, 3)):
    """Per-channel scales of a weight tensor (one bar per output channel)."""
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    q = tensor.quantization
    scales = np.asarray(q.scale if q is not None else [], np.float64)
    ax.bar(range(len(scales)), scales, color="#55a868")
    ax.set_xlabel(f"channel (dimension {q.quantized_dimension if q is not None else '-'})",
                  fontsize=FONT)
    ax.set_ylabel("scale", fontsize=FONT)
    ax.tick_params(labelsize=SMALL_FONT)
    integer_ticks(ax.xaxis)
    kind = "per-channel" if len(scales) > 1 else "per-tensor" if len(scales) else "no"
    ax.set_title(f"{short_tensor_name(tensor.name, 60) or tensor.index}: {kind} quantization",
                 fontsize=FONT)
    return fig
