"""TFLM's C++ on emulated Cortex-M cores, beside tflm_edu: byte equality, instructions per
invoke (reference kernels vs CMSIS-NN, M4 vs M7), and the smallest arena the board's 32-bit TFLM
accepts (bisected on the board) beside tflm_edu's Cortex-M estimate.

    python benchmarks/bench_board.py [--models person_detect,...] [-n 5]

Needs ../shared/reference (the models), ../shared/tflm (TFLM's sources), arm-none-eabi-g++ and
qemu-system-arm. Instructions are counted by QEMU (-icount shift=0), so they are the same on
every run and every machine; the TFLM libraries are built once and cached.
"""
import argparse
import datetime
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT.parent / "shared" / "reference" / "models"
TFLM = ROOT.parent / "shared" / "tflm"
CONFIGS = [("qemu-cortex-m4", "reference"), ("qemu-cortex-m4", "cmsis_nn"),
           ("qemu-cortex-m7", "reference")]


def measure(model: bytes, board: str, kernels: str, n: int, folder: Path) -> dict:
    from tflm_edu.deploy import EmulatedBoard, generate_project, verify
    project = generate_project(model, board, folder / f"{board}-{kernels}", kernels=kernels)
    firmware = project.compile(tflm_src=TFLM, progress=False)
    with EmulatedBoard(firmware) as running:
        with running.open(expected_model=model, timeout=120) as device:
            report = verify(device, model, n=n, progress=False)
            counts = [device.last.counter]
            return {"equal": f"{sum(s.equal for s in report.samples)}/{n}",
                    "instructions": int(np.median(counts)),
                    "arena": device.smallest_arena(), "flash": firmware.flash_bytes}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="hello_world_int8,hello_world_float,"
                        "micro_speech_quantized,magic_wand,person_detect")
    parser.add_argument("-n", type=int, default=5, help="random inputs per model and board")
    args = parser.parse_args(argv)
    if not MODELS.is_dir() or not TFLM.is_dir():
        print(f"needs {MODELS} and {TFLM}", file=sys.stderr)
        return 2
    from tflm_edu.arena_size import estimate_arena_size
    print(f"# {datetime.date.today()}, {platform.machine()}; byte-equal: outputs equal to "
          f"tflm_edu on {args.n} random inputs")
    print(f"{'model':<24} {'board':<15} {'kernels':<10} {'byte-equal':>10} {'instructions':>13} "
          f"{'arena (board)':>13} {'estimate':>9} {'flash':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            model = (MODELS / f"{name}.tflite").read_bytes()
            estimate = estimate_arena_size(model, "cortex-m").arena_bytes
            for board, kernels in CONFIGS:
                m = measure(model, board, kernels, args.n, Path(tmp) / name)
                print(f"{name:<24} {board:<15} {kernels:<10} {m['equal']:>10} "
                      f"{m['instructions']:>13,} {m['arena']:>13,} {estimate:>9,} "
                      f"{m['flash']:>9,}", flush=True)
    print("instructions: one invoke, counted by QEMU (-icount); arena (board): the smallest "
          "arena the board's TFLM accepts, bisected on the board; estimate: tflm-edu "
          "arena-size --target cortex-m (reference kernels); flash: the firmware's bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
