"""The micro_speech frontend against the real TFLM running audio_preprocessor_*.tflite.

The oracle is the tflite-micro package: reset the interpreter, then invoke it on 49 windows
of 480 samples at a 320-sample stride. Features must be byte-identical, and so must every
intermediate tensor (read with the interpreter's kPreserveAllTensors mode), for the four
reference WAVs and for seeded synthetic audio.
"""
import contextlib
import io
import wave
from pathlib import Path

import numpy as np
import pytest
from flatbuffers import flexbuffers

from tflm_edu.frontend import MicroSpeechFrontend, micro_speech_features, prepare
from tflm_edu.frontend.bits import bit_length
from tflm_edu.frontend.fft import max_abs16
from tflm_edu.frontend.kiss_fft import KissFftr16
from tflm_edu.frontend.square_root import sqrt64
from tflm_edu.schema import load_model, tensor_data

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference"
WAVS = ["yes_1000ms.wav", "no_1000ms.wav", "silence_1000ms.wav", "noise_1000ms.wav"]
WINDOW, STRIDE, FRAMES = 480, 320, 49


def reference(relative: str) -> Path:
    path = REFERENCE / relative
    if not path.is_file():
        pytest.skip(f"{relative} not found under {REFERENCE} (needs ../shared/reference)")
    return path


def read_wav(name: str) -> np.ndarray:
    with wave.open(str(reference(f"testdata/{name}"))) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 16000)
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.int16)


def windows_of(samples: np.ndarray) -> np.ndarray:
    count = 1 + (samples.size - WINDOW) // STRIDE
    return np.stack([samples[i * STRIDE: i * STRIDE + WINDOW] for i in range(count)])


class Oracle:
    """One real TFLM interpreter of a preprocessor model."""

    def __init__(self, model: str, preserve_all_tensors: bool = False):
        runtime = pytest.importorskip("tflite_micro.python.tflite_micro.runtime",
                                      reason="the oracle tflite-micro is not installed "
                                             "(pip install --pre tflite-micro)")
        config = runtime.InterpreterConfig
        mode = config.kPreserveAllTensors if preserve_all_tensors else config.kAllocationRecording
        with contextlib.redirect_stdout(io.StringIO()):  # it prints a resource-variable count
            self.interpreter = runtime.Interpreter.from_file(
                reference(f"models/{model}"), arena_size=32768, intrepreter_config=mode)
        self.model = load_model(reference(f"models/{model}"))

    def invoke(self, window: np.ndarray) -> np.ndarray:
        self.interpreter.set_input(window.reshape(1, -1), 0)
        self.interpreter.invoke()
        return np.array(self.interpreter.get_output(0))

    def features(self, samples: np.ndarray, reset: bool = True) -> np.ndarray:
        if reset:
            self.interpreter.reset()
        return np.stack([self.invoke(w) for w in windows_of(samples)])

    def stage_tensors(self) -> dict:
        """Tensor index of each signal op's outputs, named as MicroSpeechFrontend.trace."""
        names, graph = {}, self.model.subgraphs[0]
        for op in graph.operators:
            name = self.model.op_name(op)
            if name.startswith("Signal"):
                names[name] = op.outputs[0]
                if len(op.outputs) > 1:
                    extra = ":scale_bits" if name == "SignalFftAutoScale" else ":noise_estimate"
                    names[name + extra] = op.outputs[1]
        return names

    def tensor(self, index: int) -> np.ndarray:
        return np.asarray(self.interpreter.GetTensor(index, 0)["tensor_data"])


@pytest.fixture(scope="module")
def tflm_int8():
    return Oracle("audio_preprocessor_int8.tflite")


@pytest.fixture(scope="module")
def tflm_float():
    return Oracle("audio_preprocessor_float.tflite")


@pytest.fixture(scope="module")
def tflm_stages():
    return Oracle("audio_preprocessor_int8.tflite", preserve_all_tensors=True)


def assert_same_bytes(ours: np.ndarray, theirs: np.ndarray, what: str) -> None:
    theirs = theirs.reshape(ours.shape).astype(ours.dtype)
    differ = np.argwhere(ours.view(np.uint8).reshape(ours.shape[0], -1)
                         != theirs.view(np.uint8).reshape(ours.shape[0], -1))
    assert differ.size == 0, (f"{what}: {len(differ)} bytes differ, first in row {differ[0][0]}:"
                              f"\n ours {ours[differ[0][0]]}\n TFLM {theirs[differ[0][0]]}")


