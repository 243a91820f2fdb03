"""Writes datasets/disfa/dummy_data/: a tiny fake DISFA tree in the real formats.

Run from anywhere: ``python datasets/disfa/make_dummy_data.py``. Deterministic.

Subjects SN001 (fold1), SN011 (fold2), SN003 (fold3); 192 x 144 MJPG .avi videos of a cartoon
face drawn on landmarks (a moved TEMPLATE_68), left and right camera. Quirks, as in real copies:
  * file-name spellings: LeftVideoSN001_comp.avi, leftvideoSN011_Comp.AVI, RightVideoSN001_Comp.avi
  * SN001: landmark file SN001_0002_lm.mat missing (label frame 3 -> re-detection)
  * SN011: landmark files spelled l0NNNN_lm.mat plus an extra l00005_lm.mat; the video has 6
    frames for 5 label lines; label files with CRLF line ends and a trailing blank line
  * SN003: empty 'pts' in SN003_0001_lm.mat (label frame 2 -> re-detection); the video has 4
    frames for 5 label lines (frame 5 dropped: intersection)
Label value of AU number index k (in DISFA_INTENSITY_AUS order) at 1-based frame f of subject
index s (SN001=0, SN011=1, SN003=2): (f - 1 + k + 2 s) % 6; except SN001 AU1 = 0, 1, 2, 3, 5.
"""
import pathlib
import shutil

import cv2
import numpy as np
import scipy.io

from tfau import aus, geometry
from tfau_datasets import testing

OUT = pathlib.Path(__file__).resolve().parent / "dummy_data"
SIZE = (192, 144)
SUBJECTS = {  # subject: (index, video frames, label frames)
    "SN001": (0, 5, 5),
    "SN011": (1, 6, 5),
    "SN003": (2, 4, 5),
}
VIDEO_NAMES = {
    "SN001": ("LeftVideoSN001_comp.avi", "RightVideoSN001_Comp.avi"),
    "SN011": ("leftvideoSN011_Comp.AVI", "RightVideoSN011_comp.avi"),
    "SN003": ("LeftVideoSN003_comp.avi", "RightVideoSN003_Comp.avi"),
}


def label_value(subject: str, au: int, frame: int) -> int:
    s = SUBJECTS[subject][0]
    if subject == "SN001" and au == 1:
        return (0, 1, 2, 3, 5)[frame - 1]
    k = aus.DISFA_INTENSITY_AUS.index(au)
    return (frame - 1 + k + 2 * s) % 6


def landmarks(subject: str, camera: int, index: int) -> np.ndarray:
    return testing.dummy_face_landmarks(SIZE, seed=1000 * SUBJECTS[subject][0] + 100 * camera + index)


def write_video(path: pathlib.Path, subject: str, camera: int, n: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 20.0, SIZE)
    for i in range(n):
        rgb = testing.draw_dummy_face(SIZE, landmarks(subject, camera, i))
        writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    writer.release()
    cap = cv2.VideoCapture(str(path))
    count = 0
    while cap.read()[0]:
        count += 1
    assert count == n, (path, count, n)


def main() -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    for subject, (s, n_video, n_labels) in SUBJECTS.items():
        left, right = VIDEO_NAMES[subject]
        write_video(OUT / "Videos_LeftCamera" / left, subject, 0, n_video)
        write_video(OUT / "Video_RightCamera" / right, subject, 1, n_video)
        label_dir = OUT / "ActionUnit_Labels" / subject
        label_dir.mkdir(parents=True)
        newline = "\r\n" if subject == "SN011" else "\n"
        for au in aus.DISFA_INTENSITY_AUS:
            lines = [f"{f},{label_value(subject, au, f)}" for f in range(1, n_labels + 1)]
            text = newline.join(lines) + newline + (newline if subject == "SN011" else "")
            (label_dir / f"{subject}_au{au}.txt").write_bytes(text.encode())
        lm_dir = OUT / "Landmark_Points" / subject / "tmp_frame_lm"
        lm_dir.mkdir(parents=True)
        n_files = n_video if subject == "SN011" else n_labels
        for i in range(n_files):
            if subject == "SN001" and i == 2:
                continue  # missing file
            name = f"l0{i:04d}_lm.mat" if subject == "SN011" else f"{subject}_{i:04d}_lm.mat"
            pts = geometry.to_68(landmarks(subject, 0, i), "dlib68")[geometry.DISFA66_TO_68]
            if subject == "SN003" and i == 1:
                pts = np.zeros((0, 0))
            scipy.io.savemat(str(lm_dir / name), {"pts": pts.astype(np.float64)})
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {OUT} ({total / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
