"""The host-board serial protocol, version 2 (docs/protocol.md is the spec).

A frame on the wire is COBS-encoded and ends with one 0x00 byte, so a reader that lost its
place (a dropped byte, noise) throws away what it has and starts again at the next 0x00.
Inside the COBS envelope, little-endian:

    seq u16 | cmd u8 | length u16 | body[length] | crc32 u32      (crc over seq..body)

The board answers a request with cmd | 0x80 and the same seq, or with ERROR and the same
seq. It announces itself (ANNOUNCE, seq 0) after a boot, and every reply that carries
results names the session (the host's boot id, forgotten by a reboot) and the invoke it
comes from, so a rebooted or lazy board can never pass old bytes off as a new result.

This module owns the whole wire format: frames, and a codec per body (encode_* / decode_*
pairs, used by the client and by the Python board alike). The C++ board reads the same
numbers from protocol_constants.h, which constants_header() writes.
"""
from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

PROTOCOL_VERSION = 2
DELIMITER = 0x00
MAX_CHUNK = 256                  # data bytes per SET_INPUT / GET_OUTPUT / GET_TENSOR frame
MAX_BODY = 512                   # the largest body (INFO with many ops; a chunk is 269)
MAX_TENSORS = 8                  # inputs, and outputs, a board may serve
MAX_RANK = 8
MAX_TENSOR_BYTES = 64 << 20      # a bound on what any INFO may claim: 64 MiB
HEADER = struct.Struct("<HBH")   # seq, cmd, length
CRC = struct.Struct("<I")

# Commands (host -> board); a reply is cmd | REPLY.
HELLO = 0x01          # session u32                       -> INFO
SET_INPUT = 0x02      # tensor u8, offset u32, data       -> session, tensor, held u32
INVOKE = 0x03         # (empty)                           -> InvokeReply
GET_OUTPUT = 0x04     # tensor u8, offset u32, length u16 -> session, invoke, tensor, offset, data
GET_PROFILE = 0x05    # first u16                         -> ProfilePage
GET_TENSOR = 0x06     # tensor u16, offset u32, length u16 -> TensorChunk
CONFIGURE = 0x07      # arena u32, flags u8               -> status u8, arena u32, used u32
ANNOUNCE = 0x40       # board -> host, seq 0, after boot: the INFO body
LOG = 0x41            # board -> host, seq 0: text TFLM printed
ERROR = 0x7F          # board -> host: code u8, message (ASCII)
REPLY = 0x80

COMMAND_NAMES = {HELLO: "HELLO", SET_INPUT: "SET_INPUT", INVOKE: "INVOKE",
                 GET_OUTPUT: "GET_OUTPUT", GET_PROFILE: "GET_PROFILE",
                 GET_TENSOR: "GET_TENSOR", CONFIGURE: "CONFIGURE", ANNOUNCE: "ANNOUNCE",
                 LOG: "LOG", ERROR: "ERROR"}

# Error codes carried by ERROR frames.
ERR_UNKNOWN_COMMAND = 1
ERR_BAD_LENGTH = 2
ERR_OUT_OF_RANGE = 3      # index/offset/length outside the tensor, or a gap in the input
ERR_INPUT_INCOMPLETE = 4  # INVOKE before every input byte arrived (e.g. after a reset)
ERR_INVOKE_FAILED = 5
ERR_NOT_READY = 6         # the model did not allocate on the board
ERR_NOT_AVAILABLE = 7     # no such data now (tensors not preserved, no invoke yet)
ERROR_NAMES = {ERR_UNKNOWN_COMMAND: "UNKNOWN_COMMAND", ERR_BAD_LENGTH: "BAD_LENGTH",
               ERR_OUT_OF_RANGE: "OUT_OF_RANGE", ERR_INPUT_INCOMPLETE: "INPUT_INCOMPLETE",
               ERR_INVOKE_FAILED: "INVOKE_FAILED", ERR_NOT_READY: "NOT_READY",
               ERR_NOT_AVAILABLE: "NOT_AVAILABLE"}

