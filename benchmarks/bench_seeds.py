"""How much the example notebooks' training results move from run to run: the float model of
01-04 trained as the notebook trains it, with several seeds (the weights' initialisation and
the shuffling; the data stay the same), and the spread of what the notebooks print.

    TFLM_EDU_FAST=1 python benchmarks/bench_seeds.py [--seeds 5] [--only 02_micro_speech]

One line per run, then the spread per notebook: the test score (MSE for 01, accuracy for the
others), the final training and validation loss, the epoch of the lowest validation loss,
and the final training - validation accuracy gap. The notebooks run with seed 0 and say, in
their prose, how much these figures move between seeds (and between thread counts: the same
seed gives the same figures only with the same BLAS threads). Full mode (TFLM_EDU_FAST unset)
takes a few minutes per run for 04.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time

import numpy as np

from tflm_edu import train
from tflm_edu.evaluate import accuracy, fast_mode


def hello_world(seed: int, fast: bool):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 2 * np.pi, size=(1000, 1)).astype(np.float32)
    y = (np.sin(x) + 0.1 * rng.standard_normal(x.shape)).astype(np.float32)
    model = train.hello_world(seed=seed)
    model.compile(optimizer=train.Adam(0.005), loss="mse")
    history = model.fit(x[:600], y[:600], epochs=300 if fast else 500, batch_size=64,
                        validation_data=(x[600:800], y[600:800]), seed=seed, verbose=0)
    mse = float(np.mean((model.predict(x[800:]) - y[800:]) ** 2))
    return history, "test MSE", mse, ""


def micro_speech(seed: int, fast: bool):
    from tflm_edu.datasets import make_speech_dataset
    from tflm_edu.frontend import micro_speech_features
    n = 100 if fast else 400
    x_train, y_train = make_speech_dataset(n, seed=0, mode="training",
                                           features_fn=micro_speech_features)
    x_val, y_val = make_speech_dataset(n // 4, seed=1, mode="validation",
                                       features_fn=micro_speech_features)
    x_test, y_test = make_speech_dataset(n // 4, seed=2, mode="testing",
                                         features_fn=micro_speech_features)
    as_float = lambda f: f.astype(np.float32)[..., None]
    model = train.micro_speech_tiny_conv(seed=seed)
    model.compile(optimizer=train.Adam(0.001), loss="cross_entropy")
    history = model.fit(as_float(x_train), y_train, epochs=20 if fast else 30, batch_size=32,
                        validation_data=(as_float(x_val), y_val), seed=seed, verbose=0)
    return history, "test accuracy", accuracy(y_test, model.predict(as_float(x_test))), ""


def magic_wand(seed: int, fast: bool):
    from tflm_edu.datasets import make_gesture_dataset
    n = 100 if fast else 400
    x_train, y_train = make_gesture_dataset(n, seed=0)
    x_val, y_val = make_gesture_dataset(n // 4, seed=1)
    x_test, y_test = make_gesture_dataset(n // 4, seed=2)
    to_features = lambda w: (np.asarray(w, np.float32) / 1000.0)[..., None]
    model = train.magic_wand(seed=seed)
    model.compile(optimizer=train.Adam(0.002), loss="cross_entropy")
    history = model.fit(to_features(x_train), y_train, epochs=30 if fast else 40, batch_size=64,
                        validation_data=(to_features(x_val), y_val), seed=seed, verbose=0)
    return history, "test accuracy", accuracy(y_test, model.predict(to_features(x_test))), ""


def person_detection(seed: int, fast: bool):
    from tflm_edu.datasets import make_scene_dataset, to_int8
    n = 150 if fast else 900
    images_train, y_train = make_scene_dataset(n, seed=0)
    images_val, y_val = make_scene_dataset(50 if fast else 100, seed=1)
    images_test, y_test = make_scene_dataset(50 if fast else 150, seed=2)
    to_features = lambda images: (to_int8(images).astype(np.float32) / 128.0)[..., None]
    x_train = to_features(np.concatenate([images_train, images_train[:, :, ::-1]]))
    y_train2 = np.concatenate([y_train, y_train])
    epochs = 6 if fast else 12
    steps = epochs * int(np.ceil(len(x_train) / 32))
    model = train.person_detection_mobilenet_v1(seed=seed)
    model.compile(optimizer=train.Adam(train.CosineDecay(0.003, steps, final=0.00015)),
                  loss="cross_entropy")
    history = model.fit(x_train, y_train2, epochs=epochs, batch_size=32,
                        validation_data=(to_features(images_val), y_val), seed=seed, verbose=0)
    scores = model.predict(to_features(images_test))
    example = int(np.flatnonzero(y_test == 1)[0])        # the scene notebook 04 steps through
    right = "right" if np.argmax(scores[example]) == 1 else "WRONG"
    stepped = f", stepped scene (a person): {right}, float person score {scores[example][1]:.2f}"
    return history, "test accuracy", accuracy(y_test, scores), stepped


EXAMPLES = {"01_hello_world": hello_world, "02_micro_speech": micro_speech,
            "03_magic_wand": magic_wand, "04_person_detection": person_detection}


def describe(history, metric: str, score: float, extra: str = "") -> dict:
    val_loss = np.asarray(history["val_loss"])
    row = {"score": score, "metric": metric, "loss": history["loss"][-1],
           "val_loss": float(val_loss[-1]), "best_epoch": int(np.argmin(val_loss)) + 1,
           "epochs": len(val_loss), "extra": extra}
    if "accuracy" in history:
        row["gap"] = history["accuracy"][-1] - history["val_accuracy"][-1]
    return row


def _score(row) -> str:
    return f"{row['score']:.4f}" if row["metric"] == "test MSE" else f"{row['score']:.1%}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (default: 5)")
    parser.add_argument("--only", choices=list(EXAMPLES), action="append",
                        help="one notebook's example (repeatable; default: all four)")
    args = parser.parse_args(argv)
    fast = fast_mode()
    print(f"# {datetime.date.today()}, {platform.machine()}, {os.cpu_count()} cores, "
          f"{'fast' if fast else 'full'} mode, OPENBLAS_NUM_THREADS="
          f"{os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, seeds 0-{args.seeds - 1}")
    for name in args.only or list(EXAMPLES):
        rows = []
        for seed in range(args.seeds):
            start, cpu = time.monotonic(), time.process_time()
            row = describe(*EXAMPLES[name](seed, fast))
            rows.append(row)
            gap = f", train-val accuracy gap {row['gap']:+.1%}" if "gap" in row else ""
            print(f"{name} seed {seed}: {row['metric']} {_score(row)}, final loss "
                  f"{row['loss']:.4f} / val {row['val_loss']:.4f}, lowest val loss at epoch "
                  f"{row['best_epoch']} of {row['epochs']}{gap}{row['extra']} "
                  f"({time.monotonic() - start:.0f} s, {time.process_time() - cpu:.0f} s CPU)",
                  flush=True)
        scores = [r["score"] for r in rows]
        spread = max(scores) - min(scores)
        spread_text = (f"{spread:.4f}" if rows[0]["metric"] == "test MSE"
                       else f"{100 * spread:.0f} points")
        best = sorted({r["best_epoch"] for r in rows})
        print(f"{name}: {rows[0]['metric']} {_score(min(rows, key=lambda r: r['score']))} to "
              f"{_score(max(rows, key=lambda r: r['score']))} (spread {spread_text}); lowest "
              f"val loss at epochs {best}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
