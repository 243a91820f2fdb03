"""Tests for tfau.data.augment: affine warps move images and landmarks together."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfau import geometry
from tfau import targets as targets_lib
from tfau.data import augment as aug

S = 64


def _params(batch, angle=0.0, scale=1.0, tx=0.0, ty=0.0, flip=False):
    full = lambda v, dt=tf.float32: tf.fill([batch], tf.constant(v, dt))  # noqa: E731
    return {"angle": full(np.deg2rad(angle)), "scale": full(scale), "tx": full(tx),
            "ty": full(ty), "flip": full(flip, tf.bool)}


def _dot_images(points, size=S):
    """One image per point: black with a 3x3 white dot centred on the (integer) point."""
    imgs = np.zeros((len(points), size, size, 3), np.uint8)
    for i, (x, y) in enumerate(np.round(points).astype(int)):
        imgs[i, y - 1:y + 2, x - 1:x + 2] = 255
    return imgs


@pytest.mark.parametrize("backend", ["opencv", "tf"])
@pytest.mark.parametrize("kw", [dict(angle=25.0), dict(angle=-30.0, scale=1.1, tx=3.0, ty=-4.0),
                                dict(flip=True, angle=10.0), dict(scale=0.9, tx=-5.0)])
def test_warp_moves_a_bright_dot_like_its_landmark(backend, kw):
    points = np.array([[20.0, 24.0], [40.0, 18.0], [31.0, 45.0]], np.float32)
    images = tf.constant(_dot_images(points))
    a, t = aug.affine_matrices(_params(3, **kw), S, S)
    out = aug.warp_images(images, a, t, S, backend=backend).numpy().astype(np.float32)
    moved = (tf.einsum("bij,bj->bi", a, points) + t).numpy()
    for i in range(3):
        grey = out[i].mean(-1)
        ys, xs = np.mgrid[:S, :S]
        centroid = np.array([(grey * xs).sum(), (grey * ys).sum()]) / grey.sum()
        np.testing.assert_allclose(centroid, moved[i], atol=0.35)


def test_flip_mirrors_and_permutes_landmarks():
    lm = tf.constant(geometry.TEMPLATE_68[None] + np.float32([[[3.0, -2.0]]]))  # off-centre
    a, t = aug.affine_matrices(_params(1, flip=True), 256, 256)
    flipped = aug.warp_landmarks(lm, a, t, tf.constant([True])).numpy()[0]
    src = lm.numpy()[0]
    # index i of the flipped face is the mirror image of FLIP_PERMUTATION[i] of the original
    np.testing.assert_allclose(flipped[:, 0], 255.0 - src[geometry.FLIP_PERMUTATION, 0], atol=1e-4)
    np.testing.assert_allclose(flipped[:, 1], src[geometry.FLIP_PERMUTATION, 1], atol=1e-4)
    # 36 is still the outer corner of the image-left eye, 48 the image-left mouth corner
    assert flipped[36, 0] < flipped[39, 0] < flipped[42, 0] < flipped[45, 0]
    assert flipped[48, 0] < flipped[54, 0]
    np.testing.assert_allclose(flipped, targets_lib.flip_landmarks_tf(lm).numpy()[0], atol=1e-4)


def test_flip_keeps_heatmap_points_anatomical():
    """AU points recomputed from flipped landmarks = mirrored points, pair members swapped."""
    spec = geometry.heatmap_spec("disfa_intensity")
    lm = tf.constant(geometry.TEMPLATE_68[None] + np.float32([[[5.0, 1.0]]]))
    a, t = aug.affine_matrices(_params(1, flip=True), 256, 256)
    flipped = aug.warp_landmarks(lm, a, t, tf.constant([True]))
    p_flip = targets_lib.heatmap_points_tf(flipped, spec).numpy()[0]
    p_orig = targets_lib.heatmap_points_tf(lm, spec).numpy()[0]
    mirrored = np.stack([255.0 - p_orig[:, 0], p_orig[:, 1]], -1)
    np.testing.assert_allclose(p_flip, mirrored[spec.point_flip], atol=1e-3)
    # the first point of each pair stays on the image's left
    au12 = np.nonzero(spec.point_au == spec.aus.index(12))[0]
    assert p_flip[au12[0], 0] < 127.5 < p_flip[au12[1], 0]


def test_identity_params_change_nothing():
    images = tf.constant(np.random.default_rng(0).integers(0, 255, (2, S, S, 3), np.uint8))
    a, t = aug.affine_matrices(_params(2), S, S)
    np.testing.assert_allclose(a.numpy(), np.tile(np.eye(2), (2, 1, 1)), atol=1e-6)
    np.testing.assert_allclose(t.numpy(), 0.0, atol=1e-5)
    for backend in ("opencv", "tf"):
        out = aug.warp_images(images, a, t, S, backend=backend).numpy()
        np.testing.assert_allclose(out.astype(np.float32), images.numpy(), atol=0.51)


def test_crop_is_a_translation_within_bounds():
    cfg = aug.AugmentConfig(crop_fraction=0.875)
    assert cfg.source_size(224) == 256 and cfg.source_size(112) == 128
    params = aug.sample_params(tf.constant(500), cfg, tf.constant([3, 4], tf.int64), 256, 224)
    tx = params["tx"].numpy()
    assert np.abs(tx).max() <= 16.0 and np.abs(tx).max() > 12.0  # +-(256-224)/2, covered
    a, t = aug.affine_matrices(params, 256, 224)
    # forward: p_out = p_in - crop offset, offset in [0, 32]
    offset = -t.numpy()
    assert offset.min() >= -1e-4 and offset.max() <= 32 + 1e-4


def test_sampled_params_respect_ranges_and_seed():
    cfg = aug.AugmentConfig(flip=True, rotation=30.0, scale=0.1, brightness=0.1)
    p1 = aug.sample_params(tf.constant(400), cfg, tf.constant([1, 2], tf.int64), 256, 256)
    p2 = aug.sample_params(tf.constant(400), cfg, tf.constant([1, 2], tf.int64), 256, 256)
    p3 = aug.sample_params(tf.constant(400), cfg, tf.constant([1, 3], tf.int64), 256, 256)
    deg = np.rad2deg(p1["angle"].numpy())
    assert np.abs(deg).max() <= 30.0 and np.abs(deg).max() > 25.0
    assert 0.3 < p1["flip"].numpy().mean() < 0.7
    assert ((p1["scale"].numpy() >= 0.9) & (p1["scale"].numpy() <= 1.1)).all()
    np.testing.assert_array_equal(p1["angle"].numpy(), p2["angle"].numpy())
    assert not np.array_equal(p1["angle"].numpy(), p3["angle"].numpy())
    np.testing.assert_array_equal(p1["tx"].numpy(), 0.0)  # no translation configured


def test_colour_jitter():
    rng = np.random.default_rng(1)
    images = tf.constant(rng.uniform(40, 200, (3, 8, 8, 3)).astype(np.float32))
    params = {"brightness": tf.constant([20.0, 0.0, 0.0]), "contrast": tf.constant([1.0, 0.5, 1.0]),
              "saturation": tf.constant([1.0, 1.0, 0.0])}
    out = aug.jitter_colour(images, params).numpy()
    np.testing.assert_allclose(out[0], np.clip(images.numpy()[0] + 20.0, 0, 255), atol=1e-3)
    assert out[1].std() == pytest.approx(images.numpy()[1].std() * 0.5, rel=1e-3)
    np.testing.assert_allclose(out[2], out[2][..., :1].repeat(3, -1), atol=1e-4)  # grey




def test_oversample_positives_duplicates_known_positives_once():
    from tfau.data.augment import oversample_columns, oversample_positives, oversampled_size

    labels = np.array([[1, 0, 0], [0, 0, 1], [0, 1, 0], [0, 0, 0], [0, 1, 1]], np.float32)
    masks = np.ones_like(labels)
    masks[4, 1] = 0.0  # unknown: not a positive
    cols = oversample_columns([1, 2, 4], [2, 4, 23])  # AU 23 is not in this protocol
    assert cols == [1, 2]
    ds = tf.data.Dataset.from_tensor_slices(
        {"labels": labels, "label_mask": masks, "id": np.arange(5)})
    ids = [int(ex["id"]) for ex in oversample_positives(ds, cols).as_numpy_iterator()]
    assert ids == [0, 1, 1, 2, 2, 3, 4, 4]  # row 4 is positive in AU 4 (known)
    assert oversampled_size(labels, masks, cols) == len(ids)
    assert oversampled_size(labels, masks, []) == 5
    assert [int(e["id"]) for e in oversample_positives(ds, []).as_numpy_iterator()] == list(range(5))
    with pytest.raises(ValueError, match="oversample AUs"):
        oversample_columns([1, 2, 4], [23])
