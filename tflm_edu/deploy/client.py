"""The host side of the protocol: a Board you open on a serial port and ask to run the model.

    with Board.open("/dev/ttyACM0", expected_model=model_bytes, timeout=1.0, retries=3) as board:
        print(board.info())
        output, latency_us = board.invoke(x)

Every request carries a fresh sequence number and waits at most `timeout` seconds for the
reply with that number; replies to older requests (a slow board) are thrown away. A request
that gets no valid reply is sent again, up to `retries` more times, then BoardTimeout.
If the board announces a reset in the middle of an invoke, the whole invoke starts over.
The model hash is checked on open, after every reset and in every INVOKE reply, so an
output from the wrong model is never returned.
"""
from __future__ import annotations

import struct
import time

import numpy as np

from tflm_edu.deploy import protocol as p
from tflm_edu.deploy.errors import (BoardError, BoardTimeout, DeployError, ModelMismatch,
                                    PortError, ProtocolError)
from tflm_edu.deploy.protocol import BoardInfo, Frame, FrameReader
from tflm_edu.errors import InputError


POLL_SECONDS = 0.01   # the serial read timeout; a request's deadline is checked this often


class _BoardWasReset(DeployError):
    """Internal: an ANNOUNCE arrived, so partial input on the board is gone."""


def list_ports() -> list:
    """The serial ports of this machine: [(device, description), ...]."""
    from serial.tools import list_ports as lp
    return [(port.device, port.description) for port in sorted(lp.comports())]


