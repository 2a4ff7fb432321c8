"""The fast NLMS filters' inner products and steps (SPEC.md 5.8 steps 3 and 5) as explicit
int64 vector code: Numba intrinsics that write LLVM vector instructions.

Numba leaves LLVM's SLP vectoriser off (it miscompiled other code, numba/numba#8852), so
the filters' twelve- and eight-tap loops ran as scalar code: about 60 scalar 64-bit
multiplies a sample, and the weights' update the largest part of a kind-5 plane's time.
These intrinsics build the same arithmetic from ``<8 x i64>`` and ``<4 x i64>`` vectors
(integer multiply, add, arithmetic shift, signed min/max, ``llvm.vector.reduce.add``); LLVM
lowers them to whatever the machine has (AVX-512, AVX2 or SSE, emulating what a set lacks),
and integer arithmetic gives the same values in any lane order on every machine: the same
weights, predictions and streams as the scalar loops (``tests/test_lossless_simd.py``
checks them against the scalar definition, and every fast conformance vector regenerates
byte for byte).

A sample's steps are made at the next sample's prediction, fused with its inner products
(:func:`step_dot12`, :func:`step_dot8`): the stepped weights feed the products from
registers instead of through memory, which shortens the chain from one sample's value to
the next prediction that both the encoder and the decoder wait on.

Arrays passed in must be C-contiguous int64 (checked when compiled) with at least the taps
the function reads or writes (12 or 8; a weight matrix ``(sets, 8)``, rows in range): the
kernels that call these own them (:func:`mic.lossless.kernels_fast_lms.lms_state`, and they
check the weights' shapes when they start).
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.errors import TypingError
from numba.extending import intrinsic

_I64 = ir.IntType(64)
_I32 = ir.IntType(32)


def _const(v: int) -> ir.Constant:
    return ir.Constant(_I64, v)


def _parts(n: int) -> tuple[tuple[int, int], ...]:
    """(offset, lanes) of the vectors that cover ``n`` taps."""
    return {12: ((0, 8), (8, 4)), 8: ((0, 8),)}[n]


def _check(name: str, arr: types.Type, ndim: int) -> types.Array:
    """The array type the intrinsic takes for ``arr``: an optional array (an argument that
    defaults to None and is then set, as older Numba types it) is taken as its array."""
    if isinstance(arr, types.Optional):
        arr = arr.type
    if not (isinstance(arr, types.Array) and arr.dtype == types.int64 and arr.ndim == ndim
            and arr.layout == "C"):
        raise TypingError(f"{name}: a C-contiguous {ndim}-d int64 array, got {arr}")
    return arr


def _row_ptr(context, builder, aty, val, row=None):
    """Pointer to element 0 of ``val`` (1-d) or of its row ``row`` (2-d, C-contiguous)."""
    arr = context.make_array(aty)(context, builder, val)
    p = arr.data
    if row is not None:
        ncol = cgutils.unpack_tuple(builder, arr.shape)[1]
        p = builder.gep(p, [builder.mul(row, ncol)])
    return p


def _vptr(builder, p, off: int, lanes: int):
    return builder.bitcast(builder.gep(p, [_const(off)]), ir.VectorType(_I64, lanes).as_pointer())


def _load(builder, p, off: int, lanes: int):
    q = _vptr(builder, p, off, lanes)
    try:  # llvmlite with opaque pointers takes the loaded type
        return builder.load(q, align=8, typ=ir.VectorType(_I64, lanes)), q
    except TypeError:  # older llvmlite (numba 0.60): typed pointers, no ``typ``
        return builder.load(q, align=8), q


def _splat(builder, x, lanes: int):
    vt = ir.VectorType(_I64, lanes)
    v = builder.insert_element(ir.Constant(vt, ir.Undefined), x, _const(0))
    return builder.shuffle_vector(v, ir.Constant(vt, ir.Undefined),
                                  ir.Constant(ir.VectorType(_I32, lanes), [0] * lanes))


def _vector(builder, vals):
    v = ir.Constant(ir.VectorType(_I64, len(vals)), ir.Undefined)
    for i, x in enumerate(vals):
        v = builder.insert_element(v, x, _const(i))
    return v


def _sum(builder, v, lanes: int):
    fn = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(_I64, [ir.VectorType(_I64, lanes)]),
        f"llvm.vector.reduce.add.v{lanes}i64")
    return builder.call(fn, [v])


def _fold(builder, parts):
    """One ``<8 x i64>`` of the lane sums of an ``<8 x i64>`` and, if given, a ``<4 x i64>``
    (added into lanes 0..3), so that one reduction sums them."""
    if len(parts) == 1:
        return parts[0]
    wide = builder.shuffle_vector(parts[1], ir.Constant(parts[1].type, None),
                                  ir.Constant(ir.VectorType(_I32, 8), [0, 1, 2, 3, 4, 5, 6, 7]))
    return builder.add(parts[0], wide)


def _step_vec(builder, wv, zv, g, sh, wmax, lanes: int):
    """``clamp(w + ((g z + 2^(sh-1)) >> sh), -wmax, wmax)`` lane by lane."""
    half = builder.shl(_const(1), builder.sub(sh, _const(1)))
    step = builder.ashr(builder.add(builder.mul(_splat(builder, g, lanes), zv),
                                    _splat(builder, half, lanes)), _splat(builder, sh, lanes))
    nv = builder.add(wv, step)
    hi = _splat(builder, wmax, lanes)
    lo = builder.neg(hi)
    nv = builder.select(builder.icmp_signed("<", nv, hi), nv, hi)
    return builder.select(builder.icmp_signed(">", nv, lo), nv, lo)


def _step_codegen(n: int, two_d: bool):
    def codegen(context, builder, sig, args):
        w, row, z, g, sh, wmax = args if two_d else (args[0], None, *args[1:])
        pw = _row_ptr(context, builder, sig.args[0], w, row)
        pz = _row_ptr(context, builder, sig.args[2 if two_d else 1], z)
        for off, lanes in _parts(n):
            wv, wq = _load(builder, pw, off, lanes)
            zv, _ = _load(builder, pz, off, lanes)
            builder.store(_step_vec(builder, wv, zv, g, sh, wmax, lanes), wq, align=8)
        return context.get_dummy_value()
    return codegen


def _taps(name: str, taps: types.Type, n: int) -> None:
    if not (isinstance(taps, types.BaseTuple) and len(taps) == n
            and all(t == types.int64 for t in taps)):
        raise TypingError(f"{name}: a tuple of {n} int64 taps, got {taps}")


@intrinsic
def step12(typingctx, w, z, g, sh, wmax):
    """``w[t] = clamp(w[t] + ((g z[t] + 2^(sh-1)) >> sh), -wmax, wmax)`` for t < 12 (SPEC
    5.8 step 5, model 12's NLMS step with ``mul`` 1)."""
    w, z = _check("step12", w, 1), _check("step12", z, 1)
    return (types.void(w, z, types.int64, types.int64, types.int64),
            _step_codegen(12, False))


@intrinsic
def step8(typingctx, w, row, z, g, sh, wmax):
    """:func:`step12` of row ``row`` of the ``(sets, 8)`` weights ``w`` with 8 taps."""
    w, z = _check("step8", w, 2), _check("step8", z, 1)
    return (types.void(w, types.int64, z, types.int64, types.int64, types.int64),
            _step_codegen(8, True))


def _step_dot_codegen(n: int, two_d: bool, nsub: int = 0):
    """Code of :func:`step_dot12` (``n`` 12) or :func:`step_dot8` (8, ``two_d``, ``nsub``
    4: the last argument ``off`` is subtracted from taps ``0..nsub-1``)."""
    def codegen(context, builder, sig, args):
        if two_d:
            w, row_old, row, z, g, sh, wmax, taps = args[:8]
            zi = 3
        else:
            w, z, g, sh, wmax, taps = args[:6]
            row_old = row = None
            zi = 1
        off = args[-1] if nsub else None
        vals = cgutils.unpack_tuple(builder, taps)
        pold = _row_ptr(context, builder, sig.args[0], w, row_old)
        pnew = _row_ptr(context, builder, sig.args[0], w, row)
        pz = _row_ptr(context, builder, sig.args[zi], z)
        dots, nrms, offs = [], [], []
        for o, lanes in _parts(n):
            wv, wq = _load(builder, pold, o, lanes)
            if two_d:
                other, _ = _load(builder, pnew, o, lanes)
            zold, zq = _load(builder, pz, o, lanes)
            nv = _step_vec(builder, wv, zold, g, sh, wmax, lanes)
            builder.store(nv, wq, align=8)
            if two_d:
                nv = builder.select(builder.icmp_signed("==", row_old, row), nv, other)
            cv = _vector(builder, vals[o:o + lanes])
            zv = cv
            if off is not None:  # the taps less ``off``, and the weights that multiply it
                mask = ir.Constant(ir.VectorType(_I64, lanes),
                                   [int(o + i < nsub) for i in range(lanes)])
                zv = builder.sub(cv, builder.mul(_splat(builder, off, lanes), mask))
                offs.append(builder.mul(nv, mask))
            builder.store(zv, zq, align=8)
            dots.append(builder.mul(nv, cv))
            nrms.append(builder.mul(zv, zv))
        dot = _sum(builder, _fold(builder, dots), 8)
        if off is not None:  # sum w (c - off) = sum w c - off sum w (exact in int64)
            dot = builder.sub(dot, builder.mul(off, _sum(builder, _fold(builder, offs), 8)))
        nrm = _sum(builder, _fold(builder, nrms), 8)
        return context.make_tuple(builder, sig.return_type, (dot, builder.add(nrm, _const(1))))
    return codegen


@intrinsic
def step_dot12(typingctx, w, z, g, sh, wmax, taps):
    """:func:`step12` with the taps in ``z`` (the sample before's; ``g`` = 0 changes
    nothing), then the stepped weights' inner product with the 12 new int64 ``taps``, which
    are stored into ``z``: returns ``(sum w[t] taps[t], 1 + sum taps[t]^2)`` (the first
    filter, SPEC 5.8 steps 3 and 5).  The stepped weights are stored and also used as they
    are, without a reload."""
    w, z = _check("step_dot12", w, 1), _check("step_dot12", z, 1)
    _taps("step_dot12", taps, 12)
    return (types.UniTuple(types.int64, 2)(w, z, types.int64, types.int64, types.int64, taps),
            _step_dot_codegen(12, False))


@intrinsic
def step_dot8(typingctx, w, row_old, row, z, g, sh, wmax, taps, off):
    """:func:`step8` of row ``row_old`` of the ``(sets, 8)`` weights ``w`` with the taps in
    ``z``, then :func:`step_dot12`'s inner products of row ``row`` (after that step) with the
    8 new taps: ``taps`` with ``off`` subtracted from the first four (the second filter's
    weight set; its first four taps are differences from ``p1``, SPEC 5.8 step 3).  The
    product is taken as ``sum w c - off (w0 + w1 + w2 + w3)`` (``c`` the taps as given, the
    same value in int64's ring arithmetic), so that ``off``, which the first filter's
    product gives just before, reaches the result through one multiply instead of through
    the vector product and its reduction."""
    w, z = _check("step_dot8", w, 2), _check("step_dot8", z, 1)
    _taps("step_dot8", taps, 8)
    return (types.UniTuple(types.int64, 2)(w, types.int64, types.int64, z, types.int64,
                                           types.int64, types.int64, taps, types.int64),
            _step_dot_codegen(8, True, 4))
