"""Flash bytes before and after tflm_edu.convert.shrink, for the reference models
(../shared/reference/models) and the real public models (../shared/models).

Columns: the file as it is; shrunk with the defaults (names kept; description, signature
defs, unread metadata, min/max and repeated shape signatures dropped; unused and duplicate
tensors, buffers and operator codes pruned; min_runtime_version rewritten); shrunk with
--strip-names too; and where the default's saving goes (names, metadata, quantization,
weights = shared buffers, overhead). "check" says whether the real TFLM gives the shrunk
model's outputs byte for byte the same as the original's (one seeded invoke; "refused"
when TFLM refuses the original as well).

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_shrink.py [--no-check] [--markdown]
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import io
from pathlib import Path

import numpy as np

from tflm_edu.convert.shrink import shrink_model
from tflm_edu.schema import read_model

SHARED = Path(__file__).resolve().parents[2] / "shared"
FOLDERS = (SHARED / "reference" / "models", SHARED / "models")


def tflm_outputs(data: bytes):
    """One invoke of the real TFLM on seeded inputs, outputs as bytes; None if refused."""
    from tflite_micro.python.tflite_micro import runtime
    model = read_model(data)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            interpreter = runtime.Interpreter.from_bytes(data, arena_size=16 << 20)
    except RuntimeError:
        return None
    rng = np.random.default_rng(0)
    graph = model.subgraphs[0]
    for k, index in enumerate(graph.inputs):
        t = graph.tensors[index]
        if t.dtype.kind == "f":
            x = rng.standard_normal(t.shape).astype(t.dtype)
        else:
            info = np.iinfo(t.dtype)
            x = rng.integers(info.min, info.max, size=t.shape, endpoint=True).astype(t.dtype)
        interpreter.set_input(x, k)
    interpreter.invoke()
    return [np.asarray(interpreter.get_output(k)).tobytes() for k in range(len(graph.outputs))]


def measure(path: Path, check: bool) -> dict:
    data = path.read_bytes()
    default = shrink_model(data)
    stripped = shrink_model(data, strip_names=True)
    saved = default.report.saved_by_category()
    row = {"model": path.stem, "before": len(data), "default": len(default.data),
           "strip_names": len(stripped.data), "names": saved["names"],
           "metadata": saved["metadata"], "quantization": saved["quantization"],
           "weights": saved["weights"], "overhead": saved["overhead"], "check": "-"}
    if check:
        theirs = tflm_outputs(data)
        same = theirs is not None and all(tflm_outputs(r.data) == theirs
                                          for r in (default, stripped))
        row["check"] = "refused" if theirs is None else ("same" if same else "DIFFERS")
    return row


COLUMNS = [("model", "model", "<"), ("before", "before", ">"), ("default", "shrunk", ">"),
           ("strip_names", "no names", ">"), ("names", "names", ">"),
           ("metadata", "metadata", ">"), ("quantization", "quant", ">"),
           ("weights", "weights", ">"), ("overhead", "overhead", ">"), ("check", "TFLM", ">")]


def cell(row: dict, key: str) -> str:
    value = row[key]
    return f"{value:,}" if isinstance(value, int) else str(value)


def print_table(rows: list, markdown: bool) -> None:
    if markdown:
        print("| " + " | ".join(title for _, title, _ in COLUMNS) + " |")
        print("|" + "|".join("---" if align == "<" else "---:" for *_, align in COLUMNS) + "|")
        for row in rows:
            print("| " + " | ".join(cell(row, key) for key, *_ in COLUMNS) + " |")
        return
    widths = {key: max(len(title), *(len(cell(r, key)) for r in rows))
              for key, title, _ in COLUMNS}
    print("  ".join(f"{title:{align}{widths[key]}}" for key, title, align in COLUMNS))
    for row in rows:
        print("  ".join(f"{cell(row, key):{align}{widths[key]}}" for key, _, align in COLUMNS))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-check", action="store_true",
                        help="skip running the real TFLM on each shrunk model")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    print(f"tflm_edu shrink, flash bytes per model - {datetime.date.today().isoformat()}")
    print("columns: before = the file; shrunk = defaults; no names = --strip-names; "
          "names..overhead = bytes the default saves per category\n")
    paths = [p for folder in FOLDERS for p in sorted(folder.glob("*.tflite"))]
    if not paths:
        print(f"no models under {SHARED} (needs ../shared)")
        return
    rows = [measure(p, not args.no_check) for p in paths]
    total = {"model": "total", "check": ""}
    for key in ("before", "default", "strip_names", "names", "metadata", "quantization",
                "weights", "overhead"):
        total[key] = sum(r[key] for r in rows)
    print_table(rows + [total], args.markdown)
    before, after, no_names = total["before"], total["default"], total["strip_names"]
    print(f"\ndefault saves {before - after:,} bytes ({100 * (before - after) / before:.1f}%); "
          f"with --strip-names {before - no_names:,} ({100 * (before - no_names) / before:.1f}%)")


if __name__ == "__main__":
    main()
