"""Typed parameters (issue 16, case 5): a wrong type or a missing key is one sentence naming the key,
raised by Kedro's parameter validation before the run starts; no code default contradicts the YAML."""

import re
from pathlib import Path

import pytest
import yaml
from kedro.validation.exceptions import ParameterValidationError
from kedro.validation.parameter_validator import ParameterValidator

from vad_kedro.core.params import DatasetParams, ParameterError
from vad_kedro.pipeline_registry import register_pipelines

from ..conf_params import deep_merge, yaml_group

CONF = Path(__file__).resolve().parents[2] / "conf"


def _dataset(env: str = "base") -> dict:
    base = yaml.safe_load((CONF / "base" / "parameters.yml").read_text())["dataset"]
    if env != "base":
        base = {**base, **yaml.safe_load((CONF / env / "parameters.yml").read_text())["dataset"]}
    return base


@pytest.mark.parametrize("env", ["base", "smoke"])
def test_the_shipped_datasets_validate_and_read_like_the_dict(env):
    raw = _dataset(env)
    ds = DatasetParams.model_validate(raw)
    assert ds.to_dict() == raw and dict(ds).keys() == raw.keys()
    assert ds["root"] == raw["root"] and ds.get("labels").get("kind") == raw["labels"]["kind"]
    assert "style" not in ds and ds.get("style", "ucf") == "ucf"      # optional keys the YAML does not set


@pytest.mark.parametrize("change,sentence", [
    ({"root": None}, "dataset.root: input should be a valid string, got None."),
    ({"fps": "fast"}, "dataset.fps: "),
    ({"frame_glob": "*.png"}, "dataset.frame_glob is not a known key (a typo?)."),
    ({"labels": {"kind": "csv", "path": "x"}}, "dataset.labels.kind: input should be 'npy_masks', 'mat', "
                                                "'ucsd_m' or 'ucsd_gt_bmp', got 'csv'."),
])
def test_a_wrong_value_is_one_sentence_naming_the_key(change, sentence):
    with pytest.raises(ParameterError) as info:
        DatasetParams.model_validate({**_dataset(), **change})
    assert str(info.value).startswith(sentence) and "\n" not in str(info.value)


def test_a_missing_key_is_named():
    raw = _dataset()
    del raw["test_dir"]
    with pytest.raises(ParameterError, match=r"^dataset\.test_dir is missing\.$"):
        DatasetParams.model_validate(raw)


def test_kedro_validates_dataset_for_every_registered_pipeline_before_the_run():
    """`dataset.root: null` ended in a TypeError deep in a node; Kedro now refuses it when building the catalog."""
    params = {"dataset": {**_dataset(), "root": None}}
    with pytest.raises(ParameterValidationError, match=r"dataset\.root: input should be a valid string, got None"):
        ParameterValidator(register_pipelines()).validate_raw_params(params)
    ok = ParameterValidator(register_pipelines()).validate_raw_params({"dataset": _dataset()})
    assert isinstance(ok["dataset"], DatasetParams)


#: ``.get(key, default)`` of a YAML key that reads a saved checkpoint (older checkpoints lack it), not the YAML.
_CHECKPOINT_READS = {"scaled_attention"}


def _leaf_keys(tree: dict) -> set[str]:
    keys = set()
    for k, v in tree.items():
        keys |= _leaf_keys(v) if isinstance(v, dict) else {k}
    return keys


def test_memory_fusion_has_no_code_default_for_a_yaml_key():
    """The code defaults contradicted the YAML they shadow (app_pca_max_rows 10000 vs 6000, standardize,
    monitor_every, anomaly_objects)."""
    yaml_keys = _leaf_keys(yaml.safe_load((CONF / "base" / "parameters_memory_fusion.yml").read_text()))
    src = (CONF.parent / "src" / "vad_kedro" / "pipelines" / "memory_fusion" / "nodes.py").read_text()
    shadowed = {k for k in re.findall(r'\.get\("([a-z_0-9]+)", ', src) if k in yaml_keys} - _CHECKPOINT_READS
    assert shadowed == set()


