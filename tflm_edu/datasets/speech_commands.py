"""Speech Commands: the folder of one-second WAVs that micro_speech is trained on.

Mirrors TensorFlow's speech example, tensorflow/examples/speech_commands/input_data.py
(the AudioProcessor that TFLM's micro_speech training notebook drives): which_set()
and its hash-of-speaker split, prepare_data_index() with its silence and unknown
sampling, and get_data() with background-noise mixing and time-shift augmentation.
The differences are deliberate: numpy instead of a TF graph, every random choice
drawn from a seeded numpy Generator, and the result is int16 audio - what the micro
frontend consumes (input_data.py's 'micro' preprocessing) - with a features_fn hook
where that frontend plugs in.

The dataset folder (Speech Commands v2 layout):

    yes/0a7c2a8d_nohash_0.wav ...          one folder per word, 16 kHz mono int16
    _background_noise_/white_noise.wav ...  long noise recordings mixed in while training
    validation_list.txt, testing_list.txt   optional: the official split, one path per line
"""
from __future__ import annotations

import hashlib
import math
import random
import re
import struct
import wave
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from tflm_edu.datasets.errors import DatasetError, file_error

SILENCE_LABEL = "_silence_"
SILENCE_INDEX = 0
UNKNOWN_WORD_LABEL = "_unknown_"
UNKNOWN_WORD_INDEX = 1
BACKGROUND_NOISE_DIR_NAME = "_background_noise_"
MAX_NUM_WAVS_PER_CLASS = 2**27 - 1  # ~134M, as in input_data.py
RANDOM_SEED = 59185                 # input_data.py's seed for picking unknowns
SAMPLE_RATE = 16000
SETS = ("validation", "testing", "training")


# --- WAV files ---------------------------------------------------------------------

def read_wav(path, sample_rate: int | None = SAMPLE_RATE) -> np.ndarray:
    """A mono 16-bit PCM WAV file as int16 samples; anything else is a DatasetError."""
    try:
        with wave.open(str(path), "rb") as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            frames = w.getnframes()
            raw = w.readframes(frames)
    except (wave.Error, EOFError, OSError, struct.error) as e:
        raise file_error(path, f"not a readable PCM WAV file ({e})") from None
    if channels != 1:
        raise file_error(path, f"has {channels} channels; expected mono")
    if width != 2:
        raise file_error(path, f"has {8 * width}-bit samples; expected 16-bit PCM")
    if sample_rate is not None and rate != sample_rate:
        raise file_error(path, f"is sampled at {rate} Hz; expected {sample_rate} Hz")
    if len(raw) != frames * 2 or frames == 0:
        raise file_error(path, f"is truncated: its header promises {frames} samples, "
                               f"the file holds {len(raw) // 2}")
    return np.frombuffer(raw, dtype="<i2").astype(np.int16)


