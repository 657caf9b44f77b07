"""Torch modules of SMAFF: appearance autoencoder, memory bank, cross-modal attention fusion, classifier.

Reference: Z. Jiang, C. Wang, J. Li, M. Zhao, Q. Yang, "Self-supervised memory-guided and attention
feature fusion for video anomaly detection", Journal of Electronic Imaging 33(6) 063035, 2024
(doi:10.1117/1.JEI.33.6.063035); reference code jzt-dongli/Self-Supervised-Memory-guided-and-
Attention-Feature-Fusion-for-Video-Anomaly-Detection (``1_AE-encoder.py``, ``3_train.py``,
``4_Pseudo_generators.py``, ``6_attention_fusion.py``).

Pure ``nn.Module`` s and tensor functions; training loops live in ``nodes.py``, losses in ``losses.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn import init

#: Logit added to padded keys (the paper's -1e9 mask value).
MASK_VALUE = -1e9


class AppAutoencoder(nn.Module):
    """Appearance autoencoder ``in→256→128→code`` and back (ReLU between layers, linear code and output).

    Compresses the 512-d appearance embedding to the 34-d space shared with pose (paper §3.1,
    ``1_AE-encoder.py``).
    """

    def __init__(self, in_dim: int = 512, code_dim: int = 34, hidden: Sequence[int] = (256, 128)) -> None:
        super().__init__()
        dims = [in_dim, *hidden, code_dim]
        enc: list[nn.Module] = []
        for i in range(len(dims) - 1):
            enc.append(nn.Linear(dims[i], dims[i + 1]))
            if i < len(dims) - 2:
                enc.append(nn.ReLU())
        rdims = dims[::-1]
        dec: list[nn.Module] = []
        for i in range(len(rdims) - 1):
            dec.append(nn.Linear(rdims[i], rdims[i + 1]))
            if i < len(rdims) - 2:
                dec.append(nn.ReLU())
        self.encoder = nn.Sequential(*enc)
        self.decoder = nn.Sequential(*dec)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """[n, in] -> [n, code]."""
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction [n, in]."""
        return self.decoder(self.encoder(x))


