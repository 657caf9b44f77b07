"""Module shapes at small and published sizes, parameter counts, top-k selection (spec §7 "Shapes")."""

from __future__ import annotations

import pytest
import torch

from vad_kedro.pipelines.weak_supervision.models import (
    MGFN,
    RTFM,
    S3R,
    Focus,
    MILRanker,
    NonLocal1d,
    build_model,
    count_parameters,
    magnitude_topk,
)

from ...conf_params import yaml_group



def test_published_parameter_counts():
    assert count_parameters(RTFM(2048)) == 24_718_849
    assert count_parameters(MGFN(2048)) == 28_652_773


def test_s3r_published_structure():
    # S3R at 2048-d: its heads are RTFM's 2048 -> 512 -> 128 -> 1 and the Aggregate width is C/4 = 512
    model = S3R(2048, torch.zeros(400, 2048))
    assert [m.out_features for m in model.video_classifier if isinstance(m, torch.nn.Linear)] == [512, 128, 1]
    assert model.video_embedding[0].pdc[0][0].out_channels == 512
    assert model.atoms.shape == (400, 2048)


@pytest.mark.parametrize("method", ["mil", "rtfm", "mgfn", "s3r"])
def test_small_shapes(method):
    b, n, t, c = 3, 2, 32, 64
    small = {"rtfm": {"width": 16, "head": [16, 8]}, "mgfn": {"dims": [16, 32, 64], "depths": [1, 1, 1], "dim_head": 16},
             "s3r": {}, "mil": {}}[method]
    cfg = {**yaml_group("weak_supervision")[method]["model"], **small}
    model = build_model(method, cfg, c, torch.randn(5, c))
    out = model(torch.randn(2 * b, n, t, c))
    assert out.scores.shape == (2 * b, t)
    assert torch.all((out.scores >= 0) & (out.scores <= 1))
    if method != "mil":
        assert out.features.shape[:2] == (2 * b * n, t)
        top = magnitude_topk(out.features, out.scores, b, n, 3)
        assert top.feat_normal.shape == (n * b, 3, out.features.shape[2])
        assert top.feat_abnormal.shape == (n * b, 3, out.features.shape[2])
        assert top.score_normal.shape == (b,) and top.score_abnormal.shape == (b,)
    if method == "s3r":
        assert out.macro.shape == (2 * b,)
    # scoring a single full-length video of another length works in eval mode
    model.eval()
    assert model(torch.randn(1, n, 7, c)).scores.shape == (1, 7)


def test_published_shapes_forward():
    torch.manual_seed(0)
    x = torch.randn(2, 10, 32, 2048)  # 1 normal + 1 abnormal bag, 10 crops, 32 segments, 2048-d
    for model in (RTFM(2048), MGFN(2048)):
        out = model(x)
        assert out.scores.shape == (2, 32)
        top = magnitude_topk(out.features, out.scores, 1, 10, 3)
        assert top.feat_abnormal.shape == (10, 3, out.features.shape[2])
    assert out.features.shape == (20, 32, 1024)


def test_non_local_is_identity_at_init():
    block = NonLocal1d(16)
    x = torch.randn(3, 16, 9)
    torch.testing.assert_close(block(x), x)
    block.eval()
    torch.testing.assert_close(block(x), x)


def test_focus_head_view():
    # channel c*h + j of the 1x1 output goes to row c, head j of the grouped convolution
    focus = Focus(dim=4, heads=2, dim_head=2, kernel=1)
    with torch.no_grad():
        focus.rel_pos.weight.copy_(torch.tensor([[[1.0]], [[10.0]]]))
        focus.rel_pos.bias.zero_()
    v = torch.arange(4.0).view(1, 4, 1)
    out = focus.rel_pos(v.reshape(-1, 2, 1)).reshape(1, 4, 1)
    assert out.flatten().tolist() == [0.0, 10.0, 2.0, 30.0]  # heads alternate along channels


def _loop_topk(features, scores, n_normal, n_crops, k, masks):
    """Explicit per-crop selection loop (the spec's description), with given dropout masks."""
    bn, t, f = features.shape
    b = bn // n_crops
    mags = features.norm(dim=2).view(b, n_crops, t).mean(1)
    idx_a = torch.topk(mags[n_normal:] * masks[0], k, dim=1)[1]
    idx_n = torch.topk(mags[:n_normal] * masks[1], k, dim=1)[1]
    sel_a, sel_n = [], []
    ab = features[n_normal * n_crops:].view(-1, n_crops, t, f)
    no = features[: n_normal * n_crops].view(-1, n_crops, t, f)
    for c in range(n_crops):
        sel_a.append(torch.stack([ab[v, c, idx_a[v]] for v in range(ab.shape[0])]))
        sel_n.append(torch.stack([no[v, c, idx_n[v]] for v in range(no.shape[0])]))
    s_a = torch.stack([scores[n_normal + v, idx_a[v]].mean() for v in range(ab.shape[0])])
    s_n = torch.stack([scores[v, idx_n[v]].mean() for v in range(no.shape[0])])
    return s_n, s_a, torch.cat(sel_n), torch.cat(sel_a)


def test_topk_matches_per_crop_loop_with_same_dropout():
    g = torch.Generator().manual_seed(3)
    b, n, t, f = 4, 3, 32, 6
    feats = torch.rand(2 * b * n, t, f, generator=g)
    scores = torch.rand(2 * b, t, generator=g)
    torch.manual_seed(11)
    top = magnitude_topk(feats, scores, b, n, 3, 0.7, training=True)
    torch.manual_seed(11)  # same global RNG stream: abnormal mask first, then normal
    masks = (torch.nn.functional.dropout(torch.ones(b, t), 0.7), torch.nn.functional.dropout(torch.ones(b, t), 0.7))
    s_n, s_a, x_n, x_a = _loop_topk(feats, scores, b, n, 3, masks)
    torch.testing.assert_close(top.score_normal, s_n)
    torch.testing.assert_close(top.score_abnormal, s_a)
    torch.testing.assert_close(top.feat_normal, x_n)
    torch.testing.assert_close(top.feat_abnormal, x_a)


def test_topk_eval_picks_largest_magnitudes():
    feats = torch.zeros(2, 5, 1)  # 1 normal + 1 abnormal video, 1 crop
    feats[1, :, 0] = torch.tensor([1.0, 5.0, 2.0, 4.0, 3.0])
    scores = torch.tensor([[0.0] * 5, [0.1, 0.5, 0.2, 0.4, 0.3]])
    top = magnitude_topk(feats, scores, 1, 1, 3, training=False)
    assert top.score_abnormal.item() == pytest.approx((0.5 + 0.4 + 0.3) / 3)
    assert sorted(top.feat_abnormal.flatten().tolist()) == [3.0, 4.0, 5.0]


def test_mil_normalises_inputs():
    model = MILRanker(8).eval()
    x = torch.randn(1, 2, 4, 8)
    torch.testing.assert_close(model(x).scores, model(x * 17.0).scores)
