"""The exercise checks of notebooks 10-15 (tflm_edu.exercises.nb10 ... nb15).

Every check is tried three ways: the right answer, computed here independently of the
check (by hand, by brute force or through another path of the library), must give
correct=True; a wrong answer False with a hint; the starter's `...` None. The structural
tests read the notebooks: each has at least three exercises in the agreed form (question,
starter importing and calling its check, hidden solution), every starter cell says "Not
answered yet" in the committed outputs and no solution cell has an output, and no
learner-facing cell is a bare assert or a frozen progress bar.

After executing a notebook (TFLM_EDU_FAST=1 jupyter nbconvert --to notebook --execute
--inplace ...), clear its solutions' outputs:
    jupyter nbconvert --to notebook --inplace --TagRemovePreprocessor.enabled=True \
        --TagRemovePreprocessor.remove_all_outputs_tags solution notebooks/NN_name.ipynb
"""
from __future__ import annotations

import ast
import json
import math
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tflm_edu.exercises import NOT_ANSWERED, Verdict

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = {10: "10_training", 11: "11_data", 12: "12_quantization", 13: "13_memory",
             14: "14_inside_the_interpreter", 15: "15_deploy", 16: "16_predict_the_board"}


def right(verdict):
    assert isinstance(verdict, Verdict)
    assert verdict.correct is True, verdict.message
    assert verdict.message


def wrong(verdict):
    assert isinstance(verdict, Verdict)
    assert verdict.correct is False, verdict.message
    assert len(verdict.message) > 20          # a hint, not just "no"


def unanswered(verdict):
    assert isinstance(verdict, Verdict)
    assert verdict.correct is None
    assert verdict.message


# ----------------------------------------------------------------------------- nb10


def test_layer_size():
    from tflm_edu import train
    from tflm_edu.exercises.nb10 import check_layer_size
    layer = train.Conv2D(16, (3, 3), strides=2, padding="same")
    shape = (math.ceil(25 / 2), math.ceil(20 / 2), 16)
    params = 3 * 3 * 8 * 16 + 16
    right(check_layer_size(shape, params, layer, (25, 20, 8)))
    right(check_layer_size(list(shape), params, layer, (25, 20, 8)))
    wrong(check_layer_size((12, 9, 16), params, layer, (25, 20, 8)))     # "valid" arithmetic
    wrong(check_layer_size(shape, 3 * 3 * 8 * 16, layer, (25, 20, 8)))  # biases forgotten
    unanswered(check_layer_size(NOT_ANSWERED, params, layer, (25, 20, 8)))
    valid = train.Conv2D(4, (5, 3), strides=(2, 1), padding="valid")
    right(check_layer_size(((30 - 5) // 2 + 1, (10 - 3) + 1, 4), 5 * 3 * 2 * 4 + 4, valid,
                           (30, 10, 2)))
    assert not hasattr(layer, "kernel")       # the check built a copy, not the learner's layer


def _history(val_losses):
    from tflm_edu.train import History
    h = History()
    for v in val_losses:
        h.append({"loss": v, "val_loss": v})
    return h


def test_learning_rate():
    from tflm_edu.exercises.nb10 import check_learning_rate
    histories = {0.001: _history([1.0, 0.5, 0.3]), 0.01: _history([1.0, 0.2, 0.05]),
                 0.5: _history([1.0, 0.9, 0.95])}
    best = sorted(histories, key=lambda r: histories[r]["val_loss"][-1])[0]
    right(check_learning_rate(best, histories))
    wrong(check_learning_rate(0.5, histories))
    wrong(check_learning_rate(0.02, histories))       # not one of the rates
    wrong(check_learning_rate("fast", histories))
    unanswered(check_learning_rate(NOT_ANSWERED, histories))


def test_stop_callback():
    from tflm_edu.exercises.nb10 import check_stop_callback

    class BelowTarget:
        def __init__(self, target):
            self.target = target

        def __call__(self, epoch, history):
            return history["val_loss"][-1] < self.target

    right(check_stop_callback(lambda epoch, history: history["val_loss"][-1] < 0.02, 0.02))
    right(check_stop_callback(BelowTarget(0.5), 0.5))
    wrong(check_stop_callback(lambda epoch, history: history["loss"][-1] < 0.02, 0.02))
    wrong(check_stop_callback(lambda epoch, history: epoch >= 3, 0.02))
    wrong(check_stop_callback(lambda epoch, history: min(history["val_loss"]) < 0.01, 0.02))
    wrong(check_stop_callback(lambda epoch, history: 1 / 0, 0.02))            # raises
    wrong(check_stop_callback(0.02, 0.02))                                      # not callable
    unanswered(check_stop_callback(NOT_ANSWERED, 0.02))


def test_stop_callback_stops_a_real_fit():
    """What the check accepts does stop Sequential.fit at the first epoch below target."""
    from tflm_edu import train
    from tflm_edu.exercises.nb10 import check_stop_callback
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 2 * np.pi, (200, 1)).astype(np.float32)
    y = np.sin(x).astype(np.float32)
    model = train.hello_world(seed=0)
    model.compile(optimizer=train.Adam(0.01), loss="mse")

    def callback(epoch, history):
        return history["val_loss"][-1] < 0.3

    right(check_stop_callback(callback, 0.3))
    history = model.fit(x, y, epochs=200, validation_split=0.2, verbose=0, callbacks=[callback])
    below = [k for k, v in enumerate(history["val_loss"]) if v < 0.3]
    assert below and history.epochs == below[0] + 1


