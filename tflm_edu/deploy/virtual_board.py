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
import struct
import random
import select
import threading
import time
import tty
from dataclasses import dataclass

import numpy as np

from tflm_edu.deploy import protocol as p
from tflm_edu.deploy.protocol import BoardInfo, Frame, FrameReader


@dataclass
class Faults:
    """What goes wrong. Probabilities are per byte; delay is seconds before each reply.

    The last four are hostile boards rather than a noisy line (docs/protocol.md, section 4):
    each is a way a real board has fooled a host into taking a wrong result."""
    drop_bytes: float = 0.0
    flip_bits: float = 0.0
    delay: float = 0.0
    reset_after: int | None = None   # reset once, on receiving the N-th frame (1-based)
    stuck: bool = False               # never answer
    stuck_after: int | None = None    # answer N frames, then never again
    seed: int = 0
    reboot_after_invoke: int | None = None  # reboot right after answering the N-th INVOKE,
                                            # its ANNOUNCE lost on the line
    lazy_invoke: bool = False         # acknowledge INVOKE without running the model
    info_override: dict | None = None  # fields of INFO the board lies about
    unplug_after: int | None = None   # vanish (close the pty) on receiving the N-th frame


class BoardServer:
    """The protocol's board side as a state machine: handle(frame) -> reply frame.
    firmware_src/protocol_server.cc is the same machine in C++; where the C++ board runs
    TFLM, this one runs tflm_edu's interpreter (Python time as its clock)."""

    def __init__(self, model_bytes: bytes, board: str = "virtual", firmware_version="2.0.0",
                 arena_size: int | None = None):
        self.model_bytes = bytes(model_bytes)
        self.board, self.firmware_version = board, firmware_version
        self.default_arena = arena_size
        self.sha256 = hashlib.sha256(self.model_bytes).digest()
        self.info_override: dict = {}
        self.lazy = False                 # a hostile board: acknowledge INVOKE, run nothing
        self._configure(arena_size, preserve_all=False)
        self.reset()

    # -- what a boot does ---------------------------------------------------------------

    def reset(self) -> Frame:
        """A reboot: the session, the invoke count, partial inputs and outputs are gone, and
        the interpreter is built again with the firmware's defaults. Returns the ANNOUNCE."""
        if self.arena_size != self.default_arena or self.preserve_all:
            self._configure(self.default_arena, preserve_all=False)
        self.session = 0
        self.invokes = 0
        self.held = [0] * len(self.inputs)
        self.input_data = [bytearray(spec.nbytes) for spec in self.inputs]
        self.output_data = [bytes(spec.nbytes) for spec in self.outputs]
        self.output_invoke = 0
        self.events: list[p.ProfileEvent] = []
        return Frame(0, p.ANNOUNCE, p.encode_info(self.info))

    def _configure(self, arena_size, preserve_all: bool) -> bool:
        from tflm_edu.op_resolver import resolver_for_model
        from tflm_edu.runtime import Interpreter
        self.arena_size, self.preserve_all = arena_size, preserve_all
        try:
            self.interpreter = Interpreter.from_bytes(
                self.model_bytes, arena_size=arena_size,
                planner="linear" if preserve_all else "greedy")
        except Exception:          # the board reports, it does not crash
            self.interpreter = None
            return False
        micro = self.interpreter.micro
        self.inputs = tuple(p.TensorSpec(micro.input(i).dtype, tuple(micro.input(i).shape))
                            for i in range(micro.inputs_size))
        self.outputs = tuple(p.TensorSpec(micro.output(i).dtype, tuple(micro.output(i).shape))
                             for i in range(micro.outputs_size))
        self.ops = resolver_for_model(self.interpreter.model).op_names
        return True

    @property
    def info(self) -> BoardInfo:
        ready = self.interpreter is not None
        used = self.interpreter.micro.arena_used_bytes() if ready else 0
        info = BoardInfo(
            p.PROTOCOL_VERSION, self.firmware_version, self.board, self.sha256,
            self.default_arena or used, self.arena_size or used, used,
            self.inputs, self.outputs, self.ops, self.session,
            (p.FLAG_READY if ready else 0) | (p.FLAG_PRESERVE_ALL if self.preserve_all else 0),
            p.COUNTER_MICROSECONDS, 0)
        for name, value in self.info_override.items():
            setattr(info, name, value)
        return info

    # -- requests -------------------------------------------------------------------------

    def handle(self, frame: Frame) -> Frame:
        handler = {p.HELLO: self._hello, p.SET_INPUT: self._set_input, p.INVOKE: self._invoke,
                   p.GET_OUTPUT: self._get_output, p.GET_PROFILE: self._get_profile,
                   p.GET_TENSOR: self._get_tensor, p.CONFIGURE: self._configure_request
                   }.get(frame.cmd)
        if handler is None:
            return self._error(frame, p.ERR_UNKNOWN_COMMAND, f"unknown command {frame.cmd}")
        if self.interpreter is None and frame.cmd not in (p.HELLO, p.CONFIGURE):
            return self._error(frame, p.ERR_NOT_READY, "the model did not allocate")
        try:
            return handler(frame)
        except ValueError as e:                 # a body of the wrong size
            return self._error(frame, p.ERR_BAD_LENGTH, str(e))

    def _reply(self, frame, body=b"") -> Frame:
        return Frame(frame.seq, frame.cmd | p.REPLY, body)

    def _error(self, frame, code, message) -> Frame:
        return Frame(frame.seq, p.ERROR, bytes([code]) + message.encode()[:200])

    def _hello(self, frame):
        self.session = p.decode_hello(frame.body)
        return self._reply(frame, p.encode_info(self.info))

    def _set_input(self, frame):
        tensor, offset, data = p.decode_set_input(frame.body)
        if tensor >= len(self.inputs) or offset > self.held[tensor] \
                or offset + len(data) > self.inputs[tensor].nbytes:
            return self._error(frame, p.ERR_OUT_OF_RANGE, f"input {tensor}: chunk at {offset} "
                               f"(+{len(data)}) does not follow the bytes held")
        self.input_data[tensor][offset:offset + len(data)] = data
        self.held[tensor] = max(self.held[tensor], offset + len(data))
        return self._reply(frame, p.encode_held(p.Held(self.session, tensor,
                                                       self.held[tensor])))

    def _invoke(self, frame):
        if any(h < spec.nbytes for h, spec in zip(self.held, self.inputs)):
            return self._error(frame, p.ERR_INPUT_INCOMPLETE, "not every input byte has arrived")
        inputs = b"".join(bytes(d) for d in self.input_data)
        start = time.perf_counter()
        if not self.lazy:
            try:
                self._run()
            except Exception as e:  # the board reports, it does not crash
                return self._error(frame, p.ERR_INVOKE_FAILED, str(e))
        latency = int((time.perf_counter() - start) * 1e6)
        self.held = [0] * len(self.inputs)        # the planner may reuse input bytes
        return self._reply(frame, p.encode_invoke_reply(p.InvokeReply(
            0, self.session, self.invokes, p.crc32(inputs), p.crc32(b"".join(self.output_data)),
            latency, latency, self.sha256[:8])))

    def _run(self):
        micro = self.interpreter.micro
        for i, spec in enumerate(self.inputs):
            micro.input(i).data[...] = np.frombuffer(bytes(self.input_data[i]),
                                                     spec.dtype).reshape(spec.shape)
        self.events = [p.ProfileEvent(max(1, int(e.seconds * 1e6)), 0, e.op_name)
                       for e in micro.steps()]
        self.invokes += 1
        self.output_data = [micro.output(i).data.tobytes() for i in range(len(self.outputs))]
        self.output_invoke = self.invokes

    def _get_output(self, frame):
        tensor, offset, length = p.decode_get_output(frame.body)
        length = min(length, p.MAX_CHUNK)
        if tensor >= len(self.outputs) or offset + length > len(self.output_data[tensor]):
            return self._error(frame, p.ERR_OUT_OF_RANGE, f"output {tensor} has "
                               f"{self.outputs[tensor].nbytes if tensor < len(self.outputs) else 0}"
                               f" bytes")
        data = self.output_data[tensor][offset:offset + length]
        return self._reply(frame, p.encode_output_chunk(
            p.Chunk(self.session, self.output_invoke, tensor, offset, data)))

    def _get_profile(self, frame):
        (first,) = struct.unpack("<H", frame.body) if len(frame.body) == 2 else (None,)
        if first is None:
            raise ValueError("GET_PROFILE needs first u16")
        if not self.invokes:
            return self._error(frame, p.ERR_NOT_AVAILABLE, "no invoke has run yet")
        events, size = [], 13
        for event in self.events[first:]:
            size += 6 + min(len(event.tag), 255)
            if size > p.MAX_BODY or len(events) == 255:
                break
            events.append(event)
        return self._reply(frame, p.encode_profile_page(p.ProfilePage(
            self.session, self.output_invoke, len(self.events), first, tuple(events))))

    def _get_tensor(self, frame):
        index, offset, length = p.decode_get_tensor(frame.body)
        if not self.preserve_all:
            return self._error(frame, p.ERR_NOT_AVAILABLE, "tensors are not preserved: "
                               "CONFIGURE with preserve-all first")
        micro = self.interpreter.micro
        if index >= len(micro.tensors):
            return self._error(frame, p.ERR_OUT_OF_RANGE, f"no tensor {index}")
        data = micro.tensor(index).data.tobytes()
        length = min(length, p.MAX_CHUNK)
        if offset > len(data):
            return self._error(frame, p.ERR_OUT_OF_RANGE, f"tensor {index} has {len(data)} bytes")
        return self._reply(frame, p.encode_tensor_chunk(p.Chunk(
            self.session, self.output_invoke, index, offset, data[offset:offset + length],
            len(data))))

    def _configure_request(self, frame):
        arena, flags = p.decode_configure(frame.body)
        ok = self._configure(arena or self.default_arena, bool(flags & p.CONFIGURE_PRESERVE_ALL))
        self.held = [0] * len(self.inputs)
        self.input_data = [bytearray(spec.nbytes) for spec in self.inputs]
        used = self.interpreter.micro.arena_used_bytes() if ok else 0
        return self._reply(frame, p.encode_configured(p.Configured(
            0 if ok else 1, self.arena_size or used, used)))


