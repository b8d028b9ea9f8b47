"""Structure-aware differential fuzzing: tflm_edu against the real TFLM (issue 14).

test_schema_fuzz.py breaks the bytes of a .tflite file and asks only that the reader never
crashes. This fuzzer works one level up: it parses a model (TARGETS: the reference models and
small built ones, control flow and state included) into its dataclasses
(tflm_edu.schema.model), changes one to three fields the way a hostile or careless converter
would - a shape, a tensor type, a tensor or op index, an option, a scale or zero point, a
buffer, a small int32 constant, is_variable, the OfflineMemoryAllocation metadata, an op
version (MUTATORS) - writes the model back, and runs it through both runtimes:

  tflm_edu   MicroInterpreter(read_model(bytes), AllOpsResolver(), None): allocate, seeded
             inputs, invoke twice. Its outcome is the output bytes, or the exception it raised.
  TFLM       only when tflm_edu ran: the tflite-micro package, in an arena of the size
             tflm_edu computed, on the same inputs. It may segfault or abort, so it runs in a
             worker process that is restarted when it dies.

Each mutant then falls in one class (CLASSES). tflm_edu refusing a model is always right:
a refusal names the problem, while running a model the board would not run (TFLM refuses or
crashes), or computing other bytes than the board, is a fidelity bug. So is any exception
that is neither ModelError nor AllocationError ("foreign"), a case slower than HANG_SECONDS,
an allocation beyond HUGE_BYTES or MEMORY_CAP, and an arena TFLM finds too small while a
larger one works. A bad verdict that involves TFLM is confirmed on a fresh TFLM worker.

Both runtimes run in persistent worker processes (python tests/fuzz_differential.py --worker
edu|tflm), fed pickled requests over a pipe, so thousands of cases cost seconds, a hang is a
timeout, and a crash is a dead worker. A mutant is named by its seed alone (for this version
of the mutators): `python tests/fuzz_differential.py --repro SEED` rebuilds it and prints
both outcomes (--save writes it to /tmp/fuzz_SEED.tflite).
"""
from __future__ import annotations

import dataclasses
import os
import pickle
import random
import select
import signal
import struct
import subprocess
import sys
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
MODELS = HERE.parent.parent / "shared" / "reference" / "models"
HANG_SECONDS = 5.0           # a case (allocate + invoke) slower than this is a hang
STARTUP_SECONDS = 120.0      # a worker's imports, under a loaded machine
MEMORY_CAP = 4 << 30         # address space of the tflm_edu worker (RLIMIT_AS)
HUGE_BYTES = 1 << 30         # one numpy array larger than this is a blow-up: 4 x the
                             # largest arena tflm_edu allocates (MAX_AUTO_ARENA_BYTES)
TFLM_RETRY_ARENA_CAP = 1 << 30
INVOKES = 2                  # twice, on the same inputs: state (variables) must match too

# ----------------------------------------------------------------------------- classes

EQUAL = "run by both and equal"
REFUSED = "refused by tflm_edu"
TFLM_REFUSES = "runs where TFLM refuses"
ARENA = "arena too small for TFLM"
DIFFER = "run by both and differ"
FOREIGN = "foreign exception"
HANG = "hang"
MEMORY = "memory blow-up"
TFLM_HANG = "TFLM timed out (undecided)"
GOOD = (EQUAL, REFUSED)
BAD = (FOREIGN, HANG, MEMORY, DIFFER, TFLM_REFUSES, ARENA)
CLASSES = GOOD + BAD + (TFLM_HANG,)


# ----------------------------------------------------------------------------- targets


def _real(name):
    def load():
        return (MODELS / f"{name}.tflite").read_bytes()
    load.available = lambda: (MODELS / f"{name}.tflite").is_file()
    return load


def _built(factory):
    def load():
        from tflm_edu.schema import write_model
        return write_model(factory())
    load.available = lambda: True
    return load


def _small_net():
    from test_schema_fuzz import small_model
    from tflm_edu.schema import read_model
    return read_model(small_model())


def _conv():
    from models import conv_model
    return conv_model(np.int8, hw=(5, 5), depth=2, out_depth=3, seed=1)


def _depthwise():
    from models import dw_model
    return dw_model(np.int8, hw=(5, 5), depth=2, multiplier=2, seed=2)


def _fully_connected():
    from models import fc_model
    return fc_model(2, 6, 3, np.int8, seed=3)


def _float_fully_connected():
    from models import fc_model
    return fc_model(1, 5, 4, np.float32, seed=4)


def _pools():
    from models import pool_model
    from tflm_edu.schema.enums import BuiltinOperator as Op
    return pool_model(Op.AVERAGE_POOL_2D, (1, 6, 6, 2), (3, 3), (2, 2), 1, np.int8, seed=5)


def _add():
    from models import binary_model
    from tflm_edu.schema.enums import BuiltinOperator as Op
    return binary_model(Op.ADD, (1, 3, 4), (1, 1, 4), np.int8, seed=6)


def _mean():
    from models import one_op_model, quant_for, tensor
    from tflm_edu.schema.enums import BuiltinOperator as Op
    from tflm_edu.schema.options import ReducerOptions
    return one_op_model(Op.MEAN, [tensor((1, 4, 3, 2), np.int8, quant=quant_for(np.int8)),
                                  tensor((2,), np.int32, np.array([1, 2], np.int32))],
                        ReducerOptions(keep_dims=True),
                        tensor((1, 1, 1, 2), np.int8, quant=quant_for(np.int8, 0.04, 1)))


def _mixed_int8_net():
    """QUANTIZE -> PAD -> TRANSPOSE -> STRIDED_SLICE -> MUL (a constant) -> LOGISTIC and
    TANH -> ADD -> RESHAPE -> SOFTMAX -> DEQUANTIZE: the data-movement and activation
    kernels the reference models lack, in one small int8 graph."""
    from tflm_edu.schema import options as o
    from tflm_edu.schema.builder import ModelBuilder, quantization
    from tflm_edu.schema.enums import BuiltinOperator as Op
    q = quantization(0.05, 0)
    b = ModelBuilder()

    def op(code, inputs, shape, quant, options=None, dtype=np.int8, version=1):
        out = b.add_tensor(shape, dtype, quant=quant)
        b.add_operator(code, inputs, [out], options, version=version)
        return out

    def const(values, dtype=np.int32, quant=None):
        values = np.asarray(values)
        return b.add_tensor(values.shape, dtype, data=values, quant=quant)
    x = b.add_input((1, 6, 6, 2), np.float32)
    t = op(Op.QUANTIZE, [x], (1, 6, 6, 2), q)
    t = op(Op.PAD, [t, const([[0, 0], [1, 1], [1, 1], [0, 0]])], (1, 8, 8, 2), q,
           o.PadOptions(), version=2)
    t = op(Op.TRANSPOSE, [t, const([0, 2, 1, 3])], (1, 8, 8, 2), q, o.TransposeOptions(),
           version=2)
    t = op(Op.STRIDED_SLICE, [t, const([0, 0, 0, 0]), const([1, 8, 8, 2]),
                              const([1, 2, 2, 1])], (1, 4, 4, 2), q, o.StridedSliceOptions(),
           version=2)
    t = op(Op.MUL, [t, const([40, -90], np.int8, quantization(0.02, 0))], (1, 4, 4, 2),
           quantization(0.04, 3), o.MulOptions(), version=2)
    s = op(Op.LOGISTIC, [t], (1, 4, 4, 2), quantization(1 / 256, -128), version=2)
    h = op(Op.TANH, [t], (1, 4, 4, 2), quantization(1 / 128, 0), version=2)
    t = op(Op.ADD, [s, h], (1, 4, 4, 2), quantization(1 / 64, -10), o.AddOptions(), version=2)
    t = op(Op.RESHAPE, [t, const([1, 32])], (1, 32), quantization(1 / 64, -10),
           o.ReshapeOptions((1, 32)))
    t = op(Op.SOFTMAX, [t], (1, 32), quantization(1 / 256, -128), o.SoftmaxOptions(1.0),
           version=2)
    b.mark_output(op(Op.DEQUANTIZE, [t], (1, 32), None, dtype=np.float32, version=2))
    return b.build()


