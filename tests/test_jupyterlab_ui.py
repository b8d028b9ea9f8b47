"""The course in a real JupyterLab 4, in headless Chromium, as a learner sees it.

- Every notebook in notebooks/ is opened in JupyterLab and run with Run > Run All Cells (in
  fast mode, TFLM_EDU_FAST=1, as nbval runs them). The test fails, naming the notebook and
  the cell, on an error output or a traceback, a cell left unrun, a figure missing where the
  cell draws one, or a widget shown as plain text ("VBox(children=...") instead of a widget.
- The StepDebugger: run its cell, click Step, and check that the highlighted op advanced.

One JupyterLab server and one browser serve the whole module; the notebooks run one after
another, each in a fresh page and its own kernel, shut down afterwards. The server is rooted
in a temporary copy of notebooks/, so nothing a run writes (build/, autosaves) reaches the
repository; ../shared beside the copy links to the repository's ../shared, so paths the
notebooks take relative to their folder find what they find under nbval.

The kernels draw with matplotlib's inline backend (the one JupyterLab gives them): with
MPLBACKEND=Agg, which CI exports for nbval, display(fig) shows only "<Figure size ...>".

Needs Debian's chromium (apt-get install -y chromium) and playwright's Python client
(pip install playwright; its own browser download is not used). Skips, saying which one
is missing, when either is absent.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SHARED = ROOT.parent / "shared"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SERVER_START_SECONDS = 60
UI_TIMEOUT_MS = 45_000  # generous: CI machines are slow, and the first kernel start is slowest
NOTEBOOK_SECONDS = 420  # one notebook, all cells, fast mode (the slowest takes about 2 minutes)
WIDGET_SETTLE_SECONDS = 15  # widget views render asynchronously, after their cell finishes
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"

DEBUGGER_NOTEBOOK = "zz_step_debugger.ipynb"
DEBUGGER_CELLS = [
    "from tflm_edu.arena_size.examples import small_conv_net\n"
    "from tflm_edu.debugger import StepDebugger\n"
    "debugger = StepDebugger(small_conv_net())\n"
    "debugger",
]

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
IMAGE_MIMES = ("image/png", "image/jpeg", "image/svg+xml")
# A cell whose code (comments left out) calls one of these draws a figure; defining a
# plot_... function does not.
DRAWS = re.compile(r"(?<!def )\bplot_\w+\(|\bplt\.(?:subplots|figure|imshow|plot|bar|hist)\(|"
                   r"\.plot\(|\.imshow\(|\bshown\(|\bLivePlot\(")
COMMENT = re.compile(r"#.*$", re.MULTILINE)
# How ipywidgets' widgets read as text when no widget renders them: "VBox(children=(...".
WIDGET_AS_TEXT = re.compile(
    r"^\s*(?:[A-Z]\w*(?:Box|Slider|Button|Buttons|Text|Textarea|Dropdown|Picker|Progress)|"
    r"Box|HTML|HTMLMath|Image|Label|Output|Tab|Accordion|Stack|Play|Checkbox|Valid|Select|"
    r"SelectMultiple|RadioButtons|Audio|Video|Combobox|TagsInput)\((?:children|layout|value|"
    r"description|options|outputs|msg_id)=")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_notebook(path: Path, sources: list[str]) -> None:
    cells = [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
              "id": f"cell{i}", "source": source} for i, source in enumerate(sources)]
    path.write_text(json.dumps({
        "cells": cells, "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}}}))


def _browser_or_skip():
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is not installed (pip install playwright)")
    if not (Path(CHROMIUM).is_file() or shutil.which("chromium")):
        pytest.skip(f"chromium not found at {CHROMIUM} (apt-get install -y chromium)")
    return sync_api


class Lab:
    """The module's JupyterLab server and browser."""

    def __init__(self, url, token, root, browser, sync_api):
        self.url, self.token, self.root = url, token, root
        self.browser, self.sync_api = browser, sync_api
        self.timings: dict[str, tuple[float, float, float]] = {}
        self.opened: dict[str, object] = {}    # notebook -> its page, opened ahead of its test

    def workspace(self, notebook: str) -> str:
        return "run-" + Path(notebook).stem.replace("_", "-")

    def open_ahead(self, notebook: str) -> None:
        """Open `notebook` now, so that loading JupyterLab and starting its kernel overlap
        the run of the notebook before it."""
        if notebook not in self.opened:
            self.opened[notebook] = self.open(notebook, self.workspace(notebook))

    def take(self, notebook: str):
        """`notebook`'s page: the one opened ahead, else a new one."""
        return self.opened.pop(notebook, None) or self.open(notebook, self.workspace(notebook))

    def open(self, notebook: str, workspace: str):
        """A fresh page showing `notebook` in JupyterLab (a workspace of its own, so no
        earlier notebook is restored beside it), once its kernel is idle. The page's
        uncaught JavaScript errors collect in page.errors."""
        page = self.browser.new_page(viewport={"width": 1400, "height": 1000})
        page.errors = []
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        page.set_default_timeout(UI_TIMEOUT_MS)
        try:
            page.goto(f"{self.url}/lab/workspaces/{workspace}/tree/{notebook}?token={self.token}")
            page.wait_for_function(
                """path => { const w = window.jupyterapp && jupyterapp.shell.currentWidget;
                             return !!(w && w.context && w.context.path === path && w.content
                                       && w.content.widgets.length > 0); }""", arg=notebook)
            page.wait_for_function(
                """() => { const s = jupyterapp.shell.currentWidget.sessionContext;
                           const k = s.session?.kernel;
                           return !!k && k.status === 'idle' && k.connectionStatus === 'connected'; }""")
        except BaseException:
            page.close()
            raise
        return page

    @staticmethod
    def close(page):
        """Shut the page's kernel down (so kernels do not pile up) and close it."""
        try:
            page.evaluate("() => jupyterapp.shell.currentWidget.sessionContext.shutdown()")
        finally:
            page.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on a free port with a random token and its own config, runtime,
    settings and workspace dirs, rooted in a temporary copy of notebooks/; and one headless
    Chromium. Stops both afterwards."""
    sync_api = _browser_or_skip()
    base = tmp_path_factory.mktemp("lab")
    root = base / "repo" / "notebooks"          # so "../.." is base, as the repo's parent
    root.mkdir(parents=True)
    for notebook in NOTEBOOKS:
        shutil.copy2(notebook, root / notebook.name)
    if SHARED.is_dir():
        (base / "shared").symlink_to(SHARED, target_is_directory=True)
    _write_notebook(root / DEBUGGER_NOTEBOOK, DEBUGGER_CELLS)
    settings = base / "settings"
    # Every cell stays in the page (JupyterLab would otherwise leave off-screen cells out).
    (settings / "@jupyterlab" / "notebook-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings").write_text(
        json.dumps({"windowingMode": "none"}))
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(base / "config"),
               JUPYTER_RUNTIME_DIR=str(base / "runtime"),
               JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"),
               JUPYTERLAB_SETTINGS_DIR=str(settings), IPYTHONDIR=str(base / "ipython"),
               MPLBACKEND=INLINE_BACKEND, TFLM_EDU_FAST="1", OPENBLAS_NUM_THREADS="1")
    log_path = base / "lab.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
             "--ip=127.0.0.1", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
             "--LabApp.expose_app_in_browser=True",
             "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
             "--LabApp.news_url=None"] + (["--allow-root"] if os.geteuid() == 0 else []),
            cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    playwright = browser = None
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not start within {SERVER_START_SECONDS} s:\n"
                                f"{log_path.read_text()[-2000:]}")
                time.sleep(0.5)
        playwright = sync_api.sync_playwright().start()
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        lab = Lab(url, token, root, browser, sync_api)
        yield lab
        for page in lab.opened.values():
            lab.close(page)
        if lab.timings:   # shown with pytest -s: open + run + check, in seconds
            print("\nnotebooks in JupyterLab (open + run + check): " + ", ".join(
                f"{name} {sum(t):.0f} s ({t[0]:.0f}+{t[1]:.0f}+{t[2]:.0f})"
                for name, t in lab.timings.items())
                + f"; total {sum(sum(t) for t in lab.timings.values()):.0f} s")
    finally:
        if browser is not None:
            browser.close()
        if playwright is not None:
            playwright.stop()
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()


# ----------------------------------------------------------------------------- every notebook

# Starts Run All Cells; window.__runAll says when it has finished (its promise resolves once
# every cell has run, or the run stopped at an error).
_START_RUN_ALL = """() => {
  window.__runAll = {done: false};
  jupyterapp.commands.execute('notebook:run-all-cells').then(
    ok => { window.__runAll = {done: true, ok}; },
    error => { window.__runAll = {done: true, error: String(error)}; });
}"""

# Finished, or stuck for good: the kernel died or a dialog (e.g. "Kernel Restarting") opened.
_RUN_STATE = """() => {
  const kernel = jupyterapp.shell.currentWidget.sessionContext.session?.kernel;
  const dialog = document.querySelector('.jp-Dialog');
  if (window.__runAll.done) return 'done';
  if (!kernel || ['dead', 'restarting', 'autorestarting'].includes(kernel.status))
    return 'kernel ' + (kernel ? kernel.status : 'gone');
  if (dialog) return 'dialog: ' + dialog.innerText.replace(/\\s+/g, ' ').slice(0, 300);
  return false;
}"""

# Each cell as the browser holds it: its outputs in the notebook model, and what the page
# shows for them (decoded images, widget views, texts).
_CELLS = """async () => {
  const cells = jupyterapp.shell.currentWidget.content.widgets;
  const result = [];
  for (const cell of cells) {
    const model = cell.model;
    const record = {type: model.type};
    if (model.type === 'code') {
      record.source = model.sharedModel.getSource();
      record.count = model.executionCount;
      record.running = (cell.promptNode && cell.promptNode.textContent.includes('*')) || false;
      const area = cell.node.querySelector('.jp-OutputArea') || cell.node;
      // One child per output. A widget the code closed (tqdm's bars with leave=False)
      // leaves its output hidden and empty.
      const children = [...area.querySelectorAll(':scope > .jp-OutputArea-child')];
      record.outputs = model.outputs.toJSON().map((o, j) => {
        const node = children[j] && children[j].querySelector('.jp-OutputArea-output');
        return {
          type: o.output_type, name: o.name || null, mimes: o.data ? Object.keys(o.data) : [],
          text: o.output_type === 'stream' ? [].concat(o.text).join('')
              : o.output_type === 'error' ? `${o.ename}: ${o.evalue}` : '',
          hidden: !!node && node.classList.contains('lm-mod-hidden'),
          widgets: node ? node.querySelectorAll('.jupyter-widgets').length : 0,
          shown: node ? node.innerText.slice(0, 300) : ''};
      });
      let images = 0, decoded = 0;
      for (const img of area.querySelectorAll('.jp-RenderedImage img, .jp-RenderedSVG img')) {
        images++;
        try { await img.decode(); } catch (e) {}
        if (img.naturalWidth > 0 && img.naturalHeight > 0) decoded++;
      }
      record.images = images + area.querySelectorAll('.jp-RenderedSVG > svg').length;
      record.decoded = decoded + area.querySelectorAll('.jp-RenderedSVG > svg').length;
      record.widgets = area.querySelectorAll('.jupyter-widgets').length;
      record.texts = [...area.querySelectorAll('.jp-RenderedText, .jp-RenderedHTMLCommon')]
        .map(e => e.innerText);
    }
    result.push(record);
  }
  return result;
}"""


def _saved_cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def _saved_mimes(cell: dict) -> set[str]:
    return {mime for output in cell.get("outputs", []) for mime in output.get("data", {})}


def _describe(index: int, source: str) -> str:
    first = next((line.strip() for line in source.splitlines() if line.strip()), "")
    return f"cell {index} ({first[:60]!r})"


def _kinds(outputs: list[dict]) -> str:
    kinds = [output["name"] or "/".join(output["mimes"]) or output["type"] for output in outputs]
    return ", ".join(kinds) or "none"


def _widget_text(live: dict) -> str | None:
    """The text the cell shows in place of a widget, if it does."""
    texts = live["texts"] + [output["shown"] for output in live["outputs"]
                             if WIDGET_VIEW in output["mimes"] and not output["widgets"]]
    for text in texts:
        if (WIDGET_AS_TEXT.match(text) or "Error displaying widget" in text
                or "Loading widget..." in text):
            return text.strip()[:80]
    return None


def _unrendered_widgets(live: dict) -> int:
    """How many of the cell's widget views are neither rendered nor closed."""
    return sum(WIDGET_VIEW in output["mimes"] and not output["hidden"] and not output["widgets"]
               for output in live.get("outputs", []))