def check_audio(oracle: Oracle, samples: np.ndarray, dtype=np.int8) -> np.ndarray:
    """The one helper: our features and TFLM's, byte for byte."""
    ours = micro_speech_features(samples, dtype)
    assert ours.shape == (FRAMES, 40) and ours.dtype == dtype
    assert_same_bytes(ours, oracle.features(samples), "features")
    return ours


# ---- seeded synthetic audio: one line each ------------------------------------------

T = np.arange(16000) / 16000


def tone(hz, amplitude):
    return (amplitude * np.sin(2 * np.pi * hz * T)).astype(np.int16)


def noise(rng, level):
    return rng.integers(-level, level, 16000, endpoint=True).astype(np.int16)


def bursts(rng):
    quiet = noise(rng, 20)
    quiet[3000:6000] += tone(700, 9000)[3000:6000]
    quiet[9000:9800] = noise(rng, 25000)[9000:9800]
    return quiet


SIGNALS = {
    "white_1": lambda rng: noise(rng, 1),
    "white_30": lambda rng: noise(rng, 30),
    "white_1000": lambda rng: noise(rng, 1000),
    "white_12000": lambda rng: noise(rng, 12000),
    "white_full_scale": lambda rng: noise(rng, 32767) - rng.integers(0, 2, 16000).astype(np.int16),
    "gauss_clipped": lambda rng: np.clip(rng.normal(0, 60000, 16000), -32768, 32767).astype("i2"),
    "sine_440_quiet": lambda rng: tone(440, 300),
    "sine_1k": lambda rng: tone(1000, 12000),
    "sine_4k_full": lambda rng: tone(4000, 32767),
    "sine_7900": lambda rng: tone(7900, 20000),
    "sine_plus_noise": lambda rng: tone(2500, 8000) + noise(rng, 500),
    "chirp": lambda rng: (30000 * np.sin(2 * np.pi * (50 + 3700 * T) * T)).astype(np.int16),
    "silence": lambda rng: np.zeros(16000, np.int16),
    "dc_positive": lambda rng: np.full(16000, 32767, np.int16),
    "dc_negative_full": lambda rng: np.full(16000, -32768, np.int16),
    "dc_small": lambda rng: np.full(16000, 5, np.int16),
    "square_clipping": lambda rng: np.where(tone(300, 1000) >= 0, 32767, -32768).astype(np.int16),
    "nyquist": lambda rng: np.tile(np.array([32767, -32768], np.int16), 8000),
    "impulses": lambda rng: np.where(rng.random(16000) < 0.002, 30000, 0).astype(np.int16),
    "bursts_and_silence": bursts,
}


@pytest.mark.parametrize("name", WAVS)
def test_reference_wavs_int8(tflm_int8, name):
    check_audio(tflm_int8, read_wav(name))


@pytest.mark.parametrize("name", WAVS)
def test_reference_wavs_float32(tflm_float, name):
    check_audio(tflm_float, read_wav(name), np.float32)


@pytest.mark.parametrize("name", sorted(SIGNALS))
def test_synthetic_int8(tflm_int8, name):
    check_audio(tflm_int8, SIGNALS[name](np.random.default_rng(6)))


@pytest.mark.parametrize("name", ["white_1000", "chirp", "gauss_clipped", "silence"])
def test_synthetic_float32(tflm_float, name):
    check_audio(tflm_float, SIGNALS[name](np.random.default_rng(6)), np.float32)


