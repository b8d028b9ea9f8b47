"""Float models as a Cortex-M computes them: tflm_edu's target="cortex-m4f" / "cortex-m7"
against TFLM's C++ on QEMU's emulated boards, byte for byte.

Two things make a board's float answers differ from the PC's: GCC fusing a * b + c into
one rounding (tflm_edu's firmware turns that off with -ffp-contract=off), and the C
library - newlib's expf, logf, tanhf, expm1f instead of glibc's. tflm_edu.kernels.libm
re-computes newlib's functions in numpy; they are checked here against values measured on
the emulated board (a table: no toolchain needed) and against newlib itself, run on the
emulated core over half a million inputs. Then whole models, and every op that calls libm,
against the board. The firmware fixtures are in conftest.py.
"""
import subprocess

import numpy as np
import pytest

from conftest import on_board
from tflm_edu import Interpreter, MicroInterpreter
from tflm_edu.deploy.toolchain import CPUS, have
from tflm_edu.kernels import libm
from tflm_edu.op_resolver import AllOpsResolver
from tflm_edu.schema import write_model
from tflm_edu.schema import options as o
from tflm_edu.schema.builder import ModelBuilder
from tflm_edu.schema.enums import BuiltinOperator as Op

BOARDS = [("qemu-cortex-m4", "cortex-m4f"), ("qemu-cortex-m7", "cortex-m7")]
NEWLIB = {"expf": libm.newlib_expf, "logf": libm.newlib_logf, "tanhf": libm.newlib_tanhf,
          "expm1f": libm.newlib_expm1f}


def bits(x) -> np.ndarray:
    return np.asarray(x, np.float32).view(np.uint32)


# -- newlib's functions against values measured on the emulated Cortex-M4 ---------------------

