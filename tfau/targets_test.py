"""Tests for tfau.targets: value checks against brute-force NumPy loops."""
import numpy as np
import pytest
import tensorflow as tf

from tfau import aus as aus_lib
from tfau import geometry as g
from tfau import targets as t

T = g.TEMPLATE_68


def _faces(seed, n):
    rng = np.random.default_rng(seed)
    return (T[None] + rng.uniform(-6, 6, (n, 1, 2)) + rng.normal(0, 1.5, (n, 68, 2))).astype(
        np.float32)


def _round(v):
    return np.floor(v + 0.5)


def _brute_heatmaps(points, amplitude, h, w, sigma, scale, round_centres):
    b, p = amplitude.shape
    out = np.zeros((b, h, w, p))
    for i in range(b):
        for k in range(p):
            cx, cy = points[i, k]
            if round_centres:
                cx, cy = _round(cx), _round(cy)
            if not (np.isfinite(cx) and np.isfinite(cy) and np.isfinite(amplitude[i, k])):
                continue
            if not (-0.5 <= cx <= w - 0.5 and -0.5 <= cy <= h - 0.5):
                continue
            for y in range(h):
                for x in range(w):
                    d2 = (x - cx) ** 2 + (y - cy) ** 2
                    out[i, y, x, k] = scale * amplitude[i, k] * np.exp(-d2 / (2 * sigma ** 2))
    return out


def _brute_roi(points, labels, h, w, window, sigma, label_mask):
    b, a = labels.shape
    maps, mask = np.zeros((b, h, w, a)), np.zeros((b, h, w, a))
    r = window // 2
    for i in range(b):
        for j in range(a):
            if label_mask[i, j] == 0:
                continue
            sign = 1.0 if labels[i, j] > 0 else -1.0
            for k in (2 * j, 2 * j + 1):
                cx, cy = _round(points[i, k])
                if not np.isfinite(cx + cy):
                    continue
                for y in range(h):
                    for x in range(w):
                        if abs(x - cx) <= r and abs(y - cy) <= r:
                            v = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma ** 2))
                            maps[i, y, x, j] = sign * max(abs(maps[i, y, x, j]), v)
                            mask[i, y, x, j] = 1.0
    return maps, mask


# ----------------------------------------------------------------------------- heatmaps


@pytest.mark.parametrize("round_centres,scale", [(True, 1.0), (False, 255.0)])
def test_gaussian_heatmaps_match_brute_force(round_centres, scale):
    rng = np.random.default_rng(0)
    points = rng.uniform(-3, 19, (2, 5, 2)).astype(np.float32)
    points[0, 0] = [7.5, 3.49]  # rounding: half up in x, down in y
    points[0, 1] = [-2.0, 4.0]  # outside
    points[1, 2] = [np.nan, 4.0]  # unknown landmark
    amplitude = rng.uniform(0, 5, (2, 5)).astype(np.float32)
    amplitude[1, 3] = np.nan
    got = t.gaussian_heatmaps(points, amplitude, (16, 12), sigma=2.0, scale=scale,
                              round_centres=round_centres).numpy()
    want = _brute_heatmaps(points, amplitude, 16, 12, 2.0, scale, round_centres)
    assert got.shape == (2, 16, 12, 5)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4 * scale)
    assert not np.isnan(got).any()
    assert not got[0, ..., 1].any() and not got[1, ..., 2].any() and not got[1, ..., 3].any()
    if round_centres:
        assert got[0, 3, 8, 0] == pytest.approx(scale * amplitude[0, 0])


def test_decode_inverts_encode_for_intensities():
    for name in ("bp4d_intensity", "disfa_intensity"):
        spec = g.heatmap_spec(name)
        rng = np.random.default_rng(1)
        labels = rng.integers(0, 6, (3, spec.n_aus)).astype(np.float32)
        labels[0, 0] = 2.5
        lm = _faces(2, 3)
        for scale in (1.0, 255.0):
            maps = t.heatmap_targets(lm, labels, spec, scale=scale)
            assert maps.shape == (3, 64, 64, spec.n_points)
            got = t.decode_heatmaps(maps, spec.point_au, spec.n_aus, scale=scale)
            np.testing.assert_allclose(got.numpy(), labels, rtol=1e-5, atol=1e-5)


