"""`tfau predict` on a real photo, a face-less image, an unreadable file, a folder and a video."""
import csv
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from tfau import cli, export, face

skimage_data = pytest.importorskip("skimage.data")

AU_NAMES = ["AU01", "AU02", "AU04", "AU05", "AU06", "AU09", "AU12", "AU15", "AU17", "AU20",
            "AU25", "AU26"]


def _read_csv(path):
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("inputs")
    astronaut = skimage_data.astronaut()  # RGB uint8, 512x512, one face
    paths = {"astronaut": str(root / "astronaut.png"), "noface": str(root / "wall.png"),
             "bad": str(root / "broken.jpg"), "folder": str(root / "seq"),
             "video": str(root / "clip.avi")}
    cv2.imwrite(paths["astronaut"], astronaut[..., ::-1])
    wall = np.tile(np.linspace(40, 220, 200, dtype=np.uint8)[None, :, None], (160, 1, 3))
    cv2.imwrite(paths["noface"], wall)
    with open(paths["bad"], "wb") as f:
        f.write(b"this is not a JPEG")
    os.makedirs(paths["folder"])
    shutil.copy(paths["astronaut"], os.path.join(paths["folder"], "img10.png"))
    shutil.copy(paths["noface"], os.path.join(paths["folder"], "img2.png"))
    writer = cv2.VideoWriter(paths["video"], cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (512, 512))
    assert writer.isOpened()
    for frame in (astronaut, np.zeros_like(astronaut), astronaut):
        writer.write(np.ascontiguousarray(frame[..., ::-1]))
    writer.release()
    return paths, astronaut


@pytest.fixture(scope="module")
def predicted(inputs, tiny_saved_model, tmp_path_factory):
    paths, _ = inputs
    out = str(tmp_path_factory.mktemp("pred"))
    order = [paths[k] for k in ("astronaut", "noface", "bad", "folder", "video")]
    code = cli.main(["predict", *order, "--model", tiny_saved_model, "--output", out,
                     "--batch_size", "2", "--overlay", "--no_progress"])
    return out, code


def test_astronaut_row_matches_the_model(inputs, predicted, tiny_saved_model):
    paths, astronaut = inputs
    out, _ = predicted
    columns, rows = _read_csv(os.path.join(out, "astronaut.csv"))
    assert columns == (["frame", "face_id", "timestamp", "confidence", "success"]
                       + [f"{a}_r" for a in AU_NAMES] + [f"{a}_c" for a in AU_NAMES])
    assert len(rows) == 1
    row = rows[0]
    assert row["frame"] == "1" and row["face_id"] == "0" and row["success"] == "1"
    assert float(row["confidence"]) > 0.3
    aligned = face.FaceAligner().align(astronaut).faces[0].image
    expected = np.clip(export.load(tiny_saved_model).predict(aligned)["au"], 0, 5)
    got = np.array([float(row[f"{a}_r"]) for a in AU_NAMES])
    np.testing.assert_allclose(got, expected, atol=1.5e-3)
    assert [row[f"{a}_c"] for a in AU_NAMES] == ["1" if v >= 1.0 else "0" for v in got]
    overlays = os.listdir(os.path.join(out, "astronaut_overlay"))
    assert overlays == ["frame000001_face0.png"]
    img = cv2.imread(os.path.join(out, "astronaut_overlay", overlays[0]))
    assert img.shape == (256, 256, 3)


def test_image_without_face_gives_success_0(predicted):
    out, _ = predicted
    _, rows = _read_csv(os.path.join(out, "wall.csv"))
    assert len(rows) == 1
    assert rows[0]["success"] == "0" and rows[0]["confidence"] == "0"
    assert all(rows[0][f"{a}_r"] == "" and rows[0][f"{a}_c"] == "" for a in AU_NAMES)


def test_unreadable_input_is_skipped_and_reported(predicted, capsys):
    out, code = predicted
    assert code == 1  # one input failed
    assert not os.path.exists(os.path.join(out, "broken.csv"))
    assert sorted(f for f in os.listdir(out) if f.endswith(".csv")) == [
        "astronaut.csv", "clip.csv", "seq.csv", "wall.csv"]


def test_folder_is_one_sequence_in_natural_order(predicted):
    out, _ = predicted
    columns, rows = _read_csv(os.path.join(out, "seq.csv"))
    assert columns[:2] == ["frame", "file"]
    assert [(r["frame"], r["file"], r["success"]) for r in rows] == [
        ("1", "img2.png", "0"), ("2", "img10.png", "1")]


def test_video_frames_and_timestamps(predicted):
    out, _ = predicted
    _, rows = _read_csv(os.path.join(out, "clip.csv"))
    assert [r["frame"] for r in rows] == ["1", "2", "3"]
    assert [r["timestamp"] for r in rows] == ["0.000", "0.100", "0.200"]
    assert [r["success"] for r in rows] == ["1", "0", "1"]
    # the same face in frames 1 and 3 (MJPG is lossy, so only close)
    a = np.array([float(rows[0][f"{n}_r"]) for n in AU_NAMES])
    b = np.array([float(rows[2][f"{n}_r"]) for n in AU_NAMES])
    np.testing.assert_allclose(a, b, atol=0.05)


def test_console_script_summary(inputs, tiny_saved_model, tmp_path):
    paths, _ = inputs
    exe = shutil.which("tfau")
    cmd = [exe] if exe else [sys.executable, "-m", "tfau.cli"]
    proc = subprocess.run(cmd + ["predict", paths["astronaut"], paths["bad"], "--model",
                                 tiny_saved_model, "--output", str(tmp_path)],
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert ("summary: 2 input(s), 1 CSV(s), 1 frame(s), 1 face(s), 0 frame(s) without a face, "
            "1 failed input(s)") in proc.stdout
    assert "broken.jpg" in proc.stdout
    _, rows = _read_csv(tmp_path / "astronaut.csv")
    assert rows[0]["success"] == "1"


def test_csv_columns_for_occurrence_models():
    cols = cli.csv_columns(["AU01", "AU02"], "occurrence", folder=False)
    assert cols[5:] == ["AU01_c", "AU02_c", "AU01_p", "AU02_p"]
    fields = cli.au_fields(np.array([0.7, 0.2]), ["AU01", "AU02"], "occurrence", 1.0)
    assert fields == {"AU01_c": "1", "AU02_c": "0", "AU01_p": "0.7000", "AU02_p": "0.2000"}
    fields = cli.au_fields(np.array([1.0, 0.99, 6.2]), ["AU01", "AU02", "AU04"], "intensity", 1.0)
    assert fields["AU04_r"] == "5.000" and fields["AU01_c"] == "1" and fields["AU02_c"] == "0"
