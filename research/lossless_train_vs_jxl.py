import sys, pathlib, numpy as np, imagecodecs, mic
from PIL import Image
from mic.lossless.make_tables16 import sample_or_split
rows, paths = sample_or_split(pathlib.Path(sys.argv[1]), False, 2)
T = [0, 0]
for p in paths:
    a = np.asarray(Image.open(p))
    r = rows.get(str(p.relative_to(p.parents[2])), {})
    bits = int(r.get('bits_stored', 0) or 0) or (8 if a.dtype == np.uint8 else 16)
    m = len(mic.encode(a))
    try:
        j = len(imagecodecs.jpegxl_encode(a, lossless=True, effort=7, numthreads=1, **({'bitspersample': bits} if a.dtype != np.uint8 and bits else {})))
    except Exception as e:
        j = len(imagecodecs.jpegxl_encode(a, lossless=True, effort=7, numthreads=1))
    T[0] += m; T[1] += j
    print(f"{p.name[:50]:50s} {str(a.shape):15s} bits {bits:2d} mic {m:8d} jxl {j:8d} {m/j:.3f}", flush=True)
print('total', T, T[0] / T[1])
