"""Typed parameter groups, validated by Kedro before a run starts.

Kedro 1.x validates a ``params:<key>`` node input whose type hint is a pydantic model (when the
session builds the catalog, before any hook or node runs) and hands every node the model
instead of the dict. A model here is also a read-only ``Mapping`` of the keys the configuration
gave, so nodes written for the dict (``dataset["root"]``, ``dataset.get("labels") or {}``) read it
unchanged. A wrong type, a missing key or an unknown key is one sentence naming the key
(``dataset.root: expected a string, got None``); defaults live in the YAML, not here (the optional
fields are keys the YAML does not define, read by the code with its own fallback).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class ParameterError(ValueError):
    """A parameter group failed validation; the message is one sentence per problem, naming the key."""


def _field_path(model: type[BaseModel], loc: tuple) -> list[str]:
    """The part of a pydantic error location that names fields (union member tags such as 'str' dropped)."""
    path, current = [], model
    for part in loc:
        fields = getattr(current, "model_fields", {})
        if part not in fields:
            break
        path.append(str(part))
        inner = [t for t in get_args(fields[part].annotation) or (fields[part].annotation,)
                 if isinstance(t, type) and issubclass(t, BaseModel)]
        current = inner[0] if inner else None
    return path


def _sentences(model: type[Params], errors: list[dict[str, Any]]) -> str:
    """One sentence per wrong key: ``dataset.root: input should be a valid string, got None``."""
    by_key: dict[str, list[dict[str, Any]]] = {}
    for error in errors:
        loc = error["loc"]
        path = (_field_path(model, loc[:-1]) + [str(loc[-1])] if error["type"] in ("missing", "extra_forbidden")
                else _field_path(model, loc))
        key = ".".join([model.group or model.__name__, *path])
        by_key.setdefault(key, []).append(error)
    out = []
    for key, errs in by_key.items():
        error = next((e for e in errs if e["type"] != "none_required"), errs[0])   # X | None: say what X is
        if error["type"] == "missing":
            out.append(f"{key} is missing")
        elif error["type"] == "extra_forbidden":
            out.append(f"{key} is not a known key (a typo?)")
        else:
            out.append(f"{key}: {error['msg'][0].lower()}{error['msg'][1:]}, got {error['input']!r}")
    return "; ".join(out) + "."


class Params(BaseModel, Mapping):
    """Base of the typed parameter groups: strict keys, frozen, readable as the dict it replaces."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    group: ClassVar[str] = ""   # the key of the group in the parameters, for messages

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Params:  # noqa: D102 - pydantic's
        try:
            return super().model_validate(obj, *args, **kwargs)
        except ValidationError as exc:
            raise ParameterError(_sentences(cls, exc.errors())) from None

    # ---- Mapping view over the keys the configuration gave
    def _keys(self) -> list[str]:
        return [k for k in type(self).model_fields if k in self.model_fields_set]

    def __getitem__(self, key: str) -> Any:
        if key not in self._keys():
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:  # type: ignore[override]  # keys, like the dict
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    def to_dict(self) -> dict[str, Any]:
        """The plain nested dict (for MLflow, JSON and checkpoints)."""
        return {k: plain(v) for k, v in self.items()}


def plain(value: Any) -> Any:
    """``value`` with every typed parameter group turned back into plain dicts and lists (a deep copy)."""
    if isinstance(value, Params):
        return value.to_dict()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


class SyntheticParams(Params):
    group: ClassVar[str] = "dataset.synthetic"
    size: Literal["smoke", "default"]
    seed: int
    overrides: dict[str, Any] | None = None


class LabelParams(Params):
    group: ClassVar[str] = "dataset.labels"
    kind: Literal["npy_masks", "mat", "ucsd_m", "ucsd_gt_bmp"]
    path: str | None = None


class LayoutParams(Params):
    group: ClassVar[str] = "dataset.layout"
    tree: str       # the expected folder tree, printed when the dataset folder is missing or incomplete
    source: str     # who distributes the dataset (text only: nothing is downloaded)


