"""Training loop shared by the four detectors (weak_supervision spec §3.7 and §3 "Selection").

Per iteration: B normal and B abnormal bags from two shuffled samplers (drop_last, re-shuffled
when exhausted, or restarted together for MGFN's ``zip`` pairing) → (2B, N, 32, C) as
[normal | abnormal] with the split index passed explicitly → ``method_loss`` → optimizer step.
Every ``eval_every`` iterations the validation video AUC is computed (video score = mean of the
top-3 snippet scores on the full-length ``val`` videos); the best and the last weights are kept.
Test data is never looked at here.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from vad_kedro.core.params import WeakSupervisionMethodParams
from vad_kedro.core.progress import progress
from vad_kedro.core.runtime import autocast, autocast_enabled, resolve_device, seed_everything, use_amp

from .losses import method_loss
from .models import build_model, video_to_bag

logger = logging.getLogger(__name__)


class BatchSampler:
    """Index batches of one bag class: ``batch_size`` per batch, last incomplete batch dropped.

    A new pass starts when the previous one is exhausted; with ``shuffle`` every pass is a fresh
    permutation drawn from ``generator`` (torch ``DataLoader(shuffle=True, drop_last=True)``
    re-iterated), otherwise the order is fixed (MGFN's released loaders).
    """

    def __init__(self, indices: np.ndarray, batch_size: int, shuffle: bool, generator: torch.Generator) -> None:
        self.indices = np.asarray(indices)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator
        self.n_batches = len(self.indices) // batch_size
        if self.n_batches < 1:
            raise ValueError(f"{len(self.indices)} bags cannot fill a batch of {batch_size}")
        self._iter: Iterator[np.ndarray] | None = None

    def new_pass(self) -> None:
        """Start a new pass (re-shuffled when ``shuffle``)."""
        order = self.indices
        if self.shuffle:
            order = self.indices[torch.randperm(len(self.indices), generator=self.generator).numpy()]
        self._iter = iter([order[i * self.batch_size: (i + 1) * self.batch_size] for i in range(self.n_batches)])

    def next(self) -> np.ndarray:
        """The next batch, starting a new pass when the current one is exhausted."""
        if self._iter is None:
            self.new_pass()
        try:
            return next(self._iter)
        except StopIteration:
            self.new_pass()
            return next(self._iter)


def video_scores_topk(snippet_scores: Sequence[np.ndarray], k: int = 3) -> np.ndarray:
    """Video score = mean of the top-k snippet scores (all snippets when a video is shorter)."""
    return np.array([float(np.sort(s)[-k:].mean()) for s in snippet_scores])


@torch.no_grad()
def score_snippets(model: torch.nn.Module, features: np.ndarray, n_crops: int, device: torch.device) -> np.ndarray:
    """Eval-mode snippet scores (T,) of one full-length video (T, N, C), averaged over crops.

    The one scoring function of the pipeline (validation, test, inference): the video goes through
    :func:`video_to_bag`, so the model sees (1, N, T, C) and returns one score per snippet.
    """
    model.eval()
    x = video_to_bag(features, n_crops).to(device)
    with autocast(device):
        out = model(x)
    scores = out.scores[0].float().cpu().numpy()
    if scores.shape != (x.shape[2],):
        raise RuntimeError(f"{type(model).__name__} returned scores of shape {scores.shape} for a video of "
                           f"{x.shape[2]} snippets; expected one score per snippet")
    return scores


def validation_auc(model: torch.nn.Module, videos: Sequence[np.ndarray], labels: Sequence[int], n_crops: int,
                   device: torch.device, k: int = 3) -> float:
    """Video-level ROC AUC on the validation videos (NaN when they hold a single class)."""
    labels = np.asarray(labels)
    if len(videos) == 0 or len(np.unique(labels)) < 2:
        return float("nan")
    scores = video_scores_topk([score_snippets(model, v, n_crops, device) for v in videos], k)
    return float(roc_auc_score(labels, scores))


def make_optimizer(model: torch.nn.Module, cfg: WeakSupervisionMethodParams) -> torch.optim.Optimizer:
    """Adam (RTFM, MGFN, S3R) or Adagrad (MIL) with the method's ``lr`` and ``weight_decay``."""
    name = str(cfg["optimizer"]).lower()
    lr = float(cfg["lr"])
    wd = float(cfg["weight_decay"])
    if name == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=wd)
    if name == "adagrad":
        return torch.optim.Adagrad(model.parameters(), lr=lr, weight_decay=wd, eps=1e-8)
    raise ValueError(f"unknown optimizer {name!r} (adam | adagrad)")


def _cpu_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


@dataclass
class RunResult:
    """One seed's training run: selected (best validation AUC) and last weights plus history."""

    seed: int
    selected_state: dict[str, torch.Tensor]
    last_state: dict[str, torch.Tensor]
    selected_iteration: int
    last_iteration: int
    best_val_auc: float
    batch_size: int
    loss_steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    val_aucs: list[float] = field(default_factory=list)


