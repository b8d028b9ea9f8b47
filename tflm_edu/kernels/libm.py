"""The C library's float functions, as TFLM's kernels call them - on the host, or on a Cortex-M.

TFLM's float LOGISTIC, TANH, SOFTMAX, EXP, LOG, ELU, LOG_SOFTMAX (and the int16 lookup
tables built at prepare) call std::exp / std::tanh / std::log / std::expm1 on float, which
are the C library's expf / tanhf / logf / expm1f - none correctly rounded, and each C
library rounds differently:

  the host      glibc's libm (the tflite-micro package links the system's libm.so.6):
                float64 math rounded once, asked through ctypes where that is not enough
                (GLIBC below);
  a Cortex-M    newlib 3.3.0 as Debian's libnewlib-arm-none-eabi builds it for
                thumb/v7e-m+fp/hard (the library every Cortex-M4F and M7 firmware of
                `tflm-edu deploy` links): the old single-precision fdlibm code
                (ef_exp.c, ef_log.c, sf_expm1.c, sf_tanh.c), compiled by GCC with its float
                multiply-adds fused into vfma instructions. NEWLIB below re-computes it in
                numpy, operation by operation, in the order of the machine code.

About one expf in ten differs by one ulp between the two (on differences x - max as a
softmax sees them), which is why a float model's outputs move by an ulp or two on a
board. An interpreter picks its C library through its target
(MicroInterpreter(..., target="cortex-m4f")); FLOAT_TARGETS lists the targets and
libm_of(context) is how a kernel finds its interpreter's.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

F32, F64 = np.float32, np.float64

# ============================================================================ the host: glibc

# Up to this many elements, calling the C library once per element is quicker than the
# float64 route and its midpoint check.
FEW = 32


def expf(x):
    """std::exp on float32 values, as libm's expf computes it.

    expf is not correctly rounded: about 1 result in 1500 differs in the last bit from
    exp computed in float64 and rounded to float32 - always where the exact value lies
    within a hair (0.002 ulp) of the midpoint between two floats. So: compute in float64,
    round once, and ask the C library itself for just those too-close-to-call elements."""
    x = np.asarray(x, np.float32)
    libm_expf = libm_function("expf")
    if libm_expf is not None and x.size <= FEW:   # a handful: ask the C library for each
        return np.array([libm_expf(v) for v in x.reshape(-1).tolist()],
                        np.float32).reshape(x.shape)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        wide = np.exp(x.astype(np.float64))
        result = wide.astype(np.float32)
    if libm_expf is not None:
        flat_x, flat_result = x.reshape(-1), result.reshape(-1)
        for i in np.flatnonzero(near_float32_midpoint(wide, result)):
            flat_result[i] = libm_expf(float(flat_x[i]))
    return result


def near_float32_midpoint(wide, rounded, tolerance=0.01):
    """True where the float64 value `wide` is within `tolerance` float32 ulps of a
    midpoint between `rounded` (its float32 rounding) and a neighbour."""
    with np.errstate(over="ignore", invalid="ignore"):
        up = np.nextafter(rounded, np.float32(np.inf)).astype(np.float64)
        down = np.nextafter(rounded, np.float32(-np.inf)).astype(np.float64)
        r = rounded.astype(np.float64)
        ulp = np.minimum(up - r, r - down)
        distance = np.minimum(np.abs(wide - (r + up) / 2), np.abs(wide - (r + down) / 2))
        return np.isfinite(wide) & (distance < tolerance * ulp)


_LIBM = {}


def libm_function(name):
    """The C library's float function `name` (float -> float) through ctypes, or None
    where no C math library can be loaded (then the numpy result stands)."""
    if name not in _LIBM:
        _LIBM[name] = None
        try:
            import ctypes
            import ctypes.util
            library = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
            function = getattr(library, name)
            function.restype, function.argtypes = ctypes.c_float, [ctypes.c_float]
            _LIBM[name] = function
        except (OSError, AttributeError):
            pass
    return _LIBM[name]


def logf(x):
    """std::log on float32 values, as the host's C library answers: glibc's logf, asked
    element by element. Its result is float64 arithmetic rounded once with up to 0.82 ulp
    of error, so about half of all results lie where a correctly rounded log could differ -
    too many to single out, as libm.expf does. Without a loadable C library: float64 log
    rounded once (correct except for a few last bits)."""
    x = np.asarray(x, np.float32)
    libm_logf = libm_function("logf")
    if libm_logf is None:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(x.astype(np.float64)).astype(np.float32)
    flat = x.reshape(-1).tolist()
    return np.fromiter(map(libm_logf, flat), np.float32, len(flat)).reshape(x.shape)


def libm_each(name, fallback, x):
    """The host C library's float function `name` on every element of float32 `x`, as
    logf does for logf; `fallback` (a numpy float64 function, rounded once) where no C
    library can be loaded."""
    x = np.asarray(x, np.float32)
    function = libm_function(name)
    if function is None:
        with np.errstate(invalid="ignore", over="ignore"):
            return fallback(x.astype(np.float64)).astype(np.float32)
    flat = x.reshape(-1).tolist()
    return np.fromiter(map(function, flat), np.float32, len(flat)).reshape(x.shape)


def tanhf(x):
    """std::tanh on float32 values: glibc's tanhf (up to 2 ulps from the exact value),
    element by element."""
    return libm_each("tanhf", np.tanh, x)


def expm1f(x):
    """std::expm1 on float32 values: glibc's expm1f, element by element."""
    return libm_each("expm1f", np.expm1, x)


