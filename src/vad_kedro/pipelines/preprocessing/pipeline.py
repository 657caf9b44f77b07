"""Wiring of the preprocessing pipeline."""

from kedro.pipeline import Pipeline, node

from . import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(nodes.prepare_raw, "params:dataset", "raw_manifest", name="prepare_raw"),
            node(nodes.build_video_index, ["raw_manifest", "params:dataset", "params:preprocessing"],
                 ["video_index_unsplit", "frame_labels"], name="build_video_index"),
            node(nodes.split_train_val, ["video_index_unsplit", "params:preprocessing", "params:seed"],
                 "video_index", name="split_train_val"),
            node(nodes.decode_frames, ["video_index", "params:dataset", "params:preprocessing"], "frames",
                 name="decode_frames"),
            node(nodes.decode_pixel_masks, ["video_index", "params:dataset", "params:preprocessing"], "pixel_masks",
                 name="decode_pixel_masks"),
            node(nodes.anomaly_regions, ["video_index", "pixel_masks", "params:dataset", "params:preprocessing"],
                 "anomaly_regions", name="anomaly_regions"),
        ]
    )
