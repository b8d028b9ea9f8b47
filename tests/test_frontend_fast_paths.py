"""The fast paths' own tricks, against the stage modules (which tests/test_frontend.py holds
to TFLM): the batch workspace's frames-innermost FFT and its slices for kiss_fftr's bin
pairs, the stream's ring buffer, flat one-frame FFT and alternating noise buffers, and
the PCAN gain table. Seeded windows aimed at the edges: silence, full scale,
-32768, impulses at the window's ends, DC, Nyquist, every auto-scale shift; batches of
sizes whose strides are powers of two; other FFT sizes and channel counts.
tests/test_frontend_fast.py runs the whole pipeline against TFLM.
"""
import numpy as np
import pytest

from test_frontend_fast import random_clip, random_tail_inputs, tail_expected
from tflm_edu.frontend import FeatureParams, MicroSpeechFrontend, prepare
from tflm_edu.frontend.fast_path import UINT32, FastFrontend, gain_key, reference_amplitudes
from tflm_edu.frontend.fast_stream import RING_CHUNKS, FastStream
from tflm_edu.frontend.frontend import fast_plan
from tflm_edu.frontend.pcan import wide_dynamic_function

PARAMS = {
    "micro_speech": FeatureParams(),
    "41 channels": FeatureParams(filter_bank_number_of_channels=41),
    "2048-point FFT": FeatureParams(window_size_ms=100, window_stride_ms=50),
    "wide band": FeatureParams(filter_bank_upper_band_limit_hz=7990.0,
                               filter_bank_lower_band_limit_hz=31.0, pcan_strength=0.8),
}


