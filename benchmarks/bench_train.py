"""Training throughput of tflm_edu.train on the example architectures, against tf.keras.

Prints one table: samples per second of full training steps (forward + backward + Adam update)
on random data of each model's input shape, for tflm_edu's Sequential.train_step and - when
tensorflow is importable - for the same architecture built in tf.keras and trained with
train_on_batch (same layers, batch size, float32, Adam, loss and metric). The two run
interleaved, one epoch each in turn, `--repeats` times, after one warm-up epoch each (Keras
traces its step for both batch sizes there); the table gives the median samples/s, the spread
((max - min) / median) and the median of the per-repeat ratios tflm_edu / keras, of wall time
("ratio") and of CPU time ("cpu ratio": each side's process CPU seconds for the epoch, all of
TensorFlow's threads included). On a machine that other work keeps busy the wall-time figures
swing with its load; the CPU-time ratio moves much less. Keras is compiled with its defaults
(the header shows whether that means XLA). TensorFlow is no dependency of tflm_edu:
`pip install tensorflow-cpu` to get the Keras columns.

Threads are pinned alike on both sides: numpy's BLAS through threadpoolctl, TensorFlow through
tf.config.threading (intra- and inter-op). TensorFlow cannot change its thread pools once it
has started, so each thread count gets its own worker process for Keras; numpy runs in this
process. `--threads 1,2` measures both counts in the same interleaved run; `auto` is the count
tflm_edu.train picks by itself (tflm_edu.train.threads.blas_threads), and Keras gets the same.

    python benchmarks/bench_train.py [--repeats 5] [--threads auto|1,2,...] [--profile]
                                     [--no-keras] [models ...]

--profile prints where a tflm_edu step's time goes, layer by layer.

Targets on 2 cores: tflm_edu at least as fast as tf.keras for tiny_conv, magic_wand and the
person detection MobileNet; an epoch of 1,000 96x96 images through that MobileNet in under
60 s; micro_speech tiny_conv at 2,000 samples/s or more.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import time
from datetime import datetime, timezone

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from tflm_edu.train import Adam, architectures
from tflm_edu.train.threads import blas_threads

# (builder, samples per epoch, batch size, loss)
CASES = {
    "hello_world": (architectures.hello_world, 1000, 64, "mse"),
    "micro_speech_tiny_conv": (architectures.micro_speech_tiny_conv, 2000, 100, "cross_entropy"),
    "magic_wand": (architectures.magic_wand, 2000, 64, "cross_entropy"),
    "person_detection_mobilenet_v1": (architectures.person_detection_mobilenet_v1, 1000, 32,
                                      "cross_entropy"),
}


def random_data(input_shape, output_shape, samples: int, loss: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((samples, *input_shape), dtype=np.float32)
    if loss == "mse":
        return x, rng.standard_normal((samples, *output_shape), dtype=np.float32)
    return x, rng.integers(0, output_shape[-1], samples)


def tflm_case(name: str):
    """(compiled model, x, y, batch size) for one case."""
    build, samples, batch_size, loss = CASES[name]
    model = build(seed=0)
    model.compile(optimizer=Adam(1e-3), loss=loss)
    x, y = random_data(model.input_shape, model.output_shape, samples, loss)
    return model, x, y, batch_size


def epoch_seconds(step, x, y, batch_size: int) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of one pass of step(x_batch, y_batch) over (x, y)."""
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(x), batch_size):
        step(x[i:i + batch_size], y[i:i + batch_size])
    return time.perf_counter() - start, time.process_time() - cpu


# ---- the same architectures in tf.keras ----------------------------------------------------------

def keras_layer(layer, keras):
    """The tf.keras layer that computes what a tflm_edu.train layer computes."""
    from tflm_edu import train as t
    L = keras.layers
    kind = type(layer)
    if kind is t.Dense:
        return L.Dense(layer.units, activation=layer.activation)
    if kind in (t.Conv2D, t.DepthwiseConv2D):
        common = dict(kernel_size=layer.kernel_size, strides=layer.strides, padding=layer.padding,
                      dilation_rate=layer.dilation_rate, use_bias=layer.use_bias,
                      activation={"relu6": keras.activations.relu6}.get(layer.activation,
                                                                        layer.activation))
        if kind is t.Conv2D:
            return L.Conv2D(layer.filters, **common)
        return L.DepthwiseConv2D(depth_multiplier=layer.depth_multiplier, **common)
    if kind in (t.MaxPool2D, t.AveragePool2D):
        pool = L.MaxPooling2D if kind is t.MaxPool2D else L.AveragePooling2D
        return pool(layer.pool_size, strides=layer.strides, padding=layer.padding)
    if kind is t.GlobalAveragePool:
        return L.GlobalAveragePooling2D()
    if kind is t.BatchNormalization:
        return L.BatchNormalization(momentum=layer.momentum, epsilon=layer.epsilon)
    if kind is t.Dropout:
        return L.Dropout(layer.rate)
    if kind is t.Flatten:
        return L.Flatten()
    if kind is t.Reshape:
        return L.Reshape(layer.target_shape)
    if kind is t.ReLU:
        return L.ReLU()
    if kind is t.ReLU6:
        return L.ReLU(max_value=6.0)
    if kind is t.Softmax:
        return L.Softmax()
    raise TypeError(f"no Keras counterpart for {layer!r}")


