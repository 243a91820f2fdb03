"""HRNetV2-W18 (Wang et al. 2019, the ROI-GCN backbone) as a functional Keras model.

Stem: two 3x3/2 convs (64). Stage 1: 4 bottlenecks (64 -> 256). Stages 2-4: 1, 4 and 3
modules with 2, 3 and 4 branches of widths [18, 36, 72, 144], 4 basic blocks per branch, then
the multi-resolution fusion: a lower-resolution branch reaches a higher one through 1x1 conv + BN
+ upsampling (``fuse_upsampling``, see below), a higher-resolution branch reaches a lower one through a chain of 3x3/2
conv + BN (ReLU between, not after the last); the sum is ReLU'd. V2 output: every branch
upsampled bilinearly to H/4 and concatenated (18 + 36 + 72 + 144 = 270 channels at width 1).

BN momentum 0.99 (Keras convention, i.e. PyTorch 0.01), epsilon 1e-5. Strided convs pad
symmetrically as PyTorch does, so ported weights line up (``tfau.backbones.conversion`` maps the
PyTorch checkpoints tensor for tensor; its tests check every stage against timm's ``hrnet_w18``).

Fusion upsampling. The HRNet ImageNet classification code (HRNet-Image-Classification
``cls_hrnet.py``, whose checkpoint ``hrnetv2_w18_imagenet_pretrained.pth`` every HRNet task
starts from) and timm's ``hrnet_w18`` upsample in the fusion with
``nn.Upsample(scale_factor=2 ** (j - i), mode='nearest')``; the facial-landmark code
(HRNet-Facial-Landmark-Detection ``lib/models/hrnet.py``, ``HighResolutionModule.forward``) uses
``F.interpolate(..., mode='bilinear', align_corners=False)`` on the same ImageNet weights. Our
default is ``"nearest"``: the network the ImageNet weights were trained in, and an architecture
that never depends on where the weights came from (a model rebuilt from a run folder without
weights is the same network). ``"bilinear"`` gives the facial-landmark variant. The final V2
concatenation upsamples bilinearly (``align_corners=False``) in both codes, and here.
"""
from __future__ import annotations

import keras

from tfau.backbones.common import ImageNormalization, load_local_weights
from tfau.backbones.resnet import scaled_channels

BN_MOMENTUM = 0.99
BN_EPSILON = 1e-5
HRNET_W18_BRANCHES = (18, 36, 72, 144)
HRNET_W18_MODULES = (1, 4, 3)  # stages 2, 3, 4


def _bn(name):
    return keras.layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name)


