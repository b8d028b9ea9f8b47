"""tflm-edu boards | deploy | virtual-board: the deploy step from the command line.

    tflm-edu boards
    tflm-edu build-tflm [--cpu cortex-m4|cortex-m7|host] [--kernels reference|cmsis_nn]
    tflm-edu deploy MODEL --board qemu-cortex-m4|qemu-cortex-m7|host [--kernels K] [-n N]
                          [--profile] [--arena] [--tflm-src DIR]
    tflm-edu deploy MODEL --board nano33ble|sparkfun_edge|stm32f746 [--port P] [-o DIR]
    tflm-edu virtual-board MODEL [--drop-bytes P] [--flip-bits P] [--delay S]
                                 [--reset-after N] [--stuck]
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from tflm_edu.deploy.errors import DeployError, ToolMissing


def add_commands(subparsers) -> None:
    from tflm_edu.deploy.firmware import BOARDS
    from tflm_edu.deploy.tflm_build import KERNELS

    p = subparsers.add_parser(
        "boards", help="list the boards (real and emulated) and this machine's serial ports",
        description="The boards tflm-edu deploys to - three real ones, two emulated Cortex-M "
                    "cores and this computer - with their flash, RAM and clock, how their "
                    "firmware is built, and the serial ports a real board may be on.",
        epilog="example: tflm-edu boards --json")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_guard(boards_command))

    p = subparsers.add_parser(
        "deploy", help="build the firmware for a model and run it on a board (emulated or real)",
        description="Generate the firmware project for MODEL and compile it against TFLM. On an "
                    "emulated board (QEMU) or this computer it then runs, and N inputs are "
                    "checked byte for byte against tflm_edu; with --profile the board's "
                    "instruction count per op is printed, with --arena the smallest arena the "
                    "board's TFLM accepts is measured. On a real board the project is built "
                    "and flashed with the vendor tool (arduino-cli, PlatformIO) when it is "
                    "installed and --port is given, then verified.",
        epilog="examples:\n  tflm-edu deploy person_detect.tflite --board qemu-cortex-m4 "
               "--profile\n  tflm-edu deploy model.tflite --board qemu-cortex-m7 --kernels "
               "cmsis_nn --arena\n  tflm-edu deploy model.tflite --board nano33ble --port "
               "/dev/ttyACM0",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help=".tflite file")
    p.add_argument("--board", required=True, choices=sorted(BOARDS))
    p.add_argument("--kernels", choices=KERNELS, default="reference",
                   help="TFLM's reference kernels or Arm's CMSIS-NN (default: reference)")
    p.add_argument("--port", help="serial port of a real board: flash it, then verify")
    p.add_argument("-o", "--output", help="project folder (default: <model>_<board>)")
    p.add_argument("-n", "--samples", type=_positive_int, default=10,
                   help="random inputs to verify (default: 10)")
    p.add_argument("--profile", action="store_true", help="print the board's cost of each op")
    p.add_argument("--arena", action="store_true",
                   help="measure the smallest arena the board's TFLM accepts")
    p.add_argument("--tflm-src", metavar="DIR",
                   help="TFLM sources (a tree or its .tar.gz; default: $TFLM_EDU_TFLM_SRC or "
                        "../shared/tflm)")
    p.add_argument("--stock-float", action="store_true",
                   help="build TFLM as its makefile does, letting GCC fuse float multiply-adds "
                        "(the board's float outputs then differ from the PC's)")
    p.add_argument("--no-build", action="store_true", help="only generate the project")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_guard(deploy_command))

    p = subparsers.add_parser(
        "build-tflm", help="build TFLM from its sources for a CPU, once (deploy does it too)",
        description="Compile TFLM's tree (reference or CMSIS-NN kernels) into the static "
                    "library every firmware links, and cache it (TFLM_EDU_CACHE, default "
                    "~/.cache/tflm_edu). Takes a few minutes once; prints where it is.",
        epilog="example: tflm-edu build-tflm --cpu cortex-m7 --kernels cmsis_nn")
    p.add_argument("--cpu", choices=["cortex-m4", "cortex-m7", "host"], default="cortex-m4")
    p.add_argument("--kernels", choices=KERNELS, default="reference")
    p.add_argument("--tflm-src", metavar="DIR", help="TFLM sources (see tflm-edu deploy)")
    p.add_argument("--stock-float", action="store_true",
                   help="TFLM's own flags: let GCC fuse float multiply-adds")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")
    p.set_defaults(func=_guard(build_tflm_command))

    p = subparsers.add_parser(
        "virtual-board", help="serve a model on a pseudo-terminal, as a board would (with "
                              "optional faults)",
        description="A board in Python (tflm_edu's interpreter behind the protocol) on a "
                    "pseudo-terminal, with faults to inject: the tool for learning what a "
                    "noisy line or a misbehaving board does, and what the host does about it.",
        epilog="example: tflm-edu virtual-board model.tflite --flip-bits 0.001")
    p.add_argument("model", help=".tflite file")
    p.add_argument("--drop-bytes", type=_probability, default=0.0, metavar="P",
                   help="probability that a byte is lost")
    p.add_argument("--flip-bits", type=_probability, default=0.0, metavar="P",
                   help="probability that a byte has one bit flipped")
    p.add_argument("--delay", type=_seconds, default=0.0, metavar="S",
                   help="seconds before replies")
    p.add_argument("--reset-after", type=_positive_int, metavar="N",
                   help="reset once at the N-th frame")
    p.add_argument("--stuck", action="store_true", help="never answer")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_guard(virtual_board_command))


def _number(kind, low, high, what: str):
    """An argparse type: `kind` (float or int) between low and high, finite, else a one-line
    error that says what is expected."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not (math.isfinite(value) and low <= value <= high):
            raise argparse.ArgumentTypeError(f"{text}: give {what} from {low} to {high}")
        return value
    parse.__name__ = what.split()[-1]
    return parse


