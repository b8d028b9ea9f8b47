"""Inference speed of tflm_edu beside the real TFLM (and LiteRT), every figure in one run.

    python benchmarks/bench_speed.py [--repeats 7] [--images 1000] [--write-readme]

--write-readme puts this run's output into README.md, between the lines
<!-- bench_speed:start --> and <!-- bench_speed:end --> (the README's figures are never
typed by hand).

Sections (each figure is a ratio to its anchor, measured in the same process, with the
two interleaved repeat by repeat; medians, and the spread of the ratio over the repeats):

  invoke     CPU time per invoke of each example model and of larger and float models
             from ../shared/models: tflm_edu, the real TFLM (tflite-micro), LiteRT
  batch      run_model over a test set (batched: tflm_edu.batch) against a loop of the
             real TFLM's invokes over the same inputs, and tflm_edu's outputs checked
             byte-equal to TFLM's
  memory     person_detect: the bytes one invoke allocates beyond the arena (tracemalloc's
             peak) plus the bound Evals' shared workspace
  frontend   the micro_speech audio frontend, streaming (one 20 ms chunk at a time) and
             batch, against the real TFLM audio preprocessor (bench_frontend.py's runners)
  train      training samples/s of the example architectures against tf.keras's
             train_on_batch with the same threads (bench_train.py's measurement; needs
             tensorflow-cpu for the Keras column, which tflm_edu does not depend on)

Targets (issue 15): each example model at most 0.7x TFLM's invoke time; hello_world under
25 us per invoke; larger int8 models at most 0.5x, float models at most 1.5x; batch
person_detect over 1,000 images at least 20x faster than looping TFLM; person_detect working
memory under 4 MiB; the streaming frontend at most 2x TFLM per frame, batch at most 1x;
training at least as fast as Keras. The table prints each target beside the figure.

CPU time (time.process_time) is the main figure: it does not count time this process spent
waiting for a core. Wall time is printed too. The BLAS configuration comes from threadpoolctl.
bench_frontend.py and bench_train.py measure their sections in more detail.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import platform
import statistics
import sys
import os
import time
import tracemalloc
from pathlib import Path

import numpy as np

from tflm_edu import Interpreter
from tflm_edu.evaluate import run_model

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "reference" / "models"
SHARED_MODELS = ROOT.parent / "shared" / "models"

# (name, folder, target ratio to TFLM, what the target is)
INVOKE_CASES = [
    ("hello_world_int8", REFERENCE, 0.7, "example"),
    ("hello_world_float", REFERENCE, 0.7, "example"),
    ("micro_speech_quantized", REFERENCE, 0.7, "example"),
    ("magic_wand", REFERENCE, 0.7, "example (float)"),
    ("person_detect", REFERENCE, 0.7, "example"),
    ("mltk_image_classification", SHARED_MODELS, 0.5, "larger int8"),
    ("mltk_visual_wake_words", SHARED_MODELS, 0.5, "larger int8"),
    ("tinyengine_mcunetv2_large", SHARED_MODELS, 0.5, "larger int8"),
    ("mltk_image_example1_float32", SHARED_MODELS, 1.5, "float"),
    ("mltk_rock_paper_scissors_float32", SHARED_MODELS, 1.5, "float"),
]
BATCH_CASES = ["person_detect", "micro_speech_quantized", "magic_wand", "hello_world_int8"]


def random_input(details, rng, n=None):
    shape = tuple(details["shape"]) if n is None else (n,) + tuple(details["shape"][1:])
    if np.dtype(details["dtype"]) == np.float32:
        return rng.standard_normal(shape).astype(np.float32)
    info = np.iinfo(details["dtype"])
    return rng.integers(info.min, info.max, shape, endpoint=True).astype(details["dtype"])


def timed(fn, number):
    """(CPU seconds, wall seconds) per call, over `number` calls."""
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(number):
        fn()
    return (time.process_time() - cpu) / number, (time.perf_counter() - wall) / number


def calls_for(fn, budget=0.05):
    """How many calls fill about `budget` seconds (at least 1)."""
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-7)
    return max(1, int(budget / once))


class Runtimes:
    """The three interpreters of one model, with the same input set."""

    def __init__(self, path: Path, rng):
        from ai_edge_litert.interpreter import Interpreter as LiteRT
        from tflite_micro.python.tflite_micro import runtime
        self.ours = Interpreter.from_file(path)
        self.tflm = runtime.Interpreter.from_file(str(path), arena_size=8_000_000)
        x = random_input(self.ours.get_input_details(0), rng)
        self.ours.set_input(x, 0)
        self.tflm.set_input(x, 0)
        try:      # LiteRT refuses some older TFLM models (person_detect's quantization)
            self.litert = LiteRT(model_path=str(path), num_threads=1)
            self.litert.allocate_tensors()
            self.litert.set_tensor(self.litert.get_input_details()[0]["index"], x)
        except (ValueError, RuntimeError):
            self.litert = None
        for runtime_ in (self.ours, self.tflm, self.litert):
            if runtime_ is not None:
                runtime_.invoke()


def summary(samples):
    return statistics.median(samples), min(samples), max(samples)


def invoke_section(args, rng, rows):
    print("\n**Invoke**: CPU time per invoke, median of interleaved repeats\n")
    print("| model | kind | tflm_edu | TFLM | LiteRT | tflm_edu / TFLM (spread) | target | "
          "wall tflm_edu / TFLM |")
    print("|---|---|---|---|---|---|---|---|")
    for name, folder, target, kind in INVOKE_CASES:
        path = folder / f"{name}.tflite"
        if not path.is_file():
            print(f"| {name} | {kind} | (absent: {path}) |||||")
            continue
        r = Runtimes(path, rng)
        numbers = {k: calls_for(getattr(r, k).invoke) for k in ("ours", "tflm", "litert")
                   if getattr(r, k) is not None}
        cpu = {k: [] for k in numbers}
        wall = {k: [] for k in numbers}
        for _ in range(args.repeats):
            for k in numbers:                  # interleaved: every repeat times all three
                c, w = timed(getattr(r, k).invoke, numbers[k])
                cpu[k].append(c)
                wall[k].append(w)
        ratios = [a / b for a, b in zip(cpu["ours"], cpu["tflm"])]
        ratio, low, high = summary(ratios)
        wall_ratio = statistics.median(wall["ours"]) / statistics.median(wall["tflm"])
        ours, tflm = statistics.median(cpu["ours"]), statistics.median(cpu["tflm"])
        lite = fmt(statistics.median(cpu["litert"])) if "litert" in cpu else "refuses it"
        met = "met" if ratio <= target else "NOT met"
        extra = ""
        if name == "hello_world_int8":
            extra = f"; {ours * 1e6:.1f} us (target < 25 us: {'met' if ours < 25e-6 else 'NOT met'})"
        print(f"| {name} | {kind} | {fmt(ours)} | {fmt(tflm)} | {lite} | "
              f"{ratio:.2f}x ({low:.2f}-{high:.2f}) | <= {target}x: {met}{extra} | "
              f"{wall_ratio:.2f}x |")
        rows.append(("invoke", name, ratio, target))


def fmt(seconds):
    return f"{seconds * 1e3:.3f} ms" if seconds >= 1e-4 else f"{seconds * 1e6:.1f} us"


def batch_section(args, rng, rows):
    from tflite_micro.python.tflite_micro import runtime
    print("\n**Batch evaluation**: a test set through `run_model` (batched) against a loop "
          "of the real TFLM's invokes on the same inputs\n")
    print("| model | examples | tflm_edu batched | TFLM loop | TFLM / tflm_edu (spread) | "
          "byte-equal | target |")
    print("|---|---|---|---|---|---|---|")
    for name in BATCH_CASES:
        path = REFERENCE / f"{name}.tflite"
        if not path.is_file():
            continue
        ours = Interpreter.from_file(path)
        tflm = runtime.Interpreter.from_file(str(path), arena_size=8_000_000)
        n = args.images if name == "person_detect" else args.images * 4
        x = random_input(ours.get_input_details(0), rng, n)
        run_model(ours, x[:2], progress=False)          # make the batch runner once

        def loop_tflm():
            out = []
            for example in x:
                tflm.set_input(example[None], 0)
                tflm.invoke()
                out.append(np.array(tflm.get_output(0)).reshape(-1))
            return np.stack(out)
        result = {}
        cpu = {"ours": [], "tflm": []}
        for _ in range(max(1, args.repeats // 2)):
            start = time.process_time()
            result["ours"] = run_model(ours, x, progress=False)
            cpu["ours"].append(time.process_time() - start)
            start = time.process_time()
            result["tflm"] = loop_tflm()
            cpu["tflm"].append(time.process_time() - start)
        equal = np.array_equal(result["ours"].view(np.uint8),
                               result["tflm"].astype(result["ours"].dtype).view(np.uint8))
        speedups = [b / a for a, b in zip(cpu["ours"], cpu["tflm"])]
        speedup, low, high = summary(speedups)
        target = "" if name != "person_detect" else \
            f">= 20x: {'met' if speedup >= 20 else 'NOT met'}"
        print(f"| {name} | {n:,} | {statistics.median(cpu['ours']):.2f} s | "
              f"{statistics.median(cpu['tflm']):.2f} s | {speedup:.1f}x ({low:.1f}-{high:.1f}) | "
              f"{'yes' if equal else 'NO'} | {target} |")
        rows.append(("batch", name, speedup, 20 if name == "person_detect" else None))


def memory_section(rows):
    path = REFERENCE / "person_detect.tflite"
    if not path.is_file():
        return
    ours = Interpreter.from_file(path)
    ours.invoke()                                       # binds the plan and its workspace
    workspace = ours.micro.subgraphs[0].workspace.block.nbytes
    tracemalloc.start()
    ours.invoke()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    total = workspace + peak
    print("\n**Memory**: person_detect, bytes one invoke works in beyond the arena\n")
    print(f"arena {ours.micro.arena.size:,} bytes (not counted); shared workspace "
          f"{workspace:,} + temporaries at peak {peak:,} = {total / 2**20:.2f} MiB "
          f"(target < 4 MiB: {'met' if total < 4 << 20 else 'NOT met'})")
    rows.append(("memory", "person_detect", total, 4 << 20))


def blas_configuration() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    return "; ".join(f"{i.get('internal_api')} {i.get('version')} "
                     f"{i.get('num_threads')} thread(s)" for i in threadpool_info()) or "none"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--images", type=int, default=1000,
                        help="person_detect examples for the batch section (others get 4x)")
    parser.add_argument("--sections", default="invoke,batch,memory,frontend,train",
                        help="comma-separated: invoke, batch, memory, frontend (the micro_speech "
                             "audio frontend), train (training throughput against tf.keras)")
    parser.add_argument("--write-readme", action="store_true",
                        help="put this run's tables into README.md's figures section")
    args = parser.parse_args(argv)
    import importlib.util
    if not all(importlib.util.find_spec(m) for m in ("tflite_micro", "ai_edge_litert")):
        sys.exit("bench_speed: needs the real TFLM and LiteRT: pip install --pre tflite-micro "
                 "ai-edge-litert")
    captured = io.StringIO()
    with contextlib.redirect_stdout(Tee(sys.stdout, captured)):
        run_sections(args)
    if args.write_readme:
        write_readme(captured.getvalue())


def run_sections(args):
    print(f"Measured by `benchmarks/bench_speed.py` on {time.strftime('%Y-%m-%d')}, "
          f"{platform.machine()} with {os.cpu_count()} cores, numpy {np.__version__}, "
          f"Python {platform.python_version()}; BLAS: {blas_configuration()}.")
    rng = np.random.default_rng(0)
    rows = []
    sections = args.sections.split(",")
    if "invoke" in sections:
        invoke_section(args, rng, rows)
    if "batch" in sections:
        batch_section(args, rng, rows)
    if "memory" in sections:
        memory_section(rows)
    if "frontend" in sections:
        frontend_section(args)
    if "train" in sections:
        train_section(args)


def frontend_section(args):
    """The micro_speech frontend, streaming and batch, beside the real TFLM preprocessor
    (benchmarks/bench_frontend.py has the stage modules and both clocks)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_frontend as bf
    samples, source = bf.load_audio()
    tflm = bf.tflm_runner(samples)
    if tflm is None:
        print("\n**Frontend**: not measured (needs the tflite-micro package and "
              "audio_preprocessor_int8.tflite in ../shared/reference)")
        return
    runners = {"TFLM": tflm, "streaming": bf.streaming_runner(samples),
               "batch": bf.batch_runner(samples)}
    expected = tflm()
    same = all(np.array_equal(runners[k](), expected) for k in ("streaming", "batch"))
    times = bf.interleaved_timings(runners, max(5 * args.repeats, 20))
    frames = 1 + (samples.size - bf.WINDOW) // bf.STRIDE
    seconds = samples.size / 16000
    print(f"\n**Frontend**: micro_speech features of {source} ({frames} frames), CPU time, "
          f"median of {max(5 * args.repeats, 20)} interleaved repeats; bracketed: the ratio "
          f"of 10th percentiles, which load on a shared machine distorts least")
    print("\n| path | tflm_edu | TFLM | tflm_edu / TFLM | byte-equal | target |")
    print("|---|---|---|---|---|---|")
    for kind, per, unit, target in (("streaming", frames, "per 20 ms frame", 2.0),
                                    ("batch", seconds, "per second of audio", 1.0)):
        ours, theirs = times[kind]["cpu"] / per, times["TFLM"]["cpu"] / per
        ratio = np.median(ours) / np.median(theirs)
        low = np.percentile(ours, 10) / np.percentile(theirs, 10)
        print(f"| {kind} ({unit}) | {fmt(np.median(ours))} | {fmt(np.median(theirs))} | "
              f"{ratio:.2f}x ({low:.2f}x) | {'yes' if same else 'NO'} | <= {target:g}x: "
              f"{'met' if ratio <= target else 'NOT met'} |")


