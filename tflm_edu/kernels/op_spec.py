"""OpSpec: everything tflm_edu knows about one op, declared once, beside its kernel.

Each kernel module ends with `SPEC = OpSpec(...)` (or `SPECS = [...]` when one module holds
several ops, as pooling.py and activations.py do, like TFLM's own files). Every part of
tflm_edu that needs to know about an op reads its spec - there is no other table:

  the op resolver        register: the kernel's TFLMRegistration (init / prepare / eval)
  the model validator    options: the BuiltinOptions class the kernel reads;
                         optional_inputs: the inputs that may be -1 (absent)
  the pre-deploy checks  types: the input types the kernel computes
  the int8 quantizer     quantizer: op versions and how the output is scaled
  the arena estimator    arena: what TFLM's Parse*, Init and Prepare put in the arena
  the plots              the op's colour comes from its builtin code

Adding an op to tflm_edu is one kernel module (with its SPEC) and its tests; the registry
(tflm_edu.op_resolver.SPECS) finds it. docs/architecture.md walks through adding SUB.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

ANY_TYPE = ()   # `types` of an op that only moves bytes (RESHAPE): every tensor type


@dataclass(frozen=True)
class QuantizerRule:
    """How tflm_edu's int8 quantizer writes this op (tensorflow/lite/tools/versioning).

    output: "calibrated" (the output's range comes from calibration), "same_as_input"
    (TFLite requires the input's scale and zero point: pooling, RESHAPE, PAD, RELU6) or
    "fixed" (fixed_output gives the (scale, zero_point) TFLM's kernel requires).
    weights_axis: for ops with int8 weights (input 1) and an int32 bias (input 2), the axis
    their per-channel scales run along; per_channel_optional: per-tensor unless asked
    (FULLY_CONNECTED), with per_channel_version as the op version then."""
    int8_version: int
    output: str = "calibrated"
    fixed_output: tuple | None = None
    weights_axis: int | None = None
    per_channel_optional: bool = False
    per_channel_version: int | None = None


@dataclass(frozen=True)
class ArenaRecipe:
    """What TFLM's kernel puts in the arena while the interpreter allocates (see
    tflm_edu.arena_size): the struct its Parse* function allocates for the builtin options,
    the OpData struct its Init allocates, and what its Prepare does, in order -
    prepare(recorder) calls recorder.temp_input(i) / temp_output(i) / persistent(bytes,
    what) as the C++ Prepare does. `init`, when given, is called the same way for what
    Init allocates beyond one OpData struct (a custom op's state buffers, sized by its
    options: recorder.user_data is the OpData tflm_edu's init returned)."""
    builtin_params: str | None
    op_data: str | None
    prepare: Callable
    init: Callable | None = None


@dataclass(frozen=True)
class OpSpec:
    op: int                          # the BuiltinOperator
    register: Callable               # () -> Registration (TFLM's Register_XXX())
    options: type | None             # the BuiltinOptions class, None for ops without options
    types: tuple                     # input TensorTypes the kernel computes (ANY_TYPE: all)
    quantizer: QuantizerRule | None  # None: the int8 quantizer does not write this op
    arena: ArenaRecipe
    optional_inputs: frozenset = frozenset()
    custom_name: str | None = None   # a CUSTOM op's name ("SignalWindow"); op is CUSTOM then

    @property
    def name(self) -> str:
        from tflm_edu.schema.enums import BuiltinOperator
        return self.custom_name or BuiltinOperator(self.op).name

    def __repr__(self):
        return f"OpSpec({self.name})"


def inputs_then_output(n_inputs: int) -> Callable:
    """The Prepare of most simple kernels: a temporary TfLiteTensor for each input, then
    one for the output (GetInput / GetOutput through MicroContext)."""
    def prepare(k):
        for i in range(n_inputs):
            k.temp_input(i)
        k.temp_output(0)
    return prepare


def nothing(k) -> None:
    """A Prepare that allocates nothing in the arena."""
