"""tflm_edu: TensorFlow Lite for Microcontrollers, retold in readable, bit-exact Python.

    import tflm_edu
    interpreter = tflm_edu.Interpreter.from_file("model.tflite")   # tflite_micro's interface
    micro = tflm_edu.MicroInterpreter(model, tflm_edu.AllOpsResolver(), arena_size=None)
    tflm_edu.StepDebugger(interpreter)            # step through it (in Jupyter)
    tflm_edu.explain(interpreter, op, index)      # one output element, term by term
    tflm_edu.compare_layers(model)                # every tensor against the real TFLM
    tflm_edu.plot_memory_plan(interpreter)        # and the other plot_* pictures

The tools that draw (StepDebugger, the plot_* functions) load matplotlib and ipywidgets
only when first used, so the interpreter and the command line work without them.
"""
from tflm_edu.errors import AllocationError, InputError, KernelError, ModelError
from tflm_edu.interpreter import MicroInterpreter
from tflm_edu.op_resolver import AllOpsResolver, MicroMutableOpResolver, resolver_for_model
from tflm_edu.runtime import Interpreter
from tflm_edu.schema import load_model, read_model, write_model

# name -> the module that defines it, imported on first use (see __getattr__)
_LAZY = {
    "StepDebugger": "tflm_edu.debugger",
    "explain": "tflm_edu.explain",
    "compare_layers": "tflm_edu.compare",
    "run_model": "tflm_edu.evaluate",
    "BatchRunner": "tflm_edu.batch",
    **{name: "tflm_edu.viz" for name in (
        "plot_graph", "plot_memory_plan", "plot_planners", "plot_arena_occupancy",
        "plot_profile", "plot_tensor", "plot_tensor_histogram", "plot_channel_scales")},
}

__all__ = ["ModelError", "AllocationError", "InputError", "KernelError", "MicroInterpreter",
           "AllOpsResolver", "MicroMutableOpResolver", "resolver_for_model", "Interpreter",
           "load_model", "read_model", "write_model", *_LAZY]
__version__ = "0.1.0"


def __getattr__(name):
    """tflm_edu.StepDebugger, tflm_edu.plot_graph, ...: imported when first asked for."""
    if name in _LAZY:
        import importlib
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tflm_edu' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
