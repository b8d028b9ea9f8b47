"""Optimizers: SGD with momentum and Adam (tf.keras.optimizers.SGD / Adam), with L2 weight decay.

An optimizer is handed the model's parameters as (name, value, grad) triples and updates each
value in place, so the arrays a layer holds (layer.kernel, ...) stay the same objects. Its
per-parameter state (velocity, moments) is keyed by the parameter's name.

The learning rate is a number or a schedule: any callable step -> rate (see schedules.py),
asked once per step with the number of updates made so far.

weight_decay adds L2 regularisation to kernels only (the loss gains weight_decay/2 * |kernel|^2,
so the gradient gains weight_decay * kernel). Biases and BatchNormalization's gamma/beta are
left alone, as Keras does when a kernel_regularizer is set.
"""
from __future__ import annotations

import numpy as np


class Optimizer:
    def __init__(self, learning_rate, weight_decay: float = 0.0):
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.iterations = 0         # updates made so far: the schedule's clock
        self.slots: dict = {}       # per-parameter state, by parameter name

    def current_lr(self) -> float:
        lr = self.learning_rate
        return float(lr(self.iterations) if callable(lr) else lr)

    def step(self, params) -> None:
        """Apply one update to every (name, value, grad) triple."""
        lr = self.current_lr()
        self.iterations += 1
        for name, value, grad in params:
            if self.weight_decay and name.endswith("kernel"):
                grad = grad + self.weight_decay * value
            self.update(name, value, grad.astype(value.dtype, copy=False), lr)

    def update(self, name: str, value: np.ndarray, grad: np.ndarray, lr: float) -> None:
        raise NotImplementedError

    def slot(self, name: str, kind: str, like: np.ndarray) -> np.ndarray:
        """A zero-initialised state array for one parameter, created on first use."""
        return self.slots.setdefault((name, kind), np.zeros_like(like))


class SGD(Optimizer):
    """velocity = momentum * velocity - lr * grad; value += velocity."""

    def __init__(self, learning_rate=0.01, momentum: float = 0.0, weight_decay: float = 0.0):
        super().__init__(learning_rate, weight_decay)
        self.momentum = momentum

    def update(self, name, value, grad, lr):
        if not self.momentum:
            value -= lr * grad
            return
        velocity = self.slot(name, "velocity", value)
        velocity *= self.momentum
        velocity -= lr * grad
        value += velocity

    def __repr__(self):
        return (f"SGD(learning_rate={self.learning_rate!r}, momentum={self.momentum}, "
                f"weight_decay={self.weight_decay})")


class Adam(Optimizer):
    """Per-parameter step sizes from running averages of the gradient (m) and its square (v)."""

    def __init__(self, learning_rate=0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, weight_decay: float = 0.0):
        super().__init__(learning_rate, weight_decay)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def update(self, name, value, grad, lr):
        m, v = self.slot(name, "m", value), self.slot(name, "v", value)
        m += (1 - self.beta_1) * (grad - m)              # m = b1 m + (1 - b1) g, in place
        v += (1 - self.beta_2) * (grad * grad - v)
        # Both averages start at 0, so early on they are too small; divide the bias out.
        t = self.iterations
        step = lr * np.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)
        value -= step * m / (np.sqrt(v) + self.epsilon)

    def __repr__(self):
        return (f"Adam(learning_rate={self.learning_rate!r}, beta_1={self.beta_1}, "
                f"beta_2={self.beta_2}, weight_decay={self.weight_decay})")
