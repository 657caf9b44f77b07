"""NodeTimingHook writes per-node seconds under the data root and logs progress."""

import json
import logging
import types
from collections.abc import Mapping

from vad_kedro import hooks
from vad_kedro.hooks import NodeTimingHook


def test_timings_written_and_progress_logged(tmp_path, caplog):
    hook = NodeTimingHook()
    hook.after_context_created(types.SimpleNamespace(project_path=tmp_path,
                                                     config_loader={"globals": {"data_root": "data/smoke"}}))
    node, evaluate = types.SimpleNamespace(name="rtfm.train"), types.SimpleNamespace(name="rtfm.evaluate")
    hook.before_pipeline_run({"pipeline_names": ["weak_supervision"]}, types.SimpleNamespace(nodes=[node, evaluate]))
    metrics = {"micro_auc": 0.6104, "micro_auc_std": 0.0831, "n_seeds": 3, "ap": 0.4}
    with caplog.at_level(logging.INFO, logger="vad_kedro.progress"):
        hook.before_node_run(node)
        hook.after_node_run(node, {"rtfm.model": object()})
        hook.before_node_run(evaluate)
        hook.after_node_run(evaluate, {"rtfm.metrics": metrics, "rtfm.per_video": None})
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("(weak_supervision 1/2) rtfm.train done in ") and lines[0].endswith(" s")
    assert lines[1].startswith("(weak_supervision 2/2) rtfm.evaluate done in ")
    assert lines[1].endswith(" s; micro AUC 0.610 ± 0.083")
    timings = json.loads((tmp_path / "data" / "smoke" / "08_reporting" / "node_timings.json").read_text())
    assert set(timings) == {"rtfm.train", "rtfm.evaluate"} and timings["rtfm.train"] >= 0


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
    hook.after_context_created(types.SimpleNamespace(project_path=tmp_path,
                                                     config_loader={"globals": {}, "parameters": {}}))
    hook.before_pipeline_run({"pipeline_names": None}, registered["__default__"])
    with caplog.at_level(logging.INFO, logger="vad_kedro.progress"):
        for node in (smm, fe):
            hook.before_node_run(node)
            hook.after_node_run(node, {})
    assert "(__default__ 1/3) state_machine: lpg.train_smm done in " in caplog.text
    assert "(__default__ 2/3) feature_extraction.flow done in " in caplog.text   # its name says the pipeline


