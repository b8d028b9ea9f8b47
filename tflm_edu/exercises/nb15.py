"""Checks for the exercises of notebooks/15_deploy.ipynb.

15.1 the flash the model takes, against the size of its C source (check_model_flash)
15.2 the arena bytes the firmware gives TFLM and TFLM leaves unused (check_arena_margin)
15.3 which kind of op costs the board the most (check_costliest_op)
15.4 faults a host survives, with the virtual board (check_survives_faults)
"""
from __future__ import annotations

import re
from collections import Counter

from tflm_edu.exercises.core import Verdict, answered, compare


def c_array_bytes(source: str) -> int:
    """How many bytes the first C array initializer in `source` holds (its 0x.. items)."""
    start = source.index("{")
    return len(re.findall(r"0x[0-9a-fA-F]{2}", source[start:source.index("}", start)]))


def check_model_flash(answer, project) -> Verdict:
    """The bytes of flash the model array of `project` (a generated firmware project)
    takes: one byte per element of the array in model_data.cc, not the file's size."""
    source_file = project.source_dir / "model_data.cc"
    source = source_file.read_text()
    expected = c_array_bytes(source)
    text_bytes = source_file.stat().st_size
    result = compare(answer, expected,
                     hint="the compiler turns every 0x.. of the array into one byte of flash; "
                          "count the array's elements - the .cc file is text, six or so "
                          "characters per byte.",
                     right=f"{expected:,} bytes: exactly the .tflite file, byte for byte. The "
                           f".cc source is {text_bytes:,} bytes of text "
                           f"({text_bytes / expected:.1f}x), none of which reaches the board.")
    if result.correct is False and compare(answer, text_bytes, hint="").correct:
        return Verdict(False, "that is the size of the .cc source file, text the compiler "
                              "reads; what ends up in flash is the array itself.")
    return result


def check_arena_margin(answer, info) -> Verdict:
    """The arena bytes TFLM leaves unused on the board: the arena the firmware hands the
    interpreter minus what AllocateTensors used. `info` is board.info() (or the Board)."""
    info = info.info() if callable(getattr(info, "info", None)) else info
    expected = info.arena_size - info.arena_used
    return compare(answer, expected,
                   hint="board.info() says arena_used / arena_size: the firmware hands TFLM "
                        "arena_size bytes and TFLM used arena_used of them.",
                   right=f"{expected:,} bytes of the {info.arena_size:,} stay unused "
                         f"({100 * expected / max(info.arena_size, 1):.1f}%): the room the "
                         f"generated project adds to the estimate, in case the build's "
                         f"structs or kernels need more than predicted.")


def op_totals(profile) -> Counter:
    """Counter of each op type's total counter reading in a BoardProfile (top-level ops)."""
    totals = Counter()
    for event in profile.events:
        if event.depth == 0:
            totals[event.tag] += event.counter
    return totals


def check_costliest_op(answer, profile) -> Verdict:
    """The op type (CONV_2D, ...) whose ops, added up, take the largest share of the
    board's counter in `profile`."""
    totals = op_totals(profile)
    expected, cost = totals.most_common(1)[0]
    single = max((e for e in profile.events if e.depth == 0), key=lambda e: e.counter)
    count = sum(1 for e in profile.events if e.depth == 0 and e.tag == expected)
    if answered(answer) and isinstance(answer, str):
        answer = answer.strip().upper()
    return compare(answer, expected,
                   hint="add up the counter of every op of each type (profile.events: tag and "
                        "counter) and compare the sums - not the single most expensive op.",
                   right=f"{expected}: {count} ops, {cost:,} {profile.unit} "
                         f"({100 * cost / max(profile.total, 1):.0f}% of the invoke). The "
                         f"single costliest op is a {single.tag} at {single.counter:,}. That "
                         f"is the kernel an optimized library (CMSIS-NN) pays off on first.")


def check_survives_faults(faults, model_bytes, invokes: int = 2, timeout: float = 0.5,
                          retries: int = 5) -> Verdict:
    """With a VirtualBoard that misbehaves as `faults` (a Faults) says, the host must still
    get byte-exact outputs for `invokes` random inputs - and must have had to recover from
    something on the way (a retry, a restart, a reset)."""
    from tflm_edu.deploy import Board, DeployError, Faults, VirtualBoard, verify
    if not answered(faults):
        return Verdict(None, "pick a Faults(...): drop_bytes or flip_bits (a probability per "
                             "byte), reset_after=N, reboot_after_invoke=N, delay=... - mild "
                             "enough for the host to get through.")
    if not isinstance(faults, Faults):
        return Verdict(False, "faults must be a Faults(...) object, e.g. Faults(flip_bits=1e-4, "
                              "seed=1).")
    try:
        with VirtualBoard(model_bytes, faults=faults) as virtual:
            with Board.open(virtual.path, expected_model=model_bytes, timeout=timeout,
                            retries=retries) as board:
                report = verify(board, model_bytes, n=invokes, progress=False)
                stats = dict(board.stats)
    except (DeployError, OSError) as e:
        return Verdict(False, f"the host gave up: {type(e).__name__}: {e}. Some boards cannot "
                              f"be rescued; make the faults milder, so that the protocol's "
                              f"retries get through.")
    recovered = {k: v for k, v in stats.items() if k != "requests" and v}
    if not report.all_equal:
        return Verdict(False, f"a wrong output reached the host ({report.summary()}) - that "
                              f"should never happen: tell the maintainers which Faults did it.")
    if not recovered:
        return Verdict(False, f"all {invokes} outputs were right, but nothing went wrong on "
                              f"the way ({stats['requests']} requests, no retry): make the "
                              f"faults stronger.")
    done = ", ".join(f"{v} {k}" for k, v in recovered.items())
    return Verdict(True, f"{invokes} of {invokes} outputs byte-equal to the host's after "
                         f"{stats['requests']} requests and {done}. The CRC, the session and "
                         f"the invoke count turned every fault into a retry instead of a "
                         f"wrong answer.")