def keras_case(name: str, keras):
    """The Keras twin of tflm_case(name), compiled with Keras' defaults: (model, x, y, batch)."""
    build, samples, batch_size, loss = CASES[name]
    ours = build(seed=0)
    model = keras.Sequential([keras.Input(ours.input_shape, dtype="float32")]
                             + [keras_layer(layer, keras) for layer in ours.layers])
    sparse = loss == "cross_entropy"
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss="sparse_categorical_crossentropy" if sparse else "mse",
                  metrics=["accuracy" if sparse else "mae"])
    x, y = random_data(ours.input_shape, ours.output_shape, samples, loss)
    return model, x, y, batch_size


def keras_worker(conn, threads: int, names: list) -> None:
    """A process with TensorFlow pinned to `threads`: times one Keras epoch per request."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with threadpool_limits(limits=threads):
        try:
            import tensorflow as tf
        except ImportError as error:
            conn.send(("error", f"tensorflow is not importable: {error}"))
            return
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        cases = {}
        for name in names:
            model, x, y, batch_size = keras_case(name, tf.keras)
            # One epoch to warm up: it traces both batch sizes (the last batch is smaller).
            epoch_seconds(model.train_on_batch, x, y, batch_size)
            cases[name] = (model.train_on_batch, x, y, batch_size)
        conn.send(("ready", f"tensorflow {tf.__version__}, keras {tf.keras.__version__}, "
                            f"jit_compile={next(iter(cases.values()))[0].__self__.jit_compile}"))
        while (name := conn.recv()) is not None:
            conn.send(epoch_seconds(*cases[name]))


class KerasWorkers:
    """One keras_worker process per thread count; None for a count whose worker failed."""

    def __init__(self, thread_counts, names):
        context = multiprocessing.get_context("spawn")
        self.conns, self.procs, self.version = {}, [], None
        for threads in thread_counts:
            mine, theirs = context.Pipe()
            proc = context.Process(target=keras_worker, args=(theirs, threads, names),
                                   daemon=True)
            proc.start()
            self.conns[threads], self.procs = mine, self.procs + [proc]
        for threads, conn in list(self.conns.items()):
            status, text = conn.recv() if conn.poll(600) else ("error", "no answer in 600 s")
            if status != "ready":
                print(f"keras ({threads} thread{'s' if threads > 1 else ''}): {text}")
                self.conns[threads] = None
            self.version = self.version or (text if status == "ready" else None)

    def epoch(self, threads: int, name: str) -> tuple[float, float] | None:
        conn = self.conns.get(threads)
        if conn is None:
            return None
        conn.send(name)
        return conn.recv()

    def close(self):
        for conn in self.conns.values():
            if conn is not None:
                conn.send(None)
        for proc in self.procs:
            proc.join(30)


# ---- reporting -----------------------------------------------------------------------------------

def profile_step(name: str, model, x, y, repeats: int = 5) -> None:
    """Forward and backward milliseconds of each layer for one batch (the best of `repeats`
    steps), slowest first."""
    fwd, bwd = {}, {}
    backward_layers = model._backward_layers          # without a Softmax fused into the loss
    for _ in range(repeats):
        out = x
        for layer in model.layers:
            start = time.perf_counter()
            out = layer.forward(out, training=True)
            fwd[layer.name] = min(fwd.get(layer.name, np.inf), time.perf_counter() - start)
        model.loss(out, y)
        grad = model.loss.backward()
        for layer in reversed(backward_layers):
            start = time.perf_counter()
            grad = layer.backward(grad)
            bwd[layer.name] = min(bwd.get(layer.name, np.inf), time.perf_counter() - start)
    rows = [(layer.name, fwd[layer.name], bwd.get(layer.name, 0.0)) for layer in model.layers]
    print(f"  {name}: one batch of {len(x)}, {sum(f + b for _, f, b in rows) * 1e3:.1f} ms "
          f"in layers (best of {repeats})")
    for layer_name, f, b in sorted(rows, key=lambda r: -(r[1] + r[2]))[:12]:
        print(f"    {layer_name:<28} forward {f * 1e3:7.2f} ms   backward {b * 1e3:7.2f} ms")


def blas_description() -> str:
    return "; ".join(f"{i['internal_api']} {i.get('version')} {i.get('architecture', '')} "
                     f"({i.get('threading_layer', '?')} threading, {i['num_threads']} threads "
                     f"by default) {os.path.basename(i['filepath'])}"
                     for i in threadpool_info()) or "none found"


def spread(values) -> float:
    return (max(values) - min(values)) / statistics.median(values)


def compare(samples: int, ours: list, theirs: list):
    """Samples/s per repeat of each side, and the medians of the per-repeat ratios
    tflm_edu / Keras by wall and by CPU time; Keras's entries are None when unmeasured."""
    mine = [samples / wall for wall, _ in ours]
    if not theirs or None in theirs:
        return mine, None, None, None
    other = [samples / wall for wall, _ in theirs]
    ratio = statistics.median(a / b for a, b in zip(mine, other))
    cpu_ratio = statistics.median(b[1] / a[1] for a, b in zip(ours, theirs))
    return mine, other, ratio, cpu_ratio


