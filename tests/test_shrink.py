"""tflm_edu.convert.shrink: a smaller .tflite that TFLM runs to the same bytes.

For every reference model and every model of ../shared/models the real TFLM runs, shrunk
with the defaults and with everything on (names stripped, per-tensor weights where exact,
min_runtime_version added): the file is no larger; the real TFLM loads it and gives, over
several invokes on seeded inputs, the bytes it gives for the original - and so does
tflm_edu; LiteRT (where it loads the original) gives the bytes it gives for the original.
min_runtime_version is what TensorFlow's converter wrote, or - where the stored value is
stale or absent - the value documented below. The byte accounting adds up, and agrees with
a count made from the parsed model. Then the parts one by one: pruning and renumbering
(with an offline memory plan), shared buffers, per-tensor weights (exact, and measured on
calibration data), and the command line.
"""
import contextlib
import copy
import functools
import io
import json

import numpy as np
import pytest

from conftest import MODELS, reference_model
from models import conv_model, dw_model, fc_model, one_op_model, tensor, tiny_fc_model
from op_harness import oracle_runtime, random_input
from test_kernel_transpose_conv import transpose_conv_model
from test_real_models import SHARED_MODELS, TFLM_REFUSES
from tflm_edu.convert.shrink import (CATEGORIES, MIN_RUNTIME_VERSION, WEIGHT_OPS, flash_bytes,
                                     min_runtime_version, op_runtime_version,
                                     runtime_version_bytes, shrink_model,
                                     stored_runtime_version)
from tflm_edu.schema import Buffer, Metadata, OperatorCode, Tensor, read_model, write_model
from tflm_edu.schema.builder import quantization
from tflm_edu.schema.enums import BuiltinOperator as Op
from tflm_edu.schema.options import Conv2DOptions

REFERENCE = sorted(p.stem for p in MODELS.glob("*.tflite")) or ["(../shared/reference absent)"]
SHARED = sorted(p.stem for p in SHARED_MODELS.glob("*.tflite")) or ["(../shared/models absent)"]
ALL = REFERENCE + SHARED
TFLM_RUNS = [n for n in ALL if n not in TFLM_REFUSES]
# Models LiteRT does not load: custom Signal ops (the audio preprocessors); a bias with
# quantized_dimension 3 (person_detect: "quantized_dimension must be in range [0, 1)").
LITERT_REFUSES = {"audio_preprocessor_float", "audio_preprocessor_int8", "person_detect"}
INVOKES = 3   # streaming models (microWakeWord, SVDF) carry state from one to the next

OPTIONS = {"default": {}, "smallest": {"strip_names": True, "per_tensor": True},
           "add": {"runtime_version": "add"}}   # "add" may grow a file: 16 bytes and more
SIZE_OPTIONS = ["default", "smallest"]

# min_runtime_version where the stored value is not what the model's op versions need:
# (stored, what shrink writes). Each stored value is that of the float model before
# quantization - the same ops at version 1, without QUANTIZE/DEQUANTIZE - which
# test_stale_runtime_versions_are_the_float_models checks: the tool that wrote them
# (MLTK's and MLPerf Tiny's converter runs; TOCO for micro_speech) did not update the
# entry after quantization raised the op versions (CONV_2D 3, FULLY_CONNECTED 4, ... need
# TF Lite 1.14.0).
STALE_RUNTIME_VERSION = {
    "mltk_audio_example1": ("1.5.0", "1.14.0"),
    "mltk_image_classification": ("1.5.0", "1.14.0"),
    "mltk_keyword_spotting": ("1.5.0", "1.14.0"),
    "mltk_keyword_spotting_with_transfer_learning": ("1.6.0", "1.14.0"),
    "mltk_tflite_micro_speech": ("1.5.0", "1.14.0"),
    "mltk_th_th_image_example1": ("1.5.0", "1.14.0"),
    "mltk_th_th_tflite_micro_speech": ("1.5.0", "1.14.0"),
    "mltk_visual_wake_words": ("1.5.0", "1.14.0"),
    "micro_speech_quantized": ("1.5.0", "1.14.0"),
    "tiny_model_ToyCar_quant": ("1.5.0", "1.14.0"),
    "tiny_model_ToyCar_quant_fullint": ("1.5.0", "1.14.0"),
}
# Models without the entry: what runtime_version="add" writes. SVDF version 3 (int8)
# needs 2.2.0; CONV_2D 3, DEPTHWISE_CONV_2D 3, ADD 2, PAD 2, QUANTIZE 1 need 1.14.0.
ADDED_RUNTIME_VERSION = {
    "person_detect": "1.14.0", "seanet_seanet_add0": "1.14.0",
    "seanet_seanet_conv13": "1.14.0", "seanet_seanet_pad0": "1.14.0",
    "seanet_seanet_quantize0": "1.14.0", "tflm_models_keyword_scrambled": "2.2.0",
    "tinyengine_mcunetv2_large": "1.14.0",
}


