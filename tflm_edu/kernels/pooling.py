"""AVERAGE_POOL_2D and MAX_POOL_2D: the mean or the max of each filter window, per channel.

Mirrors tensorflow/lite/micro/kernels/pooling.cc and pooling_common.cc (OpDataPooling,
PoolingPrepare), with the arithmetic of reference_ops::AveragePool / MaxPool (float) and
reference_integer_ops::AveragePool / MaxPool (int8, int16).

Shapes: input and output are [batches, height, width, depth] (NHWC). A window only
counts the taps that fall inside the image: with SAME padding the border windows are
smaller, and an average divides by the number of in-image taps (filter_count), not by
filter_height * filter_width.

Pooling never rescales: an int8 or int16 output must carry the input's scale and zero
point, so the average is taken directly on the stored integers.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tflm_edu.errors import ModelError
from tflm_edu.kernels.kernel_api import Registration, ensure, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule, inputs_then_output
from tflm_edu.kernels.quantization_util import (activation_function_with_min_max,
                                                calculate_activation_range_float,
                                                constant_array,
                                                calculate_activation_range_quantized)
from tflm_edu.schema.enums import BuiltinOperator as Op, Padding, TensorType
from tflm_edu.schema.options import Pool2DOptions
from tflm_edu.windows import (MAX_BORDERED_ELEMENTS, check_int16_fields,
                              compute_padding_height_width, tap as tap_slice, window_view)
from tflm_edu.memory.layout import BUILTIN, KERNELS, c_struct, m

INPUT, OUTPUT = 0, 0

FLOAT32_LOWEST = np.finfo(np.float32).min
OWN_ELEMENTS = 1 << 16   # a bound float max pool's work array this small is its own
FEW_TAPS = 4             # ... and up to this many taps it reads them through their views
QUANTIZED_TYPES = {TensorType.INT8: np.int8, TensorType.INT16: np.int16}


@dataclass
class OpDataPooling:
    padding_height: int = 0  # TfLitePaddingValues: rows of padding above the image
    padding_width: int = 0  # ... and columns left of it
    activation_min: int = 0
    activation_max: int = 0
    activation_min_f32: float = 0.0
    activation_max_f32: float = 0.0
    # Not in TFLM: the number of in-image taps of every window, [out_height, out_width].
    # The C++ counts them inside the loop; they depend only on shapes, so count them once.
    filter_count: np.ndarray | None = None


def init(context, node):
    return OpDataPooling()


def prepare(context, node):
    data: OpDataPooling = node.user_data
    params = node.builtin_data or Pool2DOptions()
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    _check_shapes(data, params, input, output)
    if input.type == TensorType.FLOAT32:
        ensure(output.type == TensorType.FLOAT32, "float32 input needs a float32 output")
        data.activation_min_f32, data.activation_max_f32 = \
            calculate_activation_range_float(params.fused_activation_function)
        return
    if input.type not in QUANTIZED_TYPES:
        raise unsupported_type(node, input)
    ensure(output.type == input.type, "input and output types differ")
    ensure(input.quantization is not None and output.quantization is not None,
           "quantized pooling needs quantized input and output tensors")
    # The C++ subtracts the two float scales in float, then compares in double.
    scale_diff = abs(np.float32(input.scale) - np.float32(output.scale))
    ensure(float(scale_diff) <= 1.0e-6,
           f"pooling does not rescale: input scale {input.scale} and output scale "
           f"{output.scale} must be equal")
    ensure(input.zero_point == output.zero_point,
           f"pooling does not rescale: input zero point {input.zero_point} and output "
           f"zero point {output.zero_point} must be equal")
    data.activation_min, data.activation_max = calculate_activation_range_quantized(
        params.fused_activation_function, output.scale, output.zero_point,
        QUANTIZED_TYPES[output.type])


def _check_shapes(data, params, input, output):
    """CalculateOpDataPooling (padding), plus the shape checks the C++ leaves to DCHECKs."""
    ensure(len(input.shape) == 4, f"input must be 4-D [batches, height, width, depth], "
                                  f"got {list(input.shape)}")
    ensure(len(output.shape) == 4, f"output must be 4-D, got {list(output.shape)}")
    ensure(params.stride_h > 0 and params.stride_w > 0,
           f"strides must be positive, got stride_h={params.stride_h} "
           f"stride_w={params.stride_w}")
    ensure(params.filter_height > 0 and params.filter_width > 0,
           f"filter size must be positive, got {params.filter_height}x{params.filter_width}")
    ensure(params.padding in (Padding.SAME, Padding.VALID),
           f"padding must be SAME or VALID, got {params.padding}")
    batches, height, width, depth = input.shape
    out_height, out_width, data.padding_height, data.padding_width = \
        compute_padding_height_width(params.stride_h, params.stride_w, 1, 1,
                                     height, width, params.filter_height,
                                     params.filter_width, params.padding)
    check_int16_fields("PoolParams", padding_height=data.padding_height,
                       padding_width=data.padding_width)
    ensure(out_height > 0 and out_width > 0,
           f"a {params.filter_height}x{params.filter_width} filter does not fit in a "
           f"{height}x{width} input (the output would be empty)")
    expected = (batches, out_height, out_width, depth)
    ensure(tuple(output.shape) == expected,
           f"output shape {list(output.shape)} should be {list(expected)} for this input, "
           f"filter, stride and padding")
    data.filter_count = (
        _taps_inside(out_height, params.stride_h, data.padding_height,
                     params.filter_height, height)[:, None] *
        _taps_inside(out_width, params.stride_w, data.padding_width,
                     params.filter_width, width)[None, :])


def _taps_inside(out_size, stride, padding, filter_size, in_size):
    """Along one axis: how many taps of each window fall inside the image
    (filter_end - filter_start in the reference loops)."""
    origin = np.arange(out_size) * stride - padding
    start = np.maximum(0, -origin)
    end = np.minimum(filter_size, in_size - origin)
    return end - start


def _eval_pool(context, node, pool_float, pool_quantized, window_arg):
    """AverageEval / MaxEval: the window from the options and OpData, then the float32 or
    the quantized pooling function (window_arg(data) is their third argument)."""
    data: OpDataPooling = node.user_data
    params = node.builtin_data or Pool2DOptions()
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    window = (params.filter_height, params.filter_width, params.stride_h,
              params.stride_w, data.padding_height, data.padding_width)
    if input.type == TensorType.FLOAT32:
        result = pool_float(input.data, window, window_arg(data),
                            data.activation_min_f32, data.activation_max_f32)
    else:
        result = pool_quantized(input.data, window, window_arg(data),
                                data.activation_min, data.activation_max)
    output.data[...] = result.reshape(output.data.shape)


def average_eval(context, node):
    """AVERAGE_POOL_2D divides each window's sum by how many of its taps are inside."""
    _eval_pool(context, node, average_pool_float, average_pool_quantized,
               lambda data: data.filter_count)


