"""TFLM's MicroAllocator, replayed: every allocation AllocateTensors() makes in the arena.

This is tflm_edu's one model of the arena. The interpreter runs it when it commits its memory
plan (an arena too small fails there, where TFLM's AllocateTensors fails, with TFLM's bytes);
tflm_edu.arena_size bisects it for the smallest arena and explains the result. It mirrors, in
order, what happens to a tensor arena of `size` bytes:

  RecordingMicroAllocator::Create / MicroAllocator::Create   the allocator objects, in the tail
  MicroAllocator::StartModelAllocation                       builtin-data allocator, the
                                                             scratch-request list (head),
                                                             SubgraphAllocations,
                                                             TfLiteEvalTensor and
                                                             NodeAndRegistration arrays
  MicroInterpreter::PrepareNodeAndRegistrationDataFromFlatbuffer   parsed builtin options
  MicroInterpreterGraph::InitSubgraphs                       each kernel's OpData
  MicroInterpreterGraph::PrepareSubgraphs                    temporaries and persistent
                                                             buffers of each Prepare, then
                                                             FinishPrepareNodeAllocations
  MicroAllocator::FinishModelAllocation                      scratch handles, then
                                                             CommitStaticMemoryPlan: the
                                                             AllocationInfo array and the
                                                             planner's scratch (temporary),
                                                             variables, the plan in the head
  MicroInterpreter::AllocateTensors (end)                    TfLiteTensor structs for the
                                                             inputs and outputs

SimulatedArena follows arena_allocator/single_arena_buffer_allocator.cc: the head (the
resizable buffer, then temporaries) grows up from the start, the tail (persistent data)
grows down from the end, each allocation aligned. The arena's start is taken to be
16-byte aligned (malloc on the host; `alignas(16)` on a device). Every step either fits or
raises ArenaTooSmall, so the smallest working arena is found by bisection.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from tflm_edu.memory.layout import Target

ARENA_ALIGNMENT = 16  # MicroArenaBufferAlignment()
MAX_SCRATCH_BUFFERS_PER_OP = 12  # kMaxScratchBuffersPerOp

# Breakdown categories: the first six are RecordingMicroAllocator's own.
EVAL_TENSORS = "TfLiteEvalTensor data"
PERSISTENT_TENSORS = "Persistent TfLiteTensor data"
PERSISTENT_QUANTIZATION = "Persistent TfLiteTensor quantization data"
PERSISTENT_BUFFERS = "Persistent buffer data"
VARIABLES = "TfLiteTensor variable buffer data"
NODES = "NodeAndRegistration structs"
BUILTIN_DATA = "Builtin op data (parsed options)"
ALLOCATOR_OBJECTS = "Allocator objects"
SCRATCH_HANDLES = "Scratch buffer handles"
TEMPORARY = "temporary"


class ArenaTooSmall(Exception):
    def __init__(self, phase: str, what: str, op_index=None):
        super().__init__(f"{phase}: {what}")
        self.phase, self.what, self.op_index = phase, what, op_index


# ------------------------------------------------------------------ what each Prepare does
#
# Every op's OpSpec (beside its kernel, tflm_edu/kernels/<op>.py) holds an ArenaRecipe: the
# struct its Parse* function allocates for the builtin options
# (tensorflow/lite/micro/flatbuffer_conversions... -> TfLiteXxxParams, in the tail), the
# OpData struct its Init allocates with AllocatePersistentBuffer (tail, 16-aligned), and
# what its Prepare does, in order, told to the PrepareRecorder of this module:
#
#   temp_input(i) / temp_output(i)   AllocateTempInputTensor / AllocateTempOutputTensor: a
#                                    TfLiteTensor in the head's temporary section, plus a
#                                    TfLiteAffineQuantization and a zero-point TfLiteIntArray
#                                    when the tensor is quantized. Temporaries only go away
#                                    when the node's Prepare is over, so they add up.
#   persistent(nbytes, what)         AllocatePersistentBuffer (tail, 16-aligned): per-channel
#                                    multipliers and shifts, lookup tables, ...
#
# Scratch buffer requests are not listed here: tflm_edu's own kernels make the same requests
# (context.request_scratch_buffer_in_arena), and the interpreter's memory plan holds them.
#
# Each recipe mirrors the Prepare of tensorflow/lite/micro/kernels/<op>*.cc; its docstring
# says which function it follows.


class PrepareRecorder:
    """The calls one node's Prepare makes, as a list of events for the arena replay."""

    def __init__(self, model, subgraph, op, user_data=None):
        self.model, self.subgraph, self.op = model, subgraph, op
        self.user_data = user_data  # the kernel's OpData after tflm_edu's own Prepare ran
        self.events: list[tuple] = []

    # -- what the recipes call
    def temp_input(self, i: int) -> None:
        self._temp(self.op.inputs, i, "input")

    def temp_output(self, i: int = 0) -> None:
        self._temp(self.op.outputs, i, "output")

    def persistent(self, nbytes, what: str) -> None:
        """`nbytes`: an int, or a function of the Target for a buffer holding pointers or
        size_t (a kissfft state, a circular buffer), whose size depends on the ABI."""
        self.events.append(("persistent", nbytes if callable(nbytes) else int(nbytes), what))

    # -- what the recipes read
    @property
    def num_inputs(self) -> int:
        return len(self.op.inputs)

    def input(self, i: int):
        index = self.op.inputs[i] if i < len(self.op.inputs) else -1
        return None if index < 0 else self.subgraph.tensors[index]

    def output(self, i: int = 0):
        return self.subgraph.tensors[self.op.outputs[i]]

    def _temp(self, indices, i, kind):
        # GetTensorIndex: an index past the node's list, or -1 (an omitted optional
        # tensor), gives nullptr and allocates nothing.
        if i >= len(indices) or indices[i] < 0:
            return
        tensor = self.subgraph.tensors[indices[i]]
        self.events.append(("temp_tensor", indices[i], quantization_channels(tensor),
                            f"temporary TfLiteTensor for {kind} {i}"))


