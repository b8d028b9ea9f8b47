"""Checks for the exercises of notebooks/03_magic_wand.ipynb: training on milli-g, a firmware's
quantization of a reading, max pooling by hand, the board's busiest op, and another grip.

The checks read the learner's training histories, interpreter, stepped input and board run.
"""
from __future__ import annotations

import numpy as np

from tflm_edu.exercises.core import Verdict, answered, verdict
from tflm_edu.exercises.nb00 import (integer, io_scale_zero_point, not_answered, number,
                                     stepped)
from tflm_edu.quantization import affine_quantize

# ----------------------------------------------------------------------------- exercise 3.1


def check_milli_g(prediction, history_mg, history) -> Verdict:
    """3.1: predicted "higher" or "lower" - the final training loss of a model trained on
    milli-g against the one trained on g - then measured on the learner's two histories."""
    if not answered(prediction) or not answered(history_mg):
        return not_answered("write your prediction, 'higher' or 'lower', then train a fresh "
                            "train.magic_wand(seed=0) on milli-g windows and keep its history")
    if str(prediction).strip().lower() not in ("higher", "lower"):
        return Verdict(False, "predict 'higher' or 'lower'")
    if not hasattr(history_mg, "get") or not history_mg.get("loss"):
        return Verdict(False, "history_mg should be what fit() returned")
    if len(history_mg["loss"]) != len(history["loss"]):
        return Verdict(False, f"train for the same {len(history['loss'])} epochs as the g "
                              f"model, so that the two losses compare")
    mg, g = history_mg["loss"][-1], history["loss"][-1]
    measured = "higher" if mg > g else "lower"
    story = (f"after {len(history['loss'])} epochs the milli-g model's training loss is "
             f"{mg:.3f}, the g model's {g:.3f} (a uniform guess among 4 classes scores "
             f"ln 4 = {np.log(4):.3f}). Inputs in the thousands make the first layer's "
             f"outputs, and its gradients, a thousand times larger: the first steps "
             f"overshoot, and training may never recover.")
    return verdict(str(prediction).strip().lower() == measured,
                   f"{measured}, as you predicted: {story}",
                   f"your measurement says {measured}: {story}")


# ----------------------------------------------------------------------------- exercise 3.2


def check_quantized_reading(answer, host, reading_mg: float = 1000.0) -> Verdict:
    """3.2: the int8 value a firmware feeds the model for an accelerometer reading in milli-g."""
    if not answered(answer):
        return not_answered("q = round(r / (1000 x scale)) + zero_point: the division by "
                            "1,000 of the features is folded into the scale")
    scale, zero_point = io_scale_zero_point(host.get_input_details(0))
    expected = int(affine_quantize(np.float32(reading_mg / 1000.0), scale, zero_point))
    value = integer(answer)
    if value is not None and value == int(affine_quantize(np.float32(reading_mg), scale,
                                                          zero_point)):
        return Verdict(False, "the model's input is in g: divide the milli-g reading by 1,000 "
                              "(or multiply the scale by 1,000)")
    if value is not None and value == expected - zero_point:
        return Verdict(False, "now add the zero point")
    return verdict(value == expected,
                   f"round({reading_mg:g} / {1000 * scale:.3f}) + ({zero_point}) = {expected}: "
                   f"one int8 step is {1000 * scale:.1f} milli-g, so the board quantizes its "
                   f"readings without ever computing in g.",
                   "Divide the reading by 1,000 x scale, round, add the zero point")


# ----------------------------------------------------------------------------- exercise 3.3

POOL_FILTER = 2      # the filter whose pooled values exercise 3.3 asks for


def pooled_values(host, x_int8, channel: int = POOL_FILTER) -> np.ndarray:
    """The first MAX_POOL_2D's output for `channel` (one value per output row), input x_int8."""
    nodes, outputs = stepped(host, x_int8)
    k = next(i for i, node in enumerate(nodes) if node.op_name == "MAX_POOL_2D")
    return outputs[k][0, :, :, channel].reshape(-1)


def check_pooled_values(answer, host, x_int8) -> Verdict:
    """3.3: MAX_POOL_2D by hand: its whole output for one filter, from op 0's output."""
    if not answered(answer):
        return not_answered(f"output row r is the largest of op 0's rows 3r to 3r + 2, all 3 "
                            f"axes, of filter {POOL_FILTER}; the last readings that fill no "
                            f"whole window are left out")
    expected = pooled_values(host, x_int8)
    try:
        value = np.asarray(answer, dtype=np.int64).reshape(-1)
    except (TypeError, ValueError):
        return Verdict(False, f"give {expected.size} integers")
    if value.size != expected.size:
        return Verdict(False, f"give {expected.size} values, one per output row (you gave "
                              f"{value.size})")
    wrong = np.flatnonzero(value != expected)
    return verdict(wrong.size == 0,
                   f"all {expected.size} match op 1's output. Max pooling needs no arithmetic "
                   f"in int8: TFLM requires the same scale and zero point on both sides, so "
                   f"the largest int8 value is the largest real value.",
                   f"{wrong.size} of {expected.size} differ (the first at row "
                   f"{wrong[0] if wrong.size else 0}): "
                   f"each output row takes the maximum over 3 readings x 3 axes")


