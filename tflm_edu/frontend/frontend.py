"""The micro_speech feature frontend: 1 s of 16 kHz audio -> 49 x 40 int8 features.

Mirrors the graph that tensorflow/lite/micro/examples/micro_speech/audio_preprocessor.py
builds (_GenerateFeature.generate_feature_for_frame, with its FeatureParams defaults) and
exports as audio_preprocessor_int8.tflite / audio_preprocessor_float.tflite, and the way
evaluate.py's generate_features() drives it: reset the interpreter, then feed 30 ms
windows at a 20 ms stride. One window goes through

    SignalWindow -> SignalFftAutoScale -> SignalRfft -> SignalEnergy -> SignalFilterBank
    -> SignalFilterBankSquareRoot -> SignalFilterBankSpectralSubtraction -> SignalPCAN
    -> SignalFilterBankLog -> (builtins) rescale to int8, or to float32

and only the spectral subtraction remembers anything between windows (its per-channel
noise estimate), so every other stage here runs on all the windows at once.

This module runs the stage modules, the readable mirror of TFLM's C code (trace() shows
every op's output). By default MicroSpeechFrontend runs fast_path.FastFrontend instead
(and process() its fast_stream.FastStream): the same integer arithmetic planned as a few
numpy calls, byte-identical (tests/test_frontend_fast.py, test_frontend_fast_paths.py);
`fast=False` selects the stage modules.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from tflm_edu.frontend.energy import spectrum_to_energy
from tflm_edu.frontend.fast_path import FastFrontend, unsupported_reason
from tflm_edu.frontend.fast_stream import FastStream
from tflm_edu.frontend.fft import fft_auto_scale, get_pow2_fft_length, rfft
from tflm_edu.frontend.filter_bank import FilterBankConfig, filter_bank, init_filter_bank
from tflm_edu.frontend.log_scale import filter_bank_log
from tflm_edu.frontend.noise_reduction import SpectralSubtractionConfig, spectral_subtraction
from tflm_edu.frontend.pcan import apply_pcan, pcan_gain_lut, snr_shift_for
from tflm_edu.frontend.square_root import filter_bank_square_root
from tflm_edu.frontend.window import apply_window, hann_window_weights

OUTPUT_DTYPES = (np.dtype(np.int8), np.dtype(np.float32))


@dataclass(frozen=True)
class FeatureParams:
    """The generator's parameters; the defaults are the ones micro_speech was trained with.
    Field names follow FeatureParams in audio_preprocessor.py."""
    sample_rate: int = 16000
    window_size_ms: int = 30
    window_stride_ms: int = 20
    window_scaling_bits: int = 12
    filter_bank_number_of_channels: int = 40
    filter_bank_lower_band_limit_hz: float = 125.0
    filter_bank_upper_band_limit_hz: float = 7500.0
    filter_bank_scaling_bits: int = 12
    filter_bank_alignment: int = 4
    filter_bank_channel_block_size: int = 4
    filter_bank_post_scaling_bits: int = 6
    filter_bank_spectral_subtraction_bits: int = 14
    filter_bank_smoothing_bits: int = 10
    filter_bank_even_smoothing: float = 0.025
    filter_bank_odd_smoothing: float = 0.06
    filter_bank_min_signal_remaining: float = 0.05
    filter_bank_clamping: bool = False
    pcan_strength: float = 0.95
    pcan_offset: float = 80.0
    pcan_gain_bits: int = 21
    pcan_smoothing_bits: int = 10
    legacy_output_scaling: float = 25.6

    @property
    def window_size(self) -> int:
        return self.window_size_ms * self.sample_rate // 1000

    @property
    def window_stride(self) -> int:
        return self.window_stride_ms * self.sample_rate // 1000


@dataclass(frozen=True, eq=False)
class FrontendConfig:
    """Everything the ops compute once (their Init/Prepare work, or the generator's)."""
    params: FeatureParams
    window_weights: np.ndarray
    fft_length: int
    fft_bits: int
    filter_bank: FilterBankConfig
    filter_bank_matrix: np.ndarray
    spectral_subtraction: SpectralSubtractionConfig
    pcan_lut: np.ndarray
    snr_shift: int
    log_output_scale: int
    correction_bits: int

    def __repr__(self):
        return (f"FrontendConfig(window {self.window_weights.size}, fft {self.fft_length}, "
                f"{self.filter_bank!r}, snr_shift {self.snr_shift}, "
                f"log scale {self.log_output_scale}, correction bits {self.correction_bits})")


def _spectral_subtraction_config(p: FeatureParams) -> SpectralSubtractionConfig:
    return SpectralSubtractionConfig.from_floats(
        p.filter_bank_number_of_channels, p.filter_bank_even_smoothing,
        p.filter_bank_odd_smoothing, p.filter_bank_smoothing_bits,
        p.filter_bank_min_signal_remaining, p.filter_bank_clamping,
        p.filter_bank_spectral_subtraction_bits)


@functools.lru_cache(maxsize=8)
def prepare(params: FeatureParams = FeatureParams()) -> FrontendConfig:
    """Compute every constant of the frontend from `params`, as the generator does."""
    p = params
    fft_length, fft_bits = get_pow2_fft_length(p.window_size)
    bank = init_filter_bank(fft_length // 2 + 1, p.sample_rate, p.filter_bank_number_of_channels,
                            p.filter_bank_lower_band_limit_hz, p.filter_bank_upper_band_limit_hz,
                            p.filter_bank_alignment, p.filter_bank_channel_block_size,
                            p.filter_bank_scaling_bits)
    # The FFT output carries a factor 2**-fft_bits and the Q12 filter weights leave
    # 2**(scaling_bits / 2) after the square root: channel amplitudes sit correction_bits
    # below true scale. The log stage shifts them back; PCAN counts them out of the noise
    # estimate's smoothing_bits fractional bits.
    correction_bits = fft_bits - p.filter_bank_scaling_bits // 2
    lut = pcan_gain_lut(p.pcan_strength, p.pcan_offset,
                        p.pcan_smoothing_bits - correction_bits, p.pcan_gain_bits)
    return FrontendConfig(
        p, hann_window_weights(p.window_size, p.window_scaling_bits), fft_length, fft_bits,
        bank, bank.matrix(fft_length // 2 + 1), _spectral_subtraction_config(p), lut,
        snr_shift_for(p.pcan_gain_bits, correction_bits), 1 << p.filter_bank_post_scaling_bits,
        correction_bits)


def _keeper(stages: dict | None):
    """A function that records an op's output in `stages` (as the op's tensor dtype)."""
    if stages is None:
        return lambda name, value, dtype: None
    return lambda name, value, dtype: stages.__setitem__(name, value.astype(dtype))


def channel_amplitudes(config: FrontendConfig, windows: np.ndarray, keep) -> np.ndarray:
    """The stateless half, window through square root, for all frames at once."""
    windowed = apply_window(windows, config.window_weights, config.params.window_scaling_bits)
    keep("SignalWindow", windowed, np.int16)
    scaled, scale_bits = fft_auto_scale(windowed)
    keep("SignalFftAutoScale", scaled, np.int16)
    keep("SignalFftAutoScale:scale_bits", scale_bits, np.int32)
    spectrum = rfft(scaled, config.fft_length)
    keep("SignalRfft", spectrum, np.int16)
    bank = config.filter_bank
    energy = spectrum_to_energy(spectrum, bank.start_index, bank.end_index)
    keep("SignalEnergy", energy, np.uint32)
    channels = filter_bank(energy, config.filter_bank_matrix)
    keep("SignalFilterBank", channels, np.uint64)
    amplitudes = filter_bank_square_root(channels, scale_bits)
    keep("SignalFilterBankSquareRoot", amplitudes, np.uint32)
    return amplitudes


def log_features(config: FrontendConfig, windows: np.ndarray, noise_estimate: np.ndarray,
                 stages: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(frames, window) int16 -> (int16 log features, noise estimate after each frame).

    `noise_estimate` is the state before the first frame. When `stages` is a dict, each
    op's output is stored in it under the op's name, with the op's tensor dtype.
    """
    keep = _keeper(stages)
    amplitudes = channel_amplitudes(config, windows, keep)
    cleaned, estimates = spectral_subtraction(config.spectral_subtraction, amplitudes,
                                              noise_estimate)
    keep("SignalFilterBankSpectralSubtraction", cleaned, np.uint32)
    keep("SignalFilterBankSpectralSubtraction:noise_estimate", estimates, np.uint32)
    normalised = apply_pcan(cleaned, estimates, config.pcan_lut, config.snr_shift)
    keep("SignalPCAN", normalised, np.uint32)
    logs = filter_bank_log(normalised, config.log_output_scale, config.correction_bits)
    keep("SignalFilterBankLog", logs, np.int16)
    return logs, estimates


def to_int8(logs: np.ndarray) -> np.ndarray:
    """The int8 model's tail: (log * 256 + 333) / 666 - 128, clipped to int8.

    In float terms: log / 25.6 is the legacy feature value (about 0..26), and the
    micro_speech model's input quantization maps 0..26 onto -128..127; 666 is
    int(25.6 * 26 + 0.5). The model's DIV is C int32 division, which truncates; the
    operands are never negative here, so floor division is the same.
    """
    value_div = int(25.6 * 26 + 0.5)
    value = (logs.astype(np.int32) * 256 + value_div // 2) // value_div - 128
    return np.clip(value, -128, 127).astype(np.int8)


def to_float32(logs: np.ndarray, legacy_output_scaling: float = 25.6) -> np.ndarray:
    """The float model's tail: a float32 multiply by float32(1 / 25.6) = 0.0390625."""
    return logs.astype(np.float32) * np.float32(1.0 / legacy_output_scaling)


def _expect_samples(samples, shape: tuple, what: str) -> None:
    """One-line ValueError unless `samples` is an int16 numpy array of `shape`
    (None in `shape` accepts any length along that axis)."""
    got = None
    if not isinstance(samples, np.ndarray):
        got = f"a {type(samples).__name__}"
    elif samples.dtype != np.int16:
        got = f"dtype {samples.dtype}"
    elif samples.ndim != len(shape) or any(
            want is not None and want != have for want, have in zip(shape, samples.shape)):
        got = f"shape {samples.shape}"
    if got is not None:
        dims = ", ".join("n" if n is None else str(n) for n in shape)
        dims += "," if len(shape) == 1 else ""
        raise ValueError(f"expected {what}: an int16 numpy array of shape ({dims}); got {got}")


@functools.lru_cache(maxsize=8)
def fast_plan(params: FeatureParams, output_dtype=np.int8) -> FastFrontend | None:
    """The fast path planned for these parameters (shared: it never changes), or None
    where it does not apply (see fast_path.unsupported_reason)."""
    config = prepare(params)
    if unsupported_reason(config, output_dtype):
        return None
    return FastFrontend(config, output_dtype)


class MicroSpeechFrontend:
    """The stateful preprocessor, fed window by window or 20 ms chunk by chunk.

    Equivalent to one TFLM interpreter of audio_preprocessor_int8.tflite (or _float with
    output_dtype=np.float32): reset() zeroes the noise estimates like interpreter.reset().
    `fast` (default) runs fast_path.FastFrontend where it applies, else the stage modules.
    """

    def __init__(self, params: FeatureParams = FeatureParams(), output_dtype=np.int8,
                 fast: bool = True):
        if np.dtype(output_dtype) not in OUTPUT_DTYPES:
            raise ValueError(f"output_dtype must be int8 or float32, got {np.dtype(output_dtype)}")
        self.config = prepare(params)
        self.params = params
        self.output_dtype = np.dtype(output_dtype)
        self.fast = fast_plan(params, self.output_dtype) if fast else None
        self._stream = FastStream(self.fast) if self.fast else None
        self._chunk_shape = (params.window_stride,)
        self.reset()

    def __repr__(self):
        p = self.params
        path = "fast path" if self.fast else "stage modules"
        return (f"MicroSpeechFrontend({p.window_size_ms} ms windows every {p.window_stride_ms} ms"
                f" at {p.sample_rate} Hz -> {p.filter_bank_number_of_channels} "
                f"{self.output_dtype} features, {path}, {self.frames_seen} frames since reset)")

    def reset(self) -> None:
        """Forget the noise estimates and any buffered audio."""
        if self._stream:
            self._stream.reset()
        self.noise_estimate = np.zeros(self.params.filter_bank_number_of_channels, np.uint64)
        self._pending = np.zeros(0, dtype=np.int16)
        self.frames_seen = 0

    @property
    def noise_estimate(self) -> np.ndarray:
        """The spectral subtraction's per-channel noise estimate (uint32 values, uint64;
        a copy: assign a new array to change it)."""
        return self._stream.noise_estimate if self._stream else self._noise_estimate

    @noise_estimate.setter
    def noise_estimate(self, value: np.ndarray) -> None:
        if self._stream:
            self._stream.noise_estimate = value
        else:
            self._noise_estimate = np.asarray(value, np.uint64)

    def _output(self, logs: np.ndarray) -> np.ndarray:
        if self.output_dtype == np.int8:
            return to_int8(logs)
        return to_float32(logs, self.params.legacy_output_scaling)

    def process_windows(self, windows: np.ndarray) -> np.ndarray:
        """Run consecutive windows, (frames, window_size) int16 -> (frames, channels)."""
        _expect_samples(windows, (None, self.params.window_size), "a stack of windows")
        if len(windows) == 0:
            return np.zeros((0, self.params.filter_bank_number_of_channels), self.output_dtype)
        if self.fast:
            features, self.noise_estimate = self.fast.features(windows, self.noise_estimate)
        else:
            logs, estimates = log_features(self.config, windows, self.noise_estimate)
            self.noise_estimate = estimates[-1]
            features = self._output(logs)
        self.frames_seen += len(windows)
        return features

    def process_window(self, window: np.ndarray) -> np.ndarray:
        """One 30 ms window (window_size int16 samples) -> its features."""
        _expect_samples(window, (self.params.window_size,),
                        f"one {self.params.window_size_ms} ms window")
        return self.process_windows(window[None, :])[0]

    def process(self, chunk: np.ndarray) -> np.ndarray | None:
        """Take the next 20 ms of audio; return the newest window's features, if any.

        Windows start every stride samples, so the first one is complete after two
        chunks and every later chunk completes exactly one more.
        """
        if not (isinstance(chunk, np.ndarray) and chunk.dtype == np.int16
                and chunk.shape == self._chunk_shape):
            _expect_samples(chunk, self._chunk_shape,
                            f"one {self.params.window_stride_ms} ms chunk")
        if self._stream:
            features = self._stream.push(chunk)
            if features is not None:
                self.frames_seen += 1
            return features
        self._pending = np.concatenate([self._pending, chunk])
        if self._pending.size < self.params.window_size:
            return None
        window = self._pending[:self.params.window_size]
        self._pending = self._pending[self.params.window_stride:]
        return self.process_window(window)

    def trace(self, window: np.ndarray) -> dict[str, np.ndarray]:
        """Process one window with the stage modules (advancing the state) and return
        every op's output."""
        _expect_samples(window, (self.params.window_size,),
                        f"one {self.params.window_size_ms} ms window")
        stages: dict[str, np.ndarray] = {}
        logs, estimates = log_features(self.config, window[None, :], self.noise_estimate, stages)
        self.noise_estimate = estimates[-1]
        self.frames_seen += 1
        stages["output"] = self._output(logs)
        return {name: value[0] for name, value in stages.items()}


def micro_speech_features(samples: np.ndarray, output_dtype=np.int8,
                          params: FeatureParams = FeatureParams()) -> np.ndarray:
    """1 s of int16 audio -> (49, 40) features, as the reset preprocessor model gives them.

    The windows start every 20 ms and must fit in the second: 1 + (16000 - 480) // 320 = 49.
    """
    _expect_samples(samples, (params.sample_rate,),
                    f"1 s of audio ({params.sample_rate} samples at {params.sample_rate} Hz)")
    count = 1 + (samples.size - params.window_size) // params.window_stride
    step = samples.strides[0]
    windows = np.lib.stride_tricks.as_strided(   # a read-only view, no copy
        samples, (count, params.window_size), (params.window_stride * step, step),
        writeable=False)
    plan = fast_plan(params, np.dtype(output_dtype)) \
        if np.dtype(output_dtype) in OUTPUT_DTYPES else None
    if plan is not None:
        zeros = np.zeros(params.filter_bank_number_of_channels, np.uint64)
        return plan.features(windows, zeros)[0]
    return MicroSpeechFrontend(params, output_dtype).process_windows(windows)
