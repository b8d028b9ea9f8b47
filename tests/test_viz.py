"""Every picture renders (Agg) on every reference model and on small ModelBuilder models,
and draws the data it claims to draw."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from conftest import reference_model  # noqa: E402
from models import float_conv_net  # noqa: E402
from tflm_edu.arena_size import live_bytes_per_step  # noqa: E402
from tflm_edu.arena_size.examples import small_conv_net  # noqa: E402
from tflm_edu.viz import (allocated_interpreter, dequantize, plot_arena_occupancy,  # noqa: E402
                          plot_channel_scales, plot_graph, plot_memory_plan, plot_planners,
                          plot_profile, plot_tensor, plot_tensor_histogram)
from tflm_edu.memory.plan_print import ordinal_character  # noqa: E402
from tflm_edu.viz.graph_plot import graph_layers  # noqa: E402
from tflm_edu.viz.tensor_plot import heatmap_index, tensor_view  # noqa: E402

REFERENCE_MODELS = ["person_detect.tflite", "hello_world_float.tflite",
                    "hello_world_int8.tflite", "micro_speech_quantized.tflite",
                    "magic_wand.tflite"]  # the audio preprocessors need Signal ops tflm_edu lacks


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _render(fig):
    assert isinstance(fig, matplotlib.figure.Figure)
    fig.canvas.draw()
    return fig


def _model(name):
    return {"small_conv_net": small_conv_net, "float_conv_net": float_conv_net}[name]() \
        if name in ("small_conv_net", "float_conv_net") else reference_model(name)


@pytest.mark.parametrize("name", REFERENCE_MODELS + ["small_conv_net", "float_conv_net"])
def test_every_plot_renders(name):
    interpreter = allocated_interpreter(_model(name))
    for plot in (plot_memory_plan, plot_arena_occupancy, plot_graph):
        _render(plot(interpreter))
    _render(plot_profile(interpreter.profile()))
    _render(plot_planners(interpreter))
    node = interpreter.nodes[0]  # one op's tensors of every kind: activation, weights, bias
    for i in list(node.inputs) + list(node.outputs):
        t = interpreter.tensors[i]
        if i >= 0 and t.num_elements > 0:
            _render(plot_tensor(t))
            _render(plot_tensor_histogram(t))
            _render(plot_channel_scales(t))
            plt.close("all")


def test_every_tensor_of_person_detect_dequantizes():
    interpreter = allocated_interpreter(reference_model("person_detect.tflite"))
    for t in interpreter.tensors:
        real = dequantize(t)
        assert real.shape == tuple(t.shape) and np.isfinite(real).all()


def test_memory_plan_draws_one_rectangle_per_planned_buffer():
    interpreter = allocated_interpreter(small_conv_net())
    ax = plot_memory_plan(interpreter).axes[0]
    rectangles = [p for p in ax.patches if isinstance(p, Rectangle)]
    planner = interpreter.planner
    assert len(rectangles) == len(planner.buffers)
    for r, b, offset in zip(rectangles, planner.buffers, planner.offsets):
        assert r.get_y() == offset and r.get_height() == b.size


def test_planners_side_by_side_show_each_plan():
    fig = plot_planners(small_conv_net(), planners=("greedy", "linear"))
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0].startswith("greedy") and titles[1].startswith("linear")
    assert fig.axes[0].get_ylim() == fig.axes[1].get_ylim()  # one offset scale


def test_occupancy_draws_live_bytes_and_lower_bound():
    interpreter = allocated_interpreter(small_conv_net())
    ax = plot_arena_occupancy(interpreter).axes[0]
    live = live_bytes_per_step(interpreter.buffers)
    assert [p.get_height() for p in ax.patches] == live
    assert ax.lines[0].get_ydata()[0] == max(live)  # the lower bound
    assert ax.lines[1].get_ydata()[0] == interpreter.arena.head_bytes


def test_graph_layers_follow_the_data():
    interpreter = allocated_interpreter(small_conv_net())
    assert graph_layers(interpreter) == list(range(1, len(interpreter.nodes) + 1))


def test_dequantize_per_channel():
    interpreter = allocated_interpreter(small_conv_net())
    w = interpreter.tensors[interpreter.nodes[0].inputs[1]]  # per-channel along dim 0
    real = dequantize(w)
    for c in range(w.shape[0]):
        expected = w.quantization.scale[c] * (w.data[c].astype(np.float64)
                                              - w.quantization.zero_point[c])
        np.testing.assert_allclose(real[c], expected)


def test_profile_plot_from_interpreter():
    fig = plot_profile(allocated_interpreter(small_conv_net()))
    assert len(fig.axes[1].patches) == 7


def test_plots_show_where_they_are_called_in_jupyter(monkeypatch):
    """plot_confusion_matrix (and the dataset plots) display at once inside a Jupyter
    kernel - not only as a cell's last expression - and only once."""
    import matplotlib.pyplot as plt
    import tflm_edu.display
    from tflm_edu.evaluate import plot_confusion_matrix
    shown = []
    monkeypatch.setattr(tflm_edu.display, "kernel_display", lambda: shown.append)
    fig = plot_confusion_matrix(np.array([[3, 1], [0, 4]]), ["no", "yes"])
    assert shown == [fig]
    assert fig.number not in plt.get_fignums()       # pyplot will not draw it again
    assert fig._ipython_display_() is None            # nor will the cell's last expression


