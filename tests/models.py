"""The models the tests build, each in one place, on tflm_edu.schema.builder.ModelBuilder.

one_op_model() builds any single-op model from its input and output tensors; the per-op test
files build their op's models with it. The named builders here are those that more than one
test file needs, or that more than one file kept a copy (or a namesake) of: the layer
kernels' seeded conv_model, dw_model (which shares conv_model's tensors) and fc_model; the
fixed tiny_fc_model and tiny_conv_model that the schema tests break; the small networks of
the explain / viz / compare tests; the Sequential models of the converter tests; and the
bytes the deploy tests send to a board (conftest.py serves them as fixtures).
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from tflm_edu.arena_size.examples import small_conv_net, tiny_dense_net
from tflm_edu.op_resolver import SPECS
from tflm_edu.schema import options as o
from tflm_edu.schema import write_model
from tflm_edu.schema.builder import ModelBuilder, quantization
from tflm_edu.schema.enums import ActivationFunctionType as Act
from tflm_edu.schema.enums import BuiltinOperator as Op
from tflm_edu.schema.enums import Padding
from tflm_edu.windows import compute_padding_height_width
from tflm_edu.train import (AveragePool2D, BatchNormalization, Conv2D, Dense, DepthwiseConv2D,
                            Dropout, Flatten, GlobalAveragePool, MaxPool2D, ReLU, ReLU6, Reshape,
                            Sequential, Softmax)

SAME, VALID = Padding.SAME, Padding.VALID


# ----------------------------------------------------------------------------- one op


class TensorSpec(NamedTuple):
    shape: tuple
    dtype: Any = np.float32
    data: Any = None
    quant: Any = None
    name: str = ""


def tensor(shape, dtype=np.float32, data=None, quant=None, name="") -> TensorSpec:
    """A tensor of one_op_model. Among the inputs: a graph input, or with `data` a constant;
    among the outputs: what the op writes. Unnamed tensors get ModelBuilder's names."""
    return TensorSpec(tuple(shape), dtype, data, quant, name)


def one_op_model(op, inputs, options=None, outputs=(), version=1):
    """A model of one op. `inputs` lists tensor()s - or -1, an absent optional input - in the
    op's input order; `outputs` is one tensor() or a list of them, all graph outputs.
    Tensors are numbered inputs first, then outputs; tensor i has buffer i + 1."""
    b = ModelBuilder()
    input_indices = []
    for spec in inputs:
        if isinstance(spec, int):
            input_indices.append(spec)
        elif spec.data is None:
            input_indices.append(b.add_input(spec.shape, spec.dtype, spec.name, spec.quant))
        else:
            input_indices.append(b.add_tensor(spec.shape, spec.dtype, spec.name, spec.data,
                                              spec.quant))
    if isinstance(outputs, TensorSpec):
        outputs = [outputs]
    output_indices = [b.add_tensor(spec.shape, spec.dtype, spec.name, quant=spec.quant)
                      for spec in outputs]
    b.add_operator(op, input_indices, output_indices, options, version=version)
    for index in output_indices:
        b.mark_output(index)
    return b.build()


# ----------------------------------------------------------------------------- CONV_2D, DEPTHWISE


def conv_output_size(size, kernel, stride, dilation, padding):
    """Output height (or width) of a convolution window sliding over `size`."""
    effective = (kernel - 1) * dilation + 1
    if padding == SAME:
        return math.ceil(size / stride)
    return math.ceil((size - effective + 1) / stride)


def _conv_output_shape(batches, hw, kernel, stride, dilation, padding, out_depth):
    return (batches, conv_output_size(hw[0], kernel[0], stride[0], dilation[0], padding),
            conv_output_size(hw[1], kernel[1], stride[1], dilation[1], padding), out_depth)