# ----------------------------------------------------------------------------- nb11


def test_majority_baseline():
    import tflm_edu.datasets as ds
    from tflm_edu.exercises.nb11 import check_majority_baseline
    speech = ds.bundled_speech(wanted_words=("yes", "no"))
    labels = [speech.words_list[speech.word_to_index[e.label]]
              for e in speech.data_index["training"]]
    counts = {label: labels.count(label) for label in set(labels)}
    baseline = max(counts.values()) / len(labels)
    right(check_majority_baseline(baseline, speech))
    right(check_majority_baseline(round(baseline, 3), speech))
    wrong(check_majority_baseline(100 * baseline, speech))                 # a percentage
    wrong(check_majority_baseline(min(counts.values()) / len(labels), speech))
    wrong(check_majority_baseline("yes", speech))
    unanswered(check_majority_baseline(NOT_ANSWERED, speech))


def test_rms_feature():
    from tflm_edu.exercises.nb11 import check_rms_feature
    audio = np.random.default_rng(0).normal(0, 3000, (4, 16000)).astype(np.int16)

    def rms(clip):
        out = []
        for k in range(50):
            frame = [float(s) for s in clip[320 * k:320 * (k + 1)]]
            out.append(math.sqrt(sum(s * s for s in frame) / len(frame)))
        return out

    def overflowing(clip):
        with np.errstate(invalid="ignore"):
            return np.sqrt((clip.reshape(50, 320) ** 2).mean(axis=1))      # int16 squares

    def loudness(clip):
        return np.abs(clip.astype(np.float32)).reshape(50, 320).mean(axis=1)

    right(check_rms_feature(rms, audio))
    wrong(check_rms_feature(overflowing, audio))
    wrong(check_rms_feature(loudness, audio))
    wrong(check_rms_feature(lambda clip: np.zeros(49), audio))
    wrong(check_rms_feature(lambda clip: clip.foo, audio))                   # raises
    unanswered(check_rms_feature(NOT_ANSWERED, audio))


def test_augmentation():
    import tflm_edu.datasets as ds
    from tflm_edu.exercises.nb11 import check_augmentation
    windows, _ = ds.make_gesture_dataset(2, seed=0)

    def rotate(window, rng):
        a = np.radians(rng.uniform(-10, 10))
        return window @ np.array([[1, 0, 0], [0, np.cos(a), np.sin(a)],
                                  [0, -np.sin(a), np.cos(a)]], np.float32)

    def gain_and_shift(window, rng):
        return np.roll(window * rng.uniform(0.9, 1.1), int(rng.integers(1, 8)), axis=0)

    def in_place(window, rng):
        window *= 1.1
        return window

    right(check_augmentation(rotate, windows))
    right(check_augmentation(gain_and_shift, windows))
    wrong(check_augmentation(in_place, windows))
    wrong(check_augmentation(lambda w, rng: w + np.random.normal(0, 20, w.shape), windows))
    wrong(check_augmentation(lambda w, rng: w.copy(), windows))                # unchanged
    wrong(check_augmentation(lambda w, rng: rng.normal(0, 500, w.shape), windows))
    wrong(check_augmentation(lambda w, rng: w[::2], windows))                  # wrong shape
    unanswered(check_augmentation(NOT_ANSWERED, windows))


