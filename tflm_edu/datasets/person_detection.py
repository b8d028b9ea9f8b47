"""Visual Wake Words style image data for person_detection.

Mirrors what TFLM's person_detection training (person_detection/training_a_model.md)
feeds its MobileNet v1 0.25: Visual Wake Words images - COCO photos labelled
"person" when a person box covers more than 0.5% of the image - reduced to 96x96
grayscale. Two on-disk forms are read:

    root/person/*.jpg, root/non_person/*.jpg   the folder form (as the MLPerf Tiny
                                               vw_coco2014_96 download unpacks)
    labels.csv: filename,label per line        a COCO-derived label file; label is
                                               1/0 or person/non_person; an optional
                                               header line; paths relative to the file

Labels follow the model's output order: 0 = no person (kNotAPersonIndex),
1 = person (kPersonIndex). Images go through pipelines.to_gray96 (centre crop,
resize, luma) to uint8 [96, 96]; to_int8 makes the model's int8 input from them.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from tflm_edu.datasets.errors import DatasetError, file_error
from tflm_edu.datasets.pipelines import IMAGE_SIZE, to_gray96, to_int8

LABELS = ("no person", "person")
FOLDERS = {"non_person": 0, "person": 1}
LABEL_WORDS = {"0": 0, "1": 1, "non_person": 0, "no_person": 0, "not_person": 0, "person": 1}
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".pgm", ".ppm", ".tif", ".tiff"}


@dataclass(frozen=True)
class ImageExample:
    """One image file and its label (0 no person, 1 person)."""

    path: Path
    label: int

    def __repr__(self):
        return f"ImageExample({self.path.parent.name}/{self.path.name}, {LABELS[self.label]!r})"


def read_image(path) -> Image.Image:
    """Decode an image fully now, so a truncated or bogus file fails here, named."""
    try:
        with Image.open(path) as image:
            image.load()
            return image.copy()
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as e:
        raise file_error(path, f"not a readable image ({e})") from None


def list_vww_folder(root) -> list[ImageExample]:
    """The images of root/person/ and root/non_person/, sorted; errors if either is absent."""
    root = Path(root)
    missing = [f"{name}/" for name in FOLDERS if not (root / name).is_dir()]
    if missing:
        raise DatasetError(f"{root}: expected folders person/ and non_person/ of images; "
                           f"missing {', '.join(missing)}")
    examples = [ImageExample(p, label) for name, label in FOLDERS.items()
                for p in sorted((root / name).iterdir()) if p.suffix.lower() in IMAGE_EXTENSIONS]
    for name, label in FOLDERS.items():
        if not any(e.label == label for e in examples):
            raise DatasetError(f"{root / name}: no images ({', '.join(sorted(IMAGE_EXTENSIONS))})")
    return examples


def _parse_label(path, number: int, row: list[str]) -> tuple[str, int]:
    if len(row) != 2 or row[1].strip().lower() not in LABEL_WORDS:
        raise file_error(path, f"line {number}: expected 'filename,label' with label "
                               f"0/1/person/non_person, got {','.join(row)!r}")
    return row[0].strip(), LABEL_WORDS[row[1].strip().lower()]


def read_label_file(path, image_dir=None) -> list[ImageExample]:
    """A CSV of filename,label lines; filenames relative to image_dir (default: its folder)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such label file")
    base = Path(image_dir) if image_dir is not None else path.parent
    with open(path, newline="") as f:
        rows = [(n, row) for n, row in enumerate(csv.reader(f), start=1) if any(c.strip() for c in row)]
    if rows and rows[0][1][-1].strip().lower() == "label":
        rows = rows[1:]  # a header line
    examples = []
    for number, row in rows:
        name, label = _parse_label(path, number, row)
        if not (base / name).is_file():
            raise file_error(path, f"line {number}: image {base / name} does not exist")
        examples.append(ImageExample(base / name, label))
    if not examples:
        raise file_error(path, "lists no images")
    return examples


def list_examples(source, image_dir=None) -> list[ImageExample]:
    """A VWW folder (person/, non_person/) or a label file, whichever source is."""
    source = Path(source)
    return read_label_file(source, image_dir) if source.is_file() else list_vww_folder(source)


def load_images(examples, size: int = IMAGE_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 [N, size, size] grayscale, labels [N]) for a list of ImageExamples."""
    images = [to_gray96(read_image(e.path), size) for e in examples]
    return np.stack(images), np.asarray([e.label for e in examples], np.int64)


def load_person_detection(source, image_dir=None, convention: str | None = None):
    """Load a VWW folder or label file: (uint8 [N, 96, 96] or int8 [N, 96, 96, 1], labels).

    convention None keeps uint8 pixels (to look at and to augment); 'shift' or
    'memcpy' gives the model's int8 input (see pipelines for which is which).
    """
    images, labels = load_images(list_examples(source, image_dir))
    if convention is not None:
        images = to_int8(images, convention)[..., None]
    return images, labels


def load_tflm_test_image(path) -> np.ndarray:
    """One of TFLM's 96x96 test BMPs as the example feeds it: int8 [1, 96, 96, 1].

    Decoded top-down (Pillow handles the bottom-up BMP rows), then the bytes are
    reinterpreted as int8 - a memcpy, no offset - as person_detection_test.cc does.
    """
    image = read_image(path)
    if image.size != (IMAGE_SIZE, IMAGE_SIZE) or image.mode not in ("L", "P"):
        raise file_error(path, f"expected a 96x96 8-bit grayscale image, got {image.size} {image.mode}")
    pixels = np.asarray(image.convert("L") if image.mode == "P" else image, np.uint8)
    return to_int8(pixels, "memcpy").reshape(1, IMAGE_SIZE, IMAGE_SIZE, 1)