class Board:
    """A board running the tflm_edu protocol server, on an open serial-like object."""

    def __init__(self, port, expected_model=None, timeout: float = 1.0, retries: int = 3,
                 name: str | None = None):
        self.port = port
        if getattr(port, "timeout", 0) is None or getattr(port, "timeout", 0) > POLL_SECONDS:
            port.timeout = POLL_SECONDS          # a blocking read would defeat the timeouts
        self.name = name or getattr(port, "port", "board")
        self.expected = None if expected_model is None else p.model_hash(expected_model)
        self.timeout, self.retries = float(timeout), int(retries)
        self.reader = FrameReader()
        self.pending: list[Frame] = []
        self.seq = 0
        self.stats = {"requests": 0, "retries": 0, "restarts": 0, "stale": 0, "resets": 0}
        self._info: BoardInfo | None = None

    @classmethod
    def open(cls, port: str, expected_model=None, timeout: float = 1.0, retries: int = 3,
             baudrate: int = 115200) -> "Board":
        """Open `port`, say HELLO and check the board's model against `expected_model`
        (the .tflite bytes, or their SHA-256 as bytes or hex). Raises PortError,
        BoardTimeout, ModelMismatch or ProtocolError."""
        import serial
        try:
            link = serial.Serial(port, baudrate=baudrate, timeout=POLL_SECONDS,
                                 write_timeout=timeout)
        except (serial.SerialException, OSError) as e:
            raise PortError(f"cannot open serial port {port}: {e}. Is the board plugged in, "
                            f"and is the port right? `tflm-edu boards` lists the ports.") from None
        board = cls(link, expected_model, timeout, retries, name=port)
        try:
            link.reset_input_buffer()
            board.info(refresh=True)
        except BaseException:
            link.close()
            raise
        return board

    def close(self) -> None:
        if self.port is not None:
            self.port.close()
            self.port = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"Board({self.name!r}, {self._info!r})"

    # -- the public calls -------------------------------------------------------------

    def info(self, refresh: bool = False) -> BoardInfo:
        """The board's INFO: versions, board name, model SHA-256, arena, tensors, ops."""
        if self._info is None or refresh:
            # HELLO holds no state, so an ANNOUNCE (a boot) during it costs nothing: ask again.
            for _ in range(self.retries + 8):
                try:
                    reply = self._request(p.HELLO)
                    break
                except _BoardWasReset:
                    continue
            else:
                raise BoardTimeout(f"{self.name} kept resetting while answering HELLO")
            self._info = self._check_info(reply.body)
        return self._info

    def invoke(self, input) -> tuple[np.ndarray, int]:
        """Run the model on the board: returns (output array, on-device latency in us)."""
        info = self.info()
        data = self._input_bytes(input, info)
        for _ in range(self.retries + 1):
            try:
                return self._invoke_once(data, info)
            except _BoardWasReset:
                self.stats["restarts"] += 1
            except BoardError as e:
                if e.code != p.ERR_INPUT_INCOMPLETE:
                    raise
                self.stats["restarts"] += 1
        raise BoardTimeout(f"{self.name} reset during every one of {self.retries + 1} attempts "
                           f"to invoke; check its power supply and the cable")

    # -- one invoke: input chunks, INVOKE, output chunks -------------------------------

    def _invoke_once(self, data: bytes, info: BoardInfo):
        for offset in range(0, len(data), p.MAX_CHUNK):
            chunk = data[offset:offset + p.MAX_CHUNK]
            reply = self._request(p.SET_INPUT, struct.pack("<I", offset) + chunk)
            held = _unpack(reply, "<I", "SET_INPUT")[0]
            if held < offset + len(chunk):
                raise _BoardWasReset()
        reply = self._request(p.INVOKE)
        if len(reply.body) != 13:
            raise ProtocolError(f"INVOKE reply of {len(reply.body)} bytes, expected 13")
        status, latency = struct.unpack_from("<BI", reply.body)
        if reply.body[5:13] != info.model_sha256[:8]:
            raise ModelMismatch(f"{self.name} ran a model whose hash starts "
                                f"{reply.body[5:13].hex()}, not the expected "
                                f"{info.model_sha256[:8].hex()}: was it re-flashed?")
        if status != 0:
            raise BoardError(p.ERR_INVOKE_FAILED, f"invoke status {status}")
        output = bytearray()
        while len(output) < info.output.nbytes:
            length = min(p.MAX_CHUNK, info.output.nbytes - len(output))
            reply = self._request(p.GET_OUTPUT, struct.pack("<IH", len(output), length))
            offset = _unpack(reply, "<I", "GET_OUTPUT")[0]
            if len(reply.body) != 4 + length or offset != len(output):
                raise ProtocolError("GET_OUTPUT reply does not match the request")
            output += reply.body[4:]
        array = np.frombuffer(bytes(output), dtype=info.output.dtype).reshape(info.output.shape)
        return array.copy(), latency

    def _input_bytes(self, input, info: BoardInfo) -> bytes:
        x = np.asarray(input)
        spec = info.input
        if x.dtype != spec.dtype:
            raise InputError(f"the board's model takes {np.dtype(spec.dtype).name} input, "
                             f"got {x.dtype.name}")
        if x.size != int(np.prod(spec.shape)):
            raise InputError(f"the board's model takes input of shape {list(spec.shape)}, "
                             f"got {list(x.shape)}")
        return np.ascontiguousarray(x).tobytes()

    # -- requests: sequence numbers, timeouts, retries --------------------------------

    def _request(self, cmd: int, body: bytes = b"") -> Frame:
        """Send `cmd`, return its reply; retry on silence; raise BoardError on ERROR."""
        if self.port is None:
            raise DeployError("the board is closed")
        for attempt in range(self.retries + 1):
            self.seq = self.seq % 0xFFFF + 1            # 1..65535: seq 0 is ANNOUNCE's
            self.stats["requests"] += 1
            self.stats["retries"] += attempt > 0
            self._write(p.encode_frame(self.seq, cmd, body))
            reply = self._wait_for(self.seq, time.monotonic() + self.timeout)
            if reply is None:
                continue
            if reply.cmd == p.ERROR:
                code = reply.body[0] if reply.body else 0
                raise BoardError(code, reply.body[1:].decode("ascii", "replace"))
            if reply.cmd != cmd | p.REPLY:
                raise ProtocolError(f"reply {reply!r} to {p.COMMAND_NAMES[cmd]}")
            return reply
        raise BoardTimeout(f"{self.name} did not answer {p.COMMAND_NAMES[cmd]} within "
                           f"{self.timeout:g} s, {self.retries + 1} times. Is the firmware "
                           f"running, and is this the board's port?")

    def _wait_for(self, seq: int, deadline: float) -> Frame | None:
        while True:
            while self.pending:
                frame = self.pending.pop(0)
                if frame.cmd == p.ANNOUNCE:
                    self.stats["resets"] += 1
                    self._info = self._check_info(frame.body)
                    raise _BoardWasReset()
                if frame.seq == seq:
                    return frame
                self.stats["stale"] += 1                 # a late reply to an older request
            if time.monotonic() >= deadline:
                return None
            # read() returns what has arrived, or nothing after POLL_SECONDS: the deadline
            # is overshot by at most that much.
            data = self.port.read(max(1, self.port.in_waiting))
            self.pending += self.reader.feed(data)

    def _write(self, data: bytes) -> None:
        import serial
        try:
            self.port.write(data)
            self.port.flush()
        except serial.SerialTimeoutException:
            pass                                         # counted as silence: retried
        except (serial.SerialException, OSError) as e:
            raise PortError(f"writing to {self.name} failed: {e}") from None

    def _check_info(self, body: bytes) -> BoardInfo:
        try:
            info = p.decode_info(body)
        except ValueError as e:
            raise ProtocolError(f"{self.name} sent a malformed INFO: {e}") from None
        if info.protocol_version != p.PROTOCOL_VERSION:
            raise ProtocolError(f"{self.name} speaks protocol v{info.protocol_version}; this "
                                f"host speaks v{p.PROTOCOL_VERSION}: regenerate the firmware "
                                f"with this tflm_edu (tflm-edu deploy)")
        if self.expected is not None and info.model_sha256 != self.expected:
            raise ModelMismatch(f"{self.name} holds model {info.model_sha256.hex()[:16]}..., "
                                f"not the expected {self.expected.hex()[:16]}...: flash the "
                                f"firmware generated for this model (tflm-edu deploy MODEL)")
        return info


def _unpack(frame: Frame, fmt: str, what: str):
    try:
        return struct.unpack_from(fmt, frame.body)
    except struct.error:
        raise ProtocolError(f"{what} reply too short ({len(frame.body)} bytes)") from None
