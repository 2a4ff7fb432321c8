"""Probe: samples predicted near the plane's minimum (count data, clipped noise) under tables
of their exact prediction.  Estimated bits of the default's kind-5 tokens (model 16's real
tables: fitted, built in where cheaper; the extra bits included) when the pixels whose
prediction ``p`` (plane units, minimum 0) is at most ``T`` leave their activity classes for
classes of ``min(p, T)`` alone (``T + 1`` of them, each its own table section row; given
``p`` the folded residual and the value are one bijection, so this is the value's
distribution at each small prediction), against model 16's 24 classes.  One image a source
of the train split (the middle one) or a file of paths.

    PYTHONPATH=. PROXY=p|max4|max2|wn python research/lossless_lowp_probe.py CORPUS/train [T ...]

PROXY: which pixels are low and what their class is: ``p`` the exact prediction (its folded
residual's token kept), ``max4`` the largest of W, N, NW, NE, ``max2`` of W and N, ``wn``
their rounded mean (these three known before the prediction: the low pixels code their
value's own token).
"""
import sys
import numpy as np
sys.path.insert(0, str(__import__('pathlib').Path(__file__).parent))
from _bands_feat_kernel import feats  # noqa: E402
from lossless_bands_probe_lib import section_bits, pick  # noqa: E402
from mic.io import read_image  # noqa: E402
from mic.lossless import kernels_fast as KF  # noqa: E402
from mic.lossless.syntax import model16_priors  # noqa: E402

R, CL, TOK, NB = KF.encode_constants()
a0, b0, BI = model16_priors()


def cost(x, Ts, proxy):
    """{0: model 16's bits, T: the bits with the low pixels apart} of plane ``x``."""
    n = x.size
    maxval = int(x.max())
    tokens = np.empty(n, np.uint8)
    classes = np.empty(n, np.uint8)
    P = np.empty(n, np.int64)
    K = np.empty(n, np.int64)
    A = np.empty(n, np.int64)
    feats(x, maxval, CL, TOK, a0.copy(), b0.copy(), tokens, classes, P, K, A)
    tok = tokens.astype(np.int64)
    cl = classes.astype(np.int64)
    X = x.astype(np.int64)
    px = np.pad(X, ((1, 0), (1, 1)), mode='edge')
    Wv = px[1:, :-2].ravel()
    Nv = px[:-1, 1:-1].ravel()
    NWv = px[:-1, :-2].ravel()
    NEv = px[:-1, 2:].ravel()
    if proxy == 'p':  # the exact prediction; the folded residual's token as it is
        L, vtok = P, tok
    else:  # a neighbourhood known before the prediction; the value's own token
        L = {'max4': np.maximum(np.maximum(Wv, Nv), np.maximum(NWv, NEv)),
             'max2': np.maximum(Wv, Nv), 'wn': (Wv + Nv + 1) >> 1}[proxy]
        vtok = TOK[np.minimum(X.ravel(), (1 << 17) - 1)].astype(np.int64)
    hist = np.zeros((24, 68), np.int64)
    np.add.at(hist, (cl, tok), 1)
    out = {0: section_bits(hist) + float(NB[tok].sum())}
    for T in Ts:
        low = L <= T
        hist = np.zeros((24, 68), np.int64)
        np.add.at(hist, (cl[~low], tok[~low]), 1)
        bits = section_bits(hist) + float(NB[tok[~low]].sum()) + float(NB[vtok[low]].sum())
        pc = np.minimum(L[low], T)
        vt = vtok[low]
        for s in range(0, T + 1, 24):
            hl = np.zeros((24, 68), np.int64)
            m = (pc >= s) & (pc < s + 24)
            np.add.at(hl, (pc[m] - s, vt[m]), 1)
            if hl.sum():
                bits += section_bits(hl)
        out[T] = bits
    return out


def main():
    arg = sys.argv[1]
    Ts = [int(t) for t in sys.argv[2:]] or [3, 7, 15, 23]
    files = pick(arg) if __import__("os").path.isdir(arg) else [ln.strip() for ln in open(arg)]
    tot = {}
    for f in files:
        a = read_image(f)[0]
        if a.ndim == 3:
            a = a[..., 1]
        x = np.ascontiguousarray((a.astype(np.int64) - int(a.min())).astype(np.int32))
        if x.max() < 3:
            continue
        o = cost(x, Ts, __import__('os').environ.get('PROXY', 'p'))
        for k, v in o.items():
            tot[k] = tot.get(k, 0) + v
        print(f.split('/')[-1][:30].ljust(31), '%.3f bpp' % (o[0] / x.size),
              ' '.join('T%d %.4f' % (k, v / o[0]) for k, v in o.items() if k), flush=True)
    print('TOTAL', ' '.join('T%d %.4f' % (k, v / tot[0]) for k, v in tot.items() if k))


if __name__ == "__main__":
    main()
