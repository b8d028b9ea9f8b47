"""What an op's cost depends on: the counts its kernel's loops run, read from the model.

TFLM's kernels are loops. The reference CONV_2D, for example, runs one body per output
element, one per filter tap of that element (checking whether the tap falls inside the
image), and one multiply-accumulate per valid tap and input channel; CMSIS-NN's copies each
output pixel's window into a column first (im2col) and multiplies blocks of it. The
instructions such a kernel executes are close to a sum of those loop counts, each times the
instructions of its loop body, plus a fixed cost for the call. `op_features` computes the
loop counts; tflm_edu.profile.cost_model learns the instructions per count from the board.

    for feature in model_features(model):
        feature.key        # 'CONV_2D/int8' - one cost formula per key
        feature.values     # {'calls': 1, 'outputs': 9216, 'taps': 82944, 'macs': 663552, ...}
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tflm_edu.schema import as_model
from tflm_edu.schema.enums import BuiltinOperator, Padding, TensorType

# Ops whose cost is mostly about moving or looking at every element once.
ELEMENTWISE_FEATURES = ("calls", "outputs", "inputs")
CONV_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV")
POOL_OPS = ("AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D")
BROADCASTING_OPS = ("ADD", "SUB", "MUL", "DIV", "SQUARED_DIFFERENCE", "MAXIMUM", "MINIMUM",
                    "LESS", "LESS_EQUAL", "GREATER", "GREATER_EQUAL", "EQUAL", "NOT_EQUAL",
                    "FLOOR_DIV", "FLOOR_MOD", "POW", "LOGICAL_AND", "LOGICAL_OR")


@dataclass
class OpFeatures:
    """One op: its index in the subgraph, TFLM's name for it, the cost key and the counts."""
    index: int
    op: str
    key: str
    values: dict = field(default_factory=dict)

    def __repr__(self):
        counts = ", ".join(f"{k}={v:,.0f}" for k, v in self.values.items())
        return f"OpFeatures(#{self.index} {self.key}: {counts})"


def _type_name(tensor) -> str:
    return TensorType(tensor.type).name.lower()


def _elements(tensor) -> int:
    return int(np.prod(tensor.shape, dtype=np.int64)) if tensor.shape else 1


def _valid_taps(in_size: int, out_size: int, kernel: int, stride: int, dilation: int,
                pad: int) -> int:
    """How many (output position, filter tap) pairs of one axis read inside the input."""
    o = np.arange(out_size)[:, None]
    k = np.arange(kernel)[None, :]
    position = o * stride - pad + k * dilation
    return int(((position >= 0) & (position < in_size)).sum())


def _padding(padding: int, in_size: int, out_size: int, kernel: int, stride: int,
             dilation: int) -> int:
    if padding != Padding.SAME:
        return 0
    effective = (kernel - 1) * dilation + 1
    return max((out_size - 1) * stride + effective - in_size, 0) // 2


def _window_counts(x, y, kh: int, kw: int, options, channels: int) -> dict:
    """The loop counts of a sliding window (conv, depthwise, pool) over NHWC tensors."""
    batches, in_h, in_w = x.shape[0], x.shape[1], x.shape[2]
    out_h, out_w = y.shape[1], y.shape[2]
    sh, sw = max(options.stride_h, 1), max(options.stride_w, 1)
    dh = max(getattr(options, "dilation_h_factor", 1), 1)
    dw = max(getattr(options, "dilation_w_factor", 1), 1)
    pad_h = _padding(options.padding, in_h, out_h, kh, sh, dh)
    pad_w = _padding(options.padding, in_w, out_w, kw, sw, dw)
    valid_h = _valid_taps(in_h, out_h, kh, sh, dh, pad_h)
    valid = valid_h * _valid_taps(in_w, out_w, kw, sw, dw, pad_w) * batches
    pixels = batches * out_h * out_w
    return {"pixels": pixels, "outputs": pixels * channels,
            "taps": pixels * kh * kw * channels, "valid_taps": valid * channels,
            "padded": (pixels * kh * kw - valid) * channels,
            # the loops over filter rows: one body per row, the column loop for valid rows
            "rows": pixels * kh * channels, "valid_rows": valid_h * out_w * batches * channels}


