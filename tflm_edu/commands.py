"""The core subcommands of tflm-edu: inspect, run, plan and demo - and `check --json`, added
to the check command that tflm_edu.convert.cli defines (see add_json_options)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tflm_edu.errors import InputError
from tflm_edu.interpreter import MicroInterpreter
from tflm_edu.memory.arena import align_up
from tflm_edu.op_resolver import AllOpsResolver
from tflm_edu.schema import load_model
from tflm_edu.schema.enums import type_name


def add_commands(subparsers) -> None:
    p = subparsers.add_parser("inspect", help="tensors, ops, quantization and sizes of a model")
    p.add_argument("model", help="path to a .tflite file")
    p.add_argument("--json", action="store_true",
                   help="machine-readable output: ops, tensors, constant bytes, metadata")
    p.set_defaults(func=cmd_inspect)

    p = subparsers.add_parser("run", help="run a model on .npy inputs and save its outputs")
    p.add_argument("model", help="path to a .tflite file")
    p.add_argument("--input", action="append", required=True, metavar="X.npy",
                   help="one per model input, in order")
    p.add_argument("--output", action="append", metavar="Y.npy",
                   help="where to save each output (default: print them)")
    p.add_argument("--batch", action="store_true",
                   help="each input file holds N examples [N, *input shape]: run them all "
                        "(many at a time, byte-identical to N invokes); outputs are [N, ...]")
    p.add_argument("--json", action="store_true",
                   help="print the outputs as JSON (dtype, shape, values) instead of text")
    p.set_defaults(func=cmd_run)

    p = subparsers.add_parser("plan", help="the memory plan: head and tail bytes, and where "
                                           "each tensor lives in the arena")
    p.add_argument("model", help="path to a .tflite file")
    p.add_argument("--planner", choices=["greedy", "linear"], default="greedy",
                   help="memory planner (default: %(default)s, as TFLM)")
    p.add_argument("--json", action="store_true",
                   help="machine-readable output: head_bytes, tail_bytes, tensors")
    p.set_defaults(func=cmd_plan)

    p = subparsers.add_parser("demo", help="run the example models on their test inputs and "
                                           "show predictions and a memory plan")
    p.add_argument("--reference", type=Path, default=None, metavar="DIR",
                   help="folder with TFLM's reference models/ and testdata/ "
                        "(default: ../shared/reference beside this checkout, if present)")
    p.set_defaults(func=cmd_demo)


def add_json_options(parsers: dict) -> None:
    """--json for a subcommand whose parser another module adds: `check` (tflm_edu.convert.cli).
    tflm_edu.cli calls this once every module has added its commands; `check --json` prints
    one JSON document (check_dict) instead of the text, with the same exit status."""
    check = parsers.get("check")
    if check is None or any("--json" in a.option_strings for a in check._actions):
        return
    check.add_argument("--json", action="store_true",
                       help="machine-readable output: the findings, the model's flash bytes, "
                            "the arena estimate, the board and the verdict")
    text_command = check.get_default("func")
    check.set_defaults(func=lambda args: (cmd_check_json if args.json else text_command)(args))


def allocated(path) -> MicroInterpreter:
    interpreter = MicroInterpreter(load_model(path), AllOpsResolver(), None)
    interpreter.allocate_tensors()
    return interpreter


# ----------------------------------------------------------------------------- inspect


def cmd_inspect(args) -> int:
    model = load_model(args.model)
    if args.json:
        print(json.dumps(inspect_dict(model), indent=2))
    else:
        print(inspect_text(model, Path(args.model).name))
    return 0


def inspect_dict(model) -> dict:
    """What `inspect --json` prints: the main subgraph's ops and tensors."""
    subgraph = model.subgraphs[0]
    tensors = []
    for i, t in enumerate(subgraph.tensors):
        q = t.quantization
        tensors.append({
            "index": i, "name": t.name, "shape": [int(s) for s in t.shape],
            "type": type_name(t.type), "bytes": int(t.nbytes),
            "kind": ("input" if i in subgraph.inputs else "output" if i in subgraph.outputs
                     else "constant" if model.buffers[t.buffer].data else "activation"),
            "scale": [float(s) for s in q.scale] if q is not None else [],
            "zero_point": [int(z) for z in q.zero_point] if q is not None else []})
    return {
        "description": model.description,
        "subgraphs": len(model.subgraphs),
        "ops": [{"index": i, "name": model.operator_codes[op.opcode_index].name,
                 "version": model.operator_codes[op.opcode_index].version,
                 "inputs": list(op.inputs), "outputs": list(op.outputs)}
                for i, op in enumerate(subgraph.operators)],
        "tensors": tensors,
        "inputs": list(subgraph.inputs), "outputs": list(subgraph.outputs),
        "constant_bytes": sum(t["bytes"] for t in tensors if t["kind"] == "constant"),
        "metadata": [m.name for m in model.metadata],
        "signatures": [s.signature_key for s in model.signature_defs]}


