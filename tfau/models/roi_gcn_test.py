"""ROI-GCN: decoding vs tfau.targets, Loss0/Loss1 against NumPy, ablations, fit, serving, harness."""

import numpy as np
import pytest

from tfau import geometry
from tfau.testing.model_harness import tf_targets as targets  # skips without TF (issue 15)
from tfau.models import build_model
from tfau.testing import model_harness as tu
from tfau.models.roi_gcn import RoiDecoder, inverse_occurrence_weights, template_roi_windows
from tfau.testing.layer_harness import run_model_checks

PROTOCOL = "bp4d_occurrence"


@pytest.fixture(scope="module")
def model():
    return build_model("roi_gcn", PROTOCOL, **tu.tiny_kwargs())


def _windows(lm, size):
    spec = geometry.roi_spec(PROTOCOL)
    pts = targets.to_map_coords(targets.roi_points_tf(lm, spec), size, size // 4)
    return targets.roi_window_masks(pts, size // 4)


def test_forward_and_decoding(model):
    features, _ = tu.batch(model)
    out = model(features, training=False)
    assert out["maps"].shape == (2, 8, 8, 12) and out["au"].shape == (2, 12)
    expected = targets.decode_roi(out["maps"], _windows(features["landmarks"], tu.SIZE))
    np.testing.assert_allclose(np.asarray(out["score"]), np.asarray(expected), atol=1e-6)
    np.testing.assert_allclose(
        np.asarray(out["au"]), 1 / (1 + np.exp(-10 * np.asarray(expected))), rtol=1e-5
    )
    # Without landmarks: the template face's windows.
    out = model({"image": features["image"]}, training=False)
    template = template_roi_windows(geometry.roi_spec(PROTOCOL).aus, tu.SIZE, tu.SIZE // 4)
    expected = targets.decode_roi(out["maps"], template[None])
    np.testing.assert_allclose(np.asarray(out["score"]), np.asarray(expected), atol=1e-6)


def test_template_windows_match_targets():
    lm = (np.asarray(geometry.TEMPLATE_68, np.float32) + 0.5) * (64 / 256) - 0.5
    ours = template_roi_windows(geometry.roi_spec(PROTOCOL).aus, 64, 16)
    np.testing.assert_array_equal(ours, np.asarray(_windows(lm[None], 64))[0])


def test_decoder_recovers_labels_from_targets():
    lm = tu.landmarks(4, 256, seed=3)
    labels = np.random.default_rng(3).integers(0, 2, (4, 12)).astype(np.float32)
    maps, _ = targets.roi_targets(lm, labels, geometry.roi_spec(PROTOCOL), image_size=256)
    decoder = RoiDecoder(geometry.roi_spec(PROTOCOL).aus, 256)
    score, au = decoder(maps, lm)
    np.testing.assert_array_equal(np.asarray(au) > 0.5, labels > 0)
    _, au = decoder(maps)  # template windows: aligned faces, same decisions here
    np.testing.assert_array_equal(np.asarray(au) > 0.5, labels > 0)


def test_positive_only_decoding_passes_perfect_maps():
    # Issue 11 item 2: the positive-only ablation's targets are max(R, 0); a perfect map must
    # decode to the labels (the window mean of a perfect sigma-1 window is 0.128 < 0.5).
    lm = tu.landmarks(4, 256, seed=5)
    labels = np.random.default_rng(5).integers(0, 2, (4, 12)).astype(np.float32)
    labels[0] = 1.0
    maps, _ = targets.roi_targets(lm, labels, geometry.roi_spec(PROTOCOL), image_size=256)
    perfect = np.maximum(np.asarray(maps), 0.0)
    aus = geometry.roi_spec(PROTOCOL).aus
    positive = RoiDecoder(aus, 256, threshold=0.5, reduce="max")
    for windows in (lm, None):
        _, au = positive(perfect, windows)
        np.testing.assert_array_equal(np.asarray(au) > 0.5, labels > 0)
    _, au = RoiDecoder(aus, 256, threshold=0.5, reduce="mean")(perfect, lm)
    assert not np.any(np.asarray(au) > 0.5)  # the old rule: never active
    # Brute force: score = max over the two windows of the window maximum.
    rng = np.random.default_rng(6)
    pred = rng.normal(size=(2, 64, 64, 12)).astype(np.float32)
    windows = np.asarray(_windows(lm[:2], 256))
    score, _ = positive(pred, lm[:2])
    brute = np.array([[max(pred[b, ..., a][windows[b, ..., 2 * a + k] > 0].max() for k in (0, 1))
                       for a in range(12)] for b in range(2)])
    np.testing.assert_allclose(np.asarray(score), brute, atol=1e-6)
    model = build_model("roi_gcn", PROTOCOL, use_negatives=False, **tu.tiny_kwargs())
    assert model.decoder.reduce == "max" and model.decoder.threshold == 0.5


def test_weighted_loss_table4(model):
    labels = np.array([[1, 0, 0], [1, 1, 0], [1, 0, 0], [0, 0, 1]], np.float32)
    w = inverse_occurrence_weights(labels)
    np.testing.assert_allclose(w, np.array([4 / 3, 4, 4]) / np.mean([4 / 3, 4, 4]), rtol=1e-6)
    weights = np.linspace(0.5, 2.0, 12)
    weighted = build_model("roi_gcn", PROTOCOL, au_loss_weights=weights, **tu.tiny_kwargs())
    features, y = tu.batch(weighted, unknown=True)
    y_pred = weighted(features, training=True)
    terms = weighted.loss_terms(y, y_pred)
    wn = weights / weights.mean()
    m = y["label_mask"] * wn[None]
    pred = np.asarray(y_pred["maps"], np.float64)
    loss0 = ((pred - y["roi_maps"]) ** 2 * m[:, None, None, :]).sum() / (y["label_mask"].sum() * 64)
    z = np.asarray(y_pred["decomposition_logits"], np.float64)
    t = y["labels"]
    bce = np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))
    np.testing.assert_allclose(float(terms["roi_loss"]), loss0, rtol=1e-5)
    np.testing.assert_allclose(float(terms["decomposition_loss"]),
                               (bce * m).sum() / y["label_mask"].sum(), rtol=1e-5)
    with pytest.raises(ValueError, match="au_loss_weights"):
        build_model("roi_gcn", PROTOCOL, au_loss_weights=[1.0, 2.0], **tu.tiny_kwargs())


def test_losses_match_numpy(model):
    features, y = tu.batch(model, unknown=True)
    y_pred = model(features, training=True)
    terms = model.loss_terms(y, y_pred)
    loss = float(model.compute_loss(features, y, y_pred))
    pred = np.asarray(y_pred["maps"], np.float64)
    m = y["label_mask"]
    loss0 = ((pred - y["roi_maps"]) ** 2 * m[:, None, None, :]).sum() / (m.sum() * 8 * 8)
    z = np.asarray(y_pred["decomposition_logits"], np.float64)
    t = y["labels"]
    bce = -(t * np.log(1 / (1 + np.exp(-z))) + (1 - t) * np.log(1 - 1 / (1 + np.exp(-z))))
    loss1 = (bce * m).sum() / m.sum()
    np.testing.assert_allclose(float(terms["roi_loss"]), loss0, rtol=1e-5)
    np.testing.assert_allclose(float(terms["decomposition_loss"]), loss1, rtol=1e-5)
    np.testing.assert_allclose(loss, loss0 + 0.001 * loss1, rtol=1e-5)
    # Loss1 = per AU a linear layer over the H'W' entries of Phi's column.
    _, phi = model.gcn(model.encoder(features["image"], training=True))
    kernel, bias = (np.asarray(w) for w in model.decomposition.get_weights())
    manual = np.einsum("bpa,pa->ba", np.asarray(phi).reshape(2, -1, 12), kernel) + bias
    np.testing.assert_allclose(z, manual, rtol=1e-4, atol=1e-5)


def test_ablations():
    features, y = tu.batch(build_model("roi_gcn", PROTOCOL, use_gcn=False, **tu.tiny_kwargs()))
    positive = build_model("roi_gcn", PROTOCOL, use_negatives=False, **tu.tiny_kwargs())
    assert positive.decoder.threshold == 0.5
    y_pred = positive(features, training=True)
    expected = ((np.asarray(y_pred["maps"]) - np.maximum(y["roi_maps"], 0)) ** 2).mean()
    np.testing.assert_allclose(float(positive.loss_terms(y, y_pred)["roi_loss"]), expected, rtol=1e-5)
    no_gcn = build_model("roi_gcn", PROTOCOL, use_gcn=False, **tu.tiny_kwargs())
    assert not hasattr(no_gcn, "gcn") and not no_gcn.use_supervision
    assert set(no_gcn(features, training=True)) == {"au", "maps", "score"}
    assert "decomposition_logits" in positive(features, training=False)
    no_sup = build_model("roi_gcn", PROTOCOL, use_supervision=False, **tu.tiny_kwargs())
    assert hasattr(no_sup, "gcn") and "decomposition_logits" not in no_sup(features, training=True)
    assert no_sup.count_params() < build_model("roi_gcn", PROTOCOL, **tu.tiny_kwargs()).count_params()


def test_hrnet_default_backbone():
    m = build_model("roi_gcn", PROTOCOL, image_size=32, width=0.125)
    assert m.backbone_name == "hrnetv2_w18"
    features, _ = tu.batch(m)
    out = m(features, training=True)
    assert out["maps"].shape == (2, 8, 8, 12) and out["decomposition_logits"].shape == (2, 12)


def test_fit_and_serving(model):
    features, y = tu.batch(model)
    logs = tu.fit_one_step(model, features, y)
    assert {"loss", "roi_loss", "decomposition_loss"} <= set(logs)
    serving = tu.assert_serving_matches(model, features)
    assert serving.count_params() == model.count_params() - model.decomposition.count_params()


def test_model_harness(tmp_path, model):
    features, _ = tu.batch(model)
    run_model_checks(
        lambda: build_model("roi_gcn", PROTOCOL, **tu.tiny_kwargs()),
        {"image": features["image"], "landmarks": features["landmarks"]},
        atol=1e-4,
        tmp_path=tmp_path,
    )


def test_weighted_loss_option_derives_weights_from_labels():
    # Table 4 from the command line: --model_option weighted_loss=true.
    from tfau.models.roi_gcn import ROIGCN

    labels = np.array([[1, 0, 0], [1, 1, 0], [1, 0, 0], [0, 0, 1]], np.float32)
    derived = ROIGCN.options_from_labels(labels, np.ones_like(labels), {"weighted_loss": True})
    np.testing.assert_allclose(derived["au_loss_weights"], inverse_occurrence_weights(labels))
    assert ROIGCN.options_from_labels(labels, None, {}) == {}
    assert ROIGCN.options_from_labels(labels, None, {"weighted_loss": True,
                                                     "au_loss_weights": [1, 1, 1]}) == {}
    assert "weighted_loss" in ROIGCN.option_defaults()


def test_evaluation_outputs_landmark_and_template_windows(model):
    # Issue 11 item 4: evaluation decodes with each face's windows (the paper's M), serving
    # with the template's; the trainer reports both, the per-face one first.
    features, _ = tu.batch(model)
    lm = np.array(features["landmarks"])
    lm[:, 48:68] += np.array([0.0, 4.0], np.float32)  # mouth and chin moved 4 px (1 map px)
    features = {**features, "landmarks": lm}
    outs = model.evaluation_outputs(features)
    assert list(outs) == [model.EVAL_LANDMARKS, model.EVAL_TEMPLATE]
    maps = np.asarray(model(features, training=False)["maps"])
    _, want_lm = model.decoder(maps, lm)
    _, want_tpl = model.decoder(maps)
    np.testing.assert_allclose(np.asarray(outs[model.EVAL_LANDMARKS]), want_lm, atol=1e-6)
    np.testing.assert_allclose(np.asarray(outs[model.EVAL_TEMPLATE]), want_tpl, atol=1e-6)
    serving = model.serving_model()(features["image"])["au"]
    np.testing.assert_allclose(np.asarray(outs[model.EVAL_TEMPLATE]), serving, atol=1e-6)
    assert list(model.evaluation_outputs({"image": features["image"]})) == [model.EVAL_TEMPLATE]


def test_trainer_evaluates_both_windows_in_a_tf_function(model):
    # The trainer's generic hook traces evaluation_outputs in a tf.function (autograph once
    # broke the model's static helpers there).
    pytest.importorskip("tensorflow")  # the trainer (JAX CI stage: no TensorFlow)
    from tfau.training.trainer import evaluation_predictor

    features, _ = tu.batch(model)
    keys, predict, names = evaluation_predictor(model)
    got = np.asarray(predict({k: features[k] for k in keys}))
    assert keys == ("image", "landmarks") and names == [model.EVAL_LANDMARKS, model.EVAL_TEMPLATE]
    outs = model.evaluation_outputs(features)
    want = np.concatenate([np.asarray(outs[n]) for n in names], axis=1)
    np.testing.assert_allclose(got, want, atol=1e-5)
