"""Issue #20 targets measured on a quiet machine, one and two threads: the bundled 512² CT
and the 2128 x 2000 DX of the eval split (measured only), mic at efforts 1-7 beside OpenJPEG
and libjxl e7 matched to mic's PSNR at the default effort, quality 6.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 .venv/bin/python research/lossy_targets.py [EFFORTS]

``EFFORTS``: a comma list (default 1,3,4,5,7), e.g. ``3`` for the default effort alone.

Finding: benches/results/2026-12-05-effort/quiet-targets.txt (and issue #20's notes).
"""
import os, sys, time, statistics, numpy as np, mic, imagecodecs as ic
from mic.io import read_image, demo_image_path
def med(f, n):
    ts = []
    for _ in range(n):
        t = time.perf_counter(); r = f(); ts.append(time.perf_counter() - t)
    return statistics.median(ts), r
def psnr(a, d, bits):
    return 10 * np.log10(((1 << bits) - 1) ** 2 / np.mean((a.astype(float) - d) ** 2))
for path, bits, n in ((str(demo_image_path()), 12, 7), ("/work/shared/corpus/eval/DX/pylibjpeg_dx966__JPEG2000Lossless_966_fixed.png", None, 3)):
    a, _ = read_image(path)
    bits = bits or mic.info(mic.encode(a[:64, :64])).bits_stored
    bits = max(bits, int(a.max()).bit_length())
    print(f"## {os.path.basename(path)} {a.shape} {bits} bits")
    for e in (tuple(int(v) for v in sys.argv[1].split(",")) if len(sys.argv) > 1 else (1, 3, 4, 5, 7)):
        if a.size > 1e6 and e >= 5 and e != 5: continue
        for th in (1, 2):
            mic.encode(a[:256, :256], quality=6, effort=e, threads=th)
            te, b = med(lambda: mic.encode(a, quality=6, effort=e, threads=th), n if e < 5 else 2)
            mic.decode(b, threads=th)
            td, d = med(lambda: mic.decode(b, threads=th), n)
            print(f"mic e{e} threads {th}: {len(b)} B {psnr(a, d, bits):.2f} dB encode {te*1e3:.0f} ms decode {td*1e3:.1f} ms")
    target = psnr(a, mic.decode(mic.encode(a, quality=6)), bits)
    te, b = med(lambda: ic.jpeg2k_encode(a, level=target, reversible=False, bitspersample=bits, numthreads=1), n)
    td, d = med(lambda: ic.jpeg2k_decode(b), n)
    print(f"OpenJPEG at {target:.2f} dB: {len(b)} B {psnr(a, d, bits):.2f} dB encode {te*1e3:.1f} ms decode {td*1e3:.1f} ms")
    lo, hi = 0.01, 8.0
    for _ in range(20):
        dd = (lo + hi) / 2; p = psnr(a, ic.jpegxl_decode(ic.jpegxl_encode(a, distance=dd, effort=7, bitspersample=bits, numthreads=1)), bits)
        lo, hi = (dd, hi) if p > target else (lo, dd)
    te, b = med(lambda: ic.jpegxl_encode(a, distance=lo, effort=7, bitspersample=bits, numthreads=1), n)
    td, d = med(lambda: ic.jpegxl_decode(b, numthreads=1), n)
    print(f"libjxl e7 at {target:.2f} dB: {len(b)} B {psnr(a, d, bits):.2f} dB encode {te*1e3:.1f} ms decode {td*1e3:.1f} ms")
