"""The README's TensorFlow path, run as written: the float file TensorFlow's converter writes
for Keras code (datasets/tf_path/, made by datasets/make_tf_shaped_model.py), quantized,
checked, turned into C and deployed with the commands between the README's
<!-- tf_path:start --> and <!-- tf_path:end --> markers.

Each line of a ```bash block there is a command; a ```text block after it shows lines of
that command's output, which must appear in what the command prints ("..." stands for
anything; each decimal number may differ by NUMBER_TOLERANCE, so BLAS rounding does not
break the README, while a changed report does). The commands run through tflm_edu.cli.main
in a temporary folder holding a copy of datasets/tf_path/. Then the int8 file they wrote
must run the same in tflm_edu, the real TFLM and LiteRT (reference kernels), and stay within
SQNR_FLOOR_DB of the float model on held-out gestures. `deploy` needs the Arm toolchain,
QEMU and TFLM's sources (the tflm_src fixture skips without them), the three-runtime check
the oracles (pip install "tflm_edu[verify]"); the rest needs neither.
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest

from tflm_edu.cli import main
from tflm_edu.convert.report import sqnr_db
from tflm_edu.datasets import make_gesture_dataset
from tflm_edu.evaluate import accuracy, as_model_inputs, run_model
from tflm_edu.runtime import Interpreter, InterpreterConfig
from tflm_edu.schema import load_model, read_model, write_model
from tflm_edu.schema.enums import TensorType

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BUNDLE = ROOT / "datasets" / "tf_path"
NUMBER_TOLERANCE = 0.5     # dB, for the numbers of the README's report excerpt
# The int8 model's output (softmax probabilities, dequantized) against the float model's on
# 100 held-out gestures: measured 39.9 dB (2026-12-01); the floor sits 3 dB below.
SQNR_FLOOR_DB = 37.0


# ----------------------------------------------------------------------------- the README


def readme_steps() -> list[tuple[str, list[str]]]:
    """(command, output lines the README shows for it), in the README's order."""
    text = README.read_text()
    start, end = text.index("<!-- tf_path:start -->"), text.index("<!-- tf_path:end -->")
    steps = []
    for kind, body in re.findall(r"```(bash|text)\n(.*?)```", text[start:end], re.S):
        lines = [line for line in body.splitlines() if line.strip()]
        if kind == "bash":
            steps += [(line.strip(), []) for line in lines]
        else:
            assert steps, "an output block before any command"
            steps[-1][1].extend(lines)
    return steps


_PIECES = re.compile(r"(\.\.\.|-?\d+\.\d+)")


def shown_in(line: str, output: str) -> bool:
    """Whether a line the README shows appears in `output`: '...' matches anything, decimal
    numbers match within NUMBER_TOLERANCE, runs of spaces match any run of spaces."""
    pattern, numbers = "", []
    for k, piece in enumerate(_PIECES.split(line.strip())):
        if k % 2 == 0:
            pattern += r"\s+".join(re.escape(word) for word in re.split(r"\s+", piece))
        elif piece == "...":
            pattern += ".*"
        else:
            pattern += r"(-?\d+\.\d+)"
            numbers.append(float(piece))
    for actual in output.splitlines():
        match = re.fullmatch(pattern, actual.strip())
        if match and all(abs(float(got) - want) <= NUMBER_TOLERANCE
                         for got, want in zip(match.groups(), numbers)):
            return True
    return False


def test_shown_in_matches_numbers_within_a_tolerance():
    output = "    0 CONV_2D     conv;a/b     34.7     37.5      48.3\nworst layer: #0 x y z"
    assert shown_in("0 CONV_2D conv;a/b 34.9 37.5 48.0", output)
    assert not shown_in("0 CONV_2D conv;a/b 36.7 37.5 48.3", output)
    assert not shown_in("0 CONV_2D conv;a/c 34.7 37.5 48.3", output)
    assert shown_in("worst layer: #0 ...", output)
    assert not shown_in("worst layer: #1 ...", output)


