"""Checks for the exercises of notebooks/10_training.ipynb.

10.1 a layer's output shape and parameter count, by hand (check_layer_size)
10.2 which learning rate trained best (check_learning_rate)
10.3 a callback that stops training early (check_stop_callback)
"""
from __future__ import annotations

import copy

import numpy as np

from tflm_edu.exercises.core import Verdict, answered, compare


def check_layer_size(output_shape, params, layer, input_shape) -> Verdict:
    """The output shape (per sample, no batch axis) and the number of weights of `layer`
    when it receives `input_shape`: computed by building a copy of the learner's layer."""
    if not answered(output_shape) or not answered(params):
        return Verdict(None, "work out the output shape (height, width, channels) from the "
                             "padding rule, and the weights: kernel height x width x input "
                             "channels x filters, plus one bias per filter.")
    built = copy.deepcopy(layer)
    expected_shape = tuple(int(d) for d in built.build(tuple(input_shape)))
    expected_params = built.count_params()
    shape_ok = compare(tuple(np.ravel(output_shape)), expected_shape, hint="").correct
    params_ok = compare(params, expected_params, hint="").correct
    if shape_ok and params_ok:
        return Verdict(True, f"{layer} on {tuple(input_shape)} gives {expected_shape} with "
                             f"{expected_params:,} weights ({built.kernel.size:,} in the kernel, "
                             f"{expected_params - built.kernel.size:,} biases).")
    if not shape_ok:
        return Verdict(False, f"the output shape {tuple(np.ravel(output_shape))} is not right. "
                              f"padding='same' keeps ceil(in / stride) positions, "
                              f"padding='valid' keeps (in - kernel) // stride + 1; the channels "
                              f"are the filters.")
    return Verdict(False, f"the shape is right, the count of weights {params} is not: the "
                          f"kernel is (kh, kw, in_channels, filters), and each filter has one "
                          f"bias.")


def check_learning_rate(best_rate, histories: dict) -> Verdict:
    """The learning rate (a key of `histories`, {rate: History}) whose last validation loss
    is the lowest."""
    finals = {rate: h["val_loss"][-1] for rate, h in histories.items()}
    expected = min(finals, key=finals.get)
    worst = max(finals, key=finals.get)
    result = compare(best_rate, expected, rel=1e-9,
                     hint="compare each History's last 'val_loss': the lowest wins. A rate "
                          "too small has not arrived yet; a rate too large jumps past the "
                          "minimum.",
                     right=f"{expected} ends at val_loss {finals[expected]:.4g}; the worst, "
                           f"{worst}, at {finals[worst]:.4g}. Too small a rate crawls, too "
                           f"large a rate overshoots: the best one depends on the model and "
                           f"on how long you train.")
    if result.correct is False and not any(compare(best_rate, r, hint="", rel=1e-9)
                                           for r in finals):
        return Verdict(False, f"{best_rate!r} is not one of the rates trained: "
                              f"{sorted(finals)}.")
    return result


def _synthetic_history(val_losses):
    """The histories fit() would hand a callback, epoch by epoch, for these val_losses."""
    from tflm_edu.train import History
    history = History()
    for value in val_losses:
        history.append({"loss": 1.2 * value, "mae": value ** 0.5, "val_loss": value,
                        "val_mae": value ** 0.5})
        yield history


def check_stop_callback(callback, target: float) -> Verdict:
    """`callback(epoch, history)` must return a true value at the first epoch whose
    validation loss is below `target`, and a false one before. It is tried on made-up
    training runs: one that crosses `target`, and one that never does."""
    if not answered(callback):
        return Verdict(None, "write a function callback(epoch, history) that returns True "
                             "once history['val_loss'][-1] < target, and None (or False) "
                             "otherwise.")
    if not callable(callback):
        return Verdict(False, "a callback is something fit() can call: a function (or an "
                              "object with __call__) taking (epoch, history).")
    crossing = [2.0 * target, 1.5 * target, 1.1 * target, 0.9 * target, 0.5 * target]
    never = [4.0 * target, 2.0 * target, 1.2 * target, 1.05 * target]
    for run in (crossing, never):
        for epoch, history in enumerate(_synthetic_history(run)):
            try:
                stop = callback(epoch, history)
            except Exception as e:   # the learner's code: report it, never raise
                return Verdict(False, f"your callback raised {type(e).__name__}: {e}")
            should = history["val_loss"][-1] < target
            if bool(stop) != should:
                seen = ", ".join(f"{v:.3g}" for v in history["val_loss"])
                return Verdict(False, f"with val_loss {seen} so far (target {target:g}) it "
                                      f"returned {stop!r}; it should "
                                      f"{'stop' if should else 'go on'}. Read the last "
                                      f"value, history['val_loss'][-1].")
            if should:
                break
    return Verdict(True, f"it stops at the first epoch below {target:g} and never before. "
                         f"fit() calls every callback after each epoch, and any true value "
                         f"ends the training.")
