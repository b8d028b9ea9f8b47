"""Checks for the exercises of notebooks/16_predict_the_board.ipynb.

16.1 one invoke's predicted time on a board, from the cost model (check_invoke_milliseconds)
16.2 the op the cost model predicts worst, measured on the emulated board (check_worst_op)
16.3 a camera model that fits the SparkFun Edge and keeps up with a frame rate (open;
     check_meets_budget)
"""
from __future__ import annotations

import numpy as np

from tflm_edu.exercises.core import Verdict, answered, compare

COUNTER_STEP = 40         # instructions per tick of the emulated board's 25 MHz timer
# Ops whose instruction count depends on the values, not only on the shapes.
DATA_DEPENDENT = ("SOFTMAX", "LOGISTIC", "TANH", "LOG_SOFTMAX", "EXP", "LOG", "ELU",
                  "HARD_SWISH", "QUANTIZE", "DEQUANTIZE")


def _board(board):
    from tflm_edu.boards import get_board
    return get_board(board)


def check_invoke_milliseconds(answer, profile, board) -> Verdict:
    """One invoke's predicted time in milliseconds on `board` (a Board or its id) for
    `profile` (a cost-model Profile): instructions x the target's CPI / the board's clock."""
    from tflm_edu.profile.cost_model import CPI
    board = _board(board)
    cpi = CPI[profile.target]
    expected = profile.total * cpi / board.clock_hz * 1e3
    result = compare(answer, expected, rel=0.01,
                     hint=f"time = instructions x cycles per instruction / clock: "
                          f"profile.total instructions, CPI[{profile.target!r}] cycles each, "
                          f"board.clock_hz cycles a second - and a second is 1000 ms.",
                     right=f"{expected:.2f} ms: {profile.total:,.0f} instructions x {cpi} "
                           f"cycles / {board.clock_hz / 1e6:g} MHz "
                           f"(profile.milliseconds(board.clock_hz) says the same). "
                           f"{1000 / expected:.1f} invokes a second, if the CPI holds.")
    if result.correct is not False:
        return result
    value = float(answer) if isinstance(answer, (int, float, np.number)) else None
    if value is None:
        return result
    near = lambda x: bool(np.isclose(value, x, rtol=0.01))
    if near(profile.total / board.clock_hz * 1e3):
        return Verdict(False, f"that is one cycle per instruction. The cost model assumes "
                              f"{cpi} on a {profile.target} (CPI in "
                              f"tflm_edu/profile/cost_model.py): multiply by it.")
    if near(expected / 1e3) or near(expected * 1e3):
        return Verdict(False, "right figure, wrong unit: the answer is in milliseconds.")
    from tflm_edu.boards import BOARDS
    for other in BOARDS.values():
        if other.clock_hz and other.clock_hz != board.clock_hz and \
                near(profile.total * cpi / other.clock_hz * 1e3):
            return Verdict(False, f"that is the time at {other.clock_hz / 1e6:g} MHz "
                                  f"({other.name}); the {board.name} runs at "
                                  f"{board.clock_hz / 1e6:g} MHz.")
    return result


def op_errors(rows) -> list:
    """(relative error, row) of every row ({'model', 'index', 'op', 'predicted',
    'measured', ...}): |predicted - measured| / measured, largest first."""
    errors = [(abs(r["predicted"] - r["measured"]) / max(r["measured"], 1.0), r) for r in rows]
    return sorted(errors, key=lambda e: -e[0])


def _why(row) -> str:
    step = COUNTER_STEP / max(row["measured"], 1.0)
    spread = row.get("spread", 0.0)
    if row.get("fitted") is False:
        return (f"the cost model has no formula for this {row['op']}: its figure is a rough "
                f"guess from other ops of the same type (fitting a corpus with such ops "
                f"would fix it).")
    if spread > COUNTER_STEP:
        return (f"its count changed with the input by {spread:,.0f} instructions: the op is "
                f"data-dependent, and the formula knows only the shapes.")
    if row["op"] in DATA_DEPENDENT:
        return (f"{row['op']} is data-dependent: its instructions depend on the values, and "
                f"the formula knows only the shapes (TFLM's int8 SOFTMAX, for one, computes "
                f"its fixed-point exp only for inputs within diff_min of the row's maximum; "
                f"float ones call expf, whose cost depends on the argument).")
    if step > 0.02:
        return (f"it is a small op: one step of the board's counter ({COUNTER_STEP} "
                f"instructions) is already {100 * step:.0f}% of it, and a fixed cost of a "
                f"few dozen instructions (the call, the prologue) is hard to fit exactly.")
    return ("its shape is far from the one-op models the formula was fitted on: a linear "
            "formula in the loop counts misses what the kernel does differently there "
            "(another loop order, another CMSIS-NN routine, padding at the edges).")