def train_section(args):
    """Training throughput against tf.keras's train_on_batch, same threads
    (benchmarks/bench_train.py has more options and the per-layer profile)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_train as bt
    from tflm_edu.train.threads import blas_threads
    names = list(bt.CASES)
    cases = {name: bt.tflm_case(name) for name in names}
    rows = [(name, blas_threads(cases[name][0]), True) for name in names]
    repeats = max(3, args.repeats // 2)
    ours, theirs, version = bt.measure(cases, rows, repeats)
    print(f"\n**Training**: samples/s of full training steps, median of {repeats} interleaved "
          f"epochs, BLAS threads as tflm_edu picks them and the same for Keras "
          f"({version or 'Keras not measured: pip install tensorflow-cpu'})")
    print("\n| model | batch | threads | tflm_edu | Keras | tflm_edu / Keras, wall | by CPU time "
          "| target |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        name, threads, _ = row
        samples, batch = len(cases[name][1]), cases[name][3]
        mine, other, ratio, cpu = bt.compare(samples, ours[row], theirs[row])
        line = f"| {name} | {batch} | {threads} | {statistics.median(mine):,.0f} |"
        if other is not None:
            line += (f" {statistics.median(other):,.0f} | {ratio:.2f}x | {cpu:.2f}x | >= 1x: "
                     f"{'met' if ratio >= 1 else 'NOT met'} |")
        else:
            line += " not measured | | | >= 1x |"
        print(line)


class Tee(io.TextIOBase):
    def __init__(self, *streams):
        self.streams = streams

    def write(self, text):
        for stream in self.streams:
            stream.write(text)
        return len(text)


def write_readme(text: str) -> None:
    from readme_section import write_section
    lines = [line for line in text.splitlines() if not line.startswith("INFO:")]
    write_section("bench_speed", "\n".join(lines))


if __name__ == "__main__":
    main()
