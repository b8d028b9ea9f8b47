"""Memory planning time for models with thousands of tensors no op touches, tflm_edu beside
the real TFLM (AllocateTensors of the tflite-micro package, in the same run).

    python benchmarks/bench_planner.py [--counts 1000 4000 10000]

tflm_edu's time is allocate_tensors() (init, prepare, plan, commit with the smallest arena);
TFLM's is Interpreter.from_bytes (which allocates) with a generous arena.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from tflm_edu import AllOpsResolver, MicroInterpreter  # noqa: E402
from tflm_edu.schema import write_model  # noqa: E402
from test_planner import unused_tensors_model  # noqa: E402


def seconds(function) -> float:
    start = time.process_time()
    function()
    return time.process_time() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[1000, 4000, 10000])
    args = parser.parse_args(argv)
    from tflite_micro.python.tflite_micro import runtime
    print(f"# {time.strftime('%Y-%m-%d')}: CPU seconds to allocate a model with N unused tensors")
    print("| unused tensors | tflm_edu allocate_tensors | real TFLM AllocateTensors |")
    print("|---|---|---|")
    for count in args.counts:
        model = unused_tensors_model(count)
        data = write_model(model)

        def ours():
            MicroInterpreter(model, AllOpsResolver(), None).allocate_tensors()

        def theirs():
            with contextlib.redirect_stdout(io.StringIO()):
                runtime.Interpreter.from_bytes(data, arena_size=64 << 20)
        print(f"| {count:,} | {seconds(ours):.3f} s | {seconds(theirs):.3f} s |")


if __name__ == "__main__":
    main()
