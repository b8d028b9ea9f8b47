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

A model may have several subgraphs (CALL_ONCE runs an init subgraph; IF and WHILE would
run others): as in TFLM, every stage covers all of them - one SubgraphAllocation each, one
memory plan for the whole model - and invoke() runs subgraph 0, whose ops call the others.

The arena is one real bytearray. Tensors whose lifetimes do not overlap may share bytes,
exactly as on a device; a wrong plan would corrupt results, which is what makes a plan
testable. What each kernel's Init and Prepare put in the tail is its OpSpec's ArenaRecipe,
recorded during the prepare stage; the kernels' OpData itself lives in Python objects.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from tflm_edu.errors import AllocationError, KernelError, ModelError
from tflm_edu.kernels.kernel_api import (MicroContext, MicroTensor, Node, QuantizationView,
                                         Workspace)
from tflm_edu.kernels.libm import FLOAT_TARGETS, HOST as HOST_FLOAT, float_target
from tflm_edu.kernels.op_spec import ArenaRecipe, nothing
from tflm_edu.kernels.resource_variables import MicroResourceVariables
from tflm_edu.memory import allocator
from tflm_edu.memory.arena import MAX_AUTO_ARENA_BYTES, TensorArena, align_up
from tflm_edu.memory.layout import TARGETS, get_target
from tflm_edu.memory.plan_print import format_memory_plan
from tflm_edu.memory.planner import ONLINE, make_planner
from tflm_edu.op_resolver import add_method_name, spec_for_code
from tflm_edu.schema import Model, as_model
from tflm_edu.schema.enums import BuiltinOperator, NUMPY_DTYPE, TensorType, type_name
from tflm_edu.schema.model import tensor_data

OFFLINE_MEMORY_ALLOCATION = "OfflineMemoryAllocation"
UNKNOWN_ARENA_USE = ArenaRecipe(None, None, nothing)

# Float kernels make inf and NaN as the C++ does: invoke() runs with numpy's floating-point
# warnings off. numpy 2 keeps that setting in a context variable, and setting it directly
# costs a tenth of entering np.errstate (which builds the setting anew every time) - a
# microsecond per invoke, a tenth of hello_world's. Other numpy versions: np.errstate.
try:
    from numpy._core._ufunc_config import _extobj_contextvar, _make_extobj
    _QUIET_FLOATS = _make_extobj(all="ignore")

    def _quiet_floats():
        return _extobj_contextvar.set(_QUIET_FLOATS)

    def _restore_floats(token):
        _extobj_contextvar.reset(token)
except (ImportError, TypeError):
    def _quiet_floats():
        state = np.errstate(all="ignore")
        state.__enter__()
        return state

    def _restore_floats(state):
        state.__exit__(None, None, None)


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
    """What steps() yields after each op of the main subgraph runs. `calls` holds the
    events of the ops that ran in other subgraphs while this op ran (CALL_ONCE's init
    subgraph, on the first invoke), in order, each with its own `calls`."""

    op_index: int
    op_name: str
    node: Node
    inputs: list  # numpy views (None for an absent optional input)
    outputs: list
    seconds: float = 0.0
    macs: int = 0
    subgraph: int = 0
    calls: list = field(default_factory=list)

    def __repr__(self):
        shapes = [tuple(o.shape) for o in self.outputs]
        where = f"subgraph {self.subgraph} op" if self.subgraph else "op"
        called = f", called {len(self.calls)} op(s) of another subgraph" if self.calls else ""
        return (f"StepEvent({where} {self.op_index} {self.op_name}, outputs {shapes}, "
                f"{self.seconds * 1e3:.3f} ms, {self.macs:,} MACs{called})")


@dataclass
class SubgraphAllocation:
    """TFLM's SubgraphAllocations: one subgraph's tensors, and its nodes with their
    registrations, with the MicroContext its kernels see."""

    index: int
    subgraph: object  # the schema SubGraph
    tensors: list
    context: MicroContext
    nodes: list = field(default_factory=list)
    registrations: list = field(default_factory=list)
    arena_events: list = field(default_factory=list)  # per op: what its Prepare allocated
    init_events: list = field(default_factory=list)   # per op: what its Init allocated
    invoke_plan: list | None = None  # per op: its bound Eval (see MicroInterpreter._bind_plan)
    workspace: object = None         # the bound Evals' shared scratch block

    def __repr__(self):
        return f"SubgraphAllocation({self.index}: {len(self.tensors)} tensors, {len(self.nodes)} ops)"


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
    subgraph: int = 0  # the subgraph of tensor_index


