"""Predict the instructions TFLM executes on a Cortex-M core, op by op, without the board.

    model = CostModel.load("cortex-m4", "cmsis_nn")
    profile = model.predict("person_detect.tflite")
    print(profile.table())          # each op: instructions, share, which formula
    profile.total                   # instructions per invoke
    profile.milliseconds(board)     # an estimate: instructions x CPI / clock

For every cost key (an op, its input type and, for CMSIS-NN, the routine it picks; see
tflm_edu.profile.features) the model holds one linear formula:

    instructions = sum over the key's loop counts of  count x instructions per count

fitted to what the emulated board measured on a corpus of one-op models
(tflm_edu.profile.corpus, measured by tflm_edu.profile.measure). The coefficients live in
coefficients.json beside this file; benchmarks/fit_cost_model.py regenerates them.

Instructions are not cycles. QEMU counts instructions; it models no pipeline, no caches and
no flash wait states. `milliseconds` multiplies by an assumed cycles-per-instruction (CPI,
see CPI below, with the reason for each number) and says so.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tflm_edu.errors import InputError
from tflm_edu.profile.features import OpFeatures, model_features, own_instructions

COEFFICIENTS = Path(__file__).with_name("coefficients.json")
TARGETS = ("cortex-m4", "cortex-m7")
KERNELS = ("reference", "cmsis_nn")
# Cycles per instruction assumed when turning instructions into time. Cortex-M4: a 3-stage
# single-issue pipeline; data processing takes 1 cycle, loads 2 (1 when pipelined), taken
# branches 2-4, and flash wait states add more above ~40 MHz, so compiled kernel loops run
# somewhat above 1. Cortex-M7: a 6-stage dual-issue pipeline with caches can retire two
# instructions per cycle, but loads and branches pair poorly; about 1 is typical for these
# loops. These are assumptions, not measurements (QEMU cannot measure cycles).
CPI = {"cortex-m4": 1.25, "cortex-m7": 1.0}


@dataclass
class Formula:
    """instructions = sum(coefficients[name] * counts[name]) for one cost key."""
    key: str
    coefficients: dict
    samples: int = 0
    worst_error: float = 0.0       # largest relative error on the corpus it was fitted to

    def predict(self, values: dict) -> float:
        return float(sum(c * values.get(name, 0.0) for name, c in self.coefficients.items()))


@dataclass
class OpPrediction:
    index: int
    op: str
    key: str
    instructions: float            # the op's own: for IF/WHILE, without the ops they run
    fitted: bool                   # False: no formula for this key; the fallback guessed
    subgraph: int = 0
    depth: int = 0                 # 1 + the depth of the IF or WHILE that runs this op


@dataclass
class Profile:
    """The predicted cost of one invoke on one target."""
    target: str
    kernels: str
    ops: list = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(op.instructions for op in self.ops)

    def milliseconds(self, clock_hz: float, cpi: float | None = None) -> float:
        """Estimated time of one invoke at `clock_hz` (instructions x CPI / clock)."""
        cpi = CPI[self.target] if cpi is None else cpi
        return self.total * cpi / clock_hz * 1e3

    def table(self) -> str:
        total = max(self.total, 1.0)
        names = ["  " * op.depth + op.op for op in self.ops]   # ops run by an IF or WHILE, indented
        wide_name = max([22] + [len(n) for n in names])        # long custom op names widen it
        wide_key = max([30] + [len(op.key) for op in self.ops])
        rows = [f"{'#':>5}  {'op':<{wide_name}} {'cost key':<{wide_key}} {'instructions':>13}  "
                f"share"]
        for op, name in zip(self.ops, names):
            mark = "" if op.fitted else "  (no formula: rough guess)"
            where = f"{op.subgraph}:{op.index}" if op.subgraph else str(op.index)
            rows.append(f"{where:>5}  {name:<{wide_name}} {op.key:<{wide_key}} "
                        f"{op.instructions:>13,.0f}  {100 * op.instructions / total:5.1f}%{mark}")
        rows.append(f"{'':>5}  {'total':<{wide_name}} {'':<{wide_key}} {self.total:>13,.0f}")
        if any(op.depth for op in self.ops):
            rows.append("(an IF or WHILE counts its own work: copies and subgraph calls; the "
                        "ops it runs follow it, indented)")
        return "\n".join(rows)

    def to_dict(self) -> dict:
        return {"target": self.target, "kernels": self.kernels, "cpi": CPI[self.target],
                "total_instructions": round(self.total),
                "ops": [{"index": op.index, "subgraph": op.subgraph, "depth": op.depth,
                         "op": op.op, "key": op.key, "instructions": round(op.instructions),
                         "fitted": op.fitted}
                        for op in self.ops]}

    def own_measured(self, measured: list) -> list:
        """A board's per-event instructions (one per op of this profile, in its order) as
        each op's own, comparable with `ops`: an IF's or WHILE's event holds the events of
        the ops it runs, which come off it."""
        return own_instructions(list(measured), [op.depth for op in self.ops])


def _fallback_key(key: str) -> str:
    """Keys without a formula borrow the generic one of their type ("*/int8")."""
    parts = key.split("/")
    return "*/" + (parts[1] if len(parts) > 1 else "float32")


class CostModel:
    """The fitted formulas of one target and kernel family."""

    def __init__(self, target: str, kernels: str, formulas: dict):
        self.target, self.kernels, self.formulas = target, kernels, formulas

    def __repr__(self):
        return f"CostModel({self.target}, {self.kernels}, {len(self.formulas)} formulas)"

    @classmethod
    def load(cls, target: str = "cortex-m4", kernels: str = "reference",
             path: Path | None = None) -> "CostModel":
        target = {"cortex-m4f": "cortex-m4"}.get(target, target)
        if target not in TARGETS:
            raise InputError(f"no cost model for target {target!r}: choose one of "
                             f"{', '.join(TARGETS)}")
        if kernels not in KERNELS:
            raise InputError(f"no cost model for kernels {kernels!r}: choose one of "
                             f"{', '.join(KERNELS)}")
        stored = json.loads(Path(path or COEFFICIENTS).read_text())
        entry = stored.get("models", {}).get(f"{target}/{kernels}")
        if entry is None:
            raise InputError(f"coefficients.json has no formulas for {target}/{kernels}: "
                             f"run benchmarks/fit_cost_model.py")
        formulas = {key: Formula(key, f["coefficients"], f.get("samples", 0),
                                 f.get("worst_error", 0.0)) for key, f in entry.items()}
        return cls(target, kernels, formulas)

    def formula_for(self, key: str) -> tuple[Formula | None, bool]:
        if key in self.formulas:
            return self.formulas[key], True
        base = "/".join(key.split("/")[:2])      # a CMSIS-NN routine without data: its op
        if base in self.formulas:
            return self.formulas[base], True
        return self.formulas.get(_fallback_key(key)), False

    def predict_op(self, features: OpFeatures) -> OpPrediction:
        formula, fitted = self.formula_for(features.key)
        value = formula.predict(features.values) if formula is not None else 0.0
        return OpPrediction(features.index, features.op, features.key, max(value, 0.0), fitted,
                            features.subgraph, features.depth)

    def predict(self, model, inputs=None) -> Profile:
        """Per-op predicted instructions of one invoke of `model` (path, bytes or Model).
        With IF or WHILE, which ops run depends on the values: tflm_edu's interpreter runs
        the model on `inputs` (a list of arrays; zeros by default) to find out."""
        return Profile(self.target, self.kernels,
                       [self.predict_op(f) for f in model_features(model, self.kernels, inputs)])


# -- fitting -------------------------------------------------------------------------

def nonnegative_least_squares(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x >= 0 minimising |a x - b|: least squares, dropping the most negative coefficient
    until none is negative (enough for a handful of loop counts)."""
    active = list(range(a.shape[1]))
    x = np.zeros(a.shape[1])
    while active:
        solution, *_ = np.linalg.lstsq(a[:, active], b, rcond=None)
        if (solution >= 0).all():
            x[active] = solution
            return x
        active.pop(int(np.argmin(solution)))
    return x


