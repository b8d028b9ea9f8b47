"""The real public TFLM models of ../shared/models through tflm_edu and the real TFLM, side by
side: does tflm_edu run it, are the outputs byte-equal (seeded random inputs, consecutive
invokes), is the smallest arena the same, and how long does an invoke take in each.
Then the op coverage: tflm_edu's kernels beside the ops TFLM's resolver offers.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_real_models.py [--runs 20] [--markdown]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import time
from pathlib import Path

import numpy as np

from tflm_edu import AllOpsResolver, MicroInterpreter
from tflm_edu.arena_size import estimate_arena_size
from tflm_edu.arena_size.oracle import smallest_arena_tflm
from tflm_edu.convert.checks import TFLM_OPS
from tflm_edu.op_resolver import CUSTOM_SPECS, SPECS
from tflm_edu.schema import read_model

MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"
INVOKES = 3


def random_input(rng, shape, dtype):
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)


def median_ms(invoke, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.process_time()
        invoke()
        times.append(time.process_time() - start)
    return statistics.median(times) * 1e3


def measure(path: Path, runs: int) -> dict:
    from tflite_micro.python.tflite_micro import runtime
    data = path.read_bytes()
    row = {"model": path.stem, "bytes": len(data)}
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            theirs = runtime.Interpreter.from_bytes(data, arena_size=16 << 20)
    except RuntimeError:
        theirs = None
    model = read_model(data)
    try:
        ours = MicroInterpreter(model, AllOpsResolver(), None)
        ours.allocate_tensors()
    except Exception as e:  # what tflm_edu says instead
        row.update(runs="no", reason=str(e).splitlines()[0][:70])
        row["tflm"] = "refuses" if theirs is None else "runs"
        return row
    if theirs is None:
        row.update(runs="yes", tflm="refuses", reason="tflm_edu runs a model TFLM refuses")
        return row
    rng = np.random.default_rng(0)
    sg = model.subgraphs[0]
    equal = 0
    for _ in range(INVOKES):
        inputs = [random_input(rng, sg.tensors[i].shape, sg.tensors[i].dtype) for i in sg.inputs]
        for i, x in enumerate(inputs):
            ours.input(i).data[...] = x
            theirs.set_input(x, i)
        ours.invoke()
        theirs.invoke()
        equal += all(ours.output(i).data.tobytes() ==
                     np.asarray(theirs.get_output(i)).astype(ours.output(i).dtype).tobytes()
                     for i in range(ours.outputs_size))
    arena_ours = estimate_arena_size(data, "host").arena_bytes
    arena_theirs = smallest_arena_tflm(data)
    row.update(runs="yes", tflm="runs", equal=f"{equal}/{INVOKES}",
               arena=f"{arena_ours:,} / {arena_theirs:,}",
               ms_ours=median_ms(ours.invoke, runs), ms_theirs=median_ms(theirs.invoke, runs))
    return row


def coverage() -> tuple[list, list]:
    builtin = sorted(op.name for op in SPECS)
    missing = sorted(op.name for op in TFLM_OPS if op not in SPECS)
    return builtin + sorted(CUSTOM_SPECS), missing


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="invokes timed per model")
    args = parser.parse_args(argv)
    if not MODELS.is_dir():
        raise SystemExit(f"{MODELS} not found: the models live in ../shared/models")
    rows = [measure(p, args.runs) for p in sorted(MODELS.glob("*.tflite"))]
    print(f"# {len(rows)} models of {MODELS}, {time.strftime('%Y-%m-%d')}; CPU time, median of "
          f"{args.runs} invokes; arena = smallest, tflm_edu estimate / real TFLM (host)\n")
    print("| model | TFLM | tflm_edu | outputs byte-equal | arena (bytes) | invoke ms tflm_edu / TFLM |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        if r["runs"] == "yes" and r["tflm"] == "runs":
            print(f"| {r['model']} | runs | runs | {r['equal']} | {r['arena']} | "
                  f"{r['ms_ours']:.3f} / {r['ms_theirs']:.3f} |")
        else:
            print(f"| {r['model']} | {r['tflm']} | {'runs' if r['runs'] == 'yes' else 'refuses'}"
                  f" | - | - | {r.get('reason', '')} |")
    loadable = [r for r in rows if r["tflm"] == "runs"]
    exact = [r for r in loadable if r["runs"] == "yes" and r["equal"] == f"{INVOKES}/{INVOKES}"
             and r["arena"].split(" / ")[0] == r["arena"].split(" / ")[1]]
    agree = sum(1 for r in rows if r["tflm"] == "refuses" and r["runs"] == "no")
    print(f"\ntflm_edu runs {len(exact)} of the {len(loadable)} models the real TFLM runs, "
          f"byte-equal with the same smallest arena; it refuses {agree} of the "
          f"{len(rows) - len(loadable)} the real TFLM refuses.")
    ops, missing = coverage()
    signal = sum(1 for name in CUSTOM_SPECS if name.startswith("Signal"))
    print(f"\ntflm_edu kernels: {len(ops)} ({len(SPECS)} builtin of the {len(TFLM_OPS)} TFLM's "
          f"resolver offers; {len(CUSTOM_SPECS)} custom ops, {signal} of them TFLM's Signal "
          f"library): {', '.join(ops)}")
    print(f"TFLM builtin ops tflm_edu lacks ({len(missing)}): {', '.join(missing)}")


if __name__ == "__main__":
    main()
