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

from tflm_edu.errors import AllocationError, InputError, KernelError, ModelError
from tflm_edu.schema import as_model
from tflm_edu.schema.enums import NUMPY_DTYPE, BuiltinOperator, Padding, TensorType

# Ops whose cost is mostly about moving or looking at every element once.
ELEMENTWISE_FEATURES = ("calls", "outputs", "inputs")
CONV_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV")
POOL_OPS = ("AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D")
BROADCASTING_OPS = ("ADD", "SUB", "MUL", "DIV", "SQUARED_DIFFERENCE", "MAXIMUM", "MINIMUM",
                    "LESS", "LESS_EQUAL", "GREATER", "GREATER_EQUAL", "EQUAL", "NOT_EQUAL",
                    "FLOOR_DIV", "FLOOR_MOD", "POW", "LOGICAL_AND", "LOGICAL_OR")


@dataclass
class OpFeatures:
    """One op: its index in its subgraph, TFLM's name for it, the cost key and the counts.
    `depth` is 0 for the main subgraph's ops and one more for each IF or WHILE they run in
    (whose profiler event contains theirs)."""
    index: int
    op: str
    key: str
    values: dict = field(default_factory=dict)
    subgraph: int = 0
    depth: int = 0

    def __repr__(self):
        counts = ", ".join(f"{k}={v:,.0f}" for k, v in self.values.items())
        where = f"{self.subgraph}:" if self.subgraph else "#"
        return f"OpFeatures({where}{self.index} {self.key}: {counts})"


@dataclass(eq=False)
class ExecutedOp:
    """One op as one invoke runs it, in the order TFLM's profiler opens its events: an IF
    or WHILE first, then the ops of the subgraphs it runs (each run of a loop's body again).
    `iterations`: for a WHILE, how often its body ran; `children`: the events right inside;
    `data`: the op's first input as it ran, for the ops whose work depends on values (for
    TFLite_Detection_PostProcess, the loop counts its kernel recorded)."""
    subgraph: int
    index: int
    depth: int = 0
    iterations: int = 0
    children: int = 0
    data: np.ndarray | None = None


CONTROL_FLOW_OPS = ("IF", "WHILE")


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


