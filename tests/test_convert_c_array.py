"""The C array writer: same bytes as `xxd -i`, and a resolver with exactly the model's ops."""
import shutil
import subprocess

import numpy as np
import pytest

from conftest import reference_model
from tflm_edu.cli import main
from tflm_edu.convert.c_array import (model_builtin_ops, model_header_source, op_resolver_source,
                                      parse_c_array, to_c_array, write_c_files)
from tflm_edu.errors import InputError
from tflm_edu.schema import BuiltinOperator as Op, load_model


@pytest.mark.parametrize("n", [0, 1, 11, 12, 13, 24, 25, 1000])
def test_array_round_trips_bytes(n):
    data = np.random.default_rng(n).integers(0, 256, n, dtype=np.uint8).tobytes()
    cc, h = to_c_array(data, "g_model")
    assert parse_c_array(cc) == data
    assert "alignas(16) const unsigned char g_model[] = {" in cc
    assert f"const unsigned int g_model_len = {n};" in cc
    assert "extern const unsigned char g_model[];" in h
    lines = [line for line in cc.splitlines() if line.startswith("  0x")]
    assert all(line.count("0x") == 12 for line in lines[:-1])


@pytest.mark.skipif(shutil.which("xxd") is None, reason="xxd not installed (apt install xxd)")
def test_same_lines_as_xxd(tmp_path):
    data = np.random.default_rng(1).integers(0, 256, 301, dtype=np.uint8).tobytes()
    (tmp_path / "g_model").write_bytes(data)
    xxd = subprocess.run(["xxd", "-i", "g_model"], cwd=tmp_path, capture_output=True, text=True,
                         check=True).stdout
    cc, _ = to_c_array(data, "g_model")

    def body(text):
        return [line for line in text.splitlines() if line.startswith("  0x")]
    assert body(cc) == body(xxd)
    assert "unsigned int g_model_len = 301;" in xxd and "g_model_len = 301;" in cc


def test_bad_name():
    with pytest.raises(InputError, match="C identifier"):
        to_c_array(b"\0", "1model")


def test_resolver_has_exactly_the_models_ops():
    model = load_model(reference_model("person_detect.tflite"))
    ops = model_builtin_ops(model)
    source = op_resolver_source(model)
    assert f"static tflite::MicroMutableOpResolver<{len(ops)}> op_resolver;" in source
    adds = [line.strip() for line in source.splitlines() if line.strip().startswith("op_resolver.")]
    assert sorted(adds) == sorted(["op_resolver.AddAveragePool2D();", "op_resolver.AddConv2D();",
                                   "op_resolver.AddDepthwiseConv2D();", "op_resolver.AddReshape();",
                                   "op_resolver.AddSoftmax();"])
    assert set(ops) == {Op.AVERAGE_POOL_2D, Op.CONV_2D, Op.DEPTHWISE_CONV_2D, Op.RESHAPE,
                        Op.SOFTMAX}


def test_header_has_io_quantization():
    model = load_model(reference_model("hello_world_int8.tflite"))
    header = model_header_source(model, "g_model")
    q = model.subgraphs[0].tensors[model.subgraphs[0].inputs[0]].quantization
    assert f"constexpr int g_model_input_zero_point = {q.zero_point[0]};" in header
    assert "constexpr int g_model_input_shape[] = {1, 1};" in header
    assert "typedef int8_t g_model_output_t;" in header
    scale = float(header.split("g_model_input_scale = ")[1].split("f;")[0])
    assert np.float32(scale) == np.float32(q.scale[0])


def test_cli_to_c_writes_the_model(tmp_path):
    path = reference_model("hello_world_int8.tflite")
    assert main(["to-c", str(path), "--name", "g_hello", "-o", str(tmp_path)]) == 0
    cc = (tmp_path / "model_data.cc").read_text()
    assert parse_c_array(cc) == path.read_bytes()
    assert "g_hello_len" in cc
    assert {p.name for p in tmp_path.iterdir()} == {"model_data.cc", "model_data.h",
                                                    "model_settings.h", "model_op_resolver.h"}


