"""ResNet-18: torchvision's ``resnet18`` (and timm's ``resnet18``, same names) -> ours.

torchvision names: ``conv1``/``bn1`` stem, ``layer{s}.{b}.conv1/bn1/conv2/bn2`` basic blocks,
``layer{s}.0.downsample.0/1`` the strided 1x1 shortcut of stages 2-4; ``fc`` (the ImageNet
classifier) has no counterpart in the backbone and is left out.
"""
from __future__ import annotations

REFERENCE = "torchvision / timm resnet18 tensor names"
IGNORED_PREFIXES = ("fc.",)


def layer_map():
    """``[(keras layer, kind, torch prefix)]`` for every Conv2D / BN of ``resnet18``."""
    out = [("stem_conv", "conv", "conv1"), ("stem_bn", "bn", "bn1")]
    for stage in range(1, 5):
        for block in range(2):
            k, t = f"stage{stage}_block{block + 1}", f"layer{stage}.{block}"
            out += [
                (f"{k}_conv1", "conv", f"{t}.conv1"), (f"{k}_bn1", "bn", f"{t}.bn1"),
                (f"{k}_conv2", "conv", f"{t}.conv2"), (f"{k}_bn2", "bn", f"{t}.bn2"),
            ]
            if stage > 1 and block == 0:
                out += [
                    (f"{k}_down_conv", "conv", f"{t}.downsample.0"),
                    (f"{k}_down_bn", "bn", f"{t}.downsample.1"),
                ]
    return out

