"""NumPy oracles: the decoding rules written loop by loop, as the papers state them, for tests
of the one ``keras.ops`` implementation (``tfau.decoding``) and of everything that uses it.

Slow on purpose (Python loops over samples, channels and pixels): only for small test arrays.
"""
from __future__ import annotations

import numpy as np


def decode_heatmaps(maps, point_au, n_aus, scale=1.0):
    """``[B, h, w, P]`` -> ``[B, A]``: per AU, the mean over its points of ``max(map) / scale``."""
    maps = np.asarray(maps, np.float64)
    point_au = [int(a) for a in np.asarray(point_au).reshape(-1)]
    out = np.zeros((maps.shape[0], n_aus))
    for b in range(maps.shape[0]):
        for a in range(n_aus):
            peaks = [maps[b, :, :, p].max() / scale for p in range(len(point_au))
                     if point_au[p] == a]
            out[b, a] = sum(peaks) / len(peaks)
    return out


def window_masks(centres, map_size, window=7):
    """``[B, Q, 2]`` map-pixel centres -> ``[B, h, w, Q]``: 1 where both ``|u - round(cx)|`` and
    ``|v - round(cy)|`` are at most ``window // 2`` (round half up; no window for NaN)."""
    centres = np.asarray(centres, np.float64)
    h = w = int(map_size)
    out = np.zeros((centres.shape[0], h, w, centres.shape[1]), np.float32)
    for b in range(centres.shape[0]):
        for q in range(centres.shape[1]):
            cx, cy = centres[b, q]
            if not (np.isfinite(cx) and np.isfinite(cy)):
                continue
            cx, cy = np.floor(cx + 0.5), np.floor(cy + 0.5)
            for v in range(h):
                for u in range(w):
                    if abs(u - cx) <= window // 2 and abs(v - cy) <= window // 2:
                        out[b, v, u, q] = 1.0
    return out


def decode_roi(pred, mask, reduce="mean"):
    """ROI-GCN's decision: per AU, the best over its windows (``mask`` channels ``2a``, ``2a+1``;
    or one merged channel ``a``) of the mean (or max) of ``pred`` inside; empty windows are
    skipped and an AU without any scores 0."""
    pred = np.asarray(pred, np.float64)
    mask = np.asarray(mask, np.float64)
    n_aus = pred.shape[-1]
    per_au = mask.shape[-1] // n_aus
    out = np.zeros((pred.shape[0], n_aus))
    for b in range(pred.shape[0]):
        for a in range(n_aus):
            scores = []
            for k in range(per_au):
                inside = pred[b, :, :, a][mask[b, :, :, per_au * a + k] > 0]
                if inside.size:
                    scores.append(inside.mean() if reduce == "mean" else inside.max())
            out[b, a] = max(scores) if scores else 0.0
    return out
