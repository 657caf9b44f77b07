"""A small CenterNet object detector ("Objects as Points", Zhou, Wang & Krähenbühl, arXiv 1904.07850)
trained on box annotations of a dataset's training videos.

The network sees the RGB frame and its difference to the per-video median background (4 channels), and
predicts, on a grid of stride ``stride`` (2 or 4), an object-centre heatmap (one class), the box's log
width / height in pixels and the sub-cell offset of the centre. Detections are the heatmap's local
maxima (3x3) above a threshold. Boxes are amodal when the annotations are (the generator's boxes of
people behind trees are), so the detector learns to complete them.

Checkpoints are plain dicts (``state`` tensors + ``config`` values), loaded with ``weights_only=True``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vad_kedro.core.errors import DataError

from .detection import median_background

IN_CHANNELS = 4


def _block(c_in: int, c_out: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, dilation, dilation=dilation, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class CenterNetTiny(nn.Module):
    """Stride-2 stem, stride-4 body with dilated convolutions (receptive field ~90 px), and for
    ``stride`` 2 a decoder that upsamples the body and fuses the stem features (a one-level U-Net)."""

    def __init__(self, width: int = 32, stride: int = 2) -> None:
        super().__init__()
        if stride not in (2, 4):
            raise ValueError(f"centernet stride must be 2 or 4, got {stride}")
        self.stride = stride
        self.stem = nn.Sequential(_block(IN_CHANNELS, 16, 2), _block(16, 16))
        self.body = nn.Sequential(_block(16, width, 2), _block(width, width), _block(width, width, dilation=2),
                                  _block(width, width, dilation=4), _block(width, width, dilation=2),
                                  _block(width, width))
        self.decoder = nn.Sequential(_block(width + 16, width), _block(width, width)) if stride == 2 else None
        self.heat = nn.Conv2d(width, 1, 1)
        self.size = nn.Conv2d(width, 2, 1)
        self.offset = nn.Conv2d(width, 2, 1)
        nn.init.constant_(self.heat.bias, -2.19)   # prior 0.1, as in CenterNet

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x [B,4,H,W] (H, W multiples of 4) -> heat logits [B,1,h,w], log size [B,2,h,w], offset [B,2,h,w]."""
        a = self.stem(x)
        f = self.body(a)
        if self.decoder is not None:
            f = self.decoder(torch.cat([F.interpolate(f, scale_factor=2.0, mode="nearest"), a], 1))
        return self.heat(f), self.size(f), self.offset(f)


def detector_input(frames: np.ndarray) -> np.ndarray:
    """uint8 [T,H,W,4]: RGB and the max-over-channels |frame - median background|, padded to multiples of 4."""
    frames = np.asarray(frames)
    bg = median_background(frames)
    diff = np.abs(frames.astype(np.int16) - bg.astype(np.int16)).max(-1).astype(np.uint8)
    x = np.concatenate([frames, diff[..., None]], -1)
    ph, pw = (-x.shape[1]) % 4, (-x.shape[2]) % 4
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="edge")
    return x


