"""The ready-made dataset environments (conf/ped2, avenue, shanghaitech, ucf_crime, xd_violence), each on
tiny data fabricated here in the exact layout its distribution has."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io
from kedro.config import OmegaConfigLoader

from vad_kedro.core.errors import DataError
from vad_kedro.core.params import DatasetParams, PreprocessingParams
from vad_kedro.core.requirements import unmet_requirements
from vad_kedro.pipelines.preprocessing.nodes import build_video_index, prepare_raw
from vad_kedro.settings import CONFIG_LOADER_ARGS

from .conftest import REPO, SmokeProject

ENVS = ["ped2", "avenue", "shanghaitech", "ucf_crime", "xd_violence"]
N = 16   # frames per fabricated video: preprocessing.min_frames
RNG = np.random.default_rng(0)


def env_config(env: str) -> OmegaConfigLoader:
    patterns = {"mlflow": ["mlflow*", "mlflow*/**"]}
    return OmegaConfigLoader(str(REPO / "conf"), env=env, config_patterns=patterns, **CONFIG_LOADER_ARGS)


def env_dataset(env: str, root: Path) -> dict:
    """The environment's ``dataset`` parameters with the root moved to ``root``."""
    return {**env_config(env)["parameters"]["dataset"], "root": str(root)}


# ------------------------------------------------------------------------------ fabricated layouts
def _frames(folder: Path, ext: str = "jpg", first: int = 0, grey: bool = False, digits: int = 3, n: int = N) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(first, first + n):
        shape = (24, 32) if grey else (24, 32, 3)
        cv2.imwrite(str(folder / f"{i:0{digits}d}.{ext}"), RNG.integers(0, 255, shape, dtype=np.uint8))


def _video(path: Path, n: int = N) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (32, 24))
    for _ in range(n):
        writer.write(RNG.integers(0, 255, (24, 32, 3), dtype=np.uint8))
    writer.release()


def _mat_gt(path: Path, ranges: list[list[list[int]]]) -> None:
    cells = np.empty((1, len(ranges)), dtype=object)
    for i, r in enumerate(ranges):
        cells[0, i] = np.asarray(r, dtype=np.int32)
    scipy.io.savemat(str(path), {"gt": cells})


def fabricate_ped2(root: Path) -> None:
    """UCSDped2: Train/TrainNNN/*.tif, Test/TestNNN/*.tif, Test/TestNNN_gt/*.bmp, Test/UCSDped2.m."""
    for v in ("Train001", "Train002"):
        _frames(root / "Train" / v, "tif", first=1, grey=True)
    for v in ("Test001", "Test002"):
        _frames(root / "Test" / v, "tif", first=1, grey=True)
    gt = root / "Test" / "Test001_gt"
    gt.mkdir()
    for i in range(1, N + 1):
        mask = np.zeros((24, 32), np.uint8)
        mask[5:10, 5:10] = 255 if 5 <= i <= 9 else 0
        cv2.imwrite(str(gt / f"{i:03d}.bmp"), mask)
    (root / "Test" / "UCSDped2.m").write_text(
        "TestVideoFile = {};\nTestVideoFile{end+1}.gt_frame = [5:9];\nTestVideoFile{end+1}.gt_frame = [1:3, 12:16];\n")


def fabricate_avenue(root: Path) -> None:
    """training_videos/NN.avi, testing_videos/NN.avi, avenue.mat."""
    for v in ("01", "02"):
        _video(root / "training_videos" / f"{v}.avi")
        _video(root / "testing_videos" / f"{v}.avi")
    _mat_gt(root / "avenue.mat", [[[3], [6]], [[10], [16]]])


SH_TRAIN = ("01_001", "01_002", "02_001")
SH_TEST = {"01_0014": (4, 9), "01_0015": None, "02_0128": (1, 16)}   # abnormal frames (1-based inclusive) or normal


def fabricate_shanghaitech(root: Path, train: tuple[str, ...] = SH_TRAIN, test: dict | None = None, n: int = N) -> None:
    """training/videos/NN_NNN.avi, testing/frames/NN_NNNN/NNN.jpg, testing/test_frame_mask/NN_NNNN.npy."""
    for v in train:
        _video(root / "training" / "videos" / f"{v}.avi", n)
    (root / "testing" / "test_frame_mask").mkdir(parents=True)
    for v, event in (SH_TEST if test is None else test).items():
        _frames(root / "testing" / "frames" / v, n=n)
        labels = np.zeros(n, dtype=np.int64)
        if event:
            labels[event[0] - 1: event[1]] = 1
        np.save(root / "testing" / "test_frame_mask" / f"{v}.npy", labels)


