"""TFLM's Signal library ops (custom ops) against the real TFLM, op by op, then the whole
micro_speech preprocessor.

Each op runs in a one-op model built here (signal_model) through tflm_edu and the
tflite-micro package side by side, for several invokes where the op keeps state (the
noise estimate of SignalFilterBankSpectralSubtraction), with reset() in between; outputs
must be byte-equal after every invoke. The custom options are the flexbuffer maps the
Signal library's Python wrappers write. Then audio_preprocessor_{int8,float}.tflite run on
49 windows of real speech, equal to the real TFLM and to tflm_edu.frontend.
"""
import numpy as np
import pytest
from flatbuffers import flexbuffers

from conftest import reference_file, reference_model
from op_harness import oracle_runtime
from tflm_edu.arena_size import estimate_arena_size
from tflm_edu.arena_size.oracle import smallest_arena_tflm
from tflm_edu.datasets.speech_commands import read_wav
from tflm_edu.errors import ModelError
from tflm_edu.frontend import MicroSpeechFrontend, prepare
from tflm_edu.frontend.window import hann_window_weights
from tflm_edu.interpreter import MicroInterpreter
from tflm_edu.memory.layout import get_target
from tflm_edu.op_resolver import AllOpsResolver, CUSTOM_SPECS, MicroMutableOpResolver
from tflm_edu.schema import read_model, write_model
from tflm_edu.schema.builder import ModelBuilder
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType

CONFIG = prepare()   # the micro_speech frontend's constants: its bank, gain table, ...
BANK = CONFIG.filter_bank
SPECTRAL_SUBTRACTION = {   # the preprocessor model's options
    "alternate_one_minus_smoothing": 15401, "alternate_smoothing": 983, "clamping": False,
    "min_signal_remaining": 819, "num_channels": 40, "one_minus_smoothing": 15975,
    "smoothing": 409, "smoothing_bits": 10, "spectral_subtraction_bits": 14}


# ----------------------------------------------------------------------------- helpers


def signal_model(name, inputs, outputs, opts):
    """A model of one Signal op. `inputs`: (shape, dtype) for a graph input or
    (shape, dtype, data) for a constant; `outputs`: (shape, dtype), all graph outputs;
    `opts`: the custom options (a dict, flexbuffer bytes, or None for none)."""
    b = ModelBuilder()
    indices = [b.add_input(spec[0], spec[1]) if len(spec) == 2
               else b.add_tensor(spec[0], spec[1], data=spec[2]) for spec in inputs]
    out = [b.add_tensor(shape, dtype) for shape, dtype in outputs]
    custom = flexbuffers.Dumps(opts) if isinstance(opts, dict) else opts
    b.add_operator(Op.CUSTOM, indices, out, custom_options=custom, custom_code=name)
    for index in out:
        b.mark_output(index)
    return b.build()


def random_values(rng, shape, dtype, high=None):
    """Seeded values over the whole range of an integer dtype (or [0, high))."""
    info = np.iinfo(dtype)
    top = info.max if high is None else high - 1
    return rng.integers(info.min if high is None else 0, top, shape, endpoint=True,
                        dtype=np.int64 if dtype != np.uint64 else np.uint64).astype(dtype)


def run_invokes(model, feeds, reset_at=(), view=None):
    """Invoke tflm_edu and the real TFLM once per entry of `feeds` (a list of input
    lists), resetting both before the invokes in `reset_at`; assert byte-equal outputs
    after each (view(output_index, array) picks the part to compare). Returns tflm_edu's
    outputs per invoke."""
    data = model if isinstance(model, bytes) else write_model(model)
    ours = MicroInterpreter(read_model(data), AllOpsResolver(), None)
    ours.allocate_tensors()
    theirs = oracle_runtime().Interpreter.from_bytes(data, arena_size=200_000)
    history = []
    for k, inputs in enumerate(feeds):
        if k in reset_at:
            ours.reset()
            theirs.reset()
        for i, x in enumerate(inputs):
            ours.input(i).data[...] = x
            theirs.set_input(x, i)
        ours.invoke()
        theirs.invoke()
        outputs = []
        for o in range(ours.outputs_size):
            a = ours.output(o).data.copy()
            b = np.asarray(theirs.get_output(o)).reshape(a.shape).astype(a.dtype)
            if view is not None:
                a, b = view(o, a), view(o, b)
            assert a.tobytes() == b.tobytes(), (
                f"invoke {k}, output {o}: {np.count_nonzero(a != b)} values differ; "
                f"tflm_edu {a.reshape(-1)[:6]} vs TFLM {b.reshape(-1)[:6]}")
            outputs.append(a)
        history.append(outputs)
    return history


