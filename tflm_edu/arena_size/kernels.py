"""What each TFLM reference kernel puts in the arena while the interpreter allocates.

For every op: the struct its Parse* function allocates for the builtin options
(tensorflow/lite/micro/flatbuffer_conversions... -> TfLiteXxxParams, in the tail), the
OpData struct its Init allocates with AllocatePersistentBuffer (tail, 16-aligned), and
what its Prepare does, in order:

  temp_input(i) / temp_output(i)   AllocateTempInputTensor / AllocateTempOutputTensor: a
                                   TfLiteTensor in the head's temporary section, plus a
                                   TfLiteAffineQuantization and a zero-point TfLiteIntArray
                                   when the tensor is quantized. Temporaries only go away
                                   when the node's Prepare is over, so they add up.
  persistent(nbytes, what)         AllocatePersistentBuffer (tail, 16-aligned): per-channel
                                   multipliers and shifts, lookup tables, ...

Scratch buffer requests are not listed here: tflm_edu's own kernels make the same requests
(context.request_scratch_buffer_in_arena), and the interpreter's memory plan holds them.

Each recipe mirrors the Prepare of tensorflow/lite/micro/kernels/<op>*.cc; the names say
which function it follows.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType


@dataclass(frozen=True)
class KernelRecipe:
    builtin_params: str | None  # struct allocated by the op's Parse* function
    op_data: str | None  # struct allocated by the kernel's Init
    prepare: Callable  # (PrepareRecorder) -> None


class PrepareRecorder:
    """The calls one node's Prepare makes, as a list of events for the arena replay."""

    def __init__(self, model, subgraph, op):
        self.model, self.subgraph, self.op = model, subgraph, op
        self.events: list[tuple] = []

    # -- what the recipes call
    def temp_input(self, i: int) -> None:
        self._temp(self.op.inputs, i, "input")

    def temp_output(self, i: int = 0) -> None:
        self._temp(self.op.outputs, i, "output")

    def persistent(self, nbytes: int, what: str) -> None:
        self.events.append(("persistent", int(nbytes), what))

    # -- what the recipes read
    @property
    def num_inputs(self) -> int:
        return len(self.op.inputs)

    def input(self, i: int):
        index = self.op.inputs[i] if i < len(self.op.inputs) else -1
        return None if index < 0 else self.subgraph.tensors[index]

    def output(self, i: int = 0):
        return self.subgraph.tensors[self.op.outputs[i]]

    def _temp(self, indices, i, kind):
        # GetTensorIndex: an index past the node's list, or -1 (an omitted optional
        # tensor), gives nullptr and allocates nothing.
        if i >= len(indices) or indices[i] < 0:
            return
        tensor = self.subgraph.tensors[indices[i]]
        self.events.append(("temp_tensor", indices[i], quantization_channels(tensor),
                            f"temporary TfLiteTensor for {kind} {i}"))


def quantization_channels(tensor) -> int:
    """How many zero points TFLM copies for this tensor: 0 when it is not quantized (the
    flatbuffer needs both a scale and a zero_point vector)."""
    q = tensor.quantization
    if q is None or not q.scale or not q.zero_point:
        return 0
    return len(q.scale)


# ------------------------------------------------------------------ the recipes


def _inputs_then_output(n_inputs: int):
    def prepare(k: PrepareRecorder):
        for i in range(n_inputs):
            k.temp_input(i)
        k.temp_output(0)
    return prepare


def _fully_connected(k):  # FullyConnectedPrepare + CalculateOpDataFullyConnected
    for i in range(3):
        k.temp_input(i)
    k.temp_output(0)
    filter = k.input(1)
    quantized = k.input(0).type in (TensorType.INT8, TensorType.INT16)
    if quantized and filter.quantization is not None and len(filter.quantization.scale) > 1:
        channels = len(filter.quantization.scale)
        k.persistent(4 * channels, "per-channel output multipliers")
        k.persistent(4 * channels, "per-channel output shifts")


def _conv_like(quantized_dimension: int):
    def prepare(k):  # ConvPrepare / DepthwiseConvPrepare, then CalculateOpData*
        k.temp_output(0)
        k.temp_input(0)
        k.temp_input(1)
        channels = k.input(1).shape[quantized_dimension]
        # Allocated for float models too: the kernel does not look at the type first.
        k.persistent(4 * channels, "per-channel output multipliers")
        k.persistent(4 * channels, "per-channel output shifts")
        for i in range(3):
            k.temp_input(i)
        k.temp_output(0)
    return prepare


