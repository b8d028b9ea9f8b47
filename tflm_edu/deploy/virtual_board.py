"""A board that lives in a pseudo-terminal: the protocol server of the firmware, in Python,
running the model with tflm_edu's interpreter - plus a way to make the line misbehave.

    board = VirtualBoard(model_bytes, faults=Faults(flip_bits=0.01)).start()  # -> /dev/pts/N
    with Board.open(board.path, expected_model=model_bytes) as b: ...
    board.stop()

The host client cannot tell it from a real board: it opens the pty's path with pyserial.
Faults apply to both directions, as line noise would: bytes the board receives and bytes
it sends can be dropped or have a bit flipped; replies can be delayed; the board can reset
once after N frames (forgetting any partial input and announcing itself), or go silent.
"""
from __future__ import annotations

import hashlib
import os
import random
import select
import threading
import time
import tty
from dataclasses import dataclass

import numpy as np

from tflm_edu.deploy import protocol as p
from tflm_edu.deploy.protocol import BoardInfo, Frame, FrameReader, TensorSpec


@dataclass
class Faults:
    """What goes wrong. Probabilities are per byte; delay is seconds before each reply."""
    drop_bytes: float = 0.0
    flip_bits: float = 0.0
    delay: float = 0.0
    reset_after: int | None = None   # reset once, on receiving the N-th frame (1-based)
    stuck: bool = False               # never answer
    stuck_after: int | None = None    # answer N frames, then never again
    seed: int = 0


class BoardServer:
    """The protocol's board side as a state machine: handle(frame) -> reply frames.
    firmware_src/protocol_server.cc is the same machine in C++."""

    def __init__(self, model_bytes: bytes, board: str = "virtual", firmware_version="1.0.0",
                 arena_size: int | None = None):
        from tflm_edu.op_resolver import resolver_for_model
        from tflm_edu.runtime import Interpreter
        self.model_bytes = bytes(model_bytes)
        self.interpreter = Interpreter.from_bytes(self.model_bytes, arena_size=arena_size)
        micro = self.interpreter.micro
        inp, out = micro.input(0), micro.output(0)
        self.info = BoardInfo(
            p.PROTOCOL_VERSION, firmware_version, board,
            hashlib.sha256(self.model_bytes).digest(),
            arena_size or micro.arena_used_bytes(), micro.arena_used_bytes(),
            TensorSpec(inp.dtype, tuple(inp.shape)), TensorSpec(out.dtype, tuple(out.shape)),
            resolver_for_model(self.interpreter.model).op_names)
        self.input = bytearray(self.info.input.nbytes)
        self.output = bytes(self.info.output.nbytes)
        self.received = 0     # input bytes held: chunks must arrive without gaps

    def reset(self) -> Frame:
        """What a reboot does to the protocol state: partial input is gone."""
        self.received = 0
        return Frame(0, p.ANNOUNCE, p.encode_info(self.info))

    def handle(self, frame: Frame) -> Frame:
        handler = {p.HELLO: self._hello, p.SET_INPUT: self._set_input, p.INVOKE: self._invoke,
                   p.GET_OUTPUT: self._get_output}.get(frame.cmd)
        if handler is None:
            return self._error(frame, p.ERR_UNKNOWN_COMMAND, f"unknown command {frame.cmd}")
        return handler(frame)

    def _reply(self, frame, body=b"") -> Frame:
        return Frame(frame.seq, frame.cmd | p.REPLY, body)

    def _error(self, frame, code, message) -> Frame:
        return Frame(frame.seq, p.ERROR, bytes([code]) + message.encode()[:200])

    def _hello(self, frame):
        return self._reply(frame, p.encode_info(self.info))

    def _set_input(self, frame):
        if len(frame.body) < 4:
            return self._error(frame, p.ERR_BAD_LENGTH, "SET_INPUT needs offset u32 + data")
        offset = int.from_bytes(frame.body[:4], "little")
        data = frame.body[4:]
        if offset > self.received or offset + len(data) > len(self.input):
            return self._error(frame, p.ERR_OUT_OF_RANGE,
                               f"chunk at {offset} (+{len(data)}) but {self.received} of "
                               f"{len(self.input)} bytes held")
        self.input[offset:offset + len(data)] = data
        self.received = max(self.received, offset + len(data))
        return self._reply(frame, self.received.to_bytes(4, "little"))

    def _invoke(self, frame):
        if self.received < len(self.input):
            return self._error(frame, p.ERR_INPUT_INCOMPLETE,
                               f"{self.received} of {len(self.input)} input bytes held")
        spec = self.info.input
        x = np.frombuffer(bytes(self.input), dtype=spec.dtype).reshape(spec.shape)
        start = time.perf_counter()
        try:
            self.interpreter.set_input(x, 0)
            self.interpreter.invoke()
        except Exception as e:  # the board reports, it does not crash
            return self._error(frame, p.ERR_INVOKE_FAILED, str(e))
        latency = int((time.perf_counter() - start) * 1e6)
        self.output = self.interpreter.get_output(0).tobytes()
        return self._reply(frame, bytes([0]) + latency.to_bytes(4, "little")
                           + self.info.model_sha256[:8])

    def _get_output(self, frame):
        if len(frame.body) != 6:
            return self._error(frame, p.ERR_BAD_LENGTH, "GET_OUTPUT needs offset u32, length u16")
        offset = int.from_bytes(frame.body[:4], "little")
        length = min(int.from_bytes(frame.body[4:], "little"), p.MAX_CHUNK)
        if offset + length > len(self.output):
            return self._error(frame, p.ERR_OUT_OF_RANGE,
                               f"output has {len(self.output)} bytes")
        return self._reply(frame, frame.body[:4] + self.output[offset:offset + length])


