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

from vad_kedro.vision.backbones import IMAGE_BACKBONES, VIDEO_BACKBONES


class ParameterError(ValueError):
    """A parameter group failed validation; the message is one sentence per problem, naming the key."""


def _field_path(model: type[BaseModel], loc: tuple) -> list[str]:
    """The part of a pydantic error location that names fields (union member tags such as 'str' dropped)."""
    path, current = [], model
    for part in loc:
        fields = {(f.alias or k): f for k, f in getattr(current, "model_fields", {}).items()}
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

    # ---- Mapping view over the keys the configuration gave (a field's alias where it has one: ``import``)
    @classmethod
    def _fields_by_key(cls) -> dict[str, str]:
        return {(f.alias or name): name for name, f in cls.model_fields.items()}

    def _keys(self) -> list[str]:
        return [key for key, name in self._fields_by_key().items() if name in self.model_fields_set]

    def __getitem__(self, key: str) -> Any:
        name = self._fields_by_key().get(key)
        if name is None or name not in self.model_fields_set:
            raise KeyError(key)
        return getattr(self, name)

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
    anomaly_regions_csv: str | None = None   # boxes with track ids of the anomalous objects (RBDC / TBDC)
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


class RegionParams(Params):
    """``evaluation.regions``: the overlap thresholds of RBDC / TBDC (Ramachandra & Jones, WACV 2020)."""

    group: ClassVar[str] = "evaluation.regions"
    alpha: Annotated[float, Field(gt=0, le=1)]
    beta: Annotated[float, Field(gt=0, le=1)]


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


# ------------------------------------------------------------------------------- weak_supervision
class _WSMILModel(Params):
    hidden: list[PosInt]
    dropout: Annotated[float, Field(ge=0, lt=1)]


class _WSRTFMModel(Params):
    width: PosInt
    head: list[PosInt]
    dropout: Annotated[float, Field(ge=0, lt=1)]


class _WSMGFNModel(Params):
    dims: Annotated[list[PosInt], Field(min_length=1)]
    depths: Annotated[list[NonNegInt], Field(min_length=1)]
    types: Annotated[list[Literal["glance", "focus"]], Field(min_length=1)]
    dim_head: PosInt
    kernel: PosInt
    ff_mult: PosInt
    mag_ratio: Annotated[float, Field(ge=0)]


class _WSS3RModel(Params):
    dropout: Annotated[float, Field(ge=0, lt=1)]
    reduction: PosInt


class _WSMILLoss(Params):
    sparsity: Annotated[float, Field(ge=0)]
    smooth: Annotated[float, Field(ge=0)]
    l2: Annotated[float, Field(ge=0)]


class _WSRTFMLoss(Params):
    alpha: Annotated[float, Field(ge=0)]
    margin: Annotated[float, Field(ge=0)]
    smooth: Annotated[float, Field(ge=0)]
    sparsity: Annotated[float, Field(ge=0)]


class _WSMGFNLoss(_WSRTFMLoss):
    inter_weight: Annotated[float, Field(ge=0)]


class _WSDictionary(Params):
    ratio: Annotated[int | float, Field(gt=0, le=100)]   # percent of the normal videos
    n_nonzero: PosInt
    batch_size: PosInt
    n_iter: PosInt
    random_state: int
    max_iter: PosInt | None = None       # overrides the n_iter conversion (no YAML key)


class WeakSupervisionMethodParams(Params):
    """One method block ``weak_supervision.<method>`` (conf/base/parameters_weak_supervision.yml).

    The pipeline hands every method's block to the same node functions, so this class is the node
    signatures' type and validation dispatches on ``method`` to the method's own model (MIL, RTFM, MGFN
    or S3R): its keys are the shared ones below plus the method's own.
    """

    group: ClassVar[str] = "weak_supervision"
    method: Literal["mil", "rtfm", "mgfn", "s3r"]
    n_seeds: PosInt
    seeds: list[int] | None
    report: Literal["selected", "last"]
    segments: PosInt
    segmentation: Literal["pool", "interpolate"]
    iterations: PosInt
    batch_size: PosInt
    eval_every: PosInt
    patience: PosInt | None
    val_topk: PosInt
    shuffle: bool
    pairing: Literal["cycle", "zip"]
    optimizer: Literal["adam", "adagrad"]
    lr: PosFloat
    weight_decay: Annotated[float, Field(ge=0)]

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Params:  # noqa: D102 - see the class
        if cls is not WeakSupervisionMethodParams:
            return super().model_validate(obj, *args, **kwargs)
        by_method = {c.group.rsplit(".", 1)[1]: c for c in (MILParams, RTFMParams, MGFNParams, S3RParams)}
        method = obj.get("method") if isinstance(obj, Mapping) else None
        if method not in by_method:
            raise ParameterError(f"weak_supervision.method: input should be 'mil', 'rtfm', 'mgfn' or 's3r', "
                                 f"got {method!r}.")
        return by_method[method].model_validate(obj, *args, **kwargs)


