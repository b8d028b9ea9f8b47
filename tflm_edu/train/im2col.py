"""The im2col / col2im pair that convolution is built on, on the padding rule and the sliding
windows of tflm_edu/windows.py - the ones the kernels use, which is what lets a converted
.tflite compute the same numbers as the numpy model.

im2col turns a convolution into one matrix product: every output position becomes a row that
holds the KH*KW*C input values under the kernel. The rows are read through a strided *view*
(np.lib.stride_tricks.as_strided) of the padded input, so the only copy is the one BLAS needs.
col2im is the adjoint: it scatters row gradients back onto the input with one strided slice
add per kernel tap (KH*KW adds instead of one np.add.at per element).

The second half splits a padded input into its stride phases (PhasePlan), where every kernel
tap is a contiguous block: what DepthwiseConv2D multiplies tap by tap, and what Conv2D's
"taps" layout copies its matrix rows from, in long runs rather than im2col's short ones.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from tflm_edu.schema.enums import Padding
from tflm_edu.train import vector
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


# ---- stride phases: every kernel tap as a contiguous block ---------------------------------------
#
# A strided tap (rows oh*sh + i*dh, columns ow*sw + j*dw) reads every sh-th row and sw-th column
# of the padded input, which numpy walks one short run at a time. Split the padded input once
# into its sh*sw stride phases - phase (a, b) holds padded rows a, a+sh, ... and columns b, b+sw,
# ... - and every tap becomes a stride-1 block of one phase: tap (i, j) is phase
# ((i*dh) % sh, (j*dw) % sw) shifted by ((i*dh) // sh, (j*dw) // sw) rows and columns. Within
# a phase a row of OW*C values (NHWC), or a run of OH*Wph values (channel-major), is
# contiguous, so arithmetic on it runs in long inner loops. The taps that fall in one phase
# are shifted by an arithmetic progression of rows and of columns, so one strided view
# (taps_view) holds them all. With stride 1 there is one phase: the padded input.


@dataclass(frozen=True)
class TapGroup:
    """The kernel taps that read one stride phase: taps[r][c] = i*KW + j for the tap shifted by
    row0 + r*row_step rows and col0 + c*col_step columns within phase (a, b)."""

    a: int
    b: int
    row0: int
    row_step: int
    col0: int
    col_step: int
    taps: tuple


@dataclass(frozen=True)
class PhasePlan:
    """Where each kernel tap lies in the stride phases of the padded input."""

    strides: tuple[int, int]
    shape: tuple[int, int]      # (Hph, Wph): rows and columns of every phase, with room for the
    #                             shifted blocks and one spare row (so that runs of OH*Wph
    #                             values from any tap stay inside the phase)
    shifts: tuple[int, int]     # the largest row and column shift of any tap
    groups: tuple               # TapGroup per phase that any tap reads
    # per phase (a, b): ((first phase row, first input row, rows), (the same for columns))
    copies: tuple
    tap_order: tuple            # tap indices (i*KW + j) in the order the groups list them


def _phase_axis(size: int, before: int, out: int, kernel: int, stride: int, dilation: int):
    """One axis of a PhasePlan: the phase length and, per phase, what of the input it holds."""
    shift = ((kernel - 1) * dilation) // stride
    length = max(-(-(size + before) // stride), out + shift + 1)
    copies = []
    for a in range(stride):
        first = max(0, -(-(before - a) // stride))      # the first phase index on real input
        start = a + first * stride - before               # ... and the input index it holds
        count = len(range(start, size, stride)) if start < size else 0
        copies.append((first, start, count))
    return length, shift, copies


def _tap_progression(phase: int, kernel: int, stride: int, dilation: int):
    """The taps k of one axis that read `phase`, and their shifts (an arithmetic progression)."""
    taps = [k for k in range(kernel) if (k * dilation) % stride == phase]
    shifts = [(k * dilation) // stride for k in taps]
    step = shifts[1] - shifts[0] if len(shifts) > 1 else 1
    return taps, (shifts[0] if shifts else 0), step


@lru_cache(maxsize=256)
def phase_plan(g: Geometry, input_hw: tuple[int, int]) -> PhasePlan:
    (kh, kw), (sh, sw), (dh, dw) = g.kernel, g.strides, g.dilation
    hph, row_shift, rows = _phase_axis(input_hw[0], g.rows.before, g.rows.out, kh, sh, dh)
    wph, col_shift, cols = _phase_axis(input_hw[1], g.cols.before, g.cols.out, kw, sw, dw)
    groups = []
    for a in range(sh):
        taps_i, row0, row_step = _tap_progression(a, kh, sh, dh)
        for b in range(sw):
            taps_j, col0, col_step = _tap_progression(b, kw, sw, dw)
            if taps_i and taps_j:
                groups.append(TapGroup(a, b, row0, row_step, col0, col_step,
                                       tuple(tuple(i * kw + j for j in taps_j) for i in taps_i)))
    copies = tuple((rows[a], cols[b]) for a in range(sh) for b in range(sw))
    order = tuple(t for group in groups for taps in group.taps for t in taps)
    return PhasePlan((sh, sw), (hph, wph), (row_shift, col_shift), tuple(groups), copies, order)


def taps_view(phase: np.ndarray, group: TapGroup, out_hw: tuple[int, int], channels: int,
              flipped_from: tuple[int, int] | None = None, origin=(0, 0)) -> np.ndarray:
    """A read-only (taps_r, taps_c, N, OH, OW*C) view of one NHWC phase, a C-contiguous
    (N, rows, columns*C) array: [r, c, n, oh, ow*C + ch] is the value that tap group.taps[r][c]
    meets at output (oh, ow).

    flipped_from=(R, S) gives the view the adjoint needs instead: on an array with R rows
    and S columns of zeros on the top and left, [r, c] is tap taps[-1 - r][-1 - c] shifted
    the other way, so that sum over (r, c) of view[r, c] * kernel[taps[-1 - r][-1 - c]] is
    what the taps of this group send back to the phase positions origin + (0..OH, 0..OW)."""
    (n_r, n_c), (out_h, out_w) = np.shape(group.taps), out_hw
    row, col = group.row0 + origin[0], group.col0 + origin[1]
    if flipped_from is not None:
        row = flipped_from[0] - group.row0 - (n_r - 1) * group.row_step + origin[0]
        col = flipped_from[1] - group.col0 - (n_c - 1) * group.col_step + origin[1]
    last_row = row + (n_r - 1) * group.row_step + out_h
    last_col = (col + (n_c - 1) * group.col_step + out_w) * channels
    if min(row, col) < 0 or last_row > phase.shape[1] or last_col > phase.shape[2]:
        raise ValueError(f"the taps of {group} do not fit a phase of shape {phase.shape}")
    sn, sr, se = phase.strides
    return vector.strided(phase, row * phase.shape[2] + col * channels,
                          (n_r, n_c, phase.shape[0], out_h, out_w * channels),
                          (group.row_step * sr, group.col_step * channels * se, sn, sr, se))


def runs_view(phase: np.ndarray, group: TapGroup, width: int, length: int) -> np.ndarray:
    """A read-only (taps_r, taps_c, C, N, length) view of one channel-major phase, a
    C-contiguous (C, N, Hph*Wph) array (Wph = width): [r, c, ch, n] is the run of `length`
    values that starts where tap group.taps[r][c] meets output (0, 0)."""
    n_r, n_c = np.shape(group.taps)
    start = group.row0 * width + group.col0
    last = start + (n_r - 1) * group.row_step * width + (n_c - 1) * group.col_step + length
    if last > phase.shape[2]:
        raise ValueError(f"the runs of {group} do not fit a phase of shape {phase.shape}")
    sc, sn, se = phase.strides
    return vector.strided(phase, start, (n_r, n_c, *phase.shape[:2], length),
                          (group.row_step * width * se, group.col_step * se, sc, sn, se))


def zero_outside(array: np.ndarray, axes, rows: tuple[int, int], cols: tuple[int, int]) -> None:
    """Zero every element of `array` outside rows[0]:rows[1] of axis axes[0] and cols[0]:cols[1]
    of axis axes[1]: the border of a block that is about to be written, so the array can be
    made with np.empty rather than zero-filled whole and then overwritten."""
    def index(row=slice(None), col=slice(None)):
        where = [slice(None)] * array.ndim
        where[axes[0]], where[axes[1]] = row, col
        return tuple(where)

    (top, bottom), (left, right) = rows, cols
    array[index(row=slice(None, top))] = 0
    array[index(row=slice(bottom, None))] = 0
    array[index(row=slice(top, bottom), col=slice(None, left))] = 0
    array[index(row=slice(top, bottom), col=slice(right, None))] = 0


def to_phases(x: np.ndarray, plan: PhasePlan, out: np.ndarray, axes=(1, 2),
              zero_padding: bool = True) -> np.ndarray:
    """Write x's values into `out`, shaped (sh, sw, *x.shape with the spatial `axes` set to
    (Hph, Wph)), phase by phase, and zeros on the padding positions (so `out` may come from
    np.empty). zero_padding=False leaves the padding positions alone: for an `out` whose
    padding already holds zeros (Layer.work_buffer), since this never writes there."""
    sh, sw = plan.strides
    target = out
    if tuple(axes) == (1, 2):              # NHWC: move whole pixels
        x, target = vector.items(x), vector.items(out)
    for index, ((r0, x_r, n_r), (c0, x_c, n_c)) in enumerate(plan.copies):
        if zero_padding:
            zero_outside(out[divmod(index, sw)], axes, (r0, r0 + n_r if n_c else r0),
                         (c0, c0 + n_c))
        if n_r and n_c:
            src = [slice(None)] * x.ndim
            dst = [slice(None)] * x.ndim
            src[axes[0]], src[axes[1]] = (slice(x_r, None, sh), slice(x_c, None, sw))
            dst[axes[0]], dst[axes[1]] = slice(r0, r0 + n_r), slice(c0, c0 + n_c)
            target[divmod(index, sw)][tuple(dst)] = x[tuple(src)]
    return out


def from_phases(phases: np.ndarray, plan: PhasePlan, out: np.ndarray, axes=(1, 2)) -> np.ndarray:
    """The adjoint of to_phases: gather the real-input positions of `phases` into `out`
    (x's shape). The phases partition the input, so every element of `out` is written once;
    what lies on the padding is dropped."""
    sh, sw = plan.strides
    if tuple(axes) == (1, 2):              # NHWC: move whole pixels
        phases, pixels = vector.items(phases), vector.items(out)
    else:
        pixels = out
    for index, ((r0, x_r, n_r), (c0, x_c, n_c)) in enumerate(plan.copies):
        if n_r and n_c:
            src = [slice(None)] * pixels.ndim
            dst = [slice(None)] * pixels.ndim
            dst[axes[0]], dst[axes[1]] = (slice(x_r, None, sh), slice(x_c, None, sw))
            src[axes[0]], src[axes[1]] = slice(r0, r0 + n_r), slice(c0, c0 + n_c)
            pixels[tuple(dst)] = phases[divmod(index, sw)][tuple(src)]
    return out
