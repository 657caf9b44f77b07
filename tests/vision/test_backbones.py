"""torchvision backbones: local weights only, clear error without them, random init on request."""

import logging

import numpy as np
import pytest
import torch

from vad_kedro.vision.backbones import MissingWeightsError, build_backbone
from vad_kedro.vision.snippets import SNIPPET_EXTRACTORS


def test_missing_weights_is_a_clear_error(tmp_path):
    with pytest.raises(MissingWeightsError, match="no weights_path given"):
        build_backbone("r3d_18")
    with pytest.raises(MissingWeightsError, match="does not exist"):
        build_backbone("r3d_18", weights_path=str(tmp_path / "nope.pth"))


def test_random_init_warns_and_local_weights_load(tmp_path, caplog):
    torch.manual_seed(0)
    with caplog.at_level(logging.WARNING):
        model, spec = build_backbone("r3d_18", random_init=True)
    assert "RANDOM weights" in caplog.text and spec.dim == 512
    import torchvision

    ref = torchvision.models.video.r3d_18(weights=None)
    path = tmp_path / "r3d.pth"
    torch.save({"state_dict": ref.state_dict()}, path)
    loaded, _ = build_backbone("r3d_18", weights_path=str(path))
    assert torch.equal(loaded.stem[0].weight, ref.stem[0].weight)
    bad = tmp_path / "bad.pth"
    torch.save({"foo.weight": torch.zeros(1)}, bad)
    with pytest.raises(ValueError, match="does not match"):
        build_backbone("r3d_18", weights_path=str(bad))


def test_torchvision_snippet_extractor_shape():
    torch.manual_seed(0)
    frames = (np.random.default_rng(0).random((20, 40, 56, 3)) * 255).astype(np.uint8)
    feats = SNIPPET_EXTRACTORS["r3d_18"](frames, None, random_init=True, n_crops=2, input_size=32)
    assert feats.shape == (2, 2, 512) and np.isfinite(feats).all()


def test_image_backbone_for_object_appearance():
    model, spec = build_backbone("resnet18", random_init=True, kind="image")
    with torch.no_grad():
        out = model(torch.zeros(2, 3, 64, 64))
    assert out.shape == (2, spec.dim) == (2, 512)