UCF_TRAIN = {"Abuse001_x264": 3, "Arrest001_x264": 4, "Normal_Videos001_x264": 3, "Normal_Videos002_x264": 5}
UCF_TEST = {"Abuse028_x264": 4, "Normal_Videos_003_x264": 3}


def fabricate_ucf_crime(root: Path) -> None:
    """RTFM's release: UCF_{Train,Test}_ten_crop_i3d/<name>_i3d.npy (T, 10, 2048), lists with another
    machine's paths (abnormal first), the UCF annotation file."""
    for folder, videos, listing in (("UCF_Train_ten_crop_i3d", UCF_TRAIN, "ucf-i3d.list"),
                                    ("UCF_Test_ten_crop_i3d", UCF_TEST, "ucf-i3d-test.list")):
        (root / folder).mkdir(parents=True)
        for name, t in videos.items():
            np.save(root / folder / f"{name}_i3d.npy", RNG.random((t, 10, 2048), dtype=np.float32))
        (root / listing).write_text("".join(f"/home/someone/{folder}/{name}_i3d.npy\n" for name in videos))
    (root / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt").write_text(
        "Abuse028_x264.mp4  Abuse  16  40  -1  -1\nNormal_Videos_003_x264.mp4  Normal  -1  -1  -1  -1\n")


XD_TRAIN = {"Bad.Boys.1995__#01-11-55_01-12-40_label_G-0-0": 3, "Big.Fish.2003__#00-00-00_00-01-00_label_A": 4}
XD_TEST = {"Fight.Club.1999__#00-01-00_label_B1-0-0": 4, "Love.Actually.2003__#00-02-00_label_A": 3}


def fabricate_xd_violence(root: Path) -> None:
    """The XD-Violence release: i3d-features/{RGB,RGBTest}/<video>__<c>.npy (T, 1024), c = 0..4, one
    list line per crop file, xd.list annotations of the abnormal test videos."""
    for folder, videos, listing in (("i3d-features/RGB", XD_TRAIN, "rgb.list"),
                                    ("i3d-features/RGBTest", XD_TEST, "rgbtest.list")):
        (root / folder).mkdir(parents=True)
        lines = []
        for name, t in videos.items():
            for c in range(5):
                np.save(root / folder / f"{name}__{c}.npy", RNG.random((t, 1024), dtype=np.float32))
                lines.append(f"/data/xd/{folder}/{name}__{c}.npy\n")
        (root / listing).write_text("".join(lines))
    (root / "xd.list").write_text("Fight.Club.1999__#00-01-00_label_B1-0-0 10 30")


FABRICATE = {"ped2": fabricate_ped2, "avenue": fabricate_avenue, "shanghaitech": fabricate_shanghaitech,
             "ucf_crime": fabricate_ucf_crime, "xd_violence": fabricate_xd_violence}
#: (training videos, test videos, abnormal test frames) of each fabricated layout
EXPECTED = {"ped2": (2, 2, 5 + 3 + 5), "avenue": (2, 2, 4 + 7), "shanghaitech": (3, 3, 6 + 16),
            "ucf_crime": (4, 2, 25), "xd_violence": (2, 2, 20)}


def fabricated(env: str, tmp_path: Path) -> dict:
    root = tmp_path / env
    root.mkdir()
    FABRICATE[env](root)
    dataset = env_dataset(env, root)
    if env == "ucf_crime":
        dataset["n_abnormal_train"] = 2   # the release's 810, checked on the fabricated list
    return dataset


def index(dataset: dict):
    preprocessing = PreprocessingParams.model_validate({"working_size": None, "val_fraction": 0.0, "min_frames": N})
    return build_video_index(prepare_raw(dataset), dataset, preprocessing)


# ------------------------------------------------------------------------------------------ tests
@pytest.mark.parametrize("env", ENVS)
def test_env_config_has_its_own_data_root_mlflow_and_layout(env):
    config = env_config(env)
    params = config["parameters"]
    dataset = DatasetParams.model_validate(params["dataset"])
    assert dataset.name == env and dataset.root == f"data/01_raw/{env}" and dataset.synthetic is None
    assert dataset.layout is not None and f"data/01_raw/{env}/" in dataset.layout.tree
    assert config["globals"]["data_root"] == f"data/{env}"
    assert config["mlflow"]["tracking"]["experiment"]["name"] == f"vad_kedro_{env}"
    assert config["mlflow"]["server"]["mlflow_tracking_uri"] == f"sqlite:///mlflow_{env}.db"
    i3d = dataset.format == "i3d_features"
    assert (params["feature_extraction"]["snippets"]["extractor"] == "i3d_import") == i3d


