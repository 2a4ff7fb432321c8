"""The integer hyper-synthesis is exact (checked against a pure-integer scatter
implementation) and close to the float network it was frozen from."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mic.models.intnet import (  # noqa: E402
    ACT_BITS, IntHyperSynthesis, conv2d_exact, conv_transpose2d_exact,
)
from mic.train.export import freeze_hyper_synthesis, freeze_mlp  # noqa: E402
from mic.train.layers import conv, deconv  # noqa: E402
from mic_test_helpers import int_network_reference as _ref_int  # noqa: E402


@pytest.fixture(scope="module")
def hs_pair():
    torch.manual_seed(0)
    h_s = torch.nn.Sequential(deconv(4, 6), torch.nn.ReLU(), deconv(6, 9), torch.nn.ReLU(),
                              conv(9, 8, 3, 1))
    return h_s, freeze_hyper_synthesis(h_s)


def test_exact_against_integer_reference(hs_pair):
    _, net = hs_pair
    rng = np.random.default_rng(0)
    z = rng.integers(-40, 41, (4, 3, 5))
    got = net(z)
    assert np.array_equal(got, np.floor(got))  # integer valued
    assert np.array_equal(got.astype(np.int64), _ref_int(net, z))


def test_close_to_float_network(hs_pair):
    h_s, net = hs_pair
    z = np.random.default_rng(1).integers(-5, 6, (4, 4, 4))
    with torch.no_grad():
        ref = h_s(torch.from_numpy(z).float()[None])[0].double().numpy()
    got = net(z) * 2.0 ** -net.out_frac
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() < 1e-2 * (1 + np.abs(ref).max())


def test_serialisation_roundtrip_and_bounds(hs_pair):
    _, net = hs_pair
    net2 = IntHyperSynthesis.from_tensors(net.to_tensors("hs"), "hs")
    z = np.random.default_rng(2).integers(-9, 9, (4, 2, 2))
    assert np.array_equal(net(z), net2(z))
    net2.assert_exact_bounds()


def test_exact_conv_helpers_match_torch_on_small_integers():
    rng = np.random.default_rng(3)
    x = rng.integers(-50, 50, (3, 5, 6)).astype(np.float64)
    w = rng.integers(-50, 50, (3, 2, 5, 5)).astype(np.float64)
    b = rng.integers(-9, 9, 2).astype(np.float64)
    ref = torch.nn.functional.conv_transpose2d(
        torch.from_numpy(x)[None], torch.from_numpy(w), torch.from_numpy(b), 2, 2, 1)[0].numpy()
    assert np.array_equal(conv_transpose2d_exact(x, w, b, 2, 2, 1), ref)
    w2 = rng.integers(-50, 50, (4, 3, 3, 3)).astype(np.float64)
    ref2 = torch.nn.functional.conv2d(torch.from_numpy(x)[None], torch.from_numpy(w2),
                                      None, 1, 1)[0].numpy()
    assert np.array_equal(conv2d_exact(x, w2, np.zeros(4), 1, 1), ref2)


# ----------------------------------------------------------------------------- context MLP
@pytest.fixture(scope="module")
def mlp_pair():
    torch.manual_seed(2)
    l1 = torch.nn.Linear(6, 8, bias=False)
    l2 = torch.nn.Linear(8, 5)
    l3 = torch.nn.Linear(5, 1)
    bias1 = torch.randn(3, 4, 2, 8)
    return (l1, l2, l3, bias1), freeze_mlp([l1, l2, l3], bias1)


def _mlp_ref(mlp, feats, q, band, p):
    """The frozen MLP with Python integers only."""
    out = []
    for row in feats.astype(np.int64).tolist():
        a = [int(v) for v in row]
        for i, (w, b) in enumerate(zip(mlp.weights, mlp.biases)):
            bias = b[q, band, p] if i == 0 else b
            acc = [sum(a[k] * int(w[k, j]) for k in range(len(a))) + int(bias[j])
                   for j in range(w.shape[1])]
            if i + 1 < len(mlp.weights):
                a = [min(max(v >> mlp.shifts[i], 0), 1 << ACT_BITS) for v in acc]
            else:
                a = acc
        out.append(a[0])
    return np.array(out, dtype=np.int64)


def test_int_mlp_exact_and_fused_kernel_agrees(mlp_pair):
    from mic.entropy import log_scale_thresholds
    from mic.models.intnet import IntMLP, mlp_scale_index
    from mic.quant import scale_index

    _, mlp = mlp_pair
    rng = np.random.default_rng(4)
    hyper = rng.integers(0, 1 << 20, (7, 2)).astype(np.float64)  # 2 hyper features per cell
    cells = rng.integers(0, 7, 50)
    ctx = (rng.integers(0, 400, (50, 4)) << 6).astype(np.float64)
    ctx[::3] = 0
    feats = np.concatenate([hyper[cells], ctx], 1)
    for q, band, p in ((0, 0, 0), (2, 3, 1)):
        got = mlp(feats, q, band, p)
        assert np.array_equal(got.astype(np.int64), _mlp_ref(mlp, feats, q, band, p))
        thr = log_scale_thresholds(mlp.out_frac, scale_max=4096.0, n=64)
        idx = mlp_scale_index(mlp, hyper, cells, ctx, q, band, p, thr)
        assert np.array_equal(idx, scale_index(got, thr))
    mlp2 = IntMLP.from_tensors(mlp.to_tensors("ctx"), "ctx")
    assert np.array_equal(mlp2(feats, 1, 1, 0), mlp(feats, 1, 1, 0))
    mlp2.assert_exact_bounds(1 << 22)


def test_int_mlp_close_to_float(mlp_pair):
    (l1, l2, l3, bias1), mlp = mlp_pair
    rng = np.random.default_rng(5)
    f = rng.uniform(0, 20, (40, 6))
    fi = np.floor(f * 1024)  # ACT_FRAC fixed point
    with torch.no_grad():
        h = torch.relu(l1(torch.from_numpy(fi / 1024).float()) + bias1[1, 2, 0])
        ref = l3(torch.relu(l2(h)))[:, 0].double().numpy()
    got = mlp(fi, 1, 2, 0) * 2.0 ** -mlp.out_frac
    assert np.abs(got - ref).max() < 1e-2 * (1 + np.abs(ref).max())
