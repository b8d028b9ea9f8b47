"""tflm-edu shrink: a smaller .tflite for flash, that TFLM runs to the same bytes.

    tflm-edu shrink MODEL -o OUT.tflite [--strip-names] [--keep-metadata NAME ...]
                   [--min-runtime-version update|add|drop]
                   [--per-tensor-where-lossless [--calibration X.npy] [--max-sqnr-loss DB]]
                   [--json]

The work is tflm_edu.convert.shrink.shrink_model; this module only parses arguments,
writes the file and prints the report (a table, or JSON with --json).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tflm_edu.errors import InputError


def add_shrink_command(subparsers) -> None:
    from tflm_edu.convert.shrink import DEFAULT_MAX_SQNR_LOSS_DB, RUNTIME_VERSION_POLICIES
    p = subparsers.add_parser("shrink", help="make a .tflite smaller for flash without "
                                             "changing what TFLM computes from it")
    p.add_argument("model", help="path to a .tflite file")
    p.add_argument("-o", "--output", required=True, metavar="OUT.tflite")
    p.add_argument("--strip-names", action="store_true",
                   help="drop tensor and subgraph names too (TFLM never reads them; kept by "
                        "default because inspect, compare and error messages show them)")
    p.add_argument("--keep-metadata", action="append", default=[], metavar="NAME",
                   help="keep this metadata entry as well (repeatable); the entries TFLM "
                        "reads are always kept")
    p.add_argument("--min-runtime-version", choices=RUNTIME_VERSION_POLICIES, default="update",
                   help="rewrite the model's min_runtime_version entry from its op versions "
                        "(update, the default), also add one where it has none (add), or "
                        "drop it (drop)")
    p.add_argument("--per-tensor-where-lossless", action="store_true",
                   help="store per-channel weights with one scale where that is exact, or "
                        "(with --calibration) costs less than --max-sqnr-loss dB")
    p.add_argument("--calibration", metavar="X.npy",
                   help="samples for input 0, shape (N, *input shape without batch) or "
                        "(N, *input shape): float values, or values of the input's type")
    p.add_argument("--max-sqnr-loss", type=float, default=DEFAULT_MAX_SQNR_LOSS_DB,
                   metavar="DB", help="largest SQNR loss of an op's output accepted for "
                                      "one-scale weights (default: %(default)s dB)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_shrink)


def _load_samples(path) -> np.ndarray:
    try:
        data = np.load(Path(path), allow_pickle=False)
    except FileNotFoundError:
        raise
    except (ValueError, OSError) as e:
        raise InputError(f"{path} is not a .npy array ({e}); save one with numpy.save") from e
    if not isinstance(data, np.ndarray) or data.dtype.kind not in "fiu" or data.size == 0:
        raise InputError(f"{path} must hold a non-empty numeric array of input samples")
    return data


def cmd_shrink(args) -> int:
    from tflm_edu.convert.shrink import shrink_model
    if args.calibration and not args.per_tensor_where_lossless:
        raise InputError("--calibration is used only with --per-tensor-where-lossless")
    calibration = _load_samples(args.calibration) if args.calibration else None
    result = shrink_model(Path(args.model), strip_names=args.strip_names,
                          keep_metadata=tuple(args.keep_metadata),
                          runtime_version=args.min_runtime_version,
                          per_tensor=args.per_tensor_where_lossless, calibration=calibration,
                          max_sqnr_loss_db=args.max_sqnr_loss)
    out = Path(args.output)
    out.write_bytes(result.data)
    if args.json:
        report = {"model": str(args.model), "output": str(out), **result.report.as_dict()}
        print(json.dumps(_jsonable(report), indent=2, allow_nan=False))
    else:
        print(f"wrote {out} ({len(result.data):,} bytes)")
        print(result.report.table())
    return 0


def _jsonable(value):
    """The report as strict JSON: numpy scalars as numbers, an infinite SQNR (nothing
    changed) as null."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
