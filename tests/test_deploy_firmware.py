"""Generated firmware projects: the model bytes, the resolver, the arena and the sources."""
import hashlib
import re
import subprocess

import pytest

from tflm_edu.arena_size import estimate_arena_size
from tflm_edu.convert.c_array import parse_c_array
from tflm_edu.deploy import DeployError, ToolMissing
from tflm_edu.deploy import firmware as fw
from tflm_edu.deploy.protocol import constants_header


@pytest.fixture(scope="module")
def estimate(conv_net_bytes):
    return estimate_arena_size(conv_net_bytes, "cortex-m")


@pytest.mark.parametrize("board", sorted(fw.BOARDS))
def test_project_holds_model_resolver_arena_and_server(board, conv_net_bytes, estimate, tmp_path):
    project = fw.generate_project(conv_net_bytes, board, tmp_path / board, estimate=estimate)
    src = project.source_dir
    ext = ".cpp" if board == "nano33ble" else ".cc"
    assert parse_c_array((src / f"model_data{ext}").read_text()) == conv_net_bytes
    resolver = (src / "model_op_resolver.h").read_text()
    assert "MicroMutableOpResolver<6>" in resolver
    assert re.findall(r"op_resolver\.(Add\w+)\(\)", resolver) == [
        "AddConv2D", "AddDepthwiseConv2D", "AddAveragePool2D", "AddReshape",
        "AddFullyConnected", "AddSoftmax"]
    config = (src / "board_config.h").read_text()
    expected_arena = -(-estimate.arena_bytes * 11 // 10 // 1024) * 1024
    assert project.arena_bytes >= estimate.arena_bytes * 1.1 and project.arena_bytes % 1024 == 0
    assert f"kTensorArenaSize = {project.arena_bytes};" in config
    assert abs(project.arena_bytes - expected_arena) <= 1024
    assert f"estimates {estimate.arena_bytes:,} bytes" in config and "+10% margin" in config
    sha = hashlib.sha256(conv_net_bytes).digest()
    assert ", ".join(f"0x{b:02x}" for b in sha[:8]) in config
    assert f'kBoardName[] = "{board}"' in config
    for name in ("protocol_server.h", f"protocol_server{ext}", "tflm_runner.h",
                 f"tflm_runner{ext}", "serial_port.h"):
        assert (src / name).is_file(), name
    assert (src / "protocol_constants.h").read_text() == constants_header()
    emulated = board.startswith("qemu")
    assert f"TFLM_EDU_LOG_TO_HOST {int(emulated or board == 'stm32f746')}" in config
    capacity = re.search(r"kTensorArenaCapacity = (\d+);", config).group(1)
    assert int(capacity) == project.arena_capacity
    assert (project.arena_capacity > 3 << 20) if emulated else \
        (project.arena_capacity == project.arena_bytes)
    if board == "nano33ble":
        assert (src / "tflm_edu_board.ino").read_text().startswith("// tflm_edu board firmware")
    elif board == "host":
        assert (src / "main.cc").is_file() and (src / "serial_posix.cc").is_file()
    elif emulated:
        for name in ("main.cc", "serial_mps2.cc", "startup_cortex_m.cc"):
            assert (src / name).is_file(), name
    else:
        ini = (project.path / "platformio.ini").read_text()
        assert {"sparkfun_edge": "board = SparkFun_Edge",
                "stm32f746": "board = disco_f746ng"}[board] in ini
        assert (src / "main.cc").is_file()
    assert "README.md" in project.tree() and board in repr(project)


def test_board_config_compiles_with_the_protocol_header(conv_net_bytes, estimate, tmp_path):
    """board_config.h must fill a BoardDescription: compile exactly that, on the host."""
    project = fw.generate_project(conv_net_bytes, "stm32f746", tmp_path / "p", estimate=estimate)
    probe = project.source_dir / "probe.cc"
    probe.write_text('#include "board_config.h"\n#include "protocol_server.h"\n'
                     "tflm_edu::BoardDescription d = {kBoardName, {2, 0, 0}, kModelSha256,\n"
                     "  kTensorArenaCapacity, kTensorArenaSize, 0, false, false, 0, 0, {}, {},\n"
                     "  kOpNames, kOpCount};\n"
                     "static_assert(sizeof(kModelSha256) == 32, \"sha\");\n"
                     "static_assert(kOpCount == 6, \"ops\");\n"
                     "static_assert(kTensorArenaCapacity >= kTensorArenaSize, \"arena\");\n")
    result = subprocess.run(["g++", "-std=c++11", "-fsyntax-only", "-Wall", "-Werror",
                             str(probe)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_unknown_board_and_too_big_model(conv_net_bytes, estimate, tmp_path):
    with pytest.raises(DeployError, match="unknown board 'uno'; supported: nano33ble"):
        fw.generate_project(conv_net_bytes, "uno", tmp_path)

    class Huge:
        arena_bytes = 10 * 1024 * 1024
    with pytest.raises(DeployError, match="11,534,336-byte arena but Arduino Nano 33 BLE "
                                          "Sense .* has 262,144 bytes"):
        fw.generate_project(conv_net_bytes, "nano33ble", tmp_path, estimate=Huge())


def test_board_names_and_aliases_come_from_tflm_edu_boards():
    from tflm_edu.boards import BOARDS, get_board
    assert fw.board_target("stm32f746_disco") is fw.BOARDS["stm32f746"]
    assert fw.board_target("edge") is fw.BOARDS["sparkfun_edge"]
    assert fw.BOARDS["nano33ble"].board is get_board("nano33ble")
    assert fw.board_target("qemu") is fw.BOARDS["qemu-cortex-m4"]
    assert set(fw.BOARDS) <= set(BOARDS)                    # one id space


def test_arena_margin_rounds_up_to_kib():
    assert fw.arena_with_margin(1000) == 2048     # 1100 -> 2 KiB
    assert fw.arena_with_margin(930) == 1024      # 1023 -> 1 KiB
    assert fw.arena_with_margin(82_296) == 91_136


def test_missing_tools_say_what_to_install(conv_net_bytes, estimate, tmp_path, monkeypatch):
    monkeypatch.setattr(fw.shutil, "which", lambda name: None)
    arduino = fw.generate_project(conv_net_bytes, "nano33ble", tmp_path / "a", estimate=estimate)
    with pytest.raises(ToolMissing, match="arduino-cli is not installed.*lib install"):
        arduino.build()
    pio = fw.generate_project(conv_net_bytes, "sparkfun_edge", tmp_path / "b", estimate=estimate)
    with pytest.raises(ToolMissing, match="pip install platformio"):
        pio.build(port="/dev/ttyUSB0")
    assert pio.commands("/dev/ttyUSB0")[0][-3:] == ["upload", "--upload-port", "/dev/ttyUSB0"]
    assert arduino.commands("/dev/ttyACM0")[1][:4] == ["arduino-cli", "upload", "-p",
                                                        "/dev/ttyACM0"]


def test_build_streams_the_tool_output(conv_net_bytes, estimate, tmp_path, monkeypatch):
    fake = tmp_path / "arduino-cli"
    fake.write_text("#!/bin/sh\necho compiling \"$@\"\n")
    fake.chmod(0o755)
    monkeypatch.setattr(fw.shutil, "which", lambda name: str(fake))
    project = fw.generate_project(conv_net_bytes, "nano33ble", tmp_path / "a", estimate=estimate)
    lines = []
    project.build(echo=lines.append)
    assert lines == [f"compiling compile --fqbn arduino:mbed_nano:nano33ble {project.source_dir}"]
    fake.write_text("#!/bin/sh\nexit 3\n")
    with pytest.raises(DeployError, match="failed \\(exit 3\\)"):
        project.build(echo=lines.append)
