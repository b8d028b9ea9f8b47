"""Explain one output element: where it reads, and every integer step that makes it.

For CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED and AVERAGE_POOL_2D this redoes, for a
single output element and with scalars, what the kernel's reference loop does - in the
order of TFLM's reference_integer_ops (conv.h, depthwise_conv.h, fully_connected.h,
pooling.h):

    acc = sum over the receptive field of (input + input_offset) * (filter + filter_offset)
    acc += bias
    acc = MultiplyByQuantizedMultiplier(acc, output_multiplier, output_shift)
    acc += output_offset
    output = clamp(acc, output_activation_min, output_activation_max)

The multipliers, shifts, offsets and clamp bounds are read from the node's OpData
(node.user_data), which the kernel's prepare() computed - the same numbers eval() uses.
Float models follow reference_ops: a float32 sum in loop order, + bias, clamp.

    e = explain(interpreter, op_index=0, output_index=(0, 10, 10, 3))
    print(e.text()); e.plot()
    assert e.value == e.interpreter_value
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tflm_edu.errors import InputError
from tflm_edu.kernels.quantization_util import multiply_by_quantized_multiplier
from tflm_edu.schema.enums import TensorType
from tflm_edu.schema.options import Pool2DOptions

EXPLAINED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "AVERAGE_POOL_2D")
MAX_TAPS_LISTED = 12


@dataclass
class Tap:
    """One term of the sum: where it reads the input (None outside the image) and the
    filter, the two values, and what it adds."""

    input_index: tuple | None
    filter_index: tuple | None
    input_value: float
    filter_value: float
    product: float


@dataclass
class Explanation:
    op_index: int
    op_name: str
    output_index: tuple
    quantized: bool
    taps: list = field(default_factory=list)
    steps: list = field(default_factory=list)  # (name, value, formula)
    value: float = 0
    interpreter_value: float = 0
    input_tensor: object = None
    window: tuple | None = None  # (batch, top, left, height, width, channels) for a picture
    input_offset: int = 0  # -input zero point, as the kernel adds it
    filter_offset: int = 0

    @property
    def matches(self) -> bool:
        a, b = np.float32(self.value), np.float32(self.interpreter_value)
        return bool(a == b or (np.isnan(a) and np.isnan(b)))

    def text(self) -> str:
        lines = [f"op {self.op_index} {self.op_name}, output element {list(self.output_index)}",
                 f"receptive field: {len(self.taps)} taps"
                 f" ({sum(t.input_index is None for t in self.taps)} outside the image)"]
        if self.quantized and self.op_name != "AVERAGE_POOL_2D":
            lines.append(f"  input_offset = {self.input_offset} (minus the input zero point), "
                         f"filter_offset = {self.filter_offset}")
        for t in self.taps[:MAX_TAPS_LISTED]:
            lines.append("  " + self._tap_text(t))
        if len(self.taps) > MAX_TAPS_LISTED:
            lines.append(f"  ... {len(self.taps) - MAX_TAPS_LISTED} more taps")
        for name, value, formula in self.steps:
            lines.append(f"{name:>22}: {_fmt(value):>14}   {formula}")
        verdict = "matches" if self.matches else "DIFFERS FROM"
        lines.append(f"result {_fmt(self.value)} {verdict} the interpreter's "
                     f"{_fmt(self.interpreter_value)}")
        return "\n".join(lines)

    def _tap_text(self, t: Tap) -> str:
        if t.input_index is None:
            return "outside the image: skipped"
        where = f"input{list(t.input_index)}"
        if t.filter_index is None:  # pooling: the value itself is summed
            return f"{where} = {_fmt(t.input_value)}"
        weight = f"filter{list(t.filter_index)}"
        if not self.quantized:
            return f"{where} {_fmt(t.input_value)} x {weight} {_fmt(t.filter_value)} " \
                   f"= {_fmt(t.product)}"
        return (f"{where} ({_fmt(t.input_value)} + {self.input_offset}) x {weight} "
                f"({_fmt(t.filter_value)} + {self.filter_offset}) = {_fmt(t.product)}")

    def plot(self, figsize=(11, 3.8)):
        """Left: the input with the receptive field outlined. Right: the pipeline, value
        after each step."""
        import matplotlib.pyplot as plt
        from matplotlib.patches import Rectangle

        from tflm_edu.viz.tensor_plot import dequantize
        fig, (left, right) = plt.subplots(1, 2, figsize=figsize,
                                          gridspec_kw={"width_ratios": [1, 1.4]})
        real = dequantize(self.input_tensor)
        if self.window is not None and real.ndim == 4:
            batch, top, left_x, height, width, channel = self.window
            left.imshow(real[batch, :, :, channel], cmap="viridis", interpolation="nearest")
            left.add_patch(Rectangle((left_x - 0.5, top - 0.5), width, height, fill=False,
                                     edgecolor="red", linewidth=2))
            read = len({t.input_index[3] for t in self.taps if t.input_index is not None})
            left.set_title(f"input channel {channel} (of {read} read): receptive field in red",
                           fontsize=9)
        else:
            flat = real.reshape(-1, real.shape[-1]) if real.ndim > 1 else real.reshape(1, -1)
            left.imshow(flat, cmap="viridis", aspect="auto", interpolation="nearest")
            left.set_title("input row (every element is read)", fontsize=9)
        names = [s[0] for s in self.steps]
        values = [float(s[1]) for s in self.steps]
        right.barh(range(len(values)), values, color="#4c72b0")
        right.set_yticks(range(len(values)), names, fontsize=8)
        right.invert_yaxis()
        if self.quantized:  # int32 sums and int8 results on one readable axis
            right.set_xscale("symlog", linthresh=10)
        for y, (v, s) in enumerate(zip(values, self.steps)):
            right.text(v, y, f" {_fmt(s[1])}", va="center", fontsize=8)
        right.set_title(f"op {self.op_index} {self.op_name} output {list(self.output_index)}"
                        f" = {_fmt(self.value)}", fontsize=9)
        fig.tight_layout()
        return fig

    def __repr__(self):
        return (f"Explanation(op {self.op_index} {self.op_name} {list(self.output_index)} = "
                f"{_fmt(self.value)}, {len(self.taps)} taps, "
                f"{'matches' if self.matches else 'differs'})")


def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.6g}"
    return f"{int(v):,}"


# ----------------------------------------------------------------------------- entry point


def explain(interpreter, op_index: int, output_index, run: bool = True) -> Explanation:
    """Explain output element `output_index` (a tuple, or a flat int) of op `op_index`.
    run=True runs the model from op 0 through op_index first (on the input now in the
    arena), so the op's inputs are still in the arena, and writes the input back afterwards
    (later ops may have reused its bytes); run=False uses the tensors as they are (right
    after the op ran, e.g. in the StepDebugger)."""
    from tflm_edu.viz.common import allocated_interpreter
    interpreter = allocated_interpreter(interpreter)
    if not 0 <= op_index < len(interpreter.nodes):
        raise InputError(f"op {op_index} does not exist: the model has ops 0 to "
                         f"{len(interpreter.nodes) - 1}")
    node = interpreter.nodes[op_index]
    if node.op_name not in EXPLAINED_OPS:
        raise InputError(f"op {op_index} is {node.op_name}; explain() knows "
                         f"{', '.join(EXPLAINED_OPS)}")
    output = interpreter.tensors[node.outputs[0]]
    index = _output_index(output.shape, output_index)
    saved = [interpreter.input(i).data.copy() for i in range(interpreter.inputs_size)]
    if run:
        steps = interpreter.steps()
        for event in steps:
            if event.op_index == op_index:
                break
        steps.close()
    explanation = EXPLAINERS[node.op_name](interpreter, node, index)
    explanation.interpreter_value = output.data[index].item()
    if run:  # ops after the input's last reader may have reused its bytes: put it back
        for i, data in enumerate(saved):
            interpreter.input(i).data[...] = data
    return explanation


def _output_index(shape, output_index) -> tuple:
    if isinstance(output_index, (int, np.integer)):
        size = int(np.prod(shape))
        if not 0 <= output_index < size:
            raise InputError(f"output element {output_index} does not exist: the output has "
                             f"{size} elements")
        return tuple(int(i) for i in np.unravel_index(int(output_index), shape))
    index = tuple(int(i) for i in output_index)
    if len(index) != len(shape) or any(not 0 <= i < n for i, n in zip(index, shape)):
        raise InputError(f"output index {list(index)} is outside the output shape {list(shape)}")
    return index


def _tensors(interpreter, node):
    t = interpreter.tensors
    inputs = [None if i < 0 else t[i] for i in node.inputs] + [None] * 3
    return inputs[0], inputs[1], inputs[2], t[node.outputs[0]]


# ----------------------------------------------------------------------------- the tail


def _quantized_tail(e: Explanation, acc: int, bias, multiplier, shift, output_zero_point,
                    act_min, act_max) -> None:
    """acc (already summed) -> + bias -> MultiplyByQuantizedMultiplier -> + output offset
    -> clamp, each step recorded."""
    e.steps.append(("sum of products", acc, "sum((input + input_offset) * (filter + "
                                            "filter_offset)) over the taps"))
    if bias is not None:
        acc += int(bias)
        e.steps.append(("+ bias", acc, f"bias = {int(bias):,} (int32, scale = "
                                       f"input_scale * filter_scale)"))
    scaled = int(multiply_by_quantized_multiplier(acc, int(multiplier), int(shift)))
    real = int(multiplier) / 2**31 * 2.0**int(shift)
    e.steps.append(("x multiplier, shift", scaled,
                    f"MultiplyByQuantizedMultiplier(acc, {int(multiplier)}, {int(shift)}) "
                    f"~ acc x {real:.6g}"))
    offset = scaled + int(output_zero_point)
    e.steps.append(("+ output offset", offset, f"output zero point {int(output_zero_point)}"))
    e.value = int(min(max(offset, int(act_min)), int(act_max)))
    e.steps.append(("clamp", e.value, f"to [{int(act_min)}, {int(act_max)}] (fused "
                                      f"activation, int8 range)"))


def _float_tail(e: Explanation, total, bias, act_min, act_max) -> None:
    e.steps.append(("sum of products", total, "float32 sum in the reference loop's order"))
    total = np.float32(total + (np.float32(bias) if bias is not None else np.float32(0.0)))
    if bias is not None:
        e.steps.append(("+ bias", total, f"bias = {float(bias):.6g}"))
    e.value = np.float32(min(max(total, np.float32(act_min)), np.float32(act_max)))
    e.steps.append(("clamp", e.value, f"to [{float(act_min):.6g}, {float(act_max):.6g}]"))


# ----------------------------------------------------------------------------- conv-like


def _conv_taps(input, filter, node, index, channels_of, filter_index_of, input_offset,
               filter_offset):
    """Walk the receptive field as the reference loop does: filter_y, filter_x, then the
    input channels; taps outside the image are listed but add nothing."""
    data = node.user_data
    g = data.geometry
    batch, out_y, out_x, out_channel = index
    in_y_origin = out_y * g.stride_height - data.padding.height
    in_x_origin = out_x * g.stride_width - data.padding.width
    quantized = input.type == TensorType.INT8
    taps, total = [], (0 if quantized else np.float32(0.0))
    for filter_y in range(g.filter_height):
        for filter_x in range(g.filter_width):
            in_y = in_y_origin + g.dilation_height * filter_y
            in_x = in_x_origin + g.dilation_width * filter_x
            inside = 0 <= in_y < g.input_height and 0 <= in_x < g.input_width
            for in_channel in channels_of(out_channel):
                f_index = filter_index_of(filter_y, filter_x, in_channel, out_channel)
                w = filter.data[f_index].item()
                if not inside:
                    taps.append(Tap(None, f_index, 0, w, 0))
                    continue
                x = input.data[batch, in_y, in_x, in_channel].item()
                if quantized:
                    product = (x + input_offset) * (w + filter_offset)
                    total += product
                else:
                    product = np.float32(np.float32(x) * np.float32(w))
                    total = np.float32(total + product)
                taps.append(Tap((batch, in_y, in_x, in_channel), f_index, x, w, product))
    height = (g.filter_height - 1) * g.dilation_height + 1
    width = (g.filter_width - 1) * g.dilation_width + 1
    window = (batch, in_y_origin, in_x_origin, height, width,
              next(iter(channels_of(out_channel))))
    return taps, total, window


def _explain_conv_like(interpreter, node, index, depthwise: bool) -> Explanation:
    input, filter, bias, output = _tensors(interpreter, node)
    data = node.user_data
    if depthwise:
        multiplier_count = node.builtin_data.depth_multiplier
        channels_of = lambda c: (c // multiplier_count,)  # noqa: E731
        filter_index_of = lambda fy, fx, ic, c: (0, fy, fx, c)  # noqa: E731
    else:
        filter_input_depth = filter.shape[3]
        per_group = filter.shape[0] // data.groups
        channels_of = lambda c: range((c // per_group) * filter_input_depth,  # noqa: E731
                                      (c // per_group + 1) * filter_input_depth)
        filter_index_of = lambda fy, fx, ic, c: (c, fy, fx, ic % filter_input_depth)  # noqa
    quantized = input.type == TensorType.INT8
    e = Explanation(node.index, node.op_name, index, quantized, input_tensor=input)
    # TFLM's int8 conv kernels take the filter as symmetric: only the input offset is used.
    e.input_offset = -data.input_zero_point
    e.taps, total, e.window = _conv_taps(input, filter, node, index, channels_of,
                                         filter_index_of, e.input_offset, 0)
    channel = index[3]
    b = None if bias is None else bias.data[channel].item()
    if quantized:
        _quantized_tail(e, total, b, data.per_channel_output_multiplier[channel],
                        data.per_channel_output_shift[channel], data.output_zero_point,
                        data.output_activation_min, data.output_activation_max)
    else:
        _float_tail(e, total, b, data.output_activation_min, data.output_activation_max)
    return e


# ----------------------------------------------------------------------------- fully connected


def _explain_fully_connected(interpreter, node, index) -> Explanation:
    input, filter, bias, output = _tensors(interpreter, node)
    data = node.user_data
    output_depth, accum_depth = filter.shape
    flat = int(np.ravel_multi_index(index, output.shape))
    batch, out_c = divmod(flat, output_depth)
    x_row = input.data.reshape(-1, accum_depth)[batch]
    quantized = input.type == TensorType.INT8
    e = Explanation(node.index, node.op_name, index, quantized, input_tensor=input,
                    input_offset=-data.input_zero_point, filter_offset=-data.filter_zero_point)
    total = 0 if quantized else np.float32(0.0)
    for d in range(accum_depth):
        x, w = x_row[d].item(), filter.data[out_c, d].item()
        if quantized:
            product = (x + e.input_offset) * (w + e.filter_offset)
            total += product
        else:
            product = np.float32(np.float32(x) * np.float32(w))
            total = np.float32(total + product)
        e.taps.append(Tap((batch, d), (out_c, d), x, w, product))
    b = None if bias is None else bias.data[out_c].item()
    if quantized:
        multiplier, shift = ((data.per_channel_output_multiplier[out_c],
                              data.per_channel_output_shift[out_c]) if data.is_per_channel
                             else (data.output_multiplier, data.output_shift))
        _quantized_tail(e, total, b, multiplier, shift, data.output_zero_point,
                        data.output_activation_min, data.output_activation_max)
    else:
        _float_tail(e, total, b, data.output_activation_min, data.output_activation_max)
    return e


# ----------------------------------------------------------------------------- average pool


def _explain_average_pool(interpreter, node, index) -> Explanation:
    input, _, _, output = _tensors(interpreter, node)
    data = node.user_data
    params = node.builtin_data or Pool2DOptions()
    batch, out_y, out_x, channel = index
    top = out_y * params.stride_h - data.padding_height
    left = out_x * params.stride_w - data.padding_width
    quantized = input.type != TensorType.FLOAT32
    e = Explanation(node.index, node.op_name, index, quantized, input_tensor=input,
                    window=(batch, top, left, params.filter_height, params.filter_width,
                            channel))
    total, count = (0 if quantized else np.float32(0.0)), 0
    for filter_y in range(params.filter_height):
        for filter_x in range(params.filter_width):
            in_y, in_x = top + filter_y, left + filter_x
            if not (0 <= in_y < input.shape[1] and 0 <= in_x < input.shape[2]):
                e.taps.append(Tap(None, None, 0, 1, 0))
                continue
            x = input.data[batch, in_y, in_x, channel].item()
            total = total + x if quantized else np.float32(total + np.float32(x))
            count += 1
            e.taps.append(Tap((batch, in_y, in_x, channel), None, x, 1, x))
    if quantized:
        e.steps.append(("sum of taps", total, "pooling does not rescale: stored integers "
                                              "are summed"))
        half = count // 2
        average = (total + half) // count if total > 0 else -((half - total) // count)
        e.steps.append((f"/ {count} taps", average, "divide, rounding half away from zero"))
        e.value = int(min(max(average, data.activation_min), data.activation_max))
        e.steps.append(("clamp", e.value, f"to [{data.activation_min}, "
                                          f"{data.activation_max}]"))
    else:
        e.steps.append(("sum of taps", total, "float32 sum in loop order"))
        average = np.float32(total / np.float32(count))
        e.steps.append((f"/ {count} taps", average, "float32 division"))
        e.value = np.float32(min(max(average, np.float32(data.activation_min_f32)),
                                 np.float32(data.activation_max_f32)))
        e.steps.append(("clamp", e.value, "fused activation"))
    return e


EXPLAINERS = {
    "CONV_2D": lambda i, n, x: _explain_conv_like(i, n, x, depthwise=False),
    "DEPTHWISE_CONV_2D": lambda i, n, x: _explain_conv_like(i, n, x, depthwise=True),
    "FULLY_CONNECTED": _explain_fully_connected,
    "AVERAGE_POOL_2D": _explain_average_pool,
}