def test_cli_to_c_bad_input(tmp_path, capsys):
    (tmp_path / "junk.tflite").write_bytes(b"not a model at all")
    assert main(["to-c", str(tmp_path / "junk.tflite"), "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tflm-edu to-c: error:") and len(err.strip().splitlines()) == 1


def test_write_c_files_from_model(tmp_path):
    model = load_model(reference_model("hello_world_float.tflite"))
    paths = write_c_files(model, tmp_path, "g_model")
    assert parse_c_array(paths["model_data.cc"].read_text())[4:8] == b"TFL3"


@pytest.mark.skipif(shutil.which("g++") is None, reason="no C++ compiler")
def test_emitted_array_compiles(tmp_path):
    write_c_files(reference_model("hello_world_int8.tflite"), tmp_path, "g_model")
    subprocess.run(["g++", "-std=c++17", "-fsyntax-only", "-Wall", "-Werror", "model_data.cc"],
                   cwd=tmp_path, check=True)


@pytest.mark.skipif(shutil.which("g++") is None, reason="no C++ compiler")
def test_headers_compile_against_stub_tflm(tmp_path):
    """The settings and resolver headers are valid C++ (TFLM's headers stubbed out)."""
    from tflm_edu.op_resolver import cpp_add_method_name
    model = load_model(reference_model("person_detect.tflite"))
    write_c_files(model, tmp_path, "g_model")
    micro = tmp_path / "tensorflow" / "lite" / "micro"
    micro.mkdir(parents=True)
    (tmp_path / "tensorflow" / "lite" / "c").mkdir(parents=True)
    (tmp_path / "tensorflow" / "lite" / "c" / "common.h").write_text(
        "#pragma once\nenum TfLiteType { kTfLiteNoType, kTfLiteFloat32, kTfLiteInt8, "
        "kTfLiteUInt8, kTfLiteInt16, kTfLiteInt32, kTfLiteInt64, kTfLiteBool, kTfLiteFloat16 };\n")
    methods = "".join(f"  int {cpp_add_method_name(op)}() {{ return 0; }}\n"
                      for op in model_builtin_ops(model))
    (micro / "micro_mutable_op_resolver.h").write_text(
        "#pragma once\nnamespace tflite {\ntemplate <unsigned N> struct MicroMutableOpResolver {\n"
        f"{methods}}};\n}}\n")
    (tmp_path / "main.cc").write_text(
        '#include "model_data.h"\n#include "model_settings.h"\n#include "model_op_resolver.h"\n'
        "int main() { RegisterOps(); return g_model_len > 0 && g_model_input_elements == 9216 "
        "? 0 : 1; }\n")
    subprocess.run(["g++", "-std=c++17", "-Wall", "-Werror", "-Wno-unused-variable", "-I.",
                    "main.cc", "model_data.cc", "-o", "main"], cwd=tmp_path, check=True)
    assert subprocess.run([str(tmp_path / "main")]).returncode == 0


def test_every_adder_name_is_in_tflms_resolver_header():
    """The generated op resolver calls AddXxx() for each op: every one of tflm_edu's ops,
    builtin and Signal, must be spelt as micro_mutable_op_resolver.h spells it."""
    import re
    import tarfile
    from conftest import SHARED_TFLM
    from tflm_edu.op_resolver import (CUSTOM_SPECS, SPECS, cpp_add_method_name,
                                      cpp_custom_add_method_name)
    archive = SHARED_TFLM / "tflm_tree.tar.gz"
    if not archive.is_file():
        pytest.skip(f"TFLM's sources are not at {SHARED_TFLM} (needs ../shared/tflm)")
    with tarfile.open(archive) as tar:
        member = next(m for m in tar.getmembers()
                      if m.name.endswith("tensorflow/lite/micro/micro_mutable_op_resolver.h"))
        header = tar.extractfile(member).read().decode()
    adders = set(re.findall(r"TfLiteStatus (Add\w+)\(", header))
    names = [cpp_add_method_name(op) for op in SPECS] + \
        [cpp_custom_add_method_name(n) for n in CUSTOM_SPECS]
    assert [n for n in names if n not in adders] == []
