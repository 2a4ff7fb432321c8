"""Encode and decode time of the cnn on a 512 x 512 train ultrasound screen with and without
exact samples (SPEC 6.10 flag 64), each against OpenJPEG coding a JPEG 2000 stream of the same
PSNR in the same run; one thread, medians of 5.

    OMP_NUM_THREADS=1 python research/conv_exact_speed.py CORPUS
"""

import statistics
import sys
import time

import imagecodecs
import numpy as np
from PIL import Image

import mic

PATH = "/train/US/fodicom_us_jls__Test_Data_GH364.png"
a = np.asarray(Image.open(sys.argv[1] + PATH))[128:640, 256:768].copy()


def med(f, n=5):
    f(); ts = []
    for _ in range(n):
        t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
    return statistics.median(ts) * 1e3
for q in (3, 6):
    row = []
    for kw in ({"exact_samples": False}, {}):
        b = mic.encode(a, quality=q, model="cnn", **kw)
        d = mic.decode(b)
        psnr = 10 * np.log10(255**2 / np.mean((d.astype(float) - a) ** 2))
        # OpenJPEG at the same PSNR
        j = imagecodecs.jpeg2k_encode(a, level=float(psnr), codecformat="j2k")
        te = med(lambda: mic.encode(a, quality=q, model="cnn", **kw)); td = med(lambda: mic.decode(b))
        je = med(lambda: imagecodecs.jpeg2k_encode(a, level=float(psnr), codecformat="j2k")); jd = med(lambda: imagecodecs.jpeg2k_decode(j))
        row.append(f"{'exact' if not kw else 'plain'} {len(b)} B {psnr:.2f} dB enc {te:.0f} ms (x {te/je:.1f} OpenJPEG {je:.1f}) dec {td:.0f} ms (x {td/jd:.0f} OpenJPEG {jd:.2f}; J2K {len(j)} B)")
    print("q", q, " | ".join(row))