def _filter_op_tensors(rng, dtype, input_shape, filter_shape, output_shape, channels, *,
                       bias, bias_size, per_channel, input_zp, output_zp, out_scale,
                       filter_scale, filter_data, filter_zp, filter_axis, filter_is_input,
                       out_scale_range, filter_scale_range, bias_range, bias_dtype=None,
                       bias_data=None):
    """Input, filter, bias (-1 without one) and output of a seeded CONV_2D-like op: float32
    with normal weights, or int8 (or int16: "16x8") with a per-channel (or per-tensor) int8
    filter, the bias at the input scale times the filter's. The *_range arguments are the
    op's random draws. int16 defaults: zero points 0, an int64 bias with a wider range."""
    bias_size = bias_size or channels
    if dtype == np.float32:
        weights = rng.standard_normal(filter_shape) if filter_data is None else filter_data
        x = tensor(input_shape)
        w = tensor(filter_shape) if filter_is_input else tensor(filter_shape, data=weights)
        bias_t = tensor((bias_size,), data=rng.standard_normal(bias_size)) if bias else -1
        return x, w, bias_t, tensor(output_shape)
    in_scale = rng.uniform(0.01, 0.1)
    if dtype == np.int16:  # int16 activations span 256 times the int8 range
        in_scale, out_scale_range = in_scale / 256, tuple(r / 256 for r in out_scale_range)
        bias_range = tuple(256 * r for r in bias_range)
        input_zp = 0 if input_zp is None else input_zp
        output_zp = 0 if output_zp is None else output_zp
    out_scale = rng.uniform(*out_scale_range) if out_scale is None else out_scale
    if filter_scale is None:
        filter_scale = rng.uniform(*filter_scale_range, channels if per_channel else 1)
    input_zp = int(rng.integers(-30, 30)) if input_zp is None else input_zp
    output_zp = int(rng.integers(-20, 20)) if output_zp is None else output_zp
    weights = rng.integers(-127, 128, filter_shape) if filter_data is None else filter_data
    x = tensor(input_shape, dtype, quant=quantization(in_scale, input_zp))
    w_quant = quantization(filter_scale, filter_zp, filter_axis)
    w = tensor(filter_shape, np.int8, None if filter_is_input else weights, w_quant)
    bias_dtype = bias_dtype or (np.int64 if dtype == np.int16 else np.int32)
    if bias and bias_data is None:
        bias_data = rng.integers(*bias_range, bias_size)
    bias_t = tensor((bias_size,), bias_dtype, bias_data,
                    quantization(in_scale * np.resize(filter_scale, bias_size), 0)) \
        if bias else -1
    return x, w, bias_t, tensor(output_shape, dtype, quant=quantization(out_scale, output_zp))


