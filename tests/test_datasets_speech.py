"""Speech Commands loader: split, sampling, augmentation, and errors - on folders made here."""
import math
import wave

import numpy as np
import pytest

from tflm_edu.datasets import DatasetError, SpeechCommands, read_wav, which_set, write_wav
from tflm_edu.datasets.speech_commands import fix_length, time_shift

RATE = 16000


def tone(seed, n=RATE):
    """A recognisable int16 clip: distinct per seed, never all zero."""
    rng = np.random.default_rng(seed)
    return (rng.normal(0, 3000, n)).clip(-32768, 32767).astype(np.int16)


def make_folder(root, words=None, speakers=10, takes=2, background=True):
    """A small Speech Commands folder: word/<speaker>_nohash_<take>.wav."""
    words = words or ["yes", "no", "up", "down"]
    for w, word in enumerate(words):
        (root / word).mkdir(parents=True)
        for s in range(speakers):
            for t in range(takes):
                write_wav(root / word / f"{s:04x}{w:04x}_nohash_{t}.wav", tone(1000 * w + 10 * s + t))
    if background:
        (root / "_background_noise_").mkdir()
        write_wav(root / "_background_noise_" / "white.wav", tone(99, 3 * RATE))
    return root


# --- which_set ---------------------------------------------------------------------

def test_which_set_agrees_with_the_official_lists():
    # First entries of Speech Commands' own validation_list.txt and testing_list.txt.
    assert which_set("right/a69b9b3e_nohash_0.wav", 10, 10) == "validation"
    assert which_set("right/bb05582b_nohash_3.wav", 10, 10) == "testing"


def test_which_set_keeps_a_speaker_together():
    for speaker in ("0a7c2a8d", "ffd2ba2f", "b00dff7e", "1234abcd"):
        sets = {which_set(f"yes/{speaker}_nohash_{k}.wav", 10, 10) for k in range(20)}
        assert len(sets) == 1


def test_which_set_proportions():
    sets = [which_set(f"{i:08x}_nohash_0.wav", 10, 20) for i in range(4000)]
    assert abs(sets.count("validation") / 4000 - 0.10) < 0.02
    assert abs(sets.count("testing") / 4000 - 0.20) < 0.02


# --- WAV files ---------------------------------------------------------------------

def test_wav_round_trip(tmp_path):
    clip = tone(1)
    write_wav(tmp_path / "a.wav", clip)
    assert np.array_equal(read_wav(tmp_path / "a.wav"), clip)


def write_raw_wav(path, channels=1, width=2, rate=RATE, frames=100):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(b"\x01" * (frames * channels * width))


@pytest.mark.parametrize("kind, words", [
    ("stereo", "2 channels"), ("8bit", "8-bit"), ("rate", "8000 Hz"),
    ("truncated", "truncated"), ("garbage", "not a readable"), ("empty", "not a readable"),
])
def test_bad_wav_files_name_the_file(tmp_path, kind, words):
    path = tmp_path / f"{kind}.wav"
    if kind == "stereo":
        write_raw_wav(path, channels=2)
    elif kind == "8bit":
        write_raw_wav(path, width=1)
    elif kind == "rate":
        write_raw_wav(path, rate=8000)
    elif kind == "truncated":
        write_raw_wav(path, frames=1000)
        path.write_bytes(path.read_bytes()[:1000])
    elif kind == "garbage":
        path.write_bytes(b"this is not a wav file at all")
    else:
        path.write_bytes(b"")
    with pytest.raises(DatasetError, match=words) as info:
        read_wav(path)
    assert str(path) in str(info.value)


def test_fix_length_pads_at_the_end_and_cuts():
    assert np.array_equal(fix_length(np.array([1, 2], np.int16), 4), [1, 2, 0, 0])
    assert np.array_equal(fix_length(np.arange(6, dtype=np.int16), 4), [0, 1, 2, 3])


def test_time_shift_fills_with_zeros():
    x = np.arange(1, 6, dtype=np.float32)
    assert np.array_equal(time_shift(x, 2), [0, 0, 1, 2, 3])
    assert np.array_equal(time_shift(x, -2), [3, 4, 5, 0, 0])
    assert np.array_equal(time_shift(x, 0), x)


