"""The StepDebugger in a real JupyterLab 4, in headless Chromium: run the notebook, click
Step, and check that the highlighted op advanced.

Needs Debian's chromium (apt-get install -y chromium) and playwright's Python client
(pip install playwright; its own browser download is not used). Skips, saying which one
is missing, when either is absent.
"""
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SERVER_START_SECONDS = 60
UI_TIMEOUT_MS = 45_000  # generous: CI machines are slow, and the first kernel start is slowest

NOTEBOOK_CELLS = [
    "from tflm_edu.arena_size.examples import small_conv_net\n"
    "from tflm_edu.debugger import StepDebugger\n"
    "debugger = StepDebugger(small_conv_net())\n"
    "debugger",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_notebook(path: Path) -> None:
    cells = [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
              "id": f"cell{i}", "source": source} for i, source in enumerate(NOTEBOOK_CELLS)]
    path.write_text(json.dumps({
        "cells": cells, "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}}}))


@pytest.fixture
def jupyter_lab(tmp_path):
    """A JupyterLab server on a free port with a random token, in a temp dir with its own
    config, runtime and workspace dirs; yields (url, token), stops it afterwards."""
    _write_notebook(tmp_path / "debugger.ipynb")
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"),
               JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "settings"), MPLBACKEND="Agg")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
         "--ip=127.0.0.1", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp_path}",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         "--LabApp.news_url=None"] + (["--allow-root"] if os.geteuid() == 0 else []),
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "lab.log", "w"))
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log = (tmp_path / "lab.log").read_text()[-2000:]
                    pytest.fail(f"jupyter lab did not start within {SERVER_START_SECONDS} s:\n{log}")
                time.sleep(0.5)
        yield url, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()


def _browser_or_skip():
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is not installed (pip install playwright)")
    if not (Path(CHROMIUM).is_file() or shutil.which("chromium")):
        pytest.skip(f"chromium not found at {CHROMIUM} (apt-get install -y chromium)")
    return sync_api


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


def test_step_button_advances_the_highlighted_op(jupyter_lab):
    sync_api = _browser_or_skip()
    url, token = jupyter_lab
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(UI_TIMEOUT_MS)
            page.goto(f"{url}/lab/tree/debugger.ipynb?token={token}")
            page.locator(".jp-Notebook .jp-Cell .cm-content").first.wait_for()
            # The kernel must be idle before the cell runs, or the keypress is lost.
            page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first.wait_for()
            debugger = page.locator(".tflm-step-debugger").first
            _run_first_cell(page, debugger, sync_api.TimeoutError)
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
            browser.close()
