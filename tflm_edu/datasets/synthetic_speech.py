"""Synthetic keyword audio for micro_speech, for learners without Speech Commands.

The voices are real recordings of a speech synthesiser: datasets/speech_commands_synth/
holds eSpeak NG clips of yes, no and eight unknown words by twenty synthetic
"speakers", plus background noise, laid out exactly like Speech Commands (made once
by datasets/make_speech_bundle.py; nothing is synthesised at run time). This module
indexes that folder with speech_commands.SpeechCommands - the same loader as for the
real dataset, same hash-of-speaker split - and renders as many augmented clips as
asked for, in equal numbers per class: each shifted in time, mixed with background
noise (input_data.py's augmentation) and scaled in gain, all deterministic by seed.

The real TFLM micro_speech model recognises most bundled yes and no clips (see
test_datasets_synthetic.py), so they sound like the words it was trained on.
"""
from __future__ import annotations

import numpy as np

from tflm_edu.display import shown

from tflm_edu.datasets.bundled import SPEECH, bundled
from tflm_edu.datasets.errors import DatasetError
from tflm_edu.datasets.speech_commands import SILENCE_LABEL, Example, SpeechCommands


def bundled_speech(wanted_words=("yes", "no"), **options) -> SpeechCommands:
    """The bundled eSpeak NG clips as a SpeechCommands dataset (same options)."""
    return SpeechCommands(bundled(SPEECH), wanted_words, **options)


def class_pools(speech: SpeechCommands, mode: str) -> list[list[Example]]:
    """Every example of one set, grouped by label index (silence, unknown, words...)."""
    pools = [[] for _ in speech.words_list]
    pools[0].append(Example(SILENCE_LABEL, None))
    for e in speech.data_index[mode]:
        if e.label != SILENCE_LABEL:
            pools[speech.word_to_index[e.label]].append(e)
    empty = [speech.words_list[i] for i, pool in enumerate(pools) if not pool]
    if empty:
        raise DatasetError(f"{speech.data_dir}: the {mode} set has no examples of {', '.join(empty)}")
    return pools


def apply_gain(clips: np.ndarray, rng, gain_db=(-10.0, 6.0)) -> np.ndarray:
    """Each clip louder or quieter by a random number of decibels (saturating)."""
    gains = 10 ** (rng.uniform(*gain_db, size=(len(clips), 1)) / 20)
    return np.clip(np.round(clips * gains), -32768, 32767).astype(np.int16)


def make_speech_dataset(n_per_class: int = 50, seed: int = 0, mode: str = "training",
                        wanted_words=("yes", "no"), gain_db=(-10.0, 6.0),
                        background_frequency: float = 0.8, background_volume_range: float = 0.2,
                        time_shift_ms: float = 100.0, features_fn=None):
    """(int16 [C n, 16000] audio, labels [C n]): n clips of each class, shuffled.

    Classes are speech.words_list: 0 silence, 1 unknown, then wanted_words. mode
    picks the speakers (training, validation or testing), so a validation set made
    here has voices the training set never heard. features_fn as in get_data().
    """
    speech = bundled_speech(wanted_words, silence_percentage=0, unknown_percentage=1e9)
    pools = class_pools(speech, mode)
    rng = np.random.default_rng(seed)
    examples = [pool[int(rng.integers(len(pool)))] for pool in pools for _ in range(n_per_class)]
    order = rng.permutation(len(examples))
    examples = [examples[i] for i in order]
    # Always augment: a generator should not repeat the same few validation clips.
    audio, labels = speech.render(examples, rng, training=True, background_frequency=background_frequency,
                                  background_volume_range=background_volume_range,
                                  time_shift_ms=time_shift_ms)
    audio = apply_gain(audio, rng, gain_db)
    if features_fn is not None:
        audio = np.stack([np.asarray(features_fn(clip)) for clip in audio])
    return audio, labels


def plot_samples(audio, labels, words_list=("_silence_", "_unknown_", "yes", "no"),
                 per_class: int = 2, sample_rate: int = 16000):
    """Figure: waveform and spectrogram of a few clips per class."""
    import matplotlib.pyplot as plt
    classes = range(len(words_list))
    fig, axes = plt.subplots(2, len(words_list) * per_class, figsize=(2.2 * len(words_list) * per_class, 4),
                             squeeze=False)
    column = 0
    for c in classes:
        for i in np.flatnonzero(np.asarray(labels) == c)[:per_class]:
            clip = np.asarray(audio[i], np.float32) / 32768
            axes[0, column].plot(np.arange(len(clip)) / sample_rate, clip, lw=0.5)
            axes[0, column].set(ylim=(-1, 1), title=f"{words_list[c]} #{i}")
            with np.errstate(divide="ignore"):  # a silent clip has log(0) bins
                axes[1, column].specgram(clip, NFFT=512, Fs=sample_rate, noverlap=192, cmap="magma",
                                         vmin=-140, vmax=-20)
            axes[1, column].set(ylim=(0, 8000))
            column += 1
    for ax in axes.ravel()[1:]:
        ax.tick_params(labelsize=6)
    for ax in axes[:, column:].ravel():
        ax.axis("off")
    axes[1, 0].set(ylabel="Hz")
    fig.tight_layout()
    return shown(fig)
