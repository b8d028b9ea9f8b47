"""tflm-edu: the core subcommands, their JSON, and one-line errors for bad input."""
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import reference_model
from models import one_op_model, tensor
from tflm_edu import Interpreter
from tflm_edu.cli import main
from tflm_edu.schema import write_model
from tflm_edu.schema.enums import BuiltinOperator as Op
from tflm_edu.schema.options import FullyConnectedOptions


@pytest.fixture
def model_path(tmp_path):
    model = one_op_model(Op.FULLY_CONNECTED,
                         [tensor((1, 3)), tensor((2, 3), data=[[1, 2, 3], [-1, 0, 1]]), -1],
                         FullyConnectedOptions(), tensor((1, 2), name="scores"))
    path = tmp_path / "fc.tflite"
    path.write_bytes(write_model(model))
    return path


def test_inspect_lists_ops_and_tensors(model_path, capsys):
    assert main(["inspect", str(model_path)]) == 0
    text = capsys.readouterr().out
    assert "FULLY_CONNECTED" in text and "scores" in text and "[1, 2]" in text


def test_run_reads_and_writes_npy(model_path, tmp_path):
    np.save(tmp_path / "x.npy", np.array([[1, 1, 2]], np.float32))
    assert main(["run", str(model_path), "--input", str(tmp_path / "x.npy"),
                 "--output", str(tmp_path / "y.npy")]) == 0
    assert np.load(tmp_path / "y.npy").tolist() == [[9.0, 1.0]]


def test_plan_json_matches_the_interpreter():
    path = reference_model("person_detect.tflite")
    out = subprocess.run([sys.executable, "-m", "tflm_edu.cli", "plan", str(path), "--json"],
                         capture_output=True, text=True, check=True).stdout
    plan = json.loads(out)
    assert plan["head_bytes"] == 55296
    interpreter = Interpreter.from_file(path)
    assert plan["tail_bytes"] == interpreter.micro.arena.tail_bytes
    first = plan["tensors"][0]
    assert set(first) >= {"name", "offset", "size", "first_op", "last_op"}
    assert max(t["offset"] + t["size"] for t in plan["tensors"]) == plan["head_bytes"]


def test_linear_plan_is_larger(model_path, capsys):
    main(["plan", str(model_path), "--json", "--planner", "linear"])
    linear = json.loads(capsys.readouterr().out)
    main(["plan", str(model_path), "--json"])
    greedy = json.loads(capsys.readouterr().out)
    assert linear["planner"] == "linear" and linear["head_bytes"] >= greedy["head_bytes"]


