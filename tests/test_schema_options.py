"""Every table of the BuiltinOptions union, checked against flatc's own Python code for
schema.fbs (ai_edge_litert.schema_py_generated, the oracle): union tags, vtable slots, field
names, defaults and storage formats, then values written by either side and read by the
other, and a round trip through write_model / read_model."""
import dataclasses
import inspect
import re
import struct

import flatbuffers
import numpy as np
import pytest

from tflm_edu.errors import ModelError
from tflm_edu.op_resolver import SPECS
from tflm_edu.schema import options as opts
from tflm_edu.schema import read_model, write_model
from tflm_edu.schema.builder import ModelBuilder
from tflm_edu.schema.enums import BuiltinOperator as Op

ALL_SPECS = sorted(opts.SPEC_BY_UNION_TYPE.values(), key=lambda spec: spec.union_type)
by_table = pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda spec: spec.cls.__name__)


def generated():
    """flatc's Python module for schema.fbs. ai-edge-litert is a test dependency: a missing
    oracle is a failure, not a skip."""
    from ai_edge_litert import schema_py_generated
    return schema_py_generated


def camel(name: str) -> str:
    """flatc's name for a field: dilation_w_factor -> DilationWFactor."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def attribute(name: str) -> str:
    """flatc's object-API attribute: dilation_w_factor -> dilationWFactor."""
    return name[:1] + camel(name)[1:]


# ----------------------------------------------------------------------------- flatc's tables


class Recorder:
    """Stands in for flatbuffers.Builder and records the calls a generated function makes."""

    def __init__(self):
        self.calls = []

    def __getattr__(self, method):
        return lambda *args: self.calls.append((method, args))


def one_call(function, *args):
    recorder = Recorder()
    function(recorder, *args)
    [call] = recorder.calls
    return call


# The Prepend<Type>Slot a generated Add function calls, and the <Type>Flags its accessor reads.
SCALAR_FORMAT = {"Int8": opts.BYTE, "Bool": opts.BOOL, "Int32": opts.INT32,
                 "Uint32": opts.UINT32, "Int64": opts.INT64, "Float32": opts.FLOAT32}
VECTOR_FORMAT = {"Int32": opts.INT_VECTOR, "Float32": opts.FLOAT_VECTOR,
                 "Uint8": opts.UBYTE_VECTOR}


def flatc_table(name):
    """(slot count, {slot: (field, format, default)}) of table `name`, from the generated
    builder functions (slot, default, how it is prepended) and accessors (element type)."""
    schema = generated()
    method, (slot_count,) = one_call(getattr(schema, f"{name}Start"))
    assert method == "StartObject"
    prefix, fields = f"{name}Add", {}
    for function in dir(schema):
        if not function.startswith(prefix):
            continue
        field = function[len(prefix):]
        method, (slot, _, default) = one_call(getattr(schema, function), 0)
        accessor = inspect.getsource(getattr(getattr(schema, name), field))
        flags = [f for f in re.findall(r"number_types\.(\w+)Flags", accessor) if f != "UOffsetT"]
        if method == "PrependUOffsetTRelativeSlot":
            if "self._tab.String(" in accessor:
                fmt = opts.STRING
            else:
                assert "self._tab.Vector(" in accessor, f"{name}.{field}: not a vector"
                fmt = VECTOR_FORMAT[flags[0]]
                element_size, _, _ = one_call(getattr(schema, f"{name}Start{field}Vector"), 0)[1]
                assert element_size == np.dtype(opts.VECTOR_DTYPE[fmt]).itemsize
        else:
            fmt = SCALAR_FORMAT[flags[0]]
            assert method == f"Prepend{flags[0]}Slot", f"{name}.{field}: {method}"
        fields[slot] = (field, fmt, default)
    return slot_count, fields


def test_every_union_member_has_a_table():
    members = {value: name for name, value in vars(generated().BuiltinOptions).items()
               if not name.startswith("_") and value != 0}
    assert min(members) == 1 and max(members) >= 126
    assert {spec.union_type: spec.cls.__name__ for spec in ALL_SPECS} == members
    assert all(opts.SPEC_BY_CLASS[spec.cls] is spec for spec in ALL_SPECS)
    assert all(getattr(opts, spec.cls.__name__) is spec.cls for spec in ALL_SPECS)


@by_table
def test_slots_names_formats_and_defaults_match_flatc(spec):
    name = spec.cls.__name__
    slot_count, theirs = flatc_table(name)
    assert len(spec.formats) == slot_count, f"{name}: flatc's table has {slot_count} slots"
    defaults = spec.cls()
    ours = {}
    for slot, field, fmt in spec.slots:
        default = getattr(defaults, field)
        if fmt in opts.VECTOR_DTYPE or fmt == opts.STRING:
            assert default in ((), None), f"{name}.{field}"
            default = 0  # flatc's "default" of an offset: absent
        ours[slot] = (camel(field), fmt, default)
    # Deprecated slots have no Add function and no accessor in flatc's code: the same gaps.
    assert ours == theirs
    for _, field, fmt in spec.slots:  # and the Python types say what the field holds
        expected = {opts.BOOL: bool, opts.FLOAT32: float}.get(fmt, int)
        if fmt in SCALAR_FORMAT.values():
            assert isinstance(getattr(defaults, field), expected), f"{name}.{field}"


