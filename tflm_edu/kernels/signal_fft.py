"""SignalFftAutoScale and SignalRfft: normalise a frame, then take its real FFT.

Mirrors signal/micro/kernels/fft_auto_scale_kernel.cc and fft_auto_scale_common.cc
(FftAutoScalePrepare, FftAutoScaleEval), and signal/micro/kernels/rfft.cc (RfftInitAll,
RfftPrepare, RfftEval) with signal/src/rfft_int16.cc, rfft_int32.cc and rfft_float.cc. The
arithmetic is tflm_edu.frontend: fft.fft_auto_scale (FftAutoScale, MaxAbs16) and fft.rfft /
kiss_fft.KissFftr (kissfft's real FFT in its int16, int32 and float builds, butterfly for
butterfly).

SignalFftAutoScale: input 0 int16 [n]; outputs 0 the scaled frame int16 [n] and 1 the
shift it applied, an int32 scalar. It has no options and no Init. Eval scales as many
samples as the output holds (output->dims->data[0]).

SignalRfft: input 0 [..., input_length], output 0 [..., 2 * bins] (re, im interleaved).
Custom options `T` (the TensorType, read by name: INT16, INT32 or FLOAT32, and FLOAT32
when absent) and `fft_length` (entry 1). Init (RfftInitAll) allocates the op's params and
the kissfft state of that type (kiss_fftr_alloc's memneeded bytes, tabulated twiddles);
Prepare requests a scratch buffer of fft_length samples, into which Eval copies each frame
and zero-pads it. The int16 FFT is the micro_speech preprocessor's.

What TFLM leaves unchecked and tflm_edu refuses: a frame longer than fft_length (the
zero-padding memset gets a negative length), an odd fft_length (kiss_fftr_alloc fails and
the state is never set up), a half length with a prime factor above 5 or of 1 (kissfft's
generic butterfly dereferences a NULL scratch: the real TFLM segfaults), a T other than
the three (RfftInitAll returns no params and Prepare reads through the null pointer), an
output row shorter than fft_length / 2 + 1 bins or with fewer rows than the input (Eval
writes past it), and for FftAutoScale an output longer than its input (Eval reads past
it).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tflm_edu.frontend.fft import fft_auto_scale, kiss_fftr, rfft
from tflm_edu.frontend.kiss_fft import unsupported_length
from tflm_edu.kernels.kernel_api import Registration, ensure
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec
from tflm_edu.kernels.signal_common import HOST_POINTER_BYTES, ensure_io, ensure_tensor, \
    flat_size, get_tensors, options
from tflm_edu.memory.layout import c_struct, m
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType, type_name

SIGNAL_KERNELS = "signal/micro/kernels/"

# ----------------------------------------------------------------------------- FftAutoScale

INPUT, OUTPUT, SCALE_BIT = 0, 0, 1


def auto_scale_prepare(context, node):
    ensure_io(node, 1, 2)
    (input,), (output, scale_bit) = get_tensors(context, node)
    ensure_tensor(input, 1, TensorType.INT16, "the input")
    ensure_tensor(output, 1, TensorType.INT16, "the output")
    ensure_tensor(scale_bit, 0, TensorType.INT32, "the scale_bit output")
    ensure(output.shape[0] <= input.shape[0],
           f"SignalFftAutoScale's output ({output.shape[0]} samples) is longer than its "
           f"input ({input.shape[0]}): TFLM reads past the input")


def auto_scale_eval(context, node):
    input = context.get_input(node, INPUT)
    output, scale_bit = context.get_output(node, OUTPUT), context.get_output(node, SCALE_BIT)
    size = output.shape[0]
    if size == 0:   # MaxAbs16 of no samples is 0: the shift of a silent frame, nothing written
        scale_bit.data[...] = fft_auto_scale(np.zeros((1, 1), np.int16))[1][0]
        return
    scaled, scale_bits = fft_auto_scale(input.data[None, :size])
    output.data[...] = scaled[0]
    scale_bit.data[...] = scale_bits[0]


def register_fft_auto_scale():
    return Registration("SignalFftAutoScale", prepare=auto_scale_prepare, eval=auto_scale_eval)


def auto_scale_arena_prepare(k):
    """FftAutoScalePrepare: temporaries for the input, the output and the scale output."""
    k.temp_input(INPUT)
    k.temp_output(OUTPUT)
    k.temp_output(SCALE_BIT)


# ----------------------------------------------------------------------------- Rfft

TYPE_KEY = "T"        # read by name: flexbuffers::Map::operator["T"]
FFT_LENGTH_INDEX = 1  # 'fft_length' ('T' sorts first)
RFFT_TYPES = {TensorType.INT16: np.int16, TensorType.INT32: np.int32,
              TensorType.FLOAT32: np.float32}   # RfftInitAll's three cases
# kissfft's structs (kiss_fft.c v130 and tools/kiss_fftr.c): kiss_fft_state holds nfft,
# inverse and factors[2 * MAXFACTORS] ints, then its twiddles; kiss_fftr_state three
# pointers (substate, tmpbuf, super_twiddles).
MAXFACTORS = 32


def kiss_fftr_state_bytes(fft_length: int, cpx_bytes: int,
                          pointer_bytes: int = HOST_POINTER_BYTES) -> int:
    """kiss_fftr_alloc's memneeded: the real FFT's header, the half-length complex FFT's
    state (header with one twiddle, then nfft - 1 more) and the 3/2 * nfft complex values
    of tmpbuf and the super twiddles."""
    nfft = fft_length // 2
    state = (2 + 2 * MAXFACTORS) * 4 + cpx_bytes * nfft       # kiss_fft_state + twiddles
    state = -(-state // 4) * 4                                 # padded to its int alignment
    return 3 * pointer_bytes + state + cpx_bytes * (nfft * 3 // 2)


@dataclass
class TfLiteAudioFrontendRfftParams:
    """The op's params (rfft.cc); `state` stands for the kissfft state Init fills."""
    fft_length: int = 0
    input_size: int = 0
    input_length: int = 0
    output_length: int = 0  # complex values per output row
    fft_type: int = TensorType.INT16   # typeToTfLiteType<T>()
    scratch_buffer_index: int = -1