def edge_windows(rng: np.random.Generator, size: int, count: int) -> np.ndarray:
    """Windows of every kind the FFT's edges care about, at levels spanning all shifts."""
    windows = []
    for i in range(count):
        level = int(2 ** rng.uniform(0, 15))
        kind = i % 8
        if kind == 0:
            w = rng.integers(-level, level, size, endpoint=True)
        elif kind == 1:   # full scale, both signs, -32768 included
            w = rng.choice([-32768, 32767], size)
        elif kind == 2:   # impulses at the ends and the middle
            w = np.zeros(size, np.int64)
            w[[0, 1, size // 2, size - 2, size - 1]] = rng.choice([-32768, 32767, level], 5)
        elif kind == 3:   # DC
            w = np.full(size, rng.choice([-32768, 32767, level, -level]))
        elif kind == 4:   # Nyquist
            w = np.where(np.arange(size) % 2, -level, level)
        elif kind == 5:   # a sine
            w = level * np.sin(np.arange(size) * rng.uniform(0, np.pi) + rng.uniform(0, 6))
        elif kind == 6:
            w = np.zeros(size)
        else:             # sparse large values
            w = np.where(rng.random(size) < 0.05, rng.integers(-32768, 32768, size), 0)
        windows.append(np.clip(w, -32768, 32767))
    return np.array(windows).astype(np.int16)


def stream_amplitudes(stream: FastStream, window: np.ndarray):
    """The stream's amplitudes for one window (channel order), or None where its guard
    turns the window down."""
    shift = stream.window(window)
    if shift is None:
        return None
    stream.fft(shift)
    stream.square_root(shift)
    by_parity = stream.sides[stream.parity][3].reshape(2, -1)
    return by_parity.T.reshape(-1)[:stream.num_channels]


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_fft_to_amplitudes_batch_and_stream(name):
    """Window to amplitudes on edge windows: the batch workspace (batches of 1, 3 and 64
    frames, 64 making every stride a power of two) and the stream, against the stage
    modules, wherever the guard lets the window through."""
    params = PARAMS[name]
    plan = fast_plan(params)
    rng = np.random.default_rng(sorted(PARAMS).index(name))
    windows = edge_windows(rng, params.window_size, 64 if params.window_size < 1000 else 24)
    expected = [reference_amplitudes(plan.config, w) for w in windows]
    stream, taken = FastStream(plan), 0
    for window, want in zip(windows, expected):
        ours = stream_amplitudes(stream, window)
        if ours is not None:
            assert np.array_equal(ours, want), "stream"
            taken += 1
    assert taken > len(windows) // 2
    for frames in (1, 3, len(windows)):
        for start in range(0, len(windows), frames):
            batch = windows[start:start + frames]
            if len(batch) < frames:
                break
            ws = plan.workspace(frames)
            top = ws.window(batch)
            safe = (top == np.floor(top)) & (top < 32768)
            shifts = np.where(top > 0, np.maximum(15 - np.frexp(top)[1], 0), 0)
            ws.fft(shifts)
            for f in np.flatnonzero(safe):
                assert np.array_equal(ws.channel_amplitudes(f), expected[start + f]), \
                    f"batch of {frames}, frame {f}"


@pytest.mark.parametrize("name", ["micro_speech", "2048-point FFT"])
def test_stream_across_the_ring_wrap(name):
    """Past RING_CHUNKS chunks the ring carries its tail to the front: the stream gives
    the stage modules' features, and noise estimate, chunk after chunk across several
    wraps, with the estimate set by hand half way."""
    params = PARAMS[name]
    stride = params.window_stride
    chunks = (2 * RING_CHUNKS + 5) if params.window_size < 1000 else RING_CHUNKS + 4
    audio = np.concatenate([random_clip(40 + i) for i in range(-(-chunks * stride // 16000))])
    fast, slow = MicroSpeechFrontend(params), MicroSpeechFrontend(params, fast=False)
    for i, chunk in enumerate(audio[:chunks * stride].reshape(-1, stride)):
        a, b = fast.process(chunk), slow.process(chunk)
        assert (a is None) == (b is None) and (a is None or np.array_equal(a, b)), f"chunk {i}"
        assert np.array_equal(fast.noise_estimate, slow.noise_estimate)
        if i == chunks // 2:
            estimate = np.random.default_rng(i).integers(0, 2 ** 24, params.
                                                         filter_bank_number_of_channels)
            fast.noise_estimate = slow.noise_estimate = estimate.astype(np.uint64)


@pytest.mark.parametrize("dtype", [np.int8, np.float32])
@pytest.mark.parametrize("seed", range(3))
def test_stream_tail_alternating_buffers(dtype, seed):
    """The stream's spectral subtraction, PCAN and output, frame after frame on its two
    buffers, from any amplitudes the square root can give (the wrapped matrix past
    2**22, the unwrapped one below) and any starting estimate."""
    rng = np.random.default_rng(seed)
    frames = 24
    amplitudes, estimate = random_tail_inputs(rng, frames)
    stream = FastStream(FastFrontend(prepare(), dtype))
    stream.noise_estimate = estimate
    expected, _ = tail_expected(amplitudes, estimate, dtype)
    for frame in range(frames):
        wrapped = amplitudes[frame].max() >= 2 ** 22 or rng.random() < 0.5
        stream.set_amplitudes(amplitudes[frame].astype(np.float64), wrapped=wrapped)
        ours = stream.features(stream.matrices["wrapped" if wrapped else "unwrapped"])
        assert np.array_equal(ours.view(np.uint8), expected[frame].view(np.uint8)), frame
        _, after = tail_expected(amplitudes[:frame + 1], estimate, dtype)
        assert np.array_equal(stream.noise_estimate, after)


@pytest.mark.parametrize("name", ["micro_speech", "wide band"])
def test_gain_table_every_segment(name):
    """pcan_gains against WideDynamicFunction for every bit length and every pattern of
    the 10 bits below the leading one (first, last and a random member of each run),
    and every value below 2**12."""
    plan = fast_plan(PARAMS[name])
    rng = np.random.default_rng(3)
    starts = [np.arange(1 << 12, dtype=np.uint64)]
    for e in range(12, 33):   # bit length e: runs of 2**(e - 11) values
        run = np.uint64(1) << np.uint64(e - 11)
        first = (np.uint64(1) << np.uint64(e - 1)) + np.arange(1024, dtype=np.uint64) * run
        starts += [first, first + run - np.uint64(1),
                   first + rng.integers(0, int(run), 1024, dtype=np.uint64)]
    x = np.concatenate(starts)
    x = x[x < UINT32]
    expected = wide_dynamic_function(x, plan.config.pcan_lut).astype(np.float64)
    ours = plan.pcan_gains(x.astype(np.float64)) * (1 << plan.config.snr_shift)
    assert np.array_equal(ours, expected)
    keys = gain_key(np.concatenate([[0.0], 2.0 ** np.arange(32)]))
    assert np.unique(keys).size == keys.size   # 0 and every bit length apart
