"""torchvision backbones as feature extractors, with weights from a local file only.

Video (Kinetics-400 classifiers in ``torchvision.models.video``): ``r3d_18``, ``mc3_18``,
``r2plus1d_18`` (Tran et al., CVPR 2018), ``s3d`` (Xie et al., ECCV 2018), ``swin3d_t/s/b`` (Liu et
al., CVPR 2022), ``mvit_v1_b``/``mvit_v2_s`` (Fan et al. ICCV 2021; Li et al. CVPR 2022). Image
(ImageNet classifiers): ``resnet18/34/50``, ``mobilenet_v3_small/large``, ``efficientnet_b0``.

The classification head is replaced by ``Identity`` so the model returns pooled features.
Weights never download: ``weights_path`` names a local ``state_dict`` (optionally under a
``state_dict``/``model``/``model_state`` key), loaded with ``torch.load(weights_only=True)``. Without it,
a :class:`MissingWeightsError` explains what to do, unless ``random_init`` is true (then a
warning: random features are only useful for plumbing tests).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

KINETICS_MEAN, KINETICS_STD = (0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class BackboneSpec:
    """How to strip the head of a torchvision classifier and feed it."""

    head: str            # attribute holding the classifier head
    dim: int             # feature dimension after the head is removed
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    input_size: int      # crop side the weights were trained at
    fixed_frames: int | None = None  # clip length the model requires (None = any)


VIDEO_BACKBONES: dict[str, BackboneSpec] = {
    "r3d_18": BackboneSpec("fc", 512, KINETICS_MEAN, KINETICS_STD, 112),
    "mc3_18": BackboneSpec("fc", 512, KINETICS_MEAN, KINETICS_STD, 112),
    "r2plus1d_18": BackboneSpec("fc", 512, KINETICS_MEAN, KINETICS_STD, 112),
    "s3d": BackboneSpec("classifier", 1024, KINETICS_MEAN, KINETICS_STD, 224),
    "swin3d_t": BackboneSpec("head", 768, IMAGENET_MEAN, IMAGENET_STD, 224),
    "swin3d_s": BackboneSpec("head", 768, IMAGENET_MEAN, IMAGENET_STD, 224),
    "swin3d_b": BackboneSpec("head", 1024, IMAGENET_MEAN, IMAGENET_STD, 224),
    "mvit_v1_b": BackboneSpec("head", 768, (0.45, 0.45, 0.45), (0.225, 0.225, 0.225), 224, 16),
    "mvit_v2_s": BackboneSpec("head", 768, (0.45, 0.45, 0.45), (0.225, 0.225, 0.225), 224, 16),
}

IMAGE_BACKBONES: dict[str, BackboneSpec] = {
    "resnet18": BackboneSpec("fc", 512, IMAGENET_MEAN, IMAGENET_STD, 224),
    "resnet34": BackboneSpec("fc", 512, IMAGENET_MEAN, IMAGENET_STD, 224),
    "resnet50": BackboneSpec("fc", 2048, IMAGENET_MEAN, IMAGENET_STD, 224),
    "mobilenet_v3_small": BackboneSpec("classifier", 576, IMAGENET_MEAN, IMAGENET_STD, 224),
    "mobilenet_v3_large": BackboneSpec("classifier", 960, IMAGENET_MEAN, IMAGENET_STD, 224),
    "efficientnet_b0": BackboneSpec("classifier", 1280, IMAGENET_MEAN, IMAGENET_STD, 224),
}


class MissingWeightsError(FileNotFoundError):
    """A pretrained backbone was requested without a usable local weights file."""


def _load_state_dict(path: Path) -> dict:
    import torch

    state = torch.load(str(path), map_location="cpu", weights_only=True)
    if isinstance(state, dict):
        for key in ("state_dict", "model_state", "model"):
            if key in state and isinstance(state[key], dict):
                state = state[key]
                break
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state_dict, got {type(state).__name__}")
    return {k.removeprefix("module."): v for k, v in state.items()}


def build_backbone(arch: str, weights_path: str | None = None, random_init: bool = False, kind: str = "video"):
    """Instantiate a torchvision backbone with its head removed, in eval mode.

    Args:
        arch: a key of :data:`VIDEO_BACKBONES` (``kind='video'``) or :data:`IMAGE_BACKBONES` (``kind='image'``).
        weights_path: local state_dict of the full classifier (head keys are allowed and ignored).
        random_init: allow running without weights (a warning is logged).

    Returns:
        (model, spec).
    """
    import torch
    import torchvision

    table = VIDEO_BACKBONES if kind == "video" else IMAGE_BACKBONES
    if arch not in table:
        raise ValueError(f"unknown {kind} backbone {arch!r}; choose one of {sorted(table)}")
    spec = table[arch]
    model = torchvision.models.get_model(arch, weights=None)
    if weights_path:
        path = Path(weights_path)
        if not path.is_file():
            raise MissingWeightsError(f"{arch}: weights file {path} does not exist (weights are never downloaded)")
        state = _load_state_dict(path)
        missing, unexpected = model.load_state_dict(state, strict=False)
        bad_missing = [k for k in missing if not k.startswith(spec.head + ".")]
        bad_unexpected = [k for k in unexpected if not k.startswith(spec.head + ".")]
        if bad_missing or bad_unexpected:
            raise ValueError(f"{path}: state_dict does not match torchvision {arch}: missing {bad_missing[:5]}, "
                             f"unexpected {bad_unexpected[:5]}")
        logger.info("%s: loaded local weights %s", arch, path)
    elif random_init:
        logger.warning("%s: running with RANDOM weights (random_init: true); features carry no pretrained "
                       "knowledge, use only for plumbing tests", arch)
    else:
        raise MissingWeightsError(
            f"{arch}: no weights_path given. Put a torchvision {arch} state_dict on disk and set its path "
            "(weights are never downloaded), use the default weight-free extractor, or set random_init: true "
            "to run with random weights")
    setattr(model, spec.head, torch.nn.Identity())
    model.eval()
    return model, spec
