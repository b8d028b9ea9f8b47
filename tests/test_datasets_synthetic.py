"""Synthetic data: deterministic by seed, learnable, and recognised by TFLM's own models.

Learnable is shown with the smallest honest learner: a linear softmax on simple,
shift-tolerant features, trained on one seed and tested on another (for speech: on
speakers it never heard). Realism is shown by the reference models, trained only on
the real datasets, recognising the synthetic data far above chance.
"""
from pathlib import Path

import numpy as np
import pytest

from tflm_edu.datasets import (bundled_speech, make_gesture_dataset, make_scene_dataset,
                               make_speech_dataset, plot_gesture_samples, plot_scene_samples,
                               plot_speech_samples, read_wav)
from tflm_edu.datasets.pipelines import to_int8

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference"


def fit_linear(features, labels, classes, steps=400, lr=0.5):
    """Softmax regression by gradient descent on standardised features; returns predict()."""
    mu, sd = features.mean(0), features.std(0) + 1e-9
    z = (features - mu) / sd
    w, b, onehot = np.zeros((z.shape[1], classes)), np.zeros(classes), np.eye(classes)[labels]
    for _ in range(steps):
        p = np.exp(z @ w + b - (z @ w + b).max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        w -= lr * (z.T @ (p - onehot) / len(z) + 1e-3 * w)
        b -= lr * (p - onehot).mean(0)
    return lambda f: (((f - mu) / sd) @ w + b).argmax(1)


def reference_interpreter(model):
    runtime = pytest.importorskip("tflite_micro.python.tflite_micro.runtime")
    if not REFERENCE.is_dir():
        pytest.skip("../shared/reference not available")
    return runtime.Interpreter.from_file(str(REFERENCE / "models" / model), arena_size=100000)


def run(interpreter, x):
    interpreter.set_input(x, 0)
    interpreter.invoke()
    return interpreter.get_output(0).copy()


# --- gestures ------------------------------------------------------------------------

def gesture_features(x):
    """Per-axis spectrum magnitudes (blind to when the gesture happens), mean and spread."""
    spectrum = np.abs(np.fft.rfft(x - x.mean(1, keepdims=True), axis=1))[:, 1:25]
    return np.concatenate([spectrum.reshape(len(x), -1), x.mean(1), x.std(1)], 1)


def test_gestures_are_seeded_shaped_and_in_milli_g():
    x, y = make_gesture_dataset(5, seed=4)
    assert x.shape == (20, 128, 3) and x.dtype == np.float32 and sorted(np.bincount(y)) == [5] * 4
    assert np.array_equal(x, make_gesture_dataset(5, seed=4)[0])
    assert not np.array_equal(x, make_gesture_dataset(5, seed=5)[0])
    assert np.abs(x).max() <= 4000
    at_rest = np.linalg.norm(x[:, :5], axis=2)  # windows start resting (or drawing slowly)
    assert 800 < np.median(at_rest) < 1200     # about 1 g


def test_gestures_are_learnable():
    x, y = make_gesture_dataset(40, seed=0)
    x2, y2 = make_gesture_dataset(20, seed=1)
    predict = fit_linear(gesture_features(x), y, 4)
    assert (predict(gesture_features(x2)) == y2).mean() >= 0.85


def test_reference_magic_wand_recognises_synthetic_gestures():
    interpreter = reference_interpreter("magic_wand.tflite")
    x, y = make_gesture_dataset(25, seed=3)
    predicted = np.array([run(interpreter, w.reshape(1, 128, 3, 1)).argmax() for w in x])
    recall = [(predicted[y == c] == c).mean() for c in range(4)]
    assert np.mean(recall[:3]) >= 0.4 and recall[3] >= 0.8, recall  # chance is 0.25


# --- scenes --------------------------------------------------------------------------

def gradient_histograms(images, cells=6, bins=8):
    """HOG-like: gradient-orientation histograms in a 6x6 grid of cells."""
    x = images.astype(np.float32)
    gx, gy = np.zeros_like(x), np.zeros_like(x)
    gx[:, :, 1:-1], gy[:, 1:-1] = x[:, :, 2:] - x[:, :, :-2], x[:, 2:] - x[:, :-2]
    magnitude, angle = np.hypot(gx, gy), np.minimum((np.arctan2(gy, gx) % np.pi) / np.pi * bins, bins - 1)
    n, size = len(x), x.shape[1] // cells
    hist = np.stack([(magnitude * (angle.astype(int) == k)).reshape(n, cells, size, cells, size).sum((2, 4))
                     for k in range(bins)], -1)
    return (hist / (hist.sum(-1, keepdims=True) + 1e-6)).reshape(n, -1)


def test_scenes_are_seeded_and_uint8():
    x, y = make_scene_dataset(4, seed=2, width=120, height=80)
    assert x.shape == (8, 80, 120) and x.dtype == np.uint8 and list(np.bincount(y)) == [4, 4]
    assert np.array_equal(x, make_scene_dataset(4, seed=2, width=120, height=80)[0])
    assert not np.array_equal(x, make_scene_dataset(4, seed=3, width=120, height=80)[0])


def test_scenes_are_learnable():
    x, y = make_scene_dataset(250, seed=0)
    x2, y2 = make_scene_dataset(100, seed=1)
    predict = fit_linear(gradient_histograms(x), y, 2)
    assert (predict(gradient_histograms(x2)) == y2).mean() >= 0.65  # a CNN does far better


def test_reference_person_detect_sees_the_synthetic_people():
    interpreter = reference_interpreter("person_detect.tflite")
    x, y = make_scene_dataset(30, seed=5)
    inputs = to_int8(x, "shift").reshape(-1, 1, 96, 96, 1)
    predicted = np.array([run(interpreter, image).argmax() for image in inputs])
    assert (predicted[y == 1] == 1).mean() >= 0.5 and (predicted[y == 0] == 0).mean() >= 0.7


# --- speech --------------------------------------------------------------------------

def log_spectrum(clip):
    """24 log band energies of 49 frames of 30 ms, as a crude stand-in for the frontend."""
    frames = np.lib.stride_tricks.sliding_window_view(clip.astype(np.float32) / 32768, 480)[::320][:49]
    power = np.abs(np.fft.rfft(frames * np.hanning(480), 512, axis=1)) ** 2
    return np.log(np.stack([power[:, b].sum(1) for b in np.array_split(np.arange(1, 257), 24)], 1) + 1e-6)


def speech_features(spectra):
    weight = np.exp(spectra.mean(2))
    weight /= weight.sum(1, keepdims=True)
    return np.concatenate([spectra.mean(1), spectra.max(1), (spectra * weight[..., None]).sum(1)], 1)


def test_speech_is_seeded_balanced_int16():
    audio, labels = make_speech_dataset(3, seed=1)
    assert audio.shape == (12, 16000) and audio.dtype == np.int16 and list(np.bincount(labels)) == [3] * 4
    assert np.array_equal(audio, make_speech_dataset(3, seed=1)[0])
    assert not np.array_equal(audio, make_speech_dataset(3, seed=2)[0])


def test_speech_is_learnable_on_unheard_speakers():
    x, y = make_speech_dataset(60, seed=0, features_fn=log_spectrum)
    x2, y2 = make_speech_dataset(30, seed=1, mode="testing", features_fn=log_spectrum)
    predict = fit_linear(speech_features(x), y, 4)
    assert (predict(speech_features(x2)) == y2).mean() >= 0.8


def test_reference_micro_speech_hears_the_bundled_keywords():
    preprocessor = reference_interpreter("audio_preprocessor_int8.tflite")
    model = reference_interpreter("micro_speech_quantized.tflite")

    def classify(clip):
        preprocessor.reset()
        features = [run(preprocessor, clip[i * 320:i * 320 + 480].reshape(1, 480)).ravel() for i in range(49)]
        return run(model, np.concatenate(features).reshape(1, 1960).astype(np.int8)).argmax()

    speech = bundled_speech()
    for word, index in (("yes", 2), ("no", 3)):
        files = sorted((speech.data_dir / word).glob("*.wav"))[::2]
        hits = np.mean([classify(read_wav(f)) == index for f in files])
        assert hits >= 0.8, (word, hits)


def test_plots_are_figures():
    import matplotlib.figure
    audio, labels = make_speech_dataset(2, seed=0)
    assert isinstance(plot_speech_samples(audio, labels), matplotlib.figure.Figure)
    assert isinstance(plot_gesture_samples(*make_gesture_dataset(2)), matplotlib.figure.Figure)
    assert isinstance(plot_scene_samples(*make_scene_dataset(3)), matplotlib.figure.Figure)
