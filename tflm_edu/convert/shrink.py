"""Shrink a .tflite for flash without changing what TFLM computes from it.

A .tflite carries more than TFLM reads. TFLM's MicroAllocator and MicroInterpreter
(micro_allocator.cc, micro_allocation_info.cc, micro_interpreter_graph.cc) read the
operator codes; each subgraph's tensors (shape, type, buffer, is_variable, and the scale,
zero_point and quantized_dimension of their quantization), operators, inputs and outputs;
the buffers; and two metadata entries, found by name: "OfflineMemoryAllocation" (an
offline memory plan, micro_allocation_info.cc) and "COMPRESSION_METADATA" (compressed
tensors, micro_allocator.cc in builds with USE_TFLM_COMPRESSION). Everything else - names,
signature defs, the description, the converter's other metadata, calibration min/max -
is for people and other tools, and it costs flash on the board.

shrink_model() rewrites a model so that TFLM computes the same bytes from a smaller file:

  strip       the description, signature defs, the deprecated metadata_buffer list,
              metadata TFLM does not read (keep_metadata= keeps more; "SL_PARAMSv1" of
              Silicon Labs' MLTK models is read by their firmware, not by TFLM),
              quantization min/max, shape_signature where it repeats the shape. Tensor and
              subgraph names only with strip_names=True: TFLM never reads them, but they
              are what `tflm-edu inspect`, compare_layers, Netron and every error message
              show a person, so they stay unless asked.
  prune       tensors no op and no graph input or output uses, operator codes no op uses
              (identical ones merged), buffers nothing uses; a tensor without data points
              at buffer 0 (the empty sentinel) instead of an empty buffer of its own;
              constant buffers with the same bytes are stored once. Indices are renumbered
              wherever they appear: ops, graph inputs and outputs, signature defs, and the
              per-tensor offsets of an offline memory plan.
  per-tensor  (per_tensor=True) per-channel weights of CONV_2D, DEPTHWISE_CONV_2D,
              FULLY_CONNECTED and TRANSPOSE_CONV that one scale expresses: exactly when
              every channel has the same scale (TFLM then computes the same bytes), or -
              given calibration data - when re-quantizing them to the largest channel
              scale lowers the op's output SQNR by less than max_sqnr_loss_db. The SQNR is
              measured op by op: the op alone, fed what it reads in the full model on the
              calibration samples, with its int8 weights per channel and with one scale,
              each against the same op in float32 (input, weights and bias dequantized).
              Only full-integer ops (int8 or int16 activations) qualify: for them the op
              version TensorFlow writes does not depend on per-channel weights, so the
              model's op versions stay true. Flash saved: the scale and zero-point arrays
              of the weights and of the bias (12 bytes a channel each).
  min_runtime_version
              recomputed from the ops and op versions the model uses (TensorFlow's
              converter keeps a table, op version -> first TF Lite release that runs it,
              in tensorflow/compiler/mlir/lite/tools/versioning/runtime_version.cc;
              RUNTIME_VERSIONS below holds the same facts) and written as the MLIR
              converter writes it: the version string NUL-padded to 16 bytes. By default
              only an entry the model has is rewritten; runtime_version="add" adds one,
              "drop" removes it. The value a model stores can be stale: MLTK's and MLPerf
              Tiny's models, and TOCO's micro_speech, hold the value of their float model
              (1.5.0) although quantization raised their op versions (1.14.0).

Empty lists (no metadata, no signature defs left) are left out of the file rather than
written empty; an absent list reads as an empty one everywhere.

flash_bytes() says where every byte of a .tflite goes - it walks the FlatBuffer and gives
each byte one owner: weights, quantization, names, metadata, graph, unused or overhead.
The ShrinkReport holds it before and after.

    result = shrink_model("model.tflite", strip_names=True)
    open("small.tflite", "wb").write(result.data)
    print(result.report.table())

The schema layer writes what it models: fields it does not read (a tensor's sparsity,
an op's builtin_options_2, mutating_variable_inputs) are not carried over. TFLM reads
none of them for the ops it runs.
"""
from __future__ import annotations

import copy
import struct
from dataclasses import dataclass, field

import numpy as np

from tflm_edu.errors import InputError, ModelError
from tflm_edu.schema.builder import ModelBuilder
from tflm_edu.schema.enums import NUMPY_DTYPE, BuiltinOperator as Op, TensorType, op_name
from tflm_edu.schema.model import Buffer, Metadata, Model, QuantizationParameters, tensor_data
from tflm_edu.schema.reader import as_model_and_bytes, read_model
from tflm_edu.schema.writer import write_model

# Metadata TFLM looks up by name; shrink_model never drops these.
from tflm_edu.convert.prune import COMPRESSION_METADATA, OFFLINE_MEMORY_ALLOCATION, prune
TFLM_METADATA = (OFFLINE_MEMORY_ALLOCATION, COMPRESSION_METADATA)

MIN_RUNTIME_VERSION = "min_runtime_version"
RUNTIME_VERSION_BYTES = 16   # the converter reserves 16 bytes and NUL-pads the string
RUNTIME_VERSION_POLICIES = ("update", "add", "drop")

# One-scale weights are accepted when the op's output SQNR drops by less than this. 0.1 dB
# is 2.3% more noise power. The int8 layers of the models here measure 30-50 dB against
# float32, and the estimate itself moves by about 0.03 dB from one set of 8 calibration
# samples to another (MLTK's keyword spotter): a loss under 0.1 dB is barely measurable,
# while the layers whose channel scales really differ lose 0.5 to 40 dB.
DEFAULT_MAX_SQNR_LOSS_DB = 0.1


# ----------------------------------------------------------------------------- min_runtime_version