class DatasetParams(Params):
    """``dataset`` (conf/base/parameters.yml; README, 'Adding a real dataset')."""

    group: ClassVar[str] = "dataset"
    name: str
    format: Literal["frame_folder", "ucsd", "video_files", "i3d_features"]
    root: str
    synthetic: SyntheticParams | None
    frames_glob: str
    train_dir: str
    test_dir: str
    labels: LabelParams | None
    pixel_masks: str | None
    video_labels_csv: str | None
    events_csv: str | None
    fps: Annotated[float, Field(gt=0)]
    # ready-made environments (conf/<dataset>): the layout printed by vad_kedro.core.layout.check_layout
    layout: LayoutParams | None = None
    split_list: str | None = None       # re-split by a list file (vad_kedro.io.readers.read_split_list)
    # UCF-Crime / XD-Violence I3D feature releases only (vad_kedro.io.i3d.index_i3d_dataset)
    style: Literal["ucf", "xd"] | None = None
    train_list: str | None = None
    test_list: str | None = None
    feature_dir: str | dict[str, str] | None = None
    annotations: str | None = None
    gt_npy: str | None = None
    n_crops: int | None = None
    feature_dim: int | None = None
    check_finite: bool | None = None
    n_abnormal_train: int | None = None


class PreprocessingParams(Params):
    """``preprocessing`` (conf/base/parameters.yml)."""

    group: ClassVar[str] = "preprocessing"
    working_size: Annotated[list[Annotated[int, Field(gt=0)]], Field(min_length=2, max_length=2)] | None
    val_fraction: Annotated[float, Field(ge=0, lt=1)]
    min_frames: Annotated[int, Field(ge=1)]


class BaselineParams(Params):
    """``evaluation.baseline``: the frame-difference motion baseline."""

    group: ClassVar[str] = "evaluation.baseline"
    enabled: bool
    smooth_sigma: Annotated[float, Field(ge=0)]


# ------------------------------------------------------------------------------- memory_fusion
PosInt = Annotated[int, Field(gt=0)]
NonNegInt = Annotated[int, Field(ge=0)]
PosFloat = Annotated[float, Field(gt=0)]
Fraction = Annotated[float, Field(ge=0, le=1)]


class _MFAutoencoder(Params):
    code_dim: PosInt
    hidden: list[PosInt]
    lr: PosFloat
    batch_size: PosInt
    epochs: PosInt
    holdout: str
    holdout_fraction: Fraction
    min_holdout: NonNegInt


class _MFMemory(Params):
    n_items: PosInt
    rows_per_item: NonNegInt
    kmeans_n_init: PosInt
    lr: PosFloat
    batch_size: PosInt
    epochs: PosInt
    cosine_t_max: dict[Literal["app", "pose"], PosInt | None]
    compactness_weight: Annotated[float, Field(ge=0)]
    top_k: PosInt
    margin: Annotated[float, Field(ge=0)]


class _MFPseudo(Params):
    normal_ranks: Annotated[list[NonNegInt], Field(min_length=2, max_length=2)]
    anomaly_ranks: Annotated[list[NonNegInt], Field(min_length=2, max_length=2)]
    normal_mix: Fraction
    anomaly_mix: Fraction
    temperature: PosFloat
    velocity_boost: Annotated[float, Field(ge=0)] | None


class _MFPadding(Params):
    t_max: PosInt | None
    t_max_cap: PosInt


class _MFFusion(Params):
    d_model: PosInt
    hidden: PosInt
    dropout: Annotated[float, Field(ge=0, lt=1)]
    lr: PosFloat
    epochs: PosInt
    batch_size: PosInt | None
    monitor_every: PosInt
    anomaly_objects: Literal["all", "one"]
    faithful_mask_noop: bool
    faithful_k3_typo: bool
    scaled_attention: bool


class _MFScoring(Params):
    smooth_sigma: Annotated[float, Field(ge=0)]
    smooth_across_videos: bool


class _MFVariant(Params):
    modalities: list[Literal["app", "pose", "vel"]]


