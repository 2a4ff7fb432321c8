"""Encode and decode time of the cnn with and without half-resolution tiles (SPEC 6.10 flag 32)
against OpenJPEG in the same run (issue #21): two train radiographs of at least 1024^2 at their
top 8 bits, qualities 0 and 4; OpenJPEG (imagecodecs, one thread) codes a JPEG 2000 stream of
at least each mic stream's PSNR; median of 5, interleaved.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 PYTHONPATH=. python research/conv_half_speed.py CORPUS/train

Train split only.
"""
import sys, time, statistics, glob, numpy as np, imagecodecs as ic
sys.path.insert(0, "research")
import mic
from mic.io import read_image
from train_sample import top8
def psnr(a, b): return 10*np.log10(255**2/np.mean((a.astype(float)-b)**2))
def j2k_at(img, target):
    lo, hi = 20.0, 70.0
    best = None
    for _ in range(14):
        lv = (lo+hi)/2
        b = ic.jpeg2k_encode(img, level=lv, reversible=False, numthreads=1)
        if psnr(img, ic.jpeg2k_decode(b)) >= target: best, hi = (lv, b), lv
        else: lo = lv
    return best
N = 5
if len(sys.argv) != 2:
    raise SystemExit("usage: conv_half_speed.py CORPUS/train")
TRAIN = sys.argv[1]
if "eval" in TRAIN.split("/"):
    raise SystemExit("train split only")
for stem in ("DX/pylibjpeg_dx16", "CR/fodicom_cr_lut"):
    img = top8(read_image(glob.glob(f"{TRAIN}/{stem}__*.png")[0])[0])
    for q in (0, 4):
        for half in (False, True):
            kw = {} if half else {"half_res": False}
            s = mic.encode(img, model="cnn", quality=q, **kw)
            p = psnr(img, mic.decode(s))
            lv, jb = j2k_at(img, p)
            te, td, je, jd = [], [], [], []
            for _ in range(N):
                t = time.perf_counter(); mic.encode(img, model="cnn", quality=q, **kw); te.append(time.perf_counter()-t)
                t = time.perf_counter(); ic.jpeg2k_encode(img, level=lv, reversible=False, numthreads=1); je.append(time.perf_counter()-t)
                t = time.perf_counter(); mic.decode(s); td.append(time.perf_counter()-t)
                t = time.perf_counter(); ic.jpeg2k_decode(jb); jd.append(time.perf_counter()-t)
            me, md, oe, od = (statistics.median(v) for v in (te, td, je, jd))
            print(f"{stem.split('/')[1]} {img.shape} cnn q{q} half_res={half}: {8*len(s)/img.size:.4f} bpp {p:.2f} dB | "
                  f"encode {me*1e3:.0f} ms, OpenJPEG {oe*1e3:.0f} ms ({8*len(jb)/img.size:.4f} bpp at >= that PSNR): x {me/oe:.1f} | "
                  f"decode {md*1e3:.0f} ms, OpenJPEG {od*1e3:.0f} ms: x {md/od:.1f}", flush=True)
