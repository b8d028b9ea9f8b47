"""Optimizers: SGD with momentum and Adam (tf.keras.optimizers.SGD / Adam), with L2 weight decay.

An optimizer is handed the model's parameters as (name, value, grad) triples and updates each
value in place, so the arrays a layer holds (layer.kernel, ...) stay the same objects. Its
per-parameter state (velocity, moments) is keyed by the parameter's name.

SGD and Adam update every number on its own (`elementwise = True`), so step() runs their
update once over all the parameters laid end to end in one flat array, rather than once per
parameter: a MobileNet has 83 parameter arrays, and a dozen numpy calls on each cost more
than the arithmetic. The per-name state arrays are then views into the flat state.

The learning rate is a number or a schedule: any callable step -> rate (see schedules.py),
asked once per step with the number of updates made so far.

weight_decay adds L2 regularisation to kernels only (the loss gains weight_decay/2 * |kernel|^2,
so the gradient gains weight_decay * kernel). Biases and BatchNormalization's gamma/beta are
left alone, as Keras does when a kernel_regularizer is set.
"""
from __future__ import annotations

import numpy as np


class Optimizer:
    elementwise = False             # update() treats every number alike: step() may batch them
    slot_kinds: tuple = ()          # the state update() keeps per parameter, e.g. ("m", "v")

    def __init__(self, learning_rate, weight_decay: float = 0.0):
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.iterations = 0         # updates made so far: the schedule's clock
        self.slots: dict = {}       # per-parameter state, by parameter name
        self._layouts: dict = {}    # names -> (offsets, flat state name), for the flat path

    def current_lr(self) -> float:
        lr = self.learning_rate
        return float(lr(self.iterations) if callable(lr) else lr)

    def step(self, params) -> None:
        """Apply one update to every (name, value, grad) triple."""
        lr = self.current_lr()
        self.iterations += 1
        params = [(name, value, grad + self.weight_decay * value
                   if self.weight_decay and name.endswith("kernel") else grad)
                  for name, value, grad in params]
        if self.elementwise and len(params) > 1 and len({v.dtype for _, v, _ in params}) == 1:
            self._step_flat(params, lr)
            return
        for name, value, grad in params:
            self.update(name, value, grad.astype(value.dtype, copy=False), lr)

    def _step_flat(self, params, lr) -> None:
        """update() once over every parameter laid end to end, then copied back in place."""
        names = tuple(name for name, _, _ in params)
        layout = self._layouts.get(names)
        if layout is None:
            layout = self._layouts[names] = self._flat_layout(params)
        offsets, flat_name = layout
        dtype = params[0][1].dtype
        values = np.concatenate([value.reshape(-1) for _, value, _ in params])
        grads = np.concatenate([grad.reshape(-1) for _, _, grad in params], dtype=dtype)
        self.update(flat_name, values, grads, lr)
        for (_, value, _), start, end in zip(params, offsets[:-1], offsets[1:]):
            value[...] = values[start:end].reshape(value.shape)

    def _flat_layout(self, params):
        """Offsets of each parameter in the flat arrays, and flat state whose per-name slots
        are views into it (state the per-parameter path made before is carried over)."""
        sizes = [value.size for _, value, _ in params]
        offsets = np.concatenate([[0], np.cumsum(sizes)]).tolist()
        flat_name = tuple(name for name, _, _ in params)
        for other in [names for names in self._layouts if set(names) & set(flat_name)]:
            del self._layouts[other]          # its per-name views are about to move here
            for kind in self.slot_kinds:
                self.slots.pop((other, kind), None)
        for kind in self.slot_kinds:
            flat = np.zeros(offsets[-1], params[0][1].dtype)
            for (name, value, _), start, end in zip(params, offsets[:-1], offsets[1:]):
                old = self.slots.get((name, kind))
                if old is not None:
                    flat[start:end] = old.reshape(-1)
                self.slots[(name, kind)] = flat[start:end].reshape(value.shape)
            self.slots[(flat_name, kind)] = flat
        return offsets, flat_name

    def update(self, name: str, value: np.ndarray, grad: np.ndarray, lr: float) -> None:
        raise NotImplementedError

    def slot(self, name: str, kind: str, like: np.ndarray) -> np.ndarray:
        """A zero-initialised state array for one parameter, created on first use."""
        state = self.slots.get((name, kind))
        if state is None:
            state = self.slots[(name, kind)] = np.zeros_like(like)
        return state


class SGD(Optimizer):
    """velocity = momentum * velocity - lr * grad; value += velocity."""

    elementwise, slot_kinds = True, ("velocity",)

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

    elementwise, slot_kinds = True, ("m", "v")

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
        denominator = np.sqrt(v)
        denominator += self.epsilon
        value -= np.divide(m, denominator, out=denominator) * step

    def __repr__(self):
        return (f"Adam(learning_rate={self.learning_rate!r}, beta_1={self.beta_1}, "
                f"beta_2={self.beta_2}, weight_decay={self.weight_decay})")
