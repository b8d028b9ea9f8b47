"""`tflm-edu arena-size`: the subcommand, registered by tflm_edu.cli."""
from tflm_edu.arena_size.estimate import main_arena_size
from tflm_edu.memory.layout import TARGETS


def add_commands(subparsers) -> None:
    p = subparsers.add_parser(
        "arena-size", help="the smallest tensor arena TFLM needs, and where the bytes go",
        description="Predict the smallest arena_size with which TFLM's AllocateTensors() and "
                    "Invoke() succeed, with a breakdown in RecordingMicroAllocator's categories.")
    p.add_argument("model", help="path to a .tflite file")
    p.add_argument("--target", choices=sorted(TARGETS), default="host",
                   help="host: 64-bit build (what the tflite-micro package runs); cortex-m: "
                        "32-bit microcontroller build (default: %(default)s)")
    p.add_argument("--json", action="store_true",
                   help="print JSON (key arena_bytes plus the breakdown) instead of a table")
    p.set_defaults(func=main_arena_size)