_probability = _number(float, 0.0, 1.0, "a probability")
_seconds = _number(float, 0.0, 60.0, "a number of seconds")
_positive_int = _number(int, 1, 1 << 31, "a whole number")


def _guard(command):
    """DeployErrors are expected failures: one line on stderr, exit status 2."""
    def run(args):
        try:
            return command(args)
        except DeployError as e:
            print(f"tflm-edu {args.command}: error: {' '.join(str(e).split())}", file=sys.stderr)
            return 2
    return run


def boards_command(args) -> int:
    from tflm_edu.boards import BOARDS as FACTS
    from tflm_edu.deploy.client import list_ports
    from tflm_edu.deploy.firmware import BOARDS
    ports = list_ports()
    rows = []
    for target in BOARDS.values():
        board = FACTS[target.id]
        rows.append({"id": target.id, "name": board.name, "core": board.core,
                     "flash_bytes": board.flash_bytes, "ram_bytes": board.ram_bytes,
                     "clock_hz": board.clock_hz, "cpu": board.cpu, "emulator": board.emulator,
                     "builds_here": _builds_here(target.compile_kind),
                     "vendor_tool": target.build_system})
    if args.json:
        print(json.dumps({"boards": rows, "ports": [{"device": d, "description": s}
                                                    for d, s in ports]}, indent=2))
        return 0
    print(f"{'board':<15} {'name':<30} {'core':<16} {'flash':>8} {'RAM':>8}  how it runs here")
    for row in rows:
        flash = "-" if row["id"] == "host" else f"{row['flash_bytes'] >> 10} KB"
        ram = "-" if row["id"] == "host" else f"{row['ram_bytes'] >> 10} KB"
        print(f"{row['id']:<15} {row['name']:<30} {row['core']:<16} {flash:>8} {ram:>8}  "
              f"{row['builds_here']}")
    print("Serial ports:" if ports else "Serial ports: none found (is a board plugged in?)")
    for device, description in ports:
        print(f"  {device:<20} {description}")
    print("Deploy with: tflm-edu deploy MODEL --board BOARD (tflm-edu deploy --help)")
    return 0


def _builds_here(kind: str) -> str:
    return {"emulated": "compiled and run in QEMU",
            "host": "compiled with g++ and run on a pty",
            "stm32": "compiled and linked with ST's HAL; flash with PlatformIO",
            "standin": "compiled with a stand-in vendor layer; flash with the vendor tool"}[kind]


def deploy_command(args) -> int:
    """With --json, stdout gets exactly one JSON document (project_dict, plus what was built,
    run and verified); the progress and the vendor tools' output go to stderr."""
    from tflm_edu.deploy.firmware import board_target, generate_project
    model = Path(args.model)
    if not model.is_file():
        raise FileNotFoundError(f"model file {model}: no such file")
    target = board_target(args.board)
    out = Path(args.output) if args.output else Path(f"{model.stem}_{args.board}")
    project = generate_project(model, args.board, out, kernels=args.kernels)
    say = (lambda *a: None) if args.json else print
    say(project)
    result = project_dict(project)
    if args.no_build:
        say(project.tree())
        status = 0
    elif target.compile_kind in ("emulated", "host"):
        status = _run_here(project, model.read_bytes(), args, say, result)
    else:
        status = _real_board(project, model, args, say, result)
    if args.json:
        print(json.dumps(result, indent=2))
    return status