def check(model, *inputs, view=None):
    """One invoke, byte-equal to the real TFLM; tflm_edu's outputs."""
    return run_invokes(model, [list(inputs)], view=view)[0]


def refuses(model, match):
    with pytest.raises(ModelError, match=match):
        MicroInterpreter(model, AllOpsResolver(), None).allocate_tensors()


def arena_is_tflms(model):
    assert estimate_arena_size(model, "host").arena_bytes == smallest_arena_tflm(model)


# ----------------------------------------------------------------------------- SignalWindow


def window_model(shape, window, shift, weights=None, seed=0, out_shape=None):
    if weights is None:
        weights = random_values(np.random.default_rng(seed), (window,), np.int16)
    return signal_model("SignalWindow", [(shape, np.int16), ((window,), np.int16, weights)],
                        [(out_shape or shape, np.int16)], {"shift": shift})


@pytest.mark.parametrize("shape,window", [((480,), 480), ((1, 480), 480), ((3, 16), 16),
                                          ((2, 3, 8), 8), ((2, 3, 8), 24), ((5,), 1)])
@pytest.mark.parametrize("shift", [0, 5, 12, 15, 31])
def test_window(shape, window, shift):
    rng = np.random.default_rng(shift)
    check(window_model(shape, window, shift, seed=shift), random_values(rng, shape, np.int16))


def test_window_hann_weights_and_extremes():
    model = window_model((1, 480), 480, 12, hann_window_weights(480, 12))
    rng = np.random.default_rng(1)
    for x in (random_values(rng, (1, 480), np.int16), np.full((1, 480), -32768, np.int16),
              np.full((1, 480), 32767, np.int16)):
        check(model, x)


def test_window_refusals():
    refuses(window_model((10,), 4, 12), "whole number")
    refuses(window_model((8,), 4, 32), "shift")
    refuses(window_model((8,), 4, -1), "shift")
    refuses(window_model((2, 4), 4, 12, out_shape=(1, 4)), "shorter")
    refuses(window_model((2, 4), 4, 12, out_shape=(8,)), "ranks differ")
    model = window_model((8,), 4, 12)
    model.subgraphs[0].operators[0].custom_options = None
    refuses(model, "no custom options")
    refuses(signal_model("SignalWindow", [((8,), np.int16), ((4,), np.int16, np.ones(4))],
                         [((8,), np.int16)], {"shift": 1.5}), "not an integer")
    refuses(signal_model("SignalWindow", [((8,), np.float32), ((4,), np.int16, np.ones(4))],
                         [((8,), np.float32)], {"shift": 1}), "INT16|int16")


# ----------------------------------------------------------------------------- SignalFftAutoScale


def auto_scale_model(n=480, out=None):
    return signal_model("SignalFftAutoScale", [((n,), np.int16)],
                        [((out or n,), np.int16), ((), np.int32)], None)


@pytest.mark.parametrize("amplitude", [0, 1, 2, 3, 100, 1000, 16383, 16384, 32767])
def test_fft_auto_scale(amplitude):
    rng = np.random.default_rng(amplitude)
    x = rng.integers(-amplitude, amplitude, 480, endpoint=True).astype(np.int16)
    out = check(auto_scale_model(), x)
    assert out[1] == (15 - int(np.abs(x.astype(int)).max()).bit_length() if amplitude else 0)


def test_fft_auto_scale_int16_min_quirk():
    """MaxAbs16 wraps -(-32768) to -32768: the peak found depends on the order."""
    rng = np.random.default_rng(3)
    for position in (0, 5, 479):
        x = rng.integers(-100, 100, 480).astype(np.int16)
        x[position] = -32768
        x[(position + 7) % 480] = 50
        check(auto_scale_model(), x)


def test_fft_auto_scale_shorter_output():
    x = np.random.default_rng(4).integers(-300, 300, 480).astype(np.int16)
    x[300] = 20000   # past the part the output holds: it must not count
    out = check(auto_scale_model(480, 100), x)
    assert out[1] > 0


def test_fft_auto_scale_refusals():
    refuses(auto_scale_model(100, 480), "longer than its input")
    refuses(signal_model("SignalFftAutoScale", [((2, 8), np.int16)],
                         [((2, 8), np.int16), ((), np.int32)], None), "dimension")
    refuses(signal_model("SignalFftAutoScale", [((8,), np.int16)],
                         [((8,), np.int16), ((1,), np.int32)], None), "dimension")
    refuses(signal_model("SignalFftAutoScale", [((8,), np.int16)], [((8,), np.int16)], None),
            "output")


# ----------------------------------------------------------------------------- SignalRfft