def _problems(name: str, saved: list[dict], shown: list[dict], references: bool) -> list[str]:
    """What is wrong in the page, one line per problem, naming the notebook and the cell."""
    problems = []
    if len(saved) != len(shown):
        problems.append(f"{name}: the page shows {len(shown)} cells, the file has {len(saved)}")
    stopped = False
    for index, (cell, live) in enumerate(zip(saved, shown)):
        if live["type"] != "code" or not live["source"].strip():
            continue
        where = f"{name} {_describe(index, live['source'])}"
        if live["count"] is None:
            if not stopped:                        # the cells after an error are never run
                problems.append(f"{where}: was not run")
            stopped = True
            continue
        for output in live["outputs"]:
            if output["type"] == "error":
                problems.append(f"{where}: raised {output['text'][:300]}")
                stopped = True
            elif output["name"] == "stderr" and "Traceback (most recent call last)" in output["text"]:
                tail = output["text"].strip().splitlines()[-1][:300]
                problems.append(f"{where}: printed a traceback to stderr ({tail})")
        live_mimes = {mime for output in live["outputs"] for mime in output["mimes"]}
        draws = (_saved_mimes(cell) & set(IMAGE_MIMES) or live_mimes & set(IMAGE_MIMES)
                 or DRAWS.search(COMMENT.sub("", live["source"])))
        skipped = any(line.startswith("skipped") for output in live["outputs"]
                      if output["name"] == "stdout" for line in output["text"].splitlines())
        if draws and live["decoded"] == 0 and not (skipped and not references):
            problems.append(f"{where}: draws a figure but none is shown"
                            + (f" ({live['images']} image(s) did not decode)" if live["images"]
                               else f" (its outputs: {_kinds(live['outputs'])})"))
        as_text = _widget_text(live)
        if as_text:
            problems.append(f"{where}: a widget shows as text: {as_text!r}")
        elif _unrendered_widgets(live):
            problems.append(f"{where}: {_unrendered_widgets(live)} widget(s) not rendered")
        elif WIDGET_VIEW in _saved_mimes(cell) and not live["widgets"]:
            problems.append(f"{where}: shows no widget (it did when the notebook was saved; "
                            f"its outputs now: {_kinds(live['outputs'])})")
    return problems