# The first TF Lite release that runs each version of an op: the op's name, then one
# release per op version (1, 2, ...); "-" marks a version with no entry. Same facts as
# TensorFlow's runtime_version.cc at commit 03f49db5a23e (the commit tests/test_op_versions.py
# takes its newest op versions from). Ops not listed (custom ops among them) do not raise
# the model's minimum, as in the converter.
RUNTIME_VERSIONS_TEXT = """
ABS                   1.13.0 2.4.0 2.5.0 2.6.0 2.12.0
ADD                   1.5.0 1.14.0 2.4.0 2.6.0 2.13.0 2.23.0
ADD_N                 1.14.0
ARG_MAX               1.9.0 1.14.0 2.9.0
ARG_MIN               1.9.0 1.14.0 2.9.0
ASSIGN_VARIABLE       2.6.0
ATAN2                 2.10.0
AVERAGE_POOL_2D       1.5.0 1.14.0 2.3.0
BATCH_MATMUL          2.3.0 2.3.0 2.4.0 2.5.0
BATCH_TO_SPACE_ND     1.6.0 1.14.0 2.3.0 2.12.0
BIDIRECTIONAL_SEQUENCE_LSTM 1.14.0 1.14.0 1.14.0
BIDIRECTIONAL_SEQUENCE_RNN  1.14.0 1.14.0 2.3.0
BITCAST               2.13.0
BITWISE_XOR           2.13.0
BROADCAST_ARGS        2.6.0
BROADCAST_TO          -     2.5.0 2.5.0
BUCKETIZE             2.8.0
CALL_ONCE             2.5.0
CAST                  1.5.0 2.7.0 2.8.0 2.9.0 2.12.0 2.15.0 2.17.0 2.21.0
CEIL                  1.14.0
COMPLEX_ABS           2.5.0
CONCATENATION         1.5.0 1.14.0 2.3.0 2.14.0 2.21.0
CONV_2D               1.5.0 1.14.0 1.14.0 2.3.0 2.4.0 2.9.0 2.11.0 2.15.0
CONV_3D               2.5.0
CONV_3D_TRANSPOSE     2.6.0
COS                   1.14.0
CUMSUM                2.4.0
DENSIFY               2.2.0
DEPTHWISE_CONV_2D     1.5.0 1.12.0 1.14.0 2.2.0 2.3.0 2.3.0 2.11.0
DEPTH_TO_SPACE        2.1.0 2.5.0
DEQUANTIZE            1.13.1 1.14.0 1.15.0 2.2.0 2.7.0 2.18.0 2.21.0 2.22.0
DILATE                2.15.0
DIV                   1.6.0 2.3.0
DYNAMIC_UPDATE_SLICE  2.9.0 2.17.0 2.19.0 2.20.0 2.21.0 2.22.0
ELU                   1.14.0
EMBEDDING_LOOKUP      1.13.0 1.14.0 1.14.0 2.18.0 2.21.0
EMBEDDING_LOOKUP_SPARSE 1.5.0
EQUAL                 1.14.0 1.14.0 2.3.0 2.13.0 2.21.0
EXP                   1.7.0 2.12.0
EXPAND_DIMS           1.10.0
FAKE_QUANT            1.5.0 1.10.0
FILL                  1.13.0 2.3.0 2.5.0 2.12.0
FLOOR                 1.9.0
FLOOR_DIV             1.14.0 1.14.0 2.13.0
FLOOR_MOD             1.13.0 2.13.0
FULLY_CONNECTED       1.5.0 1.10.0 1.14.0 1.14.0 2.0.0 2.1.0 2.3.0 2.3.0 2.3.0 2.11.0 2.15.0
                      2.17.0 2.18.0 2.21.0
GATHER                1.6.0 1.14.0 1.15.0 2.4.0 2.5.0 2.13.0 2.15.0
GATHER_ND             1.14.0 2.3.0 2.5.0 2.13.0 2.16.0
GELU                  2.9.0 2.9.0
GREATER               1.14.0 1.14.0
GREATER_EQUAL         1.14.0 1.14.0 2.13.0
HARD_SWISH            1.15.0
HASHTABLE             2.5.0
HASHTABLE_FIND        2.5.0
HASHTABLE_IMPORT      2.5.0
HASHTABLE_LOOKUP      1.5.0
HASHTABLE_SIZE        2.5.0
IF                    1.15.0
IMAG                  2.5.0
L2_NORMALIZATION      1.5.0 1.14.0
L2_POOL_2D            1.5.0
LEAKY_RELU            1.13.1 2.3.0
LESS                  1.14.0 1.14.0 2.13.0
LESS_EQUAL            1.14.0 1.14.0
LOCAL_RESPONSE_NORMALIZATION 1.5.0
LOG                   1.14.0 2.15.0
LOGICAL_AND           1.11.0
LOGICAL_NOT           1.11.0
LOGICAL_OR            1.11.0
LOGISTIC              1.14.0 1.14.0 2.3.0
LOG_SOFTMAX           1.14.0 1.14.0
LSH_PROJECTION        1.5.0
LSTM                  1.7.0 1.10.0 1.14.0 2.3.0
MATRIX_DIAG           1.14.0
MATRIX_SET_DIAG       1.14.0
MAXIMUM               1.14.0 1.14.0 2.3.0 2.3.0
MAX_POOL_2D           1.5.0 1.14.0 2.3.0
MEAN                  1.6.0 1.14.0 2.4.0
MINIMUM               1.14.0 1.14.0 2.3.0 2.3.0
MIRROR_PAD            1.13.1 2.3.0 2.12.0
MUL                   1.5.0 1.14.0 1.15.0 2.3.0 2.6.0 2.11.0 2.13.0 2.23.0
MULTINOMIAL           2.8.0
NEG                   1.9.0
NON_MAX_SUPPRESSION_V4 2.1.0
NON_MAX_SUPPRESSION_V5 2.1.0
NOT_EQUAL             1.14.0 1.14.0 2.3.0 2.21.0
ONE_HOT               1.11.0
PACK                  1.11.0 1.14.0 2.3.0 2.13.0
PAD                   1.5.0 1.14.0 2.4.0 2.6.0 2.20.0
PADV2                 1.9.0 1.14.0 2.4.0 2.6.0 2.20.0
POW                   1.10.0
PRELU                 1.8.0
QUANTIZE              1.14.0 1.15.0 2.7.0 2.21.0 2.21.0 2.21.0
RANDOM_STANDARD_NORMAL 2.8.0
RANDOM_UNIFORM        2.8.0
RANGE                 1.13.0 2.14.0
RANK                  1.14.0
READ_VARIABLE         2.6.0
REAL                  2.5.0
REDUCE_ALL            2.6.0
REDUCE_ANY            1.11.0
REDUCE_MAX            1.11.0 1.14.0 2.5.0
REDUCE_MIN            1.11.0 1.14.0 2.5.0
REDUCE_PROD           1.11.0 2.6.0
REDUCE_WINDOW         2.15.0
RELU                  1.5.0 2.1.0 2.5.0
RELU6                 1.5.0 1.14.0 2.5.0
RELU_0_TO_1           2.10.0
RELU_N1_TO_1          1.5.0
RESHAPE               1.5.0
RESIZE_BILINEAR       1.7.0 1.14.0 2.2.0 2.5.0
RESIZE_NEAREST_NEIGHBOR 1.13.1 1.14.0 2.3.0 2.4.0
REVERSE_SEQUENCE      1.14.0
REVERSE_V2            1.14.0 2.2.0 2.5.0
RFFT2D                2.5.0
RIGHT_SHIFT           2.13.0
RNN                   1.5.0 1.14.0 2.3.0
ROUND                 1.14.0
RSQRT                 1.10.0 2.5.0 2.15.0
SCATTER_ND            2.1.0
SEGMENT_SUM           2.2.0
SELECT                1.14.0 1.14.0 2.12.0 2.12.0
SELECT_V2             2.2.0 2.12.0
SHAPE                 1.10.0
SIGN                  2.11.0 2.12.0
SIN                   1.9.0
SKIP_GRAM             1.5.0
SLICE                 1.14.0 1.14.0 1.14.0 2.4.0 2.5.0 2.14.0 2.21.0
SOFTMAX               1.5.0 1.14.0 2.3.0
SPACE_TO_BATCH_ND     1.6.0 1.14.0 2.3.0 2.12.0
SPACE_TO_DEPTH        1.5.0 1.14.0
SPARSE_TO_DENSE       1.9.0 1.14.0 1.15.0
SPLIT                 1.5.0 1.14.0 1.14.0 2.3.0
SPLIT_V               1.13.1 2.3.0
SQRT                  1.10.0 2.21.0
SQUARE                1.12.0
SQUARED_DIFFERENCE    1.13.1 2.5.0
SQUEEZE               1.6.0 2.5.0
STABLEHLO_ADD         2.16.0
STABLEHLO_AND         2.17.0
STABLEHLO_CASE        2.17.0
STABLEHLO_CBRT        2.17.0
STABLEHLO_COMPOSITE   2.17.0
STABLEHLO_GATHER      2.16.0
STABLEHLO_MAXIMUM     2.16.0
STABLEHLO_MINIMUM     2.16.0
STABLEHLO_MULTIPLY    2.16.0
STABLEHLO_PAD         2.16.0
STABLEHLO_REDUCE_WINDOW 2.16.0
STABLEHLO_RNG_BIT_GENERATOR 2.15.0
STABLEHLO_SCATTER     2.15.0
STABLEHLO_SHIFT_LEFT  2.17.0
STRIDED_SLICE         1.6.0 1.14.0 2.1.0 2.2.0 2.5.0 2.6.0 2.14.0 2.14.0
SUB                   1.6.0 1.14.0 2.3.0 2.4.0 2.4.0
SUM                   1.10.0 1.15.0
SVDF                  1.5.0 1.14.0 2.2.0 2.3.0
TANH                  1.14.0 1.14.0 2.3.0
TILE                  1.10.1 2.2.0 2.8.0
TOPK_V2               1.7.0 1.14.0 2.13.0
TRANSPOSE             1.6.0 1.14.0 1.15.0 2.3.0 2.4.0 2.12.0 2.14.4 2.22.0
TRANSPOSE_CONV        1.9.0 2.2.0 2.3.0 2.13.0 2.15.0
UNIDIRECTIONAL_SEQUENCE_LSTM 1.13.1 1.14.0 2.3.0 2.12.0
UNIDIRECTIONAL_SEQUENCE_RNN  1.14.0 1.14.0 2.3.0
UNIQUE                1.14.0
UNPACK                1.11.0 1.14.0 2.2.0 2.3.0 2.22.0
UNSORTED_SEGMENT_MAX  2.10.0
UNSORTED_SEGMENT_MIN  2.11.0
UNSORTED_SEGMENT_PROD 2.10.0
UNSORTED_SEGMENT_SUM  2.10.0
VAR_HANDLE            2.6.0
WHERE                 1.14.0 2.8.0
ZEROS_LIKE            1.12.0
"""


