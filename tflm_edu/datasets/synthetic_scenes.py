"""Synthetic grayscale scenes with and without a person, for person_detection.

For learners without Visual Wake Words. It mirrors nothing in TFLM; it imitates
what the example's camera sees: an 8-bit grayscale picture, sometimes with a
person (label 1) and otherwise without (label 0), at any size and place.

A scene is painted in layers with Pillow's ImageDraw, at twice the size and then
reduced (that smooths the edges the way a lens does):
  1. a background: a gradient between two gray levels, sometimes a floor line;
  2. clutter: rectangles, ellipses, polygons and lines in random grays;
  3. look-alikes, in both classes: lamp posts (a "head" on a stick), trees,
     four-legged animals, chairs - so that "a blob on a stick" is not enough;
  4. for label 1, one to three people: head, neck, torso, two-part arms and legs
     at random joint angles (standing, walking, waving, reaching), any size from
     a distant figure to a close-up whose legs leave the frame, clothes and skin
     in shades that differ from what is behind them;
  5. lighting: a brightness gradient, gain, gamma and sensor noise.
"""
from __future__ import annotations

import numpy as np

from tflm_edu.display import shown
from PIL import Image, ImageDraw

LABELS = ("no person", "person")
OVERSAMPLE = 2


# --- small drawing helpers -----------------------------------------------------------

def _gray(rng, lo=0, hi=255) -> int:
    return int(rng.integers(lo, hi + 1))


def _contrasting(rng, against: float, margin: int = 45) -> int:
    """A gray level at least `margin` away from `against` (so a figure is visible)."""
    for _ in range(20):
        g = _gray(rng, 10, 245)
        if abs(g - against) >= margin:
            return g
    return 245 if against < 128 else 10


def _limb(draw, start, angle, length, width, fill) -> tuple[float, float]:
    """A limb segment from start at angle (radians, 0 = straight down); returns its end."""
    end = (start[0] + length * np.sin(angle), start[1] + length * np.cos(angle))
    draw.line([start, end], fill=fill, width=max(1, int(width)))
    r = width / 2  # round joints, so a bent elbow does not show a notch
    draw.ellipse([end[0] - r, end[1] - r, end[0] + r, end[1] + r], fill=fill)
    return end


def gradient_background(width: int, height: int, rng) -> np.ndarray:
    """A linear gradient between two random grays in a random direction (float)."""
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = x * np.cos(angle) + y * np.sin(angle)
    ramp = (ramp - ramp.min()) / (np.ptp(ramp) + 1e-9)
    a, b = _gray(rng, 20, 235), _gray(rng, 20, 235)
    return a + (b - a) * ramp


# --- what is in the picture ----------------------------------------------------------

def draw_clutter(draw, width, height, rng, count: int) -> None:
    """Random rectangles, ellipses, polygons and lines: the texture of a room or street."""
    for _ in range(count):
        kind = int(rng.integers(4))
        x0, y0 = rng.uniform(-0.2, 1.0) * width, rng.uniform(-0.2, 1.0) * height
        w, h = rng.uniform(0.05, 0.6) * width, rng.uniform(0.05, 0.6) * height
        fill = _gray(rng)
        if kind == 0:
            draw.rectangle([x0, y0, x0 + w, y0 + h], fill=fill)
        elif kind == 1:
            draw.ellipse([x0, y0, x0 + w, y0 + h], fill=fill)
        elif kind == 2:
            corners = int(rng.integers(3, 6))
            points = [(x0 + rng.uniform(0, w), y0 + rng.uniform(0, h)) for _ in range(corners)]
            draw.polygon(points, fill=fill)
        else:
            draw.line([(x0, y0), (x0 + w, y0 + h)], fill=fill, width=int(rng.integers(1, 6) * OVERSAMPLE))


