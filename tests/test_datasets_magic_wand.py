"""magic_wand recordings: the raw file format, augmentation and padding - on files made here."""
import numpy as np
import pytest

from tflm_edu.datasets import (DatasetError, augment_data, generate_negative_data, load_magic_wand,
                               make_windows, pad, person_split, read_recording_file, time_wrapping)
from tflm_edu.datasets.magic_wand import FRACTIONS, Recording


def gesture_lines(n, start=0.0):
    return [f"{start + i:.2f},{-i:.2f},{1000 + i:.2f}" for i in range(n)]


def write(path, lines, newline="\n"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(newline.join(lines) + newline)
    return path


def make_root(root, persons=("hyw", "liucx"), negatives=2):
    for g in ("wing", "ring", "slope"):
        for p in persons:
            write(root / g / f"output_{g}_{p}.txt",
                  ["-,-,-", *gesture_lines(30), "-,-,-", *gesture_lines(40, 100), "-,-,-"])
    for k in range(1, negatives + 1):
        write(root / "negative" / f"output_negative_{k}.txt", gesture_lines(250))
    return root


# --- the raw format ----------------------------------------------------------------

def test_gestures_are_cut_at_separators(tmp_path):
    path = write(tmp_path / "output_wing_hyw.txt",
                 ["Script started on 2019-05-01", "-,-,-", *gesture_lines(3), "", "-,-,-",
                  *gesture_lines(2, 10), "-,-,-", "Script done"], newline="\r\n")
    recs = read_recording_file(path, "wing", "hyw")
    assert [len(r.data) for r in recs] == [3, 2]
    assert np.array_equal(recs[1].data, [[10, 0, 1000], [11, -1, 1001]])
    assert recs[0].data.dtype == np.float32 and recs[0].label == 0
    assert recs[1].source == "output_wing_hyw.txt:8"  # where its first reading is


def test_negative_files_are_cut_into_pieces_of_120(tmp_path):
    path = write(tmp_path / "output_negative_1.txt", [*gesture_lines(130), "-,-,-", *gesture_lines(120, 500)])
    recs = read_recording_file(path, "negative", "negative1")
    assert [len(r.data) for r in recs] == [120, 120, 10]
    assert recs[1].data[10, 0] == 500  # separators are ignored, readings run on
    assert all(r.label == 3 for r in recs)


@pytest.mark.parametrize("bad", ["1.0,abc,3.0", "1.0,2.0", "1,2,3,4", "1,nan,3", "x,-,-"])
def test_malformed_lines_name_file_and_line(tmp_path, bad):
    path = write(tmp_path / "output_ring_pengxl.txt", ["-,-,-", "1,2,3", bad, "4,5,6"])
    with pytest.raises(DatasetError, match=r"output_ring_pengxl.txt: line 3"):
        read_recording_file(path, "ring", "pengxl")


def test_lenient_mode_skips_what_data_prepare_skipped(tmp_path):
    lines = ["-,-,-", "1,2,3", "1.0,2.0", "4,5,6", "x,y,-", "7,8,9"]
    path = write(tmp_path / "output_ring_pengxl.txt", lines)
    recs = read_recording_file(path, "ring", "pengxl", strict=False)
    assert [len(r.data) for r in recs] == [2, 1]  # "x,y,-" counts as a separator there


def test_a_file_without_readings_is_an_error(tmp_path):
    path = write(tmp_path / "output_slope_hyw.txt", ["-,-,-", "-,-,-"])
    with pytest.raises(DatasetError, match="no accelerometer readings"):
        read_recording_file(path, "slope", "hyw")


def test_undecodable_file_is_an_error(tmp_path):
    path = tmp_path / "output_slope_hyw.txt"
    path.write_bytes(b"\xff\xfe\x00garbage\x80")
    with pytest.raises(DatasetError, match="output_slope_hyw.txt"):
        read_recording_file(path, "slope", "hyw")


# --- the folder ----------------------------------------------------------------------

def test_load_the_folder_with_persons_from_file_names(tmp_path):
    recs = load_magic_wand(make_root(tmp_path))
    assert len(recs) == 3 * 2 * 2 + 2 * 3
    assert {r.person for r in recs} == {"hyw", "liucx", "negative1", "negative2"}
    assert {r.gesture for r in recs} == {"wing", "ring", "slope", "negative"}


def test_load_accepts_the_unpacked_archive_folder(tmp_path):
    make_root(tmp_path / "data")
    assert len(load_magic_wand(tmp_path)) == len(load_magic_wand(tmp_path / "data"))


@pytest.mark.parametrize("damage", ["no_folder", "no_ring", "empty_slope"])
def test_wrong_layouts_are_errors(tmp_path, damage):
    root = tmp_path / "data"
    if damage != "no_folder":
        make_root(root)
    if damage == "no_ring":
        for f in (root / "ring").iterdir():
            f.unlink()
        (root / "ring").rmdir()
    if damage == "empty_slope":
        for f in (root / "slope").iterdir():
            f.unlink()
    with pytest.raises(DatasetError):
        load_magic_wand(root)


def test_person_split_keeps_people_apart(tmp_path):
    split = person_split(load_magic_wand(make_root(tmp_path)))
    assert {r.person for r in split["train"]} == {"hyw"}
    assert {r.person for r in split["test"]} == {"liucx", "negative1"}
    assert {r.person for r in split["valid"]} == {"negative2"}
    with pytest.raises(DatasetError, match="none of the persons"):
        person_split([Recording("wing", "nobody", np.zeros((5, 3)))])


def test_generated_negatives_follow_the_original_recipe():
    negs = generate_negative_data(seed=1)
    assert len(negs) == 300 and all(r.data.shape == (128, 3) for r in negs)
    names = [r.person for r in negs[:100]]
    assert (names.count("negative6"), names.count("negative7"), names.count("negative8")) == (61, 20, 19)
    still = negs[200].data
    assert np.ptp(still, axis=0).max() <= 40  # "stay still": +-20 around one point
    assert generate_negative_data(seed=1)[5].data.tolist() == negs[5].data.tolist()


# --- augmentation and padding ----------------------------------------------------------

def time_wrapping_loop(m, d, data):
    """data_augmentation.py's definition, element by element."""
    out = [[0.0] * 3 for _ in range((len(data) // m - 1) * d)]
    for i in range(len(data) // m - 1):
        for j in range(3):
            for k in range(d):
                out[d * i + k][j] = (data[m * i + k][j] * (d - k) + data[m * i + k + 1][j] * k) / d
    return np.array(out, np.float32).reshape(-1, 3)


@pytest.mark.parametrize("fraction", FRACTIONS)
def test_time_wrapping_matches_the_loop(fraction):
    data = np.random.default_rng(0).normal(0, 500, (37, 3)).astype(np.float32)
    assert np.allclose(time_wrapping(*fraction, data), time_wrapping_loop(*fraction, data), atol=1e-3)


def test_time_wrapping_of_a_tiny_recording_is_empty():
    assert time_wrapping(9, 5, np.ones((10, 3))).shape == (0, 3)


def test_augment_makes_25_variants_of_the_right_kinds():
    data = np.random.default_rng(1).normal(0, 300, (40, 3)).astype(np.float32)
    out = augment_data([Recording("ring", "hyw", data)], np.random.default_rng(2))
    assert len(out) == 25 and all(r.gesture == "ring" for r in out)
    assert np.array_equal(out[0].data, data)
    for r in out[1:6]:                      # shifted: one offset for everything, within +-100
        offset = r.data - data
        assert np.allclose(offset, offset[0, 0], atol=1e-3) and abs(offset[0, 0]) <= 100
    for r in out[6:11]:                     # noisy: 0..5 added per value
        assert 0 <= (r.data - data).min() and (r.data - data).max() < 5
    assert not np.array_equal(out[6].data, out[7].data)
    assert [len(r.data) for r in out[11:18]] == [(40 // m - 1) * d for m, d in FRACTIONS]
    for r, (m, d) in zip(out[18:], FRACTIONS):
        assert np.allclose(r.data, data * m / d, rtol=1e-5)


def test_pad_puts_the_gesture_at_the_end_then_the_start():
    data = np.arange(30, dtype=np.float32).reshape(10, 3) * 100
    before, after = pad(data, np.random.default_rng(0))
    assert before.shape == after.shape == (128, 3)
    assert np.array_equal(before[-10:], data) and np.array_equal(after[:10], data)
    assert np.abs(before[:-10] - data[0]).max() <= 10 and np.abs(after[10:] - data[-1]).max() <= 10


def test_pad_keeps_the_first_128_of_a_long_gesture():
    data = np.arange(600, dtype=np.float32).reshape(200, 3)
    before, after = pad(data, np.random.default_rng(0))
    assert np.array_equal(before, data[:128]) and np.array_equal(after, data[:128])


def test_make_windows_two_per_recording_and_seeded(tmp_path):
    recs = load_magic_wand(make_root(tmp_path))
    x, y = make_windows(recs, seed=3)
    assert x.shape == (2 * len(recs), 128, 3) and x.dtype == np.float32
    assert list(y[:4]) == [recs[0].label] * 2 + [recs[1].label] * 2
    assert np.array_equal(x, make_windows(recs, seed=3)[0])
    xa, ya = make_windows(recs[:2], seed=3, augment=True)
    assert len(xa) == 2 * 25 * 2
    with pytest.raises(DatasetError):
        make_windows([])
