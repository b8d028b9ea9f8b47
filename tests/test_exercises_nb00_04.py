"""The exercise checks of notebooks 00-04 (tflm_edu.exercises.nb00 ... nb04).

For every check: the right answer, computed here another way, is marked right; a wrong
answer is marked not yet, with a hint; the starter's `...` is "not answered yet". And each
notebook has at least three exercises, each a question, a starter cell ending in its check,
and a hidden solution cell.
"""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import tflm_edu
from tflm_edu import train
from tflm_edu.convert.converter import convert_sequential
from tflm_edu.convert.quantize import quantize_model
from tflm_edu.exercises import nb00, nb01, nb02, nb03, nb04
from tflm_edu.memory.arena import align_up

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT.parent / "shared" / "reference" / "models"
NOTEBOOKS = ["00_welcome", "01_hello_world", "02_micro_speech", "03_magic_wand",
             "04_person_detection"]


def right(verdict):
    assert verdict.correct is True, verdict
    assert verdict.message


def wrong(verdict):
    assert verdict.correct is False, verdict
    assert len(verdict.message) > 10        # a hint, not just "no"


def unanswered(verdict):
    assert verdict.correct is None, verdict
    assert verdict.message


def real(q, scale, zero_point):
    return float(scale) * (int(q) - int(zero_point))


def quant(details):
    q = details["quantization_parameters"]
    return float(q["scales"][0]), int(q["zero_points"][0])


def int8_interpreter(model, calibration):
    int8 = quantize_model(convert_sequential(model), calibration, progress=False)
    data = tflm_edu.write_model(int8)
    return tflm_edu.Interpreter.from_bytes(data), data


def person_detect():
    """TFLM's person_detect, or the small built-in model where the reference models are
    absent (the checks are written for either, as notebook 00 is)."""
    path = MODELS / "person_detect.tflite"
    if path.is_file():
        return tflm_edu.Interpreter.from_file(path)
    from tflm_edu.arena_size.examples import small_conv_net
    return tflm_edu.Interpreter.from_bytes(tflm_edu.write_model(small_conv_net(96)))


# ============================================================================ 00


@pytest.fixture(scope="module")
def welcome():
    from tflm_edu.datasets import camera_input, make_scene
    interpreter = person_detect()
    image = camera_input(make_scene(True, np.random.default_rng(0)))
    interpreter.set_input(image, 0)
    interpreter.invoke()
    return interpreter, interpreter.get_output(0)


def test_person_probability(welcome):
    interpreter, scores = welcome
    scale, zero_point = quant(interpreter.get_output_details(0))
    right(nb00.check_person_probability(real(scores[0, 1], scale, zero_point), interpreter,
                                        scores))
    wrong(nb00.check_person_probability(real(scores[0, 1], scale, zero_point) + 0.1,
                                        interpreter, scores))
    wrong(nb00.check_person_probability(float(scores[0, 1]) * scale, interpreter, scores))
    unanswered(nb00.check_person_probability(..., interpreter, scores))


def test_conv_mac_share(welcome):
    interpreter, _ = welcome
    events = list(interpreter.steps())          # MACs as the step events count them
    share = sum(e.macs for e in events if e.op_name == "CONV_2D") / sum(e.macs for e in events)
    right(nb00.check_conv_mac_share(share, interpreter))
    right(nb00.check_conv_mac_share(round(share, 2), interpreter))
    wrong(nb00.check_conv_mac_share(1 - share, interpreter))
    wrong(nb00.check_conv_mac_share(100 * share, interpreter))
    unanswered(nb00.check_conv_mac_share(..., interpreter))


def test_input_overwriter(welcome):
    interpreter, _ = welcome
    micro = interpreter.micro
    # Replay the plan byte by byte: the first op (time step i + 1 for op i) whose output
    # bytes cover any byte of the input after the input's last use.
    source = next(b for b in micro.buffers if b.tensor_index == micro.subgraph.inputs[0])
    expected = None
    for node in micro.nodes:
        for index in node.outputs:
            b = next(b for b in micro.buffers if b.tensor_index == index)
            shared = range(max(b.offset, source.offset),
                           min(b.offset + b.bytes, source.offset + source.bytes))
            if expected is None and b.bytes and node.index >= source.last_used and shared:
                expected = node.index
    right(nb00.check_input_overwriter(expected, interpreter))
    wrong(nb00.check_input_overwriter(expected + 1, interpreter))
    wrong(nb00.check_input_overwriter(micro.nodes[expected].op_name, interpreter))
    unanswered(nb00.check_input_overwriter(..., interpreter))