def _float_conv_net():
    from models import float_conv_net
    return float_conv_net()


def _grouped_conv_net():
    from models import int8_grouped_net
    return int8_grouped_net()


def _svdf():
    from test_kernel_svdf import svdf_model
    return svdf_model(np.int8)


def _transpose_conv():
    from test_kernel_transpose_conv import transpose_conv_model
    return transpose_conv_model(np.int8)


def _if():
    from test_kernel_control_flow import if_model
    return if_model()


def _while():
    from test_kernel_control_flow import while_model
    return while_model()


def _accumulator():
    from test_kernel_resource_variables import accumulator_model
    return accumulator_model(np.int8, init_value=[[1, -2, 3, -4]])


def _lstm():
    from tflm_edu.arena_size.examples import lstm_model
    return lstm_model(np.int8)


# name -> (bytes loader, weight). The real models first: they are what learners run.
# person_detect costs ~0.15 s a case, so it gets a small share.
TARGETS = {
    "hello_world_int8": (_real("hello_world_int8"), 10),
    "hello_world_float": (_real("hello_world_float"), 4),
    "micro_speech_quantized": (_real("micro_speech_quantized"), 10),
    "magic_wand": (_real("magic_wand"), 10),
    "audio_preprocessor_int8": (_real("audio_preprocessor_int8"), 4),
    "person_detect": (_real("person_detect"), 1),
    "small_net": (_built(_small_net), 8),
    "conv_int8": (_built(_conv), 6),
    "depthwise_int8": (_built(_depthwise), 6),
    "fc_int8": (_built(_fully_connected), 6),
    "fc_float": (_built(_float_fully_connected), 4),
    "avg_pool_int8": (_built(_pools), 4),
    "add_int8": (_built(_add), 4),
    "mean_int8": (_built(_mean), 4),
    "mixed_int8_net": (_built(_mixed_int8_net), 8),
    "float_conv_net": (_built(_float_conv_net), 4),
    "grouped_conv_int8": (_built(_grouped_conv_net), 4),
    "svdf_int8": (_built(_svdf), 4),
    "transpose_conv_int8": (_built(_transpose_conv), 4),
    "if_float": (_built(_if), 3),
    "while_float": (_built(_while), 3),
    "call_once_variable_int8": (_built(_accumulator), 4),
    "lstm_int8": (_built(_lstm), 4),
}

_BASE_BYTES: dict = {}


def target_bytes(name: str) -> bytes:
    if name not in _BASE_BYTES:
        _BASE_BYTES[name] = TARGETS[name][0]()
    return _BASE_BYTES[name]


def available_targets() -> list[str]:
    return [name for name, (load, _) in TARGETS.items() if load.available()]


# ----------------------------------------------------------------------------- mutators
#
# Each mutator changes one field of a parsed Model in place and returns (label, detail):
# the label is stable (it names the field and the op it feeds, for the KNOWN lists), the
# detail says which values changed. It returns None when the model offers nothing to
# mutate (no quantized tensor, no options, ...).

INTERESTING_INTS = [0, 1, 2, 3, -1, -2, 4, 7, 8, 16, 127, 128, 255, 256, 32767, 32768, 65535,
                    65536, 1 << 20, (1 << 31) - 1, -(1 << 31), 1 << 24, 100]
SMALL_DIMS = [0, 1, 2, 3, 4, 5, 7, 8, 16, 17, 64, 100, 1000]
HUGE_DIMS = [-1, -2, 1 << 16, 1 << 20, 1 << 24, (1 << 31) - 1, -(1 << 31)]
INTERESTING_FLOATS = [0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 1e-45, 1e-38, 1e-30, 1e-10, 1e10, 1e30,
                      3.4e38, float("inf"), float("-inf"), float("nan"), 0.00390625, 65536.0]
INTERESTING_SCALES = [0.0, -0.0, -1.0, float("nan"), float("inf"), 1e-45, 1e-38, 1e-20, 1e-9,
                      1e-5, 1.0, 255.0, 1e5, 1e20, 3.4e38, 2.0 ** -31, 2.0 ** 31]
INTERESTING_ZERO_POINTS = [0, 1, -1, 127, -128, 128, -129, 255, 256, 32767, -32768, 65535,
                           (1 << 31) - 1, -(1 << 31), 1 << 40, -(1 << 40)]


def _at(s: int) -> str:
    """How a detail names where it happened: nothing for the main subgraph."""
    return f"subgraph {s} " if s else ""


def _pick_subgraph(rng, model):
    index = rng.randrange(len(model.subgraphs))
    return index, model.subgraphs[index]


def _op_name(model, op) -> str:
    if 0 <= op.opcode_index < len(model.operator_codes):
        return model.operator_codes[op.opcode_index].name
    return f"opcode{op.opcode_index}"


def _role(model, sg, index: int) -> str:
    """What tensor `index` of `sg` is to the graph: the first op slot that uses it
    ('CONV_2D.in1'), a graph input, or unused - the stable part of a mutation's label."""
    for op in sg.operators:
        if index in op.inputs:
            return f"{_op_name(model, op)}.in{list(op.inputs).index(index)}"
        if index in op.outputs:
            return f"{_op_name(model, op)}.out{list(op.outputs).index(index)}"
    return "graph-input" if index in sg.inputs else "unused"


def _pick_tensor(rng, model, want=None):
    """(subgraph, index, tensor) of a random tensor for which want(tensor) holds."""
    choices = [(s, i, t) for s, sg in enumerate(model.subgraphs) for i, t in enumerate(sg.tensors)
               if want is None or want(t)]
    return rng.choice(choices) if choices else None


def _pick_op(rng, model, want=None):
    choices = [(s, i, op) for s, sg in enumerate(model.subgraphs)
               for i, op in enumerate(sg.operators) if want is None or want(op)]
    return rng.choice(choices) if choices else None


