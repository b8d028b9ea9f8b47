"""SVDF against the real TFLM over several invokes: the op keeps state between them.

Each comparison runs one model through tflm_edu and the tflite-micro package side by side,
invoke after invoke with seeded inputs, and demands equal bytes for the output and for the
variable activation_state (the oracle runs with kPreserveAllTensors so its tensors can be
read). TFLM's keyword benchmark model (QUANTIZE, SVDF, FULLY_CONNECTED, SOFTMAX) is checked
tensor by tensor.
"""
import faulthandler
import os
from pathlib import Path

import numpy as np
import pytest

from op_harness import oracle_runtime
from tflm_edu.arena_size import estimate_arena_size
from tflm_edu.arena_size.oracle import quiet_c_output, smallest_arena_tflm
from tflm_edu.errors import ModelError
from tflm_edu.interpreter import MicroInterpreter
from tflm_edu.kernels.quantization_util import quantize_multiplier
from tflm_edu.op_resolver import AllOpsResolver
from tflm_edu.schema import read_model, write_model
from tflm_edu.schema.builder import ModelBuilder, quantization
from tflm_edu.schema.enums import ActivationFunctionType as Act, BuiltinOperator as Op
from tflm_edu.schema.options import SVDFOptions

# TFLM's keyword benchmark model (tensorflow/lite/micro/models/keyword_scrambled.tflite)
KEYWORD_MODEL = (Path(__file__).resolve().parents[1].parent / "shared" / "models"
                 / "tflm_models_keyword_scrambled.tflite")
STATE = 4  # the activation_state's tensor index in svdf_model()


def svdf_model(dtype=np.int8, batch=1, input_size=5, units=3, rank=1, memory=4,
               act=Act.NONE, bias=True, time_dtype=np.int16, state_zp=0, seed=0,
               shapes=None, variable=True, bias_scale=None):
    """A seeded SVDF: tensors 0 input, 1 weights_feature, 2 weights_time, 3 bias,
    4 activation_state (variable), then the output. int8 (with int16 or int8 weights_time
    and state) or float32. `shapes` overrides tensor shapes by name to make it malformed;
    bias=False leaves the bias out (-1)."""
    rng = np.random.default_rng(seed)
    filters = units * rank
    shape = {"input": (batch, input_size), "weights_feature": (filters, input_size),
             "weights_time": (filters, memory), "bias": (units,),
             "state": (batch, memory * filters), "output": (batch, units)}
    shape.update(shapes or {})
    b = ModelBuilder()
    if dtype == np.float32:
        quant = dict.fromkeys(shape)
        data = {"weights_feature": rng.standard_normal(shape["weights_feature"]),
                "weights_time": rng.standard_normal(shape["weights_time"]),
                "bias": rng.standard_normal(shape["bias"])}
        dtypes = dict.fromkeys(shape, np.float32)
    else:
        scales = {"input": rng.uniform(0.01, 0.1), "weights_feature": rng.uniform(0.002, 0.02),
                  "weights_time": rng.uniform(0.001, 0.01),
                  "state": rng.uniform(0.005, 0.05),
                  "output": rng.uniform(0.02, 0.2)}
        scales["bias"] = bias_scale or scales["state"] * scales["weights_time"]
        zero_points = {"input": int(rng.integers(-20, 20)), "state": state_zp,
                       "output": int(rng.integers(-10, 10))}
        quant = {k: quantization(s, zero_points.get(k, 0)) for k, s in scales.items()}
        info = np.iinfo(time_dtype)
        data = {"weights_feature": rng.integers(-127, 128, shape["weights_feature"]),
                "weights_time": rng.integers(info.min + 1, info.max + 1, shape["weights_time"]),
                "bias": rng.integers(-30000, 30000, shape["bias"])}
        dtypes = {"input": np.int8, "weights_feature": np.int8, "weights_time": time_dtype,
                  "bias": np.int32, "state": time_dtype, "output": np.int8}
    x = b.add_input(shape["input"], dtypes["input"], "input", quant["input"])
    inputs = [x] + [b.add_tensor(shape[k], dtypes[k], k, data[k], quant[k])
                    for k in ("weights_feature", "weights_time", "bias")]
    state = b.add_tensor(shape["state"], dtypes["state"], "activation_state",
                         quant=quant["state"], is_variable=variable)
    output = b.add_tensor(shape["output"], dtypes["output"], "output", quant=quant["output"])
    if not bias:
        inputs[3] = -1
    b.add_operator(Op.SVDF, inputs + [state], [output],
                   SVDFOptions(rank=rank, fused_activation_function=act),
                   version=1 if dtype == np.float32 else 3)
    b.mark_output(output)
    return b.build()