# ========================================================================= a Cortex-M: newlib
#
# Read off the machine code of libm.a (arm-none-eabi-objdump -d on lib_a-ef_exp.o,
# lib_a-ef_log.o, lib_a-sf_expm1.o, lib_a-sf_tanh.o in
# /usr/lib/arm-none-eabi/lib/thumb/v7e-m+fp/hard/libm.a); the firmware's __fdlib_version
# is _IEEE_, so the expf / logf wrappers return the __ieee754_ functions' results as they
# are. Each function computes every branch for every element and then picks, per element,
# the branch its input takes. A constant is named by its bits, as the machine code holds it.


def bits_f32(bits: int) -> np.float32:
    return np.array(bits, np.uint32).view(np.float32)[()]


ARM_DEFAULT_NAN = bits_f32(0x7FC00000)  # what an invalid operation gives on Arm (x86: 0xFFC00000)
LN2_HI, LN2_LO = bits_f32(0x3F317180), bits_f32(0x3717F7D1)  # ln 2 = LN2_HI + LN2_LO
INV_LN2 = bits_f32(0x3FB8AA3B)                                # 1 / ln 2
HUGE = bits_f32(0x7149F2CA)                                   # 1e30: HUGE * HUGE is inf
TWO_M100 = bits_f32(0x0D800000)                               # 2^-100
# expf's polynomial in r^2 (r = the reduced argument), P1 first.
EXP_P = [bits_f32(b) for b in (0x3E2AAAAB, 0xBB360B61, 0x388AB355, 0xB5DDEA0E, 0x3331BB4C)]
# expm1f's, Q1 first.
EXPM1_Q = [bits_f32(b) for b in (0xBD088889, 0x3AD00D01, 0xB8A670CD, 0x36867E54, 0xB457EDBB)]
# logf's, Lg1 first.
LOG_LG = [bits_f32(b) for b in (0x3F2AAAAB, 0x3ECCCCCD, 0x3E924925, 0x3E638E29, 0x3E3A3325,
                                0x3E1CD04F, 0x3E178897)]


def fmaf(a, b, c):
    """fmaf(a, b, c): a * b + c rounded once to float32, as a vfma instruction computes it.

    The product of two float32 is exact in float64; the float64 sum is not always, and
    rounding it again to float32 could round twice the wrong way at a float32 midpoint.
    So the sum is rounded to odd instead (where the float64 addition was inexact, its
    last bit is forced to 1 towards the exact value, which TwoSum gives): a float64
    rounded to odd rounds to float32 exactly as the exact value would."""
    a, b, c = (np.asarray(v, F32) for v in (a, b, c))
    product = a.astype(F64) * b
    total = product + c
    back = total - product                               # TwoSum: total + error is exact
    error = (product - (total - back)) + (c - back)
    to_odd = (error != 0) & np.isfinite(error) & ((total.view(np.int64) & 1) == 0)
    if np.any(to_odd):
        toward = np.where(error > 0, np.inf, -np.inf)
        total = np.where(to_odd, np.nextafter(total, toward), total)
    return total.astype(F32)