def mutate_shape(rng, model):
    # mostly activations: a constant's new shape seldom matches its buffer, and the reader
    # refuses that before anything interesting runs
    activations = rng.random() < 0.75
    picked = _pick_tensor(rng, model, lambda t: len(t.shape) > 0 and
                          not (activations and _with_data(model, t)))
    if picked is None:
        return None
    s, i, t = picked
    shape = list(t.shape)
    axis = rng.randrange(len(shape))
    how = rng.random()
    if how < 0.55:
        shape[axis] = rng.choice(SMALL_DIMS + [shape[axis] + 1, max(shape[axis] - 1, 0),
                                               shape[axis] * 2])
    elif how < 0.75:
        shape[axis] = rng.choice(HUGE_DIMS)
    else:
        a, b = rng.randrange(len(shape)), rng.randrange(len(shape))
        shape[a], shape[b] = shape[b], shape[a]
    old, t.shape = t.shape, tuple(shape)
    return (f"shape [{_role(model, model.subgraphs[s], i)}]",
            f"{_at(s)}tensor {i} {old} -> {t.shape}")


def mutate_rank(rng, model):
    s, i, t = _pick_tensor(rng, model)
    shape = list(t.shape)
    how = rng.randrange(4)
    if how == 0 or not shape:
        shape.insert(rng.randrange(len(shape) + 1), rng.choice([1, 1, 2, 0]))
    elif how == 1:
        del shape[rng.randrange(len(shape))]
    elif how == 2:
        shape = []
    else:
        shape = [1] * rng.randrange(5, 8) + shape
    old, t.shape = t.shape, tuple(shape)
    return (f"rank [{_role(model, model.subgraphs[s], i)}]",
            f"{_at(s)}tensor {i} {old} -> {t.shape}")


def mutate_type(rng, model):
    s, i, t = _pick_tensor(rng, model)
    old = t.type
    t.type = rng.choice([v for v in [0, 1, 2, 3, 4, 6, 7, 9, 10, 12, 15, 16, 0, 2, 7, 9, 9, 3,
                                     5, 13, 17, 18, 99, -1] if v != old])
    return (f"type [{_role(model, model.subgraphs[s], i)}]",
            f"{_at(s)}tensor {i} type {old} -> {t.type}")


def _index_value(rng, sg, old):
    n = len(sg.tensors)
    return rng.choice([-1, -1, -2, n, n + 7, (1 << 31) - 1, rng.randrange(n), rng.randrange(n),
                       rng.randrange(n), old + 1, old - 1])


def mutate_op_tensor_index(rng, model):
    picked = _pick_op(rng, model, lambda op: op.inputs or op.outputs)
    if picked is None:
        return None
    s, k, op = picked
    sg = model.subgraphs[s]
    slot = "inputs" if op.outputs == () or (op.inputs and rng.random() < 0.6) else "outputs"
    values = list(getattr(op, slot))
    j = rng.randrange(len(values))
    old = values[j]
    values[j] = _index_value(rng, sg, old)
    setattr(op, slot, tuple(values))
    return (f"index [{_op_name(model, op)}.{'in' if slot == 'inputs' else 'out'}{j}]",
            f"{_at(s)}op {k} {slot}[{j}] {old} -> {values[j]}")


def mutate_op_arity(rng, model):
    s, k, op = _pick_op(rng, model) or (None, None, None)
    if op is None:
        return None
    slot = rng.choice(["inputs", "outputs"])
    values = list(getattr(op, slot))
    if values and rng.random() < 0.5:
        del values[rng.randrange(len(values))]
        how = "dropped one"
    else:
        values.append(rng.choice([-1, rng.randrange(len(model.subgraphs[s].tensors))]))
        how = f"appended {values[-1]}"
    setattr(op, slot, tuple(values))
    return f"arity [{_op_name(model, op)}.{slot}]", f"{_at(s)}op {k} {slot}: {how}"


def mutate_graph_io(rng, model):
    s, sg = _pick_subgraph(rng, model)
    slot = rng.choice(["inputs", "outputs"])
    values = list(getattr(sg, slot))
    how = rng.randrange(4)
    if how == 0 and values:
        j = rng.randrange(len(values))
        values[j] = _index_value(rng, sg, values[j])
    elif how == 1 and values:
        del values[rng.randrange(len(values))]
    elif how == 2:
        values.append(rng.randrange(len(sg.tensors)))
    else:
        values = values + values[:1]
    old = getattr(sg, slot)
    setattr(sg, slot, tuple(values))
    return f"graph-{slot}", f"subgraph {s} {slot} {old} -> {tuple(values)}"


def mutate_opcode(rng, model):
    """An op's opcode index, or what an operator code names (another builtin op)."""
    if rng.random() < 0.5:
        s, k, op = _pick_op(rng, model) or (None, None, None)
        if op is None:
            return None
        old = op.opcode_index
        op.opcode_index = rng.choice([len(model.operator_codes), len(model.operator_codes) + 3,
                                      rng.randrange(len(model.operator_codes))])
        return "opcode-index", f"{_at(s)}op {k} opcode_index {old} -> {op.opcode_index}"
    code = rng.choice(model.operator_codes)
    old = code.name
    from tflm_edu.schema.enums import BuiltinOperator as Op
    code.builtin_code = int(rng.choice([Op.ADD, Op.CONV_2D, Op.DEPTHWISE_CONV_2D,
                                        Op.FULLY_CONNECTED, Op.SOFTMAX, Op.RESHAPE, Op.MEAN,
                                        Op.AVERAGE_POOL_2D, Op.MAX_POOL_2D, Op.MUL, Op.LOGISTIC,
                                        Op.QUANTIZE, Op.DEQUANTIZE, Op.TANH, Op.PAD, Op.SUB,
                                        Op.CONCATENATION, Op.STRIDED_SLICE, Op.TRANSPOSE]))
    code.deprecated_builtin_code = min(code.builtin_code, 127)
    code.custom_code = None
    return f"opcode [{old}->{code.name}]", f"operator code {old} -> {code.name}"


def mutate_version(rng, model):
    code = rng.choice(model.operator_codes)
    old = code.version
    code.version = rng.choice([0, -1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 100, old + 1])
    return f"version [{code.name}]", f"{code.name} version {old} -> {code.version}"


