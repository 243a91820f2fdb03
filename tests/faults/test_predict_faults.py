"""Faults against `tfau predict` and `tfau.Detector` (issue 17 items 2, 3, 6, 7 and the one-line
errors of issue 16): each case ends in a clear error naming the file or argument, a flagged row,
or a complete result; no run leaves a truncated file under a final name."""
import errno
import os
import signal

import cv2
import numpy as np
import pytest

from tfau import cli, detector, face

skimage_data = pytest.importorskip("skimage.data")


def _write_video(path, frames, size=64, fps=10.0):
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), fps, (size, size))
    assert writer.isOpened()
    for f in frames:
        writer.write(np.ascontiguousarray(f[..., ::-1]))
    writer.release()


def _damage_mjpeg_frame(path, index):
    """Overwrites the JPEG start of frame ``index`` (0-based) of an MJPG AVI."""
    data = bytearray(open(path, "rb").read())
    starts = [i for i in range(len(data) - 3) if data[i:i + 3] == b"\xff\xd8\xff"]
    end = starts[index + 1] if index + 1 < len(starts) else len(data)
    n = end - starts[index] - 16  # the whole JPEG (not the next chunk's header)
    data[starts[index]:starts[index] + n] = b"\0" * n
    with open(path, "wb") as f:
        f.write(bytes(data))


def test_video_reading_skips_a_damaged_frame_and_reads_on(tmp_path):
    path = str(tmp_path / "clip.avi")
    _write_video(path, [np.full((64, 64, 3), 8 * i, np.uint8) for i in range(30)])
    _damage_mjpeg_frame(path, 14)  # frame 15 (1-based)
    total, frames = detector.iter_frames(path, "video")
    frames = list(frames)
    assert total == 30 and [f.number for f in frames] == list(range(1, 31))
    bad = [f.number for f in frames if f.status == "bad_frame"]
    assert bad == [15] and frames[14].image is None
    # frames after the damaged one are the right ones (grey level 8 * index)
    assert [int(f.image[0, 0, 0]) for f in frames[15:18]] == pytest.approx([120, 128, 136],
                                                                            abs=3)
    # every N frames, with the damaged one among them
    _, picked = detector.iter_frames(path, "video", every=7)
    assert [(f.number, f.status) for f in picked] == [(1, "ok"), (8, "ok"), (15, "bad_frame"),
                                                       (22, "ok"), (29, "ok")]


def test_damaged_video_frame_is_a_flagged_row_and_counted(tmp_path, tiny_saved_model, capsys):
    astronaut = skimage_data.astronaut()
    path = str(tmp_path / "clip.avi")
    _write_video(path, [astronaut] * 4, size=512)
    _damage_mjpeg_frame(path, 1)
    out = str(tmp_path / "out")
    code = cli.main(["predict", path, "--model", tiny_saved_model, "--output", out,
                     "--no_progress"])
    text = capsys.readouterr().out
    df = detector.read_results(os.path.join(out, "clip.csv"))
    assert df["frame"].tolist() == [1, 2, 3, 4]
    assert df["status"].tolist() == ["ok", "bad_frame", "ok", "ok"]
    assert "1 unreadable file(s)/frame(s)" in text and f"bad_frame: {path} frame 2" in text
    assert code == 1


def test_multi_frame_gif_warns(tmp_path):
    from PIL import Image

    path = str(tmp_path / "anim.gif")
    frames = [Image.fromarray(np.full((64, 64, 3), c, np.uint8)) for c in (10, 200, 90)]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    seen = []
    total, it = detector.iter_frames(path, "image", warn=seen.append)
    assert total == 1 and len(list(it)) == 1
    assert len(seen) == 1 and "3 frames" in seen[0] and "anim.gif" in seen[0]
    single = str(tmp_path / "one.gif")
    frames[0].save(single)
    seen.clear()
    list(detector.iter_frames(single, "image", warn=seen.append)[1])
    assert seen == []


@pytest.fixture
def three_images(tmp_path):
    astronaut = skimage_data.astronaut()
    paths = []
    for name in ("a.png", "b.png", "c.png"):
        p = str(tmp_path / name)
        cv2.imwrite(p, astronaut[..., ::-1])
        paths.append(p)
    return paths


def test_an_output_name_that_is_a_folder_fails_only_that_input(three_images, tiny_saved_model,
                                                               tmp_path, capsys):
    out = tmp_path / "out"
    (out / "b.csv").mkdir(parents=True)
    code = cli.main(["predict", *three_images, "--model", tiny_saved_model, "--output",
                     str(out), "--no_progress"])
    text = capsys.readouterr().out
    assert code == 1
    assert "summary: 3 input(s), 2 CSV(s)" in text and "failed: " + three_images[1] in text
    assert sorted(os.listdir(out)) == ["a.csv", "b.csv", "c.csv"]  # b.csv: the folder, intact
    assert os.path.isdir(out / "b.csv") and not os.listdir(out / "b.csv")