def rfft_model(fft_length, shape, out_rows=None, tensor_type=TensorType.INT16, dtype=np.int16,
               opts=None):
    rows = shape[:-1] if out_rows is None else out_rows
    return signal_model("SignalRfft", [(shape, dtype)], [(rows + (fft_length + 2,), dtype)],
                        opts or {"T": int(tensor_type), "fft_length": fft_length})


@pytest.mark.parametrize("fft_length,shape", [(512, (480,)), (512, (1, 512)), (256, (3, 200)),
                                              (128, (2, 2, 128)), (64, (5, 33)), (32, (4, 1)),
                                              (16, (16,)), (8, (2, 8)), (4, (3,))])
def test_rfft_int16(fft_length, shape):
    rng = np.random.default_rng(fft_length)
    check(rfft_model(fft_length, shape), random_values(rng, shape, np.int16))


def test_rfft_of_the_preprocessors_scaled_window():
    """SignalRfft as the preprocessor runs it: a Hann-windowed, auto-scaled frame."""
    rng = np.random.default_rng(7)
    for amplitude in (50, 3000, 32767):
        x = rng.integers(-amplitude, amplitude, 480).astype(np.int16)
        check(rfft_model(512, (480,)), x)


def test_rfft_refusals():
    refuses(rfft_model(512, (600,)), "longer than")
    refuses(rfft_model(28, (8,)), "radix 7")           # 14 = 2 x 7: TFLM crashes
    refuses(rfft_model(15, (8,), opts={"T": 7, "fft_length": 15}), "even")
    refuses(signal_model("SignalRfft", [((8,), np.int16)], [((6,), np.int16)],
                         {"T": 7, "fft_length": 8}), "complex values")
    refuses(rfft_model(8, (3, 8), out_rows=(2,)), "fewer rows")
    refuses(rfft_model(8, (8,), tensor_type=TensorType.INT8, dtype=np.int8), "INT8")
    refuses(rfft_model(8, (8,), opts={"T": 0, "fft_length": 8}), "FLOAT32")  # int16 tensors
    refuses(rfft_model(8, (8,), opts={"fft_length": 8}), "past the end")  # entry 1 missing


# ----------------------------------------------------------------------------- SignalEnergy


def energy_model(bins, start, end):
    return signal_model("SignalEnergy", [((2 * bins,), np.int16)], [((bins,), np.uint32)],
                        {"start_index": start, "end_index": end})


@pytest.mark.parametrize("bins,start,end", [(257, 5, 241), (257, 0, 257), (33, 10, 11),
                                            (16, 3, 16), (9, 0, 1)])
def test_energy(bins, start, end):
    """Only the band is written: bins outside it keep the arena's old bytes, in both."""
    rng = np.random.default_rng(bins + start)
    x = random_values(rng, (2 * bins,), np.int16)
    x[2 * start: 2 * start + 4] = -32768     # re = im = -32768: the uint32 wrap-around
    out = check(energy_model(bins, start, end), x, view=lambda o, a: a[start:end])
    assert out[0][0] == (2 * start < 2 * end) * (2 * 32768 ** 2 & 0xFFFFFFFF)


def test_energy_empty_band_writes_nothing():
    model = energy_model(8, 5, 3)
    ours = MicroInterpreter(model, AllOpsResolver(), None)
    ours.allocate_tensors()
    ours.output(0).data[...] = 77
    ours.input(0).data[...] = 1000
    ours.invoke()
    assert (ours.output(0).data == 77).all()


def test_energy_refusals():
    refuses(energy_model(8, 0, 9), "past the spectrum")
    refuses(signal_model("SignalEnergy", [((20,), np.int16)], [((5,), np.uint32)],
                         {"start_index": 0, "end_index": 8}), "past the output")
    refuses(energy_model(8, -1, 4), "start_index")
    refuses(signal_model("SignalEnergy", [((16,), np.int16)], [((8,), np.int32)],
                         {"start_index": 0, "end_index": 8}), "UINT32|uint32")


# ----------------------------------------------------------------------------- SignalFilterBank


def filter_bank_model(bins, weights, unweights, starts, weight_starts, widths, channels,
                      out_channels=None):
    n = len(starts)
    return signal_model(
        "SignalFilterBank",
        [((bins,), np.uint32), ((len(weights),), np.int16, weights),
         ((len(unweights),), np.int16, unweights), ((n,), np.int16, starts),
         ((n,), np.int16, weight_starts), ((n,), np.int16, widths)],
        [((out_channels or channels,), np.uint64)], {"num_channels": channels})


def micro_speech_bank_model():
    return filter_bank_model(257, BANK.weights, BANK.unweights, BANK.channel_frequency_starts,
                             BANK.channel_weight_starts, BANK.channel_widths, 40)


