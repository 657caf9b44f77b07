"""Readers on tiny fabricated files in the exact real formats, including broken ones."""

from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io

from vad_kedro.core.errors import DataError
from vad_kedro.io import readers


def _write_frames(folder: Path, n: int, ext: str = "jpg", start: int = 0, digits: int = 3, grey: bool = False,
                  size=(24, 32)):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(n)
    for i in range(start, start + n):
        shape = size if grey else (*size, 3)
        cv2.imwrite(str(folder / f"{i:0{digits}d}.{ext}"), rng.integers(0, 255, shape, dtype=np.uint8))


def _mat_gt(path: Path, ranges: list[list[list[int]]]):
    cells = np.empty((1, len(ranges)), dtype=object)
    for i, r in enumerate(ranges):
        cells[0, i] = np.asarray(r, dtype=np.int32)
    scipy.io.savemat(str(path), {"gt": cells})


def _ped2_like(root: Path, n_test_frames=(10, 8)):
    for v in ("01", "02"):
        _write_frames(root / "training" / "frames" / v, 6)
    for v, n in zip(("01", "02"), n_test_frames):
        _write_frames(root / "testing" / "frames" / v, n)
    return {"root": str(root), "format": "frame_folder", "train_dir": "training/frames", "test_dir": "testing/frames",
            "frames_glob": "*", "labels": {"kind": "mat", "path": "ped2.mat"}}


def test_frame_folder_with_mat_ranges_one_based_inclusive(tmp_path):
    ds = _ped2_like(tmp_path)
    # video 01: frames 3..5 (1-based) -> files 002..004; video 02: two events [1,2] and [8,8]
    _mat_gt(tmp_path / "ped2.mat", [[[3], [5]], [[1, 8], [2, 8]]])
    videos = readers.discover_videos(ds)
    tests = {v.name: v for v in videos if v.split == "test"}
    assert [v.video_id for v in videos] == ["train_01", "train_02", "test_01", "test_02"]
    assert tests["01"].labels.tolist() == [0, 0, 1, 1, 1, 0, 0, 0, 0, 0]
    assert tests["02"].labels.tolist() == [1, 1, 0, 0, 0, 0, 0, 1]


def test_mat_with_wrong_video_count_names_file(tmp_path):
    ds = _ped2_like(tmp_path)
    _mat_gt(tmp_path / "ped2.mat", [[[3], [5]]])
    with pytest.raises(DataError, match=r"ped2\.mat.*1 test videos but 2"):
        readers.discover_videos(ds)


def test_mat_range_beyond_video_is_rejected(tmp_path):
    ds = _ped2_like(tmp_path)
    _mat_gt(tmp_path / "ped2.mat", [[[3], [50]], [[1], [2]]])
    with pytest.raises(DataError, match="does not fit a video of 10 frames"):
        readers.discover_videos(ds)


def test_shanghaitech_npy_masks_and_length_mismatch(tmp_path):
    ds = _ped2_like(tmp_path)
    ds["labels"] = {"kind": "npy_masks", "path": "testing/test_frame_mask"}
    masks = tmp_path / "testing" / "test_frame_mask"
    masks.mkdir(parents=True)
    np.save(masks / "01.npy", np.r_[np.zeros(5), np.ones(5)].astype(np.int64))
    np.save(masks / "02.npy", np.zeros(7, dtype=np.int64))  # video 02 has 8 frames
    with pytest.raises(DataError, match=r"testing/frames/02: has 8 frames but its labels have length 7"):
        readers.discover_videos(ds)
    np.save(masks / "02.npy", np.zeros(8, dtype=np.int64))
    tests = [v for v in readers.discover_videos(ds) if v.split == "test"]
    assert tests[0].labels.sum() == 5


def test_missing_labels_for_a_test_video(tmp_path):
    ds = _ped2_like(tmp_path)
    ds["labels"] = {"kind": "npy_masks", "path": "testing/test_frame_mask"}
    (tmp_path / "testing" / "test_frame_mask").mkdir(parents=True)
    np.save(tmp_path / "testing" / "test_frame_mask" / "01.npy", np.zeros(10))
    with pytest.raises(DataError, match=r"02\.npy: label file not found"):
        readers.discover_videos(ds)


def test_missing_dataset_folder(tmp_path):
    with pytest.raises(DataError, match="dataset folder not found"):
        readers.discover_videos({"root": str(tmp_path / "nope"), "format": "frame_folder"})


def test_empty_video_and_zero_length_frame(tmp_path):
    ds = _ped2_like(tmp_path)
    _mat_gt(tmp_path / "ped2.mat", [[[3], [5]], [[1], [2]]])
    (tmp_path / "training" / "frames" / "03").mkdir()
    with pytest.raises(DataError, match=r"training/frames/03: empty video"):
        readers.discover_videos(ds)
    _write_frames(tmp_path / "training" / "frames" / "03", 2)
    (tmp_path / "training" / "frames" / "03" / "002.jpg").write_bytes(b"")
    with pytest.raises(DataError, match=r"002\.jpg: unreadable frame: zero-length file"):
        readers.discover_videos(ds)