def _parse_runtime_versions(text: str) -> dict[int, dict[int, str]]:
    """{builtin code: {op version: release}}; a line that starts with a space continues
    the op above."""
    rows = {}
    for line in text.strip("\n").splitlines():
        words = line.split()
        if not line[0].isspace():
            releases = rows.setdefault(int(Op[words.pop(0)]), [])
        releases.extend(words)
    return {code: {version: release for version, release in enumerate(releases, 1)
                   if release != "-"} for code, releases in rows.items()}


RUNTIME_VERSIONS = _parse_runtime_versions(RUNTIME_VERSIONS_TEXT)


def release_key(version: str) -> tuple:
    """"1.14.0" -> (1, 14, 0): releases compare part by part, as numbers."""
    return tuple(int(part) if part.isdigit() else 0 for part in version.split("."))


def op_runtime_version(builtin_code: int, version: int) -> str | None:
    """The first TF Lite release that runs this version of the op; None if not listed."""
    return RUNTIME_VERSIONS.get(int(builtin_code), {}).get(int(version))


def min_runtime_version(model: Model) -> str:
    """The newest release any op of `model` needs - what the converter writes in the
    "min_runtime_version" metadata. Every op of every subgraph counts; "" when none is
    listed (the converter then leaves the 16 bytes NUL)."""
    newest = ""
    for graph in model.subgraphs:
        for op in graph.operators:
            code = model.operator_codes[op.opcode_index]
            release = op_runtime_version(max(code.builtin_code, code.deprecated_builtin_code),
                                         code.version)
            if release and (not newest or release_key(release) > release_key(newest)):
                newest = release
    return newest


def runtime_version_bytes(version: str) -> bytes:
    """The metadata buffer the converter writes: the string, NUL-padded to 16 bytes. A
    string of 16 bytes or more does not fit; the converter then leaves all 16 NUL."""
    raw = version.encode("ascii")
    return raw.ljust(RUNTIME_VERSION_BYTES, b"\0") if len(raw) < RUNTIME_VERSION_BYTES \
        else bytes(RUNTIME_VERSION_BYTES)