def random_bank(seed, bins=40, channels=6, taps=60):
    rng = np.random.default_rng(seed)
    widths = rng.integers(0, 9, channels + 1)
    starts = rng.integers(0, bins - widths + 1)
    weight_starts = rng.integers(0, taps - widths + 1)
    return (bins, random_values(rng, (taps,), np.int16), random_values(rng, (taps,), np.int16),
            starts, weight_starts, widths, channels)


def test_filter_bank_micro_speech():
    rng = np.random.default_rng(0)
    model = micro_speech_bank_model()
    for high in (2 ** 10, 2 ** 31, 2 ** 32):
        check(model, random_values(rng, (257,), np.uint32, high))


@pytest.mark.parametrize("seed", range(6))
def test_filter_bank_random_banks(seed):
    """Negative weights and full-range energies: the uint64 sums wrap modulo 2**64."""
    bank = random_bank(seed)
    x = random_values(np.random.default_rng(seed), (bank[0],), np.uint32)
    check(filter_bank_model(*bank), x)
    check(filter_bank_model(*bank, out_channels=bank[-1] - 2), x)


def test_filter_bank_with_bank_as_inputs():
    """The bank's five tensors may be graph inputs: the matrix is built at Eval then."""
    bins, w, u, s, ws, wd, channels = random_bank(9)
    n = len(s)
    model = signal_model(
        "SignalFilterBank", [((bins,), np.uint32), ((len(w),), np.int16), ((len(u),), np.int16),
                             ((n,), np.int16), ((n,), np.int16), ((n,), np.int16)],
        [((channels,), np.uint64)], {"num_channels": channels})
    x = random_values(np.random.default_rng(1), (bins,), np.uint32)
    check(model, x, w, u, s.astype(np.int16), ws.astype(np.int16), wd.astype(np.int16))
    bad = s.astype(np.int16).copy()
    bad[np.argmax(wd)] = bins   # a used channel starting past the energies
    with pytest.raises(ModelError, match="out of bounds"):
        run_invokes(model, [[x, w, u, bad, ws.astype(np.int16), wd.astype(np.int16)]])


def test_filter_bank_refusals():
    bins, w, u, s, ws, wd, channels = random_bank(1)
    refuses(filter_bank_model(bins, w, u, s, ws, wd, channels, out_channels=channels + 1),
            "work area")
    refuses(filter_bank_model(bins, w, u, s[:-1], ws[:-1], wd[:-1], channels), "entries")
    wide = wd.copy()
    wide[0] = bins + 1
    refuses(filter_bank_model(bins, w, u, s, ws, wide, channels), "out of bounds")
    negative = s.copy()
    negative[1], wide[1] = -2, 3
    refuses(filter_bank_model(bins, w, u, negative, ws, np.maximum(wd, 1), channels),
            "out of bounds")


# ----------------------------------------------------------------------------- SquareRoot


def square_root_model(channels=40, out=None):
    return signal_model("SignalFilterBankSquareRoot",
                        [((channels,), np.uint64), ((), np.int32)],
                        [((out or channels,), np.uint32)], None)


@pytest.mark.parametrize("scale_bits", [0, 1, 7, 15, 31])
def test_filter_bank_square_root(scale_bits):
    rng = np.random.default_rng(scale_bits)
    x = np.concatenate([random_values(rng, (20,), np.uint64),
                        random_values(rng, (10,), np.uint64, 2 ** 32),
                        np.array([0, 1, 2, 3, 2 ** 32 - 1, 2 ** 32, 2 ** 64 - 1,
                                  (2 ** 32 - 1) ** 2, 65535 ** 2 + 65535, 65535 ** 2 + 65536],
                                 dtype=np.uint64)])
    check(square_root_model(), x, np.int32(scale_bits))


def test_filter_bank_square_root_refusals():
    refuses(square_root_model(40, 39), "shorter")
    with pytest.raises(ModelError, match="undefined"):
        run_invokes(square_root_model(4), [[np.arange(4, dtype=np.uint64), np.int32(32)]])


# ----------------------------------------------------------------------------- SpectralSubtraction


def spectral_subtraction_model(opts=None, channels=40, outs=None):
    opts = dict(SPECTRAL_SUBTRACTION, **(opts or {}))
    out, noise = outs or (channels, channels)
    return signal_model("SignalFilterBankSpectralSubtraction", [((channels,), np.uint32)],
                        [((out,), np.uint32), ((noise,), np.uint32)], opts)


def feeds(rng, invokes, channels, high):
    """Slowly varying channel levels, as a filter bank gives them."""
    level = rng.integers(1, high, channels)
    return [[(level * rng.uniform(0.2, 2.0, channels)).astype(np.uint32)]
            for _ in range(invokes)]


