"""From a model to its answers on a board, in one call - what the example notebooks end on.

    run = run_on_board(model_bytes, inputs)          # the emulated Cortex-M4 by default
    print(run.summary())       # which board ran, byte equality, instructions, arena
    print(run.report.table())  # one row per input
    run.plot_profile()         # each op: instructions on the board beside time on the PC

It generates the firmware, compiles it against TFLM (built once, cached), starts QEMU,
verifies the inputs byte for byte against tflm_edu, reads the per-op profile and bisects
the smallest arena the board's TFLM accepts. Where the toolchain, QEMU or TFLM's sources are
missing it falls back to the Python VirtualBoard - the protocol and the checks are the same,
but the arithmetic is tflm_edu's, not TFLM's C++ - and says so (`run.board`, `run.why_not`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tflm_edu.deploy.errors import DeployError


@dataclass
class BoardRun:
    board: str                  # "qemu-cortex-m4", ... or "virtual"
    emulated: bool              # True: TFLM's C++ on an emulated core
    why_not: str                # why the emulated board could not run (fallback only)
    report: object              # VerifyReport
    profile: object | None      # BoardProfile from the board
    host_seconds: list          # tflm_edu's time per op on this PC (the same ops)
    smallest_arena: int | None  # measured on the board (emulated only)
    estimated_arena: int        # tflm_edu.arena_size for the board's target
    firmware: object | None     # the compiled Firmware
    kernels: str = "reference"

    def summary(self) -> str:
        equal = sum(s.equal for s in self.report.samples)
        if self.emulated:
            lines = [f"ran on {self.board}: TFLM's C++ ({self.kernels} kernels) compiled for "
                     f"{self.firmware.board.cpu} and executed in QEMU"]
        else:
            lines = [f"ran on the Python virtual board (tflm_edu's arithmetic behind the same "
                     f"protocol), because: {self.why_not}"]
        lines.append(f"{equal}/{len(self.report.samples)} outputs byte-equal to the host")
        if self.profile is not None:
            lines.append(f"one invoke: {self.profile.total:,} {self.profile.unit} over "
                         f"{len(self.profile.events)} ops")
        if self.smallest_arena is not None:
            lines.append(f"smallest arena the board's TFLM accepts: {self.smallest_arena:,} bytes "
                         f"(tflm_edu's estimate: {self.estimated_arena:,})")
        if self.firmware is not None:
            lines.append(f"firmware: {self.firmware.flash_bytes:,} bytes of flash, "
                         f"{self.firmware.ram_bytes:,} of RAM (arena included)")
        return "\n".join(lines)

    def __repr__(self):
        return f"BoardRun({self.board}, {self.report.summary()})"

    def profile_table(self) -> str:
        """Each op: the board's count beside tflm_edu's time on this PC."""
        if self.profile is None:
            return "no profile"
        rows = [f"{'#':>3}  {'op':<22} {'board (' + self.profile.unit + ')':>22}  "
                f"{'PC (us)':>9}"]
        for i, (event, seconds) in enumerate(zip(self.profile.events, self.host_seconds)):
            rows.append(f"{i:>3}  {event.tag:<22} {event.counter:>22,}  {seconds * 1e6:>9.1f}")
        return "\n".join(rows)

    def plot_profile(self, ax=None):
        """Two bars per op: the share of the invoke on the board, and on this PC."""
        import matplotlib.pyplot as plt
        if self.profile is None:
            raise DeployError("no profile to plot")
        if ax is None:
            _, ax = plt.subplots(figsize=(max(6, 0.3 * len(self.profile.events) + 2), 3.5))
        board = np.array([e.counter for e in self.profile.events], dtype=float)
        host = np.array(self.host_seconds[:len(board)], dtype=float)
        index = np.arange(len(board))
        ax.bar(index - 0.2, 100 * board / board.sum(), 0.4,
               label=f"{self.board} ({self.profile.unit})")
        ax.bar(index + 0.2, 100 * host / max(host.sum(), 1e-12), 0.4,
               label="tflm_edu on this PC (time)")
        ax.set_xticks(index)
        ax.set_xticklabels([e.tag for e in self.profile.events], rotation=90, fontsize=8)
        ax.set_ylabel("share of one invoke (%)")
        ax.set_title(f"where one invoke goes: {self.profile.total:,} {self.profile.unit} on "
                     f"the board")
        ax.legend(fontsize=8)
        ax.figure.tight_layout()
        return ax


def run_on_board(model, inputs=None, n: int = 5, board: str = "qemu-cortex-m4",
                 kernels: str = "reference", arena: bool = True, fallback: bool = True,
                 out_dir=None, progress: bool = True) -> BoardRun:
    """Deploy `model` (bytes, path or Model) to `board` and verify `inputs` (default: n random
    ones); see the module docstring. fallback=False raises instead of using the VirtualBoard."""
    from tflm_edu.arena_size import estimate_arena_size
    from tflm_edu.schema import as_bytes
    data = as_bytes(model)
    estimate = estimate_arena_size(data, "cortex-m").arena_bytes
    try:
        return _emulated(data, inputs, n, board, kernels, arena, out_dir, progress, estimate)
    except DeployError as e:
        if not fallback:
            raise
        return _virtual(data, inputs, n, str(e).split("\n")[0], estimate, progress)


def _emulated(data, inputs, n, board, kernels, arena, out_dir, progress, estimate):
    from tflm_edu.deploy.emulator import emulate
    from tflm_edu.deploy.verify import verify
    emulated = emulate(data, board, kernels=kernels, out_dir=out_dir, progress=progress)
    with emulated:
        with emulated.open(expected_model=data, timeout=120) as device:
            report = verify(device, data, inputs=inputs, n=n, progress=progress)
            profile = device.profile()
            smallest = device.smallest_arena() if arena else None
    return BoardRun(board, True, "", report, profile, _host_seconds(data, inputs),
                    smallest, estimate, emulated.firmware, kernels)


def _virtual(data, inputs, n, why, estimate, progress):
    from tflm_edu.deploy.client import Board
    from tflm_edu.deploy.verify import verify
    from tflm_edu.deploy.virtual_board import VirtualBoard
    with VirtualBoard(data) as virtual:
        with Board.open(virtual.path, expected_model=data, timeout=30) as device:
            report = verify(device, data, inputs=inputs, n=n, progress=progress)
            profile = device.profile()
    return BoardRun("virtual", False, why, report, profile, _host_seconds(data, inputs),
                    None, estimate, None)


def _host_seconds(data, inputs, runs: int = 3) -> list:
    """tflm_edu's time per op on this PC, best of a few runs (one input)."""
    from tflm_edu.runtime import Interpreter
    interpreter = Interpreter.from_bytes(data)
    if inputs is not None and len(inputs):
        x = np.asarray(inputs[0]).reshape(interpreter.get_input_details(0)["shape"])
        interpreter.set_input(x, 0)
    return [row["seconds"] for row in interpreter.micro.profile(runs)]
