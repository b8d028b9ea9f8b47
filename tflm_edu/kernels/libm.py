"""The C library's float functions, as TFLM's kernels call them on the host.

TFLM's float LOGISTIC, TANH and SOFTMAX (and the int16 lookup tables built at prepare) call
std::exp / std::tanh on float, which is the C library's expf / tanhf - neither correctly
rounded. On a PC that is glibc's libm; on a Cortex-M, newlib's (notebook 15, section 9).
tflm_edu reproduces the host: float64 math rounded once agrees with expf except where the
exact value lies within a hair of a midpoint between two floats, and for those few elements
it asks the C library itself.
"""
from __future__ import annotations

import numpy as np


# Up to this many elements, calling the C library once per element is quicker than the
# float64 route and its midpoint check.
FEW = 32


def expf(x):
    """std::exp on float32 values, as libm's expf computes it.

    expf is not correctly rounded: about 1 result in 1500 differs in the last bit from
    exp computed in float64 and rounded to float32 - always where the exact value lies
    within a hair (0.002 ulp) of the midpoint between two floats. So: compute in float64,
    round once, and ask the C library itself for just those too-close-to-call elements."""
    x = np.asarray(x, np.float32)
    libm_expf = libm_function("expf")
    if libm_expf is not None and x.size <= FEW:   # a handful: ask the C library for each
        return np.array([libm_expf(v) for v in x.reshape(-1).tolist()],
                        np.float32).reshape(x.shape)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        wide = np.exp(x.astype(np.float64))
        result = wide.astype(np.float32)
    if libm_expf is not None:
        flat_x, flat_result = x.reshape(-1), result.reshape(-1)
        for i in np.flatnonzero(near_float32_midpoint(wide, result)):
            flat_result[i] = libm_expf(float(flat_x[i]))
    return result


def near_float32_midpoint(wide, rounded, tolerance=0.01):
    """True where the float64 value `wide` is within `tolerance` float32 ulps of a
    midpoint between `rounded` (its float32 rounding) and a neighbour."""
    with np.errstate(over="ignore", invalid="ignore"):
        up = np.nextafter(rounded, np.float32(np.inf)).astype(np.float64)
        down = np.nextafter(rounded, np.float32(-np.inf)).astype(np.float64)
        r = rounded.astype(np.float64)
        ulp = np.minimum(up - r, r - down)
        distance = np.minimum(np.abs(wide - (r + up) / 2), np.abs(wide - (r + down) / 2))
        return np.isfinite(wide) & (distance < tolerance * ulp)


_LIBM = {}


def libm_function(name):
    """The C library's float function `name` (float -> float) through ctypes, or None
    where no C math library can be loaded (then the numpy result stands)."""
    if name not in _LIBM:
        _LIBM[name] = None
        try:
            import ctypes
            import ctypes.util
            library = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
            function = getattr(library, name)
            function.restype, function.argtypes = ctypes.c_float, [ctypes.c_float]
            _LIBM[name] = function
        except (OSError, AttributeError):
            pass
    return _LIBM[name]


def logf(x):
    """std::log on float32 values, as the host's C library answers: glibc's logf, asked
    element by element. Its result is float64 arithmetic rounded once with up to 0.82 ulp
    of error, so about half of all results lie where a correctly rounded log could differ -
    too many to single out, as libm.expf does. Without a loadable C library: float64 log
    rounded once (correct except for a few last bits)."""
    x = np.asarray(x, np.float32)
    libm_logf = libm_function("logf")
    if libm_logf is None:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(x.astype(np.float64)).astype(np.float32)
    flat = x.reshape(-1).tolist()
    return np.fromiter(map(libm_logf, flat), np.float32, len(flat)).reshape(x.shape)
