"""Firmware for a model: a complete project, and the firmware compiled here against TFLM.

    project = generate_project("person_detect.tflite", "qemu-cortex-m4", "build/person")
    print(project)               # where, what, the arena and why
    firmware = project.compile()  # arm-none-eabi-g++ against TFLM built from its sources
    print(firmware.size_report())

    project = generate_project(model, "nano33ble", "build/nano")
    project.build(port="/dev/ttyACM0")   # with arduino-cli / PlatformIO, when installed

What goes in, for every board (TFLM's examples do the same by hand):
  model_data.cc/.h       the .tflite as a C array (tflm_edu.convert.c_array.to_c_array)
  model_op_resolver.h    MicroMutableOpResolver<N> with exactly the model's ops
  board_config.h         board name, model SHA-256, arena size (estimate + margin), op names
  protocol_constants.h   the protocol's numbers, written from tflm_edu/deploy/protocol.py
  tflm_runner.cc/.h      MicroInterpreter over a static arena, a per-op profiler
  protocol_server.cc/.h  the host-board protocol (docs/protocol.md), portable C++
  serial_<board>.*       the board layer (serial line, clock); main / sketch
  + for emulated boards: startup code, a linker script and a Makefile for arm-none-eabi-g++

How each board's firmware is compiled here (Project.compile):
  qemu-cortex-m4/-m7  the whole firmware, linked and run in QEMU (tflm_edu.deploy.emulator)
  stm32f746           the whole firmware with ST's HAL, linked into an .elf and a .bin
  nano33ble,          everything but the vendor layer (Arduino's mbed core, Ambiq's SDK,
  sparkfun_edge       which are not available here): that layer is compiled against small
                      stand-in headers (firmware_src/standin/) and linked with the board's
                      memory map, so the size report says whether the model fits
  host                this computer, with g++ (a pty instead of a UART)
"""
from __future__ import annotations

import hashlib
import math
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from tflm_edu.boards import Board, get_board
from tflm_edu.deploy.errors import DeployError, ToolMissing

FIRMWARE_VERSION = (2, 0, 0)
ARENA_MARGIN = 0.10          # +10 %, then rounded up to a whole KiB
SKETCH = "tflm_edu_board"    # Arduino wants the folder and the .ino to share a name
COMMON_SOURCES = ["serial_port.h", "protocol_server.h", "protocol_server.cc", "tflm_runner.h",
                  "tflm_runner.cc"]
# Emulated boards keep RAM for data and the stack; the rest may serve as arena (for the
# host's arena bisection and for keeping every tensor).
EMULATOR_RESERVED_RAM = 512 * 1024


@dataclass(frozen=True)
class Memory:
    """Where a board's flash and RAM are, for the linker script."""
    flash_origin: int
    flash_bytes: int
    ram_origin: int
    ram_bytes: int


@dataclass(frozen=True)
class BoardTarget:
    """How firmware for one board of tflm_edu.boards is made."""
    id: str
    build_system: str             # the user's tool: "arduino", "platformio" or "make"
    serial_sources: tuple         # the board layer: file names in firmware_src, or
                                  # (name in firmware_src, name in the project) pairs
    main: str                     # template in firmware_src
    compile_kind: str             # "emulated", "stm32", "standin" or "host" (see docstring)
    fqbn: str = ""                # arduino-cli board id
    platformio_env: str = ""      # the [env:...] body
    memory: Memory | None = None  # for the linker script
    standin: tuple = ()           # firmware_src/standin/ files replacing the vendor SDK

    @property
    def board(self) -> Board:
        return get_board(self.id)

    @property
    def title(self) -> str:
        return str(self.board)

    @property
    def cpu(self) -> str:
        return self.board.cpu

    @property
    def arena_target(self) -> str:
        """Struct sizes for tflm_edu.arena_size: a 64-bit PC or a 32-bit Cortex-M."""
        return "host" if self.compile_kind == "host" else "cortex-m"

    @property
    def log_to_host(self) -> bool:
        """Whether TFLM's log reaches the host as LOG frames: where the firmware is built
        against TFLM's cortex_m_generic tree (its DebugLog takes a callback)."""
        return self.compile_kind in ("emulated", "stm32")


_MPS2 = Memory(0x00000000, 4 << 20, 0x20000000, 4 << 20)