def test_preprocessing_and_baseline_groups_are_validated():
    from vad_kedro.core.params import BaselineParams, PreprocessingParams

    base = yaml.safe_load((CONF / "base" / "parameters.yml").read_text())
    assert PreprocessingParams.model_validate(base["preprocessing"]).to_dict() == base["preprocessing"]
    assert BaselineParams.model_validate(base["evaluation"]["baseline"]).to_dict() == base["evaluation"]["baseline"]
    with pytest.raises(ParameterError, match=r"^preprocessing\.working_size: list should have at most 2 items"):
        PreprocessingParams.model_validate({**base["preprocessing"], "working_size": [1, 2, 3]})
    with pytest.raises(ParameterError, match=r"^preprocessing\.val_fraction: input should be less than 1, got 1\.5\.$"):
        PreprocessingParams.model_validate({**base["preprocessing"], "val_fraction": 1.5})
    with pytest.raises(ParameterValidationError, match=r"evaluation\.baseline\.smooth_sigma"):
        ParameterValidator(register_pipelines()).validate_raw_params(
            {**base, "evaluation": {**base["evaluation"], "baseline": {"enabled": True, "smooth_sigma": "x"}}})


@pytest.mark.parametrize("env", ["base", "smoke"])
def test_memory_fusion_parameters_are_typed(env, tmp_path):
    import torch

    from vad_kedro.core.params import MemoryFusionParams, plain

    raw = yaml_group("memory_fusion", env)
    params = MemoryFusionParams.model_validate(raw)
    assert plain(params) == raw and params["fusion"]["anomaly_objects"] == raw["fusion"]["anomaly_objects"]
    torch.save({"params": plain(params)}, tmp_path / "ckpt.pt")          # as pack_checkpoint stores it
    assert torch.load(tmp_path / "ckpt.pt", weights_only=True)["params"] == raw
    bad = deep_merge(raw, {"fusion": {"anomaly_objects": "some"}, "memory": {"epocs": 3}})
    with pytest.raises(ParameterError, match=r"^memory_fusion\.memory\.epocs is not a known key \(a typo\?\); "
                                             r"memory_fusion\.fusion\.anomaly_objects: input should be 'all' or 'one'"):
        MemoryFusionParams.model_validate(bad)


@pytest.mark.parametrize("env", ["base", "smoke"])
def test_two_stream_parameters_are_typed(env):
    from vad_kedro.core.params import TwoStreamParams, plain

    raw = yaml_group("two_stream", env)
    assert plain(TwoStreamParams.model_validate(raw)) == raw
    with pytest.raises(ParameterError,
                       match=r"^two_stream\.mle\.crop_fuse: input should be 'mean' or 'max', got 'min'\.$"):
        TwoStreamParams.model_validate(deep_merge(raw, {"mle": {"crop_fuse": "min"}}))


def test_two_stream_has_no_code_default_for_a_yaml_key():
    yaml_keys = _leaf_keys(yaml.safe_load((CONF / "base" / "parameters_two_stream.yml").read_text()))
    src = "".join(p.read_text() for p in (CONF.parent / "src" / "vad_kedro" / "pipelines" / "two_stream").glob("*.py"))
    assert {k for k in re.findall(r'\.get\("([a-z_0-9]+)", ', src) if k in yaml_keys} == set()


@pytest.mark.parametrize("env", ["base", "smoke"])
def test_state_machine_parameters_are_typed(env):
    from vad_kedro.core.params import StateMachineParams, plain

    raw = yaml_group("state_machine", env)
    assert plain(StateMachineParams.model_validate(raw)) == raw
    with pytest.raises(ParameterError, match=r"^state_machine\.smm\.s4_mode: input should be 'diag' or 'nplr'"):
        StateMachineParams.model_validate(deep_merge(raw, {"smm": {"s4_mode": "dense"}}))


def test_state_machine_has_no_code_default_for_a_yaml_key():
    yaml_keys = _leaf_keys(yaml.safe_load((CONF / "base" / "parameters_state_machine.yml").read_text()))
    src = (CONF.parent / "src" / "vad_kedro" / "pipelines" / "state_machine" / "nodes.py").read_text()
    # cfg.get("conv", "auto") reads a saved SMM checkpoint: older ones have no "conv"
    assert {k for k in re.findall(r'\.get\("([a-z_0-9]+)", ', src) if k in yaml_keys} == {"conv"}


@pytest.mark.parametrize("env", ["base", "smoke"])
def test_self_paced_parameters_are_typed(env):
    from vad_kedro.core.params import SelfPacedParams, plain

    raw = yaml_group("self_paced", env)
    assert plain(SelfPacedParams.model_validate(raw)) == raw
    with pytest.raises(ParameterError, match=r"^self_paced\.train\.sp_mode: input should be 'mixture', 'hard', "):
        SelfPacedParams.model_validate(deep_merge(raw, {"train": {"sp_mode": "soft"}}))


def test_self_paced_has_no_code_default_for_a_yaml_key():
    """Its code defaults contradicted the YAML too (epochs 30 vs 6, nf 32 vs 8, use_flow False vs true, ...)."""
    yaml_keys = _leaf_keys(yaml.safe_load((CONF / "base" / "parameters_self_paced.yml").read_text()))
    src = (CONF.parent / "src" / "vad_kedro" / "pipelines" / "self_paced" / "nodes.py").read_text()
    assert {k for k in re.findall(r'\.get\("([a-z_0-9]+)", ', src) if k in yaml_keys} == set()


