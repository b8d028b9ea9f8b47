"""TFLite_Detection_PostProcess: an SSD detector's boxes, decoded and thinned by non-max
suppression.

Mirrors tensorflow/lite/micro/kernels/detection_postprocess.cc (DetectionPostProcessInit,
DetectionPostProcessPrepare, DetectionPostProcessEval and its helpers). It is a custom op
("TFLite_Detection_PostProcess", AddDetectionPostprocess() in micro_mutable_op_resolver.h).

Inputs: 0 box encodings [1, num_boxes, >= 4] (y, x, h, w per box, relative to its
anchor), 1 class scores [1, num_boxes, num_classes (+ 1 for a background class first)],
2 anchors [num_boxes, 4] (y, x, h, w). Outputs: 0 boxes [.., 4] (ymin, xmin, ymax, xmax),
1 classes, 2 scores, 3 the number of detections - all float32.

Eval has two steps:
  1. decode  each box from centre-size form around its anchor into corners, in double:
             ycenter = y / y_scale * anchor.h + anchor.y,
             half_h = 0.5 * exp(h / h_scale) * anchor.h (x and w alike), each rounded to
             float, then ymin = ycenter - half_h, ... in float.
  2. NMS     greedy non-max suppression (NonMaxSuppressionSingleClassHelper): keep the
             scores >= nms_score_threshold, sort them (stable, highest first), and walk
             down the list taking each box that no taken box overlaps with an
             intersection-over-union above nms_iou_threshold, until max_detections.
     fast    (use_regular_nms false): one NMS over each box's best class score; a taken
             box reports its max_classes_per_detection best classes.
     regular (use_regular_nms true): one NMS per class (at most detections_per_class
             boxes each), merged into the max_detections best (a partial sort, ties by
             position).
Every float operation is done as the C++ does it, in the same order and precision; exp is
the C library's (glibc on the host). Sorting ties go to the lower index, as std::
partial_sort with TFLM's comparator and TFLM's stable merge sort give.

The options are a flexbuffer map read by key (flexbuffers::Map::operator[], a bsearch of
the sorted keys): max_detections, max_classes_per_detection, detections_per_class (100 when
absent), use_regular_nms (false when absent), nms_score_threshold, nms_iou_threshold,
num_classes, y_scale, x_scale, h_scale, w_scale; any other key absent reads 0. Values are
converted as flexbuffers' AsInt32 / AsFloat / AsBool convert them (an int read as float, a
float truncated to an int); tflm_edu refuses strings, vectors and maps there, which
flexbuffers would parse or measure.

What TFLM does that a reader may not expect (the package behaves the same):
  - only float32 is computed: int8 / uint8 inputs pass Prepare and fail at invoke;
  - most checks run at invoke, not Prepare (batch 1, the box and score shapes, the
    thresholds, and ValidateBoxes: a decoded box with ymin >= ymax or xmin >= xmax fails
    the invoke) - tflm_edu's eval raises a ModelError there too;
  - fast NMS with max_classes_per_detection > 1 writes detection k of taken box i at
    n * (i * n + k) + k (n classes per box): its output index counts every earlier
    write, so the outputs are spread out with gaps, and need n * n entries per box;
  - fast NMS leaves the output entries it does not write as they were (regular NMS
    zeroes them).

tflm_edu refuses, where TFLM reads or writes out of bounds: outputs smaller than what Eval
writes (or not float32), anchors not float32 or too few, max_detections below 1, fast NMS
with num_classes below 1, regular NMS settings whose merged list outgrows the
max_detections * num_boxes scratch buffers, and NaN class scores in fast NMS (TFLM's sort
is undefined on them).
"""
from __future__ import annotations

import ctypes
import ctypes.util
from dataclasses import dataclass, field

import numpy as np
from flatbuffers import flexbuffers

from tflm_edu.errors import ModelError
from tflm_edu.frontend.bits import as_int32
from tflm_edu.kernels.kernel_api import Registration, ensure, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec
from tflm_edu.memory.layout import KERNELS, c_struct, m
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType, type_name