BOARDS = {t.id: t for t in [
    BoardTarget("nano33ble", "arduino", ("serial_arduino.h",), "main_arduino.ino", "standin",
                fqbn="arduino:mbed_nano:nano33ble",
                memory=Memory(0x00000000, 1024 << 10, 0x20000000, 256 << 10),
                standin=("Arduino.h", "TensorFlowLite.h", "standin_arduino.cc")),
    BoardTarget("sparkfun_edge", "platformio", ("serial_apollo3.h", "serial_apollo3.cc"),
                "main_apollo3.cc", "standin",
                platformio_env="platform = https://github.com/nigelb/platform-apollo3blue\n"
                               "board = SparkFun_Edge\nframework = ambiqsdk-sfe\n"
                               "upload_protocol = svl\n",
                # the SparkFun bootloader (SVL) keeps the first 64 KB of flash
                memory=Memory(0x00010000, 960 << 10, 0x10000000, 384 << 10),
                standin=("am_bsp.h", "am_mcu_apollo.h", "am_util.h", "standin_apollo3.cc")),
    # ST's HAL includes its configuration as stm32f7xx_hal_conf.h; tflm_edu writes its own.
    BoardTarget("stm32f746", "platformio", ("serial_stm32_hal.h", "serial_stm32_hal.cc",
                                            ("stm32_hal_conf.h", "stm32f7xx_hal_conf.h")),
                "main_stm32.cc", "stm32",
                platformio_env="platform = ststm32\nboard = disco_f746ng\n"
                               "framework = stm32cube\nupload_protocol = stlink\n",
                memory=Memory(0x08000000, 1024 << 10, 0x20000000, 320 << 10)),
    BoardTarget("qemu-cortex-m4", "make", ("serial_mps2.h", "serial_mps2.cc",
                                           "startup_cortex_m.cc"),
                "main_mps2.cc", "emulated", memory=_MPS2),
    BoardTarget("qemu-cortex-m7", "make", ("serial_mps2.h", "serial_mps2.cc",
                                           "startup_cortex_m.cc"),
                "main_mps2.cc", "emulated", memory=_MPS2),
    # Not a board: this PC, with TFLM built from source by g++. The same firmware, on a pty.
    BoardTarget("host", "make", ("serial_posix.h", "serial_posix.cc"), "main_host.cc", "host"),
]}


def board_target(name: str) -> BoardTarget:
    """Our build recipe for `name`: a board id or any alias tflm_edu.boards knows."""
    try:
        board_id = get_board(name).id
    except Exception:
        board_id = None
    if board_id not in BOARDS:
        raise DeployError(f"unknown board {name!r}; supported: {', '.join(BOARDS)} "
                          f"(tflm-edu boards lists them)")
    return BOARDS[board_id]


def firmware_source(name: str) -> str:
    """The text of one file of the portable C++ sources shipped in the package."""
    return resources.files("tflm_edu.deploy").joinpath("firmware_src", name).read_text()


def arena_with_margin(estimated: int) -> int:
    return int(math.ceil(estimated * (1 + ARENA_MARGIN) / 1024) * 1024)