def stored_runtime_version(model: Model) -> str | None:
    """The "min_runtime_version" a model holds (up to its first NUL), or None."""
    raw = model.metadata_bytes(MIN_RUNTIME_VERSION)
    return None if raw is None else raw.split(b"\0", 1)[0].decode("ascii", "replace")


# ----------------------------------------------------------------------------- flash accounting

CATEGORIES = ("weights", "quantization", "names", "metadata", "graph", "unused", "overhead")
CATEGORY_HELP = {
    "weights": "constant tensor data",
    "quantization": "scale, zero_point, min, max arrays",
    "names": "tensor, subgraph and signature names",
    "metadata": "metadata entries, description",
    "graph": "shapes, op input/output lists, custom options",
    "unused": "buffers nothing refers to",
    "overhead": "tables, vtables, offsets, alignment",
}


@dataclass
class FlashBytes:
    """Where the bytes of one .tflite go. Every byte has one owner, so the categories add
    up to `total`; `overhead` is whatever FlatBuffers adds around the content (tables,
    vtables, offsets, alignment padding - the 16-byte alignment of buffers among them)."""

    total: int
    weights: int = 0
    quantization: int = 0
    names: int = 0
    metadata: int = 0
    graph: int = 0
    unused: int = 0
    overhead: int = 0

    def as_dict(self) -> dict:
        return {**{c: getattr(self, c) for c in CATEGORIES}, "total": self.total}


class _ByteOwners:
    """Walks a FlatBuffer that read_model accepted and marks who owns each byte of its
    strings and vectors (length prefix, content, a string's NUL). Field numbers are the
    slots of schema.fbs, as in reader.py."""

    def __init__(self, data: bytes):
        self.data = data
        self.owner = np.zeros(len(data), np.uint8)   # 0: overhead

    def _u32(self, pos: int) -> int:
        return struct.unpack_from("<I", self.data, pos)[0]

    def field(self, table: int, slot: int) -> int:
        vtable = table - struct.unpack_from("<i", self.data, table)[0]
        if 4 + 2 * slot >= struct.unpack_from("<H", self.data, vtable)[0]:
            return 0
        offset = struct.unpack_from("<H", self.data, vtable + 4 + 2 * slot)[0]
        return table + offset if offset else 0

    def scalar(self, table: int, slot: int) -> int:
        pos = self.field(table, slot)
        return self._u32(pos) if pos else 0

    def target(self, table: int, slot: int) -> int:
        pos = self.field(table, slot)
        return pos + self._u32(pos) if pos else 0

    def tables(self, table: int, slot: int) -> list[int]:
        start = self.target(table, slot)
        if not start:
            return []
        items = [start + 4 + 4 * i for i in range(self._u32(start))]
        return [item + self._u32(item) for item in items]

    def claim(self, table: int, slot: int, item_size: int, category: str,
              string: bool = False) -> None:
        start = self.target(table, slot)
        if not start:
            return
        end = start + 4 + self._u32(start) * item_size + (1 if string else 0)
        span = self.owner[start:end]
        span[span == 0] = CATEGORIES.index(category) + 1

    def count(self) -> FlashBytes:
        counts = np.bincount(self.owner, minlength=len(CATEGORIES) + 1)
        result = FlashBytes(total=len(self.data))
        for k, category in enumerate(CATEGORIES):
            setattr(result, category, int(counts[k + 1]))
        result.overhead = len(self.data) - sum(int(c) for c in counts[1:])
        return result


def flash_bytes(data: bytes) -> FlashBytes:
    """Who owns each byte of the .tflite `data` (a model read_model accepts)."""
    w = _ByteOwners(data)
    try:
        return _walk_model(w, struct.unpack_from("<I", data, 0)[0])
    except (struct.error, IndexError) as e:
        raise ModelError(f"cannot account the bytes of this model ({e}); "
                         f"read it with read_model first") from e


def _walk_model(w: _ByteOwners, root: int) -> FlashBytes:
    w.claim(root, 3, 1, "metadata", string=True)            # description
    w.claim(root, 5, 4, "metadata")                          # metadata_buffer
    metadata_buffers = set()
    for entry in w.tables(root, 6):
        w.claim(entry, 0, 1, "metadata", string=True)
        metadata_buffers.add(w.scalar(entry, 1))
    for signature in w.tables(root, 7):
        w.claim(signature, 2, 1, "names", string=True)
        for tensor_map in w.tables(signature, 0) + w.tables(signature, 1):
            w.claim(tensor_map, 0, 1, "names", string=True)
    for code in w.tables(root, 1):
        w.claim(code, 1, 1, "graph", string=True)            # custom_code
    tensor_buffers = set()
    for graph in w.tables(root, 2):
        tensor_buffers |= _walk_subgraph(w, graph)
    for index, buffer in enumerate(w.tables(root, 4)):
        owner = ("weights" if index in tensor_buffers else
                 "metadata" if index in metadata_buffers else "unused")
        w.claim(buffer, 0, 1, owner)
    return w.count()


def _walk_subgraph(w: _ByteOwners, graph: int) -> set:
    """Claim one subgraph's bytes; returns the buffer indices its tensors use."""
    buffers = set()
    w.claim(graph, 4, 1, "names", string=True)
    w.claim(graph, 1, 4, "graph")
    w.claim(graph, 2, 4, "graph")
    for tensor in w.tables(graph, 0):
        w.claim(tensor, 0, 4, "graph")                       # shape
        w.claim(tensor, 7, 4, "graph")                       # shape_signature
        w.claim(tensor, 3, 1, "names", string=True)
        quantization = w.target(tensor, 4)
        if quantization:
            for slot, size in ((0, 4), (1, 4), (2, 4), (3, 8)):   # min max scale zero_point
                w.claim(quantization, slot, size, "quantization")
        buffers.add(w.scalar(tensor, 2))
    for op in w.tables(graph, 3):
        for slot, size in ((1, 4), (2, 4), (5, 1), (7, 1), (8, 4)):
            w.claim(op, slot, size, "graph")   # inputs outputs custom_options mutating intermediates
    return buffers


# ----------------------------------------------------------------------------- the report


