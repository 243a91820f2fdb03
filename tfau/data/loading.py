"""TFDS split -> tf.data.Dataset of raw examples, building the dataset first when needed.

The builders live in ``tfau_datasets.<name>`` (the repository's ``datasets/`` folder). The
offline ``synthetic_au`` builds itself on first use; the licensed ones (``disfa``, ``bp4d``,
``bp4d_plus``) need the user's copy (``tfds build datasets/<name> --manual_dir ...``).
"""
from __future__ import annotations

import importlib
import os
import time
from typing import List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from tfau import aus as aus_lib
from tfau import folds as folds_lib

# The one dataset table: every dataset tfau trains on, and whether it builds offline (rendered
# here) or is licensed (built by the user from their copy with ``tfds build --manual_dir``).
DATASETS = {"synthetic_au": "offline", "disfa": "licensed", "bp4d": "licensed",
            "bp4d_plus": "licensed"}
OFFLINE_DATASETS = tuple(k for k, v in DATASETS.items() if v == "offline")
LICENSED_DATASETS = tuple(k for k, v in DATASETS.items() if v == "licensed")


class DatasetFileError(ValueError):
    """A built dataset's file is unreadable (garbage ``dataset_info.json``, a corrupt record
    file); the message names the file and says how to rebuild."""


def _rebuild_hint(folder: str, name: str, config: str) -> str:
    return (f"delete {folder} and build it again (`tfds build datasets/{name} --config {config}`"
            " or rerun the training, which builds synthetic_au itself)")


def _open_built(make, folder: str, name: str, config: str):
    """``make()`` (a builder reading ``folder``), turning a parse error of its metadata into a
    :class:`DatasetFileError` naming the file."""
    try:
        return make()
    except Exception as e:  # noqa: BLE001 - protobuf ParseError, JSONDecodeError, KeyError...
        info = os.path.join(folder, "dataset_info.json")
        if tf.io.gfile.exists(info) and type(e).__name__ in (
                "ParseError", "JSONDecodeError", "DecodeError", "KeyError", "ValueError",
                "TypeError", "UnicodeDecodeError"):
            raise DatasetFileError(f"{info}: unreadable dataset metadata ({type(e).__name__}: "
                                   f"{str(e).strip()[:200]}); "
                                   f"{_rebuild_hint(folder, name, config)}") from None
        raise


def corrupt_record_files(builder, split: Optional[str] = None) -> List[str]:
    """The record files of ``split`` (default: all) that cannot be read to their end."""
    files = []
    try:
        if split is None:
            raise KeyError(split)
        instructions = builder.info.splits[split].file_instructions
        files = sorted({fi.filename for fi in instructions})
    except Exception:  # noqa: BLE001 - fall back to every record file of the folder
        files = sorted(tf.io.gfile.glob(os.path.join(builder.data_dir, "*.tfrecord*")))
    bad = []
    for f in files:
        path = f if os.path.isabs(f) else os.path.join(builder.data_dir, f)
        try:
            for _ in tf.data.TFRecordDataset(path):
                pass
        except (tf.errors.DataLossError, tf.errors.OutOfRangeError, tf.errors.NotFoundError):
            bad.append(path)
    return bad


LOADED: List[Tuple[str, str, str, Optional[str]]] = []
"""(name, config, split, data_dir) of every :func:`load_split` call in this process, so that a
``DataLossError`` raised later while iterating can be traced to its file."""


def explain_read_error(err: Exception, name: Optional[str] = None, config: Optional[str] = None,
                       split: Optional[str] = None, data_dir: Optional[str] = None
                       ) -> DatasetFileError:
    """A :class:`DatasetFileError` naming the corrupt record file(s) behind a ``DataLossError``
    raised while reading ``name/config`` split ``split`` (default: every split this process
    loaded)."""
    wanted = [(name, config, split, data_dir)] if name else list(dict.fromkeys(LOADED))
    bad, folder = [], None
    for n, c, sp, d in wanted:
        try:
            builder = get_builder(n, c, d)
            folder = folder or (builder.data_dir, n, c)
            bad += [f for f in corrupt_record_files(builder, sp) if f not in bad]
        except Exception:  # noqa: BLE001 - explaining must not fail
            continue
    msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    msg = msg.split("}}")[-1].split("[Op:")[0].strip()
    what = ", ".join(bad) if bad else (f"a record file under {folder[0]}" if folder
                                       else "a dataset record file")
    hint = _rebuild_hint(*folder) if folder else "rebuild the dataset"
    return DatasetFileError(f"{what}: corrupt dataset records ({msg}); {hint}")