def model_bytes(name: str) -> bytes:
    if name in REFERENCE:
        return reference_model(f"{name}.tflite").read_bytes()
    path = SHARED_MODELS / f"{name}.tflite"
    if not path.is_file():
        pytest.skip(f"{path} not found (needs ../shared/models)")
    return path.read_bytes()


@functools.lru_cache(maxsize=None)
def shrunk(name: str, options: str):
    return shrink_model(model_bytes(name), **OPTIONS[options])


# ----------------------------------------------------------------------------- runners


def seeded_inputs(model, seed: int) -> list:
    rng = np.random.default_rng(seed)
    graph = model.subgraphs[0]
    return [random_input(rng, graph.tensors[i].shape, graph.tensors[i].dtype)
            for i in graph.inputs]


def run_tflm(data: bytes, invokes: int = INVOKES) -> list[bytes]:
    """The real TFLM's outputs, as bytes, over `invokes` invokes on seeded inputs."""
    model = read_model(data)
    with contextlib.redirect_stdout(io.StringIO()):
        interpreter = oracle_runtime().Interpreter.from_bytes(data, arena_size=16 << 20)
    results = []
    for k in range(invokes):
        for i, x in enumerate(seeded_inputs(model, k)):
            interpreter.set_input(x, i)
        interpreter.invoke()
        results += [np.asarray(interpreter.get_output(i)).tobytes()
                    for i in range(len(model.subgraphs[0].outputs))]
    return results


@functools.lru_cache(maxsize=None)
def tflm_original(name: str) -> list[bytes]:
    return run_tflm(model_bytes(name))


def run_tflm_edu(data: bytes, invokes: int = INVOKES, path=None) -> list[bytes]:
    """tflm_edu's outputs through its tflite_micro-style Interpreter.from_bytes (or
    from_file, given the path `data` was read from)."""
    import tflm_edu
    model = read_model(data)
    interpreter = tflm_edu.Interpreter.from_file(path) if path else \
        tflm_edu.Interpreter.from_bytes(data)
    results = []
    for k in range(invokes):
        for i, x in enumerate(seeded_inputs(model, k)):
            interpreter.set_input(x, i)
        interpreter.invoke()
        results += [np.asarray(interpreter.get_output(i)).tobytes()
                    for i in range(len(model.subgraphs[0].outputs))]
    return results


def run_litert(data: bytes, invokes: int = INVOKES) -> list[bytes] | None:
    """LiteRT's outputs with its reference kernels; None when LiteRT refuses the model."""
    litert = pytest.importorskip("ai_edge_litert.interpreter",
                                 reason="the oracle ai-edge-litert is not installed")
    model = read_model(data)
    try:
        interpreter = litert.Interpreter(
            model_content=data, experimental_op_resolver_type=litert.OpResolverType.BUILTIN_REF)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError):
        return None
    results = []
    for k in range(invokes):
        for detail, x in zip(interpreter.get_input_details(), seeded_inputs(model, k)):
            interpreter.set_tensor(detail["index"], x)
        interpreter.invoke()
        results += [interpreter.get_tensor(d["index"]).tobytes()
                    for d in interpreter.get_output_details()]
    return results


# ----------------------------------------------------------------------------- every model


