"""Writes datasets/bp4d/dummy_data/{binghamton,fera}/: tiny fake BP4D trees in the real formats.

Run from anywhere: ``python datasets/bp4d/make_dummy_data.py``. Deterministic. The writers here
are reused by ``datasets/bp4d_plus/make_dummy_data.py``.

binghamton/ (2D+3D zips, MATLAB v7.3 2DFeatures, AUCoding/AU_OCC + AU_INT):
  F001 (fold1, FERA train) T1: images 0000-0005, labels 1-5; 2DFeatures cell of frame 3 empty
       (-> re-detection); occurrence frame 4 AU1/AU2 = 9 (masked); frame 5 every AU = 9 and
       intensity frame 5 every AU = 9 (-> frame skipped); intensity frame 2 AU14 = 9.
  F001 T2: images 0001-0003, labels 1-3; 2DFeatures has 4 cells for 3 images (count mismatch:
       landmarks not trusted, all re-detected).
  F003 (fold2, train) T1: images 0001-0004 in a zip whose top folder is BP4D/F003, labels 1-4.
  F004 (fold3, devel) T1: images 0001-0004, labels 1-5 (frame 5 has no image: intersection).
fera/ (BP4D-training/<subject>/<task>/<frame>.jpg, AUCoding/*.csv, 'AU Intensity Codes3.0'):
  F002 (fold1, devel) T1 and F007 (fold3, train) T3: images and labels 1-3; no fold2 subject.
Label formulas (s = subject number, e.g. 1 for F001; f = frame; a = AU number):
  occurrence (f + a + s) % 3 == 0 -> 1 else 0;  intensity (f + a + 2 s) % 6.
"""
import pathlib
import shutil
import zipfile
from typing import Dict, Iterable, List, Optional, Sequence

import cv2
import h5py
import numpy as np

from tfau import aus, geometry
from tfau_datasets import testing

HERE = pathlib.Path(__file__).resolve().parent
SIZE = (150, 200)  # (width, height): BP4D frames are portrait
# Columns of BP4D's AUCoding/AU_OCC files (frame column "0" first).
BP4D_OCC_COLUMNS = (1, 2, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 22, 23, 24,
                    27, 28, 32, 38, 39)


def occurrence(subject: str, au: int, frame: int) -> int:
    return int((frame + au + int(subject[1:])) % 3 == 0)


def intensity(subject: str, au: int, frame: int) -> int:
    return (frame + au + 2 * int(subject[1:])) % 6


def landmarks(subject: str, task: str, frame: int) -> np.ndarray:
    seed = 7919 * (int(subject[1:]) + (500 if subject[0] == "M" else 0)) + 97 * int(task[1:])
    return testing.dummy_face_landmarks(SIZE, seed=seed + frame)


def jpeg(subject: str, task: str, frame: int) -> bytes:
    rgb = testing.draw_dummy_face(SIZE, landmarks(subject, task, frame))
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, 60])
    assert ok
    return data.tobytes()


