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
from tflm_edu.viz.graph_plot import graph_layers  # noqa: E402

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
