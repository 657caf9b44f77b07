"""Pipeline wiring, configuration files, and the end-to-end smoke run (slow)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from vad_kedro.pipelines.inference.pipeline import scoring_part, unsupported_inputs
from vad_kedro.pipelines.two_stream import METHODS, create_pipeline

REPO = Path(__file__).resolve().parents[3]


def test_wiring():
    pipe = create_pipeline()
    assert METHODS == ["crkr_cr", "crkr_kr", "crkr", "crkr_nominmax"]
    assert {f"{m}.frame_scores" for m in METHODS} <= pipe.outputs()
    assert "frame_labels" not in pipe.all_inputs()
    assert pipe.inputs() == {"frames", "video_index", "params:two_stream", "params:seed", "params:device",
                             "params:deterministic"}
    assert all(n.namespace and n.namespace.startswith("crkr.") for n in pipe.nodes)
    alt = create_pipeline(kr_feature_source="snippet_features")
    assert "snippet_features" in alt.inputs()
    # inference reruns the nodes downstream of the checkpoints: scoring only, on per-video data
    for built in (pipe, alt):
        part = scoring_part(SimpleNamespace(METHODS=METHODS, create_pipeline=lambda b=built: b))
        assert {n.name.rsplit(".", 1)[1] for n in part.nodes} == {
            "score_cr", "score_kr", "cr_frame_scores", "kr_frame_scores", "fuse_scores", "fuse_scores_nominmax"}
        # one node per method's frame scores, so inference runs only what the requested method needs
        assert all(len(n.outputs) == 1 for n in part.nodes)
        assert unsupported_inputs(part) == set()
    with pytest.raises(ValueError):
        create_pipeline(kr_feature_source="bogus")


def test_parameter_files_agree():
    base = yaml.safe_load((REPO / "conf/base/parameters_two_stream.yml").read_text())
    smoke = yaml.safe_load((REPO / "conf/smoke/parameters_two_stream.yml").read_text())
    assert list(base) == ["two_stream"] and list(smoke) == ["two_stream"]

    def keys_exist(sub, ref, path=""):
        for k, v in sub.items():
            assert k in ref, f"smoke key {path}{k} not in base"
            if isinstance(v, dict):
                keys_exist(v, ref[k], f"{path}{k}.")

    keys_exist(smoke["two_stream"], base["two_stream"])
    catalog = yaml.safe_load((REPO / "conf/base/catalog_two_stream.yml").read_text())
    assert all(k.split(".")[0] in METHODS for k in catalog)


@pytest.mark.slow
def test_smoke_run(smoke_project):
    """crkr's smoke micro AUC, seeds 42..46 (VAD_SEED_OFFSET 0..4): 1 thread 0.581 0.672 0.683 0.770 0.565;
    2 threads 0.638 0.630 0.740 0.594 0.655 -> bar 0.50 (not below chance), 0.065 under the worst. The former 0.55 sat 0.015 under
    it; the quality bars of CRKR are the blob-video ones in test_nodes.py."""
    smoke_project.run("two_stream")
    index = smoke_project.load("video_index")
    n_test = index.loc[index.split == "test", "n_frames"].sum()
    for method in METHODS:
        scores = smoke_project.load(f"{method}.frame_scores")
        assert len(scores) == n_test and np.isfinite(scores["score"]).all()
    model = smoke_project.load("crkr_kr.model")
    assert "table0.keys" in model["tables"]
    metrics = smoke_project.load("crkr.metrics")
    assert metrics["micro_auc"] > 0.50