# (x, f(x)) as float32 bits, printed by newlib 3.3.0's libm (Debian's libnewlib-arm-none-eabi,
# thumb/v7e-m+fp/hard) on QEMU's mps2-an386: one input from every branch of each function
# (subnormal results, overflow, infinities, NaN, the reductions by ln 2 ...), then inputs
# where glibc's answer is one ulp away.
MEASURED = {
    "expf": [
        (0x3DCCCCCD, 0x3F8D763E), (0x3E99999A, 0x3FACC82C), (0xBE99999A, 0x3F3DA643),
        (0x3F000000, 0x3FD3094C), (0x3F800000, 0x402DF854), (0xBF800000, 0x3EBC5AB2),
        (0x40400000, 0x41A0AF2E), (0x41200000, 0x46AC14EE), (0x42480000, 0x638C881F),
        (0x42B16666, 0x7F7A37FC), (0x42B170A4, 0x7F7F4648), (0xC0A9999A, 0x3BA39084),
        (0xC1A00000, 0x310DA433), (0xC2AF0000, 0x006CB2BC), (0xC2B20000, 0x001840FC),
        (0xC2BE0000, 0x00000F64), (0xC2CFCCCD, 0x00000001), (0xC2D00000, 0x00000000),
        (0xC3480000, 0x00000000), (0x42B1999A, 0x7F800000), (0x0DA24260, 0x3F800000),
        (0x00000000, 0x3F800000), (0x80000000, 0x3F800000), (0x7F800000, 0x7F800000),
        (0xFF800000, 0x00000000), (0x7FC00000, 0x7FC00000), (0xC0208CCA, 0x3DA6ABF4),
        (0xC141EB2E, 0x36B6DE1E), (0xBFD8075B, 0x3E3D60E2), (0xC0AA3347, 0x3BA08658),
        (0xBFE00A88, 0x3E31E328), (0xC0B91B6D, 0x3B497E54), (0xC069F062, 0x3CD3CB66),
        (0xC121748B, 0x382DDDB4),
    ],
    "logf": [
        (0x000116C2, 0xC2B834F2), (0x0DA24260, 0xC28A27B5), (0x3F000000, 0xBF317218),
        (0x3F7FFF58, 0xB7280037), (0x3F800000, 0x00000000), (0x3F800001, 0x33FFFFFF),
        (0x3F800004, 0x34FFFFFC), (0x3F7FFFF8, 0xB5000002), (0x3FC00000, 0x3ECF991F),
        (0x40000000, 0x3F317218), (0x40400000, 0x3F8C9F54), (0x41200000, 0x40135D8E),
        (0x7149F2CA, 0x428A27B5), (0x7F7FC99E, 0x42B171AB), (0x00000000, 0xFF800000),
        (0x80000000, 0xFF800000), (0xBF800000, 0x7FC00000), (0x7F800000, 0x7F800000),
        (0x7FC00000, 0x7FC00000), (0x3FAF4B9C, 0x3EA0FE8A), (0x3FCCA41C, 0x3EF03E8C),
        (0x3FC7A4CB, 0x3EE3960C), (0x400BFEDC, 0x3F4860D4), (0x40DBD8D7, 0x3FF6AE5C),
        (0x3FD9E3A0, 0x3F082E48), (0x3F162E3A, 0xBF0888E8), (0x40C48019, 0x3FE84F94),
    ],
    "tanhf": [
        (0x1E3CE508, 0x1E3CE508), (0x3C23D70A, 0x3C23D5A4), (0x3E99999A, 0x3E9526ED),
        (0x3F666666, 0x3F375F4C), (0x3F800000, 0x3F42F7D6), (0x40200000, 0x3F7C92C1),
        (0x41200000, 0x3F800000), (0x41AF3333, 0x3F800000), (0x41B00000, 0x3F800000),
        (0x42C80000, 0x3F800000), (0xBC23D70A, 0xBC23D5A4), (0xBF19999A, 0xBF097C15),
        (0xBFC00000, 0xBF67B7CC), (0xC1F00000, 0xBF800000), (0x7F800000, 0x3F800000),
        (0xFF800000, 0xBF800000), (0x7FC00000, 0x7FC00000), (0x3FF88129, 0x3F75AB80),
    ],
    "expm1f": [
        (0x2EDBE6FF, 0x2EDBE6FF), (0x3DCCCCCD, 0x3DD763DA), (0x3E99999A, 0x3EB320B2),
        (0xBE99999A, 0xBE84B37A), (0x3ECCCCCD, 0x3EFBD072), (0x3F000000, 0x3F261299),
        (0xBF000000, 0xBEC974D0), (0x3F800000, 0x3FDBF0A8), (0xBF800000, 0xBF21D2A7),
        (0xC0400000, 0xBF734128), (0xC1200000, 0xBF7FFD06), (0x40A00000, 0x431369C5),
        (0x41200000, 0x46AC12EE), (0x41A00000, 0x4DE75844), (0x41F00000, 0x551B8238),
        (0x42480000, 0x638C881F), (0xC1A00000, 0xBF800000), (0x42B00000, 0x7EF882B7),
        (0x42B20000, 0x7F800000), (0x7F800000, 0x7F800000), (0xFF800000, 0xBF800000),
        (0x7FC00000, 0x7FC00000), (0x40CE9936, 0x441EE8E3), (0x40752783, 0x4234595B),
        (0x40BC81BC, 0x43B45A99), (0x409408F4, 0x42CA3A87), (0xBE81D9C8, 0xBE6562AD),
        (0x3EA5DA5E, 0x3EC3DDF5), (0x3F70300C, 0x3FC71963),
    ],
}


@pytest.mark.parametrize("name", sorted(MEASURED))
def test_newlib_function_equals_the_values_measured_on_the_board(name):
    x_bits, y_bits = np.array(MEASURED[name], np.uint32).T
    x = x_bits.view(np.float32)
    assert bits(NEWLIB[name](x)).tolist() == y_bits.tolist()
    # Element by element (a 0-d array) and in any shape, the same bits.
    assert [int(bits(NEWLIB[name](v))) for v in x] == y_bits.tolist()
    assert bits(NEWLIB[name](x[:12].reshape(3, 4))).reshape(-1).tolist() == \
        y_bits[:12].tolist()


def test_the_hosts_libm_differs_from_newlib_in_the_last_bit():
    """The reason a target is needed: glibc's expf gives another float for 1 in 10 of the
    differences a softmax feeds it, never more than one ulp away."""
    x = -np.abs(np.random.default_rng(0).standard_normal(20_000) * 6).astype(np.float32)
    apart = np.abs(bits(libm.expf(x)).astype(np.int64) - bits(libm.newlib_expf(x)))
    assert 0.03 < (apart != 0).mean() < 0.3 and apart.max() == 1