def to_tensor(x: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 [B,H,W,4] -> float [B,4,H,W] in [0,1]."""
    return torch.from_numpy(np.ascontiguousarray(x)).to(device).permute(0, 3, 1, 2).float().div_(255.0)


def centre_targets(boxes: np.ndarray, height: int, width: int, stride: int, sigma: float = 0.3
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Training targets on the stride grid for boxes [n,4] (x1,y1,x2,y2) of one frame.

    Returns heat [1,h,w] (Gaussian peaks of sd = ``sigma`` x the box's smaller side, in cells, >= 0.5),
    log size [2,h,w] and offset [2,h,w] (set at the centre cells), and the centre mask [h,w].
    """
    h, w = height // stride, width // stride
    heat = np.zeros((1, h, w), np.float32)
    size = np.zeros((2, h, w), np.float32)
    offset = np.zeros((2, h, w), np.float32)
    mask = np.zeros((h, w), np.float32)
    ys, xs = np.mgrid[0:h, 0:w]
    for x1, y1, x2, y2 in np.asarray(boxes, dtype=np.float64).reshape(-1, 4):
        cx, cy = (x1 + x2) / 2 / stride, (y1 + y2) / 2 / stride
        ix, iy = int(np.clip(np.floor(cx), 0, w - 1)), int(np.clip(np.floor(cy), 0, h - 1))
        sd = max(0.5, sigma * min(x2 - x1, y2 - y1) / stride)
        heat[0] = np.maximum(heat[0], np.exp(-((xs - ix) ** 2 + (ys - iy) ** 2) / (2 * sd**2)))
        size[:, iy, ix] = np.log([max(x2 - x1, 1.0), max(y2 - y1, 1.0)])
        offset[:, iy, ix] = (cx - ix, cy - iy)
        mask[iy, ix] = 1.0
    return heat, size, offset, mask


def focal_loss(logits: torch.Tensor, heat: torch.Tensor) -> torch.Tensor:
    """CenterNet's penalty-reduced pixel-wise focal loss (alpha 2, beta 4), normalised by the object count."""
    p = logits.sigmoid().clamp(1e-4, 1 - 1e-4)
    pos = heat.eq(1).float()
    pos_loss = torch.log(p) * (1 - p) ** 2 * pos
    neg_loss = torch.log(1 - p) * p**2 * (1 - heat) ** 4 * (1 - pos)
    return -(pos_loss.sum() + neg_loss.sum()) / pos.sum().clamp(min=1)


def detection_loss(outputs: tuple[torch.Tensor, ...], targets: Sequence[torch.Tensor],
                   size_weight: float = 0.1) -> torch.Tensor:
    """Focal heatmap loss + ``size_weight`` x L1 on log sizes + L1 on offsets (centre cells only)."""
    heat_p, size_p, off_p = outputs
    heat, size, offset, mask = targets
    n = mask.sum().clamp(min=1)
    l_size = (F.l1_loss(size_p, size, reduction="none").sum(1) * mask).sum() / n
    l_off = (F.l1_loss(off_p, offset, reduction="none").sum(1) * mask).sum() / n
    return focal_loss(heat_p, heat) + size_weight * l_size + l_off


def decode(heat_logits: torch.Tensor, size: torch.Tensor, offset: torch.Tensor, stride: int,
           threshold: float = 0.3, max_detections: int = 100) -> list[np.ndarray]:
    """Per image float32 [n,5] boxes (x1,y1,x2,y2,score): 3x3 local maxima of the heatmap above ``threshold``."""
    p = heat_logits.sigmoid()
    keep = (p == F.max_pool2d(p, 3, 1, 1)) & (p > threshold)
    out = []
    for b in range(p.shape[0]):
        _, ys, xs = torch.nonzero(keep[b], as_tuple=True)
        score = p[b, 0, ys, xs]
        if len(score) > max_detections:
            top = torch.topk(score, max_detections).indices
            ys, xs, score = ys[top], xs[top], score[top]
        bw, bh = size[b, 0, ys, xs].exp(), size[b, 1, ys, xs].exp()
        cx = (xs + offset[b, 0, ys, xs]) * stride
        cy = (ys + offset[b, 1, ys, xs]) * stride
        boxes = torch.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2, score], 1)
        out.append(boxes.detach().cpu().numpy().astype(np.float32).reshape(-1, 5))
    return out


def build_model(config: dict[str, Any]) -> CenterNetTiny:
    return CenterNetTiny(width=int(config["width"]), stride=int(config["stride"]))


def load_checkpoint(weights_path: str | Path | None) -> dict[str, Any]:
    """Read a centernet checkpoint (``state`` + ``config``); a missing or foreign file is a DataError naming it."""
    if not weights_path:
        raise DataError("centernet", "tracks.centernet.weights_path is not set: train the detector with "
                                     "`kedro run --pipelines=detector_training` (writes "
                                     "data/06_models/detector/centernet.pt) or give a checkpoint")
    path = Path(weights_path)
    if not path.is_file():
        raise DataError(str(path), "centernet weights file not found: train it with "
                                   "`kedro run --pipelines=detector_training` or fix tracks.centernet.weights_path")
    try:
        ckpt = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - truncated file, not a torch file, pickled objects
        raise DataError(str(path), f"cannot be read as a centernet checkpoint ({type(exc).__name__})") from exc
    if not isinstance(ckpt, dict) or "state" not in ckpt or "config" not in ckpt:
        raise DataError(str(path), "not a centernet checkpoint (expected a dict with 'state' and 'config')")
    return ckpt


