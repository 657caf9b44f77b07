"""Loss terms on hand-made tensors; expected values worked out by hand (spec §7 "Losses")."""

from __future__ import annotations

import math

import pytest
import torch

from vad_kedro.pipelines.weak_supervision import losses
from vad_kedro.pipelines.weak_supervision.models import BagOutput

from ...conf_params import deep_merge, yaml_group

WS = yaml_group("weak_supervision")   # the shipped method blocks (their loss weights are the papers')


def t(x) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float32)


# ----------------------------------------------------------------------------------- smoothness
def test_smoothness_per_video_vs_flattened():
    s = t([[0.0, 1.0], [0.0, 1.0]])
    # per video: (1-0)^2 + (1-0)^2 = 2 ; flattened [0,1,0,1]: 1 + 1 + 1 = 3
    assert losses.smoothness(s, "per_video").item() == pytest.approx(2.0)
    assert losses.smoothness(s, "flattened").item() == pytest.approx(3.0)


def test_smoothness_hand_values():
    s = t([[0.1, 0.4, 0.2]])
    # (0.3)^2 + (-0.2)^2 = 0.09 + 0.04
    assert losses.smoothness(s).item() == pytest.approx(0.13, abs=1e-6)
    with pytest.raises(ValueError):
        losses.smoothness(s, "diagonal")


# ------------------------------------------------------------------------------------- sparsity
def test_sparsity_l1_and_l2_closed_forms():
    s = t([[0.5, 0.5], [1.0, 0.0]])
    assert losses.sparsity(s, "l1").item() == pytest.approx(2.0 / 2)  # sum / B
    assert losses.sparsity(s, "l2").item() == pytest.approx(math.sqrt(0.25 + 0.25 + 1.0))


def test_sparsity_l2_matches_code_form():
    # released code: mean(norm(flat, dim=0)) of the flattened abnormal scores = the L2 norm
    s = torch.rand(4, 32, generator=torch.Generator().manual_seed(0))
    flat = s.reshape(-1)
    assert losses.sparsity(s, "l2").item() == pytest.approx(torch.mean(torch.norm(flat, dim=0)).item())


# ----------------------------------------------------------------------------- feature magnitude
def test_feature_magnitude_zero_at_margin():
    xa = torch.zeros(2, 3, 4)
    xa[..., 0] = 100.0  # every selected abnormal feature has norm 100, so ||mean_k X_a|| = 100
    xn = torch.zeros(2, 3, 4)
    assert losses.feature_magnitude_loss(xn, xa, 100.0, "code").item() == pytest.approx(0.0)
    assert losses.feature_magnitude_loss(xn, xa, 100.0, "hinge").item() == pytest.approx(0.0)


def test_feature_magnitude_hand_values():
    xa = torch.zeros(1, 3, 2)
    xa[0, :, 0] = t([80.0, 90.0, 100.0])  # mean over k = (90, 0) -> norm 90
    xn = torch.zeros(1, 3, 2)
    xn[0, :, 1] = t([3.0, 4.0, 8.0])  # mean (0, 5) -> norm 5
    # code: (|100 - 90| + 5)^2 = 225 ; hinge: max(0, 100 - 90 + 5) = 15
    assert losses.feature_magnitude_loss(xn, xa, 100.0, "code").item() == pytest.approx(225.0)
    assert losses.feature_magnitude_loss(xn, xa, 100.0, "hinge").item() == pytest.approx(15.0)
    # abnormal magnitude above the margin: code penalises |100 - 120| = 20, hinge does not
    xa[0, :, 0] = 120.0
    assert losses.feature_magnitude_loss(xn, xa, 100.0, "code").item() == pytest.approx(25.0**2)
    assert losses.feature_magnitude_loss(xn, xa, 100.0, "hinge").item() == pytest.approx(0.0)