@dataclass
class PerTensorCandidate:
    """One per-channel weight tensor that might be stored per tensor."""

    subgraph: int
    op_index: int
    op_name: str
    tensor: int           # the weight tensor's index in the original model
    name: str
    channels: int
    exact: bool           # every channel has the same scale (and zero point)
    applied: bool = False
    reason: str = ""
    sqnr_db: float | None = None        # the op's output SQNR, per-channel weights
    sqnr_loss_db: float | None = None   # how much one scale lowers it
    bytes_saved: int = 0                # scale and zero-point arrays no longer stored

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class ShrinkReport:
    before: FlashBytes
    after: FlashBytes
    stripped: dict = field(default_factory=dict)
    pruned: dict = field(default_factory=dict)
    runtime_version: dict = field(default_factory=dict)
    per_tensor: list = field(default_factory=list)
    max_sqnr_loss_db: float = DEFAULT_MAX_SQNR_LOSS_DB
    output_sqnr_db: float | None = None   # re-quantized model vs the original, calibration

    @property
    def saved(self) -> int:
        return self.before.total - self.after.total

    def saved_by_category(self) -> dict:
        return {c: getattr(self.before, c) - getattr(self.after, c) for c in CATEGORIES}

    def as_dict(self) -> dict:
        return {"before": self.before.as_dict(), "after": self.after.as_dict(),
                "saved": self.saved, "saved_by_category": self.saved_by_category(),
                "stripped": self.stripped, "pruned": self.pruned,
                "min_runtime_version": self.runtime_version,
                "per_tensor": [c.as_dict() for c in self.per_tensor],
                "max_sqnr_loss_db": self.max_sqnr_loss_db,
                "output_sqnr_db": self.output_sqnr_db}

    def table(self) -> str:
        percent = 100.0 * self.saved / self.before.total if self.before.total else 0.0
        lines = [f"flash: {self.before.total:,} -> {self.after.total:,} bytes "
                 f"(saved {self.saved:,}, {percent:.1f}%)", "",
                 f"{'':14}{'before':>10}{'after':>10}{'saved':>10}  what"]
        for c in CATEGORIES + ("total",):
            b, a = getattr(self.before, c), getattr(self.after, c)
            lines.append(f"{c:14}{b:>10,}{a:>10,}{b - a:>10,}  {CATEGORY_HELP.get(c, '')}")
        lines += ["", "stripped: " + _describe(self.stripped),
                  "pruned:   " + _describe(self.pruned), _describe_runtime(self.runtime_version)]
        if self.per_tensor:
            lines += ["", self.per_tensor_table()]
        return "\n".join(lines)

    def per_tensor_table(self) -> str:
        applied = sum(c.applied for c in self.per_tensor)
        lines = [f"per-tensor weights: {applied} of {len(self.per_tensor)} per-channel weight "
                 f"tensors stored with one scale (SQNR loss limit {self.max_sqnr_loss_db} dB)"]
        for c in self.per_tensor:
            loss = "exact" if c.exact else ("-" if c.sqnr_loss_db is None
                                            else f"{c.sqnr_loss_db:+.3f} dB")
            what = f"saved {c.bytes_saved} B" if c.applied else c.reason
            lines.append(f"  sg{c.subgraph} op {c.op_index:<3} {c.op_name:<18} "
                         f"tensor {c.tensor:<4} {c.channels:>4} ch  {loss:>12}  {what}")
        if self.output_sqnr_db is not None:
            lines.append(f"  model outputs vs the original's, calibration data: "
                         f"SQNR {self.output_sqnr_db:.1f} dB")
        return "\n".join(lines)

    def __str__(self):
        return self.table()


def _describe(counts: dict) -> str:
    parts = []
    for key, value in counts.items():
        if isinstance(value, (list, tuple)):
            if value:
                parts.append(f"{key} {', '.join(map(str, value))}")
        elif value:
            parts.append(f"{value} {key.replace('_', ' ')}")
    return "; ".join(parts) or "nothing"


def _describe_runtime(info: dict) -> str:
    stored = info.get("stored")
    stored = "none" if stored is None else repr(stored)
    return (f"min_runtime_version: stored {stored}, computed {info.get('computed')!r}, "
            f"{info.get('action')}")


@dataclass
class ShrinkResult:
    model: Model          # the shrunk model, as read back from `data`
    data: bytes
    report: ShrinkReport


# ----------------------------------------------------------------------------- shrink_model


def shrink_model(model, *, strip_names: bool = False, keep_metadata=(),
                 runtime_version: str = "update", per_tensor: bool = False,
                 calibration=None, max_sqnr_loss_db: float = DEFAULT_MAX_SQNR_LOSS_DB,
                 strip_signatures: bool = True) -> ShrinkResult:
    """A smaller `model` (a Model, .tflite bytes or a path) that TFLM runs to the same
    bytes; see the module docstring for each step.

    runtime_version: "update" rewrites a "min_runtime_version" entry the model has,
    "add" also adds one where it has none, "drop" removes it (TFLM never reads it).
    per_tensor: store per-channel weights with one scale where that is exact, or - with
    `calibration` (inputs for input 0: float values, or values of the input's own type)
    - where it lowers the op's output SQNR by less than max_sqnr_loss_db."""
    if runtime_version not in RUNTIME_VERSION_POLICIES:
        raise InputError(f"runtime_version must be one of {RUNTIME_VERSION_POLICIES}, "
                         f"got {runtime_version!r}")
    original, data = as_model_and_bytes(model)
    shrunk = copy.deepcopy(original)
    report = ShrinkReport(before=flash_bytes(data), after=FlashBytes(0),
                          max_sqnr_loss_db=max_sqnr_loss_db)
    if per_tensor:
        report.per_tensor, report.output_sqnr_db = _per_tensor_weights(
            shrunk, original, calibration, max_sqnr_loss_db)
    elif calibration is not None:
        raise InputError("calibration data is only used to choose per-tensor weights "
                         "(per_tensor=True)")
    report.stripped = _strip(shrunk, strip_names, strip_signatures,
                             set(TFLM_METADATA) | set(keep_metadata) | {MIN_RUNTIME_VERSION})
    report.pruned = prune(shrunk)
    report.runtime_version = _write_runtime_version(shrunk, runtime_version)
    out = write_compact(shrunk)
    report.after = flash_bytes(out)
    return ShrinkResult(model=read_model(out), data=out, report=report)


# ----------------------------------------------------------------------------- writing


def write_compact(model: Model) -> bytes:
    """The .tflite bytes of `model` (the schema writer leaves empty metadata and signature
    lists out of the file)."""
    return write_model(model)


# ----------------------------------------------------------------------------- strip


