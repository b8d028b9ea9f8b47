"""The exercise checks of notebooks/16_predict_the_board.ipynb (tflm_edu.exercises.nb16).

As in test_exercises_nb10_15.py: every check is tried with the right answer, computed here
independently of the check (by hand, by brute force or through another path of the library),
which must give correct=True; with wrong answers, which must give False and a hint; and with
the starter's `...`, which must give None. The structural tests read the notebook: at least
three exercises in the agreed form, starters unanswered in the committed outputs, solutions
without outputs, no bare asserts and no frozen progress bars.

After executing the notebook, clear its solutions' outputs:
    jupyter nbconvert --to notebook --inplace --TagRemovePreprocessor.enabled=True \
        --TagRemovePreprocessor.remove_all_outputs_tags solution notebooks/16_predict_the_board.ipynb
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from tflm_edu.exercises import NOT_ANSWERED, Verdict

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "16_predict_the_board.ipynb"


def right(verdict):
    assert isinstance(verdict, Verdict)
    assert verdict.correct is True, verdict.message
    assert verdict.message


def wrong(verdict):
    assert isinstance(verdict, Verdict)
    assert verdict.correct is False, verdict.message
    assert len(verdict.message) > 20          # a hint, not just "no"
    return verdict.message


def unanswered(verdict):
    assert isinstance(verdict, Verdict)
    assert verdict.correct is None
    assert verdict.message


# ----------------------------------------------------------------------------- 16.1


def _profile(target: str, instructions: float):
    from tflm_edu.profile.cost_model import OpPrediction, Profile
    ops = [OpPrediction(0, "CONV_2D", "CONV_2D/int8", instructions * 0.75, True),
           OpPrediction(1, "SOFTMAX", "SOFTMAX/int8", instructions * 0.25, True)]
    return Profile(target, "reference", ops)


def test_invoke_milliseconds():
    from tflm_edu.boards import BOARDS
    from tflm_edu.exercises.nb16 import check_invoke_milliseconds
    from tflm_edu.profile.cost_model import CPI
    edge = BOARDS["sparkfun_edge"]
    profile = _profile("cortex-m4", 2_000_000)
    by_hand = 2_000_000 * CPI["cortex-m4"] / 48e6 * 1000           # 48 MHz, in ms
    right(check_invoke_milliseconds(by_hand, profile, edge))
    right(check_invoke_milliseconds(round(by_hand, 2), profile, "sparkfun_edge"))
    assert "CPI" in wrong(check_invoke_milliseconds(2_000_000 / 48e6 * 1000, profile, edge))
    assert "unit" in wrong(check_invoke_milliseconds(by_hand / 1000, profile, edge))
    assert "64 MHz" in wrong(check_invoke_milliseconds(
        2_000_000 * CPI["cortex-m4"] / 64e6 * 1000, profile, edge))      # the Nano's clock
    wrong(check_invoke_milliseconds(by_hand * 2, profile, edge))
    wrong(check_invoke_milliseconds("fast", profile, edge))
    unanswered(check_invoke_milliseconds(NOT_ANSWERED, profile, edge))
    m7 = _profile("cortex-m7", 2_000_000)
    right(check_invoke_milliseconds(2_000_000 * CPI["cortex-m7"] / 216e6 * 1000, m7,
                                    BOARDS["stm32f746"]))


# ----------------------------------------------------------------------------- 16.2


def _rows():
    return [
        {"model": "a", "index": 0, "op": "CONV_2D", "predicted": 1_050_000.0, "measured": 1_000_000.0},
        {"model": "a", "index": 1, "op": "SOFTMAX", "predicted": 900.0, "measured": 1_200.0},
        {"model": "b", "index": 0, "op": "CONV_2D", "predicted": 5_400_000.0, "measured": 5_000_000.0},
        {"model": "b", "index": 1, "op": "RESHAPE", "predicted": 210.0, "measured": 240.0},
    ]


def test_worst_op():
    from tflm_edu.exercises.nb16 import check_worst_op
    rows = _rows()
    relative = {(r["model"], r["index"]): abs(r["predicted"] - r["measured"]) / r["measured"]
                for r in rows}
    worst = max(relative, key=relative.get)                 # brute force
    assert worst == ("a", 1)
    verdict = check_worst_op(worst, rows)
    right(verdict)
    assert "data-dependent" in verdict.message           # SOFTMAX: why it is off
    right(check_worst_op(["a", 1], rows))
    assert "relative" in wrong(check_worst_op(("b", 0), rows))     # the largest in instructions
    wrong(check_worst_op(("a", 0), rows))
    assert "no row" in wrong(check_worst_op(("c", 3), rows))
    wrong(check_worst_op("a", rows))
    unanswered(check_worst_op(NOT_ANSWERED, rows))
    small = [dict(r, predicted=r["measured"] * 1.01) for r in rows]
    small[3]["predicted"] = 300.0                             # the RESHAPE, a small op
    verdict = check_worst_op(("b", 1), small)
    right(verdict)
    assert "counter" in verdict.message
    small[3]["fitted"] = False                                # no formula of its own
    assert "no formula" in check_worst_op(("b", 1), small).message


# ----------------------------------------------------------------------------- 16.3


def _milliseconds_by_hand(model, target, kernels, clock_hz):
    """Sum of every op's formula over its loop counts, x CPI / clock (not Profile)."""
    from tflm_edu.profile.cost_model import CPI, CostModel
    from tflm_edu.profile.features import model_features
    cost = CostModel.load(target, kernels)
    total = 0.0
    for features in model_features(model, kernels):
        formula, _ = cost.formula_for(features.key)
        total += max(sum(c * features.values.get(n, 0.0)
                         for n, c in formula.coefficients.items()), 0.0)
    return total * CPI[target] / clock_hz * 1000