def test_input_overwriter_of_person_detect_is_its_first_pointwise_conv():
    from conftest import reference_model   # TFLM's model: op 2, the first CONV_2D, does it
    interpreter = tflm_edu.Interpreter.from_file(reference_model("person_detect.tflite"))
    assert nb00.first_overwriter(interpreter).index == 2


def test_no_person_image(welcome):
    from tflm_edu.datasets import camera_input, make_scene
    interpreter, _ = welcome
    answers = {}
    for seed in range(60):
        image = camera_input(make_scene(seed % 2 == 0, np.random.default_rng(seed)))
        interpreter.set_input(image, 0)
        interpreter.invoke()
        answers.setdefault(int(np.argmax(interpreter.get_output(0)) == nb00.NO_PERSON), image)
        if len(answers) == 2:
            break
    right(nb00.check_no_person_image(answers[1], interpreter))
    wrong(nb00.check_no_person_image(answers[0], interpreter))
    wrong(nb00.check_no_person_image(answers[1].view(np.uint8), interpreter))   # not int8
    wrong(nb00.check_no_person_image(answers[1][..., :48, :], interpreter))      # too small
    unanswered(nb00.check_no_person_image(..., interpreter))


# ============================================================================ 01


@pytest.fixture(scope="module")
def sine():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 2 * np.pi, size=(1000, 1)).astype(np.float32)
    y = (np.sin(x) + 0.1 * rng.standard_normal(x.shape)).astype(np.float32)
    model = train.hello_world(seed=0)
    model.compile(optimizer=train.Adam(0.005), loss="mse")
    model.fit(x[:600], y[:600], epochs=200, batch_size=64, seed=0, verbose=0)
    host, data = int8_interpreter(model, x[:600])
    return SimpleNamespace(model=model, host=host, data=data, x_train=x[:600],
                           y_train=y[:600], x_test=x[800:], y_test=y[800:])


def test_quantized_pi(sine):
    scale, zero_point = quant(sine.host.get_input_details(0))
    expected = int(np.clip(np.floor(np.pi / scale + 0.5) + zero_point, -128, 127))
    right(nb01.check_quantized_pi(expected, sine.host))
    wrong(nb01.check_quantized_pi(expected + 1, sine.host))
    wrong(nb01.check_quantized_pi(expected - zero_point, sine.host))
    unanswered(nb01.check_quantized_pi(..., sine.host))


def test_output_range(sine):
    scale, zero_point = quant(sine.host.get_output_details(0))
    lo, hi = real(-128, scale, zero_point), real(127, scale, zero_point)
    right(nb01.check_output_range((lo, hi), sine.host))
    wrong(nb01.check_output_range((hi, lo), sine.host))
    wrong(nb01.check_output_range((-1.0, 1.0), sine.host))
    wrong(nb01.check_output_range(0.5, sine.host))
    unanswered(nb01.check_output_range((..., ...), sine.host))
    unanswered(nb01.check_output_range(..., sine.host))


def test_few_sample_calibration(sine):
    few, _ = int8_interpreter(sine.model, sine.x_train[:10])
    scale, zero_point = quant(few.get_input_details(0))
    right(nb01.check_few_sample_calibration(real(127, scale, zero_point), few, sine.host))
    # what the few-sample model can take in is what calibration saw (the range includes 0)
    assert real(127, scale, zero_point) == pytest.approx(float(sine.x_train[:10].max()),
                                                         abs=scale)
    full_scale, full_zero = quant(sine.host.get_input_details(0))
    wrong(nb01.check_few_sample_calibration(real(127, full_scale, full_zero), few, sine.host))
    wrong(nb01.check_few_sample_calibration(real(127, scale, zero_point), sine.host,
                                            sine.host))         # the same model twice
    unanswered(nb01.check_few_sample_calibration(..., few, sine.host))
    unanswered(nb01.check_few_sample_calibration(1.0, ..., sine.host))


