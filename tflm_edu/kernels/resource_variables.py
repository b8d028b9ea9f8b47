"""Resource variables: VAR_HANDLE, READ_VARIABLE and ASSIGN_VARIABLE, and the store they share.

Mirrors tensorflow/lite/micro/micro_resource_variable.cc (MicroResourceVariables) and
micro/kernels/var_handle.cc, read_variable.cc, assign_variable.cc. A streaming model (a
wake-word model that sees one audio frame per invoke) keeps what it must remember between
invokes in resource variables:

  VAR_HANDLE      Prepare finds (or creates) the variable named by shared_name and makes
                  its output - a RESOURCE tensor - hold the variable's id. The output is
                  not in the memory plan: its data is the id inside the kernel's OpData.
  ASSIGN_VARIABLE Prepare gives the variable its buffer the first time it is seen, sized
                  by the value tensor (AllocatePersistentBuffer: the arena's tail) and
                  filled with the value's zero point; Eval copies the value's bytes into it.
  READ_VARIABLE   Eval copies the variable's bytes into its output.

The store (MicroResourceVariables) is made by the application before the interpreter, with
room for a fixed number of variables; tflite-micro's Python runtime counts the distinct
shared names of the model's VAR_HANDLE ops, and so does tflm_edu. Reset() fills every
variable with its default value again (the zero point).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tflm_edu.errors import ModelError
from tflm_edu.kernels.kernel_api import Registration, ensure
from tflm_edu.kernels.op_spec import ANY_TYPE, ArenaRecipe, OpSpec, nothing
from tflm_edu.memory.layout import BUILTIN, KERNELS, c_struct, m
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType, type_name
from tflm_edu.schema.options import AssignVariableOptions, ReadVariableOptions, VarHandleOptions

RESOURCE_HEADER = "tensorflow/lite/micro/micro_resource_variable.h"


@dataclass
class MicroResourceVariable:
    container: str | None
    shared_name: str
    bytes: int = 0
    default_value: int = 0           # int8_t: the zero point of the first value assigned
    resource_buffer: np.ndarray | None = None  # uint8 view of the arena once committed


class MicroResourceVariables:
    """The resource variable store: at most max_variable_count variables, found by name."""

    def __init__(self, max_variable_count: int):
        self.max_variable_count = max_variable_count
        self.variables: list[MicroResourceVariable] = []

    @classmethod
    def for_model(cls, model) -> "MicroResourceVariables | None":
        """What tflite-micro's Python runtime creates for `model`: room for one variable per
        distinct shared_name of its VAR_HANDLE ops, or no store when there are none."""
        names = {op.builtin_options.shared_name if op.builtin_options is not None else None
                 for sg in model.subgraphs for op in sg.operators
                 if 0 <= op.opcode_index < len(model.operator_codes)
                 and model.operator_codes[op.opcode_index].builtin_code == Op.VAR_HANDLE}
        return cls(len(names)) if names else None

    def find_id(self, container, shared_name) -> int:
        for i, v in enumerate(self.variables):
            if (container is None or container == v.container) and shared_name == v.shared_name:
                return i
        return -1

    def create_id_if_none_found(self, container, shared_name) -> int:
        resource_id = self.find_id(container, shared_name)
        if resource_id >= 0:
            return resource_id
        if len(self.variables) >= self.max_variable_count:
            raise ModelError(f"cannot create resource variable {shared_name!r}: the store "
                             f"holds {self.max_variable_count} (the maximum count is reached)")
        self.variables.append(MicroResourceVariable(container, shared_name))
        return len(self.variables) - 1

    def allocate(self, resource_id: int, tensor) -> int:
        """Give the variable its buffer, sized by `tensor`, if it has none yet; returns the
        bytes newly allocated in the arena's tail (0 when it already had one)."""
        variable = self._get(resource_id)
        if variable.bytes:
            return 0
        variable.bytes = tensor.nbytes
        if tensor.quantization is not None and len(tensor.quantization.zero_point):
            # int8_t zero_point = quantization->zero_point->data[0]: truncated to a byte
            variable.default_value = int(np.int32(tensor.quantization.zero_point[0])
                                         .astype(np.int8))
        return variable.bytes

    def read(self, resource_id: int, output: np.ndarray) -> None:
        variable = self._get(resource_id)
        out = output.reshape(-1).view(np.uint8)
        if variable.resource_buffer is None:
            raise ModelError(f"resource variable {variable.shared_name!r} is read before any "
                             f"ASSIGN_VARIABLE gave it a buffer")
        if out.size != variable.bytes:
            raise ModelError(f"resource variable {variable.shared_name!r} holds "
                             f"{variable.bytes} bytes but READ_VARIABLE's output has {out.size}")
        out[...] = variable.resource_buffer

    def assign(self, resource_id: int, value: np.ndarray) -> None:
        variable = self._get(resource_id)
        raw = np.ascontiguousarray(value).reshape(-1).view(np.uint8)
        if variable.resource_buffer is None:
            raise ModelError(f"resource variable {variable.shared_name!r} is assigned before "
                             f"it has a buffer (no ASSIGN_VARIABLE's Prepare allocated it)")
        if raw.size != variable.bytes:
            raise ModelError(f"resource variable {variable.shared_name!r} holds "
                             f"{variable.bytes} bytes; ASSIGN_VARIABLE gives it {raw.size}")
        variable.resource_buffer[...] = raw

    def reset_all(self) -> None:
        for v in self.variables:
            if v.resource_buffer is not None:
                v.resource_buffer[...] = np.uint8(v.default_value & 0xFF)   # memset

    def bind(self, arena) -> None:
        """After the arena is committed: each buffer becomes a view of its tail bytes."""
        for i, v in enumerate(self.variables):
            if v.bytes:
                v.resource_buffer = arena.view(arena.offset_of(buffer_what(i, v)), np.uint8,
                                               (v.bytes,))

    def _get(self, resource_id: int) -> MicroResourceVariable:
        if not 0 <= resource_id < len(self.variables):
            raise ModelError(f"resource variable {resource_id} does not exist (the store "
                             f"has {len(self.variables)})")
        return self.variables[resource_id]

    def __repr__(self):
        names = ", ".join(f"{v.shared_name}: {v.bytes} B" for v in self.variables)
        return f"MicroResourceVariables({len(self.variables)} of {self.max_variable_count}: {names})"


