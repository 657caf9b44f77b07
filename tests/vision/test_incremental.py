"""Content keys of the incremental extraction."""

from vad_kedro.vision.incremental import content_key, path_stat, plan_videos, video_fingerprint


def test_keys_change_with_params_and_source(tmp_path):
    src = tmp_path / "v1"
    src.mkdir()
    row = {"video_id": "train_v1", "source_path": str(src), "n_frames": 10, "height": 8, "width": 8, "fps": 25}
    k1 = content_key("1", video_fingerprint(row), {"a": 1})
    assert k1 == content_key("1", video_fingerprint(row), {"a": 1})
    assert k1 != content_key("1", video_fingerprint(row), {"a": 2})
    (src / "0001.jpg").write_bytes(b"x")          # a frame added: folder entry count changes
    assert k1 != content_key("1", video_fingerprint(row), {"a": 1})
    assert path_stat(tmp_path / "missing") is None


def test_plan_videos():
    todo, skip = plan_videos({"a": "1", "b": "2", "c": "3"}, {"a": "1", "b": "x"})
    assert todo == ["b", "c"] and skip == ["a"]
