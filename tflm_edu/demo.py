"""`tflm-edu demo`: the main job - TFLM's example models on their inputs, with a memory plan.

Runs each example model through tflm_edu's interpreter on real inputs (TFLM's test WAVs
and images, and bundled synthetic gestures), prints the predictions, checks every output
byte against the real TFLM when the tflite-micro package is installed, and draws the
greedy memory plan of person_detect with its arena estimate, and finally runs it on a board:
TFLM's C++ compiled for an emulated Cortex-M4 (QEMU) when the Arm toolchain and QEMU are
installed, else the Python virtual board - both over a pseudo-terminal - and checks the
board's answers against the host's.
"""
from __future__ import annotations

import importlib.util
import math
import tempfile
import time
from pathlib import Path

import numpy as np

from tflm_edu.runtime import Interpreter

DEFAULT_REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"


def run(reference: Path | None = None) -> int:
    reference = Path(reference) if reference else DEFAULT_REFERENCE
    models = reference / "models"
    oracle = _oracle()
    print(f"tflm_edu demo - models from {models}")
    print("comparing every output with the real TFLM (tflite-micro)" if oracle else
          "tflite-micro is not installed: outputs are not compared with the real TFLM "
          "(pip install --pre tflite-micro)")
    if not (models / "person_detect.tflite").is_file():
        return _demo_without_reference(models, oracle)
    for example in (hello_world, micro_speech, magic_wand, person_detection):
        print()
        example(reference, oracle)
    print()
    show_memory(models / "person_detect.tflite")
    print()
    deploy_to_board(models / "person_detect.tflite")
    return 0


# ----------------------------------------------------------------------------- examples


def hello_world(reference, oracle):
    print("== hello_world: a sine regressor (int8)")
    path = reference / "models" / "hello_world_int8.tflite"
    interpreter = Interpreter.from_file(path)
    scale, zero = _quant(interpreter.get_input_details(0))
    out_scale, out_zero = _quant(interpreter.get_output_details(0))
    for x in (0.0, math.pi / 2, math.pi, 3 * math.pi / 2):
        q = np.array([[np.clip(round(x / scale) + zero, -128, 127)]], np.int8)
        y = _invoke(interpreter, path, [q], oracle)
        print(f"  sin({x:4.2f}) = {math.sin(x):+.3f}   model: {(int(y[0, 0]) - out_zero) * out_scale:+.3f}")


def micro_speech(reference, oracle):
    from tflm_edu.datasets import read_wav
    from tflm_edu.frontend import micro_speech_features
    print("== micro_speech: wake words from 1 s of audio (frontend + int8 model)")
    path = reference / "models" / "micro_speech_quantized.tflite"
    interpreter = Interpreter.from_file(path)
    labels = ("silence", "unknown", "yes", "no")
    for wav in ("yes_1000ms.wav", "no_1000ms.wav", "silence_1000ms.wav", "noise_1000ms.wav"):
        features = micro_speech_features(read_wav(reference / "testdata" / wav))
        scores = _invoke(interpreter, path, [features.reshape(1, -1)], oracle)[0]
        print(f"  {wav:<20} -> {labels[int(np.argmax(scores))]:<8} scores {scores.tolist()}")


def magic_wand(reference, oracle):
    from tflm_edu.datasets import make_gesture_dataset
    from tflm_edu.datasets.magic_wand import LABELS
    print("== magic_wand: gestures from an accelerometer (float model, synthetic traces)")
    path = reference / "models" / "magic_wand.tflite"
    interpreter = Interpreter.from_file(path)
    windows, labels = make_gesture_dataset(5, seed=0)
    correct = 0
    for window, label in zip(windows, labels):
        scores = _invoke(interpreter, path, [window.reshape(1, 128, 3, 1)], oracle)[0]
        correct += int(np.argmax(scores)) == label
    print(f"  {correct} of {len(labels)} synthetic gestures recognised "
          f"(classes {', '.join(LABELS)}; the model was trained on real recordings)")


def person_detection(reference, oracle):
    from tflm_edu.datasets import load_tflm_test_image
    print("== person_detection: is there a person in a 96x96 camera image? (int8 MobileNet)")
    path = reference / "models" / "person_detect.tflite"
    interpreter = Interpreter.from_file(path)
    for image in ("person.bmp", "no_person.bmp"):
        x = load_tflm_test_image(reference / "testdata" / image)
        start = time.perf_counter()
        scores = _invoke(interpreter, path, [x], oracle)[0]
        ms = (time.perf_counter() - start) * 1e3
        verdict = "person" if scores[1] > scores[0] else "no person"
        print(f"  {image:<14} -> {verdict:<9} scores {scores.tolist()}  ({ms:.1f} ms)")