def buffer_what(resource_id: int, variable: MicroResourceVariable) -> str:
    """How the arena replay names a resource variable's buffer in the tail."""
    return f"resource variable {resource_id} ({variable.shared_name})"


def _store(context):
    store = getattr(context.graph, "resource_variables", None)
    if store is None:
        raise ModelError("resource variable ops need a resource variable store; create the "
                         "interpreter from the whole model (MicroInterpreter makes one for "
                         "every model with VAR_HANDLE ops)")
    return store


# ----------------------------------------------------------------------------- VAR_HANDLE


@dataclass
class OpDataVarHandle:
    resource_id: int = -1
    id_tensor: np.ndarray | None = None  # what the output's data points at


def var_handle_init(context, node):
    return OpDataVarHandle()


def var_handle_prepare(context, node):
    data: OpDataVarHandle = node.user_data
    params = node.builtin_data or VarHandleOptions()
    ensure(len(node.outputs) == 1, f"VAR_HANDLE has 1 output, got {len(node.outputs)}")
    ensure(params.shared_name is not None, "VAR_HANDLE has no shared_name: TFLM compares "
                                           "names with strcmp and would crash")
    data.resource_id = _store(context).create_id_if_none_found(params.container,
                                                               params.shared_name)
    output = context.get_output(node, 0)
    ensure(output.type in (TensorType.RESOURCE, TensorType.INT32),
           f"VAR_HANDLE's output is {type_name(output.type)}; it holds a resource id")
    ensure(int(np.prod(output.shape, dtype=np.int64)) == 1,
           f"VAR_HANDLE's output has shape {list(output.shape)}; it holds one resource id")
    # output->data.i32 = &op_data->resource_id: the id lives in OpData, not in the plan
    data.id_tensor = np.full(output.shape, data.resource_id, dtype=np.int32)
    output.data = data.id_tensor


def var_handle_eval(context, node):
    data: OpDataVarHandle = node.user_data
    context.get_output(node, 0).data = data.id_tensor


def register_var_handle():
    return Registration("VAR_HANDLE", prepare=var_handle_prepare, eval=var_handle_eval,
                        init=var_handle_init, max_version=1)


# ----------------------------------------------------------------------------- READ_VARIABLE


def _resource_id(context, node) -> int:
    handle = context.get_input(node, 0)
    ensure(handle is not None and handle.type in (TensorType.RESOURCE, TensorType.INT32),
           "input 0 must be the RESOURCE tensor a VAR_HANDLE makes")
    ensure(int(np.prod(handle.shape, dtype=np.int64)) == 1,
           f"input 0 has shape {list(handle.shape)}; a resource handle holds one id")
    return handle


