"""TensorFlow target ops: AU heatmap / ROI points, Gaussian intensity heatmaps, ROI maps, decoding.

Decoding (``decode_heatmaps``, ``decode_roi``, ``roi_window_masks``) is ``tfau.decoding``'s
keras.ops code, the one the models use, called on TF tensors here.

Every op works on any number of leading (batch) dimensions, including none, so the same call
serves a per-example ``tf.data`` map and a batched model; all are plain TF ops with static
shapes (``tf.function(jit_compile=True)`` compiles them).

Coordinate conventions (see ``tfau.geometry``): pixel centres at integer coordinates. A point
``x`` of an ``S``-pixel image lies at ``(x + 0.5) * m / S - 0.5`` on an ``m``-pixel map
(``to_map_coords``), i.e. map pixel ``u`` covers image pixels ``[u * S/m, (u + 1) * S/m)``. The
official SCC code uses ``x * m / S``; the two differ by 3/8 of a map pixel at S/m = 4, less than
the rounding of the centres and a fifth of sigma = 2.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

import numpy as np

from tfau import decoding, geometry, require_tensorflow

tf = require_tensorflow("tfau.targets (TF target ops)")  # clear error without TF (issue 15)

MapSize = Union[int, Sequence[int]]


def _hw(map_size: MapSize, name: str = "map_size") -> Tuple[int, int]:
    if isinstance(map_size, (int, np.integer)):
        h = w = int(map_size)
    else:
        try:
            h, w = (int(v) for v in map_size)
        except (TypeError, ValueError):
            raise ValueError(
                f"{name} must be an int or (height, width), got {map_size!r}") from None
    if h <= 0 or w <= 0:
        raise ValueError(f"{name} must be positive, got {map_size!r}")
    return h, w


def _check_points(points, name: str, n: Optional[int] = None) -> tf.Tensor:
    points = tf.convert_to_tensor(points, tf.float32)
    if points.shape.rank is None or points.shape.rank < 2 or points.shape[-1] != 2:
        raise ValueError(f"{name} must have shape [..., N, 2], got {points.shape}")
    if n is not None and points.shape[-2] is not None and points.shape[-2] != n:
        raise ValueError(f"{name} must have {n} points on axis -2, got {points.shape}")
    return points


def inner_eye_distance_tf(landmarks) -> tf.Tensor:
    """``s = |x39 - x42|``: ``[..., 68, 2]`` -> ``[...]``."""
    lm = _check_points(landmarks, "landmarks", geometry.N_LANDMARKS)
    return tf.abs(lm[..., 39, 0] - lm[..., 42, 0])


def landmark_points_tf(landmarks, weights, offsets) -> tf.Tensor:
    """``weights @ landmarks + offsets * s``: ``[..., 68, 2]`` -> ``[..., P, 2]``."""
    lm = _check_points(landmarks, "landmarks", geometry.N_LANDMARKS)
    w = tf.constant(np.asarray(weights, np.float32))
    o = tf.constant(np.asarray(offsets, np.float32))
    s = inner_eye_distance_tf(lm)[..., None, None]
    return tf.einsum("pk,...kc->...pc", w, lm) + o * s


def heatmap_points_tf(landmarks, spec: geometry.HeatmapSpec) -> tf.Tensor:
    """AU heatmap centres ``[..., P, 2]`` (TF version of ``geometry.heatmap_points``)."""
    return landmark_points_tf(landmarks, spec.weights, spec.offsets)


def roi_points_tf(landmarks, spec: geometry.RoiSpec) -> tf.Tensor:
    """ROI centres ``[..., 2A, 2]`` (TF version of ``geometry.roi_points``)."""
    return landmark_points_tf(landmarks, spec.weights, spec.offsets)


def flip_landmarks_tf(landmarks, width: float = geometry.TEMPLATE_SIZE) -> tf.Tensor:
    """Landmarks of the horizontally flipped image: ``x -> (width - 1) - x``, then permuted by
    ``geometry.FLIP_PERMUTATION`` so every index keeps its meaning. Recompute AU points from the
    result (never flip AU points or maps without ``spec.point_flip``)."""
    lm = _check_points(landmarks, "landmarks", geometry.N_LANDMARKS)
    flipped = tf.stack([(float(width) - 1.0) - lm[..., 0], lm[..., 1]], axis=-1)
    return tf.gather(flipped, geometry.FLIP_PERMUTATION, axis=-2)


def to_map_coords(points, image_size: MapSize, map_size: MapSize):
    """Image pixels -> map pixels, pixel-centre aligned: ``(x + 0.5) * m / S - 0.5``.

    Works on NumPy arrays and tensors ``[..., 2]`` (x, y). Also rescales landmarks between two
    image sizes (e.g. ``TEMPLATE_68`` from 256 to 224)."""
    ih, iw = _hw(image_size, "image_size")
    mh, mw = _hw(map_size, "map_size")
    if isinstance(points, (tf.Tensor, tf.Variable)):
        scale = tf.constant([mw / iw, mh / ih], points.dtype)
    else:
        points = np.asarray(points, np.float32)
        scale = np.array([mw / iw, mh / ih], np.float32)
    return (points + 0.5) * scale - 0.5


def _round_half_up(x):
    return tf.floor(x + 0.5)


def _axis_profiles(centres, size: int, sigma: float, window: Optional[int] = None):
    """Per-point 1-D Gaussian profiles over one map axis: ``[..., P]`` -> ``[..., P, size]``,
    zero where the centre is not finite (and outside ``window`` if given)."""
    finite = tf.math.is_finite(centres)
    c = tf.where(finite, centres, tf.zeros_like(centres))[..., None]
    grid = tf.range(size, dtype=tf.float32)
    d = grid - c
    profile = tf.exp(-tf.square(d) / (2.0 * sigma * sigma))
    keep = finite[..., None]
    if window is not None:
        keep = tf.logical_and(keep, tf.abs(d) <= window // 2)
    return profile * tf.cast(keep, tf.float32), tf.cast(keep, tf.float32)


def gaussian_heatmaps(points, amplitude, map_size: MapSize, sigma: float = 2.0,
                      scale: float = 1.0, round_centres: bool = True) -> tf.Tensor:
    """Unnormalised Gaussian heatmaps, one channel per point, peak ``scale * amplitude``.

    ``map[..., y, x, p] = scale * amplitude[p] * exp(-((x - cx_p)^2 + (y - cy_p)^2) / (2 sigma^2))``
    over the whole map (not truncated to a window).

    Args:
      points: ``[..., P, 2]`` centres in map pixels (use ``to_map_coords``).
      amplitude: ``[..., P]`` (the AU intensity of each point's AU).
      map_size: int or (height, width).
      sigma: Gaussian standard deviation in map pixels (2 in SCC-Heatmap and G2RL).
      scale: constant peak factor. Default 1 so the peak equals the intensity and decoding is the
        map maximum. The paper's 1/(2 pi sigma^2) and the official code's 255 are other constant
        scales (``scale=255`` reproduces the code's targets); decode with the same scale.
      round_centres: round centres to the nearest pixel (half up) as the official code, so the
        peak lies exactly on a pixel and ``max`` decodes the intensity exactly.

    Returns:
      ``[..., h, w, P]`` float32. A point whose (rounded) centre lies outside the map, or with a
      NaN coordinate or amplitude, gives an all-zero channel (a clipped peak would decode to a
      wrong intensity).
    """
    h, w = _hw(map_size)
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    points = _check_points(points, "points")
    amplitude = tf.convert_to_tensor(amplitude, tf.float32)
    if amplitude.shape.rank is not None and amplitude.shape.rank != points.shape.rank - 1:
        raise ValueError(f"amplitude must have shape [..., P] matching points {points.shape}, "
                         f"got {amplitude.shape}")
    centres = _round_half_up(points) if round_centres else points
    cx, cy = centres[..., 0], centres[..., 1]
    inside = (cx >= -0.5) & (cx <= w - 0.5) & (cy >= -0.5) & (cy <= h - 0.5)
    valid = inside & tf.math.is_finite(amplitude)  # NaN compares False -> not inside
    gx, _ = _axis_profiles(cx, w, sigma)
    gy, _ = _axis_profiles(cy, h, sigma)
    amp = tf.where(valid, amplitude, tf.zeros_like(amplitude)) * float(scale)
    return tf.einsum("...ph,...pw,...p->...hwp", gy, gx, amp)


def roi_window_masks(points, map_size: MapSize, window: int = 7) -> tf.Tensor:
    """1 inside each point's ``window x window`` square (rounded centre), 0 elsewhere.

    ``[..., 2A, 2]`` map-pixel centres -> ``[..., h, w, 2A]`` (one channel per window, in the
    order of ``RoiSpec``: channels ``2a``, ``2a + 1`` are AU ``a``'s windows). For
    ``decode_roi``'s per-window rule. ``tfau.decoding.window_masks`` on TF tensors."""
    h, w = _hw(map_size)
    points = _check_points(points, "points")
    return tf.convert_to_tensor(decoding.window_masks(points, (h, w), window))


def roi_maps(points, labels, map_size: MapSize, window: int = 7, sigma: float = 1.0,
             label_mask=None) -> Tuple[tf.Tensor, tf.Tensor]:
    """ROI-GCN targets: per AU two ``window x window`` Gaussian windows signed by the label.

    Inside a window centred on the rounded point ``c``: ``exp(-|x - c|^2 / (2 sigma^2))`` (peak
    exactly 1 at the centre; the HRNet face-alignment target), times +1 if ``label > 0`` else -1;
    0 outside both windows. Where the AU's two windows overlap the larger magnitude is kept (not
    the sum, so values stay in [-1, 1]). Windows are clipped at the map border; a NaN centre gives
    no window.

    Args:
      points: ``[..., 2A, 2]`` ROI centres in map pixels (``roi_points_tf`` + ``to_map_coords``).
      labels: ``[..., A]`` occurrence labels (> 0 means active).
      map_size: int or (height, width).
      window: odd window side (7 = 2 * 3 sigma + 1).
      sigma: Gaussian standard deviation in map pixels.
      label_mask: optional ``[..., A]``; where 0 (unknown label) the AU's map and mask are 0.

    Returns:
      ``(maps, mask)``, both ``[..., h, w, A]`` float32; mask is 1 inside the AU's windows.
    """
    h, w = _hw(map_size)
    if window <= 0 or window % 2 != 1:
        raise ValueError(f"window must be a positive odd integer, got {window}")
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    points = _check_points(points, "points")
    labels = tf.convert_to_tensor(labels, tf.float32)
    n_aus = labels.shape[-1]
    if n_aus is not None and points.shape[-2] is not None and points.shape[-2] != 2 * n_aus:
        raise ValueError(f"points must hold 2 centres per AU: {points.shape[-2]} points for "
                         f"labels with {n_aus} AUs")
    c = _round_half_up(points)
    gx, ix = _axis_profiles(c[..., 0], w, sigma, window)
    gy, iy = _axis_profiles(c[..., 1], h, sigma, window)
    values = tf.einsum("...ph,...pw->...phw", gy, gx)  # [..., 2A, h, w]
    inside = tf.einsum("...ph,...pw->...phw", iy, ix)
    lead = tf.shape(values)[:-3]
    shape = tf.concat([lead, [-1, 2, h, w]], axis=0)
    values = tf.reduce_max(tf.reshape(values, shape), axis=-3)  # [..., A, h, w]
    inside = tf.reduce_max(tf.reshape(inside, shape), axis=-3)
    sign = tf.where(labels > 0, 1.0, -1.0)
    keep = tf.ones_like(labels) if label_mask is None else tf.cast(
        tf.convert_to_tensor(label_mask, tf.float32) > 0, tf.float32)
    values = values * (sign * keep)[..., None, None]
    inside = inside * keep[..., None, None]
    rank = values.shape.rank
    perm = list(range(rank - 3)) + [rank - 2, rank - 1, rank - 3]
    return tf.transpose(values, perm), tf.transpose(inside, perm)


points_to_aus_matrix = decoding.points_to_aus_matrix  # one implementation (tfau.decoding)


def expand_to_points(values, point_au) -> tf.Tensor:
    """Per-AU values ``[..., A]`` -> per-point ``[..., P]`` (e.g. labels as heatmap amplitudes,
    label_mask as a per-heatmap loss mask)."""
    return tf.gather(tf.convert_to_tensor(values, tf.float32),
                     np.asarray(point_au, np.int32), axis=-1)


def decode_heatmaps(maps, point_au, n_aus: int, scale: float = 1.0) -> tf.Tensor:
    """Intensity per AU: max of each map / ``scale``, averaged over the AU's points.

    ``[..., h, w, P]`` -> ``[..., A]``. Inverse of ``gaussian_heatmaps`` for in-map points.
    ``tfau.decoding.decode_heatmaps`` (the models' decoder) on TF tensors."""
    maps = tf.convert_to_tensor(maps, tf.float32)
    if maps.shape.rank is None:
        raise ValueError("maps must have shape [..., h, w, P], got unknown rank")
    return tf.convert_to_tensor(decoding.decode_heatmaps(maps, point_au, n_aus, scale))


def decode_roi(pred_maps, mask, reduce: str = "mean") -> tf.Tensor:
    """ROI-GCN decision score per AU; positive = active.

    Args:
      pred_maps: ``[..., h, w, A]`` predicted ROI maps.
      mask: either ``[..., h, w, 2A]`` per-window masks (``roi_window_masks``): score = max over
        the AU's two windows of the mean of ``pred`` inside the window (the paper's "active if
        the mean inside either window is > 0"); a window with no pixel on the map is skipped,
        and an AU with neither scores 0. Or ``[..., h, w, A]`` (``roi_maps``' mask, both windows
        merged): score = mean of ``pred`` over the merged mask (0 where the mask is empty).
      reduce: ``"mean"`` (the paper's rule) or ``"max"`` (its positive-only ablation).

    Returns:
      ``[..., A]`` scores (``tfau.decoding.decode_roi`` on TF tensors).
    """
    pred = tf.convert_to_tensor(pred_maps, tf.float32)
    mask = tf.convert_to_tensor(mask, tf.float32)
    if pred.shape.rank is None or mask.shape.rank is None:
        raise ValueError(f"pred_maps and mask must both be [..., h, w, C], got {pred.shape} "
                         f"and {mask.shape}")
    return tf.convert_to_tensor(decoding.decode_roi(pred, mask, reduce))


# ---------------------------------------------------------------------------------------------
# Convenience: landmarks + labels -> targets in one call (what tfau.data uses).


def heatmap_targets(landmarks, labels, spec: geometry.HeatmapSpec,
                    image_size: MapSize = geometry.TEMPLATE_SIZE,
                    map_size: Optional[MapSize] = None, sigma: float = 2.0, scale: float = 1.0,
                    round_centres: bool = True, label_mask=None) -> tf.Tensor:
    """Intensity heatmaps ``[..., h, w, P]`` from landmarks ``[..., 68, 2]`` (image pixels) and
    labels ``[..., A]``. ``map_size`` defaults to ``image_size // 4``. Where ``label_mask``
    (``[..., A]``) is 0 (e.g. BP4D's 9 = unknown) the AU's maps are 0; mask those channels in the
    loss with ``expand_to_points(label_mask, spec.point_au)``."""
    ih, iw = _hw(image_size, "image_size")
    map_hw = (ih // 4, iw // 4) if map_size is None else _hw(map_size)
    points = to_map_coords(heatmap_points_tf(landmarks, spec), (ih, iw), map_hw)
    labels = tf.convert_to_tensor(labels, tf.float32)
    if label_mask is not None:
        keep = tf.convert_to_tensor(label_mask, tf.float32) > 0
        labels = tf.where(keep, labels, tf.zeros_like(labels))
    amplitude = expand_to_points(labels, spec.point_au)
    return gaussian_heatmaps(points, amplitude, map_hw, sigma=sigma, scale=scale,
                             round_centres=round_centres)


def roi_targets(landmarks, labels, spec: geometry.RoiSpec,
                image_size: MapSize = geometry.TEMPLATE_SIZE, map_size: Optional[MapSize] = None,
                window: int = 7, sigma: float = 1.0,
                label_mask=None) -> Tuple[tf.Tensor, tf.Tensor]:
    """``(roi_maps, roi_mask)`` ``[..., h, w, A]`` from landmarks and occurrence labels."""
    ih, iw = _hw(image_size, "image_size")
    map_hw = (ih // 4, iw // 4) if map_size is None else _hw(map_size)
    points = to_map_coords(roi_points_tf(landmarks, spec), (ih, iw), map_hw)
    return roi_maps(points, labels, map_hw, window=window, sigma=sigma, label_mask=label_mask)
