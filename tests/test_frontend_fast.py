"""The frontend's fast path (fast_path.FastFrontend) against the stage modules and the real TFLM.

The fast path is the default; the stage modules (fast=False) are the readable mirror of
TFLM's C code. One helper checks them all on the same audio, byte for byte: the fast
batch, the fast stream fed chunk by chunk, the stage modules and TFLM. Then seeded random
clips aimed at the edges of the fast path: silence, full scale, clipping, DC, MaxAbs16's
-32768 quirk, frames whose kissfft int16 stores really overflow (which the fast path must
hand to the stage modules), and unit checks of the pieces that replace stages with tables
(the square root, spectral subtraction, PCAN's gain, the log and the int8 rescale).
"""
import threading

import numpy as np
import pytest

from test_frontend import SIGNALS, WAVS, Oracle, assert_same_bytes, noise, read_wav, windows_of
from tflm_edu.frontend import FeatureParams, MicroSpeechFrontend, micro_speech_features, prepare
from tflm_edu.frontend.fast_path import (FastFrontend, SQRT32_LIMIT, UINT32, reference_amplitudes,
                                         unsupported_reason)
from tflm_edu.frontend.fast_stream import FastStream
from tflm_edu.frontend.frontend import fast_plan, to_float32, to_int8
from tflm_edu.frontend.log_scale import filter_bank_log
from tflm_edu.frontend.noise_reduction import spectral_subtraction
from tflm_edu.frontend.pcan import apply_pcan, pcan_shrink, wide_dynamic_function
from tflm_edu.frontend.square_root import filter_bank_square_root

STRIDE = 320
CONFIG = prepare()


@pytest.fixture(scope="module")
def tflm_int8():
    return Oracle("audio_preprocessor_int8.tflite")


@pytest.fixture(scope="module")
def tflm_float():
    return Oracle("audio_preprocessor_float.tflite")


def streamed(frontend: MicroSpeechFrontend, audio: np.ndarray) -> np.ndarray:
    results = [frontend.process(chunk) for chunk in audio.reshape(-1, STRIDE)]
    assert results[0] is None and all(r is not None for r in results[1:])
    return np.stack(results[1:])


def check_fast(oracle: Oracle, audio: np.ndarray, dtype=np.int8) -> None:
    """The one helper: fast batch, fast stream, stage modules and TFLM, byte for byte."""
    expected = oracle.features(audio)
    windows = windows_of(audio)
    assert MicroSpeechFrontend(output_dtype=dtype).fast is not None
    for name, features in [
            ("fast batch", MicroSpeechFrontend(output_dtype=dtype).process_windows(windows)),
            ("fast stream", streamed(MicroSpeechFrontend(output_dtype=dtype), audio)),
            ("stage modules", MicroSpeechFrontend(output_dtype=dtype, fast=False)
             .process_windows(windows))]:
        assert features.dtype == dtype
        assert_same_bytes(features, expected, name)
    if audio.size == 16000:
        assert_same_bytes(micro_speech_features(audio, dtype), expected, "micro_speech_features")


# ---- seeded random audio ------------------------------------------------------------