# --- the index ---------------------------------------------------------------------

def test_index_has_words_silence_and_unknown_in_proportion(tmp_path):
    root = make_folder(tmp_path)
    data = SpeechCommands(root, ["yes", "no"], split="hash")
    assert data.words_list == ["_silence_", "_unknown_", "yes", "no"]
    unknown_files = [*root.glob("up/*.wav"), *root.glob("down/*.wav")]
    for mode in ("training", "validation", "testing"):
        counts = data.label_counts(mode)
        words = counts["yes"] + counts["no"]
        assert counts["_silence_"] == math.ceil(words * 0.1)
        available = sum(which_set(f.name, 10, 10) == mode for f in unknown_files)
        assert counts["_unknown_"] == min(available, math.ceil(words * 0.1))
    # every file of a wanted word sits in the set which_set() names
    for mode in ("training", "validation", "testing"):
        for e in data.data_index[mode]:
            if e.label in ("yes", "no"):
                assert which_set(e.file.name, 10, 10) == mode


def test_labels_index_words_list(tmp_path):
    data = SpeechCommands(make_folder(tmp_path), ["no", "yes"])
    assert data.word_to_index == {"yes": 3, "no": 2, "up": 1, "down": 1, "_silence_": 0}


def test_official_lists_decide_the_split_when_present(tmp_path):
    root = make_folder(tmp_path)
    (root / "validation_list.txt").write_text("yes/00000000_nohash_0.wav\nno/00000001_nohash_1.wav\n")
    (root / "testing_list.txt").write_text("yes/00010000_nohash_1.wav\n")
    data = SpeechCommands(root)
    assert data.split == "lists"
    val = {f"{e.file.parent.name}/{e.file.name}" for e in data.data_index["validation"] if e.file}
    test = {f"{e.file.parent.name}/{e.file.name}" for e in data.data_index["testing"] if e.file}
    assert val == {"yes/00000000_nohash_0.wav", "no/00000001_nohash_1.wav"}
    assert test == {"yes/00010000_nohash_1.wav"}
    assert SpeechCommands(root, split="hash").split == "hash"


def test_a_list_naming_no_file_is_an_error(tmp_path):
    root = make_folder(tmp_path)
    (root / "validation_list.txt").write_text("yes/nothere_nohash_0.wav\n")
    (root / "testing_list.txt").write_text("")
    with pytest.raises(DatasetError, match="validation_list.txt"):
        SpeechCommands(root)


@pytest.mark.parametrize("layout, words", [
    ("missing", "no such dataset folder"),
    ("empty", "no .wav files"),
    ("flat", "no .wav files"),          # WAVs directly in the root: wrong layout
    ("no_yes", "expected to find yes"),
])
def test_bad_folders_are_errors_not_empty_datasets(tmp_path, layout, words):
    root = tmp_path / "data"
    if layout == "empty":
        root.mkdir()
    elif layout == "flat":
        root.mkdir()
        write_wav(root / "a_nohash_0.wav", tone(1))
    elif layout == "no_yes":
        make_folder(root, words=["no", "up"])
    with pytest.raises(DatasetError, match=words):
        SpeechCommands(root)


def test_short_background_is_an_error(tmp_path):
    root = make_folder(tmp_path, background=False)
    (root / "_background_noise_").mkdir()
    write_wav(root / "_background_noise_" / "short.wav", tone(1, 8000))
    with pytest.raises(DatasetError, match="short.wav"):
        SpeechCommands(root)


def test_a_corrupt_clip_is_named_when_loaded(tmp_path):
    root = make_folder(tmp_path)
    bad = root / "yes" / "00000000_nohash_0.wav"
    bad.write_bytes(bad.read_bytes()[:500])
    data = SpeechCommands(root, split="hash")
    with pytest.raises(DatasetError, match="00000000_nohash_0.wav"):
        for mode in ("training", "validation", "testing"):
            data.get_data(-1, 0, mode)


# --- get_data ------------------------------------------------------------------------

@pytest.fixture
def speech(tmp_path):
    return SpeechCommands(make_folder(tmp_path), ["yes", "no"], split="hash")


