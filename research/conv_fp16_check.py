"""Does storing the conv vae's transform weights in float16 cost anything?  The exported
weights file keeps g_a, g_s and h_a convolution weights in float16 (mic/train/conv_export.py)
if it does not: this compares, with torch, the model as trained (float32) and with those
weights rounded to float16, on the three grey images of tests/data (never the eval split),
at qualities 0, 3 and 7: PSNR of the clamped reconstruction and the model's rate.

    PYTHONPATH=. .venv/bin/python research/conv_fp16_check.py CKPT

Measured 2026-12-05 on the checkpoint at step 10057 (57.5 CPU-minutes): |dPSNR| <= 0.005 dB
and the same rate to 1e-4 bpp at every image and quality (e.g. quality 3 on the 12-bit CT:
33.968 dB fp32, 33.965 dB fp16, 0.1730 bpp both) -- so the shipped weights are float16.
"""
import sys, numpy as np, torch
from PIL import Image
from mic.train.conv_models import from_config
from mic.train.dataset import normalise
torch.set_num_threads(1)
ck = torch.load(sys.argv[1], map_location="cpu", weights_only=False)
def net(fp16):
    n = from_config(ck["config"]); n.load_state_dict(ck["model"]); n.eval()
    if fp16:
        with torch.no_grad():
            for name, p in n.named_parameters():
                if name.split(".")[0] in ("g_a", "g_s", "h_a") and name.endswith("weight"):
                    p.copy_(p.half().float())
    return n
imgs = []
for f in ["tests/data/ct_abdomen_u16.png", "tests/data/mr_brain_u16.png", "tests/data/cr_chest_u8.png"]:
    a = np.asarray(Image.open(f)); x = normalise(a)
    h, w = (x.shape[0] // 64) * 64, (x.shape[1] // 64) * 64
    imgs.append(torch.from_numpy(x[:h, :w].copy())[None, None])
a32, a16 = net(False), net(True)
for q in (0, 3, 7):
    for x in imgs:
        r = []
        for n in (a32, a16):
            with torch.no_grad():
                o = n(x, torch.tensor([q]), noise=False)
            mse = float(((o["x_hat"].clamp(0, 1) - x) ** 2).mean())
            r.append((-10 * np.log10(mse), float(o["bits"]) / x.numel()))
        print(f"q{q} {tuple(x.shape[2:])}: fp32 {r[0][0]:.3f} dB {r[0][1]:.4f} bpp | fp16 {r[1][0]:.3f} dB {r[1][1]:.4f} bpp | dPSNR {r[1][0]-r[0][0]:+.4f}")
