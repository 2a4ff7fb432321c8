"""An identity the compiler cannot see through, to keep branch-free code branch-free.

LLVM turns ``(value & -flag)`` into a ``select`` on ``flag``, and its x86 back end converts a
``select`` on a loop's critical path into a conditional branch (its cmov converter assumes
the branch predicts well).  A rANS decoder's renormalisation is taken about once in four
symbols with no pattern, so that branch mispredicts often: in the fast plane's decoder
(:func:`mic.lossless.kernels_fast._fast_decode`) it cost about 10 % of an effort-1 decode.
Passing the mask through :func:`opaque`, an empty inline-assembly statement that returns
its operand in the same register, hides that it is 0 or -1: the code stays an ``and``, a
shift and an add, and the word is loaded every time (the callers pad their word arrays by
one).  It emits no instruction and changes no value.

>>> from numba import njit
>>> @njit
... def f(v):
...     return opaque(v) + 1
>>> f(41)
42
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

_I64 = ir.IntType(64)


@intrinsic
def opaque(typingctx, v):
    """``v`` (an int64), through a register the optimiser knows nothing about."""
    if not isinstance(v, types.Integer):
        return None
    sig = types.int64(v)

    def codegen(context, builder, signature, args):
        val = context.cast(builder, args[0], signature.args[0], types.int64)
        fnty = ir.FunctionType(_I64, [_I64])
        return builder.asm(fnty, "", "=r,0", [val], side_effect=False)

    return sig, codegen
