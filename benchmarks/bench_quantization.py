"""Float vs post-training int8 / int16x8 vs quantization-aware int8, on the example models.

hello_world (test MSE), micro_speech tiny_conv and magic_wand (test accuracy) are trained on
their synthetic datasets as notebooks 01-03 train them, then quantized four ways:

  PTQ int8, PTQ int16x8   quantize_model calibrated on 200 training examples (min/max)
  QAT int8                tflm_edu.train.qat: the float model fine-tuned through the int8
                          arithmetic (ranges started from the same calibration), then
                          qat.int8_model()
  ft + PTQ int8           the control: the float model fine-tuned with the same recipe
                          (optimizer, epochs) without fake-quant, then PTQ int8 - what the
                          extra training alone buys

Each model runs twice: as trained, and with one outlier channel (qat.outlier_channel: one
hidden channel made `factor` times wider and the next layer's weights on it as much smaller -
the same float function, bit for bit, but the tensor's one int8 scale and the next layer's
per-tensor weights are spent on it; the factor per model is a power of two at which PTQ int8
clearly loses). That is where post-training quantization loses, where int16 activations
help only as far as the weights allow, and where QAT wins it back - and the control shows
that the extra training alone does not.

Each cell is the test metric and, in brackets, the SQNR in dB of the model's outputs against
the float model's on the test set (softmax probabilities for the classifiers). For the two
fine-tuned columns that SQNR mostly measures how far the fine-tune moved the model (the
control moves as far), not quantization noise. The last columns check QAT's promise: its
int8 model against its own fake-quant forward pass (argmax agreement, the share of outputs
exactly equal, the largest difference in output steps - each op alone is within one step,
tflm_edu.train.qat.op_agreement; over a model the steps add up a little), and its bytes
against the real TFLM on the first 20 test examples.

    python benchmarks/bench_quantization.py            # the notebooks' sizes, ~2 minutes
    python benchmarks/bench_quantization.py --fast     # their TFLM_EDU_FAST sizes, ~45 s
    python benchmarks/bench_quantization.py --fast person_detection     # ~75 s (full: ~5 min)

person_detection (MobileNet v1 0.25 on synthetic scenes, notebook 04) runs only when named:
it takes minutes, and has no outlier row (ReLU6 does not pass a scale through).

Targets (2 cores): on the outlier rows QAT int8 wins back at least 3/4 of what PTQ int8
loses, where the control does not; on the others it stays within 1 point (0.001 MSE) of
float; argmax agreement with the fake-quant pass 100% on the three small models; the real
TFLM byte-equal. Seeds are fixed: a run prints the same numbers again (up to BLAS).
"""
from __future__ import annotations

import argparse
import copy
import os
import platform
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from tflm_edu.convert import convert_sequential, quantize_model
from tflm_edu.evaluate import accuracy, as_model_inputs, run_model
from tflm_edu.runtime import Interpreter
from tflm_edu.schema import write_model
from tflm_edu.train import Adam, CosineDecay, architectures, qat

CALIBRATION = 200


@dataclass
class Case:
    """One model: its data, its float training and its QAT fine-tuning recipe (the control
    fine-tunes the float model with the same one), and where to put the outlier channel."""
    build: object
    data: object                 # fast -> (x_train, y_train, x_test, y_test)
    loss: str
    train: tuple                 # (learning rate or steps -> schedule, epochs, fast epochs,
                                 #  batch size)
    qat: tuple                   # (learning rate, epochs)
    outlier: tuple | None        # (layer, channel, factor) for qat.outlier_channel


def hello_world_data(fast: bool):
    rng = np.random.default_rng(0)                    # notebook 01's data
    x = rng.uniform(0, 2 * np.pi, size=(1000, 1)).astype(np.float32)
    y = (np.sin(x) + 0.1 * rng.standard_normal(x.shape)).astype(np.float32)
    return x[:800], y[:800], x[800:], y[800:]


def micro_speech_data(fast: bool):
    from tflm_edu.datasets import make_speech_dataset
    from tflm_edu.frontend import micro_speech_features
    n = 100 if fast else 400                          # notebook 02's sizes
    x_train, y_train = make_speech_dataset(n, seed=0, mode="training",
                                           features_fn=micro_speech_features)
    x_test, y_test = make_speech_dataset(n // 4, seed=2, mode="testing",
                                         features_fn=micro_speech_features)
    return (x_train.astype(np.float32)[..., None], y_train,
            x_test.astype(np.float32)[..., None], y_test)