@torch.no_grad()
def detect_inputs(model: CenterNetTiny, x: np.ndarray, threshold: float = 0.3, batch_size: int = 16,
                  max_detections: int = 100, device: torch.device | str = "cpu") -> list[np.ndarray]:
    """Run ``model`` (eval mode) on prepared inputs uint8 [T,H,W,4] (:func:`detector_input`), in batches."""
    model.eval()
    out: list[np.ndarray] = []
    for i in range(0, len(x), batch_size):
        heat, size, offset = model(to_tensor(x[i:i + batch_size], device))
        out += decode(heat, size, offset, model.stride, threshold, max_detections)
    return out


def detect(model: CenterNetTiny, frames: np.ndarray, threshold: float = 0.3, batch_size: int = 16,
           max_detections: int = 100, device: torch.device | str = "cpu") -> list[np.ndarray]:
    """Run ``model`` on one video's frames uint8 [T,H,W,3]; boxes are clipped to the frame later by the caller."""
    return detect_inputs(model, detector_input(frames), threshold, batch_size, max_detections, device)


def _random_crop(x: np.ndarray, boxes: np.ndarray, crop: tuple[int, int], rng: np.random.Generator,
                 flip: bool) -> tuple[np.ndarray, np.ndarray]:
    """A random crop [ch,cw] of one frame; boxes shifted, kept when their centre lies inside (full extent)."""
    H, W = x.shape[:2]
    ch, cw = min(crop[0], H - H % 4), min(crop[1], W - W % 4)
    y0, x0 = int(rng.integers(0, H - ch + 1)), int(rng.integers(0, W - cw + 1))
    x = x[y0:y0 + ch, x0:x0 + cw]
    b = boxes.reshape(-1, 4) - np.array([x0, y0, x0, y0], dtype=np.float64)
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    b = b[(cx >= 0) & (cx < cw) & (cy >= 0) & (cy < ch)]
    if flip:
        x = x[:, ::-1]
        b = np.c_[cw - b[:, 2], b[:, 1], cw - b[:, 0], b[:, 3]]
    return x, b


def train_centernet(samples: Sequence[tuple[np.ndarray, list[np.ndarray]]], width: int = 32, stride: int = 2,
                    iterations: int = 3000, batch_size: int = 16, lr: float = 3e-3, crop: Sequence[int] = (96, 128),
                    size_weight: float = 0.1, sigma: float = 0.3, seed: int = 0, device: torch.device | str = "cpu",
                    bar=None) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """Train a :class:`CenterNetTiny` on ``samples``: per video (detector_input uint8 [T,H,W,4], boxes [n,4]
    per frame). Adam with a one-cycle schedule; random crops and horizontal flips.

    Returns the checkpoint ``{"state", "config"}`` and the history ``{"loss": [...]}`` (mean per 50 steps).
    """
    index = [(v, t) for v, (x, _) in enumerate(samples) for t in range(len(x))]
    if not index:
        raise DataError("centernet", "no training frames")
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    config = {"width": int(width), "stride": int(stride)}
    model = build_model(config).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(iterations, 1))
    history: dict[str, list[float]] = {"loss": []}
    running: list[float] = []
    model.train()
    for _ in range(iterations):
        xs, tg = [], []
        for k in rng.integers(0, len(index), batch_size):
            v, t = index[int(k)]
            x, b = _random_crop(samples[v][0][t], samples[v][1][t], (int(crop[0]), int(crop[1])), rng,
                                bool(rng.random() < 0.5))
            xs.append(np.ascontiguousarray(x))
            tg.append(centre_targets(b, x.shape[0], x.shape[1], stride, sigma))
        targets = [torch.from_numpy(np.stack([t[i] for t in tg])).to(device) for i in range(4)]
        loss = detection_loss(model(to_tensor(np.stack(xs), device)), targets, size_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        running.append(float(loss.detach()))
        if len(running) == 50:
            history["loss"].append(float(np.mean(running)))
            running = []
        if bar is not None:
            bar.update(1)
    if running:
        history["loss"].append(float(np.mean(running)))
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return {"state": state, "config": config}, history
