"""The learned conv models of issue #21 (training side): shapes, the NumPy synthesis, the
integer freezing of the entropy path, exact resume and warm start of the training loop."""

import os
import signal

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mic.models.conv_synthesis import ConvSynthesis  # noqa: E402
from mic.models.intnet import ACT_BITS, ACT_FRAC, conv2d_exact, conv_transpose2d_exact  # noqa: E402
from mic.train.export import freeze_hyper_synthesis  # noqa: E402
from mic.train import conv_models as cm  # noqa: E402
from mic.train.conv_loop import Trainer, main  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    from PIL import Image

    d = tmp_path_factory.mktemp("convdata")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:96, :128]
    for i, bits in enumerate((8, 12, 16)):
        smooth = np.sin(xx / (7 + i)) + np.cos(yy / (5 + i))
        a = (smooth - smooth.min()) / np.ptp(smooth) * 0.8 + 0.2 * rng.random(smooth.shape)
        a = np.round(a * ((1 << bits) - 1))
        Image.fromarray(a.astype(np.uint8 if bits == 8 else np.uint16)).save(d / f"im{i}.png")
    return d


@pytest.mark.parametrize("name", ["ae", "vae", "cnn", "gan"])
def test_shapes_and_gradients(name):
    torch.manual_seed(0)
    net = cm.build_model(name, size="tiny")
    x = torch.rand(2, 1, 64, 128)
    out = net(x, torch.tensor([0, net.n_qualities - 1]))
    assert out["x_hat"].shape == x.shape
    assert out["y_hat"].shape == (2, net.m, 4, 8)
    assert out["bits"].shape == (2,) and bool((out["bits"] > 0).all())
    r = cm.rd_loss(x, out, torch.tensor(net.lambdas)[[0, -1]])
    r["loss"].backward()
    assert net.g_a[0].weight.grad is not None and net.g_s[0].weight.grad is not None
    assert net.log_gain.grad is not None
    if name != "ae":
        assert net.h_s[0].weight.grad is not None
    assert cm.from_config(net.config()).config() == net.config()


def test_reconstruction_uses_rounded_latents():
    torch.manual_seed(0)
    net = cm.build_model("cnn", size="tiny").eval()
    x = torch.rand(1, 1, 64, 64)
    a, b = net(x, torch.tensor([2])), net(x, torch.tensor([2]))
    assert torch.equal(a["x_hat"], b["x_hat"])  # the noise only enters the rate
    y = net.analysis(x, torch.tensor([2]))
    frac = (a["y_hat"] - torch.round(y)).abs().max()
    assert frac <= 0.5 + 1e-6
    # means live on the 2**-MEAN_FRAC grid, so y_hat * 2**MEAN_FRAC is an integer
    v = a["y_hat"] * 2 ** cm.MEAN_FRAC
    assert torch.equal(v, torch.round(v))


def test_numpy_synthesis_matches_torch():
    torch.manual_seed(0)
    net = cm.build_model("vae", size="tiny", n=12, n1=6)
    gs = ConvSynthesis(net.synthesis_tensors())
    y = np.random.default_rng(0).integers(-4, 5, (net.m, 3, 5)).astype(np.float32)
    with torch.no_grad():
        ref = net.synthesis(torch.from_numpy(y)[None], torch.tensor([4]))[0, 0].numpy()
    got = gs(y, 4, clamp=False)
    assert got.shape == (48, 80)
    np.testing.assert_allclose(got, ref, atol=1e-5)
    assert gs(y, 4).min() >= 0 and gs(y, 4).max() <= 1


