"""Remove tqdm progress bars from saved notebooks, so a committed notebook never shows a bar
frozen at "0%".

    python notebooks/strip_widgets.py                  # every notebook beside this script
    python notebooks/strip_widgets.py 01_hello_world.ipynb 02_micro_speech.ipynb
    python notebooks/strip_widgets.py --check          # exit 1 if a notebook has a bar

Run it after executing a notebook (jupyter nbconvert --execute --inplace). A bar is useful
while a cell runs; saved, it is a widget the reader's JupyterLab shows frozen where the
saving kernel left it (or as `HBox(children=...` text when the widget state is missing).
What it removes:

- outputs that display a tqdm widget (tqdm.auto in a kernel with ipywidgets: an HBox of an
  HTML label, a FloatProgress and an HTML counter), and the widget-state metadata of those
  widgets - every model reachable from them and from no widget that stays;
- tqdm's text bars (`calibrating:  40%|####      | 2/5 [...]`) from stream outputs (tqdm
  without ipywidgets, or writing to stderr), and the output when nothing else is left (a
  bar's final newline included).

Other widgets (notebook 14's StepDebugger) and their state are kept. Notebooks are read and
written with nbformat, so a notebook that has no bar is left byte for byte as it was.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
VIEW = "application/vnd.jupyter.widget-view+json"
STATE = "application/vnd.jupyter.widget-state+json"
# tqdm's text bar: "  0%|          | 0/10 [00:00<?, ?it/s]", "100%|##########| 5/5 [...]"
TEXT_BAR = re.compile(r"\d{1,3}%\|[^|\r\n]*\|")
# what a tqdm widget's text/plain fallback looks like when no widget state was saved
WIDGET_TEXT = re.compile(r"\d{1,3}%\||FloatProgress\(|IntProgress\(")
PROGRESS_MODELS = {"FloatProgressModel", "IntProgressModel"}
REFERENCE = re.compile(r"IPY_MODEL_(\w+)")


def widget_state(notebook) -> dict:
    """The notebook's saved widget models by id ({} when there are none)."""
    return notebook.metadata.get("widgets", {}).get(STATE, {}).get("state", {})


def references(model: dict) -> set:
    """The ids of the models a model refers to (children, layout, style)."""
    return set(REFERENCE.findall(repr(model.get("state", {}))))


def reachable(state: dict, roots) -> set:
    seen, todo = set(), [r for r in roots if r in state]
    while todo:
        model_id = todo.pop()
        if model_id not in seen:
            seen.add(model_id)
            todo += [r for r in references(state[model_id]) if r in state]
    return seen


def is_progress_bar(model_id: str, state: dict) -> bool:
    """A tqdm widget: a box with a progress bar among its children (or the bar alone)."""
    model = state.get(model_id)
    if model is None:
        return False
    if model.get("model_name") in PROGRESS_MODELS:
        return True
    return any(state.get(child, {}).get("model_name") in PROGRESS_MODELS
               for child in references(model))


def is_bar_output(output, state: dict) -> bool:
    """An output that displays a tqdm widget."""
    data = output.get("data", {})
    if VIEW not in data:
        return False
    model_id = data[VIEW].get("model_id", "")
    if model_id in state:
        return is_progress_bar(model_id, state)
    return bool(WIDGET_TEXT.search("".join(data.get("text/plain", ""))))


def strip_text_bars(text: str) -> str:
    """Stream text without tqdm's bar lines (each redraw ends in \\r or \\n)."""
    pieces = re.split(r"(\r\n|\r|\n)", text)
    kept, skip_separator = [], False
    for piece in pieces:
        if piece in ("\r\n", "\r", "\n"):
            if not skip_separator:
                kept.append(piece)
            skip_separator = False
        elif TEXT_BAR.search(piece):
            skip_separator = True
        else:
            kept.append(piece)
    return "".join(kept)


def strip(notebook) -> int:
    """Remove tqdm bars from a notebook (in place); returns how many things were removed."""
    state = widget_state(notebook)
    removed, bar_views, kept_views = 0, set(), set()
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        outputs, removed_before = [], removed
        for output in cell.outputs:
            if is_bar_output(output, state):
                bar_views.add(output["data"][VIEW].get("model_id", ""))
                removed += 1
                continue
            if output.get("output_type") == "stream":
                text = strip_text_bars(output.get("text", ""))
                if text != output.get("text", ""):
                    removed += 1
                    if not text.strip():
                        continue
                    output["text"] = text
            if VIEW in output.get("data", {}):
                kept_views.add(output["data"][VIEW].get("model_id", ""))
            outputs.append(output)
        if len(outputs) < len(cell.outputs) or removed > removed_before:
            # a bar's last redraw often leaves its newline behind as an output of its own
            outputs = [o for o in outputs if o.get("output_type") != "stream"
                       or o.get("text", "").strip()]
        cell.outputs = outputs
    if state:
        keep = reachable(state, kept_views)
        # the bars removed above, and bars whose output was already gone (orphans)
        bars = bar_views | {m for m in state if m not in keep and is_progress_bar(m, state)}
        for model_id in reachable(state, bars) - keep:
            del state[model_id]
            removed += 1
        if not state:
            del notebook.metadata["widgets"]
    return removed


def bars_in(notebook) -> list:
    """Where a notebook shows a tqdm bar: ["cell 7: widget", "cell 9: text"]; [] if nowhere."""
    state = widget_state(notebook)
    found = []
    for k, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if is_bar_output(output, state):
                found.append(f"cell {k}: tqdm widget")
            texts = [output.get("text", "")] + [
                "".join(v) for key, v in output.get("data", {}).items()
                if key.startswith("text/") and isinstance(v, (str, list))]
            if any(TEXT_BAR.search("".join(t)) for t in texts):
                found.append(f"cell {k}: text bar")
    found += [f"widget state: progress bar model {m}" for m in state
              if state[m].get("model_name") in PROGRESS_MODELS]
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to clean (default: every .ipynb beside this script)")
    parser.add_argument("--check", action="store_true",
                        help="change nothing; list the bars and exit 1 if there are any")
    args = parser.parse_args(argv)
    paths = [p if p.suffix == ".ipynb" and p.exists() else HERE / p for p in args.notebooks] \
        or sorted(HERE.glob("*.ipynb"))
    status = 0
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        if args.check:
            for where in bars_in(notebook):
                print(f"{path.name}: {where}")
                status = 1
            continue
        removed = strip(notebook)
        if removed:
            nbformat.write(notebook, path)
            print(f"{path.name}: removed {removed} progress-bar output(s) and widget model(s)")
    return status


if __name__ == "__main__":
    sys.exit(main())
