"""The real public TFLM models of ../shared/models (MLTK, microWakeWord, SEANet, MLPerf Tiny,
MCUNetV2, TFLM's keyword benchmark), run by tflm_edu and by the real TFLM.

For every model the real TFLM runs: the outputs of several invokes in a row (streaming
models keep state between them), then after reset(), are byte-equal; the memory plan's
head and the smallest arena equal TFLM's; and the command line's inspect, plan,
arena-size, check and to-c all work. A model the real TFLM refuses is refused by tflm_edu,
with a message that says why.
"""
import numpy as np
import pytest

from conftest import ROOT
from op_harness import oracle_runtime, random_input
from tflm_edu import AllOpsResolver, MicroInterpreter
from tflm_edu.errors import AllocationError, ModelError
from tflm_edu.schema import read_model

SHARED_MODELS = ROOT.parent / "shared" / "models"
# The models' names, as ../shared/models/README.md lists them.
NAMES = sorted(p.stem for p in SHARED_MODELS.glob("*.tflite")) or ["(../shared/models absent)"]
# Models the real TFLM refuses, with what tflm_edu's refusal must say.
TFLM_REFUSES = {"tiny_model_ToyCar_quant": "hybrid"}
RUNS = [n for n in NAMES if n not in TFLM_REFUSES]
INVOKES = 4  # then reset() and one more


def model_bytes(name: str) -> bytes:
    path = SHARED_MODELS / f"{name}.tflite"
    if not path.is_file():
        pytest.skip(f"{path} not found (needs ../shared/models)")
    return path.read_bytes()


def seeded_inputs(model, seed: int) -> list:
    rng = np.random.default_rng(seed)
    sg = model.subgraphs[0]
    return [random_input(rng, sg.tensors[i].shape, sg.tensors[i].dtype) for i in sg.inputs]


def outputs_over_invokes(data: bytes):
    """(tflm_edu's, TFLM's) outputs: INVOKES invokes on seeded inputs, reset(), one more."""
    model = read_model(data)
    ours = MicroInterpreter(model, AllOpsResolver(), None)
    ours.allocate_tensors()
    theirs = oracle_runtime().Interpreter.from_bytes(data, arena_size=16 << 20)
    results = []
    for k in range(INVOKES + 1):
        if k == INVOKES:
            ours.reset()
            theirs.reset()
        inputs = seeded_inputs(model, k)
        for i, x in enumerate(inputs):
            ours.input(i).data[...] = x
            theirs.set_input(x, i)
        ours.invoke()
        theirs.invoke()
        for i in range(ours.outputs_size):
            a = ours.output(i).data
            b = np.asarray(theirs.get_output(i)).reshape(a.shape).astype(a.dtype)
            results.append((k, i, a.copy(), b))
    return results


@pytest.mark.parametrize("name", RUNS)
def test_outputs_byte_equal_to_tflm_over_invokes_and_reset(name):
    for k, i, a, b in outputs_over_invokes(model_bytes(name)):
        where = f"invoke {k}" if k < INVOKES else "the invoke after reset()"
        assert a.tobytes() == b.tobytes(), f"output {i} differs at {where}"


@pytest.mark.parametrize("name", RUNS)
def test_plan_head_and_smallest_arena_equal_tflm(name):
    from tflm_edu.arena_size import estimate_arena_size
    from tflm_edu.arena_size.oracle import smallest_arena_tflm, tflm_allocations
    data = model_bytes(name)
    estimate = estimate_arena_size(data, "host")
    actual = smallest_arena_tflm(data)
    assert estimate.arena_bytes == actual, estimate.table()
    assert estimate.head_bytes == tflm_allocations(data, actual)["head"]


@pytest.mark.parametrize("name", sorted(TFLM_REFUSES))
def test_models_tflm_refuses_are_refused(name):
    data = model_bytes(name)
    with pytest.raises(RuntimeError):   # the real TFLM fails AllocateTensors
        oracle_runtime().Interpreter.from_bytes(data, arena_size=16 << 20)
    interpreter = MicroInterpreter(read_model(data), AllOpsResolver(), None)
    with pytest.raises((ModelError, AllocationError), match=TFLM_REFUSES[name]):
        interpreter.allocate_tensors()


@pytest.mark.parametrize("name", NAMES)
def test_command_line_works_on_every_model(name, tmp_path, capsys):
    from tflm_edu.cli import main
    path = SHARED_MODELS / f"{name}.tflite"
    model_bytes(name)
    for command in (["inspect"], ["plan"], ["arena-size"], ["check"],
                    ["to-c", "-o", str(tmp_path)]):
        code = main(command + [str(path)])
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err
        if name in TFLM_REFUSES and command[0] in ("plan", "arena-size"):
            assert code != 0 and err.count("\n") == 1 and TFLM_REFUSES[name] in err
        elif name in TFLM_REFUSES and command[0] == "check":
            assert code == 1 and "NOT deployable" in out and TFLM_REFUSES[name] in out
        else:
            assert code == 0, f"tflm-edu {command[0]}: {err}"


def test_streaming_state_persists_between_invokes():
    """A microWakeWord model remembers earlier frames: the same input gives a different
    output once the state has changed. One resource variable per distinct name."""
    data = model_bytes("mww_alexa")
    interpreter = MicroInterpreter(read_model(data), AllOpsResolver(), None)
    interpreter.allocate_tensors()
    frame = np.zeros(interpreter.input(0).shape, np.int8)
    answers = []
    for _ in range(3):
        interpreter.input(0).data[...] = frame
        interpreter.invoke()
        answers.append(interpreter.output(0).data.copy())
    assert answers[0].tobytes() != answers[2].tobytes()
    assert interpreter.resource_variables is not None
    assert len(interpreter.resource_variables.variables) == \
        interpreter.resource_variables.max_variable_count > 0


@pytest.mark.parametrize("name", RUNS)
def test_every_intermediate_tensor_equals_tflms(name):
    """compare_layers: every op output of the main graph against the real TFLM's
    preserve-all-tensors mode, on a seeded input."""
    from tflm_edu.compare import compare_layers
    report = compare_layers(model_bytes(name), oracle="tflite-micro", seed=1)
    assert report.rows and report.matches, str(report)
