"""Run one model through tflm_edu and the real TFLM, and demand identical bytes.

The tinygrad-style helpers every per-op test uses: most cases are one line that builds a
small model (tests/models.py) and calls check_model() with seeded random inputs, which
compares tflm_edu with the real TFLM, or check_families(), which compares tflm_edu's two
kernel families (and, when asked, the real TFLM). Only the comparisons with the real TFLM
skip where tflite-micro is not installed (never in CI).
"""
from __future__ import annotations

import numpy as np
import pytest

from tflm_edu.interpreter import MicroInterpreter
from tflm_edu.op_resolver import REFERENCE_OPS, AllOpsResolver
from tflm_edu.schema import read_model, write_model
from tflm_edu.schema.enums import BuiltinOperator as Op


def oracle_runtime():
    return pytest.importorskip("tflite_micro.python.tflite_micro.runtime",
                               reason="the oracle tflite-micro is not installed "
                                      "(pip install --pre tflite-micro)")


def random_input(rng, shape, dtype):
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype) * 2
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)


def run_tflm_edu(model_bytes, inputs, kernels="optimized", ran=None):
    """tflm_edu's outputs; `ran`, a dict if given, receives op name -> the kernel family
    that ran it."""
    interpreter = MicroInterpreter(read_model(model_bytes), AllOpsResolver(kernels), None)
    interpreter.allocate_tensors()
    for i, x in enumerate(inputs):
        interpreter.input(i).data[...] = x
    interpreter.invoke()
    if ran is not None:
        ran.update({r.name: r.kernels for r in interpreter.registrations})
    return [interpreter.output(i).data.copy() for i in range(interpreter.outputs_size)]


def run_oracle(model_bytes, inputs, arena_size=2_000_000):
    interpreter = oracle_runtime().Interpreter.from_bytes(model_bytes, arena_size=arena_size)
    for i, x in enumerate(inputs):
        interpreter.set_input(x, i)
    interpreter.invoke()
    outputs, i = [], 0
    while True:
        try:
            outputs.append(np.array(interpreter.get_output(i)))
        except Exception:  # the oracle raises past its last output
            return outputs
        i += 1


def check_model(model, seed=0, inputs=None, ulps=0):
    """Run `model` (a Model) through both runtimes; assert byte-equal outputs.
    `ulps` > 0 allows float outputs that many units in the last place apart (only for
    kernels where TFLM calls libm)."""
    model_bytes = write_model(model)
    if inputs is None:
        rng = np.random.default_rng(seed)
        sg = model.subgraphs[0]
        inputs = [random_input(rng, sg.tensors[i].shape, sg.tensors[i].dtype) for i in sg.inputs]
    ours = run_tflm_edu(model_bytes, inputs)
    theirs = run_oracle(model_bytes, inputs)
    assert len(ours) == len(theirs)
    for k, (a, b) in enumerate(zip(ours, theirs)):
        b = b.reshape(a.shape).astype(a.dtype)
        if ulps and a.dtype.kind == "f":
            diff = np.abs(a.view(np.int32).astype(np.int64) - b.view(np.int32).astype(np.int64))
            assert diff.max(initial=0) <= ulps, f"output {k}: {diff.max()} ulps apart"
        else:
            mismatch = np.flatnonzero(a.reshape(-1).view(np.uint8) != b.reshape(-1).view(np.uint8))
            assert mismatch.size == 0, (
                f"output {k}: {mismatch.size} differing bytes; first at byte {mismatch[0]}: "
                f"tflm_edu {a.reshape(-1)[:8]} vs TFLM {b.reshape(-1)[:8]}")
    return ours


def check_families(model, seed=0, inputs=None, oracle=False):
    """Run `model` (a Model, or .tflite bytes) with both kernel families (and the real TFLM
    when `oracle`); assert byte-equal outputs and that every op with a reference eval
    really ran it."""
    model_bytes = model if isinstance(model, bytes) else write_model(model)
    if inputs is None:
        rng, sg = np.random.default_rng(seed), read_model(model_bytes).subgraphs[0]
        inputs = [random_input(rng, sg.tensors[i].shape, sg.tensors[i].dtype) for i in sg.inputs]
    optimized = run_tflm_edu(model_bytes, inputs, "optimized")
    ran = {}
    ours = run_tflm_edu(model_bytes, inputs, "reference", ran)
    assert all(family == "reference" for op, family in ran.items()
               if Op[op] in REFERENCE_OPS), ran
    expected = [optimized] + ([run_oracle(model_bytes, inputs)] if oracle else [])
    for theirs in expected:
        for k, (a, b) in enumerate(zip(ours, theirs)):
            a, b = a.reshape(-1).view(np.uint8), b.reshape(-1).astype(a.dtype).view(np.uint8)
            mismatch = np.flatnonzero(a != b)
            assert mismatch.size == 0, f"output {k}: {mismatch.size} bytes differ"
