"""OpSpec: everything tflm_edu knows about one op, declared once, beside its kernel.

Each kernel module ends with `SPEC = OpSpec(...)` (or `SPECS = [...]` when one module holds
several ops, as pooling.py and activations.py do, like TFLM's own files). Every part of
tflm_edu that needs to know about an op reads its spec - there is no other table:

  the op resolver        register: the kernel's TFLMRegistration (init / prepare / eval)
  the model validator    options: the BuiltinOptions class the kernel reads;
                         optional_inputs: the inputs that may be -1 (absent)
  the pre-deploy checks  types: the input types the kernel computes
  the quantizer          quantizer: op versions and how the output is scaled (int8, 16x8)
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
    """How tflm_edu's quantizer writes this op (tflm_edu.convert.quantize), in int8 and,
    when int16_version is set, in int16x8; versions as tensorflow/lite/tools/versioning.

    output: how the scale and zero point of the op's float outputs are chosen -
      "calibrated"    from the output's calibrated range (the kernel rescales);
      "same_as_input" the data input's (its first float input): the kernel only moves or
                      compares values and never rescales (pooling, RESHAPE, PAD, RELU6);
      "same_scale"    one scale and zero point shared by every float input and the
                      output (CONCATENATION, PACK, MAXIMUM): TFLite's SameScalesOpInterface;
                      the quantizer unifies their ranges, or requantizes an input whose
                      scale is fixed (a TANH output) with a QUANTIZE op in front;
      "fixed"         fixed_output (int8) / fixed_output_int16 is what the kernel requires.
    weights_axis: for ops with int8 weights (input 1) and a bias (input 2: int32 in int8,
    int64 in int16x8), the axis their per-channel scales run along; per_channel_optional:
    per-tensor unless asked (FULLY_CONNECTED), with per_channel_version as the op version.
    int16_options: (field, value) pairs the op's options take in int16x8 (ADD's
    pot_scale_int16=False: TFLite's general-scale int16 kernel, not the power-of-two one).

    Ops whose inputs are not (data, weights, bias) in that order, or that keep more than
    int8 weights, say so (TFLite's operator_property declares the same per input):
    data_input, weights_input, bias_input: the positions of the activation whose scale
    times the weights' gives the bias scale, of the weights, and of the bias (TRANSPOSE_CONV:
    2, 1, 3 - input 0 is its int32 output shape); weights_per_tensor: int8 weights with one
    scale, never per channel (SVDF's weights_feature); weights_and_biases: for an op with
    several weights, (weights input, bias input or -1) pairs in place of (weights_input,
    bias_input) (the LSTM's eight gate weights, four with a bias); int16_weights: (input,
    steps) pairs, constants stored as symmetric int16 at scale max|w| / steps (SVDF's
    weights_time, 10 bits: 512 steps); state_inputs: variable tensors (the op's memory)
    stored as symmetric int16 from their calibrated range in every mode (SVDF's
    activation_state, the LSTM's cell_state), at the power of two above that range /
    32768 when power_of_two_states (TFLite's extend_to_power_of_two: the LSTM's integer
    tanh takes its cell state at a power-of-two scale); same_as_output_inputs: inputs that
    take the output's parameters (the LSTM's output_state, the hidden state its kernel
    copies into the output: TFLite's restrict_scale); intermediates: the intermediate
    tensors the quantized op carries - None an empty float32 placeholder, k an empty tensor
    with output k's type and parameters (the LSTM's five: LiteRT's integer kernel reads
    the hidden scale from the fifth, TFLM none);
    bias_scale_inputs: the inputs whose scales multiply to the bias scale when they are not
    (data_input, weights_input) (SVDF: weights_time x activation_state);
    zero_point_zero_input: the data input must have zero point 0 (CUMSUM: TFLM's int8 sum
    starts at minus the input zero point): its tensors take symmetric parameters, or are
    requantized when theirs are fixed;
    activations: the fused activations the quantized op may have (None: all), and
    activations_why the reason, which a refusal shows - SVDF's integer kernel in TFLM
    applies none, only the int8 clamp (a ReLU exactly when the calibrated output range
    starts at 0), and LiteRT's takes RELU only;
    version_of: (op) -> version, for an op whose version depends on its inputs and options
    (TRANSPOSE_CONV: 2, 3 with a bias, 4 with a fused activation) - both modes."""
    int8_version: int
    output: str = "calibrated"
    fixed_output: tuple | None = None
    weights_axis: int | None = None
    per_channel_optional: bool = False
    per_channel_version: int | None = None
    int16_version: int | None = None
    fixed_output_int16: tuple | None = None
    int16_options: tuple = ()
    data_input: int = 0
    weights_input: int = 1
    bias_input: int = 2
    weights_per_tensor: bool = False
    int16_weights: tuple = ()
    state_inputs: tuple = ()
    power_of_two_states: bool = False
    weights_and_biases: tuple = ()
    same_as_output_inputs: tuple = ()
    intermediates: tuple = ()
    bias_scale_inputs: tuple = ()
    zero_point_zero_input: bool = False
    activations: tuple | None = None
    activations_why: str = ""
    version_of: Callable | None = None

    @property
    def has_weights(self) -> bool:
        """int8 weights at weights_input (per channel on weights_axis, or one scale)."""
        return self.weights_axis is not None or self.weights_per_tensor

    @property
    def weight_pairs(self) -> tuple:
        """(weights input, bias input or -1) of every int8 weights tensor the op reads."""
        if not self.has_weights:
            return ()
        return self.weights_and_biases or ((self.weights_input, self.bias_input),)


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
    quantizer: QuantizerRule | None  # None: the quantizer does not write this op
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
