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


def _discover_specs() -> tuple[dict, dict]:
    """Every OpSpec declared by a module of tflm_edu.kernels (SPEC or SPECS): builtin ops by
    op, custom ops (TFLM's Signal library) by name. This is the one registry: the
    validator, the quantizer, the arena estimator and the checks read it too
    (tflm_edu/kernels/op_spec.py says what a spec holds)."""
    import tflm_edu.kernels as package
    specs, custom = {}, {}
    for module_info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if module_info.ispkg:
            continue
        module = importlib.import_module(f"{package.__name__}.{module_info.name}")
        declared = getattr(module, "SPECS", None) or (
            [module.SPEC] if hasattr(module, "SPEC") else [])
        for spec in declared:
            table, key = (custom, spec.custom_name) if spec.op == Op.CUSTOM else \
                (specs, Op(spec.op))
            if key in table:
                raise RuntimeError(f"{spec.name} is declared twice (in {module.__name__})")
            table[key] = spec
    return dict(sorted(specs.items())), dict(sorted(custom.items()))


SPECS, CUSTOM_SPECS = _discover_specs()


def spec_for_code(code):
    """The OpSpec of an OperatorCode - a builtin op's, or a custom op's by its name - or
    None when tflm_edu has no kernel for it."""
    if code.builtin_code == Op.CUSTOM:
        return CUSTOM_SPECS.get(code.custom_code)
    return SPECS.get(code.builtin_code)


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


def load_registration(op, kernels: str = "optimized"):
    """The op's Registration in the family `kernels` (its OpSpec's register function, or
    its reference twin's). `op`: a builtin op, or a custom op's name."""
    if isinstance(op, str):
        register, name = CUSTOM_SPECS[op].register, op
    else:
        op = Op(op)
        register = REFERENCE[op] if kernels == "reference" and op in REFERENCE else \
            SPECS[op].register
        name = op.name
    if register not in _LOADED:   # one TFLMRegistration per kernel, shared like TFLM's
        try:
            _LOADED[register] = register()
        except Exception as e:
            raise AllocationError(f"the {name} kernel could not be loaded: {e}") from e
    return _LOADED[register]


_LOADED: dict = {}   # register function -> its Registration (no state of its own)


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

    def add_custom(self, name: str, registration=None):
        """AddCustom(name, registration): a custom op - one of tflm_edu's (TFLM's Signal
        library ops, "SignalWindow", ...) when no registration is given, or your own
        kernel: a Registration with init / prepare / eval written in Python."""
        if registration is None and name not in CUSTOM_SPECS:
            raise ValueError(f"tflm_edu has no kernel for the custom op {name!r} (it has "
                             f"{', '.join(CUSTOM_SPECS) or 'none'}); pass a Registration "
                             f"to register your own")
        if name in self.registrations and registration is None:
            raise ValueError(f"{name} is already registered")
        if self.capacity is not None and len(self.registrations) >= self.capacity:
            raise ValueError(f"resolver is full: capacity {self.capacity} reached while adding "
                             f"{name}; make it MicroMutableOpResolver({self.capacity + 1})")
        self.registrations[name] = registration   # None: loaded on first use
        return self

    def find_op(self, op: int, custom_name: str | None = None):
        """The op's Registration (a CUSTOM op's by its name), or None when it was not
        registered."""
        key = custom_name if op == Op.CUSTOM else op
        if key not in self.registrations:
            return None
        if self.registrations[key] is None:
            self.registrations[key] = load_registration(key, self.kernels)
        return self.registrations[key]

    @property
    def op_names(self):
        return [op if isinstance(op, str) else op.name for op in self.registrations]

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


# Where micro_mutable_op_resolver.h does not follow its own spelling rule.
CPP_ADDER_SPELLINGS = {Op.UNIDIRECTIONAL_SEQUENCE_LSTM: "AddUnidirectionalSequenceLSTM",
                       Op.PADV2: "AddPadV2", Op.BATCH_MATMUL: "AddBatchMatMul",
                       Op.CUMSUM: "AddCumSum"}


def cpp_add_method_name(op) -> str:
    """'AddConv2D' for CONV_2D, as in micro_mutable_op_resolver.h: each word of the op's
    name capitalized, and a dimension suffix ("2D") kept upper-case."""
    if op in CPP_ADDER_SPELLINGS:
        return CPP_ADDER_SPELLINGS[Op(op)]
    words = Op(op).name.split("_")
    return "Add" + "".join(w.upper() if re.fullmatch(r"\d+D", w) else w.capitalize()
                           for w in words)


# The custom ops whose adder is not "Add" + the name without "Signal": (C++, Python).
CUSTOM_ADDER_SPELLINGS = {"CIRCULAR_BUFFER": ("AddCircularBuffer", "add_circular_buffer"),
                          "TFLite_Detection_PostProcess": ("AddDetectionPostprocess",
                                                           "add_detection_postprocess")}


def custom_add_method_name(name: str) -> str:
    """'add_filter_bank_log' for "SignalFilterBankLog": TFLM's resolver registers its Signal
    ops with AddFilterBankLog() - the name without "Signal" (cpp_custom_add_method_name)."""
    if name in CUSTOM_ADDER_SPELLINGS:
        return CUSTOM_ADDER_SPELLINGS[name][1]
    stem = name.removeprefix("Signal")
    return "add_" + re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", stem).lower()


def cpp_custom_add_method_name(name: str) -> str:
    """'AddPCAN' for "SignalPCAN", as micro_mutable_op_resolver.h spells it."""
    if name in CUSTOM_ADDER_SPELLINGS:
        return CUSTOM_ADDER_SPELLINGS[name][0]
    return "Add" + name.removeprefix("Signal")


def _make_custom_adder(name):
    def add(self):
        return self.add_custom(name)
    add.__name__ = custom_add_method_name(name)
    add.__doc__ = f"Register the {name} custom op ({cpp_custom_add_method_name(name)}() in TFLM)."
    return add


for _op in SPECS:
    setattr(MicroMutableOpResolver, add_method_name(_op), _make_adder(_op))
for _name in CUSTOM_SPECS:
    setattr(MicroMutableOpResolver, custom_add_method_name(_name), _make_custom_adder(_name))


class AllOpsResolver(MicroMutableOpResolver):
    """Every kernel tflm_edu implements, of the family `kernels`."""

    def __init__(self, kernels: str = "optimized"):
        super().__init__(kernels=kernels)
        for op in SPECS:
            self.add_builtin(op)
        for name in CUSTOM_SPECS:
            self.add_custom(name)


def resolver_for_model(model, kernels: str = "optimized") -> MicroMutableOpResolver:
    """A resolver with exactly the model's builtin ops, sized like MicroMutableOpResolver<N>."""
    ops = []
    for code in model.operator_codes:
        key = code.custom_code if code.builtin_code == Op.CUSTOM else code.builtin_code
        if spec_for_code(code) is not None and key not in ops:
            ops.append(key)
    resolver = MicroMutableOpResolver(len(ops), kernels)
    for op in ops:
        resolver.add_custom(op) if isinstance(op, str) else resolver.add_builtin(op)
    return resolver
