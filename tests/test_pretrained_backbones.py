"""Converted PyTorch backbones inside the paper models: the backbone a model builds with
``backbone_weights=<checkpoint>`` reproduces the reference network's features on one image.

ROI-GCN's HRNetV2-W18 from a timm ``hrnet_w18`` checkpoint (random weights), RE-Net's
AU-conditioned ResNet-18 from a torchvision ``resnet18`` checkpoint: with no AU relation graph
every AU's normalisation starts from the pretrained BN, so every AU sees the reference features.
"""
import sys

import numpy as np
import pytest

if "triton" not in sys.modules:  # see tfau/backbones/conversion/reference_test.py
    sys.modules["triton"] = None
torch = pytest.importorskip("torch", reason="needs torch: pip install '.[convert]'")
timm = pytest.importorskip("timm", reason="needs timm: pip install '.[convert]'")
torchvision = pytest.importorskip("torchvision", reason="needs torchvision: pip install '.[convert]'")

from tfau.backbones.conversion import reference_testing as rt  # noqa: E402
from tfau.models import build_model  # noqa: E402

pytestmark = pytest.mark.slow  # full-width backbones inside whole models


def _image(size, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (1, size, size, 3)).astype(np.float32)


def test_roi_gcn_hrnet_from_a_timm_checkpoint(tmp_path):
    torch.manual_seed(0)
    ref = rt.randomize_batch_norms(timm.create_model("hrnet_w18", pretrained=False))
    pth = str(tmp_path / "hrnet_w18.pth")
    torch.save(ref.state_dict(), pth)
    model = build_model("roi_gcn", "bp4d_occurrence", backbone="hrnetv2_w18", width=1.0,
                        image_size=64, backbone_weights=pth)
    backbone = model.encoder.get_layer("hrnetv2_w18")
    image = _image(64)
    errors = rt.stage_errors(backbone, rt.timm_hrnet_w18_stages(ref, image), image)
    assert max(errors.values()) <= 1e-4, errors


def test_re_net_conditioned_resnet18_from_a_torchvision_checkpoint(tmp_path):
    torch.manual_seed(0)
    ref = rt.randomize_batch_norms(torchvision.models.resnet18(weights=None))
    pth = str(tmp_path / "resnet18.pth")
    torch.save(ref.state_dict(), pth)
    model = build_model("re_net", "bp4d_occurrence", width=1.0, image_size=64,
                        backbone_weights=pth)
    image = _image(64, seed=1)
    expected = rt.torchvision_resnet18_stages(ref, image)["stage4_block2_out"]
    for au in (0, model.n_aus - 1):
        out = np.asarray(model.backbone([image, np.array([au], np.int32)], training=False))
        err = np.abs(out - expected).max() / np.abs(expected).max()
        assert err <= 1e-4, (au, err)