class MemoryFusionParams(Params):
    """``memory_fusion`` (conf/base/parameters_memory_fusion.yml)."""

    group: ClassVar[str] = "memory_fusion"
    app_pca_dim: PosInt
    app_pca_max_rows: PosInt
    pose_normalization: Literal["box", "none"]
    standardize: bool
    autoencoder: _MFAutoencoder
    memory: _MFMemory
    pseudo: _MFPseudo
    padding: _MFPadding
    fusion: _MFFusion
    scoring: _MFScoring
    variants: dict[str, _MFVariant]


# ------------------------------------------------------------------------------- two_stream
class _TSEncoder(Params):
    width_div: PosInt
    blocks: Annotated[list[PosInt], Field(min_length=4, max_length=4)]
    remove_last_relu: bool
    weights_path: str | None
    pretrained_resolution: PosInt
    finetune_rate: Annotated[float, Field(ge=0)] | None


class _TSContextRecovery(Params):
    n_context: PosInt
    interval: PosInt
    epochs: PosInt
    iterations: PosInt
    batch_size: PosInt
    lr: PosFloat
    milestones: list[NonNegInt]
    gamma: PosFloat
    lam_l1: Annotated[float, Field(ge=0)]
    score_batch_size: PosInt
    videos_per_chunk: PosInt
    cache_mb: Annotated[float, Field(ge=0)]


class _TSMle(Params):
    patch_sizes: list[PosInt] | None
    patch_stride: PosInt | None
    channel_l2: bool
    lam_l1: Annotated[float, Field(ge=0)]
    crop_fuse: Literal["mean", "max"]


class _TSPseudo(Params):
    n_per_scene: PosInt
    mode: Literal["blend", "jitter"]
    anomaly_ratio: Fraction
    angle_range: Annotated[list[NonNegInt], Field(min_length=2, max_length=2)]
    jitter: NonNegInt
    default_patch_index: NonNegInt


class _TSKnowledgeRetrieval(Params):
    feature_source: Literal["cr_encoder", "snippet_features"]
    snippet_len: PosInt
    interval: PosInt
    snippet_frames: PosInt
    train_stride: PosInt
    n_heads: PosInt
    code_len: PosInt
    epochs: PosInt
    pairs_per_video: PosInt
    batch_size: PosInt
    lr: PosFloat
    momentum: Annotated[float, Field(ge=0)]
    weight_decay: Annotated[float, Field(ge=0)]
    mutual_weight: Annotated[float, Field(ge=0)]
    pos_window: PosInt


class _TSFusion(Params):
    w_cr: Annotated[float, Field(ge=0)]
    w_kr: Annotated[float, Field(ge=0)]
    cr_sigma: Annotated[float, Field(ge=0)] | None
    kr_sigma: Annotated[float, Field(ge=0)] | None


class TwoStreamParams(Params):
    """``two_stream`` (conf/base/parameters_two_stream.yml)."""

    group: ClassVar[str] = "two_stream"
    resolution: PosInt
    n_crops: PosInt
    encoder: _TSEncoder
    cr: _TSContextRecovery
    mle: _TSMle
    pseudo: _TSPseudo
    kr: _TSKnowledgeRetrieval
    fusion: _TSFusion


# ------------------------------------------------------------------------------- state_machine
class _SMCrops(Params):
    size: PosInt
    widen: Annotated[float, Field(ge=0)]


class _SMCaptioner(Params):
    kind: Literal["pseudo", "labels"]
    n_clusters: PosInt
    pca_dim: PosInt
    flow_weight: Annotated[float, Field(ge=0)]
    n_generic: NonNegInt
    generic_captions: list[str]
    labels_csv: str
    label_iou: Fraction


class _SMLocalEncoder(Params):
    d_model: PosInt
    d_token: PosInt
    grid: PosInt
    n_queries: PosInt
    n_layers: PosInt
    tau: PosFloat
    lr: PosFloat
    batch_size: PosInt
    epochs: PosInt
    max_train_crops: PosInt
    encode_batch_size: PosInt
    blip2_weights_path: str | None
    bert_weights_path: str | None


class _SMPropagation(Params):
    enabled: bool
    theta: float | Literal["own_median"]
    min_caption_chars: NonNegInt
    qwen_vl_weights_path: str | None


