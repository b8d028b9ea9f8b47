"""Checks for the exercises of notebooks/04_person_detection.ipynb: what the input's int8
values mean, the greedy planner against the linear one, the softmax from its stepped logits,
a person the model misses, and the memory plan of a narrower or smaller MobileNet.

The checks read the learner's interpreter, stepped input and models.
"""
from __future__ import annotations

import numpy as np

from tflm_edu.exercises.core import Verdict, answered, verdict
from tflm_edu.exercises.nb00 import (integer, io_scale_zero_point, not_answered, number,
                                     run_once, scale_zero_point, stepped)
from tflm_edu.exercises.nb02 import int8_plan_bytes
from tflm_edu.quantization import affine_dequantize

PERSON, NO_PERSON = 1, 0

# ----------------------------------------------------------------------------- exercise 4.1


def pixel_values(host) -> tuple[float, float]:
    """The real values the model sees for a black (0) and a white (255) camera pixel."""
    from tflm_edu.datasets import to_int8
    scale, zero_point = io_scale_zero_point(host.get_input_details(0))
    black, white = affine_dequantize(to_int8(np.array([0, 255], np.uint8)), scale, zero_point)
    return float(black), float(white)


def check_pixel_values(answer, host) -> Verdict:
    """4.1: the real input values of a black and a white pixel."""
    if not (answered(answer) and all(map(answered, np.atleast_1d(np.asarray(answer,
                                                                            dtype=object))))):
        return not_answered("a pixel p becomes the int8 p - 128; the model reads that int8 "
                            "as scale x (q - zero_point), with host.get_input_details(0)")
    expected = pixel_values(host)
    try:
        black, white = (float(v) for v in answer)
    except (TypeError, ValueError):
        return Verdict(False, "give two numbers: (black, white)")
    return verdict(abs(black - expected[0]) < 1e-4 and abs(white - expected[1]) < 1e-4,
                   f"black {expected[0]:g}, white {expected[1]:g}: the [-1, 1) the float "
                   f"model was trained on. White stops one step short of 1, because int8 "
                   f"stops at 127.",
                   "Black is int8 -128 and white 127; dequantize both")


# ----------------------------------------------------------------------------- exercise 4.2


def planner_heads(host) -> tuple[int, int]:
    """(greedy plan bytes, linear plan bytes) of the learner's model."""
    from tflm_edu.runtime import Interpreter
    linear = Interpreter(host.micro.model, planner="linear")
    greedy = Interpreter(host.micro.model, planner="greedy")
    return greedy.micro.head_bytes, linear.micro.head_bytes


def check_greedy_saving(answer, host) -> Verdict:
    """4.2: how many bytes of head TFLM's greedy planner saves over the linear planner."""
    if not answered(answer):
        return not_answered("the linear planner gives every tensor bytes of its own: make an "
                            "interpreter with planner='linear' and compare head_bytes")
    greedy, linear = planner_heads(host)
    value = integer(answer)
    if value == linear:
        return Verdict(False, "that is the linear plan itself; subtract the greedy plan")
    return verdict(value == linear - greedy,
                   f"{linear - greedy:,} bytes: linear {linear:,}, greedy {greedy:,} - "
                   f"{linear / greedy:.1f} times smaller. Most tensors live for two ops only, "
                   f"so their bytes can be handed on again and again.",
                   "Compare interpreter.micro.head_bytes with planner='linear' and with "
                   "the default (greedy)")


# ----------------------------------------------------------------------------- exercise 4.3


def softmax_by_hand(host, x_int8) -> tuple[float, int, int]:
    """(the person probability a float softmax gives on the dequantized logits - the input
    of the SOFTMAX op - for x_int8, the SOFTMAX op's index, the int8 person score)."""
    nodes, outputs = stepped(host, x_int8)
    k = max(i for i, node in enumerate(nodes) if node.op_name == "SOFTMAX")
    producer = max(i for i in range(k) if nodes[i].outputs[0] == nodes[k].inputs[0])
    scale, zero_point = scale_zero_point(host, nodes[k].inputs[0])
    logits = affine_dequantize(outputs[producer].reshape(-1), scale, zero_point)
    probabilities = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    return float(probabilities[PERSON]), k, int(outputs[k].reshape(-1)[PERSON])


