"""Convolutional autoencoder of LBR-SPR (no skip connections).

Yu et al., "Deep Anomaly Discovery from Unlabeled Videos via Normality Advantage and Self-Paced
Refinement", CVPR 2022 (arXiv 2108.01975); reference code yuguangnudt/LBR_SPR ``model/cae.py``.

The same trunk serves both branches:
- localisation-based reconstruction (LBR): raw STC [B, 15, 32, 32] -> [B, 15, 32, 32];
- motion enhancement (ME, optional): raw STC [B, 15, 32, 32] -> flow STC [B, 10, 32, 32].
"""

from __future__ import annotations

import torch
from torch import nn


class DoubleConv(nn.Sequential):
    """(Conv3x3 pad 1 -> BatchNorm -> ReLU) twice."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class Up(nn.Module):
    """Stride-2 transposed conv (k3, p1, output_padding 1) followed by a DoubleConv; no skip input."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, in_channels, 3, stride=2, padding=1, output_padding=1)
        self.conv = DoubleConv(in_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.up(x))


class ReconCAE(nn.Module):
    """Encoder 32² -> 16² -> 8² -> 4² (nf, 2nf, 4nf, 8nf channels), mirrored decoder, linear 1x1 head.

    Args:
        in_channels: 15 for a 5-frame RGB cube (frame-major channel order).
        out_channels: 15 to reconstruct the raw cube, 10 to predict its flow cube (ME branch).
        nf: base width (32 in the paper).
    """

    def __init__(self, in_channels: int = 15, out_channels: int = 15, nf: int = 32) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            DoubleConv(in_channels, nf),
            nn.Sequential(nn.MaxPool2d(2), DoubleConv(nf, 2 * nf)),
            nn.Sequential(nn.MaxPool2d(2), DoubleConv(2 * nf, 4 * nf)),
            nn.Sequential(nn.MaxPool2d(2), DoubleConv(4 * nf, 8 * nf)),
        )
        self.decoder = nn.Sequential(
            Up(8 * nf, 4 * nf),
            Up(4 * nf, 2 * nf),
            Up(2 * nf, nf),
        )
        self.head = nn.Conv2d(nf, out_channels, 1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Bottleneck code [B, 8nf, H/8, W/8]."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Reconstruction from the bottleneck code alone (there is no other path)."""
        return self.head(self.decoder(z))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


def build_models(nf: int = 32, use_flow: bool = False, frames: int = 5) -> dict[str, ReconCAE]:
    """The per-block model set: ``raw`` (LBR) and, with motion enhancement, ``flow`` (raw -> flow cube)."""
    models = {"raw": ReconCAE(3 * frames, 3 * frames, nf)}
    if use_flow:
        models["flow"] = ReconCAE(3 * frames, 2 * frames, nf)
    return models
