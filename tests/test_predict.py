"""`tfau predict` on a real photo, a face-less image, an unreadable file, a folder and a video."""
import csv
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from tfau import cli, detector, export, face

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
    shutil.copy(paths["bad"], os.path.join(paths["folder"], "broken.jpg"))
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
    assert columns == (["frame", "face_id", "timestamp", "confidence", "success", "status",
                        "detector_score", "face_x", "face_y", "face_width", "face_height"]
                       + [f"x_{i}" for i in range(68)] + [f"y_{i}" for i in range(68)]
                       + [f"{a}_r" for a in AU_NAMES] + [f"{a}_c" for a in AU_NAMES])
    assert len(rows) == 1
    row = rows[0]
    assert row["frame"] == "1" and row["face_id"] == "0" and row["success"] == "1"
    assert row["status"] == "ok"
    assert 0.9 < float(row["confidence"]) <= 1.0  # a clear frontal face
    result = face.FaceAligner().align(astronaut).faces[0]
    aligned = result.image
    # box and landmarks in source pixels (the astronaut's face is near x 175-266, y 76-167)
    assert float(row["face_x"]) == pytest.approx(result.box[0], abs=0.01)
    assert float(row["face_width"]) == pytest.approx(result.box[2] - result.box[0], abs=0.01)
    lm = np.array([[float(row[f"x_{i}"]), float(row[f"y_{i}"])] for i in range(68)])
    np.testing.assert_allclose(lm, result.source_landmarks, atol=0.01)
    assert 150 < lm[:, 0].mean() < 280 and 60 < lm[:, 1].mean() < 200
    expected = np.clip(export.load(tiny_saved_model).predict(aligned)["au"], 0, 5)
    got = np.array([float(row[f"{a}_r"]) for a in AU_NAMES])
    np.testing.assert_allclose(got, expected, atol=1.5e-3)
    assert [row[f"{a}_c"] for a in AU_NAMES] == ["1" if v >= 1.0 else "0" for v in got]
    # one annotated frame at the source size, coloured by the heatmaps inside the face box only
    img = cv2.imread(os.path.join(out, "astronaut_overlay.png"))[..., ::-1]
    assert img.shape == astronaut.shape
    changed = np.abs(img.astype(int) - astronaut.astype(int)).sum(-1) > 30
    assert changed[100:160, 190:250].mean() > 0.3  # heat over the face
    assert changed[400:, :100].mean() < 0.01  # nothing far from it


def test_image_without_face_gives_success_0(predicted):
    out, _ = predicted
    _, rows = _read_csv(os.path.join(out, "wall.csv"))
    assert len(rows) == 1
    assert rows[0]["success"] == "0" and rows[0]["confidence"] == ""
    assert rows[0]["status"] == "no_face"
    assert all(rows[0][f"{a}_r"] == "" and rows[0][f"{a}_c"] == "" for a in AU_NAMES)
    assert rows[0]["x_0"] == "" and rows[0]["face_x"] == ""


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
    assert [(r["frame"], r["file"], r["success"], r["status"]) for r in rows] == [
        ("1", "broken.jpg", "0", "unreadable"), ("2", "img2.png", "0", "no_face"),
        ("3", "img10.png", "1", "ok")]


def test_unreadable_file_in_a_folder_is_in_the_summary(inputs, tiny_saved_model, tmp_path,
                                                       capsys):
    paths, _ = inputs
    code = cli.main(["predict", paths["folder"], "--model", tiny_saved_model, "--output",
                     str(tmp_path), "--no_progress"])
    out = capsys.readouterr().out
    assert code == 1  # as when the file is given alone
    assert "1 unreadable file(s)/frame(s)" in out
    assert "unreadable: " + os.path.join(paths["folder"], "broken.jpg") in out