def test_meets_budget():
    from tflm_edu.arena_size.examples import small_conv_net, tiny_dense_net
    from tflm_edu.boards import BOARDS
    from tflm_edu.exercises.nb16 import check_meets_budget
    from tflm_edu.schema import write_model
    model = small_conv_net(64)
    ms = _milliseconds_by_hand(model, "cortex-m4", "cmsis_nn", BOARDS["sparkfun_edge"].clock_hz)
    verdict = check_meets_budget(model, "cmsis_nn", fps=0.5 * 1000 / ms)
    right(verdict)
    assert f"{ms:,.1f} ms" in verdict.message
    right(check_meets_budget(write_model(model), "cmsis_nn", fps=0.5 * 1000 / ms))   # bytes
    assert "fits" in wrong(check_meets_budget(model, "cmsis_nn", fps=2 * 1000 / ms))
    ms_m7 = _milliseconds_by_hand(model, "cortex-m7", "reference",
                                  BOARDS["stm32f746"].clock_hz)
    right(check_meets_budget(model, "reference", board="stm32f746", fps=0.9 * 1000 / ms_m7))
    wrong(check_meets_budget(model, "reference", board="stm32f746", fps=1.1 * 1000 / ms_m7))
    assert "64x64" in wrong(check_meets_budget(small_conv_net(32), "cmsis_nn", fps=1e-6))
    assert "not an image" in wrong(check_meets_budget(tiny_dense_net(), "cmsis_nn", fps=1e-6))
    assert "does not fit" in wrong(check_meets_budget(small_conv_net(512), "cmsis_nn",
                                                      fps=1e-6))   # its arena: > 384 KB
    wrong(check_meets_budget(model, "fast", fps=1e-6))
    wrong(check_meets_budget(b"not a model", "cmsis_nn", fps=1e-6))
    unanswered(check_meets_budget(NOT_ANSWERED, NOT_ANSWERED))
    unanswered(check_meets_budget(model, NOT_ANSWERED))


# ----------------------------------------------------------------------------- the notebook


def _cells():
    return json.loads(NOTEBOOK.read_text())["cells"]


def _text(cell) -> str:
    return "".join(cell["source"])


# The exercises' structure (starter, hidden solution, check) and the absence of bare asserts
# and frozen progress bars are checked for 16 with 10-15, in test_exercises_nb10_15.py.


def test_notebook_has_run_in_fast_mode_and_reads_its_figures_from_the_run():
    """Every code cell has been executed (the committed notebook shows its outputs), and
    the prose does not quote figures of the run: those are printed by the cells."""
    cells = _cells()
    code = [c for c in cells if c["cell_type"] == "code"
            and "solution" not in c["metadata"].get("tags", [])]
    assert all(c.get("execution_count") for c in code)
    prose = "\n".join(_text(c) for c in cells if c["cell_type"] == "markdown")
    assert not re.search(r"\d[\d,]*\.?\d*\s*(%|ms\b|instructions\b|ulp\b)", prose), \
        re.search(r"\d[\d,]*\.?\d*\s*(%|ms\b|instructions\b|ulp\b)", prose).group(0)
