"""Constant folding: compute, once, every op whose result does not depend on the input.

TensorFlow's converter names this pass constant folding (tf.lite's MLIR "canonicalize" and
"constant-fold" steps, and TFLite's own ConstantFold): an op whose inputs are all
constants has a constant output, so the converter replaces it by that output. One case
remains in the float models it writes: SHAPE. Every Keras Reshape or Flatten with a
dynamic batch size becomes

    SHAPE(x) -> STRIDED_SLICE [0:1] (the batch) -> PACK(batch, 144) -> RESHAPE(x, shape)

because TensorFlow does not know the batch size. TFLM does: its tensors have static
shapes, so SHAPE's output is known before the first invoke, and with it the whole chain.
TFLite's int8 quantizer keeps the chain (it runs it in int32 at every invoke); tflm_edu
folds it before quantizing, so the int8 model is smaller and the quantizer never meets
int32 shape arithmetic.

fold_constants(model) evaluates each foldable op with tflm_edu's own kernel - a one-op
model run through MicroInterpreter, so the value is exactly what TFLM would compute -
turns its outputs into constant tensors, drops the op, and prune_unused() drops the
tensors and buffers nothing uses any more.
"""
from __future__ import annotations

import copy

import numpy as np

from tflm_edu.interpreter import MicroInterpreter
from tflm_edu.op_resolver import SPECS, AllOpsResolver
from tflm_edu.schema.builder import ModelBuilder
from tflm_edu.schema.enums import BuiltinOperator as Op
from tflm_edu.convert.prune import prune_unused
from tflm_edu.schema.model import Buffer, Model, tensor_data

# Ops never folded even with constant inputs: they have state, call subgraphs or are
# custom (their result may depend on more than their inputs).
NOT_FOLDABLE = {Op.CUSTOM, Op.VAR_HANDLE, Op.READ_VARIABLE, Op.ASSIGN_VARIABLE,
                Op.CALL_ONCE, Op.IF, Op.WHILE}

# Ops whose output depends on the shape of their input, not its values.
SHAPE_ONLY = {Op.SHAPE}


def fold_constants(model: Model) -> Model:
    """A copy of `model` with every foldable op replaced by its constant outputs, and the
    tensors and buffers left unused removed. A model with nothing to fold comes back
    equal to the original (same tensor indices)."""
    folded = copy.deepcopy(model)
    changed = False
    for graph in folded.subgraphs:
        changed |= _fold_subgraph(folded, graph)
    return prune_unused(folded) if changed else folded


def _fold_subgraph(model: Model, graph) -> bool:
    """Fold the ops of one subgraph in order, so that a chain folds link by link."""
    keep, folded_any = [], False
    for op in graph.operators:
        if not _foldable(model, graph, op):
            keep.append(op)
            continue
        for index, value in zip(op.outputs, evaluate_op(model, graph, op)):
            model.buffers.append(Buffer(data=np.ascontiguousarray(value).tobytes()))
            graph.tensors[index].buffer = len(model.buffers) - 1
        folded_any = True
    graph.operators = keep
    return folded_any


def _is_constant(model: Model, tensor) -> bool:
    return not tensor.is_variable and tensor_data(model, tensor) is not None


def _foldable(model: Model, graph, op) -> bool:
    """All inputs constant (SHAPE: any input, only its static shape is read), a
    stateless builtin op tflm_edu has a kernel for, and no output the caller reads (graph
    outputs stay computed)."""
    code = model.operator_codes[op.opcode_index].builtin_code
    inputs = [i for i in op.inputs if i >= 0]
    if code in NOT_FOLDABLE or code not in SPECS or not inputs or not op.outputs:
        return False
    if set(op.outputs) & set(graph.outputs):
        return False
    return code in SHAPE_ONLY or all(_is_constant(model, graph.tensors[i]) for i in inputs)


def evaluate_op(model: Model, graph, op) -> list[np.ndarray]:
    """The outputs of `op` computed by tflm_edu's kernel: a model of that one op, its
    constant inputs as constants, any other input (SHAPE's) as a graph input of zeros."""
    b = ModelBuilder(description="tflm_edu constant folding")
    inputs = []
    for i in op.inputs:
        if i < 0:
            inputs.append(-1)
            continue
        t = graph.tensors[i]
        data = tensor_data(model, t)
        if data is None:
            inputs.append(b.add_input(t.shape, t.dtype, t.name, t.quantization))
        else:
            inputs.append(b.add_tensor(t.shape, t.dtype, t.name, data, t.quantization))
    outputs = [b.mark_output(b.add_tensor(graph.tensors[o].shape, graph.tensors[o].dtype,
                                          graph.tensors[o].name,
                                          quant=graph.tensors[o].quantization))
               for o in op.outputs]
    code = model.operator_codes[op.opcode_index]
    b.add_operator(code.builtin_code, inputs, outputs, op.builtin_options,
                   version=code.version)
    interpreter = MicroInterpreter(b.build(), AllOpsResolver())
    interpreter.allocate_tensors()
    interpreter.invoke()
    return [np.array(interpreter.output(k).data) for k in range(len(outputs))]


__all__ = ["fold_constants", "evaluate_op", "prune_unused"]
