"""SignalRfft and SignalIrfft in all three types TFLM builds kissfft for (int16, int32,
float32), against the real TFLM, byte for byte.

Every FFT length TFLM can run up to 512 (2 * N with N >= 2 a product of 2s, 3s and 5s:
other lengths reach kissfft's generic butterfly, which crashes TFLM), for each type:
random frames, extreme frames, Rfft -> Irfft round trips in one model, odd shapes; the
arena estimate against TFLM's smallest arena; the refusals; and tflm_edu.frontend's
kissfft against numpy's FFT.
"""
import numpy as np
import pytest
from flatbuffers import flexbuffers

from test_kernel_signal import arena_is_tflms, check, random_values, refuses, run_invokes, \
    signal_model
from tflm_edu.frontend.fft import irfft, kiss_fftr, rfft
from tflm_edu.frontend.kiss_fft import KissFftr, factor, unsupported_length
from tflm_edu.interpreter import MicroInterpreter
from tflm_edu.op_resolver import CUSTOM_SPECS, MicroMutableOpResolver
from tflm_edu.schema.builder import ModelBuilder
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType

TYPES = {np.int16: TensorType.INT16, np.int32: TensorType.INT32,
         np.float32: TensorType.FLOAT32}
DTYPES = list(TYPES)
LENGTHS = [n for n in range(2, 513, 2) if unsupported_length(n) is None]
FEW_LENGTHS = [4, 6, 10, 12, 30, 64, 90, 250, 480, 512]


def is_5_smooth(n):
    for p in (2, 3, 5):
        while n % p == 0:
            n //= p
    return n == 1


def fft_model(name, fft_length, in_shape, out_shape, dtype, opts=None):
    return signal_model(name, [(in_shape, dtype)], [(out_shape, dtype)],
                        opts or {"T": int(TYPES[dtype]), "fft_length": fft_length})


def rfft_model(fft_length, shape, dtype, out_row=None):
    out = shape[:-1] + (out_row or fft_length + 2,)
    return fft_model("SignalRfft", fft_length, shape, out, dtype)


def irfft_model(fft_length, shape, dtype, out_row=None):
    out = shape[:-1] + (out_row or fft_length,)
    return fft_model("SignalIrfft", fft_length, shape, out, dtype)


def round_trip_model(fft_length, shape, dtype):
    """SignalRfft then SignalIrfft: the spectrum and the samples are both outputs."""
    opts = {"T": int(TYPES[dtype]), "fft_length": fft_length}
    b = ModelBuilder()
    x = b.add_input(shape, dtype)
    spectrum = b.add_tensor(shape[:-1] + (fft_length + 2,), dtype)
    samples = b.add_tensor(shape[:-1] + (fft_length,), dtype)
    b.add_operator(Op.CUSTOM, [x], [spectrum], custom_options=flexbuffers.Dumps(opts),
                   custom_code="SignalRfft")
    b.add_operator(Op.CUSTOM, [spectrum], [samples], custom_options=flexbuffers.Dumps(opts),
                   custom_code="SignalIrfft")
    b.mark_output(spectrum)
    b.mark_output(samples)
    return b.build()


