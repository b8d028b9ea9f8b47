"""TFLM's custom ops beyond the Signal library, against the real TFLM: CIRCULAR_BUFFER and
TFLite_Detection_PostProcess.

CIRCULAR_BUFFER keeps state, so its models run invoke after invoke through tflm_edu and
the tflite-micro package side by side (with reset() in between), and the frames and the
status of every invoke must agree: TFLM's invoke() returns kTfLiteAbort (15) until enough
frames arrived and does not run the ops after the buffer then; so does tflm_edu's.
Their smallest TFLM arena is bisected here in process.
"""
import numpy as np
import pytest
from flatbuffers import flexbuffers

from op_harness import oracle_runtime
from tflm_edu.arena_size import estimate_arena_size
from tflm_edu.arena_size.oracle import quiet_c_output, smallest_arena_tflm
from tflm_edu.errors import ModelError
from tflm_edu.interpreter import MicroInterpreter
from tflm_edu.kernels import circular_buffer
from tflm_edu.memory.allocator import smallest_passing
from tflm_edu.memory.layout import get_target
from tflm_edu.op_resolver import (CUSTOM_SPECS, AllOpsResolver, MicroMutableOpResolver,
                                  cpp_custom_add_method_name)
from tflm_edu.schema import write_model
from tflm_edu.schema.builder import ModelBuilder, quantization
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType
from tflm_edu.schema.options import ReshapeOptions

ABORT = 15   # kTfLiteAbort


# ----------------------------------------------------------------------------- helpers


def invoke_like_tflm(interpreter) -> int:
    """MicroInterpreter.invoke(): its status (kTfLiteAbort stops the graph), as TFLM's."""
    return interpreter.invoke()


def run_side_by_side(model, feeds, reset_at=(), view=None):
    """Invoke tflm_edu and the real TFLM once per entry of `feeds` (one input array each),
    resetting both before the invokes in `reset_at`; assert equal statuses and byte-equal
    outputs after each - view(k, output_index, array), if given, picks the part that
    invoke k has written (TFLM's arena starts with whatever the heap held). Returns the
    statuses."""
    ours = MicroInterpreter(model, AllOpsResolver(), None)
    ours.allocate_tensors()
    theirs = oracle_runtime().Interpreter.from_bytes(write_model(model), arena_size=200_000)
    statuses = []
    for k, x in enumerate(feeds):
        if k in reset_at:
            ours.reset()
            theirs.reset()
        ours.input(0).data[...] = x
        theirs.set_input(x, 0)
        status, expected = invoke_like_tflm(ours), theirs.invoke()
        assert status == expected, f"invoke {k}: status {status}, TFLM {expected}"
        for o in range(ours.outputs_size):
            a = ours.output(o).data
            b = np.asarray(theirs.get_output(o)).reshape(a.shape).astype(a.dtype)
            if view is not None:
                a, b = view(k, o, a), view(k, o, b)
            assert a.tobytes() == b.tobytes(), (
                f"invoke {k}, output {o}: tflm_edu {a.reshape(-1)[:8]} vs TFLM "
                f"{b.reshape(-1)[:8]}")
        statuses.append(status)
    return statuses


def refuses(model, match):
    with pytest.raises(ModelError, match=match):
        MicroInterpreter(model, AllOpsResolver(), None).allocate_tensors()


def tflm_refuses(model):
    with quiet_c_output(), pytest.raises((RuntimeError, ValueError)):
        oracle_runtime().Interpreter.from_bytes(write_model(model), arena_size=200_000)


def smallest_tflm_arena_in_process(model) -> int:
    """The oracle's smallest arena, bisected in this process (arena_size.oracle reads the
    model back through tflm_edu's validator, which refuses a written variable)."""
    data, runtime = write_model(model), oracle_runtime()

    def fits(size):
        with quiet_c_output():
            try:
                runtime.Interpreter.from_bytes(data, arena_size=size).invoke()
            except (RuntimeError, ValueError):
                return False
        return True
    return smallest_passing(fits, 1 << 12)