def _float32_flat(x):
    x = np.asarray(x, F32)
    return x.reshape(-1), x.shape


def _reduce_by_ln2(x, negative, k_far, near):
    """x = k ln2 + hi - lo: k = +-1 near ln2 (|x| <= 1.5 ln2), else k_far rounded from
    x / ln2; hi - lo is the reduced argument in two pieces (hi exact)."""
    t = k_far.astype(F32)
    hi = np.where(near, np.where(negative, x + LN2_HI, x - LN2_HI), fmaf(-t, LN2_HI, x))
    lo = np.where(near, np.where(negative, -LN2_LO, LN2_LO), t * LN2_LO)
    k = np.where(near, np.where(negative, -1, 1), k_far).astype(np.int32)
    return k, hi, lo


def _times_two_to_the(y, k):
    """y * 2^k by adding k to the exponent bits (y near 1, so no overflow)."""
    return (y.view(np.int32) + (k << 23)).view(F32)


def newlib_expf(x):
    """newlib's expf (ef_exp.c) on float32 values: exp(x) = 2^k exp(r), r in
    [-ln2/2, ln2/2]; exp(r) = 1 + r + r c / (2 - c) with c = r - r^2 P(r^2), the
    polynomial in fused multiply-adds."""
    x, shape = _float32_flat(x)
    with np.errstate(all="ignore"):
        hx = x.view(np.int32)
        ix = hx & 0x7FFFFFFF
        negative = hx < 0
        half = np.where(negative, F32(-0.5), F32(0.5))
        k_far = np.trunc(fmaf(x, INV_LN2, half)).astype(np.int32)   # vcvt: towards zero
        k, hi, lo = _reduce_by_ln2(x, negative, k_far, ix <= 0x3F851591)
        small = ix <= 0x3EB17218                                     # |x| <= ln2 / 2: k = 0
        r = np.where(small, x, hi - lo)
        t = r * r
        p = fmaf(fmaf(fmaf(fmaf(t, EXP_P[4], EXP_P[3]), t, EXP_P[2]), t, EXP_P[1]), t, EXP_P[0])
        c = fmaf(-p, t, r)
        y_small = F32(1) - ((r * c) / (c - F32(2)) - r)
        y = F32(1) - ((lo - (r * c) / (F32(2) - c)) - hi)
        # 2^k y, through 2^(k + 100) y * 2^-100 where the result is subnormal.
        scaled = np.where(k < -125, _times_two_to_the(y, k + 100) * TWO_M100,
                          _times_two_to_the(y, k))
        result = np.where(small, y_small, scaled)
        result = np.where(ix < 0x31800000, F32(1) + x, result)        # |x| < 2^-28
        result = np.where(negative & (ix > 0x42CFF1B5), F32(0), result)   # underflow
        result = np.where(~negative & (hx > 0x42B17217), HUGE * HUGE, result)  # overflow
        result = np.where(ix == 0x7F800000, np.where(negative, F32(0), x), result)
        result = np.where(ix > 0x7F800000, x + x, result)             # NaN
    return result.reshape(shape)