def draw_lookalike(draw, width, height, rng) -> None:
    """Something person-sized that is not a person: lamp post, tree, animal or chair."""
    kind = int(rng.integers(4))
    s = rng.uniform(0.3, 0.9) * height
    cx, base = rng.uniform(0.1, 0.9) * width, rng.uniform(0.6, 1.05) * height
    shade = _gray(rng)
    if kind == 0:    # lamp post: a round lamp on a thin pole
        draw.rectangle([cx - s * 0.02, base - s, cx + s * 0.02, base], fill=shade)
        r = s * rng.uniform(0.05, 0.09)
        draw.ellipse([cx - r, base - s - 2 * r, cx + r, base - s], fill=_gray(rng))
    elif kind == 1:  # tree: trunk and crown
        draw.rectangle([cx - s * 0.05, base - s * 0.5, cx + s * 0.05, base], fill=shade)
        draw.ellipse([cx - s * 0.3, base - s, cx + s * 0.3, base - s * 0.4], fill=_gray(rng))
    elif kind == 2:  # four-legged animal
        body_w, body_h = s * 0.6, s * 0.25
        top = base - s * 0.55
        draw.ellipse([cx - body_w / 2, top, cx + body_w / 2, top + body_h], fill=shade)
        for dx in (-0.4, -0.25, 0.25, 0.4):
            draw.line([(cx + dx * body_w, top + body_h * 0.7), (cx + dx * body_w, base)], fill=shade,
                      width=max(1, int(s * 0.05)))
        head = cx + body_w * 0.5 * (1 if rng.random() < 0.5 else -1)
        draw.ellipse([head - s * 0.1, top - s * 0.12, head + s * 0.1, top + s * 0.06], fill=shade)
    else:            # chair: seat, back, legs
        w = s * 0.4
        draw.rectangle([cx - w / 2, base - s * 0.5, cx + w / 2, base - s * 0.44], fill=shade)
        draw.rectangle([cx + w / 2 - s * 0.05, base - s, cx + w / 2, base - s * 0.44], fill=shade)
        for x in (cx - w / 2, cx + w / 2 - s * 0.04):
            draw.rectangle([x, base - s * 0.44, x + s * 0.04, base], fill=shade)


def person_pose(rng) -> dict:
    """Joint angles (radians from straight down) for one of a few everyday poses."""
    pose = ("stand", "walk", "wave", "reach")[int(rng.integers(4))]
    spread = {"stand": 0.1, "walk": 0.35, "wave": 0.15, "reach": 0.2}[pose]
    legs = [-spread + rng.normal(0, 0.08), spread + rng.normal(0, 0.08)]
    arms = [-0.2 + rng.normal(0, 0.15), 0.2 + rng.normal(0, 0.15)]
    if pose == "wave":
        arms[1] = rng.uniform(2.3, 3.0)
    elif pose == "reach":
        arms[int(rng.integers(2))] *= rng.uniform(4, 8)
    elbows = [a + rng.uniform(-0.3, 0.9) * np.sign(a or 1) for a in arms]
    knees = [g + rng.uniform(0, 0.4) * -np.sign(g or 1) for g in legs]
    return {"arms": arms, "elbows": elbows, "legs": legs, "knees": knees}


def draw_person(draw, cx: float, feet: float, height: float, rng, behind: float) -> None:
    """A person `height` tall standing at (cx, feet); shades chosen to differ from `behind`."""
    skin, top, bottom = (_contrasting(rng, behind) for _ in range(3))
    h = height
    pose = person_pose(rng)
    hip_y, shoulder_y, head_r = feet - 0.5 * h, feet - 0.81 * h, 0.065 * h
    for side, sign in enumerate((-1, 1)):  # legs, then arms, then torso over them
        hip = (cx + sign * 0.05 * h, hip_y)
        knee = _limb(draw, hip, pose["legs"][side], 0.25 * h, 0.085 * h, bottom)
        _limb(draw, knee, pose["knees"][side], 0.25 * h, 0.07 * h, bottom)
    for side, sign in enumerate((-1, 1)):
        shoulder = (cx + sign * 0.11 * h, shoulder_y + 0.02 * h)
        elbow = _limb(draw, shoulder, sign * pose["arms"][side], 0.17 * h, 0.06 * h, top)
        _limb(draw, elbow, sign * pose["elbows"][side], 0.15 * h, 0.05 * h, top)
    draw.polygon([(cx - 0.13 * h, shoulder_y), (cx + 0.13 * h, shoulder_y),
                  (cx + 0.09 * h, hip_y + 0.03 * h), (cx - 0.09 * h, hip_y + 0.03 * h)], fill=top)
    draw.rectangle([cx - 0.025 * h, shoulder_y - 0.05 * h, cx + 0.025 * h, shoulder_y], fill=skin)
    head_y = shoulder_y - 0.04 * h - head_r
    draw.ellipse([cx - 0.85 * head_r, head_y - head_r, cx + 0.85 * head_r, head_y + head_r], fill=skin)


