"""ResNet-Deconv: shapes, decoding, masked heatmap MSE against NumPy, fit, serving, harness."""

import numpy as np
import pytest

from tfau import geometry
from tfau.testing.model_harness import tf_targets as targets  # skips without TF (issue 15)
from tfau.models import build_model
from tfau.testing import model_harness as tu
from tfau.models.resnet_deconv import HeatmapDecoder
from tfau.testing.layer_harness import run_layer_checks, run_model_checks


@pytest.fixture(scope="module")
def model():
    return build_model("resnet_deconv", "bp4d_intensity", **tu.tiny_kwargs())


def test_forward_shapes_and_decoding(model):
    features, _ = tu.batch(model)
    out = model(features, training=False)
    spec = geometry.heatmap_spec("bp4d_intensity")
    assert out["maps"].shape == (2, tu.SIZE // 4, tu.SIZE // 4, spec.n_points)
    assert out["au"].shape == (2, 5)
    assert str(out["au"].dtype) in ("float32", "<dtype: 'float32'>")
    expected = targets.decode_heatmaps(out["maps"], spec.point_au, 5, scale=1.0)
    np.testing.assert_allclose(np.asarray(out["au"]), np.asarray(expected), rtol=1e-5, atol=1e-6)


def test_decoder_inverts_targets():
    # Targets from tfau.targets decode back to the labels through the model's decoder.
    spec = geometry.heatmap_spec("disfa_intensity")
    lm = tu.landmarks(3, 64)
    labels = np.random.default_rng(1).integers(0, 6, (3, 12)).astype(np.float32)
    maps = targets.heatmap_targets(lm, labels, spec, image_size=64)
    decoded = HeatmapDecoder(spec.point_au, 12)(maps)
    np.testing.assert_allclose(np.asarray(decoded), labels, atol=1e-5)


def test_heatmap_loss_matches_numpy(model):
    features, y = tu.batch(model, unknown=True)
    y_pred = model(features, training=False)
    loss = float(model.compute_loss(features, y, y_pred, training=False))
    pred = np.asarray(y_pred["maps"], np.float64)
    point_mask = y["label_mask"][:, model.point_au]  # [B, P]
    sq = (pred - y["heatmaps"]) ** 2 * point_mask[:, None, None, :]
    expected = sq.sum() / (point_mask.sum() * pred.shape[1] * pred.shape[2])
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    # All known: the plain mean over every heatmap value.
    y["label_mask"][:] = 1.0
    loss = float(model.compute_loss(features, y, y_pred, training=False))
    np.testing.assert_allclose(loss, ((pred - y["heatmaps"]) ** 2).mean(), rtol=1e-5)


def test_fit_and_serving(model):
    features, y = tu.batch(model)
    logs = tu.fit_one_step(model, features, y)  # graph mode (as the trainer)
    assert {"loss", "heatmap_loss"} <= set(logs)
    serving = tu.assert_serving_matches(model, features)
    assert serving.count_params() == model.count_params()


def test_heatmap_decoder_harness():
    spec = geometry.heatmap_spec("bp4d_intensity")
    maps = np.random.default_rng(0).random((2, 4, 4, spec.n_points)).astype(np.float32)
    run_layer_checks(
        HeatmapDecoder, {"point_au": spec.point_au.tolist(), "n_aus": 5, "scale": 2.0}, maps,
        check_mixed=False,
    )


def test_model_harness(tmp_path):
    features, _ = tu.batch(build_model("resnet_deconv", "bp4d_intensity", **tu.tiny_kwargs()))
    run_model_checks(
        lambda: build_model("resnet_deconv", "bp4d_intensity", **tu.tiny_kwargs()),
        {"image": features["image"]},
        atol=1e-4,
        tmp_path=tmp_path,
    )


def test_two_deconv_stages_give_maps_at_stride_8_and_the_pipeline_follows():
    # SCC-Heatmap Table 2's two-stage row: maps at S/8; data code asks the model for the stride
    tf = pytest.importorskip("tensorflow")  # the tf.data pipeline (JAX CI stage: no TensorFlow)

    from tfau.data import pipeline_for_model

    m = build_model("resnet_deconv", "bp4d_intensity", head_filters=(32, 16),
                    **{**tu.tiny_kwargs(), "image_size": 64})
    assert m.map_stride == 8 and m.map_size == 8
    features, _ = tu.batch(m)
    assert m(features, training=False)["maps"].shape[1:3] == (8, 8)
    n = 4
    raw = tf.data.Dataset.from_tensor_slices({
        "image": np.zeros((n, 64, 64, 3), np.uint8),
        "landmarks": tu.landmarks(n, 64),
        "labels": np.ones((n, 5), np.float32), "label_mask": np.ones((n, 5), np.float32)})
    x, y = next(iter(pipeline_for_model(raw, m, m.protocol, 64, batch_size=n)))
    assert y["heatmaps"].shape == (n, 8, 8, m.n_points)
    assert np.isfinite(float(m.compute_loss(x, y)))
    with pytest.raises(ValueError, match="head_filters"):
        build_model("resnet_deconv", "bp4d_intensity", head_filters=(), **tu.tiny_kwargs())


def test_heatmap_scale_reaches_the_targets_and_the_init():
    # issue 11 item 1: the pipeline asks the model for its heatmap scale, so a model trained with
    # heatmap_scale=255 (the official code's targets) sees targets x255 and decodes them back
    tf = pytest.importorskip("tensorflow")  # the tf.data pipeline (JAX CI stage: no TensorFlow)

    from tfau.data import pipeline_for_model
    from tfau.models.resnet_deconv import map_head_initializer

    n = 2
    raw = tf.data.Dataset.from_tensor_slices({
        "image": np.zeros((n, 32, 32, 3), np.uint8), "landmarks": tu.landmarks(n, 32),
        "labels": np.full((n, 5), 2.0, np.float32), "label_mask": np.ones((n, 5), np.float32)})
    peaks = {}
    for scale in (1.0, 255.0):
        m = build_model("resnet_deconv", "bp4d_intensity", heatmap_scale=scale,
                        map_head_l2=5e-6, **tu.tiny_kwargs())
        _, y = next(iter(pipeline_for_model(raw, m, m.protocol, 32, batch_size=n)))
        peaks[scale] = float(tf.reduce_max(y["heatmaps"]))
        np.testing.assert_allclose(np.asarray(m.decoder(y["heatmaps"])), 2.0, rtol=1e-5)
        # the code's last conv: MSRA (std sqrt(2 / fan_in)) at x255, scaled with the targets
        std = float(np.std(np.asarray(m.map_head.kernel)))
        fan_in = m.map_head.kernel.shape[2]
        expect = np.sqrt(2.0 / fan_in) * scale / 255.0
        assert 0.5 * expect < std < 1.5 * expect, (scale, std, expect)
        assert len(m.losses) == 1  # the last conv's own L2
        assert m.get_config()["map_head_l2"] == 5e-6
    assert peaks == {1.0: 2.0, 255.0: 510.0}
    init = map_head_initializer(255.0)
    assert init.scale == 2.0 and init.mode == "fan_in"