def test_corrupt_frame_raises_on_decode(tmp_path):
    _write_frames(tmp_path / "v", 3)
    (tmp_path / "v" / "001.jpg").write_bytes(b"not a jpeg at all")
    video = readers.VideoSource("train_v", "train", "v", tmp_path / "v", readers.list_frames(tmp_path / "v"), 3)
    with pytest.raises(DataError, match=r"001\.jpg: unreadable frame"):
        readers.read_video_frames(video)


def test_frames_of_differing_sizes(tmp_path):
    _write_frames(tmp_path / "v", 2)
    _write_frames(tmp_path / "v", 1, start=2, size=(30, 30))
    video = readers.VideoSource("train_v", "train", "v", tmp_path / "v", readers.list_frames(tmp_path / "v"), 3)
    with pytest.raises(DataError, match="differs from the video's first frame"):
        readers.read_video_frames(video)


def test_ucsd_official_layout_with_m_file_grey_tifs_and_gt_bmp(tmp_path):
    root = tmp_path / "UCSDped2"
    _write_frames(root / "Train" / "Train001", 5, ext="tif", start=1, grey=True)
    _write_frames(root / "Test" / "Test001", 6, ext="tif", start=1, grey=True)
    _write_frames(root / "Test" / "Test002", 4, ext="tif", start=1, grey=True)
    gt = root / "Test" / "Test001_gt"
    gt.mkdir()
    for i in range(1, 7):
        mask = np.zeros((24, 32), np.uint8)
        if i >= 5:
            mask[3:6, 3:6] = 255
        cv2.imwrite(str(gt / f"{i:03d}.bmp"), mask)
    (root / "Test" / "UCSDped2.m").write_text(
        "TestVideoFile = {};\nTestVideoFile{end+1}.gt_frame = [5:6];\nTestVideoFile{end+1}.gt_frame = [1:2, 4:4];\n")
    ds = {"root": str(root), "format": "ucsd", "train_dir": "Train", "test_dir": "Test", "frames_glob": "*.tif",
          "labels": {"kind": "ucsd_m", "path": "Test/UCSDped2.m"}}
    videos = readers.discover_videos(ds)
    assert [v.video_id for v in videos] == ["train_Train001", "test_Test001", "test_Test002"]
    t1, t2 = videos[1], videos[2]
    assert t1.labels.tolist() == [0, 0, 0, 0, 1, 1]
    assert t2.labels.tolist() == [1, 1, 0, 1]
    assert t1.mask_source == gt and t2.mask_source is None
    frames = readers.read_video_frames(t1)
    assert frames.shape == (6, 24, 32, 3) and frames.dtype == np.uint8
    assert np.array_equal(frames[..., 0], frames[..., 2])  # grey -> 3 identical channels
    masks = readers.read_pixel_masks(t1, size=(12, 16))
    assert masks.shape == (6, 12, 16) and masks[:4].max() == 0 and masks[4:].max() == 1
    ds["labels"] = {"kind": "ucsd_gt_bmp"}
    with pytest.raises(DataError, match="Test002_gt: ground-truth mask folder missing"):
        readers.discover_videos(ds)


