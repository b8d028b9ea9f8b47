"""SignalIrfft: the inverse real FFT, from fft_length / 2 + 1 bins back to fft_length samples.

Mirrors signal/micro/kernels/irfft.cc (IrfftInitAll, IrfftPrepare, IrfftEval) with
signal/src/irfft_int16.cc, irfft_int32.cc and irfft_float.cc. The arithmetic is
tflm_edu.frontend: fft.irfft / kiss_fft.KissFftr (kissfft's kiss_fftri in its int16, int32
and float builds); the float build's output is divided by fft_length afterwards, as
IrfftFloatApply does.

Input 0 [..., 2 * bins] (re, im interleaved), output 0 [..., output_length], both of the
type T. Custom options `T` (the TensorType, read by name: INT16, INT32 or FLOAT32, and
FLOAT32 when absent) and `fft_length` (entry 1), as SignalRfft's. Init allocates the
params and kissfft's inverse state (for float, a small IrfftFloatState of the length and
a pointer in front of it); Prepare only reads the shapes: no scratch buffer. Eval steps
through the input input_length complex values at a time and writes fft_length samples
per step, output_length apart.

What TFLM leaves unchecked and tflm_edu refuses (beside what SignalRfft's Init refuses,
see signal_fft.py): an input row of fewer than fft_length / 2 + 1 complex values (kiss_fftri
reads that many, past the input for the last row, and an input row of 0 or 1 values makes
Eval loop forever), an output row shorter than fft_length, and an output with fewer rows
than the input (Eval writes past it).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tflm_edu.frontend.fft import irfft, kiss_fftr
from tflm_edu.kernels.kernel_api import Registration, ensure
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec
from tflm_edu.kernels.signal_common import ensure_io, ensure_tensor, flat_size, get_tensors
from tflm_edu.kernels.signal_fft import RFFT_TYPES, SIGNAL_KERNELS, fft_options, \
    kiss_fftr_state_bytes
from tflm_edu.memory.layout import c_struct, m
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType

INPUT, OUTPUT = 0, 0


@dataclass
class TfLiteAudioFrontendIrfftParams:
    """The op's params (irfft.cc); `state` stands for the kissfft state Init fills."""
    fft_length: int = 0
    input_size: int = 0    # complex values in the whole input
    input_length: int = 0  # complex values per input row
    output_length: int = 0
    fft_type: int = TensorType.INT16

    @property
    def bins(self) -> int:
        return self.fft_length // 2 + 1

    def row_starts(self) -> range:
        """Where each of Eval's steps starts reading, in complex values."""
        # (an empty input may have rows of length 0: TFLM's loop then ends at once)
        return range(0, self.input_size, max(self.input_length, 1))


def irfft_init(context, node):
    fft_type, fft_length = fft_options(node, "SignalIrfft")
    kiss_fftr(fft_length, RFFT_TYPES[fft_type], inverse=True)   # the state Init tabulates
    return TfLiteAudioFrontendIrfftParams(fft_length, fft_type=fft_type)


def irfft_prepare(context, node):
    ensure_io(node, 1, 1)
    (input,), (output,) = get_tensors(context, node)
    params: TfLiteAudioFrontendIrfftParams = node.user_data
    ensure(len(input.shape) == len(output.shape),
           f"SignalIrfft's input and output ranks differ: {list(input.shape)} vs "
           f"{list(output.shape)}")
    ensure(len(input.shape) >= 1, "SignalIrfft's input must have at least one dimension")
    ensure_tensor(input, len(input.shape), params.fft_type, "the input")
    ensure_tensor(output, len(output.shape), params.fft_type, "the output")
    params.input_length = input.shape[-1] // 2
    params.input_size = flat_size(input) // 2
    params.output_length = output.shape[-1]
    ensure(params.input_length >= params.bins or params.input_size == 0,
           f"SignalIrfft's input rows hold {params.input_length} complex values; an inverse "
           f"FFT of length {params.fft_length} reads {params.bins}")
    ensure(params.output_length >= params.fft_length or params.input_size == 0,
           f"SignalIrfft's output rows hold {params.output_length} samples; an inverse FFT "
           f"of length {params.fft_length} writes {params.fft_length}")
    steps = len(params.row_starts())
    ensure(steps == 0 or params.row_starts()[-1] + params.bins <= params.input_size,
           "SignalIrfft's last input row is cut short: TFLM reads past the input")
    ensure(steps == 0 or (steps - 1) * params.output_length + params.fft_length
           <= flat_size(output),
           f"SignalIrfft's output has fewer rows than its input's {steps}")


def irfft_eval(context, node):
    params: TfLiteAudioFrontendIrfftParams = node.user_data
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    starts = np.array(params.row_starts(), dtype=np.intp)
    if starts.size == 0:
        return
    # Each step reads the 2 * bins scalars from complex value `start` on.
    spectra = input.data.reshape(-1)[2 * starts[:, None] + np.arange(2 * params.bins)]
    samples = irfft(spectra, params.fft_length, RFFT_TYPES[params.fft_type])
    out = output.data.reshape(-1)
    out[starts[:, None] // params.input_length * params.output_length
        + np.arange(params.fft_length)] = samples


def register_irfft():
    return Registration("SignalIrfft", prepare=irfft_prepare, eval=irfft_eval, init=irfft_init)


def irfft_arena_init(k):
    """IrfftInit, after the params struct: kiss_fftr_alloc's bytes for the inverse state
    (the same as the forward one's), which for float follow an IrfftFloatState (an int32
    and a pointer). Both hold pointers, so the size depends on the target."""
    params = k.user_data
    cpx_bytes = 2 * np.dtype(RFFT_TYPES[params.fft_type]).itemsize
    is_float = params.fft_type == TensorType.FLOAT32

    def state_bytes(target):
        header = 2 * target.pointer_bytes if is_float else 0   # {int32_t; cfg*}, padded
        return header + kiss_fftr_state_bytes(params.fft_length, cpx_bytes,
                                              target.pointer_bytes)
    k.persistent(state_bytes, "kiss_fftr inverse state")


def irfft_arena_prepare(k):
    """IrfftPrepare: temporaries for the input and the output, nothing else."""
    k.temp_input(INPUT)
    k.temp_output(OUTPUT)


c_struct("TfLiteAudioFrontendIrfftParams", SIGNAL_KERNELS + "irfft.cc",
         m("fft_length", "int32"), m("input_size", "int32"), m("input_length", "int32"),
         m("output_length", "int32"), m("fft_type", "enum"), m("state", "ptr"))

SPEC = OpSpec(Op.CUSTOM, register_irfft, None, tuple(RFFT_TYPES), None,
              ArenaRecipe(None, "TfLiteAudioFrontendIrfftParams", irfft_arena_prepare,
                          init=irfft_arena_init), custom_name="SignalIrfft")