def test_silenced_neurons(sine):
    from tflm_edu.evaluate import quantize_input
    x_int8 = quantize_input(np.array([[np.pi / 2]], np.float32), sine.host.get_input_details(0))
    # The float model's first layer on the same input: a ReLU output of 0 is silenced.
    first = sine.model.layers[0]
    x = (x_int8.astype(np.float64) - quant(sine.host.get_input_details(0))[1]) * \
        quant(sine.host.get_input_details(0))[0]
    pre = x @ first.kernel + first.bias
    clearly = int(np.sum(pre < -0.05)), int(np.sum(pre > 0.05))
    count = nb01.silenced(sine.host, x_int8)[0]
    assert clearly[0] <= count <= first.kernel.shape[1] - clearly[1]
    right(nb01.check_silenced_neurons(count, sine.host, x_int8))
    wrong(nb01.check_silenced_neurons(count + 1, sine.host, x_int8))
    unanswered(nb01.check_silenced_neurons(..., sine.host, x_int8))


def test_smaller_model(sine):
    small = train.Sequential([train.Dense(8, activation="relu"), train.Dense(8, activation="relu"),
                              train.Dense(1)], input_shape=(1,), seed=0)
    small.compile(optimizer=train.Adam(0.005), loss="mse")
    small.fit(sine.x_train, sine.y_train, epochs=300, batch_size=64, seed=0, verbose=0)
    _, small_bytes = int8_interpreter(small, sine.x_train)
    assert small.count_params() <= sine.model.count_params() // 2
    right(nb01.check_smaller_model(small_bytes, sine.data, sine.x_test, sine.y_test))
    wrong(nb01.check_smaller_model(sine.data, sine.data, sine.x_test, sine.y_test))  # as big
    untrained = train.Sequential([train.Dense(8, activation="relu"), train.Dense(1)],
                                 input_shape=(1,), seed=0)
    _, untrained_bytes = int8_interpreter(untrained, sine.x_train)
    verdict = nb01.check_smaller_model(untrained_bytes, sine.data, sine.x_test, sine.y_test)
    wrong(verdict)
    assert "MSE" in verdict.message
    unanswered(nb01.check_smaller_model(..., sine.data, sine.x_test, sine.y_test))


# ============================================================================ 02


@pytest.fixture(scope="module")
def speech():
    """TFLM's micro_speech model, or an untrained tiny_conv quantized on random features."""
    path = MODELS / "micro_speech_quantized.tflite"
    if path.is_file():
        return tflm_edu.Interpreter.from_file(path)
    features = np.random.default_rng(0).integers(-128, 128, (8, 49, 40, 1)).astype(np.float32)
    return int8_interpreter(train.micro_speech_tiny_conv(seed=0), features)[0]


def test_feature_reduction():
    from tflm_edu.frontend import micro_speech_features
    clip = (np.random.default_rng(0).standard_normal(16000) * 3000).astype(np.int16)
    features = micro_speech_features(clip)
    expected = (16000 * 2) / (features.shape[0] * features.shape[1] * 1)
    right(nb02.check_feature_reduction(expected, clip, features))
    right(nb02.check_feature_reduction(round(expected, 1), clip, features))
    wrong(nb02.check_feature_reduction(16000 / features.size, clip, features))   # values
    wrong(nb02.check_feature_reduction(1 / expected, clip, features))
    unanswered(nb02.check_feature_reduction(..., clip, features))


def test_top_confusion():
    labels = train.MICRO_SPEECH_LABELS
    y_true = np.array([0, 0, 1, 1, 1, 1, 2, 2, 3, 3])
    predicted = np.array([0, 0, 2, 2, 2, 1, 2, 3, 3, 3])        # unknown -> yes, three times
    scores = np.eye(4)[predicted]
    right(nb02.check_top_confusion(("unknown", "yes"), y_true, scores, labels))
    right(nb02.check_top_confusion((1, 2), y_true, scores, labels))
    wrong(nb02.check_top_confusion(("yes", "unknown"), y_true, scores, labels))
    wrong(nb02.check_top_confusion(("yes", "no"), y_true, scores, labels))
    wrong(nb02.check_top_confusion("unknown", y_true, scores, labels))
    unanswered(nb02.check_top_confusion(..., y_true, scores, labels))