def show_memory(path):
    from tflm_edu.arena_size import estimate_arena_size
    interpreter = Interpreter.from_file(path)
    print("== person_detect's arena: the greedy memory plan (time down, arena offset across)")
    interpreter.print_memory_plan()
    for target in ("host", "cortex-m"):
        estimate = estimate_arena_size(path, target)
        print(f"smallest arena for TFLM on {target}: {estimate.arena_bytes:,} bytes "
              f"(head {estimate.head_bytes:,} + tail {estimate.tail_bytes:,} + temporaries "
              f"{estimate.temp_bytes:,})")
    print(estimate.contributors[0])


def deploy_to_board(path):
    from tflm_edu.deploy import run_on_board
    print("== the last step: the model on a board, over serial. With no board attached: an "
          "emulated Cortex-M4 running TFLM's C++ (or, without the Arm toolchain and QEMU, a "
          "Python virtual board)")
    run = run_on_board(Path(path).read_bytes(), n=3, arena=False, progress=False)
    print(run.summary())
    print(run.report.table())


# ----------------------------------------------------------------------------- helpers


def _invoke(interpreter, path, inputs, oracle) -> np.ndarray:
    for i, x in enumerate(inputs):
        interpreter.set_input(x, i)
    interpreter.invoke()
    ours = interpreter.get_output(0)
    if oracle is not None:
        theirs = _oracle_output(oracle, path, inputs)
        if ours.tobytes() != theirs.tobytes():
            raise RuntimeError(f"tflm_edu and TFLM disagree on {path.name}: {ours} vs {theirs}")
    return ours


_ORACLE_CACHE = {}


def _oracle_output(runtime, path, inputs):
    if path not in _ORACLE_CACHE:
        _ORACLE_CACHE[path] = runtime.Interpreter.from_file(str(path), arena_size=200_000)
    reference = _ORACLE_CACHE[path]
    for i, x in enumerate(inputs):
        reference.set_input(x, i)
    reference.invoke()
    return reference.get_output(0)


def _oracle():
    if importlib.util.find_spec("tflite_micro") is None:
        return None
    from tflite_micro.python.tflite_micro import runtime
    return runtime


def _quant(details):
    q = details["quantization_parameters"]
    return float(q["scales"][0]), int(q["zero_points"][0])


def _demo_without_reference(models: Path, oracle) -> int:
    """No reference models: the project's own pipeline on the sine example instead - train
    in numpy, quantize to int8, run, plan, and check it on a board."""
    print(f"TFLM's reference models are not at {models} (pass --reference DIR to use them):\n"
          f"running tflm_edu's own pipeline on the hello_world sine example instead.\n")
    int8_bytes = _train_and_quantize_hello_world()
    path = Path(tempfile.mkdtemp()) / "hello_world_int8.tflite"
    path.write_bytes(int8_bytes)
    interpreter = Interpreter.from_bytes(int8_bytes)
    scale, zero = _quant(interpreter.get_input_details(0))
    out_scale, out_zero = _quant(interpreter.get_output_details(0))
    for x in (0.5, math.pi / 2, 4.0):
        q = np.array([[np.clip(round(x / scale) + zero, -128, 127)]], np.int8)
        y = (int(_invoke(interpreter, path, [q], oracle)[0, 0]) - out_zero) * out_scale
        print(f"  sin({x:4.2f}) = {math.sin(x):+.3f}   int8 model: {y:+.3f}")
    print(f"\n.tflite: {len(int8_bytes):,} bytes; the memory plan:")
    interpreter.print_memory_plan()
    print()
    deploy_to_board(path)
    return 0


def _train_and_quantize_hello_world() -> bytes:
    from tflm_edu import train
    from tflm_edu.convert.converter import convert_sequential
    from tflm_edu.convert.quantize import quantize_model
    from tflm_edu.schema import write_model
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 2 * np.pi, size=(1000, 1)).astype(np.float32)
    y = (np.sin(x) + 0.1 * rng.standard_normal(x.shape)).astype(np.float32)
    model = train.hello_world(seed=0)
    model.compile(optimizer=train.Adam(0.005), loss="mse")
    print("== training the sine model (numpy, 300 epochs)")
    model.fit(x, y, epochs=300, batch_size=64, seed=0, verbose=0)
    int8 = quantize_model(convert_sequential(model), x[:300], progress=False)
    return write_model(int8)
