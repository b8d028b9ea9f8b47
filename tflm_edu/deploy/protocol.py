"""The host-board serial protocol, version 1 (docs/protocol.md is the spec).

A frame on the wire is COBS-encoded and ends with one 0x00 byte, so a reader that lost its
place (a dropped byte, noise) throws away what it has and starts again at the next 0x00.
Inside the COBS envelope, little-endian:

    seq u16 | cmd u8 | length u16 | body[length] | crc32 u32      (crc over seq..body)

The board answers a request with cmd | 0x80 and the same seq, or with ERROR and the same
seq. It announces itself (ANNOUNCE, seq 0) after a reset, so the host knows that any input it
had sent is gone. The same encoder and decoder are written in C++ in
firmware_src/protocol_server.cc; the tests run one against the other.
"""
from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

PROTOCOL_VERSION = 1
DELIMITER = 0x00
MAX_CHUNK = 256                  # data bytes per SET_INPUT / GET_OUTPUT frame
MAX_BODY = 512                   # the largest body (INFO with many ops; a chunk is 260)
HEADER = struct.Struct("<HBH")   # seq, cmd, length
CRC = struct.Struct("<I")

# Commands (host -> board); a reply is cmd | REPLY.
HELLO = 0x01          # -> INFO
SET_INPUT = 0x02      # offset u32, data        -> received u32 (bytes of input held)
INVOKE = 0x03         # (empty)                 -> status u8, latency_us u32, model hash[8]
GET_OUTPUT = 0x04     # offset u32, length u16  -> offset u32, data
ANNOUNCE = 0x40       # board -> host, seq 0, after boot or reset: the INFO body
ERROR = 0x7F          # board -> host: code u8, message (ASCII)
REPLY = 0x80

COMMAND_NAMES = {HELLO: "HELLO", SET_INPUT: "SET_INPUT", INVOKE: "INVOKE",
                 GET_OUTPUT: "GET_OUTPUT", ANNOUNCE: "ANNOUNCE", ERROR: "ERROR"}

# Error codes carried by ERROR frames.
ERR_UNKNOWN_COMMAND = 1
ERR_BAD_LENGTH = 2
ERR_OUT_OF_RANGE = 3      # offset/length outside the tensor, or a gap in the input
ERR_INPUT_INCOMPLETE = 4  # INVOKE before every input byte arrived (e.g. after a reset)
ERR_INVOKE_FAILED = 5
ERR_NOT_READY = 6         # the model did not allocate on the board
ERROR_NAMES = {ERR_UNKNOWN_COMMAND: "UNKNOWN_COMMAND", ERR_BAD_LENGTH: "BAD_LENGTH",
               ERR_OUT_OF_RANGE: "OUT_OF_RANGE", ERR_INPUT_INCOMPLETE: "INPUT_INCOMPLETE",
               ERR_INVOKE_FAILED: "INVOKE_FAILED", ERR_NOT_READY: "NOT_READY"}


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


# -- INFO -------------------------------------------------------------------------------

# TFLite TensorType codes <-> numpy dtypes, for the tensor descriptions in INFO.
TENSOR_TYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64,
                7: np.int16, 9: np.int8}
TYPE_CODES = {np.dtype(v): k for k, v in TENSOR_TYPES.items()}


@dataclass
class TensorSpec:
    dtype: np.dtype
    shape: tuple

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize


@dataclass
class BoardInfo:
    """What a board says about itself in reply to HELLO (and in ANNOUNCE)."""
    protocol_version: int
    firmware_version: str
    board: str
    model_sha256: bytes
    arena_size: int
    arena_used: int
    input: TensorSpec
    output: TensorSpec
    ops: list = field(default_factory=list)

    def __repr__(self):
        def tensor(spec):
            return f"{np.dtype(spec.dtype).name}{list(spec.shape)}"
        return (f"BoardInfo({self.board!r}, firmware {self.firmware_version}, protocol "
                f"v{self.protocol_version}, model {self.model_sha256.hex()[:16]}..., arena "
                f"{self.arena_used:,}/{self.arena_size:,} bytes, input {tensor(self.input)}, "
                f"output {tensor(self.output)}, ops {self.ops})")


def _pack_str(text: str) -> bytes:
    data = text.encode("ascii", "replace")[:255]
    return bytes([len(data)]) + data


def _pack_tensor(spec: TensorSpec) -> bytes:
    code = TYPE_CODES[np.dtype(spec.dtype)]
    return struct.pack("<BB", code, len(spec.shape)) + b"".join(
        struct.pack("<I", d) for d in spec.shape)


def encode_info(info: BoardInfo) -> bytes:
    major, minor, patch = (int(p) for p in info.firmware_version.split("."))
    body = struct.pack("<BBBB", info.protocol_version, major, minor, patch)
    body += info.model_sha256 + struct.pack("<II", info.arena_size, info.arena_used)
    body += _pack_tensor(info.input) + _pack_tensor(info.output) + _pack_str(info.board)
    body += bytes([len(info.ops)]) + b"".join(_pack_str(op) for op in info.ops)
    return body


def decode_info(body: bytes) -> BoardInfo:
    """Parse an INFO body; raises ValueError when it is malformed."""
    try:
        version, major, minor, patch = struct.unpack_from("<BBBB", body, 0)
        sha = body[4:36]
        arena_size, arena_used = struct.unpack_from("<II", body, 36)
        pos = 44
        specs = []
        for _ in range(2):
            code, ndim = struct.unpack_from("<BB", body, pos)
            shape = struct.unpack_from(f"<{ndim}I", body, pos + 2)
            specs.append(TensorSpec(np.dtype(TENSOR_TYPES[code]), tuple(shape)))
            pos += 2 + 4 * ndim
        board, pos = _unpack_str(body, pos)
        ops, count = [], body[pos]
        pos += 1
        for _ in range(count):
            op, pos = _unpack_str(body, pos)
            ops.append(op)
        if len(sha) != 32:
            raise ValueError("short model hash")
    except (struct.error, IndexError, KeyError) as e:
        raise ValueError(f"malformed INFO body: {e}") from None
    return BoardInfo(version, f"{major}.{minor}.{patch}", board, sha, arena_size, arena_used,
                     specs[0], specs[1], ops)


def _unpack_str(body: bytes, pos: int):
    n = body[pos]
    if pos + 1 + n > len(body):
        raise IndexError("string runs past the end")
    return body[pos + 1:pos + 1 + n].decode("ascii", "replace"), pos + 1 + n


def model_hash(model) -> bytes:
    """SHA-256 of the .tflite bytes; accepts bytes, a 32-byte digest or its hex string."""
    if isinstance(model, str) and len(model) == 64:
        return bytes.fromhex(model)
    if isinstance(model, (bytes, bytearray, memoryview)):
        data = bytes(model)
        return data if len(data) == 32 else hashlib.sha256(data).digest()
    raise TypeError("expected_model must be the model's bytes, its SHA-256 digest (32 bytes) "
                    "or the digest as a 64-character hex string")