@pytest.mark.parametrize("env", ENVS)
def test_env_indexes_its_fabricated_layout(env, tmp_path):
    video_index, labels = index(fabricated(env, tmp_path))
    n_train, n_test, n_abnormal = EXPECTED[env]
    assert (video_index.split == "train").sum() == n_train and (video_index.split == "test").sum() == n_test
    assert int(labels["label"].sum()) == n_abnormal
    assert set(video_index.fps) == {env_config(env)["parameters"]["dataset"]["fps"]}


@pytest.mark.parametrize("env", ENVS)
def test_missing_folder_prints_the_expected_tree_and_source(env, tmp_path):
    dataset = env_dataset(env, tmp_path / "nowhere")
    with pytest.raises(DataError, match="dataset folder not found") as info:
        prepare_raw(dataset)
    text = info.value.paragraph()
    assert dataset["layout"]["tree"].splitlines()[1].strip() in text   # the first entry of the tree
    assert "Distributed by: " in text and "downloads nothing" in text


@pytest.mark.parametrize(("env", "remove", "named"), [
    ("ped2", "Test/UCSDped2.m", "Test/UCSDped2.m (test labels) is missing"),
    ("avenue", "training_videos", "training_videos/ (training videos) is missing"),
    ("shanghaitech", "testing/test_frame_mask", "testing/test_frame_mask/ (test labels) is missing"),
    ("ucf_crime", "Temporal_Anomaly_Annotation_for_Testing_Videos.txt", "Temporal_Anomaly_Annotation_for_Testing"),
    ("xd_violence", "rgbtest.list", "rgbtest.list (test feature list) is missing"),
])
def test_incomplete_folder_names_what_is_missing(env, remove, named, tmp_path):
    dataset = fabricated(env, tmp_path)
    target = Path(dataset["root"]) / remove
    if target.is_dir():
        for f in sorted(target.rglob("*"), reverse=True):
            f.rmdir() if f.is_dir() else f.unlink()
        target.rmdir()
    else:
        target.unlink()
    with pytest.raises(DataError, match="dataset folder incomplete") as info:
        prepare_raw(dataset)
    assert named in str(info.value) and "Distributed by: " in info.value.paragraph()


def test_shanghaitech_weakly_supervised_resplit_by_split_list(tmp_path):
    dataset = fabricated("shanghaitech", tmp_path)
    (Path(dataset["root"]) / "split.txt").write_text(
        "# Zhong et al. 2019 re-split, one line per video\n"
        "01_001 train 0\n01_0014 train 1\n01_0015 train 0\n"
        "01_002 test 0\n02_001 test 0\n02_0128 test 1\n")
    dataset["split_list"] = "split.txt"
    assert "weak_supervision" in unmet_requirements({**dataset, "split_list": None})
    assert "weak_supervision" not in unmet_requirements(dataset)
    video_index, labels = index(dataset)
    by_id = video_index.set_index("video_id")
    assert sorted(by_id.index[by_id.split == "train"]) == ["train_01_001", "train_01_0014", "train_01_0015"]
    assert by_id.loc["train_01_0014", "video_label"] == 1 and by_id.loc["test_01_002", "video_label"] == 0
    # test frame labels: a moved training video is all normal, a kept test video keeps its mask
    assert set(labels.video_id) == {"test_01_002", "test_02_001", "test_02_0128"}
    assert labels[labels.video_id == "test_02_001"]["label"].sum() == 0
    assert labels[labels.video_id == "test_02_0128"]["label"].sum() == N


FULL_SPLIT = ["01_001 train 0", "01_002 train 0", "02_001 test 0", "01_0014 train 1", "01_0015 test 0",
              "02_0128 test 1"]


