"""Training throughput of tflm_edu.train on the example architectures.

Prints samples per second for full training steps (forward + backward + Adam update) on
random data of each model's input shape, the best and the median of a few repeats (the
machine is shared, so single timings are noisy), and the time one epoch takes. With
--profile it also prints where a step's time goes, layer by layer.

    python benchmarks/bench_train.py [--repeats 3] [--profile]

Targets on 2 cores: an epoch of 1,000 96x96 images through the person detection MobileNet
in under 60 s; micro_speech tiny_conv at 2,000 samples/s or more.

The matrix products here are narrow (8 to 256 output channels), so a second BLAS thread gains
little, and when another process holds the other core it makes every product wait for it. On a
shared machine, OPENBLAS_NUM_THREADS=1 gives steadier (and there, higher) figures.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from tflm_edu.train import Adam, architectures

# (builder, samples per epoch, batch size, loss)
CASES = {
    "hello_world": (architectures.hello_world, 1000, 64, "mse"),
    "micro_speech_tiny_conv": (architectures.micro_speech_tiny_conv, 2000, 100, "cross_entropy"),
    "magic_wand": (architectures.magic_wand, 2000, 64, "cross_entropy"),
    "person_detection_mobilenet_v1": (architectures.person_detection_mobilenet_v1, 1000, 32,
                                      "cross_entropy"),
}


def random_data(model, samples: int, loss: str, rng: np.random.Generator):
    x = rng.standard_normal((samples, *model.input_shape), dtype=np.float32)
    if loss == "mse":
        return x, rng.standard_normal((samples, *model.output_shape), dtype=np.float32)
    return x, rng.integers(0, model.output_shape[-1], samples)


def epoch_seconds(model, x, y, batch_size: int) -> float:
    """Wall time of one pass of train_step over (x, y)."""
    start = time.perf_counter()
    for i in range(0, len(x), batch_size):
        model.train_step(x[i:i + batch_size], y[i:i + batch_size])
    return time.perf_counter() - start


def profile_step(model, x, y) -> None:
    """Forward and backward seconds of each layer for one batch, slowest first."""
    rows, out = [], x
    for layer in model.layers:
        start = time.perf_counter()
        out = layer.forward(out, training=True)
        rows.append([layer.name, time.perf_counter() - start, 0.0])
    model.loss(out, y)
    grad = model.loss.backward()
    backward_layers = model._backward_layers          # without a Softmax fused into the loss
    for layer, row in zip(reversed(backward_layers), reversed(rows[:len(backward_layers)])):
        start = time.perf_counter()
        grad = layer.backward(grad)
        row[2] = time.perf_counter() - start
    for name, fwd, bwd in sorted(rows, key=lambda r: -(r[1] + r[2]))[:12]:
        print(f"    {name:<28} forward {fwd * 1e3:7.2f} ms   backward {bwd * 1e3:7.2f} ms")


def bench(name: str, repeats: int, profile: bool) -> None:
    build, samples, batch_size, loss = CASES[name]
    model = build(seed=0)
    model.compile(optimizer=Adam(1e-3), loss=loss)
    x, y = random_data(model, samples, loss, np.random.default_rng(0))
    epoch_seconds(model, x[:2 * batch_size], y[:2 * batch_size], batch_size)   # warm up
    times = [epoch_seconds(model, x, y, batch_size) for _ in range(repeats)]
    best, median = min(times), statistics.median(times)
    print(f"{name:<32} batch {batch_size:>3}: {samples / best:9,.0f} samples/s best, "
          f"{samples / median:9,.0f} median; epoch of {samples:,} in {best:7.3f} s best, "
          f"{median:7.3f} s median")
    if profile:
        profile_step(model, x[:batch_size], y[:batch_size])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="per-layer times of one batch")
    parser.add_argument("models", nargs="*", help=f"some of {', '.join(CASES)} (default: all)")
    args = parser.parse_args()
    unknown = set(args.models) - set(CASES)
    if unknown:
        parser.error(f"unknown model(s) {', '.join(sorted(unknown))}")
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"numpy {np.__version__}, {os.cpu_count()} CPUs, OPENBLAS_NUM_THREADS="
          f"{os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, load average {load}")
    for name in args.models or CASES:
        bench(name, args.repeats, args.profile)


if __name__ == "__main__":
    main()