# ----------------------------------------------------------------------------- values


def sample(fmt, slot, default):
    """A value unlike the default and unlike the value of any other slot, which a wrong
    slot, width, signedness or element type would not reproduce."""
    return {opts.BYTE: -(slot + 2), opts.BOOL: not default, opts.INT32: -(100_000 + slot),
            opts.UINT32: 3_000_000_000 + slot, opts.INT64: -(2**40 + slot),
            opts.FLOAT32: slot + 0.25, opts.INT_VECTOR: (slot + 1, -70_000, 2**30),
            opts.FLOAT_VECTOR: (slot + 0.5, -2.25), opts.UBYTE_VECTOR: (slot, 200, 255),
            opts.STRING: f"slot {slot}: \u00e9"}[fmt]


def filled(spec):
    """An instance of the table with every field set to a sample value."""
    defaults = spec.cls()
    return spec.cls(**{field: sample(fmt, slot, getattr(defaults, field))
                       for slot, field, fmt in spec.slots})


RUN_BY = {spec.options: op for op, spec in SPECS.items() if spec.options is not None}
NOT_RUN = next(op for op in Op if op not in SPECS and op != Op.CUSTOM)


def model_with(options):
    """A one-op model whose op carries `options`: an op tflm_edu runs with that table if
    there is one (so validation checks the pairing), any op it does not run otherwise."""
    b = ModelBuilder()
    x = b.add_input((1, 4), np.float32)
    y = b.mark_output(b.add_tensor((1, 4), np.float32))
    b.add_operator(RUN_BY.get(type(options), NOT_RUN), [x], [y], options)
    return b.build()


def flatc_model(data):
    return generated().ModelT.InitFromPackedBuf(data, 0)


