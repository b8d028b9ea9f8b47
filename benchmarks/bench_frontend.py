"""Speed of the numpy micro_speech frontend beside the real TFLM audio preprocessor.

For the same 1 s of audio (yes_1000ms.wav from ../shared/reference, or seeded noise when
that folder is absent) it times, in one run:

  TFLM                interpreter.reset(), then 49 x (set_input, invoke, get_output) on
                      audio_preprocessor_int8.tflite (the tflite-micro package)
  streaming           MicroSpeechFrontend.process() on 50 chunks of 20 ms (49 frames)
  batch               micro_speech_features(samples): all 49 windows at once
  ... (stage modules) the same two with fast=False: the readable mirror of TFLM's C code

The runs are interleaved (one of each per repeat, in rotating order) so that load on the
shared machine hits all of them alike: TFLM with the two fast paths, then TFLM with the
two stage-module paths (which allocate heavily and would evict the others' caches). For
each it prints the median and the spread (10th-90th percentile) of wall time
(time.perf_counter) and CPU time (time.process_time), per 20 ms frame for streaming and
per second of audio for batch, each beside TFLM's figure from the same group in the same
unit, the ratio of the medians and (in brackets) the ratio of the 10th percentiles, which
other work on a shared machine disturbs least. It first checks that every path's features
are byte-identical to TFLM's.

    python benchmarks/bench_frontend.py [--repeats 40]
"""
from __future__ import annotations

import argparse
import contextlib
import io
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


def streaming_runner(samples: np.ndarray, fast: bool = True):
    frontend, chunks = MicroSpeechFrontend(fast=fast), samples.reshape(-1, STRIDE)

    def run() -> np.ndarray:
        frontend.reset()
        results = [frontend.process(chunk) for chunk in chunks]
        return np.stack(results[1:])
    return run


def batch_runner(samples: np.ndarray, fast: bool = True):
    if fast:
        return lambda: micro_speech_features(samples)
    return lambda: MicroSpeechFrontend(fast=False).process_windows(
        np.stack([samples[i:i + WINDOW] for i in range(0, samples.size - WINDOW + 1, STRIDE)]))


def interleaved_timings(runners: dict, repeats: int) -> dict[str, dict[str, np.ndarray]]:
    """Wall and CPU seconds of each runner, `repeats` times, one of each per round."""
    for run in runners.values():
        run()  # warm up: caches, first allocations, the fast path's plan
    names = list(runners)
    times = {name: {"wall": [], "cpu": []} for name in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            wall, cpu = time.perf_counter(), time.process_time()
            runners[name]()
            times[name]["cpu"].append(time.process_time() - cpu)
            times[name]["wall"].append(time.perf_counter() - wall)
    return {name: {k: np.array(v) for k, v in t.items()} for name, t in times.items()}


def summary(seconds: np.ndarray, per: float) -> tuple[float, float, str]:
    """Median, 10th percentile and the 10th-90th percentile spread of seconds / per, in
    milliseconds."""
    ms = seconds / per * 1e3
    low, mid, high = np.percentile(ms, [10, 50, 90])
    return mid, low, f"{mid:8.4f} [{low:.4f}-{high:.4f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=40)
    args = parser.parse_args()
    samples, source = load_audio()
    seconds = samples.size / 16000
    frames = 1 + (samples.size - WINDOW) // STRIDE
    runners = {"streaming": streaming_runner(samples), "batch": batch_runner(samples),
               "streaming (stage modules)": streaming_runner(samples, fast=False),
               "batch (stage modules)": batch_runner(samples, fast=False)}
    tflm = tflm_runner(samples)
    if tflm is not None:
        runners["TFLM"] = tflm
        expected = tflm()
        same = {name: np.array_equal(run(), expected) for name, run in runners.items()}
        print("features byte-identical to TFLM: "
              + ", ".join(f"{name} {ok}" for name, ok in same.items() if name != "TFLM"))
    print(f"audio: {source}, {seconds:.2f} s = {frames} frames; {args.repeats} interleaved "
          f"repeats; median [10th-90th percentile]")
    groups = [["TFLM", "streaming", "batch"],
              ["TFLM", "streaming (stage modules)", "batch (stage modules)"]]
    times = [interleaved_timings({name: runners[name] for name in group if name in runners},
                                 args.repeats) for group in groups]
    for clock in ("wall", "cpu"):
        name = "time.perf_counter" if clock == "wall" else "time.process_time"
        print(f"\n{clock} time ({name})")
        for kind, per, unit in (("streaming", frames, "ms per 20 ms frame"),
                                ("batch", seconds, "ms per second of audio")):
            print(f"  {unit}")
            for group, label in zip(times, (kind, f"{kind} (stage modules)")):
                reference = summary(group["TFLM"][clock], per) if tflm is not None else None
                if reference is not None:
                    print(f"    {'TFLM (tflite-micro)':36}{reference[2]}   1.00x")
                median, low, text = summary(group[label][clock], per)
                ratio = (f"{median / reference[0]:6.2f}x ({low / reference[1]:.2f}x)"
                         if reference else "   n/a (no TFLM)")
                print(f"    {'tflm_edu ' + label:36}{text} {ratio}")


if __name__ == "__main__":
    main()
