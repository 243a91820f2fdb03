"""Decoding maps to per-AU values, once, in ``keras.ops`` (any Keras backend).

- :func:`decode_heatmaps`: intensity heatmaps ``[..., h, w, P]`` -> ``[..., A]``: the maximum of
  each map divided by the target peak factor, averaged over each AU's points (SCC-Heatmap,
  "Heatmap Regression": "the highest value of h_i(x; w, b) is taken as the predicted AU
  intensity"; G2RL decodes "the maximum values of the produced heatmaps"). Inverse of
  ``tfau.targets.gaussian_heatmaps`` for points on the map.
- :func:`window_masks`: ``window x window`` squares around rounded map-pixel centres, one channel
  per centre (ROI-GCN section 4.1: "Each ROI has a size of 7 x 7").
- :func:`decode_roi`: ROI maps ``[..., h, w, A]`` -> a decision score per AU: the maximum over
  the AU's two windows of the mean (or the maximum) of the predicted values inside the window
  (ROI-GCN section 3.5: "the positive criteria of each AU becomes to check mean(M . R_c^pred) >
  0 from either of two ROIs"; "max/mean(R_c^pred)" is the rule it replaces).

``tfau.targets`` (the TF target code the pipeline uses) calls these; the models' decoders are
the same formulas. ``tfau.testing.oracles`` holds loop-by-loop NumPy versions the tests compare
with. Pure ``keras.ops`` and NumPy: importing this module does not need TensorFlow.
"""
from __future__ import annotations

import numpy as np
from keras import ops

REDUCTIONS = ("mean", "max")


def points_to_aus_matrix(point_au, n_aus: int) -> np.ndarray:
    """``[P, A]`` averaging matrix: column ``a`` is ``1 / count`` on AU ``a``'s points."""
    point_au = np.asarray(point_au, np.int64).reshape(-1)
    n_aus = int(n_aus)
    if point_au.size == 0 or point_au.min() < 0 or point_au.max() >= n_aus:
        raise ValueError(f"point_au must index 0..{n_aus - 1}, got {point_au.tolist()}")
    m = np.zeros((point_au.size, n_aus), np.float32)
    m[np.arange(point_au.size), point_au] = 1.0
    counts = m.sum(axis=0)
    if (counts == 0).any():
        raise ValueError(f"point_au: AU index(es) {np.nonzero(counts == 0)[0].tolist()} "
                         "have no point")
    return m / counts


def decode_heatmaps(maps, point_au, n_aus: int, scale: float = 1.0):
    """Intensity per AU: max of each map / ``scale``, averaged over the AU's points.

    ``maps`` ``[..., h, w, P]`` (any leading dimensions, at least one map axis pair) ->
    ``[..., A]`` float32. ``scale`` is the targets' peak factor for intensity 1."""
    average = points_to_aus_matrix(point_au, n_aus)
    if len(maps.shape) < 3:
        raise ValueError(f"maps must have shape [..., h, w, P], got {tuple(maps.shape)}")
    if maps.shape[-1] is not None and maps.shape[-1] != average.shape[0]:
        raise ValueError(f"maps has {maps.shape[-1]} channels but point_au has "
                         f"{average.shape[0]}")
    if not float(scale) > 0:
        raise ValueError(f"scale must be > 0, got {scale!r}")
    peaks = ops.max(ops.cast(maps, "float32"), axis=(-3, -2)) / float(scale)
    return ops.matmul(peaks, ops.convert_to_tensor(average, "float32"))


def window_masks(centres, map_size, window: int = 7):
    """1 inside each centre's ``window x window`` square, 0 elsewhere.

    ``centres`` ``[..., Q, 2]`` (x, y) in map pixels (``tfau.targets.to_map_coords``), rounded
    half up here; ``map_size`` an int or ``(h, w)`` -> ``[..., h, w, Q]`` float32. Squares are
    clipped at the border; a centre with a non-finite coordinate has no window."""
    if isinstance(map_size, (int, np.integer)):
        h = w = int(map_size)
    else:
        h, w = (int(v) for v in map_size)
    if h <= 0 or w <= 0:
        raise ValueError(f"map_size must be positive, got {map_size!r}")
    if int(window) <= 0 or int(window) % 2 != 1:
        raise ValueError(f"window must be a positive odd integer, got {window!r}")
    if len(centres.shape) < 2 or centres.shape[-1] != 2:
        raise ValueError(f"centres must have shape [..., Q, 2], got {tuple(centres.shape)}")
    centres = ops.cast(centres, "float32")
    finite = ops.isfinite(centres)
    c = ops.floor(ops.where(finite, centres, ops.zeros_like(centres)) + 0.5)
    half = float(int(window) // 2)

    def axis(k, size):  # [..., Q, size]
        grid = ops.arange(size, dtype="float32")
        inside = ops.abs(grid - c[..., k:k + 1]) <= half
        return ops.cast(ops.logical_and(inside, finite[..., k:k + 1]), "float32")

    ix, iy = axis(0, w), axis(1, h)
    masks = ops.expand_dims(iy, -1) * ops.expand_dims(ix, -2)  # [..., Q, h, w]
    return ops.moveaxis(masks, -3, -1)


def decode_roi(pred_maps, mask, reduce: str = "mean"):
    """ROI decision score per AU; positive = active.

    Args:
      pred_maps: ``[..., h, w, A]`` predicted ROI maps.
      mask: ``[..., h, w, 2A]`` per-window masks (:func:`window_masks`; channels ``2a`` and
        ``2a + 1`` are AU ``a``'s windows): score = the maximum over the AU's two windows of the
        ``reduce`` of ``pred`` inside the window; a window with no pixel on the map is skipped,
        an AU with neither scores 0. Or ``[..., h, w, A]`` (both windows merged, the mask of
        ``tfau.targets.roi_maps``): the ``reduce`` over the merged mask (0 where it is empty).
      reduce: ``"mean"`` (the paper's rule) or ``"max"`` (its positive-only ablation).

    Returns:
      ``[..., A]`` float32 scores.
    """
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce must be one of {REDUCTIONS}, got {reduce!r}")
    n_aus, n_mask = pred_maps.shape[-1], mask.shape[-1]
    if len(pred_maps.shape) < 3 or len(mask.shape) != len(pred_maps.shape):
        raise ValueError(f"pred_maps and mask must both be [..., h, w, C], got "
                         f"{tuple(pred_maps.shape)} and {tuple(mask.shape)}")
    if n_mask not in (n_aus, 2 * n_aus):
        raise ValueError(f"mask must have A={n_aus} or 2A={2 * n_aus} channels, got {n_mask}")
    pred = ops.cast(pred_maps, "float32")
    mask = ops.cast(mask, "float32")
    if n_mask == 2 * n_aus:
        pred = ops.repeat(pred, 2, axis=-1)  # channels 2a and 2a + 1 <- AU a
    count = ops.sum(mask, axis=(-3, -2))
    if reduce == "max":
        values = ops.max(ops.where(mask > 0, pred, -np.inf), axis=(-3, -2))
    else:
        values = ops.sum(pred * mask, axis=(-3, -2)) / ops.maximum(count, 1.0)
    values = ops.where(count > 0, values, -np.inf)
    if n_mask == 2 * n_aus:
        values = ops.maximum(values[..., 0::2], values[..., 1::2])
    return ops.where(ops.isinf(values), ops.zeros_like(values), values)