# INFO flags and counter units.
FLAG_READY = 0x01
FLAG_PRESERVE_ALL = 0x02
CONFIGURE_PRESERVE_ALL = 0x01
COUNTER_MICROSECONDS, COUNTER_CYCLES, COUNTER_INSTRUCTIONS = 0, 1, 2
COUNTER_UNITS = {COUNTER_MICROSECONDS: "microseconds", COUNTER_CYCLES: "cycles",
                 COUNTER_INSTRUCTIONS: "instructions"}


# -- COBS -------------------------------------------------------------------------------

def cobs_encode(data: bytes) -> bytes:
    """Consistent Overhead Byte Stuffing: no 0x00 in the result; each code byte says how far
    away the next (removed) zero is. One byte of overhead per 254 bytes."""
    out, block = bytearray(), bytearray()
    for byte in data:
        if byte == 0:
            out.append(len(block) + 1)
            out += block
            block.clear()
        else:
            block.append(byte)
            if len(block) == 254:
                out.append(255)
                out += block
                block.clear()
    out.append(len(block) + 1)
    out += block
    return bytes(out)


def cobs_decode(data: bytes) -> bytes | None:
    """The inverse of cobs_encode, or None when `data` is not valid COBS."""
    out, i = bytearray(), 0
    while i < len(data):
        code = data[i]
        if code == 0 or i + code > len(data):
            return None
        block = data[i + 1:i + code]
        if 0 in block:
            return None
        out += block
        i += code
        if code < 255 and i < len(data):
            out.append(0)
    return bytes(out)


# -- frames -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Frame:
    seq: int
    cmd: int
    body: bytes = b""

    def __repr__(self):
        name = COMMAND_NAMES.get(self.cmd & ~REPLY, hex(self.cmd))
        kind = " reply" if self.cmd & REPLY else ""
        return f"Frame(seq={self.seq}, {name}{kind}, {len(self.body)} bytes)"


def encode_frame(seq: int, cmd: int, body: bytes = b"") -> bytes:
    """The bytes to write: COBS(header + body + crc32) + 0x00."""
    if len(body) > MAX_BODY:
        raise ValueError(f"frame body of {len(body)} bytes exceeds {MAX_BODY}")
    raw = HEADER.pack(seq & 0xFFFF, cmd, len(body)) + bytes(body)
    raw += CRC.pack(zlib.crc32(raw))
    return cobs_encode(raw) + bytes([DELIMITER])


def decode_frame(packet: bytes) -> Frame | None:
    """A Frame from the bytes between two delimiters, or None if it is damaged in any way
    (bad COBS, wrong length field, CRC mismatch). Damaged frames are dropped, never guessed."""
    raw = cobs_decode(packet)
    if raw is None or len(raw) < HEADER.size + CRC.size:
        return None
    seq, cmd, length = HEADER.unpack_from(raw)
    if len(raw) != HEADER.size + length + CRC.size:
        return None
    (crc,) = CRC.unpack_from(raw, len(raw) - CRC.size)
    if zlib.crc32(raw[:-CRC.size]) != crc:
        return None
    return Frame(seq, cmd, bytes(raw[HEADER.size:HEADER.size + length]))


class FrameReader:
    """Collects bytes until a delimiter and yields the frames that survive the checks.
    An over-long run without a delimiter is discarded, so garbage cannot grow memory."""

    def __init__(self):
        self.buffer = bytearray()
        self.dropped = 0          # damaged frames thrown away: useful in fault tests

    def feed(self, data: bytes) -> list[Frame]:
        frames = []
        for byte in data:
            if byte != DELIMITER:
                if len(self.buffer) < 2 * (MAX_BODY + 16):
                    self.buffer.append(byte)
                continue
            if self.buffer:
                frame = decode_frame(bytes(self.buffer))
                if frame is None:
                    self.dropped += 1
                else:
                    frames.append(frame)
                self.buffer.clear()
        return frames


# -- tensors ----------------------------------------------------------------------------

# TFLite schema TensorType codes <-> numpy dtypes, for the tensor descriptions in INFO.
TENSOR_TYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64,
                6: np.bool_, 7: np.int16, 9: np.int8, 10: np.float64, 12: np.uint64,
                15: np.uint32, 16: np.uint16}
