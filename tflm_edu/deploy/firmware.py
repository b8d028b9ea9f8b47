"""Firmware for a model: a complete project that builds with arduino-cli or PlatformIO.

    project = generate_project("person_detect.tflite", "nano33ble", "build/person")
    print(project)            # where, what, the arena and why, how to build and flash
    project.build(port="/dev/ttyACM0")   # when arduino-cli / platformio is installed

What goes in, for every board (TFLM's examples do the same by hand):
  model_data.cc/.h       the .tflite as a C array (tflm_edu.convert.c_array.to_c_array)
  model_op_resolver.h    MicroMutableOpResolver<N> with exactly the model's ops
  board_config.h         board name, model SHA-256, arena size (estimate + margin), op names
  tflm_runner.cc/.h      MicroInterpreter over a static arena
  protocol_server.cc/.h  the host-board protocol (docs/protocol.md), portable C++
  serial_<board>.*       the board's serial layer; main / sketch
"""
from __future__ import annotations

import hashlib
import math
import shutil
import subprocess
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from tflm_edu.deploy.errors import DeployError, ToolMissing

FIRMWARE_VERSION = (1, 0, 0)
ARENA_MARGIN = 0.10          # +10 %, then rounded up to a whole KiB
SKETCH = "tflm_edu_board"    # Arduino wants the folder and the .ino to share a name
COMMON_SOURCES = ["serial_port.h", "protocol_server.h", "protocol_server.cc", "tflm_runner.h",
                  "tflm_runner.cc"]


@dataclass(frozen=True)
class BoardTarget:
    """A board we generate firmware for, and how its project is built."""
    name: str
    title: str
    ram_bytes: int
    flash_bytes: int
    build_system: str           # "arduino", "platformio" or "make"
    serial_sources: tuple
    main: str                   # template in firmware_src
    fqbn: str = ""              # arduino-cli board id
    platformio_env: str = ""    # the [env:...] body
    legacy_api: bool = False    # the Arduino TFLM libraries take an ErrorReporter
    arena_target: str = "cortex-m"   # struct sizes for tflm_edu.arena_size


def _spec(board_id: str) -> tuple:
    """Title, RAM and flash from tflm_edu.boards, the one table of board facts."""
    from tflm_edu.boards import get_board
    board = get_board(board_id)
    return str(board), board.ram_bytes, board.flash_bytes


BOARDS = {
    "nano33ble": BoardTarget(
        "nano33ble", *_spec("nano33ble"), "arduino", ("serial_arduino.h",),
        "main_arduino.ino", fqbn="arduino:mbed_nano:nano33ble", legacy_api=True),
    "sparkfun_edge": BoardTarget(
        "sparkfun_edge", *_spec("sparkfun_edge"), "platformio",
        ("serial_apollo3.h", "serial_apollo3.cc"), "main_apollo3.cc",
        platformio_env="platform = https://github.com/nigelb/platform-apollo3blue\n"
                       "board = SparkFun_Edge\nframework = ambiqsdk-sfe\nupload_protocol = svl\n"),
    "stm32f746": BoardTarget(
        "stm32f746", *_spec("stm32f746_disco"), "platformio",
        ("serial_stm32_hal.h", "serial_stm32_hal.cc"), "main_stm32.cc",
        platformio_env="platform = ststm32\nboard = disco_f746ng\nframework = stm32cube\n"
                       "upload_protocol = stlink\n"),
    # Not a board: this PC, with TFLM built from source. The same firmware, on a pty - to
    # check TFLM against tflm_edu before any hardware is involved.
    "host": BoardTarget(
        "host", "this computer (Linux/macOS), TFLM built from source, on a pty", 1 << 30,
        1 << 30, "make", ("serial_posix.h", "serial_posix.cc"), "main_host.cc",
        arena_target="host"),
}
# tflm_edu.boards ids and aliases that name one of ours (stm32f746_disco -> stm32f746)
_ALIASES = {"stm32f746_disco": "stm32f746"}


def board_target(name: str) -> BoardTarget:
    """Our build recipe for `name`: an id of BOARDS, or any alias tflm_edu.boards knows."""
    if name in BOARDS:
        return BOARDS[name]
    from tflm_edu.boards import get_board
    try:
        board_id = get_board(name).id
    except Exception:
        board_id = None
    key = _ALIASES.get(board_id, board_id)
    if key not in BOARDS:
        raise DeployError(f"unknown board {name!r}; supported: {', '.join(BOARDS)}")
    return BOARDS[key]


