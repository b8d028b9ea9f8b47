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

from tflm_edu.errors import AllocationError
from tflm_edu.schema.enums import BuiltinOperator as Op

# builtin op -> (module in tflm_edu.kernels, registration function)
KERNELS = {
    Op.FULLY_CONNECTED: ("fully_connected", "register_fully_connected"),
    Op.CONV_2D: ("conv", "register_conv_2d"),
    Op.DEPTHWISE_CONV_2D: ("depthwise_conv", "register_depthwise_conv_2d"),
    Op.AVERAGE_POOL_2D: ("pooling", "register_average_pool_2d"),
    Op.MAX_POOL_2D: ("pooling", "register_max_pool_2d"),
    Op.SOFTMAX: ("softmax", "register_softmax"),
    Op.RESHAPE: ("reshape", "register_reshape"),
    Op.QUANTIZE: ("quantize", "register_quantize"),
    Op.DEQUANTIZE: ("dequantize", "register_dequantize"),
    Op.ADD: ("add", "register_add"),
    Op.MUL: ("mul", "register_mul"),
    Op.RELU: ("activations", "register_relu"),
    Op.RELU6: ("activations", "register_relu6"),
    Op.LOGISTIC: ("logistic", "register_logistic"),
    Op.TANH: ("tanh", "register_tanh"),
    Op.PAD: ("pad", "register_pad"),
    Op.CONCATENATION: ("concatenation", "register_concatenation"),
    Op.MEAN: ("reduce", "register_mean"),
    Op.SHAPE: ("shape", "register_shape"),
    Op.STRIDED_SLICE: ("strided_slice", "register_strided_slice"),
    Op.PACK: ("pack", "register_pack"),
}


# The ops with a reference eval: a module of the same name in tflm_edu.kernels.reference,
# with the same registration function.
REFERENCE_OPS = frozenset({Op.CONV_2D, Op.DEPTHWISE_CONV_2D, Op.FULLY_CONNECTED,
                           Op.AVERAGE_POOL_2D, Op.MAX_POOL_2D, Op.ADD, Op.MUL})
KERNEL_FAMILIES = ("optimized", "reference")


def reference_fallbacks() -> list:
    """The ops that run their optimized kernel even with kernels="reference"."""
    return [op for op in KERNELS if op not in REFERENCE_OPS]


def kernel_package(op: int, kernels: str = "optimized") -> str:
    """The package whose module runs `op` in the family `kernels`."""
    if kernels == "reference" and op in REFERENCE_OPS:
        return "tflm_edu.kernels.reference"
    return "tflm_edu.kernels"


def load_registration(op: int, kernels: str = "optimized"):
    module_name, function = KERNELS[op]
    package = kernel_package(op, kernels)
    try:
        module = importlib.import_module(f"{package}.{module_name}")
    except ImportError as e:
        raise AllocationError(f"the {Op(op).name} kernel ({package}.{module_name}) "
                              f"could not be loaded: {e}") from e
    return getattr(module, function)()


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
        if op not in KERNELS:
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
    """'AddConv2D' for CONV_2D, as in micro_mutable_op_resolver.h."""
    special = {"FULLY_CONNECTED": "FullyConnected", "DEPTHWISE_CONV_2D": "DepthwiseConv2D",
               "CONV_2D": "Conv2D", "AVERAGE_POOL_2D": "AveragePool2D",
               "MAX_POOL_2D": "MaxPool2D", "RELU6": "Relu6"}
    name = Op(op).name
    return "Add" + special.get(name, "".join(part.capitalize() for part in name.split("_")))


for _op in KERNELS:
    setattr(MicroMutableOpResolver, add_method_name(_op), _make_adder(_op))


class AllOpsResolver(MicroMutableOpResolver):
    """Every kernel tflm_edu implements, of the family `kernels`."""

    def __init__(self, kernels: str = "optimized"):
        super().__init__(kernels=kernels)
        for op in KERNELS:
            self.add_builtin(op)


def resolver_for_model(model, kernels: str = "optimized") -> MicroMutableOpResolver:
    """A resolver with exactly the model's builtin ops, sized like MicroMutableOpResolver<N>."""
    ops = []
    for code in model.operator_codes:
        if code.builtin_code in KERNELS and code.builtin_code not in ops:
            ops.append(code.builtin_code)
    resolver = MicroMutableOpResolver(len(ops), kernels)
    for op in ops:
        resolver.add_builtin(op)
    return resolver
