"""A trained tflm_edu.train.Sequential -> a float32 .tflite Model.

What TensorFlow's converter does for a Keras model, layer by layer, in the open:

- Dense -> FULLY_CONNECTED. Keras keeps the kernel as [in, out]; TFLite wants [out, in].
- Conv2D -> CONV_2D with its filter in OHWI order [out, kh, kw, in]. A conv over a single
  input channel becomes DEPTHWISE_CONV_2D with depth_multiplier = filters, as the old TOCO
  converter wrote it (the same arithmetic, a cheaper kernel; TF 2.x's MLIR converter keeps
  a plain CONV_2D).
- DepthwiseConv2D -> DEPTHWISE_CONV_2D with its filter as [1, kh, kw, in * multiplier].
- BatchNormalization is folded into the conv/dense before it: at inference BN is
  x * scale + shift per channel, so the filter's output channel is scaled and the bias
  becomes bias * scale + shift. No op is left behind.
- ReLU / ReLU6 (a layer or an `activation=`) becomes the fused activation of the op that
  produces its input; only where that op cannot fuse it is a RELU / RELU6 op written.
- MaxPool2D / AveragePool2D -> MAX_POOL_2D / AVERAGE_POOL_2D; GlobalAveragePool -> MEAN
  over axes 1, 2.
- Flatten right before a Dense disappears: FULLY_CONNECTED flattens its input itself.
  Any other Flatten / Reshape -> RESHAPE with a shape tensor.
- Softmax -> SOFTMAX (beta 1). Dropout is the identity at inference and is dropped.

Every model has batch size 1 (a microcontroller runs one example at a time).
"""
from __future__ import annotations

import numpy as np

from tflm_edu.errors import ModelError
from tflm_edu.schema import options as opts
from tflm_edu.schema.builder import ModelBuilder
from tflm_edu.schema.enums import ActivationFunctionType as Act, BuiltinOperator as Op, Padding
from tflm_edu.schema.model import Model

_FUSABLE = (Op.CONV_2D, Op.DEPTHWISE_CONV_2D, Op.FULLY_CONNECTED, Op.MAX_POOL_2D,
            Op.AVERAGE_POOL_2D)
_ACTIVATIONS = {None: Act.NONE, "relu": Act.RELU, "relu6": Act.RELU6}


class _Graph:
    """The ModelBuilder plus what the conversion needs to remember about the last op."""

    def __init__(self, description):
        self.builder = ModelBuilder(description=description)
        self.last_op = None        # index into builder.operators of the op producing `current`
        self.current = None        # tensor index of the running activation
        self.foldable = None       # (layer name, weights, bias) of a linear op BN may fold into

    def tensor(self, shape, name, data=None, dtype=np.float32):
        return self.builder.add_tensor(shape, dtype, name=name, data=data)

    def op(self, code, inputs, out_shape, name, options=None, version=1):
        out = self.tensor(out_shape, name)
        self.last_op = self.builder.add_operator(code, inputs, [out], options, version=version)
        self.current = out
        self.foldable = None
        return out

    def last_code(self):
        if self.last_op is None:
            return None
        op = self.builder.operators[self.last_op]
        return self.builder.operator_codes[op.opcode_index].builtin_code

    def activation(self, name: str | None, layer_name: str) -> None:
        """Fuse `name` into the producing op, or write it as its own op."""
        act = _ACTIVATIONS[name]
        if act == Act.NONE:
            return
        if self.last_code() in _FUSABLE:
            options = self.builder.operators[self.last_op].builtin_options
            if options.fused_activation_function == Act.NONE:
                options.fused_activation_function = act
                self.foldable = None     # BN cannot fold past an activation
                return
        shape = self.builder.tensors[self.current].shape
        self.op(Op.RELU if act == Act.RELU else Op.RELU6, [self.current], shape, layer_name)


def _padding(layer) -> int:
    return Padding.SAME if layer.padding == "same" else Padding.VALID


