"""Helpers that keep numpy's inner loops long: per-channel arithmetic on wide rows, column sums
by BLAS, and cheap strided views.

An NHWC activation with few channels (MobileNet's first layers have 8 or 16) is slow to
combine with a per-channel vector of C values: numpy's broadcasting then runs an inner loop
of C elements per position, several times slower than one long loop. Viewing the same
contiguous data as rows of many positions (row_length: 8192 values or more) and tiling the
per-channel vector to that length gives the same arithmetic with long inner loops. Summing
down the rows is a matrix-vector product with a vector of ones, which BLAS does faster than
np.sum(axis=0).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

# Rows at least this long: numpy broadcasts a vector over shorter rows one row at a time, with
# an overhead per row that costs as much as the arithmetic (measured: a (1536, 768) float32
# array minus a (768,) vector takes 1.7x as long as the same numbers as (96, 12288)).
MIN_ROW = 8192


@lru_cache(maxsize=1024)
def row_length(shape: tuple) -> int:
    """The row length an array of this shape (..., C) is viewed at for per-channel arithmetic:
    C times the fewest whole positions (of the flattened leading axes) that make at least
    MIN_ROW values and divide the array evenly. Every row then starts at channel 0, so a
    per-channel vector tiled to this length lines up with each row."""
    channels, positions = int(shape[-1]), int(np.prod(shape[:-1], dtype=np.int64))
    want = -(-MIN_ROW // channels)
    if positions <= want:
        return positions * channels                  # the whole array is one row
    for k in range(want, min(positions, 4 * want) + 1):
        if positions % k == 0:
            return k * channels
    length = channels                                # no divisor near: whole trailing axes
    for size in reversed(shape[1:-1]):
        if length >= MIN_ROW:
            break
        length *= int(size)
    return length


def as_rows(x: np.ndarray, length: int) -> np.ndarray:
    """x as (rows, length); a view when x is contiguous, a copy otherwise."""
    return x.reshape(-1, length)


def tile(vector: np.ndarray, length: int) -> np.ndarray:
    """A per-channel vector (C,) repeated to `length` values, to line up with as_rows rows.
    (As np.tile(vector, length // C), without its Python overhead: this runs per layer call.)"""
    out = np.empty(length, vector.dtype)
    out.reshape(-1, vector.shape[-1])[...] = vector
    return out


def strided(array: np.ndarray, offset: int, shape: tuple, strides: tuple) -> np.ndarray:
    """A read-only view of a C-contiguous `array` starting `offset` elements in, with the given
    shape and byte strides. (np.lib.stride_tricks.as_strided without its Python overhead;
    numpy refuses a view that would reach past the array.)"""
    if not array.flags.c_contiguous:
        raise ValueError("strided() needs a C-contiguous array")
    view = np.ndarray(shape, array.dtype, array, offset * array.itemsize, strides)
    view.flags.writeable = False
    return view


def items(array: np.ndarray) -> np.ndarray:
    """The array with each run along its (contiguous) last axis viewed as one opaque item of
    C values: a strided copy of NHWC pixels then moves whole pixels rather than runs of C
    numbers, which numpy does in fewer, cheaper steps. The array itself if it cannot be."""
    if array.ndim < 2 or array.strides[-1] != array.itemsize or array.shape[-1] < 2:
        return array
    return array.view(np.dtype((np.void, array.shape[-1] * array.itemsize)))[..., 0]


_ONES: dict = {}


def ones(n: int, dtype) -> np.ndarray:
    """A read-only vector of n ones (shared): the left operand of column sums."""
    key = (int(n), np.dtype(dtype))
    vector = _ONES.get(key)
    if vector is None:
        if len(_ONES) > 64:
            _ONES.clear()
        vector = np.ones(key[0], key[1])
        vector.flags.writeable = False
        _ONES[key] = vector
    return vector


def column_sums(rows: np.ndarray) -> np.ndarray:
    """rows.sum(axis=0) for a 2-D array, as one BLAS matrix-vector product."""
    return ones(len(rows), rows.dtype) @ rows


def fold(row: np.ndarray, channels: int) -> np.ndarray:
    """A row of per-position values (k*C,) summed down to its channels (C,)."""
    if len(row) == channels:
        return row
    return column_sums(row.reshape(-1, channels))


def channel_sums(rows: np.ndarray, channels: int) -> np.ndarray:
    """Per-channel sums of an as_rows() view: column sums folded from the row length to C."""
    return fold(column_sums(rows), channels)