TYPE_CODES = {np.dtype(v): k for k, v in TENSOR_TYPES.items()}


@dataclass(frozen=True)
class TensorSpec:
    """A tensor as INFO describes it: dtype and shape."""
    dtype: np.dtype
    shape: tuple

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize

    def __str__(self):
        return f"{np.dtype(self.dtype).name}{list(self.shape)}"


def _pack_str(text: str) -> bytes:
    data = text.encode("ascii", "replace")[:255]
    return bytes([len(data)]) + data


class _Reader:
    """Reads a body front to back; any overrun is a ValueError naming what was being read."""

    def __init__(self, body: bytes, what: str):
        self.body, self.pos, self.what = bytes(body), 0, what

    def unpack(self, fmt: str):
        size = struct.calcsize("<" + fmt)
        if self.pos + size > len(self.body):
            raise ValueError(f"malformed {self.what} body: {len(self.body)} bytes is too short")
        values = struct.unpack_from("<" + fmt, self.body, self.pos)
        self.pos += size
        return values if len(values) > 1 else values[0]

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.body):
            raise ValueError(f"malformed {self.what} body: {len(self.body)} bytes is too short")
        self.pos += n
        return self.body[self.pos - n:self.pos]

    def string(self) -> str:
        return self.take(self.unpack("B")).decode("ascii", "replace")

    def rest(self) -> bytes:
        return self.take(len(self.body) - self.pos)

    def end(self):
        if self.pos != len(self.body):
            raise ValueError(f"malformed {self.what} body: {len(self.body) - self.pos} bytes "
                             f"left over")


def _unpack_whole(body: bytes, fmt: str, what: str):
    """A body that is exactly one fixed-size record: its fields (one field: the value)."""
    r = _Reader(body, what)
    values = r.unpack(fmt)
    r.end()
    return values


def _pack_tensors(specs) -> bytes:
    body = bytes([len(specs)])
    for spec in specs:
        body += struct.pack("<BB", TYPE_CODES[np.dtype(spec.dtype)], len(spec.shape))
        body += b"".join(struct.pack("<I", d) for d in spec.shape)
    return body


def _unpack_tensors(r: _Reader) -> tuple:
    specs = []
    for _ in range(r.unpack("B")):
        code, rank = r.unpack("BB")
        shape = tuple(r.unpack(f"{rank}I")) if rank > 1 else ((r.unpack("I"),) if rank else ())
        if code not in TENSOR_TYPES:
            raise ValueError(f"malformed INFO body: tensor type code {code} is not one of "
                             f"TFLite's")
        specs.append(TensorSpec(np.dtype(TENSOR_TYPES[code]), shape))
    return tuple(specs)


# -- INFO -------------------------------------------------------------------------------

@dataclass
class BoardInfo:
    """What a board says about itself in reply to HELLO (and in ANNOUNCE)."""
    protocol_version: int
    firmware_version: str
    board: str
    model_sha256: bytes
    arena_capacity: int
    arena_size: int
    arena_used: int
    inputs: tuple
    outputs: tuple
    ops: list = field(default_factory=list)
    session: int = 0
    flags: int = FLAG_READY
    counter_unit: int = COUNTER_MICROSECONDS
    clock_hz: int = 0

    @property
    def ready(self) -> bool:
        return bool(self.flags & FLAG_READY)

    @property
    def preserves_all_tensors(self) -> bool:
        return bool(self.flags & FLAG_PRESERVE_ALL)

    @property
    def input(self) -> TensorSpec:
        """The first input (the examples have one)."""
        return self.inputs[0]

    @property
    def output(self) -> TensorSpec:
        return self.outputs[0]

    @property
    def counter(self) -> str:
        return COUNTER_UNITS.get(self.counter_unit, f"unit {self.counter_unit}")

    def __repr__(self):
        tensors = ", ".join(map(str, self.inputs)) + " -> " + ", ".join(map(str, self.outputs))
        state = "ready" if self.ready else "NOT READY"
        return (f"BoardInfo({self.board!r}, firmware {self.firmware_version}, protocol "
                f"v{self.protocol_version}, model {self.model_sha256.hex()[:16]}..., {state}, "
                f"arena {self.arena_used:,}/{self.arena_size:,} bytes (capacity "
                f"{self.arena_capacity:,}), {tensors}, counts {self.counter}, ops {self.ops})")