BOX_ENCODINGS, CLASS_PREDICTIONS, ANCHORS = 0, 1, 2
DETECTION_BOXES, DETECTION_CLASSES, DETECTION_SCORES, NUM_DETECTIONS = 0, 1, 2, 3
NUM_COORD_BOX = 4
BATCH_SIZE = 1
NUM_DETECTIONS_PER_CLASS = 100   # detections_per_class when the options have none
INT_MAX = (1 << 31) - 1
FLOAT32_BYTES = INT_BYTES = 4


@dataclass
class CenterSizeEncoding:
    y: float = 0.0
    x: float = 0.0
    h: float = 0.0
    w: float = 0.0


@dataclass
class OpData:
    max_detections: int = 0
    max_classes_per_detection: int = 0   # fast NMS
    detections_per_class: int = 0        # regular NMS
    non_max_suppression_score_threshold: float = 0.0   # float32 values
    intersection_over_union_threshold: float = 0.0
    num_classes: int = 0
    use_regular_non_max_suppression: bool = False
    scale_values: CenterSizeEncoding = field(default_factory=CenterSizeEncoding)
    # scratch buffer indices, requested at Prepare in this order
    active_candidate_idx: int = -1
    decoded_boxes_idx: int = -1
    scores_idx: int = -1
    score_buffer_idx: int = -1
    keep_scores_idx: int = -1
    scores_after_regular_non_max_suppression_idx: int = -1
    sorted_values_idx: int = -1
    keep_indices_idx: int = -1
    sorted_indices_idx: int = -1
    buffer_idx: int = -1
    selected_idx: int = -1
    # the inputs' (scale, zero_point), cached by Prepare (unused: only float32 runs)
    input_box_encodings: tuple = (0.0, 0)
    input_class_predictions: tuple = (0.0, 0)
    input_anchors: tuple = (0.0, 0)
    # What the last Eval did, in the C++ loops' counts (tflm_edu.profile's cost model reads
    # them): boxes decoded, class scores scanned, candidates kept and sorted per NMS, IoUs
    # computed, boxes selected, candidates merged (regular NMS).
    work: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------- the options


class FlexbufferMap:
    """flexbuffers::GetRoot(buffer).AsMap(), read by key: m["key"].AsInt32() ..."""

    def __init__(self, data: bytes | None, op_name: str):
        self.op_name = op_name
        if not data:   # GetRoot reads the buffer's last byte: there is none
            raise ModelError(f"{op_name} has no custom options: its Init reads its "
                             f"parameters from a flexbuffer map there")
        try:
            root = flexbuffers.GetRoot(bytes(data))
            if root.IsMap:
                as_map = root.AsMap
                self.keys = [k.AsKey.encode() for k in as_map.Keys]
                self.values = list(as_map.Values)
            else:   # AsMap() of anything else is the empty map
                self.keys, self.values = [], []
        except Exception as e:  # the Python flexbuffers reader checks no bounds
            raise ModelError(f"{op_name}'s custom options are not a flexbuffer ({e})") from e

    def _find(self, key: str):
        """std::bsearch over the keys as glibc runs it (the keys are sorted in a valid
        map; the same probes are made in one that is not). None when absent."""
        wanted, low, high = key.encode(), 0, len(self.keys)
        while low < high:
            middle = (low + high) // 2
            if wanted < self.keys[middle]:
                high = middle
            elif wanted > self.keys[middle]:
                low = middle + 1
            else:
                return self.values[middle]
        return None

    def _number(self, key: str):
        """The value under `key` as a Python int or float (0 when absent or null)."""
        value = self._find(key)
        if value is None or value.IsNull:
            return 0
        if value.IsBool:
            return int(value.AsBool)
        if value.IsInt:
            return int(value.AsInt)
        if value.IsFloat:
            return float(value.AsFloat)
        raise ModelError(f"{self.op_name}'s custom option '{key}' is not a number or a "
                         f"boolean; tflm_edu does not read it as flexbuffers would")

    def is_null(self, key: str) -> bool:
        value = self._find(key)
        return value is None or value.IsNull

    def as_int32(self, key: str) -> int:
        """AsInt32(): static_cast<int32_t>(AsInt64()); a float is truncated first."""
        value = self._number(key)
        if isinstance(value, float):
            ensure(np.isfinite(value) and abs(value) < 2.0 ** 63,
                   f"{self.op_name}'s custom option '{key}' is {value}: converting it to "
                   f"an integer is undefined in C++")
            value = int(value)
        return int(as_int32(value & ((1 << 64) - 1)))

    def as_float(self, key: str) -> float:
        """AsFloat(): the value as double, rounded to float."""
        with np.errstate(over="ignore"):
            return float(np.float32(float(self._number(key))))

    def as_bool(self, key: str) -> bool:
        """AsBool(): a bool as stored, any other value through AsUInt64() != 0."""
        value = self._number(key)
        if isinstance(value, float):
            ensure(np.isfinite(value) and -1.0 < value < 2.0 ** 64,
                   f"{self.op_name}'s custom option '{key}' is {value}: converting it to "
                   f"an unsigned integer is undefined in C++")
        return int(value) != 0