@pytest.mark.parametrize("opts", [{}, {"clamping": True},
                                  {"smoothing": 8000, "one_minus_smoothing": 8384,
                                   "alternate_smoothing": 0, "alternate_one_minus_smoothing": 0},
                                  {"smoothing_bits": 0, "min_signal_remaining": 0},
                                  {"smoothing_bits": 20, "spectral_subtraction_bits": 10}])
def test_spectral_subtraction_over_invokes(opts):
    """The noise estimate carries over from invoke to invoke; reset() zeroes it."""
    rng = np.random.default_rng(len(opts))
    history = run_invokes(spectral_subtraction_model(opts), feeds(rng, 12, 40, 5000),
                          reset_at=(6,))
    assert history[5][1].any() and not np.array_equal(history[5][1], history[6][1])


def test_spectral_subtraction_wide_values_and_odd_options():
    """Full-range uint32 inputs (the << smoothing_bits drops high bits) and coefficients
    that do not sum to one (the estimate loses its high bits in uint32), some negative
    (the config holds them as uint32)."""
    rng = np.random.default_rng(5)
    run_invokes(spectral_subtraction_model(), [[random_values(rng, (40,), np.uint32)]
                                               for _ in range(5)])
    odd = {"smoothing": 60000, "one_minus_smoothing": 50000, "alternate_smoothing": -3,
           "alternate_one_minus_smoothing": 123456, "min_signal_remaining": -1}
    run_invokes(spectral_subtraction_model(odd), [[random_values(rng, (40,), np.uint32)]
                                                  for _ in range(5)])


def test_spectral_subtraction_channel_counts():
    """num_channels below the tensors' length: the rest of the output is left alone, and
    the noise output may hold fewer values than the estimate."""
    rng = np.random.default_rng(6)
    model = spectral_subtraction_model({"num_channels": 7}, channels=10, outs=(10, 5))
    run_invokes(model, feeds(rng, 4, 10, 3000), view=lambda o, a: a[:7])


def test_spectral_subtraction_refusals():
    refuses(spectral_subtraction_model({"num_channels": 41}), "walks")
    refuses(spectral_subtraction_model(outs=(40, 41)), "copies from")
    refuses(spectral_subtraction_model({"smoothing_bits": 32}), "smoothing_bits")
    refuses(spectral_subtraction_model({"spectral_subtraction_bits": 64}),
            "spectral_subtraction_bits")
    short = {k: v for k, v in SPECTRAL_SUBTRACTION.items() if k != "spectral_subtraction_bits"}
    refuses(signal_model("SignalFilterBankSpectralSubtraction", [((40,), np.uint32)],
                         [((40,), np.uint32), ((40,), np.uint32)], short), "past the end")


# ----------------------------------------------------------------------------- SignalPCAN


def pcan_model(lut=None, snr_shift=6, channels=40, out=None):
    lut = CONFIG.pcan_lut if lut is None else lut
    return signal_model("SignalPCAN", [((channels,), np.uint32), ((channels,), np.uint32),
                                       ((len(lut),), np.int16, lut)],
                        [((out or channels,), np.uint32)], {"snr_shift": snr_shift})


@pytest.mark.parametrize("snr_shift", [0, 6, 12, 31, 63])
def test_pcan_micro_speech_table(snr_shift):
    rng = np.random.default_rng(snr_shift)
    signal = np.concatenate([random_values(rng, (30,), np.uint32, 2 ** 16),
                             random_values(rng, (10,), np.uint32)])
    noise = np.concatenate([np.arange(8, dtype=np.uint32),
                            random_values(rng, (32,), np.uint32) >> rng.integers(0, 32, 32)])
    check(pcan_model(snr_shift=snr_shift), signal, noise.astype(np.uint32))


@pytest.mark.parametrize("seed", range(4))
def test_pcan_random_tables(seed):
    """Any int16 table: negative gains (read as uint32), int32 wrap-around in the
    quadratic interpolation."""
    rng = np.random.default_rng(seed)
    lut = random_values(rng, (125,), np.int16)
    check(pcan_model(lut, snr_shift=int(rng.integers(0, 40))),
          random_values(rng, (40,), np.uint32), random_values(rng, (40,), np.uint32))


