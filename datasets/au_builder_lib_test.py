"""Unit tests of the shared DISFA/BP4D/BP4D+ builder pieces: parsers, targets, finders, readers."""
import numpy as np
import pytest
import scipy.io

from tfau import aus
from tfau_datasets import au_builder_lib as lib
from tfau_datasets.bp4d import bp4d_common
from tfau_datasets.disfa import disfa_dataset_builder as disfa
from tfau_datasets.bp4d import make_dummy_data as bp4d_dummy


def test_parse_frame_values(tmp_path):
    p = tmp_path / "SN001_au1.txt"
    p.write_bytes(b"\xef\xbb\xbf1,0\r\n2, 3\r\n3,5.0\r\n\r\n")
    assert lib.parse_frame_values(p, range(6)) == {1: 0, 2: 3, 3: 5}
    for text, line, what in [("1,0\n2,6\n", 2, "value 6"), ("1,0\n\n3,x\n", 3, "two integers"),
                             ("1,0\n1,2\n", 2, "appears twice"), ("1,0,4\n", 1, "frame,value"),
                             ("1,2.5\n", 1, "two integers"), ("", 1, "no labels")]:
        p.write_text(text)
        with pytest.raises(lib.LabelFileError, match=rf"SN001_au1\.txt, line {line}: .*{what}"):
            lib.parse_frame_values(p, range(6))
    with pytest.raises(FileNotFoundError, match="nothere.txt"):
        lib.parse_frame_values(tmp_path / "nothere.txt", range(6))


def test_parse_occurrence_csv_by_header_name(tmp_path):
    p = tmp_path / "F001_T1.csv"
    p.write_text("0,2,1,4,99\n10,1,0,9,7\n11,0,1,1,1\n")
    rows = lib.parse_occurrence_csv(p, (1, 2, 4))
    np.testing.assert_array_equal(rows[10], [0, 1, 9])  # column "1" is the 3rd
    np.testing.assert_array_equal(rows[11], [1, 0, 1])
    p.write_text("0,1,2\n1,0,1\n2,0\n")
    with pytest.raises(lib.LabelFileError, match=r"F001_T1\.csv, line 3: 2 fields"):
        lib.parse_occurrence_csv(p, (1, 2))
    p.write_text("frame,1\n1,0\n")
    with pytest.raises(lib.LabelFileError, match=r"line 1: .*AU\(s\) \[2\]"):
        lib.parse_occurrence_csv(p, (1, 2))
    p.write_text("1,2\n1,0\n")
    with pytest.raises(lib.LabelFileError, match="no frame column"):
        lib.parse_occurrence_csv(p, (1, 2))


def test_targets_mask_unknowns_and_threshold():
    bp4d = aus.get_protocol("bp4d_occurrence")
    labels, mask = lib.to_targets([1, 0, 9] + [0] * 9, bp4d)
    np.testing.assert_array_equal(labels[:3], [1, 0, 0])
    np.testing.assert_array_equal(mask[:3], [1, 1, 0])
    disfa = aus.get_protocol("disfa_occurrence")
    np.testing.assert_array_equal(lib.to_targets([0, 1, 2, 5, 0, 0, 3, 1], disfa)[0],
                                  [0, 0, 1, 1, 0, 0, 1, 0])
    np.testing.assert_array_equal(
        lib.to_targets([0, 1, 2, 5, 0, 0, 3, 1], disfa.with_threshold(1))[0],
        [0, 1, 1, 1, 0, 0, 1, 1])
    intensity = aus.get_protocol("disfa_intensity")
    labels, mask = lib.to_targets(np.arange(12) % 6, intensity)
    np.testing.assert_array_equal(labels, np.arange(12) % 6)
    assert mask.all()


def test_combine_per_au_uses_the_frames_every_file_has():
    protocol = aus.get_protocol("bp4d_intensity")
    per_au = {au: {1: 1, 2: 2, 3: 9} for au in protocol.aus}
    per_au[17] = {1: 0, 2: 5}
    tally = lib.Tally("t")
    out = lib.combine_per_au(per_au, protocol, tally, "F001 T1")
    assert out.frames == [1, 2] and tally["frames_dropped_label_mismatch"] == 1
    np.testing.assert_array_equal(out[2][0], [2, 2, 2, 2, 5])