# ----------------------------------------------------------------------------- exercise 3.4


def board_hotspot(run) -> tuple[int, float, object]:
    """(index of the op with the largest board counter, its share of the invoke, event)."""
    events = [e for e in run.profile.events if e.depth == 0]
    i = max(range(len(events)), key=lambda k: events[k].counter)
    return i, events[i].counter / max(run.profile.total, 1), events[i]


def check_board_hotspot(busiest_op, share, run) -> Verdict:
    """3.4: the op that takes the most of the board's invoke, and its share (0 to 1)."""
    if not answered(busiest_op) or not answered(share):
        return not_answered("run.profile.events holds one event per op, with .tag and "
                            ".counter; run.profile.total is the whole invoke")
    if run.profile is None:
        return Verdict(False, "this run has no profile to read")
    i, expected, event = board_hotspot(run)
    value = number(share)
    if integer(busiest_op) != i:
        return Verdict(False, "not that op: which row of run.profile_table() has the largest "
                              "board count? (ops count from 0)")
    if value is not None and 1 < value <= 100 and abs(value / 100 - expected) < 0.01:
        return Verdict(False, "right op; give the share as a fraction (0 to 1)")
    return verdict(value is not None and abs(value - expected) < 0.01,
                   f"op {i}, {event.tag}: {event.counter:,} of {run.profile.total:,} "
                   f"{run.profile.unit} ({expected:.0%}). Compare with the MACs the step "
                   f"events printed: a board spends its time where the multiplications are. "
                   f"The PC column need not agree - numpy's cost per op call weighs more "
                   f"there than the arithmetic.",
                   "right op; its share is its count divided by run.profile.total")


# ----------------------------------------------------------------------------- exercise 3.5

ACCURACY_DROP = 0.2      # exercise 3.5: another grip should cost at least 20 points


def fitted_rotation(original, rotated) -> tuple[np.ndarray, float]:
    """The 3x3 matrix R with rotated ~ original @ R (least squares over every reading), and
    the relative residual of that fit."""
    a, b = np.asarray(original, np.float64).reshape(-1, 3), np.asarray(rotated,
                                                                       np.float64).reshape(-1, 3)
    r = np.linalg.lstsq(a, b, rcond=None)[0]
    return r, float(np.linalg.norm(a @ r - b) / max(np.linalg.norm(b), 1e-12))


def check_other_grip(other_features, host, f_test, y_test) -> Verdict:
    """3.5 (open): the test windows as another grip would read them - one rotation applied to
    every reading - on which the int8 model's accuracy falls by at least ACCURACY_DROP."""
    if not answered(other_features):
        return not_answered("rotate every reading of the test windows the same way (swap "
                            "and negate axes, or use a rotation matrix), then make features "
                            "of them")
    other = np.asarray(other_features, np.float32)
    if other.shape != np.shape(f_test):
        return Verdict(False, f"give features shaped like f_test, {np.shape(f_test)}")
    r, residual = fitted_rotation(f_test, other)
    if residual > 1e-3 or not np.allclose(r.T @ r, np.eye(3), atol=1e-3):
        return Verdict(False, "that is not one rotation of every reading: a grip turns all "
                              "readings the same way and keeps their length (gravity stays "
                              "1 g)")
    if np.linalg.det(r) < 0:
        return Verdict(False, "that is a mirror image, which no grip makes: negate one more "
                              "axis")
    if np.allclose(r, np.eye(3), atol=1e-3):
        return Verdict(False, "these are the test windows unchanged; turn the wand")
    from tflm_edu.evaluate import accuracy, run_model
    before = accuracy(y_test, run_model(host, f_test, progress=False))
    after = accuracy(y_test, run_model(host, other, progress=False))
    return verdict(after <= before - ACCURACY_DROP,
                   f"int8 test accuracy falls from {before:.1%} to {after:.1%}. The model "
                   f"learned gravity's direction along with the gesture: it only knows the "
                   f"grips it was trained on. Add rotated copies to the training data, or "
                   f"tell users how to hold the wand.",
                   f"int8 test accuracy {before:.1%} -> {after:.1%}: the model copes with "
                   f"this turn; try a larger one")


__all__ = ["check_milli_g", "check_quantized_reading", "check_pooled_values",
           "check_board_hotspot", "check_other_grip", "POOL_FILTER", "ACCURACY_DROP"]