@pytest.mark.parametrize("options", SIZE_OPTIONS)
@pytest.mark.parametrize("name", TFLM_RUNS)
def test_shrunk_model_is_smaller_and_computes_the_same_bytes(name, options):
    original = model_bytes(name)
    result = shrunk(name, options)
    assert len(result.data) <= len(original)
    assert (result.report.before.total, result.report.after.total) == \
        (len(original), len(result.data))
    theirs = tflm_original(name)
    assert run_tflm(result.data) == theirs, "the real TFLM computes other bytes"
    assert run_tflm_edu(result.data) == theirs, "tflm_edu computes other bytes than TFLM"
    litert_original = run_litert(original)
    assert (litert_original is None) == (name in LITERT_REFUSES)
    if litert_original is not None:
        assert run_litert(result.data) == litert_original, "LiteRT computes other bytes"


@pytest.mark.parametrize("name", sorted(TFLM_REFUSES))
def test_model_tflm_refuses_shrinks_and_litert_computes_the_same(name):
    """A hybrid model: TFLM refuses it before and after; LiteRT runs both alike."""
    original = model_bytes(name)
    result = shrunk(name, "smallest")
    assert len(result.data) < len(original)
    for data in (original, result.data):
        with pytest.raises(RuntimeError), contextlib.redirect_stdout(io.StringIO()):
            oracle_runtime().Interpreter.from_bytes(data, arena_size=16 << 20)
    assert run_litert(result.data) == run_litert(original) is not None


@pytest.mark.parametrize("name", ALL)
def test_min_runtime_version_is_the_converters(name):
    original = read_model(model_bytes(name))
    stored = stored_runtime_version(original)
    updated, added = shrunk(name, "default").model, shrunk(name, "add").model
    raw = added.metadata_bytes(MIN_RUNTIME_VERSION)
    assert len(raw) == 16 and raw == runtime_version_bytes(stored_runtime_version(added))
    if name in STALE_RUNTIME_VERSION:
        assert (stored, stored_runtime_version(added)) == STALE_RUNTIME_VERSION[name]
    elif stored is not None:
        assert stored_runtime_version(added) == stored
        if len(original.metadata_bytes(MIN_RUNTIME_VERSION)) == 16:   # the MLIR converter's
            assert raw == original.metadata_bytes(MIN_RUNTIME_VERSION)
    else:
        assert stored_runtime_version(added) == ADDED_RUNTIME_VERSION[name]
        assert updated.metadata_bytes(MIN_RUNTIME_VERSION) is None   # "update" adds none
    assert stored_runtime_version(added) == min_runtime_version(original)


def float_model_ops(model):
    """The ops of `model` as the float model before quantization had them: version 1,
    without the QUANTIZE/DEQUANTIZE that quantization adds at the edges."""
    model = copy.deepcopy(model)
    for code in model.operator_codes:
        code.version = 1
    boundary = {Op.QUANTIZE, Op.DEQUANTIZE}
    for graph in model.subgraphs:
        graph.operators = [op for op in graph.operators
                           if model.operator_codes[op.opcode_index].builtin_code not in boundary]
    return model


@pytest.mark.parametrize("name", sorted(STALE_RUNTIME_VERSION))
def test_stale_runtime_versions_are_the_float_models(name):
    original = read_model(model_bytes(name))
    assert stored_runtime_version(original) == min_runtime_version(float_model_ops(original))


