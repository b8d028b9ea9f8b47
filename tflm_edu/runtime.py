"""Interpreter: the interface of tflite_micro's Python runtime, on tflm_edu's interpreter.

The real TFLM ships a Python wrapper (tflite_micro.python.tflite_micro.runtime.Interpreter)
with from_file / from_bytes / set_input / invoke / get_output / get_input_details /
get_output_details / reset / print_allocations / GetTensor. This class has the same
methods, argument order (TFLM's misspelt `intrepreter_config` keyword too; the right
spelling works as well), return values and detail dict keys, so a notebook cell runs
unchanged on either - swap the import and compare. docs/runtime_differences.md lists what
still differs.
"""
from __future__ import annotations

import enum
from pathlib import Path

import numpy as np

from tflm_edu.errors import InputError, ModelError, ModelFileNotFound, check_input
from tflm_edu.memory import allocator as rp
from tflm_edu.interpreter import MicroInterpreter
from tflm_edu.op_resolver import AllOpsResolver
from tflm_edu.schema import as_model
from tflm_edu.schema.enums import TensorType


class InterpreterConfig(enum.Enum):
    """As tflite_micro's: record allocations (the default), or keep every tensor (the
    linear planner; GetTensor() then reads any tensor after invoke())."""
    kAllocationRecording = 0
    kPreserveAllTensors = 1


class Interpreter:
    """tflite_micro-compatible facade over MicroInterpreter (all ops registered).

    custom_op_registerers: custom ops written in Python for this interpreter - each a
    Registration (tflm_edu.kernels.kernel_api; its name is the model's custom code), a
    function returning one (like TFLM's Register_XXX()), or an OpSpec with a custom_name.
    arena_size=None sizes the arena from the memory plan. kernels="reference" runs TFLM's
    reference loops (tflm_edu.kernels.reference) where they exist instead of the
    optimized numpy kernels; the bytes are the same, only slower.

    target="cortex-m4f" (or "cortex-m7") answers as TFLM does on that board, built as
    `tflm-edu deploy` builds it: the arena of a 32-bit Cortex-M and the board's float
    arithmetic (newlib's expf, logf, tanhf, expm1f instead of glibc's), so a float model's
    outputs equal the board's byte for byte. The default, "host", answers as tflite_micro
    does on this PC. MicroInterpreter's docstring lists every target."""

    def __init__(self, model_data: bytes, custom_op_registerers=None,
                 arena_size: int | None = None,
                 intrepreter_config=InterpreterConfig.kAllocationRecording,
                 alt_decompression_memory_size: int = 0, *, interpreter_config=None,
                 planner: str | None = None, kernels: str = "optimized", target: str = "host"):
        if model_data is None:
            raise ValueError("Model must not be None")
        config = InterpreterConfig(interpreter_config if interpreter_config is not None
                                   else intrepreter_config)
        self.preserve_all_tensors = config == InterpreterConfig.kPreserveAllTensors
        planner = planner or ("linear" if self.preserve_all_tensors else "greedy")
        self.model = as_model(model_data)     # .tflite bytes (also a Model or a path)
        resolver = AllOpsResolver(kernels)
        for registerer in custom_op_registerers or ():
            _register_custom(resolver, registerer)
        self.micro = MicroInterpreter(self.model, resolver, arena_size, planner=planner,
                                      target=target)
        self.micro.allocate_tensors()

    @classmethod
    def from_file(cls, model_path, custom_op_registerers=None, arena_size: int | None = None,
                  intrepreter_config=InterpreterConfig.kAllocationRecording,
                  alt_decompression_memory_size: int = 0, **kwargs) -> "Interpreter":
        path = Path(model_path)
        if not path.is_file():   # TFLM's runtime: ValueError("Invalid model file path")
            raise ModelFileNotFound(f"Invalid model file path: {path} is not a file")
        data = path.read_bytes()
        return cls(data, custom_op_registerers, arena_size, intrepreter_config,
                   alt_decompression_memory_size, **kwargs)

    @classmethod
    def from_bytes(cls, model_data, custom_op_registerers=None, arena_size: int | None = None,
                   intrepreter_config=InterpreterConfig.kAllocationRecording,
                   alt_decompression_memory_size: int = 0, **kwargs) -> "Interpreter":
        return cls(bytes(model_data), custom_op_registerers, arena_size, intrepreter_config,
                   alt_decompression_memory_size, **kwargs)

    # -- running ---------------------------------------------------------------------

    def set_input(self, input_data, index: int) -> None:
        """Copy `input_data` into input `index`; its shape and dtype must match exactly."""
        if input_data is None:
            raise ValueError("Input data must not be None")
        tensor = self.micro.input(_check_index(index, self.micro.inputs_size, "input"))
        tensor.data[...] = check_input(input_data, tensor.dtype, tensor.shape, f"input {index}")

    def invoke(self) -> int:
        """Run the model; returns TFLM's status, as TFLM's does: 0, or 15 (kTfLiteAbort)
        when an op stopped the graph (CIRCULAR_BUFFER waiting for frames)."""
        return self.micro.invoke()

    def reset(self) -> int:
        """MicroInterpreter::Reset: state back to where the first invoke found it; 0."""
        self.micro.reset()
        return 0

    def get_output(self, index: int) -> np.ndarray:
        """A copy of output `index` (the arena is reused by the next invoke)."""
        tensor = self.micro.output(_check_index(index, self.micro.outputs_size, "output"))
        if tensor.type in (TensorType.RESOURCE, TensorType.STRING, TensorType.VARIANT):
            raise ValueError("TFLM doesn't support strings, resource variables, or variants "
                             "as outputs.")
        return tensor.data.copy()

    def get_input_details(self, index: int) -> dict:
        return _details(self.micro.input(_check_index(index, self.micro.inputs_size, "input")))

    def get_output_details(self, index: int) -> dict:
        return _details(self.micro.output(_check_index(index, self.micro.outputs_size, "output")))

    def GetTensor(self, tensor_index: int, subgraph_index: int = 0) -> dict:  # noqa: N802
        """Any tensor after invoke(), as TFLM's preserve-all-tensors mode gives it:
        {"dtype", "shape", "tensor_data"}."""
        if not self.preserve_all_tensors:
            raise RuntimeError("GetTensor requires all tensors to be preserved: create the "
                               "interpreter with intrepreter_config="
                               "InterpreterConfig.kPreserveAllTensors")
        subgraphs = self.micro.subgraphs
        if not 0 <= subgraph_index < len(subgraphs) or \
                not 0 <= tensor_index < len(subgraphs[subgraph_index].tensors):
            raise IndexError("Tensor is out of bound, please check tensor index.")
        tensor = subgraphs[subgraph_index].tensors[tensor_index]
        return {"dtype": tensor.dtype.type, "shape": np.array(tensor.shape, np.int32),
                "tensor_data": np.array(tensor.data)}

    def print_allocations(self) -> None:
        """RecordingMicroAllocator::PrintAllocations, from tflm_edu's replay of the arena."""
        print(allocations_text(self.micro.arena))

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
        raise IndexError(f"{kind.capitalize()} index {index} out of range (length is {count})")
    return int(index)


