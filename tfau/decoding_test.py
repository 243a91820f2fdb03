"""The one keras.ops decoder against the NumPy oracles (tfau.testing.oracles) and by hand."""
import numpy as np
import pytest

from tfau import decoding
from tfau.testing import oracles


def _np(x):
    return np.asarray(x)


def test_decode_heatmaps_matches_the_oracle():
    rng = np.random.default_rng(0)
    maps = rng.uniform(-1, 5, (3, 6, 5, 4)).astype(np.float32)
    point_au = [0, 1, 1, 2]
    for scale in (1.0, 255.0):
        np.testing.assert_allclose(_np(decoding.decode_heatmaps(maps, point_au, 3, scale)),
                                   oracles.decode_heatmaps(maps, point_au, 3, scale), rtol=1e-6)
    # no batch axis
    np.testing.assert_allclose(_np(decoding.decode_heatmaps(maps[0], point_au, 3)),
                               oracles.decode_heatmaps(maps[:1], point_au, 3)[0], rtol=1e-6)


def test_decode_heatmaps_rejects_bad_input():
    maps = np.zeros((1, 4, 4, 3), np.float32)
    with pytest.raises(ValueError, match="AU index"):
        decoding.decode_heatmaps(maps, [0, 0, 2], 3)  # AU 1 has no point
    with pytest.raises(ValueError, match="3 channels but point_au has 2"):
        decoding.decode_heatmaps(maps, [0, 1], 2)
    with pytest.raises(ValueError, match="point_au must index"):
        decoding.decode_heatmaps(maps, [0, 1, 5], 2)
    with pytest.raises(ValueError, match="scale must be > 0"):
        decoding.decode_heatmaps(maps, [0, 1, 1], 2, scale=0)


def test_window_masks_match_the_oracle_at_borders_halves_and_nan():
    centres = np.array([[[0.0, 0.0], [2.5, 3.49], [15.4, 7.0], [-4.0, 3.0], [np.nan, 2.0],
                         [20.0, 20.0]]], np.float32)  # corner, half-up, border, outside, NaN
    for window in (1, 3, 7):
        got = _np(decoding.window_masks(centres, 16, window))
        np.testing.assert_array_equal(got, oracles.window_masks(centres, 16, window))
    got = _np(decoding.window_masks(centres, 16, 3))
    assert got[0, :, :, 1].sum() == 9 and got[0, 3, 3, 1] == 1  # 2.5 -> 3, 3.49 -> 3
    assert got[0, :, :, 0].sum() == 4  # clipped to the 2x2 corner
    assert got[0, :, :, 4].sum() == 0 and got[0, :, :, 5].sum() == 0
    with pytest.raises(ValueError, match="odd"):
        decoding.window_masks(centres, 16, 4)
    with pytest.raises(ValueError, match=r"\[\.\.\., Q, 2\]"):
        decoding.window_masks(centres[..., :1], 16)


@pytest.mark.parametrize("reduce", ["mean", "max"])
def test_decode_roi_matches_the_oracle(reduce):
    rng = np.random.default_rng(1)
    pred = rng.normal(0, 1, (2, 8, 8, 3)).astype(np.float32)
    centres = rng.uniform(-3, 10, (2, 6, 2)).astype(np.float32)
    centres[0, 2] = np.nan  # AU 1 of sample 0 keeps one window
    centres[1, 4:6] = 50.0  # AU 2 of sample 1 has none: score 0
    windows = oracles.window_masks(centres, 8, 3)
    got = _np(decoding.decode_roi(pred, windows, reduce))
    np.testing.assert_allclose(got, oracles.decode_roi(pred, windows, reduce), rtol=1e-5,
                               atol=1e-6)
    assert got[1, 2] == 0.0
    merged = np.maximum(windows[..., 0::2], windows[..., 1::2])
    np.testing.assert_allclose(_np(decoding.decode_roi(pred, merged, reduce)),
                               oracles.decode_roi(pred, merged, reduce), rtol=1e-5, atol=1e-6)


def test_decode_roi_rejects_bad_input():
    pred = np.zeros((1, 4, 4, 2), np.float32)
    with pytest.raises(ValueError, match="A=2 or 2A=4"):
        decoding.decode_roi(pred, np.zeros((1, 4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="reduce"):
        decoding.decode_roi(pred, np.zeros((1, 4, 4, 4), np.float32), reduce="median")


def test_the_models_decoders_agree_with_it():
    # HeatmapDecoder calls decode_heatmaps; RoiDecoder.scores (roi_gcn.py) still holds its own
    # keras.ops copy of decode_roi (owned by the model file): they must not drift.
    from tfau.models import HeatmapDecoder, RoiDecoder

    rng = np.random.default_rng(2)
    maps = rng.uniform(0, 5, (2, 8, 8, 4)).astype(np.float32)
    np.testing.assert_allclose(_np(HeatmapDecoder([0, 1, 1, 2], 3, scale=2.0)(maps)),
                               _np(decoding.decode_heatmaps(maps, [0, 1, 1, 2], 3, 2.0)),
                               rtol=1e-6)
    pred = rng.normal(0, 1, (2, 8, 8, 2)).astype(np.float32)
    windows = oracles.window_masks(rng.uniform(0, 8, (2, 4, 2)), 8, 3)
    for reduce in ("mean", "max"):
        layer = RoiDecoder([1, 2], 32, reduce=reduce)
        np.testing.assert_allclose(_np(layer.scores(pred, windows)),
                                   _np(decoding.decode_roi(pred, windows, reduce)), rtol=1e-5,
                                   atol=1e-6)
