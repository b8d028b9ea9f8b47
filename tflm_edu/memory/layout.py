"""C struct layout: sizeof and alignof of the TFLM structs that live in the tensor arena.

The arena's tail is made of C++ objects - TfLiteEvalTensor arrays, NodeAndRegistration
arrays, kernel OpData structs, the allocator objects themselves - so its size depends on
the target's ABI. Rather than hard-code a number per struct and per target, each struct is
written down here as the list of its members, in declaration order, as in the TFLM headers
(tensorflow/lite/core/c/common.h, micro/micro_allocator.h, micro/kernels/*.h, ...), and
`Layout` lays it out the way the compiler does:

  - each member goes at the next offset that is a multiple of its alignment,
  - a struct's alignment is the largest alignment of its members,
  - sizeof is the end of the last member rounded up to that alignment,
  - a class with virtual functions starts with a vtable pointer, and a derived class puts
    its own members after the data of its bases (the Itanium C++ ABI, which both GCC on
    x86-64 and the ARM EABI follow: a polymorphic base's tail padding is reused).

A Target says how big a pointer is, how big an enum is (arm-none-eabi-gcc gives a C enum
the smallest type that holds its values - one byte for every enum here - while x86-64 and
-fno-short-enums builds use int), whether the build defines USE_TFLM_COMPRESSION (extra
members in several structs) and which struct sizes a particular build is known to change.
docs/arena_size.md lists every struct with its size on each target.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field

# Member types. "ptr" covers every pointer, size_t and intptr_t: they are all the
# pointer's size on the targets here (LP64 x86-64 and ILP32 Arm). int64_t and double are
# 8-aligned on both (the AAPCS aligns them to 8, unlike the 32-bit x86 SysV ABI). "enum" is
# a plain C enum (TfLiteType, TfLitePadding, TfLiteFusedActivation, ...: all of them have
# values 0..23), sized by the target.
PRIMITIVES = {"bool": 1, "int8": 1, "uint8": 1, "int16": 2, "uint16": 2,
              "int": 4, "int32": 4, "float": 4, "int64": 8, "double": 8}


@dataclass(frozen=True)
class Member:
    name: str
    type: str  # a primitive, "ptr", "vptr", or the name of another struct
    count: int = 1  # arrays: int32_t start_indices[5] -> count 5
    compression_only: bool = False  # declared inside #ifdef USE_TFLM_COMPRESSION


@dataclass(frozen=True)
class StructDecl:
    name: str
    members: tuple
    bases: tuple = ()  # base class names, in declaration order
    header: str = ""  # where TFLM declares it
    polymorphic: bool = False  # has virtual functions and no polymorphic base: starts with a vptr


def m(name, type_, count=1, compression_only=False) -> Member:
    return Member(name, type_, count, compression_only)


def _decl(name, header, *members, bases=(), polymorphic=False) -> StructDecl:
    return StructDecl(name, tuple(members), tuple(bases), header, polymorphic)


# ------------------------------------------------------------------ the runtime's structs
C_API = "tensorflow/lite/core/c/common.h (TF_LITE_STATIC_MEMORY variant)"
ALLOC = "tensorflow/lite/micro/micro_allocator.h"
ARENA = "tensorflow/lite/micro/arena_allocator/"
PLANNER = "tensorflow/lite/micro/memory_planner/greedy_memory_planner.h"
BUILTIN = "tensorflow/compiler/mlir/lite/core/c/builtin_op_data.h"
TYPES = "tensorflow/lite/kernels/internal/types.h"
KERNELS = "tensorflow/lite/micro/kernels/"

DECLARATIONS = [
    # --- tensors and nodes
    _decl("TfLiteIntArray", C_API, m("size", "int")),  # + int data[], counted by the caller
    _decl("TfLiteQuantization", C_API, m("type", "enum"), m("params", "ptr")),
    _decl("TfLiteQuantizationParams", C_API, m("scale", "float"), m("zero_point", "int32")),
    _decl("TfLiteAffineQuantization", C_API, m("scale", "ptr"), m("zero_point", "ptr"),
          m("quantized_dimension", "int32")),
    _decl("TfLiteTensor", C_API, m("quantization", "TfLiteQuantization"),
          m("params", "TfLiteQuantizationParams"), m("data", "ptr"), m("dims", "ptr"),
          m("bytes", "ptr"), m("type", "enum"), m("allocation_type", "enum"),
          m("is_variable", "bool")),
    _decl("TfLiteEvalTensor", C_API, m("data", "ptr"), m("dims", "ptr"), m("type", "enum")),
    _decl("TfLiteNode", C_API, m("inputs", "ptr"), m("outputs", "ptr"),
          m("intermediates", "ptr"), m("user_data", "ptr"), m("builtin_data", "ptr"),
          m("custom_initial_data", "ptr"), m("custom_initial_data_size", "int")),
    _decl("NodeAndRegistration", ALLOC, m("node", "TfLiteNode"), m("registration", "ptr")),
    _decl("CompressedTensorList", ALLOC, m("tensors", "ptr")),
    _decl("SubgraphAllocations", ALLOC, m("node_and_registrations", "ptr"), m("tensors", "ptr"),
          m("compressed", "CompressedTensorList", compression_only=True)),
    _decl("ScratchBufferRequest", ALLOC, m("bytes", "ptr"), m("node_idx", "int"),
          m("subgraph_idx", "int")),
    _decl("ScratchBufferHandle", ALLOC, m("data", "ptr")),
    _decl("AllocationInfo", "tensorflow/lite/micro/micro_allocation_info.h",
          m("bytes", "ptr"), m("output_ptr", "ptr"), m("first_created", "int"),
          m("last_used", "int"), m("offline_offset", "int32"), m("needs_allocating", "bool")),
    # --- the allocator objects, created inside the arena's tail
    _decl("IPersistentBufferAllocator", ARENA + "ibuffer_allocator.h", polymorphic=True),
    _decl("INonPersistentBufferAllocator", ARENA + "ibuffer_allocator.h", polymorphic=True),
    _decl("SingleArenaBufferAllocator", ARENA + "single_arena_buffer_allocator.h",
          m("buffer_head_", "ptr"), m("buffer_tail_", "ptr"), m("head_", "ptr"),
          m("tail_", "ptr"), m("temp_", "ptr"), m("temp_buffer_ptr_check_sum_", "ptr"),
          m("temp_buffer_count_", "int"),
          bases=("INonPersistentBufferAllocator", "IPersistentBufferAllocator")),
    _decl("RecordingSingleArenaBufferAllocator",
          ARENA + "recording_single_arena_buffer_allocator.h",
          m("requested_head_bytes_", "ptr"), m("requested_tail_bytes_", "ptr"),
          m("used_bytes_", "ptr"), m("alloc_count_", "ptr"),
          bases=("SingleArenaBufferAllocator",)),
    _decl("MicroMemoryPlanner", "tensorflow/lite/micro/memory_planner/micro_memory_planner.h",
          polymorphic=True),
    _decl("GreedyMemoryPlanner", PLANNER, m("max_buffer_count_", "int"),
          m("buffer_count_", "int"), m("requirements_", "ptr"), m("buffer_sizes_sorted_", "ptr"),
          m("buffer_ids_sorted_", "ptr"), m("buffers_sorted_by_offset_", "ptr"),
          m("next_free_entry_", "int"), m("first_entry_index_", "int"),
          m("buffer_offsets_", "ptr"), m("need_to_calculate_offsets_", "bool"),
          bases=("MicroMemoryPlanner",)),
    # Per planned buffer, GreedyMemoryPlanner::Init carves these out of its scratch:
    # BufferRequirements + buffer_sizes_sorted_ + buffer_ids_sorted_ + ListEntry + offset.
    _decl("GreedyPlannerPerBuffer", PLANNER, m("size", "int"), m("offline_offset", "int"),
          m("first_time_used", "int"), m("last_time_used", "int"), m("size_sorted", "int"),
          m("id_sorted", "int"), m("list_offset", "int"), m("list_requirements_index", "int"),
          m("list_next_entry_index", "int"), m("buffer_offset", "int")),
    _decl("MicroAllocator", ALLOC, m("non_persistent_buffer_allocator_", "ptr"),
          m("persistent_buffer_allocator_", "ptr"), m("builtin_data_allocator_", "ptr"),
          m("memory_planner_", "ptr"), m("model_is_allocating_", "bool"),
          m("scratch_buffer_request_count_", "ptr"), m("scratch_buffer_head_", "ptr"),
          m("max_head_buffer_usage_", "ptr"), polymorphic=True),
    _decl("RecordedAllocation", "tensorflow/lite/micro/recording_micro_allocator.h",
          m("requested_bytes", "ptr"), m("used_bytes", "ptr"), m("count", "ptr")),
    _decl("RecordingMicroAllocator", "tensorflow/lite/micro/recording_micro_allocator.h",
          m("recording_memory_allocator_", "ptr"),
          m("recorded_tflite_eval_tensor_data_", "RecordedAllocation"),
          m("recorded_persistent_tflite_tensor_data_", "RecordedAllocation"),
          m("recorded_persistent_tflite_tensor_quantization_data_", "RecordedAllocation"),
          m("recorded_persistent_buffer_data_", "RecordedAllocation"),
          m("recorded_tflite_tensor_variable_buffer_data_", "RecordedAllocation"),
          m("recorded_node_and_registration_array_data_", "RecordedAllocation"),
          m("recorded_compression_data_", "RecordedAllocation", compression_only=True),
          m("recorded_op_data_", "RecordedAllocation"),
          bases=("MicroAllocator",)),
    _decl("BuiltinDataAllocator", "tensorflow/lite/core/api/flatbuffer_conversions.h",
          polymorphic=True),
    _decl("MicroBuiltinDataAllocator", "tensorflow/lite/micro/micro_allocator.cc",
          m("persistent_allocator_", "ptr"), bases=("BuiltinDataAllocator",)),
    # --- shared by the builtin options of several ops (conv, depthwise, pooling)
    _decl("TfLitePaddingValues", BUILTIN, m("width", "int"), m("height", "int"),
          m("width_offset", "int"), m("height_offset", "int")),
]

# The runtime's structs, declared above; each kernel module adds its own (its OpData, its
# builtin params) with c_struct() when it is imported.
STRUCTS = {d.name: d for d in DECLARATIONS}


def c_struct(name, header, *members, bases=()) -> str:
    """Declare a kernel's C struct beside the kernel (member by member, as TFLM's header
    declares it) and return its name, for the kernel's ArenaRecipe."""
    decl = _decl(name, header, *members, bases=bases)
    if STRUCTS.setdefault(name, decl) != decl:
        raise ValueError(f"struct {name} is declared twice, differently")
    return name