class _WSTopK(WeakSupervisionMethodParams):
    """Keys of the magnitude-based methods (RTFM, MGFN, S3R): top-k selection and the loss switches."""

    k: PosInt
    select_dropout: Annotated[float, Field(ge=0, lt=1)]
    smooth_mode: Literal["per_video", "flattened"]
    sparsity_norm: Literal["l1", "l2"]


class MILParams(WeakSupervisionMethodParams):
    group: ClassVar[str] = "weak_supervision.mil"
    method: Literal["mil"]
    model: _WSMILModel
    loss: _WSMILLoss


class RTFMParams(_WSTopK):
    group: ClassVar[str] = "weak_supervision.rtfm"
    method: Literal["rtfm"]
    model: _WSRTFMModel
    loss: _WSRTFMLoss
    rtfm_loss_form: Literal["code", "hinge"]


class MGFNParams(_WSTopK):
    group: ClassVar[str] = "weak_supervision.mgfn"
    method: Literal["mgfn"]
    model: _WSMGFNModel
    loss: _WSMGFNLoss
    mgfn_halves: Literal["videos", "rows"]
    sparsity_on: Literal["abnormal", "normal"]


class S3RParams(_WSTopK):
    group: ClassVar[str] = "weak_supervision.s3r"
    method: Literal["s3r"]
    model: _WSS3RModel
    loss: _WSRTFMLoss
    dictionary: _WSDictionary
    s3r_atoms: Literal["codes", "components"]
    s3r_macro_loss: Literal["on", "off"] | bool    # YAML reads an unquoted off as false
    rtfm_loss_form: Literal["code", "hinge"]


# ------------------------------------------------------------------------------- feature_extraction
# feature_extraction hashes its parameter blocks into the cache keys (plain() of the typed block), so a
# real-valued setting keeps the type the YAML wrote it with (``min_area: 30`` stays 30, not 30.0): the keys
# of an unchanged configuration do not change.
Real = int | float
NonNegReal = Annotated[int | float, Field(ge=0)]
PosReal = Annotated[int | float, Field(gt=0)]
SourceSize = Literal["auto", "working"] | Annotated[list[PosInt], Field(min_length=2, max_length=2)] | None
SnippetExtractor = Literal[("motion_appearance", "i3d_import", *VIDEO_BACKBONES)]   # type: ignore[valid-type]
AppearanceType = Literal[("hog", *IMAGE_BACKBONES)]                               # type: ignore[valid-type]


class _FEBackgroundSubtraction(Params):
    method: Literal["median", "mog2", "knn"]
    median_threshold: NonNegReal
    gain_compensation: bool
    history: PosInt
    var_threshold: NonNegReal
    dist2_threshold: NonNegReal
    learning_rate: Real
    warmup: NonNegInt
    blur: NonNegInt
    open_kernel: NonNegInt
    close_kernel: Annotated[list[NonNegInt], Field(min_length=2, max_length=2)]
    min_area: NonNegReal
    max_area_fraction: Annotated[int | float, Field(gt=0, le=1)]
    min_aspect: NonNegReal
    max_aspect: PosReal
    min_fill: Annotated[int | float, Field(ge=0, le=1)]
    pad: NonNegReal
    person_aspect: PosReal | None
    perspective: bool
    split_tolerance: NonNegReal
    max_split: PosInt


class _FEHogPeople(Params):
    upscale: PosReal
    win_stride: PosInt
    padding: NonNegInt
    scale: PosReal
    hit_threshold: Real
    min_score: Real
    nms_iou: Annotated[int | float, Field(ge=0, le=1)]
    shrink_x: NonNegReal
    shrink_y: NonNegReal


class _FECenterNet(Params):
    weights_path: str | None
    threshold: Annotated[int | float, Field(ge=0, le=1)]
    batch_size: PosInt
    max_detections: PosInt
    device: str