def read_variable_prepare(context, node):
    ensure(len(node.inputs) == 1 and len(node.outputs) == 1,
           f"READ_VARIABLE has 1 input and 1 output, got {len(node.inputs)} and "
           f"{len(node.outputs)}")
    _resource_id(context, node)
    _store(context)


def read_variable_eval(context, node):
    handle = context.get_input(node, 0)
    _store(context).read(int(handle.data.reshape(-1)[0]), context.get_output(node, 0).data)


def register_read_variable():
    return Registration("READ_VARIABLE", prepare=read_variable_prepare,
                        eval=read_variable_eval, max_version=1)


# ----------------------------------------------------------------------------- ASSIGN_VARIABLE


@dataclass
class OpDataAssignVariable:
    """TFLM's OpData exists only in builds with USE_TFLM_COMPRESSION (scratch_index);
    tflm_edu also notes what Prepare allocated, for the arena replay."""

    resource_id: int = -1
    allocated_bytes: int = 0
    buffer_what: str = ""


def assign_variable_init(context, node):
    return OpDataAssignVariable()


def assign_variable_prepare(context, node):
    data: OpDataAssignVariable = node.user_data
    ensure(len(node.inputs) == 2, f"ASSIGN_VARIABLE has 2 inputs, got {len(node.inputs)}")
    ensure(len(node.outputs) == 0, f"ASSIGN_VARIABLE has no outputs, got {len(node.outputs)}")
    handle = _resource_id(context, node)
    value = context.get_input(node, 1)
    ensure(value is not None, "ASSIGN_VARIABLE needs a value (input 1)")
    store = _store(context)
    data.allocated_bytes = 0
    if handle.data is not None:  # the VAR_HANDLE that feeds it was prepared before it
        data.resource_id = int(handle.data.reshape(-1)[0])
        data.allocated_bytes = store.allocate(data.resource_id, value)
        data.buffer_what = buffer_what(data.resource_id, store.variables[data.resource_id])


def assign_variable_eval(context, node):
    handle, value = context.get_input(node, 0), context.get_input(node, 1)
    _store(context).assign(int(handle.data.reshape(-1)[0]), value.data)


def assign_variable_recipe(k):
    """Prepare: a temporary TfLiteTensor for the value, and - the first time the variable
    is seen - its buffer in the tail, while that temporary is alive."""
    k.temp_input(1)
    if k.user_data is not None and k.user_data.allocated_bytes:
        k.persistent(k.user_data.allocated_bytes, k.user_data.buffer_what)


def register_assign_variable():
    return Registration("ASSIGN_VARIABLE", prepare=assign_variable_prepare,
                        eval=assign_variable_eval, init=assign_variable_init, max_version=1)


# The C structs these put in the arena, member by member as TFLM declares them.
c_struct("MicroResourceVariables", RESOURCE_HEADER, m("resource_variables_", "ptr"),
         m("max_variable_count_", "int"), m("num_resource_variables_", "int"))
c_struct("MicroResourceVariable", RESOURCE_HEADER, m("container", "ptr"),
         m("shared_name", "ptr"), m("resource_buffer", "ptr"), m("bytes", "ptr"),
         m("default_value", "int8"))
c_struct("TfLiteVarHandleParams", BUILTIN, m("container", "ptr"), m("shared_name", "ptr"))
c_struct("OpDataVarHandle", KERNELS + "var_handle.cc", m("resource_id", "int32"))
c_struct("OpDataAssignVariable", KERNELS + "assign_variable.cc",
         m("scratch_index", "int", compression_only=True))

SPECS = [
    OpSpec(Op.VAR_HANDLE, register_var_handle, VarHandleOptions, ANY_TYPE, None,
           ArenaRecipe("TfLiteVarHandleParams", "OpDataVarHandle", nothing)),
    OpSpec(Op.READ_VARIABLE, register_read_variable, ReadVariableOptions, ANY_TYPE, None,
           ArenaRecipe(None, None, lambda k: k.temp_input(0))),
    OpSpec(Op.ASSIGN_VARIABLE, register_assign_variable, AssignVariableOptions, ANY_TYPE,
           None, ArenaRecipe(None, "OpDataAssignVariable", assign_variable_recipe)),
]