class _SMWindows(Params):
    length: Annotated[int, Field(ge=2)]
    min_valid: PosInt
    train_stride: PosInt
    test_stride: PosInt
    short_tracks: Literal["skip", "pad"]
    min_track_length: PosInt


class _SMStateMachine(Params):
    d_model: PosInt
    n_layers: PosInt
    d_state: PosInt
    s4_mode: Literal["diag", "nplr"]
    conv: Literal["auto", "fft", "toeplitz"]
    dropout: Annotated[float, Field(ge=0, lt=1)]
    lr: PosFloat
    lr_gamma: PosFloat
    weight_decay: Annotated[float, Field(ge=0)]
    grad_clip: PosFloat
    batch_size: PosInt
    epochs: PosInt
    shuffle_train: bool
    faithful_flip_aug: bool
    feature_norm: Literal["standardize", "none"]


class _SMScoring(Params):
    score_offset: NonNegInt
    placement: Literal["centre", "track"]
    empty_fill: float | Literal["min"]
    smooth_sigmas: list[Annotated[float, Field(gt=0)]]


class _SMMotionFusion(Params):
    weight: Annotated[float, Field(ge=0)]


class StateMachineParams(Params):
    """``state_machine`` (conf/base/parameters_state_machine.yml)."""

    group: ClassVar[str] = "state_machine"
    crops: _SMCrops
    captioner: _SMCaptioner
    local_encoder: _SMLocalEncoder
    propagation: _SMPropagation
    windows: _SMWindows
    smm: _SMStateMachine
    scoring: _SMScoring
    motion_fusion: _SMMotionFusion


# ------------------------------------------------------------------------------- self_paced
class _SPMotion(Params):
    enabled: bool
    binary_threshold: Annotated[float, Field(ge=0)]
    extend: NonNegInt
    max_aspect_ratio: PosFloat


class _SPBoxes(Params):
    score_threshold: Annotated[float, Field(ge=0)]
    min_area: Annotated[float, Field(ge=0)] | None
    min_side_fraction: Fraction
    cover_threshold: Fraction
    flow_units: Literal["native", "flownet_512x384"]
    motion: _SPMotion


class _SPCubes(Params):
    context: NonNegInt
    patch_size: PosInt
    h_block: PosInt
    w_block: PosInt


class _SPModel(Params):
    nf: PosInt
    use_flow: bool
    lambda_raw: Annotated[float, Field(ge=0)]
    lambda_of: Annotated[float, Field(ge=0)]
    w_raw: Annotated[float, Field(ge=0)]
    w_of: Annotated[float, Field(ge=0)]


class _SPTrain(Params):
    epochs: PosInt
    warmup_epochs: NonNegInt
    shrink_rate: Annotated[float, Field(ge=0)]
    sp_mode: Literal["mixture", "hard", "linear", "huber"]
    batch_size: PosInt
    lr: PosFloat
    weight_decay: Annotated[float, Field(ge=0)]
    max_train_stcs: PosInt | None
    score_batch_size: PosInt


class _SPScoring(Params):
    empty_frame_score: float
    empty_block_score: float
    smooth_window: PosInt
    smooth_across_videos: bool


class _SPVariant(Params):
    refine: bool
    train: dict[str, Any] | None = None    # overrides of the shared train / model groups (none in the YAML)
    model: dict[str, Any] | None = None


class SelfPacedParams(Params):
    """``self_paced`` (conf/base/parameters_self_paced.yml)."""

    group: ClassVar[str] = "self_paced"
    mode: Literal["partial", "merge"]
    merge_splits: list[Literal["train", "val", "test"]]
    merge_auc_includes_train: bool
    boxes: _SPBoxes
    cubes: _SPCubes
    model: _SPModel
    train: _SPTrain
    scoring: _SPScoring
    variants: dict[str, _SPVariant]


# ------------------------------------------------------------------------------- inference
class InferenceParams(Params):
    """``inference`` (conf/base/parameters_inference.yml)."""

    group: ClassVar[str] = "inference"
    n_reference_videos: PosInt
    threshold_percentile: Annotated[float, Field(ge=0, le=100)]
    output_dir: str
    top_boxes: NonNegInt