def firmware_source(name: str) -> str:
    """The text of one file of the portable C++ sources shipped in the package."""
    return resources.files("tflm_edu.deploy").joinpath("firmware_src", name).read_text()


def arena_with_margin(estimated: int) -> int:
    return int(math.ceil(estimated * (1 + ARENA_MARGIN) / 1024) * 1024)


@dataclass
class Project:
    """A generated firmware project on disk."""
    board: BoardTarget
    path: Path
    source_dir: Path
    files: list
    model_sha256: str
    model_bytes: int
    estimated_arena: int
    arena_bytes: int
    ops: list = field(default_factory=list)

    def __repr__(self):
        return (f"Project({self.board.name} at {self.path}: model {self.model_bytes:,} bytes "
                f"sha256 {self.model_sha256[:16]}..., arena {self.arena_bytes:,} bytes "
                f"(estimate {self.estimated_arena:,} + 10%), ops {self.ops})")

    def tree(self) -> str:
        """The files, with sizes: what a learner opens first."""
        lines = [f"{self.path}/"]
        for path in self.files:
            lines.append(f"  {path.relative_to(self.path)}  ({path.stat().st_size:,} bytes)")
        return "\n".join(lines)

    def commands(self, port: str | None = None) -> list:
        """The build (and, with a port, flash) commands, as argument lists."""
        if self.board.build_system == "arduino":
            cmds = [["arduino-cli", "compile", "--fqbn", self.board.fqbn, str(self.source_dir)]]
            if port:
                cmds.append(["arduino-cli", "upload", "-p", port, "--fqbn", self.board.fqbn,
                             str(self.source_dir)])
            return cmds
        if self.board.build_system == "make":
            return [["make", "-C", str(self.path)]]
        cmd = ["pio", "run", "-d", str(self.path)]
        return [cmd + ["-t", "upload"] + (["--upload-port", port] if port else [])] if port \
            else [cmd]

    def build(self, port: str | None = None, echo=print) -> None:
        """Build (and flash to `port`) with the board's tool, streaming its output.
        Raises ToolMissing with what to install when the tool is absent."""
        for cmd in self.commands(port):
            tool = _find_tool(cmd[0])
            if tool is None:
                raise ToolMissing(_install_hint(self.board))
            process = subprocess.Popen([tool, *cmd[1:]], stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True)
            for line in process.stdout:
                echo(line.rstrip())
            if process.wait() != 0:
                raise DeployError(f"{' '.join(cmd[:3])} failed (exit {process.returncode}); "
                                  f"its output is above")


def _find_tool(name: str):
    if name == "pio":
        return shutil.which("pio") or shutil.which("platformio")
    return shutil.which(name)


def _install_hint(board: BoardTarget) -> str:
    if board.build_system == "make":
        return "make and a C++ compiler are needed: apt-get install build-essential"
    if board.build_system == "arduino":
        return ("arduino-cli is not installed. Install it (https://arduino.github.io/arduino-cli/"
                "latest/installation/), then: arduino-cli core install arduino:mbed_nano && "
                "arduino-cli lib install Harvard_TinyMLx (or Arduino_TensorFlowLite). The "
                "project is generated; build it yourself with the commands in its README.md.")
    return ("PlatformIO is not installed. Install it with `pip install platformio`, and put "
            "TFLM's sources in lib/tflite-micro (see the project's README.md). The project is "
            "generated; build it with `pio run -d <project>`.")


# -- generation ---------------------------------------------------------------------------

def generate_project(model, board: str, out_dir, estimate=None) -> Project:
    """Write a complete firmware project for `model` (path, .tflite bytes or Model) on `board`
    (nano33ble, sparkfun_edge, stm32f746) into `out_dir`; returns the Project."""
    from tflm_edu.arena_size import estimate_arena_size
    from tflm_edu.convert.c_array import model_builtin_ops, op_resolver_source, to_c_array
    from tflm_edu.schema import read_model
    from tflm_edu.schema.enums import BuiltinOperator

    target = board_target(board)
    data = _model_bytes(model)
    parsed = read_model(data)
    if estimate is None:
        estimate = estimate_arena_size(parsed, target.arena_target)
    arena = arena_with_margin(estimate.arena_bytes)
    _check_fits(target, len(data), arena)
    ops = [BuiltinOperator(op).name for op in model_builtin_ops(parsed)]
    sha = hashlib.sha256(data).digest()

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise DeployError(f"{out} exists and is not a folder: pass -o a directory")
    arduino = target.build_system == "arduino"
    src = out / SKETCH if arduino else out / "src"
    src.mkdir(parents=True, exist_ok=True)
    cc_ext = ".cpp" if arduino else ".cc"          # arduino-cli compiles .cpp, not .cc

    model_cc, model_h = to_c_array(data, "g_model", header_name="model_data.h")
    texts = {"model_data" + cc_ext: model_cc, "model_data.h": model_h,
             "model_op_resolver.h": op_resolver_source(parsed, "op_resolver"),
             "board_config.h": board_config_source(target, sha, estimate.arena_bytes, arena, ops)}
    for name in COMMON_SOURCES + list(target.serial_sources):
        texts[name.replace(".cc", cc_ext)] = firmware_source(name)
    main_name = f"{SKETCH}.ino" if arduino else "main.cc"
    texts[main_name] = firmware_source(target.main)

    files = []
    for name, text in texts.items():
        (src / name).write_text(text)
        files.append(src / name)
    files += _build_files(target, out, arena)
    return Project(target, out, src, sorted(files), sha.hex(), len(data), estimate.arena_bytes,
                   arena, ops)


