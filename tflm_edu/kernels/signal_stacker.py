"""SignalStacker: stack each frame of features with its neighbours in time.

Mirrors signal/micro/kernels/stacker.cc (StackerInit, StackerPrepare, StackerEval,
StackerReset), which keeps one CircularBuffer (signal/src/circular_buffer.cc).

Input 0: int16 [num_channels] (one frame per invoke); outputs 0 int16
[num_channels * (left + right + 1)] and 1 `output_valid`, a bool scalar. Options
`num_channels` (entry 0), `stacker_left_context` (1), `stacker_right_context` (2),
`stacker_step` (3). The very first frame is put in the buffer left_context + 1 times (so
the first output has a left context); once the buffer holds left + right + 1 frames the
output is the oldest that many, and stacker_step frames are dropped. Until then the output
is not written and output_valid is false. Init allocates the params and the buffer;
reset() empties it and forgets the first frame.

tflm_edu refuses what TFLM leaves unchecked: an input shorter than num_channels, an
output shorter than the stack, and steps that over- or underrun the buffer (a step below
1 or above left + right + 1), and negative sizes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tflm_edu.kernels.kernel_api import Registration, ensure
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec
from tflm_edu.kernels.signal_common import circular_buffer, ensure_io, ensure_tensor, \
    get_tensors, options
from tflm_edu.memory.layout import c_struct, m
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType

INPUT, OUTPUT, OUTPUT_VALID = 0, 0, 1
OPTION_NAMES = ("num_channels", "stacker_left_context", "stacker_right_context",
                "stacker_step")   # entries 0..3


@dataclass
class TFLMSignalStackerParams:
    num_channels: int
    stacker_left_context: int
    stacker_right_context: int
    stacker_step: int
    stacker_has_first_frame: bool = False
    pending: np.ndarray = field(default=None, repr=False)   # the buffered samples

    @property
    def buffer_size(self) -> int:
        return self.num_channels * (self.stacker_left_context + self.stacker_right_context + 1)

    @property
    def step_size(self) -> int:
        return self.num_channels * self.stacker_step


def init(context, node):
    opts = options(node)
    params = TFLMSignalStackerParams(*(opts.element_as_int32(i, name)
                                       for i, name in enumerate(OPTION_NAMES)))
    ensure(min(params.num_channels, params.stacker_left_context,
               params.stacker_right_context) >= 0,
           f"SignalStacker's sizes must not be negative: {params}")
    frames = params.stacker_left_context + params.stacker_right_context + 1
    ensure(1 <= params.stacker_step <= frames,
           f"SignalStacker's stacker_step is {params.stacker_step}; with a stack of "
           f"{frames} frames TFLM's buffer overflows or underflows unless it is 1..{frames}")
    reset(context, None, params)
    return params


def prepare(context, node):
    ensure_io(node, 1, 2)
    (input,), (output, output_valid) = get_tensors(context, node)
    ensure_tensor(input, 1, TensorType.INT16, "the input")
    ensure_tensor(output, 1, TensorType.INT16, "the output")
    ensure_tensor(output_valid, 0, TensorType.BOOL, "output_valid")
    params: TFLMSignalStackerParams = node.user_data
    ensure(input.shape[0] >= params.num_channels,
           f"SignalStacker's input holds {input.shape[0]} values; num_channels is "
           f"{params.num_channels}")
    ensure(output.shape[0] >= params.buffer_size,
           f"SignalStacker's output holds {output.shape[0]} values; the stack has "
           f"{params.buffer_size}")


def eval(context, node):
    params: TFLMSignalStackerParams = node.user_data
    frame = context.get_input(node, INPUT).data[:params.num_channels]
    repeats = 1 if params.stacker_has_first_frame else 1 + params.stacker_left_context
    params.pending = np.concatenate([params.pending, np.tile(frame, repeats)])
    params.stacker_has_first_frame = True
    valid = params.pending.size >= params.buffer_size
    if valid:
        context.get_output(node, OUTPUT).data[:params.buffer_size] = \
            params.pending[:params.buffer_size]
        params.pending = params.pending[params.step_size:]
    context.get_output(node, OUTPUT_VALID).data[...] = valid


def reset(context, node, params=None):
    """StackerReset: an empty buffer, waiting for a first frame again."""
    params = params or node.user_data
    params.pending = np.zeros(0, np.int16)
    params.stacker_has_first_frame = False


def register_stacker():
    return Registration("SignalStacker", prepare=prepare, eval=eval, init=init, reset=reset)


def arena_init(k):
    """StackerInit, after its params: the circular buffer of the whole stack."""
    k.persistent(circular_buffer(k.user_data.buffer_size), "circular buffer")


def arena_prepare(k):
    """StackerPrepare: temporaries for the input and both outputs."""
    k.temp_input(INPUT)
    k.temp_output(OUTPUT)
    k.temp_output(OUTPUT_VALID)


c_struct("TFLMSignalStackerParams", "signal/micro/kernels/stacker.cc",
         m("num_channels", "int32"), m("stacker_left_context", "int32"),
         m("stacker_right_context", "int32"), m("stacker_step", "int32"),
         m("buffer_size", "ptr"), m("step_size", "ptr"), m("stacker_has_first_frame", "bool"),
         m("state", "ptr"), m("circular_buffer", "ptr"))

SPEC = OpSpec(Op.CUSTOM, register_stacker, None, (TensorType.INT16,), None,
              ArenaRecipe(None, "TFLMSignalStackerParams", arena_prepare, init=arena_init),
              custom_name="SignalStacker")
