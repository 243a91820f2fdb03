"""Licensed datasets read as their owners ship them (issue 14), on fake trees written by
``tfau_datasets.testing.write_fake_*`` from the layouts public readers describe (not by the
builders' own make_dummy_data.py scripts).

Checked at specific frames: labels and masks against the label formulas, and landmarks by the
aligned image: every fake frame's face jumps 14 px sideways, so a frame aligned on its own
landmark file shows the face where the template puts it, and one aligned on a neighbour's file
does not.
"""
import io
import logging
import tempfile
import zipfile
from unittest import mock

import numpy as np
import pytest

from tfau import aus, face, geometry
from tfau_datasets import au_builder_lib as lib
from tfau_datasets import testing
from tfau_datasets.bp4d import bp4d_dataset_builder as bp4d
from tfau_datasets.bp4d_plus import bp4d_plus_dataset_builder as bp4d_plus
from tfau_datasets.disfa import disfa_dataset_builder as disfa

TEMPLATE_FACE = testing.draw_dummy_face((256, 256), geometry.TEMPLATE_68).astype(np.float32)
DISFA_SUBJECTS = {
    "SN001": {"frames": 6, "numbering": "subject0"},                 # SN001_0000_lm.mat = frame 1
    "SN031": {"frames": 6, "numbering": "l0_1based", "skip": [4],    # l00003_lm.mat = frame 3
              "nested": True},                                       # in a nested SN031.zip
    "SN003": {"frames": 5, "numbering": "l0_0based"},                # l00000_lm.mat = frame 1
}


def _build(builder_cls, config, manual_dir):
    """(builder, {split: {(subject, sequence, frame): example}}) with the fake aligner."""
    with mock.patch.object(lib.FaceMaker, "aligner_factory", testing.FakeFaceAligner):
        builder = builder_cls(data_dir=tempfile.mkdtemp(prefix="layouts_"), config=config)
        data = testing.examples_by_split(builder, manual_dir)
    return builder, {split: {(ex["subject"], ex["sequence"], int(ex["frame"])): ex
                             for ex in examples.values()} for split, examples in data.items()}


def _face_error(image) -> float:
    """Mean absolute difference to the template face in the central face region."""
    return float(np.abs(np.asarray(image, np.float32) - TEMPLATE_FACE)[64:200, 64:192].mean())


def test_discriminator_sees_a_one_frame_shift():
    frame = testing.draw_dummy_face(testing.FAKE_FRAME, testing.fake_landmarks("SN031", 3))
    right = face.align_to_landmarks(frame, testing.fake_landmarks("SN031", 3), size=256).image
    off = face.align_to_landmarks(frame, testing.fake_landmarks("SN031", 4), size=256).image
    assert _face_error(right) < 12 < 2 * 12 < _face_error(off)


@pytest.fixture(scope="module")
def disfa_zipped():
    root = testing.write_fake_disfa(tempfile.mkdtemp(prefix="disfa_zip_") + "/shipped",
                                    DISFA_SUBJECTS)
    return root, _build(disfa.Builder, "intensity", root.parent)


def test_disfa_zips_as_shipped_labels_landmarks_and_summary(disfa_zipped):
    root, (builder, data) = disfa_zipped
    assert sorted(p.name for p in root.iterdir()) == [
        "ActionUnit_Labels.zip", "Landmark_Points.zip", "Video_RightCamera.zip",
        "Videos_LeftCamera.zip"]
    assert {s: sorted({k[0] for k in v}) for s, v in data.items()} == \
        {"fold1": ["SN001"], "fold2": ["SN031"], "fold3": ["SN003"]}
    for subject, frame in [("SN001", 1), ("SN031", 3), ("SN031", 6), ("SN003", 5)]:
        ex = data[disfa.common.fold_of(subject, disfa.common.DISFA_FOLDS)][
            (subject, "left", frame)]
        np.testing.assert_array_equal(
            ex["labels"], [testing.disfa_label(subject, a, frame)
                           for a in aus.DISFA_INTENSITY_AUS])
        np.testing.assert_array_equal(ex["label_mask"], np.ones(12))
    # The l0-named 1-based subject: frame k aligned on file k (face where the template is);
    # frame 4 has no file (as SN031's l03631 in the real data) and was re-detected.
    sn031 = data["fold2"]
    for k in (1, 2, 3, 5, 6):
        assert _face_error(sn031[("SN031", "left", k)]["image"]) < 12, k
        np.testing.assert_allclose(sn031[("SN031", "left", k)]["landmarks"],
                                   geometry.TEMPLATE_68, atol=0.5)
    for key in [("SN001", "left", 2), ("SN003", "left", 5)]:
        split = "fold1" if key[0] == "SN001" else "fold3"
        assert _face_error(data[split][key]["image"]) < 12, key
    summary = builder.info.metadata["build_summary"]
    assert summary["fold2"]["landmark_source"] == {"SN031/left": "dataset file 5, re-detected 1"}
    assert summary["fold2"]["counts"]["landmark_numbering_1_based"] == 1
    assert summary["fold1"]["counts"]["landmark_numbering_0_based"] == 1
    assert summary["fold3"]["counts"]["landmark_numbering_0_based"] == 1
    assert (summary["fold1"]["subjects"], summary["fold1"]["sequences"],
            summary["fold1"]["frames_kept"], summary["fold1"]["frames_dropped"]) == (1, 1, 6, 0)