def _import_kernels() -> None:
    """Importing the op resolver imports every kernel module, which declares its structs."""
    importlib.import_module("tflm_edu.op_resolver")


def declaration(name: str) -> StructDecl:
    """The declaration of a struct: the runtime's, or a kernel's (importing the kernels
    declares theirs)."""
    if name not in STRUCTS:
        _import_kernels()
    try:
        return STRUCTS[name]
    except KeyError:
        raise KeyError(f"no struct {name} is declared (memory/layout.py declares the "
                       f"runtime's, each kernel module its own with c_struct)") from None


@dataclass(frozen=True)
class StructLayout:
    size: int  # sizeof
    align: int  # alignof
    dsize: int  # data size: sizeof without tail padding (where a derived class continues)
    has_vptr: bool = False


@dataclass
class Target:
    """An ABI and a TFLM build: what decides the tail's struct sizes."""

    name: str
    description: str
    pointer_bytes: int
    short_enums: bool  # a C enum takes the smallest type that holds its values
    compression: bool  # USE_TFLM_COMPRESSION
    recording_allocator: bool  # the interpreter is built on RecordingMicroAllocator
    # struct name -> (sizeof, alignof) measured on a build whose headers differ from the
    # declarations above (see docs/arena_size.md for the evidence).
    overrides: dict = field(default_factory=dict)
    _cache: dict = field(default_factory=dict, repr=False)

    def sizeof(self, struct: str) -> int:
        return self.layout(struct).size

    def alignof(self, struct: str) -> int:
        return self.layout(struct).align

    def layout(self, type_name: str) -> StructLayout:
        if type_name not in self._cache:
            self._cache[type_name] = self._compute(type_name)
        return self._cache[type_name]

    def _compute(self, type_name: str) -> StructLayout:
        if type_name in self.overrides:
            size, align = self.overrides[type_name]
            return StructLayout(size, align, size)
        if type_name in ("ptr", "vptr"):
            return StructLayout(self.pointer_bytes, self.pointer_bytes, self.pointer_bytes)
        if type_name == "enum":
            n = 1 if self.short_enums else 4
            return StructLayout(n, n, n)
        if type_name in PRIMITIVES:
            n = PRIMITIVES[type_name]
            return StructLayout(n, n, n)
        return self._lay_out_struct(declaration(type_name))

    def _lay_out_struct(self, decl: StructDecl) -> StructLayout:
        offset, align, has_vptr = 0, 1, decl.polymorphic
        if decl.polymorphic:
            offset = align = self.pointer_bytes
        for base_name in decl.bases:
            base = self.layout(base_name)
            start = _align_up(offset, base.align)
            # A polymorphic base lends its tail padding to the derived class (Itanium ABI);
            # a plain C-like base keeps its full sizeof.
            offset = start + (base.dsize if base.has_vptr else base.size)
            align, has_vptr = max(align, base.align), has_vptr or base.has_vptr
        for member in decl.members:
            if member.compression_only and not self.compression:
                continue
            mem = self.layout(member.type)
            offset = _align_up(offset, mem.align) + mem.size * member.count
            align = max(align, mem.align)
        return StructLayout(_align_up(offset, align), align, offset, has_vptr)

    def member_span(self, struct: str, member: str) -> tuple[int, int]:
        """(offset, size) of a direct member of `struct`: offsetof and sizeof."""
        decl = declaration(struct)
        offset = self.pointer_bytes if decl.polymorphic else 0
        for base_name in decl.bases:
            base = self.layout(base_name)
            offset = _align_up(offset, base.align) + (base.dsize if base.has_vptr else base.size)
        for m_ in decl.members:
            if m_.compression_only and not self.compression:
                continue
            mem = self.layout(m_.type)
            offset = _align_up(offset, mem.align)
            if m_.name == member:
                return offset, mem.size * m_.count
            offset += mem.size * m_.count
        raise KeyError(f"{struct} has no member {member!r}")

    def table(self, names=None) -> list[tuple[str, int, int]]:
        """(name, sizeof, alignof) for the named structs (all of them by default)."""
        if names is None:
            _import_kernels()
        return [(n, self.sizeof(n), self.alignof(n)) for n in (names or STRUCTS)]