class _FETracker(Params):
    iou_threshold: Annotated[int | float, Field(ge=0, le=1)]
    max_age: NonNegInt
    min_hits: PosInt
    velocity_momentum: Annotated[int | float, Field(ge=0, le=1)]
    min_score: Real
    max_size_change: PosReal
    fill_gaps: NonNegInt


class _FEImport(Params):
    path_template: str | None
    frame_base: NonNegInt | None
    box_format: Literal["xywh", "xyxy"]
    source_size: SourceSize
    retrack: bool


class TracksParams(Params):
    """``feature_extraction.tracks``."""

    group: ClassVar[str] = "feature_extraction.tracks"
    detector: Literal["background_subtraction", "hog_people", "centernet", "ground_truth", "mot_txt", "json_idx"]
    min_box_size: NonNegReal
    background_subtraction: _FEBackgroundSubtraction
    hog_people: _FEHogPeople
    centernet: _FECenterNet
    tracker: _FETracker
    import_: _FEImport = Field(alias="import")     # a Python keyword: the field's key is its alias


class DetectorTrainingParams(Params):
    """``feature_extraction.detector_training``."""

    group: ClassVar[str] = "feature_extraction.detector_training"
    boxes: Literal["ground_truth", "mot_txt", "json_idx"]
    iterations: PosInt
    batch_size: PosInt
    crop: Annotated[list[PosInt], Field(min_length=2, max_length=2)]
    lr: PosReal
    sigma: PosReal
    size_weight: NonNegReal
    width: PosInt
    stride: Literal[2, 4]
    max_frames_per_video: PosInt
    holdout_every: NonNegInt


class FlowParams(Params):
    """``feature_extraction.flow``."""

    group: ClassVar[str] = "feature_extraction.flow"
    method: Literal["dis", "farneback"]
    dis_preset: Literal["ultrafast", "fast", "medium"]
    dis_finest_scale: NonNegInt | None
    dis_refinement_iterations: NonNegInt | None
    downsample: PosInt
    compute_scale: PosReal
    dtype: Literal["float16", "float32"]
    farneback: dict[str, Any]


class _FEMotionAppearance(Params):
    grid: PosInt
    power: PosReal
    static_threshold: NonNegReal


class _FEBackbone(Params):
    weights_path: str | None
    random_init: bool
    input_size: PosInt | None
    batch_size: PosInt


class _FEI3DImport(Params):
    style: Literal["ucf", "xd"]
    n_crops: PosInt | None
    feature_dim: PosInt | None


class SnippetsParams(Params):
    """``feature_extraction.snippets``: the shared keys and one block per extractor (the YAML lists five of the
    torchvision backbones; the others may be added as blocks of the same shape)."""

    group: ClassVar[str] = "feature_extraction.snippets"
    extractor: SnippetExtractor
    snippet_len: PosInt
    n_crops: Literal[1, 2, 5, 10]
    crop_fraction: Annotated[int | float, Field(gt=0, le=1)]
    feature_dim: PosInt | None
    motion_appearance: _FEMotionAppearance
    i3d_import: _FEI3DImport
    r3d_18: _FEBackbone
    r2plus1d_18: _FEBackbone
    mc3_18: _FEBackbone
    s3d: _FEBackbone
    swin3d_t: _FEBackbone
    swin3d_s: _FEBackbone | None = None
    swin3d_b: _FEBackbone | None = None
    mvit_v1_b: _FEBackbone | None = None
    mvit_v2_s: _FEBackbone | None = None

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Params:  # noqa: D102 - the chosen block
        params = super().model_validate(obj, *args, **kwargs)
        if params.get(params.extractor) is None:
            raise ParameterError(f"{cls.group}.{params.extractor} is missing (the block of the chosen extractor).")
        return params


class _FEApp(Params):
    type: AppearanceType
    dtype: Literal["float16", "float32"]
    weights_path: str | None
    random_init: bool
    input_size: PosInt | None
    batch_size: PosInt


class _FEVel(Params):
    bins: PosInt
    normalise_by_height: bool


class _FEPose(Params):
    source: Literal["alphapose_json", "none"]
    path_template: str | None
    frame_base: NonNegInt
    box_format: Literal["xywh", "xyxy"]
    source_size: SourceSize
    min_iou: Annotated[int | float, Field(ge=0, le=1)]


class ObjectFeaturesParams(Params):
    """``feature_extraction.object_features``."""

    group: ClassVar[str] = "feature_extraction.object_features"
    app: _FEApp
    vel: _FEVel
    pose: _FEPose
