"""From a sensor to a model input: the magic_wand and person_detection input pipelines.

magic_wand mirrors the example's accelerometer_handler (the Arduino one): keep every
n-th IMU reading so about 25 per second remain, convert g to milli-g, remap the axes
to the orientation the training data had (x = -z, y = y, z = x), keep the newest 128
readings in a ring buffer, and hand them to the model as float32 [1, 128, 3, 1]. The
model takes raw milli-g: training used no mean or scale normalisation, so none is
applied here either.

person_detection mirrors the example's image_provider plus the training's
preprocessing: a camera frame of any size is cut to a centred square, resized to
96x96, turned into 8-bit grayscale (ITU-R 601 luma, as tf.image.rgb_to_grayscale and
Pillow both use), then made int8 [1, 96, 96, 1].

Two int8 conventions, and why both exist. The model's input quantization is scale
1/127.5, zero point -1, and training mapped pixels p to p/127.5 - 1, so a real
camera pixel becomes q = p - 128 ('shift', the default). TFLM's own test images
(person.bmp, no_person.bmp) are instead fed by a memcpy of their bytes into the
int8 tensor ('memcpy'): person.bmp stores bytes that were already shifted, which is
why it looks solarised when opened as a picture. load_tflm_test_image() uses that.
"""
from __future__ import annotations

import numpy as np

from tflm_edu.display import shown
from PIL import Image

SEQ_LENGTH = 128
TARGET_HZ = 25           # the example's kTargetHz
IMAGE_SIZE = 96          # kNumCols = kNumRows = 96
CONVENTIONS = ("shift", "memcpy")


# --- magic_wand: accelerometer readings -> [1, 128, 3, 1] float32 -----------------

def arduino_axes(readings) -> np.ndarray:
    """The Arduino handler's remap (x, y, z) -> (-z, y, x), for the training orientation."""
    r = np.asarray(readings, np.float32)
    return np.stack([-r[:, 2], r[:, 1], r[:, 0]], axis=1)


def decimate(readings, sample_rate: float, target_hz: float = TARGET_HZ) -> np.ndarray:
    """Keep every n-th reading, n = round(sample_rate / target_hz), as the handler does.

    The handler simply skips readings (no low-pass filter): the IMU's own
    bandwidth setting is the anti-aliasing.
    """
    every = max(1, int(round(sample_rate / target_hz)))
    return np.asarray(readings, np.float32)[every - 1::every]


def latest_window(readings, seq_length: int = SEQ_LENGTH) -> np.ndarray:
    """The newest seq_length readings; zeros in front while the buffer is filling.

    The device's ring buffer starts zeroed, so a short history looks like that.
    """
    r = np.asarray(readings, np.float32).reshape(-1, 3)
    window = np.zeros((seq_length, 3), np.float32)
    n = min(len(r), seq_length)
    if n:
        window[seq_length - n:] = r[len(r) - n:]
    return window


def wand_input(readings, units: str = "mg", sample_rate: float | None = None,
               remap_axes: bool = False) -> np.ndarray:
    """Accelerometer readings (n, 3) -> the model input float32 [1, 128, 3, 1] in milli-g.

    units 'g' multiplies by 1000; sample_rate decimates to ~25 Hz; remap_axes
    applies arduino_axes() for an Arduino Nano 33 BLE held as the example shows.
    """
    if units not in ("mg", "g"):
        raise ValueError(f"units must be 'mg' or 'g', not {units!r}")
    r = np.asarray(readings, np.float32).reshape(-1, 3)
    if sample_rate is not None:
        r = decimate(r, sample_rate)
    if units == "g":
        r = r * 1000.0
    if remap_axes:
        r = arduino_axes(r)
    return latest_window(r).reshape(1, SEQ_LENGTH, 3, 1)


def sliding_windows(readings, stride: int = 8, seq_length: int = SEQ_LENGTH) -> np.ndarray:
    """Every seq_length window of a long stream, stride readings apart: [k, 128, 3]."""
    r = np.asarray(readings, np.float32).reshape(-1, 3)
    if len(r) < seq_length:
        return latest_window(r, seq_length)[None]
    starts = range(0, len(r) - seq_length + 1, stride)
    return np.stack([r[s:s + seq_length] for s in starts])


def plot_wand_pipeline(readings, sample_rate: float | None = None, units: str = "mg"):
    """Figure: the stream with the window the model sees, and that window as an image."""
    import matplotlib.pyplot as plt
    stream = np.asarray(readings, np.float32).reshape(-1, 3)
    stream = decimate(stream, sample_rate) if sample_rate is not None else stream
    stream = stream * 1000.0 if units == "g" else stream
    x = wand_input(readings, units, sample_rate)[0, :, :, 0]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3), gridspec_kw={"width_ratios": [3, 1]})
    for axis, name in enumerate("xyz"):
        axes[0].plot(stream[:, axis], label=name, lw=1)
    axes[0].axvspan(max(0, len(stream) - SEQ_LENGTH), len(stream) - 1, color="gold", alpha=0.25,
                    label="model input")
    axes[0].set(title="the stream (milli-g); the newest 128 readings go to the model",
                xlabel="reading (~25 Hz)")
    axes[0].legend(loc="upper left", fontsize=7)
    im = axes[1].imshow(x, aspect="auto", cmap="coolwarm", vmin=-2000, vmax=2000)
    axes[1].set(title="[128, 3] as the conv sees it", xticks=[0, 1, 2], xticklabels=list("xyz"))
    fig.colorbar(im, ax=axes[1])
    fig.tight_layout()
    return shown(fig)


