"""tfau.plots: figures from results tables, overlays on frames (no model, no dlib)."""
import os

import numpy as np
import pandas as pd
import pytest

from tfau import detector, plots

pytest.importorskip("matplotlib")

NAMES = ["AU01", "AU06", "AU12"]


def _row(frame, face_id, values, x0=20.0, success=1):
    row = {"frame": frame, "face_id": face_id, "timestamp": (frame - 1) / 10, "success": success,
           "status": "ok" if success else "no_face"}
    if success:
        row.update({"confidence": 0.9, "detector_score": 1.1, "face_x": x0, "face_y": 20.0,
                    "face_width": 40.0, "face_height": 40.0})
        for i in range(68):
            row[f"x_{i}"] = x0 + 5 + (i % 10) * 3.0
            row[f"y_{i}"] = 25 + (i // 10) * 4.0
        row.update(detector.au_values(np.asarray(values), NAMES, "intensity", 1.0))
    return row


def _table():
    rows = [_row(f, 0, [f * 0.5, 1.0, 5 - f]) for f in (1, 2, 3)] + [_row(4, 0, None, success=0)]
    return detector._normalise(pd.DataFrame(rows), detector.columns(NAMES, "intensity"))


def _png_ok(path):
    import cv2

    img = cv2.imread(path)
    return img is not None and img.ndim == 3 and img.std() > 5


def test_au_names_and_task_from_a_table():
    df = _table()
    assert plots.au_names_of(df) == NAMES and plots.task_of(df) == "intensity"
    assert plots.au_names_of(df.iloc[0]) == NAMES


def test_figures_are_written_atomically(tmp_path):
    df = _table()
    ts = plots.save(plots.au_timeseries(df, title="clip"), str(tmp_path / "ts.png"))
    frame = np.full((100, 100, 3), 120, np.uint8)
    face = plots.save(plots.face_figure(frame, df.iloc[0]), str(tmp_path / "face.png"))
    results = {"icc": {"AU01": 0.5, "AU06": float("nan"), "AU12": 0.9, "avg": 0.7},
               "mae": {"AU01": 0.3, "AU06": 0.2, "AU12": 0.1, "avg": 0.2}}
    ev = plots.save(plots.evaluation_figure(results, NAMES, title="eval"),
                    str(tmp_path / "eval.png"))
    assert all(_png_ok(p) for p in (ts, face, ev))
    assert sorted(os.listdir(tmp_path)) == ["eval.png", "face.png", "ts.png"]  # no temporaries
    with pytest.raises(ValueError, match="icc, mae or f1"):
        plots.evaluation_figure({"n_frames": 3})


def test_channel_aus_maps_heatmap_points_to_aus():
    meta = {"au_names": ["AU01", "AU02", "AU04"], "protocol": "disfa_intensity"}
    assert plots.channel_aus(3, meta).tolist() == [0, 1, 2]
    full = {"au_names": [f"AU{a:02d}" for a in (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26)],
            "protocol": "disfa_intensity"}
    owner = plots.channel_aus(24, full)  # DISFA: 2 points per AU, AU4 1, AU9 3
    assert len(owner) == 24 and np.bincount(owner).tolist()[:6] == [2, 2, 1, 2, 2, 3]
    assert plots.channel_aus(7, full) is None


def test_annotate_frame_puts_heat_and_labels_on_the_face():
    frame = np.full((120, 160, 3), 100, np.uint8)
    row = _row(1, 0, [3.0, 0.0, 4.0], x0=60.0)
    maps = np.zeros((8, 8, 3), np.float32)
    maps[2, 2, 0] = 3.0  # AU01 high near the top left of the aligned face
    maps[6, 5, 2] = 4.0  # AU12 lower
    # the aligned 32 px face is the source square x 60..92, y 20..52 (scale 1, shift)
    transform = np.array([[1.0, 0.0, -60.0], [0.0, 1.0, -20.0]], np.float32)
    item = detector.FaceOutput(row, None, transform, maps)
    meta = {"au_names": NAMES, "protocol": "synthetic"}
    out = plots.annotate_frame(frame, [item], NAMES, "intensity", meta, aligned_size=32)
    assert out.shape == frame.shape and out.dtype == np.uint8
    diff = np.abs(out.astype(int) - frame.astype(int)).sum(-1)
    assert diff[20:52, 60:92].mean() > diff[80:, :40].mean() + 5  # heat + labels on the face
    assert diff[100:, :30].max() == 0  # far from the face, untouched