def _option_value(rng, fmt, old):
    from tflm_edu.schema import options as o
    if fmt == o.BOOL:
        return not old
    if fmt == o.BYTE:
        return rng.choice([0, 1, 2, 3, 4, 5, 6, -1, 7, 127, -128, 9, 10])
    if fmt == o.FLOAT32:
        return rng.choice(INTERESTING_FLOATS)
    if fmt in (o.INT32, o.INT64):
        return rng.choice(INTERESTING_INTS + [old + 1, old - 1, old * 2])
    if fmt == o.UINT32:
        return rng.choice([0, 1, 2, 3, 7, 255, 65536, (1 << 32) - 1, old + 1])
    if fmt == o.INT_VECTOR:
        values = list(old or ())
        choice = rng.randrange(3)
        if choice == 0 and values:
            values[rng.randrange(len(values))] = rng.choice(INTERESTING_INTS)
        elif choice == 1 and values:
            del values[rng.randrange(len(values))]
        else:
            values.append(rng.choice([1, -1, 0, 2, 1 << 20]))
        return tuple(values)
    if fmt == o.FLOAT_VECTOR:
        return tuple(rng.choice(INTERESTING_FLOATS) for _ in range(rng.randrange(4)))
    if fmt == o.UBYTE_VECTOR:
        return tuple(rng.randrange(256) for _ in range(rng.randrange(4)))
    if fmt == o.STRING:
        return rng.choice(["", "x", "a" * 300, None])
    return old


def mutate_option(rng, model):
    from tflm_edu.schema import options as o
    picked = _pick_op(rng, model, lambda op: op.builtin_options is not None and
                      o.SPEC_BY_CLASS[type(op.builtin_options)].slots)
    if picked is None:
        return None
    s, k, op = picked
    spec = o.SPEC_BY_CLASS[type(op.builtin_options)]
    _, name, fmt = rng.choice(spec.slots)
    old = getattr(op.builtin_options, name)
    new = _option_value(rng, fmt, old)
    op.builtin_options = dataclasses.replace(op.builtin_options, **{name: new})
    return (f"option [{_op_name(model, op)}.{name}]",
            f"{_at(s)}op {k} {name} {old!r} -> {new!r}")


def mutate_options_table(rng, model):
    """No options table, the defaults, or another op's table."""
    from tflm_edu.schema import options as o
    s, k, op = _pick_op(rng, model) or (None, None, None)
    if op is None:
        return None
    how = rng.randrange(3)
    if how == 0:
        op.builtin_options, op.builtin_options_type = None, 0
        what = "none"
    else:
        cls = type(op.builtin_options) if how == 1 and op.builtin_options is not None else \
            rng.choice([o.Conv2DOptions, o.Pool2DOptions, o.FullyConnectedOptions,
                        o.SoftmaxOptions, o.AddOptions, o.ReshapeOptions, o.ReducerOptions,
                        o.DepthwiseConv2DOptions])
        op.builtin_options = cls()
        op.builtin_options_type = o.SPEC_BY_CLASS[cls].union_type
        what = f"default {cls.__name__}"
    return f"options-table [{_op_name(model, op)}]", f"{_at(s)}op {k} options -> {what}"


def _quantized(t):
    return t.quantization is not None and bool(t.quantization.scale)


def mutate_scale(rng, model):
    picked = _pick_tensor(rng, model, _quantized)
    if picked is None:
        return None
    s, i, t = picked
    scales = list(t.quantization.scale)
    j = rng.randrange(len(scales))
    scales[j] = rng.choice(INTERESTING_SCALES + [scales[j] * 2, scales[j] / 1024,
                                                 scales[j] * 1e6])
    t.quantization = dataclasses.replace(t.quantization, scale=tuple(scales))
    return (f"scale [{_role(model, model.subgraphs[s], i)}]",
            f"{_at(s)}tensor {i} scale[{j}] -> {scales[j]!r}")


def mutate_zero_point(rng, model):
    picked = _pick_tensor(rng, model, lambda t: _quantized(t) and t.quantization.zero_point)
    if picked is None:
        return None
    s, i, t = picked
    zps = list(t.quantization.zero_point)
    j = rng.randrange(len(zps))
    zps[j] = rng.choice(INTERESTING_ZERO_POINTS)
    t.quantization = dataclasses.replace(t.quantization, zero_point=tuple(zps))
    return (f"zero-point [{_role(model, model.subgraphs[s], i)}]",
            f"{_at(s)}tensor {i} zero_point[{j}] -> {zps[j]}")


def mutate_quantization_layout(rng, model):
    """quantized_dimension, scales without zero points (and the reverse), counts that do not
    match, quantization removed or added, per-channel made per-tensor."""
    from tflm_edu.schema.model import QuantizationParameters
    s, i, t = _pick_tensor(rng, model)
    q = t.quantization or QuantizationParameters()
    how = rng.randrange(8)
    if how == 0:
        new = dataclasses.replace(q, quantized_dimension=rng.choice([-1, 1, 2, 3, 4, 100,
                                                                     len(t.shape)]))
    elif how == 1:
        new = dataclasses.replace(q, zero_point=())
    elif how == 2:
        new = dataclasses.replace(q, scale=())
    elif how == 3:
        new = dataclasses.replace(q, scale=q.scale + (rng.choice([0.01, 1.0]),))
    elif how == 4:
        new = dataclasses.replace(q, zero_point=q.zero_point[:-1] if q.zero_point else (0, 0))
    elif how == 5:
        new = None
    elif how == 6:
        count = rng.choice([1, 2, 3, min(max(t.shape or (1,)), 64)])
        new = QuantizationParameters(scale=(0.05,) * count, zero_point=(rng.choice([0, 3]),)
                                     * count, quantized_dimension=rng.choice([0, 0, 1]))
    else:
        new = dataclasses.replace(q, scale=q.scale[:1], zero_point=q.zero_point[:1])
    t.quantization = new
    return (f"quant-layout{how} [{_role(model, model.subgraphs[s], i)}]",
            f"{_at(s)}tensor {i} quantization -> {_quant_text(new)}")


def _quant_text(q) -> str:
    # not repr(q): QuantizationParameters.__repr__ raises IndexError on scales without
    # zero points (reported to the schema's owner)
    if q is None:
        return "None"
    return (f"scale {q.scale[:4]} zero_point {q.zero_point[:4]} "
            f"quantized_dimension {q.quantized_dimension}")


def _with_data(model, t):
    return 0 <= t.buffer < len(model.buffers) and bool(model.buffers[t.buffer].data)


