"""Losses: categorical cross-entropy and mean squared error, averaged over the batch
(tf.keras.losses.CategoricalCrossentropy / SparseCategoricalCrossentropy / MeanSquaredError).

A loss is called as loss(output, labels) -> float and then loss.backward() -> d loss / d output.
Cross-entropy's backward always returns the gradient with respect to the *logits*,
(probabilities - one_hot) / batch: with from_logits=False the model ends in a Softmax layer and
that gradient is Softmax and cross-entropy differentiated together, so Sequential skips the
Softmax layer's own backward. Together the two are simpler and better conditioned than apart.
"""
from __future__ import annotations

import numpy as np

from tflm_edu.train.activations import softmax


def one_hot(labels: np.ndarray, classes: int) -> np.ndarray:
    """Integer class labels (N,) -> (N, classes) rows of 0/1; one-hot rows pass through."""
    labels = np.asarray(labels)
    if labels.ndim == 2:
        return labels.astype(np.float32, copy=False)
    if labels.min() < 0 or labels.max() >= classes:
        raise ValueError(f"labels must be class indices in [0, {classes}), got "
                         f"{labels.min()}..{labels.max()}")
    return np.eye(classes, dtype=np.float32)[labels]


class CrossEntropy:
    """-mean over the batch of sum(one_hot * log(p)); labels are class indices or one-hot rows."""

    metric = "accuracy"

    def __init__(self, from_logits: bool = True):
        self.from_logits = from_logits

    def __call__(self, output: np.ndarray, labels: np.ndarray) -> float:
        self.p = softmax(output) if self.from_logits else output
        self.y = one_hot(labels, output.shape[-1])
        # Clip so a confidently wrong probability of 0 costs log(1e-7), not infinity.
        log_p = np.log(np.clip(self.p, 1e-7, 1.0))
        return float(-(self.y * log_p).sum() / len(output))

    def backward(self) -> np.ndarray:
        """d loss / d logits: the (fused) Softmax + cross-entropy gradient."""
        return (self.p - self.y) / len(self.p)

    @staticmethod
    def score(output: np.ndarray, labels: np.ndarray) -> float:
        """Accuracy: the fraction of samples whose largest output is the labelled class."""
        labels = np.asarray(labels)
        truth = labels.argmax(axis=-1) if labels.ndim == 2 else labels
        return float((output.argmax(axis=-1) == truth).mean())

    def __repr__(self):
        return f"CrossEntropy(from_logits={self.from_logits})"


class MeanSquaredError:
    """mean((output - labels)^2) over every element, for regression such as hello_world."""

    metric = "mae"

    def __call__(self, output: np.ndarray, labels: np.ndarray) -> float:
        labels = np.asarray(labels, dtype=output.dtype).reshape(output.shape)
        self.diff = output - labels
        return float((self.diff ** 2).mean())

    def backward(self) -> np.ndarray:
        return 2 * self.diff / self.diff.size

    @staticmethod
    def score(output: np.ndarray, labels: np.ndarray) -> float:
        """Mean absolute error: in the units of the target, easier to read than the loss."""
        return float(np.abs(output - np.asarray(labels).reshape(output.shape)).mean())

    def __repr__(self):
        return "MeanSquaredError()"


LOSSES = {"cross_entropy": CrossEntropy, "mse": MeanSquaredError}
