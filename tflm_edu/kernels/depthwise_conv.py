"""DEPTHWISE_CONV_2D: every input channel is filtered on its own, by depth_multiplier filters.

Mirrors tensorflow/lite/micro/kernels/depthwise_conv.cc and depthwise_conv_common.cc
(DepthwiseConvPrepare, CalculateOpDataDepthwiseConv, DepthwiseConvEval), with the
arithmetic of reference_integer_ops::DepthwiseConvPerChannel (int8, and its int16 overload:
"16x8") and reference_ops::DepthwiseConv (float32). It shares OpDataConv, the padding and the
quantization parameters with CONV_2D (conv.py), as the C++ shares conv.h.

Layouts:
    input  [batches, input_height, input_width, input_depth]
    filter [1, filter_height, filter_width, output_depth]
    bias   [output_depth] (optional)
    output [batches, output_height, output_width, output_depth]
with output_depth = input_depth * depth_multiplier: output channel
in_channel * depth_multiplier + m is input channel in_channel through filter m.

No reduction over channels means no matrix product: the sum over the filter_height *
filter_width taps is done tap by tap, each tap vectorized over the whole output.

16x8: int16 input and output, int8 filter, int64 bias - the only bias the int16 Eval
reads (it would read an int32 bias as int64, past its end: tflm_edu refuses that model).
As in CONV_2D, the int16 loop reads no zero point and sums in int64.
"""
from __future__ import annotations

import numpy as np

from tflm_edu.kernels.conv import (OpDataConv, bias_values, check_conv_io,
                                   check_output_shape, compute_geometry, prepare_by_type)
from tflm_edu.kernels.kernel_api import Registration, ensure, unsupported_type
from tflm_edu.kernels.conv import conv_like_arena_prepare
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule
from tflm_edu.kernels.conv import float_rows_order, float_sums, float_tail, window_filler
from tflm_edu.kernels.quantization_util import (FloatRequantizer, Requantizer, WeightedSum,
                                                int8_sum_range, requantize_16x8,
                                                requantize_to_output)
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType
from tflm_edu.schema.options import DepthwiseConv2DOptions
from tflm_edu.memory.layout import BUILTIN, c_struct, m

INPUT, FILTER, BIAS, OUTPUT = 0, 1, 2, 0
QUANTIZED_DIMENSION = 3  # per-channel filter scales run along the output channels


def init(context, node):
    return OpDataConv()


def prepare(context, node):
    data: OpDataConv = node.user_data
    params = node.builtin_data
    input, filter, bias, output = check_conv_io(context, node, "DEPTHWISE_CONV_2D")
    # Three inputs tell TFLM there is a bias: its Prepare then frees the temporary bias
    # tensor it never got (index -1) and crashes. Without a bias, leave the slot out.
    ensure(len(node.inputs) < 3 or node.inputs[BIAS] >= 0,
           "the bias is given as -1 (no tensor): TFLM's depthwise Prepare crashes on that; a "
           "DEPTHWISE_CONV_2D without bias has two inputs")
    output_depth = filter.shape[3]
    ensure(filter.shape[0] == 1, f"depthwise filter must be [1, height, width, channels], "
                                 f"got {list(filter.shape)}")
    input_depth = input.shape[3]
    ensure(params.depth_multiplier > 0, f"depth_multiplier must be positive, got "
                                        f"{params.depth_multiplier}")
    ensure(input_depth * params.depth_multiplier == output_depth,
           f"{input_depth} input channels x depth_multiplier {params.depth_multiplier} != "
           f"{output_depth} filter channels (filter {list(filter.shape)})")
    data.geometry = compute_geometry(params, input, filter, output)
    check_output_shape(output, data.geometry, output_depth)
    data.padding = data.geometry.padding

    prepare_by_type(node, data, params, input, filter, bias, output, output_depth,
                    "depthwise conv", QUANTIZED_DIMENSION,
                    lambda f, b, offset: depthwise_filter_taps(f, b, offset,
                                                               params.depth_multiplier),
                    int16_bias_types=(TensorType.INT64,))


