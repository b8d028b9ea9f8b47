"""The two loops of every elementwise binary op: same shapes, or shapes that broadcast.

Mirrors tensorflow/lite/kernels/internal/reference/broadcast_loop.h
(BroadcastBinaryOpSimple) and ElementWise of reference/integer_ops/add.h. The elementwise
ops (reference/add.py, sub.py, mul.py) pass the op for one pair of values, as the C++
passes AddFunc or a lambda.

Broadcasting: every shape is first extended to the same rank with leading 1s
(RuntimeShape::ExtendedShape); then along a dimension where an input has size 1 that
input does not move (the C++ gives it stride 0) while the output does. The C++ fuses
dimensions and walks pointers by strides for speed; the elements and their order - row
major over the output - are the ones below.
"""
from __future__ import annotations

import numpy as np


def element_wise(input1_data, input2_data, output_data, op):
    """ElementWise: output[i] = op(input1[i], input2[i]) over the flat data."""
    for i in range(output_data.size):
        output_data.flat[i] = op(input1_data.flat[i], input2_data.flat[i])


def broadcast_binary_op_simple(input1_data, input2_data, output_data, op):
    """BroadcastBinaryOpSimple: output[index] = op(input1[index'], input2[index'']), where
    index' is index with the input's size-1 dimensions held at 0."""
    dims_count = max(output_data.ndim, input1_data.ndim, input2_data.ndim)
    # Reshaping the (contiguous) output gives a view: writes land in its bytes.
    output = output_data.reshape(extended_shape(dims_count, output_data.shape))
    input1 = input1_data.reshape(extended_shape(dims_count, input1_data.shape))
    input2 = input2_data.reshape(extended_shape(dims_count, input2_data.shape))
    for index in np.ndindex(output.shape):
        output[index] = op(input1[broadcast_index(input1.shape, index)],
                           input2[broadcast_index(input2.shape, index)])


def extended_shape(dims_count: int, shape) -> tuple:
    """RuntimeShape::ExtendedShape: `shape` with leading 1s up to dims_count dimensions."""
    return (1,) * (dims_count - len(shape)) + tuple(shape)


def broadcast_index(shape, index) -> tuple:
    """Where an input of `shape` is read for output element `index`."""
    return tuple(0 if size == 1 else i for size, i in zip(shape, index))
