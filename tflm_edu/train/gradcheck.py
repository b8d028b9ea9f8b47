"""Gradient checking: a layer's backward() against central differences of its forward().

The derivative of a loss L in one number w is (L(w + eps) - L(w - eps)) / (2 eps), up to an
error of order eps^2; in float64 with eps = 1e-6 that leaves about 1e-9 of disagreement, so
a backward() with a real mistake stands out by many orders of magnitude. The loss used is
sum(forward(x) * r) for a fixed random r, which makes backward's incoming gradient r.
"""
from __future__ import annotations

import numpy as np

from tflm_edu.train.layer import Layer


def numeric_gradient(f, array: np.ndarray, eps: float = 1e-6, max_entries: int = 150,
                     rng: np.random.Generator | None = None):
    """Central differences of f() in the entries of `array` (changed in place and restored;
    a random subset of them if there are more than max_entries): (flat indices, gradients)."""
    flat = array.reshape(-1)                  # a view: writing it changes the array f reads
    picks = np.arange(flat.size)
    if flat.size > max_entries:
        rng = rng if rng is not None else np.random.default_rng(0)
        picks = rng.choice(flat.size, max_entries, replace=False)
    grads = np.empty(len(picks))
    for k, i in enumerate(picks):
        saved = flat[i]
        flat[i] = saved + eps
        plus = f()
        flat[i] = saved - eps
        minus = f()
        flat[i] = saved
        grads[k] = (plus - minus) / (2 * eps)
    return picks, grads


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """max |analytic - numeric| / max |numeric|: scale-free, and calm where gradients are 0."""
    return float(np.abs(analytic - numeric).max() / max(np.abs(numeric).max(), 1e-12))


def gradient_errors(layer: Layer, input_shape: tuple, batch: int = 2, scale: float = 3.0,
                    training: bool = True, seed: int = 0) -> dict:
    """Build `layer` for input_shape in float64 and return, for the input "x" and each weight,
    the relative error of backward()'s gradient against numeric_gradient()."""
    rng = np.random.default_rng(seed)
    layer.build(input_shape, rng)
    for name in layer.params + layer.state:
        setattr(layer, name, getattr(layer, name).astype(np.float64))
    x = scale * rng.standard_normal((batch, *input_shape))    # wide enough to cross ReLU6's 6
    r = rng.standard_normal((batch, *layer.output_shape))

    def loss():
        return float((layer.forward(x, training) * r).sum())

    loss()
    analytic = {"x": layer.backward(r), **layer.grads}
    errors = {}
    for name, array in [("x", x)] + [(p, getattr(layer, p)) for p in layer.params]:
        picks, numeric = numeric_gradient(loss, array, rng=rng)
        errors[name] = relative_error(np.asarray(analytic[name]).reshape(-1)[picks], numeric)
    return errors