def _run_int(net, a):
    """An IntHyperSynthesis without the input clamp (the entropy-parameter net reads
    activations up to 2**ACT_BITS)."""
    for ly in net.layers:
        w = ly.weight.astype(np.float64)
        k = w.shape[2]
        if ly.transposed:
            acc = conv_transpose2d_exact(a, w, ly.bias, ly.stride, k // 2, ly.stride - 1)
        else:
            acc = conv2d_exact(a, w, ly.bias, ly.stride, k // 2)
        a = np.clip(np.floor(acc * 2.0 ** -ly.shift), 0, 1 << ACT_BITS) if ly.relu else acc
    return a


def _train_a_little(net, steps=30):
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    for _ in range(steps):  # enough for weights and features away from their init
        x = torch.rand(2, 1, 64, 64)
        q = torch.randint(0, net.n_qualities, (2,))
        r = cm.rd_loss(x, net(x, q), torch.tensor(net.lambdas)[q])
        opt.zero_grad()
        r["loss"].backward()
        opt.step()


def test_vae_hyper_synthesis_freezes_to_integers():
    torch.manual_seed(1)
    net = cm.build_model("vae", size="tiny")
    _train_a_little(net, 5)
    hs = freeze_hyper_synthesis(net.h_s, in_frac=cm.ZK_FRAC)
    hs.assert_exact_bounds(int(2 ** cm.ZK_FRAC / cm.ZGAIN_MIN))
    z = np.random.default_rng(0).integers(-6, 7, (net.nz, 2, 3))
    k = 181  # an integer K_q
    with torch.no_grad():
        ref = net.h_s(torch.from_numpy(z).float()[None] * k / 2 ** cm.ZK_FRAC)[0].double().numpy()
    got = hs(z, scale=k) * 2.0 ** -hs.out_frac  # log-scales
    assert got.shape == ref.shape == (net.m, 8, 12)
    np.testing.assert_allclose(got, ref, atol=2e-3 * (1 + np.abs(ref).max()))


def test_cnn_entropy_path_freezes_to_integers():
    torch.manual_seed(2)
    net = cm.build_model("cnn", size="tiny")
    _train_a_little(net, 5)
    rng = np.random.default_rng(1)
    hs = freeze_hyper_synthesis(net.h_s, in_frac=cm.ZK_FRAC)
    ctx = freeze_hyper_synthesis(net.ctx, in_frac=cm.MEAN_FRAC)
    ep = freeze_hyper_synthesis(net.ep, in_frac=ACT_FRAC)
    assert hs.out_frac == ctx.out_frac == ACT_FRAC
    ep.assert_exact_bounds(1 << (ACT_BITS - 15))  # inputs up to 2**ACT_BITS
    z = rng.integers(-5, 6, (net.nz, 1, 2))
    hf = hs(z, scale=256)  # integer hyper features, ACT_FRAC fractional bits
    ya = rng.integers(-40, 41, (net.m, 4, 8)) * checker(4, 8)  # anchors * 2**MEAN_FRAC
    cf = ctx(ya) * (1 - checker(4, 8))
    p = _run_int(ep, np.concatenate([hf, cf]))
    mu = np.floor(p[:net.m] * 2.0 ** (cm.MEAN_FRAC - ep.out_frac) + 0.5) / 2 ** cm.MEAN_FRAC
    ls = p[net.m:] * 2.0 ** -ep.out_frac
    with torch.no_grad():
        hf_t = net.h_s(torch.from_numpy(z).float()[None])
        cf_t = net.context(torch.from_numpy(ya).float()[None] / 2 ** cm.MEAN_FRAC)
        cf_t = cf_t * (1 - torch.from_numpy(checker(4, 8)).float())
        mu_t, ls_t = net.params(hf_t, cf_t)
    assert np.abs(mu - mu_t[0].double().numpy()).max() <= 2 ** -cm.MEAN_FRAC
    np.testing.assert_allclose(ls, ls_t[0].double().numpy(), atol=5e-3)


def checker(h, w):
    return cm.checkerboard(h, w)[0].numpy().astype(np.int64)


def _params(tr):
    return {k: v.clone() for k, v in tr.net.state_dict().items()}


@pytest.mark.parametrize("model", ["cnn", "gan"])
def test_resume_is_exact(tmp_path, data_dir, model):
    kw = {"size": "tiny", "batch": 2, "crop": 64, "lr": 1e-3, "quiet": True}
    one = Trainer(data_dir, model, tmp_path / "one.pt", **kw)
    one.run(steps=4)
    a = Trainer(data_dir, model, tmp_path / "two.pt", log=tmp_path / "two.csv", log_every=1, **kw)
    a.run(steps=2)
    b = Trainer(data_dir, model, tmp_path / "two.pt", log=tmp_path / "two.csv", log_every=1, **kw)
    assert b.step == 2
    b.run(steps=2)
    pa, pb = _params(one), _params(b)
    assert pa.keys() == pb.keys()
    assert all(torch.equal(pa[k], pb[k]) for k in pa)
    if model == "gan":
        assert all(torch.equal(u, v) for u, v in zip(one.disc.state_dict().values(),
                                                      b.disc.state_dict().values()))
        assert torch.equal(pa["g_a.0.weight"], Trainer(data_dir, model, tmp_path / "g.pt", **kw)
                           .net.state_dict()["g_a.0.weight"])  # only g_s learns
    lines = (tmp_path / "two.csv").read_text().splitlines()
    assert lines[0] == "step,cpu_minutes,wall_minutes,loss,bpp,psnr,lr"
    assert [ln.split(",")[0] for ln in lines[1:]] == ["1", "2", "3", "4"]
    with pytest.raises(ValueError, match="other settings"):
        Trainer(data_dir, model, tmp_path / "two.pt", **dict(kw, batch=3))


def test_resume_after_a_kill_logs_each_step_once(tmp_path, data_dir):
    """A chunk killed after its last checkpoint has logged steps the next chunk trains again:
    the log keeps the resumed run's rows only, so the curve has each step once."""
    kw = {"size": "tiny", "batch": 2, "crop": 64, "lr": 1e-3, "quiet": True}
    a = Trainer(data_dir, "vae", tmp_path / "k.pt", log=tmp_path / "k.csv", log_every=1, **kw)
    a.run(steps=2)  # checkpoint at step 2
    with open(tmp_path / "k.csv", "a") as fh:  # what a killed chunk left after it
        fh.write("3,0.01,0.01,9.0,9.0,9.0,1e-3\n4,0.02,0.02,9.0,9.0,9.0,1e-3\n")
    b = Trainer(data_dir, "vae", tmp_path / "k.pt", log=tmp_path / "k.csv", log_every=1, **kw)
    b.run(steps=2)
    rows = [ln.split(",") for ln in (tmp_path / "k.csv").read_text().splitlines()[1:]]
    assert [r[0] for r in rows] == ["1", "2", "3", "4"]
    assert all(r[3] != "9.0000" and r[3] != "9.0" for r in rows[2:])


def test_warm_start_copies_matching_tensors(tmp_path, data_dir):
    kw = {"size": "tiny", "batch": 2, "crop": 64, "quiet": True}
    Trainer(data_dir, "vae", tmp_path / "vae.pt", **kw).run(steps=1)
    src = torch.load(tmp_path / "vae.pt", weights_only=False)["model"]
    cnn = Trainer(data_dir, "cnn", tmp_path / "cnn.pt", init_from=tmp_path / "vae.pt", **kw)
    own = cnn.net.state_dict()
    for k in ("g_a.0.weight", "g_s.6.bias", "h_a.0.weight", "h_s.0.weight", "log_gain",
              "z_density.matrices.0"):
        assert torch.equal(own[k], src[k]), k
    assert "ctx.0.weight" in own and "ctx.0.weight" not in src


def test_ae_warm_start_fits_its_prior_and_resumes_exactly(tmp_path, data_dir):
    """ae from vae: the transforms and gains are copied, the new densities are fitted
    alone first (fewer bits), the warm start is recorded and kept, and resuming is exact."""
    kw = {"size": "tiny", "batch": 2, "crop": 64, "lr": 1e-3, "quiet": True}
    Trainer(data_dir, "vae", tmp_path / "vae.pt", **kw).run(steps=2)
    src = torch.load(tmp_path / "vae.pt", weights_only=False)
    cold = Trainer(data_dir, "ae", tmp_path / "cold.pt", init_from=tmp_path / "vae.pt",
                   fit_density=0, **kw)
    ae = Trainer(data_dir, "ae", tmp_path / "ae.pt", init_from=tmp_path / "vae.pt",
                 fit_density=20, **kw)
    own = ae.net.state_dict()
    for k in ("g_a.0.weight", "g_s.6.bias", "log_gain", "log_igain"):
        assert torch.equal(own[k], src["model"][k]), k
    x = torch.from_numpy(np.random.default_rng(0).random((2, 1, 64, 64), np.float32))
    q = torch.tensor([0, 7])
    with torch.no_grad():
        bits = [float(t.net(x, q, noise=False)["bits"].sum()) for t in (cold, ae)]
    assert bits[1] < bits[0]
    assert ae.init == {"checkpoint": "vae.pt", "model": "vae", "step": 2,
                       "cpu_minutes": round(src["cpu_s"] / 60, 1),
                       "cumulative_cpu_minutes": round(src["cpu_s"] / 60, 1)}
    ae.run(steps=2)
    again = Trainer(data_dir, "ae", tmp_path / "ae.pt", init_from=tmp_path / "vae.pt", **kw)
    assert again.step == 2 and again.init == ae.init
    one = Trainer(data_dir, "ae", tmp_path / "ae.pt", **kw)
    one.run(steps=1)
    ref = Trainer(data_dir, "ae", tmp_path / "ref.pt", init_from=tmp_path / "vae.pt",
                  fit_density=20, **kw)
    ref.run(steps=3)
    pa, pb = _params(one), _params(ref)
    assert all(torch.equal(pa[k], pb[k]) for k in pa)


def test_warm_start_from_shipped_weights(tmp_path, data_dir):
    """A lost checkpoint: a new run starts from exported weights (mic.train.conv_thaw).
    The transforms come back as shipped, the integer hyper-synthesis re-freezes to the
    same integers, the hyper-latent density is fitted alone first (fewer bits), and the
    provenance is the weights' registry entry."""
    from mic.train.conv_export import export_conv_checkpoint, freeze_conv

    kw = {"size": "tiny", "batch": 2, "crop": 64, "lr": 1e-3, "quiet": True}
    Trainer(data_dir, "vae", tmp_path / "vae.pt", log=tmp_path / "vae.csv", **kw).run(steps=3)
    export_conv_checkpoint(tmp_path / "vae.pt", tmp_path / "w", log=tmp_path / "vae.csv")
    shipped = tmp_path / "w" / "vae.safetensors"
    cold = Trainer(data_dir, "vae", tmp_path / "cold.pt", init_from=shipped, fit_density=0, **kw)
    warm = Trainer(data_dir, "vae", tmp_path / "warm.pt", init_from=shipped, fit_density=30, **kw)
    src = torch.load(tmp_path / "vae.pt", weights_only=False)["model"]
    own = warm.net.state_dict()
    assert torch.equal(own["g_a.0.bias"], src["g_a.0.bias"])
    assert torch.equal(own["log_igain"], src["log_igain"])
    assert torch.allclose(own["g_s.6.weight"], src["g_s.6.weight"], rtol=1e-3, atol=1e-6)
    assert torch.allclose(own["log_zgain"], src["log_zgain"], atol=1e-6)
    new, _ = freeze_conv(warm.net)
    old, _ = freeze_conv(Trainer(data_dir, "vae", tmp_path / "vae.pt", **kw).net)  # resumed
    for k in old:
        if k.startswith("hs."):
            assert np.array_equal(new[k], old[k]), k
    x = torch.from_numpy(np.random.default_rng(0).random((2, 1, 64, 64), np.float32))
    q = torch.tensor([0, 7])
    with torch.no_grad():
        bits = [float(t.net(x, q, noise=False)["bits"].sum()) for t in (cold, warm)]
    assert bits[1] < bits[0]
    assert warm.init["model"] == "vae" and warm.init["step"] == 3
    assert warm.init["checkpoint"] == "vae.safetensors"
    warm.run(steps=1)
    assert Trainer(data_dir, "vae", tmp_path / "warm.pt", **kw).init == warm.init
    with pytest.raises(ValueError, match="does not fit"):
        Trainer(data_dir, "ae", tmp_path / "ae.pt", init_from=shipped, **dict(kw, size="base"))


def test_export_averages_snapshots(tmp_path, data_dir):
    """``conv_export --average``: the shipped float weights are the mean of the snapshots'
    (not either one), the record names the averaged steps, and snapshots of another model
    are refused."""
    import shutil

    from mic.train.conv_export import averaged_state, export_conv_checkpoint

    kw = {"size": "tiny", "batch": 2, "crop": 64, "lr": 1e-3, "quiet": True}
    Trainer(data_dir, "vae", tmp_path / "vae.pt", **kw).run(steps=2)
    shutil.copy(tmp_path / "vae.pt", tmp_path / "vae-2.pt")
    Trainer(data_dir, "vae", tmp_path / "vae.pt", **kw).run(steps=2)  # resumed: step 4
    a, b = (torch.load(tmp_path / n, weights_only=False) for n in ("vae.pt", "vae-2.pt"))
    mean = averaged_state(a, [b])
    k = "g_a.0.weight"
    assert torch.allclose(mean[k], (a["model"][k] + b["model"][k]) / 2)
    assert not torch.equal(mean[k], a["model"][k]) and not torch.equal(mean[k], b["model"][k])
    ent = export_conv_checkpoint(tmp_path / "vae.pt", tmp_path / "w",
                                 average=[tmp_path / "vae-2.pt"])
    assert ent["training"]["averaged_steps"] == [2, 4] and ent["training"]["steps"] == 4
    Trainer(data_dir, "ae", tmp_path / "ae.pt", **kw).run(steps=1)
    with pytest.raises(ValueError, match="one model"):
        averaged_state(a, [torch.load(tmp_path / "ae.pt", weights_only=False)])


def test_graft_then_fit_the_hyperprior_alone(tmp_path, data_dir):
    """``conv_merge graft``: a vae with a cnn's transforms and gains (its own hyperprior
    kept, the cnn recorded as the warm start); ``train_only`` then lets only the hyperprior
    learn, the transforms stay bit for bit, and the run resumes with the same setting."""
    from mic.train.conv_merge import graft

    kw = {"size": "tiny", "batch": 2, "crop": 64, "lr": 1e-3, "quiet": True}
    Trainer(data_dir, "vae", tmp_path / "vae.pt", **kw).run(steps=2)
    Trainer(data_dir, "cnn", tmp_path / "cnn.pt", seed=1, **kw).run(steps=3)
    vae, cnn = (torch.load(tmp_path / n, weights_only=False) for n in ("vae.pt", "cnn.pt"))
    g = graft(vae, cnn, tmp_path / "cnn.pt")
    assert torch.equal(g["model"]["g_a.0.weight"], cnn["model"]["g_a.0.weight"])
    assert torch.equal(g["model"]["h_s.0.weight"], vae["model"]["h_s.0.weight"])
    assert g["init"]["step"] == 3 and g["init"]["model"] == "cnn" and "opt" not in g
    torch.save(g, tmp_path / "merged.pt")
    only = "h_a.,h_s.,z_density.,log_zgain"
    tr = Trainer(data_dir, "vae", tmp_path / "fit.pt", init_from=tmp_path / "merged.pt",
                 train_only=only, **kw)
    tr.run(steps=3)
    out = torch.load(tmp_path / "fit.pt", weights_only=False)
    for k in ("g_a.0.weight", "g_s.0.weight", "log_gain", "log_igain"):
        assert torch.equal(out["model"][k], cnn["model"][k]), k
    assert not torch.equal(out["model"]["h_s.2.weight"], vae["model"]["h_s.2.weight"])
    assert out["settings"]["train_only"] == only and out["init"]["checkpoint"] == "merged.pt"
    with pytest.raises(ValueError, match="other settings"):
        Trainer(data_dir, "vae", tmp_path / "fit.pt", **kw)
    with pytest.raises(ValueError, match="names no parameter"):
        Trainer(data_dir, "vae", tmp_path / "bad.pt", train_only="nothing.", **kw)
    with pytest.raises(ValueError, match="does not apply to gan"):
        Trainer(data_dir, "gan", tmp_path / "bad.pt", train_only="g_s.", **kw)


def test_sigterm_saves_and_stops(tmp_path, data_dir, monkeypatch):
    tr = Trainer(data_dir, "ae", tmp_path / "ae.pt", size="tiny", batch=2, crop=64, quiet=True)
    step = tr.train_step

    def step_then_term():
        r = step()
        if tr.step == 1:
            os.kill(os.getpid(), signal.SIGTERM)
        return r

    monkeypatch.setattr(tr, "train_step", step_then_term)
    st = tr.run(steps=10)
    assert st["signal"] == signal.SIGTERM and st["step"] == 2
    assert torch.load(tmp_path / "ae.pt", weights_only=False)["step"] == 2


def test_cli_runs_and_resumes(tmp_path, data_dir):
    args = ["--data", str(data_dir), "--model", "vae", "--ckpt", str(tmp_path / "v.pt"),
            "--size", "tiny", "--batch", "2", "--crop", "64", "--steps", "1", "--quiet"]
    assert main(args) == 0
    assert main(args) == 0
    assert torch.load(tmp_path / "v.pt", weights_only=False)["step"] == 2


def test_mic_train_runs_the_conv_loop_and_resumes(tmp_path, data_dir):
    """``mic train --model cnn`` (issue #21's command) trains and resumes the conv loop's
    checkpoint; ``--stage`` is refused for a conv model."""
    from click.testing import CliRunner

    from mic.cli import main as cli

    args = ["train", str(data_dir), "--model", "cnn", "--size", "tiny", "--batch", "2",
            "--crop", "64", "--steps", "1", "--out", str(tmp_path / "c.pt"),
            "--log", str(tmp_path / "c.csv")]
    for _ in range(2):
        res = CliRunner().invoke(cli, args)
        assert res.exit_code == 0, res.output
    ck = torch.load(tmp_path / "c.pt", weights_only=False)
    assert ck["step"] == 2 and ck["model_name"] == "cnn"
    res = CliRunner().invoke(cli, args + ["--stage", "entropy"])
    assert res.exit_code != 0 and "wavelet models only" in res.output


def _narrow_and_wide(ck: dict, w: dict) -> list[tuple[dict, dict]]:
    """The outputs (rounded latents) of checkpoint ``ck``'s model and of its widening ``w``
    on one random 128 x 128 image, at the lowest and the top quality."""
    from mic.train.conv_models import from_config

    narrow, wide = from_config(ck["config"]).eval(), from_config(w["config"]).eval()
    narrow.load_state_dict(ck["model"])
    wide.load_state_dict(w["model"])
    x = torch.rand(1, 1, 128, 128)
    with torch.no_grad():
        return [(narrow(x, torch.tensor([q]), noise=False), wide(x, torch.tensor([q]), noise=False))
                for q in (0, 7)]


@pytest.mark.parametrize("name", ["ae", "vae", "cnn"])
def test_widen_keeps_the_function_then_trains(tmp_path, data_dir, name):
    """``conv_widen``: twice the latent channels, the same reconstruction, the old channels'
    symbols and (hyperprior models) the same hyper-latent rate; a wider run starts from it
    with every tensor, and a narrower or same width is refused."""
    from mic.train.conv_widen import widen

    kw = {"batch": 2, "crop": 64, "lr": 1e-3, "quiet": True}
    Trainer(data_dir, name, tmp_path / "n.pt", size="tiny", **kw).run(steps=2)
    ck = torch.load(tmp_path / "n.pt", weights_only=False)
    w = widen(ck, 24, tmp_path / "n.pt")
    assert w["config"]["m"] == 24 and w["widened"]["from_m"] == 12 and "opt" not in w
    assert w["init"]["step"] == 2 and w["init"]["checkpoint"] == "n.pt"
    for a, b in _narrow_and_wide(ck, w):
        assert torch.allclose(a["x_hat"], b["x_hat"], atol=1e-5)
        assert torch.equal(a["y_hat"], b["y_hat"][:, :12])
        assert torch.allclose(a["z_bits"], b["z_bits"])
        assert b["y_bits"] >= a["y_bits"] - 1e-3  # the new channels' symbols only add
    torch.save(w, tmp_path / "w.pt")
    tr = Trainer(data_dir, name, tmp_path / "wide.pt", size="tiny-wide",
                 init_from=tmp_path / "w.pt", fit_density=0, **kw)
    tr.run(steps=2)
    out = torch.load(tmp_path / "wide.pt", weights_only=False)
    assert out["config"]["m"] == 24 and out["init"]["checkpoint"] == "w.pt"
    with pytest.raises(ValueError, match="must exceed"):
        widen(ck, 12, tmp_path / "n.pt")


def test_rate_ramp_charges_the_widened_channels_gradually(tmp_path, data_dir):
    """``rate_ramp``: the channels a widening added count their rate in the loss with a
    weight rising from 0 over the ramp; the logged bpp is the full rate; the ramp's first
    channel survives a resume; a start that is no widening is refused."""
    from mic.train.conv_models import rd_loss
    from mic.train.conv_widen import widen

    kw = {"batch": 2, "crop": 64, "lr": 1e-3, "quiet": True}
    Trainer(data_dir, "cnn", tmp_path / "n.pt", size="tiny", **kw).run(steps=1)
    ck = torch.load(tmp_path / "n.pt", weights_only=False)
    torch.save(widen(ck, 24, tmp_path / "n.pt"), tmp_path / "w.pt")
    tr = Trainer(data_dir, "cnn", tmp_path / "r.pt", size="tiny-wide", init_from=tmp_path / "w.pt",
                 rate_ramp=8, **kw)
    assert tr.ramp_from == 12
    tr.run(steps=3)
    assert torch.all(tr.net.rate_weight[12:] == 0)  # free for the first half of the ramp
    tr.run(steps=3)  # the last at step 5: 2 * 5 / 8 - 1
    w = tr.net.rate_weight
    assert w is not None and torch.all(w[:12] == 1) and torch.allclose(w[12:], torch.tensor(0.25))
    x, q = torch.rand(2, 1, 64, 64), torch.tensor([7, 7])
    out = tr.net(x, q)
    assert bool((out["loss_bits"] < out["bits"]).all())
    r = rd_loss(x, out, tr.lambdas[q])
    assert torch.allclose(r["bpp"], (out["bits"] / 64 ** 2).mean())
    again = Trainer(data_dir, "cnn", tmp_path / "r.pt", size="tiny-wide", rate_ramp=8, **kw)
    assert again.ramp_from == 12 and again.step == 6
    again.run(steps=3)  # steps 6..8: the ramp ends, every channel charged in full
    assert again.net.rate_weight is None
    with pytest.raises(ValueError, match="conv_widen"):
        Trainer(data_dir, "cnn", tmp_path / "bad.pt", size="tiny", init_from=tmp_path / "n.pt",
                rate_ramp=4, **kw)
    with pytest.raises(ValueError, match="other settings"):
        Trainer(data_dir, "cnn", tmp_path / "r.pt", size="tiny-wide", **kw)


@pytest.mark.parametrize("name", ["ae", "vae", "cnn"])
def test_widen_by_splitting_copies_each_channel(tmp_path, data_dir, name):
    """``conv_widen --split`` (no noise): each new channel is a copy of an old one, with its
    gains and entropy parameters, the two sharing its synthesis row: the same reconstruction
    and twice the latents' bits."""
    from mic.train.conv_widen import widen

    Trainer(data_dir, name, tmp_path / "n.pt", size="tiny", batch=2, crop=64, quiet=True
            ).run(steps=2)
    ck = torch.load(tmp_path / "n.pt", weights_only=False)
    w = widen(ck, 24, tmp_path / "n.pt", split=True, noise=0.0)
    assert w["widened"]["split"]
    for a, b in _narrow_and_wide(ck, w):
        assert torch.allclose(a["x_hat"], b["x_hat"], atol=1e-5)
        assert torch.equal(b["y_hat"][:, 12:], b["y_hat"][:, :12])
        assert torch.allclose(b["y_bits"], 2 * a["y_bits"], rtol=1e-4)
    with pytest.raises(ValueError, match="at most 24"):
        widen(ck, 25, tmp_path / "n.pt", split=True)
