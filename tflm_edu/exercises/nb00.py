"""Checks for the exercises of notebooks/00_welcome.ipynb, and the helpers the checks of the
example notebooks (01-04) share: a fresh interpreter of the learner's model, one run, one
stepped run, a tensor's scale and zero point.

Every check computes its expected answer from the objects the learner passes in - their
interpreter, their scores, their image - so it stays right for any model the notebook
happens to load (TFLM's person_detect, or the small built-in model when the reference
models are absent).
"""
from __future__ import annotations

import numpy as np

from tflm_edu.exercises.core import Verdict, answered, verdict
from tflm_edu.memory.arena import align_up
from tflm_edu.quantization import affine_dequantize

PERSON, NO_PERSON = 1, 0       # person_detect's scores: [no person, person]

# ----------------------------------------------------------------------------- shared helpers


def fresh(interpreter):
    """A new tflm_edu Interpreter of the same model: a check runs the model on it, so the
    learner's interpreter (its input, its arena) is left exactly as it was."""
    from tflm_edu.runtime import Interpreter
    return Interpreter(interpreter.micro.model)


def run_once(interpreter, x) -> np.ndarray:
    """Output 0 of the learner's model for input x (already in the input's type), [1, ...]."""
    other = fresh(interpreter)
    other.set_input(np.asarray(x).reshape(other.get_input_details(0)["shape"]), 0)
    other.invoke()
    return other.get_output(0)


def stepped(interpreter, x) -> tuple[list, list]:
    """Run x op by op on a fresh interpreter: (the nodes, a copy of every op's first output).
    Copies, because later ops reuse the arena bytes of earlier ones."""
    other = fresh(interpreter)
    other.set_input(np.asarray(x).reshape(other.get_input_details(0)["shape"]), 0)
    events = [(event.node, event.outputs[0].copy()) for event in other.steps()]
    return [node for node, _ in events], [out for _, out in events]


def scale_zero_point(interpreter, tensor_index: int) -> tuple[float, int]:
    """(scale, zero point) of one tensor of the main subgraph."""
    tensor = interpreter.micro.tensor(tensor_index)
    return tensor.scale, tensor.zero_point


def io_scale_zero_point(details: dict) -> tuple[float, int]:
    """(scale, zero point) from get_input_details() / get_output_details()."""
    q = details["quantization_parameters"]
    return float(q["scales"][0]), int(q["zero_points"][0])


def number(answer) -> float | None:
    """The answer as a float, or None when it is not one number."""
    try:
        value = float(np.asarray(answer).item()) if np.size(answer) == 1 else None
    except (TypeError, ValueError):
        return None
    return value if value is not None and np.isfinite(value) else None


def integer(answer) -> int | None:
    """The answer as an int, or None when it is not a whole number."""
    value = number(answer)
    return int(value) if value is not None and value == int(value) else None


def floats(values, digits: int = 4) -> str:
    """[0.0586, 0.9414]: numbers as a learner reads them (no float32 noise)."""
    return "[" + ", ".join(f"{float(v):.{digits}f}" for v in np.ravel(values)) + "]"


def not_answered(hint: str) -> Verdict:
    return Verdict(None, hint)


# ----------------------------------------------------------------------------- exercise 0.1


def check_person_probability(answer, interpreter, scores) -> Verdict:
    """0.1: the probability the int8 *person* score stands for, dequantized by hand."""
    if not answered(answer):
        return not_answered("dequantize the person score: real = scale x (q - zero_point), "
                            "with the output's scale and zero point from "
                            "interpreter.get_output_details(0)")
    scale, zero_point = io_scale_zero_point(interpreter.get_output_details(0))
    scores = np.asarray(scores).reshape(-1)
    probabilities = affine_dequantize(scores, scale, zero_point)
    expected, value = float(probabilities[PERSON]), number(answer)
    if value is not None and abs(value - float(scores[PERSON]) * scale) < 1e-3:
        return Verdict(False, "close: you scaled the int8 score but forgot to subtract the "
                              "zero point first")
    return verdict(value is not None and abs(value - expected) < 1.5e-3,
                   f"{scale:g} x ({int(scores[PERSON])} - ({zero_point})) = {expected:.4f}. The "
                   f"scores {scores.tolist()} stand for probabilities "
                   f"{floats(probabilities)}: they add up to about 1, as a "
                   f"softmax's must, in steps of 1/{round(1 / scale)}.",
                   "Take the person score (scores[0, 1]), subtract the output's zero "
                   "point, then multiply by its scale (three decimals are enough)")


# ----------------------------------------------------------------------------- exercise 0.2


