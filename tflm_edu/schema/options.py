"""Builtin options tables of the ops tflm_edu runs (the BuiltinOptions union of schema.fbs).

Each options table is a small dataclass whose fields follow schema.fbs in name and order.
FIELDS says how each field is stored (a flatbuffers scalar format, or a vector of int32),
so one generic reader and one generic writer handle every table; field i of a table is
vtable slot i, exactly as flatc numbers them.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from tflm_edu.schema.enums import ActivationFunctionType, Padding, TensorType

# Storage formats: struct-module codes for scalars, "[i" for a vector of int32.
BYTE, BOOL, INT32, FLOAT32, INT_VECTOR = "b", "?", "i", "f", "[i"


@dataclass
class Conv2DOptions:
    padding: int = Padding.SAME
    stride_w: int = 0
    stride_h: int = 0
    fused_activation_function: int = ActivationFunctionType.NONE
    dilation_w_factor: int = 1
    dilation_h_factor: int = 1
    quantized_bias_type: int = TensorType.FLOAT32


@dataclass
class DepthwiseConv2DOptions:
    padding: int = Padding.SAME
    stride_w: int = 0
    stride_h: int = 0
    depth_multiplier: int = 0
    fused_activation_function: int = ActivationFunctionType.NONE
    dilation_w_factor: int = 1
    dilation_h_factor: int = 1


@dataclass
class Pool2DOptions:
    padding: int = Padding.SAME
    stride_w: int = 0
    stride_h: int = 0
    filter_width: int = 0
    filter_height: int = 0
    fused_activation_function: int = ActivationFunctionType.NONE


@dataclass
class FullyConnectedOptions:
    fused_activation_function: int = ActivationFunctionType.NONE
    weights_format: int = 0
    keep_num_dims: bool = False
    asymmetric_quantize_inputs: bool = False
    quantized_bias_type: int = TensorType.FLOAT32


@dataclass
class SoftmaxOptions:
    beta: float = 0.0


@dataclass
class ConcatenationOptions:
    axis: int = 0
    fused_activation_function: int = ActivationFunctionType.NONE


@dataclass
class AddOptions:
    fused_activation_function: int = ActivationFunctionType.NONE
    pot_scale_int16: bool = True


@dataclass
class ReshapeOptions:
    new_shape: tuple = ()


@dataclass
class MulOptions:
    fused_activation_function: int = ActivationFunctionType.NONE


@dataclass
class PadOptions:
    pass


@dataclass
class ReducerOptions:
    keep_dims: bool = False


@dataclass
class StridedSliceOptions:
    begin_mask: int = 0
    end_mask: int = 0
    ellipsis_mask: int = 0
    new_axis_mask: int = 0
    shrink_axis_mask: int = 0
    offset: bool = False


@dataclass
class DequantizeOptions:
    pass


@dataclass
class ShapeOptions:
    out_type: int = TensorType.FLOAT32


@dataclass
class PackOptions:
    values_count: int = 0
    axis: int = 0


@dataclass
class QuantizeOptions:
    pass


@dataclass
class OptionsSpec:
    union_type: int  # the BuiltinOptions union tag
    cls: type
    formats: tuple  # one storage format per dataclass field, in schema order

    @property
    def field_names(self):
        return [f.name for f in dataclasses.fields(self.cls)]


_SPECS = [
    OptionsSpec(1, Conv2DOptions, (BYTE, INT32, INT32, BYTE, INT32, INT32, BYTE)),
    OptionsSpec(2, DepthwiseConv2DOptions, (BYTE, INT32, INT32, INT32, BYTE, INT32, INT32)),
    OptionsSpec(5, Pool2DOptions, (BYTE, INT32, INT32, INT32, INT32, BYTE)),
    OptionsSpec(8, FullyConnectedOptions, (BYTE, BYTE, BOOL, BOOL, BYTE)),
    OptionsSpec(9, SoftmaxOptions, (FLOAT32,)),
    OptionsSpec(10, ConcatenationOptions, (INT32, BYTE)),
    OptionsSpec(11, AddOptions, (BYTE, BOOL)),
    OptionsSpec(17, ReshapeOptions, (INT_VECTOR,)),
    OptionsSpec(21, MulOptions, (BYTE,)),
    OptionsSpec(22, PadOptions, ()),
    OptionsSpec(27, ReducerOptions, (BOOL,)),
    OptionsSpec(32, StridedSliceOptions, (INT32, INT32, INT32, INT32, INT32, BOOL)),
    OptionsSpec(38, DequantizeOptions, ()),
    OptionsSpec(55, ShapeOptions, (BYTE,)),
    OptionsSpec(59, PackOptions, (INT32, INT32)),
    OptionsSpec(89, QuantizeOptions, ()),
]

SPEC_BY_UNION_TYPE = {spec.union_type: spec for spec in _SPECS}
SPEC_BY_CLASS = {spec.cls: spec for spec in _SPECS}
