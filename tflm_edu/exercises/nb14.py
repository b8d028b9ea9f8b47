"""Checks for the exercises of notebooks/14_inside_the_interpreter.ipynb, and two helpers
the notebook uses.

14.1 read an intermediate tensor while steps() runs (check_step_value)
14.2 one output element's int32 sum, by hand (check_accumulator)
14.3 the rest of its way to int8: bias, rescale, offset, clamp (check_requantized)
14.4 a custom op of your own, registered by name (check_custom_relu)

custom_relu_model() builds the model of 14.4; debugger_view() shows a StepDebugger as its
widget where widgets run and as a still picture (HTML, text) where they do not, such as a
saved notebook opened without its kernel.
"""
from __future__ import annotations

import html

import numpy as np

from tflm_edu.exercises.core import Verdict, answered, compare

CUSTOM_OP = "MyRelu"


# ----------------------------------------------------------------------------- helpers


def _fresh(interpreter, x):
    """A new interpreter of the learner's model, resolver and arena, with input `x`: the
    checks run it, so the learner's own interpreter (and debugger) keep their state."""
    from tflm_edu.interpreter import MicroInterpreter
    twin = MicroInterpreter(interpreter.model, interpreter.op_resolver, interpreter.arena_size,
                            planner=interpreter.planner_name, target=interpreter.target.name)
    twin.allocate_tensors()
    twin.input(0).data[...] = np.asarray(x).reshape(twin.input(0).shape)
    return twin


def value_after_op(interpreter, op_index: int, element, x):
    """What op `op_index` wrote at `element` of its first output, read right after it ran."""
    twin = _fresh(interpreter, x)
    for event in twin.steps():
        if event.op_index == op_index:
            return event.outputs[0][tuple(element)].item()
    raise ValueError(f"the model has no op {op_index}")


def _explanation(interpreter, op_index: int, element, x):
    from tflm_edu.explain import explain
    return explain(_fresh(interpreter, x), op_index, tuple(element))


# ----------------------------------------------------------------------------- 14.1


def check_step_value(answer, interpreter, op_index: int, element, x) -> Verdict:
    """The number op `op_index` writes at `element` of its output, for the input `x`."""
    expected = value_after_op(interpreter, op_index, element, x)
    if answered(answer) and not compare(answer, expected, hint="").correct:
        twin = _fresh(interpreter, x)
        twin.invoke()
        after = twin.tensors[twin.nodes[op_index].outputs[0]].data[tuple(element)].item()
        if compare(answer, after, hint="").correct and after != expected:
            return Verdict(False, f"{answer} is what those bytes hold after the whole run: "
                                  f"later ops reused them. Read the value inside the steps() "
                                  f"loop, right after op {op_index} ran.")
    return compare(answer, expected,
                   hint=f"loop over interpreter.steps(); when event.op_index is {op_index}, "
                        f"read event.outputs[0][element] (set the input to x first).",
                   right=f"op {op_index} wrote {expected} there; after a whole invoke() those "
                         f"bytes may belong to another tensor.")


# ----------------------------------------------------------------------------- 14.2, 14.3


def check_accumulator(acc, interpreter, op_index: int, element, x) -> Verdict:
    """The int32 sum of (input + input_offset) * (filter + filter_offset) over the
    receptive field of `element` of op `op_index` - before the bias."""
    e = _explanation(interpreter, op_index, element, x)
    expected = int(e.steps[0][1])
    inside = [t for t in e.taps if t.input_index is not None]
    return compare(acc, expected,
                   hint=f"the output element {list(e.output_index)} reads a window of the "
                        f"input: row out_y * stride - padding_top + ky, column out_x * stride "
                        f"- padding_left + kx. Skip positions outside the image, add "
                        f"input_offset = {e.input_offset} to each input value, multiply by the "
                        f"filter value of this channel, and sum.",
                   right=f"{expected:,}, the sum of {len(inside)} products "
                         f"(explain(interpreter, {op_index}, {tuple(e.output_index)}) lists "
                         f"them).")


def check_requantized(value, interpreter, op_index: int, element, x) -> Verdict:
    """The int8 value op `op_index` writes at `element`: the sum, + bias, rescaled by the
    channel's multiplier and shift, + the output zero point, clamped."""
    e = _explanation(interpreter, op_index, element, x)
    names = [name for name, _, _ in e.steps]
    trail = ", ".join(f"{name} {int(v):,}" for name, v, _ in e.steps)
    return compare(value, int(e.value),
                   hint="add the bias of this channel to the sum; rescale with "
                        "multiply_by_quantized_multiplier(acc, per_channel_output_multiplier"
                        "[channel], per_channel_output_shift[channel]); add the output zero "
                        "point; clamp to [output_activation_min, output_activation_max].",
                   right=f"{int(e.value)}, the interpreter's value too. The steps: {trail}."
                   if names else f"{int(e.value)}.")


# ----------------------------------------------------------------------------- 14.4


