"""The reference models of TFLM's examples, run by tflm_edu and by the real TFLM: every
output byte must agree, on seeded random inputs and on the official test inputs."""
import numpy as np
import pytest
from PIL import Image

from conftest import reference_file, reference_model
from op_harness import random_input, run_oracle
from tflm_edu import AllOpsResolver, Interpreter, MicroInterpreter, load_model
from tflm_edu.frontend import micro_speech_features

MODELS = ["hello_world_int8", "hello_world_float", "micro_speech_quantized", "magic_wand",
          "person_detect"]
# Head bytes (the greedy plan) that the real TFLM reports for these models
# (../shared/reference/README.md): equal heads mean the same plan size.
TFLM_HEAD_BYTES = {"hello_world_int8": 32, "micro_speech_quantized": 5968, "magic_wand": 13824,
                   "person_detect": 55296}


def run_both(name, inputs):
    data = reference_model(f"{name}.tflite").read_bytes()
    ours = Interpreter.from_bytes(data)
    for i, x in enumerate(inputs):
        ours.set_input(x, i)
    ours.invoke()
    return ours.get_output(0), run_oracle(data, inputs)[0]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("name", MODELS)
def test_random_inputs_byte_equal(name, seed):
    model = load_model(reference_model(f"{name}.tflite"))
    tensor = model.subgraphs[0].tensors[model.subgraphs[0].inputs[0]]
    x = random_input(np.random.default_rng(seed), tensor.shape, tensor.dtype)
    ours, theirs = run_both(name, [x])
    assert ours.tobytes() == theirs.tobytes()


def bmp_as_int8(name):
    """TFLM's convention for its test images: rows top-down, uint8 bytes reinterpreted."""
    pixels = np.array(Image.open(reference_file(name)))
    return pixels.view(np.int8).reshape(1, 96, 96, 1)


@pytest.mark.parametrize("image, expected", [("person.bmp", [-113, 113]),
                                             ("no_person.bmp", [57, -57])])
def test_person_detect_official_images(image, expected):
    ours, theirs = run_both("person_detect", [bmp_as_int8(image)])
    assert ours.tolist() == [expected]
    assert ours.tobytes() == theirs.tobytes()


@pytest.mark.parametrize("wav, label", [("yes_1000ms.wav", "yes"), ("no_1000ms.wav", "no"),
                                        ("silence_1000ms.wav", "silence"),
                                        ("noise_1000ms.wav", "silence")])
def test_micro_speech_end_to_end(wav, label):
    """Audio -> tflm_edu's frontend -> micro_speech on tflm_edu: TFLM's labels."""
    import wave
    with wave.open(str(reference_file(wav))) as f:
        samples = np.frombuffer(f.readframes(f.getnframes()), dtype="<i2")
    features = micro_speech_features(samples).reshape(1, 1960)
    ours, theirs = run_both("micro_speech_quantized", [features])
    assert ["silence", "unknown", "yes", "no"][int(np.argmax(ours))] == label
    assert ours.tobytes() == theirs.tobytes()


@pytest.mark.parametrize("name", sorted(TFLM_HEAD_BYTES))
def test_greedy_plan_head_equals_tflm(name):
    interpreter = MicroInterpreter(load_model(reference_model(f"{name}.tflite")),
                                   AllOpsResolver(), None)
    interpreter.allocate_tensors()
    assert interpreter.arena.head_bytes == TFLM_HEAD_BYTES[name]
    assert not interpreter.planner.do_any_buffers_overlap()
