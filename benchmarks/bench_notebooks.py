"""Run the example notebooks in full mode and print what they measure: the accuracy (or MSE)
of the float and int8 models on the synthetic test splits, and each notebook's wall time.

    python benchmarks/bench_notebooks.py                 # execute 01-04 in place, then report
    python benchmarks/bench_notebooks.py --no-execute    # report from the saved outputs

Full mode (TFLM_EDU_FAST unset), one BLAS thread. The notebooks are saved with the outputs of
this run, so the figures a reader sees in them are the figures printed here.
"""
import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
EXAMPLES = ["01_hello_world", "02_micro_speech", "03_magic_wand", "04_person_detection"]
FIGURE = re.compile(r"test (accuracy|MSE): float ([\d.]+%?), int8 ([\d.]+%?)")


def execute(name: str) -> float:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    env.pop("TFLM_EDU_FAST", None)
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                    "--inplace", "--ExecutePreprocessor.timeout=3600", f"{name}.ipynb"],
                   cwd=NOTEBOOKS, env=env, check=True, capture_output=True)
    return time.monotonic() - start


def figures(name: str) -> tuple:
    notebook = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text())
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            match = FIGURE.search("".join(output.get("text", "")))
            if match:
                return match.groups()
    return ("?", "?", "?")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-execute", action="store_true",
                        help="only read the figures saved in the notebooks")
    args = parser.parse_args(argv)
    print(f"# {datetime.date.today()}, {platform.machine()}, {os.cpu_count()} cores, "
          f"full mode, OPENBLAS_NUM_THREADS=1")
    print(f"{'notebook':<22} {'metric':<9} {'float':>7} {'int8':>7} {'wall time':>10}")
    for name in EXAMPLES:
        seconds = None if args.no_execute else execute(name)
        metric, float_figure, int8_figure = figures(name)
        wall = "-" if seconds is None else f"{seconds / 60:.1f} min"
        print(f"{name:<22} {metric:<9} {float_figure:>7} {int8_figure:>7} {wall:>10}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