def _align_up(n: int, alignment: int) -> int:
    return (n + alignment - 1) // alignment * alignment


HOST = Target(
    "host",
    "x86-64 Linux, the build the tflite-micro Python package runs: LP64 (8-byte pointers "
    "and size_t), USE_TFLM_COMPRESSION defined, RecordingMicroAllocator",
    pointer_bytes=8, short_enums=False, compression=True, recording_allocator=True,
    # The wheel's TfLiteFullyConnectedParams has two members more than the headers in the
    # TFLM source snapshot: ParseFullyConnected asks its allocator for 32 bytes aligned to 8.
    overrides={"TfLiteFullyConnectedParams": (32, 8)})

CORTEX_M = Target(
    "cortex-m",
    "32-bit Arm Cortex-M built with arm-none-eabi-gcc, TFLM's default toolchain for "
    "cortex_m_generic (AAPCS: 4-byte pointers and size_t, 8-aligned int64/double, short "
    "enums), reference kernels, no USE_TFLM_COMPRESSION, MicroInterpreter(model, resolver, "
    "arena, size) with its plain MicroAllocator",
    pointer_bytes=4, short_enums=True, compression=False, recording_allocator=False)

CORTEX_M_INT_ENUMS = Target(
    "cortex-m-int-enums",
    "as cortex-m, but with 4-byte enums: armclang's default, or gcc with -fno-short-enums",
    pointer_bytes=4, short_enums=False, compression=False, recording_allocator=False)

