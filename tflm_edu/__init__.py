"""tflm_edu: TensorFlow Lite for Microcontrollers, retold in readable, bit-exact Python.

    import tflm_edu
    interpreter = tflm_edu.Interpreter.from_file("model.tflite")   # tflite_micro's interface
    micro = tflm_edu.MicroInterpreter(model, tflm_edu.AllOpsResolver(), arena_size=None)
"""
from tflm_edu.errors import AllocationError, InputError, KernelError, ModelError
from tflm_edu.interpreter import MicroInterpreter
from tflm_edu.op_resolver import AllOpsResolver, MicroMutableOpResolver, resolver_for_model
from tflm_edu.runtime import Interpreter
from tflm_edu.schema import load_model, read_model, write_model

__all__ = ["ModelError", "AllocationError", "InputError", "KernelError", "MicroInterpreter", "AllOpsResolver",
           "MicroMutableOpResolver", "resolver_for_model", "Interpreter", "load_model",
           "read_model", "write_model"]
__version__ = "0.1.0"
