"""SignalOverlapAdd: add overlapping frames back into a stream (the inverse of framing).

Mirrors signal/micro/kernels/overlap_add.cc (OverlapAddInitAll, OverlapAddPrepare,
OverlapAddEval, OverlapAddReset) and signal/src/overlap_add.cc (OverlapAdd, int16 and
float).

Input 0: [..., n_frames, frame_size]; output 0: [..., n_frames * frame_step]; int16 or
float32 (custom option `T`, read by name). Option `frame_step` (entry 1). Each row keeps
frame_size samples of state: every frame is added into it (int16 sums saturate; float32
sums round to float32), its first frame_step samples are output and shifted out, and
zeros come in behind. Prepare allocates a pointer array and one state row per row;
reset() zeroes the state.

tflm_edu refuses what TFLM leaves unchecked: a frame_step larger than the frame (the
shift would move a negative length), an empty frame, and an output too small.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tflm_edu.kernels.kernel_api import Registration, ensure
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec
from tflm_edu.kernels.signal_common import ensure_io, ensure_tensor, pointer_array, \
    flat_size, get_tensors, options
from tflm_edu.memory.layout import c_struct, m
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType, type_name

INPUT, OUTPUT = 0, 0
TYPE_KEY = "T"
FRAME_STEP_INDEX = 1  # 'frame_step' ('T' sorts first)
TYPES = {TensorType.INT16: np.int16, TensorType.FLOAT32: np.float32}


@dataclass
class TFLMSignalOverlapAddParams:
    type: int
    frame_step: int
    frame_size: int = 0
    outer_dims: int = 0
    n_frames: int = 0
    state_buffers: np.ndarray = field(default=None, repr=False)  # (outer_dims, frame_size)


def init(context, node):
    opts = options(node)
    tensor_type = opts.get(TYPE_KEY)
    ensure(tensor_type in TYPES, f"SignalOverlapAdd of type {type_name(tensor_type)}: TFLM "
                                 f"has it for int16 and float32 only")
    frame_step = opts.element_as_int32(FRAME_STEP_INDEX, "frame_step")
    ensure(frame_step >= 0, f"SignalOverlapAdd's frame_step is {frame_step}")
    return TFLMSignalOverlapAddParams(tensor_type, frame_step)


def prepare(context, node):
    ensure_io(node, 1, 1)
    (input,), (output,) = get_tensors(context, node)
    params: TFLMSignalOverlapAddParams = node.user_data
    ensure(len(input.shape) == len(output.shape) + 1,
           f"SignalOverlapAdd's input must have one dimension more than its output: "
           f"{list(input.shape)} -> {list(output.shape)}")
    ensure_tensor(input, len(input.shape), params.type, "the input")
    ensure_tensor(output, len(output.shape), params.type, "the output")
    ensure(len(input.shape) >= 2, "SignalOverlapAdd's input needs at least 2 dimensions")
    params.frame_size, params.n_frames = input.shape[-1], input.shape[-2]
    ensure(params.frame_size * params.n_frames > 0,
           "SignalOverlapAdd's input has no frames: TFLM divides by their size")
    ensure(params.frame_step <= params.frame_size,
           f"SignalOverlapAdd's frame_step ({params.frame_step}) exceeds the frame size "
           f"({params.frame_size})")
    params.outer_dims = flat_size(input) // (params.frame_size * params.n_frames)
    needed = params.outer_dims * params.n_frames * params.frame_step
    ensure(flat_size(output) >= needed,
           f"SignalOverlapAdd's output holds {flat_size(output)} values; it needs {needed}")
    reset(context, node)


def eval(context, node):
    params: TFLMSignalOverlapAddParams = node.user_data
    frames = context.get_input(node, INPUT).data.reshape(
        params.outer_dims, params.n_frames, params.frame_size)
    output = context.get_output(node, OUTPUT).data.reshape(-1)
    step, state = params.frame_step, params.state_buffers
    for frame in range(params.n_frames):
        if params.type == TensorType.INT16:
            summed = frames[:, frame].astype(np.int32) + state
            state = np.clip(summed, -32768, 32767).astype(np.int16)
        else:
            state = state + frames[:, frame]
        index = (np.arange(params.outer_dims) * params.n_frames + frame) * step
        output[index[:, None] + np.arange(step)] = state[:, :step]
        state = np.concatenate([state[:, step:], np.zeros_like(state[:, :step])], axis=1)
    params.state_buffers = state


def reset(context, node):
    """OverlapAddResetState: every state row back to zero."""
    params: TFLMSignalOverlapAddParams = node.user_data
    params.state_buffers = np.zeros((params.outer_dims, params.frame_size), TYPES[params.type])


def register_overlap_add():
    return Registration("SignalOverlapAdd", prepare=prepare, eval=eval, init=init, reset=reset)


def arena_prepare(k):
    """OverlapAddPrepare: temporaries for the input and the output; then, persistent, the
    array of state pointers and one state row (frame_size samples) per row."""
    k.temp_input(INPUT)
    k.temp_output(OUTPUT)
    params = k.user_data
    k.persistent(pointer_array(params.outer_dims), "state_buffers pointers")
    itemsize = np.dtype(TYPES[params.type]).itemsize
    for _ in range(params.outer_dims):
        k.persistent(params.frame_size * itemsize, "overlap-add state")


c_struct("TFLMSignalOverlapAddParams", "signal/micro/kernels/overlap_add.cc",
         m("frame_size", "int32"), m("frame_step", "int32"), m("outer_dims", "int32"),
         m("n_frames", "int32"), m("type", "enum"), m("state_buffers", "ptr"))

SPEC = OpSpec(Op.CUSTOM, register_overlap_add, None, tuple(TYPES), None,
              ArenaRecipe(None, "TFLMSignalOverlapAddParams", arena_prepare),
              custom_name="SignalOverlapAdd")