def test_pcan_refusals():
    refuses(pcan_model(out=39), "copies")
    refuses(pcan_model(snr_shift=64), "snr_shift")
    refuses(signal_model("SignalPCAN", [((8,), np.uint32), ((4,), np.uint32),
                                        ((125,), np.int16, CONFIG.pcan_lut)],
                         [((8,), np.uint32)], {"snr_shift": 6}), "shorter")
    short_table = pcan_model(CONFIG.pcan_lut[:60], channels=2)
    check(short_table, np.array([5, 9], np.uint32), np.array([3, 2 ** 13], np.uint32))
    with pytest.raises(ModelError, match="out of bounds"):
        run_invokes(short_table, [[np.array([5, 9], np.uint32),
                                   np.array([3, 2 ** 20], np.uint32)]])


# ----------------------------------------------------------------------------- SignalFilterBankLog


def log_model(correction_bits=3, output_scale=64, channels=40, out=None):
    return signal_model("SignalFilterBankLog", [((channels,), np.uint32)],
                        [((out or channels,), np.int16)],
                        {"input_correction_bits": correction_bits, "output_scale": output_scale})


@pytest.mark.parametrize("correction_bits,output_scale", [(3, 64), (0, 1), (0, 64), (10, 1000),
                                                          (31, 64), (3, 1 << 20), (2, -5)])
def test_filter_bank_log(correction_bits, output_scale):
    rng = np.random.default_rng(correction_bits)
    x = np.concatenate([np.arange(6, dtype=np.uint32), random_values(rng, (20,), np.uint32),
                        random_values(rng, (14,), np.uint32, 2 ** 12)])
    check(log_model(correction_bits, output_scale), x)


def test_filter_bank_log_refusals():
    refuses(log_model(32), "input_correction_bits")
    refuses(log_model(-1), "input_correction_bits")
    refuses(log_model(out=39), "shorter")


# ----------------------------------------------------------------------------- streaming ops


def stream_feeds(rng, shape, invokes, dtype=np.int16):
    if dtype == np.float32:
        return [[rng.standard_normal(shape).astype(np.float32)] for _ in range(invokes)]
    return [[random_values(rng, shape, np.int16)] for _ in range(invokes)]


def run_streaming(model, feeds, reset_at=()):
    """run_invokes for SignalFramer / SignalStacker: until an output is valid TFLM leaves
    it unwritten (old arena bytes), so output 0 is compared only when output_valid (always
    compared) says it was written. Returns the flags."""
    data = write_model(model)
    ours = MicroInterpreter(read_model(data), AllOpsResolver(), None)
    ours.allocate_tensors()
    theirs = oracle_runtime().Interpreter.from_bytes(data, arena_size=200_000)
    valid = []
    for k, inputs in enumerate(feeds):
        if k in reset_at:
            ours.reset()
            theirs.reset()
        ours.input(0).data[...] = inputs[0]
        theirs.set_input(inputs[0], 0)
        ours.invoke()
        theirs.invoke()
        valid.append(bool(ours.output(1).data))
        assert valid[-1] == bool(np.asarray(theirs.get_output(1))), f"invoke {k}"
        if valid[-1]:
            a = ours.output(0).data
            assert a.tobytes() == np.asarray(theirs.get_output(0)).astype(a.dtype).tobytes(), \
                f"invoke {k}"
    return valid


def delay_model(shape, delay):
    return signal_model("SignalDelay", [(shape, np.int16)], [(shape, np.int16)],
                        {"delay_length": delay})


@pytest.mark.parametrize("shape,delay", [((7,), 3), ((2, 7), 3), ((10,), 25), ((3, 4), 0),
                                         ((160,), 160)])
def test_delay(shape, delay):
    rng = np.random.default_rng(delay)
    history = run_invokes(delay_model(shape, delay), stream_feeds(rng, shape, 8),
                          reset_at=(5,))
    if delay == 3 and shape == (7,):
        assert (history[0][0][:3] == 0).all() and (history[5][0][:3] == 0).all()


def test_delay_refusals():
    refuses(delay_model((4,), -1), "delay_length")
    refuses(signal_model("SignalDelay", [((8,), np.int16)], [((7,), np.int16)],
                         {"delay_length": 2}), "smaller")
    refuses(signal_model("SignalDelay", [((2, 0), np.int16)], [((2, 0), np.int16)],
                         {"delay_length": 2}), "empty")


def framer_model(shape, frame_size, frame_step, prefill, out_frames=None):
    n_frames = shape[-1] // frame_step if out_frames is None else out_frames
    return signal_model("SignalFramer", [(shape, np.int16)],
                        [(shape[:-1] + (n_frames, frame_size), np.int16), ((), np.bool_)],
                        {"frame_size": frame_size, "frame_step": frame_step,
                         "prefill": prefill})


@pytest.mark.parametrize("shape,frame_size,frame_step", [((320,), 400, 160), ((2, 6), 5, 2),
                                                         ((3,), 3, 3), ((8,), 2, 4),
                                                         ((2, 3, 4), 6, 2)])
