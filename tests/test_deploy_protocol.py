"""The frame format: COBS round trips, CRC catches damage, the reader resynchronises."""
import hashlib
import zlib

import numpy as np
import pytest

from tflm_edu.deploy import protocol as p


@pytest.mark.parametrize("data", [b"", b"\x00", b"\x00\x00", b"abc", bytes(range(256)),
                                  bytes(254 * [1]), bytes(255 * [1]) + b"\x00", bytes(600)])
def test_cobs_round_trip_has_no_zero(data):
    encoded = p.cobs_encode(data)
    assert 0 not in encoded
    assert p.cobs_decode(encoded) == data


def test_cobs_known_vectors():
    # The examples of Cheshire & Baker's paper / the Wikipedia table.
    assert p.cobs_encode(b"\x00") == b"\x01\x01"
    assert p.cobs_encode(b"\x11\x22\x00\x33") == b"\x03\x11\x22\x02\x33"
    assert p.cobs_encode(b"\x11\x00\x00\x00") == b"\x02\x11\x01\x01\x01"


def test_frame_layout_and_crc():
    wire = p.encode_frame(7, p.SET_INPUT, b"\x00\x01\x02")
    assert wire[-1] == 0 and 0 not in wire[:-1]
    raw = p.cobs_decode(wire[:-1])
    assert raw[:5] == bytes([7, 0, p.SET_INPUT, 3, 0])
    assert int.from_bytes(raw[-4:], "little") == zlib.crc32(raw[:-4])
    assert p.decode_frame(wire[:-1]) == p.Frame(7, p.SET_INPUT, b"\x00\x01\x02")


def test_every_single_bit_flip_is_rejected():
    wire = p.encode_frame(300, p.GET_OUTPUT, bytes(range(1, 40)))[:-1]
    for i in range(len(wire)):
        for bit in range(8):
            damaged = bytearray(wire)
            damaged[i] ^= 1 << bit
            if 0 in damaged:          # a new delimiter splits the frame: both halves die
                parts = bytes(damaged).split(b"\x00")
                assert all(p.decode_frame(part) is None for part in parts if part)
            else:
                assert p.decode_frame(bytes(damaged)) is None


def test_reader_resynchronises_after_garbage():

    good = [p.encode_frame(i, p.HELLO, bytes([i]) * i) for i in range(1, 6)]
    stream = b"garbage\x00" + good[0] + good[1][:5] + good[2] + b"\x13\x37" + good[3] + good[4]
    reader = p.FrameReader()
    frames = []
    for i in range(0, len(stream), 3):            # arrives in small pieces
        frames += reader.feed(stream[i:i + 3])
    # good[1] was cut short and glued to good[2]: both are lost, so is the one after garbage
    assert [f.seq for f in frames] == [1, 5]
    assert reader.dropped == 3


def test_info_round_trip():
    info = p.BoardInfo(1, "1.2.3", "nano33ble", hashlib.sha256(b"m").digest(), 100_000, 81_234,
                       p.TensorSpec(np.dtype(np.int8), (1, 96, 96, 1)),
                       p.TensorSpec(np.dtype(np.int8), (1, 2)), ["CONV_2D", "SOFTMAX"])
    assert p.decode_info(p.encode_info(info)) == info
    with pytest.raises(ValueError, match="malformed INFO"):
        p.decode_info(p.encode_info(info)[:50])


def test_model_hash_forms():
    digest = hashlib.sha256(b"model").digest()
    assert p.model_hash(b"model") == digest == p.model_hash(digest) == p.model_hash(digest.hex())
    with pytest.raises(TypeError):
        p.model_hash(3)
