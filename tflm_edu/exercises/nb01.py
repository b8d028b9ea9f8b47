"""Checks for the exercises of notebooks/01_hello_world.ipynb: quantizing an input and reading
an output range by hand, calibration on too few samples, ReLU in int8, and a smaller model.

Each check reads the learner's own interpreters (`host`, `few_host`), their stepped input and
their test set, so it holds for whatever model their training run produced.
"""
from __future__ import annotations

import numpy as np

from tflm_edu.exercises.core import Verdict, answered, verdict
from tflm_edu.exercises.nb00 import (integer, io_scale_zero_point, not_answered, number,
                                     scale_zero_point, stepped)
from tflm_edu.quantization import affine_dequantize, affine_quantize

MSE_LIMIT = 0.02       # the notebook's bar for the sine model's int8 test MSE (noise costs 0.01)

# ----------------------------------------------------------------------------- exercise 1.1


def check_quantized_pi(answer, host) -> Verdict:
    """1.1: the int8 value x = pi enters the model as."""
    if not answered(answer):
        return not_answered("q = round(x / scale) + zero_point, with the scale and zero point "
                            "of host.get_input_details(0), clamped to -128..127")
    scale, zero_point = io_scale_zero_point(host.get_input_details(0))
    expected = int(affine_quantize(np.float32(np.pi), scale, zero_point))
    value = integer(answer)
    if value is not None and value == expected - zero_point:
        return Verdict(False, "you divided by the scale; now add the zero point")
    return verdict(value == expected,
                   f"round({np.pi:.5f} / {scale:.6f}) + ({zero_point}) = {expected}. Going "
                   f"back, {expected} stands for {scale:.6f} x ({expected} - ({zero_point})) = "
                   f"{float(affine_dequantize(expected, scale, zero_point)):.5f}: the model "
                   f"never sees pi itself, only the nearest of 256 steps.",
                   "Divide pi by the input scale, round to the nearest integer, add "
                   "the zero point")


# ----------------------------------------------------------------------------- exercise 1.2


def output_range(host) -> tuple[float, float]:
    """The real values of the output's int8 extremes, -128 and 127."""
    scale, zero_point = io_scale_zero_point(host.get_output_details(0))
    lo, hi = affine_dequantize(np.array([-128, 127]), scale, zero_point)
    return float(lo), float(hi)


def check_output_range(answer, host) -> Verdict:
    """1.2: the smallest and the largest value the int8 model can ever output."""
    if not answered(answer) or (isinstance(answer, tuple) and not all(map(answered, answer))):
        return not_answered("the output is int8: dequantize -128 and 127 with the scale and "
                            "zero point of host.get_output_details(0)")
    lo, hi = output_range(host)
    try:
        low, high = (float(v) for v in answer)
    except (TypeError, ValueError):
        return Verdict(False, "give two numbers: (smallest, largest)")
    scale, zero_point = io_scale_zero_point(host.get_output_details(0))
    return verdict(abs(low - lo) < 1e-3 and abs(high - hi) < 1e-3,
                   f"from {lo:.4f} to {hi:.4f}, in 255 stairs of {scale:.6f}. Calibration "
                   f"set that range from what the float model output on the training "
                   f"inputs: the int8 model can never answer more than {hi:.4f}, however "
                   f"large the float result would be - the clamp is part of the model.",
                   "Dequantize: real = scale x (q - zero_point) for q = -128 and q = 127 "
                   "(mind the sign of the zero point)")


# ----------------------------------------------------------------------------- exercise 1.3


def largest_input(interpreter) -> float:
    """The largest real value the input's int8 range reaches: scale x (127 - zero point)."""
    scale, zero_point = io_scale_zero_point(interpreter.get_input_details(0))
    return float(affine_dequantize(127, scale, zero_point))


def check_few_sample_calibration(answer, few_host, host) -> Verdict:
    """1.3: the largest x the model calibrated on 10 samples can take in, from few_host."""
    if not answered(answer) or not answered(few_host):
        return not_answered("quantize float_model with x_train[:10] as calibration data, load "
                            "it as few_host, then dequantize the int8 value 127 with its "
                            "input scale and zero point")
    expected, full = largest_input(few_host), largest_input(host)
    if abs(expected - full) < 1e-6:
        return Verdict(False, "few_host's input range is host's: quantize float_model again "
                              "with x_train[:10] as calibration data")
    value = number(answer)
    if value is not None and abs(value - full) < 1e-3:
        return Verdict(False, "that is host's limit; ask few_host")
    return verdict(value is not None and abs(value - expected) < 1e-3,
                   f"{expected:.4f}, against {full:.4f} for the model calibrated on all the "
                   f"training samples. The input's range is the range calibration saw: "
                   f"any x above {expected:.4f} is clamped to 127, so the model gives all of "
                   f"them the answer it gives {expected:.2f}. Every stage calibrated on 10 "
                   f"samples has such a blind spot - compare both models' test MSE with "
                   f"run_model to see what it costs.",
                   "Read the scale and zero point from few_host.get_input_details(0); "
                   "the largest int8 value is 127")