# ----------------------------------------------------------------------------- nb12


def test_quantize_by_hand():
    from tflm_edu.exercises.nb12 import check_quantize_by_hand
    scale, zero_point = 5.5 / 255, -68
    code = int(np.clip(np.floor(1.0 / scale + 0.5) + zero_point, -128, 127))
    right(check_quantize_by_hand(code, scale * (code - zero_point), 1.0, scale, zero_point))
    clamped = 127                                        # 4.5 is outside [-1.3, 4.2]
    right(check_quantize_by_hand(clamped, scale * (clamped - zero_point), 4.5, scale, zero_point))
    wrong(check_quantize_by_hand(code - zero_point, scale * code, 1.0, scale, zero_point))
    wrong(check_quantize_by_hand(code, 1.0, 1.0, scale, zero_point))
    unanswered(check_quantize_by_hand(code, NOT_ANSWERED, 1.0, scale, zero_point))


def test_scale_zero_point():
    from tflm_edu.exercises.nb12 import check_scale_zero_point
    rng = SimpleNamespace(min=-3.3535, max=6.8406)
    scale = (6.8406 + 3.3535) / 255
    zero_point = int(np.floor(-128 + 3.3535 / scale + 0.5))
    right(check_scale_zero_point(scale, zero_point, rng))
    relu = SimpleNamespace(min=0.0, max=4.0)             # widened to include 0: zp -128
    right(check_scale_zero_point(4.0 / 255, -128, relu))
    positive = SimpleNamespace(min=1.0, max=3.0)         # widened to [0, 3]
    right(check_scale_zero_point(3.0 / 255, -128, positive))
    wrong(check_scale_zero_point(2.0 / 255, -128, positive))
    wrong(check_scale_zero_point(scale, -zero_point, rng))
    wrong(check_scale_zero_point(10.1941 / 256, zero_point, rng))
    unanswered(check_scale_zero_point(NOT_ANSWERED, zero_point, rng))


