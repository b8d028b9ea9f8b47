"""Bit lengths and the C integer conversions the signal library leans on.

Mirrors signal/src/msb.h (MostSignificantBit32 / MostSignificantBit64 in msb_32.cc and
msb_64.cc). The rest of this module names the implicit C casts that the signal-library
kernels rely on - storing an `int` into an `int16_t`, letting `uint32_t` arithmetic wrap -
so that every stage can say in one word where TFLM truncates a value.

All helpers work elementwise on numpy arrays of any shape. Signed values are carried in
int64 and unsigned ones in uint64, wide enough that no intermediate here overflows; the
`as_*` helpers then cut results back to the width the C code stores them in.
"""
from __future__ import annotations

import numpy as np

_U64 = np.uint64


def bit_length(values) -> np.ndarray:
    """Position of the highest set bit (1-based) of each unsigned value; 0 for zero.

    This is MostSignificantBit32/64 for non-zero inputs. Below 2**53 a value converts to
    float64 exactly and frexp's exponent is its bit length; larger values (which the
    frontend never produces) take an exact binary search over the shift amounts.
    """
    x = np.asarray(values, dtype=_U64)
    if x.size == 0 or x.max() < _U64(1 << 53):
        return np.frexp(x.astype(np.float64))[1].astype(np.int64)
    return _bit_length_by_search(x)


def _bit_length_by_search(x: np.ndarray) -> np.ndarray:
    """Exact for any uint64: halve the search range six times (32, 16, ..., 1 bits)."""
    length = np.zeros(x.shape, dtype=np.int64)
    for shift in (32, 16, 8, 4, 2, 1):
        high = x >= _U64(1 << shift)
        length += shift * high
        x = np.where(high, x >> _U64(shift), x)
    return length + (x > 0)


def as_int16(values: np.ndarray) -> np.ndarray:
    """What storing an int into an `int16_t` leaves: the low 16 bits, two's complement."""
    return ((values + 0x8000) & 0xFFFF) - 0x8000


def as_int32(values: np.ndarray) -> np.ndarray:
    """The low 32 bits of an int64 value, read as a signed `int32_t`."""
    return ((values + 0x8000_0000) & 0xFFFF_FFFF) - 0x8000_0000


def as_uint32(values: np.ndarray) -> np.ndarray:
    """`uint32_t` arithmetic wraps modulo 2**32: keep the low 32 bits (same dtype).

    The mask is a plain int so that it combines with int64 and uint64 arrays alike.
    """
    return values & 0xFFFF_FFFF