def test_validation_returns_the_files_unchanged_in_order(speech):
    data, labels = speech.get_data(-1, 0, "validation")
    assert data.dtype == np.int16 and data.shape == (speech.set_size("validation"), RATE)
    for clip, label, e in zip(data, labels, speech.data_index["validation"]):
        assert label == speech.word_to_index[e.label]
        if e.file is not None:
            assert np.array_equal(clip, read_wav(e.file))


def test_offset_and_how_many_page_through_a_set(speech):
    full, _ = speech.get_data(-1, 0, "testing")
    part, _ = speech.get_data(2, 1, "testing")
    assert np.array_equal(part, full[1:3])


def test_training_batches_are_seeded(speech):
    a, la = speech.get_data(16, 0, "training", seed=5)
    b, lb = speech.get_data(16, 0, "training", seed=5)
    c, _ = speech.get_data(16, 0, "training", seed=6)
    assert np.array_equal(a, b) and np.array_equal(la, lb)
    assert not np.array_equal(a, c)


def test_time_shift_moves_the_clip_within_range(speech):
    data, labels = speech.get_data(20, 0, "training", background_frequency=0, time_shift_ms=100, seed=1)
    originals = {speech.word_to_index[e.label]: [] for e in speech.data_index["training"]}
    for e in speech.data_index["training"]:
        if e.file is not None:
            originals[speech.word_to_index[e.label]].append(read_wav(e.file))
    for clip, label in zip(data, labels):
        if label == 0:
            continue
        # The originals are noise with no zero samples: the zeros at one end give the shift.
        nonzero = np.flatnonzero(clip)
        shift = nonzero[0] if nonzero[0] > 0 else -(RATE - 1 - nonzero[-1])
        assert abs(shift) < RATE // 10
        assert any(np.array_equal(clip, time_shift(o, shift)) for o in originals[label])


def test_silence_is_a_scaled_slice_of_background(tmp_path):
    root = make_folder(tmp_path, background=False)
    (root / "_background_noise_").mkdir()
    noise = tone(99, RATE + 500)  # few offsets: finding the slice stays cheap
    write_wav(root / "_background_noise_" / "noise.wav", noise)
    data = SpeechCommands(root, ["yes", "no"], silence_percentage=100, split="hash")
    clips, labels = data.get_data(30, 0, "training", seed=3)
    assert np.count_nonzero(labels == 0) > 0
    for clip in clips[labels == 0].astype(np.float64):
        windows = np.lib.stride_tricks.sliding_window_view(noise.astype(np.float64), RATE)
        start = int(np.argmax(np.abs(windows @ clip)))  # the slice it came from
        piece = noise[start:start + RATE].astype(np.float64)
        volume = np.dot(clip, piece) / np.dot(piece, piece)
        assert 0 <= volume < 1
        assert np.abs(clip - volume * piece).max() <= 2  # only int16 truncation is left


def test_no_background_folder_means_silent_silence(tmp_path):
    data = SpeechCommands(make_folder(tmp_path, background=False), split="hash")
    clips, labels = data.get_data(40, 0, "training", seed=0)
    assert np.all(clips[labels == 0] == 0)


def test_background_volume_is_bounded(tmp_path):
    root = make_folder(tmp_path)
    for f in (root / "yes").glob("*.wav"):  # silent words: the output is background alone
        write_wav(f, np.zeros(RATE, np.int16))
    data = SpeechCommands(root, ["yes", "no"], split="hash", silence_percentage=0)
    noise_peak = np.abs(read_wav(root / "_background_noise_" / "white.wav")).max()
    clips, labels = data.get_data(60, 0, "training", background_frequency=1.0,
                                  background_volume_range=0.1, seed=2)
    yes = clips[labels == 2]
    assert len(yes) and np.abs(yes).max() <= 0.1 * noise_peak + 1
    assert np.count_nonzero(yes) > 0  # the noise did get mixed in


def test_features_fn_is_applied_per_clip(speech):
    feats, labels = speech.get_data(4, 0, "validation", features_fn=lambda c: c[:10].astype(np.float32) * 2)
    raw, _ = speech.get_data(4, 0, "validation")
    assert feats.shape == (4, 10) and np.array_equal(feats, raw[:, :10] * 2.0)


def test_repr_names_the_sets(speech):
    assert "training" in repr(speech) and "split by hash" in repr(speech)