@dataclass
class Firmware:
    """A firmware compiled here: the .elf (and .bin), and what it takes of flash and RAM."""
    board: BoardTarget
    elf: Path
    bin: Path | None
    text: int
    data: int
    bss: int
    kernels: str
    complete: bool = True     # False: the vendor layer was a stand-in (see size_report)

    @property
    def flash_bytes(self) -> int:
        return self.text + self.data

    @property
    def ram_bytes(self) -> int:
        return self.data + self.bss

    def size_report(self) -> str:
        board = self.board.board
        if self.board.compile_kind == "host":
            return f"{self.elf} for this computer ({self.kernels} kernels): {self.text:,} bytes"
        lines = [f"{self.elf.name} for {board.name} ({self.board.cpu}, {self.kernels} kernels)",
                 f"  flash: {self.flash_bytes:>9,} bytes (text {self.text:,} + data {self.data:,})"
                 f" of {board.flash_bytes:,}",
                 f"  RAM:   {self.ram_bytes:>9,} bytes (data {self.data:,} + bss {self.bss:,}, "
                 f"the arena included) of {board.ram_bytes:,}"]
        if not self.complete:
            lines.append("  (the vendor layer - Arduino core or Ambiq SDK - was a stand-in: add "
                         "its own flash and RAM; build with the vendor tool for the real figure)")
        return "\n".join(lines)

    def __repr__(self):
        return (f"Firmware({self.board.id}, {self.kernels} kernels, flash {self.flash_bytes:,}"
                f", RAM {self.ram_bytes:,} bytes, {self.elf})")


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
    arena_capacity: int
    ops: list = field(default_factory=list)
    kernels: str = "reference"

    def __repr__(self):
        capacity = (f", capacity {self.arena_capacity:,}" if self.arena_capacity !=
                    self.arena_bytes else "")
        return (f"Project({self.board.id} at {self.path}: model {self.model_bytes:,} bytes "
                f"sha256 {self.model_sha256[:16]}..., arena {self.arena_bytes:,} bytes "
                f"(estimate {self.estimated_arena:,} + 10%{capacity}), ops {self.ops})")

    def tree(self) -> str:
        """The files, with sizes: what a learner opens first."""
        lines = [f"{self.path}/"]
        for path in self.files:
            lines.append(f"  {path.relative_to(self.path)}  ({path.stat().st_size:,} bytes)")
        return "\n".join(lines)

    # -- compiling here -----------------------------------------------------------------

    def compile(self, kernels: str | None = None, tflm_src=None, hal_src=None,
                stock_float: bool = False, progress: bool = True, echo=None) -> Firmware:
        """Compile (and link) the firmware here against TFLM built from source; see the
        module docstring for what each board gets. Builds the TFLM library first if it is not
        cached (minutes, once). Raises ToolMissing with the apt-get line if a tool is absent."""
        from tflm_edu.deploy.tflm_build import build_library
        kernels = kernels or self.kernels
        target = self.board
        library = build_library(target.cpu, kernels, tflm_src, stock_float=stock_float,
                                progress=progress)
        extra = _stm32_sources(hal_src) if target.compile_kind == "stm32" else []
        makefile = self.path / "Makefile.tflm_edu"
        makefile.write_text(_firmware_makefile(self, library, extra))
        require_make = shutil.which("make")
        if require_make is None:
            from tflm_edu.deploy.toolchain import require
            require("make")
        result = subprocess.run(["make", "-f", makefile.name, "-j", str(os.cpu_count() or 1)],
                                cwd=self.path, capture_output=True, text=True)
        if echo is not None:
            echo(result.stdout + result.stderr)
        if result.returncode != 0:
            errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
            raise DeployError(f"compiling the firmware for {target.id} failed:\n"
                              + "\n".join((errors or result.stderr.splitlines())[:12]))
        return _firmware(self, library)

    # -- the vendor tools ---------------------------------------------------------------

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
        """Build (and flash to `port`) with the board's own tool, streaming its output.
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
        return ("make is not installed: sudo apt-get install make (the emulated boards build "
                "with Project.compile(), which says what else is missing)")
    if board.build_system == "arduino":
        return ("arduino-cli is not installed. Install it (https://arduino.github.io/arduino-cli/"
                "latest/installation/), then: arduino-cli core install arduino:mbed_nano && "
                "arduino-cli lib install Arduino_TensorFlowLite. The project is generated; build "
                "it yourself with the commands in its README.md.")
    return ("PlatformIO is not installed. Install it with `pip install platformio`, and put "
            "TFLM's sources in lib/tflite-micro (see the project's README.md). The project is "
            "generated; build it with `pio run -d <project>`.")


# -- generation ---------------------------------------------------------------------------

def generate_project(model, board: str, out_dir, estimate=None,
                     kernels: str = "reference") -> Project:
    """Write a complete firmware project for `model` (path, .tflite bytes or Model) on `board`
    (see tflm-edu boards) into `out_dir`; returns the Project."""
    from tflm_edu.arena_size import estimate_arena_size
    from tflm_edu.convert.c_array import model_builtin_ops, op_resolver_source, to_c_array
    from tflm_edu.kernels.resource_variables import MicroResourceVariables
    from tflm_edu.op_resolver import CUSTOM_SPECS
    from tflm_edu.deploy.protocol import constants_header
    from tflm_edu.schema import as_bytes, read_model
    from tflm_edu.schema.enums import BuiltinOperator

    target = board_target(board)
    data = as_bytes(model)
    parsed = read_model(data)
    if estimate is None:
        estimate = estimate_arena_size(parsed, target.arena_target)
    arena = arena_with_margin(estimate.arena_bytes)
    _check_fits(target, len(data), arena)
    capacity = arena
    if target.compile_kind == "emulated":
        capacity = max(arena, target.memory.ram_bytes - EMULATOR_RESERVED_RAM)
    ops = [BuiltinOperator(op).name for op in model_builtin_ops(parsed)] + sorted(
        {c.custom_code for c in parsed.operator_codes if c.custom_code in CUSTOM_SPECS})
    sha = hashlib.sha256(data).digest()
    variables = MicroResourceVariables.for_model(parsed)

    out = Path(out_dir).resolve()  # the build runs make in other folders
    if out.exists() and not out.is_dir():
        raise DeployError(f"{out} exists and is not a folder: pass -o a directory")
    arduino = target.build_system == "arduino"
    src = out / SKETCH if arduino else out / "src"
    src.mkdir(parents=True, exist_ok=True)
    cc_ext = ".cpp" if arduino else ".cc"          # arduino-cli compiles .cpp, not .cc

    model_cc, model_h = to_c_array(data, "g_model", header_name="model_data.h")
    texts = {"model_data" + cc_ext: model_cc, "model_data.h": model_h,
             "model_op_resolver.h": op_resolver_source(parsed, "op_resolver"),
             "protocol_constants.h": constants_header(),
             "board_config.h": board_config_source(
                 target, sha, estimate.arena_bytes, arena, capacity, ops,
                 variables.max_variable_count if variables is not None else 0)}
    for entry in COMMON_SOURCES + list(target.serial_sources):
        shipped, name = entry if isinstance(entry, tuple) else (entry, entry)
        texts[name.replace(".cc", cc_ext)] = firmware_source(shipped)
    main_name = f"{SKETCH}.ino" if arduino else "main.cc"
    texts[main_name] = firmware_source(target.main)

    files = []
    for name, text in texts.items():
        (src / name).write_text(text)
        files.append(src / name)
    files += _build_files(target, out, arena)
    return Project(target, out, src, sorted(files), sha.hex(), len(data), estimate.arena_bytes,
                   arena, capacity, ops, kernels)


def _check_fits(target: BoardTarget, model_bytes: int, arena: int) -> None:
    """The planning allowances of tflm_edu.boards: firmware, stack and globals need room too."""
    from tflm_edu.boards import FIRMWARE_FLASH_BYTES, FIRMWARE_RAM_BYTES
    board = target.board
    if arena + FIRMWARE_RAM_BYTES > board.ram_bytes:
        raise DeployError(f"the model needs a {arena:,}-byte arena but {target.title} has "
                          f"{board.ram_bytes:,} bytes of RAM, {FIRMWARE_RAM_BYTES:,} of them "
                          f"kept for the firmware and stack: make the model smaller or pick a "
                          f"bigger board")
    if model_bytes + FIRMWARE_FLASH_BYTES > board.flash_bytes:
        raise DeployError(f"the model is {model_bytes:,} bytes but {target.title} has "
                          f"{board.flash_bytes:,} bytes of flash, {FIRMWARE_FLASH_BYTES:,} of "
                          f"them kept for the firmware")


def board_config_source(target: BoardTarget, sha: bytes, estimated: int, arena: int,
                        capacity: int, ops: list, resource_variables: int = 0) -> str:
    sha_lines = ",\n".join("    " + ", ".join(f"0x{b:02x}" for b in sha[i:i + 8])
                           for i in range(0, 32, 8))
    op_names = ", ".join(f'"{op}"' for op in ops) or '""'
    where = "64-bit host" if target.arena_target == "host" else "32-bit Cortex-M"
    capacity_note = ("the whole arena buffer; the host may configure less" if capacity == arena
                     else "what RAM allows beside the firmware: room for the host to bisect "
                          "the smallest arena and to keep every tensor")
    return f"""// What this firmware says about itself in INFO; made by tflm_edu (tflm-edu deploy).