# ----------------------------------------------------------------------------- CIRCULAR_BUFFER

INT8_QUANT = quantization(0.25, -7)


def cb_model(in_shape, out_shape, opts=None, dtype=np.int8, variable=True, reshape=False):
    """One CIRCULAR_BUFFER (input frame -> variable output), then, with `reshape`, a
    RESHAPE of the buffer to a graph output (which does not run when the buffer aborts).
    `opts`: a dict (flexbuffer map), raw bytes, or None for no custom options."""
    b = ModelBuilder()
    quant = INT8_QUANT if dtype == np.int8 else None
    i = b.add_input(in_shape, dtype, quant=quant)
    o = b.add_tensor(out_shape, dtype, quant=quant, is_variable=variable)
    custom = flexbuffers.Dumps(opts) if isinstance(opts, dict) else opts
    b.add_operator(Op.CUSTOM, [i], [o], custom_options=custom, custom_code="CIRCULAR_BUFFER")
    if reshape:
        flat = (1, int(np.prod(out_shape)))
        r = b.add_tensor(flat, dtype, quant=quant)
        b.add_operator(Op.RESHAPE, [o], [r], ReshapeOptions(list(flat)))
        b.mark_output(r)
    else:
        b.mark_output(o)
    return b.build()


def frames(rng, shape, count):
    return [rng.integers(-128, 127, shape, endpoint=True).astype(np.int8) for _ in range(count)]


@pytest.mark.parametrize("slots,height,depth,cycles", [
    (3, 1, 4, 2), (4, 1, 8, 1), (2, 2, 3, 3), (6, 3, 5, 2), (1, 1, 16, 4), (7, 1, 1, 1)])
def test_circular_buffer_matches_tflm_over_invokes(slots, height, depth, cycles):
    rng = np.random.default_rng(slots * 100 + depth)
    model = cb_model((1, 1, height, depth), (1, slots, height, depth), {"cycles_max": cycles})
    statuses = run_side_by_side(model, frames(rng, (1, 1, height, depth), 12), reset_at=(7,))
    # kTfLiteOk once every `cycles` invokes, counting again from the reset
    expected = [0 if (k + 1) % cycles == 0 else ABORT for k in range(7)] + \
               [0 if (k + 1) % cycles == 0 else ABORT for k in range(5)]
    assert statuses == expected


def test_circular_buffer_abort_stops_the_ops_after_it():
    """The RESHAPE after the buffer runs only when the buffer lets it: its output keeps the
    last run's bytes meanwhile, in TFLM as here (before its first run, invoke 2, it holds
    what TFLM's arena held)."""
    rng = np.random.default_rng(1)
    model = cb_model((1, 1, 1, 6), (1, 4, 1, 6), {"cycles_max": 3}, reshape=True)
    statuses = run_side_by_side(model, frames(rng, (1, 1, 1, 6), 9), reset_at=(4,),
                                view=lambda k, o, a: a if k >= 2 else a[:0])
    assert statuses == [ABORT, ABORT, 0, ABORT, ABORT, ABORT, 0, ABORT, ABORT]


def test_circular_buffer_batches_move_only_the_first_frame():
    """Eval ignores the batch: it shifts num_slots frames of the flat output and copies
    the first `depth` input values (the other batches' bytes stay as they are)."""
    rng = np.random.default_rng(2)
    model = cb_model((2, 1, 1, 3), (2, 3, 1, 3), {"cycles_max": 1})
    run_side_by_side(model, frames(rng, (2, 1, 1, 3), 5))


@pytest.mark.parametrize("slots,opts,period", [
    (5, None, 1), (13, None, 1), (25, b"", 1), (3, None, 2), (4, {"cycles_max": 0}, 2),
    (5, {"cycles_max": -3}, 1), (3, {"cycles_max": 1 << 32 | 2}, 2),
    (4, {"a_period": 3}, 3)])   # read by position: the first key, whatever its name
