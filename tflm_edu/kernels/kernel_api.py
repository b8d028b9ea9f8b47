"""What a kernel sees: its registration, its node, its tensors and the MicroContext.

Mirrors tensorflow/lite/micro/micro_common.h (TFLMRegistration), micro_context.h
(MicroContext) and kernels/kernel_util.h (GetEvalInput/GetEvalOutput). A kernel is three
functions, as in TFLM:

    init(context, node) -> OpData       once, when the graph is built
    prepare(context, node)              once, shapes and quantization are known: compute
                                        everything Eval needs into node.user_data (OpData)
    eval(context, node)                 every invoke(): dispatch on dtype, run the math

In prepare, only constant tensors have data; in eval every tensor's `data` is a numpy
view into the arena (or into the model's constant buffers).
"""
from __future__ import annotations

import math

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from tflm_edu.errors import ModelError
from tflm_edu.schema.enums import TensorType, type_name
from tflm_edu.schema.model import Sized


@dataclass
class Registration:
    """TFLMRegistration: the functions of one op, and the op versions they implement."""

    name: str
    prepare: Callable
    eval: Callable
    init: Callable | None = None
    reset: Callable | None = None
    max_version: int = 1
    count_macs: Callable | None = None  # (context, node) -> multiply-accumulates per invoke
    kernels: str = "optimized"  # the family eval belongs to: "optimized" or "reference"
    # tflm_edu's own, not TFLM's: (context, node) -> run() or None, called once after
    # allocate_tensors. run() is eval's arithmetic with the tensor views, the constant
    # operands and the work arrays bound once; invoke() calls it instead of eval (the
    # "invoke plan"), steps() calls eval. Both give the same bytes.
    bind: Callable | None = None


@dataclass
class Node:
    """TfLiteNode: one op of the graph, as the kernel sees it."""

    index: int
    op_name: str
    inputs: tuple
    outputs: tuple
    builtin_data: object = None  # the op's options dataclass (Conv2DOptions, ...)
    custom_initial_data: bytes | None = None
    user_data: object = None  # the kernel's OpData, returned by init()
    version: int = 1
    subgraph: int = 0  # the subgraph the node belongs to (0: the main graph)

    @property
    def label(self) -> str:
        """How messages name this node: "op 3 (CONV_2D)", or "subgraph 1 op 0 (...)"."""
        where = f"subgraph {self.subgraph} op {self.index}" if self.subgraph else f"op {self.index}"
        return f"{where} ({self.op_name})"

    def __repr__(self):
        where = f"{self.subgraph}:" if self.subgraph else ""
        return (f"Node({where}{self.index} {self.op_name}, in={list(self.inputs)}, "
                f"out={list(self.outputs)})")


@dataclass
class QuantizationView:
    """TfLiteAffineQuantization as numpy arrays (float32 scales, int32 zero points)."""

    scale: np.ndarray
    zero_point: np.ndarray
    quantized_dimension: int = 0


@dataclass
class MicroTensor(Sized):
    """TfLiteTensor and TfLiteEvalTensor in one: what kernels read and write."""

    index: int
    name: str
    type: int
    shape: tuple
    quantization: QuantizationView | None = None
    data: np.ndarray | None = None  # a view of the arena bytes, or the constant's buffer
    is_constant: bool = False
    is_variable: bool = False
    allocation: str = "arena"  # "arena" (planned in the head), "constant", "persistent"

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype if self.data is not None else _dtype_of(self.type)

    @property
    def scale(self) -> float:
        """Per-tensor scale (TfLiteTensor::params.scale); 0.0 when not quantized."""
        return float(self.quantization.scale[0]) if self.quantization is not None else 0.0

    @property
    def zero_point(self) -> int:
        return int(self.quantization.zero_point[0]) if self.quantization is not None else 0

    def __repr__(self):
        shape = "x".join(map(str, self.shape)) or "scalar"
        return f"MicroTensor({self.index} {self.name!r}, {shape} {type_name(self.type)})"


def _dtype_of(tensor_type: int) -> np.dtype:
    from tflm_edu.schema.enums import NUMPY_DTYPE
    return NUMPY_DTYPE[tensor_type]


