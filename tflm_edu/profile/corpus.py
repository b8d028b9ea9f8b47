"""The models the cost model learns from: one op each, spanning the shapes real models use.

Two sources:
  * synthetic_corpus(seed): seeded random one-op models of the ops that dominate TinyML
    models (convolutions, depthwise, fully connected, pools, element-wise, softmax, ...),
    each built in float32 with tflm_edu's ModelBuilder and, for the int8 and int16x8
    variants, quantized by tflm_edu's own quantizer, so scales and zero points are real;
  * slice_ops(model): every op of a real model cut out as a model of its own, with its
    constants, so the ops and parameters real models use are measured too.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from tflm_edu.errors import InputError, ModelError
from tflm_edu.schema import as_model, options as o, write_model
from tflm_edu.schema.builder import ModelBuilder, quantization
from tflm_edu.schema.enums import (NUMPY_DTYPE, ActivationFunctionType as Act,
                                   BuiltinOperator as Op, Padding, TensorType, tensor_type_of)

MAX_REFERENCE_MACS = 600_000       # keeps one reference-kernel invoke under ~15 M instructions


@dataclass
class CorpusModel:
    """One model of the corpus and where it came from."""
    name: str
    data: bytes


def _out_size(size: int, kernel: int, stride: int, padding: int, dilation: int = 1) -> int:
    effective = (kernel - 1) * dilation + 1
    if padding == Padding.SAME:
        return (size + stride - 1) // stride
    return (size - effective + stride) // stride


def _float_model(op, x_shape, constants: list, out_shape, options, extra_inputs=()) -> bytes:
    """A float32 model: one activation input (plus `extra_inputs` shapes), constants in
    input order after it, one output."""
    b = ModelBuilder(description="tflm_edu cost corpus")
    inputs = [b.add_input(x_shape, np.float32)]
    inputs += [b.add_input(shape, np.float32) for shape in extra_inputs]
    for data in constants:
        if data is None:
            inputs.append(-1)
        else:
            inputs.append(b.add_tensor(np.shape(data), np.asarray(data).dtype, data=data))
    y = b.add_tensor(out_shape, np.float32)
    b.add_operator(op, inputs, [y], options)
    b.mark_output(y)
    return b.build()


def _variants(float_model, rng, name: str, dtypes, whole_inputs: bool = False) -> list:
    """The float model and its int8 / int16x8 quantizations by tflm_edu's quantizer,
    calibrated on samples of each input without its batch dimension (which the quantizer
    takes for a batch of 1 only) or, `whole_inputs`, of the whole input."""
    from tflm_edu.convert.quantize import quantize_model
    models = []
    graph = float_model.subgraphs[0]
    calibration = [rng.standard_normal((8, *graph.tensors[i].shape[0 if whole_inputs else 1:]))
                   .astype(np.float32) for i in graph.inputs]
    for dtype in dtypes:
        if dtype == "float32":
            models.append(CorpusModel(f"{name}/float32", write_model(float_model)))
            continue
        mode = "int8" if dtype == "int8" else "int16x8"
        data = calibration[0] if len(calibration) == 1 else calibration
        try:
            quantized = quantize_model(float_model, data, mode=mode, progress=False)
        except (InputError, ModelError):    # the quantizer refuses this op in this mode
            continue
        models.append(CorpusModel(f"{name}/{dtype}", write_model(quantized)))
    return models


def _conv(rng, depthwise: bool, multiplier: bool = False):
    for _ in range(50):
        size = int(rng.choice([1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 40, 48]))
        h = size
        w = size if rng.random() < 0.7 else int(rng.choice([1, 2, 4, 8, 16, 32]))
        k = rng.choice([(1, 1), (3, 3), (5, 5), (3, 1), (1, 3), (7, 7), (2, 2), (8, 10)],
                       p=[.25, .35, .1, .05, .05, .05, .05, .1])
        kh, kw = int(min(k[0], h + 2)), int(min(k[1], w + 2))
        stride = int(rng.choice([1, 2], p=[.7, .3]))
        padding = Padding.SAME if rng.random() < 0.6 else Padding.VALID
        cin = int(rng.choice([1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128]))
        mult = 1 if not depthwise or (not multiplier and rng.random() < 0.85) else \
            int(rng.choice([2, 4, 8]))
        cout = cin * mult if depthwise else int(rng.choice([1, 2, 4, 8, 12, 16, 24, 32, 48,
                                                            64, 96, 128]))
        oh = _out_size(h, kh, stride, padding)
        ow = _out_size(w, kw, stride, padding)
        macs = oh * ow * cout * kh * kw * (1 if depthwise else cin)
        if oh >= 1 and ow >= 1 and 0 < macs <= MAX_REFERENCE_MACS:
            return h, w, kh, kw, stride, padding, cin, cout, mult, oh, ow
    return None


def _window_conv(rng, depthwise: bool = False, multiplier: bool = False):
    """A convolution whose cost is its im2col rather than its products: few input and
    output channels, wide filters (keyword spotting's first layer: 1 channel, 10x8)."""
    for _ in range(50):
        h, w = (int(v) for v in rng.choice([5, 8, 10, 12, 16, 20, 25, 32, 40, 49], 2))
        kh, kw = (int(min(v, s + 2)) for v, s in zip(rng.choice([2, 3, 4, 5, 8, 10], 2),
                                                       (h, w)))
        stride = int(rng.choice([1, 2, 3]))
        padding = Padding.SAME if rng.random() < 0.6 else Padding.VALID
        cin = int(rng.choice([1, 1, 2, 3, 4, 5, 8]))
        cout = int(rng.choice([1, 2, 3, 4, 8, 16]))
        oh, ow = _out_size(h, kh, stride, padding), _out_size(w, kw, stride, padding)
        if oh >= 1 and ow >= 1 and 0 < oh * ow * cout * kh * kw * cin <= MAX_REFERENCE_MACS:
            return h, w, kh, kw, stride, padding, cin, cout, 1, oh, ow
    return None


def _conv_model(rng, depthwise: bool, multiplier: bool = False, shapes=_conv):
    shape = shapes(rng, depthwise, multiplier)
    if shape is None:
        return None, ""
    h, w, kh, kw, stride, padding, cin, cout, mult, oh, ow = shape
    act = int(rng.choice([Act.NONE, Act.RELU, Act.RELU6]))
    weights = (rng.standard_normal((1 if depthwise else cout, kh, kw, cout if depthwise else cin))
               * 0.2).astype(np.float32)
    bias = (rng.standard_normal(cout) * 0.1).astype(np.float32)
    if depthwise:
        options = o.DepthwiseConv2DOptions(padding=padding, stride_h=stride, stride_w=stride,
                                           depth_multiplier=mult, fused_activation_function=act)
        op = Op.DEPTHWISE_CONV_2D
    else:
        options = o.Conv2DOptions(padding=padding, stride_h=stride, stride_w=stride,
                                  fused_activation_function=act)
        op = Op.CONV_2D
    name = (f"{op.name} {h}x{w}x{cin} k{kh}x{kw} s{stride} "
            f"{'same' if padding == Padding.SAME else 'valid'} -> {oh}x{ow}x{cout}")
    return _float_model(op, (1, h, w, cin), [weights, bias], (1, oh, ow, cout), options), name


def _fc_model(rng):
    batch = int(rng.choice([1, 1, 1, 2, 4]))
    depth = int(rng.choice([2, 3, 4, 8, 16, 25, 32, 64, 100, 128, 250, 256, 400, 512, 1000]))
    units = int(rng.choice([1, 2, 3, 4, 8, 10, 12, 16, 32, 64, 100, 128, 256]))
    if batch * depth * units > MAX_REFERENCE_MACS:
        units = max(1, MAX_REFERENCE_MACS // (batch * depth))
    weights = (rng.standard_normal((units, depth)) * 0.1).astype(np.float32)
    bias = (rng.standard_normal(units) * 0.1).astype(np.float32)
    act = int(rng.choice([Act.NONE, Act.RELU]))
    options = o.FullyConnectedOptions(fused_activation_function=act)
    return (_float_model(Op.FULLY_CONNECTED, (batch, depth), [weights, bias], (batch, units),
                         options), f"FULLY_CONNECTED {batch}x{depth} -> {units}")


def _pool_model(rng):
    op = Op.AVERAGE_POOL_2D if rng.random() < 0.5 else Op.MAX_POOL_2D
    size = int(rng.choice([2, 3, 4, 6, 8, 12, 16, 24, 32, 48]))
    c = int(rng.choice([1, 2, 4, 8, 16, 32, 64, 128]))
    k = int(rng.choice([2, 3, 2, size]))
    k = min(k, size)
    stride = int(rng.choice([1, 2])) if k < size else 1
    padding = Padding.SAME if rng.random() < 0.5 else Padding.VALID
    if k == size:
        padding = Padding.VALID            # a global pool, as models write it
    while c > 1 and _out_size(size, k, stride, padding) ** 2 * k * k * c > MAX_REFERENCE_MACS:
        c //= 2
    oh = _out_size(size, k, stride, padding)
    options = o.Pool2DOptions(padding=padding, stride_h=stride, stride_w=stride,
                              filter_width=k, filter_height=k)
    return (_float_model(op, (1, size, size, c), [], (1, oh, oh, c), options),
            f"{op.name} {size}x{size}x{c} k{k} s{stride}")


def _elementwise_model(rng):
    op = Op(rng.choice([Op.ADD, Op.MUL, Op.SUB]))
    n = int(rng.choice([1, 4, 16, 64, 100, 256, 1000, 2048, 4096, 10000]))
    shape = (1, n)
    if rng.random() < 0.3 and n >= 4:
        shape2 = (1, 1)
    else:
        shape2 = shape
    options = {Op.ADD: o.AddOptions(), Op.MUL: o.MulOptions(), Op.SUB: o.SubOptions()}[op]
    return (_float_model(op, shape, [], shape, options, extra_inputs=[shape2]),
            f"{op.name} {shape} {shape2}")


def _unary_model(rng):
    op = Op(rng.choice([Op.LOGISTIC, Op.TANH, Op.RELU, Op.SOFTMAX, Op.RESHAPE, Op.MEAN]))
    n = int(rng.choice([2, 4, 10, 16, 64, 100, 256, 1000, 2048]))
    rows = int(rng.choice([1, 1, 2, 4, 16]))
    shape = (1, rows, n)
    constants, out, options = [], shape, None
    if op == Op.SOFTMAX:
        options = o.SoftmaxOptions(beta=1.0)
    elif op == Op.RESHAPE:
        constants = [np.array([1, rows * n], np.int32)]
        out = (1, rows * n)
        options = o.ReshapeOptions(new_shape=(1, rows * n))
    elif op == Op.MEAN:
        constants = [np.array([1], np.int32)]
        out = (1, n)
        options = o.ReducerOptions(keep_dims=False)
    return _float_model(op, shape, constants, out, options), f"{op.name} {shape}"


def _pad_model(rng):
    size, c = int(rng.choice([2, 4, 8, 16, 32])), int(rng.choice([1, 3, 8, 16, 32]))
    before, after = int(rng.integers(0, 3)), int(rng.integers(0, 3))
    paddings = np.array([[0, 0], [before, after], [before, after], [0, 0]], np.int32)
    out = (1, size + before + after, size + before + after, c)
    return (_float_model(Op.PAD, (1, size, size, c), [paddings], out, None),
            f"PAD {size}x{size}x{c} +{before}/{after}")


def _svdf_model(rng):
    """An SVDF layer as keyword models stack them: feature weights, a time filter over
    `memory` past steps kept in a variable state tensor, rank filters per unit (relu)."""
    batch = 1             # as keyword models run it: one step of audio features per invoke
    size = int(rng.choice([8, 16, 32, 40, 64, 128]))
    rank = int(rng.choice([1, 1, 2]))
    units = int(rng.choice([4, 8, 16, 32, 64]))
    memory = int(rng.choice([4, 8, 10, 16, 32]))
    filters = units * rank
    b = ModelBuilder(description="tflm_edu cost corpus")
    x = b.add_input((batch, size), np.float32)
    inputs = [x] + [b.add_tensor(shape, np.float32, data=rng.normal(0, std, shape)
                                 .astype(np.float32))
                    for shape, std in [((filters, size), 0.3), ((filters, memory), 0.4),
                                       ((units,), 0.1)]]
    inputs.append(b.add_tensor((batch, filters * memory), np.float32, is_variable=True))
    y = b.add_tensor((batch, units), np.float32)
    b.add_operator(Op.SVDF, inputs, [y], o.SVDFOptions(rank=rank,
                                                       fused_activation_function=Act.RELU))
    b.mark_output(y)
    return b.build(), f"SVDF {batch}x{size} units {units} rank {rank} memory {memory}"


def _graph_model(op, inputs: list, outputs: list, options=None) -> bytes:
    """A float32 model of one op with several inputs and outputs: an input given as a shape
    is an activation (a model input), one given as an array is a constant."""
    b = ModelBuilder(description="tflm_edu cost corpus")
    indices = []
    for x in inputs:
        if isinstance(x, tuple):
            indices.append(b.add_input(x, np.float32))
        else:
            indices.append(b.add_tensor(np.shape(x), np.asarray(x).dtype, data=np.asarray(x)))
    ys = [b.add_tensor(shape, dtype) for shape, dtype in outputs]
    b.add_operator(op, indices, ys, options)
    for y in ys:
        b.mark_output(y)
    return b.build()


def _activation_shape(rng, rank: int | None = None) -> tuple:
    """A random NHWC-like activation shape of rank 2 to 4, batch 1."""
    rank = rank or int(rng.choice([2, 3, 4, 4]))
    sizes = [1, 2, 3, 4, 5, 8, 10, 16, 20, 32, 49, 64]
    shape = [1] + [int(rng.choice(sizes)) for _ in range(rank - 1)]
    while np.prod(shape) > 40_000:
        shape[int(np.argmax(shape))] //= 2
    return tuple(shape)


def _data_movement_model(rng):
    """The ops that only move or pick bytes, as streaming and reshaping layers use them."""
    ops = ["CONCATENATION", "SPLIT", "SPLIT_V", "STRIDED_SLICE", "SLICE", "TRANSPOSE",
           "GATHER", "PACK", "UNPACK", "SQUEEZE", "EXPAND_DIMS", "RESIZE_NEAREST_NEIGHBOR",
           "DEPTH_TO_SPACE", "SPACE_TO_DEPTH"]
    name = str(rng.choice(ops))
    shape = _activation_shape(rng)
    axis = int(rng.integers(1, len(shape)))
    f32, i32 = np.float32, np.int32
    if name == "CONCATENATION":
        parts = [tuple(int(rng.choice([1, 2, 4, 8, 16, 32])) if d == axis else n
                       for d, n in enumerate(shape)) for _ in range(int(rng.integers(2, 4)))]
        out = tuple(sum(p[axis] for p in parts) if d == axis else n for d, n in enumerate(shape))
        model = _graph_model(Op.CONCATENATION, parts, [(out, f32)],
                             o.ConcatenationOptions(axis=axis))
        return model, f"CONCATENATION {parts} axis {axis}"
    if name in ("SPLIT", "SPLIT_V"):
        count = int(rng.choice([2, 3, 4]))
        shape = tuple(n * count if d == axis else n for d, n in enumerate(shape))
        part = tuple(n // count if d == axis else n for d, n in enumerate(shape))
        outs = [(part, f32)] * count
        if name == "SPLIT":
            model = _graph_model(Op.SPLIT, [np.array(axis, i32), shape], outs,
                                 o.SplitOptions(num_splits=count))
        else:
            sizes = np.full(count, shape[axis] // count, i32)
            model = _graph_model(Op.SPLIT_V, [shape, sizes, np.array(axis, i32)], outs,
                                 o.SplitVOptions(num_splits=count))
        return model, f"{name} {shape} axis {axis} into {count}"
    if name in ("STRIDED_SLICE", "SLICE"):
        begin = [int(rng.integers(0, max(1, n // 2 + 1))) for n in shape]
        size = [int(rng.integers(1, n - b + 1)) for n, b in zip(shape, begin)]
        out = tuple(size)
        if name == "SLICE":
            model = _graph_model(Op.SLICE, [shape, np.array(begin, i32), np.array(size, i32)],
                                 [(out, f32)])
        else:
            end = [b + n for b, n in zip(begin, size)]
            model = _graph_model(Op.STRIDED_SLICE, [shape, np.array(begin, i32),
                                                    np.array(end, i32),
                                                    np.ones(len(shape), i32)],
                                 [(out, f32)], o.StridedSliceOptions())
        return model, f"{name} {shape} -> {out}"
    if name == "TRANSPOSE":
        perm = np.concatenate([[0], 1 + rng.permutation(len(shape) - 1)]).astype(i32)
        out = tuple(shape[i] for i in perm)
        return (_graph_model(Op.TRANSPOSE, [shape, perm], [(out, f32)]),
                f"TRANSPOSE {shape} {perm.tolist()}")
    if name == "GATHER":
        count = int(rng.choice([1, 2, 4, 8, 16]))
        indices = rng.integers(0, shape[axis], count).astype(i32)
        out = tuple(count if d == axis else n for d, n in enumerate(shape))
        return (_graph_model(Op.GATHER, [shape, indices], [(out, f32)],
                             o.GatherOptions(axis=axis)),
                f"GATHER {shape} axis {axis} x{count}")
    if name == "PACK":
        count = int(rng.choice([2, 3, 4]))
        out = shape[:axis] + (count,) + shape[axis:]
        return (_graph_model(Op.PACK, [shape] * count, [(out, f32)],
                             o.PackOptions(values_count=count, axis=axis)),
                f"PACK {count} x {shape} axis {axis}")
    if name == "UNPACK":
        count = shape[axis]
        if count > 16:
            shape = tuple(4 if d == axis else n for d, n in enumerate(shape))
            count = 4
        out = shape[:axis] + shape[axis + 1:]
        return (_graph_model(Op.UNPACK, [shape], [(out, f32)] * count,
                             o.UnpackOptions(num=count, axis=axis)),
                f"UNPACK {shape} axis {axis}")
    if name == "SQUEEZE":
        out = tuple(n for d, n in enumerate(shape) if d != 0)
        return (_graph_model(Op.SQUEEZE, [shape], [(out, f32)], o.SqueezeOptions((0,))),
                f"SQUEEZE {shape}")
    if name == "EXPAND_DIMS":
        out = shape[:axis] + (1,) + shape[axis:]
        return (_graph_model(Op.EXPAND_DIMS, [shape, np.array([axis], i32)], [(out, f32)]),
                f"EXPAND_DIMS {shape} axis {axis}")
    shape = _activation_shape(rng, 4)
    block = 2
    if name == "RESIZE_NEAREST_NEIGHBOR":
        size = np.array([shape[1] * block, shape[2] * block], i32)
        out = (1, int(size[0]), int(size[1]), shape[3])
        return (_graph_model(Op.RESIZE_NEAREST_NEIGHBOR, [shape, size], [(out, f32)],
                             o.ResizeNearestNeighborOptions()),
                f"RESIZE_NEAREST_NEIGHBOR {shape} x{block}")
    if name == "DEPTH_TO_SPACE":
        shape = shape[:3] + (shape[3] * block * block,)
        out = (1, shape[1] * block, shape[2] * block, shape[3] // (block * block))
        return (_graph_model(Op.DEPTH_TO_SPACE, [shape], [(out, f32)],
                             o.DepthToSpaceOptions(block_size=block)), f"DEPTH_TO_SPACE {shape}")
    shape = (1, shape[1] * block, shape[2] * block, shape[3])
    out = (1, shape[1] // block, shape[2] // block, shape[3] * block * block)
    return (_graph_model(Op.SPACE_TO_DEPTH, [shape], [(out, f32)],
                         o.SpaceToDepthOptions(block_size=block)), f"SPACE_TO_DEPTH {shape}")


def _math_model(rng):
    """Element-wise math and comparisons beyond ADD/SUB/MUL, and reductions."""
    unary = {"ABS": None, "NEG": None, "HARD_SWISH": None, "RELU6": None,
             "LEAKY_RELU": o.LeakyReluOptions(alpha=0.2), "EXP": None, "ELU": None,
             "SQRT": None, "LOG": None, "SQUARE": None, "FLOOR": None}
    # No DIV: an int8 divisor at its zero point (the firmware's random inputs have them)
    # stops the emulated board, where TFLM divides by zero.
    binary = {"MAXIMUM": None, "MINIMUM": None, "SQUARED_DIFFERENCE": None,
              "LESS": None, "GREATER": None, "EQUAL": None}
    reducers = ["SUM", "REDUCE_MAX", "REDUCE_MIN"]
    name = str(rng.choice(list(unary) + list(binary) + reducers))
    shape = _activation_shape(rng)
    f32 = np.float32
    if name in unary:
        return (_graph_model(Op[name], [shape], [(shape, f32)], unary[name]),
                f"{name} {shape}")
    if name in binary:
        out = np.bool_ if name in ("LESS", "GREATER", "EQUAL") else f32
        return (_graph_model(Op[name], [shape, shape], [(shape, out)], binary[name]),
                f"{name} {shape}")
    axis = int(rng.integers(1, len(shape)))
    out = tuple(n for d, n in enumerate(shape) if d != axis)
    return (_graph_model(Op[name], [shape, np.array([axis], np.int32)], [(out, f32)],
                         o.ReducerOptions(keep_dims=False)), f"{name} {shape} axis {axis}")


def _state_model(rng):
    """A streaming layer's state, as wake-word models keep it: CALL_ONCE zeroes a resource
    variable; each invoke reads it (READ_VARIABLE), appends the new frame (CONCATENATION),
    keeps the last `memory` frames (STRIDED_SLICE) and writes them back (ASSIGN_VARIABLE).
    Built directly in float32 or int8 (tflm_edu's quantizer does not write resource ops)."""
    memory = int(rng.choice([1, 2, 3, 4, 5, 8]))
    frame = int(rng.choice([1, 2, 4]))
    channels = int(rng.choice([1, 8, 16, 20, 32, 40, 64, 128]))
    dtype = np.int8 if rng.random() < 0.6 else np.float32
    quant = quantization(0.05, -3) if dtype == np.int8 else None
    i32 = np.int32

    def handle(b):
        index = b.add_tensor((), np.int32, "state_handle")
        b.tensors[index] = dataclasses.replace(b.tensors[index], type=TensorType.RESOURCE)
        b.add_operator(Op.VAR_HANDLE, [], [index], o.VarHandleOptions(shared_name="state"))
        return index

    b = ModelBuilder(description="tflm_edu cost corpus")
    x = b.add_input((1, frame, channels), dtype, quant=quant)
    b.add_operator(Op.CALL_ONCE, [], [], o.CallOnceOptions(init_subgraph_index=1))
    h = handle(b)
    state = b.add_tensor((1, memory, channels), dtype, "state", quant=quant)
    b.add_operator(Op.READ_VARIABLE, [h], [state])
    joined = b.mark_output(b.add_tensor((1, memory + frame, channels), dtype, "joined",
                                        quant=quant))
    b.add_operator(Op.CONCATENATION, [state, x], [joined], o.ConcatenationOptions(axis=1))
    kept = b.add_tensor((1, memory, channels), dtype, "kept", quant=quant)
    b.add_operator(Op.STRIDED_SLICE, [joined, b.add_tensor((3,), i32, data=np.array([0, frame, 0], i32)),
                                      b.add_tensor((3,), i32, data=np.array([1, memory + frame, channels], i32)),
                                      b.add_tensor((3,), i32, data=np.ones(3, i32))],
                   [kept], o.StridedSliceOptions())
    b.add_operator(Op.ASSIGN_VARIABLE, [h, kept], [])
    b.begin_subgraph("init")
    h = handle(b)
    zeros = b.add_tensor((1, memory, channels), dtype, "zeros",
                         np.full((1, memory, channels), -3 if quant else 0, dtype), quant)
    b.add_operator(Op.ASSIGN_VARIABLE, [h, zeros], [])
    name = f"state {np.dtype(dtype).name} memory {memory} frame {frame} x {channels}"
    return b.build(), name


QUANTIZE_PAIRS = [("float32", "int8"), ("float32", "int16"), ("int8", "int8"),
                  ("int16", "int8"), ("int16", "int16"), ("int8", "int16"),
                  ("int8", "float32"), ("int16", "float32")]
# The rest of the pairs TFLM's QUANTIZE takes (the quantize_more kind).
QUANTIZE_MORE_PAIRS = [("int8", "uint8"), ("uint8", "int8"), ("int8", "int32"),
                       ("int16", "int32"), ("int32", "int8"), ("int32", "int16"),
                       ("float32", "int16")]


# Float in or out, with scales from far below to far above the firmware's inputs (floats in
# [-2, 2], int8 and int16 codes over their range): roundf's short path below 1, clamping, and
# DEQUANTIZE's zero differences in every proportion (the quantize_values kind).
QUANTIZE_VALUE_PAIRS = [("float32", "int8"), ("float32", "int16"), ("int8", "float32"),
                        ("int16", "float32")]


def _quantize_model(rng, pairs=QUANTIZE_PAIRS, wide_scales: bool = False):
    """QUANTIZE between every pair of types models use (float to int8/int16, requantizing
    int8/int16 to int8/int16) and DEQUANTIZE back to float, built with explicit scales."""
    source, target = pairs[int(rng.integers(len(pairs)))]
    shape = _activation_shape(rng)

    def quant(dtype):
        if dtype == "float32":
            return None
        zero = (0 if dtype in ("int16", "int32") else int(rng.integers(-20, 20))
                + (128 if dtype == "uint8" else 0))
        if wide_scales:     # a third of them powers of two (softmax outputs' 1/256)
            scale = (2.0 ** -int(rng.integers(0, 12)) if rng.random() < 0.33
                     else float(10 ** rng.uniform(-3.5, 0.5)))
            return quantization(scale, zero)
        return quantization(float(rng.uniform(0.005, 0.1)), zero)
    b = ModelBuilder(description="tflm_edu cost corpus")
    op = Op.DEQUANTIZE if target == "float32" else Op.QUANTIZE
    q_source = quant(source)
    if wide_scales and op == Op.DEQUANTIZE:
        # a constant input, a random share of it at the zero point (the quick products)
        info = np.iinfo(np.dtype(source))
        codes = rng.integers(info.min, info.max + 1, shape)
        codes[rng.random(shape) < rng.random()] = q_source.zero_point[0]
        x = b.add_tensor(shape, np.dtype(source), data=codes.astype(source), quant=q_source)
    else:
        x = b.add_input(shape, np.dtype(source), quant=q_source)
    y = b.mark_output(b.add_tensor(shape, np.dtype(target), quant=quant(target)))
    b.add_operator(op, [x], [y])
    return b.build(), f"{op.name} {source}->{target} {shape}"


# -- the ops the kinds above leave out ---------------------------------------------------
# Built directly in each type TFLM computes (float32, int8, int16; bool and int32 where the
# op takes them) with _typed_model, or in float32 for tflm_edu's quantizer (_variants) where
# the kernel ties its output scale to its inputs. The profiling firmware fills inputs with
# pseudo-random bytes (floats in [-2, 2]), so divisors and indices are constants: a zero
# divisor or an index out of range stops the board or fails the invoke.

def _quant(rng, dtype: str):
    """Random affine parameters for an activation of `dtype` (None: not quantized)."""
    if dtype == "int8":
        return quantization(float(rng.uniform(0.01, 0.1)), int(rng.integers(-20, 20)))
    if dtype == "int16":
        return quantization(float(rng.uniform(1e-4, 1e-3)), 0)
    return None


def _typed_model(op, inputs: list, outputs: list, options=None):
    """A model of one op in its own types. Inputs: (shape, dtype, quant) is an activation
    (a model input), an ndarray or (ndarray, quant) a constant; outputs: (shape, dtype,
    quant). Options default to the op's BuiltinOptions class (when it has one)."""
    from tflm_edu.op_resolver import SPECS
    if options is None and SPECS[Op(op)].options is not None:
        options = SPECS[Op(op)].options()
    b = ModelBuilder(description="tflm_edu cost corpus")
    indices = []
    for x in inputs:
        if isinstance(x, np.ndarray) or isinstance(x[0], np.ndarray):
            data, quant = (x, None) if isinstance(x, np.ndarray) else x
            indices.append(b.add_tensor(data.shape, data.dtype, data=data, quant=quant))
        else:
            shape, dtype, quant = x
            indices.append(b.add_input(shape, np.dtype(dtype), quant=quant))
    ys = [b.add_tensor(shape, np.dtype(dtype), quant=quant) for shape, dtype, quant in outputs]
    b.add_operator(op, indices, ys, options)
    for y in ys:
        b.mark_output(y)
    return b.build()


def _constant_like(rng, shape, dtype: str, low: float, high: float, quant=None):
    """A constant of `dtype` with values in [low, high] (quantized with `quant`)."""
    values = rng.uniform(low, high, shape).astype(np.float32)
    if quant is None:
        return values.astype(np.dtype(dtype))
    info = np.iinfo(np.dtype(dtype))
    codes = np.round(values / quant.scale[0]) + quant.zero_point[0]
    return np.clip(codes, info.min, info.max).astype(np.dtype(dtype)), quant


def _last_axis_shape(shape) -> tuple:
    """A shape that broadcasts against `shape`: ones but the last dimension."""
    return (1,) * (len(shape) - 1) + (shape[-1],)


MATH_MORE_OPS = ["CEIL", "ROUND", "COS", "SIN", "RSQRT", "LOGICAL_NOT", "LOGICAL_AND",
                 "LOGICAL_OR", "GREATER_EQUAL", "LESS_EQUAL", "NOT_EQUAL", "DIV", "FLOOR_DIV",
                 "FLOOR_MOD", "ADD_N", "PRELU", "SELECT_V2", "ZEROS_LIKE", "CAST"]
CAST_PAIRS = [("float32", "int32"), ("int32", "float32"), ("bool", "float32"),
              ("int8", "int32")]


def _math_more_model(rng, name: str):
    """Element-wise math, comparisons and logic the math kind leaves out; each op in every
    type TFLM computes it in (a list of (type, model)), or a float model to quantize."""
    shape = _activation_shape(rng)
    op = Op[name]
    if name in ("CEIL", "ROUND", "COS", "SIN"):
        return [("float32", _typed_model(op, [(shape, "float32", None)],
                                         [(shape, "float32", None)]))], f"{name} {shape}"
    if name == "RSQRT":     # int8: the zero point at -128, so every input is >= 0
        models = [("float32", _typed_model(op, [(shape, "float32", None)],
                                           [(shape, "float32", None)]))]
        q_in = quantization(float(rng.uniform(0.005, 0.05)), -128)
        q_out = quantization(float(rng.uniform(0.02, 0.2)), int(rng.integers(-128, -100)))
        models.append(("int8", _typed_model(op, [(shape, "int8", q_in)],
                                            [(shape, "int8", q_out)])))
        return models, f"{name} {shape}"
    # the second operand: the same shape, a scalar, or one value per channel (last axis)
    broadcast = rng.random() < 0.6
    other = (shape if not broadcast else (1,) if rng.random() < 0.5
             else _last_axis_shape(shape))
    if name in ("LOGICAL_NOT", "LOGICAL_AND", "LOGICAL_OR"):
        inputs = [(shape, "bool", None)]
        if name != "LOGICAL_NOT":
            inputs.append((other, "bool", None))
        return ([("bool", _typed_model(op, inputs, [(shape, "bool", None)]))],
                f"{name} {shape}{' broadcast' if broadcast and len(inputs) > 1 else ''}")
    if name in ("GREATER_EQUAL", "LESS_EQUAL", "NOT_EQUAL"):
        models = []
        for dtype in ("float32", "int8", "int32"):
            q = _quant(rng, dtype)
            second = ((other, dtype, _quant(rng, dtype)) if not broadcast else
                      _constant_like(rng, other, dtype, -1, 1, q) if dtype != "int32" else
                      rng.integers(-1000, 1000, other).astype(np.int32))
            models.append((dtype, _typed_model(op, [(shape, dtype, q), second],
                                               [(shape, "bool", None)])))
        return models, f"{name} {shape} {other}"
    if name in ("DIV", "FLOOR_DIV", "FLOOR_MOD"):
        # a constant divisor away from zero (an int8 DIV by its zero point stops the board)
        divisor = (rng.uniform(0.5, 2.0, other) * rng.choice([-1, 1], other)).astype(np.float32)
        model = _graph_model(op, [shape, divisor], [(shape, np.float32)],
                             o.DivOptions() if name == "DIV" else None)
        if name == "DIV":
            return model, f"{name} {shape} {other}"
        return [("float32", model)], f"{name} {shape} {other}"
    if name == "ADD_N":      # int8: every input shares its scale and zero point
        count = int(rng.integers(2, 5))
        models = []
        for dtype in ("float32", "int8"):
            q = _quant(rng, dtype)
            models.append((dtype, _typed_model(op, [(shape, dtype, q)] * count,
                                               [(shape, dtype, _quant(rng, dtype))])))
        return models, f"{name} {count} x {shape}"
    if name == "PRELU":      # alpha per channel (last axis), int8 also for int16 inputs
        alpha_shape = _last_axis_shape(shape) if rng.random() < 0.7 else shape
        models = []
        for dtype in ("float32", "int8", "int16"):
            q_alpha = quantization(float(rng.uniform(0.001, 0.005)), 0) \
                if dtype != "float32" else None
            alpha = _constant_like(rng, alpha_shape, "float32" if dtype == "float32" else "int8",
                                   0.0, 0.3, q_alpha)
            models.append((dtype, _typed_model(op, [(shape, dtype, _quant(rng, dtype)), alpha],
                                               [(shape, dtype, _quant(rng, dtype))])))
        return models, f"{name} {shape} alpha {alpha_shape}"
    if name == "SELECT_V2":
        condition = _last_axis_shape(shape) if broadcast else shape
        models = []
        for dtype in ("float32", "int8", "int16"):
            q = _quant(rng, dtype)
            models.append((dtype, _typed_model(op, [(condition, "bool", None), (shape, dtype, q),
                                                    (shape, dtype, q)], [(shape, dtype, q)])))
        return models, f"{name} {shape} condition {condition}"
    if name == "ZEROS_LIKE":
        return ([(dtype, _typed_model(op, [(shape, dtype, _quant(rng, dtype))],
                                      [(shape, dtype, _quant(rng, dtype))]))
                 for dtype in ("float32", "int8", "int32")], f"{name} {shape}")
    return _cast_models(shape, CAST_PAIRS), f"CAST {shape}"


def _cast_models(shape, pairs) -> list:
    """CAST of one shape, one (source type, model) per (source, target) pair."""
    def options(source, target):
        return o.CastOptions(in_data_type=tensor_type_of(np.dtype(source)),
                             out_data_type=tensor_type_of(np.dtype(target)))
    return [(source, _typed_model(Op.CAST, [(shape, source, None)], [(shape, target, None)],
                                  options(source, target)))
            for source, target in pairs]


ROWS_OPS = ["L2_NORMALIZATION", "LOG_SOFTMAX", "REDUCE_ALL", "ARG_MAX", "ARG_MIN", "CUMSUM",
            "REVERSE_V2"]


def _rows_model(rng, name: str):
    """Ops that run along one axis: normalizations, arg-max/min, cumulative sums, reversal."""
    shape = _activation_shape(rng)
    op = Op[name]
    axis = int(rng.integers(1, len(shape)))
    i32 = np.int32
    if name in ("L2_NORMALIZATION", "LOG_SOFTMAX"):       # along the last axis
        options = o.L2NormOptions() if name == "L2_NORMALIZATION" else None
        return _graph_model(op, [shape], [(shape, np.float32)], options), f"{name} {shape}"
    if name == "CUMSUM":
        options = o.CumsumOptions(exclusive=bool(rng.random() < 0.3),
                                  reverse=bool(rng.random() < 0.3))
        return (_graph_model(op, [shape, np.array(axis, i32)], [(shape, np.float32)], options),
                f"{name} {shape} axis {axis}")
    if name == "REDUCE_ALL":
        keep = bool(rng.random() < 0.5)
        out = tuple(1 if d == axis else n for d, n in enumerate(shape) if keep or d != axis)
        return ([("bool", _typed_model(op, [(shape, "bool", None), np.array([axis], i32)],
                                       [(out, "bool", None)], o.ReducerOptions(keep_dims=keep)))],
                f"{name} {shape} axis {axis}")
    if name in ("ARG_MAX", "ARG_MIN"):
        out = tuple(n for d, n in enumerate(shape) if d != axis)
        options = (o.ArgMaxOptions if name == "ARG_MAX" else o.ArgMinOptions)(
            output_type=TensorType.INT32)
        return ([(dtype, _typed_model(op, [(shape, dtype, _quant(rng, dtype)),
                                           np.array([axis], i32)], [(out, "int32", None)],
                                      options)) for dtype in ("float32", "int8")],
                f"{name} {shape} axis {axis}")
    # REVERSE_V2: TFLM reverses contiguous axes only
    first = int(rng.integers(0, len(shape)))
    axes = np.arange(first, int(rng.integers(first, len(shape))) + 1, dtype=i32)
    models = []
    for dtype in ("float32", "int8", "int16"):
        q = _quant(rng, dtype)
        models.append((dtype, _typed_model(op, [(shape, dtype, q), axes], [(shape, dtype, q)])))
    return models, f"{name} {shape} axes {axes.tolist()}"


SHAPE_MORE_OPS = ["SLICE", "MIRROR_PAD", "PADV2", "SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND",
                  "GATHER_ND", "EMBEDDING_LOOKUP", "DYNAMIC_UPDATE_SLICE", "RESIZE_BILINEAR",
                  "FILL", "SHAPE", "BROADCAST_ARGS", "BROADCAST_TO"]


def _shape_more_model(rng, name: str):
    """Slicing, padding, gathering, broadcasting and resizing ops beyond data_movement's."""
    op = Op[name]
    f32, i32 = np.float32, np.int32
    if name == "SLICE":
        shape = _activation_shape(rng)
        begin = [int(rng.integers(0, n // 2 + 1)) for n in shape]
        size = [int(rng.integers(1, n - b + 1)) for n, b in zip(shape, begin)]
        return (_graph_model(op, [shape, np.array(begin, i32), np.array(size, i32)],
                             [(tuple(size), f32)]), f"{name} {shape} -> {tuple(size)}")
    if name in ("MIRROR_PAD", "PADV2"):
        shape = _activation_shape(rng)
        low = 1 if name == "MIRROR_PAD" else 0
        pads = np.array([[0, 0]] + [[int(rng.integers(low, min(3, n - 1) + 1)) if n > 1 else 0
                                     for _ in range(2)] for n in shape[1:]], i32)
        out = tuple(n + int(p.sum()) for n, p in zip(shape, pads))
        if name == "MIRROR_PAD":
            options = o.MirrorPadOptions(mode=int(rng.integers(0, 2)))
            return (_graph_model(op, [shape, pads], [(out, f32)], options),
                    f"{name} {shape} -> {out}")
        value = np.array(rng.uniform(-1, 1), f32)
        return _graph_model(op, [shape, pads, value], [(out, f32)]), f"{name} {shape} -> {out}"
    if name in ("SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND"):
        shape = _activation_shape(rng, 4)
        block = np.array([int(rng.choice([1, 2, 2, 3])), int(rng.choice([2, 2, 3]))], i32)
        if name == "SPACE_TO_BATCH_ND":
            pads = np.array([[0, (-shape[1]) % block[0]], [0, (-shape[2]) % block[1]]], i32)
            out = (int(block.prod()), (shape[1] + pads[0, 1]) // block[0],
                   (shape[2] + pads[1, 1]) // block[1], shape[3])
            return (_graph_model(op, [shape, block, pads], [(out, f32)]),
                    f"{name} {shape} block {block.tolist()}")
        shape = (int(block.prod()),) + shape[1:]
        crops = np.array([[0, int(rng.integers(0, block[0]))],
                          [0, int(rng.integers(0, block[1]))]], i32)
        out = (1, shape[1] * block[0] - crops[0, 1], shape[2] * block[1] - crops[1, 1], shape[3])
        return (_graph_model(op, [shape, block, crops], [(out, f32)]),
                f"{name} {shape} block {block.tolist()}")
    if name == "GATHER_ND":
        shape = _activation_shape(rng)
        depth = int(rng.integers(1, len(shape) + 1))
        count = int(rng.choice([1, 2, 4, 8, 16, 32]))
        indices = np.stack([rng.integers(0, n, count) for n in shape[:depth]], 1).astype(i32)
        out = (count,) + shape[depth:]
        return (_graph_model(op, [shape, indices], [(out, f32)]),
                f"{name} {shape} x{count} depth {depth}")
    if name == "EMBEDDING_LOOKUP":       # the table an activation, the ids constant
        rows, width = int(rng.choice([4, 16, 64, 256])), int(rng.choice([1, 4, 8, 16, 32, 64]))
        ids = rng.integers(0, rows, int(rng.choice([1, 2, 4, 8, 16, 32]))).astype(i32)
        models = []
        for dtype in ("float32", "int8"):
            q = _quant(rng, dtype)
            models.append((dtype, _typed_model(op, [ids, ((rows, width), dtype, q)],
                                               [((len(ids), width), dtype, q)])))
        return models, f"{name} {rows}x{width} x{len(ids)}"
    if name == "DYNAMIC_UPDATE_SLICE":
        shape = _activation_shape(rng)
        update = tuple(int(rng.integers(1, n + 1)) for n in shape)
        start = np.array([int(rng.integers(0, n - u + 1)) for n, u in zip(shape, update)], i32)
        models = []
        for dtype in ("float32", "int8", "int16", "int32"):
            q = _quant(rng, dtype)
            models.append((dtype, _typed_model(op, [(shape, dtype, q), (update, dtype, q), start],
                                               [(shape, dtype, q)])))
        return models, f"{name} {shape} update {update}"
    if name == "RESIZE_BILINEAR":
        shape = _activation_shape(rng, 4)
        while shape[1] * shape[2] * shape[3] > 4000:
            shape = (1, max(1, shape[1] // 2), max(1, shape[2] // 2), shape[3])
        size = np.array([int(rng.integers(1, 3 * shape[1] + 1)),
                         int(rng.integers(1, 3 * shape[2] + 1))], i32)
        corners = bool(rng.random() < 0.3)
        options = o.ResizeBilinearOptions(align_corners=corners,
                                          half_pixel_centers=not corners and rng.random() < 0.5)
        out = (1, int(size[0]), int(size[1]), shape[3])
        return (_graph_model(op, [shape, size], [(out, f32)], options),
                f"{name} {shape} -> {out}")
    if name == "FILL":                    # the value a model input, the dims constant
        shape = _activation_shape(rng)
        models = []
        for dtype in ("float32", "int8", "int32"):
            q = _quant(rng, dtype)
            models.append((dtype, _typed_model(op, [np.array(shape, i32), ((), dtype, q)],
                                               [(shape, dtype, q)])))
        return models, f"{name} {shape}"
    if name == "SHAPE":
        shape = _activation_shape(rng)
        return ([(dtype, _typed_model(op, [(shape, dtype, _quant(rng, dtype))],
                                      [((len(shape),), "int32", None)],
                                      o.ShapeOptions(out_type=TensorType.INT32)))
                 for dtype in ("float32", "int8")], f"{name} {shape}")
    if name == "BROADCAST_ARGS":          # against ones, so any shape broadcasts
        rank, other = int(rng.integers(1, 6)), int(rng.integers(1, 6))
        return ([("int32", _typed_model(op, [((rank,), "int32", None), np.ones(other, i32)],
                                        [((max(rank, other),), "int32", None)]))],
                f"{name} {rank} {other}")
    # BROADCAST_TO: some dimensions of the target shape are ones in the input
    out = _activation_shape(rng)
    shape = tuple(n if d == 0 or rng.random() < 0.5 else 1 for d, n in enumerate(out))
    models = []
    for dtype in ("float32", "int8", "int16", "int32"):
        q = _quant(rng, dtype)
        models.append((dtype, _typed_model(op, [(shape, dtype, q), np.array(out, i32)],
                                           [(out, dtype, q)])))
    return models, f"{name} {shape} -> {out}"


def _transpose_conv_model(rng):
    """TRANSPOSE_CONV as decoders and upsampling layers use it (inputs: output shape,
    weights, activation, bias)."""
    for _ in range(50):
        size = int(rng.choice([1, 2, 3, 4, 6, 8, 12, 16]))
        h, w = size, size if rng.random() < 0.7 else int(rng.choice([1, 2, 4, 8]))
        k = int(rng.choice([1, 2, 3, 4, 5]))
        stride = int(rng.choice([1, 2, 2, 3]))
        padding = Padding.SAME if rng.random() < 0.6 else Padding.VALID
        # above 16 input channels, CMSIS-NN's int8 kernel convolves the upscaled input
        cin = int(rng.choice([1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 24, 32]))
        cout = int(rng.choice([1, 2, 4, 8, 16, 24, 32, 64]))
        oh, ow = ((h * stride, w * stride) if padding == Padding.SAME
                  else ((h - 1) * stride + k, (w - 1) * stride + k))
        if h * w * k * k * cin * cout <= MAX_REFERENCE_MACS and oh * ow * cout <= 40_000:
            break
    weights = (rng.standard_normal((cout, k, k, cin)) * 0.2).astype(np.float32)
    # Always a bias: TFLM's CMSIS-NN int16 kernel reads the bias's type in Prepare without
    # checking that there is one, which stops the board.
    bias = (rng.standard_normal(cout) * 0.1).astype(np.float32)
    out = (1, oh, ow, cout)
    options = o.TransposeConvOptions(padding=padding, stride_h=stride, stride_w=stride,
                                     fused_activation_function=int(rng.choice([Act.NONE,
                                                                               Act.RELU])))
    inputs = [np.array(out, np.int32), weights, (1, h, w, cin), bias]
    return (_graph_model(Op.TRANSPOSE_CONV, inputs, [(out, np.float32)], options),
            f"TRANSPOSE_CONV {h}x{w}x{cin} k{k} s{stride} "
            f"{'same' if padding == Padding.SAME else 'valid'} -> {oh}x{ow}x{cout}")


def _batch_matmul_model(rng):
    """BATCH_MATMUL as attention and factorized layers use it: [batches, rows, depth] times
    [batches, depth, columns], the right-hand side an activation or constant weights."""
    for _ in range(50):
        batches = int(rng.choice([1, 1, 2, 4, 8]))
        rows, depth = int(rng.choice([1, 2, 4, 8, 16, 32, 49])), int(rng.choice([4, 8, 16, 32, 64]))
        columns = int(rng.choice([1, 4, 8, 16, 32, 64]))
        if batches * rows * depth * columns <= MAX_REFERENCE_MACS // 2:
            break
    adj_y = bool(rng.random() < 0.4)
    rhs_shape = (batches, columns, depth) if adj_y else (batches, depth, columns)
    constant = rng.random() < 0.5
    rhs = (rng.standard_normal(rhs_shape) * 0.3).astype(np.float32) if constant else rhs_shape
    return (_graph_model(Op.BATCH_MATMUL, [(batches, rows, depth), rhs],
                         [((batches, rows, columns), np.float32)],
                         o.BatchMatMulOptions(adj_y=adj_y)),
            f"BATCH_MATMUL {batches}x{rows}x{depth} x {columns}{' adj_y' if adj_y else ''}"
            f"{' constant' if constant else ''}")


def _lstm_model(rng):
    """UNIDIRECTIONAL_SEQUENCE_LSTM as TensorFlow's converter writes it (tflm_edu's
    arena_size.examples.lstm_model), in float32, int8 and int16 with the same shapes."""
    from tflm_edu.arena_size.examples import lstm_model
    for _ in range(50):
        batch, time = int(rng.choice([1, 1, 2, 3])), int(rng.choice([1, 2, 3, 4, 8, 16]))
        size = int(rng.choice([2, 3, 4, 8, 10, 16, 32, 40]))
        state = int(rng.choice([4, 5, 8, 12, 16, 32, 64]))
        if batch * time * 4 * state * (size + state) <= 300_000:
            break
    time_major, seed = bool(rng.random() < 0.3), int(rng.integers(1 << 30))
    models = [(np.dtype(dtype).name, lstm_model(dtype, batch, time, size, state, time_major,
                                                seed=seed))
              for dtype in (np.float32, np.int8, np.int16)]
    return models, f"UNIDIRECTIONAL_SEQUENCE_LSTM batch {batch} time {time} {size} -> {state}"


def _l2_pool_model(rng):
    """L2_POOL_2D (float32 only in TFLM): the square root of each window's mean square."""
    size = int(rng.choice([3, 4, 5, 6, 8, 10, 12, 16, 24, 32]))
    c = int(rng.choice([1, 2, 4, 8, 16, 32, 64]))
    k = min(int(rng.choice([2, 2, 3, 3, size])), size)      # a global pool now and then
    stride = int(rng.choice([1, 2])) if k < size else 1
    padding = Padding.SAME if rng.random() < 0.5 and k < size else Padding.VALID
    while c > 1 and _out_size(size, k, stride, padding) ** 2 * k * k * c > MAX_REFERENCE_MACS:
        c //= 2
    oh = _out_size(size, k, stride, padding)
    options = o.Pool2DOptions(padding=padding, stride_h=stride, stride_w=stride,
                              filter_width=k, filter_height=k)
    return ([("float32", _float_model(Op.L2_POOL_2D, (1, size, size, c), [], (1, oh, oh, c),
                                      options))],
            f"L2_POOL_2D {size}x{size}x{c} k{k} s{stride}")


def _control_flow_model(rng):
    """IF with a constant condition and WHILE counting from 0 to a constant: which branch
    runs and how often the loop turns are known before the run, so the host can trace what
    the board runs. Each passes 1-3 tensors through subgraphs that add each to itself;
    built directly in float32 and int8."""
    shape = _activation_shape(rng)
    count = int(rng.integers(1, 4))
    taken = bool(rng.random() < 0.5)
    limit = int(rng.integers(0, 7))
    kind = "IF" if rng.random() < 0.5 else "WHILE"
    models = []
    for dtype in ("float32", "int8"):
        np_type = np.dtype(dtype)
        q_in = _quant(rng, dtype)
        _quant(rng, dtype)     # an unused draw, kept so the measured corpus's models stay

        def doubles(b, values):
            outs = []
            for v in values:
                out = b.add_tensor(shape, np_type, quant=q_in)
                b.add_operator(Op.ADD, [v, v], [out], o.AddOptions())
                outs.append(b.mark_output(out))
            return outs

        b = ModelBuilder(description="tflm_edu cost corpus")
        xs = [b.add_input(shape, np_type, quant=q_in) for _ in range(count)]
        if kind == "IF":
            cond = b.add_tensor((1,), np.bool_, "cond", data=np.array([taken]))
            ys = [b.mark_output(b.add_tensor(shape, np_type, quant=q_in)) for _ in xs]
            b.add_operator(Op.IF, [cond, *xs], ys, o.IfOptions(1, 2))
            for _ in ("then", "else"):
                b.begin_subgraph()
                doubles(b, [b.add_input(shape, np_type, quant=q_in) for _ in range(count)])
        else:
            start = b.add_tensor((1,), np.int32, "start", data=np.zeros(1, np.int32))
            ys = [b.add_tensor((1,), np.int32, "i_out")]
            ys += [b.mark_output(b.add_tensor(shape, np_type, quant=q_in)) for _ in xs]
            b.add_operator(Op.WHILE, [start, *xs], ys, o.WhileOptions(1, 2))
            b.mark_output(ys[0])
            b.begin_subgraph("cond")
            k = b.add_input((1,), np.int32)
            for _ in range(count):
                b.add_input(shape, np_type, quant=q_in)
            bound = b.add_tensor((1,), np.int32, data=np.array([limit], np.int32))
            less = b.mark_output(b.add_tensor((1,), np.bool_))
            b.add_operator(Op.LESS, [k, bound], [less])
            b.begin_subgraph("body")
            k = b.add_input((1,), np.int32)
            vs = [b.add_input(shape, np_type, quant=q_in) for _ in range(count)]
            one = b.add_tensor((1,), np.int32, data=np.ones(1, np.int32))
            k_next = b.mark_output(b.add_tensor((1,), np.int32))
            b.add_operator(Op.ADD, [k, one], [k_next], o.AddOptions())
            doubles(b, vs)
        models.append((dtype, b.build()))
    what = f"IF {'then' if taken else 'else'}" if kind == "IF" else f"WHILE x{limit}"
    return models, f"{what} {count} x {shape}"


def _strided_model(rng):
    """STRIDED_SLICE with strides of 1 to 3 on any axis, the last one included (one write
    per element instead of a memcpy per run)."""
    shape = _activation_shape(rng, int(rng.choice([2, 3, 4])))
    strides = [int(rng.choice([1, 1, 2, 3])) for _ in shape]
    strides[0] = 1
    begin = [int(rng.integers(0, max(1, n // 2 + 1))) for n in shape]
    end = [int(rng.integers(b + 1, n + 1)) if b < n else n for n, b in zip(shape, begin)]
    out = tuple(len(range(b, e, st)) for b, e, st in zip(begin, end, strides))
    i32 = np.int32
    model = _graph_model(Op.STRIDED_SLICE, [shape, np.array(begin, i32), np.array(end, i32),
                                            np.array(strides, i32)],
                         [(out, np.float32)], o.StridedSliceOptions())
    return model, f"STRIDED_SLICE {shape} strides {strides} -> {out}"


def _mean_hw_model(rng):
    """MEAN over height and width (global average pooling as converters write it), which
    TFLM runs in a loop of its own."""
    shape = (1, int(rng.choice([1, 2, 3, 5, 7, 10, 14])), int(rng.choice([1, 2, 3, 5, 7, 10])),
             int(rng.choice([1, 8, 16, 32, 64, 128, 384])))
    keep = bool(rng.random() < 0.5)
    out = (1, 1, 1, shape[3]) if keep else (1, shape[3])
    return (_graph_model(Op.MEAN, [shape, np.array([1, 2], np.int32)], [(out, np.float32)],
                         o.ReducerOptions(keep_dims=keep)),
            f"MEAN {shape} over h, w{' keep' if keep else ''}")


def _resize_model(rng):
    """RESIZE_NEAREST_NEIGHBOR from small maps to larger or smaller ones, with its options:
    one memcpy of a pixel's channels per output pixel, whatever the channels."""
    shape = (1, int(rng.choice([1, 2, 3, 5, 8, 12, 20])), int(rng.choice([1, 2, 4, 7, 10, 16])),
             int(rng.choice([1, 2, 3, 8, 16, 32, 64])))
    size = [max(1, int(n * rng.choice([0.5, 1, 1.5, 2, 3, 4]))) for n in shape[1:3]]
    options = o.ResizeNearestNeighborOptions(align_corners=bool(rng.random() < 0.3),
                                             half_pixel_centers=bool(rng.random() < 0.5))
    if options.align_corners:
        options.half_pixel_centers = False
    out = (1, size[0], size[1], shape[3])
    return (_graph_model(Op.RESIZE_NEAREST_NEIGHBOR, [shape, np.array(size, np.int32)],
                         [(out, np.float32)], options),
            f"RESIZE_NEAREST_NEIGHBOR {shape} -> {out}")


BROADCAST_OPS = ["ADD", "SUB", "MUL"]


def _broadcast_model(rng, name: str):
    """ADD, SUB and MUL with a second operand of another shape: one value per channel (the
    last axis), per row, or a middle axis, as an input or a constant (per-channel scales and
    offsets of streaming models)."""
    shape = _activation_shape(rng, int(rng.choice([2, 3, 4, 4])))
    axis = int(rng.integers(1, len(shape)))
    pattern = rng.choice(["last", "axis", "all_but"])
    other = tuple(1 if (pattern == "last" and d != len(shape) - 1) or
                  (pattern == "axis" and d != axis) or (pattern == "all_but" and d == axis)
                  else n for d, n in enumerate(shape))
    if pattern == "last" and rng.random() < 0.5:
        other = other[-1:]         # rank 1, as converters write per-channel constants
    second = (other if rng.random() < 0.5 else
              rng.uniform(-1, 1, other).astype(np.float32))
    options = {"ADD": o.AddOptions, "SUB": o.SubOptions, "MUL": o.MulOptions}[name]()
    return (_graph_model(Op[name], [shape, second], [(shape, np.float32)], options),
            f"{name} {shape} {other}{' constant' if isinstance(second, np.ndarray) else ''}")


# Integer arithmetic as models compute shapes, indices and fixed-point feature scaling in
# int32 (the audio preprocessor's log-mel scaling), at sizes from one value up.
INT32_OPS = ["ADD", "SUB", "MUL", "DIV", "MINIMUM", "MAXIMUM",
             "SQUARED_DIFFERENCE", "CAST", "STRIDED_SLICE", "CONCATENATION"]
INT32_CAST_PAIRS = [("uint32", "int32"), ("int32", "uint32"), ("int16", "int32"),
                    ("int32", "int8"), ("int16", "float32"), ("int32", "int16"),
                    ("int32", "float32")]


def _int32_model(rng, name: str):
    """One int32 op (a list of (type, model)); binary ops with a second operand of the same
    shape, a scalar constant, or one value per channel."""
    i32 = np.int32
    rank = int(rng.choice([1, 2, 2, 3]))
    shape = tuple(int(v) for v in rng.choice([1, 2, 3, 4, 8, 16, 40, 64, 128, 257], rank))
    if int(np.prod(shape)) > 20_000:
        shape = shape[-2:]
    op = Op[name]
    if name == "CAST":
        return _cast_models(shape, INT32_CAST_PAIRS), f"CAST {shape}"
    if name == "STRIDED_SLICE":
        begin = [int(rng.integers(0, max(1, n // 2 + 1))) for n in shape]
        end = [int(rng.integers(b + 1, n + 1)) if b < n else n for n, b in zip(shape, begin)]
        strides = [int(rng.choice([1, 1, 1, 2])) for _ in shape]
        out = tuple(len(range(b, e, st)) for b, e, st in zip(begin, end, strides))
        model = _typed_model(op, [(shape, "int32", None), np.array(begin, i32),
                                  np.array(end, i32), np.array(strides, i32)],
                             [(out, "int32", None)], o.StridedSliceOptions())
        return [("int32", model)], f"{name} {shape} -> {out}"
    if name == "CONCATENATION":
        parts = int(rng.choice([2, 2, 3, 4]))
        sizes = [int(rng.choice([1, 2, 8, 16, 64, 236])) for _ in range(parts)]
        while len(shape) > 1 and int(np.prod(shape[:-1])) * sum(sizes) > 20_000:
            shape = shape[1:]          # keep the model small: fewer outer dimensions
        axis = len(shape) - 1
        inputs = [(shape[:-1] + (n,), "int32", None) if rng.random() < 0.7 else
                  rng.integers(-1000, 1000, shape[:-1] + (n,)).astype(i32) for n in sizes]
        if all(isinstance(x, np.ndarray) for x in inputs):
            inputs[0] = (shape[:-1] + (sizes[0],), "int32", None)
        model = _typed_model(op, inputs, [(shape[:-1] + (sum(sizes),), "int32", None)],
                             o.ConcatenationOptions(axis=axis))
        return [("int32", model)], f"{name} {shape[:-1]} x {sizes}"
    pattern = rng.choice(["same", "scalar", "last"])
    if pattern == "same":
        second = (shape, "int32", None)
    else:
        other = () if pattern == "scalar" else (shape[-1],)
        second = rng.integers(1, 1 << 12, other).astype(i32)   # nonzero: divisors too
    model = _typed_model(op, [(shape, "int32", None), second], [(shape, "int32", None)])
    return [("int32", model)], f"{name} {shape} {pattern}"


def _custom_model(name: str, inputs: list, outputs: list, options: dict | None,
                  variable_output: bool = False, quant=None):
    """A model of one custom op: `inputs` are (shape, dtype) for a model input or an array for
    a constant; `outputs` (shape, dtype), all model outputs; `options` the flexbuffer map."""
    from flatbuffers import flexbuffers
    b = ModelBuilder(description="tflm_edu cost corpus")
    indices = [b.add_input(x[0], x[1], quant=quant) if isinstance(x, tuple)
               else b.add_tensor(np.shape(x), np.asarray(x).dtype, data=np.asarray(x))
               for x in inputs]
    ys = [b.add_tensor(shape, dtype, quant=quant, is_variable=variable_output)
          for shape, dtype in outputs]
    b.add_operator(Op.CUSTOM, indices, ys, custom_code=name,
                   custom_options=None if options is None else flexbuffers.Dumps(options))
    for y in ys:
        b.mark_output(y)
    return b.build()


# The custom ops the firmware registers (TFLM's resolver has an adder for each): the Signal
# library's audio frontend ops, as a preprocessor model chains them, and CIRCULAR_BUFFER.
SIGNAL_OPS = ["SignalWindow", "SignalFftAutoScale", "SignalRfft", "SignalIrfft",
              "SignalEnergy", "SignalFilterBank", "SignalFilterBankSquareRoot",
              "SignalFilterBankSpectralSubtraction", "SignalPCAN", "SignalFilterBankLog",
              "SignalDelay", "SignalFramer", "SignalStacker", "SignalOverlapAdd",
              "CIRCULAR_BUFFER",
              # the FFTs have the most to learn (four radices): more draws
              "SignalRfft", "SignalIrfft"]
# lengths 2 * 2^a 3^b 5^c (kissfft's fast radices), powers of two most often
FFT_LENGTHS = [16, 32, 64, 128, 256, 512, 1024, 24, 48, 96, 160, 240, 320, 480, 640]
SIGNAL_TYPES = {"int16": (np.int16, TensorType.INT16), "int32": (np.int32, TensorType.INT32),
                "float32": (np.float32, TensorType.FLOAT32)}


def _random_int(rng, shape, dtype, low=None, high=None):
    info = np.iinfo(dtype)
    return rng.integers(info.min if low is None else low, info.max if high is None else high,
                        shape, endpoint=True).astype(dtype)


def _bank_then_square_root(rng, channels: int, scale_bits: np.ndarray):
    """SignalFilterBank into SignalFilterBankSquareRoot, as a frontend runs them: the bank's
    sums reach the square root with every width - zero (an empty channel), under 32 bits
    (Sqrt32's loop: a weight of 1 on one bin) and 64 bits wide (larger weights, more bins)."""
    from flatbuffers import flexbuffers
    bins = 64
    kind = rng.integers(0, 3, channels + 1)           # 0 empty, 1 narrow, 2 wide
    widths = np.where(kind == 0, 0, np.where(kind == 1, 1, rng.integers(2, 6, channels + 1)))
    taps = int(widths.sum()) + 1
    weight_starts = np.concatenate([[0], np.cumsum(widths)[:-1]])
    weights = np.zeros(taps, np.int16)
    for start, width, k in zip(weight_starts, widths, kind):
        weights[start:start + width] = 1 if k == 1 else rng.integers(1000, 4096, width)
    b = ModelBuilder(description="tflm_edu cost corpus")
    x = b.add_input((bins,), np.uint32)
    bank = [b.add_tensor((taps,), np.int16, data=weights),
            b.add_tensor((taps,), np.int16, data=weights),
            b.add_tensor((channels + 1,), np.int16,
                         data=rng.integers(0, bins - widths + 1).astype(np.int16)),
            b.add_tensor((channels + 1,), np.int16, data=weight_starts.astype(np.int16)),
            b.add_tensor((channels + 1,), np.int16, data=widths.astype(np.int16))]
    sums = b.add_tensor((channels,), np.uint64)
    b.add_operator(Op.CUSTOM, [x] + bank, [sums], custom_code="SignalFilterBank",
                   custom_options=flexbuffers.Dumps({"num_channels": channels}))
    y = b.add_tensor((channels,), np.uint32)
    b.add_operator(Op.CUSTOM, [sums, b.add_tensor((), np.int32, data=scale_bits)], [y],
                   custom_code="SignalFilterBankSquareRoot")
    b.mark_output(y)
    # the input is an output too, so the plan keeps its bytes: otherwise the square root's
    # output may reuse them and each timed invoke would see the last one's leftovers
    b.mark_output(x)
    return b.build()


def _signal_model(rng, name: str):
    """One custom op at sizes audio frontends use (a 30 ms frame is 480 samples at 16 kHz,
    a 512-point FFT gives 257 bins, 40 mel channels), with options drawn as a model's are."""
    i16, u32, u64 = np.int16, np.uint32, np.uint64
    rows = int(rng.choice([1, 1, 1, 2, 3, 4]))
    n = int(rng.choice([8, 16, 32, 64, 100, 160, 256, 320, 400, 480, 512]))
    channels = int(rng.choice([4, 8, 16, 20, 32, 40, 64, 80]))
    shape = (n,) if rows == 1 else (rows, n)
    if name == "SignalWindow":
        window = _random_int(rng, (n,), i16)
        model = _custom_model(name, [(shape, i16), window], [(shape, i16)],
                              {"shift": int(rng.integers(0, 16))})
        return [("int16", model)], f"{name} {shape}"
    if name == "SignalFftAutoScale":
        model = _custom_model(name, [((n,), i16)], [((n,), i16), ((), np.int32)], None)
        return [("int16", model)], f"{name} {n}"
    if name in ("SignalRfft", "SignalIrfft"):
        # the same transform in each type (the fit learns each type's formula)
        fft_length = int(rng.choice(FFT_LENGTHS))
        bins = fft_length + 2          # fft_length / 2 + 1 complex values, interleaved
        rows_shape = () if rows == 1 else (rows,)
        length = int(rng.choice([fft_length, fft_length, max(fft_length * 3 // 4, 1)]))
        models = []
        for dtype, (np_type, tensor_type) in SIGNAL_TYPES.items():
            if name == "SignalRfft":
                io = [(rows_shape + (length,), np_type)], [(rows_shape + (bins,), np_type)]
            else:
                io = [(rows_shape + (bins,), np_type)], [(rows_shape + (fft_length,), np_type)]
            models.append((dtype, _custom_model(name, *io, {"T": int(tensor_type),
                                                           "fft_length": fft_length})))
        return models, f"{name} {fft_length} x{rows}"
    if name == "SignalEnergy":
        bins = int(rng.choice([9, 33, 65, 129, 257, 513]))
        start = int(rng.integers(0, bins // 4 + 1))
        end = int(rng.integers(start, bins + 1))
        model = _custom_model(name, [((2 * bins,), i16)], [((bins,), u32)],
                              {"start_index": start, "end_index": end})
        return [("int16", model)], f"{name} {bins} [{start}:{end}]"
    if name == "SignalFilterBank":
        bins = int(rng.choice([33, 65, 129, 257]))
        widths = rng.integers(0, max(2 * bins // (channels + 1), 2), channels + 1)
        taps = int(widths.sum()) + 1
        starts = rng.integers(0, bins - widths + 1)
        weight_starts = rng.integers(0, taps - widths + 1)
        model = _custom_model(
            name, [((bins,), u32), _random_int(rng, (taps,), i16, 0, 4096),
                   _random_int(rng, (taps,), i16, 0, 4096), starts.astype(i16),
                   weight_starts.astype(i16), widths.astype(i16)],
            [((channels,), u64)], {"num_channels": channels})
        return [("uint32", model)], f"{name} {bins}->{channels} taps {taps - 1}"
    if name == "SignalFilterBankSquareRoot":
        scale_bits = np.array(int(rng.integers(0, 16)), np.int32)
        if rng.random() < 0.5:    # the firmware's random inputs: every value 64 bits wide
            model = _custom_model(name, [((channels,), u64), scale_bits],
                                  [((channels,), u32)], None)
            return [("uint64", model)], f"{name} {channels}"
        return [("uint64", _bank_then_square_root(rng, channels, scale_bits))], \
            f"{name} {channels} after a bank"
    if name == "SignalFilterBankSpectralSubtraction":
        options = {"alternate_one_minus_smoothing": 15401, "alternate_smoothing": 983,
                   "clamping": bool(rng.random() < 0.5), "min_signal_remaining": 819,
                   "num_channels": channels, "one_minus_smoothing": 15975, "smoothing": 409,
                   "smoothing_bits": 10, "spectral_subtraction_bits": 14}
        model = _custom_model(name, [((channels,), u32)], [((channels,), u32)] * 2, options)
        return [("uint32", model)], f"{name} {channels}"
    if name == "SignalPCAN":
        from tflm_edu.frontend.frontend import prepare
        lut = prepare().pcan_lut.astype(i16)
        model = _custom_model(name, [((channels,), u32), ((channels,), u32), lut],
                              [((channels,), u32)], {"snr_shift": int(rng.integers(0, 13))})
        return [("uint32", model)], f"{name} {channels}"
    if name == "SignalFilterBankLog":
        model = _custom_model(name, [((channels,), u32)], [((channels,), i16)],
                              {"input_correction_bits": int(rng.integers(0, 8)),
                               "output_scale": int(rng.choice([1, 64, 1000]))})
        return [("uint32", model)], f"{name} {channels}"
    if name == "SignalDelay":
        model = _custom_model(name, [(shape, i16)], [(shape, i16)],
                              {"delay_length": int(rng.integers(0, 2 * n))})
        return [("int16", model)], f"{name} {shape}"
    if name == "SignalFramer":
        step = int(rng.choice([d for d in (1, 2, 4, 8, 10, 16, 20, 32, 40, 80, 160) if n % d == 0]))
        size = int(rng.choice([step, 2 * step, max(step * 5 // 2, 1)]))
        out = shape[:-1] + (n // step, size)
        model = _custom_model(name, [(shape, i16)], [(out, i16), ((), np.bool_)],
                              {"frame_size": size, "frame_step": step,
                               "prefill": bool(rng.random() < 0.5)})
        return [("int16", model)], f"{name} {shape} {size}/{step}"
    if name == "SignalStacker":
        left, right = (int(v) for v in rng.integers(0, 4, 2))
        step = int(rng.integers(1, left + right + 2))
        model = _custom_model(name, [((channels,), i16)],
                              [((channels * (left + right + 1),), i16), ((), np.bool_)],
                              {"num_channels": channels, "stacker_left_context": left,
                               "stacker_right_context": right, "stacker_step": step})
        return [("int16", model)], f"{name} {channels} {left}+{right} /{step}"
    if name == "SignalOverlapAdd":
        frames, size = int(rng.choice([1, 1, 2, 3])), int(rng.choice([16, 64, 160, 320, 512]))
        step = int(rng.choice([size // 4, size // 2, size]))
        x_shape = (frames, size) if rows == 1 else (rows, frames, size)
        models = []
        for dtype in ("int16", "float32"):
            np_type, tensor_type = SIGNAL_TYPES[dtype]
            models.append((dtype, _custom_model(name, [(x_shape, np_type)],
                                                [(x_shape[:-2] + (frames * step,), np_type)],
                                                {"T": int(tensor_type), "frame_step": step})))
        return models, f"{name} {x_shape} /{step}"
    # CIRCULAR_BUFFER: frames of keyword-spotting streaming models; cycles_max 1, so the
    # graph runs on every invoke (the firmware needs every invoke to succeed)
    slots = int(rng.choice([2, 3, 5, 8, 13, 25]))
    height, depth = int(rng.choice([1, 2, 4])), int(rng.choice([8, 16, 32, 64, 96]))
    model = _custom_model(name, [((1, 1, height, depth), np.int8)],
                          [((1, slots, height, depth), np.int8)], {"cycles_max": 1},
                          variable_output=True, quant=quantization(0.25, -7))
    return [("int8", model)], f"{name} {slots}x{height}x{depth}"


def _detection_model(rng):
    """TFLite_Detection_PostProcess as SSD detectors end: box encodings and class scores are
    inputs (the firmware's values in [-2, 2], so some scores pass the threshold and some do
    not), the anchors a constant - on a coarse grid at times, so boxes overlap and suppress
    each other; fast or regular non-max suppression."""
    num_boxes = int(rng.choice([10, 20, 50, 100, 200, 400]))
    num_classes = int(rng.choice([1, 2, 3, 5, 10]))
    background = int(rng.integers(0, 2))
    regular = bool(rng.random() < 0.4)
    per_box = 1 if regular else int(rng.choice([1, 1, 2, 3]))
    max_detections = int(rng.choice([1, 5, 10, 20]))
    options = {"max_detections": max_detections, "max_classes_per_detection": per_box,
               "detections_per_class": int(rng.choice([10, 100])), "use_regular_nms": regular,
               "nms_score_threshold": float(rng.choice([0.0, 0.3, 0.5, 1.0])),
               "nms_iou_threshold": float(rng.choice([0.3, 0.5, 0.6])),
               "num_classes": num_classes, "y_scale": 10.0, "x_scale": 10.0,
               "h_scale": 5.0, "w_scale": 5.0}
    cells = int(rng.choice([3, 8])) if rng.random() < 0.5 else 0
    centres = ((rng.integers(0, cells, (num_boxes, 2)) + 0.5) / cells if cells
               else rng.uniform(0.1, 0.9, (num_boxes, 2)))
    anchors = np.concatenate([centres, rng.uniform(0.1, 0.4, (num_boxes, 2))], 1)
    room = max_detections * (per_box * per_box if not regular else 1)
    f32 = np.float32
    model = _custom_model("TFLite_Detection_PostProcess",
                          [((1, num_boxes, 4), f32),
                           ((1, num_boxes, num_classes + background), f32), anchors.astype(f32)],
                          [((1, room, 4), f32), ((1, room), f32), ((1, room), f32), ((1,), f32)],
                          options)
    return ([("float32", model)],
            f"TFLite_Detection_PostProcess {num_boxes}x{num_classes + background} "
            f"{'regular' if regular else 'fast'}")


# New kinds go at the end: the seeded draws of the kinds before them stay the same, so
# measurements already cached for those models stay valid.
BUILDERS = {"conv": lambda rng: _conv_model(rng, False),
            "depthwise": lambda rng: _conv_model(rng, True),
            "fully_connected": _fc_model, "pool": _pool_model,
            "elementwise": _elementwise_model, "unary": _unary_model,
            "depthwise_multiplier": lambda rng: _conv_model(rng, True, multiplier=True),
            "pad": _pad_model, "elementwise_more": _elementwise_model, "svdf": _svdf_model,
            "data_movement": _data_movement_model, "math": _math_model, "state": _state_model,
            "quantize": _quantize_model, "math_more": _math_more_model, "rows": _rows_model,
            "shape_more": _shape_more_model, "transpose_conv": _transpose_conv_model,
            "batch_matmul": _batch_matmul_model, "lstm": _lstm_model,
            "l2_pool": _l2_pool_model,
            "conv_window": lambda rng: _conv_model(rng, False, shapes=_window_conv),
            "control_flow": _control_flow_model,
            "quantize_more": lambda rng: _quantize_model(rng, QUANTIZE_MORE_PAIRS),
            "quantize_values": lambda rng: _quantize_model(rng, QUANTIZE_VALUE_PAIRS,
                                                           wide_scales=True),
            "strided": _strided_model, "broadcast": _broadcast_model,
            "mean_hw": _mean_hw_model,
            # second helpings of kinds whose keys had only a handful of samples each
            "data_movement_more": _data_movement_model, "unary_more": _unary_model,
            "math_more_draws": _math_model,
            "quantize_pairs_more": lambda rng: _quantize_model(
                rng, QUANTIZE_PAIRS + QUANTIZE_MORE_PAIRS),
            "resize": _resize_model, "signal": _signal_model,
            "int32": _int32_model, "detection": _detection_model}
COUNTS = {"conv": 90, "depthwise": 70, "fully_connected": 50, "pool": 30,
          "elementwise": 30, "unary": 40, "depthwise_multiplier": 30, "pad": 16,
          "elementwise_more": 40, "svdf": 30, "data_movement": 90, "math": 160,
          "state": 40, "quantize": 40, "math_more": 418, "rows": 196, "shape_more": 364,
          "transpose_conv": 80, "batch_matmul": 48, "lstm": 40, "l2_pool": 40,
          "conv_window": 60, "control_flow": 60,
          "quantize_more": 36, "quantize_values": 48,
          "strided": 40, "broadcast": 90, "mean_hw": 40,
          "data_movement_more": 90, "unary_more": 40, "math_more_draws": 80,
          "quantize_pairs_more": 60, "resize": 40, "signal": 600, "int32": 480,
          "detection": 120}
# Kinds whose builder takes the op to build: draw k builds op k of the list (cycling), so
# every op gets its share of the draws.
OPS_OF_KIND = {"math_more": MATH_MORE_OPS, "rows": ROWS_OPS, "shape_more": SHAPE_MORE_OPS,
               "broadcast": BROADCAST_OPS, "signal": SIGNAL_OPS,
               "int32": INT32_OPS}
BASE_TYPES = ("int8", "float32", "int16")
# Kinds calibrated without the batch dimension (their models with a batch above 1 stay
# float32): kept so, as their cached measurements are of these models.
BATCH_FREE_KINDS = ("conv", "depthwise", "fully_connected", "pool", "elementwise", "unary",
                    "depthwise_multiplier", "pad", "elementwise_more", "svdf",
                    "data_movement", "math", "state", "quantize", "data_movement_more",
                    "unary_more", "math_more_draws")


def draw(kind: str, rng, index: int = 0, dtypes=BASE_TYPES) -> list:
    """The CorpusModels of draw `index` of a kind: a builder returns a float32 model (then
    quantized to each of `dtypes` by _variants) or a list of (type, model) built in their
    own types (kept when the type is in `dtypes`, or is not one of BASE_TYPES: bool, int32)."""
    if kind in OPS_OF_KIND:
        ops = OPS_OF_KIND[kind]
        model, name = BUILDERS[kind](rng, ops[index % len(ops)])
    else:
        model, name = BUILDERS[kind](rng)
    if model is None:
        return []
    if kind in ("state", "quantize", "quantize_more", "quantize_values", "quantize_pairs_more"):   # built in their own types already
        dtype = name.split()[1].split("->")[0]
        keep = dtype in dtypes or dtype not in BASE_TYPES
        return [CorpusModel(f"{name}/{dtype}", write_model(model))] if keep else []
    if isinstance(model, list):
        return [CorpusModel(f"{name}/{dtype}", write_model(m)) for dtype, m in model
                if dtype in dtypes or dtype not in BASE_TYPES]
    return _variants(model, rng, name, dtypes, whole_inputs=kind not in BATCH_FREE_KINDS)


def synthetic_corpus(seed: int = 0, scale: float = 1.0, dtypes=BASE_TYPES):
    """Seeded one-op models (CorpusModel) in each of `dtypes`; `scale` multiplies how many."""
    rng = np.random.default_rng(seed)
    corpus = []
    for kind, count in COUNTS.items():
        for index in range(max(1, round(count * scale))):
            corpus += draw(kind, rng, index, dtypes)
    return corpus


# -- ops cut out of real models --------------------------------------------------------

SLICE_SKIP = {"CALL_ONCE", "VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE", "IF", "WHILE"}


def slice_op(model, index: int) -> bytes | None:
    """Op `index` of the model's first subgraph as a one-op model (None for ops that need
    other subgraphs or resource variables)."""
    model = as_model(model)
    graph = model.subgraphs[0]
    op = graph.operators[index]
    code = model.operator_codes[op.opcode_index]
    name = Op(code.builtin_code).name if code.builtin_code in Op._value2member_map_ else ""
    if name in SLICE_SKIP or code.custom_code:
        return None
    b = ModelBuilder(description="tflm_edu cost corpus")
    mapping = {}
    for i in op.inputs:
        if i < 0 or i in mapping:
            continue
        t = graph.tensors[i]
        data = model.buffers[t.buffer].data
        if data:
            array = np.frombuffer(bytes(data), NUMPY_DTYPE[TensorType(t.type)]).reshape(t.shape)
            mapping[i] = b.add_tensor(t.shape, array.dtype, t.name, data=array,
                                      quant=t.quantization)
        else:
            mapping[i] = b.add_input(t.shape, NUMPY_DTYPE[TensorType(t.type)], t.name,
                                     quant=t.quantization)
    outputs = []
    for i in op.outputs:
        t = graph.tensors[i]
        outputs.append(b.add_tensor(t.shape, NUMPY_DTYPE[TensorType(t.type)], t.name,
                                    quant=t.quantization))
    b.add_operator(code.builtin_code, [mapping.get(i, -1) for i in op.inputs], outputs,
                   op.builtin_options, version=code.version)
    for i in outputs:
        b.mark_output(i)
    return write_model(b.build())


def slice_ops(model, name: str = "model") -> list:
    """Every op of the model's first subgraph that can stand alone, as CorpusModels."""
    model = as_model(model)
    corpus = []
    for index, _ in enumerate(model.subgraphs[0].operators):
        data = slice_op(model, index)
        if data is not None:
            corpus.append(CorpusModel(f"{name}#{index}", data))
    return corpus