def expected_bytes(model) -> dict:
    """Bytes per category counted from the parsed model, as tflm_edu's writer lays them
    out: a vector is a 4-byte length and its items, a string also ends in a NUL."""
    def string(s):
        return 4 + len(s.encode()) + 1 if s else 0

    def vector(items, size):
        return 4 + size * len(items)

    count = dict.fromkeys(CATEGORIES, 0)
    weights = set()
    for graph in model.subgraphs:
        count["names"] += string(graph.name)
        count["graph"] += vector(graph.inputs, 4) + vector(graph.outputs, 4)
        for t in graph.tensors:
            count["names"] += string(t.name)
            count["graph"] += vector(t.shape, 4)
            if t.shape_signature is not None:
                count["graph"] += vector(t.shape_signature, 4)
            q = t.quantization
            if q is not None:
                count["quantization"] += sum(vector(v, 4) for v in (q.min, q.max, q.scale) if v)
                count["quantization"] += vector(q.zero_point, 8) if q.zero_point else 0
            if model.buffers[t.buffer].data:
                weights.add(t.buffer)
        for op in graph.operators:
            count["graph"] += vector(op.inputs, 4) + vector(op.outputs, 4)
            count["graph"] += vector(op.intermediates, 4) if op.intermediates else 0
            count["graph"] += vector(op.custom_options, 1) if op.custom_options else 0
    count["graph"] += sum(string(c.custom_code) for c in model.operator_codes)
    count["weights"] = sum(vector(model.buffers[b].data, 1) for b in weights)
    count["metadata"] = string(model.description) + sum(
        string(e.name) + vector(model.buffers[e.buffer].data, 1) for e in model.metadata)
    for sig in model.signature_defs:
        count["names"] += string(sig.signature_key) + sum(
            string(m.name) for m in sig.inputs + sig.outputs)
    return count


@pytest.mark.parametrize("options", sorted(OPTIONS))
@pytest.mark.parametrize("name", ALL)
def test_byte_accounting_adds_up(name, options):
    result = shrunk(name, options)
    report = result.report
    for side in (report.before, report.after):
        parts = [getattr(side, c) for c in CATEGORIES]
        assert sum(parts) == side.total and min(parts) >= 0
    assert sum(report.saved_by_category().values()) == report.saved
    assert flash_bytes(result.data) == report.after
    # The walk of the bytes and the count from the parsed model agree, category by
    # category; overhead is the rest (tables, vtables, offsets, padding).
    after = report.after.as_dict()
    expected = expected_bytes(result.model)
    assert {c: after[c] for c in CATEGORIES if c != "overhead"} == \
        {c: expected[c] for c in CATEGORIES if c != "overhead"}


def test_names_are_kept_by_default_and_stripped_on_request():
    original = read_model(model_bytes("person_detect"))
    names = [t.name for t in original.subgraphs[0].tensors]
    assert all(names)
    assert [t.name for t in shrunk("person_detect", "default").model.subgraphs[0].tensors] \
        == names
    stripped = shrunk("person_detect", "smallest")
    assert not any(t.name for t in stripped.model.subgraphs[0].tensors)
    assert stripped.report.after.names == 0 < stripped.report.before.names
    assert stripped.report.stripped["names"] == len(names)   # TOCO left the subgraph unnamed


def test_metadata_tflm_does_not_read_is_dropped_unless_kept():
    name = "mltk_keyword_spotting_pacman_v3"
    original = read_model(model_bytes(name))
    result = shrunk(name, "default")
    assert [e.name for e in result.model.metadata] == [MIN_RUNTIME_VERSION]
    assert result.report.stripped["metadata"] == ["CONVERSION_METADATA", "SL_PARAMSv1"]
    assert not result.model.description and not result.model.signature_defs
    kept = shrink_model(model_bytes(name), keep_metadata=["SL_PARAMSv1"]).model
    assert kept.metadata_bytes("SL_PARAMSv1") == original.metadata_bytes("SL_PARAMSv1")


def test_identical_constant_buffers_are_stored_once():
    """MCUNetV2 repeats 90 constant tensors byte for byte (biases, axes)."""
    report = shrunk("tinyengine_mcunetv2_large", "default").report
    shared, shared_bytes = report.pruned["shared_buffers"], report.pruned["shared_buffer_bytes"]
    assert (shared, shared_bytes) == (90, 36925)
    assert report.before.weights - report.after.weights == shared_bytes + 4 * shared


# ----------------------------------------------------------------------------- pruning