def init(context, node):
    """DetectionPostProcessInit."""
    options = FlexbufferMap(node.custom_initial_data, node.op_name)
    data = OpData()
    data.max_detections = options.as_int32("max_detections")
    data.max_classes_per_detection = options.as_int32("max_classes_per_detection")
    data.detections_per_class = NUM_DETECTIONS_PER_CLASS \
        if options.is_null("detections_per_class") else options.as_int32("detections_per_class")
    data.use_regular_non_max_suppression = False \
        if options.is_null("use_regular_nms") else options.as_bool("use_regular_nms")
    data.non_max_suppression_score_threshold = options.as_float("nms_score_threshold")
    data.intersection_over_union_threshold = options.as_float("nms_iou_threshold")
    data.num_classes = options.as_int32("num_classes")
    data.scale_values = CenterSizeEncoding(
        options.as_float("y_scale"), options.as_float("x_scale"),
        options.as_float("h_scale"), options.as_float("w_scale"))
    return data


# ----------------------------------------------------------------------------- prepare


def prepare(context, node):
    """DetectionPostProcessPrepare, then the bounds TFLM's Eval assumes."""
    data: OpData = node.user_data
    ensure(len(node.inputs) == 3, f"{node.op_name} takes 3 inputs, got {len(node.inputs)}")
    boxes, scores, anchors = (context.get_input(node, i) for i in range(3))
    for i, t in enumerate((boxes, scores, anchors)):
        ensure(t is not None, f"{node.op_name} needs its input {i}")
    for t, rank, what in ((boxes, 3, "box encodings"), (scores, 3, "class predictions"),
                          (anchors, 2, "anchors")):
        ensure(len(t.shape) == rank, f"the {what} (tensor {t.index}) must have {rank} "
                                     f"dimensions, got shape {list(t.shape)}")
    ensure(len(node.outputs) == 4, f"{node.op_name} has 4 outputs, got {len(node.outputs)}")
    num_boxes, num_classes, max_detections = boxes.shape[1], data.num_classes, \
        data.max_detections
    data.input_box_encodings = (boxes.scale, boxes.zero_point)
    data.input_class_predictions = (scores.scale, scores.zero_point)
    data.input_anchors = (anchors.scale, anchors.zero_point)

    ensure(max_detections >= 1, f"max_detections is {max_detections}: TFLM sizes its "
                                f"scratch buffers by it and writes past them below 1")
    for count in (max_detections, num_classes, NUM_COORD_BOX, scores.shape[2]):
        ensure(count * max(num_boxes, scores.shape[1]) <= INT_MAX // FLOAT32_BYTES,
               f"{node.op_name}'s scratch buffer sizes overflow a C int")
    request = context.request_scratch_buffer_in_arena
    data.active_candidate_idx = request(num_boxes)
    data.decoded_boxes_idx = request(num_boxes * NUM_COORD_BOX * FLOAT32_BYTES)
    data.scores_idx = request(scores.shape[1] * scores.shape[2] * FLOAT32_BYTES)
    data.score_buffer_idx = request(num_boxes * FLOAT32_BYTES)
    data.keep_scores_idx = request(num_boxes * FLOAT32_BYTES)
    data.scores_after_regular_non_max_suppression_idx = request(
        max_detections * num_boxes * FLOAT32_BYTES)
    data.sorted_values_idx = request(max_detections * num_boxes * FLOAT32_BYTES)
    data.keep_indices_idx = request(num_boxes * INT_BYTES)
    data.sorted_indices_idx = request(max_detections * num_boxes * INT_BYTES)
    data.buffer_idx = request(max(num_classes, max_detections) * num_boxes * INT_BYTES)
    data.selected_idx = request(min(num_boxes, max_detections) * num_boxes * INT_BYTES)
    _ensure_within_bounds(context, node, data, boxes, anchors)


