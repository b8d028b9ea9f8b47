"""CIRCULAR_BUFFER: the last num_slots input frames, for strided streaming models.

Mirrors tensorflow/lite/micro/kernels/circular_buffer.cc (CircularBufferInit,
CircularBufferEval, CircularBufferReset) and circular_buffer_common.cc
(CircularBufferPrepare). It is a custom op ("CIRCULAR_BUFFER", AddCircularBuffer() in
micro_mutable_op_resolver.h), with one custom option, cycles_max.

Input 0 is one frame, shape [batch, 1, height, depth]; output 0, shape
[batch, num_slots, height, depth], holds the last num_slots frames, oldest first - it is a
variable tensor in a real model, so it keeps its bytes between invokes and starts from the
zero point. Each invoke shifts the output one frame towards its start (the oldest frame
drops out) and writes the input as the newest frame. Only int8 is supported.

The op is stateful in a second way: it lets the rest of the graph run only every
cycles_max invokes. Its Eval always stores the frame, then counts cycles_until_run down;
until that reaches zero it returns kTfLiteAbort (status 15), and MicroInterpreterGraph::
InvokeSubgraph stops the graph there, without an error message: the ops after it do not
run, and MicroInterpreter::Invoke() returns 15 (the tflite-micro package's Python
Interpreter.invoke() returns 15 too, without raising). When the count reaches zero it is
reset to cycles_max and Eval returns kTfLiteOk. Reset() (MicroInterpreter::Reset) restores
the count; the frames go back to the zero point with the other variable tensors. This
module's eval returns K_TFLITE_ABORT in exactly those invokes.

cycles_max is read as TFLM reads it, by position: the custom options' first value in key
order (FlexbufferWrapper::ElementAsInt32(0), 'cycles_max'), truncated to int32; no custom
options at all mean 0. A cycles_max of 0 or less is replaced at Prepare by a guess TFLM
keeps for "the only two streaming models supported on TFLM": 1 when num_slots is 5, 13 or
25, or when this is the 5th such Prepare in the process and the output is
[., ., 2, 96] (a static counter, cb_prepare_count, shared by every interpreter of the
process - this module keeps one too, so it agrees with TFLM only when the two count the
same Prepares); otherwise 2.

Prepare checks what TFLM checks (batch, height and depth equal, the input one frame deep,
the types equal and int8; the quantization is not compared, despite the C++ comment).
TFLM reads dims 0..3 without checking the rank, shifts (num_slots - 1) * depth bytes (a
huge memmove when num_slots is 0) and copies `depth` input bytes: tflm_edu refuses a rank
other than 4 - beyond dim 3 TFLM would ignore the extra dimensions - an output without a
slot, and tensors too small for what Eval moves.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tflm_edu.kernels.kernel_api import Registration, ensure, ensure_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec
from tflm_edu.kernels.signal_common import FlexbufferWrapper, ensure_io
from tflm_edu.memory.layout import KERNELS, c_struct, m
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType

INPUT = 0
OUTPUT = 0
CYCLES_MAX_INDEX = 0   # 'cycles_max': the custom options' first (and only) key
K_TFLITE_ABORT = 15    # micro_context.h: a status outside TfLiteStatus, "stop this invoke"

# The shapes of the two streaming models CircularBufferPrepare knows by heart.
PERIOD_ONE_SLOTS = (5, 13, 25)
PERIOD_ONE_FIFTH_PREPARE_HW = (2, 96)


@dataclass
class OpDataCircularBuffer:
    cycles_until_run: int = 0
    cycles_max: int = 0


def init(context, node):
    """CircularBufferInit: cycles_max from the custom options (0 without any)."""
    data = node.custom_initial_data
    if not data:
        return OpDataCircularBuffer(cycles_max=0)
    wrapper = FlexbufferWrapper(data, node.op_name)
    return OpDataCircularBuffer(
        cycles_max=wrapper.element_as_int32(CYCLES_MAX_INDEX, "cycles_max"))


class _PrepareCount:
    """cb_prepare_count: a function-level static in TFLM, one per process."""
    value = 0


def guess_cycles_max(num_slots: int, height: int, depth: int) -> int:
    """The period CircularBufferPrepare picks when the model gives none."""
    _PrepareCount.value += 1
    if num_slots in PERIOD_ONE_SLOTS or (
            _PrepareCount.value == 5 and (height, depth) == PERIOD_ONE_FIFTH_PREPARE_HW):
        _PrepareCount.value = 0
        return 1
    return 2


def prepare(context, node):
    ensure_io(node, 1, 1)
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    ensure(input is not None, f"{node.op_name} needs its input")
    for what, t in (("input", input), ("output", output)):
        ensure(len(t.shape) == 4,
               f"the {what} (tensor {t.index}) must have 4 dimensions, got shape "
               f"{list(t.shape)}: TFLM reads dims 0 to 3 whatever the rank")
    ensure(input.shape[0] == output.shape[0],
           f"input batch {input.shape[0]} differs from output batch {output.shape[0]}")
    ensure(input.shape[1] == 1, f"the input holds one frame: its dim 1 must be 1, got "
                                f"{input.shape[1]}")
    ensure(tuple(input.shape[2:]) == tuple(output.shape[2:]),
           f"a frame of the input is {list(input.shape[2:])}, of the output "
           f"{list(output.shape[2:])}")
    ensure(input.type == output.type, "the input and output types differ")
    ensure_type(input, TensorType.INT8)
    num_slots, depth = output.shape[1], output.shape[2] * output.shape[3]
    ensure(num_slots >= 1 or depth == 0,
           f"the output has no slot (shape {list(output.shape)}): TFLM's Eval would memmove "
           f"(0 - 1) * {depth} bytes")
    ensure(int(np.prod(input.shape)) >= depth and int(np.prod(output.shape)) >= num_slots * depth,
           f"an empty batch: TFLM's Eval moves {depth}-byte frames through tensors of "
           f"shapes {list(input.shape)} and {list(output.shape)}")
    data: OpDataCircularBuffer = node.user_data
    if data.cycles_max <= 0:
        data.cycles_max = guess_cycles_max(num_slots, output.shape[2], output.shape[3])
    data.cycles_until_run = data.cycles_max


def eval(context, node):
    """CircularBufferEval: store the frame, then say whether the rest of the graph runs."""
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    num_slots, depth = output.shape[1], output.shape[2] * output.shape[3]
    if num_slots == 0:   # then depth is 0 too (Prepare): nothing moves
        return _count_down(node.user_data)
    frames = output.data.reshape(-1)[:num_slots * depth].reshape(num_slots, depth)
    frames[:-1] = frames[1:].copy()          # memmove: the oldest frame drops out
    frames[-1] = input.data.reshape(-1)[:depth]
    return _count_down(node.user_data)


def _count_down(data: OpDataCircularBuffer):
    """kTfLiteAbort until cycles_until_run reaches zero, then kTfLiteOk (None)."""
    data.cycles_until_run -= 1
    if data.cycles_until_run != 0:
        return K_TFLITE_ABORT
    data.cycles_until_run = data.cycles_max
    return None


def reset(context, node):
    """CircularBufferReset: the count starts over (the frames are a variable tensor)."""
    data: OpDataCircularBuffer = node.user_data
    data.cycles_until_run = data.cycles_max


def register_circular_buffer():
    return Registration("CIRCULAR_BUFFER", prepare=prepare, eval=eval, init=init, reset=reset)


def arena_prepare(k):
    """CircularBufferPrepare: a temporary for the input, then one for the output."""
    k.temp_input(INPUT)
    k.temp_output(OUTPUT)


c_struct("OpDataCircularBuffer", KERNELS + "circular_buffer.h",
         m("cycles_until_run", "int"), m("cycles_max", "int"))

SPEC = OpSpec(Op.CUSTOM, register_circular_buffer, None, (TensorType.INT8,), None,
              ArenaRecipe(None, "OpDataCircularBuffer", arena_prepare),
              custom_name="CIRCULAR_BUFFER")