def max_eval(context, node):
    """MAX_POOL_2D needs only the output's size, which filter_count has."""
    _eval_pool(context, node, max_pool_float, max_pool_quantized,
               lambda data: data.filter_count.shape)


# ----------------------------------------------------------------------------- reference math


def useful_taps(pad, out_size, stride, filter_size, in_size) -> tuple[int, int]:
    """Along one axis, the taps [first, last) that fall inside the image for at least one
    output position; every other tap reads only border (TFLM's loops clip them away)."""
    return max(0, pad - (out_size - 1) * stride), min(filter_size, pad + in_size)


def window_taps(input, window, out_shape, fill):
    """Yield, for filter_y then filter_x (the reference loop order), the input value under
    that tap for every output position: an [batches, out_height, out_width, depth] strided
    view. Taps outside the image read `fill`, a value chosen so it cannot change the
    result (0 for a sum, the type's lowest value for a max) - so taps that never reach the
    image are skipped, and a huge filter costs no more than the image it covers."""
    border, taps = pool_border(input.shape, window, out_shape)
    padded = input
    if any(border):
        top, bottom, left, right = border
        padded = np.pad(input, ((0, 0), (top, bottom), (left, right), (0, 0)),
                        constant_values=fill)
    yield from tap_views(padded, window, out_shape, taps)


