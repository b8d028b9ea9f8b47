"""Checks for the exercises of notebooks/11_data.ipynb.

11.1 the accuracy of always guessing the most common word (check_majority_baseline)
11.2 a feature by hand: the loudness (RMS) of every 20 ms (check_rms_feature)
11.3 an augmentation of your own for wand gestures (check_augmentation)
"""
from __future__ import annotations

import numpy as np

from tflm_edu.exercises.core import Verdict, answered, compare

FRAMES = 50   # 20 ms frames in one second of 16 kHz audio: 50 frames of 320 samples
MAX_LAG = 16  # readings (0.64 s at 25 Hz) a gesture may move in time and stay the same


def check_majority_baseline(answer, speech, mode: str = "training") -> Verdict:
    """The accuracy (a fraction) of a model that always answers the most common class of
    `speech`'s `mode` set - what a trained model must beat."""
    counts = speech.label_counts(mode)
    total = sum(counts.values())
    common = max(counts, key=counts.get)
    expected = counts[common] / total
    result = compare(answer, expected, abs_tol=0.005,
                     hint=f"count the {mode} examples of each class (label_counts), take the "
                          f"largest count and divide by the total. Give a fraction: 0.25 for "
                          f"a quarter.",
                     right=f"always answering {common!r} is right {counts[common]} times out "
                           f"of {total}: {expected:.3f}. A model has learned something only "
                           f"above that - and accuracy alone hides which classes it gets "
                           f"wrong.")
    if result.correct is False and _is_number(answer) and 1 < float(answer) <= 100:
        return Verdict(False, f"{answer} looks like a percentage: give a fraction between 0 "
                              f"and 1.")
    return result


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, bool)


def rms_frames(clip, frames: int = FRAMES) -> np.ndarray:
    """The reference answer: root mean square of each of `frames` equal slices, in float64."""
    samples = np.asarray(clip, np.float64).reshape(frames, -1)
    return np.sqrt((samples ** 2).mean(axis=1))


def check_rms_feature(rms, audio, clips: int = 4) -> Verdict:
    """`rms(clip)`, for an int16 clip of 16,000 samples, must return the 50 root-mean-square
    values of its 20 ms frames. Tried on the first `clips` clips of `audio`."""
    if not answered(rms):
        return Verdict(None, "write rms(clip): cut the clip into 50 frames of 320 samples "
                             "(reshape), and take sqrt(mean(x²)) of each frame.")
    if not callable(rms):
        return Verdict(False, "rms must be a function of one clip, like loudness above.")
    for k, clip in enumerate(np.asarray(audio)[:clips]):
        try:
            got = np.asarray(rms(clip.copy()), np.float64)
        except Exception as e:   # the learner's code: report it, never raise
            return Verdict(False, f"rms(audio[{k}]) raised {type(e).__name__}: {e}")
        expected = rms_frames(clip)
        if got.shape != expected.shape:
            return Verdict(False, f"rms(audio[{k}]) has shape {got.shape}; one value per 20 ms "
                                  f"frame gives {expected.shape}.")
        if not np.allclose(got, expected, rtol=1e-4, atol=1e-3):
            frame = int(np.argmax(np.abs(got - expected)))
            overflow = (" Squaring int16 samples overflows: convert to float first."
                        if np.any(~np.isfinite(got) | (got < expected - 1)) else "")
            return Verdict(False, f"frame {frame} of audio[{k}]: you give {got[frame]:.2f}, "
                                  f"its RMS is {expected[frame]:.2f}.{overflow}")
    return Verdict(True, f"RMS is the loudness an audio meter shows; the micro frontend's 40 "
                         f"filterbank channels are the same idea split by frequency. (audio[0] "
                         f"peaks at {rms_frames(np.asarray(audio)[0]).max():.0f}.)")


def check_augmentation(augment, windows, tries: int = 4, min_correlation: float = 0.7
                       ) -> Verdict:
    """`augment(window, rng)` must return a new [128, 3] window (milli-g) that is different,
    still recognisably the same gesture (correlation with the original, at the best shift
    of up to MAX_LAG readings, at least `min_correlation`), leave its input untouched, and draw randomness only from `rng`
    (the same seed gives the same window). Tried on `tries` windows of `windows`."""
    if not answered(augment):
        return Verdict(None, "write augment(window, rng) returning a changed copy of the "
                             "[128, 3] window: a small rotation of the wand, a gain, noise, "
                             "a shift in time...")
    if not callable(augment):
        return Verdict(False, "augment must be a function (window, rng) -> window.")
    windows = np.asarray(windows, np.float32)
    picks = np.linspace(0, len(windows) - 1, tries).astype(int)
    correlations = []
    for k in picks:
        original = windows[k].copy()
        given = original.copy()
        try:
            first = augment(given, np.random.default_rng(k))
            again = augment(original.copy(), np.random.default_rng(k))
        except Exception as e:   # the learner's code: report it, never raise
            return Verdict(False, f"augment(windows[{k}], rng) raised {type(e).__name__}: {e}")
        problem = _augmentation_problem(k, original, given, first, again, min_correlation)
        if problem:
            return Verdict(False, problem)
        correlations.append(best_lag_correlation(original, np.asarray(first)))
    return Verdict(True, f"a new window, still the same gesture (correlation with the "
                         f"original {min(correlations):.2f} to {max(correlations):.2f}), "
                         f"reproducible by seed. Every augmentation is a claim about the "
                         f"sensor: check it draws something a wand could really record.")


def best_lag_correlation(a, b, max_lag: int = MAX_LAG) -> float:
    """The largest correlation of two windows, one shifted against the other by up to
    `max_lag` readings: a gesture drawn a moment later is still the same gesture."""
    best = -1.0
    for lag in range(-max_lag, max_lag + 1):
        x, y = (a[lag:], b[:len(b) - lag]) if lag >= 0 else (a[:lag], b[-lag:])
        if np.std(x) > 0 and np.std(y) > 0:
            best = max(best, float(np.corrcoef(x.ravel(), y.ravel())[0, 1]))
    return best


def _augmentation_problem(k, original, given, first, again, min_correlation) -> str:
    """What is wrong with one augmented window, or ''."""
    if not np.array_equal(given, original):
        return (f"augment changed the window it was given (windows[{k}]): work on a copy "
                f"(window.copy(), or build a new array).")
    first = np.asarray(first)
    if first.shape != original.shape:
        return f"augment returned shape {first.shape}; a window is {original.shape}."
    if not np.all(np.isfinite(first)):
        return "augment returned NaN or infinite values."
    if not np.array_equal(first, np.asarray(again)):
        return ("two calls with the same seed gave different windows: draw every random "
                "number from rng (rng.normal, rng.uniform, ...), not np.random.")
    if np.abs(first - original).max() < 1.0:
        return "the window came back (almost) unchanged: change it by more than 1 milli-g."
    correlation = best_lag_correlation(original, first)
    if not correlation >= min_correlation:
        return (f"windows[{k}] changed so much that it hardly looks like the gesture any "
                f"more (correlation {correlation:.2f}, below {min_correlation}): augment "
                f"gently.")
    return ""
