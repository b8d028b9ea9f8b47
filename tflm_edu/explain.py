"""Explain one output element: where it reads, and every integer step that makes it.

For CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, AVERAGE_POOL_2D and MAX_POOL_2D this runs
the body of the op's reference loop (tflm_edu.kernels.reference, TFLM's
reference_integer_ops / reference_ops) for that one element, with a tracer that writes
down each term and each step - there is one copy of every loop, and it is the one the
reference kernels run:

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
from tflm_edu.op_resolver import EVAL_AT
from tflm_edu.schema.enums import BuiltinOperator, TensorType
from tflm_edu.schema.options import Pool2DOptions

# The ops whose reference module has an eval_at: the loop body for one output element.
EXPLAINED_OPS = tuple(op.name for op in EVAL_AT)
POOLING_OPS = ("AVERAGE_POOL_2D", "MAX_POOL_2D")
MAX_TAPS_LISTED = 12


@dataclass
class Tap:
    """One term of the sum: where it reads the input (None outside the image) and the
    filter, the two values, and what it adds (for MAX_POOL_2D: the running max). A filter
    position outside the image adds nothing: input_index is None, outside_at says where
    it would have read (batch, in_y, in_x)."""

    input_index: tuple | None
    filter_index: tuple | None
    input_value: float
    filter_value: float | None
    product: float
    outside_at: tuple | None = None


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
        outside = sum(t.input_index is None for t in self.taps)
        lines = [f"op {self.op_index} {self.op_name}, output element {list(self.output_index)}",
                 f"receptive field: {len(self.taps) - outside} taps read"
                 f" ({outside} filter positions outside the image)"]
        if self.quantized and self.op_name not in POOLING_OPS:
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
            return f"input{list(t.outside_at)[:3]}[:] is outside the image: skipped"
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
    explanation = _explain_element(interpreter, node, index)
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


def _explain_element(interpreter, node, index) -> Explanation:
    """Run the reference loop body for output `index` with a StepRecorder as its tracer."""
    input = interpreter.tensors[node.inputs[0]]
    quantized = input.type != TensorType.FLOAT32
    e = Explanation(node.index, node.op_name, index, quantized, input_tensor=input)
    e.input_offset, e.filter_offset = _offsets(node)
    e.value = EVAL_AT[BuiltinOperator[node.op_name]](interpreter.context, node, index,
                                                    StepRecorder(e))
    e.window = _window(node, index, e.taps)
    return e


def _offsets(node) -> tuple:
    """The offsets the loop adds to input and filter values, for the text: TFLM's int8
    convolutions take the filter as symmetric; FULLY_CONNECTED offsets a per-tensor one."""
    data = node.user_data
    if node.op_name in POOLING_OPS:
        return 0, 0
    if node.op_name == "FULLY_CONNECTED" and not data.is_per_channel:
        return -data.input_zero_point, -data.filter_zero_point
    return -data.input_zero_point, 0


def _window(node, index, taps) -> tuple | None:
    """(batch, top, left, height, width, channel) of the receptive field, for the picture;
    None for FULLY_CONNECTED, which reads a whole row."""
    if node.op_name == "FULLY_CONNECTED":
        return None
    batch, out_y, out_x, channel = index
    data = node.user_data
    channel = next((t.input_index[3] for t in taps if t.input_index is not None), channel)
    if node.op_name in POOLING_OPS:
        params = node.builtin_data or Pool2DOptions()
        return (batch, out_y * params.stride_h - data.padding_height,
                out_x * params.stride_w - data.padding_width, params.filter_height,
                params.filter_width, channel)
    g = data.geometry
    return (batch, out_y * g.stride_height - data.padding.height,
            out_x * g.stride_width - data.padding.width,
            (g.filter_height - 1) * g.dilation_height + 1,
            (g.filter_width - 1) * g.dilation_width + 1, channel)


# ----------------------------------------------------------------------------- the tracer


class StepRecorder:
    """The tracer explain() hands to a reference loop body (see tflm_edu.kernels.reference):
    every term becomes a Tap, every step of the tail a (name, value, formula) line."""

    def __init__(self, explanation: Explanation):
        self.e = explanation

    def tap(self, input_index, filter_index, input_value, filter_value, term):
        self.e.taps.append(Tap(input_index, filter_index, _item(input_value),
                               _item(filter_value), _item(term)))

    def outside(self, input_index):
        self.e.taps.append(Tap(None, None, 0, None, 0, outside_at=input_index))

    def step(self, name, value, **operands):
        label, formula = STEP_TEXT[name](self.e, **operands)
        self.e.steps.append((label, _item(value), formula))


def _item(value):
    """Python ints stay ints; numpy float32 scalars stay float32 (their exact value)."""
    return value if value is None or isinstance(value, (int, np.floating)) else value.item()


def _sum_text(e, **_):
    if e.op_name in POOLING_OPS:
        return "sum of taps", ("pooling does not rescale: stored integers are summed"
                               if e.quantized else "float32 sum in loop order")
    return "sum of products", ("sum((input + input_offset) * (filter + filter_offset)) over "
                               "the taps" if e.quantized else
                               "float32 sum in the reference loop's order")


def _bias_text(e, bias):
    if e.quantized:
        return "+ bias", f"bias = {int(bias):,} (int32, scale = input_scale * filter_scale)"
    return "+ bias", f"bias = {float(bias):.6g}"


def _multiplier_text(e, multiplier, shift):
    real = multiplier / 2**31 * 2.0**shift
    return "x multiplier, shift", (f"MultiplyByQuantizedMultiplier(acc, {multiplier}, {shift}) "
                                   f"~ acc x {real:.6g}")


def _average_text(e, filter_count):
    return f"/ {filter_count} taps", ("divide, rounding half away from zero" if e.quantized
                                      else "float32 division")


def _clamp_text(e, activation_min, activation_max):
    if not e.quantized:
        return "clamp", (f"to [{float(activation_min):.6g}, {float(activation_max):.6g}] "
                         f"(fused activation)")
    if e.op_name in POOLING_OPS:
        return "clamp", f"to [{activation_min}, {activation_max}]"
    return "clamp", f"to [{activation_min}, {activation_max}] (fused activation, int8 range)"


STEP_TEXT = {
    "acc": _sum_text,
    "total": _sum_text,
    "max": lambda e: ("max of taps", "the largest value in the window (pooling does not "
                                     "rescale)"),
    "bias": _bias_text,
    "MultiplyByQuantizedMultiplier": _multiplier_text,
    "output_offset": lambda e, output_offset: ("+ output offset",
                                               f"output zero point {output_offset}"),
    "average": _average_text,
    "clamp": _clamp_text,
}
