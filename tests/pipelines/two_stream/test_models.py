"""STUNet / I3D encoder / HashNet shapes, pooling equivalence and local I3D weight loading."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vad_kedro.core.errors import DataError
from vad_kedro.pipelines.two_stream.models import HashNet, SpatialMaxPool, STUNet, TemporalMaxPool
from vad_kedro.pipelines.two_stream.nodes import load_i3d_weights


@pytest.mark.parametrize("resolution", [64, 128])
def test_thin_stunet_shapes(resolution):
    torch.manual_seed(0)
    model = STUNet(resolution, width_div=16, blocks=[1, 1, 1, 1]).eval()
    x = torch.randn(2, 3, 8, resolution, resolution)
    with torch.no_grad():
        assert model(x).shape == (2, 3, 1, resolution, resolution)
        feat = model.features(x)
    assert feat.shape == (2, 2048 // 16, 1, 2, 2)
    assert model.feature_dim == 2048 // 16 * 4


def test_r96_uses_resize_to_match_skips():
    model = STUNet(96, width_div=32, blocks=[1, 1, 1, 1]).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 8, 96, 96)).shape == (1, 3, 1, 96, 96)


def test_faithful_sizes_on_meta_device():
    """R = 256, width 1, I3D-R50 blocks: every shape of the reference (computed without data)."""
    with torch.device("meta"):
        model = STUNet(256, width_div=1, blocks=[3, 4, 6, 3])
        x = torch.empty(2, 3, 8, 256, 256)
        y3, y4, y5, y6, y7 = model.encoder(x)
        out = model(x)
    assert y3.shape == (2, 256, 4, 64, 64) and y4.shape == (2, 512, 4, 32, 32)
    assert y5.shape == (2, 1024, 4, 16, 16) and y6.shape == (2, 2048, 4, 8, 8)
    assert y7.shape == (2, 2048, 1, 2, 2)
    assert out.shape == (2, 3, 1, 256, 256)
    assert model.decoder.uconv1[0].weight.shape == (512, 4096, 1, 3, 3)
    assert model.decoder.uconv4[0].weight.shape == (64, 512, 1, 3, 3)
    # I3D temporal kernels: stem 5, res2 3, res3/res4 alternate 3/1, res5 1/3
    enc = model.encoder
    assert enc.s1.pathway0_stem.conv.kernel_size == (5, 7, 7)
    assert [getattr(enc.s3, f"pathway0_res{i}").branch2.a.kernel_size[0] for i in range(4)] == [3, 1, 3, 1]
    assert [getattr(enc.s5, f"pathway0_res{i}").branch2.a.kernel_size[0] for i in range(3)] == [1, 3, 1]
    assert isinstance(enc.s5.pathway0_res2.relu, nn.Identity)


def test_bad_resolution():
    with pytest.raises(ValueError, match="multiple of 32"):
        STUNet(80, width_div=16, blocks=[1, 1, 1, 1])


def test_fast_pools_equal_torch_max_pool3d():
    x = torch.randn(2, 4, 6, 11, 9)
    assert torch.equal(SpatialMaxPool(3, 2, 1)(x), nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1))(x))
    assert torch.equal(TemporalMaxPool()(x), nn.MaxPool3d((2, 1, 1), (2, 1, 1))(x))


def test_hashnet_outputs():
    torch.manual_seed(0)
    net = HashNet(40, n_heads=8, code_len=32)
    x = torch.randn(5, 40)
    net.train()
    long = net(x)
    assert long.shape == (5, 256)
    net.eval()
    codes = net(x)
    assert codes.shape == (5, 8, 32)
    assert torch.all((codes > 0) & (codes < 1))
    assert torch.allclose(codes.flatten(1), long)
    assert net.heads[0].bias is None


def _encoder_checkpoint(tmp_path, wrap: bool):
    model = STUNet(64, width_div=16, blocks=[1, 1, 1, 1])
    state = {k: v.clone() + 1.0 if v.is_floating_point() else v for k, v in model.encoder.state_dict().items()}
    state["head.projection.weight"] = torch.zeros(400, 128)
    path = tmp_path / "i3d.pyth"
    torch.save({"model_state": state} if wrap else state, path)
    return path, state


@pytest.mark.parametrize("wrap", [True, False])
def test_load_i3d_weights_uses_pyslowfast_names(tmp_path, wrap):
    path, state = _encoder_checkpoint(tmp_path, wrap)
    model = STUNet(64, width_div=16, blocks=[1, 1, 1, 1])
    load_i3d_weights(model, path)
    key = "s1.pathway0_stem.conv.weight"
    assert torch.equal(model.encoder.state_dict()[key], state[key])


def test_load_i3d_weights_errors(tmp_path):
    model = STUNet(64, width_div=16, blocks=[1, 1, 1, 1])
    with pytest.raises(DataError, match="not found"):
        load_i3d_weights(model, tmp_path / "missing.pyth")
    torch.save({"model_state": {"s1.pathway0_stem.conv.weight": torch.zeros(1)}}, tmp_path / "bad.pyth")
    with pytest.raises(DataError, match="missing"):
        load_i3d_weights(model, tmp_path / "bad.pyth")
    torch.save({"cfg": nn.Linear(1, 1)}, tmp_path / "pickled.pyth")  # a pickled module, refused
    with pytest.raises(DataError, match="weights_only"):
        load_i3d_weights(model, tmp_path / "pickled.pyth")
