"""The probe that chose model id 18's band feature (SPEC 5.11): estimated bits of the default's
kind-5 tokens (model 16's real tables: fitted, built-in where cheaper) when the classes are
split into 1, 2, 4 or 8 bands of equal count by a proxy of the intensity, against one band.
PROXY=p: the prediction itself; n: the sample above (what model 18 uses); wn: (W + N) / 2;
p0: the filters' base prediction; pw: the previous sample's prediction.  One image a source
of the train split (or a file of paths, one a line).

    PYTHONPATH=. PROXY=n python research/lossless_bands_probe.py CORPUS/train
"""
import sys, numpy as np
sys.path.insert(0, str(__import__('pathlib').Path(__file__).parent))
from _bands_feat_kernel import feats
from lossless_bands_probe_lib import pick, section_bits
from mic.io import read_image
from mic.lossless import kernels_fast as KF
from mic.lossless.syntax import model16_priors
R, CL, TOK, NB = KF.encode_constants()
a0, b0, _ = model16_priors()

def quant_th(P, b):
    c = np.cumsum(np.bincount(P)); n = c[-1]
    th = [int(np.searchsorted(c, n * j / b, side='right')) for j in range(1, b)]
    th = sorted(set(t for t in th if 1 <= t <= P.max()))
    return th

def est(x):
    n = x.size; maxval = int(x.max())
    tokens = np.empty(n, np.uint8); classes = np.empty(n, np.uint8)
    P = np.empty(n, np.int64); K = np.empty(n, np.int64); A = np.empty(n, np.int64)
    feats(x, maxval, CL, TOK, a0.copy(), b0.copy(), tokens, classes, P, K, A)
    extra = float(NB[tokens.astype(np.int64)].sum())
    X = x.astype(np.int64); h, w = X.shape
    px = np.pad(X, ((1, 0), (1, 1)), mode='edge')
    Wv = px[1:, :-2].ravel(); Nv = px[:-1, 1:-1].ravel()
    import os
    mode = os.environ.get('PROXY', 'p')
    if mode == 'n': P = Nv.copy()
    elif mode == 'wn': P = (Wv + Nv) >> 1
    elif mode == 'pw':
        P = np.concatenate([[0], P[:-1]])
    elif mode == 'p0':
        NWv = px[:-1, :-2].ravel()
        med = np.clip(Wv + Nv - NWv, np.minimum(Wv, Nv), np.maximum(Wv, Nv))
        P = np.clip((2 * med + Wv + Nv + 2) >> 2, 0, maxval)
    out = {}
    for b in (1, 2, 4, 8):
        th = quant_th(P, b)
        band = np.searchsorted(np.array(th, np.int64), P, side='right')
        tot = 8.0 * (1 + len(th) * 2)
        for j in range(len(th) + 1):
            m = band == j
            hist = np.zeros((24, 68), np.int64)
            np.add.at(hist, (classes[m].astype(np.int64), tokens[m].astype(np.int64)), 1)
            tot += section_bits(hist)
        out[b] = tot + extra
    return out

arg = sys.argv[1]
files = pick(arg) if __import__("os").path.isdir(arg) else [l.strip() for l in open(arg)]
T = {}
for f in files:
    a = read_image(f)[0]
    if a.ndim == 3:
        a = a[..., 1]
    x = np.ascontiguousarray((a.astype(np.int64) - int(a.min())).astype(np.int32))
    o = est(x); o['best'] = min(o.values())
    for k, v in o.items(): T[k] = T.get(k, 0) + v
    print(f.split('/')[-1][:30].ljust(31), '%.3f' % (o[1] / x.size), ' '.join('B%s %.4f' % (k, v / o[1]) for k, v in o.items() if k != 1), flush=True)
print('TOTAL', ' '.join('B%s %.4f' % (k, v / T[1]) for k, v in T.items() if k != 1))
