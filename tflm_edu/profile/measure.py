"""Measure what TFLM's C++ executes, op by op, on the emulated Cortex-M boards.

    counts = measure_corpus([model_a, model_b], board="qemu-cortex-m4", kernels="cmsis_nn")
    counts[0]          # [OpCount('CONV_2D', 18_460.0), ...] for model_a, one per op

All the models go into one profiling firmware (firmware_src/profile_corpus_main.cc), which
runs each through TFLM on the emulated core and prints every op's instruction count; the
models are split over several firmwares when they do not fit in the board's flash at once.
The instruction counts come from QEMU's `-icount shift=0` clock (one instruction, one
nanosecond), read by the board's 25 MHz timer: 40 instructions per tick, which is why each
op is timed over several invokes and averaged.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tflm_edu.deploy.errors import DeployError

REPEATS = 8               # invokes timed per small model (after one warm-up invoke)
LARGE_INVOKE = 200_000    # instructions from which one timed invoke is enough
INSTRUCTIONS_PER_TICK = 40    # QEMU's 1 GHz instruction clock over the board's 25 MHz timer


def resolution(invoke_instructions: float) -> float:
    """The step of one op's measured count in a model whose invoke takes this many
    instructions: one timer tick over the invokes timed (one invoke from LARGE_INVOKE up)."""
    return INSTRUCTIONS_PER_TICK / (1 if invoke_instructions >= LARGE_INVOKE else REPEATS)
# Models per firmware: QEMU's mps2-an500 (Cortex-M7) did not boot images of about 2.2 MB
# and more here (nothing printed; 2.1 MB ran), so both boards get at most 1.75 MiB of
# models per firmware.
FLASH_FOR_MODELS = 1792 << 10
ARENA_BYTES = 3 << 20              # of its 4 MiB of RAM: the rest is data and the stack
STALL_SECONDS = 120          # no line for this long: the board hangs on a model
# The profiling firmware's revision. Revision 2 runs models with resource variables, which
# revision 1 refused (None), and times up to 1,024 op events per invoke, where revision 1
# silently kept the first 64: measure_cached measures those entries of an older revision again.
# Revision 3 fills every model's inputs from the same seed (revision 2 seeded each by its place
# in the firmware), so the host can replay them: models whose cost depends on the values are
# measured again. Revision 4 registers the custom ops TFLM's resolver has adders for (the Signal
# library, CIRCULAR_BUFFER, TFLite_Detection_PostProcess), which revision 3 refused (None).
FIRMWARE_REVISION = 4
OLD_EVENT_LIMIT = 64
SAME_INPUTS_REVISION = 3
CUSTOM_OPS_REVISION = 4


@dataclass(frozen=True)
class OpCount:
    """One op of one invoke: the name TFLM's profiler gave it, and its instructions."""
    tag: str
    instructions: float


class CorpusFailed(DeployError):
    """The profiling firmware could not run a model of the corpus."""


def measure_corpus(models: list, board: str = "qemu-cortex-m4", kernels: str = "reference",
                   tflm_src=None, work_dir=None, progress: bool = True) -> list:
    """Per model (list of .tflite bytes), the list of OpCount of one invoke, or None where
    TFLM refused the model (AllocateTensors or Invoke failed) or the board crashed on it."""
    models = [bytes(m) for m in models]
    results: list = [None] * len(models)
    bar = _progress(len(models), f"{board} {kernels}", progress)
    with tempfile.TemporaryDirectory(prefix="tflm_edu_profile_") as tmp:
        folder = Path(work_dir or tmp)
        pending = _chunks(models)
        built = 0
        while pending:
            indices = pending.pop(0)
            firmware = build_corpus_firmware([models[i] for i in indices], board, kernels,
                                             folder / f"corpus{built}", tflm_src)
            built += 1
            try:
                measured = run_corpus_firmware(firmware, len(indices))
            except CorpusFailed:
                # The emulated board crashed (QEMU's M7 does, on some long runs of CMSIS-NN
                # models that each pass alone): run the halves apart; a model that crashes
                # the board on its own is left out (None).
                if len(indices) > 1:
                    half = len(indices) // 2
                    pending[:0] = [indices[:half], indices[half:]]
                else:
                    bar.update(1)
                continue
            for local, ops in measured.items():
                results[indices[local]] = ops
            bar.update(len(indices))
    bar.close()
    return results