@pytest.mark.parametrize(("lines", "message"), [
    (FULL_SPLIT[:1], "5 videos of the dataset not listed"),
    (FULL_SPLIT + ["03_001 train 0"], "1 listed videos not found in the dataset (e.g. 03_001)"),
    (FULL_SPLIT[:3] + ["01_0014 train 0"] + FULL_SPLIT[4:], "video 01_0014 is listed with label 0 but its frame"),
    (["01_001 test 1"] + FULL_SPLIT[1:], "video 01_001 is listed with label 1 but it is a training video"),
    (["01_001 val 0"] + FULL_SPLIT[1:], "line 1: expected '<video> <train|test> <0|1>'"),
    (FULL_SPLIT + ["01_001 test 0"], "line 7: video 01_001 is listed twice"),
])
def test_split_list_errors_name_the_file_and_line(lines, message, tmp_path):
    dataset = fabricated("shanghaitech", tmp_path)
    (Path(dataset["root"]) / "split.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="split.txt") as info:
        index({**dataset, "split_list": "split.txt"})
    assert message in str(info.value)


def test_split_list_needs_names_unique_across_the_splits(tmp_path):
    dataset = fabricated("ped2", tmp_path)
    (Path(dataset["root"]) / "Test" / "Test001").rename(Path(dataset["root"]) / "Test" / "Train001")
    (Path(dataset["root"]) / "Test" / "Test001_gt").rename(Path(dataset["root"]) / "Test" / "Train001_gt")
    (Path(dataset["root"]) / "split.txt").write_text("Train001 train 0\n")
    with pytest.raises(DataError, match="split.txt: video names Train001 occur in both"):
        index({**dataset, "split_list": "split.txt"})


def test_i3d_envs_leave_the_frame_pipelines_out(tmp_path):
    from vad_kedro.pipeline_registry import register_pipelines

    skipped = unmet_requirements(fabricated("ucf_crime", tmp_path))
    assert set(skipped) == {"motion_baseline", "state_machine", "two_stream", "memory_fusion", "self_paced"}
    assert "no frames" in skipped["self_paced"]
    everything, default = register_pipelines(), register_pipelines(skipped)["__default__"]
    names = {n.name for n in default.nodes}
    assert "feature_extraction.extract_snippet_features" in names and "rtfm.train" in names
    assert not names & {"feature_extraction.extract_tracks", "motion_baseline.score_frames", "lpg.train_smm"}
    # a frame dataset's default run still computes every feature
    assert {n.name for n in everything["feature_extraction"].nodes} <= {n.name for n in everything["__default__"].nodes}


@pytest.mark.slow
def test_kedro_run_evaluation_with_env_ped2(tmp_path):
    """The light pipeline end to end: preprocessing, the motion baseline and the leaderboard, outputs under data/ped2."""
    project = SmokeProject(tmp_path / "project", env="ped2")
    root = project.path / "data" / "01_raw" / "ped2"
    root.mkdir()
    fabricate_ped2(root)
    project.run("evaluation")
    assert project.load("leaderboard")["method"].tolist() == ["motion_baseline"]
    assert (project.path / "data" / "ped2" / "08_reporting" / "leaderboard.md").is_file()
    video_index = project.load("video_index")
    assert (project.path / "data" / "ped2" / "02_intermediate" / "video_index.parquet").is_file()
    assert video_index["video_id"].tolist() == ["train_Train001", "train_Train002", "test_Test001", "test_Test002"]
    masks = project.load("pixel_masks")
    assert set(masks) == {"test_Test001"}   # from Test001_gt, the only _gt folder


@pytest.mark.slow
def test_kedro_run_weak_supervision_on_the_shanghaitech_split_list(tmp_path):
    """Item 5 end to end: the re-split gives weak supervision abnormal training videos (at least two per
    class remain after the validation split) and normal videos of the training folder in test."""
    project = SmokeProject(tmp_path / "project", env="shanghaitech")
    root = project.path / "data" / "01_raw" / "shanghaitech"
    root.mkdir()
    test = {f"02_{i:04d}": ((3, 10) if i <= 6 else None) for i in range(1, 11)}   # 6 abnormal, 4 normal
    fabricate_shanghaitech(root, tuple(f"01_{i:03d}" for i in range(1, 7)), test, n=32)
    lines = [f"01_{i:03d} {'train' if i <= 4 else 'test'} 0" for i in range(1, 7)]
    lines += [f"02_{i:04d} {'train' if i <= 4 or i in (7, 8) else 'test'} {int(i <= 6)}" for i in range(1, 11)]
    (root / "split.txt").write_text("\n".join(lines) + "\n")
    short = {"n_seeds": 1, "iterations": 10, "eval_every": 5}
    project.run("weak_supervision", params={"dataset": {"split_list": "split.txt"},
                                            "weak_supervision": {m: short for m in ("mil", "rtfm", "mgfn", "s3r")}})
    video_index = project.load("video_index")
    assert (video_index.split != "test").sum() == 10 and video_index[video_index.split != "test"].video_label.sum() == 4
    assert set(video_index[video_index.split == "test"].video_id) == {
        "test_01_005", "test_01_006", "test_02_0005", "test_02_0006", "test_02_0009", "test_02_0010"}
    leaderboard = project.load("leaderboard")
    assert set(leaderboard.method) >= {"mil", "rtfm", "mgfn", "s3r"}
