"""The error types tflm_edu raises on purpose.

A model file is untrusted input: every way it can be malformed surfaces as one
ModelError whose message names the tensor, op or field that is wrong.
"""


class ModelError(ValueError):
    """A .tflite model is malformed or uses something tflm_edu cannot run."""


class AllocationError(RuntimeError):
    """allocate_tensors() failed: a missing op, or an arena that is too small."""


class InputError(ValueError):
    """Data handed to the interpreter has the wrong shape or dtype."""
