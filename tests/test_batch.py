"""Batch evaluation (tflm_edu.batch): N examples through the kernels at once must equal N
invokes of the real TFLM, byte for byte, example by example - on the example models, on
every real model of ../shared/models that can be batched, through run_model and through
`tflm-edu run --batch`."""
import numpy as np
import pytest

from conftest import MODELS
from op_harness import oracle_runtime, random_input
from test_real_models import SHARED_MODELS, RUNS, model_bytes
from tflm_edu import Interpreter
from tflm_edu.batch import BatchRunner, batched_model, why_not_batchable
from tflm_edu.cli import main
from tflm_edu.evaluate import run_model
from tflm_edu.schema import load_model, read_model

EXAMPLES = ["hello_world_int8", "hello_world_float", "micro_speech_quantized",
            "magic_wand", "person_detect"]


def reference_path(name):
    path = MODELS / f"{name}.tflite"
    if not path.is_file():
        pytest.skip(f"{path} not found (needs ../shared/reference)")
    return path


def examples(model, n, seed):
    rng = np.random.default_rng(seed)
    sg = model.subgraphs[0]
    return [np.stack([random_input(rng, sg.tensors[i].shape, sg.tensors[i].dtype)
                      for _ in range(n)]) for i in sg.inputs]


def tflm_one_by_one(data: bytes, inputs, n):
    interpreter = oracle_runtime().Interpreter.from_bytes(data, arena_size=4_000_000)
    outputs = []
    for k in range(n):
        for i, x in enumerate(inputs):
            interpreter.set_input(x[k], i)
        interpreter.invoke()
        outputs.append(np.array(interpreter.get_output(0)))
    return np.stack(outputs)


def assert_same_bytes(ours, theirs):
    ours = ours.reshape(len(ours), -1)
    theirs = theirs.reshape(len(theirs), -1).astype(ours.dtype)
    bad = [k for k in range(len(ours))
           if not np.array_equal(ours[k].view(np.uint8), theirs[k].view(np.uint8))]
    assert not bad, f"examples {bad[:10]} differ from one invoke each"


@pytest.mark.parametrize("name", EXAMPLES)
def test_examples_batched_equal_tflm_invoke_by_invoke(name):
    path = reference_path(name)
    model = load_model(path)
    assert why_not_batchable(model) is None
    n = 23 if name != "person_detect" else 9
    inputs = examples(model, n, seed=1)
    runner = BatchRunner(model, batch_size=5)     # 5, 5, ..., and a padded last chunk
    assert runner.batched
    ours = runner.run(inputs)[0]
    assert_same_bytes(ours, tflm_one_by_one(path.read_bytes(), inputs, n))


@pytest.mark.parametrize("name", RUNS)
def test_real_models_batched_or_refused_with_a_reason(name):
    data = model_bytes(name)
    model = read_model(data)
    reason = why_not_batchable(model)
    if reason is not None:
        assert batched_model(model, 4) is None
        runner = BatchRunner(model)
        assert not runner.batched and runner.reason == reason
        return
    n = 6
    inputs = examples(model, n, seed=2)
    ours = BatchRunner(model, batch_size=4).run(inputs)[0]
    assert_same_bytes(ours, tflm_one_by_one(data, inputs, n))


def test_a_stateful_model_is_not_batched():
    path = SHARED_MODELS / "mww_alexa.tflite"
    if not path.is_file():
        pytest.skip(f"{path} not found (needs ../shared/models)")
    reason = why_not_batchable(load_model(path))
    assert reason is not None and ("subgraphs" in reason or "variable" in reason)


@pytest.mark.parametrize("name", ["magic_wand", "micro_speech_quantized"])
def test_run_model_batches_and_matches_one_invoke_each(name):
    path = reference_path(name)
    interpreter = Interpreter.from_file(path)
    details = interpreter.get_input_details(0)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((37,) + tuple(details["shape"][1:])).astype(np.float32)
    batched = run_model(interpreter, x, progress=False)
    assert interpreter._batch_runner.batched
    one_by_one = run_model(interpreter, x, progress=False, batch=False)
    assert batched.dtype == one_by_one.dtype
    assert np.array_equal(batched.view(np.uint8), one_by_one.view(np.uint8))
    assert np.array_equal(run_model(interpreter, x, progress=False, dequantize=True),
                          run_model(interpreter, x, progress=False, dequantize=True,
                                    batch=False))


def test_cli_run_batch(tmp_path, capsys):
    path = reference_path("hello_world_int8")
    xs = np.random.default_rng(4).integers(-128, 128, (11, 1, 1)).astype(np.int8)
    np.save(tmp_path / "x.npy", xs)
    assert main(["run", str(path), "--input", str(tmp_path / "x.npy"), "--batch",
                 "--output", str(tmp_path / "y.npy")]) == 0
    ys = np.load(tmp_path / "y.npy")
    assert ys.shape == (11, 1)
    assert_same_bytes(ys, tflm_one_by_one(path.read_bytes(), [xs], 11))


def test_cli_run_batch_refuses_examples_of_the_wrong_shape(tmp_path, capsys):
    path = reference_path("hello_world_int8")
    np.save(tmp_path / "x.npy", np.zeros((4, 3), np.int8))
    code = main(["run", str(path), "--input", str(tmp_path / "x.npy"), "--batch"])
    err = capsys.readouterr().err
    assert code != 0 and "stacked along a first axis" in err


def test_runner_refuses_inputs_of_different_lengths():
    path = reference_path("hello_world_int8")
    runner = BatchRunner(load_model(path))
    with pytest.raises(ValueError, match="same number of examples"):
        runner.run([np.zeros((3, 1, 1), np.int8), np.zeros((2, 1, 1), np.int8)])
