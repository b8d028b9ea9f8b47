"""Run the notebooks and print what they measure: each notebook's wall time and, for the
example notebooks 01-04, the accuracy (or MSE) of the float and int8 models on the synthetic
test splits.

    python benchmarks/bench_notebooks.py                 # full mode: execute 01-04 in place
    python benchmarks/bench_notebooks.py --no-execute    # report from the saved outputs
    python benchmarks/bench_notebooks.py --all --fast --out-dir /tmp/nb --write-readme
                                                         # time every notebook in fast mode

Each notebook runs top to bottom with `jupyter nbconvert --execute` (kernel start included in
its wall time), one BLAS thread. --fast sets TFLM_EDU_FAST=1, as CI does; without it the
notebooks run in full mode. In place (the default), the notebooks are saved with the outputs
of this run - solution cells cleared and progress bars stripped (notebooks/strip_widgets.py),
as they are committed - so the figures a reader sees are the figures printed here;
--out-dir DIR saves the executed copies there instead and leaves notebooks/ untouched.

--write-readme puts the wall times into README.md between <!-- bench_notebooks:start --> and
<!-- bench_notebooks:end -->: a table with a fast-mode and a full-mode column. A run fills the
column of its mode and keeps the other column as the README has it ("not measured" until a
run of that mode writes it). --note adds a remark to this run's line (the machine was shared,
say). Targets (issue 17): under 90 s per notebook in fast mode, under 5 minutes in full mode.
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

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
README = ROOT / "README.md"
EXAMPLES = ["01_hello_world", "02_micro_speech", "03_magic_wand", "04_person_detection"]
FIGURE = re.compile(r"test (accuracy|MSE): float ([\d.]+%?), int8 ([\d.]+%?)")
TARGET_SECONDS = {"fast": 90, "full": 300}
START, END = "<!-- bench_notebooks:start -->", "<!-- bench_notebooks:end -->"
NOT_MEASURED = "not measured"


def all_notebooks() -> list:
    return sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def execute(name: str, fast: bool, out_dir: Path | None) -> float | None:
    """Run one notebook with nbconvert; returns its wall time in seconds, or None (and the
    end of nbconvert's error on stderr) when a cell fails."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    env.pop("MPLBACKEND", None)       # the kernel's inline backend saves the figures
    env.pop("TFLM_EDU_FAST", None)
    if fast:
        env["TFLM_EDU_FAST"] = "1"
    where = ["--inplace"] if out_dir is None else ["--output-dir", str(out_dir)]
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook",
                           "--execute", *where, "--ExecutePreprocessor.timeout=3600",
                           f"{name}.ipynb"], cwd=NOTEBOOKS, env=env, capture_output=True,
                          text=True)
    seconds = time.monotonic() - start
    if done.returncode != 0:
        print(f"{name}: nbconvert failed:\n" + "\n".join(done.stderr.splitlines()[-8:]),
              file=sys.stderr)
        return None
    if out_dir is None:              # saved as committed: no solution outputs, no frozen bars
        subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook",
                        "--inplace", "--TagRemovePreprocessor.enabled=True",
                        "--TagRemovePreprocessor.remove_all_outputs_tags", "solution",
                        f"{name}.ipynb"], cwd=NOTEBOOKS, check=True, capture_output=True)
        subprocess.run([sys.executable, str(NOTEBOOKS / "strip_widgets.py"), f"{name}.ipynb"],
                       cwd=NOTEBOOKS, check=True, capture_output=True)
    return seconds


def figures(path: Path) -> tuple:
    notebook = json.loads(path.read_text())
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            match = FIGURE.search("".join(output.get("text", "")))
            if match:
                return match.groups()
    return ("-", "-", "-")


def wall(seconds: float | None, mode: str) -> str:
    if seconds is None:
        return "failed"
    text = f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"
    target = TARGET_SECONDS[mode]
    return text if seconds < target else f"{text} (over {_duration(target)})"


def _duration(seconds: int) -> str:
    return f"{seconds} s" if seconds < 120 else f"{seconds // 60} min"


# ----------------------------------------------------------------------------- README


