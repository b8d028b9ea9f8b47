"""SignalWindow: multiply each frame of int16 samples by a fixed-point window.

Mirrors signal/micro/kernels/window.cc (WindowInit, WindowPrepare, WindowEval) of TFLM's
Signal library; the arithmetic is tflm_edu.frontend.window.apply_window (signal/src/
window.cc: (sample * weight) >> shift in int32, saturated to int16).

Inputs: 0 the samples (int16, any rank >= 1, read flat), 1 the window weights (int16,
1-D). Output 0: the windowed samples (int16, the input's rank). Custom option: `shift`,
the weights' fractional bits. Eval walks the flat input one window length at a time.

TFLM does not check that the input is a whole number of windows (the last, partial one
is read and written past the tensors' ends), that the output is as long as the input, or
that the shift is a valid int32 shift; tflm_edu refuses such models.
"""
from __future__ import annotations

from dataclasses import dataclass

from tflm_edu.frontend.window import apply_window
from tflm_edu.kernels.kernel_api import Registration, ensure
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec
from tflm_edu.kernels.signal_common import ensure_io, ensure_tensor, flat_size, get_tensors, \
    options
from tflm_edu.memory.layout import c_struct, m
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType

INPUT, WEIGHTS = 0, 1
OUTPUT = 0
SHIFT_INDEX = 0  # 'shift': the custom options' only key
SIGNAL_KERNELS = "signal/micro/kernels/"


@dataclass
class TFLMSignalWindowParams:
    shift: int = 0
    input_size: int = 0  # the input's flat size, set by Prepare


def init(context, node):
    params = TFLMSignalWindowParams(options(node).element_as_int32(SHIFT_INDEX, "shift"))
    ensure(0 <= params.shift < 32, f"SignalWindow's shift is {params.shift}; an int32 "
                                   f"shift must be 0..31")
    return params


def prepare(context, node):
    ensure_io(node, 2, 1)
    (input, weights), (output,) = get_tensors(context, node)
    ensure(len(input.shape) >= 1, "SignalWindow's input must have at least one dimension")
    ensure_tensor(weights, 1, TensorType.INT16, "the window weights")
    ensure(len(input.shape) == len(output.shape),
           f"SignalWindow's input and output ranks differ: {list(input.shape)} vs "
           f"{list(output.shape)}")
    ensure_tensor(input, len(input.shape), TensorType.INT16, "the input")
    ensure_tensor(output, len(output.shape), TensorType.INT16, "the output")
    params: TFLMSignalWindowParams = node.user_data
    params.input_size = flat_size(input)
    window = weights.shape[0]
    ensure(window > 0 or params.input_size == 0,
           "SignalWindow's weights are empty: TFLM's Eval would loop forever")
    ensure(window == 0 or params.input_size % window == 0,
           f"SignalWindow's input ({params.input_size} samples) is not a whole number of "
           f"{window}-sample windows: TFLM reads and writes past the last one")
    ensure(flat_size(output) >= params.input_size,
           f"SignalWindow's output ({flat_size(output)} values) is shorter than its input "
           f"({params.input_size}): TFLM writes past its end")


def eval(context, node):
    params: TFLMSignalWindowParams = node.user_data
    input, weights = context.get_input(node, INPUT), context.get_input(node, WEIGHTS)
    output = context.get_output(node, OUTPUT)
    if params.input_size == 0:
        return
    frames = input.data.reshape(-1)[:params.input_size].reshape(-1, weights.shape[0])
    windowed = apply_window(frames, weights.data, params.shift)
    output.data.reshape(-1)[:params.input_size] = windowed.reshape(-1)


def register_window():
    return Registration("SignalWindow", prepare=prepare, eval=eval, init=init)


def arena_prepare(k):
    """WindowPrepare: temporaries for the input, the weights and the output."""
    k.temp_input(INPUT)
    k.temp_input(WEIGHTS)
    k.temp_output(OUTPUT)


c_struct("TFLMSignalWindowParams", SIGNAL_KERNELS + "window.cc",
         m("shift", "int32"), m("input_size", "int32"))

SPEC = OpSpec(Op.CUSTOM, register_window, None, (TensorType.INT16,), None,
              ArenaRecipe(None, "TFLMSignalWindowParams", arena_prepare),
              custom_name="SignalWindow")