def pool_border(input_shape, window, out_shape):
    """((top, bottom, left, right) border, (taps down, taps across)) for window_taps: the
    useful taps only, and as much border as the last window's useful taps need."""
    filter_height, filter_width, stride_height, stride_width, pad_top, pad_left = window
    out_height, out_width = out_shape
    batches, height, width, depth = input_shape
    y0, y1 = useful_taps(pad_top, out_height, stride_height, filter_height, height)
    x0, x1 = useful_taps(pad_left, out_width, stride_width, filter_width, width)
    # Border on every side for the last window's useful taps (SAME padding puts the odd
    # row or column at the bottom / right); the windows now start at tap y0, x0.
    top, left = pad_top - y0, pad_left - x0
    bottom = max(0, (out_height - 1) * stride_height + (y1 - y0) - top - height)
    right = max(0, (out_width - 1) * stride_width + (x1 - x0) - left - width)
    elements = batches * (top + height + bottom) * (left + width + right) * depth
    if elements > MAX_BORDERED_ELEMENTS:
        raise ModelError(f"the pooling windows (filter {filter_height}x{filter_width}, "
                         f"stride {stride_height}x{stride_width}) need a bordered input of "
                         f"{elements:,} elements; tflm_edu refuses more than "
                         f"{MAX_BORDERED_ELEMENTS:,}")
    return (top, bottom, left, right), (y1 - y0, x1 - x0)


def tap_views(padded, window, out_shape, taps):
    """The strided view of every useful tap of the bordered input, in loop order."""
    stride = (window[2], window[3])
    return [tap_slice(padded, out_shape, stride, (1, 1), filter_y, filter_x)
            for filter_y in range(taps[0]) for filter_x in range(taps[1])]


# ----------------------------------------------------------------------------- the bound Eval


def bind(context, node):
    """The invoke plan's Eval (Registration.bind) for AVERAGE_POOL_2D and MAX_POOL_2D, int8
    and float32: the bordered input (its border filled once), every tap's view and the
    work arrays set up once; the arithmetic is the functions above, tap by tap in place."""
    data: OpDataPooling = node.user_data
    params = node.builtin_data or Pool2DOptions()
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    average = node.op_name == "AVERAGE_POOL_2D"
    if input.type not in (TensorType.FLOAT32, TensorType.INT8):
        return None
    floating = input.type == TensorType.FLOAT32
    window = (params.filter_height, params.filter_width, params.stride_h,
              params.stride_w, data.padding_height, data.padding_width)
    out_shape = data.filter_count.shape
    border, taps = pool_border(input.shape, window, out_shape)
    fill = 0 if average else (-np.inf if floating else np.iinfo(input.data.dtype).min)
    source = input.data
    if any(border):      # the interior is copied in at every invoke; the border stays
        top, bottom, left, right = border
        b, h, w, c = input.shape
        padded = np.full((b, top + h + bottom, left + w + right, c), fill, input.data.dtype)
        interior = padded[:, top:top + h, left:left + w, :]
    else:
        padded, interior = source, None
    views = tap_views(padded, window, out_shape, taps)
    out = output.data.reshape((input.shape[0],) + out_shape + (input.shape[3],))
    work = context.work_array
    if floating:
        act_min, act_max = np.float32(data.activation_min_f32), np.float32(data.activation_max_f32)
        total, mask = work(out.shape, np.float32), work(out.shape, np.bool_)
        count = data.filter_count.astype(np.float32)[None, :, :, None]

        def pool():        # invoke() silences float warnings: inf and NaN are results
            if average:            # total += tap, then / filter_count
                total[...] = 0.0
                for view in views:
                    np.add(total, view, out=total)
                np.divide(total, count, out=total)
            else:                  # std::max(max, tap): NaN taps never win
                total[...] = FLOAT32_LOWEST
                for view in views:
                    np.less(total, view, out=mask)
                    np.copyto(total, view, where=mask)
            # activation_function_with_min_max, spelled as the std:: ternaries
            np.less(total, act_min, out=mask)
            np.copyto(total, act_min, where=mask)
            np.less(act_max, total, out=mask)
            np.copyto(total, act_max, where=mask)
            out[...] = total
        if not average:
            pool = bind_max_float(padded, window, out_shape, taps, out, act_min, act_max,
                                  work, in_order=pool)
    else:
        act_min, act_max = data.activation_min, data.activation_max
        if average:
            acc = work(out.shape, np.int32)
            positive = work(out.shape, np.bool_)
            count = data.filter_count.astype(np.int32)[None, :, :, None]
            half = count // 2

            def pool():
                acc[...] = 0
                for view in views:
                    np.add(acc, view, out=acc)
                # (acc + half) / count for acc > 0, -((half - acc) / count) otherwise
                np.greater(acc, 0, out=positive)
                np.add(acc, np.where(positive, half, -half), out=acc)
                np.abs(acc, out=acc)
                np.floor_divide(acc, count, out=acc)
                np.negative(acc, out=acc, where=~positive)
                np.clip(acc, act_min, act_max, out=acc)
                out[...] = acc
        else:
            result = work(out.shape, input.data.dtype)

            def pool():
                result[...] = np.iinfo(input.data.dtype).min
                for view in views:
                    np.maximum(result, view, out=result)
                np.clip(result, act_min, act_max, out=out)

    def run():
        if interior is not None:
            interior[...] = source
        pool()
    return run