def _model_bytes(model) -> bytes:
    from tflm_edu.schema import Model, write_model
    if isinstance(model, Model):
        return write_model(model)
    if isinstance(model, (bytes, bytearray, memoryview)):
        return bytes(model)
    path = Path(model)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    return path.read_bytes()


def _check_fits(target: BoardTarget, model_bytes: int, arena: int) -> None:
    """The planning allowances of tflm_edu.boards: firmware, stack and globals need room too."""
    from tflm_edu.boards import FIRMWARE_FLASH_BYTES, FIRMWARE_RAM_BYTES
    if arena + FIRMWARE_RAM_BYTES > target.ram_bytes:
        raise DeployError(f"the model needs a {arena:,}-byte arena but {target.title} has "
                          f"{target.ram_bytes:,} bytes of RAM, {FIRMWARE_RAM_BYTES:,} of them "
                          f"kept for the firmware and stack: make the model smaller or pick a "
                          f"bigger board")
    if model_bytes + FIRMWARE_FLASH_BYTES > target.flash_bytes:
        raise DeployError(f"the model is {model_bytes:,} bytes but {target.title} has "
                          f"{target.flash_bytes:,} bytes of flash, {FIRMWARE_FLASH_BYTES:,} of "
                          f"them kept for the firmware")


def board_config_source(target: BoardTarget, sha: bytes, estimated: int, arena: int,
                        ops: list) -> str:
    sha_lines = ",\n".join("    " + ", ".join(f"0x{b:02x}" for b in sha[i:i + 8])
                           for i in range(0, 32, 8))
    op_names = ", ".join(f'"{op}"' for op in ops) or '""'
    where = "64-bit host" if target.arena_target == "host" else "32-bit Cortex-M"
    return f"""// What this firmware says about itself in INFO; made by tflm_edu (tflm-edu deploy).
#ifndef TFLM_EDU_BOARD_CONFIG_H_
#define TFLM_EDU_BOARD_CONFIG_H_

#include <stddef.h>
#include <stdint.h>

#define TFLM_EDU_LEGACY_API {1 if target.legacy_api else 0}

constexpr char kBoardName[] = "{target.name}";
constexpr uint8_t kFirmwareVersion[3] = {{{", ".join(map(str, FIRMWARE_VERSION))}}};

// SHA-256 of the .tflite bytes in model_data: the host refuses results from any other model.
constexpr uint8_t kModelSha256[32] = {{
{sha_lines}}};

// Tensor arena: tflm_edu.arena_size estimates {estimated:,} bytes for {where};
// +{int(ARENA_MARGIN * 100)}% margin, rounded up to a whole KiB = {arena:,} bytes.
constexpr size_t kTensorArenaSize = {arena};

constexpr uint8_t kOpCount = {len(ops)};
constexpr const char* kOpNames[] = {{{op_names}}};

#endif  // TFLM_EDU_BOARD_CONFIG_H_
"""


def _build_files(target: BoardTarget, out: Path, arena: int) -> list:
    files = []
    if target.build_system == "platformio":
        ini = out / "platformio.ini"
        ini.write_text(_platformio_ini(target))
        lib = out / "lib" / "tflite-micro"
        lib.mkdir(parents=True, exist_ok=True)
        (lib / "library.json").write_text(_TFLM_LIBRARY_JSON)
        files += [ini, lib / "library.json"]
    if target.build_system == "make":
        makefile = out / "Makefile"
        makefile.write_text(_HOST_MAKEFILE)
        files.append(makefile)
    readme = out / "README.md"
    readme.write_text(_readme(target, out, arena))
    return files + [readme]