def inspect_text(model, title: str = "model") -> str:
    subgraph = model.subgraphs[0]
    lines = [f"{title}: {model!r}", f"description: {model.description!r}", "",
             "ops:"]
    for i, op in enumerate(subgraph.operators):
        code = model.operator_codes[op.opcode_index]
        lines.append(f"  {i:3d} {code.name:<20} v{code.version}  in {list(op.inputs)} "
                     f"-> out {list(op.outputs)}")
    lines += ["", "tensors:",
              f"  {'#':>3} {'name':<40} {'shape':<16} {'type':<8} {'bytes':>9}  kind      "
              f"quantization"]
    constant_bytes = 0
    for i, t in enumerate(subgraph.tensors):
        is_constant = bool(model.buffers[t.buffer].data)
        constant_bytes += t.nbytes if is_constant else 0
        kind = ("input" if i in subgraph.inputs else "output" if i in subgraph.outputs
                else "constant" if is_constant else "activation")
        name = t.name if len(t.name) <= 40 else "..." + t.name[-37:]
        lines.append(f"  {i:3d} {name:<40} {str(list(t.shape)):<16} {type_name(t.type):<8} "
                     f"{t.nbytes:>9,}  {kind:<9} {t.quantization!r}")
    lines += ["", f"constant data: {constant_bytes:,} bytes; metadata: "
                  f"{[m.name for m in model.metadata]}; signatures: "
                  f"{[s.signature_key for s in model.signature_defs]}"]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- run


def cmd_run(args) -> int:
    interpreter = allocated(args.model)
    if len(args.input) != interpreter.inputs_size:
        raise InputError(f"the model has {interpreter.inputs_size} input(s) but "
                         f"{len(args.input)} --input file(s) were given")
    if args.batch:
        outputs = run_batch(interpreter, [load_npy(path) for path in args.input])
    else:
        for i, path in enumerate(args.input):
            set_input_checked(interpreter, i, load_npy(path))
        interpreter.invoke()
        outputs = [interpreter.output(i).data.copy() for i in range(interpreter.outputs_size)]
    if args.output:
        if len(args.output) != len(outputs):
            raise InputError(f"the model has {len(outputs)} output(s) but {len(args.output)} "
                             f"--output file(s) were given")
        for path, value in zip(args.output, outputs):
            np.save(path, value)
            print(f"wrote {path}: {value.dtype} {list(value.shape)}")
    elif args.json:
        print(json.dumps({"outputs": [{"index": i, "dtype": str(v.dtype),
                                       "shape": list(v.shape), "values": v.tolist()}
                                      for i, v in enumerate(outputs)]}))
    else:
        for i, value in enumerate(outputs):
            print(f"output {i} ({value.dtype} {list(value.shape)}):\n{value}")
    return 0


def run_batch(interpreter, values) -> list:
    """cmd_run --batch: N examples per input through tflm_edu.batch.BatchRunner."""
    from tflm_edu.batch import BatchRunner
    counts = set()
    for i, value in enumerate(values):
        tensor = interpreter.input(i)
        if value.dtype != tensor.dtype:
            raise InputError(f"input {i} must be {tensor.dtype.name}, but the file holds "
                             f"{value.dtype.name}")
        if value.ndim == 0 or value[0].size != tensor.num_elements:
            raise InputError(f"with --batch, input file {i} must hold examples of shape "
                             f"{list(tensor.shape)} stacked along a first axis; it holds "
                             f"{list(value.shape)}")
        counts.add(len(value))
    if len(counts) > 1:
        raise InputError(f"with --batch, every input file needs the same number of "
                         f"examples; they hold {sorted(counts)}")
    runner = BatchRunner(interpreter.model, op_resolver=interpreter.op_resolver)
    return runner.run(values)


