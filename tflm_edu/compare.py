"""Layer-by-layer comparison: tflm_edu against the real TFLM (or LiteRT), tensor by tensor.

tflm_edu runs the model op by op (MicroInterpreter.steps()) and copies every op's output
right after the op - later ops may reuse those arena bytes. The oracle runs the same
bytes with every tensor kept:

  tflite-micro  runtime.Interpreter with InterpreterConfig.kPreserveAllTensors, read with
                GetTensor(tensor_index, subgraph) - the real TFLM kernels
  ai-edge-litert Interpreter(experimental_preserve_all_tensors=True), get_tensor(index) -
                TFLite's kernels (bit-exact with TFLM for the reference int8 kernels)
  a board       a tflm_edu.deploy.Board (a real board, or the emulated Cortex-M in QEMU):
                CONFIGURE with every tensor preserved, INVOKE, then GET_TENSOR for each -
                TFLM's C++ as compiled for the microcontroller

For each op output: the largest absolute difference, how many elements differ, and the
first op whose output diverges - where a bug (or a deliberate corruption) starts; every
op after it inherits the difference.

    report = compare_layers("person_detect.tflite")
    print(report.table())
    report.first_divergent_op        # None when every tensor is equal
    compare_layers(model, oracle=board)   # where does the board start to differ?
"""
from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field

import numpy as np

from tflm_edu.schema.enums import TensorType

from tflm_edu.errors import InputError, check_input
from tflm_edu.schema import as_bytes, write_model

ORACLES = ("tflite-micro", "litert")
ORACLE_ARENA_SLACK = 256 * 1024  # for the tail (OpData, tensor structs) and alignment


class OracleUnavailableError(RuntimeError):
    """No reference runtime (tflite-micro or ai-edge-litert) is installed."""


@dataclass
class TensorDifference:
    op: int
    op_name: str
    tensor: int
    name: str
    shape: tuple
    dtype: str
    max_abs_diff: float
    differing: int
    elements: int

    @property
    def equal(self) -> bool:
        return self.differing == 0


@dataclass
class Comparison:
    oracle: str
    rows: list = field(default_factory=list)

    @property
    def first_divergent_op(self):
        """Index of the first op with an output that differs (None: all equal)."""
        return next((r.op for r in self.rows if not r.equal), None)

    @property
    def matches(self) -> bool:
        return self.first_divergent_op is None

    def records(self) -> list[dict]:
        """The rows as plain dicts (one per op output) - no dataframe needed."""
        return [dict(vars(r)) for r in self.rows]

    def table(self) -> str:
        lines = [f"tflm_edu vs {self.oracle}, per op output",
                 f"{'op':>3}  {'op name':<20} {'tensor':>6}  {'shape':<16} {'max |diff|':>10} "
                 f"{'differing':>14}"]
        for r in self.rows:
            mark = "" if r.equal else ("  <- first divergence" if r.op == self.first_divergent_op
                                       else "  *")
            lines.append(f"{r.op:>3}  {r.op_name:<20} {r.tensor:>6}  "
                         f"{'x'.join(map(str, r.shape)):<16} {r.max_abs_diff:>10.4g} "
                         f"{r.differing:>6}/{r.elements:<7}{mark}")
        verdict = ("every tensor is equal" if self.matches else
                   f"first divergent op: {self.first_divergent_op} "
                   f"({self.rows[[r.op for r in self.rows].index(self.first_divergent_op)].op_name})")
        lines.append(verdict)
        return "\n".join(lines)

    def __repr__(self):
        return (f"Comparison(vs {self.oracle}, {len(self.rows)} tensors, "
                f"{'all equal' if self.matches else f'first divergent op {self.first_divergent_op}'})")


def available_oracles() -> list[str]:
    found = []
    for name, module in (("tflite-micro", "tflite_micro.python.tflite_micro.runtime"),
                         ("litert", "ai_edge_litert.interpreter")):
        try:
            __import__(module)
            found.append(name)
        except ImportError:
            pass
    return found


def compare_layers(model, inputs=None, oracle: str = "auto", interpreter=None,
                   seed: int = 0) -> Comparison:
    """Compare every op output of `model` (path, bytes or Model) between tflm_edu and an
    oracle: "tflite-micro", "litert", "auto", or a tflm_edu.deploy.Board running the model.
    `inputs`: one array per model input (default: seeded random data).
    `interpreter`: a MicroInterpreter of the same model to use (e.g. one with hooks)."""
    from tflm_edu.viz.common import allocated_interpreter
    data = _model_bytes(model)
    interpreter = allocated_interpreter(interpreter if interpreter is not None else data)
    inputs = _inputs(interpreter, inputs, seed)
    ours = run_tflm_edu(interpreter, inputs)
    if isinstance(oracle, str):
        oracle = _choose_oracle(oracle)
        theirs = ORACLE_RUNNERS[oracle](data, interpreter, inputs)
    else:
        theirs = _run_board(oracle, interpreter, inputs)
        oracle = f"the board {oracle.info().board!r}"
    report = Comparison(oracle)
    for node in interpreter.nodes:
        for index in node.outputs:
            if interpreter.tensors[index].type == TensorType.RESOURCE:
                continue   # a resource handle holds an id, not data (TFLM cannot read it)
            report.rows.append(_difference(node, index, interpreter.tensors[index],
                                           ours[index], theirs(index)))
    return report


def run_tflm_edu(interpreter, inputs) -> dict:
    """Every op output, copied right after its op ran: {tensor_index: array}."""
    for i, x in enumerate(inputs):
        interpreter.input(i).data[...] = x
    outputs = {}
    for event in interpreter.steps():
        for index, array in zip(event.node.outputs, event.outputs):
            outputs[index] = np.array(array)
    return outputs