def test_half_filters_plan():
    small = train.Sequential([
        train.Conv2D(4, (10, 8), strides=2, padding="same", activation="relu"),
        train.Dropout(0.5), train.Flatten(), train.Dense(4), train.Softmax(),
    ], input_shape=(49, 40, 1), seed=0)
    expected = align_up(49 * 40) + 25 * 20 * 4     # op 0: the input and the conv's output
    right(nb02.check_half_filters_plan(expected, small))
    wrong(nb02.check_half_filters_plan(align_up(49 * 40) + 25 * 20 * 8, small))
    wrong(nb02.check_half_filters_plan(expected, train.micro_speech_tiny_conv(seed=0)))
    unanswered(nb02.check_half_filters_plan(..., small))


def test_int8_plan_bytes_matches_a_trained_and_calibrated_model():
    model = train.micro_speech_tiny_conv(seed=0)
    features = np.random.default_rng(1).integers(-128, 128, (4, 49, 40, 1)).astype(np.float32)
    host, _ = int8_interpreter(model, features)
    assert nb02.int8_plan_bytes(model) == host.micro.head_bytes


def test_softmax_probabilities(speech):
    scale, zero_point = quant(speech.get_output_details(0))
    scores = np.array([[-128, -100, 20, 80]], np.int8)
    expected = [real(q, scale, zero_point) for q in scores[0]]
    right(nb02.check_softmax_probabilities(expected, speech, scores))
    right(nb02.check_softmax_probabilities(np.round(expected, 4), speech, scores))
    wrong(nb02.check_softmax_probabilities(scores[0] / 256, speech, scores))
    wrong(nb02.check_softmax_probabilities(expected[:3], speech, scores))
    wrong(nb02.check_softmax_probabilities("0.5", speech, scores))
    unanswered(nb02.check_softmax_probabilities(..., speech, scores))


def test_misheard_clip(speech):
    labels = train.MICRO_SPEECH_LABELS
    x_test = np.random.default_rng(2).integers(-128, 128, (6, 49, 40)).astype(np.int8)
    heard = []
    for clip in x_test:
        speech.set_input(clip.reshape(speech.get_input_details(0)["shape"]), 0)
        speech.invoke()
        heard.append(int(np.argmax(speech.get_output(0))))
    y_test = np.array(heard)
    y_test[3] = (heard[3] + 1) % 4                                # clip 3 is misheard
    right(nb02.check_misheard_clip(3, speech, x_test, y_test, labels))
    wrong(nb02.check_misheard_clip(0, speech, x_test, y_test, labels))
    wrong(nb02.check_misheard_clip(6, speech, x_test, y_test, labels))
    unanswered(nb02.check_misheard_clip(..., speech, x_test, y_test, labels))


# ============================================================================ 03


@pytest.fixture(scope="module")
def wand():
    from tflm_edu.datasets import make_gesture_dataset
    x_train, y_train = make_gesture_dataset(60, seed=0)
    x_test, y_test = make_gesture_dataset(15, seed=2)
    features = lambda windows: (windows / 1000.0).astype(np.float32)[..., None]
    model = train.magic_wand(seed=0)
    model.compile(optimizer=train.Adam(0.002), loss="cross_entropy")
    model.fit(features(x_train), y_train, epochs=30, batch_size=64, seed=0, verbose=0)
    host, _ = int8_interpreter(model, features(x_train[:100]))
    return SimpleNamespace(host=host, x_test=x_test, f_test=features(x_test), y_test=y_test,
                           features=features)


def test_milli_g():
    g = train.History({"loss": [1.4, 0.8, 0.3]})
    milli_g = train.History({"loss": [11.0, 1.5, 1.38]})
    right(nb03.check_milli_g("higher", milli_g, g))
    right(nb03.check_milli_g("Lower", g, milli_g))           # the measurement decides
    wrong(nb03.check_milli_g("lower", milli_g, g))
    wrong(nb03.check_milli_g("higher", train.History({"loss": [11.0, 1.5]}), g))   # epochs
    wrong(nb03.check_milli_g("much", milli_g, g))
    unanswered(nb03.check_milli_g(..., milli_g, g))
    unanswered(nb03.check_milli_g("higher", ..., g))