def test_circular_buffer_period_from_the_options_or_the_shape(slots, opts, period):
    rng = np.random.default_rng(slots)
    model = cb_model((1, 1, 1, 2), (1, slots, 1, 2), opts)
    statuses = run_side_by_side(model, frames(rng, (1, 1, 1, 2), 6))
    assert statuses == [0 if (k + 1) % period == 0 else ABORT for k in range(6)]


def test_circular_buffer_without_a_variable_output():
    """A plain output is planned in the head; with only this op nothing else uses it, so
    it keeps its frames between invokes in both runtimes (the slots not yet filled hold
    what the arena held)."""
    rng = np.random.default_rng(3)
    model = cb_model((1, 1, 1, 4), (1, 3, 1, 4), {"cycles_max": 2}, variable=False)
    run_side_by_side(model, frames(rng, (1, 1, 1, 4), 5),
                     view=lambda k, o, a: a.reshape(3, 4)[3 - min(k + 1, 3):])


def test_the_fifth_guessed_prepare_picks_period_one_for_a_2x96_frame():
    """CircularBufferPrepare's process-wide counter: the 5th Prepare that has to guess,
    on a [., ., 2, 96] output, picks 1 and starts the count again."""
    saved = circular_buffer._PrepareCount.value
    try:
        circular_buffer._PrepareCount.value = 0
        picks = [circular_buffer.guess_cycles_max(3, 2, 96) for _ in range(6)]
        assert picks == [2, 2, 2, 2, 1, 2]
        circular_buffer._PrepareCount.value = 0
        assert [circular_buffer.guess_cycles_max(3, 2, 95) for _ in range(6)] == [2] * 6
    finally:
        circular_buffer._PrepareCount.value = saved


@pytest.mark.parametrize("in_shape,out_shape,kwargs,match", [
    ((1, 1, 4), (1, 3, 4), {}, "4 dimensions"),
    ((1, 2, 1, 4), (1, 3, 1, 4), {}, "one frame"),
    ((1, 1, 1, 4), (2, 3, 1, 4), {}, "batch"),
    ((1, 1, 1, 4), (1, 3, 1, 5), {}, "frame of the input"),
    ((1, 1, 1, 4), (1, 3, 1, 4), {"dtype": np.int16}, "INT16"),
    ((1, 1, 1, 4), (1, 3, 1, 4), {"dtype": np.float32}, "FLOAT32"),
])
def test_circular_buffer_refuses_what_tflm_refuses(in_shape, out_shape, kwargs, match):
    model = cb_model(in_shape, out_shape, {"cycles_max": 2}, **kwargs)
    refuses(model, match)
    if len(in_shape) == 4:
        tflm_refuses(model)


@pytest.mark.parametrize("in_shape,out_shape,opts,match", [
    ((1, 1, 1, 4), (1, 0, 1, 4), {"cycles_max": 2}, "no slot"),
    ((0, 1, 1, 4), (0, 3, 1, 4), {"cycles_max": 2}, "empty batch"),
    ((1, 1, 1, 4), (1, 3, 1, 4), {"cycles_max": 1.5}, "not an integer"),
])
def test_circular_buffer_refuses_what_tflm_would_misread(in_shape, out_shape, opts, match):
    refuses(cb_model(in_shape, out_shape, opts), match)


def test_circular_buffer_refuses_mismatched_types():
    b = ModelBuilder()
    i = b.add_input((1, 1, 1, 4), np.int8, quant=INT8_QUANT)
    o = b.add_tensor((1, 3, 1, 4), np.int16, is_variable=True)
    b.add_operator(Op.CUSTOM, [i], [o], custom_options=flexbuffers.Dumps({"cycles_max": 2}),
                   custom_code="CIRCULAR_BUFFER")
    b.mark_output(o)
    refuses(b.build(), "types differ")


@pytest.mark.parametrize("variable", [True, False])
def test_circular_buffer_arena_is_tflms(variable):
    model = cb_model((1, 1, 2, 6), (1, 5, 2, 6), {"cycles_max": 2}, variable=variable)
    expected = smallest_tflm_arena_in_process(model) if variable else smallest_arena_tflm(model)
    assert estimate_arena_size(model, "host").arena_bytes == expected


