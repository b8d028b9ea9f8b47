"""Reading .tflite files: the reference models, round trips, and the schema's corners.

The oracle for the reference models is the flatc-generated Python schema shipped with
LiteRT (ai_edge_litert.schema_py_generated): a reader written by someone else, from the
same schema.fbs. The corners - opcodes of old and new files, optional inputs, buffers
stored after the FlatBuffer - are built by hand, byte for byte.
"""
from __future__ import annotations

import struct

import numpy as np
import pytest

from conftest import reference_model
from models import one_op_model, tensor, tiny_fc_model
from tflm_edu.errors import ModelError
from tflm_edu.interpreter import MicroInterpreter
from tflm_edu.op_resolver import AllOpsResolver
from tflm_edu.schema import load_model, read_model, write_model
from tflm_edu.schema import writer as writer_module
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType
from tflm_edu.schema.model import Buffer, tensor_data
from tflm_edu.schema.options import Conv2DOptions

REFERENCE_MODELS = ["hello_world_int8.tflite", "hello_world_float.tflite",
                    "micro_speech_quantized.tflite", "magic_wand.tflite", "person_detect.tflite",
                    "audio_preprocessor_int8.tflite", "audio_preprocessor_float.tflite"]


# ----------------------------------------------------------------------------- reference models


@pytest.mark.parametrize("name", REFERENCE_MODELS)
def test_reference_model_matches_the_generated_schema_reader(name):
    """Every field tflm_edu reads equals what flatc's own reader finds in the same bytes."""
    schema = pytest.importorskip("ai_edge_litert.schema_py_generated",
                                 reason="the oracle ai-edge-litert is not installed")
    data = reference_model(name).read_bytes()
    ours, theirs = read_model(data), schema.ModelT.InitFromPackedBuf(data, 0)
    assert ours.version == theirs.version == 3
    # TOCO-era files (magic_wand, micro_speech, person_detect) have only the int8 field;
    # schema_utils.cc GetBuiltinCode reads max(builtin_code, deprecated_builtin_code).
    assert [(c.builtin_code, c.deprecated_builtin_code, c.version, c.custom_code)
            for c in ours.operator_codes] == [
        (max(c.builtinCode, c.deprecatedBuiltinCode), c.deprecatedBuiltinCode, c.version,
         _text(c.customCode)) for c in theirs.operatorCodes]
    assert [b.data for b in ours.buffers] == [_raw(b.data) for b in theirs.buffers]
    for sg, their_sg in zip(ours.subgraphs, theirs.subgraphs, strict=True):
        assert (sg.inputs, sg.outputs) == (_ints(their_sg.inputs), _ints(their_sg.outputs))
        for t, their in zip(sg.tensors, their_sg.tensors, strict=True):
            _assert_same_tensor(t, their)
        for op, their in zip(sg.operators, their_sg.operators, strict=True):
            assert (op.opcode_index, op.inputs, op.outputs, op.builtin_options_type) == (
                their.opcodeIndex, _ints(their.inputs), _ints(their.outputs),
                their.builtinOptionsType)


def _assert_same_tensor(t, their):
    assert (t.shape, t.type, t.buffer, t.name, t.is_variable) == (
        _ints(their.shape), their.type, their.buffer, _text(their.name), their.isVariable)
    q = their.quantization
    if t.quantization is None or q is None:
        assert t.quantization is None and q is None
        return
    assert t.quantization.scale == tuple(np.float32(s).item() for s in _list(q.scale))
    assert t.quantization.zero_point == _ints(q.zeroPoint)
    assert t.quantization.quantized_dimension == q.quantizedDimension


def _list(values):
    return [] if values is None else list(values)


def _ints(values):
    return tuple(int(v) for v in _list(values))


def _raw(values):
    return bytes(np.asarray(_list(values), np.uint8))


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


@pytest.mark.parametrize("name", REFERENCE_MODELS)
def test_reference_model_round_trips(name):
    """read(write(m)) == m field by field, and the rewritten file reads the same again."""
    model = read_model(reference_model(name).read_bytes())
    rewritten = write_model(model)
    assert read_model(rewritten) == model
    assert write_model(read_model(rewritten)) == rewritten


