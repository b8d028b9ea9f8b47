"""Synthetic magic_wand accelerometer traces: wing (W), ring (O), slope and negatives.

For learners without the example's recordings. It mirrors nothing in TFLM; it
imitates the recordings that magic_wand's data_prepare.py reads: readings in
milli-g at 25 Hz, gravity included, from a board near the tip of a wand.

How a trace is made (physics, not curve fitting):
  1. the letter as a path in a unit square (x right, y up), its corners jittered,
     tilted a little, then timed: each stroke starts and stops smoothly
     (minimum-jerk) and the corners are rounded, over a random duration (speed);
  2. the wand pivots at the wrist, so the letter is drawn mostly by where the wand
     points (yaw and pitch angles, a random angular size) and a little by the arm;
  3. the board sits LEVER_M along the wand: it reads its own acceleration plus 1 g
     upward (an accelerometer at rest reads +1 g against gravity), in its own axes.
     Turning the wand changes how gravity falls on those axes - for wand gestures
     that is the bigger part of the signal, larger than the acceleration itself;
  4. averaged down to 25 Hz, with sensor noise and offset, placed at a random
     moment of a 128-reading window with the wand resting (and wobbling) around it.

BOARD_FROM_WAND (how the board is mounted on the wand) and the ranges below are
the ones under which TFLM's reference magic_wand.tflite, trained on the real
recordings only, recognises most synthetic wings and slopes (rings less often) and
every negative: a sign that the traces look like the real thing, though a model
learns them best from themselves.
"""
from __future__ import annotations

import numpy as np

from tflm_edu.display import shown

from tflm_edu.datasets.magic_wand import LABELS, SEQ_LENGTH, Recording

