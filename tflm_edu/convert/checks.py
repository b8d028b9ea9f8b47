"""Pre-deploy checks: will this model run under TFLM, and does it fit the board?

Each check returns Findings that say what is wrong, why it matters on a microcontroller,
and what to do about it:

- hybrid (dynamic-range) quantization: int8 weights with float32 activations. TensorFlow
  Lite's converter makes these when it is given no representative dataset; TFLM's kernels
  compute either all-float or all-int8 and refuse such an op at Prepare().
- float16 weights (a DEQUANTIZE of a float16 constant): TFLM cannot dequantize float16.
- ops TFLM has no kernel for (the model cannot run on any board), ops tflm_edu has no
  kernel for (TFLM runs them, but tflm_edu cannot simulate them on the host), custom ops
  (you register them yourself).
- an int16 TRANSPOSE_CONV without a bias: TFLM's reference kernels run it, a CMSIS-NN build
  crashes in Prepare.
- a float32 model: it runs, but needs 4x the flash and RAM of int8 and is much slower on
  an MCU, most of all one without an FPU.
- size: the model (in flash) and the tensor arena (in RAM, estimated for a Cortex-M build
  by tflm_edu.arena_size) against the board's memory, with an allowance for the firmware.
"""
from __future__ import annotations

from dataclasses import dataclass

from tflm_edu.boards import FIRMWARE_FLASH_BYTES, FIRMWARE_RAM_BYTES, KIB, get_board
from tflm_edu.errors import AllocationError, ModelError
from tflm_edu.op_resolver import CUSTOM_SPECS, SPECS
from tflm_edu.schema import Model, as_model_and_bytes
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType, type_name

# The builtin ops TFLM's MicroMutableOpResolver can register (micro_mutable_op_resolver.h).
TFLM_OPS = frozenset(Op[name] for name in """
    ABS ADD ADD_N ARG_MAX ARG_MIN ASSIGN_VARIABLE AVERAGE_POOL_2D BATCH_MATMUL BATCH_TO_SPACE_ND
    BROADCAST_ARGS BROADCAST_TO CALL_ONCE CAST CEIL CONCATENATION CONV_2D COS CUMSUM
    DEPTHWISE_CONV_2D DEPTH_TO_SPACE DEQUANTIZE DIV DYNAMIC_UPDATE_SLICE ELU EMBEDDING_LOOKUP
    EQUAL EXP EXPAND_DIMS FILL FLOOR FLOOR_DIV FLOOR_MOD FULLY_CONNECTED GATHER GATHER_ND GREATER
    GREATER_EQUAL HARD_SWISH IF L2_NORMALIZATION L2_POOL_2D LEAKY_RELU LESS LESS_EQUAL LOG
    LOGICAL_AND LOGICAL_NOT LOGICAL_OR LOGISTIC LOG_SOFTMAX MAXIMUM MAX_POOL_2D MEAN MINIMUM
    MIRROR_PAD MUL NEG NOT_EQUAL PACK PAD PADV2 PRELU QUANTIZE READ_VARIABLE REDUCE_ALL REDUCE_MAX
    REDUCE_MIN RELU RELU6 RESHAPE RESIZE_BILINEAR RESIZE_NEAREST_NEIGHBOR REVERSE_V2 ROUND RSQRT
    SELECT_V2 SHAPE SIN SLICE SOFTMAX SPACE_TO_BATCH_ND SPACE_TO_DEPTH SPLIT SPLIT_V SQRT SQUARE
    SQUARED_DIFFERENCE SQUEEZE STRIDED_SLICE SUB SUM SVDF TANH TRANSPOSE TRANSPOSE_CONV
    UNIDIRECTIONAL_SEQUENCE_LSTM UNPACK VAR_HANDLE WHILE ZEROS_LIKE""".split())

_WEIGHTED = (Op.CONV_2D, Op.DEPTHWISE_CONV_2D, Op.FULLY_CONNECTED, Op.TRANSPOSE_CONV,
             Op.BATCH_MATMUL, Op.SVDF, Op.UNIDIRECTIONAL_SEQUENCE_LSTM, Op.EMBEDDING_LOOKUP)


@dataclass
class Finding:
    severity: str   # "error" (will not run / does not fit), "warning", "info"
    check: str      # short name of the check
    message: str

    def __str__(self):
        return f"{self.severity.upper():7} [{self.check}] {self.message}"