def test_hello_world_int8_contents():
    model = load_model(reference_model("hello_world_int8.tflite"))
    sg = model.subgraphs[0]
    assert [model.op_name(op) for op in sg.operators] == ["FULLY_CONNECTED"] * 3
    x = sg.tensors[sg.inputs[0]]
    assert (x.shape, x.type) == ((1, 1), TensorType.INT8)
    assert x.quantization.zero_point == (-128,)
    weights = tensor_data(model, sg.tensors[sg.operators[0].inputs[1]])
    assert weights.shape == (16, 1) and weights.dtype == np.int8


def test_read_model_wants_bytes_not_a_path(tmp_path):
    with pytest.raises(TypeError, match="load_model"):
        read_model(str(tmp_path / "model.tflite"))
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "model.tflite")


def test_metadata_and_signatures_are_listed():
    model = read_model(reference_model("hello_world_int8.tflite").read_bytes())
    assert [m.name for m in model.metadata] == ["min_runtime_version", "CONVERSION_METADATA"]
    assert model.metadata_bytes("min_runtime_version").rstrip(b"\0") == b"1.14.0"
    assert model.metadata_bytes("no such entry") is None
    (signature,) = model.signature_defs
    sg = model.subgraphs[signature.subgraph_index]
    assert signature.signature_key == "serving_default"
    assert [(m.name, m.tensor_index) for m in signature.inputs] == [("dense_input", sg.inputs[0])]
    assert [(m.name, m.tensor_index) for m in signature.outputs] == [("dense_2", sg.outputs[0])]
    assert model.description == "MLIR Converted."


def test_model_without_metadata_or_signatures():
    model = read_model(reference_model("person_detect.tflite").read_bytes())
    assert model.metadata == [] and model.signature_defs == []
    assert model.metadata_bytes("min_runtime_version") is None


# ----------------------------------------------------------------------------- builtin codes


class _RawOpcodeWriter(writer_module._Writer):
    """Writes OperatorCode fields exactly as given, where write_model derives the int8
    field from the int32 one. builtin_code 0 is a default, so it is left out of the file:
    exactly what a writer from before schema 3a (which had no int32 field) produced."""

    def operator_code(self, code):
        custom = self.string(code.custom_code)
        return self.table([(0, "b", code.deprecated_builtin_code, 0), (1, "o", custom, None),
                           (2, "i", code.version, 1), (3, "i", code.builtin_code, 0)])


FC_WEIGHTS = [[1, 2, 3], [-1, 0.5, 2]]  # for tiny_fc_model: [1, 1, 1] gives [6, 1.5] + bias


def test_old_file_with_only_the_int8_opcode_field():
    model = tiny_fc_model(FC_WEIGHTS)
    model.operator_codes[0].builtin_code = 0  # absent from the file
    model.operator_codes[0].deprecated_builtin_code = Op.FULLY_CONNECTED
    data = _RawOpcodeWriter().model(model)
    code = read_model(data).operator_codes[0]
    assert (code.builtin_code, code.deprecated_builtin_code) == (Op.FULLY_CONNECTED,) * 2
    assert code.name == "FULLY_CONNECTED"
    _assert_runs(read_model(data), [[1, 1, 1]], [[6.5, 0.5]])


def test_codes_above_127_use_the_placeholder():
    # GELU is 150: past what the int8 field holds
    model = one_op_model(Op.GELU, [tensor((1, 4))], None, tensor((1, 4)))
    code = read_model(write_model(model)).operator_codes[0]
    assert (code.builtin_code, code.deprecated_builtin_code) == (150, 127)
    assert code.name == "GELU"


def test_new_field_wins_over_a_stale_int8_field():
    """GetBuiltinCode takes max(builtin_code, deprecated_builtin_code)."""
    model = tiny_fc_model(FC_WEIGHTS)
    model.operator_codes[0].deprecated_builtin_code = 3  # CONV_2D, stale
    code = read_model(_RawOpcodeWriter().model(model)).operator_codes[0]
    assert code.builtin_code == Op.FULLY_CONNECTED


# ----------------------------------------------------------------------------- optional inputs


