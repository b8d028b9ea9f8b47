"""Interpreter: the interface of tflite_micro's Python runtime, on tflm_edu's interpreter.

The real TFLM ships a Python wrapper (tflite_micro.python.tflite_micro.runtime.Interpreter)
with from_file / from_bytes / set_input / invoke / get_output / get_input_details /
get_output_details / reset. This class has the same methods, argument order and detail
dict keys, so a notebook cell runs unchanged on either - swap the import and compare.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tflm_edu.errors import InputError, ModelError, check_input
from tflm_edu.interpreter import MicroInterpreter
from tflm_edu.op_resolver import AllOpsResolver
from tflm_edu.schema import as_model


class Interpreter:
    """tflite_micro-compatible facade over MicroInterpreter (all ops registered).

    arena_size=None sizes the arena from the memory plan. kernels="reference" runs TFLM's
    reference loops (tflm_edu.kernels.reference) where they exist instead of the
    optimized numpy kernels; the bytes are the same, only slower."""

    def __init__(self, model_data: bytes, arena_size: int | None = None, planner: str = "greedy",
                 kernels: str = "optimized"):
        if model_data is None:
            raise ValueError("Model must not be None")
        self.model = as_model(model_data)     # .tflite bytes (also a Model or a path)
        self.micro = MicroInterpreter(self.model, AllOpsResolver(kernels), arena_size,
                                      planner=planner)
        self.micro.allocate_tensors()

    @classmethod
    def from_file(cls, model_path, arena_size: int | None = None, **kwargs) -> "Interpreter":
        path = Path(model_path)
        if not path.is_file():
            raise FileNotFoundError(f"model file not found: {path}")
        return cls(path.read_bytes(), arena_size, **kwargs)

    @classmethod
    def from_bytes(cls, model_data, arena_size: int | None = None, **kwargs) -> "Interpreter":
        return cls(bytes(model_data), arena_size, **kwargs)

    # -- running ---------------------------------------------------------------------

    def set_input(self, input_data, index: int) -> None:
        """Copy `input_data` into input `index`; its shape and dtype must match exactly."""
        if input_data is None:
            raise ValueError("Input data must not be None")
        tensor = self.micro.input(_check_index(index, self.micro.inputs_size, "input"))
        tensor.data[...] = check_input(input_data, tensor.dtype, tensor.shape, f"input {index}")

    def invoke(self) -> None:
        self.micro.invoke()

    def reset(self) -> None:
        self.micro.reset()

    def get_output(self, index: int) -> np.ndarray:
        """A copy of output `index` (the arena is reused by the next invoke)."""
        return self.micro.output(_check_index(index, self.micro.outputs_size, "output")).data.copy()

    def get_input_details(self, index: int) -> dict:
        return _details(self.micro.input(_check_index(index, self.micro.inputs_size, "input")))

    def get_output_details(self, index: int) -> dict:
        return _details(self.micro.output(_check_index(index, self.micro.outputs_size, "output")))

    # -- tflm_edu extras -------------------------------------------------------------

    def steps(self):
        return self.micro.steps()

    def arena_used_bytes(self) -> int:
        return self.micro.arena_used_bytes()

    def print_memory_plan(self) -> None:
        self.micro.print_memory_plan()

    def __repr__(self):
        return f"Interpreter({self.micro!r})"


def _check_index(index, count, kind) -> int:
    if not isinstance(index, (int, np.integer)) or index < 0:
        raise ValueError("Index must be a non-negative integer")
    if index >= count:
        raise InputError(f"the model has {count} {kind}(s); {kind} {index} does not exist")
    return int(index)


def _details(tensor) -> dict:
    """The detail dict of tflite_micro: dtype, shape, quantization_parameters."""
    quant = tensor.quantization
    return {
        "dtype": tensor.dtype.type,
        "shape": np.array(tensor.shape, dtype=np.int32),
        "quantization_parameters": {
            "scales": quant.scale.copy() if quant else np.array([], np.float32),
            "zero_points": quant.zero_point.copy() if quant else np.array([], np.int32),
            "quantized_dimension": quant.quantized_dimension if quant else 0,
        },
    }


__all__ = ["Interpreter", "ModelError", "InputError"]