def check_quantization(model: Model) -> list[Finding]:
    findings = []
    hybrid = []
    for g, graph in enumerate(model.subgraphs):
        for k, op in enumerate(graph.operators):
            code = model.operator_codes[op.opcode_index].builtin_code
            tensors = [graph.tensors[i] if i >= 0 else None for i in op.inputs]
            if code in _WEIGHTED and len(tensors) > 1 and tensors[0] is not None \
                    and tensors[1] is not None:
                x, w = tensors[0], tensors[1]
                if x.type == TensorType.FLOAT32 and w.type in (TensorType.INT8, TensorType.UINT8,
                                                               TensorType.INT4):
                    hybrid.append(f"op {k} {model.op_name(op)}")
            if code == Op.DEQUANTIZE and tensors[0] is not None \
                    and tensors[0].type == TensorType.FLOAT16:
                findings.append(Finding(
                    "error", "float16",
                    f"op {k} DEQUANTIZE reads float16 weights ({tensors[0].name!r}): the model "
                    "was float16-quantized, which TFLM cannot run. Convert without float16 "
                    "optimization and quantize to int8 (tflm-edu quantize FLOAT.tflite "
                    "--calibration data.npy -o model_int8.tflite)."))
    if hybrid:
        findings.append(Finding(
            "error", "hybrid",
            f"{', '.join(hybrid[:4])}{' ...' if len(hybrid) > 4 else ''}: int8 weights with "
            "float32 "
            "activations. This is a hybrid (dynamic-range) quantized model - what TensorFlow "
            "Lite's converter makes without a representative dataset. TFLM's kernels are either "
            "all-float or all-int8 and reject it. Quantize fully: start from the float model and "
            "run tflm-edu quantize FLOAT.tflite --calibration data.npy -o model_int8.tflite."))
    activations = [graph.tensors[i] for graph in model.subgraphs for op in graph.operators
                   for i in op.outputs]
    if not hybrid and activations and all(t.type == TensorType.FLOAT32 for t in activations):
        findings.append(Finding(
            "warning", "float",
            "the model computes in float32: TFLM runs it, but it needs 4x the flash and arena "
            "of an int8 model and runs far slower on a microcontroller (much more so without an "
            "FPU). Quantize it: tflm-edu quantize FLOAT.tflite --calibration data.npy -o "
            "model_int8.tflite."))
    return findings


def check_ops(model: Model) -> list[Finding]:
    findings = []
    used, input_types = {}, {}
    for graph in model.subgraphs:
        for op in graph.operators:
            code = model.operator_codes[op.opcode_index]
            used.setdefault((code.builtin_code, code.custom_code), code)
            if op.inputs and op.inputs[0] >= 0:
                input_types.setdefault(code.builtin_code, set()).add(
                    graph.tensors[op.inputs[0]].type)
    for (builtin, custom), code in used.items():
        if builtin == Op.CUSTOM:
            if custom in CUSTOM_SPECS:
                continue  # one of TFLM's Signal ops, which tflm_edu runs too
            if custom and custom.startswith("Signal"):
                findings.append(Finding(
                    "warning", "tflm_edu-op",
                    f"custom op {custom!r}: TFLM's signal library may have it (its resolver "
                    f"registers Signal ops with Add{custom.removeprefix('Signal')}()), but "
                    f"tflm_edu has no kernel for it and cannot simulate the model."))
            else:
                findings.append(Finding(
                    "warning", "custom-op",
                    f"custom op {custom!r}: neither TFLM nor tflm_edu ships it; register your "
                    f"own implementation with op_resolver.AddCustom(\"{custom}\", ...)."))
            continue
        name = code.name
        if builtin not in TFLM_OPS:
            findings.append(Finding(
                "error", "unsupported-op",
                f"{name}: TFLM has no kernel for this op, so the model cannot run on any board. "
                "Change the layer that produces it (see TFLM's list of supported ops in "
                "micro_mutable_op_resolver.h) or implement it as a custom op."))
        elif builtin not in SPECS:
            findings.append(Finding(
                "warning", "tflm_edu-op",
                f"{name}: TFLM runs this op, but tflm_edu has no kernel for it, so tflm_edu cannot "
                "simulate the model on the host or estimate its arena exactly."))
        elif not input_types.get(builtin, set()) <= set(SPECS[builtin].types or TensorType):
            odd = sorted(type_name(t) for t in input_types[builtin] - set(SPECS[builtin].types))
            findings.append(Finding(
                "warning", "tflm_edu-type",
                f"{name} on {', '.join(odd)} input: tflm_edu's kernel computes "
                f"{', '.join(type_name(t) for t in SPECS[builtin].types)} only"))
    return findings


