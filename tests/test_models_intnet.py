"""The integer hyper-synthesis is exact (checked against a pure-integer scatter
implementation) and close to the float network it was frozen from."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mic.models.intnet import (  # noqa: E402
    ACT_BITS, IntHyperSynthesis, conv2d_exact, conv_transpose2d_exact, freeze_hyper_synthesis,
)
from mic.models.layers import conv, deconv  # noqa: E402


def _ref_int(net: IntHyperSynthesis, z: np.ndarray) -> np.ndarray:
    """Same network with Python/int64 integers and a scatter-form transposed conv."""
    a = z.astype(np.int64)
    for ly in net.layers:
        w = ly.weight.astype(np.int64)
        k = w.shape[2]
        p = k // 2
        c, h, wd = a.shape
        if ly.transposed:
            s = ly.stride
            o = w.shape[1]
            full = np.zeros((o, h * s + k, wd * s + k), np.int64)
            for i in range(h):
                for j in range(wd):
                    full[:, i * s:i * s + k, j * s:j * s + k] += np.einsum("c,cokl->okl", a[:, i, j], w)
            acc = full[:, p:p + h * s, p:p + wd * s]
        else:
            o = w.shape[0]
            ap = np.pad(a, ((0, 0), (p, p), (p, p)))
            acc = np.zeros((o, h, wd), np.int64)
            for i in range(h):
                for j in range(wd):
                    acc[:, i, j] = np.einsum("ckl,ockl->o", ap[:, i:i + k, j:j + k], w)
        acc = acc + ly.bias.reshape(-1, 1, 1)
        if ly.relu:
            sh = ly.shift
            a = (acc >> sh) if sh >= 0 else (acc << -sh)
            a = np.clip(a, 0, 1 << ACT_BITS)
        else:
            a = acc
    return a


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