def flatc_bytes(model_t):
    builder = flatbuffers.Builder(1024)
    builder.Finish(model_t.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def flatc_written(spec, table):
    """.tflite bytes in which flatc's own code wrote `table` as the op's options."""
    model_t = flatc_model(write_model(model_with(spec.cls())))
    op = model_t.subgraphs[0].operators[0]
    op.builtinOptionsType, op.builtinOptions = spec.union_type, table
    return flatc_bytes(model_t)


def flatc_value(value):
    """An object-API value as tflm_edu holds it: vectors as tuples, strings as str."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, (list, np.ndarray)):
        return tuple(np.asarray(value).tolist())
    return value


@by_table
def test_values_flatc_writes_are_read(spec):
    expected = filled(spec)
    table = getattr(generated(), f"{spec.cls.__name__}T")()
    for _, field, _ in spec.slots:
        assert hasattr(table, attribute(field))
        setattr(table, attribute(field), getattr(expected, field))
    op = read_model(flatc_written(spec, table)).subgraphs[0].operators[0]
    assert op.builtin_options_type == spec.union_type
    assert op.builtin_options == expected


@by_table
def test_values_written_are_read_by_flatc(spec):
    ours = filled(spec)
    op = flatc_model(write_model(model_with(ours))).subgraphs[0].operators[0]
    assert op.builtinOptionsType == spec.union_type
    assert type(op.builtinOptions).__name__ == f"{spec.cls.__name__}T"
    for _, field, _ in spec.slots:
        assert flatc_value(getattr(op.builtinOptions, attribute(field))) == getattr(ours, field)


@by_table
def test_defaults_agree_with_flatc_both_ways(spec):
    # flatc's default object written by flatc reads as ours...
    table = getattr(generated(), f"{spec.cls.__name__}T")()
    op = read_model(flatc_written(spec, table)).subgraphs[0].operators[0]
    assert op.builtin_options == spec.cls()
    # ...and ours written by us (each default left out, as flatc leaves it) reads as ours.
    defaults = spec.cls()
    theirs = flatc_model(write_model(model_with(defaults))).subgraphs[0].operators[0]
    for _, field, fmt in spec.slots:
        value = flatc_value(getattr(theirs.builtinOptions, attribute(field)))
        assert value == getattr(defaults, field), field
        if fmt in SCALAR_FORMAT.values():
            assert getattr(table, attribute(field)) == getattr(defaults, field), field


@by_table
def test_every_table_round_trips(spec):
    for options in (spec.cls(), filled(spec)):
        model = model_with(options)
        op = read_model(write_model(model)).subgraphs[0].operators[0]
        assert op.builtin_options_type == spec.union_type
        assert op.builtin_options == options
        assert type(op.builtin_options) is spec.cls


def test_empty_vectors_and_strings_are_kept_apart_from_absent_ones():
    for options in (opts.SqueezeOptions(squeeze_dims=()), opts.VarHandleOptions("", None),
                    opts.BucketizeOptions(()), opts.ReshapeOptions(new_shape=())):
        op = read_model(write_model(model_with(options))).subgraphs[0].operators[0]
        assert op.builtin_options == options


# ----------------------------------------------------------------------------- deprecated slots


class RawResizeBilinear:
    """What a writer from before new_height and new_width were deprecated left: values in
    slots 0 and 1. flatc's object API has no way to write them, so this packs the table."""

    def Pack(self, builder):
        builder.StartObject(4)
        builder.PrependInt32Slot(0, 640, 0)
        builder.PrependInt32Slot(1, -1, 0)
        builder.PrependBoolSlot(3, True, False)
        return builder.EndObject()


def test_deprecated_slots_are_skipped_when_read_and_never_written():
    spec = opts.SPEC_BY_CLASS[opts.ResizeBilinearOptions]
    assert spec.formats[:2] == (opts.DEPRECATED, opts.DEPRECATED)
    assert [slot for slot, _, _ in spec.slots] == [2, 3]
    op = read_model(flatc_written(spec, RawResizeBilinear())).subgraphs[0].operators[0]
    assert op.builtin_options == opts.ResizeBilinearOptions(half_pixel_centers=True)
    data = write_model(model_with(opts.ResizeBilinearOptions(True, True)))
    table = generated().Model.GetRootAs(data).Subgraphs(0).Operators(0).BuiltinOptions()
    assert [table.Offset(4 + 2 * slot) != 0 for slot in range(4)] == [False, False, True, True]


# ----------------------------------------------------------------------------- malformed tables


def patched(data: bytes, find: bytes, replace: bytes) -> bytes:
    """`data` with the only occurrence of `find` replaced."""
    assert data.count(find) == 1
    return data.replace(find, replace)


@pytest.mark.parametrize("options, vector, field", [
    (opts.SqueezeOptions(squeeze_dims=(7, -123_456)), struct.pack("<Iii", 2, 7, -123_456),
     "squeeze_dims"),
    (opts.BucketizeOptions(boundaries=(0.5, 1.5)), struct.pack("<Iff", 2, 0.5, 1.5),
     "boundaries"),
    (opts.VarHandleOptions(container="tflm-edu-container"), b"\x12\0\0\0tflm-edu-container",
     "container"),
    (opts.FullyConnectedOptions(quant_spec=(9, 8, 7, 6, 5)), b"\5\0\0\0\x09\x08\x07\x06\x05",
     "quant_spec"),
])
def test_a_bad_vector_in_any_table_is_a_model_error_naming_it(options, vector, field):
    """Tables of ops tflm_edu never runs are read and checked like the rest, as
    flatbuffers::Verifier checks every union member."""
    data = write_model(model_with(options))
    bad = patched(data, vector, struct.pack("<I", 0x7FFF_FFFF) + vector[4:])
    with pytest.raises(ModelError, match=rf"builtin_options \({type(options).__name__}\): "
                                         rf"{field} \(2147483647 elements\) points outside"):
        read_model(bad)


def test_a_bad_table_offset_is_a_model_error_naming_the_table():
    options = opts.RandomOptions(seed=-(2**40), seed2=12345)
    data = write_model(model_with(options))
    operator = generated().Model.GetRootAs(data).Subgraphs(0).Operators(0)._tab
    position = operator.Pos + operator.Offset(4 + 2 * 4)  # slot 4: builtin_options' offset
    bad = data[:position] + struct.pack("<I", len(data)) + data[position + 4:]
    with pytest.raises(ModelError, match=r"builtin_options \(RandomOptions\)"):
        read_model(bad)


def test_tags_beyond_the_union_still_read_as_unknown():
    model = model_with(opts.RandomOptions())
    model.subgraphs[0].operators[0].builtin_options_type = 200
    model.subgraphs[0].operators[0].builtin_options = opts.RandomOptions()
    op = read_model(write_model(model), validate=False).subgraphs[0].operators[0]
    assert (op.builtin_options_type, op.builtin_options) == (200, None)


def test_every_table_is_a_dataclass_with_one_format_per_field():
    for spec in ALL_SPECS:
        assert dataclasses.is_dataclass(spec.cls)
        assert len(spec.slots) == len(dataclasses.fields(spec.cls))
        assert set(spec.formats) <= {opts.BYTE, opts.BOOL, opts.INT32, opts.UINT32, opts.INT64,
                                     opts.FLOAT32, opts.STRING, opts.DEPRECATED,
                                     *opts.VECTOR_DTYPE}