INFO_HEAD = struct.Struct("<BBBBI32sIIIBBI")


def encode_info(info: BoardInfo) -> bytes:
    major, minor, patch = (int(p) for p in info.firmware_version.split("."))
    body = INFO_HEAD.pack(info.protocol_version, major, minor, patch, info.session,
                          info.model_sha256, info.arena_capacity, info.arena_size,
                          info.arena_used, info.flags, info.counter_unit, info.clock_hz)
    body += _pack_tensors(info.inputs) + _pack_tensors(info.outputs) + _pack_str(info.board)
    ops = b""
    count = 0
    for op in info.ops:           # as many op names as fit, as the C++ server does
        packed = _pack_str(op)
        if len(body) + 1 + len(ops) + len(packed) > MAX_BODY:
            break
        ops, count = ops + packed, count + 1
    return body + bytes([count]) + ops


def decode_info(body: bytes) -> BoardInfo:
    """Parse an INFO body; raises ValueError when it is malformed."""
    r = _Reader(body, "INFO")
    version, major, minor, patch, session, sha, capacity, size, used, flags, unit, clock = \
        r.unpack(INFO_HEAD.format[1:])
    inputs, outputs = _unpack_tensors(r), _unpack_tensors(r)
    board = r.string()
    ops = [r.string() for _ in range(r.unpack("B"))]
    r.end()
    return BoardInfo(version, f"{major}.{minor}.{patch}", board, sha, capacity, size, used,
                     inputs, outputs, ops, session, flags, unit, clock)


def check_info(info: BoardInfo, expected=None) -> None:
    """What a host checks before trusting INFO (docs/protocol.md section 4); ValueError says
    what is wrong. `expected`: (inputs, outputs) as TensorSpec tuples from the model, or None.
    A board that is not ready (its model did not allocate) cannot describe its tensors."""
    for kind, specs in (("inputs", info.inputs), ("outputs", info.outputs)):
        if not info.ready and not specs:
            continue
        if not 1 <= len(specs) <= MAX_TENSORS:
            raise ValueError(f"the board reports {len(specs)} {kind}; 1 to {MAX_TENSORS} are "
                             f"allowed")
        for i, spec in enumerate(specs):
            if len(spec.shape) > MAX_RANK or any(d == 0 for d in spec.shape):
                raise ValueError(f"the board reports {kind[:-1]} {i} of shape "
                                 f"{list(spec.shape)}, which no model tensor has")
            if spec.nbytes > MAX_TENSOR_BYTES:
                raise ValueError(f"the board reports {kind[:-1]} {i} of {spec.nbytes:,} bytes, "
                                 f"more than the {MAX_TENSOR_BYTES >> 20} MiB any board holds")
    if expected is not None and info.ready:
        for kind, got, want in (("inputs", info.inputs, expected[0]),
                                ("outputs", info.outputs, expected[1])):
            if tuple(got) != tuple(want):
                raise ValueError(f"the board reports {kind} {', '.join(map(str, got))} but the "
                                 f"model has {', '.join(map(str, want))}")


def model_tensor_specs(model) -> tuple:
    """(inputs, outputs) of subgraph 0 as TensorSpecs: what a board serving `model` must say."""
    from tflm_edu.schema import as_model
    model = as_model(model)
    graph = model.subgraphs[0]

    def spec(index):
        tensor = graph.tensors[index]
        return TensorSpec(np.dtype(tensor.dtype), tuple(int(d) for d in tensor.shape))
    return (tuple(spec(i) for i in graph.inputs), tuple(spec(i) for i in graph.outputs))


# -- request and reply bodies -----------------------------------------------------------

def encode_hello(session: int) -> bytes:
    return struct.pack("<I", session)


def decode_hello(body: bytes) -> int:
    return _unpack_whole(body, "I", "HELLO")


