"""What every Signal-library kernel shares: its custom options and its Prepare checks.

The Signal ops (SignalWindow, SignalRfft, ...) are CUSTOM ops: their options are not a
BuiltinOptions table but a flexbuffer map in the operator's custom_options, which the
kernel's Init parses. TFLM reads that map with FlexbufferWrapper
(tensorflow/lite/micro/flatbuffer_utils.cc): it views the map as the vector of its values,
which a flexbuffer map keeps ordered by key, and each kernel reads element i by a
constant index ("kShiftIndex = 0;  // 'shift'") - never by name. So a map with a key
more or less than the kernel expects shifts every value after it. tflm_edu reads the map
the same way, by index, and names the key it found there in its messages.

ElementAsInt32 reads the raw 64-bit slot and truncates it to int32; ElementAsBool reads
it as unsigned and compares with zero. A slot holding anything but an inline integer or
boolean (a float, a string, a nested vector) would be reinterpreted bit for bit, and an
index past the map's end reads beyond the buffer: tflm_edu refuses both.
"""
from __future__ import annotations

from flatbuffers import flexbuffers

from tflm_edu.errors import ModelError
from tflm_edu.kernels.kernel_api import ensure, ensure_type
from tflm_edu.frontend.bits import as_int32


class FlexbufferWrapper:
    """A custom op's flexbuffer map, read element by element in key order."""

    def __init__(self, data: bytes | None, op_name: str):
        self.op_name = op_name
        if not data:
            raise ModelError(f"{op_name} has no custom options: its Init reads its "
                             f"parameters from a flexbuffer map there")
        try:
            root = flexbuffers.GetRoot(bytes(data))
            if not root.IsMap:
                raise ValueError("its root is not a map")
            as_map = root.AsMap
            self.keys = [k.AsKey for k in as_map.Keys]
            self.values = list(as_map.Values)
            self.byte_width = as_map.ByteWidth  # the width of every value slot
        except Exception as e:  # the Python flexbuffers reader checks no bounds
            raise ModelError(f"{op_name}'s custom options are not a flexbuffer map ({e})") \
                from e

    def __repr__(self):
        return f"FlexbufferWrapper({self.op_name}: {', '.join(self.keys)})"

    def _slot(self, index: int, name: str) -> int:
        """The integer in slot `index` (the C++ comment names it `name`)."""
        if index >= len(self.values):
            raise ModelError(f"{self.op_name}'s custom options have {len(self.values)} "
                             f"entries; TFLM reads '{name}' from entry {index}, past the end")
        value = self.values[index]
        if value.IsNull:
            return 0
        if value.IsBool:
            return int(value.AsBool)
        kind = value._type  # the slot's flexbuffer type (no public accessor tells INT
        #                     from INDIRECT_INT, whose slot holds an offset)
        if kind == flexbuffers.Type.INT:
            return int(value.AsInt)
        if kind == flexbuffers.Type.UINT:  # ReadInt64 reads the slot as signed
            bits = 8 * self.byte_width
            return int(value.AsInt) - ((int(value.AsInt) >> (bits - 1)) << bits)
        raise ModelError(f"{self.op_name}'s custom option '{self.keys[index]}' (entry "
                         f"{index}, read as '{name}') is not an integer: TFLM would "
                         f"reinterpret its bytes")

    def element_as_int32(self, index: int, name: str) -> int:
        """ElementAsInt32: the slot's value truncated to int32."""
        return int(as_int32(self._slot(index, name)))

    def element_as_bool(self, index: int, name: str) -> bool:
        """ElementAsBool: any non-zero slot is true."""
        return self._slot(index, name) != 0

    def get(self, key: str) -> int:
        """flexbuffers::Map::operator[](key).AsInt32(): a lookup by name (0 when absent)."""
        if key not in self.keys:
            return 0
        return self.element_as_int32(self.keys.index(key), key)


def options(node) -> FlexbufferWrapper:
    return FlexbufferWrapper(node.custom_initial_data, node.op_name)


def ensure_io(node, inputs: int, outputs: int) -> None:
    """TF_LITE_ENSURE_EQ(NumInputs(node), n) and the same for the outputs."""
    ensure(len(node.inputs) == inputs,
           f"{node.op_name} takes {inputs} input(s), got {len(node.inputs)}")
    ensure(len(node.outputs) == outputs,
           f"{node.op_name} has {outputs} output(s), got {len(node.outputs)}")


def get_tensors(context, node):
    """AllocateTempInputTensor / AllocateTempOutputTensor for all of them, with
    TF_LITE_ENSURE(tensor != nullptr): (inputs, outputs)."""
    inputs = [context.get_input(node, i) for i in range(len(node.inputs))]
    for i, t in enumerate(inputs):
        ensure(t is not None, f"{node.op_name} needs its input {i}")
    return inputs, [context.get_output(node, i) for i in range(len(node.outputs))]


def ensure_tensor(tensor, ndim: int, tensor_type: int, what: str) -> None:
    """NumDimensions(tensor) == ndim and the tensor's type (TF_LITE_ENSURE_TYPES_EQ)."""
    ensure(len(tensor.shape) == ndim,
           f"{what} (tensor {tensor.index}) must have {ndim} dimension(s), got shape "
           f"{list(tensor.shape)}")
    ensure_type(tensor, tensor_type)


def flat_size(tensor) -> int:
    size = 1
    for d in tensor.shape:
        size *= d
    return size


# Several Signal kernels keep state whose size TFLM computes with sizeof of structs that
# hold pointers and size_t (kissfft's states, CircularBuffer). An arena recipe records
# bytes, not structs, so these sizes are the host's (the tflite-micro package's build).
HOST_POINTER_BYTES = 8


def pointer_array(count: int):
    """The bytes of `count` pointers, on the arena target (for PrepareRecorder.persistent)."""
    return lambda target: count * target.pointer_bytes


def circular_buffer(capacity: int):
    """A CircularBuffer's bytes on the arena target (for PrepareRecorder.persistent)."""
    return lambda target: circular_buffer_bytes(capacity, target.pointer_bytes)


def circular_buffer_bytes(capacity: int, pointer_bytes: int = HOST_POINTER_BYTES) -> int:
    """CircularBufferGetNeededMemory (signal/src/circular_buffer.cc): the CircularBuffer
    struct (capacity, read, write as size_t; empty, buffer_size as int32; the buffer
    pointer) followed by two copies of the int16 samples (the second mirrors the first so
    a read never wraps)."""
    header = 3 * pointer_bytes + 2 * 4 + pointer_bytes
    header = -(-header // pointer_bytes) * pointer_bytes
    return header + 2 * 2 * capacity
