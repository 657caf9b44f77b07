"""Torch modules of CRKR (Cao, Lu & Zhang, "Context Recovery and Knowledge Retrieval: A Novel Two-Stream
Framework for Video Anomaly Detection", IEEE TIP 33:1810-1825, 2024; arXiv 2209.02899).

- :class:`I3DResNetEncoder`: the I3D-ResNet-50 8x8 encoder of PySlowFast (stem, res2..res5, temporal pool
  after res2). Module names follow PySlowFast (``s1.pathway0_stem.conv`` ...) so that a local
  ``I3D_8x8_R50`` state dict loads unchanged. ``width_div`` and ``blocks`` give thinner CPU variants.
- :class:`STUNet`: the spatio-temporal U-Net of the context-recovery (CR) stream: the encoder, four temporal
  skip convolutions that collapse T to 1, and a 2-D (1x3x3) decoder that recovers the target frame.
- :class:`HashNet`: the multi-head learnable hashing network of iL2SH (the knowledge-retrieval (KR)
  stream; after L2SH, Lu et al., IEEE TCSVT 2022).

Pure ``nn.Module`` classes: no data handling, no training loop.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

#: I3D temporal kernel basis (PySlowFast ``_TEMPORAL_KERNEL_BASIS["i3d"]``): per stage, cycled over blocks.
I3D_TEMPORAL_KERNELS: tuple[tuple[int, ...], ...] = ((5,), (3,), (3, 1), (3, 1), (1, 3))
#: Output channels of stem, res2, res3, res4, res5 at full width.
I3D_WIDTHS: tuple[int, ...] = (64, 256, 512, 1024, 2048)
#: Bottleneck inner channels of res2..res5 at full width.
I3D_INNER: tuple[int, ...] = (64, 128, 256, 512)
I3D_R50_BLOCKS: tuple[int, ...] = (3, 4, 6, 3)


def _div(channels: int, width_div: int) -> int:
    return max(1, channels // width_div)


def check_resolution(resolution: int) -> None:
    """STUNet needs a crop side that is a multiple of 32 and at least 64 (so res5 is >= 2x2)."""
    if resolution % 32 or resolution < 64:
        raise ValueError(f"two_stream: crop resolution R={resolution} must be a multiple of 32 and >= 64")


class SpatialMaxPool(nn.Module):
    """MaxPool3d((1,k,k), (1,s,s), (0,p,p)) computed as a 2-D pool over B*T frames (same values, and much
    faster on CPU than PyTorch's 3-D max pool)."""

    def __init__(self, kernel: int = 3, stride: int = 2, padding: int = 1) -> None:
        super().__init__()
        self.kernel, self.stride, self.padding = kernel, stride, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        y = F.max_pool2d(x.transpose(1, 2).reshape(b * t, c, h, w), self.kernel, self.stride, self.padding)
        return y.reshape(b, t, c, *y.shape[-2:]).transpose(1, 2)


class TemporalMaxPool(nn.Module):
    """MaxPool3d((2,1,1), (2,1,1)) as a max over adjacent time-step pairs (same values, faster on CPU)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        return x[:, :, : t - t % 2].reshape(b, c, t // 2, 2, h, w).amax(3)


class _Stem(nn.Module):
    """``ResNetBasicStem``: conv (5,7,7)/(1,2,2) + BN + ReLU + maxpool (1,3,3)/(1,2,2)."""

    def __init__(self, dim_out: int, temporal_kernel: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(3, dim_out, (temporal_kernel, 7, 7), (1, 2, 2), (temporal_kernel // 2, 3, 3), bias=False)
        self.bn = nn.BatchNorm3d(dim_out)
        self.relu = nn.ReLU(inplace=True)
        self.pool_layer = SpatialMaxPool(3, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool_layer(self.relu(self.bn(self.conv(x))))


class _StemWrap(nn.Module):
    def __init__(self, dim_out: int, temporal_kernel: int) -> None:
        super().__init__()
        self.pathway0_stem = _Stem(dim_out, temporal_kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pathway0_stem(x)


class _Bottleneck(nn.Module):
    """PySlowFast ``BottleneckTransform``: (kt,1,1) -> (1,3,3) with the spatial stride -> (1,1,1)."""

    def __init__(self, dim_in: int, dim_out: int, dim_inner: int, temporal_kernel: int, stride: int) -> None:
        super().__init__()
        self.a = nn.Conv3d(dim_in, dim_inner, (temporal_kernel, 1, 1), 1, (temporal_kernel // 2, 0, 0), bias=False)
        self.a_bn = nn.BatchNorm3d(dim_inner)
        self.a_relu = nn.ReLU(inplace=True)
        self.b = nn.Conv3d(dim_inner, dim_inner, (1, 3, 3), (1, stride, stride), (0, 1, 1), bias=False)
        self.b_bn = nn.BatchNorm3d(dim_inner)
        self.b_relu = nn.ReLU(inplace=True)
        self.c = nn.Conv3d(dim_inner, dim_out, 1, bias=False)
        self.c_bn = nn.BatchNorm3d(dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.a_relu(self.a_bn(self.a(x)))
        x = self.b_relu(self.b_bn(self.b(x)))
        return self.c_bn(self.c(x))


class _ResBlock(nn.Module):
    """PySlowFast ``ResBlock``: bottleneck + (projected) shortcut + ReLU."""

    def __init__(self, dim_in: int, dim_out: int, dim_inner: int, temporal_kernel: int, stride: int) -> None:
        super().__init__()
        if dim_in != dim_out or stride != 1:
            self.branch1 = nn.Conv3d(dim_in, dim_out, 1, (1, stride, stride), bias=False)
            self.branch1_bn = nn.BatchNorm3d(dim_out)
        self.branch2 = _Bottleneck(dim_in, dim_out, dim_inner, temporal_kernel, stride)
        self.relu: nn.Module = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.branch1_bn(self.branch1(x)) if hasattr(self, "branch1") else x
        return self.relu(shortcut + self.branch2(x))


class _Stage(nn.Module):
    def __init__(self, dim_in: int, dim_out: int, dim_inner: int, n_blocks: int, kernels: Sequence[int],
                 stride: int) -> None:
        super().__init__()
        self.n_blocks = n_blocks
        for i in range(n_blocks):
            block = _ResBlock(dim_in if i == 0 else dim_out, dim_out, dim_inner, kernels[i % len(kernels)],
                              stride if i == 0 else 1)
            self.add_module(f"pathway0_res{i}", block)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i in range(self.n_blocks):
            x = getattr(self, f"pathway0_res{i}")(x)
        return x


class I3DResNetEncoder(nn.Module):
    """I3D-ResNet-50 (8x8) encoder as in PySlowFast, returning the STUNet taps y3..y7.

    Args:
        resolution: crop side R (multiple of 32, >= 64).
        width_div: divides every channel count (1 = faithful I3D-R50).
        blocks: bottleneck blocks per stage res2..res5 (faithful ``[3, 4, 6, 3]``).
        remove_last_relu: drop the final ReLU of the last res5 block (as CRKR does).
    """

    def __init__(self, resolution: int = 256, width_div: int = 1, blocks: Sequence[int] = I3D_R50_BLOCKS,
                 remove_last_relu: bool = True) -> None:
        super().__init__()
        check_resolution(resolution)
        if len(blocks) != 4 or min(blocks) < 1:
            raise ValueError(f"two_stream: encoder blocks must be 4 positive ints, got {list(blocks)}")
        widths = [_div(c, width_div) for c in I3D_WIDTHS]
        inner = [_div(c, width_div) for c in I3D_INNER]
        self.widths = widths
        self.s1 = _StemWrap(widths[0], I3D_TEMPORAL_KERNELS[0][0])
        self.s2 = _Stage(widths[0], widths[1], inner[0], blocks[0], I3D_TEMPORAL_KERNELS[1], 1)
        self.pathway0_pool = TemporalMaxPool()
        self.s3 = _Stage(widths[1], widths[2], inner[1], blocks[1], I3D_TEMPORAL_KERNELS[2], 2)
        self.s4 = _Stage(widths[2], widths[3], inner[2], blocks[2], I3D_TEMPORAL_KERNELS[3], 2)
        self.s5 = _Stage(widths[3], widths[4], inner[3], blocks[3], I3D_TEMPORAL_KERNELS[4], 2)
        if remove_last_relu:
            getattr(self.s5, f"pathway0_res{blocks[3] - 1}").relu = nn.Identity()
        k = resolution // 32 - 1  # AvgPool3d((4,k,k), stride 1): R/32 -> 2
        self.head_pool = nn.AvgPool3d((4, k, k), stride=1)

    @property
    def feature_channels(self) -> int:
        return self.widths[4]

    @property
    def feature_dim(self) -> int:
        """Flattened size F = C5 * 1 * 2 * 2 of the pooled feature y7 used by the KR stream."""
        return self.feature_channels * 4

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """[B,3,8,R,R] -> (y3 [C2,4,R/4], y4 [C3,4,R/8], y5 [C4,4,R/16], y6 [C5,4,R/32], y7 [C5,1,2,2])."""
        y2 = self.s2(self.s1(x))
        y3 = self.pathway0_pool(y2)
        y4 = self.s3(y3)
        y5 = self.s4(y4)
        y6 = self.s5(y5)
        return y3, y4, y5, y6, self.head_pool(y6)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Only the pooled feature y7 [B,C5,1,2,2] (KR stream input); skips nothing but the decoder."""
        return self.forward(x)[-1]


def _cbr(cin: int, cout: int, kernel: tuple[int, int, int] = (1, 3, 3)) -> list[nn.Module]:
    pad = tuple(k // 2 for k in kernel)
    return [nn.Conv3d(cin, cout, kernel, 1, pad), nn.BatchNorm3d(cout), nn.LeakyReLU()]


def _up(cin: int, cout: int) -> list[nn.Module]:
    return [nn.ConvTranspose3d(cin, cout, (1, 2, 2), (1, 2, 2)), nn.BatchNorm3d(cout), nn.LeakyReLU()]


class STUNetDecoder(nn.Module):
    """The STUNet decoder (1x3x3 convs, (1,2,2) transposed-conv upsampling, BN + LeakyReLU).

    Channel counts follow the reference at full width (``widths`` = encoder output widths). The first
    block upsamples the 2x2 head feature to R/32 with ``log2(R/64)`` transposed convs (2 at R = 256),
    plus a nearest-neighbour resize when R/32 is not a power of two (e.g. R = 96).
    """

    def __init__(self, resolution: int, widths: Sequence[int], width_div: int) -> None:
        super().__init__()
        c2, c3, c4, c5 = widths[1], widths[2], widths[3], widths[4]
        q = _div(2048, width_div * 4)  # 512 at full width
        n_up = max(0, int(math.floor(math.log2(resolution / 64))))
        layers = _cbr(c5, q, (1, 1, 1))
        for _ in range(n_up - 1):
            layers += _up(q, q) + _cbr(q, q, (1, 1, 1))
        if n_up >= 1:
            layers += _cbr(q, q, (1, 1, 1)) if n_up == 1 else []
            layers += _up(q, c5)
        else:
            layers += _cbr(q, q, (1, 1, 1)) + _cbr(q, c5, (1, 1, 1))
        self.up1 = nn.Sequential(*layers)
        self.uconv1 = nn.Sequential(*_cbr(2 * c5, q), *_cbr(q, q), *_cbr(q, c5))
        i2 = _div(256, width_div)
        self.up2 = nn.Sequential(*_up(c5, c4))
        self.uconv2 = nn.Sequential(*_cbr(2 * c4, i2), *_cbr(i2, i2), *_cbr(i2, c4))
        i3 = _div(128, width_div)
        self.up3 = nn.Sequential(*_up(c4, c3))
        self.uconv3 = nn.Sequential(*_cbr(2 * c3, i3), *_cbr(i3, i3), *_cbr(i3, c3))
        i4 = _div(64, width_div)
        self.up4 = nn.Sequential(*_up(c3, c2))
        self.uconv4 = nn.Sequential(*_cbr(2 * c2, i4), *_cbr(i4, i4), *_cbr(i4, c2))
        c6, i5 = _div(128, width_div), _div(32, width_div)
        self.up5 = nn.Sequential(*_up(c2, c6))
        self.uconv5 = nn.Sequential(*_cbr(c6, i5), *_cbr(i5, i5), *_cbr(i5, c6))
        c7 = _div(64, width_div)
        self.up6 = nn.Sequential(*_up(c6, c7))
        self.uconv6 = nn.Sequential(*_cbr(c7, c7), *_cbr(c7, 3), nn.Conv3d(3, 3, (1, 3, 3), 1, (0, 1, 1)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming-normal conv weights, zero biases (reference ``init_params('kaiming')``)."""
        for m in self.modules():
            if isinstance(m, nn.Conv3d | nn.ConvTranspose3d) and not m.weight.is_meta:  # meta: shapes only
                nn.init.kaiming_normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)


def _match(z: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Resize ``z`` spatially to ``ref`` when sizes differ (only for R/32 not a power of two)."""
    if z.shape[-2:] == ref.shape[-2:]:
        return z
    return F.interpolate(z, size=ref.shape[-3:], mode="nearest")


class STUNet(nn.Module):
    """Spatio-temporal U-Net of the CR stream: 8 context frames [B,3,8,R,R] -> target frame [B,3,1,R,R].

    Args:
        resolution: crop side R.
        width_div: channel divisor (1 = faithful, 4 = the spec's default substitute, 8+ for CPU).
        blocks: res2..res5 blocks (faithful ``[3, 4, 6, 3]``).
        remove_last_relu: drop res5's final ReLU (CRKR ``encoder_rmrelu``).
    """

    def __init__(self, resolution: int = 256, width_div: int = 1, blocks: Sequence[int] = I3D_R50_BLOCKS,
                 remove_last_relu: bool = True) -> None:
        super().__init__()
        self.resolution = resolution
        self.encoder = I3DResNetEncoder(resolution, width_div, blocks, remove_last_relu)
        w = self.encoder.widths
        # Temporal skips: Conv3d(C, C, (4,1,1)) collapse the 4 remaining time steps to 1.
        self.tconv3 = nn.Conv3d(w[1], w[1], (4, 1, 1))
        self.tconv4 = nn.Conv3d(w[2], w[2], (4, 1, 1))
        self.tconv5 = nn.Conv3d(w[3], w[3], (4, 1, 1))
        self.tconv6 = nn.Conv3d(w[4], w[4], (4, 1, 1))
        self.decoder = STUNetDecoder(resolution, w, width_div)

    @property
    def feature_dim(self) -> int:
        """Flattened size F = C5 * 1 * 2 * 2 of the encoder feature used by the KR stream."""
        return self.encoder.feature_dim

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``only_feat``: [B,3,8,R,R] -> [B,C5,1,2,2]."""
        return self.encoder.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y3, y4, y5, y6, y7 = self.encoder(x)
        d = self.decoder
        t6 = self.tconv6(y6)
        o = d.uconv1(torch.cat([_match(d.up1(y7), t6), t6], 1))
        t5 = self.tconv5(y5)
        o = d.uconv2(torch.cat([_match(d.up2(o), t5), t5], 1))
        t4 = self.tconv4(y4)
        o = d.uconv3(torch.cat([_match(d.up3(o), t4), t4], 1))
        t3 = self.tconv3(y3)
        o = d.uconv4(torch.cat([_match(d.up4(o), t3), t3], 1))
        o = d.uconv5(d.up5(o))
        return d.uconv6(d.up6(o))


class HashNet(nn.Module):
    """iL2SH hashing network: LayerNorm(F, no affine), then ``n_heads`` heads
    Linear(F -> code_len, no bias, Xavier-uniform) -> LayerNorm(code_len, no affine) -> sigmoid.

    Returns codes in (0, 1): [B, n_heads, code_len] in eval mode, flattened [B, n_heads * code_len] in
    training mode (the Siamese cosine loss works on the long code).
    """

    def __init__(self, in_dim: int, n_heads: int = 8, code_len: int = 32) -> None:
        super().__init__()
        self.in_dim, self.n_heads, self.code_len = in_dim, n_heads, code_len
        self.feature_norm = nn.LayerNorm(in_dim, elementwise_affine=False)
        self.heads = nn.ModuleList(nn.Linear(in_dim, code_len, bias=False) for _ in range(n_heads))
        self.code_norm = nn.LayerNorm(code_len, elementwise_affine=False)
        for head in self.heads:
            nn.init.xavier_uniform_(head.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.feature_norm(x.flatten(1))
        codes = torch.stack([torch.sigmoid(self.code_norm(h(x))) for h in self.heads], 1)
        return codes.flatten(1) if self.training else codes