def test_circular_buffer_adder_names():
    assert cpp_custom_add_method_name("CIRCULAR_BUFFER") == "AddCircularBuffer"
    assert MicroMutableOpResolver(1).add_circular_buffer().op_names == ["CIRCULAR_BUFFER"]


# ----------------------------------------------------------------------------- DETECTION_POSTPROCESS

DETECTION = "TFLite_Detection_PostProcess"
SSD_OPTIONS = {"max_detections": 10, "max_classes_per_detection": 1,
               "detections_per_class": 100, "use_regular_nms": False,
               "nms_score_threshold": 0.3, "nms_iou_threshold": 0.5, "num_classes": 3,
               "y_scale": 10.0, "x_scale": 10.0, "h_scale": 5.0, "w_scale": 5.0}


def ssd_anchors(rng, num_boxes, cells=None):
    """Anchors (y, x, h, w); with `cells`, centres on a coarse grid so that many boxes
    overlap and suppress each other."""
    if cells:
        centres = (rng.integers(0, cells, (num_boxes, 2)) + 0.5) / cells
    else:
        centres = rng.uniform(0.1, 0.9, (num_boxes, 2))
    return np.concatenate([centres, rng.uniform(0.1, 0.4, (num_boxes, 2))], 1).astype(np.float32)


def detection_model(num_boxes=40, classes_with_background=4, opts=None, outputs=None,
                    seed=0, cells=None, dtype=np.float32, anchors=None, coords=4, inputs=3,
                    num_outputs=4):
    """A TFLite_Detection_PostProcess model: box encodings [1, num_boxes, coords] and
    scores [1, num_boxes, classes_with_background] are graph inputs, the anchors a
    constant; `outputs`: the detection count the outputs have room for (default
    max_detections * classes per detection squared, what fast NMS can write)."""
    opts = SSD_OPTIONS if opts is None else opts
    if outputs is None:
        settings = opts if isinstance(opts, dict) else SSD_OPTIONS
        per_box = settings.get("max_classes_per_detection", 0) or 1
        outputs = settings.get("max_detections", 1) * per_box * per_box
    rng = np.random.default_rng(seed)
    if anchors is None:
        anchors = ssd_anchors(rng, num_boxes, cells)
    b = ModelBuilder()
    quant = quantization(0.05, 3) if dtype != np.float32 else None
    ins = [b.add_input((1, num_boxes, coords), dtype, quant=quant),
           b.add_input((1, num_boxes, classes_with_background), dtype, quant=quant),
           b.add_tensor(anchors.shape, anchors.dtype, data=anchors)][:inputs]
    outs = [b.add_tensor((1, outputs, 4), np.float32), b.add_tensor((1, outputs), np.float32),
            b.add_tensor((1, outputs), np.float32), b.add_tensor((1,), np.float32)][:num_outputs]
    custom = flexbuffers.Dumps(opts) if isinstance(opts, dict) else opts
    b.add_operator(Op.CUSTOM, ins, outs, custom_options=custom, custom_code=DETECTION)
    for o in outs:
        b.mark_output(o)
    return b.build()


def detection_inputs(rng, model, levels=None):
    """Box encodings ~ N(0, 1) and scores in [0, 1) - or, with `levels`, scores on a grid
    of that many values, so that many tie."""
    sg = model.subgraphs[0]
    box_shape, score_shape = sg.tensors[0].shape, sg.tensors[1].shape
    scores = rng.uniform(0, 1, score_shape) if levels is None else \
        rng.integers(0, levels, score_shape) / levels
    return [rng.standard_normal(box_shape).astype(np.float32), scores.astype(np.float32)]