def builder_class(name: str):
    """The ``Builder`` class of ``tfau_datasets.<name>``."""
    try:
        module = importlib.import_module(f"tfau_datasets.{name}.{name}_dataset_builder")
    except ModuleNotFoundError as e:
        if e.name and e.name.startswith(f"tfau_datasets.{name}"):
            raise ValueError(f"unknown dataset {name!r}: no tfau_datasets.{name} builder") from None
        raise
    return module.Builder


def get_builder(name: str, config: str, data_dir: Optional[str] = None):
    """The TFDS builder of ``name/config``.

    ``config`` is a name in ``Builder.BUILDER_CONFIGS`` or, for a custom config built earlier
    into ``data_dir`` (e.g. a test's tiny synthetic set), the name of its folder there.
    """
    cls = builder_class(name)
    root = os.path.join(os.path.expanduser(data_dir or tfds.core.constants.DATA_DIR), name, config)
    if config in cls.builder_configs:
        return _open_built(lambda: cls(config=config, data_dir=data_dir),
                           os.path.join(root, str(cls.VERSION)), name, config)
    if tf.io.gfile.isdir(root):
        versions = sorted(v for v in tf.io.gfile.listdir(root) if v[:1].isdigit())
        if versions:
            folder = os.path.join(root, versions[-1].rstrip("/"))
            return _open_built(lambda: tfds.builder_from_directory(folder), folder, name, config)
    raise ValueError(f"{name} has no config {config!r} (known: {sorted(cls.builder_configs)}) "
                     f"and none was built under {os.path.dirname(root)!r}")


def is_prepared(builder) -> bool:
    return tf.io.gfile.exists(os.path.join(builder.data_dir, "dataset_info.json"))


_is_prepared = is_prepared


def ensure_built(name: str, config: str, data_dir: Optional[str] = None, log=print) -> None:
    """Builds ``name/config`` into ``data_dir`` when missing (offline datasets only; a licensed
    one raises ``SystemExit`` saying which command builds it)."""
    builder = get_builder(name, config, data_dir)
    if is_prepared(builder):
        return
    if name not in OFFLINE_DATASETS:
        raise SystemExit(
            f"{name}/{config} is not built in {builder.data_dir!r}. It is licensed data: "
            f"build it first with `tfds build datasets/{name} --config {config} "
            f"--manual_dir <your copy> --data_dir <dir>` and pass --data_dir <dir>.")
    log(f"[tfau] building {name}/{config} into {builder.data_dir} (first run only)...")
    t0 = time.time()
    prepare(builder, name)
    log(f"[tfau] dataset built in {time.time() - t0:.0f}s")


def wait_until_built(name: str, config: str, data_dir: Optional[str] = None,
                     timeout: float = 3600.0) -> None:
    """Blocks until another process (a multi-worker run's chief) has built the dataset."""
    deadline = time.time() + timeout
    while True:
        try:
            if is_prepared(get_builder(name, config, data_dir)):
                return
        except Exception:  # noqa: BLE001 - not there yet
            pass
        if time.time() > deadline:
            raise SystemExit(f"timed out waiting for {name}/{config} to be built")
        time.sleep(2.0)


def protocol_of(builder) -> aus_lib.Protocol:
    """The protocol a TFDS builder's config declares (``config.get_protocol()`` or
    ``config.protocol``), else parsed from the config name (``protocol_for``)."""
    config = builder.builder_config
    if hasattr(config, "get_protocol"):
        return config.get_protocol()
    proto = getattr(config, "protocol", None)
    if isinstance(proto, aus_lib.Protocol):
        return proto
    if isinstance(proto, str):
        return aus_lib.get_protocol(proto, getattr(config, "threshold", None))
    return protocol_for(builder.name, config.name)


