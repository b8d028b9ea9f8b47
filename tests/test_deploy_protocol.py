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
    info = p.BoardInfo(2, "1.2.3", "nano33ble", hashlib.sha256(b"m").digest(), 120_000, 100_000,
                       81_234, (p.TensorSpec(np.dtype(np.int8), (1, 96, 96, 1)),),
                       (p.TensorSpec(np.dtype(np.int8), (1, 2)),
                        p.TensorSpec(np.dtype(np.float32), ())), ["CONV_2D", "SOFTMAX"],
                       session=0xDEADBEEF, flags=p.FLAG_READY | p.FLAG_PRESERVE_ALL,
                       counter_unit=p.COUNTER_INSTRUCTIONS, clock_hz=25_000_000)
    assert p.decode_info(p.encode_info(info)) == info
    assert info.ready and info.preserves_all_tensors and info.counter == "instructions"
    with pytest.raises(ValueError, match="malformed INFO"):
        p.decode_info(p.encode_info(info)[:50])
    with pytest.raises(ValueError, match="left over"):
        p.decode_info(p.encode_info(info) + b"\x00")


def test_info_keeps_to_the_body_limit_by_dropping_op_names():
    info = p.BoardInfo(2, "1.0.0", "b", bytes(32), 1, 1, 1,
                       (p.TensorSpec(np.dtype(np.int8), (1, 2)),),
                       (p.TensorSpec(np.dtype(np.int8), (1, 2)),),
                       [f"OP_NUMBER_{i:03d}" for i in range(60)])
    body = p.encode_info(info)
    assert len(body) <= p.MAX_BODY
    decoded = p.decode_info(body)
    assert 0 < len(decoded.ops) < 60 and decoded.ops == info.ops[:len(decoded.ops)]


@pytest.mark.parametrize("shape,match", [((1, 0), "shape"), ((1 << 31,), "MiB"),
                                         (tuple([1] * 9), "shape")])
def test_info_that_no_model_could_have_is_refused(shape, match):
    spec = p.TensorSpec(np.dtype(np.int8), shape)
    info = p.BoardInfo(2, "1.0.0", "b", bytes(32), 1, 1, 1, (spec,), (spec,))
    with pytest.raises(ValueError, match=match):
        p.check_info(info)


def test_info_is_checked_against_the_model():
    int8 = p.TensorSpec(np.dtype(np.int8), (1, 2))
    int16 = p.TensorSpec(np.dtype(np.int16), (1, 2))
    info = p.BoardInfo(2, "1.0.0", "b", bytes(32), 1, 1, 1, (int8,), (int16,))
    p.check_info(info, ((int8,), (int16,)))
    with pytest.raises(ValueError, match="outputs int16\\[1, 2\\] but the model has int8"):
        p.check_info(info, ((int8,), (int8,)))


@pytest.mark.parametrize("encode,decode,value", [
    (p.encode_held, p.decode_held, p.Held(7, 1, 512)),
    (p.encode_invoke_reply, p.decode_invoke_reply,
     p.InvokeReply(0, 7, 3, 0x1234, 0xFFFFFFFF, 525_844_280, 525_844, b"\x80" * 8)),
    (p.encode_output_chunk, p.decode_output_chunk, p.Chunk(7, 3, 0, 256, b"\x01\x02")),
    (p.encode_tensor_chunk, p.decode_tensor_chunk, p.Chunk(7, 3, 300, 0, b"\x05", 9216)),
    (p.encode_profile_page, p.decode_profile_page,
     p.ProfilePage(7, 3, 31, 0, (p.ProfileEvent(1000, 0, "CONV_2D"),
                                 p.ProfileEvent(40, 1, "RESHAPE")))),
    (p.encode_configured, p.decode_configured, p.Configured(0, 91_136, 82_292)),
])
def test_reply_bodies_round_trip(encode, decode, value):
    assert decode(encode(value)) == value


def test_request_bodies_round_trip():
    assert p.decode_hello(p.encode_hello(0xC0FFEE)) == 0xC0FFEE
    assert p.decode_set_input(p.encode_set_input(2, 512, b"abc")) == (2, 512, b"abc")
    assert p.decode_get_output(p.encode_get_output(1, 256, 10)) == (1, 256, 10)
    assert p.decode_get_tensor(p.encode_get_tensor(300, 256, 10)) == (300, 256, 10)
    assert p.decode_configure(p.encode_configure(82_292, 1)) == (82_292, 1)
    with pytest.raises(ValueError, match="too short"):
        p.decode_get_output(b"\x00")


def test_constants_header_carries_every_number():
    header = p.constants_header()
    for name, value in p.COMMAND_NAMES.items():
        camel = "".join(part.capitalize() for part in value.split("_"))
        assert f"k{camel} = 0x{name:02X}," in header
    for code, name in p.ERROR_NAMES.items():
        camel = "".join(part.capitalize() for part in name.split("_"))
        assert f"kErr{camel} = 0x{code:02X}," in header
    assert f"kProtocolVersion = {p.PROTOCOL_VERSION};" in header


def test_model_hash_forms():
    digest = hashlib.sha256(b"model").digest()
    assert p.model_hash(b"model") == digest == p.model_hash(digest) == p.model_hash(digest.hex())
    with pytest.raises(TypeError):
        p.model_hash(3)
