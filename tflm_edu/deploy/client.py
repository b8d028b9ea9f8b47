"""The host side of the protocol: a Board you open on a serial port and ask to run the model.

    with Board.open("/dev/ttyACM0", expected_model=model_bytes, timeout=1.0, retries=3) as board:
        print(board.info())
        output, latency_us = board.invoke(x)
        print(board.profile().table())          # the counter each op took on the board

Every request carries a fresh sequence number and waits at most `timeout` seconds for the
reply with that number; replies to older requests (a slow board) are thrown away. A request
that gets no valid reply is sent again, up to `retries` more times, then BoardTimeout.

Nothing the board says is taken on trust (docs/protocol.md, section 4): INFO is checked
against the model the host expects, every result carries the session the host gave the board
(a reboot forgets it) and the invoke it came from, and the INVOKE reply carries CRCs of the
input the board ran on and the output it produced. A reboot, a lazy board, or a result
stitched from two invokes restarts the whole invoke; after `retries + 1` attempts the host
gives up with an error that says which of those it saw.
"""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import numpy as np

from tflm_edu.deploy import protocol as p
from tflm_edu.deploy.errors import (BoardError, BoardTimeout, DeployError, ModelMismatch,
                                    PortError, ProtocolError)
from tflm_edu.deploy.protocol import BoardInfo, Frame, FrameReader
from tflm_edu.errors import InputError, check_input


POLL_SECONDS = 0.01   # the serial read timeout; a request's deadline is checked this often


class _Restart(DeployError):
    """Internal: the invoke must start over (a reboot, or replies that do not fit together)."""

    def __init__(self, reason: str, rebooted: bool = False):
        super().__init__(reason)
        self.rebooted = rebooted


def list_ports() -> list:
    """The serial ports of this machine: [(device, description), ...]."""
    from serial.tools import list_ports as lp
    return [(port.device, port.description) for port in sorted(lp.comports())]


@dataclass
class BoardProfile:
    """The ops of the board's last invoke, as its counter timed them."""
    board: str
    unit: str
    invoke: int
    events: list

    @property
    def total(self) -> int:
        return sum(e.counter for e in self.events if e.depth == 0)

    def table(self) -> str:
        rows = [f"{'#':>3}  {'op':<24} {self.unit:>14}  share"]
        total = max(self.total, 1)
        for i, e in enumerate(self.events):
            name = "  " * e.depth + e.tag
            rows.append(f"{i:>3}  {name:<24} {e.counter:>14,}  {100 * e.counter / total:5.1f}%")
        rows.append(f"{'':>3}  {'total':<24} {self.total:>14,}")
        return "\n".join(rows)

    def __repr__(self):
        return (f"BoardProfile({self.board!r}, invoke {self.invoke}, {len(self.events)} ops, "
                f"{self.total:,} {self.unit})")