# ----------------------------------------------------------------------------- exercise 1.4


def silenced(host, x_int8) -> tuple[int, int, int]:
    """(how many of op 0's outputs are the real value 0, how many outputs, the int8 that
    stands for 0) for input x_int8."""
    nodes, outputs = stepped(host, x_int8)
    _, zero_point = scale_zero_point(host, nodes[0].outputs[0])
    zero = max(zero_point, -128)          # ReLU's floor is the real 0
    first = outputs[0].reshape(-1)
    return int(np.sum(first == zero)), first.size, zero


def check_silenced_neurons(answer, host, x_int8) -> Verdict:
    """1.4: how many of the first layer's neurons ReLU silences for the stepped input."""
    if not answered(answer):
        return not_answered("step to op 0 (next(host.steps())) and count its outputs equal to "
                            "the int8 value that stands for 0 - the output tensor's zero point")
    count, size, zero = silenced(host, x_int8)
    return verdict(integer(answer) == count,
                   f"{count} of {size}: those neurons' sums were negative, and the fused "
                   f"ReLU clamped them to 0.0, which in int8 is the zero point {zero}. They "
                   f"add nothing to the next layer for this x; other x values silence "
                   f"other neurons.",
                   f"The op 0 output tensor's zero point is the int8 value of 0.0 "
                   f"(host.micro.tensor(i).zero_point for i = the op's output index); count "
                   f"how many of its {size} outputs equal it")


# ----------------------------------------------------------------------------- exercise 1.5


def weight_count(interpreter) -> int:
    """How many numbers the model's constant tensors (weights and biases) hold."""
    return sum(int(t.data.size) for t in interpreter.micro.tensors if t.is_constant)


def int8_test_mse(interpreter, x_test, y_test) -> float:
    from tflm_edu.evaluate import run_model
    predicted = run_model(interpreter, x_test, dequantize=True, progress=False)
    return float(np.mean((predicted.reshape(np.shape(y_test)) - y_test) ** 2))


def check_smaller_model(small_int8_bytes, int8_bytes, x_test, y_test) -> Verdict:
    """1.5 (open): an int8 sine model with at most half the weights and int8 test MSE below
    MSE_LIMIT; says what it saves in flash and in the arena."""
    if not answered(small_int8_bytes):
        return not_answered("build a Sequential with fewer neurons, train it, then convert, "
                            "quantize and write it as in section 5: pass the .tflite bytes")
    from tflm_edu.arena_size import estimate_arena_size
    from tflm_edu.runtime import Interpreter
    small, original = (Interpreter.from_bytes(b) for b in (small_int8_bytes, int8_bytes))
    weights, limit = weight_count(small), weight_count(original) // 2
    if weights > limit:
        return Verdict(False, f"your model has {weights} weights; at most {limit} (half of "
                              f"{weight_count(original)}) is the goal")
    mse = int8_test_mse(small, x_test, y_test)
    if not mse < MSE_LIMIT:
        return Verdict(False, f"int8 test MSE {mse:.4f} is not below {MSE_LIMIT}: too few "
                              f"neurons, or too few epochs to learn the curve")
    arenas = [estimate_arena_size(b, "cortex-m").arena_bytes
              for b in (small_int8_bytes, int8_bytes)]
    same = ("the same arena: an int8 activation of 16 values or of 8 fills one 16-byte "
            "aligned slot all the same, and the tail holds one set of structs per tensor and "
            "op however small they are" if arenas[0] == arenas[1] else
            f"an arena {arenas[1] - arenas[0]:,} bytes smaller: fewer tensors or ops mean "
            f"fewer structs in the tail")
    return Verdict(True, f"{weights} weights against {weight_count(original)}, int8 test MSE "
                         f"{mse:.4f}. The .tflite shrinks from {len(int8_bytes):,} to "
                         f"{len(small_int8_bytes):,} bytes of flash, but on a Cortex-M the "
                         f"arena is {arenas[0]:,} bytes against {arenas[1]:,}: {same}.")


__all__ = ["check_quantized_pi", "check_output_range", "check_few_sample_calibration",
           "check_silenced_neurons", "check_smaller_model", "MSE_LIMIT"]
