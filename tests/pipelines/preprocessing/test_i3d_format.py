"""preprocessing on a tiny UCF-Crime-style I3D release: index, labels and split by parameters alone."""

import numpy as np

from vad_kedro.pipelines.preprocessing import nodes

PRE = {"working_size": None, "val_fraction": 0.5, "min_frames": 16}


def test_ucf_release_indexes_through_preprocessing(tmp_path):
    rng = np.random.default_rng(0)
    feats = tmp_path / "features"
    feats.mkdir()
    train = ["Abuse001_x264", "Arrest002_x264", "Normal_Videos001_x264", "Normal_Videos002_x264"]
    test = ["Abuse028_x264", "Normal_Videos_003_x264"]
    for name, t in zip(train + test, [4, 5, 3, 6, 4, 3]):
        np.save(feats / f"{name}_i3d.npy", rng.normal(size=(t, 10, 8)).astype(np.float32))
    (tmp_path / "ucf-i3d.list").write_text("".join(f"list/features/{n}_i3d.npy\n" for n in train))
    (tmp_path / "ucf-i3d-test.list").write_text("".join(f"list/features/{n}_i3d.npy\n" for n in test))
    (tmp_path / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt").write_text(
        "Abuse028_x264.mp4  Abuse  17  32  -1  -1\nNormal_Videos_003_x264.mp4  Normal  -1  -1  -1  -1\n")
    dataset = {"name": "ucf_tiny", "format": "i3d_features", "style": "ucf", "root": str(tmp_path),
               "synthetic": None, "train_list": "ucf-i3d.list", "test_list": "ucf-i3d-test.list",
               "feature_dir": "features", "annotations": "Temporal_Anomaly_Annotation_for_Testing_Videos.txt",
               "n_crops": 10, "feature_dim": 8, "fps": 30}
    manifest = nodes.prepare_raw(dataset)
    index, labels = nodes.build_video_index(manifest, dataset, PRE)
    assert index["video_id"].tolist()[:2] == ["train_Abuse001_x264", "train_Arrest002_x264"]
    assert index.set_index("video_id").loc["test_Abuse028_x264", "n_frames"] == 64
    test_labels = labels[labels.video_id == "test_Abuse028_x264"]["label"].to_numpy()
    assert test_labels[17:33].all() and not test_labels[:17].any() and not test_labels[33:].any()
    split = nodes.split_train_val(index, PRE, seed=0)
    assert sorted(split.loc[split.split == "val", "video_label"]) == [0, 1]
    assert nodes.decode_frames(split, dataset, PRE) == {}