def _settled_cells(page) -> list[dict]:
    """The cells, once no widget view is still loading (they render a moment after the page
    opens or their cell runs), or after WIDGET_SETTLE_SECONDS."""
    deadline = time.monotonic() + WIDGET_SETTLE_SECONDS
    while True:
        cells = page.evaluate(_CELLS)
        loading = any(_unrendered_widgets(c) and (_widget_text(c) or "Loading widget").startswith(
            "Loading widget") for c in cells)
        if not loading or time.monotonic() > deadline:
            return cells
        page.wait_for_timeout(500)


def _next_notebook(request) -> str | None:
    """The notebook of the next test in this session that runs one, if any."""
    items = request.session.items
    for item in items[items.index(request.node) + 1:]:
        if (getattr(item, "originalname", None) == request.node.originalname
                and getattr(item, "module", None) is request.module):
            return item.callspec.params["notebook"].name
    return None


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_notebook_runs_in_jupyterlab(lab, notebook, request):
    name = notebook.name
    saved = _saved_cells(lab.root / name)
    start = time.monotonic()
    page = lab.take(name)
    opened = time.monotonic()
    try:
        before = _settled_cells(page)
        problems = [f"{name} {_describe(i, c['source'])}: before running, a widget shows as "
                    f"text: {text!r}" for i, c in enumerate(before)
                    if c["type"] == "code" and (text := _widget_text(c))]
        page.evaluate(_START_RUN_ALL)
        following = _next_notebook(request)
        if following:
            try:
                lab.open_ahead(following)     # while this one runs
            except Exception:                 # that notebook's own test will say what failed
                pass
        try:
            state = page.wait_for_function(_RUN_STATE, timeout=NOTEBOOK_SECONDS * 1000,
                                           polling=1000).json_value()
        except lab.sync_api.TimeoutError:
            state = f"not finished after {NOTEBOOK_SECONDS} s"
        ran = time.monotonic()
        shown = _settled_cells(page)
        if state != "done":
            running = [i for i, c in enumerate(shown) if c["type"] == "code" and c["running"]]
            problems.append(f"{name}: the run did not finish ({state}); running: "
                            + (", ".join(_describe(i, shown[i]["source"]) for i in running)
                               or "no cell"))
        problems += _problems(name, saved, shown, references=(SHARED / "reference").is_dir())
        problems += [f"{name}: JavaScript error in the page: {error[:300]}" for error in page.errors]
        lab.timings[notebook.stem] = (opened - start, ran - opened, time.monotonic() - ran)
        if problems:
            pytest.fail("\n".join(problems), pytrace=False)
    finally:
        lab.close(page)


