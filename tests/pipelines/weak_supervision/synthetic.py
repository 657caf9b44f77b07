"""The spec §7 synthetic weak-supervision set: snippet features with planted anomalous runs."""

from __future__ import annotations

import numpy as np
import pandas as pd


def make_synthetic(n_train: int = 40, n_test: int = 20, n_val: int = 10, n_crops: int = 3, dim: int = 64,
                   t_range: tuple[int, int] = (32, 200), seed: int = 0,
                   shift: float = 3.0) -> tuple[dict[str, np.ndarray], pd.DataFrame, pd.DataFrame]:
    """Features, video index and frame labels of ``n_train`` + ``n_train`` training videos etc.

    Normal snippets are N(0, 1) per channel (crops = small perturbations of one snippet vector);
    abnormal videos carry 1–2 runs covering 10–40 % of T shifted by ``shift`` along one fixed unit
    direction (larger norm). Returns (features {video_id: (T, N, C)}, video_index, frame_labels).
    """
    rng = np.random.default_rng(seed)
    direction = rng.normal(size=dim)
    direction /= np.linalg.norm(direction)
    feats, rows, labels = {}, [], []
    for split, n in (("train", n_train), ("val", n_val), ("test", n_test)):
        for label in (0, 1):
            for i in range(n):
                vid = f"{split}_{'abn' if label else 'nor'}{i:03d}"
                t = int(rng.integers(t_range[0], t_range[1] + 1))
                base = rng.normal(size=(t, 1, dim))
                x = base + 0.1 * rng.normal(size=(t, n_crops, dim))
                snippet_label = np.zeros(t, dtype=np.int8)
                if label:
                    n_runs = int(rng.integers(1, 3))
                    for _ in range(n_runs):
                        length = max(1, int(rng.uniform(0.1, 0.4) / n_runs * t))
                        start = int(rng.integers(0, t - length + 1))
                        snippet_label[start: start + length] = 1
                    x[snippet_label == 1] += shift * direction * np.sqrt(dim) / 4
                feats[vid] = x.astype(np.float32)
                n_frames = 16 * t - int(rng.integers(0, 16))
                rows.append({"video_id": vid, "split": split, "source_path": "", "n_frames": n_frames, "fps": 30.0,
                             "height": 0, "width": 0, "video_label": label, "anomaly_types": "shift" if label else ""})
                if split == "test":
                    fl = np.repeat(snippet_label, 16)[:n_frames]
                    labels.append(pd.DataFrame({"video_id": vid, "frame": np.arange(n_frames), "label": fl,
                                                "anomaly_type": np.where(fl == 1, "shift", "")}))
    return feats, pd.DataFrame(rows), pd.concat(labels, ignore_index=True)