def place_people(draw, width, height, rng, background) -> None:
    """One to three people, far (small, whole) to near (large, legs out of frame)."""
    for _ in range(1 + int(rng.random() < 0.25) + int(rng.random() < 0.1)):
        h = height * rng.uniform(0.35, 1.5)
        cx = rng.uniform(0.15, 0.85) * width
        # the head stays inside the frame; a tall person's feet may leave it
        feet = rng.uniform(max(0.95 * h, 0.4 * height), max(0.95 * h, 0.4 * height) + 0.3 * height)
        behind = float(background[int(np.clip(feet - h / 2, 0, height - 1)), int(np.clip(cx, 0, width - 1))])
        draw_person(draw, cx, min(feet, height + 0.45 * h), h, rng, behind)


# --- the whole scene -----------------------------------------------------------------

def light(image: np.ndarray, rng) -> np.ndarray:
    """Lighting and sensor: a brightness gradient, gain, gamma, noise -> uint8."""
    height, width = image.shape
    shade = gradient_background(width, height, rng) / 255.0
    x = image / 255.0 * (0.6 + 0.6 * shade) * rng.uniform(0.6, 1.3)
    x = np.clip(x, 0, 1) ** rng.uniform(0.6, 1.6)
    x = x * 255 + rng.normal(0, rng.uniform(1, 8), x.shape)
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


def make_scene(person: bool, rng, width: int = 96, height: int = 96) -> np.ndarray:
    """One uint8 [height, width] grayscale scene, with a person if `person`."""
    w, h = width * OVERSAMPLE, height * OVERSAMPLE
    background = gradient_background(w, h, rng)
    canvas = Image.fromarray(np.clip(background, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    draw_clutter(draw, w, h, rng, count=int(rng.integers(2, 9)))
    for _ in range(int(rng.integers(0, 3))):
        draw_lookalike(draw, w, h, rng)
    if person:
        place_people(draw, w, h, rng, np.asarray(canvas, np.float32))
    small = canvas.resize((width, height), Image.Resampling.BOX)
    return light(np.asarray(small, np.float32), rng)


def make_scene_dataset(n_per_class: int = 50, seed: int = 0, width: int = 96,
                       height: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 [2 n, height, width], labels [2 n]: 0 no person, 1 person), shuffled.

    Each scene has its own generator seeded from (seed, index, label), so a seed
    always gives the same pictures.
    """
    labels = np.repeat([0, 1], n_per_class)
    images = [make_scene(bool(label), np.random.default_rng([seed, i, label]), width, height)
              for i, label in enumerate(labels)]
    order = np.random.default_rng([seed, 2**32 - 1]).permutation(len(labels))
    return np.stack(images)[order], labels[order]


def plot_samples(images, labels, count: int = 12, columns: int = 6):
    """Figure: a grid of scenes titled with their labels."""
    import matplotlib.pyplot as plt
    count = min(count, len(images))
    rows = -(-count // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(1.8 * columns, 2.0 * rows), squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i < count:
            ax.imshow(images[i], cmap="gray", vmin=0, vmax=255)
            ax.set_title(LABELS[int(labels[i])], fontsize=9)
    fig.tight_layout()
    return shown(fig)
