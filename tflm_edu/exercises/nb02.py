"""Checks for the exercises of notebooks/02_micro_speech.ipynb: what the frontend saves, the
confusion matrix, the memory plan of a changed model, the int8 softmax by hand, and a clip the
model mishears.

Also int8_plan_bytes(), which the person-detection checks (nb04) use too: the memory plan
of a Sequential's int8 model, which depends on the layer shapes only, so even an untrained
model gives the plan its trained twin will have.
"""
from __future__ import annotations

import math

import numpy as np

from tflm_edu.exercises.core import Verdict, answered, verdict
from tflm_edu.exercises.nb00 import (floats, integer, io_scale_zero_point, not_answered, number,
                                     run_once)
from tflm_edu.memory.arena import align_up
from tflm_edu.quantization import affine_dequantize

# ----------------------------------------------------------------------------- exercise 2.1


def check_feature_reduction(answer, clip, features) -> Verdict:
    """2.1: how many times fewer bytes the model reads (the features) than the raw clip takes."""
    if not answered(answer):
        return not_answered("clip.nbytes and features.nbytes count the bytes of each")
    clip, features = np.asarray(clip), np.asarray(features)
    expected, value = clip.nbytes / features.nbytes, number(answer)
    if value is not None and abs(value - clip.size / features.size) < 0.01 * value:
        return Verdict(False, f"that counts values; count bytes: the audio is "
                              f"{clip.dtype.name}, {clip.itemsize} bytes a sample")
    return verdict(value is not None and abs(value - expected) <= 0.01 * expected,
                   f"{clip.nbytes:,} bytes of {clip.dtype.name} audio become "
                   f"{features.nbytes:,} bytes of {features.dtype.name} features, "
                   f"{expected:.1f} times fewer. The frontend is fixed arithmetic that runs "
                   f"on the microcontroller too; the model only ever sees the features.",
                   "Divide the clip's bytes by the features' bytes (a ratio above 1)")


# ----------------------------------------------------------------------------- exercise 2.2


def top_confusions(y_true, scores, labels) -> tuple[list, np.ndarray]:
    """The (true, predicted) label pairs of the most frequent mistake, and the matrix."""
    from tflm_edu.evaluate import confusion_matrix
    cm = confusion_matrix(y_true, scores, len(labels))
    mistakes = cm - np.diag(np.diag(cm))
    pairs = [(labels[t], labels[p]) for t, p in zip(*np.nonzero(mistakes == mistakes.max()))]
    return pairs, cm


def _label_pair(answer, labels):
    try:
        true, predicted = answer
    except (TypeError, ValueError):
        return None
    name = lambda v: labels[int(v)] if isinstance(v, (int, np.integer)) and \
        0 <= int(v) < len(labels) else v
    return name(true), name(predicted)


def check_top_confusion(answer, y_true, scores, labels) -> Verdict:
    """2.2: the (true class, predicted class) of the model's most frequent mistake."""
    if not answered(answer):
        return not_answered("in the confusion matrix, rows are true classes and columns "
                            "predictions: find the largest number off the diagonal")
    pairs, cm = top_confusions(y_true, scores, labels)
    t, p = labels.index(pairs[0][0]), labels.index(pairs[0][1])
    if cm[t, p] == 0:
        return Verdict(False, "this model makes no mistake on these clips: nothing to find")
    pair = _label_pair(answer, labels)
    if pair is not None and (pair[1], pair[0]) in pairs and pair not in pairs:
        return Verdict(False, "the other way round: (true class, predicted class)")
    return verdict(pair in pairs,
                   f"{cm[t, p]} of the {cm[t].sum()} '{pairs[0][0]}' clips were heard as "
                   f"'{pairs[0][1]}'"
                   + (f" (tied with {pairs[1:]})" if len(pairs) > 1 else "")
                   + ". For a wake word, a mistake *into* 'yes' or 'no' is a false wake-up; a "
                     "mistake *out of* them a missed command.",
                   "Give (true label, predicted label) of the largest off-diagonal "
                   "cell, e.g. ('unknown', 'silence')")


# ----------------------------------------------------------------------------- exercise 2.3


def int8_plan_bytes(model) -> int:
    """The memory plan (head bytes) of a Sequential's int8 model. Only shapes matter to the
    plan, so the model is calibrated on one random input, every range widened to at least
    [-1, 1] (an untrained model's ranges can be all but empty, which no scale fits)."""
    from tflm_edu.convert.converter import convert_sequential
    from tflm_edu.convert.quantize import Range, calibrate, quantize_model
    from tflm_edu.runtime import Interpreter
    from tflm_edu.schema import write_model
    float_model = convert_sequential(model)
    sample = np.random.default_rng(0).uniform(-1, 1, (1, *model.input_shape)).astype(np.float32)
    ranges = {i: Range(min(r.min, -1.0), max(r.max, 1.0))
              for i, r in calibrate(float_model, sample, progress=False).items()}
    int8_model = quantize_model(float_model, sample, progress=False, ranges=ranges)
    return Interpreter.from_bytes(write_model(int8_model)).micro.head_bytes