def element_count(what: str) -> int:
    """How many structs an allocation named `what` holds: "12 TfLiteEvalTensor" -> 12."""
    first = what.split(" ", 1)[0]
    return int(first) if first.isdigit() else 1


def event_bytes(nbytes, target) -> int:
    """The bytes of a persistent event on `target` (see PrepareRecorder.persistent)."""
    return int(nbytes(target)) if callable(nbytes) else nbytes


def quantization_channels(tensor) -> int:
    """How many zero points TFLM copies for this tensor: 0 when it is not quantized (the
    flatbuffer needs both a scale and a zero_point vector)."""
    q = tensor.quantization
    if q is None or not q.scale or not q.zero_point:
        return 0
    return len(q.scale)


@dataclass
class Allocation:
    """One allocation of the replay. `used` counts the alignment padding too, as
    RecordingMicroAllocator does."""

    phase: str
    category: str
    what: str
    requested: int
    used: int
    side: str  # "tail" or "temp"
    op_index: int | None = None
    offset: int = -1  # where in the arena (tail allocations)


def align_up(n: int, alignment: int) -> int:
    return (n + alignment - 1) // alignment * alignment


def align_down(n: int, alignment: int) -> int:
    return n // alignment * alignment


class SimulatedArena:
    """SingleArenaBufferAllocator over addresses [0, size)."""

    def __init__(self, size: int):
        self.size = size
        self.head = self.temp = 0
        self.tail = size
        self.log: list[Allocation] = []
        self.phase, self.op_index = "", None
        self.live_spans: list[tuple[int, int]] = []  # temporaries' bytes still to be read

    def allocate_persistent(self, nbytes, alignment, category, what):
        result = align_down(self.tail - nbytes, alignment)
        if result < self.head:
            raise ArenaTooSmall(self.phase, f"no room in the tail for {what}", self.op_index)
        if any(start < result + nbytes and result < end for start, end in self.live_spans):
            # TFLM checks a tail allocation against the head only, so it may land on
            # temporaries that are still alive; the kernel writes its data over them and
            # its Prepare fails on the corrupted TfLiteTensor (or crashes).
            raise ArenaTooSmall(self.phase, f"{what} would overwrite a live temporary "
                                            f"TfLiteTensor", self.op_index)
        self.log.append(Allocation(self.phase, category, what, nbytes, self.tail - result,
                                   "tail", self.op_index, result))
        self.tail = result

    def allocate_temp(self, nbytes, alignment, what, live_spans=()):
        """`live_spans`: (offset, size) of the parts read again later in this Prepare."""
        result = align_up(self.temp, alignment)
        if self.tail - result < nbytes:
            raise ArenaTooSmall(self.phase, f"no room for the temporary {what}", self.op_index)
        self.log.append(Allocation(self.phase, TEMPORARY, what, nbytes,
                                   result + nbytes - self.temp, "temp", self.op_index))
        self.temp = result + nbytes
        self.live_spans += [(result + offset, result + offset + size)
                            for offset, size in live_spans]

    def reset_temp(self):
        self.temp = self.head
        self.live_spans = []

    def resize_head(self, nbytes, alignment, what):
        """ResizeBuffer of the one resizable buffer at the start of the arena."""
        start = align_up(0, alignment)
        if self.tail - start < nbytes:
            raise ArenaTooSmall(self.phase, f"no room in the head for {what}", self.op_index)
        self.head = self.temp = start + nbytes

    def available(self, alignment) -> int:
        return align_down(self.tail, alignment) - align_up(self.temp, alignment)

    @property
    def tail_bytes(self) -> int:
        return self.size - self.tail