def fft_options(node, op_name: str) -> tuple[int, int]:
    """(T, fft_length) of SignalRfft / SignalIrfft, checked as their InitAll needs them."""
    opts = options(node)
    fft_type = opts.get(TYPE_KEY)   # absent: 0, which is FLOAT32
    ensure(fft_type in RFFT_TYPES,
           f"{op_name} of type {type_name(fft_type)} (option T = {fft_type}): TFLM's "
           f"kernel takes int16, int32 and float32 (its Init returns no params otherwise)")
    fft_length = opts.element_as_int32(FFT_LENGTH_INDEX, "fft_length")
    why = unsupported_length(fft_length)
    ensure(why is None, f"{op_name}'s fft_length: {why}")
    return fft_type, fft_length


def rfft_init(context, node):
    fft_type, fft_length = fft_options(node, "SignalRfft")
    kiss_fftr(fft_length, RFFT_TYPES[fft_type])   # the state Init tabulates, built once
    return TfLiteAudioFrontendRfftParams(fft_length, fft_type=fft_type)


def rfft_prepare(context, node):
    ensure_io(node, 1, 1)
    (input,), (output,) = get_tensors(context, node)
    params: TfLiteAudioFrontendRfftParams = node.user_data
    ensure(len(input.shape) == len(output.shape),
           f"SignalRfft's input and output ranks differ: {list(input.shape)} vs "
           f"{list(output.shape)}")
    ensure(len(input.shape) >= 1, "SignalRfft's input must have at least one dimension")
    ensure_tensor(input, len(input.shape), params.fft_type, "the input")
    ensure_tensor(output, len(output.shape), params.fft_type, "the output")
    params.input_length = input.shape[-1]
    params.input_size = flat_size(input)
    params.output_length = output.shape[-1] // 2
    bins = params.fft_length // 2 + 1
    ensure(params.input_length <= params.fft_length,
           f"SignalRfft's frames ({params.input_length} samples) are longer than "
           f"fft_length {params.fft_length}")
    ensure(params.input_length > 0 or params.input_size == 0,
           "SignalRfft's frames are empty: TFLM's Eval would loop forever")
    ensure(params.output_length >= bins,
           f"SignalRfft's output rows hold {params.output_length} complex values; an FFT "
           f"of length {params.fft_length} writes {bins}")
    frames = params.input_size // params.input_length if params.input_length else 0
    ensure(flat_size(output) // 2 >= (frames - 1) * params.output_length + bins
           if frames else True,
           f"SignalRfft's output has fewer rows than its input's {frames} frames")
    itemsize = np.dtype(RFFT_TYPES[params.fft_type]).itemsize
    params.scratch_buffer_index = context.request_scratch_buffer_in_arena(
        params.fft_length * itemsize)