# ---------------------------------------------------------------------------------- contrastive
def test_contrastive_at_zero_and_beyond_margin():
    a = t([[1.0, 2.0, 3.0]])
    assert losses.contrastive(a, a.clone(), 0.0).item() == pytest.approx(0.0, abs=1e-9)
    # d ~ 0 with y = 1: (200 - 0)^2
    assert losses.contrastive(a, a.clone(), 1.0).item() == pytest.approx(40000.0, rel=1e-6)
    far = a + t([[300.0, 0.0, 0.0]])  # d = 300 >= 200
    assert losses.contrastive(far, a, 1.0).item() == pytest.approx(0.0)
    assert losses.contrastive(far, a, 0.0).item() == pytest.approx(300.0**2, rel=1e-6)
    mid = a + t([[0.0, 150.0, 0.0]])  # d = 150 -> y=1: 50^2
    assert losses.contrastive(mid, a, 1.0).item() == pytest.approx(2500.0, rel=1e-4)


def test_mgfn_halves_pairing():
    n_crops, b = 2, 4
    # crop-major rows: row c*B + v holds value 10*c + v
    rows = t([[10.0 * c + v] for c in range(n_crops) for v in range(b)])
    second, first = losses.split_halves(rows, n_crops, "videos")
    # default: video v with video v + B/2, same crop
    assert first.flatten().tolist() == [0.0, 1.0, 10.0, 11.0]
    assert second.flatten().tolist() == [2.0, 3.0, 12.0, 13.0]
    second, first = losses.split_halves(rows, n_crops, "rows")
    # released code: rows cut at N*B/2 -> crop 0 of video v paired with crop 1 of the same video
    assert first.flatten().tolist() == [0.0, 1.0, 2.0, 3.0]
    assert second.flatten().tolist() == [10.0, 11.0, 12.0, 13.0]


def test_mgfn_rows_pairing_is_zero_for_flip_twins():
    # ten-crop style: crop c + N/2 is the flipped twin of crop c (identical magnitudes here)
    g = torch.Generator().manual_seed(0)
    twin = torch.rand(5 * 4, 3, 8, generator=g)
    feats = torch.cat([twin, twin])  # crops 5..9 = crops 0..4
    other = torch.rand(10 * 4, 3, 8, generator=g)
    rows = losses.magnitude_contrast(feats, other * 0 + 1000, 10, "rows", inter_weight=0.0)
    vids = losses.magnitude_contrast(feats, other * 0 + 1000, 10, "videos", inter_weight=0.0)
    assert rows.item() == pytest.approx(0.0, abs=1e-6)
    assert vids.item() > 0.01


# ------------------------------------------------------------------------------------ MIL / S3R
def test_mil_ranking_hinge():
    s_a = t([[0.9, 0.1], [0.2, 0.0]])  # maxima 0.9, 0.2
    s_n = t([[0.1, 0.0], [0.3, 0.5]])  # maxima 0.1, 0.5
    # j=0: max(0, 1-.9+.1)=.2 + max(0, 1-.2+.1)=.9 -> 1.1 ; j=1: .6 + 1.3 = 1.9 ; mean = 1.5
    assert losses.mil_ranking(s_n, s_a).item() == pytest.approx(1.5)
    assert losses.mil_ranking(t([[0.0]]), t([[1.0]])).item() == pytest.approx(0.0)


def test_s3r_macro_target_is_zero():
    assert losses.macro_bce(t([0.5, 0.5])).item() == pytest.approx(math.log(2))
    assert losses.macro_bce(t([1e-6, 1e-6])).item() == pytest.approx(0.0, abs=1e-5)


def test_topk_bce():
    assert losses.topk_bce(t([0.5]), t([0.5])).item() == pytest.approx(math.log(2))
    assert losses.topk_bce(t([0.0]), t([1.0])).item() == pytest.approx(0.0)


# ------------------------------------------------------------------------------- full method loss
def _rtfm_batch():
    g = torch.Generator().manual_seed(1)
    b, n, tt, c = 2, 2, 5, 4
    feats = torch.rand(2 * b * n, tt, c, generator=g) * 10
    scores = torch.rand(2 * b, tt, generator=g)
    return BagOutput(scores=scores, features=feats), b, n


