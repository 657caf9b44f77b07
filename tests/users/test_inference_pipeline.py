"""The inference pipeline reuses each method's scoring nodes, guarded by the requested method."""

import types

import pandas as pd
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline, node
from kedro.runner import SequentialRunner

from vad_kedro.io import LazyCheckpoint
from vad_kedro.pipelines.inference import nodes
from vad_kedro.pipelines.inference.pipeline import _guarded_nodes, scoring_part, unsupported_inputs


def _train(x):
    return {"w": x}


def _score(features, index, model):
    return pd.DataFrame({"video_id": ["input"], "frame": [0], "score": [float(model["w"])]})


def _module():
    mod = types.ModuleType("toy")
    mod.METHODS = ["a", "b"]
    mod.create_pipeline = lambda: Pipeline([
        node(_train, "params:a", "a.model", name="a.train"),
        node(_train, "params:b", "b.model", name="b.train"),
        node(_score, ["snippet_features", "video_index", "a.model"], "a.frame_scores", name="a.score"),
        node(_score, ["snippet_features", "video_index", "b.model"], "b.frame_scores", name="b.score"),
    ])
    return mod


def test_scoring_part_is_what_depends_on_models():
    part = scoring_part(_module())
    assert {n.name for n in part.nodes} == {"a.score", "b.score"}
    assert unsupported_inputs(part) == set()


def test_only_the_requested_method_runs_and_reads_its_model():
    guarded = _guarded_nodes(scoring_part(_module()), ["a", "b"])
    never = LazyCheckpoint(None, "b.model")          # b was never trained: must not be touched
    catalog = DataCatalog({
        "snippet_features": MemoryDataset({}), "video_index": MemoryDataset(pd.DataFrame()),
        "a.model": MemoryDataset(LazyCheckpoint(None, "a")), "b.model": MemoryDataset(never),
        "params:method": MemoryDataset("a"),
    })
    catalog["a.model"] = MemoryDataset({"w": 3.0})   # a plain (already loaded) model also works
    out = SequentialRunner().run(guarded, catalog)
    a = catalog.load("a.frame_scores") if "a.frame_scores" in catalog else out["a.frame_scores"]
    b = catalog.load("b.frame_scores") if "b.frame_scores" in catalog else out["b.frame_scores"]
    assert isinstance(a, pd.DataFrame) and a["score"].iloc[0] == 3.0
    assert b == nodes.SKIPPED