def rfft_eval(context, node):
    params: TfLiteAudioFrontendRfftParams = node.user_data
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    dtype = RFFT_TYPES[params.fft_type]
    work_area = context.get_scratch_buffer(params.scratch_buffer_index).view(dtype)
    samples = input.data.reshape(-1)
    out = output.data.reshape(-1)
    bins = params.fft_length // 2 + 1
    # (an empty input has frames of length 0, and TFLM's loop ends at once)
    for frame, start in enumerate(range(0, params.input_size, max(params.input_length, 1))):
        # The frame is copied into the scratch buffer and zero-padded there, as in TFLM.
        work_area[:params.input_length] = samples[start:start + params.input_length]
        work_area[params.input_length:params.fft_length] = 0
        spectrum = rfft(work_area[None, :params.fft_length], params.fft_length, dtype)
        first = 2 * frame * params.output_length
        out[first:first + 2 * bins] = spectrum[0]


def register_rfft():
    return Registration("SignalRfft", prepare=rfft_prepare, eval=rfft_eval, init=rfft_init)


def rfft_arena_init(k):
    """RfftInit, after the params struct: the kissfft state (kiss_fftr_alloc's size).
    It holds three pointers, so its size depends on the target."""
    params = k.user_data
    cpx_bytes = 2 * np.dtype(RFFT_TYPES[params.fft_type]).itemsize
    k.persistent(lambda target: kiss_fftr_state_bytes(params.fft_length, cpx_bytes,
                                                      target.pointer_bytes), "kiss_fftr state")


def rfft_arena_prepare(k):
    """RfftPrepare: temporaries for the input and the output (the scratch buffer is
    requested by rfft_prepare above)."""
    k.temp_input(INPUT)
    k.temp_output(OUTPUT)


c_struct("TfLiteAudioFrontendRfftParams", SIGNAL_KERNELS + "rfft.cc",
         m("fft_length", "int32"), m("input_size", "int32"), m("input_length", "int32"),
         m("output_length", "int32"), m("fft_type", "enum"), m("work_area", "ptr"),
         m("scratch_buffer_index", "int"), m("state", "ptr"))

SPECS = [
    OpSpec(Op.CUSTOM, register_fft_auto_scale, None, (TensorType.INT16,), None,
           ArenaRecipe(None, None, auto_scale_arena_prepare), custom_name="SignalFftAutoScale"),
    OpSpec(Op.CUSTOM, register_rfft, None, tuple(RFFT_TYPES), None,
           ArenaRecipe(None, "TfLiteAudioFrontendRfftParams", rfft_arena_prepare,
                       init=rfft_arena_init), custom_name="SignalRfft"),
]