def first_conv(model):
    from tflm_edu.train import Conv2D
    return next((layer for layer in model.layers if isinstance(layer, Conv2D)), None)


def check_half_filters_plan(prediction, small_model, filters: int = 4) -> Verdict:
    """2.3: the predicted memory plan (bytes) of tiny_conv with `filters` convolution
    filters, measured on the learner's small_model."""
    if not answered(prediction):
        return not_answered("the plan's peak is the op that holds the most bytes at once: "
                            "which op, and how large are its input and its output now?")
    conv = first_conv(small_model)
    if conv is None or conv.filters != filters:
        return Verdict(False, f"small_model's convolution should have {filters} filters")
    expected = int8_plan_bytes(small_model)
    value = integer(prediction)
    inputs, outputs = math.prod(small_model.input_shape), math.prod(conv.output_shape)
    shape = " x ".join(map(str, conv.output_shape))
    return verdict(value == expected,
                   f"{expected:,} bytes: the convolution step holds the whole input "
                   f"({inputs:,} int8 features, {align_up(inputs):,} bytes aligned to 16) and "
                   f"an output half as large as before, {shape} = {outputs:,} bytes. The "
                   f"input does not shrink with the model: in a small model it is a large "
                   f"share of the plan.",
                   f"{'' if value is None else f'{value:,} is not it. '}Add the "
                   f"input's bytes, as the plan aligns them, to the convolution's new output, "
                   f"{shape} int8 values")


# ----------------------------------------------------------------------------- exercise 2.4


def check_softmax_probabilities(answer, host, scores) -> Verdict:
    """2.4: the four int8 softmax scores as probabilities, dequantized by hand."""
    if not answered(answer):
        return not_answered("real = scale x (q - zero_point), element by element, with the "
                            "scale and zero point of host.get_output_details(0)")
    scale, zero_point = io_scale_zero_point(host.get_output_details(0))
    expected = affine_dequantize(np.asarray(scores).reshape(-1), scale, zero_point)
    value = np.asarray(answer, dtype=object).reshape(-1)
    try:
        value = value.astype(np.float64)
    except (TypeError, ValueError):
        return Verdict(False, f"give {expected.size} numbers")
    if value.size != expected.size:
        return Verdict(False, f"give {expected.size} numbers, one per class")
    return verdict(bool(np.allclose(value, expected, atol=1e-3)),
                   f"{floats(expected)}, adding up to {expected.sum():.4f}. "
                   f"The int8 softmax's output scale is fixed at 1/{round(1 / scale)} with "
                   f"zero point {zero_point}, so 127 means {expected.max():.4f} at most: "
                   f"'certain' is as close to 1 as 8 bits get.",
                   "Subtract the zero point from each int8 score, then multiply by "
                   "the scale")


# ----------------------------------------------------------------------------- exercise 2.5


def check_misheard_clip(index, host, x_test, y_test, labels) -> Verdict:
    """2.5 (open): the index of a test clip the int8 model gets wrong, checked by running it."""
    if not answered(index):
        return not_answered("compare np.argmax(int8_scores, 1) with y_test, or run clips "
                            "through host yourself")
    i = integer(index)
    if i is None or not 0 <= i < len(x_test):
        return Verdict(False, f"give the index of a test clip, 0 to {len(x_test) - 1}")
    from tflm_edu.evaluate import as_model_inputs
    clip = as_model_inputs(np.asarray(x_test)[i:i + 1], host.get_input_details(0))[0]
    scores = run_once(host, clip).reshape(-1)
    heard, truth = labels[int(np.argmax(scores))], labels[int(y_test[i])]
    return verdict(heard != truth,
                   f"clip {i}: said '{truth}', heard '{heard}' by the int8 model (scores "
                   f"{scores.tolist()}). Draw its features beside a clip it gets right: is "
                   f"the word quiet, cut off by the time shift, or drowned in noise?",
                   f"the int8 model hears clip {i} right, as '{heard}' (scores "
                   f"{scores.tolist()}); find one it gets wrong")


__all__ = ["check_feature_reduction", "check_top_confusion", "check_half_filters_plan",
           "check_softmax_probabilities", "check_misheard_clip", "int8_plan_bytes"]
