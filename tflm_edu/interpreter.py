"""MicroInterpreter: run a model op by op in one tensor arena.

Mirrors tensorflow/lite/micro/micro_interpreter.cc and micro_allocator.cc. allocate_tensors()
runs TFLM's stages, and each is a visible step (see allocation_stages()):

  1. init     - StartModelAllocation: one MicroTensor per tensor, each op matched to its
                kernel through the op resolver, and every kernel's init() run
  2. prepare  - every kernel's prepare(): check shapes and types, compute OpData
                (multipliers, shifts, activation ranges), request scratch buffers
  3. plan     - AllocationInfoBuilder + the memory planner: a lifetime for every
                non-persistent buffer, then an offset for each in the arena head
  4. commit   - TFLM's MicroAllocator replayed on the arena for the target's struct sizes
                (memory/allocator.py): the arena TFLM would reject is rejected here, with
                the bytes it needs; then each tensor's data becomes a numpy view of the
                arena bytearray at its planned offset (variables: in the tail)

The arena is one real bytearray. Tensors whose lifetimes do not overlap may share bytes,
exactly as on a device; a wrong plan would corrupt results, which is what makes a plan
testable. What each kernel's Init and Prepare put in the tail is its OpSpec's ArenaRecipe,
recorded during the prepare stage; the kernels' OpData itself lives in Python objects.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from tflm_edu.errors import AllocationError, ModelError
from tflm_edu.kernels.kernel_api import MicroContext, MicroTensor, Node, QuantizationView
from tflm_edu.memory import allocator
from tflm_edu.memory.arena import MAX_AUTO_ARENA_BYTES, TensorArena, align_up
from tflm_edu.memory.layout import get_target
from tflm_edu.memory.plan_print import format_memory_plan
from tflm_edu.memory.planner import ONLINE, make_planner
from tflm_edu.op_resolver import SPECS, add_method_name
from tflm_edu.schema import Model, as_model
from tflm_edu.schema.enums import BuiltinOperator, NUMPY_DTYPE, type_name
from tflm_edu.schema.model import tensor_data

OFFLINE_MEMORY_ALLOCATION = "OfflineMemoryAllocation"


@dataclass
class AllocationStage:
    """One step of allocate_tensors(), for learners who want to watch it happen."""

    name: str
    summary: str
    details: dict = field(default_factory=dict)

    def __repr__(self):
        return f"[{self.name}] {self.summary}"


@dataclass
class StepEvent:
    """What steps() yields after each op runs."""

    op_index: int
    op_name: str
    node: Node
    inputs: list  # numpy views (None for an absent optional input)
    outputs: list
    seconds: float = 0.0
    macs: int = 0

    def __repr__(self):
        shapes = [tuple(o.shape) for o in self.outputs]
        return (f"StepEvent(op {self.op_index} {self.op_name}, outputs {shapes}, "
                f"{self.seconds * 1e3:.3f} ms, {self.macs:,} MACs)")


@dataclass
class BufferInfo:
    """AllocationInfo: a buffer the planner places, with its lifetime."""

    name: str
    tensor_index: int | None  # None for a kernel scratch buffer
    bytes: int
    first_created: int = -1
    last_used: int = -1
    offline_offset: int = ONLINE
    offset: int = -1


class MicroInterpreter:
    """Run `model` with the kernels of `op_resolver` in an arena of `arena_size` bytes
    (None: the smallest arena TFLM accepts). `target` gives the struct sizes of TFLM's
    allocator: "host" (the 64-bit tflite-micro Python package, default) or "cortex-m"."""

    def __init__(self, model, op_resolver, arena_size: int | None = None,
                 planner: str = "greedy", subgraph: int = 0, target: str = "host"):
        self.model: Model = as_model(model)
        self.op_resolver = op_resolver
        self.arena_size = arena_size
        self.target = get_target(target)
        self.arena: TensorArena | None = None
        self.arena_events: list = []     # per op: what its Prepare put in the arena
        self.head_bytes = 0
        self.planner_name = planner
        if not 0 <= subgraph < len(self.model.subgraphs):
            raise ModelError(f"model has {len(self.model.subgraphs)} subgraph(s); "
                             f"subgraph {subgraph} does not exist")
        self.subgraph = self.model.subgraphs[subgraph]
        self.tensors: list[MicroTensor] = []
        self.nodes: list[Node] = []
        self.registrations = []
        self.buffers: list[BufferInfo] = []
        self.planner = None
        self.context: MicroContext | None = None
        self.stages: list[AllocationStage] = []
        self.before_op_hooks, self.after_op_hooks = [], []
        self.allocated = False

    # ------------------------------------------------------------------ allocate_tensors

    def allocate_tensors(self) -> None:
        for _ in self.allocation_stages():
            pass

    def allocation_stages(self):
        """allocate_tensors() one stage at a time: yields an AllocationStage after each."""
        if self.allocated:
            raise AllocationError("allocate_tensors() was already called on this interpreter")
        for stage in (self._stage_init, self._stage_prepare, self._stage_plan,
                      self._stage_commit):
            result = stage()
            self.stages.append(result)
            yield result
        self.allocated = True

    def _stage_init(self) -> AllocationStage:
        self.tensors = [self._make_tensor(i, t) for i, t in enumerate(self.subgraph.tensors)]
        self.context = MicroContext(self.tensors)
        for index, op in enumerate(self.subgraph.operators):
            self.nodes.append(self._make_node(index, op))
        for node, registration in zip(self.nodes, self.registrations):
            if registration.init is not None:
                node.user_data = self._call_kernel(registration.init, node, "init")
        return AllocationStage("init", f"{len(self.tensors)} tensors, {len(self.nodes)} ops "
                               f"matched to kernels and initialised",
                               {"ops": [n.op_name for n in self.nodes]})

    def _stage_prepare(self) -> AllocationStage:
        for node, registration in zip(self.nodes, self.registrations):
            self._call_kernel(registration.prepare, node, "prepare")
            self.arena_events.append(self._arena_recipe(node))
        requests = self.context.scratch_requests
        persistent = sum(e[1] for events in self.arena_events for e in events
                         if e[0] == "persistent")
        return AllocationStage("prepare", f"{len(self.nodes)} kernels prepared, "
                               f"{len(requests)} scratch buffer(s) requested",
                               {"persistent_bytes": persistent})

    def _arena_recipe(self, node: Node) -> list:
        """What TFLM's Prepare of this op puts in the arena (its OpSpec's ArenaRecipe)."""
        spec = SPECS.get(self.model.operator_codes[
            self.subgraph.operators[node.index].opcode_index].builtin_code)
        recorder = allocator.PrepareRecorder(self.model, self.subgraph,
                                             self.subgraph.operators[node.index])
        if spec is not None:
            spec.arena.prepare(recorder)
        return recorder.events

    def _stage_plan(self) -> AllocationStage:
        self.buffers = self._allocation_info()
        self.planner = make_planner(self.planner_name)
        planned = [b for b in self.buffers if b.bytes > 0]
        for b in planned:
            self.planner.add_buffer(align_up(b.bytes), b.first_created, b.last_used,
                                    b.offline_offset, b.name)
        for b, offset in zip(planned, self.planner.offsets):
            b.offset = offset
        self.head_bytes = self.planner.get_maximum_memory_size()
        return AllocationStage("plan", f"{self.planner.name} plan of {len(planned)} buffers: "
                               f"{self.head_bytes:,} bytes of head",
                               {"head_bytes": self.head_bytes})

    def _stage_commit(self) -> AllocationStage:
        self.arena = self._allocate_arena()
        for b in self.buffers:
            if b.tensor_index is None:              # a scratch buffer, in request order
                self.context.scratch_views.append(
                    self.arena.view(b.offset, np.uint8, (b.bytes,)) if b.bytes
                    else np.zeros(0, np.uint8))
            elif b.bytes == 0:
                continue
            else:
                t = self.tensors[b.tensor_index]
                t.data = self.arena.view(b.offset, t.dtype, t.shape)
        for t in self.tensors:
            if t.is_variable and t.nbytes > 0:     # AllocateVariables: in the tail, zeroed
                t.data = self.arena.view(self.arena.variable_offset(t.index), t.dtype, t.shape)
            elif t.data is None:  # zero-sized tensors
                t.data = np.zeros(t.shape, dtype=NUMPY_DTYPE.get(t.type, np.uint8))
        return AllocationStage("commit", f"arena of {self.arena.size:,} bytes: "
                               f"{self.arena.head_bytes:,} head + {self.arena.tail_bytes:,} tail",
                               {"arena_bytes": self.arena.size})

    # ------------------------------------------------------------------ the arena

    def arena_facts(self) -> allocator.ModelFacts:
        """What TFLM's allocator needs to know after the plan: the ops' arena recipes and
        Prepare events, scratch buffers, the plan's size, the variables."""
        codes = [self.model.operator_codes[op.opcode_index].builtin_code
                 for op in self.subgraph.operators]
        scratch_counts = [0] * len(codes)
        for request in self.context.scratch_requests:
            scratch_counts[request.node_index] += 1
        # the planner's AddBuffer calls: every non-empty tensor buffer, every scratch buffer
        planned = sum(1 for b in self.buffers if b.tensor_index is not None and b.bytes > 0) \
            + sum(scratch_counts)
        variables = [(t.index, t.nbytes) for t in self.tensors if t.is_variable]
        return allocator.ModelFacts(self.model, self.subgraph, codes,
                                    [SPECS[c].arena for c in codes], self.arena_events,
                                    scratch_counts, planned, self.head_bytes, variables)

    def _allocate_arena(self) -> TensorArena:
        """TFLM's allocations on an arena of arena_size bytes (None: the smallest that
        works); too small an arena fails as TFLM's AllocateTensors does, naming the bytes."""
        facts = self.arena_facts()
        if self.head_bytes > MAX_AUTO_ARENA_BYTES:
            raise AllocationError(
                f"this model's plan needs {self.head_bytes:,} bytes of arena, more than the "
                f"{MAX_AUTO_ARENA_BYTES:,} tflm_edu allocates - no microcontroller has that "
                f"much RAM")
        size = self.arena_size
        if size is None:
            size = allocator.smallest_arena(facts, self.target)
        try:
            return TensorArena.from_replay(allocator.replay(facts, self.target, size))
        except allocator.ArenaTooSmall as e:
            needed = allocator.smallest_arena(facts, self.target)
            where = f" (op {e.op_index})" if e.op_index is not None else ""
            raise AllocationError(
                f"arena too small: TFLM's AllocateTensors fails on {size:,} bytes at "
                f"{e.phase}{where}: {e.what}. This model needs {needed:,} bytes on "
                f"{self.target.name} (head {self.head_bytes:,} for the plan, the rest for "
                f"TFLM's persistent data and temporaries): pass arena_size={needed} or more, "
                f"or arena_size=None for exactly that") from None

    # ------------------------------------------------------------------ graph building

    def _make_tensor(self, index: int, t) -> MicroTensor:
        if t.type not in NUMPY_DTYPE:
            raise ModelError(f"tensor {index} ({t.name!r}) has type {type_name(t.type)}, which "
                             f"tflm_edu cannot hold")
        quant = None
        if t.quantization is not None and t.quantization.scale:
            q = t.quantization
            zero_points = q.zero_point or (0,) * len(q.scale)
            quant = QuantizationView(np.asarray(q.scale, np.float32),
                                     np.asarray(zero_points, np.int64).astype(np.int32),
                                     q.quantized_dimension)
        tensor = MicroTensor(index, t.name, t.type, tuple(t.shape), quant,
                             is_variable=t.is_variable)
        constant = tensor_data(self.model, t)
        if constant is not None:
            tensor.data, tensor.is_constant, tensor.allocation = constant, True, "constant"
        elif t.is_variable:
            tensor.allocation = "persistent"      # its bytes come at commit, in the tail
        return tensor

    def _make_node(self, index: int, op) -> Node:
        code = self.model.operator_codes[op.opcode_index]
        registration = self._find_registration(index, code)
        if code.version > registration.max_version:
            raise ModelError(f"op {index} ({code.name}) is version {code.version}; tflm_edu's "
                             f"kernel implements versions 1 to {registration.max_version}")
        self.registrations.append(registration)
        return Node(index, code.name, tuple(op.inputs), tuple(op.outputs), op.builtin_options,
                    op.custom_options, version=code.version)

    def _find_registration(self, index: int, code):
        registration = self.op_resolver.find_op(code.builtin_code)
        if registration is not None:
            return registration
        if code.builtin_code == BuiltinOperator.CUSTOM:
            raise AllocationError(f"Didn't find op for custom opcode '{code.custom_code}' "
                                  f"(op {index}): tflm_edu has no kernel for it")
        hint = (f"register it with resolver.{add_method_name(code.builtin_code)}()"
                if hasattr(self.op_resolver, add_method_name(code.builtin_code))
                else "tflm_edu has no kernel for it")
        raise AllocationError(f"Didn't find op for builtin opcode '{code.name}' (op {index}): "
                              f"{hint}")

    def _call_kernel(self, function, node: Node, phase: str):
        self.context.current_node = node
        try:
            return function(self.context, node)
        except ModelError as e:
            raise ModelError(f"op {node.index} ({node.op_name}) {phase}: {e}") from None
        except (ValueError, IndexError, KeyError, TypeError, ArithmeticError) as e:
            raise ModelError(f"op {node.index} ({node.op_name}) {phase} failed on this model: "
                             f"{type(e).__name__}: {e}") from e

    def _allocation_info(self) -> list[BufferInfo]:
        """AllocationInfoBuilder: lifetimes in op steps. Graph inputs appear at step 0, op i
        runs at step i + 1, graph outputs stay alive to the last step."""
        offline = self._offline_offsets()
        infos = []
        for t in self.tensors:
            needs = t.data is None and not t.is_variable and t.nbytes > 0
            infos.append(BufferInfo(t.name or f"tensor {t.index}", t.index,
                                    t.nbytes if needs else 0,
                                    offline_offset=offline[t.index] if offline else ONLINE))
        for i in self.subgraph.inputs:
            _touch(infos[i], 0, first=True)
        for step, node in enumerate(self.nodes, start=1):
            for i in node.outputs:
                if infos[i].first_created == -1:
                    infos[i].first_created = step
            for i in list(node.inputs) + list(node.outputs):
                if i >= 0:
                    infos[i].last_used = step
        for i in self.subgraph.outputs:
            _touch(infos[i], len(self.nodes), first=True)
        for r, request in enumerate(self.context.scratch_requests):
            step = request.node_index + 1
            infos.append(BufferInfo(f"scratch {r} (op {request.node_index})", None,
                                    request.bytes, step, step))
        return infos

    def _offline_offsets(self):
        """Offsets from the 'OfflineMemoryAllocation' metadata: [version, subgraph, count,
        offset per tensor (-1 = let the planner choose)]."""
        raw = self.model.metadata_bytes(OFFLINE_MEMORY_ALLOCATION)
        if raw is None:
            return None
        values = np.frombuffer(raw[:len(raw) // 4 * 4], dtype="<i4")
        if len(values) < 3 or values[2] != len(self.tensors) or len(values) < 3 + len(self.tensors):
            raise ModelError(f"{OFFLINE_MEMORY_ALLOCATION} metadata lists "
                             f"{values[2] if len(values) > 2 else 0} tensors but the subgraph "
                             f"has {len(self.tensors)}")
        offsets = [int(v) for v in values[3:3 + len(self.tensors)]]
        bad = [(t, o) for t, o in enumerate(offsets) if o < ONLINE]
        if bad:
            raise ModelError(f"{OFFLINE_MEMORY_ALLOCATION} metadata gives tensor {bad[0][0]} "
                             f"the offset {bad[0][1]}; offsets are >= 0, or -1 for 'planner "
                             f"chooses'")
        return offsets

    # ------------------------------------------------------------------ running

    def invoke(self) -> None:
        if self.before_op_hooks or self.after_op_hooks:
            for _ in self.steps():
                pass
            return
        self._ensure_allocated()
        context = self.context
        for node, registration in zip(self.nodes, self.registrations):
            registration.eval(context, node)

    def steps(self):
        """Run one op per step; yields a StepEvent (with views of its tensors) after each.
        Running every step gives exactly the bytes invoke() gives."""
        self._ensure_allocated()
        for node, registration in zip(self.nodes, self.registrations):
            for hook in self.before_op_hooks:
                hook(self, node)
            start = time.perf_counter()
            registration.eval(self.context, node)
            seconds = time.perf_counter() - start
            event = StepEvent(node.index, node.op_name, node,
                              [None if i < 0 else self.tensors[i].data for i in node.inputs],
                              [self.tensors[i].data for i in node.outputs], seconds,
                              self.op_macs(node.index))
            for hook in self.after_op_hooks:
                hook(self, event)
            yield event

    def add_hook(self, before=None, after=None) -> None:
        """before(interpreter, node) runs before each op; after(interpreter, event) after."""
        if before is not None:
            self.before_op_hooks.append(before)
        if after is not None:
            self.after_op_hooks.append(after)

    def reset(self) -> None:
        """MicroInterpreter::Reset: variable tensors back to zero, kernels reset their state."""
        self._ensure_allocated()
        for t in self.tensors:
            if t.is_variable:
                t.data[...] = 0
        for node, registration in zip(self.nodes, self.registrations):
            if registration.reset is not None:
                registration.reset(self.context, node)

    def op_macs(self, index: int) -> int:
        registration = self.registrations[index]
        if registration.count_macs is None:
            return 0
        return int(registration.count_macs(self.context, self.nodes[index]))

    def profile(self, runs: int = 1):
        """Per-op time (best of `runs`) and MACs: a list of dicts, one per op."""
        best = {}
        for _ in range(runs):
            for event in self.steps():
                best[event.op_index] = min(best.get(event.op_index, np.inf), event.seconds)
        return [{"op": n.index, "name": n.op_name, "seconds": best[n.index],
                 "macs": self.op_macs(n.index)} for n in self.nodes]

    def _ensure_allocated(self):
        if not self.allocated:
            raise AllocationError("call allocate_tensors() before running the model")

    # ------------------------------------------------------------------ tensors

    def input(self, i: int = 0) -> MicroTensor:
        return self.tensors[self._io_index(self.subgraph.inputs, i, "input")]

    def output(self, i: int = 0) -> MicroTensor:
        return self.tensors[self._io_index(self.subgraph.outputs, i, "output")]

    def tensor(self, i: int) -> MicroTensor:
        if not 0 <= i < len(self.tensors):
            raise IndexError(f"tensor {i} does not exist (the subgraph has {len(self.tensors)})")
        return self.tensors[i]

    @property
    def inputs_size(self) -> int:
        return len(self.subgraph.inputs)

    @property
    def outputs_size(self) -> int:
        return len(self.subgraph.outputs)

    def _io_index(self, indices, i, kind):
        self._ensure_allocated()
        if not 0 <= i < len(indices):
            raise IndexError(f"the model has {len(indices)} {kind}(s); {kind} {i} does not exist")
        return indices[i]

    # ------------------------------------------------------------------ memory

    def arena_used_bytes(self) -> int:
        """TFLM's arena_used_bytes(): the memory plan (head) plus everything persistent
        (tail), for this interpreter's target. The smallest arena TFLM accepts can be larger:
        temporaries need room while allocating (tflm_edu.arena_size explains the bytes)."""
        self._ensure_allocated()
        return self.arena.used_bytes

    def memory_plan_text(self) -> str:
        self._ensure_allocated()
        return format_memory_plan(self.planner)

    def print_memory_plan(self) -> None:
        print(self.memory_plan_text())

    def __repr__(self):
        state = (f"{self.arena.used_bytes:,} of {self.arena.size:,} arena bytes used"
                 if self.allocated and self.arena is not None else "not allocated")
        return f"MicroInterpreter({len(self.subgraph.operators)} ops, {state})"


def _touch(info: BufferInfo, step: int, first: bool) -> None:
    if first and info.first_created == -1:
        info.first_created = step
    info.last_used = step