def conv_model(dtype=np.int8, batches=1, hw=(7, 7), depth=3, kernel=(3, 3), out_depth=4,
               stride=(1, 1), dilation=(1, 1), padding=SAME, act=Act.NONE, bias=True,
               per_channel=True, groups=1, input_zp=None, output_zp=None, out_scale=None,
               filter_scale=None, output_shape=None, options=None, filter_data=None,
               filter_shape=None, bias_size=None, filter_axis=0, filter_zp=0,
               filter_is_input=False, bias_dtype=None, bias_data=None, seed=0):
    """A seeded CONV_2D, int8, int16 (16x8: int64 bias unless bias_dtype says) or float32;
    the *_shape / bias_size / filter_axis arguments make it malformed. bias=False writes the
    bias as input -1, bias=None leaves its slot out."""
    rng = np.random.default_rng(seed)
    if output_shape is None:
        output_shape = _conv_output_shape(batches, hw, kernel, stride, dilation, padding,
                                          out_depth)
    if options is None:
        options = o.Conv2DOptions(padding=padding, stride_h=stride[0], stride_w=stride[1],
                                  fused_activation_function=act, dilation_h_factor=dilation[0],
                                  dilation_w_factor=dilation[1])
    x, w, bias_t, out = _filter_op_tensors(
        rng, dtype, (batches, *hw, depth), filter_shape or (out_depth, *kernel, depth // groups),
        output_shape, out_depth, bias=bias, bias_size=bias_size, per_channel=per_channel,
        input_zp=input_zp, output_zp=output_zp, out_scale=out_scale, filter_scale=filter_scale,
        filter_data=filter_data, filter_zp=filter_zp, filter_axis=filter_axis,
        filter_is_input=filter_is_input, out_scale_range=(0.05, 0.5),
        filter_scale_range=(0.002, 0.02), bias_range=(-5000, 5000), bias_dtype=bias_dtype,
        bias_data=bias_data)
    version = 5 if groups > 1 else {np.float32: 1, np.int8: 3,
                                    np.int16: 4}[np.dtype(dtype).type]
    inputs = [x, w] if bias is None else [x, w, bias_t]
    return one_op_model(Op.CONV_2D, inputs, options, out, version)


def dw_model(dtype=np.int8, batches=1, hw=(7, 7), depth=3, kernel=(3, 3), multiplier=1,
             stride=(1, 1), dilation=(1, 1), padding=SAME, act=Act.NONE, bias=True,
             per_channel=True, input_zp=None, output_zp=None, out_scale=None,
             filter_scale=None, filter_data=None, output_shape=None, options=None,
             filter_shape=None, bias_size=None, filter_axis=3, filter_is_input=False,
             bias_dtype=None, bias_data=None, seed=0):
    """A seeded DEPTHWISE_CONV_2D, int8, int16 (16x8, int64 bias) or float32; the *_shape /
    bias_size / filter_axis arguments make it malformed. Without bias the op has two inputs:
    TFLM's depthwise Prepare dereferences a bias given as -1 (it deallocates a null temp
    tensor) and crashes the oracle."""
    rng = np.random.default_rng(seed)
    out_depth = depth * multiplier
    if output_shape is None:
        output_shape = _conv_output_shape(batches, hw, kernel, stride, dilation, padding,
                                          out_depth)
    if options is None:
        options = o.DepthwiseConv2DOptions(
            padding=padding, stride_h=stride[0], stride_w=stride[1], depth_multiplier=multiplier,
            fused_activation_function=act, dilation_h_factor=dilation[0],
            dilation_w_factor=dilation[1])
    x, w, bias_t, out = _filter_op_tensors(
        rng, dtype, (batches, *hw, depth), filter_shape or (1, *kernel, out_depth),
        output_shape, out_depth, bias=bias, bias_size=bias_size, per_channel=per_channel,
        input_zp=input_zp, output_zp=output_zp, out_scale=out_scale, filter_scale=filter_scale,
        filter_data=filter_data, filter_zp=0, filter_axis=filter_axis,
        filter_is_input=filter_is_input, out_scale_range=(0.02, 0.2),
        filter_scale_range=(0.002, 0.05), bias_range=(-3000, 3000), bias_dtype=bias_dtype,
        bias_data=bias_data)
    version = {np.float32: 2 if dilation != (1, 1) else 1, np.int8: 3,
               np.int16: 5}[np.dtype(dtype).type]
    inputs = [x, w] if not bias else [x, w, bias_t]
    return one_op_model(Op.DEPTHWISE_CONV_2D, inputs, options, out, version)


def tiny_conv_model(options=None, bias=True, weights_quant=None, dtype=np.float32):
    """CONV_2D on [1,5,5,1] with an all-ones [4,2,2,1] filter: tensors 0 x, 1 w, 2 bias,
    3 y (with bias=False: input -1, and y is tensor 2)."""
    q = quantization(0.1, 0) if dtype == np.int8 else None
    return one_op_model(Op.CONV_2D, [
        tensor((1, 5, 5, 1), dtype, quant=q, name="x"),
        tensor((4, 2, 2, 1), dtype, np.ones((4, 2, 2, 1)), weights_quant, "w"),
        tensor((4,), np.float32 if dtype == np.float32 else np.int32, np.zeros(4), name="bias")
        if bias else -1,
    ], options or o.Conv2DOptions(Padding.VALID, stride_w=1, stride_h=1),
        tensor((1, 4, 4, 4), dtype, quant=q, name="y"))


# ----------------------------------------------------------------------------- pooling


def pool_model(op, shape, filter_hw, stride_hw, padding, dtype, act=Act.NONE, seed=0,
               out_shape=None, out_quant=None):
    """A seeded AVERAGE_POOL_2D or MAX_POOL_2D on `shape` (NHWC)."""
    rng = np.random.default_rng(seed)
    batches, height, width, depth = shape
    if out_shape is None:
        out_h, out_w, _, _ = compute_padding_height_width(
            stride_hw[0], stride_hw[1], 1, 1, height, width, filter_hw[0], filter_hw[1],
            padding)
        out_shape = (batches, out_h, out_w, depth)
    quant = None
    if dtype != np.float32:
        scale = rng.uniform(0.01, 0.2) if dtype == np.int8 else rng.uniform(1e-4, 1e-3)
        zero_point = int(rng.integers(-30, 30)) if dtype == np.int8 else 0
        quant = quantization(scale, zero_point)
    version = {np.float32: 1, np.int8: 2, np.int16: 3}[dtype]
    return one_op_model(op, [tensor(shape, dtype, quant=quant)], o.Pool2DOptions(
        padding=padding, stride_w=stride_hw[1], stride_h=stride_hw[0],
        filter_width=filter_hw[1], filter_height=filter_hw[0],
        fused_activation_function=act), tensor(out_shape, dtype, quant=out_quant or quant),
        version)


# ----------------------------------------------------------------------------- FULLY_CONNECTED


def fc_model(batches, accum, depth, dtype, act=Act.NONE, bias=True, per_channel=False, seed=0,
             filter_zp=0, bias_dtype=None, quantized_bias_type=0):
    """A seeded FULLY_CONNECTED [batches, accum] -> [batches, depth], int8 or int16 (16x8:
    an int64 bias unless bias_dtype says; quantized_bias_type is the options' field), with
    per-tensor or per-channel int8 weights of zero point filter_zp; or float32."""
    rng = np.random.default_rng(seed)
    if dtype == np.float32:
        x = tensor((batches, accum))
        w = tensor((depth, accum), data=rng.standard_normal((depth, accum)))
        bias_t = tensor((depth,), data=rng.standard_normal(depth)) if bias else -1
        out = tensor((batches, depth))
        version = 1
    else:
        in_scale, out_scale = rng.uniform(0.01, 0.1), rng.uniform(0.05, 0.5)
        bias_range = 3000
        if dtype == np.int16:  # int16 activations span 256 times the int8 range
            in_scale, out_scale, bias_range = in_scale / 256, out_scale / 256, 256 * bias_range
        w_scales = rng.uniform(0.001, 0.02, depth if per_channel else 1)
        x = tensor((batches, accum), dtype,
                   quant=quantization(in_scale, int(rng.integers(-20, 20))))
        w = tensor((depth, accum), np.int8, rng.integers(-127, 128, (depth, accum)),
                   quantization(w_scales, filter_zp))
        bias_dtype = bias_dtype or (np.int64 if dtype == np.int16 else np.int32)
        bias_t = tensor((depth,), bias_dtype, rng.integers(-bias_range, bias_range, depth),
                        quantization(in_scale * w_scales, 0)) if bias else -1
        out = tensor((batches, depth), dtype,
                     quant=quantization(out_scale, int(rng.integers(-10, 10))))
        version = 7 if dtype == np.int16 else 4
    return one_op_model(Op.FULLY_CONNECTED, [x, w, bias_t], o.FullyConnectedOptions(
        fused_activation_function=act, quantized_bias_type=quantized_bias_type), out, version)


def tiny_fc_model(weights=((0, 1, 2), (3, 4, 5)), bias=True, options=None):
    """FULLY_CONNECTED, float32: x [1,3] times `weights` [2,3] plus bias [0.5, -1] gives
    y [1,2]. Tensors 0 x, 1 w, 2 bias, 3 y, with buffers 1 to 4 (with bias=False: input -1,
    and y is tensor 2)."""
    return one_op_model(Op.FULLY_CONNECTED, [
        tensor((1, 3), name="x"), tensor((2, 3), data=weights, name="w"),
        tensor((2,), data=[0.5, -1], name="bias") if bias else -1,
    ], options or o.FullyConnectedOptions(), tensor((1, 2), name="y"))


# ----------------------------------------------------------------------------- elementwise


def random_quant(rng, dtype, zero_point=True):
    if dtype == np.int16:
        return quantization(rng.uniform(1e-4, 1e-3), 0)
    return quantization(rng.uniform(0.005, 0.3), int(rng.integers(-60, 60)) if zero_point else 0)


def binary_model(op, shape1, shape2, dtype, act=Act.NONE, seed=0, const2=False, quants=None,
                 out_shape=None):
    """One elementwise binary op (ADD, MUL, SUB, ...) with the options class its OpSpec
    names; input 2 becomes a constant (like a bias) when const2."""
    rng = np.random.default_rng(seed)
    quantized = dtype in (np.int8, np.int16)
    q1, q2, qo = quants or ((random_quant(rng, dtype) for _ in range(3)) if quantized
                            else (None, None, None))
    x1 = tensor(shape1, dtype, quant=q1)
    if const2:
        data = (rng.standard_normal(shape2) * 2 if dtype == np.float32 else
                rng.integers(np.iinfo(dtype).min, np.iinfo(dtype).max, shape2, endpoint=True))
        x2 = tensor(shape2, dtype, data, q2)
    else:
        x2 = tensor(shape2, dtype, quant=q2)
    out_shape = out_shape if out_shape is not None else np.broadcast_shapes(shape1, shape2)
    version = {np.float32: 1, np.int8: 2, np.int16: 3, np.int32: 1}[np.dtype(dtype).type]
    options = SPECS[op].options(fused_activation_function=act)
    return one_op_model(op, [x1, x2], options, tensor(out_shape, dtype, quant=qo), version)


# Broadcasting patterns: equal shapes, one side scalar, inner/outer/middle broadcasts,
# both sides broadcasting, rank differences, and ranks 5 and 6 (beyond the "4D" in the
# reference function names).
BROADCAST_SHAPES = [
    ((2, 3, 4, 5), (2, 3, 4, 5)),
    ((1, 8, 8, 3), (3,)),
    ((2, 3, 4), ()),
    ((), (2, 5)),
    ((1,), (4, 3)),
    ((2, 1, 4), (3, 1)),
    ((1, 3, 1, 5), (2, 1, 4, 1)),
    ((4, 1), (1, 6)),
    ((2, 3, 1, 4, 1), (1, 3, 5, 1, 2)),
    ((2, 1, 2, 1, 3, 2), (1, 2, 1, 3, 1, 2)),
    ((7,), (7,)),
    ((3, 1, 1), (1, 1)),
]


# ----------------------------------------------------------------------------- small networks
# Shapes that exercise padding, dilation, strides, groups and depth multipliers in few bytes
# (explain, viz and compare run them).


def float_conv_net(seed: int = 0):
    """CONV_2D (dilated, SAME, RELU) -> DEPTHWISE_CONV_2D (x2, stride 2) ->
    AVERAGE_POOL_2D (SAME, ragged border) -> RESHAPE -> FULLY_CONNECTED, all float32."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder(description="float_conv_net")
    x = b.add_input((1, 9, 9, 2), np.float32)

    def const(shape):
        return b.add_tensor(shape, np.float32, data=rng.normal(size=shape).astype(np.float32))

    y = b.add_tensor((1, 9, 9, 4), np.float32)
    b.add_operator(Op.CONV_2D, [x, const((4, 3, 3, 2)), const((4,))], [y],
                   o.Conv2DOptions(Padding.SAME, 1, 1, Act.RELU, 2, 2), version=2)
    z = b.add_tensor((1, 5, 5, 8), np.float32)
    b.add_operator(Op.DEPTHWISE_CONV_2D, [y, const((1, 3, 3, 8)), const((8,))], [z],
                   o.DepthwiseConv2DOptions(Padding.SAME, 2, 2, 2), version=2)
    p = b.add_tensor((1, 3, 3, 8), np.float32)
    b.add_operator(Op.AVERAGE_POOL_2D, [z], [p], o.Pool2DOptions(Padding.SAME, 2, 2, 2, 2))
    shape = b.add_tensor((2,), np.int32, data=[1, 72])
    flat = b.add_tensor((1, 72), np.float32)
    b.add_operator(Op.RESHAPE, [p, shape], [flat], o.ReshapeOptions(new_shape=(1, 72)))
    out = b.add_tensor((1, 5), np.float32)
    b.add_operator(Op.FULLY_CONNECTED, [flat, const((5, 72)), const((5,))], [out],
                   o.FullyConnectedOptions())
    b.mark_output(out)
    return b.build()


def int8_grouped_net(seed: int = 0):
    """An int8 grouped CONV_2D (2 groups, asymmetric output zero point, RELU6) and a
    DEPTHWISE_CONV_2D with depth_multiplier 2: the index arithmetic small_conv_net lacks."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder(description="int8_grouped_net")
    x = b.add_input((1, 7, 7, 4), np.int8, quant=quantization(0.02, 5))
    scales = rng.uniform(0.005, 0.02, 6)
    w = b.add_tensor((6, 3, 3, 2), np.int8, data=rng.integers(-127, 128, (6, 3, 3, 2)),
                     quant=quantization(scales, 0, 0))
    bias = b.add_tensor((6,), np.int32, data=rng.integers(-500, 500, 6),
                        quant=quantization(0.02 * scales, 0))
    y = b.add_tensor((1, 4, 4, 6), np.int8, quant=quantization(0.03, -7))
    b.add_operator(Op.CONV_2D, [x, w, bias], [y],
                   o.Conv2DOptions(Padding.SAME, 2, 2, Act.RELU6), version=6)
    scales = rng.uniform(0.005, 0.02, 12)
    w2 = b.add_tensor((1, 3, 3, 12), np.int8, data=rng.integers(-127, 128, (1, 3, 3, 12)),
                      quant=quantization(scales, 0, 3))
    bias2 = b.add_tensor((12,), np.int32, data=rng.integers(-500, 500, 12),
                         quant=quantization(0.03 * scales, 0))
    z = b.add_tensor((1, 2, 2, 12), np.int8, quant=quantization(0.05, 3))
    b.add_operator(Op.DEPTHWISE_CONV_2D, [y, w2, bias2], [z],
                   o.DepthwiseConv2DOptions(Padding.VALID, 1, 1, 2), version=3)
    b.mark_output(z)
    return b.build()


# ----------------------------------------------------------------------------- Sequential models


def randomize_bn(model, seed=0):
    """Untrained BN is the identity; give it statistics so that folding is really tested."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, BatchNormalization):
            n = layer.gamma.size
            layer.gamma[:] = rng.uniform(0.5, 1.5, n)
            layer.beta[:] = rng.normal(0, 0.2, n)
            layer.moving_mean[:] = rng.normal(0, 0.2, n)
            layer.moving_var[:] = rng.uniform(0.5, 2, n)
    return model


def mixed_model():
    """Every layer kind the converter handles, BN included, on a small input."""
    return Sequential([
        Conv2D(4, 3, padding="same"), BatchNormalization(), ReLU6(),
        DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2), BatchNormalization(),
        ReLU(), AveragePool2D(2), Conv2D(6, (2, 1), padding="valid", activation="relu"),
        MaxPool2D(2, padding="same"), Dropout(0.3), Reshape((4, 6)), Flatten(), Dense(5),
        Softmax()], input_shape=(16, 12, 2), seed=3)


def gap_model():
    return Sequential([Conv2D(3, 3, use_bias=False), ReLU(), GlobalAveragePool(), Dense(2)],
                      input_shape=(6, 6, 1), seed=1)


# ----------------------------------------------------------------------------- for the boards
# (conftest.py serves them as the fixtures conv_net_bytes and dense_net_bytes)


def small_conv_net_bytes() -> bytes:
    """small_conv_net at 32x32: its 1,024-byte input takes four SET_INPUT chunks."""
    return write_model(small_conv_net(32))


def tiny_dense_net_bytes() -> bytes:
    return write_model(tiny_dense_net())


def quant_for(dtype, scale=0.05, zero_point=-3):
    """Per-tensor quantization for a data-movement test tensor: int8 asymmetric, int16
    symmetric (zero point 0, as TFLM's int16 kernels require), none for the others."""
    if dtype == np.int8:
        return quantization(scale, zero_point)
    if dtype == np.int16:
        return quantization(scale / 100, 0)
    return None