def test_inference_parameters_are_typed():
    from vad_kedro.core.params import InferenceParams

    raw = yaml_group("inference", "base")
    assert dict(InferenceParams.model_validate(raw)) == raw
    with pytest.raises(ParameterError, match=r"^inference\.threshold_percentile: input should be less than or equal "
                                             r"to 100, got 101\.$"):
        InferenceParams.model_validate({**raw, "threshold_percentile": 101})


@pytest.mark.parametrize("env", ["base", "smoke"])
def test_weak_supervision_blocks_are_typed_per_method(env, tmp_path):
    """The four method blocks go through the same nodes: validation picks the method's own model by ``method``."""
    import torch

    from vad_kedro.core.params import MGFNParams, MILParams, RTFMParams, S3RParams, WeakSupervisionMethodParams, plain

    raw = yaml_group("weak_supervision", env)
    typed = {m: WeakSupervisionMethodParams.model_validate(block) for m, block in raw.items()}
    assert {m: type(p) for m, p in typed.items()} == {"mil": MILParams, "rtfm": RTFMParams, "mgfn": MGFNParams,
                                                       "s3r": S3RParams}
    assert {m: plain(p) for m, p in typed.items()} == raw and typed["s3r"]["dictionary"]["ratio"] == 50
    torch.save({"params": plain(typed["s3r"])}, tmp_path / "ckpt.pt")     # as train_model stores it
    assert torch.load(tmp_path / "ckpt.pt", weights_only=True)["params"] == raw["s3r"]


@pytest.mark.parametrize("method,change,sentence", [
    ("rtfm", {"lr": "fast"}, "weak_supervision.rtfm.lr: input should be a valid number"),
    ("mgfn", {"mgfn_halfs": "rows"}, "weak_supervision.mgfn.mgfn_halfs is not a known key (a typo?)."),
    ("mil", {"k": 3}, "weak_supervision.mil.k is not a known key (a typo?)."),   # a key of the other methods
    ("s3r", {"dictionary": {"ratio": 50}}, "weak_supervision.s3r.dictionary.n_nonzero is missing;"),
    ("rtfm", {"method": "rfm"}, "weak_supervision.method: input should be 'mil', 'rtfm', 'mgfn' or 's3r', got 'rfm'."),
])
def test_a_wrong_weak_supervision_key_is_one_sentence(method, change, sentence):
    from vad_kedro.core.params import WeakSupervisionMethodParams

    block = yaml_group("weak_supervision")[method]
    block = {**block, **change} if "dictionary" not in change else {**block, "dictionary": change["dictionary"]}
    with pytest.raises(ParameterError) as info:
        WeakSupervisionMethodParams.model_validate(block)
    assert str(info.value).startswith(sentence) and "\n" not in str(info.value)


def test_kedro_validates_every_weak_supervision_block_before_the_run():
    from vad_kedro.core.params import RTFMParams

    ws = yaml_group("weak_supervision")
    params = {"weak_supervision": {**ws, "rtfm": {**ws["rtfm"], "iterations": "many"}}}
    with pytest.raises(ParameterValidationError, match=r"weak_supervision\.rtfm\.iterations: input should be"):
        ParameterValidator(register_pipelines()).validate_raw_params(params)
    ok = ParameterValidator(register_pipelines()).validate_raw_params({"weak_supervision": ws})
    assert isinstance(ok["weak_supervision"]["rtfm"], RTFMParams)


def test_weak_supervision_has_no_code_default_for_a_yaml_key():
    yaml_keys = _leaf_keys(yaml_group("weak_supervision")) | set(yaml_group("weak_supervision")["mil"])
    pkg = CONF.parent / "src" / "vad_kedro" / "pipelines" / "weak_supervision"
    src = "".join(p.read_text() for p in pkg.glob("*.py"))
    assert {k for k in re.findall(r'\.get\("([a-z_0-9]+)", ', src) if k in yaml_keys} == set()


_FEATURE_GROUPS = ["tracks", "detector_training", "flow", "snippets", "object_features"]


def _feature_model(group: str):
    from vad_kedro.core import params

    return {"tracks": params.TracksParams, "detector_training": params.DetectorTrainingParams,
            "flow": params.FlowParams, "snippets": params.SnippetsParams,
            "object_features": params.ObjectFeaturesParams}[group]


