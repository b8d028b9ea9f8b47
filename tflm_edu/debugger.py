"""StepDebugger: walk a model one op at a time and watch the arena.

There is no such tool in TFLM; it is built on MicroInterpreter.steps() (one op per
next()), the plan of MicroInterpreter.buffers, and the pictures of tflm_edu.viz.

    debugger = StepDebugger(interpreter)   # in Jupyter: the widget shows itself
    debugger.step()                        # run the next op
    debugger.run_to(5)                     # run until op 5 has run
    debugger.reset()                       # back to before op 0, inputs restored
    debugger.set_channel(3)                # the feature maps' heatmaps show channel 3

The state logic lives in plain methods (step, run_to, reset, current_op,
highlighted_index), and the widget's buttons only call them and redraw, so tests can
drive the callbacks without a browser. Each click runs one op and redraws only what is
visible: a window of the op list, one SVG bar for the arena, at most MAX_TENSOR_VIEWS
tensor views - bars with their values for a vector, a heatmap of one channel (the
"channel" box) with a colour bar for anything else.

Why the inputs are kept aside: the arena reuses bytes. Once the input tensor's last
reader has run, the planner may hand its bytes to a later tensor, so after a full run the
input in the arena may be gone - exactly as on a device. reset() writes the saved input
back before running again.
"""
from __future__ import annotations

import html
import io

import numpy as np

from tflm_edu.errors import InputError
from tflm_edu.viz.common import allocated_interpreter, op_color

OP_LIST_WINDOW = 12  # ops shown above and below the current one
MAX_TENSOR_VIEWS = 4
ARENA_BAR_WIDTH = 800