def newlib_expm1f(x):
    """newlib's expm1f (sf_expm1.c) on float32 values: x = k ln2 + r, expm1(r) from a
    rational approximation with a correction term c for the rounding of r, then scaled
    by 2^k in one of five ways depending on k."""
    x, shape = _float32_flat(x)
    with np.errstate(all="ignore"):
        hx = x.view(np.int32)
        ix = hx & 0x7FFFFFFF
        negative = hx < 0
        half = np.where(negative, F32(-0.5), F32(0.5))
        k_far = np.trunc(half + x * INV_LN2).astype(np.int32)   # not fused here
        k, hi, lo = _reduce_by_ln2(x, negative, k_far, ix <= 0x3F851591)
        reduced = ix > 0x3EB17218                                # |x| > ln2 / 2
        k = np.where(reduced, k, 0)
        r = np.where(reduced, hi - lo, x)
        c = (hi - r) - lo
        hfx = r * F32(0.5)
        hxs = r * hfx
        q = EXPM1_Q
        r1 = fmaf(fmaf(fmaf(fmaf(fmaf(hxs, q[4], q[3]), hxs, q[2]), hxs, q[1]), hxs, q[0]),
                  hxs, F32(1))
        t = fmaf(-hfx, r1, F32(3))
        e = ((r1 - t) / fmaf(-r, t, F32(6))) * hxs
        result_k0 = r - fmaf(r, e, -hxs)
        e = fmaf(e - c, r, -c) - hxs
        result_m1 = fmaf(r - e, F32(0.5), F32(-0.5))
        result_p1 = np.where(r < F32(-0.25), (e - (r + F32(0.5))) * F32(-2),
                             fmaf(r - e, F32(2), F32(1)))
        far = _times_two_to_the(F32(1) - (e - r), k) - F32(1)                 # k < -1, k > 56
        two_to_minus_k = ((0x7F - k) << 23).view(F32)
        big = _times_two_to_the((r - (e + two_to_minus_k)) + F32(1), k)       # 22 < k <= 56
        one_minus = (0x3F800000 - (0x1000000 >> np.clip(k, 0, 31))).view(F32)  # 1 - 2^-k
        middle = _times_two_to_the(one_minus - (e - r), k)                    # 2 <= k <= 22
        result = np.where((k < -1) | (k > 56), far, np.where(k > 22, big, middle))
        result = np.where(k == 1, result_p1, result)
        result = np.where(k == -1, result_m1, result)
        result = np.where(k == 0, result_k0, result)
        result = np.where(ix < 0x33000000, x, result)                         # |x| < 2^-25
        beyond = ix > 0x4195B843                                              # |x| > 27 ln2
        result = np.where(beyond & negative, F32(-1), result)
        result = np.where(beyond & ~negative & (ix > 0x42B17217), F32(np.inf), result)
        result = np.where(ix == 0x7F800000, np.where(negative, F32(-1), x), result)
        result = np.where(ix > 0x7F800000, x + x, result)
    return result.reshape(shape)


def newlib_tanhf(x):
    """newlib's tanhf (sf_tanh.c) on float32 values: from expm1f of -2|x| below 1, of
    2|x| up to 22, and +-1 beyond."""
    x, shape = _float32_flat(x)
    with np.errstate(all="ignore"):
        ix = x.view(np.int32) & 0x7FFFFFFF
        negative = x.view(np.int32) < 0
        a = np.abs(x)
        t = newlib_expm1f(a * F32(-2))
        z_small = -t / (t + F32(2))
        t = newlib_expm1f(a + a)
        z_large = F32(1) - F32(2) / (t + F32(2))
        z = np.where(ix < 0x3F800000, z_small, z_large)
        z = np.where(ix > 0x41AFFFFF, F32(1), z)                # |x| >= 22
        z = np.where(negative, -z, z)
        z = np.where(ix < 0x24000000, (x + F32(1)) * x, z)       # |x| < 2^-55
        infinite_or_nan = np.where(negative, F32(1) / x - F32(1), F32(1) / x + F32(1))
        z = np.where(ix >= 0x7F800000, infinite_or_nan, z)
    return z.reshape(shape)


