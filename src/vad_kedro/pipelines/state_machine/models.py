"""Torch modules of LPG (Jiang, "Local Patterns Generalize Better for Novel Anomalies", ICLR 2025).

* :class:`S4Layer` - one S4 block (Gu, Goel & Re, "Efficiently Modeling Long Sequences with Structured
  State Spaces", ICLR 2022) with a HiPPO-LegS state matrix in normal-plus-low-rank (NPLR) form
  (``mode="nplr"``, default) or its diagonal S4D-LegS simplification (Gu et al., "On the
  Parameterization and Initialization of Diagonal State Space Models", NeurIPS 2022; ``mode="diag"``).
  The convolution kernel ``K_l = Re(C Abar^l Bbar)`` is materialised directly (bilinear discretisation,
  dense powers of ``Abar``). For the short sequences of the State Machine Module (L <= 33) this is
  exact and cheap, so the Cauchy/Woodbury machinery of the paper, which only makes long kernels fast,
  is not needed. :meth:`S4Layer.recurrent_forward` runs the same system as a recurrence (tests).
* :class:`StateMachineModule` - the ViS4mer (Islam & Bertasius, ECCV 2022) stack used as LPG's SMM:
  33 steps of local-pattern features -> prediction of step 34.
* :class:`LocalPatternEncoder` - the substitute for BLIP-2's image side (frozen seeded random CNN ->
  8x8 patch tokens -> query former with 32 learned queries) plus the text side (learned embedding table
  for pseudo-captions or a fixed hashed bag-of-words projection for free text).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

# --------------------------------------------------------------------------------------------------
# HiPPO-LegS
# --------------------------------------------------------------------------------------------------


def hippo_legs(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """HiPPO-LegS transition ``A`` [n,n], input ``B`` [n] and rank-1 correction ``p`` [n].

    ``A + p p^T`` is normal (skew-symmetric minus I/2): this is the NPLR structure of S4 (their eq. 2
    and Theorem 1), with A_nk = -sqrt(2n+1)sqrt(2k+1) for n > k, -(n+1) for n = k, 0 for n < k.
    """
    q = np.arange(n, dtype=np.float64)
    r = np.sqrt(2 * q + 1)
    a = -np.tril(np.outer(r, r), -1) - np.diag(q + 1)
    b = r.copy()
    p = np.sqrt(q + 0.5)
    return a, b, p


def legs_nplr(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Eigen-decomposition of the normal part of HiPPO-LegS, keeping one eigenvalue of each conjugate pair.

    Returns ``w`` [n/2] complex eigenvalues (real part -1/2), ``p~ = V^* p`` [n/2], ``B~ = V^* B`` [n/2]
    and ``V`` [n, n/2] (the kept eigenvectors). ``A = V (diag(w) - p~ p~^*) V^*`` on the full basis.
    """
    if n % 2:
        raise ValueError(f"S4 state size must be even, got {n}")
    a, b, p = hippo_legs(n)
    s = a + np.outer(p, p)  # = skew-symmetric - I/2
    skew = s + 0.5 * np.eye(n)
    lam, vec = np.linalg.eigh(-1j * skew)  # Hermitian: eigenvalues of skew are i*lam
    order = np.argsort(-lam)  # positive imaginary parts first
    lam, vec = lam[order][: n // 2], vec[:, order][:, : n // 2]
    w = -0.5 + 1j * lam
    v_inv = vec.conj().T
    return w, v_inv @ p, v_inv @ b, vec


def _conj(x: torch.Tensor) -> torch.Tensor:
    """Append the complex conjugate along the last axis (the other half of each conjugate pair)."""
    return torch.cat([x, x.conj()], dim=-1)


class S4Layer(nn.Module):
    """S4 block on [B, H, L]: ``y = Linear(Dropout(GELU(K * u + D u)))``, causal.

    Args:
        d_model: channels H.
        d_state: state size N (even); N/2 conjugate pairs are stored.
        mode: ``"nplr"`` (HiPPO-LegS, A = Lambda - p p^*, full S4) or ``"diag"`` (S4D-LegS, A = Lambda).
        dropout: channel dropout after the activation (``nn.Dropout1d``).
        dt_min, dt_max: per-channel step size Delta ~ logU[dt_min, dt_max].
        conv: how ``K * u`` is computed (see :meth:`ssm`).
    """

    def __init__(self, d_model: int, d_state: int = 64, mode: str = "nplr", dropout: float = 0.0,
                 dt_min: float = 1e-3, dt_max: float = 1e-1, conv: str = "auto") -> None:
        super().__init__()
        if mode not in ("nplr", "diag"):
            raise ValueError(f"unknown S4 mode {mode!r} (nplr | diag)")
        if conv not in ("auto", "fft", "toeplitz"):
            raise ValueError(f"unknown S4 convolution {conv!r} (auto | fft | toeplitz)")
        self.conv = conv
        self.h, self.n, self.mode = d_model, d_state, mode
        w, p, b, v = legs_nplr(d_state)
        cf = torch.complex64
        self.register_buffer("v_full", _conj(torch.as_tensor(v, dtype=cf)), persistent=False)
        # Lambda: real part kept negative through log parametrisation (as in the S4 code).
        self.log_w_real = nn.Parameter(torch.log(torch.as_tensor(-w.real, dtype=torch.float32)))
        self.w_imag = nn.Parameter(torch.as_tensor(w.imag, dtype=torch.float32))
        self.p = nn.Parameter(torch.view_as_real(torch.as_tensor(p, dtype=cf)).clone())
        self.b = nn.Parameter(torch.view_as_real(torch.as_tensor(b, dtype=cf).repeat(d_model, 1)).clone())
        c = torch.randn(d_model, d_state // 2, 2) * math.sqrt(0.5)
        self.c = nn.Parameter(c)
        self.d = nn.Parameter(torch.randn(d_model))
        log_dt = torch.rand(d_model) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        self.log_dt = nn.Parameter(log_dt)
        self.activation = nn.GELU()
        self.dropout = nn.Dropout1d(dropout) if dropout > 0 else nn.Identity()
        self.output_linear = nn.Linear(d_model, d_model)

    # ---- discretised system -------------------------------------------------------------------
    def _lambda(self) -> torch.Tensor:
        return torch.complex(-torch.exp(self.log_w_real), self.w_imag)

    def discrete_system(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Bilinear discretisation ``Abar = (I - dt/2 A)^-1 (I + dt/2 A)``, ``Bbar = (I - dt/2 A)^-1 dt B``.

        ``diag``: complex eigenbasis, both halves of each conjugate pair: ``Abar`` [H,N] (diagonal),
        ``Bbar`` [H,N], ``C`` [H,N] complex; the output is ``Re(C x)``.
        ``nplr``: mapped back to the real HiPPO basis by the fixed eigenvectors V (A = V(Lambda - p p^*)V^*
        is real because the parameters come in conjugate pairs): ``Abar`` [H,N,N], ``Bbar`` [H,N], ``C`` [H,N]
        real float32 (cheaper than complex arithmetic on CPU).
        """
        dt = torch.exp(self.log_dt)[:, None]  # [H,1]
        lam = _conj(self._lambda())  # [N]
        b = _conj(torch.view_as_complex(self.b))  # [H,N]
        c = _conj(torch.view_as_complex(self.c))  # [H,N]
        if self.mode == "diag":
            dtc = dt.to(torch.complex64)
            denom = 1 - dtc / 2 * lam  # [H,N]
            return (1 + dtc / 2 * lam) / denom, dtc * b / denom, c
        v = self.v_full  # [N,N] complex, columns = eigenvectors (both halves)
        p = _conj(torch.view_as_complex(self.p))  # [N]
        a_eig = torch.diag(lam) - p[:, None] * p.conj()[None, :]
        a = (v @ a_eig @ v.conj().T).real  # [N,N]
        b_r = (b @ v.T).real  # V b for each channel: [H,N]
        c_r = (c @ v.conj().T).real  # C V^*: [H,N]
        eye = torch.eye(self.n, device=a.device)
        dt3 = dt[:, :, None]
        lhs = eye - dt3 / 2 * a  # [H,N,N]
        a_bar = torch.linalg.solve(lhs, eye + dt3 / 2 * a)
        b_bar = torch.linalg.solve(lhs, (dt * b_r)[..., None])[..., 0]
        return a_bar, b_bar, c_r

    def kernel(self, length: int) -> torch.Tensor:
        """Convolution kernel ``K[h, l] = Re(C_h Abar_h^l Bbar_h)`` for l < length -> [H, L] float32."""
        a_bar, b_bar, c = self.discrete_system()
        if self.mode == "diag":
            # Vandermonde in real arithmetic: Abar^l = r^l (cos l theta + i sin l theta)
            steps = torch.arange(length, device=a_bar.device, dtype=torch.float32)
            log_r, theta = torch.log(a_bar.abs())[..., None], a_bar.angle()[..., None]
            mag = torch.exp(log_r * steps)  # [H,N,L]
            cb = c * b_bar
            return (mag * (cb.real[..., None] * torch.cos(theta * steps) - cb.imag[..., None] * torch.sin(theta * steps))).sum(1)
        # Krylov matrix [Bbar, Abar Bbar, Abar^2 Bbar, ...] by repeated squaring (log2 L batched matmuls)
        x, power = b_bar[..., None], a_bar
        while x.shape[-1] < length:
            x = torch.cat([x, power @ x], dim=-1)
            if x.shape[-1] < length:
                power = power @ power
        return torch.einsum("hn,hnl->hl", c, x[..., :length])

    # ---- forward ------------------------------------------------------------------------------
    def ssm(self, u: torch.Tensor) -> torch.Tensor:
        """The linear state-space map ``K * u + D u`` on [B,H,L]: causal, non-circular convolution.

        ``conv="fft"``: zero-padded FFT of length 2L (the S4 code); ``"toeplitz"``: the same sum as a
        lower-triangular Toeplitz matmul (identical result, faster on CPU for short L); ``"auto"`` picks
        Toeplitz for L <= 64.
        """
        length = u.shape[-1]
        k = self.kernel(length)
        if self.conv == "fft" or (self.conv == "auto" and length > 64):
            n_fft = 2 * length
            y = torch.fft.irfft(torch.fft.rfft(u, n=n_fft) * torch.fft.rfft(k, n=n_fft), n=n_fft)[..., :length]
        else:
            idx = torch.arange(length, device=u.device)
            lag = idx[:, None] - idx[None, :]  # [L_out, L_in]
            toeplitz = torch.where(lag >= 0, k[:, lag.clamp(min=0)], k.new_zeros(()))  # [H,L,L]
            y = torch.einsum("bhl,hml->bhm", u, toeplitz)
        return y + self.d[:, None] * u

    def recurrent_forward(self, u: torch.Tensor) -> torch.Tensor:
        """Same linear map as :meth:`ssm`, step by step: x_k = Abar x_{k-1} + Bbar u_k, y_k = Re(C x_k) + D u_k."""
        a_bar, b_bar, c = self.discrete_system()
        bsz, h, length = u.shape
        x = torch.zeros(bsz, h, self.n, dtype=a_bar.dtype, device=u.device)
        ys = []
        for k in range(length):
            uk = u[..., k].to(a_bar.dtype)  # [B,H]
            ax = a_bar[None] * x if self.mode == "diag" else torch.einsum("hij,bhj->bhi", a_bar, x)
            x = ax + b_bar[None] * uk[..., None]
            ys.append((x * c[None]).sum(-1).real + self.d * u[..., k])
        return torch.stack(ys, dim=-1)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """[B, H, L] -> [B, H, L]."""
        y = self.dropout(self.activation(self.ssm(u)))
        return self.output_linear(y.transpose(1, 2)).transpose(1, 2)


# --------------------------------------------------------------------------------------------------
# State Machine Module (ViS4mer)
# --------------------------------------------------------------------------------------------------


class StateMachineModule(nn.Module):
    """LPG's State Machine Module: ViS4mer(d_in=D, L=33, d_model=64, n_layers=3, dropout=0.2, prenorm).

    x [B,33,D] -> Linear(D->64) -> [B,64,33]; per layer (H = 64, 32, 16):
    ``x = x + Dropout1d(S4(LayerNorm(x)))``, AvgPool1d(2) over time, GELU(Linear(H->H/2)) per step,
    giving [B,32,16] -> [B,16,8] -> [B,8,4]; mean over time -> [B,8] -> Linear(8->D) = prediction of
    step 34. The 8-d bottleneck is that of the reference code.
    """

    def __init__(self, d_input: int, d_model: int = 64, n_layers: int = 3, d_state: int = 64,
                 dropout: float = 0.2, s4_mode: str = "nplr", conv: str = "auto") -> None:
        super().__init__()
        self.encoder = nn.Linear(d_input, d_model)
        self.norms, self.s4s, self.drops, self.projs = nn.ModuleList(), nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        h = d_model
        for _ in range(n_layers):
            if h < 2:
                raise ValueError(f"d_model={d_model} too small for {n_layers} layers")
            self.norms.append(nn.LayerNorm(h))
            self.s4s.append(S4Layer(h, d_state=d_state, mode=s4_mode, dropout=dropout, conv=conv))
            self.drops.append(nn.Dropout1d(dropout) if dropout > 0 else nn.Identity())
            self.projs.append(nn.Linear(h, h // 2))
            h //= 2
        self.pool = nn.AvgPool1d(2)
        self.decoder = nn.Linear(h, d_input)

    def forward(self, x: torch.Tensor, return_shapes: bool = False):
        """[B, L, D] -> [B, D] (and the per-layer [B,H,L] shapes when ``return_shapes``)."""
        shapes = []
        x = self.encoder(x).transpose(1, 2)  # [B,H,L]
        for norm, s4, drop, proj in zip(self.norms, self.s4s, self.drops, self.projs, strict=True):
            z = norm(x.transpose(1, 2)).transpose(1, 2)
            x = x + drop(s4(z))
            x = self.pool(x)
            x = F.gelu(proj(x.transpose(1, 2))).transpose(1, 2)
            shapes.append(tuple(x.shape))
        y = self.decoder(x.mean(dim=-1))
        return (y, shapes) if return_shapes else y


# --------------------------------------------------------------------------------------------------
# Local-pattern encoder (BLIP-2 substitute)
# --------------------------------------------------------------------------------------------------


class PatchEncoder(nn.Module):
    """Frozen, seeded random CNN: crop [B,3,S,S] -> tokens [B, g*g, d_token] (g = 8 for S = 64).

    Three stride-2 3x3 convolutions (3 -> 16 -> 32 -> d_token channels, ReLU) followed by adaptive average
    pooling to a g x g grid and a parameter-free LayerNorm per token.
    """

    def __init__(self, d_token: int = 128, grid: int = 8) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(32, d_token, 3, stride=2, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(grid),
        )
        self.norm = nn.LayerNorm(d_token, elementwise_affine=False)
        for prm in self.parameters():
            prm.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.net(x).flatten(2).transpose(1, 2))


class QueryFormer(nn.Module):
    """Q-Former substitute: ``n_queries`` learned queries cross-attend to patch tokens (2-layer decoder)."""

    def __init__(self, d_token: int = 128, d_model: int = 128, n_queries: int = 32, n_layers: int = 2,
                 n_heads: int = 4) -> None:
        super().__init__()
        self.queries = nn.Parameter(torch.randn(n_queries, d_model) * 0.02)
        self.in_proj = nn.Linear(d_token, d_model)
        layer = nn.TransformerDecoderLayer(d_model, n_heads, dim_feedforward=2 * d_model, dropout=0.0,
                                           batch_first=True, norm_first=True)
        self.decoder = nn.TransformerDecoder(layer, n_layers)
        self.out_norm = nn.LayerNorm(d_model)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [B,T,d_token] -> query tokens Q [B, n_queries, D]."""
        mem = self.in_proj(tokens)
        q = self.queries[None].expand(tokens.shape[0], -1, -1)
        return self.out_norm(self.decoder(q, mem))


class LocalPatternEncoder(nn.Module):
    """Image side (patch encoder + query former) and text side (caption embedding table) of LPG.

    Pseudo-captions use the learned table ``text_table`` [K, D]; free-text captions (``captioner:
    labels``) use fixed hashed bag-of-words embeddings supplied from outside (``nodes.hashed_text_embedding``)
    and stored in the same buffer shape.
    """

    def __init__(self, n_captions: int, d_model: int = 128, d_token: int = 128, grid: int = 8,
                 n_queries: int = 32, n_layers: int = 2, learn_text: bool = True) -> None:
        super().__init__()
        self.patch = PatchEncoder(d_token, grid)
        self.qformer = QueryFormer(d_token, d_model, n_queries, n_layers)
        table = torch.randn(n_captions, d_model) * 0.02
        if learn_text:
            self.text_table = nn.Parameter(table)
        else:
            self.register_buffer("text_table", table)

    def text(self) -> torch.Tensor:
        """Embeddings of every caption of the vocabulary [K, D]."""
        return self.text_table

    def queries(self, crops: torch.Tensor) -> torch.Tensor:
        """uint8/float crops [B,3,S,S] in [0,1] -> Q [B, n_queries, D]."""
        with torch.no_grad():
            tokens = self.patch(crops)
        return self.qformer(tokens)


def query_caption_similarity(q: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """cos(Q_q, t_k) for every query and caption: Q [B,nq,D], t [K,D] -> [B,nq,K]."""
    return torch.einsum("bqd,kd->bqk", F.normalize(q, dim=-1), F.normalize(t, dim=-1))


def local_pattern(q: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """LPG local-pattern feature f = sum_q cos(Q_q, t) Q_q for paired Q [B,nq,D] and t [B,D] -> [B,D]."""
    cos = torch.einsum("bqd,bd->bq", F.normalize(q, dim=-1), F.normalize(t, dim=-1))
    return torch.einsum("bq,bqd->bd", cos, q)
