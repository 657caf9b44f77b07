"""Memory read, the three memory losses, pseudo generators, masking and fusion shapes (spec §6)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vad_kedro.pipelines.memory_fusion.losses import (
    compactness_loss,
    memory_loss,
    reconstruction_loss,
    separateness_loss,
)
from vad_kedro.pipelines.memory_fusion.models import (
    AppAutoencoder,
    CrossModalAttention,
    MemoryBank,
    SMAFFHead,
    memory_read,
    pseudo_features,
)


def ranked_items(d: int = 34, m: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    """Query along e0 and items c_i·e0 + small orthogonal parts with c descending: rank i = item i."""
    torch.manual_seed(0)
    q = torch.zeros(2, d)
    q[:, 0] = 1.0
    q[1, 1] = 0.1
    items = torch.zeros(m, d)
    items[:, 0] = torch.linspace(3.0, -3.0, m)
    items[:, 2:] = torch.randn(m, d - 2) * 0.1
    return q, items


def test_autoencoder_shapes():
    ae = AppAutoencoder(512, 34)
    x = torch.randn(5, 512)
    assert ae.encode(x).shape == (5, 34)
    assert ae(x).shape == (5, 512)


def test_memory_read_is_softmax_weighted_items():
    q, items = ranked_items()
    p = torch.softmax(q @ items.t(), dim=1)
    expected = p @ items
    out = MemoryBank(items)(q)
    assert out.shape == (2, 34)
    torch.testing.assert_close(out, expected)
    # one dominant item: the read returns (almost) that item
    big = torch.eye(3, 34) * 50
    torch.testing.assert_close(memory_read(big[1:2], big), big[1:2], atol=1e-4, rtol=0)


def test_separateness_uses_rank_1_and_rank_6():
    q, items = ranked_items()
    expected = F.triplet_margin_loss(q, items[[0, 0]], items[[5, 5]], margin=1.0)
    torch.testing.assert_close(separateness_loss(q, items, k=5, margin=1.0), expected)


def test_compactness_is_softmax_of_top5_probabilities():
    q, items = ranked_items()
    p = torch.softmax(q @ items.t(), dim=1)
    w = torch.softmax(p[:, :5], dim=1)  # items 0..4 are the top-5 by construction
    gathered = torch.einsum("nk,kd->nd", w, items[:5])
    torch.testing.assert_close(compactness_loss(q, items, k=5), ((gathered - q) ** 2).mean())


def test_reconstruction_and_total():
    q, items = ranked_items()
    lr = ((torch.softmax(q @ items.t(), 1) @ items - q) ** 2).mean()
    torch.testing.assert_close(reconstruction_loss(q, items), lr)
    total, parts = memory_loss(q, items)
    expected = 5 * compactness_loss(q, items) + separateness_loss(q, items) + reconstruction_loss(q, items)
    torch.testing.assert_close(total, expected)
    assert parts["reconstruction"] == pytest.approx(float(lr), rel=1e-6)


def test_pseudo_features_identity_when_items_equal_query():
    q = torch.randn(1, 34)
    items = q.repeat(12, 1)
    normal, anomaly = pseudo_features(q, items)
    torch.testing.assert_close(normal, q)
    torch.testing.assert_close(anomaly, q)


def test_pseudo_anomaly_uses_exactly_ranks_6_to_10():
    q, items = ranked_items()
    normal, anomaly = pseudo_features(q, items)
    assert normal.shape == q.shape and anomaly.shape == q.shape
    p = torch.softmax(q @ items.t(), dim=1)
    a = torch.einsum("nk,kd->nd", torch.softmax(p[:, 0:5], 1), items[0:5])
    b = torch.einsum("nk,kd->nd", torch.softmax(p[:, 5:10], 1), items[5:10])
    torch.testing.assert_close(normal, 0.5 * q + 0.5 * a)
    torch.testing.assert_close(anomaly, 0.01 * q + 0.99 * b)
    with pytest.raises(ValueError, match="at least 10"):
        pseudo_features(q, items[:9])


def _frames(n_frames: int = 4, t_max: int = 5, n_mod: int = 3, n_real: int = 2):
    torch.manual_seed(1)
    feats = [torch.randn(n_frames, t_max, 34) for _ in range(n_mod)]
    valid = torch.zeros(n_frames, t_max, dtype=torch.bool)
    valid[:, :n_real] = True
    for f in feats:
        f[~valid] = 0.0
    return feats, valid


@pytest.mark.parametrize("n_mod", [2, 3])
def test_padded_objects_change_nothing(n_mod):
    feats, valid = _frames(n_mod=n_mod)
    torch.manual_seed(0)
    head = SMAFFHead(n_mod, t_max=5, hidden=16).eval()
    junk = [f.clone() for f in feats]
    for f in junk:
        f[~valid] = torch.randn(int((~valid).sum()), 34) * 10
    with torch.no_grad():
        torch.testing.assert_close(head(feats, valid), head(junk, valid), rtol=0, atol=0)
        # the faithful reference mask never fires: the same junk now changes the scores
        head.attention.mask_noop = True
        assert not torch.allclose(head(feats, valid), head(junk, valid))


def test_fusion_shapes_and_output_range():
    feats, valid = _frames(n_frames=3, t_max=7)
    head = SMAFFHead(3, t_max=7).eval()
    assert head.attention(feats, valid).shape == (3, 7, 204)
    assert head.classifier.fc1.in_features == 7 * 204
    s = torch.sigmoid(head(feats, valid))
    assert s.shape == (3,) and bool(((s > 0) & (s < 1)).all())
    nopose = SMAFFHead(2, t_max=7).eval()
    assert nopose.attention(feats[:2], valid).shape == (3, 7, 136)


@pytest.mark.parametrize("typo", [False, True])
def test_k3_typo_switch(typo):
    feats, valid = _frames()
    torch.manual_seed(0)
    att = CrossModalAttention(3, k3_typo=typo).eval()
    with torch.no_grad():
        before = att(feats, valid)[..., 34:68]  # f2u
        att.wk[2].weight.add_(torch.randn_like(att.wk[2].weight))
        after = att(feats, valid)[..., 34:68]
    assert torch.equal(before, after) is (not typo)


def test_fusion_loss_is_sum_of_four_bce_terms():
    from vad_kedro.pipelines.memory_fusion.losses import fusion_loss, pseudo_bce

    logits = torch.tensor([[0.3, -1.0, 2.0], [1.5, 0.2, -0.4], [0.0, 0.7, 1.1], [-2.0, 0.5, 0.9]])
    targets = torch.tensor([0.0, 1.0, 1.0, 1.0])
    expected = sum(pseudo_bce(logits[c], float(targets[c])) for c in range(4))
    torch.testing.assert_close(fusion_loss(logits, targets), expected)
    # hand value of one term: BCE(sigmoid(0.3), 0) = log(1 + e^0.3)
    torch.testing.assert_close(pseudo_bce(torch.tensor([0.3]), 0.0), torch.log1p(torch.exp(torch.tensor(0.3))))
