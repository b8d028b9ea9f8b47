"""Speed of the numpy micro_speech frontend beside the real TFLM audio preprocessor.

For the same 1 s of audio (yes_1000ms.wav from ../shared/reference, or seeded noise when
that folder is absent) it times, in one run:

  tflm_edu batch      micro_speech_features(samples): every stateless stage on all 49
                      windows at once, the noise estimate in a loop over frames
  tflm_edu streaming  MicroSpeechFrontend.process() on 50 chunks of 20 ms
  TFLM                interpreter.reset(), then 49 x (set_input, invoke, get_output) on
                      audio_preprocessor_int8.tflite (the tflite-micro package)

and prints milliseconds per second of audio (best and median of the repeats; the machine
is shared, so single timings are noisy) and each one's ratio to TFLM. It also checks the
features are byte-identical before timing anything.

    python benchmarks/bench_frontend.py [--repeats 30]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import time
import wave
from pathlib import Path

import numpy as np

from tflm_edu.frontend import MicroSpeechFrontend, micro_speech_features

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference"
WINDOW, STRIDE = 480, 320


def load_audio() -> tuple[np.ndarray, str]:
    path = REFERENCE / "testdata" / "yes_1000ms.wav"
    if not path.is_file():
        rng = np.random.default_rng(0)
        return rng.integers(-3000, 3000, 16000).astype(np.int16), "seeded noise (no reference)"
    with wave.open(str(path)) as wav:
        return np.frombuffer(wav.readframes(wav.getnframes()), "<i2").astype(np.int16), path.name


def tflm_runner(samples: np.ndarray):
    """A function running the real TFLM preprocessor over `samples`, or None if absent."""
    model = REFERENCE / "models" / "audio_preprocessor_int8.tflite"
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        return None
    if not model.is_file():
        return None
    with contextlib.redirect_stdout(io.StringIO()):  # it prints a resource-variable count
        interpreter = runtime.Interpreter.from_file(model, arena_size=32768)
    windows = [samples[i:i + WINDOW].reshape(1, -1)
               for i in range(0, samples.size - WINDOW + 1, STRIDE)]

    def run() -> np.ndarray:
        interpreter.reset()
        out = []
        for window in windows:
            interpreter.set_input(window, 0)
            interpreter.invoke()
            out.append(np.array(interpreter.get_output(0)))
        return np.stack(out)
    return run


def streaming_runner(samples: np.ndarray):
    frontend, chunks = MicroSpeechFrontend(), samples.reshape(-1, STRIDE)

    def run() -> np.ndarray:
        frontend.reset()
        results = [frontend.process(chunk) for chunk in chunks]
        return np.stack(results[1:])
    return run


def timings_ms(run, repeats: int) -> list[float]:
    run()  # warm up: caches, first allocations
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1e3)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    samples, source = load_audio()
    seconds = samples.size / 16000
    runners = {"tflm_edu batch": lambda: micro_speech_features(samples),
               "tflm_edu streaming": streaming_runner(samples)}
    tflm = tflm_runner(samples)
    if tflm is not None:
        runners["TFLM (tflite-micro)"] = tflm
        same = all(np.array_equal(r(), tflm()) for r in list(runners.values())[:2])
        print(f"features byte-identical to TFLM: {same}")
    print(f"audio: {source}, {seconds:.2f} s; {args.repeats} repeats; ms per second of audio")
    results = {name: timings_ms(run, args.repeats) for name, run in runners.items()}
    reference = min(results["TFLM (tflite-micro)"]) if tflm is not None else None
    print(f"{'':22}{'best':>9}{'median':>9}  ratio to TFLM (best)")
    for name, times in results.items():
        best, median = min(times) / seconds, statistics.median(times) / seconds
        ratio = f"{min(times) / reference:6.2f}x" if reference else "   n/a (TFLM not available)"
        print(f"{name:22}{best:9.3f}{median:9.3f}  {ratio}")


if __name__ == "__main__":
    main()
