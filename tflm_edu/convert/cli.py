"""tflm-edu subcommands of the convert step.

    tflm-edu quantize FLOAT.tflite --calibration data.npy -o model_int8.tflite
                      [--io int8|float32] [--per-channel-fc] [--percentile P]
    tflm-edu to-c MODEL --name g_model [-o DIR]
    tflm-edu check MODEL [--board NAME]       exit status 1 when a check finds an error
    tflm-edu check --list-boards
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tflm_edu.errors import InputError


def add_commands(subparsers) -> None:
    p = subparsers.add_parser("to-c", help="write the model as a C array (model_data.cc/.h), "
                                           "its I/O constants and its op resolver")
    p.add_argument("model", help="path to a .tflite file")
    p.add_argument("--name", default="g_model", help="C name of the array (default: %(default)s)")
    p.add_argument("-o", "--output-dir", default=".", metavar="DIR",
                   help="folder to write into (default: the current one)")
    p.set_defaults(func=cmd_to_c)

    p = subparsers.add_parser("quantize", help="post-training int8 quantization of a float "
                                               ".tflite with calibration data")
    p.add_argument("model", help="path to a float32 .tflite file")
    p.add_argument("--calibration", required=True, metavar="DATA.npy",
                   help="representative inputs, shape (N, *input shape without batch) "
                        "or (N, *input shape)")
    p.add_argument("-o", "--output", required=True, metavar="MODEL_INT8.tflite")
    p.add_argument("--io", choices=["int8", "float32"], default="int8",
                   help="type of the model's inputs and outputs (default: %(default)s)")
    p.add_argument("--per-channel-fc", action="store_true",
                   help="per-channel weights for FULLY_CONNECTED too (needs a newer TFLM)")
    p.add_argument("--percentile", type=float, default=None, metavar="P",
                   help="calibrate activation ranges on the P-th percentile instead of min/max")
    p.set_defaults(func=cmd_quantize)

    p = subparsers.add_parser("check", help="pre-deploy checks: can TFLM run this model, "
                                            "does it fit the board?")
    p.add_argument("model", nargs="?", help="path to a .tflite file")
    p.add_argument("--board", default=None, help="board name or id (see --list-boards)")
    p.add_argument("--list-boards", action="store_true", help="print the known boards")
    p.set_defaults(func=cmd_check)


def cmd_to_c(args) -> int:
    from tflm_edu.convert.c_array import write_c_files
    paths = write_c_files(Path(args.model), args.output_dir, args.name)
    for filename, path in paths.items():
        print(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0


def load_calibration(path) -> np.ndarray:
    path = Path(path)
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (ValueError, OSError) as e:
        raise InputError(f"{path} is not a .npy array ({e}); save one with numpy.save") from e
    if not isinstance(data, np.ndarray) or data.dtype.kind not in "fiu":
        raise InputError(f"{path} must hold a numeric array of calibration inputs")
    if len(data) == 0:
        raise InputError(f"{path} holds no samples: give at least one calibration input")
    return data.astype(np.float32)


def cmd_quantize(args) -> int:
    from tflm_edu.convert.quantize import quantize_model
    from tflm_edu.schema import load_model, write_model
    model = load_model(args.model)
    data = load_calibration(args.calibration)
    quantized = quantize_model(model, data, io_type=args.io,
                               per_channel_fc=args.per_channel_fc, percentile=args.percentile)
    out = Path(args.output)
    out.write_bytes(write_model(quantized))
    print(f"wrote {out} ({out.stat().st_size} bytes, int8, {args.io} inputs/outputs)")
    return 0


def cmd_check(args) -> int:
    from tflm_edu.boards import format_boards
    if args.list_boards:
        print(format_boards())
        return 0
    if args.model is None:
        raise InputError("give a MODEL to check (or --list-boards)")
    from tflm_edu.convert.checks import check_model, format_findings
    findings = check_model(args.model, board=args.board)
    print(format_findings(findings))
    return 1 if any(f.severity == "error" for f in findings) else 0
