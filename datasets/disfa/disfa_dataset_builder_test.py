"""DISFA builder: TFDS builder test per config + label/mask/split/landmark value tests.

The dummy tree (make_dummy_data.py) holds SN001 (fold1), SN011 (fold2) and SN003 (fold3); see
that script for its quirks and label formula. Dummy faces are cartoons dlib cannot detect, so
re-detection uses ``FakeFaceAligner`` (the frame resized, TEMPLATE_68 as landmarks).
"""
import functools
import pathlib
import shutil
import tempfile
from unittest import mock

import numpy as np
import pytest
import tensorflow_datasets as tfds

from tfau import aus, geometry
from tfau_datasets import au_builder_lib as lib
from tfau_datasets import testing
from tfau_datasets import common
from tfau_datasets.disfa import disfa_dataset_builder as disfa

DUMMY = pathlib.Path(__file__).resolve().parent / "dummy_data"
SPLITS = {"fold1": 5, "fold2": 5, "fold3": 4}


class DisfaBuilderTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = disfa.Builder
    SPLITS = SPLITS
    BUILDER_CONFIG_NAMES_TO_TEST = ["intensity", "occurrence", "occurrence_gt0_right"]
    SKIP_CHECKSUMS = True

    def setUp(self):
        super().setUp()
        patcher = mock.patch.object(lib.FaceMaker, "aligner_factory", testing.FakeFaceAligner)
        patcher.start()
        self.patchers.append(patcher)


@functools.lru_cache(maxsize=None)
def _build(config_name: str):
    """{split: {(subject, frame): example}} of the dummy data under ``config_name``."""
    with mock.patch.object(lib.FaceMaker, "aligner_factory", testing.FakeFaceAligner):
        builder = disfa.Builder(data_dir=tempfile.mkdtemp(prefix="disfa_test_"),
                                config=config_name)
        data = testing.examples_by_split(builder, DUMMY)
    return {split: {(ex["subject"], int(ex["frame"])): ex for ex in examples.values()}
            for split, examples in data.items()}


def test_intensity_labels_equal_the_label_files():
    data = _build("intensity")
    # SN001 AU1 is written as 0, 1, 2, 3, 5; other AUs (k = index of the AU) (f - 1 + k) % 6.
    np.testing.assert_array_equal(
        [data["fold1"][("SN001", f)]["labels"][0] for f in range(1, 6)], [0, 1, 2, 3, 5])
    np.testing.assert_array_equal(data["fold1"][("SN001", 2)]["labels"],
                                  [1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 0])
    # SN011 (CRLF files): frame 1 = (k + 2) % 6.
    np.testing.assert_array_equal(data["fold2"][("SN011", 1)]["labels"],
                                  [2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 0, 1])
    np.testing.assert_array_equal(data["fold3"][("SN003", 3)]["labels"],
                                  [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5])
    for split in data.values():
        for ex in split.values():
            np.testing.assert_array_equal(ex["label_mask"], np.ones(12))
            assert ex["sequence"] == "left"


def _examples(subject: str, config: disfa.DisfaConfig) -> dict:
    """{frame: example} of one subject straight from the generator (no TFDS write)."""
    layout = disfa.DisfaLayout(DUMMY, config.camera)
    tally = lib.Tally("test")
    with mock.patch.object(lib.FaceMaker, "aligner_factory", testing.FakeFaceAligner):
        make_face = lib.FaceMaker("disfa66", tally, redetect=config.redetect)
        return {int(ex["frame"]): ex for _, ex in disfa.generate_subject(
            layout, subject, config.get_protocol(), make_face, tally)}


def test_occurrence_threshold_two_and_gt0():
    ge2 = _examples("SN001", disfa.Builder.builder_configs["occurrence"])
    gt0 = _examples("SN001", disfa.Builder.builder_configs["occurrence_gt0"])
    # SN001 frame 2 intensities of AU 1 2 4 6 9 12 25 26: 1 2 3 5 0 1 5 0.
    np.testing.assert_array_equal(ge2[2]["labels"], [0, 1, 1, 1, 0, 0, 1, 0])
    np.testing.assert_array_equal(gt0[2]["labels"], [1, 1, 1, 1, 0, 1, 1, 0])
    au1 = [0, 0, 1, 1, 1], [0, 1, 1, 1, 1]  # AU1 = 0 1 2 3 5
    for data, want in zip((ge2, gt0), au1):
        np.testing.assert_array_equal([data[f]["labels"][0] for f in range(1, 6)], want)
        np.testing.assert_array_equal(data[2]["label_mask"], np.ones(8))
    assert disfa.Builder.builder_configs["occurrence"].get_protocol().threshold == 2.0
    assert disfa.Builder.builder_configs["occurrence_gt0"].get_protocol().threshold == 1.0
    # A custom threshold is a config field.
    ge4 = _examples("SN001", disfa.DisfaConfig(name="t4", protocol="disfa_occurrence",
                                               threshold=4.0))
    np.testing.assert_array_equal([ge4[f]["labels"][0] for f in range(1, 6)], [0, 0, 0, 0, 1])


def test_splits_follow_the_fold_lists_and_are_subject_independent():
    data = _build("intensity")
    seen = {}
    for k, split in enumerate(common.FOLD_SPLITS):
        subjects = {s for s, _ in data[split]}
        assert subjects <= set(common.DISFA_FOLDS[k])
        for s in subjects:
            assert seen.setdefault(s, split) == split
    assert {s: sp for s, sp in seen.items()} == {"SN001": "fold1", "SN011": "fold2",
                                                 "SN003": "fold3"}
    # Frames: intersection of video and labels (SN011 video 6 > 5 labels; SN003 video 4 < 5).
    assert sorted(f for _, f in data["fold2"]) == [1, 2, 3, 4, 5]
    assert sorted(f for _, f in data["fold3"]) == [1, 2, 3, 4]