def test_quantized_reading(wand):
    scale, zero_point = quant(wand.host.get_input_details(0))
    expected = int(np.clip(np.floor(1.0 / scale + 0.5) + zero_point, -128, 127))
    right(nb03.check_quantized_reading(expected, wand.host))
    wrong(nb03.check_quantized_reading(expected + 2, wand.host))
    wrong(nb03.check_quantized_reading(127, wand.host))          # 1,000 read as g: clamped
    unanswered(nb03.check_quantized_reading(..., wand.host))


def test_pooled_values(wand):
    from tflm_edu.evaluate import as_model_inputs
    x_int8 = as_model_inputs(wand.f_test[:1], wand.host.get_input_details(0))[0]
    wand.host.set_input(x_int8, 0)
    events = wand.host.steps()
    conv = next(events).outputs[0].copy()                       # op 0: (1, 128, 3, 8)
    rows = (conv.shape[1] - 3) // 3 + 1                         # VALID 3 x 3, stride 3
    expected = [int(conv[0, 3 * r:3 * r + 3, :, nb03.POOL_FILTER].max()) for r in range(rows)]
    right(nb03.check_pooled_values(expected, wand.host, x_int8))
    off = list(expected)
    off[5] += 1
    wrong(nb03.check_pooled_values(off, wand.host, x_int8))
    wrong(nb03.check_pooled_values(expected[:-1], wand.host, x_int8))
    unanswered(nb03.check_pooled_values(..., wand.host, x_int8))


def test_board_hotspot():
    from tflm_edu.deploy.client import BoardProfile
    from tflm_edu.deploy.protocol import ProfileEvent
    events = [ProfileEvent(600, 0, "DEPTHWISE_CONV_2D"), ProfileEvent(100, 0, "MAX_POOL_2D"),
              ProfileEvent(300, 0, "CONV_2D")]
    run = SimpleNamespace(profile=BoardProfile("qemu", "instructions", 1, events))
    right(nb03.check_board_hotspot(0, 0.6, run))
    wrong(nb03.check_board_hotspot(2, 0.3, run))
    wrong(nb03.check_board_hotspot(0, 60, run))                  # a percentage
    wrong(nb03.check_board_hotspot(0, 0.5, run))
    unanswered(nb03.check_board_hotspot(0, ..., run))


def test_other_grip(wand):
    x, y, z = (wand.x_test[..., k] for k in range(3))
    turned = wand.features(np.stack([y, -x, z], axis=-1))       # a quarter turn about z
    right(nb03.check_other_grip(turned, wand.host, wand.f_test, wand.y_test))
    mirrored = wand.features(np.stack([y, x, z], axis=-1))
    wrong(nb03.check_other_grip(mirrored, wand.host, wand.f_test, wand.y_test))
    wrong(nb03.check_other_grip(wand.f_test * 2, wand.host, wand.f_test, wand.y_test))
    wrong(nb03.check_other_grip(wand.f_test, wand.host, wand.f_test, wand.y_test))
    wrong(nb03.check_other_grip(np.zeros_like(wand.f_test), wand.host, wand.f_test,
                                wand.y_test))
    small_turn = np.deg2rad(3)
    c, s = np.cos(small_turn), np.sin(small_turn)
    nudged = wand.features(np.stack([c * x - s * y, s * x + c * y, z], axis=-1))
    wrong(nb03.check_other_grip(nudged, wand.host, wand.f_test, wand.y_test))  # too gentle
    unanswered(nb03.check_other_grip(..., wand.host, wand.f_test, wand.y_test))


# ============================================================================ 04


@pytest.fixture(scope="module")
def person():
    return person_detect()


def test_pixel_values(person):
    scale, zero_point = quant(person.get_input_details(0))
    expected = (real(-128, scale, zero_point), real(127, scale, zero_point))
    right(nb04.check_pixel_values(expected, person))
    wrong(nb04.check_pixel_values((0.0, 255 * scale), person))
    wrong(nb04.check_pixel_values(1.0, person))
    unanswered(nb04.check_pixel_values((..., ...), person))


def test_greedy_saving(person):
    micro = person.micro
    linear = sum(align_up(b.bytes) for b in micro.buffers if b.bytes > 0)   # nothing shared
    saving = linear - micro.head_bytes
    assert saving > 0
    right(nb04.check_greedy_saving(saving, person))
    wrong(nb04.check_greedy_saving(linear, person))
    wrong(nb04.check_greedy_saving(micro.head_bytes, person))
    unanswered(nb04.check_greedy_saving(..., person))


