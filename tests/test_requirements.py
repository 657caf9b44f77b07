"""Up-front checks of what each pipeline needs from the dataset (issue 16, case 6).

A one-class dataset (every training video normal, e.g. UCSD Ped2) died at ``mgfn.load_bags``
after the earlier nodes had run for minutes. Now the default run leaves weak_supervision out and
says so; ``--pipelines=weak_supervision`` stops before any node runs.
"""

from pathlib import Path

import numpy as np
import pytest

from vad_kedro.core.errors import DataError
from vad_kedro.core.requirements import unmet_requirements, weak_label_problem
from vad_kedro.pipeline_registry import method_node_names, register_pipelines
from vad_kedro.pipelines.evaluation import nodes as evaluation_nodes


def _one_class(root: Path, csv_rows: str | None) -> dict:
    root.mkdir(parents=True, exist_ok=True)
    ds = {"name": "ped2like", "format": "frame_folder", "root": str(root), "synthetic": None,
          "video_labels_csv": None}
    if csv_rows is not None:
        (root / "labels.csv").write_text("split,video,label\n" + csv_rows)
        ds["video_labels_csv"] = "labels.csv"
    return ds


def test_weak_label_check(tmp_path):
    assert "has no video labels" in weak_label_problem(_one_class(tmp_path / "a", None))
    assert "labels no training video abnormal" in weak_label_problem(
        _one_class(tmp_path / "b", "training,01,0\ntesting,01,1\n"))
    assert weak_label_problem(_one_class(tmp_path / "c", "training,01,0\ntraining,02,1\n")) is None
    assert weak_label_problem({"synthetic": {"size": "smoke"}, "root": "x"}) is None
    assert weak_label_problem({"format": "i3d_features", "root": "x"}) is None
    assert unmet_requirements(_one_class(tmp_path / "d", None)).keys() == {"weak_supervision"}


def test_default_pipeline_without_weak_supervision_notes_it_under_the_leaderboard():
    default = register_pipelines({"weak_supervision": "no abnormal training videos"})["__default__"]
    names = {n.name for n in default.nodes}
    assert not names & method_node_names("weak_supervision")
    assert "rtfm.metrics" not in default.inputs()
    assert "lpg.metrics" in default.all_outputs()
    board = next(n for n in default.nodes if n.name == "build_leaderboard")
    assert board.func.keywords["notes"] == ("weak_supervision was not run: no abnormal training videos",)
    metrics = {"method": "lpg", "dataset": "d", "micro_auc": 0.8, "n_seeds": 1}
    _, md, _ = evaluation_nodes.build_leaderboard({}, {}, metrics, notes=board.func.keywords["notes"])
    assert md.rstrip().endswith("Note: weak_supervision was not run: no abnormal training videos")


@pytest.mark.slow
def test_one_class_dataset_skips_or_refuses_weak_supervision_before_any_node(fresh_project, caplog):
    import logging

    from kedro.framework.project import pipelines

    ds = _one_class(fresh_project.path / "data" / "01_raw" / "ped2like", "training,01,0\n")
    params = {"dataset": {k: ds[k] for k in ("name", "root", "synthetic", "video_labels_csv")}}
    with pytest.raises(DataError, match="weak_supervision: cannot run: dataset ped2like: .* labels no training "
                                        "video abnormal") as info:
        fresh_project.run("weak_supervision", params=params)
    assert "dataset.video_labels_csv" in info.value.hint
    assert not (fresh_project.path / "data" / "smoke" / "02_intermediate" / "raw_manifest.json").exists()

    from tests.conftest import working_directory

    with working_directory(fresh_project.path), fresh_project._session(params) as session:
        session.load_context()
        default = pipelines["__default__"]
    assert not {n.name for n in default.nodes} & method_node_names("weak_supervision")
    assert {n.name for n in default.nodes} >= method_node_names("state_machine")