def test_decode_heatmaps_averages_each_aus_points():
    maps = np.zeros((1, 4, 4, 3), np.float32)
    maps[0, 1, 2, 0] = 2.0
    maps[0, 3, 0, 1] = 4.0
    maps[0, 0, 0, 2] = 5.0
    got = t.decode_heatmaps(maps, [0, 0, 1], 2).numpy()
    np.testing.assert_allclose(got, [[3.0, 5.0]])
    with pytest.raises(ValueError, match="point_au"):
        t.decode_heatmaps(maps, [0, 0, 2], 2)
    with pytest.raises(ValueError, match="channels"):
        t.decode_heatmaps(maps, [0, 1], 2)


def test_label_mask_zeroes_unknown_aus():
    spec = g.heatmap_spec("bp4d_intensity")
    labels = np.array([[9.0, 2.0, 9.0, 1.0, 0.0]], np.float32)
    mask = np.array([[0, 1, 0, 1, 1]], np.float32)
    maps = t.heatmap_targets(T[None], labels, spec, label_mask=mask)
    got = t.decode_heatmaps(maps, spec.point_au, 5).numpy()
    np.testing.assert_allclose(got, [[0.0, 2.0, 0.0, 1.0, 0.0]], atol=1e-6)
    np.testing.assert_array_equal(t.expand_to_points(mask, spec.point_au).numpy(),
                                  [[0, 0, 1, 1, 0, 0, 1, 1, 1, 1]])


def test_nan_landmarks_give_zero_maps():
    spec = g.heatmap_spec("bp4d_intensity")
    lm = np.stack([T, np.full((68, 2), np.nan, np.float32)])
    labels = np.full((2, 5), 3.0, np.float32)
    maps = t.heatmap_targets(lm, labels, spec).numpy()
    assert np.isfinite(maps).all() and not maps[1].any() and maps[0].max() == pytest.approx(3.0)


def test_points_tf_match_numpy():
    lm = _faces(3, 2)
    spec, roi = g.heatmap_spec("synthetic"), g.roi_spec(aus_lib.SYNTHETIC_AUS)
    np.testing.assert_allclose(t.heatmap_points_tf(lm, spec), g.heatmap_points(lm, spec),
                               atol=1e-3)
    np.testing.assert_allclose(t.roi_points_tf(lm[0], roi), g.roi_points(lm[0], roi), atol=1e-3)
    np.testing.assert_allclose(t.flip_landmarks_tf(lm), g.flip_landmarks(lm), atol=1e-4)
    np.testing.assert_allclose(t.inner_eye_distance_tf(lm), g.inner_eye_distance(lm), rtol=1e-6)


def test_to_map_coords_pixel_centres():
    pts = np.array([[127.5, 0.0], [255.0, -0.5]], np.float32)
    want = [[31.5, -0.375], [63.375, -0.5]]
    np.testing.assert_allclose(t.to_map_coords(pts, 256, 64), want)
    np.testing.assert_allclose(t.to_map_coords(tf.constant(pts), 256, 64).numpy(), want)
    np.testing.assert_allclose(t.to_map_coords(pts, (256, 128), (64, 64))[0], [63.5, -0.375])
    with pytest.raises(ValueError, match="map_size"):
        t.to_map_coords(pts, 256, 0)


# --------------------------------------------------------------------------------- ROI


def test_roi_maps_match_brute_force():
    labels = np.array([[1, 0, 1], [0, 1, 1]], np.float32)
    label_mask = np.array([[1, 1, 1], [1, 1, 0]], np.float32)
    points = np.array([
        [[5, 5], [8.6, 6.2], [0, 13], [10, 1], [np.nan, 3], [6, 6]],  # overlap, border, NaN
        [[3, 3], [12, 12], [14.4, 0.5], [1, 14], [7, 7], [8, 8]],
    ], np.float32)
    maps, mask = t.roi_maps(points, labels, (15, 16), label_mask=label_mask)
    want_maps, want_mask = _brute_roi(points, labels, 15, 16, 7, 1.0, label_mask)
    np.testing.assert_allclose(maps.numpy(), want_maps, atol=1e-6)
    np.testing.assert_array_equal(mask.numpy(), want_mask)
    assert maps.numpy()[0, 6, 9, 0] == 1.0 and maps.numpy()[0, 13, 0, 1] == -1.0
    assert want_mask[1, 3, 3, 0] == 1 and want_mask[1, :, :, 2].sum() == 0
    assert mask.numpy()[1, :, :, 0].sum() == 49 + 6 * 7  # (12, 12) is clipped by the border