def _ensure_within_bounds(context, node, data: OpData, boxes, anchors) -> None:
    """What TFLM never checks but its Eval relies on."""
    ensure(anchors.type == TensorType.FLOAT32,
           f"the anchors are {type_name(anchors.type)}: TFLM reads them as float32 whatever "
           f"their type")
    num_boxes = boxes.shape[1]
    ensure(_size(anchors) >= NUM_COORD_BOX * num_boxes,
           f"{_size(anchors) // NUM_COORD_BOX} anchors for {num_boxes} boxes: TFLM reads "
           f"past the anchors' end")
    written = _entries_written(data, num_boxes)
    for i, per_entry in ((DETECTION_BOXES, NUM_COORD_BOX), (DETECTION_CLASSES, 1),
                         (DETECTION_SCORES, 1), (NUM_DETECTIONS, 0)):
        output = context.get_output(node, i)
        ensure(output.type == TensorType.FLOAT32,
               f"output {i} is {type_name(output.type)}: TFLM writes float32 values into it")
        needed = max(per_entry * written, 1 if i == NUM_DETECTIONS else 0)
        ensure(_size(output) >= needed,
               f"output {i} holds {_size(output)} values; TFLM's Eval writes up to "
               f"{needed} there")
    if data.use_regular_non_max_suppression:
        per_class = min(num_boxes, data.detections_per_class)
        merged = min(data.max_detections, (data.num_classes - 1) * per_class) + per_class
        ensure(data.num_classes <= 1 or per_class <= 0
               or merged <= data.max_detections * num_boxes,
               f"regular NMS merges up to {merged} detections into scratch buffers of "
               f"max_detections * num_boxes = {data.max_detections * num_boxes}: TFLM writes "
               f"past them")
    else:
        ensure(data.num_classes >= 1 or data.max_classes_per_detection <= 0,
               f"num_classes is {data.num_classes}: fast NMS reads an unwritten class index")


def _size(tensor) -> int:
    return int(np.prod(tensor.shape, dtype=np.int64))


def _entries_written(data: OpData, num_boxes: int) -> int:
    """The highest output entry Eval can write, plus one."""
    if data.use_regular_non_max_suppression:
        return data.max_detections
    per_box = min(data.max_classes_per_detection, data.num_classes)
    if per_box <= 0:
        return 0
    return per_box * per_box * min(num_boxes, data.max_detections)


# ----------------------------------------------------------------------------- eval


def eval(context, node):
    """DetectionPostProcessEval: decode the boxes, then non-max suppression."""
    data: OpData = node.user_data
    data.work = {"boxes": 0, "class_scores": 0, "kept": 0, "sorted": 0.0, "iou": 0,
                 "selected": 0, "nms_calls": 0, "merged": 0}
    decoded = decode_center_size_boxes(context, node, data)
    data.work["boxes"] = len(decoded)
    context.get_scratch_buffer(data.decoded_boxes_idx)[:decoded.nbytes] = \
        decoded.reshape(-1).view(np.uint8)
    non_max_suppression_multi_class(context, node, data, decoded)


