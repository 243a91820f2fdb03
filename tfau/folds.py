"""The 3-fold subject-exclusive protocols' split names, as the library reads them.

The dataset builders (``datasets/``) write splits ``fold1``..``fold3``; training on fold k means
training on the other two parts and testing on part k. The library needs only these names, so
they live here and the builders' internals are never imported by ``tfau``.
"""
from __future__ import annotations

from typing import Tuple

FOLD_SPLITS = ("fold1", "fold2", "fold3")


def train_test_splits(fold: int) -> Tuple[str, str]:
    """TFDS split strings for fold 1..3: (train = the other two parts, test = this part)."""
    if fold not in (1, 2, 3):
        raise ValueError(f"fold must be 1, 2 or 3, got {fold!r}")
    test = FOLD_SPLITS[fold - 1]
    return "+".join(s for s in FOLD_SPLITS if s != test), test


def fold_list(fold) -> Tuple[int, ...]:
    """``"1"`` -> (1,), ``"all"`` -> (1, 2, 3), ``"fera"`` -> (0,) (the builder's own
    train / devel splits: BP4D's FERA 2015 intensity protocol)."""
    fold = str(fold).strip().lower()
    if fold == "all":
        return (1, 2, 3)
    if fold in ("fera", "0"):
        return (0,)
    if fold in ("1", "2", "3"):
        return (int(fold),)
    raise ValueError(f"--fold must be 1, 2, 3, all or fera, got {fold!r}")