def test_softmax_by_hand(person):
    from tflm_edu.datasets import camera_input, make_scene
    x_int8 = camera_input(make_scene(True, np.random.default_rng(3)))
    person.set_input(x_int8, 0)
    tensors = {}
    for event in person.steps():
        for index, data in zip(event.node.outputs, event.outputs):
            tensors[index] = data.copy()
    softmax = next(n for n in person.micro.nodes if n.op_name == "SOFTMAX")
    logits_tensor = person.micro.tensor(softmax.inputs[0])
    logits = (tensors[softmax.inputs[0]].reshape(-1).astype(np.float64)
              - logits_tensor.zero_point) * logits_tensor.scale
    expected = float(np.exp(logits[1]) / np.exp(logits).sum())
    int8_person = tensors[softmax.outputs[0]].reshape(-1)[1]
    out_scale, out_zero = quant(person.get_output_details(0))
    assert abs(real(int8_person, out_scale, out_zero) - expected) < 2 / 256
    right(nb04.check_softmax_by_hand(expected, person, x_int8))
    wrong(nb04.check_softmax_by_hand(expected + 0.1 if expected < 0.8 else expected - 0.1,
                                     person, x_int8))
    unanswered(nb04.check_softmax_by_hand(..., person, x_int8))


def test_missed_person(person):
    from tflm_edu.datasets import make_scene, to_int8
    found = {}
    for seed in range(200):
        image = to_int8(make_scene(True, np.random.default_rng(seed)))
        person.set_input(image.reshape(person.get_input_details(0)["shape"]), 0)
        person.invoke()
        found.setdefault(int(np.argmax(person.get_output(0))), seed)
        if nb04.NO_PERSON in found and nb04.PERSON in found:
            break
    right(nb04.check_missed_person(found[nb04.NO_PERSON], person))
    wrong(nb04.check_missed_person(found[nb04.PERSON], person))
    wrong(nb04.check_missed_person(-1, person))
    wrong(nb04.check_missed_person("seven", person))
    unanswered(nb04.check_missed_person(..., person))


