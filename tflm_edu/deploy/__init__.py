"""Deploy: run the model on a board and check it computes exactly what the host computes.

    from tflm_edu.deploy import run_on_board
    run = run_on_board(model_bytes, inputs)      # TFLM's C++ on an emulated Cortex-M4
    print(run.summary())

    from tflm_edu.deploy import Board, EmulatedBoard, VirtualBoard, generate_project, verify
    project = generate_project("person_detect.tflite", "qemu-cortex-m4", "build/person")
    with EmulatedBoard(project.compile()) as emulated:     # or a real port, or VirtualBoard
        report = verify(emulated.path, model_bytes, n=20)

protocol.py       frames (COBS + CRC-32), every body, the C++ constants - docs/protocol.md
client.py         Board: the host side, over pyserial, checking everything a board says
virtual_board.py  VirtualBoard: the board side in Python on a pty, with fault injection
firmware.py       generate_project / Project.compile: the firmware for each board
tflm_build.py     TFLM built from its sources for a Cortex-M core (cached)
toolchain.py      the tools (ARM GCC, QEMU) and the CPUs' flags
emulator.py       EmulatedBoard: the firmware in QEMU; HostBoard: built for this PC
stm32.py          ST's HAL for the STM32F746 firmware
verify.py         verify: N inputs on board and host, byte-for-byte, latency statistics
run.py            run_on_board: all of the above in one call, for the notebooks
"""
from tflm_edu.deploy.client import Board, list_ports
from tflm_edu.deploy.errors import (BoardError, BoardTimeout, DeployError, ModelMismatch,
                                    PortError, ProtocolError, ToolMissing)
from tflm_edu.deploy.protocol import PROTOCOL_VERSION, BoardInfo
from tflm_edu.deploy.emulator import EmulatedBoard, HostBoard, emulate
from tflm_edu.deploy.firmware import BOARDS, Firmware, Project, generate_project
from tflm_edu.deploy.run import BoardRun, run_on_board
from tflm_edu.deploy.verify import VerifyReport, verify
from tflm_edu.deploy.virtual_board import Faults, VirtualBoard

__all__ = ["Board", "list_ports", "VirtualBoard", "Faults", "BoardInfo", "PROTOCOL_VERSION",
           "generate_project", "Project", "Firmware", "BOARDS", "verify", "VerifyReport",
           "EmulatedBoard", "HostBoard", "emulate", "run_on_board", "BoardRun",
           "DeployError", "PortError", "BoardTimeout", "ModelMismatch", "ProtocolError",
           "BoardError", "ToolMissing"]