def check_size(model: Model, data: bytes, board=None, target: str = "cortex-m") -> list[Finding]:
    findings = []
    model_bytes = len(data)
    arena = None
    try:
        from tflm_edu.arena_size import estimate_arena_size
        arena = estimate_arena_size(model, target).arena_bytes
    except (AllocationError, ModelError, KeyError, ValueError, NotImplementedError) as e:
        findings.append(Finding("warning", "arena", f"could not estimate the tensor arena: {e}"))
    text = f"model {model_bytes:,} bytes (flash)"
    if arena is not None:
        text += f", tensor arena about {arena:,} bytes (RAM, {target} estimate)"
    findings.append(Finding("info", "size", text))
    if board is None:
        return findings
    board = get_board(board)
    if model_bytes > board.flash_bytes:
        findings.append(Finding(
            "error", "flash",
            f"the model ({model_bytes / KIB:,.0f} KB) is larger than the {board.name}'s "
            f"{board.flash_bytes // KIB} KB flash. Quantize it to int8 if it is float, or make "
            "it smaller (fewer filters, a smaller input, a width multiplier)."))
    elif model_bytes + FIRMWARE_FLASH_BYTES > board.flash_bytes:
        findings.append(Finding(
            "warning", "flash",
            f"the model ({model_bytes / KIB:,.0f} KB) leaves less than "
            f"{FIRMWARE_FLASH_BYTES // KIB} KB of the {board.name}'s {board.flash_bytes // KIB} KB "
            "flash for TFLM and your program: it may not link. Check the map file."))
    else:
        findings.append(Finding(
            "info", "flash",
            f"flash: model uses {100 * model_bytes / board.flash_bytes:.0f}% of the "
            f"{board.name}'s {board.flash_bytes // KIB} KB"))
    if arena is not None:
        if arena > board.ram_bytes:
            findings.append(Finding(
                "error", "ram",
                f"the tensor arena (about {arena / KIB:,.0f} KB) is larger than the {board.name}'s "
                f"{board.ram_bytes // KIB} KB RAM. Shrink the activations: int8 instead of float, "
                "a smaller input, fewer channels in the largest layers (tflm-edu plan MODEL shows "
                "which tensors are alive at the peak)."))
        elif arena + FIRMWARE_RAM_BYTES > board.ram_bytes:
            findings.append(Finding(
                "warning", "ram",
                f"the tensor arena (about {arena / KIB:,.0f} KB) leaves less than "
                f"{FIRMWARE_RAM_BYTES // KIB} KB of the {board.name}'s {board.ram_bytes // KIB} KB "
                "RAM for the stack and the rest of the firmware."))
        else:
            findings.append(Finding(
                "info", "ram",
                f"RAM: arena uses {100 * arena / board.ram_bytes:.0f}% of the {board.name}'s "
                f"{board.ram_bytes // KIB} KB"))
    return findings


def check_kernel_hazards(model: Model) -> list[Finding]:
    """Ops that TFLM runs with its reference kernels but that crash a build with its
    CMSIS-NN kernels: an int16 TRANSPOSE_CONV without a bias (CMSIS-NN's Prepare reads the
    bias tensor's type without checking that there is one; seen on the emulated Cortex-M4)."""
    findings = []
    for g, graph in enumerate(model.subgraphs):
        for k, op in enumerate(graph.operators):
            code = model.operator_codes[op.opcode_index]
            if code.builtin_code != Op.TRANSPOSE_CONV or len(op.inputs) < 3 or op.inputs[2] < 0:
                continue
            has_bias = len(op.inputs) >= 4 and op.inputs[3] >= 0
            if graph.tensors[op.inputs[2]].type == TensorType.INT16 and not has_bias:
                where = f"op {k}" + (f" of subgraph {g}" if g else "")
                findings.append(Finding(
                    "warning", "cmsis-nn-crash",
                    f"{where} TRANSPOSE_CONV (int16 input) has no bias: TFLM's CMSIS-NN "
                    f"kernel reads the bias type in Prepare without checking that a bias "
                    f"exists, which crashes a board built with CMSIS-NN kernels (the "
                    f"reference kernels run it). Give the op a zero int64 bias, or build "
                    f"with the reference kernels."))
    return findings


def check_model(model_or_path, board=None, target: str = "cortex-m") -> list[Finding]:
    """Every check on a Model, .tflite bytes or a path; `board` is a name or Board."""
    if board is not None:
        board = get_board(board)          # an unknown board fails before any work
    model, data = as_model_and_bytes(model_or_path)
    findings = check_quantization(model) + check_ops(model) + check_kernel_hazards(model)
    findings += check_size(model, data, board, target)
    return findings


def format_findings(findings) -> str:
    errors = sum(f.severity == "error" for f in findings)
    warnings = sum(f.severity == "warning" for f in findings)
    verdict = ("ready to deploy" if not errors and not warnings else
               "deployable, with warnings" if not errors else "NOT deployable")
    return "\n".join([str(f) for f in findings] +
                     [f"{errors} error(s), {warnings} warning(s): {verdict}"])


__all__ = ["Finding", "check_model", "check_quantization", "check_ops", "check_kernel_hazards",
           "check_size", "format_findings", "TFLM_OPS"]
