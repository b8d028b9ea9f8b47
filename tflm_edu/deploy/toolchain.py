"""The tools that build firmware and run it here, and the CPUs it is built for.

    require("arm-none-eabi-g++")      # its path, or ToolMissing with the apt-get line
    CPUS["cortex-m4"].flags           # -mcpu=cortex-m4 -mfpu=fpv4-sp-d16 -mfloat-abi=hard -mthumb

The CPU flags are those of TFLM's own cortex_m_generic target (TARGET_ARCH=cortex-m4+fp and
cortex-m7+fp): hard float, Thumb-2, the single-precision FPU each core has.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass

from tflm_edu.deploy.errors import ToolMissing

ARM_PACKAGES = "gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib"


@dataclass(frozen=True)
class Tool:
    command: str
    packages: str      # the Debian/Ubuntu packages that bring it
    purpose: str


TOOLS = {tool.command: tool for tool in [
    Tool("arm-none-eabi-g++", ARM_PACKAGES, "to compile firmware for Cortex-M"),
    Tool("arm-none-eabi-gcc", ARM_PACKAGES, "to compile firmware for Cortex-M"),
    Tool("arm-none-eabi-ar", ARM_PACKAGES, "to archive the TFLM library for Cortex-M"),
    Tool("arm-none-eabi-objcopy", ARM_PACKAGES, "to make the .bin of a firmware"),
    Tool("arm-none-eabi-size", ARM_PACKAGES, "to report a firmware's flash and RAM"),
    Tool("arm-none-eabi-objdump", ARM_PACKAGES, "to read the instructions GCC chose"),
    Tool("qemu-system-arm", "qemu-system-arm", "to run firmware on an emulated Cortex-M"),
    Tool("make", "make", "to build the TFLM library"),
    Tool("g++", "g++", "to compile the firmware for this computer"),
]}


def require(command: str) -> str:
    """The path of `command`, or ToolMissing naming the packages that bring it."""
    path = shutil.which(command)
    if path is None:
        tool = TOOLS.get(command, Tool(command, command, "for this step"))
        raise ToolMissing(f"{command} is not installed; it is needed {tool.purpose}. On "
                          f"Debian or Ubuntu: sudo apt-get install {tool.packages}")
    return path


def have(*commands: str) -> bool:
    return all(shutil.which(c) for c in commands)


@dataclass(frozen=True)
class Cpu:
    """A target core: its compiler, code-generation flags and the defines TFLM's makefile
    gives it (CPU_M4=1, the CMSIS device header that cortex_m_generic/micro_time.cc reads)."""
    name: str
    title: str
    flags: tuple
    defines: tuple
    compiler: str = "arm-none-eabi-g++"

    @property
    def is_arm(self) -> bool:
        return self.compiler.startswith("arm-none-eabi")


def _cortex_m(core: str, device: str) -> tuple:
    return (f"-DCPU_{core}=1", f"-D{device}", "-D__FPU_PRESENT=1",
            f'-DCMSIS_DEVICE_ARM_CORTEX_M_XX_HEADER_FILE="{device}.h"')


CPUS = {
    "cortex-m4": Cpu("cortex-m4", "Arm Cortex-M4F (FPv4-SP)",
                     ("-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard", "-mthumb"),
                     _cortex_m("M4", "ARMCM4")),
    "cortex-m7": Cpu("cortex-m7", "Arm Cortex-M7 (FPv5-SP)",
                     ("-mcpu=cortex-m7", "-mfpu=fpv5-sp-d16", "-mfloat-abi=hard", "-mthumb"),
                     _cortex_m("M7", "ARMCM7")),
    # This computer, for `--board host`: the same tree built with g++. PROJECT_GENERATION
    # makes cortex_m_generic/micro_time.cc use TFLM's own clock-less stubs.
    "host": Cpu("host", "this computer (g++)", ("-fPIC",), ("-DPROJECT_GENERATION",), "g++"),
}


def get_cpu(name: str) -> Cpu:
    if name not in CPUS:
        raise ValueError(f"unknown CPU {name!r}; known: {', '.join(CPUS)}")
    return CPUS[name]
