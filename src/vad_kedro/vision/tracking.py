"""IoU tracker with Hungarian association (SORT-style, without a Kalman filter).

Bewley et al., "Simple Online and Realtime Tracking", ICIP 2016: detections of frame t are assigned
to tracks by maximising total IoU between each track's predicted box and the detections with the
Hungarian algorithm (``scipy.optimize.linear_sum_assignment``); pairs below ``iou_threshold`` are
never matched. Here the prediction is the last box shifted by an exponentially averaged centre
velocity, which keeps identities through crossings and short occlusions.

Track birth and death:
- a track is *confirmed* once it has ``min_hits`` matched detections; unconfirmed tracks are
  dropped (their earlier rows are emitted once confirmed, so confirmed tracks are complete);
- a track dies after ``max_age`` consecutive frames without a match; a detection after a longer
  gap starts a new track id.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from .geometry import iou_matrix

TRACK_COLUMNS = ["frame", "track_id", "x1", "y1", "x2", "y2", "score"]


@dataclass
class _Track:
    uid: int
    box: np.ndarray
    last_frame: int
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))
    size: np.ndarray | None = None  # reference (width, height): average over size-consistent matches
    hits: int = 1
    rows: list[tuple[int, np.ndarray, float]] = field(default_factory=list)

    def predict(self, frame: int) -> np.ndarray:
        shift = self.velocity * (frame - self.last_frame)
        return self.box + np.r_[shift, shift]

    def __post_init__(self) -> None:
        if self.size is None:
            self.size = np.array([self.box[2] - self.box[0], self.box[3] - self.box[1]], dtype=np.float64)


@dataclass
class IoUTracker:
    """Online IoU tracker. Call :meth:`update` once per frame in order, then :meth:`results`.

    Args:
        iou_threshold: minimum IoU between a track's predicted box and a detection to match.
        max_age: frames a track survives without a match (death).
        min_hits: matched detections needed to confirm a track (birth).
        velocity_momentum: weight of the previous velocity in the centre-velocity average (0 = last step only).
        min_score: detections with a lower score are ignored.
        max_size_change: a matched detection whose width or height differs from the track's reference
            size by more than this factor (a merge with another object, or a fragment) does not update
            the track's box, size or velocity.
        fill_gaps: offline gap filling: a confirmed track's missing frames between two of its matches
            at most this many frames apart are filled with linearly interpolated boxes (score: the lower
            of the two matches'); 0 = off. At most ``max_age`` can occur.
    """

    iou_threshold: float = 0.3
    max_age: int = 10
    min_hits: int = 3
    velocity_momentum: float = 0.6
    min_score: float = 0.0
    max_size_change: float = 1.4
    fill_gaps: int = 0
    _active: list[_Track] = field(default_factory=list, init=False, repr=False)
    _finished: list[_Track] = field(default_factory=list, init=False, repr=False)
    _next_uid: int = field(default=0, init=False, repr=False)

    def update(self, frame: int, detections: np.ndarray) -> None:
        """Associate ``detections`` [n,5] (x1,y1,x2,y2,score) of ``frame`` with the active tracks."""
        det = np.asarray(detections, dtype=np.float64).reshape(-1, 5)
        det = det[det[:, 4] >= self.min_score]
        # death: tracks unmatched for more than max_age frames
        alive = []
        for trk in self._active:
            (alive if frame - trk.last_frame <= self.max_age else self._finished).append(trk)
        self._active = alive

        matched_det: set[int] = set()
        if self._active and len(det):
            pred = np.stack([t.predict(frame) for t in self._active])
            iou = iou_matrix(pred, det[:, :4])
            rows, cols = linear_sum_assignment(-iou)
            for r, c in zip(rows, cols, strict=True):
                if iou[r, c] < self.iou_threshold:
                    continue
                self._match(self._active[r], frame, det[c])
                matched_det.add(int(c))
        for c in range(len(det)):
            if c not in matched_det:
                trk = _Track(uid=self._next_uid, box=det[c, :4].copy(), last_frame=frame)
                trk.rows.append((frame, det[c, :4].copy(), float(det[c, 4])))
                self._next_uid += 1
                self._active.append(trk)

    def _match(self, trk: _Track, frame: int, det: np.ndarray) -> None:
        dt = max(frame - trk.last_frame, 1)
        wh = np.array([det[2] - det[0], det[3] - det[1]], dtype=np.float64)
        ratio = wh / np.maximum(trk.size, 1e-9)
        if trk.hits > 1 and np.any((ratio > self.max_size_change) | (ratio < 1 / self.max_size_change)):
            # the detection merges this object with another (or is a fragment of it): keep the row, but
            # move the track along its own prediction with its reference size, so the merge does not
            # corrupt its motion or size
            c = _centre(trk.predict(frame))
            half = trk.size / 2
            trk.box = np.r_[c - half, c + half]
        else:
            step = (_centre(det[:4]) - _centre(trk.box)) / dt
            m = self.velocity_momentum if trk.hits > 1 else 0.0
            trk.velocity = m * trk.velocity + (1 - m) * step
            trk.size = 0.7 * trk.size + 0.3 * wh
            trk.box = det[:4].copy()
        trk.last_frame = frame
        trk.hits += 1
        trk.rows.append((frame, det[:4].copy(), float(det[4])))

    def results(self) -> pd.DataFrame:
        """Rows of confirmed tracks: frame, track_id (0.. by first frame), x1, y1, x2, y2, score."""
        tracks = [t for t in self._finished + self._active if t.hits >= self.min_hits]
        tracks.sort(key=lambda t: (t.rows[0][0], t.uid))
        out = []
        for new_id, trk in enumerate(tracks):
            for frame, box, score in _filled(trk.rows, self.fill_gaps):
                out.append((frame, new_id, *box, score))
        df = pd.DataFrame(out, columns=TRACK_COLUMNS)
        return cast_tracks(df).sort_values(["frame", "track_id"], kind="stable").reset_index(drop=True)


def _filled(rows: list[tuple[int, np.ndarray, float]], max_gap: int) -> list[tuple[int, np.ndarray, float]]:
    """A track's rows with gaps of at most ``max_gap`` missing frames filled by linear interpolation."""
    if max_gap <= 0 or len(rows) < 2:
        return rows
    out = [rows[0]]
    for (f0, b0, s0), (f1, b1, s1) in zip(rows[:-1], rows[1:], strict=True):
        if 1 < f1 - f0 <= max_gap + 1:
            for f in range(f0 + 1, f1):
                a = (f - f0) / (f1 - f0)
                out.append((f, (1 - a) * b0 + a * b1, min(s0, s1)))
        out.append((f1, b1, s1))
    return out


def _centre(box: np.ndarray) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0])


def cast_tracks(df: pd.DataFrame) -> pd.DataFrame:
    """Cast a tracks table to the contract dtypes (frame/track_id int32, coordinates/score float32)."""
    df = df.copy()
    df["frame"] = df["frame"].astype(np.int32)
    df["track_id"] = df["track_id"].astype(np.int32)
    for col in ["x1", "y1", "x2", "y2", "score"]:
        df[col] = df[col].astype(np.float32)
    return df[TRACK_COLUMNS]


def track_detections(detections: list[np.ndarray], **tracker_params) -> pd.DataFrame:
    """Run :class:`IoUTracker` over per-frame detections (list index = 0-based frame)."""
    tracker = IoUTracker(**tracker_params)
    for frame, det in enumerate(detections):
        tracker.update(frame, det)
    return tracker.results()