def eval(context, node):
    data: OpDataConv = node.user_data
    params = node.builtin_data
    input, filter = context.get_input(node, INPUT), context.get_input(node, FILTER)
    bias = context.get_input(node, BIAS) if len(node.inputs) == 3 else None
    output = context.get_output(node, OUTPUT)
    x_padded = data.geometry.place(input.data, data.padded_input)
    if input.type == TensorType.FLOAT32:
        result = depthwise_conv_float(x_padded, filter.data, bias_values(bias),
                                      data.geometry, params.depth_multiplier, data.inside_masks,
                                      data.output_activation_min, data.output_activation_max)
    elif input.type == TensorType.INT8:
        taps, folded_bias = data.filter_matrix, data.folded_bias
        if taps is None:  # filter or bias is not a constant: fold them every time
            taps, folded_bias = depthwise_filter_taps(
                filter.data, bias_values(bias), -data.input_zero_point,
                params.depth_multiplier)
        result = depthwise_conv_per_channel(
            x_padded, taps, folded_bias, data.geometry, data.per_channel_output_multiplier,
            data.per_channel_output_shift, data.output_zero_point,
            data.output_activation_min, data.output_activation_max)
    elif input.type == TensorType.INT16:
        taps, bias_64 = data.filter_matrix, data.folded_bias
        if taps is None:  # filter or bias is not a constant
            taps, _ = depthwise_filter_taps(filter.data, None, 0, params.depth_multiplier)
            bias_64 = None if bias is None else bias_values(bias).astype(np.int64)
        result = depthwise_conv_per_channel_16x8(
            x_padded, taps, bias_64, data.geometry, data.per_channel_output_multiplier,
            data.per_channel_output_shift, data.output_activation_min,
            data.output_activation_max)
    else:
        raise unsupported_type(node, input)
    output.data[...] = result


# ----------------------------------------------------------------------------- reference math


def depthwise_filter_taps(filter, bias, input_offset, depth_multiplier):
    """The int8 filter as int32 [filter_h, filter_w, input_depth, depth_multiplier], and
    the bias with the input offset folded in (bias + input_offset * sum over taps), so
    the input need not be offset on every invoke."""
    _, filter_h, filter_w, output_depth = filter.shape
    taps = filter.reshape(filter_h, filter_w, output_depth // depth_multiplier,
                          depth_multiplier).astype(np.int32)
    folded = input_offset * filter.reshape(-1, output_depth).astype(np.int64).sum(axis=0)
    if bias is not None:
        folded = folded + bias.astype(np.int64)
    return taps, folded


def depthwise_conv_per_channel(x_padded, taps, folded_bias, geometry, multiplier, shift,
                               output_offset, act_min, act_max):
    """reference_integer_ops::DepthwiseConvPerChannel: for each output channel,
    acc = sum over (filter_y, filter_x) of filter * (input + input_offset), + bias,
    MultiplyByQuantizedMultiplier per channel, + output_offset, clamp.

    Integer sums do not depend on order, so the taps are added one at a time, each over
    the whole output; requantize_to_output wraps the sum to int32 as the C++ accumulator would."""
    g = geometry
    acc = None
    for filter_y in range(g.filter_height):
        for filter_x in range(g.filter_width):
            # [b, oy, ox, in_channel, 1] * [in_channel, m] -> [b, oy, ox, in_channel, m]
            term = g.tap(x_padded, filter_y, filter_x)[..., None] * taps[filter_y, filter_x]
            acc = term if acc is None else acc + term
    acc = acc.reshape(g.batches, g.output_height, g.output_width, -1) + folded_bias
    return requantize_to_output(acc, multiplier, shift, output_offset, act_min, act_max,
                                np.int8)


def depthwise_conv_per_channel_16x8(x_padded, taps, bias, geometry, multiplier, shift,
                                    act_min, act_max):
    """reference_integer_ops::DepthwiseConvPerChannel for int16 input: for each output
    channel, acc = sum over (filter_y, filter_x) of filter * input in int64 - no input
    offset - + bias, the int64 MultiplyByQuantizedMultiplier, no output offset, clamp.

    Each tap's product fits int32 (|filter * input| <= 2^22); the running sum is int64,
    as the C++ accumulator is, so no filter size makes it wrap."""
    g = geometry
    acc = np.zeros((g.batches, g.output_height, g.output_width) + taps.shape[2:], np.int64)
    for filter_y in range(g.filter_height):
        for filter_x in range(g.filter_width):
            acc += g.tap(x_padded, filter_y, filter_x)[..., None] * taps[filter_y, filter_x]
    acc = acc.reshape(g.batches, g.output_height, g.output_width, -1)
    if bias is not None:
        acc += bias
    return requantize_16x8(acc, multiplier, shift, 0, act_min, act_max, np.int64)