def write_v73_cells(path: pathlib.Path, cells: Sequence[Optional[np.ndarray]]) -> None:
    """A MATLAB v7.3 file holding struct ``fit`` with cell array ``pred`` (N x 1) of 49 x 2
    matrices, as MATLAB writes it: 512-byte MAT header userblock, matrices stored transposed in
    ``#refs#``, empty cells as uint64 [0 0] dims with ``MATLAB_empty``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w", userblock_size=512, libver="earliest") as h5:
        refs_group = h5.create_group("#refs#")
        fit = h5.create_group("fit")
        fit.attrs["MATLAB_class"] = np.bytes_("struct")
        refs = np.empty((1, len(cells)), dtype=h5py.ref_dtype)
        for i, cell in enumerate(cells):
            if cell is None:
                ds = refs_group.create_dataset(f"c{i}", data=np.array([0, 0], np.uint64))
                ds.attrs["MATLAB_class"] = np.bytes_("double")
                ds.attrs["MATLAB_empty"] = np.uint8(1)
            else:
                ds = refs_group.create_dataset(f"c{i}", data=np.asarray(cell, np.float64).T)
                ds.attrs["MATLAB_class"] = np.bytes_("double")
            refs[0, i] = ds.ref
        pred = fit.create_dataset("pred", data=refs)
        pred.attrs["MATLAB_class"] = np.bytes_("cell")
    header = (b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 "
              b"HDF5 schema 1.00 .")
    header = header.ljust(116, b" ") + b"\0" * 8 + b"\x00\x02IM"
    with open(path, "r+b") as f:
        f.write(header.ljust(512, b"\0"))


def bp4d49(subject: str, task: str, frame: int) -> np.ndarray:
    return landmarks(subject, task, frame)[geometry.BP4D49_TO_68]


def occurrence_csv(subject: str, frames: Iterable[int], columns: Sequence[int],
                   unknown: Dict[int, Iterable[int]]) -> str:
    """Header ``0,<AU>,...`` then one row per frame; ``unknown[frame]`` = AUs coded 9."""
    rows = [",".join(["0"] + [str(c) for c in columns])]
    for f in frames:
        nines = set(unknown.get(f, ()))
        rows.append(",".join([str(f)] + [str(9 if c in nines else occurrence(subject, c, f))
                                         for c in columns]))
    return "\n".join(rows) + "\n"


def intensity_csv(subject: str, au: int, frames: Iterable[int], unknown: Iterable[int]) -> str:
    unknown = set(unknown)
    return "".join(f"{f},{9 if f in unknown else intensity(subject, au, f)}\n" for f in frames)


def write_zip(path: pathlib.Path, top: str, tasks: Dict[str, List[int]], subject: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    def entry(name):  # fixed timestamps: the archive is byte-for-byte reproducible
        return zipfile.ZipInfo(name, date_time=(2013, 1, 1, 0, 0, 0))

    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(entry(f"{top}/"), b"")
        for task, frames in tasks.items():
            zf.writestr(entry(f"{top}/{task}/"), b"")
            for f in frames:
                zf.writestr(entry(f"{top}/{task}/{f:04d}.jpg"), jpeg(subject, task, f))


def write_binghamton_sequence(root: pathlib.Path, subject: str, task: str, label_frames,
                              occ_columns: Sequence[int], occ_unknown=None, int_aus=(),
                              int_unknown=None, landmark_cells=None) -> None:
    """Labels (AU_OCC and, for ``int_aus``, AU_INT) and the 2DFeatures file of one sequence."""
    occ = root / "AUCoding" / "AU_OCC" / f"{subject}_{task}.csv"
    occ.parent.mkdir(parents=True, exist_ok=True)
    occ.write_text(occurrence_csv(subject, label_frames, occ_columns, occ_unknown or {}))
    for au in int_aus:
        name = f"AU{au:02d}"
        p = root / "AUCoding" / "AU_INT" / name / f"{subject}_{task}_{name}.csv"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(intensity_csv(subject, au, label_frames, (int_unknown or {}).get(au, ())))
    if landmark_cells is not None:
        write_v73_cells(root / "2DFeatures" / f"{subject}_{task}.mat", landmark_cells)


def make_binghamton(root: pathlib.Path) -> None:
    int_aus = aus.BP4D_INTENSITY_AUS
    all_nine = {a: [5] for a in int_aus}
    # F001 T1
    cells = [None if f == 3 else bp4d49("F001", "T1", f) for f in range(0, 6)]
    write_binghamton_sequence(
        root, "F001", "T1", range(1, 6), BP4D_OCC_COLUMNS,
        occ_unknown={4: [1, 2], 5: BP4D_OCC_COLUMNS}, int_aus=int_aus,
        int_unknown={**all_nine, 14: [2, 5]}, landmark_cells=cells)
    # F001 T2: 4 cells for 3 images
    write_binghamton_sequence(root, "F001", "T2", range(1, 4), BP4D_OCC_COLUMNS, int_aus=int_aus,
                              landmark_cells=[bp4d49("F001", "T2", f) for f in range(1, 5)])
    write_zip(root / "2D+3D" / "F001.zip", "F001", {"T1": list(range(0, 6)), "T2": [1, 2, 3]},
              "F001")
    # F003 T1
    write_binghamton_sequence(root, "F003", "T1", range(1, 5), BP4D_OCC_COLUMNS, int_aus=int_aus,
                              landmark_cells=[bp4d49("F003", "T1", f) for f in range(1, 5)])
    write_zip(root / "2D+3D" / "F003.zip", "BP4D/F003", {"T1": [1, 2, 3, 4]}, "F003")
    # F004 T1: label frame 5 without image
    write_binghamton_sequence(root, "F004", "T1", range(1, 6), BP4D_OCC_COLUMNS, int_aus=int_aus,
                              landmark_cells=[bp4d49("F004", "T1", f) for f in range(1, 5)])
    write_zip(root / "2D+3D" / "F004.zip", "F004", {"T1": [1, 2, 3, 4]}, "F004")


def make_fera(root: pathlib.Path) -> None:
    for subject, task in (("F002", "T1"), ("F007", "T3")):
        frames = [1, 2, 3]
        for f in frames:
            p = root / "BP4D-training" / subject / task / f"{f:04d}.jpg"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(jpeg(subject, task, f))
        occ = root / "AUCoding" / f"{subject}_{task}.csv"
        occ.parent.mkdir(parents=True, exist_ok=True)
        occ.write_text(occurrence_csv(subject, frames, BP4D_OCC_COLUMNS, {}))
        for au in aus.BP4D_INTENSITY_AUS:
            p = root / "AU Intensity Codes3.0" / f"AU{au:02d}" / f"{subject}_{task}_AU{au:02d}.csv"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(intensity_csv(subject, au, frames, ()))


def size_of(path: pathlib.Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    out = HERE / "dummy_data"
    if out.exists():
        shutil.rmtree(out)
    make_binghamton(out / "binghamton")
    make_fera(out / "fera")
    print(f"wrote {out} ({size_of(out) / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
