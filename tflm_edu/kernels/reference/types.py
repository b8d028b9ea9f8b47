"""The parameter structs the reference loops take.

Mirrors tensorflow/lite/kernels/internal/types.h (ConvParams, DepthwiseParams,
FullyConnectedParams, PoolParams, ArithmeticParams). A TFLM Eval copies what Prepare left
in the OpData, and the op's builtin options, into one of these, and hands it to the
reference function: the loops see plain numbers, never a tensor or a node.

Signs, as in TFLM: input_offset, weights_offset, input1_offset and input2_offset are the
*negated* zero points (value + offset = value - zero_point); output_offset is the output
zero point itself, added after requantization.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from tflm_edu.kernels.conv import PaddingValues


@dataclass
class ConvParams:
    padding_values: PaddingValues = field(default_factory=PaddingValues)
    stride_width: int = 1
    stride_height: int = 1
    dilation_width_factor: int = 1
    dilation_height_factor: int = 1
    input_offset: int = 0
    weights_offset: int = 0
    output_offset: int = 0
    output_multiplier: int = 0  # per-tensor; ConvPerChannel takes arrays instead
    output_shift: int = 0
    quantized_activation_min: int = 0
    quantized_activation_max: int = 0
    float_activation_min: float = 0.0
    float_activation_max: float = 0.0


@dataclass
class DepthwiseParams(ConvParams):
    depth_multiplier: int = 1


@dataclass
class FullyConnectedParams:
    input_offset: int = 0
    weights_offset: int = 0
    output_offset: int = 0
    output_multiplier: int = 0
    output_shift: int = 0
    quantized_activation_min: int = 0
    quantized_activation_max: int = 0
    float_activation_min: float = 0.0
    float_activation_max: float = 0.0


@dataclass
class PoolParams:
    padding_values: PaddingValues = field(default_factory=PaddingValues)
    stride_height: int = 1
    stride_width: int = 1
    filter_height: int = 1
    filter_width: int = 1
    quantized_activation_min: int = 0
    quantized_activation_max: int = 0
    float_activation_min: float = 0.0
    float_activation_max: float = 0.0


@dataclass
class ArithmeticParams:
    """The elementwise binary ops (ADD, SUB, MUL, ...). left_shift and the per-input
    multipliers are ADD's and SUB's: they bring both inputs onto one scale first."""

    input1_offset: int = 0
    input2_offset: int = 0
    output_offset: int = 0
    output_multiplier: int = 0
    output_shift: int = 0
    left_shift: int = 0
    input1_multiplier: int = 0
    input1_shift: int = 0
    input2_multiplier: int = 0
    input2_shift: int = 0
    quantized_activation_min: int = 0
    quantized_activation_max: int = 0
    float_activation_min: float = 0.0
    float_activation_max: float = 0.0