def measure(cases: dict, rows: list, repeats: int, keras: bool = True):
    """Interleaved epochs: for each (name, threads, auto) row, `repeats` (wall, cpu) seconds
    of tflm_edu and of Keras (None where Keras is not measured); and Keras's version line."""
    workers = KerasWorkers(sorted({threads for _, threads, _ in rows}),
                           list(cases)) if keras else None
    for name, (model, x, y, batch_size) in cases.items():        # warm up, as Keras does
        for threads in sorted({t for n, t, _ in rows if n == name}):
            with threadpool_limits(limits=threads, user_api="blas"):
                epoch_seconds(model.train_step, x, y, batch_size)
    ours = {row: [] for row in rows}
    theirs = {row: [] for row in rows}
    for _ in range(repeats):               # interleaved: every row once per repeat, in turn
        for row in rows:
            name, threads, _ = row
            model, x, y, batch_size = cases[name]
            with threadpool_limits(limits=threads, user_api="blas"):
                ours[row].append(epoch_seconds(model.train_step, x, y, batch_size))
            if workers is not None:
                theirs[row].append(workers.epoch(threads, name))
    if workers is not None:
        workers.close()
    return ours, theirs, workers.version if workers is not None else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", default="auto",
                        help="comma-separated BLAS / TensorFlow thread counts to measure, each a "
                             "number or auto (default: auto)")
    parser.add_argument("--profile", action="store_true", help="per-layer times of one batch")
    parser.add_argument("--no-keras", action="store_true", help="tflm_edu only")
    parser.add_argument("models", nargs="*", help=f"some of {', '.join(CASES)} (default: all)")
    args = parser.parse_args()
    unknown = set(args.models) - set(CASES)
    if unknown:
        parser.error(f"unknown model(s) {', '.join(sorted(unknown))}")
    names = args.models or list(CASES)
    cases = {name: tflm_case(name) for name in names}
    # (name, threads) rows; "auto" is the library's own choice for that model.
    rows = [(name, blas_threads(cases[name][0]) if t == "auto" else int(t), t == "auto")
            for t in args.threads.split(",") for name in names]
    rows = list(dict.fromkeys(rows))

    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; numpy {np.__version__}, "
          f"{os.cpu_count()} CPUs, load average {load}")
    print(f"BLAS: {blas_description()}")
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_CORETYPE"):
        if var in os.environ:
            print(f"  {var}={os.environ[var]}")

    ours, theirs, version = measure(cases, rows, args.repeats, keras=not args.no_keras)
    if not args.no_keras:
        print(version or "keras: not measured")

    print(f"\nsamples/s (wall), median of {args.repeats} interleaved epochs (spread = (max - min)"
          " / median); ratio = median of tflm_edu / keras per repeat, by wall and by CPU time")
    print(f"{'model':<31}{'batch':>6}{'threads':>9}{'tflm_edu':>11}{'spread':>8}"
          f"{'keras':>10}{'spread':>8}{'ratio':>8}{'cpu ratio':>11}")
    for row in rows:
        name, threads, auto = row
        samples, batch_size = len(cases[name][1]), cases[name][3]
        mine, other, ratio, cpu_ratio = compare(samples, ours[row], theirs[row])
        label = f"{threads}*" if auto else str(threads)
        line = (f"{name:<31}{batch_size:>6}{label:>9}"
                f"{statistics.median(mine):>11,.0f}{spread(mine):>8.0%}")
        if other is not None:
            line += (f"{statistics.median(other):>10,.0f}{spread(other):>8.0%}{ratio:>7.2f}x"
                     f"{cpu_ratio:>10.2f}x")
        print(line)
    if any(auto for _, _, auto in rows):
        print("* threads chosen by tflm_edu.train.threads.blas_threads (fit's default)")
    if args.profile:
        print()
        for name, (model, x, y, batch_size) in cases.items():
            with threadpool_limits(limits=blas_threads(model), user_api="blas"):
                profile_step(name, model, x[:batch_size], y[:batch_size])


if __name__ == "__main__":
    main()
