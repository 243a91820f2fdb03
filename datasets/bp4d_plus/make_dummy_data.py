"""Writes datasets/bp4d_plus/dummy_data/: a tiny fake BP4D+ tree in the real (Binghamton) format.

Run from anywhere: ``python datasets/bp4d_plus/make_dummy_data.py``. Deterministic; reuses the
writers of ``datasets/bp4d/make_dummy_data.py`` (same label formulas, see there).

  F001 (fold1) T1: images 0000-0004, labels 1-4; T8: images/labels 1-3, 2DFeatures cell of
       frame 2 empty (-> re-detection).
  F041 (fold2) T7: labels 1-6 but images 1-4 (the real F041_T7 length mismatch: intersection).
  M002 (fold3) T6: images as an extracted 2D+3D/M002/T6/ folder, labels 1-3; frame 2 has AU
       12 and 24 coded 9 (masked).
AU_OCC files have BP4D+'s 34 AU columns (a different set and order of columns than BP4D's, so
columns must be found by header name).
"""
import pathlib
import shutil

from tfau_datasets.bp4d import make_dummy_data as bp4d_dummy

HERE = pathlib.Path(__file__).resolve().parent
BP4D_PLUS_OCC_COLUMNS = (1, 2, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 22, 23,
                         24, 25, 26, 27, 28, 32, 38, 39, 43, 45, 46, 53, 54, 55)
assert len(BP4D_PLUS_OCC_COLUMNS) == 34


def main() -> None:
    out = HERE / "dummy_data"
    if out.exists():
        shutil.rmtree(out)
    d = bp4d_dummy
    cols = BP4D_PLUS_OCC_COLUMNS
    d.write_binghamton_sequence(out, "F001", "T1", range(1, 5), cols,
                                landmark_cells=[d.bp4d49("F001", "T1", f) for f in range(0, 5)])
    d.write_binghamton_sequence(out, "F001", "T8", range(1, 4), cols,
                                landmark_cells=[None if f == 2 else d.bp4d49("F001", "T8", f)
                                                for f in range(1, 4)])
    d.write_zip(out / "2D+3D" / "F001.zip", "F001", {"T1": [0, 1, 2, 3, 4], "T8": [1, 2, 3]},
                "F001")
    d.write_binghamton_sequence(out, "F041", "T7", range(1, 7), cols,
                                landmark_cells=[d.bp4d49("F041", "T7", f) for f in range(1, 5)])
    d.write_zip(out / "2D+3D" / "F041.zip", "F041", {"T7": [1, 2, 3, 4]}, "F041")
    d.write_binghamton_sequence(out, "M002", "T6", range(1, 4), cols, occ_unknown={2: [12, 24]},
                                landmark_cells=[d.bp4d49("M002", "T6", f) for f in range(1, 4)])
    for f in range(1, 4):
        p = out / "2D+3D" / "M002" / "T6" / f"{f:04d}.jpg"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(d.jpeg("M002", "T6", f))
    print(f"wrote {out} ({d.size_of(out) / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