#ifndef TFLM_EDU_BOARD_CONFIG_H_
#define TFLM_EDU_BOARD_CONFIG_H_

#include <stddef.h>
#include <stdint.h>

// 1: TFLM's log lines go to the host as LOG frames (TFLM's cortex_m_generic DebugLog).
#define TFLM_EDU_LOG_TO_HOST {1 if target.log_to_host else 0}

constexpr char kBoardName[] = "{target.id}";
constexpr uint8_t kFirmwareVersion[3] = {{{", ".join(map(str, FIRMWARE_VERSION))}}};

// SHA-256 of the .tflite bytes in model_data: the host refuses results from any other model.
constexpr uint8_t kModelSha256[32] = {{
{sha_lines}}};

// Tensor arena: tflm_edu.arena_size estimates {estimated:,} bytes for {where};
// +{int(ARENA_MARGIN * 100)}% margin, rounded up to a whole KiB = {arena:,} bytes.
constexpr size_t kTensorArenaSize = {arena};
// Capacity, {capacity_note}.
constexpr size_t kTensorArenaCapacity = {capacity};

constexpr uint8_t kOpCount = {len(ops)};
constexpr const char* kOpNames[] = {{{op_names}}};

// Resource variables (VAR_HANDLE): room for one per distinct shared_name, created in the
// arena before the interpreter, as tflite-micro's Python runtime does. 0: none.
#define TFLM_EDU_RESOURCE_VARIABLES {resource_variables}

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
    readme = out / "README.md"
    readme.write_text(_readme(target, out, arena))
    return files + [readme]


