"""The filter-bank family of TFLM's Signal library: SignalFilterBank,
SignalFilterBankSquareRoot, SignalFilterBankSpectralSubtraction, SignalFilterBankLog.

Mirrors signal/micro/kernels/filter_bank.cc, filter_bank_square_root.cc (+ _common.cc),
filter_bank_spectral_subtraction.cc and filter_bank_log.cc. The arithmetic is
tflm_edu.frontend's, stage by stage: filter_bank.FilterBankConfig.matrix / filter_bank
(FilterbankAccumulateChannels), square_root.filter_bank_square_root (FilterbankSqrt),
noise_reduction.spectral_subtraction (FilterbankSpectralSubtraction) and
log_scale.filter_bank_log (FilterbankLog).

SignalFilterBank: input 0 the energies (uint32 [bins]); inputs 1..5 the bank (int16, 1-D):
weights, unweights, channel_frequency_starts, channel_weight_starts, channel_widths, each
of the last three with num_channels + 1 entries (channel 0 is scratch). Output uint64
[num_channels]. Option `num_channels` (entry 0). Init allocates its params and a work
area of num_channels + 1 uint64 accumulators; Eval copies all but the first out.

SignalFilterBankSquareRoot: input 0 uint64 [channels], input 1 the auto-scale shift
(int32 scalar); output uint32 [channels]. No options, no Init.

SignalFilterBankSpectralSubtraction: input 0 uint32 [channels]; outputs 0 the cleaned
channels and 1 a copy of the noise estimate, both uint32. Nine options, read by index in
key order (alternate_one_minus_smoothing, alternate_smoothing, clamping,
min_signal_remaining, num_channels, one_minus_smoothing, smoothing, smoothing_bits,
spectral_subtraction_bits). The op has memory: Init allocates the noise estimate
(num_channels uint32), Prepare and reset() zero it, and every Eval updates it.

SignalFilterBankLog: input 0 uint32 [channels]; output int16 [channels]. Options
`input_correction_bits` (entry 0) and `output_scale` (entry 1).

What TFLM leaves unchecked and tflm_edu refuses: tensors shorter than the channels the
op walks (num_channels or the input's length), a bank whose start indices and widths
reach outside the energies or the weights, and shifts that are undefined in C (a uint32
shifted by 32 or more, a uint64 by 64 or more).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tflm_edu.errors import ModelError
from tflm_edu.frontend.filter_bank import FilterBankConfig, filter_bank
from tflm_edu.frontend.log_scale import filter_bank_log
from tflm_edu.frontend.noise_reduction import SpectralSubtractionConfig, spectral_subtraction
from tflm_edu.frontend.square_root import filter_bank_square_root
from tflm_edu.kernels.kernel_api import Registration, ensure
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, inputs_then_output
from tflm_edu.kernels.signal_common import ensure_io, ensure_tensor, get_tensors, options
from tflm_edu.memory.layout import c_struct, m
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType

SIGNAL_KERNELS = "signal/micro/kernels/"
SIGNAL_SRC = "signal/src/"
INPUT, OUTPUT = 0, 0

# ----------------------------------------------------------------------------- FilterBank

WEIGHTS, UNWEIGHTS, FREQ_STARTS, WEIGHT_STARTS, WIDTHS = 1, 2, 3, 4, 5
BANK_INPUTS = ("weights", "unweights", "channel_frequency_starts", "channel_weight_starts",
               "channel_widths")
NUM_CHANNELS_INDEX = 0  # 'num_channels'


@dataclass
class TFLMSignalFilterBankParams:
    """The params (filter_bank.cc): the FilterbankConfig, whose arrays Eval points at the
    input tensors, and the work area of num_channels + 1 accumulators. `matrix` caches
    the bank as a dense matrix when its five tensors are constants."""
    num_channels: int = 0
    matrix: np.ndarray | None = field(default=None, repr=False)


def filter_bank_init(context, node):
    num_channels = options(node).element_as_int32(NUM_CHANNELS_INDEX, "num_channels")
    ensure(num_channels >= 0, f"SignalFilterBank's num_channels is {num_channels}")
    return TFLMSignalFilterBankParams(num_channels)


def filter_bank_prepare(context, node):
    ensure_io(node, 6, 1)
    inputs, (output,) = get_tensors(context, node)
    ensure_tensor(inputs[INPUT], 1, TensorType.UINT32, "the energies")
    for tensor, name in zip(inputs[1:], BANK_INPUTS):
        ensure_tensor(tensor, 1, TensorType.INT16, f"the filter bank's {name}")
    ensure_tensor(output, 1, TensorType.UINT64, "the output")
    params: TFLMSignalFilterBankParams = node.user_data
    ensure(output.shape[0] <= params.num_channels,
           f"SignalFilterBank's output holds {output.shape[0]} channels, but the op "
           f"computes num_channels = {params.num_channels}: TFLM copies past its work area")
    for tensor, name in zip(inputs[FREQ_STARTS:], BANK_INPUTS[2:]):
        ensure(tensor.shape[0] >= params.num_channels + 1,
               f"the filter bank's {name} has {tensor.shape[0]} entries; num_channels = "
               f"{params.num_channels} needs {params.num_channels + 1}")
    params.matrix = None
    if all(t.is_constant for t in inputs[1:]):
        params.matrix = bank_matrix(params, inputs)


def bank_matrix(params: TFLMSignalFilterBankParams, inputs) -> np.ndarray:
    """The bank as the frontend's dense matrix, after checking that every channel reads
    inside the energies and the weights (FilterbankAccumulateChannels does not)."""
    n = params.num_channels + 1
    starts, weight_starts, widths = (inputs[i].data[:n].astype(np.int64)
                                     for i in (FREQ_STARTS, WEIGHT_STARTS, WIDTHS))
    used = widths > 0
    spectrum, taps = inputs[INPUT].shape[0], inputs[WEIGHTS].shape[0]
    for what, first, size in (("energies", starts, spectrum),
                              ("weights", weight_starts, min(taps, inputs[UNWEIGHTS].shape[0]))):
        bad = np.flatnonzero(used & ((first < 0) | (first + widths > size)))
        if bad.size:
            c = int(bad[0])
            raise ModelError(f"SignalFilterBank's channel {c} reads {what} {first[c]} .. "
                             f"{first[c] + widths[c] - 1} of {size}: TFLM reads out of bounds")
    config = FilterBankConfig(params.num_channels, 0, 0, inputs[WEIGHTS].data,
                              inputs[UNWEIGHTS].data, starts, weight_starts, widths)
    return config.matrix(spectrum)


def filter_bank_eval(context, node):
    params: TFLMSignalFilterBankParams = node.user_data
    inputs = [context.get_input(node, i) for i in range(6)]
    matrix = params.matrix if params.matrix is not None else bank_matrix(params, inputs)
    output = context.get_output(node, OUTPUT)
    output.data[...] = filter_bank(inputs[INPUT].data, matrix)[:output.shape[0]]


def register_filter_bank():
    return Registration("SignalFilterBank", prepare=filter_bank_prepare, eval=filter_bank_eval,
                        init=filter_bank_init)


def filter_bank_arena_init(k):
    """FilterBankInit, after its params: the work area, num_channels + 1 uint64."""
    k.persistent((k.user_data.num_channels + 1) * 8, "filter bank work area")


# ----------------------------------------------------------------------------- SquareRoot

SCALE_BITS = 1


def square_root_prepare(context, node):
    ensure_io(node, 2, 1)
    (input, scale_bits), (output,) = get_tensors(context, node)
    ensure_tensor(input, 1, TensorType.UINT64, "the input")
    ensure_tensor(scale_bits, 0, TensorType.INT32, "the scale_bits input")
    ensure_tensor(output, 1, TensorType.UINT32, "the output")
    ensure(output.shape[0] >= input.shape[0],
           f"SignalFilterBankSquareRoot's output ({output.shape[0]} values) is shorter than "
           f"its input ({input.shape[0]}): TFLM writes past its end")


def square_root_eval(context, node):
    input, scale_bits = context.get_input(node, INPUT), context.get_input(node, SCALE_BITS)
    output = context.get_output(node, OUTPUT)
    shift = int(scale_bits.data)
    if not 0 <= shift < 32:
        raise ModelError(f"SignalFilterBankSquareRoot: scale_bits is {shift}; shifting a "
                         f"uint32 by that is undefined in C")
    channels = input.shape[0]
    output.data[:channels] = filter_bank_square_root(input.data, np.int64(shift))


def register_filter_bank_square_root():
    return Registration("SignalFilterBankSquareRoot", prepare=square_root_prepare,
                        eval=square_root_eval)


def square_root_arena_prepare(k):
    """FilterBankSquareRootPrepare: temporaries for the input, scale_bits, the output."""
    k.temp_input(INPUT)
    k.temp_input(SCALE_BITS)
    k.temp_output(OUTPUT)


# ----------------------------------------------------------------------------- SpectralSubtraction

NOISE_ESTIMATE = 1
# The nine options in key order: TFLM reads them by these indices.
SPECTRAL_SUBTRACTION_OPTIONS = (
    "alternate_one_minus_smoothing", "alternate_smoothing", "clamping",
    "min_signal_remaining", "num_channels", "one_minus_smoothing", "smoothing",
    "smoothing_bits", "spectral_subtraction_bits")


@dataclass
class TFLMSignalSpectralSubtractionParams:
    """The params (filter_bank_spectral_subtraction.cc): the config, the noise estimate
    (the op's memory, num_channels uint32) and the byte size of the noise output."""
    config: SpectralSubtractionConfig
    noise_estimate: np.ndarray = field(repr=False, default=None)
    noise_estimate_size: int = 0


def spectral_subtraction_init(context, node):
    opts = options(node)
    value = {name: opts.element_as_int32(i, name)
             for i, name in enumerate(SPECTRAL_SUBTRACTION_OPTIONS) if name != "clamping"}
    clamping = opts.element_as_bool(SPECTRAL_SUBTRACTION_OPTIONS.index("clamping"), "clamping")
    ensure(value["num_channels"] >= 0,
           f"SignalFilterBankSpectralSubtraction's num_channels is {value['num_channels']}")
    ensure(0 <= value["smoothing_bits"] < 32,
           f"SignalFilterBankSpectralSubtraction's smoothing_bits is "
           f"{value['smoothing_bits']}: a uint32 shift must be 0..31")
    ensure(0 <= value["spectral_subtraction_bits"] < 64,
           f"SignalFilterBankSpectralSubtraction's spectral_subtraction_bits is "
           f"{value['spectral_subtraction_bits']}: a uint64 shift must be 0..63")
    # The config's members are uint32: a negative option wraps.
    u32 = {name: v & 0xFFFF_FFFF for name, v in value.items()}
    config = SpectralSubtractionConfig(
        value["num_channels"], u32["smoothing"], u32["one_minus_smoothing"],
        u32["alternate_smoothing"], u32["alternate_one_minus_smoothing"],
        u32["min_signal_remaining"], value["smoothing_bits"],
        value["spectral_subtraction_bits"], clamping)
    return TFLMSignalSpectralSubtractionParams(
        config, np.zeros(config.num_channels, dtype=np.uint64))


def spectral_subtraction_prepare(context, node):
    ensure_io(node, 1, 2)
    (input,), (output, noise_estimate) = get_tensors(context, node)
    ensure_tensor(input, 1, TensorType.UINT32, "the input")
    ensure_tensor(output, 1, TensorType.UINT32, "the output")
    ensure_tensor(noise_estimate, 1, TensorType.UINT32, "the noise_estimate output")
    params: TFLMSignalSpectralSubtractionParams = node.user_data
    channels = params.config.num_channels
    for tensor, what in ((input, "input"), (output, "output")):
        ensure(tensor.shape[0] >= channels,
               f"SignalFilterBankSpectralSubtraction's {what} holds {tensor.shape[0]} values; "
               f"the op walks num_channels = {channels}")
    ensure(noise_estimate.shape[0] <= channels,
           f"SignalFilterBankSpectralSubtraction's noise_estimate output holds "
           f"{noise_estimate.shape[0]} values, more than the num_channels = {channels} "
           f"TFLM copies from")
    params.noise_estimate_size = noise_estimate.shape[0] * 4
    spectral_subtraction_reset(context, node)


def spectral_subtraction_eval(context, node):
    params: TFLMSignalSpectralSubtractionParams = node.user_data
    channels = params.config.num_channels
    input = context.get_input(node, INPUT)
    output = context.get_output(node, OUTPUT)
    noise_estimate = context.get_output(node, NOISE_ESTIMATE)
    cleaned, estimates = spectral_subtraction(params.config, input.data[None, :channels],
                                              params.noise_estimate)
    params.noise_estimate = estimates[-1]
    output.data[:channels] = cleaned[0]
    noise_estimate.data[...] = params.noise_estimate[:noise_estimate.shape[0]]


def spectral_subtraction_reset(context, node):
    """FilterBankSpectralSubtractionResetState: the noise estimate goes back to zero."""
    node.user_data.noise_estimate[...] = 0


def register_filter_bank_spectral_subtraction():
    return Registration("SignalFilterBankSpectralSubtraction",
                        prepare=spectral_subtraction_prepare, eval=spectral_subtraction_eval,
                        init=spectral_subtraction_init, reset=spectral_subtraction_reset)


def spectral_subtraction_arena_init(k):
    """FilterBankSpectralSubtractionInit, after its params: the noise estimate."""
    k.persistent(k.user_data.config.num_channels * 4, "noise estimate")


def spectral_subtraction_arena_prepare(k):
    """Prepare: temporaries for the input, the output and the noise_estimate output."""
    k.temp_input(INPUT)
    k.temp_output(OUTPUT)
    k.temp_output(NOISE_ESTIMATE)


# ----------------------------------------------------------------------------- Log

INPUT_CORRECTION_BITS_INDEX, OUTPUT_SCALE_INDEX = 0, 1  # 'input_correction_bits', ...


@dataclass
class TFLMSignalLogParams:
    input_correction_bits: int = 0
    output_scale: int = 0


def log_init(context, node):
    opts = options(node)
    params = TFLMSignalLogParams(
        opts.element_as_int32(INPUT_CORRECTION_BITS_INDEX, "input_correction_bits"),
        opts.element_as_int32(OUTPUT_SCALE_INDEX, "output_scale"))
    ensure(0 <= params.input_correction_bits < 32,
           f"SignalFilterBankLog's input_correction_bits is {params.input_correction_bits}: "
           f"a uint32 shift must be 0..31")
    return params


def log_prepare(context, node):
    ensure_io(node, 1, 1)
    (input,), (output,) = get_tensors(context, node)
    ensure_tensor(input, 1, TensorType.UINT32, "the input")
    ensure_tensor(output, 1, TensorType.INT16, "the output")
    ensure(output.shape[0] >= input.shape[0],
           f"SignalFilterBankLog's output ({output.shape[0]} values) is shorter than its "
           f"input ({input.shape[0]}): TFLM writes past its end")


def log_eval(context, node):
    params: TFLMSignalLogParams = node.user_data
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    # Log32 takes the scale as a uint32: a negative option wraps.
    output.data[:input.shape[0]] = filter_bank_log(input.data, params.output_scale & 0xFFFF_FFFF,
                                                   params.input_correction_bits)


def register_filter_bank_log():
    return Registration("SignalFilterBankLog", prepare=log_prepare, eval=log_eval,
                        init=log_init)


# ----------------------------------------------------------------------------- specs

c_struct("FilterbankConfig", SIGNAL_SRC + "filter_bank.h",
         m("num_channels", "int32"), m("channel_frequency_starts", "ptr"),
         m("channel_weight_starts", "ptr"), m("channel_widths", "ptr"), m("weights", "ptr"),
         m("unweights", "ptr"), m("output_scale", "int32"), m("input_correction_bits", "int32"))
c_struct("TFLMSignalFilterBankParams", SIGNAL_KERNELS + "filter_bank.cc",
         m("config", "FilterbankConfig"), m("work_area", "ptr"))
c_struct("SpectralSubtractionConfig", SIGNAL_SRC + "filter_bank_spectral_subtraction.h",
         m("num_channels", "int32"), m("smoothing", "int32"), m("one_minus_smoothing", "int32"),
         m("min_signal_remaining", "int32"), m("alternate_smoothing", "int32"),
         m("alternate_one_minus_smoothing", "int32"), m("smoothing_bits", "int32"),
         m("spectral_subtraction_bits", "int32"), m("clamping", "bool"))
c_struct("TFLMSignalSpectralSubtractionParams",
         SIGNAL_KERNELS + "filter_bank_spectral_subtraction.cc",
         m("config", "SpectralSubtractionConfig"), m("noise_estimate", "ptr"),
         m("noise_estimate_size", "ptr"))
c_struct("TFLMSignalLogParams", SIGNAL_KERNELS + "filter_bank_log.cc",
         m("input_correction_bits", "int"), m("output_scale", "int"))

SPECS = [
    OpSpec(Op.CUSTOM, register_filter_bank, None, (TensorType.UINT32,), None,
           ArenaRecipe(None, "TFLMSignalFilterBankParams", inputs_then_output(6),
                       init=filter_bank_arena_init), custom_name="SignalFilterBank"),
    OpSpec(Op.CUSTOM, register_filter_bank_square_root, None, (TensorType.UINT64,), None,
           ArenaRecipe(None, None, square_root_arena_prepare),
           custom_name="SignalFilterBankSquareRoot"),
    OpSpec(Op.CUSTOM, register_filter_bank_spectral_subtraction, None, (TensorType.UINT32,),
           None, ArenaRecipe(None, "TFLMSignalSpectralSubtractionParams",
                             spectral_subtraction_arena_prepare,
                             init=spectral_subtraction_arena_init),
           custom_name="SignalFilterBankSpectralSubtraction"),
    OpSpec(Op.CUSTOM, register_filter_bank_log, None, (TensorType.UINT32,), None,
           ArenaRecipe(None, "TFLMSignalLogParams", inputs_then_output(1)),
           custom_name="SignalFilterBankLog"),
]
