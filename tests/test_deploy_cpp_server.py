"""The firmware's C++ protocol server, compiled with g++ and run on a pty against the Python
host client: the code that goes onto the boards is proven here, not only generated.

A stand-in replaces the model (firmware_src/host_standin_main.cc): 1,000 int8 in, 16 out,
output[k] = (k + sum of input[i] with i % 16 == k) mod 256; it allocates in 1,234 bytes and
can be told to misbehave as a hostile board would."""
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
    folder = tmp_path_factory.mktemp("cpp")
    exe = folder / "host_standin"
    (folder / "protocol_constants.h").write_text(p.constants_header())
    sources = [SRC / "host_standin_main.cc", SRC / "protocol_server.cc", SRC / "serial_posix.cc"]
    extra = os.environ.get("TFLM_EDU_CXXFLAGS", "").split()   # e.g. -fsanitize=address
    result = subprocess.run([compiler, "-std=c++11", "-O1", "-Wall", "-Wextra", "-Werror", *extra,
                             f"-I{folder}", "-o", str(exe), *map(str, sources)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return exe


def start_standin(binary, *flags):
    process = subprocess.Popen([str(binary), SHA.hex(), *flags], stdout=subprocess.PIPE,
                               text=True)
    path = process.stdout.readline().strip()
    assert path.startswith("/dev/"), path
    return process, path


@pytest.fixture
def cpp_board(standin_binary):
    process, path = start_standin(standin_binary)
    try:
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
    assert info.board == "host_standin" and info.firmware_version == "2.0.0"
    assert info.protocol_version == p.PROTOCOL_VERSION and info.model_sha256 == SHA
    assert (info.arena_capacity, info.arena_size, info.arena_used) == (4096, 2048, 1234)
    assert info.ops == ["STAND_IN"] and info.ready and not info.preserves_all_tensors
    assert info.counter == "microseconds" and info.session == board.session != 0
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
    # no retries, so a damaged frame cannot be covered by a resend; a timeout a loaded
    # machine cannot hit (the 0.2 s one failed once with QEMU fits running beside the tests)
    with Board.open(path, expected_model=SHA, timeout=2.0, retries=0) as board:
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
            board._request(p.SET_INPUT, p.encode_set_input(0, 500, b"\x01"))
        with pytest.raises(BoardError, match="OUT_OF_RANGE"):
            board._request(p.SET_INPUT, p.encode_set_input(1, 0, b"\x01"))   # no input 1
        with pytest.raises(BoardError, match="UNKNOWN_COMMAND"):
            board._request(0x33)
        with pytest.raises(BoardError, match="BAD_LENGTH"):
            board._request(p.GET_OUTPUT, b"\x00")
        with pytest.raises(BoardError, match="OUT_OF_RANGE"):    # offset + length wraps
            board._request(p.GET_OUTPUT, p.encode_get_output(0, 0xFFFFFFFF, 16))
        with pytest.raises(BoardError, match="OUT_OF_RANGE"):
            board._request(p.GET_OUTPUT, p.encode_get_output(0, 10, 16))
        with pytest.raises(BoardError, match="NOT_AVAILABLE"):
            board._request(p.GET_PROFILE, b"\x00\x00")                  # no invoke yet
        with pytest.raises(BoardError, match="NOT_AVAILABLE"):
            board._request(p.GET_TENSOR, p.encode_get_tensor(0, 0, 16))  # not preserved
        with pytest.raises(BoardError, match="BAD_LENGTH"):
            board._request(p.HELLO, b"\x01")


def test_reset_on_the_board_restarts_the_invoke(cpp_board):
    process, path = cpp_board
    # A timeout a loaded machine cannot hit: one more restart would be a timeout, not the reboot.
    with Board.open(path, expected_model=SHA, timeout=2.0) as board:
        x = np.arange(1000).astype(np.int8).reshape(1, 1000)
        board.stats.update(resets=0, restarts=0)       # the boot ANNOUNCE may count already
        board._request(p.SET_INPUT, p.encode_set_input(0, 0, x.tobytes()[:256]))
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


def test_silent_reboot_mid_invoke_is_caught_by_the_session(cpp_board):
    process, path = cpp_board
    # A timeout a loaded machine cannot hit: one more restart would be a timeout, not the reboot.
    with Board.open(path, expected_model=SHA, timeout=2.0) as board:
        x = np.arange(1000).astype(np.int8).reshape(1, 1000)
        board.stats.update(resets=0, restarts=0)       # the boot ANNOUNCE may count already
        board._request(p.SET_INPUT, p.encode_set_input(0, 0, x.tobytes()[:256]))
        process.send_signal(signal.SIGUSR2)              # reboots; its ANNOUNCE is lost
        time.sleep(0.1)
        np.testing.assert_array_equal(board.invoke(x)[0], standin(x))
        assert board.stats["resets"] == 1 and board.stats["restarts"] == 1


def test_reboot_after_invoke_never_returns_zeros(standin_binary):
    process, path = start_standin(standin_binary, "--reboot-after-invoke", "1")
    try:
        with Board.open(path, expected_model=SHA, timeout=0.3) as board:
            x = np.full((1, 1000), 5, np.int8)
            np.testing.assert_array_equal(board.invoke(x)[0], standin(x))
            assert board.stats["restarts"] == 1 and board.last.invoke == 1
    finally:
        process.kill()
        process.wait()


def test_a_repeated_invoke_never_returns_the_last_output(cpp_board):
    # An INVOKE whose reply was lost and is sent again must not answer with the previous
    # output: the server consumed the input, so the retry is refused and the host restarts.
    _, path = cpp_board
    with Board.open(path, expected_model=SHA, timeout=0.3) as board:
        x = np.full((1, 1000), 7, np.int8)
        for offset in range(0, 1000, 256):
            board._request(p.SET_INPUT, p.encode_set_input(0, offset, x.tobytes()[offset:offset + 256]))
        first = p.decode_invoke_reply(board._request(p.INVOKE).body)
        assert first.status == 0 and first.invoke == 1
        with pytest.raises(BoardError, match="INPUT_INCOMPLETE"):
            board._request(p.INVOKE)                     # the "retry"
        np.testing.assert_array_equal(board.invoke(x)[0], standin(x))
        assert board.last.invoke == 2


def test_profile_tensors_and_log_from_the_cpp_server(cpp_board):
    _, path = cpp_board
    with Board.open(path, expected_model=SHA, timeout=0.3) as board:
        x = np.arange(1000).astype(np.int8).reshape(1, 1000)
        board.invoke(x)
        profile = board.profile()
        assert [(e.tag, e.counter) for e in profile.events] == [("STAND_IN_SUM", 10),
                                                               ("STAND_IN_SLEEP", 1000)]
        assert profile.total == 1010 and "STAND_IN_SLEEP" in profile.table()
        with pytest.raises(BoardError, match="NOT_AVAILABLE"):
            board.tensor(1)
        reply = board.configure(preserve_all=True)
        assert reply.status == 0 and board.info().preserves_all_tensors
        board.invoke(x)
        assert board.tensor(0) == x.tobytes()             # raw bytes: the host has no model
        assert board.tensor(2) == standin(x).tobytes()
        with pytest.raises(BoardError, match="OUT_OF_RANGE"):
            board.tensor(3)
        assert board.configure(100).status == 1 and not board.info().ready
        assert board.log[-1] == "Failed to allocate tail memory (stand-in)"
        with pytest.raises(BoardError, match="NOT_READY"):
            board.invoke(x)
        assert board.configure().status == 0 and board.info().ready


def test_smallest_arena_by_bisection(cpp_board):
    _, path = cpp_board
    with Board.open(path, expected_model=SHA, timeout=0.3) as board:
        assert board.smallest_arena() == 1234
        info = board.info()
        assert info.ready and info.arena_size == 2048          # configured back
