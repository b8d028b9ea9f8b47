"""Op resolvers: which kernel runs each op of a model.

Mirrors tensorflow/lite/micro/micro_mutable_op_resolver.h: a firmware registers exactly
the ops its model uses (add_conv_2d(), add_fully_connected(), ...) in a resolver sized
for them, MicroMutableOpResolver<N>. The all-ops resolver registers every kernel
tflm_edu has - handy on a host, wasteful on a device.

Two families of kernels, as TFLM builds either kernels/ (reference loops) or
kernels/cmsis_nn/ (optimized) into a firmware: kernels="optimized" (the default: numpy,
tflm_edu.kernels) or kernels="reference" (TFLM's reference loops in plain Python,
tflm_edu.kernels.reference). A reference kernel shares its optimized twin's init, prepare
and OpData and brings only its own eval. The ops in REFERENCE_OPS have one; every other
op falls back to its optimized kernel even when the reference family is asked for
(reference_fallbacks() lists them). In TFLM the fallback runs the other way: a cmsis_nn
build takes the kernels/ version of every op CMSIS-NN does not cover.
"""
from __future__ import annotations

import importlib
import pkgutil
import re

from tflm_edu.errors import AllocationError
from tflm_edu.schema.enums import BuiltinOperator as Op


def _discover_specs() -> dict:
    """Every OpSpec declared by a module of tflm_edu.kernels (SPEC or SPECS), by op. This is
    the one registry: the validator, the quantizer, the arena estimator and the checks read
    it too (tflm_edu/kernels/op_spec.py says what a spec holds)."""
    import tflm_edu.kernels as package
    specs = {}
    for module_info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if module_info.ispkg:
            continue
        module = importlib.import_module(f"{package.__name__}.{module_info.name}")
        declared = getattr(module, "SPECS", None) or (
            [module.SPEC] if hasattr(module, "SPEC") else [])
        for spec in declared:
            if spec.op in specs:
                raise RuntimeError(f"{Op(spec.op).name} is declared twice (in {module.__name__})")
            specs[Op(spec.op)] = spec
    return dict(sorted(specs.items()))


SPECS = _discover_specs()


# The reference family: for each op, the register function of the same name in the module
# of the same name in tflm_edu.kernels.reference, where there is one.
KERNEL_FAMILIES = ("optimized", "reference")


def _reference_modules() -> dict:
    """op -> its module in tflm_edu.kernels.reference (same name as its kernel module)."""
    found = {}
    for op, spec in SPECS.items():
        module_name = spec.register.__module__.rsplit(".", 1)[-1]
        try:
            module = importlib.import_module(f"tflm_edu.kernels.reference.{module_name}")
        except ModuleNotFoundError:
            continue
        if hasattr(module, spec.register.__name__):
            found[op] = module
    return found


_REFERENCE_MODULES = _reference_modules()
# op -> the reference family's register function
REFERENCE = {op: getattr(m, SPECS[op].register.__name__) for op, m in _REFERENCE_MODULES.items()}
REFERENCE_OPS = frozenset(REFERENCE)
# op -> the reference loop body that computes one output element with a tracer (explain())
EVAL_AT = {op: m.eval_at for op, m in _REFERENCE_MODULES.items() if hasattr(m, "eval_at")}


def reference_fallbacks() -> list:
    """The ops that run their optimized kernel even with kernels="reference"."""
    return [op for op in SPECS if op not in REFERENCE_OPS]


def load_registration(op: int, kernels: str = "optimized"):
    """The op's Registration in the family `kernels` (its OpSpec's register function, or
    its reference twin's)."""
    op = Op(op)
    register = REFERENCE[op] if kernels == "reference" and op in REFERENCE else \
        SPECS[op].register
    try:
        return register()
    except Exception as e:
        raise AllocationError(f"the {op.name} kernel could not be loaded: {e}") from e


def check_kernels(kernels: str) -> str:
    if kernels not in KERNEL_FAMILIES:
        raise ValueError(f"kernels must be one of {', '.join(KERNEL_FAMILIES)}, not {kernels!r}")
    return kernels


class MicroMutableOpResolver:
    """Register ops one by one; find_op() is what the interpreter asks at allocation.
    kernels="reference" resolves the ops of REFERENCE_OPS to TFLM's reference loops."""

    def __init__(self, capacity: int | None = None, kernels: str = "optimized"):
        self.capacity = capacity  # the N of MicroMutableOpResolver<N>; None = unbounded
        self.kernels = check_kernels(kernels)
        self.registrations = {}

    def add_builtin(self, op: int):
        op = Op(op)
        if op not in SPECS:
            raise ValueError(f"tflm_edu has no kernel for {op.name}")
        if op in self.registrations:
            raise ValueError(f"{op.name} is already registered")
        if self.capacity is not None and len(self.registrations) >= self.capacity:
            raise ValueError(f"resolver is full: capacity {self.capacity} reached while adding "
                             f"{op.name}; make it MicroMutableOpResolver({self.capacity + 1})")
        self.registrations[op] = None  # the kernel module is imported on first use
        return self

    def find_op(self, op: int):
        """The op's Registration, or None when it was not registered."""
        if op not in self.registrations:
            return None
        if self.registrations[op] is None:
            self.registrations[op] = load_registration(op, self.kernels)
        return self.registrations[op]

    @property
    def op_names(self):
        return [op.name for op in self.registrations]

    def __repr__(self):
        family = "" if self.kernels == "optimized" else f", kernels={self.kernels!r}"
        return (f"MicroMutableOpResolver<{self.capacity or len(self.registrations)}>"
                f"({self.op_names}{family})")


def _make_adder(op):
    def add(self):
        return self.add_builtin(op)
    add.__name__ = add_method_name(op)
    add.__doc__ = f"Register the {op.name} kernel (AddXxx() in TFLM)."
    return add


def add_method_name(op) -> str:
    """'add_conv_2d' for CONV_2D: the Python spelling of TFLM's AddConv2D()."""
    return "add_" + Op(op).name.lower()


def cpp_add_method_name(op) -> str:
    """'AddConv2D' for CONV_2D, as in micro_mutable_op_resolver.h: each word of the op's
    name capitalized, and a dimension suffix ("2D") kept upper-case."""
    words = Op(op).name.split("_")
    return "Add" + "".join(w.upper() if re.fullmatch(r"\d+D", w) else w.capitalize()
                           for w in words)


for _op in SPECS:
    setattr(MicroMutableOpResolver, add_method_name(_op), _make_adder(_op))


class AllOpsResolver(MicroMutableOpResolver):
    """Every kernel tflm_edu implements, of the family `kernels`."""

    def __init__(self, kernels: str = "optimized"):
        super().__init__(kernels=kernels)
        for op in SPECS:
            self.add_builtin(op)


def resolver_for_model(model, kernels: str = "optimized") -> MicroMutableOpResolver:
    """A resolver with exactly the model's builtin ops, sized like MicroMutableOpResolver<N>."""
    ops = []
    for code in model.operator_codes:
        if code.builtin_code in SPECS and code.builtin_code not in ops:
            ops.append(code.builtin_code)
    resolver = MicroMutableOpResolver(len(ops), kernels)
    for op in ops:
        resolver.add_builtin(op)
    return resolver
