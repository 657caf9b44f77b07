"""The shipped parameter groups as Kedro merges them, for tests that start from the YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

CONF = Path(__file__).resolve().parents[1] / "conf"


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``over``'s keys replaced, nested dicts merged key by key (Kedro's soft merge)."""
    out = dict(base)
    for k, v in over.items():
        out[k] = deep_merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


def yaml_group(name: str, env: str = "base") -> dict[str, Any]:
    """``parameters_<name>.yml``'s group as Kedro merges it for ``env`` (soft merge over base)."""
    raw = yaml.safe_load((CONF / "base" / f"parameters_{name}.yml").read_text())[name]
    if env != "base":
        raw = deep_merge(raw, yaml.safe_load((CONF / env / f"parameters_{name}.yml").read_text())[name])
    return raw
