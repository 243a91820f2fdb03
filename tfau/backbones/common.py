"""Pieces shared by the backbones: in-model input normalisation and weight loading."""
from __future__ import annotations

import os

import keras
import numpy as np
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


CHECKPOINT_EXTS = (".pth", ".pt", ".bin", ".safetensors")


def load_local_weights(model, weights, backbone, width=1.0):
    """Loads ``weights`` into a freshly built backbone ``model`` (named ``backbone``) and returns it.

    ``weights``:
      - ``None``: unchanged (random init);
      - ``"imagenet"``: the converted ImageNet weights of ``backbone`` (width 1.0 only), from the
        weights folder (``$TFAU_WEIGHTS_DIR`` or ``~/.keras/tfau``), converting a checkpoint found
        there or downloading the public one (:mod:`tfau.backbones.conversion.imagenet`);
      - a PyTorch checkpoint (``.pth``/``.pt``/``.bin``/``.safetensors``): converted on load,
        every tensor checked (:mod:`tfau.backbones.conversion`);
      - a Keras ``.weights.h5``/``.h5`` saved from this architecture at this width (a file
        written by ``tfau convert-weights`` says which backbone and width it holds, and a
        mismatch is named).
    """
    if weights is None:
        return model
    from tfau.backbones.conversion import core as conversion
    from tfau.backbones.conversion import imagenet

    weights = os.fspath(weights)
    if weights == "imagenet" or os.path.splitext(weights)[1].lower() in CHECKPOINT_EXTS:
        if backbone not in conversion.CONVERTIBLE:
            raise ValueError(f"{backbone}: no ImageNet / PyTorch checkpoint converter (known: "
                             f"{list(conversion.CONVERTIBLE)}); pass a Keras weights file or None")
        if float(width) != 1.0:
            raise ValueError(
                f"{weights}: the ImageNet {backbone} has width 1.0, this model width {width:g} "
                "(train with --width 1, or --backbone_weights none)"
            )
    if weights == "imagenet":
        weights = imagenet.imagenet_weights(backbone, model)
    elif os.path.splitext(weights)[1].lower() in CHECKPOINT_EXTS:
        return conversion.load_checkpoint_into(model, backbone, weights)
    if not os.path.exists(weights):
        raise FileNotFoundError(f"{backbone} weights file not found: {weights}")
    attrs = conversion.weights_file_attrs(weights)
    held = attrs.get(conversion.ATTR_BACKBONE)
    if held is not None and held != backbone:
        raise ValueError(f"{weights} holds {held} weights (converted from "
                         f"{attrs.get(conversion.ATTR_SOURCE)}); the model's backbone is "
                         f"{backbone} (--backbone {held} to use them)")
    held_width = attrs.get(conversion.ATTR_WIDTH)
    if held_width is not None and float(held_width) != float(width):
        raise ValueError(f"{weights} holds {backbone} weights of width {float(held_width):g}; "
                         f"the model has width {float(width):g} (--width {float(held_width):g})")
    try:
        model.load_weights(weights)
    except Exception as e:  # Keras raises ValueError / KeyError on a mismatched file
        raise ValueError(f"{weights} does not fit {backbone} at width {float(width):g}: {e}") from None
    return model


def transfer_weights(source, target):
    """Copies a plain backbone's weights into the same backbone with other norm layers.

    Layers are matched by name. Layers with the same variable shapes get the weights as they
    are; a norm layer whose ``gamma``/``beta``/``moving_mean``/``moving_variance`` have extra
    leading axes (per-condition parameters, e.g. ``[n, C]`` for ``[C]``) gets each one
    broadcast, so every condition starts from the same pretrained normalisation; a target
    variable without a counterpart (e.g. a relation graph) keeps its initial value.
    """
    for layer in target.layers:
        if not layer.weights:
            continue
        try:
            src = source.get_layer(layer.name)
        except ValueError:
            raise ValueError(f"transfer_weights: {source.name} has no layer {layer.name!r}") from None
        if [tuple(w.shape) for w in src.weights] == [tuple(w.shape) for w in layer.weights]:
            layer.set_weights(src.get_weights())
            continue
        by_name = {w.name: w for w in src.weights}
        matched = 0
        for var in layer.weights:
            if var.name in by_name:
                value = np.asarray(by_name[var.name].numpy())
                var.assign(np.broadcast_to(value, tuple(var.shape)).astype(value.dtype))
                matched += 1
        if matched != len(src.weights):
            raise ValueError(
                f"transfer_weights: cannot map {type(src).__name__} {src.name!r} "
                f"({[w.name for w in src.weights]}) onto {type(layer).__name__} "
                f"({[w.name for w in layer.weights]})"
            )
    return target