def convert_sequential(model, description: str = "tflm_edu converter") -> Model:
    """The float32 Model of a built (and normally trained) Sequential."""
    from tflm_edu.train import (AveragePool2D, BatchNormalization, Conv2D, Dense, DepthwiseConv2D,
                                Dropout, Flatten, GlobalAveragePool, MaxPool2D, ReLU, ReLU6,
                                Reshape, Softmax)
    layers = list(getattr(model, "layers", []))
    if not layers or not hasattr(layers[0], "input_shape"):
        raise ModelError("convert_sequential needs a built tflm_edu.train.Sequential "
                         "(give it input_shape=...)")
    g = _Graph(description)
    g.current = g.builder.add_input((1, *layers[0].input_shape), np.float32, name="input")
    g.builder.tensors[g.current].name = "input"
    for i, layer in enumerate(layers):
        name = layer.name
        out_shape = (1, *layer.output_shape)
        nxt = layers[i + 1] if i + 1 < len(layers) else None
        if isinstance(layer, Dense):
            weights = np.ascontiguousarray(layer.kernel.T, np.float32)       # [out, in]
            w = g.tensor(weights.shape, f"{name}/kernel", weights)
            b = g.tensor((layer.units,), f"{name}/bias", layer.bias.astype(np.float32))
            g.op(Op.FULLY_CONNECTED, [g.current, w, b], out_shape, name,
                 opts.FullyConnectedOptions())
            g.foldable = (w, b, 0)
            g.activation(layer.activation, f"{name}/{layer.activation}")
        elif isinstance(layer, (Conv2D, DepthwiseConv2D)):
            kh, kw = layer.kernel_size
            in_ch = layer.input_shape[-1]
            out_ch = layer.output_shape[-1]
            depthwise = isinstance(layer, DepthwiseConv2D) or in_ch == 1
            bias = layer.bias if layer.use_bias else np.zeros(out_ch, np.float32)
            common = dict(padding=_padding(layer), stride_w=layer.strides[1],
                          stride_h=layer.strides[0], dilation_w_factor=layer.dilation_rate[1],
                          dilation_h_factor=layer.dilation_rate[0])
            if depthwise:
                # (kh, kw, C, M) -> [1, kh, kw, C*M]: channel c*M + m, as the kernel computes
                filt = np.ascontiguousarray(layer.kernel.reshape(1, kh, kw, out_ch), np.float32)
                multiplier = out_ch // in_ch
                code, options = Op.DEPTHWISE_CONV_2D, opts.DepthwiseConv2DOptions(
                    depth_multiplier=multiplier, **common)
                version = 2 if layer.dilation_rate != (1, 1) else 1
                axis = 3
            else:
                filt = np.ascontiguousarray(layer.kernel.transpose(3, 0, 1, 2), np.float32)
                code, options, version, axis = Op.CONV_2D, opts.Conv2DOptions(**common), 1, 0
            w = g.tensor(filt.shape, f"{name}/kernel", filt)
            b = g.tensor((out_ch,), f"{name}/bias", bias.astype(np.float32))
            g.op(code, [g.current, w, b], out_shape, name, options, version=version)
            g.foldable = (w, b, axis)
            g.activation(layer.activation, f"{name}/{layer.activation}")
        elif isinstance(layer, BatchNormalization):
            if g.foldable is None:
                raise ModelError(f"{name}: BatchNormalization can only be converted right after "
                                 "a Conv2D, DepthwiseConv2D or Dense without an activation "
                                 "(it is folded into their weights); move the activation after it")
            _fold(g, layer, *g.foldable)
        elif isinstance(layer, (ReLU, ReLU6)):
            g.activation("relu" if isinstance(layer, ReLU) else "relu6", name)
        elif isinstance(layer, (MaxPool2D, AveragePool2D)):
            code = Op.MAX_POOL_2D if isinstance(layer, MaxPool2D) else Op.AVERAGE_POOL_2D
            g.op(code, [g.current], out_shape, name, opts.Pool2DOptions(
                padding=_padding(layer), stride_w=layer.strides[1], stride_h=layer.strides[0],
                filter_width=layer.pool_size[1], filter_height=layer.pool_size[0]))
        elif isinstance(layer, GlobalAveragePool):
            axes = g.tensor((2,), f"{name}/axes", np.array([1, 2], np.int32), dtype=np.int32)
            g.op(Op.MEAN, [g.current, axes], out_shape, name, opts.ReducerOptions(keep_dims=False))
        elif isinstance(layer, Flatten) and isinstance(nxt, Dense):
            continue            # FULLY_CONNECTED flattens its input itself
        elif isinstance(layer, (Flatten, Reshape)):
            shape = np.array(out_shape, np.int32)
            s = g.tensor((len(shape),), f"{name}/shape", shape, dtype=np.int32)
            g.op(Op.RESHAPE, [g.current, s], out_shape, name,
                 opts.ReshapeOptions(new_shape=tuple(int(d) for d in shape)))
        elif isinstance(layer, Softmax):
            g.op(Op.SOFTMAX, [g.current], out_shape, name, opts.SoftmaxOptions(beta=1.0))
        elif isinstance(layer, Dropout):
            continue
        else:
            raise ModelError(f"{name}: the converter does not know {type(layer).__name__} layers; "
                             "supported: Dense, Conv2D, DepthwiseConv2D, BatchNormalization, "
                             "ReLU, ReLU6, MaxPool2D, AveragePool2D, GlobalAveragePool, Flatten, "
                             "Reshape, Softmax, Dropout")
    g.builder.tensors[g.current].name = "output"
    g.builder.mark_output(g.current)
    return g.builder.build()


def _fold(g: _Graph, bn, w: int, b: int, axis: int) -> None:
    """Fold inference-mode BN (x * scale + shift) into the weights and bias of the last op."""
    scale, shift = (np.asarray(a, np.float64) for a in bn.folded())
    wt, bt = g.builder.tensors[w], g.builder.tensors[b]
    weights = np.frombuffer(g.builder.buffers[wt.buffer].data, np.float32).reshape(wt.shape)
    bias = np.frombuffer(g.builder.buffers[bt.buffer].data, np.float32)
    shape = [1] * weights.ndim
    shape[axis] = -1
    new_w = (weights * scale.reshape(shape)).astype(np.float32)
    new_b = (bias * scale + shift).astype(np.float32)
    g.builder.buffers[wt.buffer].data = new_w.tobytes()
    g.builder.buffers[bt.buffer].data = new_b.tobytes()
    g.foldable = None


__all__ = ["convert_sequential"]