# --- person_detection: camera frame -> [1, 96, 96, 1] int8 -------------------------

def as_image(frame) -> Image.Image:
    """A Pillow image from a PIL image or a uint8 array (H, W), (H, W, 3) or (H, W, 4)."""
    if isinstance(frame, Image.Image):
        return frame
    a = np.asarray(frame)
    if a.dtype != np.uint8:
        raise ValueError(f"a camera frame must be uint8 (0..255), got {a.dtype}; "
                         "scale and convert it first")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise ValueError(f"a camera frame must be (H, W), (H, W, 3) or (H, W, 4), got {a.shape}")
    return Image.fromarray(a)


def crop_box(width: int, height: int) -> tuple[int, int, int, int]:
    """The centred square (left, top, right, bottom) of a width x height frame."""
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def to_gray96(frame, size: int = IMAGE_SIZE) -> np.ndarray:
    """Centre-crop to a square, resize to size x size, 8-bit grayscale: uint8 [size, size]."""
    image = as_image(frame)
    # Grayscale before resizing: a palette image cannot be interpolated, and luma is
    # what the monochrome camera (and training's --use_grayscale) gives.
    image = image.convert("L")
    image = image.crop(crop_box(*image.size))
    return np.asarray(image.resize((size, size), Image.Resampling.BILINEAR), np.uint8)


def to_int8(gray, convention: str = "shift") -> np.ndarray:
    """uint8 pixels -> int8 model values: 'shift' (p - 128) or 'memcpy' (same bytes)."""
    gray = np.asarray(gray)
    if gray.dtype != np.uint8:
        raise ValueError(f"to_int8 wants uint8 pixels, got {gray.dtype}")
    if convention == "shift":
        return (gray.astype(np.int16) - 128).astype(np.int8)
    if convention == "memcpy":
        return gray.view(np.int8)
    raise ValueError(f"convention must be one of {CONVENTIONS}, not {convention!r}")


def camera_input(frame, convention: str = "shift") -> np.ndarray:
    """Any camera frame -> the person_detect input, int8 [1, 96, 96, 1]."""
    return to_int8(to_gray96(frame), convention).reshape(1, IMAGE_SIZE, IMAGE_SIZE, 1)


def plot_camera_pipeline(frame, convention: str = "shift"):
    """Figure: frame with its crop box, the 96x96 grayscale, and the int8 values."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle
    image = as_image(frame)
    gray = to_gray96(image)
    q = to_int8(gray, convention)
    fig, axes = plt.subplots(1, 4, figsize=(13, 3))
    axes[0].imshow(image, cmap="gray" if image.mode == "L" else None)
    left, top, right, bottom = crop_box(*image.size)
    axes[0].add_patch(Rectangle((left, top), right - left, bottom - top, fill=False, color="r", lw=2))
    axes[0].set_title(f"frame {image.size[0]}x{image.size[1]} {image.mode}, crop")
    axes[1].imshow(gray, cmap="gray", vmin=0, vmax=255)
    axes[1].set_title("96x96 grayscale uint8")
    im = axes[2].imshow(q, cmap="gray", vmin=-128, vmax=127)
    axes[2].set_title(f"int8 input ({convention})")
    fig.colorbar(im, ax=axes[2])
    axes[3].hist(q.ravel(), bins=64, range=(-128, 128), color="gray")
    axes[3].set_title("int8 values")
    for a in axes[:3]:
        a.axis("off")
    fig.tight_layout()
    return shown(fig)


def plot_int8_conventions(pixels):
    """Figure: uint8 pixels as a picture, then as int8 by 'shift' and by 'memcpy'.

    Hand it person.bmp's bytes and the memcpy view is the natural one; hand it a
    camera frame and 'shift' is - the picture shows which kind of bytes you hold.
    """
    import matplotlib.pyplot as plt
    pixels = np.asarray(pixels, np.uint8)
    fig, axes = plt.subplots(1, 3, figsize=(9, 3))
    axes[0].imshow(pixels, cmap="gray", vmin=0, vmax=255)
    axes[0].set_title("the bytes as uint8 pixels")
    for ax, convention in zip(axes[1:], CONVENTIONS):
        ax.imshow(to_int8(pixels, convention), cmap="gray", vmin=-128, vmax=127)
        ax.set_title(f"as int8, {convention}")
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    return shown(fig)