@dataclass
class ModelFacts:
    """What the replay needs to know about a model and its memory plan."""

    model: object  # schema Model
    subgraph: object
    builtin_codes: list  # per op
    recipes: list  # the ArenaRecipe of each op (its OpSpec)
    prepare_events: list  # per op: PrepareRecorder.events
    scratch_counts: list  # per op: scratch buffer requests made in its Prepare
    planned_buffer_count: int  # buffers the planner places (AddBuffer calls)
    head_bytes: int  # GetMaximumMemorySize() of the plan
    variables: list = field(default_factory=list)  # (variable_what(), bytes) per variable
    resource_variables: int = 0  # MicroResourceVariables::Create's max_num_variables
    init_events: list | None = None  # per op: what Init allocates beyond its OpData

    @property
    def scratch_count(self) -> int:
        return sum(self.scratch_counts)


# ------------------------------------------------------------------ the replay


def variable_what(subgraph: int, tensor_index: int) -> str:
    """How the replay names the tail buffer AllocateVariables gives a variable tensor."""
    where = f" of subgraph {subgraph}" if subgraph else ""
    return f"variable tensor {tensor_index}{where}"


def replay(facts: ModelFacts, target: Target, size: int) -> SimulatedArena:
    """Run every allocation of AllocateTensors on an arena of `size` bytes; raises
    ArenaTooSmall at the first one that does not fit."""
    arena = SimulatedArena(size)
    _create_allocator(arena, target)
    _create_resource_variables(arena, target, facts)
    _start_model_allocation(arena, target, facts)
    _parse_builtin_data(arena, target, facts)
    _init_kernels(arena, target, facts)
    _prepare_kernels(arena, target, facts)
    _finish_model_allocation(arena, target, facts)
    _input_output_tensors(arena, target, facts)
    return arena


def _struct(arena, target, name, category, what=None, count=1):
    arena.allocate_persistent(target.sizeof(name) * count, target.alignof(name), category,
                              what or name)


def _create_allocator(arena, target):
    arena.phase = "create the allocator"
    if target.recording_allocator:  # RecordingMicroAllocator::Create
        names = ("RecordingSingleArenaBufferAllocator", "GreedyMemoryPlanner",
                 "RecordingMicroAllocator")
    else:  # MicroAllocator::Create(arena, size, MemoryPlannerType::kGreedy)
        names = ("SingleArenaBufferAllocator", "GreedyMemoryPlanner", "MicroAllocator")
    for name in names:
        _struct(arena, target, name, ALLOCATOR_OBJECTS)


def _create_resource_variables(arena, target, facts):
    """MicroResourceVariables::Create, which the application (here: tflite-micro's Python
    wrapper, for a model with VAR_HANDLE ops) calls before building the interpreter: the
    object, then an array of one MicroResourceVariable per distinct shared_name."""
    if not facts.resource_variables:
        return
    arena.phase = "create resource variables"
    arena.allocate_persistent(target.sizeof("MicroResourceVariables"), ARENA_ALIGNMENT,
                              ALLOCATOR_OBJECTS, "MicroResourceVariables")
    n = facts.resource_variables
    arena.allocate_persistent(target.sizeof("MicroResourceVariable") * n, ARENA_ALIGNMENT,
                              ALLOCATOR_OBJECTS, f"{n} MicroResourceVariable")