def magic_wand_data(fast: bool):
    from tflm_edu.datasets import make_gesture_dataset
    n = 100 if fast else 400                          # notebook 03's sizes
    x_train, y_train = make_gesture_dataset(n, seed=0)
    x_test, y_test = make_gesture_dataset(n // 4, seed=2)
    return x_train[..., None] / 1000, y_train, x_test[..., None] / 1000, y_test


def person_detection_data(fast: bool):
    from tflm_edu.datasets import make_scene_dataset, to_int8
    n = 150 if fast else 900                          # notebook 04's sizes and features
    images_train, y_train = make_scene_dataset(n, seed=0)
    images_test, y_test = make_scene_dataset(50 if fast else 150, seed=2)
    features = lambda images: (to_int8(images).astype(np.float32) / 128.0)[..., None]  # noqa
    x_train = features(np.concatenate([images_train, images_train[:, :, ::-1]]))
    return x_train, np.concatenate([y_train, y_train]), features(images_test), y_test


CASES = {
    "hello_world": Case(architectures.hello_world, hello_world_data, "mse",
                        (0.005, 500, 300, 64), (1e-3, 20), (1, 0, 32)),
    "micro_speech": Case(architectures.micro_speech_tiny_conv, micro_speech_data,
                         "cross_entropy", (0.001, 30, 20, 32), (1e-4, 10), (0, 3, 256)),
    "magic_wand": Case(architectures.magic_wand, magic_wand_data, "cross_entropy",
                       (0.002, 40, 30, 64), (1e-3, 10), (0, 0, 128)),
    # MobileNet's ReLU6 is not scaled through (relu6(f x) != f relu6(x)): no outlier row.
    "person_detection": Case(architectures.person_detection_mobilenet_v1, person_detection_data,
                             "cross_entropy",
                             (lambda steps: CosineDecay(0.003, steps, final=0.00015), 12, 6, 32),
                             (1e-4, 2), None),
}
DEFAULT = ("hello_world", "micro_speech", "magic_wand")   # person_detection: when asked for


# ---- measuring -----------------------------------------------------------------------------------

def score(case: Case, out, y) -> float:
    if case.loss == "mse":
        return float(np.mean((np.asarray(out).reshape(-1) - np.asarray(y).reshape(-1)) ** 2))
    return accuracy(y, out)


def sqnr_db(reference, out) -> float:
    reference = np.asarray(reference, np.float64).reshape(len(out), -1)
    noise = np.sum((reference - np.asarray(out, np.float64).reshape(reference.shape)) ** 2)
    return float("inf") if noise == 0 else float(10 * np.log10(np.sum(reference ** 2) / noise))


def int8_outputs(model, x):
    return run_model(Interpreter(model), x, progress=False, dequantize=True)


def tflm_equal(model, x) -> str:
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        return "no tflm"
    data = write_model(model)
    ours, real = Interpreter.from_bytes(data), runtime.Interpreter.from_bytes(data)
    inputs = as_model_inputs(x, ours.get_input_details(0))
    same = np.array_equal(run_model(ours, inputs, progress=False),
                          run_model(real, inputs, progress=False))
    return f"{'equal' if same else 'DIFFER'} ({len(x)})"


def fine_tune(model, case: Case, x, y, quantized: bool, batch_size: int):
    """The QAT model of model, or for the control a fine-tuned copy of the float model."""
    lr, epochs = case.qat
    tuned = qat.quantize_aware(model, x[:CALIBRATION]) if quantized else copy.deepcopy(model)
    tuned.compile(Adam(lr), loss=case.loss)
    tuned.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0, seed=1)
    return tuned