def decode_center_size_boxes(context, node, data: OpData) -> np.ndarray:
    """DecodeCenterSizeBoxes: [num_boxes, 4] corners (ymin, xmin, ymax, xmax), float32."""
    boxes = context.get_input(node, BOX_ENCODINGS)
    if boxes.shape[0] != BATCH_SIZE:
        raise ModelError(f"the box encodings' batch is {boxes.shape[0]}; TFLM takes 1")
    num_boxes = boxes.shape[1]
    if boxes.shape[2] < NUM_COORD_BOX:
        raise ModelError(f"each box encoding has {boxes.shape[2]} values; TFLM needs 4")
    if num_boxes == 0:
        return np.zeros((0, NUM_COORD_BOX), np.float32)
    if boxes.type != TensorType.FLOAT32:
        raise unsupported_type(node, boxes)
    encoding = boxes.data.reshape(num_boxes, -1)[:, :NUM_COORD_BOX].astype(np.float64)
    anchor = context.get_input(node, ANCHORS).data.reshape(-1)[:NUM_COORD_BOX * num_boxes]
    anchor = anchor.reshape(num_boxes, NUM_COORD_BOX).astype(np.float64)
    s = data.scale_values
    y, x, h, w = encoding.T
    anchor_y, anchor_x, anchor_h, anchor_w = anchor.T
    with np.errstate(all="ignore"):
        ycenter = (y / np.float64(s.y) * anchor_h + anchor_y).astype(np.float32)
        xcenter = (x / np.float64(s.x) * anchor_w + anchor_x).astype(np.float32)
        half_h = (0.5 * exp_double(h / np.float64(s.h)) * anchor_h).astype(np.float32)
        half_w = (0.5 * exp_double(w / np.float64(s.w)) * anchor_w).astype(np.float32)
        return np.stack([ycenter - half_h, xcenter - half_w,
                         ycenter + half_h, xcenter + half_w], axis=1)


def non_max_suppression_multi_class(context, node, data: OpData, decoded) -> None:
    """NonMaxSuppressionMultiClass: check the scores, then the fast or regular NMS."""
    scores = context.get_input(node, CLASS_PREDICTIONS)
    num_boxes = context.get_input(node, BOX_ENCODINGS).shape[1]
    if scores.shape[0] != BATCH_SIZE:
        raise ModelError(f"the class predictions' batch is {scores.shape[0]}; TFLM takes 1")
    if scores.shape[1] != num_boxes:
        raise ModelError(f"the class predictions are for {scores.shape[1]} boxes, the box "
                         f"encodings for {num_boxes}")
    with_background = scores.shape[2]
    if not (with_background - data.num_classes <= 1 and with_background >= data.num_classes):
        raise ModelError(f"the class predictions have {with_background} classes per box; "
                         f"num_classes is {data.num_classes} (one more is a background)")
    if scores.type != TensorType.FLOAT32:
        raise unsupported_type(node, scores)
    all_scores = scores.data.reshape(num_boxes, with_background)
    outputs = [context.get_output(node, i).data.reshape(-1) for i in range(4)]
    if data.use_regular_non_max_suppression:
        regular_helper(data, all_scores, decoded, outputs)
    else:
        fast_helper(data, all_scores, decoded, outputs)


def fast_helper(data: OpData, scores, decoded, outputs) -> None:
    """NonMaxSuppressionMultiClassFastHelper: one NMS over each box's best class."""
    label_offset = scores.shape[1] - data.num_classes
    if data.max_classes_per_detection <= 0:
        raise ModelError(f"max_classes_per_detection is {data.max_classes_per_detection}; "
                         f"fast NMS needs at least 1")
    per_box = min(data.max_classes_per_detection, data.num_classes)
    class_scores = scores[:, label_offset:label_offset + data.num_classes]
    if np.isnan(class_scores).any():
        raise ModelError("a class score is NaN: TFLM's partial sort is undefined on NaN")
    best_classes = decreasing_arg_sort(class_scores, per_box)       # [num_boxes, per_box]
    data.work["class_scores"] += class_scores.size
    max_scores = np.take_along_axis(class_scores, best_classes[:, :1], axis=1)[:, 0]
    selected = single_class_nms(data, max_scores, decoded, data.max_detections)
    boxes, classes, out_scores, num_detections = outputs
    boxes = boxes.reshape(-1, NUM_COORD_BOX)
    written = np.arange(len(selected) * per_box)      # output_box_index, one per write
    offsets = per_box * written + written % per_box   # ... and where it lands (see above)
    anchors = np.repeat(selected, per_box)
    chosen = best_classes[selected].reshape(-1)
    boxes[offsets] = decoded[anchors]
    classes[offsets] = chosen.astype(np.float32)
    out_scores[offsets] = class_scores[anchors, chosen]
    num_detections[0] = np.float32(len(written))