def protocol_for(dataset: str, config: str) -> aus_lib.Protocol:
    """The AU protocol of a dataset config, from its name alone.

    Synthetic configs are named after the protocol they mirror (``disfa_intensity``, optionally
    ``_large``); licensed datasets use either the protocol name or the task (``intensity``).
    An ``_thrN`` suffix overrides DISFA's occurrence threshold (``disfa_occurrence_thr1``).
    """
    name = config
    threshold = None
    for suffix in ("_large", "_small", "_tiny"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    if "_thr" in name:
        name, thr = name.rsplit("_thr", 1)
        threshold = float(thr)
    if name not in aus_lib.PROTOCOLS:
        candidate = f"{dataset}_{name}"
        if candidate in aus_lib.PROTOCOLS:
            name = candidate
        else:
            raise ValueError(f"cannot tell the AU protocol of {dataset}/{config}; known protocols: "
                             f"{sorted(aus_lib.PROTOCOLS)}")
    return aus_lib.get_protocol(name, threshold)


def fold_splits(builder, fold: int) -> Tuple[Tuple[str, str], bool]:
    """``((train_split, test_split), has_folds)`` of a builder for fold 1..3, or (fold 0) its
    own train / devel-or-test splits."""
    names = set(builder.info.splits.keys())
    if fold and set(folds_lib.FOLD_SPLITS) <= names:
        return folds_lib.train_test_splits(fold), True
    for test in ("devel", "test", "validation"):
        if "train" in names and test in names:
            return ("train", test), False
    raise ValueError(f"{builder.name}/{builder.builder_config.name} has splits {sorted(names)}: "
                     "neither fold1-3 nor train/test")


def scan_labels(name: str, config: str, split: str, data_dir: Optional[str] = None):
    """``(labels, masks, subjects)`` of a split, read without decoding the images."""
    ds = load_split(name, config, split, data_dir, decode_image=False)
    ds = ds.map(lambda ex: (ex["labels"], ex["label_mask"], ex["subject"]),
                num_parallel_calls=tf.data.AUTOTUNE)
    labels, masks, subjects = [], [], []
    for lab, mask, subj in ds.batch(4096).as_numpy_iterator():
        labels.append(lab)
        masks.append(mask)
        subjects.append(subj)
    if not labels:
        raise ValueError(f"split {split!r} of {name}/{config} is empty")
    return (np.concatenate(labels).astype(np.float32), np.concatenate(masks).astype(np.float32),
            np.concatenate(subjects))


def validation_subjects(subjects: np.ndarray, every: int = 5) -> List[bytes]:
    """Every ``every``-th training subject (sorted), held out for early stopping; none when
    fewer than 3 subjects."""
    uniq = sorted(set(subjects.tolist()))
    if len(uniq) < 3:
        return []
    return uniq[every // 2::every] or uniq[:1]


def filter_subjects(ds: tf.data.Dataset, subjects: Sequence[bytes], keep: bool) -> tf.data.Dataset:
    """Keeps (``keep``) or drops the examples of ``subjects``."""
    table = tf.constant(list(subjects), dtype=tf.string)

    def pred(ex):
        hit = tf.reduce_any(tf.equal(ex["subject"], table))
        return hit if keep else tf.logical_not(hit)

    return ds.filter(pred)


def prepare(builder, name: str, manual_dir: Optional[str] = None) -> None:
    """Builds ``builder`` if it is not on disk: offline datasets directly, licensed ones from
    ``manual_dir`` (else a ``FileNotFoundError`` that says which command to run)."""
    if _is_prepared(builder):
        return
    config = builder.builder_config.name if builder.builder_config else None
    if name not in OFFLINE_DATASETS and manual_dir is None:
        raise FileNotFoundError(
            f"{name}/{config} is not built under {builder.data_dir!r}. It is licensed data: "
            f"build it from your copy with `tfds build datasets/{name} --config {config} "
            f"--manual_dir <your copy> --data_dir <dir>` (or pass manual_dir=...), then pass "
            f"data_dir=<dir>.")
    download_config = tfds.download.DownloadConfig(manual_dir=manual_dir, try_download_gcs=False)
    builder.download_and_prepare(download_config=download_config)


def load_split(name: str, config: str, split: str, data_dir: Optional[str] = None,
               download: bool = True, *, shuffle_files: bool = False, decode_image: bool = True,
               manual_dir: Optional[str] = None,
               read_config: Optional[tfds.ReadConfig] = None) -> tf.data.Dataset:
    """Raw examples of ``name/config`` split ``split`` (any TFDS split string, e.g.
    ``"fold1+fold2"``), with the features of ``tfau_datasets.common.example_features``.

    Args:
      name: dataset folder name (``synthetic_au``, ``disfa``, ``bp4d``, ``bp4d_plus``).
      config: builder config (e.g. ``disfa_intensity``).
      split: TFDS split string.
      data_dir: TFDS data dir (default ``~/tensorflow_datasets``).
      download: build the dataset when missing (synthetic: renders it; licensed: needs
        ``manual_dir``). When False a missing dataset raises.
      shuffle_files: shuffle the order of the record files (training).
      decode_image: True gives ``image`` as uint8 ``[256, 256, 3]``; False leaves the JPEG bytes
        (``tfau.data.make_pipeline`` accepts both and decodes in its own parallel map).
      manual_dir: folder holding the licensed dataset's files.
      read_config: passed to ``as_dataset``.
    """
    builder = get_builder(name, config, data_dir)
    LOADED.append((name, config, split, data_dir))
    if download:
        prepare(builder, name, manual_dir)
    elif not _is_prepared(builder):
        raise FileNotFoundError(f"{name}/{config} is not built under {builder.data_dir!r}")
    decoders = None if decode_image else {"image": tfds.decode.SkipDecoding()}
    return builder.as_dataset(split=split, shuffle_files=shuffle_files, decoders=decoders,
                              read_config=read_config)