def fit_formula(key: str, samples: list) -> Formula:
    """Fit one key's formula to [(values dict, measured instructions)], minimising the
    relative error (each row divided by its measurement)."""
    names = sorted({name for values, _ in samples for name in values})
    a = np.array([[values.get(n, 0.0) for n in names] for values, _ in samples], float)
    y = np.array([measured for _, measured in samples], float)
    weight = 1.0 / np.maximum(y, 1.0)
    scale = np.maximum(np.abs(a).max(axis=0), 1.0)       # conditioning: columns near 1
    x = nonnegative_least_squares(a / scale * weight[:, None], y * weight) / scale
    predicted = a @ x
    worst = float(np.max(np.abs(predicted - y) / np.maximum(y, 1.0))) if len(y) else 0.0
    return Formula(key, {n: float(c) for n, c in zip(names, x) if c != 0.0}, len(samples),
                   worst)


def fit(measurements: list, kernels: str) -> dict:
    """{key: Formula} from [(model bytes, [OpCount] or None)] of one target and kernels,
    plus a generic "*/<type>" formula per input type from every op that is not a window or
    a matrix product, for keys the corpus never saw."""
    by_key: dict = {}
    generic: dict = {}
    for data, counts in measurements:
        if counts is None:
            continue
        features = model_features(data, kernels)
        if len(features) != len(counts):
            continue
        own = own_instructions([c.instructions for c in counts], [f.depth for f in features])
        for f, instructions in zip(features, own):
            by_key.setdefault(f.key, []).append((f.values, instructions))
            if set(f.values) == {"calls", "outputs", "inputs"}:
                dtype = f.key.split("/")[1]
                generic.setdefault(f"*/{dtype}", []).append((f.values, instructions))
    formulas = {key: fit_formula(key, rows) for key, rows in sorted(by_key.items())}
    formulas.update({key: fit_formula(key, rows) for key, rows in generic.items()})
    return formulas


def store(formulas_by_config: dict, meta: dict, path: Path | None = None) -> Path:
    """Write {"<target>/<kernels>": {key: Formula}} and `meta` to coefficients.json."""
    payload = {"meta": meta, "models": {
        config: {key: {"coefficients": {n: float(f"{c:.6g}") for n, c in
                                        f.coefficients.items()},
                       "samples": f.samples, "worst_error": round(f.worst_error, 4)}
                 for key, f in sorted(formulas.items())}
        for config, formulas in sorted(formulas_by_config.items())}}
    out = Path(path or COEFFICIENTS)
    out.write_text(json.dumps(payload, indent=1) + "\n")
    return out