def test_video_files_layout(tmp_path):
    root = tmp_path / "avenue"
    for split, n in (("training_videos", 7), ("testing_videos", 9)):
        (root / split).mkdir(parents=True)
        writer = cv2.VideoWriter(str(root / split / "01.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 25, (32, 24))
        for i in range(n):
            writer.write(np.full((24, 32, 3), i * 20, np.uint8))
        writer.release()
    _mat_gt(root / "avenue.mat", [[[2], [4]]])
    ds = {"root": str(root), "format": "video_files", "train_dir": "training_videos", "test_dir": "testing_videos",
          "labels": {"kind": "mat", "path": "avenue.mat"}}
    videos = readers.discover_videos(ds)
    assert [(v.video_id, v.n_frames) for v in videos] == [("train_01", 7), ("test_01", 9)]
    assert videos[1].labels.tolist() == [0, 1, 1, 1, 0, 0, 0, 0, 0]
    frames = readers.read_video_frames(videos[1], size=(12, 16))
    assert frames.shape == (9, 12, 16, 3)


def test_ucsd_m_unparseable_range(tmp_path):
    f = tmp_path / "UCSDped2.m"
    f.write_text("TestVideoFile{end+1}.gt_frame = [61-180];\n")
    with pytest.raises(DataError, match="cannot parse range"):
        readers.read_ucsd_m(f)


# ------------------------------------------------------------------ strict decoding (issue 16, case 1)
def _truncate(path: Path, keep: float = 1 / 3) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.mark.parametrize("ext", ["jpg", "png", "tif", "bmp"])
def test_truncated_frame_is_a_data_error_naming_the_file(tmp_path, ext):
    """A frame cut to a third of its bytes stops the run (libjpeg alone decodes it half grey)."""
    _write_frames(tmp_path / "v", 3, ext=ext)
    _truncate(tmp_path / "v" / f"001.{ext}")
    video = readers.VideoSource("test_v", "test", "v", tmp_path / "v", readers.list_frames(tmp_path / "v"), 3)
    with pytest.raises(DataError, match=rf"v/001\.{ext}: unreadable frame"):
        readers.read_video_frames(video)


def test_jpeg_cut_just_before_its_end_marker_is_rejected(tmp_path):
    _write_frames(tmp_path / "v", 1)
    path = tmp_path / "v" / "000.jpg"
    path.write_bytes(path.read_bytes()[:-2])
    with pytest.raises(DataError, match=r"000\.jpg: unreadable frame: truncated JPEG"):
        readers.read_frame(path)


def _overwrite_scan_middle(path: Path, n_bytes: int = 64) -> None:
    """Overwrite ``n_bytes`` in the middle of a JPEG's entropy-coded scan data; the FF D9 end marker stays."""
    data = bytearray(path.read_bytes())
    sos = data.index(b"\xff\xda")                                  # start-of-scan marker, then its header
    start = sos + 2 + int.from_bytes(data[sos + 2: sos + 4], "big")
    middle = start + (len(data) - 2 - start) // 2
    data[middle: middle + n_bytes] = np.random.default_rng(0).integers(0, 255, n_bytes, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))


def test_jpeg_with_corrupt_scan_data_but_its_end_marker_is_a_data_error(tmp_path):
    """libjpeg decodes such a frame with garbled blocks and only warns on stderr ("Corrupt JPEG data: …")."""
    folder = tmp_path / "v"
    folder.mkdir()
    rng = np.random.default_rng(0)
    frame = cv2.GaussianBlur(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8), (5, 5), 0)
    for i in range(3):
        (folder / f"{i:03d}.jpg").write_bytes(cv2.imencode(".jpg", frame)[1].tobytes())
    bad = folder / "001.jpg"
    _overwrite_scan_middle(bad)
    assert bad.read_bytes().endswith(b"\xff\xd9") and bad.stat().st_size == (folder / "000.jpg").stat().st_size
    assert cv2.imdecode(np.fromfile(str(bad), np.uint8), cv2.IMREAD_UNCHANGED) is not None   # OpenCV alone: no error
    readers.check_frame_file(bad)                           # the up-front check cannot see it (no decoding)
    with pytest.raises(DataError, match=r"v/001\.jpg: unreadable frame: corrupt JPEG data \(libjpeg: Corrupt JPEG"):
        readers.read_frame(bad)
    video = readers.VideoSource("test_v", "test", "v", folder, readers.list_frames(folder), 3)
    with pytest.raises(DataError, match=r"v/001\.jpg: unreadable frame: corrupt JPEG data"):
        readers.read_video_frames(video)                    # through the thread pool, as the pipeline reads
    np.testing.assert_array_equal(readers.read_frame(folder / "000.jpg"), readers.read_frame(folder / "002.jpg"))


def test_jpeg_with_trailing_zero_padding_is_accepted(tmp_path):
    _write_frames(tmp_path / "v", 1)
    path = tmp_path / "v" / "000.jpg"
    path.write_bytes(path.read_bytes() + b"\x00" * 16)
    assert readers.read_frame(path).shape == (24, 32, 3)


@pytest.mark.parametrize("suffix,fourcc", [(".avi", "MJPG"), (".mp4", "mp4v")])
def test_truncated_video_file_is_a_data_error(tmp_path, suffix, fourcc):
    path = tmp_path / f"clip{suffix}"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10, (64, 48))
    rng = np.random.default_rng(0)
    for _ in range(30):
        writer.write(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    writer.release()
    assert readers.count_video_frames(path) == 30
    _truncate(path)
    with pytest.raises(DataError, match=rf"clip{suffix}: (truncated or corrupt video|cannot open video file)"):
        readers.count_video_frames(path)


def test_truncated_jpeg_is_found_by_the_index_before_any_decoding(tmp_path):
    ds = _ped2_like(tmp_path)
    _mat_gt(tmp_path / "ped2.mat", [[[3], [5]], [[1], [2]]])
    _truncate(tmp_path / "testing" / "frames" / "02" / "004.jpg")
    with pytest.raises(DataError, match=r"testing/frames/02/004\.jpg: unreadable frame: truncated JPEG"):
        readers.discover_videos(ds)