def random_like(rng, tensor):
    if tensor.dtype == np.float32:
        return (rng.standard_normal(tensor.shape) * 2).astype(np.float32)
    info = np.iinfo(tensor.dtype)
    return rng.integers(info.min, info.max, tensor.shape, endpoint=True).astype(tensor.dtype)


def oracle_tensor(oracle, index):
    return np.asarray(oracle.GetTensor(index, 0)["tensor_data"])


def check_invokes(model, invokes=4, seed=0, reset_at=(), tensors=None):
    """Invoke tflm_edu and the real TFLM `invokes` times on the same seeded inputs (both
    reset before the invokes listed in reset_at); after each, assert byte-equal graph
    outputs and variable tensors - or every tensor in `tensors`, each op's output read as
    it runs. Returns tflm_edu's outputs, one list per invoke."""
    data = model if isinstance(model, bytes) else write_model(model)
    ours = MicroInterpreter(read_model(data), AllOpsResolver(), None)
    ours.allocate_tensors()
    runtime = oracle_runtime()
    theirs = runtime.Interpreter.from_bytes(
        data, arena_size=4_000_000,
        intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)
    variables = [t.index for t in ours.tensors if t.is_variable]
    rng = np.random.default_rng(seed)
    history = []
    for k in range(invokes):
        if k in reset_at:
            ours.reset()
            theirs.reset()
        inputs = [random_like(rng, ours.input(i)) for i in range(ours.inputs_size)]
        seen = {}
        for i, x in enumerate(inputs):
            ours.input(i).data[...] = x
            theirs.set_input(x, i)
        for event in ours.steps():
            seen.update({t: o.copy() for t, o in zip(event.node.outputs, event.outputs)})
        theirs.invoke()
        seen.update({t: ours.tensor(t).data.copy() for t in variables})
        for t in tensors if tensors is not None else list(ours.subgraph.outputs) + variables:
            a, b = seen[t], oracle_tensor(theirs, t)
            assert a.tobytes() == b.astype(a.dtype).tobytes(), (
                f"invoke {k}, tensor {t}: {np.count_nonzero(a.reshape(-1) != b.reshape(-1))} "
                f"values differ; tflm_edu {a.reshape(-1)[:6]} vs TFLM {b.reshape(-1)[:6]}")
        history.append([ours.output(i).data.copy() for i in range(ours.outputs_size)])
    return history


# (batch, input_size, units, rank, memory)
SHAPES = [(1, 5, 3, 1, 4), (2, 8, 4, 2, 3), (3, 16, 5, 2, 6), (1, 33, 7, 3, 10),
          (4, 10, 2, 1, 1), (2, 96, 16, 1, 8)]


@pytest.mark.parametrize("seed", range(len(SHAPES)))
@pytest.mark.parametrize("act", [Act.NONE, Act.RELU])
def test_int8_int16_state(seed, act):
    batch, input_size, units, rank, memory = SHAPES[seed]
    check_invokes(svdf_model(np.int8, batch, input_size, units, rank, memory, act, seed=seed),
                  invokes=5, seed=seed)


@pytest.mark.parametrize("seed", range(len(SHAPES)))
@pytest.mark.parametrize("state_zp", [0, -5])
def test_int8_int8_state(seed, state_zp):
    """int8 weights_time and state; TFLM starts (and resets) an int8 variable at its zero
    point, which the time step then subtracts."""
    batch, input_size, units, rank, memory = SHAPES[seed]
    check_invokes(svdf_model(np.int8, batch, input_size, units, rank, memory,
                             time_dtype=np.int8, state_zp=state_zp, seed=seed),
                  invokes=5, seed=seed, reset_at=(3,))


