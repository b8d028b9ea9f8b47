"""Deploy: run the model on a board and check it computes exactly what the host computes.

    from tflm_edu.deploy import Board, VirtualBoard, Faults, generate_project, verify
    project = generate_project("person_detect.tflite", "nano33ble", "build/person")
    with VirtualBoard(model_bytes) as virtual:                 # or a real port
        report = verify(virtual.path, model_bytes, n=20)
        print(report.table())

protocol.py       frames (COBS + CRC-32), commands, error codes - docs/protocol.md
client.py         Board: the host side, over pyserial
virtual_board.py  VirtualBoard: the board side in a pty, with fault injection
firmware.py       generate_project: Arduino / PlatformIO projects with the C++ server
verify.py         verify: N inputs on board and host, byte-for-byte, latency statistics
"""
from tflm_edu.deploy.client import Board, list_ports
from tflm_edu.deploy.errors import (BoardError, BoardTimeout, DeployError, ModelMismatch,
                                    PortError, ProtocolError, ToolMissing)
from tflm_edu.deploy.protocol import PROTOCOL_VERSION, BoardInfo
from tflm_edu.deploy.firmware import BOARDS, Project, generate_project
from tflm_edu.deploy.verify import VerifyReport, verify
from tflm_edu.deploy.virtual_board import Faults, VirtualBoard

__all__ = ["Board", "list_ports", "VirtualBoard", "Faults", "BoardInfo", "PROTOCOL_VERSION",
           "generate_project", "Project", "BOARDS", "verify", "VerifyReport",
           "DeployError", "PortError", "BoardTimeout", "ModelMismatch", "ProtocolError",
           "BoardError", "ToolMissing"]