def measure_cached(models: list, target: str = "cortex-m4", kernels: str = "reference",
                   tflm_src=None, progress: bool = True) -> list:
    """measure_corpus for a target ("cortex-m4" or "cortex-m7"), measuring only the models
    not yet measured: results are kept in TFLM_EDU_CACHE/cost_corpus by model digest (the
    counts depend only on the model, the core, the kernels and TFLM's sources)."""
    from tflm_edu.deploy.tflm_build import _locked, cache_dir
    folder = cache_dir() / "cost_corpus"
    folder.mkdir(parents=True, exist_ok=True)
    store = folder / f"{target}-{kernels}.json"
    known = _load_store(store)
    digests = [hashlib.sha256(bytes(m)).hexdigest()[:24] for m in models]
    missing = sorted({d: i for i, (d, m) in enumerate(zip(digests, models))
                      if d not in known or _stale(known, d, m)}.values())
    bar = _progress(len(missing), f"{target} {kernels}", progress and bool(missing))
    for chunk in _chunks([models[i] for i in missing]):    # saved chunk by chunk
        indices = [missing[j] for j in chunk]
        counts = measure_corpus([models[i] for i in indices], f"qemu-{target}", kernels,
                                tflm_src=tflm_src, progress=False)
        measured = {digests[i]: None if ops is None else [[o.tag, o.instructions] for o in ops]
                    for i, ops in zip(indices, counts)}
        with _locked(store.with_suffix(".lock")):      # other runs may have added some too
            known = _load_store(store)
            known.update(measured)
            revisions = known.setdefault("revisions", {})
            revisions.update({d: FIRMWARE_REVISION for d in measured})
            store.write_text(json.dumps(known))
        bar.update(len(indices))
    bar.close()
    return [None if known[d] is None else [OpCount(t, n) for t, n in known[d]]
            for d in digests]


def _load_store(store: Path) -> dict:
    """The cached counts {digest: ops}, with "revisions" {digest: firmware revision} for the
    entries measured since revision 3. Refusals and 64-event entries of revision 1 are left
    out (measured again: a newer firmware may run them)."""
    known = json.loads(store.read_text()) if store.exists() else {}
    base = known.pop("firmware", 1)
    revisions = known.pop("revisions", {})
    if base < 2:
        known = {d: ops for d, ops in known.items()
                 if d in revisions or (ops is not None and len(ops) < OLD_EVENT_LIMIT)}
    known["revisions"] = {d: revisions.get(d, base) for d in known}
    return known


def _stale(known: dict, digest: str, model: bytes) -> bool:
    """Measured with per-model input seeds (before revision 3) while its cost depends on the
    values, which the host now replays from the one seed; or refused for a custom op before
    the firmware registered them (revision 4)."""
    revision = known["revisions"].get(digest, 1)
    if revision >= CUSTOM_OPS_REVISION:
        return False
    from tflm_edu.profile.features import _needs_run
    from tflm_edu.schema import as_model
    from tflm_edu.schema.enums import BuiltinOperator
    parsed = as_model(model)
    if known[digest] is None and any(c.builtin_code == BuiltinOperator.CUSTOM
                                     for c in parsed.operator_codes):
        return True
    return revision < SAME_INPUTS_REVISION and _needs_run(parsed)


def _chunks(models: list) -> list:
    chunks, current, size = [], [], 0
    for i, model in enumerate(models):
        if len(model) > FLASH_FOR_MODELS:
            raise DeployError(f"corpus model {i} is {len(model):,} bytes: more than the "
                              f"{FLASH_FOR_MODELS:,} bytes of flash the profiling firmware has")
        if current and size + len(model) > FLASH_FOR_MODELS:
            chunks.append(current)
            current, size = [], 0
        current.append(i)
        size += len(model) + 16
    if current:
        chunks.append(current)
    return chunks


def _progress(total: int, description: str, enabled: bool):
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=description, unit="model", disable=not enabled)