class VirtualBoard:
    """BoardServer behind a pty, served by a thread, with fault injection."""

    def __init__(self, model_bytes: bytes, faults: Faults | None = None, board: str = "virtual",
                 arena_size: int | None = None):
        self.server = BoardServer(model_bytes, board=board, arena_size=arena_size)
        self.faults = faults or Faults()
        self.random = random.Random(self.faults.seed)
        self.path = None
        self.frames_received = 0
        self.resets = 0
        self.bytes_dropped = 0
        self.bits_flipped = 0
        self._master = self._slave = None
        self._thread = None
        self._running = threading.Event()

    @property
    def info(self) -> BoardInfo:
        return self.server.info

    @property
    def frames_dropped(self) -> int:
        """Damaged frames the board threw away (CRC or COBS failures)."""
        return self._reader.dropped if self._thread else 0

    def start(self) -> str:
        """Open the pty, start serving; returns the path a host opens (e.g. /dev/pts/5)."""
        if self._thread is not None:
            return self.path
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)          # no echo, no line editing: a byte pipe
        self.path = os.ttyname(self._slave)
        self._reader = FrameReader()
        self._send(self.server.reset())   # like a board after power-up: ANNOUNCE
        self._running.set()
        self._thread = threading.Thread(target=self._serve, name="VirtualBoard", daemon=True)
        self._thread.start()
        return self.path

    def stop(self) -> None:
        self._running.clear()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None

    def serve_forever(self) -> None:
        """For the CLI: serve until Ctrl-C."""
        self.start()
        try:
            while self._thread.is_alive():
                self._thread.join(0.2)
        finally:
            self.stop()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def __repr__(self):
        state = f"serving at {self.path}" if self._thread else "stopped"
        return f"VirtualBoard({self.info.board!r}, {state}, {self.faults})"

    # -- the serving thread ----------------------------------------------------------

    def _serve(self):
        while self._running.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(self._master, 4096)
            except OSError:
                break
            for frame in self._reader.feed(self._corrupt(data)):
                self._on_frame(frame)

    def _on_frame(self, frame: Frame):
        self.frames_received += 1
        f = self.faults
        if f.stuck or (f.stuck_after is not None and self.frames_received > f.stuck_after):
            return
        if f.reset_after is not None and self.frames_received == f.reset_after:
            self.resets += 1       # the frame is lost in the reboot; the board says hello
            self._send(self.server.reset())
            return
        reply = self.server.handle(frame)
        if f.delay:
            time.sleep(f.delay)
        self._send(reply)

    def _send(self, frame: Frame):
        data = self._corrupt(p.encode_frame(frame.seq, frame.cmd, frame.body))
        while data and self._master is not None:
            try:
                written = os.write(self._master, data)
            except OSError:
                return
            data = data[written:]

    def _corrupt(self, data: bytes) -> bytes:
        f = self.faults
        if not (f.drop_bytes or f.flip_bits):
            return data
        out = bytearray()
        for byte in data:
            if f.drop_bytes and self.random.random() < f.drop_bytes:
                self.bytes_dropped += 1
                continue
            if f.flip_bits and self.random.random() < f.flip_bits:
                byte ^= 1 << self.random.randrange(8)
                self.bits_flipped += 1
            out.append(byte)
        return bytes(out)