def custom_relu_model(size: int = 32, scale: float = 0.05, zero_point: int = -20):
    """A model of one CUSTOM op named "MyRelu": int8 [1, size] in, int8 [1, size] out, both
    with the same scale and a zero point that is not 0 (built with ModelBuilder)."""
    from tflm_edu.schema.builder import ModelBuilder, quantization
    from tflm_edu.schema.enums import BuiltinOperator
    builder = ModelBuilder("one custom op")
    q = quantization(scale, zero_point)
    x = builder.add_input([1, size], np.int8, "x", quant=q)
    y = builder.add_tensor([1, size], np.int8, "relu(x)", quant=q)
    builder.add_operator(BuiltinOperator.CUSTOM, [x], [y], custom_code=CUSTOM_OP)
    builder.mark_output(y)
    return builder.build()


def _custom_names(model) -> list:
    from tflm_edu.schema.enums import BuiltinOperator
    return [code.custom_code for code in model.operator_codes
            if code.builtin_code == BuiltinOperator.CUSTOM]


def check_custom_relu(registration, model) -> Verdict:
    """Run `model` (custom_relu_model()) with the learner's Registration for its custom op,
    on every int8 input code, and compare with ReLU computed on the real values."""
    from tflm_edu.interpreter import MicroInterpreter
    from tflm_edu.kernels.kernel_api import Registration
    from tflm_edu.op_resolver import MicroMutableOpResolver
    from tflm_edu.quantization import affine_dequantize, affine_quantize
    if not answered(registration):
        return Verdict(None, "write prepare(context, node) and eval(context, node), then "
                             "Registration(name, prepare=..., eval=...). In eval, "
                             "context.get_input(node, 0) and context.get_output(node, 0) are "
                             "the tensors; write the result into output.data.")
    if not isinstance(registration, Registration):
        return Verdict(False, "the op resolver takes a Registration: "
                              "Registration(\"MyRelu\", prepare=..., eval=...).")
    names = _custom_names(model)
    if registration.name not in names:
        return Verdict(False, f"the model calls its custom op {names[0]!r}, and the "
                              f"resolver finds kernels by that name; yours is "
                              f"{registration.name!r}.")
    resolver = MicroMutableOpResolver().add_custom(registration.name, registration)
    try:
        interpreter = MicroInterpreter(model, resolver)
        interpreter.allocate_tensors()
    except Exception as e:   # the learner's prepare: report it, never raise
        cause = e.__cause__ or e
        return Verdict(False, f"allocate_tensors() failed: {type(cause).__name__}: {cause}")
    x, y = interpreter.input(0), interpreter.output(0)
    for codes in np.arange(-128, 128, dtype=np.int8).reshape(-1, x.num_elements):
        x.data[...] = codes.reshape(x.shape)
        try:
            interpreter.invoke()
        except Exception as e:   # the learner's eval: report it, never raise
            cause = e.__cause__ or e    # the interpreter wraps what a kernel raises
            return Verdict(False, f"invoke() failed in your kernel: {type(cause).__name__}: "
                                  f"{cause}")
        real = affine_dequantize(codes, x.scale, x.zero_point)
        expected = affine_quantize(np.maximum(real, 0.0), y.scale, y.zero_point)
        got = y.data.reshape(-1)
        wrong = np.flatnonzero(got != expected)
        if len(wrong):
            k = wrong[0]
            return Verdict(False, f"input code {codes[k]} stands for {real[k]:.3g}; ReLU "
                                  f"gives {max(real[k], 0.0):.3g}, which is code "
                                  f"{expected[k]}, but your op wrote {got[k]}. In int8, "
                                  f"0.0 is the zero point ({x.zero_point}), not the code 0.")
    return Verdict(True, "all 256 int8 codes come out as ReLU of their real value. On the "
                         "integers that is max(code, zero_point) - TFLM's own int8 RELU "
                         "also rescales when the output's scale differs from the input's.")


# ----------------------------------------------------------------------------- the debugger


class DebuggerView:
    """Displays as the StepDebugger's widget, carrying a still picture of its state when
    shown - HTML (status, arena bar, op list) and text - for places that cannot run the
    widget: a notebook opened without its kernel, GitHub, nbviewer, a terminal."""

    def __init__(self, debugger):
        self.debugger = debugger

    def still_html(self) -> str:
        d = self.debugger
        return (f"<div class='tflm-step-debugger-still'><p><b>StepDebugger</b> "
                f"{html.escape(d.status_text())} <i>(a still picture: run the notebook for "
                f"the buttons)</i></p>{d.arena_bar_svg()}{d.op_list_html()}</div>")

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = dict(self.debugger.widget()._repr_mimebundle_())
        bundle["text/html"] = self.still_html()
        bundle["text/plain"] = repr(self.debugger)
        return bundle

    def __repr__(self):
        return repr(self.debugger)


def debugger_view(debugger) -> DebuggerView:
    return DebuggerView(debugger)