def mutate_buffer_size(rng, model):
    picked = _pick_tensor(rng, model, lambda t: _with_data(model, t))
    if picked is None:
        return None
    s, i, t = picked
    buffer = model.buffers[t.buffer]
    data = buffer.data
    n = len(data)
    size = rng.choice([0, 1, n - 1, n // 2, n + 1, n + 4, n * 2, max(n - 4, 0)])
    buffer.data = (data + bytes(rng.randrange(256) for _ in range(8)) * (size // 8 + 1))[:size] \
        if size > n else data[:size]
    return (f"buffer-size [{_role(model, model.subgraphs[s], i)}]",
            f"{_at(s)}tensor {i} buffer {t.buffer}: {n} -> {len(buffer.data)} bytes")


def mutate_buffer_contents(rng, model):
    picked = _pick_tensor(rng, model, lambda t: _with_data(model, t))
    if picked is None:
        return None
    s, i, t = picked
    buffer = model.buffers[t.buffer]
    n = len(buffer.data)
    how = rng.randrange(5)
    if how == 0:
        data = bytes(rng.randrange(256) for _ in range(n))
    elif how == 1:
        data = bytes([rng.choice([0x00, 0xFF, 0x7F, 0x80])]) * n
    elif how == 2 and n >= 4:   # int32 / float extremes in every word
        word = rng.choice([struct.pack("<i", (1 << 31) - 1), struct.pack("<i", -(1 << 31)),
                           struct.pack("<f", float("nan")), struct.pack("<f", float("inf")),
                           struct.pack("<f", 3.4e38), struct.pack("<i", -1)])
        data = (word * (n // 4 + 1))[:n]
    else:   # a few bytes changed
        b = bytearray(buffer.data)
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(n)] = rng.randrange(256)
        data = bytes(b)
    buffer.data = data
    return (f"buffer-contents [{_role(model, model.subgraphs[s], i)}]",
            f"{_at(s)}tensor {i} buffer {t.buffer}: contents #{how}")


def mutate_int_constant(rng, model):
    """One element of a small int32 constant - a shape, a padding, a permutation, an axis,
    slice bounds - set to a nearby or an odd value: the parameters kernels must check."""
    from tflm_edu.schema.enums import TensorType
    picked = _pick_tensor(rng, model, lambda t: t.type == TensorType.INT32 and
                          _with_data(model, t) and len(model.buffers[t.buffer].data) <= 64
                          and len(model.buffers[t.buffer].data) % 4 == 0)
    if picked is None:
        return None
    s, i, t = picked
    values = np.frombuffer(model.buffers[t.buffer].data, "<i4").copy()
    if values.size == 0:
        return None
    j = rng.randrange(values.size)
    old = int(values[j])
    values[j] = rng.choice([old + 1, old - 1, -old, 0, -1, -2, 1, 2, 3, 4, 5, 6, 7, 8, 100,
                            (1 << 31) - 1, -(1 << 31), 1 << 20])
    model.buffers[t.buffer].data = values.astype("<i4").tobytes()
    return (f"int-constant [{_role(model, model.subgraphs[s], i)}]",
            f"{_at(s)}tensor {i} value[{j}] {old} -> {int(values[j])}")


def mutate_buffer_index(rng, model):
    s, i, t = _pick_tensor(rng, model)
    old = t.buffer
    with_data = [b for b, buf in enumerate(model.buffers) if buf.data]
    shared = [rng.choice(with_data)] * 3 if with_data else []
    t.buffer = rng.choice([0, len(model.buffers), len(model.buffers) + 9, (1 << 32) - 1] + shared)
    return (f"buffer-index [{_role(model, model.subgraphs[s], i)}]",
            f"{_at(s)}tensor {i} buffer {old} -> {t.buffer}")


def mutate_is_variable(rng, model):
    s, i, t = _pick_tensor(rng, model)
    t.is_variable = not t.is_variable
    return (f"is_variable [{_role(model, model.subgraphs[s], i)}]",
            f"{_at(s)}tensor {i} is_variable -> {t.is_variable}")


def mutate_offline_plan(rng, model):
    """An OfflineMemoryAllocation metadata entry: [version, subgraph, count, offsets...]."""
    from tflm_edu.schema.model import Buffer, Metadata
    count = sum(len(sg.tensors) for sg in model.subgraphs)
    how = rng.randrange(6)
    offsets = [-1] * count
    if how == 0:      # everything at offset 0
        offsets = [0] * count
    elif how == 1:    # a few tensors at random aligned offsets
        for _ in range(rng.randint(1, 4)):
            offsets[rng.randrange(count)] = 16 * rng.randrange(256)
    elif how == 2:    # every tensor placed, randomly
        offsets = [16 * rng.randrange(512) for _ in range(count)]
    elif how == 3:    # odd values
        offsets[rng.randrange(count)] = rng.choice([-2, 1, 3, (1 << 31) - 1, 1 << 30])
    elif how == 4:    # a wrong count
        count += rng.choice([-1, 1, 100])
    words = [1, 0, count] + offsets
    if how == 5:
        words = words[:rng.randrange(len(words))]
    data = np.asarray(words, "<i4").tobytes()
    model.metadata = [m for m in model.metadata if m.name != "OfflineMemoryAllocation"]
    model.buffers.append(Buffer(data=data))
    model.metadata.append(Metadata("OfflineMemoryAllocation", len(model.buffers) - 1))
    return f"offline-plan{how}", f"OfflineMemoryAllocation {words[:12]}"


def mutate_intermediates(rng, model):
    s, k, op = _pick_op(rng, model) or (None, None, None)
    if op is None:
        return None
    n = len(model.subgraphs[s].tensors)
    op.intermediates = tuple(rng.choice([rng.randrange(n), -1, n]) for _ in
                             range(rng.randint(1, 3)))
    return (f"intermediates [{_op_name(model, op)}]",
            f"{_at(s)}op {k} intermediates {op.intermediates}")


def mutate_op_order(rng, model):
    s, sg = _pick_subgraph(rng, model)
    ops = sg.operators
    if not ops:
        return None
    how = rng.randrange(3)
    if how == 0 and len(ops) > 1:
        a, b = rng.sample(range(len(ops)), 2)
        ops[a], ops[b] = ops[b], ops[a]
        return "op-order swap", f"subgraph {s} ops {a} <-> {b}"
    k = rng.randrange(len(ops))
    if how == 1:
        ops.insert(k, dataclasses.replace(ops[k]))
        return "op-order duplicate", f"subgraph {s} op {k} duplicated"
    del ops[k]
    return "op-order delete", f"subgraph {s} op {k} deleted"


MUTATORS = [  # (mutator, weight)
    (mutate_shape, 14), (mutate_rank, 5), (mutate_type, 8), (mutate_op_tensor_index, 8),
    (mutate_op_arity, 3), (mutate_graph_io, 3), (mutate_opcode, 3), (mutate_version, 4),
    (mutate_option, 14), (mutate_options_table, 3), (mutate_scale, 9), (mutate_zero_point, 6),
    (mutate_quantization_layout, 7), (mutate_buffer_size, 5), (mutate_buffer_contents, 6),
    (mutate_buffer_index, 3), (mutate_int_constant, 6), (mutate_is_variable, 4),
    (mutate_offline_plan, 4), (mutate_intermediates, 2), (mutate_op_order, 2),
]


@dataclass
class Mutant:
    seed: int
    target: str
    labels: tuple          # the stable part of each mutation
    details: tuple         # what each one changed
    data: bytes | None     # None: the writer could not express the mutations

    def __str__(self):
        return f"seed {self.seed} ({self.target}): " + "; ".join(self.details)


def make_mutant(seed: int, targets=None) -> Mutant:
    """The mutant of `seed`: a target model (weighted by TARGETS) and one to three
    mutations, all drawn from random.Random(seed), so the seed alone reproduces it."""
    from tflm_edu.schema import read_model, write_model
    rng = random.Random(seed)
    names = targets or available_targets()
    target = rng.choices(names, weights=[TARGETS[n][1] for n in names])[0]
    base = target_bytes(target)
    for _ in range(10):   # retry while the writer cannot express a mutation
        model = read_model(base, validate=False)
        labels, details = [], []
        for _ in range(rng.choices([1, 2, 3], weights=[60, 25, 15])[0]):
            mutator = rng.choices([m for m, _ in MUTATORS], weights=[w for _, w in MUTATORS])[0]
            done = mutator(rng, model)
            if done is not None:
                labels.append(done[0])
                details.append(done[1])
        if not labels:
            continue
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")   # a scale * 1e6 past float32's range: inf
                data = write_model(model)
            return Mutant(seed, target, tuple(labels), tuple(details), data)
        except (OverflowError, struct.error, ValueError, TypeError, KeyError):
            continue
    return Mutant(seed, target, (), ("no writable mutation",), None)


# ----------------------------------------------------------------------------- workers


def _send(stream, obj) -> None:
    payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("<Q", len(payload)) + payload)
    stream.flush()


def _receive(stream):
    header = stream.read(8)
    if len(header) < 8:
        raise EOFError
    (size,) = struct.unpack("<Q", header)
    return pickle.loads(stream.read(size))


class WorkerDied(Exception):
    pass


class WorkerTimeout(Exception):
    pass


class Worker:
    """One persistent `python fuzz_differential.py --worker KIND` process: requests go in as
    pickles over its stdin, replies come back over its stdout. A reply that does not come
    within the timeout kills it (a hang); a worker that dies (a segfault, an abort) is
    started again on the next call."""

    def __init__(self, kind: str):
        self.kind = kind
        self.proc = None
        self.starts = 0

    def _start(self) -> None:
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
                   PYTHONFAULTHANDLER="")
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()),
                                      "--worker", self.kind], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     env=env, cwd=str(HERE))
        self.starts += 1
        self._call("ping", STARTUP_SECONDS)

    def call(self, request, timeout: float):
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        return self._call(request, timeout)

    def _call(self, request, timeout: float):
        try:
            _send(self.proc.stdin, request)
        except OSError:   # a broken pipe: it died since the last call
            status = self.proc_status()
            self.stop()
            raise WorkerDied(status) from None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        ready, _, _ = select.select([fd], [], [], max(deadline - time.monotonic(), 0))
        if not ready:
            self.stop()
            raise WorkerTimeout(f"no reply within {timeout:g} s")
        try:
            return _receive(self.proc.stdout)
        except (EOFError, pickle.UnpicklingError):   # it died while running the case
            status = self.proc_status()
            self.stop()
            raise WorkerDied(status) from None

    def proc_status(self) -> str:
        """'killed by SIGSEGV', or how it exited, once the process is gone."""
        code = self.proc.wait(timeout=10)
        if code < 0:
            return f"killed by {signal.Signals(-code).name}"
        return f"exit status {code}"

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            for stream in (self.proc.stdin, self.proc.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
        self.proc = None


def serve(kind: str) -> None:
    """The worker's loop: stdout becomes the reply channel, the C-level stdout and stderr go
    to a log file (TFLM prints why it refuses a model there; the tail of it is sent back)."""
    replies = os.fdopen(os.dup(1), "wb")
    requests = os.fdopen(os.dup(0), "rb")
    log = open(os.devnull if kind == "edu" else f"/tmp/fuzz_tflm_{os.getpid()}.log", "w+b")
    if kind != "edu":
        os.unlink(log.name)   # the open file lives on; nothing is left behind if killed
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    handler = _edu_worker_setup() if kind == "edu" else _tflm_worker_setup(log)
    while True:
        try:
            request = _receive(requests)
        except EOFError:
            break
        _send(replies, "pong" if request == "ping" else handler(request))


@dataclass
class Outcome:
    """What one runtime did with a mutant. kind: 'ran', 'refused', 'foreign', 'memory'
    (tflm_edu); 'ran', 'refused', 'crashed', 'timeout' (TFLM)."""

    kind: str
    outputs: list = field(default_factory=list)   # (dtype str, shape, bytes) per output,
                                                  # of every invoke in turn
    status: tuple = ()     # what each invoke returned
    error: str = ""
    stage: str = ""
    arena: int = 0
    seconds: float = 0.0
    inputs: list = field(default_factory=list)   # (dtype str, shape) of each input
    where: str = ""        # the tflm_edu frame a foreign exception came from
    implicit: bool = False  # a ModelError wrapping a raw exception (prepare's catch-all)


# -- the tflm_edu side


def _edu_worker_setup():
    import resource
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, hard))
    _guard_numpy_allocations()
    warnings.simplefilter("ignore")
    np.seterr(all="ignore")
    return run_edu


