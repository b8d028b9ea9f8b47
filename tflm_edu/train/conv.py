"""Conv2D and DepthwiseConv2D, with tf.keras.layers semantics and TFLite's padding rule.

Kernels use the Keras layouts: Conv2D.kernel is (kh, kw, in_ch, out_ch) (HWIO) and
DepthwiseConv2D.kernel is (kh, kw, in_ch, depth_multiplier); output channel c * M + m of a
depthwise conv comes from input channel c, as in TFLite's DEPTHWISE_CONV_2D. A converter
reorders them into TFLite's OHWI and 1HW(C*M) layouts.

Conv2D is one matrix product (BLAS sgemm) over the input values under the kernel, laid out
one of three ways by the shape (each chosen once, in build):
- "pointwise" (a 1x1 kernel, stride 1): the input itself is the matrix, no copy at all;
- "rows" (im2col.im2col): one row of KH*KW*C values per output position, read through a
  strided view; good when each kernel row spans many values (KW*C large);
- "taps" (few input channels, e.g. the first layer on a 1-channel image): one long row per
  kernel tap and input channel, copied in runs of OH*Wph from the stride phases (im2col.py),
  where im2col would copy runs of only KW*C values. Every output row is computed at the full
  phase width Wph and the columns past OW are dropped (their gradient is zero).

A depthwise conv has no sum over channels for a matrix product to exploit, so it accumulates
KH*KW whole-batch multiply-adds, one per kernel tap. Each tap is a stride-1 block of a stride
phase, viewed as rows of OW*C contiguous values against the tap's weights tiled to OW*C, so
numpy's inner loops are long even when there are only 8 channels; one np.einsum over a strided
view of all the taps of a phase does the multiply-adds without writing a temporary per tap.
The backward pass is the same einsum on the output gradient with the taps flipped (the input
gradient) and one einsum per tap summing tap * gradient (the kernel gradient).

The padded copies a training step makes (the input phases, the padded output gradient) live
in work buffers the layer keeps (Layer.work_buffer): their zero border is made once, and the
step does not pay for fresh memory again each time.
"""
from __future__ import annotations

import numpy as np

from tflm_edu.train import im2col as ic
from tflm_edu.train import vector
from tflm_edu.train.activations import activation_layer
from tflm_edu.train.layer import Layer, glorot_uniform

# Conv2D copies its input in tap-major runs ("taps") when im2col's runs of KW*C values would be
# shorter than this.
TAPS_BELOW = 32
# ... and builds those runs for this many bytes of them at a time, so they stay in cache.
CHUNK_BYTES = 256 * 1024


