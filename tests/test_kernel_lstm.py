"""UNIDIRECTIONAL_SEQUENCE_LSTM: byte equality with the real TFLM over several invokes.

No shared model uses the op, so lstm_model() builds one as TensorFlow's converter writes it
(the trained_lstm / trained_lstm_int8 models of TFLM's mnist_lstm example show the pattern):
24 inputs with -1 for peephole, projection and layer norm; output_state and cell_state as
variable tensors without data; int8: per-tensor int8 weights, int32 biases at input scale x
weight scale, an int16 cell state at a power-of-two scale, the output at the hidden state's
quantization, and five intermediate tensors of shape [0] (four float32 without
quantization, then "effective_hidden_scale_intermediate" at the hidden state's scale),
which the kernel does not read. The state persists from invoke to invoke, so each test
invokes both runtimes several times (with reset() between some) and compares the output
and both states after every invoke.
"""
from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest

from op_harness import oracle_runtime
from tflm_edu.arena_size import estimate_arena_size
from tflm_edu.arena_size.examples import GATES, lstm_model
from tflm_edu.arena_size.oracle import quiet_c_output, smallest_arena_tflm
from tflm_edu.errors import ModelError
from tflm_edu.interpreter import MicroInterpreter
from tflm_edu.kernels.lstm_eval import IntegerMath
from tflm_edu.kernels.quantization_util import quantize_multiplier
from tflm_edu.op_resolver import AllOpsResolver
from tflm_edu.schema import read_model, write_model
from tflm_edu.schema.builder import ModelBuilder, quantization
from tflm_edu.schema.enums import ActivationFunctionType as Act, BuiltinOperator as Op

OUTPUT_STATE, CELL_STATE = 18, 19   # the states' positions among the op's inputs


def random_like(rng, tensor):
    if tensor.dtype == np.float32:
        return (rng.standard_normal(tensor.shape) * 1.5).astype(np.float32)
    info = np.iinfo(tensor.dtype)
    return rng.integers(info.min, info.max, tensor.shape, endpoint=True).astype(tensor.dtype)


def variable_indices(model):
    return [i for i, t in enumerate(model.subgraphs[0].tensors) if t.is_variable]


def check_invokes(model, invokes=4, seed=0, reset_at=(), inputs=None, ours=None):
    """Invoke tflm_edu and the real TFLM `invokes` times on the same seeded inputs (or on
    `inputs`, one array per invoke), both reset before the invokes in reset_at; after each,
    assert byte-equal outputs and variable tensors. `ours`: a tflm_edu interpreter already
    allocated (its OpData edited). Returns tflm_edu's outputs."""
    data = model if isinstance(model, bytes) else write_model(model)
    if ours is None:
        ours = MicroInterpreter(read_model(data), AllOpsResolver(), None)
        ours.allocate_tensors()
    runtime = oracle_runtime()
    theirs = runtime.Interpreter.from_bytes(
        data, arena_size=4_000_000,
        intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)
    watched = list(ours.subgraph.outputs) + variable_indices(read_model(data))
    rng = np.random.default_rng(seed)
    history = []
    for k in range(invokes):
        if k in reset_at:
            ours.reset()
            theirs.reset()
        x = inputs[k] if inputs is not None else random_like(rng, ours.input(0))
        ours.input(0).data[...] = x
        theirs.set_input(x, 0)
        ours.invoke()
        theirs.invoke()
        for t in watched:
            a = ours.tensor(t).data
            b = np.asarray(theirs.GetTensor(t, 0)["tensor_data"])
            assert a.tobytes() == b.astype(a.dtype).tobytes(), (
                f"invoke {k}, tensor {t}: {np.count_nonzero(a.reshape(-1) != b.reshape(-1))} "
                f"of {a.size} values differ; tflm_edu {a.reshape(-1)[:6]} vs TFLM "
                f"{b.reshape(-1)[:6]}")
        history.append(ours.output(0).data.copy())
    return history


# (batch, time, input_dim, state)
SHAPES = [(1, 3, 4, 5), (2, 4, 3, 6), (3, 2, 7, 4), (1, 8, 2, 3), (4, 1, 5, 8), (2, 5, 10, 12)]


# ----------------------------------------------------------------------------- int8


@pytest.mark.parametrize("seed", range(len(SHAPES)))
@pytest.mark.parametrize("time_major", [False, True])
def test_int8(seed, time_major):
    batch, time, input_dim, state = SHAPES[seed]
    check_invokes(lstm_model(np.int8, batch, time, input_dim, state, time_major, seed=seed),
                  invokes=4, seed=seed, reset_at=(3,))


