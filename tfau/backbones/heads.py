"""Deconvolution head (SCC-Heatmap official code / Simple Baselines) and the S/4 encoders.

``deconv_head``: ``[B, S/32, S/32, C]`` -> ``[B, S/4, S/4, filters[-1]]`` through three
``Conv2DTranspose(4x4, stride 2, no bias, truncated-normal std 0.01) -> BN -> ReLU`` stages,
optionally each followed by an ``SCCLayer`` (SCC-Heatmap). The official SCC code uses 256, 128
and 64 filters, which is what gives its head 44.8 M parameters at 256x256 input with SCC after
each stage (K = L = 256, 1024, 4096 at 16x16, 32x32, 64x64; SCC-3 alone 2 x 4096 x 4096 =
33.6 M). The final 1x1 conv to the maps lives in the model (G2RL needs the features before it).

``build_encoder``: images (0..255) -> the ``S/4`` feature maps every model of tfau starts from,
for any backbone: ResNet-50 / ResNet-18 + the deconvolution head, or HRNetV2-W18 (already at
S/4) + an optional 1x1 conv/BN/ReLU "neck" (HRNetV2's own keypoint head) so heatmap models get
the same ``filters[-1]`` channels whatever the backbone.
"""
from __future__ import annotations

import keras

from tfau.backbones.hrnet import hrnet_v2_w18
from tfau.backbones.resnet import resnet18, resnet50, scaled_channels

BACKBONES = ("resnet50", "resnet18", "hrnetv2_w18")
DEFAULT_HEAD_FILTERS = (256, 128, 64)
DECONV_INIT_STDDEV = 0.01


def _scc_layer(options, name):
    from tfau.layers.scc import SCCLayer

    return SCCLayer(name=name, **dict(options or {}))


def deconv_head(
    x,
    filters=DEFAULT_HEAD_FILTERS,
    width=1.0,
    scc_stages=(),
    scc_options=None,
    name="head",
):
    """Applies the deconvolution head to a KerasTensor ``x``; returns the last stage's features.

    Args:
      filters: output channels of each 4x4/2 deconvolution (times ``width``).
      scc_stages: 0-based indices of the deconv stages followed by an ``SCCLayer``.
      scc_options: kwargs for ``SCCLayer`` (``k``, ``layout``, ``filters``).
    """
    scc_stages = tuple(int(s) for s in scc_stages)
    bad = [s for s in scc_stages if not 0 <= s < len(filters)]
    if bad:
        raise ValueError(f"scc_stages {bad} out of range for {len(filters)} deconv stages")
    for i, f in enumerate(filters):
        x = keras.layers.Conv2DTranspose(
            scaled_channels(f, width),
            4,
            strides=2,
            padding="same",
            use_bias=False,
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=DECONV_INIT_STDDEV),
            name=f"{name}_deconv{i + 1}",
        )(x)
        x = keras.layers.BatchNormalization(momentum=0.99, epsilon=1e-5, name=f"{name}_bn{i + 1}")(x)
        x = keras.layers.ReLU(name=f"{name}_relu{i + 1}")(x)
        if i in scc_stages:
            x = _scc_layer(scc_options, f"{name}_scc{i + 1}")(x)
    return x


def build_backbone(backbone, image_size=256, width=1.0, weights=None):
    """The bare backbone by name (functional model, images 0..255 in)."""
    shape = (int(image_size), int(image_size), 3)
    if backbone == "resnet50":
        # keras.applications has a fixed width: the multiplier applies to the head only.
        return resnet50(shape, weights=weights)
    if backbone == "resnet18":
        return resnet18(shape, width=width, weights=weights)
    if backbone == "hrnetv2_w18":
        return hrnet_v2_w18(shape, width=width, weights=weights)
    raise ValueError(f"unknown backbone {backbone!r}; known: {BACKBONES}")


def build_encoder(
    backbone="resnet50",
    image_size=256,
    width=1.0,
    weights=None,
    head_filters=DEFAULT_HEAD_FILTERS,
    scc_stages=(),
    scc_options=None,
    hrnet_neck=True,
    name="encoder",
):
    """Images ``[B, S, S, 3]`` (0..255) -> features ``[B, S/4, S/4, C]`` (functional model).

    ResNet backbones: backbone (S/32) + :func:`deconv_head` (C = ``head_filters[-1] * width``).
    HRNetV2-W18: the backbone's S/4 output (270 * width channels); with ``hrnet_neck`` a
    1x1 conv + BN + ReLU to ``head_filters[-1] * width`` channels follows, and an ``SCCLayer``
    after it when ``scc_stages`` is non-empty (HRNet has no deconv stages, so SCC can only sit
    at S/4).
    """
    size = int(image_size)
    if size % 32:
        raise ValueError(f"image_size must be divisible by 32, got {size}")
    if backbone == "hrnetv2_w18" and scc_stages and not hrnet_neck:
        raise ValueError("SCC on HRNet needs hrnet_neck=True")
    base = build_backbone(backbone, size, width, weights)
    images = keras.Input((size, size, 3), name="image")
    x = base(images)
    if backbone == "hrnetv2_w18":
        if hrnet_neck:
            x = keras.layers.Conv2D(
                scaled_channels(head_filters[-1], width), 1, use_bias=False, name="neck_conv"
            )(x)
            x = keras.layers.BatchNormalization(momentum=0.99, epsilon=1e-5, name="neck_bn")(x)
            x = keras.layers.ReLU(name="neck_relu")(x)
            if scc_stages:
                x = _scc_layer(scc_options, "neck_scc")(x)
    else:
        x = deconv_head(x, head_filters, width, scc_stages, scc_options, name="head")
    return keras.Model(images, x, name=name)