def test_find_child_normalizes_names(tmp_path):
    for name in ("AU-Intensity-Codes3.0", "Videos_LeftCamera", "sn001"):
        (tmp_path / name).mkdir()
    assert lib.find_child(tmp_path, "AUIntensityCodes", prefix=True).name == "AU-Intensity-Codes3.0"
    assert lib.find_child(tmp_path, "videos_leftcamera").name == "Videos_LeftCamera"
    assert lib.find_child(tmp_path, "SN001", is_dir=True).name == "sn001"
    assert lib.find_child(tmp_path, "SN001", is_dir=False) is None
    root, k = lib.find_root(tmp_path.parent, [("nothing",), ("sn001",)])
    assert (root, k) == (tmp_path, 1)
    with pytest.raises(FileNotFoundError, match="expected a folder named"):
        lib.find_root(tmp_path, [("nothing",)])


def test_disfa_landmark_mat(tmp_path):
    pts = np.arange(132, dtype=np.float64).reshape(66, 2)
    scipy.io.savemat(tmp_path / "a.mat", {"pts": pts})
    np.testing.assert_array_equal(disfa.load_disfa_pts(tmp_path / "a.mat"), pts)
    scipy.io.savemat(tmp_path / "b.mat", {"pts": pts.T})  # 2 x 66 is transposed back
    np.testing.assert_array_equal(disfa.load_disfa_pts(tmp_path / "b.mat"), pts)
    scipy.io.savemat(tmp_path / "c.mat", {"pts": np.zeros((0, 0))})
    assert disfa.load_disfa_pts(tmp_path / "c.mat") is None
    scipy.io.savemat(tmp_path / "d.mat", {"xy": pts})
    with pytest.raises(ValueError, match=r"d\.mat: no variable 'pts'"):
        disfa.load_disfa_pts(tmp_path / "d.mat")
    scipy.io.savemat(tmp_path / "e.mat", {"pts": pts[:60]})
    with pytest.raises(ValueError, match=r"e\.mat: 'pts' has shape \(60, 2\)"):
        disfa.load_disfa_pts(tmp_path / "e.mat")


def test_bp4d_v73_landmarks(tmp_path):
    cells = [np.arange(98, dtype=np.float64).reshape(49, 2), None, np.ones((49, 2)) * 3]
    bp4d_dummy.write_v73_cells(tmp_path / "F001_T1.mat", cells)
    assert (tmp_path / "F001_T1.mat").read_bytes()[:10] == b"MATLAB 7.3"
    got = bp4d_common.read_bp4d_landmarks(tmp_path / "F001_T1.mat")
    assert len(got) == 3 and got[1] is None
    np.testing.assert_array_equal(got[0], cells[0])  # stored transposed, read back 49 x 2
    np.testing.assert_array_equal(got[2], cells[2])
    (tmp_path / "bad.mat").write_bytes(b"MATLAB 5.0 MAT-file" + b"\0" * 200)
    with pytest.raises(ValueError, match=r"bad\.mat: cannot open as a MATLAB v7\.3"):
        bp4d_common.read_bp4d_landmarks(tmp_path / "bad.mat")


def test_usable_points():
    assert not lib.usable_points(None)
    assert not lib.usable_points(np.zeros((49, 2)))
    assert not lib.usable_points(np.full((49, 2), np.nan))
    assert lib.usable_points(np.random.default_rng(0).uniform(0, 100, (49, 2)))


def test_assign_splits():
    splits = {"fold1": ("A", "B"), "fold2": ("C",), "fold3": ("D",)}
    assert lib.assign_splits(["B", "A", "D"], splits, "x", "here", "X_FOLDS") == \
        {"fold1": ["A", "B"], "fold3": ["D"]}
    with pytest.raises(ValueError, match=r"\['E'\] found in here are in none of the split lists"):
        lib.assign_splits(["A", "E"], splits, "x", "here", "X_FOLDS")
    with pytest.raises(FileNotFoundError):
        lib.assign_splits([], splits, "x", "here", "X_FOLDS")


def test_occurrence_csv_missing_column_can_be_masked(tmp_path):
    p = tmp_path / "F001_T1.csv"
    p.write_text("0,1,2\n1,1,0\n")
    rows = lib.parse_occurrence_csv(p, (1, 2, 24), missing_code=9)
    np.testing.assert_array_equal(rows[1], [1, 0, 9])