def test_fmaf_rounds_once():
    f32 = np.float32
    one_ulp = f32(2.0 ** -23)
    # (1 + 2^-23)^2 - 1 = 2^-22 + 2^-46: one rounding keeps the 2^-46, two lose it.
    a = f32(1) + one_ulp
    assert libm.fmaf(a, a, f32(-1)) == f32(2.0 ** -22 + 2.0 ** -46)
    assert a * a - f32(1) == f32(2.0 ** -22)
    # A float64 sum exactly halfway between two floats, whose exact value is not: rounding
    # the float64 sum again would round to even; rounding once goes towards the exact value.
    b, c = f32(1 + 2.0 ** -12), f32(2.0 ** -60)   # b * b = 1 + 2^-11 + 2^-24
    assert libm.fmaf(b, b, c) == f32(1 + 2.0 ** -11 + 2.0 ** -23)
    assert libm.fmaf(b, b, -c) == f32(1 + 2.0 ** -11)
    x = np.random.default_rng(1).standard_normal((3, 1000)).astype(np.float32)
    exact = x[0].astype(np.float64) * x[1] + x[2]        # exact in float64 for most
    assert (libm.fmaf(x[0], x[1], x[2]) == exact.astype(np.float32)).mean() > 0.999


# -- newlib itself, run on the emulated core over half a million inputs ----------------------

# A firmware that runs newlib's float functions over a file of float32 values: Arm
# semihosting (QEMU's -semihosting) lets it read in.bin and write out.bin in the folder QEMU
# runs in. Linked with the same flags and libm as tflm_edu's firmware.
PROBE_SOURCE = r"""
#include <math.h>
#include <stdint.h>

enum { SYS_OPEN = 0x01, SYS_CLOSE = 0x02, SYS_WRITE = 0x05, SYS_READ = 0x06, SYS_EXIT = 0x18 };
enum { CHUNK = 16384, FUNCTIONS = 4 };

static int semihost(int op, const void* arg) {
  register int r0 __asm__("r0") = op;
  register const void* r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

static int open_file(const char* name, int mode) {
  int length = 0;
  while (name[length]) length++;
  const int args[3] = {(int)name, mode, length};
  return semihost(SYS_OPEN, args);
}

static float input[CHUNK], output[CHUNK * FUNCTIONS];
float (*volatile functions[FUNCTIONS])(float) = {expf, logf, tanhf, expm1f};

int main(void) {
  int in = open_file("in.bin", 1), out = open_file("out.bin", 5);   /* "rb", "wb" */
  for (;;) {
    const int read_args[3] = {in, (int)input, sizeof(input)};
    int n = (sizeof(input) - semihost(SYS_READ, read_args)) / sizeof(float);
    if (n <= 0) break;
    for (int i = 0; i < n; i++)
      for (int f = 0; f < FUNCTIONS; f++) output[i * FUNCTIONS + f] = functions[f](input[i]);
    const int write_args[3] = {out, (int)output, n * FUNCTIONS * (int)sizeof(float)};
    semihost(SYS_WRITE, write_args);
  }
  semihost(SYS_CLOSE, &in);
  semihost(SYS_CLOSE, &out);
  semihost(SYS_EXIT, (const void*)0x20026);   /* ADP_Stopped_ApplicationExit */
  return 0;
}

extern uint32_t __data_load__, __data_start__, __data_end__, __bss_start__, __bss_end__;
extern uint32_t __stack_top__;

void Reset_Handler(void) {
  for (uint32_t *s = &__data_load__, *d = &__data_start__; d < &__data_end__;) *d++ = *s++;
  for (uint32_t* d = &__bss_start__; d < &__bss_end__;) *d++ = 0;
  *(volatile uint32_t*)0xE000ED88 |= 0xFu << 20;   /* CPACR: the FPU on */
  __asm__ volatile("dsb\n isb" ::: "memory");
  main();
  for (;;) {}
}

__attribute__((section(".isr_vector"), used))
void (*const vectors[2])(void) = {(void (*)(void))&__stack_top__, Reset_Handler};
"""

PROBE_LINKER_SCRIPT = """
MEMORY { FLASH (rx) : ORIGIN = 0x00000000, LENGTH = 4M
         RAM (rwx) : ORIGIN = 0x20000000, LENGTH = 4M }
ENTRY(Reset_Handler)
SECTIONS {
  .text : { KEEP(*(.isr_vector)) *(.text*) *(.rodata*) . = ALIGN(4); } > FLASH
  .ARM.exidx : { *(.ARM.exidx*) } > FLASH
  .data : ALIGN(4) { __data_start__ = .; *(.data*) . = ALIGN(4); __data_end__ = .; } > RAM AT > FLASH
  __data_load__ = LOADADDR(.data);
  .bss (NOLOAD) : ALIGN(4) { __bss_start__ = .; *(.bss*) *(COMMON) . = ALIGN(4); __bss_end__ = .; } > RAM
  end = .;
  __stack_top__ = ORIGIN(RAM) + LENGTH(RAM);
}
"""