def segment(rng: np.random.Generator, length: int) -> np.ndarray:
    """A random stretch of audio from one of the kinds that stress the frontend."""
    t = np.arange(length) / 16000
    level = float(np.exp(rng.uniform(0, np.log(32767))))
    kind = rng.integers(10)
    if kind == 0:
        return np.zeros(length, np.int16)
    if kind == 1:   # white noise at any level
        return rng.integers(-int(level), int(level), length, endpoint=True).astype(np.int16)
    if kind == 2:   # loud Gaussian noise, clipped
        return np.clip(rng.normal(0, 3 * level, length), -32768, 32767).astype(np.int16)
    if kind == 3:   # a sine, possibly clipping
        x = 1.5 * level * np.sin(2 * np.pi * rng.uniform(20, 7990) * t + rng.uniform(0, 6.3))
        return np.clip(x, -32768, 32767).astype(np.int16)
    if kind == 4:   # a full-scale square wave
        return np.where(np.sin(2 * np.pi * rng.uniform(20, 4000) * t) >= 0, 32767, -32768) \
            .astype(np.int16)
    if kind == 5:   # DC, including -32768
        return np.full(length, rng.choice([-32768, 32767, int(level), -int(level)]), np.int16)
    if kind == 6:   # sparse impulses of either sign
        return np.where(rng.random(length) < 0.01, rng.choice([-32768, 32767], length), 0) \
            .astype(np.int16)
    if kind == 7:   # a chirp
        return (level * np.sin(2 * np.pi * (50 + rng.uniform(100, 3900) * t) * t)).astype(np.int16)
    if kind == 8:   # Nyquist and near-Nyquist
        return (np.where(np.arange(length) % 2, -1, 1) * int(level)).astype(np.int16)
    return (rng.integers(-3, 4, length) * int(level) // 3).astype(np.int16)   # few levels


def random_clip(seed: int, seconds: int = 1) -> np.ndarray:
    """Several random segments back to back, so the noise estimate sees jumps."""
    rng = np.random.default_rng(seed)
    total = 16000 * seconds
    cuts = np.sort(rng.integers(0, total, rng.integers(1, 6)))
    edges = np.concatenate([[0], cuts, [total]])
    return np.concatenate([segment(rng, b - a) for a, b in zip(edges[:-1], edges[1:])])


@pytest.mark.parametrize("seed", range(60))
def test_random_clips_int8(tflm_int8, seed):
    check_fast(tflm_int8, random_clip(seed))


@pytest.mark.parametrize("seed", range(12))
def test_random_clips_float32(tflm_float, seed):
    check_fast(tflm_float, random_clip(1000 + seed), np.float32)


@pytest.mark.parametrize("seed", range(4))
def test_random_three_second_streams(tflm_int8, seed):
    """Longer streams: the noise estimate carries over 149 windows."""
    check_fast(tflm_int8, random_clip(2000 + seed, seconds=3))


@pytest.mark.parametrize("name", sorted(SIGNALS))
def test_synthetic_signals(tflm_int8, name):
    check_fast(tflm_int8, SIGNALS[name](np.random.default_rng(7)))


@pytest.mark.parametrize("name", WAVS)
def test_reference_wavs_streamed(tflm_int8, name):
    check_fast(tflm_int8, read_wav(name))


# ---- frames the fast FFT must leave to the stage modules ------------------------------

def overflowing_frame(c1: int, c0: int, level: int = 510) -> np.ndarray:
    """A window whose kissfft really overflows int16 in its second stage.

    Stage 2 adds, per group of 16 inputs (packed complex index c = 64 c3 + 16 c2 + 4 c1
    + c0), 4 values rotated by twiddles 0, 22.5, 45 and 67.5 degrees. With every input
    z(c) = i**c3 (1 + i) at full scale after the auto-scale (samples divided by the
    window), stage 1 hands each of them 4 * 8191 (1 + i), and the rotated real parts
    add up to about 8191 * (1 + 1.31 + 1.41 + 1.31) > 32767 (less the zero padding).
    """
    weights = CONFIG.window_weights.astype(np.int64)
    x = np.zeros(480, np.int64)
    for c3 in range(4):
        for c2 in range(4):
            z = 1j ** c3 * (1 + 1j)
            for t, part in enumerate((z.real, z.imag)):
                i = 2 * (64 * c3 + 16 * c2 + 4 * c1 + c0) + t
                if i < 480 and weights[i] > 0:
                    x[i] = np.sign(part) * min(-(-level * 4096 // weights[i]), 32767)
    return x.astype(np.int16)


def fast_amplitudes_unguarded(window: np.ndarray) -> tuple[bool, np.ndarray]:
    """Whether the fast path takes this window itself (as FastFrontend.features decides),
    and the fast FFT's amplitudes for it, computed even where it does not."""
    plan = fast_plan(FeatureParams(), np.dtype(np.int8))
    ws = plan.workspace(1)
    top = ws.window(window[None])[0]
    safe = (top < 32768 and float(top).is_integer()) or ws.full_scale_shift(0) is not None
    peak = int(ws.magnitudes.max())
    shift = max(15 - peak.bit_length(), 0) if peak else 0
    ws.fft(np.array([shift]))
    return safe, ws.channel_amplitudes(0).copy()


@pytest.mark.parametrize("group", [(0, 0), (1, 2), (2, 1), (3, 3)])
def test_overflowing_frames_take_the_stage_modules(tflm_int8, group):
    frame = overflowing_frame(*group)
    safe, amplitudes = fast_amplitudes_unguarded(frame)
    assert not safe, "the fast path must turn down a frame whose int16 stores overflow"
    assert not np.array_equal(amplitudes, reference_amplitudes(CONFIG, frame)), \
        "without the guard the fast FFT would be wrong here (else this test proves nothing)"
    audio = noise(np.random.default_rng(sum(group)), 300)
    for start in (640, 3200, 9600):   # three windows that are exactly this frame
        audio[start:start + 480] = frame
    audio[12000:12480] = -frame       # and its mirror
    check_fast(tflm_int8, audio)


@pytest.mark.parametrize("seed", range(6))
def test_safe_frames_are_exact_and_keep_amplitudes_small(seed):
    """Every frame the guard lets through gives the stage modules' amplitudes, and below
    2**21 (the streaming path relies on it: no uint32 wrap of amp << 10)."""
    rng = np.random.default_rng(seed)
    windows = windows_of(random_clip(3000 + seed))
    windows[::7] = np.where(rng.random(windows[::7].shape) < 0.5, 32767, -32768)
    checked = 0
    for window in windows:
        safe, amplitudes = fast_amplitudes_unguarded(window)
        if safe:
            assert np.array_equal(amplitudes, reference_amplitudes(CONFIG, window))
            assert amplitudes.max() < 2 ** 21
            checked += 1
    assert checked > len(windows) // 2


def test_strided_and_read_only_audio(tflm_int8):
    """micro_speech_features reads windows through a view: any strides, read-only."""
    audio = random_clip(77)
    doubled = np.repeat(audio, 2)[::2]                  # non-contiguous
    frozen = np.frombuffer(audio.tobytes(), np.int16)   # read-only
    expected = tflm_int8.features(audio)
    for name, samples in [("strided", doubled), ("read-only", frozen)]:
        assert_same_bytes(micro_speech_features(samples), expected, name)


def test_maxabs_quirk_streamed(tflm_int8):
    """MaxAbs16's -32768 quirk (see test_frontend.test_max_abs_wraparound), streamed."""
    audio = noise(np.random.default_rng(4), 200)
    for start in range(0, 16000 - 480 + 1, STRIDE):
        audio[start + 239] = -32768
    check_fast(tflm_int8, audio)


# ---- the pieces that replace stages: square root, spectral subtraction, PCAN, log ----

def test_square_root_edges():
    """Channel sums around every rounding edge of Sqrt64 / Sqrt32, for every shift."""
    rng = np.random.default_rng(0)
    roots = np.concatenate([np.arange(1, 300), [65534, 65535, 65536, 65537, 2 ** 20, 2 ** 23],
                            rng.integers(1, 2 ** 24, 200)])
    sums = np.concatenate([roots * roots + d for d in (-1, 0, 1)] +
                          [roots * roots + roots + d for d in (0, 1)] +
                          [[0, 1, 2, 3, SQRT32_LIMIT - 1, SQRT32_LIMIT, SQRT32_LIMIT + 1,
                            UINT32 - 2, UINT32 - 1, UINT32, UINT32 + 1, 2 ** 40, 2 ** 47],
                           rng.integers(0, 2 ** 47, 500)])
    sums = sums[sums < 2 ** 48].astype(np.uint64)
    plan = fast_plan(FeatureParams(), np.dtype(np.int8))
    ws, stream = plan.workspace(1), FastStream(plan)
    for shift in range(16):
        for chunk in np.array_split(sums, -(-sums.size // 40)):
            padded = np.zeros(40)
            padded[:chunk.size] = chunk
            by_parity = padded.reshape(20, 2).T.reshape(-1)   # (parity, pair) order
            expected = filter_bank_square_root(chunk[None], np.array([shift]))[0]
            ws.channels[:, 0] = by_parity
            ws.square_root(np.array([[2.0 ** -shift]]))
            assert np.array_equal(ws.channel_amplitudes(0)[:chunk.size],
                                  expected.astype(np.float64)), f"batch, shift {shift}"
            stream.channels[:] = by_parity
            stream.square_root(shift)
            ours = stream.sides[stream.parity][3].reshape(2, 20).T.reshape(-1)
            assert np.array_equal(ours[:chunk.size], expected.astype(np.float64)), \
                f"stream, shift {shift}"


def tail_expected(amplitudes, estimate, dtype):
    cleaned, estimates = spectral_subtraction(CONFIG.spectral_subtraction, amplitudes, estimate)
    normalised = apply_pcan(cleaned, estimates, CONFIG.pcan_lut, CONFIG.snr_shift)
    logs = filter_bank_log(normalised, CONFIG.log_output_scale, CONFIG.correction_bits)
    return (to_int8(logs) if dtype == np.int8 else to_float32(logs)), estimates[-1]


def random_tail_inputs(rng, frames: int) -> tuple:
    """Filter-bank amplitudes of every magnitude up to 2**24 (a few zero) and a starting
    noise estimate anywhere in uint32: the inputs of the frontend's tail."""
    scale = 2.0 ** rng.integers(0, 24, (frames, 1))
    amplitudes = np.floor(rng.random((frames, 40)) * scale).astype(np.uint64)
    amplitudes[rng.random(amplitudes.shape) < 0.05] = 0
    estimate = rng.integers(0, UINT32, 40, dtype=np.uint64) // rng.integers(1, 2 ** 20, 40,
                                                                              dtype=np.uint64)
    return amplitudes, estimate


@pytest.mark.parametrize("dtype", [np.int8, np.float32])
@pytest.mark.parametrize("seed", range(5))
def test_noise_reduction_pcan_and_log_tail(dtype, seed):
    """Spectral subtraction to the output from any amplitudes the square root can give
    (up to sqrt(2**31 * the bank's largest row sum) ~ 2**23.4, so the uint32 shift of S
    wraps and the SNR passes 2**32) and any starting estimate."""
    frames = 30
    amplitudes, estimate = random_tail_inputs(np.random.default_rng(seed), frames)
    plan = FastFrontend(CONFIG, dtype)
    ws = plan.workspace(frames)
    for frame in range(frames):
        ws.set_amplitudes(frame, amplitudes[frame].astype(np.float64))
    ws.set_estimate(estimate)
    np.fmod(ws.amplitudes, plan.wrap, out=ws.wrapped)
    ours = ws.features(plan.noise_matrix)
    expected, last = tail_expected(amplitudes, estimate, dtype)
    assert_same_bytes(ours, expected, "tail")
    assert np.array_equal(ws.estimate(frames), last)


def test_unwrapped_noise_matrix_below_2_22():
    """The streaming path's shortcut (a = amp) gives the same as the full matrix."""
    rng = np.random.default_rng(8)
    amplitudes = rng.integers(0, 2 ** 22, (20, 40)).astype(np.uint64)
    expected, _ = tail_expected(amplitudes, np.zeros(40, np.uint64), np.int8)
    plan = fast_plan(FeatureParams(), np.dtype(np.int8))
    ws = plan.workspace(20)
    for frame in range(20):
        ws.set_amplitudes(frame, amplitudes[frame].astype(np.float64))
    ws.set_estimate(np.zeros(40))
    assert_same_bytes(ws.features(plan.noise_matrix_unwrapped), expected, "unwrapped")


def test_gain_segments_match_wide_dynamic_function():
    """The gain segments, and the table lookup the paths use (pcan_gains), at every
    segment break, its neighbours, every power of two and its neighbours, and at random."""
    plan = fast_plan(FeatureParams(), np.dtype(np.int8))
    breaks = plan.gain_breaks.astype(np.uint64)
    powers = np.uint64(1) << np.arange(33, dtype=np.uint64)
    rng = np.random.default_rng(1)
    x = np.concatenate([breaks - np.uint64(1), breaks, breaks + np.uint64(1), np.arange(5000),
                        powers - np.uint64(1), powers, powers + np.uint64(1),
                        rng.integers(0, UINT32, 20000, dtype=np.uint64)]).astype(np.uint64)
    x = x[x < UINT32]
    expected = wide_dynamic_function(x, CONFIG.pcan_lut).astype(np.float64)
    gains = plan.gains[plan.gain_breaks.searchsorted(x.astype(np.float64), side="right")]
    assert np.array_equal(gains * (1 << CONFIG.snr_shift), expected)
    strided = np.zeros((x.size, 3))
    strided[:, 1] = x                       # as the paths read estimates: a strided view
    for estimates in (x.astype(np.float64), strided[:, 1]):
        assert np.array_equal(plan.pcan_gains(estimates) * (1 << CONFIG.snr_shift), expected)


@pytest.mark.parametrize("dtype", [np.int8, np.float32])
def test_output_steps_match_shrink_log_and_rescale(dtype):
    """The SNR -> output step table, at every step, its neighbours, and past 2**32."""
    plan = FastFrontend(CONFIG, dtype)
    steps = plan.output_steps.astype(np.uint64)
    rng = np.random.default_rng(2)
    assert plan.snr_limit > UINT32   # amplitudes up to 2**23.4 times gains up to 2**15
    snr = np.concatenate([steps - np.uint64(1), steps, steps + np.uint64(1), np.arange(20000),
                          rng.integers(0, plan.snr_limit, 20000, dtype=np.uint64)])
    snr = snr[snr < plan.snr_limit].astype(np.uint64)
    ours = plan.output_values[plan.output_steps.searchsorted(snr.astype(np.float64), "right")]
    with np.errstate(over="ignore"):
        logs = filter_bank_log(pcan_shrink(snr % np.uint64(UINT32)), CONFIG.log_output_scale,
                               CONFIG.correction_bits)
    expected = to_int8(logs) if dtype == np.int8 else to_float32(logs)
    assert np.array_equal(ours.view(np.uint8), expected.view(np.uint8))


# ---- the frontend's state, threads, and configurations the fast path does not take ----

def test_stream_batch_window_trace_and_reset_interleaved():
    """Random calls of every kind on a fast and a stage-module frontend: same outputs,
    same noise estimates, all along."""
    rng = np.random.default_rng(11)
    audio = random_clip(12, seconds=4)
    fast, slow = MicroSpeechFrontend(), MicroSpeechFrontend(fast=False)
    position = 0
    for step in range(120):
        action = rng.integers(6)
        if action <= 2 and position + STRIDE <= audio.size:
            chunk = audio[position:position + STRIDE]
            position += STRIDE
            a, b = fast.process(chunk), slow.process(chunk)
            assert (a is None) == (b is None) and (a is None or np.array_equal(a, b))
        elif action == 3:
            windows = windows_of(audio[rng.integers(0, 8000):][:rng.integers(480, 8000)])
            assert np.array_equal(fast.process_windows(windows), slow.process_windows(windows))
        elif action == 4:
            window = audio[rng.integers(0, audio.size - 480):][:480]
            a, b = fast.trace(window), slow.trace(window)
            assert all(np.array_equal(a[name], b[name]) for name in b)
        elif rng.random() < 0.3:
            fast.reset(), slow.reset()
            position = rng.integers(0, 40) * STRIDE
        assert np.array_equal(fast.noise_estimate, slow.noise_estimate), f"step {step}"
        assert fast.frames_seen == slow.frames_seen
    estimate = rng.integers(0, 2 ** 20, 40, dtype=np.uint64)
    fast.noise_estimate = slow.noise_estimate = estimate
    windows = windows_of(audio[:16000])
    assert np.array_equal(fast.process_windows(windows), slow.process_windows(windows))


def test_threads_do_not_share_batch_buffers():
    clips = [random_clip(50 + i) for i in range(4)]
    expected = [micro_speech_features(clip) for clip in clips]
    failures = []

    def work(i):
        for _ in range(20):
            if not np.array_equal(micro_speech_features(clips[i]), expected[i]):
                failures.append(i)
    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures


@pytest.mark.parametrize("params, why", [
    (FeatureParams(window_size_ms=16, window_stride_ms=8), "fft_length 256"),
    (FeatureParams(filter_bank_clamping=True), "clamping"),
])
def test_other_configurations_use_the_stage_modules(params, why):
    assert why in unsupported_reason(prepare(params))
    frontend = MicroSpeechFrontend(params)
    assert frontend.fast is None and "stage modules" in repr(frontend)
    audio = random_clip(5)
    windows = np.stack([audio[i:i + params.window_size]
                        for i in range(0, 16000 - params.window_size + 1, params.window_stride)])
    assert np.array_equal(frontend.process_windows(windows),
                          MicroSpeechFrontend(params, fast=False).process_windows(windows))


@pytest.mark.parametrize("params", [
    FeatureParams(filter_bank_number_of_channels=41),                  # an odd channel count
    FeatureParams(window_size_ms=100, window_stride_ms=50),            # a 2048-point FFT
    FeatureParams(filter_bank_upper_band_limit_hz=7990.0, filter_bank_lower_band_limit_hz=31.0,
                  filter_bank_even_smoothing=0.1, pcan_strength=0.8),
])
def test_other_configurations_fast_equals_stage_modules(params):
    """Configurations TFLM's model does not cover: the fast path against the stage modules
    (batch and stream), on random audio."""
    assert unsupported_reason(prepare(params)) is None
    audio = random_clip(6, seconds=2)
    starts = range(0, audio.size - params.window_size + 1, params.window_stride)
    windows = np.stack([audio[i:i + params.window_size] for i in starts])
    expected = MicroSpeechFrontend(params, fast=False).process_windows(windows)
    assert np.array_equal(MicroSpeechFrontend(params).process_windows(windows), expected)
    frontend = MicroSpeechFrontend(params)
    chunks = audio[:audio.size // params.window_stride * params.window_stride]
    results = [frontend.process(c) for c in chunks.reshape(-1, params.window_stride)]
    streamed_features = np.stack([r for r in results if r is not None])
    assert np.array_equal(streamed_features, expected[:len(streamed_features)])