@pytest.mark.parametrize("env", ["base", "smoke"])
@pytest.mark.parametrize("group", _FEATURE_GROUPS)
def test_feature_extraction_groups_are_typed_and_keep_their_cache_keys(env, group):
    """The cache keys hash plain() of these blocks: the typed block must serialise exactly as the YAML's dict
    (``min_area: 30`` stays an int), or every cached partition would be recomputed once."""
    import json

    from vad_kedro.core.params import plain
    from vad_kedro.vision.incremental import content_key

    raw = yaml_group("feature_extraction", env)[group]
    typed = _feature_model(group).model_validate(raw)
    assert json.dumps(plain(typed), sort_keys=True) == json.dumps(raw, sort_keys=True)
    assert content_key(plain(typed)) == content_key(raw) and set(typed) == set(raw)


@pytest.mark.parametrize("group,change,sentence", [
    ("tracks", {"min_box_sise": 2.0}, "feature_extraction.tracks.min_box_sise is not a known key (a typo?)."),
    ("tracks", {"import": {"box_format": "xy"}}, "feature_extraction.tracks.import.box_format: input should be "
                                                 "'xywh' or 'xyxy', got 'xy'."),
    ("flow", {"downsample": "2x"}, "feature_extraction.flow.downsample: input should be a valid integer"),
    ("snippets", {"extractor": "swin3d_s"}, "feature_extraction.snippets.swin3d_s is missing (the block of the "
                                            "chosen extractor)."),
    ("snippets", {"n_crops": 3}, "feature_extraction.snippets.n_crops: input should be 1, 2, 5 or 10, got 3."),
    ("object_features", {"app": {"type": "vgg"}}, "feature_extraction.object_features.app.type: input should be "
                                                  "'hog', 'resnet18'"),
])
def test_a_wrong_feature_extraction_key_is_one_sentence(group, change, sentence):
    with pytest.raises(ParameterError) as info:
        _feature_model(group).model_validate(deep_merge(yaml_group("feature_extraction")[group], change))
    assert str(info.value).startswith(sentence) and "\n" not in str(info.value)


def test_every_video_backbone_has_a_snippets_block():
    from vad_kedro.core.params import SnippetsParams
    from vad_kedro.vision.backbones import VIDEO_BACKBONES

    assert set(VIDEO_BACKBONES) <= set(SnippetsParams.model_fields)


def test_kedro_validates_the_feature_extraction_groups_before_the_run():
    from vad_kedro.core.params import ObjectFeaturesParams, TracksParams

    fe = yaml_group("feature_extraction")
    bad = {"feature_extraction": {**fe, "tracks": deep_merge(fe["tracks"], {"tracker": {"max_age": -1}})}}
    with pytest.raises(ParameterValidationError, match=r"feature_extraction\.tracks\.tracker\.max_age: input should "
                                                       r"be greater than or equal to 0, got -1"):
        ParameterValidator(register_pipelines()).validate_raw_params(bad)
    ok = ParameterValidator(register_pipelines()).validate_raw_params({"feature_extraction": fe})["feature_extraction"]
    assert isinstance(ok["tracks"], TracksParams) and isinstance(ok["object_features"], ObjectFeaturesParams)
    assert ok["tracks"]["import"]["box_format"] == fe["tracks"]["import"]["box_format"]   # the key "import" reads


def test_feature_extraction_has_no_code_default_for_a_yaml_key():
    """Its code defaults contradicted the YAML: `min_box_size` 1.0 (YAML 2.0)."""
    yaml_keys = _leaf_keys(yaml_group("feature_extraction")) | {"import", "app", "vel", "pose", "tracker"}
    pkg = CONF.parent / "src" / "vad_kedro" / "pipelines" / "feature_extraction"
    src = "".join(p.read_text() for p in pkg.glob("*.py"))
    assert {k for k in re.findall(r'\.get\("([a-z_0-9]+)", ', src) if k in yaml_keys} == set()


def test_region_thresholds_are_validated():
    from vad_kedro.core.params import RegionParams

    base = yaml.safe_load((CONF / "base" / "parameters.yml").read_text())
    assert RegionParams.model_validate(base["evaluation"]["regions"]).to_dict() == {"alpha": 0.1, "beta": 0.1}
    with pytest.raises(ParameterError, match=r"^evaluation\.regions\.beta: input should be less than or equal to 1"):
        RegionParams.model_validate({"alpha": 0.1, "beta": 1.5})
    with pytest.raises(ParameterValidationError, match=r"evaluation\.regions\.alpha"):
        ParameterValidator(register_pipelines()).validate_raw_params(
            {**base, "evaluation": {**base["evaluation"], "regions": {"alpha": 0, "beta": 0.1}}})
