"""RE-Net and the ResNet-18 baseline: folded all-AU inference, single-AU training loss, intensity
variant, fit, serving, harness."""

import numpy as np
import pytest

from tfau.layers.graph_batch_norm import GraphBatchNorm, pearson_correlation
from tfau.models import build_model
from tfau.testing import model_harness as tu
from tfau.testing.layer_harness import run_model_checks

PROTOCOL = "disfa_occurrence"


def _correlation(n_aus, seed=0):
    labels = np.random.default_rng(seed).integers(0, 2, (50, n_aus))
    return pearson_correlation(labels)


@pytest.fixture(scope="module")
def model():
    return build_model("re_net", PROTOCOL, correlation=_correlation(8), **tu.tiny_kwargs())


def test_structure_and_config(model):
    norms = [l for l in model.backbone.layers if isinstance(l, GraphBatchNorm)]
    assert len(norms) == 20  # stem + 2 per basic block + 3 downsampling shortcuts
    assert not any(type(l).__name__ == "BatchNormalization" for l in model.backbone.layers)
    np.testing.assert_allclose(norms[0].correlation, _correlation(8))
    config = model.get_config()
    np.testing.assert_allclose(np.asarray(config["correlation"]), _correlation(8))
    assert model.required_features == ("image", "au_index")
    baseline = build_model("resnet18", PROTOCOL, **tu.tiny_kwargs())
    assert baseline.required_features == ("image",)
    assert not any(isinstance(l, GraphBatchNorm) for l in baseline.backbone.layers)


def test_folded_inference_equals_one_pass_per_au(model):
    features, _ = tu.batch(model, n=3)
    out = model(features, training=False)
    assert out["au"].shape == (3, 8) and out["au_logits"].shape == (3, 8)
    for a in range(8):
        logits = model._logits(features["image"], np.full((3,), a, np.int32), training=False)
        np.testing.assert_allclose(
            np.asarray(out["au_logits"])[:, a], np.asarray(logits)[:, a, 0], rtol=1e-4, atol=1e-5
        )
    np.testing.assert_allclose(
        np.asarray(out["au"]), 1 / (1 + np.exp(-np.asarray(out["au_logits"]))), rtol=1e-5
    )


def test_single_au_training_loss_matches_numpy(model):
    features, y = tu.batch(model, n=4)
    features["au_index"] = np.int32(2)  # a scalar works as well as [B]
    y["label_mask"][1, 2] = 0.0
    y_pred = model(features, training=True)
    assert y_pred["au_logits"].shape == (4,)
    au = np.asarray(y_pred["au"])
    assert np.all(au[:, [0, 1, 3, 4, 5, 6, 7]] == 0) and np.all(au[:, 2] > 0)
    z = np.asarray(y_pred["au_logits"], np.float64)
    t, m = y["labels"][:, 2], y["label_mask"][:, 2]
    p = 1 / (1 + np.exp(-z))
    bce = -(t * np.log(p) + (1 - t) * np.log(1 - p))
    np.testing.assert_allclose(
        float(model.compute_loss(features, y, y_pred)), (bce * m).sum() / m.sum(), rtol=1e-5
    )


def test_intensity_variant():
    m = build_model("re_net", "bp4d_intensity", correlation=_correlation(5), **tu.tiny_kwargs())
    features, y = tu.batch(m)
    out = m(features, training=False)
    assert out["au_logits"].shape == (2, 5, 6)
    p = np.exp(np.asarray(out["au_logits"], np.float64))
    p /= p.sum(-1, keepdims=True)
    np.testing.assert_allclose(np.asarray(out["au"]), (p * np.arange(6)).sum(-1), rtol=1e-5)
    # All-AU (evaluation) loss: masked 6-way cross-entropy.
    y["label_mask"][0, 1] = 0.0
    loss = float(m.compute_loss(features, y, out, training=False))
    ce = -np.log(np.take_along_axis(p, y["labels"].astype(int)[..., None], -1)[..., 0])
    np.testing.assert_allclose(loss, (ce * y["label_mask"]).sum() / y["label_mask"].sum(), rtol=1e-5)
    argmax = build_model(
        "re_net", "bp4d_intensity", intensity_output="argmax", **tu.tiny_kwargs()
    )
    values = np.asarray(argmax(features, training=False)["au"])
    assert set(np.unique(values)) <= set(range(6))


def test_fit_and_serving(model):
    features, y = tu.batch(model)
    logs = tu.fit_one_step(model, features, y)  # graph mode, one AU per batch
    assert {"loss", "au_loss"} <= set(logs)
    tu.assert_serving_matches(model, features, keys=("au",))


def test_baseline_fit_all_aus():
    m = build_model("resnet18", PROTOCOL, **tu.tiny_kwargs())
    features, y = tu.batch(m)
    y_pred = m(features, training=True)  # au_index ignored: every AU
    z = np.asarray(y_pred["au_logits"], np.float64)
    t = y["labels"]
    p = 1 / (1 + np.exp(-z))
    bce = -(t * np.log(p) + (1 - t) * np.log(1 - p))
    np.testing.assert_allclose(float(m.compute_loss(features, y, y_pred)), bce.mean(), rtol=1e-5)
    tu.fit_one_step(m, features, y, run_eagerly=True)
    tu.assert_serving_matches(m, features, keys=("au",))