def test_multiplier_shift():
    from tflm_edu.exercises.nb12 import check_multiplier_shift
    for real in (0.0024512262, 0.75, 3.2):
        shift = math.floor(math.log2(real)) + 1            # real / 2^shift in [0.5, 1)
        multiplier = int(real / 2.0 ** shift * 2**31 + 0.5)
        right(check_multiplier_shift(multiplier, shift, real))
        wrong(check_multiplier_shift(multiplier, shift - 1, real))
        wrong(check_multiplier_shift(multiplier // 2, shift, real))
    unanswered(check_multiplier_shift(NOT_ANSWERED, -8, 0.002))


def _report(sqnrs):
    from tflm_edu.convert.report import LayerSQNR, QuantizationReport
    return QuantizationReport([], [LayerSQNR(k, f"OP_{k}", f"t{k}", s)
                                   for k, s in enumerate(sqnrs)])


def test_worst_layer():
    from tflm_edu.exercises.nb12 import check_worst_layer
    report = _report([34.3, 36.4, 7.9, 39.2, 13.4])
    right(check_worst_layer(int(np.argmin([34.3, 36.4, 7.9, 39.2, 13.4])), report))
    wrong(check_worst_layer(3, report))                    # the best one
    wrong(check_worst_layer("OP_2", report))               # a name, not an index
    unanswered(check_worst_layer(NOT_ANSWERED, report))


@pytest.fixture(scope="module")
def wand_quantization():
    """magic_wand, trained briefly as notebook 12 trains it in fast mode, converted, and
    quantized with calibration on eight windows of one gesture only."""
    from tflm_edu.convert import convert_sequential, quantization_report, quantize_model
    from tflm_edu.datasets import make_gesture_dataset
    from tflm_edu.train import Adam, architectures
    x, y = make_gesture_dataset(n_per_class=60, seed=0)
    x = x[..., None] / 1000
    model = architectures.magic_wand(seed=0)
    model.compile(Adam(0.001))
    model.fit(x, y, epochs=12, batch_size=32, verbose=0, seed=0)
    float_model = convert_sequential(model)
    narrow = quantize_model(float_model, x[y == 0][:8], progress=False)
    report = quantization_report(float_model, narrow, x[:32])
    return float_model, narrow, report, x


def test_sqnr_fix(wand_quantization):
    from tflm_edu.convert import quantize_model
    from tflm_edu.exercises.nb12 import check_sqnr_fix
    float_model, narrow, report, x = wand_quantization
    representative = quantize_model(float_model, x, progress=False)
    right(check_sqnr_fix(representative, float_model, report, x[:32]))
    wrong(check_sqnr_fix(narrow, float_model, report, x[:32]))          # the same calibration
    wrong(check_sqnr_fix("not a model", float_model, report, x[:32]))
    unanswered(check_sqnr_fix(NOT_ANSWERED, float_model, report, x[:32]))


# ----------------------------------------------------------------------------- nb13

TOY = [("input", 208, 0, 1), ("conv", 192, 1, 2), ("pool", 160, 2, 4),
       ("conv_2", 16, 3, 4), ("concat", 176, 4, 5), ("fc", 48, 5, 5)]


def _greedy_by_hand(buffers):
    """Largest first (ties: the later buffer first, as TFLM sorts), each at the lowest gap."""
    order = sorted(range(len(buffers)), key=lambda i: (-buffers[i][1], -i))
    placed = []
    for i in order:
        _, size, first, last = buffers[i]
        offset = 0
        for o, s, f, l in sorted(placed):
            if f <= last and first <= l and o < offset + size:
                offset = max(offset, o + s)
        placed.append((offset, size, first, last))
    return max(o + s for o, s, _, _ in placed)


def test_lower_bound():
    from tflm_edu.exercises.nb13 import check_lower_bound
    bound = max(sum(s for _, s, f, l in TOY if f <= t <= l) for t in range(6))
    right(check_lower_bound(bound, TOY))
    wrong(check_lower_bound(sum(s for _, s, _, _ in TOY), TOY))
    wrong(check_lower_bound(bound - 16, TOY))
    unanswered(check_lower_bound(NOT_ANSWERED, TOY))


def test_greedy_head():
    from tflm_edu.exercises.nb13 import check_greedy_head
    head = _greedy_by_hand(TOY)
    bound = max(sum(s for _, s, f, l in TOY if f <= t <= l) for t in range(6))
    assert head > bound                  # the toy is chosen so that greedy misses the bound
    right(check_greedy_head(head, TOY))
    wrong(check_greedy_head(bound, TOY))
    wrong(check_greedy_head(sum(s for _, s, _, _ in TOY), TOY))
    wrong(check_greedy_head(head + 16, TOY))
    unanswered(check_greedy_head(NOT_ANSWERED, TOY))
    chain = [("a", 64, 0, 1), ("b", 32, 1, 2), ("c", 64, 2, 3)]
    right(check_greedy_head(_greedy_by_hand(chain), chain))


@pytest.fixture(scope="module")
def conv_interpreter():
    from tflm_edu import AllOpsResolver, MicroInterpreter
    from tflm_edu.arena_size.examples import small_conv_net
    interpreter = MicroInterpreter(small_conv_net(), AllOpsResolver())
    interpreter.allocate_tensors()
    return interpreter


def test_shared_bytes(conv_interpreter):
    from tflm_edu.exercises.nb13 import check_shared_bytes
    planned = [b for b in conv_interpreter.buffers if b.bytes > 0]
    big = max(planned, key=lambda b: b.bytes)
    padded = {b.name: (b.offset, b.offset + -(-b.bytes // 16) * 16) for b in planned}
    lo, hi = padded[big.name]
    sharing = [n for n, (a, z) in padded.items() if n != big.name and a < hi and lo < z]
    others = [n for n in padded if n != big.name and n not in sharing]
    assert sharing and others
    right(check_shared_bytes(sharing, big, conv_interpreter))
    right(check_shared_bytes(tuple(reversed(sharing)), big, conv_interpreter))
    if len(sharing) > 1:
        wrong(check_shared_bytes(sharing[:1], big, conv_interpreter))       # some missing
    wrong(check_shared_bytes(sharing + others[:1], big, conv_interpreter))
    wrong(check_shared_bytes(["no such buffer"], big, conv_interpreter))
    wrong(check_shared_bytes(len(sharing), big, conv_interpreter))               # a count
    unanswered(check_shared_bytes(NOT_ANSWERED, big, conv_interpreter))


def test_linear_arena(conv_interpreter):
    from tflm_edu import AllOpsResolver, MicroInterpreter
    from tflm_edu.errors import AllocationError
    from tflm_edu.exercises.nb13 import check_linear_arena
    model = conv_interpreter.model

    def allocates(n, planner):
        try:
            MicroInterpreter(model, AllOpsResolver(), n, planner=planner).allocate_tensors()
            return True
        except AllocationError:
            return False

    def smallest(planner):
        fails, works = 0, 1 << 20
        while works - fails > 1:
            middle = (fails + works) // 2
            fails, works = (fails, middle) if allocates(middle, planner) else (middle, works)
        return works

    linear = smallest("linear")
    right(check_linear_arena(linear, model))
    wrong(check_linear_arena(smallest("greedy"), model))
    wrong(check_linear_arena(linear - 1, model))
    unanswered(check_linear_arena(NOT_ANSWERED, model))


# ----------------------------------------------------------------------------- nb14


@pytest.fixture(scope="module")
def conv_input(conv_interpreter):
    shape = conv_interpreter.input(0).shape
    return np.random.default_rng(1).integers(-128, 128, shape).astype(np.int8)


def test_step_value(conv_interpreter, conv_input):
    from tflm_edu import AllOpsResolver, MicroInterpreter
    from tflm_edu.exercises.nb14 import check_step_value
    seen = {}
    twin = MicroInterpreter(conv_interpreter.model, AllOpsResolver())
    twin.allocate_tensors()
    twin.add_hook(after=lambda interp, event: seen.setdefault(event.op_index,
                                                               event.outputs[0].copy()))
    twin.input(0).data[...] = conv_input
    for _ in twin.steps():
        pass
    element = (0, 5, 7, 3)
    value = int(seen[1][element])
    before = conv_interpreter.input(0).data.copy()
    right(check_step_value(value, conv_interpreter, 1, element, conv_input))
    wrong(check_step_value(value + 1, conv_interpreter, 1, element, conv_input))
    unanswered(check_step_value(NOT_ANSWERED, conv_interpreter, 1, element, conv_input))
    assert np.array_equal(conv_interpreter.input(0).data, before)   # the learner's untouched


def _conv_by_hand(interpreter, x, element):
    """Op 0 of small_conv_net (CONV_2D, one input channel), element by element: the int32
    sum, and the int8 value after bias, rescale, offset and clamp."""
    from tflm_edu.kernels.quantization_util import multiply_by_quantized_multiplier
    node = interpreter.nodes[0]
    data = node.user_data
    g = data.geometry
    weights = interpreter.tensors[node.inputs[1]].data              # OHWI
    bias = interpreter.tensors[node.inputs[2]].data
    _, out_y, out_x, c = element
    acc = 0
    for ky in range(g.filter_height):
        for kx in range(g.filter_width):
            in_y = out_y * g.stride_height - data.padding.height + ky * g.dilation_height
            in_x = out_x * g.stride_width - data.padding.width + kx * g.dilation_width
            if 0 <= in_y < x.shape[1] and 0 <= in_x < x.shape[2]:
                acc += (int(x[0, in_y, in_x, 0]) - data.input_zero_point) * int(weights[c, ky, kx, 0])
    scaled = int(multiply_by_quantized_multiplier(acc + int(bias[c]),
                                                  int(data.per_channel_output_multiplier[c]),
                                                  int(data.per_channel_output_shift[c])))
    value = min(max(scaled + data.output_zero_point, data.output_activation_min),
                data.output_activation_max)
    return acc, value


@pytest.mark.parametrize("element", [(0, 0, 0, 0), (0, 7, 9, 5), (0, 15, 15, 7)])
def test_accumulator_and_requantized(conv_interpreter, conv_input, element):
    from tflm_edu.exercises.nb14 import check_accumulator, check_requantized
    acc, value = _conv_by_hand(conv_interpreter, conv_input, element)
    right(check_accumulator(acc, conv_interpreter, 0, element, conv_input))
    wrong(check_accumulator(acc + 1, conv_interpreter, 0, element, conv_input))
    unanswered(check_accumulator(NOT_ANSWERED, conv_interpreter, 0, element, conv_input))
    right(check_requantized(value, conv_interpreter, 0, element, conv_input))
    wrong(check_requantized(value - 1 if value > -128 else value + 1, conv_interpreter, 0,
                            element, conv_input))
    unanswered(check_requantized(NOT_ANSWERED, conv_interpreter, 0, element, conv_input))


def test_custom_relu():
    from tflm_edu.exercises.nb14 import check_custom_relu, custom_relu_model
    from tflm_edu.kernels.kernel_api import Registration
    model = custom_relu_model()

    def prepare(context, node):
        return None

    def relu(context, node):
        x, y = context.get_input(node, 0), context.get_output(node, 0)
        real = x.scale * (x.data.astype(np.float64) - x.zero_point)
        y.data[...] = np.clip(np.round(np.maximum(real, 0) / y.scale) + y.zero_point, -128, 127)

    def relu_at_code_zero(context, node):
        x, y = context.get_input(node, 0), context.get_output(node, 0)
        y.data[...] = np.maximum(x.data, 0)

    def broken(context, node):
        raise RuntimeError("not written yet")

    right(check_custom_relu(Registration("MyRelu", prepare=prepare, eval=relu), model))
    wrong(check_custom_relu(Registration("MyRelu", prepare=prepare, eval=relu_at_code_zero),
                            model))
    wrong(check_custom_relu(Registration("RELU", prepare=prepare, eval=relu), model))
    wrong(check_custom_relu(Registration("MyRelu", prepare=prepare, eval=broken), model))
    wrong(check_custom_relu(relu, model))
    unanswered(check_custom_relu(NOT_ANSWERED, model))


def test_debugger_view_has_a_still_picture(conv_interpreter):
    from tflm_edu.debugger import StepDebugger
    from tflm_edu.exercises.nb14 import debugger_view
    debugger = StepDebugger(conv_interpreter)
    bundle = debugger_view(debugger)._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/plain"].startswith("StepDebugger(")
    assert "tflm-op-list" in bundle["text/html"] and "<svg" in bundle["text/html"]


# ----------------------------------------------------------------------------- nb15


def test_model_flash(tmp_path, conv_net_bytes):
    from tflm_edu.deploy import generate_project
    from tflm_edu.exercises.nb15 import check_model_flash
    project = generate_project(conv_net_bytes, "qemu-cortex-m4", tmp_path / "p")
    source = project.source_dir / "model_data.cc"
    right(check_model_flash(len(conv_net_bytes), project))
    wrong(check_model_flash(source.stat().st_size, project))
    wrong(check_model_flash(len(conv_net_bytes) * 4, project))
    unanswered(check_model_flash(NOT_ANSWERED, project))


def test_arena_margin(conv_net_bytes):
    from tflm_edu.deploy import Board, VirtualBoard
    from tflm_edu.exercises.nb15 import check_arena_margin
    info = SimpleNamespace(arena_size=91_136, arena_used=82_292)
    right(check_arena_margin(91_136 - 82_292, info))
    wrong(check_arena_margin(82_292, info))
    unanswered(check_arena_margin(NOT_ANSWERED, info))
    with VirtualBoard(conv_net_bytes, arena_size=20_000) as virtual:
        with Board.open(virtual.path, expected_model=conv_net_bytes, timeout=2.0) as board:
            real = board.info()
            right(check_arena_margin(20_000 - real.arena_used, board))
            right(check_arena_margin(20_000 - real.arena_used, real))
            wrong(check_arena_margin(20_000, real))


def test_costliest_op():
    from tflm_edu.deploy.client import BoardProfile
    from tflm_edu.deploy.protocol import ProfileEvent
    from tflm_edu.exercises.nb15 import check_costliest_op
    events = [ProfileEvent(500, 0, "DEPTHWISE_CONV_2D"), ProfileEvent(300, 0, "CONV_2D"),
              ProfileEvent(350, 0, "CONV_2D"), ProfileEvent(10, 0, "SOFTMAX"),
              ProfileEvent(900, 1, "DEPTHWISE_CONV_2D")]         # nested: not counted again
    profile = BoardProfile("virtual", "us", 1, events)
    right(check_costliest_op("CONV_2D", profile))                 # 650 against 500
    right(check_costliest_op("conv_2d", profile))
    wrong(check_costliest_op("DEPTHWISE_CONV_2D", profile))       # the single costliest op
    wrong(check_costliest_op(3, profile))
    unanswered(check_costliest_op(NOT_ANSWERED, profile))


def test_survives_faults(conv_net_bytes):
    from tflm_edu.deploy import Faults
    from tflm_edu.exercises.nb15 import check_survives_faults
    right(check_survives_faults(Faults(reset_after=5), conv_net_bytes))
    right(check_survives_faults(Faults(flip_bits=0.002, seed=1), conv_net_bytes))
    wrong(check_survives_faults(Faults(), conv_net_bytes))                  # nothing happened
    wrong(check_survives_faults(Faults(stuck=True), conv_net_bytes, timeout=0.1, retries=1))
    wrong(check_survives_faults({"flip_bits": 0.001}, conv_net_bytes))
    unanswered(check_survives_faults(NOT_ANSWERED, conv_net_bytes))


# ----------------------------------------------------------------------------- the notebooks


def _cells(number):
    path = ROOT / "notebooks" / f"{NOTEBOOKS[number]}.ipynb"
    return json.loads(path.read_text())["cells"]


def _text(cell) -> str:
    return "".join(cell["source"])


def _imported(cells, number) -> set:
    """The names the notebook's code cells import from tflm_edu.exercises.nbNN."""
    names = set()
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        for node in ast.walk(ast.parse(_text(cell))):
            if isinstance(node, ast.ImportFrom) and node.module == f"tflm_edu.exercises.nb{number}":
                names |= {alias.name for alias in node.names}
    return names


def _output_text(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        parts.append("".join(output.get("text", "")))
        for value in output.get("data", {}).values():
            parts.append(value if isinstance(value, str) else "".join(value)
                         if isinstance(value, list) else "")
    return "\n".join(parts)


@pytest.mark.parametrize("number", sorted(NOTEBOOKS))
def test_notebook_exercises_are_well_formed(number):
    cells = _cells(number)
    heading = re.compile(rf"^### Exercise {number}\.(\d+): \S")
    found = [i for i, c in enumerate(cells)
             if c["cell_type"] == "markdown" and heading.match(_text(c))]
    assert len(found) >= 3, f"notebook {number} has {len(found)} exercises"
    assert [int(heading.match(_text(cells[i])).group(1)) for i in found] == \
        list(range(1, len(found) + 1))
    for i in found:
        title = _text(cells[i]).splitlines()[0]
        starter, solution = cells[i + 1], cells[i + 2]
        assert starter["cell_type"] == "code" and solution["cell_type"] == "code", title
        checks = re.findall(r"\b(check_\w+)\(", _text(starter))
        assert checks and re.search(r"=\s*\.\.\.", _text(starter)), title
        assert "solution" not in starter.get("metadata", {}).get("tags", []), title
        assert "solution" in solution["metadata"].get("tags", []), title
        assert solution["metadata"].get("jupyter", {}).get("source_hidden") is True, title
        assert checks[-1] in _text(solution), title
        assert re.search(rf"{checks[-1]}\(", _text(starter).strip().splitlines()[-1]), title
        assert set(checks) <= _imported([starter], number), title     # self-contained
        # the committed outputs: the starter unanswered; the solution none, as its "Right: ..."
        # would give the answer away (test_notebooks_content.py runs them, and they are right)
        assert "Not answered yet" in _output_text(starter), title
        assert not solution.get("outputs"), title


@pytest.mark.parametrize("number", sorted(NOTEBOOKS))
def test_notebooks_show_no_bare_asserts_and_no_frozen_progress_bars(number):
    for cell in _cells(number):
        if cell["cell_type"] != "code":
            continue
        assert not re.search(r"^\s*assert\b", _text(cell), re.M), _text(cell)[:200]
        assert not re.search(r"\b0%\|", _output_text(cell)), _text(cell)[:200]