@pytest.fixture(scope="module")
def newlib_on_board(tmp_path_factory):
    """newlib_on_board(x, cpu) -> {function name: its float32 results}, computed by newlib
    on the emulated core."""
    if not have("arm-none-eabi-gcc", "qemu-system-arm"):
        pytest.skip("the ARM toolchain or QEMU is missing: apt-get install gcc-arm-none-eabi "
                    "libnewlib-arm-none-eabi qemu-system-arm")
    folder = tmp_path_factory.mktemp("newlib_probe")
    (folder / "probe.c").write_text(PROBE_SOURCE)
    (folder / "probe.ld").write_text(PROBE_LINKER_SCRIPT)
    machines = {"cortex-m4": "mps2-an386", "cortex-m7": "mps2-an500"}

    def run(x, cpu="cortex-m4"):
        elf = folder / f"{cpu}.elf"
        if not elf.exists():
            subprocess.run(["arm-none-eabi-gcc", *CPUS[cpu].flags, "-O2", "-fno-builtin",
                            "-nostartfiles", "-Tprobe.ld", "--specs=nano.specs",
                            "--specs=nosys.specs", "probe.c", "-lm", "-o", elf.name],
                           cwd=folder, check=True, capture_output=True)
        np.asarray(x, np.float32).tofile(folder / "in.bin")
        subprocess.run(["qemu-system-arm", "-machine", machines[cpu], "-nographic", "-monitor",
                        "none", "-serial", "null", "-semihosting-config",
                        "enable=on,target=native", "-kernel", elf.name], cwd=folder,
                       check=True, capture_output=True, timeout=300)
        out = np.fromfile(folder / "out.bin", np.float32).reshape(-1, 4)
        return dict(zip(["expf", "logf", "tanhf", "expm1f"], out.T))
    return run


def probe_inputs() -> np.ndarray:
    """Every 8191st float32 bit pattern (all exponents, both signs, NaNs, infinities), the
    neighbourhood of every threshold the four functions test, and the differences a
    softmax feeds expf, densely."""
    spread = np.arange(0, 2**32, 8191, dtype=np.uint64).astype(np.uint32)
    thresholds = [0x3EB17218, 0x3F851591, 0x42B17217, 0x42CFF1B5, 0x31800000, 0x4195B843,
                  0x33000000, 0x41AFFFFF, 0x3F800000, 0x24000000, 0x00800000, 0x7F7FFFFF,
                  0x3F3504F3, 0x3F35C288, 0x3F30A3D0, 0x3FB504F3]
    near = np.concatenate([np.arange(t - 600, t + 600) for t in thresholds]).astype(np.uint32)
    near = np.concatenate([near, near | np.uint32(0x80000000)])
    ln2_multiples = (np.arange(-30, 130) * np.float32(0.6931472)).astype(np.float32)
    softmax = -np.abs(np.random.default_rng(0).standard_normal(50_000) * 8)
    return np.concatenate([spread.view(np.float32), near.view(np.float32), ln2_multiples,
                           softmax.astype(np.float32)])


@pytest.mark.parametrize("cpu", ["cortex-m4", "cortex-m7"])
def test_newlib_emulation_equals_newlib_on_the_emulated_core(newlib_on_board, cpu):
    x = probe_inputs()
    assert x.size > 500_000
    on_board = newlib_on_board(x, cpu)
    for name, function in NEWLIB.items():
        differ = np.flatnonzero(bits(function(x)) != bits(on_board[name]))
        assert differ.size == 0, (f"{name}: {differ.size} of {x.size} differ, first at "
                                  f"x = {x[differ[0]]!r}")


# -- whole models on the emulated boards -------------------------------------------------------


def seeded_inputs(shape, n=24, seed=0):
    """n float32 inputs, normal with a spread growing from 1 to 4."""
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(shape) * (1 + i % 4)).astype(np.float32) for i in range(n)]


def outputs(interpreter, x):
    interpreter.set_input(x, 0)
    interpreter.invoke()
    count = len(interpreter.micro.subgraph.outputs)
    return [interpreter.get_output(i) for i in range(count)]


@pytest.mark.parametrize("board,target", BOARDS)
@pytest.mark.parametrize("name", ["hello_world_float", "magic_wand"])
def test_float_model_equals_the_board_byte_for_byte(firmware, name, board, target):
    compiled, data = firmware(name, board)
    ours, host = Interpreter.from_bytes(data, target=target), Interpreter.from_bytes(data)
    shape = tuple(ours.get_input_details(0)["shape"])
    host_differs = 0
    with on_board((compiled, data)) as device:
        for k, x in enumerate(seeded_inputs(shape)):
            y, _ = device.invoke(x)
            assert y.tobytes() == outputs(ours, x)[0].tobytes(), f"input {k}"
            host_differs += y.tobytes() != outputs(host, x)[0].tobytes()
    # magic_wand's SOFTMAX calls expf: there the host's answers are not the board's.
    assert host_differs > 0 if name == "magic_wand" else host_differs == 0


