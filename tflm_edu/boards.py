"""Microcontroller boards TFLM's examples run on: how much flash and RAM a model gets.

Flash holds the program and the model (the C array is `const`); RAM holds the tensor arena,
the stack and everything else. Figures are the MCU's on-chip memory as the vendors document
it (sources per board); external memory on a board (SDRAM, QSPI flash) is listed in notes,
not counted.

FIRMWARE_FLASH_BYTES and FIRMWARE_RAM_BYTES are rough allowances for what is not the model
or the arena: TFLM's interpreter and a handful of kernels, the application, a BLE stack or
HAL, the stack and globals. They are planning numbers, not measurements - build your
firmware and read its map file for the truth.
"""
from __future__ import annotations

from dataclasses import dataclass

from tflm_edu.errors import InputError

KIB = 1024
FIRMWARE_FLASH_BYTES = 128 * KIB
FIRMWARE_RAM_BYTES = 32 * KIB


@dataclass(frozen=True)
class Board:
    id: str
    name: str
    mcu: str
    core: str
    flash_bytes: int
    ram_bytes: int
    clock_hz: int
    source: str
    notes: str = ""
    cpu: str = "cortex-m4"      # the compiler target (tflm_edu.deploy.toolchain.CPUS)
    emulator: str = ""          # QEMU machine, for boards that are emulated here

    def __str__(self):
        return (f"{self.name} ({self.mcu}, {self.core} @ {self.clock_hz / 1e6:g} MHz): "
                f"{self.flash_bytes // KIB} KB flash, {self.ram_bytes // KIB} KB RAM")


BOARDS = {
    "nano33ble": Board(
        id="nano33ble", name="Arduino Nano 33 BLE Sense", mcu="Nordic nRF52840",
        core="Arm Cortex-M4F", flash_bytes=1024 * KIB, ram_bytes=256 * KIB, clock_hz=64_000_000,
        source="Arduino Nano 33 BLE Sense datasheet (docs.arduino.cc, ABX00031); Nordic "
               "nRF52840 Product Specification v1.x (1 MB flash, 256 KB RAM, 64 MHz)",
        notes="the board TFLM's hello_world, micro_speech, magic_wand and person_detection "
              "examples target; Mbed OS and the BLE stack take part of RAM"),
    "sparkfun_edge": Board(
        id="sparkfun_edge", name="SparkFun Edge", mcu="Ambiq Apollo3 Blue",
        core="Arm Cortex-M4F", flash_bytes=1024 * KIB, ram_bytes=384 * KIB, clock_hz=48_000_000,
        source="SparkFun Edge Development Board - Apollo3 Blue (SparkFun DEV-15170) product "
               "page; Ambiq Apollo3 Blue datasheet (1 MB flash, 384 KB SRAM, 48 MHz, "
               "96 MHz burst mode)",
        notes="made with Google for TFLM; 48 MHz nominal, up to 96 MHz in TurboSPOT burst mode"),
    "stm32f746": Board(
        id="stm32f746", name="STM32F746 Discovery", mcu="ST STM32F746NG",
        core="Arm Cortex-M7", flash_bytes=1024 * KIB, ram_bytes=320 * KIB, clock_hz=216_000_000,
        source="ST 32F746GDISCOVERY user manual UM1907 and STM32F746NG datasheet DS10916 "
               "(1 MB flash, 320 KB RAM incl. 64 KB DTCM, plus 16 KB ITCM, 216 MHz)",
        notes="the board also has 8 MB SDRAM and 16 MB QSPI flash (not counted here)",
        cpu="cortex-m7"),
    "qemu-cortex-m4": Board(
        id="qemu-cortex-m4", name="QEMU mps2-an386 (emulated)", mcu="Arm MPS2 AN386 FPGA image",
        core="Arm Cortex-M4F", flash_bytes=4096 * KIB, ram_bytes=4096 * KIB,
        clock_hz=25_000_000,
        source="QEMU 7.2 hw/arm/mps2.c and Arm Application Note AN386 (4 MB SSRAM for code, "
               "4 MB for data, 25 MHz)",
        notes="runs here, in qemu-system-arm: counts executed instructions, not cycles",
        emulator="mps2-an386"),
    "qemu-cortex-m7": Board(
        id="qemu-cortex-m7", name="QEMU mps2-an500 (emulated)", mcu="Arm MPS2 AN500 FPGA image",
        core="Arm Cortex-M7", flash_bytes=4096 * KIB, ram_bytes=4096 * KIB,
        clock_hz=25_000_000,
        source="QEMU 7.2 hw/arm/mps2.c and Arm Application Note AN500 (4 MB SSRAM for code, "
               "4 MB for data, 25 MHz)",
        notes="runs here, in qemu-system-arm: counts executed instructions, not cycles",
        cpu="cortex-m7", emulator="mps2-an500"),
    "host": Board(
        id="host", name="this computer", mcu="the PC's CPU", core="x86-64 or arm64",
        flash_bytes=1 << 30, ram_bytes=1 << 30, clock_hz=0,
        source="not a board: the firmware built with g++ and served on a pseudo-terminal",
        notes="TFLM built for this computer: the check before any board is involved",
        cpu="host"),
}

_ALIASES = {"arduino": "nano33ble", "nano33": "nano33ble", "arduino_nano_33_ble_sense": "nano33ble",
            "nano_33_ble_sense": "nano33ble", "edge": "sparkfun_edge", "apollo3": "sparkfun_edge",
            "stm32f746_disco": "stm32f746", "stm32": "stm32f746",
            "stm32f746_discovery": "stm32f746", "qemu": "qemu-cortex-m4",
            "qemu_cortex_m4": "qemu-cortex-m4", "qemu_cortex_m7": "qemu-cortex-m7", "nrf52840": "nano33ble"}


def get_board(name) -> Board:
    """A Board by id, alias or name (case and spaces ignored)."""
    if isinstance(name, Board):
        return name
    key = str(name).strip().lower().replace(" ", "_").replace("-", "_")
    key = _ALIASES.get(key, key)
    if key in BOARDS:
        return BOARDS[key]
    for board in BOARDS.values():
        if board.name.lower().replace(" ", "_") == key:
            return board
    raise InputError(f"unknown board {name!r}; known boards: {', '.join(BOARDS)} "
                     "(tflm-edu check --list-boards)")


def format_boards() -> str:
    lines = [f"{'id':<16} {'board':<26} {'MCU':<20} {'core':<16} {'flash':>8} {'RAM':>7} "
             f"{'clock':>8}"]
    for b in BOARDS.values():
        lines.append(f"{b.id:<16} {b.name:<26} {b.mcu:<20} {b.core:<16} "
                     f"{b.flash_bytes // KIB:>5} KB {b.ram_bytes // KIB:>4} KB "
                     f"{b.clock_hz / 1e6:>5g} MHz")
    return "\n".join(lines)


__all__ = ["Board", "BOARDS", "get_board", "format_boards", "FIRMWARE_FLASH_BYTES",
           "FIRMWARE_RAM_BYTES"]
