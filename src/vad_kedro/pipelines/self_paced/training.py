"""Training and scoring loops of LBR-SPR (one autoencoder set per spatial block).

Yu et al., CVPR 2022 (arXiv 2108.01975), Alg. 1; reference code yuguangnudt/LBR_SPR ``train.py``
and ``test.py``. SPR statistics are per batch and use the raw branch only, even with motion
enhancement (as in the reference).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from vad_kedro.core.progress import progress
from vad_kedro.core.runtime import autocast, use_amp

from .cubes import cubes_to_input, flow_cubes_to_target
from .losses import per_sample_sse, spr_weights, weighted_reconstruction_loss
from .models import ReconCAE, build_models

logger = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Training hyper-parameters (paper values in comments)."""

    epochs: int = 30
    warmup_epochs: int = 5
    shrink_rate: float = 0.005
    sp_mode: str = "mixture"
    refine: bool = True
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0
    nf: int = 32
    use_flow: bool = False
    lambda_raw: float = 1.0
    lambda_of: float = 1.0
    max_train_stcs: int | None = None
    score_batch_size: int = 1024


@dataclass
class BlockResult:
    """Trained models of one block, their training history and the final per-STC errors."""

    models: dict[str, ReconCAE]
    history: dict[str, list[float]] = field(default_factory=dict)
    sse: dict[str, np.ndarray] = field(default_factory=dict)


#: channels-last layout: about 1.8x faster oneDNN convolutions on CPU, same results.
_LAYOUT = torch.channels_last


def _batch(raw: np.ndarray, flow: np.ndarray | None, idx: np.ndarray, device: torch.device):
    x = torch.from_numpy(cubes_to_input(raw[idx])).to(device).contiguous(memory_format=_LAYOUT)
    y = None if flow is None else torch.from_numpy(flow_cubes_to_target(flow[idx])).to(device)
    return x, y


def train_block(
    raw: np.ndarray,
    flow: np.ndarray | None,
    cfg: TrainConfig,
    device: torch.device,
    generator: torch.Generator,
    desc: str = "lbr",
) -> BlockResult:
    """Train the autoencoder(s) of one block on its unlabeled pool cubes.

    Args:
        raw: uint8 [n, L, 32, 32, 3] raw cubes of the block (the whole unlabeled pool).
        flow: float16 [n, L, 32, 32, 2] flow cubes, required when ``cfg.use_flow``.
        cfg: hyper-parameters; ``cfg.refine`` False gives plain reconstruction (w = 1 throughout).
        device: torch device.
        generator: seeded CPU generator for shuffling / subsampling.
        desc: progress-bar label.

    Returns:
        A :class:`BlockResult` whose ``sse`` holds the eval-mode SSE of every cube after training
        (``raw`` and, with ME, ``flow``), from which the block statistics (mu_b, sigma_b) are taken.
    """
    if cfg.use_flow and flow is None:
        raise ValueError("use_flow needs flow cubes")
    length = raw.shape[1]
    models = {k: m.to(device, memory_format=_LAYOUT) for k, m in build_models(cfg.nf, cfg.use_flow, length).items()}
    params = [p for m in models.values() for p in m.parameters()]
    opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    amp = use_amp(device)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    n = len(raw)
    hist: dict[str, list[float]] = {"loss": [], "loss_raw": [], "mean_weight": [], "zero_weight_fraction": []}
    if cfg.use_flow:
        hist["loss_of"] = []
    t = 0  # batches after warm-up (SPR schedule counter)
    for epoch in progress(range(cfg.epochs), desc=f"{desc} epochs"):
        if cfg.max_train_stcs and n > cfg.max_train_stcs:
            order = torch.randperm(n, generator=generator)[: cfg.max_train_stcs].numpy()
        else:
            order = torch.randperm(n, generator=generator).numpy()
        sums = dict.fromkeys(hist, 0.0)
        n_seen = 0
        refine_now = cfg.refine and epoch >= cfg.warmup_epochs
        for start in range(0, len(order), cfg.batch_size):
            idx = np.sort(order[start : start + cfg.batch_size])
            x, y = _batch(raw, flow if cfg.use_flow else None, idx, device)
            if refine_now:
                models["raw"].eval()
                with torch.no_grad(), autocast(device):
                    s = per_sample_sse(models["raw"](x).float(), x)
                models["raw"].train()
                w = spr_weights(s, t, cfg.shrink_rate, cfg.sp_mode)
                t += 1
            else:
                w = torch.ones(len(idx), device=device)
            with autocast(device):
                loss_raw = weighted_reconstruction_loss(models["raw"](x).float(), x, w)
                loss = cfg.lambda_raw * loss_raw
                if cfg.use_flow:
                    loss_of = weighted_reconstruction_loss(models["flow"](x).float(), y, w)
                    loss = loss + cfg.lambda_of * loss_of
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            b = len(idx)
            n_seen += b
            sums["loss"] += float(loss.detach()) * b
            sums["loss_raw"] += float(loss_raw.detach()) * b
            sums["mean_weight"] += float(w.sum())
            sums["zero_weight_fraction"] += float((w == 0).sum())
            if cfg.use_flow:
                sums["loss_of"] += float(loss_of.detach()) * b
        for k in hist:
            hist[k].append(sums[k] / max(n_seen, 1))
        logger.debug("%s epoch %d: loss %.5f mean w %.3f", desc, epoch, hist["loss"][-1], hist["mean_weight"][-1])
    sse = {k: cube_errors(m, raw, flow if k == "flow" else None, device, cfg.score_batch_size) for k, m in models.items()}
    models = {k: m.to("cpu", memory_format=torch.contiguous_format) for k, m in models.items()}
    return BlockResult(models=models, history=hist, sse=sse)