def test_aligned_landmarks_match_the_template():
    data = _build("intensity")
    # Dummy faces are similarity transforms of TEMPLATE_68, so aligning on their landmarks must
    # give the template back (source 66 points + 60/64 completed by the template fit).
    for key in [("SN001", 1), ("SN011", 5), ("SN003", 4)]:
        ex = data[common.fold_of(key[0], common.DISFA_FOLDS)][key]
        np.testing.assert_allclose(ex["landmarks"], geometry.TEMPLATE_68, atol=0.05)
        assert ex["image"].shape == (256, 256, 3)
        assert ex["image"][128, 128].mean() > 120  # skin at the face centre, not background


def _tally_of(subject: str, config: disfa.DisfaConfig, succeed: bool = True) -> lib.Tally:
    layout = disfa.DisfaLayout(DUMMY, config.camera)
    tally = lib.Tally("test")
    with mock.patch.object(lib.FaceMaker, "aligner_factory", testing.FakeFaceAligner), \
            mock.patch.object(testing.FakeFaceAligner, "succeed", succeed):
        make_face = lib.FaceMaker("disfa66", tally, redetect=config.redetect)
        frames = [ex["frame"] for _, ex in
                  disfa.generate_subject(layout, subject, config.get_protocol(), make_face, tally)]
    tally.counts["frames"] = len(frames)
    tally.frames = frames
    return tally


def test_missing_and_empty_landmarks_are_redetected_or_skipped_and_counted():
    config = disfa.Builder.builder_configs["intensity"]
    t = _tally_of("SN001", config)
    assert (t["from_landmarks"], t["redetected"], t["landmark_files_missing"]) == (4, 1, 1)
    t = _tally_of("SN001", config, succeed=False)
    assert (t["skipped_no_face"], t["frames"]) == (1, 4) and 3 not in t.frames
    no_redetect = disfa.DisfaConfig(name="x", protocol="disfa_intensity", redetect=False)
    t = _tally_of("SN003", no_redetect)
    assert (t["empty_landmark_files"], t["skipped_no_landmarks"]) == (1, 1)
    assert t.frames == [1, 3, 4] and t["frames_labelled_beyond_video"] == 1
    t = _tally_of("SN011", config)  # l0NNNN_lm.mat names + an extra file
    assert (t["from_landmarks"], t["landmark_files_unused"], t["video_frames_unlabelled"]) == \
        (5, 1, 1)
    right = disfa.Builder.builder_configs["intensity_right"]
    t = _tally_of("SN001", right)
    assert (t["redetected"], t["from_landmarks"]) == (5, 0)


def test_real_dlib_redetection_runs_and_counts():
    layout = disfa.DisfaLayout(DUMMY)
    _, rgb = next(lib.iter_video(layout.video("SN001")))
    tally = lib.Tally("dlib")
    face = lib.FaceMaker("disfa66", tally)(rgb, None)
    assert tally["redetected"] + tally["skipped_no_face"] == 1
    assert (face is None) == (tally["skipped_no_face"] == 1)


def test_video_and_landmark_names_are_matched_case_insensitively():
    layout = disfa.DisfaLayout(DUMMY)
    assert layout.video("SN011").name == "leftvideoSN011_Comp.AVI"
    assert disfa.DisfaLayout(DUMMY, "right").video("SN001").name == "RightVideoSN001_Comp.avi"
    files = layout.landmark_files("SN011", lib.Tally("t"))
    assert sorted(files) == [1, 2, 3, 4, 5, 6] and files[1].name == "l00000_lm.mat"
    assert layout.subjects() == ["SN001", "SN003", "SN011"]


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "copy" / "DISFA"  # one extra level: the root is searched for
    shutil.copytree(DUMMY, root)
    return root


def test_malformed_label_file_names_file_and_line(tree):
    path = tree / "ActionUnit_Labels" / "SN001" / "SN001_au4.txt"
    lines = path.read_text().splitlines()
    lines[2] = "3,x"
    path.write_text("\n".join(lines) + "\n")
    protocol = aus.get_protocol("disfa_intensity")
    layout = disfa.DisfaLayout(tree.parent.parent)
    with pytest.raises(lib.LabelFileError, match=r"SN001_au4\.txt, line 3"):
        disfa.read_labels(layout, "SN001", protocol, lib.Tally("t"))
    lines[2] = "3,7"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(lib.LabelFileError, match=r"SN001_au4\.txt, line 3: value 7"):
        disfa.read_labels(layout, "SN001", protocol, lib.Tally("t"))
    (tree / "ActionUnit_Labels" / "SN011" / "SN011_au9.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"SN011_au9\.txt"):
        disfa.read_labels(layout, "SN011", protocol, lib.Tally("t"))


def test_subject_in_no_fold_list_is_an_error(tree):
    shutil.copytree(tree / "ActionUnit_Labels" / "SN001", tree / "ActionUnit_Labels" / "SN014")
    builder = disfa.Builder(data_dir=str(tree.parent / "out"), config="intensity")
    with pytest.raises(ValueError, match="SN014.*none of the split lists"):
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=str(tree)))


def test_missing_video_is_an_error_naming_the_subject(tree):
    (tree / "Videos_LeftCamera" / "LeftVideoSN003_comp.avi").unlink()
    with pytest.raises(FileNotFoundError, match="left-camera video for SN003"):
        disfa.DisfaLayout(tree).video("SN003")