def _start_model_allocation(arena, target, facts):
    arena.phase = "start model allocation"
    _struct(arena, target, "MicroBuiltinDataAllocator", ALLOCATOR_OBJECTS)
    request = "ScratchBufferRequest"
    arena.resize_head(target.sizeof(request) * MAX_SCRATCH_BUFFERS_PER_OP,
                      target.alignof(request), "the scratch buffer request list")
    subgraphs = facts.model.subgraphs
    _struct(arena, target, "SubgraphAllocations", ALLOCATOR_OBJECTS,
            f"{len(subgraphs)} SubgraphAllocations" if len(subgraphs) > 1 else None,
            len(subgraphs))
    for s, subgraph in enumerate(subgraphs):   # AllocateTfLiteEvalTensors
        n = len(subgraph.tensors)
        of = f" (subgraph {s})" if len(subgraphs) > 1 else ""
        _struct(arena, target, "TfLiteEvalTensor", EVAL_TENSORS, f"{n} TfLiteEvalTensor{of}", n)
    for s, subgraph in enumerate(subgraphs):   # AllocateNodeAndRegistrations
        n = len(subgraph.operators)
        of = f" (subgraph {s})" if len(subgraphs) > 1 else ""
        _struct(arena, target, "NodeAndRegistration", NODES, f"{n} NodeAndRegistration{of}", n)


def _parse_builtin_data(arena, target, facts):
    arena.phase = "parse builtin options"
    for i, recipe in enumerate(facts.recipes):
        arena.op_index = i
        if recipe.builtin_params is not None:
            _struct(arena, target, recipe.builtin_params, BUILTIN_DATA)
    arena.op_index = None


def _init_kernels(arena, target, facts):
    arena.phase = "init kernels"
    for i, recipe in enumerate(facts.recipes):
        arena.op_index = i
        # context->AllocatePersistentBuffer(sizeof(OpData)); an OpData with members only in
        # USE_TFLM_COMPRESSION builds (ASSIGN_VARIABLE) means no Init in the others.
        if recipe.op_data is not None and target.sizeof(recipe.op_data) > 0:
            arena.allocate_persistent(target.sizeof(recipe.op_data), ARENA_ALIGNMENT,
                                      PERSISTENT_BUFFERS, recipe.op_data)
        for _, nbytes, what in (facts.init_events[i] if facts.init_events else ()):
            arena.allocate_persistent(event_bytes(nbytes, target), ARENA_ALIGNMENT,
                                      PERSISTENT_BUFFERS, what)
    arena.op_index = None


def _prepare_kernels(arena, target, facts):
    arena.phase = "prepare kernels"
    requests = 0
    request = "ScratchBufferRequest"
    for i, events in enumerate(facts.prepare_events):
        arena.op_index = i
        for event in events:
            if event[0] == "temp_tensor":
                _temp_tensor(arena, target, channels=event[2], what=event[3])
            else:
                _, nbytes, what = event
                arena.allocate_persistent(event_bytes(nbytes, target), ARENA_ALIGNMENT,
                                          PERSISTENT_BUFFERS, what)
        # FinishPrepareNodeAllocations: temporaries go, the request list grows.
        requests += facts.scratch_counts[i]
        arena.reset_temp()
        arena.resize_head(target.sizeof(request) * (requests + MAX_SCRATCH_BUFFERS_PER_OP),
                          target.alignof(request), "the scratch buffer request list")
    arena.op_index = None


def _temp_tensor(arena, target, channels, what):
    """MicroAllocator::AllocateTempTfLiteTensor: the struct, then its quantization.

    Once a kernel has its persistent buffers it still reads each temporary tensor's type,
    params and quantization, and DeallocateTempTfLiteTensor follows the quantization's
    zero_point pointer: those fields must survive. The rest (data, dims, bytes, the scale
    pointer, quantized_dimension, the zero points) is not read again."""
    tensor_live = [target.member_span("TfLiteTensor", f)
                   for f in ("quantization", "params", "type")]
    arena.allocate_temp(target.sizeof("TfLiteTensor"), target.alignof("TfLiteTensor"), what,
                        tensor_live)
    if channels:
        arena.allocate_temp(target.sizeof("TfLiteAffineQuantization"),
                            target.alignof("TfLiteAffineQuantization"),
                            "temporary TfLiteAffineQuantization",
                            [target.member_span("TfLiteAffineQuantization", "zero_point")])
        arena.allocate_temp(_int_array_bytes(target, channels), target.alignof("TfLiteIntArray"),
                            f"temporary zero-point array ({channels})")


def _int_array_bytes(target, n: int) -> int:  # TfLiteIntArrayGetSizeInBytes
    return target.sizeof("TfLiteIntArray") + 4 * n


