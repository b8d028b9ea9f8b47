"""The builtin options tables: every member of the BuiltinOptions union of schema.fbs.

An Operator says how it is configured with two fields: builtin_options_type, a union tag
(1 = Conv2DOptions ... 126 = RightShiftOptions, in the order schema.fbs lists the union;
0 = NONE), and builtin_options, an offset to a table of that type. Each table is a dataclass
here whose fields follow schema.fbs in name, order and default, and one OptionsSpec per
table gives its union tag and how each field is stored, so one generic reader and one
generic writer handle all of them.

Field i of a table is vtable slot i, as flatc numbers them. A field removed from the schema
stays in it, marked `(deprecated)`, so that later fields keep their slots; here it is a
DEPRECATED entry in the formats with no dataclass field: the reader skips the slot, as
flatc's accessors do (a value an old writer left there is ignored), and the writer never
fills it. Only ResizeBilinearOptions has such slots (new_height and new_width).

Enum-typed fields (Padding, ActivationFunctionType, TensorType, LSTMKernelType, ...) are all
`byte` enums in schema.fbs and are stored as int8. A vector or string field reads as its
default when absent: () for ReshapeOptions.new_shape (as tflm_edu always read it), None for
the others; the writer writes every vector or string that is not None (an empty tuple is an
empty vector).

BuiltinOptions2 (the StableHLO tables, union tags of their own) is another field of Operator
and is not read.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from tflm_edu.schema.enums import ActivationFunctionType, Padding, TensorType

# Storage formats. Scalars use struct-module codes, the reader's FlatBuffers wire types:
BYTE, BOOL, INT32, UINT32, INT64, FLOAT32 = "b", "?", "i", "I", "q", "f"
# Vectors are "[" + the element's code; strings are UTF-8 (schema.fbs `string`).
INT_VECTOR, FLOAT_VECTOR, UBYTE_VECTOR, STRING = "[i", "[f", "[B", "s"
# A slot whose field schema.fbs marks (deprecated): no dataclass field, never read or written.
DEPRECATED = "-"

VECTOR_DTYPE = {INT_VECTOR: "<i4", FLOAT_VECTOR: "<f4", UBYTE_VECTOR: "u1"}


def _no_fields(name: str) -> type:
    """A table with no fields: the op has nothing to configure, yet the union has a member
    for it (one line here rather than an empty class)."""
    cls = dataclasses.make_dataclass(name, [])
    cls.__module__ = __name__
    return cls


# ----------------------------------------------------------------------------- convolution, pooling


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
class Conv3DOptions:
    padding: int = Padding.SAME
    stride_d: int = 0
    stride_w: int = 0
    stride_h: int = 0
    fused_activation_function: int = ActivationFunctionType.NONE
    dilation_d_factor: int = 1
    dilation_w_factor: int = 1
    dilation_h_factor: int = 1


@dataclass
class TransposeConvOptions:
    padding: int = Padding.SAME
    stride_w: int = 0
    stride_h: int = 0
    fused_activation_function: int = ActivationFunctionType.NONE
    quantized_bias_type: int = TensorType.FLOAT32


@dataclass
class Pool2DOptions:  # AVERAGE_POOL_2D, MAX_POOL_2D, L2_POOL_2D
    padding: int = Padding.SAME
    stride_w: int = 0
    stride_h: int = 0
    filter_width: int = 0
    filter_height: int = 0
    fused_activation_function: int = ActivationFunctionType.NONE


# ----------------------------------------------------------------------------- dense, softmax


@dataclass
class FullyConnectedOptions:
    fused_activation_function: int = ActivationFunctionType.NONE
    weights_format: int = 0  # FullyConnectedOptionsWeightsFormat
    keep_num_dims: bool = False
    asymmetric_quantize_inputs: bool = False
    quantized_bias_type: int = TensorType.FLOAT32
    quant_spec: tuple | None = None  # [ubyte]; newer than TFLM's copy of schema.fbs


@dataclass
class BatchMatMulOptions:
    adj_x: bool = False
    adj_y: bool = False
    asymmetric_quantize_inputs: bool = False


@dataclass
class SoftmaxOptions:
    beta: float = 0.0


LogSoftmaxOptions = _no_fields("LogSoftmaxOptions")


# ----------------------------------------------------------------------------- element-wise


@dataclass
class AddOptions:
    fused_activation_function: int = ActivationFunctionType.NONE
    pot_scale_int16: bool = True


@dataclass
class SubOptions:
    fused_activation_function: int = ActivationFunctionType.NONE
    pot_scale_int16: bool = True


@dataclass
class MulOptions:
    fused_activation_function: int = ActivationFunctionType.NONE


@dataclass
class DivOptions:
    fused_activation_function: int = ActivationFunctionType.NONE


FloorDivOptions = _no_fields("FloorDivOptions")
FloorModOptions = _no_fields("FloorModOptions")
SquaredDifferenceOptions = _no_fields("SquaredDifferenceOptions")
PowOptions = _no_fields("PowOptions")
MaximumMinimumOptions = _no_fields("MaximumMinimumOptions")  # MAXIMUM, MINIMUM
ATan2Options = _no_fields("ATan2Options")
BitwiseXorOptions = _no_fields("BitwiseXorOptions")
RightShiftOptions = _no_fields("RightShiftOptions")
AddNOptions = _no_fields("AddNOptions")

AbsOptions = _no_fields("AbsOptions")
NegOptions = _no_fields("NegOptions")
ExpOptions = _no_fields("ExpOptions")
CosOptions = _no_fields("CosOptions")
SquareOptions = _no_fields("SquareOptions")
SignOptions = _no_fields("SignOptions")
HardSwishOptions = _no_fields("HardSwishOptions")


@dataclass
class LeakyReluOptions:
    alpha: float = 0.0


@dataclass
class GeluOptions:
    approximate: bool = False


@dataclass
class L2NormOptions:
    fused_activation_function: int = ActivationFunctionType.NONE


@dataclass
class LocalResponseNormalizationOptions:
    radius: int = 0
    bias: float = 0.0
    alpha: float = 0.0
    beta: float = 0.0


# ----------------------------------------------------------------------------- comparison, logic

LessOptions = _no_fields("LessOptions")
LessEqualOptions = _no_fields("LessEqualOptions")
GreaterOptions = _no_fields("GreaterOptions")
GreaterEqualOptions = _no_fields("GreaterEqualOptions")
EqualOptions = _no_fields("EqualOptions")
NotEqualOptions = _no_fields("NotEqualOptions")
LogicalAndOptions = _no_fields("LogicalAndOptions")
LogicalOrOptions = _no_fields("LogicalOrOptions")
LogicalNotOptions = _no_fields("LogicalNotOptions")
SelectOptions = _no_fields("SelectOptions")
SelectV2Options = _no_fields("SelectV2Options")
WhereOptions = _no_fields("WhereOptions")


# ----------------------------------------------------------------------------- shape, layout


@dataclass
class ReshapeOptions:
    new_shape: tuple = ()


@dataclass
class SqueezeOptions:
    squeeze_dims: tuple | None = None


ExpandDimsOptions = _no_fields("ExpandDimsOptions")
TransposeOptions = _no_fields("TransposeOptions")


@dataclass
class ConcatenationOptions:
    axis: int = 0
    fused_activation_function: int = ActivationFunctionType.NONE


@dataclass
class PackOptions:
    values_count: int = 0
    axis: int = 0


@dataclass
class UnpackOptions:
    num: int = 0
    axis: int = 0


@dataclass
class SplitOptions:
    num_splits: int = 0


@dataclass
class SplitVOptions:
    num_splits: int = 0


SliceOptions = _no_fields("SliceOptions")


@dataclass
class StridedSliceOptions:
    begin_mask: int = 0
    end_mask: int = 0
    ellipsis_mask: int = 0
    new_axis_mask: int = 0
    shrink_axis_mask: int = 0
    offset: bool = False


TileOptions = _no_fields("TileOptions")
BroadcastToOptions = _no_fields("BroadcastToOptions")


@dataclass
class ShapeOptions:
    out_type: int = TensorType.FLOAT32


RankOptions = _no_fields("RankOptions")
PadOptions = _no_fields("PadOptions")
PadV2Options = _no_fields("PadV2Options")


@dataclass
class MirrorPadOptions:
    mode: int = 0  # MirrorPadMode: REFLECT = 0, SYMMETRIC = 1


@dataclass
class SpaceToDepthOptions:
    block_size: int = 0


@dataclass
class DepthToSpaceOptions:
    block_size: int = 0


SpaceToBatchNDOptions = _no_fields("SpaceToBatchNDOptions")
BatchToSpaceNDOptions = _no_fields("BatchToSpaceNDOptions")
ReverseV2Options = _no_fields("ReverseV2Options")


@dataclass
class ReverseSequenceOptions:
    seq_dim: int = 0
    batch_dim: int = 0


MatrixDiagOptions = _no_fields("MatrixDiagOptions")
MatrixSetDiagOptions = _no_fields("MatrixSetDiagOptions")


# ---------------------------------------------------------------------------- gather, scatter, fill


@dataclass
class GatherOptions:
    axis: int = 0
    batch_dims: int = 0


GatherNdOptions = _no_fields("GatherNdOptions")
ScatterNdOptions = _no_fields("ScatterNdOptions")
DynamicUpdateSliceOptions = _no_fields("DynamicUpdateSliceOptions")


@dataclass
class OneHotOptions:
    axis: int = 0


@dataclass
class SparseToDenseOptions:
    validate_indices: bool = False


FillOptions = _no_fields("FillOptions")
ZerosLikeOptions = _no_fields("ZerosLikeOptions")
RangeOptions = _no_fields("RangeOptions")


# -------------------------------------------------------------------------- reduce, segment, search


@dataclass
class ReducerOptions:  # MEAN, SUM, REDUCE_MAX, REDUCE_MIN, REDUCE_PROD, REDUCE_ANY, ...
    keep_dims: bool = False


@dataclass
class ArgMaxOptions:
    output_type: int = TensorType.FLOAT32


@dataclass
class ArgMinOptions:
    output_type: int = TensorType.FLOAT32


TopKV2Options = _no_fields("TopKV2Options")


@dataclass
class CumsumOptions:
    exclusive: bool = False
    reverse: bool = False


SegmentSumOptions = _no_fields("SegmentSumOptions")
UnsortedSegmentProdOptions = _no_fields("UnsortedSegmentProdOptions")
UnsortedSegmentMaxOptions = _no_fields("UnsortedSegmentMaxOptions")
UnsortedSegmentMinOptions = _no_fields("UnsortedSegmentMinOptions")
UnsortedSegmentSumOptions = _no_fields("UnsortedSegmentSumOptions")


@dataclass
class UniqueOptions:
    idx_out_type: int = TensorType.INT32


@dataclass
class BucketizeOptions:
    boundaries: tuple | None = None  # [float]


NonMaxSuppressionV4Options = _no_fields("NonMaxSuppressionV4Options")
NonMaxSuppressionV5Options = _no_fields("NonMaxSuppressionV5Options")


# ----------------------------------------------------------------------------- types, quantization


@dataclass
class CastOptions:
    in_data_type: int = TensorType.FLOAT32
    out_data_type: int = TensorType.FLOAT32


QuantizeOptions = _no_fields("QuantizeOptions")
DequantizeOptions = _no_fields("DequantizeOptions")


@dataclass
class FakeQuantOptions:
    min: float = 0.0
    max: float = 0.0
    num_bits: int = 0
    narrow_range: bool = False


DensifyOptions = _no_fields("DensifyOptions")
BitcastOptions = _no_fields("BitcastOptions")


# ----------------------------------------------------------------------------- image resizing


@dataclass
class ResizeBilinearOptions:
    # slots 0 and 1, new_height and new_width, are deprecated (see the formats below)
    align_corners: bool = False
    half_pixel_centers: bool = False


@dataclass
class ResizeNearestNeighborOptions:
    align_corners: bool = False
    half_pixel_centers: bool = False


# ----------------------------------------------------------------------------- recurrent


@dataclass
class SVDFOptions:
    rank: int = 0
    fused_activation_function: int = ActivationFunctionType.NONE
    asymmetric_quantize_inputs: bool = False


@dataclass
class RNNOptions:
    fused_activation_function: int = ActivationFunctionType.NONE
    asymmetric_quantize_inputs: bool = False


@dataclass
class SequenceRNNOptions:  # UNIDIRECTIONAL_SEQUENCE_RNN
    time_major: bool = False
    fused_activation_function: int = ActivationFunctionType.NONE
    asymmetric_quantize_inputs: bool = False


@dataclass
class BidirectionalSequenceRNNOptions:
    time_major: bool = False
    fused_activation_function: int = ActivationFunctionType.NONE
    merge_outputs: bool = False
    asymmetric_quantize_inputs: bool = False


@dataclass
class LSTMOptions:
    fused_activation_function: int = ActivationFunctionType.NONE
    cell_clip: float = 0.0  # 0: no clipping
    proj_clip: float = 0.0  # 0: no clipping
    kernel_type: int = 0  # LSTMKernelType: FULL = 0, BASIC = 1
    asymmetric_quantize_inputs: bool = False


@dataclass
class UnidirectionalSequenceLSTMOptions:
    fused_activation_function: int = ActivationFunctionType.NONE
    cell_clip: float = 0.0
    proj_clip: float = 0.0
    time_major: bool = False
    asymmetric_quantize_inputs: bool = False
    diagonal_recurrent_tensors: bool = False


@dataclass
class BidirectionalSequenceLSTMOptions:
    fused_activation_function: int = ActivationFunctionType.NONE
    cell_clip: float = 0.0
    proj_clip: float = 0.0
    merge_outputs: bool = False
    time_major: bool = True  # version 1 kernels assumed time-major
    asymmetric_quantize_inputs: bool = False


# ----------------------------------------------------------------------------- embeddings, hashing


@dataclass
class ConcatEmbeddingsOptions:
    num_channels: int = 0
    num_columns_per_channel: tuple | None = None
    embedding_dim_per_channel: tuple | None = None


@dataclass
class LSHProjectionOptions:
    type: int = 0  # LSHProjectionType: UNKNOWN = 0, SPARSE = 1, DENSE = 2


@dataclass
class SkipGramOptions:
    ngram_size: int = 0
    max_skip_size: int = 0
    include_all_ngrams: bool = False


@dataclass
class EmbeddingLookupSparseOptions:
    combiner: int = 0  # CombinerType: SUM = 0, MEAN = 1, SQRTN = 2


@dataclass
class HashtableOptions:
    table_id: int = 0
    key_dtype: int = TensorType.FLOAT32
    value_dtype: int = TensorType.FLOAT32


HashtableFindOptions = _no_fields("HashtableFindOptions")
HashtableImportOptions = _no_fields("HashtableImportOptions")
HashtableSizeOptions = _no_fields("HashtableSizeOptions")


# -------------------------------------------------------------------------- control flow, variables


@dataclass
class CallOptions:
    subgraph: int = 0


@dataclass
class IfOptions:
    then_subgraph_index: int = 0
    else_subgraph_index: int = 0


@dataclass
class WhileOptions:
    cond_subgraph_index: int = 0
    body_subgraph_index: int = 0


@dataclass
class CallOnceOptions:
    init_subgraph_index: int = 0


@dataclass
class VarHandleOptions:
    container: str | None = None
    shared_name: str | None = None


ReadVariableOptions = _no_fields("ReadVariableOptions")
AssignVariableOptions = _no_fields("AssignVariableOptions")


# ----------------------------------------------------------------------------- random, signal


@dataclass
class RandomOptions:
    seed: int = 0
    seed2: int = 0


Rfft2dOptions = _no_fields("Rfft2dOptions")


# ----------------------------------------------------------------------------- the union


@dataclass
class OptionsSpec:
    union_type: int  # the BuiltinOptions union tag
    cls: type
    formats: tuple  # one storage format per vtable slot, in schema order

    def __post_init__(self):
        live = [fmt for fmt in self.formats if fmt != DEPRECATED]
        if len(live) != len(dataclasses.fields(self.cls)):
            raise TypeError(f"{self.cls.__name__}: {len(live)} formats for "
                            f"{len(dataclasses.fields(self.cls))} fields")

    @property
    def field_names(self):
        return [f.name for f in dataclasses.fields(self.cls)]

    @property
    def slots(self):
        """(slot, field name, format) of each field; deprecated slots are left out."""
        names = iter(self.field_names)
        return [(slot, next(names), fmt) for slot, fmt in enumerate(self.formats)
                if fmt != DEPRECATED]



_SPECS = [  # in union order
    OptionsSpec(1, Conv2DOptions, (BYTE, INT32, INT32, BYTE, INT32, INT32, BYTE)),
    OptionsSpec(2, DepthwiseConv2DOptions, (BYTE, INT32, INT32, INT32, BYTE, INT32, INT32)),
    OptionsSpec(3, ConcatEmbeddingsOptions, (INT32, INT_VECTOR, INT_VECTOR)),
    OptionsSpec(4, LSHProjectionOptions, (BYTE,)),
    OptionsSpec(5, Pool2DOptions, (BYTE, INT32, INT32, INT32, INT32, BYTE)),
    OptionsSpec(6, SVDFOptions, (INT32, BYTE, BOOL)),
    OptionsSpec(7, RNNOptions, (BYTE, BOOL)),
    OptionsSpec(8, FullyConnectedOptions, (BYTE, BYTE, BOOL, BOOL, BYTE, UBYTE_VECTOR)),
    OptionsSpec(9, SoftmaxOptions, (FLOAT32,)),
    OptionsSpec(10, ConcatenationOptions, (INT32, BYTE)),
    OptionsSpec(11, AddOptions, (BYTE, BOOL)),
    OptionsSpec(12, L2NormOptions, (BYTE,)),
    OptionsSpec(13, LocalResponseNormalizationOptions, (INT32, FLOAT32, FLOAT32, FLOAT32)),
    OptionsSpec(14, LSTMOptions, (BYTE, FLOAT32, FLOAT32, BYTE, BOOL)),
    OptionsSpec(15, ResizeBilinearOptions, (DEPRECATED, DEPRECATED, BOOL, BOOL)),
    OptionsSpec(16, CallOptions, (UINT32,)),
    OptionsSpec(17, ReshapeOptions, (INT_VECTOR,)),
    OptionsSpec(18, SkipGramOptions, (INT32, INT32, BOOL)),
    OptionsSpec(19, SpaceToDepthOptions, (INT32,)),
    OptionsSpec(20, EmbeddingLookupSparseOptions, (BYTE,)),
    OptionsSpec(21, MulOptions, (BYTE,)),
    OptionsSpec(22, PadOptions, ()),
    OptionsSpec(23, GatherOptions, (INT32, INT32)),
    OptionsSpec(24, BatchToSpaceNDOptions, ()),
    OptionsSpec(25, SpaceToBatchNDOptions, ()),
    OptionsSpec(26, TransposeOptions, ()),
    OptionsSpec(27, ReducerOptions, (BOOL,)),
    OptionsSpec(28, SubOptions, (BYTE, BOOL)),
    OptionsSpec(29, DivOptions, (BYTE,)),
    OptionsSpec(30, SqueezeOptions, (INT_VECTOR,)),
    OptionsSpec(31, SequenceRNNOptions, (BOOL, BYTE, BOOL)),
    OptionsSpec(32, StridedSliceOptions, (INT32, INT32, INT32, INT32, INT32, BOOL)),
    OptionsSpec(33, ExpOptions, ()),
    OptionsSpec(34, TopKV2Options, ()),
    OptionsSpec(35, SplitOptions, (INT32,)),
    OptionsSpec(36, LogSoftmaxOptions, ()),
    OptionsSpec(37, CastOptions, (BYTE, BYTE)),
    OptionsSpec(38, DequantizeOptions, ()),
    OptionsSpec(39, MaximumMinimumOptions, ()),
    OptionsSpec(40, ArgMaxOptions, (BYTE,)),
    OptionsSpec(41, LessOptions, ()),
    OptionsSpec(42, NegOptions, ()),
    OptionsSpec(43, PadV2Options, ()),
    OptionsSpec(44, GreaterOptions, ()),
    OptionsSpec(45, GreaterEqualOptions, ()),
    OptionsSpec(46, LessEqualOptions, ()),
    OptionsSpec(47, SelectOptions, ()),
    OptionsSpec(48, SliceOptions, ()),
    OptionsSpec(49, TransposeConvOptions, (BYTE, INT32, INT32, BYTE, BYTE)),
    OptionsSpec(50, SparseToDenseOptions, (BOOL,)),
    OptionsSpec(51, TileOptions, ()),
    OptionsSpec(52, ExpandDimsOptions, ()),
    OptionsSpec(53, EqualOptions, ()),
    OptionsSpec(54, NotEqualOptions, ()),
    OptionsSpec(55, ShapeOptions, (BYTE,)),
    OptionsSpec(56, PowOptions, ()),
    OptionsSpec(57, ArgMinOptions, (BYTE,)),
    OptionsSpec(58, FakeQuantOptions, (FLOAT32, FLOAT32, INT32, BOOL)),
    OptionsSpec(59, PackOptions, (INT32, INT32)),
    OptionsSpec(60, LogicalOrOptions, ()),
    OptionsSpec(61, OneHotOptions, (INT32,)),
    OptionsSpec(62, LogicalAndOptions, ()),
    OptionsSpec(63, LogicalNotOptions, ()),
    OptionsSpec(64, UnpackOptions, (INT32, INT32)),
    OptionsSpec(65, FloorDivOptions, ()),
    OptionsSpec(66, SquareOptions, ()),
    OptionsSpec(67, ZerosLikeOptions, ()),
    OptionsSpec(68, FillOptions, ()),
    OptionsSpec(69, BidirectionalSequenceLSTMOptions, (BYTE, FLOAT32, FLOAT32, BOOL, BOOL, BOOL)),
    OptionsSpec(70, BidirectionalSequenceRNNOptions, (BOOL, BYTE, BOOL, BOOL)),
    OptionsSpec(71, UnidirectionalSequenceLSTMOptions, (BYTE, FLOAT32, FLOAT32, BOOL, BOOL, BOOL)),
    OptionsSpec(72, FloorModOptions, ()),
    OptionsSpec(73, RangeOptions, ()),
    OptionsSpec(74, ResizeNearestNeighborOptions, (BOOL, BOOL)),
    OptionsSpec(75, LeakyReluOptions, (FLOAT32,)),
    OptionsSpec(76, SquaredDifferenceOptions, ()),
    OptionsSpec(77, MirrorPadOptions, (BYTE,)),
    OptionsSpec(78, AbsOptions, ()),
    OptionsSpec(79, SplitVOptions, (INT32,)),
    OptionsSpec(80, UniqueOptions, (BYTE,)),
    OptionsSpec(81, ReverseV2Options, ()),
    OptionsSpec(82, AddNOptions, ()),
    OptionsSpec(83, GatherNdOptions, ()),
    OptionsSpec(84, CosOptions, ()),
    OptionsSpec(85, WhereOptions, ()),
    OptionsSpec(86, RankOptions, ()),
    OptionsSpec(87, ReverseSequenceOptions, (INT32, INT32)),
    OptionsSpec(88, MatrixDiagOptions, ()),
    OptionsSpec(89, QuantizeOptions, ()),
    OptionsSpec(90, MatrixSetDiagOptions, ()),
    OptionsSpec(91, HardSwishOptions, ()),
    OptionsSpec(92, IfOptions, (INT32, INT32)),
    OptionsSpec(93, WhileOptions, (INT32, INT32)),
    OptionsSpec(94, DepthToSpaceOptions, (INT32,)),
    OptionsSpec(95, NonMaxSuppressionV4Options, ()),
    OptionsSpec(96, NonMaxSuppressionV5Options, ()),
    OptionsSpec(97, ScatterNdOptions, ()),
    OptionsSpec(98, SelectV2Options, ()),
    OptionsSpec(99, DensifyOptions, ()),
    OptionsSpec(100, SegmentSumOptions, ()),
    OptionsSpec(101, BatchMatMulOptions, (BOOL, BOOL, BOOL)),
    OptionsSpec(102, CumsumOptions, (BOOL, BOOL)),
    OptionsSpec(103, CallOnceOptions, (INT32,)),
    OptionsSpec(104, BroadcastToOptions, ()),
    OptionsSpec(105, Rfft2dOptions, ()),
    OptionsSpec(106, Conv3DOptions, (BYTE, INT32, INT32, INT32, BYTE, INT32, INT32, INT32)),
    OptionsSpec(107, HashtableOptions, (INT32, BYTE, BYTE)),
    OptionsSpec(108, HashtableFindOptions, ()),
    OptionsSpec(109, HashtableImportOptions, ()),
    OptionsSpec(110, HashtableSizeOptions, ()),
    OptionsSpec(111, VarHandleOptions, (STRING, STRING)),
    OptionsSpec(112, ReadVariableOptions, ()),
    OptionsSpec(113, AssignVariableOptions, ()),
    OptionsSpec(114, RandomOptions, (INT64, INT64)),
    OptionsSpec(115, BucketizeOptions, (FLOAT_VECTOR,)),
    OptionsSpec(116, GeluOptions, (BOOL,)),
    OptionsSpec(117, DynamicUpdateSliceOptions, ()),
    OptionsSpec(118, UnsortedSegmentProdOptions, ()),
    OptionsSpec(119, UnsortedSegmentMaxOptions, ()),
    OptionsSpec(120, UnsortedSegmentMinOptions, ()),
    OptionsSpec(121, UnsortedSegmentSumOptions, ()),
    OptionsSpec(122, ATan2Options, ()),
    OptionsSpec(123, SignOptions, ()),
    OptionsSpec(124, BitcastOptions, ()),
    OptionsSpec(125, BitwiseXorOptions, ()),
    OptionsSpec(126, RightShiftOptions, ()),
]

SPEC_BY_UNION_TYPE = {spec.union_type: spec for spec in _SPECS}
SPEC_BY_CLASS = {spec.cls: spec for spec in _SPECS}

# `from tflm_edu.schema.options import *` (and tflm_edu.schema) gives the table classes.
__all__ = [spec.cls.__name__ for spec in _SPECS]
