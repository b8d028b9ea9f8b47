"""The error types tflm_edu raises on purpose.

A model file is untrusted input: every way it can be malformed surfaces as one
ModelError whose message names the tensor, op or field that is wrong.
"""


class ModelError(ValueError):
    """A .tflite model is malformed or uses something tflm_edu cannot run."""


class AllocationError(RuntimeError):
    """allocate_tensors() failed: a missing op, or an arena that is too small."""


class KernelError(RuntimeError):
    """A kernel failed on a model it had accepted: a bug in tflm_edu, not in the model.
    The message names the op; please report it."""


class ModelFileNotFound(FileNotFoundError, ValueError):
    """No model file at that path. A ValueError too: tflite_micro's runtime raises
    ValueError("Invalid model file path") there, so scripts that catch it work unchanged."""


class InputError(ValueError):
    """Data handed to the interpreter has the wrong shape or dtype."""


def check_input(x, dtype, shape, what: str = "input 0", exact_shape: bool = True):
    """`x` as the array a model input of `dtype` and `shape` takes, or an InputError that
    says what was expected and what came. exact_shape=False accepts any shape with the
    same number of elements (a board or an oracle reshapes); the result has `shape`."""
    import numpy as np
    x = np.asarray(x)
    dtype, shape = np.dtype(dtype), tuple(int(d) for d in shape)
    if x.dtype != dtype:
        raise InputError(f"{what} must be {dtype.name}, got {x.dtype.name}")
    if exact_shape and tuple(x.shape) != shape:
        raise InputError(f"{what} must have shape {list(shape)}, got {list(x.shape)}")
    if x.size != int(np.prod(shape)):
        raise InputError(f"{what} needs {int(np.prod(shape))} {dtype.name} values (shape "
                         f"{list(shape)}), got {x.size} (shape {list(x.shape)})")
    return x.reshape(shape)