def _flat(d: dict, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in d.items():
        if isinstance(v, Mapping):      # typed parameter groups (vad_kedro.core.params) are Mappings
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = str(v)
    return out


def test_each_run_is_one_mlflow_run_with_every_node_parameter(smoke_project):
    """BatchedMlflowHook replaces kedro-mlflow's hook: one MLflow run per session run, holding the flattened
    parameters of every node, as the stock hook logs them."""
    import mlflow
    from kedro.framework.project import pipelines

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{smoke_project.path / 'mlflow_smoke.db'}")
    experiment = client.get_experiment_by_name("vad_kedro_smoke")
    before = {r.info.run_id for r in client.search_runs([experiment.experiment_id])}
    smoke_project.run("preprocessing")
    runs = [r for r in client.search_runs([experiment.experiment_id]) if r.info.run_id not in before]
    assert len(runs) == 1, [r.info.run_name for r in runs]
    params = smoke_project.params()
    names = sorted(d.removeprefix("params:") for d in pipelines["preprocessing"].inputs() if d.startswith("params:"))
    assert names == ["dataset", "preprocessing", "seed"]
    expected = _flat({name: params[name] for name in names})
    logged = runs[0].data.params
    assert {k: logged.get(k) for k in expected} == expected


def test_batched_hook_logs_a_parameter_once_and_long_values_by_strategy(monkeypatch):
    calls: list[dict] = []
    monkeypatch.setattr(hooks.mlflow, "log_params", lambda p: calls.append(dict(p)))
    monkeypatch.setattr(hooks.mlflow, "set_tag", lambda k, v: calls.append({"tag": k}))
    hook = hooks.BatchedMlflowHook()
    hook.run_id, hook._is_mlflow_enabled, hook.flatten, hook.long_params_strategy = None, True, True, "tag"
    long = "x" * (hooks.MAX_PARAM_VAL_LENGTH + 1)
    hook.before_node_run(None, None, {"params:a": {"b": 1, "c": long}, "frames": object()}, False)
    hook.before_node_run(None, None, {"params:a": {"b": 1, "c": long}, "params:seed": 7}, False)
    assert calls == [{"a.b": 1}, {"tag": "a.c"}, {"seed": 7}]


def test_two_runs_writing_timings_at_once_do_not_collide(tmp_path):
    """Issue 16, case 7: the timings file was written through one fixed temporary name."""
    import threading

    context = types.SimpleNamespace(project_path=tmp_path, config_loader={"globals": {"data_root": "data"}})
    errors = []

    def run(name: str) -> None:
        hook = NodeTimingHook()
        hook.after_context_created(context)
        node = types.SimpleNamespace(name=name)
        hook.before_pipeline_run({"pipeline_names": ["x"]}, types.SimpleNamespace(nodes=[node]))
        try:
            for _ in range(300):
                hook.before_node_run(node)
                hook.after_node_run(node, {})
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(f"n{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    folder = tmp_path / "data" / "08_reporting"
    assert errors == []
    assert json.loads((folder / "node_timings.json").read_text())
    assert [p.name for p in folder.iterdir()] == ["node_timings.json"]   # no temporary file left


def test_run_start_removes_files_left_by_a_killed_save(tmp_path, caplog):
    from vad_kedro.hooks import RunStartHook

    version = tmp_path / "data" / "06_models" / "rtfm" / "model.pt" / "2026-01-02T00.00.00.000Z"
    version.mkdir(parents=True)
    (version / ".model.pt.999999999-abcd.pt.tmp").write_bytes(b"half")   # no such process
    hook = RunStartHook()
    hook.after_context_created(types.SimpleNamespace(project_path=tmp_path,
                                                     config_loader={"globals": {}, "parameters": {}}))
    with caplog.at_level(logging.WARNING, logger="vad_kedro.hooks"):
        hook.before_pipeline_run({"pipeline_names": None}, types.SimpleNamespace(nodes=[]), None)
    assert not version.exists()
    assert "left by an interrupted save" in caplog.text


def test_run_start_skips_or_refuses_a_pipeline_the_dataset_cannot_feed(tmp_path, caplog):
    import pytest

    from vad_kedro.core.errors import DataError
    from vad_kedro.hooks import RunStartHook
    from vad_kedro.pipeline_registry import method_node_names

    hook = RunStartHook()
    hook.after_context_created(types.SimpleNamespace(project_path=tmp_path,
                                                     config_loader={"globals": {}, "parameters": {}}))
    hook._skipped = {"weak_supervision": "dataset d has no video labels"}
    with caplog.at_level(logging.WARNING, logger="vad_kedro.hooks"):
        hook.before_pipeline_run({"pipeline_names": []}, types.SimpleNamespace(nodes=[]), None)
    assert "weak_supervision skipped: dataset d has no video labels" in caplog.text
    weak = [types.SimpleNamespace(name=n) for n in sorted(method_node_names("weak_supervision"))[:1]]
    with pytest.raises(DataError, match="weak_supervision: cannot run: dataset d has no video labels"):
        hook.before_pipeline_run({"pipeline_names": ["weak_supervision"]}, types.SimpleNamespace(nodes=weak), None)


def test_run_summary_lists_the_methods_of_the_run(tmp_path, caplog):
    """The last lines of a run: this run's leaderboard rows (mean ± std over seeds), where the files are."""
    import logging
    from types import SimpleNamespace

    import pandas as pd

    from vad_kedro.hooks import RunSummaryHook

    hook = RunSummaryHook()
    hook._reporting = tmp_path
    (tmp_path / "report.html").write_text("<html></html>")
    nodes = [SimpleNamespace(name=n) for n in ("rtfm.train", "rtfm.evaluate", "motion_baseline.evaluate")]
    hook.before_pipeline_run(SimpleNamespace(nodes=nodes))
    table = pd.DataFrame({"method": ["lpg", "rtfm", "motion_baseline"], "micro_auc": [0.9, 0.61, 0.695],
                          "micro_auc_std": [float("nan"), 0.083, float("nan")], "ap": [0.8, 0.361, 0.57],
                          "n_seeds": [1, 3, 1]})
    hook.after_node_run(SimpleNamespace(name="rtfm.build_leaderboard"), {"weak_supervision.leaderboard": table})
    with caplog.at_level(logging.INFO, logger="vad_kedro.progress"):
        hook.after_pipeline_run()
    text = caplog.text
    assert "rtfm" in text and "micro AUC 0.610 ± 0.083" in text and "motion_baseline" in text
    assert "lpg" not in text                                          # not evaluated by this run
    assert str(tmp_path / "leaderboard.md") in text and str(tmp_path / "report.html") in text


def test_run_summary_adds_rbdc_and_tbdc_to_object_level_rows(tmp_path, caplog):
    import logging
    from types import SimpleNamespace

    import pandas as pd

    from vad_kedro.hooks import RunSummaryHook

    hook = RunSummaryHook()
    hook._reporting = tmp_path
    hook.before_pipeline_run(SimpleNamespace(nodes=[SimpleNamespace(name=n) for n in ("lpg.evaluate",
                                                                                       "motion_baseline.evaluate")]))
    table = pd.DataFrame({"method": ["lpg", "motion_baseline"], "micro_auc": [0.8, 0.7], "micro_auc_std": [0.0, 0.0],
                          "ap": [0.7, 0.4], "rbdc": [0.252, float("nan")], "tbdc": [0.549, float("nan")],
                          "region_note": ["", None], "n_seeds": [1, 1]})
    hook.after_node_run(SimpleNamespace(name="build_leaderboard"), {"leaderboard": table})
    with caplog.at_level(logging.INFO, logger="vad_kedro.hooks"):
        hook.after_pipeline_run()
    lines = {line.split()[0]: line for line in caplog.text.splitlines() if "micro AUC" in line}
    assert lines["lpg"].endswith("RBDC 0.252  TBDC 0.549")
    assert "RBDC" not in lines["motion_baseline"]                      # a frame-level method


def test_parameter_check_runs_first_and_only_when_snippet_features_are_extracted():
    """dataset.format: i3d_features with a frame-based extractor stops the run before any node (and before
    the other hooks start an MLflow run or set threads); a run without snippet extraction is not concerned."""
    import pytest

    from vad_kedro.core.errors import DataError
    from vad_kedro.hooks import ParameterCheckHook
    from vad_kedro.settings import HOOKS

    hook = ParameterCheckHook()
    hook.after_context_created(types.SimpleNamespace(params={
        "dataset": {"format": "i3d_features"}, "feature_extraction": {"snippets": {"extractor": "motion_appearance"}}}))
    extract = types.SimpleNamespace(nodes=[types.SimpleNamespace(name="feature_extraction.extract_snippet_features")])
    with pytest.raises(DataError, match="set feature_extraction.snippets.extractor: i3d_import"):
        hook.before_pipeline_run(extract)
    hook.before_pipeline_run(types.SimpleNamespace(nodes=[types.SimpleNamespace(name="build_video_index")]))
    assert isinstance(HOOKS[0], ParameterCheckHook)
    assert ParameterCheckHook.before_pipeline_run.kedro_impl["tryfirst"] is True


def test_kedro_run_on_i3d_features_with_the_default_extractor_stops_before_any_node(fresh_project):
    import pytest

    from vad_kedro.core.errors import DataError

    params = {"dataset": {"format": "i3d_features", "synthetic": None}}
    with pytest.raises(DataError, match="set feature_extraction.snippets.extractor: i3d_import"):
        fresh_project.run("weak_supervision", params=params)
    assert not any((fresh_project.path / "data" / "02_intermediate").iterdir())


def test_a_package_pipeline_runs_alone(monkeypatch, tmp_path):
    """kedro-mlflow logs a model only for a lone PipelineML: with other pipelines the run stops before training."""
    import pytest
    from kedro.pipeline import Pipeline, node
    from kedro_mlflow.pipeline import pipeline_ml_factory

    from vad_kedro.core.errors import DataError

    package = pipeline_ml_factory(training=Pipeline([node(len, "data", "model", name="train")]),
                                  inference=Pipeline([node(max, ["model", "request"], "scores", name="score")]),
                                  input_name="request")
    monkeypatch.setattr(hooks, "project", types.SimpleNamespace(pipelines={"package_x": package,
                                                                           "other": Pipeline([])}))
    hook = hooks.RunStartHook()
    hook._data_root = tmp_path
    with pytest.raises(DataError, match="package_x: logs its MLflow model only when it is the run's one pipeline"):
        hook.before_pipeline_run({"pipeline_names": ["package_x", "other"]}, package.training, None)
    hook.before_pipeline_run({"pipeline_names": ["package_x"]}, package, None)      # alone: no error


def test_a_relative_sqlite_tracking_uri_is_made_absolute_per_project(tmp_path):
    """MLflow keeps one engine per URI string: with ``sqlite:///mlflow.db`` a second project in the same process
    (a test session, a notebook) wrote into the first project's database."""
    from vad_kedro.hooks import absolute_sqlite_uri

    assert absolute_sqlite_uri("sqlite:///mlflow.db", tmp_path) == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    assert absolute_sqlite_uri("sqlite:////abs/m.db", tmp_path) == "sqlite:////abs/m.db"
    assert absolute_sqlite_uri("http://127.0.0.1:5000", tmp_path) == "http://127.0.0.1:5000"
    assert absolute_sqlite_uri(None, tmp_path) is None
