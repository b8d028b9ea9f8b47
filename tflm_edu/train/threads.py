"""How many BLAS threads training runs with, chosen by measurement, and the context that pins
them.

numpy's BLAS (OpenBLAS, in numpy's wheels) starts one thread per core and uses them all for
every matrix product. The products of these models are narrow (8 to 256 output channels) and come
between long runs of single-threaded numpy arithmetic (depthwise convolutions, batch norm,
activations), so a second thread can only ever help the 15-25% of a step that is BLAS. Between
products OpenBLAS keeps its worker threads spinning, and when another process holds the other
core, every product waits for a worker that is not running: on this project's shared 2-core
machine, default threads made training 3-7x slower than one thread.

The rule, from benchmarks/bench_train.py --threads 1,2 (one and two threads interleaved in one
run, 2 cores; samples/s, median of 5 epochs, with the spread (max - min) / median):

    blas_threads(model) = 1, for every model.

                                     load ~1 (18:47 UTC)            load ~2-3 (19:22 UTC)
    model                            1 thread      2 threads        1 thread      2 threads
    micro_speech_tiny_conv           15,474 (14%)  16,315 (87%)     13,705 (37%)   3,244 (441%)
    magic_wand                       21,536 (12%)  19,979 (92%)     13,736 (60%)   2,083 (75%)
    person_detection_mobilenet_v1       465  (5%)     477 (62%)        461 (23%)      52 (101%)

On their own, the matrix products of these models run 1.9x faster on two idle cores, but they
are a quarter of a MobileNet step and less of the others, so a second thread gains a few
percent at best when the other core is free, and costs 3-9x when it is not; with it every
figure is also unsteady. One thread is never much slower and always steady, so fit() uses one
unless told otherwise (Sequential.fit(blas_threads=N)). (tf.keras, in the same runs, held its
speed at two threads on the busy machine; the benchmark pins both sides to the same count.)

The choice depends only on this rule, not on the environment: OPENBLAS_NUM_THREADS and the
like are overridden inside fit() and restored after it.
"""
from __future__ import annotations

from contextlib import contextmanager

_CONTROLLER = None


def blas_threads(model=None) -> int:
    """The BLAS thread count fit() trains `model` with when not told one: 1 (see above)."""
    return 1


def _controller():
    """One threadpoolctl controller, made on first use: it finds the BLAS libraries loaded
    (numpy's) once, so each limit costs microseconds rather than a fresh scan."""
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


@contextmanager
def blas_limits(threads: int):
    """Run the body with numpy's BLAS limited to `threads` threads, restoring the previous
    setting afterwards: `with blas_limits(1): model.train_step(x, y)`."""
    if int(threads) < 1:
        raise ValueError(f"blas threads must be 1 or more, got {threads}")
    with _controller().limit(limits=int(threads), user_api="blas"):
        yield