class MicroInterpreter:
    """Run `model` with the kernels of `op_resolver` in an arena of `arena_size` bytes
    (None: the smallest arena TFLM accepts).

    `target` is the build of TFLM to reproduce, which decides two things:
      - the struct sizes of TFLM's allocator, hence the arena (self.target, a
        memory.layout Target): "host" (the 64-bit tflite-micro Python package, default),
        "cortex-m" (32-bit Arm, arm-none-eabi-gcc) or "cortex-m-int-enums";
      - the float arithmetic of the kernels that call the C library (self.float_target,
        kernels/libm.py): glibc's expf, logf, tanhf, expm1f on every target above.
    "cortex-m4f" and "cortex-m7" are boards: the arena of "cortex-m" and the float
    answers of TFLM built for that core as `tflm-edu deploy` builds it (newlib's libm),
    so that a float model's outputs equal the board's byte for byte. What a board target
    does not reproduce (TFLM's stock flags, which fuse multiply-adds; SIN and COS) is in
    docs/runtime_differences.md."""

    def __init__(self, model, op_resolver, arena_size: int | None = None,
                 planner: str = "greedy", target: str = "host"):
        self.model: Model = as_model(model)
        self.op_resolver = op_resolver
        self.arena_size = arena_size
        self.target, self.float_target = _split_target(target)
        self.arena: TensorArena | None = None
        self.head_bytes = 0
        self.planner_name = planner
        if not self.model.subgraphs:
            raise ModelError("the model has no subgraph to run")
        self.subgraphs: list[SubgraphAllocation] = []
        self.resource_variables: MicroResourceVariables | None = None
        self.scratch_requests: list = []   # every subgraph's, in request order
        self.scratch_views: list = []
        self.buffers: list[BufferInfo] = []
        self.step_nodes: list = []         # the plan's time steps: the node run at each
        self.planner = None
        self.stages: list[AllocationStage] = []
        self.before_op_hooks, self.after_op_hooks = [], []
        self.allocated = False
        self._call_log = None              # while steps() runs an op: events of called subgraphs
        self.last_status = 0               # what the last op's Eval returned (kTfLiteAbort)

    # The main subgraph (0) - what invoke() runs and what inputs and outputs belong to.
    @property
    def subgraph(self):
        return self.model.subgraphs[0]

    @property
    def tensors(self) -> list[MicroTensor]:
        return self.subgraphs[0].tensors if self.subgraphs else []

    @property
    def nodes(self) -> list[Node]:
        return self.subgraphs[0].nodes if self.subgraphs else []

    @property
    def registrations(self) -> list:
        return self.subgraphs[0].registrations if self.subgraphs else []

    @property
    def context(self) -> MicroContext | None:
        return self.subgraphs[0].context if self.subgraphs else None

    @property
    def arena_events(self) -> list:
        return self.subgraphs[0].arena_events if self.subgraphs else []

    def buffer_tensor(self, b: BufferInfo) -> MicroTensor:
        """The tensor a planned buffer holds (None for a scratch buffer)."""
        return None if b.tensor_index is None else self.subgraphs[b.subgraph].tensors[b.tensor_index]

    def all_nodes(self):
        """(SubgraphAllocation, node, registration) for every op of every subgraph, in
        TFLM's order (subgraph 0 first)."""
        for sg in self.subgraphs:
            for node, registration in zip(sg.nodes, sg.registrations):
                yield sg, node, registration

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
        self.resource_variables = MicroResourceVariables.for_model(self.model)
        registrations = self._find_registrations()
        for s, subgraph in enumerate(self.model.subgraphs):
            tensors = [self._make_tensor(s, i, t) for i, t in enumerate(subgraph.tensors)]
            context = MicroContext(tensors, self.scratch_requests, self.scratch_views,
                                   subgraph_index=s, graph=self)
            sg = SubgraphAllocation(s, subgraph, tensors, context)
            for index, op in enumerate(subgraph.operators):
                sg.nodes.append(self._make_node(s, index, op, registrations[s][index]))
                sg.registrations.append(registrations[s][index])
            self.subgraphs.append(sg)
        for sg, node, registration in self.all_nodes():   # InitSubgraphs
            if registration.init is not None:
                node.user_data = self._call_kernel(sg, registration.init, node, "init")
            sg.init_events.append(self._arena_recipe(sg, node, "init"))
        n_tensors = sum(len(sg.tensors) for sg in self.subgraphs)
        n_ops = sum(len(sg.nodes) for sg in self.subgraphs)
        where = f" in {len(self.subgraphs)} subgraphs" if len(self.subgraphs) > 1 else ""
        return AllocationStage("init", f"{n_tensors} tensors, {n_ops} ops{where} matched to "
                               f"kernels and initialised",
                               {"ops": [n.op_name for _, n, _ in self.all_nodes()]})

    def _stage_prepare(self) -> AllocationStage:
        for sg, node, registration in self.all_nodes():   # PrepareSubgraphs
            self._call_kernel(sg, registration.prepare, node, "prepare")
            sg.arena_events.append(self._arena_recipe(sg, node))
        persistent = sum(allocator.event_bytes(e[1], self.target) for sg in self.subgraphs
                         for events in sg.arena_events for e in events if e[0] == "persistent")
        return AllocationStage("prepare", f"{sum(len(sg.nodes) for sg in self.subgraphs)} "
                               f"kernels prepared, {len(self.scratch_requests)} scratch "
                               f"buffer(s) requested", {"persistent_bytes": persistent})

    def _arena_recipe(self, sg: SubgraphAllocation, node: Node, phase="prepare") -> list:
        """What TFLM's Prepare (or Init, beyond its OpData) of this op puts in the arena:
        its OpSpec's ArenaRecipe."""
        op = sg.subgraph.operators[node.index]
        spec = spec_for_code(self.model.operator_codes[op.opcode_index])
        recorder = allocator.PrepareRecorder(self.model, sg.subgraph, op, node.user_data)
        recipe = None if spec is None else getattr(spec.arena, phase)
        if recipe is not None:
            recipe(recorder)
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
        if any(b.offline_offset != ONLINE for b in planned):
            self._check_offline_plan(planned)
        self.head_bytes = self.planner.get_maximum_memory_size()
        return AllocationStage("plan", f"{self.planner.name} plan of {len(planned)} buffers: "
                               f"{self.head_bytes:,} bytes of head",
                               {"head_bytes": self.head_bytes})

    def _stage_commit(self) -> AllocationStage:
        self.arena = self._allocate_arena()
        for b in self.buffers:
            if b.tensor_index is None:              # a scratch buffer, in request order
                self.scratch_views.append(
                    self.arena.view(b.offset, np.uint8, (b.bytes,)) if b.bytes
                    else np.zeros(0, np.uint8))
            elif b.bytes > 0:
                t = self.subgraphs[b.subgraph].tensors[b.tensor_index]
                t.data = self.arena.view(b.offset, t.dtype, t.shape)
        for sg in self.subgraphs:
            for t in sg.tensors:
                if t.is_variable and t.data is None and t.nbytes > 0:
                    # AllocateVariables: in the tail
                    offset = self.arena.offset_of(allocator.variable_what(sg.index, t.index))
                    t.data = self.arena.view(offset, t.dtype, t.shape)
                elif t.data is None:  # zero-sized tensors
                    t.data = np.zeros(t.shape, dtype=NUMPY_DTYPE.get(t.type, np.uint8))
        if self.resource_variables is not None:
            self.resource_variables.bind(self.arena)
        self._reset()  # AllocateTensors ends with Reset()
        return AllocationStage("commit", f"arena of {self.arena.size:,} bytes: "
                               f"{self.arena.head_bytes:,} head + {self.arena.tail_bytes:,} tail",
                               {"arena_bytes": self.arena.size})

    # ------------------------------------------------------------------ the arena

    def arena_facts(self) -> allocator.ModelFacts:
        """What TFLM's allocator needs to know after the plan: the ops' arena recipes and
        Prepare events (every subgraph, in order), scratch buffers, the plan's size, the
        variables and resource variables."""
        ops = list(self.all_nodes())
        codes = [self.model.operator_codes[sg.subgraph.operators[node.index].opcode_index]
                 .builtin_code for sg, node, _ in ops]
        position = {(sg.index, node.index): k for k, (sg, node, _) in enumerate(ops)}
        scratch_counts = [0] * len(ops)
        for request in self.scratch_requests:
            scratch_counts[position[(request.subgraph_index, request.node_index)]] += 1
        # the planner's AddBuffer calls: every non-empty tensor buffer, every scratch buffer
        planned = sum(1 for b in self.buffers if b.tensor_index is not None and b.bytes > 0) \
            + sum(scratch_counts)
        variables = [(allocator.variable_what(sg.index, t.index), t.nbytes)
                     for sg in self.subgraphs for t in sg.tensors
                     if t.is_variable and not self._offline_planned(sg.index, t.index)]
        events = [sg.arena_events[node.index] for sg, node, _ in ops]
        specs = [spec_for_code(self.model.operator_codes[
            sg.subgraph.operators[node.index].opcode_index]) for sg, node, _ in ops]
        # A custom op written by the user has no recipe: nothing is known of its arena use
        recipes = [UNKNOWN_ARENA_USE if spec is None else spec.arena for spec in specs]
        return allocator.ModelFacts(
            self.model, self.subgraph, codes, recipes, events,
            scratch_counts, planned, self.head_bytes, variables,
            resource_variables=(self.resource_variables.max_variable_count
                                if self.resource_variables is not None else 0),
            init_events=[sg.init_events[node.index] for sg, node, _ in ops])

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

    def _make_tensor(self, subgraph: int, index: int, t) -> MicroTensor:
        where = f"subgraph {subgraph} tensor {index}" if subgraph else f"tensor {index}"
        if t.type not in NUMPY_DTYPE:
            raise ModelError(f"{where} ({t.name!r}) has type {type_name(t.type)}, which "
                             f"tflm_edu cannot hold")
        quant = None
        q = t.quantization
        # TFLM treats a tensor as quantized only when it has both scales and zero points
        if q is not None and q.scale and q.zero_point:
            scales = np.asarray(q.scale, np.float32)
            bad = scales[~(np.isfinite(scales) & (scales > 0))]
            if bad.size:
                raise ModelError(f"{where} ({t.name!r}) has the quantization scale "
                                 f"{float(bad[0])}: a scale must be positive and finite")
            if len(q.zero_point) != len(q.scale):
                raise ModelError(f"{where} ({t.name!r}) has {len(q.scale)} scales but "
                                 f"{len(q.zero_point)} zero points (TFLM reads one per scale)")
            quant = QuantizationView(scales, np.asarray(q.zero_point, np.int64).astype(np.int32),
                                     q.quantized_dimension)
        tensor = MicroTensor(index, t.name, t.type, tuple(t.shape), quant,
                             is_variable=t.is_variable)
        buffer = self.model.buffers[t.buffer] if 0 <= t.buffer < len(self.model.buffers) else None
        if buffer is not None and buffer.offset > 1:
            raise ModelError(f"{where} ({t.name!r}) keeps its data outside the FlatBuffer "
                             f"(buffer {t.buffer}: offset {buffer.offset:,}, {buffer.size:,} "
                             f"bytes, a >2 GB model's layout): TFLM reads only inline data "
                             f"and would run without these values, so tflm_edu refuses")
        # A variable gets its own bytes in the tail even when the model gives it data
        # (AllocateVariables replaces the pointer), and starts from its reset value.
        constant = None if t.is_variable else tensor_data(self.model, t)
        if constant is not None:
            tensor.data, tensor.is_constant, tensor.allocation = constant, True, "constant"
        elif t.is_variable:
            tensor.allocation = "persistent"      # its bytes come at commit, in the tail
        return tensor

    def _make_node(self, subgraph: int, index: int, op, registration) -> Node:
        code = self.model.operator_codes[op.opcode_index]
        node = Node(index, code.name, tuple(op.inputs), tuple(op.outputs), op.builtin_options,
                    op.custom_options, version=code.version, subgraph=subgraph)
        if code.builtin_code != BuiltinOperator.CUSTOM and op.custom_options:
            raise ModelError(f"{node.label} is a builtin op with custom options: TFLM's "
                             f"allocator refuses it (found builtin operator with custom "
                             f"options)")
        if code.version > registration.max_version:
            raise ModelError(f"{node.label} is version {code.version}; tflm_edu's kernel "
                             f"implements versions 1 to {registration.max_version}")
        return node

    def _find_registrations(self) -> list[list]:
        """GetRegistrationFromOpCode for every op of every subgraph. TFLM stops at the first
        op it has no kernel for; here every missing op is named in one message, so that a
        learner sees at once everything a model needs."""
        found, missing = [], {}
        for s, subgraph in enumerate(self.model.subgraphs):
            found.append([])
            for index, op in enumerate(subgraph.operators):
                code = self.model.operator_codes[op.opcode_index]
                registration = self.op_resolver.find_op(code.builtin_code, code.custom_code)
                if registration is None:
                    where = f"subgraph {s} op {index}" if s else f"op {index}"
                    missing.setdefault((code.builtin_code, code.custom_code), []).append(where)
                found[-1].append(registration)
        if missing:
            raise AllocationError(self._missing_ops_message(missing))
        return found

    def _missing_ops_message(self, missing: dict) -> str:
        lines = []
        for (builtin, custom), where in missing.items():
            count = f"{where[0]}" + (f" and {len(where) - 1} more" if len(where) > 1 else "")
            if builtin == BuiltinOperator.CUSTOM:
                lines.append(f"Didn't find op for custom opcode '{custom}' ({count})")
            else:
                name = BuiltinOperator(builtin).name
                hint = (f"register it with resolver.{add_method_name(builtin)}()"
                        if hasattr(self.op_resolver, add_method_name(builtin))
                        else "tflm_edu has no kernel for it")
                lines.append(f"Didn't find op for builtin opcode '{name}' ({count}): {hint}")
        if len(lines) == 1:
            return lines[0] if "): " in lines[0] else lines[0] + ": tflm_edu has no kernel for it"
        return (f"this model needs {len(lines)} ops tflm_edu has no kernel for:\n  "
                + "\n  ".join(lines))

    def _call_kernel(self, sg: SubgraphAllocation, function, node: Node, phase: str):
        sg.context.current_node = node
        try:
            return function(sg.context, node)
        except ModelError as e:
            raise ModelError(f"{node.label} {phase}: {e}") from None
        except (ValueError, IndexError, KeyError, TypeError, ArithmeticError) as e:
            raise ModelError(f"{node.label} {phase} failed on this model: "
                             f"{type(e).__name__}: {e}") from e

    # ------------------------------------------------------------------ lifetimes

    def _allocation_info(self) -> list[BufferInfo]:
        """AllocationInfoBuilder: one AllocationInfo per tensor of every subgraph (in
        subgraph order), then one per scratch buffer, with lifetimes in allocation scopes.
        For a one-subgraph model the scopes are the op steps: graph inputs appear at step 0,
        op i runs at step i + 1, graph outputs stay alive to the last step. An op that calls
        a subgraph (CALL_ONCE) opens new scopes for it before its own inputs' last use."""
        self._check_intermediates()
        offline = self._offline_offsets()
        infos, self._info_base = [], []
        for sg in self.subgraphs:
            self._info_base.append(len(infos))
            for t in sg.tensors:
                offset = offline[len(infos)] if offline else ONLINE
                needs = t.data is None and t.nbytes > 0 and \
                    (not t.is_variable or offset != ONLINE)
                infos.append(BufferInfo(t.name or f"tensor {t.index}", t.index,
                                        t.nbytes if needs else 0, offline_offset=offset,
                                        subgraph=sg.index))
        scratch = []
        for r, request in enumerate(self.scratch_requests):
            where = (f"op {request.node_index}" if not request.subgraph_index else
                     f"subgraph {request.subgraph_index} op {request.node_index}")
            scratch.append(BufferInfo(f"scratch {r} ({where})", None, request.bytes))
        self._scope = 0
        self.step_nodes = [None]
        self._mark_lifetimes(0, infos, scratch)
        return infos + scratch

    def _mark_lifetimes(self, s: int, infos: list, scratch: list) -> None:
        """MarkAllocationLifetimes for subgraph s (recursing into the subgraphs its ops call)."""
        base, sg = self._info_base[s], self.subgraphs[s]
        for i in sg.subgraph.inputs:
            _touch(infos[base + i], self._scope, first=True)
        for node in sg.nodes:
            self._scope += 1
            self.step_nodes.append(node)
            for i in node.outputs:
                _touch(infos[base + i], self._scope, first=True, last=False)
            start = self._scope
            for called in self._called_subgraphs(node):
                self._scope += 1
                self.step_nodes.append(None)
                self._mark_lifetimes(called, infos, scratch)
            for i in list(node.inputs) + list(node.outputs):
                if i >= 0:
                    infos[base + i].last_used = self._scope
            for info, request in zip(scratch, self.scratch_requests):
                if request.node_index == node.index and request.subgraph_index == s:
                    info.first_created, info.last_used = start, self._scope
        for i in sg.subgraph.outputs:
            _touch(infos[base + i], self._scope, first=True)

    def _check_intermediates(self) -> None:
        """ValidateSubgraph: TFLM plans no intermediate tensors, so it refuses an op whose
        intermediates need bytes (an LSTM's, of shape [0], need none)."""
        for sg in self.subgraphs:
            for node, op in zip(sg.nodes, sg.subgraph.operators):
                for i in op.intermediates:
                    if 0 <= i < len(sg.tensors) and sg.tensors[i].nbytes:
                        raise ModelError(f"{node.label} has the intermediate tensor {i} of "
                                         f"{sg.tensors[i].nbytes:,} bytes: TFLM supports "
                                         f"only empty intermediates and refuses the model")

    def _called_subgraphs(self, node: Node) -> list[int]:
        """The subgraphs a control-flow op runs (MarkSubgraphLifetimesIfNecessary)."""
        options = node.builtin_data
        if node.op_name == "CALL_ONCE":
            indices = [options.init_subgraph_index]
        elif node.op_name == "IF":
            indices = [options.then_subgraph_index, options.else_subgraph_index]
        elif node.op_name == "WHILE":
            indices = [options.cond_subgraph_index, options.body_subgraph_index]
        else:
            return []
        for index in indices:
            if not 0 < index < len(self.subgraphs) or index == node.subgraph:
                raise ModelError(f"{node.label} calls subgraph {index}; the model has "
                                 f"subgraphs 0 to {len(self.subgraphs) - 1} and a subgraph "
                                 f"cannot call subgraph 0 or itself")
        return indices

    def _check_offline_plan(self, planned: list) -> None:
        """TFLM trusts OfflineMemoryAllocation: offsets that put two live buffers in the
        same bytes make one overwrite the other, and its outputs come out corrupted."""
        pair = self.planner.overlapping_pair()
        if pair is not None:
            a, b = (planned[i] for i in pair)
            raise ModelError(
                f"{OFFLINE_MEMORY_ALLOCATION} puts {a.name!r} (bytes {a.offset:,}-"
                f"{a.offset + a.bytes:,}, steps {a.first_created}-{a.last_used}) and {b.name!r} "
                f"(bytes {b.offset:,}-{b.offset + b.bytes:,}, steps {b.first_created}-"
                f"{b.last_used}) in the same bytes while both are alive: TFLM would run it "
                f"and corrupt one of them")

    def _offline_planned(self, subgraph: int, index: int) -> bool:
        return bool(self.buffers) and any(
            b.subgraph == subgraph and b.tensor_index == index and b.offline_offset != ONLINE
            for b in self.buffers)

    def _offline_offsets(self):
        """Offsets from the 'OfflineMemoryAllocation' metadata: [version, subgraph, count,
        offset per tensor of every subgraph (-1 = let the planner choose)]."""
        raw = self.model.metadata_bytes(OFFLINE_MEMORY_ALLOCATION)
        if raw is None:
            return None
        count = sum(len(sg.tensors) for sg in self.subgraphs)
        values = np.frombuffer(raw[:len(raw) // 4 * 4], dtype="<i4")
        if len(values) < 3 or values[2] != count or len(values) < 3 + count:
            raise ModelError(f"{OFFLINE_MEMORY_ALLOCATION} metadata lists "
                             f"{values[2] if len(values) > 2 else 0} tensors but the model "
                             f"has {count}")
        offsets = [int(v) for v in values[3:3 + count]]
        bad = [(t, o) for t, o in enumerate(offsets) if o < ONLINE]
        if bad:
            raise ModelError(f"{OFFLINE_MEMORY_ALLOCATION} metadata gives tensor {bad[0][0]} "
                             f"the offset {bad[0][1]}; offsets are >= 0, or -1 for 'planner "
                             f"chooses'")
        return offsets

    # ------------------------------------------------------------------ running

    def invoke(self) -> int:
        """Run the model; returns TFLM's status: 0, or kTfLiteAbort (15) when an op asked
        to stop the graph there (CIRCULAR_BUFFER until it holds enough frames)."""
        if self.before_op_hooks or self.after_op_hooks:
            for _ in self.steps():
                pass
            return self.last_status
        self._ensure_allocated()
        return self.invoke_subgraph(0)

    def invoke_subgraph(self, index: int) -> int:
        """MicroGraph::InvokeSubgraph: run every op of subgraph `index`, stopping at an op
        whose Eval returns a status (kTfLiteAbort). invoke() runs subgraph 0; CALL_ONCE
        (IF, WHILE) run the others from inside their Eval."""
        if not 0 <= index < len(self.subgraphs):
            raise ModelError(f"subgraph {index} does not exist: the model has "
                             f"{len(self.subgraphs)}")
        sg = self.subgraphs[index]
        log = self._call_log
        if log is None:
            plan = sg.invoke_plan if sg.invoke_plan is not None else self._bind_plan(sg)
            quiet = _quiet_floats()      # one setting for the whole plan, not one per op
            try:
                for node, run in plan:
                    try:
                        status = run()
                    except Exception as e:
                        raise _eval_failure(node, e) from e
                    if status:
                        return status
            finally:
                _restore_floats(quiet)
            return 0
        try:   # steps() is watching: record what each op of the called subgraph does
            for node, registration in zip(sg.nodes, sg.registrations):
                log.append(self._run_recorded(sg, node, registration))
                if self.last_status:
                    return self.last_status
        finally:
            self._call_log = log
        return 0

    def _bind_plan(self, sg: SubgraphAllocation) -> list:
        """The invoke plan of one subgraph, made at its first invoke: per op, a function of
        no arguments that runs its Eval. A kernel with Registration.bind gets its bound
        Eval - the same arithmetic with the tensor views, constant operands and work arrays
        looked up once; the others run eval(context, node). This is tflm_edu's speed device,
        not TFLM's (whose C++ Eval has no per-call overhead to save); steps() always runs
        eval itself, so the debugger shows the readable kernel.

        The bound Evals' work arrays share one block (kernel_api.Workspace), as TFLM's
        scratch buffers share the arena: a first pass measures the largest op's need."""
        measuring = Workspace()
        self._bind_ops(sg, measuring)
        sg.workspace = Workspace(np.empty(measuring.largest, np.uint8))
        sg.invoke_plan = self._bind_ops(sg, sg.workspace)
        return sg.invoke_plan

    def _bind_ops(self, sg: SubgraphAllocation, workspace: Workspace) -> list:
        plan = []
        sg.context.workspace = workspace
        try:
            for node, registration in zip(sg.nodes, sg.registrations):
                workspace.next_op()
                run = None
                if registration.bind is not None:
                    try:
                        run = registration.bind(sg.context, node)
                    except Exception as e:
                        raise _eval_failure(node, e) from e
                if run is None:
                    run = _eval_call(registration.eval, sg.context, node)
                plan.append((node, run))
        finally:
            sg.context.workspace = None
        return plan

    def _run_recorded(self, sg: SubgraphAllocation, node: Node, registration) -> StepEvent:
        self._call_log = calls = []
        start = time.perf_counter()
        try:
            self.last_status = registration.eval(sg.context, node) or 0
        except Exception as e:
            raise _eval_failure(node, e) from e
        seconds = time.perf_counter() - start
        tensors = sg.tensors
        return StepEvent(node.index, node.op_name, node,
                         [None if i < 0 else tensors[i].data for i in node.inputs],
                         [tensors[i].data for i in node.outputs], seconds,
                         self.op_macs(node.index, sg.index), sg.index, calls)

    def steps(self):
        """Run one op of the main subgraph per step; yields a StepEvent (with views of its
        tensors) after each - with, in event.calls, the ops of any subgraph it called.
        Running every step gives exactly the bytes invoke() gives."""
        self._ensure_allocated()
        main = self.subgraphs[0]
        self.last_status = 0
        for node, registration in zip(main.nodes, main.registrations):
            for hook in self.before_op_hooks:
                hook(self, node)
            try:
                event = self._run_recorded(main, node, registration)
            finally:
                self._call_log = None
            for hook in self.after_op_hooks:
                hook(self, event)
            yield event
            if self.last_status:   # kTfLiteAbort: the graph stops after this op
                return

    def add_hook(self, before=None, after=None) -> None:
        """before(interpreter, node) runs before each op; after(interpreter, event) after."""
        if before is not None:
            self.before_op_hooks.append(before)
        if after is not None:
            self.after_op_hooks.append(after)

    def reset(self) -> None:
        """MicroInterpreter::Reset: variable tensors back to their initial value (the zero
        point of an int8 variable, else 0), resource variables likewise, and every kernel
        resets its state. CALL_ONCE does not run its init subgraph again."""
        self._ensure_allocated()
        self._reset()

    def _reset(self) -> None:
        for sg, node, registration in self.all_nodes():    # ResetSubgraphs
            if registration.reset is not None:
                registration.reset(sg.context, node)
        for sg in self.subgraphs:                          # ResetVariableTensors
            for t in sg.tensors:
                if t.is_variable and t.data is not None:
                    value = _reset_value(self.model.subgraphs[sg.index].tensors[t.index])
                    t.data.reshape(-1).view(np.uint8)[...] = value & 0xFF   # memset
        if self.resource_variables is not None:
            self.resource_variables.reset_all()

    def op_macs(self, index: int, subgraph: int = 0) -> int:
        sg = self.subgraphs[subgraph]
        registration = sg.registrations[index]
        if registration.count_macs is None:
            return 0
        return int(registration.count_macs(sg.context, sg.nodes[index]))

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
        board = "" if self.float_target is HOST_FLOAT else f", target {self.float_target.name}"
        return f"MicroInterpreter({len(self.subgraph.operators)} ops, {state}{board})"


def _split_target(target):
    """(arena layout Target, FloatTarget) of a MicroInterpreter target: a board
    ("cortex-m4f", "cortex-m7") brings its layout; any other target is a layout with the
    host's float arithmetic."""
    board = float_target(target)
    try:
        return get_target(target if board is HOST_FLOAT else board.layout), board
    except ValueError:
        known = sorted(TARGETS) + sorted(FLOAT_TARGETS)
        raise ValueError(f"unknown target {target!r}; choose one of {known}") from None


def _touch(info: BufferInfo, step: int, first: bool, last: bool = True) -> None:
    if first and info.first_created == -1:
        info.first_created = step
    if last:
        info.last_used = step


def _eval_call(eval, context, node):
    """eval(context, node) as a function of no arguments (an invoke plan entry)."""
    return lambda: eval(context, node)


def _eval_failure(node: Node, error: Exception) -> Exception:
    """What invoke() raises when an op's Eval fails. A ModelError is a model problem only
    Eval can see (a run-time index out of range, a resource variable never assigned): it
    gets the op's name. Anything else is a bug in tflm_edu's kernel, and says so."""
    if isinstance(error, KernelError):
        return error
    if isinstance(error, ModelError):
        if str(error).startswith(("op ", "subgraph ")):
            return error   # already labelled (a kernel's own message, a nested subgraph)
        return ModelError(f"{node.label} eval: {error}")
    return KernelError(f"internal error in tflm_edu's {node.op_name} kernel at {node.label}, "
                       f"please report it with the model: {type(error).__name__}: {error}")


def _reset_value(tensor) -> int:
    """ResetTensorData: an int8 variable starts at its zero point, every other at 0."""
    q = tensor.quantization
    if tensor.type == TensorType.INT8 and q is not None and q.zero_point:
        return int(q.zero_point[0])
    return 0