# ----------------------------------------------------------------------------- StepDebugger


def _run_first_cell(page, shows_up, timeout_error, attempts: int = 3):
    """Shift+Enter in the first cell until `shows_up` appears: a keypress that lands while
    the kernel's session is still connecting is lost, so try again (re-running the cell
    is harmless)."""
    for attempt in range(attempts):
        page.locator(".jp-Notebook .jp-Cell .cm-content").first.click()
        page.keyboard.press("Shift+Enter")
        try:
            shows_up.wait_for(timeout=UI_TIMEOUT_MS // attempts)
            return
        except timeout_error:
            if attempt == attempts - 1:
                raise


def test_step_button_advances_the_highlighted_op(lab):
    page = lab.open(DEBUGGER_NOTEBOOK, workspace="step-debugger")
    try:
        page.locator(".jp-Notebook .jp-Cell .cm-content").first.wait_for()
        debugger = page.locator(".tflm-step-debugger").first
        _run_first_cell(page, debugger, lab.sync_api.TimeoutError)
        op_list = debugger.locator(".tflm-op-list")
        op_list.wait_for()
        assert op_list.locator(".tflm-op-current").count() == 0  # nothing has run yet
        step = debugger.locator("button.tflm-step")
        step.click()
        op_list.locator(".tflm-op-current[data-op='0']").wait_for()
        step.click()
        op_list.locator(".tflm-op-current[data-op='1']").wait_for()
        assert op_list.locator(".tflm-op-current").count() == 1
        assert "DEPTHWISE_CONV_2D" in op_list.locator(".tflm-op-current").inner_text()
        debugger.locator("svg.tflm-arena rect[fill='#c44e52']").first.wait_for()
        debugger.locator("button.tflm-reset").click()
        op_list.locator(".tflm-op-current").wait_for(state="detached")
    finally:
        lab.close(page)
