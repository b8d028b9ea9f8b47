"""Learning-rate schedules (tf.keras.optimizers.schedules): callables step -> learning rate.

`step` counts optimizer updates (batches), not epochs, as in Keras. Anything callable works
as a schedule; these three cover the TFLM example training scripts.
"""
from __future__ import annotations

import math


class StepDecay:
    """initial * factor ** (step // every): drop by `factor` every `every` steps."""

    def __init__(self, initial: float, factor: float, every: int):
        self.initial, self.factor, self.every = initial, factor, every

    def __call__(self, step: int) -> float:
        return self.initial * self.factor ** (step // self.every)

    def __repr__(self):
        return f"StepDecay({self.initial}, factor={self.factor}, every={self.every})"


class ExponentialDecay:
    """initial * rate ** (step / decay_steps): a smooth version of StepDecay."""

    def __init__(self, initial: float, rate: float, decay_steps: int):
        self.initial, self.rate, self.decay_steps = initial, rate, decay_steps

    def __call__(self, step: int) -> float:
        return self.initial * self.rate ** (step / self.decay_steps)

    def __repr__(self):
        return f"ExponentialDecay({self.initial}, rate={self.rate}, decay_steps={self.decay_steps})"


class CosineDecay:
    """Half a cosine from `initial` down to `final` over `decay_steps`, then `final`."""

    def __init__(self, initial: float, decay_steps: int, final: float = 0.0):
        self.initial, self.decay_steps, self.final = initial, decay_steps, final

    def __call__(self, step: int) -> float:
        progress = min(step, self.decay_steps) / self.decay_steps
        return self.final + (self.initial - self.final) * 0.5 * (1 + math.cos(math.pi * progress))

    def __repr__(self):
        return f"CosineDecay({self.initial}, decay_steps={self.decay_steps}, final={self.final})"