def test_roi_targets_decode_to_labels_with_both_mask_forms():
    spec = g.roi_spec("bp4d_occurrence")
    lm = _faces(4, 3)
    labels = (np.random.default_rng(5).random((3, 12)) > 0.5).astype(np.float32)
    maps, mask = t.roi_targets(lm, labels, spec)
    assert maps.shape == mask.shape == (3, 64, 64, 12)
    points = t.to_map_coords(t.roi_points_tf(lm, spec), 256, 64)
    windows = t.roi_window_masks(points, 64)
    assert windows.shape == (3, 64, 64, 24)
    np.testing.assert_array_equal(tf.reduce_sum(windows, [1, 2]).numpy(), 49.0)
    for m in (windows, mask):
        score = t.decode_roi(maps, m).numpy()
        np.testing.assert_array_equal(score > 0, labels > 0)


def test_decode_roi_rule_hand_example():
    pred = np.zeros((1, 4, 4, 1), np.float32)
    pred[0, 0, 0, 0], pred[0, 0, 1, 0] = -3.0, 1.0  # window A mean -1
    pred[0, 3, 3, 0] = 0.5  # window B mean 0.5
    win = np.zeros((1, 4, 4, 2), np.float32)
    win[0, 0, 0:2, 0] = 1.0
    win[0, 3, 3, 1] = 1.0
    assert t.decode_roi(pred, win).numpy()[0, 0] == pytest.approx(0.5)  # max of window means
    merged = win.max(-1, keepdims=True)
    assert t.decode_roi(pred, merged).numpy()[0, 0] == pytest.approx(-1.5 / 3)  # union mean
    empty_b = win.copy()
    empty_b[..., 1] = 0
    assert t.decode_roi(pred, empty_b).numpy()[0, 0] == pytest.approx(-1.0)  # skip empty window
    assert t.decode_roi(pred, np.zeros_like(win)).numpy()[0, 0] == 0.0
    with pytest.raises(ValueError, match="mask"):
        t.decode_roi(pred, np.zeros((1, 4, 4, 3), np.float32))


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="window"):
        t.roi_maps(np.zeros((2, 2)), np.zeros((1,)), 8, window=6)
    with pytest.raises(ValueError, match="points must hold 2 centres"):
        t.roi_maps(np.zeros((3, 2)), np.zeros((1,)), 8)
    with pytest.raises(ValueError, match="landmarks"):
        t.heatmap_points_tf(np.zeros((49, 2)), g.heatmap_spec("bp4d_intensity"))
    with pytest.raises(ValueError, match="amplitude"):
        t.gaussian_heatmaps(np.zeros((2, 3, 2)), np.zeros((3,)), 8)
    with pytest.raises(ValueError, match="sigma"):
        t.gaussian_heatmaps(np.zeros((3, 2)), np.zeros((3,)), 8, sigma=0)


# ------------------------------------------------------------------------- graph / data


def test_inside_tf_data_map_and_xla():
    spec, roi = g.heatmap_spec("bp4d_intensity"), g.roi_spec([6, 10, 12, 14])
    lm = _faces(6, 4)
    labels = np.random.default_rng(7).integers(0, 6, (4, 5)).astype(np.float32)
    occ = (labels[:, :4] >= 2).astype(np.float32)

    def per_example(landmarks, intensity, occurrence):  # small maps keep XLA compiles quick
        flipped = t.flip_landmarks_tf(landmarks)
        maps, mask = t.roi_targets(flipped, occurrence, roi, map_size=16)
        return t.heatmap_targets(landmarks, intensity, spec, map_size=16, sigma=1.0), maps, mask

    ds = tf.data.Dataset.from_tensor_slices((lm, labels, occ)).map(per_example).batch(4)
    heat, maps, mask = next(iter(ds))
    want_heat, want_maps, want_mask = per_example(lm, labels, occ)  # batched, eager
    np.testing.assert_allclose(heat, want_heat, atol=1e-6)
    np.testing.assert_allclose(maps, want_maps, atol=1e-6)
    np.testing.assert_array_equal(mask, want_mask)

    @tf.function(jit_compile=True)
    def compiled(landmarks, intensity, occurrence):
        h, m, k = per_example(landmarks, intensity, occurrence)
        return (t.decode_heatmaps(h, spec.point_au, spec.n_aus), t.decode_roi(m, k))

    intensity, score = compiled(tf.constant(lm), tf.constant(labels), tf.constant(occ))
    np.testing.assert_allclose(intensity, labels, atol=1e-5)
    np.testing.assert_array_equal(score.numpy() > 0, occ > 0)