def check_detections(model, feeds, written=None):
    """Invoke both runtimes once per entry of `feeds` (input lists) on one interpreter
    each; assert byte-equal outputs - only the entries in `written` (a function of the
    detection count) for fast NMS, which leaves the others as they were: in the first
    invoke, whatever the arena held there. tflm_edu's outputs."""
    data = write_model(model)
    ours = MicroInterpreter(model, AllOpsResolver(), None)
    ours.allocate_tensors()
    theirs = oracle_runtime().Interpreter.from_bytes(data, arena_size=8_000_000)
    for k, inputs in enumerate(feeds):
        for i, x in enumerate(inputs):
            ours.input(i).data[...] = x
            theirs.set_input(x, i)
        ours.invoke()
        assert theirs.invoke() == 0
        results = [ours.output(o).data.copy() for o in range(4)]
        expected = [np.asarray(theirs.get_output(o)).reshape(results[o].shape)
                    for o in range(4)]
        keep = slice(None) if written is None else written(int(results[3][0]))
        for o, (a, b) in enumerate(zip(results, expected)):
            if o < 3:
                a, b = a.reshape(a.shape[1], -1)[keep], b.reshape(b.shape[1], -1)[keep]
            assert a.tobytes() == b.tobytes(), (
                f"invoke {k}, output {o}: tflm_edu {a.reshape(-1)[:8]} vs TFLM "
                f"{b.reshape(-1)[:8]}")
    return results


def fast_written(per_box):
    """Where fast NMS writes its `count` detections: n * (i * n + k) + k."""
    def entries(count):
        written = np.arange(count)
        return per_box * written + written % per_box
    return entries


@pytest.mark.parametrize("num_boxes,with_background,extra", [
    (40, 4, {}), (40, 3, {}), (120, 6, {"num_classes": 5, "max_detections": 7}),
    (60, 2, {"num_classes": 1, "nms_iou_threshold": 0.2}),
    (80, 4, {"nms_score_threshold": 0.8, "max_detections": 20}),
    (50, 4, {"nms_iou_threshold": 1.0}), (1, 4, {}), (0, 4, {}),
])
def test_fast_nms_matches_tflm(num_boxes, with_background, extra):
    model = detection_model(num_boxes, with_background, dict(SSD_OPTIONS, **extra),
                            seed=num_boxes, cells=4)
    rng = np.random.default_rng(num_boxes + 1)
    check_detections(model, [detection_inputs(rng, model) for _ in range(3)],
                     written=fast_written(1))


@pytest.mark.parametrize("num_boxes,with_background,extra", [
    (40, 4, {}), (40, 3, {"detections_per_class": 3}),
    (90, 6, {"num_classes": 5, "max_detections": 12, "detections_per_class": 5}),
    (60, 2, {"num_classes": 1, "nms_iou_threshold": 0.3}),
    (30, 4, {"nms_score_threshold": 0.0, "max_detections": 25}), (1, 4, {}),
    (0, 4, {}), (30, 1, {"num_classes": 0}),
])
def test_regular_nms_matches_tflm(num_boxes, with_background, extra):
    model = detection_model(num_boxes, with_background,
                            dict(SSD_OPTIONS, use_regular_nms=True, **extra),
                            seed=num_boxes + 7, cells=5)
    rng = np.random.default_rng(num_boxes + 2)
    check_detections(model, [detection_inputs(rng, model) for _ in range(3)])


@pytest.mark.parametrize("regular", [False, True])
def test_tied_scores_go_to_the_lower_index(regular):
    """Scores on a grid of 4 values: the sorts' tie-breaking decides every order."""
    opts = dict(SSD_OPTIONS, use_regular_nms=regular, max_detections=15,
                nms_score_threshold=0.25)
    model = detection_model(64, 4, opts, seed=3, cells=3)
    rng = np.random.default_rng(4)
    check_detections(model, [detection_inputs(rng, model, levels=4) for _ in range(4)],
                     written=None if regular else fast_written(1))


@pytest.mark.parametrize("per_box", [2, 3])
def test_fast_nms_several_classes_per_box_lands_spread_out(per_box):
    """max_classes_per_detection > 1: TFLM's output index counts every earlier write."""
    opts = dict(SSD_OPTIONS, max_classes_per_detection=per_box, max_detections=4)
    model = detection_model(30, 4, opts, seed=per_box)
    rng = np.random.default_rng(per_box)
    results = check_detections(model, [detection_inputs(rng, model) for _ in range(3)],
                               written=fast_written(per_box))
    assert int(results[3][0]) % per_box == 0


