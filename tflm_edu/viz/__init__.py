"""Pictures of what the interpreter does: the arena plan, the graph, tensors, the profile.

Every function returns a matplotlib Figure and works outside Jupyter (Agg backend too):

    from tflm_edu.viz import plot_memory_plan
    fig = plot_memory_plan(interpreter)          # the same data as memory_plan_text()
    fig.savefig("plan.png")

memory_plot.py   memory plan (op step x arena offset), planners side by side, occupancy
graph_plot.py    the model graph as a layered DAG wrapped into columns (no graphviz)
tensor_plot.py   a vector as bars with its values, anything else as a heatmap of real
                 values; histogram vs the grid; per-channel scales
profile_plot.py  time and MACs per op (interpreter.profile()); a board's latency, named
                 for what the board's counter measures

Text is at least 8 points at a figure's default size; titles name the model by what the
caller passes (name=...) or by its file's stem, never by its description field.
"""
from tflm_edu.viz.common import allocated_interpreter
from tflm_edu.viz.graph_plot import plot_graph
from tflm_edu.viz.memory_plot import plot_arena_occupancy, plot_memory_plan, plot_planners
from tflm_edu.viz.profile_plot import plot_board_latency, plot_profile
from tflm_edu.viz.tensor_plot import (dequantize, plot_channel_scales, plot_tensor,
                                      plot_tensor_histogram)

__all__ = ["allocated_interpreter", "plot_graph", "plot_memory_plan", "plot_planners",
           "plot_arena_occupancy", "plot_profile", "plot_board_latency", "plot_tensor",
           "plot_tensor_histogram", "plot_channel_scales", "dequantize"]
