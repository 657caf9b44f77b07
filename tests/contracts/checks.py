"""The score contract every method's ``<method>.frame_scores`` must meet (docs/architecture.md, "Method
outputs"), as two assertions shared by the ``test_score_contract_<pipeline>.py`` files:

- :func:`assert_one_score_per_frame`: every test video of the index (and no other video) has exactly one
  finite score per frame, frames ``0 .. n_frames - 1`` each once, per seed when a ``seed`` column exists;
- :func:`assert_peak_in_window`: on a video with a planted event in frames ``[a, b]``, the video's highest
  score lies in ``[a - w, b + w]``, ``w`` being the method's stated temporal window;

and :func:`run_pipeline`, which runs a method pipeline as wired on fabricated inputs in memory, so the
contract holds for what the pipeline writes, not for a re-composition of its nodes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def _per_seed(frame_scores: pd.DataFrame):
    if "seed" in frame_scores.columns:
        yield from frame_scores.groupby("seed", sort=True)
    else:
        yield None, frame_scores


def assert_one_score_per_frame(frame_scores: pd.DataFrame, video_index: pd.DataFrame, method: str) -> None:
    """One finite score per frame of every test video of ``video_index`` (per seed), nothing else."""
    assert {"video_id", "frame", "score"} <= set(frame_scores.columns), (method, list(frame_scores.columns))
    tests = video_index[video_index["split"] == "test"]
    n_frames = dict(zip(tests["video_id"], tests["n_frames"].astype(int), strict=True))
    assert np.isfinite(frame_scores["score"].to_numpy(dtype=float)).all(), f"{method}: NaN or inf scores"
    for seed, df in _per_seed(frame_scores):
        assert set(df["video_id"]) == set(n_frames), (method, seed, sorted(set(df["video_id"]) ^ set(n_frames)))
        for vid, part in df.groupby("video_id"):
            frames = np.sort(part["frame"].to_numpy())
            assert len(frames) == n_frames[vid], (
                f"{method} (seed {seed}): {vid} has {len(frames)} scores for {n_frames[vid]} frames")
            np.testing.assert_array_equal(frames, np.arange(n_frames[vid]),
                                          err_msg=f"{method} (seed {seed}): {vid} frames are not 0..n-1 once each")


def video_scores(frame_scores: pd.DataFrame, video_id: str, seed=None) -> np.ndarray:
    """One video's scores in frame order (of one seed, when given)."""
    df = frame_scores[frame_scores["video_id"] == video_id]
    if seed is not None:
        df = df[df["seed"] == seed]
    return df.sort_values("frame")["score"].to_numpy(dtype=float)


def assert_peak_in_window(frame_scores: pd.DataFrame, video_id: str, event: tuple[int, int], w: int,
                          method: str) -> list[int]:
    """The highest score of ``video_id`` (every seed) lies in ``[a - w, b + w]`` for ``event = (a, b)``
    (inclusive frame indices). Returns the peak frame per seed."""
    a, b = event
    peaks = []
    for seed, df in _per_seed(frame_scores):
        s = video_scores(df, video_id)
        assert len(s), (method, video_id, seed)
        peak = int(np.argmax(s))
        assert a - w <= peak <= b + w, (
            f"{method} (seed {seed}): peak of {video_id} at frame {peak} (score {s[peak]:.4g}), planted event in "
            f"frames [{a}, {b}], window w = {w}; scores {np.round(s, 3).tolist()}")
        peaks.append(peak)
    return peaks


def run_pipeline(pipeline, data: dict[str, Any], params: dict[str, Any], keep: tuple[str, ...] = ()
                 ) -> dict[str, Any]:
    """Run a method pipeline as wired (``create_pipeline()``) in memory with Kedro's SequentialRunner.

    ``data`` holds its free dataset inputs (partitions as dicts of loaders), ``params`` the top-level
    parameters, which are fed as Kedro does (``params:a``, ``params:a.b``, ...). Returns every free output
    and the intermediate datasets named in ``keep`` (e.g. a model the scoring nodes read).
    """
    from kedro.io import AbstractDataset, DataCatalog, MemoryDataset
    from kedro.runner import SequentialRunner

    class Kept(MemoryDataset):
        def _release(self) -> None:   # the runner frees intermediate datasets; keep these
            pass

    feed: dict[str, Any] = {}

    def add(key: str, value: Any) -> None:
        feed[f"params:{key}"] = value
        if isinstance(value, dict):
            for k, v in value.items():
                add(f"{key}.{k}", v)

    for key, value in params.items():
        add(key, value)
    missing = pipeline.inputs() - set(data) - set(feed)
    assert not missing, f"pipeline inputs not fed: {sorted(missing)}"
    catalog = DataCatalog({k: MemoryDataset(v, copy_mode="assign") for k, v in {**data, **feed}.items()
                           if k in pipeline.inputs()})
    for name in keep:
        catalog[name] = Kept(copy_mode="assign")
    returned = SequentialRunner().run(pipeline, catalog) or {}   # free outputs: datasets holding them
    out = {}
    for name in {*pipeline.outputs(), *keep}:
        value = catalog.load(name) if name in catalog else returned[name]
        out[name] = value.load() if isinstance(value, AbstractDataset) else value
    return out