def bind_max_float(padded, window, out_shape, taps, out, act_min, act_max, work, in_order):
    """pool() for a bound float MAX_POOL_2D in a few numpy calls instead of two per tap.

    The C++ keeps max = (max < tap) ? tap : max from the lowest float: NaN taps never win,
    and of two equal taps the earlier stays. Equal floats have the same bits but for +0.0
    and -0.0, so without a -0.0 in the input the result is simply the largest non-NaN tap
    (or the lowest float): np.fmax skips NaN, and the order of the taps no longer matters.
    The smallest int32 is the bits of -0.0 (0x80000000): when argmin finds it, `in_order`,
    the tap-by-tap loop, runs instead.

    A few taps: np.fmax tap view by tap view. More: the taps copied into one array, and
    one np.fmax.reduce."""
    n = taps[0] * taps[1]
    if n <= 0:
        return in_order
    bits = padded.reshape(-1).view(np.int32)
    lowest_bits = np.iinfo(np.int32).min
    # max(max(result, lowest), act_min) in one: act_min is never below the lowest float.
    low = np.full(out.shape, max(act_min, FLOAT32_LOWEST), np.float32)
    high = constant_array(act_max, out.shape)
    fmax, minimum = np.fmax, np.minimum
    if n <= FEW_TAPS:
        views = tap_views(padded, window, out_shape, taps)

        def pool():
            if bits[bits.argmin()] == lowest_bits:
                in_order()
                return
            fmax(views[0], low, out=out)
            for view in views[1:]:
                fmax(out, view, out=out)
            minimum(out, high, out=out)
        return pool
    by_tap = window_view(padded, out_shape, taps, window[2:4], (1, 1))
    by_tap = by_tap.transpose(3, 4, 0, 1, 2, 5)           # [tap y, tap x, b, out_y, out_x, c]
    # The taps, then `low` as one more row. A small array is the op's own: that row is
    # then written once.
    own = (n + 1) * out.size <= OWN_ELEMENTS
    values = (np.empty if own else work)((n + 1,) + out.shape, np.float32)
    taps_view, low_row = values[:n].reshape(by_tap.shape), values[n]
    if own:
        low_row[...] = low

    def pool():
        if bits[bits.argmin()] == lowest_bits:
            in_order()
            return
        taps_view[...] = by_tap
        if not own:
            low_row[...] = low
        fmax.reduce(values, axis=0, out=out)           # NaN never wins against `low`
        minimum(out, high, out=out)
    return pool


