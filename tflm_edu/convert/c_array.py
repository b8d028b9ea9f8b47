"""Turn a .tflite model into C++ source a firmware can compile in.

A microcontroller has no file system: the model ships inside the program, as a byte array
in flash. TFLM's examples make that array with `xxd -i model.tflite` and then add two
things by hand: `alignas(16)` (the FlatBuffer's buffers are 16-byte aligned inside the
file, so the array must start on a 16-byte boundary for them to stay aligned), and
`const` (so the linker keeps it in flash instead of copying it to RAM).

to_c_array() writes exactly the bytes `xxd -i` writes - 12 per line, lower-case hex - with
those two fixes. model_header_source() and op_resolver_source() write the rest of what a
firmware needs to know about the model: its input/output shapes and quantization, and the
MicroMutableOpResolver<N> that registers exactly its ops.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from tflm_edu.errors import InputError
from tflm_edu.op_resolver import CUSTOM_SPECS, cpp_add_method_name, cpp_custom_add_method_name
from tflm_edu.schema import Model, as_model, as_model_and_bytes
from tflm_edu.schema.enums import BuiltinOperator, type_name

BYTES_PER_LINE = 12  # as xxd -i

# tflm_edu tensor type name -> (C type, TfLiteType enumerator)
_C_TYPES = {
    "FLOAT32": ("float", "kTfLiteFloat32"), "INT8": ("int8_t", "kTfLiteInt8"),
    "UINT8": ("uint8_t", "kTfLiteUInt8"), "INT16": ("int16_t", "kTfLiteInt16"),
    "INT32": ("int32_t", "kTfLiteInt32"), "INT64": ("int64_t", "kTfLiteInt64"),
    "BOOL": ("bool", "kTfLiteBool"), "FLOAT16": ("uint16_t", "kTfLiteFloat16"),
}


def _check_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name or ""):
        raise InputError(f"{name!r} is not a C identifier: use letters, digits and _ "
                         f"and do not start with a digit (e.g. g_model)")
    return name


def hex_lines(data: bytes) -> list[str]:
    """The body of `xxd -i`: lines of up to 12 '0x..' bytes, comma separated."""
    lines = []
    for start in range(0, len(data), BYTES_PER_LINE):
        chunk = data[start:start + BYTES_PER_LINE]
        lines.append("  " + ", ".join(f"0x{b:02x}" for b in chunk))
    return lines


def _array_body(data: bytes) -> str:
    return ",\n".join(hex_lines(data))


def to_c_array(data: bytes, name: str = "g_model", header_name: str = "model_data.h") \
        -> tuple[str, str]:
    """(model_data.cc, model_data.h) holding `data` as `alignas(16) const unsigned char`."""
    _check_name(name)
    data = bytes(data)
    guard = re.sub(r"[^A-Za-z0-9]", "_", header_name).upper() + "_"
    cc = (f"// The model as a C array, made by tflm_edu (tflm-edu to-c). "
          f"{len(data)} bytes.\n"
          f"// Same bytes as `xxd -i`; alignas(16) keeps the FlatBuffer's buffers aligned,\n"
          f"// const keeps the array in flash.\n"
          f'#include "{header_name}"\n\n'
          f"alignas(16) const unsigned char {name}[] = {{\n"
          f"{_array_body(data)}\n"
          f"}};\n"
          f"const unsigned int {name}_len = {len(data)};\n")
    h = (f"// Made by tflm_edu (tflm-edu to-c).\n"
         f"#ifndef {guard}\n#define {guard}\n\n"
         f"extern const unsigned char {name}[];\n"
         f"extern const unsigned int {name}_len;\n\n"
         f"#endif  // {guard}\n")
    return cc, h


def parse_c_array(source: str) -> bytes:
    """The bytes of the first `... name[] = { 0x.., ... };` in `source` (for tests and checks)."""
    match = re.search(r"\[\]\s*=\s*\{(.*?)\};", source, re.S)
    if match is None:
        raise InputError("no C array initializer `name[] = { ... };` found")
    return bytes(int(token, 16) for token in re.findall(r"0x([0-9a-fA-F]{2})", match.group(1)))


def _c_float(value: float) -> str:
    text = repr(float(np.float32(value)))
    if "e" not in text and "." not in text:
        text += ".0"
    return text + "f"


def _tensor_constants(model: Model, prefix: str, index: int) -> list[str]:
    tensor = model.subgraphs[0].tensors[index]
    kind = type_name(tensor.type)
    c_type, tflite_type = _C_TYPES.get(kind, ("uint8_t", "kTfLiteNoType"))
    shape = tensor.shape or (1,)
    dims = "x".join(map(str, tensor.shape)) or "scalar"
    lines = [f"// {prefix}: tensor {index} {tensor.name!r}, {dims} {kind}",
             f"typedef {c_type} {prefix}_t;",
             f"constexpr TfLiteType {prefix}_type = {tflite_type};",
             f"constexpr int {prefix}_dims = {len(tensor.shape)};",
             f"constexpr int {prefix}_shape[] = {{{', '.join(str(int(d)) for d in shape)}}};",
             f"constexpr int {prefix}_elements = {tensor.num_elements};",
             f"constexpr int {prefix}_bytes = {tensor.nbytes};"]
    q = tensor.quantization
    if q is not None and q.scale:
        lines.append(f"constexpr bool {prefix}_quantized = true;")
        if q.per_channel:
            lines.append(f"// per-channel quantization on axis {q.quantized_dimension}: "
                         f"{len(q.scale)} scales (see the model)")
        lines.append(f"constexpr float {prefix}_scale = {_c_float(q.scale[0])};")
        lines.append(f"constexpr int {prefix}_zero_point = {int(q.zero_point[0])};")
        lines.append(f"// real = {prefix}_scale * (q - {prefix}_zero_point)")
    else:
        lines.append(f"constexpr bool {prefix}_quantized = false;")
        lines.append(f"constexpr float {prefix}_scale = 0.0f;")
        lines.append(f"constexpr int {prefix}_zero_point = 0;")
    return lines


def model_header_source(model, name: str = "g_model") -> str:
    """A header of constants: every input and output's shape, type, scale and zero point."""
    _check_name(name)
    model = as_model(model)
    subgraph = model.subgraphs[0]
    guard = f"{name.upper()}_SETTINGS_H_"
    lines = [f"// Inputs and outputs of {name}, made by tflm_edu (tflm-edu to-c).",
             f"#ifndef {guard}", f"#define {guard}", "",
             "#include <cstdint>", "", '#include "tensorflow/lite/c/common.h"', "",
             f"constexpr int {name}_inputs = {len(subgraph.inputs)};",
             f"constexpr int {name}_outputs = {len(subgraph.outputs)};", ""]
    for i, index in enumerate(subgraph.inputs):
        lines += _tensor_constants(model, f"{name}_input{i}" if i else f"{name}_input", index)
        lines.append("")
    for i, index in enumerate(subgraph.outputs):
        lines += _tensor_constants(model, f"{name}_output{i}" if i else f"{name}_output", index)
        lines.append("")
    lines.append(f"#endif  // {guard}")
    return "\n".join(lines) + "\n"