SAMPLE_HZ = 25.0
FINE = 10               # simulate at 10 x 25 Hz, then average down (the sensor's low-pass)
GRAVITY_MG = 1000.0
MG_PER_MS2 = 1000.0 / 9.81
LEVER_M = 0.25          # wrist to board
# Rows: the board's x, y, z in the wand's (right, up, pointing) axes.
BOARD_FROM_WAND = np.array([[0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
SECONDS = (0.8, 2.0)    # how long a gesture takes
SPAN_RAD = (0.8, 1.5)   # how large a letter is, as an angle of the wand
RAISED_RAD = (0.3, 0.9) # how far the wand points above the horizon while drawing
ARM_M = (0.05, 0.25)    # how much of the letter the arm draws, in metres
RANGE_MG = 4000.0       # the sensor saturates here (the example set its IMU to +-4 g)

SHAPES = {  # polylines in a unit box, drawn in this order
    "wing": [(0.0, 1.0), (0.25, 0.0), (0.5, 0.6), (0.75, 0.0), (1.0, 1.0)],
    "slope": [(1.0, 1.0), (0.0, 0.0), (1.0, 0.0)],
}


# --- the letter, as a timed path -----------------------------------------------------

def min_jerk(tau: np.ndarray) -> np.ndarray:
    """Rest-to-rest progress 0..1 over tau in 0..1: how arms move between two points."""
    return 10 * tau**3 - 15 * tau**4 + 6 * tau**5


def polyline_path(points, n: int) -> np.ndarray:
    """n positions along a polyline, each stroke rest-to-rest, time ~ sqrt(stroke length)."""
    points = np.asarray(points, float)
    lengths = np.linalg.norm(np.diff(points, axis=0), axis=1)
    durations = np.sqrt(lengths) / np.sqrt(lengths).sum()
    t = np.linspace(0, 1, n)
    edges = np.concatenate([[0], np.cumsum(durations)])
    stroke = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, len(lengths) - 1)
    tau = np.clip((t - edges[stroke]) / durations[stroke], 0, 1)
    s = min_jerk(tau)[:, None]
    return points[stroke] * (1 - s) + points[stroke + 1] * s


def ring_path(n: int, rng) -> np.ndarray:
    """n positions once round a circle, clockwise from the top, rest-to-rest."""
    turns = rng.uniform(0.95, 1.1)
    angle = np.pi / 2 - 2 * np.pi * turns * min_jerk(np.linspace(0, 1, n))
    return 0.5 + 0.5 * np.stack([np.cos(angle), np.sin(angle)], axis=1)


def smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing along axis 0 with edge padding (rounds the corners of a path)."""
    radius = max(1, int(3 * sigma))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(x, ((radius, radius), (0, 0)), mode="edge")
    return np.stack([np.convolve(padded[:, i], kernel, mode="valid") for i in range(x.shape[1])], 1)


def letter_path(gesture: str, n: int, rng) -> np.ndarray:
    """The letter as (n, 2) positions in a unit square centred on 0: jittered, tilted."""
    if gesture == "ring":
        unit = ring_path(n, rng)
    else:
        corners = np.asarray(SHAPES[gesture]) + rng.normal(0, 0.06, (len(SHAPES[gesture]), 2))
        unit = polyline_path(corners, n)
    unit = smooth(unit, sigma=n * rng.uniform(0.01, 0.03))
    angle = rng.uniform(-0.25, 0.25)
    tilt = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return ((unit - 0.5) * [rng.uniform(0.8, 1.2), 1.0]) @ tilt.T


# --- from the wand's motion to board readings ----------------------------------------

def wand_axes(yaw, pitch, roll) -> np.ndarray:
    """(n, 3, 3): rows are the wand's right, up and pointing directions in the world.

    World axes: x right, y up, z toward the user; yaw 0, pitch 0 points away from
    the user, level.
    """
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    pointing = np.stack([sy * cp, sp, -cy * cp], axis=1)
    right0 = np.stack([cy, np.zeros_like(cy), sy], axis=1)
    up0 = np.cross(right0, pointing)
    cr, sr = np.cos(roll)[:, None], np.sin(roll)[:, None]
    return np.stack([cr * right0 + sr * up0, cr * up0 - sr * right0, pointing], axis=1)


def board_readings(angles: np.ndarray, arm: np.ndarray) -> np.ndarray:
    """Fine-rate (yaw, pitch, roll) and arm position (m) -> 25 Hz board readings (milli-g)."""
    axes = wand_axes(*angles.T)
    position = arm + LEVER_M * axes[:, 2]
    dt = 1.0 / (SAMPLE_HZ * FINE)
    accel = np.gradient(np.gradient(position, dt, axis=0), dt, axis=0) * MG_PER_MS2
    specific_force = accel + np.array([0.0, GRAVITY_MG, 0.0])
    board = np.einsum("ij,njk,nk->ni", BOARD_FROM_WAND, axes, specific_force)
    n = len(board) // FINE * FINE
    return board[:n].reshape(-1, FINE, 3).mean(axis=1)


def in_window(angles, arm, rng, seq_length: int = SEQ_LENGTH, wobble: float = 0.04):
    """A motion (fine samples) at a random moment of a resting window, read by the board.

    Before the motion the wand rests where it starts, after it where it ends; a
    slow random wobble of the hand runs through the whole window.
    """
    total = seq_length * FINE
    start = int(rng.integers(0, max(1, total - len(angles) + 1)))
    held = np.empty((total, 6))
    arm = np.broadcast_to(arm, (len(angles), 3))  # a still arm may come as one row
    motion = np.concatenate([angles, arm], axis=1)[:total - start]
    held[:start], held[start:start + len(motion)], held[start + len(motion):] = motion[0], motion, motion[-1]
    drift = smooth(rng.normal(0, 1, (total, 3)), sigma=FINE * rng.uniform(4, 12))
    held[:, :3] += wobble * drift / (drift.std(0) + 1e-9)
    readings = board_readings(held[:, :3], held[:, 3:])
    noise = rng.normal(0, rng.uniform(3, 15), readings.shape) + rng.normal(0, 20, 3)
    return np.clip(readings + noise, -RANGE_MG, RANGE_MG).astype(np.float32)


def gesture_motion(gesture: str, rng) -> tuple[np.ndarray, np.ndarray]:
    """(angles (n, 3), arm (n, 3)) at the fine rate for one drawn letter."""
    n = int(rng.uniform(*SECONDS) * SAMPLE_HZ * FINE)
    letter = letter_path(gesture, n, rng)
    span = rng.uniform(*SPAN_RAD)
    yaw, pitch = letter[:, 0] * span, rng.uniform(*RAISED_RAD) + letter[:, 1] * span
    roll = np.full(n, rng.uniform(-0.3, 0.3))  # how the hand grips the wand
    arm = np.concatenate([letter, np.zeros((n, 1))], axis=1) * rng.uniform(*ARM_M)
    return np.stack([yaw, pitch, roll], axis=1), arm


def make_gesture(gesture: str, rng, seq_length: int = SEQ_LENGTH) -> np.ndarray:
    """One 128 x 3 window (milli-g) of wing, ring or slope at a random speed and size."""
    return in_window(*gesture_motion(gesture, rng), rng, seq_length)


NEGATIVE_KINDS = ("still", "tilt", "flick", "shake", "wander")


def random_motion(n: int, rng, sigma: float, amplitude: float) -> np.ndarray:
    """(n, 3) smooth random motion: noise smoothed over sigma samples, scaled."""
    path = smooth(rng.normal(0, 1, (n, 3)), sigma)
    return amplitude * (path - path.mean(0)) / (path.std() + 1e-9)


def negative_motion(kind: str, rng, total: int) -> tuple[np.ndarray, np.ndarray]:
    """(angles, arm) at the fine rate for one kind of not-a-gesture."""
    pose = np.array([rng.uniform(-1, 1), rng.uniform(-1.3, 1.3), rng.uniform(-np.pi, np.pi)])
    still = np.zeros((1, 3))
    if kind == "still":    # resting, held any which way
        return pose[None], still
    if kind == "tilt":     # turning the wand slowly, drawing nothing
        return pose + random_motion(total, rng, FINE * rng.uniform(8, 20), rng.uniform(0.3, 0.8)), still
    if kind == "flick":    # one straight move of the wand (and maybe back)
        n = int(rng.uniform(0.3, 1.0) * SAMPLE_HZ * FINE)
        step = rng.normal(0, 1, 3) * [1, 1, 0.3]
        there = min_jerk(np.linspace(0, 1, n))[:, None] * step / np.linalg.norm(step) * rng.uniform(0.3, 1.0)
        there = np.concatenate([there, there[::-1]]) if rng.random() < 0.5 else there
        return pose + there, still
    if kind == "shake":    # fast, jerky, small
        angles = pose + random_motion(total, rng, FINE * rng.uniform(1.0, 2.5), rng.uniform(0.03, 0.12))
        return angles, random_motion(total, rng, FINE * rng.uniform(1.0, 2.5), rng.uniform(0.005, 0.02))
    # wander: the arm moves slowly about, the wand turns a little
    angles = pose + random_motion(total, rng, FINE * rng.uniform(4, 10), rng.uniform(0.05, 0.2))
    return angles, random_motion(total, rng, FINE * rng.uniform(4, 10), rng.uniform(0.05, 0.2))


def make_negative(rng, seq_length: int = SEQ_LENGTH) -> np.ndarray:
    """One 128 x 3 window of something that is not a gesture (kind picked at random)."""
    kind = NEGATIVE_KINDS[int(rng.integers(len(NEGATIVE_KINDS)))]
    return in_window(*negative_motion(kind, rng, seq_length * FINE), rng, seq_length)


def make_window(label: str, rng, seq_length: int = SEQ_LENGTH) -> np.ndarray:
    """One window of the named class: wing, ring, slope or negative."""
    if label == "negative":
        return make_negative(rng, seq_length)
    return make_gesture(label, rng, seq_length)


def make_gesture_dataset(n_per_class: int = 50, seed: int = 0,
                         seq_length: int = SEQ_LENGTH) -> tuple[np.ndarray, np.ndarray]:
    """(windows float32 [4 n, 128, 3] milli-g, labels [4 n]) in LABELS order, shuffled.

    Each example has its own generator seeded from (seed, index), so the same
    seed always gives the same data, and example i does not depend on n_per_class.
    """
    labels = np.repeat(np.arange(len(LABELS)), n_per_class)
    windows = [make_window(LABELS[label], np.random.default_rng([seed, i, label]), seq_length)
               for i, label in enumerate(labels)]
    order = np.random.default_rng([seed, 2**32 - 1]).permutation(len(labels))
    return np.stack(windows).astype(np.float32)[order], labels[order]


def make_recording(gesture: str, rng, person: str = "synth") -> Recording:
    """One performed gesture with a short rest around it, as in the original recordings."""
    angles, arm = gesture_motion(gesture, rng)
    length = len(angles) // FINE + int(rng.integers(6, 16))
    data = in_window(angles, arm, rng, length)
    return Recording(gesture, person, np.round(data).astype(np.float32), "synthetic")


def plot_samples(windows, labels, per_class: int = 3):
    """Figure: a few windows of each class, x/y/z against reading index."""
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(len(LABELS), per_class, figsize=(3 * per_class, 2 * len(LABELS)),
                             sharex=True, sharey=True, squeeze=False)
    for row, name in enumerate(LABELS):
        picks = np.flatnonzero(np.asarray(labels) == row)[:per_class]
        for col, i in enumerate(picks):
            for axis, colour in enumerate(("tab:red", "tab:green", "tab:blue")):
                axes[row, col].plot(windows[i][:, axis], color=colour, lw=1, label="xyz"[axis])
            axes[row, col].set_title(f"{name} #{i}", fontsize=9)
        axes[row, 0].set_ylabel("milli-g")
    axes[0, 0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return shown(fig)
