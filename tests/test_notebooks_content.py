"""What notebooks 10-14 claim, checked on the notebooks' own objects; and, for every saved
notebook, no frozen progress bars and no training result stated as a fixed figure in prose.

The notebooks used to carry bare `assert` cells under what they showed; learners now see
printed facts there, and the asserts live here. Each test runs one notebook's code cells in
order, in fast mode, in one namespace (as a kernel would; nbval runs them too, but only
checks that nothing raises), and after the cell that contains a marker runs the checks
written for that point - while the objects are as that cell left them. It also checks every
exercise as it runs: the starter cell's check says "not answered yet", the solution's says
"right". (Notebook 15 drives emulated boards for a minute and has no such claims; its
exercise checks are tested in test_exercises_nb10_15.py.)
"""
from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def run_notebook(name: str, checks: dict, monkeypatch) -> dict:
    """Run the code cells of notebooks/<name>.ipynb; after the cell containing each key of
    `checks`, call its function with the namespace. Returns the namespace."""
    import matplotlib
    import matplotlib.pyplot as plt

    from tflm_edu.exercises import Verdict
    monkeypatch.chdir(NOTEBOOKS)
    monkeypatch.setenv("TFLM_EDU_FAST", "1")
    cells = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text())["cells"]
    namespace = {"__name__": "__main__"}
    pending = dict(checks)
    with matplotlib.rc_context():
        matplotlib.use("Agg")
        for k, cell in enumerate(cells):
            if cell["cell_type"] != "code":
                continue
            source = "".join(cell["source"])
            value = _run_cell(source, namespace, f"{name} cell {k}")
            role = _exercise_role(cells, k)
            if role is not None:
                assert isinstance(value, Verdict), f"{name} cell {k} does not end in a check"
                expected = {"starter": None, "solution": True}[role]
                assert value.correct is expected, f"{name} cell {k} ({role}): {value}"
            for marker in [m for m in pending if m in source]:
                pending.pop(marker)(namespace)
            plt.close("all")
    assert not pending, f"markers not found in {name}: {list(pending)}"
    return namespace


def _run_cell(source: str, namespace: dict, where: str):
    """exec a cell like a kernel does; returns the value of a last expression, if any."""
    tree = ast.parse(source)
    last = tree.body[-1] if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    body = ast.Module(tree.body[:-1] if last else tree.body, type_ignores=[])
    exec(compile(body, where, "exec"), namespace)
    if last is None:
        return None
    return eval(compile(ast.Expression(last.value), where, "eval"), namespace)


def _exercise_role(cells, k):
    """'starter' or 'solution' for the two code cells after an exercise heading, else None."""
    for offset, role in ((1, "starter"), (2, "solution")):
        if k - offset >= 0 and cells[k - offset]["cell_type"] == "markdown" and \
                "".join(cells[k - offset]["source"]).startswith("### Exercise "):
            return role
    return None


# ----------------------------------------------------------------------------- 10 training


def test_training_notebook(monkeypatch):
    def sine_fit(ns):
        grid, predicted = ns["grid"], ns["predicted"]
        assert np.abs(predicted - np.sin(grid)).max() < 0.2

    run_notebook("10_training", {
        'conv = train.Conv2D(8, (10, 8)': lambda ns: (
            _equal(ns["conv"].output_shape, (25, 20, 8)),
            _equal(ns["conv"].count_params(), 10 * 8 * 1 * 8 + 8)),
        "rows = padding_1d(": lambda ns: _equal(
            (ns["rows"].out, ns["rows"].before, ns["rows"].after), (25, 4, 5)),
        "errors = train.gradient_errors(": lambda ns: _below(max(ns["errors"].values()), 1e-6),
        "model = train.hello_world(seed=0)": lambda ns: _equal(ns["model"].count_params(),
                                                               (1 * 16 + 16) + (16 * 16 + 16)
                                                               + (16 * 1 + 1)),
        # the noise alone costs 0.1² = 0.01
        "history = model.fit(": lambda ns: _below(ns["history"]["val_loss"][-1], 0.02),
        "predicted = model.predict(grid)": sine_fit,
        "tiny_conv = train.micro_speech_tiny_conv(": lambda ns: (
            _equal(ns["tiny_conv"].count_params(), 648 + 4000 * 4 + 4),
            _equal(ns["tiny_conv"].output_shape, (4,))),
    }, monkeypatch)


# ----------------------------------------------------------------------------- 11 data


