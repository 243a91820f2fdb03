"""ResNet backbones: ResNet-50 from keras.applications, ResNet-18 built here.

Both take raw RGB images (float 0..255 or uint8) and normalise inside the model:
ResNet-50 the "caffe" way ``keras.applications`` weights expect, ResNet-18 with the ImageNet
mean/std (the convention of the torchvision weights people port).
"""
from __future__ import annotations

import keras

from tfau.backbones.common import ImageNormalization, load_local_weights, transfer_weights


def scaled_channels(channels, width, minimum=4):
    """``channels * width`` rounded, at least ``minimum`` (width multipliers for CPU presets)."""
    return max(int(minimum), int(round(channels * float(width))))


# ------------------------------------------------------------------------------------- ResNet-50


def resnet50(input_shape=(256, 256, 3), weights=None, name="resnet50"):
    """ResNet-50 (``keras.applications``, ``include_top=False``) -> ``[B, S/32, S/32, 2048]``.

    Args:
      input_shape: ``(S, S, 3)``.
      weights: ``None`` (random init), ``"imagenet"`` (downloaded by keras.applications on first
        use, needs internet) or the path of a local weights file for the Keras ResNet-50 without
        top (e.g. ``resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5``).
    Returns:
      A functional ``keras.Model`` taking images in 0..255.
    """
    base = keras.applications.ResNet50(
        include_top=False, weights=weights, input_shape=tuple(input_shape)
    )
    images = keras.Input(tuple(input_shape), name="image")
    x = ImageNormalization("caffe", name="normalize")(images)
    features = base(x)
    return keras.Model(images, features, name=name)


# ------------------------------------------------------------------------------------- ResNet-18


def batch_norm(name):
    """Default ``norm`` factory: plain BN with PyTorch's defaults (momentum 0.1, epsilon 1e-5)."""
    return keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=name)


def _conv(filters, kernel, stride, name):
    return keras.layers.Conv2D(
        filters,
        kernel,
        strides=stride,
        padding="valid" if stride > 1 else "same",
        use_bias=False,
        kernel_initializer="he_normal",
        name=name,
    )


def _strided(x, filters, kernel, stride, name):
    # Symmetric padding as PyTorch (Keras "same" pads right/bottom only when strided).
    if stride > 1:
        x = keras.layers.ZeroPadding2D(kernel // 2, name=f"{name}_pad")(x)
    return _conv(filters, kernel, stride, name)(x)


def _basic_block(x, filters, stride, norm, au_index, name):
    def bn(y, suffix):
        layer = norm(f"{name}_{suffix}")
        return layer(y) if au_index is None else layer(y, au_index)

    shortcut = x
    y = _strided(x, filters, 3, stride, f"{name}_conv1")
    y = keras.layers.ReLU(name=f"{name}_relu1")(bn(y, "bn1"))
    y = _conv(filters, 3, 1, f"{name}_conv2")(y)
    y = bn(y, "bn2")
    if stride != 1 or x.shape[-1] != filters:
        shortcut = _conv(filters, 1, stride, f"{name}_down_conv")(x)
        shortcut = bn(shortcut, "down_bn")
    y = keras.layers.Add(name=f"{name}_add")([y, shortcut])
    return keras.layers.ReLU(name=f"{name}_out")(y)


def resnet18(
    input_shape=(256, 256, 3),
    width=1.0,
    norm=None,
    conditioned=False,
    weights=None,
    name="resnet18",
):
    """ResNet-18 (basic blocks [2, 2, 2, 2], 64-128-256-512 x ``width``) -> ``[B, S/32, S/32, C]``.

    Args:
      input_shape: ``(S, S, 3)`` images in 0..255 (normalised inside with the ImageNet mean/std).
      width: channel multiplier (1.0 = the standard ResNet-18, 11.2 M parameters without top).
      norm: factory ``norm(name) -> keras Layer`` used for every normalisation layer
        (default: :func:`batch_norm`).
      conditioned: when True the model has a second input ``au_index`` (int32 ``[B]``) and every
        norm layer is called as ``layer(x, au_index)`` (RE-Net's GraphBatchNorm).
      weights: ``None``; ``"imagenet"`` (torchvision's IMAGENET1K_V1 weights, converted; width
        1.0 only, see :func:`tfau.backbones.conversion.imagenet_weights`); a torchvision/timm
        ``resnet18`` checkpoint (``.pth``, ``.safetensors``), converted on load; or a
        ``.weights.h5`` of this architecture (e.g. from ``tfau convert-weights``). With a
        ``norm`` other than plain BN, the weights are loaded into a plain twin first and every
        norm layer starts from the pretrained BN (per-condition parameters broadcast).
    Returns:
      A functional ``keras.Model``: ``image -> features`` or ``[image, au_index] -> features``.
    """
    norm = norm or batch_norm
    images = keras.Input(tuple(input_shape), name="image")
    au_index = keras.Input((), dtype="int32", name="au_index") if conditioned else None
    x = ImageNormalization("torch", name="normalize")(images)
    x = _strided(x, scaled_channels(64, width), 7, 2, "stem_conv")
    layer = norm("stem_bn")
    x = layer(x) if au_index is None else layer(x, au_index)
    x = keras.layers.ReLU(name="stem_relu")(x)
    x = keras.layers.ZeroPadding2D(1, name="stem_pool_pad")(x)  # inputs >= 0 after ReLU
    x = keras.layers.MaxPooling2D(3, strides=2, name="stem_pool")(x)
    for stage, (filters, stride) in enumerate(zip((64, 128, 256, 512), (1, 2, 2, 2)), start=1):
        for block in range(2):
            x = _basic_block(
                x,
                scaled_channels(filters, width),
                stride if block == 0 else 1,
                norm,
                au_index,
                f"stage{stage}_block{block + 1}",
            )
    inputs = images if au_index is None else [images, au_index]
    model = keras.Model(inputs, x, name=name)
    if weights is None:
        return model
    if norm is batch_norm and not conditioned:
        return load_local_weights(model, weights, "resnet18", width=width)
    plain = resnet18(input_shape, width=width, weights=weights, name=f"{name}_plain")
    return transfer_weights(plain, model)
