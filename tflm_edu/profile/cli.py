"""`tflm-edu profile`: predicted instructions per op on a Cortex-M core, and time per board."""
from __future__ import annotations

import json

from tflm_edu.profile.cost_model import CPI, KERNELS, TARGETS


def boards_for(target: str) -> list:
    """The real boards (not emulated, not the host) whose core is `target`."""
    from tflm_edu.boards import BOARDS
    return [b for b in BOARDS.values() if b.cpu == target and b.clock_hz and not b.emulator]


def estimate_lines(profile) -> list:
    lines = [f"predicted: {profile.total:,.0f} instructions per invoke on {profile.target} "
             f"with {profile.kernels} kernels"]
    for board in boards_for(profile.target):
        lines.append(f"  {board.name} @ {board.clock_hz / 1e6:g} MHz: about "
                     f"{profile.milliseconds(board.clock_hz):.2f} ms "
                     f"(at least {profile.milliseconds(board.clock_hz, 1.0):.2f} ms)")
    lines.append(f"Time is an estimate: instructions x {CPI[profile.target]} cycles per "
                 f"instruction / clock. The instructions are fitted to what TFLM executes on "
                 f"the emulated core; QEMU counts instructions, not cycles, so the CPI is "
                 f"assumed (tflm_edu/profile/cost_model.py says why); 'at least' is 1 cycle "
                 f"each. Measure on the emulated board with `tflm-edu deploy MODEL --board "
                 f"qemu-{profile.target}`.")
    return lines


def run_profile(args) -> int:
    from tflm_edu.profile.cost_model import CostModel
    inputs = [_load_input(path) for path in args.input] or None
    profile = CostModel.load(args.target, args.kernels).predict(args.model, inputs)
    if args.json:
        payload = profile.to_dict()
        payload["boards"] = [{"board": b.name, "clock_hz": b.clock_hz,
                              "milliseconds": round(profile.milliseconds(b.clock_hz), 4),
                              "milliseconds_at_cpi_1": round(
                                  profile.milliseconds(b.clock_hz, 1.0), 4)}
                             for b in boards_for(profile.target)]
        print(json.dumps(payload, indent=2))
        return 0
    print(profile.table())
    print()
    print("\n".join(estimate_lines(profile)))
    unfitted = [op for op in profile.ops if not op.fitted]
    if unfitted:
        print(f"{len(unfitted)} op(s) have no fitted formula ({', '.join(sorted({o.key for o in unfitted}))}): "
              f"their figure is a rough guess from ops of the same type")
    return 0


def _load_input(path: str):
    import numpy as np
    from tflm_edu.errors import InputError
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read --input {path}: {e} (save one with numpy.save)") from e


def add_commands(subparsers) -> None:
    p = subparsers.add_parser(
        "profile", help="predict each op's instructions on a Cortex-M core (reference or "
                        "CMSIS-NN kernels) and the time per invoke on each board")
    p.add_argument("model", help="a .tflite file")
    p.add_argument("--target", choices=TARGETS, default="cortex-m4",
                   help="the core (default: cortex-m4)")
    p.add_argument("--kernels", choices=KERNELS, default="reference",
                   help="TFLM's kernel family (default: reference)")
    p.add_argument("--input", action="append", default=[], metavar="FILE.npy",
                   help="a value for the model's input (repeat for each input, in order): "
                        "ops whose work depends on the values (int8 SOFTMAX, DEQUANTIZE, IF, "
                        "WHILE, ...) are counted on it; default: the pseudo-random inputs the "
                        "profiling firmware feeds the board")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(func=run_profile)
