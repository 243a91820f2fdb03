"""BP4D builder: TFDS builder tests (both layouts) + label/mask/split/landmark value tests.

dummy_data/binghamton: F001 (fold1, FERA train) T1+T2, F003 (fold2, train), F004 (fold3, devel);
dummy_data/fera: F002 (fold1, devel) and F007 (fold3, train). make_dummy_data.py lists the quirks
and the label formulas. Re-detection uses ``FakeFaceAligner`` (cartoon faces are not dlib faces).
"""
import pathlib
import shutil
import tempfile
from unittest import mock

import numpy as np
import pytest
import tensorflow_datasets as tfds

from tfau import geometry
from tfau_datasets import au_builder_lib as lib
from tfau_datasets.bp4d import bp4d_common
from tfau_datasets import testing
from tfau_datasets import common
from tfau_datasets.bp4d import bp4d_dataset_builder as bp4d

DUMMY = pathlib.Path(__file__).resolve().parent / "dummy_data"
BINGHAMTON, FERA = DUMMY / "binghamton", DUMMY / "fera"


class _FakeAlignerMixin:
    SKIP_CHECKSUMS = True

    def setUp(self):
        super().setUp()
        patcher = mock.patch.object(lib.FaceMaker, "aligner_factory", testing.FakeFaceAligner)
        patcher.start()
        self.patchers.append(patcher)