def test_plots_outside_jupyter_just_return_the_figure():
    import matplotlib.pyplot as plt
    from tflm_edu.evaluate import plot_confusion_matrix
    fig = plot_confusion_matrix(np.array([[3, 1], [0, 4]]), ["no", "yes"])
    assert fig.axes and fig.number not in plt.get_fignums()
    assert "_ipython_display_" not in vars(fig)      # nothing was displayed


# ----------------------------------------------------------------------------- readable pictures


def branching_net(blocks=2, description="TOCO Converted."):
    """Float, three residual blocks (x + relu6(relu(x))) then two branches joined by a
    CONCATENATION: the shapes of ResNet- and Inception-like graphs."""
    from tflm_edu.schema import options as o
    from tflm_edu.schema.builder import ModelBuilder
    from tflm_edu.schema.enums import BuiltinOperator as Op
    b = ModelBuilder(description=description)
    shape = (1, 8, 8, 4)
    x = b.add_input(shape, np.float32, name="input")
    for k in range(blocks):
        y = b.add_tensor(shape, np.float32, name=f"block{k}/relu")
        b.add_operator(Op.RELU, [x], [y])
        z = b.add_tensor(shape, np.float32, name=f"block{k}/relu6")
        b.add_operator(Op.RELU6, [y], [z])
        s = b.add_tensor(shape, np.float32, name=f"block{k}/add")
        b.add_operator(Op.ADD, [z, x], [s], o.AddOptions())
        x = s
    left = b.add_tensor(shape, np.float32, name="left")
    b.add_operator(Op.RELU, [x], [left])
    right = b.add_tensor(shape, np.float32, name="right")
    b.add_operator(Op.RELU6, [x], [right])
    out = b.add_tensor((1, 8, 8, 8), np.float32, name="concat")
    b.add_operator(Op.CONCATENATION, [left, right], [out], o.ConcatenationOptions(axis=3))
    b.mark_output(out)
    return b.build()