def test_video_frames_and_timestamps(predicted):
    out, _ = predicted
    _, rows = _read_csv(os.path.join(out, "clip.csv"))
    assert [r["frame"] for r in rows] == ["1", "2", "3"]
    assert [r["timestamp"] for r in rows] == ["0.000", "0.100", "0.200"]
    assert [r["success"] for r in rows] == ["1", "0", "1"]
    assert [r["face_id"] for r in rows] == ["0", "0", "0"]  # one track across the gap
    # --overlay: one annotated video for the video (not one PNG per face per frame)
    assert not os.path.exists(os.path.join(out, "clip_overlay"))
    video = [f for f in os.listdir(out) if f.startswith("clip_overlay")]
    assert len(video) == 1 and video[0].endswith((".mp4", ".avi")), video
    cap = cv2.VideoCapture(os.path.join(out, video[0]))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 3
    cap.release()
    assert not [f for f in os.listdir(out) if ".part-" in f]  # no temporary left behind
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
            "0 unreadable file(s)/frame(s), 1 failed input(s)") in proc.stdout
    assert "broken.jpg" in proc.stdout
    # quiet by default: none of TensorFlow's start-up lines (cuInit, cudart_stub, absl banner)
    for noise in ("cuInit", "cudart_stub", "absl::InitializeLog", "cpu_feature_guard"):
        assert noise not in proc.stderr, proc.stderr[-2000:]
    _, rows = _read_csv(tmp_path / "astronaut.csv")
    assert rows[0]["success"] == "1"


def test_csv_columns_for_occurrence_models():
    cols = detector.columns(["AU01", "AU02"], "occurrence", folder=False)
    assert cols[-4:] == ["AU01_c", "AU02_c", "AU01_p", "AU02_p"]
    fields = detector.au_values(np.array([0.7, 0.2]), ["AU01", "AU02"], "occurrence", 1.0)
    assert fields == {"AU01_c": 1.0, "AU02_c": 0.0, "AU01_p": pytest.approx(0.7),
                      "AU02_p": pytest.approx(0.2)}
    assert detector.format_value("AU01_p", 0.7) == "0.7000"
    fields = detector.au_values(np.array([1.0, 0.99, 6.2]), ["AU01", "AU02", "AU04"],
                                "intensity", 1.0)
    assert detector.format_value("AU04_r", fields["AU04_r"]) == "5.000"
    assert fields["AU01_c"] == 1.0 and fields["AU02_c"] == 0.0


def test_confidence_is_a_monotone_0_1_scale():
    scores = [-2.0, 0.0, 0.12, 0.3, 0.5, 1.0, 3.0]
    conf = [detector.confidence_of(s) for s in scores]
    assert all(0.0 < c < 1.0 for c in conf) and conf == sorted(conf)
    assert detector.confidence_of(0.5) == pytest.approx(0.5)
    assert detector.confidence_of(0.12) < 0.25 < 0.9 < detector.confidence_of(1.2)


def test_iou_tracker_keeps_ids_across_frames():
    tr = detector.IouTracker(min_iou=0.3, max_age=2)
    a, b = (0, 0, 10, 10), (50, 50, 60, 60)
    assert tr.update([a, b]) == [0, 1]
    assert tr.update([(51, 50, 61, 60), (1, 0, 11, 10)]) == [1, 0]  # order by size/rank differs
    assert tr.update([]) == []
    assert tr.update([(2, 0, 12, 10)]) == [0]  # one frame missing: same track
    assert tr.update([(200, 200, 210, 210)]) == [2]  # a new face: a new id, never reused
    tr.update([])
    tr.update([])
    assert tr.update([(2, 0, 12, 10)]) == [3]  # track 0 expired after max_age frames


def test_detector_on_arrays_matches_the_csv(inputs, predicted, tiny_saved_model):
    import tfau

    paths, astronaut = inputs
    out, _ = predicted
    det = tfau.Detector(tiny_saved_model)
    df = det.detect(astronaut)  # in memory, no file
    back = tfau.read_results(os.path.join(out, "astronaut.csv"))
    assert list(df.columns) == list(back.columns) == det.columns()
    assert df.dtypes.equals(back.dtypes)
    assert len(df) == 1 and df.loc[0, "success"] == 1 and df.loc[0, "status"] == "ok"
    np.testing.assert_allclose(df[[f"{a}_r" for a in AU_NAMES]].to_numpy(),
                               back[[f"{a}_r" for a in AU_NAMES]].to_numpy(), atol=1e-3)
    np.testing.assert_allclose(df[["x_30", "y_30", "face_x"]].to_numpy(),
                               back[["x_30", "y_30", "face_x"]].to_numpy(), atol=0.01)
    # a batch and a list of inputs
    batch = det.detect(np.stack([astronaut, np.zeros_like(astronaut)]))
    assert batch["frame"].tolist() == [1, 2] and batch["status"].tolist() == ["ok", "no_face"]
    many = det.detect([paths["astronaut"], astronaut])
    assert many["input"].tolist() == [paths["astronaut"], "array[1]"]
    np.testing.assert_allclose(many.loc[0, "AU12_r"], many.loc[1, "AU12_r"], atol=1e-3)


