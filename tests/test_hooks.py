"""NodeTimingHook writes per-node seconds under the data root and logs progress."""

import json
import logging
import types

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
    assert "[weak_supervision 1/2] rtfm.train" in caplog.text
    timings = json.loads((tmp_path / "data" / "smoke" / "08_reporting" / "node_timings.json").read_text())
    assert set(timings) == {"rtfm.train"} and timings["rtfm.train"] >= 0
