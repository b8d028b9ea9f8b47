"""estimate_arena_size(): the smallest tensor arena the real TFLM accepts, and why.

TFLM's own answer to "how big must my arena be?" is to try sizes until AllocateTensors()
stops failing. tflm_edu answers before the model reaches a board:

  head   the memory plan: tflm_edu's MicroInterpreter runs init/prepare/plan with the same
         lifetimes and the same greedy planner as TFLM, so its plan's size is TFLM's head;
  tail   everything persistent, struct by struct for the chosen target (replay.py);
  temp   room needed only while allocating: kernels' temporary TfLiteTensors during
         Prepare, the AllocationInfo array and the planner's scratch during planning.

The smallest arena is found by replaying TFLM's allocations on a simulated arena.
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from tflm_edu.memory import allocator as rp
from tflm_edu.memory.layout import Target, get_target
from tflm_edu.errors import ModelError
from tflm_edu.memory.arena import align_up
from tflm_edu.schema import Model, as_model

HEAD = "Head: tensors and scratch buffers (memory plan)"
TEMP = "Temporary: room needed only while allocating"
TAIL_ORDER = [rp.EVAL_TENSORS, rp.PERSISTENT_TENSORS, rp.PERSISTENT_QUANTIZATION,
              rp.PERSISTENT_BUFFERS, rp.VARIABLES, rp.NODES, rp.BUILTIN_DATA,
              rp.ALLOCATOR_OBJECTS, rp.SCRATCH_HANDLES]
PERSISTENT_BUFFER_PARTS = {"init kernels": "kernel OpData structs (Init)",
                           "prepare kernels": "kernel buffers (Prepare): per-channel, LUTs",
                           "input and output tensors": "input/output TfLiteTensor* arrays"}


@dataclass
class ArenaEstimate:
    """The predicted smallest arena, split into head, temporaries and tail."""

    model_name: str
    target: Target
    arena_bytes: int
    head_bytes: int
    tail_bytes: int
    temp_bytes: int
    allocations: list  # replay.Allocation, for the smallest arena
    binding: rp.ArenaTooSmall | None  # what fails with one byte less
    planner: object  # tflm_edu's GreedyMemoryPlanner holding the plan
    buffers: list  # the interpreter's BufferInfo list
    op_names: list
    contributors: list = field(default_factory=list)

    # -- numbers

    @property
    def breakdown(self) -> dict:
        """Bytes per category; the values add up to arena_bytes."""
        result = {HEAD: self.head_bytes, TEMP: self.temp_bytes}
        tail = self.tail_categories()
        result.update({c: tail[c] for c in TAIL_ORDER if c in tail})
        return result

    def tail_categories(self) -> dict:
        totals = defaultdict(int)
        for a in self.allocations:
            if a.side == "tail":
                totals[a.category] += a.used
        return dict(totals)

    def persistent_buffer_parts(self) -> dict:
        parts = defaultdict(int)
        for a in self.allocations:
            if a.side == "tail" and a.category == rp.PERSISTENT_BUFFERS:
                parts[PERSISTENT_BUFFER_PARTS[a.phase]] += a.used
        return dict(parts)

    def counts(self) -> Counter:
        """How many structs (arrays count their elements) each tail category holds."""
        counts = Counter()
        for a in self.allocations:
            if a.side == "tail":
                counts[a.category] += rp.element_count(a.what)
        return counts

    @property
    def binding_reason(self) -> str:
        if self.binding is None:
            return "nothing fails one byte smaller"
        where = f" (op {self.binding.op_index})" if self.binding.op_index is not None else ""
        return f"{self.binding.phase}{where}: {self.binding.what}"

    # -- views

    def table(self) -> str:
        rows = [("category", "bytes", "share")]
        counts = self.counts()
        for category, nbytes in self.breakdown.items():
            label = category if category in (HEAD, TEMP) else f"Tail: {category}"
            if counts.get(category, 0) > 1 and category != rp.PERSISTENT_BUFFERS:
                label += f" ({counts[category]})"
            rows.append((label, f"{nbytes:,}", f"{100 * nbytes / self.arena_bytes:.1f}%"))
            if category == rp.PERSISTENT_BUFFERS:
                for part, part_bytes in self.persistent_buffer_parts().items():
                    rows.append((f"    {part}", f"{part_bytes:,}", ""))
        rows.append(("Arena (smallest that allocates and invokes)", f"{self.arena_bytes:,}",
                     "100.0%"))
        width = max(len(r[0]) for r in rows)
        lines = [f"Tensor arena for {self.model_name} on {self.target.name}: "
                 f"{self.arena_bytes:,} bytes (head {self.head_bytes:,} + temporary "
                 f"{self.temp_bytes:,} + tail {self.tail_bytes:,})"]
        for i, (label, nbytes, share) in enumerate(rows):
            lines.append(f"{label:<{width}}  {nbytes:>9}  {share:>6}")
            if i == 0 or i == len(rows) - 2:
                lines.append("-" * (width + 19))
        lines.append(f"Sets the size: {self.binding_reason}")
        lines += [f"- {c}" for c in self.contributors]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"model": self.model_name, "target": self.target.name,
                "arena_bytes": self.arena_bytes, "head_bytes": self.head_bytes,
                "tail_bytes": self.tail_bytes, "temp_bytes": self.temp_bytes,
                "breakdown": self.breakdown,
                "persistent_buffer_data": self.persistent_buffer_parts(),
                "sets_the_size": self.binding_reason, "contributors": list(self.contributors)}

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def plot(self, figsize=(10, 5.5)):
        from tflm_edu.arena_size.plot import plot_estimate
        return plot_estimate(self, figsize)

    def __repr__(self):
        return (f"ArenaEstimate({self.model_name} on {self.target.name}: {self.arena_bytes:,} "
                f"bytes = head {self.head_bytes:,} + temp {self.temp_bytes:,} + tail "
                f"{self.tail_bytes:,})")



# ------------------------------------------------------------------ building the estimate


def estimate_arena_size(model, target="host", name: str | None = None) -> ArenaEstimate:
    """The smallest tensor arena with which TFLM's AllocateTensors() and Invoke() succeed.

    model: a Model, the .tflite bytes, or a path. target: "host" (the x86-64 build of the
    tflite-micro Python package), "cortex-m" (a 32-bit Arm build with arm-none-eabi-gcc) or
    "cortex-m-int-enums". name: what the report and its plot call the model (default: the
    file's stem, or "model" for a Model or bytes - never the model's description)."""
    target = get_target(target)
    model, default_name = _load(model)
    name = name or default_name
    facts, interpreter = model_facts(model)
    arena_bytes = rp.smallest_arena(facts, target)
    arena = rp.replay(facts, target, arena_bytes)
    estimate = ArenaEstimate(
        name, target, arena_bytes, facts.head_bytes, arena.tail_bytes,
        arena_bytes - facts.head_bytes - arena.tail_bytes, arena.log,
        rp.binding_step(facts, target, arena_bytes), interpreter.planner, interpreter.buffers,
        [n.op_name for _, n, _ in interpreter.all_nodes()])
    estimate.contributors = contributors(estimate, interpreter)
    return estimate


def _load(model) -> tuple[Model, str]:
    """The Model, and what to call it: the file's stem for a path, else "model". Never the
    model's description field: converters fill it with text like "TOCO Converted.", which
    names nothing (pass name= to estimate_arena_size for a better one)."""
    if isinstance(model, Model) or isinstance(model, (bytes, bytearray, memoryview)):
        return as_model(model), "model"
    return as_model(model), Path(model).stem


def model_facts(model: Model):
    """Run tflm_edu's interpreter up to its memory plan; return (the facts TFLM's allocator
    needs - the same the interpreter commits its arena with -, the interpreter)."""
    from tflm_edu.interpreter import MicroInterpreter
    from tflm_edu.op_resolver import SPECS, AllOpsResolver, spec_for_code

    codes = [model.operator_codes[op.opcode_index]
             for subgraph in model.subgraphs for op in subgraph.operators]
    missing = sorted({c.name for c in codes if spec_for_code(c) is None})
    if missing:
        raise ModelError(f"no arena recipe for {', '.join(missing)}: tflm_edu.arena_size "
                         f"knows what TFLM's kernels allocate for the {len(SPECS)} ops "
                         f"tflm_edu has kernels for")
    interpreter = MicroInterpreter(model, AllOpsResolver(), None)
    for stage in interpreter.allocation_stages():  # init, prepare, plan; no need to commit
        if stage.name == "plan":
            break
    return interpreter.arena_facts(), interpreter


# ------------------------------------------------------------------ explaining it


def live_bytes_per_step(buffers) -> list[int]:
    """Bytes of planned buffers alive at each op step (16-byte aligned, as planned)."""
    planned = [b for b in buffers if b.bytes > 0]
    last = max([0] + [b.last_used for b in planned])
    return [sum(align_up(b.bytes) for b in planned if b.first_created <= t <= b.last_used)
            for t in range(last + 1)]


def contributors(estimate: ArenaEstimate, interpreter) -> list[str]:
    sentences = [_peak_sentence(estimate, interpreter)]
    lower_bound = max(live_bytes_per_step(estimate.buffers), default=0)
    if estimate.head_bytes > lower_bound:
        sentences.append(f"the greedy plan needs {estimate.head_bytes:,} bytes of head, "
                         f"{estimate.head_bytes - lower_bound:,} more than the most bytes "
                         f"alive at one op ({lower_bound:,}): buffers could not be packed "
                         f"tighter around each other")
    sentences += _tail_sentences(estimate)
    if estimate.temp_bytes > 0:
        sentences.append(_temp_sentence(estimate))
    return [s for s in sentences if s]


def _peak_sentence(estimate, interpreter) -> str:
    live = live_bytes_per_step(estimate.buffers)
    if not live or max(live) == 0:
        return "the memory plan is empty: no tensor needs room in the head"
    step = live.index(max(live))
    alive = [b for b in estimate.buffers if b.bytes > 0 and b.first_created <= step <= b.last_used]
    raw = sum(b.bytes for b in alive)
    if step == 0:
        names = ", ".join(_describe(interpreter, b) for b in alive)
        return f"before the first op the graph inputs take {raw:,} bytes ({names})"
    node = interpreter.step_nodes[step]
    if node is None or node.subgraph:
        return f"at step {step}, inside a called subgraph, {raw:,} bytes are live"
    own, others = _own_and_other_buffers(node, alive, interpreter)
    text = f"op {node.index}, {node.op_name}, holds {_join(own)}"
    text += " live together" if len(alive) > 1 else ""
    if others:
        text += f", while {_join(others)} wait{'s' if len(others) == 1 else ''} for later ops"
    return text + f": {raw:,} bytes"


def _own_and_other_buffers(node, alive, interpreter):
    inputs, outputs, scratch, others = [], [], [], []
    for b in alive:
        if b.tensor_index is None:
            scratch.append(f"a {b.bytes:,}-byte scratch buffer")
        elif b.subgraph == node.subgraph and b.tensor_index in node.inputs:
            inputs.append(f"{_shape(interpreter, b)} input")
        elif b.subgraph == node.subgraph and b.tensor_index in node.outputs:
            outputs.append(f"{_shape(interpreter, b)} output")
        else:
            others.append(_describe(interpreter, b))
    own = inputs + outputs
    if own:
        own[0] = "its " + own[0]
    return own + scratch, others


def _describe(interpreter, b) -> str:
    return f"tensor {b.tensor_index} ({_shape(interpreter, b)})"


def _shape(interpreter, b) -> str:
    """48x48x8 for a [1, 48, 48, 8] tensor (a leading batch of 1 is left out)."""
    shape = list(interpreter.buffer_tensor(b).shape)
    while len(shape) > 1 and shape[0] == 1:
        shape.pop(0)
    if len(shape) == 1:
        return f"{shape[0]}-element"
    return "x".join(str(d) for d in shape) or "scalar"


def _join(items) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _tail_sentences(estimate) -> list[str]:
    per_op = defaultdict(int)
    for a in estimate.allocations:
        if a.side == "tail" and a.op_index is not None:
            per_op[a.op_index] += a.used
    sentences = []
    if per_op:
        by_type = defaultdict(lambda: [0, 0])
        for i, nbytes in per_op.items():
            by_type[estimate.op_names[i]][0] += 1
            by_type[estimate.op_names[i]][1] += nbytes
        kind, (count, nbytes) = max(by_type.items(), key=lambda kv: kv[1][1])
        ops = f"{count} {kind} op{'s keep' if count > 1 else ' keeps'}"
        sentences.append(f"{ops} {nbytes:,} bytes of tail (OpData, parsed options and what "
                         f"their Prepare keeps: multipliers, tables, buffers)")
    counts, tail = estimate.counts(), estimate.tail_categories()
    per_tensor = [f"{counts[c]} {name} ({tail[c]:,} bytes)"
                  for c, name in ((rp.EVAL_TENSORS, "TfLiteEvalTensor"),
                                  (rp.NODES, "NodeAndRegistration")) if c in tail]
    if per_tensor:
        sentences.append("every tensor and op has a struct in the tail: "
                         + " and ".join(per_tensor))
    objects = tail.get(rp.ALLOCATOR_OBJECTS, 0)
    sentences.append(f"the allocator's own objects take {objects:,} bytes of the tail")
    return sentences


def _temp_sentence(estimate) -> str:
    b = estimate.binding
    if b is None or b.phase in ("create the allocator", "input and output tensors"):
        return (f"the {estimate.temp_bytes:,} bytes between head and tail are alignment "
                f"padding: the last tail struct cannot sit any closer to the head")
    phase_temps = [a for a in estimate.allocations if a.side == "temp" and a.phase == b.phase
                   and (b.phase != "prepare kernels" or a.op_index == b.op_index)]
    tail_then = sum(a.used for a in estimate.allocations
                    if a.side == "tail" and a.phase != "input and output tensors")
    if b.phase == "plan memory":
        info = next((a for a in phase_temps if "AllocationInfo" in a.what), None)
        planner = next((a for a in phase_temps if "planner" in a.what), None)
        parts = [f"{info.what} ({info.requested:,} bytes)" if info else "",
                 f"the greedy planner's scratch ({planner.requested:,} bytes)" if planner else ""]
        where = "while planning, the head side also holds " + " and ".join(p for p in parts if p)
    elif b.phase == "prepare kernels":
        tensors = sum(1 for a in phase_temps if "TfLiteTensor" in a.what)
        where = (f"while op {b.op_index} ({estimate.op_names[b.op_index]}) prepares, the head "
                 f"side also holds {tensors} temporary TfLiteTensors with their quantization "
                 f"({sum(a.used for a in phase_temps):,} bytes)")
    else:
        where = estimate.binding_reason
    return (f"{where}, beside a {tail_then:,}-byte tail: {estimate.temp_bytes:,} bytes more "
            f"than the final head + tail")


# ------------------------------------------------------------------ command line


def main_arena_size(args) -> int:
    """`tflm-edu arena-size MODEL [--target host|cortex-m] [--json]`: args has .model (a
    path), .target and .json. Prints the table (or JSON); returns the exit status. Errors
    (a missing file, a malformed model) propagate to the CLI, which prints one line."""
    estimate = estimate_arena_size(args.model, getattr(args, "target", None) or "host")
    print(estimate.to_json() if getattr(args, "json", False) else estimate.table())
    return 0