def check_worst_op(answer, rows) -> Verdict:
    """(model, op index) of the row of `rows` whose prediction is furthest from the
    measurement, relative to the measurement."""
    if not answered(answer):
        return Verdict(None, "compute |predicted - measured| / measured for every row and "
                             "answer (model, index) of the largest.")
    errors = op_errors(rows)
    error, worst = errors[0]
    expected = (worst["model"], worst["index"])
    try:
        given = (str(answer[0]), int(answer[1]))
    except (TypeError, ValueError, IndexError, KeyError):
        return Verdict(False, "answer with a pair: (model name, op index), e.g. "
                              "('magic_wand', 6).")
    if given == expected:
        return Verdict(True, f"{worst['model']} op {worst['index']} ({worst['op']}): "
                             f"predicted {worst['predicted']:,.0f}, measured "
                             f"{worst['measured']:,.0f} instructions, {100 * error:.1f}% off. "
                             f"Why: {_why(worst)}")
    absolute = max(rows, key=lambda r: abs(r["predicted"] - r["measured"]))
    if given == (absolute["model"], absolute["index"]):
        return Verdict(False, "that op has the largest error in instructions - because it "
                              "is a big op. Divide each error by the measurement: a "
                              "relative error.")
    if not any((r["model"], r["index"]) == given for r in rows):
        return Verdict(False, f"there is no row {given} - the model names are "
                              f"{sorted({r['model'] for r in rows})}, the indices those of "
                              f"each model's ops.")
    return Verdict(False, "not the largest: compute |predicted - measured| / measured for "
                          "every row and take the maximum.")


def _input_side(model) -> int | None:
    from tflm_edu.schema import as_model
    graph = as_model(model).subgraphs[0]
    shape = list(graph.tensors[graph.inputs[0]].shape)
    return min(shape[1], shape[2]) if len(shape) == 4 else None


def check_meets_budget(model, kernels, board="sparkfun_edge", fps: float = 5.0,
                       min_side: int = 64) -> Verdict:
    """`model` (Model or .tflite bytes) takes images of at least min_side x min_side
    pixels, fits the board's flash and RAM (with tflm_edu.boards' firmware allowances) and,
    by the cost model with `kernels`, runs at least `fps` invokes a second on `board`."""
    from tflm_edu.arena_size import estimate_arena_size
    from tflm_edu.boards import FIRMWARE_FLASH_BYTES, FIRMWARE_RAM_BYTES, KIB
    from tflm_edu.profile.cost_model import CostModel, KERNELS
    from tflm_edu.schema import as_model_and_bytes
    if not answered(model) or not answered(kernels):
        return Verdict(None, "choose a model (small_conv_net(size) is MobileNet-shaped; or "
                             "build your own) and the kernels, 'reference' or 'cmsis_nn'.")
    if kernels not in KERNELS:
        return Verdict(False, f"kernels is one of {KERNELS}, not {kernels!r}.")
    board = _board(board)
    try:
        parsed, data = as_model_and_bytes(model)
    except Exception as e:          # noqa: BLE001 - anything that is not a model
        return Verdict(False, f"that is not a model tflm_edu can read ({type(e).__name__}: "
                              f"{e}); pass a Model or .tflite bytes.")
    side = _input_side(parsed)
    if side is None or side < min_side:
        return Verdict(False, f"the input must be an image of at least {min_side}x{min_side} "
                              f"pixels (NHWC); this model's input is "
                              f"{'not an image' if side is None else f'{side} pixels on a side'}.")
    budget = 1000.0 / fps
    profile = CostModel.load(board.cpu, kernels).predict(parsed)
    ms = profile.milliseconds(board.clock_hz)
    arena = estimate_arena_size(parsed, "cortex-m").arena_bytes
    flash = len(data) + FIRMWARE_FLASH_BYTES
    ram = arena + FIRMWARE_RAM_BYTES
    if flash > board.flash_bytes or ram > board.ram_bytes:
        return Verdict(False, f"it does not fit the {board.name}: {flash / KIB:,.0f} KB of "
                              f"flash of {board.flash_bytes // KIB} KB, {ram / KIB:,.0f} KB of "
                              f"RAM of {board.ram_bytes // KIB} KB (the arena is "
                              f"{arena / KIB:,.0f} KB). A smaller input shrinks the arena.")
    if ms > budget:
        heavy = max(profile.ops, key=lambda op: op.instructions)
        return Verdict(False, f"it fits, but takes about {ms:,.0f} ms an invoke with {kernels} "
                              f"kernels ({1000 / ms:.2f} a second, {fps:g} wanted). Its costliest "
                              f"op is #{heavy.index} {heavy.op}. Try the CMSIS-NN kernels, a "
                              f"smaller input or fewer channels.")
    unfitted = sorted({op.key for op in profile.ops if not op.fitted})
    caveat = (f" The cost model has no formula for {', '.join(unfitted)}: that part is a "
              f"guess." if unfitted else "")
    return Verdict(True, f"{side}x{side} pixels in, about {ms:,.1f} ms an invoke with {kernels} "
                         f"kernels on the {board.name} ({1000 / ms:,.1f} a second, {fps:g} "
                         f"wanted), {ram / KIB:,.0f} KB of its {board.ram_bytes // KIB} KB "
                         f"RAM. How large can the input grow before the budget breaks, and "
                         f"what does emulate(model, 'qemu-cortex-m4', kernels=...) measure?"
                         f"{caveat}")