def test_plan_prediction():
    model = train.person_detection_mobilenet_v1(alpha=0.125, input_shape=(64, 64, 1))
    expected = 2 * 32 * 32 * 8        # 8 channels at 32 x 32: an input and an output at once
    right(nb04.check_plan_prediction(expected, model))
    wrong(nb04.check_plan_prediction(expected // 2, model))
    wrong(nb04.check_plan_prediction(4 * expected, model))     # float32 bytes
    wrong(nb04.check_plan_prediction(expected, "model"))
    unanswered(nb04.check_plan_prediction(..., model))
    unanswered(nb04.check_plan_prediction(expected, ...))


# ============================================================================ the notebooks


def cells(name):
    return json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text(encoding="utf-8"))["cells"]


def source(cell):
    return "".join(cell["source"])


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_exercises_are_question_starter_and_hidden_solution(name):
    notebook = cells(name)
    number = int(name[:2])
    headings = [i for i, c in enumerate(notebook) if c["cell_type"] == "markdown"
                and source(c).startswith("### Exercise")]
    assert len(headings) >= 3, f"{name}: {len(headings)} exercises"
    for k, i in enumerate(headings, start=1):
        assert source(notebook[i]).startswith(f"### Exercise {number}.{k}: ")
        starter, solution = notebook[i + 1], notebook[i + 2]
        assert starter["cell_type"] == "code" and "solution" not in \
            starter["metadata"].get("tags", [])
        assert "= ..." in source(starter) or "..., ..." in source(starter)
        check = source(starter).rstrip().splitlines()[-1]
        assert check.startswith("check_"), check
        assert f"from tflm_edu.exercises.nb{number:02d} import" in source(starter)
        assert solution["cell_type"] == "code"
        assert solution["metadata"].get("tags") == ["solution"]
        assert solution["metadata"].get("jupyter", {}).get("source_hidden") is True
        assert source(solution).rstrip().splitlines()[-1].split("(")[0] == check.split("(")[0]
        assert not solution.get("outputs"), "a solution's output would give the answer away"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_checks_exist_and_no_try_next_is_left(name):
    module = {0: nb00, 1: nb01, 2: nb02, 3: nb03, 4: nb04}[int(name[:2])]
    text = "\n".join(source(c) for c in cells(name))
    for check in set(__import__("re").findall(r"\bcheck_\w+(?=\()", text)):
        assert callable(getattr(module, check, None)), check
    assert "Try next" not in text
    assert not any(source(c).lstrip().startswith("assert") for c in cells(name)
                   if c["cell_type"] == "code")


# ----------------------------------------------------------------------------- solutions


def _run_cell(source: str, namespace: dict, where: str):
    """exec one code cell as a kernel would; returns its last expression's value, if any."""
    import ast
    tree = ast.parse(source)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    exec(compile(tree, where, "exec"), namespace)
    return None if last is None else eval(compile(ast.Expression(last.value), where, "eval"),
                                          namespace)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_solutions_are_right_on_the_notebooks_own_objects(name, monkeypatch, tmp_path):
    """Run every code cell in fast mode, in order, in one namespace: each starter's check says
    "not answered yet" and each solution's says "right". The board is the Python virtual
    board (nbval runs the notebooks on the emulated Cortex-M as well)."""
    import matplotlib
    import matplotlib.pyplot as plt

    from tflm_edu.deploy import run as board_run
    from tflm_edu.deploy.errors import DeployError
    from tflm_edu.exercises import Verdict

    def no_emulator(*args, **kwargs):
        raise DeployError("this test uses the virtual board")
    monkeypatch.setattr(board_run, "_emulated", no_emulator)
    monkeypatch.setenv("TFLM_EDU_FAST", "1")
    monkeypatch.chdir(tmp_path)                     # the firmware projects are written here
    notebook = cells(name)
    namespace = {"__name__": "__main__"}
    seen = 0
    with matplotlib.rc_context():
        matplotlib.use("Agg")
        for k, cell in enumerate(notebook):
            if cell["cell_type"] != "code":
                continue
            value = _run_cell(source(cell), namespace, f"{name} cell {k}")
            plt.close("all")
            heading = [j for j in (k - 1, k - 2) if notebook[j]["cell_type"] == "markdown"
                       and source(notebook[j]).startswith("### Exercise")]
            if heading:
                assert isinstance(value, Verdict), f"{name} cell {k} does not end in a check"
                expected = None if heading[0] == k - 1 else True
                assert value.correct is expected, f"{name} cell {k}: {value}"
                seen += 1
    assert seen >= 6


# ----------------------------------------------------------------------------- the memory story


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_memory_plan_is_shown_as_a_picture_then_as_text(name):
    """Where a notebook shows the memory plan, plot_memory_plan comes first and the text
    chart second, printed whole (its key repeats at its end, so no cut is needed)."""
    code = [source(c) for c in cells(name) if c["cell_type"] == "code"]
    pictures = [k for k, s in enumerate(code) if "plot_memory_plan(" in s]
    texts = [k for k, s in enumerate(code) if "print_memory_plan(" in s or "memory_plan_text(" in s]
    assert pictures and texts and pictures[0] < texts[0], name
    assert not any("splitlines()[-" in s for s in code if "memory_plan_text(" in s)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_arena_figures_are_printed_and_explained_in_notebook_13(name):
    """No sentence about the arena types a figure: the figures come from cell output, and
    the prose points to notebook 13's one explanation of them."""
    import re
    prose = [source(c) for c in cells(name) if c["cell_type"] == "markdown"]
    figure = re.compile(r"\d,\d{3}|\b\d+(\.\d+)?\s*(KB|kB|KiB|bytes)\b")
    for cell in prose:
        for sentence in re.split(r"(?<=[.;:!?])\s+", cell):
            if "arena" in sentence.lower():
                assert not figure.search(sentence), sentence
    assert any("[notebook 13, section 9](13_memory.ipynb)" in p for p in prose), name


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_no_frozen_progress_bars_in_outputs(name):
    import re
    for cell in cells(name):
        for output in cell.get("outputs", []):
            text = "".join(output.get("text", "")) + "".join(
                output.get("data", {}).get("text/plain", ""))
            assert not re.search(r"\b0%\|", text), source(cell)[:200]
