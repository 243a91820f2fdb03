"""HRNetV2-W18: the HRNet ImageNet classification checkpoint / timm ``hrnet_w18`` -> ours.

Both name the tensors as HRNet-Image-Classification's ``cls_hrnet.py`` (timm's ``hrnet.py`` is a
port of it): ``conv1/bn1/conv2/bn2`` stem, ``layer1.{b}`` bottlenecks (``conv1..3``, ``bn1..3``,
``downsample.0/1``), ``transition{t}.{i}`` (``.0``/``.1`` conv/BN when an existing branch changes
width, ``.0.0``/``.0.1`` for a new branch), ``stage{s}.{m}.branches.{i}.{b}`` basic blocks and
``stage{s}.{m}.fuse_layers.{i}.{j}`` (``.0``/``.1`` for j > i, ``.{k}.0``/``.{k}.1`` for the k-th
strided conv when j < i). The classification head (``incre_modules``, ``downsamp_modules``,
``final_layer``, ``classifier``) has no counterpart in the V2 backbone and is left out.
"""
from __future__ import annotations

REFERENCE = "HRNet-Image-Classification cls_hrnet.py / timm hrnet_w18 tensor names"
IGNORED_PREFIXES = ("incre_modules.", "downsamp_modules.", "final_layer.", "classifier.")
# Imports no builder (see core.py): the structure is repeated here; the tests check that the map
# covers every Conv2D / BN of hrnet_v2_w18, layer for layer.
MODULES = (1, 4, 3)  # stages 2, 3, 4 (tfau.backbones.hrnet.HRNET_W18_MODULES)
_BLOCKS = 4


def _pair(keras_name, torch_prefix, conv_index="0", bn_index="1"):
    return [
        (f"{keras_name}_conv", "conv", f"{torch_prefix}.{conv_index}"),
        (f"{keras_name}_bn", "bn", f"{torch_prefix}.{bn_index}"),
    ]


def layer_map():
    """``[(keras layer, kind, torch prefix)]`` for every Conv2D / BN of ``hrnet_v2_w18``."""
    out = [
        ("stem1_conv", "conv", "conv1"), ("stem1_bn", "bn", "bn1"),
        ("stem2_conv", "conv", "conv2"), ("stem2_bn", "bn", "bn2"),
    ]
    for b in range(4):
        k, t = f"stage1_block{b}", f"layer1.{b}"
        for ours, conv, bn in (("a", "conv1", "bn1"), ("b", "conv2", "bn2"), ("c", "conv3", "bn3")):
            out += [(f"{k}_{ours}_conv", "conv", f"{t}.{conv}"), (f"{k}_{ours}_bn", "bn", f"{t}.{bn}")]
        if b == 0:  # 64 -> 256 channels
            out += _pair(f"{k}_down", f"{t}.downsample")
    for stage, n_modules in enumerate(MODULES, start=2):
        n_branches = stage
        t = f"transition{stage - 1}"
        if stage == 2:  # the 256-channel stage-1 output becomes the 18-channel branch 0
            out += _pair(f"{t}_0", f"{t}.0")
        out += _pair(f"{t}_{n_branches - 1}", f"{t}.{n_branches - 1}.0")  # the new branch
        for m in range(n_modules):
            k, tm = f"stage{stage}_m{m}", f"stage{stage}.{m}"
            for i in range(n_branches):
                for b in range(_BLOCKS):
                    kb, tb = f"{k}_b{i}_block{b}", f"{tm}.branches.{i}.{b}"
                    out += [
                        (f"{kb}_a_conv", "conv", f"{tb}.conv1"), (f"{kb}_a_bn", "bn", f"{tb}.bn1"),
                        (f"{kb}_b_conv", "conv", f"{tb}.conv2"), (f"{kb}_b_bn", "bn", f"{tb}.bn2"),
                    ]
            for i in range(n_branches):
                for j in range(n_branches):
                    kf, tp = f"{k}_fuse{j}to{i}", f"{tm}.fuse_layers.{i}.{j}"
                    if j > i:
                        out += _pair(kf, tp)
                    elif j < i:
                        for step in range(i - j):
                            out += _pair(f"{kf}_s{step}", f"{tp}.{step}")
    return out