def regular_helper(data: OpData, scores, decoded, outputs) -> None:
    """NonMaxSuppressionMultiClassRegularHelper: one NMS per class, merged."""
    with_background = scores.shape[1]
    label_offset = with_background - data.num_classes
    if data.detections_per_class <= 0:
        raise ModelError(f"detections_per_class is {data.detections_per_class}; regular "
                         f"NMS needs at least 1")
    kept_indices = np.zeros(0, np.int64)      # box * with_background + class + offset
    kept_scores = np.zeros(0, np.float32)
    for col in range(data.num_classes):
        class_scores = scores[:, col + label_offset]
        selected = single_class_nms(data, class_scores, decoded, data.detections_per_class)
        candidates = np.concatenate([kept_indices,
                                     selected * with_background + col + label_offset])
        data.work["class_scores"] += len(class_scores)
        data.work["merged"] += len(candidates)
        candidate_scores = np.concatenate([kept_scores, class_scores[selected]])
        order = decreasing_arg_sort(candidate_scores, min(len(candidates),
                                                          data.max_detections))
        kept_indices, kept_scores = candidates[order], candidate_scores[order]
    boxes, classes, out_scores, num_detections = outputs
    boxes = boxes.reshape(-1, NUM_COORD_BOX)
    count, end = len(kept_indices), data.max_detections
    anchors = kept_indices // with_background
    boxes[:count] = decoded[anchors]
    classes[:count] = (kept_indices - anchors * with_background - label_offset).astype(np.float32)
    out_scores[:count] = kept_scores
    boxes[count:end], classes[count:end], out_scores[count:end] = 0.0, 0.0, 0.0
    num_detections[0] = np.float32(count)


def decreasing_arg_sort(values, count: int):
    """DecreasingPartialArgSort: the indices of the `count` largest values along the last
    axis, largest first, ties to the lower index (TFLM's comparator makes that a total
    order, so std::partial_sort's first `count` entries are these)."""
    order = np.argsort(-values, axis=-1, kind="stable")
    return order[..., :count]


def single_class_nms(data: OpData, scores, decoded, max_detections: int) -> np.ndarray:
    """NonMaxSuppressionSingleClassHelper: the box indices taken, in order."""
    iou_threshold = np.float32(data.intersection_over_union_threshold)
    if max_detections < 0:
        raise ModelError(f"max detections {max_detections} is negative")
    if not (iou_threshold > 0 and iou_threshold <= 1):
        raise ModelError(f"nms_iou_threshold is {iou_threshold}; TFLM needs it in (0, 1]")
    ymin, xmin, ymax, xmax = decoded.T
    invalid = (ymin >= ymax) | (xmin >= xmax)
    if invalid.any():
        box = int(np.flatnonzero(invalid)[0])
        raise ModelError(f"decoded box {box} is {decoded[box].tolist()} (ymin, xmin, ymax, "
                         f"xmax): TFLM's ValidateBoxes fails the invoke")
    keep = np.flatnonzero(scores >= np.float32(data.non_max_suppression_score_threshold))
    # DecreasingArgSort: TFLM's merge sort is stable
    candidates = keep[np.argsort(-scores[keep], kind="stable")]
    output_size = min(len(candidates), max_detections)
    work = data.work
    if work:       # the merge sort's work grows as k log k
        work["nms_calls"] += 1
        work["kept"] += len(candidates)
        work["sorted"] += len(candidates) * float(np.log2(max(len(candidates), 1)))
    active = np.ones(len(candidates), bool)
    selected = []
    i = 0
    while len(selected) < output_size:
        remaining = np.flatnonzero(active[i:])
        if remaining.size == 0:
            break
        i += int(remaining[0])
        selected.append(candidates[i])
        active[i] = False
        later = i + 1 + np.flatnonzero(active[i + 1:])
        if work:
            work["iou"] += len(later)
        overlap = intersection_over_union(decoded, candidates[i], candidates[later])
        active[later[overlap > iou_threshold]] = False
        i += 1
    if work:
        work["selected"] += len(selected)
    return np.asarray(selected, np.int64)