@torch.no_grad()
def cube_errors(
    model: ReconCAE, raw: np.ndarray, flow: np.ndarray | None, device: torch.device, batch_size: int = 1024
) -> np.ndarray:
    """Eval-mode per-cube SSE, float64 [n]: raw reconstruction, or flow prediction when ``flow`` is given."""
    model = model.to(device, memory_format=_LAYOUT).eval()
    out = np.empty(len(raw), dtype=np.float64)
    for start in range(0, len(raw), batch_size):
        idx = np.arange(start, min(start + batch_size, len(raw)))
        x, y = _batch(raw, flow, idx, device)
        with autocast(device):
            pred = model(x).float()
        out[idx] = per_sample_sse(pred, x if flow is None else y).double().cpu().numpy()
    return out


def load_block_models(checkpoint: dict[str, Any], cube_length: int) -> dict[int, dict[str, ReconCAE]]:
    """The trained model set of every block that had training cubes, in eval mode: {block: {branch: model}}."""
    cfg = checkpoint["config"]
    out = {}
    for name, states in checkpoint["blocks"].items():
        models = build_models(int(cfg["nf"]), bool(cfg["use_flow"]), cube_length)
        for branch, model in models.items():
            model.load_state_dict(states[branch])
            model.eval()
        out[int(name.removeprefix("block"))] = models
    return out


def block_errors(models: dict[int, dict[str, ReconCAE]], branches: list[str], raw: np.ndarray,
                 flow: np.ndarray | None, blocks: np.ndarray, device: torch.device, batch_size: int = 1024
                 ) -> np.ndarray:
    """Eval-mode SSE float64 [n, K] of cubes with their block's models, one column per branch (``raw``,
    ``flow``); NaN for a block without models (it then scores the empty-block value)."""
    out = np.full((len(raw), len(branches)), np.nan)
    for b, block_models in models.items():
        sel = np.flatnonzero(blocks == b)
        if len(sel) == 0:
            continue
        for j, k in enumerate(branches):
            out[sel, j] = cube_errors(block_models[k], raw[sel], flow[sel] if k == "flow" else None, device,
                                      batch_size)
    return out


def block_stats(sse: np.ndarray) -> tuple[float, float]:
    """(mu_b, sigma_b) of a block's training SSEs (population std; 1 when undefined or zero)."""
    if len(sse) == 0:
        return float("nan"), float("nan")
    mu, sigma = float(np.mean(sse)), float(np.std(sse))
    return mu, (sigma if sigma > 0 else 1.0)


def z_scores(sse: np.ndarray, blocks: np.ndarray, mu: np.ndarray, sigma: np.ndarray, empty_block_score: float = 20.0
             ) -> np.ndarray:
    """z = (SSE - mu_b) / sigma_b per cube; cubes of a block without training statistics score ``empty_block_score``."""
    sse = np.asarray(sse, dtype=np.float64)
    blocks = np.asarray(blocks, dtype=np.int64)
    out = np.full(len(sse), float(empty_block_score), dtype=np.float64)
    if len(sse) == 0:
        return out.astype(np.float32)
    m, s = np.asarray(mu, dtype=np.float64)[blocks], np.asarray(sigma, dtype=np.float64)[blocks]
    ok = np.isfinite(m) & np.isfinite(s)
    out[ok] = (sse[ok] - m[ok]) / s[ok]
    return out.astype(np.float32)