def write_wav(path, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write int16 samples as a mono 16-bit PCM WAV file."""
    samples = np.asarray(samples)
    if samples.dtype != np.int16 or samples.ndim != 1:
        raise ValueError(f"write_wav wants 1-D int16 samples, got {samples.dtype} {samples.shape}")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(samples.astype("<i2").tobytes())


# --- which set a file belongs to ---------------------------------------------------

def which_set(filename, validation_percentage: float, testing_percentage: float) -> str:
    """'training', 'validation' or 'testing', decided by a hash of the speaker.

    Everything after '_nohash_' is dropped first, so all clips of one speaker (the
    part before it) land in the same set, and adding files later never moves old
    ones. Note the constants: the hash is taken modulo 2**27 (MAX_NUM_WAVS_PER_CLASS
    + 1) and scaled by 100 / MAX_NUM_WAVS_PER_CLASS, exactly as input_data.py does.
    """
    hash_name = re.sub(r"_nohash_.*$", "", Path(filename).name)
    hashed = int(hashlib.sha1(hash_name.encode("utf-8")).hexdigest(), 16)
    percentage_hash = (hashed % (MAX_NUM_WAVS_PER_CLASS + 1)) * (100.0 / MAX_NUM_WAVS_PER_CLASS)
    if percentage_hash < validation_percentage:
        return "validation"
    if percentage_hash < validation_percentage + testing_percentage:
        return "testing"
    return "training"


def prepare_words_list(wanted_words) -> list[str]:
    """The class names in output order: silence, unknown, then the wanted words."""
    return [SILENCE_LABEL, UNKNOWN_WORD_LABEL, *wanted_words]


def _read_list(path: Path) -> set[str]:
    """A validation_list.txt / testing_list.txt: 'word/file.wav' per line."""
    return {line.strip().replace("\\", "/") for line in path.read_text().splitlines()
            if line.strip()}


def _list_splitter(data_dir: Path, files: list[Path]):
    """which-set by the official list files; an error if they name none of our files."""
    lists = {s: _read_list(data_dir / f"{s}_list.txt") for s in ("validation", "testing")}
    relative = {f: f"{f.parent.name}/{f.name}" for f in files}
    for name, listed in lists.items():
        if listed and not listed & set(relative.values()):
            raise file_error(data_dir / f"{name}_list.txt",
                             "names none of the .wav files found in the word folders")

    def assign(path: Path) -> str:
        rel = relative[path]
        return next((s for s, listed in lists.items() if rel in listed), "training")
    return assign


# --- the folder --------------------------------------------------------------------

@dataclass(frozen=True)
class Example:
    """One entry of the data index: a word (or _silence_) and the clip to load."""

    label: str
    file: Path | None  # None for silence: its foreground is muted anyway

    def __repr__(self):
        where = f"{self.file.parent.name}/{self.file.name}" if self.file else "-"
        return f"Example({self.label!r}, {where})"


def find_word_files(data_dir: Path) -> dict[str, list[Path]]:
    """{word: sorted clips} for every word folder; errors for a missing or empty folder."""
    if not data_dir.is_dir():
        raise DatasetError(f"{data_dir}: no such dataset folder")
    words: dict[str, list[Path]] = {}
    for folder in sorted(p for p in data_dir.iterdir() if p.is_dir()):
        wavs = sorted(folder.glob("*.wav"))
        if wavs and folder.name != BACKGROUND_NOISE_DIR_NAME:
            words[folder.name.lower()] = wavs
    if not words:
        raise DatasetError(f"{data_dir}: no .wav files found in {data_dir}/*/*.wav - "
                           "expected one folder per word (Speech Commands layout)")
    return words


def load_background(data_dir: Path, desired_samples: int) -> list[np.ndarray]:
    """The long noise clips of _background_noise_/, as floats in [-1, 1)."""
    folder = data_dir / BACKGROUND_NOISE_DIR_NAME
    clips = []
    for path in sorted(folder.glob("*.wav")) if folder.is_dir() else []:
        clip = read_wav(path)
        if len(clip) <= desired_samples:
            raise file_error(path, f"background noise must be longer than one clip "
                                   f"({desired_samples} samples), it has {len(clip)}")
        clips.append(clip.astype(np.float32) / 32768.0)
    return clips


def fix_length(samples: np.ndarray, desired_samples: int) -> np.ndarray:
    """Pad with zeros at the end or cut, as decode_wav(desired_samples=...) does."""
    out = np.zeros(desired_samples, dtype=samples.dtype)
    n = min(len(samples), desired_samples)
    out[:n] = samples[:n]
    return out


def time_shift(samples: np.ndarray, amount: int) -> np.ndarray:
    """Move the clip later (amount > 0) or earlier (< 0), filling with zeros.

    input_data.py does this with a pad then a slice; a zero-filled shift is the same.
    """
    out = np.zeros_like(samples)
    if amount >= 0:
        out[amount:] = samples[:len(samples) - amount]
    else:
        out[:amount] = samples[-amount:]
    return out


def to_int16(audio: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1] to int16, as the 'micro' preprocessing's cast does.

    Clip first (so +1.0 does not wrap to -32768), then truncate toward zero like
    tf.cast; a clip that went in as int16 comes out bit-identical.
    """
    return np.clip(audio * 32768.0, -32768, 32767).astype(np.int16)


class SpeechCommands:
    """A Speech Commands folder indexed into training / validation / testing.

    Labels are indices into words_list: 0 silence, 1 unknown, then wanted_words.
    split='hash' uses which_set(); 'lists' the official validation_list.txt and
    testing_list.txt; 'auto' the lists when both files exist, else the hash.
    """

    def __init__(self, data_dir, wanted_words=("yes", "no"), *, validation_percentage=10.0,
                 testing_percentage=10.0, silence_percentage=10.0, unknown_percentage=10.0,
                 split="auto", seed=RANDOM_SEED, sample_rate=SAMPLE_RATE, clip_duration_ms=1000):
        self.data_dir = Path(data_dir)
        self.wanted_words = [w.lower() for w in wanted_words]
        self.words_list = prepare_words_list(self.wanted_words)
        self.sample_rate = sample_rate
        self.desired_samples = sample_rate * clip_duration_ms // 1000
        words = find_word_files(self.data_dir)
        self._check_wanted(words)
        self.split = self._resolve_split(split)
        assign = (_list_splitter(self.data_dir, [f for fs in words.values() for f in fs])
                  if self.split == "lists" else
                  lambda f: which_set(f, validation_percentage, testing_percentage))
        self.data_index = self._index(words, assign, silence_percentage, unknown_percentage, seed)
        self.word_to_index = {w: self.words_list.index(w) if w in self.wanted_words
                              else UNKNOWN_WORD_INDEX for w in words}
        self.word_to_index[SILENCE_LABEL] = SILENCE_INDEX
        self.background_data = load_background(self.data_dir, self.desired_samples)
        self._load = lru_cache(maxsize=4096)(self._load_uncached)

    def _check_wanted(self, words):
        missing = [w for w in self.wanted_words if w not in words]
        if missing:
            raise DatasetError(f"{self.data_dir}: expected to find {', '.join(missing)} in the "
                               f"word folders, but only found {', '.join(words)}")

    def _resolve_split(self, split: str) -> str:
        have_lists = all((self.data_dir / f"{s}_list.txt").is_file() for s in ("validation", "testing"))
        if split == "auto":
            return "lists" if have_lists else "hash"
        if split == "lists" and not have_lists:
            raise DatasetError(f"{self.data_dir}: split='lists' needs validation_list.txt "
                               "and testing_list.txt")
        if split not in ("hash", "lists"):
            raise ValueError(f"split must be 'auto', 'hash' or 'lists', not {split!r}")
        return split

    def _index(self, words, assign, silence_percentage, unknown_percentage, seed):
        """prepare_data_index(): wanted words, then silence and unknown per set."""
        # A seeded Python Random, as input_data.py seeds `random` for this step.
        shuffler = random.Random(seed)
        index = {s: [] for s in SETS}
        unknown = {s: [] for s in SETS}
        for word, files in words.items():
            for f in files:
                target = index if word in self.wanted_words else unknown
                target[assign(f)].append(Example(word, f))
        for s in SETS:
            set_size = len(index[s])
            # ceil(): even a small set gets at least one silence and one unknown.
            index[s] += [Example(SILENCE_LABEL, None)] * math.ceil(set_size * silence_percentage / 100)
            shuffler.shuffle(unknown[s])
            index[s] += unknown[s][:math.ceil(set_size * unknown_percentage / 100)]
            shuffler.shuffle(index[s])
        return index

    def _load_uncached(self, path: Path) -> np.ndarray:
        return fix_length(read_wav(path, self.sample_rate), self.desired_samples)

    def set_size(self, mode: str) -> int:
        """How many examples the given set holds."""
        return len(self.data_index[mode])

    def label_counts(self, mode: str) -> dict[str, int]:
        """{class name: count} for one set, in words_list order."""
        counts = Counter(self.words_list[self.word_to_index[e.label]] for e in self.data_index[mode])
        return {name: counts[name] for name in self.words_list}

    def __repr__(self):
        sizes = ", ".join(f"{s} {self.set_size(s)}" for s in SETS)
        return (f"SpeechCommands({self.data_dir.name}: {self.words_list}, {sizes}; "
                f"split by {self.split}, {len(self.background_data)} background clips)")

    def get_data(self, how_many=-1, offset=0, mode="training", *, background_frequency=0.8,
                 background_volume_range=0.1, time_shift_ms=100.0, seed=0, features_fn=None):
        """(data, labels) for a batch, as input_data.py's get_data() builds it.

        Training picks examples at random and augments them (time shift, background
        noise); validation and testing go in order from offset, unaugmented except
        that silence always gets a random slice of background. data is int16
        [n, desired_samples], or features_fn applied to each clip and stacked.
        """
        if mode not in SETS:
            raise ValueError(f"mode must be one of {SETS}, not {mode!r}")
        candidates = self.data_index[mode]
        training = mode == "training"
        count = len(candidates) if how_many == -1 else max(0, min(how_many, len(candidates) - offset))
        rng = np.random.default_rng(seed)
        picks = (range(offset, offset + count) if how_many == -1 or not training
                 else rng.integers(len(candidates), size=count))
        return self.render([candidates[i] for i in picks], rng, training=training,
                           background_frequency=background_frequency,
                           background_volume_range=background_volume_range,
                           time_shift_ms=time_shift_ms, features_fn=features_fn)

    def render(self, examples, rng, *, training=True, background_frequency=0.8,
               background_volume_range=0.1, time_shift_ms=100.0, features_fn=None):
        """The audio (or features) and labels of the given examples, augmented if training."""
        shift = int(time_shift_ms * self.sample_rate / 1000) if training else 0
        clips = [self._augment(e, rng, training, shift, background_frequency, background_volume_range)
                 for e in examples]
        data = np.stack(clips) if clips else np.zeros((0, self.desired_samples), np.int16)
        if features_fn is not None:
            data = np.stack([np.asarray(features_fn(clip)) for clip in data])
        labels = np.asarray([self.word_to_index[e.label] for e in examples], dtype=np.int64)
        return data, labels

    def _augment(self, example, rng, training, shift, frequency, volume_range) -> np.ndarray:
        """One clip: foreground (muted for silence), shifted, plus scaled background."""
        silence = example.label == SILENCE_LABEL
        foreground = (np.zeros(self.desired_samples, np.float32) if silence else
                      self._load(example.file).astype(np.float32) / 32768.0)
        if shift > 0:
            foreground = time_shift(foreground, int(rng.integers(-shift, shift)))
        background, volume = self._pick_background(rng, silence, training, frequency, volume_range)
        return to_int16(np.clip(foreground + background * volume, -1.0, 1.0))

    def _pick_background(self, rng, silence, training, frequency, volume_range):
        """A random one-second slice of background and how loud to mix it."""
        if not self.background_data or not (training or silence):
            return np.zeros(self.desired_samples, np.float32), 0.0
        noise = self.background_data[int(rng.integers(len(self.background_data)))]
        start = int(rng.integers(0, len(noise) - self.desired_samples))
        background = noise[start:start + self.desired_samples]
        if silence:
            volume = rng.uniform(0, 1)   # silence is background alone, at any level
        elif rng.uniform(0, 1) < frequency:
            volume = rng.uniform(0, volume_range)
        else:
            volume = 0.0
        return background, volume
