"""What notebook 12's section 8 (int16x8 and quantization-aware training where post-training
quantization loses) says, checked on its own objects.

Like tests/test_notebooks_content.py, but only the cells section 8 needs: the imports, the
data (section 2's cell, which also trains section 2's model) and section 8 itself, in fast
mode, in one namespace, with checks after the cells that print what the prose describes.
The prose quotes no figures; these checks hold its words to the printed values.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from test_notebooks_content import NOTEBOOKS, _run_cell

NOTEBOOK = NOTEBOOKS / "12_quantization.ipynb"


def section8_cells() -> list[str]:
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    sources = ["".join(c["source"]) for c in cells]
    start = next(k for k, s in enumerate(sources) if s.startswith("## 8 "))
    data = next(k for k, s in enumerate(sources) if "x_train, y_train = make_gesture_dataset" in s)
    picked = [1, data] + list(range(start, len(cells)))
    return [sources[k] for k in picked if cells[k]["cell_type"] == "code"]


def outlier(ns):
    """One channel takes the codes: the others reach a step or two, and the next conv's
    weights on it round to 0 - while the float model is unchanged."""
    assert np.array_equal(ns["awkward"].predict(ns["x_test"]), ns["wand"].predict(ns["x_test"]))
    reach = np.round(ns["reach"]).astype(int)   # the loop's last model: the outlier one
    assert reach[0] == 255 and reach[1:].max() <= 2, reach
    assert np.abs(ns["next_weights"][..., 0]).max() == 0


def ptq(ns):
    r = ns["results"]
    assert abs(r["PTQ int8, without the outlier"] - r["float"]) <= 0.02
    assert r["PTQ int8"] < r["float"] - 0.25              # "loses much of it"
    assert r["PTQ int16x8"] - r["PTQ int8"] > 0.5 * (r["float"] - r["PTQ int8"])   # most of it
    assert r["PTQ int16x8"] < r["float"]                  # "though not all of it"


def qat(ns):
    r = ns["results"]
    loss = r["float"] - r["PTQ int8"]
    assert r["QAT int8"] - r["PTQ int8"] > 0.5 * loss
    assert r["control: fine-tuned, PTQ int8"] - r["PTQ int8"] < 0.5 * loss
    assert r["QAT int8"] > r["control: fine-tuned, PTQ int8"] + 0.1


def ranges(ns):
    """The first conv's learned range stays wide (the outlier is still there)."""
    graph = ns["graph8"]
    first = graph.operators[0].outputs[0]
    assert ns["qat_model"].ranges[first].max > 0.5 * ns["ptq_ranges"][first].max
    assert set(ns["qat_model"].ranges) == {graph.inputs[0]} | {
        i for i, name in ns["producer"].items() if name not in ("MAX_POOL_2D", "SOFTMAX")}


def agreement(ns):
    assert all(a.max_steps <= 1 for a in ns["qat"].op_agreement(ns["qat_model"], ns["qat_int8"],
                                                                   ns["x_test"][:20]))
    assert np.mean(ns["fake"].argmax(1) == ns["qat_out"].argmax(1)) >= 0.99


def tflm(ns):
    assert "on_tflm" in ns, "tflite-micro must be installed"
    assert ns["on_tflm"].tobytes() == ns["on_ours"].tobytes()


def seeds(ns):
    """Every seed's row: PTQ int8 far below float, int16x8 and QAT win back most of the
    loss, the control far less."""
    for seed, (flt, int8, int16, qat_int8, control) in ns["seeds"].items():
        loss = flt - int8
        assert loss > 0.25, seed
        assert int16 - int8 > 0.5 * loss and qat_int8 - int8 > 0.5 * loss, seed
        assert control - int8 < 0.5 * loss and qat_int8 > control + 0.1, seed


CHECKS = {
    "awkward = qat.outlier_channel(": outlier,
    '"PTQ int16x8": test_accuracy(': ptq,
    'results["QAT int8"] = test_accuracy(qat_int8)': qat,
    "ptq_ranges = calibrate(awkward_float": ranges,
    "for agreement in qat.op_agreement(": agreement,
    "on_tflm = run_model(runtime.Interpreter": tflm,
    "seeds.update(": seeds,
}


def test_section_8_shows_what_it_says(monkeypatch):
    pytest.importorskip("tflite_micro")      # the section runs the QAT model in the real TFLM
    import matplotlib
    import matplotlib.pyplot as plt
    monkeypatch.chdir(NOTEBOOKS)
    monkeypatch.setenv("TFLM_EDU_FAST", "1")
    namespace, pending = {"__name__": "__main__"}, dict(CHECKS)
    with matplotlib.rc_context():
        matplotlib.use("Agg")
        for k, source in enumerate(section8_cells()):
            _run_cell(source, namespace, f"12_quantization section 8, cell {k}")
            for marker in [m for m in pending if m in source]:
                pending.pop(marker)(namespace)
            plt.close("all")
    assert not pending, f"markers not found: {list(pending)}"