def corpus_sources(models: list) -> dict:
    """The generated files of a profiling firmware: one C array per model, the table of
    models and an op resolver with every op any of them uses."""
    from tflm_edu.convert.c_array import (cpp_add_method_name, model_builtin_ops, to_c_array)
    from tflm_edu.op_resolver import CUSTOM_SPECS, cpp_custom_add_method_name
    from tflm_edu.schema import read_model
    from tflm_edu.schema.enums import BuiltinOperator
    from tflm_edu.kernels.resource_variables import MicroResourceVariables
    texts, ops, customs, variables = {}, [], [], []
    for i, data in enumerate(models):
        cc, h = to_c_array(data, f"g_corpus_{i}", header_name=f"corpus_{i}.h")
        texts[f"corpus_{i}.cc"], texts[f"corpus_{i}.h"] = cc, h
        parsed = read_model(data)
        ops += [op for op in model_builtin_ops(parsed) if op not in ops]
        # the custom ops TFLM's resolver has an adder for (the Signal library's and
        # CIRCULAR_BUFFER, TFLite_Detection_PostProcess); others the firmware refuses
        customs += sorted({c.custom_code for c in parsed.operator_codes
                           if c.builtin_code == BuiltinOperator.CUSTOM
                           and c.custom_code in CUSTOM_SPECS and c.custom_code not in customs})
        store = MicroResourceVariables.for_model(parsed)
        variables.append(0 if store is None else store.max_variable_count)
    includes = "\n".join(f'#include "corpus_{i}.h"' for i in range(len(models)))
    pointers = ", ".join(f"g_corpus_{i}" for i in range(len(models)))
    texts["corpus_models.h"] = (
        "// The models of one profiling firmware, made by tflm_edu.profile.measure.\n"
        "#pragma once\n#include <stddef.h>\n#include <stdint.h>\n" + includes + "\n\n"
        f"constexpr int kCorpusCount = {len(models)};\n"
        f"constexpr int kRepeats = {REPEATS};\n"
        f"constexpr uint32_t kLargeInvoke = {LARGE_INVOKE};\n"
        f"constexpr size_t kCorpusArenaBytes = {ARENA_BYTES};\n"
        f"static const unsigned char* const kCorpusModels[] = {{{pointers}}};\n"
        "// Resource variables per model (0: the interpreter gets no variable store).\n"
        f"static const int kCorpusVariables[] = {{{', '.join(map(str, variables))}}};\n")
    adds = "\n".join([f"  corpus_op_resolver.{cpp_add_method_name(op)}();" for op in ops]
                     + [f"  corpus_op_resolver.{cpp_custom_add_method_name(name)}();"
                        for name in customs])
    texts["corpus_op_resolver.h"] = (
        "// Every op the corpus uses, made by tflm_edu.profile.measure.\n#pragma once\n"
        '#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"\n\n'
        f"static tflite::MicroMutableOpResolver<{max(len(ops) + len(customs), 1)}> "
        "corpus_op_resolver;\n\n"
        f"inline void corpus_register_ops() {{\n{adds}\n}}\n")
    return texts


def build_corpus_firmware(models: list, board: str, kernels: str, out_dir, tflm_src=None):
    """Write and compile the profiling firmware for `models` on an emulated board."""
    from tflm_edu.deploy.firmware import Project, board_target, firmware_source
    from tflm_edu.deploy.protocol import constants_header
    target = board_target(board)
    if target.compile_kind != "emulated":
        raise DeployError(f"{board} is not an emulated board; profile on qemu-cortex-m4 or "
                          f"qemu-cortex-m7")
    out = Path(out_dir).resolve()
    src = out / "src"
    src.mkdir(parents=True, exist_ok=True)
    texts = corpus_sources(models)
    for name in [n for n in target.serial_sources if isinstance(n, str)]:
        texts[name] = firmware_source(name)
    texts["serial_port.h"] = firmware_source("serial_port.h")
    texts["protocol_constants.h"] = constants_header()   # serial_port.h names the units
    texts["main.cc"] = firmware_source("profile_corpus_main.cc")
    files = []
    for name, text in texts.items():
        (src / name).write_text(text)
        files.append(src / name)
    project = Project(target, out, src, sorted(files), "", sum(map(len, models)), ARENA_BYTES,
                      ARENA_BYTES, ARENA_BYTES, [], kernels)
    return project.compile(tflm_src=tflm_src, progress=False)


def run_corpus_firmware(firmware, count: int, stall: float = STALL_SECONDS) -> dict:
    """Run a profiling firmware in QEMU until it says END; {model index: [OpCount] or None}.
    Gives up when the board prints nothing for `stall` seconds (a model that hangs it)."""
    import threading
    import time
    from tflm_edu.deploy.toolchain import require
    command = [require("qemu-system-arm"), "-machine", firmware.board.board.emulator,
               "-nographic", "-monitor", "none", "-serial", "stdio", "-icount", "shift=0",
               "-kernel", str(firmware.elf)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True, errors="replace")
    lines, last = [], [time.monotonic()]
    done = threading.Event()

    def watchdog():
        while not done.wait(1.0):
            if time.monotonic() - last[0] > stall:
                process.kill()
                return
    threading.Thread(target=watchdog, daemon=True).start()
    try:
        for line in process.stdout:
            last[0] = time.monotonic()
            if line.strip() == "END":
                break
            lines.append(line.strip())
    finally:
        done.set()
        process.kill()
        process.wait()
    results, repeats = {}, {}
    for line in lines:
        parts = line.split()
        if parts[:1] == ["MODEL"]:
            index = int(parts[1])
            results[index] = [] if parts[2] == "OK" else None
            repeats[index] = int(parts[4]) if parts[2] == "OK" else 1
        elif parts[:1] == ["OP"] and len(parts) == 5:
            index = int(parts[1])
            results[index].append(OpCount(parts[3], int(parts[4]) / repeats[index]))
    if len(results) < count:
        stuck = len(results)
        raise CorpusFailed(f"the profiling firmware stopped at corpus model {stuck} of {count} "
                           f"(it crashed, or printed nothing for {stall:.0f} s); its last lines: "
                           f"{' / '.join(lines[-3:]) or 'none'}")
    return results