def test_rtfm_loss_is_sum_of_its_terms():
    out, b, n = _rtfm_batch()
    cfg = deep_merge(WS["rtfm"], {"k": 3, "select_dropout": 0.0,
                                  "loss": {"alpha": 1e-4, "margin": 100.0, "smooth": 8e-4, "sparsity": 8e-3}})
    total, parts = losses.method_loss("rtfm", out, b, n, cfg)
    assert set(parts) == {"bce", "magnitude", "smooth", "sparsity"}
    s_a = out.scores[b:]
    assert parts["smooth"] == pytest.approx(8e-4 * losses.smoothness(s_a).item(), rel=1e-6)
    assert parts["sparsity"] == pytest.approx(8e-3 * s_a.sum().item() / b, rel=1e-6)
    assert total.item() == pytest.approx(sum(parts.values()), rel=1e-6)
    # faithful switches change exactly the smooth / sparsity terms
    _, code = losses.method_loss("rtfm", out, b, n, {**cfg, "smooth_mode": "flattened", "sparsity_norm": "l2"})
    assert code["smooth"] == pytest.approx(8e-4 * losses.smoothness(s_a, "flattened").item(), rel=1e-6)
    assert code["sparsity"] == pytest.approx(8e-3 * s_a.reshape(-1).norm().item(), rel=1e-6)
    assert code["bce"] == pytest.approx(parts["bce"]) and code["magnitude"] == pytest.approx(parts["magnitude"])


def test_mgfn_sparsity_on_normal_switch_and_smooth_all_videos():
    out, b, n = _rtfm_batch()
    cfg = deep_merge(WS["mgfn"], {"k": 3, "select_dropout": 0.0, "loss": {"smooth": 1.0, "sparsity": 1.0}})
    _, parts = losses.method_loss("mgfn", out, b, n, cfg)
    assert parts["smooth"] == pytest.approx(losses.smoothness(out.scores).item(), rel=1e-6)  # all 2B videos
    assert parts["sparsity"] == pytest.approx(out.scores[b:].sum().item() / b, rel=1e-6)
    _, code = losses.method_loss("mgfn", out, b, n, {**cfg, "sparsity_on": "normal", "sparsity_norm": "l2"})
    assert code["sparsity"] == pytest.approx(out.scores[:b].reshape(-1).norm().item(), rel=1e-6)


def test_s3r_macro_switch():
    out, b, n = _rtfm_batch()
    out.macro = t([0.5] * (2 * b))
    cfg = {**WS["s3r"], "k": 3, "select_dropout": 0.0}
    _, on = losses.method_loss("s3r", out, b, n, cfg)
    assert on["macro"] == pytest.approx(math.log(2))
    for off in ("off", False):
        _, parts = losses.method_loss("s3r", out, b, n, {**cfg, "s3r_macro_loss": off})
        assert "macro" not in parts


def test_mil_loss_terms():
    s = t([[0.1, 0.2], [0.0, 0.4], [0.9, 0.5], [0.3, 0.3]])  # 2 normal, 2 abnormal
    total, parts = losses.method_loss("mil", BagOutput(scores=s), 2, 1,
                                       deep_merge(WS["mil"], {"loss": {"sparsity": 1.0, "smooth": 1.0}}))
    # ranking: abn max .9,.3 ; nor max .2,.4 -> j0: .3+.9=1.2 ; j1: .5+1.1=1.6 ; mean 1.4
    assert parts["ranking"] == pytest.approx(1.4)
    assert parts["sparsity"] == pytest.approx(0.9 + 0.5 + 0.3 + 0.3)
    assert parts["smooth"] == pytest.approx(0.4**2 + 0.0)
    assert total.item() == pytest.approx(1.4 + 2.0 + 0.16)