def _strip(model: Model, strip_names: bool, strip_signatures: bool, keep: set) -> dict:
    """Drop what TFLM never reads. An absent field (None) costs nothing; an empty string
    would still cost its length prefix and NUL."""
    done = {"description": int(bool(model.description)),
            "signature_defs": len(model.signature_defs) if strip_signatures else 0,
            "metadata": [e.name for e in model.metadata if e.name not in keep],
            "names": 0, "min_max": 0, "shape_signatures": 0}
    model.description = None
    model.metadata_buffer = ()
    if strip_signatures:
        model.signature_defs = []
    model.metadata = [e for e in model.metadata if e.name in keep]
    for graph in model.subgraphs:   # an empty name is left out whatever strip_names says
        done["names"] += bool(strip_names and graph.name)
        graph.name = None if strip_names or not graph.name else graph.name
        for t in graph.tensors:
            done["names"] += bool(strip_names and t.name)
            t.name = None if strip_names or not t.name else t.name
            if t.shape_signature is not None and tuple(t.shape_signature) == tuple(t.shape):
                t.shape_signature = None
                done["shape_signatures"] += 1
            done["min_max"] += _strip_quantization(t)
    return done


def _strip_quantization(t) -> int:
    """Drop min/max (calibration ranges; TFLM reads scale and zero_point only), and the
    whole table when nothing is left in it. Returns 1 if min/max were dropped."""
    q = t.quantization
    if q is None:
        return 0
    had_range = bool(q.min or q.max)
    q.min, q.max = (), ()
    if not q.scale and not q.zero_point:
        t.quantization = None
    return int(had_range)


# ----------------------------------------------------------------------------- prune


# ----------------------------------------------------------------------------- runtime version


def _write_runtime_version(model: Model, policy: str) -> dict:
    stored = stored_runtime_version(model)
    computed = min_runtime_version(model)
    info = {"stored": stored, "computed": computed, "action": "none"}
    entry = next((e for e in model.metadata if e.name == MIN_RUNTIME_VERSION), None)
    if policy == "drop":
        model.metadata = [e for e in model.metadata if e.name != MIN_RUNTIME_VERSION]
        info["action"] = "dropped" if entry else "none (absent)"
    elif entry is None and policy == "update":
        info["action"] = "none (absent; runtime_version='add' adds it)"
    else:
        if entry is None:
            model.buffers.append(Buffer())
            entry = Metadata(MIN_RUNTIME_VERSION, len(model.buffers) - 1)
            model.metadata.append(entry)
        model.buffers[entry.buffer] = Buffer(runtime_version_bytes(computed))
        info["action"] = f"written ({RUNTIME_VERSION_BYTES} bytes)"
    return info


# ----------------------------------------------------------------------------- per-tensor weights

# Ops with per-channel weights: positions of (data input, weights, bias) in op.inputs.
# TFLM's kernels broadcast a single weight scale over the output channels
# (PopulateConvolutionQuantizationParams; FULLY_CONNECTED is per tensor by default).
WEIGHT_OPS = {Op.CONV_2D: (0, 1, 2), Op.DEPTHWISE_CONV_2D: (0, 1, 2),
              Op.FULLY_CONNECTED: (0, 1, 2), Op.TRANSPOSE_CONV: (2, 1, 3)}
# Full-integer activations: the op version TensorFlow gives these ops does not depend on
# per-channel or per-tensor weights, so the version the model records still holds. (Only
# hybrid ops - float input, int8 weights - have a version for per-channel weights, and
# TFLM does not run hybrid ops.)
INTEGER_ACTIVATIONS = (TensorType.INT8, TensorType.INT16)


def _per_tensor_weights(model: Model, original: Model, calibration, max_loss_db: float):
    """Find per-channel weights, store per tensor those that pass; returns (candidates,
    the SQNR of the re-quantized model's outputs against the original's or None)."""
    candidates = _find_candidates(model)
    lossy = [c for c in candidates if not c.reason and not c.exact]
    samples = None if calibration is None else _calibration_samples(model, calibration)
    if lossy and samples is not None:
        _measure(model, lossy, samples)
    for c in candidates:
        if c.reason:
            continue
        if not c.exact and c.sqnr_loss_db is None:
            c.reason = ("needs calibration data to measure" if c.subgraph == 0
                        else "scales differ (only subgraph 0 is measured)")
        elif not c.exact and c.sqnr_loss_db >= max_loss_db:
            c.reason = f"loses {c.sqnr_loss_db:.3f} dB >= {max_loss_db} dB"
        else:
            c.bytes_saved = _apply_per_tensor(model, c)
            c.applied = True
    output_sqnr = None
    if samples is not None and any(c.applied and not c.exact for c in candidates):
        output_sqnr = _output_sqnr(original, model, samples)
    return candidates, output_sqnr


def _consumers(graph) -> dict:
    """tensor index -> [(op index, input position)]."""
    users = {}
    for k, op in enumerate(graph.operators):
        for pos, i in enumerate(op.inputs):
            if i >= 0:
                users.setdefault(i, []).append((k, pos))
    return users


def _find_candidates(model: Model) -> list[PerTensorCandidate]:
    found = []
    for s, graph in enumerate(model.subgraphs):
        users = _consumers(graph)
        for k, op in enumerate(graph.operators):
            code = model.operator_codes[op.opcode_index].builtin_code
            if code not in WEIGHT_OPS or len(op.inputs) <= WEIGHT_OPS[code][1]:
                continue
            weights = op.inputs[WEIGHT_OPS[code][1]]
            t = graph.tensors[weights] if weights >= 0 else None
            q = t.quantization if t is not None else None
            if q is None or len(q.scale) <= 1 or tensor_data(model, t) is None:
                continue
            exact = len(set(q.scale)) == 1 and len(set(q.zero_point)) <= 1
            c = PerTensorCandidate(s, k, op_name(code), weights, t.name, len(q.scale), exact)
            c.reason = _why_not(model, graph, op, code, users, exact)
            found.append(c)
    return found