def test_an_ssd_sized_model():
    """1917 boxes and 91 classes, as SSD MobileNet's head; a few detections per class."""
    opts = dict(SSD_OPTIONS, num_classes=90, nms_score_threshold=0.9)
    for regular in (False, True):
        model = detection_model(1917, 91, dict(opts, use_regular_nms=regular), seed=5, cells=8)
        rng = np.random.default_rng(6)
        check_detections(model, [detection_inputs(rng, model)],
                         written=None if regular else fast_written(1))


@pytest.mark.parametrize("opts", [
    # detections_per_class and use_regular_nms absent: 100 and fast NMS
    {k: v for k, v in SSD_OPTIONS.items() if k not in ("detections_per_class",
                                                        "use_regular_nms")},
    # ints where floats are read, a float where an int is read, a bool as an int
    dict(SSD_OPTIONS, y_scale=10, x_scale=8, h_scale=5, w_scale=4, max_detections=6.9,
         use_regular_nms=1, detections_per_class=4),
    # a key no one reads does not shift the others (read by key, not position)
    dict(SSD_OPTIONS, aaa_unused=7, nms_iou_threshold=0.4),
])
def test_options_are_read_by_key_as_flexbuffers_converts(opts):
    model = detection_model(40, 4, opts, seed=8, cells=4, outputs=10)
    rng = np.random.default_rng(9)
    check_detections(model, [detection_inputs(rng, model) for _ in range(2)],
                     written=fast_written(1))


def invoke_fails_in_both(model, inputs, match):
    ours = MicroInterpreter(model, AllOpsResolver(), None)
    ours.allocate_tensors()
    for i, x in enumerate(inputs):
        ours.input(i).data[...] = x
    with pytest.raises(ModelError, match=match):
        ours.invoke()
    theirs = oracle_runtime().Interpreter.from_bytes(write_model(model), arena_size=2_000_000)
    for i, x in enumerate(inputs):
        theirs.set_input(x, i)
    with quiet_c_output(), pytest.raises(RuntimeError):
        theirs.invoke()


@pytest.mark.parametrize("dtype", [np.int8, np.uint8])
def test_quantized_inputs_fail_at_invoke_as_in_tflm(dtype):
    model = detection_model(20, 4, seed=1, dtype=dtype)
    rng = np.random.default_rng(1)
    inputs = [rng.integers(0, 100, (1, 20, 4)).astype(dtype),
              rng.integers(0, 100, (1, 20, 4)).astype(dtype)]
    invoke_fails_in_both(model, inputs, "not supported")


@pytest.mark.parametrize("change,match", [
    ({"nms_iou_threshold": 0.0}, "nms_iou_threshold"),
    ({"nms_iou_threshold": 1.5}, "nms_iou_threshold"),
    ({"max_classes_per_detection": 0}, "max_classes_per_detection"),
    ({"use_regular_nms": True, "detections_per_class": 0}, "detections_per_class"),
    ({"num_classes": 1}, "classes per box"),
])
def test_settings_that_fail_at_invoke_as_in_tflm(change, match):
    model = detection_model(20, 4, dict(SSD_OPTIONS, **change), seed=2)
    invoke_fails_in_both(model, detection_inputs(np.random.default_rng(2), model), match)


def test_a_box_with_no_height_fails_validate_boxes_as_in_tflm():
    anchors = ssd_anchors(np.random.default_rng(3), 20)
    anchors[7, 2] = 0.0      # anchor h = 0: ymin == ymax
    model = detection_model(20, 4, seed=3, anchors=anchors)
    invoke_fails_in_both(model, detection_inputs(np.random.default_rng(3), model),
                         "decoded box 7")


