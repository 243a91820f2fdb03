"""Model registry, protocol handling, and every model with a non-default backbone."""

import numpy as np
import pytest

from tfau import aus
from tfau.models import TINY_CONFIG, build_model, build_tiny_model, model_names
from tfau.testing import model_harness as tu
from tfau.models.base import masked_map_mse, resolve_protocol


def test_registry():
    assert set(model_names()) == {
        "resnet_deconv", "scc_heatmap", "g2rl", "roi_gcn", "resnet18", "re_net"
    }
    with pytest.raises(ValueError, match="unknown model"):
        build_model("jaa_net", "bp4d_occurrence")
    assert TINY_CONFIG == {"backbone": "resnet18", "width": 0.125, "image_size": 64}


def test_protocol_forms():
    p = aus.get_protocol("disfa_occurrence", threshold=1.0)
    assert resolve_protocol(p) is p
    assert resolve_protocol("bp4d_intensity") == aus.PROTOCOLS["bp4d_intensity"]
    m = build_tiny_model("resnet18", p)
    assert resolve_protocol(m.get_config()["protocol"]) == p
    assert m.image_size == 64 and m.name == "resnet18"


def test_masked_map_mse():
    rng = np.random.default_rng(0)
    pred, target = rng.normal(size=(2, 3, 3, 4)), rng.normal(size=(2, 3, 3, 4))
    mask = np.array([[1, 0, 1, 1], [0, 0, 0, 0]], np.float32)
    sq = (pred - target) ** 2 * mask[:, None, None, :]
    np.testing.assert_allclose(float(masked_map_mse(pred, target, mask)), sq.sum() / (3 * 9), rtol=1e-6)
    assert float(masked_map_mse(pred, target, np.zeros((2, 4)))) == 0.0


@pytest.mark.parametrize(
    "name, protocol, backbone",
    [
        pytest.param(  # SCC on the HRNet neck (an HRNet build: slow on CPU)
            "scc_heatmap", "bp4d_intensity", "hrnetv2_w18", marks=pytest.mark.slow
        ),
        ("g2rl", "disfa_intensity", "resnet50"),
        ("roi_gcn", "disfa_occurrence", "resnet50"),
        ("resnet18", "bp4d_occurrence", "resnet50"),
    ],
)
def test_any_backbone(name, protocol, backbone):
    model = build_model(name, protocol, backbone=backbone, width=0.125, image_size=32)
    assert model.backbone_name == backbone
    features, _ = tu.batch(model, n=1)
    out = model(features, training=False)
    assert out["au"].shape == (1, model.n_aus)
    assert np.all(np.isfinite(np.asarray(out["au"])))
    assert model.get_config()["backbone_weights"] is None
    if backbone == "hrnetv2_w18":
        # HRNet (S/4, 2 + 4 + 9 + 18 channels at width 0.125) + neck (1x1 conv to 8) + SCC.
        assert model.encoder.get_layer("hrnetv2_w18").output.shape[1:] == (8, 8, 33)
        assert model.encoder.get_layer("neck_scc").k == 5
        assert out["maps"].shape == (1, 8, 8, 10)


def test_re_net_needs_resnet18():
    with pytest.raises(ValueError, match="ResNet-18"):
        build_model("re_net", "bp4d_occurrence", backbone="resnet50", image_size=32)