def junk_model():
    """tiny_fc_model with things nothing uses, and an offline memory plan: an unused
    constant tensor at index 0 (every index after it shifts), an unused buffer, an unused
    operator code and a duplicate of the op's own. The plan places x at 32 and y at 0."""
    model = tiny_fc_model()
    graph = model.subgraphs[0]

    def shift(indices):
        return tuple(i + 1 if i >= 0 else i for i in indices)
    model.buffers.append(Buffer(np.arange(8, dtype=np.float32).tobytes()))
    graph.tensors.insert(0, Tensor((8,), 0, len(model.buffers) - 1, "unused"))
    graph.inputs, graph.outputs = shift(graph.inputs), shift(graph.outputs)
    op = graph.operators[0]
    op.inputs, op.outputs = shift(op.inputs), shift(op.outputs)
    model.buffers.append(Buffer(b"nobody reads me!"))
    model.operator_codes = [OperatorCode(Op.ADD), copy.deepcopy(model.operator_codes[0]),
                            model.operator_codes[0]]
    op.opcode_index = 2
    plan = np.array([1, 0, 5, 999, 32, -1, -1, 0], "<i4").tobytes()
    model.buffers.append(Buffer(plan))
    model.metadata.append(Metadata("OfflineMemoryAllocation", len(model.buffers) - 1))
    return model


def test_unused_tensors_buffers_and_codes_are_dropped_and_indices_renumbered():
    data = write_model(junk_model())
    result = shrink_model(data)
    # Two unused buffers: the one nothing referred to, and the dropped tensor's. x and y
    # had empty buffers of their own; they point at buffer 0 now.
    assert result.report.pruned == {
        "unused_tensors": 1, "dropped_operator_codes": 2, "unused_buffers": 2,
        "empty_buffers": 2, "shared_buffers": 0, "shared_buffer_bytes": 0}
    model = result.model
    assert [t.name for t in model.subgraphs[0].tensors] == ["x", "w", "bias", "y"]
    assert [(c.builtin_code, c.version) for c in model.operator_codes] == [(Op.FULLY_CONNECTED, 1)]
    plan = np.frombuffer(model.metadata_bytes("OfflineMemoryAllocation"), "<i4")
    assert plan.tolist() == [1, 0, 4, 32, -1, -1, 0]     # the unused tensor's 999 is gone
    assert all(t.buffer == 0 for t in model.subgraphs[0].tensors if t.name in ("x", "y"))
    assert run_tflm(result.data) == run_tflm(data)
    assert run_tflm_edu(result.data) == run_tflm(data)


def test_compressed_models_keep_their_tensor_and_buffer_indices():
    """COMPRESSION_METADATA names tensors and buffers by index: with it, nothing is
    renumbered (names, metadata and operator codes still go)."""
    model = junk_model()
    model.buffers.append(Buffer(b"compression tables, by tensor and buffer index"))
    model.metadata.append(Metadata("COMPRESSION_METADATA", len(model.buffers) - 1))
    data = write_model(model)
    result = shrink_model(data, strip_names=True)
    assert result.report.pruned["unused_tensors"] == result.report.pruned["unused_buffers"] == 0
    assert result.report.pruned["dropped_operator_codes"] == 2
    shrunk_graph, graph = result.model.subgraphs[0], model.subgraphs[0]
    assert [t.buffer for t in shrunk_graph.tensors] == [t.buffer for t in graph.tensors]
    assert result.model.metadata_bytes("COMPRESSION_METADATA") == \
        model.metadata_bytes("COMPRESSION_METADATA")
    assert result.model.metadata_bytes("OfflineMemoryAllocation") == \
        model.metadata_bytes("OfflineMemoryAllocation")
    assert run_tflm(result.data) == run_tflm(data)


# ----------------------------------------------------------------------------- per-tensor weights


def equal_channel_scales(model):
    """`model` with every per-channel weight tensor's scales set to their largest (and
    its bias's scales to match): a model whose per-channel scales one scale expresses."""
    model = copy.deepcopy(model)
    for graph in model.subgraphs:
        for op in graph.operators:
            positions = WEIGHT_OPS.get(model.operator_codes[op.opcode_index].builtin_code)
            if positions is None:
                continue
            weights = graph.tensors[op.inputs[positions[1]]]
            q = weights.quantization
            if q is None or len(q.scale) < 2:
                continue
            top = int(np.argmax(q.scale))
            q.scale = (q.scale[top],) * len(q.scale)
            bias_index = op.inputs[positions[2]] if len(op.inputs) > positions[2] else -1
            if bias_index >= 0 and len(graph.tensors[bias_index].quantization.scale) > 1:
                bq = graph.tensors[bias_index].quantization
                bq.scale = (bq.scale[top],) * len(bq.scale)
    return model