def _conv_bn(x, filters, kernel, stride, relu, name):
    if stride > 1:
        x = keras.layers.ZeroPadding2D(kernel // 2, name=f"{name}_pad")(x)
    x = keras.layers.Conv2D(
        filters,
        kernel,
        strides=stride,
        padding="valid" if stride > 1 else "same",
        use_bias=False,
        kernel_initializer=keras.initializers.RandomNormal(stddev=0.001),
        name=f"{name}_conv",
    )(x)
    x = _bn(f"{name}_bn")(x)
    if relu:
        x = keras.layers.ReLU(name=f"{name}_relu")(x)
    return x


def _bottleneck(x, planes, name):
    out_channels = planes * 4
    shortcut = x
    if x.shape[-1] != out_channels:
        shortcut = _conv_bn(x, out_channels, 1, 1, False, f"{name}_down")
    y = _conv_bn(x, planes, 1, 1, True, f"{name}_a")
    y = _conv_bn(y, planes, 3, 1, True, f"{name}_b")
    y = _conv_bn(y, out_channels, 1, 1, False, f"{name}_c")
    y = keras.layers.Add(name=f"{name}_add")([y, shortcut])
    return keras.layers.ReLU(name=f"{name}_out")(y)


def _basic(x, filters, name):
    y = _conv_bn(x, filters, 3, 1, True, f"{name}_a")
    y = _conv_bn(y, filters, 3, 1, False, f"{name}_b")
    y = keras.layers.Add(name=f"{name}_add")([y, x])
    return keras.layers.ReLU(name=f"{name}_out")(y)


FUSE_UPSAMPLING = ("nearest", "bilinear")


def _upsample(x, factor, name, interpolation="bilinear"):
    if factor == 1:
        return x
    # Keras' bilinear resize uses half-pixel centres: PyTorch's align_corners=False.
    return keras.layers.UpSampling2D(factor, interpolation=interpolation, name=name)(x)


def _module(branches, widths, name, blocks=4, fuse_upsampling="nearest"):
    """One HRNet module: ``blocks`` basic blocks per branch, then the all-to-all fusion."""
    branches = [
        _chain(x, w, blocks, f"{name}_b{i}") for i, (x, w) in enumerate(zip(branches, widths))
    ]
    fused = []
    for i, width_i in enumerate(widths):
        terms = []
        for j, x in enumerate(branches):
            fname = f"{name}_fuse{j}to{i}"
            if j == i:
                terms.append(x)
            elif j > i:  # lower resolution -> higher: 1x1 conv + BN + upsampling
                y = _conv_bn(x, width_i, 1, 1, False, fname)
                terms.append(_upsample(y, 2 ** (j - i), f"{fname}_up", fuse_upsampling))
            else:  # higher resolution -> lower: (i - j) strided 3x3 convs
                y = x
                for step in range(i - j):
                    last = step == i - j - 1
                    y = _conv_bn(
                        y, width_i if last else widths[j], 3, 2, not last, f"{fname}_s{step}"
                    )
                terms.append(y)
        y = keras.layers.Add(name=f"{name}_sum{i}")(terms)
        fused.append(keras.layers.ReLU(name=f"{name}_relu{i}")(y))
    return fused


def _chain(x, width, blocks, name):
    for b in range(blocks):
        x = _basic(x, width, f"{name}_block{b}")
    return x


def _transition(branches, widths, name):
    """Keeps existing branches (3x3 conv when the width changes) and adds one from the lowest."""
    out = []
    for i, width in enumerate(widths):
        if i < len(branches):
            x = branches[i]
            if x.shape[-1] != width:
                x = _conv_bn(x, width, 3, 1, True, f"{name}_{i}")
            out.append(x)
        else:
            out.append(_conv_bn(branches[-1], width, 3, 2, True, f"{name}_{i}"))
    return out


def hrnet_v2_w18(
    input_shape=(256, 256, 3),
    width=1.0,
    weights=None,
    fuse_upsampling="nearest",
    name="hrnetv2_w18",
):
    """HRNetV2-W18 -> ``[B, S/4, S/4, 270 * width]`` (images in 0..255, normalised inside).

    Args:
      input_shape: ``(S, S, 3)``; S divisible by 32.
      width: channel multiplier (stem, stage 1 and the branch widths); 1.0 is the paper's
        network (about 9.56 M parameters).
      weights: ``None``; ``"imagenet"`` (the converted ImageNet checkpoint, width 1.0 only, see
        :func:`tfau.backbones.conversion.imagenet_weights`); a PyTorch checkpoint (``.pth``,
        ``.safetensors``) of the HRNet ImageNet classification network or timm's ``hrnet_w18``,
        converted on load; or a ``.weights.h5`` saved from this architecture (e.g. by
        ``tfau convert-weights``).
      fuse_upsampling: ``"nearest"`` (the ImageNet classification code and timm) or
        ``"bilinear"`` (the facial-landmark code) in the fusion's low -> high paths.
    """
    if fuse_upsampling not in FUSE_UPSAMPLING:
        raise ValueError(
            f"fuse_upsampling must be one of {FUSE_UPSAMPLING}, got {fuse_upsampling!r}"
        )
    if input_shape[0] % 32 or input_shape[1] % 32:
        raise ValueError(f"HRNet needs an input size divisible by 32, got {input_shape}")
    widths = [scaled_channels(w, width, minimum=2) for w in HRNET_W18_BRANCHES]
    stem = scaled_channels(64, width)
    images = keras.Input(tuple(input_shape), name="image")
    x = ImageNormalization("torch", name="normalize")(images)
    x = _conv_bn(x, stem, 3, 2, True, "stem1")
    x = _conv_bn(x, stem, 3, 2, True, "stem2")
    for b in range(4):
        x = _bottleneck(x, stem, f"stage1_block{b}")
    branches = [x]
    for stage, n_modules in enumerate(HRNET_W18_MODULES, start=2):
        stage_widths = widths[:stage]
        branches = _transition(branches, stage_widths, f"transition{stage - 1}")
        for m in range(n_modules):
            branches = _module(
                branches, stage_widths, f"stage{stage}_m{m}", fuse_upsampling=fuse_upsampling
            )
    outputs = [branches[0]] + [
        _upsample(x, 2 ** i, f"v2_up{i}") for i, x in enumerate(branches[1:], start=1)
    ]
    features = keras.layers.Concatenate(name="v2_concat")(outputs)
    model = keras.Model(images, features, name=name)
    return load_local_weights(model, weights, "hrnetv2_w18", width=width)
