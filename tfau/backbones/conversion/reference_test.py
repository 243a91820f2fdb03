"""Equality with the reference PyTorch networks: timm's hrnet_w18, torchvision's resnet18.

Random weights and random BN statistics, the state dict converted, features compared at every
stage on random images (relative error <= 1e-4: max |ours - theirs| / max |theirs|). The same
harness then sees one tensor transposed (numbers differ) or dropped (conversion refuses).
"""
import os
import sys

import numpy as np
import pytest

# triton (a torch dependency, GPU kernels only) segfaults when its native library loads after
# TensorFlow in the same process (torch 2.14.1 / TF 2.21: `import tensorflow; import
# torchvision`). The CPU references never need it; an absent triton is what torch expects on
# machines without it.
if "triton" not in sys.modules:
    sys.modules["triton"] = None

torch = pytest.importorskip("torch", reason="needs torch: pip install '.[convert]'")
timm = pytest.importorskip("timm", reason="needs timm: pip install '.[convert]'")
torchvision = pytest.importorskip("torchvision", reason="needs torchvision: pip install '.[convert]'")

from tfau.backbones import hrnet_v2_w18, resnet18  # noqa: E402
from tfau.backbones.conversion import core  # noqa: E402
from tfau.backbones.conversion import reference_testing as rt  # noqa: E402

TOLERANCE = 1e-4


def _images(size, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (2, size, size, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def hrnet_case():
    torch.manual_seed(0)
    ref = rt.randomize_batch_norms(timm.create_model("hrnet_w18", pretrained=False))
    images = _images(64)
    model = hrnet_v2_w18((64, 64, 3))
    return ref, rt.state_dict_numpy(ref), rt.timm_hrnet_w18_stages(ref, images), model, images


@pytest.fixture(scope="module")
def resnet_case():
    torch.manual_seed(0)
    ref = rt.randomize_batch_norms(torchvision.models.resnet18(weights=None))
    images = _images(64, seed=1)
    model = resnet18((64, 64, 3))
    return ref, rt.state_dict_numpy(ref), rt.torchvision_resnet18_stages(ref, images), model, images


def _check_equal(backbone, case):
    _, state, refs, model, images = case
    core.assign(core.converter(backbone), state, model)
    errors = rt.stage_errors(model, refs, images)
    assert len(errors) == len(refs)
    bad = {k: v for k, v in errors.items() if not v <= TOLERANCE}
    assert not bad, bad
    return errors


def test_hrnet_w18_equals_timm_at_every_stage(hrnet_case):
    errors = _check_equal("hrnetv2_w18", hrnet_case)
    # stem, stage 1, 2 + 3 + 4 branch outputs of stages 2-4, the V2 concatenation
    assert len(errors) == 2 + 2 + 3 + 4 + 1


def test_resnet18_equals_torchvision_at_every_stage(resnet_case):
    errors = _check_equal("resnet18", resnet_case)
    assert len(errors) == 6


@pytest.mark.parametrize("backbone,tensor,stage", [
    ("hrnetv2_w18", "stage3.1.branches.2.0.conv1.weight", "stage3_m3_relu2"),
    pytest.param("hrnetv2_w18", "stage2.0.fuse_layers.1.0.0.0.weight", "stage2_m0_relu1",
                 marks=pytest.mark.slow),
    ("resnet18", "layer3.0.conv2.weight", "stage3_block2_out"),
])
def test_one_transposed_tensor_breaks_equality(backbone, tensor, stage, hrnet_case, resnet_case):
    case = hrnet_case if backbone == "hrnetv2_w18" else resnet_case
    _, state, refs, model, images = case
    state = dict(state)
    state[tensor] = np.ascontiguousarray(np.swapaxes(state[tensor], 2, 3))  # kh <-> kw
    core.assign(core.converter(backbone), state, model)
    errors = rt.stage_errors(model, refs, images)
    assert errors[stage] > 100 * TOLERANCE, errors


@pytest.mark.parametrize("backbone,tensor", [
    ("hrnetv2_w18", "stage4.2.fuse_layers.3.0.2.1.running_var"),
    ("resnet18", "layer2.0.downsample.1.weight"),
])
def test_one_dropped_tensor_is_refused(backbone, tensor, hrnet_case, resnet_case):
    case = hrnet_case if backbone == "hrnetv2_w18" else resnet_case
    _, state, _, model, _ = case
    state = {k: v for k, v in state.items() if k != tensor}
    with pytest.raises(core.ConversionError, match=tensor.replace(".", r"\.")):
        core.assign(core.converter(backbone), state, model)


def test_pth_checkpoint_to_weights_file_and_backbone_weights(tmp_path, resnet_case):
    """The file route: torch.save -> tfau convert-weights -> resnet18(weights=...) at another
    input size; and the .pth given to the builder directly."""
    from tfau.cli import main

    ref, _, _, _, _ = resnet_case
    pth = str(tmp_path / "resnet18.pth")
    torch.save(ref.state_dict(), pth)
    dest = str(tmp_path / "r18.weights.h5")
    assert main(["convert-weights", "resnet18", pth, dest]) == 0
    images = _images(96, seed=2)
    refs = rt.torchvision_resnet18_stages(ref, images)
    for weights in (dest, pth):
        model = resnet18((96, 96, 3), weights=weights)
        errors = rt.stage_errors(model, refs, images)
        assert max(errors.values()) <= TOLERANCE, (weights, errors)
    assert os.path.getsize(dest) > 40e6  # 11.2 M float32 parameters