def _why_not(model, graph, op, code, users, exact) -> str:
    """"" when the candidate's op can take per-tensor weights, else why not."""
    data_pos, weight_pos, bias_pos = WEIGHT_OPS[code]
    data = graph.tensors[op.inputs[data_pos]]
    if data.type not in INTEGER_ACTIVATIONS:
        return (f"{TensorType(data.type).name} input (hybrid op: its version records "
                f"per-channel weights)")
    weights = graph.tensors[op.inputs[weight_pos]]
    if weights.type != TensorType.INT8:
        return f"{TensorType(weights.type).name} weights (only int8 are re-quantized)"
    if len(users.get(op.inputs[weight_pos], [])) != 1:
        return "weights shared with another op"
    bias = op.inputs[bias_pos] if len(op.inputs) > bias_pos else -1
    if not exact and bias >= 0 and len(users.get(bias, [])) != 1:
        return "bias shared with another op"
    return ""


def _apply_per_tensor(model: Model, c: PerTensorCandidate) -> int:
    """Store the candidate's weights (and its bias) with one scale; returns the bytes of
    scale and zero-point arrays saved."""
    graph = model.subgraphs[c.subgraph]
    op = graph.operators[c.op_index]
    code = model.operator_codes[op.opcode_index].builtin_code
    _, weight_pos, bias_pos = WEIGHT_OPS[code]
    weights = graph.tensors[op.inputs[weight_pos]]
    bias_index = op.inputs[bias_pos] if len(op.inputs) > bias_pos else -1
    bias = graph.tensors[bias_index] if bias_index >= 0 else None
    before = _quantization_bytes(weights) + _quantization_bytes(bias)
    if c.exact:
        weights.quantization = _one_scale(weights.quantization, weights.quantization.scale[0])
        if bias is not None and _all_equal(bias.quantization):
            bias.quantization = _one_scale(bias.quantization, bias.quantization.scale[0])
    else:
        new_weights, new_bias = _requantized(model, weights, bias)
        _replace_data(model, weights, *new_weights)
        if bias is not None:
            _replace_data(model, bias, *new_bias)
    return before - _quantization_bytes(weights) - _quantization_bytes(bias)


def _all_equal(q) -> bool:
    return q is not None and len(q.scale) > 1 and len(set(q.scale)) == 1 and \
        len(set(q.zero_point)) <= 1


def _one_scale(q: QuantizationParameters, scale: float) -> QuantizationParameters:
    zero_point = (q.zero_point[0],) if q.zero_point else (0,)
    return QuantizationParameters(scale=(float(np.float32(scale)),), zero_point=zero_point,
                                  quantized_dimension=0, min=q.min, max=q.max)


def _quantization_bytes(t) -> int:
    q = t.quantization if t is not None else None
    return 0 if q is None else 4 * len(q.scale) + 8 * len(q.zero_point)


def _replace_data(model: Model, t, quantization, array) -> None:
    model.buffers.append(Buffer(np.ascontiguousarray(array).tobytes()))
    t.buffer = len(model.buffers) - 1
    t.quantization = quantization


