"""UCF-Crime / XD-Violence I3D readers on tiny fabricated files in the released formats (spec §2, §7)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vad_kedro.core.errors import DataError
from vad_kedro.io.i3d import (
    build_frame_gt,
    index_i3d_dataset,
    load_features,
    read_xd_annotations,
    video_label,
    video_stem,
)

C = 8  # feature dim of the fabricated files (2048 / 1024 in the releases)


# ------------------------------------------------------------------------------------------ UCF
def _ucf(root: Path, t: dict[str, int], n_crops: int = 10) -> None:
    feats = root / "feats"
    feats.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name, n in t.items():
        np.save(feats / f"{name}_i3d.npy", rng.normal(size=(n, n_crops, C)).astype(np.float32))


UCF_TRAIN = {"Abuse001_x264": 5, "Arrest002_x264": 4, "Normal_Videos001_x264": 6, "Normal_Videos002_x264": 3}
UCF_TEST = {"Abuse028_x264": 4, "Arson011_x264": 3, "Normal_Videos_003_x264": 2, "Normal_Videos_006_x264": 2}


@pytest.fixture
def ucf(tmp_path) -> dict:
    _ucf(tmp_path, {**UCF_TRAIN, **UCF_TEST})
    # lists as released: absolute paths of another machine, abnormal first; only basenames are used
    (tmp_path / "ucf-i3d.list").write_text(
        "".join(f"/home/someone/UCF_Train_ten_crop_i3d/{n}_i3d.npy\n" for n in UCF_TRAIN))
    (tmp_path / "ucf-i3d-test.list").write_text(
        "".join(f"/home/someone/UCF_Test_ten_crop_i3d/{n}_i3d.npy\n" for n in UCF_TEST))
    (tmp_path / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt").write_text(
        "Abuse028_x264.mp4  Abuse  5  10  20  30\n"      # two events
        "Arson011_x264.mp4  Arson  40  100  -1  -1\n"    # runs past 16*T = 48: truncated
        "Normal_Videos_003_x264.mp4  Normal  -1  -1  -1  -1\n"
        "Normal_Videos_006_x264.mp4  Normal  -1  -1  -1  -1\n")
    return {"format": "i3d_features", "style": "ucf", "root": str(tmp_path), "train_list": "ucf-i3d.list",
            "test_list": "ucf-i3d-test.list", "feature_dir": "feats",
            "annotations": "Temporal_Anomaly_Annotation_for_Testing_Videos.txt", "gt_npy": None,
            "n_crops": 10, "feature_dim": C, "fps": 30}


def test_ucf_index_and_labels(ucf):
    index, labels = index_i3d_dataset(ucf)
    assert list(index.columns) == ["video_id", "split", "source_path", "n_frames", "fps", "height", "width",
                                   "video_label", "anomaly_types"]
    assert index["video_id"].tolist()[:2] == ["train_Abuse001_x264", "train_Arrest002_x264"]
    assert index.set_index("video_id")["video_label"].to_dict()["train_Normal_Videos001_x264"] == 0
    row = index.set_index("video_id").loc["test_Abuse028_x264"]
    assert row.n_frames == 16 * 4 and row.fps == 30 and row.split == "test" and row.anomaly_types == "Abuse"
    assert row.source_path.endswith("feats/Abuse028_x264_i3d.npy")
    abuse = labels[labels.video_id == "test_Abuse028_x264"]
    # events [5, 10] and [20, 30], inclusive
    expected = np.zeros(64, dtype=int)
    expected[5:11] = 1
    expected[20:31] = 1
    np.testing.assert_array_equal(abuse["label"].to_numpy(), expected)
    assert set(abuse.loc[abuse.label == 1, "anomaly_type"]) == {"Abuse"}
    arson = labels[labels.video_id == "test_Arson011_x264"]["label"].to_numpy()
    assert len(arson) == 48 and arson[40:].all() and not arson[:40].any()  # truncated to 16T
    assert labels[labels.video_id.str.contains("Normal")]["label"].sum() == 0
    assert set(labels.video_id) == set(index[index.split == "test"].video_id)


def test_ucf_gt_npy_checked(ucf, tmp_path):
    _, labels = index_i3d_dataset(ucf)
    gt = labels["label"].to_numpy().astype(np.float64)  # list order = test list order
    assert len(gt) == 16 * sum(UCF_TEST.values())
    np.save(tmp_path / "gt-ucf.npy", gt)
    index_i3d_dataset({**ucf, "gt_npy": "gt-ucf.npy"})
    np.save(tmp_path / "gt-short.npy", gt[:-16])
    with pytest.raises(DataError, match="gt-short.npy.*expected"):
        index_i3d_dataset({**ucf, "gt_npy": "gt-short.npy"})
    bad = gt.copy()
    bad[:64] = 0  # the first (abnormal) video loses every positive frame
    np.save(tmp_path / "gt-renew.npy", bad)
    with pytest.raises(DataError, match="Abuse028_x264 has no positive frame"):
        index_i3d_dataset({**ucf, "gt_npy": "gt-renew.npy"})


def test_ucf_gt_only_without_annotations(ucf, tmp_path):
    _, labels = index_i3d_dataset(ucf)
    np.save(tmp_path / "gt-ucf.npy", labels["label"].to_numpy())
    _, from_gt = index_i3d_dataset({**ucf, "annotations": None, "gt_npy": "gt-ucf.npy"})
    np.testing.assert_array_equal(from_gt["label"].to_numpy(), labels["label"].to_numpy())


def test_missing_listed_file(ucf, tmp_path):
    (tmp_path / "feats" / "Arrest002_x264_i3d.npy").unlink()
    with pytest.raises(DataError, match="Arrest002_x264_i3d.npy.*does not exist"):
        index_i3d_dataset(ucf)


def test_crop_count_differs(ucf, tmp_path):
    np.save(tmp_path / "feats" / "Arrest002_x264_i3d.npy", np.zeros((4, 5, C), np.float32))
    with pytest.raises(DataError, match="Arrest002_x264_i3d.npy.*n_crops, dim"):
        index_i3d_dataset(ucf)


def test_dim_differs_from_declared(ucf):
    with pytest.raises(DataError, match="Abuse001_x264_i3d.npy.*differs from \\(10, 16\\)"):
        index_i3d_dataset({**ucf, "feature_dim": 16})


def test_nan_features_named(ucf, tmp_path):
    x = np.zeros((3, 10, C), np.float32)
    x[1, 2, 3] = np.nan
    np.save(tmp_path / "feats" / "Normal_Videos002_x264_i3d.npy", x)
    with pytest.raises(DataError, match="Normal_Videos002_x264_i3d.npy.*NaN"):
        index_i3d_dataset(ucf)


def test_abnormal_test_video_without_annotation(ucf, tmp_path):
    ann = tmp_path / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
    ann.write_text("\n".join(line for line in ann.read_text().splitlines() if "Arson" not in line))
    with pytest.raises(DataError, match="Arson011_x264 has no annotation"):
        index_i3d_dataset(ucf)


def test_declared_abnormal_count(ucf):
    index_i3d_dataset({**ucf, "n_abnormal_train": 2})
    with pytest.raises(DataError, match="expected n_abnormal_train = 810"):
        index_i3d_dataset({**ucf, "n_abnormal_train": 810})


def test_load_features_ucf(ucf, tmp_path):
    x = load_features([str(tmp_path / "feats" / "Abuse001_x264_i3d.npy")], "ucf")
    assert x.shape == (5, 10, C) and x.dtype == np.float32
    np.save(tmp_path / "rank2.npy", np.zeros((5, C), np.float32))
    with pytest.raises(DataError, match="rank2.npy"):
        load_features([str(tmp_path / "rank2.npy")], "ucf")


# ------------------------------------------------------------------------------------------- XD
XD_TRAIN = {"Bad.Boys.1995__#01-11-55_01-12-40_label_G-B2-B6": 4, "Riot.2019__#0-00-10_label_B4-0-0": 3,
            "A.Beautiful.Mind.2001__#00-25-20_00-29-20_label_A": 5}
XD_TEST = {"Fight.Club.1999__#00-01-00_label_B1-0-0": 3, "Saving.Private.Ryan.1998__#00-00-01_label_A": 2}


@pytest.fixture
def xd(tmp_path) -> dict:
    feats = tmp_path / "RGB"
    feats.mkdir()
    rng = np.random.default_rng(1)
    for name, t in {**XD_TRAIN, **XD_TEST}.items():
        for c in range(5):  # crop c holds value c in channel 0 so the stacking order is checkable
            x = rng.normal(size=(t, 1024 // 128)).astype(np.float32)
            x[:, 0] = c
            np.save(feats / f"{name}__{c}.npy", x)
    # rgb.list: one line per crop, abnormal videos first, crops listed in a shuffled order here
    lines = [f"/data/xd/RGB/{n}__{c}.npy" for n in XD_TRAIN for c in (3, 0, 4, 1, 2)]
    (tmp_path / "rgb.list").write_text("\n".join(lines) + "\n")
    (tmp_path / "rgb_test.list").write_text("\n".join(f"/x/{n}__{c}.npy" for n in XD_TEST for c in range(5)))
    # xd.list: abnormal test videos only, no final newline, [s, e) pairs
    (tmp_path / "xd.list").write_text("Fight.Club.1999__#00-01-00_label_B1-0-0 3 7 40 60")
    return {"format": "i3d_features", "style": "xd", "root": str(tmp_path), "train_list": "rgb.list",
            "test_list": "rgb_test.list", "feature_dir": "RGB", "annotations": "xd.list", "n_crops": 5,
            "feature_dim": 8, "fps": 24}


def test_xd_index_stacks_crops_in_order(xd, tmp_path):
    index, labels = index_i3d_dataset(xd)
    assert len(index) == 5
    row = index.set_index("video_id").loc["train_Bad.Boys.1995__#01-11-55_01-12-40_label_G-B2-B6"]
    paths = row.source_path.split("|")
    assert [p[-7:] for p in paths] == [f"__{c}.npy" for c in range(5)]
    assert row.video_label == 1 and row.anomaly_types == "G,B2,B6"
    assert index.set_index("video_id").loc["train_A.Beautiful.Mind.2001__#00-25-20_00-29-20_label_A"].video_label == 0
    x = load_features(paths, "xd")
    assert x.shape == (4, 5, 8)
    np.testing.assert_array_equal(x[0, :, 0], np.arange(5, dtype=np.float32))
    fight = labels[labels.video_id == "test_Fight.Club.1999__#00-01-00_label_B1-0-0"]["label"].to_numpy()
    expected = np.zeros(48, dtype=int)
    expected[3:7] = 1  # [s, e) exclusive end
    expected[40:48] = 1  # 60 is past 16T = 48
    np.testing.assert_array_equal(fight, expected)


def test_xd_stacked_file_accepted(xd, tmp_path):
    x = load_features([str(tmp_path / "RGB" / f"{next(iter(XD_TEST))}__{c}.npy") for c in range(5)], "xd")
    np.save(tmp_path / "stacked.npy", x)
    np.testing.assert_array_equal(load_features([str(tmp_path / "stacked.npy")], "xd"), x)


def test_xd_unequal_t_across_crops(xd, tmp_path):
    name = next(iter(XD_TRAIN))
    np.save(tmp_path / "RGB" / f"{name}__2.npy", np.zeros((9, 8), np.float32))
    with pytest.raises(DataError, match="__2.npy.*T = 9"):
        index_i3d_dataset(xd)


def test_xd_missing_crop(xd, tmp_path):
    lines = [line for line in (tmp_path / "rgb.list").read_text().splitlines() if not line.endswith("__4.npy")]
    (tmp_path / "rgb.list").write_text("\n".join(lines))
    with pytest.raises(DataError, match="n_crops, dim"):
        index_i3d_dataset(xd)


def test_xd_crop_dim_differs(xd, tmp_path):
    name = next(iter(XD_TEST))
    np.save(tmp_path / "RGB" / f"{name}__1.npy", np.zeros((3, 16), np.float32))
    with pytest.raises(DataError, match="__1.npy.*dim 16"):
        index_i3d_dataset(xd)


def test_xd_annotations_without_final_newline(tmp_path):
    (tmp_path / "xd.list").write_text("a_label_B1-0-0 1 5 10 12\nb_label_G-0-0 0 3")
    ann = read_xd_annotations(tmp_path / "xd.list")
    assert ann == {"a_label_B1-0-0": ("", [(1, 5), (10, 12)]), "b_label_G-0-0": ("", [(0, 3)])}


# ---------------------------------------------------------------------------------------- helpers
def test_names_and_labels():
    assert video_stem("/a/b/Abuse001_x264_i3d.npy") == ("Abuse001_x264", None)
    assert video_stem("v=abc_label_A__3.npy") == ("v=abc_label_A", 3)
    assert video_label("Normal_Videos_003_x264", "ucf") == (0, "")
    assert video_label("RoadAccidents012_x264", "ucf") == (1, "RoadAccidents")
    assert video_label("x_label_A", "xd") == (0, "")
    assert video_label("x_label_B2-G-0", "xd") == (1, "B2,G")


def test_gt_inclusive_vs_exclusive_ends():
    ucf = build_frame_gt([(2, 4)], 1, "ucf")
    xd = build_frame_gt([(2, 4)], 1, "xd")
    assert len(ucf) == 16 and ucf[2:5].all() and ucf.sum() == 3
    assert xd[2:4].all() and xd.sum() == 2