TARGETS = {t.name: t for t in (HOST, CORTEX_M, CORTEX_M_INT_ENUMS)}


def get_target(target) -> Target:
    if isinstance(target, Target):
        return target
    try:
        return TARGETS[str(target).lower()]
    except KeyError:
        raise ValueError(f"unknown target {target!r}; choose one of {sorted(TARGETS)}") from None


# ------------------------------------------------------------------ the documented tables

STRUCT_GROUPS = (
    ("Tensors, nodes and the allocator's per-model arrays",
     ("tensorflow/lite/core/c/common.h", ALLOC, "tensorflow/lite/micro/micro_allocation_info")),
    ("The allocator objects (created inside the arena)",
     (ARENA, PLANNER, "tensorflow/lite/micro/memory_planner/", "tensorflow/lite/core/api/",
      "tensorflow/lite/micro/micro_allocator.cc", "tensorflow/lite/micro/recording",
      "tensorflow/lite/micro/micro_resource_variable")),
    ("Builtin options (parsed into the tail, one per op)", (BUILTIN,)),
    ("Kernel OpData and what Init and Prepare keep (16-byte aligned)", ("",)),
)


def struct_tables_markdown() -> str:
    """docs/arena_size.md's struct tables: every struct declared here and in the kernel
    modules, sizeof / alignof on each target, grouped by where TFLM declares it. The doc
    holds this text verbatim (a test checks): regenerate it with
    `python -c "from tflm_edu.memory.layout import struct_tables_markdown as t; print(t())"`."""
    _import_kernels()

    def group(d: StructDecl) -> int:
        if d.polymorphic or d.bases:   # the allocator classes
            return 1
        return next(i for i, (_, prefixes) in enumerate(STRUCT_GROUPS)
                    if any(d.header.startswith(p) for p in prefixes))

    lines = []
    for i, (title, _) in enumerate(STRUCT_GROUPS):
        names = [n for n, d in STRUCTS.items() if group(d) == i]
        lines += [f"### {title}", "", "| struct | " + " | ".join(TARGETS) + " |",
                  "|---|" + "---|" * len(TARGETS)]
        for n in names:
            cells = [f"{t.sizeof(n)} / {t.alignof(n)}" for t in TARGETS.values()]
            lines.append(f"| {n} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)

