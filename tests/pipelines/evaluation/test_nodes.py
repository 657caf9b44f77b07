"""Evaluation nodes on hand-made scores."""

import numpy as np
import pandas as pd
import pytest

from vad_kedro.core.errors import DataError
from vad_kedro.pipelines.evaluation import nodes


@pytest.fixture
def labels():
    return pd.DataFrame({
        "video_id": ["a"] * 4 + ["b"] * 4,
        "frame": [0, 1, 2, 3] * 2,
        "label": [0, 0, 1, 1, 1, 1, 1, 1],
        "anomaly_type": ["", "", "running", "running", "falling", "falling", "falling", "falling"],
    })


def _scores(values, seed=None):
    df = pd.DataFrame({"video_id": ["a"] * 4 + ["b"] * 4, "frame": [0, 1, 2, 3] * 2, "score": values})
    if seed is not None:
        df["seed"] = seed
    return df


def test_evaluate_method_values_and_skipped_video(labels):
    scores = _scores([0.1, 0.2, 0.9, 0.8, 0.5, 0.6, 0.7, 0.05])
    summary, tracked, per_video, per_type = nodes.evaluate_method(scores, labels, {"name": "toy"}, "m")
    # negatives 0.1, 0.2; positives 0.9, 0.8, 0.5, 0.6, 0.7 beat both, 0.05 neither -> 10/12
    assert summary["micro_auc"] == pytest.approx(10 / 12)
    assert summary["macro_auc"] == pytest.approx(1.0)          # only video a has both classes
    assert summary["skipped_macro_videos"] == ["b"]
    assert summary["per_type_auc"] == {"falling": pytest.approx(6 / 8), "running": pytest.approx(1.0)}
    assert tracked["micro_auc"] == summary["micro_auc"]
    assert per_video.set_index("video_id").loc["a", "auc"] == pytest.approx(1.0)
    assert set(per_type["anomaly_type"]) == {"falling", "running"}


def test_seeds_give_mean_and_std(labels):
    good = _scores([0.1, 0.2, 0.9, 0.8, 0.5, 0.6, 0.7, 0.3], seed=0)   # AUC 1.0
    half = _scores([0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5], seed=1)   # AUC 0.5
    summary, *_ = nodes.evaluate_method(pd.concat([good, half]), labels, {"name": "toy"}, "m")
    assert summary["n_seeds"] == 2
    assert summary["micro_auc"] == pytest.approx(0.75)
    assert summary["micro_auc_std"] == pytest.approx(0.25)


def test_missing_or_nan_scores_are_named(labels):
    with pytest.raises(DataError, match="m.frame_scores: 1 labelled frames have no score"):
        nodes.evaluate_method(_scores([0.1] * 8).iloc[:7], labels, {}, "m")
    with pytest.raises(DataError, match="NaN or inf"):
        nodes.evaluate_method(_scores([np.nan] + [0.1] * 7), labels, {}, "m")


def test_leaderboard_merges_stored_and_fresh_metrics(labels):
    fresh, *_ = nodes.evaluate_method(_scores([0.1, 0.2, 0.9, 0.8, 0.5, 0.6, 0.7, 0.3]), labels, {"name": "toy"}, "new")
    old = dict(fresh, method="old", micro_auc=0.6)
    stale_new = dict(fresh, micro_auc=0.1)
    table, md, per_type = nodes.build_leaderboard({"old/metrics.json": lambda: old, "new/metrics.json": lambda: stale_new},
                                                  {"new.train": 2.0, "new.score": 0.5, "old.train": 9.0}, fresh)
    assert table["method"].tolist() == ["new", "old"]              # fresh metrics override stored ones
    assert table.set_index("method").loc["new", "seconds"] == pytest.approx(2.5)
    assert "| new | toy | 1.000 |" in md and "Per-anomaly-type AUC" in md
    header, _, new_row = md.splitlines()[:3]
    cells = dict(zip(header.split("|"), new_row.split("|"), strict=True))
    assert cells[" seeds "].strip() == "1"                          # single-seed rows say so
    assert set(per_type["method"]) == {"new", "old"}


def test_motion_energy_sees_motion():
    frames = np.zeros((4, 20, 20, 3), np.uint8)
    frames[2, 5:15, 5:15] = 200            # something appears at frame 2 and leaves at 3
    energy = nodes.motion_energy(frames)
    assert energy.shape == (4,)
    assert energy[0] == energy[1] == 0 and energy[2] > 0 and energy[3] > 0


def test_plots_are_figures(labels):
    scores = _scores([0.1, 0.2, 0.9, 0.8, 0.5, 0.6, 0.7, 0.3])
    fig = nodes.plot_roc(scores, labels, "m")
    assert fig.axes[0].get_title() == "ROC: m"
    fig2 = nodes.plot_score_curves(scores, labels, 2, "m")
    assert len(fig2.axes) == 2


