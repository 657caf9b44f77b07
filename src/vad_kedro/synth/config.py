"""Size presets and configuration hashing for the synthetic benchmark."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

#: Bump when the rendered bytes change for the same configuration (invalidates cached benchmarks).
GENERATOR_VERSION = "1"

#: Every anomaly type the generator can stage.
ANOMALY_TYPES: tuple[str, ...] = (
    "running",
    "wrong_direction",
    "falling",
    "fighting",
    "cyclist",
    "thrown_object",
    "loitering",
)

_COMMON: dict[str, Any] = {
    "jpeg_quality": 95,
    "noise_sigma": 3.0,  # Gaussian sensor noise, grey levels
    "illumination_amplitude": 0.08,  # max relative brightness drift
    "crowd_rate": 0.3,  # arrivals of pedestrian groups per second (all walkways together)
    "held_out_types": ["fighting", "thrown_object"],  # never staged in training videos
}

#: Size presets. ``duration`` is the same (6.4 s) in both; ``smoke`` samples it at 10 fps, ``default`` at 25 fps.
SIZES: dict[str, dict[str, Any]] = {
    "smoke": {
        "height": 96,
        "width": 128,
        "fps": 10.0,
        "n_frames": 64,
        "n_train_normal": 4,
        "n_train_abnormal": 4,
        "n_test_abnormal": 4,
        "n_test_normal": 2,
        **copy.deepcopy(_COMMON),
    },
    "default": {
        "height": 180,
        "width": 240,
        "fps": 25.0,
        "n_frames": 160,
        "n_train_normal": 16,
        "n_train_abnormal": 16,
        "n_test_abnormal": 12,
        "n_test_normal": 4,
        **copy.deepcopy(_COMMON),
    },
}


def resolve_config(size: str, seed: int, overrides: dict | None = None) -> dict[str, Any]:
    """Return the full configuration: the preset ``size`` updated with ``overrides``, plus the seed.

    Raises ``ValueError`` for an unknown preset, an unknown override key or an impossible value.
    """
    if size not in SIZES:
        raise ValueError(f"unknown synthetic benchmark size {size!r}; choose one of {sorted(SIZES)}")
    cfg = copy.deepcopy(SIZES[size])
    for key, value in (overrides or {}).items():
        if key not in cfg:
            raise ValueError(f"unknown synthetic benchmark option {key!r}; known: {sorted(cfg)}")
        cfg[key] = copy.deepcopy(value)
    cfg["height"], cfg["width"], cfg["n_frames"] = int(cfg["height"]), int(cfg["width"]), int(cfg["n_frames"])
    for key in ("n_train_normal", "n_train_abnormal", "n_test_abnormal", "n_test_normal"):
        cfg[key] = int(cfg[key])
        if cfg[key] < 0:
            raise ValueError(f"{key} must be >= 0, got {cfg[key]}")
    if cfg["height"] < 48 or cfg["width"] < 64:
        raise ValueError(f"frames must be at least 48x64 (HxW), got {cfg['height']}x{cfg['width']}")
    if cfg["n_frames"] < 16:
        raise ValueError(f"n_frames must be >= 16, got {cfg['n_frames']}")
    if float(cfg["fps"]) <= 0:
        raise ValueError(f"fps must be positive, got {cfg['fps']}")
    cfg["fps"] = float(cfg["fps"])
    unknown = sorted(set(cfg["held_out_types"]) - set(ANOMALY_TYPES))
    if unknown:
        raise ValueError(f"held_out_types contains unknown anomaly types {unknown}")
    cfg["held_out_types"] = [t for t in ANOMALY_TYPES if t in set(cfg["held_out_types"])]
    if len(cfg["held_out_types"]) == len(ANOMALY_TYPES) and cfg["n_train_abnormal"] > 0:
        raise ValueError("held_out_types leaves no anomaly type for the abnormal training videos")
    cfg["seed"] = int(seed)
    cfg["generator_version"] = GENERATOR_VERSION
    return cfg


def config_hash(cfg: dict[str, Any]) -> str:
    """SHA-256 (hex, first 16 chars) of the canonical JSON of a resolved configuration."""
    blob = json.dumps(cfg, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
