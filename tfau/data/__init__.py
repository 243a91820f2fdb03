"""tf.data pipelines: TFDS split -> model-ready ``(features, targets)`` batches.

  ds = load_split("synthetic_au", "disfa_intensity", "fold1+fold2")
  train = make_pipeline(ds, "disfa_intensity", 128, targets=("heatmaps", "labels", "label_mask"),
                        batch_size=32, training=True, augment=AugmentConfig())
"""
from tfau import require_tensorflow

require_tensorflow("tfau.data (tf.data pipelines, TFDS)")  # clear error without TF (issue 15)
from tfau.data.augment import AugmentConfig  # noqa: E402
from tfau.data.loading import (DATASETS, LICENSED_DATASETS, OFFLINE_DATASETS, builder_class,
                               ensure_built, filter_subjects, fold_splits, get_builder,
                               load_split, protocol_for, protocol_of, scan_labels,
                               validation_subjects)
from tfau.data.pipeline import (TARGET_KEYS, make_pipeline, model_pipeline_kwargs,
                                 pipeline_for_model)

__all__ = ["AugmentConfig", "DATASETS", "LICENSED_DATASETS", "OFFLINE_DATASETS", "TARGET_KEYS",
           "builder_class", "ensure_built", "filter_subjects", "fold_splits", "get_builder",
           "load_split", "make_pipeline", "pipeline_for_model", "protocol_for", "protocol_of",
           "model_pipeline_kwargs", "scan_labels", "validation_subjects"]
