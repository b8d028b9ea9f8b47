"""TFLM itself, built from its sources for a Cortex-M core: the library every firmware links.

    library = build_library("cortex-m4")                       # reference kernels
    library = build_library("cortex-m7", kernels="cmsis_nn")   # Arm's optimized kernels
    library.archive      # ~/.cache/tflm_edu/tflm/<tree>-cortex-m7-cmsis_nn-<flags>/libtflm.a

Where the sources come from, first match wins:
  1. the `tflm_src` argument (`--tflm-src` on the command line),
  2. the environment variable TFLM_EDU_TFLM_SRC,
  3. ../shared/tflm beside the project (the course's fixture), from the current folder or
     from the checkout tflm_edu was installed from.
Each may be a TFLM tree (a folder with tensorflow/lite/micro, as TFLM's
create_tflm_tree.py makes it), a folder holding tflm_tree.tar.gz / tflm_tree_cmsis_nn.tar.gz,
or one such archive.

Building takes minutes (about 200 files), so it happens once: the library is cached under
TFLM_EDU_CACHE (default ~/.cache/tflm_edu), keyed by the tree's content hash, the CPU, the
kernel family and the flags. The flags are those of TFLM's cortex_m_generic target - the
core at -Os, kernels at -O2, C++17, no RTTI or exceptions - plus -ffp-contract=off unless
`stock_float=True`: GCC otherwise fuses a * b + c into one rounding (FMA) in TFLM's float
kernels, and the board's float answers then differ from the PC's (docs in notebook 15).
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tflm_edu.deploy.errors import DeployError
from tflm_edu.deploy.toolchain import Cpu, get_cpu, require

KERNELS = ("reference", "cmsis_nn")
ARCHIVES = {"reference": "tflm_tree.tar.gz", "cmsis_nn": "tflm_tree_cmsis_nn.tar.gz"}
ENV_SOURCES = "TFLM_EDU_TFLM_SRC"
ENV_CACHE = "TFLM_EDU_CACHE"
# Files of TFLM's tree that only its own unit tests use: not part of any firmware.
TEST_ONLY = ("_test.cc", "test_helpers.cc", "test_helper_custom_ops.cc", "mock_micro_graph.cc",
             "fake_micro_context.cc", "kernel_runner.cc")


class TflmSourcesMissing(DeployError):
    """No TFLM source tree was found."""


def cache_dir() -> Path:
    return Path(os.environ.get(ENV_CACHE) or Path.home() / ".cache" / "tflm_edu")


@contextmanager
def _locked(path: Path):
    """One process at a time builds a given thing (tests, notebooks and the CLI share it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# -- finding and unpacking the sources ----------------------------------------------------

@dataclass(frozen=True)
class TflmSources:
    """An unpacked TFLM tree for one kernel family, with a hash of what is in it."""
    root: Path
    kernels: str
    digest: str

    @property
    def include_dirs(self) -> list:
        dirs = [self.root, self.root / "third_party/flatbuffers/include",
                self.root / "third_party/gemmlowp", self.root / "third_party/ruy",
                self.root / "third_party/kissfft", self.root / "third_party/cmsis/CMSIS/Core/Include"]
        dirs += sorted((self.root / "third_party/cmsis/Cortex_DFP/Device").glob("*/Include"))
        if self.kernels == "cmsis_nn":
            dirs += [self.root / "third_party/cmsis_nn", self.root / "third_party/cmsis_nn/Include"]
        return [d for d in dirs if d.is_dir()]

    def __repr__(self):
        return f"TflmSources({self.kernels} kernels at {self.root}, {self.digest[:12]})"


def _candidates(tflm_src) -> list:
    if tflm_src is not None:
        return [Path(tflm_src)]
    if os.environ.get(ENV_SOURCES):
        return [Path(os.environ[ENV_SOURCES])]
    checkout = Path(__file__).resolve().parents[2]          # the project, if run from one
    return [Path.cwd() / "../shared/tflm", Path.cwd() / "../../shared/tflm",
            checkout / "../shared/tflm"]


def find_sources(kernels: str = "reference", tflm_src=None) -> TflmSources:
    """The TFLM tree for `kernels`, unpacked into the cache if it comes as an archive."""
    if kernels not in KERNELS:
        raise ValueError(f"kernels must be one of {', '.join(KERNELS)}, not {kernels!r}")
    for place in _candidates(tflm_src):
        place = place.resolve()
        if (place / "tensorflow/lite/micro").is_dir():
            if kernels == "cmsis_nn" and not (place / "third_party/cmsis_nn").is_dir():
                continue
            return TflmSources(place, kernels, _tree_digest(place))
        archive = place if place.is_file() else place / ARCHIVES[kernels]
        if archive.is_file() and archive.name.endswith((".tar.gz", ".tgz")):
            return _unpack(archive, kernels)
    tried = ", ".join(str(p) for p in _candidates(tflm_src))
    raise TflmSourcesMissing(
        f"no TFLM sources for {kernels} kernels (looked in {tried}). Point --tflm-src or "
        f"{ENV_SOURCES} at a TFLM tree made by tflite-micro's create_tflm_tree.py (add "
        f"OPTIMIZED_KERNEL_DIR=cmsis_nn for CMSIS-NN), or at a folder with {ARCHIVES[kernels]}")


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in (".h", ".hpp", ".cc", ".c", ".inc", ".s", ".S"):
            digest.update(str(path.relative_to(root)).encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


def unpack_once(archive: Path, kind: str) -> tuple[Path, str]:
    """Unpack `archive` into the cache (once, whoever asks first); returns the folder and
    the archive's SHA-256."""
    import tarfile
    digest = _file_digest(archive)
    target = cache_dir() / kind / digest[:16]
    with _locked(cache_dir() / kind / f"{digest[:16]}.lock"):
        if not (target / ".complete").exists():
            target.mkdir(parents=True, exist_ok=True)
            with tarfile.open(archive) as tar:
                tar.extractall(target, filter="data")
            (target / ".complete").write_text(digest)
    return target, digest


def _unpack(archive: Path, kernels: str) -> TflmSources:
    target, digest = unpack_once(archive, "trees")
    roots = [p.parent.parent for p in target.glob("*/tensorflow/lite")]
    if len(roots) != 1:
        raise TflmSourcesMissing(f"{archive} does not hold one TFLM tree (a folder with "
                                 f"tensorflow/lite/micro)")
    return TflmSources(roots[0], kernels, digest)


# -- flags --------------------------------------------------------------------------------

def compile_flags(cpu: Cpu, sources: TflmSources, stock_float: bool = False) -> list:
    """The flags for TFLM's sources and for every file compiled against them."""
    flags = [*cpu.flags, *cpu.defines, "-DTF_LITE_STATIC_MEMORY", "-DTF_LITE_MCU_DEBUG_LOG",
             "-funsigned-char", "-fomit-frame-pointer", "-fno-unwind-tables",
             "-ffunction-sections", "-fdata-sections", "-fmessage-length=0"]
    if cpu.is_arm:
        flags.append("-mlittle-endian")
    if not stock_float:
        flags.append("-ffp-contract=off")
    if sources.kernels == "cmsis_nn":
        flags.append("-DCMSIS_NN")
    return flags + [f"-I{d}" for d in sources.include_dirs]


CXX_FLAGS = ["-std=c++17", "-fno-rtti", "-fno-exceptions", "-fno-threadsafe-statics"]
# Most of a TFLM file's compile time is spent parsing these headers again (schema_generated.h
# alone is 100,000 lines after preprocessing): they are parsed once into a precompiled
# header per optimization level, which makes the library build about three times faster and
# changes nothing in the code (-include only puts first what every file includes anyway).
PRECOMPILED = ["tensorflow/lite/schema/schema_generated.h",
               "tensorflow/lite/micro/micro_common.h",
               "tensorflow/lite/micro/micro_context.h",
               "tensorflow/lite/micro/kernels/kernel_util.h",
               "tensorflow/lite/kernels/internal/common.h",
               "tensorflow/lite/kernels/internal/quantization_util.h",
               "tensorflow/lite/kernels/kernel_util.h",
               "tensorflow/lite/micro/micro_log.h"]
C_FLAGS = ["-std=c11"]


@dataclass(frozen=True)
class TflmLibrary:
    """libtflm.a for one CPU and kernel family, and how to compile code against it."""
    archive: Path
    sources: TflmSources
    cpu: Cpu
    stock_float: bool

    @property
    def flags(self) -> list:
        return compile_flags(self.cpu, self.sources, self.stock_float)

    @property
    def kernels(self) -> str:
        return self.sources.kernels

    def __repr__(self):
        return (f"TflmLibrary({self.cpu.name}, {self.kernels} kernels, "
                f"{self.archive.stat().st_size:,} bytes at {self.archive})")


def library_sources(sources: TflmSources) -> list:
    """The files of the tree that go into the library (relative paths)."""
    root = sources.root
    files = [p for top in ("tensorflow", "signal") for p in (root / top).rglob("*.cc")]
    if sources.kernels == "cmsis_nn":
        files += (root / "third_party/cmsis_nn/Source").rglob("*.c")
    return sorted(str(p.relative_to(root)) for p in files
                  if not p.name.endswith(TEST_ONLY))


def build_library(cpu: str = "cortex-m4", kernels: str = "reference", tflm_src=None,
                  stock_float: bool = False, jobs: int | None = None,
                  progress: bool = True) -> TflmLibrary:
    """libtflm.a for `cpu`, built once and cached (see the module docstring)."""
    target = get_cpu(cpu)
    sources = find_sources(kernels, tflm_src)
    flags = compile_flags(target, sources, stock_float)
    key = hashlib.sha256("\n".join(flags + CXX_FLAGS + C_FLAGS).replace(
        str(sources.root), "").encode()).hexdigest()[:10]
    folder = cache_dir() / "tflm" / f"{sources.digest[:12]}-{cpu}-{kernels}-{key}"
    archive = folder / "libtflm.a"
    with _locked(folder.with_suffix(".lock")):
        if not archive.exists():
            require(target.compiler)
            require("make")
            _make(folder, sources, target, flags, jobs, progress)
    return TflmLibrary(archive, sources, target, stock_float)


def _make(folder: Path, sources: TflmSources, cpu: Cpu, flags: list, jobs, progress) -> None:
    files = library_sources(sources)
    folder.mkdir(parents=True, exist_ok=True)
    headers = [h for h in PRECOMPILED if (sources.root / h).is_file()]
    for level in ("O2", "Os"):
        (folder / f"pch-{level}").mkdir(exist_ok=True)
        (folder / f"pch-{level}" / "pch.h").write_text(
            "".join(f'#include "{h}"\n' for h in headers))
    (folder / "Makefile").write_text(_makefile(sources, cpu, flags, files))
    jobs = jobs or os.cpu_count() or 1
    command = ["make", "-C", str(folder), f"-j{jobs}", "--no-print-directory", "libtflm.a"]
    bar = _progress(len(files), f"TFLM for {cpu.name} ({sources.kernels})", progress)
    log = []
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    for line in process.stdout:
        log.append(line)
        if line.startswith("CC ") and bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    if process.wait() != 0:
        errors = [line for line in log if "error" in line.lower()][:8] or log[-8:]
        raise DeployError(f"building TFLM for {cpu.name} failed (make in {folder}):\n"
                          + "".join(errors))


def _makefile(sources: TflmSources, cpu: Cpu, flags: list, files: list) -> str:
    objects = " \\\n  ".join(f"obj/{f}.o" for f in files)
    common = " ".join(_quote(f) for f in flags)
    return f"""# Made by tflm_edu.deploy.tflm_build: TFLM ({sources.kernels} kernels) for {cpu.name}.
SRC := {sources.root}
CXX := {cpu.compiler}
CC := {cpu.compiler[:-3] + "gcc"}
AR := {cpu.compiler[:-3] + "ar" if cpu.is_arm else "ar"}
COMMON := {common}
CXXFLAGS := {" ".join(CXX_FLAGS)}
CFLAGS := {" ".join(C_FLAGS)}
OPT = $(if $(or $(findstring /kernels/,$<),$(findstring third_party/,$<)),O2,Os)
OBJECTS := \\
  {objects}

libtflm.a: $(OBJECTS)
\t@rm -f $@
\t@$(AR) rcs $@ $(OBJECTS)

pch-%/pch.h.gch: pch-%/pch.h
\t@$(CXX) $(COMMON) $(CXXFLAGS) -$* -x c++-header $< -o $@

obj/%.cc.o: $(SRC)/%.cc | pch-O2/pch.h.gch pch-Os/pch.h.gch
\t@mkdir -p $(dir $@)
\t@echo "CC $*.cc"
\t@$(CXX) $(COMMON) $(CXXFLAGS) -$(OPT) -include pch-$(OPT)/pch.h -c $< -o $@

obj/%.c.o: $(SRC)/%.c
\t@mkdir -p $(dir $@)
\t@echo "CC $*.c"
\t@$(CC) $(COMMON) $(CFLAGS) -$(OPT) -c $< -o $@
"""


def _quote(flag: str) -> str:
    return "'" + flag.replace("'", "'\\''") + "'" if any(c in flag for c in ' "()') else flag


def _progress(total: int, description: str, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=description, unit="file")


def fused_multiply_adds(source: str, cpu: str = "cortex-m4", stock_float: bool = False,
                        tflm_src=None) -> int:
    """How many fused multiply-add instructions (vfma, vfms, vfnma, vfnms) GCC emits for one
    file of TFLM's tree (e.g. "tensorflow/lite/micro/kernels/fully_connected.cc") with this
    module's flags, or TFLM's stock ones: each is a * b + c rounded once, where the C++ source
    (and the PC) rounds twice - the reason float outputs can differ on a Cortex-M."""
    import re
    import tempfile
    target = get_cpu(cpu)
    sources = find_sources("reference", tflm_src)
    flags = compile_flags(target, sources, stock_float)
    with tempfile.TemporaryDirectory() as folder:
        obj = Path(folder) / "kernel.o"
        subprocess.run([require(target.compiler), *flags, *CXX_FLAGS, "-O2", "-c",
                        str(sources.root / source), "-o", str(obj)], check=True,
                       capture_output=True)
        listing = subprocess.run([require(target.compiler[:-3] + "objdump"), "-d", str(obj)],
                                 capture_output=True, text=True, check=True).stdout
    return len(re.findall(r"\bvfn?m[as]\.f32\b", listing))