def memory_probabilities(query: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """p = softmax over items of the raw dot products ``S = q Mᵀ`` (no temperature), [n, M]."""
    return F.softmax(query @ items.t(), dim=1)


def memory_read(query: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """Memory read ``q̂ = p M`` over all items, [n, d]."""
    return memory_probabilities(query, items) @ items


class MemoryBank(nn.Module):
    """M memory items of dimension d (the only trained parameters of the memory stage, paper §3.2)."""

    def __init__(self, items: torch.Tensor) -> None:
        super().__init__()
        self.items = nn.Parameter(items.detach().clone().float())

    def forward(self, query: torch.Tensor) -> torch.Tensor:
        """Read: [n, d] -> [n, d]."""
        return memory_read(query, self.items)


def pseudo_features(
    query: torch.Tensor,
    items: torch.Tensor,
    normal_ranks: Sequence[int] = (0, 5),
    anomaly_ranks: Sequence[int] = (5, 10),
    normal_mix: float = 0.5,
    anomaly_mix: float = 0.01,
    temperature: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pseudo-normal and pseudo-anomaly features of each query row (``4_Pseudo_generators.py``).

    Items are ranked by p (rank 0 = most similar). ``a`` = softmax(p[ranks normal]/T)·M[ranks normal],
    ``b`` = softmax(p[ranks anomaly]/T)·M[ranks anomaly] (ranks are half-open ``[start, stop)``, so the
    default anomaly ranks 5..9 are the paper's 6th–10th most similar items, i.e. near neighbours).
    pseudo_normal = normal_mix·q + (1−normal_mix)·a; pseudo_anomaly = anomaly_mix·q + (1−anomaly_mix)·b.
    The softmax is taken over probabilities (nearly uniform weights), as coded.
    """
    n_items = items.shape[0]
    if max(normal_ranks[1], anomaly_ranks[1]) > n_items:
        raise ValueError(f"pseudo features need at least {max(normal_ranks[1], anomaly_ranks[1])} memory items, have {n_items}")
    p = memory_probabilities(query, items)
    order = torch.sort(p, dim=1, descending=True, stable=True).indices

    def mix(ranks: Sequence[int]) -> torch.Tensor:
        idx = order[:, ranks[0]:ranks[1]]
        w = F.softmax(torch.gather(p, 1, idx) / temperature, dim=1)
        return torch.einsum("nk,nkd->nd", w, items[idx])

    normal = normal_mix * query + (1.0 - normal_mix) * mix(normal_ranks)
    anomaly = anomaly_mix * query + (1.0 - anomaly_mix) * mix(anomaly_ranks)
    return normal, anomaly


class CrossModalAttention(nn.Module):
    """Cross-modal attention over the objects of a frame (``6_attention_fusion.py``), any number of modalities.

    For modality i: ``f_i′ = Dropout(ReLU(Linear_i(f_i)))``, ``q_i, k_i, v_i`` bias-free linear maps of f_i′,
    and ``f_iu = softmax(Σ_{j≠i} q_j k_iᵀ) v_i`` (softmax over keys, no 1/√d scaling unless ``scaled``).
    With three modalities (app, pose, vel) this is exactly the paper's f1u, f2u, f3u. Output per object:
    ``concat[f_1u … f_nu, f_1′ … f_n′]`` → [F, T, 2·n·d].

    Masking (correct behaviour): padded keys get ``MASK_VALUE`` logits and padded rows of the output are
    zeroed, so padded objects influence nothing. ``mask_noop=True`` reproduces the reference code, whose
    mask never fires. ``k3_typo=True`` reproduces the reference's f2u, which uses k3 in its q1 term
    (only meaningful with three modalities).
    """

    def __init__(
        self,
        n_modalities: int,
        d_model: int = 34,
        dropout: float = 0.5,
        mask_noop: bool = False,
        k3_typo: bool = False,
        scaled: bool = False,
    ) -> None:
        super().__init__()
        if n_modalities < 2:
            raise ValueError("cross-modal attention needs at least two modalities")
        if k3_typo and n_modalities != 3:
            raise ValueError("faithful_k3_typo only applies to the three-modality (app, pose, vel) model")
        self.n = n_modalities
        self.d = d_model
        self.mask_noop = mask_noop
        self.k3_typo = k3_typo
        self.scale = d_model**-0.5 if scaled else 1.0
        self.pre = nn.ModuleList(nn.Linear(d_model, d_model) for _ in range(n_modalities))
        self.wq = nn.ModuleList(nn.Linear(d_model, d_model, bias=False) for _ in range(n_modalities))
        self.wk = nn.ModuleList(nn.Linear(d_model, d_model, bias=False) for _ in range(n_modalities))
        self.wv = nn.ModuleList(nn.Linear(d_model, d_model, bias=False) for _ in range(n_modalities))
        self.dropout = nn.Dropout(dropout)
        for lin in self.pre:
            init.kaiming_uniform_(lin.weight, nonlinearity="relu")
        for group in (self.wq, self.wk, self.wv):
            for lin in group:
                init.kaiming_uniform_(lin.weight)

    @property
    def out_dim(self) -> int:
        """Features per object: 2·n·d."""
        return 2 * self.n * self.d

    def forward(self, feats: Sequence[torch.Tensor], valid: torch.Tensor | None = None) -> torch.Tensor:
        """feats: n tensors [F, T, d]; valid: bool [F, T] (True = real object). Returns [F, T, 2·n·d]."""
        if len(feats) != self.n:
            raise ValueError(f"expected {self.n} modalities, got {len(feats)}")
        pre = [self.dropout(F.relu(self.pre[i](f))) for i, f in enumerate(feats)]
        q, k, v = [], [], []
        for i, x in enumerate(pre):  # one fused projection per modality (same maps as three Linear layers)
            w = torch.cat([self.wq[i].weight, self.wk[i].weight, self.wv[i].weight])
            qi, ki, vi = F.linear(x, w).split(self.d, dim=-1)
            q.append(qi)
            k.append(ki)
            v.append(vi)
        use_mask = valid is not None and not self.mask_noop
        updated = []
        for i in range(self.n):
            others = [j for j in range(self.n) if j != i]
            if self.k3_typo and i == 1:
                # reference: f2u = softmax(q1 k3ᵀ + q3 k2ᵀ) v2
                logits = q[0] @ k[2].transpose(-2, -1) + q[2] @ k[1].transpose(-2, -1)
            else:
                # Σ_{j≠i} q_j k_iᵀ = (Σ_{j≠i} q_j) k_iᵀ: one batched product per modality
                q_sum = q[others[0]]
                for j in others[1:]:
                    q_sum = q_sum + q[j]
                logits = q_sum @ k[i].transpose(-2, -1)
            logits = logits * self.scale
            if use_mask:
                logits = logits.masked_fill(~valid[:, None, :], MASK_VALUE)
            updated.append(F.softmax(logits, dim=-1) @ v[i])
        out = torch.cat([*updated, *pre], dim=-1)
        if use_mask:
            out = out * valid[..., None].to(out.dtype)
        return out


class FusionClassifier(nn.Module):
    """Flatten [F, T, D] → Linear(T·D→hidden) → ReLU → Dropout → Linear(hidden→1); biases start at 0.01.

    Returns logits (the sigmoid is applied by the caller / ``BCEWithLogits``; numerically identical to
    the reference's sigmoid + BCELoss).
    """

    def __init__(self, in_dim: int, hidden: int = 256, dropout: float = 0.5) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_dim, hidden)
        self.fc2 = nn.Linear(hidden, 1)
        self.dropout = nn.Dropout(dropout)
        self.fc1.bias.data.fill_(0.01)
        self.fc2.bias.data.fill_(0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[F, T, D] -> logits [F]."""
        x = x.reshape(x.shape[0], -1)
        return self.fc2(self.dropout(F.relu(self.fc1(x)))).squeeze(-1)


class SMAFFHead(nn.Module):
    """Attention fusion + classifier: per-frame anomaly logit from padded per-modality object features."""

    def __init__(
        self,
        n_modalities: int,
        t_max: int,
        d_model: int = 34,
        hidden: int = 256,
        dropout: float = 0.5,
        mask_noop: bool = False,
        k3_typo: bool = False,
        scaled: bool = False,
    ) -> None:
        super().__init__()
        self.attention = CrossModalAttention(n_modalities, d_model, dropout, mask_noop, k3_typo, scaled)
        self.classifier = FusionClassifier(t_max * self.attention.out_dim, hidden, dropout)

    def forward(self, feats: Sequence[torch.Tensor], valid: torch.Tensor | None = None) -> torch.Tensor:
        """Logits [F]."""
        return self.classifier(self.attention(feats, valid))