def readme_section(times: dict, mode: str, note: str, existing: str) -> str:
    """The README's section with this run's column (times: name -> seconds) and the other
    mode's column and line kept from `existing` (the section as it was, or "")."""
    other = "full" if mode == "fast" else "fast"
    kept_line = re.search(rf"^- {other} mode.*$", existing, re.M)
    kept = {}
    for row in re.finditer(r"^\| (\d\d_\w+) \| ([^|]*) \| ([^|]*) \|$", existing, re.M):
        kept[row.group(1)] = row.group(3 if other == "full" else 2).strip()
    this_line = (f"- {mode} mode{' (`TFLM_EDU_FAST=1`)' if mode == 'fast' else ''}: measured "
                 f"{datetime.date.today()} on {platform.machine()} with {os.cpu_count()} cores, "
                 f"Python {platform.python_version()}, OPENBLAS_NUM_THREADS=1"
                 + (f"; {note}" if note else ""))
    other_line = kept_line.group(0) if kept_line else f"- {other} mode: {NOT_MEASURED}"
    lines = [f"Wall time of each notebook run top to bottom (`jupyter nbconvert --execute`, "
             f"kernel start included), from `python benchmarks/bench_notebooks.py --all "
             f"[--fast] --write-readme`; targets: under {_duration(TARGET_SECONDS['fast'])} "
             f"each in fast mode, under {_duration(TARGET_SECONDS['full'])} in full mode.", ""]
    lines += sorted([this_line, other_line], key=lambda line: not line.startswith("- fast"))
    lines += ["", "| notebook | fast mode | full mode |", "|---|---|---|"]
    names = sorted(set(times) | set(kept))
    for name in names:
        this = wall(times[name], mode) if name in times else NOT_MEASURED
        that = kept.get(name, NOT_MEASURED)
        fast, full = (this, that) if mode == "fast" else (that, this)
        lines.append(f"| {name} | {fast} | {full} |")
    return "\n".join(lines)


def write_readme(times: dict, mode: str, note: str) -> None:
    content = README.read_text()
    if START not in content or END not in content:
        sys.exit(f"bench_notebooks: README.md has no {START} ... {END} section")
    before, rest = content.split(START, 1)
    existing, after = rest.split(END, 1)
    section = readme_section(times, mode, note, existing)
    README.write_text(before + START + "\n" + section + "\n" + END + after)
    print(f"wrote the {mode}-mode times into {README}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*",
                        help="notebook names (default: 01-04; --all: every notebook)")
    parser.add_argument("--all", action="store_true", help="every notebook, 00 to 15")
    parser.add_argument("--fast", action="store_true", help="fast mode (TFLM_EDU_FAST=1)")
    parser.add_argument("--no-execute", action="store_true",
                        help="only read the figures saved in the notebooks")
    parser.add_argument("--out-dir", type=Path, default=None, metavar="DIR",
                        help="save the executed notebooks in DIR, not in place")
    parser.add_argument("--write-readme", action="store_true",
                        help="write the wall times into README.md (see above)")
    parser.add_argument("--note", default="", help="a remark for this run's README line")
    args = parser.parse_args(argv)
    names = [n.removesuffix(".ipynb") for n in args.notebooks] or (
        all_notebooks() if args.all else EXAMPLES)
    mode = "fast" if args.fast else "full"
    if args.out_dir is not None:
        args.out_dir.mkdir(parents=True, exist_ok=True)
    print(f"# {datetime.date.today()}, {platform.machine()}, {os.cpu_count()} cores, "
          f"{mode} mode, OPENBLAS_NUM_THREADS=1")
    print(f"{'notebook':<28} {'metric':<9} {'float':>7} {'int8':>7} {'wall time':>16}")
    times, failed = {}, []
    for name in names:
        seconds = None if args.no_execute else execute(name, args.fast, args.out_dir)
        if seconds is not None:
            times[name] = seconds
        elif not args.no_execute:
            failed.append(name)
        saved = (args.out_dir if args.out_dir is not None and seconds is not None
                 else NOTEBOOKS) / f"{name}.ipynb"
        metric, float_figure, int8_figure = figures(saved)
        shown = "-" if args.no_execute else wall(seconds, mode)
        print(f"{name:<28} {metric:<9} {float_figure:>7} {int8_figure:>7} {shown:>16}",
              flush=True)
    if times:
        total = sum(times.values())
        print(f"{'total':<28} {'':<9} {'':>7} {'':>7} {total / 60:>12.1f} min")
    if failed:
        print(f"failed: {', '.join(failed)} (nothing written to the README)", file=sys.stderr)
        return 1
    if args.write_readme:
        if not times:
            sys.exit("bench_notebooks: --write-readme needs a run (not --no-execute)")
        write_readme(times, mode, args.note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
