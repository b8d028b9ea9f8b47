"""The host client against the virtual board over a real pty, for every fault the line or
the board can produce: each ends in a correct result (after retries) or a clear DeployError
within its time budget - never a hang, never a wrong result."""
import hashlib
import time

import numpy as np
import pytest

from tflm_edu.deploy import (Board, BoardTimeout, DeployError, Faults, ModelMismatch, PortError,
                             ProtocolError,
                             VirtualBoard)
from tflm_edu.deploy.protocol import TensorSpec
from tflm_edu.errors import InputError
from tflm_edu.runtime import Interpreter

TIMEOUT, RETRIES = 0.25, 4


def host_output(model, x):
    interpreter = Interpreter.from_bytes(model)
    interpreter.set_input(x, 0)
    interpreter.invoke()
    return interpreter.get_output(0)


def inputs(n, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(-128, 128, (1, 32, 32, 1)).astype(np.int8) for _ in range(n)]


def run(model, faults, n=3, timeout=TIMEOUT, retries=RETRIES):
    """Invoke n inputs through a faulty virtual board; return (board, client stats)."""
    with VirtualBoard(model, faults=faults) as virtual:
        with Board.open(virtual.path, expected_model=model, timeout=timeout,
                        retries=retries) as board:
            for x in inputs(n):
                y, latency = board.invoke(x)
                np.testing.assert_array_equal(y, host_output(model, x))
                assert y.dtype == np.int8 and latency > 0
            return virtual, board.stats


def test_clean_line_needs_no_retry(conv_net_bytes):
    virtual, stats = run(conv_net_bytes, Faults())
    assert stats["retries"] == 0 and stats["requests"] == 3 * (4 + 1 + 1) + 1
    assert virtual.frames_dropped == 0


def test_flipped_bits_are_caught_by_crc_and_retried(conv_net_bytes):
    virtual, stats = run(conv_net_bytes, Faults(flip_bits=0.001, seed=3), n=4)
    assert virtual.bits_flipped > 0
    assert stats["retries"] > 0                      # damage happened and was survived


def test_dropped_bytes_are_retried(conv_net_bytes):
    virtual, stats = run(conv_net_bytes, Faults(drop_bytes=0.002, seed=5), n=4)
    assert virtual.bytes_dropped > 0 and stats["retries"] > 0


def test_delay_shorter_than_timeout_is_fine(dense_net_bytes):
    with VirtualBoard(dense_net_bytes, faults=Faults(delay=0.05)) as virtual:
        with Board.open(virtual.path, expected_model=dense_net_bytes, timeout=TIMEOUT) as board:
            x = np.array([[42]], np.int8)
            assert np.array_equal(board.invoke(x)[0], host_output(dense_net_bytes, x))
            assert board.stats["retries"] == 0


def test_delay_longer_than_timeout_times_out_and_ignores_stale_replies(dense_net_bytes):
    with VirtualBoard(dense_net_bytes, faults=Faults(delay=0.12)) as virtual:
        start = time.monotonic()
        with pytest.raises(BoardTimeout, match="did not answer HELLO within 0.1 s, 3 times"):
            Board.open(virtual.path, timeout=0.1, retries=2)
        assert time.monotonic() - start < 1.0


def test_reset_mid_transfer_restarts_the_invoke(conv_net_bytes):
    # frame 1 is HELLO, frames 2-5 the input chunks: the reset loses chunk two
    virtual, stats = run(conv_net_bytes, Faults(reset_after=3), n=2)
    assert virtual.resets == 1 and stats["resets"] == 1 and stats["restarts"] == 1


def test_stuck_board_raises_timeout_within_budget(dense_net_bytes):
    with VirtualBoard(dense_net_bytes, faults=Faults(stuck=True)) as virtual:
        start = time.monotonic()
        with pytest.raises(BoardTimeout) as info:
            Board.open(virtual.path, timeout=0.1, retries=2)
        assert isinstance(info.value, TimeoutError) and isinstance(info.value, DeployError)
        assert 0.3 <= time.monotonic() - start < 1.0


def test_board_stuck_mid_invoke(dense_net_bytes):
    with VirtualBoard(dense_net_bytes, faults=Faults(stuck_after=2)) as virtual:
        with Board.open(virtual.path, timeout=0.1, retries=1) as board:
            with pytest.raises(BoardTimeout, match="INVOKE"):
                board.invoke(np.array([[1]], np.int8))   # SET_INPUT answered, INVOKE not


def test_wrong_model_on_the_board_is_refused(conv_net_bytes, dense_net_bytes):
    with VirtualBoard(dense_net_bytes) as virtual:
        with pytest.raises(ModelMismatch, match="not the expected"):
            Board.open(virtual.path, expected_model=conv_net_bytes, timeout=TIMEOUT)
        digest = hashlib.sha256(dense_net_bytes).hexdigest()
        with Board.open(virtual.path, expected_model=digest, timeout=TIMEOUT) as board:
            assert board.info().model_sha256.hex() == digest


