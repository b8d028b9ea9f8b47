"""A differential fuzzing campaign: N structure-aware mutants of the reference and built
models through tflm_edu and the real TFLM (tests/fuzz_differential.py), counted per class,
with an example of every kind of bad case and the seed that reproduces it.

    python benchmarks/fuzz_campaign.py [--mutants 20000] [--start 0] [--targets NAME ...]
    python tests/fuzz_differential.py --repro SEED      # one case again, both outcomes

One process at a time: two worker processes (tflm_edu, TFLM) that the driver feeds in
turn. A bad case that involves TFLM is run again on a fresh TFLM worker before it counts.
"""
from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import fuzz_differential as fd  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutants", type=int, default=20_000)
    parser.add_argument("--start", type=int, default=0, help="first seed")
    parser.add_argument("--targets", nargs="+", default=None, choices=list(fd.TARGETS))
    parser.add_argument("--examples", type=int, default=12,
                        help="distinct bad kinds shown per class")
    parser.add_argument("--progress", type=int, default=2000)
    args = parser.parse_args(argv)

    targets = args.targets or fd.available_targets()
    counts = collections.Counter()
    per_target = collections.defaultdict(collections.Counter)
    bad = collections.defaultdict(dict)   # class -> signature -> [count, first case]
    implicit = []   # refusals that are a raw exception the interpreter relabelled
    slowest = (0.0, None)
    start = time.perf_counter()
    seeds = range(args.start, args.start + args.mutants)
    with fd.Fuzzer() as fuzzer:
        for n, seed in enumerate(seeds, 1):
            mutant, verdict = fuzzer.run_case(seed, targets)
            counts["mutants"] += 1
            if verdict is None:
                counts["not writable"] += 1
                continue
            counts[verdict.cls] += 1
            per_target[mutant.target][verdict.cls] += 1
            if verdict.cls == fd.REFUSED and verdict.edu.implicit:
                implicit.append((mutant, verdict))
            if verdict.edu.seconds > slowest[0]:
                slowest = (verdict.edu.seconds, mutant)
            if verdict.bad or verdict.cls == fd.TFLM_HANG:
                entry = bad[verdict.cls].setdefault(fd.signature(mutant, verdict),
                                                    [0, mutant, verdict])
                entry[0] += 1
            if args.progress and n % args.progress == 0:
                print(f"# {n:,} mutants, {time.perf_counter() - start:.0f} s, "
                      f"bad so far {sum(counts[c] for c in fd.BAD)}", file=sys.stderr,
                      flush=True)
        workers = (fuzzer.edu.starts, fuzzer.tflm.starts)
    report(args, targets, counts, per_target, bad, implicit, slowest, workers,
           time.perf_counter() - start)


def report(args, targets, counts, per_target, bad, implicit, slowest, workers, seconds):
    print(f"# differential fuzzing campaign: seeds {args.start}..{args.start + args.mutants - 1}, "
          f"{seconds:.0f} s, {time.strftime('%Y-%m-%d')}")
    print(f"# targets: {', '.join(targets)}")
    good = sum(counts[c] for c in fd.GOOD)
    rows = [("mutants", counts["mutants"]), ("  not writable (skipped)", counts["not writable"]),
            ("good", good), (f"  {fd.EQUAL}", counts[fd.EQUAL]),
            (f"  {fd.REFUSED}", counts[fd.REFUSED]),
            ("    of which a raw exception caught in prepare", len(implicit)),
            ("bad", sum(counts[c] for c in fd.BAD))]
    rows += [(f"  {c}", counts[c]) for c in fd.BAD]
    rows += [(fd.TFLM_HANG, counts[fd.TFLM_HANG])]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value:>7,}")
    print(f"slowest tflm_edu case: {slowest[0]:.2f} s ({slowest[1]})")
    print(f"worker starts: tflm_edu {workers[0]}, TFLM {workers[1]}")
    print("\nper target (equal / refused / bad):")
    for target in targets:
        c = per_target[target]
        print(f"  {target:<24} {c[fd.EQUAL]:>6,} / {c[fd.REFUSED]:>6,} / "
              f"{sum(c[k] for k in fd.BAD):>4,}")
    if implicit:
        print(f"\nrefusals that are a raw exception in a kernel's prepare, relabelled "
              f"ModelError by the interpreter ({len(implicit)}):")
        for mutant, verdict in implicit[:args.examples]:
            print(f"         {mutant}")
            print(f"         -> {verdict.explain()[:300]}")
    for cls in fd.BAD + (fd.TFLM_HANG,):
        if not bad[cls]:
            continue
        kinds = sorted(bad[cls].items(), key=lambda item: -item[1][0])
        nan = sum(count for sig, (count, *_) in kinds if sig[0] == fd.NAN_PAYLOADS)
        nan = f", {nan} of them in NaN payloads only" if nan else ""
        print(f"\n{cls}: {counts[cls]} mutants{nan}, {len(kinds)} kinds "
              f"(reproduce: python tests/fuzz_differential.py --repro SEED)")
        for sig, (count, mutant, verdict) in kinds[:args.examples]:
            nan = " [NaN payloads only]" if sig[0] == fd.NAN_PAYLOADS else ""
            print(f"  {count:>4} x {', '.join(sig[1])}{nan}")
            print(f"         {mutant}")
            print(f"         -> {verdict.explain()[:300]}")


if __name__ == "__main__":
    main()
