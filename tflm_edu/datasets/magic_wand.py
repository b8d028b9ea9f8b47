"""magic_wand's accelerometer data, read and prepared the way the example's training did.

Mirrors the training scripts of TFLM's magic_wand example (train/data_prepare.py,
data_augmentation.py, data_load.py and data_split_person.py, from the days the
example lived in tensorflow/lite/micro/examples/magic_wand):

- read_recording_file / load_magic_wand: prepare_original_data(), which cuts each
  person's recording into gestures at the "-,-,-" separator lines, and cuts the
  negative recordings into 120-reading pieces;
- generate_negative_data(): the synthetic negatives data_prepare.py adds
  (straight-line drift, random jumps, holding still);
- person_split(): data_split_person.py's split by who performed the gesture;
- augment_data() and time_wrapping(): data_augmentation.py (shift, noise, time
  warp, amplification), seeded;
- pad(): data_load.py's "neighbour padding" to 128 readings, which makes two
  windows of every gesture (gesture at the end, gesture at the start).

The raw files (one per gesture and person; readings in milli-g at about 25 Hz):

    wing/output_wing_hyw.txt        -,-,-                <- separates performed gestures
                                    -766.0,132.0,709.0   <- one reading: x,y,z
                                    ...
    negative/output_negative_1.txt  readings only; cut into pieces of 120
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tflm_edu.display import shown

from tflm_edu.datasets.errors import DatasetError, file_error

GESTURES = ("wing", "ring", "slope")
LABELS = ("wing", "ring", "slope", "negative")  # data_load.py's label2id order = model output
SEQ_LENGTH = 128        # readings per model input window
NEGATIVE_PIECE = 120    # data_prepare.py cuts negative recordings into pieces this long
PAD_NOISE_LEVEL = 20    # data_load.py: +-10 milli-g of noise around the neighbour value
# data_split_person.py: who trains, who validates, who tests (negative6..8 are generated)
PERSON_SPLIT = {
    "train": ("hyw", "shiyun", "tangsy", "dengyl", "jiangyh", "xunkai",
              "negative3", "negative4", "negative5", "negative6"),
    "valid": ("lsj", "pengxl", "negative2", "negative7"),
    "test": ("liucx", "zhangxy", "negative1", "negative8"),
}
# data_augmentation.py: speed and size ratios (molecule, denominator)
FRACTIONS = ((3, 2), (5, 3), (2, 3), (3, 4), (9, 5), (6, 5), (4, 5))


@dataclass
class Recording:
    """One performed gesture (or negative piece): readings (n, 3) in milli-g."""

    gesture: str
    person: str
    data: np.ndarray
    source: str = ""

    @property
    def label(self) -> int:
        return LABELS.index(self.gesture)

    def __repr__(self):
        return f"Recording({self.gesture!r}, {self.person!r}, {len(self.data)} readings, {self.source})"


# --- reading the raw files ---------------------------------------------------------

def _parse_line(path, number: int, line: str, strict: bool):
    """('reading', [x, y, z]), ('separator', None) or ('skip', None) for one line.

    The recordings are logs of a serial terminal ("script output.txt"), so lines
    without a comma (the log's own chatter) are skipped, as data_prepare.py did.
    A line with commas must be three finite numbers or "-,-,-"; strict=False
    instead skips anything data_prepare.py skipped (any line without 3 fields).
    """
    fields = [f.strip() for f in line.split(",")]
    if "," not in line:
        return "skip", None
    if len(fields) == 3 and fields[2] == "-":
        # data_prepare.py looks only at the third field; strict mode wants "-,-,-".
        if not strict or fields == ["-", "-", "-"]:
            return "separator", None
    elif len(fields) == 3:
        try:
            xyz = [float(f) for f in fields]
            if all(np.isfinite(xyz)):
                return "reading", xyz
        except ValueError:
            pass
    elif not strict:
        return "skip", None
    raise file_error(path, f"line {number}: expected 'x,y,z' numbers or '-,-,-', got {line.strip()!r}"
                           " (strict=False skips lines as data_prepare.py did)")


def _read_lines(path: Path, strict: bool):
    """Yield ('reading', xyz, line number) / ('separator', None, n) for a raw file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise file_error(path, f"cannot be read as text ({e})") from None
    for number, line in enumerate(text.splitlines(), start=1):
        kind, xyz = _parse_line(path, number, line, strict)
        if kind != "skip":
            yield kind, xyz, number


def read_recording_file(path, gesture: str, person: str, strict: bool = True) -> list[Recording]:
    """One person's file cut into Recordings, as prepare_original_data() cuts it.

    Gesture files are cut at each separator; negative files into pieces of 120
    readings, separators ignored. (The original also dropped the one reading that
    closed each negative piece - an off-by-one this reader does not copy.)
    """
    path = Path(path)
    pieces, current, start = [], [], None
    for kind, xyz, number in _read_lines(path, strict):
        full = gesture == "negative" and len(current) == NEGATIVE_PIECE
        if (kind == "separator" and gesture != "negative") or full:
            pieces.append((current, start))
            current, start = [], None
        if kind == "reading":
            start = start or number
            current.append(xyz)
    pieces.append((current, start))
    recordings = [Recording(gesture, person, np.asarray(readings, np.float32), f"{path.name}:{line}")
                  for readings, line in pieces if readings]
    if not recordings:
        raise file_error(path, "holds no accelerometer readings")
    return recordings


def _person_of(path: Path, gesture: str) -> str:
    """output_wing_hyw.txt -> 'hyw'; output_negative_1.txt -> 'negative1' (as the original names them)."""
    stem = path.stem.removeprefix("output_").removeprefix(f"{gesture}_")
    return f"negative{stem}" if gesture == "negative" and stem.isdigit() else stem


def load_magic_wand(root, strict: bool = True) -> list[Recording]:
    """Every Recording under root/{wing,ring,slope}/ and, if present, root/negative/.

    root may also be the folder the archive was unpacked in, holding data/.
    """
    root = Path(root)
    if not (root / "wing").is_dir() and (root / "data" / "wing").is_dir():
        root = root / "data"
    missing = [g for g in GESTURES if not (root / g).is_dir()]
    if not root.is_dir() or missing:
        raise DatasetError(f"{root}: expected folders wing/, ring/, slope/ (and optionally "
                           f"negative/) of output_<gesture>_<person>.txt files; missing: "
                           f"{', '.join(missing) if root.is_dir() else 'the folder itself'}")
    recordings = []
    for gesture in LABELS:
        files = sorted((root / gesture).glob("*.txt")) if (root / gesture).is_dir() else []
        if not files and gesture != "negative":
            raise DatasetError(f"{root / gesture}: no .txt recordings in this folder")
        for path in files:
            recordings += read_recording_file(path, gesture, _person_of(path, gesture), strict)
    return recordings


# --- generated negatives, split by person ------------------------------------------

def generate_negative_data(seed: int = 0, count: int = 100, length: int = SEQ_LENGTH) -> list[Recording]:
    """data_prepare.py's made-up negatives: drifting lines, random jumps, holding still.

    Each kind has `count` examples, named negative6/7/8 in the proportions the
    original used (61/20/19 of every 100) so that person_split() spreads them.
    """
    rng = np.random.default_rng(seed)
    names = ["negative6" if i <= 60 else "negative7" if i <= 80 else "negative8"
             for i in (k * 100 // count for k in range(count))]
    j = np.arange(length, dtype=np.float32)[:, None]
    out = []
    for name in names:  # big movement: around a straight line
        start, slope = (rng.random(3) - 0.5) * 2000, (rng.random(3) - 0.5) * 10
        out.append(Recording("negative", name, start + j * slope + (rng.random((length, 3)) - 0.5) * 6))
    for name in names:  # random readings
        out.append(Recording("negative", name, (rng.random((length, 3)) - 0.5) * 1000))
    for name in names:  # stay still
        still = (rng.random(3) - 0.5) * 2000
        out.append(Recording("negative", name, still + (rng.random((length, 3)) - 0.5) * 40))
    for r in out:
        r.data, r.source = r.data.astype(np.float32), "generate_negative_data"
    return out


def person_split(recordings, split=PERSON_SPLIT) -> dict[str, list[Recording]]:
    """{'train', 'valid', 'test'}: whole persons per set, so the test set is unseen people."""
    known = {p for people in split.values() for p in people}
    out = {name: [r for r in recordings if r.person in people] for name, people in split.items()}
    if not any(out.values()):
        found = sorted({r.person for r in recordings})
        raise DatasetError(f"person_split: none of the persons {found} is named in the split "
                           f"(it names {sorted(known)}); pass split={{'train': (...), ...}}")
    return out


# --- augmentation and padding ------------------------------------------------------

def time_wrapping(molecule: int, denominator: int, data) -> np.ndarray:
    """Resample to denominator/molecule as many readings (faster or slower gesture).

    Block i of `molecule` readings becomes `denominator` readings, each a linear
    blend of two neighbours - data_augmentation.py's loop, vectorised.
    """
    data = np.asarray(data, np.float32)
    blocks = len(data) // molecule - 1
    if blocks <= 0:
        return np.zeros((0, data.shape[1]), np.float32)
    k = np.arange(denominator)
    src = (molecule * np.arange(blocks)[:, None] + k[None, :]).ravel()
    weight = np.tile(k / denominator, blocks)[:, None]
    return ((1 - weight) * data[src] + weight * data[src + 1]).astype(np.float32)


def augment_data(recordings, rng) -> list[Recording]:
    """25 recordings for each one: itself, 5 shifted, 5 noisy, 7 warped, 7 amplified.

    The original appended one noise buffer five times (so its five noisy copies
    were equal); here they are five independent draws. Noise is 0..5 milli-g,
    one-sided, as in the original.
    """
    out = []
    for r in recordings:
        variants = [r.data]
        variants += [r.data + (rng.random() - 0.5) * 200 for _ in range(5)]
        variants += [r.data + 5 * rng.random(r.data.shape) for _ in range(5)]
        # A warp of a very short recording is empty; the original would crash on it.
        variants += [w for m, d in FRACTIONS if len(w := time_wrapping(m, d, r.data))]
        variants += [r.data * m / d for m, d in FRACTIONS]
        out += [Recording(r.gesture, r.person, v.astype(np.float32), r.source) for v in variants]
    return out


def pad(data, rng, seq_length: int = SEQ_LENGTH) -> tuple[np.ndarray, np.ndarray]:
    """data_load.py's neighbour padding: (gesture at the end, gesture at the start).

    The empty part is filled with the first (or last) reading plus +-10 milli-g of
    noise, so it looks like the wand resting before (or after) the gesture; a
    gesture longer than seq_length keeps its first seq_length readings.
    """
    data = np.asarray(data, np.float32)
    n = min(len(data), seq_length)
    before = (rng.random((seq_length, 3)) - 0.5) * PAD_NOISE_LEVEL + data[0]
    before[seq_length - n:] = data[:n]
    after = (rng.random((seq_length, 3)) - 0.5) * PAD_NOISE_LEVEL + data[-1]
    after[:n] = data[:n]
    return before.astype(np.float32), after.astype(np.float32)


def make_windows(recordings, seed: int = 0, augment: bool = False,
                 seq_length: int = SEQ_LENGTH) -> tuple[np.ndarray, np.ndarray]:
    """(windows [N, 128, 3] float32 milli-g, labels [N]) as data_load.py formats them.

    augment=True first applies augment_data (the original did, for training only).
    """
    rng = np.random.default_rng(seed)
    recordings = augment_data(recordings, rng) if augment else list(recordings)
    if not recordings:
        raise DatasetError("make_windows: no recordings given")
    windows, labels = [], []
    for r in recordings:
        windows += pad(r.data, rng, seq_length)
        labels += [r.label, r.label]
    return np.stack(windows), np.asarray(labels, np.int64)


def plot_augmentations(recording: Recording, seed: int = 0):
    """Figure: one recording beside one of each kind of augment_data variant (x axis)."""
    import matplotlib.pyplot as plt
    variants = augment_data([recording], np.random.default_rng(seed))
    picks = {"original": 0, "shifted": 1, "noisy": 6, "time-warped 2/3": 13, "amplified 3/2": 18}
    fig, axes = plt.subplots(1, 2, figsize=(11, 3))
    for name, i in picks.items():
        axes[0].plot(variants[i].data[:, 0], label=name, lw=1)
    axes[0].set(title=f"{recording.gesture} by {recording.person}: x axis of 5 of 25 variants",
                xlabel="reading", ylabel="milli-g")
    axes[0].legend(fontsize=7)
    for i, window in enumerate(pad(recording.data, np.random.default_rng(seed))):
        axes[1].plot(window[:, 0] + 1500 * i, lw=1, label=("gesture at the end", "gesture at the start")[i])
    axes[1].set(title="pad(): two 128-reading windows (x axis, offset)", xlabel="reading")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    return shown(fig)
