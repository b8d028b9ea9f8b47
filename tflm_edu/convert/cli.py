"""tflm-edu subcommands of the convert step.

    tflm-edu quantize FLOAT.tflite --calibration data.npy -o model_int8.tflite
                      [--calibration more.npy ...]   one .npy per input, in input order
                                                     (or one .npz keyed by input name)
                      [--mode int8|int16x8] [--io int8|int16|float32] [--per-channel-fc]
                      [--calibration-method minmax|moving_average|percentile]
                      [--percentile P] [--momentum M] [--report]
    tflm-edu to-c MODEL --name g_model [-o DIR]
    tflm-edu check MODEL [--board NAME]       exit status 1 when a check finds an error
    tflm-edu check --list-boards
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tflm_edu.convert.calibration import DEFAULT_MOMENTUM, METHODS
from tflm_edu.errors import InputError


def add_commands(subparsers) -> None:
    p = subparsers.add_parser("to-c", help="write the model as a C array (model_data.cc/.h), "
                                           "its I/O constants and its op resolver")
    p.add_argument("model", help="path to a .tflite file")
    p.add_argument("--name", default="g_model", help="C name of the array (default: %(default)s)")
    p.add_argument("-o", "--output-dir", default=".", metavar="DIR",
                   help="folder to write into (default: the current one)")
    p.set_defaults(func=cmd_to_c)

    add_quantize_command(subparsers)

    p = subparsers.add_parser("check", help="pre-deploy checks: can TFLM run this model, "
                                            "does it fit the board?")
    p.add_argument("model", nargs="?", help="path to a .tflite file")
    p.add_argument("--board", default=None, help="board name or id (see --list-boards)")
    p.add_argument("--list-boards", action="store_true", help="print the known boards")
    p.set_defaults(func=cmd_check)

    # -- shrink: its parser and command live in shrink_cli.py --------------------------
    from tflm_edu.convert.shrink_cli import add_shrink_command
    add_shrink_command(subparsers)


def add_quantize_command(subparsers) -> None:
    p = subparsers.add_parser("quantize", help="post-training int8 (or int16x8) quantization "
                                               "of a float .tflite with calibration data")
    p.add_argument("model", help="path to a float32 .tflite file")
    p.add_argument("--calibration", required=True, action="append", metavar="DATA.npy",
                   help="representative inputs, shape (N, *input shape without batch) or "
                        "(N, *input shape); repeat it once per model input, in input order, "
                        "or give one .npz with an array per input tensor name")
    p.add_argument("-o", "--output", required=True, metavar="MODEL_INT8.tflite")
    p.add_argument("--mode", choices=["int8", "int16x8"], default="int8",
                   help="int8 activations, or int16 activations with int8 weights "
                        "(default: %(default)s)")
    p.add_argument("--io", choices=["int8", "int16", "float32"], default=None,
                   help="type of the model's inputs and outputs (default: the mode's "
                        "activation type)")
    p.add_argument("--per-channel-fc", action="store_true",
                   help="per-channel weights for FULLY_CONNECTED too (needs a newer TFLM)")
    p.add_argument("--calibration-method", choices=list(METHODS), default=None,
                   help="how activation ranges are taken: minmax (default), moving_average "
                        "(EMA of each sample's min/max) or percentile")
    p.add_argument("--percentile", type=float, default=None, metavar="P",
                   help="calibrate activation ranges on the P-th percentile instead of "
                        "min/max (default 99.99 with --calibration-method percentile)")
    p.add_argument("--momentum", type=float, default=DEFAULT_MOMENTUM, metavar="M",
                   help="moving_average: min <- M * min + (1 - M) * sample min "
                        "(default: %(default)s)")
    p.add_argument("--report", action="store_true",
                   help="print the per-layer SQNR against the float model, beside the other "
                        "mode's, the worst layer and a suggested fix")
    p.epilog = "examples:\n" + "\n".join(f"  {e}" for e in QUANTIZE_EXAMPLES)
    p.set_defaults(func=cmd_quantize)


QUANTIZE_EXAMPLES = [
    "tflm-edu quantize float.tflite --calibration x_calib.npy -o model_int8.tflite",
    "tflm-edu quantize two_inputs.tflite --calibration a.npy --calibration b.npy -o q.tflite",
    "tflm-edu quantize float.tflite --calibration inputs.npz --mode int16x8 --report "
    "-o model_16x8.tflite",
    "tflm-edu quantize float.tflite --calibration x.npy --calibration-method percentile "
    "--percentile 99.9 -o q.tflite",
]


def cmd_to_c(args) -> int:
    from tflm_edu.convert.c_array import write_c_files
    paths = write_c_files(Path(args.model), args.output_dir, args.name)
    for filename, path in paths.items():
        print(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0


def _checked_array(data, what: str) -> np.ndarray:
    if not isinstance(data, np.ndarray) or data.dtype.kind not in "fiub":
        raise InputError(f"{what} must hold a numeric array of calibration inputs")
    if data.ndim == 0 or len(data) == 0:
        raise InputError(f"{what} holds no samples: give at least one calibration input")
    return data


def load_calibration(path) -> np.ndarray | dict:
    """One .npy array of samples, or an .npz's arrays by name (one per model input)."""
    path = Path(path)
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (ValueError, OSError) as e:
        raise InputError(f"{path} is not a .npy array or .npz archive ({e}); save one with "
                         "numpy.save or numpy.savez") from e
    if isinstance(data, np.lib.npyio.NpzFile):
        with data:
            return {name: _checked_array(data[name], f"{path}[{name!r}]") for name in data.files}
    return _checked_array(data, str(path))


def calibration_data(paths: list):
    """--calibration given once: its array (or .npz dict); several times: a list, one
    array per model input in input order."""
    loaded = [load_calibration(path) for path in paths]
    if len(loaded) == 1:
        return loaded[0]
    if any(isinstance(d, dict) for d in loaded):
        raise InputError("give one .npz with every input, or one .npy per input - not both")
    return loaded


def cmd_quantize(args) -> int:
    from tflm_edu.convert.calibration import calibrate
    from tflm_edu.convert.quantize import check_quantizable, quantize_model, resolve_io_type
    from tflm_edu.convert.fold import fold_constants
    from tflm_edu.schema import load_model, write_model
    io = resolve_io_type(args.io, args.mode)          # refuse bad options before calibrating
    model = load_model(args.model)
    check_quantizable(fold_constants(model), args.mode)
    data = calibration_data(args.calibration)
    ranges = calibrate(model, data, args.percentile, method=args.calibration_method,
                       momentum=args.momentum)
    quantized = quantize_model(model, data, io_type=args.io, mode=args.mode, ranges=ranges,
                               per_channel_fc=args.per_channel_fc)
    out = Path(args.output)
    out.write_bytes(write_model(quantized))
    print(f"wrote {out} ({out.stat().st_size} bytes, {args.mode}, {io} inputs/outputs)")
    if args.report:
        print(_report(model, quantized, data, ranges, args))
    return 0


def _report(model, quantized, data, ranges, args) -> str:
    """The quantization report, beside the other mode's model when the model has one."""
    from tflm_edu.convert.quantize import quantize_model
    from tflm_edu.convert.report import quantization_report
    from tflm_edu.errors import ModelError
    other_mode = "int8" if args.mode == "int16x8" else "int16x8"
    try:
        other = quantize_model(model, ranges=ranges, mode=other_mode,
                               per_channel_fc=args.per_channel_fc)
    except ModelError:                       # an op with no int16x8 kernel: no comparison
        other = None
    return quantization_report(model, quantized, data, compare_with=other).text()


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