def op_features(model, subgraph: int, index: int, kernels: str = "reference") -> OpFeatures:
    """The loop counts of op `index` of `subgraph` (see the module docstring)."""
    graph = model.subgraphs[subgraph]
    op = graph.operators[index]
    code = model.operator_codes[op.opcode_index]
    name = (BuiltinOperator(code.builtin_code).name if code.builtin_code != BuiltinOperator.CUSTOM
            else (code.custom_code or "CUSTOM"))
    tensors = graph.tensors
    inputs = [tensors[i] for i in op.inputs if i >= 0]
    outputs = [tensors[i] for i in op.outputs if i >= 0]
    activations = [t for t, i in zip(inputs, [i for i in op.inputs if i >= 0])
                   if not model.buffers[t.buffer].data]
    first = (activations or inputs or outputs or [None])[0]
    dtype = _type_name(first) if first is not None else "none"
    if name in ("CONV_2D", "DEPTHWISE_CONV_2D") and len(inputs) >= 2 and len(outputs[0].shape) == 4:
        x, w, y = inputs[0], inputs[1], outputs[0]
        values = _conv_features(name, x, w, y, op.builtin_options)
        variant = _conv_variant(name, dtype, x, w, y, op.builtin_options, kernels)
        if kernels == "cmsis_nn" and dtype in ("int8", "int16"):
            values.update(_simd_features(name, x, w, y, values))
        key = f"{name}/{dtype}{variant}"
    elif name in POOL_OPS and len(outputs[0].shape) == 4:
        options = op.builtin_options
        values = _window_counts(inputs[0], outputs[0], options.filter_height,
                                options.filter_width, options, outputs[0].shape[3])
        values = {"calls": 1, **values}
        key = f"{name}/{dtype}"
    elif name == "FULLY_CONNECTED" and len(inputs) >= 2:
        units, depth = inputs[1].shape[0], inputs[1].shape[-1]
        rows = _elements(outputs[0]) // max(units, 1)
        values = {"calls": 1, "outputs": rows * units, "inputs": rows * depth,
                  "macs": rows * units * depth}
        if kernels == "cmsis_nn" and dtype in ("int8", "int16"):
            values.update(blocked_matmul_counts(rows, units, depth))
        key = f"{name}/{dtype}"
    elif name == "SVDF" and len(inputs) >= 3:
        filters, size = inputs[1].shape[0], inputs[1].shape[-1]
        memory = inputs[2].shape[-1]
        batch = outputs[0].shape[0] if outputs[0].shape else 1
        # feature weights x input, the state shifted by one step, the time filter over the
        # state, then each unit's rank filters summed
        values = {"calls": 1, "feature_macs": batch * filters * size,
                  "state": batch * filters * memory, "filters": batch * filters,
                  "outputs": _elements(outputs[0])}
        key = f"{name}/{dtype}"
    elif name in ("SOFTMAX", "LOG_SOFTMAX"):
        depth = outputs[0].shape[-1] if outputs[0].shape else 1
        values = {"calls": 1, "rows": _elements(outputs[0]) // max(depth, 1),
                  "outputs": _elements(outputs[0])}
        key = f"{name}/{dtype}"
        if name == "SOFTMAX" and dtype == "int8":
            values["active"] = values["outputs"] * _softmax_active_fraction(
                inputs[0], op.builtin_options)
    elif name in ("VAR_HANDLE", "CALL_ONCE"):
        # Fixed work: look the variable up by name; after the first invoke, CALL_ONCE only
        # checks that its subgraph has run.
        values, key = {"calls": 1}, name
    elif name in ("READ_VARIABLE", "ASSIGN_VARIABLE") and len(outputs + inputs) >= 1:
        # A copy of the variable's bytes, typed by the value (the handle is a resource).
        value = outputs[0] if name == "READ_VARIABLE" else inputs[-1]
        values = {"calls": 1, "outputs": _elements(value)}
        key = f"{name}/{_type_name(value)}"
    elif name in ("LOGISTIC", "TANH") and dtype == "int8":
        values = {"calls": 1, "outputs": _elements(outputs[0]),
                  "active": _elements(outputs[0]) * _saturation_free_fraction(inputs[0])}
        key = f"{name}/{dtype}"
    elif name in COPY_OPS and outputs and inputs:
        # Kernels that copy contiguous runs: one memcpy per run, a run per (outer index,
        # tensor or index); the runs' bytes move once.
        values = {"calls": 1, "outputs": sum(_elements(t) for t in outputs),
                  "inputs": sum(_elements(t) for t in activations),
                  "copies": _copy_runs(model, name, op, inputs, outputs)}
        key = f"{name}/{dtype}"
    elif name == "TRANSPOSE" and outputs:
        # An index walk over every element, with loop overhead per innermost row.
        shape = outputs[0].shape or (1,)
        values = {"calls": 1, "outputs": _elements(outputs[0]),
                  "rows": _elements(outputs[0]) // max(shape[-1], 1)}
        key = f"{name}/{dtype}"
    else:
        values = {"calls": 1, "outputs": sum(_elements(t) for t in outputs),
                  "inputs": sum(_elements(t) for t in activations)}
        key = f"{name}/{dtype}"
        if name in BROADCASTING_OPS and len(inputs) >= 2 and inputs[0].shape != inputs[1].shape:
            key += "/broadcast"
        if name == "QUANTIZE" and outputs:       # each type pair has its own loop
            key += f"/{_type_name(outputs[0])}"
        if name == "MEAN" and len(inputs) >= 2 and len(inputs[0].shape) == 4:
            axes = model.buffers[inputs[1].buffer].data
            if axes and sorted(np.frombuffer(bytes(axes), np.int32) % 4) == [1, 2]:
                key += "/hw"       # TFLM's mean over height and width has its own loop
    return OpFeatures(index, name, key, values)


COPY_OPS = ("CONCATENATION", "PACK", "SPLIT", "SPLIT_V", "UNPACK", "GATHER")


def _constant_int(model, tensor) -> int | None:
    data = model.buffers[tensor.buffer].data
    if not data:
        return None
    values = np.frombuffer(bytes(data), np.int64 if tensor.type == TensorType.INT64
                           else np.int32)
    return int(values.reshape(-1)[0]) if values.size else None


def _copy_runs(model, name: str, op, inputs: list, outputs: list) -> int:
    """How many contiguous runs a copying kernel moves: the product of the dimensions before
    its axis, times the tensors it joins or splits (GATHER: times the indices)."""
    options = op.builtin_options
    if name in ("CONCATENATION", "PACK"):
        shape, axis, parts = outputs[0].shape, getattr(options, "axis", 0), len(inputs)
    elif name == "SPLIT":
        shape, axis, parts = inputs[-1].shape, _constant_int(model, inputs[0]), len(outputs)
    elif name == "SPLIT_V":
        shape, axis, parts = inputs[0].shape, _constant_int(model, inputs[-1]), len(outputs)
    elif name == "UNPACK":
        shape, axis, parts = inputs[0].shape, getattr(options, "axis", 0), len(outputs)
    else:                                  # GATHER: params, indices
        shape, axis = inputs[0].shape, getattr(options, "axis", 0)
        parts = _elements(inputs[1]) if len(inputs) > 1 else 1
    rank = len(shape or ())
    axis = 0 if axis is None or rank == 0 else axis % rank
    return int(np.prod(shape[:axis], dtype=np.int64)) * parts if rank else parts


# Ops whose work depends on the values: TFLM's int8 SOFTMAX computes an exponential only for
# inputs within diff_min of their row's maximum, and int8 LOGISTIC and TANH only for inputs
# within a radius of the zero point (the rest saturate). Their "active" count is the expected
# number of such elements for inputs spread evenly over the int8 range - what the profiling
# firmware feeds the board; real inputs may do more or less work.

def _softmax_active_fraction(x, options) -> float:
    from tflm_edu.kernels.quantization_util import calculate_input_radius
    from tflm_edu.kernels.softmax import SCALED_DIFF_INTEGER_BITS, preprocess_softmax_scaling
    scale = x.quantization.scale[0] if x.quantization and x.quantization.scale else 1.0
    beta = float(np.float32(getattr(options, "beta", 1.0) or 1.0))
    _, shift = preprocess_softmax_scaling(beta, scale, SCALED_DIFF_INTEGER_BITS)
    radius = calculate_input_radius(SCALED_DIFF_INTEGER_BITS, shift)
    return min(1.0, (radius + 1) / 256)


def _saturation_free_fraction(x) -> float:
    from tflm_edu.kernels.logistic import INPUT_INTEGER_BITS, prepare_fixed_point_input
    scale = x.quantization.scale[0] if x.quantization and x.quantization.scale else 1.0
    zero_point = x.quantization.zero_point[0] if x.quantization and x.quantization.zero_point \
        else 0
    try:         # TANH's int8 prepare is LOGISTIC's, with the same integer bits
        _, _, radius = prepare_fixed_point_input(scale, INPUT_INTEGER_BITS)
    except Exception:       # a scale the kernel refuses: count every element
        return 1.0
    codes = np.arange(-128, 128)
    return float(np.mean(np.abs(codes - zero_point) < radius))


def _conv_features(name: str, x, w, y, options) -> dict:
    kh, kw = w.shape[1], w.shape[2]
    out_channels = y.shape[3]
    counts = _window_counts(x, y, kh, kw, options, out_channels)
    depth = w.shape[3] if name == "CONV_2D" else 1
    counts["macs"] = counts["valid_taps"] * depth
    counts["window"] = counts["pixels"] * kh * kw * x.shape[3]     # one im2col column each
    return {"calls": 1, **counts}


def blocked_matmul_counts(rows: int, channels: int, depth: int) -> dict:
    """The loop counts of CMSIS-NN's integer matrix products (DSP extension): output
    channels in pairs, rows (pixels) in pairs, each dot product 16, then 4, then 1 value at a
    time; an odd row or channel runs a plain loop; each channel's weights are summed once."""
    pairs = (channels // 2) * (rows // 2)
    return {"weight_sums": channels * depth, "pair_blocks": pairs,
            "pair_by_16": pairs * (depth // 16), "pair_by_4": pairs * ((depth % 16) // 4),
            "pair_by_1": pairs * (depth % 4),
            "odd_row_pairs": (rows % 2) * (channels // 2),
            "odd_row_macs": (rows % 2) * (channels // 2) * depth,
            "odd_row_by_1": (rows % 2) * (channels // 2) * (depth % 4),
            "odd_channel_rows": (channels % 2) * rows,
            "odd_channel_macs": (channels % 2) * rows * depth}


def _simd_features(name: str, x, w, y, values: dict) -> dict:
    """CMSIS-NN's integer loops for this op (see blocked_matmul_counts); a depthwise
    convolution works on 4 channels at a time and leaves a tail."""
    pixels, channels = values["pixels"], y.shape[3]
    kh, kw = w.shape[1], w.shape[2]
    if name == "CONV_2D":
        counts = blocked_matmul_counts(pixels, channels, kh * kw * x.shape[3])
        taps = pixels * kh * kw               # im2col: each tap's channels copied (widened)
        counts.update({"im2col_taps": taps, "im2col_by_4": taps * (x.shape[3] // 4),
                       "im2col_tail": taps * (x.shape[3] % 4),
                       "im2col_padded": values["padded"] // max(channels, 1) * x.shape[3]})
        return counts
    # depthwise: each pixel's window is copied (widened) tap by tap, padding filled, then
    # 4 channels at a time run over the taps 4 at a time, and the channels left over alone
    taps, cin = kh * kw, x.shape[3]
    valid = values["valid_taps"] // max(channels, 1)
    padded = values["padded"] // max(channels, 1)
    return {"copy_taps": valid, "copy_by_4": valid * (cin // 4), "copy_tail": valid * (cin % 4),
            "fill": padded * cin, "by_4_by_4": pixels * (channels // 4) * (taps // 4),
            "by_4_tail": pixels * (channels // 4) * (taps % 4),
            "tail_taps": pixels * (channels % 4) * taps}


def _conv_variant(name: str, dtype: str, x, w, y, options, kernels: str) -> str:
    """The CMSIS-NN routine TFLM's cmsis_nn kernels call for this shape (each runs different
    loops, so each gets its own formula); float convolutions stay on the reference loops."""
    if kernels != "cmsis_nn" or dtype not in ("int8", "int16"):
        return ""
    kh, kw = w.shape[1], w.shape[2]
    sh, sw = max(options.stride_h, 1), max(options.stride_w, 1)
    dh = max(getattr(options, "dilation_h_factor", 1), 1)
    dw = max(getattr(options, "dilation_w_factor", 1), 1)
    pad_h = _padding(options.padding, x.shape[1], y.shape[1], kh, sh, dh)
    pad_w = _padding(options.padding, x.shape[2], y.shape[2], kw, sw, dw)
    if name == "CONV_2D":
        if dtype == "int16":
            return ""
        if (kh, kw, pad_h, pad_w, dh, dw) == (1, 1, 0, 0, 1, 1):
            return "/1x1" if (sh, sw) == (1, 1) else "/1x1_strided"
        if x.shape[1] == 1 and dw == 1 and kh == 1 and (sw * x.shape[3]) % 4 == 0:
            return "/1xn"
        return ""
    multiplier = y.shape[3] // max(x.shape[3], 1)
    if dtype == "int16":
        return "/fast" if multiplier == 1 and (dh, dw) == (1, 1) and kh * kw < 512 else ""
    if multiplier == 1 and x.shape[0] == 1 and (dh, dw) == (1, 1):
        return "/3x3" if (kh, kw) == (3, 3) and pad_h <= 1 and pad_w <= 1 else "/opt"
    return ""


def model_features(model, kernels: str = "reference") -> list:
    """OpFeatures of every op of the model's first subgraph, in execution order."""
    model = as_model(model)
    graph = model.subgraphs[0]
    return [op_features(model, 0, i, kernels) for i in range(len(graph.operators))]


__all__ = ["OpFeatures", "op_features", "model_features"]
