"""tflm_edu.arena_size against the real TFLM.

The oracle: the smallest arena with which the tflite-micro package allocates a model and
invokes it once, found by bisection. The host estimate must equal it to within 16 bytes -
for the reference models, one model per kernel, and seeded random chains of ops.
"""
import json

import matplotlib
import numpy as np
import pytest

from conftest import reference_model
from models import one_op_model, tensor
from tflm_edu.arena_size import CORTEX_M, HOST, estimate_arena_size, live_bytes_per_step
from tflm_edu.interpreter import MicroInterpreter
from tflm_edu.memory import allocator as rp
from tflm_edu.op_resolver import AllOpsResolver
from tflm_edu.arena_size.estimate import HEAD, TEMP, model_facts
from tflm_edu.arena_size.oracle import smallest_arena_tflm, tflm_allocations, tflm_runtime
from tflm_edu.schema import options as o
from tflm_edu.schema import read_model
from tflm_edu.schema.builder import ModelBuilder, quantization as q
from tflm_edu.schema.enums import ActivationFunctionType as Act, BuiltinOperator as Op, Padding

matplotlib.use("Agg")

TOLERANCE = 16  # bytes
needs_tflm = pytest.mark.skipif(tflm_runtime() is None,
                                reason="the oracle tflite-micro is not installed "
                                       "(pip install --pre tflite-micro)")

# name: (smallest arena, head, tail) measured with the real TFLM (../shared/reference/README.md)
README_FACTS = {"hello_world_int8": (1945, 32, 1472), "micro_speech_quantized": (7589, 5968, 1616),
                "magic_wand": (16177, 13824, 2352), "person_detect": (85267, 55296, 29968)}
REFERENCE = ["hello_world_int8", "hello_world_float", "micro_speech_quantized", "magic_wand",
             "person_detect"]
# docs/arena_size.md states these; the README copies them
CORTEX_M_ESTIMATES = {"hello_world_int8": 1068, "hello_world_float": 1068,
                      "micro_speech_quantized": 6800, "magic_wand": 15156,
                      "person_detect": 82296}


def check_arena(model):
    """The one helper: the host estimate against the real TFLM's smallest arena."""
    estimate = estimate_arena_size(model, "host")
    actual = smallest_arena_tflm(model)
    assert abs(estimate.arena_bytes - actual) <= TOLERANCE, (
        f"estimate {estimate.arena_bytes:,} bytes, TFLM needs {actual:,}\n{estimate.table()}")
    return estimate, actual


# ----------------------------------------------------------------------------- model makers