def op_features(model, subgraph: int, index: int, kernels: str = "reference",
                data: np.ndarray | None = None) -> OpFeatures:
    """The loop counts of op `index` of `subgraph` (see the module docstring). `data`: the
    values of the op's first input in the run being predicted, for the ops whose work
    depends on them (_is_value_op; for TFLite_Detection_PostProcess the counts its kernel
    recorded in that run); without it they count what inputs spread evenly over their
    type's range would cost."""
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
        # CMSIS-NN's depthwise routines for int8 channel multipliers above 1 loop over the
        # window as the reference does (per output channel, or per tile of 4): no im2col
        general_depthwise = name == "DEPTHWISE_CONV_2D" and dtype == "int8" and variant in (
            "", "/mult4")
        if kernels == "cmsis_nn" and dtype == "int8" and variant == "/opt":
            values.update(_depthwise_opt_features(x, w, y, op.builtin_options))
        elif kernels == "cmsis_nn" and dtype in ("int8", "int16") and not general_depthwise:
            values.update(_simd_features(name, x, w, y, values))
            if name == "CONV_2D" and dtype == "int8" and variant == "":
                values = _convolve_s8_features(x, w, y, values)
            if variant == "/1x1_strided":
                # arm_convolve_1x1_s8 calls the matrix product once per output row: its
                # weight sums and blocks restart on every row
                calls = y.shape[0] * y.shape[1]
                per_row = blocked_matmul_counts(y.shape[2], y.shape[3], x.shape[3])
                values = {"calls": 1, "outputs": values["outputs"], "row_calls": calls,
                          **{k: v * calls for k, v in per_row.items()}}
        key = f"{name}/{dtype}{variant}"
    elif name in POOL_OPS and len(outputs[0].shape) == 4:
        options = op.builtin_options
        values = _window_counts(inputs[0], outputs[0], options.filter_height,
                                options.filter_width, options, outputs[0].shape[3])
        values = {"calls": 1, **values}
        if kernels == "cmsis_nn" and dtype in ("int8", "int16"):
            # CMSIS-NN's pools call a routine per window tap that runs over the channels
            values["pixel_taps"] = values["valid_taps"] // max(outputs[0].shape[3], 1)
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
    elif name in ("SOFTMAX", "LOG_SOFTMAX", "L2_NORMALIZATION"):
        depth = outputs[0].shape[-1] if outputs[0].shape else 1
        values = {"calls": 1, "rows": _elements(outputs[0]) // max(depth, 1),
                  "outputs": _elements(outputs[0])}
        key = f"{name}/{dtype}"
        if name == "SOFTMAX" and dtype == "int8":
            radius = _softmax_radius(inputs[0], op.builtin_options)
            values["active"] = (values["outputs"] * min(1.0, (radius + 1) / 256) if data is None
                                else _within_of_row_max(data, depth, radius))
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
                  "active": _saturation_free_count(inputs[0], data, _elements(outputs[0]))}
        key = f"{name}/{dtype}"
    elif name == "DEQUANTIZE" and inputs and outputs:
        # scale x (q - zero point) in double precision, which a single-precision FPU leaves
        # to the compiler's soft-float routines: quick for a zero difference, and the
        # conversion to float rounds only a product float cannot hold exactly
        values = {"calls": 1, "outputs": _elements(outputs[0]), "inputs": _elements(inputs[0]),
                  **_dequantize_value_counts(inputs[0], data)}
        key = f"{name}/{dtype}"
    elif name == "QUANTIZE" and dtype == "float32" and outputs:
        # round(x / scale): newlib's roundf takes a longer path from 1 up in magnitude (an
        # FPU with VRINTA does it in one instruction); results beyond the type's range clamp
        values = {"calls": 1, "outputs": _elements(outputs[0]), "inputs": _elements(inputs[0]),
                  **_quantize_value_counts(outputs[0], data)}
        key = f"{name}/{dtype}/{_type_name(outputs[0])}"
    elif name == "STRIDED_SLICE" and len(inputs) == 4 and outputs:
        values = {"calls": 1, "outputs": _elements(outputs[0]),
                  "inputs": sum(_elements(t) for t in activations),
                  **_strided_slice_counts(model, inputs, op.builtin_options)}
        key = f"{name}/{dtype}"
    elif name in COPY_OPS and outputs and inputs:
        # Kernels that copy contiguous runs: one memcpy per run, a run per (outer index,
        # tensor or index); the runs' bytes move once.
        values = {"calls": 1, "outputs": sum(_elements(t) for t in outputs),
                  "inputs": sum(_elements(t) for t in activations),
                  "copies": _copy_runs(model, name, op, inputs, outputs)}
        key = f"{name}/{dtype}"
    elif name == "TRANSPOSE" and outputs:
        # TransposeImpl recurses over the output's dimensions, one call per index of every
        # dimension above the last (a trailing dimension of 1 makes a call per element),
        # and the last call's loop copies the elements
        shape = outputs[0].shape or (1,)
        values = {"calls": 1, "outputs": _elements(outputs[0]),
                  "recursions": sum(int(np.prod(shape[:d], dtype=np.int64))
                                    for d in range(1, len(shape)))}
        if kernels == "cmsis_nn" and dtype == "int8" and inputs:
            # arm_transpose_s8 walks the input instead, in nested loops (its innermost one
            # over the input's last dimension), computing both indices per element
            in_shape = inputs[0].shape or (1,)
            rows = _elements(inputs[0]) // max(in_shape[-1], 1)
            values = {"calls": 1, "outputs": values["outputs"], "rows": rows,
                      "planes": rows // max(in_shape[-2] if len(in_shape) > 1 else 1, 1)}
        key = f"{name}/{dtype}"
    elif name == "TRANSPOSE_CONV" and len(inputs) >= 3 and len(outputs[0].shape) == 4:
        x, w, y = inputs[2], inputs[1], outputs[0]
        values = _transpose_conv_features(x, w, y, op.builtin_options)
        key = f"{name}/{_type_name(x)}"
        if kernels == "cmsis_nn" and _type_name(x) == "int8":
            variant = _transpose_conv_variant(x, op.builtin_options)
            values = (_reverse_conv_features(x, w, y) if variant else
                      _cmsis_transpose_conv_features(x, w, y, op.builtin_options))
            key += variant
    elif name == "BATCH_MATMUL" and len(inputs) >= 2 and outputs:
        values = _batch_matmul_features(model, inputs[0], inputs[1], outputs[0],
                                        op.builtin_options)
        key = f"{name}/{dtype}"
        if kernels == "cmsis_nn" and dtype in ("int8", "int16"):
            # arm_nn_vec_mat_mult_t_*: each output's dot product 4 (int8) or 2 (int16) values
            # at a time, then the rest one by one
            step = 4 if dtype == "int8" else 2
            depth = values.pop("macs") // max(values["outputs"], 1)
            values["blocks"] = values["outputs"] * (depth // step)
            values["tail"] = values["outputs"] * (depth % step)
    elif name == "UNIDIRECTIONAL_SEQUENCE_LSTM" and len(inputs) >= 5 and outputs:
        values = _lstm_features(inputs[0], inputs[4], outputs[0], op.builtin_options)
        key = f"{name}/{_type_name(inputs[0])}"
        if kernels == "cmsis_nn" and _type_name(inputs[0]) in ("int8", "int16"):
            values = _cmsis_lstm_features(inputs[0], inputs[4], op.builtin_options, values)
    elif name in ("ARG_MAX", "ARG_MIN") and len(inputs) >= 2 and outputs:
        # The first element of each output's run, then one comparison per other element;
        # a new extreme (about ln(n) of n random values) stores value and index.
        shape = inputs[0].shape or (1,)
        axis = (_constant_int(model, inputs[1]) or 0) % len(shape)
        size = shape[axis]
        runs = _elements(outputs[0])
        values = {"calls": 1, "outputs": runs, "inputs": _elements(inputs[0]),
                  "outer": int(np.prod(shape[:axis], dtype=np.int64)),
                  "records": runs * float(np.sum(1.0 / np.arange(2, size + 1)))}
        key = f"{name}/{dtype}"
    elif name in ("PAD", "PADV2") and kernels == "cmsis_nn" and dtype == "int8" and outputs:
        values, key = _cmsis_pad_features(inputs[0], outputs[0]), f"{name}/{dtype}"
    elif name == DETECTION_POSTPROCESS and len(inputs) >= 2:
        values, key = _detection_features(inputs[0], inputs[1], op, data), f"{name}/{dtype}"
    elif name in CUSTOM_OP_FEATURES and inputs and outputs:
        values = _custom_op_features(model, name, op, inputs, outputs, data)
        key = f"{name}/{dtype}"
    elif name in INDEXED_OPS and outputs:
        values, key = _indexed_features(model, name, op, inputs, outputs), f"{name}/{dtype}"
        if name in ("SELECT_V2", "EMBEDDING_LOOKUP") and len(inputs) >= 2:
            key = f"{name}/{_type_name(inputs[1])}"      # the data, not the condition/ids
            if name == "SELECT_V2" and len({t.shape for t in inputs[:3]} | {outputs[0].shape}) > 1:
                key += "/broadcast"
    else:
        values = {"calls": 1, "outputs": sum(_elements(t) for t in outputs),
                  "inputs": sum(_elements(t) for t in activations)}
        key = f"{name}/{dtype}"
        if name in BROADCASTING_OPS and len(inputs) >= 2 and _broadcasts(name, dtype, inputs):
            key += "/broadcast"
            # the innermost loop's restarts (zero when every dimension fuses into one loop),
            # and its elements when both operands change in it (with one of them fixed, the
            # compiler converts that one once per run)
            runs, fixed = _broadcast_loops(inputs[0].shape, inputs[1].shape, outputs[0].shape)
            values["restarts"] = runs - 1
            values["both_vary"] = 0 if fixed else values["outputs"]
        if name in ("QUANTIZE", "CAST") and outputs:       # each type pair has its own loop
            key += f"/{_type_name(outputs[0])}"
        if (name == "MEAN" and dtype == "float32" and len(inputs) >= 2
                and len(inputs[0].shape) == 4 and getattr(op.builtin_options, "keep_dims", False)):
            axes = model.buffers[inputs[1].buffer].data
            if axes and sorted(np.frombuffer(bytes(axes), np.int32) % 4) == [1, 2]:
                # TFLM's float mean over height and width, keeping them, has its own loop
                # (integer means always take the generic reduction): per channel, a row
                # loop and a column loop inside it
                key += "/hw"
                x_shape = inputs[0].shape
                values["rows"] = x_shape[0] * x_shape[3] * x_shape[1]
        if name in PIXEL_OPS and len(outputs[0].shape) == 4:
            # loops over output rows and pixels (RESIZE_NEAREST_NEIGHBOR copies a pixel's
            # channels with one memcpy; the depth/space ops compute an offset per pixel)
            b, h, w = outputs[0].shape[:3]
            values["rows"], values["pixels"] = b * h, b * h * w
        if name in REDUCE_OPS and not key.endswith("/hw") and inputs:
            # the generic reduction walks every input index, one term per dimension to
            # step it and one to find its output
            values["index_terms"] = _elements(inputs[0]) * len(inputs[0].shape or (1,))
    return OpFeatures(index, name, key, values)


REDUCE_OPS = ("MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD")
PIXEL_OPS = ("RESIZE_NEAREST_NEIGHBOR", "DEPTH_TO_SPACE", "SPACE_TO_DEPTH")


COPY_OPS = ("CONCATENATION", "PACK", "SPLIT", "SPLIT_V", "UNPACK", "GATHER")
# Ops whose loops _indexed_features counts: index arithmetic per element or per row, and
# copies of contiguous runs.
INDEXED_OPS = ("PRELU", "SELECT_V2", "CUMSUM", "REVERSE_V2", "SPACE_TO_BATCH_ND",
               "BATCH_TO_SPACE_ND", "GATHER_ND", "EMBEDDING_LOOKUP", "DYNAMIC_UPDATE_SLICE",
               "BROADCAST_TO", "RESIZE_BILINEAR", "MIRROR_PAD", "PAD", "PADV2", "REDUCE_ALL",
               "SLICE")


def _rows(tensor) -> int:
    """Innermost runs of a tensor: its elements over its last dimension."""
    shape = tensor.shape or (1,)
    return _elements(tensor) // max(shape[-1], 1)


def _indexed_features(model, name: str, op, inputs: list, outputs: list) -> dict:
    """Loop counts of the ops in INDEXED_OPS (see each case)."""
    x, y = inputs[0], outputs[0]
    values = {"calls": 1, "outputs": _elements(y)}
    if name == "SELECT_V2" or (name == "PRELU" and _type_name(x) == "float32"):
        # 4-D (5-D) loops over the output, indices recomputed per element; a row's setup
        # per innermost run
        values["rows"] = _rows(y)
    elif name == "PRELU":        # integer PRELU: reference_ops' fused broadcast loops
        values["restarts"] = _broadcast_loops(x.shape, inputs[1].shape, y.shape)[0] - 1
    elif name == "CUMSUM":
        # reference_ops::CumSum: for each index after the axis ("outer"), for each index
        # before it, a running sum along the axis
        shape = x.shape or (1,)
        axis = (_constant_int(model, inputs[1]) or 0) % len(shape)
        values["rows"] = _elements(x) // max(shape[axis], 1)
        values["outer"] = int(np.prod(shape[axis + 1:], dtype=np.int64))
    elif name == "REVERSE_V2":
        # element by element (reverse_copy) or, with runs after the axes, run by run
        calls, whole_runs = _reverse_copies(model, x, inputs[1])
        values = ({"calls": 1, "copies": calls, "copied": _elements(y)} if whole_runs else
                  {"calls": 1, "runs": calls, "reversed": _elements(y)})
    elif name == "SPACE_TO_BATCH_ND":
        # per output pixel a memcpy of its channels from the input, or a memset (padding)
        values.update(_space_to_batch_counts(model, x, inputs[1], inputs[2], y))
    elif name == "BATCH_TO_SPACE_ND":
        # per input row a check, then per input pixel a check and (if not cropped) a memcpy
        values["rows"] = x.shape[0] * x.shape[1] if len(x.shape) >= 2 else 1
        values["pixels"] = _rows(x)
        values["copies"] = _rows(y)
    elif name == "GATHER_ND":
        # per index tuple: its offset from the tuple's entries, then one memcpy
        depth = inputs[1].shape[-1] if inputs[1].shape else 1
        values["copies"] = _elements(inputs[1]) // max(depth, 1)
        values["index_terms"] = _elements(inputs[1])
    elif name == "EMBEDDING_LOOKUP":
        values["copies"] = _elements(x)         # one row per id
    elif name == "DYNAMIC_UPDATE_SLICE":
        # the operand copied whole, then the update row by row by a recursion over its
        # dimensions (one call per index of every dimension but the last); an update as
        # large as the operand is one copy
        update = inputs[1].shape or (1,)
        if _elements(inputs[1]) != _elements(x):
            values["inputs"] = _elements(inputs[1])
            values["copies"] = _rows(inputs[1])
            values["steps"] = sum(int(np.prod(update[:d], dtype=np.int64))
                                  for d in range(1, len(update)))
    elif name == "BROADCAST_TO":
        values["copies"], values["leaves"] = _broadcast_copies(x.shape, y.shape)
    elif name == "RESIZE_BILINEAR":
        # interpolation values per output row and per output pixel, then the channels
        shape = y.shape if len(y.shape) == 4 else (1, 1, 1, 1)
        values["rows"] = shape[0] * shape[1]
        values["pixels"] = shape[0] * shape[1] * shape[2]
    elif name == "MIRROR_PAD":
        # each output element maps its index back dimension by dimension
        values["index_terms"] = _elements(y) * len(y.shape)
    elif name in ("PAD", "PADV2"):
        values["inputs"] = _elements(x)
        values["rows"] = _rows(y)
        values["checks"] = _pad_checks(model, x, inputs[1], y)
    elif name == "SLICE":
        # 5-D loops writing one element at a time: a row's setup per innermost run
        values["rows"] = _rows(y)
    elif name == "REDUCE_ALL":
        # per input element: its input and output offsets, one term per dimension each
        values["inputs"] = _elements(x)
        values["index_terms"] = _elements(x) * len(x.shape)
    return values


def _strided_slice_counts(model, inputs: list, options) -> dict:
    """reference_ops::StridedSlice's loops: per run of the outer axes (an index of all but
    the last), with a stride of 1 on the last axis one memcpy (WriteN), otherwise one Write
    per element; and the entries into the outer loops."""
    from tflm_edu.kernels.strided_slice import StridedSliceParams, start_for_axis, stop_for_axis
    shape = inputs[0].shape or (1,)
    begin, end, strides = (_int_data(model, t) for t in inputs[1:4])
    if begin is None or end is None or strides is None or 0 in strides.reshape(-1):
        return {"runs": 0, "element_writes": 0}
    params = StridedSliceParams(begin.reshape(-1).tolist(), end.reshape(-1).tolist(),
                                strides.reshape(-1).tolist(),
                                getattr(options, "begin_mask", 0) or 0,
                                getattr(options, "end_mask", 0) or 0,
                                getattr(options, "shrink_axis_mask", 0) or 0)
    counts = []
    for axis, size in enumerate(shape):
        start = start_for_axis(params, size, axis)
        stop = (start + 1 if params.shrink_axis_mask & (1 << axis)
                else stop_for_axis(params, size, axis))
        counts.append(len(range(start, stop, params.strides[axis])))
    runs = int(np.prod(counts[:-1], dtype=np.int64))
    # the loops above the innermost two, entered once per index of the loops outside them
    padded = [1] * (5 - len(counts)) + counts
    entries = int(sum(np.prod(padded[:k], dtype=np.int64) for k in range(1, 4)))
    if params.strides[-1] == 1:
        return {"runs": runs, "copies": runs if counts[-1] > 0 else 0, "element_writes": 0,
                "loop_entries": entries}
    return {"runs": runs, "copies": 0, "element_writes": runs * counts[-1],
            "loop_entries": entries}


def _space_to_batch_counts(model, x, block_tensor, paddings_tensor, y) -> dict:
    """reference_ops::SpaceToBatchND's output pixels copied from the input and those it
    fills with padding, and its rows (output batch and height)."""
    block, paddings = _int_data(model, block_tensor), _int_data(model, paddings_tensor)
    if block is None or paddings is None or len(x.shape) != 4 or len(y.shape) != 4:
        return {"copies": _rows(y)}
    bh, bw = int(block.reshape(-1)[0]), int(block.reshape(-1)[-1])
    top, left = int(paddings.reshape(-1)[0]), int(paddings.reshape(-1)[2])
    copies = 0
    for out_b in range(y.shape[0]):
        shift = out_b // max(x.shape[0], 1)
        shift_h, shift_w = shift // bw, shift % bw
        rows = np.arange(y.shape[1]) * bh + shift_h - top
        cols = np.arange(y.shape[2]) * bw + shift_w - left
        copies += int(((rows >= 0) & (rows < x.shape[1])).sum()
                      * ((cols >= 0) & (cols < x.shape[2])).sum())
    return {"copies": copies, "fills": _rows(y) - copies, "rows": y.shape[0] * y.shape[1]}


def _broadcasts(name: str, dtype: str, inputs: list) -> bool:
    """Whether TFLM takes the op's broadcasting loops. Quantized ADD, SUB and MUL (and float
    MUL) ask ProcessBroadcastShapes, for which shapes equal once padded with leading ones
    do not broadcast; float and int32 ADD and SUB, and the other ops, compare the shapes as
    they are (HaveSameShapes)."""
    a, b = tuple(inputs[0].shape), tuple(inputs[1].shape)
    if name in ("ADD", "SUB", "MUL") and not (name != "MUL" and dtype in ("float32", "int32")):
        rank = max(len(a), len(b))
        return (1,) * (rank - len(a)) + a != (1,) * (rank - len(b)) + b
    return a != b


def _broadcast_loops(shape1, shape2, out_shape) -> tuple[int, bool]:
    """How many times reference_ops::BroadcastBinaryOpSimple runs its innermost loop, and
    whether one operand stays fixed in it: from the last dimension up, it fuses each
    dimension into the loop below when both inputs and the output step through it at the
    stride that loop ends on (or it has extent 1); every loop above the innermost one
    repeats it."""
    rank = max(len(shape1), len(shape2), len(out_shape))
    if rank == 0:
        return 1, False
    a = [1] * (rank - len(shape1)) + list(shape1)
    b = [1] * (rank - len(shape2)) + list(shape2)
    o = [1] * (rank - len(out_shape)) + list(out_shape)
    loops = []                 # [extent, a stride, b stride, output stride]
    accumulated = [1, 1, 1]
    for d in reversed(range(rank)):
        strides = [0 if n == 1 and o[d] != 1 else s
                   for n, s in zip((a[d], b[d], o[d]), accumulated)]
        if loops and (o[d] == 1 or all(
                (s == 0) if below == 0 else (s == expected)
                for s, expected, below in zip(strides, accumulated, loops[-1][1:]))):
            loops[-1][0] *= o[d]
        else:
            loops.append([o[d], *strides])
        accumulated = [s * n for s, n in zip(accumulated, (a[d], b[d], o[d]))]
    return (int(np.prod([loop[0] for loop in loops[1:]], dtype=np.int64)),
            0 in loops[0][1:3])


def _cmsis_pad_features(x, y) -> dict:
    """arm_pad_s8 (the last four dimensions as n, h, w, c): per input row a memset of the
    left and right padding around one memcpy of the row - or, when the channels are padded
    too, three calls per pixel; the padding above and below each batch is one memset."""
    shape = [1] * (4 - len(x.shape)) + list(x.shape[-4:])
    rows = shape[0] * shape[1]
    pixels = rows * shape[2] if y.shape and y.shape[-1] != shape[3] else 0
    return {"calls": 1, "outputs": _elements(y), "rows": rows, "pixels": pixels,
            "batches": shape[0]}


def _int_data(model, tensor) -> np.ndarray | None:
    data = model.buffers[tensor.buffer].data
    if not data:
        return None
    return np.frombuffer(bytes(data), np.int64 if tensor.type == TensorType.INT64
                         else np.int32).reshape(tensor.shape or ())


def _reverse_copies(model, x, axes_tensor) -> int:
    """(calls, whether they are memcpy) of reference_ops::Reverse: one reverse_copy when
    the axes span every dimension, else a memcpy per (outer, axis position) of the runs
    after the axes, or a reverse_copy per outer index when the axes end at the last
    dimension."""
    axes = _int_data(model, axes_tensor)
    shape = list(x.shape or (1,))
    if axes is None or axes.size == 0:
        return 1, False
    axes = np.sort(axes.reshape(-1) % len(shape))
    first, last = int(axes[0]), int(axes[-1])
    upper = int(np.prod(shape[:first], dtype=np.int64))
    middle = int(np.prod(shape[first:last + 1], dtype=np.int64))
    lower = int(np.prod(shape[last + 1:], dtype=np.int64))
    if first == 0 and last == len(shape) - 1:
        return 1, False
    return (upper * middle, True) if lower > 1 else (upper, False)


def _broadcast_copies(in_shape, out_shape) -> int:
    """(memcpy calls, innermost recursive calls) of reference_ops::BroadcastTo (5-D): each
    innermost call (one per input index above the last broadcast dimension, its offsets
    computed from every dimension) copies its block once per output index of that
    dimension; then each broadcast dimension above duplicates its filled block."""
    rank = 5
    x = [1] * (rank - len(in_shape)) + list(in_shape)
    y = [1] * (rank - len(out_shape)) + list(out_shape)
    broadcast = [d for d in range(rank) if x[d] != y[d]]
    if not broadcast:
        return 1, 0
    last = broadcast[-1]

    def copies(dim: int) -> int:
        if dim == last:
            return y[dim]
        return x[dim] * copies(dim + 1) + (y[dim] - 1 if x[dim] != y[dim] else 0)
    return copies(0), int(np.prod(x[:last], dtype=np.int64))


def _pad_checks(model, x, paddings_tensor, y) -> int:
    """The comparisons reference_ops::Pad evaluates: per output element (5-D), its index
    against each dimension's left then right padding, in order, until one says padding."""
    paddings = _int_data(model, paddings_tensor)
    rank = len(y.shape)
    if paddings is None or rank > 5 or paddings.shape != (rank, 2):
        return 10 * _elements(y)
    out = [1] * (5 - rank) + list(y.shape)
    pads = [(0, 0)] * (5 - rank) + [tuple(int(v) for v in p) for p in paddings]
    checks = np.zeros(out, np.int64)
    inside = np.ones(out, bool)
    for d in range(5):
        index = np.arange(out[d]).reshape([-1 if k == d else 1 for k in range(5)])
        left = index < pads[d][0]
        right = index >= out[d] - pads[d][1]
        checks += inside * (1 + ~left)       # the left check, and the right if it passed
        inside = inside & ~left & ~right
    return int(checks.sum())


def _transpose_conv_features(x, w, y, options) -> dict:
    """reference_ops::TransposeConv scatters: for each input element and filter tap, a
    bounds check and a multiply-accumulate per output channel (where in bounds); the
    output is zeroed first and biased and clamped last."""
    batches, in_h, in_w, cin = x.shape
    cout, kh, kw = w.shape[0], w.shape[1], w.shape[2]
    sh, sw = max(options.stride_h, 1), max(options.stride_w, 1)
    # TFLM's padding for a transpose conv is a conv's from the output back to the input
    pad_h = _padding(options.padding, y.shape[1], in_h, kh, sh, 1)
    pad_w = _padding(options.padding, y.shape[2], in_w, kw, sw, 1)
    valid = (_valid_taps(y.shape[1], in_h, kh, sh, 1, pad_h)
             * _valid_taps(y.shape[2], in_w, kw, sw, 1, pad_w) * batches)
    taps = batches * in_h * in_w * kh * kw
    return {"calls": 1, "outputs": _elements(y), "inputs": _elements(x),
            "taps": taps * cin, "tap_channels": taps * cin * cout,
            "macs": valid * cin * cout}


def _transpose_conv_variant(x, options) -> str:
    """CMSIS-NN's int8 transpose conv runs a convolution over the stride-upscaled input
    ("reverse") for strides up to 2 and more than 16 input channels."""
    if max(options.stride_h, 1) <= 2 and max(options.stride_w, 1) <= 2 and x.shape[3] > 16:
        return "/reverse"
    return ""


def _reverse_conv_features(x, w, y) -> dict:
    """The reverse route's convolution (arm_convolve_s8, stride 1 over the upscaled input):
    every output pixel's window of filter taps by input channels (im2col), times the
    output channels; the others (arm_transpose_conv_s8) scatter every tap, in bounds or
    not, into an int32 buffer."""
    pixels = y.shape[0] * y.shape[1] * y.shape[2]
    depth = w.shape[1] * w.shape[2] * x.shape[3]
    return {"calls": 1, "outputs": _elements(y), "window": pixels * depth,
            "macs": pixels * depth * y.shape[3],
            "filter": _elements(w)}          # the filter reversed first, tap by tap


def _cmsis_transpose_conv_features(x, w, y, options) -> dict:
    """arm_transpose_conv_s8: per input row, its pixels in groups of 4 (then 2, then 1)
    scattered tap by tap and output channel by output channel into a rolling int32 buffer
    of output rows, the input channels 4 at a time then one by one; each finished row
    requantized, and each buffer row reset from the bias, one memcpy per pixel."""
    batches, in_h, in_w, cin = x.shape
    cout, kh, kw = w.shape[0], w.shape[1], w.shape[2]
    sh, sw = max(options.stride_h, 1), max(options.stride_w, 1)
    out_h = y.shape[1]
    pad = _padding(options.padding, out_h, in_h, kh, sh, 1)
    # each input row scatters the filter rows that land inside the output (CMSIS-NN's
    # skip_rows_top / skip_rows_bottom) and, unless rows were skipped above it, finishes
    # and resets `stride` buffer rows
    j = np.arange(in_h)
    top = np.maximum(0, pad - j * sh)
    bottom = np.maximum(0, j * sh + kh - (pad + out_h) - 1)
    filter_rows = batches * int(np.maximum(kh - top - bottom, 0).sum())
    written = batches * int((top == 0).sum()) * sh
    buffer_pixels = (in_w - 1) * sw + max(kw, sw)
    resets = (written + batches * max(kh, sh)) * buffer_pixels
    groups = in_w // 4 + (in_w % 4) // 2 + in_w % 2
    pixel_taps = filter_rows * in_w * kw * cout
    return {"calls": 1, "outputs": _elements(y), "group_rows": filter_rows * groups * cout,
            "group_taps": filter_rows * groups * cout * kw,
            "blocks": pixel_taps * (cin // 4), "tail": pixel_taps * (cin % 4),
            "resets": resets, "reset_words": resets * cout}


def _batch_matmul_features(model, lhs, rhs, y, options) -> dict:
    """reference_ops::BatchMatMul: per batch, one dot product of `depth` per output; the
    right-hand side is transposed first on every invoke unless adj_y (or it is a constant,
    transposed once), the left-hand side when adj_x."""
    depth = lhs.shape[-2] if getattr(options, "adj_x", False) else lhs.shape[-1]
    outputs = _elements(y)
    rows, columns = (y.shape[-2], y.shape[-1]) if len(y.shape) >= 2 else (1, _elements(y))
    batches = outputs // max(rows * columns, 1)
    # transposed by reference_ops::Transpose: elements, and rows of the transposed result
    transposed = transposed_rows = 0
    if not getattr(options, "adj_y", False) and not model.buffers[rhs.buffer].data:
        transposed += _elements(rhs)
        transposed_rows += _elements(rhs) // max(rhs.shape[-2], 1)
    if getattr(options, "adj_x", False):
        transposed += _elements(lhs)
        transposed_rows += _elements(lhs) // max(lhs.shape[-2], 1)
    # CMSIS-NN (int8, int16): one vector-by-matrix product per left-hand row
    return {"calls": 1, "outputs": outputs, "macs": outputs * depth, "batches": batches,
            "rows": batches * rows, "transposed": transposed,
            "transposed_rows": transposed_rows}


def _cmsis_lstm_features(x, input_to_forget, options, values: dict) -> dict:
    """arm_lstm_unidirectional_*: per step and gate, a vector-by-matrix product of the
    input and one of the hidden state, each 4 values at a time then the rest one by one.
    TFLM gives CMSIS-NN no hidden state, so each sequence's first step (per batch row, or
    the first step when time major) skips the hidden-state products."""
    time_major = getattr(options, "time_major", False)
    steps, batch = (x.shape[0], x.shape[1]) if time_major else (x.shape[1], x.shape[0])
    size, state = x.shape[-1], input_to_forget.shape[0]
    input_rows = steps * batch * 4 * state
    hidden_rows = (steps - 1) * batch * 4 * state
    return {"calls": 1, "steps": values["steps"], "cells": values["cells"],
            "hidden_steps": values["steps"] - (1 if time_major else batch),
            "blocks": input_rows * (size // 4) + hidden_rows * (state // 4),
            "tail": input_rows * (size % 4) + hidden_rows * (state % 4)}


def _lstm_features(x, input_to_forget, y, options) -> dict:
    """lstm_eval's LstmStep per time step (per batch and step unless time major): four
    gates, each a fully connected layer on the input and one on the hidden state, then
    element-wise cell and hidden-state updates."""
    time_major = getattr(options, "time_major", False)
    steps, batch = (x.shape[0], x.shape[1]) if time_major else (x.shape[1], x.shape[0])
    size, state = x.shape[-1], input_to_forget.shape[0]
    rows = steps * batch
    return {"calls": 1, "steps": steps if time_major else rows,
            "gate_macs": rows * 4 * state * (size + state), "cells": rows * state}


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


# Ops whose work depends on the values (VALUE_OPS): TFLM's int8 SOFTMAX computes an
# exponential only for inputs within diff_min of their row's maximum; int8 LOGISTIC and TANH
# compute only for inputs within a radius of the zero point (the rest saturate); DEQUANTIZE
# multiplies in double precision (soft-float on these FPUs, quick for zero); QUANTIZE from
# float rounds with roundf, whose path depends on the magnitude. model_features counts those
# elements in a run of the model (execution_trace); op_features alone assumes inputs spread
# evenly over the type's range.

VALUE_COUNTS = ("active", "nonzero", "inexact", "at_least_one", "clamped")    # the counts read from values


def _is_value_op(name: str, dtype: str) -> bool:
    return ((name in ("SOFTMAX", "LOGISTIC", "TANH") and dtype == "int8")
            or name == "DEQUANTIZE" or (name == "QUANTIZE" and dtype == "float32")
            or name in ("SignalFilterBankSquareRoot", "SignalFilterBankLog")
            or name == DETECTION_POSTPROCESS)


def _quant_param(tensor, field: str, default):
    q = tensor.quantization
    values = getattr(q, field, None) if q is not None else None
    return values[0] if values is not None and len(values) else default


def _zero_point(tensor) -> int:
    return int(_quant_param(tensor, "zero_point", 0))


def _softmax_radius(x, options) -> int:
    from tflm_edu.kernels.quantization_util import calculate_input_radius
    from tflm_edu.kernels.softmax import SCALED_DIFF_INTEGER_BITS, preprocess_softmax_scaling
    beta = float(np.float32(getattr(options, "beta", 1.0) or 1.0))
    _, shift = preprocess_softmax_scaling(beta, _quant_param(x, "scale", 1.0),
                                          SCALED_DIFF_INTEGER_BITS)
    return calculate_input_radius(SCALED_DIFF_INTEGER_BITS, shift)


def _within_of_row_max(data: np.ndarray, depth: int, radius: int) -> int:
    """How many inputs are within `radius` of their row's maximum (diff >= diff_min)."""
    rows = data.astype(np.int32).reshape(-1, max(depth, 1))
    return int(np.count_nonzero(rows - rows.max(axis=1, keepdims=True) >= -radius))


def _saturation_free_count(x, data, elements: int) -> float:
    from tflm_edu.kernels.logistic import INPUT_INTEGER_BITS, prepare_fixed_point_input
    try:         # TANH's int8 prepare is LOGISTIC's, with the same integer bits
        _, _, radius = prepare_fixed_point_input(_quant_param(x, "scale", 1.0),
                                                 INPUT_INTEGER_BITS)
    except Exception:       # a scale the kernel refuses: count every element
        return float(elements)
    codes = np.arange(-128, 128) if data is None else data.astype(np.int32).reshape(-1)
    inside = np.abs(codes - _zero_point(x)) < radius
    return float(np.mean(inside) * elements if data is None else np.count_nonzero(inside))


def _dequantize_value_counts(x, data) -> dict:
    """How many differences q - zero point are not zero, and how many products with the
    scale (a double of the float scale, as TFLM passes it) float32 cannot hold exactly."""
    scale = float(np.float32(_quant_param(x, "scale", 1.0)))
    if data is None:        # codes spread evenly: a power-of-two scale keeps them exact
        elements = _elements(x)
        exact = scale > 0 and np.frexp(scale)[0] == 0.5
        return {"nonzero": elements, "inexact": 0 if exact else elements}
    products = (data.astype(np.int64).reshape(-1) - _zero_point(x)).astype(np.float64) * scale
    with np.errstate(all="ignore"):
        inexact = products.astype(np.float32).astype(np.float64) != products
    return {"nonzero": int(np.count_nonzero(products)), "inexact": int(np.count_nonzero(inexact))}


def _quantize_value_counts(y, data) -> dict:
    """Of x / scale (float32, as TFLM divides): how many are 1 or more in magnitude (roundf's
    long path), and how many round beyond the output type's range (clamped)."""
    if data is None:
        return {"at_least_one": 0, "clamped": 0}
    info = np.iinfo(np.dtype(NUMPY_DTYPE[TensorType(y.type)]))
    with np.errstate(all="ignore"):
        scaled = data.astype(np.float32).reshape(-1) / np.float32(_quant_param(y, "scale", 1.0))
        codes = np.round(scaled.astype(np.float64)) + _zero_point(y)
    return {"at_least_one": int(np.count_nonzero(np.abs(scaled) >= 1)),
            "clamped": int(np.count_nonzero((codes < info.min) | (codes > info.max)))}


# -- the custom ops: TFLM's Signal library (signal/src, signal/micro/kernels) and
# CIRCULAR_BUFFER. Their options are a flexbuffer map (read here by key).

CUSTOM_OP_FEATURES = ("SignalWindow", "SignalFftAutoScale", "SignalRfft", "SignalIrfft",
                      "SignalEnergy", "SignalFilterBank", "SignalFilterBankSquareRoot",
                      "SignalFilterBankSpectralSubtraction", "SignalPCAN",
                      "SignalFilterBankLog", "SignalDelay", "SignalFramer", "SignalStacker",
                      "SignalOverlapAdd", "CIRCULAR_BUFFER")


def _custom_options(op) -> dict:
    from flatbuffers import flexbuffers
    try:
        options = flexbuffers.Loads(bytes(op.custom_options)) if op.custom_options else {}
    except Exception:       # malformed options: the kernel refuses them; count the shapes
        return {}
    return options if isinstance(options, dict) else {}


def _option(options: dict, key: str, default: int = 0) -> int:
    value = options.get(key, default)
    return int(value) if isinstance(value, (int, float, bool)) else default


def fft_stage_points(fft_length: int) -> dict:
    """The work of kissfft's complex FFT of fft_length / 2 points, which its real FFT
    (kiss_fftr, kiss_fftri) runs: each stage of radix p passes over every point once (p-point
    butterflies), and kf_work calls itself once per butterfly group of the stage before."""
    from tflm_edu.frontend.kiss_fft import factor
    half = max(fft_length // 2, 1)
    points = {f"radix{p}": 0 for p in (2, 3, 4, 5)}
    calls, groups = 0, 1
    for p, _ in factor(half):
        if f"radix{p}" in points:
            points[f"radix{p}"] += half
        calls += groups
        groups *= p
    return {**points, "fft_calls": calls, "half": half}


def _sqrt_steps(data: np.ndarray | None, elements: int) -> dict:
    """Sqrt64's bit-by-bit loop: (63 - m) / 2 + 1 steps with m = (64 - bit length) | 1 on
    64-bit values; values under 2^32 take Sqrt32's 32-bit loop (0 takes none). Without
    values: every value uses all 64 bits (32 wide steps)."""
    if data is None:
        return {"wide": elements, "wide_steps": 32 * elements, "narrow": 0, "narrow_steps": 0}
    values = data.astype(np.uint64).reshape(-1)
    high = (values >> np.uint64(32)).astype(np.uint32)
    low = (values & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    wide = high != 0
    bits_high = np.where(wide, np.floor(np.log2(np.maximum(high, 1))).astype(int) + 33, 0)
    bits_low = np.where(low != 0, np.floor(np.log2(np.maximum(low, 1).astype(np.float64)))
                        .astype(int) + 1, 0)
    wide_steps = (63 - ((64 - bits_high) | 1)) // 2 + 1
    narrow_steps = np.where(low != 0, (31 - ((32 - bits_low) | 1)) // 2 + 1, 0)
    return {"wide": int(np.count_nonzero(wide)),
            "wide_steps": int(wide_steps[wide].sum()),
            "narrow": int(np.count_nonzero(~wide & (low != 0))),
            "narrow_steps": int(narrow_steps[~wide].sum())}


DETECTION_POSTPROCESS = "TFLite_Detection_PostProcess"


def _detection_features(boxes, scores, op, work: dict | None) -> dict:
    """Decoding every box (two double-precision exps each: soft-float on these FPUs), the
    class scores scanned, and the non-max suppressions' work: candidates kept and merge-sorted,
    IoUs computed, boxes selected. Which boxes pass the score threshold and suppress each other
    depends on the values: a run counts them (the kernel's OpData.work); without one, every
    box is taken as a candidate and none suppressed until max_detections are selected."""
    num_boxes = boxes.shape[1] if len(boxes.shape) >= 2 else 0
    classes = scores.shape[-1] if scores.shape else 1
    if work:
        return {"calls": 1, **{k: float(v) for k, v in work.items()}}
    options = _custom_options(op)
    limit = min(num_boxes, max(_option(options, "max_detections"), 0))
    regular = bool(options.get("use_regular_nms", False))
    nms_calls = max(_option(options, "num_classes"), 1) if regular else 1
    kept = num_boxes * nms_calls
    return {"calls": 1, "boxes": num_boxes, "class_scores": num_boxes * classes,
            "kept": kept, "sorted": kept * float(np.log2(max(num_boxes, 1))),
            "iou": nms_calls * sum(num_boxes - 1 - i for i in range(limit)),
            "selected": nms_calls * limit, "nms_calls": nms_calls,
            "merged": nms_calls * limit if regular else 0}


def stacker_gets(first: int, step: int) -> float:
    """The share of the profiled invokes (the firmware's timed invokes after its warm-up,
    measure.REPEATS of them) in which a SignalStacker first full at invoke `first` outputs."""
    from tflm_edu.profile.measure import REPEATS
    timed = range(2, 2 + REPEATS)
    return sum(k >= first and (k - first) % step == 0 for k in timed) / REPEATS


def _custom_op_features(model, name: str, op, inputs: list, outputs: list, data) -> dict:
    """The loop counts of one Signal op or CIRCULAR_BUFFER (see CUSTOM_OP_FEATURES)."""
    options = _custom_options(op)
    x, y = inputs[0], outputs[0]
    shape = x.shape or (1,)
    values = {"calls": 1, "inputs": _elements(x), "outputs": _elements(y)}
    if name in ("SignalRfft", "SignalIrfft"):
        # per row: copy the frame in (Rfft zero-pads it to fft_length), the complex FFT's
        # stages, and the real FFT's split of the spectrum over fft_length / 4 pairs
        fft_length = _option(options, "fft_length", 2)
        rows = _elements(x) // max(shape[-1], 1)
        stages = fft_stage_points(fft_length)
        values.update({"rows": rows, "padding": rows * max(fft_length - shape[-1], 0),
                       **{k: rows * v for k, v in stages.items()}})
    elif name == "SignalEnergy":
        start, end = _option(options, "start_index"), _option(options, "end_index")
        values = {"calls": 1, "bins": max(end - start, 0)}
    elif name == "SignalFilterBank" and len(inputs) >= 6:
        # per channel (num_channels + 1), the taps of its width: two multiply-adds each
        raw = model.buffers[inputs[5].buffer].data
        widths = (np.frombuffer(bytes(raw), NUMPY_DTYPE[TensorType(inputs[5].type)])
                  if raw else None)
        values = {"calls": 1, "channels": _elements(inputs[5]),
                  "taps": int(widths.sum()) if widths is not None else _elements(x)}
    elif name == "SignalFilterBankSquareRoot":
        values.update(_sqrt_steps(data, _elements(y)))
    elif name == "SignalFilterBankLog":
        # Log32 only for values above 1 once shifted up by the correction bits
        bits = _option(options, "input_correction_bits") & 31
        values["active"] = (_elements(y) if data is None else int(np.count_nonzero(
            (data.astype(np.uint64).reshape(-1)[:_elements(y)] << np.uint64(bits))
            & np.uint64(0xFFFFFFFF) > 1)))
    elif name in ("SignalDelay", "SignalFramer", "SignalOverlapAdd"):
        # per row (each with its own circular buffer or state): memcpy and memmove calls
        frame_step = _option(options, "frame_step", 1)
        frames_in = shape[-2] if name == "SignalOverlapAdd" and len(shape) >= 2 else 1
        rows = _elements(x) // max(shape[-1] * frames_in, 1)
        values["rows"] = rows
        if name == "SignalFramer":
            values["frames"] = rows * (shape[-1] // max(frame_step, 1))
        elif name == "SignalOverlapAdd":
            values["frames"] = rows * frames_in
    elif name == "SignalStacker":
        # one frame in per invoke; the stack out once it holds left + 1 + right frames (the
        # first invoke writes the first frame left + 1 times), then every stacker_step
        # invokes: counted over the invokes the profiling firmware times
        step = max(_option(options, "stacker_step", 1), 1)
        first = max(_option(options, "stacker_right_context"), 0) + 1
        timed = stacker_gets(first, step)
        values["gets"] = timed
        values["outputs"] = _elements(y) * timed
    elif name == "CIRCULAR_BUFFER" and len(y.shape) == 4:
        # shift the buffer one frame towards its start, then store the new frame
        depth = y.shape[2] * y.shape[3]
        values = {"calls": 1, "moved": max(y.shape[1] - 1, 0) * depth, "inputs": depth}
    return values


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


def _depthwise_opt_features(x, w, y, options) -> dict:
    """The loops of CMSIS-NN's arm_depthwise_conv_s8_opt (DSP extension), per output pixel:
    one memset each for the filter rows above and below the image; per filter tap of the
    rows inside, a memset where the column is outside, else the tap's channels widened to
    int16 (4 at a time, then the rest); then the output channels 4 at a time, each quad
    over the taps 2 at a time (and an odd one), and the channels left over over every tap."""
    kh, kw = w.shape[1], w.shape[2]
    sh, sw = max(options.stride_h, 1), max(options.stride_w, 1)
    pad_h = _padding(options.padding, x.shape[1], y.shape[1], kh, sh, 1)
    pad_w = _padding(options.padding, x.shape[2], y.shape[2], kw, sw, 1)
    base_y = np.arange(y.shape[1]) * sh - pad_h
    base_x = np.arange(y.shape[2]) * sw - pad_w
    start = np.maximum(0, -base_y)
    end = np.minimum(kh, x.shape[1] - base_y)
    rows = np.maximum(end - start, 0)                     # filter rows inside, per out row
    inside_x = ((base_x[:, None] + np.arange(kw)[None, :] >= 0)
                & (base_x[:, None] + np.arange(kw)[None, :] < x.shape[2])).sum(axis=1)
    cin, cout, taps = x.shape[3], y.shape[3], kh * kw
    width, pixels = y.shape[2], y.shape[1] * y.shape[2]
    widened = int(rows.sum() * inside_x.sum())             # taps copied, over all pixels
    row_taps = int(rows.sum()) * width * kw
    quads = pixels * (cout // 4)
    return {"pixels": pixels, "row_fills": int(((start != 0).sum() + (end < kh).sum()) * width),
            "row_fill_bytes": int(((start + (kh - np.maximum(end, start))) * width).sum()
                                  * kw * cin),
            "col_fills": row_taps - widened, "widened": widened,
            "widen_by_4": widened * (cin // 4), "widen_tail": widened * (cin % 4),
            "quads": quads, "quad_pairs": quads * (taps // 2), "quad_odd": quads * (taps % 2),
            "tail_channels": pixels * (cout % 4), "tail_taps": pixels * (cout % 4) * taps}


def _convolve_s8_features(x, w, y, values: dict) -> dict:
    """The loops of CMSIS-NN's general int8 convolution (arm_convolve_s8 with the DSP
    extension): per output pixel, one memcpy of the input channels per filter tap inside
    the image and one memset per tap in the padding (im2col), then the whole column widened
    to int16, 4 values at a time; every 2 pixels, output channels in pairs run a dot product
    4 values at a time with a tail of the rest; an odd channel, and the odd pixel left at the
    end of each batch, run their own loops of the same shape."""
    batches, pixels_per_batch = y.shape[0], y.shape[1] * y.shape[2]
    pixels, channels, cin = values["pixels"], y.shape[3], x.shape[3]
    depth = w.shape[1] * w.shape[2] * w.shape[3]
    copies = values["valid_taps"] // max(channels, 1)
    fills = values["padded"] // max(channels, 1)
    pixel_pairs = batches * (pixels_per_batch // 2)
    pairs = pixel_pairs * (channels // 2)
    odd_channel = pixel_pairs * (channels % 2)
    left = batches * (pixels_per_batch % 2) * channels
    # newlib's memcpy and memset copy fewer than 4 bytes one by one, more a word at a time
    # after a setup: two paths, each with its own cost per call and per byte or word.
    short, word = (1, 0) if cin < 4 else (0, 1)
    return {"calls": 1, "pixels": pixels, "outputs": values["outputs"],
            "short_copy_calls": short * copies, "short_copy_bytes": short * copies * cin,
            "copy_calls": word * copies, "copy_words": word * copies * (cin // 4),
            "copy_bytes": word * copies * (cin % 4),
            "short_fill_calls": short * fills, "short_fill_bytes": short * fills * cin,
            "fill_calls": word * fills, "fill_words": word * fills * (cin // 4),
            "fill_bytes": word * fills * (cin % 4),
            "widen_by_4": pixels * (depth // 4), "widen_tail": pixels * (depth % 4),
            "pair_blocks": pairs, "pair_by_4": pairs * (depth // 4),
            "pair_by_1": pairs * (depth % 4), "odd_channel_pairs": odd_channel,
            "odd_channel_by_4": odd_channel * (depth // 4),
            "odd_channel_by_1": odd_channel * (depth % 4), "left_channels": left,
            "left_by_4": left * (depth // 4), "left_by_1": left * (depth % 4)}


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
    if multiplier % 4 == 0 and x.shape[0] == 1 and (dh, dw) == (1, 1):
        return "/mult4"       # arm_depthwise_conv_s8's loop over tiles of 4 output channels
    return ""


def _op_name(model, op) -> str:
    code = model.operator_codes[op.opcode_index]
    return (BuiltinOperator(code.builtin_code).name if code.builtin_code != BuiltinOperator.CUSTOM
            else (code.custom_code or "CUSTOM"))


def _has_control_flow(model) -> bool:
    return any(_op_name(model, op) in CONTROL_FLOW_OPS
               for sg in model.subgraphs for op in sg.operators)


FIRMWARE_SEED = 0x2545F491


def firmware_inputs(model) -> list:
    """The inputs the profiling firmware (profile_corpus_main.cc, FillInput) writes before it
    times a model: one xorshift32 stream from FIRMWARE_SEED over the inputs in order; a float
    gets (r % 2001 - 1000) / 500, a bool r & 1, every byte of another type r >> 24."""
    model = as_model(model)
    graph = model.subgraphs[0]
    state = FIRMWARE_SEED
    arrays = []
    for index in graph.inputs:
        tensor = graph.tensors[index]
        dtype = np.dtype(NUMPY_DTYPE.get(TensorType(tensor.type), np.uint8))
        count = _elements(tensor) * (1 if dtype.kind == "f" or dtype == np.bool_
                                     else dtype.itemsize)
        draws = np.empty(count, np.uint32)
        for i in range(count):
            state ^= (state << 13) & 0xFFFFFFFF
            state ^= state >> 17
            state ^= (state << 5) & 0xFFFFFFFF
            draws[i] = state
        if dtype == np.float32:
            values = ((draws % 2001).astype(np.int32) - 1000).astype(np.float32) / np.float32(500)
        elif dtype == np.bool_:
            values = (draws & 1).astype(np.bool_)
        else:
            values = (draws >> 24).astype(np.uint8).view(dtype.newbyteorder("<"))
        arrays.append(values.astype(dtype).reshape(tensor.shape))
    return arrays


def _needs_run(model) -> bool:
    """True when what one invoke costs depends on values: IF or WHILE (which ops run), or
    an op in VALUE_OPS (how much work each element takes)."""
    for sg in model.subgraphs:
        for op in sg.operators:
            name = _op_name(model, op)
            if name in CONTROL_FLOW_OPS:
                return True
            first = next((sg.tensors[i] for i in op.inputs if i >= 0), None)
            if first is not None and _is_value_op(name, _type_name(first)):
                return True
    return False


def execution_trace(model, inputs=None) -> list:
    """The ops one invoke runs, as ExecutedOp in the profiler's order. When the cost depends
    on values (_needs_run: IF/WHILE, or ops like int8 SOFTMAX), tflm_edu's interpreter runs
    the model on `inputs` (a list of arrays; by default firmware_inputs, what the profiling
    firmware feeds the board) - twice, as the firmware does: the first invoke also runs
    CALL_ONCE's initialisation, the second is the one traced. Otherwise it is the main
    subgraph's ops in order, without running anything."""
    model = as_model(model)
    static = [ExecutedOp(0, i) for i in range(len(model.subgraphs[0].operators))]
    if not _needs_run(model):
        return static
    try:
        return _traced_run(model, inputs)
    except (ModelError, AllocationError, KernelError) as e:
        if _has_control_flow(model):
            raise ModelError(f"cannot tell which ops its IF or WHILE run: tflm_edu cannot run "
                             f"the model ({e}); fix that first (`tflm-edu check MODEL` lists "
                             f"what TFLM would refuse)") from e
        # the value-dependent ops then count inputs spread evenly over their type's range
        return static


def _traced_run(model, inputs) -> list:
    from tflm_edu.interpreter import MicroInterpreter
    from tflm_edu.op_resolver import AllOpsResolver
    interpreter = MicroInterpreter(model, AllOpsResolver())
    interpreter.allocate_tensors()
    values = firmware_inputs(model) if inputs is None else list(inputs)
    if len(values) != interpreter.inputs_size:
        raise InputError(f"the model has {interpreter.inputs_size} input(s); {len(values)} "
                         f"value(s) given: give one per model input, in the model's order "
                         f"(tflm-edu profile: one --input FILE.npy each)")
    for i, value in enumerate(values):
        tensor = interpreter.input(i).data
        value = np.asarray(value)
        if value.shape != tensor.shape or value.dtype != tensor.dtype:
            raise InputError(f"input {i} must be {tensor.dtype} of shape {list(tensor.shape)}; "
                             f"got {value.dtype} of shape {list(value.shape)}")
        tensor[...] = value
    interpreter.invoke()
    trace: list = []

    def visit(event, depth: int) -> None:
        op = model.subgraphs[event.subgraph].operators[event.op_index]
        name = _op_name(model, op)
        first = next((i for i in op.inputs if i >= 0), None)
        tensors = model.subgraphs[event.subgraph].tensors
        # (an op inside an IF or WHILE is seen after the ops after it ran, which may have
        # reused its input's bytes: its values are then approximate)
        if name == DETECTION_POSTPROCESS:      # the kernel counted its own loops
            data = dict(getattr(event.node.user_data, "work", {}) or {})
        else:
            data = (np.array(event.inputs[op.inputs.index(first)])
                    if first is not None and _is_value_op(name, _type_name(tensors[first]))
                    else None)
        slot = len(trace)
        trace.append(None)
        for call in event.calls:
            visit(call, depth + 1)
        iterations = 0
        if name == "WHILE":
            options = op.builtin_options
            runs = [c.subgraph for c in event.calls]
            cond_ops = len(model.subgraphs[options.cond_subgraph_index].operators)
            body_ops = len(model.subgraphs[options.body_subgraph_index].operators)
            iterations = (runs.count(options.body_subgraph_index) // body_ops if body_ops
                          else max(runs.count(options.cond_subgraph_index) // cond_ops - 1, 0)
                          if cond_ops else 0)
        trace[slot] = ExecutedOp(event.subgraph, event.op_index, depth, iterations,
                                 len(event.calls), data)

    for event in interpreter.steps():
        visit(event, 0)
    return trace


def _control_flow_features(model, subgraph: int, op, name: str, iterations: int,
                           children: int) -> dict:
    """IF and WHILE's own work (their profiler event also holds the ops they run): the
    copies of tensors into and out of the subgraphs (kernel_util's Copy* helpers, one
    memcpy each), and the subgraph invocations with the profiler calls around each op run."""
    def sizes(indices, subgraph):
        ts = [subgraph.tensors[i] for i in indices if i >= 0]
        return len(ts), sum(_elements(t) * _itemsize(t) for t in ts)

    subgraph = model.subgraphs[subgraph]
    if name == "IF":
        n_in, b_in = sizes(op.inputs[1:], subgraph)
        n_out, b_out = sizes(op.outputs, subgraph)
        return {"calls": 1, "tensors": n_in + n_out, "bytes": b_in + b_out,
                "children": children}
    n, size = sizes(op.inputs, subgraph)
    return {"calls": 1, "tensors": 2 * n, "bytes": 2 * size, "iterations": iterations,
            "loop_tensors": 3 * n * iterations, "loop_bytes": 3 * size * iterations,
            "children": children}


def _itemsize(tensor) -> int:
    try:
        return np.dtype(NUMPY_DTYPE[TensorType(tensor.type)]).itemsize
    except (KeyError, TypeError, ValueError):
        return 1


def model_features(model, kernels: str = "reference", inputs=None) -> list:
    """OpFeatures of every op one invoke runs, in the profiler's order (execution_trace):
    the main subgraph's ops, and inside an IF or WHILE the ops of the subgraphs it runs."""
    model = as_model(model)
    features = []
    for run in execution_trace(model, inputs):
        f = op_features(model, run.subgraph, run.index, kernels, run.data)
        if f.op in CONTROL_FLOW_OPS:
            op = model.subgraphs[run.subgraph].operators[run.index]
            f.key = f.op
            f.values = _control_flow_features(model, run.subgraph, op, f.op, run.iterations,
                                              run.children)
        f.subgraph, f.depth = run.subgraph, run.depth
        features.append(f)
    return features


def own_instructions(counts: list, depths: list) -> list:
    """Each event's own instructions: an IF's or WHILE's event contains the events of the
    ops it runs (one level deeper), so their counts come off its own."""
    own = list(counts)
    for i, depth in enumerate(depths):
        for j in range(i + 1, len(depths)):
            if depths[j] <= depth:
                break
            if depths[j] == depth + 1:
                own[i] -= counts[j]
    return own


__all__ = ["OpFeatures", "ExecutedOp", "op_features", "model_features", "execution_trace",
           "firmware_inputs", "own_instructions"]