def test_data_notebook(monkeypatch):
    import tflm_edu.datasets as ds

    def batches(ns):
        assert ns["audio"].dtype == np.int16 and ns["audio"].shape == (8, 16000)
        assert np.array_equal(ns["audio"], ns["again"])

    def person(ns):
        assert ns["images"].shape[1:] == (96, 96)
        assert sorted(ns["labels"]) == sorted(ns["same_labels"])

    def test_image(ns):
        if ns["reference"].exists():
            assert ns["same"] is True

    run_notebook("11_data", {
        "total = sum(": lambda ns: _below(ns["total"], 8 * 2**20),   # samples stay small
        'print(ds.which_set("right/a69b9b3e_nohash_0.wav"': lambda ns: (
            _equal(ds.which_set("right/a69b9b3e_nohash_0.wav", 10, 10), "validation"),
            _equal(len(ns["sets"]), 1)),
        "speech = ds.bundled_speech(": lambda ns: _equal(
            ns["speech"].words_list, ["_silence_", "_unknown_", "yes", "no"]),
        'audio, labels = speech.get_data(8, 0, "training", seed=0)': batches,
        "def loudness(clip):": lambda ns: _equal(ns["features"].shape, (8, 50)),
        'recordings = ds.load_magic_wand(': lambda ns: _equal(
            {r.gesture for r in ns["recordings"]}, {"wing", "ring", "slope", "negative"}),
        "windows, labels = ds.make_windows(recordings, seed=0, augment=True)": lambda ns: _equal(
            ns["windows"].shape, (len(ns["recordings"]) * 25 * 2, 128, 3)),
        "x = ds.wand_input(stream)": lambda ns: (
            _equal(ns["x"].shape, (1, 128, 3, 1)), _equal(ns["x"].dtype, np.float32)),
        "images, labels = ds.load_person_detection(root)": person,
        "x = ds.camera_input(frame)": lambda ns: (
            _equal(ns["x"].shape, (1, 96, 96, 1)), _equal(ns["x"].dtype, np.int8)),
        'reference = Path("..")': test_image,
    }, monkeypatch)


# ----------------------------------------------------------------------------- 12 quantization


def test_quantization_notebook(monkeypatch):
    pytest.importorskip("tflite_micro")      # the notebook compares with the real TFLM
    from tflm_edu.convert import check_model
    from tflm_edu.convert.quantize import asymmetric_params
    from tflm_edu.quantization import affine_dequantize, affine_quantize

    def affine(ns):
        scale, zero_point, r, q = ns["scale"], ns["zero_point"], ns["r"], ns["q"]
        assert affine_quantize(np.float32(0.0), scale, zero_point) == zero_point   # 0.0 exact
        inside = (r > -1.3) & (r < 4.2)
        assert np.abs(affine_dequantize(q, scale, zero_point) - r)[inside].max() <= scale / 2 + 1e-6

    def after_relu(ns):
        rng = ns["after_relu"]
        assert rng.min >= 0 and asymmetric_params(rng.min, rng.max)[1] == -128

    def per_channel(ns):
        assert ns["err_channel"].mean() <= ns["err_tensor"].mean()
        assert np.isclose(ns["s_tensor"][0], ns["s_channel"].max())

    def multiplier(ns):
        m, shift, real = ns["multiplier"], ns["shift"], ns["real"]
        assert 2**30 <= m < 2**31
        assert abs(m * 2.0 ** (shift - 31) - real) < real * 2**-30

    def tflm(ns):
        assert "real" in ns and not isinstance(ns["real"], float), "tflite-micro must be installed"
        assert ns["real"].get_output(0).tobytes() == ns["ours"].get_output(0).tobytes()

    def sqnr(ns):
        report = ns["report"]
        assert all(layer.sqnr_db > 20 for layer in report.layers)
        assert abs(report.float_accuracy - report.int8_accuracy) <= 0.02

    def deploy(ns):
        assert not [f for f in check_model(ns["int8_model"], board="nano33ble")
                    if f.severity == "error"]
        assert f"g_magic_wand_model_len = {len(ns['int8_tflite'])};" in ns["cc"]

    run_notebook("12_quantization", {
        'print("0.0 -> code"': affine,
        "float_tflite = write_model(float_model)": lambda ns: _equal(ns["same"], True),
        "after_relu = ranges[": after_relu,
        "mean rounding error: per channel": per_channel,
        "for channel in range(3):": multiplier,
        "real = runtime.Interpreter.from_bytes(int8_tflite": tflm,
        "report = quantization_report(float_model, int8_model": sqnr,
        'cc, h = to_c_array(int8_tflite, "g_magic_wand_model")': deploy,
    }, monkeypatch)