def _round_half_away(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.floor(np.abs(x) + 0.5)   # std::round, as TFLite's quantizer


def _channel_shape(t) -> list:
    axis = t.quantization.quantized_dimension
    return [-1 if k == axis else 1 for k in range(len(t.shape))]


def _requantized(model: Model, weights, bias):
    """Weights (and bias) re-quantized to the largest channel scale, so every value still
    fits: w' = round(w * s_c / s). The bias keeps its meaning the same way: its scale is
    input_scale * weight_scale, so b' = round(b * s_c / s) on scale input_scale * s."""
    scales = np.asarray(weights.quantization.scale, np.float64)
    top = int(np.argmax(scales))
    ratio = scales / scales[top]
    w = tensor_data(model, weights).astype(np.float64)
    w = np.clip(_round_half_away(w * ratio.reshape(_channel_shape(weights))), -127, 127)
    new_weights = (_one_scale(weights.quantization, scales[top]), w.astype(np.int8))
    if bias is None:
        return new_weights, None
    b = tensor_data(model, bias)
    info = np.iinfo(b.dtype)
    b_new = np.clip(_round_half_away(b.astype(np.float64) * ratio.reshape(b.shape)),
                    info.min, info.max).astype(b.dtype)
    bias_scale = bias.quantization.scale[top] if bias.quantization and \
        len(bias.quantization.scale) == len(scales) else None
    if bias_scale is None:
        raise ModelError(f"bias tensor {bias.name!r} has no per-channel scales to re-quantize")
    return new_weights, (_one_scale(bias.quantization, bias_scale), b_new)


# ----------------------------------------------------------------------------- SQNR on calibration


def _calibration_samples(model: Model, data) -> list[np.ndarray]:
    """Calibration data as a list of values for input 0 (one per sample). Float data for an
    integer input is quantized with the input's scale and zero point."""
    graph = model.subgraphs[0]
    if len(graph.inputs) != 1:
        raise InputError(f"calibration data feeds one input; this model has "
                         f"{len(graph.inputs)}")
    t = graph.tensors[graph.inputs[0]]
    data = np.asarray(data)
    per_sample = int(np.prod(t.shape))
    if data.size == 0 or data.size % per_sample:
        raise InputError(f"calibration data of shape {list(data.shape)} does not hold whole "
                         f"samples of input 0 (shape {list(t.shape)})")
    samples = data.reshape((-1,) + tuple(t.shape))
    dtype = np.dtype(NUMPY_DTYPE[t.type])
    if dtype.kind in "iu" and samples.dtype.kind == "f":
        q = t.quantization
        if q is None or not q.scale:
            raise InputError("float calibration data for an integer input without a scale")
        info = np.iinfo(dtype)
        zero_point = q.zero_point[0] if q.zero_point else 0
        samples = np.clip(_round_half_away(samples / q.scale[0]) + zero_point,
                          info.min, info.max)
    return list(samples.astype(dtype))


def _capture_inputs(model: Model, samples: list, ops: dict) -> dict:
    """The value each op of `ops` ({op index: input position}) reads, per sample, when
    tflm_edu runs the model on the calibration samples."""
    from tflm_edu.interpreter import MicroInterpreter
    from tflm_edu.op_resolver import AllOpsResolver
    interpreter = MicroInterpreter(model, AllOpsResolver(), None)
    interpreter.allocate_tensors()
    seen = {k: [] for k in ops}
    for x in samples:
        interpreter.input(0).data[...] = x
        for event in interpreter.steps():
            if event.op_index in ops:
                seen[event.op_index].append(np.array(event.inputs[ops[event.op_index]]))
    return seen


def _measure(model: Model, candidates: list, samples: list) -> None:
    """Each candidate's SQNR loss, op by op: the op alone, fed what it reads in the full
    model, with per-channel and with one-scale weights, against the same op in float32
    (weights, bias and input dequantized) - the output the int8 op approximates."""
    graph = model.subgraphs[0]
    todo = [c for c in candidates if c.subgraph == 0]
    code_of = {c.op_index: model.operator_codes[graph.operators[c.op_index].opcode_index]
               for c in todo}
    captured = _capture_inputs(model, samples, {c.op_index: WEIGHT_OPS[
        code_of[c.op_index].builtin_code][0] for c in todo})
    for c in todo:
        op = graph.operators[c.op_index]
        _, weight_pos, bias_pos = WEIGHT_OPS[code_of[c.op_index].builtin_code]
        weights = graph.tensors[op.inputs[weight_pos]]
        bias_index = op.inputs[bias_pos] if len(op.inputs) > bias_pos else -1
        bias = graph.tensors[bias_index] if bias_index >= 0 else None
        new_weights, new_bias = _requantized(model, weights, bias)
        overrides = {op.inputs[weight_pos]: (new_weights[0], new_weights[1])}
        if bias is not None:
            overrides[bias_index] = new_bias
        xs = captured[c.op_index]
        reference = _run_one_op(model, graph, op, xs, as_float=True)
        per_channel = _run_one_op(model, graph, op, xs)
        one_scale = _run_one_op(model, graph, op, xs, overrides)
        c.sqnr_db = _sqnr(reference, per_channel)
        c.sqnr_loss_db = _loss(c.sqnr_db, _sqnr(reference, one_scale))


def _sqnr(reference: np.ndarray, approximation: np.ndarray) -> float:
    """10 log10(signal power / error power), in dB; inf when they are equal."""
    noise = float(np.sum((approximation - reference) ** 2))
    signal = float(np.sum(reference ** 2))
    if noise == 0:
        return float("inf")
    return float(10 * np.log10(max(signal, 1e-30) / noise))


def _loss(before: float, after: float) -> float:
    """SQNR lost, in dB (0 when both are exact)."""
    return 0.0 if before == after else before - after


def _run_one_op(model: Model, graph, op, samples: list, overrides=None,
                as_float: bool = False) -> np.ndarray:
    """Run one op of `graph` alone on `samples` through tflm_edu; its output, dequantized.
    `overrides`: tensor index -> (quantization, values) to use instead of the model's."""
    from tflm_edu.interpreter import MicroInterpreter
    from tflm_edu.op_resolver import AllOpsResolver
    overrides = overrides or {}
    b = ModelBuilder(description="tflm_edu shrink: one op", min_runtime_version="")
    inputs, data_input = [], None
    for i in op.inputs:
        if i < 0:
            inputs.append(-1)
            continue
        t = graph.tensors[i]
        quant, values = overrides.get(i, (t.quantization, tensor_data(model, t)))
        if values is None:
            data_input = (t, quant)
            dtype, quant = (np.float32, None) if as_float else (t.dtype, quant)
            inputs.append(b.add_input(t.shape, dtype, quant=quant))
        elif as_float and quant is not None and quant.scale:
            inputs.append(b.add_tensor(t.shape, np.float32, data=_dequantize(values, quant)))
        else:
            inputs.append(b.add_tensor(t.shape, t.dtype, data=values, quant=quant))
    out = graph.tensors[op.outputs[0]]
    out_dtype, out_quant = (np.float32, None) if as_float else (out.dtype, out.quantization)
    output = b.mark_output(b.add_tensor(out.shape, out_dtype, quant=out_quant))
    code = model.operator_codes[op.opcode_index]
    b.add_operator(code.builtin_code, inputs, [output], op.builtin_options, version=code.version)
    interpreter = MicroInterpreter(b.build(), AllOpsResolver(), None)
    interpreter.allocate_tensors()
    results = []
    for x in samples:
        if as_float:
            x = _dequantize(x, data_input[1])
        interpreter.input(0).data[...] = x
        interpreter.invoke()
        y = interpreter.output(0).data
        results.append(y.astype(np.float64) if as_float else _dequantize(y, out.quantization))
    return np.stack(results)


def _dequantize(values: np.ndarray, q: QuantizationParameters) -> np.ndarray:
    """real = scale * (q - zero_point), per tensor or along the quantized dimension."""
    values = np.asarray(values)
    scale = np.asarray(q.scale, np.float64)
    zero_point = np.asarray(q.zero_point or (0,), np.float64)
    if len(scale) > 1:
        # A bias is 1-D whatever quantized_dimension says (some converters copy the
        # weights' axis 3 onto it).
        axis = q.quantized_dimension if q.quantized_dimension < values.ndim else 0
        shape = [-1 if k == axis else 1 for k in range(values.ndim)]
        scale, zero_point = scale.reshape(shape), zero_point.reshape(shape)
    return ((values.astype(np.float64) - zero_point) * scale).astype(np.float32)


def _output_sqnr(original: Model, shrunk: Model, samples: list) -> float:
    """SQNR of the re-quantized model's outputs against the original model's (both
    dequantized), over the calibration samples: how far one-scale weights move them."""
    from tflm_edu.interpreter import MicroInterpreter
    from tflm_edu.op_resolver import AllOpsResolver
    runs = []
    for model in (original, shrunk):
        interpreter = MicroInterpreter(model, AllOpsResolver(), None)
        interpreter.allocate_tensors()
        graph = model.subgraphs[0]
        outputs = []
        for x in samples:
            interpreter.input(0).data[...] = x
            interpreter.invoke()
            for k, index in enumerate(graph.outputs):
                t = graph.tensors[index]
                y = interpreter.output(k).data
                outputs.append(_dequantize(y, t.quantization).ravel() if t.quantization
                               and t.quantization.scale else y.astype(np.float64).ravel())
        runs.append(np.concatenate(outputs).astype(np.float64))
    return _sqnr(runs[0], runs[1])


__all__ = ["shrink_model", "ShrinkResult", "ShrinkReport", "PerTensorCandidate", "FlashBytes",
           "flash_bytes", "min_runtime_version", "op_runtime_version", "runtime_version_bytes",
           "stored_runtime_version", "RUNTIME_VERSIONS", "TFLM_METADATA", "CATEGORIES"]
