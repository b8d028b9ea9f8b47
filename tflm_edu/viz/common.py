"""What every picture needs: an allocated interpreter from whatever the learner holds, and
one colour per op type so the graph, the plan and the profile agree."""
from __future__ import annotations

import zlib

import matplotlib
import matplotlib.pyplot as plt

from tflm_edu.interpreter import MicroInterpreter
from tflm_edu.op_resolver import AllOpsResolver
from tflm_edu.schema import as_model

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
