"""The tflm-edu command line.

    tflm-edu demo                             run the examples, print predictions and a plan
    tflm-edu inspect MODEL [--json]           tensors, ops, quantization, sizes
    tflm-edu run MODEL --input x.npy [...] [--output y.npy | --json]
    tflm-edu plan MODEL [--planner greedy|linear] [--json]
    tflm-edu arena-size MODEL [--target host|cortex-m] [--json]
    tflm-edu quantize FLOAT.tflite --calibration data.npy -o model_int8.tflite
    tflm-edu to-c MODEL --name g_model [-o DIR]
    tflm-edu check MODEL [--board NAME] [--json]
    tflm-edu boards [--json] | deploy MODEL --board NAME [--port P] [--json]
    tflm-edu virtual-board MODEL [faults]
    tflm-edu profile MODEL [--target cortex-m4|cortex-m7] [--kernels reference|cmsis_nn]

Each area of tflm_edu adds its own subcommands through an add_commands(subparsers)
function listed in COMMAND_MODULES. Expected failures (a missing file, a malformed model,
an input of the wrong shape) print one line to stderr and exit with status 2 - no traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from tflm_edu.errors import AllocationError, InputError, ModelError

# Modules that contribute subcommands: each has add_commands(subparsers); every parser it
# adds sets `func` (args -> exit status) with set_defaults.
COMMAND_MODULES = ["tflm_edu.commands", "tflm_edu.arena_size.cli", "tflm_edu.convert.cli",
                   "tflm_edu.deploy.cli", "tflm_edu.profile.cli"]

EXPECTED_ERRORS = (ModelError, AllocationError, InputError, FileNotFoundError, IsADirectoryError,
                   PermissionError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tflm-edu",
        description="Learn and debug TensorFlow Lite for Microcontrollers: a readable, "
                    "bit-exact Python re-telling of TFLM.")
    parser.add_argument("--version", action="version", version=_version())
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_commands(subparsers)
    importlib.import_module("tflm_edu.commands").add_json_options(subparsers.choices)
    for command, sub in subparsers.choices.items():
        describe(command, sub, subparsers)
    return parser


# Each subcommand's --help: its one-line help as the description, and worked examples.
EXAMPLES = {
    "demo": ["tflm-edu demo"],
    "inspect": ["tflm-edu inspect person_detect.tflite",
                "tflm-edu inspect model.tflite --json | python -m json.tool"],
    "run": ["tflm-edu run hello_world_int8.tflite --input x.npy",
            "tflm-edu run model.tflite --input x_test.npy --batch --output y_test.npy"],
    "plan": ["tflm-edu plan person_detect.tflite",
             "tflm-edu plan model.tflite --planner linear --json"],
    "arena-size": ["tflm-edu arena-size person_detect.tflite --target cortex-m"],
    "quantize": ["tflm-edu quantize float.tflite --calibration x_calib.npy "
                 "-o model_int8.tflite"],
    "to-c": ["tflm-edu to-c model_int8.tflite --name g_model -o firmware/src"],
    "check": ["tflm-edu check model_int8.tflite --board nano33ble",
              "tflm-edu check model_int8.tflite --board nano33ble --json",
              "tflm-edu check --list-boards"],
    "boards": ["tflm-edu boards", "tflm-edu boards --json"],
    "build-tflm": ["tflm-edu build-tflm --cpu cortex-m4 --kernels cmsis_nn"],
    "deploy": ["tflm-edu deploy hello_world_int8.tflite --board qemu-cortex-m4",
               "tflm-edu deploy model.tflite --board nano33ble --port /dev/ttyACM0 --json"],
    "virtual-board": ["tflm-edu virtual-board model.tflite --drop-bytes 0.01"],
    "shrink": ["tflm-edu shrink model_int8.tflite -o model_small.tflite"],
    "profile": ["tflm-edu profile person_detect.tflite --target cortex-m7 --kernels cmsis_nn",
                "tflm-edu profile model.tflite --json"],
}


def describe(command: str, parser: argparse.ArgumentParser, subparsers) -> None:
    """Give a subcommand's --help a description (its one-line help, where it has none)
    and its examples, keeping the examples' line breaks."""
    if not parser.description:
        helps = {a.dest: a.help for a in subparsers._choices_actions}
        parser.description = (helps.get(command) or "").rstrip(".") + "."
    examples = EXAMPLES.get(command)
    if examples and not parser.epilog:
        parser.epilog = "examples:\n" + "\n".join(f"  {e}" for e in examples)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except EXPECTED_ERRORS as e:
        print(f"tflm-edu {args.command}: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `tflm-edu inspect M | head`: the reader left, nothing to say
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print(f"tflm-edu {args.command}: interrupted", file=sys.stderr)
        return 130


def _one_line(error: Exception) -> str:
    text = str(error) or type(error).__name__
    if isinstance(error, (FileNotFoundError, IsADirectoryError, PermissionError)) and error.filename:
        text = f"{error.strerror or 'cannot open'}: {error.filename}"
    return " ".join(text.split())


def _version() -> str:
    from tflm_edu import __version__
    return f"tflm-edu {__version__}"


if __name__ == "__main__":
    sys.exit(main())
