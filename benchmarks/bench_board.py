"""TFLM's C++ on emulated Cortex-M cores, beside tflm_edu: byte equality, instructions per
invoke (reference kernels vs CMSIS-NN, M4 vs M7), and the smallest arena the board's 32-bit TFLM
accepts (bisected on the board) beside tflm_edu's Cortex-M estimate.

Byte equality is counted twice: against tflm_edu with the board's target (Interpreter(model,
target="cortex-m4f" or "cortex-m7"): the board's float arithmetic, newlib's expf ...) and
against tflm_edu on the host (glibc's), where float models that call expf may differ.

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
TARGETS = {"qemu-cortex-m4": "cortex-m4f", "qemu-cortex-m7": "cortex-m7"}


def measure(model: bytes, board: str, kernels: str, n: int, folder: Path) -> dict:
    from tflm_edu.deploy import EmulatedBoard, generate_project
    from tflm_edu.deploy.verify import random_inputs
    from tflm_edu.runtime import Interpreter
    project = generate_project(model, board, folder / f"{board}-{kernels}", kernels=kernels)
    firmware = project.compile(tflm_src=TFLM, progress=False)
    ours = {"target": Interpreter.from_bytes(model, target=TARGETS[board]),
            "host": Interpreter.from_bytes(model)}
    equal = dict.fromkeys(ours, 0)
    with EmulatedBoard(firmware) as running:
        with running.open(expected_model=model, timeout=120) as device:
            counts = []
            for x in random_inputs(device.info(), n):
                y, _ = device.invoke(x)
                counts.append(device.last.counter)
                for name, interpreter in ours.items():
                    shape = interpreter.get_input_details(0)["shape"]
                    interpreter.set_input(np.asarray(x).reshape(shape), 0)
                    interpreter.invoke()
                    equal[name] += y.tobytes() == interpreter.get_output(0).tobytes()
            return {"target": TARGETS[board], "equal": f"{equal['target']}/{n}",
                    "equal_host": f"{equal['host']}/{n}",
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
    print(f"{'model':<24} {'board':<15} {'kernels':<10} {'= target':>15} {'= host':>7} "
          f"{'instructions':>13} {'arena (board)':>13} {'estimate':>9} {'flash':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            model = (MODELS / f"{name}.tflite").read_bytes()
            estimate = estimate_arena_size(model, "cortex-m").arena_bytes
            for board, kernels in CONFIGS:
                m = measure(model, board, kernels, args.n, Path(tmp) / name)
                equal = f"{m['equal']} {m['target']}"
                print(f"{name:<24} {board:<15} {kernels:<10} {equal:>15} {m['equal_host']:>7} "
                      f"{m['instructions']:>13,} {m['arena']:>13,} {estimate:>9,} "
                      f"{m['flash']:>9,}", flush=True)
    print("= target: outputs byte-equal to tflm_edu's Interpreter(model, target=...) for the "
          "board; = host: to tflm_edu on this PC (glibc's expf: float models may differ); "
          "instructions: median per invoke, counted by QEMU (-icount); arena (board): the "
          "smallest arena the board's TFLM accepts, bisected on the board; estimate: tflm-edu "
          "arena-size --target cortex-m (reference kernels); flash: the firmware's bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
