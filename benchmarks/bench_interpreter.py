"""Invoke time of tflm_edu beside the real TFLM (tflite-micro), per reference model, in one run.

    python benchmarks/bench_interpreter.py [--runs 50]

Both interpreters get the same input; the best and median of --runs invokes are printed,
with the ratio tflm_edu / TFLM (target for person_detect: at most 2x). Set
OPENBLAS_NUM_THREADS=1 on a busy machine: the products here are small, and a second BLAS
thread waiting for a core only adds noise.
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

from tflm_edu import Interpreter

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "models"
MODELS = ["hello_world_int8", "hello_world_float", "micro_speech_quantized", "magic_wand",
          "person_detect"]


def timings(interpreter, x, runs):
    interpreter.set_input(x, 0)
    interpreter.invoke()  # warm up
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        interpreter.invoke()
        samples.append(time.perf_counter() - start)
    return min(samples), float(np.median(samples))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args(argv)
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        sys.exit("bench_interpreter: needs the real TFLM: pip install --pre tflite-micro")
    if not REFERENCE.is_dir():
        sys.exit(f"bench_interpreter: reference models not found at {REFERENCE}")
    print(f"{'model':<24} {'tflm_edu best/median ms':>24} {'TFLM best/median ms':>22} "
          f"{'ratio (median)':>15}")
    for name in MODELS:
        path = REFERENCE / f"{name}.tflite"
        ours = Interpreter.from_file(path)
        theirs = runtime.Interpreter.from_file(str(path), arena_size=200_000)
        details = ours.get_input_details(0)
        rng = np.random.default_rng(0)
        x = (rng.integers(-128, 128, details["shape"]).astype(details["dtype"])
             if details["dtype"] != np.float32 else
             rng.standard_normal(details["shape"]).astype(np.float32))
        a_best, a_med = timings(ours, x, args.runs)
        b_best, b_med = timings(theirs, x, args.runs)
        print(f"{name:<24} {a_best * 1e3:>11.3f} / {a_med * 1e3:<10.3f} "
              f"{b_best * 1e3:>9.3f} / {b_med * 1e3:<10.3f} {a_med / b_med:>10.2f}x")


if __name__ == "__main__":
    main()
