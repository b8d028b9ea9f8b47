"""tflm-edu boards | deploy | virtual-board: the deploy step from the command line.

    tflm-edu boards
    tflm-edu deploy MODEL --board nano33ble|sparkfun_edge|stm32f746 [--port P] [-o DIR]
    tflm-edu virtual-board MODEL [--drop-bytes P] [--flip-bits P] [--delay S]
                                 [--reset-after N] [--stuck]
"""
from __future__ import annotations

import sys
from pathlib import Path

from tflm_edu.deploy.errors import DeployError, ToolMissing


def add_commands(subparsers) -> None:
    from tflm_edu.deploy.firmware import BOARDS

    p = subparsers.add_parser("boards", help="list serial ports and the supported boards")
    p.set_defaults(func=_guard(boards_command))

    p = subparsers.add_parser("deploy", help="generate firmware for a model; build, flash and "
                                             "verify it when the tools and a port are there")
    p.add_argument("model", help=".tflite file")
    p.add_argument("--board", required=True, choices=sorted(BOARDS))
    p.add_argument("--port", help="serial port of the board: flash it, then verify")
    p.add_argument("-o", "--output", help="project folder (default: <model>_<board>)")
    p.add_argument("-n", "--samples", type=int, default=10, help="inputs to verify (10)")
    p.add_argument("--no-build", action="store_true", help="only generate the project")
    p.set_defaults(func=_guard(deploy_command))

    p = subparsers.add_parser("virtual-board", help="serve a model on a pseudo-terminal, as a "
                                                    "board would (with optional faults)")
    p.add_argument("model", help=".tflite file")
    p.add_argument("--drop-bytes", type=float, default=0.0, metavar="P",
                   help="probability that a byte is lost")
    p.add_argument("--flip-bits", type=float, default=0.0, metavar="P",
                   help="probability that a byte has one bit flipped")
    p.add_argument("--delay", type=float, default=0.0, metavar="S", help="seconds before replies")
    p.add_argument("--reset-after", type=int, metavar="N", help="reset once at the N-th frame")
    p.add_argument("--stuck", action="store_true", help="never answer")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_guard(virtual_board_command))


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
    from tflm_edu.deploy.client import list_ports
    from tflm_edu.deploy.firmware import BOARDS
    ports = list_ports()
    print("Serial ports:" if ports else "Serial ports: none found (is a board plugged in?)")
    for device, description in ports:
        print(f"  {device:<20} {description}")
    print("Supported boards (tflm-edu deploy MODEL --board NAME):")
    for board in BOARDS.values():
        print(f"  {board.name:<14} {board.title}; builds with {board.build_system}")
    return 0


def deploy_command(args) -> int:
    from tflm_edu.deploy.firmware import generate_project
    from tflm_edu.deploy.verify import verify
    model = Path(args.model)
    out = Path(args.output) if args.output else Path(f"{model.stem}_{args.board}")
    project = generate_project(model, args.board, out)
    print(project)
    print(project.tree())
    if args.no_build:
        return 0
    try:
        project.build(port=args.port)
    except ToolMissing as e:
        print(f"tflm-edu deploy: {e}", file=sys.stderr)
        if args.port:   # the board may hold this firmware already; the hash check will tell
            print(f"verifying the board on {args.port} as it is", file=sys.stderr)
    if args.port:
        report = verify(args.port, model.read_bytes(), n=args.samples)
        print(report.table())
        return 0 if report.all_equal else 1
    return 0


def virtual_board_command(args) -> int:
    from tflm_edu.deploy.virtual_board import Faults, VirtualBoard
    model = Path(args.model)
    if not model.is_file():
        raise FileNotFoundError(f"model file not found: {model}")
    faults = Faults(args.drop_bytes, args.flip_bits, args.delay, args.reset_after, args.stuck,
                    seed=args.seed)
    board = VirtualBoard(model.read_bytes(), faults=faults)
    path = board.start()
    print(f"virtual board serving {model.name} at {path}  (Ctrl-C to stop)", flush=True)
    print(f"  try: python -c \"from tflm_edu.deploy import Board; "
          f"print(Board.open('{path}').info())\"", flush=True)
    try:
        board.serve_forever()
    except KeyboardInterrupt:
        board.stop()
        print("virtual board stopped")
    return 0