# ----------------------------------------------------------------------------- 13 memory


def test_memory_notebook(monkeypatch):
    pytest.importorskip("tflite_micro")      # the notebook compares with the real TFLM
    from tflm_edu.arena_size import estimate_arena_size, oracle

    def plans(ns):
        head = ns["interpreter"].arena.head_bytes
        assert ns["linear"] >= ns["greedy"] >= ns["lower_bound"]
        assert ns["greedy"] == head                  # the interpreter planned the same way
        assert not ns["plans"]["greedy"].do_any_buffers_overlap()

    def host_estimate(ns):
        e = ns["estimate"]
        assert sum(e.breakdown.values()) == e.arena_bytes
        assert e.head_bytes == ns["interpreter"].arena.head_bytes
        assert e.arena_bytes == e.head_bytes + e.temp_bytes + e.tail_bytes

    def cortex_m(ns):
        assert ns["on_device"].head_bytes == ns["estimate"].head_bytes
        assert ns["on_device"].tail_bytes < ns["estimate"].tail_bytes

    def tiny(ns):
        e = ns["tiny_estimate"]
        assert e.temp_bytes > 0 and e.binding.phase == "plan memory"
        assert e.arena_bytes > e.head_bytes + e.tail_bytes

    def real_tflm(ns):
        assert ns["runtime"] is not None, "tflite-micro must be installed"
        for m in (ns["model"], ns["tiny"]):
            assert abs(estimate_arena_size(m).arena_bytes - oracle.smallest_arena_tflm(m)) <= 16

    def one_byte_less(ns):
        assert oracle.tflm_accepts(ns["data"], ns["n"])
        assert not oracle.tflm_accepts(ns["data"], ns["n"] - 1)

    def arena_numbers(ns):
        """Section 9: every figure computed, and the figures agree with one another."""
        from tflm_edu.deploy.firmware import arena_with_margin
        host, cortex_m, numbers = ns["host"], ns["cortex_m"], dict(ns["numbers"])
        assert host.arena_bytes == host.head_bytes + host.temp_bytes + host.tail_bytes
        assert host.arena_bytes == ns["interpreter"].arena.size
        assert host.arena_bytes == ns["tflm_smallest"]["person_detect"]    # the real TFLM
        assert cortex_m.head_bytes == host.head_bytes and cortex_m.tail_bytes < host.tail_bytes
        assert ns["firmware_arena"] == arena_with_margin(cortex_m.arena_bytes)
        used = next(n for what, n in ns["numbers"] if "arena_used_bytes" in what)
        assert cortex_m.head_bytes + cortex_m.tail_bytes <= used < ns["firmware_arena"]
        assert len(numbers) == len(ns["numbers"]) >= 10      # one line per figure

    run_notebook("13_memory", {
        "planned = [b for b in interpreter.buffers if b.bytes > 0]": lambda ns: _equal(
            ns["interpreter"].arena.head_bytes,
            ns["interpreter"].planner.get_maximum_memory_size()),
        "live = live_bytes_per_step(interpreter.buffers)": lambda ns: (
            _below(ns["lower_bound"], ns["interpreter"].arena.head_bytes + 1),
            _below(0, ns["peak"])),
        "linear, greedy = (plans[k]": plans,
        'estimate = estimate_arena_size(model, target="host"': host_estimate,
        "on_device = estimate_arena_size(": cortex_m,
        "tiny_estimate = estimate_arena_size(": tiny,
        "theirs = oracle.smallest_arena_tflm(m)": real_tflm,
        "oracle.tflm_accepts(data, n - 1)": one_byte_less,
        "in_firmware = replay(": arena_numbers,
    }, monkeypatch)


# ----------------------------------------------------------------------------- 14 interpreter