# ----------------------------------------------------------------------------- oracles


def _run_tflite_micro(data: bytes, interpreter, inputs):
    from tflite_micro.python.tflite_micro import runtime
    # Every tensor keeps its bytes (the linear plan), plus the tail: larger models keep
    # more in the tail (per-channel data), so double the room until TFLM allocates.
    arena = sum(t.nbytes for sg in interpreter.subgraphs for t in sg.tensors
                if not t.is_constant) + ORACLE_ARENA_SLACK
    for attempt in range(4):
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                oracle = runtime.Interpreter.from_bytes(
                    data, arena_size=arena << attempt,
                    intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)
            break
        except RuntimeError:
            if attempt == 3:
                raise
    for i, x in enumerate(inputs):
        oracle.set_input(x, i)
    oracle.invoke()
    return lambda index: np.asarray(oracle.GetTensor(index, 0)["tensor_data"])


def _run_litert(data: bytes, interpreter, inputs):
    import warnings

    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    try:
        with warnings.catch_warnings():  # "preserve all tensors is for debugging": it is
            warnings.simplefilter("ignore")
            # The reference kernels, as TFLM's; the default ones (XNNPACK, optimized) round
            # floats differently.
            oracle = Interpreter(model_content=data, experimental_preserve_all_tensors=True,
                                 experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    except ValueError as e:  # LiteRT is stricter than TFLM about some quantization fields
        raise OracleUnavailableError(f"LiteRT refuses this model ({str(e)[:100]}...); "
                                     f"compare with oracle='tflite-micro' instead") from None
    oracle.allocate_tensors()
    for detail, x in zip(oracle.get_input_details(), inputs):
        oracle.set_tensor(detail["index"], x)
    oracle.invoke()
    return lambda index: np.asarray(oracle.get_tensor(index))


def _run_board(board, interpreter, inputs):
    """Every op output as the board computed it: all tensors kept, one invoke, each read back;
    the board is configured back to its own arena afterwards."""
    reply = board.configure(preserve_all=True)
    if reply.status != 0:
        raise InputError(f"the board cannot keep every tensor of this model in its "
                         f"{reply.arena_size:,}-byte arena ({'; '.join(board.log[-2:])})")
    try:
        board.invoke(*inputs)
        tensors = {}
        for node in interpreter.nodes:
            for index in node.outputs:
                data, tensor = board.tensor(index), interpreter.tensors[index]
                if isinstance(data, bytes):        # a board opened without the model's bytes
                    data = np.frombuffer(data, tensor.dtype).reshape(tensor.shape)
                tensors[index] = data
    finally:
        board.configure()
    return tensors.__getitem__


ORACLE_RUNNERS = {"tflite-micro": _run_tflite_micro, "litert": _run_litert}


def _choose_oracle(oracle: str) -> str:
    found = available_oracles()
    if oracle == "auto":
        if not found:
            raise OracleUnavailableError(
                "no reference runtime is installed to compare against: install the real TFLM "
                "(pip install tflite-micro) or LiteRT (pip install ai-edge-litert)")
        return found[0]
    if oracle not in ORACLES:
        raise InputError(f"unknown oracle {oracle!r}; choose one of {', '.join(ORACLES)} or "
                         f"'auto'")
    if oracle not in found:
        package = "tflite-micro" if oracle == "tflite-micro" else "ai-edge-litert"
        raise OracleUnavailableError(f"the oracle {oracle} is not installed: "
                                     f"pip install {package}")
    return oracle


# ----------------------------------------------------------------------------- helpers


def _model_bytes(model) -> bytes:
    micro = getattr(model, "micro", model)
    if hasattr(micro, "planner"):  # a MicroInterpreter: serialise its Model
        return write_model(micro.model)
    return as_bytes(model)


def _inputs(interpreter, inputs, seed: int) -> list:
    tensors = [interpreter.input(i) for i in range(interpreter.inputs_size)]
    if inputs is None:
        rng = np.random.default_rng(seed)
        return [_random_like(rng, t) for t in tensors]
    if isinstance(inputs, np.ndarray):
        inputs = [inputs]
    if len(inputs) != len(tensors):
        raise InputError(f"the model has {len(tensors)} input(s), got {len(inputs)} array(s)")
    return [check_input(x, t.dtype, t.shape, f"input {i}", exact_shape=False)
            for i, (t, x) in enumerate(zip(tensors, inputs))]


def _random_like(rng, tensor) -> np.ndarray:
    if np.issubdtype(tensor.dtype, np.integer):
        info = np.iinfo(tensor.dtype)
        low, high = max(int(info.min), -32768), min(int(info.max), 32767)
        return rng.integers(low, high + 1, tensor.shape).astype(tensor.dtype)
    return rng.normal(size=tensor.shape).astype(tensor.dtype)


def _difference(node, index, tensor, ours, theirs) -> TensorDifference:
    ours = np.asarray(ours)
    theirs = np.asarray(theirs).reshape(ours.shape) if np.size(theirs) == ours.size else None
    if theirs is None:  # a shape mismatch: every element counts as different
        return TensorDifference(node.index, node.op_name, index, tensor.name, tuple(ours.shape),
                                str(ours.dtype), float("inf"), ours.size, ours.size)
    a, b = ours.astype(np.float64), theirs.astype(np.float64)
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    diff = np.where(same, 0.0, np.abs(a - b))
    return TensorDifference(node.index, node.op_name, index, tensor.name, tuple(ours.shape),
                            str(ours.dtype), float(np.nan_to_num(diff, nan=np.inf).max(initial=0)),
                            int((~same).sum()), int(ours.size))
