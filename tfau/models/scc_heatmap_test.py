"""SCC-Heatmap: SCC placement/options, head parameter count at BP4D size, fit, serving, harness."""

import numpy as np
import pytest

from tfau import geometry
from tfau.testing.model_harness import tf_targets as targets  # skips without TF (issue 15)
from tfau.layers.scc import SCCLayer
from tfau.models import build_model
from tfau.testing import model_harness as tu
from tfau.testing.layer_harness import run_model_checks


def _scc_layers(model):
    return [l for l in model.encoder.layers if isinstance(l, SCCLayer)]


@pytest.fixture(scope="module")
def model():
    return build_model("scc_heatmap", "disfa_intensity", **tu.tiny_kwargs())


def test_defaults_and_shapes(model):
    assert model.k == 7 and model.layout == "paper"  # DISFA: k = 7 (paper)
    assert build_model("scc_heatmap", "bp4d_intensity", **tu.tiny_kwargs()).k == 5
    layers = _scc_layers(model)
    assert [l.name for l in layers] == ["head_scc1", "head_scc2", "head_scc3"]
    assert all(l.k == 7 and l.layout == "paper" for l in layers)
    # the paper layout is eq. 3: no batch norm on the edge features (issue 11 item 7)
    assert not any(l.use_batch_norm for l in layers)
    assert all(l.edge_features == "centre_offset" for l in layers)
    features, _ = tu.batch(model)
    out = model(features, training=False)
    assert out["maps"].shape == (2, 8, 8, geometry.heatmap_spec("disfa_intensity").n_points)
    spec = geometry.heatmap_spec("disfa_intensity")
    np.testing.assert_allclose(
        np.asarray(out["au"]),
        np.asarray(targets.decode_heatmaps(out["maps"], spec.point_au, 12)),
        rtol=1e-5, atol=1e-6,
    )


def test_official_layout_brings_the_codes_k_and_batch_norm():
    # issue 11 items 5 and 6: k = 7 on BP4D too, BN epsilon 1.001e-5, unbiased moving variance
    m = build_model("scc_heatmap", "bp4d_intensity", layout="official", scc_stages=(2,),
                    **tu.tiny_kwargs())
    (layer,) = _scc_layers(m)
    assert m.k == layer.k == 7
    assert layer.use_batch_norm and layer.epsilon == pytest.approx(1.001e-5)
    assert layer.unbiased_moving_variance
    # each part can be set alone; Table 3 (g) reaches the layer
    m = build_model("scc_heatmap", "bp4d_intensity", layout="official", k=5, scc_batch_norm=False,
                    scc_edge_features="offset", scc_stages=(2,), **tu.tiny_kwargs())
    (layer,) = _scc_layers(m)
    assert layer.k == 5 and not layer.use_batch_norm and layer.edge_features == "offset"
    assert m.get_config()["scc_edge_features"] == "offset"
    with pytest.raises(ValueError, match="scc_edge_features"):
        build_model("scc_heatmap", "bp4d_intensity", scc_edge_features="sum", **tu.tiny_kwargs())


def test_official_layout_and_stage_choice():
    m = build_model(
        "scc_heatmap", "bp4d_intensity", k=7, layout="official", scc_stages=(2,), **tu.tiny_kwargs()
    )
    layers = _scc_layers(m)
    assert [l.name for l in layers] == ["head_scc3"] and layers[0].layout == "official"
    features, _ = tu.batch(m)
    assert np.all(np.isfinite(np.asarray(m(features, training=False)["au"])))
    with pytest.raises(ValueError):
        build_model("scc_heatmap", "bp4d_intensity", layout="transposed", **tu.tiny_kwargs())
    with pytest.raises(ValueError, match="scc_stages"):
        build_model("scc_heatmap", "bp4d_intensity", scc_stages=(3,), **tu.tiny_kwargs())


def test_hrnet_scc_on_the_neck():
    m = build_model("scc_heatmap", "disfa_intensity", **{**tu.tiny_kwargs(),
                                                         "backbone": "hrnetv2_w18"})
    assert [l.name for l in _scc_layers(m)] == ["neck_scc"]


def test_head_parameter_count_bp4d():
    # Official code: ResNet-50 at 256, deconvs 256/128/64 each followed by SCC (K = L), 10 maps.
    m = build_model("scc_heatmap", "bp4d_intensity", k=7, layout="official")
    head = sum(l.count_params() for l in m.encoder.layers if l.name.startswith("head_"))
    head += m.map_head.count_params()
    assert abs(head - 44.8e6) < 0.1e6, head
    assert m.encoder.get_layer("head_scc3").count_params() == 2 * 4096 * 4096 + 2 * 4096 + 2 * 4096
    assert m.map_head.count_params() == 64 * 10 + 10


def test_fit_and_serving(model):
    features, y = tu.batch(model)
    tu.fit_one_step(model, features, y, run_eagerly=True)
    tu.assert_serving_matches(model, features)


def test_model_harness(tmp_path, model):
    features, _ = tu.batch(model)
    run_model_checks(
        lambda: build_model("scc_heatmap", "disfa_intensity", **tu.tiny_kwargs()),
        {"image": features["image"]},
        atol=1e-4,
        tmp_path=tmp_path,
    )