def quantization_bytes_saved(original: bytes, **options) -> int:
    """Bytes of scale/zero-point arrays per-tensor weights save, beyond the other steps."""
    plain = shrink_model(original, **{**options, "per_tensor": False, "calibration": None})
    with_per_tensor = shrink_model(original, **options)
    return plain.report.after.quantization - with_per_tensor.report.after.quantization


@pytest.mark.parametrize("make", [
    lambda: conv_model(np.int8, filter_scale=np.full(4, 0.013)),
    lambda: conv_model(np.int16, filter_scale=np.full(4, 0.011)),
    lambda: dw_model(np.int8, depth=3, multiplier=2, filter_scale=np.full(6, 0.02)),
    lambda: equal_channel_scales(fc_model(2, 16, 5, np.int8, per_channel=True)),
    lambda: equal_channel_scales(transpose_conv_model(np.int8)),
], ids=["conv int8", "conv 16x8", "depthwise int8", "fully_connected int8", "transpose_conv"])
def test_equal_channel_scales_become_one_scale_exactly(make):
    data = write_model(make())
    result = shrink_model(data, per_tensor=True)
    [candidate] = result.report.per_tensor
    assert candidate.exact and candidate.applied
    graph = result.model.subgraphs[0]
    weights = graph.tensors[graph.operators[0].inputs[1]]
    assert len(weights.quantization.scale) == len(weights.quantization.zero_point) == 1
    channels = candidate.channels
    assert candidate.bytes_saved == 2 * 12 * (channels - 1)   # weights and bias
    assert quantization_bytes_saved(data, per_tensor=True) == candidate.bytes_saved
    assert run_tflm(result.data) == run_tflm(data)
    assert run_tflm_edu(result.data) == run_tflm(data)


def test_a_real_model_with_equal_channel_scales_runs_identically_per_tensor():
    data = write_model(equal_channel_scales(read_model(model_bytes("person_detect"))))
    result = shrink_model(data, per_tensor=True)
    candidates = result.report.per_tensor
    assert len(candidates) == 28 and all(c.exact and c.applied for c in candidates)
    assert result.report.before.quantization - result.report.after.quantization >= \
        sum(c.bytes_saved for c in candidates) > 0
    assert run_tflm(result.data) == run_tflm(data)
    assert run_tflm_edu(result.data) == run_tflm(data)


def calibration_for(name: str, samples: int = 8) -> np.ndarray:
    model = read_model(model_bytes(name))
    t = model.subgraphs[0].tensors[model.subgraphs[0].inputs[0]]
    rng = np.random.default_rng(1)
    return np.stack([random_input(rng, t.shape[1:], t.dtype) for _ in range(samples)])


def test_per_channel_weights_that_lose_little_are_stored_per_tensor():
    """MLTK's keyword spotter: its first conv loses well under 0.1 dB of output SQNR with
    one scale, most other layers lose more and stay per channel. The result is a valid
    model TFLM and tflm_edu compute alike, that LiteRT loads."""
    name = "mltk_keyword_spotting"
    data, calibration = model_bytes(name), calibration_for(name)
    result = shrink_model(data, per_tensor=True, calibration=calibration)
    report = result.report
    applied = [c for c in report.per_tensor if c.applied]
    kept = [c for c in report.per_tensor if not c.applied]
    assert applied and kept and not any(c.exact for c in report.per_tensor)
    assert all(c.sqnr_loss_db < report.max_sqnr_loss_db for c in applied)
    assert all(c.sqnr_loss_db >= report.max_sqnr_loss_db for c in kept)
    assert all(20 < c.sqnr_db < 60 for c in report.per_tensor)   # int8 layers' SQNR
    assert quantization_bytes_saved(data, per_tensor=True, calibration=calibration) == \
        sum(c.bytes_saved for c in applied)
    assert run_tflm_edu(result.data) == run_tflm(result.data)
    assert run_litert(result.data) is not None
    looser = shrink_model(data, per_tensor=True, calibration=calibration, max_sqnr_loss_db=3.0)
    assert sum(c.applied for c in looser.report.per_tensor) > len(applied)


