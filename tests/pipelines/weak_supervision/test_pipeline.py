"""End to end on the embedded generator: `kedro run --env=smoke --pipelines=weak_supervision`.

The smoke preset has only 3 + 3 weakly labelled training videos of 4 snippets, too few for a
weakly supervised detector to learn anything (its scores are noise). This test renders the same
generator with 12 + 12 training videos of 8 snippets (6 test videos, 96x128), runs the registered
pipeline with the base (not the smoke) training budgets, and checks the outputs of every method and
that MIL and RTFM clearly beat chance (bars from the measured distribution below).
"""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from tests.conftest import SmokeProject
from vad_kedro.pipelines.weak_supervision import METHODS

#: Generator overrides: more (and longer) weakly labelled training videos than the smoke preset.
BENCHMARK = {"n_train_normal": 12, "n_train_abnormal": 12, "n_frames": 128, "n_test_abnormal": 4, "n_test_normal": 2}
SEEDS = {"mil": 2, "rtfm": 1, "mgfn": 1, "s3r": 1}
#: Frame-level micro AUC (mean over the run's seeds) a method must reach. Measured on this benchmark with
#: the corrected scorer, single seeds 42..46 (VAD_SEED_OFFSET 0..4), 1 torch thread | 2 threads (mil and
#: mgfn gave the same figures to the last digit with both):
#:   mil  0.827 0.849 0.841 0.834 0.839 (AP 0.685-0.712)                  -> bar 0.75, 0.077 below the worst
#:   rtfm 0.920 0.832 0.904 0.771 0.832 | 0.888 0.882 0.864 0.799 0.887 (AP 0.387-0.736)
#:                                                                         -> bar 0.70, 0.071 below the worst
#:   mgfn 0.496 0.454 0.669 0.640 0.911, s3r 0.532 0.515 0.788 0.807 0.832 | 0.531 0.404 0.871 0.792 0.688:
#:   no bar. Single runs of these
#:   two fall to chance or below on some seeds, so "beats chance" does not hold per run (see
#:   docs/pipelines/weak_supervision.md); their outputs are still checked here and their scoring
#:   contract in tests/contracts. The positive frame rate is 0.212 (the AP bar).
MIN_AUC = {"mil": 0.75, "rtfm": 0.70}


@pytest.fixture(scope="module")
def ws_project(tmp_path_factory) -> SmokeProject:
    project = SmokeProject(tmp_path_factory.mktemp("ws_project"))
    params = project.path / "conf" / "smoke" / "parameters.yml"
    cfg = yaml.safe_load(params.read_text())
    cfg["dataset"].update(name="synthetic_ws", root="data/01_raw/synthetic_ws")
    cfg["dataset"]["synthetic"]["overrides"] = BENCHMARK
    params.write_text(yaml.safe_dump(cfg, sort_keys=False))
    ws = {m: {"n_seeds": n} for m, n in SEEDS.items()}   # base budgets, fewer seeds
    (project.path / "conf" / "smoke" / "parameters_weak_supervision.yml").write_text(
        yaml.safe_dump({"weak_supervision": ws}))
    project.run("weak_supervision")
    return project


@pytest.mark.slow
def test_outputs_of_every_method(ws_project):
    index = ws_project.load("video_index")
    tests = index[index.split == "test"].set_index("video_id")["n_frames"]
    for method in METHODS:
        scores = ws_project.load(f"{method}.frame_scores")
        assert set(scores.columns) >= {"video_id", "frame", "score", "seed"}
        assert scores["seed"].nunique() == SEEDS[method]
        # one row per frame of every test video, per seed
        counts = scores.groupby(["seed", "video_id"]).size().unstack(0)
        assert set(counts.index) == set(tests.index)
        np.testing.assert_array_equal(counts.to_numpy(), np.repeat(tests.loc[counts.index].to_numpy()[:, None],
                                                                   SEEDS[method], axis=1))
        assert np.isfinite(scores["score"]).all()
        model = ws_project.load(f"{method}.model")  # torch.load(weights_only=True)
        assert model["method"] == method and len(model["seeds"]) == SEEDS[method]


@pytest.mark.slow
@pytest.mark.parametrize("method", sorted(MIN_AUC))
def test_method_beats_chance_on_the_embedded_benchmark(ws_project, method):
    metrics = ws_project.load(f"{method}.metrics")
    assert metrics["micro_auc"] >= MIN_AUC[method], metrics
    positives = ws_project.load("frame_labels")
    assert metrics["ap"] > float(np.mean(positives["label"])), metrics   # AP above the positive rate
