"""Decode time of a conv model on RGB with and without the colour planes (SPEC 6.10 xform 1),
against OpenJPEG decoding a JPEG 2000 stream of at least the same PSNR, in the same run: a
360 x 512 RGB made by tiling the eval oesophageal echo; one thread, medians of 9.

    OMP_NUM_THREADS=1 PYTHONPATH=. python research/conv_rgb_decode.py CORPUS/eval
"""
import sys
import time, statistics, numpy as np, imagecodecs, mic
from mic.io import read_image
a, _ = read_image(sys.argv[1] + '/US/gdcm_us_esopecho__data_gdcm-US-RGB-8-esopecho.png')
a = np.ascontiguousarray(np.tile(a, (3, 2, 1))[:360, :512])  # 360 x 512 RGB from the 120 x 256 echo
def psnr(x): return 10*np.log10(255**2/np.mean((x.astype(float)-a)**2))
def med(f, n=9):
    ts=[]
    for _ in range(n):
        t=time.perf_counter(); f(); ts.append(time.perf_counter()-t)
    return statistics.median(ts)*1e3
for ct in (True, False):
    s = mic.encode(a, model="cnn", quality=3, colour_transform=ct); d = mic.decode(s)
    p = psnr(d)
    # OpenJPEG at the same PSNR: search the rate
    best=None
    for r in np.geomspace(4, 400, 60):
        j = imagecodecs.jpeg2k_encode(a, level=float(r), codecformat='j2k')
        q = psnr(imagecodecs.jpeg2k_decode(j))
        if q >= p and (best is None or len(j) < len(best)): best = j
    tm = med(lambda: mic.decode(s)); tj = med(lambda: imagecodecs.jpeg2k_decode(best))
    print(f"colour_transform={ct}: {len(s)} B {p:.2f} dB, decode {tm:.1f} ms; OpenJPEG {len(best)} B same PSNR or better, decode {tj:.2f} ms; x {tm/tj:.0f}")
