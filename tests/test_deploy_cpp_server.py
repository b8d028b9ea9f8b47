"""The firmware's C++ protocol server, compiled with g++ and run on a pty against the Python
host client: the code that goes onto the boards is proven here, not only generated.

A stand-in replaces the model (firmware_src/host_standin_main.cc): 1,000 int8 in, 16 out,
output[k] = (k + sum of input[i] with i % 16 == k) mod 256."""
import hashlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from tflm_edu.deploy import Board, BoardError, BoardTimeout, ModelMismatch
from tflm_edu.deploy import protocol as p

SRC = Path(__file__).resolve().parents[1] / "tflm_edu" / "deploy" / "firmware_src"
SHA = hashlib.sha256(b"stand-in model").digest()


@pytest.fixture(scope="session")
def standin_binary(tmp_path_factory):
    compiler = shutil.which("g++")
    if compiler is None:
        pytest.skip("g++ is not installed")
    exe = tmp_path_factory.mktemp("cpp") / "host_standin"
    sources = [SRC / "host_standin_main.cc", SRC / "protocol_server.cc", SRC / "serial_posix.cc"]
    extra = os.environ.get("TFLM_EDU_CXXFLAGS", "").split()   # e.g. -fsanitize=address
    result = subprocess.run([compiler, "-std=c++11", "-O1", "-Wall", "-Wextra", "-Werror", *extra,
                             "-o", str(exe), *map(str, sources)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return exe


@pytest.fixture
def cpp_board(standin_binary):
    process = subprocess.Popen([str(standin_binary), SHA.hex()], stdout=subprocess.PIPE,
                               text=True)
    try:
        path = process.stdout.readline().strip()
        assert path.startswith("/dev/"), path
        yield process, path
    finally:
        process.kill()
        process.wait()


def standin(x: np.ndarray) -> np.ndarray:
    data = x.view(np.uint8).ravel().astype(np.int64)
    out = np.arange(16, dtype=np.int64)
    for k in range(16):
        out[k] += data[k::16].sum()
    return (out % 256).astype(np.uint8).view(np.int8).reshape(1, 16)


def test_info_from_the_cpp_server(cpp_board):
    _, path = cpp_board
    with Board.open(path, expected_model=SHA, timeout=0.5) as board:
        info = board.info()
    assert info.board == "host_standin" and info.firmware_version == "1.0.0"
    assert info.protocol_version == p.PROTOCOL_VERSION and info.model_sha256 == SHA
    assert (info.arena_size, info.arena_used, info.ops) == (4096, 1234, ["STAND_IN"])
    assert info.input.shape == (1, 1000) and info.output.shape == (1, 16)
    assert info.input.dtype == np.int8


def test_invoke_chunks_and_outputs_exactly(cpp_board):
    _, path = cpp_board
    rng = np.random.default_rng(0)
    with Board.open(path, expected_model=SHA, timeout=0.5) as board:
        for _ in range(5):
            x = rng.integers(-128, 128, (1, 1000)).astype(np.int8)
            y, latency = board.invoke(x)
            np.testing.assert_array_equal(y, standin(x))
            assert 1000 <= latency < 500_000          # the stand-in sleeps 1 ms
        assert board.stats["retries"] == 0


def test_cpp_server_drops_damaged_frames_and_resyncs(cpp_board):
    _, path = cpp_board
    with Board.open(path, expected_model=SHA, timeout=0.2, retries=0) as board:
        wire = bytearray(p.encode_frame(77, p.HELLO))
        wire[2] ^= 0x10                                   # one flipped bit: CRC fails
        board.port.write(b"\x05\x99garbage\x00" + bytes(wire))
        deadline = time.monotonic() + 0.2
        assert board._wait_for(77, deadline) is None      # no reply to a damaged frame
        x = np.full((1, 1000), 3, np.int8)
        np.testing.assert_array_equal(board.invoke(x)[0], standin(x))


def test_cpp_server_errors_are_board_errors(cpp_board):
    _, path = cpp_board
    with Board.open(path, timeout=0.3) as board:
        with pytest.raises(BoardError, match="INPUT_INCOMPLETE") as info:
            board._request(p.INVOKE)
        assert info.value.code == p.ERR_INPUT_INCOMPLETE
        with pytest.raises(BoardError, match="OUT_OF_RANGE"):
            board._request(p.SET_INPUT, (500).to_bytes(4, "little") + b"\x01")
        with pytest.raises(BoardError, match="UNKNOWN_COMMAND"):
            board._request(0x33)
        with pytest.raises(BoardError, match="BAD_LENGTH"):
            board._request(p.GET_OUTPUT, b"\x00")
        with pytest.raises(BoardError, match="OUT_OF_RANGE"):    # offset + length wraps
            board._request(p.GET_OUTPUT, (0xFFFFFFFF).to_bytes(4, "little") + b"\x10\x00")
        with pytest.raises(BoardError, match="OUT_OF_RANGE"):
            board._request(p.GET_OUTPUT, (10).to_bytes(4, "little") + b"\x10\x00")


def test_reset_on_the_board_restarts_the_invoke(cpp_board):
    process, path = cpp_board
    with Board.open(path, expected_model=SHA, timeout=0.3) as board:
        x = np.arange(1000).astype(np.int8).reshape(1, 1000)
        board.stats.update(resets=0, restarts=0)       # the boot ANNOUNCE may count already
        board._request(p.SET_INPUT, (0).to_bytes(4, "little") + x.tobytes()[:256])
        process.send_signal(signal.SIGUSR1)               # the board reboots mid-transfer
        time.sleep(0.1)
        np.testing.assert_array_equal(board.invoke(x)[0], standin(x))
        assert board.stats["resets"] == 1 and board.stats["restarts"] == 1


def test_wrong_hash_and_silence(cpp_board):
    process, path = cpp_board
    with pytest.raises(ModelMismatch):
        Board.open(path, expected_model=b"another model", timeout=0.3)
    process.send_signal(signal.SIGSTOP)                   # a hung board
    try:
        start = time.monotonic()
        with pytest.raises(BoardTimeout):
            Board.open(path, timeout=0.1, retries=1)
        assert time.monotonic() - start < 1.0
    finally:
        process.send_signal(signal.SIGCONT)


def test_cpp_server_survives_random_bytes_and_damaged_frames(cpp_board):
    """Noise, truncated and bit-flipped frames: the server drops them all and keeps serving."""
    process, path = cpp_board
    rng = np.random.default_rng(1)
    with Board.open(path, expected_model=SHA, timeout=0.3) as board:
        noise = [rng.integers(0, 256, 3000, dtype=np.uint8).tobytes()]
        for seq in range(200, 260):
            wire = bytearray(p.encode_frame(seq, p.SET_INPUT, rng.bytes(int(rng.integers(0, 300)))))
            wire[int(rng.integers(0, len(wire) - 1))] ^= 1 << int(rng.integers(0, 8))
            noise.append(bytes(wire[:int(rng.integers(1, len(wire) + 1))]))
        board.port.write(b"".join(noise) + b"\x00")
        time.sleep(0.2)
        board.port.reset_input_buffer()                   # whatever it answered to the noise
        x = rng.integers(-128, 128, (1, 1000)).astype(np.int8)
        np.testing.assert_array_equal(board.invoke(x)[0], standin(x))
    assert process.poll() is None                         # still running
