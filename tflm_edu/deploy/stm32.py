"""ST's STM32F7 HAL and CMSIS device files, for compiling the STM32F746 Discovery firmware here.

Found like TFLM's sources (tflm_build.py): the `hal_src` argument, the environment variable
TFLM_EDU_STM32_HAL, or ../shared/tflm/stm32f7_hal.tar.gz beside the project; a folder with
hal/ and device/, or that archive (unpacked into the cache once).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tflm_edu.deploy.errors import DeployError
from tflm_edu.deploy.tflm_build import unpack_once

ENV_HAL = "TFLM_EDU_STM32_HAL"
ARCHIVE = "stm32f7_hal.tar.gz"
# The HAL modules the firmware uses (stm32f7xx_hal_conf.h enables the same ones).
HAL_MODULES = ("", "_cortex", "_dma", "_flash", "_flash_ex", "_gpio", "_pwr", "_pwr_ex", "_rcc",
               "_rcc_ex", "_tim", "_tim_ex", "_uart", "_uart_ex")


@dataclass(frozen=True)
class Stm32Hal:
    root: Path                # holds hal/ and device/

    @property
    def include_dirs(self) -> list:
        return [self.root / "hal/Inc", self.root / "device/Include"]

    @property
    def c_sources(self) -> list:
        return [self.root / f"hal/Src/stm32f7xx_hal{m}.c" for m in HAL_MODULES] + \
               [self.root / "device/Source/system_stm32f7xx.c"]

    @property
    def asm_sources(self) -> list:
        return [self.root / "device/Source/startup_stm32f746xx.s"]


def find_hal(hal_src=None) -> Stm32Hal:
    checkout = Path(__file__).resolve().parents[2]
    places = [Path(hal_src)] if hal_src else \
        [Path(os.environ[ENV_HAL])] if os.environ.get(ENV_HAL) else \
        [Path.cwd() / "../shared/tflm", Path.cwd() / "../../shared/tflm", checkout / "../shared/tflm"]
    for place in places:
        place = place.resolve()
        if (place / "hal/Inc/stm32f7xx_hal.h").is_file():
            return Stm32Hal(place)
        archive = place if place.is_file() else place / ARCHIVE
        if archive.is_file():
            return _unpack(archive)
    raise DeployError(f"ST's STM32F7 HAL was not found (looked in "
                      f"{', '.join(str(p) for p in places)}); point {ENV_HAL} at a folder with "
                      f"hal/ (STM32CubeF7 Drivers/STM32F7xx_HAL_Driver) and device/ (CMSIS "
                      f"Device/ST/STM32F7xx), or at {ARCHIVE}")


def _unpack(archive: Path) -> Stm32Hal:
    roots = [p.parent.parent for p in unpack_once(archive, "stm32")[0].glob("*/hal/Inc")]
    if len(roots) != 1:
        raise DeployError(f"{archive} does not hold the STM32F7 HAL (hal/Inc, device/)")
    return Stm32Hal(roots[0])
