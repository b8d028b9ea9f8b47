"""Small models built with ModelBuilder, for when real ones are not at hand.

small_conv_net: a MobileNet-like int8 stack - CONV_2D, DEPTHWISE_CONV_2D, a pointwise
CONV_2D, AVERAGE_POOL_2D, RESHAPE, FULLY_CONNECTED, SOFTMAX - with random weights: its memory
behaves like person_detect's, only smaller. lstm_model: one UNIDIRECTIONAL_SEQUENCE_LSTM as
TensorFlow's converter writes it (the pattern of TFLM's mnist_lstm example models), with
its state in variable tensors.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from tflm_edu.schema import options as o
from tflm_edu.schema.builder import ModelBuilder, quantization
from tflm_edu.schema.enums import ActivationFunctionType as Act, BuiltinOperator as Op, Padding
from tflm_edu.schema.options import UnidirectionalSequenceLSTMOptions


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


GATES = ("input", "forget", "cell", "output")


def lstm_model(dtype=np.int8, batch=1, time=3, input_dim=4, state=5, time_major=False,
               cell_clip=0.0, act=Act.TANH, cell_power=-12, hidden_zp=None, seed=0,
               weight_range=127, bias_range=2000, extra=None, drop=(), shapes=None,
               types=None, variable=True, per_channel=False, intermediates=True,
               version=1):
    """A seeded LSTM. int8 (int16: int16 activations with int64 biases) or float32.
    `extra` gives tensors at the positions TFLM refuses ({9: ...}: shapes); `drop` lists
    inputs written as -1; `shapes` / `types` override tensors by name (malformed models)."""
    rng = np.random.default_rng(seed)
    integer = dtype != np.float32
    d0, d1 = (time, batch) if time_major else (batch, time)
    shape = {"input": (d0, d1, input_dim), "output": (d0, d1, state),
             "output_state": (batch, state), "cell_state": (batch, state),
             **{f"input_to_{g}": (state, input_dim) for g in GATES},
             **{f"recurrent_to_{g}": (state, state) for g in GATES},
             **{f"{g}_bias": (state,) for g in GATES}}
    shape.update(shapes or {})
    activation_dtype = dtype
    dtypes = {k: np.float32 for k in shape}
    quant = dict.fromkeys(shape)
    if integer:
        small = 256 if dtype == np.int16 else 1     # int16 activations span 256x the range
        scales = {"input": rng.uniform(0.005, 0.05) / small,
                  "output_state": rng.uniform(0.004, 0.02) / small}
        zero_points = {"input": int(rng.integers(-40, 40)) if dtype == np.int8 else 0,
                       "output_state": (int(rng.integers(-30, 30)) if hidden_zp is None
                                        else hidden_zp) if dtype == np.int8 else 0}
        for g in GATES:
            scales[f"input_to_{g}"] = rng.uniform(0.004, 0.02)
            scales[f"recurrent_to_{g}"] = rng.uniform(0.004, 0.02)
            scales[f"{g}_bias"] = scales["input"] * scales[f"input_to_{g}"]
        quant = {"input": quantization(scales["input"], zero_points["input"]),
                 "output_state": quantization(scales["output_state"],
                                              zero_points["output_state"]),
                 "cell_state": quantization(2.0 ** cell_power, 0)}
        quant["output"] = quant["output_state"]
        for g in GATES:
            for k in (f"input_to_{g}", f"recurrent_to_{g}"):
                s = scales[k] * (1 + np.arange(shape[k][0]) / 10) if per_channel else scales[k]
                quant[k] = quantization(s, 0)
            quant[f"{g}_bias"] = quantization(scales[f"{g}_bias"], 0)
        bias_dtype = np.int32 if dtype == np.int8 else np.int64
        dtypes = {"input": dtype, "output": dtype, "output_state": dtype,
                  "cell_state": np.int16,
                  **{f"{kind}_to_{g}": np.int8 for g in GATES
                     for kind in ("input", "recurrent")},
                  **{f"{g}_bias": bias_dtype for g in GATES}}
    dtypes.update(types or {})
    b = ModelBuilder()
    index = {"input": b.add_input(shape["input"], dtypes["input"], "input", quant["input"])}
    for g in GATES:
        for kind in ("input", "recurrent"):
            k = f"{kind}_to_{g}"
            data = (rng.integers(-weight_range, weight_range + 1, shape[k]) if integer
                    else rng.standard_normal(shape[k]) * 0.5)
            index[k] = b.add_tensor(shape[k], dtypes[k], k, data, quant[k])
    for g in GATES:
        k = f"{g}_bias"
        bias_scale = small * small if integer and dtype == np.int16 else 1
        data = (rng.integers(-bias_range, bias_range, shape[k]) * bias_scale if integer
                else rng.standard_normal(shape[k]) * 0.5)
        index[k] = b.add_tensor(shape[k], dtypes[k], k, data, quant[k])
    for k in ("output_state", "cell_state"):
        index[k] = b.add_tensor(shape[k], dtypes[k], k, quant=quant[k], is_variable=variable)
    extras = {}
    for position, extra_shape in (extra or {}).items():
        extras[position] = b.add_tensor(extra_shape, dtypes["input_to_input"],
                                        f"extra_{position}",
                                        np.ones(extra_shape, dtypes["input_to_input"]),
                                        quant["input_to_input"])
    inputs = [index["input"]] + [index[f"input_to_{g}"] for g in GATES] \
        + [index[f"recurrent_to_{g}"] for g in GATES] + [-1, -1, -1] \
        + [index[f"{g}_bias"] for g in GATES] + [-1, -1] \
        + [index["output_state"], index["cell_state"]] + [-1, -1, -1, -1]
    for position, t in extras.items():
        inputs[position] = t
    for position in drop:
        inputs[position] = -1
    middle = []
    if integer and intermediates:
        for g in GATES:
            middle.append(b.add_tensor((0,), np.float32, f"input_to_{g}_intermediate"))
        middle.append(b.add_tensor((0,), activation_dtype, "effective_hidden_scale_intermediate",
                                   quant=quant["output_state"]))
    output = b.add_tensor(shape["output"], dtypes["output"], "output", quant=quant["output"])
    b.add_operator(Op.UNIDIRECTIONAL_SEQUENCE_LSTM, inputs, [output],
                   UnidirectionalSequenceLSTMOptions(fused_activation_function=act,
                                                     cell_clip=cell_clip,
                                                     time_major=time_major),
                   version=version)
    b.operators[-1] = dataclasses.replace(b.operators[-1], intermediates=tuple(middle))
    b.mark_output(output)
    return b.build()