def test_interpreter_notebook(monkeypatch):
    pytest.importorskip("tflite_micro")      # the notebook compares with the real TFLM
    def picture(ns):
        assert ns["x_tensor"].data.dtype == np.int8 and ns["x_tensor"].data.std() > 10

    def plan(ns):
        interpreter = ns["interpreter"]
        assert not ns["planner"].do_any_buffers_overlap()
        assert interpreter.arena.head_bytes == ns["planner"].get_maximum_memory_size()

    def written(ns):
        debugger, interpreter = ns["debugger"], ns["interpreter"]
        assert [b.tensor_index for b, w in debugger.live_buffers() if w] == \
            list(interpreter.nodes[1].outputs)

    def explained(ns):
        e, out, element = ns["e"], ns["out"], ns["element"]
        assert e.value == out.data[element]
        assert e.steps[0][1] == sum(t.product for t in e.taps)

    def stream(ns):
        answers = ns["answers"]
        assert len(set(answers)) > 1                 # the same frame, different answers
        assert ns["after_reset"] == answers[0]

    run_notebook("14_inside_the_interpreter", {
        "x_tensor.data[...] = x": picture,
        "ops = [node.op_name for node in interpreter.nodes]": lambda ns: _equal(
            ns["ops"][-1], "SOFTMAX"),
        "planner = interpreter.planner": plan,
        "live = live_bytes_per_step(interpreter.buffers)": lambda ns: _below(
            max(ns["live"]), ns["interpreter"].arena.head_bytes + 1),
        "debugger.step()\ndebugger.step()": lambda ns: _equal(
            ns["debugger"].highlighted_index, 1),
        "written = [b.name for b, is_written": written,
        "debugger.run_to(len(interpreter.nodes) - 1)": lambda ns: _equal(
            np.array_equal(ns["interpreter"].input(0).data, ns["x"]), True),
        "e = debugger.explain(element)": explained,
        "checked = matched = 0": lambda ns: _equal(ns["matched"], ns["checked"]),
        "report = compare_layers(model, inputs=[x])": lambda ns: _equal(
            ns["report"].matches, True),
        "bad = compare_layers(model, inputs=[x], interpreter=broken)": lambda ns: _equal(
            ns["bad"].first_divergent_op, 5),
        "profile = interpreter.profile()": lambda ns: _below(
            0, sum(p["macs"] for p in ns["profile"])),
        "answers = [int(stream.output(0).data.item())]": stream,
        'print("real TFLM:", theirs[:3]': lambda ns: _equal(
            ns["theirs"], ns["answers"] + [ns["after_reset"]]),
        'print("real TFLM gives the same three runs:"': lambda ns: _equal(
            ns["theirs"], ns["runs"]),
    }, monkeypatch)


# ----------------------------------------------------------------------------- every notebook
# Static checks of the saved notebooks (nothing is executed).


def _outputs(notebook):
    for k, cell in enumerate(notebook["cells"]):
        for output in cell.get("outputs", []):
            yield k, output


