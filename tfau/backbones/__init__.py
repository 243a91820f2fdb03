"""Backbones: ResNet-50 (keras.applications), ResNet-18 and HRNetV2-W18 (ours), deconv head.

All take raw RGB images (float 0..255 or uint8) and normalise inside the model.
``tfau.backbones.conversion`` maps the public PyTorch ImageNet checkpoints of HRNetV2-W18 and
ResNet-18 onto ours (``weights="imagenet"``, ``.pth``/``.safetensors`` paths, ``tfau
convert-weights``).
"""
from tfau.backbones.common import ImageNormalization, load_local_weights
from tfau.backbones.heads import (
    BACKBONES,
    DEFAULT_HEAD_FILTERS,
    backbone_stride,
    build_backbone,
    build_encoder,
    deconv_head,
    encoder_stride,
)
from tfau.backbones.hrnet import hrnet_v2_w18
from tfau.backbones.resnet import batch_norm, resnet18, resnet50, scaled_channels

__all__ = [
    "BACKBONES",
    "DEFAULT_HEAD_FILTERS",
    "ImageNormalization",
    "backbone_stride",
    "batch_norm",
    "build_backbone",
    "build_encoder",
    "deconv_head",
    "encoder_stride",
    "hrnet_v2_w18",
    "load_local_weights",
    "resnet18",
    "resnet50",
    "scaled_channels",
]
