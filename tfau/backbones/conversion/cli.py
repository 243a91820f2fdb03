"""The work of ``tfau convert-weights {hrnetv2_w18,resnet18} SOURCE DEST`` (parser: tfau/cli.py).

SOURCE: ``.pth``/``.pt``/``.bin`` (needs torch) or ``.safetensors`` (NumPy via safetensors).
DEST: a ``.weights.h5`` of our backbone at width 1.0, usable as ``--backbone_weights DEST``
(any input size), or, saved as ``$TFAU_WEIGHTS_DIR/<backbone>_imagenet.weights.h5``, as what
``--backbone_weights imagenet`` loads.
"""
from __future__ import annotations

import os
import sys


def convert_weights(backbone: str, source: str, dest: str, overwrite: bool = False) -> int:
    """Exit status 0 on success, 2 (one ``error:`` line on stderr) otherwise."""
    if os.path.exists(dest) and not overwrite:
        print(f"tfau convert-weights: error: {dest} exists (--overwrite to replace it)",
              file=sys.stderr)
        return 2
    from tfau.backbones.conversion import core
    from tfau.backbones.heads import build_backbone

    try:
        core.converter(backbone)
        model = build_backbone(backbone, image_size=64, width=1.0)
        dest = core.convert_checkpoint(backbone, source, dest, model)
    except (ValueError, FileNotFoundError) as e:  # ConversionError is a ValueError
        print(f"tfau convert-weights: error: {e}", file=sys.stderr)
        return 2
    n = sum(int(v.numpy().size) for v in model.weights)
    print(f"{source} -> {dest}: {backbone}, {n:,} values "
          f"(use: --backbone {backbone} --width 1 --backbone_weights {dest})")
    return 0