@pytest.mark.parametrize("seed", range(4))
def test_random_levels_int8(tflm_int8, seed):
    rng = np.random.default_rng(seed)
    level = int(rng.choice([3, 100, 3000, 32767]))
    check_audio(tflm_int8, noise(rng, level) // np.int16(rng.integers(1, 4)))


def test_state_carries_across_two_seconds(tflm_int8):
    """Without a reset the noise estimates keep adapting: 2 s streamed through both."""
    rng = np.random.default_rng(3)
    audio = np.concatenate([noise(rng, 4000), bursts(rng)])
    frontend = MicroSpeechFrontend()
    ours = np.stack([frontend.process_window(w) for w in windows_of(audio)])
    assert_same_bytes(ours, tflm_int8.features(audio), "features over 2 s")


# ---- every intermediate tensor -------------------------------------------------------

def check_stages(oracle: Oracle, samples: np.ndarray) -> None:
    frontend, tensors = MicroSpeechFrontend(), oracle.stage_tensors()
    band = slice(frontend.config.filter_bank.start_index, frontend.config.filter_bank.end_index)
    oracle.interpreter.reset()
    for frame, window in enumerate(windows_of(samples)):
        ours, output = frontend.trace(window), oracle.invoke(window)
        for name, index in tensors.items():
            mine, theirs = ours[name].reshape(-1), oracle.tensor(index).reshape(-1)
            if name == "SignalEnergy":  # the op leaves bins outside its band unwritten
                mine, theirs = mine[band], theirs[band]
            assert np.array_equal(mine, theirs.astype(mine.dtype)), f"{name}, frame {frame}"
        assert np.array_equal(ours["output"], output), f"output, frame {frame}"


@pytest.mark.parametrize("name", ["white_1000", "gauss_clipped", "chirp", "bursts_and_silence"])
def test_every_stage_synthetic(tflm_stages, name):
    check_stages(tflm_stages, SIGNALS[name](np.random.default_rng(9)))


def test_every_stage_yes(tflm_stages):
    check_stages(tflm_stages, read_wav("yes_1000ms.wav"))


def test_max_abs_wraparound(tflm_stages):
    """TFLM's MaxAbs16 wraps -(-32768) back to -32768, after which the next sample wins.

    A quiet window with one -32768 where the Hann weight is 1.0 therefore gets a large
    scale shift, which wraps the loud sample: only the literal order reproduces it.
    """
    rng = np.random.default_rng(4)
    audio = noise(rng, 200)
    for start in range(0, 16000 - WINDOW + 1, STRIDE):
        audio[start + 238] = -32768
    stages = MicroSpeechFrontend().trace(audio[:WINDOW])
    assert stages["SignalWindow"][238] == -32768
    assert 0 <= max_abs16(stages["SignalWindow"][None, :])[0] < 1000
    assert stages["SignalFftAutoScale:scale_bits"] > 0
    check_stages(tflm_stages, audio)


# ---- streaming ----------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.int8, np.float32])
def test_streaming_equals_batch(dtype):
    audio = bursts(np.random.default_rng(5))
    frontend = MicroSpeechFrontend(output_dtype=dtype)
    results = [frontend.process(chunk) for chunk in audio.reshape(-1, STRIDE)]
    assert results[0] is None and all(r is not None for r in results[1:])
    batch = micro_speech_features(audio, dtype)
    assert np.array_equal(np.stack(results[1:]).view(np.uint8), batch.view(np.uint8))


def test_windows_one_by_one_equal_batch_and_reset_forgets():
    audio = SIGNALS["sine_plus_noise"](np.random.default_rng(2))
    frontend = MicroSpeechFrontend()
    frontend.process_windows(windows_of(noise(np.random.default_rng(1), 5000)))
    frontend.reset()
    one_by_one = np.stack([frontend.process_window(w) for w in windows_of(audio)])
    assert np.array_equal(one_by_one, micro_speech_features(audio))
    assert frontend.frames_seen == FRAMES


# ---- the constants the generator baked into the model ---------------------------------

def custom_options(model, op_name: str) -> tuple:
    graph = model.subgraphs[0]
    op = next(op for op in graph.operators if model.op_name(op) == op_name)
    const = [tensor_data(model, graph.tensors[i]) for i in op.inputs]
    return (flexbuffers.Loads(op.custom_options) if op.custom_options else None), const


def test_constants_equal_the_models():
    model = load_model(reference("models/audio_preprocessor_int8.tflite"))
    config = prepare()
    options, const = custom_options(model, "SignalWindow")
    assert options == {"shift": 12} and np.array_equal(const[1], config.window_weights)
    options, _ = custom_options(model, "SignalRfft")
    assert options["fft_length"] == config.fft_length == 512
    options, _ = custom_options(model, "SignalEnergy")
    bank = config.filter_bank
    assert (options["start_index"], options["end_index"]) == (bank.start_index, bank.end_index)
    options, const = custom_options(model, "SignalFilterBank")
    assert options == {"num_channels": bank.num_channels}
    for got, want in zip(const[1:], [bank.weights, bank.unweights, bank.channel_frequency_starts,
                                     bank.channel_weight_starts, bank.channel_widths]):
        assert np.array_equal(got, want)
    options, _ = custom_options(model, "SignalFilterBankSpectralSubtraction")
    assert options == vars(config.spectral_subtraction)
    options, const = custom_options(model, "SignalPCAN")
    assert options == {"snr_shift": config.snr_shift} and np.array_equal(const[2], config.pcan_lut)
    options, _ = custom_options(model, "SignalFilterBankLog")
    assert options == {"input_correction_bits": config.correction_bits,
                       "output_scale": config.log_output_scale}


def test_float_scale_equals_the_models():
    model = load_model(reference("models/audio_preprocessor_float.tflite"))
    _, const = custom_options(model, "MUL")
    assert const[1].dtype == np.float32 and const[1] == np.float32(1 / 25.6)


# ---- integer helpers against literal ports -------------------------------------------

def digit_by_digit_sqrt(num: int) -> int:
    """Sqrt64 / Sqrt32 of signal/src/square_root_*.cc, one bit pair at a time."""
    width, limit = (32, 0xFFFF) if num >> 32 == 0 else (64, 0xFFFF_FFFF)
    if num == 0:
        return 0
    top = (width - num.bit_length()) | 1
    bit, res = 1 << (width - 1 - top), 0
    for _ in range((width - 1 - top) // 2 + 1):
        if num >= res + bit:
            num -= res + bit
            res = (res >> 1) + bit
        else:
            res >>= 1
        bit >>= 2
    return res + 1 if num > res and res != limit else res


def test_sqrt64_matches_digit_by_digit():
    rng = np.random.default_rng(0)
    values = [0, 1, 2, 3, 4, 2**32 - 1, 2**32, 4294901760, 4294901761, 2**64 - 1, 2**62]
    values += [int(v) for bits in (8, 20, 31, 33, 45, 50, 63)
               for v in rng.integers(0, 2**bits, 300, dtype=np.uint64)]
    values += [r * r + d for r in (7, 65535, 65536, 3037000499) for d in (-1, 0, r, r + 1)]
    ours = sqrt64(np.array(values, dtype=np.uint64))
    assert [int(v) for v in ours] == [digit_by_digit_sqrt(v) for v in values]


@pytest.mark.parametrize("length", [64, 128, 256, 1024, 2048])
def test_kiss_fft_other_lengths_track_numpy(length):
    """Only the 512-point FFT has a TFLM oracle here (the preprocessor model); the other
    lengths (with a radix-2 stage when log2(length) is even) must at least be the
    1/length-scaled DFT to within a few int16 roundings."""
    x = np.random.default_rng(length).integers(-16000, 16000, (3, length)).astype(np.int16)
    ours = KissFftr16(length)(x).astype(np.float64)
    exact = np.fft.rfft(x.astype(np.float64), axis=1) / length
    assert np.abs(ours[..., 0] - exact.real).max() < 4
    assert np.abs(ours[..., 1] - exact.imag).max() < 4


def test_bit_length_is_exact():
    values = [0, 1, 2, 3, 2**31, 2**32 - 1, 2**53 + 1, 2**63, 2**64 - 1]
    values += [int(v) for v in np.random.default_rng(1).integers(0, 2**63, 500, dtype=np.uint64)]
    assert list(bit_length(np.array(values, dtype=np.uint64))) == [v.bit_length() for v in values]


# ---- bad input ----------------------------------------------------------------------

@pytest.mark.parametrize("samples, complaint", [
    (np.zeros(16000, np.float32), "dtype float32"),
    (np.zeros(16000, np.int32), "dtype int32"),
    (np.zeros(15999, np.int16), "shape (15999,)"),
    (np.zeros((1, 16000), np.int16), "shape (1, 16000)"),
    ([0] * 16000, "a list"),
])
def test_bad_audio_is_refused(samples, complaint):
    with pytest.raises(ValueError) as error:
        micro_speech_features(samples)
    message = str(error.value)
    assert "\n" not in message and "int16" in message and "(16000,)" in message
    assert complaint in message


def test_bad_stream_input_is_refused():
    frontend = MicroSpeechFrontend()
    with pytest.raises(ValueError, match=r"20 ms chunk.*\(320,\).*shape \(480,\)"):
        frontend.process(np.zeros(480, np.int16))
    with pytest.raises(ValueError, match=r"30 ms window.*\(480,\).*shape \(320,\)"):
        frontend.process_window(np.zeros(320, np.int16))
    with pytest.raises(ValueError, match="int8 or float32"):
        MicroSpeechFrontend(output_dtype=np.int16)