def _register_custom(resolver, registerer) -> None:
    """One entry of custom_op_registerers into the resolver."""
    from tflm_edu.kernels.kernel_api import Registration
    from tflm_edu.kernels.op_spec import OpSpec
    if isinstance(registerer, str):
        return   # the name of a C++ registerer (a script written for TFLM): nothing to load
    if isinstance(registerer, OpSpec):
        registerer = registerer.register
    registration = registerer() if callable(registerer) and \
        not isinstance(registerer, Registration) else registerer
    if not isinstance(registration, Registration):
        raise TypeError(f"a custom op registerer must be a Registration, a function returning "
                        f"one or an OpSpec, not {type(registerer).__name__}")
    resolver.add_custom(registration.name, registration)


# RecordingMicroAllocator's categories, in PrintAllocations' order, and how it counts them.
_RECORDED = ((rp.EVAL_TENSORS, "TfLiteEvalTensor data", "allocations"),
             (rp.PERSISTENT_TENSORS, "Persistent TfLiteTensor data", "tensors"),
             (rp.PERSISTENT_QUANTIZATION, "Persistent TfLiteTensor quantization data",
              "allocations"),
             (rp.PERSISTENT_BUFFERS, "Persistent buffer data", "allocations"),
             (rp.VARIABLES, "TfLiteTensor variable buffer data", "allocations"),
             (rp.NODES, "NodeAndRegistration struct", "NodeAndRegistration structs"))


def allocations_text(arena) -> str:
    """The lines TFLM's print_allocations() prints, from an arena replay's log."""
    lines = [f"[RecordingMicroAllocator] Arena allocation total {arena.used_bytes} bytes",
             f"[RecordingMicroAllocator] Arena allocation head {arena.head_bytes} bytes",
             f"[RecordingMicroAllocator] Arena allocation tail {arena.tail_bytes} bytes"]
    for category, name, unit in _RECORDED:
        entries = [a for a in arena.log if a.side == "tail" and a.category == category]
        if not entries:
            continue
        used, requested = sum(a.used for a in entries), sum(a.requested for a in entries)
        count = sum(rp.element_count(a.what) for a in entries) \
            if category in (rp.EVAL_TENSORS, rp.NODES) else len(entries)
        lines.append(f"[RecordingMicroAllocator] '{name}' used {used} bytes with alignment "
                     f"overhead (requested {requested} bytes for {count} {unit})")
    return "\n".join(lines)



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


__all__ = ["Interpreter", "InterpreterConfig", "ModelError", "InputError"]
