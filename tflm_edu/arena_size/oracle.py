"""Ask the real TFLM: the smallest arena with which the tflite-micro package allocates and
invokes a model, found by bisection (the way TFLM's documentation says to find it).

Needs the tflite-micro package (`pip install --pre tflite-micro`). The package's
interpreter is created with an arena of the size asked for; AllocateTensors() runs in the
constructor and raises when the arena is too small. TFLM prints why to the C stderr - the
probes below silence it, since most of them fail on purpose.

Some arenas that are too small do not raise but crash: a kernel's Prepare writes through
the null pointer a failed AllocatePersistentBuffer returned (FULLY_CONNECTED's per-channel
arrays, for one). So each probe runs in a forked child process, and a child that dies
counts as "does not fit".
"""
from __future__ import annotations

import contextlib
import faulthandler
import io
import os
import re

import numpy as np


def tflm_runtime():
    """The tflite-micro runtime module, or None when the package is not installed."""
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        return None
    return runtime


def _model_bytes(model) -> bytes:
    from tflm_edu.schema import as_bytes
    return as_bytes(model)


@contextlib.contextmanager
def quiet_c_output():
    """Redirect the C-level stdout and stderr (file descriptors 1 and 2) to /dev/null."""
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved + [devnull]:
            os.close(fd)


def tflm_accepts(model_bytes: bytes, arena_size: int, runtime=None) -> bool:
    """True when TFLM allocates the model in `arena_size` bytes and one invoke succeeds."""
    runtime = runtime or tflm_runtime()
    if not hasattr(os, "fork"):
        return _allocate_and_invoke(model_bytes, arena_size, runtime)
    inputs = _zero_inputs(model_bytes)
    pid = os.fork()
    if pid == 0:  # the child: report by exit status, never return into the caller
        ok = False
        faulthandler.disable()  # a crash here is an answer, not a bug to report
        try:
            ok = _allocate_and_invoke(model_bytes, arena_size, runtime, inputs)
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def _allocate_and_invoke(model_bytes, arena_size, runtime, inputs=None) -> bool:
    inputs = _zero_inputs(model_bytes) if inputs is None else inputs
    with quiet_c_output():
        try:
            interpreter = runtime.Interpreter.from_bytes(model_bytes, arena_size=arena_size)
            for i, x in enumerate(inputs):
                interpreter.set_input(x, i)
            interpreter.invoke()
        except Exception:  # TFLM reports every failure as RuntimeError/ValueError
            return False
    return True


def _zero_inputs(model_bytes) -> list:
    from tflm_edu.schema import read_model
    subgraph = read_model(model_bytes).subgraphs[0]
    return [np.zeros(subgraph.tensors[i].shape, subgraph.tensors[i].dtype)
            for i in subgraph.inputs]


def smallest_arena_tflm(model, high: int | None = None, runtime=None) -> int:
    """Bisect the arena size the real TFLM needs (about 17-20 probes)."""
    runtime = runtime or tflm_runtime()
    if runtime is None:
        raise ImportError("the real TFLM is not installed: pip install --pre tflite-micro")
    from tflm_edu.memory.allocator import smallest_passing
    data = _model_bytes(model)
    try:
        return smallest_passing(lambda size: tflm_accepts(data, size, runtime),
                                high or 1 << 16, limit=1 << 31)
    except ValueError:
        raise RuntimeError("TFLM does not accept this model with any arena up to 2 GiB") \
            from None


def tflm_allocations(model, arena_size: int, runtime=None) -> dict:
    """RecordingMicroAllocator's report (print_allocations) as a dict of used bytes:
    {"total": .., "head": .., "tail": .., "<category>": ..}."""
    runtime = runtime or tflm_runtime()
    data = _model_bytes(model)
    interpreter = runtime.Interpreter.from_bytes(data, arena_size=arena_size)
    text = _captured_c_output(interpreter.print_allocations)
    report = {}
    for line in text.splitlines():
        m = re.search(r"Arena allocation (\w+) (\d+) bytes", line)
        if m:
            report[m.group(1)] = int(m.group(2))
        m = re.search(r"'(.+)' used (\d+) bytes", line)
        if m:
            report[m.group(1)] = int(m.group(2))
    return report


def _captured_c_output(function) -> str:
    """Run `function` and return what it printed to the C-level stdout/stderr."""
    import tempfile
    with tempfile.TemporaryFile(mode="w+b") as sink:
        saved = [os.dup(1), os.dup(2)]
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            with contextlib.redirect_stdout(io.StringIO()):
                function()
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
        sink.seek(0)
        return sink.read().decode(errors="replace")