@pytest.mark.parametrize("prefill", [False, True])
def test_framer(shape, frame_size, frame_step, prefill):
    if prefill and frame_step > frame_size:
        return refuses(framer_model(shape, frame_size, frame_step, prefill), "overruns")
    rng = np.random.default_rng(frame_size)
    valid = run_streaming(framer_model(shape, frame_size, frame_step, prefill),
                          stream_feeds(rng, shape, 8), reset_at=(5,))
    assert valid[-1] and (all(valid) if prefill or frame_size <= frame_step else not valid[0])


def test_framer_refusals():
    refuses(framer_model((7,), 4, 2, False, out_frames=3), "whole number")
    refuses(framer_model((8,), 4, 2, False, out_frames=3), "frames need")
    refuses(framer_model((8,), 4, 0, False, out_frames=3), "positive")
    refuses(signal_model("SignalFramer", [((8,), np.int16)], [((8,), np.int16), ((), np.bool_)],
                         {"frame_size": 4, "frame_step": 4, "prefill": False}), "dimension more")


def stacker_model(channels, left, right, step, out=None):
    return signal_model("SignalStacker", [((channels,), np.int16)],
                        [((out or channels * (left + right + 1),), np.int16), ((), np.bool_)],
                        {"num_channels": channels, "stacker_left_context": left,
                         "stacker_right_context": right, "stacker_step": step})


@pytest.mark.parametrize("channels,left,right,step", [(4, 2, 1, 1), (3, 0, 0, 1), (5, 1, 3, 2),
                                                      (2, 3, 0, 4), (40, 3, 3, 1)])
def test_stacker(channels, left, right, step):
    """The first frame is repeated left_context times; output_valid until the stack fills."""
    rng = np.random.default_rng(channels)
    valid = run_streaming(stacker_model(channels, left, right, step),
                          stream_feeds(rng, (channels,), 10), reset_at=(6,))
    assert valid[0] == (right == 0) and valid[6] == (right == 0) and any(valid[1:6])


def test_stacker_refusals():
    refuses(stacker_model(4, 1, 1, 0), "stacker_step")
    refuses(stacker_model(4, 1, 1, 4), "stacker_step")
    refuses(stacker_model(4, 1, 1, 1, out=11), "stack has")
    refuses(signal_model("SignalStacker", [((3,), np.int16)],
                         [((12,), np.int16), ((), np.bool_)],
                         {"num_channels": 4, "stacker_left_context": 1,
                          "stacker_right_context": 1, "stacker_step": 1}), "num_channels")


def overlap_add_model(shape, frame_step, dtype=np.int16, out=None):
    tensor_type = TensorType.INT16 if dtype == np.int16 else TensorType.FLOAT32
    out = out or shape[:-2] + (shape[-2] * frame_step,)
    return signal_model("SignalOverlapAdd", [(shape, dtype)], [(out, dtype)],
                        {"T": int(tensor_type), "frame_step": frame_step})


@pytest.mark.parametrize("shape,frame_step", [((3, 8), 4), ((2, 2, 5), 5), ((1, 6), 1),
                                              ((4, 4), 0), ((2, 3, 512), 160)])
@pytest.mark.parametrize("dtype", [np.int16, np.float32])
def test_overlap_add(shape, frame_step, dtype):
    """int16 sums saturate (full-range inputs make them), float32 sums round."""
    rng = np.random.default_rng(frame_step)
    run_invokes(overlap_add_model(shape, frame_step, dtype),
                stream_feeds(rng, shape, 6, dtype), reset_at=(4,))


def test_overlap_add_refusals():
    refuses(overlap_add_model((2, 4), 5, out=(10,)), "exceeds")
    refuses(overlap_add_model((2, 4), 2, out=(3,)), "needs")
    refuses(signal_model("SignalOverlapAdd", [((2, 4), np.int32)], [((4,), np.int32)],
                         {"T": int(TensorType.INT32), "frame_step": 2}), "int16 and float32")
    refuses(overlap_add_model((2, 0), 0, out=(0,)), "no frames")


# ----------------------------------------------------------------------------- arenas, resolver


