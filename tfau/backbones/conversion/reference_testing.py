"""Test helpers: PyTorch reference networks with random weights and their per-stage features.

Only the ``*_test.py`` files beside this module use it; it imports torch (the ``convert``
extra) and is never imported by the package itself.
"""
from __future__ import annotations

import numpy as np

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def randomize_batch_norms(module, seed=1):
    """Non-trivial BN parameters and running statistics (the defaults 1/0/0/1 would hide a
    swapped mean/variance or gamma/beta)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.2, 0.8, generator=g)
                m.bias.normal_(0.0, 0.2, generator=g)
                m.running_mean.normal_(0.0, 0.2, generator=g)
                m.running_var.uniform_(0.5, 2.0, generator=g)
    return module.eval()


def state_dict_numpy(module):
    return {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}


def torch_input(images):
    """Our in-model normalisation done by hand: 0..255 NHWC -> standardised NCHW tensor."""
    import torch

    x = (np.asarray(images, np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def nhwc(t):
    return t.detach().cpu().numpy().transpose(0, 2, 3, 1)


def timm_hrnet_w18_stages(ref, images):
    """``{our layer name: NHWC features}`` of timm's ``hrnet_w18`` at every stage.

    Follows ``HighResolutionNet.stages`` (timm); the V2 concatenation upsamples bilinearly with
    ``align_corners=False`` as the HRNet facial-landmark code does.
    """
    import torch
    import torch.nn.functional as F

    out = {}
    with torch.no_grad():
        x = ref.act1(ref.bn1(ref.conv1(torch_input(images))))
        x = ref.act2(ref.bn2(ref.conv2(x)))
        out["stem2_relu"] = x
        x = ref.layer1(x)
        out["stage1_block3_out"] = x
        ys = ref.stage2([t(x) for t in ref.transition1])
        out.update({f"stage2_m0_relu{i}": y for i, y in enumerate(ys)})
        for stage, transition, last in ((ref.stage3, ref.transition2, "stage3_m3"),
                                        (ref.stage4, ref.transition3, "stage4_m2")):
            xs = [ys[i] if isinstance(t, torch.nn.Identity) else t(ys[-1])
                  for i, t in enumerate(transition)]
            ys = stage(xs)
            out.update({f"{last}_relu{i}": y for i, y in enumerate(ys)})
        size = ys[0].shape[2:]
        out["v2_concat"] = torch.cat(
            [ys[0]] + [F.interpolate(y, size=size, mode="bilinear", align_corners=False)
                       for y in ys[1:]], 1)
    return {k: nhwc(v) for k, v in out.items()}


def torchvision_resnet18_stages(ref, images):
    """``{our layer name: NHWC features}`` of torchvision's ``resnet18`` after the stem, the
    max pool and each of the four stages."""
    import torch

    out = {}
    with torch.no_grad():
        x = ref.relu(ref.bn1(ref.conv1(torch_input(images))))
        out["stem_relu"] = x
        x = ref.maxpool(x)
        out["stem_pool"] = x
        for s in range(1, 5):
            x = getattr(ref, f"layer{s}")(x)
            out[f"stage{s}_block2_out"] = x
    return {k: nhwc(v) for k, v in out.items()}


def stage_errors(model, references, images):
    """``{layer: max |ours - reference| / max |reference|}`` for every named stage."""
    import keras

    names = list(references)
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    sub = keras.Model(inputs, [model.get_layer(n).output for n in names])
    outs = sub(np.asarray(images, np.float32), training=False)
    errors = {}
    for n, o in zip(names, outs):
        ref = references[n]
        o = np.asarray(o)
        if o.shape != ref.shape:
            errors[n] = float("inf")
            continue
        errors[n] = float(np.abs(o - ref).max() / max(np.abs(ref).max(), 1e-12))
    return errors