def test_int8_ignores_the_fused_activation():
    """TFLM's integer SVDF only clamps to int8: RELU changes nothing (both runtimes)."""
    model = dict(batch=3, input_size=12, units=6, rank=2, memory=4, seed=7)
    plain = check_invokes(svdf_model(np.int8, act=Act.NONE, **model), seed=7)
    relu = check_invokes(svdf_model(np.int8, act=Act.RELU, **model), seed=7)
    assert np.array_equal(plain, relu)
    assert (np.array(plain) < svdf_model(np.int8, **model).subgraphs[0].tensors[5]
            .quantization.zero_point[0]).any()


@pytest.mark.parametrize("seed", range(len(SHAPES)))
@pytest.mark.parametrize("act", [Act.NONE, Act.RELU, Act.RELU6, Act.RELU_N1_TO_1, Act.TANH,
                                 Act.SIGN_BIT])
def test_float(seed, act):
    batch, input_size, units, rank, memory = SHAPES[seed]
    check_invokes(svdf_model(np.float32, batch, input_size, units, rank, memory, act,
                             seed=seed), invokes=4, seed=seed)


@pytest.mark.parametrize("dtype", [np.int8, np.float32])
def test_reset_zeroes_the_state(dtype):
    """reset() on both runtimes between invokes; afterwards the op answers as a fresh one."""
    model = svdf_model(dtype, batch=2, input_size=6, units=4, rank=2, memory=3, seed=3)
    check_invokes(model, invokes=6, seed=3, reset_at=(2, 4))
    interpreter = MicroInterpreter(model, AllOpsResolver(), None)
    interpreter.allocate_tensors()
    rng = np.random.default_rng(0)
    x = random_like(rng, interpreter.input(0))
    interpreter.input(0).data[...] = x
    interpreter.invoke()
    first = interpreter.output(0).data.copy()
    for _ in range(3):
        interpreter.input(0).data[...] = random_like(rng, interpreter.input(0))
        interpreter.invoke()
    assert interpreter.tensor(STATE).data.any()
    interpreter.reset()
    assert not interpreter.tensor(STATE).data.any()
    interpreter.input(0).data[...] = x
    interpreter.invoke()
    assert np.array_equal(interpreter.output(0).data, first)


@pytest.mark.parametrize("dtype", [np.int8, np.float32])
def test_without_bias_is_refused_where_tflm_crashes(dtype):
    """TFLM's SVDF uses the bias unconditionally: without one, the real TFLM dies (a null
    pointer), and tflm_edu refuses the model."""
    model = svdf_model(dtype, bias=False)
    assert tflm_dies(write_model(model))
    with pytest.raises(ModelError, match="absent|bias"):
        MicroInterpreter(model, AllOpsResolver(), None).allocate_tensors()
    assert not tflm_dies(write_model(svdf_model(dtype)))  # with a bias, it runs


def tflm_dies(data: bytes) -> bool:
    """Create the real TFLM's interpreter on `data` and invoke it once, in a forked child
    (tflm_edu's reader refuses the model, so arena_size.oracle.tflm_accepts cannot read
    it): True when the child is killed by a signal."""
    runtime = oracle_runtime()
    pid = os.fork()
    if pid == 0:
        code = 1
        faulthandler.disable()  # a crash is the answer asked for
        try:
            with quiet_c_output():
                runtime.Interpreter.from_bytes(data, arena_size=200_000).invoke()
            code = 0
        finally:
            os._exit(code)  # never return into pytest from the child
    _, status = os.waitpid(pid, 0)
    return os.WIFSIGNALED(status)