class HugeAllocation(MemoryError):
    """A numpy array of more than HUGE_BYTES (conftest.refuse_huge_allocations)."""


def _guard_numpy_allocations() -> None:
    """conftest.refuse_huge_allocations' pattern, for a worker that has no monkeypatch
    fixture: numpy's array constructors refuse arrays of more than HUGE_BYTES. The arena is
    left to the interpreter's own limit (MAX_AUTO_ARENA_BYTES); RLIMIT_AS catches the rest
    (a MemoryError)."""
    for name in ("empty", "zeros", "ones", "full"):
        constructor = getattr(np, name)

        def guarded(shape, *args, _constructor=constructor, **kwargs):
            count = int(np.prod(np.asarray(shape, dtype=object)))
            dtype_position = 1 if _constructor.__name__ == "full" else 0
            dtype = kwargs.get("dtype", args[dtype_position] if len(args) > dtype_position
                               else None)
            itemsize = np.dtype(dtype).itemsize if dtype is not None else 8
            if count * itemsize > HUGE_BYTES:
                raise HugeAllocation(f"np.{_constructor.__name__} of shape {shape}")
            return _constructor(shape, *args, **kwargs)
        setattr(np, name, guarded)


def seeded_inputs(seed: int, specs) -> list:
    """Random inputs of `specs` ((dtype str, shape) each): floats ~N(0, 2), integers over
    their whole range. Both workers make them from the seed, so no input crosses a pipe."""
    rng = np.random.default_rng(seed)
    inputs = []
    for dtype, shape in specs:
        dtype = np.dtype(dtype)
        if dtype.kind == "f":
            x = (rng.standard_normal(shape) * 2).astype(dtype)
        elif dtype.kind == "b":
            x = rng.integers(0, 2, shape).astype(bool)
        elif dtype.kind in "iu":
            info = np.iinfo(dtype)
            x = rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
        else:
            x = np.zeros(shape, dtype)
        inputs.append(x)
    return inputs