def encode_set_input(tensor: int, offset: int, data: bytes) -> bytes:
    return struct.pack("<BI", tensor, offset) + bytes(data)


def decode_set_input(body: bytes) -> tuple:
    """(tensor, offset, data)."""
    r = _Reader(body, "SET_INPUT")
    tensor, offset = r.unpack("BI")
    return tensor, offset, r.rest()


@dataclass(frozen=True)
class Held:
    """The SET_INPUT reply."""
    session: int
    tensor: int
    held: int


def encode_held(held: Held) -> bytes:
    return struct.pack("<IBI", held.session, held.tensor, held.held)


def decode_held(body: bytes) -> Held:
    return Held(*_unpack_whole(body, "IBI", "SET_INPUT reply"))


@dataclass(frozen=True)
class InvokeReply:
    """What INVOKE returns: the status, which run this was, what it ran on and produced
    (CRCs), how long it took, and which model ran."""
    status: int
    session: int
    invoke: int
    input_crc: int
    output_crc: int
    counter: int
    latency_us: int
    model_prefix: bytes


INVOKE_REPLY = "BIIIIII8s"


def encode_invoke_reply(reply: InvokeReply) -> bytes:
    return struct.pack("<" + INVOKE_REPLY, reply.status, reply.session, reply.invoke,
                       reply.input_crc, reply.output_crc, reply.counter, reply.latency_us,
                       reply.model_prefix)


def decode_invoke_reply(body: bytes) -> InvokeReply:
    return InvokeReply(*_unpack_whole(body, INVOKE_REPLY, "INVOKE reply"))


def encode_get_output(tensor: int, offset: int, length: int) -> bytes:
    return struct.pack("<BIH", tensor, offset, length)


def decode_get_output(body: bytes) -> tuple:
    return _unpack_whole(body, "BIH", "GET_OUTPUT")


@dataclass(frozen=True)
class Chunk:
    """A piece of an output (GET_OUTPUT) or of any tensor (GET_TENSOR), with the session and
    invoke it belongs to. `total` is the tensor's size (GET_TENSOR only)."""
    session: int
    invoke: int
    tensor: int
    offset: int
    data: bytes
    total: int = 0


def encode_output_chunk(chunk: Chunk) -> bytes:
    return struct.pack("<IIBI", chunk.session, chunk.invoke, chunk.tensor,
                       chunk.offset) + chunk.data


def decode_output_chunk(body: bytes) -> Chunk:
    r = _Reader(body, "GET_OUTPUT reply")
    session, invoke, tensor, offset = r.unpack("IIBI")
    return Chunk(session, invoke, tensor, offset, r.rest())


def encode_get_tensor(tensor: int, offset: int, length: int) -> bytes:
    return struct.pack("<HIH", tensor, offset, length)


def decode_get_tensor(body: bytes) -> tuple:
    return _unpack_whole(body, "HIH", "GET_TENSOR")


def encode_tensor_chunk(chunk: Chunk) -> bytes:
    return struct.pack("<IIHII", chunk.session, chunk.invoke, chunk.tensor, chunk.total,
                       chunk.offset) + chunk.data


def decode_tensor_chunk(body: bytes) -> Chunk:
    r = _Reader(body, "GET_TENSOR reply")
    session, invoke, tensor, total, offset = r.unpack("IIHII")
    return Chunk(session, invoke, tensor, offset, r.rest(), total)


@dataclass(frozen=True)
class ProfileEvent:
    """One op as the board timed it: its counter reading, nesting depth and TFLM's tag."""
    counter: int
    depth: int
    tag: str


@dataclass(frozen=True)
class ProfilePage:
    session: int
    invoke: int
    total: int
    first: int
    events: tuple


def encode_profile_page(page: ProfilePage) -> bytes:
    body = struct.pack("<IIHHB", page.session, page.invoke, page.total, page.first,
                       len(page.events))
    for event in page.events:
        body += struct.pack("<IB", event.counter, event.depth) + _pack_str(event.tag)
    return body


