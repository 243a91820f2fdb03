"""Pieces shared by the backbones: in-model input normalisation and weight loading."""
from __future__ import annotations

import os

import keras
from keras import ops

IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
IMAGENET_STD_RGB = (0.229, 0.224, 0.225)
# keras.applications "caffe" mode: RGB -> BGR, subtract these BGR means (0..255 scale), no scaling.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)

NORMALIZATION_MODES = ("torch", "caffe", "none")


@keras.saving.register_keras_serializable(package="tfau")
class ImageNormalization(keras.layers.Layer):
    """Maps raw RGB images (float 0..255 or uint8) to what a backbone expects.

    Modes:
      - ``"torch"``: ``(x / 255 - mean) / std`` with the ImageNet RGB mean/std (ResNet-18, HRNet,
        i.e. per-channel standardisation as in ROI-GCN).
      - ``"caffe"``: RGB -> BGR and subtract the ImageNet BGR pixel means, as
        ``keras.applications.resnet50.preprocess_input`` does (the Keras ResNet-50 weights need it).
      - ``"none"``: cast only.
    """

    def __init__(self, mode="torch", **kwargs):
        super().__init__(**kwargs)
        if mode not in NORMALIZATION_MODES:
            raise ValueError(f"mode must be one of {NORMALIZATION_MODES}, got {mode!r}")
        self.mode = mode

    def call(self, images):
        x = ops.cast(images, self.compute_dtype)
        if self.mode == "torch":
            mean = ops.convert_to_tensor([255.0 * m for m in IMAGENET_MEAN_RGB], self.compute_dtype)
            inv_std = ops.convert_to_tensor(
                [1.0 / (255.0 * s) for s in IMAGENET_STD_RGB], self.compute_dtype
            )
            return (x - mean) * inv_std
        if self.mode == "caffe":
            x = ops.flip(x, axis=-1)
            return x - ops.convert_to_tensor(CAFFE_MEAN_BGR, self.compute_dtype)
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(mode=self.mode)
        return config


def load_local_weights(model, weights, what):
    """``weights``: None, or a local ``.weights.h5``/``.h5`` file saved from the same architecture."""
    if weights is None:
        return model
    if weights == "imagenet":
        raise ValueError(
            f"no ImageNet weights for {what} ship with keras.applications; pass a local weights "
            "file (saved with `model.save_weights`) or None"
        )
    if not os.path.exists(str(weights)):
        raise FileNotFoundError(f"{what} weights file not found: {weights}")
    model.load_weights(str(weights))
    return model
