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


def test_a_frame_replaced_in_place_changes_the_key(tmp_path):
    """Issue 16, case 2: the folder's mtime and entry count did not see a frame replaced under the same name."""
    import os

    src = tmp_path / "v1"
    src.mkdir()
    for i in range(3):
        (src / f"{i:04d}.jpg").write_bytes(b"frame" * 10)
    row = {"video_id": "train_v1", "source_path": str(src), "n_frames": 3, "height": 8, "width": 8, "fps": 25}
    before = content_key("1", video_fingerprint(row))
    folder_mtime = os.stat(src).st_mtime_ns
    (src / "0001.jpg").write_bytes(b"fixed frame" * 10)                  # same name, new content
    os.utime(src, ns=(folder_mtime, folder_mtime))                        # the folder itself looks unchanged
    assert content_key("1", video_fingerprint(row)) != before
