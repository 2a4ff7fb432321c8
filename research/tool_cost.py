"""Encode-time cost of each lossy encoder tool on real images, one thread: the tool added
alone to effort 1 (no tools) and taken alone from effort 7 (every tool), with the bytes and
the mean squared error of each stream, at qualities 2, 6 and 10 (512 x 512 tiles).

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 .venv/bin/python research/tool_cost.py IMAGE.png ...

Finding: ``benches/results/2026-12-05-effort/tool-cost.txt`` and README "Effort levels".
"""
import sys, time, statistics, numpy as np, mic
from mic.io import read_image, demo_image_path
TOOLS = ["rdo", "regions", "adapt", "restore", "means", "dq", "zadapt", "zopt"]
ALL = dict(effort=7)
paths = sys.argv[1:] or [str(demo_image_path())]
def tm(f, n=2):
    ts = []
    for _ in range(n):
        t = time.perf_counter(); r = f(); ts.append(time.perf_counter() - t)
    return min(ts), r
for p in paths:
    a, _ = read_image(p)
    print(p, a.shape)
    for q in (2, 6, 10):
        off = {t: False for t in TOOLS}
        mic.encode(a, quality=q)
        base_t, base_b = tm(lambda: mic.encode(a, quality=q, tile=512, **off))
        all_t, all_b = tm(lambda: mic.encode(a, quality=q, tile=512, **ALL))
        def err(b):
            d = mic.decode(b).astype(float); return np.mean((d - a) ** 2)
        print(f" q{q} base {base_t*1e3:.0f} ms {len(base_b)} B mse {err(base_b):.2f} | all {all_t*1e3:.0f} ms {len(all_b)} B mse {err(all_b):.2f}")
        for t in TOOLS:
            on_t, on_b = tm(lambda: mic.encode(a, quality=q, tile=512, **{**off, t: True}))
            no_t, no_b = tm(lambda: mic.encode(a, quality=q, tile=512, **ALL, **{t: False}))
            print(f"   {t:8s} +alone {1e3*(on_t-base_t):+6.0f} ms {len(on_b)-len(base_b):+6d} B mse {err(on_b):8.2f} | -from-all {1e3*(all_t-no_t):+6.0f} ms {len(all_b)-len(no_b):+6d} B mse {err(no_b):8.2f}")