@pytest.mark.parametrize("make_args, message", [
    (lambda d, m: ["inspect", str(d / "missing.tflite")], "no such model file"),
    (lambda d, m: ["inspect", str(d / "x.npy")], "not a .tflite model"),
    (lambda d, m: ["run", str(m), "--input", str(d / "wrong_shape.npy")], "shape [1, 3]"),
    (lambda d, m: ["run", str(m), "--input", str(d / "wrong_dtype.npy")], "must be float32"),
    (lambda d, m: ["run", str(m), "--input", str(d / "none.npy")], "no such input file"),
])
def test_bad_input_is_one_line_without_traceback(tmp_path, model_path, make_args, message):
    np.save(tmp_path / "x.npy", np.zeros((1, 3), np.float32))
    np.save(tmp_path / "wrong_shape.npy", np.zeros((2, 2), np.float32))
    np.save(tmp_path / "wrong_dtype.npy", np.zeros((1, 3), np.int8))
    result = subprocess.run([sys.executable, "-m", "tflm_edu.cli", *make_args(tmp_path,
                                                                             model_path)],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert message in result.stderr


def test_usage_errors_follow_argparse():
    result = subprocess.run([sys.executable, "-m", "tflm_edu.cli", "plan"], capture_output=True,
                            text=True)
    assert result.returncode == 2 and "usage: tflm-edu plan" in result.stderr


def test_demo_runs_the_whole_path(capsys):
    reference_model("person_detect.tflite")  # skips with a reason without ../shared
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "comparing every output with the real TFLM" in out
    assert "person.bmp     -> person    scores [-113, 113]" in out
    assert "yes_1000ms.wav       -> yes" in out
    assert "smallest arena for TFLM on host: 85,264 bytes" in out
    assert "3/3 outputs byte-equal to the host" in out
    # with the Arm toolchain and QEMU installed (as in CI), TFLM's C++ ran on the Cortex-M4
    if shutil.which("arm-none-eabi-g++") and shutil.which("qemu-system-arm"):
        assert "ran on qemu-cortex-m4: TFLM's C++ (reference kernels)" in out


def test_demo_without_reference_runs_the_own_pipeline(tmp_path, capsys):
    assert main(["demo", "--reference", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "running tflm_edu's own pipeline" in out
    assert "3/3 outputs byte-equal to the host" in out
    predictions = [line.split() for line in out.splitlines() if "int8 model:" in line]
    assert len(predictions) == 3
    for words in predictions:  # "sin(x) = <true>   int8 model: <prediction>"
        assert abs(float(words[2]) - float(words[-1])) < 0.15


def test_inspect_json(model_path, capsys):
    assert main(["inspect", str(model_path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert [op["name"] for op in info["ops"]] == ["FULLY_CONNECTED"]
    assert info["tensors"][info["outputs"][0]]["name"] == "scores"
    assert info["tensors"][1]["kind"] == "constant" and info["constant_bytes"] == 24


def test_run_json(model_path, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.array([[1, 1, 2]], np.float32))
    assert main(["run", str(model_path), "--input", str(tmp_path / "x.npy"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)["outputs"][0]
    assert out["dtype"] == "float32" and out["shape"] == [1, 2]
    assert out["values"] == [[9.0, 1.0]]


def test_python_dash_m_runs_the_command_line(model_path):
    done = subprocess.run([sys.executable, "-m", "tflm_edu", "inspect", str(model_path)],
                          capture_output=True, text=True, check=True)
    assert "FULLY_CONNECTED" in done.stdout


def test_every_subcommand_help_has_a_description_and_an_example():
    from tflm_edu.cli import build_parser
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for name, sub in commands.items():
        text = sub.format_help()
        assert sub.description and len(sub.description) > 10, name
        assert "example" in text and "tflm-edu " + name in text, name


def test_the_command_line_needs_no_notebook_packages(tmp_path, model_path):
    """`pip install tflm_edu` (without the notebooks extra) gives a working tflm-edu:
    matplotlib, ipywidgets, JupyterLab and IPython are blocked here."""
    np.save(tmp_path / "x.npy", np.array([[1, 1, 2]], np.float32))
    script = (
        "import sys\n"
        "for m in ('matplotlib', 'ipywidgets', 'jupyterlab', 'IPython'):\n"
        "    sys.modules[m] = None\n"
        "from tflm_edu.cli import main\n"
        f"assert main(['inspect', {str(model_path)!r}]) == 0\n"
        f"assert main(['run', {str(model_path)!r}, '--input', {str(tmp_path / 'x.npy')!r}]) == 0\n"
        f"assert main(['plan', {str(model_path)!r}, '--json']) == 0\n"
        f"assert main(['arena-size', {str(model_path)!r}]) == 0\n"
        "import tflm_edu\n"
        "assert 'matplotlib' not in sys.modules or sys.modules['matplotlib'] is None\n")
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)


# ----------------------------------------------------------------------------- --json everywhere
# Each command's --json prints one JSON document on stdout (json.loads of all of stdout), and
# its content is checked against what the library itself computes.


def _json_stdout(argv, capsys, status=0):
    assert main(argv) == status
    captured = capsys.readouterr()
    return json.loads(captured.out), captured.err


def test_check_json_matches_check_model(capsys):
    from tflm_edu.arena_size import estimate_arena_size
    from tflm_edu.boards import get_board
    from tflm_edu.convert.checks import check_model
    path = reference_model("person_detect.tflite")
    report, _ = _json_stdout(["check", str(path), "--board", "nano33ble", "--json"], capsys)
    findings = check_model(path, board="nano33ble")
    assert report["findings"] == [{"severity": f.severity, "check": f.check,
                                   "message": f.message} for f in findings]
    assert report["model_bytes"] == path.stat().st_size
    assert report["arena_bytes"] == estimate_arena_size(path, "cortex-m").arena_bytes
    board = get_board("nano33ble")
    assert (report["board"]["id"], report["board"]["ram_bytes"]) == (board.id, board.ram_bytes)
    errors = sum(f.severity == "error" for f in findings)
    assert report["errors"] == errors and report["deployable"] == (errors == 0)
    assert report["warnings"] == sum(f.severity == "warning" for f in findings)


def test_check_json_exit_status_and_verdict_follow_the_findings(tmp_path, capsys):
    """The verdict is format_findings' last line, and the exit status the text output's (1
    when a finding is an error); without --board there is no board and no board checks."""
    from tflm_edu.convert.checks import check_model, format_findings
    path = reference_model("person_detect.tflite")
    board = "sparkfun_edge"
    findings = check_model(path, board=board)
    status = 1 if any(f.severity == "error" for f in findings) else 0
    report, _ = _json_stdout(["check", str(path), "--board", board, "--json"], capsys, status)
    assert format_findings(findings).endswith(report["verdict"])
    assert main(["check", str(path), "--board", board]) == status
    capsys.readouterr()
    one_op = tmp_path / "one_op.tflite"
    model = one_op_model(Op.FULLY_CONNECTED,
                         [tensor((1, 3)), tensor((2, 3), data=[[1, 2, 3], [-1, 0, 1]]), -1],
                         FullyConnectedOptions(), tensor((1, 2), name="scores"))
    one_op.write_bytes(write_model(model))
    report, _ = _json_stdout(["check", str(one_op), "--json"], capsys,
                             1 if any(f.severity == "error" for f in check_model(one_op)) else 0)
    assert report["board"] is None and report["target"] == "cortex-m"
    assert [f["check"] for f in report["findings"]] == [f.check for f in check_model(one_op)]


def test_check_list_boards_json(capsys):
    from tflm_edu.boards import BOARDS
    listing, _ = _json_stdout(["check", "--list-boards", "--json"], capsys)
    assert [b["id"] for b in listing["boards"]] == list(BOARDS)
    for row in listing["boards"]:
        board = BOARDS[row["id"]]
        assert (row["flash_bytes"], row["ram_bytes"], row["clock_hz"], row["core"]) == \
            (board.flash_bytes, board.ram_bytes, board.clock_hz, board.core)


def test_boards_json(capsys):
    from tflm_edu.boards import BOARDS as FACTS
    from tflm_edu.deploy.firmware import BOARDS
    listing, _ = _json_stdout(["boards", "--json"], capsys)
    assert [b["id"] for b in listing["boards"]] == list(BOARDS)
    for row in listing["boards"]:
        facts, target = FACTS[row["id"]], BOARDS[row["id"]]
        assert (row["name"], row["ram_bytes"], row["cpu"]) == (facts.name, facts.ram_bytes,
                                                               facts.cpu)
        assert row["vendor_tool"] == target.build_system
    assert isinstance(listing["ports"], list)


def test_deploy_json_without_building(tmp_path, capsys):
    from tflm_edu.deploy.firmware import generate_project
    path = reference_model("hello_world_int8.tflite")
    result, _ = _json_stdout(["deploy", str(path), "--board", "qemu-cortex-m4", "-o",
                              str(tmp_path / "p"), "--no-build", "--json"], capsys)
    project = generate_project(path, "qemu-cortex-m4", tmp_path / "again")
    assert result["board"] == "qemu-cortex-m4" and result["compiled"] is False
    for key in ("model_bytes", "model_sha256", "estimated_arena", "arena_bytes"):
        assert result[key] == getattr(project, key), key
    assert result["ops"] == list(project.ops)
    assert sorted(result["files"]) == sorted(str(f.relative_to(project.path))
                                             for f in project.files)


def test_deploy_json_to_a_real_board_without_its_tools(tmp_path, capsys, monkeypatch):
    """No vendor tool, no TFLM build: still one JSON document, saying what was not done; the
    vendor tool's advice goes to stderr."""
    import shutil as shutil_module
    path = reference_model("hello_world_int8.tflite")
    monkeypatch.setattr(shutil_module, "which", lambda name, *a, **k: None)
    result, err = _json_stdout(["deploy", str(path), "--board", "stm32f746", "-o",
                                str(tmp_path / "p"), "--json"], capsys)
    assert result["board"] == "stm32f746" and result["compiled"] is False
    assert result["built_with_vendor_tool"] is False and result["flashed"] is False
    assert "platformio" in result["vendor_tool_missing"].lower()
    assert "pip install platformio" in err


def test_deploy_json_runs_and_verifies_on_this_computer(tflm_src, tmp_path, capsys):
    """The host board: TFLM's C++ compiled for this PC, verified byte for byte; the JSON's
    figures are the firmware's and the verify report's."""
    path = reference_model("hello_world_int8.tflite")
    result, _ = _json_stdout(["deploy", str(path), "--board", "host", "-o", str(tmp_path / "p"),
                              "-n", "3", "--json", "--tflm-src", str(tflm_src)], capsys)
    assert result["compiled"] is True and result["byte_equal"] is True
    assert result["samples"] == 3
    assert 0 <= result["latency_us"]["min"] <= result["latency_us"]["max"]
    assert "this PC" in result["latency_measures"]
    assert result["flash_bytes"] > 0 and result["model_bytes"] == path.stat().st_size