def newlib_logf(x):
    """newlib's logf (ef_log.c) on float32 values: x = 2^k (1 + f), f in
    [sqrt(2)/2 - 1, sqrt(2) - 1]; log(1 + f) = f - hfsq + s (hfsq + R), s = f / (2 + f),
    R a polynomial in s^2 (fused multiply-adds); a short series where |f| < 2^-20."""
    x, shape = _float32_flat(x)
    with np.errstate(all="ignore"):
        bits = x.view(np.int32)
        subnormal = bits < 0x800000
        ix = np.where(subnormal, (x * F32(2.0 ** 25)).view(np.int32), bits)
        hx = ix & 0x7FFFFF
        i = (hx + 0x4AFB20) & 0x800000                  # the mantissa above sqrt(2)?
        f = (hx | (i ^ 0x3F800000)).view(F32) - F32(1)  # 1 + f in [sqrt(2)/2, sqrt(2))
        k = (np.where(subnormal, -25, 0) + (ix >> 23) - 127 + (i >> 23)).astype(np.int32)
        dk = k.astype(F32)
        # |f| < 2^-20: log(1 + f) = f - f^2 (1/2 - f/3)
        r = (f * f) * fmaf(-f, bits_f32(0x3EAAAAAB), F32(0.5))
        tiny = np.where(k == 0, f - r, fmaf(dk, LN2_HI, -(fmaf(-dk, LN2_LO, r) - f)))
        exact = np.where(k == 0, F32(0), fmaf(dk, LN2_HI, dk * LN2_LO))  # f == 0
        tiny = np.where(f == 0, exact, tiny)
        # the general case
        s = f / (F32(2) + f)
        z = s * s
        w = z * z
        lg = LOG_LG
        t1 = fmaf(fmaf(w, lg[5], lg[3]), w, lg[1])
        t2 = fmaf(fmaf(fmaf(w, lg[6], lg[4]), w, lg[2]), w, lg[0]) * z
        r = fmaf(t1, w, t2)
        hfsq = (f * F32(0.5)) * f
        wide = np.where(k == 0, f - fmaf(-(r + hfsq), s, hfsq),
                        fmaf(dk, LN2_HI, -((hfsq - fmaf(r + hfsq, s, dk * LN2_LO)) - f)))
        narrow = np.where(k == 0, fmaf(-(f - r), s, f),
                          fmaf(dk, LN2_HI, -(fmaf(f - r, s, -(LN2_LO * dk)) - f)))
        far_from_one = ((hx - 0x30A3D0) | (0x35C288 - hx)) > 0
        result = np.where(far_from_one, wide, narrow)
        result = np.where(((hx + 15) & 0x7FFFF0) == 0, tiny, result)
        result = np.where(bits >= 0x7F800000, x + x, result)              # +inf, NaN
        invalid = np.where(np.isnan(x), x + x, ARM_DEFAULT_NAN)          # x < 0
        result = np.where(bits < 0, invalid, result)
        result = np.where((bits & 0x7FFFFFFF) == 0, F32(-np.inf), result)  # +-0
    return result.reshape(shape)


# ============================================================================ targets


@dataclass(frozen=True)
class Libm:
    """One C library's float functions, each on float32 arrays (any shape) to float32."""
    name: str
    description: str
    expf: object
    expm1f: object
    logf: object
    tanhf: object

    def __repr__(self):
        return f"Libm({self.name}: {self.description})"


GLIBC = Libm("glibc", "the host's C library (libm.so.6), asked through ctypes where needed",
             expf, expm1f, logf, tanhf)
NEWLIB = Libm("newlib", "newlib 3.3.0's libm for thumb/v7e-m+fp/hard (Debian's "
              "libnewlib-arm-none-eabi), emulated operation by operation",
              newlib_expf, newlib_expm1f, newlib_logf, newlib_tanhf)


@dataclass(frozen=True)
class FloatTarget:
    """A build of TFLM whose float answers an interpreter reproduces: the C library its
    kernels call, and the memory.layout target of its arena (the struct sizes)."""
    name: str
    description: str
    libm: Libm
    layout: str


HOST = FloatTarget("host", "x86-64 Linux, as the tflite-micro Python package runs", GLIBC,
                   "host")
FLOAT_TARGETS = {t.name: t for t in (
    FloatTarget("cortex-m4f", "Arm Cortex-M4F as `tflm-edu deploy --board qemu-cortex-m4` "
                "builds TFLM: arm-none-eabi-gcc 12.2 -mfpu=fpv4-sp-d16 -mfloat-abi=hard "
                "-ffp-contract=off, newlib 3.3.0", NEWLIB, "cortex-m"),
    FloatTarget("cortex-m7", "Arm Cortex-M7 as `tflm-edu deploy --board qemu-cortex-m7` "
                "builds TFLM: arm-none-eabi-gcc 12.2 -mfpu=fpv5-sp-d16 -mfloat-abi=hard "
                "-ffp-contract=off, newlib 3.3.0 (the same libm as the M4F)", NEWLIB,
                "cortex-m"))}


def float_target(target) -> FloatTarget:
    """The FloatTarget of an interpreter target: "cortex-m4f" and "cortex-m7" are boards
    (their arena layout and their C library); any other name ("host", "cortex-m", ...)
    names an arena layout only, and the float arithmetic stays the host's."""
    if isinstance(target, FloatTarget):
        return target
    return FLOAT_TARGETS.get(str(getattr(target, "name", target)).lower(), HOST)


def libm_of(context) -> Libm:
    """The C library of the interpreter running a kernel (context.graph is the
    MicroInterpreter): glibc unless the interpreter's target is a board."""
    target = getattr(getattr(context, "graph", None), "float_target", HOST)
    return target.libm