def train_one_seed(method: str, cfg: WeakSupervisionMethodParams, segments: Mapping[str, Any], seed: int,
                   device: str = "auto", deterministic: bool = True, atoms: np.ndarray | None = None) -> RunResult:
    """Train ``method`` once with ``seed`` on segmented bags; select on validation AUC."""
    generator = seed_everything(seed, deterministic)
    dev = resolve_device(device)
    x_train = torch.from_numpy(segments["train_x"])  # (V, N, S, C)
    y_train = np.asarray(segments["train_y"])
    n_crops, in_dim = int(x_train.shape[1]), int(x_train.shape[3])
    normal_idx, abnormal_idx = np.flatnonzero(y_train == 0), np.flatnonzero(y_train == 1)
    batch_size = min(int(cfg["batch_size"]), len(normal_idx), len(abnormal_idx))
    if batch_size < int(cfg["batch_size"]):
        logger.warning("%s: batch_size %s reduced to %d (%d normal / %d abnormal training bags)", method,
                       cfg["batch_size"], batch_size, len(normal_idx), len(abnormal_idx))
    if method == "mgfn" and batch_size < 2:
        raise ValueError("MGFN needs at least 2 bags per class to pair halves")

    atoms_t = torch.from_numpy(np.asarray(atoms, dtype=np.float32)) if atoms is not None else None
    model = build_model(method, cfg["model"], in_dim, atoms_t).to(dev)
    optimizer = make_optimizer(model, cfg)
    amp = use_amp(dev)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)

    shuffle = bool(cfg["shuffle"])
    normal = BatchSampler(normal_idx, batch_size, shuffle, generator)
    abnormal = BatchSampler(abnormal_idx, batch_size, shuffle, generator)
    zip_pairing = cfg["pairing"] == "zip"
    epoch_len = min(normal.n_batches, abnormal.n_batches)

    iterations = int(cfg["iterations"])
    eval_every = max(int(cfg["eval_every"]), 1)
    patience = cfg["patience"]
    val_x, val_y = segments.get("val_x", []), segments.get("val_y", [])
    k_val = int(cfg["val_topk"])

    result = RunResult(seed=seed, selected_state={}, last_state={}, selected_iteration=0, last_iteration=0,
                       best_val_auc=float("nan"), batch_size=batch_size)
    best = -math.inf
    evals_since_best = 0
    bar = progress(range(1, iterations + 1), desc=f"{method} seed {seed}", total=iterations)
    val_auc = float("nan")
    for step in bar:
        if zip_pairing and (step - 1) % epoch_len == 0:
            normal.new_pass()
            abnormal.new_pass()
        idx = np.concatenate([normal.next(), abnormal.next()])
        x = x_train[idx].to(dev, non_blocking=True)
        model.train()
        with autocast(dev):
            out = model(x)
        if autocast_enabled(dev):
            out.scores = out.scores.float()
            out.features = out.features.float() if out.features is not None else None
            out.macro = out.macro.float() if out.macro is not None else None
        loss, _parts = method_loss(method, out, batch_size, n_crops, cfg, model)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        result.loss_steps.append(step)
        result.losses.append(float(loss.detach()))

        if step % eval_every == 0 or step == iterations:
            val_auc = validation_auc(model, val_x, val_y, n_crops, dev, k_val)
            result.eval_steps.append(step)
            result.val_aucs.append(val_auc)
            if not math.isnan(val_auc) and val_auc >= best:  # ties: the later (longer-trained) model
                best = val_auc
                result.selected_state = _cpu_state(model)
                result.selected_iteration = step
                result.best_val_auc = val_auc
                evals_since_best = 0
            else:
                evals_since_best += 1
            if patience is not None and evals_since_best >= int(patience):
                logger.info("%s seed %d: early stop at iteration %d (best val AUC %.4f at %d)", method, seed, step,
                            best, result.selected_iteration)
                break
        if hasattr(bar, "set_postfix") and (step % 5 == 0 or step == 1):
            bar.set_postfix(loss=f"{result.losses[-1]:.4f}", val_auc=f"{val_auc:.3f}")

    result.last_state = _cpu_state(model)
    result.last_iteration = result.loss_steps[-1]
    if not result.selected_state:
        logger.warning("%s seed %d: no validation AUC (val split empty or one class); selected = last", method, seed)
        result.selected_state = result.last_state
        result.selected_iteration = result.last_iteration
    logger.info("%s seed %d: %d iterations, B=%d, selected iteration %d (val AUC %.4f), last loss %.4f", method,
                seed, result.last_iteration, batch_size, result.selected_iteration, result.best_val_auc,
                result.losses[-1])
    return result