@pytest.mark.parametrize("cell_power", [-15, -13, -12, -11, -9, -6])
def test_int8_cell_state_scales(cell_power):
    """The cell state's power of two sets tanh(c)'s shift: left for scales above 2^-12
    (folded into the multiplier), right (multiplier 3, rounding) below."""
    check_invokes(lstm_model(np.int8, 2, 6, 5, 7, cell_power=cell_power, seed=11,
                             bias_range=20000), invokes=3, seed=-cell_power)


@pytest.mark.parametrize("cell_clip", [0.05, 0.5, 3.0, 100.0, -1.0, float("nan")])
@pytest.mark.parametrize("time_major", [False, True])
def test_int8_cell_clip(cell_clip, time_major):
    model = lstm_model(np.int8, 3, 5, 6, 4, time_major, cell_clip=cell_clip, cell_power=-11,
                       seed=5, bias_range=30000)
    check_invokes(model, invokes=3, seed=5)


def test_cell_clip_changes_the_result():
    """A clip that binds: the clipped and unclipped models differ (both equal TFLM's)."""
    kwargs = dict(batch=2, time=6, input_dim=4, state=5, cell_power=-11, seed=8,
                  bias_range=30000)
    clipped = check_invokes(lstm_model(np.int8, cell_clip=0.25, **kwargs), seed=8)
    free = check_invokes(lstm_model(np.int8, **kwargs), seed=8)
    assert not np.array_equal(clipped, free)


def test_int8_every_input_value():
    """All 256 int8 input values in one invoke: one batch row each."""
    model = lstm_model(np.int8, batch=256, time=2, input_dim=1, state=3, seed=2,
                       weight_range=127)
    x = np.stack([np.arange(-128, 128, dtype=np.int8)] * 2, axis=1).reshape(256, 2, 1)
    check_invokes(model, invokes=2, inputs=[x, x[::-1].copy()])


@pytest.mark.parametrize("hidden_zp", [-128, 0, 127])
def test_int8_hidden_state_starts_at_its_zero_point(hidden_zp):
    """TFLM fills an int8 variable with its zero point at allocation and on reset()."""
    model = lstm_model(np.int8, 2, 3, 4, 5, hidden_zp=hidden_zp, seed=4)
    check_invokes(model, invokes=4, seed=4, reset_at=(1, 3))
    interpreter = MicroInterpreter(model, AllOpsResolver(), None)
    interpreter.allocate_tensors()
    hidden = interpreter.tensor(variable_indices(model)[0])
    assert (hidden.data == hidden_zp).all()


def test_intermediates_are_not_needed():
    """TFLM's integer kernel reads fixed gate scales, not the intermediate tensors: the same
    model without them gives the same bytes."""
    kwargs = dict(batch=2, time=4, input_dim=3, state=6, seed=9)
    with_them = check_invokes(lstm_model(np.int8, **kwargs), seed=9)
    without = check_invokes(lstm_model(np.int8, intermediates=False, **kwargs), seed=9)
    assert np.array_equal(with_them, without)


@pytest.mark.parametrize("act", [Act.NONE, Act.RELU, Act.RELU6, 6])
@pytest.mark.parametrize("dtype", [np.int8, np.float32])
def test_cell_gate_without_tanh(act, dtype):
    """A cell-gate activation other than TANH hits a TFLITE_ASSERT_FALSE that release
    builds drop: the gate is then the plain sum, in TFLM and in tflm_edu. (6 is no
    ActivationFunctionType: TFLM's parser reads it as NONE - not as its internal
    kTfLiteActSigmoid, also 6.)"""
    model = lstm_model(dtype, 2, 4, 3, 5, act=act, seed=6)
    check_invokes(model, invokes=3, seed=6)


def test_gate_multipliers_are_computed_in_double():
    """The FC multipliers from input scale x weight scale in double, as the tflite-micro
    package computes them: the float32 product of TFLM's source tree (90b983c) gives other
    multipliers, and on enough values other bytes (here one cell state value in 2048, on
    the first invoke)."""
    model = lstm_model(np.int8, batch=64, time=3, input_dim=16, state=32, seed=6)
    check_invokes(model, invokes=2, seed=6)
    interpreter = MicroInterpreter(model, AllOpsResolver(), None)
    interpreter.allocate_tensors()
    data = interpreter.nodes[0].user_data
    tensors = model.subgraphs[0].tensors
    op = model.subgraphs[0].operators[0]
    scale = [tensors[t].quantization.scale[0] if t >= 0 else None for t in op.inputs]
    changed = 0
    for gate, (w, r) in {"input": (1, 5), "forget": (2, 6), "cell": (3, 7),
                         "output": (4, 8)}.items():
        params = getattr(data, f"{gate}_gate_parameters")
        for fc, (x, weights) in ((params.input_fc_params, (0, w)),
                                 (params.recurrent_fc_params, (OUTPUT_STATE, r))):
            product = float(np.float32(scale[x]) * np.float32(scale[weights]))
            float32_route = quantize_multiplier(product / 2.0 ** -12)
            changed += (fc.output_multiplier, fc.output_shift) != float32_route
            fc.output_multiplier, fc.output_shift = float32_route
    assert changed > 0
    with pytest.raises(AssertionError, match="values differ"):
        check_invokes(model, invokes=2, seed=6, ours=interpreter)


