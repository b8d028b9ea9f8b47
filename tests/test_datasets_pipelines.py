"""Sensor -> model input: the magic_wand and person_detection pipelines."""
import matplotlib.figure
import numpy as np
import pytest

from tflm_edu.datasets import (Recording, camera_input, plot_augmentations, plot_camera_pipeline,
                               plot_int8_conventions, plot_wand_pipeline, sliding_windows, to_gray96,
                               to_int8, wand_input)
from tflm_edu.datasets.pipelines import arduino_axes, decimate, latest_window


# --- magic_wand ----------------------------------------------------------------------

def test_wand_input_is_the_newest_128_readings_as_float32():
    readings = np.arange(600, dtype=np.float32).reshape(200, 3)
    x = wand_input(readings)
    assert x.shape == (1, 128, 3, 1) and x.dtype == np.float32
    assert np.array_equal(x[0, :, :, 0], readings[-128:])


def test_a_filling_buffer_is_zero_in_front():
    window = latest_window(np.ones((5, 3)))
    assert np.all(window[:123] == 0) and np.all(window[123:] == 1)
    assert np.all(latest_window(np.zeros((0, 3))) == 0)


def test_units_and_axes_like_the_arduino_handler():
    g = np.array([[0.1, 0.2, 0.3]] * 3)
    x = wand_input(g, units="g", remap_axes=True)[0, -1, :, 0]
    assert np.allclose(x, [-300, 200, 100])
    assert np.allclose(arduino_axes([[1, 2, 3]]), [[-3, 2, 1]])
    with pytest.raises(ValueError):
        wand_input(g, units="m/s2")


def test_decimate_keeps_every_nth_reading():
    readings = np.arange(119 * 3, dtype=np.float32).reshape(119, 3)
    kept = decimate(readings, 119)   # 119 Hz IMU -> every 5th, ~24 Hz
    assert len(kept) == 23 and np.array_equal(kept[0], readings[4]) and np.array_equal(kept[1], readings[9])


def test_sliding_windows():
    stream = np.random.default_rng(0).normal(size=(300, 3)).astype(np.float32)
    windows = sliding_windows(stream, stride=10)
    assert windows.shape == (18, 128, 3) and np.array_equal(windows[2], stream[20:148])
    assert sliding_windows(stream[:50]).shape == (1, 128, 3)


# --- person_detection ------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(96, 96), (120, 160), (240, 320, 3), (480, 640, 4), (100, 100, 1)])
def test_any_frame_becomes_int8_1x96x96x1(shape):
    frame = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    x = camera_input(frame)
    assert x.shape == (1, 96, 96, 1) and x.dtype == np.int8


def test_a_96x96_gray_frame_passes_unchanged():
    frame = np.random.default_rng(0).integers(0, 256, (96, 96), dtype=np.uint8)
    assert np.array_equal(to_gray96(frame), frame)


def test_rgb_to_luma():
    frame = np.zeros((96, 96, 3), np.uint8)
    frame[..., 0] = 255  # pure red: luma 0.299 * 255
    assert abs(int(to_gray96(frame)[0, 0]) - 76) <= 1


def test_int8_conventions():
    pixels = np.array([0, 127, 128, 200, 255], np.uint8)
    assert to_int8(pixels, "shift").tolist() == [-128, -1, 0, 72, 127]
    assert to_int8(pixels, "memcpy").tolist() == [0, 127, -128, -56, -1]
    with pytest.raises(ValueError):
        to_int8(pixels, "offset")
    with pytest.raises(ValueError):
        to_int8(pixels.astype(np.float32))


@pytest.mark.parametrize("bad", [np.zeros((10, 10), np.float32), np.zeros((10, 10, 2), np.uint8),
                                 np.zeros((2, 10, 10, 3), np.uint8)])
def test_bad_frames_are_refused(bad):
    with pytest.raises(ValueError):
        camera_input(bad)


def test_picture_functions_return_figures():
    import matplotlib.pyplot as plt
    plt.close("all")            # figures other tests left open in this process
    frame = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    assert isinstance(plot_camera_pipeline(frame), matplotlib.figure.Figure)
    assert isinstance(plot_wand_pipeline(np.zeros((200, 3))), matplotlib.figure.Figure)
    assert isinstance(plot_int8_conventions(frame[:, :, 0]), matplotlib.figure.Figure)
    wing = Recording("wing", "me", np.random.default_rng(1).normal(0, 500, (40, 3)).astype(np.float32))
    assert isinstance(plot_augmentations(wing), matplotlib.figure.Figure)
    assert plt.get_fignums() == []  # closed: a notebook shows them once, scripts leak none
