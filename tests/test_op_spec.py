"""One OpSpec per op, beside its kernel: complete, and what every consumer reads."""
import dataclasses
import importlib
import pkgutil

import pytest

import tflm_edu.kernels as kernels
from tflm_edu.memory.layout import get_target
from tflm_edu.convert.quantize import SUPPORTED
from tflm_edu.kernels.kernel_api import Registration
from tflm_edu.kernels.op_spec import ANY_TYPE, ArenaRecipe, OpSpec
from tflm_edu.op_resolver import CUSTOM_SPECS, SPECS, AllOpsResolver
from tflm_edu.schema import options
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType

CORTEX_M = get_target("cortex-m")
HOST = get_target("host")  # a USE_TFLM_COMPRESSION build: every OpData member exists


@pytest.mark.parametrize("op", list(SPECS), ids=lambda op: op.name)
def test_every_registered_op_has_a_complete_spec(op):
    spec = SPECS[op]
    assert isinstance(spec, OpSpec) and spec.op == op and spec.name == op.name
    registration = spec.register()
    assert isinstance(registration, Registration) and registration.name == op.name
    assert spec.options is None or (dataclasses.is_dataclass(spec.options)
                                    and getattr(options, spec.options.__name__) is spec.options)
    assert spec.types == ANY_TYPE or (spec.types and set(spec.types) <= set(TensorType))
    assert all(0 <= i < 24 for i in spec.optional_inputs)   # LSTM has 24 inputs
    assert isinstance(spec.arena, ArenaRecipe) and callable(spec.arena.prepare)
    for struct in (spec.arena.builtin_params, spec.arena.op_data):   # sized for the arena
        assert struct is None or (HOST.sizeof(struct) > 0 and CORTEX_M.sizeof(struct) >= 0)
    if spec.quantizer is not None:
        rule = spec.quantizer
        assert 1 <= rule.int8_version <= registration.max_version
        assert rule.output in ("calibrated", "same_as_input", "same_scale", "fixed")
        assert (rule.output == "fixed") == (rule.fixed_output is not None)
        if rule.int16_version is not None:          # written in int16x8 too
            assert 1 <= rule.int16_version <= registration.max_version
            assert TensorType.INT16 in spec.types or spec.types == ANY_TYPE
            assert (rule.output == "fixed") == (rule.fixed_output_int16 is not None)


def test_every_kernel_module_declares_its_ops():
    for info in pkgutil.iter_modules(kernels.__path__):
        module = importlib.import_module(f"tflm_edu.kernels.{info.name}")
        registers = [name for name in vars(module) if name.startswith("register_")]
        declared = getattr(module, "SPECS", None) or ([module.SPEC] if hasattr(module, "SPEC")
                                                       else [])
        assert len(registers) == len(declared), info.name
        assert {spec.register.__name__ for spec in declared} == set(registers), info.name


def test_the_consumers_read_the_specs():
    assert set(AllOpsResolver().registrations) == set(SPECS) | set(CUSTOM_SPECS)
    assert SUPPORTED == {op for op, s in SPECS.items() if s.quantizer} - {Op.QUANTIZE,
                                                                          Op.DEQUANTIZE}
    assert SPECS[Op.FULLY_CONNECTED].optional_inputs == {2}
    assert SPECS[Op.SOFTMAX].quantizer.fixed_output == (1 / 256, -128)
