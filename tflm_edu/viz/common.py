"""What every picture needs: an allocated interpreter from whatever the learner holds, one
colour per op type so the graph, the plan and the profile agree, a name for the model, and
font sizes a learner can read (every text at least SMALL_FONT points)."""
from __future__ import annotations

import functools
import os
import zlib

import matplotlib
import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter, MaxNLocator

from tflm_edu.interpreter import MicroInterpreter
from tflm_edu.op_resolver import AllOpsResolver
from tflm_edu.schema import as_model

FONT = 9         # points: labels, names, values
SMALL_FONT = 8   # points: the smallest text any picture draws

PALETTE = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3",
           "#8c8c8c", "#ccb974", "#64b5cd"]


def allocated_interpreter(model, planner: str = "greedy") -> MicroInterpreter:
    """A MicroInterpreter with tensors allocated, from a MicroInterpreter, a runtime
    Interpreter, a Model, .tflite bytes or a path."""
    micro = getattr(model, "micro", None)
    if isinstance(micro, MicroInterpreter):
        model = micro
    if isinstance(model, MicroInterpreter):
        if not model.allocated:
            model.allocate_tensors()
        return model
    interpreter = MicroInterpreter(as_model(model), AllOpsResolver(), planner=planner)
    interpreter.allocate_tensors()
    return interpreter


def op_color(op_name: str) -> str:
    """A stable colour per op type, the same in every figure: the ops tflm_edu has kernels
    for take matplotlib's tab20 in the registry's order (by builtin code); any other op a
    colour from its name."""
    from tflm_edu.op_resolver import SPECS
    names = [spec.name for spec in SPECS.values()]
    tab20 = plt.get_cmap("tab20").colors
    index = names.index(op_name) if op_name in names else zlib.crc32(op_name.encode())
    return matplotlib.colors.to_hex(tab20[index % len(tab20)])


def tensor_label(interpreter, index: int) -> str:
    if index is None or index < 0:
        return "-"
    t = interpreter.tensors[index]
    return t.name or f"tensor {index}"


def model_label(model, name: str | None = None) -> str | None:
    """What a title calls the model: `name` when the caller gives one, else the file's stem
    when `model` is a path, else None. Never the model's description field: TFLM's
    converters fill it with text like "TOCO Converted.", which names nothing."""
    if name:
        return name
    if isinstance(model, (str, os.PathLike)):
        return os.path.splitext(os.path.basename(os.fspath(model)))[0]
    return None


def titled(text: str, name: str | None) -> str:
    return f"{name}: {text}" if name else text


def integer_ticks(axis) -> None:
    """Only whole numbers on an axis that counts something (op steps, inputs, channels)."""
    axis.set_major_locator(MaxNLocator(integer=True))


def thousands(axis) -> None:
    """Tick labels as 55,296 rather than 55296 or 5.5e4."""
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))


@functools.lru_cache(maxsize=4096)
def text_size(text: str, fontsize: float, family: str = "sans-serif") -> tuple[float, float]:
    """(width, height) in points of `text` as Agg draws it, one line after another at
    matplotlib's line spacing - to decide whether a label fits before drawing it."""
    from matplotlib.font_manager import FontProperties
    renderer = _points_renderer()
    prop = FontProperties(size=fontsize, family=family)
    lines = text.split("\n")
    width = max(renderer.get_text_width_height_descent(line or " ", prop, ismath=False)[0]
                for line in lines)
    return width, fontsize * (1.2 * (len(lines) - 1) + 1.25)


@functools.lru_cache(maxsize=1)
def _points_renderer():
    from matplotlib.backends.backend_agg import RendererAgg
    return RendererAgg(1, 1, 72)  # at 72 dpi one pixel is one point