def _strip_widgets():
    """notebooks/strip_widgets.py, imported from its path (it is a script, not a module)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("strip_widgets",
                                                  NOTEBOOKS / "strip_widgets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_no_saved_notebook_shows_a_progress_bar(path):
    """A tqdm bar saved in a notebook shows frozen (at "0%", or as `HBox(children=...` text)
    to whoever opens it: run notebooks/strip_widgets.py after executing a notebook."""
    notebook = json.loads(path.read_text())
    state = notebook.get("metadata", {}).get("widgets", {}).get(
        "application/vnd.jupyter.widget-state+json", {}).get("state", {})
    progress = {m for m, model in state.items()
                if model.get("model_name") in ("FloatProgressModel", "IntProgressModel")}
    assert not progress, f"{path.name}: progress-bar widget state {sorted(progress)}"
    for k, output in _outputs(notebook):
        texts = ["".join(output.get("text", ""))] + [
            "".join(value) for key, value in output.get("data", {}).items()
            if key.startswith("text/")]
        assert not any("0%|" in t or "%|" in t and "it/s" in t for t in texts), \
            f"{path.name} cell {k}: a tqdm text bar"
        view = output.get("data", {}).get("application/vnd.jupyter.widget-view+json")
        if view is not None:
            plain = "".join(output["data"].get("text/plain", ""))
            assert "Progress(" not in plain and "%|" not in plain, \
                f"{path.name} cell {k}: a tqdm widget"
    assert _strip_widgets().bars_in(
        _strip_widgets().nbformat.read(path, as_version=4)) == []


def test_strip_widgets_removes_bars_and_keeps_other_widgets(tmp_path):
    """A notebook as nbconvert saves it after tqdm.auto ran in a kernel with ipywidgets, beside
    another widget: the bar's output, its models and its text go; the other widget stays."""
    import nbformat
    strip_widgets = _strip_widgets()

    def model(name, **state):
        return {"model_module": "@jupyter-widgets/controls", "model_module_version": "2.0.0",
                "model_name": name, "state": state}
    view = "application/vnd.jupyter.widget-view+json"
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {
        "state": {"box": model("HBoxModel", children=["IPY_MODEL_label", "IPY_MODEL_bar"],
                               layout="IPY_MODEL_box_layout"),
                  "box_layout": model("LayoutModel"), "label": model("HTMLModel", value=""),
                  "bar": model("FloatProgressModel", value=0, max=10),
                  "slider": model("IntSliderModel", layout="IPY_MODEL_slider_layout"),
                  "slider_layout": model("LayoutModel")},
        "version_major": 2, "version_minor": 0}}
    bar = nbformat.v4.new_output("display_data", data={
        view: {"model_id": "box", "version_major": 2, "version_minor": 0},
        "text/plain": "  0%|          | 0/10 [00:00<?, ?it/s]"})
    text_bar = nbformat.v4.new_output("stream", name="stderr",
                                      text="\rcalibrating:   0%|          | 0/5 [00:00<?, ?it/s]"
                                           "\rcalibrating: 100%|##########| 5/5 [00:00<00:00]\n")
    printed = nbformat.v4.new_output("stream", name="stdout", text="done\n")
    slider = nbformat.v4.new_output("execute_result", execution_count=2, data={
        view: {"model_id": "slider", "version_major": 2, "version_minor": 0},
        "text/plain": "IntSlider(value=3)"})
    notebook.cells = [nbformat.v4.new_code_cell("fit()", outputs=[bar, text_bar, printed]),
                      nbformat.v4.new_code_cell("slider", outputs=[slider])]
    path = tmp_path / "saved.ipynb"
    nbformat.write(notebook, path)
    assert strip_widgets.main(["--check", str(path)]) == 1
    assert strip_widgets.main([str(path)]) == 0
    cleaned = nbformat.read(path, as_version=4)
    assert strip_widgets.bars_in(cleaned) == [] and strip_widgets.main(["--check", str(path)]) == 0
    assert [o.get("text") for o in cleaned.cells[0].outputs] == ["done\n"]
    assert cleaned.cells[1].outputs[0]["data"][view]["model_id"] == "slider"
    assert sorted(strip_widgets.widget_state(cleaned)) == ["slider", "slider_layout"]
    before = path.read_bytes()
    strip_widgets.main([str(path)])                   # nothing left to remove: not rewritten
    assert path.read_bytes() == before


# Training results move from run to run (seeds, thread counts), so the prose of the example
# notebooks must not state them as fixed figures: it reads them from what the cell above
# prints. These are the forms such figures took ("reaches **80%**", "about 61%", "(96%
# against 83%)", "MSE 0.0128", "stops near 90%").
RUN_FIGURES = [
    (r"\*\*\d+(\.\d+)?%\*\*", "a bold percentage"),
    (r"(about|near|reaches|only|climbs close to|stops near|ends at) \d+(\.\d+)?%",
     "an accuracy stated as fixed"),
    (r"\(\d+(\.\d+)?% against \d+(\.\d+)?%\)", "two accuracies stated as fixed"),
    (r"\bMSE (of )?\d\.\d{3,}", "an MSE stated as fixed"),
    (r"\bloss (of )?\d\.\d{2,}", "a loss stated as fixed"),
]


@pytest.mark.parametrize("name", ["00_welcome", "01_hello_world", "02_micro_speech",
                                  "03_magic_wand", "04_person_detection", "10_training",
                                  "11_data", "13_memory", "14_inside_the_interpreter",
                                  "15_deploy"])
def test_prose_reads_training_results_from_the_run(name):
    """No markdown cell states a training result as a fixed figure. A range measured over
    seeds (benchmarks/bench_seeds.py: "86-91%", "from 0.0109 to 0.0137") is allowed: it says
    how much the figure varies, which a rerun cannot contradict."""
    import re
    cells = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text())["cells"]
    for k, cell in enumerate(cells):
        if cell["cell_type"] != "markdown":
            continue
        text = " ".join("".join(cell["source"]).split())
        for pattern, what in RUN_FIGURES:
            match = re.search(pattern, text)
            assert match is None, f"{name} cell {k}: {what}: {match.group(0)!r}"


# ----------------------------------------------------------------------------- helpers


def _equal(a, b):
    assert a == b, f"{a!r} != {b!r}"


def _below(a, b):
    assert a < b, f"{a!r} is not below {b!r}"