def test_a_batch_of_two_fails_at_invoke_as_in_tflm():
    b = ModelBuilder()
    ins = [b.add_input((2, 10, 4), np.float32), b.add_input((2, 10, 4), np.float32),
           b.add_tensor((10, 4), np.float32, data=ssd_anchors(np.random.default_rng(0), 10))]
    outs = [b.add_tensor((1, 10, 4), np.float32), b.add_tensor((1, 10), np.float32),
            b.add_tensor((1, 10), np.float32), b.add_tensor((1,), np.float32)]
    b.add_operator(Op.CUSTOM, ins, outs, custom_options=flexbuffers.Dumps(SSD_OPTIONS),
                   custom_code=DETECTION)
    for o in outs:
        b.mark_output(o)
    model = b.build()
    rng = np.random.default_rng(0)
    invoke_fails_in_both(model, [rng.standard_normal((2, 10, 4)).astype(np.float32),
                                 rng.uniform(0, 1, (2, 10, 4)).astype(np.float32)], "batch")


@pytest.mark.parametrize("kwargs,match", [
    ({"inputs": 2}, "takes 3 inputs"),
    ({"num_outputs": 3}, "has 4 outputs"),
    ({"anchors": np.zeros((20, 4, 1), np.float32)}, "must have 2 dimensions"),
])
def test_detection_refuses_what_tflm_refuses(kwargs, match):
    model = detection_model(20, 4, seed=4, **kwargs)
    refuses(model, match)
    tflm_refuses(model)


@pytest.mark.parametrize("kwargs,match", [
    ({"outputs": 9}, "TFLM's Eval writes up to"),
    ({"opts": dict(SSD_OPTIONS, max_classes_per_detection=2), "outputs": 20},
     "writes up to 160"),
    ({"opts": dict(SSD_OPTIONS, max_detections=0), "outputs": 1}, "max_detections is 0"),
    ({"opts": b""}, "no custom options"),
    ({"opts": dict(SSD_OPTIONS, num_classes="3")}, "not a number"),
    ({"anchors": np.zeros((20, 4), np.int32)}, "anchors are INT32"),
    ({"anchors": np.zeros((19, 4), np.float32)}, "19 anchors for 20 boxes"),
    ({"opts": dict(SSD_OPTIONS, use_regular_nms=True, max_detections=1), "outputs": 1},
     "regular NMS merges"),
    ({"opts": dict(SSD_OPTIONS, num_classes=0), "with_background": 1},
     "fast NMS reads an unwritten"),
])
def test_detection_refuses_what_tflm_would_run_out_of_bounds(kwargs, match):
    kwargs = dict(kwargs)
    refuses(detection_model(20, kwargs.pop("with_background", 4), seed=5, **kwargs), match)


@pytest.mark.parametrize("regular", [False, True])
def test_detection_arena_is_tflms(regular):
    model = detection_model(100, 6, dict(SSD_OPTIONS, num_classes=5, use_regular_nms=regular),
                            seed=6)
    assert estimate_arena_size(model, "host").arena_bytes == smallest_arena_tflm(model)


def test_detection_adder_names():
    assert cpp_custom_add_method_name(DETECTION) == "AddDetectionPostprocess"
    assert MicroMutableOpResolver(1).add_detection_postprocess().op_names == [DETECTION]


# ----------------------------------------------------------------------------- both


@pytest.mark.parametrize("name,op_data_bytes", [
    ("CIRCULAR_BUFFER", 8), ("TFLite_Detection_PostProcess", 112)])
def test_custom_specs_are_complete(name, op_data_bytes):
    """What test_op_spec checks of the builtin ops; the OpData sizes as sizeof gives them
    (on both targets: the structs hold no pointer)."""
    spec = CUSTOM_SPECS[name]
    assert spec.op == Op.CUSTOM and spec.name == name and spec.options is None
    assert spec.register().name == name
    assert spec.types and set(spec.types) <= set(TensorType)
    assert spec.arena.builtin_params is None and callable(spec.arena.prepare)
    for target in ("host", "cortex-m"):
        assert get_target(target).sizeof(spec.arena.op_data) == op_data_bytes