def _assert_runs(model, x, expected):
    interpreter = MicroInterpreter(model, AllOpsResolver(), None)
    interpreter.allocate_tensors()
    interpreter.input(0).data[...] = np.asarray(x, np.float32)
    interpreter.invoke()
    np.testing.assert_array_equal(interpreter.output(0).data, np.asarray(expected, np.float32))


def test_absent_fully_connected_bias_is_read_as_minus_one_and_runs():
    model = read_model(write_model(tiny_fc_model(FC_WEIGHTS, bias=False)))
    assert model.subgraphs[0].operators[0].inputs[2] == -1
    _assert_runs(model, [[1, 1, 1]], [[6, 1.5]])


def test_absent_conv_bias_is_accepted():
    model = read_model(write_model(one_op_model(
        Op.CONV_2D, [tensor((1, 3, 3, 1)), tensor((1, 2, 2, 1), data=np.ones((1, 2, 2, 1))), -1],
        Conv2DOptions(padding=1, stride_w=1, stride_h=1), tensor((1, 2, 2, 1)))))
    assert model.subgraphs[0].operators[0].inputs == (0, 1, -1)
    _assert_runs(model, np.arange(9).reshape(1, 3, 3, 1), [[[[8], [12]], [[20], [24]]]])


# ----------------------------------------------------------------------------- external buffers


class _ExternalBufferWriter(writer_module._Writer):
    """Also writes Buffer.offset / Buffer.size, which write_model never writes. The bytes
    of a buffer with an offset are appended after the FlatBuffer by the caller."""

    def buffer(self, buf):
        data = self.aligned_bytes(buf.data) if buf.data else None
        return self.table([(0, "o", data, None), (1, "Q", buf.offset, 0), (2, "Q", buf.size, 0)])


def external_buffer_file(model, moved: list[int]) -> tuple[bytes, list[int]]:
    """`model` written with the buffers `moved` stored after the FlatBuffer, 16-aligned,
    as the converter lays out models over 2 GB. Returns the bytes and each offset."""
    contents = [model.buffers[i].data for i in moved]
    markers = [0x5AFE_0000_0000 + i for i in range(len(moved))]  # patched below
    for i, marker in zip(moved, markers):
        model.buffers[i] = Buffer(data=b"", offset=marker, size=len(model.buffers[i].data))
    out = bytearray(_ExternalBufferWriter().model(model))
    offsets = []
    for marker, content in zip(markers, contents):
        out.extend(bytes(-len(out) % 16))
        position = out.index(struct.pack("<Q", marker))
        struct.pack_into("<Q", out, position, len(out))
        offsets.append(len(out))
        out.extend(content)
    return bytes(out), offsets


def test_buffers_stored_after_the_flatbuffer():
    model = tiny_fc_model(FC_WEIGHTS)
    weights, bias = model.buffers[2].data, model.buffers[3].data
    data, offsets = external_buffer_file(model, [2, 3])
    assert data.endswith(bias) and weights not in data[:offsets[0]]
    read = read_model(data)
    assert [(b.data, b.offset, b.size) for b in read.buffers[2:4]] == [
        (weights, offsets[0], len(weights)), (bias, offsets[1], len(bias))]
    # TFLM reads only inline buffer data: it runs such a model on whatever its arena holds
    # for the weights (the tflite-micro package answers 7.5e-39 and 5.8e-43, not 6.5 and
    # 0.5). tflm_edu reads the file but will not run it.
    interpreter = MicroInterpreter(read, AllOpsResolver(), None)
    with pytest.raises(ModelError, match="keeps its data outside the FlatBuffer"):
        interpreter.allocate_tensors()


def test_external_buffer_past_the_end_of_the_file():
    data, offsets = external_buffer_file(tiny_fc_model(FC_WEIGHTS), [2])
    with pytest.raises(ModelError, match=r"buffer 2: external buffer .* points outside the file"):
        read_model(data[:-1])


def test_offset_one_means_not_placed_and_reads_inline_data():
    """The converter writes offset 1 while it has not yet placed a buffer: not an offset."""
    model = tiny_fc_model(FC_WEIGHTS)
    weights = model.buffers[2].data
    model.buffers[2] = Buffer(data=weights, offset=1, size=len(weights))
    read = read_model(_ExternalBufferWriter().model(model))
    assert (read.buffers[2].data, read.buffers[2].offset) == (weights, 1)
