"""Fit tflm_edu's Cortex-M cost model: measure a corpus of one-op models on the emulated
Cortex-M4 and M7 (reference and CMSIS-NN kernels), fit one formula per cost key, write
tflm_edu/profile/coefficients.json, and print how well each formula fits.

    python benchmarks/fit_cost_model.py [--scale 1.0] [--configs cortex-m4/reference,...]

The corpus: tflm_edu.profile.corpus.synthetic_corpus(seed 0) plus every op cut out of the
fitting half of ../shared/models (FITTING_MODELS below). The other half and the example
models in ../shared/reference are kept out, so benchmarks/bench_cost_model.py can test the
formulas on models they never saw. Needs ../shared/tflm, arm-none-eabi-g++ and
qemu-system-arm; the measurements are cached (TFLM_EDU_CACHE/cost_corpus), so refitting
after changing features is quick.
"""
from __future__ import annotations

import argparse
import datetime
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"
CONFIGS = ["cortex-m4/reference", "cortex-m4/cmsis_nn", "cortex-m7/reference",
           "cortex-m7/cmsis_nn"]


def shared_models() -> list:
    return sorted((SHARED / "models").glob("*.tflite"))


def split_models() -> tuple[list, list]:
    """(fitting, held out): alternate files of ../shared/models in name order."""
    models = shared_models()
    return models[0::2], models[1::2]


def corpus(scale: float) -> list:
    from tflm_edu.profile.corpus import slice_ops, synthetic_corpus
    models = synthetic_corpus(seed=0, scale=scale)
    for path in split_models()[0]:
        models += slice_ops(path.read_bytes(), path.stem)
    return models


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="corpus size multiplier")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    args = parser.parse_args(argv)
    if not (SHARED / "tflm").is_dir():
        print(f"needs {SHARED / 'tflm'}", file=sys.stderr)
        return 2
    from tflm_edu.profile import cost_model
    from tflm_edu.profile.measure import measure_cached
    models = [m.data for m in corpus(args.scale)]
    print(f"# {datetime.date.today()}, {platform.machine()}: {len(models)} one-op models")
    fitted = {}
    for config in args.configs.split(","):
        start = time.time()
        target, kernels = config.split("/")
        counts = measure_cached(models, target, kernels, tflm_src=SHARED / "tflm")
        formulas = cost_model.fit(list(zip(models, counts)), kernels)
        fitted[config] = formulas
        refused = sum(c is None for c in counts)
        print(f"\n## {config}: {len(formulas)} formulas, {refused} models refused by TFLM, "
              f"{time.time() - start:.0f} s")
        print(f"{'key':<34} {'samples':>7} {'worst':>7}  formula")
        for key, f in sorted(formulas.items()):
            terms = " + ".join(f"{c:.3g}*{n}" for n, c in f.coefficients.items())
            print(f"{key:<34} {f.samples:>7} {100 * f.worst_error:6.1f}%  {terms}")
    if set(args.configs.split(",")) == set(CONFIGS):
        meta = {"date": str(datetime.date.today()), "corpus_seed": 0, "scale": args.scale,
                "one_op_models": len(models),
                "sliced_from": [p.name for p in split_models()[0]],
                "script": "benchmarks/fit_cost_model.py"}
        print(f"\nwrote {cost_model.store(fitted, meta)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