def test_report_is_self_contained_html(labels):
    from vad_kedro.pipelines.evaluation import report

    good = _scores([0.1, 0.2, 0.9, 0.8, 0.5, 0.6, 0.7, 0.3])
    summary, *_ = nodes.evaluate_method(good, labels, {"name": "toy"}, "m")
    board, _, per_type = nodes.build_leaderboard({}, {"m.train": 3.0, "prepare_raw": 1.0}, summary)
    page = report.build_report(board, per_type, labels, {"m/": lambda: good}, {"m.train": 3.0, "prepare_raw": 1.0},
                               2, {"m": "method_pipe"})
    assert page.startswith("<html>") and "</html>" in page
    assert "Leaderboard" in page and "Per-anomaly-type AUC" in page and "ROC curves" in page
    assert page.count("data:image/png;base64,") == 2                    # ROC + hardest videos, embedded
    assert "method_pipe" in page and "preprocessing" in page            # run time per pipeline
    assert "http" not in page.replace("http-equiv", "")                 # nothing fetched from outside


def test_pipeline_times_groups_by_method_pipeline():
    from vad_kedro.pipelines.evaluation.report import pipeline_times

    t = pipeline_times({"rtfm.train": 2.0, "mil.train": 1.0, "prepare_raw": 0.5, "feature_extraction.flow": 4.0},
                       {"rtfm": "weak_supervision", "mil": "weak_supervision"}).set_index("pipeline")["seconds"]
    assert t.to_dict() == {"feature_extraction": 4.0, "weak_supervision": 3.0, "preprocessing": 0.5}


def test_roc_legends_name_the_seed_they_show(labels):
    """A method with several seeds is drawn with its first seed's curve, and its legend says which."""
    from vad_kedro.pipelines.evaluation import report

    two = pd.concat([_scores([0.1, 0.2, 0.9, 0.8, 0.5, 0.6, 0.7, 0.3], seed=s) for s in (7, 8)], ignore_index=True)
    fig = nodes.plot_roc(two, labels, "toy")
    assert "seed 7 of 2" in fig.axes[0].get_legend().get_texts()[0].get_text()
    joined = report._joined({"toy": two, "one": _scores([0.1, 0.2, 0.9, 0.8, 0.5, 0.6, 0.7, 0.3])}, labels)
    texts = [t.get_text() for t in report.roc_figure(joined).axes[0].get_legend().get_texts()]
    assert any("toy" in t and "seed 7" in t for t in texts) and any(t.startswith("one") and "seed" not in t
                                                                   for t in texts)


def test_object_level_method_gets_rbdc_and_tbdc_in_leaderboard_report_and_mlflow(labels):
    from vad_kedro.pipelines.evaluation import report

    scores = _scores([0.1, 0.2, 0.9, 0.8, 0.5, 0.6, 0.7, 0.3])
    regions = pd.DataFrame({"video_id": ["a", "a"], "frame": [2, 3], "track_id": [1, 1], "x1": 0.0, "y1": 0.0,
                            "x2": 10.0, "y2": 10.0})
    # one box on the frame-2 region (0.9) and one false positive on frame 0 (0.4), 8 frames:
    # points (fpr, rbdr) (0,0) (0,.5) (1/8,.5), flat to 1 -> RBDC .5; the track (1 of 2 regions >= beta .1) is
    # detected from 0.9 -> TBDC 1.
    boxes = pd.DataFrame({"video_id": ["a", "a"], "frame": [2, 0], "x1": [0.0, 50.0], "y1": [0.0, 50.0],
                          "x2": [10.0, 60.0], "y2": [10.0, 60.0], "score": [0.9, 0.4]})
    obj, tracked, *_ = nodes.evaluate_object_method(scores, labels, {"name": "toy"}, boxes, regions,
                                                    {"alpha": 0.1, "beta": 0.1}, "obj")
    assert (obj["rbdc"], obj["tbdc"]) == (pytest.approx(0.5), pytest.approx(1.0))
    assert tracked["rbdc"] == pytest.approx(0.5) and tracked["tbdc"] == pytest.approx(1.0)   # logged to MLflow
    no_tracks, tracked_nt, *_ = nodes.evaluate_object_method(scores, labels, {"name": "toy"}, boxes,
                                                             regions.assign(track_id=-1), {"alpha": 0.1, "beta": 0.1},
                                                             "masks")
    assert "tbdc" not in tracked_nt                                   # NaN is not sent to MLflow
    frame, *_ = nodes.evaluate_method(scores, labels, {"name": "toy"}, "frame")

    board, md, per_type = nodes.build_leaderboard({}, {}, obj, no_tracks, frame)
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[6:8]] for line in md.splitlines()[2:5]}
    assert rows == {"obj": ["0.500", "1.000"], "masks": ["0.500", "–"], "frame": ["", ""]}
    assert "Note: masks: the ground-truth regions have no track ids: no TBDC" in md
    page = report.build_report(board, per_type, labels, {}, {}, 2, {})
    assert "<th>rbdc</th>" in page and "region_note" not in page
    assert "RBDC / TBDC: region- and track-based" in page and "masks: the ground-truth regions have no track" in page
