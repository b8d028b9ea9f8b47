"""SignalDelay: delay a stream of int16 frames by delay_length samples.

Mirrors signal/micro/kernels/delay.cc (DelayInit, DelayPrepare, DelayEval, DelayReset),
which keeps one CircularBuffer (signal/src/circular_buffer.cc) per row of the input.

Input 0: int16 [..., frame_size], output 0: int16, the same size. Option `delay_length`
(entry 0). Each row's buffer starts with delay_length zeros; every Eval appends the row's
frame and hands out the oldest frame_size samples, so the output is the input stream
delay_length samples late. Prepare allocates two pointer arrays and one circular buffer
(frame_size + delay_length samples) per row; reset() refills the buffers with zeros.

Here a row's buffer is simply the delay_length samples still waiting. TFLM does not
check the sizes; tflm_edu refuses a negative delay, empty frames (TFLM divides by the
frame size) and an output smaller than the input.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tflm_edu.kernels.kernel_api import Registration, ensure
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec
from tflm_edu.kernels.signal_common import circular_buffer, pointer_array, \
    ensure_io, ensure_tensor, flat_size, get_tensors, options
from tflm_edu.memory.layout import c_struct, m
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType

INPUT, OUTPUT = 0, 0
DELAY_LENGTH_INDEX = 0  # 'delay_length'


@dataclass
class TFLMSignalFrontendDelayParams:
    delay_length: int = 0
    frame_size: int = 0
    outer_dims: int = 0
    pending: np.ndarray = field(default=None, repr=False)  # (outer_dims, delay_length)


def init(context, node):
    delay_length = options(node).element_as_int32(DELAY_LENGTH_INDEX, "delay_length")
    ensure(delay_length >= 0, f"SignalDelay's delay_length is {delay_length}")
    return TFLMSignalFrontendDelayParams(delay_length)


def prepare(context, node):
    ensure_io(node, 1, 1)
    (input,), (output,) = get_tensors(context, node)
    ensure_tensor(input, len(input.shape), TensorType.INT16, "the input")
    ensure_tensor(output, len(output.shape), TensorType.INT16, "the output")
    ensure(len(input.shape) >= 1 and input.shape[-1] > 0,
           "SignalDelay's frames are empty: TFLM divides by the frame size")
    params: TFLMSignalFrontendDelayParams = node.user_data
    params.frame_size = input.shape[-1]
    params.outer_dims = flat_size(input) // params.frame_size
    ensure(flat_size(output) >= flat_size(input),
           f"SignalDelay's output ({flat_size(output)} values) is smaller than its input "
           f"({flat_size(input)}): TFLM writes past its end")
    reset(context, node)


def eval(context, node):
    params: TFLMSignalFrontendDelayParams = node.user_data
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    frames = input.data.reshape(params.outer_dims, params.frame_size)
    stream = np.concatenate([params.pending, frames], axis=1)
    output.data.reshape(-1)[:frames.size] = stream[:, :params.frame_size].reshape(-1)
    params.pending = stream[:, params.frame_size:]


def reset(context, node):
    """DelayReset: empty each buffer, then put delay_length zeros in it."""
    params: TFLMSignalFrontendDelayParams = node.user_data
    params.pending = np.zeros((params.outer_dims, params.delay_length), np.int16)


def register_delay():
    return Registration("SignalDelay", prepare=prepare, eval=eval, init=init, reset=reset)


def arena_prepare(k):
    """DelayPrepare: temporaries for the input and the output; then, persistent, the
    arrays of state_buffers and circular_buffers pointers and one buffer per row."""
    k.temp_input(INPUT)
    k.temp_output(OUTPUT)
    params = k.user_data
    k.persistent(pointer_array(params.outer_dims), "state_buffers pointers")
    k.persistent(pointer_array(params.outer_dims), "circular_buffers pointers")
    for _ in range(params.outer_dims):
        k.persistent(circular_buffer(params.frame_size + params.delay_length),
                     "circular buffer")


c_struct("TFLMSignalFrontendDelayParams", "signal/micro/kernels/delay.cc",
         m("frame_size", "int32"), m("delay_length", "int32"), m("outer_dims", "int32"),
         m("state_buffers", "ptr"), m("circular_buffers", "ptr"))

SPEC = OpSpec(Op.CUSTOM, register_delay, None, (TensorType.INT16,), None,
              ArenaRecipe(None, "TFLMSignalFrontendDelayParams", arena_prepare),
              custom_name="SignalDelay")