def test_disfa_unpacked_in_place_gives_the_same_examples(disfa_zipped):
    _, (_, zipped) = disfa_zipped
    root = testing.write_fake_disfa(tempfile.mkdtemp(prefix="disfa_tree_"), DISFA_SUBJECTS,
                                    zipped=False)
    _, tree = _build(disfa.Builder, "intensity", root)
    assert {s: sorted(v) for s, v in tree.items()} == {s: sorted(v) for s, v in zipped.items()}
    for split, examples in tree.items():
        for key, ex in examples.items():
            np.testing.assert_array_equal(ex["image"], zipped[split][key]["image"])
            np.testing.assert_array_equal(ex["labels"], zipped[split][key]["labels"])


def _rewrite_member(zip_path, member, data, nested=None):
    """Replaces ``member`` of the zip (or of the ``nested`` zip inside it) by ``data``."""
    with zipfile.ZipFile(zip_path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    if nested is None:
        members[member] = data
    else:
        inner = {}
        with zipfile.ZipFile(io.BytesIO(members[nested])) as zf:
            inner = {n: zf.read(n) for n in zf.namelist()}
        inner[member] = data
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for n, d in inner.items():
                zf.writestr(n, d)
        members[nested] = buf.getvalue()
    with zipfile.ZipFile(zip_path, "w") as zf:
        for n, d in members.items():
            zf.writestr(n, d)


def _disfa_one(tmp_path, **spec):
    return testing.write_fake_disfa(tmp_path / "d", {"SN031": {"frames": 4, **spec}})


def test_disfa_landmark_numbering_that_fits_neither_base_fails_naming_the_files(tmp_path):
    root = _disfa_one(tmp_path, numbering="l0_1based", skip=[4])  # 1..3 for 4 frames
    with pytest.raises(ValueError, match=r"SN031.*Landmark_Points\.zip.*l00001_lm\.mat \.\. "
                                         r"l00003_lm\.mat.*4-frame"):
        _build(disfa.Builder, "intensity", root)


def test_disfa_malformed_zips_and_members_fail_naming_the_file(tmp_path):
    root = _disfa_one(tmp_path, nested=True)
    good = (root / "ActionUnit_Labels.zip").read_bytes()
    _rewrite_member(root / "ActionUnit_Labels.zip", "SN031/SN031_au4.txt", b"1,0\n2,0\n3,x\n")
    with pytest.raises(lib.LabelFileError,
                       match=r"ActionUnit_Labels\.zip > SN031/SN031_au4\.txt, line 3"):
        _build(disfa.Builder, "intensity", root)
    (root / "ActionUnit_Labels.zip").write_bytes(good)
    _rewrite_member(root / "Landmark_Points.zip", "SN031/tmp_frame_lm/SN031_0002_lm.mat",
                    b"not a mat file", nested="SN031.zip")
    with pytest.raises(ValueError, match=r"SN031\.zip > SN031/tmp_frame_lm/SN031_0002_lm\.mat: "
                                         "cannot read"):
        _build(disfa.Builder, "intensity", root)
    (root / "ActionUnit_Labels.zip").write_bytes(b"PK garbage")
    with pytest.raises(ValueError, match=r"ActionUnit_Labels\.zip: not a readable zip"):
        _build(disfa.Builder, "intensity", root)


FERA_SEQUENCES = {("F001", "T1"): 3, ("F007", "T3"): 3}


@pytest.mark.parametrize("deeper", [False, True])
@pytest.mark.parametrize("spelling", ["AU Intensity Codes3.0", "AU-Intensity-Codes3.0",
                                      "BP4D-AUIntensityCodes3.0"])
def test_fera_package_both_depths_three_spellings(tmp_path, deeper, spelling, caplog):
    root = testing.write_fake_fera(tmp_path, FERA_SEQUENCES, deeper=deeper,
                                   intensity_folder=spelling)
    with caplog.at_level(logging.WARNING):
        builder, data = _build(bp4d.Builder, "intensity", root)
    assert sorted(data) == ["fold1", "fold3", "train"]  # F001, F007 odd: FERA train, no devel
    ex = data["fold1"][("F001", "T1", 2)]
    np.testing.assert_array_equal(ex["labels"], [testing.bp4d_intensity("F001", a, 2)
                                                 for a in aus.BP4D_INTENSITY_AUS])
    assert set(data["train"]) == set(data["fold1"]) | set(data["fold3"])
    assert any("BP4D-fpoints" in r.getMessage() and "not used" in r.getMessage()
               for r in caplog.records)
    summary = builder.info.metadata["build_summary"]["fold3"]
    assert summary["counts"]["sequences_fpoints_found_not_used"] == 1
    assert summary["landmark_source"] == {"F007/T3": "re-detected"}


def test_fera_occurrence_masks_au24_and_malformed_intensity_names_the_file(tmp_path):
    root = testing.write_fake_fera(tmp_path, FERA_SEQUENCES, deeper=True,
                                   intensity_folder="BP4D-AUIntensityCodes3.0")
    _, data = _build(bp4d.Builder, "occurrence", root)
    ex = data["fold3"][("F007", "T3", 3)]
    want = [testing.bp4d_occurrence("F007", a, 3) if a != 24 else 0
            for a in aus.BP4D_OCCURRENCE_AUS]
    np.testing.assert_array_equal(ex["labels"], want)
    np.testing.assert_array_equal(ex["label_mask"], [1] * 11 + [0])
    path = root / "BP4D" / "BP4D-AUIntensityCodes3.0" / "AU12" / "F007_T3_AU12.csv"
    path.write_text("1,2\n2,7\n3,1\n")
    with pytest.raises(lib.LabelFileError,
                       match=r"BP4D-AUIntensityCodes3\.0/AU12/F007_T3_AU12\.csv, line 2"):
        _build(bp4d.Builder, "intensity", root)


PLUS_SEQUENCES = {("F001", "T1"): 3, ("F002", "T8"): 2}


@pytest.mark.parametrize("header", ["Frame," + ",".join(f"c{i}" for i in range(34)), None])
def test_bp4d_plus_columns_by_position_when_the_header_does_not_name_them(tmp_path, header,
                                                                          caplog):
    root = testing.write_fake_bp4d_plus(tmp_path, PLUS_SEQUENCES, bp4d_plus.OCCURRENCE_COLUMNS,
                                        header=header)
    with caplog.at_level(logging.WARNING):
        builder, data = _build(bp4d_plus.Builder, "occurrence", root)
    assert sorted(data) == ["fold1", "fold2"]
    for subject, task, frame in [("F001", "T1", 3), ("F002", "T8", 1)]:
        ex = data["fold1" if subject == "F001" else "fold2"][(subject, task, frame)]
        np.testing.assert_array_equal(ex["labels"], [testing.bp4d_occurrence(subject, a, frame)
                                                     for a in aus.BP4D_OCCURRENCE_AUS])
    assert any("by position" in r.getMessage() and "F001_T1.csv" in r.getMessage()
               for r in caplog.records)
    counts = builder.info.metadata["build_summary"]["fold1"]["counts"]
    assert counts["label_files_read_by_position"] == 1


def test_bp4d_plus_unnamed_header_with_a_missing_column_names_the_file(tmp_path):
    root = testing.write_fake_bp4d_plus(tmp_path, PLUS_SEQUENCES,
                                        bp4d_plus.OCCURRENCE_COLUMNS[:-1],
                                        header="Frame," + ",".join(f"c{i}" for i in range(33)))
    with pytest.raises(lib.LabelFileError, match=r"AU_OCC/F00[12]_T[18]\.csv, line 1"):
        _build(bp4d_plus.Builder, "occurrence", root)


def test_disfa_damaged_video_frame_is_skipped_counted_and_reading_goes_on(tmp_path):
    root = testing.write_fake_disfa(tmp_path / "d", {"SN001": {"frames": 6}}, zipped=False)
    video = root / "Videos_LeftCamera" / "LeftVideoSN001_comp.avi"
    data = bytearray(video.read_bytes())
    starts = [i for i in range(len(data) - 1) if data[i:i + 2] == b"\xff\xd8"]  # JPEG frames
    data[starts[2]:starts[2] + 400] = bytes(400)  # frame 3 (label frame 3) undecodable
    video.write_bytes(bytes(data))
    builder, data = _build(disfa.Builder, "intensity", root)
    assert sorted(f for *_, f in data["fold1"]) == [1, 2, 4, 5, 6]
    ex = data["fold1"][("SN001", "left", 5)]
    np.testing.assert_array_equal(ex["labels"], [testing.disfa_label("SN001", a, 5)
                                                 for a in aus.DISFA_INTENSITY_AUS])
    assert _face_error(ex["image"]) < 12
    summary = builder.info.metadata["build_summary"]["fold1"]
    assert summary["frames_dropped_by_reason"] == {"undecodable_video_frames": 1}
    assert summary["frames_kept"] == 5