def test_detector_video_tracks_and_every(inputs, tiny_saved_model):
    paths, _ = inputs
    det = detector.Detector(tiny_saved_model)
    df = det.detect(paths["video"], every=2)
    assert df["frame"].tolist() == [1, 3]
    assert df["timestamp"].tolist() == pytest.approx([0.0, 0.2])
    assert df["face_id"].tolist() == [0, 0]  # frame 2 (no face) between them is not analysed


def test_detector_threshold_drops_weak_faces(inputs, tiny_saved_model):
    _, astronaut = inputs
    strict = detector.Detector(tiny_saved_model, threshold=3.0).detect(astronaut)
    assert strict["success"].tolist() == [0] and strict["status"].tolist() == ["no_face"]
    with pytest.raises(ValueError, match="threshold"):
        detector.Detector(tiny_saved_model, threshold=float("nan"))


def test_read_results_rejects_other_csvs(tmp_path):
    bad = tmp_path / "other.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="other.csv"):
        detector.read_results(str(bad))
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        detector.read_results(str(tmp_path / "missing.csv"))


def test_plot_option_and_plot_command(inputs, tiny_saved_model, tmp_path, capsys):
    paths, _ = inputs
    out = tmp_path / "out"
    code = cli.main(["predict", paths["astronaut"], paths["video"], "--model", tiny_saved_model,
                     "--output", str(out), "--plot", "--no_progress"])
    assert code == 0
    files = sorted(os.listdir(out))
    assert files == ["astronaut.csv", "astronaut_face.png", "clip.csv", "clip_timeseries.png"]
    for f in ("astronaut_face.png", "clip_timeseries.png"):
        img = cv2.imread(str(out / f))
        assert img is not None and img.std() > 5
    # `tfau plot`: the time series of a CSV, and the per-face figure with the source image
    assert cli.main(["plot", str(out / "clip.csv"), "--output", str(tmp_path / "ts.png")]) == 0
    assert cli.main(["plot", str(out / "astronaut.csv"), "--input", paths["astronaut"],
                     "--output", str(tmp_path / "face.png")]) == 0
    assert cv2.imread(str(tmp_path / "face.png")).std() > 5
    with pytest.raises(SystemExit, match="no face in frame 9"):
        cli.main(["plot", str(out / "astronaut.csv"), "--input", paths["astronaut"], "--frame",
                  "9", "--output", str(tmp_path / "x.png")])


def test_synthetic_trained_model_says_so_once(inputs, tiny_saved_model, tmp_path, capsys):
    paths, _ = inputs
    predictor = export.load(tiny_saved_model)
    assert not detector.is_synthetic(predictor.metadata)  # trained on "test"
    predictor.metadata = {**predictor.metadata, "trained_on": "synthetic_au/disfa_intensity",
                          "trained_on_synthetic": True}
    code = cli.main(["predict", paths["astronaut"], paths["noface"], "--model", tiny_saved_model,
                     "--output", str(tmp_path / "real"), "--no_progress"])
    assert code == 0 and "pipeline" not in capsys.readouterr().err
    stats = cli.predict_inputs([paths["astronaut"], paths["noface"]], predictor,
                               str(tmp_path / "synthetic"), progress=False)
    err = capsys.readouterr().err
    assert stats.ok and err.count("synthetic_au's rendered faces") == 1
    assert "not a validated AU detector" in err
    # older exports without trained_on_synthetic: the dataset field decides
    assert detector.is_synthetic({"dataset": "synthetic_au"})
    assert not detector.is_synthetic({"dataset": "disfa"})