def test_the_readme_walks_the_whole_path():
    commands = [shlex.split(command)[:2] for command, _ in readme_steps()]
    assert commands == [["tflm-edu", "inspect"], ["tflm-edu", "quantize"],
                        ["tflm-edu", "check"], ["tflm-edu", "to-c"], ["tflm-edu", "deploy"]]
    steps = dict(readme_steps())
    quantize = next(c for c in steps if c.startswith("tflm-edu quantize"))
    assert "datasets/tf_path/magic_wand_float.tflite" in quantize and "--report" in quantize
    assert any("SQNR dB" in line for line in steps[quantize]), "the report is shown"


# ----------------------------------------------------------------------------- running it


def run_command(command: str, folder: Path) -> str:
    """One README command through the CLI's entry point, in `folder`; its stdout."""
    argv = shlex.split(command)
    assert argv[0] == "tflm-edu"
    out, here = io.StringIO(), os.getcwd()
    os.chdir(folder)
    try:
        with contextlib.redirect_stdout(out):
            status = main(argv[1:])
    finally:
        os.chdir(here)
    assert status == 0, f"{command} exited with {status}:\n{out.getvalue()}"
    return out.getvalue()


def check_shown(command: str, shown: list[str], output: str) -> None:
    missing = [line for line in shown if not shown_in(line, output)]
    assert not missing, f"{command}: the README shows lines it does not print: {missing}\n" \
                        f"it prints:\n{output}"


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A folder laid out like the repository's root for the README's commands, after every
    command but deploy has run in it (each one's printed lines checked against the README)."""
    folder = tmp_path_factory.mktemp("tf_path")
    shutil.copytree(BUNDLE, folder / "datasets" / "tf_path")
    for command, shown in readme_steps():
        if not command.startswith("tflm-edu deploy"):
            check_shown(command, shown, run_command(command, folder))
    return folder


def test_the_commands_run_and_print_what_the_readme_shows(folder):
    assert (folder / "magic_wand_int8.tflite").is_file()
    assert (folder / "firmware" / "model_data.cc").is_file()


def test_deploy_on_the_emulated_board(folder, tflm_src, monkeypatch):
    monkeypatch.setenv("TFLM_EDU_TFLM_SRC", str(tflm_src))
    command, shown = next(step for step in readme_steps() if step[0].startswith("tflm-edu deploy"))
    check_shown(command, shown, run_command(command, folder))


# ----------------------------------------------------------------------------- the files


def test_the_float_file_has_the_shape_tensorflow_writes():
    model = load_model(BUNDLE / "magic_wand_float.tflite")
    graph = model.subgraphs[0]
    assert [model.op_name(op) for op in graph.operators] == [
        "CONV_2D", "MAX_POOL_2D", "CONV_2D", "MAX_POOL_2D", "SHAPE", "STRIDED_SLICE", "PACK",
        "RESHAPE", "FULLY_CONNECTED", "FULLY_CONNECTED", "SOFTMAX"]
    x, y = graph.tensors[graph.inputs[0]], graph.tensors[graph.outputs[0]]
    assert (x.name, x.type, x.shape, x.shape_signature) == \
        ("serving_default_keras_tensor:0", TensorType.FLOAT32, (1, 128, 3, 1), (-1, 128, 3, 1))
    assert (y.name, y.type, y.shape_signature) == \
        ("StatefulPartitionedCall_1:0", TensorType.FLOAT32, (-1, 4))
    signature = model.signature_defs[0]
    assert (signature.signature_key, signature.inputs[0].name, signature.outputs[0].name) == \
        ("serving_default", "keras_tensor", "output_0")
    assert [m.name for m in model.metadata] == ["min_runtime_version", "CONVERSION_METADATA"]
    assert model.description == "MLIR Converted."
    calibration = np.load(BUNDLE / "calibration.npy")
    assert calibration.dtype == np.float32 and calibration.shape == (32, 128, 3, 1)
    sizes = [(BUNDLE / name).stat().st_size for name in ("magic_wand_float.tflite",
                                                          "calibration.npy")]
    assert sum(sizes) < 80_000, sizes


def held_out():
    """100 gestures the model was neither trained nor calibrated on, in g."""
    x, y = make_gesture_dataset(n_per_class=25, seed=11)
    return (x[..., None] / 1000).astype(np.float32), y


def test_the_int8_file_runs_the_same_in_tflm_edu_tflm_and_litert(folder):
    """Every op output: tflm_edu == TFLM byte for byte. LiteRT == TFLM for every op whose
    inputs agree, except that its FULLY_CONNECTED may be one step apart (it requantizes with
    one rounding where TFLM rounds twice; see tests/test_quantize_tf_patterns.py). The
    model's outputs: the same bytes in all three on all 100 gestures."""
    tflm = pytest.importorskip("tflite_micro.python.tflite_micro.runtime",
                               reason="the real TFLM (pip install tflite-micro) is the oracle")
    litert = pytest.importorskip("ai_edge_litert.interpreter",
                                 reason="LiteRT (pip install ai-edge-litert) is the oracle")
    data = (folder / "magic_wand_int8.tflite").read_bytes()
    model = read_model(data)
    graph = model.subgraphs[0]
    x = as_model_inputs(held_out()[0], Interpreter.from_bytes(data).get_input_details(0))
    ours = Interpreter.from_bytes(data, intrepreter_config=InterpreterConfig.kPreserveAllTensors)
    real = tflm.Interpreter.from_bytes(
        data, arena_size=200_000, intrepreter_config=tflm.InterpreterConfig.kPreserveAllTensors)
    lite = litert.Interpreter(model_content=data, experimental_preserve_all_tensors=True,
                              experimental_op_resolver_type=litert.OpResolverType.BUILTIN_REF)
    lite.allocate_tensors()
    constants = {i for i, t in enumerate(graph.tensors) if model.buffers[t.buffer].data}
    for example in x:
        ours.set_input(example, 0)
        real.set_input(example, 0)
        lite.set_tensor(lite.get_input_details()[0]["index"], example)
        ours.invoke()
        real.invoke()
        lite.invoke()
        agree = set(graph.inputs) | constants
        for op in graph.operators:
            i = op.outputs[0]
            mine, theirs, lites = (ours.GetTensor(i)["tensor_data"],
                                   real.GetTensor(i, 0)["tensor_data"], lite.get_tensor(i))
            assert mine.tobytes() == theirs.tobytes(), f"tensor {i}: tflm_edu vs TFLM"
            if not all(j < 0 or j in agree for j in op.inputs):
                continue
            if lites.tobytes() == theirs.tobytes():
                agree.add(i)
            else:
                assert model.op_name(op) == "FULLY_CONNECTED", f"tensor {i}: LiteRT vs TFLM"
                assert np.abs(lites.astype(np.int64) - theirs).max() == 1
        output = graph.outputs[0]
        assert ours.get_output(0).tobytes() == real.get_output(0).tobytes() == \
            lite.get_tensor(output).tobytes()


def test_the_int8_file_is_close_to_the_float_file(folder):
    x, labels = held_out()
    float_out = run_model(Interpreter.from_file(BUNDLE / "magic_wand_float.tflite"), x,
                          progress=False)
    int8_out = run_model(Interpreter.from_file(folder / "magic_wand_int8.tflite"), x,
                         progress=False, dequantize=True)
    measured = sqnr_db(float_out, int8_out)
    assert measured >= SQNR_FLOOR_DB, f"{measured:.1f} dB"
    assert accuracy(labels, int8_out) >= accuracy(labels, float_out) - 0.02
    assert accuracy(labels, float_out) >= 0.9


def test_the_float_file_is_what_the_script_writes():
    """datasets/make_tf_shaped_model.py, given the weights the committed file holds, writes
    the committed file byte for byte (training is not rerun: BLAS may round differently)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("make_tf_shaped_model",
                                                  ROOT / "datasets" / "make_tf_shaped_model.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    data = (BUNDLE / "magic_wand_float.tflite").read_bytes()
    assert write_model(script.tf_shaped_model(script.keras_weights(read_model(data)))) == data