@pytest.mark.parametrize("dtype", [np.int8, np.float32])
def test_without_options(dtype):
    """No options table: TFLM's parser value-initializes the params (no activation, no
    clip, batch major), and so does tflm_edu."""
    model = lstm_model(dtype, 2, 3, 4, 5, seed=13)
    op = model.subgraphs[0].operators[0]
    model.subgraphs[0].operators[0] = dataclasses.replace(op, builtin_options=None,
                                                          builtin_options_type=0)
    check_invokes(model, invokes=2, seed=13)


# ----------------------------------------------------------------------------- int16 activations


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("time_major", [False, True])
def test_int16_activations(seed, time_major):
    batch, time, input_dim, state = SHAPES[seed]
    check_invokes(lstm_model(np.int16, batch, time, input_dim, state, time_major, seed=seed),
                  invokes=3, seed=seed, reset_at=(2,))


# ----------------------------------------------------------------------------- float32


@pytest.mark.parametrize("seed", range(len(SHAPES)))
@pytest.mark.parametrize("time_major", [False, True])
def test_float(seed, time_major):
    batch, time, input_dim, state = SHAPES[seed]
    check_invokes(lstm_model(np.float32, batch, time, input_dim, state, time_major,
                             seed=seed), invokes=3, seed=seed, reset_at=(2,))


@pytest.mark.parametrize("cell_clip", [0.1, 1.0])
def test_float_cell_clip(cell_clip):
    model = lstm_model(np.float32, 2, 6, 4, 5, cell_clip=cell_clip, seed=3)
    check_invokes(model, invokes=3, seed=3)


@pytest.mark.parametrize("dtype", [np.int8, np.float32])
def test_reset_zeroes_the_state(dtype):
    """After reset() both runtimes answer as fresh ones; tflm_edu's states are back at
    zero (the hidden state at its zero point)."""
    model = lstm_model(dtype, 2, 3, 4, 5, hidden_zp=7, seed=12)
    check_invokes(model, invokes=5, seed=12, reset_at=(2, 4))
    interpreter = MicroInterpreter(model, AllOpsResolver(), None)
    interpreter.allocate_tensors()
    rng = np.random.default_rng(0)
    x = random_like(rng, interpreter.input(0))
    interpreter.input(0).data[...] = x
    interpreter.invoke()
    first = interpreter.output(0).data.copy()
    interpreter.invoke()
    assert not np.array_equal(interpreter.output(0).data, first)   # the state moved on
    interpreter.reset()
    hidden, cell = (interpreter.tensor(t) for t in variable_indices(model))
    assert not cell.data.any() and (hidden.data == (7 if dtype == np.int8 else 0)).all()
    interpreter.input(0).data[...] = x
    interpreter.invoke()
    assert np.array_equal(interpreter.output(0).data, first)


# ----------------------------------------------------------------------------- the int16 functions


def one_op_int16(op, input_power):
    """LOGISTIC or TANH on every int16 value, input scale 2^input_power. For LOGISTIC at
    2^-12 and TANH at 2^-12 and 2^-11 TFLM's int16 kernels call the reference functions
    with the arguments the LSTM passes for its gates (and a cell state at 2^-11)."""
    b = ModelBuilder()
    x = b.add_input((65536,), np.int16, "x", quantization(2.0 ** input_power, 0))
    y = b.add_tensor((65536,), np.int16, "y", quant=quantization(2.0 ** -15, 0))
    b.add_operator(op, [x], [y], version=3)
    b.mark_output(y)
    return write_model(b.build())