def decode_profile_page(body: bytes) -> ProfilePage:
    r = _Reader(body, "GET_PROFILE reply")
    session, invoke, total, first, count = r.unpack("IIHHB")
    events = []
    for _ in range(count):
        counter, depth = r.unpack("IB")
        events.append(ProfileEvent(counter, depth, r.string()))
    r.end()
    return ProfilePage(session, invoke, total, first, tuple(events))


def encode_configure(arena: int, flags: int) -> bytes:
    return struct.pack("<IB", arena, flags)


def decode_configure(body: bytes) -> tuple:
    return _unpack_whole(body, "IB", "CONFIGURE")


@dataclass(frozen=True)
class Configured:
    """The CONFIGURE reply: did AllocateTensors succeed, with how many bytes, using how many."""
    status: int
    arena_size: int
    arena_used: int


def encode_configured(reply: Configured) -> bytes:
    return struct.pack("<BII", reply.status, reply.arena_size, reply.arena_used)


def decode_configured(body: bytes) -> Configured:
    return Configured(*_unpack_whole(body, "BII", "CONFIGURE reply"))


def crc32(data: bytes) -> int:
    """The CRC of the frames, of INVOKE's input and output bytes: zlib's CRC-32."""
    return zlib.crc32(data) & 0xFFFFFFFF


def model_hash(model) -> bytes:
    """SHA-256 of the .tflite bytes; accepts bytes, a 32-byte digest or its hex string."""
    if isinstance(model, str) and len(model) == 64:
        return bytes.fromhex(model)
    if isinstance(model, (bytes, bytearray, memoryview)):
        data = bytes(model)
        return data if len(data) == 32 else hashlib.sha256(data).digest()
    raise TypeError("expected_model must be the model's bytes, its SHA-256 digest (32 bytes) "
                    "or the digest as a 64-character hex string")


# -- the C++ side's numbers -------------------------------------------------------------

def constants_header() -> str:
    """protocol_constants.h: the numbers of this module as C++ constants, for the firmware."""
    def block(names):
        return "\n".join(f"  k{_camel(name)} = 0x{globals()[name]:02X}," for name in names)
    commands = ["HELLO", "SET_INPUT", "INVOKE", "GET_OUTPUT", "GET_PROFILE", "GET_TENSOR",
                "CONFIGURE", "ANNOUNCE", "LOG", "ERROR", "REPLY"]
    errors = [name for name in globals() if name.startswith("ERR_")]
    return f"""// Made by tflm_edu.deploy.protocol.constants_header(): the numbers of protocol v2
// (docs/protocol.md), written from the Python module so the two sides cannot drift apart.
#ifndef TFLM_EDU_PROTOCOL_CONSTANTS_H_
#define TFLM_EDU_PROTOCOL_CONSTANTS_H_

#include <stdint.h>

namespace tflm_edu {{

constexpr uint8_t kProtocolVersion = {PROTOCOL_VERSION};
constexpr int kMaxChunk = {MAX_CHUNK};
constexpr int kMaxBody = {MAX_BODY};
constexpr int kMaxTensors = {MAX_TENSORS};
constexpr int kMaxRank = {MAX_RANK};

enum Command : uint8_t {{
{block(commands)}
}};

enum ErrorCode : uint8_t {{
{block(errors)}
}};

constexpr uint8_t kFlagReady = 0x{FLAG_READY:02X};
constexpr uint8_t kFlagPreserveAll = 0x{FLAG_PRESERVE_ALL:02X};
constexpr uint8_t kConfigurePreserveAll = 0x{CONFIGURE_PRESERVE_ALL:02X};
constexpr uint8_t kCounterMicroseconds = {COUNTER_MICROSECONDS};
constexpr uint8_t kCounterCycles = {COUNTER_CYCLES};
constexpr uint8_t kCounterInstructions = {COUNTER_INSTRUCTIONS};

}}  // namespace tflm_edu

#endif  // TFLM_EDU_PROTOCOL_CONSTANTS_H_
"""


def _camel(name: str) -> str:
    """SET_INPUT -> SetInput, ERR_OUT_OF_RANGE -> ErrOutOfRange."""
    return "".join(part.capitalize() for part in name.split("_"))