class _Conv(Layer):
    """What both convolutions share: geometry, optional bias, fused activation."""

    fresh_output = True

    def __init__(self, kernel_size, strides, padding, dilation_rate, activation, use_bias):
        super().__init__()
        self.kernel_size, self.strides = ic.pair(kernel_size), ic.pair(strides)
        self.dilation_rate, self.padding = ic.pair(dilation_rate), padding.lower()
        self.activation, self.use_bias = activation, use_bias
        self.act = activation_layer(activation)
        if self.act:
            self.act.input_private = True          # it reads only the convolution's own output
        self.params = ("kernel", "bias") if use_bias else ("kernel",)

    def _build_shared(self, input_shape, out_ch: int) -> tuple:
        """Window geometry and bias, built alike by both convolutions; the output shape."""
        if len(input_shape) != 3:
            raise ValueError(f"{type(self).__name__} expects an (H, W, C) input, got {input_shape}")
        self.geom = ic.geometry(input_shape[:2], self.kernel_size, self.strides,
                                self.dilation_rate, self.padding)
        self.plan = ic.phase_plan(self.geom, tuple(input_shape[:2]))
        self._work = None                  # DepthwiseConv2D._phase_work, for this plan
        if self.use_bias:
            self.bias = np.zeros(out_ch, np.float32)
        return (*self.geom.out_hw, out_ch)

    def _finish_forward(self, y):
        y = np.ascontiguousarray(y)
        if self.use_bias:
            length = vector.row_length(y.shape)
            vector.as_rows(y, length)[...] += vector.tile(self.bias.astype(y.dtype, copy=False),
                                                          length)
        return self.act.forward(y) if self.act else y

    def _start_backward(self, grad):
        if self.act:
            grad = self.act.backward(grad)
        grad = np.ascontiguousarray(grad)
        if self.use_bias:
            self.grads["bias"] = vector.channel_sums(
                vector.as_rows(grad, vector.row_length(grad.shape)), grad.shape[-1])
        return grad

    def _phases(self, x, axes=(1, 2), reuse=False):
        """x split into its stride phases (im2col.to_phases). reuse=True (training) writes them
        into this layer's work buffer, whose zero padding is made once: the phases are kept
        for backward, which comes before the next training forward."""
        plan, shape = self.plan, list(x.shape)
        shape[axes[0]], shape[axes[1]] = plan.shape
        shape = (*plan.strides, *shape)
        if reuse:
            return ic.to_phases(x, plan, self.work_buffer("phases", shape, x.dtype), axes,
                                zero_padding=False)
        return ic.to_phases(x, plan, np.empty(shape, x.dtype), axes)

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
        if (kh, kw) == (1, 1) and self.strides == (1, 1):
            self.layout = "pointwise"
        else:
            self.layout = "taps" if kw * in_ch < TAPS_BELOW else "rows"
        return out_shape

    def forward(self, x, training=False):
        kernel = self.kernel.reshape(-1, self.filters)
        n = len(x)
        if self.layout == "pointwise":
            self.cols = x.reshape(-1, x.shape[-1])          # a view when x is contiguous
            y = self.cols @ kernel
        elif self.layout == "rows":
            xp = ic.pad(x, self.geom)
            self.padded_shape = xp.shape
            self.cols = ic.im2col(xp, self.geom)          # (N*OH*OW, KH*KW*C)
            y = self.cols @ kernel
        else:
            y = self._forward_taps(x, training)
        return self._finish_forward(y.reshape(n, *self.output_shape))

    # ---- the "taps" layout -------------------------------------------------------------------
    # rows[(tap, c), (n, oh, w')] = the phase value under the tap, for every phase column
    # w' < Wph, taps in PhasePlan.tap_order (the kernel's rows are permuted to match). The
    # rows are built and multiplied a few samples at a time, so that they stay in cache, and
    # built again in backward rather than kept.

    def _taps_kernel(self) -> np.ndarray:
        """The kernel as a (taps * C, O) matrix with its taps in the phase plan's order."""
        taps = self.kernel_size[0] * self.kernel_size[1]
        return self.kernel.reshape(taps, -1, self.filters)[list(self.plan.tap_order)].reshape(
            -1, self.filters)

    def _taps_chunks(self, flat, n):
        """(first sample, samples, rows) a few samples at a time: rows is one buffer, reused,
        of (taps * C, samples * OH * Wph) holding those samples' runs."""
        plan, channels = self.plan, flat.shape[2]
        run = self.geom.out_hw[0] * plan.shape[1]
        taps = len(plan.tap_order)
        step = max(1, min(n, CHUNK_BYTES // (taps * channels * run * flat.itemsize)))
        views, start = [], 0            # per group: its runs over the whole batch, its rows
        for group in plan.groups:
            views.append((ic.runs_view(flat[group.a, group.b], group, plan.shape[1], run),
                          slice(start, start + np.size(group.taps))))
            start += np.size(group.taps)
        buffer = np.empty((taps, channels, step, run), flat.dtype)
        for first in range(0, n, step):
            count = min(step, n - first)
            rows = buffer if count == step else np.empty((taps, channels, count, run), flat.dtype)
            for view, taps_slice in views:
                chunk = view[:, :, :, first:first + count]
                rows[taps_slice].reshape(chunk.shape)[...] = chunk
            yield first, count, rows.reshape(-1, count * run)

    def _forward_taps(self, x, training):
        plan, (out_h, out_w), n = self.plan, self.geom.out_hw, len(x)
        # Channel-major phases (sh, sw, C, N, Hph*Wph): a tap's run over (oh, w') is contiguous.
        phases = self._phases(x.transpose(3, 0, 1, 2), axes=(2, 3), reuse=training)
        self.flat = phases.reshape(*phases.shape[:4], -1)
        kernel = self._taps_kernel().astype(np.result_type(x, self.kernel), copy=False)
        full = np.empty((n, out_h, plan.shape[1], self.filters), kernel.dtype)
        for first, count, rows in self._taps_chunks(self.flat, n):
            np.matmul(rows.T, kernel, out=full[first:first + count].reshape(-1, self.filters))
        return full[:, :, :out_w, :]

    def backward(self, grad):
        grad = self._start_backward(grad)
        if self.layout == "taps":
            return self._backward_taps(grad)
        kernel = self.kernel.reshape(-1, self.filters)
        g = grad.reshape(-1, self.filters)
        self.grads["kernel"] = (self.cols.T @ g).reshape(self.kernel.shape)
        if not self.input_grad:
            return None
        d_cols = g @ kernel.T
        if self.layout == "pointwise":
            return d_cols.reshape(grad.shape[:-1] + (self.input_shape[-1],))
        return ic.unpad(ic.col2im(d_cols, self.padded_shape, self.geom), self.geom)

    def _backward_taps(self, grad):
        plan, (out_h, out_w) = self.plan, self.geom.out_hw
        n, wph, order = len(grad), plan.shape[1], plan.tap_order
        # The gradient at full phase width, zero in the columns past OW.
        full = np.empty((n, out_h, wph, self.filters), grad.dtype)
        full[:, :, :out_w, :] = grad
        full[:, :, out_w:, :] = 0
        full = full.reshape(n, -1, self.filters)
        d_kernel = np.zeros((self.kernel.size // self.filters, self.filters), grad.dtype)
        part = np.empty_like(d_kernel)
        for first, count, rows in self._taps_chunks(self.flat, n):
            d_kernel += np.matmul(rows, full[first:first + count].reshape(-1, self.filters),
                                  out=part)
        taps = len(order)
        unpermuted = np.empty((taps, d_kernel.size // (taps * self.filters), self.filters),
                              grad.dtype)
        unpermuted[list(order)] = d_kernel.reshape(taps, -1, self.filters)
        self.grads["kernel"] = unpermuted.reshape(self.kernel.shape)
        if not self.input_grad:
            return None
        # d rows = kernel @ grad^T, sent back along each tap's run.
        channels = self.input_shape[-1]
        kernel = self._taps_kernel().astype(grad.dtype, copy=False)
        d_rows = (kernel @ full.reshape(-1, self.filters).T).reshape(taps, channels, n, -1)
        d_flat = np.zeros(self.flat.shape, grad.dtype)
        start = 0
        for group in plan.groups:
            for r, c in np.ndindex(np.shape(group.taps)):
                begin = (group.row0 + r * group.row_step) * wph + group.col0 + c * group.col_step
                d_flat[group.a, group.b, :, :, begin:begin + d_rows.shape[-1]] += d_rows[start]
                start += 1
        d_x = np.empty((channels, n, *self.input_shape[:2]), grad.dtype)
        ic.from_phases(d_flat.reshape(*d_flat.shape[:4], *plan.shape), plan, d_x, axes=(2, 3))
        return d_x.transpose(1, 2, 3, 0)

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

    def _tiled_kernel(self, width: int, dtype) -> np.ndarray:
        """(KH*KW, width*C*M): each tap's weights repeated once per column of `width`."""
        k = self.kernel.reshape(-1, 1, self.output_shape[-1])
        tiled = np.empty((len(k), width, k.shape[-1]), dtype)
        tiled[...] = k
        return tiled.reshape(len(k), -1)

    def _phase_work(self):
        """Per phase with real input positions: (its copies entry, its TapGroup or None), and
        per group its taps as index arrays (forward order and flipped), made once."""
        work = getattr(self, "_work", None)
        if work is None:
            plan = self.plan
            by_phase = {(group.a, group.b): group for group in plan.groups}
            phases = [(copy, by_phase.get(divmod(index, plan.strides[1])))
                      for index, copy in enumerate(plan.copies) if copy[0][2] and copy[1][2]]
            taps = {group: (np.array(group.taps), np.array(group.taps)[::-1, ::-1])
                    for group in plan.groups}
            work = self._work = (phases, taps)
        return work

    def _tap_views(self):
        """Per tap group: (its taps as an index array, a view of every tap of the group over
        its phase of the kept input, self.flat)."""
        taps = self._phase_work()[1]
        out_hw, width = self.geom.out_hw, self.output_shape[-1]
        for group in self.plan.groups:
            yield taps[group][0], ic.taps_view(self.flat[group.a, group.b], group, out_hw, width)

    def forward(self, x, training=False):
        phases = self._phases(self._spread(x), reuse=training)
        self.flat = phases.reshape(*phases.shape[:4], -1)      # (sh, sw, N, Hph, Wph*C*M)
        k = self._tiled_kernel(self.geom.out_hw[1], np.result_type(x, self.kernel))
        y = None
        for taps, view in self._tap_views():
            # Every tap of the group at once: einsum runs one multiply-add pass per tap,
            # without the temporary that y += tap * k would write and read back.
            part = np.einsum("ijnhq,ijq->nhq", view, k[taps])
            if y is None:
                y = part
            else:
                y += part
        return self._finish_forward(y.reshape(len(x), *self.output_shape))

    def backward(self, grad):
        grad = self._start_backward(grad)
        plan, (out_h, out_w), width = self.plan, self.geom.out_hw, self.output_shape[-1]
        n = len(grad)
        g = grad.reshape(n, out_h, out_w * width)
        phases, taps = self._phase_work()
        d_k = np.empty((len(plan.tap_order), out_w * width), g.dtype)
        for group_taps, view in self._tap_views():
            for (r, c), tap in np.ndenumerate(group_taps):    # sum over batch and positions
                np.einsum("nhq,nhq->q", view[r, c], g, out=d_k[tap])
        self.grads["kernel"] = vector.column_sums(
            d_k.reshape(-1, out_w, width).transpose(1, 0, 2).reshape(out_w, -1)).reshape(
            self.kernel.shape)
        if not self.input_grad:
            return None
        # The adjoint, phase by phase: the gradient at the phase's real input positions is the
        # sum over its taps of the output gradient shifted back by the tap, times the tap's
        # weights. The gradient sits in a zero border as wide as the largest shift, so every
        # shifted view stays inside it.
        (shift_r, shift_c), (hph, wph) = plan.shifts, plan.shape
        padded = self.work_buffer("padded_grad", (n, shift_r + hph, (shift_c + wph) * width),
                                  g.dtype)               # the border is never written: zeros
        rows, cols = (shift_r, shift_r + out_h), (shift_c * width, (shift_c + out_w) * width)
        padded[:, rows[0]:rows[1], cols[0]:cols[1]] = g
        (h, w), (sh, sw) = self.input_shape[:2], plan.strides
        if (sh, sw) == (1, 1):           # one phase: its real positions are all of d_x
            # The output gradient now lives on in `padded`: in a training step its own
            # array can take d_x when the shapes agree (padding "same").
            scratch = self.scratch_grad(g)
            same = scratch is not None and g.shape == (n, h, w * width)
            d_spread = scratch if same else np.empty((n, h, w * width), g.dtype)
        elif all(group is not None for _, group in phases):
            d_spread = np.empty((n, h, w, width), g.dtype)   # every position is written below
        else:
            d_spread = np.zeros((n, h, w, width), g.dtype)   # (phases without taps stay 0)
        k = self._tiled_kernel(max(copy[1][2] for copy, _ in phases), g.dtype)
        for ((r0, x_r, n_r), (c0, x_c, n_c)), group in phases:
            if group is None:
                continue
            view = ic.taps_view(padded, group, (n_r, n_c), width, flipped_from=plan.shifts,
                                origin=(r0, c0))
            k_group = k[taps[group][1], :n_c * width]
            if (sh, sw) == (1, 1):
                np.einsum("ijnhq,ijq->nhq", view, k_group, out=d_spread)
            else:
                part = np.einsum("ijnhq,ijq->nhq", view, k_group).reshape(n, n_r, n_c, width)
                vector.items(d_spread)[:, x_r::sh, x_c::sw] = vector.items(part)
        return self._gather(d_spread.reshape(n, h, w, width))

    def macs(self):
        return int(np.prod(self.output_shape[:2])) * int(self.kernel.size)

    def __repr__(self):
        return f"DepthwiseConv2D(depth_multiplier={self.depth_multiplier}, {self._config()})"