def test_a_full_disk_leaves_no_truncated_csv(three_images, tiny_saved_model, tmp_path,
                                             monkeypatch, capsys):
    real = detector.format_value
    calls = {"n": 0}

    def failing(column, value):
        calls["n"] += 1
        if calls["n"] == 200:  # inside the second input's row (171 columns a row)
            raise OSError(errno.ENOSPC, "No space left on device", "b.csv")
        return real(column, value)

    monkeypatch.setattr(detector, "format_value", failing)
    out = tmp_path / "out"
    code = cli.main(["predict", *three_images, "--model", tiny_saved_model, "--output",
                     str(out), "--no_progress"])
    text = capsys.readouterr().out
    assert code == 1 and "No space left on device" in text
    assert sorted(os.listdir(out)) == ["a.csv", "c.csv"]  # no b.csv, no temporary file


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_interrupt_prints_the_summary_and_leaves_no_partial_csv(tmp_path, tiny_saved_model,
                                                                monkeypatch, capsys, how):
    astronaut = skimage_data.astronaut()
    folder = tmp_path / "seq"
    folder.mkdir()
    for i in range(4):
        cv2.imwrite(str(folder / f"{i}.png"), astronaut[..., ::-1])
    single = str(tmp_path / "first.png")
    cv2.imwrite(single, astronaut[..., ::-1])
    real = face.FaceAligner.align
    calls = {"n": 0}

    def align(self, image, source="image"):
        calls["n"] += 1
        if calls["n"] == 3:  # the second frame of the folder
            if how == "sigterm":
                os.kill(os.getpid(), signal.SIGTERM)
            else:
                raise KeyboardInterrupt
        return real(self, image, source)

    monkeypatch.setattr(face.FaceAligner, "align", align)
    out = tmp_path / "out"
    code = cli.main(["predict", single, str(folder), "--model", tiny_saved_model, "--output",
                     str(out), "--no_progress"])
    text = capsys.readouterr().out
    assert code == 130
    assert "summary: 2 input(s), 1 CSV(s)" in text
    assert ("SIGTERM" if how == "sigterm" else "Ctrl-C") in text
    assert sorted(os.listdir(out)) == ["first.csv"]  # seq.csv never half-written
    assert signal.getsignal(signal.SIGTERM) is not None


def test_overlay_write_failure_is_reported(three_images, tiny_saved_model, tmp_path, capsys):
    out = tmp_path / "out"
    blocker = out / "a_overlay.png"
    blocker.mkdir(parents=True)
    (blocker / "keep").write_text("x")
    code = cli.main(["predict", three_images[0], "--model", tiny_saved_model, "--output",
                     str(out), "--overlay", "--no_progress"])
    text = capsys.readouterr().out
    assert code == 1
    assert "overlay not written" in text and "a_overlay.png" in text
    assert (blocker / "keep").read_text() == "x"
    assert sorted(os.listdir(out)) == ["a.csv", "a_overlay.png"]  # no temporary left


@pytest.mark.parametrize("argv, names", [
    (["predict", "x.png", "--model", "/no/such/model", "--output", "o"], "--model"),
    (["predict", "x.png", "--model", "m", "--output", "o", "--every", "0"], "--every"),
    (["predict", "x.png", "--model", "m", "--output", "o", "--batch_size", "two"],
     "--batch_size"),
    (["predict", "x.png", "--model", "m", "--output", "o", "--presence_threshold", "nan"],
     "--presence_threshold"),
    (["evaluate", "--model", "m", "--config", "c", "--split", "s", "--max_examples", "-3"],
     "--max_examples"),
])
def test_bad_arguments_give_one_line(argv, names, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    try:
        code = cli.main(argv)
    except SystemExit as e:  # argparse
        code = e.code
    err = capsys.readouterr().err
    assert code == 2
    assert names in err and "Traceback" not in err
    assert len([ln for ln in err.splitlines() if "error" in ln]) == 1


def test_a_non_model_folder_is_one_line(tmp_path, capsys):
    (tmp_path / "m").mkdir()
    img = str(tmp_path / "x.png")
    cv2.imwrite(img, np.zeros((40, 40, 3), np.uint8))
    code = cli.main(["predict", img, "--model", str(tmp_path / "m"), "--output",
                     str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "--model" in err and "neither a SavedModel" in err
    assert "Traceback" not in err