@pytest.mark.parametrize("op, power, ours", [
    (Op.LOGISTIC, -12, lambda x: IntegerMath().sigmoid(x)),
    (Op.TANH, -12, lambda x: IntegerMath().tanh(-12, x)),   # the cell gate
    (Op.TANH, -11, lambda x: IntegerMath().tanh(-11, x)),   # tanh(c), c at 2^-11
])
def test_int16_sigmoid_and_tanh_on_every_value(op, power, ours):
    x = np.arange(-32768, 32768, dtype=np.int16)
    interpreter = oracle_runtime().Interpreter.from_bytes(one_op_int16(op, power),
                                                          arena_size=600_000)
    interpreter.set_input(x, 0)
    interpreter.invoke()
    theirs = np.asarray(interpreter.get_output(0)).reshape(-1)
    assert np.array_equal(ours(x), theirs)


# ----------------------------------------------------------------------------- arena


@pytest.mark.parametrize("dtype, batch, time_major", [(np.int8, 1, False), (np.int8, 3, True),
                                                      (np.float32, 2, False),
                                                      (np.int16, 2, True)])
def test_arena_estimate_is_the_real_tflms(dtype, batch, time_major):
    """OpDataLSTM and the params struct in the tail, 25 temporaries during Prepare, four
    [batch, state] scratch buffers, and the intermediates of shape [0] (never planned)."""
    model = lstm_model(dtype, batch, 4, 6, 9, time_major, seed=1)
    assert estimate_arena_size(model, "host").arena_bytes == smallest_arena_tflm(model)


# ----------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("change, message", [
    (dict(extra={9: (5,)}), "peephole"),
    (dict(extra={16: (5, 5)}), "projection"),
    (dict(extra={17: (5,)}), "projection"),
    (dict(extra={22: (5,)}), "layer norm"),
    (dict(variable=False), "variable"),
    (dict(shapes={"input_to_cell": (5, 3)}), "input 3"),
    (dict(shapes={"recurrent_to_output": (5, 4)}), "input 8"),
    (dict(shapes={"forget_bias": (4,)}), "input 13"),
    (dict(shapes={"cell_state": (1, 4)}), "cell_state"),
    (dict(shapes={"output": (1, 3, 4)}), "output"),
    (dict(per_channel=True), "per-tensor"),
    (dict(types={"cell_state": np.int8}), "int16 cell_state"),
    (dict(types={"input_bias": np.int64, "forget_bias": np.int64, "cell_bias": np.int64,
                 "output_bias": np.int64}), "INT32 biases"),
    (dict(cell_power=3), "cell_state scale"),
])
def test_malformed_int8_models_are_refused(change, message):
    model = lstm_model(np.int8, **change)
    with pytest.raises(ModelError, match=message):
        MicroInterpreter(model, AllOpsResolver(), None).allocate_tensors()


@pytest.mark.parametrize("change", [dict(extra={9: (5,)}), dict(extra={20: (5,)}),
                                    dict(extra={16: (5, 5)}), dict(variable=False),
                                    dict(shapes={"forget_bias": (4,)}),
                                    dict(shapes={"recurrent_to_input": (5, 4)})])
def test_tflm_refuses_them_too(change):
    """The refusals above that mirror TFLM's own Prepare checks: the real TFLM fails to
    allocate those models (and allocates the unchanged one)."""
    assert tflm_allocates(write_model(lstm_model(np.int8)))
    assert not tflm_allocates(write_model(lstm_model(np.int8, **change)))


def tflm_allocates(data: bytes) -> bool:
    """Whether the real TFLM's allocate_tensors (which runs every Prepare) succeeds, asked
    in a forked child: tflm_edu's reader refuses some of these models, so
    arena_size.oracle.tflm_accepts, which reads them, cannot be used."""
    runtime = oracle_runtime()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            with quiet_c_output():
                runtime.Interpreter.from_bytes(data, arena_size=200_000)
            code = 0
        finally:
            os._exit(code)  # never return into pytest from the child
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


@pytest.mark.parametrize("change, message", [
    (dict(types={f"{kind}_to_{g}": np.int8 for g in GATES for kind in ("input", "recurrent")}),
     "float32 weights"),
    (dict(shapes={"input": (3, 4)}, drop=()), "3-D"),
])
def test_malformed_float_models_are_refused(change, message):
    with pytest.raises(ModelError, match=message):
        MicroInterpreter(lstm_model(np.float32, **change), AllOpsResolver(),
                         None).allocate_tensors()


def test_cifg_is_refused():
    """Without input-gate tensors (CIFG) TFLM's LSTM cannot run: the model is refused as
    soon as it is read (input 1 may not be -1)."""
    with pytest.raises(ModelError, match="input 1"):
        read_model(write_model(lstm_model(np.int8, drop=(1, 5, 12))))