def load_npy(path) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, "no such input file", str(path))
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as e:
        raise InputError(f"{path} is not a .npy array file ({e})") from None


def set_input_checked(interpreter, index: int, value: np.ndarray) -> None:
    tensor = interpreter.input(index)
    if value.dtype != tensor.dtype:
        raise InputError(f"input {index} must be {tensor.dtype.name}, but the file holds "
                         f"{value.dtype.name}")
    if value.size != tensor.num_elements or (value.ndim > 1 and value.shape != tensor.shape):
        raise InputError(f"input {index} must have shape {list(tensor.shape)}, but the file "
                         f"holds {list(value.shape)}")
    tensor.data[...] = value.reshape(tensor.shape)


# ----------------------------------------------------------------------------- plan


def cmd_plan(args) -> int:
    interpreter = MicroInterpreter(load_model(args.model), AllOpsResolver(), None,
                                   planner=args.planner)
    interpreter.allocate_tensors()
    plan = plan_dict(interpreter)
    if args.json:
        print(json.dumps(plan, indent=2))
    else:
        print(f"{args.planner} plan: head {plan['head_bytes']:,} bytes, tail "
              f"{plan['tail_bytes']:,} bytes\n")
        print(interpreter.memory_plan_text())
    return 0


def plan_dict(interpreter) -> dict:
    """The plan as data. size is what the planner reserved (bytes rounded up to 16);
    first_op/last_op are the ops during which the buffer is live (graph inputs from op 0,
    graph outputs to the last op); tensor is None for a kernel scratch buffer."""
    last = len(interpreter.nodes) - 1
    tensors = []
    for b in interpreter.buffers:
        if b.bytes == 0:
            continue
        tensors.append({"name": b.name, "tensor": b.tensor_index, "offset": b.offset,
                        "size": align_up(b.bytes), "bytes": b.bytes,
                        "first_op": max(b.first_created - 1, 0),
                        "last_op": min(max(b.last_used - 1, 0), last)})
    return {"planner": interpreter.planner.name, "head_bytes": interpreter.arena.head_bytes,
            "tail_bytes": interpreter.arena.tail_bytes, "tensors": tensors}


# ----------------------------------------------------------------------------- check --json


def cmd_check_json(args) -> int:
    from tflm_edu.boards import BOARDS
    if args.list_boards:
        print(json.dumps({"boards": [board_dict(b) for b in BOARDS.values()]}, indent=2))
        return 0
    if args.model is None:
        raise InputError("give a MODEL to check (or --list-boards)")
    report = check_dict(args.model, args.board)
    print(json.dumps(report, indent=2))
    return 0 if report["deployable"] else 1


def check_dict(model, board=None, target: str = "cortex-m") -> dict:
    """What `check --json` prints: check_model's findings, and the figures they are about.
    verdict and deployable say what format_findings' last line says; the exit status is 1
    when deployable is false (an error finding), as without --json."""
    from tflm_edu.boards import get_board
    from tflm_edu.convert.checks import check_model
    from tflm_edu.errors import AllocationError, ModelError
    from tflm_edu.schema import as_model_and_bytes
    findings = check_model(model, board=board, target=target)
    loaded, data = as_model_and_bytes(model)
    try:
        from tflm_edu.arena_size import estimate_arena_size
        arena = estimate_arena_size(loaded, target).arena_bytes
    except (AllocationError, ModelError, KeyError, ValueError, NotImplementedError):
        arena = None                  # check_model has a warning finding that says why
    errors = sum(f.severity == "error" for f in findings)
    warnings = sum(f.severity == "warning" for f in findings)
    return {
        "model": str(model) if isinstance(model, (str, Path)) else None,
        "model_bytes": len(data), "arena_bytes": arena, "target": target,
        "board": board_dict(get_board(board)) if board is not None else None,
        "findings": [{"severity": f.severity, "check": f.check, "message": f.message}
                     for f in findings],
        "errors": errors, "warnings": warnings,
        "verdict": ("ready to deploy" if not errors and not warnings else
                    "deployable, with warnings" if not errors else "NOT deployable"),
        "deployable": errors == 0}


def board_dict(board) -> dict:
    """A tflm_edu.boards.Board as JSON-ready data (every field)."""
    from dataclasses import asdict
    return asdict(board)


# ----------------------------------------------------------------------------- demo


def cmd_demo(args) -> int:
    from tflm_edu import demo
    return demo.run(args.reference)
