"""Malformed models that TFLM loads (issue 14's probes): each ends byte-equal to the real
TFLM, or as a ModelError that names the problem - never a third answer, never a raw
exception. A bug inside a kernel is a KernelError that says so."""
import dataclasses
import subprocess
import sys

import numpy as np
import pytest

from models import fc_model, one_op_model, tensor
from op_harness import run_oracle
from tflm_edu import AllOpsResolver, KernelError, MicroInterpreter, ModelError
from tflm_edu.schema import read_model, write_model
from tflm_edu.schema.builder import ModelBuilder
from tflm_edu.schema.enums import BuiltinOperator as Op
from tflm_edu.schema.model import QuantizationParameters
from tflm_edu.schema.options import AddOptions, ReducerOptions


def allocate(model):
    interpreter = MicroInterpreter(read_model(write_model(model)), AllOpsResolver(), None)
    interpreter.allocate_tensors()
    return interpreter


def tflm_outcome(model_bytes: bytes, inputs) -> str:
    """What the real TFLM does with the model, in a child process (it may crash): 'refuses',
    'crashes', or the output bytes as hex."""
    script = ("import sys, numpy as np\n"
              "from tflite_micro.python.tflite_micro import runtime\n"
              "data = open(sys.argv[1], 'rb').read()\n"
              "inputs = np.load(sys.argv[2], allow_pickle=True)\n"
              "try:\n"
              "    it = runtime.Interpreter.from_bytes(data, arena_size=1 << 20)\n"
              "except RuntimeError:\n"
              "    print('refuses'); sys.exit(0)\n"
              "for i, x in enumerate(inputs): it.set_input(x, i)\n"
              "it.invoke()\n"
              "print(np.asarray(it.get_output(0)).tobytes().hex())\n")
    import tempfile
    with tempfile.TemporaryDirectory() as folder:
        model_path, inputs_path = f"{folder}/m.tflite", f"{folder}/x.npy"
        open(model_path, "wb").write(model_bytes)
        array = np.empty(len(inputs), object)
        array[:] = inputs
        np.save(inputs_path, array, allow_pickle=True)
        result = subprocess.run([sys.executable, "-c", script, model_path, inputs_path],
                                capture_output=True, text=True, timeout=120)
    return result.stdout.strip().splitlines()[-1] if result.returncode == 0 else "crashes"


def test_a_constant_marked_variable_is_zeroed_as_tflm_zeroes_it():
    """x + c where c has data and is_variable: TFLM gives c tail bytes of its own (zeroed)."""
    b = ModelBuilder()
    x = b.add_input((1, 4), np.float32)
    c = b.add_tensor((1, 4), np.float32, data=np.full((1, 4), 7.0), is_variable=True)
    y = b.mark_output(b.add_tensor((1, 4), np.float32))
    b.add_operator(Op.ADD, [x, c], [y], AddOptions())
    model = b.build()
    interpreter = allocate(model)
    x_value = np.arange(4, dtype=np.float32).reshape(1, 4)
    interpreter.input(0).data[...] = x_value
    interpreter.invoke()
    theirs = run_oracle(write_model(model), [x_value])[0]
    assert interpreter.output(0).data.tobytes() == theirs.tobytes() == x_value.tobytes()


def test_scales_without_zero_points_mean_unquantized_as_in_tflm():
    model = fc_model(1, 4, 2, np.int8)
    x = model.subgraphs[0].tensors[0]
    x.quantization = QuantizationParameters(scale=x.quantization.scale, zero_point=())
    interpreter = MicroInterpreter(read_model(write_model(model)), AllOpsResolver(), None)
    assert interpreter.model.subgraphs[0].tensors[0].quantization.zero_point == ()
    with pytest.raises(ModelError, match="must carry quantization"):
        interpreter.allocate_tensors()   # TFLM would compute with a scale of 0


@pytest.mark.parametrize("scale", [0.0, -0.0, -1.0, float("nan"), float("inf")])
def test_a_bad_scale_names_its_tensor(scale):
    model = fc_model(1, 4, 2, np.int8)
    out = model.subgraphs[0].tensors[3]
    out.quantization = dataclasses.replace(out.quantization, scale=(scale,))
    with pytest.raises(ModelError, match=r"tensor 3 \('t3'\).*scale"):
        allocate(model)


def test_mean_of_an_empty_axis_is_refused_where_tflm_crashes():
    model = one_op_model(Op.MEAN, [tensor((2, 0, 3)),
                                   tensor((1,), np.int32, np.array([1], np.int32))],
                         ReducerOptions(keep_dims=False), tensor((2, 3)))
    interpreter = allocate(model)
    with pytest.raises(ModelError, match="MEAN over an empty axis"):
        interpreter.invoke()
    assert tflm_outcome(write_model(model), [np.zeros((2, 0, 3), np.float32)]) in \
        ("crashes", "refuses")


def test_a_kernel_bug_is_a_kernel_error_naming_the_op(monkeypatch):
    interpreter = allocate(fc_model(1, 4, 2, np.float32))

    def broken(context, node):
        raise IndexError("index 7 is out of bounds")
    monkeypatch.setattr(interpreter.registrations[0], "eval", broken)
    monkeypatch.setattr(interpreter.registrations[0], "bind", None)   # invoke runs eval
    with pytest.raises(KernelError, match=r"internal error in tflm_edu's FULLY_CONNECTED "
                                          r"kernel at op 0 \(FULLY_CONNECTED\), please report"):
        interpreter.invoke()
    monkeypatch.undo()


def test_a_bug_in_a_bound_eval_is_a_kernel_error_naming_the_op(monkeypatch):
    """The same for the invoke plan's bound Eval (Registration.bind)."""
    interpreter = allocate(fc_model(1, 4, 2, np.float32))

    def broken_run():
        raise IndexError("index 7 is out of bounds")
    monkeypatch.setattr(interpreter.registrations[0], "bind", lambda context, node: broken_run)
    with pytest.raises(KernelError, match=r"internal error in tflm_edu's FULLY_CONNECTED "
                                          r"kernel at op 0 \(FULLY_CONNECTED\), please report"):
        interpreter.invoke()
    monkeypatch.undo()


def test_a_model_problem_seen_at_eval_is_a_model_error_naming_the_op():
    """GATHER with indices that arrive at run time: out of range is the model's problem."""
    b = ModelBuilder()
    params = b.add_input((4, 2), np.float32)
    indices = b.add_input((1,), np.int32)
    out = b.mark_output(b.add_tensor((1, 2), np.float32))
    from tflm_edu.schema.options import GatherOptions
    b.add_operator(Op.GATHER, [params, indices], [out], GatherOptions())
    interpreter = allocate(b.build())
    interpreter.input(1).data[...] = 9
    with pytest.raises(ModelError, match=r"^op 0 \(GATHER\)"):
        interpreter.invoke()


def test_non_empty_intermediates_are_refused_as_tflm_refuses_them():
    model = fc_model(1, 4, 2, np.float32)
    sg = model.subgraphs[0]
    extra = len(sg.tensors)
    sg.tensors.append(dataclasses.replace(sg.tensors[3], name="scratch", buffer=0))
    sg.operators[0] = dataclasses.replace(sg.operators[0], intermediates=(extra,))
    with pytest.raises(ModelError, match="intermediate tensor 4 of 8 bytes"):
        allocate(model)
    assert tflm_outcome(write_model(model), [np.ones((1, 4), np.float32)]) == "refuses"
