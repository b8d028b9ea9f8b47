"""Recording what each TFLM kernel puts in the arena while the interpreter allocates.

Every op's OpSpec (beside its kernel, tflm_edu/kernels/<op>.py) holds an ArenaRecipe: the
struct its Parse* function allocates for the builtin options
(tensorflow/lite/micro/flatbuffer_conversions... -> TfLiteXxxParams, in the tail), the
OpData struct its Init allocates with AllocatePersistentBuffer (tail, 16-aligned), and
what its Prepare does, in order, told to the PrepareRecorder of this module:

  temp_input(i) / temp_output(i)   AllocateTempInputTensor / AllocateTempOutputTensor: a
                                   TfLiteTensor in the head's temporary section, plus a
                                   TfLiteAffineQuantization and a zero-point TfLiteIntArray
                                   when the tensor is quantized. Temporaries only go away
                                   when the node's Prepare is over, so they add up.
  persistent(nbytes, what)         AllocatePersistentBuffer (tail, 16-aligned): per-channel
                                   multipliers and shifts, lookup tables, ...

Scratch buffer requests are not listed here: tflm_edu's own kernels make the same requests
(context.request_scratch_buffer_in_arena), and the interpreter's memory plan holds them.

Each recipe mirrors the Prepare of tensorflow/lite/micro/kernels/<op>*.cc; its docstring
says which function it follows.
"""
from __future__ import annotations


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