@np.errstate(over="ignore", invalid="ignore")  # inf and NaN are results here, as in C++
def depthwise_conv_float(x_padded, filter, bias, geometry, depth_multiplier, inside_masks,
                         act_min, act_max):
    """reference_ops::DepthwiseConv: for each output channel, total = 0.0f, then
    total += input * filter over filter_y, filter_x in that order (float32), then
    total + bias, then clamp. Taps outside the image are masked to 0 (adds nothing)."""
    g = geometry
    _, filter_h, filter_w, output_depth = filter.shape
    per_tap = filter.reshape(filter_h, filter_w, output_depth // depth_multiplier,
                             depth_multiplier)
    total = np.zeros((g.batches, g.output_height, g.output_width,
                      output_depth // depth_multiplier, depth_multiplier), np.float32)
    for filter_y in range(filter_h):
        for filter_x in range(filter_w):
            product = g.tap(x_padded, filter_y, filter_x)[..., None] * per_tap[filter_y, filter_x]
            inside = inside_masks[(filter_y, filter_x)]
            if inside is not None:
                product = np.where(inside[..., None], product, np.float32(0))
            total += product
    total = total.reshape(g.batches, g.output_height, g.output_width, output_depth)
    total = total + (bias if bias is not None else np.float32(0.0))
    return np.minimum(np.maximum(total, np.float32(act_min)), np.float32(act_max))


def count_macs(context, node):
    filter, output = context.get_input(node, FILTER), context.get_output(node, OUTPUT)
    return output.num_elements * filter.shape[1] * filter.shape[2]


# ----------------------------------------------------------------------------- the bound Eval

# From this many filter taps up, the int8 sums go through BLAS (every channel's windows
# times its taps, in float64: exact) rather than tap by tap.
MANY_TAPS = 16


def bind(context, node):
    """The invoke plan's Eval (Registration.bind) for an int8 or float32 DEPTHWISE_CONV_2D
    with a constant filter and bias: eval's arithmetic with the tap views, the filter, the
    requantization constants and the work arrays set up once. int8 sums in float32 over
    contiguous taps with a float64 requantization where both are exact (bind_int8_by_phase),
    else tap by tap in int32 (wrapping as the C++ accumulator does), or for large filters in
    float64 BLAS; float32 sums in the C++ order with a WeightedSum. Anything else runs eval
    (returns None)."""
    data: OpDataConv = node.user_data
    params = node.builtin_data
    input, filter = context.get_input(node, INPUT), context.get_input(node, FILTER)
    bias = context.get_input(node, BIAS) if len(node.inputs) == 3 else None
    output = context.get_output(node, OUTPUT)
    if not filter.is_constant or (bias is not None and not bias.is_constant):
        return None
    g = data.geometry
    x_padded = input.data if data.padded_input is None else data.padded_input
    _, filter_h, filter_w, output_depth = filter.shape
    channels, multiplier = output_depth // params.depth_multiplier, params.depth_multiplier
    shape = (g.batches, g.output_height, g.output_width, channels, multiplier)
    out = output.data.reshape(shape)
    n_taps = filter_h * filter_w
    # [filter_h, filter_w, b, out_h, out_w, channels]: each tap's input at every output
    by_tap = np.moveaxis(g.windows(x_padded), (3, 4), (0, 1))

    def place():
        g.place(input.data, data.padded_input)

    work = context.work_array
    if input.type == TensorType.INT8 and data.filter_matrix is not None:
        taps, folded = data.filter_matrix, data.folded_bias.reshape(channels, multiplier)
        run = bind_int8_by_phase(context, data, input, output, taps, folded, multiplier)
        if run is not None:
            return run
        acc = work(shape, np.int32)               # the C++ int32 accumulator, wrapping
        folded32 = folded.astype(np.int32)        # wraps as the C++ int32 does
        # |acc| is at most this (and already an int32): a left shift may still wrap it.
        largest = min(2**31 - 1, n_taps * 128 * 128 + int(np.abs(folded32.astype(np.int64))
                                                           .max(initial=0)))
        requantize = Requantizer(data.per_channel_output_multiplier.reshape(channels, -1),
                                 data.per_channel_output_shift.reshape(channels, -1),
                                 data.output_zero_point, data.output_activation_min,
                                 data.output_activation_max, shape, largest, alloc=work)
        if n_taps >= MANY_TAPS:
            # Sums of n_taps products of at most 2^14 (no offsets: they are in `folded`):
            # float32 is exact below 2^24.
            dtype = np.float32 if n_taps * 128 * 128 < 2**24 else np.float64
            rows = g.batches * g.output_height * g.output_width
            columns = work((channels, n_taps, rows), dtype)
            taps_f = np.ascontiguousarray(taps.reshape(n_taps, channels, multiplier)
                                          .transpose(1, 0, 2).astype(dtype))
            products = work((channels, rows, multiplier), dtype)
            acc_by_channel = acc.reshape(rows, channels, multiplier).transpose(1, 0, 2)

            def run():
                place()
                columns.reshape(channels, filter_h, filter_w, *shape[:3])[...] = \
                    np.moveaxis(by_tap, 5, 0)
                np.matmul(columns.transpose(0, 2, 1), taps_f, out=products)
                np.copyto(acc_by_channel, products, casting="unsafe")
                np.add(acc, folded32, out=acc)
                requantize(acc, out)
            return run
        # Tap by tap. numpy is quickest along a long last axis: with more output pixels
        # than channels, sum in [channel, m, b, y, x] order (then write out transposed).
        if g.batches * g.output_height * g.output_width > output_depth:
            layout = (3, 4, 0, 1, 2)                        # out axes -> [c, m, b, y, x]
            shape_cf = tuple(shape[a] for a in layout)
            acc = work(shape_cf, np.int32)
            requantize = Requantizer(
                data.per_channel_output_multiplier.reshape(channels, multiplier, 1, 1, 1),
                data.per_channel_output_shift.reshape(channels, multiplier, 1, 1, 1),
                data.output_zero_point, data.output_activation_min,
                data.output_activation_max, shape_cf, largest, alloc=work)
            folded32 = folded32[:, :, None, None, None]
            out = out.transpose(layout)
            tap_views = [np.moveaxis(by_tap[y, x], 3, 0)[:, None]
                         for y in range(filter_h) for x in range(filter_w)]
            tap_filters = [taps[y, x][:, :, None, None, None]
                           for y in range(filter_h) for x in range(filter_w)]
        else:
            tap_views = [by_tap[y, x][..., None]
                         for y in range(filter_h) for x in range(filter_w)]
            tap_filters = [taps[y, x] for y in range(filter_h) for x in range(filter_w)]
        term = work(acc.shape, np.int32)

        def run():
            place()
            acc[...] = folded32
            for view, weights in zip(tap_views, tap_filters):
                np.multiply(view, weights, out=term)
                np.add(acc, term, out=acc)
            requantize(acc, out)
        return run
    if input.type == TensorType.FLOAT32:
        if data.padded_input is not None and not np.isfinite(filter.data).all():
            return None   # a zero border times inf or NaN: NaN where the C++ skips the tap
        # Products [tap, channel, m, rows]: each channel's windows broadcast over its
        # depth_multiplier filters; the sums run along the taps (filter_y, filter_x order),
        # the outer axis, where numpy reduces fastest.
        weights, bias = filter.data.reshape(n_taps, channels, multiplier), bias_values(bias)
        if not WeightedSum.accepts(weights, bias):
            return None
        rows = g.batches * g.output_height * g.output_width
        order = float_rows_order(g)
        columns, sums = float_sums(weights[..., None], None if bias is None else
                                   bias.reshape(channels, multiplier, 1),
                                   (n_taps, channels, 1, rows),
                                   (n_taps, channels, multiplier, rows), work)
        out_view = out.transpose((3, 4) + order)
        fill_windows = window_filler(g, input.data, data.padded_input, columns, order)
        return float_tail(fill_windows, columns, sums, data, out_view, work)
    return None


class StridePhases:
    """The bordered input split by stride phase, so that every filter tap reads one
    contiguous run of memory.

    Output (oy, ox) meets tap (fy, fx) at bordered row oy * stride + fy * dilation. Split
    the bordered rows by their remainder modulo the stride (the phase), and that is row
    oy + (fy * dilation) // stride of phase (fy * dilation) % stride: the tap is a fixed
    shift inside one phase image. Each phase is a float32 grid [batches, grid_height,
    grid_width, channels], flattened, so a tap is a slice of it, shift_y * grid_width +
    shift_x pixels in, holding the tap's input at every grid point: the output pixels and
    a margin that is computed and never read. Outside the image the grid holds the input
    zero point (input + offset = 0: the tap adds nothing, as the C++ skips it).

    A tap that reads past the end of a grid row lands at the start of the next row, and
    past the last row in the next example's first rows: those are border too, so one
    border column (row) serves as the right (bottom) border of one row (example) and the
    left (top) border of the next. The grid is as small as that allows - a 6x6 image
    with a 3x3 filter needs a 7x7 grid, not 8x8. The grids are work arrays: every run
    writes the border and copies the image in."""

    def __init__(self, g, zero_point, alloc=np.empty):
        self.g = g
        self.zero_point = np.float32(zero_point)
        taps = [(fy * g.dilation_height, fx * g.dilation_width)
                for fy in range(g.filter_height) for fx in range(g.filter_width)]
        self.phase_of = [(ry % g.stride_height, rx % g.stride_width) for ry, rx in taps]
        shifts = [(ry // g.stride_height, rx // g.stride_width) for ry, rx in taps]
        phases = sorted(set(self.phase_of))
        spans = {(py, px): (span(g.padding.height, py, g.stride_height, g.input_height),
                            span(g.padding.width, px, g.stride_width, g.input_width))
                 for py, px in phases}
        self.grid_height = self.grid_width = 1
        for phase in phases:
            reach = [shift for shift, p in zip(shifts, self.phase_of) if p == phase]
            (i0, i1, _), (j0, j1, _) = spans[phase]
            self.grid_height = max(self.grid_height, grid_size(
                g.output_height, max(sy for sy, _ in reach), i0, i1))
            self.grid_width = max(self.grid_width, grid_size(
                g.output_width, max(sx for _, sx in reach), j0, j1))
        self.offsets = [sy * self.grid_width + sx for sy, sx in shifts]
        self.points = g.batches * self.grid_height * self.grid_width
        self.buffers, self.borders, self.copies = {}, [], []
        for phase in phases:
            buffer = alloc((self.points + max(self.offsets), g.input_depth), np.float32)
            self.buffers[phase] = buffer
            self.plan_phase(buffer, *spans[phase])

    def plan_phase(self, buffer, rows, columns):
        """The copy of the image part of one phase, and the border views around it."""
        g = self.g
        grid = buffer[:self.points].reshape(g.batches, self.grid_height, self.grid_width, -1)
        (i0, i1, y0), (j0, j1, x0) = rows, columns
        i1, j1 = min(i1, self.grid_height), min(j1, self.grid_width)
        self.borders += [buffer[self.points:], grid[:, :i0], grid[:, i1:],
                         grid[:, i0:i1, :j0], grid[:, i0:i1, j1:]]
        if i1 > i0 and j1 > j0:
            self.copies.append((grid[:, i0:i1, j0:j1],
                                slice(y0, y0 + (i1 - i0 - 1) * g.stride_height + 1,
                                      g.stride_height),
                                slice(x0, x0 + (j1 - j0 - 1) * g.stride_width + 1,
                                      g.stride_width)))
        self.borders = [b for b in self.borders if b.size]

    def fill(self, x):
        for border in self.borders:
            border.fill(self.zero_point)
        for grid, rows, columns in self.copies:
            grid[...] = x[:, rows, columns]

    def tap(self, k: int) -> np.ndarray:
        """[points, channels]: tap k's input at every grid point."""
        start = self.offsets[k]
        return self.buffers[self.phase_of[k]][start:start + self.points]

    def valid(self, values: np.ndarray) -> np.ndarray:
        """The output pixels of [points, depth] grid values: a view [batches,
        output_height, output_width * depth]."""
        g = self.g
        rows = values.reshape(g.batches, self.grid_height, -1)
        return rows[:, :g.output_height, :g.output_width * values.shape[1]]


def span(pad: int, phase: int, stride: int, size: int) -> tuple[int, int, int]:
    """Along one axis of a phase grid (index i is bordered position i * stride + phase):
    the first index inside the image, the index after the last, and the first image
    position."""
    first = max(0, -(-(pad - phase) // stride))
    stop = max(first, (size - 1 + pad - phase) // stride + 1)
    return first, stop, first * stride + phase - pad


def grid_size(outputs: int, reach: int, first: int, stop: int) -> int:
    """The rows (columns) a phase grid needs so that outputs 0..outputs-1, reading up to
    `reach` further, see the image where it is [first, stop) and border elsewhere - the
    reads past the grid's end landing in the next row's (example's) leading border."""
    return max(outputs, min(stop, outputs + reach), outputs + reach - first)


def bind_int8_by_phase(context, data, input, output, taps, folded, depth_multiplier):
    """The int8 bound Eval with float32 sums over contiguous taps (StridePhases) and the
    float64 requantization (FloatRequantizer): depth multiplier 1 tap by tap, or one input
    channel times depth_multiplier filters as a BLAS product over the taps. None when the
    shape or the requantization does not allow it (bind then uses the int32 loop)."""
    g = data.geometry
    channels = g.input_depth
    n_taps = g.filter_height * g.filter_width
    output_depth = channels * depth_multiplier
    if not (depth_multiplier == 1 or channels == 1):
        return None                                    # no contiguous layout for the taps
    weights = taps.reshape(n_taps, output_depth)                # [tap, output channel]
    folded = folded.reshape(-1).astype(np.int64)
    low, high = int8_sum_range(weights)
    # float32 holds every partial sum - taps, then the folded bias - exactly below 2^24
    if (128 * np.abs(weights).sum(axis=0) + np.abs(folded)).max(initial=0) >= 2**24:
        return None
    requantizer = FloatRequantizer.build(
        data.per_channel_output_multiplier, data.per_channel_output_shift,
        data.output_zero_point, data.output_activation_min, data.output_activation_max,
        low + folded, high + folded)
    if requantizer is None:
        return None
    work = context.work_array
    phases = StridePhases(g, data.input_zero_point, alloc=work)
    acc = work((phases.points, output_depth), np.float32)
    out = output.data.reshape(g.batches, g.output_height, -1)
    requantize = requantizer.bind(phases.valid(acc), out,
                                  lambda values: np.tile(values, g.output_width), alloc=work)
    x = input.data
    if depth_multiplier > 1:
        # One input channel: [points, taps and a one] @ [taps and the folded bias, filters]
        columns = work((n_taps + 1, phases.points), np.float32)
        matrix = np.vstack([weights, folded[None, :]]).astype(np.float32)

        def run():
            phases.fill(x)
            for k in range(n_taps):
                columns[k] = phases.tap(k)[:, 0]
            columns[n_taps] = 1.0
            np.matmul(columns.T, matrix, out=acc)
            requantize()
        return run
    # numpy is quickest along a long last axis: each tap as [grid rows, grid_width *
    # channels], times its weights tiled along a grid row.
    row = (-1, phases.grid_width * channels)
    tap_views = [phases.tap(k).reshape(row) for k in range(n_taps)]
    tap_weights = [np.tile(weights[k].astype(np.float32), phases.grid_width)
                   for k in range(n_taps)]
    bias = np.tile(folded.astype(np.float32), phases.grid_width)
    total = acc.reshape(row)
    term = work(total.shape, np.float32)

    def run():
        phases.fill(x)
        np.multiply(tap_views[0], tap_weights[0], out=total)
        np.add(total, bias, out=total)
        for view, w in zip(tap_views[1:], tap_weights[1:]):
            np.multiply(view, w, out=term)
            np.add(total, term, out=total)
        requantize()
    return run


def register_depthwise_conv_2d():
    return Registration("DEPTHWISE_CONV_2D", prepare=prepare, eval=eval, init=init,
                        max_version=7, count_macs=count_macs, bind=bind)


# The C structs this kernel puts in the arena, member by member as TFLM declares them
# (tflm_edu.memory.layout lays them out for each target).
c_struct("TfLiteDepthwiseConvParams", BUILTIN, m("padding", "enum"), m("stride_width", "int"),
         m("stride_height", "int"), m("depth_multiplier", "int"), m("activation", "enum"),
         m("dilation_width_factor", "int"), m("dilation_height_factor", "int"))

SPEC = OpSpec(Op.DEPTHWISE_CONV_2D, register_depthwise_conv_2d, DepthwiseConv2DOptions,
              (TensorType.FLOAT32, TensorType.INT8, TensorType.INT16),
              QuantizerRule(int8_version=3, weights_axis=3, int16_version=5),
              ArenaRecipe("TfLiteDepthwiseConvParams", "OpDataConv", conv_like_arena_prepare(3)),
              optional_inputs=frozenset({2}))