ARENA_MODELS = {
    "SignalWindow": lambda: window_model((1, 480), 480, 12),
    "SignalFftAutoScale": lambda: auto_scale_model(),
    "SignalRfft": lambda: rfft_model(512, (2, 480)),
    "SignalRfft-64": lambda: rfft_model(64, (50,)),
    "SignalEnergy": lambda: energy_model(257, 5, 241),
    "SignalFilterBank": micro_speech_bank_model,
    "SignalFilterBank-6": lambda: filter_bank_model(*random_bank(2)),
    "SignalFilterBankSquareRoot": lambda: square_root_model(),
    "SignalFilterBankSpectralSubtraction": lambda: spectral_subtraction_model(),
    "SignalFilterBankSpectralSubtraction-7": lambda: spectral_subtraction_model(
        {"num_channels": 7}, channels=10, outs=(10, 5)),
    "SignalPCAN": lambda: pcan_model(),
    "SignalFilterBankLog": lambda: log_model(),
    "SignalDelay": lambda: delay_model((2, 7), 3),
    "SignalFramer": lambda: framer_model((320,), 400, 160, True),
    "SignalFramer-rows": lambda: framer_model((2, 3, 4), 6, 2, False),
    "SignalStacker": lambda: stacker_model(40, 3, 3, 1),
    "SignalOverlapAdd": lambda: overlap_add_model((2, 3, 512), 160),
    "SignalOverlapAdd-float": lambda: overlap_add_model((3, 8), 4, np.float32),
}


@pytest.mark.parametrize("name", list(ARENA_MODELS))
def test_arena_estimate_is_the_real_tflms(name):
    arena_is_tflms(ARENA_MODELS[name]())


@pytest.mark.parametrize("name", [n for n in CUSTOM_SPECS if n.startswith("Signal")])
def test_custom_specs_are_complete(name):
    """What test_op_spec checks of the builtin ops, for the Signal ops."""
    spec = CUSTOM_SPECS[name]
    assert spec.op == Op.CUSTOM and spec.name == name and spec.options is None
    assert spec.register().name == name and spec.register.__module__.startswith(
        "tflm_edu.kernels.signal_")
    assert spec.types and set(spec.types) <= set(TensorType)
    assert spec.arena.builtin_params is None and callable(spec.arena.prepare)
    for target in ("host", "cortex-m"):
        assert spec.arena.op_data is None or get_target(target).sizeof(spec.arena.op_data) > 0


def test_resolver_adders_are_tflms():
    names = {"SignalWindow": "add_window", "SignalFftAutoScale": "add_fft_auto_scale",
             "SignalRfft": "add_rfft", "SignalEnergy": "add_energy",
             "SignalFilterBank": "add_filter_bank",
             "SignalFilterBankSquareRoot": "add_filter_bank_square_root",
             "SignalFilterBankSpectralSubtraction": "add_filter_bank_spectral_subtraction",
             "SignalPCAN": "add_pcan", "SignalFilterBankLog": "add_filter_bank_log",
             "SignalDelay": "add_delay", "SignalFramer": "add_framer",
             "SignalStacker": "add_stacker", "SignalOverlapAdd": "add_overlap_add"}
    assert set(names) <= set(CUSTOM_SPECS)
    resolver = MicroMutableOpResolver(len(names))
    for adder in names.values():
        getattr(resolver, adder)()
    assert resolver.op_names == list(names)
    model = log_model()
    interpreter = MicroInterpreter(model, MicroMutableOpResolver(1).add_filter_bank_log(), None)
    interpreter.allocate_tensors()
    with pytest.raises(Exception, match="SignalFilterBankLog"):
        MicroInterpreter(model, MicroMutableOpResolver(1).add_pcan(), None).allocate_tensors()


# ----------------------------------------------------------------------------- the preprocessor


def windows_of(wav):
    samples = read_wav(reference_file(wav))
    starts = np.arange(49) * 320
    return samples[starts[:, None] + np.arange(480)]


@pytest.mark.parametrize("kind,dtype", [("int8", np.int8), ("float", np.float32)])
def test_audio_preprocessor_is_tflms_and_the_frontends(kind, dtype):
    """49 consecutive windows of two recordings, with a reset between them: every output
    byte-equal to the real TFLM's and to tflm_edu.frontend's MicroSpeechFrontend."""
    model = reference_model(f"audio_preprocessor_{kind}.tflite").read_bytes()
    frontend = MicroSpeechFrontend(output_dtype=dtype)
    clips = [windows_of("yes_1000ms.wav"), windows_of("no_1000ms.wav")]
    history = run_invokes(model, [[w[None, :]] for clip in clips for w in clip], reset_at=(49,))
    ours = np.array([h[0] for h in history])
    for k, clip in enumerate(clips):
        frontend.reset()
        expected = frontend.process_windows(clip)
        assert ours[49 * k: 49 * (k + 1)].tobytes() == expected.tobytes()
    assert len(np.unique(ours)) > 20


@pytest.mark.parametrize("kind", ["int8", "float"])
def test_audio_preprocessor_arena_is_tflms(kind):
    arena_is_tflms(reference_model(f"audio_preprocessor_{kind}.tflite").read_bytes())