def _platformio_ini(target: BoardTarget) -> str:
    return (f"; Made by tflm_edu (tflm-edu deploy) for {target.title}.\n"
            f"[env:{target.id}]\n{target.platformio_env}"
            "monitor_speed = 115200\n"
            "build_unflags = -std=gnu++11 -std=gnu++14\n"
            "build_flags = -std=gnu++17 -DTF_LITE_STATIC_MEMORY -fno-rtti -fno-exceptions\n"
            "  -ffp-contract=off\n"
            "  -Ilib/tflite-micro -Ilib/tflite-micro/third_party/flatbuffers/include\n"
            "  -Ilib/tflite-micro/third_party/gemmlowp -Ilib/tflite-micro/third_party/ruy\n"
            "lib_deps = tflite-micro\n")


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
    if target.compile_kind in ("emulated", "host"):
        text += ["## Build and run", "", "```",
                 f"tflm-edu deploy MODEL --board {target.id}   # builds, runs, verifies",
                 "```", "", "`Project.compile()` writes `Makefile.tflm_edu` here, with every "
                 "flag and the TFLM library it links: `make -f Makefile.tflm_edu` rebuilds by "
                 "hand."]
    elif target.build_system == "arduino":
        text += ["## Build and flash (arduino-cli)", "", "```",
                 "arduino-cli core install arduino:mbed_nano",
                 "arduino-cli lib install Arduino_TensorFlowLite",
                 f"arduino-cli compile --fqbn {target.fqbn} {SKETCH}",
                 f"arduino-cli upload -p /dev/ttyACM0 --fqbn {target.fqbn} {SKETCH}", "```", "",
                 "Or open the sketch folder in the Arduino IDE."]
    else:
        text += ["## Build and flash (PlatformIO)", "",
                 "PlatformIO does not ship TFLM. Put its sources in lib/tflite-micro:", "", "```",
                 "git clone https://github.com/tensorflow/tflite-micro",
                 "python3 tflite-micro/tensorflow/lite/micro/tools/project_generation/"
                 "create_tflm_tree.py --makefile_options=\"TARGET=cortex_m_generic "
                 "TARGET_ARCH=cortex-m4+fp\" lib/tflite-micro",
                 "pio run               # build",
                 "pio run -t upload     # flash", "```"]
    text += ["", "## Check it", "", "```", "tflm-edu deploy MODEL --board " + target.id
             + " --port PORT   # regenerates, flashes, verifies", "```", ""]
    return "\n".join(text)


# -- compiling here -----------------------------------------------------------------------

def _stm32_sources(hal_src) -> list:
    """ST's HAL and CMSIS device files for the STM32F746 (sources and include folders)."""
    from tflm_edu.deploy.stm32 import find_hal
    return find_hal(hal_src)


