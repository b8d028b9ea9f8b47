"""Batch verification and the CLI, against the virtual board."""
import os
import signal
import subprocess
import sys

import matplotlib
import numpy as np

from tflm_edu.cli import main
from tflm_edu.deploy import Board, VirtualBoard
from tflm_edu.deploy.verify import verify

matplotlib.use("Agg")


def test_virtual_board_is_byte_equal_to_the_host(dense_net_bytes):
    with VirtualBoard(dense_net_bytes) as virtual:
        report = verify(virtual.path, dense_net_bytes, n=8, timeout=0.5, progress=False)
    assert report.all_equal and len(report.samples) == 8
    stats = report.latency_stats()
    assert 0 < stats["min"] <= stats["median"] <= stats["max"]
    table = report.table()
    assert table.count("yes") == 8 and "8/8 outputs byte-equal" in table
    assert report.plot().get_title() == "virtual: 8/8 byte-equal"


def test_a_board_that_computes_differently_is_reported(dense_net_bytes):
    with VirtualBoard(dense_net_bytes) as virtual:
        real_run = virtual.server._run

        def off_by_one():              # a board whose kernels round differently
            real_run()
            virtual.server.output_data = [(np.frombuffer(d, np.int8) + np.int8(1)).tobytes()
                                          for d in virtual.server.output_data]
        virtual.server._run = off_by_one
        with Board.open(virtual.path, expected_model=dense_net_bytes, timeout=0.5) as board:
            x = [np.array([[v]], np.int8) for v in (-100, 0, 100)]
            report = verify(board, dense_net_bytes, inputs=x, progress=False)
    assert not report.all_equal
    assert [(s.equal, s.differing, s.max_abs_diff) for s in report.samples] == [(False, 1, 1)] * 3
    assert "NO" in report.table() and "0/3" in report.summary()


def test_cli_boards_and_deploy_without_tools(dense_net_bytes, tmp_path, capsys, monkeypatch):
    assert main(["boards"]) == 0
    out = capsys.readouterr().out
    assert "nano33ble" in out and "sparkfun_edge" in out and "stm32f746" in out
    path = tmp_path / "m.tflite"
    path.write_bytes(dense_net_bytes)
    monkeypatch.setattr("shutil.which", lambda name: None)
    assert main(["deploy", str(path), "--board", "stm32f746", "-o", str(tmp_path / "p")]) == 0
    captured = capsys.readouterr()
    assert "pip install platformio" in captured.err
    assert (tmp_path / "p" / "src" / "model_data.cc").is_file()
    # a port that is not there: one line, exit status 2
    assert main(["deploy", str(path), "--board", "nano33ble", "-o", str(tmp_path / "q"),
                 "--port", "/dev/no-such-port"]) == 2
    assert "cannot open serial port /dev/no-such-port" in capsys.readouterr().err


def test_cli_virtual_board_serves_until_ctrl_c(dense_net_bytes, tmp_path):
    path = tmp_path / "m.tflite"
    path.write_bytes(dense_net_bytes)
    process = subprocess.Popen([sys.executable, "-m", "tflm_edu.cli", "virtual-board",
                                str(path), "--delay", "0.01"], stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        line = process.stdout.readline()
        port = line.split(" at ")[1].split()[0]
        with Board.open(port, expected_model=dense_net_bytes, timeout=1.0) as board:
            assert board.info().ops == ["FULLY_CONNECTED"]
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=5) == 0
        assert "virtual board stopped" in process.stdout.read()
    finally:
        process.kill()