def test_without_calibration_only_exact_weights_change():
    report = shrunk("person_detect", "smallest").report
    assert len(report.per_tensor) == 28 and not any(c.applied for c in report.per_tensor)
    assert all(c.reason == "needs calibration data to measure" for c in report.per_tensor)


def test_hybrid_ops_keep_per_channel_weights():
    """Float input, int8 weights: the op version TensorFlow writes records per-channel
    weights there (and TFLM runs no hybrid op), so they stay as they are."""
    model = one_op_model(Op.CONV_2D, [
        tensor((1, 5, 5, 1)),
        tensor((2, 2, 2, 1), np.int8, np.ones((2, 2, 2, 1)), quantization([0.1, 0.1], 0)),
        tensor((2,), data=[0.5, -1])], Conv2DOptions(), tensor((1, 4, 4, 2)), version=5)
    [candidate] = shrink_model(model, per_tensor=True).report.per_tensor
    assert candidate.exact and not candidate.applied and "hybrid" in candidate.reason


# ----------------------------------------------------------------------------- min_runtime_version


def test_runtime_versions_compare_as_numbers_and_skip_unlisted_ops():
    assert op_runtime_version(Op.BROADCAST_TO, 1) is None       # no entry for version 1
    assert op_runtime_version(Op.TRANSPOSE, 7) == "2.14.4"
    model = tiny_fc_model()                                     # FULLY_CONNECTED v1: 1.5.0
    assert min_runtime_version(model) == "1.5.0"
    model.operator_codes[0].version = 10                        # 2.11.0 > 2.3.0 > 1.14.0
    assert min_runtime_version(model) == "2.11.0"
    model.operator_codes[0] = OperatorCode(Op.CUSTOM, custom_code="MyOp")
    assert min_runtime_version(model) == ""
    assert runtime_version_bytes("") == bytes(16)
    assert runtime_version_bytes("1.14.0") == b"1.14.0" + bytes(10)


def test_drop_removes_the_entry():
    result = shrink_model(model_bytes("hello_world_int8"), runtime_version="drop")
    assert result.model.metadata == [] and result.report.after.metadata == 0


# ----------------------------------------------------------------------------- command line


def test_command_line_writes_the_model_and_a_json_report(tmp_path, capsys):
    from tflm_edu.cli import main
    source = reference_model("hello_world_int8.tflite")
    out = tmp_path / "small.tflite"
    assert main(["shrink", str(source), "-o", str(out), "--strip-names", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["before"]["total"] == source.stat().st_size
    assert report["after"]["total"] == out.stat().st_size < source.stat().st_size
    assert report["after"]["names"] == 0 and report["saved"] == \
        report["before"]["total"] - report["after"]["total"]
    assert run_tflm(out.read_bytes()) == run_tflm(source.read_bytes()) == \
        run_tflm_edu(out.read_bytes(), path=out)


def test_command_line_per_tensor_with_calibration(tmp_path, capsys):
    from tflm_edu.cli import main
    source = SHARED_MODELS / "mltk_keyword_spotting.tflite"
    model_bytes("mltk_keyword_spotting")
    np.save(tmp_path / "x.npy", calibration_for("mltk_keyword_spotting"))
    out = tmp_path / "small.tflite"
    assert main(["shrink", str(source), "-o", str(out), "--per-tensor-where-lossless",
                 "--calibration", str(tmp_path / "x.npy")]) == 0
    text = capsys.readouterr().out
    assert "per-tensor weights: 1 of 9" in text and "saved" in text
    assert main(["shrink", str(source), "-o", str(out), "--calibration",
                 str(tmp_path / "x.npy")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--per-tensor-where-lossless" in err
