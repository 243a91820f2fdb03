"""What every tfau dataset builder shares: the example features and the subject splits.

Every builder (synthetic_au, disfa, bp4d, bp4d_plus) yields the same example structure, so one
pipeline (``tfau.data``) reads them all:

  image       256x256x3 uint8 aligned face, stored as JPEG
  landmarks   [68, 2] float32, dlib 68-point scheme, (x, y) pixels in the aligned frame
  labels      [A] float32, the protocol's AUs in ``Protocol.aus`` order (0-5 or 0/1)
  label_mask  [A] float32, 0 where the source says "not coded" (BP4D's 9), else 1
  subject, sequence (text), frame (int32, the source's own frame number)
"""
from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds

from tfau import aus as aus_lib

IMAGE_SIZE = 256
N_LANDMARKS = 68


def example_features(protocol: aus_lib.Protocol) -> tfds.features.FeaturesDict:
    n = protocol.n_aus
    return tfds.features.FeaturesDict({
        "image": tfds.features.Image(shape=(IMAGE_SIZE, IMAGE_SIZE, 3), encoding_format="jpeg"),
        "landmarks": tfds.features.Tensor(shape=(N_LANDMARKS, 2), dtype=np.float32),
        "labels": tfds.features.Tensor(shape=(n,), dtype=np.float32),
        "label_mask": tfds.features.Tensor(shape=(n,), dtype=np.float32),
        "subject": tfds.features.Text(),
        "sequence": tfds.features.Text(),
        "frame": tfds.features.Scalar(dtype=np.int32),
    })


# Subject-exclusive 3-fold splits (REFERENCE.md). Split ``foldK`` holds the subjects of part K;
# fold K's protocol tests on ``foldK`` and trains on the other two parts.
DISFA_FOLDS = (
    ("SN002", "SN010", "SN001", "SN026", "SN027", "SN032", "SN030", "SN009", "SN016"),
    ("SN013", "SN018", "SN011", "SN028", "SN012", "SN006", "SN031", "SN021", "SN024"),
    ("SN003", "SN029", "SN023", "SN025", "SN008", "SN005", "SN007", "SN017", "SN004"),
)
BP4D_FOLDS = (
    ("F001", "M007", "F018", "F008", "F002", "M004", "F010", "F009", "M012", "M001", "F016",
     "M014", "F023", "M008"),
    ("M011", "F003", "M010", "M002", "F005", "F022", "M018", "M017", "F013", "M016", "F020",
     "F011", "M013", "M005"),
    ("F007", "F015", "F006", "F019", "M006", "M009", "F012", "M003", "F004", "F021", "F017",
     "M015", "F014"),
)
# FERA 2015 intensity protocol: odd-numbered subjects train, even-numbered are the devel set.
BP4D_FERA_TRAIN = tuple(f"F{i:03d}" for i in range(1, 24, 2)) + tuple(f"M{i:03d}" for i in range(1, 19, 2))
BP4D_FERA_DEVEL = tuple(f"F{i:03d}" for i in range(2, 24, 2)) + tuple(f"M{i:03d}" for i in range(2, 19, 2))
# BP4D+ has no published fold list. tfau's own deterministic subject-exclusive split: the 140
# subjects sorted (F001-F082, then M001-M058) and dealt round-robin into the 3 parts, so both
# sexes spread evenly: 47 / 47 / 46 subjects (28+19, 27+20, 27+19 females+males).
BP4D_PLUS_SUBJECTS = (tuple(f"F{i:03d}" for i in range(1, 83))
                      + tuple(f"M{i:03d}" for i in range(1, 59)))
BP4D_PLUS_FOLDS = tuple(BP4D_PLUS_SUBJECTS[k::3] for k in range(3))

FOLD_SPLITS = ("fold1", "fold2", "fold3")


def fold_of(subject: str, folds) -> str:
    """Split name (``fold1``..``fold3``) holding ``subject``; ValueError names unknown subjects."""
    for i, part in enumerate(folds):
        if subject in part:
            return FOLD_SPLITS[i]
    raise ValueError(f"subject {subject!r} is in none of the 3 folds")


def train_test_splits(fold: int) -> tuple[str, str]:
    """TFDS split strings for fold 1..3: (train = the other two parts, test = this part)."""
    if fold not in (1, 2, 3):
        raise ValueError(f"fold must be 1, 2 or 3, got {fold!r}")
    test = FOLD_SPLITS[fold - 1]
    train = "+".join(s for s in FOLD_SPLITS if s != test)
    return train, test
