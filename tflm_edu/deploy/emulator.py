"""Boards that run here: the compiled firmware in QEMU on an emulated Cortex-M (its UART on a
pty), or built for this computer (HostBoard, on a pty of its own).

    with EmulatedBoard(firmware) as emulated:           # a Firmware from Project.compile()
        with emulated.open(expected_model=model_bytes) as board:
            output, latency_us = board.invoke(x)          # TFLM's C++ on a Cortex-M core
            print(board.profile().table())                # instructions per op

or in one step, from a model to a running board:

    with emulate(model_bytes, "qemu-cortex-m4", kernels="cmsis_nn") as emulated: ...

QEMU runs Arm's MPS2 FPGA boards (mps2-an386: Cortex-M4F, mps2-an500: Cortex-M7) with
`-icount shift=0`, so one instruction is one nanosecond of virtual time and the board's timer
counts instructions, the same every run. Its first UART is a pseudo-terminal that pyserial
opens exactly like a board's USB serial port. QEMU is stopped when the board is closed, when
Python exits, and - on Linux - when the Python process dies (PR_SET_PDEATHSIG): an emulated
board never outlives the notebook that started it.
"""
from __future__ import annotations

import atexit
import re
import signal
import subprocess
import sys
import threading
import weakref
from pathlib import Path

from tflm_edu.deploy.errors import DeployError
from tflm_edu.deploy.toolchain import require

PTY_LINE = re.compile(r"char device redirected to (/dev/\S+)")
_RUNNING: "weakref.WeakSet[BoardProcess]" = weakref.WeakSet()


def _die_with_parent():
    """In QEMU's process, before exec: get SIGTERM when the parent (Python) dies."""
    if sys.platform.startswith("linux"):
        import ctypes
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)     # PR_SET_PDEATHSIG


class BoardProcess:
    """A firmware running in a process of this machine that names its pty on its output."""
    pty_line = re.compile(r"(/dev/\S+)")

    def __init__(self, firmware, boot_timeout: float = 10.0):
        self.firmware = firmware
        self.elf = Path(getattr(firmware, "elf", firmware))
        self.boot_timeout = boot_timeout
        self.path: str | None = None
        self.process: subprocess.Popen | None = None
        self.output: list[str] = []              # what the process printed

    def command(self) -> list:
        raise NotImplementedError

    def start(self) -> str:
        """Start the process; returns the pty path once it has made it."""
        if self.process is not None:
            return self.path
        if not self.elf.is_file():
            raise DeployError(f"firmware {self.elf} does not exist: compile it first")
        self.process = subprocess.Popen(self.command(), stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        text=True, preexec_fn=_die_with_parent)
        _RUNNING.add(self)
        found = threading.Event()
        threading.Thread(target=self._read_output, args=(found,), daemon=True).start()
        if not found.wait(self.boot_timeout) or self.path is None:
            output = "".join(self.output)[-500:]
            self.stop()
            raise DeployError(f"{self} did not start: {output or 'no output'}")
        return self.path

    def _read_output(self, found: threading.Event):
        try:
            for line in self.process.stdout:
                self.output.append(line)
                match = self.pty_line.search(line)
                if match and self.path is None:
                    self.path = match.group(1)
                    found.set()
        except ValueError:                       # stop() closed the pipe while we read it
            pass
        found.set()                              # the process exited

    def open(self, expected_model=None, timeout: float = 30.0, retries: int = 2):
        """A tflm_edu.deploy.Board on this board's serial line (HELLO said, INFO checked)."""
        from tflm_edu.deploy.client import Board
        return Board.open(self.start(), expected_model=expected_model, timeout=timeout,
                          retries=retries)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """Stop the process (terminate, then kill); safe to call twice."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()
        _RUNNING.discard(self)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def __del__(self):
        try:
            self.stop()
        except Exception:
            pass


class EmulatedBoard(BoardProcess):
    """qemu-system-arm running one firmware; `path` is the pty of its UART0."""
    pty_line = PTY_LINE

    def __init__(self, firmware, machine: str | None = None, boot_timeout: float = 10.0):
        super().__init__(firmware, boot_timeout)
        board = getattr(firmware, "board", None)
        self.machine = machine or (board.board.emulator if board is not None else "")
        if not self.machine:
            raise DeployError(f"{self.elf} is not firmware for an emulated board: pass "
                              f"machine='mps2-an386' or 'mps2-an500'")

    def command(self) -> list:
        return [require("qemu-system-arm"), "-machine", self.machine, "-nographic",
                "-monitor", "none", "-serial", "pty", "-serial", "null",
                "-icount", "shift=0", "-kernel", str(self.elf)]

    def __repr__(self):
        state = f"running, UART0 at {self.path}" if self.running else "stopped"
        return f"EmulatedBoard({self.machine}, {self.elf.name}, {state})"


class HostBoard(BoardProcess):
    """The firmware built for this computer (board `host`): it prints its pty's path."""

    def command(self) -> list:
        return [str(self.elf)]

    def __repr__(self):
        state = f"running at {self.path}" if self.running else "stopped"
        return f"HostBoard({self.elf}, {state})"


@atexit.register
def _stop_all():
    for board in list(_RUNNING):
        board.stop()


def emulate(model, board: str = "qemu-cortex-m4", kernels: str = "reference", out_dir=None,
            tflm_src=None, stock_float: bool = False, progress: bool = True) -> EmulatedBoard:
    """Generate the firmware for `model`, compile it against TFLM (built once, cached) and
    return the EmulatedBoard, not yet started (use it in a `with`)."""
    import tempfile

    from tflm_edu.deploy.firmware import generate_project
    if out_dir is None:
        out_dir = Path(tempfile.mkdtemp(prefix=f"tflm_edu_{board}_"))
    project = generate_project(model, board, out_dir, kernels=kernels)
    if project.board.compile_kind != "emulated":
        raise DeployError(f"{board} is not an emulated board; emulated boards: "
                          f"qemu-cortex-m4, qemu-cortex-m7")
    firmware = project.compile(tflm_src=tflm_src, stock_float=stock_float, progress=progress)
    emulated = EmulatedBoard(firmware)
    emulated.project = project
    return emulated
