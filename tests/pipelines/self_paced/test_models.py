"""ReconCAE shapes and the absence of any skip path (spec section 6, CAE)."""

import torch

from vad_kedro.pipelines.self_paced.models import ReconCAE, build_models


def test_raw_and_flow_shapes():
    models = build_models(nf=8, use_flow=True)
    x = torch.rand(3, 15, 32, 32)
    assert models["raw"](x).shape == (3, 15, 32, 32)
    assert models["flow"](x).shape == (3, 10, 32, 32)
    assert set(build_models(nf=8)) == {"raw"}


def test_bottleneck_is_4x4_with_8nf_channels():
    m = ReconCAE(nf=8)
    assert m.encode(torch.rand(2, 15, 32, 32)).shape == (2, 64, 4, 4)


def test_no_skip_path():
    torch.manual_seed(0)
    m = ReconCAE(nf=8).eval()
    m.encoder[3].register_forward_hook(lambda mod, inp, out: torch.zeros_like(out))
    a, b = torch.rand(2, 15, 32, 32), torch.rand(2, 15, 32, 32)
    with torch.no_grad():
        assert torch.equal(m(a), m(b))
        # sanity: without the hook the input matters
        m2 = ReconCAE(nf=8).eval()
        assert not torch.equal(m2(a), m2(b))


def test_output_head_is_linear():
    m = ReconCAE(nf=8)
    assert isinstance(m.head, torch.nn.Conv2d) and m.head.kernel_size == (1, 1)
