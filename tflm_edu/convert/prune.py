"""Dropping what no op uses: tensors, operator codes and buffers, with every reference
renumbered - op inputs and outputs, graph inputs and outputs, signatures, the offline memory
plan (one offset per tensor), metadata buffers. Constant data stored twice is kept once.

Used by constant folding (fold.py: the folded ops leave tensors behind) and by shrink.py.
"""
from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np

from tflm_edu.errors import ModelError
from tflm_edu.schema.model import Buffer, Model, SignatureDef, TensorMap

OFFLINE_MEMORY_ALLOCATION = "OfflineMemoryAllocation"
COMPRESSION_METADATA = "COMPRESSION_METADATA"


def prune_unused(model: Model) -> Model:
    """A pruned copy of `model` (see prune)."""
    model = copy.deepcopy(model)
    prune(model)
    return model


def prune(model: Model) -> dict:
    """Drop unused tensors, operator codes and buffers, renumbering every reference.
    A model with COMPRESSION_METADATA keeps its tensor and buffer indices: that metadata
    names tensors and buffers by index."""
    done = {"unused_tensors": 0, "dropped_operator_codes": 0, "unused_buffers": 0,
            "empty_buffers": 0, "shared_buffers": 0, "shared_buffer_bytes": 0}
    frozen = any(e.name == COMPRESSION_METADATA for e in model.metadata)
    if not frozen:
        done["unused_tensors"] = _prune_tensors(model)
    done["dropped_operator_codes"] = _prune_operator_codes(model)
    if not frozen:
        done.update(_prune_buffers(model))
    return done


def _used_tensors(graph) -> list[int]:
    used = set(graph.inputs) | set(graph.outputs)
    for op in graph.operators:
        used |= set(op.inputs) | set(op.outputs) | set(op.intermediates)
    return sorted(i for i in used if 0 <= i < len(graph.tensors))


def _prune_tensors(model: Model) -> int:
    kept = [_used_tensors(graph) for graph in model.subgraphs]
    dropped = sum(len(g.tensors) - len(k) for g, k in zip(model.subgraphs, kept))
    if not dropped:
        return 0
    _renumber_offline_plan(model, kept)
    for s, (graph, used) in enumerate(zip(model.subgraphs, kept)):
        new = {old: new for new, old in enumerate(used)}

        def renumber(indices):
            return tuple(new[i] if i >= 0 else i for i in indices)
        graph.tensors = [graph.tensors[old] for old in used]
        graph.inputs, graph.outputs = renumber(graph.inputs), renumber(graph.outputs)
        for op in graph.operators:
            op.inputs, op.outputs = renumber(op.inputs), renumber(op.outputs)
            op.intermediates = renumber(op.intermediates)
        model.signature_defs = [_renumber_signature(sig, new) if sig.subgraph_index == s
                                else sig for sig in model.signature_defs]
    return dropped


def _renumber_signature(sig: SignatureDef, new: dict) -> SignatureDef:
    def maps(entries):
        return tuple(TensorMap(m.name, new[m.tensor_index]) for m in entries
                     if m.tensor_index in new)
    return replace(sig, inputs=maps(sig.inputs), outputs=maps(sig.outputs))


def _renumber_offline_plan(model: Model, kept: list) -> None:
    """The offline plan lists one offset per tensor of every subgraph, in order, after
    three header words [version, subgraph, tensor count]; keep the kept tensors' offsets."""
    for entry in model.metadata:
        if entry.name != OFFLINE_MEMORY_ALLOCATION:
            continue
        raw = model.buffers[entry.buffer].data
        words = np.frombuffer(raw[:len(raw) // 4 * 4], "<i4")
        starts = np.cumsum([0] + [len(g.tensors) for g in model.subgraphs])
        if len(words) < 3 + starts[-1]:
            raise ModelError(f"{OFFLINE_MEMORY_ALLOCATION} lists fewer offsets than the "
                             f"model has tensors; cannot renumber it")
        offsets = [int(words[3 + starts[s] + i]) for s, used in enumerate(kept) for i in used]
        header = [int(words[0]), int(words[1]), len(offsets)]
        model.buffers[entry.buffer] = Buffer(np.asarray(header + offsets, "<i4").tobytes())


def _prune_operator_codes(model: Model) -> int:
    """Keep the codes ops use, each (op, version, custom name) once."""
    new_codes, index_of, remap = [], {}, {}
    for graph in model.subgraphs:
        for op in graph.operators:
            code = model.operator_codes[op.opcode_index]
            key = (code.builtin_code, code.custom_code, code.version)
            if key not in index_of:
                index_of[key] = len(new_codes)
                new_codes.append(code)
            remap[op.opcode_index] = index_of[key]
    for graph in model.subgraphs:
        for op in graph.operators:
            op.opcode_index = remap[op.opcode_index]
    dropped = len(model.operator_codes) - len(new_codes)
    model.operator_codes = new_codes
    return dropped


def _prune_buffers(model: Model) -> dict:
    """Buffer 0 stays the empty sentinel; tensors without data point at it; constant data
    seen twice is stored once; metadata keeps buffers of its own."""
    old = model.buffers
    buffers, new_index, merged, emptied = [Buffer()], {}, {}, set()
    done = {"unused_buffers": 0, "empty_buffers": 0, "shared_buffers": 0,
            "shared_buffer_bytes": 0}
    referenced = {t.buffer for g in model.subgraphs for t in g.tensors} | \
        {e.buffer for e in model.metadata}
    for graph in model.subgraphs:
        for t in graph.tensors:
            data = old[t.buffer].data if t.buffer < len(old) else b""
            if not data:
                emptied |= {t.buffer} - {0}
                t.buffer = 0
                continue
            key = (data, id(t)) if t.is_variable else data   # variables keep their own
            if key not in new_index:
                buffers.append(Buffer(data))
                new_index[key], merged[key] = len(buffers) - 1, {t.buffer}
            elif t.buffer not in merged[key]:    # the same bytes, stored apart until now
                merged[key].add(t.buffer)
                done["shared_buffers"] += 1
                done["shared_buffer_bytes"] += len(data)
            t.buffer = new_index[key]
    moved = {}
    for entry in model.metadata:    # after the weights, as the converter orders them
        buffers.append(Buffer(old[entry.buffer].data))
        moved[entry.buffer] = entry.buffer = len(buffers) - 1
    for b in model.metadata_buffer:         # the deprecated list of metadata buffers
        if b not in moved and 0 < b < len(old):
            buffers.append(Buffer(old[b].data))
            moved[b] = len(buffers) - 1
    model.metadata_buffer = tuple(moved.get(b, 0) for b in model.metadata_buffer)
    done["empty_buffers"] = len(emptied)
    done["unused_buffers"] = sum(1 for i in range(1, len(old)) if i not in referenced)
    model.buffers = buffers
    return done


__all__ = ["prune", "prune_unused", "OFFLINE_MEMORY_ALLOCATION", "COMPRESSION_METADATA"]