def random_frames(rng, shape, dtype):
    """Full-range integers; floats of mixed magnitudes (each row its own scale)."""
    if dtype != np.float32:
        return random_values(rng, shape, dtype)
    scale = 10.0 ** rng.uniform(-4, 6, shape[:-1] + (1,))
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def extreme_frames(length, dtype):
    """Rows that stress the arithmetic: the type's ends, alternating signs, impulses;
    for float, huge and subnormal values, signed zeros (all finite: no NaN can arise)."""
    if dtype == np.float32:
        lo, hi = -1e34, 1e34
    else:
        lo, hi = np.iinfo(dtype).min, np.iinfo(dtype).max
    i = np.arange(length)
    rows = [np.full(length, lo), np.full(length, hi), np.where(i % 2, lo, hi),
            np.where(i % 2, hi, lo), np.where(i == 0, lo, 0), np.where(i == length - 1, hi, 0),
            np.where(i % 3 == 0, lo, hi), np.zeros(length)]
    if dtype == np.float32:
        rows += [np.full(length, 1e-41), np.where(i % 2, -1e-45, 3e-39),
                 np.where(i % 2, -0.0, 0.0), np.where(i % 5 == 0, 1e30, 1e-30) * (i % 7 - 3)]
    else:
        rows += [np.where(i % 2, lo + 1, hi - 1), np.where(i < length // 2, lo, hi)]
    return np.array(rows).astype(dtype)


def rfft_view(fft_length):
    """Compare only what Rfft writes: the first fft_length / 2 + 1 bins of each row."""
    return lambda o, a: a[..., :fft_length + 2]


# ----------------------------------------------------------------------------- lengths


def test_supported_lengths_are_the_fast_radices():
    assert LENGTHS == [n for n in range(4, 513, 2) if is_5_smooth(n // 2)]
    assert len(LENGTHS) == 51 and 480 in LENGTHS and 512 in LENGTHS and 14 not in LENGTHS
    assert factor(240) == [(4, 60), (4, 15), (3, 5), (5, 1)]   # kf_factor's order
    assert factor(7) == [(7, 1)] and factor(1) == [(1, 1)]


# ----------------------------------------------------------------------------- SignalRfft


@pytest.mark.parametrize("fft_length", LENGTHS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_rfft_every_length(dtype, fft_length):
    rng = np.random.default_rng(fft_length)
    shape = (3, fft_length)
    check(rfft_model(fft_length, shape, dtype), random_frames(rng, shape, dtype))
    short = (2, max(1, fft_length - 5))     # zero-padded in the scratch buffer
    check(rfft_model(fft_length, short, dtype), random_frames(rng, short, dtype))


@pytest.mark.parametrize("fft_length", FEW_LENGTHS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_rfft_extremes(dtype, fft_length):
    frames = extreme_frames(fft_length, dtype)
    out = check(rfft_model(fft_length, frames.shape, dtype), frames)[0]
    if dtype == np.float32:   # the DC bin of a constant row is the row's sum
        assert out[1, 0] == pytest.approx(1e34 * fft_length, rel=1e-6)
    else:                     # ... divided by fft_length in fixed point (C_FIXDIV
        #                           multiplies by SAMP_MAX / p: a little below 1 / p)
        assert 0 <= np.iinfo(dtype).max - int(out[1, 0]) <= 1e-3 * np.iinfo(dtype).max


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_rfft_shapes(dtype):
    """Rank 1 and 3, frames shorter than fft_length, output rows longer than the bins
    (their tail is never written: not compared)."""
    rng = np.random.default_rng(1)
    check(rfft_model(512, (480,), dtype), random_frames(rng, (480,), dtype))
    check(rfft_model(30, (2, 3, 30), dtype), random_frames(rng, (2, 3, 30), dtype))
    check(rfft_model(20, (4, 7), dtype, out_row=30), random_frames(rng, (4, 7), dtype),
          view=rfft_view(20))
    check(rfft_model(8, (5, 1), dtype), random_frames(rng, (5, 1), dtype))


def test_rfft_matches_the_frontend():
    """The kernel and tflm_edu.frontend.fft.rfft are one computation."""
    rng = np.random.default_rng(2)
    for dtype in DTYPES:
        x = random_frames(rng, (4, 90), dtype)
        assert check(rfft_model(96, x.shape, dtype), x)[0].tobytes() == rfft(x, 96).tobytes()


# ----------------------------------------------------------------------------- SignalIrfft


@pytest.mark.parametrize("fft_length", LENGTHS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_irfft_every_length(dtype, fft_length):
    rng = np.random.default_rng(fft_length + 1)
    shape = (3, fft_length + 2)
    check(irfft_model(fft_length, shape, dtype), random_frames(rng, shape, dtype))


@pytest.mark.parametrize("fft_length", FEW_LENGTHS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_irfft_extremes(dtype, fft_length):
    spectra = extreme_frames(fft_length + 2, dtype)
    check(irfft_model(fft_length, spectra.shape, dtype), spectra)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_irfft_shapes(dtype):
    """Rank 1 and 3; input rows with more than the bins (the rest is not read: Eval
    steps by the row); output rows longer than fft_length (the tail is not written)."""
    rng = np.random.default_rng(3)
    check(irfft_model(512, (514,), dtype), random_frames(rng, (514,), dtype))
    check(irfft_model(12, (2, 2, 14), dtype), random_frames(rng, (2, 2, 14), dtype))
    x = random_frames(rng, (3, 40), dtype)
    ours = check(irfft_model(24, (3, 40), dtype, out_row=31), x, view=lambda o, a: a[:, :24])
    assert ours[0].shape == (3, 24)
    assert check(irfft_model(24, (3, 40), dtype), x)[0].tobytes() == ours[0].tobytes()


def test_irfft_matches_the_frontend():
    rng = np.random.default_rng(4)
    for dtype in DTYPES:
        x = random_frames(rng, (2, 62), dtype)
        assert check(irfft_model(60, x.shape, dtype), x)[0].tobytes() == \
            irfft(x, 60).tobytes()


# ----------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("fft_length", LENGTHS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_round_trip_every_length(dtype, fft_length):
    """Rfft -> Irfft in one model. In float the samples come back (to float32 rounding);
    in fixed point divided by fft_length (to a few roundings), while the butterflies do
    not overflow: a quarter of the range here (a radix-3 butterfly can wrap on full-range
    samples, which the every-length tests above run)."""
    rng = np.random.default_rng(fft_length + 2)
    shape = (2, fft_length)
    x = random_frames(rng, shape, dtype)
    if dtype != np.float32:
        x = x // 4
    spectrum, back = check(round_trip_model(fft_length, shape, dtype), x)
    if dtype == np.float32:
        scale = np.abs(x).max(axis=1, keepdims=True)
        assert np.abs(back - x).max() <= (scale * 1e-5).max()
    else:
        assert np.abs(back - x.astype(np.float64) / fft_length).max() < 8


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_round_trip_streams(dtype):
    """Several invokes through one model, frames zero-padded to the FFT length."""
    rng = np.random.default_rng(5)
    model = round_trip_model(512, (2, 480), dtype)
    run_invokes(model, [[random_frames(rng, (2, 480), dtype)] for _ in range(4)])


# ----------------------------------------------------------------------------- arenas


ARENA_CASES = [("SignalRfft", 512), ("SignalRfft", 30), ("SignalRfft", 4),
               ("SignalIrfft", 512), ("SignalIrfft", 250), ("SignalIrfft", 6),
               ("round trip", 480), ("round trip", 12)]


@pytest.mark.parametrize("name,fft_length", ARENA_CASES)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_arena_estimate_is_the_real_tflms(dtype, name, fft_length):
    if name == "SignalRfft":
        model = rfft_model(fft_length, (2, fft_length - 2), dtype)
    elif name == "SignalIrfft":
        model = irfft_model(fft_length, (2, fft_length + 2), dtype)
    else:
        model = round_trip_model(fft_length, (3, fft_length), dtype)
    arena_is_tflms(model)


# ----------------------------------------------------------------------------- refusals


def test_rfft_refusals():
    for bad in (14, 28, 44, 528):   # half lengths 7, 2 x 7, 2 x 11, 2^3 x 3 x 11
        refuses(rfft_model(bad, (4,), np.float32), "radix")
    refuses(rfft_model(2, (2,), np.float32), "at least 4")   # radix 1: TFLM crashes too
    refuses(rfft_model(9, (4,), np.int32), "even")
    refuses(fft_model("SignalRfft", 8, (8,), (10,), np.int8, {"T": 9, "fft_length": 8}),
            "INT8")
    refuses(rfft_model(8, (8,), np.int32, out_row=8), "complex values")
    refuses(fft_model("SignalRfft", 8, (8,), (10,), np.float32, {"T": 2, "fft_length": 8}),
            "INT32")


def test_irfft_refusals():
    refuses(irfft_model(14, (16,), np.int16), "radix 7")
    refuses(irfft_model(2, (4,), np.float32), "at least 4")
    refuses(irfft_model(7, (10,), np.int32), "even")
    refuses(irfft_model(-8, (10,), np.int32, out_row=8), "at least 4")
    refuses(fft_model("SignalIrfft", 8, (10,), (8,), np.uint8, {"T": 3, "fft_length": 8}),
            "UINT8")
    refuses(fft_model("SignalIrfft", 8, (10,), (8,), np.int16, {"fft_length": 8}),
            "past the end")                      # no T: fft_length read from entry 1
    refuses(fft_model("SignalIrfft", 8, (10,), (8,), np.int16, {"T": 0, "fft_length": 8}),
            "FLOAT32")                           # T = 0 is float32, the tensors int16
    refuses(irfft_model(8, (8,), np.int16), "reads 5")           # 4 of the 5 bins
    refuses(irfft_model(8, (4, 1), np.int16), "reads 5")         # 0 bins: TFLM loops forever
    refuses(irfft_model(8, (10,), np.float32, out_row=7), "writes 8")
    refuses(fft_model("SignalIrfft", 8, (3, 10), (2, 8), np.int32), "fewer rows")
    refuses(fft_model("SignalIrfft", 8, (2, 11), (2, 8), np.int32), "cut short")
    refuses(fft_model("SignalIrfft", 8, (10,), (1, 8), np.int32), "ranks differ")
    refuses(signal_model("SignalIrfft", [((10,), np.int16), ((10,), np.int16)],
                         [((8,), np.int16)], {"T": 7, "fft_length": 8}), "input")


# ----------------------------------------------------------------------------- the resolver


def test_every_signal_op_of_tflms_resolver_is_here():
    """The AddCustom("Signal...") names of TFLM's MicroMutableOpResolver."""
    tflm = {"SignalDelay", "SignalEnergy", "SignalFftAutoScale", "SignalFilterBank",
            "SignalFilterBankLog", "SignalFilterBankSquareRoot",
            "SignalFilterBankSpectralSubtraction", "SignalFramer", "SignalIrfft",
            "SignalOverlapAdd", "SignalPCAN", "SignalRfft", "SignalStacker", "SignalWindow"}
    assert tflm <= set(CUSTOM_SPECS)
    model = irfft_model(8, (10,), np.float32)
    MicroInterpreter(model, MicroMutableOpResolver(1).add_irfft(), None).allocate_tensors()
    with pytest.raises(Exception, match="SignalIrfft"):
        MicroInterpreter(model, MicroMutableOpResolver(1).add_rfft(), None).allocate_tensors()


# ----------------------------------------------------------------------------- the frontend


@pytest.mark.parametrize("fft_length", [4, 6, 30, 96, 500, 512])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_kiss_fftr_tracks_numpys_fft(dtype, fft_length):
    """Forward: the DFT (divided by fft_length in fixed point); inverse: numpy's irfft."""
    rng = np.random.default_rng(fft_length)
    amplitude = {np.int16: 8000, np.int32: 5e8, np.float32: 100}[dtype]
    x = (rng.uniform(-1, 1, (3, fft_length)) * amplitude).astype(dtype)
    spectrum = kiss_fftr(fft_length, dtype).fftr(x).astype(np.float64)
    exact = np.fft.rfft(x.astype(np.float64), axis=1)
    if dtype != np.float32:
        exact /= fft_length
    tolerance = {np.int16: 4, np.int32: 4, np.float32: 1e-3}[dtype]
    assert np.abs(spectrum[..., 0] - exact.real).max() < tolerance
    assert np.abs(spectrum[..., 1] - exact.imag).max() < tolerance
    back = kiss_fftr(fft_length, dtype, inverse=True).fftri(spectrum.astype(dtype))
    if dtype == np.float32:
        back = back / fft_length
    expected = np.fft.irfft(spectrum[..., 0] + 1j * spectrum[..., 1], fft_length, axis=1)
    assert np.abs(back - expected).max() < tolerance


def test_kiss_fftr_states():
    assert "complex stages 4x4x4x4" in repr(kiss_fftr(512, np.int32))
    assert "inverse" in repr(kiss_fftr(30, np.float32, inverse=True))
    with pytest.raises(ValueError, match="forward"):
        kiss_fftr(8, np.int16, inverse=True).fftr(np.zeros(8, np.int16))
    with pytest.raises(ValueError, match="inverse"):
        kiss_fftr(8, np.int16).fftri(np.zeros(10, np.int16))
    with pytest.raises(ValueError, match="radix 7"):
        KissFftr(28, np.float32)
    with pytest.raises(ValueError, match="float64"):
        KissFftr(8, np.float64)