def _softmax(k):  # SoftmaxPrepare + CalculateSoftmaxParams
    k.temp_input(0)
    k.temp_output(0)
    if k.input(0).type == TensorType.INT16:
        lut_bytes = 2 * 513  # sizeof(int16_t) * LUTSize<int16_t>()
        k.persistent(lut_bytes, "int16 exp lookup table")
        k.persistent(lut_bytes, "int16 1/(1+x) lookup table")


def _reshape(k):  # PrepareReshapeReference -> ReshapeOutput
    k.temp_input(0)
    k.temp_output(0)
    if any(d == -1 for d in k.output(0).shape):  # CreateWritableTensorDimsWithCopy
        k.persistent(4 + 4 * len(k.output(0).shape), "writable output dims")


def _relu6(k):  # Relu6Prepare takes the input only
    k.temp_input(0)


def _tanh(k):  # TanhPrepare holds the input, then CalculateArithmeticOpData takes both
    k.temp_input(0)
    k.temp_input(0)
    k.temp_output(0)


def _pad(k):  # PadPrepare: input, paddings, constant_values (PADV2 only), output
    k.temp_input(0)
    k.temp_input(1)
    if k.num_inputs == 3:
        k.temp_input(2)
    k.temp_output(0)


def _concatenation(k):  # ConcatenationPrepare: input 0 and the output, then every input
    k.temp_input(0)
    k.temp_output(0)
    for i in range(k.num_inputs):
        k.temp_input(i)


def _mean(k):  # PrepareMeanOrSumHelper, then PrepareSimple
    k.temp_input(0)
    k.temp_output(0)
    k.temp_input(1)
    k.temp_input(0)
    k.temp_input(1)
    if k.input(0).type == TensorType.INT8:
        k.temp_output(0)


def _strided_slice(k):  # StridedSliceContext: input, begin, end, strides, output
    _inputs_then_output(4)(k)


def _nothing(k):
    pass


RECIPES = {
    Op.FULLY_CONNECTED: KernelRecipe("TfLiteFullyConnectedParams", "OpDataFullyConnected",
                                     _fully_connected),
    Op.CONV_2D: KernelRecipe("TfLiteConvParams", "OpDataConv", _conv_like(0)),
    Op.DEPTHWISE_CONV_2D: KernelRecipe("TfLiteDepthwiseConvParams", "OpDataConv",
                                       _conv_like(3)),
    Op.AVERAGE_POOL_2D: KernelRecipe("TfLitePoolParams", "OpDataPooling", _inputs_then_output(1)),
    Op.MAX_POOL_2D: KernelRecipe("TfLitePoolParams", "OpDataPooling", _inputs_then_output(1)),
    Op.SOFTMAX: KernelRecipe("TfLiteSoftmaxParams", "SoftmaxParams", _softmax),
    Op.RESHAPE: KernelRecipe("TfLiteReshapeParams", None, _reshape),
    Op.QUANTIZE: KernelRecipe(None, "OpDataQuantizeReference", _inputs_then_output(1)),
    Op.DEQUANTIZE: KernelRecipe(None, "DequantizeOpData", _inputs_then_output(1)),
    Op.ADD: KernelRecipe("TfLiteAddParams", "OpDataAdd", _inputs_then_output(2)),
    Op.MUL: KernelRecipe("TfLiteMulParams", "OpDataMul", _inputs_then_output(2)),
    Op.RELU: KernelRecipe(None, "ReluOpData", _inputs_then_output(1)),
    Op.RELU6: KernelRecipe(None, "Relu6OpData", _relu6),
    Op.LOGISTIC: KernelRecipe(None, "OpDataLogistic", _inputs_then_output(1)),
    Op.TANH: KernelRecipe(None, "OpDataTanh", _tanh),
    Op.PAD: KernelRecipe(None, "OpDataPad", _pad),
    Op.CONCATENATION: KernelRecipe("TfLiteConcatenationParams", "OpDataConcatenation",
                                   _concatenation),
    Op.MEAN: KernelRecipe("TfLiteReducerParams", "OpDataReduce", _mean),
    Op.SHAPE: KernelRecipe("TfLiteShapeParams", None, _nothing),
    Op.STRIDED_SLICE: KernelRecipe("TfLiteStridedSliceParams", "StridedSliceParams",
                                   _strided_slice),
    Op.PACK: KernelRecipe("TfLitePackParams", None, _nothing),
}