def conv_mac_share(interpreter) -> tuple[float, dict]:
    """(share of all MACs done by CONV_2D ops, MACs per op name)."""
    micro = interpreter.micro
    per_name: dict = {}
    for node in micro.nodes:
        per_name[node.op_name] = per_name.get(node.op_name, 0) + micro.op_macs(node.index)
    total = sum(per_name.values())
    return (per_name.get("CONV_2D", 0) / total if total else 0.0), per_name


def check_conv_mac_share(answer, interpreter) -> Verdict:
    """0.2: the fraction of one invoke's multiply-accumulates done by the CONV_2D ops."""
    if not answered(answer):
        return not_answered("add up interpreter.micro.op_macs(node.index) over "
                            "interpreter.micro.nodes, once for all ops and once for the "
                            "ops whose op_name is 'CONV_2D'")
    share, per_name = conv_mac_share(interpreter)
    value = number(answer)
    if value is not None and 1 < value <= 100 and abs(value / 100 - share) < 0.005:
        return Verdict(False, "that looks like a percentage: give the fraction (0 to 1)")
    total = sum(per_name.values())
    breakdown = ", ".join(f"{name} {macs:,}" for name, macs in
                          sorted(per_name.items(), key=lambda kv: -kv[1]) if macs)
    return verdict(value is not None and abs(value - share) < 0.005,
                   f"{share:.3f} of {total:,} MACs ({breakdown}). In a MobileNet the 1x1 "
                   f"(pointwise) convolutions do almost all the multiplying; the 3x3 "
                   f"depthwise ones, which filter each channel on its own, are cheap.",
                   "Divide the CONV_2D ops' MACs by the MACs of all ops (two "
                   "decimals are enough)")


# ----------------------------------------------------------------------------- exercise 0.3


def first_overwriter(interpreter):
    """The node whose planned buffer is the first to reuse the input tensor's bytes, or None.
    Op i runs at plan time step i + 1 (step 0 is before the first op)."""
    micro = interpreter.micro
    index = micro.subgraph.inputs[0]
    source = next(b for b in micro.buffers if b.tensor_index == index and b.subgraph == 0)
    lo, hi = source.offset, source.offset + align_up(source.bytes)
    later = [b for b in micro.buffers if b.bytes > 0 and b is not source
             and b.first_created > source.last_used
             and b.offset < hi and lo < b.offset + align_up(b.bytes)]
    if not later:
        return None
    return micro.step_nodes[min(b.first_created for b in later)]


def check_input_overwriter(answer, interpreter) -> Verdict:
    """0.3: the index of the first op whose output is written over the input's bytes."""
    if not answered(answer):
        return not_answered("in the plan, find the input's letter and its offsets; the first "
                            "buffer created later whose bytes overlap them belongs to the op "
                            "you want (op i runs at time step i + 1)")
    node = first_overwriter(interpreter)
    if node is None:
        return Verdict(False, "in this model's plan no later buffer reuses the input's bytes")
    if isinstance(answer, str):
        return Verdict(False, "give the op's index (an int), not its name")
    value = integer(answer)
    if value == node.index + 1:
        return Verdict(False, "that is the plan's time step; op i runs at step i + 1")
    return verdict(value == node.index,
                   f"op {node.index} ({node.op_name}) writes its output over the bytes the "
                   f"image was in. The input is only alive until its last reader has run, so "
                   f"after op {node.index} the image is gone - that is why invoking again "
                   f"without set_input() gave another answer.",
                   "Look for a buffer whose first_used is after the input's "
                   "last_used and whose offset range overlaps the input's; which op creates it?")


# ----------------------------------------------------------------------------- exercise 0.4


def check_no_person_image(image, interpreter) -> Verdict:
    """0.4 (open): any input image the model answers *no person* to."""
    if not answered(image):
        return not_answered("load TFLM's no_person.bmp with load_tflm_test_image, or draw a "
                            "scene with make_scene(False, rng) and convert it with "
                            "camera_input")
    details = interpreter.get_input_details(0)
    image = np.asarray(image)
    if image.dtype != details["dtype"]:
        return Verdict(False, f"the model takes {np.dtype(details['dtype']).name} pixels, this "
                              f"image is {image.dtype}: camera_input() converts a camera frame")
    if image.size != int(np.prod(details["shape"])):
        return Verdict(False, f"the model takes {list(details['shape'])} values, this image "
                              f"has {image.size}")
    scores = run_once(interpreter, image).reshape(-1)
    return verdict(int(np.argmax(scores)) == NO_PERSON,
                   f"the model answers {scores.tolist()}: no person. Compare how sure it is "
                   f"with person.bmp's scores.",
                   f"the model answers {scores.tolist()}: it still sees a person here; "
                   f"try another picture")


__all__ = ["check_person_probability", "check_conv_mac_share", "check_input_overwriter",
           "check_no_person_image"]
