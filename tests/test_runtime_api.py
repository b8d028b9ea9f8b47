"""tflm_edu.Interpreter behaves as tflite_micro's Python runtime: the same script against
both gives the same answers, return values, exceptions and allocation report."""
import numpy as np
import pytest

from conftest import reference_model
from op_harness import oracle_runtime
from tflm_edu.arena_size.oracle import _captured_c_output
from tflm_edu.kernels.kernel_api import Registration, ensure
from tflm_edu.runtime import Interpreter, InterpreterConfig
from tflm_edu.schema import read_model, write_model
from tflm_edu.schema.builder import ModelBuilder
from tflm_edu.schema.enums import BuiltinOperator as Op


@pytest.fixture(params=["ours", "tflm"])
def runtime(request):
    """The module whose Interpreter the test drives: tflm_edu's or the real TFLM's."""
    if request.param == "tflm":
        return oracle_runtime()
    import tflm_edu.runtime as ours
    return ours


def test_same_script_same_answers_and_return_values(runtime):
    path = reference_model("hello_world_int8.tflite")
    interpreter = runtime.Interpreter.from_file(str(path), None, 4000)   # TFLM's positions
    interpreter.set_input(np.array([[42]], np.int8), 0)
    assert interpreter.invoke() == 0 and interpreter.reset() == 0
    assert interpreter.get_input_details(0)["shape"].tolist() == [1, 1]


def test_preserve_all_tensors_and_get_tensor(runtime):
    data = reference_model("hello_world_int8.tflite").read_bytes()
    interpreter = runtime.Interpreter.from_bytes(
        data, intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)
    interpreter.set_input(np.array([[42]], np.int8), 0)
    interpreter.invoke()
    tensor = interpreter.GetTensor(1, 0)
    assert set(tensor) == {"dtype", "shape", "tensor_data"}
    if runtime.__name__.startswith("tflm_edu"):   # the real TFLM may crash on this one
        with pytest.raises(IndexError, match="out of bound"):
            interpreter.GetTensor(99, 0)


def test_get_tensor_agrees_with_tflm_on_every_tensor():
    data = reference_model("micro_speech_quantized.tflite").read_bytes()
    x = np.random.default_rng(0).integers(-128, 128, (1, 1960)).astype(np.int8)
    both = []
    for runtime in (oracle_runtime(), __import__("tflm_edu.runtime").runtime):
        interpreter = runtime.Interpreter.from_bytes(
            data, intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)
        interpreter.set_input(x, 0)
        interpreter.invoke()
        count = len(read_model(data).subgraphs[0].tensors)
        both.append([np.asarray(interpreter.GetTensor(i, 0)["tensor_data"]).tobytes()
                     for i in range(count)])
    assert both[0] == both[1]


def test_the_right_spelling_works_too_and_get_tensor_needs_the_mode():
    data = reference_model("hello_world_int8.tflite").read_bytes()
    assert Interpreter.from_bytes(
        data, interpreter_config=InterpreterConfig.kPreserveAllTensors).GetTensor(0, 0)
    with pytest.raises(RuntimeError, match="kPreserveAllTensors"):
        Interpreter.from_bytes(data).GetTensor(0, 0)


def test_out_of_range_output_index_is_an_index_error():
    interpreter = Interpreter.from_file(reference_model("hello_world_int8.tflite"))
    with pytest.raises(IndexError, match="Output index 5 out of range"):
        interpreter.get_output(5)


def test_a_missing_file_raises_what_tflm_raises(runtime, tmp_path):
    with pytest.raises(ValueError, match="Invalid model file path"):
        runtime.Interpreter.from_file(str(tmp_path / "missing.tflite"))


@pytest.mark.parametrize("name", ["hello_world_int8", "micro_speech_quantized", "magic_wand",
                                  "person_detect"])
def test_print_allocations_prints_what_tflm_prints(name, capsys):
    data = reference_model(f"{name}.tflite").read_bytes()
    ours = Interpreter.from_bytes(data)
    ours.print_allocations()
    mine = capsys.readouterr().out.strip().splitlines()
    real = oracle_runtime().Interpreter.from_bytes(data, arena_size=ours.micro.arena.size)
    theirs = _captured_c_output(real.print_allocations).strip().splitlines()
    assert mine == theirs


def add_one_registration():
    """A custom op a learner writes in a notebook: y = x + 1 on float32."""
    def prepare(context, node):
        x, y = context.get_input(node, 0), context.get_output(node, 0)
        ensure(x.shape == y.shape, "ADD_ONE keeps the shape")

    def eval(context, node):
        context.get_output(node, 0).data[...] = context.get_input(node, 0).data + 1
    return Registration("ADD_ONE", prepare=prepare, eval=eval)


def test_a_custom_op_written_in_python():
    b = ModelBuilder()
    x = b.add_input((1, 3), np.float32)
    y = b.mark_output(b.add_tensor((1, 3), np.float32))
    b.add_operator(Op.CUSTOM, [x], [y], custom_code="ADD_ONE")
    data = write_model(b.build())
    with pytest.raises(Exception, match="ADD_ONE"):
        Interpreter.from_bytes(data)   # not registered: TFLM's words and the op's name
    interpreter = Interpreter.from_bytes(data, [add_one_registration])
    interpreter.set_input(np.array([[1, 2, 3]], np.float32), 0)
    interpreter.invoke()
    assert interpreter.get_output(0).tolist() == [[2, 3, 4]]
