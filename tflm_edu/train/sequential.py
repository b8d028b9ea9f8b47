"""Sequential: a stack of layers that trains itself, after tf.keras.Sequential.

    model = Sequential([Dense(16, activation="relu"), Dense(1)], input_shape=(1,), seed=0)
    model.compile(optimizer=Adam(0.01), loss="mse")
    history = model.fit(x, y, epochs=100, batch_size=64, validation_split=0.2)

One training step is the whole of backpropagation: run the layers forward, ask the loss for
its gradient, hand that gradient back through the layers in reverse order (each one turns
d loss / d output into d loss / d input and keeps d loss / d weights), then let the optimizer
move every weight a little against its gradient.

Everything random (initial weights, dropout masks, shuffling) comes from numpy Generators
seeded by `seed`, so the same calls give the same model, bit for bit.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from tflm_edu.train import allocator
from tflm_edu.train import threads as _threads
from tflm_edu.train.activations import Softmax
from tflm_edu.train.layer import Layer, overwriting, snake_case
from tflm_edu.train.losses import LOSSES, CrossEntropy


class History(dict):
    """Per-epoch figures from fit(): {"loss": [...], "accuracy": [...], "val_loss": [...], ...}."""

    def append(self, logs: dict) -> None:
        for key, value in logs.items():
            self.setdefault(key, []).append(value)

    @property
    def epochs(self) -> int:
        return len(self.get("loss", []))

    def plot(self, ax=None):
        """The training curves against epoch: loss (log scale) and, beside it, the metric
        (accuracy, or mae for regression), each for training and - when fit() had
        validation data - validation. Returns the figure. `ax` (one Axes) draws the loss
        alone into it."""
        import matplotlib.pyplot as plt
        epochs = range(1, self.epochs + 1)
        metric = next((k for k in self if k not in ("loss", "val_loss")
                       and not k.startswith("val_")), None)
        if ax is not None:
            axes = [ax]
        else:
            columns = 2 if metric else 1
            _, axes = plt.subplots(1, columns, figsize=(5 * columns, 3.2),
                                   constrained_layout=True, squeeze=False)
            axes = list(axes[0])
        panels = [("loss", True)] + ([(metric, False)] if metric and len(axes) > 1 else [])
        for axis, (name, log_scale) in zip(axes, panels):
            for key, label, style in ((name, "training", "-"),
                                      (f"val_{name}", "validation", "--")):
                if key in self:
                    axis.plot(epochs, self[key], style, marker="o", markersize=3, label=label)
            axis.set(xlabel="epoch", ylabel=name, title=name)
            if log_scale:
                axis.set_yscale("log")
            axis.xaxis.get_major_locator().set_params(integer=True)
            axis.legend()
        return axes[0].figure

    def __repr__(self):
        trends = ", ".join(f"{k} {v[0]:.4g} -> {v[-1]:.4g}" for k, v in self.items())
        return f"History({self.epochs} epochs: {trends})"


@dataclass(frozen=True)
class LayerInfo:
    """One row of Sequential.summary(); per sample, float32 activations."""

    name: str
    layer: str
    output_shape: tuple
    params: int
    macs: int
    activation_bytes: int


class Sequential:
    def __init__(self, layers: list, input_shape: tuple, seed: int = 0):
        if not layers or not all(isinstance(layer, Layer) for layer in layers):
            raise ValueError("Sequential needs a non-empty list of Layer objects")
        self.layers = list(layers)
        self.input_shape = tuple(input_shape)
        self.loss = self.optimizer = None
        self._build(np.random.default_rng(seed))

    def _build(self, rng: np.random.Generator) -> None:
        """Name the layers and let each create its weights for the shape it will receive."""
        seen, shape = Counter(), self.input_shape
        for layer in self.layers:
            base = snake_case(type(layer).__name__)
            layer.name = base if not seen[base] else f"{base}_{seen[base]}"
            seen[base] += 1
            shape = layer.build(shape, rng)
        self.layers[0].input_grad = False     # d loss / d x is never needed
        # In a training step a layer may write over its input if the layer before is its
        # only reader (layer.py: fresh_output); never over the caller's x.
        for before, layer in zip([None] + self.layers[:-1], self.layers):
            layer.input_private = bool(before is not None and before.fresh_output)
        self.output_shape = shape

    # ---- running ------------------------------------------------------------------------------

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x, training)
        return x

    def predict(self, x, batch_size: int = 256) -> np.ndarray:
        """Inference (dropout off, batch norm on its moving averages), in batches."""
        x = self._check_x(x)
        return np.concatenate([self.forward(x[i:i + batch_size])
                               for i in range(0, len(x), batch_size)])

    def evaluate(self, x, y, batch_size: int = 256) -> dict:
        """{"loss": ..., "accuracy" or "mae": ...} over the whole of (x, y), in inference mode."""
        self._require_compiled()
        x, y = self._check_data(x, y)
        out = self.predict(x, batch_size)
        return {"loss": self.loss(out, y), self.loss.metric: self.loss.score(out, y)}

    def _check_x(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.shape[1:] != self.input_shape:
            raise ValueError(f"x has shape {x.shape} but this model takes "
                             f"(batch, {', '.join(map(str, self.input_shape))}) arrays")
        return x

    def _check_data(self, x, y) -> tuple:
        x, y = self._check_x(x), np.asarray(y)
        if len(y) != len(x):
            raise ValueError(f"x has {len(x)} samples but y has {len(y)}")
        return x, y

    # ---- training -----------------------------------------------------------------------------

    def compile(self, optimizer, loss="cross_entropy") -> None:
        """Choose the optimizer and loss ("cross_entropy", "mse" or a loss object).

        "cross_entropy" reads probabilities if the model ends in Softmax, logits otherwise;
        a mismatch (softmax applied twice, or never) is refused rather than trained badly.
        """
        ends_in_softmax = isinstance(self.layers[-1], Softmax)
        if isinstance(loss, str):
            if loss not in LOSSES:
                raise ValueError(f"loss must be one of {sorted(LOSSES)} or a loss object, "
                                 f"got {loss!r}")
            loss = CrossEntropy(not ends_in_softmax) if loss == "cross_entropy" else LOSSES[loss]()
        if isinstance(loss, CrossEntropy) and loss.from_logits == ends_in_softmax:
            raise ValueError(f"{loss} does not fit a model that "
                             f"{'ends' if ends_in_softmax else 'does not end'} in Softmax")
        self.optimizer, self.loss = optimizer, loss
        # Softmax + cross-entropy: the loss's gradient is already d loss / d logits.
        fused = isinstance(loss, CrossEntropy) and ends_in_softmax
        self._backward_layers = self.layers[:-1] if fused else self.layers

    def _require_compiled(self) -> None:
        if self.loss is None:
            raise ValueError("call model.compile(optimizer=..., loss=...) first")

    def parameters(self) -> list:
        """(name, value, grad) for every trained array: what the optimizer updates."""
        return [(f"{layer.name}/{p}", getattr(layer, p), layer.grads[p])
                for layer in self.layers for p in layer.params]

    def train_step(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """One batch of forward, backward and update; returns (loss, metric) on the batch."""
        allocator.keep_freed_memory()       # once per process: see allocator.py
        with overwriting():                 # arrays nobody reads again may be reused
            out = self.forward(x, training=True)
            loss = self.loss(out, y)
            grad = self.loss.backward()
            for layer in reversed(self._backward_layers):
                grad = layer.backward(grad)
        self.optimizer.step(self.parameters())
        return loss, self.loss.score(out, y)

    def fit(self, x, y, epochs: int = 1, batch_size: int = 32, validation_split: float = 0.0,
            validation_data: tuple | None = None, patience: int | None = None,
            shuffle: bool = True, seed: int = 0, verbose: int = 1, callbacks=(),
            blas_threads: int | None = None) -> History:
        """Train for `epochs` passes over (x, y); returns the History of per-epoch figures.

        validation_split holds out the *last* fraction of the samples (before shuffling, as
        Keras does); validation_data=(x_val, y_val) gives them explicitly. With `patience`,
        training stops once the monitored loss (val_loss if there is validation data, else
        loss) has not improved for that many epochs, and the best weights are restored.
        Each callback is called as callback(epoch, history) after every epoch; a truthy
        return value stops training.

        The whole loop runs with numpy's BLAS pinned (threadpoolctl) to `blas_threads`
        threads, by default threads.blas_threads(self): one thread, which measured at least
        as fast as two on these models and several times faster when another process keeps
        the other core busy (tflm_edu/train/threads.py has the measurements). The setting
        in force before (OPENBLAS_NUM_THREADS, ...) is restored when fit() returns.
        """
        threads = _threads.blas_threads(self) if blas_threads is None else blas_threads
        with _threads.blas_limits(threads):
            return self._fit(x, y, epochs, batch_size, validation_split, validation_data,
                             patience, shuffle, seed, verbose, callbacks)

    def _fit(self, x, y, epochs, batch_size, validation_split, validation_data, patience,
             shuffle, seed, verbose, callbacks) -> History:
        self._require_compiled()
        x, y = self._check_data(x, y)
        (x, y), validation = _split(x, y, validation_split, validation_data)
        rng, history = np.random.default_rng(seed), History()
        monitor = "val_loss" if validation else "loss"
        stopper = _EarlyStopping(patience, monitor) if patience else None
        steps = math.ceil(len(x) / batch_size)
        with tqdm(total=epochs * steps, disable=not verbose, unit="batch") as bar:
            for epoch in range(epochs):
                bar.set_description(f"epoch {epoch + 1}/{epochs}")
                logs = self._train_epoch(x, y, batch_size, rng if shuffle else None, bar)
                if validation:
                    logs.update({f"val_{k}": v for k, v in self.evaluate(*validation).items()})
                history.append(logs)
                bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items()})
                stop = [callback(epoch, history) for callback in callbacks]
                if any(stop) or (stopper and stopper.should_stop(logs, self)):
                    break
        if stopper:
            stopper.restore(self)
        return history

    def _train_epoch(self, x, y, batch_size, rng, bar) -> dict:
        order = rng.permutation(len(x)) if rng is not None else np.arange(len(x))
        loss_sum = score_sum = 0.0
        for start in range(0, len(x), batch_size):
            batch = order[start:start + batch_size]
            loss, score = self.train_step(x[batch], y[batch])
            loss_sum, score_sum = loss_sum + loss * len(batch), score_sum + score * len(batch)
            seen = start + len(batch)                     # running means over the epoch so far
            bar.set_postfix({"loss": f"{loss_sum / seen:.4g}",
                             self.loss.metric: f"{score_sum / seen:.4g}"}, refresh=False)
            bar.update(1)
        return {"loss": loss_sum / len(x), self.loss.metric: score_sum / len(x)}

    # ---- weights ------------------------------------------------------------------------------

    def get_weights(self) -> dict:
        """Copies of every weight, trained or not, as {"layer_name/weight_name": array}."""
        return {f"{layer.name}/{name}": value.copy()
                for layer in self.layers for name, value in layer.weights().items()}

    def set_weights(self, weights: dict) -> None:
        """Copy weights in place (layers and optimizer keep their arrays); names must match."""
        mine = {f"{layer.name}/{name}": value
                for layer in self.layers for name, value in layer.weights().items()}
        if set(weights) != set(mine):
            missing, unexpected = sorted(set(mine) - set(weights)), sorted(set(weights) - set(mine))
            raise ValueError(f"weights do not match this model: missing {missing}, "
                             f"unexpected {unexpected}")
        for key, value in mine.items():
            if np.shape(weights[key]) != value.shape:
                raise ValueError(f"{key} has shape {np.shape(weights[key])}, "
                                 f"expected {value.shape}")
            value[...] = weights[key]

    def save_weights(self, path) -> None:
        np.savez(path, **self.get_weights())

    def load_weights(self, path) -> None:
        with np.load(path) as data:
            self.set_weights({key: data[key] for key in data.files})

    # ---- description --------------------------------------------------------------------------

    def count_params(self) -> int:
        return sum(layer.count_params() for layer in self.layers)

    def layer_table(self) -> list[LayerInfo]:
        """Per layer: output shape, weights, MACs and float32 output bytes, for one sample."""
        return [LayerInfo(layer.name, type(layer).__name__, layer.output_shape,
                          layer.count_params(), layer.macs(), 4 * math.prod(layer.output_shape))
                for layer in self.layers]

    def summary(self, print_fn=print) -> None:
        """Print the layer table with totals, like keras.Model.summary()."""
        rows = self.layer_table()
        header = (f"{'layer (type)':<46}{'output shape':>14}{'params':>10}{'MACs':>13}"
                  f"{'act. bytes':>12}")
        print_fn(header)
        print_fn("=" * len(header))
        for r in rows:
            print_fn(f"{f'{r.name} ({r.layer})':<46}{str(r.output_shape):>14}{r.params:>10,}"
                     f"{r.macs:>13,}{r.activation_bytes:>12,}")
        print_fn("=" * len(header))
        trained = sum(getattr(layer, p).size for layer in self.layers for p in layer.params)
        print_fn(f"{'total':<60}{sum(r.params for r in rows):>10,}{sum(r.macs for r in rows):>13,}"
                 f"{sum(r.activation_bytes for r in rows):>12,}")
        print_fn(f"trainable params: {trained:,}   non-trainable: {self.count_params() - trained:,}"
                 f"   input: {self.input_shape} = {4 * math.prod(self.input_shape):,} bytes")

    def __repr__(self):
        lines = [f"  {layer!r},  # {layer.name} -> {layer.output_shape}" for layer in self.layers]
        return "Sequential([\n" + "\n".join(lines) + f"\n], input_shape={self.input_shape})"


def _split(x, y, validation_split: float, validation_data):
    """((x_train, y_train), (x_val, y_val) or None)."""
    if validation_data is not None:
        return (x, y), tuple(validation_data)
    if not validation_split:
        return (x, y), None
    n_val = int(round(len(x) * validation_split))
    if not 0 < n_val < len(x):
        raise ValueError(f"validation_split={validation_split} leaves no training or no "
                         f"validation samples out of {len(x)}")
    return (x[:-n_val], y[:-n_val]), (x[-n_val:], y[-n_val:])


class _EarlyStopping:
    """Stop after `patience` epochs without a new best `monitor`; remember the best weights."""

    def __init__(self, patience: int, monitor: str):
        self.patience, self.monitor = patience, monitor
        self.best, self.best_weights, self.waited = math.inf, None, 0

    def should_stop(self, logs: dict, model: Sequential) -> bool:
        if logs[self.monitor] < self.best:
            self.best, self.best_weights, self.waited = logs[self.monitor], model.get_weights(), 0
            return False
        self.waited += 1
        return self.waited >= self.patience

    def restore(self, model: Sequential) -> None:
        if self.best_weights is not None:
            model.set_weights(self.best_weights)
