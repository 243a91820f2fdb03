"""NumPy twins of ``tfau.targets.heatmap_targets`` / ``roi_targets`` for test batches without
TensorFlow (issue 15: the model tests run on Keras's JAX and PyTorch backends in a virtual
environment that has no TensorFlow).

Same formulas as ``tfau.targets`` (pixel-centre map coordinates, centres rounded half up, peak =
intensity for heatmaps; signed 7x7 Gaussian windows, max over an AU's two windows for ROI maps);
``tests/backends/numpy_targets_test.py`` checks both give equal arrays where TensorFlow is present.
Only the paths the test harness uses are here (default sigma/scale/window, 4x down-sampled maps).
"""
from __future__ import annotations

import numpy as np

from tfau import geometry


def _map_points(points, image_size: int):
    """Image pixels -> map pixels (``tfau.targets.to_map_coords``), rounded half up."""
    m = image_size // 4
    pts = (np.asarray(points, np.float32) + 0.5) * np.float32(m / image_size) - 0.5
    return np.floor(pts + 0.5), m


def _profiles(centres, size: int, sigma: float, window=None):
    """``[..., P]`` -> Gaussian profile and 0/1 support ``[..., P, size]``."""
    finite = np.isfinite(centres)
    d = np.arange(size, dtype=np.float32) - np.where(finite, centres, 0.0)[..., None]
    keep = np.broadcast_to(finite[..., None], d.shape)
    if window is not None:
        keep = keep & (np.abs(d) <= window // 2)
    keep = keep.astype(np.float32)
    return np.exp(-np.square(d) / (2.0 * sigma * sigma)) * keep, keep


def heatmap_targets(landmarks, labels, spec: geometry.HeatmapSpec, image_size: int,
                    sigma: float = 2.0):
    """``[B, S/4, S/4, P]`` float32: one Gaussian per AU point, peak = the AU's intensity."""
    c, m = _map_points(geometry.heatmap_points(landmarks, spec), image_size)
    amp = np.asarray(labels, np.float32)[..., spec.point_au]
    inside = (c[..., 0] >= -0.5) & (c[..., 0] <= m - 0.5) & (c[..., 1] >= -0.5) & (c[..., 1] <= m - 0.5)
    amp = np.where(inside & np.isfinite(amp), amp, 0.0).astype(np.float32)
    gx, _ = _profiles(c[..., 0], m, sigma)
    gy, _ = _profiles(c[..., 1], m, sigma)
    return np.einsum("...ph,...pw,...p->...hwp", gy, gx, amp).astype(np.float32)


def roi_targets(landmarks, labels, spec: geometry.RoiSpec, image_size: int, window: int = 7,
                sigma: float = 1.0):
    """``(roi_maps, roi_mask)``, both ``[B, S/4, S/4, A]`` float32 (ROI-GCN's signed windows)."""
    c, m = _map_points(geometry.roi_points(landmarks, spec), image_size)
    gx, ix = _profiles(c[..., 0], m, sigma, window)
    gy, iy = _profiles(c[..., 1], m, sigma, window)
    values = np.einsum("...ph,...pw->...phw", gy, gx)
    inside = np.einsum("...ph,...pw->...phw", iy, ix)
    lead = values.shape[:-3]
    values = values.reshape(lead + (-1, 2, m, m)).max(axis=-3)
    inside = inside.reshape(lead + (-1, 2, m, m)).max(axis=-3)
    sign = np.where(np.asarray(labels) > 0, 1.0, -1.0).astype(np.float32)
    values = values * sign[..., None, None]
    return (np.moveaxis(values, -3, -1).astype(np.float32),
            np.moveaxis(inside, -3, -1).astype(np.float32))