@pytest.mark.parametrize("name", ["re_net", "resnet18"])
def test_model_harness(tmp_path, name):
    kwargs = dict(tu.tiny_kwargs())
    if name == "re_net":
        kwargs["correlation"] = _correlation(8)
    features, _ = tu.batch(build_model(name, PROTOCOL, **kwargs))
    run_model_checks(
        lambda: build_model(name, PROTOCOL, **kwargs),
        {"image": features["image"]},
        atol=1e-4,
        tmp_path=tmp_path,
    )


def test_held_out_au_table6():
    # disfa_occurrence AUs 1 2 4 6 9 12 25 26; AU 9 (index 4) removed from training.
    corr = _correlation(8)
    m = build_model("re_net", PROTOCOL, correlation=corr, held_out_aus=[9], **tu.tiny_kwargs())
    assert m.sample_au_indices == [0, 1, 2, 3, 5, 6, 7]
    norms = [l for l in m.backbone.layers if isinstance(l, GraphBatchNorm)]
    assert all(l.unseen_aus == [4] for l in norms)
    features, y = tu.batch(m, n=4)
    out = m(features, training=False)  # all AUs, the new one included
    assert out["au"].shape == (4, 8)
    flipped = {**y, "labels": y["labels"].copy()}
    flipped["labels"][:, 4] = 1.0 - flipped["labels"][:, 4]  # its labels never reach the loss
    np.testing.assert_allclose(float(m.compute_loss(features, y, out, training=False)),
                               float(m.compute_loss(features, flipped, out, training=False)))
    features["au_index"] = np.full(4, 4, np.int32)
    y_pred = m(features, training=True)
    assert float(m.compute_loss(features, y, y_pred)) == 0.0
    assert build_model("re_net", PROTOCOL, held_out_aus=[9], **tu.tiny_kwargs()).get_config()[
        "held_out_aus"] == [9]
    with pytest.raises(ValueError, match="held_out_aus"):
        build_model("re_net", PROTOCOL, held_out_aus=[23], **tu.tiny_kwargs())


def test_learnable_graph_starts_random_not_from_pearson():
    # Table 7: "the omega_ij of AU relation G is first randomly initialized".
    from tfau.models.re_net import RENet

    labels = np.random.default_rng(0).integers(0, 2, (50, 8)).astype(np.float32)
    mask = np.ones_like(labels)
    assert "correlation" in RENet.options_from_labels(labels, mask, {})
    assert RENet.options_from_labels(labels, mask, {"learnable_graph": True}) == {}
    pearson = RENet.options_from_labels(
        labels, mask, {"learnable_graph": True, "learnable_graph_init": "pearson"})
    np.testing.assert_allclose(pearson["correlation"], pearson_correlation(labels, mask))
    m = build_model("re_net", PROTOCOL, learnable_graph=True, **tu.tiny_kwargs())
    graph = next(l for l in m.backbone.layers if isinstance(l, GraphBatchNorm)).graph.numpy()
    off = graph[~np.eye(8, dtype=bool)]
    assert 0 < np.abs(off).max() < 0.1 and np.std(off) > 1e-3  # random, small
    with pytest.raises(ValueError, match="learnable_graph_init"):
        build_model("re_net", PROTOCOL, learnable_graph_init="zeros", **tu.tiny_kwargs())


def test_pipeline_never_draws_a_held_out_au():
    # Table 6: single-AU batches come from the model's sample_au_indices only.
    tf = pytest.importorskip("tensorflow")  # the tf.data pipeline (JAX CI stage: no TensorFlow)

    from tfau import geometry
    from tfau.data import make_pipeline

    m = build_model("re_net", PROTOCOL, held_out_aus=[1, 25], **tu.tiny_kwargs())
    n = 8
    lm = np.tile(np.asarray(geometry.TEMPLATE_68, np.float32)[None] / 8.0, (n, 1, 1))
    raw = tf.data.Dataset.from_tensor_slices({
        "image": np.random.default_rng(0).integers(0, 255, (n, 32, 32, 3)).astype(np.uint8),
        "landmarks": lm, "labels": np.zeros((n, 8), np.float32),
        "label_mask": np.ones((n, 8), np.float32)}).repeat(12)
    ds = make_pipeline(raw, PROTOCOL, 32, batch_size=4, training=True,
                       sample_au=m.sample_au_indices, seed=1)
    drawn = {int(f["au_index"].numpy()[0]) for f, _ in ds}
    assert drawn <= {1, 2, 3, 4, 5, 7} and len(drawn) > 2  # never 0 (AU1) or 6 (AU25)
    with pytest.raises(ValueError, match="sample_au"):
        make_pipeline(raw, PROTOCOL, 32, training=True, sample_au=[8])