def _platformio_ini(target: BoardTarget) -> str:
    return (f"; Made by tflm_edu (tflm-edu deploy) for {target.title}.\n"
            f"[env:{target.name}]\n{target.platformio_env}"
            "monitor_speed = 115200\n"
            "build_unflags = -std=gnu++11 -std=gnu++14\n"
            "build_flags = -std=gnu++17 -DTF_LITE_STATIC_MEMORY -fno-rtti -fno-exceptions\n"
            "  -Ilib/tflite-micro -Ilib/tflite-micro/third_party/flatbuffers/include\n"
            "  -Ilib/tflite-micro/third_party/gemmlowp -Ilib/tflite-micro/third_party/ruy\n"
            "lib_deps = tflite-micro\n")


_HOST_MAKEFILE = """# Made by tflm_edu (tflm-edu deploy --board host): the firmware for this PC.
# First build TFLM (in a tflite-micro checkout):
#   make -f tensorflow/lite/micro/tools/make/Makefile microlite
# then: make TFLM_SRC=/path/to/tflite-micro   and run ./board (it prints the pty to open).
TFLM_SRC ?= ../tflite-micro
DOWNLOADS ?= $(TFLM_SRC)/tensorflow/lite/micro/tools/make/downloads
TFLM_LIB ?= $(wildcard $(TFLM_SRC)/gen/*/lib/libtensorflow-microlite.a)
TFLM_INCLUDES ?= -I$(TFLM_SRC) -I$(DOWNLOADS)/flatbuffers/include -I$(DOWNLOADS)/gemmlowp
CXXFLAGS ?= -std=c++17 -O1 -DTF_LITE_STATIC_MEMORY -fno-rtti -fno-exceptions

board: $(wildcard src/*.cc src/*.h)
\t$(CXX) $(CXXFLAGS) -Isrc $(TFLM_INCLUDES) -o $@ $(wildcard src/*.cc) $(TFLM_LIB)
"""


_TFLM_LIBRARY_JSON = """{
  "name": "tflite-micro",
  "description": "TFLM sources: fill this folder with create_tflm_tree.py (see README.md)",
  "build": {
    "includeDir": ".",
    "srcDir": ".",
    "srcFilter": ["+<tensorflow/>", "+<signal/>", "-<**/*_test.cc>", "-<**/examples/>"],
    "flags": ["-DTF_LITE_STATIC_MEMORY", "-I.", "-Ithird_party/flatbuffers/include",
              "-Ithird_party/gemmlowp", "-Ithird_party/ruy"]
  }
}
"""


def _readme(target: BoardTarget, out: Path, arena: int) -> str:
    text = [f"# tflm_edu firmware for {target.title}", "",
            "Made by `tflm-edu deploy`. The board runs the model behind the tflm_edu host-board",
            "protocol (docs/protocol.md); the host talks to it with `tflm_edu.deploy.Board`.",
            f"Tensor arena: {arena:,} bytes (see board_config.h for the estimate and margin).", ""]
    if target.build_system == "arduino":
        text += ["## Build and flash (arduino-cli)", "", "```",
                 "arduino-cli core install arduino:mbed_nano",
                 "arduino-cli lib install Harvard_TinyMLx     # or Arduino_TensorFlowLite",
                 f"arduino-cli compile --fqbn {target.fqbn} {SKETCH}",
                 f"arduino-cli upload -p /dev/ttyACM0 --fqbn {target.fqbn} {SKETCH}", "```", "",
                 "Or open the sketch folder in the Arduino IDE."]
    elif target.build_system == "make":
        text += ["## Build and run on this computer", "", "```",
                 "# in a tflite-micro checkout: make -f tensorflow/lite/micro/tools/make/Makefile"
                 " microlite",
                 "make TFLM_SRC=/path/to/tflite-micro",
                 "./board        # prints the pty path; open it with tflm_edu.deploy.Board", "```"]
    else:
        text += ["## Build and flash (PlatformIO)", "",
                 "PlatformIO does not ship TFLM. Put its sources in lib/tflite-micro:", "", "```",
                 "git clone https://github.com/tensorflow/tflite-micro",
                 "python3 tflite-micro/tensorflow/lite/micro/tools/project_generation/"
                 "create_tflm_tree.py lib/tflite-micro",
                 "pio run               # build",
                 "pio run -t upload     # flash", "```"]
    text += ["", "## Check it", "", "```", "tflm-edu deploy MODEL --board " + target.name
             + " --port PORT   # regenerates, flashes, verifies", "```", ""]
    return "\n".join(text)
