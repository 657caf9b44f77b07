"""kedro-viz layers (issue 19): every catalog entry names its layer, and along every registered pipeline the
layers only move forward, so kedro-viz can order its bands (it drops all of them when the layers form a cycle)."""

from pathlib import Path

import pytest
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog

from vad_kedro.pipeline_registry import register_pipelines

LAYERS = ["raw", "intermediate", "feature", "model input", "models", "model output", "reporting"]
CONF = Path(__file__).resolve().parents[1] / "conf"


@pytest.fixture(scope="module")
def catalog_conf() -> dict:
    return OmegaConfigLoader(str(CONF), base_env="base", default_run_env="base")["catalog"]


def _layer(entry: dict) -> str | None:
    return ((entry.get("metadata") or {}).get("kedro-viz") or {}).get("layer")


def test_every_catalog_entry_has_a_known_layer(catalog_conf):
    entries = {name: entry for name, entry in catalog_conf.items() if not name.startswith("_")}
    assert len(entries) > 40
    unknown = {name: _layer(entry) for name, entry in entries.items() if _layer(entry) not in LAYERS}
    assert not unknown, f"catalog entries without one of the layers {LAYERS}: {unknown}"


def test_layers_never_go_backwards_along_a_pipeline(catalog_conf):
    catalog = DataCatalog.from_config(catalog_conf)
    backwards = set()
    for name, pipeline in register_pipelines().items():
        upstream: dict[str, int] = {}    # dataset -> the latest layer on the way to it
        for node in pipeline.nodes:      # in topological order
            seen = max([upstream.get(d, -1) for d in node.inputs] + [_index(catalog, d) for d in node.inputs] + [-1])
            for out in node.outputs:
                layer = _index(catalog, out)
                if layer != -1 and layer < seen:
                    backwards.add(f"{name}: {out} ({LAYERS[layer]}) after {LAYERS[seen]}")
                upstream[out] = max(seen, layer)
    assert not backwards, sorted(backwards)[:10]


def _index(catalog: DataCatalog, dataset: str) -> int:
    """Position of the dataset's layer in LAYERS; -1 for parameters and undeclared in-memory datasets."""
    if dataset.startswith("params:") or dataset == "parameters" or dataset not in catalog:
        return -1
    layer = ((catalog.get(dataset).metadata or {}).get("kedro-viz") or {}).get("layer")
    return LAYERS.index(layer) if layer else -1