def check_softmax_by_hand(answer, host, x_int8) -> Verdict:
    """4.3: the person probability from the stepped logits, with a float softmax."""
    if not answered(answer):
        return not_answered("the op before the SOFTMAX makes the logits: dequantize them with "
                            "their tensor's scale and zero point, then softmax: "
                            "exp(l) / sum(exp(l))")
    expected, k, q = softmax_by_hand(host, x_int8)
    out_scale, out_zero = io_scale_zero_point(host.get_output_details(0))
    int8_value = float(affine_dequantize(q, out_scale, out_zero))
    value = number(answer)
    if value is not None and abs(value - int8_value) < 1e-6 and abs(value - expected) >= 2e-3:
        return Verdict(False, "that is the int8 softmax's answer; compute it from the logits")
    return verdict(value is not None and abs(value - expected) < 2e-3,
                   f"{expected:.4f}; the int8 SOFTMAX (op {k}) says {q}, which stands for "
                   f"{int8_value:.4f}. TFLM's int8 softmax computes the exponentials in "
                   f"fixed point and rounds to steps of 1/256, so it agrees with the float "
                   f"formula to within a step or so.",
                   "Take the int8 logits from the op that feeds the SOFTMAX "
                   "(outputs[...] of the step loop), dequantize them, then softmax")


# ----------------------------------------------------------------------------- exercise 4.4


def scene_int8(seed: int) -> np.ndarray:
    """The int8 input of make_scene(True, np.random.default_rng(seed)): a scene with people."""
    from tflm_edu.datasets import make_scene, to_int8
    return to_int8(make_scene(True, np.random.default_rng(seed)))


def check_missed_person(seed, host) -> Verdict:
    """4.4 (open): a seed whose scene with people in it the int8 model answers no_person to."""
    if not answered(seed):
        return not_answered("try seeds: make_scene(True, np.random.default_rng(seed)) draws a "
                            "scene with people; run it through host until it says no_person")
    value = integer(seed)
    if value is None or value < 0:
        return Verdict(False, "give a seed: a whole number, 0 or more")
    scores = run_once(host, scene_int8(value)).reshape(-1)
    return verdict(int(np.argmax(scores)) == NO_PERSON,
                   f"seed {value}: the scene has people, the model answers {scores.tolist()} "
                   f"- no_person. Draw it: are the people small, dark against a dark "
                   f"background, half hidden? That is where more training data would go.",
                   f"seed {value}: the model answers {scores.tolist()} and finds the person; "
                   f"try other seeds")


# ----------------------------------------------------------------------------- exercise 4.5


def check_plan_prediction(prediction, my_model) -> Verdict:
    """4.5 (open): a predicted memory plan (bytes) for a MobileNet of the learner's choice,
    measured on it."""
    if not answered(prediction) or not answered(my_model):
        return not_answered("build your model with train.person_detection_mobilenet_v1(...), "
                            "then predict the plan: which op holds the most bytes, input and "
                            "output together?")
    if not hasattr(my_model, "layers") or not hasattr(my_model, "input_shape"):
        return Verdict(False, "my_model should be a Sequential, e.g. from "
                              "train.person_detection_mobilenet_v1(...)")
    expected = int8_plan_bytes(my_model)
    value = integer(prediction)
    if value is None:
        return Verdict(False, "predict a number of bytes")
    off = (value - expected) / expected
    return verdict(value == expected,
                   f"{expected:,} bytes. The first layers, at the highest resolution, set "
                   f"the plan: an op there holds its input and its output at once.",
                   f"{value:,} is {abs(off):.0%} {'over' if off > 0 else 'under'}. "
                   f"Look for the op whose input and output together are largest (the "
                   f"summary's act. bytes are float32: divide by 4)")


__all__ = ["check_pixel_values", "check_greedy_saving", "check_softmax_by_hand",
           "check_missed_person", "check_plan_prediction"]