class Chain:
    """A model grown op by op from one input, int8 or float32, seeded."""

    def __init__(self, seed, shape, int8):
        self.rng, self.int8, self.b = np.random.default_rng(seed), int8, ModelBuilder()
        self.x = self.b.add_input(shape, np.int8 if int8 else np.float32,
                                  quant=self.activation_quant() if int8 else None)
        self.shape = tuple(shape)

    def activation_quant(self):
        return q(self.rng.uniform(0.02, 0.2), int(self.rng.integers(-20, 20)))

    def weights(self, shape, channels, axis, per_channel):
        if not self.int8:
            return self.b.add_tensor(shape, np.float32, data=self.rng.standard_normal(shape)), None
        scales = self.rng.uniform(0.002, 0.02, channels if per_channel else 1)
        data = self.rng.integers(-127, 128, shape)
        return self.b.add_tensor(shape, np.int8, data=data, quant=q(scales, 0, axis)), scales

    def bias(self, n, filter_scales):
        if not self.int8:
            return self.b.add_tensor((n,), np.float32, data=self.rng.standard_normal(n))
        scales = self.b.tensors[self.x].quantization.scale[0] * np.resize(filter_scales, n)
        return self.b.add_tensor((n,), np.int32, data=self.rng.integers(-500, 500, n),
                                 quant=q(scales, 0))

    def op(self, code, inputs, shape, options=None, version=1, quant=None):
        dtype = np.int8 if self.int8 else np.float32
        quant = (quant or self.activation_quant()) if self.int8 else None
        y = self.b.add_tensor(shape, dtype, quant=quant)
        self.b.add_operator(code, inputs, [y], options, version=version)
        self.x, self.shape = y, tuple(shape)
        return self

    def same_quant(self):
        return self.b.tensors[self.x].quantization

    def activation(self):
        return int(self.rng.choice([Act.NONE, Act.RELU, Act.RELU6]))

    # -- layers
    def fully_connected(self, units, per_channel=False, bias=True):
        batches, depth = self.shape[0], int(np.prod(self.shape[1:]))
        w, scales = self.weights((units, depth), units, 0, per_channel and self.int8)
        b = self.bias(units, scales) if bias else -1
        return self.op(Op.FULLY_CONNECTED, [self.x, w, b], (batches, units),
                       o.FullyConnectedOptions(fused_activation_function=self.activation()),
                       version=4 if self.int8 else 1)

    def conv(self, out_depth, kernel=3, stride=1, per_channel=True, depthwise=False):
        n, h, w, depth = self.shape
        if depthwise:
            out_depth = depth * out_depth  # out_depth is the depth multiplier
            shape, axis, code = (1, kernel, kernel, out_depth), 3, Op.DEPTHWISE_CONV_2D
            options = o.DepthwiseConv2DOptions(Padding.SAME, stride, stride, out_depth // depth,
                                               self.activation())
        else:
            shape, axis, code = (out_depth, kernel, kernel, depth), 0, Op.CONV_2D
            options = o.Conv2DOptions(Padding.SAME, stride, stride, self.activation())
        filter, scales = self.weights(shape, out_depth, axis, per_channel)
        bias = self.bias(out_depth, scales)
        out = (n, -(-h // stride), -(-w // stride), out_depth)
        return self.op(code, [self.x, filter, bias], out, options, version=3 if self.int8 else 1)

    def pool(self, code, k=2):
        n, h, w, c = self.shape
        return self.op(code, [self.x], (n, h // k, w // k, c),
                       o.Pool2DOptions(Padding.VALID, k, k, k, k), version=2 if self.int8 else 1,
                       quant=self.same_quant())

    def add(self):
        return self.op(Op.ADD, [self.x, self.x], self.shape, o.AddOptions(),
                       version=2 if self.int8 else 1)

    def flatten(self):
        flat = (self.shape[0], int(np.prod(self.shape[1:])))
        new_shape = self.b.add_tensor((2,), np.int32, data=flat)
        return self.op(Op.RESHAPE, [self.x, new_shape], flat, o.ReshapeOptions(new_shape=flat),
                       quant=self.same_quant())

    def softmax(self):
        return self.op(Op.SOFTMAX, [self.x], self.shape, o.SoftmaxOptions(beta=1.0),
                       version=2 if self.int8 else 1, quant=q(1 / 256, -128))

    def unary(self, code, quant=None, version=1):
        return self.op(code, [self.x], self.shape, None, version, quant or self.same_quant())

    def build(self):
        self.b.mark_output(self.x)
        return self.b.build()


def fc_chain(seed):
    rng = np.random.default_rng(seed)
    c = Chain(seed + 1000, (int(rng.integers(1, 3)), int(rng.integers(1, 48))),
              int8=bool(rng.integers(2)))
    for _ in range(int(rng.integers(1, 6))):
        c.fully_connected(int(rng.integers(1, 64)), per_channel=bool(rng.integers(2)),
                          bias=bool(rng.integers(4)))
    return c.build()


def conv_chain(seed):
    rng = np.random.default_rng(seed)
    int8 = bool(rng.integers(2))
    c = Chain(seed + 1000, (1, int(rng.integers(4, 17)), int(rng.integers(4, 17)),
                            int(rng.integers(1, 5))), int8)
    for _ in range(int(rng.integers(1, 6))):
        kind = rng.choice(["conv", "depthwise", "average", "max", "add"])
        if kind in ("average", "max") and min(c.shape[1:3]) >= 2:
            c.pool(Op.AVERAGE_POOL_2D if kind == "average" else Op.MAX_POOL_2D)
        elif kind == "depthwise":
            c.conv(int(rng.choice([1, 2])), 3, int(rng.choice([1, 2])), depthwise=True)
        elif kind == "add":
            c.add()
        else:
            c.conv(int(rng.integers(1, 17)), int(rng.choice([1, 3])), int(rng.choice([1, 2])),
                   per_channel=bool(rng.integers(4)) or not int8)
    if rng.integers(2):
        c.flatten().fully_connected(int(rng.integers(2, 10)), per_channel=bool(rng.integers(2)))
        c.softmax()
    return c.build()


def one_op(kind, int8=True, seed=0):
    """A single-op model for each kernel the estimate knows."""
    if kind == "fc":
        return Chain(seed, (1, 10), int8).fully_connected(6).build()
    if kind == "fc_per_channel":
        return Chain(seed, (1, 64), int8).fully_connected(200, per_channel=True).build()
    if kind == "fc_no_bias":
        return Chain(seed, (2, 10), int8).fully_connected(6, bias=False).build()
    if kind in ("conv", "conv_per_tensor", "depthwise"):
        c = Chain(seed, (1, 8, 8, 4), int8)
        return c.conv(2 if kind == "depthwise" else 12, per_channel=kind != "conv_per_tensor",
                      depthwise=kind == "depthwise").build()
    if kind in ("average", "max"):
        code = Op.AVERAGE_POOL_2D if kind == "average" else Op.MAX_POOL_2D
        return Chain(seed, (1, 8, 8, 4), int8).pool(code).build()
    if kind == "softmax":
        return Chain(seed, (1, 10), int8).softmax().build()
    if kind == "add":
        return Chain(seed, (1, 4, 4, 3), int8).add().build()
    if kind == "reshape":
        return Chain(seed, (1, 4, 6), int8).flatten().build()
    if kind == "relu":
        return Chain(seed, (1, 12), int8).unary(Op.RELU).build()
    if kind == "relu6":
        return Chain(seed, (1, 12), int8).unary(Op.RELU6).build()
    if kind == "logistic":
        return Chain(seed, (1, 12), int8).unary(Op.LOGISTIC, q(1 / 256, -128), 2).build()
    if kind == "tanh":
        return Chain(seed, (1, 12), int8).unary(Op.TANH, q(1 / 128, 0), 2).build()
    raise ValueError(kind)


def concatenation(n=3):
    return one_op_model(Op.CONCATENATION,
                        [tensor((1, 2, 3), np.int8, quant=q(0.05, 3)) for _ in range(n)],
                        o.ConcatenationOptions(axis=2),
                        tensor((1, 2, 3 * n), np.int8, quant=q(0.05, 3)), 2)


def mean():
    return one_op_model(Op.MEAN, [tensor((1, 4, 4, 3), np.int8, quant=q(0.05, 3)),
                                  tensor((2,), np.int32, [1, 2])],
                        o.ReducerOptions(keep_dims=True),
                        tensor((1, 1, 1, 3), np.int8, quant=q(0.04, -2)), 2)


def quantize_dequantize():
    b = ModelBuilder()
    x = b.add_input((1, 10), np.float32)
    xq = b.add_tensor((1, 10), np.int8, quant=q(0.05, 3))
    y = b.add_tensor((1, 10), np.float32)
    b.add_operator(Op.QUANTIZE, [x], [xq])
    b.add_operator(Op.DEQUANTIZE, [xq], [y], version=2)
    b.mark_output(y)
    return b.build()


# ----------------------------------------------------------------------------- the real TFLM


@needs_tflm
@pytest.mark.parametrize("name", REFERENCE)
def test_reference_models_match_tflm(name):
    path = reference_model(f"{name}.tflite")
    estimate, actual = check_arena(path)
    assert estimate.arena_bytes == actual  # exact in practice; the contract is 16 bytes
    report = tflm_allocations(path, actual)
    assert (estimate.head_bytes, estimate.tail_bytes) == (report["head"], report["tail"])
    ours = estimate.tail_categories()
    for category, used in report.items():
        if category not in ("total", "head", "tail"):
            key = "NodeAndRegistration structs" if category.startswith("NodeAndReg") else category
            assert ours.get(key) == used, category


ONE_OP_KINDS = ["fc", "fc_no_bias", "conv", "depthwise", "average", "max", "softmax", "add",
                "reshape", "relu", "relu6", "logistic", "tanh"]
ONE_OP_CASES = ([(kind, True) for kind in ONE_OP_KINDS + ["fc_per_channel", "conv_per_tensor"]]
                + [(kind, False) for kind in ONE_OP_KINDS])


@needs_tflm
@pytest.mark.parametrize("kind,int8", ONE_OP_CASES,
                         ids=[f"{k}-{'int8' if i else 'float'}" for k, i in ONE_OP_CASES])
def test_one_op_models_match_tflm(kind, int8):
    check_arena(one_op(kind, int8))


@needs_tflm
@pytest.mark.parametrize("make", [concatenation, mean, quantize_dequantize])
def test_more_kernels_match_tflm(make):
    check_arena(make())


@needs_tflm
@pytest.mark.parametrize("seed", range(10))
def test_random_fully_connected_chains_match_tflm(seed):
    check_arena(fc_chain(seed))


@needs_tflm
@pytest.mark.parametrize("seed", range(10))
def test_random_conv_chains_match_tflm(seed):
    check_arena(conv_chain(seed))


# ----------------------------------------------------------------------------- without TFLM


@pytest.mark.parametrize("name", sorted(README_FACTS))
def test_reference_facts_from_the_readme(name):
    smallest, head, tail = README_FACTS[name]
    model = read_model(reference_model(f"{name}.tflite").read_bytes())
    estimate = estimate_arena_size(model)
    assert estimate.head_bytes == head
    assert abs(estimate.arena_bytes - smallest) <= TOLERANCE
    # The tail's padding depends on where the arena ends; the README's tails were read from
    # an arena whose end is 16-byte aligned.
    facts, _ = model_facts(model)
    assert rp.replay(facts, HOST, 1 << 20).tail_bytes == tail


@pytest.mark.parametrize("name", REFERENCE)
def test_cortex_m_estimates_stated_in_the_docs(name):
    estimate = estimate_arena_size(reference_model(f"{name}.tflite"), "cortex-m")
    assert estimate.arena_bytes == CORTEX_M_ESTIMATES[name]
    host = estimate_arena_size(reference_model(f"{name}.tflite"), "host")
    assert estimate.head_bytes == host.head_bytes and estimate.tail_bytes < host.tail_bytes


def test_host_struct_sizes_are_the_ones_compiled_into_the_wheel():
    # read from the tflite-micro wheel's code (docs/arena_size.md says where)
    wheel = {"RecordingSingleArenaBufferAllocator": 104, "SingleArenaBufferAllocator": 72,
             "GreedyMemoryPlanner": 72, "MicroAllocator": 72, "RecordingMicroAllocator": 272,
             "MicroBuiltinDataAllocator": 16, "SubgraphAllocations": 24, "TfLiteTensor": 64,
             "TfLiteEvalTensor": 24, "NodeAndRegistration": 64, "TfLiteAffineQuantization": 24,
             "OpDataConv": 80, "OpDataFullyConnected": 72, "SoftmaxParams": 80,
             "OpDataPooling": 32, "OpDataAdd": 60, "OpDataMul": 36, "ReluOpData": 28,
             "Relu6OpData": 8, "OpDataLogistic": 16, "OpDataTanh": 16, "OpDataPad": 56,
             "DequantizeOpData": 32, "OpDataConcatenation": 80, "OpDataReduce": 44,
             "StridedSliceParams": 84, "TfLiteConvParams": 28, "TfLiteDepthwiseConvParams": 28,
             "TfLitePoolParams": 40, "TfLiteReshapeParams": 36, "TfLiteFullyConnectedParams": 32,
             "TfLiteStridedSliceParams": 24, "TfLiteReducerParams": 1}
    assert {name: HOST.sizeof(name) for name in wheel} == wheel


def test_cortex_m_struct_sizes():
    expected = {"TfLiteTensor": 32, "TfLiteEvalTensor": 12, "NodeAndRegistration": 32,
                "TfLiteAffineQuantization": 12, "SingleArenaBufferAllocator": 36,
                "GreedyMemoryPlanner": 44, "MicroAllocator": 36, "OpDataConv": 56,
                "OpDataFullyConnected": 48, "SoftmaxParams": 56, "ScratchBufferRequest": 12,
                "AllocationInfo": 24, "TfLiteFullyConnectedParams": 5, "GreedyPlannerPerBuffer": 40}
    assert {name: CORTEX_M.sizeof(name) for name in expected} == expected
    assert CORTEX_M.alignof("SoftmaxParams") == 8  # a double: 8-aligned under the AAPCS


def test_smallest_arena_is_where_the_replay_starts_to_fit():
    model = conv_chain(3)
    facts, _ = model_facts(model)
    for target in (HOST, CORTEX_M):
        n = rp.smallest_arena(facts, target)
        assert rp.fits(facts, target, n) and not rp.fits(facts, target, n - 1)
        assert rp.fits(facts, target, n + 1000)


@pytest.mark.parametrize("make", [lambda: conv_chain(2), lambda: conv_chain(7), lambda: fc_chain(4),
                                  lambda: one_op("fc_per_channel"), lambda: one_op("conv", False),
                                  mean])
def test_the_interpreter_commits_the_arena_the_estimate_predicts(make):
    # One model of the arena: the interpreter replays TFLM's allocator when it commits, and
    # the estimate bisects the same replay - the same size, head, tail and allocations.
    model = make()
    estimate = estimate_arena_size(model, "host")
    interpreter = MicroInterpreter(model, AllOpsResolver(), None)
    interpreter.allocate_tensors()
    arena = interpreter.arena
    assert arena.size == estimate.arena_bytes
    assert (arena.head_bytes, arena.tail_bytes) == (estimate.head_bytes, estimate.tail_bytes)
    assert [(a.what, a.used) for a in arena.persistent] == \
        [(a.what, a.used) for a in estimate.allocations if a.side == "tail"]


def test_breakdown_adds_up_and_serializes():
    estimate = estimate_arena_size(conv_chain(5), "cortex-m")
    assert sum(estimate.breakdown.values()) == estimate.arena_bytes
    assert estimate.breakdown[HEAD] == estimate.head_bytes
    assert estimate.breakdown[TEMP] == estimate.temp_bytes
    data = json.loads(json.dumps(estimate.to_dict()))
    assert data["arena_bytes"] == estimate.arena_bytes and data["target"] == "cortex-m"
    assert sum(data["persistent_buffer_data"].values()) == data["breakdown"][rp.PERSISTENT_BUFFERS]
    table = estimate.table()
    assert f"{estimate.arena_bytes:,}" in table and "TfLiteEvalTensor data" in table


def test_person_detect_names_the_peak_op():
    estimate = estimate_arena_size(reference_model("person_detect.tflite"))
    assert estimate.contributors[0] == ("op 2, CONV_2D, holds its 48x48x8 input and 48x48x16 "
                                        "output live together: 55,296 bytes")
    assert max(live_bytes_per_step(estimate.buffers)) == 55296


def test_small_models_are_sized_by_the_planners_scratch():
    estimate = estimate_arena_size(reference_model("hello_world_int8.tflite"))
    assert estimate.temp_bytes == estimate.arena_bytes - 32 - 1472 > 0
    assert estimate.binding.phase == "plan memory"
    assert "AllocationInfo" in estimate.contributors[-1]


def test_plot_draws_the_arena():
    figure = estimate_arena_size(one_op("conv")).plot()
    assert len(figure.axes) == 2 and figure.axes[0].patches
    matplotlib.pyplot.close(figure)


def test_model_can_be_bytes_a_path_or_a_model(tmp_path):
    from tflm_edu.schema import write_model
    model = one_op("fc")
    path = tmp_path / "fc.tflite"
    path.write_bytes(write_model(model))
    sizes = {estimate_arena_size(m).arena_bytes
             for m in (model, write_model(model), path, str(path))}
    assert len(sizes) == 1
    assert estimate_arena_size(path).model_name == "fc"


def test_command_line(tmp_path, capsys):
    from tflm_edu.cli import main
    from tflm_edu.schema import write_model
    path = tmp_path / "chain.tflite"
    path.write_bytes(write_model(fc_chain(1)))
    assert main(["arena-size", str(path), "--target", "cortex-m", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["arena_bytes"] == estimate_arena_size(path, "cortex-m").arena_bytes
    assert main(["arena-size", str(path)]) == 0
    assert "Arena (smallest that allocates and invokes)" in capsys.readouterr().out
    assert main(["arena-size", str(tmp_path / "missing.tflite")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing.tflite" in err
    with pytest.raises(SystemExit) as exit_info:
        main(["arena-size", str(path), "--target", "riscv"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'riscv'" in capsys.readouterr().err


@needs_tflm
def test_every_subgraph_is_allocated_even_one_never_called():
    """TFLM gives every subgraph its TfLiteEvalTensor and NodeAndRegistration arrays and
    plans all their tensors together, called or not."""
    estimate, _ = check_arena(read_model(_two_subgraph_model()))
    arrays = [a for a in estimate.allocations if a.category == rp.EVAL_TENSORS]
    assert [a.what for a in arrays] == ["4 TfLiteEvalTensor (subgraph 0)",
                                        "4 TfLiteEvalTensor (subgraph 1)"]


def _two_subgraph_model():
    from tflm_edu.schema import write_model
    model = one_op("fc")
    model.subgraphs.append(model.subgraphs[0])
    return write_model(model)


def test_docs_struct_tables_are_the_declarations():
    """docs/arena_size.md lists every struct tflm_edu lays out, with the sizes it uses."""
    from conftest import ROOT
    from tflm_edu.memory.layout import struct_tables_markdown
    doc = (ROOT / "docs" / "arena_size.md").read_text()
    assert struct_tables_markdown() in doc, "regenerate docs/arena_size.md's struct tables"