def average_pool_float(input, window, filter_count, act_min, act_max):
    """reference_ops::AveragePool (float): total += tap in float32, taps in loop order,
    then total / filter_count. Padded taps add +0.0, which leaves a float32 sum that
    started at +0.0 bit-for-bit unchanged."""
    total = np.zeros((input.shape[0], *filter_count.shape, input.shape[3]), np.float32)
    with np.errstate(over="ignore", invalid="ignore"):  # inf and NaN go through, as in C++
        for tap in window_taps(input, window, filter_count.shape, 0.0):
            total += tap
        average = total / filter_count.astype(np.float32)[None, :, :, None]
    return activation_function_with_min_max(average, act_min, act_max)


def average_pool_quantized(input, window, filter_count, act_min, act_max):
    """reference_integer_ops::AveragePool: acc = sum of the in-image taps, then a division
    by filter_count that rounds half away from zero:
        acc > 0 ? (acc + filter_count / 2) / filter_count
                : (acc - filter_count / 2) / filter_count      (C++ division truncates)
    then clamp to the activation range."""
    acc = np.zeros((input.shape[0], *filter_count.shape, input.shape[3]), np.int64)
    for tap in window_taps(input, window, filter_count.shape, 0):
        acc += tap
    count = filter_count.astype(np.int64)[None, :, :, None]
    half = count // 2
    # For acc <= 0, truncating (acc - half) / count toward zero is -((half - acc) // count).
    acc = np.where(acc > 0, (acc + half) // count, -((half - acc) // count))
    return np.clip(acc, act_min, act_max).astype(input.dtype)


def max_pool_float(input, window, out_shape, act_min, act_max):
    """reference_ops::MaxPool (float): max starts at the lowest float and takes
    std::max(max, tap) = (max < tap) ? tap : max - so NaN taps are skipped, and of two
    equal values (-0.0 and +0.0) the earlier one stays."""
    result = np.full((input.shape[0], *out_shape, input.shape[3]), FLOAT32_LOWEST, np.float32)
    for tap in window_taps(input, window, out_shape, -np.inf):
        result = np.where(result < tap, tap, result)
    return activation_function_with_min_max(result, act_min, act_max)


def max_pool_quantized(input, window, out_shape, act_min, act_max):
    """reference_integer_ops::MaxPool: the largest in-image tap, clamped."""
    lowest = np.iinfo(input.dtype).min
    result = np.full((input.shape[0], *out_shape, input.shape[3]), lowest, input.dtype)
    for tap in window_taps(input, window, out_shape, lowest):
        np.maximum(result, tap, out=result)
    return np.clip(result, act_min, act_max).astype(input.dtype)


def register_average_pool_2d():
    return Registration("AVERAGE_POOL_2D", prepare=prepare, eval=average_eval, init=init,
                        max_version=3, bind=bind)


def register_max_pool_2d():
    return Registration("MAX_POOL_2D", prepare=prepare, eval=max_eval, init=init,
                        max_version=3, bind=bind)


# The C structs this kernel puts in the arena, member by member as TFLM declares them
# (tflm_edu.memory.layout lays them out for each target).
c_struct("TfLitePoolParams", BUILTIN, m("padding", "enum"), m("stride_width", "int"),
         m("stride_height", "int"), m("filter_width", "int"), m("filter_height", "int"),
         m("activation", "enum"), m("computed_padding", "TfLitePaddingValues"))
c_struct("OpDataPooling", KERNELS + "pooling.h", m("padding", "TfLitePaddingValues"),
         m("activation_min", "int32"), m("activation_max", "int32"),
         m("activation_min_f32", "float"), m("activation_max_f32", "float"))

SPECS = [
    OpSpec(Op.AVERAGE_POOL_2D, register_average_pool_2d, Pool2DOptions,
           (TensorType.FLOAT32, TensorType.INT8, TensorType.INT16),
           QuantizerRule(int8_version=2, output="same_as_input", int16_version=3),
           ArenaRecipe("TfLitePoolParams", "OpDataPooling", inputs_then_output(1))),
    OpSpec(Op.MAX_POOL_2D, register_max_pool_2d, Pool2DOptions,
           (TensorType.FLOAT32, TensorType.INT8, TensorType.INT16),
           QuantizerRule(int8_version=2, output="same_as_input", int16_version=3),
           ArenaRecipe("TfLitePoolParams", "OpDataPooling", inputs_then_output(1))),
]
