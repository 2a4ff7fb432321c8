"""The wavelet models' training loop (``mic train``, :func:`mic.train.loop.train`): it
resumes exactly from its checkpoint, and its CSV log holds each logged step once even when a
chunk was killed after its last checkpoint."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mic.train.loop import train  # noqa: E402


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    from PIL import Image

    d = tmp_path_factory.mktemp("wdata")
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:80, :96]
    for i, bits in enumerate((8, 12)):
        a = np.sin(xx / (6 + i)) + np.cos(yy / (4 + i)) + 0.3 * rng.random(xx.shape)
        a = np.round((a - a.min()) / np.ptp(a) * ((1 << bits) - 1))
        Image.fromarray(a.astype(np.uint8 if bits == 8 else np.uint16)).save(d / f"w{i}.png")
    return d


KW = {"size": "tiny", "batch": 2, "crop": 64, "quiet": True}


def test_resume_is_exact_and_a_killed_chunk_leaves_no_doubled_steps(tmp_path, data_dir):
    train(data_dir, steps=100, out=tmp_path / "one.pt", **KW)
    train(data_dir, steps=50, out=tmp_path / "two.pt", log=tmp_path / "two.csv", **KW)
    with open(tmp_path / "two.csv", "a") as fh:  # what a chunk killed after step 50 left
        fh.write("100,0.10,9.0,9.0,9.0,3.00e-04\n")
    train(data_dir, steps=50, out=tmp_path / "two.pt", log=tmp_path / "two.csv", **KW)
    one = torch.load(tmp_path / "one.pt", weights_only=False)
    two = torch.load(tmp_path / "two.pt", weights_only=False)
    assert one["step"] == two["step"] == 100
    assert all(torch.equal(one["model"][k], two["model"][k]) for k in one["model"])
    rows = (tmp_path / "two.csv").read_text().splitlines()
    assert rows[0] == "step,minutes,loss,bpp,psnr,lr"
    assert [r.split(",")[0] for r in rows[1:]] == ["50", "100"]
    assert rows[2].split(",")[2] != "9.0"  # the resumed run's own row