class Workspace:
    """Scratch arrays of the bound Evals (Registration.bind), shared by all ops the way
    TFLM's scratch buffers share the arena head: ops run one at a time, so every op's work
    arrays start at the beginning of one block, which is as large as the largest op needs.
    The interpreter binds twice: first to measure (block None: each request gets a fresh
    array), then with the block. Nothing in it may outlive one run of an op."""

    ALIGN = 64

    def __init__(self, block: np.ndarray | None = None):
        self.block = block
        self.offset = 0
        self.largest = 0

    def next_op(self) -> None:
        self.offset = 0

    def array(self, shape, dtype) -> np.ndarray:
        shape = tuple(int(n) for n in shape) if isinstance(shape, (tuple, list)) else (int(shape),)
        dtype = np.dtype(dtype)
        nbytes = math.prod(shape) * dtype.itemsize
        start = self.offset
        self.offset = -(-(start + nbytes) // self.ALIGN) * self.ALIGN
        self.largest = max(self.largest, self.offset)
        if self.block is None:
            return np.empty(shape, dtype)
        return self.block[start:start + nbytes].view(dtype).reshape(shape)


@dataclass
class ScratchBufferRequest:
    node_index: int
    bytes: int
    subgraph_index: int = 0


@dataclass
class MicroContext:
    """The services the interpreter offers kernels (MicroContext / TfLiteContext).

    There is one per subgraph: `tensors` are that subgraph's; the scratch buffer lists are
    shared by all of them, as TFLM numbers scratch buffers across the whole model. `graph`
    is MicroGraph - the interpreter, which runs subgraphs (CALL_ONCE, IF, WHILE) and holds
    the resource variables."""

    tensors: list
    scratch_requests: list = field(default_factory=list)
    scratch_views: list = field(default_factory=list)
    current_node: Node | None = None
    subgraph_index: int = 0
    graph: object = None
    workspace: "Workspace | None" = None   # the bound Evals' scratch (tflm_edu's own)

    def work_array(self, shape, dtype=np.float64) -> np.ndarray:
        """A scratch array for a bound Eval (Registration.bind), from the workspace shared
        by every op; a fresh array when there is none."""
        if self.workspace is None:
            return np.empty(shape, dtype)
        return self.workspace.array(shape, dtype)

    # -- tensors -----------------------------------------------------------------------

    def get_input(self, node: Node, i: int) -> MicroTensor | None:
        """GetEvalInput: the node's i-th input, or None for an absent optional input."""
        if i >= len(node.inputs):
            raise ModelError(f"{node.label} has {len(node.inputs)} inputs; "
                             f"input {i} is required")
        t = node.inputs[i]
        return None if t < 0 else self.tensors[t]

    def get_output(self, node: Node, i: int = 0) -> MicroTensor:
        if i >= len(node.outputs):
            raise ModelError(f"{node.label} has {len(node.outputs)} outputs; "
                             f"output {i} is required")
        return self.tensors[node.outputs[i]]

    # -- memory ------------------------------------------------------------------------

    # What a kernel's Init and Prepare put in the arena tail (AllocatePersistentBuffer) and
    # its temporaries (AllocateTempInputTensor ...) are declared once, in the op's OpSpec
    # (ArenaRecipe), which the interpreter records at prepare; the data itself lives in the
    # kernel's OpData object.

    def request_scratch_buffer_in_arena(self, nbytes: int) -> int:
        """Prepare-time request for a buffer that lives only while this op runs."""
        self.scratch_requests.append(ScratchBufferRequest(self.current_node.index, int(nbytes),
                                                          self.subgraph_index))
        return len(self.scratch_requests) - 1

    def get_scratch_buffer(self, index: int) -> np.ndarray:
        """Eval-time: the bytes of a scratch buffer requested at prepare (uint8, in the
        arena head where the plan put it; other ops' data may have been there before)."""
        return self.scratch_views[index]


# ----------------------------------------------------------------------------- helpers


def ensure(condition: bool, message: str) -> None:
    """TF_LITE_ENSURE: a Prepare-time check of the model; the interpreter adds the op name."""
    if not condition:
        raise ModelError(message)


def ensure_type(tensor: MicroTensor, *allowed: int) -> None:
    if tensor.type not in allowed:
        names = " or ".join(type_name(t) for t in allowed)
        raise ModelError(f"tensor {tensor.index} ({tensor.name!r}) is {type_name(tensor.type)}; "
                         f"this op takes {names}")


def ensure_quantized(tensor: MicroTensor, dtype) -> None:
    """A quantized tensor must carry a positive, finite scale and a zero point its integer
    type can hold. TFLM reads params.scale / params.zero_point (the first entries)."""
    ensure(tensor.quantization is not None and len(tensor.quantization.scale) > 0,
           f"tensor {tensor.index} ({tensor.name!r}) is {np.dtype(dtype).name} but carries no "
           f"quantization parameters")
    ensure(math.isfinite(tensor.scale) and tensor.scale > 0,
           f"tensor {tensor.index} ({tensor.name!r}) has scale {tensor.scale}; a scale must be "
           f"positive and finite")
    info = np.iinfo(dtype)
    ensure(info.min <= tensor.zero_point <= info.max,
           f"tensor {tensor.index} ({tensor.name!r}) has zero point {tensor.zero_point}, "
           f"outside the {np.dtype(dtype).name} range [{info.min}, {info.max}]")


def unsupported_type(node: Node, tensor: MicroTensor) -> ModelError:
    return ModelError(f"type {type_name(tensor.type)} is not supported by {node.op_name} "
                      f"(tensor {tensor.index} {tensor.name!r})")


__all__ = ["Registration", "Node", "MicroTensor", "MicroContext", "QuantizationView",
           "ScratchBufferRequest", "ensure", "ensure_quantized", "ensure_type", "unsupported_type", "TensorType"]