def run_edu(request) -> Outcome:
    from tflm_edu import AllOpsResolver, AllocationError, MicroInterpreter, ModelError
    from tflm_edu.schema import read_model
    data, seed = request["model"], request["seed"]
    start, stage = time.perf_counter(), "read_model"
    try:
        interpreter = MicroInterpreter(read_model(data), AllOpsResolver(), None)
        stage = "allocate_tensors"
        interpreter.allocate_tensors()
        stage = "invoke"
        arrays = [interpreter.input(i).data for i in range(interpreter.inputs_size)]
        specs = [(a.dtype.str, tuple(a.shape)) for a in arrays]
        inputs, outputs, status = seeded_inputs(seed, specs), [], ()
        for _ in range(INVOKES):
            for array, x in zip(arrays, inputs):
                array[...] = x
            status += (int(interpreter.invoke() or 0),)
            outputs += [UNREADABLE if interpreter.output(i).type in UNREADABLE_TYPES
                        else _describe_array(interpreter.output(i).data)
                        for i in range(interpreter.outputs_size)]
        return Outcome("ran", outputs, status, stage="done", arena=interpreter.arena.size,
                       seconds=time.perf_counter() - start, inputs=specs)
    except BaseException as e:  # noqa: BLE001 - classifying every exception is the point
        seconds = time.perf_counter() - start
        chain = _exception_chain(e)
        text = f"{type(e).__name__}: {e}"[:400]
        if any(isinstance(x, MemoryError) for x in chain):
            return Outcome("memory", error=text, stage=stage, seconds=seconds)
        if isinstance(e, (ModelError, AllocationError)):
            implicit = e.__cause__ is not None and not isinstance(e.__cause__, ModelError)
            return Outcome("refused", error=text, stage=stage, seconds=seconds,
                           implicit=implicit)
        return Outcome("foreign", error=text, stage=stage, seconds=seconds,
                       where=_tflm_edu_frame(chain[-1]))


# The tflite-micro Python wrapper returns no output of these types (ValueError); the model
# runs on a board all the same, so neither side's value is compared.
UNREADABLE = ("unreadable", (), b"")
UNREADABLE_TYPES = (5, 13, 14)   # TensorType STRING, RESOURCE, VARIANT


def _describe_array(a) -> tuple:
    a = np.asarray(a)
    return (a.dtype.str, tuple(a.shape), a.tobytes())


def _exception_chain(e) -> list:
    chain = [e]
    while chain[-1].__cause__ is not None and len(chain) < 10:
        chain.append(chain[-1].__cause__)
    return chain


def _tflm_edu_frame(e) -> str:
    """'kernels/conv.py:123 prepare' - the innermost tflm_edu frame of an exception."""
    frames = [f for f in traceback.extract_tb(e.__traceback__) if "tflm_edu" in f.filename]
    if not frames:
        return ""
    f = frames[-1]
    path = f.filename.split("tflm_edu/")[-1]
    return f"{path}:{f.lineno} {f.name}"


# -- the TFLM side


def _tflm_worker_setup(log):
    from tflite_micro.python.tflite_micro import _runtime
    config = _runtime.PythonInterpreterConfig.kAllocationRecording
    position = [0]

    def log_tail() -> str:
        log.flush()
        log.seek(position[0])
        text = log.read().decode(errors="replace")
        position[0] = log.tell()
        if position[0] > 1 << 20:   # keep the log small
            log.truncate(0)
            log.seek(0)
            position[0] = 0
        return " | ".join(line for line in text.splitlines() if line.strip())[-300:]

    def make(data, arena, resource_variables):
        # The wrapper itself, not runtime.Interpreter: that one first parses the model with
        # the flatbuffers Python classes (to count resource variables), which a board never
        # does - and which raises on models the C++ reads fine.
        return _runtime.InterpreterWrapper(data, [], arena, resource_variables, config, 0)

    def run(request) -> Outcome:
        data, arena = request["model"], request["arena"]
        log_tail()
        stage, start = "allocate", time.perf_counter()
        try:
            try:
                interpreter = make(data, arena, request["resource_variables"])
            except Exception as first:
                # Too small an arena, or a refusal: a larger arena tells them apart.
                bigger = min(max(4 * arena, arena + (1 << 20)), TFLM_RETRY_ARENA_CAP)
                try:
                    interpreter = make(data, bigger, request["resource_variables"])
                except Exception:
                    raise first from None
                stage = "arena"
            refused_small = stage == "arena"
            inputs, outputs, status = seeded_inputs(request["seed"], request["inputs"]), [], ()
            for _ in range(INVOKES):
                stage = "set_input"
                for i, x in enumerate(inputs):
                    interpreter.SetInputTensor(x, i)
                stage = "invoke"
                status += (int(interpreter.Invoke() or 0),)
                stage = "get_output"
                outputs += [_tflm_output(interpreter, i) for i in range(request["outputs"])]
            del interpreter
            return Outcome("ran", outputs, status, error=log_tail(),
                           stage="arena" if refused_small else "done",
                           seconds=time.perf_counter() - start)
        except Exception as e:  # noqa: BLE001 - TFLM reports failures as exceptions
            return Outcome("refused", error=f"{type(e).__name__}: {e} | {log_tail()}"[:400],
                           stage=stage, seconds=time.perf_counter() - start)
    return run


def _tflm_output(interpreter, i: int) -> tuple:
    try:
        return _describe_array(np.array(interpreter.GetOutputTensor(i)))
    except ValueError as e:   # the Python wrapper's limit, not the interpreter's
        if "doesn't support strings, resource variables, or variants" in str(e):
            return UNREADABLE
        raise


def resource_variable_count(model) -> int:
    """What runtime.count_resource_variables computes, from tflm_edu's parse."""
    from tflm_edu.schema.enums import BuiltinOperator as Op
    names = {getattr(op.builtin_options, "shared_name", None)
             for sg in model.subgraphs for op in sg.operators
             if 0 <= op.opcode_index < len(model.operator_codes)
             and model.operator_codes[op.opcode_index].builtin_code == Op.VAR_HANDLE}
    return len(names)


# ----------------------------------------------------------------------------- classifying


@dataclass
class Verdict:
    cls: str
    edu: Outcome
    tflm: Outcome | None = None

    @property
    def bad(self) -> bool:
        return self.cls in BAD

    def explain(self) -> str:
        e, t = self.edu, self.tflm
        if self.cls in (FOREIGN, MEMORY):
            return f"tflm_edu at {e.stage}: {e.error} ({e.where})"
        if self.cls == HANG:
            return f"tflm_edu did not finish within {HANG_SECONDS:g} s"
        if self.cls == REFUSED:
            return f"tflm_edu at {e.stage}: {e.error}"
        if t is None:
            return "tflm_edu ran"
        if self.cls in (TFLM_REFUSES, TFLM_HANG):
            return f"tflm_edu ran; TFLM at {t.stage}: {t.kind}: {t.error}"
        if self.cls == ARENA:
            return (f"TFLM refuses tflm_edu's arena of {e.arena:,} bytes but runs in a larger "
                    f"one (outputs {'equal' if _same(e, t) else 'differ'})")
        if self.cls == DIFFER:
            return _difference(e, t)
        return f"equal ({len(e.outputs) // INVOKES} outputs, {INVOKES} invokes)"


def _same(e: Outcome, t: Outcome) -> bool:
    return e.status == t.status and e.outputs == t.outputs