def test_reflashed_board_is_caught_at_the_next_invoke(conv_net_bytes, dense_net_bytes):
    with VirtualBoard(dense_net_bytes) as virtual:
        with Board.open(virtual.path, expected_model=dense_net_bytes, timeout=TIMEOUT) as board:
            board.info()
            # someone re-flashes behind our back: the INVOKE reply carries the new hash
            virtual.server.sha256 = hashlib.sha256(conv_net_bytes).digest()
            with pytest.raises(ModelMismatch, match="re-flashed"):
                board.invoke(np.array([[1]], np.int8))


def test_wrong_input_is_an_input_error(dense_net_bytes):
    with VirtualBoard(dense_net_bytes) as virtual:
        with Board.open(virtual.path, timeout=TIMEOUT) as board:
            with pytest.raises(InputError, match="int8"):
                board.invoke(np.zeros((1, 1), np.float32))
            with pytest.raises(InputError, match="shape"):
                board.invoke(np.zeros((1, 2), np.int8))


def test_missing_port_is_a_port_error():
    with pytest.raises(PortError, match="tflm-edu boards"):
        Board.open("/dev/does-not-exist", timeout=0.1)


# -- hostile boards: each once fooled a host into taking a wrong result (protocol v2) ------

def test_reboot_after_invoke_with_its_announce_lost_is_caught(conv_net_bytes):
    # The board reboots right after answering INVOKE; the zeros it would then return for
    # GET_OUTPUT carry session 0, so the host starts the invoke over.
    virtual, stats = run(conv_net_bytes, Faults(reboot_after_invoke=1), n=2)
    assert virtual.resets == 1
    assert stats["resets"] == 1 and stats["restarts"] == 1


def test_invoke_acknowledged_but_not_run_is_refused(dense_net_bytes):
    with VirtualBoard(dense_net_bytes, faults=Faults(lazy_invoke=True)) as virtual:
        with Board.open(virtual.path, expected_model=dense_net_bytes, timeout=TIMEOUT,
                        retries=1) as board:
            with pytest.raises(ProtocolError, match="without running it"):
                board.invoke(np.array([[1]], np.int8))


@pytest.mark.parametrize("override,match", [
    ({"outputs": (TensorSpec(np.dtype(np.int16), (1, 1)),)}, "outputs int16"),
    ({"inputs": (TensorSpec(np.dtype(np.int8), (0,)),)}, "shape \\[0\\]"),
])
def test_info_that_does_not_match_the_model_is_refused(dense_net_bytes, override, match):
    with VirtualBoard(dense_net_bytes, faults=Faults(info_override=override)) as virtual:
        with pytest.raises(ProtocolError, match=match):
            Board.open(virtual.path, expected_model=dense_net_bytes, timeout=TIMEOUT)


def test_info_claiming_a_huge_output_is_refused_even_without_the_model(dense_net_bytes):
    huge = {"outputs": (TensorSpec(np.dtype(np.int8), (1 << 31,)),)}
    with VirtualBoard(dense_net_bytes, faults=Faults(info_override=huge)) as virtual:
        start = time.monotonic()
        with pytest.raises(ProtocolError, match="MiB"):
            Board.open(virtual.path, expected_model=hashlib.sha256(dense_net_bytes).digest(),
                       timeout=TIMEOUT)
        assert time.monotonic() - start < 1.0


def test_unplugged_board_is_a_port_error(conv_net_bytes):
    with VirtualBoard(conv_net_bytes, faults=Faults(unplug_after=3)) as virtual:
        with Board.open(virtual.path, expected_model=conv_net_bytes, timeout=TIMEOUT) as board:
            with pytest.raises(PortError, match="unplugged"):
                board.invoke(inputs(1)[0])
        assert virtual.unplugged


def test_reset_clears_outputs_and_counts(dense_net_bytes):
    with VirtualBoard(dense_net_bytes) as virtual:
        with Board.open(virtual.path, expected_model=dense_net_bytes, timeout=TIMEOUT) as board:
            board.invoke(np.array([[100]], np.int8))
            assert virtual.server.invokes == 1 and any(virtual.server.output_data[0])
            virtual.reset()
            assert virtual.server.invokes == 0 and not any(virtual.server.output_data[0])
            assert virtual.server.session == 0
            y, _ = board.invoke(np.array([[100]], np.int8))   # the host notices and recovers
            np.testing.assert_array_equal(
                y, host_output(dense_net_bytes, np.array([[100]], np.int8)))
            assert board.stats["resets"] == 1