def intersection_over_union(decoded, i: int, others) -> np.ndarray:
    """ComputeIntersectionOverUnion of box i with each of `others`, in float32, with
    std::max / std::min as they treat NaN ((a < b) ? b : a)."""
    box_i, box_j = decoded[i], decoded[others]
    with np.errstate(all="ignore"):
        area_i = (box_i[2] - box_i[0]) * (box_i[3] - box_i[1])
        area_j = (box_j[:, 2] - box_j[:, 0]) * (box_j[:, 3] - box_j[:, 1])
        low = np.where(box_i[:2] < box_j[:, :2], box_j[:, :2], box_i[:2])     # std::max
        high = np.where(box_j[:, 2:] < box_i[2:], box_j[:, 2:], box_i[2:])    # std::min
        extent = high - low
        extent = np.where(extent < 0, np.float32(0), extent)                  # std::max
        intersection = extent[:, 0] * extent[:, 1]
        iou = intersection / (area_i + area_j - intersection)
    no_area = (area_i <= 0) | (area_j <= 0)
    return np.where(no_area, np.float32(0), iou).astype(np.float32)


# ----------------------------------------------------------------------------- libm exp


_EXP = []


def exp_double(x) -> np.ndarray:
    """std::exp on double, as the host's C library computes it (glibc's exp is not
    guaranteed to round as numpy's does); numpy's where no C library loads."""
    if not _EXP:
        try:
            library = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
            library.exp.restype, library.exp.argtypes = ctypes.c_double, [ctypes.c_double]
            _EXP.append(library.exp)
        except (OSError, AttributeError):
            _EXP.append(None)
    x = np.asarray(x, np.float64)
    if _EXP[0] is None:
        return np.exp(x)
    return np.fromiter(map(_EXP[0], x.reshape(-1).tolist()), np.float64, x.size).reshape(x.shape)


# ----------------------------------------------------------------------------- registration


def register_detection_postprocess():
    return Registration("TFLite_Detection_PostProcess", prepare=prepare, eval=eval, init=init)


def arena_prepare(k):
    """DetectionPostProcessPrepare: temporaries for the three inputs (the scratch buffers
    are requested by the kernel's prepare itself)."""
    for i in (BOX_ENCODINGS, CLASS_PREDICTIONS, ANCHORS):
        k.temp_input(i)


DETECTION_POSTPROCESS = KERNELS + "detection_postprocess.cc"
c_struct("CenterSizeEncoding", DETECTION_POSTPROCESS,
         m("y", "float"), m("x", "float"), m("h", "float"), m("w", "float"))
c_struct("OpDataDetectionPostProcess", DETECTION_POSTPROCESS + " (OpData)",
         m("max_detections", "int"), m("max_classes_per_detection", "int"),
         m("detections_per_class", "int"), m("non_max_suppression_score_threshold", "float"),
         m("intersection_over_union_threshold", "float"), m("num_classes", "int"),
         m("use_regular_non_max_suppression", "bool"),
         m("scale_values", "CenterSizeEncoding"),
         *(m(name, "int") for name in (
             "active_candidate_idx", "decoded_boxes_idx", "scores_idx", "score_buffer_idx",
             "keep_scores_idx", "scores_after_regular_non_max_suppression_idx",
             "sorted_values_idx", "keep_indices_idx", "sorted_indices_idx", "buffer_idx",
             "selected_idx")),
         m("input_box_encodings", "TfLiteQuantizationParams"),
         m("input_class_predictions", "TfLiteQuantizationParams"),
         m("input_anchors", "TfLiteQuantizationParams"))

SPEC = OpSpec(Op.CUSTOM, register_detection_postprocess, None, (TensorType.FLOAT32,), None,
              ArenaRecipe(None, "OpDataDetectionPostProcess", arena_prepare),
              custom_name="TFLite_Detection_PostProcess")
