import sys, numpy as np
from PIL import Image
def Hc(r, ctx):
    r = r.ravel(); ctx = np.asarray(ctx).ravel().astype(np.int64)
    key = (ctx - ctx.min()) * (r.max() - r.min() + 1) + (r - r.min())
    cnt = np.bincount(key); ct = np.bincount(ctx - ctx.min())
    cnt = cnt[cnt > 0]; ct = ct[ct > 0]
    return (-(cnt * np.log2(cnt)).sum() + (ct * np.log2(ct)).sum()) / r.size
for p in sys.argv[1:]:
    a0 = np.asarray(Image.open(p)).astype(np.int64)
    planes = [a0] if a0.ndim == 2 else [a0[..., 1]]
    a = planes[0][:1024, :1024]
    x = a[2:, 2:-2]; W = a[2:, 1:-3]; N = a[1:-1, 2:-2]; NW = a[1:-1, 1:-3]; NE = a[1:-1, 3:-1]
    med = np.where(NW >= np.maximum(W,N), np.minimum(W,N), np.where(NW <= np.minimum(W,N), np.maximum(W,N), W+N-NW))
    r = np.clip(x - med, -300, 300)
    act = np.minimum(np.abs(N-NW) + np.abs(W-NW) + np.abs(N-NE), 30)
    h1 = Hc(r, act)
    out = []
    for q in (2, 3, 4):
        m = ((N - med) % q) * q * q + ((W - med) % q) * q + (NE - med) % q
        out.append(f"q{q} x≡W {((x - W) % q == 0).mean():.2f}/{1/q:.2f} H {Hc(r, act * q**3 + m)/h1:.3f}")
    print(f"{p.split('/')[-1][:40]:40s} H|act {h1:.3f} " + ' '.join(out), flush=True)