def _finish_model_allocation(arena, target, facts):
    arena.phase = "finish model allocation"
    if facts.scratch_count:  # AllocateScratchBufferHandles
        _struct(arena, target, "ScratchBufferHandle", SCRATCH_HANDLES,
                f"{facts.scratch_count} ScratchBufferHandle", facts.scratch_count)
    arena.phase = "plan memory"
    # AllocationInfoBuilder::CreateAllocationInfo: subgraph offsets, then one
    # AllocationInfo per tensor and per scratch buffer, all temporary.
    subgraphs = facts.model.subgraphs
    arena.allocate_temp(target.pointer_bytes * len(subgraphs), target.pointer_bytes,
                        "subgraph offsets")
    count = sum(len(sg.tensors) for sg in subgraphs) + facts.scratch_count
    arena.allocate_temp(target.sizeof("AllocationInfo") * count, target.alignof("AllocationInfo"),
                        f"{count} AllocationInfo")
    for what, nbytes in facts.variables:  # AllocateVariables
        arena.allocate_persistent(nbytes, ARENA_ALIGNMENT, VARIABLES, what)
    # The planner gets all the memory left as scratch and needs one record per buffer.
    per_buffer = target.sizeof("GreedyPlannerPerBuffer")
    needed = per_buffer * facts.planned_buffer_count
    if arena.available(ARENA_ALIGNMENT) < needed:
        raise ArenaTooSmall(arena.phase, f"the greedy planner needs {per_buffer} bytes of "
                                         f"scratch for each of {facts.planned_buffer_count} "
                                         f"buffers")
    arena.allocate_temp(needed, ARENA_ALIGNMENT, "greedy planner scratch")
    arena.reset_temp()
    arena.head = arena.temp = 0  # DeallocateResizableBuffer
    arena.resize_head(facts.head_bytes, ARENA_ALIGNMENT, "the memory plan")


def _input_output_tensors(arena, target, facts):
    arena.phase = "input and output tensors"
    for kind, indices in (("input", facts.subgraph.inputs), ("output", facts.subgraph.outputs)):
        arena.allocate_persistent(target.pointer_bytes * len(indices), ARENA_ALIGNMENT,
                                  PERSISTENT_BUFFERS, f"{kind} TfLiteTensor* array")
        for index in indices:  # AllocatePersistentTfLiteTensor
            _struct(arena, target, "TfLiteTensor", PERSISTENT_TENSORS,
                    f"TfLiteTensor for {kind} tensor {index}")
            tensor = facts.subgraph.tensors[index]
            channels = quantization_channels(tensor)
            if channels:
                _struct(arena, target, "TfLiteAffineQuantization", PERSISTENT_QUANTIZATION)
                arena.allocate_persistent(_int_array_bytes(target, channels),
                                          target.alignof("TfLiteIntArray"),
                                          PERSISTENT_QUANTIZATION,
                                          f"zero-point array ({channels})")


# ------------------------------------------------------------------ the smallest arena


def fits(facts: ModelFacts, target: Target, size: int) -> bool:
    try:
        replay(facts, target, size)
        return True
    except ArenaTooSmall:
        return False


def smallest_passing(fits, high: int = 1 << 16, limit: int = 1 << 40) -> int:
    """The smallest size for which fits(size) holds, for a test that is monotonic in the
    size (as every arena is): double `high` until it passes, then bisect. This is how the
    smallest arena is found everywhere - here on the replay, on the real TFLM
    (arena_size.oracle) and on a board (Board.smallest_arena). ValueError past `limit`."""
    while not fits(high):
        if high >= limit:
            raise ValueError(f"nothing up to {limit:,} bytes fits")
        high = min(2 * high, limit)
    low = 0  # an empty arena never fits (the allocator objects need room)
    while high - low > 1:
        middle = (low + high) // 2
        if fits(middle):
            high = middle
        else:
            low = middle
    return high


def smallest_arena(facts: ModelFacts, target: Target) -> int:
    """The smallest arena the replay fits in: every step of it is monotonic in the size."""
    try:
        return smallest_passing(lambda size: fits(facts, target, size))
    except ValueError:
        raise ValueError("no arena size up to 1 TiB fits this model") from None


def binding_step(facts: ModelFacts, target: Target, arena_bytes: int) -> ArenaTooSmall | None:
    """The allocation that fails one byte below the smallest arena: what sets the size."""
    try:
        replay(facts, target, arena_bytes - 1)
    except ArenaTooSmall as e:
        return e
    return None
