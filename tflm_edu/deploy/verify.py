"""Does the board compute exactly what the host computes? N inputs through both, byte by byte.

    report = verify(port_or_board, model_bytes, n=20)
    print(report.table())      # one row per input: equal?, differing bytes, latency
    report.plot()              # the latency per input, labelled with what it measures

The latency is what the board reports for each invoke, and it is not always time on a
microcontroller: QEMU's timer counts instructions (1 ns of virtual time per instruction), the
Python VirtualBoard times tflm_edu's interpreter on this PC, the host firmware times TFLM's C++
on this PC, and only a real board times itself. report.measures() says which.

The host side is tflm_edu's interpreter, which is bit-exact with TFLM's reference kernels;
a board running TFLM's reference kernels must match it byte for byte. A board with optimized
kernels (CMSIS-NN) may differ by one in a few places - the table shows where and by how much.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tflm_edu.deploy.client import Board


@dataclass
class Sample:
    index: int
    equal: bool
    differing: int          # how many output elements differ
    max_abs_diff: float
    latency_us: int


def latency_measure(board: str, counter: str = "microseconds") -> tuple:
    """What a board's reported latency is, from its BoardInfo's board name and counter unit:
    (a sentence, a short axis name). QEMU counts instructions (its virtual clock runs 1 ns per
    instruction), the Python VirtualBoard and the host firmware run on this PC, a real board
    counts with its own timer."""
    if counter == "instructions":
        return ("QEMU virtual time: instructions executed, 1 ns each (not cycles)",
                "QEMU virtual time")
    if board == "virtual":
        return ("time on this PC: tflm_edu's Python interpreter behind the Python VirtualBoard",
                "Python time on this PC")
    if board == "host":
        return "time on this PC: TFLM's C++ compiled for this computer", "TFLM time on this PC"
    return f"time on the board: {board}'s own timer", f"time on {board}"


@dataclass
class VerifyReport:
    board: str
    samples: list = field(default_factory=list)
    counter: str = "microseconds"      # the board's counter unit (BoardInfo.counter)

    def measures(self) -> str:
        """What the latency column measures (see latency_measure)."""
        return latency_measure(self.board, self.counter)[0]

    @property
    def all_equal(self) -> bool:
        return bool(self.samples) and all(s.equal for s in self.samples)

    @property
    def latencies(self) -> np.ndarray:
        return np.array([s.latency_us for s in self.samples], dtype=np.int64)

    def latency_stats(self) -> dict:
        lat = self.latencies
        return {"min": int(lat.min()), "median": float(np.median(lat)), "max": int(lat.max())}

    def summary(self) -> str:
        equal = sum(s.equal for s in self.samples)
        stats = self.latency_stats()
        return (f"{self.board}: {equal}/{len(self.samples)} outputs byte-equal to the host; "
                f"latency min {stats['min']:,} us, median {stats['median']:,.0f} us, max "
                f"{stats['max']:,} us")

    def table(self) -> str:
        rows = [f"{'input':>5}  {'byte-equal':>10}  {'differing':>9}  {'max |diff|':>10}  "
                f"{'latency (us)':>12}"]
        for s in self.samples:
            rows.append(f"{s.index:>5}  {'yes' if s.equal else 'NO':>10}  {s.differing:>9}  "
                        f"{s.max_abs_diff:>10g}  {s.latency_us:>12,}")
        return "\n".join(rows + [self.summary()])

    def __repr__(self):
        return f"VerifyReport({self.summary()})"

    def plot(self, ax=None):
        """The latency the board reported per input, in milliseconds, named for what it
        measures (QEMU's virtual time, Python or C++ time on this PC, or the board's own
        timer); whole-number input ticks; red crosses where the output differs from the host.
        (tflm_edu.viz.plot_board_latency draws this with the viz package's fonts.)"""
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 3), layout="constrained")
        lat = self.latencies / 1000.0
        index = np.array([s.index for s in self.samples])
        ax.plot(index, lat, "o-", label="latency")
        stats = self.latency_stats()
        ax.axhline(stats["median"] / 1000.0, color="gray", ls="--",
                   label=f"median {stats['median'] / 1000:.3g} ms")
        bad = [k for k, s in enumerate(self.samples) if not s.equal]
        if bad:
            ax.plot(index[bad], lat[bad], "rx", ms=10, label="differs from host")
        ax.set_xlabel("input")
        ax.set_ylabel(f"{latency_measure(self.board, self.counter)[1]} (ms)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.ticklabel_format(axis="y", style="plain", useOffset=False)
        ax.set_title(f"{self.board}: {sum(s.equal for s in self.samples)}/{len(self.samples)} "
                     f"byte-equal")
        ax.legend(loc="best", fontsize=8)
        return ax


def random_inputs(info, n: int, seed: int = 0) -> list:
    """n inputs filling the board's input tensor: uniform over the dtype's range."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(info.input.dtype)
    if dtype.kind == "f":
        return [rng.standard_normal(info.input.shape).astype(dtype) for _ in range(n)]
    limits = np.iinfo(dtype)
    return [rng.integers(limits.min, limits.max, info.input.shape, endpoint=True).astype(dtype)
            for _ in range(n)]


def verify(board, model, inputs=None, n: int = 10, seed: int = 0, timeout: float = 2.0,
           retries: int = 3, progress: bool = True) -> VerifyReport:
    """Run `inputs` (default: n random ones) through `board` (a Board, or a port to open) and
    through tflm_edu's interpreter on `model` (.tflite bytes or path); compare bytes."""
    from tflm_edu.runtime import Interpreter
    from tflm_edu.schema import as_bytes

    data = as_bytes(model)
    owned = not isinstance(board, Board)
    if owned:
        board = Board.open(board, expected_model=data, timeout=timeout, retries=retries)
    try:
        info = board.info()
        host = Interpreter.from_bytes(data)
        inputs = random_inputs(info, n, seed) if inputs is None else list(inputs)
        report = VerifyReport(info.board, counter=info.counter)
        for i, x in enumerate(_progress(inputs, progress, info.board)):
            y_board, latency = board.invoke(x)
            host.set_input(np.asarray(x).reshape(host.get_input_details(0)["shape"]), 0)
            host.invoke()
            y_host = host.get_output(0)
            diff = np.abs(y_board.astype(np.float64) - y_host.reshape(y_board.shape))
            report.samples.append(Sample(i, y_board.tobytes() == y_host.tobytes(),
                                         int((diff != 0).sum()), float(diff.max(initial=0)),
                                         latency))
        return report
    finally:
        if owned:
            board.close()


def _progress(items, enabled, name):
    if not enabled:
        return items
    from tqdm.auto import tqdm
    return tqdm(items, desc=f"verify on {name}", leave=False)