def _texts(fig):
    """Every text a draw of `fig` really puts on the canvas (tick labels outside the view
    are not), with its box in display pixels."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
    canvas = fig.canvas if hasattr(fig.canvas, "get_renderer") else FigureCanvasAgg(fig)
    drawn, draw_text = {}, RendererAgg.draw_text

    def spy(self, gc, x, y, s, prop, angle, ismath=False, mtext=None):
        if mtext is not None and s.strip():
            drawn[id(mtext)] = mtext
        return draw_text(self, gc, x, y, s, prop, angle, ismath, mtext)
    RendererAgg.draw_text = spy
    try:
        canvas.draw()
    finally:
        RendererAgg.draw_text = draw_text
    renderer = canvas.get_renderer()
    return [(t, t.get_window_extent(renderer)) for t in drawn.values()]


def _overlaps(found):
    """Pairs of texts whose boxes overlap by more than a pixel each way."""
    pairs = []
    for k, (a, box_a) in enumerate(found):
        for b, box_b in found[k + 1:]:
            w = min(box_a.x1, box_b.x1) - max(box_a.x0, box_b.x0)
            h = min(box_a.y1, box_b.y1) - max(box_a.y0, box_b.y0)
            if w > 1 and h > 1:
                pairs.append((a.get_text(), b.get_text()))
    return pairs


def _person():
    return allocated_interpreter(reference_model("person_detect.tflite"))


def _pictures(interpreter, model):
    from tflm_edu.debugger import StepDebugger
    yield "graph", plot_graph(interpreter)
    yield "plan", plot_memory_plan(interpreter)
    yield "planners", plot_planners(model)
    yield "occupancy", plot_arena_occupancy(interpreter)
    yield "profile", plot_profile(interpreter.profile())
    node = interpreter.nodes[0]
    for i in [j for j in node.inputs if j >= 0] + list(node.outputs):
        t = interpreter.tensors[i]
        yield f"tensor {t.name}", plot_tensor(t)
        yield f"histogram {t.name}", plot_tensor_histogram(t)
        yield f"scales {t.name}", plot_channel_scales(t)
    debugger = StepDebugger(interpreter)
    for op in (0, len(interpreter.nodes) - 1):
        debugger.run_to(op)
        yield f"debugger op {op}", debugger.tensor_figure()


@pytest.mark.parametrize("name", ["person_detect.tflite", "small_conv_net", "branching_net"])
def test_every_text_is_legible_and_no_two_texts_overlap(name):
    model = branching_net() if name == "branching_net" else _model(name)
    interpreter = allocated_interpreter(model)
    for what, fig in _pictures(interpreter, model):
        found = _texts(fig)
        small = [(t.get_text(), t.get_fontsize()) for t, _ in found if t.get_fontsize() < 8]
        assert not small, f"{what}: text under 8 pt: {small[:5]}"
        assert not _overlaps(found), f"{what}: overlapping texts {_overlaps(found)[:5]}"
        plt.close("all")


def test_no_picture_is_titled_with_the_description_field():
    model = branching_net(description="TOCO Converted.")
    interpreter = allocated_interpreter(model)
    for what, fig in _pictures(interpreter, model):
        assert not any("TOCO" in t.get_text() for t, _ in _texts(fig)), what
        plt.close("all")
    path = reference_model("person_detect.tflite")
    for fig in (plot_graph(path), plot_memory_plan(path), plot_arena_occupancy(path)):
        titles = " ".join(t.get_text() for t, _ in _texts(fig))
        assert "person_detect" in titles and "TOCO" not in titles    # the file's name
    assert "my model" in plot_graph(model, name="my model").axes[0].texts[-1].get_text()


def test_graph_of_person_detect_wraps_into_a_landscape_figure():
    interpreter = _person()
    fig = plot_graph(interpreter)
    width, height = fig.get_size_inches()
    assert 1.0 <= width / height <= 2.5 and width <= 10.5 and height <= 10, (width, height)
    boxes = [t for t in fig.axes[0].texts if "\n" in t.get_text() and t.get_text()[0].isdigit()]
    assert len(boxes) == len(interpreter.nodes)
    assert all(t.get_fontsize() >= 9 for t in fig.axes[0].texts)
    for node, t in zip(interpreter.nodes, boxes):   # op name and the shape it writes
        out = interpreter.tensors[node.outputs[0]]
        assert t.get_text().startswith(f"{node.index} {node.op_name}\n")
        assert "x".join(map(str, out.shape)) in t.get_text()
    columns = {round(t.get_position()[0], 2) for t in boxes}
    assert len(columns) >= 3                                      # wrapped, not one column
    arrows = [p for p in fig.axes[0].patches if isinstance(p, matplotlib.patches.FancyArrowPatch)]
    assert len(arrows) == len(interpreter.nodes)                  # a chain: one arrow per op


def test_graph_of_a_branching_model_draws_every_edge_and_no_box_overlaps():
    model = branching_net()
    interpreter = allocated_interpreter(model)
    fig = plot_graph(interpreter)
    ax = fig.axes[0]
    edges = sum(1 for n in interpreter.nodes for i in n.inputs if i >= 0)
    arrows = [p for p in ax.patches if isinstance(p, matplotlib.patches.FancyArrowPatch)]
    assert len(arrows) == edges
    boxes = [p.get_bbox() for p in ax.patches if isinstance(p, matplotlib.patches.FancyBboxPatch)]
    assert len(boxes) == len(interpreter.nodes) + 1               # and the input
    for k, a in enumerate(boxes):
        for b in boxes[k + 1:]:
            assert not a.overlaps(b)
    layers = graph_layers(interpreter)
    branch = [n.index for n, layer in zip(interpreter.nodes, layers) if layer == max(layers) - 1]
    assert len(branch) == 2                                       # RELU and RELU6 side by side
    assert {interpreter.nodes[i].op_name for i in branch} == {"RELU", "RELU6"}


def test_memory_plan_labels_are_tensor_names_and_the_table_lists_every_buffer():
    interpreter = _person()
    planner = interpreter.planner
    fig = plot_memory_plan(interpreter)
    plot_ax, table_ax = fig.axes
    labels = [t for t in plot_ax.texts if (t.get_gid() or "").startswith("buffer ")]
    named = 0
    for t in labels:
        i = int(t.get_gid().split()[1])
        key, _, name = t.get_text().partition(" ")
        assert key == ordinal_character(i)
        if name:
            assert planner.buffers[i].name.endswith(name)         # a tensor's name
            named += 1
    assert named >= 5    # the big buffers carry their names; the small ones their keys
    rows = [t.get_text() for t in table_ax.texts]
    assert rows[0].split() == ["key", "tensor", "bytes", "steps"]
    for i, b in enumerate(planner.buffers):
        row = next(r for r in rows[1:] if r.split()[0] == ordinal_character(i))
        key, name, size, steps = row.split()
        assert b.name.endswith(name) and size == f"{b.size:,}"
        assert steps == f"{b.first_time_used}-{b.last_time_used}"


def test_memory_figures_keep_the_default_dpi_and_the_legend_clear_of_the_bars():
    interpreter = _person()
    for fig in (plot_memory_plan(interpreter), plot_arena_occupancy(interpreter)):
        assert fig.dpi == matplotlib.rcParams["figure.dpi"]
    fig = plot_arena_occupancy(interpreter)
    fig.canvas.draw()
    ax = fig.axes[0]
    legend = fig.legends[0].get_window_extent()
    assert not legend.overlaps(ax.get_window_extent())            # under the plot, not on it


def test_tensor_view_by_shape():
    for shape in ((2,), (1, 2), (1, 16), (1, 1, 1, 2), (1,), ()):
        assert tensor_view(shape) == "bars", shape
    for shape in ((3, 4), (1, 48, 48, 8), (16, 1, 1, 8), (1, 42, 1, 16), (49, 40)):
        assert tensor_view(shape) == "heatmap", shape
    index, what, rows, columns = heatmap_index((1, 48, 48, 8), channel=3)
    assert index[3] == 3 and (rows, columns) == ("height", "width") and "channel 3" in what
    index, what, rows, columns = heatmap_index((1, 42, 1, 16))    # W = 1: height x channel
    assert (rows, columns) == ("height", "channel")


def test_debugger_panes_are_bars_for_vectors_and_heatmaps_for_feature_maps():
    from tflm_edu.debugger import StepDebugger
    interpreter = _person()
    x = interpreter.input(0)
    x.data[...] = np.random.default_rng(0).integers(-128, 128, x.shape)
    debugger = StepDebugger(interpreter)
    debugger.run_to(29)                       # RESHAPE: [1, 1, 1, 2] -> [1, 2]
    fig = debugger.tensor_figure()
    panes = [ax for ax in fig.axes if ax.get_title()]
    assert len(panes) == 2 and not any(ax.images for ax in fig.axes)
    out = interpreter.tensors[interpreter.nodes[29].outputs[0]]
    real = dequantize(out).ravel()
    for ax in panes:
        assert len([p for p in ax.patches if isinstance(p, Rectangle)]) == 2   # two bars
    values = [t.get_text() for ax in fig.axes for t in ax.get_yticklabels()]
    for q, r in zip(out.data.ravel(), real):
        assert f"{q} ({r:.3g})" in values        # "-57 (0.223)": int8 and real side by side
    debugger.reset()
    debugger.step()                           # op 0: 96x96 image in, 48x48x8 out
    fig = debugger.tensor_figure()
    heatmaps = [ax for ax in fig.axes if ax.images]
    assert len(heatmaps) == 2
    assert sum(1 for ax in fig.axes if ax.get_ylabel() == "real value") == 2   # colour bars
    assert "channel 0 of 8" in heatmaps[1].get_title()
    debugger.set_channel(5)
    assert "channel 5 of 8" in [ax for ax in debugger.tensor_figure().axes
                                if ax.images][1].get_title()


def test_small_heatmaps_write_their_values():
    interpreter = _person()
    weights = interpreter.tensors[interpreter.nodes[0].inputs[1]]      # 1x3x3x8
    ax = plot_tensor(weights).axes[0]
    q = weights.data[0, :, :, 0]
    written = [t.get_text() for t in ax.texts]
    assert len(written) == 9 and written[0].startswith(f"{q[0, 0]}\n(")


def test_text_plan_prints_exact_bytes_and_keeps_its_key_at_the_end():
    from tflm_edu.memory import GreedyMemoryPlanner, format_memory_plan
    planner = GreedyMemoryPlanner()
    planner.add_buffer(32, 0, 1, name="model/input")
    planner.add_buffer(1536, 1, 2, name="model/conv/Relu")
    planner.add_buffer(32, 2, 3, name="model/output")
    lines = format_memory_plan(planner).splitlines()
    rows = {line[:5]: line for line in lines if line[:4].strip().isdigit() and line[4] == ":"}
    assert rows["   0:"].endswith(" 32 B") and "1k" not in rows["   0:"]
    assert rows["   1:"].endswith("1,568 B  <- widest row")
    assert "widest row: step 1, while op 0 runs" in "\n".join(lines[-10:])
    text = format_memory_plan(_person().planner)
    tail = "\n".join(text.splitlines()[-10:])
    assert "key: one character per buffer" in tail
    for name in ("input", "Conv2d_1_pointwise/Relu6", "Reshape_1"):
        assert name in tail


@pytest.mark.parametrize("counter, board, words", [
    ("instructions", "qemu-cortex-m4", "QEMU virtual time"),   # 1 ns per instruction
    ("microseconds", "virtual", "time on this PC"),            # Python VirtualBoard
    ("microseconds", "nano33ble", "time on the board")])
def test_board_latency_axis_says_what_was_measured(counter, board, words):
    from types import SimpleNamespace

    from tflm_edu.deploy.verify import Sample, VerifyReport
    from tflm_edu.viz import plot_board_latency
    report = VerifyReport(board, [Sample(i, True, 0, 0.0, 525_846 + i) for i in range(5)])
    ax = plot_board_latency(report, SimpleNamespace(counter=counter, board=board))
    assert words in ax.get_ylabel() and "on-device" not in ax.get_ylabel()
    ax.figure.canvas.draw()
    low, high = ax.get_xlim()
    ticks = [t for t in ax.get_xticks() if low <= t <= high]
    assert ticks and all(float(t).is_integer() for t in ticks)    # inputs are counted
    assert not ax.yaxis.get_offset_text().get_text()              # 525.846, not +5.258e2