def nan_payloads_only(e: Outcome, t: Outcome) -> bool:
    """True when the outputs differ only inside NaNs: the same places are NaN in both, with
    other bits. Which of two NaNs a float sum keeps is up to the C compiler's operand
    order (IEEE 754 leaves it open); the bytes still differ."""
    if e.status != t.status or len(e.outputs) != len(t.outputs):
        return False
    found = False
    for a, b in zip(e.outputs, t.outputs):
        if a == b:
            continue
        if a[:2] != b[:2] or np.dtype(a[0]).kind != "f":
            return False
        x, y = np.frombuffer(a[2], np.dtype(a[0])), np.frombuffer(b[2], np.dtype(b[0]))
        differ = x.view(f"u{x.itemsize}") != y.view(f"u{y.itemsize}")
        if not (np.isnan(x[differ]).all() and np.isnan(y[differ]).all()):
            return False
        found = True
    return found


def _difference(e: Outcome, t: Outcome) -> str:
    if e.status != t.status:
        return f"status {e.status} vs TFLM {t.status}"
    if len(e.outputs) != len(t.outputs):
        return f"{len(e.outputs)} outputs vs TFLM {len(t.outputs)}"
    per_invoke = max(len(e.outputs) // INVOKES, 1)
    for k, (a, b) in enumerate(zip(e.outputs, t.outputs)):
        if a != b:
            where = f"invoke {k // per_invoke + 1} output {k % per_invoke}"
            x = np.frombuffer(a[2], np.dtype(a[0]))
            y = np.frombuffer(b[2], np.dtype(b[0])) if b[0] == a[0] else None
            if a[0] != b[0] or a[1] != b[1] or y is None or x.size != y.size:
                return f"{where}: {a[0]} {a[1]} vs TFLM {b[0]} {b[1]}"
            wrong = np.flatnonzero(x.view(np.uint8) != y.view(np.uint8)) if x.size else []
            nan = " (only NaN payloads differ)" if nan_payloads_only(e, t) else ""
            return (f"{where} {a[0]} {a[1]}: {len(wrong)} bytes differ{nan}; tflm_edu "
                    f"{x.reshape(-1)[:6]} vs TFLM {y.reshape(-1)[:6]}")
    return "no difference"


def classify(edu: Outcome, tflm: Outcome | None) -> str:
    if edu.kind == "hang":
        return HANG
    if edu.kind == "memory":
        return MEMORY
    if edu.kind == "foreign":
        return FOREIGN
    if edu.kind == "refused":
        return REFUSED
    if tflm.kind == "timeout":
        return TFLM_HANG
    if tflm.kind != "ran":
        return TFLM_REFUSES
    if tflm.stage == "arena":
        return ARENA
    return EQUAL if _same(edu, tflm) else DIFFER


class Fuzzer:
    """The two workers and one case at a time. Use as a context manager."""

    def __init__(self, hang_seconds: float = HANG_SECONDS):
        self.hang_seconds = hang_seconds
        self.edu = Worker("edu")
        self.tflm = Worker("tflm")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        self.edu.stop()
        self.tflm.stop()

    def run_edu(self, data: bytes, seed: int) -> Outcome:
        try:
            return self.edu.call({"model": data, "seed": seed}, self.hang_seconds)
        except WorkerTimeout:
            return Outcome("hang", error=f"over {self.hang_seconds:g} s")
        except WorkerDied as e:
            return Outcome("foreign", error=f"the tflm_edu worker died: {e}", where="worker")

    def run_tflm(self, data: bytes, edu: Outcome, resource_variables: int,
                 seed: int = 0) -> Outcome:
        request = {"model": data, "arena": edu.arena, "inputs": edu.inputs, "seed": seed,
                   "outputs": len(edu.outputs) // INVOKES,
                   "resource_variables": resource_variables}
        try:
            return self.tflm.call(request, self.hang_seconds * 2)
        except WorkerTimeout:
            return Outcome("timeout", error=f"over {self.hang_seconds * 2:g} s")
        except WorkerDied as e:
            return Outcome("crashed", error=str(e), stage="crash")

    def check(self, model, seed: int = 0, confirm: bool = True) -> Verdict:
        """Classify one model (a Model or .tflite bytes) with inputs from `seed`. A bad
        verdict that involves TFLM is confirmed on a fresh TFLM worker: a case that ran
        before may have corrupted the old one's heap."""
        from tflm_edu.schema import read_model, write_model
        data = bytes(model) if isinstance(model, (bytes, bytearray)) else write_model(model)
        try:
            parsed = read_model(data, validate=False)
        except Exception:  # noqa: BLE001 - the reader refuses; tflm_edu's worker says how
            parsed = None
        edu = self.run_edu(data, seed)
        if edu.kind != "ran":
            return Verdict(classify(edu, None), edu)
        count = resource_variable_count(parsed) if parsed is not None else 0
        tflm = self.run_tflm(data, edu, count, seed)
        verdict = Verdict(classify(edu, tflm), edu, tflm)
        if confirm and verdict.cls in (TFLM_REFUSES, DIFFER, ARENA):
            self.tflm.stop()
            tflm = self.run_tflm(data, edu, count, seed)
            verdict = Verdict(classify(edu, tflm), edu, tflm)
        return verdict

    def run_case(self, seed: int, targets=None) -> tuple[Mutant, Verdict | None]:
        mutant = make_mutant(seed, targets)
        if mutant.data is None:
            return mutant, None
        return mutant, self.check(mutant.data, seed)


NAN_PAYLOADS = DIFFER + " (NaN payloads only)"


def kind(verdict: Verdict) -> str:
    """The verdict's class, with differences only in NaN payloads told apart."""
    if verdict.cls == DIFFER and nan_payloads_only(verdict.edu, verdict.tflm):
        return NAN_PAYLOADS
    return verdict.cls


def signature(mutant: Mutant, verdict: Verdict) -> tuple:
    """What a bad case is, for the KNOWN lists: its kind and its mutations' labels (the
    fields and ops they touched, not the values)."""
    return (kind(verdict), tuple(sorted(set(mutant.labels))))


# ----------------------------------------------------------------------------- command line


def _repro(seed: int) -> None:
    with Fuzzer() as fuzzer:
        mutant, verdict = fuzzer.run_case(seed)
        print(mutant)
        if verdict is None:
            print("the writer could not express the mutations")
            return
        print(f"{verdict.cls}: {verdict.explain()}")
        if verdict.tflm is not None:
            print(f"TFLM: {verdict.tflm.kind} at {verdict.tflm.stage}: {verdict.tflm.error}")
        if "--save" in sys.argv:
            path = f"/tmp/fuzz_{seed}.tflite"
            Path(path).write_bytes(mutant.data)
            print(f"saved {path}")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    import fuzz_differential   # the module under its own name, so that replies unpickle
    if sys.argv[1:2] == ["--worker"]:
        fuzz_differential.serve(sys.argv[2])
    elif sys.argv[1:2] == ["--repro"]:
        fuzz_differential._repro(int(sys.argv[2]))
    else:
        sys.exit("usage: fuzz_differential.py --repro SEED [--save] | --worker edu|tflm")