class Board:
    """A board running the tflm_edu protocol server, on an open serial-like object."""

    def __init__(self, port, expected_model=None, timeout: float = 1.0, retries: int = 3,
                 name: str | None = None):
        self.port = port
        if getattr(port, "timeout", 0) is None or getattr(port, "timeout", 0) > POLL_SECONDS:
            port.timeout = POLL_SECONDS          # a blocking read would defeat the timeouts
        self.name = name or getattr(port, "port", "board")
        self.expected, self.model = _expected(expected_model)
        self.timeout, self.retries = float(timeout), int(retries)
        self.reader = FrameReader()
        self.pending: list[Frame] = []
        self.seq = 0
        self.session = 0
        self.last: p.InvokeReply | None = None   # the last INVOKE reply taken
        self.log: list[str] = []                 # what TFLM printed on the board (LOG frames)
        self.stats = {"requests": 0, "retries": 0, "restarts": 0, "stale": 0, "resets": 0}
        self._info: BoardInfo | None = None
        self._configured: tuple | None = None    # (arena, flags) the host asked for

    @classmethod
    def open(cls, port: str, expected_model=None, timeout: float = 1.0, retries: int = 3,
             baudrate: int = 115200) -> "Board":
        """Open `port`, say HELLO and check the board against `expected_model` (the .tflite
        bytes or path - then types and shapes are checked too - or its SHA-256 as bytes or
        hex). Raises PortError, BoardTimeout, ModelMismatch or ProtocolError."""
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
            try:
                self.port.close()
            except Exception:       # an unplugged port may fail to close; it is gone anyway
                pass
            self.port = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"Board({self.name!r}, {self._info!r})"

    # -- the public calls -------------------------------------------------------------

    def info(self, refresh: bool = False) -> BoardInfo:
        """The board's INFO: versions, model SHA-256, arena, tensors, counter, ops."""
        if self._info is None or refresh:
            # HELLO holds no state, so a boot during it costs nothing: ask again.
            for _ in range(self.retries + 8):
                try:
                    self._hello()
                    break
                except _Restart:
                    continue
            else:
                raise BoardTimeout(f"{self.name} kept resetting while answering HELLO")
        return self._info

    def invoke(self, *inputs):
        """Run the model on the board: returns (output, on-device latency in microseconds);
        output is an array, or a list of arrays for a model with several outputs. The last
        INVOKE reply (invoke count, counter, CRCs) is kept in `board.last`."""
        info = self.info()
        data = self._input_bytes(inputs, info)
        reason = ""
        for _ in range(self.retries + 1):
            try:
                outputs = self._invoke_once(data)
                return (outputs[0] if len(outputs) == 1 else outputs), self.last.latency_us
            except _Restart as restart:
                reason = str(restart)
                self.stats["restarts"] += 1
                if restart.rebooted:
                    self.info(refresh=True)
            except BoardError as e:
                if e.code != p.ERR_INPUT_INCOMPLETE:
                    raise
                reason = "the board lost its input"
                self.stats["restarts"] += 1
        raise ProtocolError(f"{self.name}: no consistent result in {self.retries + 1} attempts "
                            f"to invoke; last problem: {reason}. Check the power supply and the "
                            f"cable, or re-flash the firmware (tflm-edu deploy)")

    def profile(self) -> BoardProfile:
        """What the board's counter measured for each op of the last invoke."""
        if self.last is None:
            raise DeployError("profile() needs an invoke first")
        events, first = [], 0
        while True:
            page = p.decode_profile_page(self._body(p.GET_PROFILE, first.to_bytes(2, "little")))
            self._check_result(page.session, page.invoke, "GET_PROFILE")
            events += page.events
            first += len(page.events)
            if first >= page.total or not page.events:
                break
        return BoardProfile(self._info.board, self._info.counter, page.invoke, events)

    def tensor(self, index: int):
        """Tensor `index` of subgraph 0 after the last invoke, read from the board. Needs
        configure(preserve_all=True) first; an array when the host knows the model, else
        the raw bytes."""
        if self.last is None:
            raise DeployError("tensor() needs an invoke first")
        data, total = bytearray(), None
        while total is None or len(data) < total:
            length = p.MAX_CHUNK if total is None else min(p.MAX_CHUNK, total - len(data))
            body = self._body(p.GET_TENSOR, p.encode_get_tensor(index, len(data), length))
            chunk = p.decode_tensor_chunk(body)
            self._check_result(chunk.session, chunk.invoke, "GET_TENSOR")
            if total is None:
                if chunk.total > p.MAX_TENSOR_BYTES:
                    raise ProtocolError(f"{self.name} claims tensor {index} has "
                                        f"{chunk.total:,} bytes")
                total = chunk.total
            length = min(length, total - len(data))
            if (chunk.tensor, chunk.offset, len(chunk.data), chunk.total) != \
                    (index, len(data), length, total):
                raise ProtocolError(f"GET_TENSOR reply does not match the request for tensor "
                                    f"{index} at {len(data)}")
            data += chunk.data
        if self.model is None:
            return bytes(data)
        spec = self.model.subgraphs[0].tensors[index]
        if len(data) != spec.nbytes:
            raise ProtocolError(f"{self.name} sent {len(data)} bytes for tensor {index}, which "
                                f"has {spec.nbytes} bytes in the model")
        return np.frombuffer(bytes(data), dtype=spec.dtype).reshape(spec.shape).copy()

    def configure(self, arena: int | None = None, preserve_all: bool = False) -> p.Configured:
        """Rebuild the board's interpreter with `arena` bytes (default: the firmware's own
        size, or its whole arena buffer when every tensor is to be kept for tensor()).
        Returns the CONFIGURE reply; a failed allocation leaves the board not ready until the
        next successful configure(), and board.log says why."""
        if arena is None:
            arena = self.info().arena_capacity if preserve_all else 0
        flags = p.CONFIGURE_PRESERVE_ALL if preserve_all else 0
        reply = p.decode_configured(self._body(p.CONFIGURE, p.encode_configure(arena, flags)))
        self._configured = None if (arena, flags) == (0, 0) else (arena, flags)
        self._hello()                   # INFO now says what the board is configured to
        return reply

    def smallest_arena(self) -> int:
        """The smallest arena with which the board's TFLM allocates this model, by
        bisection with CONFIGURE; the board is configured back to its default afterwards."""
        from tflm_edu.memory.allocator import smallest_passing
        capacity = self.info().arena_capacity
        try:
            return smallest_passing(lambda size: self.configure(size).status == 0,
                                    min(1 << 16, capacity), limit=capacity)
        except ValueError:
            raise DeployError(f"{self.name}: the model does not allocate even in the whole "
                              f"{capacity:,}-byte arena") from None
        finally:
            self.configure(0)

    # -- one invoke: inputs, INVOKE, outputs, and the checks that bind them ----------------

    def _invoke_once(self, data: list) -> list:
        for index, tensor in enumerate(data):
            for offset in range(0, len(tensor), p.MAX_CHUNK):
                chunk = tensor[offset:offset + p.MAX_CHUNK]
                held = p.decode_held(self._body(p.SET_INPUT,
                                                p.encode_set_input(index, offset, chunk)))
                self._check_session(held.session)
                if held.tensor != index or held.held < offset + len(chunk):
                    raise _Restart("the board lost input bytes")
        reply = p.decode_invoke_reply(self._body(p.INVOKE))
        self._check_session(reply.session)
        if reply.model_prefix != self._info.model_sha256[:8]:
            raise ModelMismatch(f"{self.name} ran a model whose hash starts "
                                f"{reply.model_prefix.hex()}, not the expected "
                                f"{self._info.model_sha256[:8].hex()}: was it re-flashed?")
        if reply.status != 0:
            raise BoardError(p.ERR_INVOKE_FAILED, f"invoke status {reply.status}"
                             + (f"; the board said: {self.log[-1]}" if self.log else ""))
        seen = 0 if self.last is None else self.last.invoke
        if not 0 < (reply.invoke - seen) % (1 << 32) < (1 << 31):
            raise _Restart(f"the board acknowledged INVOKE without running it (invoke count "
                           f"{reply.invoke}, {seen} before)")
        if reply.input_crc != p.crc32(b"".join(data)):
            raise _Restart("the board ran on other input bytes than the host sent")
        outputs = [self._read_output(i, spec.nbytes, reply)
                   for i, spec in enumerate(self._info.outputs)]
        if reply.output_crc != p.crc32(b"".join(outputs)):
            raise _Restart("the output read back does not match the CRC of the invoke")
        self.last = reply
        return [np.frombuffer(out, dtype=spec.dtype).reshape(spec.shape).copy()
                for out, spec in zip(outputs, self._info.outputs)]

    def _read_output(self, index: int, nbytes: int, reply: p.InvokeReply) -> bytes:
        output = bytearray()
        while len(output) < nbytes:
            length = min(p.MAX_CHUNK, nbytes - len(output))
            chunk = p.decode_output_chunk(self._body(
                p.GET_OUTPUT, p.encode_get_output(index, len(output), length)))
            self._check_session(chunk.session)
            if chunk.invoke != reply.invoke:
                raise _Restart(f"output chunk from invoke {chunk.invoke} while reading "
                               f"invoke {reply.invoke}")
            if (chunk.tensor, chunk.offset, len(chunk.data)) != (index, len(output), length):
                raise ProtocolError("GET_OUTPUT reply does not match the request")
            output += chunk.data
        return bytes(output)

    def _input_bytes(self, inputs, info: BoardInfo) -> list:
        if len(inputs) != len(info.inputs):
            raise InputError(f"the board's model takes {len(info.inputs)} input(s), got "
                             f"{len(inputs)}")
        return [np.ascontiguousarray(check_input(x, spec.dtype, spec.shape,
                                                 f"input {i} of the board's model",
                                                 exact_shape=False)).tobytes()
                for i, (x, spec) in enumerate(zip(inputs, info.inputs))]

    def _check_session(self, session: int) -> None:
        if session != self.session:
            self.stats["resets"] += 1
            raise self._rebooted(f"the board answered for session {session:#x}, not "
                                 f"{self.session:#x}: it rebooted")

    def _rebooted(self, reason: str) -> _Restart:
        self.last = None              # a booted board counts its invokes from 0 again
        return _Restart(reason, rebooted=True)

    def _check_result(self, session: int, invoke: int, what: str) -> None:
        if session != self.session or invoke != self.last.invoke:
            raise DeployError(f"{self.name}: the {what} data is from another run (it rebooted "
                              f"or invoked since); invoke again")

    # -- HELLO and INFO ---------------------------------------------------------------

    def _hello(self) -> None:
        session = secrets.randbits(32) or 1
        self.session = session
        info = self._check_info(self._body(p.HELLO, p.encode_hello(session)))
        if info.session != session:
            raise self._rebooted("INFO carries another session")
        self._info = info
        if self._configured is not None and (info.arena_size, info.preserves_all_tensors) != \
                (self._configured[0], bool(self._configured[1] & p.CONFIGURE_PRESERVE_ALL)):
            # the board rebooted out of the configuration the host asked for: ask again
            self._body(p.CONFIGURE, p.encode_configure(*self._configured))
            self._info = self._check_info(self._body(p.HELLO, p.encode_hello(session)))

    def _check_info(self, body: bytes) -> BoardInfo:
        try:
            info = p.decode_info(body)
        except ValueError as e:
            if body[:1] and body[0] != p.PROTOCOL_VERSION:
                raise self._version_error(body[0]) from None
            raise ProtocolError(f"{self.name} sent a malformed INFO: {e}") from None
        if info.protocol_version != p.PROTOCOL_VERSION:
            raise self._version_error(info.protocol_version)
        if self.expected is not None and info.model_sha256 != self.expected:
            raise ModelMismatch(f"{self.name} holds model {info.model_sha256.hex()[:16]}..., "
                                f"not the expected {self.expected.hex()[:16]}...: flash the "
                                f"firmware generated for this model (tflm-edu deploy MODEL)")
        try:
            p.check_info(info, None if self.model is None else p.model_tensor_specs(self.model))
        except ValueError as e:
            raise ProtocolError(f"{self.name}: {e}; the firmware does not match the model - "
                                f"regenerate it with tflm-edu deploy") from None
        return info

    def _version_error(self, version: int) -> ProtocolError:
        return ProtocolError(f"{self.name} speaks protocol v{version}; this host speaks "
                             f"v{p.PROTOCOL_VERSION}: regenerate the firmware with this "
                             f"tflm_edu (tflm-edu deploy)")

    # -- requests: sequence numbers, timeouts, retries --------------------------------

    def _body(self, cmd: int, body: bytes = b"") -> bytes:
        """The body of the reply to `cmd`; a malformed body is a ProtocolError."""
        return self._request(cmd, body).body

    def _request(self, cmd: int, body: bytes = b"") -> Frame:
        """Send `cmd`, return its reply; retry on silence; raise BoardError on ERROR."""
        if self.port is None:
            raise DeployError("the board is closed")
        for attempt in range(self.retries + 1):
            self.seq = self.seq % 0xFFFF + 1            # 1..65535: seq 0 is the board's own
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
                if frame.cmd == p.LOG:
                    self.log.append(frame.body.decode("ascii", "replace").rstrip())
                    continue
                if frame.cmd == p.ANNOUNCE:
                    self.stats["resets"] += 1
                    self._check_info(frame.body)         # a re-flashed board says so here
                    raise self._rebooted("the board announced a reboot")
                if frame.seq == seq:
                    return frame
                self.stats["stale"] += 1                 # a late reply to an older request
            if time.monotonic() >= deadline:
                return None
            # read() returns what has arrived, or nothing after POLL_SECONDS: the deadline
            # is overshot by at most that much.
            self.pending += self.reader.feed(self._read())

    def _read(self) -> bytes:
        import serial
        try:
            return self.port.read(max(1, self.port.in_waiting))
        except (serial.SerialException, OSError) as e:   # termios.error is an OSError too
            raise PortError(f"reading from {self.name} failed: {e}. Was the board "
                            f"unplugged?") from None
        except Exception as e:                           # pyserial raises termios.error bare
            if type(e).__module__ == "termios":
                raise PortError(f"reading from {self.name} failed: {e}. Was the board "
                                f"unplugged?") from None
            raise

    def _write(self, data: bytes) -> None:
        import serial
        try:
            self.port.write(data)
            self.port.flush()
        except serial.SerialTimeoutException:
            pass                                         # counted as silence: retried
        except (serial.SerialException, OSError) as e:
            raise PortError(f"writing to {self.name} failed: {e}. Was the board "
                            f"unplugged?") from None
        except Exception as e:
            if type(e).__module__ == "termios":
                raise PortError(f"writing to {self.name} failed: {e}. Was the board "
                                f"unplugged?") from None
            raise


def _expected(expected_model):
    """(digest, parsed Model or None) from model bytes, a path, a Model or a digest."""
    if expected_model is None:
        return None, None
    from tflm_edu.errors import ModelError
    from tflm_edu.schema import Model, as_bytes, read_model
    if isinstance(expected_model, str) and len(expected_model) == 64:
        return p.model_hash(expected_model), None
    if isinstance(expected_model, (bytes, bytearray, memoryview)) and len(expected_model) == 32:
        return bytes(expected_model), None
    data = as_bytes(expected_model)
    if isinstance(expected_model, Model):
        return p.model_hash(data), expected_model
    try:
        return p.model_hash(data), read_model(data)
    except ModelError:           # not a model tflm_edu reads: check the hash alone
        return p.model_hash(data), None