def _firmware_makefile(project: Project, library, extra) -> str:
    """A Makefile that compiles the project's sources and links them with libtflm.a."""
    target = project.board
    cpu = library.cpu
    src = project.source_dir
    sources = sorted(p.name for p in src.iterdir() if p.suffix in (".cc", ".cpp", ".ino"))
    include = [f"-I{src}"]
    link = []
    if target.standin:
        # The vendor layer's stand-in, and the boot code it would have brought.
        standin = project.path / "standin"
        standin.mkdir(exist_ok=True)
        for name in target.standin:
            (standin / name).write_text(firmware_source(f"standin/{name}"))
        (standin / "startup_cortex_m.cc").write_text(firmware_source("startup_cortex_m.cc"))
        include.append(f"-I{standin}")
        sources += [f"../standin/{name}" for name in target.standin + ("startup_cortex_m.cc",)
                    if name.endswith(".cc")]
    c_sources, asm_sources = [], []
    if target.compile_kind == "stm32":
        include += [f"-I{d}" for d in extra.include_dirs]
        c_sources = [str(p) for p in extra.c_sources]
        asm_sources = [str(p) for p in extra.asm_sources]
        link.append("-DSTM32F746xx")
    defines = "-DSTM32F746xx -DUSE_HAL_DRIVER" if target.compile_kind == "stm32" else ""
    if cpu.is_arm:
        ld = project.path / "firmware.ld"
        ld.write_text(_linker_script(target))
        link_flags = (f"-T{ld} -Wl,--gc-sections -Wl,-Map=firmware.map --specs=nano.specs "
                      f"--specs=nosys.specs")
        output = "firmware.elf"
    else:
        link_flags = "-Wl,--gc-sections"
        output = "board"
    flags = " ".join(_shell_quote(f) for f in library.flags)
    objects = [f"build/{Path(s).stem}.o" for s in sources + c_sources + asm_sources]
    rules = []
    for s in sources:
        lang = "-x c++ " if s.endswith(".ino") else ""
        rules.append(f"build/{Path(s).stem}.o: {src / s}\n\t@mkdir -p build\n"
                     f"\t$(CXX) $(FLAGS) $(CXXFLAGS) $(DEFINES) $(INCLUDE) -Os {lang}-c $< -o $@")
    for s in c_sources:
        rules.append(f"build/{Path(s).stem}.o: {s}\n\t@mkdir -p build\n"
                     f"\t$(CC) $(FLAGS) -std=c11 $(DEFINES) $(INCLUDE) -Os -c $< -o $@")
    for s in asm_sources:
        rules.append(f"build/{Path(s).stem}.o: {s}\n\t@mkdir -p build\n"
                     f"\t$(CC) $(FLAGS) -x assembler-with-cpp -c $< -o $@")
    objcopy = (f"\n{Path(output).stem}.bin: {output}\n\t{cpu.compiler[:-3]}objcopy -O binary $< $@\n"
               if cpu.is_arm else "")
    all_target = f"{output} firmware.bin" if cpu.is_arm else output
    return f"""# Made by tflm_edu (Project.compile): the firmware for {target.id}, {cpu.name},
# {library.kernels} kernels, linked against {library.archive}
CXX := {cpu.compiler}
CC := {cpu.compiler[:-3]}gcc
FLAGS := {flags}
CXXFLAGS := -std=c++17 -fno-rtti -fno-exceptions -fno-threadsafe-statics -Wall -Wno-unused-function
DEFINES := {defines}
INCLUDE := {" ".join(include)}
OBJECTS := {" ".join(objects)}

all: {all_target}

{output}: $(OBJECTS)
\t$(CXX) $(FLAGS) $(OBJECTS) {library.archive} -lm {link_flags} -o $@
{objcopy}
{chr(10).join(rules)}
"""


def _shell_quote(flag: str) -> str:
    return "'" + flag.replace("'", "'\\''") + "'" if any(c in flag for c in ' "()') else flag


def _linker_script(target: BoardTarget) -> str:
    from string import Template
    m = target.memory
    return Template(firmware_source("cortex_m.ld")).substitute(
        board=target.id, flash_origin=f"0x{m.flash_origin:08X}", flash_bytes=m.flash_bytes,
        ram_origin=f"0x{m.ram_origin:08X}", ram_bytes=m.ram_bytes)


def _firmware(project: Project, library) -> Firmware:
    target = project.board
    if not library.cpu.is_arm:
        exe = project.path / "board"
        return Firmware(target, exe, None, exe.stat().st_size, 0, 0, library.kernels)
    elf = project.path / "firmware.elf"
    size = subprocess.run([library.cpu.compiler[:-3] + "size", "-A", str(elf)],
                          capture_output=True, text=True, check=True).stdout
    sections = {}
    for line in size.splitlines()[2:]:
        parts = line.split()
        if len(parts) >= 2 and parts[1].isdigit():
            sections[parts[0]] = int(parts[1])
    text = sum(v for k, v in sections.items() if k in (".text", ".ARM.exidx", ".isr_vector",
                                                        ".rodata", ".init_array", ".fini_array",
                                                        ".preinit_array"))
    return Firmware(target, elf, project.path / "firmware.bin", text, sections.get(".data", 0),
                    sections.get(".bss", 0), library.kernels,
                    complete=target.compile_kind != "standin")
