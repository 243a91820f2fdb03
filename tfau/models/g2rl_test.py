"""G2RL: training-only geometric branch, combined loss against NumPy, fit, serving, harness."""

import keras
import numpy as np
import pytest

from tfau.models import build_model
from tfau.testing import model_harness as tu
from tfau.testing.layer_harness import run_model_checks


@pytest.fixture(scope="module")
def model():
    return build_model("g2rl", "bp4d_intensity", **tu.tiny_kwargs())


def test_geometric_branch_needs_landmarks(model):
    features, _ = tu.batch(model)
    train_out = model(features, training=True)
    assert train_out["geometry"].shape == (2, 256)
    assert train_out["projection"].shape == (2, 256)
    assert set(model(features, training=False)) == {"au", "maps", "geometry", "projection"}
    # Without landmarks (serving, export) the branch is skipped.
    assert set(model({"image": features["image"]}, training=True)) == {"au", "maps"}
    assert model.required_features == ("image", "landmarks")


def test_combined_loss_matches_numpy(model):
    features, y = tu.batch(model, unknown=True)
    y_pred = model(features, training=True)
    terms = model.loss_terms(y, y_pred)
    loss = float(model.compute_loss(features, y, y_pred))
    pred = np.asarray(y_pred["maps"], np.float64)
    point_mask = y["label_mask"][:, model.point_au]
    l_s = ((pred - y["heatmaps"]) ** 2 * point_mask[:, None, None, :]).sum() / (
        point_mask.sum() * pred.shape[1] * pred.shape[2]
    )
    g = np.asarray(y_pred["geometry"], np.float64)
    wm = np.asarray(y_pred["projection"], np.float64)
    l_g = ((g - wm) ** 2).mean()
    np.testing.assert_allclose(float(terms["heatmap_loss"]), l_s, rtol=1e-5)
    np.testing.assert_allclose(float(terms["geometry_loss"]), l_g, rtol=1e-5)
    np.testing.assert_allclose(loss, 0.05 * l_g + 0.95 * l_s, rtol=1e-5)
    # No landmarks (no geometric branch): the heatmap term only.
    eval_pred = model({"image": features["image"]}, training=False)
    eval_loss = float(model.compute_loss(features, y, eval_pred, training=False))
    np.testing.assert_allclose(
        eval_loss, 0.95 * float(model.loss_terms(y, eval_pred)["heatmap_loss"]), rtol=1e-6
    )


def test_fit_and_serving(model):
    features, y = tu.batch(model)
    logs = tu.fit_one_step(model, features, y)  # graph mode: the training branch is traced
    assert {"loss", "heatmap_loss", "geometry_loss", "geometry_norm", "projection_norm"} <= set(logs)
    assert logs["geometry_norm"] > 0 and logs["projection_norm"] > 0
    serving = tu.assert_serving_matches(model, features)
    baseline = build_model("resnet_deconv", "bp4d_intensity", **tu.tiny_kwargs())
    assert serving.count_params() < model.count_params()
    assert serving.count_params() == baseline.count_params()  # no inference overhead
    names = {l.name for l in serving.layers}
    assert "geometry" not in names and "projection" not in names


def test_model_harness(tmp_path, model):
    features, _ = tu.batch(model)
    run_model_checks(
        lambda: build_model("g2rl", "bp4d_intensity", **tu.tiny_kwargs()),
        {"image": features["image"], "landmarks": features["landmarks"]},
        atol=1e-4,
        tmp_path=tmp_path,
    )


def _branch_grads(model, features, y, loss_fn):
    tf = pytest.importorskip("tensorflow")

    variables = model.geometry.trainable_variables + model.projection.trainable_variables
    with tf.GradientTape() as tape:
        y_pred = model(features, training=True)
        loss = loss_fn(model.loss_terms(y, y_pred))
    grads = tape.gradient(loss, model.geometry.trainable_variables
                          + model.projection.trainable_variables)
    return {v.path: (0.0 if g is None else float(tf.reduce_max(tf.abs(g))))
            for v, g in zip(variables, grads)}


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="GradientTape")
def test_only_l_g_trains_the_geometric_branch_and_the_teacher_option(model):
    # issue 11 item 9: L_S has no gradient path to the GCN or W (so it cannot stop G = WM -> 0)
    features, y = tu.batch(model)
    heat = _branch_grads(model, features, y, lambda t: t["heatmap_loss"])
    assert max(heat.values()) == 0.0
    joint = _branch_grads(model, features, y, model.total_loss)
    gcn = [k for k in joint if k.startswith(model.geometry.name)]
    assert gcn and all(joint[k] > 0 for k in gcn)
    terms = model.loss_terms(y, model(features, training=True))
    g = np.asarray(model(features, training=True)["geometry"], np.float64)
    np.testing.assert_allclose(float(terms["geometry_norm"]),
                               np.linalg.norm(g, axis=1).mean(), rtol=1e-5)
    # the stop-gradient teacher: G gets no gradient, W M still does
    teacher = build_model("g2rl", "bp4d_intensity", geometry_teacher="stop_gradient",
                          **tu.tiny_kwargs())
    fixed = _branch_grads(teacher, features, y, teacher.total_loss)
    assert all(fixed[k] == 0.0 for k in fixed if k.startswith(teacher.geometry.name))
    assert max(fixed[k] for k in fixed if k.startswith(teacher.projection.name)) > 0
    assert teacher.get_config()["geometry_teacher"] == "stop_gradient"
    with pytest.raises(ValueError, match="geometry_teacher"):
        build_model("g2rl", "bp4d_intensity", geometry_teacher="ema", **tu.tiny_kwargs())
