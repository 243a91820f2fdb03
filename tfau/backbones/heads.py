"""Deconvolution head (SCC-Heatmap official code / Simple Baselines), the backbone table and
the encoders every heatmap/ROI model starts from.

``deconv_head``: ``[B, S/32, S/32, C]`` -> ``[B, S/4, S/4, filters[-1]]`` through three
``Conv2DTranspose(4x4, stride 2, no bias, truncated-normal std 0.01) -> BN -> ReLU`` stages
(one per entry of ``filters``: two stages end at S/8), each optionally followed by what the
model's ``stage_hook`` adds (SCC-Heatmap: an ``SCCLayer``; the head itself names no paper). The
official SCC code uses 256, 128 and 64 filters, which is what gives its head 44.8 M parameters
at 256x256 input with SCC after each stage (K = L = 256, 1024, 4096 at 16x16, 32x32, 64x64;
SCC-3 alone 2 x 4096 x 4096 = 33.6 M). The final 1x1 conv to the maps lives in the model (G2RL
needs the features before it).

``build_encoder``: images (0..255) -> the feature maps every model of tfau starts from, for any
backbone of the table: ResNet-50 / ResNet-18 + the deconvolution head, or HRNetV2-W18 (already
at S/4) + an optional 1x1 conv/BN/ReLU "neck" (HRNetV2's own keypoint head) so heatmap models get
the same ``filters[-1]`` channels whatever the backbone. ``encoder_stride`` says at which
stride its maps come out, so data code can ask the model instead of assuming S/4.
"""
from __future__ import annotations

import keras

from tfau.backbones.hrnet import hrnet_v2_w18
from tfau.backbones.resnet import resnet18, resnet50, scaled_channels

DEFAULT_HEAD_FILTERS = (256, 128, 64)
DECONV_INIT_STDDEV = 0.01
# The backbone table: name -> (builder(shape, width, weights), output stride).
# keras.applications' ResNet-50 has a fixed width: the multiplier applies to the head only.
_BACKBONES = {
    "resnet50": (lambda shape, width, weights: resnet50(shape, weights=weights), 32),
    "resnet18": (lambda shape, width, weights: resnet18(shape, width=width, weights=weights), 32),
    "hrnetv2_w18": (
        lambda shape, width, weights: hrnet_v2_w18(shape, width=width, weights=weights), 4),
}
BACKBONES = tuple(_BACKBONES)


def backbone_stride(backbone):
    """Output stride of the bare backbone ``backbone`` (32 for the ResNets, 4 for HRNetV2)."""
    return _entry(backbone)[1]


def _entry(backbone):
    try:
        return _BACKBONES[backbone]
    except KeyError:
        raise ValueError(f"unknown backbone {backbone!r}; known: {BACKBONES}") from None


def _hook(stage_hook, n_stages):
    """``stage_hook`` as a callable ``(stage_index, tensor) -> tensor`` (identity when None).

    A sequence is read as one layer (or None) per stage; its length must be ``n_stages``.
    """
    if stage_hook is None:
        return lambda i, x: x
    if callable(stage_hook):
        return stage_hook
    layers = list(stage_hook)
    if len(layers) != n_stages:
        raise ValueError(f"stage_hook has {len(layers)} entries for {n_stages} deconv stages")
    bad = [l for l in layers if l is not None and not callable(l)]
    if bad:
        raise TypeError(f"stage_hook entries must be layers/callables or None, got {bad!r}")
    return lambda i, x: x if layers[i] is None else layers[i](x)


def deconv_head(x, filters=DEFAULT_HEAD_FILTERS, width=1.0, stage_hook=None, name="head"):
    """Applies the deconvolution head to a KerasTensor ``x``; returns the last stage's features.

    Args:
      filters: output channels of each 4x4/2 deconvolution (times ``width``); one stage each,
        so ``n`` stages take an ``S/32`` map to ``S / 2**(5 - n)`` (SCC-Heatmap Table 2: 3
        stages -> S/4, 2 stages -> S/8).
      stage_hook: what follows each stage's ``deconv -> BN -> ReLU``: a callable
        ``stage_hook(stage_index, tensor) -> tensor`` (0-based index), or a sequence of one
        layer (or None) per stage. None: nothing. A model passes its per-stage layers here
        (SCC-Heatmap its ``SCCLayer``s); the head itself knows no paper.
    """
    if not len(filters):
        raise ValueError("deconv_head needs at least one stage (filters is empty)")
    hook = _hook(stage_hook, len(filters))
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
        x = hook(i, x)
    return x


def build_backbone(backbone, image_size=256, width=1.0, weights=None):
    """The bare backbone by name (functional model, images 0..255 in)."""
    shape = (int(image_size), int(image_size), 3)
    return _entry(backbone)[0](shape, width, weights)


def encoder_stride(backbone, head_filters=DEFAULT_HEAD_FILTERS):
    """Output stride of :func:`build_encoder`: the backbone's, halved by each deconv stage
    (ResNets: 32 / 2**len(head_filters)); HRNetV2 (stride 4) gets no deconv stages."""
    stride = backbone_stride(backbone)
    if stride == 4:
        return 4
    return stride // 2 ** len(head_filters)


def build_encoder(
    backbone="resnet50",
    image_size=256,
    width=1.0,
    weights=None,
    head_filters=DEFAULT_HEAD_FILTERS,
    stage_hook=None,
    hrnet_neck=True,
    name="encoder",
):
    """Images ``[B, S, S, 3]`` (0..255) -> features ``[B, S/r, S/r, C]`` (functional model).

    ResNet backbones (stride 32): backbone + :func:`deconv_head` with one 4x4/2 deconvolution
    per entry of ``head_filters`` (C = ``head_filters[-1] * width``; three stages: r = 4, two:
    r = 8), ``stage_hook`` after each stage. HRNetV2-W18 (already at S/4, r = 4): the
    backbone's output (270 * width channels); with ``hrnet_neck`` a 1x1 conv + BN + ReLU to
    ``head_filters[-1] * width`` channels follows, then ``stage_hook`` once, with the index of
    the last stage (``len(head_filters) - 1``: the neck stands for the head's S/4 stage).
    ``encoder_stride`` gives r without building anything.
    """
    size = int(image_size)
    if size % 32:
        raise ValueError(f"image_size must be divisible by 32, got {size}")
    stride = backbone_stride(backbone)
    if stride == 4 and stage_hook is not None and not hrnet_neck:
        raise ValueError(f"a stage_hook on {backbone} needs hrnet_neck=True")
    base = build_backbone(backbone, size, width, weights)
    images = keras.Input((size, size, 3), name="image")
    x = base(images)
    if stride == 4:
        if hrnet_neck:
            x = keras.layers.Conv2D(
                scaled_channels(head_filters[-1], width), 1, use_bias=False, name="neck_conv"
            )(x)
            x = keras.layers.BatchNormalization(momentum=0.99, epsilon=1e-5, name="neck_bn")(x)
            x = keras.layers.ReLU(name="neck_relu")(x)
            n = len(head_filters)
            x = _hook(stage_hook, n)(n - 1, x)
    else:
        x = deconv_head(x, head_filters, width, stage_hook, name="head")
    return keras.Model(images, x, name=name)