LIBM_OPS = [(Op.SOFTMAX, o.SoftmaxOptions(beta=1.0)), (Op.LOGISTIC, None), (Op.TANH, None),
            (Op.EXP, o.ExpOptions()), (Op.LOG, None), (Op.ELU, None),
            (Op.LOG_SOFTMAX, o.LogSoftmaxOptions())]


def libm_ops_model(shape=(4, 300)) -> bytes:
    """One float input, and every float op whose C++ calls the C library applied to it,
    each op's result a model output."""
    b = ModelBuilder()
    x = b.add_input(shape, np.float32)
    for op, options in LIBM_OPS:
        out = b.add_tensor(shape, np.float32, Op(op).name.lower())
        b.add_operator(op, [x], [out], options)
        b.mark_output(out)
    return write_model(b.build())


def test_every_libm_op_equals_the_board(firmware):
    """SOFTMAX, LOGISTIC, TANH, EXP, LOG, ELU, LOG_SOFTMAX on 3 x 1,200 values from -300 to
    300 (LOG of a negative: Arm's NaN, 0x7FC00000): every output byte equal to the M4's."""
    compiled, data = firmware(libm_ops_model())
    ours, host = Interpreter.from_bytes(data, target="cortex-m4f"), Interpreter.from_bytes(data)
    rng = np.random.default_rng(3)
    scales = np.array([1, 4, 20, 100], np.float32)[:, None]
    host_differs = np.zeros(len(LIBM_OPS), int)
    with on_board((compiled, data)) as device:
        for _ in range(3):
            x = (rng.standard_normal((4, 300)) * scales).astype(np.float32)
            on_device = device.invoke(x)[0]
            for i, (y, mine, theirs) in enumerate(zip(on_device, outputs(ours, x),
                                                      outputs(host, x))):
                assert y.tobytes() == mine.tobytes(), Op(LIBM_OPS[i][0]).name
                host_differs[i] += int((bits(y) != bits(theirs)).sum())
    # The host's glibc gives other floats for SOFTMAX, LOGISTIC, TANH, EXP and LOG here
    # (ELU's expm1f and LOG_SOFTMAX happen to agree on these inputs).
    assert np.all(host_differs[:5] > 0), host_differs


# -- the target option ------------------------------------------------------------------------


def magic_wand():
    from conftest import reference_model
    return reference_model("magic_wand.tflite").read_bytes()


def test_a_board_target_has_the_cortex_m_arena_and_the_boards_libm():
    data = magic_wand()
    board = MicroInterpreter(data, AllOpsResolver(), target="cortex-m4f")
    layout_only = MicroInterpreter(data, AllOpsResolver(), target="cortex-m")
    for interpreter in (board, layout_only):
        interpreter.allocate_tensors()
    assert board.target.name == layout_only.target.name == "cortex-m"
    assert board.arena_used_bytes() == layout_only.arena_used_bytes()
    assert board.float_target.name == "cortex-m4f" and board.float_target.libm is libm.NEWLIB
    assert layout_only.float_target is libm.HOST and layout_only.float_target.libm is libm.GLIBC
    assert "target cortex-m4f" in repr(board) and "target" not in repr(layout_only)
    m7 = Interpreter.from_bytes(data, target="cortex-m7").micro
    assert m7.float_target.libm is libm.NEWLIB and m7.target.name == "cortex-m"


def test_the_default_target_is_the_host():
    data = magic_wand()
    default = Interpreter.from_bytes(data)
    assert default.micro.float_target is libm.HOST and default.micro.target.name == "host"
    x = seeded_inputs((1, 128, 3, 1), n=1, seed=5)[0]
    # "cortex-m" is an arena layout only: the float answers stay the host's.
    layout_only = Interpreter.from_bytes(data, target="cortex-m")
    assert outputs(default, x)[0].tobytes() == outputs(layout_only, x)[0].tobytes()


def test_an_unknown_target_names_the_boards():
    with pytest.raises(ValueError, match="cortex-m4f.*cortex-m7|cortex-m7.*cortex-m4f"):
        Interpreter.from_bytes(magic_wand(), target="cortex-m3")
