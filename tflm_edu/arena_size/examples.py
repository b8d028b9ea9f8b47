"""A small int8 model to size, for when the reference models are not at hand.

A MobileNet-like stack built with ModelBuilder - CONV_2D, DEPTHWISE_CONV_2D, a pointwise
CONV_2D, AVERAGE_POOL_2D, RESHAPE, FULLY_CONNECTED, SOFTMAX - with random weights: its memory
behaves like person_detect's, only smaller.
"""
from __future__ import annotations

import numpy as np

from tflm_edu.schema import options as o
from tflm_edu.schema.builder import ModelBuilder, quantization
from tflm_edu.schema.enums import BuiltinOperator as Op, Padding


def small_conv_net(size: int = 32, seed: int = 0):
    rng = np.random.default_rng(seed)
    b = ModelBuilder(description="small_conv_net")
    x = b.add_input((1, size, size, 1), np.int8, quant=quantization(1 / 128, 0))

    def layer(op, x, filter_shape, axis, out_shape, options):
        channels = filter_shape[axis]
        scales = rng.uniform(0.005, 0.02, channels)
        w = b.add_tensor(filter_shape, np.int8, data=rng.integers(-127, 128, filter_shape),
                         quant=quantization(scales, 0, axis))
        in_scale = b.tensors[x].quantization.scale[0]
        bias = b.add_tensor((channels,), np.int32, data=rng.integers(-300, 300, channels),
                            quant=quantization(in_scale * scales, 0))
        y = b.add_tensor(out_shape, np.int8, quant=quantization(0.05, -10))
        b.add_operator(op, [x, w, bias], [y], options, version=3)
        return y

    half = size // 2
    x = layer(Op.CONV_2D, x, (8, 3, 3, 1), 0, (1, half, half, 8),
              o.Conv2DOptions(Padding.SAME, 2, 2))
    x = layer(Op.DEPTHWISE_CONV_2D, x, (1, 3, 3, 8), 3, (1, half, half, 8),
              o.DepthwiseConv2DOptions(Padding.SAME, 1, 1, 1))
    x = layer(Op.CONV_2D, x, (16, 1, 1, 8), 0, (1, half, half, 16),
              o.Conv2DOptions(Padding.SAME, 1, 1))
    pooled = b.add_tensor((1, 1, 1, 16), np.int8, quant=b.tensors[x].quantization)
    b.add_operator(Op.AVERAGE_POOL_2D, [x], [pooled],
                   o.Pool2DOptions(Padding.VALID, half, half, half, half), version=2)
    shape = b.add_tensor((2,), np.int32, data=[1, 16])
    flat = b.add_tensor((1, 16), np.int8, quant=b.tensors[pooled].quantization)
    b.add_operator(Op.RESHAPE, [pooled, shape], [flat], o.ReshapeOptions(new_shape=(1, 16)))
    scales = rng.uniform(0.005, 0.02, 1)
    w = b.add_tensor((4, 16), np.int8, data=rng.integers(-127, 128, (4, 16)),
                     quant=quantization(scales, 0))
    bias = b.add_tensor((4,), np.int32, data=rng.integers(-300, 300, 4),
                        quant=quantization(b.tensors[flat].quantization.scale[0] * scales[0], 0))
    logits = b.add_tensor((1, 4), np.int8, quant=quantization(0.1, 0))
    b.add_operator(Op.FULLY_CONNECTED, [flat, w, bias], [logits], o.FullyConnectedOptions(),
                   version=4)
    probabilities = b.add_tensor((1, 4), np.int8, quant=quantization(1 / 256, -128))
    b.add_operator(Op.SOFTMAX, [logits], [probabilities], o.SoftmaxOptions(beta=1.0), version=2)
    b.mark_output(probabilities)
    return b.build()


def tiny_dense_net(seed: int = 0):
    """hello_world's shape: FULLY_CONNECTED 1 -> 16 -> 16 -> 1, int8."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder(description="tiny_dense_net")
    x = b.add_input((1, 1), np.int8, quant=quantization(0.025, -128))
    for units, depth in ((16, 1), (16, 16), (1, 16)):
        scale = rng.uniform(0.005, 0.02)
        w = b.add_tensor((units, depth), np.int8, data=rng.integers(-127, 128, (units, depth)),
                         quant=quantization(scale, 0))
        in_scale = b.tensors[x].quantization.scale[0]
        bias = b.add_tensor((units,), np.int32, data=rng.integers(-300, 300, units),
                            quant=quantization(in_scale * scale, 0))
        y = b.add_tensor((1, units), np.int8, quant=quantization(0.05, -10))
        b.add_operator(Op.FULLY_CONNECTED, [x, w, bias], [y], o.FullyConnectedOptions(),
                       version=4)
        x = y
    b.mark_output(x)
    return b.build()