def test_effective_scales_are_computed_in_double():
    """A model where the float32 scale arithmetic of TFLM's source tree gives other int16
    state values than the double arithmetic of the tflite-micro package: tflm_edu matches
    the package, and the float32 multipliers would not."""
    model = svdf_model(np.int8, batch=64, input_size=96, units=256, rank=1, memory=2, seed=0)
    check_invokes(model, invokes=2, seed=0)
    t = [q.quantization.scale[0] for q in model.subgraphs[0].tensors]
    f32 = np.float32
    float32_route = quantize_multiplier(float(f32(t[0]) * f32(t[1]) / f32(t[STATE])))
    interpreter = MicroInterpreter(model, AllOpsResolver(), None)
    interpreter.allocate_tensors()
    data = interpreter.nodes[0].user_data
    assert (data.effective_scale_1_a, data.effective_scale_1_b) != float32_route
    data.effective_scale_1_a, data.effective_scale_1_b = float32_route
    with pytest.raises(AssertionError, match="values differ"):
        check_invokes_on(interpreter, model, invokes=2, seed=0)


def check_invokes_on(ours, model, invokes, seed):
    """check_invokes with a prepared tflm_edu interpreter (its OpData edited)."""
    runtime = oracle_runtime()
    theirs = runtime.Interpreter.from_bytes(
        write_model(model), arena_size=4_000_000,
        intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)
    rng = np.random.default_rng(seed)
    for k in range(invokes):
        x = random_like(rng, ours.input(0))
        ours.input(0).data[...] = x
        theirs.set_input(x, 0)
        ours.invoke()
        theirs.invoke()
        a, b = ours.tensor(STATE).data, oracle_tensor(theirs, STATE)
        assert np.array_equal(a, b), f"invoke {k}: {np.count_nonzero(a != b)} values differ"


# ----------------------------------------------------------------------------- the real model


def keyword_model() -> bytes:
    return KEYWORD_MODEL.read_bytes()


def test_keyword_model_tensor_by_tensor():
    """TFLM's keyword benchmark (int16 QUANTIZE -> 7 int8 SVDF with int16 state and 4
    FULLY_CONNECTED -> SOFTMAX int8 -> int16 -> QUANTIZE int32): every op's output and all
    seven states equal the real TFLM's over consecutive invokes and a reset. (Its weights
    are scrambled: the final probabilities hardly move, the states do.)"""
    data = keyword_model()
    model = read_model(data)
    ops = [model.operator_codes[op.opcode_index].builtin_code
           for op in model.subgraphs[0].operators]
    assert ops.count(Op.SVDF) == 7
    every_output = [t for op in model.subgraphs[0].operators for t in op.outputs]
    variables = [i for i, t in enumerate(model.subgraphs[0].tensors) if t.is_variable]
    assert len(variables) == 7
    check_invokes(data, invokes=6, seed=1, reset_at=(4,), tensors=every_output + variables)


def test_keyword_model_arena_is_tflms():
    data = keyword_model()
    assert abs(estimate_arena_size(data, "host").arena_bytes - smallest_arena_tflm(data)) <= 16


@pytest.mark.parametrize("dtype", [np.int8, np.float32])
def test_arena_estimate_is_the_real_tflms(dtype):
    """The scratch requests (two for int8, one for float32) and the six temporaries."""
    model = svdf_model(dtype, batch=2, input_size=7, units=3, rank=2, memory=5)
    assert estimate_arena_size(model, "host").arena_bytes == smallest_arena_tflm(model)


# ----------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("change, message", [
    (dict(shapes={"output": (1, 4)}), "output"),
    (dict(shapes={"weights_feature": (3, 6)}), "weights_feature"),
    (dict(shapes={"weights_time": (2, 4)}), "weights_time"),
    (dict(shapes={"bias": (4,)}), "bias"),
    (dict(shapes={"state": (1, 13)}), "activation_state"),
    (dict(shapes={"input": (1, 1, 5)}), "2-D"),
    (dict(rank=2, units=3, shapes={"weights_feature": (5, 5), "weights_time": (5, 4),
                                   "state": (1, 20)}), "multiple of rank"),
    (dict(variable=False), "variable"),
    (dict(time_dtype=np.int32), "weights_time"),
    (dict(bias_scale=1e-3), "bias scale"),
])
def test_malformed_models_are_refused(change, message):
    with pytest.raises(ModelError, match=message):
        MicroInterpreter(svdf_model(np.int8, **change), AllOpsResolver(),
                         None).allocate_tensors()
