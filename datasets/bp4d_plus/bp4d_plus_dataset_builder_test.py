"""BP4D+ builder: TFDS builder test + labels (34-column CSVs), masks, the fold split, F041_T7.

dummy_data: F001 (fold1) T1+T8, F041 (fold2) T7 with more label rows than images, M002 (fold3)
T6 as an extracted image folder; see make_dummy_data.py.
"""
import pathlib
import tempfile
from unittest import mock

import numpy as np
import tensorflow_datasets as tfds

from tfau_datasets import au_builder_lib as lib
from tfau_datasets import testing
from tfau_datasets import common
from tfau_datasets.bp4d_plus import bp4d_plus_dataset_builder as bp4d_plus

DUMMY = pathlib.Path(__file__).resolve().parent / "dummy_data"


class Bp4dPlusTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = bp4d_plus.Builder
    SPLITS = {"fold1": 7, "fold2": 4, "fold3": 3}
    SKIP_CHECKSUMS = True

    def setUp(self):
        super().setUp()
        patcher = mock.patch.object(lib.FaceMaker, "aligner_factory", testing.FakeFaceAligner)
        patcher.start()
        self.patchers.append(patcher)


def _examples():
    with mock.patch.object(lib.FaceMaker, "aligner_factory", testing.FakeFaceAligner):
        builder = bp4d_plus.Builder(data_dir=tempfile.mkdtemp(prefix="bp4dp_test_"))
        data = testing.examples_by_split(builder, DUMMY)
    return {split: {(ex["subject"], ex["sequence"], int(ex["frame"])): ex
                    for ex in examples.values()} for split, examples in data.items()}


def test_fold_list_is_deterministic_balanced_and_exclusive():
    folds = common.BP4D_PLUS_FOLDS
    assert [len(p) for p in folds] == [47, 47, 46]
    assert [sum(s.startswith("F") for s in p) for p in folds] == [28, 27, 27]
    assert sorted(s for p in folds for s in p) == sorted(common.BP4D_PLUS_SUBJECTS)
    assert len(set(common.BP4D_PLUS_SUBJECTS)) == 140
    assert folds[0][:3] == ("F001", "F004", "F007") and folds[1][-1] == "M058"
    assert [common.fold_of(s, folds) for s in ("F001", "F041", "M002")] == \
        ["fold1", "fold2", "fold3"]


def test_labels_masks_splits_and_the_f041_t7_intersection():
    data = _examples()
    assert {k: {s for s, _, _ in v} for k, v in data.items()} == \
        {"fold1": {"F001"}, "fold2": {"F041"}, "fold3": {"M002"}}
    # Columns found by header name among BP4D+'s 34: (f + au + s) % 3 == 0 for the 12 AUs.
    np.testing.assert_array_equal(data["fold1"][("F001", "T8", 3)]["labels"],
                                  [0, 1, 0, 0, 0, 0, 0, 1, 0, 1, 1, 0])
    np.testing.assert_array_equal(data["fold2"][("F041", "T7", 1)]["labels"],
                                  [0, 0, 0, 1, 0, 0, 1, 0, 1, 0, 0, 1])
    ex = data["fold3"][("M002", "T6", 2)]  # AU12 and AU24 coded 9
    np.testing.assert_array_equal(ex["label_mask"], [1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 0])
    np.testing.assert_array_equal(ex["labels"], [0, 1, 0, 0, 0, 0, 0, 1, 0, 1, 1, 0])
    # F041 T7: labels 1-6, images 1-4 -> the 4 frames both have.
    assert sorted(f for *_, f in data["fold2"]) == [1, 2, 3, 4]
    # F001 T1: image 0000 has no label row.
    assert sorted(f for _, t, f in data["fold1"] if t == "T1") == [1, 2, 3, 4]
