"""Section 7.6 of SPEC.md (model id 12: the two NLMS filters of a near-lossless plane), step
by step in plain Python for ``reference_decoder.py``, from the text alone."""

from __future__ import annotations

OFFSETS = ((0, -1), (0, -2), (1, -1), (1, 1), (2, 0), (1, 2))  # (dy, dx), step 1


def _step(c: list[int], v: list[int], e: int, d: int, m: int, s: int) -> None:
    """Step 3: the NLMS step U(c, v, n, e, d, m, s)."""
    g = (e * 2**12) // d
    for j in range(len(c)):
        c[j] = min(max(c[j] + ((m * g * v[j] + 2**(s - 1)) >> s), -2**20), 2**20)


class Filters:
    """The weights of one plane (all 0 at its start) and the pixel in progress."""

    def __init__(self) -> None:
        self.a, self.b = [0] * 8, [[0] * 10 for _ in range(4)]

    def first(self, img: list[list[int]], y: int, x: int, w: int, N: int, rW: int, rN: int,
              maxval: int) -> int:
        """Step 1: ``L`` from the reconstructed neighbours and the residuals of W and N."""
        self.N = N
        self.z = [img[y - dy][x + dx] - N if y - dy >= 0 and 0 <= x + dx < w else 0
                  for dy, dx in OFFSETS] + [rW, rN]
        self.S1 = sum(a * z for a, z in zip(self.a, self.z))
        self.n1 = 1 + sum(z * z for z in self.z)
        return min(max(N + ((self.S1 + 2**15) >> 16), 0), maxval)

    def second(self, P: list[int], pb: int, L: int, rW: int, rN: int, rNW: int, rNE: int,
               q: int) -> int:
        """Step 2: the blend ``pb`` corrected with the weight set of activity ``q``."""
        self.pb = pb
        self.s = 0 if q < 4 else min((q - 2) >> 1, 3)
        self.u = [P[i] - pb for i in range(5)] + [L - pb, rW, rN, rNW, rNE]
        self.S2 = sum(b * u for b, u in zip(self.b[self.s], self.u))
        self.n2 = 1 + sum(u * u for u in self.u)
        return pb + ((self.S2 + 2**15) >> 16)

    def update(self, v: int, x: int) -> None:
        """Step 3, once the reconstruction ``v`` is known."""
        _step(self.a, self.z, (v - self.N) * 2**16 - self.S1, self.n1, 3, 17)
        if x % 2 == 0:
            _step(self.b[self.s], self.u, (v - self.pb) * 2**16 - self.S2, self.n2, 1, 20)