class StepDebugger:
    def __init__(self, interpreter, show_tensors: bool = True):
        self.interpreter = allocated_interpreter(interpreter)
        self.show_tensors = show_tensors
        self.channel = 0
        self.saved_inputs = [self.interpreter.input(i).data.copy()
                             for i in range(self.interpreter.inputs_size)]
        self.last_event = None
        self._steps = None
        self._widget = None
        self.reset()

    # ------------------------------------------------------------------ state

    @property
    def num_ops(self) -> int:
        return len(self.interpreter.nodes)

    @property
    def current_op(self):
        """Index of the op that ran last; None before the first step."""
        return None if self.last_event is None else self.last_event.op_index

    @property
    def next_op(self) -> int:
        """Index of the op the next step() runs (num_ops when the model has finished)."""
        return 0 if self.current_op is None else self.current_op + 1

    @property
    def finished(self) -> bool:
        return self.next_op >= self.num_ops

    @property
    def highlighted_index(self) -> int:
        """The op the op list highlights: the one that ran last (-1 before any step)."""
        return -1 if self.current_op is None else self.current_op

    @property
    def arena_step(self) -> int:
        """The plan's time step now: 0 holds the inputs, op i runs at step i + 1."""
        return self.next_op

    def set_input(self, data, index: int = 0) -> None:
        """New input data for the next run (and every reset after it); resets."""
        tensor = self.interpreter.input(index)
        data = np.asarray(data)
        if data.shape != tuple(tensor.shape) or data.dtype != tensor.dtype:
            raise InputError(f"input {index} needs shape {tuple(tensor.shape)} and dtype "
                             f"{tensor.dtype}, got {data.shape} {data.dtype}")
        self.saved_inputs[index] = data.copy()
        self.reset()

    def reset(self) -> None:
        """Back to before op 0: a fresh steps() generator, the saved inputs restored,
        variable tensors zeroed (MicroInterpreter.reset)."""
        if self._steps is not None:
            self._steps.close()
        self.interpreter.reset()
        for i, data in enumerate(self.saved_inputs):
            self.interpreter.input(i).data[...] = data
        self._steps = self.interpreter.steps()
        self.last_event = None
        self._refresh()

    def step(self):
        """Run the next op; returns its StepEvent (None once every op has run)."""
        if self.finished:
            return None
        self.last_event = next(self._steps)
        self._refresh()
        return self.last_event

    def run_to(self, n: int):
        """Run until op `n` has run (resetting first when the model is already past op n)."""
        if not 0 <= n < self.num_ops:
            raise InputError(f"op {n} does not exist: the model has ops 0 to {self.num_ops - 1}")
        if self.current_op is not None and self.current_op > n:
            self.reset()
        widget, self._widget = self._widget, None  # redraw once, at the end
        try:
            while self.current_op != n:
                self.last_event = next(self._steps)
        finally:
            self._widget = widget
        self._refresh()
        return self.last_event

    def explain(self, output_index):
        """Explain one output element of the op that just ran (tflm_edu.explain)."""
        from tflm_edu.explain import explain
        if self.current_op is None:
            raise InputError("no op has run yet: step() first, then explain its output")
        return explain(self.interpreter, self.current_op, output_index, run=False)

    def live_buffers(self):
        """(BufferInfo, is_written_by_current_op) for the buffers alive at arena_step."""
        t = self.arena_step if self.current_op is None else self.current_op + 1
        written = set() if self.current_op is None else \
            set(self.interpreter.nodes[self.current_op].outputs)
        return [(b, b.subgraph == 0 and b.tensor_index in written) for b in self.interpreter.buffers
                if b.bytes > 0 and b.first_created <= t <= b.last_used]

    def status_text(self) -> str:
        if self.current_op is None:
            return f"ready: {self.num_ops} ops, none run yet (Step runs op 0)"
        e = self.last_event
        done = " - finished, Reset to run again" if self.finished else ""
        called = ""
        if e.calls:   # CALL_ONCE, IF, WHILE ran another subgraph's ops inside this op
            names = sorted({f"subgraph {c.subgraph}" for c in e.calls})
            called = f", running {len(e.calls)} op(s) of {', '.join(names)}"
        return (f"op {e.op_index} of {self.num_ops - 1} ran: {e.op_name}{called}, "
                f"{e.seconds * 1e3:.2f} ms, {e.macs:,} MACs{done}")

    # ------------------------------------------------------------------ HTML views

    def op_list_html(self) -> str:
        """A window of the op list around the highlighted op (class 'tflm-op-current')."""
        centre = max(self.highlighted_index, 0)
        first = max(0, centre - OP_LIST_WINDOW)
        last = min(self.num_ops, centre + OP_LIST_WINDOW + 1)
        rows = []
        if first > 0:
            rows.append(f"<div style='color:#888'>... {first} ops above</div>")
        for node in self.interpreter.nodes[first:last]:
            current = node.index == self.highlighted_index
            style = ("background:#ffd54f;font-weight:bold;" if current else
                     "color:#999;" if node.index > self.highlighted_index else "")
            classes = "tflm-op tflm-op-current" if current else "tflm-op"
            outputs = ", ".join("x".join(map(str, self.interpreter.tensors[o].shape))
                                for o in node.outputs)
            rows.append(f"<div class='{classes}' data-op='{node.index}' style='{style}"
                        f"font-family:monospace;padding:1px 4px;border-left:6px solid "
                        f"{op_color(node.op_name)}'>{node.index:3d} "
                        f"{html.escape(node.op_name)} -> {outputs}</div>")
        if last < self.num_ops:
            rows.append(f"<div style='color:#888'>... {self.num_ops - last} ops below</div>")
        return "<div class='tflm-op-list'>" + "".join(rows) + "</div>"

    def arena_bar_svg(self) -> str:
        """The arena head as a bar, offset 0 at the left: live buffers blue, the bytes the
        current op wrote red, free bytes white."""
        head = max(self.interpreter.arena.head_bytes, 1)
        scale = ARENA_BAR_WIDTH / head
        parts = [f"<svg width='100%' viewBox='0 0 {ARENA_BAR_WIDTH} 36' class='tflm-arena' "
                 f"style='max-width:{ARENA_BAR_WIDTH}px'>",
                 f"<rect x='0' y='0' width='{ARENA_BAR_WIDTH}' height='24' fill='white' "
                 f"stroke='black'/>"]
        for b, written in self.live_buffers():
            colour = "#c44e52" if written else "#4c72b0"
            title = html.escape(f"{b.name}: {b.bytes:,} bytes at offset {b.offset:,}, "
                                f"alive steps {b.first_created}-{b.last_used}")
            parts.append(f"<rect x='{b.offset * scale:.1f}' y='1' "
                         f"width='{max(b.bytes * scale, 1):.1f}' height='22' fill='{colour}' "
                         f"stroke='white' stroke-width='0.5'><title>{title}</title></rect>")
        live = sum(b.bytes for b, _ in self.live_buffers())
        parts.append(f"<text x='0' y='33' font-size='9'>0</text><text x='{ARENA_BAR_WIDTH}' "
                     f"y='33' font-size='10' text-anchor='end'>{head:,} bytes of head; "
                     f"{live:,} live now (blue), written by this op in red</text></svg>")
        return "".join(parts)

    # ------------------------------------------------------------------ tensor views

    def shown_tensors(self) -> list[tuple[str, int]]:
        """("in" / "out", tensor index) of what the tensor views show: the current op's
        non-constant inputs, then its outputs, at most MAX_TENSOR_VIEWS."""
        if self.current_op is None:
            return []
        node = self.interpreter.nodes[self.current_op]
        shown = [("in", i) for i in node.inputs
                 if i >= 0 and not self.interpreter.tensors[i].is_constant]
        return (shown[:MAX_TENSOR_VIEWS - 1] + [("out", o) for o in node.outputs])[
            :MAX_TENSOR_VIEWS]

    def tensor_figure(self):
        """The current op's inputs and outputs, one pane each (or None before the first
        step): a vector as bars with its values ("-57 (0.223)": int8 and real), anything
        else as a heatmap of channel `self.channel` with a colour bar in real units."""
        import matplotlib.pyplot as plt

        from tflm_edu.viz.common import FONT, SMALL_FONT
        from tflm_edu.viz.tensor_plot import draw_tensor, short_tensor_name, write_cell_values
        shown = self.shown_tensors()
        if not shown:
            return None
        columns = min(len(shown), 2)
        rows = -(-len(shown) // columns)
        fig, axes = plt.subplots(rows, columns, figsize=(4.1 * columns, 3.4 * rows),
                                 squeeze=False, layout="constrained")
        for ax, (kind, index) in zip(axes.ravel(), shown):
            t = self.interpreter.tensors[index]
            image = draw_tensor(ax, t, channel=self.channel,
                                title=f"{kind}: {short_tensor_name(t.name) or index}")
            if image is not None:
                colorbar = fig.colorbar(image, ax=ax)
                colorbar.set_label("real value", fontsize=FONT)
                colorbar.ax.tick_params(labelsize=SMALL_FONT)
        for ax in axes.ravel()[len(shown):]:
            ax.set_visible(False)
        fig.draw_without_rendering()
        write_cell_values(fig)
        plt.close(fig)  # shown through the Output widget, not by pyplot
        return fig

    def set_channel(self, channel: int) -> None:
        """Which channel the heatmaps of feature maps show (clipped to each tensor's)."""
        self.channel = max(0, int(channel))
        self._refresh()

    # ------------------------------------------------------------------ the widget

    def widget(self):
        """The ipywidgets 8 interface: Step / Run to op N / Reset, op list, arena bar,
        tensor views."""
        if self._widget is None:
            import ipywidgets as w
            self.step_button = w.Button(description="Step", icon="step-forward",
                                        tooltip="run the next op")
            self.run_to_input = w.BoundedIntText(value=self.num_ops - 1, min=0,
                                                 max=max(self.num_ops - 1, 0),
                                                 description="op N", layout=w.Layout(width="140px"))
            self.run_to_button = w.Button(description="Run to op N", icon="fast-forward")
            self.reset_button = w.Button(description="Reset", icon="undo")
            self.channel_input = w.BoundedIntText(value=self.channel, min=0, max=4095,
                                                  description="channel",
                                                  layout=w.Layout(width="150px"))
            self.channel_input.observe(lambda change: self.set_channel(change["new"]),
                                       names="value")
            for button, name in ((self.step_button, "step"), (self.run_to_button, "run-to"),
                                 (self.reset_button, "reset")):
                button.add_class(f"tflm-{name}")  # stable hooks for browser tests
            self.step_button.on_click(self._on_step)
            self.run_to_button.on_click(self._on_run_to)
            self.reset_button.on_click(self._on_reset)
            self.status = w.HTML()
            self.op_list = w.HTML(layout=w.Layout(width="380px", max_height="420px",
                                                  overflow="auto"))
            self.arena_bar = w.HTML()
            self.tensor_image = w.Image(format="png", layout=w.Layout(max_width="820px"))
            controls = w.HBox([self.step_button, self.run_to_input, self.run_to_button,
                               self.reset_button, self.channel_input])
            right = w.VBox([self.arena_bar, self.tensor_image],
                           layout=w.Layout(width="820px"))
            self._widget = w.VBox([controls, self.status, w.HBox([self.op_list, right])])
            self._widget.add_class("tflm-step-debugger")
            self._refresh()
        return self._widget

    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget())

    def _on_step(self, _button=None):
        self.step()

    def _on_run_to(self, _button=None):
        self.run_to(int(self.run_to_input.value))

    def _on_reset(self, _button=None):
        self.reset()

    def _refresh(self) -> None:
        if self._widget is None:
            return
        self.status.value = html.escape(self.status_text())
        self.op_list.value = self.op_list_html()
        self.arena_bar.value = self.arena_bar_svg()
        self.step_button.disabled = self.finished
        if self.show_tensors:
            figure = self.tensor_figure()
            self.tensor_image.value = b"" if figure is None else _png(figure)
            self.tensor_image.layout.display = "none" if figure is None else None

    def __repr__(self):
        return f"StepDebugger({self.status_text()})"


def _png(figure) -> bytes:
    """The figure as PNG bytes for an Image widget, at the figure's own dpi: no
    kernel-side display machinery, so the same path runs in JupyterLab and in tests."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
