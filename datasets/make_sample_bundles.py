"""Make the small magic_wand and person_detection samples, in the real datasets' formats.

Run once by a maintainer (the files are committed; nothing runs this at run time):

    python datasets/make_sample_bundles.py

- magic_wand_synth/: synthetic gestures written as the example's raw recordings:
  {wing,ring,slope}/output_<gesture>_<person>.txt with "-,-,-" between gestures,
  negative/output_negative_<k>.txt as a plain stream of readings.
- person_detection_synth/: synthetic scenes as Visual Wake Words style folders
  person/ and non_person/ (camera-sized frames, some RGB, some grayscale), and
  labels.csv listing the same files in the filename,label form.

Deterministic: same code, same files.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))
from tflm_edu.datasets import synthetic_gestures, synthetic_scenes  # noqa: E402
from tflm_edu.datasets.magic_wand import GESTURES  # noqa: E402

WAND = ROOT / "magic_wand_synth"
PERSON = ROOT / "person_detection_synth"
PERSONS = ("synth1", "synth2", "synth3")
GESTURES_PER_FILE = 5
IMAGES_PER_CLASS = 12
FRAME_SIZES = ((160, 120), (120, 160), (128, 128), (176, 144))


def reading_lines(data: np.ndarray) -> list[str]:
    return [f"{x:.1f},{y:.1f},{z:.1f}" for x, y, z in data]


def write_gesture_file(gesture: str, person: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(GESTURES_PER_FILE):
        lines += ["-,-,-"] + reading_lines(synthetic_gestures.make_recording(gesture, rng, person).data)
    lines.append("-,-,-")
    (WAND / gesture).mkdir(parents=True, exist_ok=True)
    (WAND / gesture / f"output_{gesture}_{person}.txt").write_text("\n".join(lines) + "\n")


def write_negative_file(k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    stream = np.concatenate([synthetic_gestures.make_negative(rng) for _ in range(3)])
    (WAND / "negative").mkdir(parents=True, exist_ok=True)
    (WAND / "negative" / f"output_negative_{k}.txt").write_text(
        "\n".join(reading_lines(np.round(stream))) + "\n")


def write_scene(folder: str, index: int, label: int) -> str:
    rng = np.random.default_rng([7, index, label])
    width, height = FRAME_SIZES[index % len(FRAME_SIZES)]
    gray = synthetic_scenes.make_scene(bool(label), rng, width, height)
    if index % 2:  # a colour camera: a tinted RGB frame
        tint = rng.uniform(0.8, 1.2, 3)
        image = Image.fromarray(np.clip(gray[..., None] * tint, 0, 255).astype(np.uint8), "RGB")
    else:
        image = Image.fromarray(gray, "L")
    name = f"{folder}/scene_{index:03d}.jpg"  # JPEG, like the COCO photos of VWW
    (PERSON / folder).mkdir(parents=True, exist_ok=True)
    image.save(PERSON / name, quality=85)
    return name


def clean(folder: Path) -> None:
    """Remove what an earlier run made, keeping the hand-written README.md."""
    for child in folder.iterdir() if folder.exists() else []:
        if child.is_dir():
            shutil.rmtree(child)
        elif child.name != "README.md":
            child.unlink()


def main() -> None:
    clean(WAND)
    clean(PERSON)
    for i, gesture in enumerate(GESTURES):
        for j, person in enumerate(PERSONS):
            write_gesture_file(gesture, person, seed=100 * i + j)
    for k in (1, 2):
        write_negative_file(k, seed=1000 + k)
    rows = ["filename,label"]
    for label, folder in ((1, "person"), (0, "non_person")):
        rows += [f"{write_scene(folder, i, label)},{label}" for i in range(IMAGES_PER_CLASS)]
    (PERSON / "labels.csv").write_text("\n".join(rows) + "\n")
    print(f"wrote {WAND} and {PERSON}")


if __name__ == "__main__":
    main()
