"""SignalFramer: cut a stream of int16 samples into overlapping frames.

Mirrors signal/micro/kernels/framer.cc (FramerInit, FramerPrepare, FramerEval,
FramerReset), which keeps one CircularBuffer (signal/src/circular_buffer.cc) per row.

Input 0: int16 [..., n_frames * frame_step] (n_frames new hops per invoke); outputs 0
int16 [..., n_frames, frame_size] and 1 `output_valid`, a bool scalar. Options
`frame_size` (entry 0), `frame_step` (entry 1), `prefill` (entry 2). For each hop the
row's buffer takes frame_step new samples; once it holds frame_size samples, the oldest
frame_size are the next frame and frame_step of them are dropped. Until then the frame is
not written (its bytes stay as they were) and output_valid is false. With prefill the
buffers start with frame_size - frame_step zeros, so every frame is valid. Prepare
allocates two pointer arrays and one buffer per row of ceil(frame_size / frame_step) *
frame_step samples; reset() empties (and prefills) them.

TFLM checks that the input is a whole number of hops; tflm_edu also refuses what would
overrun the buffers (a prefill with frame_step > frame_size), a non-positive frame size or
step, and an output too small for the frames.
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

INPUT, OUTPUT, OUTPUT_VALID = 0, 0, 1
FRAME_SIZE_INDEX, FRAME_STEP_INDEX, PREFILL_INDEX = 0, 1, 2


@dataclass
class TFLMSignalFramerParams:
    frame_size: int = 0
    frame_step: int = 0
    prefill: bool = False
    outer_dims: int = 0
    n_frames: int = 0
    pending: list = field(default_factory=list, repr=False)  # per row: samples buffered


def init(context, node):
    opts = options(node)
    params = TFLMSignalFramerParams(opts.element_as_int32(FRAME_SIZE_INDEX, "frame_size"),
                                    opts.element_as_int32(FRAME_STEP_INDEX, "frame_step"),
                                    opts.element_as_bool(PREFILL_INDEX, "prefill"))
    ensure(params.frame_size > 0 and params.frame_step > 0,
           f"SignalFramer's frame_size ({params.frame_size}) and frame_step "
           f"({params.frame_step}) must be positive")
    ensure(not params.prefill or params.frame_step <= params.frame_size,
           f"SignalFramer prefills frame_size - frame_step zeros: a frame_step "
           f"({params.frame_step}) above frame_size ({params.frame_size}) overruns its buffer")
    return params


def capacity(params) -> int:
    """The buffer's size: frame_size rounded up to whole steps."""
    return -(-params.frame_size // params.frame_step) * params.frame_step


def prepare(context, node):
    ensure_io(node, 1, 2)
    (input,), (output, output_valid) = get_tensors(context, node)
    ensure(len(input.shape) + 1 == len(output.shape),
           f"SignalFramer's output must have one dimension more than its input: "
           f"{list(input.shape)} -> {list(output.shape)}")
    ensure(len(output_valid.shape) == 0, "SignalFramer's output_valid must be a scalar")
    ensure_tensor(input, len(input.shape), TensorType.INT16, "the input")
    ensure_tensor(output, len(output.shape), TensorType.INT16, "the output")
    ensure_tensor(output_valid, 0, TensorType.BOOL, "output_valid")
    params: TFLMSignalFramerParams = node.user_data
    innermost = input.shape[-1]
    ensure(innermost >= params.frame_step,
           f"SignalFramer's input rows ({innermost}) are shorter than frame_step")
    ensure(innermost % params.frame_step == 0,
           f"SignalFramer's input rows ({innermost}) are not a whole number of "
           f"{params.frame_step}-sample steps")
    params.outer_dims = flat_size(input) // innermost
    params.n_frames = innermost // params.frame_step
    needed = params.outer_dims * params.n_frames * params.frame_size
    ensure(flat_size(output) >= needed,
           f"SignalFramer's output holds {flat_size(output)} values; the frames need {needed}")
    reset(context, node)


def eval(context, node):
    params: TFLMSignalFramerParams = node.user_data
    input = context.get_input(node, INPUT)
    output = context.get_output(node, OUTPUT).data.reshape(-1)
    hops = input.data.reshape(params.outer_dims, params.n_frames, params.frame_step)
    valid = True
    for i in range(params.outer_dims):
        for frame in range(params.n_frames):
            buffered = np.concatenate([params.pending[i], hops[i, frame]])
            if buffered.size >= params.frame_size:
                start = (i * params.n_frames + frame) * params.frame_size
                output[start:start + params.frame_size] = buffered[:params.frame_size]
                buffered = buffered[params.frame_step:]
            else:
                valid = False
            params.pending[i] = buffered
    context.get_output(node, OUTPUT_VALID).data[...] = valid


def reset(context, node):
    """FramerResetState: empty buffers, with frame_size - frame_step zeros if prefill."""
    params: TFLMSignalFramerParams = node.user_data
    zeros = params.frame_size - params.frame_step if params.prefill else 0
    params.pending = [np.zeros(zeros, np.int16) for _ in range(params.outer_dims)]


def register_framer():
    return Registration("SignalFramer", prepare=prepare, eval=eval, init=init, reset=reset)


def arena_prepare(k):
    """FramerPrepare: temporaries for the input and both outputs; then, persistent, the
    two pointer arrays and one circular buffer per row."""
    k.temp_input(INPUT)
    k.temp_output(OUTPUT)
    k.temp_output(OUTPUT_VALID)
    params = k.user_data
    k.persistent(pointer_array(params.outer_dims), "state_buffers pointers")
    k.persistent(pointer_array(params.outer_dims), "circular_buffers pointers")
    for _ in range(params.outer_dims):
        k.persistent(circular_buffer(capacity(params)), "circular buffer")


c_struct("TFLMSignalFramerParams", "signal/micro/kernels/framer.cc",
         m("frame_size", "int32"), m("frame_step", "int32"), m("outer_dims", "int32"),
         m("n_frames", "int32"), m("prefill", "bool"), m("state_buffers", "ptr"),
         m("circular_buffers", "ptr"))

SPEC = OpSpec(Op.CUSTOM, register_framer, None, (TensorType.INT16,), None,
              ArenaRecipe(None, "TFLMSignalFramerParams", arena_prepare),
              custom_name="SignalFramer")
