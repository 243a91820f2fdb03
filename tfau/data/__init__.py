"""tf.data pipelines: TFDS split -> model-ready ``(features, targets)`` batches.

  ds = load_split("synthetic_au", "disfa_intensity", "fold1+fold2")
  train = make_pipeline(ds, "disfa_intensity", 128, targets=("heatmaps", "labels", "label_mask"),
                        batch_size=32, training=True, augment=AugmentConfig.for_method("g2rl"))
"""
from tfau.data.augment import AugmentConfig
from tfau.data.loading import builder_class, get_builder, load_split
from tfau.data.pipeline import TARGET_KEYS, make_pipeline, pipeline_for_model

__all__ = ["AugmentConfig", "TARGET_KEYS", "builder_class", "get_builder", "load_split",
           "make_pipeline", "pipeline_for_model"]