def model_builtin_ops(model) -> list[int]:
    """The builtin ops the model uses (each once, in operator_codes order); no CUSTOM."""
    model = as_model(model)
    used = {model.operator_codes[op.opcode_index].builtin_code
            for sg in model.subgraphs for op in sg.operators}
    ops = []
    for code in model.operator_codes:
        op = code.builtin_code
        if op in used and op != BuiltinOperator.CUSTOM and op not in ops:
            ops.append(op)
    return ops


def op_resolver_source(model, resolver_name: str = "op_resolver") -> str:
    """`static tflite::MicroMutableOpResolver<N> op_resolver;` and one AddXxx() per op."""
    _check_name(resolver_name)
    model = as_model(model)
    ops = model_builtin_ops(model)
    customs = sorted({c.custom_code for c in model.operator_codes
                      if c.builtin_code == BuiltinOperator.CUSTOM and c.custom_code})
    signal = [c for c in customs if c in CUSTOM_SPECS]   # TFLM's resolver has an adder
    lines = ["// The ops this model uses, made by tflm_edu (tflm-edu to-c).",
             "// Registering only these keeps unused kernels out of flash.",
             "#pragma once", "",
             '#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"', "",
             f"static tflite::MicroMutableOpResolver<{len(ops) + len(signal)}> "
             f"{resolver_name};", "",
             "// Call once, before building the tflite::MicroInterpreter.",
             "inline void RegisterOps() {"]
    for op in ops:
        lines.append(f"  {resolver_name}.{cpp_add_method_name(op)}();")
    for name in signal:   # TFLM's signal library: AddCustom("SignalWindow", ...) inside
        lines.append(f"  {resolver_name}.{cpp_custom_add_method_name(name)}();")
    lines.append("}")
    others = [c for c in customs if c not in CUSTOM_SPECS]
    if others:
        lines.append(f"// Custom ops not registered here (add them yourself): {', '.join(others)}")
    return "\n".join(lines) + "\n"


def write_c_files(model_or_path, out_dir, name: str = "g_model",
                  stem: str = "model_data") -> dict[str, Path]:
    """Write model_data.cc/.h, model_settings.h and model_op_resolver.h; return their paths."""
    _check_name(name)
    model, data = as_model_and_bytes(model_or_path)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a folder: pass -o a directory")
    out.mkdir(parents=True, exist_ok=True)
    cc, h = to_c_array(data, name, header_name=f"{stem}.h")
    files = {f"{stem}.cc": cc, f"{stem}.h": h,
             "model_settings.h": model_header_source(model, name),
             "model_op_resolver.h": op_resolver_source(model)}
    paths = {}
    for filename, text in files.items():
        path = out / filename
        path.write_text(text)
        paths[filename] = path
    return paths


__all__ = ["to_c_array", "parse_c_array", "hex_lines", "model_header_source",
           "model_builtin_ops", "op_resolver_source", "write_c_files"]