def run_row(case: Case, model, data, batch_size: int) -> dict:
    """Every column of one row for a trained float model."""
    x_train, y_train, x_test, y_test = data
    float_out = model.predict(x_test)
    row = {"float": (score(case, float_out, y_test), None)}
    float_model = convert_sequential(model)
    for mode in ("int8", "int16x8"):
        out = int8_outputs(quantize_model(float_model, x_train[:CALIBRATION], mode=mode,
                                          progress=False), x_test)
        row[f"PTQ {mode}"] = (score(case, out, y_test), sqnr_db(float_out, out))
    q = fine_tune(model, case, x_train, y_train, True, batch_size)
    int8_model = q.int8_model()
    out = int8_outputs(int8_model, x_test)
    row["QAT int8"] = (score(case, out, y_test), sqnr_db(float_out, out))
    control = fine_tune(model, case, x_train, y_train, False, batch_size)
    control_out = int8_outputs(quantize_model(convert_sequential(control),
                                              x_train[:CALIBRATION], progress=False), x_test)
    row["ft + PTQ int8"] = (score(case, control_out, y_test), sqnr_db(float_out, control_out))
    fake = q.predict(x_test).reshape(out.shape)
    step = q.ops()[-1].output_params()[0]
    row["agreement"] = (float(np.mean(out.argmax(1) == fake.argmax(1)))
                        if case.loss != "mse" else None,
                        float(np.mean(out == fake)), int(np.rint(np.abs(out - fake).max() / step)))
    row["tflm"] = tflm_equal(int8_model, x_test[:20])
    return row


# ---- printing ------------------------------------------------------------------------------------

COLUMNS = ("float", "PTQ int8", "PTQ int16x8", "QAT int8", "ft + PTQ int8")


def cell(case: Case, value: tuple) -> str:
    metric, db = value
    text = f"{metric:.4f}" if case.loss == "mse" else f"{100 * metric:.1f}%"
    return text if db is None else f"{text} ({db:.1f})"


def print_row(name: str, case: Case, row: dict, seconds: float) -> None:
    argmax, equal, steps = row["agreement"]
    agree = f"{'-' if argmax is None else f'{100 * argmax:.0f}%'} / {100 * equal:.0f}% / {steps}"
    print(f"{name:<26}{'MSE' if case.loss == 'mse' else 'acc':<5}"
          + "".join(f"{cell(case, row[c]):>17}" for c in COLUMNS)
          + f"{agree:>19} {row['tflm']:>11} {seconds:6.0f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fast", action="store_true",
                        help="the notebooks' fast-mode dataset sizes and epochs")
    parser.add_argument("models", nargs="*", help=f"any of {', '.join(CASES)} (default: "
                        f"{', '.join(DEFAULT)}; person_detection takes minutes)")
    args = parser.parse_args()
    unknown = set(args.models) - set(CASES)
    if unknown:
        parser.error(f"unknown model(s) {sorted(unknown)}; choose from {', '.join(CASES)}")
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"# bench_quantization {now}; {'fast' if args.fast else 'full'} sizes; "
          f"{platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}")
    print(f"# test metric (SQNR of the outputs vs the float model, dB); PTQ calibrated on "
          f"{CALIBRATION} training examples; ft + PTQ: the control (float fine-tune, no "
          "fake-quant); QAT vs fake-quant: argmax agreement / outputs equal / max steps")
    print(f"{'model':<26}{'':<5}" + "".join(f"{c:>17}" for c in COLUMNS)
          + f"{'QAT vs fake-quant':>19} {'TFLM bytes':>11} {'s':>6}")
    for name in args.models or DEFAULT:
        case = CASES[name]
        start = time.perf_counter()
        data = case.data(args.fast)
        lr, epochs, fast_epochs, batch_size = case.train
        epochs = fast_epochs if args.fast else epochs
        model = case.build(seed=0)
        steps = epochs * -(-len(data[0]) // batch_size)
        model.compile(Adam(lr(steps) if callable(lr) else lr), loss=case.loss)
        model.fit(data[0], data[1], epochs=epochs, batch_size=batch_size, verbose=0, seed=0)
        print_row(name, case, run_row(case, model, data, batch_size),
                  time.perf_counter() - start)
        if case.outlier is None:
            continue
        start = time.perf_counter()
        layer, channel, factor = case.outlier
        awkward = qat.outlier_channel(copy.deepcopy(model), layer, channel, factor)
        print_row(f"  + outlier channel x{factor}", case,
                  run_row(case, awkward, data, batch_size), time.perf_counter() - start)


if __name__ == "__main__":
    main()
