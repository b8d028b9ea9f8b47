"""Batch evaluation: many examples through the same kernels at once.

A test set is N examples that each need one invoke. TFLM runs them one by one, and so
does a plain loop over tflm_edu's interpreter - where, for a small model, numpy's per-call
overhead costs more than the arithmetic. Every kernel here is written for a leading batch
dimension (TFLM's kernels loop over `batches` too), so N examples can run as one model
whose activations hold N examples each:

    batched_model(model, n)   a copy of the model with the leading 1 of every activation
                              tensor (and of RESHAPE's target shapes) set to n
    BatchRunner(model)        interprets that copy in chunks of examples; outputs [N, ...]

The result is byte-identical, example by example, to N single invokes (the tests check it
against N invokes of the real TFLM): the batchable ops below never mix examples - each
example's sums run in the same order whatever the batch - and float exp() gives libm's
bytes for one element or many.

A model qualifies when it has one subgraph, no variables, every op in BATCHABLE (with the
conditions it lists), and every activation tensor leads with a batch dimension of 1.
Anything else (state between invokes, ops that mix the batch axis) runs one invoke per
example: `batched_model` returns None and says why in `why_not_batchable`.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from tflm_edu.schema.enums import BuiltinOperator as Op
from tflm_edu.schema.model import Buffer, Model

# Ops that treat every example of the leading axis on its own.
BATCHABLE = {
    Op.CONV_2D, Op.DEPTHWISE_CONV_2D, Op.FULLY_CONNECTED, Op.AVERAGE_POOL_2D,
    Op.MAX_POOL_2D, Op.SOFTMAX, Op.RESHAPE, Op.QUANTIZE, Op.DEQUANTIZE, Op.LOGISTIC,
    Op.TANH, Op.RELU, Op.RELU6, Op.LEAKY_RELU, Op.HARD_SWISH, Op.ADD, Op.SUB, Op.MUL,
    Op.CONCATENATION, Op.MEAN, Op.PAD, Op.TRANSPOSE_CONV,
}


def why_not_batchable(model: Model) -> str | None:
    """None when batched_model can batch the model; else the reason, in a sentence."""
    try:
        _batched(model, 2)
    except _NotBatchable as e:
        return str(e)
    return None


def batched_model(model: Model, batch: int) -> Model | None:
    """The model with room for `batch` examples in every activation, or None (see
    why_not_batchable)."""
    try:
        return _batched(model, batch)
    except _NotBatchable:
        return None


class _NotBatchable(Exception):
    pass


def _batched(model: Model, batch: int) -> Model:
    if len(model.subgraphs) != 1:
        raise _NotBatchable(f"it has {len(model.subgraphs)} subgraphs")
    sg = model.subgraphs[0]
    buffers = list(model.buffers)

    def constant(t) -> bool:
        return 0 < t.buffer < len(buffers) and len(buffers[t.buffer].data) > 0

    def constant_ints(index: int):
        t = sg.tensors[index]
        if not constant(t):
            return None
        return np.frombuffer(buffers[t.buffer].data, dtype=t.dtype).copy()

    tensors = list(sg.tensors)
    for i, t in enumerate(tensors):
        if t.is_variable:
            raise _NotBatchable(f"tensor {i} is a variable: state carries from one invoke "
                                f"to the next")
        if constant(t):
            continue
        if len(t.shape) == 0 or t.shape[0] != 1:
            raise _NotBatchable(f"tensor {i} ({t.name!r}, shape {list(t.shape)}) does not "
                                f"lead with a batch dimension of 1")
        tensors[i] = dataclasses.replace(t, shape=(batch,) + tuple(t.shape[1:]),
                                         shape_signature=None)

    operators = list(sg.operators)
    for k, op in enumerate(operators):
        code = model.operator_codes[op.opcode_index].builtin_code
        if code not in BATCHABLE:
            raise _NotBatchable(f"op {k} is {model.operator_codes[op.opcode_index].name}, "
                                f"which batch evaluation does not cover")
        options = op.builtin_options
        if code == Op.RESHAPE:
            if options is not None and len(options.new_shape):
                new_shape = tuple(options.new_shape)
                if new_shape[0] not in (1, -1):
                    raise _NotBatchable(f"op {k} (RESHAPE) reshapes to {list(new_shape)}, "
                                        f"not keeping the batch first")
                first = batch if new_shape[0] == 1 else -1
                options = dataclasses.replace(options, new_shape=(first,) + new_shape[1:])
            if len(op.inputs) > 1 and op.inputs[1] >= 0:
                shape = constant_ints(op.inputs[1])
                if shape is None or shape.size == 0 or shape[0] not in (1, -1):
                    raise _NotBatchable(f"op {k} (RESHAPE) takes its shape from a tensor "
                                        f"that does not keep the batch first")
                shape[0] = batch if shape[0] == 1 else -1
                buffers.append(Buffer(shape.tobytes()))
                t = tensors[op.inputs[1]]
                tensors[op.inputs[1]] = dataclasses.replace(t, buffer=len(buffers) - 1)
        elif code == Op.CONCATENATION:
            rank = len(tensors[op.outputs[0]].shape)
            if options is None or options.axis % max(rank, 1) == 0:
                raise _NotBatchable(f"op {k} (CONCATENATION) joins along the batch axis")
        elif code == Op.MEAN:
            axes = constant_ints(op.inputs[1])
            rank = len(tensors[op.inputs[0]].shape)
            if axes is None or any(int(a) % rank == 0 for a in axes):
                raise _NotBatchable(f"op {k} (MEAN) averages over the batch axis")
        elif code == Op.PAD:
            paddings = constant_ints(op.inputs[1])
            if paddings is None or paddings.size < 2 or paddings[0] != 0 or paddings[1] != 0:
                raise _NotBatchable(f"op {k} (PAD) pads the batch axis")
        elif code == Op.TRANSPOSE_CONV:
            output_shape = constant_ints(op.inputs[0])
            if output_shape is None or output_shape[0] != 1:
                raise _NotBatchable(f"op {k} (TRANSPOSE_CONV) has no constant output shape "
                                    f"with batch 1")
            output_shape[0] = batch
            buffers.append(Buffer(output_shape.tobytes()))
            t = tensors[op.inputs[0]]
            tensors[op.inputs[0]] = dataclasses.replace(t, buffer=len(buffers) - 1)
        elif code in (Op.ADD, Op.SUB, Op.MUL):
            for i in op.inputs:   # a constant operand must broadcast over the batch
                t = tensors[i]
                if constant(t) and len(t.shape) == len(tensors[op.outputs[0]].shape) \
                        and t.shape[0] != 1:
                    raise _NotBatchable(f"op {k} ({model.operator_codes[op.opcode_index].name}) "
                                        f"has a constant operand with a batch axis")
        if options is not op.builtin_options:
            operators[k] = dataclasses.replace(op, builtin_options=options)
    subgraph = dataclasses.replace(sg, tensors=tensors, operators=operators)
    return dataclasses.replace(model, subgraphs=[subgraph], buffers=buffers)


CHUNK_BYTES = 2 << 20


class BatchRunner:
    """Run N examples through a model `batch_size` at a time (one interpreter of the
    batched model, made once); the last chunk is padded with copies of its first example,
    whose outputs are dropped. For a model batched_model cannot batch, one invoke per
    example through a plain interpreter - the same results, only slower."""

    def __init__(self, model, batch_size: int | None = None, op_resolver=None):
        from tflm_edu.interpreter import MicroInterpreter
        from tflm_edu.op_resolver import AllOpsResolver
        from tflm_edu.schema.reader import as_model
        self.model = as_model(model)
        self.op_resolver = op_resolver or AllOpsResolver()
        single = MicroInterpreter(self.model, self.op_resolver)
        single.allocate_tensors()
        self.single = single
        self.reason = why_not_batchable(self.model)
        if batch_size is None:
            # Chunks of about 2 MiB of arena stay in the processor's caches; bigger ones
            # measured slower per example (benchmarks/bench_speed.py shows the figure).
            batch_size = int(np.clip(CHUNK_BYTES // max(single.arena.size, 1), 1, 256))
        self.batch_size = batch_size if self.reason is None else 1
        self.interpreter = single
        if self.reason is None and self.batch_size > 1:
            self.interpreter = MicroInterpreter(batched_model(self.model, self.batch_size),
                                                self.op_resolver)
            self.interpreter.allocate_tensors()

    @property
    def batched(self) -> bool:
        return self.interpreter is not self.single

    def run(self, inputs, progress=None) -> list[np.ndarray]:
        """inputs: one array [N, *input shape] per model input, in the input's dtype.
        Returns one array [N, *output shape] per model output. `progress`, if given, is
        called with the number of examples done after each chunk."""
        interpreter, single = self.interpreter, self.single
        n = len(inputs[0])
        if any(len(x) != n for x in inputs):
            raise ValueError(f"every input needs the same number of examples, got "
                             f"{[len(x) for x in inputs]}")
        outputs = [np.empty((n,) + example_shape(single.output(i).shape),
                            single.output(i).data.dtype)
                   for i in range(single.outputs_size)]
        step = self.batch_size if self.batched else 1
        for start in range(0, n, step):
            stop = min(n, start + step)
            for i, x in enumerate(inputs):
                target = interpreter.input(i).data
                chunk = np.asarray(x[start:stop]).reshape((stop - start,) + target.shape[1:]
                                                          if self.batched else
                                                          (stop - start,) + target.shape)
                if self.batched:
                    target[:stop - start] = chunk
                    target[stop - start:] = chunk[:1]
                else:
                    target[...] = chunk[0]
            interpreter.invoke()
            for i, out in enumerate(outputs):
                value = interpreter.output(i).data
                out[start:stop] = (value[:stop - start] if self.batched
                                   else value.reshape(out.shape[1:]))
            if progress is not None:
                progress(stop - start)
        return outputs


def example_shape(shape) -> tuple:
    """One example's part of a tensor shape: without the leading batch of 1."""
    shape = tuple(shape)
    return shape[1:] if shape and shape[0] == 1 else shape
