"""NodeTimingHook writes per-node seconds under the data root and logs progress."""

import json
import logging
import types

from vad_kedro import hooks
from vad_kedro.hooks import NodeTimingHook


def test_timings_written_and_progress_logged(tmp_path, caplog):
    hook = NodeTimingHook()
    hook.after_context_created(types.SimpleNamespace(project_path=tmp_path,
                                                     config_loader={"globals": {"data_root": "data/smoke"}}))
    node = types.SimpleNamespace(name="rtfm.train")
    hook.before_pipeline_run({"pipeline_names": ["weak_supervision"]}, types.SimpleNamespace(nodes=[node, node]))
    with caplog.at_level(logging.INFO, logger="vad_kedro.hooks"):
        hook.before_node_run(node)
    hook.after_node_run(node)
    assert "(weak_supervision 1/2) rtfm.train" in caplog.text
    timings = json.loads((tmp_path / "data" / "smoke" / "08_reporting" / "node_timings.json").read_text())
    assert set(timings) == {"rtfm.train"} and timings["rtfm.train"] >= 0


def test_default_run_names_the_pipeline_of_each_node(tmp_path, caplog, monkeypatch):
    pre, fe, smm = (types.SimpleNamespace(name=n) for n in ("decode_frames", "feature_extraction.flow", "lpg.train_smm"))
    registered = {
        "__default__": types.SimpleNamespace(nodes=[pre, fe, smm]),
        "preprocessing": types.SimpleNamespace(nodes=[pre]),
        "feature_extraction": types.SimpleNamespace(nodes=[pre, fe]),
        "state_machine": types.SimpleNamespace(nodes=[pre, fe, smm]),
        "weak_supervision": types.SimpleNamespace(nodes=[fe]),     # smaller, but fe is upstream
    }
    assert hooks.node_owners(registered) == {"decode_frames": "preprocessing",
                                             "feature_extraction.flow": "feature_extraction",
                                             "lpg.train_smm": "state_machine"}
    monkeypatch.setattr(hooks, "_registered_pipelines", lambda: registered)
    hook = NodeTimingHook()
    hook.after_context_created(types.SimpleNamespace(project_path=tmp_path, config_loader={"globals": {}}))
    hook.before_pipeline_run({"pipeline_names": None}, registered["__default__"])
    with caplog.at_level(logging.INFO, logger="vad_kedro.hooks"):
        hook.before_node_run(smm)
    assert "(__default__ 1/3) state_machine: lpg.train_smm" in caplog.text