class VirtualBoard:
    """BoardServer behind a pty, served by a thread, with fault injection."""

    def __init__(self, model_bytes: bytes, faults: Faults | None = None, board: str = "virtual",
                 arena_size: int | None = None):
        self.server = BoardServer(model_bytes, board=board, arena_size=arena_size)
        self.faults = faults or Faults()
        self.server.lazy = self.faults.lazy_invoke
        self.server.info_override = dict(self.faults.info_override or {})
        self.invokes_answered = 0
        self.unplugged = False
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
        self._close()

    def reset(self) -> None:
        """Reboot the board: session, invoke count, inputs and outputs are cleared, and it
        announces itself, as a board does after a reset."""
        self.resets += 1
        self._send(self.server.reset())

    def _close(self) -> None:
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
            self.reset()           # the frame is lost in the reboot; the board says hello
            return
        if f.unplug_after is not None and self.frames_received >= f.unplug_after:
            self.unplugged = True  # the cable is pulled: the pty disappears under the host
            self._running.clear()
            self._close()
            return
        reply = self.server.handle(frame)
        if f.delay:
            time.sleep(f.delay)
        self._send(reply)
        if frame.cmd == p.INVOKE and reply.cmd == p.INVOKE | p.REPLY:
            self.invokes_answered += 1
            if self.invokes_answered == f.reboot_after_invoke:
                self.resets += 1   # it reboots, and its ANNOUNCE is lost on the line
                self.server.reset()

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
