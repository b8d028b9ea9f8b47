"""Write a Model back to .tflite bytes with flatbuffers.Builder (schema v3, "TFL3").

The inverse of reader.py: read_model(write_model(m)) == m. A FlatBuffer is built
back to front, so every table's children (strings, vectors, sub-tables) are written
before the table that points at them. Buffer contents are aligned to 16 bytes, as
TensorFlow's converter does, so a model mapped from flash can be read in place by
kernels that expect aligned weights.
"""
from __future__ import annotations

import flatbuffers
import numpy as np

from tflm_edu.schema import options as opts
from tflm_edu.schema.model import Model

BUFFER_ALIGNMENT = 16

_PREPEND_SLOT = {"b": "PrependInt8Slot", "B": "PrependUint8Slot", "?": "PrependBoolSlot",
                 "i": "PrependInt32Slot", "I": "PrependUint32Slot", "f": "PrependFloat32Slot",
                 "q": "PrependInt64Slot", "Q": "PrependUint64Slot"}


class _Writer:
    def __init__(self):
        self.b = flatbuffers.Builder(1024)

    # -- vectors and strings --------------------------------------------------------------

    def numbers(self, values, dtype):
        return self.b.CreateNumpyVector(np.asarray(values, dtype=dtype))

    def aligned_bytes(self, data: bytes):
        self.b.StartVector(1, len(data), BUFFER_ALIGNMENT)
        self.b.head -= len(data)
        self.b.Bytes[self.b.head:self.b.head + len(data)] = data
        return self.b.EndVector()

    def offsets(self, items):
        self.b.StartVector(4, len(items), 4)
        for item in reversed(items):
            self.b.PrependUOffsetTRelative(item)
        return self.b.EndVector()

    def string(self, text):
        return None if text is None else self.b.CreateString(text)

    # -- tables ---------------------------------------------------------------------------

    def table(self, fields):
        """Write one table. `fields` lists (slot, format, value, default); format "o" is an
        offset already written (value None = absent)."""
        self.b.StartObject(1 + max((slot for slot, *_ in fields), default=-1))
        for slot, fmt, value, default in fields:
            if fmt == "o":
                if value is not None:
                    self.b.PrependUOffsetTRelativeSlot(slot, value, 0)
            else:
                getattr(self.b, _PREPEND_SLOT[fmt])(slot, value, default)
        return self.b.EndObject()

    def quantization(self, q):
        if q is None:
            return None
        vectors = [self.numbers(q.min, "<f4") if q.min else None,
                   self.numbers(q.max, "<f4") if q.max else None,
                   self.numbers(q.scale, "<f4") if q.scale else None,
                   self.numbers(q.zero_point, "<i8") if q.zero_point else None]
        return self.table([(slot, "o", v, None) for slot, v in enumerate(vectors)]
                          + [(6, "i", q.quantized_dimension, 0)])

    def tensor(self, t):
        shape = self.numbers(t.shape, "<i4")
        name = self.string(t.name)
        quant = self.quantization(t.quantization)
        signature = None if t.shape_signature is None else self.numbers(t.shape_signature, "<i4")
        return self.table([(0, "o", shape, None), (1, "b", t.type, 0), (2, "I", t.buffer, 0),
                           (3, "o", name, None), (4, "o", quant, None),
                           (5, "?", t.is_variable, False), (7, "o", signature, None)])

    def builtin_options(self, options):
        spec = opts.SPEC_BY_CLASS[type(options)]
        defaults, fields = spec.cls(), []
        for slot, name, fmt in spec.slots:  # deprecated slots are never written
            value = getattr(options, name)
            if fmt in opts.VECTOR_DTYPE:  # None: absent; () an empty vector
                vector = None if value is None else self.numbers(value, opts.VECTOR_DTYPE[fmt])
                fields.append((slot, "o", vector, None))
            elif fmt == opts.STRING:
                fields.append((slot, "o", self.string(value), None))
            else:
                fields.append((slot, fmt, value, getattr(defaults, name)))
        return self.table(fields)

    def operator(self, op):
        inputs, outputs = self.numbers(op.inputs, "<i4"), self.numbers(op.outputs, "<i4")
        options = None if op.builtin_options is None else self.builtin_options(op.builtin_options)
        custom = None if op.custom_options is None else self.numbers(
            np.frombuffer(op.custom_options, np.uint8), "u1")
        intermediates = self.numbers(op.intermediates, "<i4") if op.intermediates else None
        return self.table([(0, "I", op.opcode_index, 0), (1, "o", inputs, None),
                           (2, "o", outputs, None), (3, "B", op.builtin_options_type, 0),
                           (4, "o", options, None), (5, "o", custom, None),
                           (8, "o", intermediates, None)])

    def subgraph(self, sg):
        tensors = self.offsets([self.tensor(t) for t in sg.tensors])
        inputs, outputs = self.numbers(sg.inputs, "<i4"), self.numbers(sg.outputs, "<i4")
        operators = self.offsets([self.operator(op) for op in sg.operators])
        name = self.string(sg.name)
        return self.table([(0, "o", tensors, None), (1, "o", inputs, None),
                           (2, "o", outputs, None), (3, "o", operators, None),
                           (4, "o", name, None)])

    def operator_code(self, code):
        custom = self.string(code.custom_code)
        deprecated = min(code.builtin_code, 127)  # int8 field; 127 means "see builtin_code"
        return self.table([(0, "b", deprecated, 0), (1, "o", custom, None),
                           (2, "i", code.version, 1), (3, "i", code.builtin_code, 0)])

    def buffer(self, buf):
        data = self.aligned_bytes(buf.data) if buf.data else None
        return self.table([(0, "o", data, None)])

    def signature(self, sig):
        def tensor_maps(entries):
            return self.offsets([self.table([(0, "o", self.string(e.name), None),
                                             (1, "I", e.tensor_index, 0)]) for e in entries])
        inputs, outputs = tensor_maps(sig.inputs), tensor_maps(sig.outputs)
        key = self.string(sig.signature_key)
        return self.table([(0, "o", inputs, None), (1, "o", outputs, None), (2, "o", key, None),
                           (4, "I", sig.subgraph_index, 0)])

    def model(self, m: Model) -> bytes:
        # Buffers first: they are the bulk of the file and sit at its end, as in the
        # converter's output.
        buffers = self.offsets([self.buffer(buf) for buf in m.buffers])
        codes = self.offsets([self.operator_code(c) for c in m.operator_codes])
        subgraphs = self.offsets([self.subgraph(sg) for sg in m.subgraphs])
        description = self.string(m.description)
        # No metadata or signatures: no vector at all (readers take absent as empty; an
        # empty vector would still cost its length word and an offset)
        metadata = self.offsets([self.table([(0, "o", self.string(e.name), None),
                                             (1, "I", e.buffer, 0)]) for e in m.metadata]) \
            if m.metadata else None
        signatures = self.offsets([self.signature(s) for s in m.signature_defs]) \
            if m.signature_defs else None
        metadata_buffer = self.numbers(m.metadata_buffer, "<i4") if m.metadata_buffer else None
        root = self.table([(0, "I", m.version, 0), (1, "o", codes, None),
                           (2, "o", subgraphs, None), (3, "o", description, None),
                           (4, "o", buffers, None), (5, "o", metadata_buffer, None),
                           (6, "o", metadata, None), (7, "o", signatures, None)])
        self.b.Finish(root, file_identifier=b"TFL3")
        return bytes(self.b.Output())


def write_model(model: Model) -> bytes:
    """Serialize `model` to .tflite bytes."""
    return _Writer().model(model)