def project_dict(project) -> dict:
    """What every `deploy --json` reports, built or not: the generated project."""
    return {"board": project.board.id, "kernels": project.kernels,
            "project": str(project.path),
            "files": [str(f.relative_to(project.path)) for f in project.files],
            "model_bytes": project.model_bytes, "model_sha256": project.model_sha256,
            "estimated_arena": project.estimated_arena, "arena_bytes": project.arena_bytes,
            "ops": list(project.ops), "compiled": False}


def _firmware_dict(firmware) -> dict:
    return {"compiled": True, "firmware": str(firmware.elf),
            "flash_bytes": firmware.flash_bytes, "ram_bytes": firmware.ram_bytes,
            "complete": firmware.complete}


def _verify_dict(report) -> dict:
    return {"byte_equal": report.all_equal, "samples": len(report.samples),
            "latency_us": report.latency_stats(), "latency_measures": report.measures()}


def _run_here(project, model: bytes, args, say, result: dict) -> int:
    """Compile, run (QEMU or this PC), verify, and optionally profile and bisect the arena;
    what happened goes into `result`."""
    from tflm_edu.deploy.verify import verify
    firmware = project.compile(tflm_src=args.tflm_src, stock_float=args.stock_float,
                               progress=not args.json)
    say(firmware.size_report())
    result.update(_firmware_dict(firmware))
    with _start(firmware) as running:
        with running.open(expected_model=model) as board:
            say(board.info())
            report = verify(board, model, n=args.samples, progress=not args.json)
            say(report.table())
            result.update(_verify_dict(report))
            if args.profile:
                profile = board.profile()
                say(profile.table())
                result["profile"] = {"unit": profile.unit, "ops": [
                    {"op": e.tag, "depth": e.depth, "count": e.counter} for e in profile.events]}
            if args.arena:
                smallest = board.smallest_arena()
                say(f"smallest arena the board's TFLM accepts: {smallest:,} bytes (tflm_edu's "
                    f"Cortex-M estimate: {project.estimated_arena:,}; the firmware's default: "
                    f"{project.arena_bytes:,})")
                result["smallest_arena"] = smallest
    return 0 if report.all_equal else 1


def _start(firmware):
    """A running board for a compiled firmware: QEMU for emulated boards, else this PC."""
    if firmware.board.compile_kind == "emulated":
        from tflm_edu.deploy.emulator import EmulatedBoard
        return EmulatedBoard(firmware)
    from tflm_edu.deploy.emulator import HostBoard
    return HostBoard(firmware)


def _real_board(project, model: Path, args, say, result: dict) -> int:
    from tflm_edu.deploy.tflm_build import TflmSourcesMissing
    from tflm_edu.deploy.verify import verify
    try:
        firmware = project.compile(tflm_src=args.tflm_src, stock_float=args.stock_float,
                                   progress=not args.json)
        say(firmware.size_report())
        result.update(_firmware_dict(firmware))
    except (ToolMissing, TflmSourcesMissing) as e:
        say(f"not compiled here: {e}")
        result["not_compiled"] = " ".join(str(e).split())
    echo = (lambda line: print(line, file=sys.stderr)) if args.json else print
    try:
        project.build(port=args.port, echo=echo)
        result["built_with_vendor_tool"] = True
        result["flashed"] = bool(args.port)
    except ToolMissing as e:
        print(f"tflm-edu deploy: {e}", file=sys.stderr)
        result["built_with_vendor_tool"] = False
        result["flashed"] = False
        result["vendor_tool_missing"] = " ".join(str(e).split())
        if args.port:   # the board may hold this firmware already; the hash check will tell
            print(f"verifying the board on {args.port} as it is", file=sys.stderr)
    if args.port:
        report = verify(args.port, model.read_bytes(), n=args.samples,
                        progress=not args.json)
        say(report.table())
        result.update(_verify_dict(report))
        return 0 if report.all_equal else 1
    return 0


def build_tflm_command(args) -> int:
    from tflm_edu.deploy.tflm_build import build_library
    library = build_library(args.cpu, args.kernels, args.tflm_src, stock_float=args.stock_float,
                            progress=not args.no_progress)
    print(library)
    return 0


def virtual_board_command(args) -> int:
    from tflm_edu.deploy.virtual_board import Faults, VirtualBoard
    from tflm_edu.schema import as_bytes
    model = as_bytes(args.model)
    faults = Faults(args.drop_bytes, args.flip_bits, args.delay, args.reset_after, args.stuck,
                    seed=args.seed)
    board = VirtualBoard(model, faults=faults)
    path = board.start()
    print(f"virtual board serving {Path(args.model).name} at {path}  (Ctrl-C to stop)",
          flush=True)
    print(f"  try: python -c \"from tflm_edu.deploy import Board; "
          f"print(Board.open('{path}').info())\"", flush=True)
    try:
        board.serve_forever()
    except KeyboardInterrupt:
        board.stop()
        print("virtual board stopped")
    return 0
