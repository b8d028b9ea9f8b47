"""Person detection images: VWW folders, label files, errors, and TFLM's int8 conventions."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tflm_edu.datasets import (DatasetError, list_vww_folder, load_person_detection,
                               load_tflm_test_image, read_image, read_label_file)
from tflm_edu.datasets.pipelines import camera_input

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference"


def save(path, array, mode=None, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, np.uint8), mode).save(path, **kw)
    return path


def make_vww(root):
    """Images of several sizes and modes: RGB JPEG, gray PNG, RGBA PNG, palette GIF."""
    rng = np.random.default_rng(0)
    save(root / "person" / "a.jpg", rng.integers(0, 255, (120, 160, 3)))
    save(root / "person" / "b.png", rng.integers(0, 255, (200, 100)))
    save(root / "non_person" / "c.png", rng.integers(0, 255, (96, 96, 4)), "RGBA")
    palette = Image.fromarray(rng.integers(0, 255, (50, 70), dtype=np.uint8)).convert("P")
    palette.save(root / "non_person" / "d.gif")
    (root / "non_person" / "notes.txt").write_text("not an image: ignored by extension")
    return root


def test_vww_folder_loads_every_image_as_96x96_gray(tmp_path):
    images, labels = load_person_detection(make_vww(tmp_path))
    assert images.shape == (4, 96, 96) and images.dtype == np.uint8
    assert list(labels) == [0, 0, 1, 1]  # non_person first, sorted: 0 = no person


def test_label_file_form(tmp_path):
    make_vww(tmp_path)
    (tmp_path / "labels.csv").write_text(
        "filename,label\nperson/a.jpg,person\nnon_person/c.png,0\n\nperson/b.png, 1\n")
    examples = read_label_file(tmp_path / "labels.csv")
    assert [(e.path.name, e.label) for e in examples] == [("a.jpg", 1), ("c.png", 0), ("b.png", 1)]
    images, labels = load_person_detection(tmp_path / "labels.csv", convention="shift")
    assert images.shape == (3, 96, 96, 1) and images.dtype == np.int8


def test_label_file_with_an_image_folder_elsewhere(tmp_path):
    make_vww(tmp_path / "imgs")
    (tmp_path / "l.txt").write_text("person/a.jpg,1\n")
    assert read_label_file(tmp_path / "l.txt", image_dir=tmp_path / "imgs")[0].label == 1


@pytest.mark.parametrize("content, words", [
    ("person/a.jpg,maybe\n", "line 1"),
    ("person/a.jpg\n", "line 1"),
    ("filename,label\nperson/zzz.jpg,1\n", "line 2: image"),
    ("filename,label\n", "lists no images"),
])
def test_bad_label_files(tmp_path, content, words):
    make_vww(tmp_path)
    (tmp_path / "labels.csv").write_text(content)
    with pytest.raises(DatasetError, match=words):
        read_label_file(tmp_path / "labels.csv")


@pytest.mark.parametrize("damage", ["no_non_person", "empty_person", "missing_root"])
def test_wrong_layouts_are_errors(tmp_path, damage):
    root = tmp_path / "vww"
    if damage != "missing_root":
        make_vww(root)
    if damage == "no_non_person":
        for f in (root / "non_person").iterdir():
            f.unlink()
        (root / "non_person").rmdir()
    if damage == "empty_person":
        for f in (root / "person").iterdir():
            f.unlink()
    with pytest.raises(DatasetError):
        list_vww_folder(root)


@pytest.mark.parametrize("kind", ["random_bytes", "truncated_png", "empty"])
def test_unreadable_images_name_the_file(tmp_path, kind):
    root = make_vww(tmp_path)
    bad = root / "person" / "bad.png"
    if kind == "random_bytes":
        bad.write_bytes(np.random.default_rng(0).bytes(500))
    elif kind == "truncated_png":
        full = save(tmp_path / "full.png", np.random.default_rng(1).integers(0, 255, (64, 64)))
        bad.write_bytes(full.read_bytes()[:300])
    else:
        bad.write_bytes(b"")
    with pytest.raises(DatasetError, match="bad.png"):
        read_image(bad)
    with pytest.raises(DatasetError, match="bad.png"):
        load_person_detection(root)


def test_centre_crop_drops_the_sides(tmp_path):
    frame = np.zeros((100, 200), np.uint8)
    frame[:, 50:150] = 255           # only the centred square is white
    path = save(tmp_path / "person" / "wide.png", frame)
    save(tmp_path / "non_person" / "x.png", frame)
    images, _ = load_person_detection(tmp_path)
    assert images.min() == 255 and path.exists()


def test_reference_bmp_via_memcpy_gives_tflm_scores():
    runtime = pytest.importorskip("tflite_micro.python.tflite_micro.runtime")
    if not REFERENCE.is_dir():
        pytest.skip("../shared/reference not available")
    interpreter = runtime.Interpreter.from_file(str(REFERENCE / "models" / "person_detect.tflite"),
                                                arena_size=100000)
    expected = {"person.bmp": [-113, 113], "no_person.bmp": [57, -57]}
    for name, scores in expected.items():
        interpreter.set_input(load_tflm_test_image(REFERENCE / "testdata" / name), 0)
        interpreter.invoke()
        assert interpreter.get_output(0).tolist() == [scores]


def test_person_bmp_stores_shifted_pixels():
    """person.bmp's bytes are int8 values already; its photo is bytes ^ 0x80.

    Fed through the camera pipeline ('shift': pixel - 128), that photo gives the
    very input TFLM's test memcpys - so both conventions meet on it.
    """
    if not REFERENCE.is_dir():
        pytest.skip("../shared/reference not available")
    stored = np.asarray(Image.open(REFERENCE / "testdata" / "person.bmp"))
    photo = stored ^ 0x80
    fed_by_tflm = load_tflm_test_image(REFERENCE / "testdata" / "person.bmp")
    assert np.array_equal(camera_input(photo, "shift"), fed_by_tflm)


def test_tflm_test_image_must_be_96x96_gray(tmp_path):
    path = save(tmp_path / "big.bmp", np.zeros((100, 96), np.uint8))
    with pytest.raises(DatasetError, match="96x96"):
        load_tflm_test_image(path)