class Bp4dOccurrenceTest(_FakeAlignerMixin, tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = bp4d.Builder
    EXAMPLE_DIR = str(BINGHAMTON)
    BUILDER_CONFIG_NAMES_TO_TEST = ["occurrence"]
    SPLITS = {"fold1": 7, "fold2": 4, "fold3": 4}


class Bp4dIntensityTest(_FakeAlignerMixin, tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = bp4d.Builder
    EXAMPLE_DIR = str(BINGHAMTON)
    BUILDER_CONFIG_NAMES_TO_TEST = ["intensity"]
    SPLITS = {"fold1": 7, "fold2": 4, "fold3": 4, "train": 11, "devel": 4}
    OVERLAPPING_SPLITS = ["train", "devel"]  # the FERA partition of the same frames


class Bp4dFeraOccurrenceTest(_FakeAlignerMixin, tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = bp4d.Builder
    EXAMPLE_DIR = str(FERA)
    BUILDER_CONFIG_NAMES_TO_TEST = ["occurrence"]
    SPLITS = {"fold1": 3, "fold3": 3}  # no fold2 subject on disk: the split is left out


def _examples(config_name: str, manual_dir=BINGHAMTON, succeed: bool = True):
    """{split: {(subject, task, frame): example}} straight from the generators."""
    with mock.patch.object(lib.FaceMaker, "aligner_factory", testing.FakeFaceAligner), \
            mock.patch.object(testing.FakeFaceAligner, "succeed", succeed):
        builder = bp4d.Builder(data_dir=tempfile.mkdtemp(prefix="bp4d_test_"), config=config_name)
        data = testing.examples_by_split(builder, manual_dir)
    return {split: {(ex["subject"], ex["sequence"], int(ex["frame"])): ex
                    for ex in examples.values()} for split, examples in data.items()}


def test_occurrence_labels_and_unknown_mask():
    fold1 = _examples("occurrence")["fold1"]
    # (f + au + 1) % 3 == 0 for F001, AUs 1 2 4 6 7 10 12 14 15 17 23 24.
    np.testing.assert_array_equal(fold1[("F001", "T1", 1)]["labels"],
                                  [1, 0, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(fold1[("F001", "T1", 1)]["label_mask"], np.ones(12))
    np.testing.assert_array_equal(fold1[("F001", "T2", 2)]["labels"],
                                  [0, 0, 0, 1, 0, 0, 1, 0, 1, 0, 0, 1])
    # Frame 4: AU1 and AU2 coded 9 -> label 0, mask 0; the rest as coded.
    ex = fold1[("F001", "T1", 4)]
    np.testing.assert_array_equal(ex["label_mask"], [0, 0] + [1] * 10)
    np.testing.assert_array_equal(ex["labels"], [0, 0, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0])
    # Frame 5 is all 9 (skipped); image 0000 has no label; F004 label frame 5 has no image.
    assert sorted(f for s, t, f in fold1 if t == "T1") == [1, 2, 3, 4]
    assert sorted(f for *_, f in _examples("occurrence")["fold3"]) == [1, 2, 3, 4]


def test_intensity_labels_and_unknown_mask():
    data = _examples("intensity")
    ex = data["fold1"][("F001", "T1", 2)]  # (f + au + 2) % 6 for AU 6 10 12 14 17; AU14 = 9
    np.testing.assert_array_equal(ex["labels"], [4, 2, 4, 0, 3])
    np.testing.assert_array_equal(ex["label_mask"], [1, 1, 1, 0, 1])
    np.testing.assert_array_equal(data["fold2"][("F003", "T1", 1)]["labels"], [1, 5, 1, 3, 0])
    np.testing.assert_array_equal(data["train"][("F003", "T1", 1)]["labels"], [1, 5, 1, 3, 0])


def test_splits_follow_fold_and_fera_lists_subject_independent():
    data = _examples("intensity")
    lists = {**dict(zip(common.FOLD_SPLITS, common.BP4D_FOLDS)),
             "train": common.BP4D_FERA_TRAIN, "devel": common.BP4D_FERA_DEVEL}
    for split, examples in data.items():
        assert {s for s, _, _ in examples} <= set(lists[split]), split
    folds = [{s for s, _, _ in data[k]} for k in common.FOLD_SPLITS]
    assert not (folds[0] & folds[1] or folds[0] & folds[2] or folds[1] & folds[2])
    assert folds == [{"F001"}, {"F003"}, {"F004"}]
    assert {s for s, _, _ in data["train"]} == {"F001", "F003"}
    assert {s for s, _, _ in data["devel"]} == {"F004"}
    # train + devel hold the same frames as the three folds, partitioned differently.
    fold_keys = set().union(*(data[k].keys() for k in common.FOLD_SPLITS))
    assert set(data["train"]) | set(data["devel"]) == fold_keys
    assert not set(data["train"]) & set(data["devel"])


def test_landmarks_from_2dfeatures_and_redetection_counts():
    plan = bp4d_common.Bp4dPlan.create(BINGHAMTON, bp4d.Builder.builder_configs["occurrence"], "bp4d",
                               bp4d.FOLD_SPLITS, "BP4D_FOLDS")
    assert plan.layout.layout == bp4d_common.BINGHAMTON
    for succeed in (True, False):
        tally = lib.Tally("t")
        with mock.patch.object(lib.FaceMaker, "aligner_factory", testing.FakeFaceAligner), \
                mock.patch.object(testing.FakeFaceAligner, "succeed", succeed):
            out = dict(bp4d_common.bp4d_generate(plan.layout, ["F001"], plan.labels_of,
                                         lib.FaceMaker("bp4d49", tally), tally))
        # T1: frames 1-4 kept, frame 3's cell is empty; T2: 4 cells for 3 images -> re-detected.
        assert tally["from_landmarks"] == 3 and tally["skipped_all_unknown"] == 1
        assert tally["tasks_landmark_count_mismatch"] == 1
        if succeed:
            assert tally["redetected"] == 4 and len(out) == 7
        else:
            assert tally["skipped_no_face"] == 4 and len(out) == 3
            assert sorted(out) == ["F001_T1_00001", "F001_T1_00002", "F001_T1_00004"]
    ex = out["F001_T1_00002"]  # aligned on its 49 points (+ jaw completed from the template)
    np.testing.assert_allclose(ex["landmarks"], geometry.TEMPLATE_68, atol=0.05)
    assert ex["image"].shape == (256, 256, 3) and ex["image"][128, 128].mean() > 120


def test_fera_layout_intensity_splits():
    data = _examples("intensity", FERA)
    assert sorted(data) == ["devel", "fold1", "fold3", "train"]
    assert {s for s, _, _ in data["train"]} == {"F007"}
    assert {s for s, _, _ in data["devel"]} == {"F002"}
    # F002 (s=2) T1 frame 1: (1 + au + 4) % 6.
    np.testing.assert_array_equal(data["fold1"][("F002", "T1", 1)]["labels"], [5, 3, 5, 1, 4])


@pytest.fixture
def tree(tmp_path):
    shutil.copytree(DUMMY, tmp_path / "BP4D")
    return tmp_path / "BP4D"


def test_fera_intensity_folder_spelling_variant(tree):
    root = tree / "fera"
    (root / "AU Intensity Codes3.0").rename(root / "AU-Intensity-Codes3.0")
    layout = bp4d_common.Bp4dLayout(tree.parent, "fera2015")  # root found two levels down
    assert layout.intensity_dir.name == "AU-Intensity-Codes3.0"
    assert sorted(layout.intensity_files((6, 10, 12, 14, 17))) == [("F002", "T1"), ("F007", "T3")]


def test_malformed_occurrence_csv_names_file_and_line(tree):
    path = tree / "binghamton" / "AUCoding" / "AU_OCC" / "F003_T1.csv"
    lines = path.read_text().splitlines()
    fields = lines[2].split(",")
    fields[1] = "2"  # AU1 of frame 2: not 0/1/9
    lines[2] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(lib.LabelFileError, match=r"F003_T1\.csv, line 3: AU1 value '2'"):
        _examples("occurrence", tree / "binghamton")
    lines[0] = lines[0].replace(",23,", ",123,")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(lib.LabelFileError, match=r"F003_T1\.csv, line 1: .*AU\(s\) \[23\]"):
        _examples("occurrence", tree / "binghamton")


def test_malformed_or_missing_intensity_file(tree):
    au_int = tree / "binghamton" / "AUCoding" / "AU_INT"
    path = au_int / "AU12" / "F004_T1_AU12.csv"
    path.write_text("1,3\n2,3\n3;4\n")
    with pytest.raises(lib.LabelFileError, match=r"F004_T1_AU12\.csv, line 3"):
        _examples("intensity", tree / "binghamton")
    path.unlink()
    with pytest.raises(FileNotFoundError, match=r"F004_T1_AU12\.csv"):
        _examples("intensity", tree / "binghamton")


def test_unknown_subject_and_labels_without_images_are_errors(tree):
    root = tree / "binghamton"
    occ = root / "AUCoding" / "AU_OCC"
    shutil.copy(occ / "F003_T1.csv", occ / "F024_T1.csv")
    with pytest.raises(FileNotFoundError, match="F024 has AU labels but no images"):
        _examples("occurrence", root)
    shutil.copy(root / "2D+3D" / "F003.zip", root / "2D+3D" / "F024.zip")
    with pytest.raises(ValueError, match=r"\['F024'\].*none of the split lists"):
        _examples("occurrence", root)
